// The demo sign-up page: phone number, security check, code, verified. Every answer of the
// guard is shown as a plain sentence (messageFor); the guard, not this page, decides what is
// allowed, so the page only mirrors what it was told (waits, "Call me instead").

import { createClient, messageFor } from '/otp-guard.js';

// Regions offered in the picker, with their calling codes: the most common destinations
// plus every region of the project's phone table. Names come from Intl.DisplayNames.
const COUNTRIES = {
  AE: 971, AM: 374, AR: 54, AT: 43, AU: 61, AZ: 994, BD: 880, BE: 32, BG: 359, BH: 973,
  BO: 591, BR: 55, BY: 375, CA: 1, CG: 242, CH: 41, CI: 225, CL: 56, CM: 237, CN: 86,
  CO: 57, CR: 506, CY: 357, CZ: 420, DE: 49, DK: 45, DO: 1, DZ: 213, EC: 593, EE: 372,
  EG: 20, ES: 34, ET: 251, FI: 358, FR: 33, GB: 44, GE: 995, GH: 233, GR: 30, GT: 502,
  HK: 852, HR: 385, HU: 36, ID: 62, IE: 353, IL: 972, IN: 91, IR: 98, IS: 354, IT: 39,
  JM: 1, JO: 962, JP: 81, KE: 254, KG: 996, KR: 82, KW: 965, KZ: 7, LB: 961, LK: 94,
  LT: 370, LU: 352, LV: 371, MA: 212, MT: 356, MX: 52, MY: 60, NG: 234, NL: 31, NO: 47,
  NP: 977, NZ: 64, OM: 968, PA: 507, PE: 51, PH: 63, PK: 92, PL: 48, PR: 1, PT: 351,
  PY: 595, QA: 974, RO: 40, RS: 381, RU: 7, SA: 966, SE: 46, SG: 65, SI: 386, SK: 421,
  SN: 221, TH: 66, TJ: 992, TN: 216, TR: 90, TW: 886, TZ: 255, UA: 380, UG: 256, US: 1,
  UY: 598, UZ: 998, VE: 58, VN: 84, ZA: 27,
};

// Refusals about the number itself: the phone field is marked invalid for them.
const PHONE_PROBLEMS = new Set(['invalid_phone', 'country_not_allowed', 'number_type_blocked', 'blocklisted']);

const CAPTCHA_BROKEN = 'The security check could not be completed. Reload the page and try again.';

// The page's elements by id, as camelCase properties (send-form → ui.sendForm).
const ui = Object.fromEntries(
  ['send-form', 'country', 'phone', 'captcha', 'send', 'check-form', 'code', 'code-hint', 'verify', 'call',
    'done', 'done-title', 'status', 'error']
    .map((id) => [id.replace(/-(\w)/g, (_, c) => c.toUpperCase()), document.getElementById(id)]),
);

const guard = createClient();
const locale = document.documentElement.lang;

const state = {
  captcha: null, // the mounted Turnstile widget, once loaded
  busy: false, // a request is in flight
  waitUntil: 0, // no send (SMS or call) before this time (ms), as the guard said
  sent: null, // { phone, country, to }: where the pending code went
  callAvailable: false, // the guard offered a call for the pending number
};
let tickTimer = 0;

// ---- Rendering --------------------------------------------------------------------------

/** Brings the buttons in line with the state, and keeps the countdown ticking. */
function update() {
  clearTimeout(tickTimer);
  const msLeft = state.waitUntil - Date.now();
  const waiting = msLeft > 0;
  if (waiting) ui.send.textContent = `${state.sent ? 'Resend' : 'Try again'} in ${Math.ceil(msLeft / 1000)} s`;
  else ui.send.textContent = state.sent ? 'Resend code' : 'Send code';
  ui.send.disabled = state.busy || waiting || !state.captcha;
  ui.call.hidden = !state.callAvailable;
  ui.call.disabled = state.busy || waiting;
  ui.verify.disabled = state.busy;
  // Wake up when the displayed second changes.
  if (waiting) tickTimer = setTimeout(update, msLeft % 1000 || 1000);
}

function showStatus(text, { success = false } = {}) {
  ui.status.textContent = text;
  ui.status.classList.toggle('is-success', success);
}

/** Shows a failure as a sentence, moves focus to it, and marks `field` as the culprit. */
function showError(text, field = null) {
  showStatus('');
  clearError();
  ui.error.textContent = text;
  ui.error.hidden = false;
  if (field) {
    field.setAttribute('aria-invalid', 'true');
    field.setAttribute('aria-describedby', `${field.dataset.hint} error`);
  }
  ui.error.focus();
}

function clearError() {
  ui.error.hidden = true;
  ui.error.textContent = '';
  for (const field of [ui.phone, ui.code]) {
    field.removeAttribute('aria-invalid');
    field.setAttribute('aria-describedby', field.dataset.hint);
  }
}

// ---- The country picker ----------------------------------------------------------------

function fillCountries(defaultCountry) {
  const names = new Intl.DisplayNames([locale], { type: 'region' });
  const codes = { ...COUNTRIES };
  // The visitor's own country is always offered, even when it is not in the list.
  if (defaultCountry && !(defaultCountry in codes)) codes[defaultCountry] = null;
  const options = Object.entries(codes)
    .map(([region, code]) => ({ region, label: code ? `${names.of(region)} (+${code})` : names.of(region) }))
    .sort((a, b) => a.label.localeCompare(b.label, locale));
  const placeholder = new Option('Choose a country', '');
  ui.country.replaceChildren(placeholder, ...options.map(({ region, label }) => new Option(label, region)));
  ui.country.value = defaultCountry ?? '';
  ui.country.disabled = false;
}

