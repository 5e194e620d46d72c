//! The project's own cashews objects: a `Cache()` built and set up in
//! `app/caching.py`, `from cashews import cache` re-exported by a package,
//! and how the project's modules import them. The rewrite decorates with
//! the object the project already uses, imported the way its modules do;
//! the lint follows the same names.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use crate::cashews::CashewsNames;
use crate::imports::Binding;
use crate::module::Module;
use crate::project::Index;
use crate::project::resolve::Symbol;

/// Decorator shortcuts cashews' `__init__` exports (`early = cache.early`).
const SHORTCUTS: &[&str] = &[
    "failover",
    "early",
    "soft",
    "hit",
    "transaction",
    "circuit_breaker",
    "dynamic",
    "rate_limit",
    "slice_rate_limit",
    "locked",
    "invalidate",
    "iterator",
];

/// What a resolved symbol is to cashews.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CashewsKind {
    /// A cache object: `cashews.cache`, a `Cache()` instance.
    Cache,
    /// A decorator shortcut of the default cache (`cashews.early`).
    Shortcut(String),
    /// `cashews.noself`.
    Noself,
}

/// A cashews object the project's modules import from one of its modules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProjectCache {
    /// The dotted module it is imported from (`app.core.cache`).
    pub(crate) module: String,
    /// Its name there (`cache`, `disk_cache`).
    pub(crate) name: String,
    /// How many imports of the project's modules bind it.
    pub(crate) imports: usize,
}

pub(crate) fn kind_of(symbol: &Symbol) -> Option<CashewsKind> {
    match symbol {
        Symbol::External(name) => {
            let rest = name.strip_prefix("cashews.")?;
            match rest {
                "cache" | "mem" | "noself_cache" | "wrapper.cache" => Some(CashewsKind::Cache),
                "noself" | "helpers.noself" => Some(CashewsKind::Noself),
                s if SHORTCUTS.contains(&s) => Some(CashewsKind::Shortcut(s.to_string())),
                _ => None,
            }
        }
        Symbol::Instance(of) => match of.as_ref() {
            Symbol::External(class) => matches!(
                class.as_str(),
                "cashews.Cache" | "cashews.wrapper.Cache" | "cashews.wrapper.wrapper.Cache"
            )
            .then_some(CashewsKind::Cache),
            _ => None,
        },
        _ => None,
    }
}

impl<'p> Index<'p> {
    /// The cashews names of `module`: its own, plus the names its imports
    /// and assignments bind to cashews objects through the project
    /// (`from app import cache` where `app/__init__.py` re-exports it).
    pub(crate) fn cashews<'m>(&self, module: &'m Module<'p>) -> &'m CashewsNames {
        module
            .project_cashews
            .get_or_init(|| self.project_names(module))
    }

    fn project_names(&self, module: &Module<'p>) -> CashewsNames {
        let mut names = module.cashews.clone();
        let mut added = false;
        // Only names that can be a cashews object are followed: an import
        // of a name some project module binds to one, and aliases
        // (`c = app_cache`); resolving every name would parse half the
        // project for a module that imports none.
        let needles = &self.exports().1;
        let candidates = module
            .imports
            .bindings
            .iter()
            .filter(|(_, b)| match b {
                Binding::From {
                    level,
                    module,
                    name,
                } => {
                    (*level > 0 || !module.starts_with("cashews"))
                        && (needles.names.contains(name) || needles.lasts.contains(name))
                }
                _ => false,
            })
            .map(|(local, _)| local.clone())
            .chain(
                module
                    .variables
                    .iter()
                    .filter(|(_, v)| matches!(v.kind(), "identifier" | "attribute"))
                    .map(|(k, _)| k.clone()),
            );
        for local in candidates.collect::<Vec<_>>() {
            if names.is_cache(&local) {
                continue;
            }
            let symbol = self.resolve_name(module, &local);
            match kind_of(&symbol) {
                Some(CashewsKind::Cache) => names.add_cache(local),
                Some(CashewsKind::Shortcut(m)) => names.add_shortcut(local, m),
                Some(CashewsKind::Noself) => names.add_noself(local),
                None => continue,
            }
            added = true;
        }
        // `import app.caching as caching` then `@caching.cache(...)`.
        for (local, binding) in &module.imports.bindings {
            if let Binding::Module(dotted) = binding
                && needles
                    .lasts
                    .contains(dotted.rsplit('.').next().unwrap_or(dotted))
                && let Symbol::Module(path) = self.resolve_name(module, local)
                && let Some(other) = self.module(&path)
            {
                for name in other.cashews.exported() {
                    names.add_cache(format!("{local}.{name}"));
                    added = true;
                }
            }
        }
        if added {
            names.add_aliases(module.src);
        }
        names
    }

