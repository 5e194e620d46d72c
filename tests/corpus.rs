//! Every function of half a million real lines. `scripts/corpus.sh` fetches a
//! pinned corpus (django, sqlalchemy, fastapi, starlette, httpx, aiohttp,
//! cashews; cached under target/), which is copied to a temporary folder.
//! For each file, every top-level function and every method of a top-level
//! class (as Python's `ast` lists them) is a target of one call with
//! `--write --force --no-setup`. Any of these fails the test, naming the file
//! and function:
//! - a crash or an exit code other than 0 or 1 (a tree-sitter parse error,
//!   exit 2, is counted as skipped and listed);
//! - a sync function decorated;
//! - an original line lost or changed (except a merged `from M import` line);
//! - a written file Python's `ast` cannot parse (one interpreter for all);
//! - a second identical run that changes a byte or reports a target changed.
//!
//! The tool runs as a release build (scripts/release-bin.sh): a debug build
//! needs about an hour for the corpus.
//!
//! The totals go to stderr and target/corpus-totals.txt.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use common::{code, only_adds_lines, python_rejects, release_bin, repo, repo_script, venv_python};

fn copy_tree(from: &Path, to: &Path, files: &mut Vec<PathBuf>) {
    std::fs::create_dir_all(to).unwrap();
    let mut entries: Vec<_> = std::fs::read_dir(from)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let dest = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_tree(&path, &dest, files);
        } else if path.extension().is_some_and(|e| e == "py") {
            std::fs::copy(&path, &dest).unwrap();
            files.push(dest);
        }
    }
}

/// Python lists the targets of every file: (qualname, is_async) pairs.
fn list_targets(python: &str, files: &[PathBuf]) -> BTreeMap<PathBuf, Vec<(String, bool)>> {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("files.txt");
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    std::fs::write(&list, names.join("\n")).unwrap();
    let script = r#"
import ast, json, sys, warnings
warnings.simplefilter("ignore")
out = {}
for path in open(sys.argv[1], encoding="utf-8").read().splitlines():
    try:
        tree = ast.parse(open(path, "rb").read(), path)
    except (SyntaxError, ValueError) as e:
        out[path] = None
        continue
    targets = []
    def add(node, prefix=""):
        targets.append([prefix + node.name, isinstance(node, ast.AsyncFunctionDef)])
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            add(node)
        elif isinstance(node, ast.ClassDef):
            for member in node.body:
                if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    add(member, node.name + ".")
    out[path] = targets
json.dump(out, sys.stdout)
"#;
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(&list)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: BTreeMap<String, Option<Vec<(String, bool)>>> =
        serde_json::from_slice(&out.stdout).unwrap();
    doc.into_iter()
        .map(|(path, targets)| {
            let targets = targets.unwrap_or_else(|| panic!("Python cannot parse {path}"));
            (PathBuf::from(path), targets)
        })
        .collect()
}

#[derive(Default)]
struct Totals {
    files: usize,
    functions: usize,
    decorated: usize,
    unchanged: usize,
    refused: BTreeMap<String, usize>,
    skipped: Vec<String>,
    edited_files: Vec<PathBuf>,
    failures: Vec<String>,
}

/// "is a sync def", "is a @property", "has side effects": the reason's head.
fn reason(qualname: &str, message: &str) -> String {
    let rest = message.strip_prefix(qualname).unwrap_or(message).trim();
    rest.split([':', '(', ';'])
        .next()
        .unwrap_or(rest)
        .trim()
        .to_string()
}

