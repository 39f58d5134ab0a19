// Where a request's CPU goes: otp-guard's worker bundle against the two yardsticks of
// benches/workerd.mjs (the JS guard, the null worker), run inside Node (the same V8 family
// as workerd) so that V8's CPU profiler can look inside, which workerd's inspector could
// not be used for. The bundles are the ones `npm run bench` builds (target/bench/): Node
// loads them as workerd would, with the surroundings of benches/profile/env.mjs (the
// `cloudflare:workers` base classes, `.wasm` imports as compiled modules, an in-memory
// KV namespace, a `fetch` that answers Turnstile and Twilio with no network).
//
//   node benches/profile/run.mjs --worker otp-guard|js-guard|null --path full|reject|cold
//        [--n 2000] [--warmup 300] [--prof FILE.cpuprofile] [--interval 50] [--cf none|GB:64496]
//   node benches/profile/run.mjs --worker ... --path full|reject --count-api   (runtime API calls per request)
//   node benches/profile/run.mjs --all [--rounds 3] [--n 2000] [--cold-rounds 5] [--out target/profile]
//   npm run profile -- --all          (the same through package.json)
//
// One worker and path per process. full: distinct valid numbers and client addresses per
// request (the numbers benches/workerd.mjs uses), every answer a 202; reject: invalid
// numbers, every answer a 400. Warm-up first, then the measured loop, one request at a
// time: CPU per request from process.cpuUsage() (every thread of the process: V8's
// background compilers and GC threads count, as they do in workerd's figures), and with
// --prof a V8 CPU profile of the measured loop alone. cold: in this fresh process, the
// bundle's import (wasm compile and instantiate timed apart), then GET /v1/health, an
// invalid number and a send, each timed and (with --prof) profiled on its own.
//
// `request.cf`: none by default, as in benches/workerd.mjs (plain `workerd serve` gives a
// request no `cf`). `--cf GB:64496` attaches {country, asn} as Cloudflare's edge does;
// otp-guard then also counts the client network's traffic (t:<asn> records: 16 more keys
// read and one more write per send, which the JS guard does not do).
//
// --all runs everything in fresh child processes (the workers alternate, `--rounds` times),
// profiles otp-guard and the JS guard on both paths and cold, summarises the profiles
// (benches/profile/summarize.mjs) and prints the tables. A measurement, not a test: it
// asserts status codes and never a time. Compare figures within one run.
//
// Function names: the shipped module has no name section (.ci/build-worker strips it), so
// wasm frames show as indices. For names, build with `OTP_GUARD_KEEP_NAMES=1 FORCE_BUILD=1
// .ci/build-worker` and run `wrangler deploy --dry-run --outdir target/bench/otp-guard`.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Session } from 'node:inspector/promises';
import { benchNumbers } from '../common.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HERE = fileURLToPath(new URL('.', import.meta.url));

const { values: opts } = parseArgs({
  options: {
    worker: { type: 'string', default: 'otp-guard' },
    path: { type: 'string', default: 'full' },
    n: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '300' },
    prof: { type: 'string' },
    interval: { type: 'string', default: '50' },
    cf: { type: 'string', default: 'none' },
    all: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '3' },
    'cold-rounds': { type: 'string', default: '5' },
    out: { type: 'string', default: join(ROOT, 'target/profile') },
    json: { type: 'boolean', default: false },
    'count-api': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (opts.help) {
  console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(0, 26).join('\n'));
  process.exit(0);
}

// ---- the bundles ------------------------------------------------------------------------

const BENCH = join(ROOT, 'target/bench');
const BUNDLES = {
  'otp-guard': { dir: join(BENCH, 'otp-guard'), main: 'index.js' },
  'js-guard': { dir: join(BENCH, 'peer-js-guard/out'), main: 'js-guard.js' },
  null: { dir: join(BENCH, 'peer-null/out'), main: 'null-worker.js' },
};
// The wrangler.toml the otp-guard bundle was built from (benches/workerd.mjs --at builds in target/bench/tree).
const GUARD_TREE = existsSync(join(BENCH, 'tree/wrangler.toml')) ? join(BENCH, 'tree') : ROOT;
const CLI = [join(GUARD_TREE, 'target/release/otp-guard'), join(ROOT, 'target/release/otp-guard')].find(existsSync);

