//! Names in play inside one function body, and the state a statement
//! changes: an argument, the instance, module state.

use std::collections::{BTreeMap, BTreeSet};

use tree_sitter::Node;

use crate::function::{Function, ParamKind, dotted_name};
use crate::module::is_container;
use crate::project::effects::{Cond, Holder};
use crate::source::SourceFile;

/// Method names that change the object they are called on.
const MUTATING_METHODS: &[&str] = &[
    "append",
    "extend",
    "insert",
    "remove",
    "pop",
    "clear",
    "sort",
    "reverse",
    "update",
    "setdefault",
    "popitem",
    "add",
    "discard",
    "difference_update",
    "intersection_update",
    "symmetric_difference_update",
    "appendleft",
    "extendleft",
    "popleft",
    "rotate",
    "put_nowait",
    "put",
    "set_result",
    "set_exception",
    "cache_clear",
];

/// Method names that consume a stream or an iterator they are called on:
/// the next call sees what is left.
const CONSUMING_METHODS: &[&str] = &[
    "read",
    "readline",
    "readlines",
    "readexactly",
    "readuntil",
    "readany",
    "readchunk",
    "receive",
    "recv",
    "__anext__",
    "__next__",
    "asend",
    "athrow",
];

/// A change to state outside the function.
pub(crate) struct Mutation {
    pub(crate) category: &'static str,
    pub(crate) note: String,
    pub(crate) condition: Cond,
}

pub(crate) struct Scope<'s, 't> {
    src: &'s SourceFile,
    module: BTreeSet<String>,
    params: BTreeSet<String>,
    /// `*args` and `**kwargs`: a tuple and a dict made fresh for each call,
    /// so changing them changes nothing the caller sees.
    fresh: BTreeSet<String>,
    pub(crate) receiver: Option<String>,
    pub(crate) locals: BTreeMap<String, Node<'t>>,
    /// Every value assigned to each local, in order (`stmt = select(U)`, `stmt = stmt.where(...)`).
    pub(crate) assigned: BTreeMap<String, Vec<Node<'t>>>,
    pub(crate) local_containers: BTreeSet<String>,
    globals: BTreeSet<String>,
    /// Names a `with ... as name` (or `as (a, name)`) binds, read off
    /// `body` when first asked: only the writer search asks.
    entered: std::cell::OnceCell<BTreeSet<String>>,
    body: Option<Node<'t>>,
}

impl<'s, 't> Scope<'s, 't> {
    pub(crate) fn new(src: &'s SourceFile, f: &Function<'t>) -> Scope<'s, 't> {
        let params = f
            .params
            .iter()
            .filter(|p| p.kind != ParamKind::Receiver)
            .map(|p| p.name.clone())
            .collect();
        let fresh = f
            .params
            .iter()
            .filter(|p| matches!(p.kind, ParamKind::Args | ParamKind::Kwargs))
            .map(|p| p.name.clone())
            .collect();
        let receiver = f.receiver().map(|p| p.name.clone());
        let globals: BTreeSet<String> = f
            .body
            .globals
            .iter()
            .flat_map(|g| {
                let mut cursor = g.walk();
                g.named_children(&mut cursor)
                    .map(|n| src.text_of(n).to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut locals = BTreeMap::new();
        let mut assigned: BTreeMap<String, Vec<Node<'t>>> = BTreeMap::new();
        for (target, _) in &f.body.targets {
            if target.kind() == "identifier" {
                let name = src.text_of(*target).to_string();
                if let Some(value) = target.parent().and_then(|a| a.child_by_field_name("right")) {
                    assigned.entry(name.clone()).or_default().push(value);
                    locals.insert(name, value);
                }
            }
        }
        let local_containers = locals
            .iter()
            .filter(|(name, value)| !globals.contains(*name) && is_container(src, **value))
            .map(|(name, _)| name.clone())
            .collect();
        Scope {
            src,
            module: module_names(src),
            params,
            fresh,
            receiver,
            locals,
            assigned,
            local_containers,
            globals,
            entered: std::cell::OnceCell::new(),
            body: f.site.node.child_by_field_name("body"),
        }
    }

    pub(crate) fn entered(&self, name: &str) -> bool {
        self.entered
            .get_or_init(|| with_aliases(self.src, self.body))
            .contains(name)
    }

    pub(crate) fn is_param(&self, name: &str) -> bool {
        self.params.contains(name)
    }

    /// The root name of `a.b[c].d`.
    pub(crate) fn root<'n>(&self, mut node: Node<'n>) -> Option<Node<'n>> {
        loop {
            node = match node.kind() {
                "identifier" => return Some(node),
                "attribute" => node.child_by_field_name("object")?,
                "subscript" => node.child_by_field_name("value")?,
                "parenthesized_expression" => node.named_child(0)?,
                _ => return None,
            };
        }
    }

    pub(crate) fn is_module_state(&self, name: &str) -> bool {
        self.globals.contains(name)
            || (self.module.contains(name)
                && !self.locals.contains_key(name)
                && !self.params.contains(name))
    }

    /// Whose state an expression is: what a caller's argument maps to.
    /// None for a local object, a literal, a call's result.
    pub(crate) fn holder_of(&self, expr: Node) -> Option<Result<Holder, &'static str>> {
        self.holder_within(expr, 0)
    }

