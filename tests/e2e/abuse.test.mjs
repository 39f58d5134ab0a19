// Abuse controls end to end in workerd: every rate-limit scope, the captcha outcomes,
// the voice gate, the lists through the admin API, monitor mode, and exact counting in
// the Durable Object backend against KV mode's overshoot.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_TOKEN, buildWorker, DUMMY_TOKEN, FAIL_SECRET, LOCAL_TURNSTILE_SECRET, ROOT, SPENT_SECRET, startGuard } from './harness.mjs';

before(() => buildWorker());

const send = (guard, body, ip = '198.51.100.10') =>
  guard.call('POST', '/v1/verifications', { body: { turnstile_token: DUMMY_TOKEN, ...body }, headers: { 'cf-connecting-ip': ip } });

function assertLimited(res, scope) {
  assert.equal(res.status, 429, JSON.stringify(res.body));
  assert.equal(res.body.code, 'rate_limited');
  assert.equal(res.body.scope, scope);
  assert.ok(Number.isInteger(res.body.retry_after_s) && res.body.retry_after_s > 0);
  assert.equal(res.headers.get('retry-after'), String(res.body.retry_after_s));
}

describe('each rate-limit scope, reached and reported', { concurrency: false }, () => {
  let guard;
  before(async () => {
    guard = await startGuard({
      vars: {
        VOICE_GATE_MIN_DELAY_S: '0', LIMITS_PHONE: '1/1h', LIMITS_PREFIX: '2/1h', PREFIX_LENGTH: '9',
        COUNTRY_LIMITS: 'FR:2/1h;*:1000/1h', LIMITS_GLOBAL: '10/1h', LIMITS_IP: '3/1h', LIMITS_SUBNET: '5/1h',
      },
    });
  });
  after(() => guard?.stop());

  test('phone', async () => {
    assert.equal((await send(guard, { phone: '+447400100001' }, '198.51.100.1')).status, 202);
    assertLimited(await send(guard, { phone: '+447400100001' }, '198.51.100.2'), 'phone');
  });
  test('prefix (sequential numbers)', async () => {
    assert.equal((await send(guard, { phone: '+447400200001' }, '198.51.101.1')).status, 202);
    assert.equal((await send(guard, { phone: '+447400200002' }, '198.51.102.1')).status, 202);
    assertLimited(await send(guard, { phone: '+447400200003' }, '198.51.103.1'), 'prefix');
  });
  test('country', async () => {
    assert.equal((await send(guard, { phone: '+33612345678' }, '198.51.104.1')).status, 202);
    assert.equal((await send(guard, { phone: '+33622345678' }, '198.51.105.1')).status, 202);
    assertLimited(await send(guard, { phone: '+33632345678' }, '198.51.106.1'), 'country');
  });
  test('ip', async () => {
    // Numbers in different prefixes, so only the IP's own quota fills.
    for (let i = 0; i < 3; i++) assert.equal((await send(guard, { phone: `+447401${i}00000` }, '203.0.113.9')).status, 202);
    assertLimited(await send(guard, { phone: '+447401900000' }, '203.0.113.9'), 'ip');
  });
  test('subnet (/24)', async () => {
    // Two more from other hosts in 203.0.113.0/24 fill its 5; a sixth host is refused.
    for (const host of [1, 2]) assert.equal((await send(guard, { phone: `+447402${host}00000` }, `203.0.113.${host}0`)).status, 202);
    assertLimited(await send(guard, { phone: '+447402900000' }, '203.0.113.99'), 'subnet');
  });
  test('global', async () => {
    // 1 + 2 + 2 + 3 + 2 = 10 sends so far fill the global 10: a new number, prefix,
    // country and network is refused as global.
    assertLimited(await send(guard, { phone: '+4915123456789' }, '192.0.2.1'), 'global');
  });
  test('IPv6 clients are grouped by /64', async () => {
    const res = await send(guard, { phone: '+4915223456789' }, '2001:db8:1:2::5');
    assertLimited(res, 'global');
  });
});

