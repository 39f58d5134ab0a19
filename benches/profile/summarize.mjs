// Summarises a V8 CPU profile written by benches/profile/run.mjs (--prof): the top
// functions by self time and the time by category, per request when the profile says how
// many requests it covers.
//
//   node benches/profile/summarize.mjs FILE.cpuprofile [--top 40] [--inclusive 25]
//   node benches/profile/summarize.mjs A.cpuprofile B.cpuprofile --grep REGEX [--grep REGEX...]
//        (time of the samples with a function matching REGEX on their stack, per profile)
//
// Categories (of the function a sample landed in):
//   wasm <crate>        otp-guard's wasm, by the crate of the function (the bundle keeps
//                       the name section, so V8 reports Rust symbols, demangled; the
//                       `::h<hash>` suffix is dropped here)
//   wasm boundary       V8's js-to-wasm / wasm-to-js wrappers and wasm-bindgen's
//                       "externref shim" adapters
//   JS glue / worker JS the bundle's JavaScript (otp-guard: wasm-bindgen's glue; the JS
//                       guard: its own code and libphonenumber-js, told apart through the
//                       bundle's source map)
//   node: undici, node: webstreams, node: url, node: other
//                       Node's JavaScript for what workerd implements in C++ (Request,
//                       Response, Headers, streams, URL, TextEncoder...)
//   native              C++ functions V8 names (URL parse, UTF-8 encode/decode, ...)
//   (garbage collector), (program)
//                       GC, and time V8 could not attribute to any JS or wasm function
//                       (its runtime, compilers on this thread, the embedder)
// V8 builtins (JSON.parse, String.prototype.split, Map.get...) have no frame of their own:
// their time is the calling function's self time.
//
// Each sample also gets an owner: the nearest frame on its stack that is the worker's
// (bundle or wasm) or the harness's (run.mjs, env.mjs: building requests, the KV and
// fetch stand-ins, reading responses); samples with neither (GC, (program), Node's
// microtask and stream machinery running on its own) are "unowned".

import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const sourceMaps = new Map();
function sourceMapFor(url) {
  if (!sourceMaps.has(url)) {
    let map = null;
    try { map = new SourceMap(JSON.parse(readFileSync(fileURLToPath(url) + '.map', 'utf8'))); } catch { /* none */ }
    sourceMaps.set(url, map);
  }
  return sourceMaps.get(url);
}

const isBundle = (url) => /\/target\/bench\/.*\.js$/.test(url);
const isHarness = (url) => /\/benches\/profile\/[^/]+\.mjs$/.test(url) || url.startsWith('otp-guard-profile:');

const bundleLines = new Map();
const linesOf = (url) => {
  if (!bundleLines.has(url)) bundleLines.set(url, readFileSync(fileURLToPath(url), 'utf8').split('\n'));
  return bundleLines.get(url);
};

