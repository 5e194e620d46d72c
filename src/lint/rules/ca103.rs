//! CA103: a key that embeds an object's repr.

use crate::function::{FnKind, ParamKind};
use crate::lint::rules::{Cached, Checker, KeyArg, Rule};

declare_rule! {
    /// ## What it does
    /// Finds keys that hold an object whose `str()` is its address:
    /// - the default key (no `key=`) on a method whose class has no
    ///   `__str__` (nor `__repr__`) along its whole MRO, base classes in
    ///   other modules of the project included: cashews' default key holds
    ///   `self`;
    /// - a handle in the key: a database session, a connection, an HTTP
    ///   client, `Request`, a logger, a dependency-injected resource
    ///   (`db: AsyncSession = Depends(get_session)`, or an alias such as
    ///   `SessionDep = Annotated[AsyncSession, Depends(get_session)]`),
    ///   written `{session}` in an explicit key or held by the default key;
    /// - an object of a project class with no `__str__` written whole in an
    ///   explicit key (`{project}` for `project: Project`) or held by the
    ///   default key.
    ///
    /// What is a handle is decided by the same function `cashews-add` uses
    /// when it designs a key, so the two never disagree.
    ///
    /// ## Why is this bad?
    /// `str()` of such an object is `<AsyncSession object at 0x7f…>`: a new
    /// address per instance or per request, so each call writes a new entry
    /// and the cache never hits, while memory or Redis fills up. Classes
    /// from outside the project (a pydantic model, a dataclass, an enum)
    /// usually define a readable `__str__`/`__repr__` and are not reported.
    ///
    /// ## Example
    /// ```python
    /// class Catalog:
    ///     @cache(ttl="1h")
    ///     async def product(self, product_id: int): ...
    ///
    /// @cache(ttl="1h", key="user:{session}:{user_id}")
    /// async def get_user(session: AsyncSession, user_id: int): ...
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// class Catalog:
    ///     @cache(ttl="1h", key="catalog:product:{product_id}")
    ///     async def product(self, product_id: int): ...
    ///
    /// @cache(ttl="1h", key="user:{user_id}")
    /// async def get_user(session: AsyncSession, user_id: int): ...
    /// ```
    ///
    /// ## Fix
    /// Give an explicit key holding the values, not the objects (or wrap the
    /// decorator in `noself(...)` for `self`). No automatic fix: the right
    /// key needs a person.
    pub(crate) const DOC;
}

pub(crate) fn check<'t>(ck: &mut Checker<'_, 't>, c: &Cached<'t>) {
    if !ck.enabled(Rule::CA103) {
        return; // base classes may be looked up across the project
    }
    for deco in c.caching() {
        match deco.key(ck) {
            KeyArg::Template(key) => {
                let Ok(placeholders) = crate::cashews::parse_template(&key.value) else {
                    continue;
                };
                for p in placeholders.iter().filter(|p| p.field == p.root) {
                    let Some(param) = c.f.param(&p.root) else {
                        continue;
                    };
                    let why = if param.kind == ParamKind::Receiver {
                        if c.f.kind != FnKind::Method || self_is_readable(ck, c) != Some(false) {
                            continue;
                        }
                        format!("`{}` has no __str__", class_name(ck, c))
                    } else if let Some(reason) = address(c, &param.name) {
                        reason.to_string()
                    } else {
                        continue;
                    };
                    let message = format!(
                        "key holds `{{{}}}` ({why}): its str() is an object address, so the cache never hits; key on values instead",
                        p.field
                    );
                    ck.report(Rule::CA103, key.node, &c.noqa, message, None);
                }
            }
            KeyArg::Default => {
                let mut held = Vec::new();
                if c.f.kind == FnKind::Method
                    && !deco.cashews.noself
                    && let Some(receiver) = c.f.receiver()
                    && self_is_readable(ck, c) == Some(false)
                {
                    held.push(format!(
                        "`{}` (`{}` has no __str__)",
                        receiver.name,
                        class_name(ck, c)
                    ));
                }
                for p in c.f.params.iter().filter(|p| p.kind == ParamKind::Plain) {
                    if let Some(reason) = address(c, &p.name) {
                        held.push(format!("`{}` ({reason})", p.name));
                    }
                }
                if held.is_empty() {
                    continue;
                }
                let message = format!(
                    "the default key holds {}: its str() is an object address, so the cache never hits; give an explicit key=",
                    held.join(", ")
                );
                ck.report(Rule::CA103, deco.node, &c.noqa, message, None);
            }
            KeyArg::Unknown => {}
        }
    }
}

/// Why the parameter's `str()` is an object address, as the key designer
/// decided it (`key::param_key`: handles, carriers, objects without `__str__`).
fn address<'c>(c: &'c Cached, name: &str) -> Option<&'c str> {
    c.key
        .addresses
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.reason.as_str())
}

fn class_name(ck: &Checker, c: &Cached) -> String {
    c.f.site
        .class
        .and_then(|n| n.child_by_field_name("name"))
        .map(|n| ck.src().text_of(n).to_string())
        .unwrap_or_default()
}

fn self_is_readable(ck: &Checker, c: &Cached) -> Option<bool> {
    let class = crate::purity::class_of(ck.module, &c.f)?;
    ck.index.has_str(&class)
}
