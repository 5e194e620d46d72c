//! Startup setup. A cashews decorator without `cache.setup(...)` raises
//! `NotConfiguredError` on the first call, so the rewrite makes sure the
//! project sets the cache up once, at startup, and closes it at shutdown:
//!
//! 1. nothing when any module of the project already calls `cache.setup(`,
//!    `cache.setup_tags_backend(` or `cache.init(URL)`;
//! 2. a FastAPI / Starlette app (preferring the one that imports a cached
//!    module): its `@app.on_event("startup")` handler, its `lifespan`
//!    (extended), or a new `lifespan` passed to the constructor;
//! 3. a script entry point that imports a cached module: the start of its
//!    `if __name__ == "__main__":` block, or before its module-level `asyncio.run(...)`;
//! 4. otherwise module level in the cached module, with a warning.
//!
//! `--setup-in FILE` picks the module (the same rules apply inside it);
//! `--no-setup` skips all of it. Edits are returned, never written here.

use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use tree_sitter::{Node, QueryCursor, StreamingIterator};

use crate::edit::Edit;
use crate::function::{BodyFacts, dotted_name};
use crate::imports::{break_at_end, imports_end, is_docstring, line_end, name_in_use, split_alias};
use crate::module::Module;
use crate::plan::{file_line_ending, py_str};
use crate::source::{BadInput, SourceFile, line_of};
use crate::wrap::{Arg, Call, indent_unit};

pub(crate) mod conftest;
pub(crate) mod disk;
pub(crate) mod library;

/// The environment variable the generated setup reads the backend URL from.
pub(crate) const ENV_VAR: &str = "CACHE_URL";

/// What the setup search looks for, for the message when it finds none.
const LOOKED_FOR: &str = "a FastAPI, Starlette, Litestar, aiohttp, Quart, Sanic or FastStream app, an aiogram Dispatcher, a discord.py Bot or Client, a telethon or pyrogram client, an arq WorkerSettings class, a Taskiq broker, a Django AppConfig, a script with `if __name__ == \"__main__\":` or `asyncio.run(...)` importing it";

/// Files scanned at most; a bigger tree is searched only this far.
const MAX_FILES: usize = 20_000;
/// What an existing setup call holds, searched for in a file too big to parse.
const SETUP_NEEDLES: [&str; 3] = [".setup(", "setup_tags_backend", ".init("];

pub(crate) struct SetupOptions {
    pub(crate) skip: bool,
    pub(crate) setup_in: Option<PathBuf>,
    /// The default backend URL embedded in the setup line.
    pub(crate) url: String,
    /// The cache object to set up: `("cashews", "cache")`, or the project's
    /// own (`("app.caching", "cache")`).
    pub(crate) cache: (String, String),
}

/// A module holding a cached function.
pub(crate) struct Cached {
    pub(crate) path: PathBuf,
    pub(crate) module: String,
    /// The file as the rewrite parsed it, when it did: parsing it again
    /// would double the cost of a run on a large file.
    pub(crate) src: Option<SourceFile>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SetupStatus {
    Added,
    Present,
    Skipped,
    /// A library: no global setup; its own instance is left to the host app (`library.rs`).
    Library,
}

/// Where the setup goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Place {
    /// A new `lifespan` passed to the app's constructor.
    NewLifespan,
    /// The app's own `lifespan`, extended.
    Lifespan,
    /// The app's `@app.on_event("startup")` handler.
    OnEvent,
    /// A startup hook of the framework (Litestar, aiohttp, aiogram), the
    /// app's own or a new one registered with it.
    OnStartup,
    /// A discord.py bot's `setup_hook`.
    SetupHook,
    /// A Django `AppConfig.ready()`.
    Ready,
    /// The start of the `async def main()` a launcher runs, closed in a `finally`.
    Launcher,
    /// The start of `if __name__ == "__main__":`.
    MainBlock,
    /// Just before a module-level `asyncio.run(...)`.
    BeforeRun,
    /// Module level, run at import time.
    Module,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct SetupReport {
    pub(crate) status: SetupStatus,
    pub(crate) file: Option<String>,
    pub(crate) line: Option<usize>,
    pub(crate) place: Option<Place>,
    /// The default backend URL of the added setup.
    pub(crate) url: Option<String>,
    pub(crate) message: String,
    pub(crate) warnings: Vec<String>,
    /// Where an added disk cache lives and what that means (`disk.rs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) disk: Option<disk::DiskNote>,
}

impl SetupReport {
    pub(crate) fn skipped(message: &str) -> SetupReport {
        SetupReport {
            status: SetupStatus::Skipped,
            file: None,
            line: None,
            place: None,
            url: None,
            message: message.to_string(),
            warnings: Vec::new(),
            disk: None,
        }
    }
}

/// The edits for the file that gets the setup.
pub(crate) struct FileEdits {
    pub(crate) src: SourceFile,
    /// Import statements; they go with the other import edits of the file.
    pub(crate) imports: Vec<Edit>,
    /// Everything else; applied before the decorators at the same offset.
    pub(crate) body: Vec<Edit>,
    /// The setup call's text, to find its line in the result.
    pub(crate) call: String,
}

pub(crate) struct SetupPlan {
    pub(crate) report: SetupReport,
    pub(crate) edits: Option<FileEdits>,
}

/// `disk://?directory=~/.cache/cashews/NAME-VERSION&shards=0`: a per-project
/// folder in the user's cache directory (`disk.rs`). diskcache expands `~`
/// itself, so the URL stays a literal that works from any working directory
/// and on any machine; `shards=0` keeps one SQLite file, the layout where
/// cashews' `scan`, `get_match` and `delete_match` (tag and pattern
/// invalidation) work.
pub(crate) fn default_url(root: &Path) -> String {
    disk::default_url(root, &project_slug(root))
}

/// The project's name from pyproject.toml, else its folder's, made safe for a URL.
fn project_slug(root: &Path) -> String {
    let from_toml = crate::file::read_text(&root.join("pyproject.toml"))
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .and_then(|t| {
            let project = t.get("project").and_then(|p| p.get("name")).cloned();
            let poetry = t
                .get("tool")
                .and_then(|x| x.get("poetry"))
                .and_then(|p| p.get("name"))
                .cloned();
            project
                .or(poetry)
                .and_then(|v| v.as_str().map(str::to_string))
        });
    let raw = from_toml.unwrap_or_else(|| {
        std::path::absolute(root)
            .ok()
            .and_then(|r| r.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default()
    });
    let mut slug = String::new();
    for c in raw.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_matches(['-', '.']).to_string();
    // Names the ASCII slug loses (empty, `проект`, `データ`) would all share
    // one folder: a hash of the name (or of the root's path) keeps them apart.
    if slug.is_empty() || !raw.is_ascii() {
        let seed = if raw.is_empty() {
            std::path::absolute(root)
                .unwrap_or_else(|_| root.to_path_buf())
                .to_string_lossy()
                .into_owned()
        } else {
            raw
        };
        let stem = if slug.is_empty() { "app" } else { &slug };
        return format!("{stem}-{:08x}", fnv1a32(seed.as_bytes()));
    }
    slug
}

/// FNV-1a, 32 bits: a short, stable tag for a name.
fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// The `directory` of a `disk://?directory=DIR` URL, `~` expanded as
/// diskcache does; None for other URLs, or a relative folder.
fn disk_folder(url: &str) -> Option<PathBuf> {
    let query = url.strip_prefix("disk://")?.split_once('?')?.1;
    let raw = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("directory="))?;
    let dir = percent_decoded(raw);
    let path = match dir.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            PathBuf::from(std::env::var_os("HOME")?).join(rest.trim_start_matches('/'))
        }
        _ => PathBuf::from(dir),
    };
    path.is_absolute().then_some(path)
}

fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why a disk cache folder is unsafe: it, or the folder it would be made
/// in, can be written by every user. Cached values are pickled, so whoever
/// can write a cache entry can run code in the application.
fn shared_folder(dir: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let existing = dir.ancestors().find(|a| a.exists())?;
    let mode = std::fs::metadata(existing).ok()?.permissions().mode();
    if mode & 0o002 == 0 {
        return None;
    }
    let what = if existing == dir {
        format!(
            "{} can be written by every user (mode {:o})",
            dir.display(),
            mode & 0o7777
        )
    } else {
        format!(
            "{} would be made in {}, which every user can write to (mode {:o}), so another user could make it first",
            dir.display(),
            existing.display(),
            mode & 0o7777
        )
    };
    Some(format!(
        "{what}; cached values are pickled, so a shared cache folder lets others run code in the application: use a folder of your own, e.g. disk://?directory=~/.cache/cashews/NAME&shards=0"
    ))
}

