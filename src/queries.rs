//! Tree-sitter queries, compiled once (a query costs milliseconds to build).

use std::sync::LazyLock;

use tree_sitter::{Language, Query};

pub(crate) static PYTHON: LazyLock<Language> =
    LazyLock::new(|| tree_sitter_python::LANGUAGE.into());

/// Facts about a function body (calls, assignments, yields, names).
pub(crate) static BODY: LazyLock<Query> =
    LazyLock::new(|| compile(include_str!("../queries/python/body.scm")));

/// Every call; compiled only when the setup search needs it.
pub(crate) static CALLS: LazyLock<Query> =
    LazyLock::new(|| compile(include_str!("../queries/python/calls.scm")));

fn compile(source: &str) -> Query {
    Query::new(&PYTHON, source).expect("bundled query compiles (tested)")
}

/// Index of a capture name; the names are part of each query file's contract.
pub(crate) fn capture(query: &Query, name: &str) -> u32 {
    query
        .capture_index_for_name(name)
        .unwrap_or_else(|| panic!("query has no @{name} capture"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar_loads_into_a_parser() {
        // tree-sitter-python 0.25 is ABI 15: an older runtime fails only here.
        let mut parser = tree_sitter::Parser::new();
        parser.set_language(&PYTHON).expect("ABI compatible");
        assert!(parser.parse("async def f(): pass\n", None).is_some());
    }

    #[test]
    fn queries_compile_with_their_captures() {
        capture(&CALLS, "call");
        for name in [
            "call",
            "callee",
            "args",
            "assign",
            "augassign",
            "target",
            "delete",
            "global",
            "attribute",
            "object",
            "attr",
            "yield",
            "return",
            "ident",
        ] {
            capture(&BODY, name);
        }
    }
}
