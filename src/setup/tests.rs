use super::*;
use crate::edit::apply;

const URL: &str = "mem://";

/// A project in a temporary folder: pyproject.toml plus `files`.
fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pyproject.toml"),
        "[project]\nname = \"demo\"\n",
    )
    .unwrap();
    for (rel, text) in files {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

struct Outcome {
    report: SetupReport,
    /// (file relative to the project, its new text)
    edited: Option<(String, String)>,
}

fn run(dir: &tempfile::TempDir, cached: &[&str], setup_in: Option<&str>, skip: bool) -> Outcome {
    let root = dir.path();
    let cached: Vec<Cached> = cached
        .iter()
        .map(|rel| Cached {
            path: root.join(rel),
            module: crate::project::module_name_in(root, &root.join(rel)),
            src: None,
        })
        .collect();
    let opts = SetupOptions {
        skip,
        setup_in: setup_in.map(|f| root.join(f)),
        url: URL.to_string(),
        cache: ("cashews".to_string(), "cache".to_string()),
    };
    let plan = plan(root, true, &cached, &opts).unwrap();
    let edited = plan.edits.map(|e| {
        let edits: Vec<Edit> = crate::imports::coalesce(&e.src, e.imports)
            .into_iter()
            .chain(e.body)
            .collect();
        let new = apply(&e.src.text, &edits).unwrap();
        assert!(
            crate::source::parse_tree(&new).is_some_and(|t| !t.root_node().has_error()),
            "{new}"
        );
        assert_eq!(new.matches(&e.call).count(), 1, "{new}");
        let rel = e
            .src
            .path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        (rel, new)
    });
    Outcome {
        report: plan.report,
        edited,
    }
}

const TARGET: &str = "from cashews import cache\n\n\n@cache(ttl=\"1h\", key=\"svc:f:{a}\")\nasync def f(a):\n    return a\n";
const SETUP: &str = "cache.setup(os.environ.get(\"CACHE_URL\", \"mem://\"))";

#[test]
fn placement_table() {
    let app_importing = "from fastapi import FastAPI\n\nfrom pkg import svc\n\napp = FastAPI()\n";
    let app_alone = "from fastapi import FastAPI\n\napp = FastAPI()\n";
    let script = "import asyncio\n\nfrom pkg.svc import f\n\nif __name__ == \"__main__\":\n    asyncio.run(f(1))\n";
    let other_script = "import asyncio\n\nasync def g():\n    return 1\n\nif __name__ == '__main__':\n    asyncio.run(g())\n";
    let bare_run = "import asyncio\nfrom pkg import svc\n\nasyncio.run(svc.f(1))\n";
    // (files, expected file, expected place, warns)
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, Place, bool);
    let table: Vec<Case> = vec![
        (
            vec![("pkg/web.py", app_importing)],
            "pkg/web.py",
            Place::NewLifespan,
            false,
        ),
        (
            vec![("pkg/admin.py", app_alone), ("pkg/web.py", app_importing)],
            "pkg/web.py",
            Place::NewLifespan,
            false,
        ),
        (
            vec![("pkg/admin.py", app_alone)],
            "pkg/admin.py",
            Place::NewLifespan,
            false,
        ),
        (
            vec![("run.py", script), ("pkg/web.py", app_importing)],
            "pkg/web.py",
            Place::NewLifespan,
            false,
        ),
        (
            vec![
                ("pkg/admin.py", app_alone),
                (
                    "pkg/factory.py",
                    "from fastapi import FastAPI\n\nfrom . import svc\n\n\ndef create_app():\n    app = FastAPI()\n    return app\n",
                ),
            ],
            "pkg/factory.py",
            Place::NewLifespan,
            false,
        ),
        (vec![("run.py", script)], "run.py", Place::MainBlock, false),
        (
            vec![("run.py", bare_run)],
            "run.py",
            Place::BeforeRun,
            false,
        ),
        // The cached module is itself the script (and never names itself).
        (
            vec![(
                "pkg/svc.py",
                "import asyncio\n\n\nasync def f(a):\n    return a\n\nif __name__ == \"__main__\":\n    asyncio.run(f(1))\n",
            )],
            "pkg/svc.py",
            Place::MainBlock,
            false,
        ),
        (
            vec![("other.py", other_script)],
            "pkg/svc.py",
            Place::Module,
            true,
        ),
        (
            vec![
                ("tests/test_app.py", app_importing),
                ("conftest.py", script),
            ],
            "pkg/svc.py",
            Place::Module,
            true,
        ),
        (
            vec![(".venv/lib/app.py", app_importing)],
            "pkg/svc.py",
            Place::Module,
            true,
        ),
    ];
    for (i, (files, file, place, warns)) in table.into_iter().enumerate() {
        let mut files = files;
        files.push(("pkg/__init__.py", ""));
        if !files.iter().any(|(f, _)| *f == "pkg/svc.py") {
            files.push(("pkg/svc.py", TARGET));
        }
        let dir = project(&files);
        let out = run(&dir, &["pkg/svc.py"], None, false);
        let (edited, _) = out.edited.as_ref().unwrap();
        assert_eq!(
            (
                edited.as_str(),
                out.report.place,
                !out.report.warnings.is_empty()
            ),
            (file, Some(place), warns),
            "case {i}: {:?}",
            out.report
        );
        assert_eq!(out.report.status, SetupStatus::Added);
    }
}

