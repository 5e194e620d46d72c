//! CA302: early_ttl / soft_ttl not below ttl.

use crate::lint::literal::show_seconds;
use crate::lint::rules::{Cached, Checker, Rule, ttl_of};

declare_rule! {
    /// ## What it does
    /// Finds `@cache.early(...)` with `early_ttl` at or above `ttl`, and
    /// `@cache.soft(...)` with `soft_ttl` at or above `ttl`, when both are
    /// literals (numbers, TTL strings, `timedelta(...)`).
    ///
    /// ## Why is this bad?
    /// cashews accepts it silently, and the strategy never happens: with
    /// `early`, the entry expires before it is due for its background
    /// refresh, so callers wait for a recompute as with plain `@cache`; with
    /// `soft`, the entry expires before it turns soft, so there is never a
    /// stale value to serve when the function fails.
    ///
    /// ## Example
    /// ```python
    /// @cache.early(ttl="10m", early_ttl="1h", key="stats")
    /// async def stats(): ...
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// @cache.early(ttl="1h", early_ttl="50m", key="stats")
    /// async def stats(): ...
    /// ```
    ///
    /// ## Fix
    /// Make the second TTL shorter than `ttl` (`cashews-add` uses five sixths
    /// of it for `early_ttl` and half for `soft_ttl`), or swap them if they
    /// were written the wrong way round. No automatic fix.
    pub(crate) const DOC;
}

pub(crate) fn check<'t>(ck: &mut Checker<'_, 't>, c: &Cached<'t>) {
    let src = ck.src();
    let mut found = Vec::new();
    for deco in &c.decos {
        let Some((name, pos)) = deco.spec.second_ttl else {
            continue;
        };
        let (Some(ttl_node), Some(second_node)) = (
            deco.arg(src, "ttl", deco.spec.ttl),
            deco.arg(src, name, Some(pos)),
        ) else {
            continue;
        };
        let (Some(t), Some(s)) = (
            ttl_of(ck, ttl_node).seconds(),
            ttl_of(ck, second_node).seconds(),
        ) else {
            continue;
        };
        if s < t {
            continue;
        }
        let consequence = if name == "early_ttl" {
            "the entry expires before its early refresh, so callers wait for a recompute"
        } else {
            "the entry expires before it turns soft, so no stale value is ever served"
        };
        found.push((
            second_node,
            format!(
                "{name} {} is not below ttl {}: {consequence}",
                show_seconds(s),
                show_seconds(t)
            ),
        ));
    }
    for (node, message) in found {
        ck.report(Rule::CA302, node, &c.noqa, message, None);
    }
}
