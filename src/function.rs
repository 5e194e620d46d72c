//! What a function is: its signature, decorators and body facts.

use serde::Serialize;
use tree_sitter::{Node, QueryCursor, StreamingIterator};

use crate::locate::{FunctionSite, name_of};
use crate::queries::{BODY, capture};
use crate::source::{SourceFile, line_of};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum FnKind {
    Function,
    Method,
    StaticMethod,
    ClassMethod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParamKind {
    Plain,
    /// `*args`
    Args,
    /// `**kwargs`
    Kwargs,
    /// The implicit first parameter of a method or classmethod.
    Receiver,
}

#[derive(Debug, Clone)]
pub(crate) struct Param {
    pub(crate) name: String,
    pub(crate) kind: ParamKind,
    pub(crate) annotation: Option<String>,
    pub(crate) default: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Decorator<'t> {
    pub(crate) node: Node<'t>,
    /// The decorator expression without `@`.
    pub(crate) expr: Node<'t>,
    /// Dotted name of what is applied: `app.get` for `@app.get("/x")`.
    pub(crate) dotted: Option<String>,
}

pub(crate) struct Function<'t> {
    pub(crate) site: FunctionSite<'t>,
    pub(crate) name: String,
    /// `Class.method`, as Python's `__qualname__`.
    pub(crate) qualname: String,
    pub(crate) line: usize,
    pub(crate) is_async: bool,
    pub(crate) is_generator: bool,
    pub(crate) kind: FnKind,
    pub(crate) params: Vec<Param>,
    pub(crate) decorators: Vec<Decorator<'t>>,
    pub(crate) body: BodyFacts<'t>,
}

impl<'t> Function<'t> {
    pub(crate) fn new(src: &'t SourceFile, site: FunctionSite<'t>) -> Function<'t> {
        let node = site.node;
        let decorators = decorators_of(src, node);
        let kind = kind_of(&site, &decorators);
        let mut params = params_of(src, node);
        if matches!(kind, FnKind::Method | FnKind::ClassMethod)
            && let Some(first) = params.first_mut()
            && first.kind == ParamKind::Plain
        {
            first.kind = ParamKind::Receiver;
        }
        let body = BodyFacts::collect(src, node);
        Function {
            qualname: site.qualname.clone(),
            site,
            name: name_of(src, node).to_string(),
            line: line_of(node),
            is_async: node.child(0).is_some_and(|c| c.kind() == "async"),
            is_generator: !body.yields.is_empty(),
            kind,
            params,
            decorators,
            body,
        }
    }

    pub(crate) fn receiver(&self) -> Option<&Param> {
        self.params.iter().find(|p| p.kind == ParamKind::Receiver)
    }

    pub(crate) fn param(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.name == name)
    }

    pub(crate) fn has_decorator(&self, names: &[&str]) -> bool {
        self.decorators
            .iter()
            .filter_map(|d| d.dotted.as_deref())
            .any(|d| {
                names
                    .iter()
                    .any(|n| d == *n || d.ends_with(&format!(".{n}")))
            })
    }

    /// Whether some `return` hands back a value (generators yield instead).
    pub(crate) fn returns_value(&self, src: &SourceFile) -> bool {
        self.body
            .returns
            .iter()
            .any(|r| r.named_child(0).is_some_and(|v| src.text_of(v) != "None"))
    }
}

fn decorators_of<'t>(src: &'t SourceFile, node: Node<'t>) -> Vec<Decorator<'t>> {
    let Some(parent) = node.parent().filter(|p| p.kind() == "decorated_definition") else {
        return Vec::new();
    };
    let mut cursor = parent.walk();
    parent
        .children(&mut cursor)
        .filter(|c| c.kind() == "decorator")
        .filter_map(|d| {
            let expr = d.named_child(0)?;
            Some(Decorator {
                node: d,
                expr,
                dotted: callee_name(src, expr),
            })
        })
        .collect()
}

/// `a.b.c` for an identifier/attribute chain; for a call, the chain it calls
/// (calls inside the chain are looked through: `a().b` -> `a.b`).
pub(crate) fn callee_name(src: &SourceFile, node: Node) -> Option<String> {
    chain_name(src, node, true)
}

/// Like `callee_name` but only through plain names and attributes: `a.b.c`.
pub(crate) fn dotted_name(src: &SourceFile, node: Node) -> Option<String> {
    chain_name(src, node, false)
}