#[test]
fn app_factory_gets_a_module_level_lifespan() {
    let dir = project(&[
        (
            "pkg/factory.py",
            "from fastapi import FastAPI\n\nfrom .svc import f\n\n\ndef create_app():\n    app = FastAPI(debug=True)\n    return app\n",
        ),
        ("pkg/__init__.py", ""),
        ("pkg/svc.py", TARGET),
    ]);
    let (_, after) = run(&dir, &["pkg/svc.py"], None, false).edited.unwrap();
    assert_eq!(
        after,
        format!(
            "import os\nfrom contextlib import asynccontextmanager\n\nfrom cashews import cache\nfrom fastapi import FastAPI\n\nfrom .svc import f\n\n\n@asynccontextmanager\nasync def lifespan(app):\n    {SETUP}\n    yield\n    await cache.close()\n\n\ndef create_app():\n    app = FastAPI(debug=True, lifespan=lifespan)\n    return app\n"
        )
    );
}

#[test]
fn existing_setup_is_reported_not_duplicated() {
    let cases: Vec<(&str, &str, usize)> = vec![
        (
            "main.py",
            "from cashews import cache\n\ncache.setup(\"mem://\")\n",
            3,
        ),
        (
            "main.py",
            "import cashews\n\n\nasync def start():\n    await cashews.cache.init(\"redis://\")\n",
            5,
        ),
        (
            "main.py",
            "from cashews import cache as c\nc.setup_tags_backend(\"mem://\")\n",
            2,
        ),
        (
            "pkg/boot.py",
            "from .caching import store\n\nstore.setup(\"mem://\")\n",
            3,
        ),
    ];
    for (file, text, line) in cases {
        let dir = project(&[
            (file, text),
            ("pkg/__init__.py", ""),
            (
                "pkg/caching.py",
                "from cashews import Cache\n\nstore = Cache()\n",
            ),
            ("pkg/svc.py", TARGET),
        ]);
        let out = run(&dir, &["pkg/svc.py"], None, false);
        assert_eq!(out.report.status, SetupStatus::Present, "{file}: {text}");
        assert!(out.edited.is_none());
        assert!(
            out.report
                .file
                .as_deref()
                .is_some_and(|f| f.ends_with(file)),
            "{:?}",
            out.report
        );
        assert_eq!(out.report.line, Some(line), "{text}");
    }
    // Not cashews: another library's `cache.setup`, `init()` without a URL, a setup in tests.
    for (file, text) in [
        ("main.py", "from mylib import cache\n\ncache.setup(\"x\")\n"),
        (
            "main.py",
            "from cashews import cache\n\nasync def s():\n    await cache.init()\n",
        ),
        (
            "tests/conftest.py",
            "from cashews import cache\ncache.setup(\"mem://\")\n",
        ),
    ] {
        let dir = project(&[(file, text), ("svc.py", TARGET)]);
        let out = run(&dir, &["svc.py"], None, false);
        assert_eq!(out.report.status, SetupStatus::Added, "{text}");
    }
}

#[test]
fn new_lifespan_keeps_constructor_arguments() {
    let dir = project(&[
        (
            "main.py",
            "\"\"\"App.\"\"\"\nfrom fastapi import FastAPI\n\nimport svc\n\n# The app.\napp = FastAPI(\n    title=\"x\",\n    debug=True,\n)\n",
        ),
        ("svc.py", TARGET),
    ]);
    let out = run(&dir, &["svc.py"], None, false);
    let (file, text) = out.edited.unwrap();
    assert_eq!(file, "main.py");
    assert_eq!(
        text,
        format!(
            "\"\"\"App.\"\"\"\nimport os\nfrom contextlib import asynccontextmanager\n\nfrom cashews import cache\nfrom fastapi import FastAPI\n\nimport svc\n\n\n@asynccontextmanager\nasync def lifespan(app):\n    {SETUP}\n    yield\n    await cache.close()\n\n\n# The app.\napp = FastAPI(\n    title=\"x\",\n    debug=True,\n    lifespan=lifespan,\n)\n"
        )
    );
    // Starlette, no arguments, a name `lifespan` already taken.
    let dir = project(&[
        (
            "main.py",
            "from starlette.applications import Starlette\nimport os\nimport svc\n\nlifespan = None\napp = Starlette()\n",
        ),
        ("svc.py", TARGET),
    ]);
    let (_, text) = run(&dir, &["svc.py"], None, false).edited.unwrap();
    assert!(text.contains("async def cache_lifespan(app):\n"), "{text}");
    assert!(
        text.ends_with("app = Starlette(lifespan=cache_lifespan)\n"),
        "{text}"
    );
    assert_eq!(text.matches("import os").count(), 1, "{text}");
    // The trailing comma on a line of its own: the keyword goes after it.
    let dir = project(&[
        (
            "main.py",
            "from fastapi import FastAPI\nimport svc\n\napp = FastAPI(\n    title=\"x\"\n    ,\n)\n",
        ),
        ("svc.py", TARGET),
    ]);
    let (_, text) = run(&dir, &["svc.py"], None, false).edited.unwrap();
    assert!(
        text.ends_with("app = FastAPI(\n    title=\"x\"\n    ,\n    lifespan=lifespan,\n)\n"),
        "{text}"
    );
}

