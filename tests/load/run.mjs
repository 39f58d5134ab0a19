// The load run: one guard stack (the real worker in workerd through `wrangler dev`, local
// KV and D1, the Twilio stand-in behind Prism, the Turnstile stand-in; tests/e2e/harness.mjs)
// driven by a closed loop of `--concurrency` clients for `--duration` seconds, each sending
// its next request as soon as the last one is answered: the rate the machine holds.
//
//   node tests/load/run.mjs [--duration 60] [--concurrency 8] [--seed 7] [--no-build] [--report FILE.json]
//
// The mix (weights in MIX): good sends (a fresh number from a fresh address), repeats that
// hit the limits (the same number again inside its back-off; fresh numbers from a few busy
// addresses until their per-IP quota is full), checks (the right code, a wrong one), and bad
// traffic (invalid numbers, broken JSON, bodies over 8 KiB, a denied country, a premium
// number, no captcha token, a wrong content type, wrong methods, CORS preflights, health).
//
// Printed, and checked (exit 1 on any failure):
//   - requests sent, the rate held (requests/s), the status histogram, per kind of request;
//   - errors: any answer outside the intended ones (202, 200, 204 where documented; a 4xx
//     problem whose `code` is a contract code for that status; 503 protection_engaged), and
//     any request that got no answer. 502 upstream_error is an error here: nothing failed;
//   - sends that reached Twilio against 202 answers (never a send without a 202, never two);
//   - the decision log: every request to POST /v1/verifications and
//     /v1/verifications/check logs exactly one decision (src/guard.rs: those routes set the
//     event's route before anything can refuse them; wrong methods, preflights and health
//     log nothing). Once the log settles (wait_until writes after the response), the D1 rows
//     per (route, reason) must equal the answers the clients saw per (route, code), and the
//     console's decision lines likewise. A missing row is a lost decision.
//
// The quotas are wrangler.toml's defaults except the country and global ones and the spend
// caps, raised so that most good sends go the whole way (Turnstile, counters, Twilio, the
// log) instead of stopping at a shared quota after the first few hundred: more work per
// request, not less. The per-IP, subnet, number and prefix quotas are the defaults.

import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { ADMIN_TOKEN, DUMMY_TOKEN, buildWorker, d1Execute, startGuard } from '../e2e/harness.mjs';

const { values: opts } = parseArgs({
  options: {
    duration: { type: 'string', default: '60' },
    concurrency: { type: 'string', default: '8' },
    seed: { type: 'string', default: '7' },
    settle: { type: 'string', default: '90' },
    'no-build': { type: 'boolean', default: false },
    report: { type: 'string' },
  },
});
const DURATION_S = Number(opts.duration);
const CONCURRENCY = Number(opts.concurrency);
const SETTLE_S = Number(opts.settle);
if (!(DURATION_S > 0) || !Number.isInteger(CONCURRENCY) || CONCURRENCY < 1) {
  throw new Error('--duration takes seconds, --concurrency a positive integer');
}

const CODES = {
  invalid_request: 400, payload_too_large: 413, invalid_phone: 400, country_not_allowed: 403,
  number_type_blocked: 403, captcha_failed: 403, channel_not_allowed: 403, blocklisted: 403,
  ip_blocked: 403, rate_limited: 429, protection_engaged: 503, upstream_error: 502, not_found: 404,
  method_not_allowed: 405, unauthorized: 401, config_error: 500,
};
const VARS = {
  DENIED_COUNTRIES_SMS: 'CG',
  COUNTRY_LIMITS: '*:100000/1h,1000000/1d',
  LIMITS_GLOBAL: '1000000/1h,10000000/1d',
  SPEND_CAP_HOURLY_USD: '0', SPEND_CAP_DAILY_USD: '0',
  SPEND_CAP_COUNTRY_HOURLY_USD: '0', SPEND_CAP_COUNTRY_DAILY_USD: '0',
  UPSTREAM_TIMEOUT_MS: '10000',
};

// Seeded randomness (mulberry32), one stream per client.
function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)), pick: (xs) => xs[Math.floor(next() * xs.length)] };
}

// Numbers: GB mobiles (+447[4-9]........) and FR mobiles (+336........), unique per run.
let serial = 0;
function freshNumber(r) {
  serial += 1;
  const tail = String(serial).padStart(6, '0');
  return r.next() < 0.7 ? `+447${r.int(4, 9)}${r.int(10, 99)}${tail}` : `+336${r.int(10, 99)}${tail}`;
}
let ipSerial = 0;
function freshIp() {
  ipSerial += 1;
  // One address per /24, so only the per-IP and per-number quotas apply to good sends.
  return `10.${(ipSerial >> 8) & 255}.${ipSerial & 255}.${1 + (ipSerial >> 16)}`;
}
const BUSY_IPS = ['198.51.100.10', '198.51.100.77', '203.0.113.5', '203.0.113.250'];

