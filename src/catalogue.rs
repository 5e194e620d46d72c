//! The side-effect catalogue (`data/side_effects.toml`), loaded once.
//!
//! The file is data so that the patterns can grow without touching the
//! matcher; `purity.rs` owns the matching.

use std::sync::LazyLock;

use regex::Regex;
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Severity {
    /// Not an effect: a read that steers the decision.
    Read,
    Warn,
    Block,
}

impl Severity {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Severity::Read => "read",
            Severity::Warn => "warn",
            Severity::Block => "block",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum When {
    WriteMode,
    ReadMode,
    WriteSql,
    ReadSql,
    UnknownSql,
    WriteVerb,
    ReadVerb,
    VariableVerb,
    HasArgs,
    UrlArg,
    Query,
    NotQuery,
}

/// One pattern as written in the catalogue or in `extra-side-effects`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEffect {
    category: String,
    severity: Severity,
    #[serde(default)]
    calls: Vec<String>,
    #[serde(default)]
    prefixes: Vec<String>,
    #[serde(default)]
    methods: Vec<String>,
    receiver: Option<String>,
    when: Option<When>,
    note: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalogue {
    effect: Vec<RawEffect>,
}

#[derive(Debug)]
pub(crate) struct Pattern {
    pub(crate) category: String,
    pub(crate) severity: Severity,
    pub(crate) calls: Vec<String>,
    pub(crate) prefixes: Vec<String>,
    pub(crate) methods: Vec<String>,
    pub(crate) receiver: Option<Regex>,
    pub(crate) when: Option<When>,
    pub(crate) note: String,
}

const BUILTIN: &str = include_str!("../data/side_effects.toml");

static CATALOGUE: LazyLock<Vec<Pattern>> =
    LazyLock::new(|| parse(BUILTIN).expect("the built-in catalogue is valid (tested)"));

/// The built-in patterns.
pub(crate) fn builtin() -> &'static [Pattern] {
    &CATALOGUE
}

/// Parses catalogue text; also used for `extra-side-effects` from config.
pub(crate) fn parse(text: &str) -> Result<Vec<Pattern>, String> {
    let raw: RawCatalogue = toml::from_str(text).map_err(|e| e.to_string())?;
    raw.effect.into_iter().map(compile).collect()
}

pub(crate) fn compile(raw: RawEffect) -> Result<Pattern, String> {
    let receiver = match raw.receiver {
        Some(r) => Some(Regex::new(&r).map_err(|e| {
            // regex's message draws the pattern over several lines: its last one says why.
            let text = e.to_string();
            let why = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or_default();
            format!(
                "bad receiver regex {r:?}: {}",
                why.trim().trim_start_matches("error: ")
            )
        })?),
        None => None,
    };
    if raw.calls.is_empty() && raw.prefixes.is_empty() && raw.methods.is_empty() {
        return Err(format!(
            "pattern {:?} names no calls, prefixes or methods",
            raw.note
        ));
    }
    Ok(Pattern {
        category: raw.category,
        severity: raw.severity,
        calls: raw.calls,
        prefixes: raw.prefixes,
        methods: raw.methods,
        receiver,
        when: raw.when,
        note: raw.note,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalogue_parses() {
        assert!(builtin().len() > 40);
        assert!(builtin().iter().any(|p| p.category == "email"));
    }

    #[test]
    fn rejects_empty_pattern() {
        let err = parse("[[effect]]\ncategory='x'\nseverity='warn'\nnote='n'\n").unwrap_err();
        assert!(err.contains("names no calls"), "{err}");
    }
}
