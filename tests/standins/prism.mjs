// Prism in proxy mode in front of a Twilio Verify stand-in: every request is validated
// against Twilio's OpenAPI document (422 on a violation) before it is forwarded.

import { spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

export const CONTRACT = fileURLToPath(new URL('../contracts/twilio_verify_v2.json', import.meta.url));
const PRISM = fileURLToPath(new URL('../../node_modules/@stoplight/prism-cli/dist/index.js', import.meta.url));

// Finds a free TCP port for a program that cannot listen on port 0 itself.
export function freePort() {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

// Starts `prism proxy --errors` in front of upstream and resolves once it is listening.
export async function startPrism(upstream) {
  const port = await freePort();
  const child = spawn(process.execPath, [PRISM, 'proxy', CONTRACT, upstream, '--errors', '-p', String(port), '-h', '127.0.0.1'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  await new Promise((resolve, reject) => {
    const onData = (chunk) => {
      output += chunk;
      if (output.includes('Prism is listening')) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`prism exited with ${code}:\n${output}`)));
  });
  child.removeAllListeners('exit');
  return { child, base: `http://127.0.0.1:${port}` };
}

