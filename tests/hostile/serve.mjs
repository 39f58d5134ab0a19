// Starts one guard stack (the real worker in workerd through `wrangler dev`, the Twilio
// stand-in behind Prism, the Turnstile stand-in; see tests/e2e/harness.mjs), prints
//   BASE_URL=http://127.0.0.1:<port>
//   ADMIN_TOKEN=<the stack's admin token>
//   TWILIO_STANDIN=... / TURNSTILE_STANDIN=...
// and stays up until SIGINT or SIGTERM (or until its stdin closes, with --stdin).
//
// Usage: node tests/hostile/serve.mjs [--no-build] [--var KEY=VALUE ...] [--local-turnstile] [--stdin]
//
// --local-turnstile: the Turnstile secret is the stand-in's own ("local mode"), which refuses
// any token but `ok:<hostname>:<action>` with invalid-input-response, as a production secret
// does, instead of Cloudflare's always-pass test secret (which the stand-in answers with
// invalid-input-secret, hence config_error, for any token but the dummy one).

import { parseArgs } from 'node:util';
import { ADMIN_TOKEN, LOCAL_TURNSTILE_SECRET, buildWorker, startGuard } from '../e2e/harness.mjs';

const { values } = parseArgs({
  options: {
    'no-build': { type: 'boolean', default: false },
    var: { type: 'string', multiple: true, default: [] },
    stdin: { type: 'boolean', default: false },
    'local-turnstile': { type: 'boolean', default: false },
  },
});

const vars = Object.fromEntries(values.var.map((kv) => {
  const i = kv.indexOf('=');
  if (i < 1) throw new Error(`--var takes KEY=VALUE, not ${kv}`);
  return [kv.slice(0, i), kv.slice(i + 1)];
}));

if (!values['no-build']) buildWorker();
const secrets = values['local-turnstile'] ? { TURNSTILE_SECRET_KEY: LOCAL_TURNSTILE_SECRET } : {};
const guard = await startGuard({ vars, secrets });
console.log(`BASE_URL=${guard.base}`);
console.log(`ADMIN_TOKEN=${ADMIN_TOKEN}`);
console.log(`TWILIO_STANDIN=${guard.twilioDirect}`);
console.log(`TURNSTILE_STANDIN=${guard.turnstileBase}`);
console.log('READY');

let stopping = false;
async function stop(why) {
  if (stopping) return;
  stopping = true;
  console.log(`[serve] ${why}: stopping`);
  await guard.stop();
  process.exit(0);
}
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => stop(signal));
if (values.stdin) {
  process.stdin.resume();
  process.stdin.once('end', () => stop('stdin closed'));
}