    fn holder_within(&self, expr: Node, depth: usize) -> Option<Result<Holder, &'static str>> {
        let root = self.root(expr)?;
        let name = self.src.text_of(root);
        // `for member in team.members: member.role = ...` changes an item
        // of the argument: whose the loop walks is whose it changes.
        if depth < 3
            && !self.params.contains(name)
            && !self.locals.contains_key(name)
            && self.receiver.as_deref() != Some(name)
            && let Some(over) = self
                .body
                .and_then(|b| crate::source::loop_over(self.src, b, name))
        {
            return self.holder_within(over, depth + 1);
        }
        if self.receiver.as_deref() == Some(name) {
            Some(Ok(Holder::Receiver))
        } else if self.fresh.contains(name) {
            None
        } else if self.params.contains(name) {
            Some(Ok(Holder::Param(name.to_string())))
        } else if self.is_module_state(name) {
            Some(Err("module state"))
        } else {
            None
        }
    }

    /// The mutation of whatever `object` is, as seen from the callers.
    fn mutation_of(&self, object: Node, what: String) -> Option<Mutation> {
        match self.holder_of(object)? {
            Ok(Holder::Receiver) => Some(Mutation {
                category: "global_write",
                note: format!("{what}: instance or class state"),
                condition: Cond::Mutates(Holder::Receiver),
            }),
            Ok(Holder::Param(p)) => Some(Mutation {
                category: "argument_mutation",
                note: format!("{what}: mutates an argument"),
                condition: Cond::Mutates(Holder::Param(p)),
            }),
            Err(_) => Some(Mutation {
                category: "global_write",
                note: format!("{what}: module state"),
                condition: Cond::Always,
            }),
        }
    }

    /// An assignment or `del` target that changes state outside the function.
    pub(crate) fn assignment(&self, target: Node) -> Option<Mutation> {
        let text = self.src.text_of(target);
        if target.kind() == "identifier" {
            return self.globals.contains(text).then(|| Mutation {
                category: "global_write",
                note: format!("assigns global `{text}`"),
                condition: Cond::Always,
            });
        }
        if is_pattern(target) {
            // Nested patterns with a work list, not recursion: `((((a,),),),) = x`.
            let mut stack = vec![target];
            while let Some(pattern) = stack.pop() {
                let mut cursor = pattern.walk();
                let children: Vec<Node> = pattern.named_children(&mut cursor).collect();
                for child in children.into_iter().rev() {
                    if is_pattern(child) {
                        stack.push(child);
                    } else if let Some(hit) = self.assignment(child) {
                        return Some(hit);
                    }
                }
            }
            return None;
        }
        if !matches!(target.kind(), "attribute" | "subscript") {
            return None;
        }
        self.mutation_of(target, format!("assigns `{text}`"))
    }

    /// `param.append(x)`, `self.items.add(x)`, `REGISTRY.update(...)`,
    /// `setattr(param, ...)`, `next(stream)`, `await reader.read()`.
    pub(crate) fn mutating_call(&self, call: Node) -> Option<Mutation> {
        let callee = call.child_by_field_name("function")?;
        if callee.kind() == "identifier" {
            let name = self.src.text_of(callee);
            let first = call
                .child_by_field_name("arguments")
                .and_then(|a| a.named_child(0))?;
            return match name {
                "setattr" | "delattr" => {
                    self.mutation_of(first, format!("`{name}` on `{}`", self.src.text_of(first)))
                }
                "next" | "anext"
                    if first.kind() == "identifier"
                        && self.params.contains(self.src.text_of(first)) =>
                {
                    self.mutation_of(
                        first,
                        format!("advances the iterator `{}`", self.src.text_of(first)),
                    )
                }
                _ => None,
            };
        }
        if callee.kind() != "attribute" {
            return None;
        }
        let method = self.src.text_of(callee.child_by_field_name("attribute")?);
        let object = callee.child_by_field_name("object")?;
        if CONSUMING_METHODS.contains(&method) {
            // Reading a stream passed in: the next caller gets what is left.
            let passed =
                object.kind() == "identifier" && self.params.contains(self.src.text_of(object));
            return passed
                .then(|| {
                    self.mutation_of(
                        object,
                        format!(
                            "`{}.{method}(…)` consumes the stream passed in",
                            self.src.text_of(object)
                        ),
                    )
                })
                .flatten();
        }
        if !MUTATING_METHODS.contains(&method) {
            return None;
        }
        let root = self.root(object)?;
        let name = self.src.text_of(root);
        let on_self_attr = self.receiver.as_deref() == Some(name) && object.kind() != "identifier";
        let hit = on_self_attr
            || (object.kind() == "identifier"
                && (self.params.contains(name) || self.is_module_state(name)))
            || (object.kind() != "identifier" && self.params.contains(name));
        if !hit {
            return None;
        }
        self.mutation_of(
            object,
            format!(
                "`{}.{method}(…)` mutates state outside the function",
                self.src.text_of(object)
            ),
        )
    }
}

