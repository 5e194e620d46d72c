//! Models tied to a read's model: an eager relationship
//! (`relationship("UserFieldValue", lazy="selectin")`, `lazy="joined"`)
//! puts the related rows into every instance read, so a write of them
//! changes what the read returns; a foreign key with `ondelete="CASCADE"`
//! (or `"SET NULL"`) makes a delete of the parent a write of these rows.

use std::collections::BTreeSet;

use tree_sitter::Node;

use super::{Resource, class_body, class_node, is_model, last};
use crate::module::Module;
use crate::project::Index;
use crate::project::resolve::{Def, Symbol};

/// How the relationship loads when it loads with its parent.
const EAGER: &[&str] = &["selectin", "joined", "subquery", "immediate"];

/// A relationship a query names: its owner model, its attribute, the model
/// it loads.
pub(super) type Load = (String, String, String);

/// `resources` with the models its models load eagerly, two levels deep,
/// and the models `loaded` by the relationships a query names, with theirs.
/// When the read returns a schema (`fields`: its field names), only the
/// read's relationships it has a field for are part of the result.
pub(super) fn with_eager(
    index: &Index,
    resources: &mut BTreeSet<Resource>,
    loaded: &BTreeSet<Load>,
    fields: Option<&BTreeSet<String>>,
) {
    let own = model_names(resources);
    let kept = |relationship: &str| fields.is_none_or(|f| holds(f, relationship));
    let loaded = &on_own_models(index, &own, loaded);
    let mut todo: Vec<(Def, usize)> = own
        .iter()
        .filter_map(|m| model_named(index, m).map(|d| (d, 0)))
        .collect();
    // The query's own loads: the read's relationships first, then the
    // ones they lead on to (`selectinload(User.roles).options(joinedload(UserRole.role))`).
    let mut reached = own.clone();
    for _ in 0..3 {
        for (owner, relationship, model) in loaded {
            let followed = if own.contains(owner) {
                kept(relationship)
            } else {
                reached.contains(owner)
            };
            if followed && reached.insert(model.clone()) {
                resources.insert(Resource::Model(model.clone()));
                todo.extend(model_named(index, model).map(|d| (d, 1)));
            }
        }
    }
    while let Some((def, depth)) = todo.pop() {
        if depth >= 2 {
            continue;
        }
        // Each related model is looked up once, when found: its class serves the next level.
        for (relationship, lazy, related) in relationships(index, &def) {
            let eager = lazy.as_deref().is_some_and(|v| EAGER.contains(&v));
            if !eager || (depth == 0 && !kept(&relationship)) {
                continue;
            }
            if resources.insert(Resource::model(&related)) {
                todo.push((related, depth + 1));
            }
        }
    }
}

/// `loaded` with each load of an unknown model's relationship made a load
/// of that relationship on every one of `own` models that has it.
fn on_own_models(index: &Index, own: &BTreeSet<String>, loaded: &BTreeSet<Load>) -> BTreeSet<Load> {
    let mut out = BTreeSet::new();
    for load in loaded {
        if load.0 != ANY_MODEL {
            out.insert(load.clone());
            continue;
        }
        for def in own.iter().filter_map(|name| model_named(index, name)) {
            out.extend(load_of(index, &def, &load.1));
        }
    }
    out
}

/// Whether a schema with `fields` has one for `relationship`: the same
/// name, or one sharing a word with it, as schemas rename what they carry
/// (`oauth_providers` built from `oauth_accounts`, `fields` from
/// `user_field_values`).
fn holds(fields: &BTreeSet<String>, relationship: &str) -> bool {
    let words = |name: &str| -> Vec<String> {
        name.split('_')
            .filter(|w| w.len() > 2 && !matches!(*w, "has" | "the"))
            .map(|w| w.strip_suffix('s').unwrap_or(w).to_ascii_lowercase())
            .collect()
    };
    let wanted = words(relationship);
    fields.contains(relationship)
        || fields
            .iter()
            .any(|f| words(f).iter().any(|w| wanted.contains(w)))
}