#[test]
fn lifespan_is_extended_in_place() {
    let before = "import os\nfrom contextlib import asynccontextmanager\n\nfrom fastapi import FastAPI\n\nfrom cashews import cache\nimport svc\n\n\n@asynccontextmanager\nasync def lifespan(app: FastAPI):\n    \"\"\"Own resources.\"\"\"\n    db = await connect()\n    try:\n        yield {\"db\": db}\n    finally:\n        await db.close()\n\n\napp = FastAPI(lifespan=lifespan)\n";
    let dir = project(&[("main.py", before), ("svc.py", TARGET)]);
    let out = run(&dir, &["svc.py"], None, false);
    assert_eq!(out.report.place, Some(Place::Lifespan));
    let (_, after) = out.edited.unwrap();
    assert_eq!(
        after,
        format!(
            "import os\nfrom contextlib import asynccontextmanager\n\nfrom fastapi import FastAPI\n\nfrom cashews import cache\nimport svc\n\n\n@asynccontextmanager\nasync def lifespan(app: FastAPI):\n    \"\"\"Own resources.\"\"\"\n    {SETUP}\n    db = await connect()\n    try:\n        yield {{\"db\": db}}\n    finally:\n        await db.close()\n        await cache.close()\n\n\napp = FastAPI(lifespan=lifespan)\n"
        )
    );
}

#[test]
fn lifespan_that_cannot_be_extended_falls_back_with_a_warning() {
    for main in [
        "from fastapi import FastAPI\nfrom app.life import lifespan\nimport svc\n\napp = FastAPI(lifespan=lifespan)\n",
        "from fastapi import FastAPI\nimport svc\n\napp = FastAPI(on_startup=[svc.warm])\n",
    ] {
        let dir = project(&[("main.py", main), ("svc.py", TARGET)]);
        let out = run(&dir, &["svc.py"], None, false);
        assert_eq!(out.report.place, Some(Place::Module), "{main}");
        assert_eq!(out.report.warnings.len(), 1, "{:?}", out.report);
        let (_, after) = out.edited.unwrap();
        assert!(
            after.contains(&format!("{SETUP}\napp = FastAPI(")),
            "{after}"
        );
    }
}

#[test]
fn legacy_on_event_handlers() {
    let before = "import os\nfrom fastapi import FastAPI\nfrom cashews import cache\nimport svc\n\napp = FastAPI()\n\n\n@app.on_event(\"startup\")\nasync def startup():\n    await warm()\n\n\nx = 1\n";
    let dir = project(&[("main.py", before), ("svc.py", TARGET)]);
    let out = run(&dir, &["svc.py"], None, false);
    assert_eq!(out.report.place, Some(Place::OnEvent));
    let (_, after) = out.edited.unwrap();
    assert_eq!(
        after,
        format!(
            "import os\nfrom fastapi import FastAPI\nfrom cashews import cache\nimport svc\n\napp = FastAPI()\n\n\n@app.on_event(\"startup\")\nasync def startup():\n    {SETUP}\n    await warm()\n\n\n@app.on_event(\"shutdown\")\nasync def close_cache():\n    await cache.close()\n\n\nx = 1\n"
        )
    );
    let with_shutdown = "import os\nfrom fastapi import FastAPI\nfrom cashews import cache\nimport svc\n\napp = FastAPI()\n\n@app.on_event('startup')\ndef startup():\n    pass\n\n@app.on_event('shutdown')\nasync def bye():\n    \"\"\"Bye.\"\"\"\n    await db.close()\n";
    let dir = project(&[("main.py", with_shutdown), ("svc.py", TARGET)]);
    let (_, after) = run(&dir, &["svc.py"], None, false).edited.unwrap();
    assert!(
        after.contains(&format!("def startup():\n    {SETUP}\n    pass\n")),
        "{after}"
    );
    assert!(
        after.ends_with("async def bye():\n    \"\"\"Bye.\"\"\"\n    await cache.close()\n    await db.close()\n"),
        "{after}"
    );
    // A startup handler that is only a docstring: the setup goes below it,
    // the new shutdown handler after the setup line (both at one offset).
    // With and without a final newline.
    for end in ["\n", ""] {
        let docstring_only = format!(
            "from fastapi import FastAPI\nfrom cashews import cache\nimport os\nimport svc\n\napp = FastAPI()\n\n\n@app.on_event(\"startup\")\nasync def startup():\n    \"\"\"Starts.\"\"\"{end}"
        );
        let dir = project(&[("main.py", &docstring_only), ("svc.py", TARGET)]);
        let (_, after) = run(&dir, &["svc.py"], None, false).edited.unwrap();
        assert!(
            after.ends_with(&format!("async def startup():\n    \"\"\"Starts.\"\"\"\n    {SETUP}\n\n\n@app.on_event(\"shutdown\")\nasync def close_cache():\n    await cache.close()\n")),
            "{after:?}"
        );
    }
}

#[test]
fn module_level_and_setup_in() {
    // --setup-in a module without app or entry point: module level, no warning.
    let dir = project(&[
        ("boot.py", "\"\"\"Boot.\"\"\"\nCONFIG = 1\n"),
        ("svc.py", TARGET),
    ]);
    let out = run(&dir, &["svc.py"], Some("boot.py"), false);
    assert!(out.report.warnings.is_empty());
    assert_eq!(out.report.place, Some(Place::Module));
    let (file, after) = out.edited.unwrap();
    assert_eq!(file, "boot.py");
    assert_eq!(
        after,
        format!(
            "\"\"\"Boot.\"\"\"\n\nimport os\n\nfrom cashews import cache\n\n{SETUP}\n\nCONFIG = 1\n"
        )
    );
    // The cached module itself, after its imports, `os` bound by another name.
    let dir = project(&[(
        "svc.py",
        "import os as system\nfrom cashews import cache\n\n\nasync def f():\n    return 1\n",
    )]);
    let (_, after) = run(&dir, &["svc.py"], None, false).edited.unwrap();
    assert_eq!(
        after,
        "import os as system\nfrom cashews import cache\n\ncache.setup(system.environ.get(\"CACHE_URL\", \"mem://\"))\n\n\nasync def f():\n    return 1\n"
    );
    // --no-setup and nothing cached: skipped.
    let out = run(&dir, &["svc.py"], None, true);
    assert_eq!(out.report.status, SetupStatus::Skipped);
    assert!(out.edited.is_none());
    assert_eq!(
        run(&dir, &[], None, false).report.status,
        SetupStatus::Skipped
    );
}

