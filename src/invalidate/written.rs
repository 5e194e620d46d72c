//! What one write changes, read off its own chain: the models and tables
//! the write statement names, else the repository the call to it goes
//! through. A generic base's `self.session.add(obj)` writes whatever model
//! the caller's repository holds (`self.authors.save(author)`,
//! `repository: ThemeRepository`), not every model its writer happens to
//! name on the way.

use std::collections::BTreeSet;

use tree_sitter::Node;

use super::{Resource, class_models, function_at, is_generic, is_model};
use crate::function::Function;
use crate::module::Module;
use crate::project::Index;
use crate::project::effects::Effect;
use crate::project::resolve::{Def, Symbol};
use crate::purity::first_line;
use crate::source::{SourceFile, line_of};

/// The data `write` changes, looked for from the write statement outwards,
/// with the step of the chain that says (0: the writer's own line); None
/// when no step says (the caller then falls back to what the functions on
/// the way name).
pub(super) fn written<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    g: &Function<'p>,
    write: &Effect,
) -> Option<(BTreeSet<Resource>, usize)> {
    // Site i holds the code that calls site i+1's function; the last
    // site's code is the write itself.
    let mut helpers = Vec::new();
    for step in &write.via {
        let (m, h) = function_at(index, &index.root.join(&step.path), &step.function)?;
        helpers.push((m, h, step.line, step.code.as_str()));
    }
    let mut sites = vec![(module, g, write.line, write.code.as_str())];
    sites.extend(
        helpers
            .iter()
            .map(|(m, h, line, code)| (*m, h, *line, *code)),
    );
    let last_site = sites.len() - 1;
    for (i, (m, h, line, code)) in sites.iter().enumerate().rev() {
        let Some(call) = call_at(m.src, h, *line, code) else {
            continue;
        };
        let found = if i == last_site {
            // The write's own parameter stands for what callers pass only
            // when the writer itself writes: in a helper, the caller's
            // line on the way says what it passes.
            statement_data(index, m, h, call, last_site == 0)
        } else {
            receiver_data(index, m, h, call)
        };
        // A class alone (a repository that names no model) says less than
        // what the functions on the way name: the caller's fallback.
        if found.iter().any(|r| !matches!(r, Resource::Class(_))) {
            return Some((found, i));
        }
    }
    // A key-value store's write changes keys, not the rows of a model its
    // writer happens to name.
    KEY_VALUE_WRITES
        .contains(&write.note.as_str())
        .then(|| (BTreeSet::new(), last_site))
}

/// The catalogue's notes (data/side_effects.toml) for writes to stores
/// that hold keys, not models or tables.
const KEY_VALUE_WRITES: &[&str] = &["Redis write", "search index write"];

/// The call (or other expression) at `line` in `h` whose first line is `code`.
fn call_at<'t>(src: &'t SourceFile, h: &Function<'t>, line: usize, code: &str) -> Option<Node<'t>> {
    let body = h.site.node.child_by_field_name("body")?;
    let mut stack = vec![body];
    let mut best = None;
    while let Some(n) = stack.pop() {
        if n.start_position().row + 1 > line || n.end_position().row + 1 < line {
            continue;
        }
        if line_of(n) == line && first_line(src.text_of(n)) == code {
            // The outermost node with that text: the whole statement.
            if best.is_none_or(|b: Node| b.byte_range().len() < n.byte_range().len()) {
                best = Some(n);
            }
        }
        let mut cursor = n.walk();
        stack.extend(n.named_children(&mut cursor));
    }
    best
}

