//! Bad input is refused in one line of bounded length, before anything is
//! planned (issue 17, item 9): unsafe or invalid backend URLs, a --setup-in
//! outside the project, config errors, huge targets, options on targets
//! that are already cached. Also: diff headers `git apply` takes for files
//! outside the current folder, distinct cache folders for names the slug
//! loses, and a private cache folder.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use common::{code, run, stderr, stdout};

const GOOD: &str = "async def get_user(user_id):\n    return user_id\n";
const CACHED: &str = "from cashews import cache\n\n\n@cache(ttl=\"1h\", key=\"app:get_user:{user_id}\")\nasync def get_user(user_id):\n    return user_id\n";

/// Exit 2, one line naming `needle`, not too long, nothing written.
fn refused(dir: &Path, args: &[&str], needle: &str) -> String {
    let before = std::fs::read(dir.join("app.py")).ok();
    let out = run(dir, args);
    let err = stderr(&out);
    assert_eq!(code(&out), 2, "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    assert!(err.starts_with("error: "), "{args:?}: {err}");
    assert!(
        err.chars().count() < 700,
        "{args:?}: {} characters",
        err.len()
    );
    assert!(err.contains(needle), "{args:?}: {err}");
    assert!(!err.contains("internal error"), "{args:?}: {err}");
    assert_eq!(std::fs::read(dir.join("app.py")).ok(), before, "{args:?}");
    err
}

#[test]
fn unsafe_or_invalid_backend_urls_are_refused() {
    let dir = common::project(&[("app.py", GOOD)]);
    let d = dir.path();
    let t = "app.py::get_user";
    refused(
        d,
        &[t, "--write", "--backend-url", "disk://?directory=/tmp"],
        "/tmp can be written by every user (mode 1777)",
    );
    refused(
        d,
        &[t, "--backend-url", "disk://?directory=/tmp/my-cache"],
        "would be made in /tmp, which every user can write to",
    );
    refused(
        d,
        &[t, "--backend-url", "redis://a b"],
        "not a valid URL: it holds a space",
    );
    refused(d, &[t, "--backend-url", "redis://:6379/0"], "no host");
    refused(
        d,
        &[t, "--backend-url", "redis://host:99999/0"],
        "port \"99999\" is not 1-65535",
    );
    refused(
        d,
        &[t, "--backend-url", "redis://host:6379/zero"],
        "database \"zero\" is not a number",
    );
    // The same rules for the config's backend-url; a NUL is named, not "internal error".
    std::fs::write(
        d.join("pyproject.toml"),
        "[project]\nname = \"fx\"\n[tool.cashews-add]\nbackend-url = \"mem://\\u0000\"\n",
    )
    .unwrap();
    refused(d, &[t], "the character '\\0'");
    // Fine URLs still pass.
    for url in [
        "mem://",
        "redis://cache:6379/0",
        "rediss://u:p@[::1]:6380",
        "disk://?directory=~/.cache/x&shards=0",
    ] {
        std::fs::write(d.join("pyproject.toml"), "[project]\nname = \"fx\"\n").unwrap();
        let out = run(d, &[t, "--backend-url", url]);
        assert_eq!(code(&out), 0, "{url}: {}", stderr(&out));
    }
}

#[test]
fn setup_in_must_be_a_python_module_of_the_project() {
    let dir = common::project(&[("app.py", GOOD)]);
    let d = dir.path();
    refused(
        d,
        &["app.py::get_user", "--setup-in", "/etc/hostname"],
        "--setup-in /etc/hostname: not a Python module",
    );
    let outside = tempfile::tempdir().unwrap();
    let other = outside.path().join("main.py");
    std::fs::write(&other, "x = 1\n").unwrap();
    refused(
        d,
        &["app.py::get_user", "--setup-in", other.to_str().unwrap()],
        "outside the project",
    );
}

#[test]
fn config_errors_are_one_line() {
    let dir = common::project(&[("app.py", GOOD)]);
    let d = dir.path();
    std::fs::write(
        d.join("pyproject.toml"),
        "[project]\nname = \"fx\"\n[[tool.cashews-add.extra-side-effects]]\ncategory = \"db_write\"\nseverity = \"block\"\nmethods = [\"persist\"]\nreceiver = \"(?i\"\nnote = \"n\"\n",
    )
    .unwrap();
    refused(
        d,
        &["app.py::get_user"],
        "bad receiver regex \"(?i\": expected flag but got end of regex",
    );
    std::fs::write(d.join("pyproject.toml"), b"[project]\nname = \"f\0x\"\n").unwrap();
    refused(d, &["app.py::get_user"], "invalid TOML");
}

#[test]
fn huge_arguments_give_a_short_line() {
    let dir = common::project(&[("app.py", GOOD)]);
    let d = dir.path();
    let long = "x".repeat(100_000);
    refused(d, &[&format!("app.py::{long}")], "characters]");
    refused(d, &[&format!("{long}.py::f")], "characters]");
    refused(
        d,
        &["app.py::get_user", "--key", &format!("{{{long}}}")],
        "characters]",
    );
}

/// `--ttl 5x` on a function already cached exited 0: options were checked
/// only when a decorator was planned.
#[test]
fn options_are_checked_before_any_planning() {
    let dir = common::project(&[("app.py", CACHED)]);
    let d = dir.path();
    refused(d, &["app.py::get_user", "--ttl", "5x"], "--ttl: ");
    refused(d, &["app.py::get_user", "--key", "x:{user_id"], "--key");
    refused(
        d,
        &["app.py::get_user", "--backend-url", "disk:///var/cache"],
        "--backend-url",
    );
}

fn git(dir: &Path, args: &[&str]) -> Output {
    Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// `../a.py` gave `--- a/../a.py`, which `git apply` rejects; a target
/// outside the current folder gave `--- a/tmp/...`.
#[test]
fn diffs_of_files_outside_the_current_folder_apply_with_git() {
    let dir = common::project(&[("app.py", GOOD), ("sub/readme.txt", "")]);
    let d = dir.path();
    assert!(git(d, &["init", "-q"]).status.success());
    let out = run(&d.join("sub"), &["../app.py::get_user"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let diff = stdout(&out);
    assert!(diff.starts_with("--- a/app.py\n+++ b/app.py\n"), "{diff}");
    let note = format!(
        "note: a changed file is outside the current folder, so the diff's paths are relative to {0}: apply it with `git -C {0} apply`",
        std::fs::canonicalize(d).unwrap().display()
    );
    assert!(stderr(&out).contains(&note), "{}", stderr(&out));
    std::fs::write(d.join("patch.diff"), &diff).unwrap();
    let applied = git(d, &["apply", "patch.diff"]);
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    assert!(
        std::fs::read_to_string(d.join("app.py"))
            .unwrap()
            .contains("@cache(")
    );

    // From an unrelated folder, by absolute path.
    let other = common::project(&[("lib/app.py", GOOD)]);
    let elsewhere = tempfile::tempdir().unwrap();
    let target = format!("{}::get_user", other.path().join("lib/app.py").display());
    let out = run(elsewhere.path(), &[&target, "--no-setup"]);
    let diff = stdout(&out);
    assert!(diff.starts_with("--- a/lib/app.py\n"), "{diff}");
    std::fs::write(elsewhere.path().join("p.diff"), &diff).unwrap();
    let applied = Command::new("git")
        .args(["-C", other.path().to_str().unwrap(), "apply"])
        .arg(elsewhere.path().join("p.diff"))
        .output()
        .unwrap();
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
}

fn setup_url(dir: &Path) -> String {
    let out = run(dir, &["app.py::get_user", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["setup"]["url"].as_str().unwrap().to_string()
}

/// Empty and non-ASCII project names all shared `~/.cache/cashews/app`.
#[test]
fn names_the_slug_loses_still_get_their_own_cache_folder() {
    let mut urls = Vec::new();
    for name in ["", "проект", "данные", "データ"] {
        let dir = common::project(&[("app.py", GOOD)]);
        std::fs::write(
            dir.path().join("pyproject.toml"),
            format!("[project]\nname = \"{name}\"\nversion = \"0.1.0\"\n"),
        )
        .unwrap();
        urls.push(setup_url(dir.path()));
    }
    for url in &urls {
        assert!(
            url.starts_with("disk://?directory=~/.cache/cashews/app-"),
            "{url}"
        );
    }
    urls.sort();
    urls.dedup();
    assert_eq!(urls.len(), 4, "{urls:?}");
}

/// The default disk cache was readable by other users (0755 folders).
#[test]
fn the_cache_folder_is_made_private() {
    let home = tempfile::tempdir().unwrap();
    let dir = common::project(&[("app.py", GOOD), ("b.py", GOOD)]);
    let write = |target: &str| {
        Command::new(common::BIN)
            .args([target, "--write"])
            .current_dir(dir.path())
            .env("HOME", home.path())
            .output()
            .unwrap()
    };
    let out = write("app.py::get_user");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let folder = home.path().join(".cache/cashews/fx-0.1.0");
    let mode = std::fs::metadata(&folder).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    // An existing folder others can read is named (the setup is added to
    // b.py's project only when a.py's is undone: start again).
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(dir.path().join("app.py"), GOOD).unwrap();
    let out = write("app.py::get_user");
    assert!(
        stderr(&out).contains("can be read by other users (mode 755): `chmod 700"),
        "{}",
        stderr(&out)
    );
}
