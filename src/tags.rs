//! Invalidation edits. When functions of the project write the model or
//! table a cached read depends on (`invalidate::analyse`), the read gets
//! tags and each writer deletes them after its write:
//!
//! - the family tag, the resource's name (`"product"`), always: a writer
//!   whose values do not name the entry drops the whole family;
//! - an entry tag (`"product:{product_id}"`) when one key input names the
//!   row: a parameter `product_id` / `id` / `pk`, or the only input;
//! - in an async writer, `await cache.delete_tags(f"product:{product_id}")`
//!   when it has that parameter and its write uses it, else
//!   `await cache.delete_tags("product")`: after the write's commit (the
//!   next `await ….commit()` of its block), after the `async with
//!   ….begin():` block when the write is in that transaction, else right
//!   after the write. A tag from the writer's values is never guessed.
//!
//! Only writers whose own line decides the model or table written are
//! edited: the statement itself, or the call that hands a generic base's
//! `save(obj)` the repository of one model (`await self.authors.save(a)`);
//! their callers reach the same line, and a shared class is not evidence
//! enough to edit code.

use std::path::PathBuf;

use serde::Serialize;
use tree_sitter::Node;

use crate::edit::Edit;
use crate::function::Function;
use crate::imports::line_end;
use crate::invalidate::{Invalidation, Writer};
use crate::key::Key;
use crate::project::Index;
use crate::source::SourceFile;

/// One writer's invalidation, as the output shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct InvalidationEdit {
    /// The writer, `path::qualname`.
    pub(crate) writer: String,
    /// The line the new statement follows (in the file as it was).
    pub(crate) after_line: usize,
    /// The statement added; empty when none could be.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) code: String,
    pub(crate) why: String,
}

/// A writer file's edits: the cache import it needs and the statement that
/// deletes the tags, at one place. Two reads of one table ask the same
/// writer for deletes at the same place: `merge` makes them one statement.
#[derive(Debug, Clone)]
pub(crate) struct WriterEdit {
    pub(crate) path: PathBuf,
    pub(crate) imports: Vec<Edit>,
    /// Where the statement goes (a line start), and its indentation.
    pub(crate) at: usize,
    lead: String,
    indent: String,
    cache: String,
    eol: &'static str,
    /// `(family, entry tag)`: `("stock", Some("f\"stock:{sku}\""))`; None deletes the family.
    tags: Vec<(String, Option<String>)>,
    /// The delete runs on every call: no `if`, loop or `except` around it.
    always: bool,
    /// A write that is returned (`return await repo.save(x)`): the return's
    /// start, its value's start and the name the value is kept in until the
    /// delete has run.
    returned: Option<(usize, usize, String)>,
}

impl WriterEdit {
    /// Folds `other`'s tags in when it deletes at the same place.
    pub(crate) fn merge(&mut self, other: &WriterEdit) -> bool {
        if self.path != other.path || self.at != other.at {
            return false;
        }
        for t in &other.tags {
            if !self.tags.contains(t) {
                self.tags.push(t.clone());
            }
        }
        true
    }

    /// The tags as `delete_tags` arguments: a family deleted whole makes its
    /// entry tags redundant.
    fn arguments(&self) -> Vec<String> {
        let whole = |f: &str| self.tags.iter().any(|(g, e)| g == f && e.is_none());
        let mut out: Vec<String> = Vec::new();
        for (family, entry) in &self.tags {
            let arg = match entry {
                Some(e) if !whole(family) => e.clone(),
                _ => format!("\"{family}\""),
            };
            if !out.contains(&arg) {
                out.push(arg);
            }
        }
        out
    }

    pub(crate) fn code(&self) -> String {
        format!(
            "await {}.delete_tags({})",
            self.cache,
            self.arguments().join(", ")
        )
    }

    pub(crate) fn body(&self) -> Vec<Edit> {
        let (lead, indent, eol) = (&self.lead, &self.indent, self.eol);
        let Some((start, value, name)) = &self.returned else {
            return vec![Edit::insert(
                self.at,
                format!("{lead}{indent}{}{eol}", self.code()),
            )];
        };
        vec![
            Edit::replace(*start, *value, format!("{name} = ")),
            Edit::insert(
                self.at,
                format!(
                    "{lead}{indent}{}{eol}{indent}return {name}{eol}",
                    self.code()
                ),
            ),
        ]
    }
}

