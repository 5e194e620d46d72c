//! Invalidation: the project functions that change the data a cached read
//! depends on. A read and a write meet on a resource: an ORM model both
//! name (SQLAlchemy, SQLModel, Tortoise, Beanie, Django), a table both name
//! in SQL, or the repository class whose methods do both. Each function's
//! resources are what its own body and every project function its calls
//! reach name (`Purity::reached`); a writer is a function with a database
//! write whose call chain, from it to the write, names a resource the read
//! names.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;
use tree_sitter::Node;

use crate::catalogue::Pattern;
use crate::function::Function;
use crate::module::Module;
use crate::project::Index;
use crate::project::effects::Effect;
use crate::project::resolve::{Def, Symbol};
use crate::purity::Purity;

mod related;
mod values;
mod written;

/// What the cached read's data is, and who changes it.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Invalidation {
    /// The resources the read names: `model Product`, `table products`,
    /// `class app/repo.py::ProductRepository`.
    pub(crate) resources: Vec<String>,
    pub(crate) writers: Vec<Writer>,
    /// When no writer is in the project: what bounds staleness.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) note: Option<String>,
    /// The tags the read gets (`tags::plan`): the family, and the entry's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) tags: Vec<String>,
    /// What each writer gets: the `delete_tags` line and where, or why none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) edits: Vec<crate::tags::InvalidationEdit>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct Writer {
    /// `path::qualname`, the path relative to the project root.
    pub(crate) target: String,
    pub(crate) line: usize,
    /// The write, as the writer's own line shows it.
    pub(crate) code: String,
    /// The effect's category: `db_write` (a write statement), `db_unknown`
    /// (a transaction), or `unknown` / `argument_mutation` (a write-named call).
    pub(crate) category: String,
    /// The chain to the write when it sits in a helper.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) via: String,
    /// The resource read and write share.
    pub(crate) resource: String,
    /// The functions on the way from the writer to the write, as targets.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) through: Vec<String>,
    /// Whether the writer's own line decides what is written (its call of
    /// a repository, its statement): the invalidation goes after it here.
    #[serde(skip)]
    pub(crate) here: bool,
    /// Every line of the writer with a write of the shared data (`line`
    /// among them): the delete goes where it follows them all.
    #[serde(skip)]
    pub(crate) lines: Vec<usize>,
    /// The writer's file and qualname, for the edit that invalidates.
    #[serde(skip)]
    pub(crate) path: PathBuf,
    #[serde(skip)]
    pub(crate) qualname: String,
}

/// Base classes (last dotted part) that make a class an ORM model.
const ORM_BASES: &[&str] = &[
    "DeclarativeBase",
    "DeclarativeBaseNoMeta",
    "SQLModel",
    "Model",
    "Document",
    "AsyncAttrs",
    // advanced-alchemy's declarative bases (Litestar's SQLAlchemy stack).
    "UUIDBase",
    "UUIDAuditBase",
    "UUIDv6Base",
    "UUIDv6AuditBase",
    "UUIDv7Base",
    "UUIDv7AuditBase",
    "BigIntBase",
    "BigIntAuditBase",
    "NanoIDBase",
    "NanoIDAuditBase",
    "DefaultBase",
];

/// Effect categories that change stored data: a write statement, a
/// transaction (`db_unknown`), or a call of unknown type whose name says it
/// writes (`queries.create_user(...)`, aiosql's loaded statements).
fn is_write(e: &Effect) -> bool {
    let statement = statement_of(e);
    match e.category.as_str() {
        // Filling or clearing a cache changes no data a read depends on.
        // A rollback undoes; it stores nothing.
        "db_write" => {
            e.note != "cache write" && !(is_commit_note(e) && callee_of(statement) == "rollback")
        }
        // `session.refresh(obj)` reloads a row: part of a write at most.
        "db_unknown" => callee_of(statement) != "refresh",
        // `users_service.update(data)`: a library service or repository,
        // called on one (`add_buttons(kb)` only changes its argument).
        // `member.is_owner = True`: a changed row, written at its session's flush.
        "argument_mutation" if assigns_attribute(statement) => true,
        "unknown" | "argument_mutation" => {
            let callee = callee_of(statement);
            // `access_security.create_access_token(sub)`: a JWT library
            // mints a token, it stores nothing.
            is_method_call(statement)
                && !callee.ends_with("_token")
                && !is_delivery(callee)
                && (crate::purity::names_a_write(callee) || WRITE_VERBS.contains(&callee))
        }
        _ => false,
    }
}

/// The write statement of an effect: its own line, or the last step's.
fn statement_of(e: &Effect) -> &str {
    e.via.last().map_or(e.code.as_str(), |s| s.code.as_str())
}

/// Whether an attribute change (`member.is_owner = True`) stays on a
/// stored row: made in an async function that does not hand the object
/// back. A function returning the row it fills (`set_user_attributes(user)
/// -> user`) or a sync event hook prepares it for the save its caller makes.
fn changed_in_place(index: &Index, module: &Module, g: &Function, e: &Effect) -> bool {
    let statement = statement_of(e);
    let root = statement.split('.').next().unwrap_or_default().trim();
    let check = |m: &Module, h: &Function| {
        let body = h.site.node.child_by_field_name("body");
        let over = body.and_then(|b| crate::source::loop_over(m.src, b, root));
        let owner = over.map(|o| {
            m.src
                .text_of(o)
                .split('.')
                .next()
                .unwrap_or_default()
                .trim()
        });
        h.is_async
            && !h.body.returns.iter().any(|r| {
                r.named_child(0)
                    .is_some_and(|v| [Some(root), owner].contains(&Some(m.src.text_of(v))))
            })
    };
    match e.via.last() {
        Some(step) => function_at(index, &index.root.join(&step.path), &step.function)
            .is_some_and(|(m, h)| check(m, &h)),
        None => check(module, g),
    }
}

