//! Atomic multi-file writes. Every file is checked (still as it was read, a
//! regular file with one link, writable) and staged in a temporary file
//! beside it (fsync, owner, group and mode of the original) before the
//! first rename; the journal (`journal.rs`) lets the next run finish or
//! undo a write that was killed midway. SIGINT, SIGTERM and SIGHUP are held
//! back while files are written: one that arrives while staging undoes the
//! write (temporary files removed) and then ends the run as it would have;
//! one that arrives later waits for the last rename.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::journal::{Entry, Journal, sync_folder};
use crate::source::{BadInput, io_reason};

/// One file to replace: its path, the bytes it held when it was read, the new bytes.
pub(crate) struct FileWrite<'a> {
    pub(crate) path: &'a Path,
    pub(crate) old: &'a [u8],
    pub(crate) new: &'a [u8],
}

/// Writes all files or none; the journal goes into `journal_dir` (the
/// locked project root). Symlinks are followed: the target is edited, the link kept.
pub(crate) fn write_all(files: &[FileWrite], journal_dir: &Path) -> Result<(), BadInput> {
    if files.is_empty() {
        return Ok(());
    }
    let checked: Vec<Checked> = files.iter().map(check).collect::<Result<_, _>>()?;
    let run = format!(
        "{}-{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let temps: Vec<PathBuf> = checked.iter().map(|c| temp_path(&c.real, &run)).collect();
    let entries: Vec<Entry> = checked
        .iter()
        .zip(files)
        .zip(&temps)
        .map(|((c, f), t)| Entry::new(&c.real, t, f.old, f.new))
        .collect();
    let signals = HeldSignals::hold();
    let journal = Journal::create(journal_dir, &run, &entries)?;
    let undo = |made: &[PathBuf]| {
        for t in made {
            let _ = fs::remove_file(t);
        }
        journal.remove();
    };
    let mut made: Vec<PathBuf> = Vec::new();
    for (i, ((c, f), temp)) in checked.iter().zip(files).zip(&temps).enumerate() {
        made.push(temp.clone());
        if let Err(e) = stage(c, f.new, temp) {
            undo(&made);
            return Err(e);
        }
        test_stall("staged", i + 1, &signals);
        if let Some(name) = signals.pending() {
            undo(&made);
            drop(signals); // the signal now ends the run, as it would have
            return Err(BadInput(format!("interrupted by {name}; nothing written")));
        }
    }
    if let Err(e) = journal.commit() {
        undo(&made);
        return Err(e);
    }
    let result = commit(&checked, files, &temps, &signals);
    if result.is_err() {
        for t in &temps {
            let _ = fs::remove_file(t);
        }
    }
    journal.remove();
    result
}

/// `write_all`, also for files that do not exist yet (a new `conftest.py`,
/// a library's `_cache.py`): each is made empty first, so the checks and
/// the journal treat it as any other file (its old bytes are none), and is
/// removed again when the write fails. A run killed midway may leave such
/// a file empty, which imports nothing and breaks nothing.
pub(crate) fn write_all_creating(files: &[FileWrite], journal_dir: &Path) -> Result<(), BadInput> {
    let mut made: Vec<&Path> = Vec::new();
    let remove = |made: &[&Path]| {
        for p in made {
            let _ = fs::remove_file(p);
        }
    };
    for f in files
        .iter()
        .filter(|f| f.old.is_empty() && !f.path.exists())
    {
        let created = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(f.path);
        if let Err(e) = created {
            remove(&made);
            return Err(BadInput(format!(
                "{}: cannot create: {}; nothing written",
                f.path.display(),
                io_reason(&e)
            )));
        }
        made.push(f.path);
    }
    let result = write_all(files, journal_dir);
    if result.is_err() {
        remove(&made);
    }
    result
}

/// A file ready to be replaced: its real path and what it was when checked.
struct Checked {
    real: PathBuf,
    meta: fs::Metadata,
}

/// Refuses what cannot be replaced safely, before anything is staged.
fn check(f: &FileWrite) -> Result<Checked, BadInput> {
    let path = f.path;
    let fail = |what: &str, e: std::io::Error| {
        BadInput(format!(
            "{}: {what}: {}; nothing written",
            path.display(),
            io_reason(&e)
        ))
    };
    let real = fs::canonicalize(path).map_err(|e| fail("cannot resolve", e))?;
    let meta = fs::metadata(&real).map_err(|e| fail("cannot stat", e))?;
    if meta.permissions().readonly() {
        return Err(BadInput(format!(
            "{}: read-only file; nothing written",
            path.display()
        )));
    }
    if meta.nlink() > 1 {
        return Err(BadInput(format!(
            "{}: has {} hard links, and writing by rename would split them; nothing written (edit it through one link by hand, or break the links first)",
            path.display(),
            meta.nlink()
        )));
    }
    // Opening for write (without truncating) proves we may replace its content.
    fs::OpenOptions::new()
        .write(true)
        .open(&real)
        .map_err(|e| fail("not writable", e))?;
    let checked = Checked { real, meta };
    unchanged(&checked, f).map_err(|e| BadInput(format!("{}, nothing written", e.0)))?;
    Ok(checked)
}

/// The file still holds the bytes it was planned from, and has not been
/// touched since it was checked; otherwise an editor (or another tool)
/// wrote it while the run went on, and writing would lose that change.
fn unchanged(c: &Checked, f: &FileWrite) -> Result<(), BadInput> {
    let same_meta = fs::metadata(&c.real).is_ok_and(|now| {
        now.dev() == c.meta.dev()
            && now.ino() == c.meta.ino()
            && now.len() == c.meta.len()
            && now.mtime() == c.meta.mtime()
            && now.mtime_nsec() == c.meta.mtime_nsec()
            && now.ctime() == c.meta.ctime()
            && now.ctime_nsec() == c.meta.ctime_nsec()
    });
    let same_bytes = same_meta && crate::file::read(&c.real).is_ok_and(|now| now == f.old);
    if same_bytes {
        Ok(())
    } else {
        Err(BadInput(format!(
            "{}: changed while running",
            f.path.display()
        )))
    }
}

/// `.NAME.cashews-add-RUN.tmp` beside the file: one name pattern per run.
fn temp_path(real: &Path, run: &str) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let name = real.file_name().map_or(&b""[..], |n| n.as_bytes());
    // Room for the suffix within the usual 255-byte name limit.
    let name = String::from_utf8_lossy(&name[..name.len().min(120)]);
    real.with_file_name(format!(".{name}.cashews-add-{run}.tmp"))
}