/// The project's model class of that name.
pub(super) fn model_named(index: &Index, name: &str) -> Option<Def> {
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

/// `def`'s relationships: the attribute, its `lazy=`, and the model it
/// points at (`relationship("Tenant")`, `relationship(Tenant)`, or only the
/// `Mapped[list[TeamMember]]` annotation, as SQLAlchemy 2 reads it).
fn relationships(index: &Index, def: &Def) -> Vec<(String, Option<String>, Def)> {
    let mut out = Vec::new();
    let Some((m, body)) = class_body(index, def) else {
        return out;
    };
    for (left, right) in crate::source::assignments(body) {
        let Some((target, lazy)) =
            call_of(m, right, "relationship", "lazy").or_else(|| tortoise_relation(m, right))
        else {
            continue;
        };
        let name = match target.map(|t| (t, t.kind())) {
            // Tortoise names `"models.User"`: app label, then the model.
            Some((t, "string")) => crate::purity::string_value(m.src, t),
            Some((t, "identifier" | "attribute")) => match index.resolve_node(m, t) {
                Symbol::Class(d) => Some(d.qualname),
                _ => None,
            },
            None => right
                .parent()
                .and_then(|a| a.child_by_field_name("type"))
                .and_then(|t| mapped_target(m.src.text_of(t)))
                .map(str::to_string),
            _ => None,
        };
        if let Some(related) = name.and_then(|n| model_named(index, last(&n))) {
            out.push((m.src.text_of(left).to_string(), lazy, related));
        }
    }
    out
}

/// Tortoise's relation fields: `fields.ForeignKeyField("models.User",
/// ...)` or `model_name="models.User"`. They never load with their parent
/// unless a query asks (`prefetch_related("owner")`): no `lazy`.
fn tortoise_relation<'t>(
    m: &Module<'t>,
    node: Node<'t>,
) -> Option<(Option<Node<'t>>, Option<String>)> {
    let first = ["ForeignKeyField", "OneToOneField", "ManyToManyField"]
        .iter()
        .find_map(|field| first_argument_of(m, node, field))?;
    Some((first.or_else(|| keyword(m, node, "model_name")), None))
}

/// The value of a call's keyword argument `name`.
fn keyword<'t>(m: &Module<'t>, call: Node<'t>, name: &str) -> Option<Node<'t>> {
    let args = call.child_by_field_name("arguments")?;
    let mut cursor = args.walk();
    args.named_children(&mut cursor).find_map(|a| {
        (a.kind() == "keyword_argument"
            && a.child_by_field_name("name")
                .is_some_and(|k| m.src.text_of(k) == name))
        .then(|| a.child_by_field_name("value"))
        .flatten()
    })
}

/// Tortoise's loaders: each names relationships by string
/// (`prefetch_related("owner", "owner__team")`) on a query of a model.
const NAMED_LOADERS: &[&str] = &["prefetch_related", "select_related", "fetch_related"];

/// The owner a load of unknown model stands for: the relationship is
/// looked up on each of the read's own models.
const ANY_MODEL: &str = "*";

/// Loader functions: each names a relationship (`User.tenant`) whose rows
/// the query loads with the parent's.
const LOADERS: &[&str] = &[
    "joinedload",
    "selectinload",
    "subqueryload",
    "immediateload",
    "contains_eager",
    "defaultload",
];

