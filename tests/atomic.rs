//! `--write` over several files is all or nothing: every file is planned and
//! validated, and staged beside itself (temp file, fsync), before the first
//! rename; any error leaves every original as it was, with no temp files.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{code, run, stderr};

const GOOD: &str = "async def get_user(user_id):\n    return user_id\n";

fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::write(dir.path().join("pyproject.toml"), "").unwrap();
    for (name, text) in files {
        fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn unwritable_second_file_leaves_the_first_untouched() {
    let dir = project(&[("a.py", GOOD), ("b.py", GOOD)]);
    let b = dir.path().join("b.py");
    fs::set_permissions(&b, fs::Permissions::from_mode(0o444)).unwrap();
    let out = run(
        dir.path(),
        &["--write", "--no-setup", "a.py::get_user", "b.py::get_user"],
    );
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("b.py: read-only file"),
        "{}",
        stderr(&out)
    );
    assert_eq!(fs::read_to_string(dir.path().join("a.py")).unwrap(), GOOD);
    assert_eq!(fs::read_to_string(&b).unwrap(), GOOD);
    assert_eq!(names_in(dir.path()), ["a.py", "b.py", "pyproject.toml"]);
}

#[test]
fn bad_second_file_stops_the_run_before_any_write() {
    for (b_text, target, message) in [
        ("async def get_user(:\n", "b.py::get_user", "fix the file"),
        (GOOD, "b.py::nope", "no function \"nope\""),
        (GOOD, "missing.py::get_user", "cannot read"),
    ] {
        let dir = project(&[("a.py", GOOD), ("b.py", b_text)]);
        let out = run(dir.path(), &["--write", "a.py::get_user", target]);
        assert_eq!(code(&out), 2, "{target}: {}", stderr(&out));
        assert!(stderr(&out).contains(message), "{target}: {}", stderr(&out));
        assert_eq!(fs::read_to_string(dir.path().join("a.py")).unwrap(), GOOD);
        assert_eq!(names_in(dir.path()), ["a.py", "b.py", "pyproject.toml"]);
    }
}

#[test]
fn all_files_written_when_all_are_fine() {
    let dir = project(&[("a.py", GOOD), ("b.py", GOOD)]);
    let out = run(dir.path(), &["--write", "a.py::get_user", "b.py::get_user"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    for name in ["a.py", "b.py"] {
        let text = fs::read_to_string(dir.path().join(name)).unwrap();
        assert!(text.contains("@cache(ttl=\"1h\""), "{name}: {text}");
    }
    assert_eq!(names_in(dir.path()), ["a.py", "b.py", "pyproject.toml"]);
}