/// The write statement's own data: models it names (`update(Category)`,
/// `User.create(...)`, `session.add(note)` after `note = Note(...)`), the
/// tables of a write SQL string, the object it is called on
/// (`self.tags.upsert(...)`), or the model of its own repository class
/// (`delete(self.model)` in `ProductRepository`).
fn statement_data<'p>(
    index: &Index<'p>,
    m: &Module<'p>,
    h: &Function<'p>,
    call: Node<'p>,
    callers: bool,
) -> BTreeSet<Resource> {
    // `member.is_owner = True`: a loaded row changed, saved at the next flush.
    if let Some(object) = assigned_object(call) {
        return super::values::traced(index, m, h, object, callers, 0);
    }
    let call = called(call);
    if let Some(query) = index.aiosql_query(m, call) {
        let tables = if query.written.is_empty() {
            &query.tables
        } else {
            &query.written
        };
        return tables.iter().cloned().map(Resource::Table).collect();
    }
    let mut out = models_named(index, m, h, call, 0);
    super::sql_tables(m.src, call, &mut out);
    if out.is_empty() && call.kind() == "call" {
        // `self.tags.upsert(...)`: a write named on a repository or service.
        out.extend(through_receiver(index, m, h, call));
    }
    // `extend_user.save()`, `model.create(...)`: the model the object is.
    if out.is_empty()
        && let Some(object) = call
            .child_by_field_name("function")
            .and_then(|f| f.child_by_field_name("object"))
    {
        out.extend(super::values::traced(index, m, h, object, callers, 0));
    }
    // Only a statement on the method's own object (`self.session.add(x)`,
    // `delete(self.model)`): `response.set_cookie(...)` in a service
    // writes none of the models its class holds.
    if out.is_empty()
        && mentions_receiver(m.src, h, call)
        && let Some(class) = crate::purity::class_of(m, h)
    {
        out.extend(class_models(index, &class, 0));
    }
    out
}

fn mentions_receiver(src: &SourceFile, h: &Function, node: Node) -> bool {
    let Some(receiver) = h.receiver().map(|p| p.name.as_str()) else {
        return false;
    };
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        if n.kind() == "identifier" && src.text_of(n) == receiver {
            return true;
        }
        let mut cursor = n.walk();
        stack.extend(n.named_children(&mut cursor));
    }
    false
}

/// `row` of `row.name = value` (or `row.count += 1`).
pub(super) fn assigned_object(node: Node) -> Option<Node> {
    let mut node = node;
    // The loop body `crate.label = "empty"` alone: a block of that one line.
    while matches!(node.kind(), "block" | "expression_statement") {
        node = node.named_child(0)?;
    }
    if !matches!(node.kind(), "assignment" | "augmented_assignment") {
        return None;
    }
    let left = node.child_by_field_name("left")?;
    (left.kind() == "attribute").then(|| left.child_by_field_name("object"))?
}

/// The call a statement makes: `instance = await model.create(**row)`
/// is `model.create(**row)`.
fn called(node: Node) -> Node {
    let inner = match node.kind() {
        "expression_statement" | "await" => node.named_child(0),
        "assignment" | "augmented_assignment" => node.child_by_field_name("right"),
        _ => None,
    };
    inner.map_or(node, called)
}

/// The data of the object a call goes through: `self.authors.save(...)`
/// (the attribute's class), `repository.save(...)` with `repository:
/// ThemeRepository`, `ItemRepository.update(...)`, plus any model passed
/// as an argument (`crud.update(User, ...)`).
fn receiver_data<'p>(
    index: &Index<'p>,
    m: &Module<'p>,
    h: &Function<'p>,
    call: Node<'p>,
) -> BTreeSet<Resource> {
    let mut out = through_receiver(index, m, h, call);
    if out.is_empty()
        && let Some(args) = call.child_by_field_name("arguments")
    {
        out.extend(models_named(index, m, h, args, 0));
        // `execute(db, qs, data)` with `qs = "INSERT INTO accounts ..."`:
        // the statement handed to a helper that runs it.
        super::sql_tables(m.src, args, &mut out);
        let mut cursor = args.walk();
        for arg in args.named_children(&mut cursor) {
            let value = super::values::argument_value(arg);
            if value.kind() == "identifier" {
                for assigned in assigned_to(m.src, h, m.src.text_of(value)) {
                    super::sql_tables(m.src, assigned, &mut out);
                }
            }
        }
        // `create(model_class, params)` with `model_class = model_map.get(name)`.
        if out.is_empty() {
            let mut cursor = args.walk();
            for arg in args.named_children(&mut cursor) {
                let value = super::values::argument_value(arg);
                out.extend(super::values::traced(index, m, h, value, false, 0));
            }
        }
    }
    out
}

