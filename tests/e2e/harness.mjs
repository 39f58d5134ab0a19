// The end-to-end harness: the real worker bundle in workerd (through `wrangler dev`,
// local KV), the Turnstile stand-in, and the Twilio stand-in behind Prism, so every
// request the worker sends to Twilio is validated against Twilio's OpenAPI document.
//
// startGuard({ vars }) starts one such stack with `[vars]` overrides and returns helpers
// to call the guard, drive the stand-ins and read the worker's log.

import { spawn, execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTwilioStandin } from '../standins/twilio-verify.mjs';
import { startTurnstileStandin } from '../standins/turnstile.mjs';
import { freePort, startPrism } from '../standins/prism.mjs';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Every stack's worker output is appended here, for the log audit (tests/e2e/log-audit.mjs). */
export const LOG_DIR = join(ROOT, 'tests/.artifacts/worker-logs');
const WRANGLER = join(ROOT, 'node_modules/wrangler/bin/wrangler.js');

/** The Turnstile token Cloudflare's dummy site keys produce (accepted by the 1x test secret). */
export const DUMMY_TOKEN = 'XXXX.DUMMY.TOKEN.XXXX';
export const PASS_SECRET = '1x0000000000000000000000000000000AA';
export const FAIL_SECRET = '2x0000000000000000000000000000000AA';
export const SPENT_SECRET = '3x0000000000000000000000000000000AA';
export const ADMIN_TOKEN = 'e2e-admin-token-0123456789abcdef';
/** The Turnstile stand-in's own secret: tokens `ok:<hostname>:<action>` pass once, `fail` fails. */
export const LOCAL_TURNSTILE_SECRET = 'local-turnstile-secret';

/** The fixture secrets every stack runs with (they match the stand-ins, nothing else). */
export const SECRETS = {
  TWILIO_ACCOUNT_SID: 'AC' + '1'.repeat(32),
  TWILIO_AUTH_TOKEN: 'e2e-twilio-auth-token-secret',
  TWILIO_VERIFY_SERVICE_SID: 'VA' + '2'.repeat(32),
  TURNSTILE_SECRET_KEY: PASS_SECRET,
  HASH_KEY: 'e2e-hash-key-0123456789abcdef',
  ADMIN_TOKEN,
};

/**
 * Polls `fn` (every 100 ms, up to 10 s) until it returns a truthy value, and returns it:
 * for what the worker does after its response, like writing the decision log.
 */
export async function eventually(fn, what) {
  for (let i = 0; i < 100; i++) {
    const value = await fn();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`never happened: ${what}`);
}

/**
 * Runs SQL against a stack's local D1 (the decision log) and returns the rows of the
 * last statement: what an operator does with `wrangler d1 execute`.
 */
export function d1Execute(persistDir, sql) {
  let out;
  try {
    out = execFileSync(process.execPath, [WRANGLER, 'd1', 'execute', 'OTP_GUARD_DB', '--local',
      '--persist-to', persistDir, '--json', '--command', sql],
    { cwd: ROOT, stdio: 'pipe', env: { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false' } });
  } catch (e) {
    // SQLite's own message (a constraint, a syntax error) is in wrangler's output.
    throw new Error(`d1 execute failed: ${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
  const results = JSON.parse(out.toString());
  return results[results.length - 1].results;
}

/** Builds the worker bundle once (a no-op when it is up to date). */
export function buildWorker() {
  execFileSync(join(ROOT, '.ci/build-worker'), { stdio: 'inherit', cwd: ROOT });
}

function waitForOutput(child, text, what) {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (chunk) => {
      seen += chunk;
      if (seen.includes(text)) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${what} exited with ${code}:\n${seen}`)));
  });
}

/**
 * Starts a guard stack. `vars` override wrangler.toml [vars]; `secrets` override SECRETS
 * (a key set to null is left out, e.g. to test a missing secret).
 */
