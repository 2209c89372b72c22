//! Bad input (issue 9): generated and mutated events through both triggers. Whatever an event
//! holds, a trigger must not panic, and no name outside AWS's naming rules may become a
//! target, and so reach an S3 key, a ledger key or an API call.
//!
//! Four generators share `BAD_INPUT_CASES` (default [`DEFAULT_CASES`]; `make fuzz` runs
//! 100,000): every sample in events/ mutated (values replaced by other types, hostile names,
//! deleted keys, duplicated and grown arrays, deep nesting), the same as text cut at a
//! random byte, events built from the triggers' own vocabulary with random parts, and
//! random JSON. A failure prints the smallest input proptest finds; nothing is written to
//! disk (failure persistence is off). Each run draws new cases; `PROPTEST_RNG_SEED=<n>`
//! makes runs repeatable.

use std::collections::{BTreeSet, HashMap};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use chrono::{TimeZone, Utc};
use integration_tests::{EXPECTED_OUTCOMES, events_dir};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};
use serde::Serialize;
use serde_json::{Map, Value, json};
use unthrottle::api::Api;
use unthrottle::core::domain::{Action, ResourceRef, ServiceId};
use unthrottle::core::envelope::{Envelope, Incident, Scope, Triage, TriggerError};
use unthrottle::core::plan::Proposal;
use unthrottle::core::ports::Described;
use unthrottle::core::service::Service;
use unthrottle::core::snapshot::Snapshot;
use unthrottle::core::trigger::Target;
use unthrottle::dynamodb::DynamoDb;
use unthrottle::kinesis::{Kinesis, StreamTarget};

/// Cases across the four generators when `BAD_INPUT_CASES` is not set: what `make test` and
/// CI run.
const DEFAULT_CASES: u32 = 20_000;

/// Each generator's share of the cases, in percent.
const MUTATED_SHARE: u32 = 50;
const TRUNCATED_SHARE: u32 = 15;
const BUILT_SHARE: u32 = 25;
const RANDOM_SHARE: u32 = 10;

fn runner(share: u32) -> TestRunner {
    let total = match std::env::var("BAD_INPUT_CASES") {
        Ok(text) => text
            .parse::<u32>()
            .unwrap_or_else(|_| panic!("BAD_INPUT_CASES={text:?}: expected a whole number")),
        Err(_) => DEFAULT_CASES,
    };
    TestRunner::new(Config {
        cases: (total * share / 100).max(1),
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        // A failure shrinks for at most a minute, then reports what it has.
        max_shrink_time: 60_000,
        ..Config::default()
    })
}

// --- the properties -------------------------------------------------------------------------

/// AWS's naming rules, written out here rather than taken from the crate, so the test does
/// not trust what it tests: DynamoDB tables and indexes 3-255, Kinesis streams 1-128
/// characters of `[a-zA-Z0-9_.-]`.
fn aws_name(name: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// What a snapshot key segment may hold: the characters `safe()` keeps.
fn key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_.-".contains(c)
}

/// The snapshot key the pipeline would write for `target`: its scope is the target's own
/// (from an ARN) or the incident's, as in `Pipeline::remediate`.
fn snapshot_key<T: Target + Serialize>(service: ServiceId, incident: &Incident, target: &T) -> String {
    let scope = target.scope().cloned().unwrap_or_else(|| Scope {
        account: incident.account.clone(),
        region: incident.region.clone(),
    });
    let resource = ResourceRef {
        service,
        account: scope.account,
        region: scope.region,
        name: target.resource().to_owned(),
    };
    let proposal = Proposal {
        action: Action::named("Probe"),
        change: (),
        before: Value::Null,
        after: Value::Null,
        why: String::new(),
        cause: None,
        finding: None,
        quota: None,
    };
    let described = Described {
        state: (),
        tags: HashMap::new(),
        raw: Value::Null,
    };
    let taken_at = Utc.with_ymd_and_hms(2026, 11, 20, 10, 15, 0).unwrap();
    Snapshot::new(&resource, incident, target, &proposal, &described, taken_at).key()
}

/// `snapshots/{service}/{account}/{region}/{name}/{time}-{event}.json`: six segments of key
/// characters whatever the event held, and the name segment the name itself.
fn check_key(key: &str, name: &str) -> Result<(), TestCaseError> {
    let segments: Vec<&str> = key.split('/').collect();
    prop_assert_eq!(segments.len(), 6, "a key gained or lost a level: {}", key);
    for segment in &segments {
        prop_assert!(!segment.is_empty(), "empty segment in {}", key);
        prop_assert!(
            segment.chars().all(key_char),
            "unsafe segment {:?} in {}",
            segment,
            key
        );
    }
    prop_assert_eq!(segments[4], name, "the name segment is not the name: {}", key);
    prop_assert!(name != "." && name != "..", "a dot segment as the name: {}", key);
    Ok(())
}

/// What the three triggers made of one event, counted for the report at the end.
#[derive(Default)]
struct Tally {
    cases: AtomicU64,
    targets: AtomicU64,
    refused: AtomicU64,
    skipped: AtomicU64,
    errors: AtomicU64,
}

