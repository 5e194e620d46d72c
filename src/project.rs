//! Where a file sits in its project: the project root and the dotted module name.

use std::path::{Path, PathBuf};

const ROOT_MARKERS: &[&str] = &["pyproject.toml", "setup.cfg", "setup.py", ".git"];

/// The nearest folder above `file` holding a project marker.
pub(crate) fn find_root(file: &Path) -> Option<PathBuf> {
    let absolute = std::path::absolute(file).ok()?;
    absolute
        .ancestors()
        .skip(1)
        .find(|dir| ROOT_MARKERS.iter().any(|m| dir.join(m).exists()))
        .map(Path::to_path_buf)
}

/// `app/users.py` under the root -> `app.users`; `src/` layouts drop `src`;
/// `pkg/__init__.py` -> `pkg`. Without a root, the file stem.
pub(crate) fn module_name(file: &Path) -> String {
    let stem = || {
        file.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    match find_root(file) {
        Some(root) => module_name_in(&root, file),
        None => stem(),
    }
}

/// The dotted module name of `file` below `root` (the file stem when it is not below it).
pub(crate) fn module_name_in(root: &Path, file: &Path) -> String {
    let stem = || {
        file.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let Ok(absolute) = std::path::absolute(file) else {
        return stem();
    };
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let Ok(relative) = absolute.strip_prefix(&root) else {
        return stem();
    };
    let mut parts: Vec<String> = relative
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts.len() > 1 && parts[0] == "src" {
        parts.remove(0);
    }
    if parts.len() > 1 && parts.last().is_some_and(|p| p == "__init__") {
        parts.pop();
    }
    parts.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pyproject.toml"), "").unwrap();
        for (rel, want) in [
            ("app/users.py", "app.users"),
            ("src/pkg/mod.py", "pkg.mod"),
            ("pkg/__init__.py", "pkg"),
            ("main.py", "main"),
        ] {
            let path = dir.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            assert_eq!(module_name(&path), want);
        }
    }
}
