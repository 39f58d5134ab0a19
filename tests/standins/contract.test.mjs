// Tests of the Twilio and Turnstile stand-ins, and of the Twilio stand-in against Twilio's OpenAPI
// contract through Prism's validating proxy. Run with: node --test tests/standins/

import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { maskNumber, startTwilioStandin } from './twilio-verify.mjs';
import { startTurnstileStandin } from './turnstile.mjs';
import { CONTRACT, startPrism } from './prism.mjs';

const SERVICE = 'VA' + 'a'.repeat(32);
const ACCOUNT = 'AC' + 'b'.repeat(32);
const TO = '+447700900958';
const AUTH = { authorization: 'Basic ' + Buffer.from(`${ACCOUNT}:token`).toString('base64') };
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

const baseUrl = (server) => `http://127.0.0.1:${server.address().port}`;

// Posts a form to the Twilio API at base and returns {status, body} with the body parsed as JSON.
async function twilio(base, operation, params, headers = AUTH) {
  const res = await fetch(`${base}/v2/Services/${SERVICE}/${operation}`, {
    method: 'POST', headers: { ...FORM, ...headers }, body: new URLSearchParams(params),
  });
  return { status: res.status, body: await res.json() };
}

async function control(base, method, path, body) {
  const res = await fetch(base + path, { method, body: body && JSON.stringify(body) });
  return res.status === 204 ? null : res.json();
}

const twilioError = (code, message, status) => ({ code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status });

// Checks a response body against a contract schema: every documented property present, with the
// documented type (or null) and pattern. Kept by hand because Prism skips schemas it cannot compile.
function assertMatchesSchema(body, schemaName) {
  const contract = JSON.parse(readFileSync(CONTRACT, 'utf8'));
  const { properties } = contract.components.schemas[schemaName];
  const types = { string: 'string', boolean: 'boolean', array: 'object', integer: 'number' };
  for (const [name, spec] of Object.entries(properties)) {
    assert.ok(name in body, `${schemaName}.${name} is missing`);
    const value = body[name];
    if (value === null || !spec.type) continue;
    assert.equal(typeof value, types[spec.type], `${schemaName}.${name} should be ${spec.type}`);
    if (spec.pattern) assert.match(value, new RegExp(spec.pattern), `${schemaName}.${name}`);
  }
}

