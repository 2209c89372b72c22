"""Rule proof: the EventBridge rules in template.yaml send every sample in events/ to the
functions its entry in events/expected.json names under "routes" (or to none).

events/expected.json is the one table of what should happen to each sample; tests/tests/events.rs
reads the same table for what each function's trigger makes of it ("reads"). A function is
named there by its folder under functions/, which is the binary template.yaml builds for it
(Metadata.BuildProperties.Binary); this test maps that name to the function's logical id.

The rule patterns are read out of template.yaml itself (never a copy) and resolved as
CloudFormation would deploy them with the parameters' defaults (`Deployment` below: `Ref` of a
parameter, `Fn::If` through the template's Conditions, `AWS::NoValue` left out; any other
intrinsic fails the run). They are installed in moto's EventBridge with one SQS target queue per
function (the queue is named after the function's logical id), and every file in events/ is put
on the bus. One test deploys the rules again with AlarmNamePrefix empty (the alarm name filter
off), on a bus of its own, so both settings are proven. A file in events/ without an
entry in events/expected.json fails the run, and so does an entry for a file that is gone.

moto's EventBridge cannot match a pattern path that runs through an array of objects: it
flattens nested objects but keeps an array as one opaque value, so the alarm rules' path
detail.configuration.metrics[].metricStat.metric.namespace never matches there. For those
pairs this test uses `matches()` below: a small matcher written from EventBridge's documented
semantics (the value of a pattern field is a list of allowed values; a field whose event value
is an array matches if any element matches; where a path crosses an array of objects, the rest
of the pattern must match within one element, as in AWS's event-ruler). moto stays the judge
of every rule/event pair whose paths stay out of arrays of objects, and the matcher must agree
with moto on all of those, so a bug in either shows up as a disagreement.

Run it through `make test-rules`, which starts a moto_server on a free port and points
AWS_ENDPOINT_URL at it. Needs only boto3 and PyYAML (both in .venv). Without AWS_ENDPOINT_URL,
or with no moto answering there, the run fails (a proof that did not run proves nothing). The
last line printed is `N passed, N failed`.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import re
import sys
import unittest
import urllib.error
import urllib.request
from pathlib import Path

try:
    import boto3
    import yaml
except ImportError as missing:
    if __name__ != "__main__":
        raise
    print(
        f"rule proof: {missing}. Run it with `make test-rules`, which installs .venv "
        "(boto3, PyYAML, moto) and starts moto for it.",
        file=sys.stderr,
    )
    print("0 passed, 1 failed")
    sys.exit(1)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events"
FUNCTION_DIRS = ROOT / "functions"
# What should happen to each sample: the table this test and tests/tests/events.rs read.
# It sits among the samples but is not one.
EXPECTED_TABLE = EVENTS / "expected.json"

# The event cannot travel on a bus at all: PutEvents refuses it (no source, detail-type or
# detail). Such an event never reaches any rule in AWS either. This is the word
# events/expected.json uses for it in "routes".
REFUSED = "refused-by-put-events"

# Functions by their folder under functions/ (the names events/expected.json uses).
DDB = "dynamodb-throttle"
KIN = "kinesis-throttle"
API = "api-throttle"

# The detail-types each function's rules take.
DETAIL_TYPES = {
    DDB: {"AWS API Call via CloudTrail", "CloudWatch Alarm State Change"},
    KIN: {"AWS API Call via CloudTrail", "CloudWatch Alarm State Change"},
    API: {"AWS API Call via CloudTrail", "CloudWatch Alarm State Change", "Quota Pressure"},
}
# Read-only management events reach only a rule in this state (EventBridge user guide,
# "Receiving read-only management events from AWS services"); moto ignores rule states, so
# the state is proven statically from template.yaml.
ALL_MANAGEMENT_EVENTS = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"

HOW_TO_RUN = (
    "run the rule proof with `make test-rules`, which starts a moto_server on a free port "
    "and points AWS_ENDPOINT_URL at it"
)


def load_expected(path: Path = EXPECTED_TABLE) -> dict[str, dict]:
    """events/expected.json: the path of each sample under events/ -> its expected outcome."""
    table = json.loads(path.read_text())
    if not isinstance(table, dict):
        raise ValueError(f"{path}: must be an object keyed by each sample's path under events/")
    return table


def _listed_files() -> list[str]:
    """The files events/expected.json lists, or none if it cannot be read (a test says why)."""
    try:
        return list(load_expected())
    except (OSError, ValueError):
        return []


def _transaction_cancelled(reasons: str) -> dict:
    """A TransactWriteItems sample turned into a TransactionCanceledException."""
    event = json.loads((EVENTS / "dynamodb/cloudtrail-transactwriteitems-throttled.json").read_text())
    event["id"] = f"synthetic-cancelled-{reasons}"
    event["detail"]["errorCode"] = "TransactionCanceledException"
    event["detail"]["errorMessage"] = (
        f"Transaction cancelled, please refer cancellation reasons for specific reasons [{reasons}]"
    )
    return event


def _alarm_in_state(value: str) -> dict:
    event = json.loads((EVENTS / "dynamodb/alarm-write-throttle-events.json").read_text())
    event["id"] = f"synthetic-alarm-{value}"
    event["detail"]["state"]["value"] = value
    return event


def _alarm_with_namespaces_split() -> dict:
    """An alarm whose DynamoDB metric and ALARM state are fine but whose only DynamoDB
    namespace sits beside an unrelated metric: still a DynamoDB alarm."""
    event = json.loads((EVENTS / "dynamodb/alarm-metric-math.json").read_text())
    event["id"] = "synthetic-mixed-namespaces"
    event["detail"]["configuration"]["metrics"][1]["metricStat"]["metric"]["namespace"] = "AWS/EC2"
    return event


def _alarm_named(name: str) -> dict:
    """The DynamoDB write alarm under another name (the alarm rules filter on the name)."""
    event = json.loads((EVENTS / "dynamodb/alarm-write-throttle-events.json").read_text())
    event["id"] = f"synthetic-alarm-named-{name}"
    old = event["detail"]["alarmName"]
    event["detail"]["alarmName"] = name
    event["resources"] = [arn.replace(f":alarm:{old}", f":alarm:{name}") for arn in event["resources"]]
    return event


# Cases no sample covers, built in the test from samples (they are not event files). The
# expected receivers are named as in events/expected.json.
SYNTHETIC: dict[str, tuple[dict, frozenset[str]]] = {
    # The DynamoDB function acts on a cancelled transaction only when a reason is
    # ThrottlingError; the rule filters the same way, so other cancellations cost nothing.
    "transaction cancelled by throttling": (_transaction_cancelled("None, ThrottlingError"), frozenset({DDB})),
    "transaction cancelled by a condition": (
        _transaction_cancelled("ConditionalCheckFailed, None"),
        frozenset(),
    ),
    "alarm going to INSUFFICIENT_DATA": (_alarm_in_state("INSUFFICIENT_DATA"), frozenset()),
    "alarm mixing namespaces": (_alarm_with_namespaces_split(), frozenset({DDB})),
    # AlarmNamePrefix (default unthrottle-) is a case-sensitive prefix of the whole name.
    "alarm with the prefix inside its name": (_alarm_named("orders-unthrottle-WriteThrottleEvents"), frozenset()),
    "alarm with the prefix in capitals": (_alarm_named("Unthrottle-orders-WriteThrottleEvents"), frozenset()),
    "alarm named only the prefix and more": (_alarm_named("unthrottle-x"), frozenset({DDB})),
}

# The template parameter that names unthrottle's alarms, and the convention it documents
# (docs/deploy.md, events/README.md): the alarm rules deliver only alarms named with it.
ALARM_NAME_PREFIX = "AlarmNamePrefix"
DOCUMENTED_PREFIX = "unthrottle-"
ALARM = "CloudWatch Alarm State Change"

# With AlarmNamePrefix empty (the filter off) every sample and synthetic case routes as with the
# default, except these, which the alarm rules then deliver as well: real throttle alarms
# named without the prefix.
ROUTED_ONLY_WITHOUT_NAME_FILTER: dict[str, frozenset[str]] = {
    "dynamodb/alarm-unprefixed-name.json": frozenset({DDB}),
    "kinesis/alarm-unprefixed-name.json": frozenset({KIN}),
    "alarm with the prefix inside its name": frozenset({DDB}),
    "alarm with the prefix in capitals": frozenset({DDB}),
}


# --------------------------------------------------------------------------- template


class _CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation's short tags (!Ref, !Sub, !GetAtt, ...) as the
    long form ({"Ref": ...}, {"Fn::Sub": ...}) instead of failing on them."""


