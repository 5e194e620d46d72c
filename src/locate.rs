//! Finding functions by qualified name (`name`, `Class.method`, `Outer.Inner.method`).

use tree_sitter::{Node, QueryCursor, StreamingIterator};

use crate::queries::{QUERIES, capture};
use crate::source::{BadInput, SourceFile};

#[derive(Clone, Copy)]
pub(crate) struct FunctionSite<'t> {
    /// The `function_definition` node.
    pub(crate) node: Node<'t>,
    /// The enclosing `class_definition`, when the function is directly in a class body.
    pub(crate) class: Option<Node<'t>>,
}

/// Every function in the file with its qualified name, in source order.
pub(crate) fn all_functions(src: &SourceFile) -> Vec<(String, FunctionSite<'_>)> {
    let query = &QUERIES.functions;
    let function = capture(query, "function");
    let mut cursor = QueryCursor::new();
    let mut matches = cursor.matches(query, src.tree.root_node(), src.text.as_bytes());
    let mut out = Vec::new();
    while let Some(m) = matches.next() {
        for c in m.captures.iter().filter(|c| c.index == function) {
            let node = c.node;
            out.push((
                qualname(src, node),
                FunctionSite {
                    node,
                    class: enclosing_class(node),
                },
            ));
        }
    }
    out
}

/// Python's `__qualname__`: classes joined with dots, `<locals>` inside functions.
pub(crate) fn qualname(src: &SourceFile, node: Node) -> String {
    let mut parts = vec![name_of(src, node).to_string()];
    let mut current = node.parent();
    while let Some(n) = current {
        match n.kind() {
            "class_definition" => parts.push(name_of(src, n).to_string()),
            "function_definition" => {
                parts.push("<locals>".to_string());
                parts.push(name_of(src, n).to_string());
            }
            _ => {}
        }
        current = n.parent();
    }
    parts.reverse();
    parts.join(".")
}

pub(crate) fn name_of<'s>(src: &'s SourceFile, node: Node) -> &'s str {
    node.child_by_field_name("name")
        .map(|n| src.text_of(n))
        .unwrap_or("")
}

/// The class whose body directly holds this function (through decorators,
/// `if` and `try` blocks, which do not start a new scope).
pub(crate) fn enclosing_class(node: Node) -> Option<Node> {
    let mut current = node.parent();
    while let Some(n) = current {
        match n.kind() {
            "class_definition" => return Some(n),
            "function_definition" | "lambda" | "module" => return None,
            _ => current = n.parent(),
        }
    }
    None
}

/// The one function named `wanted`; an error lists the closest names.
#[cfg(test)]
pub(crate) fn find<'t>(src: &'t SourceFile, wanted: &str) -> Result<FunctionSite<'t>, BadInput> {
    find_among(src, &all_functions(src), wanted)
}

/// `find` over a list `all_functions` already built: a file with many
/// targets walks its tree once, not once per target.
pub(crate) fn find_among<'t>(
    src: &SourceFile,
    all: &[(String, FunctionSite<'t>)],
    wanted: &str,
) -> Result<FunctionSite<'t>, BadInput> {
    // A name defined twice (e.g. under `if`/`else`): Python keeps the last one.
    if let Some((_, site)) = all.iter().rev().find(|(name, _)| name == wanted) {
        return Ok(*site);
    }
    let names: Vec<&str> = all
        .iter()
        .map(|(n, _)| n.as_str())
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
            "class A:\n    class B:\n        async def m(self): ...\n    if X:\n        def n(self): ...\ndef f():\n    def g(): ...\n",
        );
        let names: Vec<String> = all_functions(&s).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["A.B.m", "A.n", "f", "f.<locals>.g"]);
        assert!(find(&s, "A.n").unwrap().class.is_some());
        assert!(find(&s, "f").unwrap().class.is_none());
    }

    #[test]
    fn not_found_suggests_close_names() {
        let s =
            src("async def get_user(): ...\nasync def get_users(): ...\nasync def other(): ...\n");
        let err = find(&s, "get_usr").err().unwrap();
        assert!(
            err.0
                .contains("no function \"get_usr\" (closest: get_user, get_users"),
            "{err}"
        );
    }
}
