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
// A phone number in clear: a + and 7 or more digits in a row (masked ones have stars).
const FULL_NUMBER = /\+\d{7,}/;
const ACCESS_LOG = /^\[wrangler:info\] (GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH) \//;

/** Returns the offending lines of `text`, each with why. */
export function audit(text) {
  const findings = [];
  for (const line of text.split('\n')) {
    if (ACCESS_LOG.test(line.trim())) continue;
    for (const secret of FORBIDDEN) {
      if (secret && line.includes(secret)) findings.push(`secret or token: ${line.slice(0, 160)}`);
    }
    if (FULL_NUMBER.test(line)) findings.push(`full number: ${line.slice(0, 160)}`);
  }
  return findings;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // The audit must be able to fail: a planted leak is found.
  const planted = audit(`{"phone":"+447400123456"}\n{"token":"${DUMMY_TOKEN}"}\n[wrangler:info] PUT /v1/admin/safelist/+447400123456 204`);
  if (planted.length !== 2) throw new Error(`the audit misses planted leaks: ${planted}`);

  const files = readdirSync(LOG_DIR).filter((f) => f.endsWith('.log'));
  let lines = 0;
  let decisions = 0;
  const findings = [];
  for (const file of files) {
    const text = readFileSync(join(LOG_DIR, file), 'utf8');
    lines += text.split('\n').length;
    decisions += text.split('\n').filter((l) => l.startsWith('{"time"')).length;
    findings.push(...audit(text).map((f) => `${file}: ${f}`));
  }
  if (files.length === 0 || decisions === 0) throw new Error('no worker logs to audit: run the e2e tests first');
  console.log(`log audit: ${files.length} runs, ${lines} lines, ${decisions} decision lines, ${findings.length} leaks`);
  if (findings.length) {
    console.error(findings.slice(0, 20).join('\n'));
    process.exit(1);
  }
}