/// `row.name = value`, `row.count += 1`: an attribute of an object set.
fn assigns_attribute(statement: &str) -> bool {
    if statement.contains("==") {
        return false;
    }
    statement.split_once('=').is_some_and(|(left, _)| {
        let left = left.trim_end_matches(['+', '-', '*', '/', '|', '&', ' ']);
        left.contains('.') && !left.contains(['(', '[', ',', ' '])
    })
}

/// `email_sender.send_to_user(...)`, `bus.publish_event(...)`: a message
/// goes out; nothing a read loads changes.
fn is_delivery(callee: &str) -> bool {
    let bare = callee.trim_start_matches('_');
    ["send_", "notify_", "publish_"]
        .iter()
        .any(|p| bare.starts_with(p))
}

/// The catalogue's note (data/side_effects.toml) on `commit`, `flush`,
/// `rollback`: statements that end a transaction and name no data.
const COMMIT_NOTE: &str = "transaction commit: only writes need one";

fn is_commit_note(e: &Effect) -> bool {
    e.note == COMMIT_NOTE
}

/// `session.delete(obj)`, `delete(User)`, `users_service.delete(id)`,
/// `repo.remove(x)`: a write that removes rows.
fn is_delete(e: &Effect) -> bool {
    let statement = statement_of(e);
    let callee = callee_of(statement);
    callee.contains("delete") || matches!(callee, "remove" | "destroy")
}

/// `repo.update(x)`, not `update(x)`.
fn is_method_call(code: &str) -> bool {
    callee_head(code).contains('.')
}

/// Method names of repositories and services that write.
const WRITE_VERBS: &[&str] = &[
    "create",
    "update",
    "delete",
    "remove",
    "save",
    "insert",
    "upsert",
    "add",
    "add_many",
    "create_many",
    "update_many",
    "delete_many",
    "upsert_many",
    "bulk_create",
    "bulk_update",
    "patch",
    "destroy",
    "get_or_create",
    "get_or_upsert",
    "update_or_create",
];

/// `queries.create_user(` -> `create_user`; `super().update(` -> `update`.
fn callee_of(code: &str) -> &str {
    let head = callee_head(code);
    head.rsplit('.').next().unwrap_or(head)
}

/// The callee expression of a call's first line, empty calls on the way
/// (`super()`, `get_repo()`) kept: `super().update`.
fn callee_head(code: &str) -> &str {
    let code = code.trim().trim_start_matches("await ");
    let mut end = code.len();
    let mut from = 0;
    while let Some(i) = code[from..].find('(') {
        let at = from + i;
        if code[at..].starts_with("().") {
            from = at + 3;
            continue;
        }
        end = at;
        break;
    }
    code[..end].trim()
}

pub(crate) fn analyse<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    f: &Function<'p>,
    purity: &Purity,
    patterns: &[&Pattern],
) -> Invalidation {
    let mut resources = touched(index, module, f, Side::Read);
    // A class handed its model reads what its constructions pass; only
    // for the read itself: a caller reached through names its own.
    let own_attributes = self_attributes(module.src, f);
    resources.extend(values::constructed_with(index, module, f, &own_attributes));
    if uses_given_model(module, f, &own_attributes) {
        resources.insert(Resource::Generic);
    }
    // Each class body is read once, however many of its methods the read reaches.
    let mut classes = BTreeSet::new();
    let mut loaded = loads(index, module, f, &mut classes);
    let mut used = attribute_names(module.src, f);
    for def in purity
        .reached
        .iter()
        .filter(|d| !is_exception_method(index, d))
    {
        if let Some((m, g)) = function_at(index, &def.path, &def.qualname) {
            resources.extend(touched(index, m, &g, Side::Read));
            loaded.extend(loads(index, m, &g, &mut classes));
            used.extend(attribute_names(m.src, &g));
        }
    }
    resources.extend(property_reads(index, &resources, &used));
    // The class is the data only when nothing names the data itself (an
    // aiosql or raw-driver repository): beside a model or a table, sharing
    // a class says nothing more.
    // Nor when the read reads nothing stored: a menu built from settings,
    // a price from an SDK, share a class with its writers and no data.
    let reads_stored = purity
        .reads
        .iter()
        .any(|r| r.category.starts_with("db") || r.category == "file_read");
    if !reads_stored || resources.iter().any(|r| !matches!(r, Resource::Class(_))) {
        resources.retain(|r| !matches!(r, Resource::Class(_)));
    }
    // A count, a flag or a name is built from columns, not from the rows
    // an eager relationship loads beside them.
    if !returns_scalar(module, f) {
        let fields = schema_fields(index, module, f);
        related::with_eager(index, &mut resources, &loaded, fields.as_ref());
    }
    related::with_cascades(index, &mut resources);
    let mut out = Invalidation {
        resources: {
            // A cascade shows as its child model, which may be listed already.
            let mut seen = BTreeSet::new();
            resources
                .iter()
                .map(Resource::shown)
                .filter(|r| seen.insert(r.clone()))
                .collect()
        },
        ..Invalidation::default()
    };
    if !reads_outside(purity) && !resources.is_empty() {
        out.writers = writers(index, &resources, patterns);
    }
    out.writers
        .retain(|w| w.target != target_name(&module.src.path, &f.qualname));
    if out.writers.is_empty() {
        out.note = no_writer_note(purity, &out.resources);
    }
    out
}

