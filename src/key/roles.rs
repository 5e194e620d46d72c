//! What a parameter is to the key: a handle (out of it) or a value (in it,
//! by the fields the result depends on). One decision, asked by the key
//! designer and by the lint, so they never disagree.
//!
//! - Injected dependencies (`Depends(provider)`, `Security(...)`,
//!   `Annotated[T, Depends(provider)]`, Litestar's `Provide(...)`) are
//!   resolved through the project: a provider that yields or returns a
//!   session, connection, client, repository, service, unit of work or
//!   settings is a handle; one that returns a value (the current user, a
//!   tenant, filters) is a key input.
//! - Carriers (`ctx`, `interaction`, `message`, `request`) are handles
//!   whose identifying fields the body reads go in the key
//!   (`{ctx.author.id}`, `{request.path_params[slug]}`).
//! - Objects are keyed by the fields the function reads, followed into the
//!   functions it passes them to; read whole, by an identifying field when
//!   their `str()` is an address or would print a secret.

use std::sync::LazyLock;

use regex::Regex;

use crate::function::{Function, Param};
use crate::key::HandleRules;
use crate::key::secrets::TypeKind;
use crate::key::usage::{Usage, carrier_usage, usage};
use crate::module::Module;
use crate::project::Index;
use crate::project::resolve::{Def, Symbol};

/// What the key holds of one parameter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ParamKey {
    /// Fields, from the parameter's name (`user.id`, `ctx.author.id`, `q`),
    /// each with whether it is secret (keyed `:hash`).
    pub(crate) fields: Vec<(String, bool)>,
    /// Why it stays out of the key, when it does (fields may still be keyed:
    /// the identity a carrier holds).
    pub(crate) excluded: Option<String>,
    pub(crate) warnings: Vec<String>,
    /// A question a person must answer before this key is safe.
    pub(crate) review: Option<String>,
    /// Why `str()` of the parameter is an object address (a handle, a
    /// carrier, an object of a class with no `__str__`): a key holding it
    /// whole (cashews' default key, `{name}`) never hits.
    pub(crate) address: Option<String>,
}

/// `Depends(get_db)`, `Security(current_user, scopes=[...])`, `Provide(get_repo)`.
static INJECTED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?:Depends|Security|Provide|Inject|Dependency)\(\s*([A-Za-z_][\w.]*)?")
        .expect("static regex")
});

/// Injected values that say who is asking: keyed whole they hold the
/// user's private fields (a password hash), or an address.
static IDENTITY_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(user|account|tenant|principal|member|owner|actor|identity|customer|profile|subject|^me)$").expect("static regex")
});

/// Provider and class names that hand out resources.
static RESOURCE_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(db|database|session|sess|conn|connection|cursor|repo|repository|repositories|service|services|settings|config|configuration|client|uow|unit_?of_?work|manager|engine|redis|pool|storage|bus|broker|producer|http|transport|gateway|dao|store|provider|factory|crud)s?$").expect("static regex")
});

/// Whether a name (a provider's, a class's, an attribute's) says it hands
/// out a resource.
pub(crate) fn is_resource_name(name: &str) -> bool {
    RESOURCE_NAME.is_match(name.trim_start_matches('_'))
}

/// Carriers of a request or an event: handles whose identity is keyed.
const CARRIERS: &[&str] = &[
    "ctx",
    "context",
    "interaction",
    "inter",
    "message",
    "msg",
    "callback",
    "callback_query",
    "query",
    "call",
    "update",
    "event",
    "request",
    "req",
    "channel",
    "thread",
];
/// Carrier names that are as often plain values.
const AMBIGUOUS_CARRIERS: &[&str] = &[
    "context", "message", "msg", "callback", "query", "call", "update", "event", "channel",
    "thread",
];
const CARRIER_TYPES: &[&str] = &[
    "Context",
    "Interaction",
    "Message",
    "CallbackQuery",
    "Update",
    "Request",
    "HTTPConnection",
    "InlineQuery",
    "ApplicationContext",
    "TextChannel",
    "Thread",
    "DMChannel",
    "Messageable",
];