/// The models a query under `node` loads through the relationships it
/// names: `options(joinedload(User.tenant))`, `selectinload(m.Team.members)`,
/// and a `load=[m.Team.tags, ...]` list handed to a service or its provider.
pub(super) fn loaded(index: &Index, m: &Module, node: Node) -> BTreeSet<Load> {
    let mut out = BTreeSet::new();
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        let mut cursor = n.walk();
        stack.extend(n.named_children(&mut cursor));
        let named: Vec<Node> = match n.kind() {
            "call"
                if n.child_by_field_name("function")
                    .is_some_and(|f| LOADERS.contains(&last(m.src.text_of(f)))) =>
            {
                n.child_by_field_name("arguments")
                    .map(|a| {
                        let mut c = a.walk();
                        a.named_children(&mut c).collect()
                    })
                    .unwrap_or_default()
            }
            "call"
                if n.child_by_field_name("function")
                    .is_some_and(|f| NAMED_LOADERS.contains(&last(m.src.text_of(f)))) =>
            {
                out.extend(named_loads(index, m, n));
                continue;
            }
            "keyword_argument"
                if n.child_by_field_name("name")
                    .is_some_and(|k| m.src.text_of(k) == "load") =>
            {
                n.child_by_field_name("value")
                    .filter(|v| matches!(v.kind(), "list" | "tuple"))
                    .map(|v| {
                        let mut c = v.walk();
                        v.named_children(&mut c).collect()
                    })
                    .unwrap_or_default()
            }
            _ => continue,
        };
        for attr in named.into_iter().filter(|a| a.kind() == "attribute") {
            out.extend(related_by(index, m, attr));
        }
    }
    out
}

/// `Question.filter(...).prefetch_related("owner")`: a load of `owner` on
/// the model the chain starts from, else on whichever model the read
/// reads (`query.prefetch_related("owner")`). Only the first relationship
/// of a path (`owner__team`) is the read's own.
fn named_loads(index: &Index, m: &Module, call: Node) -> BTreeSet<Load> {
    let mut out = BTreeSet::new();
    let mut root = call;
    while let Some(next) = match root.kind() {
        "call" => root.child_by_field_name("function"),
        "attribute" => root.child_by_field_name("object"),
        "await" => root.named_child(0),
        _ => None,
    } {
        root = next;
    }
    let owner = match index.resolve_node_in(m, root) {
        Symbol::Class(def) if root.kind() == "identifier" && is_model(index, &def) => Some(def),
        _ => None,
    };
    let Some(args) = call.child_by_field_name("arguments") else {
        return out;
    };
    let mut cursor = args.walk();
    for arg in args.named_children(&mut cursor) {
        let Some(path) = crate::purity::string_value(m.src, arg) else {
            continue;
        };
        let name = path.split("__").next().unwrap_or(&path).to_string();
        match &owner {
            Some(def) => out.extend(load_of(index, def, &name)),
            None => {
                out.insert((ANY_MODEL.to_string(), name, String::new()));
            }
        }
    }
    out
}

/// `User.tenant` as a load, when `User` is a model and `tenant` one of its
/// relationships.
fn related_by(index: &Index, m: &Module, attr: Node) -> Option<Load> {
    let owner = attr.child_by_field_name("object")?;
    let name = m.src.text_of(attr.child_by_field_name("attribute")?);
    let Symbol::Class(def) = index.resolve_node_in(m, owner) else {
        return None;
    };
    if !is_model(index, &def) {
        return None;
    }
    load_of(index, &def, name)
}

/// The model the relationship `attribute` of the model `owner` holds
/// (`Team.members`: `TeamMember`).
pub(super) fn related_model(index: &Index, owner: &str, attribute: &str) -> Option<Resource> {
    let def = model_named(index, owner)?;
    let (_, _, related) = relationships(index, &def)
        .into_iter()
        .find(|(name, _, _)| name == attribute)?;
    Some(Resource::model(&related))
}

/// The load of `def`'s relationship `name`, when it has one.
fn load_of(index: &Index, def: &Def, name: &str) -> Option<Load> {
    let (_, _, related) = relationships(index, def)
        .into_iter()
        .find(|(attribute, _, _)| attribute == name)?;
    Some((
        last(&def.qualname).to_string(),
        name.to_string(),
        last(&related.qualname).to_string(),
    ))
}

/// The model a `Mapped[...]` annotation names: `Mapped[list["TeamMember"]]`,
/// `Mapped[User | None]`, `Mapped[Optional[Tenant]]`.
fn mapped_target(annotation: &str) -> Option<&str> {
    let inner = annotation
        .trim()
        .trim_matches(['"', '\''])
        .strip_prefix("Mapped[")?
        .strip_suffix(']')?;
    let mut t = inner.trim();
    for collection in [
        "list[",
        "List[",
        "set[",
        "Set[",
        "Sequence[",
        "typing.List[",
    ] {
        if let Some(rest) = t.strip_prefix(collection).and_then(|r| r.strip_suffix(']')) {
            t = rest.trim();
        }
    }
    crate::project::classes::annotated_class_name(t)
}

