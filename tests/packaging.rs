//! The pip route: the wheel maturin builds from `pyproject.toml`
//! (`bindings = "bin"`) installs offline into a fresh venv and puts a
//! working `cashews-add` on PATH.
//!
//! The release build goes to target/release-tests, the folder
//! scripts/release-bin.sh builds in, so the two share one build. maturin
//! comes from the test venv (scripts/requirements-test.txt).

use std::path::Path;
use std::process::{Command, Output};

mod common;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn check(what: &str, out: Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The one `.whl` in `dir`.
fn wheel_in(dir: &Path) -> std::path::PathBuf {
    let wheels: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "whl"))
        .collect();
    assert_eq!(wheels.len(), 1, "{wheels:?}");
    wheels[0].clone()
}

#[test]
fn the_wheel_installs_offline_and_puts_cashews_add_on_path() {
    let python = common::venv_python();
    let work = tempfile::tempdir().unwrap();
    let wheels = work.path().join("wheels");
    let build = Command::new(&python)
        .args(["-m", "maturin", "build", "--release", "--out"])
        .arg(&wheels)
        .current_dir(REPO)
        .env(
            "CARGO_TARGET_DIR",
            Path::new(REPO).join("target/release-tests"),
        )
        .output()
        .unwrap();
    check("maturin build", build);
    let wheel = wheel_in(&wheels);
    let name = wheel.file_name().unwrap().to_string_lossy().into_owned();
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        name.starts_with(&format!("cashews_add-{version}-py3-none-")),
        "{name}"
    );

    // The metadata is pyproject.toml's (maturin alone would guess it from Cargo.toml).
    let metadata = Command::new(&python)
        .args([
            "-c",
            "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); print(z.read(next(n for n in z.namelist() if n.endswith('.dist-info/METADATA'))).decode())",
        ])
        .arg(&wheel)
        .output()
        .unwrap();
    let metadata = check("read METADATA", metadata);
    assert!(
        metadata.contains("Summary: Add cashews caching decorators")
            && metadata.contains("Requires-Python: >=3.9"),
        "{metadata}"
    );

    let venv = work.path().join("venv");
    check(
        "python -m venv",
        Command::new(&python)
            .args(["-m", "venv"])
            .arg(&venv)
            .output()
            .unwrap(),
    );
    let install = Command::new(venv.join("bin/python"))
        .args([
            "-m",
            "pip",
            "install",
            "--no-index",
            "--disable-pip-version-check",
            "-q",
        ])
        .arg(&wheel)
        .output()
        .unwrap();
    check("pip install --no-index", install);

    // On PATH as a venv's scripts are: its bin folder first.
    let path = format!(
        "{}:{}",
        venv.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let help = Command::new("cashews-add")
        .arg("--help")
        .env("PATH", &path)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let help = check("cashews-add --help", help);
    assert!(help.contains("lint") && help.contains("TARGET"), "{help}");
    let which = Command::new("sh")
        .args(["-c", "command -v cashews-add"])
        .env("PATH", &path)
        .output()
        .unwrap();
    let which = check("command -v", which);
    assert_eq!(Path::new(which.trim()), venv.join("bin/cashews-add"));
    let version_out = Command::new(venv.join("bin/cashews-add"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(
        check("cashews-add --version", version_out).trim(),
        format!("cashews-add {version}")
    );
}
