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

// ---------------------------------------------------------------------------
// Races and crashes (issue 17, items 2, 6 and 7)

use std::io::{BufRead, BufReader, Write as _};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const TWO: &str = "async def f(x):\n    return x\n\n\nasync def g(x):\n    return x\n";

fn spawn(dir: &Path, args: &[&str], stall: Option<&str>) -> Child {
    let mut cmd = Command::new(common::BIN);
    cmd.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(stall) = stall {
        cmd.env("CASHEWS_ADD_TEST_STALL", stall);
    }
    cmd.spawn().unwrap()
}

/// Waits for the child to print "stalled" on stderr.
fn wait_for_stall(child: &mut Child) {
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = lines
        .find_map(|l| l.ok().filter(|l| l.starts_with("stalled")))
        .expect("the run stalls where asked");
    assert!(line.starts_with("stalled"), "{line}");
}

fn setups_in(dir: &Path, names: &[&str]) -> usize {
    names
        .iter()
        .map(|n| {
            fs::read_to_string(dir.join(n))
                .unwrap()
                .matches("cache.setup(")
                .count()
        })
        .sum()
}

/// Files the tool left beside the project's files (temporary files, journals).
fn leftovers(dir: &Path) -> Vec<String> {
    names_in(dir)
        .into_iter()
        .filter(|n| n.contains("cashews-add"))
        .collect()
}

/// `a.py::f --write & a.py::g --write` kept one decorator, both exit 0
/// (20 of 20 rounds). Now the second run waits for the first and reads its result.
#[test]
fn two_writers_on_one_file_never_lose_an_edit() {
    for round in 0..20 {
        let dir = project(&[("a.py", TWO)]);
        let first = spawn(dir.path(), &["a.py::f", "--write"], None);
        let second = spawn(dir.path(), &["a.py::g", "--write"], None);
        let (first, second) = (
            first.wait_with_output().unwrap(),
            second.wait_with_output().unwrap(),
        );
        let text = fs::read_to_string(dir.path().join("a.py")).unwrap();
        for (out, name) in [(&first, "f"), (&second, "g")] {
            let decorated = text.contains(&format!("key=\"a:{name}:{{x}}\")\nasync def {name}"));
            match code(out) {
                0 => assert!(decorated, "round {round}: {name} lost: {text}"),
                2 => assert!(
                    stderr(out).contains("nothing written") && !decorated,
                    "round {round}: {}",
                    stderr(out)
                ),
                other => panic!("round {round}: exit {other}: {}", stderr(out)),
            }
        }
        assert_eq!(setups_in(dir.path(), &["a.py"]), 1, "round {round}: {text}");
        assert!(leftovers(dir.path()).is_empty(), "round {round}");
    }
}

/// Two runs on different files of one project added two setups (6 of 20 rounds).
#[test]
fn two_writers_in_one_project_add_one_setup() {
    for round in 0..20 {
        let dir = project(&[("a.py", GOOD), ("b.py", GOOD)]);
        let a = spawn(dir.path(), &["a.py::get_user", "--write"], None);
        let b = spawn(dir.path(), &["b.py::get_user", "--write"], None);
        for out in [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()] {
            assert_eq!(code(&out), 0, "round {round}: {}", stderr(&out));
        }
        assert_eq!(setups_in(dir.path(), &["a.py", "b.py"]), 1, "round {round}");
    }
}

/// A line an editor saved while the run was planning was lost. Now the run
/// checks, before each rename, that the file is still what it read.
#[test]
fn an_editor_saving_during_the_run_never_loses_its_line() {
    let helpers: String = (0..5000)
        .map(|i| format!("def helper_{i}(x):\n    return x + {i}\n\n"))
        .collect();
    let original = format!("{TWO}\n\n{helpers}");
    let (mut refused, mut written) = (0, 0);
    for round in 0..20u64 {
        let dir = project(&[("a.py", &original)]);
        let path = dir.path().join("a.py");
        let child = spawn(dir.path(), &["a.py::f", "--write", "--no-setup"], None);
        // Spread over the run: early rounds save before it reads, late ones after it writes.
        std::thread::sleep(Duration::from_millis(round * 60));
        let mut editor = fs::OpenOptions::new().append(true).open(&path).unwrap();
        editor.write_all(b"# saved by the editor\n").unwrap();
        drop(editor);
        let out = child.wait_with_output().unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            text.ends_with("# saved by the editor\n"),
            "round {round}: the editor's line is lost (exit {})",
            code(&out)
        );
        match code(&out) {
            0 => {
                assert!(text.contains("@cache("), "round {round}");
                written += 1;
            }
            2 => {
                assert_eq!(
                    stderr(&out),
                    "error: a.py: changed while running, nothing written\n",
                    "round {round}"
                );
                assert_eq!(text, format!("{original}# saved by the editor\n"));
                refused += 1;
            }
            other => panic!("round {round}: exit {other}: {}", stderr(&out)),
        }
        assert!(leftovers(dir.path()).is_empty(), "round {round}");
    }
    eprintln!("editor race: {written} runs wrote, {refused} refused");
}

