//! Code the tool writes runs under real cashews (issue 17, item 4): a setup
//! placed below a late module-level `import os`, a key prefix from a folder
//! whose name holds braces, and keys for parameters Python normalises
//! (NFKC). Each project is rewritten with `--write`, then imported and
//! called twice with the pinned venv (scripts/pyenv.sh); the keys cashews
//! stored are read back.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use common::{code, run, stderr, stdout};

/// Imports `module` from `folder`, calls `function(*args)` twice and prints
/// the two results and the keys in the cache, one per line.
fn call_twice(folder: &Path, module: &str, function: &str, args: &str) -> String {
    let script = format!(
        r#"
import asyncio, importlib, sys
sys.path.insert(0, {folder:?})
calls = []
m = importlib.import_module({module:?})
async def main():
    from cashews import cache
    print(await m.{function}({args}))
    print(await m.{function}({args}))
    print(sorted([k async for k in cache.scan("*")]))
asyncio.run(main())
"#,
        folder = folder.to_str().unwrap()
    );
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(common::venv_python())
        .arg("-c")
        .arg(script)
        .env("HOME", home.path())
        .env("CACHE_URL", "mem://")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python: {}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

fn write_and_lint(dir: &Path, target: &str) {
    let out = run(dir, &[target, "--write"]);
    assert_eq!(code(&out), 0, "{target}: {}", stderr(&out));
    let file = target.split("::").next().unwrap();
    let out = run(dir, &["lint", file]);
    assert_eq!(code(&out), 0, "{target}: {}{}", stdout(&out), stderr(&out));
}

/// The setup went below the imports block, above a later `import os`:
/// NameError at import.
#[test]
fn the_setup_goes_below_a_late_module_level_import() {
    let text = "from cashews import cache\n\n\nasync def get_user(user_id):\n    return {\"id\": user_id}\n\n\nimport os\n\nDEBUG = os.environ.get(\"DEBUG\")\n";
    let dir = common::project(&[("app.py", text)]);
    write_and_lint(dir.path(), "app.py::get_user");
    let new = std::fs::read_to_string(dir.path().join("app.py")).unwrap();
    let (setup, import) = (
        new.find("cache.setup(").unwrap(),
        new.find("import os").unwrap(),
    );
    assert!(setup > import, "{new}");
    let printed = call_twice(dir.path(), "app", "get_user", "1");
    assert!(printed.starts_with("{'id': 1}\n{'id': 1}\n"), "{printed}");
}

/// A folder named `we}ird{x}` went into the prefix as is: `Single '}'`, or
/// `{x.__class__}` formatted as `<class 'int'>`.
#[test]
fn braces_in_folder_names_are_literal_in_keys() {
    let text =
        "from cashews import cache\n\n\nasync def get_user(user_id):\n    return user_id * 2\n";
    for folder in ["we}ird{x}", "{user_id.__class__}"] {
        let dir = common::project(&[(&format!("{folder}/users.py"), text)]);
        write_and_lint(dir.path(), &format!("{folder}/users.py::get_user"));
        let printed = call_twice(&dir.path().join(folder), "users", "get_user", "21");
        assert_eq!(
            printed,
            format!("42\n42\n['{folder}.users:get_user:21']\n"),
            "{folder}"
        );
    }
}

/// Python normalises identifiers (NFKC), str.format does not: `{ﬁle}` is
/// WrongKeyError, the parameter is named `file` at run time.
#[test]
fn keys_name_parameters_as_python_normalises_them() {
    let text = "from cashews import cache\n\n\nasync def read(\u{fb01}le, cafe\u{301}=1):\n    return (\u{fb01}le, cafe\u{301})\n";
    let dir = common::project(&[("names.py", text)]);
    write_and_lint(dir.path(), "names.py::read");
    let new = std::fs::read_to_string(dir.path().join("names.py")).unwrap();
    assert!(
        new.contains("key=\"names:read:{file}:{caf\u{e9}}\""),
        "{new}"
    );
    let printed = call_twice(dir.path(), "names", "read", "'a', 2");
    assert_eq!(printed, "('a', 2)\n('a', 2)\n['names:read:a:2']\n");
}

/// The projects the tool is run on by hand or in tests: every fixture
/// folder holding a pyproject.toml, and the bundled example.
fn linted_projects() -> Vec<std::path::PathBuf> {
    let mut out = vec![common::repo().join("examples/shop")];
    let mut stack = vec![common::repo().join("fixtures")];
    while let Some(dir) = stack.pop() {
        if dir.join("pyproject.toml").is_file() {
            out.push(dir);
            continue;
        }
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            }
        }
    }
    out.sort();
    out
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// Every async def at module level or in a top-level class, outside tests:
/// `path::qualname`, paths relative to `dir`.
fn async_targets(python: &str, dir: &Path) -> Vec<String> {
    let script = r#"
import ast, pathlib, sys
root = pathlib.Path(sys.argv[1])
for path in sorted(root.rglob("*.py")):
    rel = path.relative_to(root).as_posix()
    if path.name.startswith("test_") or "tests/" in rel:
        continue
    tree = ast.parse(path.read_bytes())
    for node in tree.body:
        if isinstance(node, ast.AsyncFunctionDef):
            print(f"{rel}::{node.name}")
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.AsyncFunctionDef):
                    print(f"{rel}::{node.name}.{item.name}")
