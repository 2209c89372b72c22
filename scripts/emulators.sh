#!/usr/bin/env bash
# Local AWS emulators for unthrottle's integration tests, all on 127.0.0.1:
#   dynalite (DynamoDB), moto_server (S3, SQS, EventBridge), kinesis-local (Kinesis).
# Usage: scripts/emulators.sh up|down|status
# Installed by `make tools-node tools-python`; nothing outside the repo is used.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# A second set (make bench's) lives beside the tests' with its own state, env file and ports.
STATE=${UNTHROTTLE_EMULATORS_STATE:-$ROOT/.emulators}        # pid and log files
ENV_FILE=${UNTHROTTLE_EMULATORS_ENV:-$ROOT/.emulators.env}  # endpoints for the tests
HOST=127.0.0.1

DYNAMODB_PORT=${UNTHROTTLE_DYNAMODB_PORT:-45670}
MOTO_PORT=${UNTHROTTLE_MOTO_PORT:-45671}
KINESIS_PORT=${UNTHROTTLE_KINESIS_PORT:-45672}
KINESIS_TLS_PORT=${UNTHROTTLE_KINESIS_TLS_PORT:-45673}
UPDATE_TABLE_MS=${UNTHROTTLE_UPDATE_TABLE_MS:-500}
UPDATE_SHARD_MS=${UNTHROTTLE_UPDATE_SHARD_MS:-500}
WAIT_SECS=${UNTHROTTLE_EMULATOR_WAIT_SECS:-30}
# One account id for all three, so ARNs and queue URLs agree across services (each has
# its own default: dynalite and kinesis-local 000000000000, moto 123456789012): the
# samples' account, so STS (moto) names the account the samples and snapshots are of.
ACCOUNT_ID=${UNTHROTTLE_ACCOUNT_ID:-123456789012}

NAMES=(dynalite moto kinesis)

die() { echo "emulators: $*" >&2; exit 1; }

port_of() {
  case $1 in
    dynalite) echo "$DYNAMODB_PORT" ;;
    moto) echo "$MOTO_PORT" ;;
    kinesis) echo "$KINESIS_PORT" ;;
  esac
}

