//! What the lint asks beyond the files it was given: the project index of
//! each file (classes, helpers and cashews objects in other modules), and
//! whether the project sets cashews up somewhere (CA402). Both are looked up
//! lazily, once per project root, so a run that never needs them never
//! walks the project.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::project::{Index, Projects, Sources};

pub(crate) struct Project<'p> {
    projects: Projects<'p>,
    setups: Mutex<HashMap<PathBuf, std::sync::Arc<OnceLock<bool>>>>,
}

impl<'p> Project<'p> {
    pub(crate) fn new(sources: &'p Sources) -> Project<'p> {
        Project {
            projects: Projects::new(sources),
            setups: Mutex::new(HashMap::new()),
        }
    }

    /// The project root of a file: the nearest folder with a project marker,
    /// else the file's folder.
    pub(crate) fn root_of(file: &Path) -> PathBuf {
        crate::project::root_or_folder(file).0
    }

    /// The index of the project holding `file`.
    pub(crate) fn index(&self, file: &Path) -> &Index<'p> {
        self.projects.for_file(file)
    }

    /// Whether the project at `root` sets a cashews cache up, by the
    /// rewrite's own search (`setup::has_existing_setup`), once per root.
    pub(crate) fn has_setup(&self, root: &Path) -> bool {
        let cell = self
            .setups
            .lock()
            .expect("no panics while held")
            .entry(root.to_path_buf())
            .or_default()
            .clone();
        *cell.get_or_init(|| {
            // As the rewrite: a folder without a project marker is searched flat.
            let recursive = crate::project::find_root(&root.join("x.py")).as_deref() == Some(root);
            crate::setup::has_existing_setup(root, recursive)
        })
    }
}