/// A method of a generic repository base using the model it is given
/// (`self.model`, `self._model`).
fn uses_given_model(module: &Module, f: &Function, attributes: &BTreeSet<String>) -> bool {
    crate::purity::class_of(module, f).is_some_and(|c| is_generic(&c))
        && attributes
            .iter()
            .any(|a| MODEL_ATTRIBUTES.contains(&a.trim_start_matches('_')))
}

/// The attribute names a function's body reads (`instance.is_admin_user`).
fn attribute_names(src: &crate::source::SourceFile, f: &Function) -> BTreeSet<String> {
    f.body
        .attributes
        .iter()
        .filter_map(|a| a.child_by_field_name("attribute"))
        .map(|a| src.text_of(a).to_string())
        .collect()
}

/// What the properties of the read's models it uses read: `await
/// user.is_admin_user` runs a query on another model behind an attribute.
fn property_reads(
    index: &Index,
    resources: &BTreeSet<Resource>,
    used: &BTreeSet<String>,
) -> BTreeSet<Resource> {
    let mut out = BTreeSet::new();
    for def in related::model_names(resources)
        .iter()
        .filter_map(|name| related::model_named(index, name))
    {
        let Some(m) = index.module(&def.path) else {
            continue;
        };
        for name in used {
            let Some(site) = m.function(&format!("{}.{name}", def.qualname)) else {
                continue;
            };
            let g = Function::new(m.src, site);
            if g.has_decorator(&["property", "cached_property", "functools.cached_property"]) {
                out.extend(touched(index, m, &g, Side::Read));
            }
        }
    }
    out
}

/// The models a function's queries load through relationships they name
/// (`joinedload(User.tenant)`), and, for a method, those its class loads
/// for it (a controller's `dependencies = create_service_dependencies(...,
/// load=[m.Team.members])`), read once per class: `classes` holds those read.
fn loads<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    f: &Function<'p>,
    classes: &mut BTreeSet<(PathBuf, usize)>,
) -> BTreeSet<related::Load> {
    let mut out = BTreeSet::new();
    if let Some(body) = f.site.node.child_by_field_name("body") {
        out.extend(related::loaded(index, module, body));
    }
    let Some(class) = f
        .site
        .class
        .filter(|c| classes.insert((module.src.path.clone(), c.start_byte())))
    else {
        return out;
    };
    let Some(body) = class.child_by_field_name("body") else {
        return out;
    };
    let mut cursor = body.walk();
    for stmt in body.named_children(&mut cursor) {
        if stmt.kind() != "expression_statement" {
            continue;
        }
        out.extend(related::loaded(index, module, stmt));
        // `{"users_service": Provide(provide_users_service)}`: the
        // provider's own `load=[...]`, where it is made.
        let mut names = Vec::new();
        collect_idents(stmt, &mut names);
        // Only names handed to a call (`Provide(name)`), not parts of a chain.
        for name in names
            .into_iter()
            .filter(|n| n.parent().is_some_and(|p| p.kind() == "argument_list"))
        {
            if let Some((m, value)) = index.variable(module, name)
                && value.kind() == "call"
            {
                out.extend(related::loaded(index, m, value));
            }
        }
    }
    out
}

/// The field names of the schema the read returns (`-> UserOut`,
/// `-> OffsetPagination[TeamOut]`, a project class that is not a model):
/// the related rows it can hold are the relationships it has a field for.
/// None when it returns a model, or nothing says.
fn schema_fields(index: &Index, module: &Module, f: &Function) -> Option<BTreeSet<String>> {
    let annotation = f.site.node.child_by_field_name("return_type")?;
    let mut text = module.src.text_of(annotation).trim();
    for _ in 0..3 {
        let name = crate::project::classes::annotated_class_name(text)?;
        if let Some(Symbol::Class(def)) = index.annotation_text_class(module, name) {
            if is_model(index, &def) {
                return None;
            }
            let fields: BTreeSet<String> = index
                .mro(&def)
                .iter()
                .flat_map(|c| c.attributes.keys().cloned())
                .collect();
            return (!fields.is_empty()).then_some(fields);
        }
        // `OffsetPagination[TeamOut]`, `list[TeamOut]`: what it holds.
        let open = text.find('[')?;
        text = text[open + 1..]
            .strip_suffix(']')?
            .split(',')
            .next()?
            .trim();
    }
    None
}

/// Types whose values hold no related rows.
const SCALARS: &[&str] = &[
    "bool", "int", "str", "float", "bytes", "None", "UUID", "datetime", "date", "Decimal",
    "Literal",
];

