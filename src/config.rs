//! `[tool.cashews-add]` in the nearest pyproject.toml. Command-line flags win.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cashews::parse_ttl;
use crate::catalogue::{Pattern, RawEffect, compile};
use crate::source::BadInput;

/// Every key documented in README.md ("Configuration").
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct Options {
    /// TTL used when `--ttl` is not given.
    pub(crate) default_ttl: Option<String>,
    /// Default backend URL embedded in the generated `cache.setup(...)`.
    pub(crate) backend_url: Option<String>,
    /// Whether the project is a library (its own cache instance, cashews an
    /// optional extra) or an application; unset: detected.
    pub(crate) library: Option<bool>,
    /// Parameter/attribute names that are handles, left out of keys.
    #[serde(default)]
    pub(crate) extra_handle_names: Vec<String>,
    /// Annotation types that are handles, left out of keys.
    #[serde(default)]
    pub(crate) extra_handle_types: Vec<String>,
    /// More secret-like names, hashed in keys.
    #[serde(default)]
    pub(crate) extra_secret_names: Vec<String>,
    /// More side-effect patterns, in the catalogue's format.
    #[serde(default)]
    pub(crate) extra_side_effects: Vec<RawEffect>,
    /// Lint: rule codes (or prefixes like `CA1`) to check; default all.
    #[serde(default)]
    pub(crate) select: Vec<String>,
    /// Lint: rule codes (or prefixes) to skip.
    #[serde(default)]
    pub(crate) ignore: Vec<String>,
    /// Lint: glob patterns of paths to skip.
    #[serde(default)]
    pub(crate) exclude: Vec<String>,
    /// Lint: glob pattern -> codes to skip in matching files.
    #[serde(default)]
    pub(crate) per_file_ignores: BTreeMap<String, Vec<String>>,
}

/// Options and where they came from.
#[derive(Debug, Default)]
pub(crate) struct Config {
    pub(crate) options: Options,
    /// The pyproject.toml they were read from, if any.
    pub(crate) file: Option<PathBuf>,
    /// Extra side-effect patterns, compiled.
    pub(crate) extra_patterns: Vec<Pattern>,
    /// Whether the file has a `[tool.cashews-add]` table.
    pub(crate) configured: bool,
}

#[derive(Deserialize)]
struct Pyproject {
    tool: Option<Tools>,
}

#[derive(Deserialize)]
struct Tools {
    #[serde(rename = "cashews-add")]
    cashews_add: Option<toml::Value>,
}

/// Loads the config that applies to `start`: the nearest pyproject.toml
/// with a `[tool.cashews-add]` table. One without it (a subproject's own
/// `[project]`) is passed over, as ruff passes over a pyproject.toml
/// without `[tool.ruff]`; none at all means defaults.
pub(crate) fn load_for(start: &Path) -> Result<Config, BadInput> {
    let Ok(absolute) = std::path::absolute(start) else {
        return Ok(Config::default());
    };
    for dir in absolute.ancestors() {
        let file = dir.join("pyproject.toml");
        if file.is_file()
            && let Some(config) = load_if_configured(&file)?
        {
            return Ok(config);
        }
    }
    Ok(Config::default())
}

/// The config in `file`, None when it has no `[tool.cashews-add]` table.
pub(crate) fn load_if_configured(file: &Path) -> Result<Option<Config>, BadInput> {
    let config = load_file(file)?;
    Ok(config.configured.then_some(config))
}

pub(crate) fn load_file(file: &Path) -> Result<Config, BadInput> {
    let text = crate::file::read_text(file)
        .map_err(|e| BadInput(format!("{}: {}", file.display(), e.0)))?;
    parse(file, &text)
}

