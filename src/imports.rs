//! Import bindings: resolving local names to dotted paths, and adding an
//! import once per file (LibCST's semantics: merge into an existing
//! `from M import …`, else place after the docstring, `__future__` imports
//! and the leading import block).

use std::collections::BTreeMap;

use tree_sitter::Node;

use crate::edit::Edit;
use crate::function::dotted_name;
use crate::isort::{ImportLine, Style};
use crate::source::SourceFile;

mod merge;

pub(crate) struct Imports<'t> {
    /// Local name -> dotted path: `h` -> `httpx`, `run` -> `subprocess.run`.
    aliases: BTreeMap<String, String>,
    /// Local name -> what binds it, relative imports kept as written, for
    /// resolving names across the project's modules.
    pub(crate) bindings: BTreeMap<String, Binding>,
    /// Modules imported with `from M import *`.
    wildcards: Vec<String>,
    /// The same, with their level (leading dots): `(1, "models")` for `from .models import *`.
    pub(crate) star_modules: Vec<(usize, String)>,
    /// `from M import …` statements that are direct children of the module.
    from_statements: Vec<FromImport<'t>>,
}

/// One import binding of a local name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Binding {
    /// `import a.b as c` binds `c` to `a.b`; `import a.b` binds `a` to `a`.
    Module(String),
    /// `from ..m import n` : level 2, module `m` (empty for `from . import n`), name `n`.
    From {
        level: usize,
        module: String,
        name: String,
    },
}

pub(crate) struct FromImport<'t> {
    pub(crate) node: Node<'t>,
    pub(crate) module: String,
}

impl<'t> Imports<'t> {
    fn empty() -> Imports<'t> {
        Imports {
            aliases: BTreeMap::new(),
            bindings: BTreeMap::new(),
            wildcards: Vec::new(),
            star_modules: Vec::new(),
            from_statements: Vec::new(),
        }
    }

    pub(crate) fn collect(src: &'t SourceFile) -> Imports<'t> {
        let mut imports = Imports::empty();
        imports.walk(src, src.tree.root_node());
        imports
    }

    /// The imports inside one function's body, nested blocks and functions
    /// included (`from app.services import UserService` in a CLI command):
    /// what a name used there means when the module does not bind it.
    pub(crate) fn in_function(src: &'t SourceFile, function: Node<'t>) -> Imports<'t> {
        let mut imports = Imports::empty();
        let mut stack: Vec<Node<'t>> = function.child_by_field_name("body").into_iter().collect();
        while let Some(n) = stack.pop() {
            if matches!(n.kind(), "import_statement" | "import_from_statement") {
                imports.add_statement(src, n);
                continue;
            }
            let mut cursor = n.walk();
            stack.extend(
                n.named_children(&mut cursor)
                    .filter(|c| c.kind() != "expression_statement"),
            );
        }
        imports
    }

    /// Module-level imports, also those under top-level `if`/`try`/`with`
    /// blocks (`if TYPE_CHECKING:`, `try: import x except ImportError:`).
    /// Function and class bodies are not entered: this stays a walk over a
    /// few statements, not over every node of a large file.
    fn walk(&mut self, src: &'t SourceFile, node: Node<'t>) {
        let mut cursor = node.walk();
        for child in node.named_children(&mut cursor) {
            match child.kind() {
                "import_statement" | "import_from_statement" => self.add_statement(src, child),
                "if_statement" | "elif_clause" | "else_clause" | "try_statement"
                | "except_clause" | "finally_clause" | "with_statement" | "block" => {
                    self.walk(src, child)
                }
                _ => {}
            }
        }
    }

    fn add_statement(&mut self, src: &'t SourceFile, node: Node<'t>) {
        match node.kind() {
            "import_statement" => {
                let mut cursor = node.walk();
                for name in node.children_by_field_name("name", &mut cursor) {
                    let (path, alias) = split_alias(src, name);
                    let (local, target) = match alias {
                        Some(alias) => (alias, path),
                        // `import a.b` binds `a`
                        None => {
                            let root = path.split('.').next().unwrap_or_default().to_string();
                            (root.clone(), root)
                        }
                    };
                    self.bindings
                        .insert(local.clone(), Binding::Module(target.clone()));
                    self.aliases.insert(local, target);
                }
            }
            "import_from_statement" => self.add_from(src, node),
            _ => {}
        }
    }

    fn add_from(&mut self, src: &'t SourceFile, node: Node<'t>) {
        let Some(module) = node.child_by_field_name("module_name") else {
            return;
        };
        let module = src.text_of(module).to_string();
        let level = module.chars().take_while(|c| *c == '.').count();
        let bare: String = module[level..]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let mut cursor = node.walk();
        if node
            .named_children(&mut cursor)
            .any(|c| c.kind() == "wildcard_import")
        {
            self.star_modules.push((level, bare));
            self.wildcards.push(module);
            return;
        }
        for name in node.children_by_field_name("name", &mut node.walk()) {
            let (path, alias) = split_alias(src, name);
            let local = alias.unwrap_or_else(|| path.clone());
            self.bindings.insert(
                local.clone(),
                Binding::From {
                    level,
                    module: bare.clone(),
                    name: path.clone(),
                },
            );
            self.aliases
                .insert(local.clone(), format!("{module}.{path}"));
        }
        if node.parent().is_some_and(|p| p.kind() == "module") {
            self.from_statements.push(FromImport { node, module });
        }
    }

    /// `h.get` -> `httpx.get` when `import httpx as h`.
    pub(crate) fn resolve(&self, dotted: &str) -> String {
        let (head, tail) = dotted
            .split_once('.')
            .map_or((dotted, None), |(h, t)| (h, Some(t)));
        match (self.aliases.get(head), tail) {
            (Some(full), Some(tail)) => format!("{full}.{tail}"),
            (Some(full), None) => full.clone(),
            (None, _) => dotted.to_string(),
        }
    }

    /// The local names bound to `module.name`, by a from-import, an alias or a wildcard.
    pub(crate) fn locals_for(&self, module: &str, name: &str) -> Vec<String> {
        let full = format!("{module}.{name}");
        let mut out: Vec<String> = self
            .aliases
            .iter()
            .filter(|(_, path)| **path == full)
            .map(|(local, _)| local.clone())
            .collect();
        if self.wildcards.iter().any(|w| w == module) && !self.aliases.contains_key(name) {
            out.push(name.to_string());
        }
        out
    }

    /// Local names bound to a module by `import module [as x]`.
    pub(crate) fn module_aliases(&self, module: &str) -> Vec<String> {
        self.aliases
            .iter()
            .filter(|(_, path)| *path == module)
            .map(|(local, _)| local.clone())
            .collect()
    }

    /// Whether anything is imported from `module` (or the module itself).
    pub(crate) fn uses_module(&self, module: &str) -> bool {
        let prefix = format!("{module}.");
        self.aliases
            .values()
            .any(|path| path == module || path.starts_with(&prefix))
    }

    pub(crate) fn is_bound(&self, local: &str) -> bool {
        self.aliases.contains_key(local)
    }

    /// Makes `module.name` available; returns the local name to use and the
    /// edit that binds it (None when it is bound already).
    pub(crate) fn ensure(
        &self,
        src: &SourceFile,
        module: &str,
        name: &str,
        before: usize,
    ) -> (String, Option<Edit>) {
        if let Some(local) = self.locals_for(module, name).into_iter().next() {
            return (local, None);
        }
        let taken = self.is_bound(name) || name_in_use(src, name);
        let style = crate::isort::for_file(&src.path);
        // isort's force-single-line wants one name per `from` import.
        if !taken && !style.force_single_line {
            let existing = self
                .from_statements
                .iter()
                .find(|s| s.module == module && s.node.start_byte() < before);
            if let Some(s) = existing
                && let Some(edit) = merge::merge(src, s.node, &s.module, name, &style)
            {
                return (name.to_string(), Some(edit));
            }
        }
        let local = if taken {
            format!("{}_{name}", module.replace('.', "_"))
        } else {
            name.to_string()
        };
        let alias = taken.then_some(local.as_str());
        let line = ImportLine::from(module, name, alias);
        (local, Some(new_statement(src, &line)))
    }

    /// Makes a whole module available (`import os`); returns the local name
    /// and the edit (None when `import module [as x]` is there already).
    pub(crate) fn ensure_module(&self, src: &SourceFile, module: &str) -> (String, Option<Edit>) {
        if let Some(local) = self.module_aliases(module).into_iter().next() {
            return (local, None);
        }
        let taken = self.is_bound(module) || name_in_use(src, module);
        if taken {
            let local = format!("{}_module", module.replace('.', "_"));
            let line = ImportLine::module(module, Some(&local));
            (local, Some(new_statement(src, &line)))
        } else {
            let line = ImportLine::module(module, None);
            (module.to_string(), Some(new_statement(src, &line)))
        }
    }
}