"#;
    let out = Command::new(python)
        .args(["-c", script, dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).lines().map(str::to_string).collect()
}

/// `ruff check --select I,E501` findings counted by (file, code).
fn ruff_findings(ruff: &Path, dir: &Path) -> BTreeMap<(String, String), usize> {
    let out = Command::new(ruff)
        .args([
            "check",
            "--no-cache",
            "--select",
            "I,E501",
            "--output-format",
            "json",
            "--exit-zero",
            ".",
        ])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "ruff check: {}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut counts = BTreeMap::new();
    for f in doc.as_array().unwrap() {
        let file = f["filename"].as_str().unwrap();
        let rel = Path::new(file).strip_prefix(dir).unwrap_or(Path::new(file));
        let code = f["code"].as_str().unwrap_or("?").to_string();
        *counts.entry((rel.display().to_string(), code)).or_default() += 1;
    }
    counts
}

/// The files `ruff format --check` would reformat.
fn ruff_unformatted(ruff: &Path, dir: &Path) -> BTreeSet<String> {
    let out = Command::new(ruff)
        .args([
            "format",
            "--no-cache",
            "--check",
            "--output-format",
            "concise",
            ".",
        ])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(code(&out) <= 1, "ruff format: {}", stderr(&out));
    // `FILE:LINE:COL: unformatted: File would be reformatted`, one per file.
    let files: BTreeSet<String> = stdout(&out)
        .lines()
        .filter(|l| l.contains(": unformatted: "))
        .filter_map(|l| l.split(':').next())
        .map(str::to_string)
        .collect();
    // The check can fail: ruff said files need formatting, so some are named.
    assert!(
        code(&out) == 0 || !files.is_empty(),
        "ruff format: {}",
        stdout(&out)
    );
    files
}

/// Issue 16: the code `--write` adds (imports, decorators, setup) passes
/// the project's own ruff: no new I001 or E501 finding, and no file that
/// `ruff format` accepted before is one it would reformat after.
#[test]
fn written_code_passes_ruff_on_every_fixture_project() {
    let python = common::venv_python();
    let ruff = Path::new(&python).with_file_name("ruff");
    let mut failures = Vec::new();
    for project in linted_projects() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(project.file_name().unwrap());
        copy_tree(&project, &dir);
        let targets = async_targets(&python, &dir);
        if targets.is_empty() {
            continue;
        }
        let (checked, formatted) = (ruff_findings(&ruff, &dir), ruff_unformatted(&ruff, &dir));
        let mut args: Vec<&str> = targets.iter().map(String::as_str).collect();
        args.extend(["--write", "--force"]);
        let out = run(&dir, &args);
        assert!(code(&out) <= 1, "{}: {}", project.display(), stderr(&out));
        let name = project
            .strip_prefix(common::repo())
            .unwrap()
            .display()
            .to_string();
        for (key, n) in ruff_findings(&ruff, &dir) {
            let before = checked.get(&key).copied().unwrap_or(0);
            if n > before {
                failures.push(format!("{name}: {} {}: {before} -> {n}", key.0, key.1));
            }
        }
        for file in ruff_unformatted(&ruff, &dir).difference(&formatted) {
            failures.push(format!("{name}: {file} no longer formatted"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
