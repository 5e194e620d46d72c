//! The pre-commit hooks, end to end: a real `pre-commit` (pinned in
//! scripts/requirements-test.txt) runs this repository's
//! `.pre-commit-hooks.yaml` on a temporary git repository, whose
//! `.pre-commit-config.yaml` names this checkout as the hook repository.
//!
//! `cashews-add-lint` (`language: rust`) is built with `cargo install`.
//! `cashews-add-lint-python` (`language: python`) is pip-installed into the
//! hook's virtualenv: pip's build isolation fetches maturin from the package
//! registry. Both builds (cargo install's, maturin's cargo) use
//! target/release-tests, the folder scripts/release-bin.sh fills with the
//! same release profile and the same locked versions, so nothing is
//! compiled again: a release build of its own would take minutes.
//!
//! pre-commit keeps each hook environment in target/precommit-home by
//! repository and revision, so a hook is built once per revision and the
//! test's two runs (and later test runs) reuse it. `pre-commit try-repo`
//! would build it on every call: it uses a temporary store. The revision is
//! HEAD when the tracked files are committed (CI); otherwise they are
//! committed to target/precommit-shadow first, with a fixed author and date
//! so that the same files give the same revision, and what is tested is
//! what is on disk.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
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

fn git(dir: &Path, args: &[&str]) -> String {
    git_with_input(dir, args, b"")
}

/// Runs git in `dir` with `input` on its stdin; returns its stdout.
fn git_with_input(dir: &Path, args: &[&str], input: &[u8]) -> String {
    let mut child = Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("git runs");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The hook repository and revision for the config (see the module doc);
/// made once per test binary, as both tests use it.
fn hook_repo() -> &'static (PathBuf, String) {
    static REPO_REV: OnceLock<(PathBuf, String)> = OnceLock::new();
    REPO_REV.get_or_init(|| {
        let repo = Path::new(REPO);
        let changed = git(repo, &["status", "--porcelain", "--untracked-files=no"]);
        if changed.is_empty() {
            return (repo.to_path_buf(), git(repo, &["rev-parse", "HEAD"]));
        }
        // The shadow is named by what it holds, and made under a name of
        // this process's own before it takes that name: each test runs in
        // its own process (nextest), and two must not build one at once.
        let diff = Command::new("git")
            .args(["diff", "HEAD", "--binary"])
            .current_dir(repo)
            .output()
            .unwrap();
        let head = git(repo, &["rev-parse", "HEAD"]);
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(&(&head, &diff.stdout), &mut hasher);
        let name = format!(
            "precommit-shadow-{:016x}",
            std::hash::Hasher::finish(&hasher)
        );
        let shadow = repo.join("target").join(name);
        if shadow.join(".git").is_dir() {
            return (shadow.clone(), git(&shadow, &["rev-parse", "HEAD"]));
        }
        let building = repo
            .join("target")
            .join(format!("precommit-shadow-building-{}", std::process::id()));
        let _ = fs::remove_dir_all(&building);
        fs::create_dir_all(&building).unwrap();
        git(&building, &["init", "-q"]);
        git(&building, &["fetch", "-q", REPO, "HEAD"]);
        git(
            &building,
            &["checkout", "-q", "--force", "--detach", "FETCH_HEAD"],
        );
        git_with_input(&building, &["apply", "--index", "-"], &diff.stdout);
        let fixed = "2000-01-01T00:00:00Z";
        let commit = Command::new("git")
            .args(["-c", "user.name=test", "-c", "user.email=test@localhost"])
            .args(["-c", "commit.gpgsign=false"])
            .args(["commit", "-q", "--no-verify", "-m", "uncommitted changes"])
            .env("GIT_AUTHOR_DATE", fixed)
            .env("GIT_COMMITTER_DATE", fixed)
            .current_dir(&building)
            .output()
            .unwrap();
        assert!(commit.status.success(), "{commit:?}");
        // Another process may have finished the same shadow first: then
        // the rename fails and that one, identical, serves.
        if fs::rename(&building, &shadow).is_err() {
            let _ = fs::remove_dir_all(&building);
        }
        (shadow.clone(), git(&shadow, &["rev-parse", "HEAD"]))
    })
}

/// Runs `hook` of this repository on `work`'s files; `env` is what the
/// hook's build needs. Returns whether it passed and everything it printed.
fn run_hook(work: &Path, hook: &str, env: &[(&str, PathBuf)]) -> (bool, String) {
    let (repo, rev) = hook_repo();
    let config = format!(
        "repos:\n  - repo: {}\n    rev: {rev}\n    hooks:\n      - id: {hook}\n",
        repo.display()
    );
    fs::write(work.join(".pre-commit-config.yaml"), config).unwrap();
    git(work, &["add", "."]);
    let target = Path::new(REPO).join("target");
    let mut cmd = Command::new(pre_commit());
    cmd.args(["run", "--all-files", "--color", "never"])
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
    work
}

const BAD_KEY: &str = "from cashews import cache\n\ncache.setup(\"mem://\")\n\n\n@cache(ttl=\"1h\", key=\"f:{a}\")\nasync def f(a, b):\n    return a + b\n";

/// Runs `hook` on a bad key, then on the key fixed.
fn fails_then_passes(hook: &str, env: &[(&str, PathBuf)]) {
    let work = project(BAD_KEY);
    let dir = work.path();
    let (ok, output) = run_hook(dir, hook, env);
    assert!(!ok, "the hook passed on a bad key:\n{output}");
    assert!(
        output.contains("app.py:6:22: CA101 key \"f:{a}\" leaves out `b`"),
        "{output}"
    );

    let fixed = BAD_KEY.replace("key=\"f:{a}\"", "key=\"f:{a}:{b}\"");
    fs::write(dir.join("app.py"), fixed).unwrap();
    let (ok, output) = run_hook(dir, hook, env);
    assert!(ok, "the hook failed on the fixed file:\n{output}");
    assert!(output.contains("Passed"), "{output}");
}

/// The shared release build's target folder (see the module doc).
fn release_target() -> PathBuf {
    let release = PathBuf::from(common::release_bin());
    release
        .ancestors()
        .nth(2)
        .expect("target/release-tests")
        .to_path_buf()
}

#[test]
fn precommit_hook_fails_on_a_bad_key_and_passes_once_fixed() {
    fails_then_passes(
        "cashews-add-lint",
        &[("CARGO_TARGET_DIR", release_target())],
    );
}

/// The `language: python` hook: pip builds the wheel with maturin
/// (`bindings = "bin"`) into the hook's own virtualenv.
#[test]
fn python_precommit_hook_fails_on_a_bad_key_and_passes_once_fixed() {
    fails_then_passes(
        "cashews-add-lint-python",
        &[("CARGO_TARGET_DIR", release_target())],
    );
}