/// New import statements inserted at one offset (two targets, or the
/// setup's `import os` and `from contextlib import …`) are put in ruff's
/// order, one blank line between sections, the blank lines around them
/// kept once. Identical edits (two targets asking for one import) count once.
pub(crate) fn coalesce(src: &SourceFile, edits: Vec<Edit>) -> Vec<Edit> {
    let mut unique: Vec<Edit> = Vec::new();
    for e in edits {
        if !unique.contains(&e) {
            unique.push(e);
        }
    }
    let style = crate::isort::for_file(&src.path);
    let mut out: Vec<Edit> = Vec::new();
    for e in unique {
        let group = out
            .iter()
            .position(|o| o.start == e.start && o.end == e.start && e.end == e.start);
        match group {
            Some(i) if e.content.contains(['\n']) => {
                out[i].content = merge_lines(&style, &out[i].content, &e.content);
            }
            _ => out.push(e),
        }
    }
    out
}

/// Two runs of new import lines for one spot, as one run: the line that
/// sorts first keeps the line breaks its run had before it, the line that
/// sorts last those after it.
fn merge_lines(style: &Style, a: &str, b: &str) -> String {
    let eol = if a.contains("\r\n") { "\r\n" } else { "\n" };
    let mut lines: Vec<(crate::isort::SortKey, &str, &str, &str)> = Vec::new();
    for run in [a, b] {
        let (lead, body, trail) = split_run(run);
        let n = body.len();
        for (i, line) in body.into_iter().enumerate() {
            let parsed = ImportLine::parse(line).unwrap_or_else(|| ImportLine::module(line, None));
            let lead = if i == 0 { lead } else { "" };
            let trail = if i + 1 == n { trail } else { "" };
            lines.push((style.key(&parsed), line, lead, trail));
        }
    }
    lines.sort_by(|x, y| x.0.cmp(&y.0));
    let mut out = lines.first().map_or("", |l| l.2).to_string();
    for (i, (key, line, _, _)) in lines.iter().enumerate() {
        if i > 0 && lines[i - 1].0.section != key.section {
            out.push_str(eol);
        }
        out.push_str(line);
        out.push_str(eol);
    }
    out.push_str(lines.last().map_or("", |l| l.3));
    out
}

