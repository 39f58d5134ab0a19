// The demo page (www/) in real Chromium against the real worker in workerd, with the
// Twilio and Turnstile stand-ins of the e2e harness. Tests assert what a person sees and
// hears (status text, errors, which buttons exist and are enabled, where focus is), and that
// the browser logs nothing wrong. The browser client www/otp-guard.js is also tested directly.
//
// Run: node --test --test-concurrency=1 tests/browser/
// Needs /usr/bin/chromium (`.ci/setup --browser`).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchChromium } from './chromium.mjs';
// LOCAL_TURNSTILE_SECRET: the siteverify stand-in's local mode accepts the local widget's
// "ok:<hostname>:<action>" tokens once each and refuses anything else (403 captcha_failed).
import { buildWorker, DUMMY_TOKEN, LOCAL_TURNSTILE_SECRET, ROOT, startGuard } from '../e2e/harness.mjs';
import { createClient, ERROR_CODES, formatWait, messageFor, OtpGuardError } from '../../www/otp-guard.js';

const SCREENSHOTS = join(ROOT, 'docs/screenshots');
// Every test number shares a prefix and every request comes from 127.0.0.1: lift the
// per-IP, per-network and per-prefix quotas so that only the limits under test apply.
const ROOMY_LIMITS = { LIMITS_IP: '1000/1h', LIMITS_SUBNET: '1000/1h', LIMITS_PREFIX: '1000/1h' };

const MESSAGES = {
  invalidPhone: 'That does not look like a valid phone number. Check the number and the country.',
  countryNotAllowed: 'Sorry, we cannot send codes to phone numbers in that country.',
  captchaFailed: 'We could not confirm that you are a person. Please complete the security check again.',
  wrongCode: 'That code is not right. Check it and try again.',
};

let browser;
before(async () => {
  buildWorker();
  browser = await launchChromium();
});
after(() => browser?.close());

/**
 * Opens the demo in a fresh browser context and records everything the page logs as an error.
 * Returns the page and `assertQuiet(...apiStatuses)`, which fails on any console error or
 * uncaught exception, except Chromium's "Failed to load resource" line for the API answers the
 * test provoked on purpose (those statuses are the contract's, and the page handles them).
 */
async function openDemo(guard, { query = '', viewport = { width: 1280, height: 800 }, context } = {}) {
  const ctx = context ?? await browser.newContext({ viewport });
  ctx.setDefaultTimeout(15_000);
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push({ text: `uncaught: ${error.stack}` }));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push({ text: message.text(), url: message.location().url });
  });
  await page.goto(`${guard.base}/${query}`);
  // Ready once the security check has produced its token and the button is usable.
  await page.getByText('Local Turnstile stand-in: verified').waitFor();
  await page.getByRole('button', { name: 'Send code' }).and(page.locator(':enabled')).waitFor();
  const assertQuiet = (...apiStatuses) => {
    const unexpected = errors.filter(({ text, url }) => {
      const failed = /^Failed to load resource: the server responded with a status of (\d+)/.exec(text);
      return !(failed && new URL(url).pathname.startsWith('/v1/verifications') && apiStatuses.includes(Number(failed[1])));
    });
    assert.deepEqual(unexpected, [], 'the page logged errors');
  };
  return { page, context: ctx, assertQuiet };
}

const ui = (page) => ({
  country: page.getByLabel('Country', { exact: true }),
  phone: page.getByLabel('Phone number', { exact: true }),
  code: page.getByLabel('Code', { exact: true }),
  send: page.locator('#send'),
  verify: page.getByRole('button', { name: 'Verify' }),
  call: page.getByRole('button', { name: 'Call me instead' }),
  status: page.getByRole('status'),
  error: page.locator('#error'),
});

/** Waits until the status region says exactly `text`. */
async function statusSays(page, text) {
  const { status } = ui(page);
  await status.filter({ hasText: text }).waitFor();
  assert.equal(await status.textContent(), text);
}