/// After a setup with a disk URL was written: make its folder, private
/// (0700), or say when an existing one is readable by others. None when
/// all is well.
pub(crate) fn prepare_disk_folder(url: &str) -> Option<String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let dir = disk_folder(url)?;
    let Ok(meta) = std::fs::metadata(&dir) else {
        return std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .err()
            .map(|e| format!("{}: cannot make the cache folder: {e}", dir.display()));
    };
    let mode = meta.permissions().mode() & 0o7777;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        Some(format!(
            "{} belongs to another user (uid {}): they can read and change this application's cache",
            dir.display(),
            meta.uid()
        ))
    } else if mode & 0o077 != 0 {
        Some(format!(
            "{} can be read by other users (mode {mode:o}): `chmod 700 {}` keeps cached values private",
            dir.display(),
            dir.display()
        ))
    } else {
        None
    }
}

/// A backend URL cashews can use; `disk:///path` is refused because cashews
/// ignores the path (a fresh temporary folder every start).
pub(crate) fn check_url(url: &str, origin: &str) -> Result<(), BadInput> {
    let bad = |why: String| Err(BadInput(format!("{origin} {url:?}: {why}")));
    let Some((scheme, rest)) = url.split_once("://") else {
        return bad(
            "not a cashews backend URL (mem://, disk://?directory=DIR, redis://HOST:PORT/DB)"
                .into(),
        );
    };
    if let Some(c) = url.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return bad(format!(
            "not a valid URL: it holds {} (percent-encode it, e.g. %20 for a space)",
            match c {
                ' ' => "a space".to_string(),
                c => format!("the character {:?}", c),
            }
        ));
    }
    match scheme {
        "mem" => Ok(()),
        "redis" | "rediss" => check_redis(rest).map_or(Ok(()), bad),
        "disk" => {
            let location = rest.split('?').next().unwrap_or_default();
            if location.is_empty() {
                match disk_folder(url).and_then(|dir| shared_folder(&dir)) {
                    Some(why) => bad(why),
                    None => Ok(()),
                }
            } else {
                let dir = location.trim_start_matches('/');
                bad(format!(
                    "cashews ignores the host and path of a disk URL and uses a fresh temporary folder; write disk://?directory=/{dir}"
                ))
            }
        }
        _ => bad(format!(
            "unknown cashews backend {scheme:?} (use mem, disk, redis or rediss)"
        )),
    }
}

/// What is wrong with the part of a Redis URL after `redis://`, if anything:
/// `[user[:password]@]host[:port][/db][?query]`.
fn check_redis(rest: &str) -> Option<String> {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = match host_port.strip_prefix('[') {
        // An IPv6 literal: [::1]:6379
        Some(v6) => match v6.split_once(']') {
            Some((host, after)) => (host, after.strip_prefix(':')),
            None => return Some("not a valid URL: an unclosed '[' in the host".to_string()),
        },
        None => match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    if host.is_empty() {
        return Some("not a valid Redis URL: no host (redis://HOST:PORT/DB)".to_string());
    }
    if let Some(port) = port
        && port.parse::<u16>().map_or(true, |p| p == 0)
    {
        return Some(format!(
            "not a valid Redis URL: port {port:?} is not 1-65535"
        ));
    }
    let db = rest[authority.len()..]
        .strip_prefix('/')
        .map(|p| p.split(['?', '#']).next().unwrap_or_default());
    if let Some(db) = db
        && !db.is_empty()
        && db.parse::<u32>().is_err()
    {
        return Some(format!(
            "not a valid Redis URL: database {db:?} is not a number"
        ));
    }
    None
}

/// The cashews extra the backend needs: `diskcache` for disk, `redis` for Redis.
pub(crate) fn extra_for(url: &str) -> Option<&'static str> {
    match url.split("://").next() {
        Some("disk") => Some("diskcache"),
        Some("redis" | "rediss") => Some("redis"),
        _ => None,
    }
}

/// Plans the setup for one project.
pub(crate) fn plan(
    root: &Path,
    scan_subfolders: bool,
    cached: &[Cached],
    opts: &SetupOptions,
) -> Result<SetupPlan, BadInput> {
    if opts.skip {
        return Ok(skipped("--no-setup: no cache.setup(...) added"));
    }
    if cached.is_empty() {
        return Ok(skipped("no function is cached: no setup needed"));
    }
    let cached_modules: Vec<&str> = cached.iter().map(|c| c.module.as_str()).collect();
    if let Some(file) = &opts.setup_in {
        check_setup_in(root, file)?;
    }
    let (mut project, unread) = scan(root, scan_subfolders, cached);
    if let Some(found) = existing_setup(&project) {
        return Ok(present(&project, found));
    }
    let notes = unread_notes(&unread);
    if let Some(file) = &opts.setup_in {
        let src = SourceFile::read(file)?;
        let choice = choice_in(&facts_of(&src, &crate::project::module_name(file)));
        return emit(src, choice, opts, notes);
    }
    // A setup the search could not read must not get a twin.
    if let Some(u) = unread.iter().find(|u| u.mentions_setup) {
        let mut report = SetupReport::skipped(&format!(
            "{} may set the cache up but was not searched ({}): no cache.setup(...) added; choose the module with --setup-in FILE if it does not",
            shown(&u.path),
            u.why
        ));
        report.warnings = notes;
        return Ok(SetupPlan {
            report,
            edits: None,
        });
    }
    let score = |f: &Scanned| {
        if cached_modules.contains(&f.module.as_str()) {
            2
        } else if f
            .facts
            .imported
            .iter()
            .any(|m| cached_modules.contains(&m.as_str()))
        {
            1
        } else if django_config_of(f, &cached_modules) {
            // A Django app's `apps.py` imports none of its views: its package holds them.
            1
        } else {
            0
        }
    };
    let app = (0..project.len())
        .filter(|&i| !project[i].facts.apps.is_empty())
        .max_by_key(|&i| (score(&project[i]), std::cmp::Reverse(i)));
    let script = (0..project.len()).find(|&i| project[i].facts.script && score(&project[i]) > 0);
    if let Some(i) = app {
        let f = project.swap_remove(i);
        let app = f.facts.apps[0].clone();
        if let Some((other, hook)) = hooks::follow(root, &f.src, &f.module, &app) {
            return emit(other, Choice::Hook(hook), opts, notes);
        }
        return emit(f.src, Choice::App(app), opts, notes);
    }
    if let Some(i) = script {
        return emit(project.swap_remove(i).src, Choice::Script, opts, notes);
    }
    let first = &cached[0];
    let src = match &first.src {
        Some(src) => src.clone(),
        None => SourceFile::read(&first.path)?,
    };
    let warning = format!(
        "no app or entry point found for {} (looked for {LOOKED_FOR}): cache.setup(...) is put at module level of {}, so it runs whenever that module is imported and cache.close() is never called; move it into the startup hook of whatever starts your application, or rerun with --setup-in FILE naming that module",
        first.module,
        shown(&first.path)
    );
    let mut warnings = notes;
    warnings.push(warning);
    emit(src, Choice::Module, opts, warnings)
}

/// Whether the file holds a Django `AppConfig` of the package a cached module is in.
fn django_config_of(f: &Scanned, cached: &[&str]) -> bool {
    let package = f.module.rsplit_once('.').map_or("", |(p, _)| p);
    !package.is_empty()
        && f.facts.apps.iter().any(|a| a.kind == Framework::Django)
        && cached
            .iter()
            .any(|m| m.starts_with(package) && m[package.len()..].starts_with('.'))
}

/// `--setup-in` names a Python module of the project.
fn check_setup_in(root: &Path, file: &Path) -> Result<(), BadInput> {
    let bad = |why: &str| Err(BadInput(format!("--setup-in {}: {why}", shown(file))));
    if file.extension().is_none_or(|e| e != "py") {
        return bad("not a Python module (a .py file)");
    }
    let real = |p: &Path| std::fs::canonicalize(p).or_else(|_| std::path::absolute(p));
    match (real(root), real(file)) {
        (Ok(root), Ok(file)) if file.starts_with(&root) => Ok(()),
        _ => bad(&format!("outside the project ({})", shown(root))),
    }
}

/// One warning per file the setup search could not read, a few at most.
fn unread_notes(unread: &[Unscanned]) -> Vec<String> {
    const SHOWN: usize = 3;
    let mut notes: Vec<String> = unread
        .iter()
        .take(SHOWN)
        .map(|u| format!("{}: not searched for a setup: {}", shown(&u.path), u.why))
        .collect();
    if unread.len() > SHOWN {
        notes.push(format!(
            "{} more files not searched for a setup",
            unread.len() - SHOWN
        ));
    }
    notes
}

