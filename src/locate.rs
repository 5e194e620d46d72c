//! Finding functions by qualified name (`name`, `Class.method`, `Outer.Inner.method`).

use tree_sitter::Node;

use crate::source::{BadInput, SourceFile};

#[derive(Clone)]
pub(crate) struct FunctionSite<'t> {
    /// The `function_definition` node.
    pub(crate) node: Node<'t>,
    /// The enclosing `class_definition`, when the function is directly in a class body.
    pub(crate) class: Option<Node<'t>>,
    /// Python's `__qualname__`: classes joined with dots, `<locals>` inside functions.
    pub(crate) qualname: String,
}

/// Every function a target can name, with its qualified name, in source
/// order: module-level functions and methods of classes at any depth, also
/// under `if`/`try`/`with` blocks. Function bodies are not entered (a nested
/// function is rebuilt on every call, so caching it is never the goal), which
/// keeps this a walk over statements, not over every node.
#[cfg(test)]
pub(crate) fn all_functions(src: &SourceFile) -> Vec<FunctionSite<'_>> {
    definitions(src).0
}

/// A class definition with its qualified name (`Outer.Inner`).
#[derive(Clone)]
pub(crate) struct ClassSite<'t> {
    pub(crate) node: Node<'t>,
    pub(crate) qualname: String,
}

/// Every function (as `all_functions`) and every class at module level or
/// nested in classes, in source order.
pub(crate) fn definitions(src: &SourceFile) -> (Vec<FunctionSite<'_>>, Vec<ClassSite<'_>>) {
    let mut out = Definitions::default();
    walk_statements(src, src.tree.root_node(), "", None, &mut out);
    (out.functions, out.classes)
}

#[derive(Default)]
struct Definitions<'t> {
    functions: Vec<FunctionSite<'t>>,
    classes: Vec<ClassSite<'t>>,
}

fn walk_statements<'t>(
    src: &'t SourceFile,
    node: Node<'t>,
    prefix: &str,
    class: Option<Node<'t>>,
    out: &mut Definitions<'t>,
) {
    let mut cursor = node.walk();
    for child in node.named_children(&mut cursor) {
        match child.kind() {
            "function_definition" => {
                let qualname = format!("{prefix}{}", name_of(src, child));
                out.functions.push(FunctionSite {
                    node: child,
                    class,
                    qualname,
                });
            }
            "class_definition" => {
                let qualname = format!("{prefix}{}", name_of(src, child));
                let inner = format!("{qualname}.");
                out.classes.push(ClassSite {
                    node: child,
                    qualname,
                });
                if let Some(body) = child.child_by_field_name("body") {
                    walk_statements(src, body, &inner, Some(child), out);
                }
            }
            "decorated_definition"
            | "if_statement"
            | "elif_clause"
            | "else_clause"
            | "try_statement"
            | "except_clause"
            | "except_group_clause"
            | "finally_clause"
            | "with_statement"
            | "block" => walk_statements(src, child, prefix, class, out),
            _ => {}
        }
    }
}

pub(crate) fn name_of<'s>(src: &'s SourceFile, node: Node) -> &'s str {
    node.child_by_field_name("name")
        .map(|n| src.text_of(n))
        .unwrap_or("")
}

/// The one function named `wanted`; an error lists the closest names.
pub(crate) fn find<'t>(
    src: &SourceFile,
    all: &[FunctionSite<'t>],
    wanted: &str,
) -> Result<FunctionSite<'t>, BadInput> {
    // A name defined twice (e.g. under `if`/`else`): Python keeps the last one.
    if let Some(site) = all.iter().rev().find(|s| s.qualname == wanted) {
        return Ok(site.clone());
    }
    if let Some(site) = find_nested(src, all, wanted) {
        return Ok(site);
    }
    let names: Vec<&str> = all
        .iter()
        .map(|s| s.qualname.as_str())
        .filter(|n| !n.contains("<locals>"))
        .collect();
    let close = closest(wanted, &names, 5);
    let hint = if close.is_empty() {
        "the file defines no functions".to_string()
    } else {
        format!("closest: {}", close.join(", "))
    };
    Err(BadInput(format!(
        "{}: no function {wanted:?} ({hint})",
        src.path.display()
    )))
}

