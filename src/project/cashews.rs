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
        let candidates = module
            .imports
            .bindings
            .iter()
            .filter(|(_, b)| matches!(b, Binding::From { level, module, .. } if *level > 0 || !module.starts_with("cashews")))
            .map(|(local, _)| local.clone())
            .chain(module.variables.keys().cloned());
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
            if let Binding::Module(_) = binding
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
        // The files importing those names (a scan of their import lines).
        let importing: Vec<PathBuf> = self
            .files()
            .iter()
            .filter(|p| !is_test(p))
            .filter(|p| {
                std::fs::read(p).is_ok_and(|b| {
                    import_statements(&b).any(|s| exporters.iter().any(|e| s.imports_from(e)))
                })
            })
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
        self.exporters.get_or_init(|| self.find_exporters())
    }

    fn find_exporters(&self) -> Vec<Exporter> {
        use rayon::prelude::*;
        let files = self.files();
        let defining: Vec<PathBuf> = files
            .par_iter()
            .filter(|p| std::fs::read(p).is_ok_and(|b| imports_cashews(&b)))
            .cloned()
            .collect();
        self.preload(&defining);
        let mut out: Vec<Exporter> = Vec::new();
        for path in &defining {
            if let Some(module) = self.module(path) {
                let names = exported_names(&module.cashews);
                if !names.is_empty() {
                    out.push(Exporter {
                        path: path.clone(),
                        module: self.module_name(path),
                        names,
                    });
                }
            }
        }
        let mut fresh = out.len();
        for _ in 0..REEXPORT_ROUNDS {
            if fresh == 0 {
                break;
            }
            let known: Vec<&PathBuf> = out.iter().map(|e| &e.path).collect();
            let importing: Vec<PathBuf> = files
                .par_iter()
                .filter(|p| !known.contains(p) && !defining.contains(p))
                .filter(|p| {
                    std::fs::read(p).is_ok_and(|b| may_import_from(&b, &out[out.len() - fresh..]))
                })
                .cloned()
                .collect();
            self.preload(&importing);
            let before = out.len();
            for path in &importing {
                if let Some(module) = self.module(path) {
                    let names = exported_names(self.cashews(module));
                    if !names.is_empty() {
                        out.push(Exporter {
                            path: path.clone(),
                            module: self.module_name(path),
                            names,
                        });
                    }
                }
            }
            fresh = out.len() - before;
        }
        out
    }

    /// Phase 2 of the lint's pre-filter: whether a file that does not
    /// import cashews imports one of the project's cashews objects, by
    /// its import lines alone (no parse).
    pub(crate) fn may_import_project_cashews(&self, bytes: &[u8]) -> bool {
        let exporters = self.cashews_exporters();
        !exporters.is_empty() && may_import_from(bytes, exporters)
    }
}

/// Module-level names bound to cashews objects, plain (no dots).
fn exported_names(names: &CashewsNames) -> Vec<String> {
    names
        .exported()
        .chain(names.exported_decorators())
        .map(str::to_string)
        .collect()
}

/// Whether an import statement of `bytes` may bind a name of `exporters`.
fn may_import_from(bytes: &[u8], exporters: &[Exporter]) -> bool {
    // Cheap: some exported name must appear at all.
    let named = exporters
        .iter()
        .flat_map(|e| e.names.iter())
        .any(|n| memchr::memmem::find(bytes, n.as_bytes()).is_some());
    named && import_statements(bytes).any(|s| exporters.iter().any(|e| s.imports_from(e)))
}

/// One `import …` or `from … import …` statement, read from the text.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ImportStmt {
    /// `from X import …`: X as written (leading dots kept); None for `import`.
    from: Option<String>,
    /// The names imported (`a` of `a as b`), or the modules of `import a.b`.
    names: Vec<String>,
}

impl ImportStmt {
    /// Whether this statement may bind a name `exporter` defines (or the
    /// exporter module itself). Loose on purpose: a wrong yes costs a
    /// parse, a wrong no a missed finding.
    fn imports_from(&self, exporter: &Exporter) -> bool {
        let segments: Vec<&str> = exporter.module.split('.').collect();
        let last = |m: &str| m.rsplit('.').next().unwrap_or(m).to_string();
        match &self.from {
            None => self
                .names
                .iter()
                .any(|m| segments.contains(&last(m).as_str())),
            Some(from) => {
                let module = from.trim_start_matches('.');
                let relative = module.len() < from.len();
                let related =
                    (relative && module.is_empty()) || segments.contains(&last(module).as_str());
                related
                    && self.names.iter().any(|n| {
                        n == "*"
                            || exporter.names.contains(n)
                            || segments.last() == Some(&n.as_str())
                    })
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
            if let Some(parsed) = parse_import(from, &stmt) {
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
    let first = |item: &str| {
        item.split_whitespace()
            .next()
            .unwrap_or("")
            .trim_matches(|c| c == '(' || c == ')')
            .to_string()
    };
    let list = |items: &str| -> Vec<String> {
        items
            .replace(['(', ')'], " ")
            .split(',')
            .map(first)
            .filter(|n| !n.is_empty())
            .collect()
    };
    if from {
        let (module, names) = stmt.split_once(" import")?;
        Some(ImportStmt {
            from: Some(module.trim().to_string()),
            names: list(names),
        })
    } else {
        Some(ImportStmt {
            from: None,
            names: list(stmt),
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
        let stmt = |from: Option<&str>, names: &[&str]| ImportStmt {
            from: from.map(str::to_string),
            names: names.iter().map(|n| n.to_string()).collect(),
        };
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
        let yes = |t: &[u8]| may_import_from(t, std::slice::from_ref(&exporter));
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
