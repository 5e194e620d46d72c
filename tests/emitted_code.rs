//! Code the tool writes runs under real cashews (issue 17, item 4): a setup
//! placed below a late module-level `import os`, a key prefix from a folder
//! whose name holds braces, and keys for parameters Python normalises
//! (NFKC). Each project is rewritten with `--write`, then imported and
//! called twice with the pinned venv (scripts/pyenv.sh); the keys cashews
//! stored are read back.

mod common;

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