/// Writes the new bytes beside the file with its owner, group and mode.
fn stage(c: &Checked, bytes: &[u8], temp: &Path) -> Result<(), BadInput> {
    let fail = |what: &str, e: std::io::Error| {
        BadInput(format!(
            "{}: {what}: {}; nothing written",
            c.real.display(),
            io_reason(&e)
        ))
    };
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(temp)
        .map_err(|e| fail("cannot create a temporary file beside it", e))?;
    file.write_all(bytes).map_err(|e| fail("cannot write", e))?;
    // Root editing another user's file must leave it theirs. Without the
    // right to give it away, keep at least the group; a file whose owner
    // or group changes loses its setuid and setgid bits.
    let (uid, gid) = (c.meta.uid(), c.meta.gid());
    let kept = std::os::unix::fs::fchown(&file, Some(uid), Some(gid)).is_ok() || {
        let _ = std::os::unix::fs::fchown(&file, None, Some(gid));
        false
    };
    let mut mode = c.meta.mode() & 0o7777;
    if !kept {
        mode &= !0o6000;
    }
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| fail("cannot keep permissions", e))?;
    file.sync_all().map_err(|e| fail("cannot sync", e))?;
    Ok(())
}

/// Renames every staged file into place, each after checking that nobody
/// wrote the file since it was read. Should a check or a rename fail, the
/// files already replaced get their original bytes back, so the run still
/// changes nothing.
fn commit(
    checked: &[Checked],
    files: &[FileWrite],
    temps: &[PathBuf],
    signals: &HeldSignals,
) -> Result<(), BadInput> {
    for (i, ((c, f), temp)) in checked.iter().zip(files).zip(temps).enumerate() {
        let renamed = unchanged(c, f).and_then(|()| {
            fs::rename(temp, &c.real).map_err(|e| {
                BadInput(format!(
                    "{}: cannot replace: {}",
                    f.path.display(),
                    io_reason(&e)
                ))
            })
        });
        if let Err(e) = renamed {
            let outcome = restore(&checked[..i], &files[..i]);
            return Err(BadInput(format!("{}, {outcome}", e.0)));
        }
        sync_folder(c.real.parent().unwrap_or(Path::new(".")));
        test_stall("renamed", i + 1, signals);
    }
    Ok(())
}

