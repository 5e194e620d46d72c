//! A cashews pin that excludes 7.x (issue 16): reported as `updated` with
//! the reason, shown in the diff, written only with `--write`.

mod common;

use common::{code, run, stderr, stdout};

const APP: &str =
    "from cashews import cache\n\n\nasync def get_user(user_id):\n    return user_id\n";

#[test]
fn a_pin_below_7_is_reported_and_rewritten_only_with_write() {
    let dir = common::project(&[("app.py", APP)]);
    let manifest = "[project]\nname = \"fx\"\ndependencies = [\"cashews[redis]==6.4.0\"]\n";
    std::fs::write(dir.path().join("pyproject.toml"), manifest).unwrap();
    let out = run(
        dir.path(),
        &["app.py::get_user", "--format", "json", "--no-setup"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let dep = &doc["dependency"];
    assert_eq!(dep["status"], "updated", "{dep}");
    let message = dep["message"].as_str().unwrap();
    assert!(
        message.contains("`cashews[redis]==6.4.0` excluded cashews 7.x"),
        "{message}"
    );
    assert!(
        doc["diff"]
            .as_str()
            .unwrap()
            .contains("+dependencies = [\"cashews[diskcache,redis]>=7.0\"]"),
        "{}",
        stdout(&out)
    );
    let read = || std::fs::read_to_string(dir.path().join("pyproject.toml")).unwrap();
    assert_eq!(read(), manifest, "a dry run writes nothing");
    let out = run(dir.path(), &["app.py::get_user", "--write", "--no-setup"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("dependency: updated: "),
        "{}",
        stderr(&out)
    );
    assert!(
        read().contains("\"cashews[diskcache,redis]>=7.0\""),
        "{}",
        read()
    );
}

/// The same for Poetry's syntax: `^6.0` means >=6.0,<7.0, so the table
/// entry is updated in its own form, the extras merged.
#[test]
fn a_poetry_caret_below_7_is_reported_and_rewritten_only_with_write() {
    let dir = common::project(&[("app.py", APP)]);
    let manifest = "[tool.poetry]\nname = \"fx\"\n\n[tool.poetry.dependencies]\npython = \"^3.10\"\ncashews = { version = \"^6.0\", extras = [\"redis\"] }  # cache\n";
    std::fs::write(dir.path().join("pyproject.toml"), manifest).unwrap();
    let out = run(
        dir.path(),
        &["app.py::get_user", "--format", "json", "--no-setup"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let dep = &doc["dependency"];
    assert_eq!(dep["status"], "updated", "{dep}");
    let message = dep["message"].as_str().unwrap();
    assert!(
        message.contains(
            "`cashews = { version = \"^6.0\", extras = [\"redis\"] }` excluded cashews 7.x"
        ),
        "{message}"
    );
    let want = "cashews = { version = \">=7.0\", extras = [\"redis\", \"diskcache\"] }  # cache";
    assert!(
        doc["diff"].as_str().unwrap().contains(&format!("+{want}")),
        "{}",
        stdout(&out)
    );
    let read = || std::fs::read_to_string(dir.path().join("pyproject.toml")).unwrap();
    assert_eq!(read(), manifest, "a dry run writes nothing");
    let out = run(dir.path(), &["app.py::get_user", "--write", "--no-setup"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(read().contains(want), "{}", read());
}
