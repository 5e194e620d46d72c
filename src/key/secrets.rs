//! The secrets catalogue (`data/secrets.toml`), loaded once: which names and
//! types hold a secret, and which values may carry one. The key designer
//! hashes them (or sends the target to review) and CA104 reports them in
//! clear, from this one list.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Catalogue {
    contains: Vec<String>,
    words: Vec<String>,
    phrases: Vec<Vec<String>>,
    carriers: Vec<String>,
    types: BTreeMap<String, TypeKind>,
}

/// What a secret type's value does in a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TypeKind {
    /// Its str() hides the value: every value would share one key.
    Masked,
    /// Its str() prints the secret: keyed by `:hash`.
    Secret,
}

static CATALOGUE: LazyLock<Catalogue> = LazyLock::new(|| {
    toml::from_str(include_str!("../../data/secrets.toml")).expect("data/secrets.toml is valid")
});

/// The words of a name: split at `_`, `-`, digits and case changes.
pub(crate) fn words(name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_alphabetic() {
            prev_lower = false;
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        if c.is_uppercase() && prev_lower && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        prev_lower = c.is_lowercase();
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Whether a parameter, field or attribute named so holds a secret.
pub(crate) fn is_secret_name(name: &str) -> bool {
    let c = &*CATALOGUE;
    let lower = name.to_lowercase();
    if c.contains.iter().any(|s| lower.contains(s.as_str())) {
        return true;
    }
    let words = words(name);
    words.iter().any(|w| c.words.contains(w))
        || c.phrases.iter().any(|phrase| {
            words
                .windows(phrase.len())
                .any(|window| window.iter().zip(phrase).all(|(a, b)| a == b))
        })
}

/// Whether a value named so may carry a secret among other things.
pub(crate) fn is_carrier_name(name: &str) -> bool {
    let lower = name.trim_start_matches('_').to_lowercase();
    CATALOGUE.carriers.contains(&lower)
}

/// The secret kind of an annotation's type, by its last dotted part
/// (`pydantic.SecretStr`, `Optional[SecretStr]`, `SecretStr | None`).
pub(crate) fn secret_type(annotation: &str) -> Option<TypeKind> {
    super::type_names(annotation).find_map(|name| CATALOGUE.types.get(name).copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names() {
        for name in [
            "password",
            "userPassword",
            "auth",
            "X_Auth_Token",
            "jwt",
            "bearer",
            "session_id",
            "sessionId",
            "otp",
            "pin",
            "pin_code",
            "dsn",
            "signature",
            "connection_string",
            "apiKey",
            "api_key",
            "client_secret",
            "database_url",
            "refresh_token",
            "creds",
        ] {
            assert!(is_secret_name(name), "{name} is a secret");
        }
        for name in [
            "author", "spinner", "user_id", "page", "query", "dsname", "design", "keyword",
            "session", "pattern", "key", "url", "username",
        ] {
            assert!(!is_secret_name(name), "{name} is not a secret");
        }
    }

    #[test]
    fn carriers_and_types() {
        assert!(is_carrier_name("headers"));
        assert!(is_carrier_name("_cookies"));
        assert!(!is_carrier_name("header_name"));
        assert_eq!(secret_type("SecretStr"), Some(TypeKind::Masked));
        assert_eq!(
            secret_type("Optional[pydantic.SecretStr]"),
            Some(TypeKind::Masked)
        );
        assert_eq!(
            secret_type("HTTPBasicCredentials | None"),
            Some(TypeKind::Secret)
        );
        assert_eq!(secret_type("str"), None);
    }
}
