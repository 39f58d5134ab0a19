// Everything the benchmarked workers talk to, in one node process of its own, so that the
// CPU read from the workerd process is the worker's and not its stand-ins':
//
// - an in-memory Workers KV server speaking the protocol workerd uses for a
//   `kvNamespace = "<service>"` binding (the one Miniflare's KV namespace object serves,
//   node_modules/miniflare/dist/src/workers/kv/namespace.worker.js):
//     GET    /<key>?urlencoded=true         the value (CF-Expiration header), or 404
//     POST   /bulk/get  {"keys":[...],"type":"text"|"json","withMetadata":bool}
//                                           one JSON object, key → value or null (1 to 100 keys)
//     PUT    /<key>?urlencoded=true&expiration_ttl=N (or expiration=T), body the value,
//                                           CF-KV-Metadata header for metadata
//     DELETE /<key>?urlencoded=true
//     GET    /?prefix=&key_count_limit=&cursor=   {"keys":[{name,expiration,metadata}],"list_complete"}
//   plus /__bench/stats (operation counts) and /__bench/reset (empties the store, the
//   counts, and the stand-ins' state: a fresh deployment for each measured worker);
// - the Twilio Verify and Turnstile stand-ins of tests/standins (reused as they are).
//
// Started by benches/workerd.mjs; prints one JSON line with the three base URLs.

import http from 'node:http';
import { startTwilioStandin } from '../tests/standins/twilio-verify.mjs';
import { startTurnstileStandin } from '../tests/standins/turnstile.mjs';

/** The fixture secrets the stand-ins accept (the same as tests/e2e/harness.mjs SECRETS). */
export const SECRETS = {
  TWILIO_ACCOUNT_SID: 'AC' + '1'.repeat(32),
  TWILIO_AUTH_TOKEN: 'bench-twilio-auth-token-secret',
  TWILIO_VERIFY_SERVICE_SID: 'VA' + '2'.repeat(32),
  // Cloudflare's always-pass test secret: accepts the dummy token XXXX.DUMMY.TOKEN.XXXX.
  TURNSTILE_SECRET_KEY: '1x0000000000000000000000000000000AA',
  HASH_KEY: 'bench-hash-key-0123456789abcdef',
  ADMIN_TOKEN: 'bench-admin-token-0123456789abcdef',
};

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** The in-memory KV namespace server. */
export function startKvServer({ port = 0, onReset = async () => {} } = {}) {
  let store = new Map(); // key → { value: Buffer, expiration?: seconds, metadata?: string }
  let stats;
  const resetStats = () => { stats = { get: 0, bulk_get: 0, bulk_keys: 0, put: 0, delete: 0, list: 0 }; };
  resetStats();
  const now = () => Math.floor(Date.now() / 1000);
  const live = (key) => {
    const entry = store.get(key);
    if (entry && entry.expiration !== undefined && entry.expiration <= now()) {
      store.delete(key);
      return undefined;
    }
    return entry;
  };
  const keyOf = (url) => {
    const raw = url.pathname.slice(1);
    return url.searchParams.get('urlencoded')?.toLowerCase() === 'true' ? decodeURIComponent(raw) : raw;
  };

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://kv');
    const send = (status, body = '', headers = {}) => { res.writeHead(status, headers); res.end(body); };
    try {
      if (url.pathname === '/__bench/stats') return send(200, JSON.stringify({ ...stats, keys: store.size }));
      if (url.pathname === '/__bench/reset') {
        store = new Map();
        resetStats();
        await onReset();
        return send(204);
      }
      if (req.method === 'POST' && url.pathname === '/bulk/get') {
        const { keys, type = 'text', withMetadata = false } = JSON.parse((await readBody(req)).toString('utf8'));
        if (!Array.isArray(keys) || keys.length < 1 || keys.length > 100) return send(400, 'bulk get takes 1 to 100 keys');
        stats.bulk_get += 1;
        stats.bulk_keys += keys.length;
        const out = {};
        for (const key of keys) {
          const entry = live(key);
          let value = entry ? entry.value.toString('utf8') : null;
          if (value !== null && type === 'json') value = JSON.parse(value);
          out[key] = value !== null && withMetadata
            ? { value, metadata: entry.metadata === undefined ? null : JSON.parse(entry.metadata) }
            : value;
        }
        return send(200, JSON.stringify(out), { 'content-type': 'application/json' });
      }
      if (req.method === 'GET' && url.pathname === '/') {
        stats.list += 1;
        const prefix = url.searchParams.get('prefix') ?? '';
        const limit = Number(url.searchParams.get('key_count_limit') ?? 1000);
        const after = url.searchParams.get('cursor') ?? '';
        const names = [...store.keys()].filter((k) => k.startsWith(prefix) && k > after && live(k)).sort();
        const page = names.slice(0, limit);
        const keys = page.map((name) => {
          const e = store.get(name);
          return { name, ...(e.expiration !== undefined && { expiration: e.expiration }), ...(e.metadata !== undefined && { metadata: e.metadata }) };
        });
        const complete = names.length <= limit;
        return send(200, JSON.stringify({ keys, list_complete: complete, ...(!complete && { cursor: page.at(-1) }), cacheStatus: null }),
          { 'content-type': 'application/json' });
      }
      const key = keyOf(url);
      if (req.method === 'GET') {
        stats.get += 1;
        const entry = live(key);
        if (!entry) return send(404, 'Not Found');
        const headers = {};
        if (entry.expiration !== undefined) headers['CF-Expiration'] = String(entry.expiration);
        if (entry.metadata !== undefined) headers['CF-KV-Metadata'] = entry.metadata;
        return send(200, entry.value, headers);
      }
      if (req.method === 'PUT') {
        stats.put += 1;
        const value = await readBody(req);
        const ttl = url.searchParams.get('expiration_ttl');
        const at = url.searchParams.get('expiration');
        const expiration = ttl !== null ? now() + Number(ttl) : at !== null ? Number(at) : undefined;
        const metadata = req.headers['cf-kv-metadata'];
        store.set(key, { value, expiration, metadata });
        return send(200);
      }
      if (req.method === 'DELETE') {
        stats.delete += 1;
        store.delete(key);
        return send(200);
      }
      return send(405);
    } catch (err) {
      return send(500, String(err));
    }
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

async function main() {
  const twilio = await startTwilioStandin({
    port: 0, log: () => {},
    accountSid: SECRETS.TWILIO_ACCOUNT_SID, authToken: SECRETS.TWILIO_AUTH_TOKEN,
    serviceSid: SECRETS.TWILIO_VERIFY_SERVICE_SID,
  });
  // The stand-in's "local mode" secret is unused here: the bench uses Cloudflare's test secret.
  const turnstile = await startTurnstileStandin({ port: 0, log: () => {}, secretKey: 'bench-local-secret' });
  const twilioBase = `http://127.0.0.1:${twilio.address().port}`;
  const turnstileBase = `http://127.0.0.1:${turnstile.address().port}`;
  // Forgets every pending verification and the request logs (they grow with every request).
  const onReset = async () => {
    for (const [base, path] of [[twilioBase, '/__standin/verifications'], [twilioBase, '/__standin/requests'],
      [turnstileBase, '/__standin/requests']]) {
      await fetch(base + path, { method: 'DELETE' });
    }
  };
  const kv = await startKvServer({ onReset });
  console.log(JSON.stringify({ kv: `127.0.0.1:${kv.address().port}`, twilio: twilioBase, turnstile: turnstileBase }));
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0)); // the parent went away
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
