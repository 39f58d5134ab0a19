#!/usr/bin/env bash
# Where workerd's CPU goes for one worker, with Linux `perf` on the workerd process itself
# (what benches/profile/run.mjs cannot see from Node: workerd's C++ runtime, V8's
# compilers and GC). Uses the bundles `npm run bench` builds (target/bench/) and its
# upstreams process; V8 writes /tmp/perf-<pid>.map (`--perf-basic-prof`, set through
# the capnp config's `v8Flags`) so JIT-compiled JS and wasm frames have names.
#
#   benches/profile/workerd-perf.sh otp-guard|js-guard|null reject [N]   warm refusals
#   benches/profile/workerd-perf.sh otp-guard|js-guard|null cold         the first send
#
# reject: N (default 6000) invalid numbers after 3000 of warm-up, perf attached for the
# measured ones only; cold: perf attached to a fresh workerd that has not served anything,
# then one send. Prints samples per binary (workerd / JIT / kernel / libc) and the top
# symbols. A measurement, not a test; compare two workers within one sitting, and note
# that perf's code logging itself makes V8's compilers look a little dearer.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
WORKER=${1:?worker: otp-guard, js-guard or null}
MODE=${2:?mode: reject or cold}
N=${3:-6000}
case "$WORKER" in
  otp-guard) DIR=target/bench/otp-guard ;;
  js-guard | null) DIR=target/bench/peer-$WORKER/out ;;
  *) echo "unknown worker $WORKER" >&2; exit 2 ;;
esac
[ -f "$DIR/bench.capnp" ] || { echo "no $DIR/bench.capnp: run npm run bench first" >&2; exit 2; }
command -v perf >/dev/null || { echo "perf is not installed" >&2; exit 2; }
NODE=$ROOT/node_modules/.bin/node
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

# The upstreams (KV server, Twilio and Turnstile stand-ins) for this run.
mkfifo "$WORK/in"
"$NODE" benches/upstreams.mjs <"$WORK/in" >"$WORK/up.json" &
exec 3>"$WORK/in"
until [ -s "$WORK/up.json" ]; do sleep 0.05; done
PORT=$("$NODE" -e "const s=require('net').createServer().listen(0,()=>{console.log(s.address().port);s.close()})")
"$NODE" - "$DIR/bench.capnp" "$WORK/perf.capnp" "$PORT" "$(head -1 "$WORK/up.json")" <<'EOF'
const fs = require('fs');
const [from, to, port, up] = process.argv.slice(2);
const u = JSON.parse(up);
let s = fs.readFileSync(from, 'utf8')
  .replace(/address = "127\.0\.0\.1:\d+", http = \(\), service = "main"/, `address = "127.0.0.1:${port}", http = (), service = "main"`)
  .replace(/\(name = "kv", external = \(address = "[^"]+"/, `(name = "kv", external = (address = "${u.kv}"`)
  .replace(/\(name = "TWILIO_BASE_URL", text = "[^"]+"\)/, `(name = "TWILIO_BASE_URL", text = "${u.twilio}")`)
  .replace(/\(name = "TURNSTILE_BASE_URL", text = "[^"]+"\)/, `(name = "TURNSTILE_BASE_URL", text = "${u.turnstile}")`)
  .replace('  sockets = [', '  v8Flags = ["--perf-basic-prof"],\n  sockets = [');
fs.writeFileSync(to, s);
EOF
cp "$WORK/perf.capnp" "$DIR/perf.capnp"
(cd "$DIR" && exec "$ROOT/node_modules/workerd/bin/workerd" serve perf.capnp >"$WORK/workerd.log" 2>&1) &
WPID=$!
until (exec 4<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do sleep 0.02; done
sleep 0.3
PID=$WPID # the subshell execs workerd, so this is workerd's own pid

load() { # count phone-kind
  "$NODE" - "$PORT" "$1" "$2" <<'EOF'
const http = require('http');
const [port, n, kind] = [+process.argv[2], +process.argv[3], process.argv[4]];
const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
const invalid = ['+4474001', '+1202555', '+49151234', '+3361234', '+91981234', '+55119876'];
let next = 0;
const send = (i) => new Promise((res, rej) => {
  const phone = kind === 'send' ? '+447400' + String(100000 + i).slice(-6) : invalid[i % invalid.length];
  const body = JSON.stringify({ phone, channel: 'sms', turnstile_token: 'XXXX.DUMMY.TOKEN.XXXX' });
  const req = http.request({ agent, host: '127.0.0.1', port, method: 'POST', path: '/v1/verifications',
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cf-connecting-ip': `10.1.${i % 250}.${i % 200}` } },
  (r) => { r.resume(); r.on('end', () => (r.statusCode === 202 || (kind !== 'send' && r.statusCode === 400) ? res() : rej(new Error(`status ${r.statusCode}`)))); });
  req.once('error', rej);
  req.end(body);
});
Promise.all(Array.from({ length: 8 }, async () => { while (next < n) await send(next++); }))
  .then(() => agent.destroy(), (e) => { console.error(e.message); process.exit(1); });
EOF
}

if [ "$MODE" = reject ]; then
  load 3000 reject
  perf record -F 4999 -g -p "$PID" -o "$WORK/perf.data" >/dev/null 2>&1 &
  PERF=$!
  sleep 0.3
  load "$N" reject
else
  perf record -F 20000 -g -p "$PID" -o "$WORK/perf.data" >/dev/null 2>&1 &
  PERF=$!
  sleep 0.3
  load 1 send
  sleep 0.3
fi
kill -INT "$PERF"; wait "$PERF" 2>/dev/null || true
kill "$WPID" 2>/dev/null || true
rm -f "$DIR/perf.capnp"
echo "== $WORKER $MODE: samples per binary"
perf report -i "$WORK/perf.data" --no-children --sort dso -g none 2>/dev/null | grep -E "Samples|%"
perf report -i "$WORK/perf.data" --no-children --sort symbol -g none 2>/dev/null | grep "%" | sed 's/  */ /g' >"$WORK/symbols.txt"
echo "== by kind (share of all samples)"
"$NODE" benches/profile/perf-kinds.mjs "$WORK/symbols.txt"
echo "== top symbols"
head -30 "$WORK/symbols.txt" | cut -c1-150