const JSON_HEADERS = { 'content-type': 'application/json' };
const sendBody = (phone, extra = {}) => JSON.stringify({ phone, turnstile_token: DUMMY_TOKEN, ...extra });

/** The mix: [kind, weight, build(r, shared) → {method, path, headers, body, route}]. */
const MIX = [
  ['send_fresh', 28, (r, s) => {
    const phone = freshNumber(r);
    const ip = freshIp();
    s.sent.push({ phone, ip });
    return post('/v1/verifications', sendBody(phone), ip);
  }],
  ['send_repeat', 8, (r, s) => {
    const prev = s.sent.length ? r.pick(s.sent.slice(-200)) : { phone: freshNumber(r), ip: freshIp() };
    return post('/v1/verifications', sendBody(prev.phone), prev.ip);
  }],
  ['send_busy_ip', 6, (r) => post('/v1/verifications', sendBody(freshNumber(r)), r.pick(BUSY_IPS))],
  ['check_right', 7, (r, s) => ({ ...post('/v1/verifications/check', null, freshIp()), needsCode: s.sent.length ? r.pick(s.sent.slice(-100)).phone : null })],
  ['check_wrong', 7, (r, s) => {
    const phone = s.sent.length ? r.pick(s.sent.slice(-300)).phone : freshNumber(r);
    return post('/v1/verifications/check', JSON.stringify({ phone, code: String(r.int(0, 999999)).padStart(6, '0') }), freshIp());
  }],
  ['invalid_phone', 5, (r) => post('/v1/verifications', sendBody(`+44${r.int(1, 99)}`), freshIp())],
  ['broken_json', 5, (r) => post(r.next() < 0.5 ? '/v1/verifications' : '/v1/verifications/check', `{"phone": "+4474${r.int(0, 9)}`, freshIp())],
  ['oversize', 4, (r) => post('/v1/verifications', sendBody('+447400123456', { locale: 'x'.repeat(8200 + r.int(0, 4000)) }), freshIp())],
  ['denied_country', 5, (r) => post('/v1/verifications', sendBody(`+2420${r.int(10, 99)}${r.int(100000, 999999)}`.slice(0, 13)), freshIp())],
  ['premium_number', 3, (r) => post('/v1/verifications', sendBody(`+44906${r.int(1000000, 9999999)}`), freshIp())],
  ['no_token', 4, (r) => post('/v1/verifications', JSON.stringify({ phone: freshNumber(r) }), freshIp())],
  ['wrong_content_type', 3, () => ({ ...post('/v1/verifications', sendBody('+447400123456'), freshIp()), headers: { 'content-type': 'text/plain', 'cf-connecting-ip': freshIp() } })],
  ['wrong_method', 5, (r) => ({ method: r.pick(['GET', 'PUT', 'DELETE', 'PATCH']), path: r.pick(['/v1/verifications', '/v1/verifications/check', '/v1/health']), headers: {}, route: null })],
  ['preflight', 4, (r) => ({
    method: 'OPTIONS', path: r.pick(['/v1/verifications', '/v1/verifications/check']), route: null,
    headers: { origin: 'http://localhost:8787', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
  })],
  ['health', 2, () => ({ method: 'GET', path: '/v1/health', headers: {}, route: null })],
];
const TOTAL_WEIGHT = MIX.reduce((n, [, w]) => n + w, 0);

function post(path, body, ip) {
  return {
    method: 'POST', path, body, headers: { ...JSON_HEADERS, 'cf-connecting-ip': ip },
    route: path === '/v1/verifications' ? 'send' : 'check',
  };
}

/** Whether an answer is one this request may get. */
function intended(req, status, body, headers) {
  if (req.route === null) {
    if (req.method === 'OPTIONS') return status === 204 && headers.get('access-control-allow-origin') === 'http://localhost:8787';
    if (req.method === 'GET' && req.path === '/v1/health') return status === 200 && body?.status === 'ok';
    return status === 405 && body?.code === 'method_not_allowed' && Boolean(headers.get('allow'));
  }
  if (status === 202) return req.route === 'send' && body?.status === 'pending';
  if (status === 200) return req.route === 'check' && typeof body?.valid === 'boolean';
  const code = body?.code;
  if (!(code in CODES) || CODES[code] !== status || body?.status !== status) return false;
  if (status === 503) return code === 'protection_engaged';
  return status >= 400 && status < 500;
}

if (!opts['no-build']) buildWorker();
console.log(`[load] starting the guard stack`);
const guard = await startGuard({ vars: VARS });
let exitCode = 0;
try {
  exitCode = await run(guard);
} catch (e) {
  console.error(e);
  exitCode = 1;
} finally {
  await guard.stop();
}
process.exit(exitCode);

async function run(guard) {
  const shared = { sent: [] };
  const stats = {
    requests: 0, answered: 0, errors: 0, histogram: {}, kinds: {}, errorSamples: [],
    // What the clients saw, per route and reason, for the routes that log a decision.
    observed: {}, expectedDecisions: 0, accepted: 0, kindLatency: {},
  };
  const bump = (obj, key) => { obj[key] = (obj[key] ?? 0) + 1; };
  const started = performance.now();
  const deadline = started + DURATION_S * 1000;
  let latencies = [];

  async function client(id) {
    const r = rng(Number(opts.seed) * 1000 + id);
    while (performance.now() < deadline) {
      let pick = r.next() * TOTAL_WEIGHT;
      const [kind, , build] = MIX.find(([, w]) => (pick -= w) < 0) ?? MIX[0];
      const req = build(r, shared);
      if (req.needsCode !== undefined) {
        // The right code, read from the Twilio stand-in (as the user reads their phone).
        const phone = req.needsCode ?? freshNumber(r);
        const last = await fetch(`${guard.twilioDirect}/__standin/last-code?to=${encodeURIComponent(phone)}`);
        const code = last.ok ? (await last.json())?.code ?? '000000' : '000000';
        req.body = JSON.stringify({ phone, code: String(code) });
      }
      stats.requests += 1;
      if (req.route) stats.expectedDecisions += 1;
      const t0 = performance.now();
      let status = 'no answer';
      let body = null;
      let ok = false;
      try {
        const res = await fetch(guard.base + req.path, {
          method: req.method, headers: req.headers, body: req.body ?? undefined, signal: AbortSignal.timeout(30_000),
        });
        status = res.status;
        const text = await res.text();
        try { body = text ? JSON.parse(text) : null; } catch { body = text; }
        stats.answered += 1;
        ok = intended(req, status, body, res.headers);
        if (req.route) bump(stats.observed, `${req.route} ${status < 300 ? 'ok' : body?.code}`);
        if (status === 202) stats.accepted += 1;
      } catch (e) {
        body = String(e?.cause?.code ?? e?.name ?? e);
        if (req.route) bump(stats.observed, `${req.route} (no answer)`);
      }
      const took = performance.now() - t0;
      latencies.push(took);
      (stats.kindLatency[kind] ??= []).push(took);
      const label = typeof body === 'object' && body?.code ? `${status} ${body.code}` : String(status);
      bump(stats.histogram, label);
      stats.kinds[kind] ??= {};
      bump(stats.kinds[kind], label);
      if (!ok) {
        stats.errors += 1;
        if (stats.errorSamples.length < 10) stats.errorSamples.push({ kind, method: req.method, path: req.path, status, body });
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => client(i)));
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]);

  // Twilio: one send per 202, never one without.
  const twilioSends = (await (await fetch(`${guard.twilioDirect}/__standin/requests`)).json())
    .filter((q) => q.operation === 'verifications' || /\/Verifications$/.test(q.path ?? '')).length;

  // The decision log, once it settles.
  const expectedByReason = Object.fromEntries(Object.entries(stats.observed).filter(([k]) => !k.endsWith('(no answer)')));
  const settleStart = performance.now();
  let rows = {};
  let protection = 0;
  let stableSince = performance.now();
  let lastTotal = -1;
  for (;;) {
    const result = d1Execute(guard.persistDir, 'SELECT route, reason, count(*) AS n FROM events GROUP BY route, reason');
    rows = {};
    protection = 0;
    for (const { route, reason, n } of result) {
      if (route === 'send' || route === 'check') rows[`${route} ${reason}`] = n;
      else if (route === 'protection') protection += n;
    }
    const total = Object.values(rows).reduce((a, b) => a + b, 0);
    if (total !== lastTotal) { lastTotal = total; stableSince = performance.now(); }
    if (total >= stats.expectedDecisions) break;
    if (performance.now() - stableSince > 15_000 || performance.now() - settleStart > SETTLE_S * 1000) break;
    await new Promise((r) => setTimeout(r, 2000));
  }
  const settledS = (performance.now() - settleStart) / 1000;
  const logged = Object.values(rows).reduce((a, b) => a + b, 0);
  const consoleLines = {};
  for (const e of guard.events()) if (e.route === 'send' || e.route === 'check') bump(consoleLines, `${e.route} ${e.reason}`);
  const consoleTotal = Object.values(consoleLines).reduce((a, b) => a + b, 0);
  const log = guard.log();
  const writeFailures = (log.match(/"error":"decision log write failed"/g) ?? []).length;
  const retried = (log.match(/"warning":"decision log written on attempt/g) ?? []).length;
  const mismatches = [];
  for (const key of new Set([...Object.keys(expectedByReason), ...Object.keys(rows), ...Object.keys(consoleLines)])) {
    const [want, d1, line] = [expectedByReason[key] ?? 0, rows[key] ?? 0, consoleLines[key] ?? 0];
    if (want !== d1 || want !== line) mismatches.push({ decision: key, answers: want, d1, console: line });
  }

  const report = {
    duration_s: Number(elapsed.toFixed(1)), concurrency: CONCURRENCY, requests: stats.requests, answered: stats.answered,
    rate_rps: Number((stats.requests / elapsed).toFixed(1)),
    latency_ms: { p50: pct(0.5), p90: pct(0.9), p99: pct(0.99), max: Math.round(latencies.at(-1) ?? 0) },
    histogram: stats.histogram, errors: stats.errors, error_samples: stats.errorSamples,
    accepted_202: stats.accepted, twilio_sends: twilioSends,
    decisions: {
      expected: stats.expectedDecisions, answered: Object.values(expectedByReason).reduce((a, b) => a + b, 0),
      console: consoleTotal, d1: logged, lost: stats.expectedDecisions - logged, settle_s: Number(settledS.toFixed(1)),
      protection_events: protection, d1_retries: retried, d1_write_failures: writeFailures, mismatches,
    },
    kinds: stats.kinds,
    kind_p50_ms: Object.fromEntries(Object.entries(stats.kindLatency).map(([k, xs]) => {
      xs.sort((a, b) => a - b);
      return [k, Math.round(xs[Math.floor(xs.length / 2)])];
    })),
  };
  if (opts.report) writeFileSync(opts.report, JSON.stringify(report, null, 2));

  const line = (k, v) => console.log(`  ${k.padEnd(26)} ${v}`);
  console.log(`\n[load] ${report.duration_s} s, ${CONCURRENCY} clients (closed loop)`);
  line('requests sent', report.requests);
  line('rate held', `${report.rate_rps} req/s`);
  line('latency p50/p90/p99/max', `${report.latency_ms.p50}/${report.latency_ms.p90}/${report.latency_ms.p99}/${report.latency_ms.max} ms`);
  line('status histogram', '');
  for (const [k, v] of Object.entries(report.histogram).sort((a, b) => b[1] - a[1])) console.log(`      ${String(v).padStart(7)}  ${k}`);
  line('p50 per kind (ms)', JSON.stringify(report.kind_p50_ms));
  line('errors', report.errors);
  for (const s of report.error_samples) console.log(`      ${JSON.stringify(s).slice(0, 300)}`);
  line('202 answers / Twilio sends', `${report.accepted_202} / ${report.twilio_sends}`);
  line('decisions expected', report.decisions.expected);
  line('decision lines (console)', report.decisions.console);
  line('decisions in D1', `${report.decisions.d1} (settled in ${report.decisions.settle_s} s; ${retried} written on the retry, ${writeFailures} write failures)`);
  line('protection events in D1', protection);
  line('lost decisions', report.decisions.lost);
  for (const m of mismatches) console.log(`      mismatch ${JSON.stringify(m)}`);

  const failures = [];
  if (report.errors) failures.push(`${report.errors} answers outside the intended ones`);
  if (report.accepted_202 !== report.twilio_sends) failures.push(`${report.accepted_202} 202 answers but ${report.twilio_sends} Twilio sends`);
  if (report.decisions.lost !== 0) failures.push(`${report.decisions.lost} decisions missing from D1`);
  if (mismatches.length) failures.push(`${mismatches.length} (route, reason) counts differ between answers, console and D1`);
  if (writeFailures) failures.push(`${writeFailures} decision log write failures`);
  if (failures.length) {
    console.log(`[load] FAILED: ${failures.join('; ')}`);
    return 1;
  }
  console.log('[load] passed: every answer intended, one Twilio send per 202, every decision in D1');
  return 0;
}
// ADMIN_TOKEN is imported for symmetry with the other runs; the load mix sends no admin calls.
void ADMIN_TOKEN;
