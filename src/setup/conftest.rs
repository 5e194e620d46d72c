//! Tests stay green. The generated setup keeps the cache on disk, where it
//! outlives the process: a second test run would be served the first run's
//! values. So when the project has tests, the test root's `conftest.py`
//! (made, or merged into without disturbing it) gets two things:
//!
//! - `os.environ.setdefault("CACHE_URL", "mem://")` at its top, before
//!   anything imports the app, so the setup the app runs caches in memory,
//!   fresh for every run (an explicit `CACHE_URL` still wins);
//! - an autouse fixture that gives each test a new in-memory backend of the
//!   cache the decorators use. It is a plain (sync) fixture that runs
//!   nothing async, so it works with pytest-asyncio and without it, and it
//!   also sets the cache up for tests that call a cached function without
//!   starting the app. It only ever replaces a `mem://` backend: a test run
//!   pointed at Redis on purpose is left alone (clearing it would flush a
//!   database that may be shared).

use std::path::{Path, PathBuf};

use serde::Serialize;
use tree_sitter::Node;

use crate::imports::{is_docstring, line_end};
use crate::plan::file_line_ending;
use crate::rewrite::FileChange;
use crate::source::SourceFile;

/// The fixture's name: also the mark that it is there.
const FIXTURE: &str = "_fresh_cashews_cache";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TestsStatus {
    Added,
    Present,
    Skipped,
}

/// The JSON report's `tests` object.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TestsReport {
    pub(crate) status: TestsStatus,
    pub(crate) file: Option<String>,
    pub(crate) message: String,
}

impl TestsReport {
    pub(crate) fn skipped(message: &str) -> TestsReport {
        TestsReport {
            status: TestsStatus::Skipped,
            file: None,
            message: message.to_string(),
        }
    }
}

pub(crate) struct TestsPlan {
    pub(crate) report: TestsReport,
    pub(crate) change: Option<FileChange>,
}

/// What the conftest sets: the variable the setup reads, and the cache
/// object (`module`, `name`) the decorators use.
pub(crate) struct Wanted<'a> {
    pub(crate) env_var: &'a str,
    pub(crate) cache: &'a (String, String),
}

/// The conftest edit for the project at `root`, if it has tests.
pub(crate) fn plan(root: &Path, wanted: &Wanted) -> TestsPlan {
    if !has_tests(root) {
        return skipped(
            "no tests found (pytest config, tests/, conftest.py): no conftest.py change",
        );
    }
    let path = conftest_path(root);
    let shown = crate::render::diff_path(&path);
    let old = if path.exists() {
        match crate::file::read_text(&path) {
            Ok(text) => text,
            Err(why) => {
                return skipped(&format!(
                    "{shown}: cannot read ({}): make the tests use CACHE_URL=mem:// yourself",
                    why.0
                ));
            }
        }
    } else {
        String::new()
    };
    let new = match merged(&path, &old, wanted) {
        Ok(Some(new)) => new,
        Ok(None) => {
            return TestsPlan {
                report: TestsReport {
                    status: TestsStatus::Present,
                    file: Some(shown.clone()),
                    message: format!("{shown} already gives the tests a fresh in-memory cache"),
                },
                change: None,
            };
        }
        Err(why) => return skipped(&format!("{shown}: {why}: no conftest.py change")),
    };
    let message = format!(
        "{shown}: {} defaults to mem:// for the test run and the autouse fixture `{FIXTURE}` gives each test an empty cache, so a second run is not served the first run's values",
        wanted.env_var
    );
    TestsPlan {
        report: TestsReport {
            status: TestsStatus::Added,
            file: Some(shown),
            message,
        },
        change: Some(FileChange { path, old, new }),
    }
}

fn skipped(message: &str) -> TestsPlan {
    TestsPlan {
        report: TestsReport::skipped(message),
        change: None,
    }
}

/// Pytest config, a `tests/` or `test/` folder, or a conftest.py at the root.
pub(crate) fn has_tests(root: &Path) -> bool {
    let text = |name: &str| crate::file::read_text(&root.join(name)).unwrap_or_default();
    root.join("pytest.ini").is_file()
        || root.join("conftest.py").is_file()
        || root.join("tests").is_dir()
        || root.join("test").is_dir()
        || text("pyproject.toml").contains("[tool.pytest")
        || text("setup.cfg").contains("[tool:pytest]")
        || text("tox.ini").contains("[pytest]")
}

