//! Validating models built from faked I/O. A function that reads a row and
//! returns `UserInDB(**row)` (or `Article(title=row["title"], ...)`) cannot
//! run on a fake row: the model's constructor (pydantic's) refuses the
//! fake's values. What the checks are about is the cache, so such a model,
//! a project class whose constructor is a validating library's, is faked
//! too when a call builds one from what the faked I/O gave back.

use std::collections::BTreeSet;

use tree_sitter::Node;

use crate::function::{FnKind, Function, ParamKind};
use crate::module::Module;
use crate::project::Index;
use crate::project::resolve::Symbol;
use crate::prove::probe::Probe;
use crate::source::SourceFile;

/// Library bases whose constructor validates each field's value.
const VALIDATING_BASES: &[&str] = &[
    "pydantic.BaseModel",
    "pydantic.main.BaseModel",
    "pydantic.v1.BaseModel",
    "pydantic.v1.main.BaseModel",
    "sqlmodel.SQLModel",
    "sqlmodel.main.SQLModel",
];

/// Class decorators that make the constructor validate.
const VALIDATING_DECORATORS: &[&str] = &["pydantic.dataclasses.dataclass"];

/// Adds to `p.patches` the validating models of the project that the code
/// a call of `f` runs in its module (`f` and the methods of its class it
/// reaches) builds from a faked value, each used only by calling it or one
/// of its class methods (a name also read by `isinstance` stays).
pub(crate) fn add_models(p: &mut Probe, index: &Index, module: &Module, f: &Function) {
    if p.unsupported.is_some() {
        return;
    }
    let src = module.src;
    let receiver = f
        .receiver()
        .filter(|_| f.kind == FnKind::Method)
        .map(|r| r.name.clone());
    let methods = match &receiver {
        Some(r) => crate::prove::probe::own_methods(module, f, &format!("{r}.")),
        None => vec![Function::new(src, f.site.clone())],
    };
    let class = f
        .qualname
        .rsplit_once('.')
        .map_or(String::new(), |(c, _)| c.to_string());
    let fakes = Fakes {
        src,
        module,
        receiver: receiver.as_deref(),
        class: &class,
        self_fakes: &p.self_fakes,
        fake_rest: p.fake_rest,
    };
    let mut built: BTreeSet<String> = BTreeSet::new();
    let mut other_uses: BTreeSet<String> = BTreeSet::new();
    for method in &methods {
        let Some(body) = method.site.node.child_by_field_name("body") else {
            continue;
        };
        let mut tainted: BTreeSet<String> = p.patches.iter().cloned().collect();
        for param in &method.params {
            if matches!(param.kind, ParamKind::Receiver) {
                continue;
            }
            // The target's faked inputs; a helper's inputs come from its caller,
            // the target, whose values are the faked I/O's.
            let faked = p
                .args
                .iter()
                .any(|a| a.name == param.name && a.same == "_Stub()");
            if method.qualname != f.qualname || faked {
                tainted.insert(param.name.clone());
            }
        }
        let locals: BTreeSet<String> = method
            .body
            .targets
            .iter()
            .flat_map(|(t, _)| identifiers(src, *t))
            .chain(method.params.iter().map(|p| p.name.clone()))
            .collect();
        spread(&fakes, body, &mut tainted);
        let mut calls = Vec::new();
        walk(body, &mut |n| {
            if n.kind() == "call" {
                calls.push(n);
            }
        });
        for call in calls {
            let Some(name) = built_name(src, call) else {
                continue;
            };
            if locals.contains(&name) || built.contains(&name) {
                continue;
            }
            let Some(args) = call.child_by_field_name("arguments") else {
                continue;
            };
            if fakes.mentions(args, &tainted) && validating(index, module, &name) {
                built.insert(name);
            }
        }
        walk(body, &mut |n| {
            if n.kind() == "identifier" && !called(n) {
                other_uses.insert(src.text_of(n).to_string());
            }
        });
    }
    let names: Vec<String> = built
        .into_iter()
        .filter(|n| !other_uses.contains(n) && !p.patches.contains(n))
        .collect();
    if names.is_empty() {
        return;
    }
    let shown: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    let what = match names.len() {
        1 => {
            "a model whose constructor validates, built from the faked I/O's values, which it would refuse"
        }
        _ => {
            "models whose constructors validate, built from the faked I/O's values, which they would refuse"
        }
    };
    p.stubs.push(format!(
        "{} in {} ({what}): replaced by a fake with monkeypatch",
        shown.join(", "),
        p.module
    ));
    p.patches.extend(names);
}

/// What in the reached code holds a faked value.
struct Fakes<'a, 't> {
    src: &'t SourceFile,
    module: &'a Module<'t>,
    receiver: Option<&'a str>,
    class: &'a str,
    self_fakes: &'a [String],
    fake_rest: bool,
}