impl Tally {
    fn count<T>(&self, result: &Result<Triage<T>, TriggerError>) {
        let counter = match result {
            Ok(Triage::Throttled { targets, .. }) => {
                self.targets.fetch_add(targets.len() as u64, Ordering::Relaxed);
                return;
            }
            Err(TriggerError::NoResource { invalid: Some(_), .. }) => &self.refused,
            Ok(Triage::Ignored { detail, .. }) if detail.contains("it can act on: ") => &self.refused,
            Ok(Triage::Ignored { .. }) => &self.skipped,
            Err(_) => &self.errors,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn report(&self, generator: &str, started: Instant) -> [u64; 5] {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let counts = [
            n(&self.cases),
            n(&self.targets),
            n(&self.refused),
            n(&self.skipped),
            n(&self.errors),
        ];
        eprintln!(
            "bad_input {generator}: {} events in {:.1?}; the three triggers together: {} targets, \
             {} readings refused for an invalid name, {} skipped, {} errors (unreadable, or naming nothing)",
            counts[0],
            started.elapsed(),
            counts[1],
            counts[2],
            counts[3],
            counts[4]
        );
        counts
    }
}

/// The three triggers on one event: no panic (proptest fails the case on one), and every target's
/// names keep AWS's rules and make a snapshot key of six safe segments.
fn check(event: &Value, tally: &Tally) -> Result<(), TestCaseError> {
    tally.cases.fetch_add(1, Ordering::Relaxed);
    let tables = Envelope::parse(event.clone()).and_then(|e| <DynamoDb as Service>::triage(&e));
    tally.count(&tables);
    if let Ok(Triage::Throttled { incident, targets }) = &tables {
        prop_assert!(!targets.is_empty(), "a throttle with no target");
        for target in targets {
            let table = target.resource();
            prop_assert!(aws_name(table, 3, 255), "table name {:?} reached a target", table);
            for index in target.on_indexes.keys() {
                prop_assert!(aws_name(index, 3, 255), "index name {:?} reached a target", index);
            }
            check_key(&snapshot_key(DynamoDb::ID, incident, target), table)?;
        }
    }
    let streams = Envelope::parse(event.clone()).and_then(|e| <Kinesis as Service>::triage(&e));
    tally.count(&streams);
    if let Ok(Triage::Throttled { incident, targets }) = &streams {
        prop_assert!(!targets.is_empty(), "a throttle with no target");
        for target in targets {
            let stream = target.resource();
            prop_assert!(
                aws_name(stream, 1, 128),
                "stream name {:?} reached a target",
                stream
            );
            check_key(&snapshot_key(Kinesis::ID, incident, target), stream)?;
        }
    }
    let apis = Envelope::parse(event.clone()).and_then(|e| <Api as Service>::triage(&e));
    tally.count(&apis);
    if let Ok(Triage::Throttled { incident, targets }) = &apis {
        prop_assert!(!targets.is_empty(), "a throttle with no target");
        for target in targets {
            let name = target.resource();
            prop_assert!(
                aws_name(&target.service, 1, 128) && aws_name(&target.api, 1, 128),
                "API name {:?} reached a target",
                name
            );
            for quoted in [&target.caller, &target.sdk, &target.host].into_iter().flatten() {
                prop_assert!(
                    quoted.chars().count() <= 256 && !quoted.chars().any(char::is_control),
                    "an unbounded or unsafe caller, SDK or host: {:?}",
                    quoted
                );
            }
            check_key(&snapshot_key(Api::ID, incident, target), name)?;
        }
    }
    Ok(())
}

// --- what the generators draw from ----------------------------------------------------------

/// Every sample under events/, except the table of expected outcomes.
static SAMPLES: LazyLock<Vec<(String, Value)>> = LazyLock::new(|| {
    let mut found = Vec::new();
    let mut folders = vec![events_dir()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "json")
                && path.file_name().is_some_and(|n| n != EXPECTED_OUTCOMES)
            {
                let text = std::fs::read_to_string(&path).unwrap();
                let name = path.strip_prefix(events_dir()).unwrap().display().to_string();
                let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
                found.push((name, value));
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(found.len() >= 20, "only {} samples in events/", found.len());
    found
});

/// Strings that have broken parsers, paths and keys before.
const HOSTILE: &[&str] = &[
    "",
    ".",
    "..",
    "...",
    "../",
    "../../",
    "/",
    "//",
    "#",
    "\\",
    "..\\..\\",
    "%2e%2e%2f",
    "%00",
    "\0",
    "\n",
    "\r\n",
    "\t",
    "\u{7f}",
    "\u{1b}[31m",
    " ",
    "orders ",
    " orders",
    "or ders",
    "orders\0",
    "orders/",
    "/orders",
    "orders#1",
    "orders/index/by-customer",
    "orders/stream/2026-11-20T10:15:00.000",
    "ÖRDERS",
    "ｏｒｄｅｒｓ",
    "orders\u{200b}",
    "\u{202e}sredro",
    "😀",
    "\u{fffd}",
    "a",
    "ab",
    "abc",
    "*",
    "?",
    "orders*",
    "${jndi:ldap://x}",
    "'; DROP TABLE orders;--",
    "<script>",
    "arn:",
    "arn:aws",
    "arn:aws:dynamodb:us-east-1:123456789012:table/",
    "arn:aws:dynamodb:::table/orders",
    "arn:aws:dynamodb:us-east-1:123456789012:table/../../x",
    "arn:aws:dynamodb:../..:../..:table/orders",
    "arn:aws:dynamodb:us-east-1:123456789012:table/orders/index/../..",
    "arn:aws:kinesis:us-east-1:123456789012:stream/a/b",
    "arn:aws:kinesis:us-east-1:123456789012:stream/..",
    "arn:aws:kinesis:us-east-1:123456789012:stream/.",
    "snapshots/../../",
    "null",
    "{}",
];

/// Names AWS accepts, and the samples' own.
const VALID: &[&str] = &[
    "orders",
    "customers",
    "clickstream",
    "by-customer",
    "a.b_c-D9",
    "abc",
    "x",
];

/// The words the triggers look for, so that generated events get past the first checks.
const VOCABULARY: &[&str] = &[
    "AWS API Call via CloudTrail",
    "CloudWatch Alarm State Change",
    "dynamodb.amazonaws.com",
    "kinesis.amazonaws.com",
    "kms.amazonaws.com",
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "TransactionCanceledException",
    "ThrottlingError",
    "PutItem",
    "GetItem",
    "Query",
    "BatchWriteItem",
    "TransactWriteItems",
    "ExecuteStatement",
    "DescribeTable",
    "PutRecord",
    "PutRecords",
    "GetRecords",
    "SubscribeToShard",
    "ListShards",
    "AWS::DynamoDB::Table",
    "AWS::Kinesis::Stream",
    "ALARM",
    "OK",
    "AWS/DynamoDB",
    "AWS/Kinesis",
    "WriteThrottleEvents",
    "ReadThrottleEvents",
    "ThrottledRequests",
    "OnlineIndexThrottleEvents",
    "WriteProvisionedThroughputExceeded",
    "ReadProvisionedThroughputExceeded",
    "PutRecords.ThrottledRecords",
    "2026-11-20T10:15:00Z",
    "2026-11-20T10:15:12.860+0000",
    "123456789012",
    "us-east-1",
];

/// The keys the envelope and the triggers read.
const FIELDS: &[&str] = &[
    "version",
    "id",
    "detail-type",
    "source",
    "account",
    "time",
    "region",
    "resources",
    "detail",
    "eventSource",
    "eventName",
    "errorCode",
    "errorMessage",
    "eventID",
    "eventTime",
    "requestParameters",
    "recipientAccountId",
    "awsRegion",
    "ARN",
    "type",
    "tableName",
    "TableName",
    "indexName",
    "requestItems",
    "transactItems",
    "put",
    "update",
    "conditionCheck",
    "streamName",
    "streamARN",
    "alarmName",
    "state",
    "value",
    "timestamp",
    "configuration",
    "metrics",
    "metricStat",
    "metric",
    "namespace",
    "name",
    "dimensions",
    "StreamName",
    "GlobalSecondaryIndexName",
    "Operation",
];

/// An ARN with hostile parts: `arn:{partition}:{service}:{region}:{account}:{kind}{sep}{name}{tail}`.
fn arn_like() -> BoxedStrategy<String> {
    let part = || {
        prop_oneof![
            select(
                &[
                    "aws",
                    "us-east-1",
                    "123456789012",
                    "",
                    ".",
                    "..",
                    "../..",
                    "a/b",
                    "#",
                    ":"
                ][..]
            )
            .prop_map(str::to_owned),
            "[a-z0-9-]{0,12}",
        ]
    };
    (
        select(&["arn", "ARN", " arn", "arn "][..]),
        part(),
        select(&["dynamodb", "kinesis", "s3", "", "dynamodb/.."][..]),
        part(),
        part(),
        select(&["table", "stream", "index", "", "table/stream"][..]),
        select(&["/", ":", "//", ""][..]),
        name_like(),
        select(&["", "/index/by-customer", "/stream/2026", "/..", "/../x", ":x"][..]),
    )
        .prop_map(
            |(arn, partition, service, region, account, kind, sep, name, tail)| {
                format!("{arn}:{partition}:{service}:{region}:{account}:{kind}{sep}{name}{tail}")
            },
        )
        .boxed()
}

/// Names of every length around the rules' bounds, of valid characters or not.
fn sized_name() -> BoxedStrategy<String> {
    (
        select(
            &[
                0usize, 1, 2, 3, 4, 63, 64, 65, 127, 128, 129, 254, 255, 256, 1024, 10_000,
            ][..],
        ),
        select(&['a', 'Z', '9', '_', '.', '-', '/', ' ', 'é'][..]),
    )
        .prop_map(|(length, c)| c.to_string().repeat(length))
        .boxed()
}

/// Something in a place where a name goes.
fn name_like() -> BoxedStrategy<String> {
    prop_oneof![
        3 => select(HOSTILE).prop_map(str::to_owned),
        2 => select(VALID).prop_map(str::to_owned),
        2 => "[a-zA-Z0-9_.-]{0,6}",
        2 => sized_name(),
        1 => "\\PC{0,12}",
        1 => any::<String>(),
        2 => (select(VALID), select(HOSTILE), select(VALID)).prop_map(|(a, b, c)| format!("{a}{b}{c}")),
    ]
    .boxed()
}

/// Any string: names, ARNs, the triggers' words.
fn string() -> BoxedStrategy<String> {
    prop_oneof![
        4 => name_like(),
        2 => arn_like(),
        2 => select(VOCABULARY).prop_map(str::to_owned),
    ]
    .boxed()
}

fn number() -> BoxedStrategy<Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        select(&[0.0, -0.0, -1.0, 0.5, 1e308, -1e308, 5e-324, 1e-300][..]).prop_map(Value::from),
        select(&[i64::MIN, -1, 0, 1, i64::MAX][..]).prop_map(Value::from),
        Just(Value::from(u64::MAX)),
    ]
    .boxed()
}

/// A JSON value that is not an array or an object.
fn leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        2 => number(),
        5 => string().prop_map(Value::String),
    ]
    .boxed()
}

