// The workerd benchmark: otp-guard against its two yardsticks (benches/peers/), in plain
// `workerd serve`, and the replay throughput. One command:
//
//   node benches/workerd.mjs [--rounds 5] [--full 1000] [--reject 3000] [--warmup 1000]
//                            [--concurrency 8] [--replay-runs 1] [--json FILE]
//                            [--at REV]
//   npm run bench -- --rounds 3        (the same through package.json)
//
// What it does, in order:
//  1. Builds what it needs: otp-guard's bundle through `wrangler deploy --dry-run --outdir`
//     (which runs `.ci/build-worker` first), the two peers the same way (their own
//     generated wrangler.toml, `minify = true`), and the release CLI for replay and for
//     checking the benchmark's phone numbers (`cargo build --release --bin otp-guard`).
//  2. Starts benches/upstreams.mjs, a separate node process: an in-memory KV server that
//     workerd's `kvNamespace` binding talks to over HTTP, and the Twilio and Turnstile
//     stand-ins. Nothing but the worker runs inside the workerd process.
//  3. For each round, for each worker (the order rotates each round, so no worker always
//     goes first): a fresh KV store and fresh stand-ins; a fresh `workerd serve`; the time
//     from spawn to an open port; the first request, sent the moment the port is open (the
//     cold start: wall time and the CPU workerd spent on it, the isolate's load included);
//     the same again in a workerd left to load the isolate first (the global scope's CPU,
//     then the first request's: see `coldLoaded`); `--warmup` sends; then `--full` sends that pass every check
//     and reach the Twilio stand-in (202 each, distinct numbers and client IPs, volume
//     quotas raised equally for all workers); `--warmup` invalid numbers; then `--reject`
//     sends of invalid numbers (400, no I/O), each timed and with workerd's CPU read from
//     /proc/<pid>/stat (utime + stime) before and after. The figures are medians over the
//     rounds. Why 1,000 warm-up requests: V8 keeps compiling hot code with its optimising
//     tiers (TurboFan, for wasm and JS alike) on background threads for the first few
//     hundred requests, and workerd's CPU counts those threads. With 50, that one-off
//     compilation landed in the per-request figures (otp-guard's 1.2 MB module more than
//     the JS guard's); it belongs to the cold start, which is measured on its own.
//  4. Times `otp-guard replay` on tests/data/scenarios/normal-day.jsonl.
//  5. Prints the table (and writes the raw figures with --json).
//
// A benchmark, not a test: it asserts status codes (a reject path that answered 202 would
// measure the wrong thing) and never asserts a time.

import { spawn, execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { connect } from 'node:net';
import http from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BENCH_VARS, benchNumbers, wranglerVars } from './common.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = join(ROOT, 'target/bench');
const WRANGLER = join(ROOT, 'node_modules/wrangler/bin/wrangler.js');
const DUMMY_TOKEN = 'XXXX.DUMMY.TOKEN.XXXX';
// wrangler needs Node >= 22.12: the `node` npm package's binary when this runs on an older node.
const NODE22 = existsSync(join(ROOT, 'node_modules/.bin/node')) ? join(ROOT, 'node_modules/.bin/node') : process.execPath;

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    full: { type: 'string', default: '1000' },
    reject: { type: 'string', default: '3000' },
    warmup: { type: 'string', default: '1000' },
    batches: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '8' },
    'replay-runs': { type: 'string', default: '1' },
    at: { type: 'string' },
    json: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (opts.help) {
  console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(0, 8).join('\n'));
  process.exit(0);
}
const ROUNDS = +opts.rounds;
const FULL = +opts.full;
const REJECT = +opts.reject;
const WARMUP = +opts.warmup;
const BATCHES = Math.max(1, +opts.batches);
const CONCURRENCY = +opts.concurrency;

/**
 * The otp-guard tree measured: this one, or with `--at REV` a clean checkout of that
 * revision (a git worktree in target/bench/tree, its node_modules linked to this tree's),
 * so that the figures belong to a commit even while the working tree has edits in progress.
 * The peers, the upstreams and this harness always come from this tree.
 */