/// Where the setup goes in a file chosen to hold it: the app's lifespan,
/// the script's entry point, or module level.
fn choice_in(facts: &Facts) -> Choice {
    if let Some(app) = facts.apps.first() {
        Choice::App(app.clone())
    } else if facts.script {
        Choice::Script
    } else {
        Choice::Module
    }
}

/// The setup edits one file would get as the only file of its project;
/// None when it sets a cashews cache up already. The fuzz harness drives
/// the setup planner through it.
#[cfg(test)]
pub(crate) fn plan_in_file(src: &SourceFile) -> Option<FileEdits> {
    let facts = facts_of(src, "fuzz");
    if !facts.local_setups.is_empty() {
        return None;
    }
    let opts = SetupOptions {
        skip: false,
        setup_in: None,
        url: "disk://?directory=~/.cache/cashews/fuzz&shards=0".to_string(),
        cache: ("cashews".to_string(), "cache".to_string()),
    };
    emit(src.clone(), choice_in(&facts), &opts, Vec::new())
        .ok()?
        .edits
}

fn skipped(message: &str) -> SetupPlan {
    SetupPlan {
        report: SetupReport::skipped(message),
        edits: None,
    }
}

fn shown(path: &Path) -> String {
    crate::render::diff_path(path)
}

fn present(project: &[Scanned], found: Vec<(usize, usize)>) -> SetupPlan {
    let (file, line) = found[0];
    let path = &project[file].path;
    let others = found.len() - 1;
    let more = match others {
        0 => String::new(),
        1 => " (and 1 more call)".to_string(),
        n => format!(" (and {n} more calls)"),
    };
    SetupPlan {
        report: SetupReport {
            status: SetupStatus::Present,
            file: Some(shown(path)),
            line: Some(line),
            place: None,
            url: None,
            message: format!(
                "the cache is set up in {}:{line}{more}: nothing added",
                shown(path)
            ),
            warnings: Vec::new(),
            disk: None,
        },
        edits: None,
    }
}

// ---------------------------------------------------------------------------
// Scanning the project

struct Scanned {
    path: PathBuf,
    module: String,
    src: SourceFile,
    facts: Facts,
}

/// A Python file the setup search could not read, and why.
struct Unscanned {
    path: PathBuf,
    why: String,
    /// It is a regular file whose bytes name a setup call.
    mentions_setup: bool,
}

#[derive(Default)]
struct Facts {
    /// Setup calls on a local cashews cache: their lines.
    local_setups: Vec<usize>,
    /// Setup calls on an imported name: (absolute dotted receiver, line).
    imported_setups: Vec<(String, usize)>,
    /// Module-level names bound to a cashews cache object.
    exports: Vec<String>,
    apps: Vec<App>,
    /// Has `if __name__ == "__main__":` or a module-level `asyncio.run(...)`.
    script: bool,
    /// Absolute module paths imported (`from M import n` gives M and M.n).
    imported: Vec<String>,
}

#[derive(Debug, Clone)]
struct App {
    /// Byte range of the constructor call (of the class, for a subclass).
    call: (usize, usize),
    kind: Framework,
}

impl Framework {
    /// Which app of a file starts the process: a web server runs a bot's
    /// dispatcher by webhook (its own startup event never fires); a bot
    /// class with hooks is where a bot starts; a bare bot instance is
    /// started by a script, if any.
    fn rank(self) -> u8 {
        match self {
            Framework::Asgi
            | Framework::Litestar
            | Framework::Aiohttp
            | Framework::Quart
            | Framework::Sanic
            | Framework::Django => 0,
            Framework::DiscordClass
            | Framework::FastStream
            | Framework::Arq
            | Framework::Taskiq => 1,
            Framework::Aiogram => 2,
            Framework::Discord | Framework::Telegram => 3,
        }
    }
}

/// The frameworks whose startup hooks the setup goes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framework {
    /// FastAPI or Starlette: a lifespan or `on_event` handlers.
    Asgi,
    Litestar,
    Aiohttp,
    Aiogram,
    /// A `commands.Bot` / `discord.Client` built directly.
    Discord,
    /// A class deriving from one: its `setup_hook` and `close`.
    DiscordClass,
    /// `@app.before_serving` / `@app.after_serving`.
    Quart,
    /// `@app.before_server_start` / `@app.after_server_stop` (run in each worker).
    Sanic,
    /// `@app.on_startup` / `@app.after_shutdown`, or the constructor's lists.
    FastStream,
    /// An arq `WorkerSettings` class: `on_startup` / `on_shutdown` taking `ctx`.
    Arq,
    /// A Django `AppConfig` subclass: its `ready()`.
    Django,
    /// A telethon or pyrogram client, started by a launcher.
    Telegram,
    /// A Taskiq broker: `@broker.on_event(TaskiqEvents.WORKER_STARTUP)`.
    Taskiq,
}

/// Python files of the project, in path order. Skips hidden folders,
/// virtualenvs, caches, `node_modules`, build outputs marked with
/// CACHEDIR.TAG, and tests (a setup in a test is not the app's setup).
fn python_files(root: &Path, recursive: bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
        entries.sort_by_key(|e| e.file_name());
        let mut subdirs = Vec::new();
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(kind) = e.file_type() else { continue };
            if kind.is_dir() {
                if recursive && !skip_dir(&e.path(), &name) {
                    subdirs.push(e.path());
                }
            } else if name.ends_with(".py") && !crate::project::is_test_file_name(&name) {
                if out.len() >= MAX_FILES {
                    return out;
                }
                out.push(e.path());
            }
        }
        stack.extend(subdirs.into_iter().rev());
    }
    out
}

fn skip_dir(path: &Path, name: &str) -> bool {
    name.starts_with('.')
        || matches!(
            name,
            "__pycache__" | "node_modules" | "site-packages" | "dist-packages"
        )
        || crate::project::is_test_dir_name(name)
        || path.join("pyvenv.cfg").exists()
        || path.join("CACHEDIR.TAG").exists()
}

/// A project file as the setup search read it.
enum Read {
    /// Already parsed by the rewrite.
    Parsed(SourceFile),
    /// Checked as UTF-8 once, here.
    Text(String),
    Unread(Unscanned),
    /// Not UTF-8: not parseable either; skipped quietly like a syntax error.
    Skip,
}

/// Parses the files that may hold a setup, a cache object, an app or an
/// entry point that imports a cached module. A plain substring test comes
/// first (most files hold none), and a setup on an imported name is looked
/// for only in files that name a cache object the project exports: in a
/// large tree, `.setup(` alone matches hundreds of unrelated files.
/// Reading and parsing run in parallel; the result is in path order.
fn scan(root: &Path, recursive: bool, cached_files: &[Cached]) -> (Vec<Scanned>, Vec<Unscanned>) {
    let files: Vec<(PathBuf, String)> = python_files(root, recursive)
        .into_iter()
        .map(|path| {
            let module = crate::project::module_name_in(root, &path);
            (path, module)
        })
        .collect();
    let reads: Vec<Read> = files
        .par_iter()
        .map(|(path, module)| read_for_scan(path, module, cached_files))
        .collect();
    let cached: Vec<&str> = cached_files.iter().map(|c| c.module.as_str()).collect();
    // Phase 1: the files naming cashews, which define every cache object.
    let first = parse_where(&files, &reads, |text, _| text.contains("cashews"));
    let exported: Vec<String> = first
        .iter()
        .flatten()
        .flat_map(|f| f.facts.exports.iter().cloned())
        .collect();
    // Phase 2: apps, entry points, and setups of an exported object.
    let second = parse_where(&files, &reads, |text, module| {
        !text.contains("cashews") && worth_parsing(text, module, &cached, &exported)
    });
    let mut out = Vec::new();
    let mut unread = Vec::new();
    for ((read, a), b) in reads.into_iter().zip(first).zip(second) {
        if let Read::Unread(u) = read {
            unread.push(u);
        }
        out.extend(a.or(b));
    }
    (out, unread)
}

fn read_for_scan(path: &Path, module: &str, cached_files: &[Cached]) -> Read {
    if let Some(src) = cached_files
        .iter()
        .find(|c| c.module == module)
        .and_then(|c| c.src.clone())
    {
        return Read::Parsed(src);
    }
    match crate::file::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map_or(Read::Skip, Read::Text),
        Err(why) => Read::Unread(Unscanned {
            path: path.to_path_buf(),
            why: why.0,
            mentions_setup: crate::file::mentions(path, &SETUP_NEEDLES),
        }),
    }
}