/// Carrier names that are objects even without an annotation.
const UNTYPED_CARRIERS: &[&str] = &["ctx", "context", "interaction", "inter", "request", "req"];

/// What identifies a carrier used whole: who asks, and where.
const CARRIER_IDENTITY: &[(&str, &[&str])] = &[
    ("ctx", &["guild.id", "channel.id", "author.id"]),
    ("context", &["guild.id", "channel.id", "author.id"]),
    ("interaction", &["guild_id", "channel_id", "user.id"]),
    ("inter", &["guild_id", "channel_id", "user.id"]),
    ("message", &["chat.id", "from_user.id"]),
    ("msg", &["chat.id", "from_user.id"]),
    ("callback", &["from_user.id", "message.chat.id"]),
    ("callback_query", &["from_user.id", "message.chat.id"]),
    ("query", &["from_user.id"]),
    ("call", &["from_user.id", "message.chat.id"]),
    ("channel", &["id"]),
    ("thread", &["id"]),
    ("request", &["url"]),
    ("req", &["url"]),
];

/// Annotations of plain values: never handles, whatever the name says
/// (`repository: str` is a repository's name).
const PRIMITIVES: &[&str] = &[
    "str",
    "int",
    "float",
    "bool",
    "bytes",
    "UUID",
    "uuid.UUID",
    "datetime",
    "date",
    "Decimal",
];

/// Fields of a carrier that are resources, never identity.
const CARRIER_HANDLES: &[&str] = &[
    "bot",
    "cog",
    "app",
    "state",
    "session",
    "client",
    "db",
    "http_session",
    "response",
    "scope",
    "receive",
    "send",
    "voice_client",
    "followup",
    "loop",
    "_state",
];

/// Entities a carrier refers to: keyed by their id.
const ENTITIES: &[&str] = &[
    "author",
    "guild",
    "channel",
    "from_user",
    "chat",
    "user",
    "member",
    "sender",
    "peer",
    "message",
    "sender_chat",
    "thread",
];

/// Identifying fields, in order of preference.
const IDENTITY: &[&str] = &[
    "id", "pk", "uuid", "slug", "username", "email", "key", "code", "name",
];

pub(crate) fn param_key<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    f: &Function<'p>,
    p: &Param,
    rules: &HandleRules,
) -> ParamKey {
    let annotation = p.annotation.as_deref().unwrap_or("");
    let reads_fields =
        || matches!(usage(index, module, f, &p.name), Usage::Fields(fields) if !fields.is_empty());
    if is_carrier(p, reads_fields) {
        return carrier(index, module, f, p, rules);
    }
    if let Some(reason) = rules.handle_type(annotation) {
        return excluded(reason);
    }
    if let Some(provider) = injected(p) {
        if let Some(reason) = provider_resource(index, module, p, provider.as_deref())
            .or_else(|| rules.handle_name(&p.name))
        {
            return excluded(reason);
        }
        return value(index, module, f, p, rules, true);
    }
    // `session: GetSession` where `GetSession = Annotated[AsyncSession, Depends(get_session)]`.
    if let Some((alias_module, text)) = annotated_alias(index, module, annotation)
        && let Some(caps) = INJECTED.captures(&text)
    {
        let provider = caps.get(1).map(|m| m.as_str());
        if let Some(reason) = rules
            .handle_type(&text)
            .or_else(|| provider_resource(index, alias_module, p, provider))
            .or_else(|| rules.handle_name(&p.name))
        {
            return excluded(reason);
        }
        return value(index, module, f, p, rules, true);
    }
    if is_primitive(p) {
        return value(index, module, f, p, rules, false);
    }
    let class = annotated_class(index, module, annotation);
    if let Some(reason) = class.as_ref().and_then(|c| resource_class(index, c)) {
        return excluded(reason);
    }
    // A type alias of the project's (`RepositoryType = Union[str, Repo]`)
    // names a value, whatever the parameter is called.
    let alias = matches!(class, Some(Symbol::Data(_)));
    if !alias && let Some(reason) = rules.handle_name(&p.name) {
        return excluded(reason);
    }
    value(index, module, f, p, rules, false)
}