/// Whether the return annotation is a scalar or a tuple of them
/// (`-> bool`, `-> tuple[bool, str]`, `-> int | None`).
fn returns_scalar(module: &Module, f: &Function) -> bool {
    let Some(annotation) = f.site.node.child_by_field_name("return_type") else {
        return false;
    };
    let text = module.src.text_of(annotation).trim();
    let inner = [
        "tuple[",
        "Tuple[",
        "Optional[",
        "list[",
        "List[",
        "set[",
        "Sequence[",
    ]
    .iter()
    .find_map(|w| text.strip_prefix(w).and_then(|r| r.strip_suffix(']')))
    .unwrap_or(text);
    inner.split([',', '|']).all(|part| {
        let part = part.trim();
        let head = part.split('[').next().unwrap_or(part);
        SCALARS.contains(&head.rsplit('.').next().unwrap_or(head))
    })
}

/// A method of an exception class: building the error a read raises
/// (`AuthorizeRedirectException(..., tenant)`) reads nothing the result holds.
fn is_exception_method(index: &Index, def: &Def) -> bool {
    let Some((class, _)) = def.qualname.rsplit_once('.') else {
        return false;
    };
    let class = Def {
        path: def.path.clone(),
        qualname: class.to_string(),
    };
    // Builtin bases (`Exception`) resolve to nothing: their names say.
    index.mro(&class).iter().any(|c| {
        let Some(m) = index.module(&c.def.path) else {
            return false;
        };
        let Some(bases) = m
            .class(&c.def.qualname)
            .and_then(|site| site.node.child_by_field_name("superclasses"))
        else {
            return false;
        };
        let mut cursor = bases.walk();
        bases.named_children(&mut cursor).any(|b| {
            let name = last(m.src.text_of(b));
            name.ends_with("Exception") || name.ends_with("Error")
        })
    })
}

/// The result comes from an outside API (and no database): its writers
/// are elsewhere, whatever else the read's class does.
fn reads_outside(purity: &Purity) -> bool {
    let reads = |p: &str| purity.reads.iter().any(|r| r.category.starts_with(p));
    reads("external_read") && !reads("db")
}

/// What bounds staleness when no writer was found: said for an outside API
/// and for data (a model, a table) nobody in the project writes; nothing
/// for a computation or a class that only reads.
fn no_writer_note(purity: &Purity, resources: &[String]) -> Option<String> {
    if reads_outside(purity) {
        return Some("the data comes from an outside API and changes there: the TTL is the only bound on how stale it gets".to_string());
    }
    let data: Vec<&String> = resources
        .iter()
        .filter(|r| !r.starts_with("class "))
        .collect();
    if data.is_empty() {
        return None;
    }
    let data: Vec<&str> = data.iter().map(|r| r.as_str()).collect();
    Some(format!(
        "no function of the project writes {}: if another service, a script or a migration does, the TTL is the only bound",
        data.join(", ")
    ))
}

/// A resource read and written.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Resource {
    Model(String),
    Table(String),
    /// A class whose methods read and write (a repository, a CRUD object).
    Class(Def),
    /// The rows of `child` a delete of `parent` removes or detaches (a
    /// foreign key `ondelete="CASCADE"` or `"SET NULL"`): only a delete
    /// writes them this way.
    Cascade {
        parent: String,
        child: String,
    },
    /// The rows of whichever model a generic repository base is given
    /// (`select(self.model)` in `BaseRepository.get`): the base's own
    /// writes that name no model write them.
    Generic,
}

impl Resource {
    /// The resource of a model class: its name.
    fn model(def: &Def) -> Resource {
        Resource::Model(last(&def.qualname).to_string())
    }

    fn shown(&self) -> String {
        match self {
            Resource::Model(m) => format!("model {m}"),
            Resource::Table(t) => format!("table {t}"),
            Resource::Class(d) => format!("class {}", target_name(&d.path, &d.qualname)),
            Resource::Cascade { child, .. } => format!("model {child}"),
            Resource::Generic => "generic repository".to_string(),
        }
    }

    /// A word every file that uses the resource contains.
    fn needle(&self) -> &str {
        match self {
            Resource::Model(m) | Resource::Table(m) => m,
            Resource::Class(d) => d.qualname.rsplit('.').next().unwrap_or(&d.qualname),
            Resource::Cascade { parent, .. } => parent,
            // Generic bases are classes; the files defining one say so.
            Resource::Generic => "class ",
        }
    }
}

/// `path::qualname` as a target the user can pass back: the path relative
/// to the current folder when below it.
fn target_name(path: &Path, qualname: &str) -> String {
    format!("{}::{qualname}", crate::lint::shown_path(&Index::key(path)))
}

fn function_at<'i, 'p>(
    index: &'i Index<'p>,
    path: &Path,
    qualname: &str,
) -> Option<(&'i Module<'p>, Function<'p>)> {
    let m = index.module(path)?;
    let site = m.function(qualname)?;
    Some((m, Function::new(m.src, site)))
}

