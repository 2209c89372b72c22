# Sourced by scripts/bench.sh and scripts/bench-peer.sh: emulators of their own, on four
# ports the kernel says are free now (beside the tests' and each other's), their state and
# endpoints under $STATE. The caller sets its EXIT trap (stopping them), then calls
# start_own_emulators.

read -r dynamodb moto kinesis kinesis_tls < <(python3 - <<'PY'
import socket
sockets = [socket.socket() for _ in range(4)]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in sockets))
for s in sockets:
    s.close()
PY
)

export UNTHROTTLE_EMULATORS_STATE=$STATE/emulators
export UNTHROTTLE_EMULATORS_ENV=$STATE/emulators.env
export UNTHROTTLE_DYNAMODB_PORT=$dynamodb UNTHROTTLE_MOTO_PORT=$moto
export UNTHROTTLE_KINESIS_PORT=$kinesis UNTHROTTLE_KINESIS_TLS_PORT=$kinesis_tls

# Starts them, exports their endpoints, and names the commit measured: a run on uncommitted
# changes says so, since its figures are not the commit's (its own output,
# docs/benchmarks.md, does not count).
start_own_emulators() {
  bash scripts/emulators.sh up
  set -a
  # shellcheck source=/dev/null
  . "$UNTHROTTLE_EMULATORS_ENV"
  set +a
  BENCH_COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  if [[ -n $(git status --porcelain -- . ':!docs/benchmarks.md' 2>/dev/null) ]]; then
    BENCH_COMMIT=$BENCH_COMMIT-dirty
  fi
  export BENCH_COMMIT
}