/** Waits for the visible error, and checks it is exactly `text` and has the focus. */
async function errorSays(page, text) {
  const error = ui(page).error;
  await error.waitFor();
  assert.equal(await error.textContent(), text);
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'error', 'focus is not on the error');
}

/** Clicks `button` (waiting until it is enabled) and returns the guard's answer to the send it makes. */
async function clickAndSend(page, button) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/v1/verifications' && r.request().method() === 'POST'),
    button.click(),
  ]);
  return response;
}

const focusedId = (page) => page.evaluate(() => document.activeElement?.id);

describe('the demo page (dummy Turnstile keys, 1 s voice-gate back-off)', () => {
  let guard;
  before(async () => {
    guard = await startGuard({
      // Back-offs of 1 s, 2 s, 4 s: the voice gate in seconds.
      vars: { ...ROOMY_LIMITS, DENIED_COUNTRIES_SMS: 'CG', VOICE_GATE_MIN_DELAY_S: '1' },
    });
  });
  after(() => guard?.stop());

  test('the page is served with a strict CSP and has no inline script or style', async () => {
    const res = await fetch(`${guard.base}/`);
    assert.equal(res.status, 200);
    const csp = Object.fromEntries(res.headers.get('content-security-policy').split(';')
      .map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name, values.join(' ')]));
    assert.deepEqual(csp, {
      'default-src': "'none'",
      'script-src': "'self' https://challenges.cloudflare.com",
      'frame-src': 'https://challenges.cloudflare.com',
      'connect-src': "'self'",
      'img-src': "'self'",
      'style-src': "'self'",
      'base-uri': "'none'",
      'form-action': "'self'",
      'frame-ancestors': "'none'",
    });
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('referrer-policy'), 'strict-origin-when-cross-origin');
    const html = await res.text();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, 'inline <script>');
    assert.doesNotMatch(html, /<style|\sstyle=|\son[a-z]+=/i, 'inline style or event handler');
    // The rules file itself is not served.
    assert.equal((await fetch(`${guard.base}/_headers`)).status, 404);
  });

  test('happy path: number, code, verified', async () => {
    await guard.resetUpstreams();
    const { page, context, assertQuiet } = await openDemo(guard);
    const $ = ui(page);
    assert.equal(await $.code.isVisible(), false, 'the code field shows before a code was sent');
    await $.country.selectOption('GB');
    await $.phone.fill('07400 123456');
    await clickAndSend(page, $.send);
    await statusSays(page, 'Code sent to +44******3456.');
    assert.equal(await focusedId(page), 'code', 'focus did not move to the code field');
    assert.equal(await page.locator('#code-hint').textContent(), 'It is in the text message we just sent.');
    assert.equal(await $.call.isHidden(), true);

    await $.code.fill('000000');
    await $.verify.click();
    await errorSays(page, MESSAGES.wrongCode);
    assert.equal(await $.code.getAttribute('aria-invalid'), 'true');

    const { code } = await guard.lastCode('+447400123456');
    await $.code.fill(code);
    await $.verify.click();
    await statusSays(page, 'Your phone number is verified.');
    assert.equal(await page.getByRole('heading', { name: 'Phone number verified' }).isVisible(), true);
    assert.equal(await focusedId(page), 'done-title');
    assert.equal(await $.error.isHidden(), true, 'the old error is still shown');
    assert.equal(await $.phone.isHidden(), true);

    // What reached the upstreams: the widget's token, and one SMS in the page's language.
    const [verify] = await guard.turnstileRequests();
    assert.equal(verify.fields.response, DUMMY_TOKEN.slice(0, 8), 'the stand-in logs 8 characters');
    const [sent] = await guard.twilioRequests();
    assert.deepEqual([sent.params.To, sent.params.Channel, sent.params.Locale], ['+447400123456', 'sms', 'en']);
    assertQuiet();
    await context.close();
  });

  test('keyboard only: tab, type, Enter; focus follows the flow with a visible ring', async () => {
    const { page, context, assertQuiet } = await openDemo(guard);
    // wrangler dev reports the visitor's country as US, which the page preselects.
    assert.equal(await ui(page).country.inputValue(), 'US');
    await page.keyboard.press('Tab');
    assert.equal(await focusedId(page), 'country');
    await page.keyboard.press('Tab');
    assert.equal(await focusedId(page), 'phone');
    const ring = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.equal(ring, 'solid', 'no visible focus ring on the phone field');
    await page.keyboard.type('(201) 555-0123');
    await page.keyboard.press('Enter');
    await statusSays(page, 'Code sent to +1******0123.');
    assert.equal(await focusedId(page), 'code');
    const { code } = await guard.lastCode('+12015550123');
    await page.keyboard.type(code);
    await page.keyboard.press('Enter');
    await statusSays(page, 'Your phone number is verified.');
    assert.equal(await focusedId(page), 'done-title');
    assertQuiet();
    await context.close();
  });

  test('an invalid number is explained, and nothing is sent', async () => {
    await guard.resetUpstreams();
    const { page, context, assertQuiet } = await openDemo(guard);
    const $ = ui(page);
    await $.country.selectOption('GB');
    await $.phone.fill('12345');
    const response = await clickAndSend(page, $.send);
    assert.equal(response.status(), 400);
    await errorSays(page, MESSAGES.invalidPhone);
    assert.equal(await $.phone.getAttribute('aria-invalid'), 'true');
    assert.equal(await $.phone.getAttribute('aria-describedby'), 'phone-hint error');
    assert.equal(await $.code.isVisible(), false);
    assert.deepEqual(await guard.twilioRequests(), []);
    assertQuiet(400);
    await context.close();
  });

  test('a denied country is explained', async () => {
    const { page, context, assertQuiet } = await openDemo(guard);
    const $ = ui(page);
    await $.country.selectOption('CG');
    await $.phone.fill('+242 06 123 4567');
    assert.equal((await clickAndSend(page, $.send)).status(), 403);
    await errorSays(page, MESSAGES.countryNotAllowed);
    assertQuiet(403);
    await context.close();
  });

  test('a rate limit shows its wait, and the button counts it down', async () => {
    await guard.resetUpstreams();
    // Twilio says 20429 (too many requests) without Retry-After: the worker answers
    // rate_limited, scope global, retry after 60 s.
    await guard.twilioFault({ kind: 'error', status: 429, code: 20429, path: 'verifications', times: 1 });
    const { page, context, assertQuiet } = await openDemo(guard);
    const $ = ui(page);
    await $.phone.fill('+44 7400 123461');
    assert.equal((await clickAndSend(page, $.send)).status(), 429);
    await errorSays(page, 'We are receiving too many requests right now. Try again in 60 seconds.');
    assert.match(await $.send.textContent(), /^Try again in (60|59) s$/);
    assert.equal(await $.send.isDisabled(), true);
    // One second later the countdown has moved.
    await page.locator('#send', { hasText: /^Try again in (58|57) s$/ }).waitFor({ timeout: 4000 });
    assertQuiet(429);
    await context.close();
  });

  test('"Call me instead" appears only after the third time-delayed SMS, and places a call', async () => {
    await guard.resetUpstreams();
    const { page, context, assertQuiet } = await openDemo(guard);
    const $ = ui(page);
    await $.phone.fill('+44 7400 123462');
    for (const attempt of [1, 2]) {
      // The first click is "Send code"; later ones wait for "Resend code" to come back.
      assert.equal((await clickAndSend(page, $.send)).status(), 202, `SMS ${attempt}`);
      await statusSays(page, 'Code sent to +44******3462.');
      assert.equal(await $.call.isHidden(), true, `"Call me instead" is offered after SMS ${attempt}`);
      assert.equal(await page.locator('#call').count(), 1);
    }
    assert.equal((await clickAndSend(page, $.send)).status(), 202, 'SMS 3');
    await $.call.waitFor();
    // The call waits out the same back-off as a resend (4 s after the third SMS).
    assert.match(await $.send.textContent(), /^Resend in [1-4] s$/);
    assert.equal(await $.call.isDisabled(), true);

    assert.equal((await clickAndSend(page, $.call)).status(), 202, 'the call');
    await statusSays(page, 'Calling +44******3462 now.');
    assert.equal(await focusedId(page), 'code');
    const channels = (await guard.twilioRequests()).map((r) => r.params.Channel);
    assert.deepEqual(channels, ['sms', 'sms', 'sms', 'call']);

    await $.code.fill((await guard.lastCode('+447400123462')).code);
    await $.verify.click();
    await statusSays(page, 'Your phone number is verified.');
    assertQuiet();
    await context.close();
  });

  test('the client module works in the page: documented results and OtpGuardError', async () => {
    const { page, context, assertQuiet } = await openDemo(guard);
    const outcome = await page.evaluate(async () => {
      const { createClient, OtpGuardError } = await import('/otp-guard.js');
      const client = createClient();
      const config = await client.config();
      try {
        await client.send({ phone: 'not a number', turnstileToken: 'x' });
        return { config, thrown: null };
      } catch (error) {
        return { config, thrown: { isError: error instanceof OtpGuardError, code: error.code, status: error.status } };
      }
    });
    assert.deepEqual(outcome.config, {
      turnstileSiteKey: '1x00000000000000000000AA', turnstileScriptUrl: '/dev/turnstile-standin.js',
      turnstileAction: null, channels: ['sms', 'call'], defaultCountry: 'US', voiceGateSmsAttempts: 3,
    });
    assert.deepEqual(outcome.thrown, { isError: true, code: 'invalid_phone', status: 400 });
    assertQuiet(400);
    await context.close();
  });

  describe('the client module in Node, against the same worker', () => {
    const token = DUMMY_TOKEN; // what the widget yields for the dummy site key
    let client;
    before(() => { client = createClient({ baseUrl: guard.base }); });

    test('send and check resolve as documented', async () => {
      const sent = await client.send({ phone: '07400 123480', country: 'GB', turnstileToken: token, locale: 'en-GB' });
      assert.deepEqual(sent, { to: '+44******3480', channel: 'sms', smsAttempts: 1, callAvailable: false, retryAfter: 1 });
      assert.deepEqual(await client.check({ phone: '+447400123480', code: '000000' }), { approved: false, status: 'pending' });
      const { code } = await guard.lastCode('+447400123480');
      assert.deepEqual(await client.check({ phone: '07400 123480', country: 'GB', code }), { approved: true, status: 'approved' });
    });

    test('refusals throw OtpGuardError with the contract code', async () => {
      const error = await client.send({ phone: '12345', country: 'GB', turnstileToken: token }).catch((e) => e);
      assert.ok(error instanceof OtpGuardError && error instanceof Error);
      assert.deepEqual({ ...error, message: error.message }, {
        name: 'OtpGuardError', code: 'invalid_phone', status: 400, detail: error.detail, scope: null, retryAfter: null,
        message: `invalid_phone: ${error.detail}`,
      });
      assert.ok(error.detail.length > 0);

      const denied = await client.send({ phone: '+242061234567', turnstileToken: token }).catch((e) => e);
      assert.deepEqual([denied.code, denied.status], ['country_not_allowed', 403]);
    });

    test('a rate limit carries its scope and wait', async () => {
      const phone = '+447400123482';
      await client.send({ phone, turnstileToken: token });
      const error = await client.send({ phone, turnstileToken: token }).catch((e) => e);
      assert.equal(error.code, 'rate_limited');
      assert.equal(error.status, 429);
      assert.equal(error.scope, 'phone');
      assert.equal(error.retryAfter, 1);
      assert.equal(messageFor(error), 'Too many codes were requested for this phone number. Try again in 1 second.');
    });
  });
});