/// Puts the original bytes back into files already replaced.
fn restore(checked: &[Checked], files: &[FileWrite]) -> String {
    let failed: Vec<String> = checked
        .iter()
        .zip(files)
        .filter(|(c, f)| {
            let temp = temp_path(&c.real, "restore");
            let back = stage(c, f.old, &temp).is_ok() && fs::rename(&temp, &c.real).is_ok();
            let _ = fs::remove_file(&temp);
            !back
        })
        .map(|(_, f)| f.path.display().to_string())
        .collect();
    if failed.is_empty() {
        "nothing written".to_string()
    } else {
        format!("could not restore {}", failed.join(", "))
    }
}

/// For the crash tests: `CASHEWS_ADD_TEST_STALL=renamed:1` stops the run
/// after the first rename (or `staged:N`) for a minute, or until a held
/// signal arrives, so that a test can kill or signal it exactly there.
fn test_stall(phase: &str, count: usize, signals: &HeldSignals) {
    let Ok(spec) = std::env::var("CASHEWS_ADD_TEST_STALL") else {
        return;
    };
    if spec == format!("{phase}:{count}") {
        eprintln!("stalled after {count} {phase}");
        for _ in 0..1200 {
            if signals.pending().is_some() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

/// SIGINT, SIGTERM and SIGHUP held back for as long as this lives: a
/// handler notes the signal (a mask would not do: rayon's threads, started
/// earlier, would still take it); dropping this puts the old handlers back
/// and raises the signal noted, which then ends the run as it would have.
struct HeldSignals {
    old: Vec<(libc::c_int, libc::sigaction)>,
}

const HELD: [(libc::c_int, &str); 3] = [
    (libc::SIGINT, "SIGINT"),
    (libc::SIGTERM, "SIGTERM"),
    (libc::SIGHUP, "SIGHUP"),
];

/// The held signal that arrived, 0 for none (all a handler may safely do).
static CAUGHT: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn note_signal(signal: libc::c_int) {
    CAUGHT.store(signal, std::sync::atomic::Ordering::SeqCst);
}

impl HeldSignals {
    fn hold() -> HeldSignals {
        CAUGHT.store(0, std::sync::atomic::Ordering::SeqCst);
        let mut old = Vec::new();
        for (signal, _) in HELD {
            // SAFETY: sigaction is plain data; the handler only stores an atomic.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = note_signal as extern "C" fn(libc::c_int) as usize;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                let mut previous: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(signal, &action, &mut previous) == 0 {
                    old.push((signal, previous));
                }
            }
        }
        HeldSignals { old }
    }

    /// The name of a held signal that has arrived, if any.
    fn pending(&self) -> Option<&'static str> {
        let caught = CAUGHT.load(std::sync::atomic::Ordering::SeqCst);
        HELD.iter()
            .find(|(signal, _)| *signal == caught)
            .map(|(_, name)| *name)
    }
}

