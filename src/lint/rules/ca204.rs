//! CA204: a cache decorator above a route decorator.

use crate::edit::Edit;
use crate::imports::line_end;
use crate::lint::rules::{Cached, Checker, Rule};

declare_rule! {
    /// ## What it does
    /// Finds a cashews decorator listed above a route decorator such as
    /// `@app.get(...)`, `@router.post(...)`, `@app.route(...)` or
    /// `@routes.get(...)`.
    ///
    /// ## Why is this bad?
    /// Decorators apply bottom-up. The route decorator runs first and
    /// registers the function it receives, the uncached one; the cache
    /// decorator then wraps a function no request ever calls. The endpoint
    /// is served uncached and nothing says so. The same holds for every
    /// cashews decorator: `@cache.rate_limit` or `@cache.locked` above the
    /// route limits or locks nothing. Cashews decorators stacked below the
    /// route (`@cache` over `@cache.locked`) are fine, and so is a
    /// `@classmethod` or `@staticmethod` above them.
    ///
    /// ## Example
    /// ```python
    /// @cache(ttl="1h", key="product:{product_id}")
    /// @router.get("/products/{product_id}")
    /// async def get_product(product_id: int): ...
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// @router.get("/products/{product_id}")
    /// @cache(ttl="1h", key="product:{product_id}")
    /// async def get_product(product_id: int): ...
    /// ```
    ///
    /// ## Fix
    /// Safe (applied by `--fix`): the key stays the same.
    /// `--fix` moves the cashews decorators that sit above the route
    /// decorator to just below it, in their order. It leaves the code alone
    /// when a decorator shares its line with other code.
    pub(crate) const DOC;
}

const ROUTE_VERBS: &[&str] = &[
    "get",
    "post",
    "put",
    "patch",
    "delete",
    "head",
    "options",
    "trace",
    "route",
    "api_route",
    "websocket",
    "websocket_route",
];

pub(crate) fn check(ck: &mut Checker, c: &Cached) {
    let src = ck.src();
    let cashews: Vec<usize> = c.decos.iter().map(|d| d.index).collect();
    let Some((route_index, route)) = c.f.decorators.iter().enumerate().rev().find(|(i, d)| {
        !cashews.contains(i)
            && d.expr.kind() == "call"
            && d.dotted.as_deref().is_some_and(|name| {
                name.rsplit_once('.')
                    .is_some_and(|(_, verb)| ROUTE_VERBS.contains(&verb))
            })
    }) else {
        return;
    };
    let above: Vec<&crate::lint::rules::Deco> =
        c.decos.iter().filter(|d| d.index < route_index).collect();
    let Some(first) = above.first() else {
        return;
    };
    let text = &src.text;
    let whole_line = |start: usize, end: usize| -> Option<(usize, usize)> {
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_stop = line_end(text, end);
        let before_ok = text[line_start..start].trim().is_empty();
        let rest = text[end..line_stop].trim();
        (before_ok
            && (rest.is_empty() || rest.starts_with('#'))
            && text[..line_stop].ends_with('\n'))
        .then_some((line_start, line_stop))
    };
    let mut edits = Vec::new();
    let mut moved = String::new();
    for d in &above {
        match whole_line(d.node.start_byte(), d.node.end_byte()) {
            Some((a, b)) => {
                moved.push_str(&text[a..b]);
                edits.push(Edit::replace(a, b, ""));
            }
            None => {
                edits.clear();
                break;
            }
        }
    }
    let fix = match (
        edits.is_empty(),
        whole_line(route.node.start_byte(), route.node.end_byte()),
    ) {
        (false, Some((_, after_route))) => {
            edits.push(Edit::insert(after_route, moved));
            Some(edits)
        }
        _ => None,
    };
    let route_label = src
        .text_of(
            route
                .expr
                .child_by_field_name("function")
                .unwrap_or(route.expr),
        )
        .split_whitespace()
        .collect::<String>();
    let what = if first.spec.caches_result {
        "the uncached function"
    } else {
        "the function without it (no limit, no lock)"
    };
    let message = format!(
        "{} is above @{route_label}: decorators apply bottom-up, so the route registers {what}; move it below",
        first.label(src)
    );
    ck.report(Rule::CA204, first.node, &c.noqa, message, fix);
}