/// A parameter annotated as a plain value (`str`, `int`, `UUID`, …).
pub(crate) fn is_primitive(p: &Param) -> bool {
    let annotation = p.annotation.as_deref().unwrap_or("");
    crate::project::classes::annotated_class_name(annotation)
        .is_some_and(|c| PRIMITIVES.contains(&c))
}

fn excluded(reason: String) -> ParamKey {
    ParamKey {
        address: Some(reason.clone()),
        excluded: Some(reason),
        ..ParamKey::default()
    }
}

/// The text of a module-level alias an annotation names
/// (`GetSession = Annotated[AsyncSession, Depends(get_session)]`), with the
/// module that defines it.
fn annotated_alias<'i, 'p>(
    index: &'i Index<'p>,
    module: &Module<'p>,
    annotation: &str,
) -> Option<(&'i Module<'p>, String)> {
    let name = crate::project::classes::annotated_class_name(annotation)?;
    let Symbol::Data(def) = index.resolve_dotted(module, name) else {
        return None;
    };
    let defining = index.module(&def.path)?;
    let value = defining.variables.get(&def.qualname)?;
    Some((defining, defining.src.text_of(*value).to_string()))
}

/// A carrier by its type, or by its name when nothing says otherwise. A name
/// that is also an everyday value (`query`, `message`, `event`) is a carrier
/// only when the function reads fields of it: `async def search(query)`
/// returning `repr(query)` is keyed `{query}`, never `{query.from_user.id}`.
fn is_carrier(p: &Param, reads_fields: impl FnOnce() -> bool) -> bool {
    let annotation = p.annotation.as_deref().unwrap_or("");
    if crate::key::type_names(annotation).any(|w| CARRIER_TYPES.contains(&w)) {
        return true;
    }
    let untyped = annotation.is_empty() || annotation.contains("Context");
    untyped
        && CARRIERS.contains(&p.name.as_str())
        && (!AMBIGUOUS_CARRIERS.contains(&p.name.as_str()) || reads_fields())
}

/// The provider a dependency-injected parameter names (None inside when
/// `Depends()` takes the annotation's class).
fn injected(p: &Param) -> Option<Option<String>> {
    let text = [p.default.as_deref(), p.annotation.as_deref()]
        .into_iter()
        .flatten()
        .find(|t| INJECTED.is_match(t))?;
    let caps = INJECTED.captures(text)?;
    Some(caps.get(1).map(|m| m.as_str().to_string()))
}

/// Why an injected parameter is a resource, when its provider hands one out.
fn provider_resource<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    p: &Param,
    provider: Option<&str>,
) -> Option<String> {
    let Some(provider) = provider else {
        // `Depends()`: the annotation's class is the provider.
        let class = annotated_class(index, module, p.annotation.as_deref()?)?;
        return resource_class(index, &class);
    };
    let short = provider.rsplit('.').next().unwrap_or(provider);
    let bare = short
        .trim_start_matches('_')
        .trim_start_matches("get_")
        .trim_start_matches("provide_")
        .trim_start_matches("make_")
        .trim_start_matches("create_");
    if RESOURCE_NAME.is_match(bare) {
        return Some(format!(
            "dependency-injected resource ({short} hands out a {bare})"
        ));
    }
    match index.resolve_dotted(module, provider) {
        Symbol::Function(def) => function_resource(index, &def),
        Symbol::Class(def) => resource_class(index, &Symbol::Class(def)),
        _ => None,
    }
}