    /// The cashews objects the project's modules import from its own
    /// modules, most imported first. Files that do not mention cashews or
    /// the modules defining such objects are never parsed.
    pub(crate) fn project_caches(&self) -> &[ProjectCache] {
        self.caches.get_or_init(|| self.find_project_caches())
    }

    fn find_project_caches(&self) -> Vec<ProjectCache> {
        let exporters: Vec<&Exporter> = self
            .cashews_exporters()
            .iter()
            .filter(|e| !is_test(&e.path))
            .collect();
        if exporters.is_empty() {
            return Vec::new();
        }
        let needles = Needles::new(exporters.iter().copied());
        // The files importing those names (a scan of their import lines).
        let importing: Vec<PathBuf> = self
            .files()
            .iter()
            .filter(|p| !is_test(p))
            .filter(|p| std::fs::read(p).is_ok_and(|b| needles.may_import(&b)))
            .cloned()
            .collect();
        self.preload(&importing);
        let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
        for path in &importing {
            let Some(module) = self.module(path) else {
                continue;
            };
            for (local, binding) in &module.imports.bindings {
                let Binding::From {
                    level,
                    module: from,
                    name,
                } = binding
                else {
                    continue;
                };
                if *level == 0 && from.starts_with("cashews") {
                    continue;
                }
                if kind_of(&self.resolve_name(module, local)) != Some(CashewsKind::Cache) {
                    continue;
                }
                let Some(crate::project::ModuleRef::File(file)) =
                    self.resolve_module(path, *level, from)
                else {
                    continue;
                };
                *counts
                    .entry((self.module_name(&file), name.clone()))
                    .or_default() += 1;
            }
        }
        let mut out: Vec<ProjectCache> = counts
            .into_iter()
            .map(|((module, name), imports)| ProjectCache {
                module,
                name,
                imports,
            })
            .collect();
        out.sort_by(|a, b| b.imports.cmp(&a.imports).then(a.module.cmp(&b.module)));
        out
    }
}

/// A module that binds cashews objects at module level, which other
/// modules can import by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exporter {
    pub(crate) path: PathBuf,
    /// Its dotted name (`app.core.cache`).
    pub(crate) module: String,
    /// The names bound (`cache`, `disk_cache`, `early`, `noself`).
    pub(crate) names: Vec<String>,
}

/// Rounds of re-exports followed (`app/__init__.py` importing the
/// `cache` that `app/caching.py` builds is one).
const REEXPORT_ROUNDS: usize = 3;

