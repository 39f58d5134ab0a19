// The workerd surroundings the profiling harness (benches/profile/run.mjs) gives a worker
// bundle inside Node: the `cloudflare:workers` base classes, `.wasm` imports as compiled
// WebAssembly.Module objects, an in-memory Workers KV namespace, a `fetch` that answers
// Turnstile siteverify and Twilio Verify with no network, `env`, `ctx`, and requests shaped
// like the ones benches/workerd.mjs sends (with a `cf` object attached as the edge does).
//
// Nothing here is a stand-in for the product: it exists so that V8's CPU profiler can see
// where a request's CPU goes, which workerd's inspector could not be used for.

import module from 'node:module';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BENCH_VARS, wranglerVars } from '../common.mjs';
import { SECRETS } from '../upstreams.mjs';

// ---- timing of the wasm compile and instantiate (read by run.mjs) ------------------------

export const loadTimes = { compileMs: 0, compileCpuMs: 0, instantiateMs: 0, instantiateCpuMs: 0, wasmBytes: 0 };
const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };

/** Called by the generated module that stands for `import x from "./foo.wasm"`. */
globalThis.__profileWasmModule = (url) => {
  const bytes = readFileSync(fileURLToPath(url));
  loadTimes.wasmBytes += bytes.length;
  const c0 = cpuMs();
  const t0 = performance.now();
  const compiled = new WebAssembly.Module(bytes);
  loadTimes.compileMs += performance.now() - t0;
  loadTimes.compileCpuMs += cpuMs() - c0;
  return compiled;
};

// `new WebAssembly.Instance(...)` (wasm-bindgen's glue instantiates at module top level), timed.
const RealInstance = WebAssembly.Instance;
WebAssembly.Instance = new Proxy(RealInstance, {
  construct(target, args, newTarget) {
    const c0 = cpuMs();
    const t0 = performance.now();
    const instance = Reflect.construct(target, args, newTarget === WebAssembly.Instance ? target : newTarget);
    loadTimes.instantiateMs += performance.now() - t0;
    loadTimes.instantiateCpuMs += cpuMs() - c0;
    return instance;
  },
});

// ---- module hooks: `cloudflare:workers` and `.wasm` --------------------------------------

const SHIM_URL = 'otp-guard-profile:cloudflare-workers';
const SHIM_SOURCE = `
export class WorkerEntrypoint { constructor(ctx, env) { this.ctx = ctx; this.env = env; } }
export class DurableObject { constructor(ctx, env) { this.ctx = ctx; this.env = env; } }
export class WorkflowEntrypoint { constructor(ctx, env) { this.ctx = ctx; this.env = env; } }
export class RpcTarget {}
export const env = {};
`;

let hooked = false;
/** In-thread module hooks (Node >= 22.15): must run before the bundle is imported. */
export function installHooks() {
  if (hooked) return;
  hooked = true;
  module.registerHooks({
    resolve(specifier, context, nextResolve) {
      if (specifier === 'cloudflare:workers') return { url: SHIM_URL, shortCircuit: true };
      return nextResolve(specifier, context);
    },
    load(url, context, nextLoad) {
      if (url === SHIM_URL) return { format: 'module', source: SHIM_SOURCE, shortCircuit: true };
      if (url.endsWith('.wasm')) {
        return { format: 'module', source: `export default globalThis.__profileWasmModule(${JSON.stringify(url)});`, shortCircuit: true };
      }
      return nextLoad(url, context);
    },
  });
  // workerd's global scope has addEventListener (the glue registers an "error" listener).
  globalThis.addEventListener ??= () => {};
}

// ---- Workers KV, in memory ---------------------------------------------------------------

export function kvNamespace() {
  const store = new Map(); // key → { value: string, expiration?: seconds }
  const stats = { get: 0, bulk_get: 0, bulk_keys: 0, put: 0, delete: 0, list: 0 };
  const now = () => Math.floor(Date.now() / 1000);
  const live = (key) => {
    const e = store.get(key);
    if (e && e.expiration !== undefined && e.expiration <= now()) { store.delete(key); return undefined; }
    return e;
  };
  const typeOf = (opts) => (typeof opts === 'string' ? opts : opts?.type ?? 'text');
  const decode = (value, type) => {
    if (value === null) return null;
    if (type === 'json') return JSON.parse(value);
    if (type === 'arrayBuffer') return new TextEncoder().encode(value).buffer;
    return value;
  };
  return {
    stats,
    store,
    async get(key, opts) {
      const type = typeOf(opts);
      if (Array.isArray(key)) {
        if (key.length < 1 || key.length > 100) throw new TypeError('bulk get takes 1 to 100 keys');
        stats.bulk_get += 1;
        stats.bulk_keys += key.length;
        const out = new Map();
        for (const k of key) out.set(k, decode(live(k)?.value ?? null, type));
        return out;
      }
      stats.get += 1;
      return decode(live(key)?.value ?? null, type);
    },
    async getWithMetadata(key, opts) {
      stats.get += 1;
      const e = live(key);
      return { value: decode(e?.value ?? null, typeOf(opts)), metadata: e?.metadata ?? null, cacheStatus: null };
    },
    async put(key, value, opts = {}) {
      stats.put += 1;
      const text = typeof value === 'string' ? value : new TextDecoder().decode(value);
      const expiration = opts.expirationTtl !== undefined ? now() + Number(opts.expirationTtl)
        : opts.expiration !== undefined ? Number(opts.expiration) : undefined;
      store.set(key, { value: text, expiration, metadata: opts.metadata });
    },
    async delete(key) {
      stats.delete += 1;
      store.delete(key);
    },
    async list({ prefix = '', limit = 1000, cursor = '' } = {}) {
      stats.list += 1;
      const names = [...store.keys()].filter((k) => k.startsWith(prefix) && k > cursor && live(k)).sort();
      const page = names.slice(0, limit);
      const complete = names.length <= limit;
      return {
        keys: page.map((name) => ({ name, ...(store.get(name).expiration !== undefined && { expiration: store.get(name).expiration }) })),
        list_complete: complete,
        ...(!complete && { cursor: page.at(-1) }),
        cacheStatus: null,
      };
    },
  };
}

