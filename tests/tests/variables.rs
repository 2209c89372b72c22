//! The variables each function reads are declared once, in Rust (`CORE_VARIABLES` and each
//! service's `Service::VARIABLES`). This test holds every other place that names them to
//! those declarations:
//! - template.yaml: each function's `Environment.Variables` (Globals plus its own) are exactly
//!   its variables, and a parameter behind one defaults to the declared default;
//! - README.md: the configuration table has one row per variable, with the declared default
//!   (or "required") and the functions that read it, and no row for anything else;
//! - scripts/invoke.sh: the pattern that filters the caller's environment admits each one;
//! - the declared defaults themselves parse.
//!
//! No YAML crate here: template.yaml is read as text, by indentation, and the reader fails
//! loudly when a block it needs is not where it should be.

use integration_tests::template::Yaml;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use unthrottle::api::Api;
use unthrottle::core::config::{CORE_VARIABLES, CoreSettings, Env, Variable};
use unthrottle::core::service::Service;
use unthrottle::dynamodb::DynamoDb;
use unthrottle::kinesis::Kinesis;

/// A function as deployed: its crate name, its logical id in template.yaml, what it reads.
struct Function {
    name: &'static str,
    logical_id: &'static str,
    variables: Vec<&'static Variable>,
}

fn functions() -> Vec<Function> {
    fn reads<S: Service>() -> Vec<&'static Variable> {
        CORE_VARIABLES.iter().chain(S::VARIABLES).copied().collect()
    }
    let functions = vec![
        Function {
            name: "dynamodb-throttle",
            logical_id: "DynamoDbThrottleFunction",
            variables: reads::<DynamoDb>(),
        },
        Function {
            name: "kinesis-throttle",
            logical_id: "KinesisThrottleFunction",
            variables: reads::<Kinesis>(),
        },
        Function {
            name: "api-throttle",
            logical_id: "ApiThrottleFunction",
            variables: reads::<Api>(),
        },
        Function {
            name: "restore",
            logical_id: "RestoreFunction",
            variables: CORE_VARIABLES
                .iter()
                .chain(unthrottle::restore::VARIABLES)
                .copied()
                .collect(),
        },
    ];
    for function in &functions {
        let mut seen = BTreeSet::new();
        for variable in &function.variables {
            assert!(
                seen.insert(variable.name),
                "{} declares {} twice",
                function.name,
                variable.name
            );
        }
    }
    functions
}

/// Every variable some function reads, with the functions that read it.
fn catalogue() -> BTreeMap<&'static str, (&'static Variable, Vec<&'static str>)> {
    let mut all: BTreeMap<&'static str, (&'static Variable, Vec<&'static str>)> = BTreeMap::new();
    for function in functions() {
        for variable in function.variables {
            let entry = all.entry(variable.name).or_insert((variable, Vec::new()));
            assert_eq!(
                entry.0, variable,
                "two different declarations are named {}",
                variable.name
            );
            entry.1.push(function.name);
        }
    }
    all
}