// ---- Turnstile ---------------------------------------------------------------------------

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = src;
    script.async = true;
    script.onload = resolve;
    script.onerror = () => reject(new Error(`could not load ${src}`));
    document.head.append(script);
  });
}

/**
 * Loads the Turnstile script the guard names (Cloudflare's, or the local stand-in) and
 * renders the widget. Tokens are single use: take() hands out the current one (or waits for
 * the next) and reset() asks the widget for a fresh one.
 */
async function mountCaptcha(container, config, onError) {
  const src = new URL(config.turnstileScriptUrl, location.href);
  src.searchParams.set('render', 'explicit'); // We render explicitly, below.
  await loadScript(src.href);

  let token = null;
  let waiting = [];
  const settle = (fn) => waiting.splice(0).forEach((w) => fn(w));
  const params = {
    sitekey: config.turnstileSiteKey,
    callback: (t) => {
      token = t;
      settle((w) => w.resolve(t));
    },
    'expired-callback': () => { token = null; },
    'error-callback': (code) => {
      token = null;
      settle((w) => w.reject(new Error(`Turnstile error ${code}`)));
      onError(code);
      return true; // Handled: the real widget would otherwise throw.
    },
  };
  if (config.turnstileAction) params.action = config.turnstileAction;
  const widgetId = window.turnstile.render(container, params);
  if (widgetId === undefined) throw new Error('Turnstile did not render');

  return {
    hasToken: () => token !== null,
    take() {
      if (token === null) return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
      const t = token;
      token = null;
      return Promise.resolve(t);
    },
    reset() {
      token = null;
      window.turnstile.reset(widgetId);
    },
    remove() {
      window.turnstile.remove(widgetId);
    },
  };
}

// ---- The flow ----------------------------------------------------------------------------

/** Asks the guard for a code by `channel` ('sms' or 'call') to the number in the form. */
async function sendCode(channel) {
  const phone = ui.phone.value.trim();
  const country = ui.country.value;
  if (!phone) return showError('Enter your phone number.', ui.phone);

  state.busy = true;
  update();
  clearError();
  if (!state.captcha.hasToken()) showStatus('Waiting for the security check…');
  try {
    const turnstileToken = await state.captcha.take();
    showStatus(channel === 'call' ? 'Placing the call…' : 'Sending your code…');
    const sent = await guard.send({ phone, country, channel, turnstileToken, locale });
    state.sent = { phone, country, to: sent.to };
    state.callAvailable = sent.callAvailable;
    state.waitUntil = Date.now() + sent.retryAfter * 1000;
    ui.checkForm.hidden = false;
    ui.codeHint.textContent = sent.channel === 'call' ? 'You will hear it in the call.' : 'It is in the text message we just sent.';
    showStatus(sent.channel === 'call' ? `Calling ${sent.to} now.` : `Code sent to ${sent.to}.`);
    ui.code.value = '';
    ui.code.focus();
  } catch (error) {
    if (error.code === 'rate_limited' && error.retryAfter > 0) state.waitUntil = Date.now() + error.retryAfter * 1000;
    showError(error.code ? messageFor(error) : CAPTCHA_BROKEN, PHONE_PROBLEMS.has(error.code) ? ui.phone : null);
  } finally {
    state.busy = false;
    state.captcha.reset(); // The token is spent (or may be): get a fresh one for the next send.
    update();
  }
}

async function checkCode() {
  const code = ui.code.value.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9]{4,10}$/.test(code)) return showError('Enter the code from the message (4 to 10 digits).', ui.code);

  state.busy = true;
  update();
  clearError();
  showStatus('Checking your code…');
  try {
    const { approved } = await guard.check({ phone: state.sent.phone, country: state.sent.country, code });
    if (approved) finish();
    else showError('That code is not right. Check it and try again.', ui.code);
  } catch (error) {
    showError(messageFor(error), error.code === 'not_found' ? null : ui.code);
  } finally {
    state.busy = false;
    update();
  }
}

function finish() {
  state.waitUntil = 0;
  state.callAvailable = false;
  state.captcha.remove();
  ui.sendForm.hidden = true;
  ui.checkForm.hidden = true;
  ui.done.hidden = false;
  showStatus('Your phone number is verified.', { success: true });
  ui.doneTitle.focus();
}

/** A different number starts over: the pending code, its wait and the call offer were for the old one. */
function startOverIfNumberChanged() {
  if (!state.sent || (ui.phone.value.trim() === state.sent.phone && ui.country.value === state.sent.country)) return;
  state.sent = null;
  state.callAvailable = false;
  state.waitUntil = 0;
  ui.checkForm.hidden = true;
  showStatus('');
  update();
}

async function init() {
  ui.phone.dataset.hint = 'phone-hint';
  ui.code.dataset.hint = 'code-hint';
  ui.sendForm.addEventListener('submit', (event) => {
    event.preventDefault();
    sendCode('sms');
  });
  ui.checkForm.addEventListener('submit', (event) => {
    event.preventDefault();
    checkCode();
  });
  ui.call.addEventListener('click', () => sendCode('call'));
  ui.phone.addEventListener('input', startOverIfNumberChanged);
  ui.country.addEventListener('change', startOverIfNumberChanged);

  let config;
  try {
    config = await guard.config();
  } catch (error) {
    return showError(messageFor(error));
  }
  fillCountries(config.defaultCountry);
  try {
    state.captcha = await mountCaptcha(ui.captcha, config, () => showError(CAPTCHA_BROKEN));
  } catch {
    return showError(CAPTCHA_BROKEN);
  }
  update();
}

init();
