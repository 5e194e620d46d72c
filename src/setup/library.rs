//! Libraries. A setup at import time inside a library overrides the global
//! cache configuration of every application that imports it, and a hard
//! dependency forces cashews on all of them. So for a library the tool adds
//! no global setup: the decorators use a library-owned instance in a small
//! module it adds (`<pkg>/_cache.py`), which caches in process memory until
//! the host application sets it up, and cashews becomes an optional extra.
//!
//! The rule (README, "Libraries"): pyproject.toml names the distribution
//! (`[project]` or `[tool.poetry]`) and a package folder of that name (at
//! the root or under `src/`, or Poetry's first `packages` entry) exists, and
//! either its classifiers say `Topic :: Software Development :: Libraries`,
//! or the package builds no application object (FastAPI, Starlette,
//! Litestar, aiohttp `web.Application`, Quart, Sanic, a bot or dispatcher)
//! and has no entry point (`[project.scripts]`, Poetry scripts,
//! `__main__.py`, `if __name__ == "__main__":`), or its entry points are a
//! command line beside an importable API (`__init__.py` re-exports its
//! modules' names, no launcher at the root). An application object always
//! means an application.

use std::path::{Path, PathBuf};

use crate::rewrite::FileChange;

/// Constructors that make a module an application, not a library.
const APP_NEEDLES: &[&str] = &[
    "FastAPI(",
    "Starlette(",
    "Litestar(",
    "web.Application(",
    "Quart(",
    "Sanic(",
    "Flask(",
    "Bot(",
    "Dispatcher(",
    "TelegramClient(",
    "discord.Client(",
    "pyrogram.Client(",
    "FastStream(",
    // A Taskiq or FastStream broker is run by its worker command.
    "Broker(",
    // A worker or a Django app is run by its framework, not imported by a host.
    "class WorkerSettings",
    "(AppConfig)",
];

const LIBRARY_CLASSIFIER: &str = "Topic :: Software Development :: Libraries";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Library {
    /// The distribution's name (`stock-client`), for `pip install NAME[cache]`.
    pub(crate) dist: String,
    /// The import name of its package (`stock_client`).
    pub(crate) package: String,
    /// The package's folder.
    pub(crate) dir: PathBuf,
    /// Why it counts as a library, for the output.
    pub(crate) why: String,
}

impl Library {
    /// The instance the decorators use: (`pkg._cache`, `pkg_cache`).
    pub(crate) fn cache(&self) -> (String, String) {
        (
            format!("{}._cache", self.package),
            format!("{}_cache", self.package),
        )
    }

    /// `STOCK_CLIENT_CACHE_URL`: the library's own, never the app's CACHE_URL.
    pub(crate) fn env_var(&self) -> String {
        format!("{}_CACHE_URL", self.package.to_uppercase())
    }
}