/// The tags for the read, what each writer gets, and the edits to make.
#[derive(Default)]
pub(crate) struct Planned {
    pub(crate) tags: Vec<String>,
    pub(crate) shown: Vec<InvalidationEdit>,
    pub(crate) edits: Vec<WriterEdit>,
    /// The writers given a delete that runs on every call, `(file,
    /// qualname, guarded)`, unguarded first: `--emit-test` calls one.
    pub(crate) edited: Vec<(PathBuf, String, bool)>,
    /// Those whose delete sits under an `if`, a loop or an `except`: a test
    /// with fake inputs may not reach it.
    pub(crate) conditional: Vec<String>,
}

/// The read's resource families and the key input naming an entry.
struct Family {
    /// `model Product` or `table stock`.
    resource: String,
    /// `product`, `stock`.
    name: String,
    /// The read's parameter that names one entry (`product_id`).
    entry: Option<String>,
}

pub(crate) fn plan(
    index: &Index,
    inv: &Invalidation,
    key: &Key,
    library_cache: Option<&(String, String)>,
) -> Planned {
    let writers: Vec<&Writer> = inv.writers.iter().filter(|w| edited(w)).collect();
    let mut families: Vec<Family> = Vec::new();
    for w in &writers {
        if families.iter().all(|f| f.resource != w.resource) {
            let name = family_name(&w.resource);
            let entry = entry_input(&key.inputs, &name);
            families.push(Family {
                resource: w.resource.clone(),
                name,
                entry,
            });
        }
    }
    let mut out = Planned::default();
    for f in &families {
        out.tags.push(f.name.clone());
        if let Some(p) = &f.entry {
            out.tags.push(format!("{}:{{{p}}}", f.name));
        }
    }
    for w in writers {
        let Some(family) = families.iter().find(|f| f.resource == w.resource) else {
            continue;
        };
        let (shown, edits) = writer_edit(index, w, family, library_cache);
        // A writer deleting already (an earlier run's edit) counts as one
        // given a delete: a regenerated test is the same as the first.
        let always = match edits.is_empty() {
            true => existing_delete(index, w),
            false => Some(edits.iter().all(|e| e.always)),
        };
        let guarded = guarded(index, w);
        match always {
            Some(true) => out
                .edited
                .push((w.path.clone(), w.qualname.clone(), guarded)),
            Some(false) => out.conditional.push(w.qualname.clone()),
            None => {}
        }
        out.shown.extend(shown);
        out.edits.extend(edits);
    }
    in_test_order(index, &mut out.edited);
    out
}

/// The writers a test reaches with fake inputs first, then those needing
/// the fewest of them (each fake is a chance to trip a check). `plan` and
/// `deleting_writers` both order by it: a regenerated test calls the
/// writer the first one did.
fn in_test_order(index: &Index, writers: &mut [(PathBuf, String, bool)]) {
    writers.sort_by_cached_key(|(path, qualname, guarded)| {
        (*guarded, inputs_needed(index, path, qualname))
    });
}

/// How many arguments a call of the writer must pass: its parameters
/// without a default, the receiver and `*args`/`**kwargs` aside.
fn inputs_needed(index: &Index, path: &std::path::Path, qualname: &str) -> usize {
    let Some((m, site)) = index
        .module(path)
        .and_then(|m| m.function(qualname).map(|s| (m, s)))
    else {
        return usize::MAX;
    };
    Function::new(m.src, site)
        .params
        .iter()
        .filter(|p| {
            p.default.is_none()
                && !matches!(
                    p.kind,
                    crate::function::ParamKind::Receiver
                        | crate::function::ParamKind::Args
                        | crate::function::ParamKind::Kwargs
                )
        })
        .count()
}

/// A `raise` comes before the writer's write (`if taken: raise ...`): a
/// test with fake inputs may stop there, so another writer is the one it
/// calls. Read off the writer as it is, edited or not, so a regenerated
/// test calls the same one.
fn guarded(index: &Index, w: &Writer) -> bool {
    let Some(m) = index.module(&w.path) else {
        return false;
    };
    let Some(site) = m.function(&w.qualname) else {
        return false;
    };
    let g = Function::new(m.src, site);
    statement_at(&g, w.line)
        .is_some_and(|write| raises_before(m.src, g.site.node, write.start_byte()))
}

