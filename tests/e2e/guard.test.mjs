// The guard end to end: the built wasm worker in workerd, every route and every error
// code reachable, and proof that refused requests never reach Twilio (or Turnstile).

import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_TOKEN, buildWorker, DUMMY_TOKEN, eventually, startGuard } from './harness.mjs';

const GB_MOBILE = '+447400123456';
const GB_FIXED = '+441212345678';
const GB_PREMIUM = '+449012345678';
const CG_MOBILE = '+242061234567';
const FR_MOBILE = '+33612345678';
const ORIGIN = 'https://app.example.com';
// Between the worker and the Twilio stand-in is Prism (the contract check), which answers
// 500 for a closed connection and for an unreadable body. In production those are "Twilio
// could not be reached" and "Twilio answered with an unreadable verification" (both tested
// natively in tests/native/pipeline.rs).
const VIA_PRISM = /^Twilio failed \(500\)$/;

/** Asserts a problem+json answer with the given status and code. */
function assertProblem(res, status, code) {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.match(res.headers.get('content-type'), /^application\/problem\+json/);
  assert.equal(res.body.code, code);
  assert.equal(res.body.status, status);
  assert.equal(res.body.type, `urn:otp-guard:error:${code}`);
  assert.equal(typeof res.body.title, 'string');
  assert.equal(typeof res.body.detail, 'string');
}

const send = (guard, body, headers) => guard.call('POST', '/v1/verifications', { body, headers });
const check = (guard, body) => guard.call('POST', '/v1/verifications/check', { body });