/// The files whose text passes `wanted`, parsed in parallel (None for the
/// others). Files that do not parse are not where the app starts: skipped.
fn parse_where(
    files: &[(PathBuf, String)],
    reads: &[Read],
    wanted: impl Fn(&str, &str) -> bool + Sync,
) -> Vec<Option<Scanned>> {
    files
        .par_iter()
        .zip(reads)
        .map(|((path, module), read)| {
            let src = match read {
                Read::Parsed(src) if wanted(&src.text, module) => src.clone(),
                Read::Text(text) if wanted(text, module) => {
                    SourceFile::parse(path, text.clone().into_bytes()).ok()?
                }
                _ => return None,
            };
            let facts = facts_of(&src, module);
            Some(Scanned {
                path: path.clone(),
                module: module.clone(),
                src,
                facts,
            })
        })
        .collect()
}

/// Whether a file not naming cashews may hold an app, an entry point that
/// imports a cached module, or a setup of an object the project exports.
fn worth_parsing(text: &str, module: &str, cached: &[&str], exported: &[String]) -> bool {
    // An app is built by calling its class, possibly under an alias.
    let apps = [
        "FastAPI(",
        "Starlette(",
        "FastAPI as ",
        "Starlette as ",
        "Litestar",
        "web.Application(",
        "Application as ",
        "Dispatcher",
        "discord",
        "Quart",
        "Sanic",
        "FastStream",
        "WorkerSettings",
        "AppConfig",
        "telethon",
        "pyrogram",
        "taskiq",
    ]
    .iter()
    .any(|n| text.contains(n));
    let script = text.contains("__main__") || text.contains("asyncio");
    let entry_point = script
        && cached
            .iter()
            .any(|m| *m == module || imports_module(text, m));
    let setup = !exported.is_empty()
        && SETUP_NEEDLES.iter().any(|n| text.contains(n))
        && exported.iter().any(|name| text.contains(name.as_str()));
    apps || entry_point || setup
}

/// Whether an import line of `text` names `module` or its last part as a word.
fn imports_module(text: &str, module: &str) -> bool {
    let last = module.rsplit('.').next().unwrap_or(module);
    text.lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with("import ") || l.starts_with("from "))
        .any(|l| {
            l.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .any(|word| word == last)
        })
}

/// Whether the project under `root` already sets cashews up, by the rules
/// above: the question the lint's CA402 asks, answered the same way.
/// A file too big to read that names a setup call counts as one (no false CA402).
pub(crate) fn has_existing_setup(root: &Path, recursive: bool) -> bool {
    let (project, unread) = scan(root, recursive, &[]);
    existing_setup(&project).is_some() || unread.iter().any(|u| u.mentions_setup)
}

/// Every existing setup call: (index into `project`, line), in path order.
fn existing_setup(project: &[Scanned]) -> Option<Vec<(usize, usize)>> {
    let exports: BTreeMap<String, &[String]> = project
        .iter()
        .map(|f| (f.module.clone(), f.facts.exports.as_slice()))
        .collect();
    let exported = |dotted: &str| {
        dotted.rsplit_once('.').is_some_and(|(module, name)| {
            exports
                .get(module)
                .is_some_and(|names| names.iter().any(|n| n == name))
        })
    };
    let mut found = Vec::new();
    for (i, f) in project.iter().enumerate() {
        let mut lines: Vec<usize> = f.facts.local_setups.clone();
        lines.extend(
            f.facts
                .imported_setups
                .iter()
                .filter(|(receiver, _)| exported(receiver))
                .map(|(_, line)| *line),
        );
        lines.sort_unstable();
        found.extend(lines.into_iter().map(|l| (i, l)));
    }
    (!found.is_empty()).then_some(found)
}

const APP_CLASSES: &[(&str, Framework)] = &[
    ("fastapi.FastAPI", Framework::Asgi),
    ("fastapi.applications.FastAPI", Framework::Asgi),
    ("starlette.applications.Starlette", Framework::Asgi),
    ("litestar.Litestar", Framework::Litestar),
    ("litestar.app.Litestar", Framework::Litestar),
    ("aiohttp.web.Application", Framework::Aiohttp),
    ("aiohttp.web_app.Application", Framework::Aiohttp),
    ("aiogram.Dispatcher", Framework::Aiogram),
    (
        "aiogram.dispatcher.dispatcher.Dispatcher",
        Framework::Aiogram,
    ),
    ("discord.Client", Framework::Discord),
    ("discord.AutoShardedClient", Framework::Discord),
    ("discord.ext.commands.Bot", Framework::Discord),
    ("discord.ext.commands.AutoShardedBot", Framework::Discord),
    ("quart.Quart", Framework::Quart),
    ("quart.app.Quart", Framework::Quart),
    ("sanic.Sanic", Framework::Sanic),
    ("sanic.app.Sanic", Framework::Sanic),
    ("faststream.FastStream", Framework::FastStream),
    ("faststream.app.FastStream", Framework::FastStream),
    ("telethon.TelegramClient", Framework::Telegram),
    ("telethon.sync.TelegramClient", Framework::Telegram),
    ("pyrogram.Client", Framework::Telegram),
];

/// What a file building one of `APP_CLASSES` holds, in a call or a base class.
const APP_NEEDLES: &[&str] = &[
    "FastAPI",
    "Starlette",
    "Litestar",
    "Application",
    "Dispatcher",
    "Bot",
    "Client",
    "Quart",
    "Sanic",
    "FastStream",
    "WorkerSettings",
    "on_startup",
    "AppConfig",
    "Broker",
];

fn app_class(resolved: &str) -> Option<Framework> {
    let listed = APP_CLASSES
        .iter()
        .find(|(class, _)| *class == resolved)
        .map(|(_, kind)| *kind);
    // Taskiq's brokers live in many packages (taskiq, taskiq_redis, taskiq_aio_pika...).
    let broker = resolved.starts_with("taskiq")
        && resolved
            .rsplit('.')
            .next()
            .is_some_and(|c| c.ends_with("Broker"));
    listed.or(broker.then_some(Framework::Taskiq))
}

fn facts_of(src: &SourceFile, module: &str) -> Facts {
    let text = &src.text;
    let binds = Bindings::collect(src, module);
    // Cache objects exist only where cashews is named.
    let cashews = text.contains("cashews").then(|| {
        let imports = crate::imports::Imports::collect(src);
        crate::cashews::CashewsNames::collect(src, &imports)
    });
    let mut facts = Facts {
        exports: cashews
            .iter()
            .flat_map(|c| c.exported().map(str::to_string))
            .collect(),
        imported: binds.imported.clone(),
        ..Facts::default()
    };
    let apps = APP_NEEDLES.iter().any(|n| text.contains(n));
    let setups = [".setup(", "setup_tags_backend", ".init("]
        .iter()
        .any(|n| text.contains(n));
    if apps || setups {
        let needles: Vec<&str> = [".setup(", "setup_tags_backend", ".init("]
            .into_iter()
            .chain(APP_NEEDLES.iter().copied())
            .collect();
        for call in calls_in_statements_mentioning(src, &needles) {
            let Some(function) = call.child_by_field_name("function") else {
                continue;
            };
            if apps
                && let Some(callee) = dotted_name(src, function)
                && let Some(kind) = app_class(&binds.resolve(&callee))
            {
                facts.apps.push(App {
                    call: (call.start_byte(), call.end_byte()),
                    kind,
                });
            }
            if setups && let Some((receiver, line)) = setup_receiver(src, call, function) {
                if cashews.as_ref().is_some_and(|c| c.is_cache(&receiver))
                    || imported_in_def(src, call, &receiver)
                {
                    facts.local_setups.push(line);
                } else {
                    facts.imported_setups.push((binds.resolve(&receiver), line));
                }
            }
        }
    }
    if apps {
        facts.apps.extend(hooks::bot_classes(src, &binds));
        facts.apps.extend(classes::app_classes(src, &binds));
        // The app that starts the process first (see `Framework::rank`).
        facts.apps.sort_by_key(|a| a.kind.rank());
    }
    facts.script = main_guard(src).is_some() || module_level_run(src, &binds).is_some();
    facts
}

/// Whether the def around `call` binds `name` by `from cashews import
/// name` in its own body (`def setup_cashews(): from cashews import cache;
/// cache.setup(...)`, a deferred import module-level names do not show).
fn imported_in_def(src: &SourceFile, call: Node, name: &str) -> bool {
    let Some(def) = call
        .parent()
        .and_then(|p| ancestor_or_self(p, "function_definition"))
    else {
        return false;
    };
    let Some(body) = def.child_by_field_name("body") else {
        return false;
    };
    let mut statements = Vec::new();
    import_statements(body, &mut statements);
    statements.iter().any(|s| {
        s.kind() == "import_from_statement"
            && s.child_by_field_name("module_name")
                .is_some_and(|m| src.text_of(m) == "cashews")
            && {
                let mut cursor = s.walk();
                s.children_by_field_name("name", &mut cursor).any(|n| {
                    split_alias(src, n)
                        .1
                        .unwrap_or_else(|| split_alias(src, n).0)
                        == name
                })
            }
    })
}