#[test]
fn urls() {
    assert!(check_url("disk://?directory=/var/cache/x&shards=0", "--backend-url").is_ok());
    assert!(check_url("redis://localhost:6379/0", "--backend-url").is_ok());
    assert!(check_url("mem://", "--backend-url").is_ok());
    let err = check_url("disk:///var/cache/x", "--backend-url").unwrap_err();
    assert!(err.0.contains("disk://?directory=/var/cache/x"), "{err}");
    assert!(check_url("memcached://x", "--backend-url").is_err());
    assert!(check_url("/tmp/x", "--backend-url").is_err());
    assert_eq!(extra_for("disk://"), Some("diskcache"));
    assert_eq!(extra_for("rediss://h"), Some("redis"));
    assert_eq!(extra_for("mem://"), None);
    let dir = project(&[]);
    assert_eq!(
        default_url(dir.path()),
        "disk://?directory=~/.cache/cashews/demo&shards=0"
    );
    std::fs::write(
        dir.path().join("pyproject.toml"),
        "[tool.poetry]\nname = \"My Service!\"\n",
    )
    .unwrap();
    assert_eq!(
        default_url(dir.path()),
        "disk://?directory=~/.cache/cashews/my-service&shards=0"
    );
}

/// Runs the whole rewrite (decorator, setup, dependency) on one target.
fn rewrite_one(dir: &tempfile::TempDir, target: &str) -> crate::rewrite::Report {
    let t = crate::rewrite::Target::parse(&format!("{}::{target}", dir.path().display()))
        .map(|mut t| {
            let (file, _) = target.split_once("::").unwrap();
            t.file = dir.path().join(file);
            t.qualname = target.split_once("::").unwrap().1.to_string();
            t
        })
        .unwrap();
    crate::rewrite::plan(
        &[t],
        &crate::decide::Request::default(),
        &crate::rewrite::ProjectOptions::default(),
    )
    .unwrap()
}

fn new_text(report: &crate::rewrite::Report, file: &str) -> String {
    report
        .changes
        .iter()
        .find(|c| c.path.ends_with(file))
        .unwrap_or_else(|| panic!("no change to {file}"))
        .new
        .clone()
}

#[test]
fn setup_and_decorator_compose_in_one_file() {
    let before = "from fastapi import FastAPI\n\napp = FastAPI()\n\n\n@app.get(\"/n/{n}\")\nasync def double(n: int) -> int:\n    return 2 * n\n";
    let dir = project(&[("main.py", before)]);
    let report = rewrite_one(&dir, "main.py::double");
    assert_eq!(report.setup.place, Some(Place::NewLifespan));
    assert_eq!(report.setup.line, Some(10));
    let after = new_text(&report, "main.py");
    assert_eq!(
        after,
        "import os\nfrom contextlib import asynccontextmanager\n\nfrom cashews import cache\nfrom fastapi import FastAPI\n\n\n@asynccontextmanager\nasync def lifespan(app):\n    cache.setup(\n        os.environ.get(\"CACHE_URL\", \"disk://?directory=~/.cache/cashews/demo&shards=0\"),\n    )\n    yield\n    await cache.close()\n\n\napp = FastAPI(lifespan=lifespan)\n\n\n@app.get(\"/n/{n}\")\n@cache(ttl=\"1h\", key=\"main:double:{n}\")\nasync def double(n: int) -> int:\n    return 2 * n\n"
    );
    assert_eq!(
        new_text(&report, "pyproject.toml"),
        "[project]\nname = \"demo\"\ndependencies = [\"cashews[diskcache]>=7.0\"]\n"
    );
}

#[test]
fn module_level_setup_in_a_file_without_imports() {
    let dir = project(&[("lib.py", "async def f(a):\n    return a\n")]);
    let report = rewrite_one(&dir, "lib.py::f");
    assert_eq!(report.setup.place, Some(Place::Module));
    assert_eq!(report.setup.warnings.len(), 1);
    assert_eq!(
        new_text(&report, "lib.py"),
        "import os\n\nfrom cashews import cache\n\ncache.setup(\n    os.environ.get(\"CACHE_URL\", \"disk://?directory=~/.cache/cashews/demo&shards=0\"),\n)\n\n\n@cache(ttl=\"1h\", key=\"lib:f:{a}\")\nasync def f(a):\n    return a\n"
    );
}

#[test]
fn a_constructor_too_long_for_the_lifespan_gets_one_argument_a_line() {
    let app = "from fastapi import FastAPI\n\nimport svc\n\napp = FastAPI(title=\"The shop service\", description=\"Products and prices\")\n";
    let dir = project(&[("main.py", app), ("svc.py", TARGET)]);
    let (_, after) = run(&dir, &["svc.py"], None, false).edited.unwrap();
    assert!(
        after.ends_with("app = FastAPI(\n    title=\"The shop service\",\n    description=\"Products and prices\",\n    lifespan=lifespan,\n)\n"),
        "{after}"
    );
}