def _short_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


_CloudFormationLoader.add_multi_constructor("!", _short_tag)


def load_template(path: Path = TEMPLATE) -> dict:
    return yaml.load(path.read_text(), Loader=_CloudFormationLoader)


def rules_of(template: dict) -> list[tuple[str, str, dict]]:
    """(function logical id, event id, pattern) of every EventBridge rule on a function."""
    rules = []
    for name, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event_name, event in (resource.get("Properties", {}).get("Events") or {}).items():
            if event.get("Type") in ("EventBridgeRule", "CloudWatchEvent"):
                rules.append((name, event_name, event["Properties"]["Pattern"]))
    return rules


def logical_ids(template: dict) -> dict[str, str]:
    """Function name -> logical id of every AWS::Serverless::Function. The name is the binary
    template.yaml builds for it (Metadata.BuildProperties.Binary), which is the function's
    folder under functions/ and the name events/expected.json uses."""
    ids: dict[str, str] = {}
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        binary = ((resource.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
        if not isinstance(binary, str) or not binary:
            raise ValueError(
                f"{logical_id}: no Metadata.BuildProperties.Binary in template.yaml, so the rule "
                "proof cannot tell which function under functions/ it is"
            )
        if binary in ids:
            raise ValueError(f"{ids[binary]} and {logical_id} both build the binary {binary}")
        ids[binary] = logical_id
    return ids


def _scheduled(resource: dict) -> bool:
    """A function whose every event is a schedule: no event pattern routes anything to it."""
    events = (resource.get("Properties", {}).get("Events") or {}).values()
    return bool(events) and all(event.get("Type") == "Schedule" for event in events)


def _function_folders() -> set[str]:
    """The functions under functions/: each folder with a Cargo.toml."""
    return {p.parent.name for p in FUNCTION_DIRS.glob("*/Cargo.toml")}


def _intrinsics(node) -> list[str]:
    if isinstance(node, dict):
        found = [k for k in node if _is_intrinsic(k)]
        return found + [i for v in node.values() for i in _intrinsics(v)]
    if isinstance(node, list):
        return [i for v in node for i in _intrinsics(v)]
    return []


def _is_intrinsic(key: str) -> bool:
    return key == "Ref" or key.startswith("Fn::")


# --------------------------------------------------------------------------- parameters
#
# A rule pattern may use template parameters (AlarmNamePrefix). The proof must judge the
# pattern CloudFormation deploys, so it resolves the few intrinsics a pattern needs exactly as
# CloudFormation does and refuses everything else: a guess here would prove nothing.


class Unresolvable(ValueError):
    """Something in template.yaml this proof cannot resolve as CloudFormation would."""


# What `!Ref AWS::NoValue` stands for: the property (or list element) is left out.
_NO_VALUE = object()


class Deployment:
    """template.yaml's parameters and conditions as CloudFormation sees them in one stack:
    each parameter's Default unless `overrides` sets it. Resolves `Ref` of a parameter,
    `Ref: AWS::NoValue`, and `Fn::If` through the template's Conditions (`Fn::Equals`,
    `Fn::Not`, `Fn::And`, `Fn::Or`, `Condition`); raises Unresolvable on anything else."""

    def __init__(self, template: dict, overrides: dict[str, str] | None = None) -> None:
        self.parameters: dict[str, dict] = template.get("Parameters") or {}
        self.conditions: dict[str, object] = template.get("Conditions") or {}
        self.overrides = dict(overrides or {})
        unknown = sorted(set(self.overrides) - set(self.parameters))
        if unknown:
            raise Unresolvable(f"parameter overrides for parameters template.yaml does not have: {unknown}")
        for name in self.overrides:
            self.parameter(name)  # an override CloudFormation would refuse fails here
        self._truth: dict[str, bool] = {}
        self._evaluating: list[str] = []

    def parameter(self, name: str):
        """The value a `Ref` to parameter `name` gives, after the parameter's constraints."""
        declared = self.parameters.get(name)
        if declared is None:
            raise Unresolvable(
                f"Ref {name!r}: not a parameter (resources and pseudo parameters are not resolved)"
            )
        if name in self.overrides:
            value = self.overrides[name]
            if not isinstance(value, str):
                raise Unresolvable(f"parameter {name}: an override is a string, as on the command line")
        elif "Default" in declared:
            value = declared["Default"]
        else:
            raise Unresolvable(f"parameter {name} has no Default and no override")
        kind = declared.get("Type")
        if kind == "String":
            if not isinstance(value, str):
                raise Unresolvable(f"parameter {name}: String with a non-string value {value!r}")
            _check_string(name, declared, value)
            return value
        if kind == "Number":
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise Unresolvable(f"parameter {name}: Number with value {value!r}")
            text = str(value)
            _check_number(name, declared, float(text))
            _check_allowed_values(name, declared, text)
            return text  # a Ref to a Number parameter gives its text
        if kind == "CommaDelimitedList":
            if not isinstance(value, str):
                raise Unresolvable(f"parameter {name}: CommaDelimitedList with a non-string value {value!r}")
            return [item.strip() for item in value.split(",")]
        raise Unresolvable(f"parameter {name}: type {kind!r} is not resolved by the rule proof")

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            raise Unresolvable(f"condition {name!r} is not in template.yaml's Conditions")
        if name in self._evaluating:
            raise Unresolvable(f"condition {name!r} depends on itself: {self._evaluating}")
        if name not in self._truth:
            self._evaluating.append(name)
            try:
                self._truth[name] = self._evaluate(self.conditions[name], f"Conditions.{name}")
            finally:
                self._evaluating.pop()
        return self._truth[name]

    def _evaluate(self, node, where: str) -> bool:
        if not (isinstance(node, dict) and len(node) == 1):
            raise Unresolvable(f"{where}: a condition function, not {node!r}")
        ((function, argument),) = node.items()
        if function == "Condition" and isinstance(argument, str):
            return self.condition(argument)
        if not isinstance(argument, list):
            raise Unresolvable(f"{where}: {function} takes a list, not {argument!r}")
        if function == "Fn::Not" and len(argument) == 1:
            return not self._evaluate(argument[0], where)
        if function == "Fn::And" and 2 <= len(argument) <= 10:
            return all([self._evaluate(one, where) for one in argument])
        if function == "Fn::Or" and 2 <= len(argument) <= 10:
            return any([self._evaluate(one, where) for one in argument])
        if function == "Fn::Equals" and len(argument) == 2:
            left, right = (self._comparable(one, where) for one in argument)
            return left == right
        raise Unresolvable(f"{where}: {function} with {argument!r} is not resolved by the rule proof")

    def _comparable(self, node, where: str) -> str:
        """A Fn::Equals operand as CloudFormation compares it: as a string."""
        value = self.resolve(node, where)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (str, int, float)):
            return str(value)
        raise Unresolvable(f"{where}: Fn::Equals compares strings, not {value!r}")

    def resolve(self, node, where: str):
        """`node` with every intrinsic resolved; may be _NO_VALUE."""
        if isinstance(node, dict):
            functions = [key for key in node if _is_intrinsic(key)]
            if not functions:
                resolved = {key: self.resolve(value, f"{where}.{key}") for key, value in node.items()}
                return {key: value for key, value in resolved.items() if value is not _NO_VALUE}
            if len(node) != 1:
                raise Unresolvable(f"{where}: an intrinsic function shares its object with {sorted(node)}")
            ((function, argument),) = node.items()
            if function == "Ref":
                if argument == "AWS::NoValue":
                    return _NO_VALUE
                return self.parameter(argument)
            if function == "Fn::If":
                if not (isinstance(argument, list) and len(argument) == 3 and isinstance(argument[0], str)):
                    raise Unresolvable(f"{where}: Fn::If takes [condition, value if true, value if false]")
                chosen = argument[1] if self.condition(argument[0]) else argument[2]
                return self.resolve(chosen, where)
            raise Unresolvable(f"{where}: {function} is not resolved by the rule proof")
        if isinstance(node, list):
            resolved = [self.resolve(value, f"{where}[{i}]") for i, value in enumerate(node)]
            return [value for value in resolved if value is not _NO_VALUE]
        return node

    def pattern(self, pattern: dict, where: str) -> dict:
        """A rule pattern as CloudFormation deploys it: literal JSON."""
        resolved = self.resolve(pattern, where)
        if not isinstance(resolved, dict) or _intrinsics(resolved):
            raise Unresolvable(f"{where}: resolves to {resolved!r}, not a literal pattern")
        return resolved


def _check_string(name: str, declared: dict, value: str) -> None:
    if "MinLength" in declared and len(value) < int(declared["MinLength"]):
        raise Unresolvable(f"parameter {name}: {value!r} is shorter than MinLength {declared['MinLength']}")
    if "MaxLength" in declared and len(value) > int(declared["MaxLength"]):
        raise Unresolvable(f"parameter {name}: {value!r} is longer than MaxLength {declared['MaxLength']}")
    # CloudFormation's AllowedPattern must match the whole value.
    if "AllowedPattern" in declared and not re.fullmatch(declared["AllowedPattern"], value):
        raise Unresolvable(
            f"parameter {name}: {value!r} does not match AllowedPattern {declared['AllowedPattern']!r}"
        )
    _check_allowed_values(name, declared, value)


def _check_number(name: str, declared: dict, value: float) -> None:
    if "MinValue" in declared and value < float(declared["MinValue"]):
        raise Unresolvable(f"parameter {name}: {value} is below MinValue {declared['MinValue']}")
    if "MaxValue" in declared and value > float(declared["MaxValue"]):
        raise Unresolvable(f"parameter {name}: {value} is above MaxValue {declared['MaxValue']}")


def _check_allowed_values(name: str, declared: dict, text: str) -> None:
    allowed = declared.get("AllowedValues")
    if allowed is not None and text not in [str(one) for one in allowed]:
        raise Unresolvable(f"parameter {name}: {text!r} is not one of AllowedValues {allowed}")


def deployed_rules(template: dict, overrides: dict[str, str] | None = None) -> list[tuple[str, str, dict]]:
    """rules_of(template) with each pattern as CloudFormation deploys it with these parameters."""
    deployment = Deployment(template, overrides)
    return [
        (function, event_name, deployment.pattern(pattern, f"{function}.{event_name}.Pattern"))
        for function, event_name, pattern in rules_of(template)
    ]


# --------------------------------------------------------------------------- matcher
#
# EventBridge's documented pattern semantics, only as far as this template needs them;
# anything else raises, so the matcher never guesses. Sources: the EventBridge User Guide,
# "Event patterns", "Arrays in event patterns", "Content filtering" ($or, wildcard, prefix,
# suffix, anything-but, exists).

_MISSING = object()


class Verdict:
    """A match result's companion: whether the match relied on a step into an array of
    objects (the step moto cannot take)."""

    def __init__(self) -> None:
        self.crossed_object_array = False


def matches(pattern: dict, event, verdict: Verdict | None = None) -> bool:
    matched, crossed = _match_object(pattern, event)
    if verdict is not None:
        verdict.crossed_object_array = matched and crossed
    return matched


def _match_object(pattern: dict, value) -> tuple[bool, bool]:
    """(matched, whether the match went through an array of objects)."""
    if isinstance(value, list):
        # A path through an array of objects: the rest of the pattern must match within
        # one element (fields of different elements are never combined).
        for element in value:
            if isinstance(element, dict) and _match_object(pattern, element)[0]:
                return True, True
        return False, False
    if not isinstance(value, dict):
        return False, False
    crossed = False
    for key, wanted in pattern.items():
        if key == "$or":
            results = [_match_object(branch, value) for branch in wanted]
            hits = [c for m, c in results if m]
            if not hits:
                return False, False
            crossed |= all(hits)  # only if every matching branch needed the array step
        elif isinstance(wanted, dict):
            matched, deeper = _match_object(wanted, value.get(key, _MISSING))
            if not matched:
                return False, False
            crossed |= deeper
        elif isinstance(wanted, list):
            if not _match_leaf(wanted, value.get(key, _MISSING)):
                return False, False
        else:
            raise ValueError(f"pattern field {key!r} must be an object or an array, not {wanted!r}")
    return True, crossed


def _match_leaf(allowed: list, value) -> bool:
    if value is not _MISSING and isinstance(value, list):
        # An array in the event matches if any element matches (a non-empty intersection).
        return any(_match_leaf(allowed, element) for element in value)
    return any(_match_filter(one, value) for one in allowed)


def _match_filter(allowed, value) -> bool:
    if not isinstance(allowed, dict):
        return value is not _MISSING and type(value) is type(allowed) and value == allowed
    ((operator, operand),) = allowed.items()
    if operator == "exists":
        return (value is not _MISSING) == operand
    if value is _MISSING:
        return False
    if operator == "prefix":
        return isinstance(value, str) and value.startswith(operand)
    if operator == "suffix":
        return isinstance(value, str) and value.endswith(operand)
    if operator == "anything-but":
        excluded = operand if isinstance(operand, list) else [operand]
        return value not in excluded
    if operator == "wildcard":
        return isinstance(value, str) and _wildcard(operand, value)
    raise NotImplementedError(f"the rule proof's matcher does not know {operator!r}")


def _wildcard(pattern: str, text: str) -> bool:
    """`*` matches any run of characters (`\\*` a literal star); everything else literally."""
    parts, current, i = [], "", 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            current += pattern[i + 1]
            i += 2
        elif pattern[i] == "*":
            parts.append(current)
            current = ""
            i += 1
        else:
            current += pattern[i]
            i += 1
    parts.append(current)
    if len(parts) == 1:
        return text == parts[0]
    if not (text.startswith(parts[0]) and text.endswith(parts[-1])):
        return False
    position, end = len(parts[0]), len(text) - len(parts[-1])
    for middle in parts[1:-1]:
        found = text.find(middle, position, end)
        if found < 0:
            return False
        position = found + len(middle)
    return position <= end


# --------------------------------------------------------------------------- the bus


class Bus:
    """moto's EventBridge with the template's rules, each targeting its function's queue."""

    def __init__(
        self,
        endpoint: str,
        functions: list[str],
        rules: list[tuple[str, str, dict]],
        event_bus: str = "default",
    ) -> None:
        """`event_bus` other than the default one: a bus of its own, with queues of its own, so
        rules deployed with other parameters never see this bus's events."""
        session = boto3.session.Session(
            aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
        )
        self.events = session.client("events", endpoint_url=endpoint)
        self.sqs = session.client("sqs", endpoint_url=endpoint)
        self.event_bus = event_bus
        if event_bus != "default":
            try:
                self.events.create_event_bus(Name=event_bus)
            except self.events.exceptions.ResourceAlreadyExistsException:
                pass  # a moto that an earlier run used: its rules are put again below
        self.queues: dict[str, str] = {}
        for function in functions:
            queue = function if event_bus == "default" else f"{function}-{event_bus}"
            url = self.sqs.create_queue(QueueName=queue)["QueueUrl"]
            self.queues[function] = url
        for function, event_name, pattern in rules:
            arn = self.sqs.get_queue_attributes(
                QueueUrl=self.queues[function], AttributeNames=["QueueArn"]
            )["Attributes"]["QueueArn"]
            rule = f"{function}-{event_name}"
            self.events.put_rule(
                Name=rule, EventBusName=event_bus, EventPattern=json.dumps(pattern), State="ENABLED"
            )
            self.events.put_targets(Rule=rule, EventBusName=event_bus, Targets=[{"Id": function, "Arn": arn}])
        self.drain()

    def put(self, event: dict) -> dict[str, list[dict]] | str:
        """Puts one event; returns what each function's queue received, or REFUSED."""
        entry: dict = {"EventBusName": self.event_bus}
        if "source" in event:
            entry["Source"] = event["source"]
        if "detail-type" in event:
            entry["DetailType"] = event["detail-type"]
        if "detail" in event:
            entry["Detail"] = json.dumps(event["detail"])
        if "resources" in event:
            entry["Resources"] = event["resources"]
        if "time" in event:
            entry["Time"] = dt.datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
        answer = self.events.put_events(Entries=[entry])
        if answer["FailedEntryCount"]:
            return REFUSED
        return self.drain()

    def drain(self) -> dict[str, list[dict]]:
        received: dict[str, list[dict]] = {}
        for function, url in self.queues.items():
            while True:
                messages = self.sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0
                ).get("Messages", [])
                if not messages:
                    break
                for message in messages:
                    received.setdefault(function, []).append(json.loads(message["Body"]))
                    self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return received


