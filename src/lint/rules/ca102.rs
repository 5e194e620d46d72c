//! CA102: a key placeholder that names no parameter.

use crate::cashews::{Placeholder, parse_template};
use crate::function::{Function, ParamKind};
use crate::lint::rules::{Cached, Checker, KeyArg, Rule};

declare_rule! {
    /// ## What it does
    /// Finds a key template whose placeholder names no parameter of the
    /// function, or a template cashews cannot parse (an unclosed `{`).
    ///
    /// ## Why is this bad?
    /// cashews checks the template when the decorator is applied and raises
    /// `WrongKeyError`, so the module fails to import. `{__args__}` and
    /// `{__kwargs__}` need a `*args` / `**kwargs` parameter. A context value
    /// (`{@:get(name)}`) and a name registered with
    /// `register_key_context("name")` in the same module are allowed.
    ///
    /// ## Example
    /// ```python
    /// @cache(ttl="1h", key="user:{user_id}")
    /// async def get_user(uid: int):
    ///     ...
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// @cache(ttl="1h", key="user:{uid}")
    /// async def get_user(uid: int):
    ///     ...
    /// ```
    ///
    /// ## Fix
    /// Rename the placeholder to the parameter it means. There is no
    /// automatic fix: which parameter was meant is a guess.
    pub(crate) const DOC;
}

pub(crate) fn check(ck: &mut Checker, c: &Cached) {
    let src = ck.src();
    for deco in &c.decos {
        let KeyArg::Template(key) = deco.key(src) else {
            continue;
        };
        let placeholders = match parse_template(&key.value) {
            Ok(p) => p,
            Err(e) => {
                let message = format!(
                    "key {:?} does not parse ({e}): cashews raises an error at import",
                    key.value
                );
                ck.report(Rule::CA102, key.node, &c.noqa, message, None);
                continue;
            }
        };
        for p in unknown_placeholders(ck, &c.f, &placeholders) {
            let f = &c.f;
            let names: Vec<&str> = f.params.iter().map(|p| p.name.as_str()).collect();
            let message = format!(
                "key placeholder {{{}}} names no parameter of {} (parameters: {}): cashews raises WrongKeyError at import",
                p.field,
                f.name,
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            );
            ck.report(Rule::CA102, key.node, &c.noqa, message, None);
        }
    }
}

/// Placeholders that name no parameter, context value or registered name.
pub(crate) fn unknown_placeholders<'p>(
    ck: &Checker,
    f: &Function,
    placeholders: &'p [Placeholder],
) -> Vec<&'p Placeholder> {
    let mut registered = None;
    placeholders
        .iter()
        .filter(|p| {
            let known = p.root == "@"
                || f.param(&p.root).is_some()
                || (p.root == "__args__" && f.params.iter().any(|p| p.kind == ParamKind::Args))
                || (p.root == "__kwargs__" && f.params.iter().any(|p| p.kind == ParamKind::Kwargs));
            !known
                && !registered
                    .get_or_insert_with(|| registered_context(ck))
                    .contains(&p.root)
        })
        .collect()
}

/// Names registered with cashews' `register_key_context("a", "b")` in this module.
fn registered_context(ck: &Checker) -> Vec<String> {
    let src = ck.src();
    if !src.text.contains("register_key_context") && !src.text.contains("key_context.register") {
        return Vec::new();
    }
    let mut out = Vec::new();
    crate::lint::rules::each_call(src.tree.root_node(), &mut |call| {
        let Some(name) = call
            .child_by_field_name("function")
            .and_then(|f| crate::function::dotted_name(src, f))
        else {
            return;
        };
        let resolved = ck.module.imports.resolve(&name);
        if !matches!(
            resolved.as_str(),
            "cashews.register_key_context" | "cashews.key_context.register"
        ) {
            return;
        }
        if let Some(args) = call.child_by_field_name("arguments") {
            let mut cursor = args.walk();
            for a in args.named_children(&mut cursor) {
                if let Some(s) = crate::lint::literal::string(src, a) {
                    out.push(s.value);
                }
            }
        }
    });
    out
}