/// Each framework fixture, alone in a project with its own function cached:
/// the setup goes in the framework's hook, the close in its shutdown, and a
/// second run finds the setup and adds nothing.
#[test]
fn framework_hooks() {
    // (fixture, place, lines the result holds, in order)
    let table: &[(&str, Place, &[&str])] = &[
        (
            "lifespan_factory.py",
            Place::Lifespan,
            &[
                "    async def lifespan(app: FastAPI):",
                &format!("        {SETUP}"),
                "            app.state.greeting = None",
                "            await cache.close()",
                "    return lifespan",
            ],
        ),
        (
            "litestar_hooks.py",
            Place::OnStartup,
            &[
                "async def setup_cache():",
                &format!("    {SETUP}"),
                "async def close_cache():",
                "    await cache.close()",
                "app = Litestar(",
                "    on_startup=[setup_cache, open_pool],",
                "    on_shutdown=[close_pool, close_cache],",
            ],
        ),
        (
            "litestar_plain.py",
            Place::OnStartup,
            &[
                "app = Litestar(",
                "    [forecast],",
                "    debug=True,",
                "    on_startup=[setup_cache],",
                "    on_shutdown=[close_cache],",
                ")",
            ],
        ),
        (
            "aiohttp_app.py",
            Place::NewLifespan,
            &[
                "async def cache_context(app):",
                &format!("    {SETUP}"),
                "    yield",
                "    await cache.close()",
                "def build_app() -> web.Application:",
                "    app = web.Application()",
                "    app.cleanup_ctx.append(cache_context)",
                "    app.router.add_get(\"/names/{name}\", handle)",
            ],
        ),
        (
            "aiohttp_cleanup_ctx.py",
            Place::Lifespan,
            &[
                "async def resources(app: web.Application):",
                &format!("    {SETUP}"),
                "    yield",
                "    await cache.close()",
                "    app[\"ready\"] = False",
            ],
        ),
        (
            "aiogram_bot.py",
            Place::OnStartup,
            &[
                "async def setup_cache():",
                "async def close_cache():",
                "async def main(token: str) -> None:",
                "    dp = Dispatcher()",
                "    dp.startup.register(setup_cache)",
                "    dp.shutdown.register(close_cache)",
                "    await dp.start_polling(bot)",
            ],
        ),
        (
            "aiogram_startup.py",
            Place::OnStartup,
            &[
                "async def close_cache():",
                "dp = Dispatcher()",
                "dp.shutdown.register(close_cache)",
                "async def announce() -> None:",
                &format!("    {SETUP}"),
                "    print(\"bot is up\")",
            ],
        ),
        (
            "discord_bot.py",
            Place::SetupHook,
            &[
                "    async def setup_hook(self) -> None:",
                &format!("        {SETUP}"),
                "        await self.load_extension(\"cogs.fun\")",
                "",
                "    async def close(self) -> None:",
                "        await cache.close()",
                "        await super().close()",
                "async def joke(topic: str) -> str:",
            ],
        ),
        (
            "discord_client.py",
            Place::SetupHook,
            &[
                "        print(\"ready\")",
                "",
                "    async def setup_hook(self) -> None:",
                &format!("        {SETUP}"),
                "        await super().setup_hook()",
                "",
                "    async def close(self) -> None:",
            ],
        ),
        (
            "arq_worker.py",
            Place::OnStartup,
            &[
                "async def setup_cache(ctx):",
                "async def close_cache(ctx):",
                "class WorkerSettings:",
                "    max_jobs = 4",
                "    on_startup = setup_cache",
                "    on_shutdown = close_cache",
            ],
        ),
        (
            "arq_hooks.py",
            Place::OnStartup,
            &[
                "async def startup(ctx):",
                &format!("    {SETUP}"),
                "async def shutdown(ctx):",
                "    await cache.close()",
                "    on_shutdown = shutdown",
            ],
        ),
        (
            "quart_app.py",
            Place::OnStartup,
            &[
                "app = Quart(__name__)",
                "",
                "",
                "@app.before_serving",
                "async def setup_cache():",
                &format!("    {SETUP}"),
                "@app.after_serving",
                "async def close_cache():",
                "    await cache.close()",
                "",
                "",
                "async def weather(city: str) -> dict:",
            ],
        ),
        (
            "quart_serving.py",
            Place::OnStartup,
            &[
                "    \"\"\"Connections for the whole run.\"\"\"",
                &format!("    {SETUP}"),
                "async def drain() -> None:",
                "    await cache.close()",
                "app.after_serving(drain)",
            ],
        ),
        (
            "django_apps.py",
            Place::Ready,
            &[
                "    name = \"scores\"",
                "",
                "    def ready(self) -> None:",
                &format!("        {SETUP}"),
            ],
        ),
        (
            "django_ready.py",
            Place::Ready,
            &[
                "        \"\"\"Signals are wired here.\"\"\"",
                &format!("        {SETUP}"),
                "        from . import signals  # noqa: F401",
            ],
        ),
        (
            "sanic_app.py",
            Place::OnStartup,
            &[
                "@app.before_server_start",
                "async def setup_cache(app):",
                "@app.after_server_stop",
                "async def close_cache(app):",
            ],
        ),
        (
            "faststream_app.py",
            Place::OnStartup,
            &[
                "app = FastStream(broker)",
                "@app.on_startup",
                "async def setup_cache():",
                "@app.after_shutdown",
                "async def close_cache():",
            ],
        ),
        (
            "discord_launcher.py",
            Place::Launcher,
            &[
                "async def main() -> None:",
                &format!("    {SETUP}"),
                "    try:",
                "        async with bot:",
                "            await bot.start(os.environ[\"TOKEN\"])",
                "    finally:",
                "        await cache.close()",
                "    asyncio.run(main())",
            ],
        ),
        (
            "telethon_client.py",
            Place::Launcher,
            &[
                "async def main() -> None:",
                &format!("    {SETUP}"),
                "    await client.start(bot_token=os.environ[\"BOT_TOKEN\"])",
                "        print(\"bye\")",
                "        await cache.close()",
            ],
        ),
        (
            "taskiq_broker.py",
            Place::OnStartup,
            &[
                "from taskiq import TaskiqEvents",
                ")",
                "@broker.on_event(TaskiqEvents.WORKER_STARTUP)",
                "async def setup_cache(state):",
                &format!("    {SETUP}"),
                "@broker.on_event(TaskiqEvents.WORKER_SHUTDOWN)",
                "async def close_cache(state):",
                "    await cache.close()",
            ],
        ),
        (
            "taskiq_events.py",
            Place::OnStartup,
            &[
                "@broker.on_event(TaskiqEvents.WORKER_SHUTDOWN)",
                "async def close_cache(state):",
                "async def warm_up(state: TaskiqState) -> None:",
                &format!("    {SETUP}"),
                "    state.zones = [\"north\"]",
            ],
        ),
        (
            "pyrogram_app.py",
            Place::BeforeRun,
            &[
                SETUP,
                "app.run()",
                "app.loop.run_until_complete(cache.close())",
            ],
        ),
    ];
    for (fixture, place, lines) in table {
        let text = std::fs::read_to_string(format!("fixtures/setup/{fixture}")).unwrap();
        let dir = project(&[("app.py", &text)]);
        let out = run(&dir, &["app.py"], None, false);
        assert_eq!(
            out.report.place,
            Some(*place),
            "{fixture}: {:?}",
            out.report
        );
        let (_, after) = out.edited.unwrap();
        let mut rest = after.as_str();
        for line in *lines {
            let want = format!("{line}\n");
            let at = rest.find(&want).unwrap_or_else(|| {
                panic!("{fixture}: {line:?} missing or out of order in\n{after}")
            });
            rest = &rest[at + want.len()..];
        }
        std::fs::write(dir.path().join("app.py"), &after).unwrap();
        let again = run(&dir, &["app.py"], None, false);
        assert_eq!(
            again.report.status,
            SetupStatus::Present,
            "{fixture}: {after}"
        );
    }
}

