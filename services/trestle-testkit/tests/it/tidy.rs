//! Tidy rules for the whole repository, checked as a test so a change that breaks one fails
//! CI with the file and line to fix: every Rust file says what it is for, metric names live in
//! one place, scripts never run a binary by a fixed `target/` path, crate-private items are not
//! `pub` by accident, and no function grows past what a reader can hold.

use std::path::{Path, PathBuf};

/// Non-test functions longer than this many lines fail the check.
const MAX_FUNCTION_LINES: usize = 100;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("services/trestle-testkit sits two levels below the repository root")
        .to_path_buf()
}

/// Every file below `dir` (recursively) whose name ends with `suffix`, skipping build output
/// and hidden folders.
fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if path.is_dir() {
            found.extend(files(&path, suffix));
        } else if name.ends_with(suffix) {
            found.push(path);
        }
    }
    found.sort();
    found
}

fn rust_files() -> Vec<PathBuf> {
    let root = repo_root();
    let mut all = files(&root.join("services"), ".rs");
    all.extend(files(&root.join("load"), ".rs"));
    all
}

fn relative(path: &Path) -> String {
    path.strip_prefix(repo_root())
        .unwrap_or(path)
        .display()
        .to_string()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Fails listing every problem at once, so one run shows all there is to fix.
fn check(rule: &str, problems: Vec<String>) {
    assert!(problems.is_empty(), "{rule}:\n  {}", problems.join("\n  "));
}

/// Is `path` test code (an integration test, a bench harness or a build script)?
fn is_test_file(path: &Path) -> bool {
    path.components().any(|c| c.as_os_str() == "tests")
}

#[test]
fn every_rust_file_opens_with_a_module_doc_line() {
    let problems = rust_files()
        .into_iter()
        .filter(|path| !read(path).trim_start().starts_with("//!"))
        .map(|path| {
            format!(
                "{}: first line must be a `//!` line saying what the file is for",
                relative(&path)
            )
        })
        .collect();
    check("files without a `//!` opening line", problems);
}

#[test]
fn metric_names_are_defined_only_in_the_telemetry_crate() {
    let mut problems = Vec::new();
    for path in rust_files() {
        let rel = relative(&path);
        if rel.starts_with("services/trestle-telemetry/") {
            continue;
        }
        for (number, line) in read(&path).lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let literal_macro = ["counter!(\"", "gauge!(\"", "histogram!(\""]
                .iter()
                .any(|m| code.contains(m));
            let defines_name = code.contains(": &str = \"trestle_") && looks_like_metric(code);
            if literal_macro || defines_name {
                problems.push(format!(
                    "{rel}:{}: metric names belong in trestle_telemetry::names: {}",
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    check("metric names outside trestle-telemetry", problems);
}

fn looks_like_metric(code: &str) -> bool {
    [
        "_total\"",
        "_seconds\"",
        "_records\"",
        "_bytes\"",
        "_ratio\"",
    ]
    .iter()
    .any(|unit| code.contains(unit))
}

#[test]
fn scripts_never_run_binaries_by_a_fixed_target_path() {
    let root = repo_root();
    let mut scripts = files(&root.join("compose"), "");
    scripts.extend(files(&root.join("load"), ""));
    scripts.extend(files(&root.join(".ci"), ""));
    let mut problems = Vec::new();
    for path in scripts {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue; // not text (a jar, a data file)
        };
        if !text.starts_with("#!") {
            continue;
        }
        for (number, line) in text.lines().enumerate() {
            if runs_from_target(line) {
                problems.push(format!(
                    "{}:{}: use \"$(compose/bin-dir)\" (honours CARGO_TARGET_DIR): {}",
                    relative(&path),
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    check("scripts running target/ by path", problems);
}

/// Does `line` name `target/debug/…` or `target/release/…` as a path of its own (not the tail
/// of a directory variable such as `$target/debug`)?
fn runs_from_target(line: &str) -> bool {
    ["target/debug", "target/release"].iter().any(|dir| {
        line.match_indices(dir).any(|(at, _)| {
            let before = line[..at].chars().next_back();
            matches!(before, None | Some(' ' | '"' | '\'' | '=' | '(' | '`'))
        })
    })
}

#[test]
fn unreachable_pub_is_on_for_every_crate() {
    let root = repo_root();
    let workspace = read(&root.join("Cargo.toml"));
    let lints = workspace
        .split("[workspace.lints.rust]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .unwrap_or("");
    assert!(
        lints.contains("unreachable_pub"),
        "Cargo.toml [workspace.lints.rust] must set unreachable_pub"
    );
    let mut manifests = files(&root.join("services"), "Cargo.toml");
    manifests.push(root.join("load/Cargo.toml"));
    let problems = manifests
        .into_iter()
        .filter(|m| !read(m).contains("[lints]\nworkspace = true"))
        .map(|m| format!("{}: add `[lints]\\nworkspace = true`", relative(&m)))
        .collect();
    check("crates not using the workspace lints", problems);
}

#[test]
fn no_function_is_longer_than_a_hundred_lines() {
    let mut problems = Vec::new();
    for path in rust_files().into_iter().filter(|p| !is_test_file(p)) {
        let text = read(&path);
        for (name, start, length) in long_functions(&text) {
            problems.push(format!(
                "{}:{}: fn {name} is {length} lines (at most {MAX_FUNCTION_LINES}); split it into steps",
                relative(&path),
                start + 1
            ));
        }
    }
    check("functions over the limit", problems);
}

/// `(name, first line index, length)` of every function over the limit in rustfmt-formatted
/// `text`, up to its `#[cfg(test)]` module: a function ends at the first line that is its
/// indentation followed by `}`.
fn long_functions(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .iter()
        .position(|l| l.trim() == "#[cfg(test)]")
        .unwrap_or(lines.len());
    let mut long = Vec::new();
    for (index, line) in lines[..end].iter().enumerate() {
        let Some(name) = function_name(line) else {
            continue;
        };
        let indent = &line[..line.len() - line.trim_start().len()];
        // A declaration without a body (a trait's required method) ends in `;` before any `{`.
        let header_end = lines[index..end]
            .iter()
            .position(|l| l.trim_end().ends_with('{') || l.trim_end().ends_with(';'));
        match header_end {
            Some(offset) if lines[index + offset].trim_end().ends_with('{') => {}
            _ => continue,
        }
        let closing = format!("{indent}}}");
        if let Some(offset) = lines[index + 1..end].iter().position(|l| *l == closing) {
            let length = offset + 2;
            if length > MAX_FUNCTION_LINES {
                long.push((name, index, length));
            }
        }
    }
    long
}

fn function_name(line: &str) -> Option<String> {
    let mut words = line.split_whitespace().peekable();
    while let Some(word) = words.next() {
        match word {
            w if w.starts_with("pub") => continue,
            "async" | "const" | "unsafe" | "extern" | "\"C\"" => continue,
            "fn" => {
                let name = words.next()?;
                let name: String = name
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                return (!name.is_empty()).then_some(name);
            }
            _ => return None,
        }
    }
    None
}

#[test]
fn long_function_check_measures_bodies_and_skips_declarations() {
    let mut text = String::from("//! x\ntrait T {\n    fn declared(&self);\n}\nfn long() {\n");
    for _ in 0..100 {
        text.push_str("    step();\n");
    }
    text.push_str("}\nfn short() {\n    one();\n}\n");
    let long = long_functions(&text);
    assert_eq!(long, vec![("long".to_string(), 4, 102)]);
}
