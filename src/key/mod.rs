//! Key design: an explicit, readable template holding every input that
//! affects the result, and nothing whose `str()` is `<object at 0x…>`.

mod roles;
pub(crate) mod secrets;
mod usage;

pub(crate) use roles::{is_resource_name, param_key};

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;
use tree_sitter::Node;

use crate::cashews::{Placeholder, parse_template};
use crate::function::{FnKind, Function, Param, ParamKind, dotted_name};
use crate::module::{Module, is_container};
use crate::project::Index;
use crate::source::{BadInput, SourceFile};

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct Excluded {
    pub(crate) name: String,
    pub(crate) reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Key {
    pub(crate) template: String,
    /// The inputs the template holds: `user_id`, `self._host`.
    pub(crate) inputs: Vec<String>,
    pub(crate) excluded: Vec<Excluded>,
    #[serde(skip)]
    pub(crate) warnings: Vec<String>,
    /// Questions about the key a person must answer (the target goes to review).
    #[serde(skip)]
    pub(crate) review: Vec<String>,
    /// Parameters whose `str()` is an object address, and why (by
    /// `param_key`): a key holding one whole never hits.
    #[serde(skip)]
    pub(crate) addresses: Vec<Excluded>,
}

/// Names and annotation types that are resources, not values; extended from config.
#[derive(Debug, Clone, Default)]
pub(crate) struct HandleRules {
    pub(crate) extra_names: Vec<String>,
    pub(crate) extra_types: Vec<String>,
    pub(crate) extra_secrets: Vec<String>,
}

static HANDLE_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^_*(session|db|db_session|dbsession|conn|connection|cursor|cur|tx|transaction|uow|client|http|http_client|httpx_client|engine|pool|redis|redis_client|logger|log|lock|background_tasks|callback|cb|executor|loop|sem|semaphore|app|websocket|ws|repo|repository|repositories|service|services|manager|settings|config|bot|uow)$|_(session|client|conn|connection|pool|engine|logger|lock|cursor|repo|repository|service|manager|uow)$").unwrap()
});

const HANDLE_TYPES: &[(&str, &str)] = &[
    ("AsyncSession", "database session handle"),
    ("Session", "database session handle"),
    ("Connection", "database connection"),
    ("AsyncConnection", "database connection"),
    ("Engine", "database engine"),
    ("AsyncEngine", "database engine"),
    ("Pool", "connection pool"),
    ("Cursor", "database cursor"),
    ("Database", "database handle"),
    ("AsyncIOMotorDatabase", "database handle"),
    ("AsyncIOMotorClient", "database client"),
    ("Redis", "Redis client"),
    ("ClientSession", "HTTP client"),
    ("AsyncClient", "HTTP client"),
    ("Client", "client handle"),
    ("Logger", "logger"),
    ("Lock", "lock"),
    ("Semaphore", "semaphore"),
    ("BackgroundTasks", "background task queue"),
    ("Response", "response object"),
    ("WebSocket", "websocket"),
    ("Request", "request object"),
    ("HTTPConnection", "request object"),
];

/// Compiled once: `handle_type` runs for every annotated parameter.
static IDENTIFIER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[A-Za-z_][A-Za-z0-9_]*").expect("static regex"));

const AGGREGATE_WORDS: &[&str] = &[
    "stats",
    "statistics",
    "dashboard",
    "summary",
    "report",
    "overview",
    "metrics",
    "leaderboard",
    "analytics",
    "totals",
    "aggregate",
    "counts",
];

/// Whether a name looks like an expensive aggregate (for `@cache.early`).
pub(crate) fn looks_aggregate(name: &str) -> bool {
    name.to_ascii_lowercase()
        .split('_')
        .any(|w| AGGREGATE_WORDS.contains(&w))
}

