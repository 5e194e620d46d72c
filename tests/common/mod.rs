//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test crate uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_cashews-add");

/// A temporary project folder (with a pyproject.toml so module names are stable).
pub fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pyproject.toml"),
        "[project]\nname = \"fx\"\nversion = \"0.1.0\"\n",
    )
    .unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

/// Runs the binary in `dir`.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1) // -1: killed by a signal (a crash)
}

/// Python's own parser as the referee: Err(message) when the file does not parse.
pub fn python_parses(path: &Path) -> Result<(), String> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import ast,sys; ast.parse(open(sys.argv[1], 'rb').read())",
            path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

pub fn fixture_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(kind)
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn bin() -> &'static str {
    BIN
}

/// The `status` of every result in a `--format json` run.
pub fn statuses(out: &Output) -> Vec<String> {
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            stderr(out)
        )
    });
    doc["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["status"].as_str().expect("status").to_string())
        .collect()
}

/// Every original line is still there, byte for byte (line ending
/// included) and in order; the only line that may change is an import that
/// gained `, name` or `name, ` (a merged `from cashews import …`), wrapped
/// in parentheses when that made it too long.
pub fn only_adds_lines(old: &[u8], new: &[u8]) -> Result<(), String> {
    let (old, new) = (joined_imports(old), joined_imports(new));
    let old_lines: Vec<&[u8]> = old.split_inclusive(|b| *b == b'\n').collect();
    let mut i = 0;
    for line in new.split_inclusive(|b| *b == b'\n') {
        let Some(want) = old_lines.get(i) else { break };
        if line == *want || is_merged_import(want, line) {
            i += 1;
        }
    }
    match old_lines.get(i) {
        None => Ok(()),
        Some(lost) => Err(format!(
            "original line {} lost or changed: {:?}",
            i + 1,
            String::from_utf8_lossy(lost)
        )),
    }
}

fn is_merged_import(old: &[u8], new: &[u8]) -> bool {
    let Some(extra) = new.len().checked_sub(old.len()) else {
        return false;
    };
    let is_name = |name: &[u8]| {
        !name.is_empty() && name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
    };
    (0..=old.len()).any(|i| {
        let added = &new[i..i + extra];
        new.starts_with(&old[..i])
            && new.ends_with(&old[i..])
            && (added.strip_prefix(b", ").is_some_and(is_name)
                || added.strip_suffix(b", ").is_some_and(is_name))
    })
}

/// `from m import (`, one name a line, `)  # c` joined to `from m import a,
/// b  # c` (comments inside dropped), so that a statement wrapped when a
/// name was merged into it compares with its one-line self. Text that is
/// not UTF-8 is left as it is.
fn joined_imports(text: &[u8]) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(text) else {
        return text.to_vec();
    };
    let mut out = String::with_capacity(text.len());
    let mut lines = text.split_inclusive('\n');
    while let Some(line) = lines.next() {
        let body = line.trim_end_matches(['\r', '\n']);
        let head = body
            .strip_suffix(" import (")
            .filter(|h| h.trim_start().starts_with("from "));
        let Some(head) = head else {
            out.push_str(line);
            continue;
        };
        let mut taken = line.to_string();
        let mut names: Vec<&str> = Vec::new();
        let mut joined = None;
        for next in lines.by_ref() {
            taken.push_str(next);
            if let Some(rest) = next.trim_start().strip_prefix(')') {
                joined = Some(format!("{head} import {}{rest}", names.join(", ")));
                break;
            }
            let code = next.split('#').next().unwrap_or_default();
            names.extend(code.split(',').map(str::trim).filter(|n| !n.is_empty()));
        }
        out.push_str(joined.as_deref().unwrap_or(&taken));
    }
    out.into_bytes()
}

/// Runs `scripts/NAME` (its progress shown) and returns the last line it
/// prints: the set-up scripts end with the path they made.
pub fn repo_script(name: &str) -> String {
    let out = Command::new("bash")
        .arg(repo().join("scripts").join(name))
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("scripts/{name}: {e}"));
    assert!(out.status.success(), "scripts/{name} failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_else(|| panic!("scripts/{name} printed nothing"))
        .trim()
        .to_string()
}

/// The release binary (scripts/release-bin.sh): for the tests that run the
/// tool thousands of times, where a debug build takes an hour.
pub fn release_bin() -> String {
    repo_script("release-bin.sh")
}

/// The pinned venv's python (scripts/pyenv.sh is idempotent and locked).
pub fn venv_python() -> String {
    repo_script("pyenv.sh")
}

/// The Python used as the referee: $PYTHON, else `python3`.
pub fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// Python files (of those given) that Python's own `ast` cannot parse, with
/// the reason; one interpreter for all of them. The list goes through a file.
pub fn python_rejects(python: &str, files: &[PathBuf]) -> Vec<String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let list = dir.path().join("files.txt");
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    std::fs::write(&list, names.join("\n")).expect("write list");
    let script = r#"
import ast, sys, warnings
warnings.simplefilter("ignore")
for path in open(sys.argv[1], encoding="utf-8").read().splitlines():
    try:
        ast.parse(open(path, "rb").read(), path)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        print(f"{path}: {type(e).__name__}: {e}")
"#;
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(&list)
        .output()
        .unwrap_or_else(|e| panic!("{python}: {e} (Python 3 is the referee)"));
    assert!(
        out.status.success(),
        "python referee failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Copies a folder tree (a fixture project into a temporary folder).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
