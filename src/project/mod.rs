//! The project-wide model the rewrite, the lint and the scan all ask: the
//! project root, its modules (parsed lazily, once), names resolved across
//! modules, classes with their bases and attributes, and the effect summary
//! of every function reached (memoised in `purity`).
//!
//! Parsed files live in a `Sources` arena the caller owns, so every
//! `Module` handed out borrows it for the whole run: `Index<'p>` answers with
//! `&'p Module<'p>` and never copies a tree.

pub(crate) mod aiosql;
pub(crate) mod cashews;
pub(crate) mod classes;
pub(crate) mod effects;
pub(crate) mod resolve;
mod root;
pub(crate) mod sql;
mod types;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use elsa::sync::{FrozenMap, FrozenVec};

use crate::module::Module;
use crate::source::SourceFile;

pub(crate) use root::{
    import_base, is_test_dir_name, is_test_file_name, module_name, module_name_in, root_or_folder,
};

/// The parsed files of one run; dropped with everything that borrows them.
#[derive(Default)]
pub(crate) struct Sources {
    files: FrozenVec<Box<SourceFile>>,
}

/// One index per project root, made on first use: the lint and the
/// rewrite may touch files of several projects in one run.
pub(crate) struct Projects<'p> {
    sources: &'p Sources,
    indexes: FrozenMap<PathBuf, Box<Index<'p>>>,
    /// The root of each folder asked about: the lint asks for every file
    /// it walks, and finding a root costs a dozen stats per level.
    roots: Mutex<HashMap<PathBuf, (PathBuf, bool)>>,
}

impl<'p> Projects<'p> {
    pub(crate) fn new(sources: &'p Sources) -> Projects<'p> {
        Projects {
            sources,
            indexes: FrozenMap::new(),
            roots: Mutex::new(HashMap::new()),
        }
    }

    /// The index of the project holding `file`.
    pub(crate) fn for_file(&self, file: &Path) -> &Index<'p> {
        // The root depends on the file's folder only.
        let folder = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let known = self
            .roots
            .lock()
            .expect("no panics while held")
            .get(&folder)
            .cloned();
        let (root, marked) = known.unwrap_or_else(|| {
            let found = root_or_folder(file);
            self.roots
                .lock()
                .expect("no panics while held")
                .insert(folder, found.clone());
            found
        });
        if let Some(found) = self.indexes.get(&root) {
            return found;
        }
        self.indexes.insert(
            root.clone(),
            Box::new(Index::new(self.sources, root, marked)),
        )
    }
}

/// What a module name or a relative import names on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ModuleRef {
    /// A `.py` file (a package's `__init__.py` for the package).
    File(PathBuf),
    /// A folder without `__init__.py` (a namespace package).
    Folder(PathBuf),
}

/// Largest file the index parses: a module past it is reported by the
/// callers that must read it, and never parsed for a cross-module question.
const MAX_MODULE_BYTES: u64 = 8 << 20;

pub(crate) struct Index<'p> {
    sources: &'p Sources,
    /// Absolute; the target's own folder when no marker was found.
    pub(crate) root: PathBuf,
    /// Whether `root` holds a project marker (else only its own folder is searched).
    pub(crate) marked: bool,
    modules: FrozenMap<PathBuf, Box<Option<Module<'p>>>>,
    /// Modules added as versions (the lint's fix rounds): not found by path.
    versions: FrozenVec<Box<Module<'p>>>,
    files: OnceLock<Vec<PathBuf>>,
    pub(crate) classes: Mutex<HashMap<resolve::Def, Option<Arc<classes::ClassInfo>>>>,
    summaries: Mutex<HashMap<effects::FnKey, Arc<effects::Summary>>>,
    /// The statements of each aiosql loader variable, read once.
    aiosql: Mutex<HashMap<resolve::Def, Option<Arc<aiosql::Queries>>>>,
    caches: cashews::Caches,
    exporters: OnceLock<(Vec<cashews::Exporter>, cashews::Needles)>,
    /// Tags the project's `delete_tags(...)` calls delete (lint CA501).
    pub(crate) deleted_tags: crate::lint::rules::ca501::DeletedTags,
    managed: OnceLock<std::collections::BTreeMap<String, PathBuf>>,
}

