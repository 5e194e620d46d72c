//! Per-file facts, gathered once and shared by every target in the file.

use std::collections::BTreeMap;

use tree_sitter::Node;

use crate::cashews::CashewsNames;
use crate::function::dotted_name;
use crate::imports::Imports;
use crate::locate::{ClassSite, FunctionSite, definitions};
use crate::source::SourceFile;

pub(crate) struct Module<'t> {
    pub(crate) src: &'t SourceFile,
    pub(crate) imports: Imports<'t>,
    pub(crate) cashews: CashewsNames,
    pub(crate) functions: Vec<FunctionSite<'t>>,
    pub(crate) classes: Vec<ClassSite<'t>>,
    /// `cashews` with the names found through the project (see `Index::cashews`).
    pub(crate) project_cashews: std::sync::OnceLock<CashewsNames>,
    /// Module-level `name = value` bindings (the last one wins).
    pub(crate) variables: BTreeMap<String, Node<'t>>,
}

impl<'t> Module<'t> {
    pub(crate) fn new(src: &'t SourceFile) -> Module<'t> {
        let imports = Imports::collect(src);
        let cashews = CashewsNames::collect(src, &imports);
        let (functions, classes) = definitions(src);
        Module {
            src,
            cashews,
            functions,
            classes,
            project_cashews: std::sync::OnceLock::new(),
            variables: variables(src),
            imports,
        }
    }

    /// A function by qualname; one defined in a function by Python's name
    /// for it (`factory.<locals>.inner`).
    pub(crate) fn function(&self, qualname: &str) -> Option<FunctionSite<'t>> {
        let found = self.functions.iter().rev().find(|s| s.qualname == qualname);
        if found.is_none() && qualname.contains(".<locals>.") {
            return crate::locate::find_nested(self.src, &self.functions, qualname);
        }
        found.cloned()
    }

    pub(crate) fn class(&self, qualname: &str) -> Option<&ClassSite<'t>> {
        self.classes.iter().rev().find(|c| c.qualname == qualname)
    }

    /// Whether a module-level name holds a mutable container (`{}`, `[]`, `set()`, …).
    pub(crate) fn is_mutable_variable(&self, name: &str) -> bool {
        self.variables
            .get(name)
            .is_some_and(|v| is_container(self.src, *v))
    }
}

/// Module-level assignments, including those under `if`/`try` at top level.
fn variables(src: &SourceFile) -> BTreeMap<String, Node<'_>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.tree.root_node()];
    while let Some(node) = stack.pop() {
        let mut cursor = node.walk();
        for child in node.named_children(&mut cursor) {
            match child.kind() {
                "expression_statement" => {
                    if let Some(a) = child.named_child(0).filter(|a| a.kind() == "assignment")
                        && let (Some(left), Some(right)) = (
                            a.child_by_field_name("left"),
                            a.child_by_field_name("right"),
                        )
                        && left.kind() == "identifier"
                        && let Some(name) = dotted_name(src, left)
                    {
                        out.insert(name, right);
                    }
                }
                "if_statement" | "try_statement" | "else_clause" | "elif_clause"
                | "except_clause" | "finally_clause" | "block" | "with_statement" => {
                    stack.push(child)
                }
                _ => {}
            }
        }
    }
    out
}

const CONTAINER_CALLS: &[&str] = &[
    "dict",
    "list",
    "set",
    "bytearray",
    "defaultdict",
    "OrderedDict",
    "Counter",
    "deque",
    "collections.defaultdict",
    "collections.OrderedDict",
    "collections.Counter",
    "collections.deque",
    "io.StringIO",
    "io.BytesIO",
    "StringIO",
    "BytesIO",
    "WeakValueDictionary",
    "weakref.WeakValueDictionary",
];

/// A literal or constructor call that builds a fresh mutable container.
pub(crate) fn is_container(src: &SourceFile, value: Node) -> bool {
    match value.kind() {
        "list"
        | "dictionary"
        | "set"
        | "list_comprehension"
        | "dictionary_comprehension"
        | "set_comprehension" => true,
        "call" => value
            .child_by_field_name("function")
            .and_then(|f| dotted_name(src, f))
            .is_some_and(|name| CONTAINER_CALLS.contains(&name.as_str())),
        _ => false,
    }
}
