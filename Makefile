# Local tooling: repo-local Node and Python tools, and the AWS emulators.
# Needs only Node 20 + npm and Python 3.11 (no Docker, no global pip packages).

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3

.DEFAULT_GOAL := help
.PHONY: help tools-node tools-python tools-lint tools-peer emulators-up emulators-down check release test demo invoke plan history rollback fuzz bench bench-peer

# --- tools ---
# Stamp files make each install re-run only when its lock/requirements file changes.

tools-node: node_modules/.stamp
node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# Three venvs because the pins cannot share one: aws-sam-cli needs boto3==1.43.108,
# checkov needs boto3==1.35.49, and moto's server is kept lean for `emulators-up`.
tools-python: .venv/.stamp
tools-lint: .venv-lint/.stamp .venv-checkov/.stamp
# Cloud Custodian, the peer of `make bench-peer`: a fourth venv, as its boto3 pin is its own.
tools-peer: .venv-peer/.stamp

# $(call venv,DIR,REQUIREMENTS): rebuilt from scratch, so packages dropped from a
# requirements file do not linger.
define venv
rm -rf $(1)
$(PYTHON) -m venv $(1)
$(1)/bin/pip install --quiet --disable-pip-version-check --requirement $(2)
touch $(1)/.stamp
endef

.venv/.stamp: requirements-dev.txt
	$(call venv,.venv,$<)
.venv-lint/.stamp: requirements-lint.txt
	$(call venv,.venv-lint,$<)
.venv-checkov/.stamp: requirements-checkov.txt
	$(call venv,.venv-checkov,$<)
.venv-peer/.stamp: requirements-peer.txt
	$(call venv,.venv-peer,$<)

# --- emulators (see scripts/emulators.sh; endpoints land in .emulators.env) ---

emulators-up: tools-node tools-python
	bash scripts/emulators.sh up

emulators-down:
	bash scripts/emulators.sh down

# --- build, test, demo (owned by core) ---

help:
	@echo "make demo       emulators up, a throttled table and stream healed, a hot key and a KMS throttle diagnosed"
	@echo "make test       fmt, clippy, unit tests, integration tests against the emulators"
	@echo "make bench      AWS calls and latency per event on its own emulators -> docs/benchmarks.md"
	@echo "make bench-peer cold starts of ours beside Cloud Custodian's Lambda handler -> docs/benchmarks.md"
	@echo "make fuzz       100,000 generated and mutated events through both triggers (tests/tests/bad_input.rs)"
	@echo "make invoke FUNCTION=dynamodb-throttle EVENT=events/dynamodb/cloudtrail-putitem-throttled.json"
	@echo "make plan EVENT=events/dynamodb/cloudtrail-putitem-throttled.json [FUNCTION=..]   what it would do (writes nothing)"
	@echo "make history [RESOURCE=orders]   what it did: changes, snapshots, claims, refusals"
	@echo "make rollback SNAPSHOT=s3://BUCKET/KEY [ARGS=--dry-run]   undo a change from its snapshot"
	@echo "make lint-template   cfn-lint, sam validate --lint, checkov on template.yaml"
	@echo "make test-rules      template.yaml's EventBridge patterns against every file in events/"
	@echo "make sam-build       sam build for this machine (x86_64), with cargo-lambda"
	@echo "make emulators-up / emulators-down"

# dynalite keeps an updated table UPDATING this long; long enough for the tests to see it
# even on a loaded 2-core machine.
export UNTHROTTLE_UPDATE_TABLE_MS ?= 1000

check:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

# What ships (and what `make demo`, `make invoke` and `make bench` run).
release:
	cargo build --release --locked -p dynamodb-throttle -p kinesis-throttle -p api-throttle -p restore

# The emulators are started for the tests and stopped afterwards, whatever the outcome. The
# runtime tests run the functions' dev binaries, built here: a debug compile of the AWS SDK
# instead of an optimised one (docs/architecture.md, "Build profile and CI time").
test: tools-node tools-python check lint-template
	bash scripts/emulators.sh up
	trap 'bash scripts/emulators.sh down' EXIT; \
	set -a; . ./.emulators.env; set +a; \
	cargo build --locked -p dynamodb-throttle -p kinesis-throttle -p api-throttle && \
	cargo test --workspace --locked
	$(MAKE) --no-print-directory test-rules

# Bad input at fuzzing strength: 100,000 generated and mutated events (every sample in
# events/ mutated, cut short, built and random) through both triggers; `make test` runs
# 20,000. No emulators; about a minute on 2 cores after the debug test build.
BAD_INPUT_CASES ?= 100000
fuzz:
	BAD_INPUT_CASES=$(BAD_INPUT_CASES) cargo test --locked -p integration-tests --test bad_input -- --nocapture

# What each kind of event costs, measured (not a test: nothing here fails on a figure).
bench: tools-node tools-python
	bash scripts/bench.sh

# Ours against a peer, Cloud Custodian's Lambda handler, cold start by cold start (not part of
# `make test`): its own section of docs/benchmarks.md, which `make bench` keeps.
bench-peer: tools-node tools-python tools-peer
	bash scripts/bench-peer.sh

