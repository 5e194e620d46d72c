//! CA104: a secret in a key, in clear.

use crate::edit::Edit;
use crate::function::{Param, ParamKind};
use crate::key::secrets;
use crate::lint::rules::{Cached, Checker, KeyArg, Rule};

declare_rule! {
    /// ## What it does
    /// Finds a secret-like value (a name containing password, token,
    /// secret, api_key, authorization, credential, cookie…, the same list
    /// `cashews-add` hashes when it designs a key, plus
    /// `extra-secret-names`; the catalogue is `data/secrets.toml`) in a
    /// cache key without the `:hash` filter: `{password}`, `{user.api_key}`,
    /// `{jwt}`, `{session_id}`, a value that may carry one keyed whole
    /// (`{headers}`, `{cookies}`, `{__kwargs__}`, a `HTTPBasicCredentials`),
    /// or such a parameter under the default key, which holds every
    /// parameter as is (a `**kwargs` there only when the function reads a
    /// secret-named keyword from it, `kwargs["token"]`: most carry options).
    ///
    /// ## Why is this bad?
    /// Cache keys are not secret: they show up in `redis-cli --scan`, in
    /// `MONITOR`, in logs and metrics, and in anything that can list keys.
    /// A key holding a token hands the token to whoever can read keys.
    /// `{token:hash}` keys on an MD5 digest instead and still tells calls
    /// apart. (`:jwt(...)` and `:len` do not leak the value either.)
    ///
    /// ## Example
    /// ```python
    /// @cache(ttl="10m", key="me:{token}")
    /// async def current_user(token: str): ...
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// @cache(ttl="10m", key="me:{token:hash}")
    /// async def current_user(token: str): ...
    /// ```
    ///
    /// ## Fix
    /// Unsafe (applied with `--fix --unsafe-fixes`): it changes the cache key.
    /// `--fix --unsafe-fixes` adds `:hash` to a placeholder that has no filter. Keys change,
    /// so the first calls after the fix miss the cache. A placeholder with
    /// another filter (`:lower`) and the default key are left to you.
    pub(crate) const DOC;
}

pub(crate) fn check<'t>(ck: &mut Checker<'_, 't>, c: &Cached<'t>) {
    let rules = &ck.settings.handles;
    for deco in c.caching() {
        match deco.key(ck) {
            KeyArg::Template(key) => {
                let Ok(placeholders) = crate::cashews::parse_template(&key.value) else {
                    continue;
                };
                for p in placeholders {
                    let hidden = p.format.as_deref().is_some_and(|f| {
                        f.starts_with("hash") || f.starts_with("jwt") || f == "len"
                    });
                    let param = c.f.params.iter().find(|q| q.name == p.root);
                    let secret = p
                        .field
                        .split(['.', '[', ']'])
                        .any(|part| !part.is_empty() && rules.is_secret(part))
                        || (p.field == p.root && carries_secret(&p.root, param));
                    if hidden || !secret || p.root == "@" {
                        continue;
                    }
                    let fix = match (key.verbatim_at.filter(|_| key.editable), &p.format) {
                        (Some(at), None) => Some(vec![Edit::insert(at + p.span.end - 1, ":hash")]),
                        _ => None,
                    };
                    let message = format!(
                        "key holds secret-like `{{{}}}` in clear: write `{{{}:hash}}`",
                        p.field, p.field
                    );
                    ck.report(Rule::CA104, key.node, &c.noqa, message, fix);
                }
            }
            KeyArg::Default => {
                let body = ck.module.src.text_of(c.f.site.node);
                let secrets: Vec<String> =
                    c.f.params
                        .iter()
                        .filter(|p| rules.resource_reason(p).is_none())
                        .filter_map(|p| match p.kind {
                            // Only with evidence: most `**kwargs` carry options.
                            ParamKind::Kwargs => secret_keyword_read(body, &p.name, rules)
                                .map(|k| format!("`**{}` (it reads `{k}` from it)", p.name)),
                            ParamKind::Plain
                                if rules.is_secret(&p.name) || carries_secret(&p.name, Some(p)) =>
                            {
                                Some(format!("`{}`", p.name))
                            }
                            _ => None,
                        })
                        .collect();
                if secrets.is_empty() {
                    continue;
                }
                let message = format!(
                    "the default key holds secret-like {} in clear: give an explicit key with `{{name:hash}}`",
                    secrets.join(", ")
                );
                ck.report(Rule::CA104, deco.node, &c.noqa, message, None);
            }
            KeyArg::Unknown => {}
        }
    }
}

/// A secret-named keyword the function reads from its `**kwargs`:
/// `kwargs["token"]`, `kwargs.get("password")`, `"api_key" in kwargs`.
fn secret_keyword_read(
    body: &str,
    kwargs: &str,
    rules: &crate::key::HandleRules,
) -> Option<String> {
    let name = regex::escape(kwargs);
    let read = regex::Regex::new(&format!(
        r#"\b{name}\s*(?:\[\s*|\.(?:get|pop|setdefault)\(\s*)['"]([A-Za-z_]\w*)['"]|['"]([A-Za-z_]\w*)['"]\s+in\s+{name}\b"#
    ))
    .ok()?;
    read.captures_iter(body)
        .filter_map(|c| c.get(1).or_else(|| c.get(2)))
        .map(|m| m.as_str())
        .find(|k| rules.is_secret(k))
        .map(str::to_string)
}

/// A value keyed whole that may hold a secret: headers or cookies (one may
/// be `Authorization`), `**kwargs` (`api_key=`), a credentials type.
fn carries_secret(name: &str, param: Option<&Param>) -> bool {
    name == "__kwargs__"
        || secrets::is_carrier_name(name)
        || param
            .and_then(|p| p.annotation.as_deref())
            .is_some_and(|a| secrets::secret_type(a).is_some())
}