describe('the guard in workerd', { concurrency: false }, () => {
  let guard;
  before(async () => {
    buildWorker();
    guard = await startGuard({
      vars: { DENIED_COUNTRIES_SMS: 'CG', ALLOWED_ORIGINS: ORIGIN, VOICE_GATE_MIN_DELAY_S: '30' },
    });
  });
  after(() => guard?.stop());
  beforeEach(() => guard.resetUpstreams());

  async function assertNoUpstreamCall() {
    assert.deepEqual(await guard.twilioRequests(), [], 'Twilio was called');
    assert.deepEqual(await guard.turnstileRequests(), [], 'Turnstile was called');
  }

  test('health', async () => {
    const res = await guard.call('GET', '/v1/health');
    assert.equal(res.status, 200);
    assert.equal(res.body.status, 'ok');
    assert.match(res.body.version, /^\d+\.\d+\.\d+/);
    assertProblem(await guard.call('POST', '/v1/health', { body: {} }), 405, 'method_not_allowed');
  });

  test('unknown routes and wrong methods', async () => {
    assertProblem(await guard.call('GET', '/v1/nope'), 404, 'not_found');
    assertProblem(await guard.call('GET', '/v1/admin/stats'), 401, 'unauthorized');
    const res = await guard.call('GET', '/v1/verifications');
    assertProblem(res, 405, 'method_not_allowed');
    assert.equal(res.headers.get('allow'), 'POST');
    assertProblem(await guard.call('DELETE', '/v1/verifications/check'), 405, 'method_not_allowed');
    await assertNoUpstreamCall();
  });

  test('a valid allowed number is sent, masked, and its code approves', async () => {
    const res = await send(guard, { phone: '+44 7400 123456', turnstile_token: DUMMY_TOKEN, locale: 'en-GB' });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.deepEqual(res.body, {
      status: 'pending', channel: 'sms', to: '+44******3456', sms_attempts: 1, call_available: false, retry_after_s: 30,
    });
    const [sent] = await guard.twilioRequests();
    assert.deepEqual(sent.params, { To: GB_MOBILE, Channel: 'sms', RiskCheck: 'enable', DeviceIp: '127.0.0.1', Locale: 'en-GB' });
    const [verify] = await guard.turnstileRequests();
    assert.equal(verify.fields.response, DUMMY_TOKEN.slice(0, 8));
    assert.equal(verify.fields.remoteip, '127.0.0.1');
    assert.match(verify.fields.idempotency_key, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);

    const wrong = await check(guard, { phone: '07400 123456', country: 'GB', code: '000000' });
    assert.equal(wrong.status, 200);
    assert.deepEqual(wrong.body, { status: 'pending', valid: false });
    const { code } = await guard.lastCode(GB_MOBILE);
    const right = await check(guard, { phone: 'tel:+44-7400-123456', code });
    assert.equal(right.status, 200);
    assert.deepEqual(right.body, { status: 'approved', valid: true });
    assertProblem(await check(guard, { phone: GB_MOBILE, code }), 404, 'not_found');
  });

  test('every documented phone form reaches Twilio as the same E.164', async () => {
    const forms = [
      { phone: '+33 6 12 34 56 78' }, { phone: '06.12.34.56.78', country: 'FR' }, { phone: '0033 612345678' },
      { phone: '011 33 6 12 34 56 78' }, { phone: 'tel:+33-6-12-34-56-78' }, { phone: '+٣٣٦١٢٣٤٥٦٧٨' },
      { phone: '＋３３ ６１２３４５６７８' }, { phone: '(06) 12-34-56-78', country: 'fr' },
    ];
    const seen = [];
    for (const [i, form] of forms.entries()) {
      // Distinct numbers per form, so the SMS back-off does not interfere.
      const variant = { ...form, phone: form.phone.replace(/8$/, String(i)).replace(/８$/, String(i)).replace(/٨$/, String(i)) };
      const res = await send(guard, { ...variant, turnstile_token: DUMMY_TOKEN });
      assert.equal(res.status, 202, `${JSON.stringify(variant)} → ${JSON.stringify(res.body)}`);
      seen.push(res.body.to);
    }
    const sent = (await guard.twilioRequests()).map((r) => r.params.To);
    assert.deepEqual(sent, forms.map((_, i) => FR_MOBILE.replace(/8$/, String(i))));
    for (const masked of seen) assert.match(masked, /^\+33\*{5}\d{4}$/);
  });

  test('malformed requests are invalid_request and reach nobody', async () => {
    const bad = [
      { raw: '{"phone":', headers: { 'content-type': 'application/json' } },
      { raw: '[1,2]', headers: { 'content-type': 'application/json' } },
      { raw: '"+447400123456"', headers: { 'content-type': 'application/json' } },
      { raw: JSON.stringify({ phone: GB_MOBILE }), headers: { 'content-type': 'text/plain' } },
      { raw: JSON.stringify({ phone: GB_MOBILE }), headers: {} },
      { body: { phone: 447400123456 } },
      { body: {} },
      { body: { phone: GB_MOBILE, channel: 'fax' } },
      { body: { phone: GB_MOBILE, channel: 7 } },
      { body: { phone: GB_MOBILE, country: 'GBR' } },
      { body: { phone: GB_MOBILE, locale: '<script>' } },
      { body: { phone: GB_MOBILE, turnstile_token: 'x'.repeat(2049) } },
      { body: { phone: GB_MOBILE, phone_number: GB_MOBILE } },
      { raw: '{"phone":"+447400123456"}\u0000garbage', headers: { 'content-type': 'application/json' } },
    ];
    for (const request of bad) {
      const res = await guard.call('POST', '/v1/verifications', request);
      assertProblem(res, 400, 'invalid_request');
      assert.ok(!JSON.stringify(res.body).includes('7400123456'), 'the number is echoed');
    }
    assertProblem(await guard.call('POST', '/v1/verifications/check', { body: { phone: GB_MOBILE, code: '12' } }), 400, 'invalid_request');
    await assertNoUpstreamCall();
  });

  test('bodies over 8 KiB are payload_too_large', async () => {
    const big = JSON.stringify({ phone: GB_MOBILE, turnstile_token: 'x'.repeat(9000) });
    assertProblem(await guard.call('POST', '/v1/verifications', { raw: big, headers: { 'content-type': 'application/json' } }), 413, 'payload_too_large');
    // Without a Content-Length (streamed), the limit still holds.
    const stream = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode(big)); c.close(); } });
    const res = await fetch(guard.base + '/v1/verifications', {
      method: 'POST', body: stream, duplex: 'half', headers: { 'content-type': 'application/json' },
    });
    assert.equal(res.status, 413);
    await assertNoUpstreamCall();
  });

  test('invalid numbers are invalid_phone and reach nobody', async () => {
    for (const phone of ['', 'hello', '+44', '07400 123456', '+447700900958', '1-800-FLOWERS', '+999123456789', '1'.repeat(80), '112', '+44 7400 123456 ext. 12']) {
      const res = await send(guard, { phone, turnstile_token: DUMMY_TOKEN });
      assertProblem(res, 400, 'invalid_phone');
    }
    assertProblem(await send(guard, { phone: '07400 123456', country: 'ZZ', turnstile_token: DUMMY_TOKEN }), 400, 'invalid_phone');
    assertProblem(await check(guard, { phone: 'nope', code: '123456' }), 400, 'invalid_phone');
    await assertNoUpstreamCall();
  });

  test('country, number-type and channel policy', async () => {
    const cases = [
      [{ phone: CG_MOBILE }, 403, 'country_not_allowed'],
      [{ phone: GB_PREMIUM }, 403, 'number_type_blocked'],
      [{ phone: GB_FIXED }, 403, 'number_type_blocked'],
      [{ phone: '+448001234567' }, 403, 'number_type_blocked'],
      [{ phone: GB_MOBILE, channel: 'whatsapp' }, 403, 'channel_not_allowed'],
      [{ phone: '+447400123499', channel: 'call' }, 403, 'channel_not_allowed'],
    ];
    for (const [body, status, code] of cases) {
      assertProblem(await send(guard, { ...body, turnstile_token: DUMMY_TOKEN }), status, code);
    }
    await assertNoUpstreamCall();
    // Fixed lines cannot receive SMS: they may be called directly.
    const call = await send(guard, { phone: GB_FIXED, channel: 'call', turnstile_token: DUMMY_TOKEN });
    assert.equal(call.status, 202, JSON.stringify(call.body));
    assert.equal((await guard.twilioRequests())[0].params.Channel, 'call');
  });

  test('a resend inside the back-off is rate_limited with an exact wait', async () => {
    const phone = '+447400123401';
    assert.equal((await send(guard, { phone, turnstile_token: DUMMY_TOKEN })).status, 202);
    const res = await send(guard, { phone, turnstile_token: DUMMY_TOKEN });
    assertProblem(res, 429, 'rate_limited');
    assert.equal(res.body.scope, 'phone');
    assert.ok(res.body.retry_after_s > 0 && res.body.retry_after_s <= 30, String(res.body.retry_after_s));
    assert.equal(res.headers.get('retry-after'), String(res.body.retry_after_s));
    assert.equal((await guard.twilioRequests()).length, 1);
  });

  test('a missing captcha token is captcha_failed and reaches no one', async () => {
    assertProblem(await send(guard, { phone: '+447400123402' }), 403, 'captcha_failed');
    assertProblem(await send(guard, { phone: '+447400123402', turnstile_token: '' }), 403, 'captcha_failed');
    await assertNoUpstreamCall();
  });

  /**
   * The decision behind the last answer to `phone` (masked): its console line and its D1
   * row (written after the response), which must agree and carry `code` and a detail.
   */
  async function loggedDecision(phone, code, detail) {
    const masked = `${phone.slice(0, 3)}${'*'.repeat(phone.length - 7)}${phone.slice(-4)}`;
    const line = guard.events().findLast((e) => e.route === 'send' && e.phone === masked);
    assert.ok(line, `no decision line for ${masked}`);
    assert.equal(line.reason, code);
    assert.match(line.detail ?? '', detail, `the log line says what happened (${line.detail})`);
    const row = await eventually(async () => {
      const res = await guard.call('GET', `/v1/admin/events?route=send&reason=${code}&order=desc&limit=50`,
        { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      return res.body.events?.find((r) => r.request_id === line.request_id);
    }, `the ${code} decision for ${masked} in D1`);
    assert.deepEqual([row.reason, row.status, row.detail, row.phone], [code, line.status, line.detail, masked]);
    return line;
  }

  /** No state lost: with the upstream back, the same number is sent at once as its first SMS. */
  async function sendsAsFirst(phone, ip) {
    const res = await send(guard, { phone, turnstile_token: DUMMY_TOKEN }, { 'cf-connecting-ip': ip });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.deepEqual([res.body.sms_attempts, res.body.retry_after_s], [1, 30], 'the failed attempt was not counted');
  }

  test('Twilio failures map to contract codes, with exactly one send, logged, and no state lost', async () => {
    const cases = [
      [{ kind: 'error', status: 400, code: 60200 }, 400, 'invalid_phone', /^Twilio refused the phone number as invalid$/],
      [{ kind: 'error', status: 429, code: 60203 }, 429, 'rate_limited', /\(phone limit\)/],
      [{ kind: 'error', status: 403, code: 60410 }, 503, 'protection_engaged', /^Twilio's fraud protection blocked/],
      [{ kind: 'error', status: 403, code: 60605 }, 403, 'country_not_allowed', /not allowed on this channel/],
      [{ kind: 'error', status: 429, code: 20429 }, 429, 'rate_limited', /\(global limit\)/],
      [{ kind: 'error', status: 404, code: 20404 }, 500, 'config_error', /^TWILIO_VERIFY_SERVICE_SID: Twilio does not know/],
      [{ kind: 'error', status: 500, code: 20500 }, 502, 'upstream_error', /^Twilio failed \(500\)$/],
      [{ kind: 'error', status: 503 }, 502, 'upstream_error', /^Twilio failed \(503\)$/],
      [{ kind: 'malformed' }, 502, 'upstream_error', VIA_PRISM],
      [{ kind: 'close' }, 502, 'upstream_error', VIA_PRISM],
      [{ kind: 'hang' }, 502, 'upstream_error', /^Twilio did not answer in time$/],
    ];
    for (const [i, [fault, status, code, detail]] of cases.entries()) {
      await guard.resetUpstreams();
      await guard.twilioFault({ ...fault, path: 'verifications', times: 1 });
      // Each case its own number block and client network, so no shared quota fills.
      const [phone, ip] = [`+4477${10 + i}1235${String(i).padStart(2, '0')}`, `198.51.${100 + i}.7`];
      const res = await send(guard, { phone, turnstile_token: DUMMY_TOKEN }, { 'cf-connecting-ip': ip });
      assertProblem(res, status, code);
      assert.equal((await guard.twilioRequests()).length, 1, `${JSON.stringify(fault)}: never two sends`);
      await loggedDecision(phone, code, detail).catch((e) => { throw new Error(`${JSON.stringify(fault)}: ${e.message}`); });
      await sendsAsFirst(phone, ip);
      assert.equal((await guard.twilioRequests()).length, 2, `${JSON.stringify(fault)}: one send for the retry`);
    }
  });

  test('a check Twilio cannot find is not_found; check failures are upstream_error', async () => {
    await guard.twilioFault({ kind: 'error', status: 404, code: 20404, path: 'check' });
    assertProblem(await check(guard, { phone: GB_MOBILE, code: '123456' }), 404, 'not_found');
    await guard.twilioFault({ kind: 'error', status: 429, code: 60202, path: 'check' });
    assertProblem(await check(guard, { phone: GB_MOBILE, code: '123456' }), 429, 'rate_limited');
    await guard.twilioFault({ kind: 'hang', path: 'check' });
    assertProblem(await check(guard, { phone: GB_MOBILE, code: '123456' }), 502, 'upstream_error');
  });

  test('a Turnstile failure fails closed before Twilio, logged, and no state lost', async () => {
    const cases = [
      [{ kind: 'error', status: 500 }, /^Turnstile answered HTTP 500$/],
      [{ kind: 'hang' }, /^Turnstile did not answer in time$/],
      [{ kind: 'malformed' }, /^Turnstile answered with an unreadable reply$/],
      [{ kind: 'close' }, /^Turnstile could not be reached$/],
    ];
    for (const [i, [fault, detail]] of cases.entries()) {
      await guard.resetUpstreams();
      await guard.turnstileFault({ ...fault, times: 1 });
      const [phone, ip] = [`+4478${10 + i}1234${10 + i}`, `198.51.${120 + i}.7`];
      assertProblem(await send(guard, { phone, turnstile_token: DUMMY_TOKEN }, { 'cf-connecting-ip': ip }), 502, 'upstream_error');
      assert.deepEqual(await guard.twilioRequests(), []);
      await loggedDecision(phone, 'upstream_error', detail);
      await sendsAsFirst(phone, ip);
      assert.equal((await guard.twilioRequests()).length, 1);
    }
  });

  test('CORS: the allowed origin only, preflight included', async () => {
    const preflight = await guard.call('OPTIONS', '/v1/verifications', {
      headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), ORIGIN);
    assert.match(preflight.headers.get('access-control-allow-methods'), /POST/);
    assert.match(preflight.headers.get('access-control-allow-headers'), /Content-Type/i);

    const evil = await guard.call('OPTIONS', '/v1/verifications', {
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    assert.equal(evil.headers.get('access-control-allow-origin'), null);

    const res = await send(guard, { phone: 'x' }, { origin: ORIGIN });
    assert.equal(res.headers.get('access-control-allow-origin'), ORIGIN);
    assert.match(res.headers.get('access-control-expose-headers'), /Retry-After/);
    const other = await send(guard, { phone: 'x' }, { origin: 'https://evil.example' });
    assert.equal(other.headers.get('access-control-allow-origin'), null);
  });

  test('every decision is logged once, masked', async () => {
    const events = guard.events();
    assert.ok(events.length > 20, `${events.length} events`);
    for (const e of events) {
      assert.match(e.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.ok(['allow', 'block'].includes(e.decision));
      if (e.phone) assert.match(e.phone, /^\+\d{1,3}\*+\d{1,4}$/);
    }
    const sent = events.filter((e) => e.twilio_sid);
    assert.ok(sent.every((e) => /^VE[0-9a-f]{32}$/.test(e.twilio_sid)));
  });
});

describe('network policy from request.cf', () => {
  let guard;
  // wrangler dev's placeholder request.cf reports country US (no network here to fetch a real one).
  before(async () => { guard = await startGuard({ vars: { DENIED_IP_COUNTRIES: 'US' } }); });
  after(() => guard?.stop());

  test('a denied IP country is ip_blocked before anything is called', async () => {
    const res = await send(guard, { phone: GB_MOBILE, turnstile_token: DUMMY_TOKEN });
    assertProblem(res, 403, 'ip_blocked');
    assert.deepEqual(await guard.twilioRequests(), []);
  });
});

describe('configuration errors', () => {
  for (const [name, options, key, value] of [
    ['an invalid var', { vars: { MODE: 'block-everything' } }, 'MODE', 'block-everything'],
    ['a missing secret', { secrets: { TWILIO_AUTH_TOKEN: null } }, 'TWILIO_AUTH_TOKEN', null],
    ['a malformed secret', { secrets: { TWILIO_VERIFY_SERVICE_SID: 'VA-not-a-real-sid-value' } }, 'TWILIO_VERIFY_SERVICE_SID', 'VA-not-a-real-sid-value'],
  ]) {
    test(`${name} answers config_error naming the key, never the value`, async () => {
      const guard = await startGuard(options);
      try {
        for (const [method, path] of [['POST', '/v1/verifications'], ['GET', '/v1/health']]) {
          const res = await guard.call(method, path, { body: method === 'POST' ? { phone: GB_MOBILE } : undefined });
          assertProblem(res, 500, 'config_error');
          assert.ok(res.body.detail.startsWith(`${key}:`), res.body.detail);
          if (value) assert.ok(!JSON.stringify(res.body).includes(value));
        }
        assert.deepEqual(await guard.twilioRequests(), []);
      } finally {
        await guard.stop();
      }
    });
  }
});