impl Drop for HeldSignals {
    fn drop(&mut self) {
        for (signal, previous) in &self.old {
            // SAFETY: puts back the action saved by `hold`.
            unsafe {
                libc::sigaction(*signal, previous, std::ptr::null_mut());
            }
        }
        let caught = CAUGHT.swap(0, std::sync::atomic::Ordering::SeqCst);
        if caught != 0 {
            // SAFETY: raising a signal is always allowed.
            unsafe {
                libc::raise(caught);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(files: &[(&Path, &str, &str)], dir: &Path) -> Result<(), BadInput> {
        let writes: Vec<FileWrite> = files
            .iter()
            .map(|(path, old, new)| FileWrite {
                path,
                old: old.as_bytes(),
                new: new.as_bytes(),
            })
            .collect();
        write_all(&writes, dir)
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn writes_and_keeps_mode_and_link() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("a.py");
        fs::write(&real, "old").unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o755)).unwrap();
        let link = dir.path().join("link.py");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write(&[(&link, "old", "new")], dir.path()).unwrap();
        assert_eq!(fs::read_to_string(&real).unwrap(), "new");
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            fs::metadata(&real).unwrap().permissions().mode() & 0o777,
            0o755
        );
        assert_eq!(names(dir.path()), ["a.py", "link.py"], "no journal left");
    }

    #[test]
    fn failed_rename_restores_the_files_already_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.py"), dir.path().join("b.py"));
        fs::write(&a, "a").unwrap();
        fs::write(&b, "b").unwrap();
        let files = [
            FileWrite {
                path: &a,
                old: b"a",
                new: b"A",
            },
            FileWrite {
                path: &b,
                old: b"b",
                new: b"B",
            },
        ];
        let checked: Vec<Checked> = files.iter().map(|f| check(f).unwrap()).collect();
        let temps: Vec<PathBuf> = checked.iter().map(|c| temp_path(&c.real, "t")).collect();
        for ((c, f), t) in checked.iter().zip(&files).zip(&temps) {
            stage(c, f.new, t).unwrap();
        }
        // b.py's temporary file disappears after staging: its rename fails.
        fs::remove_file(&temps[1]).unwrap();
        let err = commit(&checked, &files, &temps, &HeldSignals::hold()).unwrap_err();
        assert!(err.0.contains("b.py: cannot replace"), "{err}");
        assert!(err.0.ends_with("nothing written"), "{err}");
        assert_eq!(fs::read_to_string(&a).unwrap(), "a");
        assert_eq!(
            names(dir.path()),
            ["a.py", "b.py"],
            "no temporary file left"
        );
    }

    #[test]
    fn read_only_second_file_leaves_first_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.py"), dir.path().join("b.py"));
        fs::write(&a, "a").unwrap();
        fs::write(&b, "b").unwrap();
        fs::set_permissions(&b, fs::Permissions::from_mode(0o444)).unwrap();
        let err = write(&[(&a, "a", "A"), (&b, "b", "B")], dir.path()).unwrap_err();
        assert!(err.0.contains("read-only"), "{err}");
        assert_eq!(fs::read_to_string(&a).unwrap(), "a");
        assert_eq!(fs::read_to_string(&b).unwrap(), "b");
    }

    #[test]
    fn a_file_changed_since_it_was_read_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.py"), dir.path().join("b.py"));
        fs::write(&a, "a").unwrap();
        fs::write(&b, "b, and a line an editor saved").unwrap();
        let err = write(&[(&a, "a", "A"), (&b, "b", "B")], dir.path()).unwrap_err();
        assert_eq!(
            err.0,
            format!("{}: changed while running, nothing written", b.display())
        );
        assert_eq!(fs::read_to_string(&a).unwrap(), "a");
        assert_eq!(names(dir.path()), ["a.py", "b.py"]);
    }

    #[test]
    fn hard_links_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.py");
        fs::write(&a, "a").unwrap();
        fs::hard_link(&a, dir.path().join("also.py")).unwrap();
        let err = write(&[(&a, "a", "A")], dir.path()).unwrap_err();
        assert!(err.0.contains("has 2 hard links"), "{err}");
        assert_eq!(fs::read_to_string(&a).unwrap(), "a");
    }

    #[test]
    fn setuid_is_dropped_only_when_the_owner_cannot_be_kept() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.py");
        fs::write(&a, "a").unwrap();
        fs::set_permissions(&a, fs::Permissions::from_mode(0o4755)).unwrap();
        write(&[(&a, "a", "A")], dir.path()).unwrap();
        // Our own file: the owner is kept, and so is the bit.
        assert_eq!(fs::metadata(&a).unwrap().mode() & 0o7777, 0o4755);
    }
}