/// A provider function that yields (a resource opened and closed per
/// request) or returns a resource class.
fn function_resource(index: &Index, def: &Def) -> Option<String> {
    let module = index.module(&def.path)?;
    let site = module.function(&def.qualname)?;
    let f = Function::new(module.src, site);
    let name = &f.name;
    if f.is_generator {
        return Some(format!(
            "dependency-injected resource ({name} yields it per request)"
        ));
    }
    let returns = f.site.node.child_by_field_name("return_type")?;
    let class = index.annotation_class(module, returns)?;
    resource_class(index, &class)
        .map(|why| format!("dependency-injected {why} ({name} returns it)"))
}

/// The class an annotation names, through the project.
fn annotated_class(index: &Index, module: &Module, annotation: &str) -> Option<Symbol> {
    if annotation.is_empty() {
        return None;
    }
    index.annotation_text_class(module, annotation)
}

/// Why a class is a resource (a repository, a service, a session, settings).
fn resource_class(index: &Index, class: &Symbol) -> Option<String> {
    let name = match class {
        Symbol::Class(def) => def
            .qualname
            .rsplit('.')
            .next()
            .unwrap_or(&def.qualname)
            .to_string(),
        Symbol::External(dotted) => dotted.rsplit('.').next().unwrap_or(dotted).to_string(),
        _ => return None,
    };
    if RESOURCE_NAME.is_match(&name) {
        return Some(format!("resource handle ({name})"));
    }
    // A class holding a session or a client is a service, whatever its name.
    if let Symbol::Class(def) = class {
        let holds = index.mro(def).iter().find_map(|c| {
            c.attributes
                .iter()
                .find(|(attr, a)| {
                    a.from_param.is_some() && RESOURCE_NAME.is_match(attr.trim_start_matches('_'))
                })
                .map(|(attr, _)| attr.clone())
        });
        if let Some(attr) = holds {
            return Some(format!("resource handle ({name} holds `{attr}`)"));
        }
    }
    None
}

/// A carrier: left out, keyed by the identity its fields give.
fn carrier<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    f: &Function<'p>,
    p: &Param,
    rules: &HandleRules,
) -> ParamKey {
    // Unannotated, `query` or `message` may as well be a string.
    let surely = p.annotation.is_some() || UNTYPED_CARRIERS.contains(&p.name.as_str());
    let mut key = ParamKey {
        address: surely.then(|| {
            format!(
                "{} object",
                if p.name.starts_with("req") {
                    "a request"
                } else {
                    "an event or context"
                }
            )
        }),
        excluded: Some(format!(
            "the {} itself is a handle; the key holds what the function reads of it",
            if p.name.starts_with("req") {
                "request"
            } else {
                "event or context"
            }
        )),
        ..ParamKey::default()
    };
    let used = carrier_usage(index, module, f, &p.name);
    let Usage::Fields(fields) = used else {
        if used == Usage::Whole {
            let identity = CARRIER_IDENTITY
                .iter()
                .find(|(n, _)| *n == p.name)
                .map(|(_, f)| *f);
            match identity {
                Some(identity) => {
                    for field in identity {
                        key.fields.push((format!("{}.{field}", p.name), false));
                    }
                    key.warnings.push(format!(
                        "`{}` is used whole (passed on): the key holds who asks and where ({}); add what else the result depends on with --key",
                        p.name,
                        identity.join(", ")
                    ));
                }
                None => {
                    key.review = Some(format!(
                        "`{}` is used whole and the key cannot hold it: what of it does the result depend on?",
                        p.name
                    ));
                }
            }
        }
        return key;
    };
    let mut seen = Vec::new();
    for field in fields {
        let segments: Vec<&str> = field.split('.').collect();
        // `ctx.cog.games`: state kept in memory by the handler, which the
        // key cannot hold and which changes between calls.
        if let Some(at) = segments.iter().position(|s| matches!(*s, "cog" | "state"))
            && segments.len() > at + 1
            && !CARRIER_HANDLES.contains(&segments[at + 1])
        {
            key.review.get_or_insert(format!(
                "the result reads `{}.{field}`, state kept by the handler that the key cannot hold: may a cached answer ignore its changes?",
                p.name
            ));
            continue;
        }
        if segments.iter().any(|s| CARRIER_HANDLES.contains(s)) {
            continue;
        }
        let last = segments.last().copied().unwrap_or_default().to_string();
        let field = if ENTITIES.contains(&last.as_str()) {
            format!("{field}.id")
        } else {
            field
        };
        let path = format!("{}.{field}", p.name).replace(".[", "[");
        if seen
            .iter()
            .any(|s: &String| path.starts_with(&format!("{s}.")) || *s == path)
        {
            continue;
        }
        seen.push(path.clone());
        let secret = rules.is_secret(&last);
        key.fields.push((path, secret));
    }
    key
}

