//! The models a value stands for when no name in the statement says:
//! a collection of models picked from (`model_map.get(name)` with a
//! module-level `{"User": User, ...}`, `cls.EXTEND_MODEL_MAP[...]`), or a
//! parameter whose model the project's callers pass (`create(model,
//! params)`, `ResourceOp(Car, pk)`).

use std::collections::BTreeSet;

use tree_sitter::Node;

use super::{Resource, is_model, is_test_file, last, mentions_any};
use crate::function::Function;
use crate::locate::FunctionSite;
use crate::module::Module;
use crate::project::Index;
use crate::project::resolve::{Def, Symbol};

/// The models a literal collection holds: a dict's values, a list's,
/// tuple's or set's elements (`{"User": User, "Car": Car}`).
pub(super) fn collection_models(index: &Index, m: &Module, value: Node) -> BTreeSet<Resource> {
    let mut out = BTreeSet::new();
    let items: Vec<Node> = match value.kind() {
        "dictionary" => {
            let mut cursor = value.walk();
            value
                .named_children(&mut cursor)
                .filter_map(|pair| pair.child_by_field_name("value"))
                .collect()
        }
        "list" | "tuple" | "set" => {
            let mut cursor = value.walk();
            value.named_children(&mut cursor).collect()
        }
        _ => return out,
    };
    for item in items {
        if matches!(item.kind(), "identifier" | "attribute")
            && let Symbol::Class(def) = index.resolve_node_in(m, item)
            && is_model(index, &def)
        {
            out.insert(Resource::model(&def));
        }
    }
    out
}

/// The models a module-level collection a name is bound to holds
/// (`model_map` in `model_map.get(model)`), through imports.
pub(super) fn module_collection<'p>(
    index: &Index<'p>,
    m: &Module<'p>,
    ident: Node<'p>,
) -> BTreeSet<Resource> {
    match index.variable(m, ident) {
        Some((defined, value)) => collection_models(index, defined, value),
        None => BTreeSet::new(),
    }
}

/// The models a class-level collection holds: `EXTEND_MODEL_MAP =
/// {"AdminUser": AdminUser}` read as `cls.EXTEND_MODEL_MAP`, along the MRO.
pub(super) fn class_collection(index: &Index, class: &Def, attr: &str) -> BTreeSet<Resource> {
    for info in index.mro(class) {
        let Some((m, body)) = super::class_body(index, &info.def) else {
            continue;
        };
        if let Some((_, value)) = crate::source::assignments(body)
            .into_iter()
            .find(|(left, _)| m.src.text_of(*left) == attr)
        {
            return collection_models(index, m, value);
        }
    }
    BTreeSet::new()
}

/// What the project's calls of `def` pass as its parameter `param`: each
/// argument with the caller's module and function site. Test files are left
/// out: what they pass is fixture data.
pub(super) fn passed_arguments<'i, 'p>(
    index: &'i Index<'p>,
    def: &Def,
    param: &str,
) -> Vec<(&'i Module<'p>, FunctionSite<'p>, Node<'p>)> {
    let mut out = Vec::new();
    // A constructor is called by its class's name.
    let name = match def.qualname.rsplit_once('.') {
        Some((class, "__init__")) => last(class),
        _ => last(&def.qualname),
    };
    let files: Vec<_> = index
        .files()
        .iter()
        .filter(|p| !is_test_file(p) && mentions_any(p, &[name]))
        .cloned()
        .collect();
    for path in files {
        let Some(m) = index.module(&path) else {
            continue;
        };
        for site in crate::locate::with_nested(m.src, &m.functions) {
            let f = Function::new(m.src, site.clone());
            for &call in &f.body.calls {
                let callee = call
                    .child_by_field_name("function")
                    .map(|c| last(m.src.text_of(c)));
                if callee != Some(name) {
                    continue;
                }
                if let Some(arg) = crate::purity::argument_for(index, m, &f, call, def, param) {
                    out.push((m, site.clone(), arg));
                }
            }
        }
    }
    out
}

