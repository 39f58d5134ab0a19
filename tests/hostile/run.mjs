// The hostile-input run: thousands of malformed, oversized, injected and abusive requests
// against the real worker in workerd (`wrangler dev`, through tests/e2e/harness.mjs), from a
// seeded corpus. Every request is built to be refused before Turnstile and Twilio: a body
// that could pass every step before the captcha either carries no token (refused as
// `captcha_failed` without calling Turnstile) or is made invalid on purpose.
//
//   node tests/hostile/run.mjs [--count 10000] [--seed 20261122] [--concurrency 16] [--no-build] [--report FILE.json]
//
// Checked, and printed: requests sent; 5xx answers (none allowed: the only legitimate 500,
// `config_error`, cannot happen with this valid config); calls the Twilio and Turnstile
// stand-ins received (none allowed); that every answer is `application/problem+json` with a
// contract `code` whose status is the HTTP status (`scope`, `retry_after_s` and
// `Retry-After` for `rate_limited`, `Allow` for 405, `WWW-Authenticate` for 401), or one of
// the few legitimate 2xx (health, client config, preflights, admin calls with the real token,
// static assets); CORS headers only for allowed origins; and no secret, token or full number
// in anything the worker printed. Exits 1 on any violation.
//
// A few requests the runtime answers before the worker (methods workerd does not know,
// asterisk-form targets, malformed header bytes, oversized URLs) are sent on raw sockets as
// "runtime probes", recorded and printed, and not held to the contract: on Cloudflare the
// edge answers them, never the Worker. Likewise a body streamed past 8 KiB without a length,
// whose 413 wrangler dev's proxy sometimes loses ("500 Network connection lost", or a reset):
// counted apart, not as a worker 5xx.

import http from 'node:http';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { ADMIN_TOKEN, DUMMY_TOKEN, buildWorker, startGuard } from '../e2e/harness.mjs';
import { audit } from '../e2e/log-audit.mjs';

const { values: opts } = parseArgs({
  options: {
    count: { type: 'string', default: '10000' },
    seed: { type: 'string', default: '20261122' },
    concurrency: { type: 'string', default: '16' },
    'no-build': { type: 'boolean', default: false },
    report: { type: 'string' },
  },
});
const COUNT = Number(opts.count);
const SEED = Number(opts.seed) >>> 0;
const CONCURRENCY = Number(opts.concurrency);
if (!Number.isInteger(COUNT) || COUNT < 1) throw new Error('--count takes a positive integer');

// ---------------------------------------------------------------------------------------
// The contract (README "Error codes").

const CODES = {
  invalid_request: 400, payload_too_large: 413, invalid_phone: 400, country_not_allowed: 403,
  number_type_blocked: 403, captcha_failed: 403, channel_not_allowed: 403, blocklisted: 403,
  ip_blocked: 403, rate_limited: 429, protection_engaged: 503, upstream_error: 502, not_found: 404,
  method_not_allowed: 405, unauthorized: 401, config_error: 500,
};
const SCOPES = new Set(['ip', 'subnet', 'phone', 'prefix', 'country', 'global']);
const ALLOWED_ORIGINS = new Set(['http://localhost:8787', 'http://127.0.0.1:8787']); // wrangler.toml
const MAX_BODY = 8192;

// ---------------------------------------------------------------------------------------
// Seeded randomness (mulberry32).

function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const r = {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (xs) => xs[Math.floor(next() * xs.length)],
    chance: (p) => next() < p,
    str: (n, alphabet) => Array.from({ length: n }, () => alphabet[Math.floor(next() * alphabet.length)]).join(''),
    bytes: (n) => Buffer.from(Array.from({ length: n }, () => Math.floor(next() * 256))),
  };
  return r;
}
const R = rng(SEED);

// ---------------------------------------------------------------------------------------
// Hostile material.

const INJECTIONS = [
  // SQL
  "' OR '1'='1", "1; DROP TABLE events;--", '" OR ""="', "1' UNION SELECT id,phone FROM events--", "admin'--",
  "'; SELECT sqlite_version(); --", "%' AND 1=1 --", "1) OR (1=1", "'||(SELECT hex(randomblob(8)))||'",
  // JS / HTML / templates
  '<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', 'javascript:alert(1)', '${7*7}', '{{7*7}}',
  '#{7*7}', '<%= 7*7 %>', '${jndi:ldap://127.0.0.1/a}', '__proto__', 'constructor', '{"$ne":null}', '$where',
  // header injection (CRLF)
  '\r\nSet-Cookie: hostile=1', '\r\nX-Injected: 1\r\n\r\nHTTP/1.1 200 OK', '%0d%0aX-Injected:%201', '\n', '\r',
  '\u2028\u2029', '\u0085',
  // path traversal
  '../../../../etc/passwd', '..\\..\\..\\windows\\win.ini', '%2e%2e%2f%2e%2e%2fetc%2fpasswd', '....//....//etc/passwd',
  '/dev/null', 'file:///etc/passwd', '..%00/', '%c0%ae%c0%ae/',
  // format strings
  '%s%s%s%s%s%n', '%x%x%x%x', '{0}{1}{2}', '%d', '%p%p%p', '%99999999s', '{:>99999}',
  // control and bidi characters, odd Unicode
  '\u0000', 'a\u0000b', '\u0007\u0008\u001b[31m', '\u202e1234567890', '\u2066+44\u2069', '\u200f\u200e',
  '\ufeff', '\ud83d\ude00', '\ud800', '\udfff', '\uffff', '\u{10ffff}', '𝟏𝟐𝟑𝟒𝟓𝟔𝟕', 'Ⅻ', '①②③',
  // values people confuse with numbers
  'null', 'undefined', 'NaN', 'Infinity', '-1', '0', 'true', '[]', '{}', '', ' ', '\t',
];
// Strings a phone parser must answer without panicking (some valid, most not).
const PHONES = [
  '+447400123456', '+44 7400 123456', '07400 123456', '(415) 555-0123', '+1 415 555 0123', 'tel:+14155550123',
  'TEL:+14155550123', '0044 7400 123456', '011 44 7400 123456', '+44-7400-123-456', '+44.7400.123.456',
  '+44/7400/123456', '＋４４７４００１２３４５６', '+٤٤٧٤٠٠١٢٣٤٥٦', '+४४७४००१२३४५६', '+242 06 123 4567', '+900 123 4567',
  '+44 909 879 0000', '+1 800 555 0199', '+882 1234 5678', '+800 1234 5678', '+979 1 2345 6789', '+7 800 555 3535',
  '+0', '+', '00', '011', '+999999999999999999', '+1', '+12', '+123456789012345678901', '8 800 555 35 35',
  'tel:+44;ext=123', '+44 7400 123456 ext. 12', '+44 7400 123456#12', '+44 (0) 7400 123456', '++447400123456',
  '+44 7400 123456+', '0'.repeat(64), '9'.repeat(65), '+' + '1'.repeat(63), ' +447400123456 ', '\t+447400123456\n',
  '+44\u20287400123456', '+44\u00a07400123456', '+44\u30007400123456', '+44\u2012\u20137400123456',
];
const COUNTRIES = ['GB', 'gb', 'US', 'ZZ', 'XK', 'AA', 'CG', '00', 'G', 'GBR', 'G\u00e9', '\u0130T', 'Gb', ''];
const LOCALES = ['en', 'pt-BR', 'es-419', 'zh-Hant', 'EN', 'e', 'english', 'en_US', 'en-', '-en', 'en-US-x', 'x-klingon'];
const METHODS_STD = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE'];
// Methods workerd accepts but the `worker` crate does not name (it reads them as GET).
const METHODS_EXT = ['PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK', 'PURGE', 'REPORT', 'SEARCH',
  'QUERY', 'NOTIFY', 'SUBSCRIBE', 'UNSUBSCRIBE', 'ACL', 'MERGE', 'CHECKOUT', 'MKACTIVITY', 'post', 'Get', 'delete'];