/// The resources one function's own body names: the models among its
/// capitalised names and annotations, the tables of its SQL strings, and
/// its class when it is a method of one that is not a model.
fn touched<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    f: &Function<'p>,
    side: Side,
) -> BTreeSet<Resource> {
    let src = module.src;
    let mut out = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut names: Vec<Node> = f.body.idents.clone();
    // A reader's annotated parameters say what it reads; a writer's are
    // often context (the tenant a user is created in), not what it writes.
    if side == Side::Read
        && let Some(params) = f.site.node.child_by_field_name("parameters")
    {
        // `user: User` used only as `user.id`: the row's identity is the
        // key, none of its data is read.
        let mut cursor = params.walk();
        for param in params.named_children(&mut cursor) {
            let name = param_name(src, param);
            if !name.is_some_and(|n| identity_only(src, f, n)) {
                collect_idents(param, &mut names);
            }
        }
        // An inner function reads through its maker's parameters
        // (`repository: PermissionRepository = Depends(...)`) it uses.
        let used: BTreeSet<&str> = f.body.idents.iter().map(|i| src.text_of(*i)).collect();
        for def in used
            .into_iter()
            .filter_map(|name| index.outer_param_class(module, f, name))
        {
            out.extend(class_models(index, &def, 0));
        }
    }
    for ident in names {
        let name = src.text_of(ident);
        if !name.starts_with(|c: char| c.is_ascii_uppercase()) || !seen.insert(name) {
            continue;
        }
        let def = match index.resolve_node_in(module, ident) {
            Symbol::Class(def) => def,
            Symbol::Data(alias) if side == Side::Read => {
                out.extend(alias_models(index, &alias));
                continue;
            }
            _ => continue,
        };
        if is_model(index, &def) {
            out.insert(Resource::model(&def));
        } else if side == Side::Read {
            // `users_service: UserService`: the models of the service it reads through.
            out.extend(class_models(index, &def, 0));
        }
    }
    if let Some(body) = f.site.node.child_by_field_name("body") {
        sql_tables(src, body, &mut out);
    }
    // `queries.get_user(conn, ...)`: the tables of the aiosql statement.
    for call in &f.body.calls {
        if let Some(query) = index.aiosql_query(module, *call) {
            out.extend(query.tables.iter().cloned().map(Resource::Table));
        }
        // `model_map.get(name)`: the models a module-level map picks from.
        if side == Side::Read
            && let Some(object) = picked_from(src, *call)
        {
            out.extend(values::module_collection(index, module, object));
        }
    }
    if let Some(class) = crate::purity::class_of(module, f) {
        // A model's own method (`cls.find_one(...)`, `self.save()`) works on it.
        if is_model(index, &class) {
            out.insert(Resource::model(&class));
        }
        // A repository's own model (`model = User`, `BaseRepository[User]`),
        // and the models of the repositories its `self.…` attributes hold
        // (`self.user_repository.update(user)` in a service).
        out.extend(class_models(index, &class, 0));
        for attr in self_attributes(src, f) {
            // `cls.EXTEND_MODEL_MAP.get(name)`: the models it picks from.
            if side == Side::Read {
                out.extend(values::class_collection(index, &class, &attr));
            }
            let Some(held) = index.attribute(&class, &attr) else {
                continue;
            };
            if let Some(Symbol::Class(def)) = &held.class {
                out.extend(class_models(index, def, 0));
            }
            // `tags: TagRepository`, an alias of `RepositoryBase[Tag, …]`:
            // its type arguments name the model its generic class does not.
            if let Some(alias) = held
                .annotation
                .as_deref()
                .and_then(|a| alias_of(index, &class, a))
            {
                out.extend(alias_models(index, &alias));
            }
        }
        if !is_generic(&class) && !is_model(index, &class) {
            out.insert(Resource::Class(class));
        }
    }
    out
}

/// `NAME` of `NAME.get(...)`, a lowercase name: what a lookup picks from.
fn picked_from<'t>(src: &crate::source::SourceFile, call: Node<'t>) -> Option<Node<'t>> {
    let callee = call.child_by_field_name("function")?;
    let object = callee.child_by_field_name("object")?;
    let method = src.text_of(callee.child_by_field_name("attribute")?);
    (method == "get"
        && object.kind() == "identifier"
        && src
            .text_of(object)
            .starts_with(|c: char| c.is_ascii_lowercase()))
    .then_some(object)
}

/// Class attributes that name the model a repository or service works on.
const MODEL_ATTRIBUTES: &[&str] = &[
    "model",
    "model_type",
    "__model__",
    "model_class",
    "entity",
    // A Beanie/Motor repository's document class.
    "collection",
    "document",
];

/// Class attributes naming the repository a service delegates to.
const REPOSITORY_ATTRIBUTES: &[&str] = &["repository_type", "repository_class", "repo_type"];

/// The models a repository or service class works on, along its MRO: a
/// class attribute naming one (`model = User`, `model_type = User`), a base
/// subscripted with one (`BaseRepository[User]`,
/// `SQLAlchemyAsyncRepository[User]`), or those of the repository a service
/// names (`repository_type = UserRepository`). Models themselves have none.
fn class_models(index: &Index, class: &Def, depth: usize) -> BTreeSet<Resource> {
    let mut out = BTreeSet::new();
    if depth > 2 || is_model(index, class) {
        return out;
    }
    for info in index.mro(class) {
        let Some((m, node)) = class_node(index, &info.def) else {
            continue;
        };
        let mut named: Vec<(Node, bool)> = Vec::new();
        if let Some(bases) = node.child_by_field_name("superclasses") {
            subscript_names(bases, &mut named);
        }
        if let Some(body) = node.child_by_field_name("body") {
            class_assignments(m.src, body, &mut named);
        }
        for (ident, repository) in named {
            let Symbol::Class(def) = index.resolve_node(m, ident) else {
                continue;
            };
            if repository {
                out.extend(class_models(index, &def, depth + 1));
            } else if is_model(index, &def) {
                out.insert(Resource::model(&def));
            }
        }
    }
    out
}

