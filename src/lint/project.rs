//! What the lint needs to know beyond the files it was given: whether the
//! project sets cashews up somewhere (CA402), and what a base class defined
//! in another module looks like (CA103). Both are looked up lazily, once per
//! project root, so a run that never needs them never walks the project.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::lint::rules::ca103::{class_has_str, module_class};
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

    /// Whether the project at `root` sets a cashews cache up, by the
    /// rewrite's own search (`setup::has_existing_setup`), once per root.
    pub(crate) fn has_setup(&self, root: &Path) -> bool {
        let index = self.root(root);
        *index.setup.get_or_init(|| {
            // As the rewrite: a folder without a project marker is searched flat.
            let recursive = crate::project::find_root(&root.join("x.py")).as_deref() == Some(root);
            crate::setup::has_existing_setup(root, recursive)
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

/// Parses a file that may not be linted at all; None when it does not parse.
fn with_module<T>(path: &Path, bytes: Vec<u8>, f: impl FnOnce(&Module) -> T) -> Option<T> {
    let text = String::from_utf8(bytes).ok()?;
    let text = text
        .strip_prefix('\u{feff}')
        .map(str::to_string)
        .unwrap_or(text);
    let tree = parse_tree(&text)?;
    if first_error(&text, tree.root_node()).is_some() {
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