// ---- upstreams: Turnstile siteverify and Twilio Verify, no network -----------------------

/** A `fetch` for globalThis: the shapes of tests/standins/turnstile.mjs and twilio-verify.mjs. */
export function upstreamFetch(stats) {
  let serial = 0;
  const json = (status, body) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  return async function fetch(input, init) {
    apiPaused.value = true; // the stand-in's own API calls are workerd's fetch internals, not the worker's
    try {
      return await answer(input, init);
    } finally {
      apiPaused.value = false;
    }
  };
  async function answer(input, init) {
    const req = input instanceof Request && init === undefined ? input : new Request(input, init);
    const { pathname } = new URL(req.url);
    const body = await req.text();
    if (pathname === '/turnstile/v0/siteverify') {
      stats.turnstile += 1;
      return json(200, {
        success: true, challenge_ts: new Date().toISOString(), hostname: 'example.com', 'error-codes': [],
        action: '', cdata: '', metadata: { result_with_testing_key: true },
      });
    }
    const m = /^\/v2\/Services\/([^/]+)\/Verifications$/.exec(pathname);
    if (m && req.method === 'POST') {
      stats.twilio += 1;
      const form = new URLSearchParams(body);
      const to = form.get('To') ?? '';
      const channel = form.get('Channel') ?? 'sms';
      if (!/^\+[1-9]\d{6,14}$/.test(to)) return json(400, { code: 60200, message: `Invalid parameter \`To\`: ${to}`, status: 400 });
      const sid = 'VE' + String(++serial).padStart(32, '0');
      const now = new Date().toISOString();
      return json(201, {
        sid, service_sid: m[1], account_sid: 'AC' + '1'.repeat(32), to, channel, status: 'pending', valid: false,
        lookup: {}, amount: null, payee: null,
        send_code_attempts: [{ time: now, channel: channel.toUpperCase(), attempt_sid: 'VL' + String(serial).padStart(32, '0') }],
        date_created: now, date_updated: now, sna: null,
        url: `https://verify.twilio.com/v2/Services/${m[1]}/Verifications/${sid}`,
      });
    }
    stats.other += 1;
    return json(404, { error: `no stand-in for ${req.method} ${pathname}` });
  }
}

// ---- env, ctx, requests -----------------------------------------------------------------

/** The bindings benches/workerd.mjs gives all three workers, with the KV namespace object. */
export function benchEnv(wranglerToml, kv) {
  return {
    ...wranglerVars(wranglerToml),
    ...BENCH_VARS,
    // Never connected to: the fetch stand-in answers by path whatever the host.
    TWILIO_BASE_URL: 'http://127.0.0.1:9',
    TURNSTILE_BASE_URL: 'http://127.0.0.1:9',
    ...SECRETS,
    OTP_GUARD_KV: kv,
  };
}

/** An ExecutionContext: waitUntil collects the promises (run.mjs awaits them after each request). */
export function executionContext() {
  const pending = [];
  return {
    pending,
    waitUntil(p) { pending.push(Promise.resolve(p).catch((e) => { pending.error = e; })); },
    passThroughOnException() {},
    props: {},
  };
}

const DUMMY_TOKEN = 'XXXX.DUMMY.TOKEN.XXXX';

/**
 * One request as benches/workerd.mjs sends it (POST /v1/verifications, or GET /v1/health
 * without a phone), with `cf` attached when given (workerd's `request.cf`).
 */