/// `LEAD LINES TRAIL`: the line breaks before the first import line, the
/// lines, the line breaks after the last line's own.
fn split_run(run: &str) -> (&str, Vec<&str>, &str) {
    let body_start = run.len() - run.trim_start_matches(['\r', '\n']).len();
    let body = run[body_start..].trim_end_matches(['\r', '\n']);
    let rest = &run[body_start + body.len()..];
    let own = if rest.starts_with("\r\n") {
        2
    } else {
        1.min(rest.len())
    };
    let lines = body
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.is_empty())
        .collect();
    (&run[..body_start], lines, &rest[own..])
}

/// `a.b as c` -> (`a.b`, Some(`c`)); `a.b` -> (`a.b`, None).
pub(crate) fn split_alias(src: &SourceFile, node: Node) -> (String, Option<String>) {
    if node.kind() == "aliased_import" {
        let path = node
            .child_by_field_name("name")
            .map(|n| src.text_of(n).to_string())
            .unwrap_or_default();
        let alias = node
            .child_by_field_name("alias")
            .map(|n| src.text_of(n).to_string());
        (path, alias)
    } else {
        (src.text_of(node).to_string(), None)
    }
}

/// Whether binding `name` at module level could change what existing code
/// means: the module defines it, or some code outside an import reads or
/// binds it where it is not a function's own local (module level, a class
/// body, a free name in a function: a name from `import *`, or one the
/// file never defines, as `@cache` without its import).
pub(crate) fn name_in_use(src: &SourceFile, name: &str) -> bool {
    if module_defines(src, name) {
        return true;
    }
    let root = src.tree.root_node();
    src.text.match_indices(name).any(|(at, _)| {
        root.descendant_for_byte_range(at, at + name.len())
            .is_some_and(|node| {
                node.kind() == "identifier"
                    && node.byte_range() == (at..at + name.len())
                    && crate::source::is_load(node)
                    && !in_import(node)
                    && !is_local(src, node, name)
            })
    })
}

/// Imports are what `Imports` records (module paths are not variables).
fn in_import(node: Node) -> bool {
    let mut n = node;
    while let Some(p) = n.parent() {
        if matches!(p.kind(), "import_statement" | "import_from_statement") {
            return true;
        }
        n = p;
    }
    false
}

/// Scopes whose bindings stay inside them.
const SCOPES: &[&str] = &[
    "function_definition",
    "lambda",
    "list_comprehension",
    "set_comprehension",
    "dictionary_comprehension",
    "generator_expression",
];

/// Whether `node` (NAME) is a local of an enclosing function, lambda or
/// comprehension: a parameter, or bound in that scope without `global`.
fn is_local(src: &SourceFile, node: Node, name: &str) -> bool {
    let mut n = node;
    while let Some(scope) = n.parent() {
        n = scope;
        if scope.kind() == "class_definition" {
            return false; // a class body is read like module level
        }
        if SCOPES.contains(&scope.kind()) && binds(src, scope, name) {
            return true;
        }
    }
    false
}

/// Whether a scope binds NAME itself: as a parameter, an assignment, loop
/// or `with … as` target, comprehension variable, nested def or class.
fn binds(src: &SourceFile, scope: Node, name: &str) -> bool {
    let mut found = false;
    let mut global = false;
    let mut stack: Vec<Node> = Vec::new();
    let mut cursor = scope.walk();
    stack.extend(scope.named_children(&mut cursor));
    while let Some(n) = stack.pop() {
        let is_name =
            |c: Option<Node>| c.is_some_and(|c| c.kind() == "identifier" && src.text_of(c) == name);
        match n.kind() {
            "global_statement" | "nonlocal_statement" => {
                let mut c = n.walk();
                global |= n.named_children(&mut c).any(|i| src.text_of(i) == name);
            }
            "default_parameter" | "typed_default_parameter" => {
                // The name is the parameter; the default is read outside.
                found |= is_name(n.child_by_field_name("name"));
                continue;
            }
            "identifier" => {
                let parent = n.parent().map(|p| p.kind()).unwrap_or_default();
                found |= src.text_of(n) == name
                    && matches!(
                        parent,
                        "parameters"
                            | "lambda_parameters"
                            | "typed_parameter"
                            | "list_splat_pattern"
                            | "dictionary_splat_pattern"
                            | "as_pattern_target"
                            | "pattern_list"
                            | "tuple_pattern"
                            | "list_pattern"
                    );
            }
            "assignment"
            | "augmented_assignment"
            | "for_statement"
            | "for_in_clause"
            | "named_expression" => {
                let target = n
                    .child_by_field_name("left")
                    .or_else(|| n.child_by_field_name("name"));
                found |= is_name(target);
            }
            "function_definition" | "class_definition" => {
                found |= is_name(n.child_by_field_name("name"));
                continue; // their insides are other scopes
            }
            _ => {}
        }
        if !SCOPES.contains(&n.kind()) {
            let mut c = n.walk();
            stack.extend(n.named_children(&mut c));
        }
    }
    found && !global
}