impl Fakes<'_, '_> {
    /// Whether `node` reads a tainted name, a faked `self.NAME`, or the
    /// result of a method of the class (its own computation over the fakes).
    fn mentions(&self, node: Node, tainted: &BTreeSet<String>) -> bool {
        let mut found = false;
        walk(node, &mut |n| {
            if found {
                return;
            }
            match n.kind() {
                "identifier" => {
                    let parent_attr = n
                        .parent()
                        .filter(|p| p.kind() == "attribute")
                        .and_then(|p| p.child_by_field_name("attribute"))
                        .is_some_and(|a| a.id() == n.id());
                    found = !parent_attr && tainted.contains(self.src.text_of(n));
                }
                "attribute" => {
                    let (Some(object), Some(attr)) = (
                        n.child_by_field_name("object"),
                        n.child_by_field_name("attribute"),
                    ) else {
                        return;
                    };
                    if Some(self.src.text_of(object)) != self.receiver {
                        return;
                    }
                    let attr = self.src.text_of(attr);
                    let method = self
                        .module
                        .function(&format!("{}.{attr}", self.class))
                        .is_some();
                    found = method
                        || self.self_fakes.iter().any(|s| s == attr)
                        || (self.fake_rest && !attr.starts_with('_'));
                }
                _ => {}
            }
        });
        found
    }
}

/// Taints, to a fixed point, the names bound from a tainted value:
/// assignments, `for` targets (statements and comprehensions), `with ... as`
/// and `:=`.
fn spread(fakes: &Fakes, body: Node, tainted: &mut BTreeSet<String>) {
    let mut bindings: Vec<(Node, Node)> = Vec::new();
    walk(body, &mut |n| {
        let pair = match n.kind() {
            "assignment" | "augmented_assignment" | "for_statement" | "for_in_clause" => (
                n.child_by_field_name("left"),
                n.child_by_field_name("right"),
            ),
            "named_expression" => (
                n.child_by_field_name("name"),
                n.child_by_field_name("value"),
            ),
            "as_pattern" => (
                n.child_by_field_name("alias"),
                n.named_child(0).filter(|c| c.kind() != "as_pattern_target"),
            ),
            _ => (None, None),
        };
        if let (Some(left), Some(right)) = pair {
            bindings.push((left, right));
        }
    });
    loop {
        let before = tainted.len();
        for (left, right) in &bindings {
            if fakes.mentions(*right, tainted) {
                tainted.extend(identifiers(fakes.src, *left));
            }
        }
        if tainted.len() == before {
            break;
        }
    }
}

/// The module-level name a call builds from: `Model(...)`, `Model.from_orm(...)`.
fn built_name(src: &SourceFile, call: Node) -> Option<String> {
    let callee = call.child_by_field_name("function")?;
    let name = match callee.kind() {
        "identifier" => callee,
        "attribute" => callee
            .child_by_field_name("object")
            .filter(|o| o.kind() == "identifier")?,
        _ => return None,
    };
    Some(src.text_of(name).to_string())
}

/// Whether identifier `n` is the callee of a call, or the class of a class
/// method's call (`Model.parse_obj(...)`), or an attribute's name.
fn called(n: Node) -> bool {
    let Some(parent) = n.parent() else {
        return false;
    };
    let is = |field: &str, of: Node| {
        of.child_by_field_name(field)
            .is_some_and(|c| c.id() == n.id())
    };
    match parent.kind() {
        "call" => is("function", parent),
        "attribute" if is("attribute", parent) => true,
        "attribute" => {
            is("object", parent)
                && parent.parent().is_some_and(|g| {
                    g.kind() == "call"
                        && g.child_by_field_name("function")
                            .is_some_and(|c| c.id() == parent.id())
                })
        }
        // `name=value` in a call: the keyword is no read of a name.
        "keyword_argument" => is("name", parent),
        _ => false,
    }
}

/// Whether module-level `name` is a project class whose constructor validates.
fn validating(index: &Index, module: &Module, name: &str) -> bool {
    let Symbol::Class(def) = index.resolve_name(module, name) else {
        return false;
    };
    index.mro(&def).iter().any(|c| {
        c.bases
            .iter()
            .filter_map(Symbol::external)
            .any(|b| VALIDATING_BASES.contains(&b))
            || c.decorators
                .iter()
                .filter_map(Symbol::external)
                .any(|d| VALIDATING_DECORATORS.contains(&d))
    })
}

/// The plain names in a target (`a`, `a, b`, `(a, [b])`); attributes and
/// subscripts bind no name.
fn identifiers(src: &SourceFile, target: Node) -> Vec<String> {
    match target.kind() {
        "identifier" => vec![src.text_of(target).to_string()],
        "pattern_list"
        | "tuple_pattern"
        | "list_pattern"
        | "tuple"
        | "list"
        | "list_splat_pattern"
        | "parenthesized_expression" => {
            let mut cursor = target.walk();
            target
                .named_children(&mut cursor)
                .flat_map(|c| identifiers(src, c))
                .collect()
        }
        _ => Vec::new(),
    }
}

/// Every node under `node` (itself included), in source order, not
/// entering nested functions. A loop, not recursion: expressions nest as
/// deep as the parser allows.
fn walk<'t>(node: Node<'t>, visit: &mut dyn FnMut(Node<'t>)) {
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        visit(n);
        let mut cursor = n.walk();
        let children: Vec<Node<'t>> = n
            .named_children(&mut cursor)
            .filter(|c| !matches!(c.kind(), "function_definition" | "class_definition"))
            .collect();
        stack.extend(children.into_iter().rev());
    }
}