/// The conftest.py pytest loads first for the test run: the root's when it
/// has one; else the one of the tests folder (`testpaths`' first entry,
/// `tests/`, `test/`), existing or new; else a new one at the root.
fn conftest_path(root: &Path) -> PathBuf {
    let at_root = root.join("conftest.py");
    if at_root.is_file() {
        return at_root;
    }
    test_folder(root).map_or(at_root, |f| f.join("conftest.py"))
}

/// The project's tests folder: `testpaths`' first existing entry, `tests/`, `test/`.
pub(crate) fn test_folder(root: &Path) -> Option<PathBuf> {
    let mut folders: Vec<PathBuf> = testpaths(root).into_iter().map(|t| root.join(t)).collect();
    folders.extend([root.join("tests"), root.join("test")]);
    folders.into_iter().find(|f| f.is_dir())
}

/// Whether pytest run without arguments collects `folder`: it lies in one
/// of the `testpaths`, or none is configured.
pub(crate) fn collected(root: &Path, folder: &Path) -> bool {
    let paths = testpaths(root);
    paths.is_empty() || paths.iter().any(|t| folder.starts_with(root.join(t)))
}

/// `testpaths` from the pytest config: pyproject.toml's
/// `[tool.pytest.ini_options]`, else pytest.ini's `[pytest]`, setup.cfg's
/// `[tool:pytest]` or tox.ini's `[pytest]` (the files pytest itself reads).
fn testpaths(root: &Path) -> Vec<String> {
    let text = |name: &str| crate::file::read_text(&root.join(name)).unwrap_or_default();
    let from_toml = text("pyproject.toml")
        .parse::<toml::Table>()
        .ok()
        .and_then(|table| {
            let paths = table
                .get("tool")?
                .get("pytest")?
                .get("ini_options")?
                .get("testpaths")?
                .as_array()?
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect::<Vec<_>>();
            Some(paths)
        });
    if let Some(paths) = from_toml {
        return paths;
    }
    [
        ("pytest.ini", "pytest"),
        ("setup.cfg", "tool:pytest"),
        ("tox.ini", "pytest"),
    ]
    .iter()
    .map(|(file, section)| ini_list(&text(file), section, "testpaths"))
    .find(|paths| !paths.is_empty())
    .unwrap_or_default()
}

/// The words of `key` in `[section]` of an ini text, its continuation lines included.
pub(crate) fn ini_list(text: &str, section: &str, key: &str) -> Vec<String> {
    let mut in_section = false;
    let mut in_key = false;
    let mut words = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            in_section = trimmed == format!("[{section}]");
            in_key = false;
            continue;
        }
        if !in_section || trimmed.is_empty() || trimmed.starts_with(['#', ';']) {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if in_key {
                words.extend(trimmed.split_whitespace().map(str::to_string));
            }
            continue;
        }
        in_key = false;
        if let Some((name, value)) = trimmed.split_once(['=', ':'])
            && name.trim() == key
        {
            in_key = true;
            words.extend(value.split_whitespace().map(str::to_string));
        }
    }
    words
}

/// The conftest's new text; None when both parts are there already.
fn merged(path: &Path, old: &str, wanted: &Wanted) -> Result<Option<String>, String> {
    let env_line = format!("os.environ.setdefault(\"{}\", \"mem://\")", wanted.env_var);
    let has_env = old.contains(&format!("setdefault(\"{}\"", wanted.env_var));
    let has_fixture = old.contains(FIXTURE);
    if has_env && has_fixture {
        return Ok(None);
    }
    if old.trim().is_empty() {
        return Ok(Some(new_conftest(&env_line, wanted)));
    }
    let src = SourceFile::parse(path, old.as_bytes().to_vec()).map_err(|e| e.0)?;
    let eol = file_line_ending(old);
    let mut text = old.to_string();
    if !has_fixture {
        let pytest = if binds_at_top(&src, "pytest") {
            String::new()
        } else {
            format!("import pytest{eol}")
        };
        let fixture = fixture(wanted).replace('\n', eol);
        let gap = match text.ends_with('\n') {
            true => eol.repeat(2),
            false => eol.repeat(3),
        };
        text.push_str(&format!("{gap}{fixture}"));
        // `import pytest` goes with the environment default at the top.
        text = insert_top(
            &src,
            &text,
            &pytest,
            if has_env { None } else { Some(&env_line) },
        );
    } else {
        text = insert_top(&src, &text, "", Some(&env_line));
    }
    Ok(Some(text))
}

