#!/usr/bin/env bash
# Property-based conformance run of the worker against its own OpenAPI document
# (src/openapi.json) with Schemathesis: every operation, generated valid and invalid inputs,
# and these checks on every answer: not_a_server_error, status_code_conformance,
# content_type_conformance, response_schema_conformance.
#
#   tests/hostile/schemathesis.sh              # 50 examples per operation, seed 1
#   MAX_EXAMPLES=10 SEED=7 tests/hostile/schemathesis.sh
#   tests/hostile/schemathesis.sh --include-path /v1/verifications   # extra args go to `schemathesis run`
#
# Installs Schemathesis and openapi-spec-validator (pinned in .ci/setup) from PyPI into
# tests/.venv if missing, and validates the document; starts one guard
# stack (tests/hostile/serve.mjs: the worker in workerd, the Twilio and Turnstile stand-ins)
# and stops it on exit. The Turnstile stand-in runs in local mode (--local-turnstile), so a
# generated token is refused as a production secret refuses it (captcha_failed), not as
# Cloudflare's always-pass test secret. Reports go to tests/.artifacts/schemathesis/; the
# last lines print cases sent, failed checks and 5xx answers (schemathesis_summary.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
export PATH="$ROOT/node_modules/.bin:$PATH"
SCHEMATHESIS_VERSION=$(sed -n 's/^  SCHEMATHESIS_VERSION=//p' .ci/setup)
VENV=tests/.venv
MAX_EXAMPLES=${MAX_EXAMPLES:-50}
SEED=${SEED:-1}
OUT=tests/.artifacts/schemathesis
mkdir -p "$OUT"

# 1. Schemathesis, idempotently (.ci/setup pins the versions).
.ci/setup --schemathesis
# The document itself first: valid OpenAPI 3.1.
"$VENV/bin/openapi-spec-validator" src/openapi.json

# 2. One guard stack, stopped on exit (only the process started here).
[ -n "${NO_BUILD:-}" ] || .ci/build-worker
SERVE_LOG="$OUT/serve.log"
node tests/hostile/serve.mjs --no-build --local-turnstile >"$SERVE_LOG" 2>&1 &
SERVE_PID=$!
stop() {
  kill -TERM "$SERVE_PID" 2>/dev/null || true
  wait "$SERVE_PID" 2>/dev/null || true
}
trap stop EXIT
for _ in $(seq 1 120); do
  grep -q '^READY$' "$SERVE_LOG" 2>/dev/null && break
  kill -0 "$SERVE_PID" 2>/dev/null || { cat "$SERVE_LOG"; echo "the guard stack did not start" >&2; exit 1; }
  sleep 1
done
grep -q '^READY$' "$SERVE_LOG" || { cat "$SERVE_LOG"; echo "the guard stack did not start in 120 s" >&2; exit 1; }
BASE_URL=$(sed -n 's/^BASE_URL=//p' "$SERVE_LOG")
ADMIN_TOKEN=$(sed -n 's/^ADMIN_TOKEN=//p' "$SERVE_LOG")
echo "guard at $BASE_URL; schemathesis $SCHEMATHESIS_VERSION, $MAX_EXAMPLES examples per operation, seed $SEED"

# 3. The run. One worker: CPython 3.11's ast module is not thread-safe, and Hypothesis parses
# lambdas with it (SystemError "AST constructor recursion depth mismatch" with --workers > 1).
set +e
"$VENV/bin/schemathesis" run src/openapi.json \
  --url "$BASE_URL" \
  --header "Authorization: Bearer $ADMIN_TOKEN" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "$MAX_EXAMPLES" \
  --seed "$SEED" \
  --workers 1 \
  --request-timeout 30 \
  --no-color \
  --report junit,ndjson \
  --report-dir "$OUT" \
  "$@"
status=$?
set -e
echo "schemathesis exit status $status (reports in $OUT)"
# Cases sent, failed checks, 5xx answers (fails on a failed check or an unintended 5xx).
REPORT=$(ls -t "$OUT"/ndjson-*.ndjson | head -1)
"$VENV/bin/python" tests/hostile/schemathesis_summary.py "$REPORT" || status=1
exit $status
