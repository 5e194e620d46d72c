//! Setup that fits the project (issue 14): the default disk folder (per
//! project and version, in the user's cache directory, named in the
//! output), libraries left to their host, and test runs kept fresh.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{code, stderr};

const APP: &str =
    "from fastapi import FastAPI\n\nfrom shop.items import get_item\n\napp = FastAPI()\n";
const ITEMS: &str = "async def get_item(item_id: int) -> dict:\n    return {\"id\": item_id}\n";

fn run_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(common::BIN);
    cmd.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("CACHE_URL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stderr(out)))
}

fn shop(pyproject: &str) -> tempfile::TempDir {
    let dir = common::project(&[
        ("shop/__init__.py", ""),
        ("shop/main.py", APP),
        ("shop/items.py", ITEMS),
    ]);
    std::fs::write(dir.path().join("pyproject.toml"), pyproject).unwrap();
    dir
}

#[test]
fn the_disk_folder_is_per_version_in_the_users_cache_dir_and_explained_once() {
    let dir = shop("[project]\nname = \"shop\"\nversion = \"2.1.0\"\ndependencies = []\n");
    let out = run_env(
        dir.path(),
        &["shop/items.py::get_item", "--format", "json"],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    let setup = &doc["setup"];
    assert_eq!(
        setup["url"],
        "disk://?directory=~/.cache/cashews/shop-2.1.0&shards=0"
    );
    assert_eq!(setup["disk"]["directory"], "~/.cache/cashews/shop-2.1.0");
    assert_eq!(setup["disk"]["version"], "2.1.0");
    let note = setup["disk"]["note"].as_str().unwrap();
    assert!(note.contains("survives restarts"), "{note}");
    assert!(note.contains("until their TTL ends"), "{note}");

    // XDG_CACHE_HOME first: below HOME it is written with `~`, elsewhere as it is.
    let home = tempfile::tempdir().unwrap();
    let xdg = home.path().join("xdg cache");
    std::fs::create_dir_all(&xdg).unwrap();
    let env = [
        ("HOME", home.path().to_str().unwrap()),
        ("XDG_CACHE_HOME", xdg.to_str().unwrap()),
    ];
    let out = run_env(
        dir.path(),
        &["shop/items.py::get_item", "--format", "json"],
        &env,
    );
    assert_eq!(
        json(&out)["setup"]["url"],
        "disk://?directory=~/xdg%20cache/cashews/shop-2.1.0&shards=0"
    );
    // A world-writable XDG_CACHE_HOME is passed over for ~/.cache.
    let out = run_env(
        dir.path(),
        &["shop/items.py::get_item", "--format", "json"],
        &[("XDG_CACHE_HOME", "/tmp")],
    );
    assert_eq!(
        json(&out)["setup"]["url"],
        "disk://?directory=~/.cache/cashews/shop-2.1.0&shards=0"
    );

    // Text mode says it once, with the setup line; the second run is silent.
    let out = run_env(dir.path(), &["shop/items.py::get_item", "--write"], &env);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stderr(&out).matches("survives restarts").count(),
        1,
        "{}",
        stderr(&out)
    );
    assert!(
        xdg.join("cashews/shop-2.1.0").is_dir(),
        "the folder is made"
    );
    let again = run_env(dir.path(), &["shop/items.py::get_item", "--write"], &env);
    assert!(!stderr(&again).contains("survives restarts"));
}

#[test]
fn a_dynamic_version_is_said_to_be_why_the_folder_has_none() {
    let dir = shop("[project]\nname = \"shop\"\ndynamic = [\"version\"]\ndependencies = []\n");
    let out = run_env(
        dir.path(),
        &["shop/items.py::get_item", "--format", "json"],
        &[],
    );
    let setup = &json(&out)["setup"];
    assert_eq!(setup["disk"]["directory"], "~/.cache/cashews/shop");
    assert_eq!(setup["disk"]["version"], serde_json::Value::Null);
    assert!(
        setup["disk"]["note"]
            .as_str()
            .unwrap()
            .contains("declares it dynamic"),
        "{setup}"
    );
}

const LOOKUP: &str = "async def units_for(sku: str) -> int:\n    return len(sku)\n";

fn library(pyproject: &str, extra: &[(&str, &str)]) -> tempfile::TempDir {
    let mut files = vec![
        ("stock_client/__init__.py", ""),
        ("stock_client/lookups.py", LOOKUP),
    ];
    files.extend_from_slice(extra);
    let dir = common::project(&files);
    std::fs::write(dir.path().join("pyproject.toml"), pyproject).unwrap();
    dir
}

