#!/usr/bin/env bash
# Lints template.yaml: cfn-lint, `sam validate --lint`, checkov, and two checks of our own
# (no Allow statement grants a wildcard action; every checkov skip carries a reason).
# Every linter runs even when an earlier one fails; the exit status is non-zero if any
# reported a finding. Tools come from `make tools-lint` (.venv-lint, .venv-checkov);
# all of them work offline.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TEMPLATE=${1:-template.yaml}

for tool in .venv-lint/bin/cfn-lint .venv-lint/bin/sam .venv-checkov/bin/checkov; do
  [[ -x $tool ]] || { echo "lint-template: $tool is missing; run 'make tools-lint'" >&2; exit 2; }
done

# No telemetry, no update checks, no calls to Prisma Cloud: the lint is offline and quiet.
export SAM_CLI_TELEMETRY=0 SAM_CLI_DISABLE_UPDATE_CHECK=1 AWS_DEFAULT_REGION=us-east-1

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

failed=()
step() {
  local name=$1
  shift
  echo "== $name"
  if "$@"; then
    echo "-- $name: clean"
  else
    echo "-- $name: FINDINGS (exit $?)"
    failed+=("$name")
  fi
}

step cfn-lint .venv-lint/bin/cfn-lint -- "$TEMPLATE"

step "sam validate --lint" .venv-lint/bin/sam validate --lint --region us-east-1 --template-file "$TEMPLATE"

# checkov exits 0 when it parsed nothing, so its JSON summary must also show checks that ran.
checkov_clean() {
  .venv-checkov/bin/checkov -f "$TEMPLATE" --framework cloudformation --quiet --compact \
    --skip-download -o cli -o json --output-file-path "console,$WORK/checkov.json" || return 1
  .venv-checkov/bin/python - "$WORK/checkov.json" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
reports = report if isinstance(report, list) else [report]
summary = {key: sum(r["summary"][key] for r in reports) for key in ("passed", "failed", "parsing_errors")}
print(f"checkov summary: {summary}")
sys.exit(0 if summary["passed"] > 0 and summary["failed"] == 0 and summary["parsing_errors"] == 0 else 1)
EOF
}
step checkov checkov_clean

# cfn-lint's decoder reads the CloudFormation short tags (!Ref, !Sub, ...).
policy_checks() {
  .venv-lint/bin/python - "$TEMPLATE" <<'EOF'
import sys
from cfnlint.decode import decode

template, errors = decode(sys.argv[1])
if errors:
    sys.exit(f"cannot read {sys.argv[1]}: {errors}")
problems = []

def statements(node):
    """Every IAM statement in the template, wherever a policy document sits."""
    if isinstance(node, dict):
        if "Statement" in node and "Effect" not in node:
            found = node["Statement"]
            yield from (found if isinstance(found, list) else [found])
        for value in node.values():
            yield from statements(value)
    elif isinstance(node, list):
        for value in node:
            yield from statements(value)

for name, resource in template.get("Resources", {}).items():
    for statement in statements(resource.get("Properties", {})):
        if "NotAction" in statement and statement.get("Effect") == "Allow":
            problems.append(f"{name}: an Allow statement uses NotAction")
        actions = statement.get("Action", [])
        actions = actions if isinstance(actions, list) else [actions]
        wild = [a for a in actions if isinstance(a, str) and ("*" in a or "?" in a)]
        # A wildcard only ever widens a Deny (the bucket's TLS-only rule), never a grant.
        if wild and statement.get("Effect") != "Deny":
            problems.append(f"{name}: statement {statement.get('Sid', '?')} allows {wild}")
    skips = (((resource.get("Metadata") or {}).get("checkov") or {}).get("skip")) or []
    for skip in skips:
        if len(str(skip.get("comment", "")).split()) < 8:
            problems.append(f"{name}: checkov skip {skip.get('id')} has no real reason")

for problem in problems:
    print(problem)
print(f"policy checks: {len(problems)} problem(s)")
sys.exit(1 if problems else 0)
EOF
}
step "policy checks" policy_checks

if ((${#failed[@]})); then
  echo "lint-template: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "lint-template: all clean"
