//! CA202: a cached function with side effects.

use crate::lint::rules::{Cached, Checker, Rule};
use crate::purity::{Verdict, analyse};

declare_rule! {
    /// ## What it does
    /// Finds a result-caching decorator (`cache`, `early`, `soft`,
    /// `failover`, `hit`, `dynamic`, `iterator`) on a function with a side
    /// effect that blocks caching: a database write, an HTTP POST, an email,
    /// a file write, a subprocess, a fresh UUID or random value, a mutation
    /// of an argument, of `self` or of module state. The analysis is the one
    /// `cashews-add` runs before it caches a function (the same side-effect
    /// catalogue, `extra-side-effects` included), following calls into
    /// helpers of the same module one level deep.
    ///
    /// Only real writes count: a POST that sends a query (its URL, the
    /// client it goes through, or a `json={"query": ...}` body names
    /// graphql, gql, search or query) is a read, and changing `*args` or
    /// `**kwargs` changes nothing the caller sees (they are made fresh for
    /// each call).
    ///
    /// ## Why is this bad?
    /// On a cache hit the body does not run, so the effect silently happens
    /// once per TTL instead of once per call: the order is not saved, the
    /// email is not sent, the counter stops counting.
    ///
    /// ## Example
    /// ```python
    /// @cache(ttl="1h", key="visit:{page}")
    /// async def visit(session: AsyncSession, page: str) -> int:
    ///     session.add(Visit(page=page))
    ///     await session.commit()
    ///     return await count_visits(session, page)
    /// ```
    ///
    /// Use instead: cache the read only.
    /// ```python
    /// @cache(ttl="1h", key="visits:{page}")
    /// async def count_visits(session: AsyncSession, page: str) -> int: ...
    /// ```
    ///
    /// ## Fix
    /// Split the write from the read and cache the read, or drop the cache.
    /// If the effect is harmless (a log line the catalogue misjudges), add
    /// `# noqa: CA202`. No automatic fix.
    pub(crate) const DOC;
}

pub(crate) fn check<'t>(ck: &mut Checker<'_, 't>, c: &Cached<'t>) {
    if !ck.enabled(Rule::CA202) {
        return; // the purity analysis is the costliest check
    }
    let Some(deco) = c.caching().next() else {
        return;
    };
    let purity = analyse(ck.index, ck.module, &c.f, &ck.settings.patterns);
    if purity.verdict != Verdict::Impure {
        return;
    }
    let Some(effect) = purity.effects.iter().find(|e| e.severity == "block") else {
        return;
    };
    let message = format!(
        "cached function has side effects: {} at line {}: `{}`{} ({}); a cache hit skips them",
        effect.category,
        effect.line,
        effect.code,
        effect.chain(),
        effect.note
    );
    ck.report(Rule::CA202, deco.node, &c.noqa, message, None);
}