/** Builds the bundles benches/workerd.mjs builds, when target/bench does not have them. */
function ensureBundles() {
  const missing = Object.entries(BUNDLES).filter(([, b]) => !existsSync(join(b.dir, b.main)));
  if (missing.length === 0) return;
  console.error(`[profile] missing bundles (${missing.map(([n]) => n).join(', ')}): building them as benches/workerd.mjs does`);
  const NODE = existsSync(join(ROOT, 'node_modules/.bin/node')) ? join(ROOT, 'node_modules/.bin/node') : process.execPath;
  const wrangler = join(ROOT, 'node_modules/wrangler/bin/wrangler.js');
  const env = { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1' };
  for (const [name] of missing) {
    if (name === 'otp-guard') {
      execFileSync(NODE, [wrangler, 'deploy', '--dry-run', '--outdir', BUNDLES[name].dir], { cwd: ROOT, env, stdio: 'inherit' });
      continue;
    }
    const dir = join(BENCH, `peer-${name}`);
    mkdirSync(dir, { recursive: true });
    const date = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(readFileSync(join(ROOT, 'wrangler.toml'), 'utf8'))[1];
    const file = name === 'null' ? 'null-worker.mjs' : 'js-guard.mjs';
    writeFileSync(join(dir, 'wrangler.toml'), [`name = "bench-${name}"`, `main = ${JSON.stringify(join(ROOT, 'benches/peers', file))}`,
      `compatibility_date = "${date}"`, 'minify = true', '[[kv_namespaces]]', 'binding = "OTP_GUARD_KV"',
      'id = "00000000000000000000000000000000"', ''].join('\n'));
    execFileSync(NODE, [wrangler, 'deploy', '--dry-run', '--outdir', join(dir, 'out'), '--config', join(dir, 'wrangler.toml')],
      { cwd: ROOT, env, stdio: 'inherit' });
  }
}

// ---- the numbers (benches/workerd.mjs's, cached) ------------------------------------------

/** Distinct valid numbers (ten countries, mobile or fixed-or-mobile, both parsers agreeing) and invalid ones. */
async function numbers(count) {
  const cache = join(opts.out, `numbers-${count}.json`);
  if (existsSync(cache)) return JSON.parse(readFileSync(cache, 'utf8'));
  if (!CLI) throw new Error('no otp-guard CLI (cargo build --release --bin otp-guard) to check the numbers with');
  const out = benchNumbers(count, CLI);
  mkdirSync(opts.out, { recursive: true });
  writeFileSync(cache, JSON.stringify(out));
  return out;
}

/** Client i's address, as benches/workerd.mjs gives it: every /24 sees one request in 256. */
const clientIp = (i) => `198.18.${i % 256}.${Math.floor(i / 256) % 256}`;

// ---- one worker in this process -------------------------------------------------------------

const cpuUs = () => { const u = process.cpuUsage(); return u.user + u.system; };

async function loadWorker(name) {
  const env = await import('./env.mjs');
  env.installHooks();
  const kv = env.kvNamespace();
  const upstream = { turnstile: 0, twilio: 0, other: 0 };
  const stub = env.upstreamFetch(upstream);
  globalThis.fetch = opts['count-api'] ? function fetch(...a) { if (!env.apiPaused.value) env.apiPaused.count?.(); return stub(...a); } : stub;
  const logs = { log: 0, error: 0, warn: 0 };
  const real = { log: console.log, error: console.error, warn: console.warn };
  const silence = () => { for (const k of Object.keys(logs)) console[k] = () => { logs[k] += 1; }; };
  const restore = () => Object.assign(console, real);
  const bundle = BUNDLES[name];
  const api = opts['count-api'] ? env.countRuntimeApi() : null;
  if (api) env.apiPaused.count = () => api.counts.set('fetch()', (api.counts.get('fetch()') ?? 0) + 1);
  const bindings = env.benchEnv(join(GUARD_TREE, 'wrangler.toml'), kv);

  silence();
  const c0 = cpuUs();
  const t0 = performance.now();
  const mod = await import(pathToFileURL(join(bundle.dir, bundle.main)).href);
  const importMs = performance.now() - t0;
  const importCpuMs = (cpuUs() - c0) / 1000;
  restore();

  const entry = mod.default;
  // A WorkerEntrypoint class (otp-guard's bundle) gets an instance per request, as in
  // workerd; a plain object's fetch gets (request, env, ctx).
  const isClass = typeof entry === 'function';
  const cf = opts.cf === 'none' ? null : { country: opts.cf.split(':')[0], asn: Number(opts.cf.split(':')[1]), colo: 'LHR' };
  async function call(phone, ip, expected) {
    const ctx = env.executionContext();
    if (api) api.paused.value = true;
    const request = env.benchRequest(phone, ip, cf);
    if (api) api.paused.value = false;
    const response = isClass ? await new entry(ctx, bindings).fetch(request) : await entry.fetch(request, bindings, ctx);
    if (api) api.paused.value = true;
    const body = await response.text();
    if (api) api.paused.value = false;
    await Promise.all(ctx.pending);
    if (ctx.pending.error) throw ctx.pending.error;
    if (response.status !== expected) throw new Error(`${name} ${phone ?? 'GET /v1/health'}: expected ${expected}, got ${response.status} ${body}`);
    return response.status;
  }
  return { call, kv, upstream, logs, silence, restore, importMs, importCpuMs, loadTimes: env.loadTimes, api };
}

async function startProfiler() {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: Number(opts.interval) });
  await session.post('Profiler.start');
  return async (file, meta) => {
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    profile.meta = meta;
    writeFileSync(file, JSON.stringify(profile));
  };
}