describe('Turnstile outcomes', () => {
  test('Cloudflare test secrets: always fails, already spent', async () => {
    for (const [secret, detail] of [[FAIL_SECRET, /missing or invalid/], [SPENT_SECRET, /expired or was already used/]]) {
      const guard = await startGuard({ secrets: { TURNSTILE_SECRET_KEY: secret } });
      try {
        const res = await send(guard, { phone: '+447400123456' });
        assert.equal(res.status, 403, JSON.stringify(res.body));
        assert.equal(res.body.code, 'captcha_failed');
        assert.match(res.body.detail, detail);
        assert.deepEqual(await guard.twilioRequests(), []);
      } finally {
        await guard.stop();
      }
    }
  });

  test('hostname and action checks, single use, idempotent retry, siteverify down', async () => {
    const guard = await startGuard({
      secrets: { TURNSTILE_SECRET_KEY: LOCAL_TURNSTILE_SECRET },
      vars: { TURNSTILE_HOSTNAMES: 'app.example.com', TURNSTILE_ACTION: 'signup', VOICE_GATE_MIN_DELAY_S: '0' },
    });
    try {
      const code = async (phone, token) => (await send(guard, { phone, turnstile_token: token })).body.code ?? 'sent';
      assert.equal(await code('+447400500001', 'ok:app.example.com:signup'), 'sent');
      assert.equal(await code('+447400500002', 'ok:evil.example:signup'), 'captcha_failed');
      assert.equal(await code('+447400500003', 'ok:app.example.com:login'), 'captcha_failed');
      assert.equal(await code('+447400500004', 'fail'), 'captcha_failed');
      // A spent token replayed for another number is a duplicate...
      assert.equal(await code('+447400500005', 'ok:app.example.com:signup'), 'captcha_failed');
      // ...but the same request retried is not (same idempotency_key): it passes the
      // captcha and meets the number's own limits instead.
      const retried = await send(guard, { phone: '+447400500001', turnstile_token: 'ok:app.example.com:signup' });
      assert.notEqual(retried.body.code, 'captcha_failed', JSON.stringify(retried.body));
      await guard.turnstileFault({ kind: 'hang' });
      const down = await send(guard, { phone: '+447400500006', turnstile_token: 'ok:app.example.com:signup' });
      assert.equal(down.status, 502);
      assert.equal(down.body.code, 'upstream_error');
      const sent = (await guard.twilioRequests()).map((r) => r.params.To);
      assert.ok(!sent.includes('+447400500006'));
    } finally {
      await guard.stop();
    }
  });
});

describe('the voice gate', () => {
  let guard;
  before(async () => { guard = await startGuard({ vars: { VOICE_GATE_MIN_DELAY_S: '1' } }); });
  after(() => guard?.stop());

  test('a call only after three time-delayed SMS', async () => {
    const phone = '+447400600001';
    const call = () => send(guard, { phone, channel: 'call' });
    assert.equal((await call()).body.code, 'channel_not_allowed');
    for (const [i, wait] of [1, 2, 4].entries()) {
      const res = await send(guard, { phone });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      assert.equal(res.body.sms_attempts, i + 1);
      assert.equal(res.body.retry_after_s, wait);
      assert.equal(res.body.call_available, i === 2);
      if (i < 2) {
        assert.equal((await call()).body.code, 'channel_not_allowed');
        assertLimited(await send(guard, { phone }), 'phone');
      }
      await new Promise((r) => setTimeout(r, wait * 1000 + 50));
    }
    const placed = await call();
    assert.equal(placed.status, 202, JSON.stringify(placed.body));
    const channels = (await guard.twilioRequests()).filter((r) => r.params.To === phone).map((r) => r.params.Channel);
    assert.deepEqual(channels, ['sms', 'sms', 'sms', 'call']);
  });
});