/// The names of the models among `resources`.
pub(super) fn model_names(resources: &BTreeSet<Resource>) -> BTreeSet<String> {
    resources
        .iter()
        .filter_map(|r| match r {
            Resource::Model(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// `resources` with, for each model, the parents whose delete cascades to it.
pub(super) fn with_cascades(index: &Index, resources: &mut BTreeSet<Resource>) {
    for child in model_names(resources) {
        // A tenant's delete removes its users, whose delete removes their
        // permissions: every model up the chain of cascades, a few levels.
        let mut seen = BTreeSet::from([child.clone()]);
        let mut level = vec![child.clone()];
        for _ in 0..CASCADE_LEVELS {
            let mut next = Vec::new();
            for name in &level {
                let Some(def) = model_named(index, name) else {
                    continue;
                };
                next.extend(
                    cascading_parents(index, &def)
                        .into_iter()
                        .filter(|p| seen.insert(p.clone())),
                );
            }
            for parent in &next {
                resources.insert(Resource::Cascade {
                    parent: parent.clone(),
                    child: child.clone(),
                });
            }
            level = next;
        }
    }
}

/// How far up a chain of cascading foreign keys a delete is followed.
const CASCADE_LEVELS: usize = 3;

/// The models `def`'s foreign keys point at with `ondelete="CASCADE"` or
/// `"SET NULL"`: `ForeignKey(Tenant.id, ...)` or `ForeignKey("tenants.id", ...)`.
fn cascading_parents(index: &Index, def: &Def) -> Vec<String> {
    let mut out = Vec::new();
    let Some((m, node)) = class_node(index, def) else {
        return out;
    };
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        let mut cursor = n.walk();
        stack.extend(n.named_children(&mut cursor));
        let Some((Some(target), ondelete)) = call_of(m, n, "ForeignKey", "ondelete") else {
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
/// its first positional argument, if any, and the string value of its
/// `keyword` argument.
fn call_of<'t>(
    m: &crate::module::Module<'t>,
    node: tree_sitter::Node<'t>,
    name: &str,
    keyword_name: &str,
) -> Option<(Option<tree_sitter::Node<'t>>, Option<String>)> {
    let first = first_argument_of(m, node, name)?;
    let value = keyword(m, node, keyword_name).and_then(|v| crate::purity::string_value(m.src, v));
    Some((first, value))
}

/// When `node` calls `name` (its last dotted part): its first positional
/// argument, if it has one.
fn first_argument_of<'t>(m: &Module<'t>, node: Node<'t>, name: &str) -> Option<Option<Node<'t>>> {
    if node.kind() != "call" || last(m.src.text_of(node.child_by_field_name("function")?)) != name {
        return None;
    }
    let args = node.child_by_field_name("arguments")?;
    let mut cursor = args.walk();
    let first = args
        .named_children(&mut cursor)
        .next()
        .filter(|a| a.kind() != "keyword_argument");
    Some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_annotations_name_their_model() {
        assert_eq!(
            mapped_target("Mapped[list[\"TeamMember\"]]"),
            Some("TeamMember")
        );
        assert_eq!(mapped_target("Mapped[User | None]"), Some("User"));
        assert_eq!(
            mapped_target("Mapped[Optional[m.Tenant]]"),
            Some("m.Tenant")
        );
        assert_eq!(mapped_target("list[User]"), None);
    }

    #[test]
    fn schema_fields_hold_relationships_by_name_or_shared_word() {
        let fields: BTreeSet<String> = ["id", "oauth_providers", "fields", "is_verified"]
            .map(String::from)
            .into();
        assert!(holds(&fields, "oauth_accounts"));
        assert!(holds(&fields, "user_field_values"));
        assert!(!holds(&fields, "verification_tokens"));
        assert!(!holds(&fields, "teams"));
    }
}