/// Whether an `if X: raise ...` before byte `at` raises when `X` is a
/// fake object (truthy, not None): `if name_taken: raise`, not `if not
/// found: raise` or `if row is None: raise`.
fn raises_before(src: &SourceFile, function: Node, at: usize) -> bool {
    let mut stack = vec![function];
    while let Some(n) = stack.pop() {
        if n.start_byte() >= at {
            continue;
        }
        if n.kind() == "if_statement"
            && let (Some(test), Some(then)) = (
                n.child_by_field_name("condition"),
                n.child_by_field_name("consequence"),
            )
            && raises_directly(then)
            && truthy_for_a_fake(src, test)
        {
            return true;
        }
        let mut cursor = n.walk();
        stack.extend(n.named_children(&mut cursor));
    }
    false
}

fn raises_directly(block: Node) -> bool {
    let mut cursor = block.walk();
    block
        .named_children(&mut cursor)
        .any(|s| s.kind() == "raise_statement")
}

fn truthy_for_a_fake(src: &SourceFile, test: Node) -> bool {
    match test.kind() {
        "not_operator" => false,
        "comparison_operator" => {
            let text = src.text_of(test);
            !(text.ends_with("is None") || text.ends_with("== None"))
        }
        _ => true,
    }
}

/// A writer whose own line decides the data (its statement, or its call
/// of a repository of that model), for a model or table: a class alone is
/// not evidence enough to edit code.
fn edited(w: &Writer) -> bool {
    w.here
        // A write-named call (`users_service.update(...)`) counts; a value
        // changed in place (`data.tags = ...`) is not yet a write.
        && matches!(w.category.as_str(), "db_write" | "unknown")
        && ["model ", "table ", "generic "]
            .iter()
            .any(|kind| w.resource.starts_with(kind))
}

/// `model OrderItem` -> `order_item`; `table stock` -> `stock`.
fn family_name(resource: &str) -> String {
    let name = resource.split_once(' ').map_or(resource, |(_, n)| n);
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The key input that names one entry of the family: `{family}_id`, `id`,
/// `pk`, `{family}_pk`, or the only plain input.
fn entry_input(inputs: &[String], family: &str) -> Option<String> {
    let plain: Vec<&String> = inputs
        .iter()
        .filter(|i| !i.contains(['.', '[', ':']))
        .collect();
    let named = [
        format!("{family}_id"),
        format!("{family}_pk"),
        "id".to_string(),
        "pk".to_string(),
    ];
    if let Some(p) = named.iter().find(|n| plain.iter().any(|p| p == n)) {
        return Some(p.clone());
    }
    (inputs.len() == 1 && plain.len() == 1).then(|| plain[0].clone())
}

fn writer_edit(
    index: &Index,
    w: &Writer,
    family: &Family,
    library_cache: Option<&(String, String)>,
) -> (Vec<InvalidationEdit>, Vec<WriterEdit>) {
    let mut shown = InvalidationEdit {
        writer: w.target.clone(),
        after_line: w.line,
        code: String::new(),
        why: String::new(),
    };
    let Some(m) = index.module(&w.path) else {
        shown.why = "its file could not be read again".into();
        return (vec![shown], Vec::new());
    };
    let Some(site) = m.function(&w.qualname) else {
        shown.why = "its function could not be found again".into();
        return (vec![shown], Vec::new());
    };
    let g = Function::new(m.src, site);
    let src = m.src;
    let Some(write) = statement_at(&g, w.line) else {
        shown.why = "the write statement could not be found again".into();
        return (vec![shown], Vec::new());
    };
    // The inner function is a writer of its own (a CLI command's
    // coroutine): it gets the delete, after the write it runs.
    if matches!(
        write.kind(),
        "function_definition" | "class_definition" | "decorated_definition"
    ) {
        shown.why = "the write runs in a function defined inside it, which gets the delete".into();
        return (vec![shown], Vec::new());
    }
    if !g.is_async {
        shown.why = "a sync writer cannot await cache.delete_tags(...): call it from the async code that runs this write".into();
        return (vec![shown], Vec::new());
    }
    if src.text_of(g.site.node).contains("delete_tags(") {
        shown.why = "it already deletes tags".into();
        return (vec![shown], Vec::new());
    }
    let choice = crate::rewrite::cache_object(index, m, g.site.node.start_byte(), library_cache);
    let mut out = (Vec::new(), Vec::new());
    for site in write_sites(src, &g, w, write) {
        let mut shown = shown.clone();
        let edit = edit_at(src, &g, w, family, &choice, site, &mut shown);
        out.0.push(shown);
        out.1.extend(edit);
    }
    out
}

/// The writes that each get a delete, with the place one goes when it is
/// not the write's own: one statement holding all of the writer's writes
/// (`if`/`else`), else each write its own when every branch returns.
fn write_sites<'t>(
    src: &SourceFile,
    g: &Function<'t>,
    w: &Writer,
    write: Node<'t>,
) -> Vec<Site<'t>> {
    let others: Vec<Node> = w
        .lines
        .iter()
        .filter(|l| **l != w.line)
        .filter_map(|l| statement_at(g, *l))
        .filter(|s| s.id() != write.id())
        .collect();
    if others.is_empty() || write.kind() == "return_statement" {
        return vec![(write, None)];
    }
    let first = after_commit(src, write).0;
    let places: Vec<Node> = others.iter().map(|s| after_commit(src, *s).0).collect();
    match holding(first, &places) {
        Some(n) if n.id() == first.id() => vec![(write, None)],
        Some(n) => vec![(
            write,
            Some((n, "after the statement that holds each of its writes")),
        )],
        // Every branch returns: a delete in each.
        None => std::iter::once(write)
            .chain(others)
            .map(|s| (s, None))
            .collect(),
    }
}

