//! The pre-commit hook, end to end: a real `pre-commit` (pinned in
//! scripts/requirements-test.txt) runs this repository's
//! `.pre-commit-hooks.yaml` on a temporary git repository. It builds the hook
//! with `cargo install` (`language: rust`), so the first run takes minutes;
//! the build goes to target/precommit-cargo and pre-commit's cache to
//! target/precommit-home, so later runs are quicker.
//!
//! The `language: python` hook is tested the same way: pre-commit
//! pip-installs the checkout into the hook's virtualenv, pip's build
//! isolation fetches maturin from the package registry, and maturin's cargo
//! builds in target/release-tests, the folder scripts/release-bin.sh fills,
//! so only this crate is compiled again (pre-commit's clone of the
//! repository is another path to cargo), not its dependencies.
//!
//! `pre-commit try-repo` points the hook repository at this checkout: in a
//! clean checkout (CI) it uses HEAD; with uncommitted changes to tracked
//! files it commits them to a shadow copy first, so what is tested is what
//! is on disk.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;

const REPO: &str = env!("CARGO_MANIFEST_DIR");
/// Far above a cold release build on a small machine; a hung build fails.
const TIMEOUT: Duration = Duration::from_secs(30 * 60);

fn pre_commit() -> PathBuf {
    PathBuf::from(common::venv_python()).with_file_name("pre-commit")
}

/// Runs a command to completion, killing it after TIMEOUT.
fn run_bounded(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    let start = Instant::now();
    // Read the pipes on threads so a chatty child cannot block on a full pipe.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut buf).ok();
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut buf).ok();
        buf
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("waits") {
            break status;
        }
        if start.elapsed() > TIMEOUT {
            child.kill().ok();
            panic!("timed out after {TIMEOUT:?}: {cmd:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `hook` of this repository on `work`'s files; `env` is what the
/// hook's build needs. Returns whether it passed and everything it printed.
fn try_repo(work: &Path, hook: &str, env: &[(&str, PathBuf)]) -> (bool, String) {
    let target = Path::new(REPO).join("target");
    let mut cmd = Command::new(pre_commit());
    cmd.args(["try-repo", REPO, hook, "--all-files", "--color", "never"])
        .current_dir(work)
        .env("PRE_COMMIT_HOME", target.join("precommit-home"))
        // Both builds resolve from the local crate cache the test build filled:
        // cargo install ignores Cargo.lock, maturin's cargo keeps it.
        .env("CARGO_NET_OFFLINE", "true");
    for (key, value) in env {
        cmd.env(key, value);
    }
    let out = run_bounded(&mut cmd);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A git repository in a temporary folder holding `app.py` (and a file the
/// hook must not read).
fn project(app: &str) -> tempfile::TempDir {
    let work = tempfile::Builder::new()
        .prefix("precommit-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let dir = work.path();
    git(dir, &["init", "-q"]);
    fs::write(dir.join("app.py"), app).unwrap();
    fs::write(dir.join("README.md"), "not python\n").unwrap();
    git(dir, &["add", "."]);
    work
}

const BAD_KEY: &str = "from cashews import cache\n\ncache.setup(\"mem://\")\n\n\n@cache(ttl=\"1h\", key=\"f:{a}\")\nasync def f(a, b):\n    return a + b\n";

/// Runs `hook` on a bad key, then on the key fixed.
fn fails_then_passes(hook: &str, env: &[(&str, PathBuf)]) {
    let work = project(BAD_KEY);
    let dir = work.path();
    let (ok, output) = try_repo(dir, hook, env);
    assert!(!ok, "the hook passed on a bad key:\n{output}");
    assert!(
        output.contains("app.py:6:22: CA101 key \"f:{a}\" leaves out `b`"),
        "{output}"
    );

    let fixed = BAD_KEY.replace("key=\"f:{a}\"", "key=\"f:{a}:{b}\"");
    fs::write(dir.join("app.py"), fixed).unwrap();
    git(dir, &["add", "."]);
    let (ok, output) = try_repo(dir, hook, env);
    assert!(ok, "the hook failed on the fixed file:\n{output}");
    assert!(output.contains("Passed"), "{output}");
}

#[test]
fn precommit_hook_fails_on_a_bad_key_and_passes_once_fixed() {
    let cargo = Path::new(REPO).join("target/precommit-cargo");
    fails_then_passes("cashews-add-lint", &[("CARGO_TARGET_DIR", cargo)]);
}

/// The `language: python` hook: pip builds the wheel with maturin
/// (`bindings = "bin"`) into the hook's own virtualenv.
#[test]
fn python_precommit_hook_fails_on_a_bad_key_and_passes_once_fixed() {
    // The shared release build, so maturin's cargo finds the dependencies built.
    let release = PathBuf::from(common::release_bin());
    let target = release
        .ancestors()
        .nth(2)
        .expect("target/release-tests")
        .to_path_buf();
    fails_then_passes("cashews-add-lint-python", &[("CARGO_TARGET_DIR", target)]);
}