/// `X.setup(...)`, `X.setup_tags_backend(...)`, `X.init(URL...)`: X and the line.
fn setup_receiver(src: &SourceFile, call: Node, function: Node) -> Option<(String, usize)> {
    if function.kind() != "attribute" {
        return None;
    }
    let method = src.text_of(function.child_by_field_name("attribute")?);
    let has_args = call
        .child_by_field_name("arguments")
        .is_some_and(|a| a.named_child_count() > 0);
    let is_setup =
        matches!(method, "setup" | "setup_tags_backend") || (method == "init" && has_args);
    if !is_setup {
        return None;
    }
    let receiver = dotted_name(src, function.child_by_field_name("object")?)?;
    Some((receiver, line_of(call)))
}

/// Calls inside the top-level statements whose text mentions one of
/// `needles`: a query over a whole large file costs more than the rest of
/// the run, and setups and app constructors are rare.
fn calls_in_statements_mentioning<'t>(src: &'t SourceFile, needles: &[&str]) -> Vec<Node<'t>> {
    let query = &*crate::queries::CALLS;
    let root = src.tree.root_node();
    let mut walker = root.walk();
    let mut out = Vec::new();
    for statement in root.named_children(&mut walker) {
        let text = src.text_of(statement);
        if !needles.iter().any(|n| text.contains(n)) {
            continue;
        }
        let mut cursor = QueryCursor::new();
        let mut found = cursor.matches(query, statement, src.text.as_bytes());
        while let Some(m) = found.next() {
            out.extend(m.captures.iter().map(|c| c.node));
        }
    }
    out
}

/// Import statements at module level and in top-level `if`/`try`/`with` blocks.
fn import_statements<'t>(node: Node<'t>, out: &mut Vec<Node<'t>>) {
    let mut cursor = node.walk();
    for child in node.named_children(&mut cursor) {
        match child.kind() {
            "import_statement" | "import_from_statement" => out.push(child),
            "if_statement" | "elif_clause" | "else_clause" | "try_statement" | "except_clause"
            | "finally_clause" | "with_statement" | "block" => import_statements(child, out),
            _ => {}
        }
    }
}

/// Import bindings with relative imports made absolute.
struct Bindings {
    names: BTreeMap<String, String>,
    imported: Vec<String>,
}

impl Bindings {
    fn collect(src: &SourceFile, module: &str) -> Bindings {
        let is_package = src.path.file_name().is_some_and(|n| n == "__init__.py");
        let mut package: Vec<&str> = module.split('.').filter(|p| !p.is_empty()).collect();
        if !is_package {
            package.pop();
        }
        let mut b = Bindings {
            names: BTreeMap::new(),
            imported: Vec::new(),
        };
        let mut statements = Vec::new();
        import_statements(src.tree.root_node(), &mut statements);
        for stmt in statements.iter().filter(|s| s.kind() == "import_statement") {
            let mut cursor = stmt.walk();
            for name in stmt.children_by_field_name("name", &mut cursor) {
                let (path, alias) = split_alias(src, name);
                b.imported.push(path.clone());
                match alias {
                    Some(alias) => b.names.insert(alias, path),
                    None => {
                        let head = path.split('.').next().unwrap_or_default().to_string();
                        b.names.insert(head.clone(), head)
                    }
                };
            }
        }
        for stmt in statements
            .iter()
            .filter(|s| s.kind() == "import_from_statement")
        {
            let Some(from) = stmt.child_by_field_name("module_name") else {
                continue;
            };
            let base = if from.kind() == "relative_import" {
                let text = src.text_of(from);
                let dots = text.chars().take_while(|c| *c == '.').count();
                let rest = text[dots..].trim();
                if dots > package.len() + 1 {
                    continue;
                }
                let mut parts: Vec<&str> = package[..package.len() + 1 - dots].to_vec();
                if !rest.is_empty() {
                    parts.push(rest);
                }
                parts.join(".")
            } else {
                src.text_of(from).to_string()
            };
            b.imported.push(base.clone());
            let mut cursor = stmt.walk();
            for name in stmt.children_by_field_name("name", &mut cursor) {
                let (path, alias) = split_alias(src, name);
                let full = if base.is_empty() {
                    path.clone()
                } else {
                    format!("{base}.{path}")
                };
                b.imported.push(full.clone());
                b.names.insert(alias.unwrap_or(path), full);
            }
        }
        b
    }

    fn resolve(&self, dotted: &str) -> String {
        let (head, tail) = dotted
            .split_once('.')
            .map_or((dotted, None), |(h, t)| (h, Some(t)));
        match (self.names.get(head), tail) {
            (Some(full), Some(tail)) => format!("{full}.{tail}"),
            (Some(full), None) => full.clone(),
            (None, _) => dotted.to_string(),
        }
    }
}

/// The top-level `if __name__ == "__main__":` statement.
fn main_guard(src: &SourceFile) -> Option<Node<'_>> {
    let root = src.tree.root_node();
    let mut cursor = root.walk();
    root.named_children(&mut cursor).find(|s| {
        s.kind() == "if_statement"
            && s.child_by_field_name("condition").is_some_and(|c| {
                let t: String = src
                    .text_of(c)
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect::<String>()
                    .replace('\'', "\"");
                t == "__name__==\"__main__\"" || t == "\"__main__\"==__name__"
            })
    })
}

/// The first top-level statement that is an `asyncio.run(...)` call.
fn module_level_run<'t>(src: &'t SourceFile, binds: &Bindings) -> Option<Node<'t>> {
    let root = src.tree.root_node();
    let mut cursor = root.walk();
    root.named_children(&mut cursor).find(|s| {
        s.kind() == "expression_statement"
            && s.named_child(0)
                .filter(|c| c.kind() == "call")
                .and_then(|c| c.child_by_field_name("function"))
                .and_then(|f| dotted_name(src, f))
                .is_some_and(|f| binds.resolve(&f) == "asyncio.run")
    })
}

// ---------------------------------------------------------------------------
// Writing the setup

enum Choice {
    App(App),
    /// A hook the app imports from this file.
    Hook(hooks::Hook),
    Script,
    Module,
}

struct Writer<'a> {
    src: &'a SourceFile,
    module: Module<'a>,
    /// The module and name of the cache object set up.
    cache: (String, String),
    eol: &'static str,
    unit: String,
    /// The project's line length: longer setup lines are wrapped.
    width: usize,
    url: String,
    imports: Vec<Edit>,
    body: Vec<Edit>,
}