const CONTENT_TYPES = [
  undefined, '', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x',
  'application/jsonx', 'application/json-patch+json', 'application/problem+json', 'application/ld+json', 'json',
  'application/xml', 'text/json', 'application/json;charset=utf-8', 'APPLICATION/JSON', ' application/json ',
  'application/json; charset=latin1', 'application/json, text/plain', 'application/json\u00a0', '*/*',
  'application/json; boundary="', 'application/' + 'j'.repeat(4000),
];
const ADMIN_ROUTES = ['events', 'stats', 'incidents', 'safelist', 'blocklist'];
const ASSET_PATHS = new Set(['/', '/index', '/index.html', '/admin', '/admin.html', '/app.js', '/app.css',
  '/favicon.svg', '/otp-guard.js', '/otp-guard.d.ts', '/admin/dashboard.js', '/admin/dashboard.css',
  '/admin/vendor/chart.js', '/dev/turnstile-standin.js', '/_headers']);

// ---------------------------------------------------------------------------------------
// What the worker does before Turnstile and Twilio, re-stated conservatively (src/request.rs,
// src/phone.rs): used only to make sure no request in the corpus can reach them.

function isJsonContentType(ct) {
  if (ct === undefined) return false;
  return ct.split(';')[0].trim().toLowerCase() === 'application/json';
}
/** Parses a body as the worker could: `undefined` when serde_json would surely refuse it. */
function parseAsWorker(body) {
  if (!body || body.length > MAX_BODY) return undefined;
  let text;
  try { text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(body); } catch { return undefined; }
  try {
    const v = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
  } catch { return undefined; }
}
/** True when `phone` is refused by the phone step whatever the country (letters, symbols, length...). */
function phoneSurelyInvalid(phone) {
  if ([...phone].length > 64) return true;
  let s = phone.trim();
  if (/^tel:/i.test(s)) s = s.slice(4);
  // eslint-disable-next-line no-control-regex
  return /[A-Za-z'";%$<>{}[\]=&|!*#@^~`,:?_\\\u0000-\u0008\u000e-\u001f\u007f]/.test(s);
}
const optStr = (v) => v === undefined || v === null || typeof v === 'string';
function sendMightReachUpstream(req) {
  if (req.method.toUpperCase() !== 'POST' || normalPath(req.path) !== '/v1/verifications') return false;
  if (!isJsonContentType(req.headers['content-type'])) return false;
  const v = parseAsWorker(req.body);
  if (!v) return false;
  const known = ['phone', 'country', 'channel', 'turnstile_token', 'locale'];
  if (Object.keys(v).some((k) => !known.includes(k))) return false;
  if (typeof v.phone !== 'string' || phoneSurelyInvalid(v.phone)) return false;
  if (!optStr(v.country) || !optStr(v.channel) || !optStr(v.turnstile_token) || !optStr(v.locale)) return false;
  if (v.country && !/^[A-Za-z]{2}$/.test(v.country)) return false;
  if (v.channel != null && !['sms', 'call', 'whatsapp'].includes(v.channel)) return false;
  if (!v.turnstile_token || [...v.turnstile_token].length > 2048) return false; // refused before Turnstile
  if (v.locale != null && !/^[a-z]{2,3}(-[A-Za-z0-9]{2,4})?$/.test(v.locale)) return false;
  return true;
}
function checkMightReachUpstream(req) {
  if (req.method.toUpperCase() !== 'POST' || normalPath(req.path) !== '/v1/verifications/check') return false;
  if (!isJsonContentType(req.headers['content-type'])) return false;
  const v = parseAsWorker(req.body);
  if (!v) return false;
  if (Object.keys(v).some((k) => !['phone', 'country', 'code'].includes(k))) return false;
  if (typeof v.phone !== 'string' || phoneSurelyInvalid(v.phone) || !optStr(v.country)) return false;
  if (v.country && !/^[A-Za-z]{2}$/.test(v.country)) return false;
  return typeof v.code === 'string' && /^[A-Za-z0-9]{4,10}$/.test(v.code);
}
function normalPath(path) {
  try {
    return new URL(path, 'http://x').pathname.replace(/%([0-9A-Fa-f]{2})/g, (m, h) => {
      const c = String.fromCharCode(parseInt(h, 16));
      return /[A-Za-z0-9\-._~]/.test(c) ? c : m;
    });
  } catch { return path; }
}

// ---------------------------------------------------------------------------------------
// The corpus. Each generator returns { cat, method, path, headers, body?, chunked?, admin? }.

const json = (v) => Buffer.from(JSON.stringify(v));
const JSON_CT = { 'content-type': 'application/json' };
const maybeToken = () => (R.chance(0.5) ? { turnstile_token: R.pick([DUMMY_TOKEN, ...INJECTIONS]) } : {});
const someField = () => R.pick(['phone', 'country', 'channel', 'turnstile_token', 'locale']);
const hostileValue = () => {
  switch (R.int(0, 9)) {
    case 0: return R.int(-1e9, 1e9);
    case 1: return R.next() * 1e308;
    case 2: return [R.pick(INJECTIONS)];
    case 3: return { $ne: null };
    case 4: return R.chance(0.5);
    case 5: return R.pick(PHONES);
    default: return R.pick(INJECTIONS);
  }
};
function nested(depth, open, close, inner = '1') { return open.repeat(depth) + inner + close.repeat(depth); }

const GENERATORS = {
  // Syntactically broken JSON, and deep nesting.
  broken_json() {
    const route = R.pick(['/v1/verifications', '/v1/verifications/check']);
    const good = JSON.stringify({ phone: R.pick(PHONES), turnstile_token: DUMMY_TOKEN, code: '123456' });
    const variants = [
      () => good.slice(0, R.int(0, good.length - 1)),
      () => good.replace(/"/g, "'"),
      () => good.replace('}', ',}'),
      () => good.replace(':', ''),
      () => '\ufeff' + good,
      () => good + R.pick(['x', '}', ']', ' {}', '\u0000', '//c', '/*c*/']),
      () => '{"phone":NaN}', () => '{"phone":Infinity}', () => '{"phone":undefined}', () => "{phone:'1'}",
      () => '{"phone":"\\x41"}', () => '{"phone":"\\u12"}', () => '{"phone":"\\ud800"}', () => '{"phone":01}',
      () => `{"phone":${nested(R.int(100, 4000), '[', ']')}}`,
      () => nested(R.int(100, 2700), '{"a":', '}'),
      () => nested(R.int(10, 8000), '[', ']'),
      () => `{"phone":"+447400123456",${'"turnstile_token":"x",'.repeat(R.int(2, 300))}"locale":"en"}`,
      () => R.str(R.int(1, 200), '{}[]":,0123456789.eE+-truefalsnul \\'),
      () => '', () => ' ', () => 'null', () => '[]', () => '"+447400123456"', () => '123', () => 'true',
      () => '[{"phone":"+447400123456","turnstile_token":"t"}]',
    ];
    return { cat: 'broken_json', method: 'POST', path: route, headers: { ...JSON_CT }, body: Buffer.from(R.pick(variants)()) };
  },

  // Well-formed JSON with the wrong types, unknown members, shapes the contract refuses.
  wrong_types() {
    const route = R.pick(['/v1/verifications', '/v1/verifications/check']);
    const base = route === '/v1/verifications'
      ? { phone: R.pick(PHONES), ...maybeToken() } : { phone: R.pick(PHONES), code: '123456' };
    const v = { ...base };
    switch (R.int(0, 5)) {
      case 0: v[route === '/v1/verifications' ? someField() : R.pick(['phone', 'country', 'code'])] = hostileValue(); break;
      case 1: v[R.pick(['phone_number', 'Phone', 'PHONE', 'to', 'x', '', ' phone', 'phone\u0000', '__proto__', 'constructor',
        '+447400123456', R.pick(INJECTIONS), 'p'.repeat(R.int(50, 3000))])] = 1; break;
      case 2: v.channel = R.pick(['SMS', 'voice', 'email', 'auto', 'sna', 'whatsapp ', 'call\u0000', '', 1, ['sms']]); break;
      case 3: v.country = R.pick([...COUNTRIES, 12, ['GB'], { c: 'GB' }, true]); break;
      case 4: v.locale = R.pick([...LOCALES, 1, ['en']]); break;
      default: v.code = R.pick(['', '123', '12345678901', '12 34', '１２３４', '12345\u0000', 123456, null, ['123456'], "1' OR 1=1"]);
    }
    return { cat: 'wrong_types', method: 'POST', path: route, headers: { ...JSON_CT }, body: json(v) };
  },

  // Huge numbers and strings; bodies over the 8 KiB limit (declared and streamed).
  huge() {
    const route = R.pick(['/v1/verifications', '/v1/verifications/check']);
    switch (R.int(0, 7)) {
      case 0: return { cat: 'huge', method: 'POST', path: route, headers: { ...JSON_CT },
        body: Buffer.from(`{"phone":${R.pick(['1e999999', '-1e999999', '9'.repeat(R.int(20, 5000)), '1.' + '0'.repeat(4000), '0.' + '0'.repeat(3000) + '1', '18446744073709551616', '-9223372036854775809'])}}`) };
      case 1: { // a phone of up to 8 KiB: the parser's length bound
        const len = R.int(65, MAX_BODY - 40);
        return { cat: 'huge', method: 'POST', path: route, headers: { ...JSON_CT },
          body: json({ phone: R.str(len, '0123456789 +-()'), ...(route.endsWith('check') ? { code: '12345' } : {}) }) };
      }
      case 2: // a 10 kB phone: over the body limit
        return { cat: 'huge', method: 'POST', path: route, headers: { ...JSON_CT },
          body: json({ phone: '+' + R.str(R.int(10_000, 12_000), '0123456789'), turnstile_token: DUMMY_TOKEN }) };
      case 3: { // a long token (invalid beyond 2048 characters)
        const token = R.str(R.int(2049, 8000), 'abcdefghijklmnopqrstuvwxyz0123456789._-');
        return { cat: 'huge', method: 'POST', path: '/v1/verifications', headers: { ...JSON_CT },
          body: json({ phone: R.pick(PHONES), turnstile_token: token }) };
      }
      case 4: { // declared length over the limit
        const size = R.pick([MAX_BODY + 1, MAX_BODY + 100, 65_536, 1_048_576]);
        const pad = Buffer.alloc(size, 0x20);
        json({ phone: '+447400123456', turnstile_token: DUMMY_TOKEN }).copy(pad);
        return { cat: 'huge', method: 'POST', path: route, headers: { ...JSON_CT }, body: pad };
      }
      case 5: { // streamed without a length
        const size = R.pick([MAX_BODY + 1, 20_000, 200_000]);
        const body = Buffer.alloc(size, 0x20);
        json({ phone: '+447400123456', turnstile_token: DUMMY_TOKEN }).copy(body);
        return { cat: 'huge', method: 'POST', path: route, headers: { ...JSON_CT }, body, chunked: true };
      }
      case 6: // exactly at the limit (valid size, padded with whitespace, no token: captcha_failed)
        return { cat: 'huge', method: 'POST', path: route, headers: { ...JSON_CT },
          body: Buffer.concat([json({ phone: R.pick(PHONES), ...(route.endsWith('check') ? { code: 'x' } : {}) }), Buffer.alloc(R.int(8000, 8100), 0x20)]).subarray(0, MAX_BODY) };
      default: { // many members
        const v = {};
        for (let i = 0; i < R.int(100, 700); i++) v[`k${i}`] = i;
        return { cat: 'huge', method: 'POST', path: route, headers: { ...JSON_CT }, body: json(v) };
      }
    }
  },

  // Wrong content types (and the odd right one with a body that is refused anyway).
  content_type() {
    const route = R.pick(['/v1/verifications', '/v1/verifications/check']);
    const ct = R.pick(CONTENT_TYPES);
    const headers = ct === undefined ? {} : { 'content-type': ct };
    const body = R.pick([
      json({ phone: '+447400123456', turnstile_token: DUMMY_TOKEN, code: '123456' }),
      Buffer.from('phone=%2B447400123456&turnstile_token=XXXX'),
      Buffer.from('--x\r\nContent-Disposition: form-data; name="phone"\r\n\r\n+447400123456\r\n--x--'),
      Buffer.from('<phone>+447400123456</phone>'), Buffer.alloc(0),
    ]);
    return { cat: 'content_type', method: 'POST', path: route, headers, body };
  },

  // Invalid UTF-8, raw control characters, bidi and other odd characters.
  encoding() {
    const route = R.pick(['/v1/verifications', '/v1/verifications/check']);
    const prefix = Buffer.from('{"phone":"+44');
    const suffix = Buffer.from(route.endsWith('check') ? '","code":"123456"}' : '","turnstile_token":"t"}');
    const bad = R.pick([
      Buffer.from([0xff]), Buffer.from([0xc3, 0x28]), Buffer.from([0xe2, 0x82]), Buffer.from([0xf0, 0x9f, 0x98]),
      Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xc0, 0xaf]), Buffer.from([0xf4, 0x90, 0x80, 0x80]),
      Buffer.from([0x00]), Buffer.from([0x0a]), Buffer.from([0x1b]), Buffer.from([0x7f]), R.bytes(R.int(1, 64)),
    ]);
    if (R.chance(0.3)) {
      // Escaped control / bidi characters in a well-formed body.
      const v = { phone: R.pick(['+44', '0', '']) + R.pick(['\u0000', '\u202e', '\u2066', '\u200f', '\u001f', '\u0085', '\ufffe', '\u061c']) + '7400123456' };
      if (route.endsWith('check')) v.code = '123456'; else Object.assign(v, maybeToken());
      return { cat: 'encoding', method: 'POST', path: route, headers: { ...JSON_CT }, body: json(v) };
    }
    return { cat: 'encoding', method: 'POST', path: route, headers: { ...JSON_CT }, body: Buffer.concat([prefix, bad, suffix]) };
  },

  // Injection strings in every field of both bodies.
  injection() {
    const route = R.pick(['/v1/verifications', '/v1/verifications/check']);
    const fields = route === '/v1/verifications' ? ['phone', 'country', 'channel', 'turnstile_token', 'locale'] : ['phone', 'country', 'code'];
    const v = route === '/v1/verifications' ? { phone: R.pick(PHONES) } : { phone: R.pick(PHONES), code: '123456' };
    for (const f of fields) if (R.chance(0.5)) v[f] = R.pick(INJECTIONS);
    if (R.chance(0.2)) v[R.pick(INJECTIONS)] = R.pick(INJECTIONS);
    return { cat: 'injection', method: 'POST', path: route, headers: { ...JSON_CT }, body: json(v) };
  },

  // Every route with the wrong method, and methods the worker crate does not know.
  methods() {
    const path = R.pick(['/v1/verifications', '/v1/verifications/check', '/v1/health', '/v1/client-config',
      '/v1/openapi.json', '/v1/admin/events', '/v1/admin/safelist', '/v1/admin/blocks/CG', '/v1/admin/blocklist/%2B242']);
    const method = R.chance(0.6) ? R.pick(METHODS_STD) : R.pick(METHODS_EXT);
    const admin = path.startsWith('/v1/admin') && R.chance(0.5);
    const headers = admin ? { authorization: `Bearer ${ADMIN_TOKEN}` } : {};
    if (R.chance(0.3)) Object.assign(headers, JSON_CT);
    const body = ['GET', 'HEAD'].includes(method.toUpperCase()) ? undefined : json({ phone: '+447400123456', turnstile_token: DUMMY_TOKEN });
    return { cat: 'methods', method, path, headers, body, admin };
  },

  // Random paths: unknown routes, encodings, traversal, long paths.
  paths() {
    const seg = () => R.pick([
      R.str(R.int(1, 12), 'abcdefghijklmnopqrstuvwxyz0123456789-_.~'), '..', '.', '%2e%2e', '%2E%2e%2F', '%2f', '%00',
      '%ff%fe', '%c3%28', '%0d%0aX-Injected:%201', '%25', '%', '%zz', enc(R.pick(INJECTIONS)), '\u00e9',
      'v1', 'admin', 'verifications', 'health', ';', ';jsessionid=1', '*', '~', '%20', '+', 'index.html',
    ]);
    const prefix = R.pick(['/', '/v1/', '/v1/admin/', '/v1/verifications/', '//', '/v2/', '/V1/', '/v1//', '/api/']);
    let path = prefix + Array.from({ length: R.int(0, 6) }, seg).join('/');
    if (R.chance(0.05)) path = '/v1/' + R.str(R.int(1000, 20000), 'abcdefghijklmnopqrstuvwxyz/');
    if (R.chance(0.2)) path += '?' + Array.from({ length: R.int(1, 5) }, () => `${seg()}=${seg()}`).join('&');
    if (ASSET_PATHS.has(path)) path = '/v1' + path;
    const method = R.pick(['GET', 'GET', 'POST', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);
    const headers = method === 'POST' ? { ...JSON_CT } : {};
    const body = method === 'POST' ? json({ phone: R.pick(PHONES) }) : undefined;
    return { cat: 'paths', method, path: latin1(path), headers, body };
  },

  // Header abuse: huge headers, spoofed client addresses and ray ids, odd origins.
  headers() {
    const headers = {};
    const path = R.pick(['/v1/verifications', '/v1/health', '/v1/verifications/check', '/v1/client-config', '/nope']);
    const kind = R.int(0, 7);
    let spoof;
    switch (kind) {
      case 0: headers['x-big'] = R.str(R.int(8_000, 60_000), 'abcdefghijklmnopqrstuvwxyz'); break;
      case 1: for (let i = 0; i < R.int(50, 200); i++) headers[`x-h${i}`] = R.str(R.int(10, 300), 'abcdefghij'); break;
      case 2: spoof = R.pick(['6.6.6.6', '10.0.0.1, 6.6.6.6', '::1', R.pick(INJECTIONS), 'unknown']);
        headers['x-forwarded-for'] = latin1(spoof); headers['x-real-ip'] = latin1(spoof); headers['true-client-ip'] = latin1(spoof);
        headers.forwarded = latin1(`for=${spoof}`); break;
      case 3: spoof = R.pick(['203.0.113.9', '2001:db8::1', '::ffff:198.51.100.7', '0.0.0.0', '255.255.255.255', 'not-an-ip',
        '127.0.0.1, 6.6.6.6', '<script>', '../../etc', "' OR 1=1 --", '1'.repeat(R.int(100, 400)), '1'.repeat(R.int(520, 2000)),
        'a'.repeat(R.int(600, 4000)), '']);
        headers['cf-connecting-ip'] = spoof; break;
      case 4: headers['cf-ray'] = latin1(R.pick(['0000000000000000-LHR', R.pick(INJECTIONS), 'r'.repeat(R.int(100, 5000)), '"},{"x":"'])); break;
      case 5: headers.origin = R.pick(['http://localhost:8787', 'http://127.0.0.1:8787', 'https://evil.example', 'null',
        'http://localhost:8787.evil.example', 'http://localhost:8787/', 'HTTP://LOCALHOST:8787', '*', '']); break;
      case 6: headers['cf-ipcountry'] = R.pick(['KP', 'T1', 'XX', '']); headers['cf-visitor'] = '{"scheme":"https"}';
        headers['cf-worker'] = 'evil.example'; headers.host = R.pick(['evil.example', 'localhost:8787', 'a'.repeat(300)]); break;
      default: headers.cookie = R.str(R.int(1000, 30_000), 'abcdef=;'); headers.accept = R.pick(['*/*', 'text/html', '\u00ff', 'a'.repeat(5000)]);
    }
    let method = 'GET';
    let body;
    if (path.startsWith('/v1/verifications')) {
      method = 'POST';
      Object.assign(headers, JSON_CT);
      // A valid number and no token: refused as captcha_failed after the lists and counters,
      // which read the client address; never sent to Turnstile.
      body = json(path.endsWith('check') ? { phone: '+447400123456', code: '12' } : { phone: R.pick(PHONES) });
    }
    if (kind !== 4) headers['cf-ray'] = null; // replaced by the run's own request id
    return { cat: 'headers', method, path, headers, body, spoof: kind === 3 ? 'cf-connecting-ip' : kind === 2 ? 'x-forwarded-for' : undefined };
  },

  // The admin API with missing or wrong tokens.
  admin_bad_token() {
    const path = '/v1/admin' + R.pick(['', '/', ...ADMIN_ROUTES.map((r) => `/${r}`), '/safelist/%2B447400123456',
      '/blocklist/+242', '/blocks/CG', '/nope', '/../admin/stats', '/events?format=csv']);
    const auth = R.pick([undefined, '', 'Bearer', 'Bearer ', `Bearer ${ADMIN_TOKEN}x`, `Bearer ${ADMIN_TOKEN.slice(0, -1)}`,
      `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}`, `BEARER ${ADMIN_TOKEN}`, `Token ${ADMIN_TOKEN}`,
      `Bearer\t${ADMIN_TOKEN}`, `Bearer  ${ADMIN_TOKEN}x`, `${ADMIN_TOKEN}`, `Bearer ${ADMIN_TOKEN.toUpperCase()}`,
      `Bearer ${'a'.repeat(R.int(1000, 60_000))}`, `Bearer ${latin1(R.pick(INJECTIONS))}`, `Bearer ${ADMIN_TOKEN}\u00a0`,
      `Bearer ${ADMIN_TOKEN},Bearer x`, 'Bearer null', 'Bearer undefined']);
    const headers = auth === undefined ? {} : { authorization: auth };
    const method = R.pick(['GET', 'GET', 'PUT', 'DELETE', 'POST', 'HEAD', 'PATCH']);
    return { cat: 'admin_bad_token', method, path, headers, body: method === 'PUT' ? json({ x: 1 }) : undefined };
  },

  // The admin API with the real token and hostile entries and query strings.
  admin_hostile() {
    const headers = { authorization: R.pick([`Bearer ${ADMIN_TOKEN}`, `bearer ${ADMIN_TOKEN}`, `Bearer   ${ADMIN_TOKEN}  `]) };
    const kind = R.int(0, 2);
    if (kind === 0) {
      const route = R.pick(['events', 'stats', 'incidents']);
      const key = R.pick(['since', 'until', 'country', 'prefix', 'decision', 'reason', 'route', 'cursor', 'limit', 'format',
        'evil', 'since[]', '', 'SINCE']);
      const value = R.pick([...INJECTIONS, '0', '-1', '1e9', '99999999999999999999', '18446744073709551615', '9223372036854775808',
        '2026-01-10T14:00:03Z', '2026-13-10T14:00:03Z', '2026-01-10T14:00:03+1\u00e900', '2026-01-10T14:00:03\u00e9\u00e9\u00e9',
        '2026-01-10T14:00:03.\u00e9', '9999-12-31T23:59:59+99:99', 'ndjson', 'csv', 'xml', 'JSON', '+242', '%2B242', 'CG',
        'a'.repeat(R.int(10, 5000))]);
      const q = `${enc(key)}=${enc(value)}` + (R.chance(0.3) ? '&limit=' + R.pick(['1', '1000', '1001', '50000', '0']) : '');
      const method = R.pick(['GET', 'GET', 'HEAD']);
      return { cat: 'admin_hostile', method, path: `/v1/admin/${route}?${q}`, headers, admin: true };
    }
    if (kind === 1) {
      const list = R.pick(['safelist', 'blocklist']);
      const entry = R.pick([...INJECTIONS.map(enc), ...PHONES.map(enc), '%2B', '+', '%2B0',
        '%2B' + '9'.repeat(R.int(15, 40)), '%2B' + R.int(1, 99999), '%2F', 'a%2Fb', '%zz', '%ff', '%c3%28', '%2B44%0d%0a',
        R.str(R.int(1, 10_000), '0123456789'), '..', '.', '%2e%2e']);
      // The worker reads unknown methods as GET; full numbers stay out of non-standard access-log lines.
      const method = R.pick(['PUT', 'DELETE', 'GET', 'POST', 'PATCH', 'HEAD', 'PROPFIND']);
      // wrangler's access log prints the path, and the log audit skips only standard methods' lines.
      const e = method === 'PROPFIND' ? enc(R.pick(INJECTIONS)) : entry;
      return { cat: 'admin_hostile', method, path: latin1(`/v1/admin/${list}/${e}`), headers, admin: true };
    }
    const dest = R.pick(['CG', 'cg', 'ZZ', 'GB', '%2B242', '+242', '%2B' + '1'.repeat(15), '%2B', 'C', 'CGG', '..',
      enc(R.pick(INJECTIONS)), '%2B24206/x', 'a'.repeat(R.int(3, 5000))]);
    return { cat: 'admin_hostile', method: R.pick(['DELETE', 'DELETE', 'GET', 'PUT']), path: latin1(`/v1/admin/blocks/${dest}`), headers, admin: true };
  },

  // CORS preflights from anywhere, to anything.
  preflight() {
    const headers = { 'access-control-request-method': R.pick(['POST', 'GET', 'DELETE', 'PROPFIND', 'post', '', latin1(R.pick(INJECTIONS))]) };
    if (R.chance(0.8)) headers.origin = latin1(R.pick(['http://localhost:8787', 'https://evil.example', 'null', R.pick(INJECTIONS), '']));
    if (R.chance(0.5)) headers['access-control-request-headers'] = latin1(R.pick(['content-type', 'authorization, x-evil', R.pick(INJECTIONS)]));
    const path = R.pick(['/v1/verifications', '/v1/verifications/check', '/v1/admin/stats', '/nope', '/v1/admin/safelist/%2B1']);
    return { cat: 'preflight', method: 'OPTIONS', path, headers };
  },
};
const WEIGHTS = {
  broken_json: 12, wrong_types: 12, huge: 6, content_type: 6, encoding: 8, injection: 14, methods: 8, paths: 10,
  headers: 8, admin_bad_token: 6, admin_hostile: 6, preflight: 4,
};

function latin1(s) { return Buffer.from(s, 'utf8').toString('latin1'); }
/** encodeURIComponent that survives lone surrogates (sent as their WTF-8 bytes). */
function enc(s) {
  try { return encodeURIComponent(s); } catch { return [...s].map((c) => { try { return encodeURIComponent(c); } catch { return '%ED%A0%80'; } }).join(''); }
}
/** A header value Node's HTTP client will send: UTF-8 as bytes, without CR, LF, NUL and other controls
 * (those are sent on raw sockets by the runtime probes). */
function headerValue(s) {
  // eslint-disable-next-line no-control-regex
  return latin1(String(s)).replace(/[^\t\x20-\x7e\x80-\xff]/g, '');
}

/** Requests every run sends first: each injection string in each field, header and parameter,
 * and the inputs that found bugs (kept as regression cases). */
function pinned() {
  const out = [];
  const regressions = [];
  const adminH = () => ({ authorization: `Bearer ${ADMIN_TOKEN}` });
  // The list reads, first, while the lists are still empty.
  for (const list of ['safelist', 'blocklist']) out.push({ cat: 'pinned', method: 'GET', path: `/v1/admin/${list}`, headers: adminH(), admin: true });
  // Times with a multi-byte character where the UTC offset is read.
  for (const route of ['events', 'stats', 'incidents']) {
    for (const q of ['since=2026-01-10T14:00:03%2B1%C3%A900', 'until=2026-01-10T14:00:03%2B12%E2%82%AC', 'since=2026-01-10T14:00:03-%C3%A9%3A00']) {
      out.push({ cat: 'pinned', method: 'GET', path: `/v1/admin/${route}?${q}`, headers: adminH(), admin: true });
    }
  }
  // A client address longer than a KV key allows, with a number that reaches the counters.
  for (const len of [600, 2000]) {
    out.push({ cat: 'pinned', method: 'POST', path: '/v1/verifications', headers: { ...JSON_CT, 'cf-connecting-ip': '1'.repeat(len) },
      body: json({ phone: '+447400123456' }), spoof: 'cf-connecting-ip' });
  }
  // Methods the worker crate does not name.
  for (const [m, path] of [['PROPFIND', '/v1/health'], ['QUERY', '/v1/client-config'], ['PURGE', '/v1/admin/stats']]) {
    out.push({ cat: 'pinned', method: m, path, headers: path.startsWith('/v1/admin') ? adminH() : {}, admin: path.startsWith('/v1/admin') });
  }
  // A member named like a phone number.
  out.push({ cat: 'pinned', method: 'POST', path: '/v1/verifications', headers: { ...JSON_CT }, body: json({ phone: '+447400123456', '+447400123456': 1 }) });

  regressions.push(...out.splice(0));
  for (const inj of INJECTIONS) {
    for (const field of ['phone', 'country', 'channel', 'locale']) {
      out.push({ cat: 'injection', method: 'POST', path: '/v1/verifications', headers: { ...JSON_CT }, body: json({ phone: '+447400123456', [field]: inj }) });
    }
    out.push({ cat: 'injection', method: 'POST', path: '/v1/verifications', headers: { ...JSON_CT }, body: json({ phone: 'not a number', turnstile_token: inj }) });
    for (const field of ['phone', 'country', 'code']) {
      out.push({ cat: 'injection', method: 'POST', path: '/v1/verifications/check', headers: { ...JSON_CT }, body: json({ phone: '+447400123456', code: '12', [field]: inj }) });
    }
    out.push({ cat: 'injection', method: 'POST', path: '/v1/verifications', headers: { ...JSON_CT }, body: json({ phone: '+447400123456', [inj]: inj }) });
    const keys = ['since', 'until', 'country', 'prefix', 'decision', 'reason', 'route', 'cursor', 'limit', 'format', inj];
    for (const [k, key] of keys.entries()) {
      const route = ['events', 'stats', 'incidents'][k % 3];
      out.push({ cat: 'admin_hostile', method: 'GET', path: `/v1/admin/${route}?${enc(key)}=${enc(inj)}`, headers: adminH(), admin: true });
    }
    for (const [k, base] of ['/v1/admin/safelist/', '/v1/admin/blocklist/', '/v1/admin/blocks/'].entries()) {
      out.push({ cat: 'admin_hostile', method: ['PUT', 'DELETE', 'DELETE'][k], path: base + enc(inj), headers: adminH(), admin: true });
    }
    out.push({ cat: 'admin_bad_token', method: 'GET', path: '/v1/admin/stats', headers: { authorization: `Bearer ${inj}` } });
    out.push({ cat: 'headers', method: 'GET', path: '/v1/health', headers: { 'cf-ray': inj, origin: inj, 'x-forwarded-for': inj } });
    out.push({ cat: 'paths', method: 'GET', path: `/v1/${enc(inj)}`, headers: {} });
  }
  return { regressions, injections: out };
}

function makeCorpus(n) {
  const cats = Object.entries(WEIGHTS).flatMap(([c, w]) => Array(w).fill(c));
  // The regression cases first (the list reads while the lists are empty); then, shuffled
  // together, every injection string in every field and weighted random picks (every category
  // at least once). A --count below the pinned set's size drops some of it.
  const { regressions, injections } = pinned();
  const rest = [...injections];
  for (const c of Object.keys(WEIGHTS)) rest.push(GENERATORS[c]());
  while (regressions.length + rest.length < n) rest.push(GENERATORS[R.pick(cats)]());
  for (let i = rest.length - 1; i > 0; i--) {
    const j = Math.floor(R.next() * (i + 1));
    [rest[i], rest[j]] = [rest[j], rest[i]];
  }
  const corpus = [...regressions, ...rest].slice(0, n);
  let defused = 0;
  for (const [i, req] of corpus.entries()) {
    req.id = `hostile-${SEED}-${i}`;
    if (req.headers['cf-ray'] === null || req.headers['cf-ray'] === undefined) req.headers['cf-ray'] = req.id;
    // A request that could pass every step before Turnstile or Twilio gets an unknown member,
    // which the worker refuses first (invalid_request).
    if (sendMightReachUpstream(req) || checkMightReachUpstream(req)) {
      const v = parseAsWorker(req.body);
      req.body = json({ ...v, hostile_unknown_member: true });
      req.defused = true;
      defused += 1;
    }
    for (const [k, v] of Object.entries(req.headers)) req.headers[k] = headerValue(v);
    if (req.body && !req.chunked) req.headers['content-length'] = String(req.body.length);
  }
  return { corpus, defused };
}

// ---------------------------------------------------------------------------------------
// Sending.

function send(base, agent, req, retried = false) {
  const url = new URL(base);
  return new Promise((resolve) => {
    const started = performance.now();
    let r;
    try {
      r = http.request({ host: url.hostname, port: url.port, method: req.method, path: req.path, headers: req.headers, agent,
        timeout: 30_000 }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks), ms: performance.now() - started }));
        res.on('error', (e) => resolve({ error: e.code || e.message }));
      });
    } catch (e) {
      resolve({ error: `client refused to send: ${e.code || e.message}` });
      return;
    }
    r.on('timeout', () => r.destroy(new Error('timeout')));
    r.on('error', (e) => {
      // A kept-alive socket the server had already closed (after a request whose body the
      // worker rightly did not read, the runtime drops the connection): the request never
      // reached it. Sent once more on a fresh socket, as Node's documentation advises; a
      // worker that really fails on this request fails the second time too.
      if (!retried && r.reusedSocket && ['ECONNRESET', 'EPIPE'].includes(e.code)) {
        resolve(send(base, false, req, true));
        return;
      }
      resolve({ error: e.code || e.message });
    });
    if (req.body && req.chunked) {
      for (let i = 0; i < req.body.length; i += 4096) r.write(req.body.subarray(i, i + 4096));
      r.end();
    } else r.end(req.body);
  });
}

