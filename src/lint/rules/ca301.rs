//! CA301: a TTL that is missing or malformed.

use crate::lint::literal::Ttl;
use crate::lint::rules::{Cached, Checker, Rule, ttl_of};

declare_rule! {
    /// ## What it does
    /// Finds a cashews decorator without the TTL it requires (`cache`,
    /// `early`, `soft`, `failover`, `hit`, `iterator`, `circuit_breaker`;
    /// a bare `@cache` without parentheses too), and TTL strings cashews
    /// rejects or misreads in `ttl`, `early_ttl`, `soft_ttl`, `period`,
    /// `half_open_ttl` or `time_condition`. The grammar is cashews':
    /// integers of seconds or numbers with units `d`, `h`, `m`, `s`
    /// (`"30s"`, `"2h5m30s"`); integers and `timedelta(...)` are fine.
    ///
    /// ## Why is this bad?
    /// A missing TTL is a `TypeError` at import (a bare `@cache` replaces the
    /// function with a decorator). `"5x"` and `"1.5h"` raise `ValueError`
    /// when the decorator is applied. Worse, some strings are accepted and
    /// misread: `"5m30"` is 5 minutes to cashews (a trailing number without
    /// a unit is dropped), and `"0s"` caches nothing useful.
    ///
    /// ## Example
    /// ```python
    /// @cache(ttl="5m30", key="q:{q}")
    /// async def search(q: str): ...
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// @cache(ttl="5m30s", key="q:{q}")
    /// async def search(q: str): ...
    /// ```
    ///
    /// ## Fix
    /// Write the TTL with a unit on every number. No automatic fix: whether
    /// `"5m30"` meant 5m30s or 30m is the author's call.
    pub(crate) const DOC;
}

const TTL_ARGS: &[&str] = &[
    "ttl",
    "early_ttl",
    "soft_ttl",
    "period",
    "half_open_ttl",
    "time_condition",
];

pub(crate) fn check<'t>(ck: &mut Checker<'_, 't>, c: &Cached<'t>) {
    let src = ck.src();
    for deco in &c.decos {
        let spec = deco.spec;
        if deco.cashews.call.is_none() {
            if spec.ttl_required {
                let message = format!(
                    "{} without arguments: it needs a TTL, e.g. {}(ttl=\"1h\"); as written it replaces `{}` with a decorator",
                    deco.label(src),
                    deco.label(src),
                    c.f.name
                );
                ck.report(Rule::CA301, deco.node, &c.noqa, message, None);
            }
            continue;
        }
        let ttl_node = deco.arg(src, "ttl", spec.ttl);
        if ttl_node.is_none() && spec.ttl_required && !deco.has_star_args() {
            let message = format!(
                "{} without ttl: cashews raises TypeError at import; add ttl=\"1h\" (or what fits)",
                deco.label(src)
            );
            ck.report(Rule::CA301, deco.node, &c.noqa, message, None);
        }
        let mut nodes: Vec<(&str, tree_sitter::Node)> =
            ttl_node.map(|n| ("ttl", n)).into_iter().collect();
        if let Some((name, pos)) = spec.second_ttl
            && let Some(n) = deco.arg(src, name, Some(pos))
        {
            nodes.push((name, n));
        }
        for name in TTL_ARGS.iter().filter(|n| **n != "ttl") {
            if let Some(n) = deco.cashews.keyword(src, name)
                && !nodes.iter().any(|(_, m)| m.id() == n.id())
            {
                nodes.push((name, n));
            }
        }
        for (name, node) in nodes {
            if let Ttl::Malformed(reason) = ttl_of(ck, node) {
                let message = if name == "ttl" {
                    reason
                } else {
                    format!("{name}: {reason}")
                };
                ck.report(Rule::CA301, node, &c.noqa, message, None);
            }
        }
    }
}