/// Whether a top-level def, class or assignment binds `name`.
pub(crate) fn module_defines(src: &SourceFile, name: &str) -> bool {
    let root = src.tree.root_node();
    let mut cursor = root.walk();
    root.named_children(&mut cursor).any(|stmt| {
        let def = match stmt.kind() {
            "decorated_definition" => stmt.child_by_field_name("definition"),
            "function_definition" | "class_definition" => Some(stmt),
            "expression_statement" => {
                let assign = stmt.named_child(0).filter(|a| a.kind() == "assignment");
                let left = assign.and_then(|a| a.child_by_field_name("left"));
                return left
                    .and_then(|l| dotted_name(src, l))
                    .is_some_and(|l| l == name);
            }
            _ => None,
        };
        def.and_then(|d| d.child_by_field_name("name"))
            .is_some_and(|n| src.text_of(n) == name)
    })
}

/// A new import line where ruff's isort would sort it: in its section's
/// block of the leading imports, a new section block (one blank line from
/// its neighbours) when the file has none; after the docstring and header
/// comments when the file has no imports yet. Existing lines never move.
fn new_statement(src: &SourceFile, line: &ImportLine) -> Edit {
    let style = crate::isort::for_file(&src.path);
    let statement = line.text();
    let block = leading_block(src, &style);
    if block.is_empty() {
        return first_import(src, &statement);
    }
    let text = &src.text;
    let key = style.key(line);
    let same: Vec<&Placed> = block
        .iter()
        .filter(|p| p.key.section == key.section)
        .collect();
    if let Some(next) = same.iter().find(|p| p.key > key) {
        let eol = neighbour_line_ending(text, next.start);
        return Edit::insert(next.start, format!("{statement}{eol}"));
    }
    let after = |at: usize, blank: bool| {
        let eol = neighbour_line_ending(text, at);
        let blank = if blank { eol } else { "" };
        let lead = break_at_end(text, at, eol);
        Edit::insert(at, format!("{lead}{blank}{statement}{eol}"))
    };
    if let Some(last) = same.last() {
        return after(last.end, false);
    }
    if let Some(prev) = block.iter().rfind(|p| p.key.section < key.section) {
        return after(prev.end, true);
    }
    let first = block[0].start;
    let eol = neighbour_line_ending(text, first);
    Edit::insert(first, format!("{statement}{eol}{eol}"))
}

/// The first import of a file: after the docstring, `__future__` imports
/// and header comments, one blank line above the code.
fn first_import(src: &SourceFile, statement: &str) -> Edit {
    let text = &src.text;
    let (at, seen_import) = imports_end(src);
    let eol = neighbour_line_ending(text, at);
    let mut lead = break_at_end(text, at, eol).to_string();
    // ruff format keeps one blank line between the module docstring and
    // the code after it.
    if !seen_import && right_after_docstring(src, at) {
        lead.push_str(eol);
    }
    // Keep code away from a new import block as isort does: two blank lines
    // above a def or class, one above other code.
    let blank = if seen_import || at >= text.len() {
        String::new()
    } else {
        let wanted = if next_is_definition(src, at) { 2 } else { 1 };
        let present = text[at..]
            .split_inclusive('\n')
            .take_while(|l| l.trim().is_empty())
            .count();
        eol.repeat(wanted - present.min(wanted))
    };
    Edit::insert(at, format!("{lead}{statement}{eol}{blank}"))
}

/// Whether `at` is the start of the line right below the module docstring.
fn right_after_docstring(src: &SourceFile, at: usize) -> bool {
    let root = src.tree.root_node();
    let mut cursor = root.walk();
    let first = root
        .named_children(&mut cursor)
        .find(|s| s.kind() != "comment");
    first.is_some_and(|d| is_docstring(d) && line_end(&src.text, d.end_byte()) == at)
}

/// A first import placed above a def ends with two blank lines (isort's
/// rule); when other code goes in at the same spot (the setup's module-level
/// call), one is what isort wants above it.
pub(crate) fn fit_blank_lines(imports: Vec<Edit>, body: &[Edit]) -> Vec<Edit> {
    let code_at = |at: usize| {
        body.iter().any(|b| {
            let code = b.content.trim_start();
            b.start == at
                && b.end == at
                && !["@", "def ", "async def ", "class "]
                    .iter()
                    .any(|d| code.starts_with(d))
        })
    };
    imports
        .into_iter()
        .map(|mut e| {
            let eol = if e.content.ends_with("\r\n") {
                "\r\n"
            } else {
                "\n"
            };
            if e.start == e.end && e.content.ends_with(&eol.repeat(3)) && code_at(e.start) {
                e.content.truncate(e.content.len() - eol.len());
            }
            e
        })
        .collect()
}

/// Whether the first statement at or after `at` defines a function or class.
pub(crate) fn next_is_definition(src: &SourceFile, at: usize) -> bool {
    let root = src.tree.root_node();
    let mut cursor = root.walk();
    root.named_children(&mut cursor)
        .filter(|s| s.kind() != "comment")
        .find(|s| s.start_byte() >= at)
        .is_some_and(|s| {
            matches!(
                s.kind(),
                "function_definition" | "class_definition" | "decorated_definition"
            )
        })
}