/// One write of `g` and where its delete goes when not after it.
type Site<'t> = (Node<'t>, Option<(Node<'t>, &'static str)>);

/// The delete after one write of `g` (or at the place its site names).
fn edit_at<'t>(
    src: &SourceFile,
    g: &Function<'t>,
    w: &Writer,
    family: &Family,
    choice: &crate::rewrite::CacheChoice,
    (write, place): Site<'t>,
    shown: &mut InvalidationEdit,
) -> Option<WriterEdit> {
    let returned = match write.kind() {
        "return_statement" => match returned(src, g, write) {
            Some(r) => Some(r),
            None => {
                shown.why = "the write is returned inside its transaction: nothing after it runs; add the delete after the transaction".into();
                return None;
            }
        },
        _ => None,
    };
    let (after, when) = match (&returned, place) {
        (Some(_), _) => (write, "kept in a name, the delete before the return"),
        (None, Some(place)) => place,
        (None, None) => after_commit(src, write),
    };
    let (tag, how) = writer_tag(src, g, write, family);
    let at = line_end(&src.text, after.end_byte());
    let eol = crate::plan::file_line_ending(&src.text);
    let edit = WriterEdit {
        path: w.path.clone(),
        imports: choice.import.clone().into_iter().collect(),
        at,
        lead: crate::imports::break_at_end(&src.text, at, eol).to_string(),
        indent: line_indent(&src.text, after.start_byte()),
        cache: choice.local.clone(),
        eol,
        tags: vec![(family.name.clone(), tag)],
        always: unconditional(after),
        returned,
    };
    shown.after_line = after.end_position().row + 1;
    shown.code = edit.code();
    shown.why = format!("{when}; {how}");
    Some(edit)
}

/// `return await repo.save(x)` outside a transaction: where the return
/// starts, where its value starts, and a name for the value the function
/// does not use yet.
fn returned(src: &SourceFile, g: &Function, stmt: Node) -> Option<(usize, usize, String)> {
    let value = stmt.named_child(0)?;
    let mut node = stmt;
    while let Some(parent) = node.parent() {
        if parent.kind() == "function_definition" {
            break;
        }
        if parent.kind() == "with_statement" {
            let head = src.text_of(parent);
            let head = head.split(':').next().unwrap_or(head);
            if head.contains(".begin(") || head.contains("transaction(") {
                return None;
            }
        }
        node = parent;
    }
    let body = src.text_of(g.site.node);
    let name = ["result", "written", "saved"]
        .into_iter()
        .find(|n| !mentions_word(body, n))?;
    Some((stmt.start_byte(), value.start_byte(), name.to_string()))
}

