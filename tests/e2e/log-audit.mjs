// The log audit: after the end-to-end suites, reads everything the worker printed in every
// stack (tests/.artifacts/worker-logs) and fails if a secret, a Turnstile token or an
// unmasked phone number appears in it.
//
// wrangler dev's own access-log lines ("[wrangler:info] PUT /v1/admin/safelist/... 204")
// are wrangler's, not the worker's, and are skipped: they print request paths, and the
// admin API carries numbers in its paths (see SECURITY.md).

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DUMMY_TOKEN, FAIL_SECRET, LOCAL_TURNSTILE_SECRET, LOG_DIR, PASS_SECRET, SECRETS, SPENT_SECRET } from './harness.mjs';

const FORBIDDEN = [
  ...Object.values(SECRETS),
  PASS_SECRET, FAIL_SECRET, SPENT_SECRET, LOCAL_TURNSTILE_SECRET,
  DUMMY_TOKEN, 'ok:app.example.com', 'Basic ',
];
// A `phone` field must always be masked.
const UNMASKED_PHONE = /"phone":"\+?\d+"/;
const ACCESS_LOG = /^\[wrangler:info\] [A-Z]+ \//; // any method: the hostile and schemathesis runs send TRACE, QUERY...

/**
 * The digits of every number the suites used that is a whole E.164 number (national
 * inputs are covered through the E.164 form Twilio received).
 */
function numberDigits(numbersText) {
  return [...new Set(numbersText.split('\n').map((n) => n.trim())
    .filter((n) => /^\+[\d\s().-]{7,}$/.test(n))
    .map((n) => n.replace(/\D/g, ''))
    .filter((d) => d.length >= 8))];
}

/** Returns the offending lines of `text`, each with why; `digits`: the numbers used. */
export function audit(text, digits) {
  const findings = [];
  for (const line of text.split('\n')) {
    if (ACCESS_LOG.test(line.trim())) continue;
    for (const secret of FORBIDDEN) {
      if (secret && line.includes(secret)) findings.push(`secret or token: ${line.slice(0, 160)}`);
    }
    if (UNMASKED_PHONE.test(line)) findings.push(`unmasked phone field: ${line.slice(0, 160)}`);
    const leaked = digits.find((d) => line.includes(d));
    if (leaked) findings.push(`full number (${leaked.slice(0, 3)}...): ${line.slice(0, 160)}`);
  }
  return findings;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // The audit must be able to fail: a planted leak is found.
  const plantedDigits = numberDigits('+447400123456\n');
  const planted = audit(
    `{"phone":"+447400123456"}\n{"token":"${DUMMY_TOKEN}"}\n{"detail":"to 447400123456"}\n{"prefix":"+44740012","phone":"+44******3456"}\n[wrangler:info] PUT /v1/admin/safelist/+447400123456 204`,
    plantedDigits,
  );
  if (planted.length !== 4) throw new Error(`the audit misses planted leaks: ${planted}`);

  const files = readdirSync(LOG_DIR).filter((f) => f.endsWith('.log'));
  const digits = numberDigits(readdirSync(LOG_DIR).filter((f) => f.endsWith('.numbers'))
    .map((f) => readFileSync(join(LOG_DIR, f), 'utf8')).join('\n'));
  let lines = 0;
  let decisions = 0;
  const findings = [];
  for (const file of files) {
    const text = readFileSync(join(LOG_DIR, file), 'utf8');
    lines += text.split('\n').length;
    decisions += text.split('\n').filter((l) => l.startsWith('{"time"')).length;
    findings.push(...audit(text, digits).map((f) => `${file}: ${f}`));
  }
  if (files.length === 0 || decisions === 0) throw new Error('no worker logs to audit: run the e2e tests first');
  if (digits.length < 20) throw new Error(`too few numbers recorded to audit against (${digits.length})`);
  console.log(`log audit: ${files.length} runs, ${lines} lines, ${decisions} decision lines, ${digits.length} numbers checked, ${findings.length} leaks`);
  if (findings.length) {
    console.error(findings.slice(0, 20).join('\n'));
    process.exit(1);
  }
}