# --------------------------------------------------------------------------- tests


def _event_files() -> list[str]:
    """Every sample under events/: each JSON file but the table of expectations."""
    return sorted(p.relative_to(EVENTS).as_posix() for p in EVENTS.rglob("*.json") if p != EXPECTED_TABLE)


class NoMoto(Exception):
    """The proof cannot run: no moto to put the events on. A failure, never a skip."""


def _moto_endpoint() -> str:
    """AWS_ENDPOINT_URL, once moto answers there."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        raise NoMoto(f"AWS_ENDPOINT_URL is not set, so there is no moto to put the events on: {HOW_TO_RUN}")
    probe = endpoint.rstrip("/") + "/moto-api/"
    try:
        with urllib.request.urlopen(probe, timeout=10):
            pass
    except (urllib.error.URLError, OSError) as error:
        raise NoMoto(
            f"moto does not answer at AWS_ENDPOINT_URL={endpoint} ({probe}: {error}): {HOW_TO_RUN}"
        ) from None
    return endpoint


class RuleProof(unittest.TestCase):
    endpoint: str
    template: dict
    expected: dict[str, dict]
    ids: dict[str, str]  # function name (folder under functions/) -> logical id
    functions: list[str]  # logical ids
    rules: list[tuple[str, str, dict]]
    bus: Bus

    @classmethod
    def setUpClass(cls) -> None:
        cls.endpoint = _moto_endpoint()
        cls.template = load_template()
        cls.expected = load_expected()
        cls.all_ids = logical_ids(cls.template)
        # The functions events reach; a scheduled one (restore) reads none and is checked apart.
        cls.ids = {
            name: logical_id
            for name, logical_id in cls.all_ids.items()
            if not _scheduled(cls.template["Resources"][logical_id])
        }
        cls.functions = sorted(cls.ids.values())
        # As CloudFormation deploys them with every parameter at its default.
        cls.rules = deployed_rules(cls.template)
        cls.bus = Bus(cls.endpoint, cls.functions, cls.rules)

    def receivers(self, names, where: str) -> frozenset[str] | str:
        """Expected receivers as events/expected.json names them -> logical ids, or REFUSED."""
        if names == REFUSED:
            return REFUSED
        self.assertIsInstance(names, (list, frozenset), f"{where}: a list of functions or {REFUSED!r}")
        unknown = sorted(set(names) - set(self.ids))
        self.assertFalse(unknown, f"{where}: not a function of template.yaml (it has {sorted(self.ids)})")
        return frozenset(self.ids[name] for name in names)

    def route(self, event: dict, bus: Bus | None = None, rules=None) -> frozenset[str] | str:
        """Which functions receive `event`: moto where it can judge, the matcher where the
        pattern path crosses an array of objects; the two must agree everywhere else. `bus`
        and `rules`: another deployment of the rules (default: the one with the defaults)."""
        bus, rules = (bus or self.bus), (self.rules if rules is None else rules)
        delivered = bus.put(event)
        by_moto_expected: set[str] = set()
        by_matcher_only: set[str] = set()
        for function, _, pattern in rules:
            verdict = Verdict()
            if matches(pattern, event, verdict):
                (by_matcher_only if verdict.crossed_object_array else by_moto_expected).add(function)
        if delivered == REFUSED:
            self.assertFalse(
                by_moto_expected | by_matcher_only,
                "PutEvents refused the event, yet a rule pattern matches it",
            )
            return REFUSED
        for function, bodies in delivered.items():
            for body in bodies:
                self.assertEqual(body.get("detail"), event.get("detail"), f"{function} got another event")
        self.assertEqual(
            set(delivered),
            by_moto_expected,
            "moto and the matcher disagree on a pattern whose paths stay out of arrays of objects",
        )
        return frozenset(set(delivered) | by_matcher_only)

    # --- the template's rules are what this proof assumes

    def test_every_event_file_has_an_expectation(self) -> None:
        files = set(_event_files())
        self.assertFalse(
            sorted(files - set(self.expected)),
            "event files without an entry in events/expected.json",
        )
        self.assertFalse(
            sorted(set(self.expected) - files), "entries in events/expected.json for files that do not exist"
        )

    def test_expected_table_is_well_formed(self) -> None:
        for name, entry in self.expected.items():
            where = f"events/expected.json: {name}"
            self.assertIsInstance(entry, dict, where)
            self.assertFalse(sorted(set(entry) - {"routes", "reads", "note", "api"}), f"{where}: unknown keys")
            if "api" in entry:
                # What api-throttle tells a human; tests/tests/events.rs checks the values.
                self.assertEqual(sorted(entry["api"]), ["advice", "caller", "case", "quota"], f"{where}: api")
            self.assertIn("routes", entry, where)
            routes = entry["routes"]
            if routes != REFUSED:
                self.assertIsInstance(routes, list, f"{where}: routes")
                self.assertEqual(len(routes), len(set(routes)), f"{where}: a function twice in routes")
            self.receivers(routes, f"{where}: routes")
            # The readings themselves are tests/tests/events.rs's to check; here only that
            # they cover exactly the template's functions.
            self.assertIsInstance(entry.get("reads"), dict, f"{where}: reads")
            self.assertEqual(
                sorted(entry["reads"]), sorted(self.ids), f"{where}: reads needs one key per function"
            )
            self.assertIsInstance(entry.get("note", ""), str, f"{where}: note")

    def test_every_function_folder_is_a_function_of_the_template(self) -> None:
        folders = _function_folders()
        self.assertTrue(folders, "no functions/*/Cargo.toml found")
        self.assertEqual(
            sorted(self.all_ids),
            sorted(folders),
            "the binaries template.yaml builds (Metadata.BuildProperties.Binary) must be the folders "
            "under functions/, the names events/expected.json uses",
        )
        for name in (DDB, KIN):
            self.assertIn(name, self.ids, "a function this test's synthetic cases name")

    def test_each_function_has_a_cloudtrail_rule_and_an_alarm_rule(self) -> None:
        seen = {}
        for function, event_name, pattern in self.rules:
            self.assertFalse(_intrinsics(pattern), f"{function}.{event_name}: a deployed pattern is literal")
            seen.setdefault(function, set()).update(pattern["detail-type"])
        self.assertEqual(seen, {self.ids[name]: types for name, types in DETAIL_TYPES.items()})
        resources = self.template["Resources"]
        self.assertFalse(
            [n for n, r in resources.items() if r["Type"] == "AWS::Events::Rule"],
            "a rule outside the functions' Events is not covered by this proof",
        )
        for function in self.functions:
            for event_name, event in resources[function]["Properties"]["Events"].items():
                self.assertEqual(event["Type"], "EventBridgeRule", f"{function}.{event_name}")
                properties = event["Properties"]
                self.assertIn("RetryPolicy", properties, f"{function}.{event_name}")
                self.assertIn("DeadLetterConfig", properties, f"{function}.{event_name}")

    def test_a_scheduled_function_runs_hourly_with_retries_and_a_dead_letter_queue(self) -> None:
        scheduled = sorted(set(self.all_ids.values()) - set(self.functions))
        self.assertEqual(scheduled, ["RestoreFunction"], "the functions no event pattern reaches")
        resources = self.template["Resources"]
        for function in scheduled:
            for event_name, event in resources[function]["Properties"]["Events"].items():
                properties = event["Properties"]
                self.assertEqual(properties["Schedule"], "rate(1 hour)", f"{function}.{event_name}")
                self.assertNotIn("Pattern", properties, f"{function}.{event_name}")
                self.assertIn("RetryPolicy", properties, f"{function}.{event_name}")
                self.assertIn("DeadLetterConfig", properties, f"{function}.{event_name}")

    # --- the alarm name filter (AlarmNamePrefix)

    def alarm_rules(self, rules) -> list[tuple[str, str, dict]]:
        found = [rule for rule in rules if ALARM in rule[2]["detail-type"]]
        self.assertEqual(sorted(f for f, _, _ in found), self.functions, "one alarm rule per function")
        return found

    def test_alarm_rules_take_only_alarms_named_with_the_prefix(self) -> None:
        declared = self.template["Parameters"].get(ALARM_NAME_PREFIX)
        self.assertIsNotNone(declared, f"template.yaml has no parameter {ALARM_NAME_PREFIX}")
        self.assertEqual(declared.get("Default"), DOCUMENTED_PREFIX, "the documented naming convention")
        groups = self.template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
        self.assertIn(ALARM_NAME_PREFIX, [p for group in groups for p in group["Parameters"]])
        for function, event_name, pattern in self.rules:
            where = f"{function}.{event_name}"
            if ALARM in pattern["detail-type"]:
                self.assertEqual(pattern["detail"].get("alarmName"), [{"prefix": DOCUMENTED_PREFIX}], where)
            else:
                self.assertNotIn("alarmName", pattern.get("detail", {}), where)

    def test_alarm_samples_follow_the_naming_convention(self) -> None:
        """Every alarm sample is named with the prefix (so a sample the rules refuse is refused
        for its own reason: state, namespace, no metrics), except the unprefixed ones, which
        route only without the filter and are real throttles for their function."""
        for name in _event_files():
            event = json.loads((EVENTS / name).read_text())
            if event.get("detail-type") != ALARM:
                continue
            prefixed = event["detail"]["alarmName"].startswith(DOCUMENTED_PREFIX)
            self.assertEqual(prefixed, name not in ROUTED_ONLY_WITHOUT_NAME_FILTER, f"events/{name}: alarmName")
            self.assertIn(f":alarm:{event['detail']['alarmName']}", " ".join(event["resources"]), name)
        for name, functions in ROUTED_ONLY_WITHOUT_NAME_FILTER.items():
            if name in SYNTHETIC:
                continue
            entry = self.expected.get(name)
            self.assertIsNotNone(entry, f"events/{name} has no entry in events/expected.json")
            self.assertEqual(entry["routes"], [], f"{name}: the default rules must not deliver it")
            readers = {n for n, read in entry["reads"].items() if not read.startswith(("skip:", "error:"))}
            self.assertEqual(readers, set(functions), f"{name}: reads")

    def test_without_the_prefix_the_alarm_rules_take_every_alarm_of_their_namespace(self) -> None:
        """AlarmNamePrefix empty: the alarmName filter is gone from both alarm rules and nothing
        else changes; deployed on a bus of its own, every sample and synthetic case routes as
        with the default, plus the alarms named without the prefix."""
        rules = deployed_rules(self.template, {ALARM_NAME_PREFIX: ""})
        self.assertEqual([r[:2] for r in rules], [r[:2] for r in self.rules])
        for (function, event_name, filtered), (_, _, unfiltered) in zip(self.rules, rules):
            without_name = copy.deepcopy(filtered)
            without_name.get("detail", {}).pop("alarmName", None)
            self.assertEqual(unfiltered, without_name, f"{function}.{event_name}")
        self.alarm_rules(rules)
        bus = Bus(self.endpoint, self.functions, rules, event_bus="alarm-name-prefix-off")
        cases = {
            name: (json.loads((EVENTS / name).read_text()), self.expected[name]["routes"])
            for name in _event_files()
        }
        cases.update({label: (copy.deepcopy(event), routes) for label, (event, routes) in SYNTHETIC.items()})
        self.assertFalse(sorted(set(ROUTED_ONLY_WITHOUT_NAME_FILTER) - set(cases)), "cases that do not exist")
        for name, (event, routes) in cases.items():
            with self.subTest(name):
                expected = self.receivers(routes, name)
                if expected != REFUSED:
                    expected |= {self.ids[f] for f in ROUTED_ONLY_WITHOUT_NAME_FILTER.get(name, ())}
                self.assertEqual(self.route(event, bus, rules), expected)

    def test_moto_agrees_with_the_matcher_on_the_alarm_name_filter(self) -> None:
        """moto cannot judge the alarm rules (their namespace path crosses an array of
        objects), so it would never see the name filter. Here the alarm rules without that path
        go on a bus of their own: moto then judges alarmName's prefix and state, and must agree
        with the matcher on every alarm sample and synthetic alarm."""
        projected = []
        for function, event_name, pattern in self.alarm_rules(self.rules):
            pattern = copy.deepcopy(pattern)
            self.assertIn("configuration", pattern["detail"])
            del pattern["detail"]["configuration"]
            projected.append((function, event_name, pattern))
        bus = Bus(self.endpoint, self.functions, projected, event_bus="alarm-name-filter")
        events = [json.loads((EVENTS / name).read_text()) for name in _event_files()]
        events += [copy.deepcopy(event) for event, _ in SYNTHETIC.values()]
        events = [event for event in events if event.get("detail-type") == ALARM]
        outcomes = set()
        for event in events:
            name = event["detail"]["alarmName"]
            with self.subTest(name, id=event["id"]):
                wanted = set()
                for function, _, pattern in projected:
                    verdict = Verdict()
                    if matches(pattern, event, verdict):
                        self.assertFalse(verdict.crossed_object_array)
                        wanted.add(function)
                delivered = bus.put(event)
                self.assertNotEqual(delivered, REFUSED)
                self.assertEqual(set(delivered), wanted, "moto and the matcher disagree")
                in_alarm = event["detail"]["state"]["value"] == "ALARM"
                self.assertEqual(bool(wanted), in_alarm and name.startswith(DOCUMENTED_PREFIX))
                outcomes.add((in_alarm, bool(wanted)))
        # Both ways, or the check proved nothing.
        self.assertEqual(outcomes, {(True, True), (True, False), (False, False)})

    # --- api-throttle's rule state and usage alarm

    def rule_states(self, overrides: dict[str, str] | None = None) -> dict[tuple[str, str], str]:
        deployment = Deployment(self.template, overrides)
        states = {}
        for function in self.functions:
            for event_name, event in self.template["Resources"][function]["Properties"]["Events"].items():
                where = f"{function}.{event_name}.State"
                states[(function, event_name)] = deployment.resolve(event["Properties"]["State"], where)
        return states

    def test_api_throttles_cloudtrail_rule_takes_read_only_management_events(self) -> None:
        """Most throttled API calls are reads (Describe*, Get*, Decrypt): only a rule in state
        ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS receives them. RuleState=DISABLED still
        turns every rule off."""
        api_trail = (self.ids[API], "ApiCallThrottle")
        states = self.rule_states()
        self.assertEqual(states[api_trail], ALL_MANAGEMENT_EVENTS)
        others = {rule: state for rule, state in states.items() if rule != api_trail}
        self.assertEqual(set(others.values()), {"ENABLED"}, others)
        self.assertEqual(set(self.rule_states({"RuleState": "DISABLED"}).values()), {"DISABLED"})

    def test_the_data_plane_lists_agree_with_the_triggers(self) -> None:
        """Capacity throttles go to their function and never to api-throttle: the eventName
        lists of the DynamoDB and Kinesis CloudTrail rules, and api-throttle's anything-but
        lists, are the DATA_PLANE consts of the Rust triggers, name for name."""
        def rust_list(path: str) -> list[str]:
            source = (ROOT / path).read_text()
            found = re.search(r"pub const DATA_PLANE: \[&str; \d+\] = \[(.*?)\];", source, re.S)
            self.assertIsNotNone(found, f"{path}: no DATA_PLANE const")
            return re.findall(r'"([A-Za-z]+)"', found.group(1))

        resources = self.template["Resources"]
        for function, path, source in (
            (DDB, "shared/src/dynamodb/trigger.rs", "dynamodb.amazonaws.com"),
            (KIN, "shared/src/kinesis/trigger.rs", "kinesis.amazonaws.com"),
        ):
            names = sorted(rust_list(path))
            own = resources[self.ids[function]]["Properties"]["Events"]["ApiCallThrottle"]["Properties"]["Pattern"]
            self.assertEqual(sorted(own["detail"]["eventName"]), names, f"{function}'s rule")
            api = resources[self.ids[API]]["Properties"]["Events"]["ApiCallThrottle"]["Properties"]["Pattern"]
            excluded = [
                branch["eventName"][0]["anything-but"]
                for branch in api["detail"]["$or"]
                if branch.get("eventSource") == [source] and "anything-but" in str(branch.get("eventName"))
            ]
            self.assertEqual([sorted(e) for e in excluded], [names], f"api-throttle's rule for {source}")

    def test_the_kms_usage_alarm_is_a_per_second_share_of_the_quota(self) -> None:
        """CallCount is a one-minute Sum and the quota is per second: the alarm divides by
        the period before comparing with the quota. Evaluated here on figures, as CloudWatch
        would, with the template's own expression and threshold."""
        alarm = self.template["Resources"]["KmsSymmetricUsageAlarm"]["Properties"]
        metrics = {m["Id"]: m for m in alarm["Metrics"]}
        usage = metrics["m1"]["MetricStat"]
        self.assertEqual(usage["Metric"]["Namespace"], "AWS/Usage")
        self.assertEqual(usage["Metric"]["MetricName"], "CallCount")
        dimensions = {d["Name"]: d["Value"] for d in usage["Metric"]["Dimensions"]}
        self.assertEqual(
            dimensions,
            {"Service": "KMS", "Type": "API", "Class": "None", "Resource": "CryptographicOperationsSymmetric"},
        )
        self.assertEqual(usage["Stat"], "Sum")
        expression = metrics["usage"]["Expression"]
        threshold = float(Deployment(self.template).resolve(alarm["Threshold"], "Threshold"))
        self.assertEqual(alarm["ComparisonOperator"], "GreaterThanThreshold")

        def percent(calls_per_minute: float, quota_per_second: float) -> float:
            text = (
                expression.replace("PERIOD(m1)", str(usage["Period"]))
                .replace("SERVICE_QUOTA(m1)", str(quota_per_second))
                .replace("m1", str(calls_per_minute))
            )
            self.assertRegex(text, r"^[0-9.()/*+ -]+$", "only arithmetic is left")
            return eval(text, {"__builtins__": {}})  # noqa: S307 - digits and operators only

        # 100,000 requests/s allowed: 4.8 M in a minute is 80,000/s, exactly 80 %.
        self.assertAlmostEqual(percent(4_800_000, 100_000), 80.0)
        self.assertGreater(percent(4_900_000, 100_000), threshold, "81.7 %: ALARM")
        self.assertLess(percent(4_700_000, 100_000), threshold, "78.3 %: OK")
        # 60,000 calls in a minute are 1,000/s: 1 % of the quota (without the division by the
        # period it would read 60 %, and the alarm would fire 60 times too early).
        self.assertAlmostEqual(percent(60_000, 100_000), 1.0)

    def test_the_resolver_is_strict(self) -> None:
        template = {
            "Parameters": {
                "P": {"Type": "String", "Default": "a-", "AllowedPattern": "^[a-z-]*$", "MaxLength": 5},
                "N": {"Type": "Number", "Default": 3, "MinValue": 1},
            },
            "Conditions": {
                "Empty": {"Fn::Equals": [{"Ref": "P"}, ""]},
                "Full": {"Fn::Not": [{"Condition": "Empty"}]},
            },
        }
        pattern = {
            "a": {"Fn::If": ["Empty", {"Ref": "AWS::NoValue"}, [{"prefix": {"Ref": "P"}}]]},
            "b": ["x", {"Fn::If": ["Full", {"Ref": "AWS::NoValue"}, "y"]}],
        }
        self.assertEqual(Deployment(template).pattern(pattern, "t"), {"a": [{"prefix": "a-"}], "b": ["x"]})
        self.assertEqual(Deployment(template, {"P": ""}).pattern(pattern, "t"), {"b": ["x", "y"]})
        self.assertEqual(Deployment(template).resolve({"Ref": "N"}, "t"), "3")
        for bad in (
            {"Ref": "AWS::Region"},
            {"Ref": "SomeResource"},
            {"Fn::Sub": "${P}"},
            {"Fn::If": ["Missing", "x", "y"]},
            {"Ref": "P", "extra": ["x"]},
        ):
            with self.subTest(bad), self.assertRaises(Unresolvable):
                Deployment(template).pattern({"k": bad}, "t")
        with self.assertRaises(Unresolvable):
            Deployment(template).pattern({"Fn::If": ["Empty", ["x"], {"Ref": "AWS::NoValue"}]}, "t")
        for overrides in ({"Q": "x"}, {"P": "Upper"}, {"P": "toolong"}, {"N": "0"}):
            with self.subTest(overrides), self.assertRaises(Unresolvable):
                Deployment(template, overrides)
        # The template's own parameter accepts the empty value that turns the filter off.
        Deployment(self.template, {ALARM_NAME_PREFIX: ""})

    # --- the matcher itself

    def test_matcher_follows_eventbridge_array_semantics(self) -> None:
        pattern = {"detail": {"metrics": {"metric": {"namespace": ["AWS/DynamoDB"], "name": ["W"]}}}}
        one = {"metric": {"namespace": "AWS/DynamoDB", "name": "W"}}
        other = {"metric": {"namespace": "AWS/EC2", "name": "X"}}
        self.assertTrue(matches(pattern, {"detail": {"metrics": [other, one]}}))
        self.assertFalse(matches(pattern, {"detail": {"metrics": [other]}}))
        self.assertFalse(matches(pattern, {"detail": {"metrics": []}}))
        # Fields of two different elements never combine into one match.
        split = [{"metric": {"namespace": "AWS/DynamoDB", "name": "X"}}, {"metric": {"namespace": "AWS/EC2", "name": "W"}}]
        self.assertFalse(matches(pattern, {"detail": {"metrics": split}}))
        # An array of scalars matches when any value is allowed.
        self.assertTrue(matches({"resources": ["b", "z"]}, {"resources": ["a", "b"]}))
        self.assertFalse(matches({"detail": {"x": ["1"]}}, {"detail": {"x": 1}}), "types must agree")
        self.assertTrue(matches({"m": [{"wildcard": "*Throttling*"}]}, {"m": "[None, ThrottlingError]"}))
        self.assertFalse(matches({"m": [{"wildcard": "*Throttling*"}]}, {"m": "[ConditionalCheckFailed]"}))
        with self.assertRaises(NotImplementedError):
            matches({"n": [{"numeric": [">", 0]}]}, {"n": 1})