/// The writers of `inv` that call `delete_tags(...)` already: those whose
/// delete runs on every call, `(file, qualname)`, and the others' names.
pub(crate) fn deleting_writers(
    index: &Index,
    inv: &Invalidation,
) -> (Vec<(PathBuf, String)>, Vec<String>) {
    let mut always = Vec::new();
    let mut conditional = Vec::new();
    for w in inv.writers.iter().filter(|w| edited(w)) {
        match existing_delete(index, w) {
            Some(true) => always.push((w.path.clone(), w.qualname.clone(), guarded(index, w))),
            Some(false) => conditional.push(w.qualname.clone()),
            None => {}
        }
    }
    in_test_order(index, &mut always);
    (
        always.into_iter().map(|(p, q, _)| (p, q)).collect(),
        conditional,
    )
}

/// For a writer that calls `delete_tags(...)` already: whether that call
/// runs on every call of it (None when it has none).
fn existing_delete(index: &Index, w: &Writer) -> Option<bool> {
    let m = index.module(&w.path)?;
    let g = Function::new(m.src, m.function(&w.qualname)?);
    let call = g.body.calls.iter().find(|c| {
        c.child_by_field_name("function")
            .is_some_and(|f| m.src.text_of(f).ends_with("delete_tags"))
    })?;
    Some(unconditional(*call))
}

/// Whether `stmt` runs on every call of its function that does not raise:
/// no branch, loop or `except` between it and the function's body.
fn unconditional(stmt: Node) -> bool {
    let mut node = stmt;
    while let Some(parent) = node.parent() {
        match parent.kind() {
            "function_definition" => return true,
            "if_statement" | "elif_clause" | "else_clause" | "for_statement"
            | "while_statement" | "except_clause" | "match_statement" | "case_clause" => {
                return false;
            }
            _ => node = parent,
        }
    }
    true
}

/// The statement of `g`'s body that holds line `line` (1-based), the
/// innermost one directly in a block.
fn statement_at<'t>(g: &Function<'t>, line: usize) -> Option<Node<'t>> {
    let row = line.checked_sub(1)?;
    let body = g.site.node.child_by_field_name("body")?;
    let mut block = body;
    loop {
        let mut cursor = block.walk();
        let stmt = block
            .named_children(&mut cursor)
            .find(|s| s.start_position().row <= row && row <= s.end_position().row)?;
        match inner_block(stmt, row) {
            Some(b) => block = b,
            None => return Some(stmt),
        }
    }
}

/// The block of a compound statement (`if`, `with`, `try`, `for`, its
/// clauses) that holds `row`, if the statement is one.
fn inner_block(stmt: Node, row: usize) -> Option<Node> {
    if !matches!(
        stmt.kind(),
        "if_statement" | "with_statement" | "try_statement" | "for_statement" | "while_statement"
    ) {
        return None;
    }
    let mut stack = vec![stmt];
    while let Some(n) = stack.pop() {
        let mut cursor = n.walk();
        for c in n.named_children(&mut cursor) {
            if c.start_position().row > row || c.end_position().row < row {
                continue;
            }
            if c.kind() == "block" {
                return Some(c);
            }
            if matches!(
                c.kind(),
                "elif_clause" | "else_clause" | "except_clause" | "finally_clause"
            ) {
                stack.push(c);
            }
        }
    }
    None
}

/// Where the delete goes: after the block's next commit or flush (`await
/// session.commit()`, `await session_flush(session)`), after the `async
/// with ….begin():` that holds the write, else after the write. A write
/// built into a name first (`stmt = update(User)…`) is where that name is
/// last used in the block (`await session.execute(stmt)`).
fn after_commit<'t>(src: &SourceFile, write: Node<'t>) -> (Node<'t>, &'static str) {
    let write = executed(src, write);
    let mut next = write.next_named_sibling();
    while let Some(s) = next {
        let text = src.text_of(s);
        if s.kind() == "expression_statement"
            && (text.contains("commit(") || text.contains("flush("))
        {
            return (s, "after the commit (or flush)");
        }
        next = s.next_named_sibling();
    }
    let mut node = write;
    let mut in_transaction = None;
    while let Some(block) = node.parent().filter(|b| b.kind() == "block") {
        let Some(owner) = block.parent() else { break };
        if owner.kind() == "with_statement"
            && owner
                .child_by_field_name("body")
                .is_some_and(|b| b.id() == block.id())
        {
            let head = &src.text[owner.start_byte()..block.start_byte()];
            if head.contains(".begin(") || head.contains("transaction(") {
                in_transaction = Some(owner);
            }
        }
        if owner.kind() == "function_definition" {
            break;
        }
        node = owner;
    }
    match in_transaction {
        Some(with) => (with, "after the transaction that holds the write commits"),
        None => (
            write,
            "right after the write (nothing in this function commits: if a caller commits later, a read in between can store the old value again until the TTL ends)",
        ),
    }
}