/// An import statement of the leading block: where its lines start (above
/// the comments that belong to it) and end, and its sort key.
struct Placed {
    start: usize,
    end: usize,
    key: crate::isort::SortKey,
}

/// The leading import block (what `imports_end` walks), in file order.
fn leading_block(src: &SourceFile, style: &Style) -> Vec<Placed> {
    let text = &src.text;
    let root = src.tree.root_node();
    let mut cursor = root.walk();
    let mut out: Vec<Placed> = Vec::new();
    let mut past_docstring = false;
    for stmt in root
        .named_children(&mut cursor)
        .filter(|s| s.kind() != "comment")
    {
        let Some(line) = import_line(src, stmt) else {
            if !past_docstring && out.is_empty() && is_docstring(stmt) {
                past_docstring = true;
                continue;
            }
            break;
        };
        let line_start = text[..stmt.start_byte()].rfind('\n').map_or(0, |i| i + 1);
        // Comments directly above an import belong to it (ruff moves them
        // with it); above the first one they may be the file's header.
        let start = match out.last() {
            Some(prev) => comments_above(text, line_start, prev.end),
            None => line_start,
        };
        out.push(Placed {
            start,
            end: line_end(text, stmt.end_byte()),
            key: style.key(&line),
        });
    }
    out
}

/// The start of the comment lines directly above `at`, not above `floor`.
fn comments_above(text: &str, mut at: usize, floor: usize) -> usize {
    while at > floor {
        let prev = text[..at - 1].rfind('\n').map_or(0, |i| i + 1);
        if prev < floor || !text[prev..at].trim_start().starts_with('#') {
            break;
        }
        at = prev;
    }
    at
}

/// What sorting sees of an import statement: its module, and the first of
/// its names in ruff's order.
fn import_line(src: &SourceFile, stmt: Node) -> Option<ImportLine> {
    match stmt.kind() {
        "future_import_statement" => Some(ImportLine::module("__future__", None)),
        "import_statement" => {
            let name = stmt.child_by_field_name("name")?;
            let (path, alias) = split_alias(src, name);
            Some(ImportLine::module(&path, alias.as_deref()))
        }
        "import_from_statement" => {
            let module: String = src
                .text_of(stmt.child_by_field_name("module_name")?)
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            let style = Style::default();
            let mut names = stmt
                .children_by_field_name("name", &mut stmt.walk())
                .map(|n| {
                    let (name, alias) = split_alias(src, n);
                    ImportLine::from(&module, &name, alias.as_deref())
                })
                .collect::<Vec<_>>();
            names.sort_by_cached_key(|l| style.key(l));
            Some(
                names
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| ImportLine::from(&module, "*", None)),
            )
        }
        _ => None,
    }
}

/// Where new import lines go: past the docstring, `__future__` imports and
/// the leading import block, else at the top (below a shebang or encoding
/// comment). Also tells whether there is a leading import block.
pub(crate) fn imports_end(src: &SourceFile) -> (usize, bool) {
    let text = &src.text;
    let root = src.tree.root_node();
    let mut cursor = root.walk();
    let mut after: Option<Node> = None;
    let mut seen_import = false;
    for stmt in root
        .named_children(&mut cursor)
        .filter(|s| s.kind() != "comment")
    {
        match stmt.kind() {
            "import_statement" | "import_from_statement" | "future_import_statement" => {
                seen_import = true;
                after = Some(stmt);
            }
            "expression_statement" if after.is_none() && is_docstring(stmt) => after = Some(stmt),
            _ => break,
        }
    }
    let at = after.map_or_else(
        || header_comments_end(text),
        |node| line_end(text, node.end_byte()),
    );
    (at, seen_import)
}

/// The line ending for a line inserted at `at` (a line start): that of the
/// line above, else of the line below, else the file's most common one. A
/// file that mixes endings keeps each region as it was.
fn neighbour_line_ending(text: &str, at: usize) -> &'static str {
    let above = &text[..at];
    if above.ends_with("\r\n") {
        return "\r\n";
    }
    if above.ends_with('\n') {
        return "\n";
    }
    match text[at..].find('\n') {
        Some(i) if text[..at + i].ends_with('\r') => "\r\n",
        Some(_) => "\n",
        None => crate::plan::file_line_ending(text),
    }
}

pub(crate) fn is_docstring(stmt: Node) -> bool {
    stmt.named_child_count() == 1
        && stmt
            .named_child(0)
            .is_some_and(|c| matches!(c.kind(), "string" | "concatenated_string"))
}

/// The offset just past the line ending of the line holding `pos`.
/// The line break that text inserted at `at` needs first: one when `at` is
/// the end of a file without a final newline, else none.
pub(crate) fn break_at_end<'e>(text: &str, at: usize, eol: &'e str) -> &'e str {
    if at == text.len() && !text.is_empty() && !text.ends_with('\n') {
        eol
    } else {
        ""
    }
}

pub(crate) fn line_end(text: &str, pos: usize) -> usize {
    match text[pos..].find('\n') {
        Some(i) => pos + i + 1,
        None => text.len(),
    }
}