/// The lifespan or startup handler comes from another module, possibly
/// through a factory: the setup goes there, in that module.
#[test]
fn hooks_followed_into_another_module() {
    let factory = "from contextlib import asynccontextmanager\n\n\ndef lifespan_factory(settings):\n    @asynccontextmanager\n    async def lifespan(app):\n        app.state.settings = settings\n        yield\n\n    return lifespan\n";
    let main = "from fastapi import FastAPI\n\nfrom pkg import svc\nfrom pkg.core.setup import lifespan_factory\n\nsettings = {}\napp = FastAPI(lifespan=lifespan_factory(settings))\n";
    let dir = project(&[
        ("pkg/__init__.py", ""),
        ("pkg/core/__init__.py", ""),
        ("pkg/core/setup.py", factory),
        ("pkg/main.py", main),
        ("pkg/svc.py", TARGET),
    ]);
    let out = run(&dir, &["pkg/svc.py"], None, false);
    assert_eq!(out.report.place, Some(Place::Lifespan), "{:?}", out.report);
    assert!(out.report.warnings.is_empty(), "{:?}", out.report);
    let (file, after) = out.edited.unwrap();
    assert_eq!(file, "pkg/core/setup.py");
    assert!(
        after.contains(&format!("    async def lifespan(app):\n        {SETUP}\n        app.state.settings = settings\n        yield\n        await cache.close()\n\n    return lifespan\n")),
        "{after}"
    );
    std::fs::write(dir.path().join(&file), &after).unwrap();
    let again = run(&dir, &["pkg/svc.py"], None, false);
    assert_eq!(again.report.status, SetupStatus::Present);

    // A plain lifespan imported from its own module; `router.lifespan_context`.
    let lifespan = "async def lifespan(app):\n    yield\n";
    for (main, file) in [
        (
            "from fastapi import FastAPI\nfrom pkg.life import lifespan\nfrom pkg import svc\n\napp = FastAPI(lifespan=lifespan)\n",
            "pkg/life.py",
        ),
        (
            "from fastapi import FastAPI\nfrom pkg.life import lifespan\nfrom pkg import svc\n\napp = FastAPI()\napp.router.lifespan_context = lifespan\n",
            "pkg/life.py",
        ),
    ] {
        let dir = project(&[
            ("pkg/__init__.py", ""),
            ("pkg/life.py", lifespan),
            ("pkg/main.py", main),
            ("pkg/svc.py", TARGET),
        ]);
        let out = run(&dir, &["pkg/svc.py"], None, false);
        let (edited, after) = out.edited.unwrap();
        assert_eq!(
            (edited.as_str(), out.report.place),
            (file, Some(Place::Lifespan))
        );
        assert!(
            after.ends_with(&format!(
                "async def lifespan(app):\n    {SETUP}\n    yield\n    await cache.close()\n"
            )),
            "{after}"
        );
    }

    // `add_event_handler("startup", make_start(app))` with the factories elsewhere.
    let events = "def make_start(app):\n    async def start():\n        await connect(app)\n\n    return start\n\n\ndef make_stop(app):\n    async def stop():\n        await disconnect(app)\n\n    return stop\n";
    let main = "from fastapi import FastAPI\n\nfrom pkg import svc\nfrom pkg.events import make_start, make_stop\n\n\ndef build():\n    application = FastAPI()\n    application.add_event_handler(\"startup\", make_start(application))\n    application.add_event_handler(\"shutdown\", make_stop(application))\n    return application\n";
    let dir = project(&[
        ("pkg/__init__.py", ""),
        ("pkg/events.py", events),
        ("pkg/main.py", main),
        ("pkg/svc.py", TARGET),
    ]);
    let out = run(&dir, &["pkg/svc.py"], None, false);
    let (edited, after) = out.edited.unwrap();
    assert_eq!(
        (edited.as_str(), out.report.place),
        ("pkg/events.py", Some(Place::OnEvent))
    );
    assert!(
        after.contains(&format!(
            "    async def start():\n        {SETUP}\n        await connect(app)\n"
        )),
        "{after}"
    );
    assert!(
        after.contains(
            "    async def stop():\n        await cache.close()\n        await disconnect(app)\n"
        ),
        "{after}"
    );
}