/// The statement after which every place in `places` and `first` has
/// run: `first` when it holds them, else their common statement (a block's
/// last statement holding one of them). None when that statement never
/// ends normally (both branches return).
fn holding<'t>(first: Node<'t>, places: &[Node<'t>]) -> Option<Node<'t>> {
    let within = |outer: Node, inner: &Node| {
        outer.start_byte() <= inner.start_byte() && inner.end_byte() <= outer.end_byte()
    };
    let mut node = first;
    while !places.iter().all(|p| within(node, p)) {
        node = node
            .parent()
            .filter(|p| p.kind() != "function_definition")?;
    }
    if node.kind() == "block" {
        let mut cursor = node.walk();
        let last = node
            .named_children(&mut cursor)
            .filter(|s| within(*s, &first) || places.iter().any(|p| within(*s, p)))
            .last();
        return last;
    }
    while let Some(parent) = node.parent().filter(|p| p.kind() != "block") {
        node = parent;
    }
    (!every_branch_leaves(node)).then_some(node)
}

/// `if …: return a` / `else: return b`: nothing after the statement runs.
fn every_branch_leaves(stmt: Node) -> bool {
    if stmt.kind() != "if_statement" {
        return false;
    }
    let mut cursor = stmt.walk();
    let clauses: Vec<Node> = stmt.named_children(&mut cursor).collect();
    let has_else = clauses.iter().any(|c| c.kind() == "else_clause");
    let leaves = |block: Node| {
        let last = block.named_child(block.named_child_count().saturating_sub(1));
        last.is_some_and(|l| matches!(l.kind(), "return_statement" | "raise_statement"))
    };
    let blocks = std::iter::once(stmt.child_by_field_name("consequence"))
        .chain(clauses.iter().map(|c| {
            c.child_by_field_name("consequence")
                .or_else(|| c.child_by_field_name("body"))
        }))
        .flatten();
    has_else && blocks.into_iter().all(leaves)
}

/// The statement that runs a write: the write itself, or, when it only
/// binds a name (`stmt = update(User).where(…)`), the last later statement
/// of its block that uses that name.
fn executed<'t>(src: &SourceFile, write: Node<'t>) -> Node<'t> {
    let bound = write
        .named_child(0)
        .filter(|a| a.kind() == "assignment")
        .and_then(|a| a.child_by_field_name("left"))
        .filter(|l| l.kind() == "identifier");
    let Some(name) = bound.map(|l| src.text_of(l)) else {
        return write;
    };
    let mut last = write;
    let mut next = write.next_named_sibling();
    while let Some(s) = next {
        if s.kind() != "return_statement" && mentions_word(src.text_of(s), name) {
            last = s;
        }
        next = s.next_named_sibling();
    }
    last
}

/// The tag the writer deletes: the entry's, from its own parameter of the
/// read's name that its write uses; else (None) the family's.
fn writer_tag(
    src: &SourceFile,
    g: &Function,
    write: Node,
    family: &Family,
) -> (Option<String>, String) {
    if let Some(p) = &family.entry
        && g.param(p).is_some()
        && mentions_word(src.text_of(write), p)
    {
        return (
            Some(format!("f\"{}:{{{p}}}\"", family.name)),
            format!("its `{p}` names the entry the read caches"),
        );
    }
    // `author: Author` for a read keyed by `author_id`: the row's own id.
    if let (Some(p), Some(model)) = (&family.entry, family.resource.strip_prefix("model "))
        && (p == "id" || *p == format!("{}_id", family.name))
        && let Some(q) = g.params.iter().find(|q| {
            q.annotation
                .as_deref()
                .is_some_and(|a| is_the_model(a, model))
                && mentions_word(src.text_of(write), &q.name)
        })
    {
        let q = &q.name;
        return (
            Some(format!("f\"{}:{{{q}.id}}\"", family.name)),
            format!("its `{q}` is the {model} whose id the read's `{p}` names"),
        );
    }
    let why = match &family.entry {
        Some(p) => format!(
            "none of its values is the read's `{p}`: the whole `{}` family is dropped",
            family.name
        ),
        None => format!(
            "the read caches no single entry: the whole `{}` family is dropped",
            family.name
        ),
    };
    (None, why)
}

