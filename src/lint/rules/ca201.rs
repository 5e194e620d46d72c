//! CA201: a cashews decorator on a sync function.

use crate::lint::rules::{Cached, Checker, Rule};

declare_rule! {
    /// ## What it does
    /// Finds a cashews decorator on a plain `def`.
    ///
    /// ## Why is this bad?
    /// cashews decorators are coroutines: the wrapper awaits the function it
    /// wraps. Decorating a sync `def` is accepted at import, but calling it
    /// returns a coroutine where the caller expects a value, and awaiting it
    /// raises `TypeError: object int can't be used in 'await' expression`.
    ///
    /// ## Example
    /// ```python
    /// @cache(ttl="1h", key="rate:{currency}")
    /// def exchange_rate(currency: str) -> float: ...
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// @cache(ttl="1h", key="rate:{currency}")
    /// async def exchange_rate(currency: str) -> float: ...
    /// ```
    ///
    /// ## Fix
    /// Make the function `async def` (run blocking work with
    /// `asyncio.to_thread`), or use a sync cache such as
    /// `functools.lru_cache`. No automatic fix: every caller changes too.
    pub(crate) const DOC;
}

pub(crate) fn check(ck: &mut Checker, c: &Cached) {
    if c.f.is_async {
        return;
    }
    let Some(deco) = c.decos.first() else {
        return;
    };
    let message = format!(
        "{} on a sync def: cashews awaits the function, so calls fail with TypeError; make `{}` async def",
        deco.label(ck.src()),
        c.f.name
    );
    ck.report(Rule::CA201, deco.node, &c.noqa, message, None);
}