#[test]
fn a_poetry_library_gets_an_optional_cashews_and_an_extras_group() {
    let dir = library(
        "[tool.poetry]\nname = \"stock-client\"\nversion = \"1.0.0\"\n\n[tool.poetry.dependencies]\npython = \"^3.10\"\n",
        &[],
    );
    let target = "stock_client/lookups.py::units_for";
    let out = run_env(dir.path(), &[target, "--write", "--format", "json"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["setup"]["status"], "library", "{doc:#}");
    let pyproject = std::fs::read_to_string(dir.path().join("pyproject.toml")).unwrap();
    assert!(
        pyproject.contains("cashews = { version = \">=7.0\", optional = true }\n"),
        "{pyproject}"
    );
    assert!(
        pyproject.ends_with("[tool.poetry.extras]\ncache = [\"cashews\"]\n"),
        "{pyproject}"
    );
    let again = json(&run_env(dir.path(), &[target, "--format", "json"], &[]));
    assert_eq!(again["diff"], "", "{again:#}");
}

#[test]
fn a_librarys_tests_get_its_own_variable_and_instance() {
    let dir = library(
        "[project]\nname = \"stock-client\"\nversion = \"1.0.0\"\n",
        &[("tests/test_lookups.py", "def test_nothing():\n    pass\n")],
    );
    let target = "stock_client/lookups.py::units_for";
    let out = run_env(dir.path(), &[target, "--write", "--format", "json"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["tests"]["status"], "added", "{doc:#}");
    assert_eq!(doc["tests"]["file"], "tests/conftest.py");
    let conftest = std::fs::read_to_string(dir.path().join("tests/conftest.py")).unwrap();
    assert!(
        conftest.contains("os.environ.setdefault(\"STOCK_CLIENT_CACHE_URL\", \"mem://\")"),
        "{conftest}"
    );
    assert!(
        conftest.contains("from stock_client._cache import stock_client_cache as cache"),
        "{conftest}"
    );
    let again = json(&run_env(dir.path(), &[target, "--format", "json"], &[]));
    assert_eq!(again["tests"]["status"], "present", "{again:#}");
    assert_eq!(again["diff"], "");
}

#[test]
fn an_application_is_not_a_library() {
    // The same package with a FastAPI app in it: the global setup, a hard dependency.
    let dir = library(
        "[project]\nname = \"stock-client\"\nversion = \"1.0.0\"\ndependencies = []\n",
        &[(
            "stock_client/main.py",
            APP.replace("shop.items", "stock_client.lookups")
                .replace("get_item", "units_for")
                .as_str(),
        )],
    );
    let out = run_env(
        dir.path(),
        &["stock_client/lookups.py::units_for", "--format", "json"],
        &[],
    );
    let doc = json(&out);
    assert_eq!(doc["setup"]["status"], "added", "{doc:#}");
    assert_eq!(doc["dependency"]["requirement"], "cashews[diskcache]>=7.0");
    assert!(
        !doc["diff"]
            .as_str()
            .unwrap()
            .contains("optional-dependencies")
    );
}

/// `[tool.cashews-add] library = true|false` decides when the rule is
/// wrong: a library shipping a demo app is still a library; a package
/// without an app object is still an application when it says so.
#[test]
fn the_library_rule_is_overridden_by_config() {
    let forced = "[project]\nname = \"shop\"\nversion = \"1.0\"\ndependencies = []\n\n[tool.cashews-add]\nlibrary = true\n";
    let dir = shop(forced);
    let out = run_env(
        dir.path(),
        &["shop/items.py::get_item", "--format", "json"],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let setup = &json(&out)["setup"];
    assert_eq!(setup["status"], "library", "{setup:#}");
    assert!(
        setup["message"]
            .as_str()
            .unwrap()
            .contains("library = true"),
        "{setup:#}"
    );
    let app = "[project]\nname = \"shop\"\nversion = \"1.0\"\ndependencies = []\n\n[tool.cashews-add]\nlibrary = false\n";
    let dir = common::project(&[("shop/__init__.py", ""), ("shop/items.py", ITEMS)]);
    std::fs::write(dir.path().join("pyproject.toml"), app).unwrap();
    let out = run_env(
        dir.path(),
        &["shop/items.py::get_item", "--format", "json"],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["setup"]["status"], "added", "{}", stderr(&out));
}

/// A library that sets up cashews' global cache at import is told where,
/// and to configure its own instance instead.
#[test]
fn a_library_setting_up_the_global_cache_is_warned() {
    let dir = common::project(&[
        (
            "shop/__init__.py",
            "from cashews import cache\n\ncache.setup(\"mem://\")\n",
        ),
        ("shop/items.py", ITEMS),
    ]);
    std::fs::write(
        dir.path().join("pyproject.toml"),
        "[project]\nname = \"shop\"\nversion = \"1.0\"\ndependencies = []\n",
    )
    .unwrap();
    let out = run_env(
        dir.path(),
        &["shop/items.py::get_item", "--format", "json"],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let setup = &json(&out)["setup"];
    assert_eq!(setup["status"], "library", "{setup:#}");
    let warnings = setup["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{setup:#}");
    let w = warnings[0].as_str().unwrap();
    assert!(
        w.starts_with("shop/__init__.py:3 sets up cashews' global cache"),
        "{w}"
    );
    assert!(w.contains("shop_cache.setup(...)"), "{w}");
}
