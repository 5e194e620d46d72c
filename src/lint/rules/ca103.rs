//! CA103: a key that embeds an object's repr.

use tree_sitter::Node;

use crate::function::{FnKind, ParamKind, dotted_name};
use crate::lint::project::Project;
use crate::lint::rules::{Cached, Checker, KeyArg, Rule};
use crate::module::Module;

declare_rule! {
    /// ## What it does
    /// Finds keys that hold an object whose `str()` is its address:
    /// - the default key (no `key=`) on a method whose class, and every base
    ///   class defined in the project, has no `__str__` (nor `__repr__`):
    ///   cashews' default key holds `self`;
    /// - a handle in the key: a database session, a connection, an HTTP
    ///   client, `Request`, a logger (by annotation or by name, the same
    ///   handles `cashews-add` leaves out of the keys it designs), written
    ///   `{session}` in an explicit key or held by the default key.
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

pub(crate) fn check(ck: &mut Checker, c: &Cached) {
    if !ck.enabled(Rule::CA103) {
        return; // base classes may be looked up across the project
    }
    let src = ck.src();
    for deco in c.caching() {
        match deco.key(src) {
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
                    } else if let Some(reason) = ck.settings.handles.resource_reason(param) {
                        reason
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
                    if let Some(reason) = ck.settings.handles.resource_reason(p) {
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

fn class_name(ck: &Checker, c: &Cached) -> String {
    c.f.site
        .class
        .and_then(|n| n.child_by_field_name("name"))
        .map(|n| ck.src().text_of(n).to_string())
        .unwrap_or_default()
}

fn self_is_readable(ck: &Checker, c: &Cached) -> Option<bool> {
    let class = c.f.site.class?;
    class_has_str(ck.project, ck.module, class, 0)
}

/// Bases that define neither `__str__` nor `__repr__`.
const PLAIN_BASES: &[&str] = &[
    "object",
    "abc.ABC",
    "typing.Generic",
    "typing.Protocol",
    "typing_extensions.Protocol",
];

/// Whether a class (or a base) defines `__str__` or `__repr__`: Some(true)
/// yes, Some(false) provably not, None when it cannot be known (a base from
/// outside the project, a class decorator, a metaclass).
pub(crate) fn class_has_str(
    project: &Project,
    module: &Module,
    class: Node,
    depth: usize,
) -> Option<bool> {
    if depth > 8 {
        return None;
    }
    let src = module.src;
    if class
        .parent()
        .is_some_and(|p| p.kind() == "decorated_definition")
    {
        return None; // @dataclass, @attr.s, … write a __repr__
    }
    if defines_str(src, class) {
        return Some(true);
    }
    let Some(bases) = class.child_by_field_name("superclasses") else {
        return Some(false);
    };
    let mut cursor = bases.walk();
    for base in bases.named_children(&mut cursor) {
        let base = match base.kind() {
            "comment" => continue,
            "subscript" => base.child_by_field_name("value")?,
            "identifier" | "attribute" => base,
            _ => return None, // metaclass=..., *bases
        };
        let name = dotted_name(src, base)?;
        let resolved = module.imports.resolve(&name);
        if PLAIN_BASES.contains(&resolved.as_str()) {
            continue;
        }
        let verdict = match module_class(module, &name) {
            Some(node) => class_has_str(project, module, node, depth + 1),
            None if module
                .imports
                .is_bound(name.split('.').next().unwrap_or(&name))
                || !name.contains('.') =>
            {
                let simple = resolved.rsplit('.').next().unwrap_or(&resolved);
                project.class_has_str(&src.path, simple, depth + 1)
            }
            None => None,
        };
        match verdict {
            Some(false) => {}
            other => return other,
        }
    }
    Some(false)
}

fn defines_str(src: &crate::source::SourceFile, class: Node) -> bool {
    let Some(body) = class.child_by_field_name("body") else {
        return false;
    };
    let mut cursor = body.walk();
    body.named_children(&mut cursor).any(|stmt| {
        let def = match stmt.kind() {
            "decorated_definition" => stmt.child_by_field_name("definition"),
            "function_definition" => Some(stmt),
            "expression_statement" => {
                return stmt
                    .named_child(0)
                    .filter(|a| a.kind() == "assignment")
                    .and_then(|a| a.child_by_field_name("left"))
                    .is_some_and(|l| matches!(src.text_of(l), "__str__" | "__repr__"));
            }
            _ => None,
        };
        def.and_then(|d| d.child_by_field_name("name"))
            .is_some_and(|n| matches!(src.text_of(n), "__str__" | "__repr__"))
    })
}

/// A top-level class of this module by name.
pub(crate) fn module_class<'t>(module: &Module<'t>, name: &str) -> Option<Node<'t>> {
    let root = module.src.tree.root_node();
    let mut cursor = root.walk();
    let found = root.named_children(&mut cursor).filter_map(|stmt| {
        let def = match stmt.kind() {
            "decorated_definition" => stmt.child_by_field_name("definition")?,
            "class_definition" => stmt,
            _ => return None,
        };
        (def.kind() == "class_definition"
            && def
                .child_by_field_name("name")
                .is_some_and(|n| module.src.text_of(n) == name))
        .then_some(def)
    });
    found.last()
}