impl<'a> Writer<'a> {
    fn new(src: &'a SourceFile, url: &str, cache: &(String, String)) -> Writer<'a> {
        Writer {
            src,
            module: Module::new(src),
            cache: cache.clone(),
            eol: file_line_ending(&src.text),
            unit: indent_unit(&src.text),
            width: crate::isort::for_file(&src.path).line_length,
            url: url.to_string(),
            imports: Vec::new(),
            body: Vec::new(),
        }
    }

    /// The local names of `cashews.cache` and `os`, importing them when needed
    /// (`import os`, then `extra` such as contextlib's, then cashews: isort's order).
    fn names(&mut self, before: usize, extra: Option<(&str, &str)>) -> (String, String, String) {
        let (os, edit) = self.module.imports.ensure_module(self.src, "os");
        self.imports.extend(edit);
        let extra = extra.map_or_else(String::new, |(module, name)| {
            let (local, edit) = self.module.imports.ensure(self.src, module, name, before);
            self.imports.extend(edit);
            local
        });
        let (module, name) = (&self.cache.0, &self.cache.1);
        let defined_here = module != "cashews"
            && crate::project::module_name(&self.src.path) == *module
            && self.module.cashews.is_cache(name);
        let (cache, edit) = if defined_here {
            (name.clone(), None)
        } else {
            self.module.imports.ensure(self.src, module, name, before)
        };
        self.imports.extend(edit);
        (cache, os, extra)
    }

    /// The local name of the cache object, imported when needed.
    fn cache_name(&mut self, before: usize) -> String {
        self.names(before, None).0
    }

    /// A new line `INDENT CONTENT` at `at`: a line start, or the end of a
    /// file without a final newline (then a line break goes first).
    fn insert_line(&mut self, at: usize, indent: &str, content: &str) {
        let lead = break_at_end(&self.src.text, at, self.eol);
        self.body.push(Edit::insert(
            at,
            format!("{lead}{indent}{content}{}", self.eol),
        ));
    }

    /// `cache.setup(os.environ.get(VAR, URL))` for a line indented by
    /// `indent` (which the caller writes), wrapped past the line length.
    fn setup_call(&self, cache: &str, os: &str, indent: &str) -> String {
        let get = Call::new(
            format!("{os}.environ.get"),
            vec![Arg::text(py_str(ENV_VAR)), Arg::text(py_str(&self.url))],
        );
        let call = Call::new(format!("{cache}.setup"), vec![Arg::Call(get)]);
        let lines = call.lines(indent, &self.unit, self.width);
        lines.join(self.eol)[indent.len()..].to_string()
    }

    /// A name for a new top-level function: `wanted`, else `cache_wanted`.
    fn free_name(&self, wanted: &str) -> String {
        let taken = |n: &str| {
            self.module.imports.is_bound(n)
                || name_in_use(self.src, n)
                || self.module.functions.iter().any(|s| s.qualname == *n)
        };
        [
            wanted.to_string(),
            format!("cache_{wanted}"),
            format!("cashews_{wanted}"),
        ]
        .into_iter()
        .find(|n| !taken(n))
        .unwrap_or_else(|| format!("cashews_add_{wanted}"))
    }
}

/// Where a statement's line starts and its indentation, if nothing precedes it on its line.
fn own_line(text: &str, node: Node) -> Option<(usize, String)> {
    let start = node.start_byte();
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let indent = &text[line_start..start];
    indent
        .chars()
        .all(|c| c == ' ' || c == '\t')
        .then(|| (line_start, indent.to_string()))
}

/// Where a new first statement of a block goes (after a docstring), with its indentation.
fn block_start(src: &SourceFile, block: Node) -> Option<(usize, String)> {
    let mut cursor = block.walk();
    let stmts: Vec<Node> = block
        .named_children(&mut cursor)
        .filter(|n| n.kind() != "comment")
        .collect();
    let first = stmts.first()?;
    if is_docstring(*first) {
        let (_, indent) = own_line(&src.text, *first)?;
        return match stmts.get(1) {
            Some(next) => own_line(&src.text, *next),
            None => Some((line_end(&src.text, first.end_byte()), indent)),
        };
    }
    own_line(&src.text, *first)
}

fn emit(
    src: SourceFile,
    choice: Choice,
    opts: &SetupOptions,
    mut warnings: Vec<String>,
) -> Result<SetupPlan, BadInput> {
    let mut w = Writer::new(&src, &opts.url, &opts.cache);
    let file = shown(&src.path);
    let (place, call, message) = match choice {
        Choice::App(app) => write_app(&mut w, app, &file, &mut warnings),
        Choice::Hook(hook) => write_hook(&mut w, hook, &file),
        Choice::Script => write_script(&mut w, &file),
        Choice::Module => None,
    }
    .unwrap_or_else(|| {
        // A writer that gave up may have made some edits: none of them stay.
        w.imports.clear();
        w.body.clear();
        let (call, message) = write_module_level(&mut w, &file);
        (Place::Module, call, message)
    });
    let (imports, body) = (w.imports, w.body);
    Ok(SetupPlan {
        report: SetupReport {
            status: SetupStatus::Added,
            file: Some(file),
            line: None,
            place: Some(place),
            url: Some(opts.url.clone()),
            message,
            warnings,
            disk: None,
        },
        edits: Some(FileEdits {
            src,
            imports,
            body,
            call,
        }),
    })
}

/// Module level, after the imports; `CALL` is returned with the message.
fn write_module_level(w: &mut Writer, file: &str) -> (String, String) {
    let text = &w.src.text;
    let (first_spot, _) = imports_end(w.src);
    let (cache, os, _) = w.names(first_spot, None);
    // Below the module-level imports of the names it uses, wherever they
    // are: above a later `import os` the call raises NameError at import.
    let at = [cache.as_str(), os.as_str()]
        .iter()
        .filter_map(|name| last_import_of(w.src, name))
        .map(|stmt| line_end(text, stmt.end_byte()))
        .fold(first_spot, usize::max);
    let call = w.setup_call(&cache, &os, "");
    let eol = w.eol;
    // New import lines at this spot end with the blank line already.
    let blank_above = w
        .imports
        .iter()
        .any(|e| e.start == at && e.end == at && e.content.ends_with(&format!("{eol}{eol}")));
    let lead = if at == 0 || blank_above { "" } else { eol };
    // PEP 8: two blank lines above a top-level def or class, one above other code.
    let next_is_def = crate::imports::next_is_definition(w.src, at);
    let trail = if at < text.len() && !text[at..].starts_with(['\n', '\r']) {
        if next_is_def {
            format!("{eol}{eol}")
        } else {
            eol.to_string()
        }
    } else {
        String::new()
    };
    let lead = format!("{}{lead}", break_at_end(text, at, eol));
    w.body
        .push(Edit::insert(at, format!("{lead}{call}{eol}{trail}")));
    let message = format!("cache.setup(...) at module level in {file}, run when it is imported");
    (call, message)
}

/// The last module-level statement that imports `name` (also inside a
/// module-level `if` or `try`, as `try: import os` does).
fn last_import_of<'t>(src: &'t SourceFile, name: &str) -> Option<Node<'t>> {
    let root = src.tree.root_node();
    let mut cursor = root.walk();
    root.named_children(&mut cursor)
        .filter(|stmt| binds_by_import(src, *stmt, name))
        .last()
}

/// Whether an import statement in `node` (not in a def or class) binds `name`.
fn binds_by_import(src: &SourceFile, node: Node, name: &str) -> bool {
    match node.kind() {
        "function_definition" | "class_definition" | "decorated_definition" => false,
        "import_statement" | "import_from_statement" => {
            let mut cursor = node.walk();
            let module = node.child_by_field_name("module_name").map(|m| m.id());
            node.named_children(&mut cursor)
                .filter(|n| Some(n.id()) != module)
                .any(|n| {
                    let bound = match n.kind() {
                        "aliased_import" => n.child_by_field_name("alias"),
                        // `import os.path` binds `os`.
                        "dotted_name" => n.named_child(0),
                        _ => None,
                    };
                    bound.is_some_and(|b| src.text_of(b) == name)
                })
        }
        _ => {
            let mut cursor = node.walk();
            node.named_children(&mut cursor)
                .any(|child| binds_by_import(src, child, name))
        }
    }
}

/// Before a statement, at its indentation: `CALL` then the statement.
fn write_before(w: &mut Writer, at: usize, indent: &str) -> String {
    let (cache, os, _) = w.names(at, None);
    let call = w.setup_call(&cache, &os, indent);
    w.insert_line(at, indent, &call);
    call
}

fn write_script(w: &mut Writer, file: &str) -> Option<(Place, String, String)> {
    let src = w.src;
    if let Some(guard) = main_guard(src) {
        let block = guard.child_by_field_name("consequence")?;
        let (at, indent) = block_start(src, block)?;
        let call = write_before(w, at, &indent);
        let message = format!(
            "cache.setup(...) at the start of the `if __name__ == \"__main__\":` block in {file}"
        );
        return Some((Place::MainBlock, call, message));
    }
    let binds = Bindings::collect(src, "");
    let run = module_level_run(src, &binds)?;
    let (at, indent) = own_line(&src.text, run)?;
    let call = write_before(w, at, &indent);
    let message = format!("cache.setup(...) before `asyncio.run(...)` in {file}");
    Some((Place::BeforeRun, call, message))
}

fn write_app(
    w: &mut Writer,
    app: App,
    file: &str,
    warnings: &mut Vec<String>,
) -> Option<(Place, String, String)> {
    match app.kind {
        Framework::Asgi => write_asgi(w, app, file, warnings),
        Framework::Litestar => hooks::write_litestar(w, &app, file),
        Framework::Aiohttp => hooks::write_aiohttp(w, &app, file),
        Framework::Aiogram => hooks::write_aiogram(w, &app, file),
        Framework::DiscordClass => hooks::write_discord_class(w, &app, file),
        Framework::Quart | Framework::Sanic | Framework::FastStream => {
            decorated::write_decorated(w, &app, file)
        }
        Framework::Arq => classes::write_arq(w, &app, file),
        Framework::Taskiq => decorated::write_taskiq(w, &app, file),
        Framework::Django => classes::write_django(w, &app, file),
        // A bot or client built directly is started by a launcher: the
        // `async def main()` it runs, else its entry point.
        Framework::Discord | Framework::Telegram => {
            launcher::write_launcher(w, &app, file).or_else(|| write_script(w, file))
        }
    }
}

