//! Models loaded with a model: an eager relationship
//! (`relationship("UserFieldValue", lazy="selectin")`, `lazy="joined"`)
//! puts the related rows into every instance read, so a write of them
//! changes what the read returns.

use std::collections::BTreeSet;

use super::{Resource, is_model, last};
use crate::project::Index;
use crate::project::resolve::{Def, Symbol};

/// How the relationship loads when it loads with its parent.
const EAGER: &[&str] = &["selectin", "joined", "subquery", "immediate"];

/// `resources` with the models its models load eagerly, two levels deep.
pub(super) fn with_eager(index: &Index, resources: &mut BTreeSet<Resource>) {
    let mut todo: Vec<(String, usize)> = resources
        .iter()
        .filter_map(|r| match r {
            Resource::Model(m) => Some((m.clone(), 0)),
            _ => None,
        })
        .collect();
    while let Some((model, depth)) = todo.pop() {
        if depth >= 2 {
            continue;
        }
        let Some(def) = model_named(index, &model) else {
            continue;
        };
        for related in eager_of(index, &def) {
            if resources.insert(Resource::Model(related.clone())) {
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
fn eager_of(index: &Index, def: &Def) -> Vec<String> {
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
        if right.kind() != "call"
            || right
                .child_by_field_name("function")
                .is_none_or(|f| last(m.src.text_of(f)) != "relationship")
        {
            continue;
        }
        let Some(args) = right.child_by_field_name("arguments") else {
            continue;
        };
        let mut cursor = args.walk();
        let args: Vec<_> = args.named_children(&mut cursor).collect();
        let eager = args.iter().any(|a| {
            a.kind() == "keyword_argument"
                && a.child_by_field_name("name")
                    .is_some_and(|n| m.src.text_of(n) == "lazy")
                && a.child_by_field_name("value")
                    .and_then(|v| crate::purity::string_value(m.src, v))
                    .is_some_and(|v| EAGER.contains(&v.as_str()))
        });
        let Some(target) = args.first().filter(|_| eager) else {
            continue;
        };
        let name = match target.kind() {
            "string" => crate::purity::string_value(m.src, *target),
            "identifier" | "attribute" => match index.resolve_node(m, *target) {
                Symbol::Class(d) => Some(d.qualname),
                _ => None,
            },
            _ => None,
        };
        if let Some(name) = name {
            let name = last(&name).to_string();
            if model_named(index, &name).is_some() {
                out.push(name);
            }
        }
    }
    out
}
