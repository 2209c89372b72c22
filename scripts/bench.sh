#!/usr/bin/env bash
# make bench: the release binaries (what ships) and the probe built, the handler's overhead
# with in-memory fakes timed by criterion, its own emulators on free ports (beside any the
# tests use), the measurements of tests/src/bin/bench/ written to docs/benchmarks.md, the
# emulators stopped afterwards.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# One invocation: the probe uses the functions' crates with the same features, so it adds
# its own main and nothing else to the build.
cargo build --release --locked -p dynamodb-throttle -p kinesis-throttle -p api-throttle -p restore -p probe
STATE=$ROOT/.bench
mkdir -p "$STATE"

# The handler's own overhead with in-memory fakes (tests/handler-bench), before the emulators
# start so nothing else of ours runs beside it. Criterion keeps its estimates in
# $CRITERION_HOME, emptied first so the bench below never reads an older run's.
export CRITERION_HOME=$STATE/criterion
rm -rf "$CRITERION_HOME"
cargo bench --locked -p handler-bench --bench handler

# shellcheck source=own-emulators.sh
. scripts/own-emulators.sh

trap 'bash scripts/emulators.sh down' EXIT
start_own_emulators
cargo run --quiet --locked -p integration-tests --bin bench -- docs/benchmarks.md
echo "bench: docs/benchmarks.md written"