impl HandleRules {
    /// Why a parameter is a handle rather than a value, if it is one.
    fn handle_reason(&self, src: &SourceFile, p: &Param) -> Option<String> {
        if let Some(t) = p.annotation.as_deref().and_then(|a| self.handle_type(a)) {
            return Some(t);
        }
        if p.default
            .as_deref()
            .is_some_and(|d| d.starts_with("Depends(") || d.starts_with("Security("))
        {
            return Some("dependency-injected by the framework (Depends)".to_string());
        }
        let _ = src;
        self.handle_name(&p.name)
    }

    pub(crate) fn handle_type(&self, annotation: &str) -> Option<String> {
        for word in IDENTIFIER.find_iter(annotation).map(|m| m.as_str()) {
            if let Some((_, reason)) = HANDLE_TYPES.iter().find(|(t, _)| *t == word) {
                return Some(format!("{reason} ({annotation})"));
            }
            if self.extra_types.iter().any(|t| t == word) {
                return Some(format!("handle type {word} (config)"));
            }
        }
        None
    }

    pub(crate) fn handle_name(&self, name: &str) -> Option<String> {
        if self.extra_names.iter().any(|n| n == name) {
            return Some("handle name (config)".to_string());
        }
        HANDLE_NAME
            .is_match(name)
            .then(|| match name.trim_start_matches('_') {
                "session" | "db" | "db_session" | "dbsession" | "uow" => {
                    "database session handle".to_string()
                }
                "logger" | "log" => "logger".to_string(),
                n if n.ends_with("client") || n == "http" => "HTTP client".to_string(),
                n if n.starts_with("conn") || n.ends_with("connection") || n.ends_with("conn") => {
                    "database connection".to_string()
                }
                _ => "resource handle: its str() is an object address".to_string(),
            })
    }

    /// Why a parameter is a resource (DB session, client, request, logger…)
    /// whose `str()` is an object address. None for values, including a
    /// `Depends(...)` value that is not a resource (a user, a tenant).
    pub(crate) fn resource_reason(&self, p: &Param) -> Option<String> {
        if roles::is_primitive(p) {
            return None; // `repo: str` is a repository's name
        }
        p.annotation
            .as_deref()
            .and_then(|a| self.handle_type(a))
            .or_else(|| self.handle_name(&p.name))
    }

    pub(crate) fn is_secret(&self, name: &str) -> bool {
        secrets::is_secret_name(name)
            || self
                .extra_secrets
                .iter()
                .any(|s| name.to_ascii_lowercase().contains(&s.to_ascii_lowercase()))
    }
}

/// The type names an annotation holds, each by its last dotted part:
/// `Optional[pydantic.SecretStr]` gives `Optional`, `SecretStr`.
pub(crate) fn type_names(annotation: &str) -> impl Iterator<Item = &str> {
    annotation
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
        .filter_map(|part| part.rsplit('.').next())
}