/// A value: keyed whole, or by the fields the function reads of it.
fn value<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    f: &Function<'p>,
    p: &Param,
    rules: &HandleRules,
    injected: bool,
) -> ParamKey {
    let name = crate::key::python_name(&p.name).into_owned();
    let annotation = p.annotation.as_deref().unwrap_or("");
    let secret_type = super::secrets::secret_type(annotation);
    let secret = rules.is_secret(&p.name) || secret_type == Some(TypeKind::Secret);
    let class = annotated_class(index, module, annotation);
    let mut key = ParamKey::default();
    if let Some(Symbol::Class(def)) = &class
        && index.has_str(def) == Some(false)
    {
        let short = def.qualname.rsplit('.').next().unwrap_or(&def.qualname);
        key.address = Some(format!("`{short}` has no __str__"));
    }
    match usage(index, module, f, &p.name) {
        Usage::Fields(fields) if !fields.is_empty() => {
            for field in fields {
                let last = field
                    .rsplit(['.', '['])
                    .next()
                    .unwrap_or(&field)
                    .trim_end_matches(']');
                let secret = secret || rules.is_secret(last);
                key.fields
                    .push((format!("{name}.{field}").replace(".[", "["), secret));
            }
            return key;
        }
        Usage::Unused if injected => {
            key.excluded = Some("injected and never read: it cannot change the result".to_string());
            return key;
        }
        _ => {}
    }
    // Read whole: its str() is the key.
    if secret_type == Some(TypeKind::Masked) {
        key.review = Some(format!(
            "`{}` is a {annotation}: its str() is masked, so every value would share one key, and the raw value must not go in a key: which non-secret value identifies it (e.g. the user it belongs to)?",
            p.name
        ));
        return key;
    }
    if super::secrets::is_carrier_name(&p.name) {
        // Headers, cookies: one of them may be `Authorization`.
        key.fields.push((name, true));
        return key;
    }
    if let Some(Symbol::Class(def)) = &class {
        let readable = index.has_str(def);
        let secrets = secret_fields(index, def, rules);
        if readable != Some(true) || !secrets.is_empty() {
            if let Some(id) = identity_field(index, def) {
                key.fields.push((format!("{name}.{id}"), false));
                let why = if secrets.is_empty() {
                    format!("its class has no readable __str__, so it is keyed by `{id}`")
                } else {
                    format!(
                        "it holds {} (never keyed whole), so it is keyed by `{id}`",
                        secrets.join(", ")
                    )
                };
                key.warnings.push(format!("`{}`: {why}", p.name));
                return key;
            }
            if !secrets.is_empty() {
                key.warnings.push(format!(
                    "`{}` holds {} and has no identifying field: keyed whole by :hash, so the raw values stay out of the key",
                    p.name,
                    secrets.join(", ")
                ));
                key.fields.push((name, true));
                return key;
            }
            key.warnings.push(format!(
                "`{}` is keyed whole, but its class {} and has no identifying field: give it a __str__, or key on its values with --key",
                p.name,
                if readable == Some(false) { "has no __str__" } else { "may print an address" }
            ));
        }
    } else if injected && is_plain_container(class.as_ref()) && IDENTITY_NAME.is_match(&p.name) {
        // An injected value read whole whose class says nothing: the current
        // user as a dict holds its password hash; an object prints an address.
        key.review = Some(format!(
            "`{}` is injected and read whole, and nothing tells what identifies it: key it by its id (e.g. --key '…:{{{}.id}}' or '{{{}[id]}}')?",
            p.name, p.name, p.name
        ));
    }
    key.fields.push((name, secret));
    key
}