# True when something on HOST:$1 answers an HTTP request (any status).
# bash's /dev/tcp keeps this free of curl; the subshell confines a failed open.
answers() (
  exec 3<>"/dev/tcp/$HOST/$1" || exit 1
  printf 'GET / HTTP/1.0\r\nHost: %s\r\n\r\n' "$HOST" >&3
  IFS= read -r -t 3 line <&3 || exit 1
  [[ $line == HTTP/* ]]
) 2>/dev/null

# Pids this run started. Between fork and exec a child's command line is still this
# script's (which may not name the repo), so a check by command line can miss a child
# that is alive and starting: trust the pid we were handed instead.
declare -A STARTED=()

# Pid from this run, or from the pid file if that process is alive and still one we
# started (its command line names this repo), so a recycled pid is never killed.
pid_of() {
  local f=$STATE/$1.pid pid
  if [[ -n ${STARTED[$1]:-} ]]; then
    kill -0 "${STARTED[$1]}" 2>/dev/null || return 1
    echo "${STARTED[$1]}"
    return
  fi
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$ROOT/" || return 1
  echo "$pid"
}

# start NAME DIR CMD... : run CMD from DIR in the background, logging to .emulators/.
start() {
  local name=$1 dir=$2 port
  shift 2
  port=$(port_of "$name")
  if pid_of "$name" >/dev/null && answers "$port"; then
    echo "$name: already up on $HOST:$port"
    return
  fi
  stop "$name" # a stale or hung one of ours
  answers "$port" && die "$name: port $port is already used by another program (override with UNTHROTTLE_*_PORT)"
  (cd "$dir" && exec "$@") </dev/null >"$STATE/$name.log" 2>&1 &
  STARTED[$name]=$!
  echo $! >"$STATE/$name.pid"
}

wait_up() {
  local name=$1 port deadline=$((SECONDS + WAIT_SECS))
  port=$(port_of "$name")
  until answers "$port"; do
    if ! pid_of "$name" >/dev/null; then
      tail -n 20 "$STATE/$name.log" >&2 || true
      die "$name exited before answering on $HOST:$port; see $STATE/$name.log"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 20 "$STATE/$name.log" >&2 || true
      die "$name did not answer on $HOST:$port within ${WAIT_SECS}s; see $STATE/$name.log"
    fi
    sleep 0.2
  done
  echo "$name: up on $HOST:$port (pid $(<"$STATE/$name.pid"))"
}

stop() {
  local name=$1 pid i
  if pid=$(pid_of "$name"); then
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do # up to 5 s for a clean exit, then force it
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    echo "$name: stopped (pid $pid)"
  fi
  unset "STARTED[$name]"
  rm -f "$STATE/$name.pid"
}

write_env() {
  local moto=http://$HOST:$MOTO_PORT
  # Plain KEY=VALUE with no quotes, so both `set -a; . .emulators.env` and
  # Make's `include` read it. Written to a temp file first so readers never see half.
  # UNTHROTTLE_MOTO_ENDPOINT is moto's one port, for a test that needs moto's version of a
  # service another emulator plays by default (its DynamoDB returns the item with a refused
  # condition; dynalite's does not).
  cat >"$ENV_FILE.tmp" <<EOF
AWS_ENDPOINT_URL_DYNAMODB=http://$HOST:$DYNAMODB_PORT
AWS_ENDPOINT_URL_S3=$moto
AWS_ENDPOINT_URL_SQS=$moto
AWS_ENDPOINT_URL_EVENTBRIDGE=$moto
AWS_ENDPOINT_URL_CLOUDWATCH=$moto
AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING=$moto
AWS_ENDPOINT_URL_SERVICE_QUOTAS=$moto
AWS_ENDPOINT_URL_SNS=$moto
AWS_ENDPOINT_URL_SSM=$moto
AWS_ENDPOINT_URL_STS=$moto
AWS_ENDPOINT_URL_KINESIS=http://$HOST:$KINESIS_PORT
UNTHROTTLE_MOTO_ENDPOINT=$moto
AWS_REGION=us-east-1
AWS_DEFAULT_REGION=us-east-1
AWS_ACCESS_KEY_ID=test
AWS_SECRET_ACCESS_KEY=test
S3_FORCE_PATH_STYLE=true
AWS_EC2_METADATA_DISABLED=true
UNTHROTTLE_ACCOUNT_ID=$ACCOUNT_ID
EOF
  mv "$ENV_FILE.tmp" "$ENV_FILE"
}

up() {
  local kinesis_dir=$ROOT/node_modules/kinesis-local
  [[ -f $ROOT/node_modules/dynalite/cli.js && -f $kinesis_dir/main.js ]] ||
    die "node_modules is missing dynalite or kinesis-local; run: make tools-node"
  [[ -x $ROOT/.venv/bin/moto_server ]] || die ".venv has no moto_server; run: make tools-python"
  mkdir -p "$STATE"
  # All or nothing: if one fails to come up, stop the rest rather than leave a
  # half set running with no .emulators.env.
  trap 'echo "emulators: up failed, stopping all" >&2; down' EXIT

  # dynalite keeps tables in memory unless given --path; without --host it
  # listens on every interface.
  start dynalite "$ROOT" env AWS_ACCOUNT_ID="$ACCOUNT_ID" \
    node "$ROOT/node_modules/dynalite/cli.js" \
    --host "$HOST" --port "$DYNAMODB_PORT" --updateTableMs "$UPDATE_TABLE_MS"

  start moto "$ROOT" env MOTO_ACCOUNT_ID="$ACCOUNT_ID" \
    "$ROOT/.venv/bin/moto_server" -H "$HOST" -p "$MOTO_PORT"

  # kinesis-local reads its TLS certificate from ./server.json, so it runs from
  # its package folder. It is configured only by environment; durations are
  # written like "500ms". It has no host setting: it listens on 0.0.0.0.
  # SHARD_LIMIT (default 50) caps the open shards in total; every test makes its own streams
  # and a dev loop keeps one emulator up for many runs, so leave plenty of room.
  # Streams live per signing region, and per account only when the access key
  # is a 12-digit id; any other key (like "test") gets AWS_ACCOUNT_ID.
  start kinesis "$kinesis_dir" env \
    KINESIS_MOCK_PLAIN_PORT="$KINESIS_PORT" \
    KINESIS_MOCK_TLS_PORT="$KINESIS_TLS_PORT" \
    UPDATE_SHARD_COUNT_DURATION="${UPDATE_SHARD_MS}ms" \
    SHARD_LIMIT=5000 \
    AWS_REGION=us-east-1 \
    AWS_ACCOUNT_ID="$ACCOUNT_ID" \
    node "$kinesis_dir/main.js"

  # Started together, then waited for, so their start-up times overlap.
  local name
  for name in "${NAMES[@]}"; do wait_up "$name"; done
  write_env
  trap - EXIT
  echo "endpoints written to $ENV_FILE"
}

down() {
  local name
  for name in "${NAMES[@]}"; do stop "$name"; done
  rm -f "$ENV_FILE"
}

status() {
  local name port pid rc=0
  for name in "${NAMES[@]}"; do
    port=$(port_of "$name")
    if pid=$(pid_of "$name") && answers "$port"; then
      echo "$name: up on $HOST:$port (pid $pid)"
    else
      echo "$name: down"
      rc=3
    fi
  done
  return "$rc"
}

case ${1:-} in
  up | down | status) "$1" ;;
  *) die "usage: $0 up|down|status" ;;
esac