impl Index<'_> {
    /// The project's modules that bind a cashews object other modules can
    /// import: phase 1 byte-scans every file for a line importing cashews
    /// and parses only those (in parallel); then the files importing their
    /// names (found by a scan of import lines, no parse) that re-export
    /// them, round by round. Computed once per project.
    pub(crate) fn cashews_exporters(&self) -> &[Exporter] {
        &self.exports().0
    }

    fn exports(&self) -> &(Vec<Exporter>, Needles) {
        self.exporters.get_or_init(|| {
            let list = self.find_exporters();
            let needles = Needles::new(list.iter());
            (list, needles)
        })
    }

    fn find_exporters(&self) -> Vec<Exporter> {
        use rayon::prelude::*;
        let files = self.files();
        // Phase 1, text only: module-level imports of cashews objects and
        // `name = Cache(...)` in the files with a line importing cashews.
        let mut out: Vec<Exporter> = files
            .par_iter()
            .filter_map(|p| {
                let bytes = std::fs::read(p).ok()?;
                if !imports_cashews(&bytes) {
                    return None;
                }
                let names = cashews_bindings(&bytes);
                (!names.is_empty()).then(|| Exporter {
                    path: p.clone(),
                    module: self.module_name(p),
                    names,
                })
            })
            .collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        let mut fresh = out.len();
        for _ in 0..REEXPORT_ROUNDS {
            if fresh == 0 {
                break;
            }
            let known: std::collections::HashSet<PathBuf> =
                out.iter().map(|e| e.path.clone()).collect();
            let needles = Needles::new(out[out.len() - fresh..].iter());
            let mut found: Vec<Exporter> = files
                .par_iter()
                .filter(|p| !known.contains(*p))
                .filter_map(|p| {
                    let bytes = std::fs::read(p).ok()?;
                    let names = reexported(&bytes, &needles);
                    (!names.is_empty()).then(|| Exporter {
                        path: p.clone(),
                        module: self.module_name(p),
                        names,
                    })
                })
                .collect();
            found.sort_by(|a, b| a.path.cmp(&b.path));
            fresh = found.len();
            out.extend(found);
        }
        out
    }

    /// Phase 2 of the lint's pre-filter: whether a file that does not
    /// import cashews imports one of the project's cashews objects, by
    /// its import lines alone (no parse).
    pub(crate) fn may_import_project_cashews(&self, bytes: &[u8]) -> bool {
        let (list, needles) = self.exports();
        !list.is_empty() && needles.may_import(bytes)
    }
}

/// What `from cashews import …` binds that is a cashews object (not a
/// class such as `Cache`).
const OBJECTS: &[&str] = &["cache", "mem", "noself_cache", "noself"];

/// `name = Cache(...)`, `name: Cache = cashews.Cache(...)` at module level.
static INSTANCE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(
        r"(?m)^([A-Za-z_][A-Za-z0-9_]*)\s*(?::[^=\n]*)?=\s*(?:[A-Za-z_][A-Za-z0-9_]*\.)*Cache\(",
    )
    .expect("static regex")
});

/// The names a module binds at module level to cashews objects, read from
/// its text: `from cashews import cache as c` binds `c`, `disk = Cache()`
/// binds `disk`.
fn cashews_bindings(bytes: &[u8]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for stmt in import_statements(bytes).filter(|s| s.top) {
        let Some(from) = stmt.from.as_deref() else {
            continue;
        };
        if from != "cashews" && !from.starts_with("cashews.") {
            continue;
        }
        for (name, local) in stmt.names.iter().zip(&stmt.locals) {
            if OBJECTS.contains(&name.as_str()) || SHORTCUTS.contains(&name.as_str()) {
                out.push(local.clone());
            }
        }
    }
    let text = String::from_utf8_lossy(bytes);
    out.extend(INSTANCE.captures_iter(&text).map(|c| c[1].to_string()));
    out.sort();
    out.dedup();
    out
}