/// The whole file when there is none.
fn new_conftest(env_line: &str, wanted: &Wanted) -> String {
    format!(
        "\"\"\"Test settings added by cashews-add.\"\"\"\n\nimport os\n\nimport pytest\n\n{}\n{env_line}\n\n\n{}",
        env_comment(),
        fixture(wanted)
    )
}

fn env_comment() -> &'static str {
    "# Before the app is imported: the test run caches in memory, fresh for every\n# run (the default disk cache would serve the previous run's values)."
}

/// The autouse fixture; it imports the cache inside, so a test environment
/// without cashews installed yet still runs.
fn fixture(wanted: &Wanted) -> String {
    let (module, name) = wanted.cache;
    let var = wanted.env_var;
    let alias = if name == "cache" {
        String::new()
    } else {
        " as cache".to_string()
    };
    format!(
        "@pytest.fixture(autouse=True)
def {FIXTURE}():
    \"\"\"Each test starts with an empty in-memory cache (added by cashews-add).

    A plain fixture, so it needs no event loop; a run pointed at another
    backend on purpose (CACHE_URL=redis://...) is left alone.
    \"\"\"
    url = os.environ.get(\"{var}\", \"\")
    if url.startswith(\"mem://\"):
        try:
            from {module} import {name}{alias}
        except ImportError:  # cashews is not installed here yet
            return
        # check_interval=0: no background task tied to this test's loop.
        cache.setup(url, check_interval=0)
"
    )
}

/// Inserts the environment default (with `import os` unless the first
/// import is one) and `extra` imports after the docstring, leading comments
/// and `from __future__` imports: before anything can import the app.
fn insert_top(src: &SourceFile, text: &str, extra: &str, env_line: Option<&str>) -> String {
    let eol = file_line_ending(text);
    let (at, first_import) = top_spot(src);
    let reuse_os = first_import.is_some_and(|n| {
        let code: String = src
            .text_of(n)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        code == "import os"
    });
    let mut block = String::new();
    let at = match (env_line, reuse_os) {
        (Some(line), true) => {
            let after = line_end(text, first_import.map_or(at, |n| n.end_byte()));
            block.push_str(&format!(
                "{extra}{}{eol}{line}{eol}",
                env_comment().replace('\n', eol)
            ));
            after
        }
        (Some(line), false) => {
            // One blank line below, unless the text there starts with one.
            let below = if text[at..].starts_with(['\n', '\r']) {
                ""
            } else {
                eol
            };
            block.push_str(&format!(
                "import os{eol}{extra}{eol}{}{eol}{line}{eol}{below}",
                env_comment().replace('\n', eol)
            ));
            at
        }
        (None, _) => {
            block.push_str(extra);
            at
        }
    };
    if block.is_empty() {
        return text.to_string();
    }
    let lead = if at > 0 && !text[..at].ends_with("\n\n") && !text[..at].ends_with("\r\n\r\n") {
        eol
    } else {
        ""
    };
    let lead = if at == 0 { "" } else { lead };
    format!("{}{lead}{block}{}", &text[..at], &text[at..])
}

/// Where new top lines go, and the first import statement after that spot.
fn top_spot(src: &SourceFile) -> (usize, Option<Node<'_>>) {
    let root = src.tree.root_node();
    let mut cursor = root.walk();
    let mut at = 0;
    let mut first_import = None;
    for (i, node) in root.named_children(&mut cursor).enumerate() {
        // Only docstring, comments and `from __future__` come before.
        let keep_above = node.kind() == "future_import_statement"
            || node.kind() == "comment"
            || (i == 0 && is_docstring(node));
        if keep_above {
            at = line_end(&src.text, node.end_byte());
            continue;
        }
        if matches!(node.kind(), "import_statement" | "import_from_statement") {
            first_import = Some(node);
        }
        break;
    }
    (at, first_import)
}

/// Whether a module-level import binds `name`.
fn binds_at_top(src: &SourceFile, name: &str) -> bool {
    let root = src.tree.root_node();
    let mut cursor = root.walk();
    root.named_children(&mut cursor)
        .filter(|n| matches!(n.kind(), "import_statement" | "import_from_statement"))
        .any(|n| {
            let code: String = src
                .text_of(n)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            code == format!("import {name}") || code.starts_with(&format!("import {name},"))
        })
}

#[cfg(test)]
mod tests;
