#!/usr/bin/env bash
# Runs the rule proof (tests/rules/test_rules.py) against a moto_server of its own, on a
# free port of 127.0.0.1, and stops that server afterwards whatever the outcome. It does not
# touch the shared emulators (.emulators/, .emulators.env).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
PY=.venv/bin/python
[[ -x .venv/bin/moto_server ]] || { echo "test-rules: .venv is missing; run 'make tools-python'" >&2; exit 2; }

PORT=${UNTHROTTLE_RULES_MOTO_PORT:-$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
LOG=$(mktemp -t unthrottle-rules-moto.XXXXXX.log)

.venv/bin/moto_server -H 127.0.0.1 -p "$PORT" >"$LOG" 2>&1 &
MOTO_PID=$!
# Only the server started here is stopped, by its pid.
cleanup() {
  kill "$MOTO_PID" 2>/dev/null || true
  wait "$MOTO_PID" 2>/dev/null || true
  rm -f "$LOG"
}
trap cleanup EXIT

# Up to 30 s for moto to answer (it imports lazily; a loaded machine is slow).
up=0
for _ in $(seq 1 150); do
  if "$PY" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/moto-api/', timeout=1)" 2>/dev/null; then
    up=1
    break
  fi
  kill -0 "$MOTO_PID" 2>/dev/null || { cat "$LOG" >&2; echo "test-rules: moto_server exited" >&2; exit 1; }
  sleep 0.2
done
((up)) || { cat "$LOG" >&2; echo "test-rules: moto_server did not answer on 127.0.0.1:$PORT" >&2; exit 1; }

AWS_ENDPOINT_URL=http://127.0.0.1:$PORT AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
  AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true \
  "$PY" tests/rules/test_rules.py