describe('Turnstile in local mode: the page renders the configured action; refusals are real', () => {
  let guard;
  before(async () => {
    guard = await startGuard({
      vars: {
        TURNSTILE_SITE_KEY: '0x4AAAAAAAlocalStandinKey', // not a dummy key: the widget yields ok:<host>:<action>
        TURNSTILE_ACTION: 'signup',
        TURNSTILE_HOSTNAMES: '127.0.0.1',
      },
      secrets: { TURNSTILE_SECRET_KEY: LOCAL_TURNSTILE_SECRET },
    });
  });
  after(() => guard?.stop());

  test('a send passes only with the action from client-config', async () => {
    const { page, context, assertQuiet } = await openDemo(guard);
    await ui(page).phone.fill('+44 7400 123450');
    // The worker requires action "signup" and hostname 127.0.0.1 of the token.
    assert.equal((await clickAndSend(page, ui(page).send)).status(), 202);
    await statusSays(page, 'Code sent to +44******3450.');
    assert.deepEqual((await guard.turnstileRequests()).map((r) => r.fields.response), ['ok:127.0']);
    assertQuiet();
    await context.close();
  });

  test('a failed security check is refused by the worker and explained', async () => {
    await guard.resetUpstreams();
    // The widget yields "fail-token", which siteverify refuses (invalid-input-response).
    const { page, context, assertQuiet } = await openDemo(guard, { query: '?turnstile=fail' });
    const $ = ui(page);
    await $.phone.fill('+44 7400 123460');
    assert.equal((await clickAndSend(page, $.send)).status(), 403);
    await errorSays(page, MESSAGES.captchaFailed);
    // Turnstile's siteverify really saw (and refused) the widget's token; Twilio saw nothing.
    assert.deepEqual((await guard.turnstileRequests()).map((r) => r.fields.response), ['fail-tok']);
    assert.deepEqual(await guard.twilioRequests(), []);
    // The widget was reset for another attempt.
    await page.getByText('Local Turnstile stand-in: verified').waitFor();
    assertQuiet(403);
    await context.close();
  });
});

