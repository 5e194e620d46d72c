//! Models tied to a read's model: an eager relationship
//! (`relationship("UserFieldValue", lazy="selectin")`, `lazy="joined"`)
//! puts the related rows into every instance read, so a write of them
//! changes what the read returns; a foreign key with `ondelete="CASCADE"`
//! (or `"SET NULL"`) makes a delete of the parent a write of these rows.

use std::collections::BTreeSet;

use super::{Resource, is_model, last};
use crate::project::Index;
use crate::project::resolve::{Def, Symbol};

/// How the relationship loads when it loads with its parent.
const EAGER: &[&str] = &["selectin", "joined", "subquery", "immediate"];

/// `resources` with the models its models load eagerly, two levels deep.
pub(super) fn with_eager(index: &Index, resources: &mut BTreeSet<Resource>) {
    let mut todo: Vec<(Def, usize)> = resources
        .iter()
        .filter_map(|r| match r {
            Resource::Model(m) => model_named(index, m).map(|d| (d, 0)),
            _ => None,
        })
        .collect();
    while let Some((def, depth)) = todo.pop() {
        if depth >= 2 {
            continue;
        }
        // Each related model is looked up once, when found: its class serves the next level.
        for related in eager_of(index, &def) {
            if resources.insert(Resource::Model(last(&related.qualname).to_string())) {
                todo.push((related, depth + 1));
            }
        }
    }
}

/// The project's model class of that name.
fn model_named(index: &Index, name: &str) -> Option<Def> {
    let needle = format!("class {name}");
    index.files().iter().find_map(|path| {
        let bytes = crate::file::read(path).ok()?;
        memchr::memmem::find(&bytes, needle.as_bytes())?;
        let m = index.module(path)?;
        let site = m.classes.iter().find(|c| c.qualname == name)?;
        let def = Def {
            path: Index::key(&m.src.path),
            qualname: site.qualname.clone(),
        };
        is_model(index, &def).then_some(def)
    })
}

/// The models of `def`'s eager relationships: `relationship(X, lazy=...)`
/// with X a class or its name in a string.
fn eager_of(index: &Index, def: &Def) -> Vec<Def> {
    let mut out = Vec::new();
    let Some(m) = index.module(&def.path) else {
        return out;
    };
    let Some(site) = m.classes.iter().find(|c| c.qualname == def.qualname) else {
        return out;
    };
    let Some(body) = site.node.child_by_field_name("body") else {
        return out;
    };
    for (_, right) in crate::source::assignments(body) {
        let Some((target, lazy)) = call_of(m, right, "relationship", "lazy") else {
            continue;
        };
        if !lazy.is_some_and(|v| EAGER.contains(&v.as_str())) {
            continue;
        }
        let name = match target.kind() {
            "string" => crate::purity::string_value(m.src, target),
            "identifier" | "attribute" => match index.resolve_node(m, target) {
                Symbol::Class(d) => Some(d.qualname),
                _ => None,
            },
            _ => None,
        };
        if let Some(related) = name.and_then(|n| model_named(index, last(&n))) {
            out.push(related);
        }
    }
    out
}

/// `resources` with, for each model, the parents whose delete cascades to it.
pub(super) fn with_cascades(index: &Index, resources: &mut BTreeSet<Resource>) {
    let models: Vec<String> = resources
        .iter()
        .filter_map(|r| match r {
            Resource::Model(m) => Some(m.clone()),
            _ => None,
        })
        .collect();
    for child in models {
        let Some(def) = model_named(index, &child) else {
            continue;
        };
        for parent in cascading_parents(index, &def) {
            if parent != child {
                resources.insert(Resource::Cascade {
                    parent,
                    child: child.clone(),
                });
            }
        }
    }
}

/// The models `def`'s foreign keys point at with `ondelete="CASCADE"` or
/// `"SET NULL"`: `ForeignKey(Tenant.id, ...)` or `ForeignKey("tenants.id", ...)`.
fn cascading_parents(index: &Index, def: &Def) -> Vec<String> {
    let mut out = Vec::new();
    let Some(m) = index.module(&def.path) else {
        return out;
    };
    let Some(site) = m.classes.iter().find(|c| c.qualname == def.qualname) else {
        return out;
    };
    let mut stack = vec![site.node];
    while let Some(n) = stack.pop() {
        let mut cursor = n.walk();
        stack.extend(n.named_children(&mut cursor));
        let Some((target, ondelete)) = call_of(m, n, "ForeignKey", "ondelete") else {
            continue;
        };
        if !ondelete
            .is_some_and(|v| matches!(v.to_ascii_uppercase().as_str(), "CASCADE" | "SET NULL"))
        {
            continue;
        }
        let parent =
            match target.kind() {
                // `"user_account.id"`: the model whose __tablename__ that is.
                "string" => crate::purity::string_value(m.src, target)
                    .and_then(|t| t.split('.').next().map(str::to_string))
                    .and_then(|table| model_of_table(index, &table)),
                // `Tenant.id`
                "attribute" => target.child_by_field_name("object").and_then(|o| {
                    match index.resolve_node(m, o) {
                        Symbol::Class(d) if is_model(index, &d) => {
                            Some(last(&d.qualname).to_string())
                        }
                        _ => None,
                    }
                }),
                _ => None,
            };
        if let Some(p) = parent
            && !out.contains(&p)
        {
            out.push(p);
        }
    }
    out
}

/// The project's model whose `__tablename__` is `table`.
fn model_of_table(index: &Index, table: &str) -> Option<String> {
    index.files().iter().find_map(|path| {
        let bytes = crate::file::read(path).ok()?;
        memchr::memmem::find(&bytes, table.as_bytes())?;
        let m = index.module(path)?;
        m.classes.iter().find_map(|c| {
            let body = c.node.child_by_field_name("body")?;
            let named = crate::source::assignments(body).into_iter().any(|(l, r)| {
                m.src.text_of(l) == "__tablename__"
                    && crate::purity::string_value(m.src, r).as_deref() == Some(table)
            });
            let def = Def {
                path: Index::key(&m.src.path),
                qualname: c.qualname.clone(),
            };
            (named && is_model(index, &def)).then(|| last(&c.qualname).to_string())
        })
    })
}

/// `node` as a call of `name` (`relationship(...)`, `sa.ForeignKey(...)`):
/// its first argument and the string value of its `keyword` argument.
fn call_of<'t>(
    m: &crate::module::Module<'t>,
    node: tree_sitter::Node<'t>,
    name: &str,
    keyword: &str,
) -> Option<(tree_sitter::Node<'t>, Option<String>)> {
    if node.kind() != "call" || last(m.src.text_of(node.child_by_field_name("function")?)) != name {
        return None;
    }
    let args = node.child_by_field_name("arguments")?;
    let mut cursor = args.walk();
    let args: Vec<_> = args.named_children(&mut cursor).collect();
    let value = args.iter().find_map(|a| {
        (a.kind() == "keyword_argument"
            && a.child_by_field_name("name")
                .is_some_and(|k| m.src.text_of(k) == keyword))
        .then(|| a.child_by_field_name("value"))
        .flatten()
        .and_then(|v| crate::purity::string_value(m.src, v))
    });
    Some((*args.first()?, value))
}