/// A hook followed from the app into this file.
fn write_hook(w: &mut Writer, hook: hooks::Hook, file: &str) -> Option<(Place, String, String)> {
    match hook {
        hooks::Hook::InitPlugin(range) => hooks::write_init_plugin(w, range, file),
        hooks::Hook::Lifespan(range) => {
            let def = hooks::def_at(w.src, range)?;
            let (setup, name) = extend_def(w, def).ok()?;
            let message = format!(
                "cache.setup(...) at the start of lifespan `{name}` in {file}; cache.close() after its yield"
            );
            Some((Place::Lifespan, setup, message))
        }
        hooks::Hook::Startup(start, stop) => {
            let src = w.src;
            let start = hooks::def_at(src, start)?;
            let stop = stop.and_then(|r| hooks::def_at(src, r));
            let setup = hooks::start_of(w, start, stop)?;
            let name = crate::locate::name_of(src, start);
            let close = match stop {
                Some(s) => format!(
                    "cache.close() in the shutdown handler `{}`",
                    crate::locate::name_of(src, s)
                ),
                None => "no shutdown handler here: call cache.close() at shutdown".to_string(),
            };
            let message =
                format!("cache.setup(...) in the startup handler `{name}` in {file}; {close}");
            Some((Place::OnEvent, setup, message))
        }
    }
}

fn write_asgi(
    w: &mut Writer,
    app: App,
    file: &str,
    warnings: &mut Vec<String>,
) -> Option<(Place, String, String)> {
    let src = w.src;
    let call = src
        .tree
        .root_node()
        .descendant_for_byte_range(app.call.0, app.call.1)?;
    let call = ancestor_or_self(call, "call")?;
    let label = app_label(src, call);
    let var = call
        .parent()
        .filter(|p| p.kind() == "assignment")
        .and_then(|p| p.child_by_field_name("left"))
        .filter(|l| l.kind() == "identifier")
        .map(|l| src.text_of(l).to_string());
    if let Some(var) = &var
        && let Some(done) = write_on_event(w, var, file)
    {
        return Some(done);
    }
    let kwargs = keyword_args(src, call);
    let lifespan = kwargs
        .iter()
        .find(|(k, _)| k == "lifespan")
        .map(|(_, v)| *v)
        .or_else(|| var.as_deref().and_then(|v| hooks::lifespan_context(src, v)));
    if let Some(value) = lifespan {
        match extend_lifespan(w, value) {
            Ok((setup, name)) => {
                let message = format!(
                    "cache.setup(...) at the start of lifespan `{name}` in {file}; cache.close() after its yield"
                );
                return Some((Place::Lifespan, setup, message));
            }
            Err(why) => {
                warnings.push(format!(
                    "{label}: cannot extend its lifespan ({why}): cache.setup(...) runs at import time, before the app is built, and cache.close() is not called at shutdown"
                ));
                return before_app(w, call, file, &label);
            }
        }
    }
    if kwargs
        .iter()
        .any(|(k, _)| k == "on_startup" || k == "on_shutdown")
    {
        warnings.push(format!(
            "{label} takes on_startup/on_shutdown, which cannot be combined with a lifespan: cache.setup(...) runs at import time, before the app is built"
        ));
        return before_app(w, call, file, &label);
    }
    let setup = new_lifespan(w, call)?;
    let message = format!(
        "cache.setup(...) at startup and cache.close() at shutdown, in a new lifespan passed to {label} in {file}"
    );
    Some((Place::NewLifespan, setup, message))
}

fn ancestor_or_self<'t>(mut node: Node<'t>, kind: &str) -> Option<Node<'t>> {
    loop {
        if node.kind() == kind {
            return Some(node);
        }
        node = node.parent()?;
    }
}

/// `app = FastAPI(...)` for messages.
fn app_label(src: &SourceFile, call: Node) -> String {
    let class = call
        .child_by_field_name("function")
        .map(|f| src.text_of(f))
        .unwrap_or("FastAPI");
    match call
        .parent()
        .filter(|p| p.kind() == "assignment")
        .and_then(|p| p.child_by_field_name("left"))
    {
        Some(left) => format!("`{} = {class}(...)`", src.text_of(left)),
        None => format!("`{class}(...)`"),
    }
}

fn keyword_args<'t>(src: &SourceFile, call: Node<'t>) -> Vec<(String, Node<'t>)> {
    let Some(args) = call.child_by_field_name("arguments") else {
        return Vec::new();
    };
    let mut cursor = args.walk();
    args.named_children(&mut cursor)
        .filter(|a| a.kind() == "keyword_argument")
        .filter_map(|a| {
            Some((
                src.text_of(a.child_by_field_name("name")?).to_string(),
                a.child_by_field_name("value")?,
            ))
        })
        .collect()
}

/// The module-level statement holding `node`.
fn top_statement(node: Node) -> Node {
    let mut n = node;
    while let Some(p) = n.parent() {
        if p.kind() == "module" {
            return n;
        }
        n = p;
    }
    n
}

/// Up over comment lines directly above (no blank line between).
fn above_comments(text: &str, mut at: usize) -> usize {
    while at > 0 {
        let prev_start = text[..at - 1].rfind('\n').map_or(0, |i| i + 1);
        if text[prev_start..at].trim_start().starts_with('#') {
            at = prev_start;
        } else {
            break;
        }
    }
    at
}

fn blank_lines_before(text: &str, at: usize) -> usize {
    text[..at]
        .split_inclusive('\n')
        .rev()
        .take_while(|l| l.trim().is_empty())
        .count()
}

/// Setup at module level, right before the statement that builds the app.
fn before_app(
    w: &mut Writer,
    call: Node,
    file: &str,
    label: &str,
) -> Option<(Place, String, String)> {
    let stmt = top_statement(call);
    let at = above_comments(&w.src.text, own_line(&w.src.text, stmt)?.0);
    let setup = write_before(w, at, "");
    let message = format!("cache.setup(...) at module level before {label} in {file}");
    Some((Place::Module, setup, message))
}

/// A new lifespan above the statement that builds the app, passed to it.
fn new_lifespan(w: &mut Writer, call: Node) -> Option<String> {
    let text = &w.src.text;
    let stmt = top_statement(call);
    let at = above_comments(text, own_line(text, stmt)?.0);
    let name = w.free_name("lifespan");
    let kwarg = keyword_edit(
        w.src,
        call,
        &[&format!("lifespan={name}")],
        w.width,
        &w.unit,
    )?;
    let (cache, os, acm) = w.names(at, Some(("contextlib", "asynccontextmanager")));
    let setup = w.setup_call(&cache, &os, &w.unit);
    let (eol, u) = (w.eol, w.unit.clone());
    let pre = if at == 0 {
        String::new()
    } else {
        eol.repeat(2usize.saturating_sub(blank_lines_before(text, at)))
    };
    w.body.push(Edit::insert(
        at,
        format!(
            "{pre}@{acm}{eol}async def {name}(app):{eol}{u}{setup}{eol}{u}yield{eol}{u}await {cache}.close(){eol}{eol}{eol}"
        ),
    ));
    w.body.push(kwarg);
    Some(setup)
}

/// Adds `kws` as the last arguments of a call, in its layout; a one-line
/// call that would pass the line length gets one argument a line.
fn keyword_edit(
    src: &SourceFile,
    call: Node,
    kws: &[&str],
    width: usize,
    unit: &str,
) -> Option<Edit> {
    let kw = kws.join(", ");
    let text = &src.text;
    // A list literal takes the new item like a call takes an argument.
    let args = match call.kind() {
        "list" => call,
        _ => call.child_by_field_name("arguments")?,
    };
    if !matches!(args.kind(), "argument_list" | "list") {
        return None;
    }
    let mut cursor = args.walk();
    let last = args
        .named_children(&mut cursor)
        .filter(|n| n.kind() != "comment")
        .last();
    let Some(last) = last else {
        return Some(Edit::insert(args.start_byte() + 1, kw));
    };
    let eol = file_line_ending(text);
    let close = args.end_byte() - 1;
    let between = &text[last.end_byte()..close];
    let trailing_comma = between.trim_start().starts_with(',');
    let close_on_own_line = text[..close]
        .rfind('\n')
        .is_some_and(|nl| nl > last.end_byte() && text[nl + 1..close].trim().is_empty());
    if trailing_comma && close_on_own_line {
        let (_, indent) = own_line(text, last)?;
        // After the trailing comma's line (it may sit on a line of its own).
        let comma = last.end_byte() + between.find(',')?;
        let at = line_end(text, comma);
        let lines: String = kws.iter().map(|k| format!("{indent}{k},{eol}")).collect();
        return Some(Edit::insert(at, lines));
    }
    let line = &text[own_line_start(text, args.start_byte())..line_end(text, close)];
    let longer = crate::wrap::line_width(line.trim_end_matches(['\n', '\r'])) + kw.len() + 2;
    if longer > width && !text[args.byte_range()].contains('\n') {
        return Some(exploded_arguments(src, args, kws, unit));
    }
    Some(Edit::insert(last.end_byte(), format!(", {kw}")))
}

