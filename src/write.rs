//! Atomic writes: every file is staged in a temporary file beside it and
//! fsynced before the first rename, so an error leaves every original as it was.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::source::{BadInput, io_reason};

/// Writes all files or none. Symlinks are followed: the target is edited, the link kept.
pub(crate) fn write_all(files: &[(&Path, &str)]) -> Result<(), BadInput> {
    let mut staged: Vec<Staged> = Vec::new();
    for (path, text) in files {
        staged.push(stage(path, text.as_bytes())?);
    }
    commit(staged)
}

/// A new text ready beside its file, and what the file held, for a rollback.
struct Staged {
    temp: NamedTempFile,
    real: PathBuf,
    original: Vec<u8>,
}

/// Renames every staged file into place. Should a rename fail (the file
/// turned into a folder since, say), the files already replaced get their
/// original bytes back, so the run still changes nothing.
fn commit(staged: Vec<Staged>) -> Result<(), BadInput> {
    let mut done: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    for Staged {
        temp,
        real,
        original,
    } in staged
    {
        if let Err(e) = temp.persist(&real) {
            let reason = io_reason(&e.error);
            let not_restored: Vec<String> = done
                .iter()
                .filter(|(path, bytes)| {
                    stage(path, bytes)
                        .and_then(|s| s.temp.persist(path).map_err(|e| BadInput(e.to_string())))
                        .is_err()
                })
                .map(|(path, _)| path.display().to_string())
                .collect();
            let outcome = if not_restored.is_empty() {
                "nothing written".to_string()
            } else {
                format!("could not restore {}", not_restored.join(", "))
            };
            return Err(BadInput(format!(
                "{}: cannot replace: {reason}; {outcome}",
                real.display()
            )));
        }
        sync_folder(&real);
        done.push((real, original));
    }
    Ok(())
}

/// Makes a rename durable: fsync the folder that holds the entry (best effort).
fn sync_folder(file: &Path) {
    if let Some(dir) = file.parent()
        && let Ok(handle) = fs::File::open(dir)
    {
        let _ = handle.sync_all();
    }
}

fn stage(path: &Path, bytes: &[u8]) -> Result<Staged, BadInput> {
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
    // Opening for write (without truncating) proves we may replace its content.
    fs::OpenOptions::new()
        .write(true)
        .open(&real)
        .map_err(|e| fail("not writable", e))?;
    let original = fs::read(&real).map_err(|e| fail("cannot read", e))?;
    let dir = real.parent().unwrap_or(Path::new("."));
    let mut temp = NamedTempFile::new_in(dir)
        .map_err(|e| fail("cannot create a temporary file beside it", e))?;
    temp.write_all(bytes).map_err(|e| fail("cannot write", e))?;
    temp.as_file()
        .sync_all()
        .map_err(|e| fail("cannot sync", e))?;
    fs::set_permissions(temp.path(), meta.permissions())
        .map_err(|e| fail("cannot keep permissions", e))?;
    Ok(Staged {
        temp,
        real,
        original,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_and_keeps_mode_and_link() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("a.py");
        fs::write(&real, "old").unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o755)).unwrap();
        let link = dir.path().join("link.py");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_all(&[(&link, "new")]).unwrap();
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
    }

    #[test]
    fn failed_rename_restores_the_files_already_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.py"), dir.path().join("b.py"));
        fs::write(&a, "a").unwrap();
        fs::write(&b, "b").unwrap();
        let staged = vec![stage(&a, b"A").unwrap(), stage(&b, b"B").unwrap()];
        // b.py turns into a non-empty folder after staging: its rename fails.
        fs::remove_file(&b).unwrap();
        fs::create_dir(&b).unwrap();
        fs::write(b.join("x"), "").unwrap();
        let err = commit(staged).unwrap_err();
        assert!(err.0.contains("cannot replace"), "{err}");
        assert!(err.0.ends_with("nothing written"), "{err}");
        assert_eq!(fs::read_to_string(&a).unwrap(), "a");
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["a.py", "b.py"], "no temporary file left behind");
    }

    #[test]
    fn read_only_second_file_leaves_first_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.py"), dir.path().join("b.py"));
        fs::write(&a, "a").unwrap();
        fs::write(&b, "b").unwrap();
        fs::set_permissions(&b, fs::Permissions::from_mode(0o444)).unwrap();
        let err = write_all(&[(&a, "A"), (&b, "B")]).unwrap_err();
        assert!(err.0.contains("read-only"), "{err}");
        assert_eq!(fs::read_to_string(&a).unwrap(), "a");
        assert_eq!(fs::read_to_string(&b).unwrap(), "b");
    }
}
