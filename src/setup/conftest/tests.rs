use super::*;

fn wanted() -> (String, String) {
    ("cashews".to_string(), "cache".to_string())
}

fn merge(old: &str) -> Option<String> {
    let cache = wanted();
    let w = Wanted {
        env_var: "CACHE_URL",
        cache: &cache,
    };
    merged(Path::new("conftest.py"), old, &w).unwrap()
}

#[test]
fn a_new_conftest_holds_both_parts_and_a_second_merge_is_a_no_op() {
    let new = merge("").unwrap();
    assert!(new.starts_with("\"\"\"Test settings added by cashews-add.\"\"\"\n\nimport os\n\nimport pytest\n\n# Before the app"), "{new}");
    assert!(
        new.contains("\nos.environ.setdefault(\"CACHE_URL\", \"mem://\")\n"),
        "{new}"
    );
    assert!(
        new.contains("@pytest.fixture(autouse=True)\ndef _fresh_cashews_cache():"),
        "{new}"
    );
    assert!(new.contains("from cashews import cache\n"), "{new}");
    assert_eq!(merge(&new), None);
    crate::source::SourceFile::parse(Path::new("c.py"), new.into_bytes()).unwrap();
}

#[test]
fn an_existing_conftest_gets_the_default_above_its_app_import() {
    let old = "\"\"\"Shared fixtures.\"\"\"\nfrom __future__ import annotations\n\nimport pytest\n\nfrom shop.main import app\n\n\n@pytest.fixture\ndef client():\n    return app\n";
    let new = merge(old).unwrap();
    println!("{new}");
    let env = new.find("os.environ.setdefault").unwrap();
    assert!(
        env < new.find("from shop.main import app").unwrap(),
        "{new}"
    );
    assert!(env > new.find("from __future__").unwrap(), "{new}");
    assert_eq!(new.matches("import pytest").count(), 1, "{new}");
    assert_eq!(new.matches("import os").count(), 1, "{new}");
    // Every original line is kept, in order.
    let mut rest = new.as_str();
    for line in old.lines() {
        let at = rest
            .find(line)
            .unwrap_or_else(|| panic!("lost {line:?}:\n{new}"));
        rest = &rest[at + line.len()..];
    }
    assert_eq!(merge(&new), None, "a second merge adds nothing");
    crate::source::SourceFile::parse(Path::new("c.py"), new.into_bytes()).unwrap();
}

#[test]
fn an_existing_first_import_os_is_used() {
    let old = "import os\n\nimport pytest\n";
    let new = merge(old).unwrap();
    assert!(new.starts_with("import os\n\n# Before the app"), "{new}");
    assert_eq!(new.matches("import os").count(), 1, "{new}");
    assert_eq!(new.matches("import pytest").count(), 1, "{new}");
}

#[test]
fn crlf_is_kept() {
    let new = merge("import pytest\r\n").unwrap();
    assert!(!new.replace("\r\n", "").contains('\n'), "{new:?}");
}

#[test]
fn test_roots() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    assert!(!has_tests(root));
    std::fs::write(
        root.join("pyproject.toml"),
        "[tool.pytest.ini_options]\ntestpaths = [\"checks\"]\n",
    )
    .unwrap();
    assert!(has_tests(root));
    assert_eq!(conftest_path(root), root.join("conftest.py"));
    std::fs::create_dir(root.join("tests")).unwrap();
    assert_eq!(conftest_path(root), root.join("tests/conftest.py"));
    std::fs::create_dir(root.join("checks")).unwrap();
    assert_eq!(conftest_path(root), root.join("checks/conftest.py"));
    std::fs::write(root.join("conftest.py"), "").unwrap();
    assert_eq!(conftest_path(root), root.join("conftest.py"));
}

#[test]
fn testpaths_from_the_ini_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("src/app")).unwrap();
    std::fs::create_dir(root.join("tests")).unwrap();
    std::fs::write(
        root.join("pytest.ini"),
        "[pytest]\naddopts = -q\ntestpaths =\n    src\n    more\nmarkers =\n    unit: fast\n",
    )
    .unwrap();
    assert_eq!(test_folder(root), Some(root.join("src")));
    assert!(collected(root, &root.join("src/app")));
    assert!(!collected(root, &root.join("tests")));
    std::fs::remove_file(root.join("pytest.ini")).unwrap();
    std::fs::write(
        root.join("setup.cfg"),
        "[tool:pytest]\ntestpaths = src more\n",
    )
    .unwrap();
    assert_eq!(testpaths(root), ["src", "more"]);
    std::fs::write(root.join("setup.cfg"), "[metadata]\ntestpaths = src\n").unwrap();
    assert!(
        testpaths(root).is_empty(),
        "only pytest's own section counts"
    );
}
