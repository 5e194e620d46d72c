//! The command line as users, agents and scripts see it: exit codes, --write,
//! --check, JSON, several targets, and "exit 2 writes nothing".

mod common;

use std::process::Command;

use common::*;

const USERS: &str = "from sqlalchemy.ext.asyncio import AsyncSession\n\n\nasync def get_user(session: AsyncSession, user_id: int):\n    return await session.get(User, user_id)\n\n\nasync def save(session, user):\n    session.add(user)\n    await session.commit()\n    return user\n\n\ndef sync_one(x):\n    return x\n";

#[test]
fn dry_run_prints_a_diff_git_applies_and_writes_nothing() {
    let dir = project(&[("app/users.py", USERS)]);
    let out = run(dir.path(), &["app/users.py::get_user"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let diff = stdout(&out);
    assert!(
        diff.starts_with("--- a/app/users.py\n+++ b/app/users.py\n"),
        "{diff}"
    );
    assert!(
        diff.contains("+@cache(ttl=\"1h\", key=\"app.users:get_user:{user_id}\")"),
        "{diff}"
    );
    assert!(!diff.contains("\x1b["), "no colour off a terminal");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("app/users.py")).unwrap(),
        USERS
    );
    std::fs::write(dir.path().join("p.diff"), &diff).unwrap();
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    assert!(git(&["init", "-q"]).status.success());
    let applied = git(&["apply", "p.diff"]);
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let via_write = project(&[("app/users.py", USERS)]);
    run(via_write.path(), &["app/users.py::get_user", "--write"]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("app/users.py")).unwrap(),
        std::fs::read_to_string(via_write.path().join("app/users.py")).unwrap(),
        "git apply of the diff gives what --write writes"
    );
}

#[test]
fn write_then_check_then_idempotent() {
    let dir = project(&[("app/users.py", USERS)]);
    assert_eq!(
        code(&run(dir.path(), &["app/users.py::get_user", "--check"])),
        1
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("app/users.py")).unwrap(),
        USERS,
        "--check writes nothing"
    );
    let wrote = run(dir.path(), &["app/users.py::get_user", "--write"]);
    assert_eq!(code(&wrote), 0, "{}", stderr(&wrote));
    assert!(stdout(&wrote).is_empty());
    let after = std::fs::read_to_string(dir.path().join("app/users.py")).unwrap();
    assert!(after.contains("from cashews import cache\n"));
    assert_eq!(
        code(&run(dir.path(), &["app/users.py::get_user", "--check"])),
        0
    );
    let again = run(dir.path(), &["app/users.py::get_user", "--write"]);
    assert_eq!(code(&again), 0);
    assert!(stderr(&again).contains("unchanged"), "{}", stderr(&again));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("app/users.py")).unwrap(),
        after
    );
}

#[test]
fn refusals_exit_1_and_say_why() {
    let dir = project(&[("app/users.py", USERS)]);
    let out = run(
        dir.path(),
        &["app/users.py::save", "app/users.py::sync_one"],
    );
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(
        err.contains("app/users.py::save: refused: save has side effects: db_write at line 9"),
        "{err}"
    );
    assert!(
        err.contains("sync def: cashews awaits the function"),
        "{err}"
    );
    let forced = run(dir.path(), &["app/users.py::save", "--force"]);
    assert_eq!(code(&forced), 0, "{}", stderr(&forced));
}

#[test]
fn bad_input_exits_2_with_one_line_and_writes_nothing() {
    let dir = project(&[
        ("app/users.py", USERS),
        ("bad.py", "async def f(:\n    pass\n"),
        ("latin.py", "x = '\u{e9}'\n"),
    ]);
    std::fs::write(dir.path().join("latin1.py"), b"x = '\xe9'\n").unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["missing.py::f"], "missing.py: cannot read: no such file"),
        (&["latin1.py::f"], "latin1.py: not UTF-8"),
        (&["bad.py::f"], "bad.py:1: syntax error"),
        (
            &["app/users.py::get_usr"],
            "no function \"get_usr\" (closest: get_user",
        ),
        (
            &["app/users.py::get_user", "--ttl", "5m30"],
            "--ttl: TTL \"5m30\": trailing 30 has no unit",
        ),
        (
            &["app/users.py::get_user", "--ttl", "5x"],
            "unknown unit 'x'",
        ),
        (
            &["app/users.py::get_user", "--key", "u:{uid}"],
            "{uid} names no parameter of get_user",
        ),
        (
            &["app/users.py::get_user", "--tags", "user:{id}"],
            "--tags \"user:{id}\": {id} names no parameter",
        ),
        (
            &["app/users.py::get_user", "--strategy", "iterator"],
            "is a coroutine, not an async generator",
        ),
        (&["app/users.py"], "a target is FILE::FUNCTION"),
        (
            &["app/users.py::get_user", "--strategy", "nope"],
            "invalid value 'nope'",
        ),
    ];
    for (args, want) in cases {
        let mut with_write: Vec<&str> = vec!["app/users.py::get_user"];
        with_write.extend_from_slice(args);
        with_write.push("--write");
        let out = run(dir.path(), &with_write);
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(want), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{args:?}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("app/users.py")).unwrap(),
            USERS,
            "{args:?} wrote"
        );
    }
    let one_line = run(dir.path(), &["missing.py::f"]);
    assert_eq!(
        stderr(&one_line).lines().count(),
        1,
        "{}",
        stderr(&one_line)
    );
}