/// Designs the key for one function. `prefix` is `module:qualname`.
pub(crate) fn design<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    f: &Function<'p>,
    prefix: &str,
    rules: &HandleRules,
) -> Key {
    // The prefix is literal text (a folder may be called `{x}`): str.format
    // would read a brace in it as a placeholder, or fail on a lone `}`.
    let prefix = &prefix.replace('{', "{{").replace('}', "}}");
    let mut parts = Vec::new();
    let mut inputs = Vec::new();
    let mut excluded = Vec::new();
    let mut warnings = Vec::new();
    let mut review = Vec::new();
    let mut addresses = Vec::new();
    for p in &f.params {
        match p.kind {
            ParamKind::Receiver if f.kind == FnKind::ClassMethod => excluded.push(Excluded {
                name: p.name.clone(),
                reason: "the class: classmethod keys do not need it".to_string(),
            }),
            ParamKind::Receiver => {
                let attrs = self_attributes(module, f, &p.name, rules);
                if attrs.included.is_empty() {
                    excluded.push(Excluded {
                        name: p.name.clone(),
                        reason: "the instance: its str() is an object address, and the method reads no identifying attribute".to_string(),
                    });
                }
                for attr in attrs.included {
                    let field = format!("{}.{}", python_name(&p.name), python_name(&attr));
                    parts.push(placeholder(&field, rules.is_secret(&attr)));
                    inputs.push(field);
                }
                let handles: Vec<String> = attrs.excluded.iter().map(|e| e.name.clone()).collect();
                for (field, secret) in
                    roles::caller_identity(index, module, f, &p.name, &handles, rules)
                {
                    if !inputs.contains(&field) {
                        parts.push(placeholder(&field, secret));
                        inputs.push(field);
                    }
                }
                excluded.extend(attrs.excluded);
            }
            ParamKind::Args => {
                parts.push("{__args__}".to_string());
                inputs.push(p.name.clone());
            }
            ParamKind::Kwargs => {
                // Keyword arguments may carry `api_key=` or `password=`.
                parts.push("{__kwargs__:hash}".to_string());
                inputs.push(p.name.clone());
            }
            ParamKind::Plain => {
                let key = param_key(index, module, f, p, rules);
                for (field, secret) in &key.fields {
                    parts.push(placeholder(field, *secret));
                    inputs.push(field.clone());
                }
                if let Some(reason) = key.excluded {
                    excluded.push(Excluded {
                        name: p.name.clone(),
                        reason,
                    });
                }
                warnings.extend(key.warnings);
                review.extend(key.review);
                if let Some(reason) = key.address {
                    addresses.push(Excluded {
                        name: p.name.clone(),
                        reason,
                    });
                }
            }
        }
    }
    warnings.extend(module_state_warnings(module, f));
    let template = std::iter::once(prefix.to_string())
        .chain(parts)
        .collect::<Vec<_>>()
        .join(":");
    Key {
        template,
        inputs,
        excluded,
        warnings,
        review,
        addresses,
    }
}

/// The name Python gives an identifier: NFKC-normalised (PEP 3131), so
/// `ﬁle` is `file` at run time. cashews formats keys with str.format, which
/// does not normalise: a key must name `{file}`, or WrongKeyError.
pub(crate) fn python_name(name: &str) -> std::borrow::Cow<'_, str> {
    use unicode_normalization::UnicodeNormalization;
    if name.is_ascii() {
        std::borrow::Cow::Borrowed(name)
    } else {
        std::borrow::Cow::Owned(name.nfkc().collect())
    }
}

/// The parameter a key placeholder's root names at run time (by its
/// normalised name; the placeholder itself is taken as written).
fn runtime_param<'f>(f: &'f Function, root: &str) -> Option<&'f crate::function::Param> {
    f.params.iter().find(|p| python_name(&p.name) == root)
}

/// `{field}`, or `{field:hash}` for a secret.
pub(crate) fn placeholder(field: &str, secret: bool) -> String {
    if secret {
        format!("{{{field}:hash}}")
    } else {
        format!("{{{field}}}")
    }
}

/// Reads of module-level mutable state or `global` names: the key cannot hold them.
fn module_state_warnings(module: &Module, f: &Function) -> Vec<String> {
    let src = module.src;
    let params: BTreeSet<&str> = f.params.iter().map(|p| p.name.as_str()).collect();
    let locals: BTreeSet<&str> = f
        .body
        .targets
        .iter()
        .filter(|(t, _)| t.kind() == "identifier")
        .map(|(t, _)| src.text_of(*t))
        .collect();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for ident in &f.body.idents {
        let name = src.text_of(*ident);
        if params.contains(name)
            || locals.contains(name)
            || !module.is_mutable_variable(name)
            || !crate::source::is_load(*ident)
        {
            continue;
        }
        if seen.insert(name) {
            out.push(format!(
                "reads module-level mutable state `{name}` (line {}), which the key cannot hold: cached results go stale when it changes",
                crate::source::line_of(*ident)
            ));
        }
    }
    out
}

struct SelfAttributes {
    included: Vec<String>,
    excluded: Vec<Excluded>,
}

