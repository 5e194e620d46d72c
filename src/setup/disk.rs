//! The default disk location: one folder per project (and per version,
//! where the project has one) in the user's cache directory, and the note
//! that tells the person what a persistent cache means for a deploy.

use std::path::Path;

use serde::Serialize;

/// What the output says about a disk cache the setup points at.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DiskNote {
    /// The folder as written in the URL (`~/.cache/cashews/shop-1.2.0`).
    pub(crate) directory: String,
    /// The package version in the folder's name, when there is one.
    pub(crate) version: Option<String>,
    /// Survives restarts; what that means after a deploy; why no version.
    pub(crate) note: String,
}

/// The project's version as pyproject.toml states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Version {
    Static(String),
    /// `dynamic = ["version"]`: only the build knows it.
    Dynamic,
    /// No pyproject.toml, or no version in it.
    Missing,
}

/// `[project].version`, else `[tool.poetry].version`.
pub(crate) fn version_of(root: &Path) -> Version {
    let Some(table) = crate::file::read_text(&root.join("pyproject.toml"))
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
    else {
        return Version::Missing;
    };
    let project = table.get("project");
    let poetry = table.get("tool").and_then(|t| t.get("poetry"));
    let stated = [project, poetry]
        .into_iter()
        .flatten()
        .find_map(|t| t.get("version").and_then(|v| v.as_str()));
    if let Some(v) = stated.filter(|v| !v.trim().is_empty()) {
        return Version::Static(v.trim().to_string());
    }
    let dynamic = project
        .and_then(|p| p.get("dynamic"))
        .and_then(|d| d.as_array())
        .is_some_and(|d| d.iter().any(|x| x.as_str() == Some("version")));
    if dynamic {
        Version::Dynamic
    } else {
        Version::Missing
    }
}

/// The user's cache directory as the URL writes it: `$XDG_CACHE_HOME` when
/// it is set to an absolute folder no other user can write to (as `~/…`
/// when it is below `$HOME`, so the literal works for every user), else
/// `~/.cache`.
pub(crate) fn user_cache_dir() -> String {
    let xdg = std::env::var_os("XDG_CACHE_HOME").map(std::path::PathBuf::from);
    let Some(xdg) = xdg.filter(|p| p.is_absolute() && super::shared_folder(p).is_none()) else {
        return "~/.cache".to_string();
    };
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let shown = match home.as_deref().and_then(|h| xdg.strip_prefix(h).ok()) {
        Some(rel) if rel.as_os_str().is_empty() => "~".to_string(),
        Some(rel) => format!("~/{}", rel.to_string_lossy()),
        None => xdg.to_string_lossy().into_owned(),
    };
    url_escaped(shown.trim_end_matches('/'))
}

/// Characters a URL query value cannot hold as they are (cashews decodes
/// the query with `parse_qsl`, where `+` is a space).
fn url_escaped(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            ' ' => out.push_str("%20"),
            '%' => out.push_str("%25"),
            '&' => out.push_str("%26"),
            '+' => out.push_str("%2B"),
            '#' => out.push_str("%23"),
            c => out.push(c),
        }
    }
    out
}

/// A version as a folder-name part: `1.2.0+local` -> `1.2.0-local`.
fn version_part(version: &str) -> String {
    version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// `disk://?directory=CACHE/cashews/SLUG[-VERSION]&shards=0`.
pub(crate) fn default_url(root: &Path, slug: &str) -> String {
    let name = match version_of(root) {
        Version::Static(v) => format!("{slug}-{}", version_part(&v)),
        _ => slug.to_string(),
    };
    format!(
        "disk://?directory={}/cashews/{name}&shards=0",
        user_cache_dir()
    )
}

/// The `directory=` value of a disk URL, as written.
fn directory_of(url: &str) -> Option<&str> {
    let query = url.strip_prefix("disk://")?.split_once('?')?.1;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("directory="))
}

/// What to tell the person about the disk cache of a setup the tool adds:
/// None for other backends.
pub(crate) fn note(root: &Path, url: &str, is_default: bool) -> Option<DiskNote> {
    let directory = directory_of(url)?.to_string();
    let version = version_of(root);
    let why_not = match (&version, is_default) {
        (_, false) => {
            " The folder is the one you chose; give it a new name (or empty it) when a release changes what a cached function returns.".to_string()
        }
        (Version::Static(v), true) => format!(
            " The folder's name holds version {v} as it is now: it does not follow later bumps, so rename it in the setup line (or empty the folder) when a release changes what a cached function returns."
        ),
        (Version::Dynamic, true) => {
            " The folder's name holds no version: pyproject.toml declares it dynamic, so only the build knows it; empty the folder (or rename it in the setup line) when a release changes what a cached function returns.".to_string()
        }
        (Version::Missing, true) => {
            " The folder's name holds no version: the project states none in pyproject.toml; empty the folder (or rename it in the setup line) when a release changes what a cached function returns.".to_string()
        }
    };
    let note = format!(
        "the cache is kept on disk in {directory} and survives restarts: after a deploy that changes what a cached function returns, the old entries are served until their TTL ends.{why_not} CACHE_URL=redis://… or mem:// at run time overrides it."
    );
    let version = match version {
        Version::Static(v) if is_default => Some(v),
        _ => None,
    };
    Some(DiskNote {
        directory,
        version,
        note,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(pyproject: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pyproject.toml"), pyproject).unwrap();
        dir
    }

    #[test]
    fn versions() {
        let v = |t: &str| version_of(project(t).path());
        assert_eq!(
            v("[project]\nname = \"a\"\nversion = \"1.2.0\"\n"),
            Version::Static("1.2.0".into())
        );
        assert_eq!(
            v("[tool.poetry]\nname = \"a\"\nversion = \"0.3.1\"\n"),
            Version::Static("0.3.1".into())
        );
        assert_eq!(
            v("[project]\nname = \"a\"\ndynamic = [\"version\"]\n"),
            Version::Dynamic
        );
        assert_eq!(v("[project]\nname = \"a\"\n"), Version::Missing);
        assert_eq!(
            version_of(tempfile::tempdir().unwrap().path()),
            Version::Missing
        );
    }

    #[test]
    fn the_version_goes_into_the_folder_name() {
        // The test process may run with XDG_CACHE_HOME set: compare with it.
        let base = user_cache_dir();
        let dir = project("[project]\nname = \"shop\"\nversion = \"1.2.0+local\"\n");
        assert_eq!(
            default_url(dir.path(), "shop"),
            format!("disk://?directory={base}/cashews/shop-1.2.0-local&shards=0")
        );
        let url = default_url(dir.path(), "shop");
        let note = note(dir.path(), &url, true).unwrap();
        assert_eq!(note.version.as_deref(), Some("1.2.0+local"));
        assert!(note.note.contains("survives restarts"), "{}", note.note);
        assert!(note.note.contains("until their TTL ends"), "{}", note.note);
        let dynamic = project("[project]\nname = \"shop\"\ndynamic = [\"version\"]\n");
        let url = default_url(dynamic.path(), "shop");
        assert!(url.ends_with("/cashews/shop&shards=0"), "{url}");
        let note = super::note(dynamic.path(), &url, true).unwrap();
        assert!(note.note.contains("declares it dynamic"), "{}", note.note);
        assert!(super::note(dir.path(), "mem://", true).is_none());
    }

    #[test]
    fn escapes() {
        assert_eq!(url_escaped("~/my cache+x"), "~/my%20cache%2Bx");
        assert_eq!(version_part("2.0.0rc1"), "2.0.0rc1");
    }
}