/// The models one value is, followed the way it flows rather than by
/// every name near it: a model class itself, a local through what is
/// assigned to it (`extend_user` of `user, extend_user = await
/// cls.check_user(...)` through the callee's returned tuple), a query on a
/// model (`Model.filter(...).first()`), an item of a collection of models
/// (`cls.EXTEND_MODEL_MAP.get(name)`, `model_map[name]`), and with
/// `callers`, a parameter through what the project's calls pass for it.
pub(super) fn traced<'p>(
    index: &Index<'p>,
    m: &Module<'p>,
    h: &Function<'p>,
    expr: Node<'p>,
    callers: bool,
    depth: usize,
) -> BTreeSet<Resource> {
    let mut out = BTreeSet::new();
    if depth > MAX_HOPS {
        return out;
    }
    let next = |n: Node<'p>| traced(index, m, h, n, callers, depth + 1);
    match expr.kind() {
        "await" | "parenthesized_expression" => {
            if let Some(inner) = expr.named_child(0) {
                out = next(inner);
            }
        }
        "subscript" => {
            if let Some(value) = expr.child_by_field_name("value") {
                out = next(value);
            }
        }
        // `Model.filter(...).first()`, `model_map.get(name)`: what the chain starts from.
        "call" => {
            if let Some(object) = expr
                .child_by_field_name("function")
                .filter(|f| f.kind() == "attribute")
                .and_then(|f| f.child_by_field_name("object"))
            {
                out = next(object);
            }
        }
        "attribute" => {
            let receiver = h.receiver().map(|p| p.name.as_str());
            let (Some(object), Some(attr)) = (
                expr.child_by_field_name("object"),
                expr.child_by_field_name("attribute"),
            ) else {
                return out;
            };
            let attr = m.src.text_of(attr);
            if object.kind() == "identifier" && Some(m.src.text_of(object)) == receiver {
                if let Some(class) = crate::purity::class_of(m, h) {
                    out = class_collection(index, &class, attr);
                }
            } else {
                // `team.members` with `team: Team`: the model the relationship holds.
                for owner in super::related::model_names(&next(object)) {
                    out.extend(super::related::related_model(index, &owner, attr));
                }
            }
        }
        "identifier" => out = traced_name(index, m, h, expr, callers, depth),
        _ => {}
    }
    out
}

/// How many steps a value is followed (each local, return, call on a
/// chain and attribute is one): enough for a local of a callee's returned
/// tuple queried from a model picked out of a class's map.
const MAX_HOPS: usize = 12;

fn traced_name<'p>(
    index: &Index<'p>,
    m: &Module<'p>,
    h: &Function<'p>,
    ident: Node<'p>,
    callers: bool,
    depth: usize,
) -> BTreeSet<Resource> {
    let name = m.src.text_of(ident);
    if let Symbol::Class(def) = index.resolve_node_in(m, ident) {
        return if is_model(index, &def) {
            BTreeSet::from([Resource::model(&def)])
        } else {
            BTreeSet::new()
        };
    }
    let values = super::written::assigned_to(m.src, h, name);
    if !values.is_empty() {
        return values
            .into_iter()
            .flat_map(|v| traced(index, m, h, v, callers, depth + 1))
            .collect();
    }
    if let Some((call, position)) = unpacked(m.src, h, name) {
        return returned_element(index, m, h, call, position, depth + 1);
    }
    // `for member in team.members`: an item of what the loop walks.
    if h.param(name).is_none()
        && let Some(over) = h
            .site
            .node
            .child_by_field_name("body")
            .and_then(|b| crate::source::loop_over(m.src, b, name))
    {
        return traced(index, m, h, over, callers, depth + 1);
    }
    // `team: m.Team`: the row of the model it is annotated with.
    if let Some(annotation) = h.param(name).and_then(|p| p.annotation.as_deref())
        && let Some(Symbol::Class(def)) = index.annotation_text_class(m, annotation)
        && is_model(index, &def)
    {
        return BTreeSet::from([Resource::model(&def)]);
    }
    if h.param(name).is_some() {
        if !callers || h.receiver().is_some_and(|p| p.name == name) {
            return BTreeSet::new();
        }
        let def = Def {
            path: Index::key(&m.src.path),
            qualname: h.qualname.clone(),
        };
        return passed_models(index, &def, name, depth + 1);
    }
    module_collection(index, m, ident)
}

/// An argument's value: a keyword argument's, else the argument itself.
pub(super) fn argument_value(arg: Node) -> Node {
    match arg.kind() {
        "keyword_argument" => arg.child_by_field_name("value").unwrap_or(arg),
        _ => arg,
    }
}

/// The models the project's calls of `def` pass as `param`, each argument
/// followed in its caller. A caller's own parameters are not followed
/// further: one level of callers.
fn passed_models(index: &Index, def: &Def, param: &str, depth: usize) -> BTreeSet<Resource> {
    let mut out = BTreeSet::new();
    for (cm, site, arg) in passed_arguments(index, def, param) {
        let caller = Function::new(cm.src, site);
        out.extend(traced(index, cm, &caller, arg, false, depth));
    }
    out
}

/// `a, name = value` in `h`'s own body: the value and `name`'s position.
fn unpacked<'t>(
    src: &crate::source::SourceFile,
    h: &Function<'t>,
    name: &str,
) -> Option<(Node<'t>, usize)> {
    h.body.targets.iter().find_map(|(target, _)| {
        if !matches!(target.kind(), "pattern_list" | "tuple_pattern") {
            return None;
        }
        let mut cursor = target.walk();
        let position = target
            .named_children(&mut cursor)
            .position(|n| n.kind() == "identifier" && src.text_of(n) == name)?;
        let value = target.parent()?.child_by_field_name("right")?;
        Some((value, position))
    })
}