/// `add_event_handler` with handlers of this file; no shutdown handler: one
/// is added and registered the same way.
#[test]
fn event_handlers_registered_by_call() {
    let main = "from fastapi import FastAPI\n\nfrom pkg import svc\n\n\nasync def warm():\n    pass\n\n\napp = FastAPI()\napp.add_event_handler(\"startup\", warm)\n";
    let dir = project(&[
        ("pkg/__init__.py", ""),
        ("pkg/main.py", main),
        ("pkg/svc.py", TARGET),
    ]);
    let out = run(&dir, &["pkg/svc.py"], None, false);
    assert_eq!(out.report.place, Some(Place::OnEvent));
    let (_, after) = out.edited.unwrap();
    assert!(
        after.ends_with(&format!("async def warm():\n    {SETUP}\n    pass\n\n\napp = FastAPI()\n\n\nasync def close_cache():\n    await cache.close()\n\n\napp.add_event_handler(\"startup\", warm)\napp.add_event_handler(\"shutdown\", close_cache)\n")),
        "{after}"
    );
}

/// No app and no entry point: the warning says where the setup went, why
/// that is a stopgap, what was looked for, and how to choose the module.
#[test]
fn no_app_found_says_what_was_looked_for() {
    let dir = project(&[("pkg/__init__.py", ""), ("pkg/svc.py", TARGET)]);
    let out = run(&dir, &["pkg/svc.py"], None, false);
    assert_eq!(out.report.place, Some(Place::Module));
    let warning = out.report.warnings.join("\n");
    for part in [
        "no app or entry point found for pkg.svc",
        "FastAPI",
        "Litestar",
        "aiohttp",
        "aiogram",
        "discord.py",
        "asyncio.run",
        "module level of",
        "cache.close() is never called",
        "--setup-in FILE",
    ] {
        assert!(warning.contains(part), "{part:?} not in {warning}");
    }
}

/// A lifespan that only hands over to another context manager of the file
/// (`async with lifespan_context(app, settings): yield`) gets the setup in
/// that one; a web app beats a bot dispatcher in the same file (a webhook
/// bot's dispatcher never emits its startup event); a bot class over a
/// toolkit base is known by its `setup_hook`.
#[test]
fn delegating_lifespan_webhook_bot_and_toolkit_bot() {
    let delegating = "from contextlib import asynccontextmanager\n\nfrom fastapi import FastAPI\n\nfrom pkg import svc\n\n\n@asynccontextmanager\nasync def lifespan_context(app, settings):\n    await connect(settings)\n    yield\n\n\ndef create(settings):\n    async def lifespan(app):\n        async with lifespan_context(app, settings):\n            yield\n\n    return FastAPI(lifespan=lifespan)\n";
    let webhook = "from aiogram import Dispatcher\nfrom fastapi import FastAPI\n\nfrom pkg import svc\n\ndp = Dispatcher()\n\n\nasync def lifespan(app):\n    yield\n\n\napp = FastAPI(lifespan=lifespan)\n";
    let toolkit = "import discord\nfrom toolkit import BotBase\n\n\nclass Bot(BotBase):\n    async def setup_hook(self):\n        await super().setup_hook()\n";
    for (text, place, holds) in [
        (
            delegating,
            Place::Lifespan,
            format!(
                "async def lifespan_context(app, settings):\n    {SETUP}\n    await connect(settings)\n    yield\n    await cache.close()\n"
            ),
        ),
        (
            webhook,
            Place::Lifespan,
            format!("async def lifespan(app):\n    {SETUP}\n    yield\n    await cache.close()\n"),
        ),
        (
            toolkit,
            Place::SetupHook,
            format!(
                "    async def setup_hook(self):\n        {SETUP}\n        await super().setup_hook()\n"
            ),
        ),
    ] {
        let dir = project(&[
            ("pkg/__init__.py", ""),
            ("pkg/main.py", text),
            ("pkg/svc.py", TARGET),
        ]);
        let out = run(&dir, &["pkg/svc.py"], None, false);
        let (file, after) = out.edited.unwrap();
        assert_eq!(
            (file.as_str(), out.report.place),
            ("pkg/main.py", Some(place))
        );
        assert!(after.contains(&holds), "{after}");
    }
}

/// A setup function importing cashews in its own body is a setup (lakeapi:
/// `def setup_cashews(): from cashews import cache; cache.setup(...)`),
/// reported before a later module's.
#[test]
fn a_setup_with_a_deferred_import_is_present() {
    let deferred =
        "def setup_cashews():\n    from cashews import cache as c\n\n    c.setup(\"mem://\")\n";
    let later = "from cashews import cache\n\n\ndef ensure(url):\n    cache.setup(url)\n";
    let unrelated = "def setup_other():\n    from other import cache\n\n    cache.setup(\"x\")\n";
    let dir = project(&[
        ("pkg/__init__.py", ""),
        ("pkg/api.py", deferred),
        ("pkg/endpoint.py", later),
        ("pkg/svc.py", TARGET),
    ]);
    let out = run(&dir, &["pkg/svc.py"], None, false);
    assert_eq!(out.report.status, SetupStatus::Present, "{:?}", out.report);
    assert!(
        out.report.message.contains("pkg/api.py:4"),
        "{}",
        out.report.message
    );
    let dir = project(&[("pkg/other.py", unrelated), ("pkg/svc.py", TARGET)]);
    let out = run(&dir, &["pkg/svc.py"], None, false);
    assert_eq!(out.report.status, SetupStatus::Added, "{:?}", out.report);
}