fn key() -> BoxedStrategy<String> {
    prop_oneof![
        3 => select(FIELDS).prop_map(str::to_owned),
        1 => name_like(),
    ]
    .boxed()
}

/// Random JSON, of the triggers' keys and words more often than not.
fn random_json() -> BoxedStrategy<Value> {
    // Made once: the closure runs for every value drawn.
    let key = key();
    leaf()
        .prop_recursive(6, 96, 8, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::vec((key.clone(), inner), 0..8)
                    .prop_map(|members| Value::Object(members.into_iter().collect())),
            ]
        })
        .boxed()
}

// --- mutations of the samples ---------------------------------------------------------------

/// Which nodes a mutation picks from (given the key a node is under).
type Wanted = fn(Option<&str>, &Value) -> bool;

fn any_node(_: Option<&str>, _: &Value) -> bool {
    true
}

/// How many nodes of `value` are `wanted`.
fn count(value: &Value, under: Option<&str>, wanted: Wanted) -> usize {
    usize::from(wanted(under, value))
        + match value {
            Value::Array(items) => items.iter().map(|item| count(item, None, wanted)).sum(),
            Value::Object(members) => members.iter().map(|(k, m)| count(m, Some(k), wanted)).sum(),
            _ => 0,
        }
}

/// The `n`th `wanted` node of `value`, in document order.
fn nth<'a>(
    value: &'a mut Value,
    under: Option<&str>,
    n: &mut usize,
    wanted: Wanted,
) -> Option<&'a mut Value> {
    if wanted(under, value) {
        if *n == 0 {
            return Some(value);
        }
        *n -= 1;
    }
    match value {
        Value::Array(items) => items.iter_mut().find_map(|item| nth(item, None, n, wanted)),
        Value::Object(members) => members.iter_mut().find_map(|(k, m)| nth(m, Some(k), n, wanted)),
        _ => None,
    }
}