/// Instance attributes the method (and the same-class helpers it calls)
/// reads, split into identifying values and handles.
fn self_attributes(
    module: &Module,
    f: &Function,
    receiver: &str,
    rules: &HandleRules,
) -> SelfAttributes {
    let src = module.src;
    let mut read: Vec<String> = Vec::new();
    let mut bodies = vec![f.site.node];
    let class = f.site.class;
    let methods = class.map(|c| class_methods(src, c)).unwrap_or_default();
    for call in &f.body.calls {
        if let Some(name) = call
            .child_by_field_name("function")
            .and_then(|c| dotted_name(src, c))
            && let Some(method) = name.strip_prefix(&format!("{receiver}."))
            && let Some((_, node)) = methods.iter().find(|(n, _)| n == method)
        {
            bodies.push(*node);
        }
    }
    for body in bodies {
        let facts = crate::function::BodyFacts::collect(src, body);
        for attr in &facts.attributes {
            let (Some(object), Some(name)) = (
                attr.child_by_field_name("object"),
                attr.child_by_field_name("attribute"),
            ) else {
                continue;
            };
            let name = src.text_of(name).to_string();
            let is_call = attr.parent().is_some_and(|p| {
                p.kind() == "call"
                    && p.child_by_field_name("function")
                        .is_some_and(|c| c.id() == attr.id())
            });
            let is_target = attr.parent().is_some_and(|p| {
                matches!(p.kind(), "assignment" | "augmented_assignment")
                    && p.child_by_field_name("left")
                        .is_some_and(|l| l.id() == attr.id())
            });
            if src.text_of(object) == receiver
                && !is_call
                && !is_target
                && !methods.iter().any(|(m, _)| *m == name)
                && !read.contains(&name)
            {
                read.push(name);
            }
        }
    }
    let init = class.map(|c| init_assignments(src, c)).unwrap_or_default();
    let mut out = SelfAttributes {
        included: Vec::new(),
        excluded: Vec::new(),
    };
    for name in read {
        let field = format!("{receiver}.{name}");
        match classify_attribute(src, &init, &name, rules) {
            AttrKind::Value => out.included.push(name),
            AttrKind::Constant => {}
            AttrKind::Handle(reason) => out.excluded.push(Excluded {
                name: field,
                reason,
            }),
        }
    }
    out
}

enum AttrKind {
    Value,
    Constant,
    Handle(String),
}

fn classify_attribute(
    src: &SourceFile,
    init: &InitInfo,
    name: &str,
    rules: &HandleRules,
) -> AttrKind {
    if let Some(reason) = rules.handle_name(name) {
        return AttrKind::Handle(reason);
    }
    let Some(value) = init
        .assigned
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| *v)
    else {
        return AttrKind::Value; // set elsewhere (dataclass field, subclass): key on it to be safe
    };
    match value.kind() {
        "identifier" => {
            let param = init.params.iter().find(|p| p.name == src.text_of(value));
            match param.and_then(|p| rules.handle_reason(src, p)) {
                Some(reason) => AttrKind::Handle(format!("set in __init__ from a {reason}")),
                None => AttrKind::Value,
            }
        }
        "string" | "integer" | "float" | "true" | "false" | "none" => AttrKind::Constant,
        "call" if !is_container(src, value) => {
            let callee = value
                .child_by_field_name("function")
                .and_then(|c| dotted_name(src, c))
                .unwrap_or_default();
            if matches!(
                callee.as_str(),
                "str" | "int" | "float" | "bool" | "tuple" | "frozenset" | "Decimal"
            ) {
                AttrKind::Value
            } else {
                AttrKind::Handle(format!(
                    "an object built in __init__ ({callee}(…)): its str() is an address"
                ))
            }
        }
        _ => AttrKind::Value,
    }
}

#[derive(Default)]
struct InitInfo<'t> {
    params: Vec<Param>,
    assigned: Vec<(String, Node<'t>)>,
}