def _file_test(name: str):
    def test(self: RuleProof) -> None:
        event = json.loads((EVENTS / name).read_text())
        entry = self.expected.get(name)
        self.assertIsNotNone(entry, f"events/{name} has no entry in events/expected.json")
        self.assertIn("routes", entry, f"events/expected.json: {name}")
        expected = self.receivers(entry["routes"], f"events/expected.json: {name}: routes")
        self.assertEqual(self.route(event), expected, f"events/{name}")

    return test


def _synthetic_test(event: dict, expected: frozenset[str]):
    def test(self: RuleProof) -> None:
        self.assertEqual(self.route(copy.deepcopy(event)), self.receivers(expected, "SYNTHETIC"))

    return test


for _name in sorted(set(_event_files()) | set(_listed_files())):
    _id = _name.removesuffix(".json").replace("/", "__").replace("-", "_")
    setattr(RuleProof, f"test_event__{_id}", _file_test(_name))
for _label, (_event, _expected) in SYNTHETIC.items():
    setattr(RuleProof, f"test_synthetic__{_label.replace(' ', '_')}", _synthetic_test(_event, _expected))


def main() -> int:
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(RuleProof)
    result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
    # A skipped proof proves nothing: skips count as failures.
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses) + len(result.skipped)
    passed = max(0, result.testsRun - failed)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