fn repo_file(path: &str) -> String {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// `missing: ...; extra: ...` between what is declared and what a file says.
fn difference(declared: &BTreeSet<&str>, found: &BTreeSet<&str>) -> String {
    let missing: Vec<_> = declared.difference(found).collect();
    let extra: Vec<_> = found.difference(declared).collect();
    format!("missing {missing:?}, extra {extra:?}")
}

// ------------------------------------------------------------------ template.yaml

#[test]
fn template_sets_exactly_the_variables_each_function_reads() {
    let source = repo_file("template.yaml");
    let yaml = Yaml::new(&source);
    let globals = yaml.entries(yaml.path(&["Globals", "Function", "Environment", "Variables"]));
    let parameters = yaml.path(&["Parameters"]);
    let mut problems = Vec::new();

    for function in functions() {
        let own = yaml.entries(yaml.path(&[
            "Resources",
            function.logical_id,
            "Properties",
            "Environment",
            "Variables",
        ]));
        let mut set: BTreeMap<&str, (&str, usize)> = BTreeMap::new();
        for &(name, value, line) in globals.iter().chain(&own) {
            if let Some((_, first)) = set.insert(name, (value, line)) {
                problems.push(format!(
                    "{}: {name} is set twice (template.yaml lines {first} and {line})",
                    function.name
                ));
            }
        }
        let declared: BTreeSet<&str> = function.variables.iter().map(|v| v.name).collect();
        let found: BTreeSet<&str> = set.keys().copied().collect();
        if declared != found {
            problems.push(format!(
                "{} ({}): template.yaml's Environment (Globals + its own) differs from the Rust \
                 declarations: {}",
                function.name,
                function.logical_id,
                difference(&declared, &found)
            ));
        }

        // A variable set from a parameter takes the parameter's default as deployed: the
        // declared one. A `!Ref` to a resource (the bucket, the ledger) is the stack's own.
        for variable in &function.variables {
            let Some(&(value, line)) = set.get(variable.name) else {
                continue;
            };
            let Some(parameter) = value.strip_prefix("!Ref ").map(str::trim) else {
                continue;
            };
            let Some(at) = yaml.find(Some(parameters), parameter) else {
                continue;
            };
            let default = yaml.scalar(at, "Default");
            // Numbers agree by value (`2` and `2.0`); a required variable has no default.
            let agrees = match (default, variable.default) {
                (Some(found), Some(declared)) => {
                    found == declared
                        || matches!((found.parse::<f64>(), declared.parse::<f64>()), (Ok(a), Ok(b)) if a == b)
                }
                (found, declared) => found.is_none() && declared.is_none(),
            };
            if !agrees {
                problems.push(format!(
                    "{}: {} (template.yaml line {line}) comes from parameter {parameter} with Default \
                     {default:?}, but Rust declares {:?}",
                    function.name, variable.name, variable.default
                ));
            }
            // Bounds the code enforces, the template enforces too, to the same value.
            for (key, declared) in [("MinValue", variable.min), ("MaxValue", variable.max)] {
                let Some(declared) = declared else { continue };
                let found = yaml.scalar(at, key);
                let same = found.is_some_and(|found| {
                    matches!((found.parse::<f64>(), declared.parse::<f64>()), (Ok(a), Ok(b)) if a == b)
                });
                if !same {
                    problems.push(format!(
                        "{}: parameter {parameter} (for {}) has {key} {found:?}, but the code takes {declared}",
                        function.name, variable.name
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "template.yaml:\n{}", problems.join("\n"));
}

// ------------------------------------------------------------------ README.md

/// The rows of README.md's configuration table: variable name to its cells.
fn readme_rows(readme: &str) -> Vec<(String, Vec<String>)> {
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Configuration\n"))
        .unwrap_or_else(|| panic!("README.md has no `## Configuration` section"));
    let mut lines = section.lines().skip_while(|l| !l.starts_with("| variable |"));
    let header = lines
        .next()
        .unwrap_or_else(|| panic!("README.md: no table starting `| variable |` under ## Configuration"));
    assert_eq!(
        cells(header),
        ["variable", "default", "read by", "meaning"],
        "README.md: the configuration table's columns"
    );
    let separator = lines.next().unwrap_or_default();
    assert!(
        separator.starts_with("|---"),
        "README.md: the table's header has no separator line"
    );
    let rows: Vec<(String, Vec<String>)> = lines
        .take_while(|l| l.starts_with('|'))
        .map(|line| {
            let cells = cells(line);
            assert_eq!(cells.len(), 4, "README.md: {line:?} does not have 4 cells");
            let name = cells[0]
                .strip_prefix('`')
                .and_then(|n| n.strip_suffix('`'))
                .unwrap_or_else(|| panic!("README.md: {line:?} does not start with a `VARIABLE`"))
                .to_owned();
            (name, cells)
        })
        .collect();
    assert!(!rows.is_empty(), "README.md: the configuration table has no rows");
    rows
}

fn cells(line: &str) -> Vec<String> {
    line.trim()
        .trim_start_matches('|')
        .trim_end_matches('|')
        .split('|')
        .map(|cell| cell.trim().to_owned())
        .collect()
}

#[test]
fn readme_table_lists_each_variable_once_with_its_default() {
    let readme = repo_file("README.md");
    let rows = readme_rows(&readme);
    let catalogue = catalogue();
    let every_function: Vec<&str> = functions().iter().map(|f| f.name).collect();
    let mut problems = Vec::new();

    let mut counted: BTreeMap<&str, usize> = BTreeMap::new();
    for (name, _) in &rows {
        *counted.entry(name.as_str()).or_default() += 1;
    }
    for (name, count) in &counted {
        if *count > 1 {
            problems.push(format!("{name} has {count} rows"));
        }
    }
    let declared: BTreeSet<&str> = catalogue.keys().copied().collect();
    let found: BTreeSet<&str> = counted.keys().copied().collect();
    if declared != found {
        problems.push(format!(
            "the rows differ from the variables the functions read: {}",
            difference(&declared, &found)
        ));
    }

    for (name, cells) in &rows {
        let Some((variable, readers)) = catalogue.get(name.as_str()) else {
            continue;
        };
        let default = match variable.default {
            Some("") => "(empty)".to_owned(),
            Some(default) => format!("`{default}`"),
            None => "required".to_owned(),
        };
        if cells[1] != default {
            problems.push(format!(
                "{name}: default cell {:?}, declared {default:?}",
                cells[1]
            ));
        }
        let read_by = if *readers == every_function {
            "all".to_owned()
        } else {
            readers
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if cells[2] != read_by {
            problems.push(format!(
                "{name}: read-by cell {:?}, but it is read by {read_by:?}",
                cells[2]
            ));
        }
        if cells[3].is_empty() {
            problems.push(format!("{name}: no meaning"));
        }
    }
    assert!(
        problems.is_empty(),
        "README.md's configuration table:\n{}",
        problems.join("\n")
    );
}

// ------------------------------------------------------------------ scripts/invoke.sh

/// The lines of `input` that `pattern` admits, by `grep -E` itself.
fn grep(pattern: &str, input: &[String]) -> BTreeSet<String> {
    let mut child = Command::new("grep")
        .args(["-E", "--", pattern])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run grep: {e}"));
    let mut stdin = child.stdin.take().unwrap_or_else(|| panic!("grep has no stdin"));
    stdin.write_all(input.join("\n").as_bytes()).unwrap();
    stdin.write_all(b"\n").unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    // 0: some lines matched, 1: none did, 2: the pattern is broken.
    assert!(
        output.status.code().is_some_and(|c| c <= 1),
        "grep -E {pattern:?} failed: {output:?}"
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn invoke_passes_every_variable_to_the_function() {
    let script = repo_file("scripts/invoke.sh");
    let patterns: Vec<&str> = script
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| line.split_once("grep -E '").map(|(_, rest)| rest))
        .map(|rest| {
            rest.split_once('\'')
                .unwrap_or_else(|| panic!("scripts/invoke.sh: unterminated pattern after grep -E '"))
                .0
        })
        .collect();
    assert_eq!(
        patterns.len(),
        1,
        "scripts/invoke.sh: expected one `grep -E '...'`, found {patterns:?}"
    );
    let pattern = patterns[0];

    let mut admitted: Vec<&str> = catalogue().keys().copied().collect();
    // Lambda's logging controls, the SDK's settings and the local log filter pass too.
    admitted.extend([
        "AWS_LAMBDA_LOG_FORMAT",
        "AWS_LAMBDA_LOG_LEVEL",
        "AWS_REGION",
        "AWS_ENDPOINT_URL_S3",
        "RUST_LOG",
    ]);
    // The function sees exactly its environment: not the caller's shell.
    let refused = [
        "PATH",
        "HOME",
        "CARGO_HOME",
        "RUSTFLAGS",
        "XSNAPSHOT_BUCKET",
        "SNAPSHOT_BUCKET_X",
    ];

    let lines: Vec<String> = admitted
        .iter()
        .chain(&refused)
        .map(|name| format!("{name}=x"))
        .collect();
    let passed = grep(pattern, &lines);
    let wanted: BTreeSet<String> = admitted.iter().map(|name| format!("{name}=x")).collect();
    let missing: Vec<_> = wanted.difference(&passed).collect();
    let leaked: Vec<_> = passed.difference(&wanted).collect();
    assert!(
        missing.is_empty() && leaked.is_empty(),
        "scripts/invoke.sh's pattern {pattern:?} does not pass {missing:?} and passes {leaked:?}"
    );
}

// ------------------------------------------------------------------ the defaults

#[test]
fn every_declared_default_parses() {
    let env = Env::from_fn(|name| match name {
        "SNAPSHOT_BUCKET" => Some("snapshots".to_owned()),
        "LEDGER_TABLE" => Some("ledger".to_owned()),
        _ => None,
    });
    CoreSettings::from_env(&env).unwrap_or_else(|e| panic!("the core's defaults: {e}"));
    <DynamoDb as Service>::from_env(&env).unwrap_or_else(|e| panic!("dynamodb-throttle's defaults: {e}"));
    <Kinesis as Service>::from_env(&env).unwrap_or_else(|e| panic!("kinesis-throttle's defaults: {e}"));

    // Only the two names the stack supplies may go without a default.
    let required: BTreeSet<&str> = catalogue()
        .values()
        .filter(|(variable, _)| variable.default.is_none())
        .map(|(variable, _)| variable.name)
        .collect();
    assert_eq!(required, BTreeSet::from(["LEDGER_TABLE", "SNAPSHOT_BUCKET"]));
}

#[test]
fn the_function_timeout_holds_the_worst_case_of_one_resource() {
    use unthrottle::adapters::clients::OPERATION_TIMEOUT;
    use unthrottle::core::pipeline::calls::WORST_CASE;

    let source = repo_file("template.yaml");
    let yaml = Yaml::new(&source);
    let function = yaml.path(&["Globals", "Function"]);
    let timeout: u64 = yaml
        .scalar(function, "Timeout")
        .and_then(|t| t.parse().ok())
        .expect("Globals.Function.Timeout is a number of seconds");
    let worst = OPERATION_TIMEOUT * WORST_CASE;
    assert!(
        std::time::Duration::from_secs(timeout) >= worst,
        "template.yaml's Timeout {timeout} s is shorter than {WORST_CASE} calls of up to {} s each",
        OPERATION_TIMEOUT.as_secs()
    );
}

#[test]
fn the_ledger_and_the_snapshots_outlive_the_stack_and_no_function_may_change_the_ledger() {
    let source = repo_file("template.yaml");
    let yaml = Yaml::new(&source);
    for store in ["LedgerTable", "SnapshotBucket"] {
        let at = yaml.path(&["Resources", store]);
        for policy in ["DeletionPolicy", "UpdateReplacePolicy"] {
            assert_eq!(yaml.scalar(at, policy), Some("Retain"), "{store} {policy}");
        }
    }
    // Each function's role denies UpdateTable and DeleteTable on its own ledger table,
    // whatever else it allows.
    for function in functions() {
        // Each function's role is its logical id with Role for Function.
        let role = function.logical_id.replace("Function", "Role");
        let policies = yaml.path(&["Resources", &role, "Properties", "Policies"]);
        let block = yaml.block(Some(policies));
        let text: Vec<&str> = block.map(|i| yaml.lines[i].text).collect();
        let deny = text
            .iter()
            .position(|line| *line == "Effect: Deny")
            .unwrap_or_else(|| panic!("{role}: no Deny statement"));
        let statement: Vec<&str> = text[deny..]
            .iter()
            .take_while(|line| !line.starts_with("- Sid:"))
            .copied()
            .collect();
        for needed in [
            "- dynamodb:UpdateTable",
            "- dynamodb:DeleteTable",
            "Resource: !GetAtt LedgerTable.Arn",
        ] {
            assert!(
                statement.contains(&needed),
                "{}: the Deny lacks {needed}: {statement:?}",
                function.logical_id
            );
        }
    }
}
