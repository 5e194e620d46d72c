//! Poetry's version constraints read as PEP 440, so that a Poetry pin on
//! cashews that excludes 7.x is found as a PEP 621 one is. The syntax is
//! Poetry's documented one: `^6.0` (>=6.0,<7.0; `^0.5` is >=0.5,<0.6),
//! `~6.4` (>=6.4,<6.5), `6.*`, a bare version (exact), PEP 440 operators,
//! constraints joined by `,` or spaces, alternatives joined by `||`.

use pep440_rs::{Version, VersionSpecifiers};

use super::admits_7;

/// Whether a Poetry constraint admits no cashews 7.x. A constraint this
/// cannot read counts as allowing it: it is left to the person.
pub(super) fn excludes_7(constraint: &str) -> bool {
    let Some(alternatives) = to_pep440(constraint) else {
        return false;
    };
    alternatives.iter().all(|spec| {
        spec.parse::<VersionSpecifiers>()
            .is_ok_and(|specs| !admits_7(&specs))
    })
}

/// The alternatives (`||`) of a constraint, each as PEP 440 specifiers;
/// None when a part is not Poetry syntax.
fn to_pep440(constraint: &str) -> Option<Vec<String>> {
    constraint
        .split("||")
        .map(|alternative| {
            let parts: Option<Vec<String>> =
                clauses(alternative).iter().map(|c| clause(c)).collect();
            parts.map(|p| {
                p.into_iter()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(",")
            })
        })
        .collect()
}

/// `>= 6, <7` or `>=6 <7` -> [`>=6`, `<7`]: split at commas and spaces,
/// an operator written apart from its version joined back to it.
fn clauses(alternative: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut pending = String::new();
    for word in alternative
        .split([',', ' ', '\t'])
        .filter(|w| !w.is_empty())
    {
        pending.push_str(word);
        if !word.chars().all(|c| "<>=!~^".contains(c)) {
            out.push(std::mem::take(&mut pending));
        }
    }
    if !pending.is_empty() {
        out.push(pending); // a lone operator: not a constraint, rejected by PEP 440
    }
    out
}

/// One Poetry constraint as PEP 440 (empty for `*`: anything).
fn clause(c: &str) -> Option<String> {
    if c == "*" {
        return Some(String::new());
    }
    if let Some(v) = c.strip_prefix('^') {
        return caret(v);
    }
    if let Some(v) = c.strip_prefix('~').filter(|v| !v.starts_with('=')) {
        return tilde(v);
    }
    if c.starts_with(['<', '>', '=', '!', '~']) {
        return Some(c.to_string());
    }
    // A bare version is exact; `6.*` is PEP 440's `==6.*`.
    Some(format!("=={c}"))
}

/// `^X.Y.Z`: below the next change of the first non-zero part of those
/// written (`^6.0` <7, `^0.5` <0.6, `^0.0.3` <0.0.4), or of the last one
/// when all are zero (`^0.0` <0.1, `^0` <1).
fn caret(v: &str) -> Option<String> {
    let release = release(v)?;
    let at = release
        .iter()
        .position(|n| *n != 0)
        .unwrap_or(release.len() - 1);
    Some(format!(">={v},<{}", bumped(&release, at)))
}

/// `~X.Y.Z`: below the next minor (`~6.4` <6.5), the next major for `~6`.
fn tilde(v: &str) -> Option<String> {
    let release = release(v)?;
    let at = if release.len() == 1 { 0 } else { 1 };
    Some(format!(">={v},<{}", bumped(&release, at)))
}

/// The release numbers of a version as written (`6.0` -> [6, 0]).
fn release(v: &str) -> Option<Vec<u64>> {
    let version = v.parse::<Version>().ok()?;
    Some(version.release().to_vec())
}

/// `[6, 4, 1]` bumped at 1 -> `6.5`: the parts after it dropped.
fn bumped(release: &[u64], at: usize) -> String {
    let mut parts = release[..=at].to_vec();
    parts[at] += 1;
    parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pep440(c: &str) -> String {
        to_pep440(c).unwrap().join(" || ")
    }

    #[test]
    fn caret_tilde_and_wildcards_as_poetry_defines_them() {
        assert_eq!(pep440("^6.0"), ">=6.0,<7");
        assert_eq!(pep440("^1.2.3"), ">=1.2.3,<2");
        assert_eq!(pep440("^0.5"), ">=0.5,<0.6");
        assert_eq!(pep440("^0.2.3"), ">=0.2.3,<0.3");
        assert_eq!(pep440("^0.0.3"), ">=0.0.3,<0.0.4");
        assert_eq!(pep440("^0.0"), ">=0.0,<0.1");
        assert_eq!(pep440("^0"), ">=0,<1");
        assert_eq!(pep440("~6.4"), ">=6.4,<6.5");
        assert_eq!(pep440("~6.4.1"), ">=6.4.1,<6.5");
        assert_eq!(pep440("~6"), ">=6,<7");
        assert_eq!(pep440("~=6.4"), "~=6.4");
        assert_eq!(pep440("6.*"), "==6.*");
        assert_eq!(pep440("6.4.0"), "==6.4.0");
        assert_eq!(pep440("*"), "");
        assert_eq!(pep440(">= 6, < 7"), ">=6,<7");
        assert_eq!(pep440(">=6 <7"), ">=6,<7");
        assert_eq!(pep440("^5.0 || ^6.0"), ">=5.0,<6 || >=6.0,<7");
    }

    #[test]
    fn which_constraints_exclude_7() {
        for c in [
            "^6.0",
            "^6",
            "~6.4",
            "6.*",
            ">=6,<7",
            "6.4.0",
            "==6.4.0",
            "^0.5",
            "<7",
            "^5.0 || ^6.0",
            "~=6.4",
        ] {
            assert!(excludes_7(c), "{c}");
        }
        for c in [
            "*",
            "^7.0",
            "^6.0 || ^7.0",
            ">=6",
            "~7.1",
            "7.*",
            "",
            ">=6, !=7.0",
            "^7.0.0b1",
            "not a version",
        ] {
            assert!(!excludes_7(c), "{c}");
        }
    }
}