/// The names a module binds at module level by importing them from
/// modules `needles` describes (a re-export).
fn reexported(bytes: &[u8], needles: &Needles) -> Vec<String> {
    if !needles.search.iter().any(|f| f.find(bytes).is_some()) {
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    for stmt in import_statements(bytes).filter(|s| s.top && s.from.is_some()) {
        if !stmt.imports_any(needles) {
            continue;
        }
        for (name, local) in stmt.names.iter().zip(&stmt.locals) {
            if needles.names.contains(name) {
                out.push(local.clone());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// What an import statement must name to bind one of some exporters'
/// objects: the names, and the segments of the modules (an import may name
/// the module by its last part, or a package above it).
#[derive(Debug, Default)]
pub(crate) struct Needles {
    names: std::collections::HashSet<String>,
    segments: std::collections::HashSet<String>,
    /// The last segment of each module (`from app import caching`).
    lasts: std::collections::HashSet<String>,
    /// Distinct names, for the byte search that skips most files.
    search: Vec<memchr::memmem::Finder<'static>>,
}

impl Needles {
    fn new<'e>(exporters: impl Iterator<Item = &'e Exporter>) -> Needles {
        let mut out = Needles::default();
        for e in exporters {
            out.names.extend(e.names.iter().cloned());
            out.segments.extend(e.module.split('.').map(str::to_string));
            out.lasts
                .extend(e.module.rsplit('.').next().map(str::to_string));
        }
        out.search = out
            .names
            .iter()
            .map(|n| memchr::memmem::Finder::new(n.as_bytes()).into_owned())
            .collect();
        out
    }

    /// Whether an import statement of `bytes` may bind one of the names.
    /// Loose on purpose: a wrong yes costs a parse, a wrong no a missed
    /// finding.
    fn may_import(&self, bytes: &[u8]) -> bool {
        self.search.iter().any(|f| f.find(bytes).is_some())
            && import_statements(bytes).any(|s| s.imports_any(self))
    }
}

/// One `import …` or `from … import …` statement, read from the text.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ImportStmt {
    /// `from X import …`: X as written (leading dots kept); None for `import`.
    from: Option<String>,
    /// The names imported (`a` of `a as b`), or the modules of `import a.b`.
    names: Vec<String>,
    /// What each binds (`b` of `a as b`).
    locals: Vec<String>,
    /// Whether it starts at column 0 (a module-level import, mostly).
    top: bool,
}

impl ImportStmt {
    fn imports_any(&self, needles: &Needles) -> bool {
        let last = |m: &str| m.rsplit('.').next().unwrap_or(m).to_string();
        match &self.from {
            None => self
                .names
                .iter()
                .any(|m| needles.segments.contains(&last(m))),
            Some(from) => {
                let module = from.trim_start_matches('.');
                let relative = module.len() < from.len();
                let related =
                    (relative && module.is_empty()) || needles.segments.contains(&last(module));
                related
                    && self
                        .names
                        .iter()
                        .any(|n| n == "*" || needles.names.contains(n) || needles.lasts.contains(n))
            }
        }
    }
}

/// The import statements of a file, found line by line (continuations in
/// parentheses or after a backslash joined), without parsing it. A line in
/// a string that looks like an import is read as one: a parse too many.
pub(crate) fn import_statements(bytes: &[u8]) -> impl Iterator<Item = ImportStmt> + '_ {
    let mut lines = bytes.split(|b| *b == b'\n');
    std::iter::from_fn(move || {
        loop {
            let line = lines.next()?;
            let text = line.trim_ascii_start();
            let top = text.len() == line.len();
            let (from, rest) = if let Some(rest) = text.strip_prefix(b"from ") {
                (true, rest)
            } else if let Some(rest) = text.strip_prefix(b"import ") {
                (false, rest)
            } else {
                continue;
            };
            let mut stmt = String::from_utf8_lossy(strip_comment(rest)).into_owned();
            let mut depth = paren_depth(&stmt);
            while depth > 0 || stmt.trim_end().ends_with('\\') {
                let Some(next) = lines.next() else { break };
                let next = String::from_utf8_lossy(strip_comment(next)).into_owned();
                depth += paren_depth(&next);
                stmt = stmt.trim_end().trim_end_matches('\\').to_string();
                stmt.push(' ');
                stmt.push_str(&next);
            }
            if let Some(mut parsed) = parse_import(from, &stmt) {
                parsed.top = top;
                return Some(parsed);
            }
        }
    })
}

fn strip_comment(line: &[u8]) -> &[u8] {
    memchr::memchr(b'#', line).map_or(line, |at| &line[..at])
}

fn paren_depth(text: &str) -> i32 {
    text.matches('(').count() as i32 - text.matches(')').count() as i32
}

fn parse_import(from: bool, stmt: &str) -> Option<ImportStmt> {
    let stmt = stmt.split(';').next().unwrap_or(stmt);
    // (name, local) of `a`, `a as b`, `a.b` (binds `a`).
    let list = |items: &str| -> (Vec<String>, Vec<String>) {
        let mut names = Vec::new();
        let mut locals = Vec::new();
        for item in items.replace(['(', ')'], " ").split(',') {
            let words: Vec<&str> = item.split_whitespace().collect();
            let Some(name) = words.first() else { continue };
            let local = match words.as_slice() {
                [_, "as", alias, ..] => alias.to_string(),
                _ if !from => name.split('.').next().unwrap_or(name).to_string(),
                _ => name.to_string(),
            };
            names.push(name.to_string());
            locals.push(local);
        }
        (names, locals)
    };
    if from {
        let (module, rest) = stmt.split_once(" import")?;
        let (names, locals) = list(rest);
        Some(ImportStmt {
            from: Some(module.trim().to_string()),
            names,
            locals,
            top: false,
        })
    } else {
        let (names, locals) = list(stmt);
        Some(ImportStmt {
            from: None,
            names,
            locals,
            top: false,
        })
    }
}

/// `name.cache_clear(` (functools), `name.invalidate(` (aiocache, async-lru,
/// cashews-style decorators of other libraries), `name.cache_invalidate(`.
static MANAGED: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"\b([A-Za-z_][A-Za-z0-9_]*)\.(cache_clear|invalidate|cache_invalidate)\(")
        .unwrap()
});

