//! CA101: an explicit key that leaves out an input.

use crate::edit::Edit;
use crate::function::ParamKind;
use crate::key::{body_reads, missing_inputs, placeholder};
use crate::lint::rules::ca102::unknown_placeholders;
use crate::lint::rules::{Cached, Checker, KeyArg, Rule};

declare_rule! {
    /// ## What it does
    /// Finds a cashews decorator whose explicit `key` template leaves out a
    /// parameter that the function reads.
    ///
    /// ## Why is this bad?
    /// The key is the only thing cashews looks at to decide whether a call
    /// was seen before. Calls that differ only in a parameter the key does
    /// not hold get one shared value: with `key="f:{a}"`, `f(1, 2)` caches
    /// its result and `f(1, 100)` returns it. Nothing fails; the answers are
    /// just wrong.
    ///
    /// An input used only through an attribute or an index (`{user.id}`,
    /// `{filters[page]}`) counts as present, and so does a surrogate: another
    /// parameter named after it that says which one it is (`{grid_version}`
    /// for `grid`, `{stats_key}` for `stats`, `{user_id}` for `user`).
    /// Handles are never inputs: a database session, an HTTP client, a
    /// logger, `Request`, a `Depends(...)` resource, an `Annotated[...,
    /// Depends(...)]` alias of one (decided by the function `cashews-add`
    /// uses when it designs a key). A parameter the body never reads, or
    /// whose name starts with `_` (unused by convention), cannot change the
    /// result and is not reported.
    ///
    /// ## Example
    /// ```python
    /// @cache(ttl="1h", key="products:{category}")
    /// async def list_products(category: str, page: int):
    ///     ...
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// @cache(ttl="1h", key="products:{category}:{page}")
    /// async def list_products(category: str, page: int):
    ///     ...
    /// ```
    ///
    /// ## Fix
    /// Unsafe (applied with `--fix --unsafe-fixes`): it changes the cache key.
    /// `--fix --unsafe-fixes` appends the missing placeholders to the key (`:{page}`;
    /// `{name:hash}` for a secret-like name, `{__args__}` / `{__kwargs__:hash}` (keyword arguments may carry a secret) for
    /// `*args` / `**kwargs`). Keys change, so the first calls after the fix
    /// miss the cache. A key with a placeholder that names no parameter
    /// (CA102) is reported without a fix: the missing input may be that
    /// placeholder misspelt.
    ///
    /// Keys that are not inline literals are read too: a module constant
    /// (`key=USER_KEY`, imported from another module or not), an implicit
    /// concatenation (`key=("a:{x}" ":{y}")`, comments between the parts),
    /// an f-string (`f"{VERSION}:{{user_id}}"`: the interpolation is fixed at
    /// import, the doubled braces are the placeholders). Those are reported
    /// without a fix. A key computed by a call is not checked; `prefix=` does
    /// not change what the key must hold.
    pub(crate) const DOC;
}

/// A placeholder that stands for `input`: another parameter named after it
/// (`{grid_version}` for `grid`, `{user_id}` for `user`), which the caller
/// passes to say which `input` it is.
fn surrogate<'p>(input: &str, placeholders: &'p [crate::cashews::Placeholder]) -> Option<&'p str> {
    let prefix = format!("{input}_");
    placeholders
        .iter()
        .find(|p| p.root.starts_with(&prefix) && p.root.len() > prefix.len())
        .map(|p| p.root.as_str())
}

pub(crate) fn check<'t>(ck: &mut Checker<'_, 't>, c: &Cached<'t>) {
    let src = ck.src();
    for deco in c.caching() {
        let KeyArg::Template(key) = deco.key(ck) else {
            continue;
        };
        let Ok(placeholders) = crate::cashews::parse_template(&key.value) else {
            continue; // CA102 reports a template that does not parse
        };
        let missing: Vec<String> = missing_inputs(&c.f, &c.key, &key.value)
            .into_iter()
            .filter(|input| !input.contains('.') && body_reads(src, &c.f, input))
            .filter(|input| !input.starts_with('_'))
            .filter(|input| surrogate(input, &placeholders).is_none())
            .collect();
        if missing.is_empty() {
            continue;
        }
        let mut addition = String::new();
        let mut value = key.value.clone();
        for input in &missing {
            let field = match c.f.param(input).map(|p| p.kind) {
                Some(ParamKind::Args) => "{__args__}".to_string(),
                Some(ParamKind::Kwargs) => "{__kwargs__:hash}".to_string(),
                _ => placeholder(input, ck.settings.handles.is_secret(input)),
            };
            let sep = if value.is_empty() || value.ends_with(':') {
                ""
            } else {
                ":"
            };
            addition.push_str(sep);
            addition.push_str(&field);
            value.push_str(sep);
            value.push_str(&field);
        }
        let names = missing
            .iter()
            .map(|m| format!("`{m}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let them = if missing.len() == 1 {
            names.clone()
        } else {
            "them".to_string()
        };
        let message = format!(
            "key {:?} leaves out {names}: calls that differ only in {them} share one cached value",
            key.value
        );
        // A placeholder naming no parameter (CA102) may be the missing input
        // misspelt: that key needs a person, not an addition.
        let fix = (key.editable && unknown_placeholders(ck, &c.f, &placeholders).is_empty())
            .then(|| vec![Edit::insert(key.append_at, addition)]);
        ck.report(Rule::CA101, key.node, &c.noqa, message, fix);
    }
}