fn own_line_start(text: &str, at: usize) -> usize {
    text[..at].rfind('\n').map_or(0, |i| i + 1)
}

/// A one-line argument list, plus `kw`, one argument a line with a magic
/// trailing comma, as ruff-format writes a call that does not fit.
fn exploded_arguments(src: &SourceFile, args: Node, kws: &[&str], unit: &str) -> Edit {
    let text = &src.text;
    let start = own_line_start(text, args.start_byte());
    let indent: String = text[start..]
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect();
    let eol = file_line_ending(text);
    let mut cursor = args.walk();
    let mut body = String::new();
    for arg in args
        .named_children(&mut cursor)
        .map(|a| src.text_of(a))
        .chain(kws.iter().copied())
    {
        body.push_str(&format!("{eol}{indent}{unit}{arg},"));
    }
    body.push_str(&format!("{eol}{indent}"));
    Edit::replace(args.start_byte() + 1, args.end_byte() - 1, body)
}

/// Setup first in the app's lifespan (a def of this file, or the one a
/// factory of this file returns), close after its `yield`. Returns the setup
/// call and the lifespan's name.
fn extend_lifespan(w: &mut Writer, value: Node) -> Result<(String, String), String> {
    let src = w.src;
    if hooks::hook_name(src, value).is_none() {
        return Err(format!("`{}` is not a plain name", src.text_of(value)));
    }
    let def = hooks::local_hook(src, value)
        .ok_or_else(|| format!("`{}` is not defined in this module", src.text_of(value)))?;
    extend_def(w, hooks::delegate(src, def).unwrap_or(def))
}

/// Setup first in a lifespan-like async generator, close after its `yield`
/// (or at the end of the `finally:` around it).
fn extend_def(w: &mut Writer, def: Node) -> Result<(String, String), String> {
    let src = w.src;
    let name = crate::locate::name_of(src, def).to_string();
    if !hooks::is_async(def) {
        return Err(format!("`{name}` is not an async def"));
    }
    let body = BodyFacts::collect(src, def);
    let [yielded] = body.yields.as_slice() else {
        return Err(format!("`{name}` does not yield exactly once"));
    };
    let block = def.child_by_field_name("body").ok_or("no body")?;
    let (start, indent) = block_start(src, block).ok_or("its body shares the def line")?;
    let statement = statement_of(*yielded).ok_or("its yield is not a statement")?;
    let (close_at, close_indent) =
        close_spot(src, statement, def).ok_or("its yield shares a line")?;
    let (cache, os, _) = w.names(start, None);
    let setup = w.setup_call(&cache, &os, &indent);
    w.insert_line(start, &indent, &setup);
    let closes = src.text_of(def).contains(&format!("{cache}.close()"));
    if !closes {
        w.insert_line(close_at, &close_indent, &format!("await {cache}.close()"));
    }
    Ok((setup, name))
}

/// The statement a `yield` expression belongs to.
fn statement_of(node: Node) -> Option<Node> {
    let mut n = node;
    loop {
        let p = n.parent()?;
        if p.kind() == "block" {
            return Some(n);
        }
        n = p;
    }
}

/// After the yield's statement, or at the end of the `finally:` of a `try`
/// whose body holds it; with the indentation there.
fn close_spot(src: &SourceFile, statement: Node, def: Node) -> Option<(usize, String)> {
    let text = &src.text;
    let mut n = statement;
    while let Some(p) = n.parent() {
        if p.id() == def.id() {
            break;
        }
        if p.kind() == "try_statement"
            && p.child_by_field_name("body")
                .is_some_and(|b| b.id() == n.id())
        {
            let mut cursor = p.walk();
            let finally = p
                .named_children(&mut cursor)
                .find(|c| c.kind() == "finally_clause");
            if let Some(block) = finally.and_then(|f| f.named_child(f.named_child_count() - 1))
                && let Some(last) = block.named_child(block.named_child_count().checked_sub(1)?)
            {
                let (_, indent) = own_line(text, last)?;
                return Some((line_end(text, last.end_byte()), indent));
            }
        }
        n = p;
    }
    let (_, indent) = own_line(text, statement)?;
    Some((line_end(text, statement.end_byte()), indent))
}

/// `@app.on_event("startup")`: setup first in that handler; close in the
/// async shutdown handler, or in a new one.
fn write_on_event(w: &mut Writer, var: &str, file: &str) -> Option<(Place, String, String)> {
    let src = w.src;
    let handler = |event: &str| {
        w.module.functions.iter().map(|s| s.node).find(|f| {
            let decorated = f.parent().filter(|p| p.kind() == "decorated_definition");
            decorated.is_some_and(|d| {
                let mut cursor = d.walk();
                d.children(&mut cursor)
                    .filter(|c| c.kind() == "decorator")
                    .any(|dec| is_on_event(src, dec, var, event))
            })
        })
    };
    let registered =
        |event: &str| hooks::event_handler(src, var, event).and_then(|e| hooks::local_hook(src, e));
    let startup = handler("startup").or_else(|| registered("startup"))?;
    let shutdown = handler("shutdown").or_else(|| registered("shutdown"));
    let (at, indent) = block_start(src, startup.child_by_field_name("body")?)?;
    let (cache, os, _) = w.names(at, None);
    let setup = w.setup_call(&cache, &os, &indent);
    let eol = w.eol;
    let async_shutdown = shutdown.filter(|s| s.child(0).is_some_and(|c| c.kind() == "async"));
    let closes = |f: Node| src.text_of(f).contains(&format!("{cache}.close()"));
    let startup_name = crate::locate::name_of(src, startup).to_string();
    // First: a new shutdown handler may go at the same offset (after a
    // startup handler that is only a docstring), and must come after it.
    w.insert_line(at, &indent, &setup);
    let close_in = match (async_shutdown, shutdown) {
        (_, Some(s)) if closes(s) => crate::locate::name_of(src, s).to_string(),
        (Some(s), _) => {
            let (sat, sindent) = block_start(src, s.child_by_field_name("body")?)?;
            w.insert_line(sat, &sindent, &format!("await {cache}.close()"));
            crate::locate::name_of(src, s).to_string()
        }
        (None, _) if !is_decorated(startup) => {
            let register = hooks::event_handler(src, var, "startup")?;
            hooks::new_close_registered(w, register, "", register, |c| {
                format!("{var}.add_event_handler(\"shutdown\", {c})")
            })?
        }
        (None, _) => {
            let decorated = startup.parent()?;
            let (_, dindent) = own_line(&src.text, decorated)?;
            let name = w.free_name("close_cache");
            let u = &w.unit;
            let gap = if dindent.is_empty() {
                format!("{eol}{eol}")
            } else {
                eol.to_string()
            };
            let end = line_end(&src.text, decorated.end_byte());
            // Unless the setup line just went there (it ends with a newline).
            let lead = if end == at {
                ""
            } else {
                break_at_end(&src.text, end, eol)
            };
            w.body.push(Edit::insert(
                end,
                format!(
                    "{lead}{gap}{dindent}@{var}.on_event(\"shutdown\"){eol}{dindent}async def {name}():{eol}{dindent}{u}await {cache}.close(){eol}"
                ),
            ));
            name
        }
    };
    let message = format!(
        "cache.setup(...) in the startup handler `{startup_name}` and cache.close() in the shutdown handler `{close_in}` in {file}"
    );
    Some((Place::OnEvent, setup, message))
}

fn is_decorated(def: Node) -> bool {
    def.parent()
        .is_some_and(|p| p.kind() == "decorated_definition")
}

fn is_on_event(src: &SourceFile, decorator: Node, var: &str, event: &str) -> bool {
    let Some(call) = decorator.named_child(0).filter(|c| c.kind() == "call") else {
        return false;
    };
    let callee = call
        .child_by_field_name("function")
        .and_then(|f| dotted_name(src, f));
    if callee.as_deref() != Some(&format!("{var}.on_event")) {
        return false;
    }
    call.child_by_field_name("arguments")
        .and_then(|a| a.named_child(0))
        .filter(|a| a.kind() == "string")
        .is_some_and(|s| src.text_of(s).trim_matches(['"', '\'']) == event)
}

mod classes;
mod decorated;
mod hooks;
mod launcher;
#[cfg(test)]
mod tests;