/// A loop, not recursion: a chain can be thousands of links long.
fn chain_name(src: &SourceFile, mut node: Node, through_calls: bool) -> Option<String> {
    let mut attributes = Vec::new();
    loop {
        match node.kind() {
            "identifier" => break,
            "attribute" => {
                attributes.push(src.text_of(node.child_by_field_name("attribute")?));
                node = node.child_by_field_name("object")?;
            }
            "call" if through_calls => node = node.child_by_field_name("function")?,
            _ => return None,
        }
    }
    let mut name = src.text_of(node).to_string();
    for attribute in attributes.iter().rev() {
        name.push('.');
        name.push_str(attribute);
    }
    Some(name)
}

fn kind_of(site: &FunctionSite, decorators: &[Decorator]) -> FnKind {
    if site.class.is_none() {
        return FnKind::Function;
    }
    let has = |name: &str| decorators.iter().any(|d| d.dotted.as_deref() == Some(name));
    if has("staticmethod") {
        FnKind::StaticMethod
    } else if has("classmethod") {
        FnKind::ClassMethod
    } else {
        FnKind::Method
    }
}

fn params_of(src: &SourceFile, node: Node) -> Vec<Param> {
    let Some(params) = node.child_by_field_name("parameters") else {
        return Vec::new();
    };
    let mut cursor = params.walk();
    params
        .named_children(&mut cursor)
        .filter_map(|p| param(src, p))
        .collect()
}

fn param(src: &SourceFile, node: Node) -> Option<Param> {
    let text = |n: Option<Node>| n.map(|n| src.text_of(n).to_string());
    let (target, annotation, default) = match node.kind() {
        "identifier" | "list_splat_pattern" | "dictionary_splat_pattern" => (node, None, None),
        "typed_parameter" => (
            node.named_child(0)?,
            text(node.child_by_field_name("type")),
            None,
        ),
        "default_parameter" => (
            node.child_by_field_name("name")?,
            None,
            text(node.child_by_field_name("value")),
        ),
        "typed_default_parameter" => (
            node.child_by_field_name("name")?,
            text(node.child_by_field_name("type")),
            text(node.child_by_field_name("value")),
        ),
        _ => return None, // `*` and `/` separators
    };
    let (name_node, kind) = match target.kind() {
        "list_splat_pattern" => (target.named_child(0)?, ParamKind::Args),
        "dictionary_splat_pattern" => (target.named_child(0)?, ParamKind::Kwargs),
        _ => (target, ParamKind::Plain),
    };
    Some(Param {
        name: src.text_of(name_node).to_string(),
        kind,
        annotation,
        default,
    })
}

/// Nodes of a function body, gathered with one query run.
#[derive(Default)]
pub(crate) struct BodyFacts<'t> {
    pub(crate) calls: Vec<Node<'t>>,
    /// Left-hand sides of `=`, `+=` (with whether it is augmented).
    pub(crate) targets: Vec<(Node<'t>, bool)>,
    pub(crate) deletes: Vec<Node<'t>>,
    pub(crate) globals: Vec<Node<'t>>,
    /// `x.attr` where `x` is a plain name.
    pub(crate) attributes: Vec<Node<'t>>,
    pub(crate) yields: Vec<Node<'t>>,
    pub(crate) returns: Vec<Node<'t>>,
    pub(crate) idents: Vec<Node<'t>>,
}

impl<'t> BodyFacts<'t> {
    pub(crate) fn collect(src: &'t SourceFile, function: Node<'t>) -> BodyFacts<'t> {
        let mut facts = BodyFacts::default();
        let Some(body) = function.child_by_field_name("body") else {
            return facts;
        };
        let query = &*BODY;
        let idx = |name| capture(query, name);
        let (call, assign, augassign, target, delete, global, attribute, yld, ret, ident) = (
            idx("call"),
            idx("assign"),
            idx("augassign"),
            idx("target"),
            idx("delete"),
            idx("global"),
            idx("attribute"),
            idx("yield"),
            idx("return"),
            idx("ident"),
        );
        let mut cursor = QueryCursor::new();
        let mut matches = cursor.matches(query, body, src.text.as_bytes());
        while let Some(m) = matches.next() {
            let augmented = m.captures.iter().any(|c| c.index == augassign);
            let is_assign = augmented || m.captures.iter().any(|c| c.index == assign);
            for c in m.captures {
                let n = c.node;
                match c.index {
                    i if i == call => facts.calls.push(n),
                    i if i == target && is_assign => facts.targets.push((n, augmented)),
                    i if i == delete => facts.deletes.push(n),
                    i if i == global => facts.globals.push(n),
                    i if i == attribute => facts.attributes.push(n),
                    i if i == yld && own_scope(n, function) => facts.yields.push(n),
                    i if i == ret && own_scope(n, function) => facts.returns.push(n),
                    i if i == ident => facts.idents.push(n),
                    _ => {}
                }
            }
        }
        facts
    }
}

