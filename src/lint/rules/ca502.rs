//! CA502: a cached read whose project writers never invalidate it.

use crate::invalidate::Writer;
use crate::lint::rules::{Cached, Checker, Rule};
use crate::project::Index;

declare_rule! {
    /// ## What it does
    /// Finds a cashews-cached read whose data a function of the project
    /// writes without invalidating anything: the same ORM model or SQL
    /// table is read by the cached function and written by the writer (the
    /// rewrite's invalidation analysis, `invalidation.writers`), and
    /// neither the writer nor a function on its way to the write deletes a
    /// cache entry (`delete_tags`, `delete`, `delete_match`, `invalidate`,
    /// `@cache.invalidate`), nor does every project function calling it (a
    /// repository method whose route invalidates is fine). Only writers whose write is a write statement
    /// (an ORM or SQL write, not a write-named call of unknown type) on a
    /// model or a table the read names are reported (not a class alone),
    /// and a read in a test file is skipped.
    ///
    /// ## Why is this bad?
    /// After the write commits, every reader is served the cached value
    /// until the TTL ends: a renamed product, a changed tier or a removed
    /// member stays visible for up to an hour.
    ///
    /// ## Example
    /// ```python
    /// @cache(ttl="1h", key="product:{product_id}")
    /// async def get_product(session, product_id: int):
    ///     return await session.get(Product, product_id)
    ///
    /// async def rename_product(session, product_id: int, name: str):
    ///     await session.execute(update(Product).where(Product.id == product_id).values(name=name))
    ///     await session.commit()
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// async def rename_product(session, product_id: int, name: str):
    ///     await session.execute(update(Product).where(Product.id == product_id).values(name=name))
    ///     await session.commit()
    ///     await cache.delete(f"product:{product_id}")
    /// ```
    ///
    /// ## Fix
    /// None automatic: where the delete goes and which key or tag it names
    /// needs the writer's values. A short TTL is the other answer; silence
    /// the finding (`# noqa: CA502`) when the staleness is acceptable.
    pub(crate) const DOC;
}

/// Calls and decorators that drop cache entries.
const INVALIDATIONS: &[&str] = &[
    "delete_tags",
    "delete_match",
    "invalidate",
    ".delete(",
    "clear(",
];

/// Most writers named in one message.
const SHOWN: usize = 3;

pub(crate) fn check<'t>(ck: &mut Checker<'_, 't>, c: &Cached<'t>) {
    if !ck.enabled(Rule::CA502) || c.caching().next().is_none() || in_test_file(ck) {
        return;
    }
    let purity = crate::purity::analyse(ck.index, ck.module, &c.f, &ck.settings.patterns);
    let found =
        crate::invalidate::analyse(ck.index, ck.module, &c.f, &purity, &ck.settings.patterns);
    let silent: Vec<&Writer> = found
        .writers
        .iter()
        // High precision: a write statement (not a write-named call of
        // unknown type) on a model or table (not a shared class alone).
        .filter(|w| w.category == "db_write" && !w.resource.starts_with("class "))
        .filter(|w| !covered(ck.index, &found.writers, w, 0))
        .collect();
    let Some(first) = silent.first() else {
        return;
    };
    let shown: Vec<String> = silent
        .iter()
        .take(SHOWN)
        .map(|w| format!("`{}` (line {})", w.target, w.line))
        .collect();
    let more = silent.len().saturating_sub(SHOWN);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    let s = if silent.len() == 1 { "s" } else { "" };
    let message = format!(
        "{}{more} write{s} {} that `{}` reads and invalidate{s} nothing: readers get the cached value until the TTL ends; delete its entry after the write",
        shown.join(", "),
        first.resource,
        c.f.name
    );
    let node = c.decos.first().map_or(c.f.site.node, |d| d.node);
    ck.report(Rule::CA502, node, &c.noqa, message, None);
}

fn in_test_file(ck: &Checker) -> bool {
    let path = &ck.module.src.path;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    crate::project::is_test_file_name(name)
}

/// Whether the writer invalidates, or every project writer that calls it
/// (one whose chain to the write goes through it) is covered: a
/// repository's write invalidated by the route above it
/// (`@cache.invalidate(...)` on `leave_chat`, which calls
/// `ChatRepository.remove_member`) is not a silent writer.
fn covered(index: &Index, all: &[Writer], w: &Writer, depth: usize) -> bool {
    if invalidates(index, w) {
        return true;
    }
    let callers: Vec<&Writer> = all
        .iter()
        .filter(|c| c.through.contains(&w.target))
        .collect();
    depth < 4 && !callers.is_empty() && callers.iter().all(|c| covered(index, all, c, depth + 1))
}

/// Whether the writer, or a function on its way to the write, drops cache
/// entries of any kind (a person then decided how it invalidates).
fn invalidates(index: &Index, w: &Writer) -> bool {
    std::iter::once(&w.target)
        .chain(&w.through)
        .any(|target| function_text(index, target).is_some_and(|t| drops_entries(&t)))
}

fn drops_entries(text: &str) -> bool {
    INVALIDATIONS.iter().any(|n| text.contains(n))
}

/// The source of the function a `path::qualname` target names (with its
/// decorators, where `@cache.invalidate` sits).
fn function_text(index: &Index, target: &str) -> Option<String> {
    let (path, qualname) = target.rsplit_once("::")?;
    let module = index.module(std::path::Path::new(path))?;
    let site = module.function(qualname)?;
    let node = site
        .node
        .parent()
        .filter(|p| p.kind() == "decorated_definition")
        .unwrap_or(site.node);
    Some(module.src.text_of(node).to_string())
}
