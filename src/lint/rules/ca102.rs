//! CA102: a key placeholder that names no parameter.

use crate::cashews::{Placeholder, parse_template};
use crate::function::Function;
use crate::lint::rules::{Cached, Checker, KeyArg, Rule};

declare_rule! {
    /// ## What it does
    /// Finds a key template whose placeholder names no parameter of the
    /// function, or a template cashews cannot parse (an unclosed `{`).
    ///
    /// ## Why is this bad?
    /// cashews checks the template when the decorator is applied and raises
    /// `WrongKeyError`, so the module fails to import. `*args` and `**kwargs`
    /// are `{__args__}` and `{__kwargs__}` in a key, never `{args}` or
    /// `{kwargs[page]}`, and need such a parameter. A context value
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

pub(crate) fn check<'t>(ck: &mut Checker<'_, 't>, c: &Cached<'t>) {
    for deco in &c.decos {
        let KeyArg::Template(key) = deco.key(ck) else {
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
            let message = format!(
                "key placeholder {{{}}} names no parameter of {} (parameters: {}): cashews raises WrongKeyError at import",
                p.field,
                c.f.name,
                crate::key::parameter_list(&c.f)
            );
            ck.report(Rule::CA102, key.node, &c.noqa, message, None);
        }
    }
}

/// Placeholders cashews rejects (`key::unknown_placeholders`), less the
/// names registered with `register_key_context` in this module.
pub(crate) fn unknown_placeholders<'p>(
    ck: &Checker,
    f: &Function,
    placeholders: &'p [Placeholder],
) -> Vec<&'p Placeholder> {
    let unknown = crate::key::unknown_placeholders(f, placeholders);
    if unknown.is_empty() {
        return unknown;
    }
    let registered = registered_context(ck);
    unknown
        .into_iter()
        .filter(|p| !registered.contains(&p.root))
        .collect()
}

/// Names registered with cashews' `register_key_context("a", "b")` in this module.
fn registered_context(ck: &Checker) -> Vec<String> {
    let src = ck.src();
    if !src.text.contains("register_key_context") && !src.text.contains("key_context.register") {
        return Vec::new();
    }
    let mut out = Vec::new();
    for call in crate::lint::rules::calls_named(src, &["register_key_context", "register"]) {
        let Some(name) = call
            .child_by_field_name("function")
            .and_then(|f| crate::function::dotted_name(src, f))
        else {
            continue;
        };
        let resolved = ck.module.imports.resolve(&name);
        if !matches!(
            resolved.as_str(),
            "cashews.register_key_context" | "cashews.key_context.register"
        ) {
            continue;
        }
        if let Some(args) = call.child_by_field_name("arguments") {
            let mut cursor = args.walk();
            for a in args.named_children(&mut cursor) {
                if let Some(s) = crate::lint::literal::string(src, a) {
                    out.push(s.value);
                }
            }
        }
    }
    out
}
