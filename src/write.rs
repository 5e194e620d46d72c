//! Atomic writes: every file is staged in a temporary file beside it and
//! fsynced before the first rename, so an error leaves every original as it was.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::source::{BadInput, io_reason};

/// Writes all files or none. Symlinks are followed: the target is edited, the link kept.
pub(crate) fn write_all(files: &[(&Path, &str)]) -> Result<(), BadInput> {
    let mut staged: Vec<(NamedTempFile, PathBuf)> = Vec::new();
    for (path, text) in files {
        staged.push(stage(path, text)?);
    }
    for (temp, real) in staged {
        temp.persist(&real).map_err(|e| {
            BadInput(format!(
                "{}: cannot replace: {}",
                real.display(),
                io_reason(&e.error)
            ))
        })?;
    }
    Ok(())
}

fn stage(path: &Path, text: &str) -> Result<(NamedTempFile, PathBuf), BadInput> {
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
    let dir = real.parent().unwrap_or(Path::new("."));
    let mut temp = NamedTempFile::new_in(dir)
        .map_err(|e| fail("cannot create a temporary file beside it", e))?;
    temp.write_all(text.as_bytes())
        .map_err(|e| fail("cannot write", e))?;
    temp.as_file()
        .sync_all()
        .map_err(|e| fail("cannot sync", e))?;
    fs::set_permissions(temp.path(), meta.permissions())
        .map_err(|e| fail("cannot keep permissions", e))?;
    Ok((temp, real))
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