fn class_methods<'t>(src: &'t SourceFile, class: Node<'t>) -> Vec<(String, Node<'t>)> {
    let Some(body) = class.child_by_field_name("body") else {
        return Vec::new();
    };
    let mut cursor = body.walk();
    body.named_children(&mut cursor)
        .filter_map(|s| match s.kind() {
            "function_definition" => Some(s),
            "decorated_definition" => s
                .child_by_field_name("definition")
                .filter(|d| d.kind() == "function_definition"),
            _ => None,
        })
        .filter_map(|d| Some((src.text_of(d.child_by_field_name("name")?).to_string(), d)))
        .collect()
}

fn init_assignments<'t>(src: &'t SourceFile, class: Node<'t>) -> InitInfo<'t> {
    let Some((_, init)) = class_methods(src, class)
        .into_iter()
        .find(|(n, _)| n == "__init__")
    else {
        return InitInfo::default();
    };
    let site = crate::locate::FunctionSite {
        node: init,
        class: Some(class),
        qualname: "__init__".to_string(),
    };
    let f = Function::new(src, site);
    let receiver = f
        .receiver()
        .map(|p| p.name.clone())
        .unwrap_or_else(|| "self".to_string());
    let mut assigned = Vec::new();
    for (target, _) in &f.body.targets {
        if target.kind() == "attribute"
            && target
                .child_by_field_name("object")
                .is_some_and(|o| src.text_of(o) == receiver)
            && let (Some(attr), Some(value)) = (
                target.child_by_field_name("attribute"),
                target.parent().and_then(|a| a.child_by_field_name("right")),
            )
        {
            assigned.push((src.text_of(attr).to_string(), value));
        }
    }
    InitInfo {
        params: f.params,
        assigned,
    }
}

/// `a, b, c`, or `none`: for messages about placeholders.
pub(crate) fn parameter_list(f: &Function) -> String {
    let names: Vec<&str> = f.params.iter().map(|p| p.name.as_str()).collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// Checks a user key (or tags) against the function: every placeholder must
/// name a parameter (cashews raises WrongKeyError at import otherwise).
pub(crate) fn check_placeholders(
    f: &Function,
    template: &str,
    what: &str,
) -> Result<Vec<String>, BadInput> {
    let placeholders =
        parse_template(template).map_err(|e| BadInput(format!("{what} {template:?}: {e}")))?;
    if let Some(p) = unknown_placeholders(f, &placeholders).first() {
        return Err(BadInput(format!(
            "{what} {template:?}: {{{}}} names no parameter of {} (parameters: {}); cashews would raise WrongKeyError at import",
            p.field,
            f.name,
            parameter_list(f)
        )));
    }
    Ok(placeholders.into_iter().map(|p| p.field).collect())
}

/// The placeholders cashews rejects when the decorator is applied: the root
/// must be a parameter, `*args` / `**kwargs` only as `__args__` /
/// `__kwargs__` (cashews' names for them), or a context value (`@`).
pub(crate) fn unknown_placeholders<'p>(
    f: &Function,
    placeholders: &'p [Placeholder],
) -> Vec<&'p Placeholder> {
    let has = |kind| f.params.iter().any(|p| p.kind == kind);
    placeholders
        .iter()
        .filter(|p| {
            let known = p.root == "@"
                || runtime_param(f, &p.root).is_some_and(|param| {
                    !matches!(param.kind, ParamKind::Args | ParamKind::Kwargs)
                })
                || (p.root == "__args__" && has(ParamKind::Args))
                || (p.root == "__kwargs__" && has(ParamKind::Kwargs));
            !known
        })
        .collect()
}

/// Whether the function body reads `name` (a call to `locals()` or `vars()`
/// reads every name). A parameter the body never reads cannot change the result.
pub(crate) fn body_reads(src: &SourceFile, f: &Function, name: &str) -> bool {
    f.body.idents.iter().any(|i| {
        let text = src.text_of(*i);
        text == name
            || (matches!(text, "locals" | "vars") && i.parent().is_some_and(|p| p.kind() == "call"))
    })
}