function guardTree() {
  if (!opts.at) return ROOT;
  const dir = join(OUT, 'tree');
  const rev = execFileSync('git', ['rev-parse', '--verify', `${opts.at}^{commit}`], { cwd: ROOT, encoding: 'utf8' }).trim();
  if (!existsSync(join(dir, '.git'))) {
    mkdirSync(OUT, { recursive: true });
    execFileSync('git', ['worktree', 'add', '--detach', dir, rev], { cwd: ROOT, stdio: 'ignore' });
  } else {
    execFileSync('git', ['checkout', '--detach', '--quiet', rev], { cwd: dir });
  }
  if (!existsSync(join(dir, 'node_modules'))) symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}
const GUARD = guardTree();
const CLI = join(GUARD, 'target/release/otp-guard');

/** The measured revision, and whether the guard's sources had uncommitted edits. */
function treeState() {
  const git = (...a) => execFileSync('git', a, { cwd: GUARD, encoding: 'utf8' }).trim();
  const dirty = git('status', '--porcelain', '--', 'src', 'Cargo.toml', 'Cargo.lock', 'build.rs', 'wrangler.toml') !== '';
  return `${git('rev-parse', '--short', 'HEAD')}${dirty ? ' with uncommitted changes to the guard\'s sources' : ''}`;
}

const log = (...a) => console.error('[bench]', ...a);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- 1. building ---------------------------------------------------------------------

function wranglerDryRun(outdir, configPath, cwd = ROOT) {
  rmSync(outdir, { recursive: true, force: true });
  const args = [WRANGLER, 'deploy', '--dry-run', '--outdir', outdir];
  if (configPath) args.push('--config', configPath);
  const out = execFileSync(NODE22, args, {
    cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1' },
  });
  const total = /Total Upload: ([\d.]+) KiB \/ gzip: ([\d.]+) KiB/.exec(out);
  // The modules workerd loads: everything wrangler wrote but its metadata and source maps.
  const modules = readdirSync(outdir).filter((f) => /\.(m?js|wasm)$/.test(f) && !f.endsWith('.map'));
  const bytes = modules.map((f) => readFileSync(join(outdir, f)));
  return {
    outdir,
    modules,
    raw: bytes.reduce((s, b) => s + b.length, 0),
    gzip: bytes.reduce((s, b) => s + gzipSync(b, { level: 9 }).length, 0),
    wranglerKiB: total ? { raw: +total[1], gzip: +total[2] } : null,
  };
}

function build() {
  mkdirSync(OUT, { recursive: true });
  const workers = {};
  log('building otp-guard (wrangler deploy --dry-run, which runs .ci/build-worker)');
  workers['otp-guard'] = wranglerDryRun(join(OUT, 'otp-guard'), null, GUARD);
  for (const [name, file] of [['js-guard', 'js-guard.mjs'], ['null', 'null-worker.mjs']]) {
    log(`building the ${name} peer (wrangler deploy --dry-run, minify)`);
    const dir = join(OUT, `peer-${name}`);
    mkdirSync(dir, { recursive: true });
    const config = join(dir, 'wrangler.toml');
    writeFileSync(config, [
      `name = "bench-${name}"`,
      `main = ${JSON.stringify(join(ROOT, 'benches/peers', file))}`,
      `compatibility_date = "${compatibilityDate()}"`,
      'minify = true',
      '[[kv_namespaces]]',
      'binding = "OTP_GUARD_KV"',
      'id = "00000000000000000000000000000000"',
      '',
    ].join('\n'));
    workers[name] = wranglerDryRun(join(dir, 'out'), config);
  }
  log('building the release CLI (cargo build --release --bin otp-guard)');
  execFileSync('cargo', ['build', '--release', '--quiet', '--bin', 'otp-guard'], { cwd: GUARD, stdio: 'inherit' });
  return workers;
}

const compatibilityDate = () => /^compatibility_date\s*=\s*"([^"]+)"/m.exec(readFileSync(join(GUARD, 'wrangler.toml'), 'utf8'))[1];

/** wrangler.toml's [vars] (every value there is a plain string). */

// ---- 2. the upstreams process ----------------------------------------------------------