export function benchRequest(phone, ip, cf) {
  const body = phone === null ? null : JSON.stringify({ phone, channel: 'sms', turnstile_token: DUMMY_TOKEN });
  const headers = { 'cf-connecting-ip': ip };
  if (body !== null) Object.assign(headers, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
  const req = new Request(`http://127.0.0.1:8787${phone === null ? '/v1/health' : '/v1/verifications'}`, {
    method: phone === null ? 'GET' : 'POST', headers, body,
  });
  if (cf) Object.defineProperty(req, 'cf', { value: cf, enumerable: true });
  return req;
}

/**
 * Node implements in JavaScript, loaded on first use, what workerd has in C++ (Request,
 * Response, Headers, streams, URL, TextEncoder, WebCrypto): used once before a cold
 * measurement, so that a worker's first request does not pay for Node's own first use.
 */
export async function warmPlatform() {
  const req = benchRequest('+447400123456', '198.18.0.1', { country: 'GB', asn: 64496 });
  req.headers.get('content-type');
  await req.text();
  await benchRequest(null, '198.18.0.1', null).arrayBuffer();
  const res = Response.json({ ok: true }, { status: 202, headers: { 'x-a': 'b' } });
  res.headers.append('x-b', 'c');
  await res.text();
  await new Response(new Uint8Array([1, 2, 3])).arrayBuffer();
  new URL('http://127.0.0.1:8787/v1/health?x=1').searchParams.get('x');
  new URLSearchParams({ a: 'b' }).toString();
  new TextDecoder().decode(new TextEncoder().encode('x'));
  const c = new AbortController();
  clearTimeout(setTimeout(() => c.abort(), 1000));
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode('k'), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  await crypto.subtle.sign('HMAC', key, new TextEncoder().encode('x'));
  crypto.randomUUID();
  const stats = { turnstile: 0, twilio: 0, other: 0 };
  const f = upstreamFetch(stats);
  await (await f('http://127.0.0.1:9/turnstile/v0/siteverify', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).text();
  await (await f(new Request('http://127.0.0.1:9/v2/Services/VA1/Verifications', { method: 'POST', body: 'To=%2B447400123456&Channel=sms' }))).json();
  queueMicrotask(() => {});
}

/**
 * Counts calls into the runtime APIs workerd implements in C++ (each a crossing from the
 * isolate's JavaScript into the runtime there): constructors, methods and getters of
 * Request, Response, Headers, streams, URL, TextEncoder/TextDecoder, AbortController,
 * timers and WebCrypto. Returns the live counts; `owner()` tells the harness's own calls
 * apart (they are excluded while `paused.value` is true).
 */
export const apiPaused = { value: false };
export function countRuntimeApi() {
  const counts = new Map();
  const paused = apiPaused;
  const bump = (k) => { if (!paused.value) counts.set(k, (counts.get(k) ?? 0) + 1); };
  const wrapClass = (name) => {
    const C = globalThis[name];
    if (!C) return;
    for (const key of Object.getOwnPropertyNames(C.prototype)) {
      if (key === 'constructor') continue;
      const d = Object.getOwnPropertyDescriptor(C.prototype, key);
      if (typeof d.value === 'function') {
        const f = d.value;
        Object.defineProperty(C.prototype, key, { ...d, value: function (...a) { bump(`${name}.${key}()`); return f.apply(this, a); } });
      } else if (d.get) {
        const g = d.get;
        Object.defineProperty(C.prototype, key, { ...d, get() { bump(`${name}.${key}`); return g.call(this); } });
      }
    }
    const Wrapped = new Proxy(C, { construct(t, a, nt) { bump(`new ${name}`); return Reflect.construct(t, a, nt === Wrapped ? t : nt); } });
    for (const k of Object.getOwnPropertyNames(C)) {
      if (typeof C[k] === 'function' && !['length', 'name', 'prototype'].includes(k)) {
        const f = C[k];
        try { Object.defineProperty(C, k, { value: function (...a) { bump(`${name}.${k}()`); return f.apply(this, a); }, configurable: true, writable: true }); } catch { /* fixed */ }
      }
    }
    globalThis[name] = Wrapped;
  };
  for (const name of ['Request', 'Response', 'Headers', 'ReadableStream', 'ReadableStreamDefaultReader', 'ReadableStreamBYOBReader',
    'WritableStream', 'TransformStream', 'URL', 'URLSearchParams', 'TextEncoder', 'TextDecoder', 'AbortController', 'AbortSignal',
    'FormData', 'Blob']) wrapClass(name);
  for (const name of ['setTimeout', 'clearTimeout', 'queueMicrotask', 'structuredClone', 'atob', 'btoa']) {
    const f = globalThis[name];
    globalThis[name] = function (...a) { bump(`${name}()`); return f.apply(this, a); };
  }
  for (const key of ['importKey', 'sign', 'digest', 'verify']) {
    const f = crypto.subtle[key].bind(crypto.subtle);
    crypto.subtle[key] = (...a) => { bump(`crypto.subtle.${key}()`); return f(...a); };
  }
  const uuid = crypto.randomUUID.bind(crypto);
  crypto.randomUUID = () => { bump('crypto.randomUUID()'); return uuid(); };
  const rnd = crypto.getRandomValues.bind(crypto);
  crypto.getRandomValues = (a) => { bump('crypto.getRandomValues()'); return rnd(a); };
  return { counts, paused };
}