/// The node `at` picks among the `wanted` nodes of `event`, if there is one.
fn pick<'a>(event: &'a mut Value, at: &Index, wanted: Wanted) -> Option<&'a mut Value> {
    let found = count(event, None, wanted);
    if found == 0 {
        return None;
    }
    nth(event, None, &mut at.index(found), wanted)
}

/// How many nodes `value` holds.
fn size(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(size).sum::<usize>(),
        Value::Object(members) => 1 + members.values().map(size).sum::<usize>(),
        _ => 1,
    }
}

/// Enough nodes for "oversized" (an array copied a thousand times, five hundred tables in one
/// batch; EventBridge events are at most 256 KB) without one case taking long.
const MAX_NODES: usize = 10_000;

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(members) => 1 + members.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// The keys whose string values the triggers read as names or ARNs.
const NAME_KEYS: &[&str] = &[
    "tableName",
    "TableName",
    "indexName",
    "streamName",
    "streamARN",
    "ARN",
    "StreamName",
    "GlobalSecondaryIndexName",
];

/// Where a name goes: a string under a key the triggers read as a name or ARN, or a map of
/// tables (`requestItems`), whose keys are names.
fn is_name_place(under: Option<&str>, value: &Value) -> bool {
    let Some(key) = under else {
        return false;
    };
    (value.is_string() && NAME_KEYS.contains(&key)) || (value.is_object() && key == "requestItems")
}

#[derive(Debug, Clone)]
enum Mutation {
    /// Put a value of another type (or a hostile string) in place of a node.
    Replace(Index, Value),
    /// Put a hostile name where a name goes (a map of tables or dimensions gets a new key).
    Name(Index, String),
    /// Put a value of another type where a name goes.
    NameType(Index, Value),
    /// Rename an object's key.
    RenameKey(Index, Index, String),
    /// Delete an object member or an array item.
    Delete(Index, Index),
    /// Repeat an array's items (or make a node an array of itself) `n` times.
    Duplicate(Index, usize),
    /// Give an object `n` more members named like tables, each a copy of one of its own.
    Grow(Index, usize),
    /// Wrap a node in `n` levels of arrays or objects.
    Nest(Index, usize, bool),
}

/// Deep enough to pass serde_json's text limit of 128 levels, which a Lambda event has been
/// through, without overflowing a test thread's stack.
const MAX_DEPTH: usize = 220;

