//! The write journal, so that a run killed mid-write (even by `kill -9`) is
//! finished or undone by the next one. Order of a multi-file write:
//!
//! 1. `ROOT/.cashews-add-RUN.staging` lists every file and its temporary
//!    file (`.NAME.cashews-add-RUN.tmp` beside it), fsynced before the
//!    first temporary file exists;
//! 2. every temporary file is written and fsynced;
//! 3. the commit point: the staging file is renamed to `.cashews-add-RUN.journal`;
//! 4. each temporary file is renamed over its file;
//! 5. the journal is removed.
//!
//! A later writing run (holding the project lock, so the owner is gone)
//! undoes a `.staging` (removes its temporary files: every file is still
//! old) and completes a `.journal` (renames the temporary files left, for
//! files still as the killed run read them: every file ends new).

use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::source::{BadInput, io_reason};

const PREFIX: &str = ".cashews-add-";
const STAGING: &str = ".staging";
const COMMITTED: &str = ".journal";

/// One file of a write: where it goes, its temporary file, and hashes of
/// its bytes before and after.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Entry {
    file: Vec<u8>,
    temp: Vec<u8>,
    old: u64,
    new: u64,
}

impl Entry {
    pub(crate) fn new(file: &Path, temp: &Path, old: &[u8], new: &[u8]) -> Entry {
        Entry {
            file: file.as_os_str().as_bytes().to_vec(),
            temp: temp.as_os_str().as_bytes().to_vec(),
            old: fnv1a(old),
            new: fnv1a(new),
        }
    }

    fn file(&self) -> PathBuf {
        PathBuf::from(std::ffi::OsString::from_vec(self.file.clone()))
    }

    fn temp(&self) -> PathBuf {
        PathBuf::from(std::ffi::OsString::from_vec(self.temp.clone()))
    }
}

/// A journal being written: its staging path, then its committed one.
pub(crate) struct Journal {
    staging: PathBuf,
    committed: PathBuf,
}

impl Journal {
    /// Step 1: the list, durable before any temporary file is made.
    pub(crate) fn create(dir: &Path, run: &str, entries: &[Entry]) -> Result<Journal, BadInput> {
        let journal = Journal {
            staging: dir.join(format!("{PREFIX}{run}{STAGING}")),
            committed: dir.join(format!("{PREFIX}{run}{COMMITTED}")),
        };
        let text = serde_json::to_vec(entries).expect("plain data serialises");
        let fail = |e: std::io::Error| {
            BadInput(format!(
                "{}: cannot write the journal: {}; nothing written",
                dir.display(),
                io_reason(&e)
            ))
        };
        write_synced(&journal.staging, &text).map_err(fail)?;
        sync_folder(dir);
        Ok(journal)
    }

    /// Step 3: from here on the write is completed, by this run or the next.
    pub(crate) fn commit(&self) -> Result<(), BadInput> {
        fs::rename(&self.staging, &self.committed).map_err(|e| {
            BadInput(format!(
                "{}: cannot commit the journal: {}; nothing written",
                self.staging.display(),
                io_reason(&e)
            ))
        })?;
        sync_folder(self.committed.parent().unwrap_or(Path::new(".")));
        Ok(())
    }

    /// Step 5, or the end of a write that was undone.
    pub(crate) fn remove(&self) {
        let _ = fs::remove_file(&self.staging);
        let _ = fs::remove_file(&self.committed);
        sync_folder(self.committed.parent().unwrap_or(Path::new(".")));
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Makes a rename or removal durable: fsync the folder (best effort).
pub(crate) fn sync_folder(dir: &Path) {
    if let Ok(handle) = fs::File::open(dir) {
        let _ = handle.sync_all();
    }
}

/// The journals of killed runs in `root` (call it holding the project lock).
fn leftovers(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(root) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with(PREFIX) && (n.ends_with(STAGING) || n.ends_with(COMMITTED))
            })
        })
        .collect();
    found.sort();
    found
}

/// Whether a killed run left a write for the next `--write` to finish.
pub(crate) fn pending(root: &Path) -> bool {
    !leftovers(root).is_empty()
}

