// The operator dashboard (www/admin.html at /admin) in real Chromium against the real worker
// in workerd, during a pumping incident: traffic to a few countries, some codes approved,
// then a burst to Congo (CG) that engages a block. Tests assert what the operator sees
// (text, lists, the charts' pixels and legend, where focus is), that the admin API agrees
// with what the page says it did, and that the browser logs nothing wrong.
//
// Run: node --test --test-concurrency=1 tests/browser/
// Needs /usr/bin/chromium (`.ci/setup --browser`).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { launchChromium } from './chromium.mjs';
import { ADMIN_TOKEN, buildWorker, DUMMY_TOKEN, eventually, ROOT, startGuard } from '../e2e/harness.mjs';

const SCREENSHOTS = join(ROOT, 'docs/screenshots');
const DESKTOP = { width: 1280, height: 800 };
const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };

let browser;
before(async () => {
  buildWorker();
  browser = await launchChromium();
});
after(() => browser?.close());

const admin = (guard, method, path) => guard.call(method, path, { headers: auth });

/**
 * Opens /admin in a fresh context (signed in unless `signIn` is false) and records every
 * console error, uncaught exception and request URL. `assertQuiet(...statuses)` fails on any
 * error except Chromium's "Failed to load resource" line for admin API answers with one of
 * `statuses` (provoked on purpose, and shown by the page).
 */
async function openDashboard(guard, { viewport = DESKTOP, signIn = true } = {}) {
  const context = await browser.newContext({ viewport });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  const errors = [];
  const urls = [];
  page.on('pageerror', (error) => errors.push({ text: `uncaught: ${error.stack}` }));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push({ text: message.text(), url: message.location().url });
  });
  page.on('request', (request) => urls.push(request.url()));
  await page.goto(`${guard.base}/admin`);
  if (signIn) {
    await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await dashboardReady(page);
  }
  const assertQuiet = (...apiStatuses) => {
    const unexpected = errors.filter(({ text, url }) => {
      const failed = /^Failed to load resource: the server responded with a status of (\d+)/.exec(text);
      return !(failed && new URL(url).pathname.startsWith('/v1/admin/') && apiStatuses.includes(Number(failed[1])));
    });
    assert.deepEqual(unexpected, [], 'the page logged errors');
    assert.ok(urls.every((u) => !u.includes(ADMIN_TOKEN)), 'the token appeared in a URL');
  };
  return { page, context, assertQuiet };
}

/** Waits until the dashboard shows its data: the legend, the incidents and the events. */
async function dashboardReady(page) {
  await page.locator('#dashboard').waitFor();
  await page.locator('#legend button').first().waitFor();
  await page.locator('#incidents article, #incidents .empty').first().waitFor();
  await page.locator('#events-caption', { hasText: /event/ }).waitFor();
}

/** The text of each row of a table body, cell by cell. */
const tableRows = (locator) => locator.locator('tbody tr').evaluateAll((rows) =>
  rows.map((row) => [...row.cells].map((cell) => cell.textContent.trim())));

/** How many pixels of a canvas are not transparent. */
const paintedPixels = (page, id) => page.evaluate((canvasId) => {
  const canvas = document.getElementById(canvasId);
  const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) painted++;
  return painted;
}, id);

/** How many pixels of a canvas have exactly the colour `hex` (bars are filled flat). */
const pixelsOfColour = (page, id, hex) => page.evaluate(([canvasId, colour]) => {
  const canvas = document.getElementById(canvasId);
  const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(colour.slice(i, i + 2), 16));
  let n = 0;
  for (let i = 0; i < data.length; i += 4) if (data[i] === r && data[i + 1] === g && data[i + 2] === b && data[i + 3] === 255) n++;
  return n;
}, [id, hex]);