async function startUpstreams() {
  const child = spawn(process.execPath, [join(ROOT, 'benches/upstreams.mjs')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise((res, rej) => {
    createInterface({ input: child.stdout }).once('line', res);
    child.once('exit', (code) => rej(new Error(`upstreams exited with ${code}`)));
  });
  const urls = JSON.parse(line);
  const { SECRETS } = await import('./upstreams.mjs');
  return {
    ...urls, child, SECRETS,
    async reset() { await fetch(`http://${urls.kv}/__bench/reset`); },
    async stats() { return (await fetch(`http://${urls.kv}/__bench/stats`)).json(); },
    stop() { child.stdin.end(); child.kill(); },
  };
}

// ---- the benchmark's numbers ------------------------------------------------------------


/** Client i's address: every /24 sees at most one request in 256, under the subnet quota. */
const clientIp = (i) => `198.18.${i % 256}.${Math.floor(i / 256) % 256}`;

// ---- 3. workerd --------------------------------------------------------------------------

function capnpConfig(worker, port, kvAddress, bindings) {
  const modules = worker.modules.map((f) => {
    const kind = f.endsWith('.wasm') ? 'wasm' : 'esModule';
    return `(name = ${JSON.stringify(f)}, ${kind} = embed ${JSON.stringify(f)})`;
  });
  // The entry module first: wrangler names it after `main` (index.js, or the peer's file).
  const main = worker.modules.findIndex((f) => /\.m?js$/.test(f) && !/^[0-9a-f]{40}-/.test(f));
  modules.unshift(modules.splice(main, 1)[0]);
  const text = (k, v) => `(name = ${JSON.stringify(k)}, text = ${JSON.stringify(v)})`;
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "kv", external = (address = ${JSON.stringify(kvAddress)}, http = ())),
    (name = "net", network = (allow = ["local", "private", "public"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);
const worker :Workerd.Worker = (
  modules = [${modules.join(', ')}],
  compatibilityDate = ${JSON.stringify(compatibilityDate())},
  globalOutbound = "net",
  bindings = [
    (name = "OTP_GUARD_KV", kvNamespace = "kv"),
    ${Object.entries(bindings).map(([k, v]) => text(k, v)).join(',\n    ')}
  ],
);
`;
}

function freePort() {
  return new Promise((res) => {
    const s = http.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
  });
}

function portOpen(port) {
  return new Promise((res) => {
    const sock = connect(port, '127.0.0.1');
    sock.once('connect', () => { sock.destroy(); res(true); });
    sock.once('error', () => res(false));
  });
}

/** CPU the process has used: clock ticks from /proc/<pid>/stat, ns from every thread's schedstat. */
function cpu(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime (fields 14 and 15)
  let ns = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try { ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]); } catch { /* thread gone */ }
  }
  return { ticks, ns };
}
const TICK_US = 1e6 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

async function startWorkerd(worker, kvAddress, bindings) {
  const port = await freePort();
  const config = join(worker.outdir, 'bench.capnp');
  writeFileSync(config, capnpConfig(worker, port, kvAddress, bindings));
  const started = performance.now();
  const child = spawn(join(ROOT, 'node_modules/workerd/bin/workerd'), ['serve', config], {
    cwd: worker.outdir, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let lines = 0;
  const keep = (c) => { lines += (String(c).match(/\n/g) ?? []).length; output = (output + c).slice(-8000); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  child.once('exit', (code, signal) => { exited = { code, signal }; });
  while (!(await portOpen(port))) {
    if (exited) throw new Error(`workerd exited (${JSON.stringify(exited)}):\n${output}`);
    if (performance.now() - started > 60_000) throw new Error(`workerd never listened:\n${output}`);
    await sleep(1);
  }
  return {
    port, pid: child.pid, startupMs: performance.now() - started,
    output: () => output, lines: () => lines,
    async stop() {
      if (exited) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([gone, sleep(3000)]);
      if (!exited) { child.kill('SIGKILL'); await gone; }
    },
  };
}

/** One POST /v1/verifications (or, without a phone, GET /v1/health) over a keep-alive connection. */
function send(agent, port, phone, ip) {
  const body = phone === null ? '' : JSON.stringify({ phone, channel: 'sms', turnstile_token: DUMMY_TOKEN });
  return new Promise((res, rej) => {
    const req = http.request({
      agent, host: '127.0.0.1', port, method: phone === null ? 'GET' : 'POST', path: phone === null ? '/v1/health' : '/v1/verifications',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cf-connecting-ip': ip },
    }, (response) => {
      const chunks = [];
      response.on('data', (c) => chunks.push(c));
      response.on('end', () => res({ status: response.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    req.once('error', rej);
    req.end(body);
  });
}

/** `requests` (phone, ip pairs) at `CONCURRENCY`; workerd's CPU and the wall time around them. */
async function load(server, requests, expected) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const statuses = {};
  let wrong = null;
  let next = 0;
  const before = cpu(server.pid);
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < requests.length) {
      const [phone, ip] = requests[next++];
      const r = await send(agent, server.port, phone, ip);
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      if (r.status !== expected && !wrong) wrong = `${phone}: ${r.status} ${r.body}`;
    }
  }));
  const wallMs = performance.now() - t0;
  const after = cpu(server.pid);
  agent.destroy();
  if (wrong) throw new Error(`expected ${expected} for every request, got ${JSON.stringify(statuses)}; first: ${wrong}\n${server.output().slice(-2000)}`);
  const n = requests.length;
  return {
    cpuUsPerReq: ((after.ticks - before.ticks) * TICK_US) / n,
    schedUsPerReq: (after.ns - before.ns) / 1000 / n,
    reqPerS: n / (wallMs / 1000),
    ns: after.ns - before.ns,
    wallMs,
  };
}

/** One timed request: wall time and the CPU workerd spent meanwhile (schedstat, ns precision). */
async function timed(server, agent, phone, ip, expected) {
  const c0 = cpu(server.pid);
  const t0 = performance.now();
  const r = await send(agent, server.port, phone, ip);
  const ms = performance.now() - t0;
  const c1 = cpu(server.pid);
  if (r.status !== expected) throw new Error(`${phone ?? 'health'}: expected ${expected}, got ${r.status} ${r.body}\n${server.output()}`);
  return { ms, cpuMs: (c1.ns - c0.ns) / 1e6 };
}

/**
 * Where a cold start goes: in a fresh workerd, GET /v1/health first (the runtime, the
 * instance and the config), then one invalid number (the phone parser's first use:
 * otp-guard initialises libphonenumber's metadata there), then one send (the rest of the
 * full path's first use).
 */
async function coldSplit(name, worker, upstreams, bindings, nums) {
  await upstreams.reset();
  const server = await startWorkerd(worker, upstreams.kv, bindings);
  try {
    const agent = new http.Agent({ keepAlive: true });
    const health = await timed(server, agent, null, clientIp(0), name === 'null' ? 202 : 200);
    const reject = await timed(server, agent, nums.invalid[0], clientIp(0), name === 'null' ? 202 : 400);
    const sendAfter = await timed(server, agent, nums.valid[0], clientIp(0), 202);
    agent.destroy();
    return { health, reject, send: sendAfter };
  } finally {
    await server.stop();
  }
}

/**
 * The cold start with the isolate loaded first. workerd listens before it has run the
 * worker's global scope (compiling the bundle, instantiating the wasm module, and
 * whatever the module's top level does); a request arriving meanwhile waits for it. On
 * Cloudflare the global scope runs when the isolate is loaded (often while the client's
 * TLS handshake is still in flight) and its CPU counts against the startup limit, not the
 * request's. So: a fresh workerd, no request until its CPU has been quiet for 50 ms (the
 * load done), that CPU, then the first request's wall time and CPU.
 */
async function coldLoaded(name, worker, upstreams, bindings, nums) {
  await upstreams.reset();
  const server = await startWorkerd(worker, upstreams.kv, bindings);
  try {
    const c0 = cpu(server.pid);
    let last = c0;
    for (let quiet = 0; quiet < 1;) {
      await sleep(50);
      const c = cpu(server.pid);
      quiet = c.ns - last.ns < 0.3e6 ? quiet + 1 : 0;
      last = c;
    }
    const agent = new http.Agent({ keepAlive: true });
    const first = await timed(server, agent, nums.valid[0], clientIp(0), 202);
    agent.destroy();
    return { loadCpuMs: (last.ns - c0.ns) / 1e6, first };
  } finally {
    await server.stop();
  }
}

async function measureWorker(name, worker, upstreams, bindings, nums) {
  const split = await coldSplit(name, worker, upstreams, bindings, nums);
  const loaded = await coldLoaded(name, worker, upstreams, bindings, nums);
  await upstreams.reset();
  const server = await startWorkerd(worker, upstreams.kv, bindings);
  try {
    const agent = new http.Agent({ keepAlive: true });
    const c0 = cpu(server.pid);
    const t0 = performance.now();
    const first = await send(agent, server.port, nums.valid[0], clientIp(0));
    const firstMs = performance.now() - t0;
    const c1 = cpu(server.pid);
    if (first.status !== 202) throw new Error(`${name}: first request answered ${first.status} ${first.body}\n${server.output()}`);
    const t1 = performance.now();
    const second = await send(agent, server.port, nums.valid[1], clientIp(1));
    const secondMs = performance.now() - t1;
    if (second.status !== 202) throw new Error(`${name}: second request answered ${second.status} ${second.body}`);
    agent.destroy();
    return { startupMs: server.startupMs, firstMs, firstCpuMs: (c1.ns - c0.ns) / 1e6, secondMs, split, loaded };
  } finally {
    await server.stop();
  }
}

/**
 * Warm CPU per request, paired: the three workers run at once, each in its own workerd
 * with its own upstreams process, and take turns in batches (the order rotating), so a
 * slow stretch of this shared machine lands on all three alike instead of on whichever
 * worker it happened to hit. Each worker first takes `--warmup` sends and `--warmup`
 * invalid numbers; then `--full` sends and `--reject` invalid numbers, in `--batches`
 * turns each; CPU is workerd's (schedstat) summed over that worker's batches.
 */
async function steadyState(names, workers, vars, nums) {
  const side = {};
  try {
    for (const name of names) {
      const upstreams = await startUpstreams();
      const bindings = { ...vars, TWILIO_BASE_URL: upstreams.twilio, TURNSTILE_BASE_URL: upstreams.turnstile, ...upstreams.SECRETS };
      side[name] = { upstreams, server: await startWorkerd(workers[name], upstreams.kv, bindings) };
    }
    const expect = (name, ok) => (name === 'null' ? 202 : ok);
    const full = (from, n) => Array.from({ length: n }, (_, i) => [nums.valid[2 + from + i], clientIp(from + i)]);
    const rejects = (n) => Array.from({ length: n }, (_, i) => [nums.invalid[i % nums.invalid.length], clientIp(i)]);
    for (const name of names) {
      await load(side[name].server, full(0, WARMUP), 202);
      await load(side[name].server, rejects(WARMUP), expect(name, 400));
    }
    const totals = Object.fromEntries(names.map((n) => [n, {
      full: { ns: 0, ms: 0, n: 0 }, reject: { ns: 0, ms: 0, n: 0 }, kv: null, kvReject: 0,
    }]));
    const fullBatch = Math.ceil(FULL / BATCHES);
    const rejectBatch = Math.ceil(REJECT / BATCHES);
    for (let b = 0; b < BATCHES; b++) {
      const order = names.map((_, i) => names[(i + b) % names.length]);
      for (const name of order) {
        const { server, upstreams } = side[name];
        const t = totals[name];
        const from = WARMUP + b * fullBatch;
        const batch = full(from, Math.min(fullBatch, FULL - b * fullBatch));
        if (batch.length === 0) continue;
        const kv0 = await upstreams.stats();
        const f = await load(server, batch, 202);
        const kv1 = await upstreams.stats();
        const r = await load(server, rejects(rejectBatch), expect(name, 400));
        const kv2 = await upstreams.stats();
        t.full.ns += f.ns; t.full.ms += f.wallMs; t.full.n += batch.length;
        t.reject.ns += r.ns; t.reject.ms += r.wallMs; t.reject.n += rejectBatch;
        const ops = ['bulk_get', 'bulk_keys', 'get', 'put', 'delete', 'list'];
        t.kv ??= Object.fromEntries(ops.map((k) => [k, 0]));
        for (const k of ops) t.kv[k] += kv1[k] - kv0[k];
        t.kvReject += ops.filter((k) => k !== 'bulk_keys').reduce((n, k) => n + kv2[k] - kv1[k], 0);
      }
    }
    return Object.fromEntries(names.map((n) => {
      const t = totals[n];
      const per = (k) => t.kv[k] / t.full.n;
      return [n, {
        full: { cpuUsPerReq: t.full.ns / 1000 / t.full.n, reqPerS: t.full.n / (t.full.ms / 1000), n: t.full.n },
        reject: { cpuUsPerReq: t.reject.ns / 1000 / t.reject.n, reqPerS: t.reject.n / (t.reject.ms / 1000), n: t.reject.n,
          kvOpsPerReq: t.kvReject / t.reject.n },
        kvPerSend: { bulk_get: per('bulk_get'), bulk_keys: per('bulk_keys'), get: per('get'), put: per('put'), delete: per('delete') },
        logLines: side[n].server.lines(),
      }];
    }));
  } finally {
    for (const { server, upstreams } of Object.values(side)) {
      await server?.stop();
      upstreams.stop();
    }
  }
}

// ---- 4. replay ---------------------------------------------------------------------------

function replay() {
  const args = ['replay', '--json', '--config', 'tests/data/scenarios/policy.toml', 'tests/data/scenarios/normal-day.jsonl'];
  const t0 = performance.now();
  const out = execFileSync(CLI, args, { cwd: GUARD, encoding: 'utf8', maxBuffer: 1 << 28 });
  const seconds = (performance.now() - t0) / 1000;
  const events = JSON.parse(out).events;
  return { events, seconds, eventsPerS: events / seconds };
}

// ---- 5. the table ------------------------------------------------------------------------

const fmt = (x, digits = 0) => (Number.isFinite(x) ? x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a');

function table(names, results, steady, workers, replays) {
  const med = (name, f) => median(results[name].map(f));
  const rows = [];
  const row = (label, f, digits = 0, unit = '') => rows.push([label, ...names.map((n) => fmt(med(n, f), digits) + unit)]);
  const extra = (label, f, digits = 1, unit = '') => rows.push([label, ...names.map((n) => fmt(med(n, f) - med('null', f), digits) + unit)]);
  row('cold start: first request, median (ms)', (r) => r.firstMs, 1);
  rows.push(['cold start: first request, each round (ms)', ...names.map((n) => results[n].map((r) => fmt(r.firstMs, 1)).join(' / '))]);
  extra('cold start: first request, extra over null (ms)', (r) => r.firstMs, 1);
  row('cold start: workerd CPU on the first request (ms)', (r) => r.firstCpuMs, 1);
  row('startup: spawn to listening (ms)', (r) => r.startupMs, 0);
  row('isolate loaded first: the global scope, CPU after listening (ms)', (r) => r.loaded.loadCpuMs, 1);
  row('isolate loaded first: first request, median (ms)', (r) => r.loaded.first.ms, 1);
  extra('isolate loaded first: first request, extra over null (ms)', (r) => r.loaded.first.ms, 1);
  row('isolate loaded first: workerd CPU on the first request (ms)', (r) => r.loaded.first.cpuMs, 1);
  row('cold split, fresh workerd: 1. GET /v1/health first, wall / CPU (ms)', (r) => r.split.health.ms, 1);
  rows[rows.length - 1] = [rows.at(-1)[0], ...names.map((n) => `${fmt(med(n, (r) => r.split.health.ms), 1)} / ${fmt(med(n, (r) => r.split.health.cpuMs), 1)}`)];
  rows.push(['cold split: 2. then an invalid number, wall / CPU (ms)', ...names.map((n) => `${fmt(med(n, (r) => r.split.reject.ms), 1)} / ${fmt(med(n, (r) => r.split.reject.cpuMs), 1)}`)]);
  rows.push(['cold split: 3. then a send (202), wall / CPU (ms)', ...names.map((n) => `${fmt(med(n, (r) => r.split.send.ms), 1)} / ${fmt(med(n, (r) => r.split.send.cpuMs), 1)}`)]);
  row('second request (ms)', (r) => r.secondMs, 2);
  const warm = (label, f, digits = 0) => rows.push([label, ...names.map((n) => fmt(f(steady[n]), digits))]);
  warm('full path (202): CPU per request (µs)', (r) => r.full.cpuUsPerReq);
  warm('full path (202): requests/s', (r) => r.full.reqPerS);
  warm('reject path (400, invalid number): CPU per request (µs)', (r) => r.reject.cpuUsPerReq);
  warm('reject path (400, invalid number): requests/s', (r) => r.reject.reqPerS);
  rows.push(['full path: KV bulk reads / keys read / writes per send',
    ...names.map((n) => { const k = steady[n].kvPerSend; return `${fmt(k.bulk_get, 1)} / ${fmt(k.bulk_keys, 1)} / ${fmt(k.put + k.delete, 1)}`; })]);
  warm('reject path: KV operations per request', (r) => r.reject.kvOpsPerReq, 1);
  rows.push(['upload raw (KiB)', ...names.map((n) => fmt(workers[n].raw / 1024, 1))]);
  rows.push(['upload gzip -9 (KiB)', ...names.map((n) => fmt(workers[n].gzip / 1024, 1))]);
  rows.push(['wrangler "Total Upload" raw / gzip (KiB)', ...names.map((n) => (workers[n].wranglerKiB ? `${workers[n].wranglerKiB.raw} / ${workers[n].wranglerKiB.gzip}` : 'n/a'))]);
  const header = ['', ...names];
  const lines = [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)];
  if (replays.length) {
    const r = replays.map((x) => x.eventsPerS);
    lines.push('', `replay (target/release/otp-guard replay, normal-day.jsonl, ${fmt(replays[0].events)} events): ` +
      `${fmt(median(r))} events/s (median of ${r.length}; ${replays.map((x) => fmt(x.seconds, 2) + ' s').join(', ')})`);
  }
  return lines.join('\n');
}

// ---- main --------------------------------------------------------------------------------

async function main() {
  const workers = build();
  const nums = benchNumbers(2 + WARMUP + FULL, CLI);
  log(`${nums.valid.length} valid and ${nums.invalid.length} invalid numbers, both parsers agreeing`);
  const upstreams = await startUpstreams();
  const vars = { ...wranglerVars(join(GUARD, 'wrangler.toml')), ...BENCH_VARS };
  const bindings = { ...vars, TWILIO_BASE_URL: upstreams.twilio, TURNSTILE_BASE_URL: upstreams.turnstile, ...upstreams.SECRETS };
  const names = ['otp-guard', 'js-guard', 'null'];
  const results = Object.fromEntries(names.map((n) => [n, []]));
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const order = names.map((_, i) => names[(i + round) % names.length]);
      for (const name of order) {
        const r = await measureWorker(name, workers[name], upstreams, bindings, nums);
        results[name].push(r);
        log(`round ${round + 1}/${ROUNDS} ${name}: first ${fmt(r.firstMs, 1)} ms (${fmt(r.firstCpuMs, 1)} ms CPU), ` +
          `isolate loaded first ${fmt(r.loaded.first.ms, 1)} ms (${fmt(r.loaded.first.cpuMs, 1)} ms CPU), ` +
          `health first ${fmt(r.split.health.cpuMs, 1)} ms CPU, then a send ${fmt(r.split.send.cpuMs, 1)} ms CPU`);
      }
    }
  } finally {
    upstreams.stop();
  }
  log(`warm: the three workers at once, ${WARMUP} warm-up sends and invalid numbers each, then ${FULL} sends and ${REJECT} invalid numbers each in ${BATCHES} alternating batches`);
  const steady = await steadyState(names, workers, vars, nums);
  for (const name of names) {
    log(`warm ${name}: full ${fmt(steady[name].full.cpuUsPerReq)} µs/req ${fmt(steady[name].full.reqPerS)} req/s, ` +
      `reject ${fmt(steady[name].reject.cpuUsPerReq)} µs/req ${fmt(steady[name].reject.reqPerS)} req/s`);
  }
  const replays = [];
  for (let i = 0; i < +opts['replay-runs']; i++) {
    log('timing otp-guard replay on normal-day.jsonl');
    replays.push(replay());
  }
  console.log(`\nworkerd ${execFileSync(join(ROOT, 'node_modules/workerd/bin/workerd'), ['--version'], { encoding: 'utf8' }).trim()}, ` +
    `otp-guard at ${treeState()}; cold start: medians of ${ROUNDS} rounds; warm: ${FULL} full-path and ${REJECT} reject-path requests per worker after ${WARMUP} of each, ` +
    `in ${BATCHES} alternating batches, concurrency ${CONCURRENCY}\n`);
  console.log(table(names, results, steady, workers, replays));
  if (opts.json) writeFileSync(opts.json, JSON.stringify({ opts, workers, results, steady, replays }, null, 2));
}

await main();
