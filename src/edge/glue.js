// The edge's calls into the Workers runtime that a request makes on every send, each as
// one crossing between wasm and JavaScript.
//
// Why this file exists: every value that crosses the boundary costs a conversion (a
// string is copied and re-encoded, a JS object is put in a table, each awaited promise
// gets a closure). Through the `worker` crate's general-purpose bindings, a send made
// 286 runtime calls (172 string decodes: a bulk KV read pushes its keys one by one and
// walks the result Map entry by entry); a hand-written JS guard makes 68 for the same
// work (`npm run profile -- --count-api`). Here each platform call takes and returns one
// string (or bytes). Nothing here decides anything: the Rust side (src/edge/) owns every
// rule, every limit and every error; these functions only move data.
//
// Field separator: "\n", which no header value, serialised URL, KV key the guard writes
// or number can contain. An absent value is "\0" (never a header value either).

const ABSENT = '\0';
const field = (value) => (value === null || value === undefined ? ABSENT : String(value));

/// The fetch handler's first half: what the guard reads of the request (its facts, and
/// its body when the method carries one, `null` past `limit` bytes or if the body cannot
/// be read), handed to `decide`, which answers a `Response` when the guard needs no I/O
/// and a promise of one otherwise.
export async function serve(request, env, ctx, limit, decide) {
  const facts = requestFacts(request);
  const method = request.method;
  const body = method === 'POST' || method === 'PUT' || method === 'PATCH'
    ? await readBody(request, limit).catch(() => null)
    : new Uint8Array(0);
  return decide(facts, body, env, ctx);
}

/// What the guard reads from a request, in one string: method, URL, then the client
/// address, country and network Cloudflare's edge attached, then the headers it reads.
function requestFacts(request) {
  const h = request.headers;
  const cf = request.cf;
  return [
    request.method,
    request.url,
    field(h.get('cf-connecting-ip')),
    field(cf && cf.country),
    field(cf && cf.asn),
    field(h.get('origin')),
    field(h.get('content-type')),
    field(h.get('authorization')),
    field(h.get('access-control-request-method')),
    field(h.get('cf-ray')),
  ].join('\n');
}

/// The body, or `null` as soon as it exceeds `limit` bytes (a declared length over the
/// limit is refused before reading), so a client cannot make the guard buffer an upload.
async function readBody(request, limit) {
  const declared = request.headers.get('content-length');
  if (declared !== null && /^\d+$/.test(declared.trim())) {
    if (Number(declared.trim()) > limit) return null;
    // A declared length within the limit: the runtime holds the body to that length.
    return new Uint8Array(await request.arrayBuffer());
  }
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  const body = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    body.set(chunk, at);
    at += chunk.byteLength;
  }
  return body;
}

/// The response: `headers` alternates names and values.
export function respond(status, headers, body) {
  return new Response(body === '' ? null : body, { status, headers: headerPairs(headers) });
}

/// "name\nvalue\nname\nvalue" as [[name, value], ...], which the runtime takes as a
/// whole in one call (rather than one `append` call per header).
function headerPairs(headers) {
  const list = headers === '' ? [] : headers.split('\n');
  const pairs = [];
  for (let i = 0; i + 1 < list.length; i += 2) pairs.push([list[i], list[i + 1]]);
  return pairs;
}

/// A KV bulk read of "\n"-separated keys (at most 100): the values in key order, as a
/// JSON array of strings and nulls.
export async function kvGetMany(kv, keys) {
  const list = keys.split('\n');
  const found = await kv.get(list, 'text');
  return JSON.stringify(list.map((key) => found.get(key) ?? null));
}

export function kvGet(kv, key) {
  return kv.get(key, 'text');
}

export function kvPut(kv, key, value, ttlSeconds) {
  return kv.put(key, value, { expirationTtl: ttlSeconds });
}

export function kvDelete(kv, key) {
  return kv.delete(key);
}

/// Writes in order, each awaited before the next, stopping at the first that fails:
/// `writes` is a JSON array of [key, value or null (delete), TTL in seconds].
export async function kvWriteMany(kv, writes) {
  for (const [key, value, ttl] of JSON.parse(writes)) {
    if (value === null) await kv.delete(key);
    else await kv.put(key, value, { expirationTtl: ttl });
  }
}

/// The names of up to `limit` keys under `prefix`, "\n"-separated.
export async function kvList(kv, prefix, limit) {
  const listed = await kv.list({ prefix, limit });
  return listed.keys.map((k) => k.name).join('\n');
}

/// Thrown by `send` when the upstream did not answer in time.
const TIMEOUT = 'otp-guard: upstream timed out';

/// One upstream call, aborted after `timeoutMs`: resolves to status "\n" Retry-After
/// (or "\0") "\n" body text; rejects with TIMEOUT, or with the runtime's error.
export async function send(url, method, headers, body, timeoutMs) {
  const init = { method, headers: headerPairs(headers), body };
  const controller = new AbortController();
  init.signal = controller.signal;
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new Error(TIMEOUT));
    }, timeoutMs);
  });
  try {
    return await Promise.race([
      (async () => {
        const response = await fetch(url, init);
        const text = await response.text();
        return `${response.status}\n${field(response.headers.get('retry-after'))}\n${text}`;
      })(),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function isTimeout(error) {
  return error instanceof Error && error.message === TIMEOUT;
}