/// The library at `root`, if the project is one; `forced` is the
/// `[tool.cashews-add] library = true|false` override, for projects the
/// rule below gets wrong (a library shipping a demo app, an app without
/// an app object of a known framework).
pub(crate) fn detect(root: &Path, forced: Option<bool>) -> Option<Library> {
    if forced == Some(false) {
        return None;
    }
    let text = crate::file::read_text(&root.join("pyproject.toml")).ok()?;
    let table = text.parse::<toml::Table>().ok()?;
    let project = table.get("project");
    let poetry = table.get("tool").and_then(|t| t.get("poetry"));
    let dist = [project, poetry]
        .into_iter()
        .flatten()
        .find_map(|t| t.get("name")?.as_str())?
        .to_string();
    let package: String = dist
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let dir = package_dir(root, &package, poetry)?;
    let package = dir.file_name()?.to_string_lossy().into_owned();
    let says_so = [project, poetry]
        .into_iter()
        .flatten()
        .filter_map(|t| t.get("classifiers")?.as_array())
        .flatten()
        .any(|c| {
            c.as_str()
                .is_some_and(|c| c.starts_with(LIBRARY_CLASSIFIER))
        });
    if forced == Some(true) {
        return Some(Library {
            why: format!(
                "{dist} is a library: [tool.cashews-add] library = true, and pyproject.toml names the package {package}/"
            ),
            dist,
            package,
            dir,
        });
    }
    let mut files = python_files(&dir);
    files.extend(root_files(root));
    // Django's layout: a project that runs, whatever its pyproject says.
    let django = ["manage.py", "settings.py", "asgi.py", "wsgi.py"];
    if files.iter().any(|(p, _)| {
        p.file_name()
            .is_some_and(|n| django.contains(&n.to_string_lossy().as_ref()))
    }) {
        return None;
    }
    if files.iter().any(|(_, t)| builds_app(t)) {
        return None;
    }
    let why = if says_so {
        format!("its classifiers say so ({LIBRARY_CLASSIFIER})")
    } else if !has_entry_point(project, poetry, &dir, &files) {
        "it builds no application object and has no entry point ([project.scripts], __main__.py, `if __name__ == \"__main__\":`)".to_string()
    } else if exports_api(&dir) && !root_launcher(root) {
        format!(
            "it builds no application object, and its entry points are a command line beside the API {package}/__init__.py exports (other applications import it)"
        )
    } else {
        return None;
    };
    Some(Library {
        why: format!("{dist} is a library: pyproject.toml names the package {package}/ and {why}"),
        dist,
        package,
        dir,
    })
}

/// Whether a module builds an application object, or starts one when it is
/// imported (a top-level `asyncio.run(...)` or `app.run()`, as a pyrogram
/// bot's module ends): no library does either.
fn builds_app(text: &str) -> bool {
    APP_NEEDLES.iter().any(|n| text.contains(n))
        || (text.contains("pyrogram") && text.contains("Client("))
        || text.lines().any(starts_at_import)
}

/// An unindented `NAME.run(...)` / `NAME.run_until_complete(...)` line.
fn starts_at_import(line: &str) -> bool {
    let Some(call) = line.split('(').next() else {
        return false;
    };
    let dotted = !call.is_empty()
        && call
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    dotted
        && line.contains('(')
        && matches!(
            call.rsplit('.').next(),
            Some("run" | "run_until_complete" | "run_until_disconnected")
        )
        && call.contains('.')
}

/// `NAME/` or `src/NAME/` with an `__init__.py`, else Poetry's first
/// `packages = [{ include = "x" }]` entry.
fn package_dir(root: &Path, package: &str, poetry: Option<&toml::Value>) -> Option<PathBuf> {
    let included = poetry
        .and_then(|p| {
            p.get("packages")?
                .as_array()?
                .first()?
                .get("include")?
                .as_str()
        })
        .map(str::to_string);
    let mut candidates = vec![root.join(package), root.join("src").join(package)];
    if let Some(inc) = included {
        candidates.push(root.join(&inc));
        candidates.push(root.join("src").join(&inc));
    }
    candidates
        .into_iter()
        .find(|d| d.join("__init__.py").is_file())
}

fn has_entry_point(
    project: Option<&toml::Value>,
    poetry: Option<&toml::Value>,
    dir: &Path,
    files: &[(PathBuf, String)],
) -> bool {
    let scripts = |t: Option<&toml::Value>, key: &str| {
        t.and_then(|t| t.get(key)?.as_table())
            .is_some_and(|s| !s.is_empty())
    };
    scripts(project, "scripts")
        || scripts(project, "gui-scripts")
        || scripts(poetry, "scripts")
        || dir.join("__main__.py").is_file()
        || files.iter().any(|(_, t)| has_main_guard(t))
}

/// Whether the package's `__init__.py` re-exports names of its own modules
/// (`from .api import Client`, `__all__ = [...]`): an importable API. An
/// application's package rarely has one; a library with a command line
/// (`[project.scripts]` naming its `cli` module) does.
fn exports_api(dir: &Path) -> bool {
    let Ok(text) = crate::file::read_text(&dir.join("__init__.py")) else {
        return false;
    };
    text.lines().any(|l| {
        let l = l.trim_start();
        l.starts_with("__all__") || (l.starts_with("from .") && !l.contains(" import *"))
    })
}