fn mutation() -> BoxedStrategy<Mutation> {
    let at = any::<Index>;
    prop_oneof![
        3 => (at(), prop_oneof![3 => leaf(), 1 => random_json()]).prop_map(|(at, v)| Mutation::Replace(at, v)),
        8 => (at(), name_like()).prop_map(|(at, name)| Mutation::Name(at, name)),
        2 => (at(), prop_oneof![3 => leaf(), 1 => random_json()]).prop_map(|(at, v)| Mutation::NameType(at, v)),
        1 => (at(), at(), key()).prop_map(|(at, which, name)| Mutation::RenameKey(at, which, name)),
        2 => (at(), at()).prop_map(|(at, which)| Mutation::Delete(at, which)),
        1 => (at(), prop_oneof![9 => 1usize..4, 1 => Just(1000)]).prop_map(|(at, n)| Mutation::Duplicate(at, n)),
        1 => (at(), prop_oneof![9 => 1usize..8, 1 => Just(500)]).prop_map(|(at, n)| Mutation::Grow(at, n)),
        1 => (at(), prop_oneof![1usize..10, Just(127), Just(128), Just(200)], any::<bool>())
            .prop_map(|(at, n, object)| Mutation::Nest(at, n, object)),
    ]
    .boxed()
}

fn apply(event: &mut Value, mutation: &Mutation) {
    match mutation {
        Mutation::Replace(at, with) => {
            if let Some(node) = pick(event, at, any_node) {
                *node = with.clone();
            }
        }
        Mutation::Name(at, name) => match pick(event, at, is_name_place) {
            Some(Value::Object(members)) => {
                let first = members.values().next().cloned().unwrap_or(Value::Null);
                members.insert(name.clone(), first);
            }
            Some(other) => *other = Value::String(name.clone()),
            None => {}
        },
        Mutation::NameType(at, with) => {
            if let Some(node) = pick(event, at, is_name_place) {
                *node = with.clone();
            }
        }
        Mutation::RenameKey(at, which, name) => {
            if let Some(Value::Object(members)) = pick(event, at, |_, v| v.is_object())
                && !members.is_empty()
            {
                let old = members.keys().nth(which.index(members.len())).cloned().unwrap();
                let moved = members.remove(&old).unwrap();
                members.insert(name.clone(), moved);
            }
        }
        Mutation::Delete(at, which) => match pick(event, at, |_, v| v.is_object() || v.is_array()) {
            Some(Value::Object(members)) if !members.is_empty() => {
                let old = members.keys().nth(which.index(members.len())).cloned().unwrap();
                members.remove(&old);
            }
            Some(Value::Array(items)) if !items.is_empty() => {
                items.remove(which.index(items.len()));
            }
            _ => {}
        },
        Mutation::Duplicate(at, n) => {
            if let Some(target) = pick(event, at, any_node) {
                let items = match &*target {
                    Value::Array(items) => items.clone(),
                    other => vec![other.clone()],
                };
                let n = (*n).min(MAX_NODES / size(target).max(1));
                let mut repeated = Vec::with_capacity(items.len() * (n + 1));
                for _ in 0..=n {
                    repeated.extend(items.iter().cloned());
                }
                *target = Value::Array(repeated);
            }
        }
        Mutation::Grow(at, n) => {
            if let Some(Value::Object(members)) = pick(event, at, |_, v| v.is_object()) {
                let first = members.values().next().cloned().unwrap_or(Value::Null);
                for i in 0..(*n).min(MAX_NODES / size(&first).max(1)) {
                    members.insert(format!("table-{i:04}"), first.clone());
                }
            }
        }
        Mutation::Nest(at, n, object) => {
            let room = MAX_DEPTH.saturating_sub(depth(event));
            if let Some(target) = pick(event, at, any_node) {
                for _ in 0..(*n).min(room) {
                    let inner = target.take();
                    *target = if *object {
                        Value::Object(Map::from_iter([("tableName".to_owned(), inner)]))
                    } else {
                        Value::Array(vec![inner])
                    };
                }
            }
        }
    }
}

fn mutated_sample() -> BoxedStrategy<(usize, Vec<Mutation>)> {
    (0..SAMPLES.len(), prop::collection::vec(mutation(), 1..6)).boxed()
}

fn mutate(sample: usize, mutations: &[Mutation]) -> Value {
    let mut event = SAMPLES[sample].1.clone();
    for mutation in mutations {
        apply(&mut event, mutation);
    }
    event
}

// --- events built from the triggers' vocabulary ---------------------------------------------

fn name_value() -> BoxedStrategy<Value> {
    prop_oneof![
        6 => name_like().prop_map(Value::String),
        2 => arn_like().prop_map(Value::String),
        1 => leaf(),
        1 => random_json(),
    ]
    .boxed()
}

/// `usual`, or one time in forty any other JSON scalar (one field of the wrong type makes
/// the whole detail unreadable, so wrong types are the mutated samples' business).
fn mostly(usual: &'static str) -> BoxedStrategy<Value> {
    prop_oneof![39 => Just(Value::from(usual)), 1 => leaf()].boxed()
}