// What wasm-bindgen's (minified) glue helpers do, recognised by their bodies.
const GLUE_HELPERS = [
  [/^\(\.\.\.\w+\) =>[^]*cnt\+\+/, 'makeMutClosure\'s wrapper: a JS call into a Rust closure'],
  [/ve\(k\(\)\.subarray|\.decode\(\w+\(\)\.subarray/, 'getStringFromWasm: wasm → JS string (TextDecoder.decode)'],
  [/\.encodeInto\(|\.encode\(\w+\), \w+ = \w+\(\w+\.length, 1\)/, 'passStringToWasm: JS string → wasm (malloc + TextEncoder)'],
  [/_wbg_cb_unref/, 'makeMutClosure: a Rust closure as a JS function (+ FinalizationRegistry.register)'],
  [/__externref_table_alloc\(\);\s*return i\.__wbindgen_externrefs\.set/, 'addToExternrefTable'],
  [/__externref_table_dealloc/, 'takeFromExternrefTable'],
  [/__externref_drop_slice/, 'getArrayJsValueFromWasm'],
  [/wasm_bindgen__convert__closures_____invoke/, 'closure invoke (JS → wasm)'],
  [/^\(\)\s*\{\s*p\.criticalError &&/, 'worker-build shim: reinitialise-after-abort check (every call)'],
  [/^\(r2, e, t\)\s*\{\s*try\s*\{\s*J\(\);/, 'worker-build shim: Proxy construct trap (per request)'],
  [/^\(_, a, b\)\s*\{\s*_\.instanceId/, 'worker-build shim: Proxy get trap (wraps each method in a new Proxy)'],
  [/^\(w, I, R\)\s*\{\s*J\(\);/, 'worker-build shim: Proxy apply trap'],
  [/^\s*static\s*\{\s*__name\(this, "L"\)/, 'worker-build shim: the WorkerEntrypoint subclass (constructed per request)'],
  [/__instance_terminated/, 'checkTerminated (before every call into wasm)'],
  [/r2 instanceof WebAssembly\.Exception/, 'handleError'],
  [/new DataView\(i\.memory\.buffer\)/, 'getDataViewMemory'],
  [/new Uint8Array\(i\.memory\.buffer\)/, 'getUint8ArrayMemory'],
  [/new Int32Array\(i\.memory\.buffer\)/, 'getInt32ArrayMemory'],
  [/case "symbol":/, 'debugString'],
];

/** Names a function of otp-guard's bundle (wrangler's index.js, esbuild-minified glue) from its text. */
function glueName(frame) {
  const lines = linesOf(frame.url);
  const line = lines[frame.lineNumber] ?? '';
  const before = line.slice(0, frame.columnNumber);
  const body = lines.slice(frame.lineNumber, frame.lineNumber + 12).join('\n').slice(frame.columnNumber, frame.columnNumber + 700);
  const imported = /(\w+): \/\* @__PURE__ \*\/ __name\((function)?$/.exec(before)?.[1];
  if (imported) {
    const first = body.replace(/^\([^)]*\)\s*\{\s*/, '').split('\n')[0].trim();
    return `import ${imported.replace(/_([0-9a-f]{4})[0-9a-f]{12}$/, '_$1')} { ${first.slice(0, 70)}`;
  }
  const helper = GLUE_HELPERS.find(([re]) => re.test(body))?.[1];
  const exported = /i\.(\w+)\(/.exec(body)?.[1];
  const fn = frame.functionName || '(anonymous)';
  if (helper) return `${fn}: ${helper}`;
  if (exported) return `${fn}: calls export ${exported.replace(/_[0-9a-f]{16}$/, '')}`;
  return `${fn} index.js:${frame.lineNumber + 1}`;
}

/** The crate a demangled Rust symbol belongs to (`<T as Trait>` by T's crate, else the trait's). */
function crateOf(name) {
  let s = name.replace(/^<+/, '').replace(/^&(mut )?/, '').replace(/^(dyn |impl )/, '');
  const direct = /^([A-Za-z_][A-Za-z0-9_]*)::/.exec(s);
  if (direct) return direct[1];
  const trait = / as ([A-Za-z_][A-Za-z0-9_]*)::/.exec(s);
  if (trait) return trait[1];
  if (/^\$?func\d+/.test(s) || /^__/.test(s)) return '(runtime)';
  return s.split(/[^A-Za-z0-9_]/)[0] || '(other)';
}

/** A readable name and a category for a profile node's call frame. */
function describe(frame) {
  const { functionName: fn, url } = frame;
  if (url.startsWith('wasm://')) {
    const name = fn.replace(/::h[0-9a-f]{16}/g, '').replace(/\[[0-9a-f]{16}\]/g, '');
    if (/^(js-to-wasm|wasm-to-js)/.test(name) || / shim$/.test(name)) {
      return { name, category: 'wasm boundary' };
    }
    return { name, category: `wasm ${crateOf(name)}` };
  }
  if (isBundle(url)) {
    const file = url.split('/').pop();
    if (file === 'index.js') return { name: glueName(frame), category: 'JS glue (wasm-bindgen)' };
    const map = sourceMapFor(url);
    const entry = map?.findEntry(frame.lineNumber, frame.columnNumber);
    const source = entry?.originalSource ?? '';
    const where = source ? `${source.replace(/^.*node_modules\//, '').replace(/^.*\/benches\//, 'benches/')}:${entry.originalLine + 1}` : `${file}:${frame.lineNumber + 1}`;
    const category = /libphonenumber-js/.test(source) ? 'worker JS: libphonenumber-js' : 'worker JS';
    return { name: `${fn || '(anonymous)'} ${where}`, category };
  }
  if (isHarness(url)) return { name: `${fn || '(anonymous)'} ${url.split('/').pop()}:${frame.lineNumber + 1}`, category: 'harness' };
  if (url.startsWith('node:internal/deps/undici')) return { name: `${fn || '(anonymous)'} undici:${frame.lineNumber + 1}`, category: 'node: undici' };
  if (url.startsWith('node:internal/webstreams')) return { name: `${fn || '(anonymous)'} ${url.slice(5)}:${frame.lineNumber + 1}`, category: 'node: webstreams' };
  if (url === 'node:internal/url') return { name: `${fn || '(anonymous)'} url:${frame.lineNumber + 1}`, category: 'node: url' };
  if (url.startsWith('node:')) return { name: `${fn || '(anonymous)'} ${url.slice(5)}:${frame.lineNumber + 1}`, category: 'node: other' };
  if (['(garbage collector)', '(program)', '(idle)', '(root)'].includes(fn)) return { name: fn, category: fn };
  if (/^(js-to-wasm|wasm-to-js)/.test(fn)) return { name: fn, category: 'wasm boundary' };
  if (url === '') return { name: `${fn || '(anonymous)'} [native]`, category: 'native' };
  return { name: `${fn || '(anonymous)'} ${url}`, category: 'other' };
}

function ownerOf(frame) {
  if (frame.url.startsWith('wasm://') || isBundle(frame.url)) return 'worker';
  if (isHarness(frame.url)) return 'harness';
  return null;
}

export function analyse(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Each sample's duration: the gap to the next sample (the last gets the median gap).
  const deltas = profile.timeDeltas;
  const gaps = deltas.slice(1).sort((a, b) => a - b);
  const medianGap = gaps.length ? gaps[gaps.length >> 1] : 0;
  const self = new Map();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (i + 1 < deltas.length ? deltas[i + 1] : medianGap)));
  const owner = new Map();
  const ownerOfNode = (id) => {
    if (owner.has(id)) return owner.get(id);
    const n = byId.get(id);
    const o = ownerOf(n.callFrame) ?? (parent.has(id) ? ownerOfNode(parent.get(id)) : 'unowned');
    owner.set(id, o);
    return o;
  };
  const desc = new Map(profile.nodes.map((n) => [n.id, describe(n.callFrame)]));
  let total = 0;
  const functions = new Map(); // name → { us, category, owners }
  const categories = new Map(); // `${owner}\t${category}` → us
  const inclusive = new Map(); // name → us (each sample counted once per name)
  for (const [id, us] of self) {
    total += us;
    const d = desc.get(id);
    const o = ownerOfNode(id);
    const f = functions.get(d.name) ?? { us: 0, category: d.category, owners: {} };
    f.us += us;
    f.owners[o] = (f.owners[o] ?? 0) + us;
    functions.set(d.name, f);
    categories.set(`${o}\t${d.category}`, (categories.get(`${o}\t${d.category}`) ?? 0) + us);
    const seen = new Set();
    for (let x = id; x !== undefined; x = parent.get(x)) {
      const name = desc.get(x).name;
      if (!seen.has(name)) { seen.add(name); inclusive.set(name, (inclusive.get(name) ?? 0) + us); }
    }
  }
  /** Time of the samples with a frame whose name matches `re` on their stack (each sample once). */
  const under = (re) => {
    let us = 0;
    for (const [id, t] of self) {
      for (let x = id; x !== undefined; x = parent.get(x)) if (re.test(desc.get(x).name)) { us += t; break; }
    }
    return us;
  };
  return { total, functions, categories, inclusive, desc, under };
}

/** Inclusive time (per request when known) under each pattern, for each profile. */
export function grep(files, patterns) {
  const rows = [];
  const loaded = files.map((f) => { const p = JSON.parse(readFileSync(f, 'utf8')); return { f, per: p.meta?.requests ?? 1, a: analyse(p) }; });
  rows.push(['pattern', ...loaded.map(({ f }) => f.split('/').pop())].join('\t'));
  rows.push(['(total sampled)', ...loaded.map(({ a, per }) => (a.total / per).toFixed(1))].join('\t'));
  for (const p of patterns) rows.push([p, ...loaded.map(({ a, per }) => (a.under(new RegExp(p)) / per).toFixed(1))].join('\t'));
  return rows.join('\n');
}

const pad = (s, n) => String(s).padStart(n);
const cut = (s, n) => (s.length > n ? s.slice(0, n - 1) + '…' : s);

export function summarize(file, { top = 40, inclusiveTop = 0 } = {}) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const meta = profile.meta ?? {};
  const per = meta.requests ?? 1;
  const unit = meta.requests ? 'µs/req' : 'µs';
  const { total, functions, categories, inclusive } = analyse(profile);
  const fmt = (us) => (us / per).toFixed(1);
  const pct = (us) => ((100 * us) / total).toFixed(1) + '%';
  const out = [];
  out.push(`== ${file.split('/').pop()}: ${meta.worker ?? ''} ${meta.path ?? ''}${meta.phase ? ' ' + meta.phase : ''}, ` +
    `${meta.requests ? meta.requests + ' requests, ' : ''}${(total / 1000).toFixed(1)} ms sampled${meta.requests ? ` (${fmt(total)} µs/req)` : ''}, ` +
    `${profile.samples.length} samples`);
  out.push('', `-- by owner and category (self time; ${unit})`);
  const owners = {};
  for (const [key, us] of categories) { const [o] = key.split('\t'); owners[o] = (owners[o] ?? 0) + us; }
  for (const [o, ous] of Object.entries(owners).sort((a, b) => b[1] - a[1])) {
    out.push(`${pad(fmt(ous), 9)} ${pad(pct(ous), 6)}  ${o}`);
    const rows = [...categories].filter(([k]) => k.startsWith(o + '\t')).sort((a, b) => b[1] - a[1]);
    for (const [k, us] of rows) if (us / total >= 0.002) out.push(`${pad(fmt(us), 17)} ${pad(pct(us), 6)}  ${k.split('\t')[1]}`);
  }
  // The worker's wasm in one line, and the categories summed across owners.
  const byCategory = {};
  for (const [k, us] of categories) { const c = k.split('\t')[1]; byCategory[c] = (byCategory[c] ?? 0) + us; }
  const wasm = Object.entries(byCategory).filter(([c]) => c.startsWith('wasm ') && c !== 'wasm boundary').reduce((s, [, us]) => s + us, 0);
  out.push('', `-- summed across owners (${unit}): all wasm code ${fmt(wasm)} (${pct(wasm)})` +
    Object.entries(byCategory).filter(([c]) => !c.startsWith('wasm ') || c === 'wasm boundary').sort((a, b) => b[1] - a[1])
      .map(([c, us]) => `; ${c} ${fmt(us)} (${pct(us)})`).join(''));
  out.push('', `-- top ${top} functions by self time (${unit}, % of sampled, category, owner)`);
  const list = [...functions].sort((a, b) => b[1].us - a[1].us).slice(0, top);
  for (const [name, f] of list) {
    const o = Object.entries(f.owners).sort((a, b) => b[1] - a[1]).map(([k]) => k).join('+');
    out.push(`${pad(fmt(f.us), 9)} ${pad(pct(f.us), 6)}  ${cut(f.category, 28).padEnd(28)} ${o.padEnd(8)} ${cut(name, 150)}`);
  }
  if (inclusiveTop > 0) {
    out.push('', `-- top ${inclusiveTop} wasm and glue functions by inclusive time (${unit})`);
    const inc = [...inclusive].filter(([n]) => !/^\((root|program|garbage)/.test(n)).sort((a, b) => b[1] - a[1]);
    for (const [name, us] of inc.filter(([n]) => !/^(js-to-wasm|wasm-to-js)/.test(n)).slice(0, inclusiveTop)) out.push(`${pad(fmt(us), 9)} ${pad(pct(us), 6)}  ${cut(name, 160)}`);
  }
  return out.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: {
    top: { type: 'string', default: '40' }, inclusive: { type: 'string', default: '0' }, grep: { type: 'string', multiple: true },
  } });
  if (values.grep) {
    console.log(grep(positionals, values.grep));
    process.exit(0);
  }
  for (const file of positionals) console.log(summarize(file, { top: Number(values.top), inclusiveTop: Number(values.inclusive) }) + '\n');
}
