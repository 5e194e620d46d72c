//! One writing run per project at a time: an advisory lock (`flock`) on the
//! project's root folder, held from before the first file is read until
//! the last one is written. A second `--write` on the same project waits,
//! then reads what the first one wrote, so two runs never lose each other's
//! edits or add two setups. The kernel drops the lock when a run dies, even
//! by `kill -9`; locking the folder itself leaves no file behind.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::source::{BadInput, io_reason};

/// How long a run waits for another one before giving up.
const WAIT: Duration = Duration::from_secs(120);

/// The locks of the project roots a run writes into.
pub(crate) struct ProjectLock {
    /// The roots, in the order locked (sorted, so two runs never deadlock).
    pub(crate) roots: Vec<PathBuf>,
    _held: Vec<File>,
}

/// The folder whose lock covers `file`: its project root, as the rewrite sees it.
pub(crate) fn root_for(file: &Path) -> PathBuf {
    crate::project::root_or_folder(file).0
}

impl ProjectLock {
    /// Locks the roots of `files`, waiting (with a note on `err`) while
    /// another run holds one.
    pub(crate) fn acquire(files: &[PathBuf], err: &mut dyn Write) -> Result<ProjectLock, BadInput> {
        let mut roots: Vec<PathBuf> = files
            .iter()
            .map(|f| root_for(f))
            .map(|r| std::fs::canonicalize(&r).unwrap_or(r))
            .collect();
        roots.sort();
        roots.dedup();
        let mut held = Vec::new();
        for root in &roots {
            held.push(lock(root, err)?);
        }
        Ok(ProjectLock { roots, _held: held })
    }
}

fn lock(root: &Path, err: &mut dyn Write) -> Result<File, BadInput> {
    let shown = root.display();
    let folder = File::open(root).map_err(|e| {
        BadInput(format!(
            "{shown}: cannot lock the project: {}",
            io_reason(&e)
        ))
    })?;
    let started = Instant::now();
    let mut said = false;
    loop {
        match folder.try_lock() {
            Ok(()) => return Ok(folder),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(BadInput(format!(
                    "{shown}: cannot lock the project: {}",
                    io_reason(&e)
                )));
            }
        }
        if !said {
            let _ = writeln!(err, "waiting for another cashews-add run on {shown}");
            said = true;
        }
        if started.elapsed() > WAIT {
            return Err(BadInput(format!(
                "{shown}: another cashews-add run has held the project for {} s; nothing written",
                WAIT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_root_waits() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pyproject.toml"), "").unwrap();
        let file = dir.path().join("a.py");
        let first = ProjectLock::acquire(std::slice::from_ref(&file), &mut Vec::new()).unwrap();
        let again = File::open(&first.roots[0]).unwrap();
        assert!(matches!(
            again.try_lock(),
            Err(std::fs::TryLockError::WouldBlock)
        ));
        drop(first);
        assert!(again.try_lock().is_ok());
    }
}
