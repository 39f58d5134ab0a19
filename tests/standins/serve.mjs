// Runs both test stand-ins (Twilio Verify and Turnstile siteverify) until SIGINT or SIGTERM.
// Usage: node tests/standins/serve.mjs [--twilio-port 8788] [--turnstile-port 8789] [--host 127.0.0.1]
// Each stand-in reads its own environment variables; see the header of its module.

import { parseArgs } from 'node:util';
import { startTwilioStandin } from './twilio-verify.mjs';
import { startTurnstileStandin } from './turnstile.mjs';

const { values } = parseArgs({
  options: {
    'twilio-port': { type: 'string', default: '8788' },
    'turnstile-port': { type: 'string', default: '8789' },
    host: { type: 'string', default: '127.0.0.1' },
  },
});

const twilio = await startTwilioStandin({ port: Number(values['twilio-port']), host: values.host });
console.log(`[standins] Twilio Verify stand-in listening on http://${values.host}:${twilio.address().port}`);
const turnstile = await startTurnstileStandin({ port: Number(values['turnstile-port']), host: values.host });
console.log(`[standins] Turnstile stand-in listening on http://${values.host}:${turnstile.address().port}`);

// Closing both servers (and any connection a "hang" fault holds) lets the process exit by itself.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    console.log(`[standins] ${signal} received, shutting down`);
    await Promise.all([twilio.stop(), turnstile.stop()]);
  });
}