impl<'p> Index<'p> {
    /// The index of the project holding `file`.
    #[cfg(test)]
    pub(crate) fn for_file(sources: &'p Sources, file: &Path) -> Index<'p> {
        let (root, marked) = root_or_folder(file);
        Index::new(sources, root, marked)
    }

    pub(crate) fn new(sources: &'p Sources, root: PathBuf, marked: bool) -> Index<'p> {
        Index {
            sources,
            root: std::path::absolute(&root).unwrap_or(root),
            marked,
            modules: FrozenMap::new(),
            versions: FrozenVec::new(),
            files: OnceLock::new(),
            classes: Mutex::new(HashMap::new()),
            summaries: Mutex::new(HashMap::new()),
            aiosql: Mutex::new(HashMap::new()),
            caches: OnceLock::new(),
            exporters: OnceLock::new(),
            deleted_tags: OnceLock::new(),
            managed: OnceLock::new(),
        }
    }

    pub(crate) fn key(path: &Path) -> PathBuf {
        std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
    }

    /// The module at `path`, parsed on first use; None when it cannot be
    /// read or parsed (a cross-module question then has no answer there).
    pub(crate) fn module(&self, path: &Path) -> Option<&Module<'p>> {
        let key = Index::key(path);
        if let Some(found) = self.modules.get(&key) {
            return found.as_ref();
        }
        let parsed = read_module(&key).map(|src| {
            let src: &'p SourceFile = self.sources.files.push_get(Box::new(src));
            Module::new(src)
        });
        self.modules.insert(key, Box::new(parsed)).as_ref()
    }

    /// The module of a definition found from `here`: `here` itself when the
    /// definition is in it (the version being analysed, which may be an
    /// edited one), else the module at `path`.
    pub(crate) fn module_of<'a>(
        &'a self,
        here: &'a Module<'p>,
        path: &Path,
    ) -> Option<&'a Module<'p>> {
        if path == Index::key(&here.src.path) {
            Some(here)
        } else {
            self.module(path)
        }
    }

    /// Adds a file the caller has read (a target: its errors are the
    /// caller's to report). A module parsed from disk before is kept.
    pub(crate) fn insert(&self, src: SourceFile) -> &Module<'p> {
        let key = Index::key(&src.path);
        if let Some(Some(found)) = self.modules.get(&key) {
            return found;
        }
        let src: &'p SourceFile = self.sources.files.push_get(Box::new(src));
        match self.modules.insert(key, Box::new(Some(Module::new(src)))) {
            Some(module) => module,
            // The file failed to parse from disk earlier, yet the caller read it.
            None => self.versions.push_get(Box::new(Module::new(src))),
        }
    }

    /// Adds a version of a file that other modules do not see (the text
    /// `lint --fix` is making); they keep reading the file on disk.
    pub(crate) fn insert_version(&self, src: SourceFile) -> &Module<'p> {
        let src: &'p SourceFile = self.sources.files.push_get(Box::new(src));
        self.versions.push_get(Box::new(Module::new(src)))
    }

    /// Parses `paths` in parallel, for questions that reach many modules.
    pub(crate) fn preload(&self, paths: &[PathBuf]) {
        use rayon::prelude::*;
        let todo: Vec<PathBuf> = paths
            .iter()
            .map(|p| Index::key(p))
            .filter(|k| self.modules.get(k).is_none())
            .collect();
        let parsed: Vec<(PathBuf, Option<SourceFile>)> = todo
            .into_par_iter()
            .map(|k| {
                let src = read_module(&k);
                (k, src)
            })
            .collect();
        for (key, src) in parsed {
            if self.modules.get(&key).is_some() {
                continue;
            }
            let module = src.map(|src| Module::new(self.sources.files.push_get(Box::new(src))));
            self.modules.insert(key, Box::new(module));
        }
    }

    /// The project's Python files (gitignore and the usual excludes
    /// respected), walked once; only the root's own folder when it has no marker.
    pub(crate) fn files(&self) -> &[PathBuf] {
        self.files.get_or_init(|| {
            let mut walker = crate::lint::files::walker(std::slice::from_ref(&self.root));
            if !self.marked {
                walker.max_depth(Some(1));
            }
            let mut out: Vec<PathBuf> = walker
                .build()
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
                .map(ignore::DirEntry::into_path)
                .filter(|p| crate::lint::files::is_python(p))
                .collect();
            out.sort();
            out
        })
    }

    /// The dotted name of a file of this project.
    pub(crate) fn module_name(&self, path: &Path) -> String {
        module_name_in(&self.root, path)
    }

    /// The module `import a.b` (level 0) or `from ..a.b import` (level 2)
    /// names, seen from the file `from`; None when it is not in the project.
    pub(crate) fn resolve_module(
        &self,
        from: &Path,
        level: usize,
        dotted: &str,
    ) -> Option<ModuleRef> {
        let from = Index::key(from);
        let parts: Vec<&str> = dotted.split('.').filter(|p| !p.is_empty()).collect();
        if level > 0 {
            let mut base = from.parent()?.to_path_buf();
            for _ in 1..level {
                base = base.parent()?.to_path_buf();
            }
            return find_module(&base, &parts);
        }
        if parts.is_empty() {
            return None;
        }
        let mut bases = vec![
            root::import_base(&self.root, &from),
            self.root.join("src"),
            self.root.clone(),
        ];
        // Code run from a subfolder (`backend/app/...` importing `app`).
        bases.extend(
            from.ancestors()
                .skip(1)
                .take_while(|a| a.starts_with(&self.root))
                .map(Path::to_path_buf),
        );
        let mut seen = Vec::new();
        for base in bases {
            if seen.contains(&base) {
                continue;
            }
            if let Some(found) = find_module(&base, &parts) {
                return Some(found);
            }
            seen.push(base);
        }
        None
    }
}

