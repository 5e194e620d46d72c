//! Output: unified diffs, JSON and the short text summary.

use std::path::{Path, PathBuf};

use similar::{ChangeTag, TextDiff};

/// A unified diff that `git apply` accepts; empty when nothing changes.
#[cfg(test)]
pub(crate) fn unified_diff(path: &Path, old: &str, new: &str) -> String {
    unified_diff_in(None, path, old, new)
}

/// The folder the diff's paths are relative to when a file lies outside the
/// current folder (`git apply` refuses `../` and would read `a/tmp/x` below
/// the current folder): the project root of the first file when it holds
/// them all, else their deepest common folder. None: the current folder.
pub(crate) fn diff_base(paths: &[&Path]) -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    let cwd = std::fs::canonicalize(&cwd).unwrap_or(cwd);
    let absolute: Vec<PathBuf> = paths.iter().map(|p| resolved(p)).collect();
    if absolute.iter().all(|p| p.starts_with(&cwd)) {
        return None;
    }
    let root = crate::lock::root_for(&absolute[0]);
    let root = std::fs::canonicalize(&root).unwrap_or(root);
    if absolute.iter().all(|p| p.starts_with(&root)) {
        return Some(root);
    }
    let mut common = absolute[0].parent()?.to_path_buf();
    while !absolute.iter().all(|p| p.starts_with(&common)) {
        common = common.parent()?.to_path_buf();
    }
    Some(common)
}

/// The absolute path with `..` resolved (through its folder, so that a
/// symlinked file keeps its own name).
fn resolved(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    match (absolute.parent(), absolute.file_name()) {
        (Some(dir), Some(name)) => {
            std::fs::canonicalize(dir).map_or(absolute.clone(), |d| d.join(name))
        }
        _ => absolute,
    }
}

/// `unified_diff` with its paths relative to `base` (see `diff_base`).
pub(crate) fn unified_diff_in(base: Option<&Path>, path: &Path, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    let name = match base {
        Some(base) => resolved(path).strip_prefix(base).map_or_else(
            |_| diff_path(path),
            |r| r.to_string_lossy().replace('\\', "/"),
        ),
        None => diff_path(path),
    };
    let diff = TextDiff::from_lines(old, new);
    // A new file: `git apply` makes it only from /dev/null.
    let from = if old.is_empty() && !path.exists() {
        "/dev/null".to_string()
    } else {
        format!("a/{name}")
    };
    let mut out = format!("--- {from}\n+++ b/{name}\n");
    for group in diff.grouped_ops(3) {
        let hunk = similar::udiff::UnifiedDiffHunk::new(group.clone(), &diff, true);
        out.push_str(&format!("{}\n", hunk.header()));
        for op in &group {
            for change in diff.iter_changes(op) {
                let tag = match change.tag() {
                    ChangeTag::Equal => ' ',
                    ChangeTag::Delete => '-',
                    ChangeTag::Insert => '+',
                };
                out.push(tag);
                out.push_str(change.value());
                if !change.value().ends_with('\n') {
                    out.push_str("\n\\ No newline at end of file\n");
                }
            }
        }
    }
    out
}

/// The path relative to the current folder when it is below it, with `/`.
pub(crate) fn diff_path(path: &Path) -> String {
    let cwd = std::env::current_dir().ok();
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let shown = cwd
        .as_deref()
        .and_then(|c| absolute.strip_prefix(c).ok())
        .unwrap_or(path);
    let text = shown.to_string_lossy().replace('\\', "/");
    text.trim_start_matches("./")
        .trim_start_matches('/')
        .to_string()
}

/// Colours diff lines for a terminal.
pub(crate) fn colour_diff(diff: &str) -> String {
    diff.split_inclusive('\n')
        .map(|line| {
            let colour = if line.starts_with("+++") || line.starts_with("---") {
                "1"
            } else if line.starts_with('+') {
                "32"
            } else if line.starts_with('-') {
                "31"
            } else if line.starts_with("@@") {
                "36"
            } else {
                return line.to_string();
            };
            let body = line.trim_end_matches(['\n', '\r']);
            format!("\x1b[{colour}m{body}\x1b[0m{}", &line[body.len()..])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_has_git_headers_and_newline_hint() {
        let d = unified_diff(Path::new("x.py"), "a\nb", "a\nc\nb");
        assert_eq!(
            d,
            "--- a/x.py\n+++ b/x.py\n@@ -1,2 +1,3 @@\n a\n+c\n b\n\\ No newline at end of file\n"
        );
        assert_eq!(unified_diff(Path::new("x.py"), "a\n", "a\n"), "");
    }

    #[test]
    fn crlf_lines_are_kept() {
        let d = unified_diff(Path::new("x.py"), "a\r\nb\r\n", "a\r\nc\r\nb\r\n");
        assert!(d.contains("+c\r\n"), "{d:?}");
    }
}