export async function startGuard({ vars = {}, secrets = {} } = {}) {
  const twilio = await startTwilioStandin({
    port: 0, log: () => {},
    accountSid: SECRETS.TWILIO_ACCOUNT_SID, authToken: SECRETS.TWILIO_AUTH_TOKEN,
    serviceSid: SECRETS.TWILIO_VERIFY_SERVICE_SID,
  });
  const turnstile = await startTurnstileStandin({ port: 0, log: () => {}, secretKey: LOCAL_TURNSTILE_SECRET });
  const twilioDirect = `http://127.0.0.1:${twilio.address().port}`;
  const turnstileBase = `http://127.0.0.1:${turnstile.address().port}`;
  const prism = await startPrism(twilioDirect);

  const state = mkdtempSync(join(tmpdir(), 'otp-guard-e2e-'));
  const envFile = join(state, '.dev.vars');
  const allSecrets = { ...SECRETS, ...secrets };
  writeFileSync(envFile, Object.entries(allSecrets).filter(([, v]) => v !== null).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');

  // The decision log's schema, applied to this stack's local D1.
  execFileSync(process.execPath, [WRANGLER, 'd1', 'migrations', 'apply', 'OTP_GUARD_DB', '--local', '--persist-to', state],
    { cwd: ROOT, stdio: 'pipe', env: { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false' } });
  const port = await freePort();
  const allVars = { TWILIO_BASE_URL: prism.base, TURNSTILE_BASE_URL: turnstileBase, UPSTREAM_TIMEOUT_MS: '1500', ...vars };
  const args = [WRANGLER, 'dev', '--ip', '127.0.0.1', '--port', String(port), '--persist-to', state,
    '--env-file', envFile, '--show-interactive-dev-session=false', '--inspector-port', String(await freePort())];
  for (const [key, value] of Object.entries(allVars)) args.push('--var', `${key}:${value}`);
  const worker = spawn(process.execPath, args, {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true', NO_COLOR: '1', OTP_GUARD_PREBUILT: '1' },
  });
  let log = '';
  // Every number this stack was asked about, for the log audit.
  const numbers = new Set();
  worker.stdout.on('data', (c) => { log += c; });
  worker.stderr.on('data', (c) => { log += c; });
  await waitForOutput(worker, 'Ready on', 'wrangler dev');
  const base = `http://127.0.0.1:${port}`;

  const control = async (server, method, path, body) => {
    const res = await fetch(server + path, { method, body: body && JSON.stringify(body) });
    return res.status === 204 ? null : res.json();
  };

  return {
    base,
    /** The stack's local state (KV, D1): for `wrangler d1 execute --local --persist-to`. */
    persistDir: state,
    twilioDirect,
    turnstileBase,
    /** Every log line the worker printed so far. */
    log: () => log,
    /** The decision events (the worker's JSON log lines) printed so far. */
    events: () => log.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('{"time"')).map((l) => JSON.parse(l)),
    /** Calls the guard; returns { status, headers, body } with JSON bodies parsed. */
    /** Calls the guard as the client `ip` (wrangler dev passes CF-Connecting-IP through; Cloudflare sets it). */
    async call(method, path, { body, headers = {}, raw } = {}) {
      const phone = body?.phone;
      if (typeof phone === 'string') numbers.add(phone);
      const init = { method, headers: { ...headers } };
      if (raw !== undefined) init.body = raw;
      else if (body !== undefined) {
        init.body = JSON.stringify(body);
        init.headers['content-type'] ??= 'application/json';
      }
      const res = await fetch(base + path, init);
      const text = await res.text();
      let parsed = text;
      try { parsed = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
      return { status: res.status, headers: res.headers, body: parsed };
    },
    /** Requests the Twilio stand-in has received (through Prism). */
    twilioRequests: () => control(twilioDirect, 'GET', '/__standin/requests'),
    turnstileRequests: () => control(turnstileBase, 'GET', '/__standin/requests'),
    async resetUpstreams() {
      await control(twilioDirect, 'DELETE', '/__standin/requests');
      await control(twilioDirect, 'DELETE', '/__standin/faults');
      await control(turnstileBase, 'DELETE', '/__standin/requests');
      await control(turnstileBase, 'DELETE', '/__standin/faults');
    },
    twilioFault: (fault) => control(twilioDirect, 'PUT', '/__standin/faults', fault),
    turnstileFault: (fault) => control(turnstileBase, 'PUT', '/__standin/faults', fault),
    lastCode: (to) => control(twilioDirect, 'GET', `/__standin/last-code?to=${encodeURIComponent(to)}`),
    /** Records a number used outside `call` (e.g. by a browser test), for the log audit. */
    noteNumber: (phone) => numbers.add(phone),
    async stop() {
      worker.kill('SIGTERM');
      await new Promise((r) => { worker.once('exit', r); setTimeout(r, 3000); });
      mkdirSync(LOG_DIR, { recursive: true });
      appendFileSync(join(LOG_DIR, `${process.pid}.log`), log);
      try {
        for (const r of await control(twilioDirect, 'GET', '/__standin/requests')) numbers.add(r.params?.To);
      } catch { /* the stand-in is gone: the numbers sent in bodies still count */ }
      appendFileSync(join(LOG_DIR, `${process.pid}.numbers`), [...numbers].filter(Boolean).join('\n') + '\n');
      prism.child.kill();
      await twilio.stop();
      await turnstile.stop();
      rmSync(state, { recursive: true, force: true });
    },
  };
}