/// `base/a/b.py`, `base/a/b/__init__.py`, or the folder `base/a/b`.
fn find_module(base: &Path, parts: &[&str]) -> Option<ModuleRef> {
    let mut dir = base.to_path_buf();
    for p in parts {
        dir.push(p);
    }
    if parts.is_empty() {
        let init = dir.join("__init__.py");
        return Some(if init.is_file() {
            ModuleRef::File(init)
        } else {
            ModuleRef::Folder(dir)
        });
    }
    let file = dir.with_extension("py");
    if is_regular(&file) {
        return Some(ModuleRef::File(file));
    }
    let init = dir.join("__init__.py");
    if is_regular(&init) {
        return Some(ModuleRef::File(init));
    }
    dir.is_dir().then_some(ModuleRef::Folder(dir))
}

fn is_regular(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
}

/// A module file read and parsed for a cross-module question, or None
/// (not a regular file, too big, not UTF-8, a syntax error).
fn read_module(path: &Path) -> Option<SourceFile> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_MODULE_BYTES {
        return None;
    }
    SourceFile::read(path).ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A project in a temporary folder: `(relative path, text)` pairs.
    pub(crate) fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("pyproject.toml"),
            "[project]\nname = \"t\"\n",
        )
        .unwrap();
        for (rel, text) in files {
            let path = dir.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    /// Runs `f` on one parsed text in no project (no neighbour files).
    pub(crate) fn with_module<T>(
        text: &str,
        f: impl for<'p> FnOnce(&Index<'p>, &Module<'p>) -> T,
    ) -> T {
        let sources = Sources::default();
        let root = PathBuf::from("/nonexistent-cashews-add");
        let index = Index::new(&sources, root.clone(), false);
        let src = SourceFile::parse(&root.join("m.py"), text.as_bytes().to_vec()).unwrap();
        let module = index.insert(src);
        f(&index, module)
    }

    /// Runs `f` on the module `rel` of a project of `files`.
    pub(crate) fn with_project_module<T>(
        files: &[(&str, &str)],
        rel: &str,
        f: impl for<'p> FnOnce(&Index<'p>, &Module<'p>) -> T,
    ) -> T {
        let dir = project(files);
        let sources = Sources::default();
        let path = dir.path().join(rel);
        let index = Index::for_file(&sources, &path);
        let module = index.module(&path).expect("the module parses");
        f(&index, module)
    }

    #[test]
    fn resolves_modules_absolute_and_relative() {
        let dir = project(&[
            ("app/__init__.py", ""),
            ("app/db/__init__.py", ""),
            ("app/db/repo.py", ""),
            ("app/api/__init__.py", ""),
            ("app/api/users.py", ""),
            ("ns/part.py", ""),
        ]);
        let sources = Sources::default();
        let users = dir.path().join("app/api/users.py");
        let index = Index::for_file(&sources, &users);
        let file = |rel: &str| Some(ModuleRef::File(dir.path().join(rel)));
        assert_eq!(
            index.resolve_module(&users, 0, "app.db.repo"),
            file("app/db/repo.py")
        );
        assert_eq!(
            index.resolve_module(&users, 2, "db.repo"),
            file("app/db/repo.py")
        );
        assert_eq!(
            index.resolve_module(&users, 1, ""),
            file("app/api/__init__.py")
        );
        assert_eq!(
            index.resolve_module(&users, 0, "app"),
            file("app/__init__.py")
        );
        assert_eq!(
            index.resolve_module(&users, 0, "ns"),
            Some(ModuleRef::Folder(dir.path().join("ns")))
        );
        assert_eq!(index.resolve_module(&users, 0, "fastapi"), None);
    }

    #[test]
    fn modules_are_parsed_once() {
        let dir = project(&[("a.py", "x = 1\n")]);
        let sources = Sources::default();
        let index = Index::for_file(&sources, &dir.path().join("a.py"));
        let first = index.module(&dir.path().join("a.py")).unwrap();
        let again = index.module(&dir.path().join("a.py")).unwrap();
        assert!(std::ptr::eq(first, again));
        assert!(index.module(&dir.path().join("missing.py")).is_none());
    }
}
