// What benches/workerd.mjs and benches/profile/ share: wrangler.toml's vars, the settings
// every measured worker gets alike, and the benchmark's phone numbers.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import examples from 'libphonenumber-js/mobile/examples';

/** wrangler.toml's [vars] (every value there is a plain string). */
export function wranglerVars(wranglerToml) {
  const text = readFileSync(wranglerToml, 'utf8');
  const section = text.split(/^\[vars\]\s*$/m)[1].split(/^\[/m)[0];
  const vars = {};
  for (const m of section.matchAll(/^([A-Z0-9_]+)\s*=\s*"((?:[^"\\]|\\.)*)"/gm)) vars[m[1]] = JSON.parse(`"${m[2]}"`);
  return vars;
}

/**
 * Set for every measured worker alike, over wrangler.toml's vars: KV counters, the log on
 * the console, and the volume quotas raised so hundreds of sends stay on the full path (the
 * per-IP, per-subnet and per-number quotas keep their defaults: each send has its own
 * number and client address).
 */
export const BENCH_VARS = {
  COUNTER_BACKEND: 'kv',
  DECISION_LOG: 'console',
  LIMITS_PREFIX: '1000000/1h,1000000/1d',
  COUNTRY_LIMITS: '*:1000000/1h,1000000/1d',
  LIMITS_GLOBAL: '1000000/1h,1000000/1d',
  SPEND_CAP_HOURLY_USD: '1000000', SPEND_CAP_DAILY_USD: '1000000',
  SPEND_CAP_COUNTRY_HOURLY_USD: '1000000', SPEND_CAP_COUNTRY_DAILY_USD: '1000000',
  PUMPING_MIN_SENDS: '100000',
};

/**
 * `count` distinct valid numbers an SMS may go to (mobile, or fixed-or-mobile), from ten
 * countries, on which libphonenumber-js and otp-guard (its CLI at `cli`, which runs the
 * worker's parser) agree; and invalid ones (the same, cut short).
 */
export function benchNumbers(count, cli) {
  const countries = ['GB', 'US', 'DE', 'FR', 'IN', 'BR', 'AU', 'ES', 'NG', 'MX'];
  const valid = [];
  const invalid = [];
  for (let k = 0; valid.length < count * 1.2 + 50 && k < 10_000; k++) {
    for (const c of countries) {
      const national = examples[c];
      const candidate = national.slice(0, -4) + String((Number(national.slice(-4)) + k * 37) % 10_000).padStart(4, '0');
      const p = parsePhoneNumberFromString(candidate, c);
      if (p?.isValid() && ['MOBILE', 'FIXED_LINE_OR_MOBILE'].includes(p.getType())) {
        valid.push(p.number);
        if (k % 4 === 0) invalid.push(p.number.slice(0, -3));
      }
    }
  }
  const ask = (list) => execFileSync(cli, ['phone'], { input: list.join('\n') + '\n', encoding: 'utf8', maxBuffer: 1 << 26 })
    .trim().split('\n').map((l) => JSON.parse(l));
  const agreedValid = ask(valid).filter((r) => r.valid && ['mobile', 'fixed_line_or_mobile'].includes(r.type)).map((r) => r.e164);
  const agreedInvalid = ask(invalid).filter((r) => !r.valid).map((r) => r.input)
    .filter((n) => !parsePhoneNumberFromString(n)?.isValid());
  if (agreedValid.length < count) throw new Error(`only ${agreedValid.length} agreed valid numbers`);
  return { valid: [...new Set(agreedValid)].slice(0, count), invalid: agreedInvalid };
}