describe('the demo page, with the default local configuration (dummy site key, 30 s back-off)', () => {
  let guard;
  before(async () => { guard = await startGuard({ vars: ROOMY_LIMITS }); });
  after(() => guard?.stop());

  test('the dummy key passes; a second tab for the same number is told to wait', async () => {
    const first = await openDemo(guard);
    const $ = ui(first.page);
    await $.country.selectOption('GB');
    await $.phone.fill('07400 123490');
    assert.equal((await clickAndSend(first.page, $.send)).status(), 202);
    await statusSays(first.page, 'Code sent to +44******3490.');
    assert.match(await $.send.textContent(), /^Resend in (30|29) s$/);
    assert.equal(await $.send.isDisabled(), true);
    assert.equal((await guard.turnstileRequests())[0].fields.response, 'XXXX.DUM');

    // The same person in another tab cannot skip the back-off.
    const second = await openDemo(guard, { context: first.context });
    const other = ui(second.page);
    await other.phone.fill('+44 7400 123490');
    assert.equal((await clickAndSend(second.page, other.send)).status(), 429);
    await other.error.waitFor();
    const text = await other.error.textContent();
    const wait = Number(/^Too many codes were requested for this phone number\. Try again in (\d+) seconds\.$/.exec(text)?.[1]);
    assert.ok(wait >= 28 && wait <= 30, text);
    assert.match(await other.send.textContent(), /^Try again in (2[89]|30) s$/);
    first.assertQuiet();
    second.assertQuiet(429);
    await first.context.close();
  });

  test('fits a 360 px phone; screenshots for desktop and phone', async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    for (const [name, viewport, phone] of [
      ['demo-desktop.png', { width: 1280, height: 800 }, '07400 123470'],
      ['demo-phone.png', { width: 390, height: 844 }, '07400 123471'],
      [null, { width: 360, height: 740 }, '07400 123472'],
    ]) {
      const { page, context, assertQuiet } = await openDemo(guard, { viewport });
      const $ = ui(page);
      await $.country.selectOption('GB');
      await $.phone.fill(phone);
      await clickAndSend(page, $.send);
      await $.code.waitFor();
      await page.getByText('Local Turnstile stand-in: verified').waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.equal(overflow, 0, `${viewport.width} px wide: the page scrolls sideways`);
      if (name) await page.screenshot({ path: join(SCREENSHOTS, name), fullPage: true });
      assertQuiet();
      await context.close();
    }
  });
});

