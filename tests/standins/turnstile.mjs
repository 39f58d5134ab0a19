// Stand-in for Cloudflare Turnstile's server-side validation, for tests only (a fixture, never product logic).
//
// POST /turnstile/v0/siteverify takes application/x-www-form-urlencoded, multipart/form-data or
// application/json with the fields secret, response, remoteip and idempotency_key, and always answers
// 200 JSON, as Cloudflare documents ("Validate the token" and "Testing" pages of the Turnstile docs).
//
// Cloudflare's documented test secrets, which accept only the dummy token XXXX.DUMMY.TOKEN.XXXX that the
// test sitekeys produce (any other token fails with invalid-input-secret):
//   1x0000000000000000000000000000000AA  passes: hostname "example.com", action "", cdata "",
//                                        metadata {"result_with_testing_key": true}.
//   2x0000000000000000000000000000000AA  fails with invalid-input-response.
//   3x0000000000000000000000000000000AA  fails with timeout-or-duplicate ("token already spent").
//
// Fixture convention, "local mode": with the secret configured as the widget's own (option secretKey,
// default env TURNSTILE_SECRET_KEY, e.g. "local-secret"), tokens behave like real single-use tokens:
//   ok:<hostname>:<action>  succeeds once, returning that hostname and action (either may be empty);
//                           presenting it again fails with timeout-or-duplicate, unless the request
//                           repeats the idempotency_key of the first validation, which returns the
//                           original result unchanged (as the real siteverify does).
//   fail, or anything else  fails with invalid-input-response.
// Any other secret fails with invalid-input-secret. A missing secret or response fails with
// missing-input-secret or missing-input-response; a response over 2048 characters with invalid-input-response.
//
// Test-only control API under /__standin/ (not part of Cloudflare's API):
//   PUT    /__standin/faults    JSON fault or array of faults; replaces the current set.
//          {kind: "error"|"hang"|"malformed"|"close", status?: 500, times?: 1}
//   GET    /__standin/faults    the faults still armed.
//   DELETE /__standin/faults    disarms all faults.
//   GET    /__standin/requests  every siteverify call: fields received, secret "<redacted>", response cut to 8 chars.
//   DELETE /__standin/requests  empties that log.

import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const SITEVERIFY = '/turnstile/v0/siteverify';
const DUMMY_TOKEN = 'XXXX.DUMMY.TOKEN.XXXX';
const TEST_SECRETS = {
  '1x0000000000000000000000000000000AA': null,
  '2x0000000000000000000000000000000AA': 'invalid-input-response',
  '3x0000000000000000000000000000000AA': 'timeout-or-duplicate',
};

const success = (hostname, action, metadata) => ({
  success: true,
  challenge_ts: new Date().toISOString(),
  hostname,
  'error-codes': [],
  action,
  cdata: '',
  metadata,
});

const failure = (codes, metadata) => ({ success: false, 'error-codes': codes, messages: [], ...(metadata && { metadata }) });

function sendJson(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks);
}

// Reads the siteverify fields from a JSON, urlencoded or multipart body; returns null when unreadable.
async function readFields(req) {
  const type = req.headers['content-type'] ?? 'application/x-www-form-urlencoded';
  const body = await readBody(req);
  try {
    if (/^application\/json\b/i.test(type)) {
      const json = JSON.parse(body.toString('utf8'));
      return json && typeof json === 'object' && !Array.isArray(json) ? json : null;
    }
    if (!/^(application\/x-www-form-urlencoded|multipart\/form-data)\b/i.test(type)) return null;
    // The Fetch API's Request parses both urlencoded and multipart bodies.
    const form = await new Request('http://standin/', { method: 'POST', headers: { 'content-type': type }, body }).formData();
    return Object.fromEntries(form);
  } catch {
    return null;
  }
}

/**
 * Starts the Turnstile siteverify stand-in and resolves with the listening http.Server.
 * Call server.stop() to close it, including connections held open by "hang" faults.
 */