describe('the operator dashboard during a pumping incident', { concurrency: false }, () => {
  let guard;
  before(async () => {
    guard = await startGuard({
      // A spike incident on a small scale. Local workerd's client is in the US, abroad for
      // these numbers: the judgement of unserved destinations (tests/e2e/protection) is off.
      vars: {
        PUMPING_MIN_SENDS: '5', PUMPING_ALLOWANCE_MIN: '0', PUMPING_UNSERVED_MIN_SENDS: '0',
        VOICE_GATE_MIN_DELAY_S: '0', SPEND_CAP_COUNTRY_HOURLY_USD: '100',
      },
    });
    const send = (phone, ip) => guard.call('POST', '/v1/verifications', {
      body: { phone, turnstile_token: DUMMY_TOKEN }, headers: { 'cf-connecting-ip': ip },
    });
    const approve = async (phone) => {
      const { code } = await guard.lastCode(phone);
      const res = await guard.call('POST', '/v1/verifications/check', { body: { phone, code } });
      assert.equal(res.body.valid, true, `${phone} approved`);
    };
    // Ordinary traffic: four codes to three countries, three of them typed in.
    for (const [phone, ip] of [['+447400123456', '203.0.113.1'], ['+447400123457', '203.0.113.2'],
      ['+12015550123', '203.0.113.3'], ['+33612345678', '203.0.113.4']]) {
      assert.equal((await send(phone, ip)).status, 202, phone);
    }
    await approve('+447400123456');
    await approve('+447400123457');
    await approve('+12015550123');
    // The pumping burst: eight numbers in Congo from eight addresses; nobody types a code.
    const statuses = [];
    for (let i = 0; i < 8; i++) statuses.push((await send(`+24206${String(i).padStart(2, '0')}34567`, `198.51.100.${i}`)).status);
    assert.deepEqual(statuses, [202, 202, 202, 202, 503, 503, 503, 503]);
    // One entry of each kind on the lists. (Until the worker skips KV's bulk read for an
    // empty key list, GET of a list with no number, or for the blocklist no prefix, answers 502.)
    for (const path of ['safelist/%2B447400999001', 'blocklist/%2B447400999002', 'blocklist/%2B3712']) {
      assert.equal((await admin(guard, 'PUT', `/v1/admin/${path}`)).status, 204, path);
    }
    // 12 send decisions, 3 checks and the engagement: wait until D1 has them all.
    await eventually(async () => {
      const res = await admin(guard, 'GET', '/v1/admin/events?limit=500');
      const routes = res.body.events?.map((e) => e.route) ?? [];
      return routes.filter((r) => r === 'send').length === 12 && routes.filter((r) => r === 'check').length === 3
        && routes.includes('protection');
    }, 'the traffic in the decision log');
  });
  after(() => guard?.stop());

  test('/admin is served with a strict CSP of its own, and has no inline script or style', async () => {
    const res = await fetch(`${guard.base}/admin`, { redirect: 'manual' });
    assert.equal(res.status, 200);
    const csp = Object.fromEntries(res.headers.get('content-security-policy').split(';')
      .map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name, values.join(' ')]));
    assert.deepEqual(csp, {
      'default-src': "'none'",
      'script-src': "'self'",
      'connect-src': "'self'",
      'img-src': "'self'",
      'style-src': "'self'",
      'base-uri': "'none'",
      'form-action': "'none'",
      'frame-ancestors': "'none'",
    });
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('referrer-policy'), 'strict-origin-when-cross-origin');
    const html = await res.text();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, 'inline <script>');
    assert.doesNotMatch(html, /<style|\sstyle=|\son[a-z]+=/i, 'inline style or event handler');
    assert.doesNotMatch(html, /https?:\/\//, 'the page loads something from another origin');
    // /admin/ leads to the same page; the chart library is served from this origin.
    const slash = await fetch(`${guard.base}/admin/`, { redirect: 'manual' });
    assert.deepEqual([slash.status, slash.headers.get('location')], [307, '/admin']);
    const lib = await fetch(`${guard.base}/admin/vendor/chart.js`);
    assert.equal(lib.status, 200);
    assert.match(await lib.text(), /Chart\.js v4\.6\.1/);
  });

  test('sign-in: a wrong token is refused in words; the right one opens the dashboard and stays in this tab', async () => {
    const { page, context, assertQuiet } = await openDashboard(guard, { signIn: false });
    const token = page.getByLabel('Admin token');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'token', 'focus is not on the token field');
    assert.equal(await token.getAttribute('type'), 'password');
    assert.equal(await page.locator('#dashboard').isHidden(), true);

    await token.fill('not-the-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const error = page.locator('#login-error');
    await error.waitFor();
    assert.equal(await error.textContent(), 'That token was not accepted. Check it and try again.');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'login-error');
    assert.equal(await token.getAttribute('aria-invalid'), 'true');
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'a refused token was kept');
    assert.equal(await page.locator('#dashboard').isHidden(), true);

    // With the keyboard: type the right token, Enter.
    await token.fill('');
    await token.focus();
    await page.keyboard.type(ADMIN_TOKEN);
    await page.keyboard.press('Enter');
    await dashboardReady(page);
    assert.equal(await page.locator('#login').isHidden(), true);
    assert.equal(await error.isHidden(), true);
    assert.deepEqual(await page.evaluate(() => Object.values(sessionStorage)), [ADMIN_TOKEN]);
    assert.deepEqual(await page.evaluate(() => [localStorage.length, document.cookie]), [0, '']);
    assert.equal(new URL(page.url()).pathname + new URL(page.url()).search, '/admin');

    // A reload in the same tab stays signed in; signing out forgets the token.
    await page.reload();
    await dashboardReady(page);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Admin token').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    assert.equal(await page.locator('#login-status').textContent(), 'Signed out.');
    assertQuiet(401);
    await context.close();
  });

  test('the charts draw sends, refusals and conversion per country, with a legend of the countries', async () => {
    const { page, context, assertQuiet } = await openDashboard(guard);
    const legend = page.getByRole('group', { name: 'Countries shown in the charts' });
    // Busiest first: CG (8 requests), GB (2), then FR and US (1 each).
    assert.deepEqual(await legend.getByRole('button').allTextContents(),
      ['CG Congo - Brazzaville', 'GB United Kingdom', 'FR France', 'US United States']);
    for (const id of ['chart-sent', 'chart-blocked', 'chart-conversion']) {
      assert.ok(await paintedPixels(page, id) > 500, `${id} is blank`);
    }
    // The CG bars are drawn in CG's legend colour, and hiding CG takes them away.
    const cgColour = await legend.getByRole('button', { name: /CG/ }).locator('.swatch')
      .evaluate((el) => '#' + getComputedStyle(el).backgroundColor.match(/\d+/g).map((n) => Number(n).toString(16).padStart(2, '0')).join(''));
    assert.ok(await pixelsOfColour(page, 'chart-blocked', cgColour) > 50, 'no CG bar among the refusals');
    await legend.getByRole('button', { name: /CG/ }).focus();
    await page.keyboard.press('Space');
    assert.equal(await legend.getByRole('button', { name: /CG/ }).getAttribute('aria-pressed'), 'false');
    assert.equal(await pixelsOfColour(page, 'chart-blocked', cgColour), 0, 'hidden CG is still drawn');
    await page.keyboard.press('Enter');
    assert.equal(await legend.getByRole('button', { name: /CG/ }).getAttribute('aria-pressed'), 'true');

    // The text alternatives and the table say the same in words.
    assert.equal(await page.locator('#chart-sent-desc').textContent(), 'Hourly bars for the last 24 hours. Codes sent per country: '
      + 'CG Congo - Brazzaville 4; GB United Kingdom 2; FR France 1; US United States 1.');
    assert.match(await page.locator('#chart-blocked-desc').textContent(), /CG Congo - Brazzaville 4; GB United Kingdom 0/);
    assert.match(await page.locator('#chart-conversion-desc').textContent(), /CG Congo - Brazzaville 0%; GB United Kingdom 100%; FR France 0%; US United States 100%/);
    const countries = await tableRows(page.locator('#countries'));
    assert.equal(countries[0][0], 'CG Congo - Brazzaville blocked');
    assert.deepEqual(countries[0].slice(1, 6), ['8', '4', '4', '0', '0%']);
    assert.deepEqual(countries[1].slice(0, 6), ['GB United Kingdom', '2', '2', '0', '2', '100%']);

    // The summary and the spend against the caps (50 USD an hour, 100 USD an hour per country).
    const tiles = await page.locator('#summary .tile').allInnerTexts();
    assert.ok(tiles.some((t) => /^Active blocks\n1\n/.test(t)), tiles.join(' | '));
    const spend = await tableRows(page.locator('#spend'));
    assert.equal(spend[0][0], 'All destinations');
    assert.match(spend[0][1], /^\$\d+\.\d+ of \$50\.00 \d+(\.\d)?%$/);
    assert.equal(spend[1][0], 'CG Congo - Brazzaville');
    const stats = (await admin(guard, 'GET', '/v1/admin/stats')).body;
    const usd = (x) => new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 3 }).format(x);
    assert.ok(spend[1][1].startsWith(`${usd(stats.countries.CG.estimated_spend_usd)} of $100.00`), spend[1][1]);
    assertQuiet();
    await context.close();
  });

  test('the incident timeline shows the CG incident and what the guard did', async () => {
    const { page, context, assertQuiet } = await openDashboard(guard);
    const incident = page.getByRole('article', { name: 'Pumping to CG' });
    await incident.waitFor();
    const facts = Object.fromEntries(await incident.locator('.facts dt').evaluateAll((dts) =>
      dts.map((dt) => [dt.textContent, dt.nextElementSibling.textContent])));
    assert.deepEqual(facts, {
      'Send requests': '8', Sent: '4', Refused: '4', 'Conversion before': '—', 'Conversion during': '0%',
      'Estimated cost': facts['Estimated cost'], 'Distinct IPs': '8', 'Networks (ASN)': facts['Networks (ASN)'],
    });
    assert.match(facts['Estimated cost'], /^\$\d+\.\d+$/);
    const actions = await incident.getByRole('list', { name: 'What the guard did' }).getByRole('listitem').allTextContents();
    assert.equal(actions.length, 2, actions.join(' | '));
    assert.match(actions[0], /^\d\d:\d\d:\d\d Block engaged on Congo - Brazzaville \(CG\)sudden volume to a destination never seen before, with no conversion: 5 sends in the detection window \(baseline 0\), conversion 0%\. Until \d\d:\d\d:\d\d UTC\.$/);
    assert.match(actions[1], /^\d\d:\d\d:\d\d First send refused to Congo - Brazzaville \(CG\)$/);
    assertQuiet();
    await context.close();
  });

  test('the events table: filters narrow the rows, and the CSV has the same', async () => {
    const { page, context, assertQuiet } = await openDashboard(guard);
    const events = page.locator('#events');
    const caption = page.locator('#events-caption');
    // Sends by default (the dashboard's own admin calls are in the log too).
    const sends = await tableRows(events);
    assert.equal(await caption.textContent(), '12 events, oldest first');
    assert.equal(sends.length, 12);
    assert.ok(sends.every((row) => row[1] === 'send'));
    const numbers = [...new Set((await guard.twilioRequests()).map((r) => r.params.To))];
    assert.equal(numbers.length, 8, 'the numbers codes went to');
    assert.ok(numbers.every((n) => !JSON.stringify(sends).includes(n.slice(1))), 'a full number in the table');

    await page.getByLabel('Reason').selectOption('protection_engaged');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await caption.filter({ hasText: '4 events, oldest first' }).waitFor();
    const refused = await tableRows(events);
    assert.equal(refused.length, 4);
    assert.ok(refused.every((row) => row[2] === 'block' && row[3] === 'protection_engaged' && row[4] === '503' && row[6] === 'CG'),
      JSON.stringify(refused));
    await page.locator('#events-status', { hasText: '4 events, oldest first.' }).waitFor({ state: 'attached' });
    const api = (await admin(guard, 'GET', '/v1/admin/events?route=send&reason=protection_engaged')).body.events;
    assert.deepEqual(refused.map((row) => row[7]), api.map((e) => e.prefix));

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
    const csv = await new Promise((resolve, reject) => {
      download.createReadStream().then((stream) => {
        let text = '';
        stream.on('data', (c) => { text += c; }).on('end', () => resolve(text)).on('error', reject);
      }, reject);
    });
    assert.equal(csv.trim().split('\n').length, 1 + 4);

    // Any route: the engagement itself has the same reason.
    await page.getByLabel('Route').selectOption('');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await caption.filter({ hasText: '5 events, oldest first' }).waitFor();
    assert.deepEqual((await tableRows(events)).map((row) => row[1]).sort(), ['protection', 'send', 'send', 'send', 'send']);

    // A bad country is explained at the field, and nothing is asked of the API.
    await page.getByLabel('Country', { exact: true }).fill('C');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    assert.equal(await page.locator('#events-error').textContent(), 'Country must be two letters, like CG.');
    assert.equal(await page.getByLabel('Country', { exact: true }).getAttribute('aria-invalid'), 'true');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'events-error');
    assert.equal((await tableRows(events)).length, 5);

    await page.getByRole('button', { name: 'Reset' }).click();
    await caption.filter({ hasText: '12 events, oldest first' }).waitFor();
    assert.equal(await page.locator('#events-error').isHidden(), true);
    assertQuiet();
    await context.close();
  });

  test('a number safelisted through the form is listed masked; a blocklisted prefix is removed by its button', async () => {
    const { page, context, assertQuiet } = await openDashboard(guard);
    const safelist = page.getByRole('list', { name: 'Safelisted numbers' });
    const listed = (list) => list.locator('.entry-value').allTextContents();
    assert.deepEqual(await listed(safelist), ['+44******9001']);
    await page.getByLabel('Phone number').fill('+44 7400 123499');
    await page.getByRole('button', { name: 'Add to safelist' }).click();
    await page.locator('#safelist-status', { hasText: '+44…3499 added to the safelist.' }).waitFor();
    await safelist.getByText('+44******3499').waitFor();
    assert.deepEqual((await listed(safelist)).sort(), ['+44******3499', '+44******9001']);
    assert.equal(await page.getByLabel('Phone number').inputValue(), '');
    assert.doesNotMatch(await page.locator('body').innerText(), /7400123499/, 'the full number is shown');
    const { entries } = (await admin(guard, 'GET', '/v1/admin/safelist')).body;
    assert.deepEqual(entries.map((e) => [e.entry, e.kind]).sort(), [['+44******3499', 'number'], ['+44******9001', 'number']]);

    // A number that is not E.164 is refused in words.
    await page.getByLabel('Phone number').fill('07400 123499');
    await page.getByRole('button', { name: 'Add to safelist' }).click();
    assert.equal(await page.locator('#safelist-error').textContent(), 'Start with + and the country code, e.g. +447400123456.');

    const blocklist = page.getByRole('list', { name: 'Blocklisted numbers and prefixes' });
    await page.getByLabel('Number or prefix').fill('+24207');
    await page.getByRole('button', { name: 'Add to blocklist' }).click();
    await blocklist.getByText('+24207', { exact: true }).waitFor();
    const blocked = async () => (await admin(guard, 'GET', '/v1/admin/blocklist')).body.entries.map((e) => e.entry).sort();
    assert.deepEqual(await blocked(), ['+24207', '+3712', '+44******9002']);
    await blocklist.getByRole('button', { name: 'Remove +24207' }).click();
    await page.locator('#blocklist-status', { hasText: '+24207 removed from the blocklist.' }).waitFor();
    assert.deepEqual((await listed(blocklist)).sort(), ['+3712', '+44******9002']);
    assert.deepEqual(await blocked(), ['+3712', '+44******9002']);

    // The safelisted number is taken off again by typing it.
    await page.getByLabel('Phone number').fill('+447400123499');
    await page.getByRole('button', { name: 'Remove', exact: true }).first().click();
    await page.locator('#safelist-status', { hasText: '+44…3499 removed from the safelist.' }).waitFor();
    assert.deepEqual(await listed(safelist), ['+44******9001']);
    assertQuiet();
    await context.close();
  });

  test('screenshot of the dashboard during the incident; it fits a 360 px phone', async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    const desktop = await openDashboard(guard);
    await desktop.page.screenshot({ path: join(SCREENSHOTS, 'dashboard-incident.png'), fullPage: true });
    desktop.assertQuiet();
    await desktop.context.close();

    const phone = await openDashboard(guard, { viewport: { width: 360, height: 740 } });
    const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.equal(overflow, 0, '360 px wide: the page scrolls sideways');
    assert.ok(await paintedPixels(phone.page, 'chart-sent') > 500, 'the chart is blank on a phone');
    // For a look, not committed.
    await phone.page.screenshot({ path: join(ROOT, 'tests/.artifacts/dashboard-phone.png'), fullPage: true });
    phone.assertQuiet();
    await phone.context.close();
  });

  test('an operator lifts the block with its button; the page and the API agree it is gone', async () => {
    const { page, context, assertQuiet } = await openDashboard(guard);
    const blocks = page.locator('#blocks');
    assert.match(await blocks.textContent(), /CG Congo - Brazzaville/);
    const lift = page.getByRole('button', { name: 'Lift block on CG' });
    await lift.click();
    await page.locator('#blocks-status', { hasText: 'Block on CG lifted. Sends to Congo - Brazzaville (CG) flow again.' }).waitFor();
    await blocks.filter({ hasText: 'No active blocks.' }).waitFor();
    assert.equal(await lift.count(), 0);
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'blocks-title', 'focus was lost with the button');

    const stats = await eventually(async () => {
      const res = await admin(guard, 'GET', '/v1/admin/stats');
      return res.body.active_blocks.length === 0 && res.body;
    }, 'no active block in the API');
    assert.deepEqual(stats.active_blocks, []);

    // After a reload the page still shows no block, and the timeline has the lift.
    await page.reload();
    await dashboardReady(page);
    assert.match(await blocks.textContent(), /^No active blocks/);
    const actions = await page.getByRole('article', { name: 'Pumping to CG' })
      .getByRole('list', { name: 'What the guard did' }).getByRole('listitem').allTextContents();
    assert.match(actions.at(-1), /^\d\d:\d\d:\d\d Block on Congo - Brazzaville \(CG\) lifted by an operator$/);
    assertQuiet();
    await context.close();
  });
});

describe('the dashboard of a deployment without ADMIN_TOKEN', () => {
  let guard;
  before(async () => { guard = await startGuard({ secrets: { ADMIN_TOKEN: null } }); });
  after(() => guard?.stop());

  test('says there is no admin API', async () => {
    const { page, context, assertQuiet } = await openDashboard(guard, { signIn: false });
    await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#login-error', { hasText: 'This deployment has no admin API: its ADMIN_TOKEN secret is not set.' }).waitFor();
    assert.equal(await page.locator('#dashboard').isHidden(), true);
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    assertQuiet(404);
    await context.close();
  });
});
