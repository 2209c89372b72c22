//! Least privilege, statically: each function's role in template.yaml allows exactly the AWS
//! calls its production code makes, plus a short, explained list of grants the Lambda service
//! or another AWS service needs on the function's behalf.
//!
//! - The calls: every SDK operation is a folder `src/operation/<snake_name>/` of its crate (the
//!   version Cargo.lock pins, read from Cargo's registry sources). A production source file
//!   (shared/src without `*_tests.rs`, `testing.rs` and `#[cfg(test)]` modules, plus each
//!   function's own src) that names a crate (`aws_sdk_dynamodb`, ...) and calls
//!   `.<snake_name>()` of one of its operations calls `<prefix>:<PascalName>`. Comments, string
//!   and char literals are blanked before the scan, so an operation named in a doc comment or a
//!   message is not a call.
//! - The grants: the `Action`s of the `Effect: Allow` statements of the role's inline
//!   `Policies`. A Deny grants nothing. Wildcards, `NotAction`, managed policies, SAM policy
//!   templates on the function and stand-alone IAM policies fail the test: they would grant
//!   what this test cannot see.
//!
//! Resources and conditions are not checked here: only which actions.
//!
//! No YAML crate: as in variables.rs, template.yaml is read as text by indentation, which
//! tolerates CloudFormation's short tags (`!Sub`, `!GetAtt`, `!If`), and fails loudly on a
//! shape it does not know.

use integration_tests::template::{Yaml, unquote};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A function as deployed: its crate, its logical id and its role's in template.yaml, and the
/// service modules it runs besides the shared code.
struct Function {
    name: &'static str,
    logical_id: &'static str,
    role: &'static str,
    service_dirs: &'static [&'static str],
}

const FUNCTIONS: [Function; 4] = [
    Function {
        name: "dynamodb-throttle",
        logical_id: "DynamoDbThrottleFunction",
        role: "DynamoDbThrottleRole",
        service_dirs: &["shared/src/dynamodb/"],
    },
    Function {
        name: "kinesis-throttle",
        logical_id: "KinesisThrottleFunction",
        role: "KinesisThrottleRole",
        service_dirs: &["shared/src/kinesis/"],
    },
    Function {
        name: "api-throttle",
        logical_id: "ApiThrottleFunction",
        role: "ApiThrottleRole",
        service_dirs: &["shared/src/api/"],
    },
    // restore runs the table and stream adapters (describe, metrics, apply) to step back down.
    Function {
        name: "restore",
        logical_id: "RestoreFunction",
        role: "RestoreRole",
        service_dirs: &[
            "shared/src/restore/",
            "shared/src/dynamodb/",
            "shared/src/kinesis/",
        ],
    },
];

/// Shared code every function links and runs: its calls need grants in every role, except
/// where [`UNREACHED`] shows a function can never reach them. `core` is
/// meant to make no AWS call at all; it is listed so that one it made would be checked too.
const SHARED_BY_BOTH: [&str; 4] = [
    "shared/src/adapters/",
    "shared/src/run.rs",
    "shared/src/core/",
    "shared/src/lib.rs",
];

/// An SDK crate the code may call: its package name (as in Cargo.lock), the identifier that
/// names it in Rust, its IAM service prefix.
struct Sdk {
    package: &'static str,
    ident: &'static str,
    prefix: &'static str,
}

const SDKS: [Sdk; 10] = [
    Sdk {
        package: "aws-sdk-dynamodb",
        ident: "aws_sdk_dynamodb",
        prefix: "dynamodb",
    },
    Sdk {
        package: "aws-sdk-kinesis",
        ident: "aws_sdk_kinesis",
        prefix: "kinesis",
    },
    Sdk {
        package: "aws-sdk-s3",
        ident: "aws_sdk_s3",
        prefix: "s3",
    },
    Sdk {
        package: "aws-sdk-cloudwatch",
        ident: "aws_sdk_cloudwatch",
        prefix: "cloudwatch",
    },
    Sdk {
        package: "aws-sdk-applicationautoscaling",
        ident: "aws_sdk_applicationautoscaling",
        prefix: "application-autoscaling",
    },
    Sdk {
        package: "aws-sdk-sns",
        ident: "aws_sdk_sns",
        prefix: "sns",
    },
    Sdk {
        package: "aws-sdk-servicequotas",
        ident: "aws_sdk_servicequotas",
        prefix: "servicequotas",
    },
    Sdk {
        package: "aws-sdk-ssm",
        ident: "aws_sdk_ssm",
        prefix: "ssm",
    },
    Sdk {
        package: "aws-sdk-sts",
        ident: "aws_sdk_sts",
        prefix: "sts",
    },
    Sdk {
        package: "aws-sdk-eventbridge",
        ident: "aws_sdk_eventbridge",
        prefix: "events",
    },
];

