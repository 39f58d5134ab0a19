// Type declarations for otp-guard.js, the browser client of otp-guard's public HTTP contract.

/** The contract's error codes, plus `network_error` and `unexpected_response` from this client. */
export type OtpGuardErrorCode =
  | 'invalid_request'
  | 'payload_too_large'
  | 'invalid_phone'
  | 'country_not_allowed'
  | 'number_type_blocked'
  | 'captcha_failed'
  | 'channel_not_allowed'
  | 'blocklisted'
  | 'ip_blocked'
  | 'rate_limited'
  | 'protection_engaged'
  | 'upstream_error'
  | 'not_found'
  | 'method_not_allowed'
  | 'unauthorized'
  | 'config_error'
  /** No answer: offline, DNS, a CORS refusal, or the client's timeout. */
  | 'network_error'
  /** An answer outside the contract, e.g. a proxy's HTML error page. */
  | 'unexpected_response';

/** Which counter a `rate_limited` refusal is about. */
export type RateLimitScope = 'ip' | 'subnet' | 'phone' | 'prefix' | 'country' | 'global';

export type Channel = 'sms' | 'call' | 'whatsapp';

export declare const ERROR_CODES: readonly OtpGuardErrorCode[];

/** Every refusal or failure of `send`, `check` and `config`. */
export declare class OtpGuardError extends Error {
  constructor(init: {
    code: OtpGuardErrorCode;
    status?: number;
    detail?: string;
    scope?: RateLimitScope | null;
    retryAfter?: number | null;
    cause?: unknown;
  });
  readonly name: 'OtpGuardError';
  /** The stable, machine-readable code. */
  readonly code: OtpGuardErrorCode;
  /** The HTTP status; 0 for `network_error`. */
  readonly status: number;
  /** The guard's explanation, for developers and logs (show `messageFor(error)` to people). */
  readonly detail: string;
  /** For `rate_limited`: which limit was reached. */
  readonly scope: RateLimitScope | null;
  /** Seconds to wait before retrying (`retry_after_s`, else the `Retry-After` header), or null. */
  readonly retryAfter: number | null;
}

export interface ClientOptions {
  /** Where the guard is served; '' (the default) means the page's own origin. */
  baseUrl?: string;
  /** Give up on a request after this many milliseconds (`network_error`). Default 15000. */
  timeoutMs?: number;
}

export interface SendOptions {
  /** E.164 (`+14155550123`), national format with `country`, `00…`, or a `tel:` URI. */
  phone: string;
  /** ISO 3166-1 alpha-2 region used to read a national-format `phone`. */
  country?: string;
  /** Default `sms`. A `call` is allowed after the guard says `callAvailable`. */
  channel?: Channel;
  /** The Turnstile token from the widget's callback; single use. */
  turnstileToken: string;
  /** Language of the message, e.g. `en` or `pt-BR`. */
  locale?: string;
}

export interface SendResult {
  /** The masked destination, e.g. `+44******3456`. */
  to: string;
  channel: Channel;
  /** SMS sent to this number in the guard's window, this one included. */
  smsAttempts: number;
  /** Whether "Call me instead" may be offered (after the next wait). */
  callAvailable: boolean;
  /** Seconds before another send (SMS or call) to this number is allowed. */
  retryAfter: number;
}

export interface CheckOptions {
  phone: string;
  country?: string;
  /** The code the person received (4 to 10 letters or digits). */
  code: string;
}

export interface CheckResult {
  /** True once the code was right. A wrong code resolves `false`; it does not throw. */
  approved: boolean;
  /** Twilio's status: `approved`, `pending`, ... */
  status: string;
}

export interface ClientConfig {
  turnstileSiteKey: string;
  /** The Turnstile script to load (Cloudflare's api.js, or a local stand-in in development). */
  turnstileScriptUrl: string;
  /** The `action` to render the widget with, when the deployment checks it. */
  turnstileAction: string | null;
  channels: Channel[];
  /** The visitor's country by IP, a sensible default for a country picker. */
  defaultCountry: string | null;
  voiceGateSmsAttempts: number;
}

export interface OtpGuardClient {
  /** `GET /v1/client-config`. */
  config(): Promise<ClientConfig>;
  /** `POST /v1/verifications`; rejects with OtpGuardError. */
  send(options: SendOptions): Promise<SendResult>;
  /** `POST /v1/verifications/check`; rejects with OtpGuardError. */
  check(options: CheckOptions): Promise<CheckResult>;
}

export declare function createClient(options?: ClientOptions): OtpGuardClient;

/** A plain English sentence for any error, e.g. "Too many attempts from your network. Try again in 42 seconds." */
export declare function messageFor(error: unknown): string;

/** "1 second", "42 seconds", "3 minutes", "2 hours". */
export declare function formatWait(seconds: number): string;
