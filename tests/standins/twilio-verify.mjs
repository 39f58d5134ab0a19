// Stand-in for Twilio Verify v2, for tests only (a fixture, never product logic).
//
// It serves the two operations otp-guard uses, as described by tests/contracts/twilio_verify_v2.json:
//   POST /v2/Services/{ServiceSid}/Verifications     (form body To, Channel, ...) -> 201 verification
//   POST /v2/Services/{ServiceSid}/VerificationCheck (form body To or VerificationSid, Code) -> 200 check
// It keeps one pending verification per (service, To) with a random 6-digit code that lives 10 minutes,
// allows 5 sends (the 6th answers 60203) and 5 wrong checks (the next check answers 60202), and
// answers errors in Twilio's JSON shape.
//
// Test-only control API under /__standin/ (not part of Twilio's API):
//   PUT    /__standin/faults        JSON fault or array of faults; replaces the current set.
//          {to?, path?: "verifications"|"check"|"any", kind: "error"|"hang"|"malformed"|"close",
//           status?, code?, message?, times?: 1}
//   GET    /__standin/faults        the faults still armed.
//   DELETE /__standin/faults        disarms all faults.
//   GET    /__standin/requests      every Twilio API request received (To unmasked: tests only).
//   DELETE /__standin/requests      empties that log.
//   GET    /__standin/last-code?to= the pending code for that number ({"code","sid"}) or 404.
//   DELETE /__standin/verifications forgets every pending verification.
//
// Configuration (options of startTwilioStandin, defaulting to these environment variables):
//   TWILIO_ACCOUNT_SID + TWILIO_AUTH_TOKEN  if set, the only credentials accepted (else any AC/SK user).
//   TWILIO_VERIFY_SERVICE_SID               if set, the only service SID known (else any VA + 32 hex).
//   STANDIN_SHOW_FULL_NUMBER=1              print the full number in the code line (default masked).

import http from 'node:http';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const MAX_SENDS = 5;
const MAX_CHECKS = 5;
const CHANNELS = new Set(['sms', 'call', 'whatsapp', 'email', 'sna', 'auto']);
const E164 = /^\+[1-9]\d{1,14}$/;
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const SERVICE_SID = /^VA[0-9a-fA-F]{32}$/;
const ROUTE = /^\/v2\/Services\/([^/]+)\/(Verifications|VerificationCheck)$/;

// Default HTTP status and message of the Twilio error codes the product maps.
const ERRORS = {
  20003: [401, 'Authenticate'],
  20004: [405, 'Method not allowed'],
  20404: [404, 'The requested resource was not found'],
  20429: [429, 'Too many requests'],
  20500: [500, 'Internal Server Error'],
  20503: [503, 'Service Unavailable'],
  60200: [400, 'Invalid parameter'],
  60202: [429, 'Max check attempts reached'],
  60203: [429, 'Max send attempts reached'],
  60410: [403, 'Verification delivery attempt blocked'],
  60605: [403, 'Verification delivery attempt blocked'],
};

/** Masks a number as "+44******0958": the first 3 and last 4 characters stay, stars replace the rest. */
export function maskNumber(to) {
  const s = String(to ?? '');
  return s.length <= 7 ? '*'.repeat(s.length) : s.slice(0, 3) + '*'.repeat(s.length - 7) + s.slice(-4);
}

// Twilio's timestamps are ISO 8601 in UTC without milliseconds.
const isoNow = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
const sid = (prefix) => prefix + randomBytes(16).toString('hex');

function sendJson(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify(body));
}

// Writes an error exactly as Twilio does: {"code","message","more_info","status"}.
function twilioError(res, status, code, message, headers) {
  const [defaultStatus, defaultMessage] = ERRORS[code] ?? [500, 'Error'];
  status ??= defaultStatus;
  sendJson(res, status, {
    code,
    message: message ?? defaultMessage,
    more_info: `https://www.twilio.com/docs/errors/${code}`,
    status,
  }, headers);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

// Decodes "Basic base64(user:password)"; returns null when the header is absent or unreadable.
function basicAuth(header) {
  const m = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!m) return null;
  const text = Buffer.from(m[1], 'base64').toString('utf8');
  const i = text.indexOf(':');
  return i < 0 ? null : { user: text.slice(0, i), password: text.slice(i + 1) };
}

// URLSearchParams reads "+" as a space, so "?to=+44..." arrives as " 44..."; put the plus back.
const queryNumber = (value) => (value ?? '').replace(/^ /, '+');

/**
 * Starts the Twilio Verify stand-in and resolves with the listening http.Server.
 * Call server.stop() to close it, including connections held open by "hang" faults.
 */
