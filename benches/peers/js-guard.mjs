// The JS guard: a hand-written JavaScript peer of otp-guard, for the benchmarks only (never
// shipped: not in www/, not in the worker bundle). It answers POST /v1/verifications with
// the same checks and the same I/O as otp-guard's default policy, so that the workerd
// benchmark (benches/workerd.mjs) can say what the Rust/wasm build costs against the
// obvious alternative:
//
//   body (content type, 8 KiB, JSON, fields) → number (libphonenumber-js "max" metadata:
//   E.164, region, type) → lists (one KV bulk read: safelist, blocklist, every prefix) →
//   policy (channel, country and number type per channel, client IP country and ASN) →
//   counters read (one KV bulk read of the same records otp-guard reads: six rate-limit
//   scopes, the number's send history, two spend caps, two pumping destinations, the hot
//   ones in 8 shards) → Turnstile siteverify → counters reserve (the bulk read again, the
//   pumping detector, the changed records written, a hot record to one shard) → Twilio
//   Verify POST /v2/Services/{sid}/Verifications with RiskCheck=enable → 202, and one JSON
//   log line.
//
// It reads the same [vars] with the same defaults (src/config.rs VARS), the same secrets,
// and stores records of the same shape under the same keys. What it leaves out (it is a
// yardstick, not a product): the check route, the admin API, monitor mode, CORS, the
// release of a reservation when Twilio refuses, and the finer error mapping; none of them
// is on the paths the benchmark measures.

import { parsePhoneNumberFromString } from 'libphonenumber-js/max';

const MAX_BODY = 8 * 1024;
const HOT_SHARDS = 8;
const HOUR_MS = 3_600_000;
const FINE_MS = 300_000;

const DEFAULTS = {
  MODE: 'enforce', CHANNELS: 'sms,call',
  ALLOWED_COUNTRIES_SMS: '*', ALLOWED_COUNTRIES_CALL: '*', ALLOWED_COUNTRIES_WHATSAPP: '*',
  DENIED_COUNTRIES_SMS: '', DENIED_COUNTRIES_CALL: '', DENIED_COUNTRIES_WHATSAPP: '',
  ALLOWED_TYPES_SMS: 'mobile,fixed_line_or_mobile',
  ALLOWED_TYPES_CALL: 'mobile,fixed_line,fixed_line_or_mobile',
  ALLOWED_TYPES_WHATSAPP: 'mobile,fixed_line_or_mobile',
  DENIED_IP_COUNTRIES: '', DENIED_ASNS: '',
  TWILIO_BASE_URL: 'https://verify.twilio.com', TURNSTILE_BASE_URL: 'https://challenges.cloudflare.com',
  TURNSTILE_HOSTNAMES: '', TURNSTILE_ACTION: '', UPSTREAM_TIMEOUT_MS: '5000',
  LIMITS_IP: '20/1h,50/1d', LIMITS_SUBNET: '60/1h,150/1d',
  RISKY_ASNS: '16509,14618,8075,15169,396982,14061,16276,24940,63949,20473,45102,132203,9009,212238',
  LIMITS_IP_RISKY: '3/1h,5/1d', LIMITS_PHONE: '5/1h,10/1d', PREFIX_LENGTH: '8',
  LIMITS_PREFIX: '20/1h,60/1d', COUNTRY_LIMITS: '*:100/1h,500/1d', LIMITS_GLOBAL: '1000/1h,10000/1d',
  PUMPING_WINDOW_MIN: '15', PUMPING_SPIKE_FACTOR: '5', PUMPING_MIN_SENDS: '20',
  PUMPING_CONVERSION_DROP: '0.3', PUMPING_CONVERSION_FLOOR: '0.1', PUMPING_ALLOWANCE_MIN: '10',
  PUMPING_COOLDOWN_MIN: '30', PUMPING_BASELINE_DAYS: '7',
  PUMPING_SLOW_WINDOW_H: '24', PUMPING_SLOW_MIN_SENDS: '12', PUMPING_SLOW_NEW_MIN_SENDS: '12',
  PUMPING_UNSERVED_MIN_SENDS: '3',
  PUMPING_SLOW_CONVERSION_FLOOR: '0.15', PUMPING_SLOW_CONVERSION_DROP: '0.3',
  PRICES: 'sms=0.05,call=0.10,whatsapp=0.05;242:sms=0.30,call=0.80;371:sms=0.20,call=0.50;7:sms=0.35,call=0.40;998:sms=0.35,call=0.60;996:sms=0.30,call=0.60;992:sms=0.30,call=0.60',
  SPEND_CAP_HOURLY_USD: '50', SPEND_CAP_DAILY_USD: '500',
  SPEND_CAP_COUNTRY_HOURLY_USD: '10', SPEND_CAP_COUNTRY_DAILY_USD: '100',
  VOICE_GATE_SMS_ATTEMPTS: '3', VOICE_GATE_MIN_DELAY_S: '30',
};