/// A function defined inside another: `outer.inner` or Python's own
/// `outer.<locals>.inner` (a dependency built by a factory, a check made by
/// a decorator). Its qualified name is Python's.
/// The functions defined in a function's body (under its blocks too, not
/// inside their own bodies), named as Python's `__qualname__` names them.
pub(crate) fn nested_functions<'t>(
    src: &SourceFile,
    parent: &FunctionSite<'t>,
) -> Vec<FunctionSite<'t>> {
    let mut out = Vec::new();
    let Some(body) = parent.node.child_by_field_name("body") else {
        return out;
    };
    let mut stack = vec![body];
    while let Some(node) = stack.pop() {
        let mut cursor = node.walk();
        for child in node.named_children(&mut cursor) {
            match child.kind() {
                "function_definition" => out.push(FunctionSite {
                    node: child,
                    class: None,
                    qualname: format!("{}.<locals>.{}", parent.qualname, name_of(src, child)),
                }),
                "decorated_definition"
                | "if_statement"
                | "elif_clause"
                | "else_clause"
                | "try_statement"
                | "except_clause"
                | "finally_clause"
                | "with_statement"
                | "block" => stack.push(child),
                _ => {}
            }
        }
    }
    out.sort_by_key(|s| s.node.start_byte());
    out
}

/// Every function and, depth first, the ones defined inside it (a
/// dependency factory's inner `async def` is what FastAPI calls).
pub(crate) fn with_nested<'t>(
    src: &SourceFile,
    sites: &[FunctionSite<'t>],
) -> Vec<FunctionSite<'t>> {
    let mut out = Vec::new();
    let mut todo: Vec<FunctionSite<'t>> = sites.iter().rev().cloned().collect();
    while let Some(site) = todo.pop() {
        todo.extend(nested_functions(src, &site).into_iter().rev());
        out.push(site);
    }
    out
}

pub(crate) fn find_nested<'t>(
    src: &SourceFile,
    all: &[FunctionSite<'t>],
    wanted: &str,
) -> Option<FunctionSite<'t>> {
    let plain = wanted.replace(".<locals>", "");
    let (outer, inner) = plain.rsplit_once('.')?;
    let parent = match all.iter().rev().find(|s| s.qualname == outer) {
        Some(site) => site.clone(),
        None => find_nested(src, all, outer)?,
    };
    nested_functions(src, &parent)
        .into_iter()
        .rfind(|s| name_of(src, s.node) == inner)
}

fn closest<'a>(wanted: &str, names: &[&'a str], n: usize) -> Vec<&'a str> {
    let mut scored: Vec<(usize, &str)> = names
        .iter()
        .map(|name| (distance(wanted, name), *name))
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(n).map(|(_, name)| name).collect()
}

/// Levenshtein distance over chars.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let next = (row[j + 1] + 1).min(row[j] + 1).min(prev + cost);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn src(text: &str) -> SourceFile {
        SourceFile::parse(Path::new("m.py"), text.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn qualnames_follow_python() {
        let s = src(
            "class A:\n    class B:\n        async def m(self): ...\n    if X:\n        def n(self): ...\ndef f():\n    def g(): ...\n    class C:\n        def h(self): ...\nclass D:\n    pass\n",
        );
        let all = all_functions(&s);
        let names: Vec<&str> = all.iter().map(|f| f.qualname.as_str()).collect();
        assert_eq!(names, ["A.B.m", "A.n", "f"]);
        assert!(find(&s, &all, "A.n").unwrap().class.is_some());
        assert!(find(&s, &all, "f").unwrap().class.is_none());
    }

    #[test]
    fn nested_functions_by_either_name() {
        let s = src(
            "def factory(x):\n    async def check(y):\n        return x + y\n    return check\n",
        );
        let all = all_functions(&s);
        for wanted in ["factory.check", "factory.<locals>.check"] {
            assert_eq!(
                find(&s, &all, wanted).unwrap().qualname,
                "factory.<locals>.check"
            );
        }
    }

    #[test]
    fn not_found_suggests_close_names() {
        let s =
            src("async def get_user(): ...\nasync def get_users(): ...\nasync def other(): ...\n");
        let err = find(&s, &all_functions(&s), "get_usr").err().unwrap();
        assert!(
            err.0
                .contains("no function \"get_usr\" (closest: get_user, get_users"),
            "{err}"
        );
    }
}