/// The `position`-th item of the tuples the project function `call`
/// reaches returns, each followed in the callee.
fn returned_element<'p>(
    index: &Index<'p>,
    m: &Module<'p>,
    h: &Function<'p>,
    call: Node<'p>,
    position: usize,
    depth: usize,
) -> BTreeSet<Resource> {
    let mut out = BTreeSet::new();
    let call = if call.kind() == "await" {
        call.named_child(0).unwrap_or(call)
    } else {
        call
    };
    let Some(def) = crate::purity::called(index, m, h, call) else {
        return out;
    };
    let Some(cm) = index.module_of(m, &def.path) else {
        return out;
    };
    let Some(site) = cm.function(&def.qualname) else {
        return out;
    };
    let callee = Function::new(cm.src, site);
    for value in callee.body.returns.iter().filter_map(|r| r.named_child(0)) {
        if !matches!(value.kind(), "expression_list" | "tuple") {
            continue;
        }
        let mut cursor = value.walk();
        if let Some(item) = value.named_children(&mut cursor).nth(position) {
            out.extend(traced(index, cm, &callee, item, false, depth));
        }
    }
    out
}

/// For a method of a class handed its model (`ResourceOp(Car, pk)` with
/// `self.model = model` in `__init__`): the models the project's
/// constructions pass for the attributes the method uses.
pub(super) fn constructed_with<'p>(
    index: &Index<'p>,
    m: &Module<'p>,
    f: &Function<'p>,
    attributes: &BTreeSet<String>,
) -> BTreeSet<Resource> {
    let mut out = BTreeSet::new();
    let Some(class) = crate::purity::class_of(m, f) else {
        return out;
    };
    let init = format!("{}.__init__", class.qualname);
    let Some(site) = m.function(&init) else {
        return out;
    };
    let init_fn = Function::new(m.src, site);
    let Some(receiver) = init_fn.receiver().map(|p| p.name.clone()) else {
        return out;
    };
    let def = Def {
        path: class.path.clone(),
        qualname: init,
    };
    for (target, _) in &init_fn.body.targets {
        let (Some(object), Some(attr), Some(value)) = (
            target.child_by_field_name("object"),
            target.child_by_field_name("attribute"),
            target.parent().and_then(|a| a.child_by_field_name("right")),
        ) else {
            continue;
        };
        let param = m.src.text_of(value);
        if target.kind() != "attribute"
            || m.src.text_of(object) != receiver
            || !attributes.contains(m.src.text_of(attr))
            || value.kind() != "identifier"
            || init_fn.param(param).is_none()
        {
            continue;
        }
        out.extend(passed_models(index, &def, param, 0));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::Sources;
    use crate::project::tests::project;

    const MODELS: &str = "\
from tortoise.models import Model

class Owner(Model):
    pass

class Pet(Model):
    pass
";

    const LOGIC: &str = "\
from app.models import Owner, Pet

KINDS = {'owner': Owner, 'pet': Pet}

class Finder:
    PICK = {'pet': Pet}

    @classmethod
    async def find(cls, kind):
        chosen = cls.PICK.get(kind)
        row = await chosen.filter(id=1).first()
        return 1, row

    @classmethod
    async def touch(cls, kind):
        _, row = await cls.find(kind)
        await row.save()

async def put(model, rows):
    await model.create(**rows)

async def load(name):
    await put(KINDS[name], {})

async def stray(thing):
    await thing.save()
";

    #[test]
    fn values_are_followed_through_tuples_maps_and_callers() {
        let dir = project(&[
            ("app/__init__.py", ""),
            ("app/models.py", MODELS),
            ("app/logic.py", LOGIC),
        ]);
        let sources = Sources::default();
        let path = dir.path().join("app/logic.py");
        let index = Index::for_file(&sources, &path);
        let m = index.module(&path).unwrap();
        // The object of the function's first write call, followed.
        let models = |qualname: &str, callers: bool| -> Vec<String> {
            let f = Function::new(m.src, m.function(qualname).unwrap());
            let call = *f
                .body
                .calls
                .iter()
                .find(|c| {
                    m.src.text_of(**c).contains(".save(") || m.src.text_of(**c).contains(".create(")
                })
                .unwrap();
            let object = call
                .child_by_field_name("function")
                .and_then(|c| c.child_by_field_name("object"))
                .unwrap();
            traced(&index, m, &f, object, callers, 0)
                .into_iter()
                .map(|r| r.shown())
                .collect()
        };
        // `_, row = await cls.find(kind)`: the tuple's second item, a query
        // on the model picked from the class's map.
        assert_eq!(models("Finder.touch", false), ["model Pet"]);
        // A parameter: what callers pass (`KINDS[name]`), only when asked.
        assert_eq!(models("put", true), ["model Owner", "model Pet"]);
        assert!(models("put", false).is_empty());
        // Nothing passes anything for `thing`.
        assert!(models("stray", true).is_empty());
    }
}
