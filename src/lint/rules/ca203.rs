//! CA203: a generator under a coroutine decorator, or the reverse.

use crate::lint::rules::{Cached, Checker, Rule};

declare_rule! {
    /// ## What it does
    /// Finds an async generator (an `async def` that `yield`s) under a
    /// result-caching decorator other than `cache.iterator`, and
    /// `cache.iterator` on a coroutine (an `async def` that only `return`s).
    ///
    /// ## Why is this bad?
    /// `@cache` awaits the function and stores what it returns; an async
    /// generator cannot be awaited, so every call fails with `TypeError`.
    /// `@cache.iterator` iterates the function with `async for`, which a
    /// coroutine does not support.
    ///
    /// ## Example
    /// ```python
    /// @cache(ttl="1h", key="rows:{table}")
    /// async def rows(table: str):
    ///     for row in await fetch(table):
    ///         yield row
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// @cache.iterator(ttl="1h", key="rows:{table}")
    /// async def rows(table: str):
    ///     for row in await fetch(table):
    ///         yield row
    /// ```
    ///
    /// ## Fix
    /// Use `@cache.iterator(...)` for an async generator and `@cache(...)`
    /// for a coroutine. No automatic fix: the decorator's other arguments
    /// differ.
    pub(crate) const DOC;
}

pub(crate) fn check(ck: &mut Checker, c: &Cached) {
    if !c.f.is_async {
        return; // CA201
    }
    let src = ck.src();
    let mut found = Vec::new();
    for deco in c.caching() {
        let iterator = deco.spec.method == "iterator";
        if c.f.is_generator && !iterator {
            found.push((
                deco.node,
                format!(
                    "{} on an async generator: cashews awaits it and fails with TypeError; use @cache.iterator",
                    deco.label(src)
                ),
            ));
        } else if !c.f.is_generator && iterator {
            found.push((
                deco.node,
                format!(
                    "{} on a coroutine: it only caches async generators; use @cache",
                    deco.label(src)
                ),
            ));
        }
    }
    for (node, message) in found {
        ck.report(Rule::CA203, node, &c.noqa, message, None);
    }
}