/// A launcher at the project's root (`run.py` with a `__main__` guard): the
/// project runs as an application, whatever its package exports.
fn root_launcher(root: &Path) -> bool {
    root_files(root).iter().any(|(_, t)| has_main_guard(t))
}

fn has_main_guard(text: &str) -> bool {
    text.lines().any(|l| {
        let l: String = l.split_whitespace().collect();
        l.starts_with("if__name__==") && l.contains("__main__")
    })
}

/// Where the library sets up cashews' global cache at import (a
/// module-level `cache.setup(...)` on `cashews.cache`): `FILE:LINE` each.
/// Every application importing it would have its own settings replaced.
pub(crate) fn global_setups(lib: &Library) -> Vec<String> {
    let mut files = python_files(&lib.dir);
    files.sort();
    let mut found = Vec::new();
    for (path, text) in files {
        if !text.contains("cashews") || !text.contains(".setup(") {
            continue;
        }
        let Ok(src) = crate::source::SourceFile::parse(&path, text.into_bytes()) else {
            continue;
        };
        let module = crate::project::module_name(&path);
        let binds = super::Bindings::collect(&src, &module);
        for call in super::calls_in_statements_mentioning(&src, &[".setup("]) {
            if in_def(call) {
                continue;
            }
            let Some(function) = call.child_by_field_name("function") else {
                continue;
            };
            if let Some((receiver, line)) = super::setup_receiver(&src, call, function)
                && binds.resolve(&receiver) == "cashews.cache"
            {
                found.push(format!("{}:{line}", crate::render::diff_path(&path)));
            }
        }
    }
    found
}

/// Whether a node sits in a def or class body (not run at import).
fn in_def(node: tree_sitter::Node) -> bool {
    let mut n = node.parent();
    while let Some(p) = n {
        if matches!(p.kind(), "function_definition" | "class_definition") {
            return true;
        }
        n = p.parent();
    }
    false
}

/// The package's Python files (tests left out), with their text.
fn python_files(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            // Symlinked folders are not followed: a link loop must not hang the run.
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                if !name.starts_with('.')
                    && !matches!(name.as_str(), "tests" | "test" | "__pycache__")
                {
                    stack.push(path);
                }
            } else if name.ends_with(".py")
                && !name.starts_with("test_")
                && name != "conftest.py"
                && let Ok(text) = crate::file::read_text(&path)
            {
                out.push((path, text));
            }
        }
    }
    out
}

/// The Python files at the project's root (`manage.py`, `main.py`, a launcher).
fn root_files(root: &Path) -> Vec<(PathBuf, String)> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "py") && p.is_file())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n != "conftest.py" && n != "setup.py" && n != "noxfile.py")
        })
        .filter_map(|p| Some((p.clone(), crate::file::read_text(&p).ok()?)))
        .collect()
}

/// `<pkg>/_cache.py` when it is not there yet.
pub(crate) fn cache_module(lib: &Library) -> Option<FileChange> {
    let path = lib.dir.join("_cache.py");
    if path.exists() {
        return None;
    }
    Some(FileChange {
        path,
        old: String::new(),
        new: module_text(lib),
    })
}