/// One of `words`, or one time in forty any other JSON scalar.
fn mostly_one_of(words: &'static [&'static str]) -> BoxedStrategy<Value> {
    prop_oneof![39 => select(words).prop_map(Value::from), 1 => leaf()].boxed()
}

const DYNAMODB_OPERATIONS: &[&str] = &[
    "PutItem",
    "GetItem",
    "Query",
    "Scan",
    "UpdateItem",
    "BatchWriteItem",
    "BatchGetItem",
    "TransactWriteItems",
    "TransactGetItems",
    "ExecuteStatement",
    "DescribeTable",
];

const KINESIS_OPERATIONS: &[&str] = &[
    "PutRecord",
    "PutRecords",
    "GetRecords",
    "SubscribeToShard",
    "ListShards",
];

const ERROR_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "TransactionCanceledException",
    "ConditionalCheckFailedException",
];

const DYNAMODB_METRICS: &[&str] = &[
    "WriteThrottleEvents",
    "ReadThrottleEvents",
    "ThrottledRequests",
    "OnlineIndexThrottleEvents",
    "ReadKeyRangeThroughputThrottleEvents",
    "ConsumedWriteCapacityUnits",
];

const KINESIS_METRICS: &[&str] = &[
    "WriteProvisionedThroughputExceeded",
    "ReadProvisionedThroughputExceeded",
    "PutRecords.ThrottledRecords",
    "PutRecord.ThrottledRecords",
    "IncomingBytes",
];

/// Request parameters of a DynamoDB call: a table (and an index), a batch's map of tables,
/// a transaction's items, each maybe absent, plus a few random ones.
fn dynamodb_parameters() -> BoxedStrategy<Value> {
    let table_map = prop::collection::vec((name_like(), random_json()), 0..6)
        .prop_map(|tables| Value::Object(tables.into_iter().collect()));
    let item = (
        select(&["put", "update", "delete", "conditionCheck", "get"][..]),
        select(&["tableName", "TableName"][..]),
        name_value(),
    )
        .prop_map(|(op, key, name)| json!({op: {key: name}}));
    let listed = (select(&["tableName", "TableName"][..]), name_value())
        .prop_map(|(key, name)| json!({"operation": "Put", key: name}));
    let items = prop::collection::vec(prop_oneof![4 => item, 4 => listed, 1 => random_json()], 0..6)
        .prop_map(Value::Array);
    (
        prop::option::weighted(0.7, name_value()),
        prop::option::weighted(0.2, name_value()),
        prop::option::weighted(0.2, prop_oneof![table_map, items.clone()]),
        prop::option::weighted(0.1, items),
        prop::collection::vec((key(), random_json()), 0..3),
    )
        .prop_map(|(table, index, request_items, transact_items, extra)| {
            let mut params: Map<String, Value> = extra.into_iter().collect();
            let named = [
                ("tableName", table),
                ("indexName", index),
                ("requestItems", request_items),
                ("transactItems", transact_items),
            ];
            for (key, value) in named {
                if let Some(value) = value {
                    params.insert(key.to_owned(), value);
                }
            }
            Value::Object(params)
        })
        .boxed()
}

/// Request parameters of a Kinesis call: a stream name and/or ARN, maybe absent.
fn kinesis_parameters() -> BoxedStrategy<Value> {
    (
        prop::option::weighted(0.6, name_value()),
        prop::option::weighted(0.4, prop_oneof![arn_like().prop_map(Value::String), name_value()]),
        prop::collection::vec((key(), random_json()), 0..3),
    )
        .prop_map(|(name, arn, extra)| {
            let mut params: Map<String, Value> = extra.into_iter().collect();
            for (key, value) in [("streamName", name), ("streamARN", arn)] {
                if let Some(value) = value {
                    params.insert(key.to_owned(), value);
                }
            }
            Value::Object(params)
        })
        .boxed()
}

/// A CloudTrail record of a call to one of the two services, or another.
fn api_call() -> BoxedStrategy<Value> {
    let resource = (
        mostly_one_of(&["AWS::DynamoDB::Table", "AWS::Kinesis::Stream", "AWS::S3::Object"]),
        prop_oneof![
            20 => arn_like().prop_map(Value::String),
            10 => name_like().prop_map(Value::String),
            1 => leaf(),
        ],
    )
        .prop_map(|(kind, arn)| json!({"type": kind, "ARN": arn}));
    let service = prop_oneof![
        6 => (mostly("dynamodb.amazonaws.com"), mostly_one_of(DYNAMODB_OPERATIONS), dynamodb_parameters()),
        4 => (mostly("kinesis.amazonaws.com"), mostly_one_of(KINESIS_OPERATIONS), kinesis_parameters()),
        1 => (mostly("kms.amazonaws.com"), mostly("Decrypt"), random_json()),
    ];
    (
        service,
        mostly_one_of(ERROR_CODES),
        prop_oneof![Just("[ThrottlingError]".to_owned()), string()],
        prop_oneof![
            1 => Just(Value::Null),
            19 => prop::collection::vec(resource, 0..4).prop_map(Value::Array),
            1 => random_json(),
        ],
        mostly("123456789012"),
        mostly("us-east-1"),
        mostly("ct-1"),
    )
        .prop_map(
            |((source, operation, params), code, message, resources, account, region, id)| {
                let mut detail = json!({
                    "eventSource": source, "eventName": operation, "errorCode": code, "errorMessage": message,
                    "eventID": id, "requestParameters": params,
                    "recipientAccountId": account, "awsRegion": region, "eventTime": "2026-11-20T10:15:00Z"
                });
                if !resources.is_null() {
                    detail["resources"] = resources;
                }
                detail
            },
        )
        .boxed()
}

