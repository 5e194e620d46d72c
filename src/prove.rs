//! `--emit-test`: a pytest file per cached target that proves the cache
//! works: a second call with the same inputs is a hit (`cache.detect`),
//! another input misses. It goes into the project's test folder, in the
//! style of the project's own async tests, and joins the run's one diff.

pub(crate) mod models;
pub(crate) mod probe;
pub(crate) mod style;
mod text;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::rewrite::FileChange;
use crate::setup::conftest::TestsStatus;

pub(crate) use probe::Probe;

/// `results[].test` in the JSON report.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TestReport {
    pub(crate) status: TestsStatus,
    pub(crate) file: Option<String>,
    pub(crate) message: String,
    /// What the test fakes, and why.
    pub(crate) stubs: Vec<String>,
}

/// The test of one target (`file` its module): the report, and the new file
/// unless it exists already (then nothing changes: a second run is a no-op).
pub(crate) fn plan(file: &Path, probe: &Probe) -> (TestReport, Option<FileChange>) {
    let skipped = |message: String| TestReport {
        status: TestsStatus::Skipped,
        file: None,
        message,
        stubs: Vec::new(),
    };
    if let Some(why) = &probe.unsupported {
        return (skipped(format!("no test: {why}")), None);
    }
    let root = crate::project::root_or_folder(file).0;
    let folder = test_folder(file, &root);
    let path = folder.join(file_name(probe));
    let shown = crate::render::diff_path(&path);
    let mut report = TestReport {
        status: TestsStatus::Present,
        file: Some(shown.clone()),
        message: format!("{shown} exists: left as it is (delete it to regenerate)"),
        stubs: probe.stubs.clone(),
    };
    if path.exists() {
        return (report, None);
    }
    let style = style::detect(&root, &folder);
    report.status = TestsStatus::Added;
    report.message = format!(
        "{shown}: a second call is a hit, {}; async tests: {}",
        miss_note(probe),
        style.note()
    );
    let change = FileChange {
        path,
        old: String::new(),
        new: text::render(probe, style, style::marks_unit(&folder)),
    };
    (report, Some(change))
}

/// Where the test goes: the nearest `tests/` (or `test/`) folder above the
/// module, inside the project and collected by a plain `pytest` run (a
/// project keeping its tests beside each package), else the project's test
/// folder (`testpaths`, `tests/`, `test/`), else beside the module.
fn test_folder(file: &Path, root: &Path) -> PathBuf {
    let beside = std::path::absolute(file)
        .ok()
        .and_then(|f| f.parent().map(Path::to_path_buf));
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let mut dir = beside.clone();
    while let Some(d) = dir.filter(|d| d.starts_with(&root) && *d != root) {
        let near = ["tests", "test"]
            .iter()
            .map(|n| d.join(n))
            .find(|t| t.is_dir() && crate::setup::conftest::collected(&root, t));
        if let Some(near) = near {
            return near;
        }
        dir = d.parent().map(Path::to_path_buf);
    }
    crate::setup::conftest::test_folder(&root)
        .or(beside)
        .unwrap_or(root)
}

fn miss_note(probe: &Probe) -> String {
    match probe.args.iter().find(|a| a.other.is_some()) {
        Some(a) => format!("another `{}` misses", a.name),
        None => "no miss check (the key holds no input to vary)".to_string(),
    }
}

/// `test_cache_<module>_<qualname>.py`: unique per target, the same every run.
pub(crate) fn file_name(probe: &Probe) -> PathBuf {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect()
    };
    PathBuf::from(format!(
        "test_cache_{}_{}.py",
        clean(&probe.module),
        clean(&probe.qualname)
    ))
}