/// Past a shebang and encoding comment on the first two lines, and past a
/// header comment block (a licence, say) that a blank line ends.
fn header_comments_end(text: &str) -> usize {
    let mut at = 0;
    for _ in 0..2 {
        let line = &text[at..line_end(text, at)];
        let trimmed = line.trim_start();
        if trimmed.starts_with("#!") || (trimmed.starts_with('#') && trimmed.contains("coding")) {
            at += line.len();
        } else {
            break;
        }
    }
    let mut block_end = at;
    while block_end < text.len()
        && text[block_end..]
            .trim_start_matches([' ', '\t'])
            .starts_with('#')
    {
        block_end = line_end(text, block_end);
    }
    if block_end > at && text[block_end..].starts_with(['\n', '\r']) {
        at = line_end(text, block_end); // past the blank line too
    }
    if at > 0 && !text[..at].ends_with('\n') {
        // A header comment without a newline at end of file: cannot insert after it cleanly.
        return text.len();
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edit::apply;
    use std::path::Path;

    fn add(before: &str) -> String {
        let src = SourceFile::parse(Path::new("m.py"), before.as_bytes().to_vec()).unwrap();
        let imports = Imports::collect(&src);
        let (local, edit) = imports.ensure(&src, "cashews", "cache", src.text.len());
        let out = apply(&src.text, &edit.into_iter().collect::<Vec<_>>()).unwrap();
        format!("{local}|{out}")
    }

    #[test]
    fn noop_when_imported() {
        assert_eq!(
            add("from cashews import cache\n"),
            "cache|from cashews import cache\n"
        );
        assert_eq!(
            add("from cashews import cache as c\n"),
            "c|from cashews import cache as c\n"
        );
        assert_eq!(
            add("from cashews import *\n"),
            "cache|from cashews import *\n"
        );
    }

    #[test]
    fn merges_into_existing_from_import() {
        assert_eq!(
            add("from cashews import Cache\nx = 1\n"),
            "cache|from cashews import Cache, cache\nx = 1\n"
        );
        // In ruff's order (order-by-type: classes before the rest).
        assert_eq!(
            add("from cashews import Cache, noself\n"),
            "cache|from cashews import Cache, cache, noself\n"
        );
        assert_eq!(
            add("from cashews import key_context  # ctx\n"),
            "cache|from cashews import cache, key_context  # ctx\n"
        );
    }

    /// A parenthesised block, one name a line: the name gets a line of its
    /// own in sorted position, in the block's indentation.
    #[test]
    fn merges_into_a_parenthesised_block_in_its_style() {
        assert_eq!(
            add("from cashews import (\n    Cache,\n    noself,\n)\n"),
            "cache|from cashews import (\n    Cache,\n    cache,\n    noself,\n)\n"
        );
        assert_eq!(
            add("from cashews import (\n  # the context\n  key_context,\n)\n"),
            "cache|from cashews import (\n  cache,\n  # the context\n  key_context,\n)\n"
        );
        assert_eq!(
            add("from cashews import (\r\n\tCache,\r\n\tCommand  # cmd\r\n)\r\n"),
            "cache|from cashews import (\r\n\tCache,\r\n\tCommand,  # cmd\r\n\tcache,\r\n)\r\n"
        );
        // Not one name a line: inline, in order.
        assert_eq!(
            add("from cashews import (\n    Cache\n    , noself\n)\n"),
            "cache|from cashews import (\n    Cache, cache\n    , noself\n)\n"
        );
        assert_eq!(
            add("from cashews import (Cache,\n    noself)\n"),
            "cache|from cashews import (Cache, cache,\n    noself)\n"
        );
    }

    fn add_with(pyproject: &str, text: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pyproject.toml"), pyproject).unwrap();
        let path = dir.path().join("m.py");
        let src = SourceFile::parse(&path, text.as_bytes().to_vec()).unwrap();
        let (_, edit) = Imports::collect(&src).ensure(&src, "cashews", "cache", src.text.len());
        apply(&src.text, &[edit.unwrap()]).unwrap()
    }

    /// Past the project's line length the merged statement is wrapped as
    /// ruff-format and ruff's isort write it.
    #[test]
    fn a_merged_line_past_the_line_length_is_wrapped() {
        let ruff = "[tool.ruff]\nline-length = 40\n";
        let before = "from cashews import Cache, key_context, noself  # noqa: F401\n\nx = 1\n";
        assert_eq!(
            add_with(ruff, before),
            "from cashews import (\n    Cache,\n    cache,\n    key_context,\n    noself,\n)  # noqa: F401\n\nx = 1\n"
        );
        // Exactly the line length fits (E501 counts `>`); black's setting counts too.
        let fits = "from cashews import Cache, noself\n";
        let black = "[tool.black]\nline-length = 40\n";
        assert_eq!(
            add_with(black, fits),
            "from cashews import Cache, cache, noself\n"
        );
        assert_eq!(
            add_with("[tool.black]\nline-length = 39\n", fits),
            "from cashews import (\n    Cache,\n    cache,\n    noself,\n)\n"
        );
        // The file's indentation and line ending; aliases kept as written.
        let tabs = "from cashews import Cache as C, noself\r\n\r\nif x:\r\n\tpass\r\n";
        assert_eq!(
            add_with(black, tabs),
            "from cashews import (\r\n\tCache as C,\r\n\tcache,\r\n\tnoself,\r\n)\r\n\r\nif x:\r\n\tpass\r\n"
        );
        // A parenthesised block stays one name a line whatever the length.
        let block = "from cashews import (\n    Cache,\n)\n";
        assert_eq!(
            add_with("[tool.ruff]\nline-length = 10\n", block),
            "from cashews import (\n    Cache,\n    cache,\n)\n"
        );
    }

    #[test]
    fn after_docstring_future_and_imports() {
        assert_eq!(
            add("\"\"\"Doc.\"\"\"\nfrom __future__ import annotations\nimport os\n\nx = 1\n"),
            "cache|\"\"\"Doc.\"\"\"\nfrom __future__ import annotations\nimport os\n\nfrom cashews import cache\n\nx = 1\n"
        );
        assert_eq!(
            add("\"\"\"Doc.\"\"\"\nx = 1\n"),
            "cache|\"\"\"Doc.\"\"\"\n\nfrom cashews import cache\n\nx = 1\n"
        );
        // One blank line below the docstring already: kept as it is.
        assert_eq!(
            add("\"\"\"Doc.\"\"\"\n\nx = 1\n"),
            "cache|\"\"\"Doc.\"\"\"\n\nfrom cashews import cache\n\nx = 1\n"
        );
    }

    #[test]
    fn top_of_file_below_header_comments() {
        assert_eq!(
            add("#!/usr/bin/env python\n# -*- coding: utf-8 -*-\nx = 1\n"),
            "cache|#!/usr/bin/env python\n# -*- coding: utf-8 -*-\nfrom cashews import cache\n\nx = 1\n"
        );
        assert_eq!(add("x = 1"), "cache|from cashews import cache\n\nx = 1");
        assert_eq!(
            add("# Licence.\n# More.\n\nx = 1\n"),
            "cache|# Licence.\n# More.\n\nfrom cashews import cache\n\nx = 1\n"
        );
        assert_eq!(
            add("# about x\nx = 1\n"),
            "cache|from cashews import cache\n\n# about x\nx = 1\n"
        );
        assert_eq!(
            add("import os"),
            "cache|import os\n\nfrom cashews import cache\n"
        );
    }

    #[test]
    fn force_single_line_adds_its_own_line() {
        let dir = tempfile::tempdir().unwrap();
        let toml = "[tool.ruff.lint.isort]\nforce-single-line = true\n";
        std::fs::write(dir.path().join("pyproject.toml"), toml).unwrap();
        let path = dir.path().join("m.py");
        let text = "from cashews import Cache\nfrom cashews import noself\n";
        let src = SourceFile::parse(&path, text.as_bytes().to_vec()).unwrap();
        let (_, edit) = Imports::collect(&src).ensure(&src, "cashews", "cache", src.text.len());
        assert_eq!(
            apply(&src.text, &[edit.unwrap()]).unwrap(),
            "from cashews import Cache\nfrom cashews import cache\nfrom cashews import noself\n"
        );
    }

    #[test]
    fn crlf_file_gets_crlf_import() {
        assert_eq!(
            add("import os\r\nx = 1\r\n"),
            "cache|import os\r\n\r\nfrom cashews import cache\r\nx = 1\r\n"
        );
    }

    #[test]
    fn mixed_endings_follow_the_neighbouring_line() {
        // Most lines are LF, but the import lands below a CRLF line.
        assert_eq!(
            add("import os\r\nx = 1\ny = 2\nz = 3\n"),
            "cache|import os\r\n\r\nfrom cashews import cache\r\nx = 1\ny = 2\nz = 3\n"
        );
        // At the top, it takes the ending of the line below.
        assert_eq!(
            add("x = 1\r\ny = 2\nz = 3\n"),
            "cache|from cashews import cache\r\n\r\nx = 1\r\ny = 2\nz = 3\n"
        );
    }

    #[test]
    fn name_taken_by_another_cache() {
        assert_eq!(
            add("from functools import cache\n"),
            "cashews_cache|from functools import cache\n\nfrom cashews import cache as cashews_cache\n"
        );
    }

    #[test]
    fn a_name_the_code_reads_or_binds_is_in_use() {
        let in_use = |text: &str| {
            let src = SourceFile::parse(Path::new("m.py"), text.as_bytes().to_vec()).unwrap();
            name_in_use(&src, "cache")
        };
        // `@cache` without its import: importing cashews' would change it.
        assert!(in_use("@cache(ttl='1h')\nasync def f():\n    return 1\n"));
        assert!(in_use(
            "from helpers import *\n\nasync def f():\n    return cache.get(1)\n"
        ));
        assert!(in_use("def f():\n    global cache\n    cache = 1\n"));
        assert!(in_use("def f(x=cache):\n    return x\n"));
        assert!(in_use("class A:\n    cache = None\n"));
        assert!(in_use(
            "try:\n    import x\nexcept ImportError:\n    cache = None\n"
        ));
        // Locals, members, keywords, module paths, comments and strings are not.
        assert!(!in_use("def f(cache):\n    return cache\n"));
        assert!(!in_use("def f():\n    cache = 1\n    return cache\n"));
        assert!(!in_use(
            "async def f(*, cache: dict = None):\n    return cache\n"
        ));
        assert!(!in_use("def f(xs):\n    return [cache for cache in xs]\n"));
        assert!(!in_use("g = lambda cache: cache\n"));
        assert!(!in_use("x.cache = 1\nf(cache=2)\n"));
        assert!(!in_use("from app.cache import get\n# cache\ns = 'cache'\n"));
    }

    #[test]
    fn module_import_added_once() {
        let src = SourceFile::parse(
            Path::new("m.py"),
            b"from httpx import AsyncClient\nx = 1\n".to_vec(),
        )
        .unwrap();
        let imports = Imports::collect(&src);
        let (local, edit) = imports.ensure_module(&src, "httpx");
        assert_eq!(local, "httpx");
        let out = apply(&src.text, &[edit.unwrap()]).unwrap();
        assert_eq!(out, "import httpx\nfrom httpx import AsyncClient\nx = 1\n");
        let src = SourceFile::parse(Path::new("m.py"), b"import httpx as h\n".to_vec()).unwrap();
        assert_eq!(
            Imports::collect(&src).ensure_module(&src, "httpx"),
            ("h".to_string(), None)
        );
    }

    #[test]
    fn ensure_module_binds_once() {
        let module = |before: &str| {
            let src = SourceFile::parse(Path::new("m.py"), before.as_bytes().to_vec()).unwrap();
            let imports = Imports::collect(&src);
            let (local, edit) = imports.ensure_module(&src, "os");
            let out = apply(&src.text, &edit.into_iter().collect::<Vec<_>>()).unwrap();
            format!("{local}|{out}")
        };
        assert_eq!(module("import os\n"), "os|import os\n");
        assert_eq!(module("import os as o\n"), "o|import os as o\n");
        assert_eq!(module("import sys\n"), "os|import os\nimport sys\n");
        assert_eq!(
            module("from x import os\n"),
            "os_module|import os as os_module\n\nfrom x import os\n"
        );
        assert_eq!(module("x = 1\n"), "os|import os\n\nx = 1\n");
    }

    #[test]
    fn coalesce_sorts_new_lines_at_one_spot() {
        let src = SourceFile::parse(Path::new("m.py"), b"x = 1\n".to_vec()).unwrap();
        let edits = vec![
            Edit::insert(0, "from cashews import cache\n\n"),
            Edit::insert(0, "import os\n\n"),
            Edit::insert(0, "from cashews import cache\n\n"),
            Edit::insert(0, "from contextlib import asynccontextmanager\n\n"),
            Edit::insert(9, ", b"),
        ];
        assert_eq!(
            coalesce(&src, edits),
            [
                Edit::insert(
                    0,
                    "import os\nfrom contextlib import asynccontextmanager\n\nfrom cashews import cache\n\n"
                ),
                Edit::insert(9, ", b"),
            ]
        );
        // A new first section above a line that joins the next one.
        let crlf = vec![
            Edit::insert(3, "from app import x\r\n"),
            Edit::insert(3, "import os\r\n\r\n"),
        ];
        assert_eq!(
            coalesce(&src, crlf),
            [Edit::insert(3, "import os\r\n\r\nfrom app import x\r\n")]
        );
    }

    #[test]
    fn new_imports_go_to_their_section_in_sorted_order() {
        let add_os = |before: &str| {
            let src = SourceFile::parse(Path::new("m.py"), before.as_bytes().to_vec()).unwrap();
            let (_, edit) = Imports::collect(&src).ensure_module(&src, "os");
            apply(&src.text, &edit.into_iter().collect::<Vec<_>>()).unwrap()
        };
        // The case: `import os` went below `from app import ...`.
        assert_eq!(
            add_os("from fastapi import FastAPI\n\nfrom src import catalog\n\napp = 1\n"),
            "import os\n\nfrom fastapi import FastAPI\n\nfrom src import catalog\n\napp = 1\n"
        );
        assert_eq!(
            add_os("import sys\nfrom pathlib import Path\n\nimport httpx\n"),
            "import os\nimport sys\nfrom pathlib import Path\n\nimport httpx\n"
        );
        assert_eq!(
            add_os("import asyncio\n# why sys\nimport sys\n"),
            "import asyncio\nimport os\n# why sys\nimport sys\n"
        );
        assert_eq!(
            add_os("from __future__ import annotations\n\nimport httpx\n"),
            "from __future__ import annotations\n\nimport os\n\nimport httpx\n"
        );
        assert_eq!(
            add("import os\n\nfrom src import db\n"),
            "cache|import os\n\nfrom cashews import cache\n\nfrom src import db\n"
        );
        assert_eq!(
            add("import httpx\nfrom fastapi import APIRouter\n"),
            "cache|import httpx\nfrom cashews import cache\nfrom fastapi import APIRouter\n"
        );
    }

    #[test]
    fn resolves_aliases() {
        let src = SourceFile::parse(
            Path::new("m.py"),
            b"import httpx as h\nfrom subprocess import run\nimport os.path\n".to_vec(),
        )
        .unwrap();
        let i = Imports::collect(&src);
        assert_eq!(i.resolve("h.get"), "httpx.get");
        assert_eq!(i.resolve("run"), "subprocess.run");
        assert_eq!(i.resolve("os.path.join"), "os.path.join");
        assert_eq!(i.resolve("local.x"), "local.x");
    }
}