/// A project class's module and `class` statement.
fn class_node<'i, 'p>(index: &'i Index<'p>, def: &Def) -> Option<(&'i Module<'p>, Node<'p>)> {
    let m = index.module(&def.path)?;
    let site = m.classes.iter().find(|c| c.qualname == def.qualname)?;
    Some((m, site.node))
}

/// A project class's module and the body of its `class` statement.
fn class_body<'i, 'p>(index: &'i Index<'p>, def: &Def) -> Option<(&'i Module<'p>, Node<'p>)> {
    let (m, node) = class_node(index, def)?;
    Some((m, node.child_by_field_name("body")?))
}

/// The module-level alias an annotation of `class`'s module names, if it
/// is one (`TagRepository`, assigned `RepositoryBase[Tag, …]`).
fn alias_of(index: &Index, class: &Def, annotation: &str) -> Option<Def> {
    let module = index.module(&class.path)?;
    let name = crate::project::classes::annotated_class_name(annotation)?;
    match index.resolve_dotted(module, name) {
        Symbol::Data(def) => Some(def),
        _ => None,
    }
}

/// The models a module-level alias of a subscripted generic names:
/// `TagRepository = RepositoryBase[Tag, TagCreate, …]` works on `Tag`.
fn alias_models(index: &Index, alias: &Def) -> BTreeSet<Resource> {
    let mut out = BTreeSet::new();
    let Some(m) = index.module(&alias.path) else {
        return out;
    };
    for (left, right) in crate::source::assignments(m.src.tree.root_node()) {
        if m.src.text_of(left) != alias.qualname || right.kind() != "subscript" {
            continue;
        }
        let mut inner = right.walk();
        for i in right.children_by_field_name("subscript", &mut inner) {
            if matches!(i.kind(), "identifier" | "attribute")
                && let Symbol::Class(def) = index.resolve_node(m, i)
                && is_model(index, &def)
            {
                out.insert(Resource::model(&def));
            }
        }
    }
    out
}

/// The names inside subscripted bases: `User` of `BaseRepository[User]`
/// (`m.User` too).
fn subscript_names<'t>(node: Node<'t>, out: &mut Vec<(Node<'t>, bool)>) {
    let mut cursor = node.walk();
    for child in node.named_children(&mut cursor) {
        if child.kind() == "subscript" {
            let mut inner = child.walk();
            for i in child.children_by_field_name("subscript", &mut inner) {
                if matches!(i.kind(), "identifier" | "attribute") {
                    out.push((i, false));
                }
            }
        }
    }
}

/// `model = User` (false) and `repository_type = UserRepository` (true) in a class body.
fn class_assignments<'t>(
    src: &crate::source::SourceFile,
    body: Node<'t>,
    out: &mut Vec<(Node<'t>, bool)>,
) {
    for (left, right) in crate::source::assignments(body) {
        if !matches!(right.kind(), "identifier" | "attribute") {
            continue;
        }
        let name = src.text_of(left);
        if MODEL_ATTRIBUTES.contains(&name) {
            out.push((right, false));
        } else if REPOSITORY_ATTRIBUTES.contains(&name) {
            out.push((right, true));
        }
    }
}

/// The `self.NAME` attributes a method's body uses.
fn self_attributes(src: &crate::source::SourceFile, f: &Function) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Some(receiver) = f.receiver() else {
        return out;
    };
    let Some(body) = f.site.node.child_by_field_name("body") else {
        return out;
    };
    let mut stack = vec![body];
    while let Some(n) = stack.pop() {
        if n.kind() == "attribute"
            && let (Some(object), Some(attr)) = (
                n.child_by_field_name("object"),
                n.child_by_field_name("attribute"),
            )
            && object.kind() == "identifier"
            && src.text_of(object) == receiver.name
        {
            out.insert(src.text_of(attr).to_string());
        }
        let mut cursor = n.walk();
        stack.extend(n.named_children(&mut cursor));
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Read,
    Write,
}

/// `user` of `user`, `user: User`, `user: User = Depends(...)`.
fn param_name<'t>(src: &'t crate::source::SourceFile, param: Node) -> Option<&'t str> {
    let name = match param.kind() {
        "identifier" => Some(param),
        "typed_parameter" => param.named_child(0),
        _ => param.child_by_field_name("name"),
    }?;
    (name.kind() == "identifier").then(|| src.text_of(name))
}

/// Whether `f`'s body uses `name` only for its identity (`name.id`,
/// `name.pk`, `name.team_id`), or not at all.
fn identity_only(src: &crate::source::SourceFile, f: &Function, name: &str) -> bool {
    f.body
        .idents
        .iter()
        .filter(|i| src.text_of(**i) == name)
        .all(|i| {
            i.parent()
                .filter(|p| p.kind() == "attribute")
                .filter(|p| {
                    p.child_by_field_name("object")
                        .is_some_and(|o| o.id() == i.id())
                })
                .and_then(|p| p.child_by_field_name("attribute"))
                .is_some_and(|a| {
                    let attr = src.text_of(a);
                    matches!(attr, "id" | "pk" | "uuid") || attr.ends_with("_id")
                })
        })
}

