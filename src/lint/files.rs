//! Which files to lint, and the `[tool.cashews-add]` that applies to each:
//! the nearest `pyproject.toml` above the file, as for the rewrite (so the
//! same handle rules design the same keys), or `--config`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use globset::{GlobBuilder, GlobMatcher};
use ignore::WalkBuilder;

use crate::config::{Config, load_file, load_if_configured};
use crate::lint::rules::Rule;
use crate::source::BadInput;

/// Folders never walked into (explicit file arguments are still linted).
pub(crate) const DEFAULT_EXCLUDES: &[&str] = &[
    ".bzr",
    ".eggs",
    ".git",
    ".hg",
    ".mypy_cache",
    ".nox",
    ".pytest_cache",
    ".ruff_cache",
    ".svn",
    ".tox",
    ".venv",
    "__pycache__",
    "__pypackages__",
    "_build",
    "buck-out",
    "build",
    "dist",
    "node_modules",
    "site-packages",
    "venv",
];

pub(crate) fn is_python(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "py" || e == "pyi")
}

/// A `.gitignore`-aware walker (also outside a git repository) that skips
/// hidden and default-excluded folders.
pub(crate) fn walker(paths: &[PathBuf]) -> WalkBuilder {
    let mut builder = WalkBuilder::new(&paths[0]);
    for p in &paths[1..] {
        builder.add(p);
    }
    builder
        .require_git(false)
        .filter_entry(|e| e.depth() == 0 || !is_default_excluded(e));
    builder
}

fn is_default_excluded(e: &ignore::DirEntry) -> bool {
    e.file_type().is_some_and(|t| t.is_dir())
        && e.file_name()
            .to_str()
            .is_some_and(|n| DEFAULT_EXCLUDES.contains(&n))
}

/// A glob from `exclude` or `per-file-ignores`, relative to the config's folder.
struct Glob {
    matcher: GlobMatcher,
    /// Holds a `/`: matched against the relative path (or a parent folder);
    /// otherwise against every file and folder name.
    anchored: bool,
}

impl Glob {
    fn new(pattern: &str) -> Result<Glob, String> {
        let trimmed = pattern.trim_end_matches('/');
        let trimmed = trimmed.strip_prefix("./").unwrap_or(trimmed);
        let matcher = GlobBuilder::new(trimmed)
            .literal_separator(true)
            .build()
            .map_err(|e| format!("bad glob {pattern:?}: {e}"))?
            .compile_matcher();
        Ok(Glob {
            matcher,
            anchored: trimmed.contains('/'),
        })
    }

    fn matches(&self, relative: &Path) -> bool {
        if self.anchored {
            relative
                .ancestors()
                .filter(|a| !a.as_os_str().is_empty())
                .any(|a| self.matcher.is_match(a))
        } else {
            relative
                .components()
                .any(|c| self.matcher.is_match(c.as_os_str()))
        }
    }
}

/// One project's settings, ready to answer per file.
pub(crate) struct Resolved {
    pub(crate) config: Config,
    /// The folder the globs are relative to.
    base: PathBuf,
    exclude: Vec<Glob>,
    per_file_ignores: Vec<(Glob, Vec<String>)>,
}

/// Which rules run on a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RuleSet([bool; Rule::ALL.len()]);

impl RuleSet {
    #[cfg(test)]
    pub(crate) fn all() -> RuleSet {
        RuleSet([true; Rule::ALL.len()])
    }

    pub(crate) fn enabled(&self, rule: Rule) -> bool {
        self.0[Rule::ALL.iter().position(|r| *r == rule).expect("listed")]
    }
}

/// `--select` / `--ignore` from the command line.
#[derive(Debug, Clone, Default)]
pub(crate) struct Selection {
    pub(crate) select: Vec<String>,
    pub(crate) ignore: Vec<String>,
}