/// The parameter `name` of the function `node` is defined in, if any: a
/// closure variable's declaration, read without the rest of that function.
pub(crate) fn enclosing_param(src: &SourceFile, node: Node, name: &str) -> Option<Param> {
    params_of(src, enclosing_function(node)?)
        .into_iter()
        .find(|p| p.name == name)
}

/// The function a nested function is defined in (none for a method).
pub(crate) fn enclosing_function(node: Node) -> Option<Node> {
    let mut around = node.parent();
    while let Some(n) = around {
        match n.kind() {
            "function_definition" => return Some(n),
            "class_definition" => return None,
            _ => around = n.parent(),
        }
    }
    None
}

/// Whether `node` belongs to `function` itself, not to a nested function or lambda.
pub(crate) fn own_scope(node: Node, function: Node) -> bool {
    let mut current = node.parent();
    while let Some(n) = current {
        if n.id() == function.id() {
            return true;
        }
        if matches!(n.kind(), "function_definition" | "lambda") {
            return false;
        }
        current = n.parent();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locate::find;
    use std::path::Path;

    fn with_fn(text: &str, name: &str, check: impl FnOnce(&SourceFile, &Function)) {
        let src = SourceFile::parse(Path::new("m.py"), text.as_bytes().to_vec()).unwrap();
        let site = find(&src, &crate::locate::all_functions(&src), name).unwrap();
        let f = Function::new(&src, site);
        check(&src, &f);
    }

    #[test]
    fn signature_kinds() {
        with_fn(
            "class A:\n    @classmethod\n    async def m(cls, a: int, b=2, *args, c: str = 'x', **kw): return a\n",
            "A.m",
            |_, f| {
                assert_eq!(f.kind, FnKind::ClassMethod);
                assert!(f.is_async);
                let kinds: Vec<_> = f.params.iter().map(|p| (p.name.as_str(), p.kind)).collect();
                assert_eq!(
                    kinds,
                    [
                        ("cls", ParamKind::Receiver),
                        ("a", ParamKind::Plain),
                        ("b", ParamKind::Plain),
                        ("args", ParamKind::Args),
                        ("c", ParamKind::Plain),
                        ("kw", ParamKind::Kwargs)
                    ]
                );
                assert_eq!(f.params[4].annotation.as_deref(), Some("str"));
                assert_eq!(f.params[2].default.as_deref(), Some("2"));
            },
        );
    }

    #[test]
    fn generator_ignores_nested_yield() {
        with_fn(
            "async def f():\n    def g():\n        yield 1\n    return 2\n",
            "f",
            |src, f| {
                assert!(!f.is_generator);
                assert!(f.returns_value(src));
            },
        );
        with_fn("async def f():\n    yield 1\n", "f", |src, f| {
            assert!(f.is_generator);
            assert!(!f.returns_value(src));
        });
    }

    #[test]
    fn long_chains_do_not_recurse() {
        let chain = format!("x{}", ".a".repeat(5000));
        let text = format!("async def f(x):\n    {chain}.b = 1\n    return {chain}()\n");
        with_fn(&text, "f", |src, f| {
            let call = f.body.calls[0];
            let name = callee_name(src, call).unwrap();
            assert_eq!(name, chain);
            let target = f.body.targets[0].0;
            assert_eq!(dotted_name(src, target).unwrap(), format!("{chain}.b"));
        });
    }

    #[test]
    fn decorators_are_named() {
        with_fn(
            "@app.get('/x')\n@staticmethod\nasync def f(): return 1\n",
            "f",
            |_, f| {
                let names: Vec<_> = f
                    .decorators
                    .iter()
                    .map(|d| d.dotted.clone().unwrap())
                    .collect();
                assert_eq!(names, ["app.get", "staticmethod"]);
            },
        );
    }
}