/// A CloudWatch alarm state change, its metrics mostly in the two services' namespaces.
fn alarm() -> BoxedStrategy<Value> {
    let name = || prop_oneof![19 => name_like().prop_map(Value::String), 1 => leaf()];
    let dynamodb = (
        mostly_one_of(DYNAMODB_METRICS),
        prop::option::weighted(0.9, name()),
        prop::option::weighted(0.3, name()),
        prop::option::weighted(0.3, mostly_one_of(DYNAMODB_OPERATIONS)),
    )
        .prop_map(|(metric, table, index, operation)| {
            let dimensions: Map<String, Value> = [
                ("TableName", table),
                ("GlobalSecondaryIndexName", index),
                ("Operation", operation),
            ]
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_owned(), v?)))
            .collect();
            (Value::from("AWS/DynamoDB"), metric, Value::Object(dimensions))
        });
    let kinesis = (
        mostly_one_of(KINESIS_METRICS),
        prop::option::weighted(0.9, name()),
    )
        .prop_map(|(metric, stream)| {
            let dimensions: Map<String, Value> =
                stream.map(|s| ("StreamName".to_owned(), s)).into_iter().collect();
            (Value::from("AWS/Kinesis"), metric, Value::Object(dimensions))
        });
    let other = (mostly("AWS/EC2"), mostly("CPUUtilization"), random_json());
    let metric = prop_oneof![5 => dynamodb, 5 => kinesis, 1 => other].prop_map(|(namespace, name, dimensions)| {
        json!({"id": "m", "metricStat": {"metric": {"namespace": namespace, "name": name, "dimensions": dimensions}}})
    });
    (
        prop_oneof![39 => string().prop_map(Value::from), 1 => leaf()],
        prop_oneof![8 => Just("ALARM"), 1 => Just("OK"), 1 => Just("INSUFFICIENT_DATA")],
        prop_oneof![
            19 => prop::collection::vec(prop_oneof![19 => metric, 1 => random_json()], 0..5).prop_map(Value::Array),
            1 => random_json(),
        ],
    )
        .prop_map(|(name, state, metrics)| {
            json!({"alarmName": name, "state": {"value": state, "timestamp": "2026-11-20T10:15:12.860+0000"},
                   "configuration": {"metrics": metrics}})
        })
        .boxed()
}

fn built_event() -> BoxedStrategy<Value> {
    (
        prop_oneof![
            4 => api_call().prop_map(|d| ("AWS API Call via CloudTrail", d)),
            4 => alarm().prop_map(|d| ("CloudWatch Alarm State Change", d)),
            1 => random_json().prop_map(|d| ("AWS API Call via CloudTrail", d)),
            1 => random_json().prop_map(|d| ("CloudWatch Alarm State Change", d)),
        ],
        mostly("123456789012"),
        mostly("us-east-1"),
    )
        .prop_map(|((detail_type, detail), account, region)| {
            json!({
                "version": "0", "id": "built-1", "detail-type": detail_type, "source": "aws.test",
                "account": account, "time": "2026-11-20T10:15:00Z", "region": region,
                "resources": [], "detail": detail
            })
        })
        .boxed()
}

// --- the tests ------------------------------------------------------------------------------

fn run<V: std::fmt::Debug>(
    generator: &str,
    share: u32,
    strategy: impl Strategy<Value = V>,
    test: impl Fn(V, &Tally) -> Result<(), TestCaseError>,
) -> [u64; 5] {
    let tally = Tally::default();
    let started = Instant::now();
    if let Err(failure) = runner(share).run(&strategy, |input| test(input, &tally)) {
        panic!("bad_input {generator}: {failure}");
    }
    tally.report(generator, started)
}

#[test]
fn every_sample_mutated() {
    let seen: std::sync::Mutex<BTreeSet<usize>> = Default::default();
    let [cases, targets, refused, ..] = run(
        "mutated samples",
        MUTATED_SHARE,
        mutated_sample(),
        |(sample, mutations), tally| {
            seen.lock().unwrap().insert(sample);
            check(&mutate(sample, &mutations), tally)
        },
    );
    // The properties hold vacuously if no mutated event reaches a target or a refusal.
    if cases >= 1_000 {
        assert!(targets > cases / 10, "only {targets} targets in {cases} events");
        assert!(refused > cases / 20, "only {refused} refusals in {cases} events");
        let seen = seen.lock().unwrap();
        let missed: Vec<_> = (0..SAMPLES.len())
            .filter(|i| !seen.contains(i))
            .map(|i| &SAMPLES[i].0)
            .collect();
        assert!(missed.is_empty(), "samples never mutated: {missed:?}");
    }
}