/// A rule code or a prefix of one (`CA1`); anything else is a typo.
pub(crate) fn check_selector(selector: &str) -> Result<(), String> {
    let s = selector.trim().to_ascii_uppercase();
    if s == "ALL" || (!s.is_empty() && Rule::ALL.iter().any(|r| r.code().starts_with(&s))) {
        Ok(())
    } else {
        Err(format!(
            "unknown rule selector {selector:?} (codes are CA001 … CA502; a prefix such as CA1 selects a family)"
        ))
    }
}

fn selects(selectors: &[String], rule: Rule) -> bool {
    selectors.iter().any(|s| {
        let s = s.trim().to_ascii_uppercase();
        s == "ALL" || rule.code().starts_with(&s)
    })
}

impl Resolved {
    pub(crate) fn new(config: Config, base: PathBuf) -> Result<Resolved, BadInput> {
        let shown = config
            .file
            .as_deref()
            .map_or_else(|| "command line".to_string(), |f| f.display().to_string());
        let o = &config.options;
        let bad =
            |key: &str, e: String| BadInput(format!("{shown}: [tool.cashews-add] {key}: {e}"));
        for s in &o.select {
            check_selector(s).map_err(|e| bad("select", e))?;
        }
        for s in &o.ignore {
            check_selector(s).map_err(|e| bad("ignore", e))?;
        }
        let exclude = o
            .exclude
            .iter()
            .map(|p| Glob::new(p))
            .collect::<Result<_, _>>()
            .map_err(|e| bad("exclude", e))?;
        let mut per_file_ignores = Vec::new();
        for (pattern, codes) in &o.per_file_ignores {
            for c in codes {
                check_selector(c).map_err(|e| bad("per-file-ignores", e))?;
            }
            let glob = Glob::new(pattern).map_err(|e| bad("per-file-ignores", e))?;
            per_file_ignores.push((glob, codes.clone()));
        }
        Ok(Resolved {
            config,
            base,
            exclude,
            per_file_ignores,
        })
    }

    fn relative(&self, path: &Path) -> PathBuf {
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        absolute
            .strip_prefix(&self.base)
            .map(Path::to_path_buf)
            .unwrap_or(absolute)
    }

    /// Matched by `exclude` (or by a default exclude, for `--force-exclude`).
    pub(crate) fn excluded(&self, path: &Path, with_defaults: bool) -> bool {
        let relative = self.relative(path);
        self.exclude.iter().any(|g| g.matches(&relative))
            || (with_defaults
                && relative.components().any(|c| {
                    c.as_os_str()
                        .to_str()
                        .is_some_and(|n| DEFAULT_EXCLUDES.contains(&n))
                }))
    }

    /// The rules for one file: the command line's `--select` replaces the
    /// config's `select`, `--ignore` adds to `ignore`, then `per-file-ignores`.
    pub(crate) fn rules_for(&self, path: &Path, cli: &Selection) -> RuleSet {
        let o = &self.config.options;
        let select = if cli.select.is_empty() {
            &o.select
        } else {
            &cli.select
        };
        let relative = self.relative(path);
        let file_ignores: Vec<&String> = self
            .per_file_ignores
            .iter()
            .filter(|(g, _)| g.matches(&relative))
            .flat_map(|(_, codes)| codes)
            .collect();
        let mut set = [false; Rule::ALL.len()];
        for (i, rule) in Rule::ALL.into_iter().enumerate() {
            let selected = select.is_empty() || selects(select, rule);
            let ignored = selects(&o.ignore, rule)
                || selects(&cli.ignore, rule)
                || file_ignores
                    .iter()
                    .any(|c| selects(std::slice::from_ref(*c), rule));
            set[i] = selected && !ignored;
        }
        RuleSet(set)
    }
}

/// Config per folder, loaded once each.
pub(crate) struct Configs {
    fixed: Option<Arc<Resolved>>,
    by_dir: Mutex<HashMap<PathBuf, Arc<Resolved>>>,
    default: Arc<Resolved>,
}