/// Undoes or completes every write a killed run left in `root`; one note per run.
pub(crate) fn recover(root: &Path) -> Vec<String> {
    let mut notes = Vec::new();
    for journal in leftovers(root) {
        let committed = journal.to_string_lossy().ends_with(COMMITTED);
        let entries: Vec<Entry> = crate::file::read(&journal)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        let note = if committed {
            complete(&entries)
        } else {
            for e in &entries {
                let _ = fs::remove_file(e.temp());
            }
            format!(
                "an interrupted cashews-add run had replaced none of its {} files: its temporary files were removed",
                entries.len()
            )
        };
        let _ = fs::remove_file(&journal);
        sync_folder(root);
        notes.push(note);
    }
    notes
}

/// Renames the temporary files a killed run left, for files it had not
/// replaced yet and that nobody changed since.
fn complete(entries: &[Entry]) -> String {
    let mut done = 0;
    let mut dropped = Vec::new();
    for e in entries {
        let (file, temp) = (e.file(), e.temp());
        if fs::symlink_metadata(&temp).is_err() {
            done += 1; // renamed before the run was killed
            continue;
        }
        let now = crate::file::read(&file).map(|b| fnv1a(&b)).ok();
        let finished = now == Some(e.old) && fs::rename(&temp, &file).is_ok();
        if finished || now == Some(e.new) {
            done += 1;
        } else {
            dropped.push(file.display().to_string());
        }
        let _ = fs::remove_file(&temp);
        if let Some(dir) = file.parent() {
            sync_folder(dir);
        }
    }
    let mut note = format!(
        "completed the write of an interrupted cashews-add run: {done} of {} files now have its edits",
        entries.len()
    );
    if !dropped.is_empty() {
        note.push_str(&format!(
            "; changed since, so left as they are: {}",
            dropped.join(", ")
        ));
    }
    note
}

/// FNV-1a, 64 bits: enough to tell "as read" from "as written" from "changed".
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.py"), dir.path().join("b.py"));
        let (ta, tb) = (dir.path().join(".a.tmp"), dir.path().join(".b.tmp"));
        fs::write(&a, "old a").unwrap();
        fs::write(&b, "old b").unwrap();
        fs::write(&ta, "new a").unwrap();
        fs::write(&tb, "new b").unwrap();
        (dir, a, b, ta, tb)
    }

    fn entries(a: &Path, b: &Path, ta: &Path, tb: &Path) -> Vec<Entry> {
        vec![
            Entry::new(a, ta, b"old a", b"new a"),
            Entry::new(b, tb, b"old b", b"new b"),
        ]
    }

    #[test]
    fn a_staging_journal_is_undone() {
        let (dir, a, b, ta, tb) = setup();
        Journal::create(dir.path(), "1", &entries(&a, &b, &ta, &tb)).unwrap();
        assert!(pending(dir.path()));
        let notes = recover(dir.path());
        assert!(
            notes[0].contains("replaced none of its 2 files"),
            "{notes:?}"
        );
        assert_eq!(fs::read_to_string(&a).unwrap(), "old a");
        assert!(!ta.exists() && !tb.exists() && !pending(dir.path()));
    }

    #[test]
    fn a_committed_journal_is_completed() {
        let (dir, a, b, ta, tb) = setup();
        let j = Journal::create(dir.path(), "2", &entries(&a, &b, &ta, &tb)).unwrap();
        j.commit().unwrap();
        fs::rename(&ta, &a).unwrap(); // the killed run got this far
        let notes = recover(dir.path());
        assert!(notes[0].contains("2 of 2 files"), "{notes:?}");
        assert_eq!(fs::read_to_string(&a).unwrap(), "new a");
        assert_eq!(fs::read_to_string(&b).unwrap(), "new b");
        assert!(!tb.exists() && !pending(dir.path()));
    }

    #[test]
    fn a_file_changed_since_keeps_its_change() {
        let (dir, a, b, ta, tb) = setup();
        let j = Journal::create(dir.path(), "3", &entries(&a, &b, &ta, &tb)).unwrap();
        j.commit().unwrap();
        fs::write(&b, "edited by hand").unwrap();
        let notes = recover(dir.path());
        assert!(notes[0].contains("left as they are"), "{notes:?}");
        assert_eq!(fs::read_to_string(&a).unwrap(), "new a");
        assert_eq!(fs::read_to_string(&b).unwrap(), "edited by hand");
        assert!(!ta.exists() && !tb.exists());
    }
}
