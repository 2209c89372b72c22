#!/usr/bin/env bash
# Runs one function's real handler on one event, the way Lambda does: the function's binary
# under `cargo lambda watch` (the Lambda Runtime API emulator), the event sent with
# `cargo lambda invoke --data-file`. The function's own logs go to stderr; the handler's
# JSON result is the last line of stdout. Exits non-zero if the handler returned an error.
#
# Usage: scripts/invoke.sh FUNCTION EVENT_FILE
# Environment: the function's configuration (SNAPSHOT_BUCKET, LEDGER_TABLE, ...) as set in
# the caller's environment; .emulators.env is loaded when present (emulator endpoints).
#   UNTHROTTLE_INVOKE_PORT     the Runtime API's port (default: a free one, chosen per run)
#   UNTHROTTLE_INVOKE_PROFILE  the cargo profile the function is built with (default: release;
#                              the tests use dev, so `make test` builds no release binary)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FUNCTION=${1:?usage: scripts/invoke.sh FUNCTION EVENT_FILE}
EVENT=${2:?usage: scripts/invoke.sh FUNCTION EVENT_FILE}
PINNED_PORT=${UNTHROTTLE_INVOKE_PORT:-}
PROFILE=${UNTHROTTLE_INVOKE_PROFILE:-release}
STATE=$ROOT/.emulators
export PATH=$ROOT/.venv/bin:$PATH

die() { echo "invoke: $*" >&2; exit 2; }
[[ -d $ROOT/functions/$FUNCTION ]] || die "no function '$FUNCTION' (one of: $(ls "$ROOT/functions" | tr '\n' ' '))"
[[ -f $EVENT ]] || die "no event file '$EVENT'"
command -v cargo-lambda >/dev/null || die "cargo-lambda is not installed: run 'make tools-python'"
if [[ -f $ROOT/.emulators.env ]]; then
  set -a
  # shellcheck disable=SC1091
  . "$ROOT/.emulators.env"
  set +a
fi

# A function that cannot start leaves `cargo lambda invoke` waiting for ever: say it here.
for required in SNAPSHOT_BUCKET LEDGER_TABLE; do
  [[ -n ${!required:-} ]] || die "$required is not set: export it first (README, Local invoke), e.g. SNAPSHOT_BUCKET=unthrottle-demo-snapshots LEDGER_TABLE=unthrottle-demo-ledger after 'make demo'"
done

# The shipped samples are dated (November 2026): a local run acts on them whatever their age,
# unless the caller sets MAX_EVENT_AGE_SECONDS.
export MAX_EVENT_AGE_SECONDS=${MAX_EVENT_AGE_SECONDS:-0}
# `cargo lambda watch` gives the function no real ARN, so it cannot read its own account and
# region there; it acts where these say (the samples' account and region by default).
export UNTHROTTLE_HOME_ACCOUNT=${UNTHROTTLE_HOME_ACCOUNT:-123456789012} AWS_REGION=${AWS_REGION:-us-east-1}

mkdir -p "$STATE"
# The function sees exactly this environment: AWS settings (the SDK's, and Lambda's logging
# controls AWS_LAMBDA_LOG_FORMAT / AWS_LAMBDA_LOG_LEVEL), RUST_LOG, and every variable a
# function reads, as declared in shared/src/core/config.rs and each service's settings.rs
# (tests/tests/variables.rs checks this pattern admits each of them).
env_file=$STATE/invoke-$FUNCTION.env
env | grep -E '^(AWS_[A-Z0-9_]+|RUST_LOG|UNTHROTTLE_HOME_ACCOUNT|SNAPSHOT_BUCKET|LEDGER_TABLE|METRIC_NAMESPACE|METRICS_MODE|DRY_RUN|COOLDOWN_SECONDS|MAX_EVENT_AGE_SECONDS|SETTLE_SECONDS|VERIFY_WINDOW_SECONDS|MIN_THROTTLE_EVENTS|SUSTAIN_SECONDS|S3_FORCE_PATH_STYLE|SCALE_FACTOR|MIN_STEP|HEADROOM|ON_DEMAND|MAX_ON_DEMAND_SWITCHES_PER_DAY|MAX_READ_CAPACITY|MAX_WRITE_CAPACITY|RAISE_ON_DEMAND_MAX|MAX_ON_DEMAND_READ_UNITS|MAX_ON_DEMAND_WRITE_UNITS|MAX_SHARDS|TABLE_ALLOW|STREAM_ALLOW|API_ALLOW|DIGEST_TOPIC_ARN|QUOTA_INCREASE|QUOTA_FACTOR|QUOTA_MAX_FACTOR|QUOTA_MIN_EVENTS|THROTTLE_WINDOW_MINUTES|SSM_HIGH_THROUGHPUT|RESTORE_AFTER_QUIET_HOURS|RESTORE_BILLING_MODE)=' >"$env_file" || true

