//! What the lint needs to know beyond the files it was given: whether the
//! project sets cashews up somewhere (CA402), and what a base class defined
//! in another module looks like (CA103). Both are looked up lazily, once per
//! project root, so a run that never needs them never walks the project.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use ignore::WalkState;

use crate::lint::rules::ca103::{class_has_str, module_class};
use crate::lint::rules::ca402::setup_calls;
use crate::module::Module;
use crate::source::{SourceFile, first_error, parse_tree};

#[derive(Default)]
pub(crate) struct Project {
    roots: Mutex<HashMap<PathBuf, Arc<Root>>>,
}

#[derive(Default)]
struct Root {
    files: OnceLock<Vec<PathBuf>>,
    classes: Mutex<HashMap<String, Option<bool>>>,
    setup: OnceLock<bool>,
}

impl Project {
    /// The project root of a file: the nearest folder with a project marker,
    /// else the file's folder.
    pub(crate) fn root_of(file: &Path) -> PathBuf {
        crate::project::find_root(file).unwrap_or_else(|| {
            std::path::absolute(file)
                .ok()
                .and_then(|a| a.parent().map(Path::to_path_buf))
                .unwrap_or_default()
        })
    }

    fn root(&self, root: &Path) -> Arc<Root> {
        let mut roots = self.roots.lock().expect("no panics while held");
        roots.entry(root.to_path_buf()).or_default().clone()
    }

    fn files<'r>(root: &Path, index: &'r Root) -> &'r [PathBuf] {
        index.files.get_or_init(|| python_files(root))
    }

    /// Whether any Python file under `root` sets a cashews cache up: a
    /// parallel walk that stops at the first one.
    pub(crate) fn has_setup(&self, root: &Path) -> bool {
        let index = self.root(root);
        *index.setup.get_or_init(|| {
            let found = AtomicBool::new(false);
            let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
            let mut walker = crate::lint::files::walker(&[root.to_path_buf()]);
            walker.threads(threads);
            walker.build_parallel().run(|| {
                Box::new(|entry| {
                    if found.load(Ordering::Relaxed) {
                        return WalkState::Quit;
                    }
                    let Ok(entry) = entry else {
                        return WalkState::Continue;
                    };
                    let path = entry.path();
                    if !entry.file_type().is_some_and(|t| t.is_file())
                        || !crate::lint::files::is_python(path)
                    {
                        return WalkState::Continue;
                    }
                    if file_sets_up(path) {
                        found.store(true, Ordering::Relaxed);
                        return WalkState::Quit;
                    }
                    WalkState::Continue
                })
            });
            found.into_inner()
        })
    }

    /// Whether the class `name`, defined in some module of the project of
    /// `from_file`, has a readable `str()` (see `class_has_str`).
    pub(crate) fn class_has_str(&self, from_file: &Path, name: &str, depth: usize) -> Option<bool> {
        let root_path = Project::root_of(from_file);
        let index = self.root(&root_path);
        if let Some(known) = index
            .classes
            .lock()
            .expect("no panics while held")
            .get(name)
        {
            return *known;
        }
        let needle = format!("class {name}");
        let mut verdicts = Vec::new();
        for path in Project::files(&root_path, &index) {
            let Ok(bytes) = std::fs::read(path) else {
                continue;
            };
            let defines = memchr::memmem::find_iter(&bytes, needle.as_bytes())
                .any(|at| matches!(bytes.get(at + needle.len()), Some(b'(' | b':' | b' ')));
            if !defines {
                continue;
            }
            let verdict = with_module(path, bytes, |module| {
                module_class(module, name).map(|class| class_has_str(self, module, class, depth))
            });
            if let Some(Some(v)) = verdict {
                verdicts.push(v);
            }
        }
        let verdict = if verdicts.contains(&Some(true)) {
            Some(true)
        } else if !verdicts.is_empty() && verdicts.iter().all(|v| *v == Some(false)) {
            Some(false)
        } else {
            None
        };
        index
            .classes
            .lock()
            .expect("no panics while held")
            .insert(name.to_string(), verdict);
        verdict
    }
}

fn file_sets_up(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    let has = |needle: &[u8]| memchr::memmem::find(&bytes, needle).is_some();
    if !has(b"setup") && !has(b".init") {
        return false;
    }
    with_module(path, bytes, |module| !setup_calls(module).is_empty()).unwrap_or(false)
}

/// Parses a file that may not be linted at all; None when it does not parse.
fn with_module<T>(path: &Path, bytes: Vec<u8>, f: impl FnOnce(&Module) -> T) -> Option<T> {
    let text = String::from_utf8(bytes).ok()?;
    let text = text
        .strip_prefix('\u{feff}')
        .map(str::to_string)
        .unwrap_or(text);
    let tree = parse_tree(&text)?;
    if first_error(tree.root_node()).is_some() {
        return None;
    }
    let src = SourceFile {
        path: path.to_path_buf(),
        text,
        bom: false,
        tree,
    };
    let module = Module::new(&src);
    Some(f(&module))
}

/// The project's Python files, `.gitignore` and the usual excludes respected.
fn python_files(root: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = crate::lint::files::walker(&[root.to_path_buf()])
        .build()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
        .map(ignore::DirEntry::into_path)
        .filter(|p| crate::lint::files::is_python(p))
        .collect();
    out.sort();
    out
}