export async function startTurnstileStandin({
  port = 8789,
  host = '127.0.0.1',
  secretKey = process.env.TURNSTILE_SECRET_KEY,
  log = console.log,
} = {}) {
  const redeemed = new Map(); // local-mode token -> { key: idempotency_key of its first validation, result }
  let faults = [];
  let requests = [];

  function verify({ secret, response: token, idempotency_key: key }) {
    if (!secret) return failure(['missing-input-secret']);
    if (!token) return failure(['missing-input-response']);
    if (token.length > 2048) return failure(['invalid-input-response']);
    if (secret in TEST_SECRETS) {
      const metadata = { result_with_testing_key: true };
      if (token !== DUMMY_TOKEN) return failure(['invalid-input-secret'], metadata);
      const error = TEST_SECRETS[secret];
      return error ? failure([error], metadata) : success('example.com', '', metadata);
    }
    if (!secretKey || secret !== secretKey) return failure(['invalid-input-secret']);
    const prior = redeemed.get(token);
    if (prior) return key && key === prior.key ? prior.result : failure(['timeout-or-duplicate']);
    const ok = /^ok:([^:]*):(.*)$/s.exec(token);
    if (!ok) return failure(['invalid-input-response']);
    const result = success(ok[1], ok[2], { interactive: false });
    redeemed.set(token, { key, result });
    return result;
  }

  // Answers a siteverify call with an armed fault; returns the fault's kind when one applied.
  function applyFault(req, res) {
    const fault = faults.find((f) => f.remaining > 0);
    if (!fault) return null;
    fault.remaining -= 1;
    const status = fault.status ?? (fault.kind === 'error' ? 500 : 200);
    if (fault.kind === 'error') sendJson(res, status, failure([status >= 500 ? 'internal-error' : 'bad-request']));
    else if (fault.kind === 'malformed') res.writeHead(status, { 'content-type': 'application/json' }).end('{"success":tr');
    else if (fault.kind === 'close') req.socket.destroy();
    // "hang": never answer; the socket stays open until the client gives up or the server stops.
    return fault.kind;
  }

  async function handleControl(req, res, route) {
    if (route === 'PUT /__standin/faults') {
      let list;
      try {
        list = [JSON.parse(await readBody(req))].flat();
      } catch {
        return sendJson(res, 400, { error: 'body must be a JSON fault or an array of faults' });
      }
      if (list.some((f) => !['error', 'hang', 'malformed', 'close'].includes(f?.kind))) {
        return sendJson(res, 400, { error: 'kind must be error|hang|malformed|close' });
      }
      faults = list.map((f) => ({ ...f, remaining: f.times ?? 1 }));
      return sendJson(res, 200, faults);
    }
    if (route === 'GET /__standin/faults') return sendJson(res, 200, faults.filter((f) => f.remaining > 0));
    if (route === 'DELETE /__standin/faults') faults = [];
    else if (route === 'GET /__standin/requests') return sendJson(res, 200, requests);
    else if (route === 'DELETE /__standin/requests') requests = [];
    else return sendJson(res, 404, { error: `unknown control route ${route}` });
    res.writeHead(204).end();
  }

  async function handle(req, res) {
    const { pathname } = new URL(req.url, 'http://standin');
    if (pathname.startsWith('/__standin/')) return handleControl(req, res, `${req.method} ${pathname}`);
    if (pathname !== SITEVERIFY) return sendJson(res, 404, failure(['bad-request']));
    if (req.method !== 'POST') return sendJson(res, 405, failure(['bad-request']));

    const fields = await readFields(req);
    const entry = { time: new Date().toISOString(), contentType: req.headers['content-type'] ?? null, fields: null };
    if (fields) {
      entry.fields = { ...fields };
      if ('secret' in fields) entry.fields.secret = '<redacted>';
      if (typeof fields.response === 'string') entry.fields.response = fields.response.slice(0, 8);
    }
    requests.push(entry);
    const fault = applyFault(req, res);
    if (fault) return void (entry.fault = fault);
    if (!fields) return sendJson(res, 200, failure(['bad-request']));
    // Only string values count; a JSON number or object is treated as absent.
    const str = (v) => (typeof v === 'string' ? v : undefined);
    sendJson(res, 200, verify({ secret: str(fields.secret), response: str(fields.response), idempotency_key: str(fields.idempotency_key) }));
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      log(`[turnstile-standin] internal error: ${err.stack}`);
      if (!res.headersSent) sendJson(res, 500, failure(['internal-error']));
    });
  });
  server.stop = () => new Promise((resolve) => {
    server.close(resolve);
    server.closeAllConnections();
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return server;
}

// Standalone: node tests/standins/turnstile.mjs [--port 8789] [--host 127.0.0.1]
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '8789' }, host: { type: 'string', default: '127.0.0.1' } } });
  const server = await startTurnstileStandin({ port: Number(values.port), host: values.host });
  const { address, port } = server.address();
  console.log(`[turnstile-standin] Turnstile siteverify stand-in listening on http://${address}:${port}${SITEVERIFY}`);
  for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => server.stop());
}
