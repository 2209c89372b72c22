//! docs/architecture.md: "No module imports one that imports it", and dependencies point one
//! way (`run -> adapters, services -> core`). This reads every `crate::` and `super::` path in
//! shared/src (test modules and the test fakes aside) and fails on a cycle or on the core
//! reaching outside itself.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/src")
}

/// Module path of a source file: `core/config.rs` -> `core::config`, `dynamodb/mod.rs` ->
/// `dynamodb`, `lib.rs` -> `` (the crate root).
fn module_of(file: &Path) -> String {
    let relative = file.strip_prefix(src()).expect("under shared/src");
    let mut parts: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts.join("::")
}

fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            // Unit tests and the in-memory fakes may reach anywhere.
            if !name.ends_with("_tests.rs") && name != "testing.rs" {
                found.push(path);
            }
        }
    }
}

/// The longest prefix of `path` (segments) that is a module.
fn resolve(path: &[&str], modules: &BTreeSet<String>) -> Option<String> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|candidate| modules.contains(candidate))
}

/// Every module `text` (the source of `module`) names through `crate::` or `super::`,
/// including the braces of a grouped `use` (`use super::{a, b}`).
fn imports(module: &str, text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    // `super` is the enclosing module: `d` for d/a.rs (module d::a), d's parent for
    // d/mod.rs (module d).
    let own: Vec<&str> = module.split("::").filter(|s| !s.is_empty()).collect();
    let parent = own[..own.len().saturating_sub(1)].to_vec();
    let code: String = text
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    // A `use child::...` in a module names one of its children (or a crate outside ours).
    for line in code.lines().map(str::trim) {
        let Some(path) = line
            .strip_prefix("pub use ")
            .or_else(|| line.strip_prefix("use "))
        else {
            continue;
        };
        let first = path.split("::").next().unwrap_or("");
        let child = if module.is_empty() {
            first.to_owned()
        } else {
            format!("{module}::{first}")
        };
        if modules.contains(&child) {
            found.insert(child);
        }
    }
    for (root, base) in [("crate::", Vec::new()), ("super::", parent)] {
        for (at, _) in code.match_indices(root) {
            if at > 0 && code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let rest = &code[at + root.len()..];
            let end = rest
                .find(|c: char| {
                    !(c.is_alphanumeric()
                        || c == '_'
                        || c == ':'
                        || c == '{'
                        || c == '}'
                        || c == ','
                        || c == ' '
                        || c == '\n'
                        || c == '*')
                })
                .unwrap_or(rest.len());
            let path_text = &rest[..end];
            // `a::b::{c, d::e}` -> a::b::c and a::b::d::e; a plain path stands alone.
            let (stem, group) = match path_text.split_once('{') {
                Some((stem, group)) => (stem, group.split('}').next().unwrap_or("")),
                None => (path_text.split([' ', '\n', ',']).next().unwrap_or(""), ""),
            };
            let stem: Vec<&str> = stem
                .split("::")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            let mut paths = vec![stem.clone()];
            for member in group.split(',').map(str::trim).filter(|m| !m.is_empty()) {
                let mut path = stem.clone();
                path.extend(member.split("::").map(str::trim));
                paths.push(path);
            }
            for path in paths {
                let mut full: Vec<&str> = base.clone();
                full.extend(path.iter().copied().filter(|s| *s != "self"));
                if let Some(target) = resolve(&full, modules)
                    && target != module
                {
                    found.insert(target);
                }
            }
        }
    }
    found
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    let mut modules: BTreeSet<String> = files.iter().map(|f| module_of(f)).collect();
    modules.insert(String::new());
    modules.insert("testing".to_owned());
    files
        .iter()
        .map(|file| {
            let module = module_of(file);
            let text = std::fs::read_to_string(file).expect("readable");
            let uses = imports(&module, &text, &modules);
            (module, uses)
        })
        .collect()
}

#[test]
fn no_module_imports_a_module_that_imports_it() {
    let graph = graph();
    assert!(graph.len() > 30, "read too few modules: {:?}", graph.keys());
    let mut cycles = Vec::new();
    // Depth-first search for a path back to the start, from every module.
    for start in graph.keys() {
        let mut stack: Vec<(String, Vec<String>)> = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((module, path)) = stack.pop() {
            for next in graph.get(&module).into_iter().flatten() {
                if next == start {
                    let mut cycle = path.clone();
                    cycle.push(start.clone());
                    cycles.push(cycle.join(" -> "));
                } else if seen.insert(next.clone()) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn dependencies_point_one_way() {
    let graph = graph();
    let mut wrong = Vec::new();
    for (module, uses) in &graph {
        for target in uses {
            let outward = match module.split("::").next().unwrap_or("") {
                // The core knows no service, no SDK adapter and no wiring.
                "core" => !target.starts_with("core"),
                // The adapters know the core only; the wiring is above them.
                "adapters" => !(target.starts_with("core") || target.starts_with("adapters")),
                // A service knows the core, the adapters' helpers and itself, never another service.
                "dynamodb" | "kinesis" => {
                    let own = module.split("::").next().unwrap_or("");
                    !(target.starts_with("core") || target.starts_with("adapters") || target.starts_with(own))
                }
                _ => false,
            };
            if outward {
                wrong.push(format!("{module} imports {target}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // The check sees the edges it must: a service's adapter uses the shared error classifier.
    assert!(
        graph["dynamodb::aws"].contains("adapters::errors"),
        "{:?}",
        graph["dynamodb::aws"]
    );
    assert!(
        graph["core::pipeline"].contains("core::ports"),
        "{:?}",
        graph["core::pipeline"]
    );
}