/// The command's code is left out of every role only while no function builds it.
#[test]
fn no_function_enables_the_command() {
    for function in &FUNCTIONS {
        let manifest = repo_file(&format!("functions/{}/Cargo.toml", function.name));
        assert!(
            !manifest.contains("\"cli\""),
            "{} enables the core's `cli` feature: its calls would need grants in {}",
            function.name,
            function.role
        );
    }
}

/// A new SDK crate in the core's dependencies must be listed above, or its calls would
/// escape the comparison.
#[test]
fn every_sdk_crate_the_core_depends_on_is_checked() {
    let manifest = repo_file("shared/Cargo.toml");
    let unlisted: Vec<&str> = manifest
        .lines()
        .filter_map(|line| line.split(['.', ' ', '=']).next())
        .filter(|name| name.starts_with("aws-sdk-"))
        .filter(|name| !SDKS.iter().any(|sdk| sdk.package == *name))
        .collect();
    assert!(unlisted.is_empty(), "add to SDKS in permissions.rs: {unlisted:?}");
}

/// The few operations whose IAM action is not their own name (S3's, per the S3 user guide's
/// "Required permissions for Amazon S3 API operations"; Service Quotas' default quota).
/// Every other operation's action is `<prefix>:<PascalName>`.
const ACTION_OVERRIDES: [(&str, &str, &str); 8] = [
    ("s3", "head_object", "s3:GetObject"),
    ("s3", "head_bucket", "s3:ListBucket"),
    ("s3", "list_objects", "s3:ListBucket"),
    ("s3", "list_objects_v2", "s3:ListBucket"),
    ("s3", "list_object_versions", "s3:ListBucketVersions"),
    ("s3", "create_multipart_upload", "s3:PutObject"),
    ("s3", "upload_part", "s3:PutObject"),
    // Service Quotas spells AWS in capitals in its action (Service Authorization Reference).
    (
        "servicequotas",
        "get_aws_default_service_quota",
        "servicequotas:GetAWSDefaultServiceQuota",
    ),
];

/// A grant no line of our code calls, but which the function still needs.
struct Extra {
    action: &'static str,
    /// Justified only while the function calls this action (`None`: always).
    needed_by: Option<&'static str>,
    /// Only for this function (`None`: for every function).
    function: Option<&'static str>,
}