/// Inputs the designed key holds that a user key leaves out.
pub(crate) fn missing_inputs(f: &Function, designed: &Key, user_template: &str) -> Vec<String> {
    let fields: Vec<String> = parse_template(user_template)
        .unwrap_or_default()
        .into_iter()
        .map(|p| p.field)
        .collect();
    let covers = |input: &str| {
        let star = match runtime_param(f, input).map(|p| p.kind) {
            Some(ParamKind::Args) => "__args__",
            Some(ParamKind::Kwargs) => "__kwargs__",
            _ => input,
        };
        fields.iter().any(|field| {
            field == star
                || field.starts_with(&format!("{star}."))
                || field.starts_with(&format!("{star}["))
        })
    };
    // A handle's own fields (`{ctx.author.id}`, `{request.url}`) are the
    // designer's choice of identity, not an input a user key must hold.
    let of_handle = |input: &str| {
        let root = input.split(['.', '[']).next().unwrap_or(input);
        designed.excluded.iter().any(|e| e.name == root)
    };
    designed
        .inputs
        .iter()
        .filter(|input| !covers(input) && !of_handle(input))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locate::find;
    use std::path::Path;

    fn key(text: &str, name: &str) -> Key {
        crate::project::tests::with_module(text, |index, module| {
            let f = Function::new(
                module.src,
                find(module.src, &module.functions, name).unwrap(),
            );
            design(
                index,
                module,
                &f,
                &format!("m:{name}"),
                &HandleRules::default(),
            )
        })
    }

    /// The key of `rel::name` in a project of `files`.
    fn project_key(files: &[(&str, &str)], rel: &str, name: &str) -> Key {
        crate::project::tests::with_project_module(files, rel, |index, module| {
            let f = Function::new(
                module.src,
                find(module.src, &module.functions, name).unwrap(),
            );
            design(
                index,
                module,
                &f,
                &format!("m:{name}"),
                &HandleRules::default(),
            )
        })
    }

    #[test]
    fn table() {
        let cases: &[(&str, &str, &str, &[&str])] = &[
            (
                "async def f(user_id: int, page: int = 1): ...",
                "f",
                "m:f:{user_id}:{page}",
                &[],
            ),
            (
                "async def f(session: AsyncSession, user_id): ...",
                "f",
                "m:f:{user_id}",
                &["session"],
            ),
            (
                "async def f(db, user_id=Depends(x)): ...",
                "f",
                "m:f",
                &["db", "user_id"],
            ),
            (
                "async def f(*args, **kwargs): ...",
                "f",
                "m:f:{__args__}:{__kwargs__:hash}",
                &[],
            ),
            (
                "async def f(username, password): ...",
                "f",
                "m:f:{username}:{password:hash}",
                &[],
            ),
            (
                "async def f(q, logger: logging.Logger): ...",
                "f",
                "m:f:{q}",
                &["logger"],
            ),
            (
                "class S:\n    def __init__(self, host: str, client: httpx.AsyncClient, token: str):\n        self._host = host\n        self._client = client\n        self._token = token\n        self._retries = 3\n    async def get(self, uid):\n        return await self._client.get(self._host + self._token, self._retries)\n",
                "S.get",
                "m:S.get:{self._host}:{self._token:hash}:{uid}",
                &["self._client"],
            ),
            (
                "class S:\n    async def get(self, uid): return uid\n",
                "S.get",
                "m:S.get:{uid}",
                &["self"],
            ),
            (
                "class S:\n    @classmethod\n    async def get(cls, uid): return uid\n",
                "S.get",
                "m:S.get:{uid}",
                &["cls"],
            ),
        ];
        for (code, name, template, excluded) in cases {
            let k = key(code, name);
            assert_eq!(k.template, *template, "{code}");
            let ex: Vec<&str> = k.excluded.iter().map(|e| e.name.as_str()).collect();
            assert_eq!(ex, *excluded, "{code}");
        }
    }

    #[test]
    fn who_is_asking_is_keyed_and_handles_are_not() {
        let files = [
            ("app/__init__.py", ""),
            (
                "app/deps.py",
                "from sqlalchemy.ext.asyncio import AsyncSession\nfrom app.models import User\nasync def get_db():\n    yield AsyncSession()\nasync def current_user(db=None) -> User:\n    return User()\nclass UserRepo:\n    def __init__(self, session: AsyncSession):\n        self.session = session\n    async def feed(self, user, limit):\n        return await self.q(user.username, limit)\ndef get_repo() -> UserRepo:\n    return UserRepo(None)\n",
            ),
            (
                "app/models.py",
                "class User:\n    id: int\n    username: str\n    hashed_password: str\n",
            ),
            (
                "app/client.py",
                "class Auth:\n    def __init__(self, token: str, base_url: str):\n        self.token = token\n        self.base_url = base_url\nclass Client:\n    def __init__(self, auth: Auth):\n        self._auth = auth\n    async def call(self, path):\n        return path\nclass Repos:\n    def __init__(self, client: Client):\n        self._client = client\n    async def get(self, name: str):\n        return await self._client.call(name)\n",
            ),
            (
                "app/api.py",
                "from fastapi import Depends\nfrom app.deps import current_user, get_db, get_repo, UserRepo\nfrom app.models import User\nasync def feed(limit: int, user: User = Depends(current_user), db=Depends(get_db), repo: UserRepo = Depends(get_repo)):\n    return await repo.feed(user, limit)\nasync def me(user: User = Depends(current_user)):\n    return user\nasync def top(ctx, n: int):\n    await ctx.send('x')\n    return ctx.author.name, n\nasync def named(repository: str):\n    return repository\n",
            ),
        ];
        for (name, template, excluded) in [
            ("feed", "m:feed:{limit}:{user.username}", vec!["db", "repo"]),
            ("me", "m:me:{user.id}", vec![]),
            ("top", "m:top:{ctx.author.name}:{n}", vec!["ctx"]),
            ("named", "m:named:{repository}", vec![]),
        ] {
            let k = project_key(&files, "app/api.py", name);
            assert_eq!(k.template, template, "{name}: {:?}", k.excluded);
            let ex: Vec<&str> = k.excluded.iter().map(|e| e.name.as_str()).collect();
            assert_eq!(ex, excluded, "{name}");
        }
        let k = project_key(&files, "app/client.py", "Repos.get");
        assert_eq!(
            k.template,
            "m:Repos.get:{self._client._auth.base_url}:{self._client._auth.token:hash}:{name}",
            "client B must not get client A's answer"
        );
    }

    /// Issue: secrets went raw into keys (`auth`, `jwt`, `headers`, a
    /// credentials dataclass, `**kwargs`); each is hashed or reviewed now.
    #[test]
    fn secrets_never_go_in_clear() {
        for (code, template) in [
            ("async def f(auth, q): ...", "m:f:{auth:hash}:{q}"),
            (
                "async def f(jwt: str, bearer: str): ...",
                "m:f:{jwt:hash}:{bearer:hash}",
            ),
            (
                "async def f(session_id, otp, pin): ...",
                "m:f:{session_id:hash}:{otp:hash}:{pin:hash}",
            ),
            (
                "async def f(dsn: str, connection_string: str): ...",
                "m:f:{dsn:hash}:{connection_string:hash}",
            ),
            (
                "async def f(signature: str, author: str): ...",
                "m:f:{signature:hash}:{author}",
            ),
            (
                "async def f(path: str, headers: dict): ...",
                "m:f:{path}:{headers:hash}",
            ),
            (
                "async def f(url, cookies=None): ...",
                "m:f:{url}:{cookies:hash}",
            ),
            ("async def f(q, **kwargs): ...", "m:f:{q}:{__kwargs__:hash}"),
            // Found by tests/key_fuzz.rs: `query` read whole is a search string,
            // not an aiogram callback query (was `{query.from_user.id}`).
            (
                "async def f(query):\n    return repr(query)\n",
                "m:f:{query}",
            ),
            (
                "async def f(message):\n    return message.chat.id\n",
                "m:f:{message.chat.id}",
            ),
            (
                "async def f(creds: HTTPBasicCredentials = Depends(basic)): return creds",
                "m:f:{creds:hash}",
            ),
            (
                "from dataclasses import dataclass\n@dataclass\nclass Credentials:\n    user: str\n    password: str\nasync def f(c: Credentials):\n    return c\n",
                "m:f:{c:hash}",
            ),
            (
                "async def f(headers: dict):\n    return headers['Authorization'], headers['Accept']\n",
                "m:f:{headers[Accept]}:{headers[Authorization]:hash}",
            ),
        ] {
            let k = key(code, "f");
            assert_eq!(k.template, template, "{code}");
            assert!(k.review.is_empty(), "{code}: {:?}", k.review);
        }
        let k = key(
            "async def f(password: SecretStr):\n    return password\n",
            "f",
        );
        assert!(
            k.review.iter().any(|r| r.contains("masked")),
            "a SecretStr prints `**********`: every value would share one key: {:?}",
            k.review
        );
    }

    #[test]
    fn warns_on_module_state_and_depends() {
        let k = key(
            "SETTINGS = {}\nasync def f(x, user=Depends(cur)):\n    return SETTINGS[x], user\n",
            "f",
        );
        assert!(
            k.warnings
                .iter()
                .any(|w| w.contains("module-level mutable state `SETTINGS`")),
            "{:?}",
            k.warnings
        );
        assert!(
            k.review.iter().any(|w| w.contains("`user` is injected")),
            "{:?}",
            k.warnings
        );
    }

    #[test]
    fn resources_and_reads() {
        let src = SourceFile::parse(
            Path::new("m.py"),
            b"async def f(session: AsyncSession, user=Depends(u), db=Depends(s), q=1):\n    return locals()\n"
                .to_vec(),
        )
        .unwrap();
        let f = Function::new(
            &src,
            find(&src, &crate::locate::all_functions(&src), "f").unwrap(),
        );
        let rules = HandleRules::default();
        let reasons: Vec<bool> = f
            .params
            .iter()
            .map(|p| rules.resource_reason(p).is_some())
            .collect();
        assert_eq!(reasons, [true, false, true, false]);
        assert!(body_reads(&src, &f, "q"), "locals() reads every name");
    }

    #[test]
    fn user_key_checks() {
        let src =
            SourceFile::parse(Path::new("m.py"), b"async def f(a, b): ...\n".to_vec()).unwrap();
        let f = Function::new(
            &src,
            find(&src, &crate::locate::all_functions(&src), "f").unwrap(),
        );
        assert!(check_placeholders(&f, "f:{a}:{b.x}", "key").is_ok());
        let star = SourceFile::parse(
            Path::new("m.py"),
            b"async def g(a, *args, **kwargs): ...\n".to_vec(),
        )
        .unwrap();
        let g = Function::new(
            &star,
            find(&star, &crate::locate::all_functions(&star), "g").unwrap(),
        );
        assert!(check_placeholders(&g, "g:{a}:{__args__}:{__kwargs__}", "key").is_ok());
        for wrong in ["g:{args}", "g:{kwargs[x]}"] {
            assert!(check_placeholders(&g, wrong, "key").is_err(), "{wrong}");
        }
        let err = check_placeholders(&f, "f:{c}", "key").unwrap_err();
        assert!(
            err.0
                .contains("{c} names no parameter of f (parameters: a, b)"),
            "{err}"
        );
        let designed = key("async def f(a, b): ...\n", "f");
        assert_eq!(missing_inputs(&f, &designed, "f:{a}"), ["b"]);
        assert!(!body_reads(&src, &f, "a"), "the body is `...`");
        assert!(missing_inputs(&f, &designed, "f:{a}:{b.id}").is_empty());
    }
}