fn parse(file: &Path, text: &str) -> Result<Config, BadInput> {
    let shown = file.display();
    let pyproject: Pyproject = toml::from_str(text).map_err(|e| {
        BadInput(format!(
            "{shown}: invalid TOML: {}",
            one_line(&e.to_string())
        ))
    })?;
    let Some(table) = pyproject.tool.and_then(|t| t.cashews_add) else {
        return Ok(Config {
            file: Some(file.to_path_buf()),
            ..Config::default()
        });
    };
    let options: Options = table.try_into().map_err(|e: toml::de::Error| {
        BadInput(format!(
            "{shown}: [tool.cashews-add]: {}",
            one_line(e.message())
        ))
    })?;
    if let Some(ttl) = &options.default_ttl {
        parse_ttl(ttl)
            .map_err(|e| BadInput(format!("{shown}: [tool.cashews-add] default-ttl: {e}")))?;
    }
    if let Some(url) = &options.backend_url {
        crate::setup::check_url(url, &format!("{shown}: [tool.cashews-add] backend-url"))?;
    }
    let extra_patterns = options
        .extra_side_effects
        .iter()
        .cloned()
        .map(compile)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            BadInput(format!(
                "{shown}: [tool.cashews-add] extra-side-effects: {e}"
            ))
        })?;
    Ok(Config {
        options,
        file: Some(file.to_path_buf()),
        extra_patterns,
        configured: true,
    })
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Result<Config, BadInput> {
        parse(Path::new("pyproject.toml"), text)
    }

    #[test]
    fn reads_every_key() {
        let c = cfg(r#"
[project]
name = "x"
[tool.cashews-add]
default-ttl = "10m"
backend-url = "redis://localhost"
extra-handle-names = ["repo"]
extra-handle-types = ["Repository"]
extra-secret-names = ["pin"]
select = ["CA1"]
ignore = ["CA104"]
exclude = ["migrations/**"]
per-file-ignores = { "tests/**" = ["CA202"] }
[[tool.cashews-add.extra-side-effects]]
category = "db_write"
severity = "block"
methods = ["persist"]
note = "repository write"
"#)
        .unwrap();
        assert_eq!(c.options.default_ttl.as_deref(), Some("10m"));
        assert_eq!(c.extra_patterns.len(), 1);
        assert_eq!(c.options.per_file_ignores["tests/**"], ["CA202"]);
    }

    #[test]
    fn a_pyproject_without_the_table_is_passed_over() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(
            root.join("pyproject.toml"),
            "[project]\nname = \"x\"\n[tool.cashews-add]\ndefault-ttl = \"10m\"\n",
        )
        .unwrap();
        std::fs::create_dir_all(root.join("app")).unwrap();
        std::fs::write(
            root.join("app/pyproject.toml"),
            "[project]\nname = \"app\"\n",
        )
        .unwrap();
        std::fs::write(root.join("app/users.py"), "").unwrap();
        let c = load_for(&root.join("app/users.py")).unwrap();
        assert_eq!(c.options.default_ttl.as_deref(), Some("10m"));
        assert_eq!(
            c.file.as_deref(),
            Some(root.join("pyproject.toml").as_path())
        );
        // Without any table: defaults.
        let bare = tempfile::tempdir().unwrap();
        std::fs::write(bare.path().join("pyproject.toml"), "[project]\n").unwrap();
        assert!(load_for(bare.path()).unwrap().options.default_ttl.is_none());
    }

    #[test]
    fn unknown_key_names_file_and_key() {
        let err = cfg("[tool.cashews-add]\ndefault_ttl = '1h'\n").unwrap_err();
        assert!(
            err.0
                .starts_with("pyproject.toml: [tool.cashews-add]: unknown field `default_ttl`"),
            "{err}"
        );
    }

    #[test]
    fn bad_ttl_and_toml() {
        assert!(
            cfg("[tool.cashews-add]\ndefault-ttl = '5m30'\n")
                .unwrap_err()
                .0
                .contains("default-ttl")
        );
        assert!(
            cfg("[tool.cashews-add\n")
                .unwrap_err()
                .0
                .contains("invalid TOML")
        );
        assert!(cfg("[project]\nname='x'\n").is_ok());
    }
}