/** Raw bytes on a fresh socket, for what an HTTP client library refuses to send. */
function sendRaw(base, bytes) {
  const url = new URL(base);
  return new Promise((resolve) => {
    const socket = net.connect(Number(url.port), url.hostname);
    const chunks = [];
    const done = () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      const headEnd = text.indexOf('\r\n\r\n');
      const head = headEnd < 0 ? text : text.slice(0, headEnd);
      resolve({ status: m ? Number(m[1]) : null, head, body: headEnd < 0 ? '' : text.slice(headEnd + 4, headEnd + 300),
        worker: /\r\nvary: Origin/i.test(head) });
    };
    socket.setTimeout(10_000, () => socket.destroy());
    socket.on('data', (c) => { chunks.push(c); if (/\r\n\r\n/.test(Buffer.concat(chunks).toString('latin1'))) socket.end(); });
    socket.on('close', done);
    socket.on('error', () => {});
    socket.write(Buffer.from(bytes, 'latin1'));
  });
}

const RUNTIME_PROBES = [
  ['unknown method LINK', 'LINK /v1/verifications HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
  ['unknown method M-SEARCH', 'M-SEARCH /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
  ['lowercase unknown method', 'foo /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
  ['asterisk-form target', 'GET * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
  ['absolute-form target', 'GET http://evil.example/v1/nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
  ['CRLF injected into a header value', 'GET /v1/health HTTP/1.1\r\nHost: x\r\nX-A: a\rX-Injected: 1\r\nConnection: close\r\n\r\n'],
  ['bare LF line endings', 'GET /v1/health HTTP/1.1\nHost: x\nConnection: close\n\n'],
  ['NUL in a header value', 'GET /v1/health HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\nConnection: close\r\n\r\n'],
  ['obs-fold header continuation', 'GET /v1/health HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\nConnection: close\r\n\r\n'],
  ['space before colon', 'GET /v1/health HTTP/1.1\r\nHost: x\r\nX-A : a\r\nConnection: close\r\n\r\n'],
  ['raw invalid UTF-8 in the path', 'GET /v1/\u00ff\u00fe\u00c3( HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
  ['raw space in the path', 'GET /v1/a b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
  ['HTTP/1.0 without Host', 'GET /v1/health HTTP/1.0\r\n\r\n'],
  ['two Content-Length headers', 'POST /v1/verifications HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 40\r\nConnection: close\r\n\r\n{}'],
  ['Content-Length with Transfer-Encoding', 'POST /v1/verifications HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n'],
  ['negative Content-Length', 'POST /v1/verifications HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: -1\r\nConnection: close\r\n\r\n{}'],
  ['malformed chunk size', 'POST /v1/verifications HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n'],
  ['URL over 100 kB', `GET /v1/${'a'.repeat(150_000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`],
  ['header block over 1 MB', `GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(1_100_000)}\r\nConnection: close\r\n\r\n`],
  ['HTTP/2 preface on HTTP/1.1', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
];

// ---------------------------------------------------------------------------------------
// Judging one answer.

/** Whether the worker takes the Authorization header as the admin token (src/admin.rs: a
 * `Bearer ` or `bearer ` prefix, then the token with surrounding white space trimmed). */
function validAdminAuth(req) {
  const h = req.headers.authorization;
  if (typeof h !== 'string') return false;
  // The runtime hands the worker header bytes decoded as UTF-8; Rust's trim() removes Unicode white space.
  const m = /^(?:Bearer|bearer) (.*)$/s.exec(Buffer.from(h, 'latin1').toString('utf8'));
  return Boolean(m && m[1].replace(/^[\s\u0085]+|[\s\u0085]+$/g, '') === ADMIN_TOKEN);
}
/** Why a 2xx/3xx is legitimate, or undefined. */
function legitimateSuccess(req, res) {
  const method = req.method.toUpperCase();
  const path = normalPath(req.path.split('?')[0]);
  if (method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) return res.status === 204 && 'preflight';
  if (['GET', 'HEAD'].includes(method) && ['/v1/health', '/v1/client-config', '/v1/openapi.json'].includes(path)) return res.status === 200 && 'read';
  // The static assets (www/) are served before the worker runs: pages and redirects for GET
  // and HEAD, and an empty 405 for other methods on an asset's path.
  if (!path.startsWith('/v1/') && isAssetAnswer(req, res)) return 'static asset';
  if (path.startsWith('/v1/admin/') && validAdminAuth(req)) {
    const route = path.slice('/v1/admin/'.length);
    if (['GET', 'HEAD'].includes(method) && ADMIN_ROUTES.includes(route)) return res.status === 200 && 'admin read';
    if (['PUT', 'DELETE'].includes(method) && /^(safelist|blocklist)\/[^/]+$/.test(route)) return res.status === 204 && 'admin write';
    if (method === 'DELETE' && /^blocks\/[^/]+$/.test(route)) return res.status === 204 && 'admin lift';
  }
  return undefined;
}

function isAssetAnswer(req, res) {
  const ct = String(res.headers['content-type'] || '');
  const get = ['GET', 'HEAD'].includes(req.method.toUpperCase());
  return !ct.startsWith('application/problem+json') && !res.headers.vary
    && ((get && [200, 304, 307, 308].includes(res.status)) || (!get && res.status === 405 && res.body.length === 0));
}
/** A body streamed past the limit without a length: the worker stops reading at 8 KiB and
 * answers 413; wrangler dev's proxy (miniflare's entry worker) sometimes loses that answer
 * and says "500 Network connection lost", or the socket is reset under the client. */
function isDevProxyDrop(req, res) {
  if (!req.chunked || req.body.length <= MAX_BODY) return false;
  if (res.error) return ['ECONNRESET', 'EPIPE'].includes(res.error);
  return res.status === 500 && !res.headers.vary && /^Error: Network connection lost\./.test(res.body.toString('utf8'));
}

function judge(req, res) {
  const problems = [];
  if (isDevProxyDrop(req, res)) return problems;
  if (res.error) return [`no answer: ${res.error}`];
  const ct = String(res.headers['content-type'] || '');
  if (res.status >= 500) problems.push(`HTTP ${res.status} (5xx)`);
  const origin = req.headers.origin;
  const acao = res.headers['access-control-allow-origin'];
  if (acao !== undefined && !(acao === origin && ALLOWED_ORIGINS.has(origin))) problems.push(`CORS: Access-Control-Allow-Origin ${JSON.stringify(acao)} for Origin ${JSON.stringify(origin)}`);
  if (res.status < 400) {
    const why = legitimateSuccess(req, res);
    if (!why) problems.push(`unexpected HTTP ${res.status} (${ct || 'no content type'}) for ${req.method} ${req.path.slice(0, 80)}`);
    return problems;
  }
  if (!normalPath(req.path.split('?')[0]).startsWith('/v1/') && isAssetAnswer(req, res)) return problems;
  if (!ct.startsWith('application/problem+json')) {
    problems.push(`HTTP ${res.status} with content type ${JSON.stringify(ct)}, not application/problem+json`);
    return problems;
  }
  if (res.headers['cache-control'] !== 'no-store') problems.push('problem without Cache-Control: no-store');
  if (res.status === 405 && !res.headers.allow) problems.push('405 without Allow');
  if (res.status === 401 && res.headers['www-authenticate'] !== 'Bearer') problems.push('401 without WWW-Authenticate: Bearer');
  if (req.method === 'HEAD') return problems; // no body to read
  let p;
  try { p = JSON.parse(res.body.toString('utf8')); } catch { problems.push('problem body is not JSON'); return problems; }
  if (!(p.code in CODES)) problems.push(`code ${JSON.stringify(p.code)} is not in the contract`);
  else if (CODES[p.code] !== res.status) problems.push(`code ${p.code} answered with HTTP ${res.status}`);
  if (p.status !== res.status) problems.push(`problem status ${p.status} != HTTP ${res.status}`);
  if (p.type !== `urn:otp-guard:error:${p.code}`) problems.push(`problem type ${JSON.stringify(p.type)}`);
  if (typeof p.title !== 'string' || typeof p.detail !== 'string') problems.push('problem without title or detail');
  const extra = Object.keys(p).filter((k) => !['type', 'title', 'status', 'code', 'detail', 'scope', 'retry_after_s'].includes(k));
  if (extra.length) problems.push(`problem has unexpected members ${extra.join(',')}`);
  if (p.code === 'rate_limited') {
    if (!SCOPES.has(p.scope) || !Number.isInteger(p.retry_after_s)) problems.push('rate_limited without scope/retry_after_s');
    if (res.headers['retry-after'] !== String(p.retry_after_s)) problems.push('rate_limited without a matching Retry-After');
  } else if ('scope' in p || 'retry_after_s' in p) problems.push(`${p.code} carries scope/retry_after_s`);
  if (/\+\d{7,}/.test(p.detail || '')) problems.push('detail echoes a full number');
  return problems;
}

// ---------------------------------------------------------------------------------------

function describe(req) {
  const body = req.body ? (req.body.length > 300 ? `${req.body.length} bytes: ${JSON.stringify(req.body.subarray(0, 200).toString('latin1'))}...`
    : JSON.stringify(req.body.toString('latin1'))) : '';
  const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => k !== 'content-length' && k !== 'cf-ray')
    .map(([k, v]) => [k, v.length > 120 ? `${v.slice(0, 60)}...(${v.length} chars)` : v]));
  return `${req.method} ${req.path.length > 200 ? req.path.slice(0, 200) + `...(${req.path.length} chars)` : req.path} ${JSON.stringify(headers)}${req.chunked ? ' (chunked)' : ''} ${body}`;
}

async function main() {
  if (!opts['no-build']) buildWorker();
  const { corpus, defused } = makeCorpus(COUNT);
  console.log(`hostile run: seed ${SEED}, ${corpus.length} requests (${defused} made invalid on purpose so they cannot reach Turnstile or Twilio), concurrency ${CONCURRENCY}`);
  const guard = await startGuard();
  // The log audit (tests/e2e/log-audit.mjs) checks the worker's output against the whole
  // numbers a run used; the corpus's synthetic digit strings are not numbers.
  const realNumbers = PHONES.filter((p) => /^\+[\d\s().-]{7,}$/.test(p) && p.replace(/\D/g, '').length <= 15);
  for (const n of realNumbers) guard.noteNumber(n);
  const auditDigits = [...new Set(realNumbers.map((n) => n.replace(/\D/g, '')).filter((d) => d.length >= 8))];
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const t0 = performance.now();
  const results = new Array(corpus.length);
  let nextIndex = 0;
  try {
    await guard.resetUpstreams();
    const worker = async () => {
      while (nextIndex < corpus.length) {
        const i = nextIndex++;
        results[i] = await send(guard.base, agent, corpus[i]);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const elapsed = (performance.now() - t0) / 1000;

    const probes = [];
    for (const [name, bytes] of RUNTIME_PROBES) probes.push({ name, ...(await sendRaw(guard.base, bytes)) });

    // Let wait_until work (the decision log) and the log lines settle.
    await new Promise((r) => setTimeout(r, 1500));
    const twilio = await guard.twilioRequests();
    const turnstile = await guard.turnstileRequests();
    const events = guard.events();
    const leaks = audit(guard.log(), auditDigits);

    // Judge.
    const violations = [];
    const byCat = {};
    const byCode = {};
    const statuses = {};
    const legit = {};
    let fivexx = 0;
    let devProxyDrops = 0;
    for (const [i, req] of corpus.entries()) {
      const res = results[i];
      const cat = (byCat[req.cat] ??= { sent: 0, violations: 0 });
      cat.sent += 1;
      if (isDevProxyDrop(req, res)) { devProxyDrops += 1; continue; }
      if (res.status >= 500) fivexx += 1;
      statuses[res.status ?? 'none'] = (statuses[res.status ?? 'none'] || 0) + 1;
      if (res.status < 400) {
        const why = legitimateSuccess(req, res) || 'unexpected';
        legit[why] = (legit[why] || 0) + 1;
      } else if (req.method !== 'HEAD' && res.body) {
        try { const code = JSON.parse(res.body.toString('utf8')).code; byCode[code] = (byCode[code] || 0) + 1; } catch { /* judged below */ }
      }
      const problems = judge(req, res);
      if (problems.length) {
        cat.violations += 1;
        violations.push({ i, cat: req.cat, problems, request: describe(req), status: res.status,
          answer: res.body ? res.body.subarray(0, 300).toString('utf8') : res.error });
      }
    }
    // Upstream: the stand-ins' own logs, and any decision the worker logged as having gone upstream.
    const upstreamEvents = events.filter((e) => e.twilio_sid || (e.reason === 'upstream_error' && !/counter store|decision log/.test(e.detail || ''))
      || (['send', 'check'].includes(e.route) && e.decision === 'allow'));
    if (twilio.length) violations.push({ cat: 'upstream', problems: [`the Twilio stand-in received ${twilio.length} requests`], request: JSON.stringify(twilio.slice(0, 3)) });
    if (turnstile.length) violations.push({ cat: 'upstream', problems: [`the Turnstile stand-in received ${turnstile.length} requests`], request: JSON.stringify(turnstile.slice(0, 3)) });
    if (upstreamEvents.length) violations.push({ cat: 'upstream', problems: [`${upstreamEvents.length} decisions went upstream`], request: JSON.stringify(upstreamEvents.slice(0, 3)) });
    for (const leak of leaks) violations.push({ cat: 'log', problems: [leak], request: '' });

    // What the worker saw as the client address, for spoofed headers (joined on cf-ray).
    const byId = new Map(events.map((e) => [e.request_id, e]));
    const seenIp = {};
    for (const req of corpus.filter((r) => r.spoof)) {
      const e = byId.get(req.id);
      if (!e) continue;
      const sent = req.headers['cf-connecting-ip'] ?? req.headers['x-forwarded-for'];
      const key = `${req.spoof}: ${e.ip === sent ? 'taken as the client IP' : `ignored (worker saw ${e.ip || '""'})`}`;
      seenIp[key] = (seenIp[key] || 0) + 1;
    }

    const summary = {
      seed: SEED, requests_sent: corpus.length, defused, elapsed_s: Number(elapsed.toFixed(1)),
      rate_per_s: Math.round(corpus.length / elapsed),
      fivexx, dev_proxy_drops: devProxyDrops, twilio_requests: twilio.length, turnstile_requests: turnstile.length, upstream_decisions: upstreamEvents.length,
      decision_lines: events.length, log_leaks: leaks.length, violations: violations.length,
      statuses, codes: byCode, successes: legit, categories: byCat, client_ip_observed: seenIp,
      runtime_probes: probes.map((p) => ({ name: p.name, status: p.status, by: p.worker ? 'worker' : 'runtime', head: p.head.split('\r\n').slice(0, 1).join(' ') })),
    };
    // Probes the worker itself answered are held to the contract too.
    for (const p of probes.filter((x) => x.worker)) {
      if (p.status >= 500 || !/content-type: application\/problem\+json/i.test(p.head) && p.status >= 400) {
        violations.push({ cat: 'runtime_probe', problems: [`worker answered ${p.status} to "${p.name}"`], request: p.name, answer: p.body });
      }
    }
    summary.violations = violations.length;

    console.log(`requests sent: ${corpus.length} in ${summary.elapsed_s} s (${summary.rate_per_s}/s)`);
    console.log(`5xx seen: ${fivexx} (not counting ${devProxyDrops} oversized streamed bodies whose 413 wrangler dev's proxy lost: "500 Network connection lost" or a reset)`);
    console.log(`upstream calls seen: Twilio ${twilio.length}, Turnstile ${turnstile.length}; decisions that went upstream: ${upstreamEvents.length}`);
    console.log(`statuses: ${JSON.stringify(statuses)}`);
    console.log(`codes: ${JSON.stringify(byCode)}`);
    console.log(`2xx/3xx: ${JSON.stringify(legit)}`);
    console.log(`client address under wrangler dev: ${JSON.stringify(seenIp)}`);
    console.log(`worker log: ${events.length} decision lines, ${leaks.length} leaks`);
    console.log('runtime probes (answered before the worker unless marked worker):');
    for (const p of summary.runtime_probes) console.log(`  ${String(p.status ?? 'no answer').padEnd(9)} ${p.by.padEnd(7)} ${p.name}`);
    console.log(`per category: ${Object.entries(byCat).map(([c, v]) => `${c} ${v.sent}${v.violations ? ` (${v.violations} bad)` : ''}`).join(', ')}`);
    if (violations.length) {
      // One example per distinct problem.
      const seen = new Map();
      for (const v of violations) {
        const key = v.problems.map((p) => p.replace(/\d+/g, 'N').replace(/for (GET|HEAD|POST|PUT|DELETE|PATCH|OPTIONS|TRACE|[A-Za-z-]+) .*/, 'for $1 ...')).join('; ')
          + (v.status >= 500 ? ` ${v.request.split(/[ ?]/).slice(0, 2).join(' ')}` : '');
        if (!seen.has(key)) seen.set(key, { ...v, count: 0 });
        seen.get(key).count += 1;
      }
      console.log(`\nVIOLATIONS: ${violations.length} (${seen.size} kinds)`);
      for (const v of seen.values()) {
        console.log(`- [${v.cat}] x${v.count}: ${v.problems.join('; ')}`);
        console.log(`    request: ${v.request}`);
        if (v.answer !== undefined) console.log(`    answer:  ${v.status ?? ''} ${String(v.answer).replace(/\s+/g, ' ').slice(0, 220)}`);
      }
    } else console.log('\nno violations');
    if (opts.report) writeFileSync(opts.report, JSON.stringify({ ...summary, violation_list: violations }, null, 1));
    process.exitCode = violations.length ? 1 : 0;
  } finally {
    agent.destroy();
    await guard.stop();
  }
}

await main();