/// kill -9 mid-write left some files new, some old, and temporary files
/// that no rerun removed. Now every file is old or new, and the next run
/// finishes the write (after the commit point) or undoes it (before).
#[test]
fn a_write_killed_midway_is_finished_or_undone_by_the_next_run() {
    let names = ["a.py", "b.py", "c.py"];
    let args = [
        "a.py::get_user",
        "b.py::get_user",
        "c.py::get_user",
        "--write",
    ];
    for stall in ["staged:1", "staged:3", "renamed:1", "renamed:2"] {
        let dir = project(&[("a.py", GOOD), ("b.py", GOOD), ("c.py", GOOD)]);
        let mut child = spawn(dir.path(), &args, Some(stall));
        wait_for_stall(&mut child);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let renamed = match stall {
            "renamed:1" => 1,
            "renamed:2" => 2,
            _ => 0,
        };
        for (i, name) in names.iter().enumerate() {
            let text = fs::read_to_string(dir.path().join(name)).unwrap();
            let new = text.contains("@cache(");
            assert!(
                text == GOOD || new,
                "{stall}: {name} is neither old nor new"
            );
            assert_eq!(new, i < renamed, "{stall}: {name}");
        }
        assert!(
            !leftovers(dir.path()).is_empty(),
            "{stall}: the journal is there"
        );
        let out = run(dir.path(), &args);
        assert_eq!(code(&out), 0, "{stall}: {}", stderr(&out));
        let note = if renamed > 0 {
            "note: completed the write of an interrupted cashews-add run"
        } else {
            "note: an interrupted cashews-add run had replaced none of its"
        };
        assert!(stderr(&out).contains(note), "{stall}: {}", stderr(&out));
        for name in names {
            let text = fs::read_to_string(dir.path().join(name)).unwrap();
            assert_eq!(
                text.matches("@cache(").count(),
                1,
                "{stall}: {name}: {text}"
            );
        }
        assert_eq!(setups_in(dir.path(), &names), 1, "{stall}");
        assert!(
            leftovers(dir.path()).is_empty(),
            "{stall}: {:?}",
            leftovers(dir.path())
        );
        let out = run(
            dir.path(),
            &[
                "a.py::get_user",
                "b.py::get_user",
                "c.py::get_user",
                "--check",
            ],
        );
        assert_eq!(code(&out), 0, "{stall}: {}", stderr(&out));
    }
}

/// SIGINT or SIGTERM while staging undoes the write before the run ends;
/// after the commit point the write is finished first.
#[test]
fn sigint_and_sigterm_leave_no_temporary_file() {
    let args = ["a.py::get_user", "b.py::get_user", "--write"];
    for (stall, signal, new) in [
        ("staged:1", libc::SIGINT, false),
        ("staged:2", libc::SIGTERM, false),
        ("renamed:1", libc::SIGTERM, true),
        ("renamed:1", libc::SIGINT, true),
    ] {
        let dir = project(&[("a.py", GOOD), ("b.py", GOOD)]);
        let mut child = spawn(dir.path(), &args, Some(stall));
        wait_for_stall(&mut child);
        assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(signal), "{stall}: {status:?}");
        for name in ["a.py", "b.py"] {
            let text = fs::read_to_string(dir.path().join(name)).unwrap();
            assert_eq!(text.contains("@cache("), new, "{stall} {signal}: {name}");
        }
        assert!(
            leftovers(dir.path()).is_empty(),
            "{stall} {signal}: {:?}",
            leftovers(dir.path())
        );
    }
}

#[test]
fn hard_linked_files_are_refused() {
    let dir = project(&[("a.py", GOOD)]);
    fs::hard_link(dir.path().join("a.py"), dir.path().join("copy.py")).unwrap();
    let out = run(dir.path(), &["a.py::get_user", "--write", "--no-setup"]);
    assert_eq!(code(&out), 2);
    assert_eq!(
        stderr(&out),
        "error: a.py: has 2 hard links, and writing by rename would split them; nothing written (edit it through one link by hand, or break the links first)\n"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("copy.py")).unwrap(),
        GOOD
    );
}

/// Root writing another user's file left it root:root, setuid bit kept.
#[test]
fn owner_group_and_mode_are_kept() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to own files as another user");
        return;
    }
    let dir = project(&[("a.py", GOOD)]);
    let a = dir.path().join("a.py");
    std::os::unix::fs::chown(&a, Some(65534), Some(65534)).unwrap();
    fs::set_permissions(&a, fs::Permissions::from_mode(0o4754)).unwrap();
    let out = run(dir.path(), &["a.py::get_user", "--write", "--no-setup"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let meta = fs::metadata(&a).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
    assert_eq!(meta.mode() & 0o7777, 0o4754);

    // A user who may write the file (by its group) but not give it away:
    // the new file is theirs, keeps the group, and loses setgid.
    let b = dir.path().join("b.py");
    fs::write(&b, GOOD).unwrap();
    std::os::unix::fs::chown(&b, Some(4242), Some(65534)).unwrap();
    fs::set_permissions(&b, fs::Permissions::from_mode(0o2664)).unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            common::BIN,
        ])
        .args(["b.py::get_user", "--write", "--no-setup"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let meta = fs::metadata(&b).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
    assert_eq!(meta.mode() & 0o7777, 0o664);
}