fn collect_idents<'t>(node: Node<'t>, out: &mut Vec<Node<'t>>) {
    if node.kind() == "identifier" {
        out.push(node);
    }
    let mut cursor = node.walk();
    for child in node.named_children(&mut cursor) {
        collect_idents(child, out);
    }
}

/// A base every repository of the project extends (`BaseRepository`,
/// `UUIDRepositoryMixin`, `AbstractCRUD`): its methods serve every model, so
/// sharing one says nothing about sharing data.
fn is_generic(class: &Def) -> bool {
    let name = last(&class.qualname);
    ["Base", "Abstract", "Generic"]
        .iter()
        .any(|w| name.starts_with(w))
        || name.ends_with("Mixin")
        || name.ends_with("Base")
}

fn last(qualname: &str) -> &str {
    qualname.rsplit('.').next().unwrap_or(qualname)
}

pub(crate) fn is_model(index: &Index, def: &Def) -> bool {
    index.mro(def).iter().any(|c| {
        c.bases
            .iter()
            .filter_map(Symbol::external_name)
            .any(|name| ORM_BASES.contains(&last(name)))
    })
}

/// `SELECT … FROM users JOIN orders`, `INSERT INTO users`, `UPDATE users`:
/// the tables of the SQL strings in a body.
fn sql_tables(src: &crate::source::SourceFile, body: Node, out: &mut BTreeSet<Resource>) {
    static STATEMENT: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?i)\b(select|insert|update|delete)\b").expect("a valid regex")
    });
    let mut stack = vec![body];
    while let Some(node) = stack.pop() {
        if node.kind() == "string" {
            let text = src.text_of(node);
            if STATEMENT.is_match(text) {
                out.extend(
                    crate::project::sql::tables(text)
                        .into_iter()
                        .map(Resource::Table),
                );
            }
            continue;
        }
        let mut cursor = node.walk();
        stack.extend(node.named_children(&mut cursor));
    }
}

/// Every function of the project with a write whose chain names one of
/// `resources`. Only files that mention a resource by name are parsed,
/// then, round by round, the files that mention a writer found so far (a
/// route calling a service that saves the model need not name it).
fn writers<'p>(
    index: &Index<'p>,
    resources: &BTreeSet<Resource>,
    patterns: &[&Pattern],
) -> Vec<Writer> {
    let mut needles: Vec<String> = resources.iter().map(|r| r.needle().to_string()).collect();
    let mut searched: BTreeSet<PathBuf> = BTreeSet::new();
    let mut out: Vec<Writer> = Vec::new();
    for _round in 0..4 {
        let words: Vec<&str> = needles.iter().map(String::as_str).collect();
        let files: Vec<PathBuf> = index
            .files()
            .iter()
            .filter(|p| !searched.contains(*p) && !is_test_file(p) && mentions_any(p, &words))
            .cloned()
            .collect();
        if files.is_empty() {
            break;
        }
        index.preload(&files);
        let before = out.len();
        for path in &files {
            out.extend(writers_in(index, path, resources, patterns));
        }
        searched.extend(files);
        needles = out[before..]
            .iter()
            .map(|w| last(&w.qualname).to_string())
            .collect();
        needles.sort();
        needles.dedup();
    }
    out.sort_by(|a, b| a.target.cmp(&b.target));
    out.dedup_by(|a, b| a.target == b.target);
    out
}

/// The writers of `resources` among the functions of one file.
fn writers_in<'p>(
    index: &Index<'p>,
    path: &Path,
    resources: &BTreeSet<Resource>,
    patterns: &[&Pattern],
) -> Vec<Writer> {
    let mut out = Vec::new();
    let Some(m) = index.module(path) else {
        return out;
    };
    // A CLI command's inner coroutine writes as much as a route does.
    for site in crate::locate::with_nested(m.src, &m.functions) {
        let g = Function::new(m.src, site);
        let effects = crate::purity::chains(index, m, &g, patterns);
        // A write statement first: it is what the invalidation follows
        // (`session.begin()` opens the transaction it runs in).
        let mut writes: Vec<&Effect> = effects.iter().filter(|e| is_write(e)).collect();
        // A transaction writes nothing itself: beside the writes it holds,
        // it would only lend them whatever else its function names.
        if writes.iter().any(|e| e.category != "db_unknown") {
            writes.retain(|e| e.category != "db_unknown");
        }
        writes.retain(|e| !assigns_attribute(statement_of(e)) || changed_in_place(index, m, &g, e));
        writes.sort_by_key(|e| e.category != "db_write");
        let staged = staged(index, m, &g, &writes);
        // The chain decided on the writer's own line first: its edit goes there.
        let found: Vec<_> = writes
            .into_iter()
            .filter_map(|e| shared(index, m, &g, e, resources, &staged).map(|r| (e, r)))
            .collect();
        // A write statement before the commit that follows it: the tag is
        // built from the statement's values.
        let rank = |e: &Effect, here: bool| (e.category != "db_write", !here, is_commit_note(e));
        let write = found.iter().min_by_key(|(e, (_, here))| rank(e, *here));
        if let Some((e, (resource, here))) = write {
            // Writes elsewhere in the function (`if row: row.save() else:
            // Model.create(...)`): the delete must follow each.
            let mut lines: Vec<usize> = found.iter().map(|(o, _)| o.line).collect();
            lines.sort_unstable();
            lines.dedup();
            out.push(Writer {
                lines,
                target: target_name(&m.src.path, &g.qualname),
                line: e.line,
                code: e.code.clone(),
                category: e.category.clone(),
                via: e.chain(),
                resource: resource.shown(),
                through: e
                    .via
                    .iter()
                    .map(|s| target_name(&index.root.join(&s.path), &s.function))
                    .collect(),
                here: *here,
                path: m.src.path.clone(),
                qualname: g.qualname.clone(),
            });
        }
    }
    out
}