# The demo's configuration; everything else takes its default.
DEMO_ENV := SNAPSHOT_BUCKET=unthrottle-demo-snapshots LEDGER_TABLE=unthrottle-demo-ledger S3_FORCE_PATH_STYLE=true

# $(call demo_invoke,FUNCTION,EVENT,NAME): invoke through the runtime, keep the result line.
define demo_invoke
echo "demo: invoking $(1) on $(2)"; \
$(DEMO_ENV) bash scripts/invoke.sh $(1) $(2) 2>.emulators/demo-$(3).log | tail -n 1 >.emulators/demo-$(3).json; \
echo "demo: result $$(cat .emulators/demo-$(3).json)"
endef

demo: emulators-up
	@echo "demo: the first run builds the three release binaries (fat LTO: up to an hour on 2 shared cores)"
	set -a; . ./.emulators.env; set +a; \
	cargo run --quiet --locked -p integration-tests --bin demo -- setup && \
	$(call demo_invoke,dynamodb-throttle,events/dynamodb/alarm-write-key-range-throttle.json,hot-key) && \
	cargo run --quiet --locked -p integration-tests --bin demo -- report-finding .emulators/demo-hot-key.json && \
	$(call demo_invoke,dynamodb-throttle,events/dynamodb/cloudtrail-putitem-throttled.json,table) && \
	cargo run --quiet --locked -p integration-tests --bin demo -- report-table .emulators/demo-table.json && \
	$(call demo_invoke,kinesis-throttle,events/kinesis/cloudtrail-putrecord-throttled.json,stream) && \
	cargo run --quiet --locked -p integration-tests --bin demo -- report-stream .emulators/demo-stream.json && \
	$(call demo_invoke,api-throttle,events/api/cloudtrail-kms-decrypt-throttled.json,api) && \
	cargo run --quiet --locked -p integration-tests --bin demo -- report-api .emulators/demo-api.json
	@echo "demo: function logs are in .emulators/demo-*.log; 'make emulators-down' stops the emulators"

# The function's real handler under the Lambda Runtime API; the result is the last line.
invoke: tools-python
	@if [[ -z "$(FUNCTION)" || -z "$(EVENT)" ]]; then \
	  echo "usage: make invoke FUNCTION=dynamodb-throttle EVENT=events/dynamodb/cloudtrail-putitem-throttled.json" >&2; exit 2; fi
	@bash scripts/invoke.sh "$(FUNCTION)" "$(EVENT)"

# The `unthrottle` command (docs/operations.md). With .emulators.env present (after `make demo`
# or `make emulators-up`) it acts on the emulators, on the demo's ledger and bucket and in the
# samples' account, unless LEDGER_TABLE / SNAPSHOT_BUCKET / UNTHROTTLE_HOME_ACCOUNT say
# otherwise; without it, on the account and region your AWS settings name.
UNTHROTTLE_CLI = set -a; if [[ -f .emulators.env ]]; then . ./.emulators.env; \
	LEDGER_TABLE=$${LEDGER_TABLE:-unthrottle-demo-ledger}; SNAPSHOT_BUCKET=$${SNAPSHOT_BUCKET:-unthrottle-demo-snapshots}; \
	UNTHROTTLE_HOME_ACCOUNT=$${UNTHROTTLE_HOME_ACCOUNT:-123456789012}; fi; \
	set +a; cargo run --quiet --locked -p unthrottle --features cli --

plan:
	@if [[ -z "$(EVENT)" ]]; then \
	  echo "usage: make plan EVENT=events/dynamodb/cloudtrail-putitem-throttled.json [FUNCTION=dynamodb-throttle]" >&2; exit 2; fi
	@$(UNTHROTTLE_CLI) plan --event "$(EVENT)" $(if $(FUNCTION),--function $(FUNCTION))

history:
	@$(UNTHROTTLE_CLI) history $(RESOURCE)

rollback:
	@if [[ -z "$(SNAPSHOT)" ]]; then \
	  echo "usage: make rollback SNAPSHOT=s3://BUCKET/KEY [ARGS=--dry-run|--follow]" >&2; exit 2; fi
	@$(UNTHROTTLE_CLI) rollback "$(SNAPSHOT)" $(ARGS)

# --- the SAM template (see docs/deploy.md) ---

.PHONY: lint-template test-rules sam-build

# cfn-lint, sam validate --lint, checkov and our own policy checks; non-zero on any finding.
lint-template: tools-lint
	bash scripts/lint-template.sh

# The rule proof: template.yaml's EventBridge patterns against every file in events/, on a
# moto_server of its own (free port, stopped afterwards).
test-rules: tools-python
	bash tests/rules/run.sh

# sam build as users run it, for this machine's architecture (only x86_64 exists here).
sam-build: tools-python tools-lint
	PATH="$$PWD/.venv/bin:$$PWD/.venv-lint/bin:$$PATH" sam build --parameter-overrides Architecture=x86_64
