//! Every function of half a million real lines. `scripts/corpus.sh` fetches a
//! pinned corpus (django, sqlalchemy, fastapi, starlette, httpx, aiohttp,
//! cashews; cached under target/), which is copied to a temporary folder.
//! For each file, every top-level function and every method of a top-level
//! class (as Python's `ast` lists them) is a target of a call with
//! `--write --force --no-setup`; a call takes the targets of up to 400 files
//! of one package (a failed call is repeated file by file). Any of these
//! fails the test, naming the file and function:
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

/// One file's targets: its path, and (qualname, is_async) pairs.
type Job<'a> = (&'a PathBuf, &'a Vec<(String, bool)>);

/// The distinct names of a file's targets, in order.
fn names_of(targets: &[(String, bool)]) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for (name, _) in targets {
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    names
}

/// The tool's arguments for every target of `jobs`.
fn target_args(jobs: &[Job]) -> Vec<String> {
    // Writers get their delete_tags in other files of the package, which
    // other threads check at the same time: those edits would race. The
    // invalidation edits are checked by tests/invalidate.rs, tests/e2e.rs
    // and the fuzzer (src/fuzz.rs, the file as its own project).
    let mut args: Vec<String> = [
        "--write",
        "--force",
        "--no-setup",
        "--no-invalidate",
        "--format",
        "json",
    ]
    .map(String::from)
    .to_vec();
    for (path, targets) in jobs {
        args.extend(
            names_of(targets)
                .iter()
                .map(|n| format!("{}::{n}", path.display())),
        );
    }
    args
}

/// The results of a JSON run, by the file of their target.
fn results_by_file(stdout: &[u8]) -> BTreeMap<PathBuf, Vec<serde_json::Value>> {
    let doc: serde_json::Value = serde_json::from_slice(stdout).unwrap();
    let mut out: BTreeMap<PathBuf, Vec<serde_json::Value>> = BTreeMap::new();
    for r in doc["results"].as_array().unwrap() {
        let target = r["target"].as_str().unwrap();
        let (path, _) = target.rsplit_once("::").unwrap();
        out.entry(PathBuf::from(path)).or_default().push(r.clone());
    }
    out
}

/// Runs the tool once over the targets of several files (one project
/// index serves them all), then a second time. A run that fails is
/// undone and repeated file by file, so a failure names its file.
fn check_files(bin: &str, jobs: &[Job], root: &Path, totals: &Mutex<Totals>) {
    let shown = |path: &Path| {
        path.strip_prefix(root)
            .unwrap_or(path)
            .display()
            .to_string()
    };
    let args = target_args(jobs);
    let before: Vec<Vec<u8>> = jobs
        .iter()
        .map(|(p, _)| std::fs::read(p).unwrap())
        .collect();
    let first = Command::new(bin).args(&args).output().unwrap();
    let code_first = code(&first);
    if !matches!(code_first, 0 | 1) {
        if jobs.len() > 1 {
            for ((path, _), bytes) in jobs.iter().zip(&before) {
                std::fs::write(path, bytes).unwrap();
            }
            for job in jobs {
                check_files(bin, std::slice::from_ref(job), root, totals);
            }
            return;
        }
        let stderr = String::from_utf8_lossy(&first.stderr);
        let mut t = totals.lock().unwrap();
        t.files += 1;
        let (file, why) = (shown(jobs[0].0), stderr.trim());
        if code_first == 2 && stderr.contains("fix the file") {
            t.skipped
                .push(format!("{file}: skipped: tree-sitter parse error: {why}"));
        } else {
            t.failures.push(format!("{file}: exit {code_first}: {why}"));
        }
        return;
    }
    let results = results_by_file(&first.stdout);
    let after: Vec<Vec<u8>> = jobs
        .iter()
        .map(|(p, _)| std::fs::read(p).unwrap())
        .collect();
    let second = Command::new(bin).args(&args).output().unwrap();
    let mut failures = Vec::new();
    if code(&second) != code_first {
        failures.push(format!(
            "the run of {} file(s) from {}: second run exit {} after {code_first}: {}",
            jobs.len(),
            shown(jobs[0].0),
            code(&second),
            String::from_utf8_lossy(&second.stderr).trim()
        ));
    }
    // A second run that failed has no results to read: its exit is the failure.
    let again = if code(&second) == code_first {
        results_by_file(&second.stdout)
    } else {
        BTreeMap::new()
    };
    let mut local = Totals::default();
    for (((path, targets), old), new) in jobs.iter().zip(&before).zip(&after) {
        let shown = shown(path);
        let got = results.get(*path).map_or(&[][..], Vec::as_slice);
        check_results(&shown, targets, got, &mut local, &mut failures);
        if new != old {
            local.edited_files.push(path.to_path_buf());
            if let Err(e) = only_adds_lines(old, new) {
                failures.push(format!("{shown}: {e}"));
            }
        }
        for r in again.get(*path).into_iter().flatten() {
            if r["status"] == "changed" {
                failures.push(format!(
                    "{shown}::{}: changed again on the second run",
                    r["function"]["qualname"].as_str().unwrap()
                ));
            }
        }
        if std::fs::read(path).unwrap() != *new {
            failures.push(format!("{shown}: the second run changed bytes"));
        }
        local.files += 1;
    }
    let mut t = totals.lock().unwrap();
    t.files += local.files;
    t.functions += local.functions;
    t.decorated += local.decorated;
    t.unchanged += local.unchanged;
    for (why, n) in local.refused {
        *t.refused.entry(why).or_default() += n;
    }
    t.edited_files.extend(local.edited_files);
    t.failures.extend(failures);
}

/// Counts one file's results; a sync def decorated, or a result missing
/// or extra, is a failure.
fn check_results(
    shown: &str,
    targets: &[(String, bool)],
    results: &[serde_json::Value],
    local: &mut Totals,
    failures: &mut Vec<String>,
) {
    // Python keeps the last definition of a name, and so does the tool.
    let is_async = |name: &str| {
        targets
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .is_some_and(|(_, a)| *a)
    };
    for r in results {
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
    let names = names_of(targets).len();
    if results.len() != names {
        failures.push(format!(
            "{shown}: {} results for {names} targets",
            results.len()
        ));
    }
}

/// Files of one corpus package per run, at most this many: one project
/// index then serves them all, which makes the test several times faster
/// than a run per file.
const FILES_PER_RUN: usize = 400;

/// The jobs in runs: files with targets, grouped by corpus package (the
/// first folder under `root`), in chunks of FILES_PER_RUN.
fn runs<'a>(jobs: &[Job<'a>], root: &Path) -> Vec<Vec<Job<'a>>> {
    let package = |p: &Path| {
        let first = p.strip_prefix(root).ok()?.components().next()?;
        Some(first.as_os_str().to_owned())
    };
    let mut out: Vec<Vec<Job>> = Vec::new();
    for job in jobs {
        let same = out
            .last()
            .is_some_and(|run| run.len() < FILES_PER_RUN && package(run[0].0) == package(job.0));
        if !same {
            out.push(Vec::new());
        }
        out.last_mut().unwrap().push(*job);
    }
    out
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
    let jobs: Vec<Job> = targets.iter().filter(|(_, t)| !t.is_empty()).collect();
    let runs = runs(&jobs, work.path());
    let next = AtomicUsize::new(0);
    let totals = Mutex::new(Totals {
        files: targets.len() - jobs.len(),
        ..Totals::default()
    });
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                while let Some(run) = runs.get(next.fetch_add(1, Ordering::Relaxed)) {
                    check_files(&bin, run, work.path(), &totals);
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