// ---- config, read once per isolate --------------------------------------------------

const list = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);

function quotas(text) {
  return list(text).map((q) => {
    const m = /^(\d+)\s*\/\s*(\d*)([smhd])$/.exec(q);
    if (!m || +m[1] === 0) throw new Error(`bad quota ${q}`);
    const window = (m[2] === '' ? 1 : +m[2]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[3]];
    return { max: +m[1], window };
  });
}

function prices(text) {
  const table = { default: {}, codes: {} };
  for (const group of text.split(';')) {
    const [code, pairs] = group.includes(':') ? group.split(/:(.*)/s) : [null, group];
    const target = code === null ? table.default : (table.codes[code.trim()] = {});
    for (const [channel, usd] of list(pairs).map((p) => p.split('='))) target[channel.trim()] = Math.round(+usd * 1000);
  }
  return table;
}

function loadConfig(env) {
  const v = (k) => String(env[k] ?? DEFAULTS[k] ?? '');
  const countries = (k) => new Set(list(v(k)).map((c) => c.toUpperCase()));
  const channel = (name) => ({
    enabled: list(v('CHANNELS')).includes(name),
    allowed: countries(`ALLOWED_COUNTRIES_${name.toUpperCase()}`),
    denied: countries(`DENIED_COUNTRIES_${name.toUpperCase()}`),
    types: new Set(list(v(`ALLOWED_TYPES_${name.toUpperCase()}`))),
  });
  const cap = (k) => (+v(k) > 0 ? [Math.round(+v(k) * 1000)] : []);
  for (const secret of ['TWILIO_ACCOUNT_SID', 'TWILIO_VERIFY_SERVICE_SID', 'TURNSTILE_SECRET_KEY', 'HASH_KEY']) {
    if (!env[secret]) throw new Error(`missing secret ${secret}`);
  }
  return {
    channels: { sms: channel('sms'), call: channel('call'), whatsapp: channel('whatsapp') },
    deniedIpCountries: countries('DENIED_IP_COUNTRIES'),
    deniedAsns: new Set(list(v('DENIED_ASNS')).map(Number)),
    riskyAsns: new Set(list(v('RISKY_ASNS')).map(Number)),
    limits: {
      ip: quotas(v('LIMITS_IP')), subnet: quotas(v('LIMITS_SUBNET')), ipRisky: quotas(v('LIMITS_IP_RISKY')),
      phone: quotas(v('LIMITS_PHONE')), prefix: quotas(v('LIMITS_PREFIX')), global: quotas(v('LIMITS_GLOBAL')),
      prefixLength: +v('PREFIX_LENGTH'),
      countries: v('COUNTRY_LIMITS').split(';').map((g) => g.trim()).filter(Boolean).map((g) => {
        const [regions, q] = g.split(/:(.*)/s);
        return { regions: new Set(list(regions).map((c) => c.toUpperCase())), quotas: quotas(q) };
      }),
    },
    detector: {
      windowMin: +v('PUMPING_WINDOW_MIN'), spike: +v('PUMPING_SPIKE_FACTOR'), minSends: +v('PUMPING_MIN_SENDS'),
      drop: +v('PUMPING_CONVERSION_DROP'), floor: +v('PUMPING_CONVERSION_FLOOR'),
      allowanceMin: +v('PUMPING_ALLOWANCE_MIN'), cooldownMin: +v('PUMPING_COOLDOWN_MIN'),
      baselineDays: +v('PUMPING_BASELINE_DAYS'),
      slow: {
        windowH: +v('PUMPING_SLOW_WINDOW_H'), minSends: +v('PUMPING_SLOW_MIN_SENDS'),
        newMinSends: +v('PUMPING_SLOW_NEW_MIN_SENDS'), floor: +v('PUMPING_SLOW_CONVERSION_FLOOR'),
        drop: +v('PUMPING_SLOW_CONVERSION_DROP'),
      },
      unservedMinSends: +v('PUMPING_UNSERVED_MIN_SENDS'),
    },
    prices: prices(v('PRICES')),
    caps: {
      global: [...cap('SPEND_CAP_HOURLY_USD').map((max) => ({ max, window: 3600 })),
        ...cap('SPEND_CAP_DAILY_USD').map((max) => ({ max, window: 86400 }))],
      country: [...cap('SPEND_CAP_COUNTRY_HOURLY_USD').map((max) => ({ max, window: 3600 })),
        ...cap('SPEND_CAP_COUNTRY_DAILY_USD').map((max) => ({ max, window: 86400 }))],
    },
    gate: { attempts: +v('VOICE_GATE_SMS_ATTEMPTS'), minDelay: +v('VOICE_GATE_MIN_DELAY_S') },
    twilioBase: v('TWILIO_BASE_URL'), turnstileBase: v('TURNSTILE_BASE_URL'),
    turnstileHostnames: new Set(list(v('TURNSTILE_HOSTNAMES'))), turnstileAction: v('TURNSTILE_ACTION'),
    timeoutMs: +v('UPSTREAM_TIMEOUT_MS'),
    twilioAuth: 'Basic ' + btoa(env.TWILIO_API_KEY_SID
      ? `${env.TWILIO_API_KEY_SID}:${env.TWILIO_API_KEY_SECRET}`
      : `${env.TWILIO_ACCOUNT_SID}:${env.TWILIO_AUTH_TOKEN}`),
    serviceSid: env.TWILIO_VERIFY_SERVICE_SID,
    turnstileSecret: env.TURNSTILE_SECRET_KEY,
    hmacKey: crypto.subtle.importKey('raw', new TextEncoder().encode(env.HASH_KEY),
      { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']),
  };
}

let CONFIG = null;

// ---- answers ---------------------------------------------------------------------------

class Refusal extends Error {
  constructor(status, code, detail, extra = {}) {
    super(detail);
    Object.assign(this, { status, code, extra });
  }
}

const problem = (r) => new Response(JSON.stringify({ type: 'about:blank', status: r.status, code: r.code, detail: r.message, ...r.extra }),
  { status: r.status, headers: { 'content-type': 'application/problem+json' } });

// ---- the number ------------------------------------------------------------------------

// The zero of each Unicode decimal digit block a form is likely to send.
const ZEROS = [0x660, 0x6f0, 0x7c0, 0x966, 0x9e6, 0xa66, 0xae6, 0xb66, 0xbe6, 0xc66, 0xce6, 0xd66, 0xe50, 0xed0,
  0xf20, 0x1040, 0x17e0, 0x1810, 0xff10];

function normalise(input) {
  let s = input.trim().replace(/^tel:/i, '');
  s = s.replace(/\p{Nd}/gu, (d) => {
    const cp = d.codePointAt(0);
    const zero = ZEROS.find((z) => cp >= z && cp < z + 10);
    return zero === undefined ? d : String(cp - zero);
  });
  if (/\p{L}/u.test(s)) throw new Refusal(400, 'invalid_phone', 'letters are not accepted in a phone number');
  s = s.replace(/[\s\-./()]/g, '');
  if (s.startsWith('00')) s = '+' + s.slice(2);
  else if (s.startsWith('011')) s = '+' + s.slice(3);
  return s;
}

function parsePhone(input, country) {
  const parsed = parsePhoneNumberFromString(normalise(input), country ? { defaultCountry: country.toUpperCase() } : undefined);
  if (!parsed || !parsed.isValid()) throw new Refusal(400, 'invalid_phone', 'not a valid phone number');
  return {
    e164: parsed.number,
    region: parsed.country ?? '001',
    callingCode: parsed.countryCallingCode,
    kind: (parsed.getType() ?? 'unknown').toLowerCase(),
  };
}

const mask = (p) => {
  const national = p.e164.slice(1 + p.callingCode.length);
  const shown = Math.min(4, national.length);
  return `+${p.callingCode}${'*'.repeat(national.length - shown)}${national.slice(national.length - shown)}`;
};
const prefixOf = (e164, digits) => '+' + e164.slice(1, 1 + Math.min(digits, Math.max(0, e164.length - 1 - 3)));

async function hmacHex(config, label, text, bytes = 16) {
  const mac = await crypto.subtle.sign('HMAC', await config.hmacKey, new TextEncoder().encode(`${label}\0${text}`));
  return [...new Uint8Array(mac, 0, bytes)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

// ---- counters (the same records and keys as src/counters.rs) ---------------------------

const bucketMs = (q) => Math.max(1000, (q.window * 1000) / 10);
const live = (c, q, now) => (c.w?.[q.window] ?? []).filter(([i]) => (i + 1) * bucketMs(q) > now - q.window * 1000);
const count = (c, q, now) => live(c, q, now).reduce((s, [, n]) => s + n, 0);

function waitMs(c, q, now) {
  let remaining = count(c, q, now);
  if (remaining < q.max) return null;
  for (const [i, n] of live(c, q, now)) {
    remaining -= n;
    if (remaining < q.max) return (i + 1) * bucketMs(q) + q.window * 1000 - now;
  }
  return q.window * 1000;
}

function add(c, q, at, delta) {
  c.w ??= {};
  const index = Math.floor(at / bucketMs(q));
  const buckets = (c.w[q.window] ?? []).filter(([i]) => (i + 1) * bucketMs(q) > at - q.window * 1000);
  const hit = buckets.find(([i]) => i === index);
  if (hit) hit[1] += delta;
  else if (delta > 0) buckets.push([index, delta]);
  c.w[q.window] = buckets.filter(([, n]) => n > 0).sort((a, b) => a[0] - b[0]);
}

const delayAfter = (gate, n) => gate.minDelay * 2 ** Math.min(16, Math.max(0, n - 1));
const historyTtl = (gate) => Math.max(3600, delayAfter(gate, Math.max(1, gate.attempts) + 1) * 2);

function figures(t, now, d) {
  const fineNow = Math.floor(now / FINE_MS);
  const windowBuckets = Math.min(12, Math.max(1, Math.ceil(d.windowMin / 5)));
  const m = t.m ?? [];
  const windowSends = m.filter((b) => b[0] + windowBuckets > fineNow).reduce((s, b) => s + b[1], 0);
  const allowance = Math.ceil(d.allowanceMin / 5);
  const lastHour = m.filter((b) => b[0] + 12 > fineNow);
  const matured = lastHour.filter((b) => b[0] + allowance <= fineNow).reduce((s, b) => s + b[1], 0);
  const approved = lastHour.reduce((s, b) => s + b[2], 0);
  const hourNow = Math.floor(now / HOUR_MS);
  const base = (t.h ?? []).filter((b) => b[0] + 2 <= hourNow && b[0] + d.baselineDays * 24 + 2 > hourNow);
  const sends = base.reduce((s, b) => s + b[1], 0);
  const approvals = base.reduce((s, b) => s + b[2], 0);
  return {
    window_sends: windowSends,
    baseline_per_window: sends / (d.baselineDays * 24) / (60 / (windowBuckets * 5)),
    conversion_now: matured > 0 ? Math.min(1, approved / matured) : null,
    conversion_normal: sends >= 20 ? Math.min(1, approvals / sends) : null,
  };
}

function recordSend(t, now, d) {
  const keepHours = d.baselineDays * 24 + 2;
  t.h = (t.h ?? []).filter((b) => b[0] + keepHours > Math.floor(now / HOUR_MS));
  t.m = (t.m ?? []).filter((b) => b[0] + 24 > Math.floor(now / FINE_MS));
  if (t.block && t.block.until_ms <= now) delete t.block;
  for (const [buckets, index] of [[t.h, Math.floor(now / HOUR_MS)], [t.m, Math.floor(now / FINE_MS)]]) {
    const last = buckets[buckets.length - 1];
    if (last && last[0] === index) last[1] += 1;
    else buckets.push([index, 1, 0]);
  }
}

function assess(t, now, d) {
  const f = figures(t, now, d);
  if (f.window_sends < d.minSends) return null;
  const collapsed = f.conversion_now === null ? false
    : f.conversion_normal === null ? f.conversion_now < d.floor
      : f.conversion_now < f.conversion_normal * d.drop || f.conversion_now < d.floor;
  const neverSeen = f.baseline_per_window === 0;
  const spike = f.window_sends >= d.spike * f.baseline_per_window;
  const trigger = neverSeen && collapsed ? 'new_destination' : spike && collapsed ? 'spike_with_conversion_collapse' : null;
  return trigger && engaged(now, d, trigger, f);
}

/** A block engaged at `now` for the cool-down, as otp-guard's `Block::engaged`. */
const engaged = (now, d, trigger, figures) => ({ engaged_ms: now, until_ms: now + d.cooldownMin * 60_000, trigger, figures });

/** A destination's long (slow) window, as otp-guard's `long_figures`: its matured sends and
 * their approvals since an operator's lift, and the baseline period before the window. */
function slowWindow(t, now, d) {
  const hourNow = Math.floor(now / HOUR_MS);
  const keepHours = d.baselineDays * 24;
  const windowH = Math.min(keepHours, Math.max(1, d.slow.windowH));
  const sinceHour = Math.ceil((t.since_ms ?? 0) / HOUR_MS);
  const h = t.h ?? [];
  const inWindow = h.filter((b) => b[0] + windowH > hourNow && b[0] >= sinceHour);
  const sends = inWindow.reduce((s, b) => s + b[1], 0);
  const approved = inWindow.reduce((s, b) => s + b[2], 0);
  const fineNow = Math.floor(now / FINE_MS);
  const allowance = Math.ceil(d.allowanceMin / 5);
  const fresh = (t.m ?? []).filter((b) => b[0] + allowance > fineNow && b[0] * FINE_MS >= sinceHour * HOUR_MS)
    .reduce((s, b) => s + b[1], 0);
  const base = h.filter((b) => b[0] + windowH <= hourNow && b[0] + keepHours + 2 > hourNow);
  return {
    matured: Math.max(0, sends - fresh), approved, keepHours, windowH,
    baseSends: base.reduce((s, b) => s + b[1], 0), baseApproved: base.reduce((s, b) => s + b[2], 0),
  };
}

/** The slow judgement: a destination's matured sends over the long window, as otp-guard's. */
function assessSlow(t, now, d) {
  const w = d.slow;
  if (w.minSends === 0) return null;
  const { matured, approved, keepHours, windowH, baseSends, baseApproved } = slowWindow(t, now, d);
  const needed = baseSends === 0 ? Math.min(w.minSends, Math.max(1, w.newMinSends)) : w.minSends;
  if (matured === 0 || matured < needed) return null;
  const now_ = Math.min(1, approved / matured);
  const normal = baseSends >= 20 ? Math.min(1, baseApproved / baseSends) : null;
  if (!(now_ < w.floor || (normal !== null && now_ < normal * w.drop))) return null;
  const figures = { window_sends: matured, baseline_per_window: baseSends / Math.max(1, keepHours - windowH) * windowH,
    conversion_now: now_, conversion_normal: normal };
  return engaged(now, d, 'slow_conversion_collapse', figures);
}

/** Clients abroad asking codes for a destination nobody ever entered one for, as otp-guard's. */
function assessUnserved(t, now, d) {
  if (d.unservedMinSends === 0 || (t.h ?? []).some((b) => b[2] > 0)) return null;
  const { matured } = slowWindow(t, now, d);
  if (matured < d.unservedMinSends) return null;
  const figures = { window_sends: matured, baseline_per_window: 0, conversion_now: 0, conversion_normal: null };
  return { ...engaged(now, d, 'unserved_destination', figures), abroad_only: true };
}

const isHot = (key) => key === 'n:global' || key === 's:global' || key.startsWith('n:country:')
  || key.startsWith('s:country:') || (key.startsWith('t:') && !key.startsWith('t:+'));
const shardKeys = (key) => (isHot(key) ? Array.from({ length: HOT_SHARDS }, (_, i) => `${key}#${i}`) : [key]);

function mergeShards(entry, values) {
  const present = values.filter((v) => v !== null).map((v) => JSON.parse(v));
  if (present.length === 0) return {};
  if (entry.kind === 'traffic') {
    const out = { h: [], m: [] };
    for (const t of present) {
      for (const k of ['h', 'm']) {
        for (const [i, s, a] of t[k] ?? []) {
          const hit = out[k].find((b) => b[0] === i);
          if (hit) { hit[1] += s; hit[2] += a; } else out[k].push([i, s, a]);
        }
      }
      if (t.block && (!out.block || t.block.until_ms > out.block.until_ms)) out.block = t.block;
    }
    for (const k of ['h', 'm']) out[k].sort((a, b) => a[0] - b[0]);
    return out;
  }
  const out = { w: {} };
  for (const c of present) {
    for (const [w, buckets] of Object.entries(c.w ?? {})) {
      const mine = (out.w[w] ??= []);
      for (const [i, n] of buckets) {
        const hit = mine.find((b) => b[0] === i);
        if (hit) hit[1] += n; else mine.push([i, n]);
      }
      mine.sort((a, b) => a[0] - b[0]);
    }
  }
  return out;
}

/** One counter operation in KV: one bulk read, the logic, the changed records written. */
async function runCounters(kv, action, now, entries) {
  const keys = entries.flatMap((e) => shardKeys(e.key));
  const stored = await bulkGet(kv, keys);
  const records = entries.map((e) => (isHot(e.key)
    ? mergeShards(e, shardKeys(e.key).map((k) => stored.get(k) ?? null))
    : JSON.parse(stored.get(e.key) ?? '{}')));
  const before = records.map((r) => JSON.stringify(r));

  let protectedDest = null; let capped = false; let longest = null;
  entries.forEach((e, i) => {
    const r = records[i];
    const limited = (scope, wait) => { if (!longest || wait > longest.wait) longest = { scope, wait }; };
    if (e.kind === 'limit') {
      const waits = e.quotas.map((q) => waitMs(r, q, now)).filter((w) => w !== null);
      if (waits.length) limited(e.scope, Math.ceil(Math.max(...waits) / 1000));
    } else if (e.kind === 'gate') {
      r.sms_ms = (r.sms_ms ?? []).filter((t) => now - t < historyTtl(e.gate) * 1000);
      const last = r.sms_ms[r.sms_ms.length - 1];
      const wait = last === undefined ? 0 : Math.ceil(Math.max(0, last + delayAfter(e.gate, r.sms_ms.length) * 1000 - now) / 1000);
      if (wait > 0) limited('phone', wait);
    } else if (e.kind === 'cap') {
      capped ||= e.quotas.some((q) => count(r, q, now) + e.weight > q.max);
    } else if (e.kind === 'traffic' && !protectedDest && r.block && r.block.until_ms > now
      && (e.abroad || !r.block.abroad_only)) {
      protectedDest = e.dest;
    }
  });
  if (protectedDest) throw new Refusal(503, 'protection_engaged', `verifications to ${protectedDest} are paused`);
  if (capped) throw new Refusal(503, 'protection_engaged', 'the estimated spend cap is reached');
  if (longest) {
    throw new Refusal(429, 'rate_limited', 'a quota is full', { scope: longest.scope, retry_after_s: longest.wait });
  }
  if (action === 'check') return null;

  // Reserve: the detector first, then count.
  for (const [i, e] of entries.entries()) {
    if (e.kind !== 'traffic') continue;
    const withSend = structuredClone(records[i]);
    recordSend(withSend, now, e.detector);
    const block = assess(withSend, now, e.detector) ?? assessSlow(withSend, now, e.detector)
      ?? (e.abroad ? assessUnserved(withSend, now, e.detector) : null);
    if (block) {
      records[i].block = block;
      await writeRecord(kv, e, stored, JSON.parse(before[i]), records[i], now);
      throw new Refusal(503, 'protection_engaged', `verifications to ${e.dest} are paused`);
    }
  }
  let outlook = null;
  entries.forEach((e, i) => {
    const r = records[i];
    if (e.kind === 'limit') for (const q of e.quotas) add(r, q, now, 1);
    else if (e.kind === 'cap') for (const q of e.quotas) add(r, q, now, e.weight);
    else if (e.kind === 'traffic') recordSend(r, now, e.detector);
    else if (e.kind === 'gate') {
      r.sms_ms.push(now);
      outlook = {
        sms_attempts: r.sms_ms.length,
        call_available: r.sms_ms.length >= e.gate.attempts,
        retry_after_s: delayAfter(e.gate, r.sms_ms.length),
      };
    }
  });
  for (const [i, e] of entries.entries()) {
    if (JSON.stringify(records[i]) !== before[i]) await writeRecord(kv, e, stored, JSON.parse(before[i]), records[i], now);
  }
  return outlook;
}

function ttlOf(e) {
  if (e.kind === 'gate') return historyTtl(e.gate);
  if (e.kind === 'traffic') return (e.detector.baselineDays + 1) * 86400;
  const longest = Math.max(0, ...e.quotas.map((q) => q.window));
  return longest + Math.floor(longest / 10) + 60;
}

/** Writes a record; a hot one as its change added to one shard (chosen by the time). */
async function writeRecord(kv, e, stored, before, after, now) {
  const ttl = { expirationTtl: Math.max(60, ttlOf(e)) };
  if (!isHot(e.key)) return kv.put(e.key, JSON.stringify(after), ttl);
  const shardKey = `${e.key}#${now % HOT_SHARDS}`;
  const own = JSON.parse(stored.get(shardKey) ?? '{}');
  if (e.kind === 'traffic') {
    for (const k of ['h', 'm']) {
      own[k] ??= [];
      for (const [i, s, a] of after[k] ?? []) {
        const old = (before[k] ?? []).find((b) => b[0] === i) ?? [i, 0, 0];
        const hit = own[k].find((b) => b[0] === i);
        if (hit) { hit[1] += s - old[1]; hit[2] += a - old[2]; } else if (s - old[1] > 0) own[k].push([i, s - old[1], a - old[2]]);
      }
    }
    if (after.block) own.block = after.block;
  } else {
    own.w ??= {};
    for (const [w, buckets] of Object.entries(after.w ?? {})) {
      const mine = (own.w[w] ??= []);
      for (const [i, n] of buckets) {
        const old = (before.w?.[w] ?? []).find((b) => b[0] === i)?.[1] ?? 0;
        const hit = mine.find((b) => b[0] === i);
        if (hit) hit[1] += n - old; else if (n - old > 0) mine.push([i, n - old]);
      }
    }
  }
  return kv.put(shardKey, JSON.stringify(own), ttl);
}

/** KV bulk reads, 1 to 100 keys a call, as otp-guard does them. */
async function bulkGet(kv, keys) {
  const found = new Map();
  for (let i = 0; i < keys.length; i += 100) {
    const chunk = keys.slice(i, i + 100);
    for (const [k, v] of await kv.get(chunk, 'text')) found.set(k, v);
  }
  return found;
}

// ---- upstream calls ---------------------------------------------------------------------

async function post(config, url, init) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), config.timeoutMs);
  try {
    const res = await fetch(url, { method: 'POST', ...init, signal: controller.signal });
    return { status: res.status, body: await res.text() };
  } catch {
    throw new Refusal(502, 'upstream_error', 'an upstream failed or timed out: nothing was sent');
  } finally {
    clearTimeout(timer);
  }
}

async function verifyTurnstile(config, token, binding, ip) {
  if (!token) throw new Refusal(403, 'captcha_failed', 'the captcha token is missing or invalid');
  const key = await hmacHex(config, 'turnstile-idempotency', `${binding}\0${token}`);
  const body = { secret: config.turnstileSecret, response: token, idempotency_key: key.replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-') };
  if (ip) body.remoteip = ip;
  const res = await post(config, `${config.turnstileBase}/turnstile/v0/siteverify`,
    { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  let reply;
  try { reply = JSON.parse(res.body); } catch { throw new Refusal(502, 'upstream_error', 'Turnstile answered garbage'); }
  if (res.status !== 200) throw new Refusal(502, 'upstream_error', 'Turnstile failed');
  const hostOk = config.turnstileHostnames.size === 0 || config.turnstileHostnames.has(reply.hostname);
  const actionOk = !config.turnstileAction || reply.action === config.turnstileAction;
  if (!reply.success || !hostOk || !actionOk) throw new Refusal(403, 'captcha_failed', 'the captcha was not passed');
}

async function sendTwilio(config, e164, channel, ip, locale) {
  const form = new URLSearchParams({ To: e164, Channel: channel, RiskCheck: 'enable' });
  if (ip) form.set('DeviceIp', ip);
  if (locale) form.set('Locale', locale);
  const res = await post(config, `${config.twilioBase}/v2/Services/${config.serviceSid}/Verifications`, {
    headers: { authorization: config.twilioAuth, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: form.toString(),
  });
  let reply = {};
  try { reply = JSON.parse(res.body); } catch { /* mapped below */ }
  if (res.status === 201 || res.status === 200) return reply.sid;
  if ([21211, 60033, 21614, 60200].includes(reply.code)) throw new Refusal(400, 'invalid_phone', 'Twilio refused the number');
  if (reply.code === 60410) throw new Refusal(503, 'protection_engaged', 'Twilio fraud guard');
  if ([60202, 60203, 60212].includes(reply.code)) throw new Refusal(429, 'rate_limited', 'Twilio limit', { scope: 'phone', retry_after_s: 600 });
  throw new Refusal(502, 'upstream_error', 'Twilio failed');
}

// ---- the send route ---------------------------------------------------------------------

async function readBody(request) {
  if (!/^application\/json\s*(;|$)/i.test(request.headers.get('content-type') ?? '')) {
    throw new Refusal(400, 'invalid_request', 'the body must be application/json');
  }
  if (+(request.headers.get('content-length') ?? 0) > MAX_BODY) throw new Refusal(413, 'payload_too_large', 'body over 8 KiB');
  const text = await request.text();
  if (text.length > MAX_BODY) throw new Refusal(413, 'payload_too_large', 'body over 8 KiB');
  let body;
  try { body = JSON.parse(text); } catch { throw new Refusal(400, 'invalid_request', 'the body is not JSON'); }
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new Refusal(400, 'invalid_request', 'the body must be a JSON object');
  for (const k of Object.keys(body)) {
    if (!['phone', 'country', 'channel', 'turnstile_token', 'locale'].includes(k)) throw new Refusal(400, 'invalid_request', 'unknown field');
  }
  const str = (k) => {
    if (body[k] === undefined || body[k] === null) return undefined;
    if (typeof body[k] !== 'string') throw new Refusal(400, 'invalid_request', `\`${k}\` must be a string`);
    return body[k];
  };
  const phone = str('phone');
  if (!phone) throw new Refusal(400, 'invalid_request', '`phone` is required');
  const country = str('country') || undefined;
  if (country && !/^[A-Za-z]{2}$/.test(country)) throw new Refusal(400, 'invalid_request', '`country` must be ISO alpha-2');
  const channel = str('channel') ?? 'sms';
  if (!['sms', 'call', 'whatsapp'].includes(channel)) throw new Refusal(400, 'invalid_request', 'unknown channel');
  const locale = str('locale');
  if (locale && !/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/.test(locale)) throw new Refusal(400, 'invalid_request', 'bad locale');
  return { phone, country, channel, token: str('turnstile_token') || undefined, locale };
}

function subnetOf(ip) {
  if (/^\d+\.\d+\.\d+\.\d+$/.test(ip)) return ip.replace(/\.\d+$/, '.0/24');
  if (ip.includes(':')) return ip.split(':').slice(0, 4).join(':') + '::/64';
  return ip;
}

async function send(request, env, config, event) {
  event.route = 'send';
  const req = await readBody(request);
  event.channel = req.channel;
  const phone = parsePhone(req.phone, req.country);
  const hash = await hmacHex(config, 'number', phone.e164);
  const prefix = prefixOf(phone.e164, config.limits.prefixLength);
  Object.assign(event, { phone: mask(phone), country: phone.region, prefix, phone_hash: hash, number_type: phone.kind });
  const kv = env.OTP_GUARD_KV;

  // Lists: the number's two keys and every prefix, in one bulk read.
  const listKeys = [`safe:${hash}`, `block:${hash}`];
  for (let n = 2; n < phone.e164.length; n++) listKeys.push(`blockp:${phone.e164.slice(0, n)}`);
  const listed = await bulkGet(kv, listKeys);
  if (listKeys.slice(1).some((k) => listed.get(k) != null)) throw new Refusal(403, 'blocklisted', 'the number is blocklisted');
  const safelisted = listed.get(listKeys[0]) != null;
  event.safelisted = safelisted;

  // Policy.
  const policy = config.channels[req.channel];
  if (!policy.enabled) throw new Refusal(403, 'channel_not_allowed', `the ${req.channel} channel is not offered`);
  const cf = request.cf ?? {};
  if (!safelisted) {
    if ((!policy.allowed.has('*') && !policy.allowed.has(phone.region)) || policy.denied.has(phone.region)) {
      throw new Refusal(403, 'country_not_allowed', `${phone.region} is not allowed for ${req.channel}`);
    }
    if (!policy.types.has(phone.kind)) throw new Refusal(403, 'number_type_blocked', `${phone.kind} numbers are not allowed`);
    if ((cf.country && config.deniedIpCountries.has(cf.country)) || (cf.asn && config.deniedAsns.has(cf.asn))) {
      throw new Refusal(403, 'ip_blocked', 'the client network is denied');
    }
  }

  // Counters: the same records as otp-guard's.
  const ip = event.ip || 'unknown';
  const l = config.limits;
  const risky = cf.asn && config.riskyAsns.has(cf.asn);
  const countryQuotas = (l.countries.find((g) => g.regions.has(phone.region)) ?? l.countries.find((g) => g.regions.has('*')))?.quotas ?? [];
  const entries = [
    { kind: 'limit', scope: 'ip', key: `n:ip:${ip}`, quotas: risky ? l.ipRisky : l.ip },
    { kind: 'limit', scope: 'subnet', key: `n:subnet:${subnetOf(ip)}`, quotas: risky ? l.ipRisky : l.subnet },
    { kind: 'limit', scope: 'phone', key: `n:phone:${hash}`, quotas: l.phone },
    { kind: 'limit', scope: 'prefix', key: `n:prefix:${prefix}`, quotas: l.prefix },
    { kind: 'limit', scope: 'country', key: `n:country:${phone.region}`, quotas: countryQuotas },
    { kind: 'limit', scope: 'global', key: 'n:global', quotas: l.global },
    { kind: 'gate', key: `gate:${hash}`, gate: config.gate },
  ];
  if (!safelisted) {
    const p = config.prices;
    const weight = p.codes[phone.callingCode]?.[req.channel] ?? p.default[req.channel] ?? 0;
    entries.push({ kind: 'cap', key: 's:global', quotas: config.caps.global, weight });
    entries.push({ kind: 'cap', key: `s:country:${phone.region}`, quotas: config.caps.country, weight });
    const abroad = Boolean(cf.country) && cf.country !== phone.region;
    for (const dest of [phone.region, prefix]) {
      entries.push({ kind: 'traffic', key: `t:${dest}`, dest, detector: config.detector, abroad });
    }
  }
  await runCounters(kv, 'check', Date.now(), entries);

  await verifyTurnstile(config, req.token, `${phone.e164} ${req.channel}`, event.ip);

  const outlook = await runCounters(kv, 'reserve', Date.now(), entries);
  event.twilio_sid = await sendTwilio(config, phone.e164, req.channel, event.ip, req.locale);
  return Response.json({
    status: 'pending', channel: req.channel, to: mask(phone),
    sms_attempts: outlook.sms_attempts, call_available: outlook.call_available && config.channels.call.enabled,
    retry_after_s: outlook.retry_after_s,
  }, { status: 202 });
}

export default {
  async fetch(request, env) {
    const ipHeader = request.headers.get('cf-connecting-ip')?.trim() ?? '';
    const event = {
      time: new Date().toISOString(),
      request_id: request.headers.get('cf-ray') ?? crypto.randomUUID(),
      ip: /^[0-9a-fA-F:.]+$/.test(ipHeader) ? ipHeader : '',
      ip_country: request.cf?.country, asn: request.cf?.asn,
    };
    let response;
    try {
      CONFIG ??= loadConfig(env);
      const { pathname } = new URL(request.url);
      if (pathname === '/v1/verifications' && request.method === 'POST') response = await send(request, env, CONFIG, event);
      else if (pathname === '/v1/health') return Response.json({ status: 'ok' });
      else throw new Refusal(404, 'not_found', 'no such route');
      Object.assign(event, { decision: 'allow', reason: 'ok' });
    } catch (err) {
      const refusal = err instanceof Refusal ? err : new Refusal(500, 'config_error', String(err.message));
      Object.assign(event, { decision: 'block', reason: refusal.code, detail: refusal.message });
      response = problem(refusal);
    }
    event.status = response.status;
    if (event.route) console.log(JSON.stringify(event));
    return response;
  },
};