# Build first, so the watcher starts the binary at once and build errors show here.
cargo build --profile "$PROFILE" --quiet --package "$FUNCTION"

# A port nobody holds right now. A fixed one is not enough: any client socket on this machine
# may have been given it as its ephemeral port, and `cargo lambda watch` then exits at once.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_free() {
  python3 -c 'import socket, sys; socket.socket().bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null
}

log=$STATE/watch-$FUNCTION.log
watcher=
stop_watcher() {
  [[ -n $watcher ]] || return 0
  kill -- "-$watcher" 2>/dev/null || true
  wait "$watcher" 2>/dev/null || true
}
trap stop_watcher EXIT

# Starts the watcher on $PORT and waits for it to answer; fails if it exits first (the port was
# taken between choosing it and binding it, or the function does not build).
start_watcher() {
  # Its own process group, so the watcher and the function it runs stop together.
  setsid cargo lambda watch --profile "$PROFILE" --quiet --ignore-changes \
    --invoke-address 127.0.0.1 --invoke-port "$PORT" --env-file "$env_file" \
    --package "$FUNCTION" </dev/null >"$log" 2>&1 &
  watcher=$!
  for _ in $(seq 1 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
      kill -0 "$watcher" 2>/dev/null && return 0
    fi
    kill -0 "$watcher" 2>/dev/null || { wait "$watcher" 2>/dev/null || true; watcher=; return 1; }
    sleep 0.2
  done
  die "cargo lambda watch did not answer on port $PORT within 60 s"
}

if [[ -n $PINNED_PORT ]]; then
  PORT=$PINNED_PORT
  port_free "$PORT" || die "port $PORT (UNTHROTTLE_INVOKE_PORT) is in use: unset it to take a free one"
  start_watcher || { cat "$log" >&2; die "cargo lambda watch exited: is port $PORT in use? Unset UNTHROTTLE_INVOKE_PORT to take a free one"; }
else
  for attempt in 1 2 3 4 5; do
    PORT=$(free_port)
    start_watcher && break
    ((attempt < 5)) || { cat "$log" >&2; die "cargo lambda watch exited on 5 free ports in a row"; }
  done
fi

status=0
# Bounded: a function that fails its init (a bad setting) never answers the invoke.
result=$(timeout "${UNTHROTTLE_INVOKE_TIMEOUT:-120}" cargo lambda invoke "$FUNCTION" \
  --invoke-address 127.0.0.1 --invoke-port "$PORT" \
  --data-file "$EVENT" --output-format json 2>&1) || status=$?
if ((status == 124)); then
  result="invoke: no answer within ${UNTHROTTLE_INVOKE_TIMEOUT:-120} s (did the function fail to start? its log is above)"
fi
sleep 0.2 # let the function's last log lines reach the log file
cat "$log" >&2
if ((status != 0)); then
  echo "$result" >&2
  exit "$status"
fi
# One line, so callers can take the last line of stdout.
python3 -c 'import json, sys; print(json.dumps(json.loads(sys.stdin.read())))' <<<"$result"
