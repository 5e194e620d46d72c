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