export async function startTwilioStandin({
  port = 8788,
  host = '127.0.0.1',
  accountSid = process.env.TWILIO_ACCOUNT_SID,
  authToken = process.env.TWILIO_AUTH_TOKEN,
  serviceSid = process.env.TWILIO_VERIFY_SERVICE_SID,
  showFullNumber = process.env.STANDIN_SHOW_FULL_NUMBER === '1',
  ttlMs = 10 * 60 * 1000,
  log = console.log,
} = {}) {
  const pending = new Map(); // `${service}|${to}` -> verification state
  let faults = [];
  let requests = [];

  // Returns the live verification for a key, dropping it if it has expired.
  function live(key) {
    const v = pending.get(key);
    if (v && v.expires <= Date.now()) pending.delete(key);
    return pending.get(key);
  }

  const verificationResource = (v) => ({
    sid: v.sid,
    service_sid: v.service,
    account_sid: v.account,
    to: v.to,
    channel: v.channel,
    status: 'pending',
    valid: false,
    lookup: {},
    amount: null,
    payee: null,
    send_code_attempts: v.attempts,
    date_created: v.created,
    date_updated: v.updated,
    sna: null,
    url: `https://verify.twilio.com/v2/Services/${v.service}/Verifications/${v.sid}`,
  });

  const checkResource = (v, approved) => ({
    sid: v.sid,
    service_sid: v.service,
    account_sid: v.account,
    to: v.to,
    channel: v.channel,
    status: approved ? 'approved' : 'pending',
    valid: approved,
    amount: null,
    payee: null,
    sna_attempts_error_codes: [],
    date_created: v.created,
    date_updated: v.updated,
  });

  function createVerification(res, service, account, params) {
    const { To: to = '', Channel: channel = '' } = params;
    if (!CHANNELS.has(channel)) return twilioError(res, 400, 60200, `Invalid parameter \`Channel\`: ${channel}`);
    if (!(channel === 'email' ? EMAIL : E164).test(to)) {
      return twilioError(res, 400, 60200, `Invalid parameter \`To\`: ${to}`);
    }
    // "auto" lets Twilio pick the channel; the stand-in always picks sms.
    const resolved = channel === 'auto' ? 'sms' : channel;
    const key = `${service}|${to}`;
    const now = isoNow();
    let v = live(key);
    if (v && v.attempts.length >= MAX_SENDS) return twilioError(res, 429, 60203);
    if (!v) {
      v = { sid: sid('VE'), service, account, to, code: String(randomInt(0, 1e6)).padStart(6, '0'),
        created: now, attempts: [], wrongChecks: 0, expires: Date.now() + ttlMs };
      pending.set(key, v);
    }
    v.channel = resolved;
    v.updated = now;
    v.attempts.push({ time: now, channel: resolved === 'sms' || resolved === 'email' ? resolved.toUpperCase() : resolved,
      attempt_sid: sid('VL') });
    log(`[twilio-standin] code ${v.code} for ${showFullNumber ? to : maskNumber(to)} via ${resolved} (${v.sid})`);
    sendJson(res, 201, verificationResource(v));
  }

  function checkVerification(res, service, path, params) {
    const { To: to, VerificationSid: verificationSid, Code: code = '' } = params;
    if (!to && !verificationSid) return twilioError(res, 400, 60200, 'Invalid parameter: To or VerificationSid is required');
    let key = to ? `${service}|${to}` : undefined;
    if (!key) key = [...pending.keys()].find((k) => pending.get(k).sid === verificationSid && k.startsWith(`${service}|`));
    const v = key && live(key);
    if (!v || (verificationSid && v.sid !== verificationSid)) {
      return twilioError(res, 404, 20404, `The requested resource ${path.replace(/^\/v2/, '')} was not found`);
    }
    if (v.wrongChecks >= MAX_CHECKS) return twilioError(res, 429, 60202);
    v.updated = isoNow();
    const approved = code === v.code;
    if (approved) pending.delete(key);
    else v.wrongChecks += 1;
    sendJson(res, 200, checkResource(v, approved));
  }

  // Answers a request with an armed fault; returns the fault's kind when one applied.
  function applyFault(req, res, operation, params) {
    const fault = faults.find((f) => f.remaining > 0 && (f.path === 'any' || f.path === operation)
      && (f.to === undefined || f.to === params.To));
    if (!fault) return null;
    fault.remaining -= 1;
    if (fault.kind === 'error') {
      const code = fault.code ?? (fault.status === 401 ? 20003 : 20000 + (fault.status ?? 500));
      twilioError(res, fault.status, code, fault.message);
    } else if (fault.kind === 'malformed') {
      res.writeHead(fault.status ?? (operation === 'check' ? 200 : 201), { 'content-type': 'application/json' });
      res.end('{"sid": "VE0123456789abcdef", "status": "pend');
    } else if (fault.kind === 'close') {
      req.socket.destroy();
    } // "hang": never answer; the socket stays open until the client gives up or the server stops.
    return fault.kind;
  }

  async function handleControl(req, res, url) {
    const route = `${req.method} ${url.pathname}`;
    if (route === 'PUT /__standin/faults') {
      let list;
      try {
        list = [JSON.parse(await readBody(req))].flat();
      } catch {
        return sendJson(res, 400, { error: 'body must be a JSON fault or an array of faults' });
      }
      const bad = list.find((f) => !['error', 'hang', 'malformed', 'close'].includes(f?.kind)
        || !['verifications', 'check', 'any', undefined].includes(f.path));
      if (bad) return sendJson(res, 400, { error: 'kind must be error|hang|malformed|close, path verifications|check|any' });
      faults = list.map((f) => ({ ...f, path: f.path ?? 'any', remaining: f.times ?? 1 }));
      return sendJson(res, 200, faults);
    }
    if (route === 'GET /__standin/faults') return sendJson(res, 200, faults.filter((f) => f.remaining > 0));
    if (route === 'DELETE /__standin/faults') faults = [];
    else if (route === 'GET /__standin/requests') return sendJson(res, 200, requests);
    else if (route === 'DELETE /__standin/requests') requests = [];
    else if (route === 'DELETE /__standin/verifications') pending.clear();
    else if (route === 'GET /__standin/last-code') {
      const to = queryNumber(url.searchParams.get('to'));
      const v = [...pending.keys()].filter((k) => k.endsWith(`|${to}`)).map(live).find(Boolean);
      return v ? sendJson(res, 200, { code: v.code, sid: v.sid }) : sendJson(res, 404, { error: 'no pending verification' });
    } else return sendJson(res, 404, { error: `unknown control route ${route}` });
    res.writeHead(204).end();
  }

  async function handle(req, res) {
    const url = new URL(req.url, 'http://standin');
    if (url.pathname.startsWith('/__standin/')) return handleControl(req, res, url);

    const params = Object.fromEntries(new URLSearchParams(await readBody(req)));
    const match = ROUTE.exec(url.pathname);
    const operation = match?.[2] === 'VerificationCheck' ? 'check' : 'verifications';
    const entry = { time: new Date().toISOString(), method: req.method, path: url.pathname, params };
    requests.push(entry);
    const fault = applyFault(req, res, operation, params);
    if (fault) return void (entry.fault = fault);

    const auth = basicAuth(req.headers.authorization);
    const challenge = { 'www-authenticate': 'Basic realm="Twilio API"' };
    if (!auth || !/^(AC|SK)/.test(auth.user) || !auth.password) return twilioError(res, 401, 20003, 'Authenticate', challenge);
    if (accountSid && auth.user !== accountSid) {
      return twilioError(res, 401, 20003, 'Authentication Error - invalid username', challenge);
    }
    if (authToken && auth.password !== authToken) return twilioError(res, 401, 20003, 'Authenticate', challenge);

    const notFound = () => twilioError(res, 404, 20404, `The requested resource ${url.pathname.replace(/^\/v2/, '')} was not found`);
    if (!match) return notFound();
    const service = match[1];
    if (!SERVICE_SID.test(service) || (serviceSid && service !== serviceSid)) return notFound();
    if (req.method !== 'POST') return twilioError(res, 405, 20004);
    // Responses name an account SID of the documented form even when the user is an API key or a placeholder.
    const account = /^AC[0-9a-fA-F]{32}$/.test(auth.user) ? auth.user
      : accountSid ?? 'AC' + createHash('sha256').update(auth.user).digest('hex').slice(0, 32);
    if (operation === 'check') checkVerification(res, service, url.pathname, params);
    else createVerification(res, service, account, params);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      log(`[twilio-standin] internal error: ${err.stack}`);
      if (!res.headersSent) twilioError(res, 500, 20500);
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

// Standalone: node tests/standins/twilio-verify.mjs [--port 8788] [--host 127.0.0.1]
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '8788' }, host: { type: 'string', default: '127.0.0.1' } } });
  const server = await startTwilioStandin({ port: Number(values.port), host: values.host });
  const { address, port } = server.address();
  console.log(`[twilio-standin] Twilio Verify stand-in listening on http://${address}:${port}`);
  for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => server.stop());
}
