// Decision log (D1) write faults, end to end: the worker in workerd with its local D1, into
// which a test injects a fault the way an operator's database could fail, with a trigger
// that aborts the insert of one chosen decision (every attempt of it).
//
// What must hold: the answer does not depend on the log (it is written after the response);
// the lost batch is retried once and then printed whole on the console (every event, its id,
// and the statements that restore it); running those statements puts the row back exactly as
// a normal write would have, and running them again adds nothing (INSERT OR IGNORE on
// event_id); the log keeps working for the next decisions. Twilio and Turnstile faults are in
// guard.test.mjs; the retry itself (refused once, then written; committed but reported as
// failed, not doubled) is tested natively in src/eventlog.rs.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_TOKEN, DUMMY_TOKEN, buildWorker, d1Execute, eventually, startGuard } from './harness.mjs';

const FAULTED = '+447400123498';
const FAULTED_MASKED = '+44******3498';
const NEXT = '+447500123497';

describe('decision log faults', () => {
  let guard;
  before(async () => {
    buildWorker();
    guard = await startGuard();
  });
  after(() => guard?.stop());

  const send = (phone, ip) => guard.call('POST', '/v1/verifications',
    { body: { phone, turnstile_token: DUMMY_TOKEN }, headers: { 'cf-connecting-ip': ip } });
  const events = async (query) => (await guard.call('GET', `/v1/admin/events?${query}`,
    { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body.events;

  test('a decision D1 refuses is retried, printed whole, and restored without duplicates', async () => {
    d1Execute(guard.persistDir, `CREATE TRIGGER d1_fault BEFORE INSERT ON events WHEN NEW.phone = '${FAULTED_MASKED}'
      BEGIN SELECT RAISE(ABORT, 'injected D1 fault'); END`);

    // The answer does not wait for the log, nor depend on it.
    const res = await send(FAULTED, '198.51.100.31');
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const decision = guard.events().findLast((e) => e.phone === FAULTED_MASKED);
    assert.equal(decision.reason, 'ok');

    // The failure line: after the retry, with the fault, the ids, the rows.
    // (wrangler dev wraps a console.error line in its "✘ [ERROR]" banner; the JSON is inside.)
    const failure = await eventually(() => guard.log().split('\n')
      .filter((l) => l.includes('"error":"decision log write failed"'))
      .map((l) => JSON.parse(l.slice(l.indexOf('{'), l.lastIndexOf('}') + 1)))
      .find((f) => f.request_id === decision.request_id), 'the decision log failure line');
    assert.equal(failure.attempts, 2, 'retried once');
    assert.match(failure.fault, /injected D1 fault/);
    assert.deepEqual(failure.events, [decision], 'the line carries the decision as its decision line printed it');
    assert.equal(failure.event_ids.length, 1);
    assert.match(failure.event_ids[0], /^[0-9a-f]{32}$/);
    assert.match(failure.restore, /decision line/);
    assert.equal(failure.sql.length, 1);
    assert.ok(!failure.sql[0].includes(FAULTED.slice(1)), 'no full number in the statement');
    assert.deepEqual(await events(`route=send&order=desc&limit=50`).then((rows) => rows.filter((r) => r.request_id === decision.request_id)), [],
      'the row is not in D1');

    // The log keeps working: the next decision is written.
    assert.equal((await send(NEXT, '198.51.100.32')).status, 202);
    const next = guard.events().findLast((e) => e.phone === '+44******3497');
    await eventually(async () => (await events('route=send&order=desc&limit=50')).some((r) => r.request_id === next.request_id),
      'the next decision in D1');

    // The operator restores the row from the failure line, once the database is healthy.
    d1Execute(guard.persistDir, 'DROP TRIGGER d1_fault');
    d1Execute(guard.persistDir, failure.sql[0]);
    d1Execute(guard.persistDir, failure.sql[0]);
    const restored = (await events('route=send&order=desc&limit=50')).filter((r) => r.request_id === decision.request_id);
    assert.equal(restored.length, 1, 'restored once, however often the statement runs');
    const [row] = restored;
    assert.equal(row.event_id, failure.event_ids[0]);
    assert.deepEqual(
      [row.time, row.route, row.phone, row.phone_hash, row.country, row.prefix, row.decision, row.reason, row.status, row.twilio_sid, row.price_usd],
      [decision.time, decision.route, decision.phone, decision.phone_hash, decision.country, decision.prefix, decision.decision,
        decision.reason, decision.status, decision.twilio_sid, decision.price_usd],
    );
    // Written the normal way, the next decision has the same shape of id.
    const nextRow = (await events('route=send&order=desc&limit=50')).find((r) => r.request_id === next.request_id);
    assert.match(nextRow.event_id, /^[0-9a-f]{32}$/);
    assert.notEqual(nextRow.event_id, row.event_id);
  });

  test('an insert of a decision already in D1 adds nothing', async () => {
    const [row] = await events('route=send&order=desc&limit=1');
    const before = d1Execute(guard.persistDir, 'SELECT count(*) AS n FROM events')[0].n;
    // The same statement shape the worker writes (INSERT OR IGNORE), with the same event_id.
    d1Execute(guard.persistDir, `INSERT OR IGNORE INTO events (event_id, ts, time, request_id, route, decision, reason, status)
      VALUES ('${row.event_id}', ${row.ts}, '${row.time}', 'another', 'send', 'allow', 'ok', 202)`);
    assert.equal(d1Execute(guard.persistDir, 'SELECT count(*) AS n FROM events')[0].n, before);
    // A plain INSERT of a duplicate id is refused by the unique index (the id is enforced).
    assert.throws(() => d1Execute(guard.persistDir, `INSERT INTO events (event_id, ts, time, request_id, route, decision, reason, status)
      VALUES ('${row.event_id}', ${row.ts}, '${row.time}', 'another', 'send', 'allow', 'ok', 202)`), /UNIQUE constraint failed/);
  });
});