describe('the client module without a worker', () => {
  // A stand-in for whatever may sit between a page and the guard: a proxy's HTML error
  // page with Retry-After as an HTTP date, and a server that never answers.
  let server;
  let base;
  before(async () => {
    server = http.createServer((req, res) => {
      if (req.url.startsWith('/hang')) return;
      res.writeHead(503, { 'content-type': 'text/html', 'retry-after': new Date(Date.now() + 120_000).toUTCString() });
      res.end('<h1>Service Unavailable</h1>');
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${server.address().port}`;
  });
  after(() => { server.closeAllConnections(); server.close(); });

  test('an answer outside the contract is unexpected_response, with Retry-After read from the header', async () => {
    const error = await createClient({ baseUrl: base }).check({ phone: '+447400123456', code: '123456' }).catch((e) => e);
    assert.equal(error.code, 'unexpected_response');
    assert.equal(error.status, 503);
    assert.ok(error.retryAfter >= 118 && error.retryAfter <= 120, String(error.retryAfter));
  });

  test('no answer is network_error: refused connections and timeouts', async () => {
    const refused = await createClient({ baseUrl: 'http://127.0.0.1:9' }).config().catch((e) => e);
    assert.equal(refused.code, 'network_error');
    assert.equal(refused.status, 0);
    const slow = await createClient({ baseUrl: `${base}/hang`, timeoutMs: 200 }).config().catch((e) => e);
    assert.equal(slow.code, 'network_error');
    assert.equal(slow.detail, 'no answer within 200 ms');
    assert.equal(messageFor(slow), 'We could not reach the server. Check your internet connection and try again.');
  });

  test('messageFor has a plain sentence for every code the worker can answer', () => {
    // The worker's codes, read from the one place it defines them.
    const decision = readFileSync(join(ROOT, 'src/decision.rs'), 'utf8');
    const workerCodes = [...decision.matchAll(/Reason::\w+(?:\([^)]*\)|\s*\{[^}]*\})?\s*=>\s*"([a-z_]+)"/g)].map((m) => m[1]);
    assert.ok(workerCodes.length >= 16, `found ${workerCodes.length} codes in decision.rs`);
    for (const code of workerCodes) assert.ok(ERROR_CODES.includes(code), `${code} is missing from ERROR_CODES`);

    const fallback = messageFor(new Error('boom'));
    const internal = new Set(['method_not_allowed', 'unauthorized', 'unexpected_response']);
    for (const code of ERROR_CODES) {
      const text = messageFor(new OtpGuardError({ code }));
      assert.match(text, /^[A-Z][^_]*\.$/, `${code}: "${text}"`);
      if (!internal.has(code)) assert.notEqual(text, fallback, `${code} has no message of its own`);
    }
    const limited = (scope, retryAfter) => messageFor(new OtpGuardError({ code: 'rate_limited', scope, retryAfter }));
    assert.equal(limited('ip', 42), 'Too many attempts from your network. Try again in 42 seconds.');
    assert.equal(limited('prefix', 600), 'Too many codes were requested for numbers like this one. Try again in 10 minutes.');
    assert.equal(limited(null, null), 'Too many attempts. Please try again later.');
    assert.deepEqual([1, 59, 119, 120, 7199, 7200].map(formatWait),
      ['1 second', '59 seconds', '119 seconds', '2 minutes', '120 minutes', '2 hours']);
  });
});