const EXTRAS: [Extra; 7] = [
    // The first UpdateContributorInsights in an account creates DynamoDB's service-linked
    // role for it (DynamoDB Developer Guide, "Using service-linked roles for Contributor
    // Insights"); the template scopes it to that one service with a condition.
    Extra {
        action: "iam:CreateServiceLinkedRole",
        needed_by: Some("dynamodb:UpdateContributorInsights"),
        function: Some("dynamodb-throttle"),
    },
    // The Lambda service writes the function's logs to its log group with the function's role.
    Extra {
        action: "logs:CreateLogStream",
        needed_by: None,
        function: None,
    },
    Extra {
        action: "logs:PutLogEvents",
        needed_by: None,
        function: None,
    },
    // EventInvokeConfig's on-failure destination (an SQS queue): Lambda sends the failed
    // invocation record with the function's role.
    Extra {
        action: "sqs:SendMessage",
        needed_by: None,
        function: None,
    },
    // Application Auto Scaling's guide requires these of whoever calls RegisterScalableTarget
    // for DynamoDB (it manages the target-tracking alarms on the caller's behalf).
    Extra {
        action: "cloudwatch:DescribeAlarms",
        needed_by: Some("application-autoscaling:RegisterScalableTarget"),
        function: None,
    },
    Extra {
        action: "cloudwatch:PutMetricAlarm",
        needed_by: Some("application-autoscaling:RegisterScalableTarget"),
        function: None,
    },
    Extra {
        action: "cloudwatch:DeleteAlarms",
        needed_by: Some("application-autoscaling:RegisterScalableTarget"),
        function: None,
    },
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn repo_file(path: &str) -> String {
    let file = root().join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

// ------------------------------------------------------------------ the SDK's operations

/// `list_objects_v2` -> `ListObjectsV2`.
fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn iam_action(prefix: &str, operation: &str) -> String {
    ACTION_OVERRIDES
        .iter()
        .find(|(p, op, _)| *p == prefix && *op == operation)
        .map(|(_, _, action)| (*action).to_owned())
        .unwrap_or_else(|| format!("{prefix}:{}", pascal(operation)))
}

/// The versions of `package` that Cargo.lock pins.
fn locked_versions(lock: &str, package: &str) -> Vec<String> {
    let name = format!("name = \"{package}\"");
    lock.split("[[package]]")
        .filter(|block| block.lines().any(|line| line.trim() == name))
        .filter_map(|block| {
            block
                .lines()
                .find_map(|line| line.trim().strip_prefix("version = "))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .collect()
}

/// Cargo's registry sources: `$CARGO_HOME/registry/src/*/`.
fn registry_dirs() -> Vec<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
        .unwrap_or_else(|| panic!("neither CARGO_HOME nor HOME is set: cannot find the SDK sources"));
    let src = home.join("registry/src");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&src)
        .unwrap_or_else(|e| panic!("{}: {e}", src.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// The operations of `sdk` (snake case): one folder each under `src/operation/`.
fn operations(sdk: &Sdk, lock: &str, registries: &[PathBuf]) -> BTreeSet<String> {
    let versions = locked_versions(lock, sdk.package);
    assert!(
        !versions.is_empty(),
        "Cargo.lock pins no version of {}",
        sdk.package
    );
    let mut found = BTreeSet::new();
    for version in &versions {
        let dir = registries
            .iter()
            .map(|registry| registry.join(format!("{}-{version}/src/operation", sdk.package)))
            .find(|dir| dir.is_dir())
            .unwrap_or_else(|| {
                panic!(
                    "no sources of {} {version} under {registries:?} (run `cargo fetch`)",
                    sdk.package
                )
            });
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                found.insert(path.file_name().unwrap().to_string_lossy().into_owned());
            }
        }
    }
    // A crate with a handful of operations would mean the layout changed, not the service.
    assert!(
        found.len() >= 10,
        "{}: only {} operation folders: {found:?}",
        sdk.package,
        found.len()
    );
    found
}

// ------------------------------------------------------------------ the calls

/// One call of an SDK operation in production code.
#[derive(Clone, Debug)]
struct Call {
    action: String,
    operation: String,
    file: String,
    line: usize,
    /// The other crates the file names that have an operation of this name too.
    also: Vec<String>,
}

impl Call {
    fn site(&self) -> String {
        let also = if self.also.is_empty() {
            String::new()
        } else {
            format!(", ambiguous: also an operation of {}", self.also.join(", "))
        };
        format!(".{}() at {}:{}{also}", self.operation, self.file, self.line)
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `source` with comments and the contents of string and char literals turned to spaces
/// (newlines kept, so line numbers hold).
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out: Vec<char> = Vec::with_capacity(chars.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let previous_is_ident = i > 0 && is_ident(chars[i - 1]);
        if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            loop {
                if i >= chars.len() {
                    break;
                }
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    out.extend([' ', ' ']);
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    out.extend([' ', ' ']);
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r'
            && (at(i + 1) == '"' || at(i + 1) == '#')
            && (!previous_is_ident || (chars[i - 1] == 'b' && (i < 2 || !is_ident(chars[i - 2]))))
            && {
                let mut j = i + 1;
                while at(j) == '#' {
                    j += 1;
                }
                at(j) == '"'
            }
        {
            // A raw string: r"..", r#".."#, br"..".
            let mut j = i + 1;
            while at(j) == '#' {
                j += 1;
            }
            let hashes = j - i - 1;
            let close: String = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            let close: Vec<char> = close.chars().collect();
            out.extend(std::iter::repeat_n(' ', j + 1 - i));
            i = j + 1;
            while i < chars.len() && !chars[i..].starts_with(&close) {
                out.push(blank(chars[i]));
                i += 1;
            }
            out.extend(std::iter::repeat_n(' ', close.len().min(chars.len() - i)));
            i += close.len();
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            if i < chars.len() {
                out.push(' ');
                i += 1;
            }
        } else if c == '\'' && (at(i + 1) == '\\' || (at(i + 2) == '\'' && at(i + 1) != '\'')) {
            // A char literal ('x', '\n', '\u{..}'); otherwise a lifetime, which is code.
            out.push(' ');
            i += 1;
            if at(i) == '\\' {
                // The backslash and the escaped character, which may be a quote.
                out.extend([' ', ' ']);
                i += 2;
            }
            while i < chars.len() {
                let done = chars[i] == '\'';
                out.push(' ');
                i += 1;
                if done {
                    break;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out.into_iter().collect()
}

/// `code` (comments already blank) without the items under `#[cfg(test)]`.
fn without_test_items(code: &str) -> String {
    const ATTRIBUTE: &str = "#[cfg(test)]";
    let mut chars: Vec<char> = code.chars().collect();
    let text: String = chars.iter().collect();
    let starts: Vec<usize> = text
        .match_indices(ATTRIBUTE)
        .map(|(byte, _)| text[..byte].chars().count())
        .collect();
    for start in starts {
        let mut i = start + ATTRIBUTE.len();
        while i < chars.len() && chars[i] != ';' && chars[i] != '{' {
            i += 1;
        }
        if i < chars.len() && chars[i] == '{' {
            let mut depth = 0;
            while i < chars.len() {
                match chars[i] {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
                i += 1;
            }
        }
        let end = (i + 1).min(chars.len());
        for c in &mut chars[start..end] {
            if *c != '\n' {
                *c = ' ';
            }
        }
    }
    chars.into_iter().collect()
}

/// Whether `code` names `ident` as a whole identifier (`aws_sdk_s3`, not `aws_sdk_s3control`).
fn names(code: &str, ident: &str) -> bool {
    code.match_indices(ident).any(|(i, _)| {
        let before = code[..i].chars().next_back().is_none_or(|c| !is_ident(c));
        let after = code[i + ident.len()..]
            .chars()
            .next()
            .is_none_or(|c| !is_ident(c));
        before && after
    })
}

/// Every `.name()` in `code`, with its line: the shape of an SDK operation's fluent builder.
fn method_calls(code: &str) -> Vec<(String, usize)> {
    let chars: Vec<char> = code.chars().collect();
    let skip_space = |mut i: usize| {
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        i
    };
    let mut found = Vec::new();
    for (dot, _) in chars.iter().enumerate().filter(|(_, c)| **c == '.') {
        let start = skip_space(dot + 1);
        let mut end = start;
        while end < chars.len() && is_ident(chars[end]) {
            end += 1;
        }
        if end == start || chars[start].is_ascii_digit() {
            continue;
        }
        let open = skip_space(end);
        if chars.get(open) != Some(&'(') {
            continue;
        }
        let close = skip_space(open + 1);
        if chars.get(close) != Some(&')') {
            continue;
        }
        let line = chars[..start].iter().filter(|c| **c == '\n').count() + 1;
        found.push((chars[start..end].iter().collect(), line));
    }
    found
}

/// The SDK calls in one source file, and the problems: a name that is an operation of a crate
/// the file does not name (an SDK call through a client this scan cannot attribute).
fn calls_in(
    file: &str,
    source: &str,
    operations: &BTreeMap<&'static str, BTreeSet<String>>,
) -> (Vec<Call>, Vec<String>) {
    let code = without_test_items(&code_only(source));
    let named: Vec<&Sdk> = SDKS.iter().filter(|sdk| names(&code, sdk.ident)).collect();
    let mut calls = Vec::new();
    let mut problems = Vec::new();
    for (method, line) in method_calls(&code) {
        let of = |sdk: &&Sdk| {
            operations
                .get(sdk.prefix)
                .is_some_and(|ops| ops.contains(&method))
        };
        let matching: Vec<&Sdk> = named.iter().copied().filter(of).collect();
        if matching.is_empty() {
            let elsewhere: Vec<&str> = SDKS.iter().filter(of).map(|sdk| sdk.package).collect();
            if !elsewhere.is_empty() {
                problems.push(format!(
                    "{file}:{line}: .{method}() is an operation of {elsewhere:?}, but the file names \
                     none of those crates: import the client's crate there, or teach this test"
                ));
            }
            continue;
        }
        for sdk in &matching {
            calls.push(Call {
                action: iam_action(sdk.prefix, &method),
                operation: method.clone(),
                file: file.to_owned(),
                line,
                also: matching
                    .iter()
                    .filter(|other| other.prefix != sdk.prefix)
                    .map(|other| other.package.to_owned())
                    .collect(),
            });
        }
    }
    (calls, problems)
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// Production source files, relative to the repository: shared/src and each function's src,
/// without unit tests and the in-memory fakes.
fn production_files() -> Vec<String> {
    let mut paths = Vec::new();
    rust_files(&root().join("shared/src"), &mut paths);
    for function in &FUNCTIONS {
        rust_files(
            &root().join("functions").join(function.name).join("src"),
            &mut paths,
        );
    }
    let root = root();
    let mut files: Vec<String> = paths
        .iter()
        .map(|path| {
            path.strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/")
        })
        .filter(|file| !file.ends_with("_tests.rs") && file != "shared/src/testing.rs")
        .collect();
    files.sort();
    files
}

/// A call in code a function links that the function can never make, and why. Each is
/// checked to still be called somewhere, so the list cannot outlive the code.
struct Unreached {
    function: &'static str,
    action: &'static str,
    why: &'static str,
}

const UNREACHED: &[Unreached] = &[
    Unreached {
        function: "api-throttle",
        action: "events:PutEvents",
        why: "api-throttle is where quota pressure is announced to; its findings never announce",
    },
    Unreached {
        function: "api-throttle",
        action: "cloudwatch:GetMetricData",
        why: "only the capacity services' metrics lookups call it; api-throttle counts callers in the ledger",
    },
    Unreached {
        function: "api-throttle",
        action: "ssm:ResetServiceSetting",
        why: "the function only turns Parameter Store's higher throughput on; the undo (the Settings port's \
              reset) runs with an operator's credentials, never the function's role",
    },
    Unreached {
        function: "dynamodb-throttle",
        action: "s3:GetObject",
        why: "only restore reads the snapshots back (adapters/archive.rs); the throttle functions only write them",
    },
    Unreached {
        function: "dynamodb-throttle",
        action: "s3:ListBucket",
        why: "only restore reads the snapshots back (adapters/archive.rs); the throttle functions only write them",
    },
    Unreached {
        function: "kinesis-throttle",
        action: "s3:GetObject",
        why: "only restore reads the snapshots back (adapters/archive.rs); the throttle functions only write them",
    },
    Unreached {
        function: "kinesis-throttle",
        action: "s3:ListBucket",
        why: "only restore reads the snapshots back (adapters/archive.rs); the throttle functions only write them",
    },
    Unreached {
        function: "api-throttle",
        action: "s3:GetObject",
        why: "only restore reads the snapshots back (adapters/archive.rs); the throttle functions only write them",
    },
    Unreached {
        function: "api-throttle",
        action: "s3:ListBucket",
        why: "only restore reads the snapshots back (adapters/archive.rs); the throttle functions only write them",
    },
    Unreached {
        function: "restore",
        action: "dynamodb:UpdateContributorInsights",
        why: "restore only lowers capacity, floors and maximums (restore::Restores::change); a finding's change is never restored",
    },
    Unreached {
        function: "restore",
        action: "events:PutEvents",
        why: "restore announces nothing; only a throttle function's finding puts a Quota Pressure event",
    },
    Unreached {
        function: "restore",
        action: "kinesis:SplitShard",
        why: "restore lowers a stream with UpdateShardCount only (restore::Restores::change)",
    },
    Unreached {
        function: "restore",
        action: "kinesis:UpdateStreamMode",
        why: "restore never switches a stream's mode (switching back is not built: restore::Restores::change says so)",
    },
];

/// Code only the `unthrottle` command runs (the core crate's `cli` feature, which no
/// function enables: [`no_function_enables_the_command`]), with an operator's credentials.
const OPERATOR_ONLY: [&str; 2] = ["shared/src/cli/", "shared/src/bin/"];

/// The functions that run `file`, or `None` for a file this test does not assign.
fn owners(file: &str) -> Option<Vec<&'static str>> {
    if OPERATOR_ONLY.iter().any(|prefix| file.starts_with(prefix)) {
        return Some(Vec::new());
    }
    if SHARED_BY_BOTH.iter().any(|prefix| file.starts_with(prefix)) {
        return Some(FUNCTIONS.iter().map(|f| f.name).collect());
    }
    let owners: Vec<&'static str> = FUNCTIONS
        .iter()
        .filter(|f| {
            f.service_dirs.iter().any(|dir| file.starts_with(dir))
                || file.starts_with(&format!("functions/{}/src/", f.name))
        })
        .map(|f| f.name)
        .collect();
    (!owners.is_empty()).then_some(owners)
}

/// Each function's SDK calls, and the problems met on the way.
fn calls_by_function() -> (BTreeMap<&'static str, Vec<Call>>, Vec<String>) {
    let lock = repo_file("Cargo.lock");
    let registries = registry_dirs();
    let operations: BTreeMap<&'static str, BTreeSet<String>> = SDKS
        .iter()
        .map(|sdk| (sdk.prefix, operations(sdk, &lock, &registries)))
        .collect();
    let mut by_function: BTreeMap<&'static str, Vec<Call>> =
        FUNCTIONS.iter().map(|f| (f.name, Vec::new())).collect();
    let mut problems = Vec::new();
    for file in production_files() {
        let (calls, found) = calls_in(&file, &repo_file(&file), &operations);
        problems.extend(found);
        if calls.is_empty() {
            continue;
        }
        let Some(owners) = owners(&file) else {
            problems.push(format!(
                "{file} calls {:?} but belongs to no function this test knows: add it to \
                 SHARED_BY_BOTH or a Function's service_dirs",
                calls.iter().map(Call::site).collect::<Vec<_>>()
            ));
            continue;
        };
        for owner in owners {
            by_function
                .entry(owner)
                .or_default()
                .extend(calls.iter().cloned());
        }
    }
    (by_function, problems)
}

// ------------------------------------------------------------------ template.yaml

/// An action an Allow statement grants.
#[derive(Debug)]
struct Grant {
    action: String,
    /// The line of template.yaml that names it.
    line: usize,
    sid: String,
}

/// The actions `role`'s inline policies allow, and whatever in the role grants more than this
/// reader can see.
fn role_grants(yaml: &Yaml, role: &str) -> (Vec<Grant>, Vec<String>) {
    let mut grants = Vec::new();
    let mut problems = Vec::new();
    let properties = yaml.path(&["Resources", role, "Properties"]);
    if yaml.find(Some(properties), "ManagedPolicyArns").is_some() {
        problems.push(format!(
            "{role}: ManagedPolicyArns grants what this test cannot read"
        ));
    }
    let policies = yaml.path(&["Resources", role, "Properties", "Policies"]);
    for policy in yaml.children(Some(policies)) {
        let entries = yaml.item(policy);
        let name = entries
            .iter()
            .find(|(key, _, _)| *key == "PolicyName")
            .map_or("?", |(_, value, _)| unquote(value));
        let document = entries
            .iter()
            .find(|(key, _, _)| *key == "PolicyDocument")
            .map(|(_, _, at)| *at)
            .unwrap_or_else(|| panic!("{role}: policy {name} has no PolicyDocument"));
        let statements = yaml
            .find(Some(document), "Statement")
            .unwrap_or_else(|| panic!("{role}: policy {name} has no Statement"));
        for statement in yaml.children(Some(statements)) {
            let entries = yaml.item(statement);
            let get = |wanted: &str| entries.iter().find(|(key, _, _)| *key == wanted);
            let line = yaml.lines[statement].number;
            let sid = get("Sid").map_or_else(|| format!("line {line}"), |(_, v, _)| unquote(v).to_owned());
            let effect = get("Effect").map(|(_, v, _)| unquote(v));
            match effect {
                Some("Deny") => continue,
                Some("Allow") => {}
                other => {
                    problems.push(format!(
                        "{role}: statement {sid}: Effect {other:?}, not Allow or Deny"
                    ));
                    continue;
                }
            }
            if get("NotAction").is_some() {
                problems.push(format!(
                    "{role}: statement {sid} allows with NotAction: everything else"
                ));
            }
            let Some(&(_, inline, at)) = get("Action") else {
                if get("NotAction").is_none() {
                    problems.push(format!("{role}: statement {sid} allows no Action"));
                }
                continue;
            };
            match yaml.strings(at, inline) {
                Err(problem) => problems.push(format!("{role}: statement {sid}: {problem}")),
                Ok(actions) => {
                    for (action, line) in actions {
                        if action.contains('*') || action.contains('?') {
                            problems.push(format!(
                                "{role}: statement {sid} (template.yaml:{line}) allows the wildcard \
                                 {action}: name each action"
                            ));
                        }
                        grants.push(Grant {
                            action,
                            line,
                            sid: sid.clone(),
                        });
                    }
                }
            }
        }
    }
    (grants, problems)
}

/// What in the template, outside the role's inline policies, could grant a function more.
fn other_grants(yaml: &Yaml, function: &Function) -> Vec<String> {
    let mut problems = Vec::new();
    let properties = yaml.path(&["Resources", function.logical_id, "Properties"]);
    let role = yaml.scalar(properties, "Role");
    let expected = format!("!GetAtt {}.Arn", function.role);
    if role != Some(expected.as_str()) {
        problems.push(format!(
            "{}: Role is {role:?}, not {expected:?}: this test reads the wrong role",
            function.logical_id
        ));
    }
    let globals = yaml
        .find(None, "Globals")
        .and_then(|g| yaml.find(Some(g), "Function"));
    for (place, at) in [
        (function.logical_id, Some(properties)),
        ("Globals.Function", globals),
    ] {
        if at.is_some_and(|at| yaml.find(Some(at), "Policies").is_some()) {
            problems.push(format!("{place}: SAM Policies grant what this test cannot read"));
        }
    }
    let resources = yaml.path(&["Resources"]);
    for resource in yaml.children(Some(resources)) {
        let Some((name, _)) = Yaml::key_value(yaml.lines[resource].text) else {
            continue;
        };
        let kind = yaml.scalar(resource, "Type").unwrap_or_default();
        if [
            "AWS::IAM::Policy",
            "AWS::IAM::ManagedPolicy",
            "AWS::IAM::RolePolicy",
        ]
        .contains(&kind)
        {
            problems.push(format!(
                "{name}: a {kind} may grant a role what this test cannot read"
            ));
        }
    }
    problems
}

// ------------------------------------------------------------------ the comparison

/// Every action `function` calls that its role does not allow, and every action the role
/// allows that nothing calls and no `extras` entry justifies.
fn compare(function: &str, role: &str, calls: &[Call], grants: &[Grant], extras: &[Extra]) -> Vec<String> {
    let mut called: BTreeMap<&str, Vec<&Call>> = BTreeMap::new();
    for call in calls {
        called.entry(call.action.as_str()).or_default().push(call);
    }
    let mut granted: BTreeMap<&str, Vec<&Grant>> = BTreeMap::new();
    for grant in grants {
        granted.entry(grant.action.as_str()).or_default().push(grant);
    }
    let mut problems = Vec::new();
    for (action, calls) in &called {
        if !granted.contains_key(action) {
            let sites: Vec<String> = calls.iter().map(|call| call.site()).collect();
            problems.push(format!(
                "MISSING {action}: {function} calls it ({}) but {role} does not allow it",
                sites.join("; ")
            ));
        }
    }
    for (action, grants) in &granted {
        if called.contains_key(action) {
            continue;
        }
        let extra = extras
            .iter()
            .find(|extra| extra.action == *action && extra.function.is_none_or(|f| f == function));
        let why = match extra {
            None => String::new(),
            Some(Extra { needed_by: None, .. }) => continue,
            Some(Extra {
                needed_by: Some(needed_by),
                ..
            }) if called.contains_key(needed_by) => continue,
            Some(Extra {
                needed_by: Some(needed_by),
                ..
            }) => format!(" (it is justified only by {needed_by}, which {function} no longer calls)"),
        };
        let places: Vec<String> = grants
            .iter()
            .map(|grant| format!("statement {} at template.yaml:{}", grant.sid, grant.line))
            .collect();
        problems.push(format!(
            "UNUSED {action}: {role} allows it ({}) but no production code of {function} calls it{why}",
            places.join("; ")
        ));
    }
    problems
}

#[test]
fn each_role_allows_exactly_what_its_function_calls() {
    let source = repo_file("template.yaml");
    let yaml = Yaml::new(&source);
    let (calls, mut problems) = calls_by_function();
    for unreached in UNREACHED {
        let called_at_all = calls
            .values()
            .flatten()
            .any(|call| call.action == unreached.action);
        if !called_at_all {
            problems.push(format!(
                "UNREACHED lists {} for {}, but no code calls it any more: remove the entry",
                unreached.action, unreached.function
            ));
        }
        println!(
            "{} never calls {}: {}",
            unreached.function, unreached.action, unreached.why
        );
    }
    for function in &FUNCTIONS {
        let calls: Vec<Call> = calls[function.name]
            .iter()
            .filter(|call| {
                !UNREACHED
                    .iter()
                    .any(|u| u.function == function.name && u.action == call.action)
            })
            .cloned()
            .collect();
        let calls = &calls;
        let actions: BTreeSet<&str> = calls.iter().map(|call| call.action.as_str()).collect();
        println!("{} calls {actions:?}", function.name);
        let (grants, found) = role_grants(&yaml, function.role);
        problems.extend(found);
        problems.extend(other_grants(&yaml, function));
        problems.extend(compare(function.name, function.role, calls, &grants, &EXTRAS));
    }
    assert!(
        problems.is_empty(),
        "the roles in template.yaml and the code's AWS calls disagree:\n{}",
        problems.join("\n")
    );
}

// ------------------------------------------------------------------ the check can fail

const FAKE_TEMPLATE: &str = r#"
Resources:
  FakeRole:
    Type: AWS::IAM::Role
    Properties:
      Policies:
        - PolicyName: fake
          PolicyDocument:
            Version: "2012-10-17"
            Statement:
              - Sid: Read
                Effect: Allow
                Action:
                  - dynamodb:GetItem
                  - dynamodb:Scan
                Resource: !GetAtt Table.Arn
              - Sid: NotAGrant
                Effect: Deny
                Action: [dynamodb:PutItem, dynamodb:DeleteItem]
                Resource: !GetAtt Table.Arn
              - Effect: Allow
                Action: logs:PutLogEvents
                Resource: !Sub arn:${AWS::Partition}:logs:*
"#;

fn fake_call(action: &str, operation: &str, line: usize) -> Call {
    Call {
        action: action.to_owned(),
        operation: operation.to_owned(),
        file: "shared/src/fake.rs".to_owned(),
        line,
        also: Vec::new(),
    }
}

#[test]
fn the_comparison_reports_a_missing_and_an_unused_action_and_denies_grant_nothing() {
    let yaml = Yaml::new(FAKE_TEMPLATE);
    let (grants, problems) = role_grants(&yaml, "FakeRole");
    assert!(problems.is_empty(), "{problems:?}");
    let granted: Vec<&str> = grants.iter().map(|g| g.action.as_str()).collect();
    assert_eq!(
        granted,
        ["dynamodb:GetItem", "dynamodb:Scan", "logs:PutLogEvents"]
    );

    // PutItem is called but only denied; Scan is allowed but never called; PutLogEvents is a
    // justified extra.
    let calls = [
        fake_call("dynamodb:GetItem", "get_item", 10),
        fake_call("dynamodb:PutItem", "put_item", 20),
    ];
    let problems = compare("fake", "FakeRole", &calls, &grants, &EXTRAS);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems[0].starts_with("MISSING dynamodb:PutItem:")
            && problems[0].contains(".put_item() at shared/src/fake.rs:20"),
        "{problems:#?}"
    );
    assert!(
        problems[1].starts_with("UNUSED dynamodb:Scan:") && problems[1].contains("template.yaml:15"),
        "{problems:#?}"
    );

    // An extra justified by a call is unused once that call is gone.
    let alarms = [Extra {
        action: "dynamodb:Scan",
        needed_by: Some("dynamodb:PutItem"),
        function: None,
    }];
    assert_eq!(
        compare("fake", "FakeRole", &calls[..1], &grants[..2], &alarms).len(),
        1
    );
    assert!(
        compare("fake", "FakeRole", &calls, &grants[..2], &alarms)
            .iter()
            .all(|p| !p.starts_with("UNUSED"))
    );
}

#[test]
fn the_scan_skips_comments_strings_and_test_modules() {
    let operations: BTreeMap<&'static str, BTreeSet<String>> = [
        (
            "dynamodb",
            ["get_item", "put_item", "query", "delete_item", "tag_resource"],
        ),
        (
            "cloudwatch",
            ["put_metric_data", "tag_resource", "get_metric_data", "x", "y"],
        ),
    ]
    .into_iter()
    .map(|(prefix, ops)| (prefix, ops.iter().map(|op| (*op).to_owned()).collect()))
    .collect();
    let source = r##"use aws_sdk_dynamodb::Client;
// self.client.get_item().send()
/// Calls `.put_item()` on the ledger.
fn f(c: &Client) -> &'static str {
    let _ = c.query().send();
    let _ = c
        .delete_item ( )
        .build();
    let _ = 'x'; let _ = '\'';
    let _ = r#"client.put_item()"#;
    /* c.get_item() /* nested */ c.put_item() */
    c.tag_resource();
    "c.get_item()"
}
#[cfg(test)]
mod tests {
    fn g(c: &super::Client) { c.put_item(); }
}
fn h(c: &aws_sdk_kinesis::Client) { c.get_metric_data(); }
"##;
    let (calls, problems) = calls_in("shared/src/fake.rs", source, &operations);
    let found: Vec<(String, usize)> = calls.iter().map(|c| (c.action.clone(), c.line)).collect();
    assert_eq!(
        found,
        [
            ("dynamodb:Query".to_owned(), 5),
            ("dynamodb:DeleteItem".to_owned(), 7),
            ("dynamodb:TagResource".to_owned(), 12),
        ]
    );
    // The file names no cloudwatch: that call cannot be attributed, and says so.
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("shared/src/fake.rs:19: .get_metric_data()"),
        "{problems:?}"
    );
    assert_eq!(pascal("list_objects_v2"), "ListObjectsV2");
    assert_eq!(iam_action("s3", "head_object"), "s3:GetObject");
}
