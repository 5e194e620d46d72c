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
        let files: Vec<PathBuf> = self
            .files()
            .iter()
            .filter(|p| !is_test(p))
            .cloned()
            .collect();
        let mentions = |path: &PathBuf, needles: &[String]| {
            std::fs::read(path).is_ok_and(|b| {
                needles
                    .iter()
                    .any(|n| memchr::memmem::find(&b, n.as_bytes()).is_some())
            })
        };
        // Phase 1: modules that bind a cashews object at module level: they
        // import cashews (a line naming both).
        let defining: Vec<PathBuf> = files
            .iter()
            .filter(|p| std::fs::read(p).is_ok_and(|b| imports_cashews(&b)))
            .cloned()
            .collect();
        self.preload(&defining);
        let mut exporters: Vec<(String, Vec<String>)> = Vec::new();
        for path in &defining {
            let Some(module) = self.module(path) else {
                continue;
            };
            let exported: Vec<String> = module.cashews.exported().map(str::to_string).collect();
            if !exported.is_empty() {
                exporters.push((self.module_name(path), exported));
            }
        }
        if exporters.is_empty() {
            return Vec::new();
        }
        // Phase 2: files importing from those modules (or their packages).
        let needles: Vec<String> = exporters
            .iter()
            .map(|(m, _)| m.rsplit('.').next().unwrap_or(m).to_string())
            .collect();
        let importing: Vec<PathBuf> = files
            .iter()
            .filter(|p| mentions(p, &needles))
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