/// What `g`'s own write statements change, commits aside: a commit or
/// flush writes what they staged (`session.add(post)` then `commit()`),
/// not every model its function reads on the way.
fn staged<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    g: &Function<'p>,
    writes: &[&Effect],
) -> BTreeSet<Resource> {
    writes
        .iter()
        .filter(|e| !is_commit_note(e))
        .filter_map(|e| written::written(index, module, g, e))
        .flat_map(|(data, _)| data)
        .collect()
}

/// A test writes fixture data, not the data a deployed cache serves.
fn is_test_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    crate::project::is_test_file_name(name)
        || path
            .components()
            .any(|c| matches!(c.as_os_str().to_str(), Some("tests" | "test")))
}

/// `users_service.update(…)` where `users_service: UserService` is a
/// parameter: the class the write goes through.
fn receiver_class<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    g: &Function<'p>,
    code: &str,
) -> Option<Resource> {
    let root = code.trim_start_matches("await ").split('.').next()?.trim();
    let annotation = g.param(root)?.annotation.as_deref()?;
    match index.annotation_text_class(module, annotation)? {
        Symbol::Class(def) if !is_generic(&def) && !is_model(index, &def) => {
            Some(Resource::Class(def))
        }
        _ => None,
    }
}

fn mentions_any(path: &Path, needles: &[&str]) -> bool {
    let Ok(bytes) = crate::file::read(path) else {
        return false;
    };
    needles
        .iter()
        .any(|n| memchr::memmem::find(&bytes, n.as_bytes()).is_some())
}

/// The resource a write shares with the read: named by the writer or by
/// a function on the way from it to the write; and whether the writer's
/// own line decides it (then its edit goes there, not in a helper).
fn shared<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    g: &Function<'p>,
    write: &Effect,
    resources: &BTreeSet<Resource>,
    staged: &BTreeSet<Resource>,
) -> Option<(Resource, bool)> {
    let own = written::written(index, module, g, write);
    let own = match own {
        // Decided where the commit runs: the writer's own line only when it commits itself.
        None if is_commit_note(write) && !staged.is_empty() => {
            Some((staged.clone(), write.via.len()))
        }
        own => own,
    };
    // A call taken for a write by its name alone (`instances.update(...)`)
    // writes what the function holding it names: nothing lent by its
    // writer or the services on the way (`response.set_cookie(...)` in
    // `AuthenticationFlow` writes none of the flow's models).
    if own.is_none() && matches!(write.category.as_str(), "unknown" | "argument_mutation") {
        // A row changed in place is a write only of the model it is.
        if assigns_attribute(statement_of(write)) {
            return None;
        }
        let named = match write.via.last() {
            Some(step) => {
                let (m, h) = function_at(index, &index.root.join(&step.path), &step.function)?;
                touched(index, m, &h, Side::Write)
            }
            None => touched(index, module, g, Side::Write),
        };
        return named
            .into_iter()
            .find(|r| resources.contains(r))
            .map(|r| (r, write.via.is_empty()));
    }
    if let Some((data, step)) = own {
        let direct = data.iter().find(|r| resources.contains(r)).cloned();
        // A delete of the parent writes the rows that cascade from it.
        let cascaded = || {
            is_delete(write).then(|| {
                resources.iter().find(|r| {
                    matches!(r, Resource::Cascade { parent, .. }
                        if data.contains(&Resource::Model(parent.clone())))
                })
            })?
        };
        return direct
            .or_else(|| cascaded().cloned())
            .map(|r| (r, step == 0));
    }
    let mut names = touched(index, module, g, Side::Write);
    // The statement names no model and runs in a generic base's method
    // (`self.session.add(object)` in `BaseRepository.create`): it writes
    // whichever model the base is given.
    let class = match write.via.last() {
        Some(step) => function_at(index, &index.root.join(&step.path), &step.function)
            .and_then(|(m, h)| crate::purity::class_of(m, &h)),
        None => crate::purity::class_of(module, g),
    };
    // A statement, not a transaction: committing whatever ran is no write of its own.
    if write.category == "db_write" && class.is_some_and(|c| is_generic(&c)) {
        names.insert(Resource::Generic);
    }
    if let Some(Resource::Class(class)) = receiver_class(index, module, g, &write.code) {
        names.extend(class_models(index, &class, 0));
        names.insert(Resource::Class(class));
    }
    for step in &write.via {
        let path = index.root.join(&step.path);
        if let Some((m, h)) = function_at(index, &path, &step.function) {
            names.extend(touched(index, m, &h, Side::Write));
        }
    }
    names
        .into_iter()
        .find(|r| resources.contains(r))
        .map(|r| (r, write.via.is_empty()))
}