/// What is done with a sample's text cut short.
#[derive(Debug, Clone, Copy)]
enum Cut {
    /// Parsed as it is: almost always an error, which must not be a panic.
    AsIs,
    /// Closed (an open string ended, open arrays and objects closed), so that a value cut
    /// short, a name cut to "or" or an ARN cut mid-way, reaches the triggers.
    Closed,
    /// Not cut: the whole text through serde_json, whose depth limit the Lambda runtime applies.
    Whole,
}

/// `text` (cut short) made into JSON again where that is easy: the open string ended, a
/// dangling `,` or `:` dealt with, the open arrays and objects closed.
fn close(text: &[u8]) -> Vec<Vec<u8>> {
    let (mut open, mut in_string, mut escaped) = (Vec::new(), false, false);
    for &byte in text {
        match (in_string, escaped, byte) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') | (false, _, b'"') => in_string = !in_string,
            (false, _, b'{') => open.push(b'}'),
            (false, _, b'[') => open.push(b']'),
            (false, _, b'}' | b']') => {
                open.pop();
            }
            _ => {}
        }
    }
    let mut base = text.to_vec();
    if in_string {
        if escaped {
            base.pop();
        }
        base.push(b'"');
    }
    while base.last().is_some_and(|b| b.is_ascii_whitespace() || *b == b',') {
        base.pop();
    }
    if base.last() == Some(&b':') {
        base.extend_from_slice(b"null");
    }
    let closers: Vec<u8> = open.iter().rev().copied().collect();
    // A key cut short needs a value too.
    let as_key = [&base[..], b":null", &closers].concat();
    vec![[&base[..], &closers].concat(), as_key]
}

#[test]
fn every_sample_truncated() {
    let how = prop_oneof![2 => Just(Cut::AsIs), 6 => Just(Cut::Closed), 1 => Just(Cut::Whole)];
    let strategy = (
        mutated_sample(),
        any::<bool>(),
        any::<bool>(),
        any::<Index>(),
        how,
    );
    let parsed = AtomicU64::new(0);
    run(
        "truncated text",
        TRUNCATED_SHARE,
        strategy,
        |((sample, mutations), mutated, detail_only, at, how), tally| {
            let mut event = if mutated {
                mutate(sample, &mutations)
            } else {
                SAMPLES[sample].1.clone()
            };
            // The whole event, or only its detail: the envelope's fields come after `detail`
            // in the text, and an event cut before them is only ever "not an event".
            let whole = !detail_only || event.get("detail").is_none();
            let text = if whole {
                serde_json::to_vec(&event).unwrap()
            } else {
                serde_json::to_vec(&event["detail"]).unwrap()
            };
            // Any byte, even inside a character.
            let cut = &text[..at.index(text.len())];
            let texts = match how {
                Cut::AsIs => vec![cut.to_vec()],
                Cut::Closed => close(cut),
                Cut::Whole => vec![text.clone()],
            };
            for text in texts {
                if let Ok(value) = serde_json::from_slice::<Value>(&text) {
                    parsed.fetch_add(1, Ordering::Relaxed);
                    if whole {
                        event = value;
                    } else {
                        event["detail"] = value;
                    }
                    return check(&event, tally);
                }
            }
            Ok(())
        },
    );
    eprintln!(
        "bad_input truncated text: {} texts parsed again",
        parsed.load(Ordering::Relaxed)
    );
}

#[test]
fn events_built_from_the_triggers_vocabulary() {
    let [cases, targets, refused, ..] = run("built events", BUILT_SHARE, built_event(), |event, tally| {
        check(&event, tally)
    });
    if cases >= 1_000 {
        assert!(targets > cases / 20, "only {targets} targets in {cases} events");
        assert!(refused > cases / 20, "only {refused} refusals in {cases} events");
    }
}

#[test]
fn random_json_values() {
    run("random JSON", RANDOM_SHARE, random_json(), |event, tally| {
        check(&event, tally)
    });
}

/// Account and region come from the event too (an ARN's, CloudTrail's recipient and region).
/// The pipeline skips any that are not the function's own before it writes anything, but the
/// key they would make has six safe segments whatever they hold.
#[test]
fn hostile_accounts_and_regions_cannot_add_a_key_level() {
    let incident = |account: &str, region: &str| Incident {
        event_id: "../../x/#1".into(),
        account: account.into(),
        region: region.into(),
        time: Utc.with_ymd_and_hms(2026, 11, 20, 10, 15, 0).unwrap(),
        origin: unthrottle::core::envelope::Origin::Alarm {
            alarm_name: "a".into(),
        },
    };
    let target = StreamTarget {
        stream: "clickstream".into(),
        pressure: Default::default(),
        scope: None,
    };
    for (account, region) in [
        ("../..", "a/b"),
        ("#", "\n"),
        ("", ""),
        ("1/2/3", "x%2f"),
        ("ü", "😀"),
    ] {
        let key = snapshot_key(Kinesis::ID, &incident(account, region), &target);
        assert_eq!(key.split('/').count(), 6, "{key}");
        assert!(key.chars().all(|c| c == '/' || key_char(c)), "{key}");
    }
}