describe('Twilio stand-in behind Prism (contract)', () => {
  let standin, prism, direct;
  before(async () => {
    standin = await startTwilioStandin({ port: 0, log: () => {} });
    direct = baseUrl(standin);
    prism = await startPrism(direct);
  });
  after(async () => {
    prism?.child.kill();
    await standin?.stop();
  });
  beforeEach(() => control(direct, 'DELETE', '/__standin/requests'));

  test('a correct create and check pass through to the stand-in', async () => {
    const created = await twilio(prism.base, 'Verifications',
      { To: TO, Channel: 'sms', RiskCheck: 'enable', DeviceIp: '203.0.113.7', Locale: 'en' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assertMatchesSchema(created.body, 'verify.v2.service.verification');
    const { code } = await control(direct, 'GET', `/__standin/last-code?to=${encodeURIComponent(TO)}`);
    const checked = await twilio(prism.base, 'VerificationCheck', { To: TO, Code: code });
    assert.equal(checked.status, 200, JSON.stringify(checked.body));
    assert.equal(checked.body.status, 'approved');
    assertMatchesSchema(checked.body, 'verify.v2.service.verification_check');
    const log = await control(direct, 'GET', '/__standin/requests');
    assert.deepEqual(log.map((r) => r.path.split('/').pop()), ['Verifications', 'VerificationCheck']);
    assert.equal(log[0].params.RiskCheck, 'enable');
  });

  for (const [name, params] of [
    ['missing Channel', { To: TO }],
    ['RiskCheck=bogus', { To: TO, Channel: 'sms', RiskCheck: 'bogus' }],
    ['Chanel instead of Channel', { To: TO, Chanel: 'sms' }],
  ]) {
    test(`a create with ${name} is refused with 422 and never reaches the stand-in`, async () => {
      const res = await twilio(prism.base, 'Verifications', params);
      assert.equal(res.status, 422, JSON.stringify(res.body));
      assert.deepEqual(await control(direct, 'GET', '/__standin/requests'), []);
    });
  }

  test('an unknown extra parameter is not refused: the schema allows additional properties', async () => {
    const res = await twilio(prism.base, 'Verifications', { To: TO, Channel: 'sms', Chanel: 'sms' });
    assert.equal(res.status, 201);
    await control(direct, 'DELETE', '/__standin/verifications');
  });
});

describe('Twilio stand-in', () => {
  let standin, base;
  const lines = [];
  before(async () => {
    standin = await startTwilioStandin({ port: 0, log: (line) => lines.push(line) });
    base = baseUrl(standin);
  });
  after(() => standin?.stop());
  beforeEach(async () => {
    lines.length = 0;
    await control(base, 'DELETE', '/__standin/faults');
    await control(base, 'DELETE', '/__standin/requests');
    await control(base, 'DELETE', '/__standin/verifications');
  });

  test('a send answers the full verification resource and prints the code with a masked number', async () => {
    const { status, body } = await twilio(base, 'Verifications', { To: TO, Channel: 'sms' });
    assert.equal(status, 201);
    assert.match(body.sid, /^VE[0-9a-f]{32}$/);
    assert.deepEqual({ ...body, sid: 'x', date_created: 'x', date_updated: 'x', send_code_attempts: 'x' }, {
      sid: 'x', service_sid: SERVICE, account_sid: ACCOUNT, to: TO, channel: 'sms', status: 'pending', valid: false,
      lookup: {}, amount: null, payee: null, send_code_attempts: 'x', date_created: 'x', date_updated: 'x', sna: null,
      url: `https://verify.twilio.com/v2/Services/${SERVICE}/Verifications/${body.sid}`,
    });
    const { code } = await control(base, 'GET', `/__standin/last-code?to=${TO}`); // a raw "+" is accepted
    assert.match(code, /^\d{6}$/);
    assert.deepEqual(lines, [`[twilio-standin] code ${code} for +44******0958 via sms (${body.sid})`]);
    assert.equal(maskNumber('+15017122661'), '+15*****2661');
  });

  test('the full number is printed only when asked for', async () => {
    const shown = [];
    const loud = await startTwilioStandin({ port: 0, showFullNumber: true, log: (line) => shown.push(line) });
    try {
      await twilio(baseUrl(loud), 'Verifications', { To: TO, Channel: 'call' });
      assert.match(shown[0], /^\[twilio-standin\] code \d{6} for \+447700900958 via call \(VE[0-9a-f]{32}\)$/);
    } finally {
      await loud.stop();
    }
  });

  test('credentials are required, and must match when configured', async () => {
    const none = await twilio(base, 'Verifications', { To: TO, Channel: 'sms' }, {});
    assert.equal(none.status, 401);
    assert.equal(none.body.code, 20003);
    const strict = await startTwilioStandin({ port: 0, accountSid: ACCOUNT, authToken: 'right', serviceSid: SERVICE, log: () => {} });
    try {
      const wrong = { authorization: 'Basic ' + Buffer.from(`${ACCOUNT}:wrong`).toString('base64') };
      const res = await twilio(baseUrl(strict), 'Verifications', { To: TO, Channel: 'sms' }, wrong);
      assert.deepEqual(res, { status: 401, body: twilioError(20003, 'Authenticate', 401) });
      const right = { authorization: 'Basic ' + Buffer.from(`${ACCOUNT}:right`).toString('base64') };
      assert.equal((await twilio(baseUrl(strict), 'Verifications', { To: TO, Channel: 'sms' }, right)).status, 201);
      const other = await fetch(`${baseUrl(strict)}/v2/Services/VA${'c'.repeat(32)}/Verifications`,
        { method: 'POST', headers: { ...FORM, ...right }, body: new URLSearchParams({ To: TO, Channel: 'sms' }) });
      assert.equal(other.status, 404);
      assert.equal((await other.json()).code, 20404);
    } finally {
      await strict.stop();
    }
  });

  test('To must be E.164 and Channel one of the documented ones (60200)', async () => {
    for (const params of [{ To: '07700900958', Channel: 'sms' }, { To: TO, Channel: 'pigeon' }, { Channel: 'sms' }]) {
      const res = await twilio(base, 'Verifications', params);
      assert.equal(res.status, 400);
      assert.equal(res.body.code, 60200);
    }
  });

  test('repeated sends keep the verification and code; the 6th answers 60203', async () => {
    const first = await twilio(base, 'Verifications', { To: TO, Channel: 'sms' });
    const { code } = await control(base, 'GET', `/__standin/last-code?to=${TO}`);
    for (let n = 2; n <= 5; n += 1) {
      const again = await twilio(base, 'Verifications', { To: TO, Channel: 'sms' });
      assert.equal(again.body.sid, first.body.sid);
      assert.equal(again.body.send_code_attempts.length, n);
    }
    assert.equal((await control(base, 'GET', `/__standin/last-code?to=${TO}`)).code, code);
    assert.deepEqual(await twilio(base, 'Verifications', { To: TO, Channel: 'sms' }),
      { status: 429, body: twilioError(60203, 'Max send attempts reached', 429) });
  });

  test('five wrong checks stay pending, then checks answer 60202 even with the right code', async () => {
    await twilio(base, 'Verifications', { To: TO, Channel: 'sms' });
    const { code } = await control(base, 'GET', `/__standin/last-code?to=${TO}`);
    const wrong = code === '000000' ? '111111' : '000000';
    for (let n = 0; n < 5; n += 1) {
      const res = await twilio(base, 'VerificationCheck', { To: TO, Code: wrong });
      assert.equal(res.status, 200);
      assert.deepEqual([res.body.status, res.body.valid], ['pending', false]);
    }
    assert.deepEqual(await twilio(base, 'VerificationCheck', { To: TO, Code: code }),
      { status: 429, body: twilioError(60202, 'Max check attempts reached', 429) });
  });

  test('the right code approves once, by To or by VerificationSid; then the check answers 20404', async () => {
    for (const by of ['To', 'VerificationSid']) {
      const { body: sent } = await twilio(base, 'Verifications', { To: TO, Channel: 'sms' });
      const { code } = await control(base, 'GET', `/__standin/last-code?to=${TO}`);
      const params = by === 'To' ? { To: TO, Code: code } : { VerificationSid: sent.sid, Code: code };
      const ok = await twilio(base, 'VerificationCheck', params);
      assert.equal(ok.status, 200);
      assert.deepEqual([ok.body.status, ok.body.valid, ok.body.sid], ['approved', true, sent.sid]);
      const gone = await twilio(base, 'VerificationCheck', params);
      assert.equal(gone.status, 404);
      assert.equal(gone.body.code, 20404);
    }
    const res = await fetch(`${base}/__standin/last-code?to=${TO}`);
    assert.equal(res.status, 404);
  });

  test('a verification expires after its lifetime', async () => {
    const short = await startTwilioStandin({ port: 0, ttlMs: 30, log: () => {} });
    try {
      await twilio(baseUrl(short), 'Verifications', { To: TO, Channel: 'sms' });
      await new Promise((resolve) => setTimeout(resolve, 40));
      assert.equal((await twilio(baseUrl(short), 'VerificationCheck', { To: TO, Code: '123456' })).status, 404);
    } finally {
      await short.stop();
    }
  });

  test('every error code the product maps can be injected, with Twilio error bodies', async () => {
    for (const [status, code] of [[400, 60200], [429, 60202], [429, 60203], [403, 60410], [403, 60605], [404, 20404],
      [429, 20429], [401, 20003], [500, 20500], [503, 20503]]) {
      await control(base, 'PUT', '/__standin/faults', { kind: 'error', status, code, message: `injected ${code}` });
      assert.deepEqual(await twilio(base, 'Verifications', { To: TO, Channel: 'sms' }),
        { status, body: twilioError(code, `injected ${code}`, status) });
    }
    const log = await control(base, 'GET', '/__standin/requests');
    assert.equal(log.length, 10);
    assert.ok(log.every((r) => r.fault === 'error' && r.params.To === TO));
  });

  test('faults match by To, path and count, and can be cleared', async () => {
    await control(base, 'PUT', '/__standin/faults', { to: TO, path: 'check', kind: 'error', code: 20429, times: 2 });
    assert.equal((await twilio(base, 'Verifications', { To: TO, Channel: 'sms' })).status, 201);
    assert.equal((await twilio(base, 'VerificationCheck', { To: '+15017122661', Code: '1' })).status, 404);
    assert.equal((await twilio(base, 'VerificationCheck', { To: TO, Code: '1' })).status, 429);
    assert.equal((await twilio(base, 'VerificationCheck', { To: TO, Code: '1' })).status, 429);
    assert.equal((await twilio(base, 'VerificationCheck', { To: TO, Code: '1' })).status, 200);
    await control(base, 'PUT', '/__standin/faults', { kind: 'error', status: 503, times: 5 });
    await control(base, 'DELETE', '/__standin/faults');
    assert.equal((await twilio(base, 'VerificationCheck', { To: TO, Code: '1' })).status, 200);
  });

  test('malformed, close and hang faults break the response as described', async () => {
    await control(base, 'PUT', '/__standin/faults', [{ kind: 'malformed' }, { kind: 'close' }, { kind: 'hang' }]);
    const malformed = await fetch(`${base}/v2/Services/${SERVICE}/Verifications`,
      { method: 'POST', headers: { ...FORM, ...AUTH }, body: `To=${encodeURIComponent(TO)}&Channel=sms` });
    assert.equal(malformed.status, 201);
    await assert.rejects(malformed.json(), SyntaxError);
    await assert.rejects(twilio(base, 'Verifications', { To: TO, Channel: 'sms' }), TypeError); // socket closed
    await assert.rejects(fetch(`${base}/v2/Services/${SERVICE}/Verifications`, {
      method: 'POST', headers: { ...FORM, ...AUTH }, body: `To=${encodeURIComponent(TO)}&Channel=sms`,
      signal: AbortSignal.timeout(200),
    }), { name: 'TimeoutError' });
    const log = await control(base, 'GET', '/__standin/requests');
    assert.deepEqual(log.map((r) => r.fault), ['malformed', 'close', 'hang']);
  });
});

describe('Turnstile stand-in', () => {
  let standin, url, base;
  const LOCAL = 'local-secret';
  before(async () => {
    standin = await startTurnstileStandin({ port: 0, secretKey: LOCAL, log: () => {} });
    base = baseUrl(standin);
    url = `${base}/turnstile/v0/siteverify`;
  });
  after(() => standin?.stop());
  beforeEach(() => control(base, 'DELETE', '/__standin/faults'));

  // Calls siteverify with a form body, or JSON when asJson is set, and returns the parsed answer.
  async function siteverify(fields, asJson = false) {
    const res = await fetch(url, asJson
      ? { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(fields) }
      : { method: 'POST', body: new URLSearchParams(fields) });
    assert.equal(res.status, 200);
    return res.json();
  }

  test('the documented test secrets pass, fail and report a spent token for the dummy token', async () => {
    const pass = await siteverify({ secret: '1x0000000000000000000000000000000AA', response: 'XXXX.DUMMY.TOKEN.XXXX' });
    assert.ok(!Number.isNaN(Date.parse(pass.challenge_ts)));
    assert.deepEqual({ ...pass, challenge_ts: 'x' }, { success: true, challenge_ts: 'x', hostname: 'example.com',
      'error-codes': [], action: '', cdata: '', metadata: { result_with_testing_key: true } });
    for (const [secret, error] of [['2x0000000000000000000000000000000AA', 'invalid-input-response'],
      ['3x0000000000000000000000000000000AA', 'timeout-or-duplicate']]) {
      assert.deepEqual(await siteverify({ secret, response: 'XXXX.DUMMY.TOKEN.XXXX' }, true),
        { success: false, 'error-codes': [error], messages: [], metadata: { result_with_testing_key: true } });
    }
    const real = await siteverify({ secret: '1x0000000000000000000000000000000AA', response: 'ok:example.com:send' });
    assert.deepEqual(real['error-codes'], ['invalid-input-secret']);
  });

  test('missing or invalid inputs give the documented error codes', async () => {
    for (const [fields, error] of [
      [{ response: 'ok::' }, 'missing-input-secret'],
      [{ secret: LOCAL }, 'missing-input-response'],
      [{ secret: LOCAL, response: 'ok::' + 'a'.repeat(2048) }, 'invalid-input-response'],
      [{ secret: 'someone-elses-secret', response: 'ok::' }, 'invalid-input-secret'],
      [{ secret: LOCAL, response: 'fail' }, 'invalid-input-response'],
    ]) {
      const answer = await siteverify(fields);
      assert.deepEqual([answer.success, answer['error-codes']], [false, [error]], JSON.stringify(fields));
    }
  });

  test('local-mode tokens succeed once with their hostname and action, in any body encoding', async () => {
    const form = await siteverify({ secret: LOCAL, response: 'ok:otp.example.com:send-otp', remoteip: '203.0.113.7' });
    assert.deepEqual([form.success, form.hostname, form.action], [true, 'otp.example.com', 'send-otp']);
    const json = await siteverify({ secret: LOCAL, response: 'ok::' }, true);
    assert.deepEqual([json.success, json.hostname, json.action], [true, '', '']);
    const multipart = new FormData();
    multipart.append('secret', LOCAL);
    multipart.append('response', 'ok:a.example:b');
    assert.equal((await (await fetch(url, { method: 'POST', body: multipart })).json()).hostname, 'a.example');
    assert.deepEqual((await siteverify({ secret: LOCAL, response: 'ok::' }))['error-codes'], ['timeout-or-duplicate']);
  });

  test('a repeated token with the same idempotency_key returns the original result', async () => {
    const key = crypto.randomUUID();
    const first = await siteverify({ secret: LOCAL, response: 'ok:h.example:retry', idempotency_key: key });
    assert.equal(first.success, true);
    assert.deepEqual(await siteverify({ secret: LOCAL, response: 'ok:h.example:retry', idempotency_key: key }, true), first);
    const other = await siteverify({ secret: LOCAL, response: 'ok:h.example:retry', idempotency_key: crypto.randomUUID() });
    assert.deepEqual(other['error-codes'], ['timeout-or-duplicate']);
  });

  test('faults and the redacted request log', async () => {
    await control(base, 'DELETE', '/__standin/requests');
    await control(base, 'PUT', '/__standin/faults', [{ kind: 'error', status: 503 }, { kind: 'malformed' }, { kind: 'close' }]);
    const error = await fetch(url, { method: 'POST', body: new URLSearchParams({ secret: LOCAL, response: 'ok:x:y' }) });
    assert.equal(error.status, 503);
    assert.deepEqual((await error.json())['error-codes'], ['internal-error']);
    const malformed = await fetch(url, { method: 'POST', body: new URLSearchParams({ secret: LOCAL, response: 'ok:x:y' }) });
    await assert.rejects(malformed.json(), SyntaxError);
    await assert.rejects(fetch(url, { method: 'POST', body: new URLSearchParams({ secret: LOCAL, response: 'ok:x:y' }) }), TypeError);
    const log = await control(base, 'GET', '/__standin/requests');
    assert.equal(log.length, 3);
    assert.deepEqual(log[0].fields, { secret: '<redacted>', response: 'ok:x:y' });
    assert.deepEqual(log.map((r) => r.fault), ['error', 'malformed', 'close']);
    await siteverify({ secret: LOCAL, response: 'ok:long.example.com:send' });
    assert.equal((await control(base, 'GET', '/__standin/requests'))[3].fields.response, 'ok:long.');
  });
});