#[test]
fn json_follows_the_contract() {
    let dir = project(&[("app/users.py", USERS)]);
    let out = run(
        dir.path(),
        &[
            "app/users.py::get_user",
            "app/users.py::save",
            "--format",
            "json",
        ],
    );
    assert_eq!(code(&out), 1);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let r = &doc["results"][0];
    assert_eq!(r["target"], "app/users.py::get_user");
    assert_eq!(r["status"], "changed");
    assert_eq!(r["function"]["qualname"], "get_user");
    assert_eq!(r["function"]["line"], 4);
    assert_eq!(r["function"]["is_async"], true);
    assert_eq!(r["function"]["is_generator"], false);
    assert_eq!(r["function"]["kind"], "function");
    assert_eq!(r["purity"]["verdict"], "pure");
    assert_eq!(r["decision"]["strategy"], "cache");
    assert!(r["decision"]["reasons"].as_array().unwrap().len() >= 3);
    assert_eq!(r["key"]["template"], "app.users:get_user:{user_id}");
    assert_eq!(r["key"]["inputs"], serde_json::json!(["user_id"]));
    assert_eq!(r["key"]["excluded"][0]["name"], "session");
    assert!(
        r["key"]["excluded"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("database session")
    );
    assert_eq!(r["ttl"], "1h");
    assert_eq!(r["tags"], serde_json::json!([]));
    let refused = &doc["results"][1];
    assert_eq!(refused["status"], "refused");
    assert_eq!(refused["purity"]["verdict"], "impure");
    let effect = &refused["purity"]["effects"][0];
    assert_eq!(effect["category"], "db_write");
    assert_eq!(effect["severity"], "block");
    assert_eq!(effect["line"], 9);
    assert_eq!(effect["code"], "session.add(user)");
    assert!(
        doc["diff"]
            .as_str()
            .unwrap()
            .starts_with("--- a/app/users.py")
    );
}

#[test]
fn several_targets_in_several_files_compose() {
    let two = "import os\n\n\nasync def a(x):\n    return x\n\n\nasync def b(y):\n    return y\n";
    let dir = project(&[("one.py", two), ("two.py", two)]);
    let out = run(
        dir.path(),
        &[
            "one.py::a",
            "one.py::b",
            "two.py::b",
            "one.py::a",
            "--write",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let one = std::fs::read_to_string(dir.path().join("one.py")).unwrap();
    assert_eq!(one.matches("from cashews import cache").count(), 1, "{one}");
    assert_eq!(one.matches("@cache(").count(), 2, "{one}");
    let two_after = std::fs::read_to_string(dir.path().join("two.py")).unwrap();
    assert_eq!(two_after.matches("@cache(").count(), 1, "{two_after}");
}

#[test]
fn options_shape_the_decorator() {
    let dir = project(&[("m.py", "async def f(a: int, b: int):\n    return a + b\n")]);
    let out = run(
        dir.path(),
        &[
            "m.py::f",
            "--ttl",
            "2h5m30s",
            "--key",
            "f:{a}",
            "--tags",
            "fs,f:{a}",
            "--strategy",
            "locked",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains(
            "+@cache(ttl=\"2h5m30s\", key=\"f:{a}\", tags=[\"fs\", \"f:{a}\"], lock=True)"
        ),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("--key leaves out `b`"),
        "{}",
        stderr(&out)
    );
    let soft = run(
        dir.path(),
        &["m.py::f", "--strategy", "soft", "--ttl", "10m"],
    );
    assert!(
        stdout(&soft).contains("@cache.soft(ttl=\"10m\", soft_ttl=\"5m\", key=\"m:f:{a}:{b}\")"),
        "{}",
        stdout(&soft)
    );
}

#[test]
fn an_injected_user_read_whole_is_a_review_until_keyed() {
    // The current user is passed on whole to code the tool cannot read:
    // nothing says what identifies it, so a person is asked.
    let code_text = "async def feed(page: int, user=Depends(current_user)):\n    return await lib.feed_for(user, page)\n";
    let dir = project(&[("m.py", code_text)]);
    let plain = run(dir.path(), &["m.py::feed"]);
    assert_eq!(code(&plain), 1, "{}", stderr(&plain));
    assert!(
        stderr(&plain).contains("review")
            && stderr(&plain).contains("`user` is injected and read whole"),
        "{}",
        stderr(&plain)
    );
    let keyed = run(
        dir.path(),
        &["m.py::feed", "--key", "feed:{page}:{user.id}"],
    );
    assert_eq!(code(&keyed), 0, "{}", stderr(&keyed));
    assert!(
        !stderr(&keyed).contains("is injected"),
        "{}",
        stderr(&keyed)
    );
    // Read through its fields, it is keyed by them.
    let fields = project(&[(
        "m.py",
        "async def feed(page: int, user=Depends(current_user)):\n    return page, user.id\n",
    )]);
    let out = run(fields.path(), &["m.py::feed"]);
    assert!(
        stdout(&out).contains("key=\"m:feed:{page}:{user.id}\""),
        "{}",
        stdout(&out)
    );
}

#[test]
fn help_exits_0() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).contains("Exit codes"));
}