async function warmPath(name, path) {
  const N = Number(opts.n);
  const WARM = Number(opts.warmup);
  const nums = await numbers(N + WARM);
  const w = await loadWorker(name);
  const expected = name === 'null' ? 202 : path === 'full' ? 202 : 400;
  const request = (i) => (path === 'full' ? [nums.valid[i], clientIp(i)] : [nums.invalid[i % nums.invalid.length], clientIp(i)]);
  w.silence();
  for (let i = 0; i < WARM; i++) await w.call(...request(N + i), expected);
  w.api?.counts.clear();
  const kvBefore = { ...w.kv.stats };
  const up0 = { ...w.upstream };
  const logs0 = { ...w.logs };
  const stop = opts.prof ? await startProfiler() : null;
  const c0 = cpuUs();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await w.call(...request(i), expected);
  const wallMs = performance.now() - t0;
  const cpu = cpuUs() - c0;
  if (stop) await stop(opts.prof, { worker: name, path, requests: N });
  w.restore();
  const per = (a, b, k) => (a[k] - b[k]) / N;
  return {
    worker: name, path, n: N, profiled: Boolean(opts.prof), cpuUsPerReq: cpu / N, wallUsPerReq: (wallMs * 1000) / N,
    kvPerReq: Object.fromEntries(Object.keys(kvBefore).map((k) => [k, per(w.kv.stats, kvBefore, k)])),
    upstreamPerReq: Object.fromEntries(Object.keys(up0).map((k) => [k, per(w.upstream, up0, k)])),
    consolePerReq: Object.fromEntries(Object.keys(logs0).map((k) => [k, per(w.logs, logs0, k)])),
    heapMiB: process.memoryUsage().heapUsed / 2 ** 20,
    ...(w.api && { runtimeApiPerReq: Object.fromEntries([...w.api.counts].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, v / N])) }),
  };
}

/** In this fresh process: the import, then GET /v1/health, an invalid number, a send; each timed and profiled apart. */
async function coldPath(name) {
  const nums = await numbers(Number(opts.n) + Number(opts.warmup));
  const prof = opts.prof ? opts.prof.replace(/\.cpuprofile$/, '') : null;
  await (await import('./env.mjs')).warmPlatform();
  let stop = prof ? await startProfiler() : null;
  const w = await loadWorker(name);
  if (stop) await stop(`${prof}.import.cpuprofile`, { worker: name, path: 'cold', phase: 'import' });
  const phases = {
    import: { ms: w.importMs, cpuMs: w.importCpuMs },
    wasmCompile: { ms: w.loadTimes.compileMs, cpuMs: w.loadTimes.compileCpuMs },
    wasmInstantiate: { ms: w.loadTimes.instantiateMs, cpuMs: w.loadTimes.instantiateCpuMs },
  };
  w.silence();
  const steps = [['health', null, clientIp(0), name === 'null' ? 202 : 200],
    ['reject', nums.invalid[0], clientIp(0), name === 'null' ? 202 : 400],
    ['send', nums.valid[0], clientIp(0), 202],
    ['second', nums.valid[1], clientIp(1), 202]];
  for (const [step, phone, ip, expected] of steps) {
    stop = prof ? await startProfiler() : null;
    const c0 = cpuUs();
    const t0 = performance.now();
    await w.call(phone, ip, expected);
    phases[step] = { ms: performance.now() - t0, cpuMs: (cpuUs() - c0) / 1000 };
    if (stop) await stop(`${prof}.${step}.cpuprofile`, { worker: name, path: 'cold', phase: step });
  }
  w.restore();
  return { worker: name, path: 'cold', wasmBytes: w.loadTimes.wasmBytes, phases };
}

// ---- --all: everything, each in a fresh process ------------------------------------------

