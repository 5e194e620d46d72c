//! Reading files the tool did not create: only regular files, and only up
//! to a size cap. A FIFO named `x.py` would block a plain read forever, a
//! symlink to `/dev/zero` would fill the memory, and a huge generated module
//! costs about 30 bytes of syntax tree per byte of code.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The biggest file read, in bytes. tree-sitter's tree of dense code takes
/// about 30 bytes per byte of source, so this bounds a run near half a GiB.
pub(crate) const MAX_BYTES: u64 = 16 * 1024 * 1024;

/// Why a file was not read, in a few words (no path: callers add it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unread(pub(crate) String);

/// The bytes of a regular file of at most `MAX_BYTES`.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, Unread> {
    let (mut file, meta) = open_regular(path)?;
    if meta.len() > MAX_BYTES {
        return Err(too_big(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // The file may grow while it is read: never past the cap.
    (&mut file)
        .take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Unread(format!("cannot read: {}", crate::source::io_reason(&e))))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(too_big(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Opens a regular file for reading, refusing anything else.
fn open_regular(path: &Path) -> Result<(std::fs::File, std::fs::Metadata), Unread> {
    // O_NONBLOCK: opening a FIFO must not wait for a writer (the type is
    // checked on the open file, so nothing can swap it in between).
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| Unread(format!("cannot read: {}", crate::source::io_reason(&e))))?;
    let meta = file
        .metadata()
        .map_err(|e| Unread(format!("cannot stat: {}", crate::source::io_reason(&e))))?;
    if !meta.is_file() {
        return Err(Unread(format!(
            "not a regular file ({}); cashews-add reads regular files only",
            kind(&meta)
        )));
    }
    Ok((file, meta))
}

/// Whether a regular file of any size holds one of `needles`: read in
/// chunks, so a file over the cap can still be searched in little memory.
pub(crate) fn mentions(path: &Path, needles: &[&str]) -> bool {
    let Ok((mut file, _)) = open_regular(path) else {
        return false;
    };
    let overlap = needles.iter().map(|n| n.len()).max().unwrap_or(0);
    let mut buffer = vec![0u8; 1 << 20];
    let mut kept = 0;
    loop {
        let Ok(n) = file.read(&mut buffer[kept..]) else {
            return false;
        };
        if n == 0 {
            return false;
        }
        let filled = kept + n;
        let window = &buffer[..filled];
        if needles
            .iter()
            .any(|needle| memchr::memmem::find(window, needle.as_bytes()).is_some())
        {
            return true;
        }
        // Keep the tail: a needle may straddle two chunks.
        kept = overlap.min(filled);
        buffer.copy_within(filled - kept..filled, 0);
    }
}

/// `read` as UTF-8 text, for configuration and manifests.
pub(crate) fn read_text(path: &Path) -> Result<String, Unread> {
    String::from_utf8(read(path)?).map_err(|e| {
        Unread(format!(
            "not UTF-8 (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

fn too_big(len: u64) -> Unread {
    Unread(format!(
        "{:.1} MB, over the {} MB that cashews-add reads (its syntax tree would take about 30 times that in memory)",
        len as f64 / 1e6,
        MAX_BYTES / (1024 * 1024)
    ))
}

fn kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a folder"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else {
        "a special file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_files_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("x.py");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let err = read(&fifo).unwrap_err();
        assert!(err.0.contains("a FIFO"), "{err:?}");
        let zero = dir.path().join("zero.py");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        let err = read(&zero).unwrap_err();
        assert!(err.0.contains("character device"), "{err:?}");
        assert!(read(dir.path()).unwrap_err().0.contains("folder"));
    }

    #[test]
    fn big_files_are_refused_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.py");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(MAX_BYTES + 1).unwrap();
        let err = read(&big).unwrap_err();
        assert!(err.0.contains("over the 16 MB"), "{err:?}");
        assert!(!mentions(&big, &["setup("]));
        std::fs::write(&big, format!("{}cache.setup(url)\n", "#".repeat(3 << 20))).unwrap();
        assert!(mentions(&big, &["setup("]));
        f.set_len(10).unwrap();
        assert_eq!(read(&big).unwrap().len(), 10);
    }
}
