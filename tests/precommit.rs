//! The pre-commit hook, end to end: a real `pre-commit` (pinned in
//! scripts/requirements-test.txt) runs this repository's
//! `.pre-commit-hooks.yaml` on a temporary git repository. It builds the hook
//! with `cargo install` (`language: rust`), so the first run takes minutes;
//! the build goes to target/precommit-cargo and pre-commit's cache to
//! target/precommit-home, so later runs are quicker.
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

fn try_repo(pre_commit: &Path, work: &Path) -> (bool, String) {
    let target = Path::new(REPO).join("target");
    let out = run_bounded(
        Command::new(pre_commit)
            .args([
                "try-repo",
                REPO,
                "cashews-add-lint",
                "--all-files",
                "--color",
                "never",
            ])
            .current_dir(work)
            .env("PRE_COMMIT_HOME", target.join("precommit-home"))
            .env("CARGO_TARGET_DIR", target.join("precommit-cargo"))
            // cargo install resolves dependencies afresh (it ignores Cargo.lock):
            // offline, it takes them from the local cache the test build filled.
            .env("CARGO_NET_OFFLINE", "true"),
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn precommit_hook_fails_on_a_bad_key_and_passes_once_fixed() {
    let pre_commit = pre_commit();
    let work = tempfile::Builder::new()
        .prefix("precommit-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let dir = work.path();
    git(dir, &["init", "-q"]);
    let app = dir.join("app.py");
    fs::write(
        &app,
        "from cashews import cache\n\ncache.setup(\"mem://\")\n\n\n@cache(ttl=\"1h\", key=\"f:{a}\")\nasync def f(a, b):\n    return a + b\n",
    )
    .unwrap();
    fs::write(dir.join("README.md"), "not python\n").unwrap();
    git(dir, &["add", "."]);

    let (ok, output) = try_repo(&pre_commit, dir);
    assert!(!ok, "the hook passed on a bad key:\n{output}");
    assert!(
        output.contains("app.py:6:22: CA101 key \"f:{a}\" leaves out `b`"),
        "{output}"
    );

    fs::write(
        &app,
        fs::read_to_string(&app)
            .unwrap()
            .replace("key=\"f:{a}\"", "key=\"f:{a}:{b}\""),
    )
    .unwrap();
    git(dir, &["add", "."]);
    let (ok, output) = try_repo(&pre_commit, dir);
    assert!(ok, "the hook failed on the fixed file:\n{output}");
    assert!(output.contains("Passed"), "{output}");
}
