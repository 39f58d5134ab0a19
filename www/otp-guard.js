// otp-guard browser client: the two calls of the public contract, one error type, and a
// plain-English sentence for every error. No dependencies; works in browsers and Node 18+.
//
//   import { createClient, messageFor } from '/otp-guard.js';
//   const guard = createClient();
//   const sent = await guard.send({ phone, country: 'GB', turnstileToken });
//   const { approved } = await guard.check({ phone, country: 'GB', code });
//
// Types are in otp-guard.d.ts.

/** Error codes of the contract, plus the two this client adds for failures outside it. */
export const ERROR_CODES = Object.freeze([
  'invalid_request', 'payload_too_large', 'invalid_phone', 'country_not_allowed',
  'number_type_blocked', 'captcha_failed', 'channel_not_allowed', 'blocklisted', 'ip_blocked',
  'rate_limited', 'protection_engaged', 'upstream_error', 'not_found', 'method_not_allowed',
  'unauthorized', 'config_error',
  // The request never got an answer (offline, DNS, CORS refusal, timeout).
  'network_error',
  // An answer that is not the contract's (e.g. a proxy's HTML error page).
  'unexpected_response',
]);

/** A refusal or failure. `code` is stable; `detail` is the guard's developer-facing text. */
export class OtpGuardError extends Error {
  constructor({ code, status = 0, detail = '', scope = null, retryAfter = null, cause } = {}) {
    super(detail ? `${code}: ${detail}` : code, cause === undefined ? undefined : { cause });
    this.name = 'OtpGuardError';
    this.code = code;
    this.status = status;
    this.detail = detail;
    this.scope = scope;
    this.retryAfter = retryAfter;
  }
}

/**
 * Creates a client for the guard at `baseUrl` ('' means this page's origin). Requests that
 * get no answer within `timeoutMs` fail with `network_error`.
 */
export function createClient({ baseUrl = '', timeoutMs = 15000 } = {}) {
  const root = String(baseUrl).replace(/\/+$/, '');

  async function request(method, path, body) {
    let response;
    try {
      response = await fetch(root + path, {
        method,
        headers: body === undefined ? { accept: 'application/json' } : { 'content-type': 'application/json', accept: 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (cause) {
      const detail = cause?.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : 'the request could not be sent';
      throw new OtpGuardError({ code: 'network_error', detail, cause });
    }
    const data = await response.json().catch(() => null);
    if (response.ok && data && typeof data === 'object') return data;
    throw problemToError(response, data);
  }

  return {
    /** The page settings: Turnstile key and script, channels, default country. */
    async config() {
      const c = await request('GET', '/v1/client-config');
      return {
        turnstileSiteKey: c.turnstile_site_key,
        turnstileScriptUrl: c.turnstile_script_url,
        turnstileAction: c.turnstile_action ?? null,
        channels: c.channels ?? [],
        defaultCountry: c.default_country ?? null,
        voiceGateSmsAttempts: c.voice_gate_sms_attempts ?? 0,
      };
    },

    /** Asks the guard to send a code. Resolves once the guard has handed it to Twilio. */
    async send({ phone, country, channel = 'sms', turnstileToken, locale } = {}) {
      const body = compact({ phone, country, channel, turnstile_token: turnstileToken, locale });
      const r = await request('POST', '/v1/verifications', body);
      return {
        to: r.to,
        channel: r.channel,
        smsAttempts: r.sms_attempts,
        callAvailable: r.call_available === true,
        retryAfter: r.retry_after_s ?? 0,
      };
    },

    /** Checks a code. A wrong code is not an error: it resolves `{ approved: false }`. */
    async check({ phone, country, code } = {}) {
      const r = await request('POST', '/v1/verifications/check', compact({ phone, country, code }));
      return { approved: r.valid === true && r.status === 'approved', status: r.status };
    },
  };
}

/** Drops empty optional fields: the guard refuses unknown or mistyped ones, not absent ones. */
function compact(fields) {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined && v !== null && v !== ''));
}

/** Turns a non-2xx answer (ideally application/problem+json) into an OtpGuardError. */
function problemToError(response, problem) {
  const retryAfter = Number.isFinite(problem?.retry_after_s) ? problem.retry_after_s : parseRetryAfter(response.headers.get('retry-after'));
  if (problem && typeof problem.code === 'string') {
    return new OtpGuardError({
      code: problem.code,
      status: response.status,
      detail: typeof problem.detail === 'string' ? problem.detail : '',
      scope: typeof problem.scope === 'string' ? problem.scope : null,
      retryAfter,
    });
  }
  return new OtpGuardError({
    code: 'unexpected_response', status: response.status, detail: `HTTP ${response.status} without a problem document`, retryAfter,
  });
}

/** `Retry-After` is either delay-seconds or an HTTP date (RFC 9110 §10.2.3). */
function parseRetryAfter(value) {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value);
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/** "1 second", "42 seconds", "3 minutes", "2 hours": waits as people say them. */
export function formatWait(seconds) {
  const s = Math.max(1, Math.ceil(seconds));
  const unit = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (s < 120) return unit(s, 'second');
  if (s < 2 * 3600) return unit(Math.ceil(s / 60), 'minute');
  return unit(Math.ceil(s / 3600), 'hour');
}

const TRY_LATER = 'Please try again later.';

/** What a rate limit means to the person, by the counter that tripped. */
const RATE_LIMIT_SUBJECT = {
  phone: 'Too many codes were requested for this phone number.',
  prefix: 'Too many codes were requested for numbers like this one.',
  ip: 'Too many attempts from your network.',
  subnet: 'Too many attempts from your network.',
  country: 'Too many codes were requested for this country.',
  global: 'We are receiving too many requests right now.',
};

const MESSAGES = {
  invalid_request: 'Something in the form was not right. Please check it and try again.',
  payload_too_large: 'What you entered is too long. Please shorten it and try again.',
  invalid_phone: 'That does not look like a valid phone number. Check the number and the country.',
  country_not_allowed: 'Sorry, we cannot send codes to phone numbers in that country.',
  number_type_blocked: 'Sorry, we cannot send codes to this kind of phone number. Please use a mobile number.',
  captcha_failed: 'We could not confirm that you are a person. Please complete the security check again.',
  channel_not_allowed: 'That way of getting a code is not available for this number yet. Please ask for a text message.',
  blocklisted: 'Sorry, we cannot send codes to this phone number.',
  ip_blocked: 'Sorry, we cannot send codes to visitors on your network. If you use a VPN or proxy, turn it off and try again.',
  protection_engaged: `Sending codes to this destination is paused to protect against fraud. ${TRY_LATER}`,
  upstream_error: 'Our messaging service is not responding. Please try again in a moment.',
  not_found: 'That code has expired or was already used. Please ask for a new code.',
  config_error: `This service is not set up correctly at the moment. ${TRY_LATER}`,
  network_error: 'We could not reach the server. Check your internet connection and try again.',
};

/** A sentence a person understands, for any error (an OtpGuardError or anything else). */
export function messageFor(error) {
  const code = error?.code;
  if (code === 'rate_limited') {
    const subject = RATE_LIMIT_SUBJECT[error.scope] ?? 'Too many attempts.';
    const wait = error.retryAfter > 0 ? `Try again in ${formatWait(error.retryAfter)}.` : TRY_LATER;
    return `${subject} ${wait}`;
  }
  return MESSAGES[code] ?? `Something went wrong on our side. ${TRY_LATER}`;
}