impl Configs {
    /// `--config FILE` applies to every file; otherwise the nearest pyproject.toml.
    pub(crate) fn new(config_file: Option<&Path>) -> Result<Configs, BadInput> {
        let cwd = std::env::current_dir()
            .map_err(|e| BadInput(format!("cannot read the current folder: {e}")))?;
        let fixed = match config_file {
            Some(file) => {
                let config = load_file(file)?;
                let base = std::path::absolute(file)
                    .ok()
                    .and_then(|f| f.parent().map(Path::to_path_buf))
                    .unwrap_or_else(|| cwd.clone());
                Some(Arc::new(Resolved::new(config, base)?))
            }
            None => None,
        };
        Ok(Configs {
            fixed,
            by_dir: Mutex::new(HashMap::new()),
            default: Arc::new(Resolved::new(Config::default(), cwd)?),
        })
    }

    /// The settings for a file (or a folder) at `path`.
    pub(crate) fn for_path(&self, path: &Path, is_dir: bool) -> Result<Arc<Resolved>, BadInput> {
        if let Some(fixed) = &self.fixed {
            return Ok(fixed.clone());
        }
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let dir = if is_dir {
            absolute
        } else {
            absolute.parent().map(Path::to_path_buf).unwrap_or_default()
        };
        self.for_dir(&dir)
    }

    fn for_dir(&self, dir: &Path) -> Result<Arc<Resolved>, BadInput> {
        if let Some(found) = self.by_dir.lock().expect("no panics while held").get(dir) {
            return Ok(found.clone());
        }
        let file = dir.join("pyproject.toml");
        // A pyproject.toml without `[tool.cashews-add]` is passed over (config.rs).
        let own = match file.is_file() {
            true => load_if_configured(&file)?,
            false => None,
        };
        let resolved = match (own, dir.parent()) {
            (Some(config), _) => Arc::new(Resolved::new(config, dir.to_path_buf())?),
            (None, Some(parent)) => self.for_dir(parent)?,
            (None, None) => self.default.clone(),
        };
        self.by_dir
            .lock()
            .expect("no panics while held")
            .insert(dir.to_path_buf(), resolved.clone());
        Ok(resolved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_ruff() {
        let g = |p: &str, path: &str| Glob::new(p).unwrap().matches(Path::new(path));
        assert!(g("migrations", "app/migrations/0001.py"));
        assert!(g("test_*.py", "tests/test_x.py"));
        assert!(!g("test_*.py", "tests/x_test.py"));
        assert!(g("tests/**", "tests/a/b.py"));
        assert!(g("tests/fixtures", "tests/fixtures/a.py"));
        assert!(g("app/*.py", "app/a.py"));
        assert!(!g("app/*.py", "app/sub/a.py"));
        assert!(g("./legacy/", "legacy/x.py"));
    }

    #[test]
    fn selectors() {
        assert!(check_selector("CA1").is_ok());
        assert!(check_selector("ca101").is_ok());
        assert!(check_selector("CA999").is_err());
        assert!(check_selector("E501").is_err());
        let resolved = Resolved::new(
            Config {
                options: crate::config::Options {
                    select: vec!["CA1".into(), "CA4".into()],
                    ignore: vec!["CA104".into()],
                    per_file_ignores: [("tests/**".to_string(), vec!["CA101".to_string()])]
                        .into_iter()
                        .collect(),
                    ..Default::default()
                },
                ..Default::default()
            },
            PathBuf::from("/p"),
        )
        .unwrap();
        let cli = Selection::default();
        let app = resolved.rules_for(Path::new("/p/app/x.py"), &cli);
        assert!(app.enabled(Rule::CA101) && app.enabled(Rule::CA402));
        assert!(!app.enabled(Rule::CA104) && !app.enabled(Rule::CA201));
        let test = resolved.rules_for(Path::new("/p/tests/x.py"), &cli);
        assert!(!test.enabled(Rule::CA101) && test.enabled(Rule::CA102));
        let cli = Selection {
            select: vec!["CA2".into()],
            ignore: vec!["CA202".into()],
        };
        let narrowed = resolved.rules_for(Path::new("/p/app/x.py"), &cli);
        assert!(narrowed.enabled(Rule::CA201) && !narrowed.enabled(Rule::CA202));
        assert!(!narrowed.enabled(Rule::CA101));
    }
}