/// Several Django apps: the config of the app whose package holds the
/// cached module gets the setup.
#[test]
fn the_django_app_holding_the_cached_module_is_chosen() {
    let config = |name: &str| {
        format!(
            "from django.apps import AppConfig\n\n\nclass C(AppConfig):\n    name = \"{name}\"\n"
        )
    };
    let (a, b) = (config("accounts"), config("scores"));
    let dir = project(&[
        ("accounts/__init__.py", ""),
        ("accounts/apps.py", &a),
        ("scores/__init__.py", ""),
        ("scores/apps.py", &b),
        ("scores/standings.py", TARGET),
    ]);
    let out = run(&dir, &["scores/standings.py"], None, false);
    assert_eq!(out.report.place, Some(Place::Ready), "{:?}", out.report);
    assert_eq!(out.edited.unwrap().0, "scores/apps.py");
}

/// A Litestar app configured by an init plugin of the project (imported
/// inside the factory): the setup goes in the plugin's `on_app_init`.
#[test]
fn a_litestar_init_plugin_gets_the_setup() {
    let core = std::fs::read_to_string("fixtures/setup/litestar_plugin_core.py").unwrap();
    let asgi = std::fs::read_to_string("fixtures/setup/litestar_plugin_asgi.py").unwrap();
    let dir = project(&[
        ("pkg/__init__.py", ""),
        ("pkg/core.py", &core),
        ("pkg/asgi.py", &asgi),
    ]);
    let out = run(&dir, &["pkg/core.py"], None, false);
    assert_eq!(out.report.place, Some(Place::OnStartup), "{:?}", out.report);
    let (file, after) = out.edited.unwrap();
    assert_eq!(file, "pkg/core.py");
    let want = format!(
        "async def close_cache():\n    await cache.close()\n\n\nclass Core(InitPluginProtocol):\n    \"\"\"Configures the whole app.\"\"\"\n\n    def on_app_init(self, app_config: AppConfig) -> AppConfig:\n        \"\"\"Routes and settings.\"\"\"\n        {SETUP}\n        app_config.on_shutdown.append(close_cache)\n        app_config.debug = True\n"
    );
    assert!(after.contains(&want), "{after}");
    std::fs::write(dir.path().join("pkg/core.py"), &after).unwrap();
    let again = run(&dir, &["pkg/core.py"], None, false);
    assert_eq!(again.report.status, SetupStatus::Present);
}

/// Hooks found in other shapes: FastStream's constructor list, a Sanic
/// listener registered by call, a Quart app built in a factory, and a
/// launcher whose body holds a multi-line string (indenting it would
/// change the string: the setup goes in the `__main__` block instead).
#[test]
fn more_hook_shapes() {
    let cases: &[(&str, Place, &[&str])] = &[
        (
            "from faststream import FastStream\nfrom faststream.redis import RedisBroker\n\n\nasync def connect():\n    pass\n\n\nbroker = RedisBroker()\napp = FastStream(broker, on_startup=[connect])\n",
            Place::OnStartup,
            &[
                "async def connect():",
                &format!("    {SETUP}"),
                "    pass",
                "app = FastStream(broker, on_startup=[connect])",
                "@app.after_shutdown",
                "async def close_cache():",
            ],
        ),
        (
            "from sanic import Sanic\n\napp = Sanic(\"x\")\n\n\nasync def ready(app):\n    app.ctx.ok = True\n\n\napp.register_listener(ready, \"before_server_start\")\napp.before_server_start(ready)\n",
            Place::OnStartup,
            &[
                "async def ready(app):",
                &format!("    {SETUP}"),
                "    app.ctx.ok = True",
            ],
        ),
        (
            "from quart import Quart\n\n\ndef create_app():\n    app = Quart(__name__)\n    return app\n",
            Place::OnStartup,
            &[
                "    app = Quart(__name__)",
                "",
                "    @app.before_serving",
                "    async def setup_cache():",
                &format!("        {SETUP}"),
                "",
                "    @app.after_serving",
                "    async def close_cache():",
                "        await cache.close()",
                "",
                "    return app",
            ],
        ),
        (
            "import asyncio\n\nimport discord\n\nclient = discord.Client(intents=discord.Intents.default())\n\n\nasync def main():\n    print(\"\"\"a\nb\"\"\")\n    await client.start(\"t\")\n\n\nif __name__ == \"__main__\":\n    asyncio.run(main())\n",
            Place::MainBlock,
            &[
                "if __name__ == \"__main__\":",
                &format!("    {SETUP}"),
                "    asyncio.run(main())",
            ],
        ),
    ];
    for (text, place, lines) in cases {
        let dir = project(&[("app.py", text)]);
        let out = run(&dir, &["app.py"], None, false);
        assert_eq!(out.report.place, Some(*place), "{text}: {:?}", out.report);
        let (_, after) = out.edited.unwrap();
        let mut rest = after.as_str();
        for line in *lines {
            let want = format!("{line}\n");
            let at = rest
                .find(&want)
                .unwrap_or_else(|| panic!("{line:?} missing or out of order in\n{after}"));
            rest = &rest[at + want.len()..];
        }
    }
}