fn module_text(lib: &Library) -> String {
    let (pkg, (_, name), var, dist) = (&lib.package, lib.cache(), lib.env_var(), &lib.dist);
    format!(
        r#""""The cache of {pkg}, left for the application that uses {pkg} to set up.

Added by cashews-add. {pkg} is a library, so it leaves cashews' global cache
to the application and caches with this instance instead. It caches in
process memory until the application points it elsewhere at startup:

    from {pkg}._cache import {name}
    {name}.setup("redis://localhost:6379/0")

or with {var}=redis://... in the environment. Without cashews installed
(`pip install '{dist}[cache]'`) the cached functions run uncached.
"""

import os


class _Uncached:
    """Stands in for cashews' Cache: every decorator passes the function through."""

    def __init__(self, name=""):
        self.name = name

    def __call__(self, *args, **kwargs):
        return lambda func: func

    def __getattr__(self, attribute):
        return self


try:
    from cashews import Cache
except ImportError:  # the `cache` extra is not installed: no caching
    Cache = _Uncached

{name} = Cache(name="{pkg}")
{name}.setup(os.environ.get("{var}", "mem://"))
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(pyproject: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pyproject.toml"), pyproject).unwrap();
        for (rel, text) in files {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        dir
    }

    const PEP621: &str = "[project]\nname = \"stock-client\"\nversion = \"1.0\"\n";
    const CLIENT: &str = "async def fetch(sku):\n    return sku\n";

    #[test]
    fn a_package_without_app_or_entry_point_is_a_library() {
        let dir = project(
            PEP621,
            &[
                ("stock_client/__init__.py", ""),
                ("stock_client/api.py", CLIENT),
            ],
        );
        let lib = detect(dir.path(), None).unwrap();
        assert_eq!(lib.package, "stock_client");
        assert_eq!(
            lib.cache(),
            ("stock_client._cache".into(), "stock_client_cache".into())
        );
        assert_eq!(lib.env_var(), "STOCK_CLIENT_CACHE_URL");
        let src = project(PEP621, &[("src/stock_client/__init__.py", "")]);
        assert!(detect(src.path(), None).is_some(), "src layout");
    }

    #[test]
    fn apps_and_entry_points_are_not_libraries() {
        let app = "from fastapi import FastAPI\napp = FastAPI()\n";
        let dir = project(
            PEP621,
            &[
                ("stock_client/__init__.py", ""),
                ("stock_client/main.py", app),
            ],
        );
        assert_eq!(detect(dir.path(), None), None);
        let scripts = format!("{PEP621}\n[project.scripts]\nstock = \"stock_client:main\"\n");
        let dir = project(&scripts, &[("stock_client/__init__.py", "")]);
        assert_eq!(detect(dir.path(), None), None);
        let dir = project(
            PEP621,
            &[
                ("stock_client/__init__.py", ""),
                ("stock_client/__main__.py", ""),
            ],
        );
        assert_eq!(detect(dir.path(), None), None);
        let guard = "if __name__ == '__main__':\n    pass\n";
        let dir = project(
            PEP621,
            &[
                ("stock_client/__init__.py", ""),
                ("stock_client/cli.py", guard),
            ],
        );
        assert_eq!(detect(dir.path(), None), None);
        // The classifier wins over an entry point, not over an app object.
        let says = format!(
            "{scripts}\n[project.optional-dependencies]\n"
        )
        .replace("version = \"1.0\"\n", "version = \"1.0\"\nclassifiers = [\"Topic :: Software Development :: Libraries :: Python Modules\"]\n");
        let dir = project(&says, &[("stock_client/__init__.py", "")]);
        assert!(
            detect(dir.path(), None)
                .unwrap()
                .why
                .contains("classifiers")
        );
        // A Django project, a launcher at the root.
        let dir = project(
            PEP621,
            &[("stock_client/__init__.py", ""), ("manage.py", "")],
        );
        assert_eq!(detect(dir.path(), None), None);
        let dir = project(
            PEP621,
            &[("stock_client/__init__.py", ""), ("run.py", guard)],
        );
        assert_eq!(detect(dir.path(), None), None);
        // A Taskiq broker, a pyrogram client started at import: applications.
        let worker = "from taskiq import InMemoryBroker\nbroker = InMemoryBroker()\n";
        let started = "from pyrogram import Client\napp = Client('q')\napp.run()\n";
        for text in [worker, started, "import asyncio\nasyncio.run(main())\n"] {
            let files = [
                ("stock_client/__init__.py", ""),
                ("stock_client/bot.py", text),
            ];
            assert_eq!(detect(project(PEP621, &files).path(), None), None, "{text}");
        }
        assert!(!starts_at_import("    app.run()"));
        assert!(!starts_at_import("run(x)"));
        // No package of the project's name: not a distributable package.
        let dir = project(PEP621, &[("app/__init__.py", ""), ("app/api.py", CLIENT)]);
        assert_eq!(detect(dir.path(), None), None);
    }

    #[test]
    fn a_command_line_beside_an_exported_api_is_still_a_library() {
        let scripts = format!("{PEP621}\n[project.scripts]\nstock = \"stock_client.cli:run\"\n");
        let exports = "from .api import fetch\nfrom .models import *\n";
        let cli = "import asyncio\n\ndef run():\n    asyncio.run(main())\n\nif __name__ == '__main__':\n    run()\n";
        let files = [
            ("stock_client/__init__.py", exports),
            ("stock_client/api.py", CLIENT),
            ("stock_client/cli.py", cli),
        ];
        let lib = detect(project(&scripts, &files).path(), None).unwrap();
        assert!(lib.why.contains("command line"), "{}", lib.why);
        // Only a star import, or a launcher at the root: an application.
        let star = [
            ("stock_client/__init__.py", "from .models import *\n"),
            files[2],
        ];
        assert_eq!(detect(project(&scripts, &star).path(), None), None);
        let guard = "if __name__ == '__main__':\n    pass\n";
        let mut launched = files.to_vec();
        launched.push(("run.py", guard));
        assert_eq!(detect(project(&scripts, &launched).path(), None), None);
        // An app object still wins over the exported API.
        let mut app = files.to_vec();
        app.push((
            "stock_client/web.py",
            "from fastapi import FastAPI\napp = FastAPI()\n",
        ));
        assert_eq!(detect(project(&scripts, &app).path(), None), None);
    }

    #[test]
    fn the_config_overrides_the_rule() {
        let app = "from fastapi import FastAPI\napp = FastAPI()\n";
        let files = [
            ("stock_client/__init__.py", ""),
            ("stock_client/demo.py", app),
        ];
        let dir = project(PEP621, &files);
        assert_eq!(detect(dir.path(), None), None, "an app object");
        let lib = detect(dir.path(), Some(true)).unwrap();
        assert!(lib.why.contains("library = true"), "{}", lib.why);
        let dir = project(PEP621, &[("stock_client/__init__.py", "")]);
        assert!(detect(dir.path(), None).is_some());
        assert_eq!(detect(dir.path(), Some(false)), None);
    }

    #[test]
    fn a_global_setup_at_import_is_found() {
        let setup = "import os\nfrom cashews import cache\n\ncache.setup(os.environ.get(\"U\", \"mem://\"))\n\n\ndef later():\n    cache.setup(\"mem://\")\n";
        let own = "from cashews import Cache\n\nmine = Cache(name=\"x\")\nmine.setup(\"mem://\")\n";
        let dotted = "import cashews\n\nif True:\n    cashews.cache.setup(\"mem://\")\n";
        let dir = project(
            PEP621,
            &[
                ("stock_client/__init__.py", setup),
                ("stock_client/own.py", own),
                ("stock_client/z.py", dotted),
            ],
        );
        let lib = detect(dir.path(), None).unwrap();
        let found = global_setups(&lib);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].ends_with("stock_client/__init__.py:4"),
            "{found:?}"
        );
        assert!(found[1].ends_with("stock_client/z.py:4"), "{found:?}");
    }

    #[test]
    fn the_cache_module_parses_and_is_added_once() {
        let dir = project(PEP621, &[("stock_client/__init__.py", "")]);
        let lib = detect(dir.path(), None).unwrap();
        let change = cache_module(&lib).unwrap();
        assert!(
            change
                .new
                .contains("stock_client_cache = Cache(name=\"stock_client\")\n")
        );
        crate::source::SourceFile::parse(&change.path, change.new.clone().into_bytes()).unwrap();
        std::fs::write(&change.path, &change.new).unwrap();
        assert!(cache_module(&lib).is_none());
    }
}
