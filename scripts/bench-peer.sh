#!/usr/bin/env bash
# make bench-peer: ours against Cloud Custodian's Lambda handler (tests/src/bin/bench/peer.rs).
# The release binaries it starts built, Custodian's policy packaged by Custodian (tests/peer/),
# its own emulators on free ports (beside the tests' and make bench's), the section written
# into docs/benchmarks.md, the emulators and the packaged task removed afterwards.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PEER_PYTHON=$ROOT/.venv-peer/bin/python
[[ -x $PEER_PYTHON ]] || { echo "bench-peer: no .venv-peer; run: make tools-peer" >&2; exit 1; }
cargo build --release --locked -p dynamodb-throttle -p probe
# A state directory of its own, so a `make bench` running beside it keeps its emulators.
STATE=$ROOT/.bench/peer
mkdir -p "$STATE"

# shellcheck source=own-emulators.sh
. scripts/own-emulators.sh

# Custodian's handler writes its run's output under /tmp/POLICY-NAME (c7n/handler.py forces
# output_dir to /tmp): removed with the rest.
trap 'bash scripts/emulators.sh down; rm -rf "$STATE/task" /tmp/dynamodb-throttle-peer' EXIT
export PEER_TASK=$STATE/task
"$PEER_PYTHON" tests/peer/package.py tests/peer/policy.yml "$PEER_TASK" tests/peer/bootstrap.py
PEER_VERSION="c7n $("$PEER_PYTHON" -c 'from c7n.version import version; print(version)'), boto3 $("$PEER_PYTHON" -c 'import boto3; print(boto3.__version__)'), $("$PEER_PYTHON" -c 'import platform; print("Python", platform.python_version())')"
export PEER_VERSION

start_own_emulators
cargo run --quiet --locked -p integration-tests --bin bench -- --peer docs/benchmarks.md
echo "bench-peer: docs/benchmarks.md written (its peer section)"