function child(args) {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), ...args, '--json', '--out', opts.out, '--cf', opts.cf],
    { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`run.mjs ${args.join(' ')} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const f0 = (x) => x.toLocaleString('en-US', { maximumFractionDigits: 0 });
const f1 = (x) => x.toLocaleString('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 });

async function all() {
  ensureBundles();
  mkdirSync(opts.out, { recursive: true });
  await numbers(Number(opts.n) + Number(opts.warmup));
  const names = ['otp-guard', 'js-guard', 'null'];
  const warm = {};
  for (let round = 0; round < Number(opts.rounds); round++) {
    for (const path of ['full', 'reject']) {
      for (const name of names.map((_, i) => names[(i + round) % names.length])) {
        const r = child(['--worker', name, '--path', path, '--n', opts.n, '--warmup', opts.warmup]);
        (warm[`${name} ${path}`] ??= []).push(r);
        console.error(`[profile] round ${round + 1} ${name} ${path}: ${f0(r.cpuUsPerReq)} µs CPU/request`);
      }
    }
  }
  const cold = {};
  for (let round = 0; round < Number(opts['cold-rounds']); round++) {
    for (const name of names.map((_, i) => names[(i + round) % names.length])) (cold[name] ??= []).push(child(['--worker', name, '--path', 'cold']));
  }
  // The profiled runs (the profiler's own cost makes their per-request figures higher).
  const profiles = [];
  for (const name of ['otp-guard', 'js-guard']) {
    for (const path of ['full', 'reject']) {
      const file = join(opts.out, `${name}.${path}.cpuprofile`);
      child(['--worker', name, '--path', path, '--n', opts.n, '--warmup', opts.warmup, '--prof', file, '--interval', opts.interval]);
      profiles.push(file);
    }
    child(['--worker', name, '--path', 'cold', '--prof', join(opts.out, `${name}.cold.cpuprofile`), '--interval', opts.interval]);
  }

  const lines = [];
  lines.push(`Node ${process.version}, ${opts.rounds} rounds of ${opts.n} requests after ${opts.warmup} warm-up per worker and path, one request at a time; medians`, '');
  lines.push('| | otp-guard | JS guard | null |', '| --- | --- | --- | --- |');
  for (const path of ['full', 'reject']) {
    lines.push(`| ${path} path: CPU per request (µs) | ${names.map((n) => f0(median(warm[`${n} ${path}`].map((r) => r.cpuUsPerReq)))).join(' | ')} |`);
    lines.push(`| ${path} path: each round (µs) | ${names.map((n) => warm[`${n} ${path}`].map((r) => f0(r.cpuUsPerReq)).join(' / ')).join(' | ')} |`);
  }
  lines.push(`| full path: KV bulk reads / keys / puts per request | ${names.map((n) => { const k = warm[`${n} full`][0].kvPerReq; return `${f1(k.bulk_get)} / ${f1(k.bulk_keys)} / ${f1(k.put + k.delete)}`; }).join(' | ')} |`);
  lines.push(`| full path: console.log calls per request | ${names.map((n) => f1(warm[`${n} full`][0].consolePerReq.log)).join(' | ')} |`);
  const cm = (n, phase, k) => f1(median(cold[n].map((r) => r.phases[phase][k])));
  for (const [phase, label] of [['import', 'cold: import of the bundle (wasm compile + instantiate + top level)'],
    ['wasmCompile', 'cold: of which WebAssembly.Module compile'], ['wasmInstantiate', 'cold: of which WebAssembly.Instance'],
    ['health', 'cold: 1. GET /v1/health'], ['reject', 'cold: 2. then an invalid number'], ['send', 'cold: 3. then a send (202)'],
    ['second', 'cold: 4. then a second send']]) {
    lines.push(`| ${label}, wall / CPU (ms) | ${names.map((n) => `${cm(n, phase, 'ms')} / ${cm(n, phase, 'cpuMs')}`).join(' | ')} |`);
  }
  console.log(lines.join('\n'));
  writeFileSync(join(opts.out, 'results.json'), JSON.stringify({ warm, cold }, null, 2));
  const { summarize } = await import('./summarize.mjs');
  for (const file of profiles) console.log('\n' + summarize(file, { top: 40, inclusiveTop: 30 }));
  for (const name of ['otp-guard', 'js-guard']) {
    for (const phase of ['import', 'health', 'reject', 'send']) console.log('\n' + summarize(join(opts.out, `${name}.cold.${phase}.cpuprofile`), { top: 15 }));
  }
}

if (opts.all) {
  await all();
} else {
  if (!BUNDLES[opts.worker]) throw new Error(`--worker is one of ${Object.keys(BUNDLES).join(', ')}`);
  ensureBundles();
  const r = opts.path === 'cold' ? await coldPath(opts.worker) : await warmPath(opts.worker, opts.path);
  if (opts.json) console.log(JSON.stringify(r));
  else console.log(JSON.stringify(r, null, 2));
}