/// `Author`, `m.Author`, `Author | None`, `Optional[Author]`: an instance
/// of the model itself, whose `.id` is the row's (not `ModelDictT[Author]`,
/// which may be a dict).
fn is_the_model(annotation: &str, model: &str) -> bool {
    let a = annotation.trim();
    let a = a
        .strip_prefix("Optional[")
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(a);
    let a = a.strip_suffix("| None").map_or(a, str::trim);
    let a = a.trim_matches(|c| c == '"' || c == '\'');
    a.rsplit('.').next() == Some(model)
}

fn mentions_word(text: &str, word: &str) -> bool {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

fn line_indent(text: &str, at: usize) -> String {
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    text[start..]
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_names_are_snake_case() {
        assert_eq!(family_name("model OrderItem"), "order_item");
        assert_eq!(family_name("model Product"), "product");
        assert_eq!(family_name("table stock"), "stock");
    }

    #[test]
    fn the_entry_is_named_or_alone() {
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            entry_input(&v(&["product_id", "lang"]), "product").as_deref(),
            Some("product_id")
        );
        assert_eq!(entry_input(&v(&["sku"]), "stock").as_deref(), Some("sku"));
        assert_eq!(entry_input(&v(&["page", "size"]), "product"), None);
        assert_eq!(entry_input(&v(&["self._host"]), "product"), None);
        assert_eq!(entry_input(&v(&[]), "supplier"), None);
    }

    /// The fuzzer's path (`rewrite_text`, the file as its own project)
    /// makes the writers' edits too, so it mutates and re-parses them.
    #[test]
    fn a_file_alone_gets_its_writers_edits() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/e2e/invalidation/depot/stock.py");
        let src = SourceFile::read(&path).unwrap();
        let target = crate::rewrite::Target::parse("stock.py::stock_level").unwrap();
        let settings = crate::rewrite::Settings {
            request: crate::decide::Request {
                invalidate: true,
                ..Default::default()
            },
            handles: Default::default(),
            patterns: crate::catalogue::builtin().iter().collect(),
            library_cache: None,
        };
        let (_, text) = crate::rewrite::rewrite_text(&src, &[&target], &settings, false).unwrap();
        assert!(
            text.contains("    await cache.delete_tags(f\"stock:{sku}\")\n"),
            "{text}"
        );
        assert!(
            text.contains("    await cache.delete_tags(\"stock\")\n"),
            "{text}"
        );
    }

    /// A test calls a writer with fake values (truthy, not None): a guard
    /// raising on a truthy test stops it; `if not x` / `is None` ones do not.
    #[test]
    fn guards_a_fake_trips_are_told_apart() {
        let guarded = |body: &str| {
            let text = format!("async def w(db, x):\n{body}    await db.save(x)\n");
            let src = SourceFile::parse(std::path::Path::new("w.py"), text.into_bytes()).unwrap();
            let f = src.tree.root_node().named_child(0).unwrap();
            let at = src.text.find("await db.save").unwrap();
            raises_before(&src, f, at)
        };
        assert!(guarded("    if taken:\n        raise ValueError\n"));
        assert!(guarded(
            "    if found is not None and found.id != x:\n        raise ValueError\n"
        ));
        assert!(!guarded("    if not found:\n        raise ValueError\n"));
        assert!(!guarded("    if row is None:\n        raise ValueError\n"));
        assert!(!guarded("    if taken:\n        log(x)\n"));
        assert!(!guarded(""));
    }

    #[test]
    fn only_the_model_itself_has_the_rows_id() {
        assert!(is_the_model("Author", "Author"));
        assert!(is_the_model("m.Author", "Author"));
        assert!(is_the_model("Author | None", "Author"));
        assert!(is_the_model("Optional[m.Author]", "Author"));
        assert!(is_the_model("\"Author\"", "Author"));
        assert!(!is_the_model("ModelDictT[m.Author]", "Author"));
        assert!(!is_the_model("list[Author]", "Author"));
        assert!(!is_the_model("AuthorCreate", "Author"));
    }

    #[test]
    fn words_are_whole() {
        assert!(mentions_word("conn.execute(q, amount, sku)", "sku"));
        assert!(!mentions_word("conn.execute(q, sku_list)", "sku"));
        assert!(mentions_word("Product.id == product_id", "product_id"));
    }
}