fn is_pattern(node: Node) -> bool {
    matches!(
        node.kind(),
        "pattern_list" | "tuple_pattern" | "list_pattern"
    )
}

/// Names bound at module level (assignments, imports excluded).
fn module_names(src: &SourceFile) -> BTreeSet<String> {
    let root = src.tree.root_node();
    let mut cursor = root.walk();
    root.named_children(&mut cursor)
        .filter(|s| s.kind() == "expression_statement")
        .filter_map(|s| s.named_child(0).filter(|a| a.kind() == "assignment"))
        .filter_map(|a| a.child_by_field_name("left"))
        .filter(|l| l.kind() == "identifier")
        .filter_map(|l| dotted_name(src, l))
        .collect()
}

/// The names `with` statements in a function's own body bind with `as`.
fn with_aliases(src: &SourceFile, body: Option<Node>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Some(body) = body else {
        return out;
    };
    let mut stack = vec![body];
    while let Some(n) = stack.pop() {
        match n.kind() {
            "function_definition" | "class_definition" | "lambda" => continue,
            "as_pattern_target"
                if n.parent()
                    .and_then(|p| p.parent())
                    .is_some_and(|w| w.kind() == "with_item") =>
            {
                let mut names = Vec::new();
                let mut inner = vec![n];
                while let Some(i) = inner.pop() {
                    if i.kind() == "identifier" {
                        names.push(src.text_of(i).to_string());
                    }
                    let mut cursor = i.walk();
                    inner.extend(i.named_children(&mut cursor));
                }
                out.extend(names);
                continue;
            }
            _ => {}
        }
        let mut cursor = n.walk();
        stack.extend(n.named_children(&mut cursor));
    }
    out
}
