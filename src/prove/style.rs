//! How the project writes its async tests, so the generated test reads as
//! one of its own and needs nothing the project does not already have.

use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// pytest-asyncio in strict mode: `@pytest.mark.asyncio` on each test.
    AsyncioMark,
    /// pytest-asyncio with `asyncio_mode = "auto"`: plain `async def` tests.
    AsyncioAuto,
    /// anyio's pytest plugin: `@pytest.mark.anyio`.
    Anyio,
    /// No async plugin: sync tests drive the loop with `asyncio.run`.
    Plain,
}

impl Style {
    /// What the report says about the choice.
    pub(crate) fn note(self) -> &'static str {
        match self {
            Style::AsyncioMark => "pytest-asyncio, @pytest.mark.asyncio as the project's tests use",
            Style::AsyncioAuto => "pytest-asyncio in auto mode, as the project configures it",
            Style::Anyio => "anyio's pytest plugin, @pytest.mark.anyio as the project's tests use",
            Style::Plain => {
                "the project uses no async test plugin, so the checks run under asyncio.run in plain tests (nothing added)"
            }
        }
    }
}

/// The style of the project at `root` whose tests live in `folder`.
pub(crate) fn detect(root: &Path, folder: &Path) -> Style {
    let config: String = ["pyproject.toml", "pytest.ini", "setup.cfg", "tox.ini"]
        .iter()
        .map(|n| crate::file::read_text(&root.join(n)).unwrap_or_default())
        .collect();
    let squeezed: String = config.chars().filter(|c| !c.is_whitespace()).collect();
    // The ini option, or the command-line one in `addopts`.
    if squeezed.contains("asyncio_mode=\"auto\"")
        || squeezed.contains("asyncio_mode='auto'")
        || squeezed.contains("asyncio_mode=auto")
        || squeezed.contains("--asyncio-mode=auto")
        || squeezed.contains("--asyncio-modeauto")
    {
        return Style::AsyncioAuto;
    }
    let tests = test_texts(folder);
    let anyio = tests.matches("mark.anyio").count() + tests.matches("anyio_backend").count();
    let asyncio = tests.matches("mark.asyncio").count() + tests.matches("pytest_asyncio").count();
    match (anyio, asyncio) {
        (0, 0) if declares_pytest_asyncio(root, &config) => Style::AsyncioMark,
        (0, 0) => Style::Plain,
        (a, b) if a > b => Style::Anyio,
        _ => Style::AsyncioMark,
    }
}

/// Whether the project's tests beside `folder` mark themselves
/// `pytest.mark.unit` (often required: `--strict-markers`, or a collection
/// hook refusing unmarked tests); the generated test, faking its I/O, is one.
pub(crate) fn marks_unit(folder: &Path) -> bool {
    let tests = test_texts(folder);
    tests.contains("mark.unit\n") || tests.contains("mark.unit)") || tests.contains("mark.unit,")
}

/// pytest-asyncio named in the project's dependency files.
fn declares_pytest_asyncio(root: &Path, config: &str) -> bool {
    let mut text = config.to_lowercase();
    if let Ok(entries) = std::fs::read_dir(root) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_lowercase();
            if name.starts_with("requirements") || name == "pdm.lock" || name == "poetry.lock" {
                text.push_str(
                    &crate::file::read_text(&e.path())
                        .unwrap_or_default()
                        .to_lowercase(),
                );
            }
        }
    }
    text.contains("pytest-asyncio") || text.contains("pytest_asyncio")
}

/// Most files read when looking at the tests' style.
const MAX_FILES: usize = 300;

/// The text of the test folder's Python files (sorted, bounded), for counting marks.
fn test_texts(folder: &Path) -> String {
    let mut files = Vec::new();
    let mut stack = vec![folder.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if p.is_dir() && !name.starts_with('.') && name != "node_modules" {
                stack.push(p);
            } else if name.ends_with(".py") && files.len() < MAX_FILES {
                files.push(p);
            }
        }
    }
    files
        .iter()
        .map(|f| crate::file::read_text(f).unwrap_or_default())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        dir
    }

    #[test]
    fn styles_follow_the_project() {
        let auto = project(&[
            (
                "pyproject.toml",
                "[tool.pytest.ini_options]\nasyncio_mode = \"auto\"\n",
            ),
            ("tests/test_a.py", ""),
        ]);
        assert_eq!(
            detect(auto.path(), &auto.path().join("tests")),
            Style::AsyncioAuto
        );
        let addopts = project(&[
            (
                "pyproject.toml",
                "[tool.pytest.ini_options]\naddopts = '''\n  --strict-markers\n  --asyncio-mode=auto\n'''\n",
            ),
            ("tests/test_a.py", ""),
        ]);
        assert_eq!(
            detect(addopts.path(), &addopts.path().join("tests")),
            Style::AsyncioAuto
        );
        let anyio = project(&[(
            "tests/test_a.py",
            "@pytest.mark.anyio\nasync def test(): ...\n",
        )]);
        assert_eq!(
            detect(anyio.path(), &anyio.path().join("tests")),
            Style::Anyio
        );
        let mark = project(&[(
            "tests/test_a.py",
            "@pytest.mark.asyncio\nasync def test(): ...\n",
        )]);
        assert_eq!(
            detect(mark.path(), &mark.path().join("tests")),
            Style::AsyncioMark
        );
        let declared = project(&[
            ("requirements-dev.txt", "pytest-asyncio==1.0\n"),
            ("tests/x.py", ""),
        ]);
        assert_eq!(
            detect(declared.path(), &declared.path().join("tests")),
            Style::AsyncioMark
        );
        let plain = project(&[("tests/test_a.py", "def test(): ...\n")]);
        assert_eq!(
            detect(plain.path(), &plain.path().join("tests")),
            Style::Plain
        );
    }
}