impl Index<'_> {
    /// The first project file that clears or invalidates a cache kept on a
    /// function called `name` (read once for the whole project).
    pub(crate) fn cache_managed(&self, name: &str) -> Option<PathBuf> {
        let managed = self.managed.get_or_init(|| {
            let mut out: BTreeMap<String, PathBuf> = BTreeMap::new();
            for path in self.files() {
                let Ok(text) = std::fs::read_to_string(path) else {
                    continue;
                };
                if !(text.contains("cache_clear(") || text.contains("invalidate(")) {
                    continue;
                }
                for m in MANAGED.captures_iter(&text) {
                    out.entry(m[1].to_string()).or_insert_with(|| path.clone());
                }
            }
            out
        });
        managed.get(name).cloned()
    }
}

/// Whether some line mentions both `cashews` and `import`: a file that does
/// not import cashews binds no cashews object of its own.
pub(crate) fn imports_cashews(bytes: &[u8]) -> bool {
    memchr::memmem::find_iter(bytes, b"cashews").any(|at| {
        let start = memchr::memrchr(b'\n', &bytes[..at]).map_or(0, |i| i + 1);
        let end = memchr::memchr(b'\n', &bytes[at..]).map_or(bytes.len(), |i| at + i);
        memchr::memmem::find(&bytes[start..end], b"import").is_some()
    })
}

/// Test modules and folders: a fixture's cache is not the application's.
pub(crate) fn is_test(path: &std::path::Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    name.starts_with("test_")
        || name.ends_with("_test.py")
        || name == "conftest.py"
        || path
            .components()
            .any(|c| matches!(c.as_os_str().to_str(), Some("tests" | "test" | "testing")))
}