/// `dict`, `Dict[...]`, `Mapping`: a container that may hold anything.
fn is_plain_container(class: Option<&Symbol>) -> bool {
    matches!(class, Some(Symbol::External(d)) if matches!(d.as_str(), "dict" | "typing.Dict" | "typing.Mapping" | "collections.abc.Mapping"))
        || matches!(class, Some(Symbol::Unknown) | None)
}

/// Attributes of a class (along its MRO) whose names are secret-like.
fn secret_fields(index: &Index, def: &Def, rules: &HandleRules) -> Vec<String> {
    let mut out: Vec<String> = index
        .mro(def)
        .iter()
        .flat_map(|c| c.attributes.keys().cloned().collect::<Vec<_>>())
        .filter(|a| rules.is_secret(a))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The identifying field of a class: `id`, `pk`, `uuid`, `slug`, …, or a
/// field whose name ends in `_id`.
fn identity_field(index: &Index, def: &Def) -> Option<String> {
    let mro = index.mro(def);
    let has = |name: &str| mro.iter().any(|c| c.attributes.contains_key(name));
    IDENTITY
        .iter()
        .find(|f| has(f))
        .map(|f| f.to_string())
        .or_else(|| {
            mro.iter()
                .flat_map(|c| c.attributes.keys())
                .find(|a| a.ends_with("_id"))
                .cloned()
        })
}

/// Attributes that say who is asking or which service answers: what a
/// client's result depends on besides the call's own arguments.
const CALLER_IDENTITY: &[&str] = &[
    "token",
    "access_token",
    "api_key",
    "apikey",
    "auth",
    "authorization",
    "credentials",
    "bot_token",
    "base_url",
    "api_url",
    "host",
    "endpoint",
    "server",
    "region",
    "tenant",
    "account",
    "user_id",
    "username",
    "namespace",
    "org",
    "organization",
];

/// For a method whose `self` holds a client (`self._client`), the
/// identity the client carries, up to two attributes deep
/// (`self._client._base_request_data.token`): client A's private data must
/// not be served to client B.
pub(crate) fn caller_identity<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    f: &Function<'p>,
    receiver: &str,
    handles: &[String],
    rules: &HandleRules,
) -> Vec<(String, bool)> {
    let Some(class) = crate::purity::class_of(module, f) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for handle in handles {
        let attr = handle.rsplit('.').next().unwrap_or(handle);
        let Some(Symbol::Class(def)) = index.attribute_type(&class, attr) else {
            continue;
        };
        let mut found = Vec::new();
        identity_in(index, &def, &format!("{receiver}.{attr}"), 0, &mut found);
        for path in found {
            let last = path.rsplit('.').next().unwrap_or(&path).to_string();
            out.push((path, rules.is_secret(&last)));
        }
    }
    out
}

fn identity_in(index: &Index, def: &Def, prefix: &str, depth: usize, out: &mut Vec<String>) {
    for class in index.mro(def) {
        for (name, attr) in &class.attributes {
            let bare = name.trim_start_matches('_');
            // An object of the project's is looked into (its str() would be
            // an address); a plain value named for who asks is keyed.
            if let Some(Symbol::Class(inner)) = &attr.class {
                if depth < 1 {
                    identity_in(index, inner, &format!("{prefix}.{name}"), depth + 1, out);
                }
            } else if CALLER_IDENTITY.contains(&bare) {
                out.push(format!("{prefix}.{name}"));
            }
        }
    }
    out.sort();
    out.dedup();
}