describe('lists and the admin API', () => {
  let guard;
  before(async () => { guard = await startGuard({ vars: { DENIED_COUNTRIES_SMS: 'GB', VOICE_GATE_MIN_DELAY_S: '0' } }); });
  after(() => guard?.stop());
  const admin = (method, path, token = ADMIN_TOKEN) =>
    guard.call(method, path, { headers: token ? { authorization: `Bearer ${token}` } : {} });

  test('empty lists read as empty', async () => {
    for (const list of ['safelist', 'blocklist']) {
      const res = await admin('GET', `/v1/admin/${list}`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body.entries, []);
    }
  });

  test('401 without the token; 400 for a bad entry; 204 for a good one', async () => {
    for (const token of [null, 'wrong-token-0123456789abcdef']) {
      const res = await admin('PUT', '/v1/admin/safelist/+447400700001', token);
      assert.equal(res.status, 401);
      assert.equal(res.body.code, 'unauthorized');
      assert.match(res.headers.get('content-type'), /problem\+json/);
    }
    assert.equal((await admin('PUT', '/v1/admin/safelist/447400700001')).body.code, 'invalid_phone');
    assert.equal((await admin('PUT', '/v1/admin/safelist/+242')).body.code, 'invalid_phone');
    assert.equal((await admin('GET', '/v1/admin/safelist/+447400700001')).status, 405);
  });

  test('a safelisted number skips the country policy, a blocklisted prefix is refused', async () => {
    const phone = '+447400700002';
    assert.equal((await send(guard, { phone })).body.code, 'country_not_allowed');
    assert.equal((await admin('PUT', `/v1/admin/safelist/${encodeURIComponent(phone)}`)).status, 204);
    assert.equal((await send(guard, { phone })).status, 202);
    assert.equal((await admin('PUT', '/v1/admin/blocklist/+4474007')).status, 204);
    const listed = await admin('GET', '/v1/admin/blocklist');
    assert.deepEqual(listed.body.entries.map((e) => [e.entry, e.kind]), [['+4474007', 'prefix']]);
    const safe = await admin('GET', '/v1/admin/safelist');
    assert.deepEqual(safe.body.entries.map((e) => e.entry), ['+44******0002']);
    const blocked = await send(guard, { phone });
    assert.equal(blocked.status, 403);
    assert.equal(blocked.body.code, 'blocklisted');
    assert.equal((await send(guard, { phone: '+33612340001' })).status, 202, 'other numbers are not affected');
    assert.equal((await admin('DELETE', '/v1/admin/blocklist/+4474007')).status, 204);
    assert.equal((await send(guard, { phone })).status, 202);
    assert.equal((await admin('DELETE', `/v1/admin/safelist/${phone}`)).status, 204);
    assert.equal((await send(guard, { phone })).body.code, 'country_not_allowed');
  });

  test('without ADMIN_TOKEN the admin API does not exist', async () => {
    const closed = await startGuard({ secrets: { ADMIN_TOKEN: null } });
    try {
      const res = await closed.call('PUT', '/v1/admin/safelist/+447400700003', { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      assert.equal(res.status, 404);
      assert.equal(res.body.code, 'not_found');
    } finally {
      await closed.stop();
    }
  });
});

describe('monitor mode', () => {
  test('blocks nothing, logs every would-be block', async () => {
    const guard = await startGuard({
      vars: { MODE: 'monitor', DENIED_COUNTRIES_SMS: 'GB', LIMITS_PHONE: '1/1h', VOICE_GATE_MIN_DELAY_S: '0', DENIED_IP_COUNTRIES: 'US' },
      secrets: { TURNSTILE_SECRET_KEY: FAIL_SECRET },
    });
    try {
      for (let i = 0; i < 2; i++) assert.equal((await send(guard, { phone: '+447400800001' })).status, 202);
      assert.equal((await guard.twilioRequests()).length, 2);
      const [first, second] = guard.events().filter((e) => e.route === 'send');
      assert.equal(first.decision, 'allow');
      assert.deepEqual(first.would_block, ['country_not_allowed', 'ip_blocked', 'captcha_failed']);
      assert.deepEqual(second.would_block, ['country_not_allowed', 'ip_blocked', 'rate_limited', 'captcha_failed']);
    } finally {
      await guard.stop();
    }
  });
});

describe('counting under concurrency', () => {
  const N = 5;
  const figures = {};
  // The Twilio stand-in allows 5 sends per pending verification, like Twilio, so N = 5
  // keeps every send the guard lets through visible in its request log.
  for (const backend of ['durable_object', 'kv']) {
    test(`${backend}: 200 concurrent requests for one number against a limit of ${N}`, async () => {
      const guard = await startGuard({
        vars: { COUNTER_BACKEND: backend, LIMITS_PHONE: `${N}/1h`, VOICE_GATE_MIN_DELAY_S: '0', UPSTREAM_TIMEOUT_MS: '15000' },
      });
      try {
        const results = await Promise.all(Array.from({ length: 200 }, (_, i) =>
          send(guard, { phone: '+447400900001' }, `192.0.2.${i % 250}`)));
        const through = (await guard.twilioRequests()).length;
        const statuses = {};
        for (const r of results) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        figures[backend] = { requests: 200, limit: N, reached_twilio: through, statuses };
        if (backend === 'durable_object') {
          assert.equal(through, N, `exactly ${N} sends: ${JSON.stringify(statuses)}`);
          assert.equal(statuses[202], N);
          assert.equal(statuses[429], 200 - N);
        } else {
          assert.ok(through >= N, `KV mode lets at least the quota through: ${through}`);
        }
      } finally {
        await guard.stop();
      }
    });
  }
  after(() => {
    // The figure the README states as KV mode's known overshoot.
    mkdirSync(join(ROOT, 'tests/.artifacts'), { recursive: true });
    writeFileSync(join(ROOT, 'tests/.artifacts/concurrency.json'), JSON.stringify(figures, null, 2) + '\n');
    console.log('concurrency figures:', JSON.stringify(figures));
  });
});