fn check_file(
    bin: &str,
    path: &Path,
    targets: &[(String, bool)],
    root: &Path,
    totals: &Mutex<Totals>,
) {
    let shown = path
        .strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string();
    let mut names: Vec<&str> = Vec::new();
    for (name, _) in targets {
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    // Python keeps the last definition of a name, and so does the tool.
    let is_async = |name: &str| {
        targets
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .is_some_and(|(_, a)| *a)
    };
    // Writers get their delete_tags in other files of the package, which
    // other threads check at the same time: those edits would race. The
    // invalidation edits are checked by tests/invalidate.rs, tests/e2e.rs
    // and the fuzzer (src/fuzz.rs, the file as its own project).
    let mut args = vec![
        "--write",
        "--force",
        "--no-setup",
        "--no-invalidate",
        "--format",
        "json",
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    args.extend(names.iter().map(|n| format!("{}::{n}", path.display())));
    let before = std::fs::read(path).unwrap();
    let first = Command::new(bin).args(&args).output().unwrap();
    let mut failures = Vec::new();
    let mut local = Totals::default();
    match code(&first) {
        0 | 1 => {}
        2 if String::from_utf8_lossy(&first.stderr).contains("fix the file") => {
            let mut t = totals.lock().unwrap();
            t.files += 1;
            t.skipped.push(format!(
                "{shown}: skipped: tree-sitter parse error: {}",
                String::from_utf8_lossy(&first.stderr).trim()
            ));
            return;
        }
        c => {
            failures.push(format!(
                "{shown}: exit {c}: {}",
                String::from_utf8_lossy(&first.stderr).trim()
            ));
        }
    }
    if failures.is_empty() {
        let doc: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
        for r in doc["results"].as_array().unwrap() {
            let qualname = r["function"]["qualname"].as_str().unwrap();
            local.functions += 1;
            match r["status"].as_str().unwrap() {
                "changed" => {
                    local.decorated += 1;
                    if !is_async(qualname) {
                        failures.push(format!("{shown}::{qualname}: a sync def was decorated"));
                    }
                }
                "unchanged" => local.unchanged += 1,
                _ => {
                    let why = reason(qualname, r["message"].as_str().unwrap());
                    *local.refused.entry(why).or_default() += 1;
                }
            }
        }
        if local.functions != names.len() {
            failures.push(format!(
                "{shown}: {} results for {} targets",
                local.functions,
                names.len()
            ));
        }
        let after = std::fs::read(path).unwrap();
        if after != before {
            local.edited_files.push(path.to_path_buf());
            if let Err(e) = only_adds_lines(&before, &after) {
                failures.push(format!("{shown}: {e}"));
            }
        }
        let second = Command::new(bin).args(&args).output().unwrap();
        if code(&second) != code(&first) {
            failures.push(format!(
                "{shown}: second run exit {} after {}: {}",
                code(&second),
                code(&first),
                String::from_utf8_lossy(&second.stderr).trim()
            ));
        } else {
            let doc: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
            for r in doc["results"].as_array().unwrap() {
                if r["status"] == "changed" {
                    failures.push(format!(
                        "{shown}::{}: changed again on the second run",
                        r["function"]["qualname"].as_str().unwrap()
                    ));
                }
            }
        }
        if std::fs::read(path).unwrap() != after {
            failures.push(format!("{shown}: the second run changed bytes"));
        }
    }
    let mut t = totals.lock().unwrap();
    t.files += 1;
    t.functions += local.functions;
    t.decorated += local.decorated;
    t.unchanged += local.unchanged;
    for (why, n) in local.refused {
        *t.refused.entry(why).or_default() += n;
    }
    t.edited_files.extend(local.edited_files);
    t.failures.extend(failures);
}

#[test]
fn every_function_of_the_corpus() {
    let started = Instant::now();
    let corpus = PathBuf::from(repo_script("corpus.sh"));
    let python = venv_python();
    let bin = release_bin();
    let work = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    copy_tree(&corpus, work.path(), &mut files);
    assert!(
        files.len() > 1000,
        "corpus too small: {} files",
        files.len()
    );
    let lines: usize = files
        .iter()
        .map(|f| std::fs::read(f).unwrap().split(|b| *b == b'\n').count() - 1)
        .sum();
    let targets = list_targets(&python, &files);
    let jobs: Vec<(&PathBuf, &Vec<(String, bool)>)> = targets.iter().collect();
    let next = AtomicUsize::new(0);
    let totals = Mutex::new(Totals::default());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                while let Some((path, targets)) = jobs.get(next.fetch_add(1, Ordering::Relaxed)) {
                    if targets.is_empty() {
                        totals.lock().unwrap().files += 1;
                    } else {
                        check_file(&bin, path, targets, work.path(), &totals);
                    }
                }
            });
        }
    });
    let mut totals = totals.into_inner().unwrap();
    for rejected in python_rejects(&python, &totals.edited_files) {
        totals
            .failures
            .push(format!("Python's ast rejects the written file: {rejected}"));
    }
    let refused: usize = totals.refused.values().sum();
    let mut report = format!(
        "corpus: {} files ({lines} lines), {} functions: {} decorated, {} already cached, {refused} refused, {} files skipped (tree-sitter parse error); {} files written; {:.0} s\n",
        totals.files,
        totals.functions,
        totals.decorated,
        totals.unchanged,
        totals.skipped.len(),
        totals.edited_files.len(),
        started.elapsed().as_secs_f64()
    );
    let mut reasons: Vec<(&String, &usize)> = totals.refused.iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (why, n) in reasons {
        report.push_str(&format!("  refused {n:>6}: {why}\n"));
    }
    for skipped in &totals.skipped {
        report.push_str(&format!("  {skipped}\n"));
    }
    // Written past the test harness's capture, so the totals show in every run.
    let _ = std::io::stderr().write_all(report.as_bytes());
    let _ = std::fs::write(repo().join("target/corpus-totals.txt"), &report);
    totals.failures.sort();
    assert!(
        totals.failures.is_empty(),
        "{} failure(s):\n{}",
        totals.failures.len(),
        totals
            .failures
            .iter()
            .take(50)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