fn through_receiver<'p>(
    index: &Index<'p>,
    m: &Module<'p>,
    h: &Function<'p>,
    call: Node,
) -> BTreeSet<Resource> {
    let mut out = BTreeSet::new();
    let Some(function) = call.child_by_field_name("function") else {
        return out;
    };
    let parts: Vec<&str> = m.src.text_of(function).split('.').map(str::trim).collect();
    if parts.len() < 2 {
        return out;
    }
    let receiver = h.receiver().map(|p| p.name.as_str());
    // `self.save(...)`: the method's own class was a site already.
    if Some(parts[0]) == receiver && parts.len() == 2 {
        return out;
    }
    let mut class = if Some(parts[0]) == receiver {
        crate::purity::class_of(m, h)
    } else if let Some(annotation) = h.param(parts[0]).and_then(|p| p.annotation.as_deref()) {
        match index.annotation_text_class(m, annotation) {
            Some(Symbol::Class(def)) => Some(def),
            _ => None,
        }
    } else if let Some(def) = index.local_class(m, h, parts[0], true) {
        Some(def)
    } else {
        match index.resolve_dotted(m, parts[0]) {
            Symbol::Class(def) => Some(def),
            _ => None,
        }
    };
    // `self.tags.upsert(...)`, `user_manager.user_repository.update(...)`:
    // each attribute on the way to the method, by its class.
    for attr in &parts[1..parts.len() - 1] {
        let Some(owner) = class.take() else {
            return out;
        };
        let Some(held) = index.attribute(&owner, attr) else {
            return out;
        };
        // `tags: TagRepository`, an alias of `RepositoryBase[Tag, …]`.
        if let Some(alias) = held
            .annotation
            .as_deref()
            .and_then(|a| super::alias_of(index, &owner, a))
        {
            out.extend(super::alias_models(index, &alias));
        }
        class = match held.class {
            Some(Symbol::Class(def)) => Some(def),
            _ => None,
        };
    }
    if let Some(def) = class {
        out.extend(class_data(index, &def));
    }
    out
}

/// A class's data: a model is its own; a repository's are its models, or
/// the class itself when it names none (an aiosql repository).
fn class_data(index: &Index, def: &Def) -> BTreeSet<Resource> {
    if is_model(index, def) {
        return BTreeSet::from([Resource::model(def)]);
    }
    let models = class_models(index, def, 0);
    if models.is_empty() && !is_generic(def) {
        return BTreeSet::from([Resource::Class(def.clone())]);
    }
    models
}

/// The models named under `node`: capitalised names that resolve to one,
/// and locals assigned a model (`note = Note(...)`), followed once.
fn models_named<'p>(
    index: &Index<'p>,
    m: &Module<'p>,
    h: &Function<'p>,
    node: Node,
    depth: usize,
) -> BTreeSet<Resource> {
    let mut out = BTreeSet::new();
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        if n.kind() == "identifier" {
            let name = m.src.text_of(n);
            if name.starts_with(|c: char| c.is_ascii_uppercase()) {
                if let Symbol::Class(def) = index.resolve_node_in(m, n)
                    && is_model(index, &def)
                {
                    out.insert(Resource::model(&def));
                }
            } else if depth == 0 {
                for value in assigned_to(m.src, h, name) {
                    out.extend(models_named(index, m, h, value, 1));
                }
            }
            continue;
        }
        let mut cursor = n.walk();
        stack.extend(n.named_children(&mut cursor));
    }
    out
}

/// The values assigned to the local `name` anywhere in `h`'s own body.
pub(super) fn assigned_to<'t>(src: &SourceFile, h: &Function<'t>, name: &str) -> Vec<Node<'t>> {
    let Some(body) = h.site.node.child_by_field_name("body") else {
        return Vec::new();
    };
    crate::source::own_scope_nodes(body)
        .into_iter()
        .filter(|n| n.kind() == "assignment")
        .filter_map(|n| {
            Some((
                n.child_by_field_name("left")?,
                n.child_by_field_name("right")?,
            ))
        })
        .filter(|(left, _)| src.text_of(*left) == name)
        .map(|(_, right)| right)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_key_value_notes_are_the_catalogues() {
        let catalogue = include_str!("../../data/side_effects.toml");
        let notes = super::KEY_VALUE_WRITES
            .iter()
            .chain([&super::super::COMMIT_NOTE]);
        for note in notes {
            assert!(catalogue.contains(&format!("note = \"{note}\"")), "{note}");
        }
    }
}
