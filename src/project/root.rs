//! Where a file sits in its project: the project root, the folders Python
//! imports from, and the dotted module name of a file.

use std::path::{Path, PathBuf};

const ROOT_MARKERS: &[&str] = &[
    "pyproject.toml",
    "setup.cfg",
    "setup.py",
    ".git",
    ".hg",
    "requirements.txt",
    "requirements.in",
    "Pipfile",
    "poetry.lock",
    "uv.lock",
    "tox.ini",
];

/// A pytest file by its name (`test_x.py`, `x_test.py`, `conftest.py`):
/// what the setup search, the scan and the writer search leave out.
pub(crate) fn is_test_file_name(name: &str) -> bool {
    name.starts_with("test_") || name.ends_with("_test.py") || name == "conftest.py"
}

/// A folder of tests by its name.
pub(crate) fn is_test_dir_name(name: &str) -> bool {
    matches!(name, "tests" | "test" | "testing")
}

/// Whether `dir` is a project root. A `setup.py` or `setup.cfg` inside a
/// package (a folder with `__init__.py`, e.g. `app/core/setup.py`) is a
/// module of that package, not a project marker.
fn is_root(dir: &Path) -> bool {
    ROOT_MARKERS.iter().any(|m| {
        dir.join(m).exists()
            // A package's own files are modules or data, not the project's root.
            && !(*m != "pyproject.toml" && *m != ".git" && dir.join("__init__.py").is_file())
    })
}

/// The nearest folder above `file` holding a project marker.
pub(crate) fn find_root(file: &Path) -> Option<PathBuf> {
    let absolute = std::path::absolute(file).ok()?;
    absolute
        .ancestors()
        .skip(1)
        .find(|dir| is_root(dir))
        .map(Path::to_path_buf)
}

/// The project root of a file and whether its folders are searched:
/// the nearest folder with a marker; without one, the folder above the
/// topmost package holding the file (searched with its packages), else the
/// file's own folder (searched flat).
pub(crate) fn root_or_folder(file: &Path) -> (PathBuf, bool) {
    if let Some(root) = find_root(file) {
        return (root, true);
    }
    let absolute = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    let mut folder = absolute.parent().unwrap_or(Path::new("/")).to_path_buf();
    let mut climbed = false;
    while folder.join("__init__.py").is_file() && folder.pop() {
        climbed = true;
    }
    (folder, climbed)
}

/// `app/users.py` under the root -> `app.users`; `src/` layouts drop `src`;
/// `pkg/__init__.py` -> `pkg`. Without a root, the file stem.
pub(crate) fn module_name(file: &Path) -> String {
    match find_root(file) {
        Some(root) => module_name_in(&root, file),
        None => stem(file),
    }
}

fn stem(file: &Path) -> String {
    file.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The folder Python imports `file` from: the parent of the topmost package
/// (folder with `__init__.py`) holding it, when that is inside `root`; else
/// `root/src` for a file below it, else `root`.
pub(crate) fn import_base(root: &Path, file: &Path) -> PathBuf {
    let mut dir = file.parent().unwrap_or(root).to_path_buf();
    let mut top = None;
    while dir.starts_with(root) && dir != root && dir.join("__init__.py").is_file() {
        top = Some(dir.clone());
        if !dir.pop() {
            break;
        }
    }
    if let Some(base) = top.as_deref().and_then(Path::parent) {
        return base.to_path_buf();
    }
    let src = root.join("src");
    if file.starts_with(&src) {
        src
    } else {
        root.to_path_buf()
    }
}

/// The dotted module name of `file` below `root` (the file stem when it is not below it).
pub(crate) fn module_name_in(root: &Path, file: &Path) -> String {
    let Ok(absolute) = std::path::absolute(file) else {
        return stem(file);
    };
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    if !absolute.starts_with(&root) {
        return stem(file);
    }
    let base = import_base(&root, &absolute);
    let Ok(relative) = absolute.strip_prefix(&base) else {
        return stem(file);
    };
    let mut parts: Vec<String> = relative
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts.len() > 1 && parts.last().is_some_and(|p| p == "__init__") {
        parts.pop();
    }
    parts.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, rel: &str) -> PathBuf {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "").unwrap();
        path
    }

    #[test]
    fn module_names() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "pyproject.toml");
        for (rel, want) in [
            ("app/users.py", "app.users"),
            ("src/pkg/mod.py", "pkg.mod"),
            ("pkg/__init__.py", "pkg"),
            ("main.py", "main"),
        ] {
            let path = touch(dir.path(), rel);
            assert_eq!(module_name(&path), want);
        }
    }

    #[test]
    fn setup_py_inside_a_package_is_a_module() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "pyproject.toml");
        touch(dir.path(), "app/__init__.py");
        touch(dir.path(), "app/core/__init__.py");
        touch(dir.path(), "app/core/setup.py");
        let users = touch(dir.path(), "app/core/users.py");
        assert_eq!(find_root(&users).as_deref(), Some(dir.path()));
        assert_eq!(module_name(&users), "app.core.users");
    }

    #[test]
    fn packages_below_an_unmarked_folder() {
        // A repository whose code lives in backend/ with packages inside.
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".git")).unwrap();
        touch(dir.path(), "backend/app/__init__.py");
        let routes = touch(dir.path(), "backend/app/api/__init__.py");
        let users = touch(dir.path(), "backend/app/api/users.py");
        assert_eq!(module_name(&users), "app.api.users");
        assert_eq!(module_name(&routes), "app.api");
    }
}