/// A place to keep the list once computed.
pub(crate) type Caches = OnceLock<Vec<ProjectCache>>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::Sources;
    use crate::project::tests::project;

    #[test]
    fn finds_the_projects_instance_and_how_it_is_imported() {
        let dir = project(&[
            ("app/__init__.py", ""),
            (
                "app/caching.py",
                "from cashews import Cache\ncache = Cache()\ncache.setup('mem://')\n",
            ),
            (
                "app/users.py",
                "from app.caching import cache\n@cache(ttl='1h')\nasync def a(): ...\n",
            ),
            ("app/items.py", "from .caching import cache\n"),
            ("app/other.py", "from cashews import cache as plain\n"),
            (
                "tests/test_x.py",
                "from cashews import Cache\nfixture_cache = Cache()\n",
            ),
        ]);
        let sources = Sources::default();
        let users = dir.path().join("app/users.py");
        let index = Index::for_file(&sources, &users);
        assert_eq!(
            index.project_caches(),
            [ProjectCache {
                module: "app.caching".into(),
                name: "cache".into(),
                imports: 2
            }]
        );
        let module = index.module(&users).unwrap();
        assert!(index.cashews(module).is_cache("cache"));
    }

    #[test]
    fn import_lines_are_read_without_parsing() {
        let text = b"import os, app.caching as c\nfrom app.core import (\n    cache,  # the cache\n    other,\n)\nx = 1\n  from . import cache as c2\nfrom a import \\\n    b\n";
        let got: Vec<ImportStmt> = import_statements(text).collect();
        let stmt = |from: Option<&str>, names: &[&str]| {
            (
                from.map(str::to_string),
                names.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
            )
        };
        let got: Vec<_> = got.into_iter().map(|s| (s.from, s.names)).collect();
        assert_eq!(
            got,
            [
                stmt(None, &["os", "app.caching"]),
                stmt(Some("app.core"), &["cache", "other"]),
                stmt(Some("."), &["cache"]),
                stmt(Some("a"), &["b"]),
            ]
        );
        let exporter = Exporter {
            path: PathBuf::from("app/core/cache.py"),
            module: "app.core.cache".into(),
            names: vec!["cache".into(), "disk_cache".into()],
        };
        let needles = Needles::new(std::iter::once(&exporter));
        let yes = |t: &[u8]| needles.may_import(t);
        assert!(yes(b"from app.core.cache import disk_cache\n"));
        assert!(yes(b"from src.app.core.cache import (\n  cache,\n)\n"));
        assert!(yes(b"from .cache import cache\n"));
        assert!(yes(b"from app.core import cache\n"));
        assert!(yes(b"import app.core.cache as cache\n"));
        assert!(!yes(b"from functools import cache\n"));
        assert!(!yes(b"from app.core.cache import other\n# cache\n"));
        assert!(!yes(b"x = cache\n"));
    }

    #[test]
    fn a_reexport_of_a_reexport_is_followed() {
        let dir = project(&[
            ("app/__init__.py", "from .caching import disk_cache\n"),
            (
                "app/caching.py",
                "from cashews import Cache\ndisk_cache = Cache()\n",
            ),
            (
                "app/users.py",
                "from app import disk_cache\n@disk_cache(ttl='1h')\nasync def a(): ...\n",
            ),
            ("app/plain.py", "from functools import cache\n"),
        ]);
        let sources = Sources::default();
        let users = dir.path().join("app/users.py");
        let index = Index::for_file(&sources, &users);
        let modules: Vec<&str> = index
            .cashews_exporters()
            .iter()
            .map(|e| e.module.as_str())
            .collect();
        // Every module binding it at module level can be imported from.
        assert_eq!(modules, ["app.caching", "app", "app.users"]);
        assert!(index.may_import_project_cashews(b"from app import disk_cache\n"));
        assert!(!index.may_import_project_cashews(b"from functools import cache\n"));
    }

    #[test]
    fn names_through_reexports_and_module_imports() {
        let dir = project(&[
            ("app/__init__.py", "from cashews import cache, early\n"),
            (
                "app/api.py",
                "from app import cache, early as e\nimport app.store as store\ncached = cache(ttl='1h')\n",
            ),
            (
                "app/store.py",
                "from cashews import Cache\ndisk_cache = Cache(name='disk')\n",
            ),
        ]);
        let sources = Sources::default();
        let api = dir.path().join("app/api.py");
        let index = Index::for_file(&sources, &api);
        let names = index.cashews(index.module(&api).unwrap());
        assert!(names.is_cache("cache"));
        assert!(names.is_cache("store.disk_cache"));
    }
}
