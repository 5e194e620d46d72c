//! Can the result be stored? The disk and Redis backends pickle it: an
//! asyncpg `Record`, an `aiohttp.ClientResponse`, a session, a lock, or an
//! object holding one raises `TypeError` on every call. Told from the return
//! annotation, the returned expressions and the project's classes.

use tree_sitter::Node;

use crate::function::{Function, dotted_name};
use crate::module::Module;
use crate::project::Index;
use crate::project::resolve::{Def, Symbol};

/// What is known of the function's result.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Storability {
    /// It cannot be pickled: why, and how to return something that can be.
    pub(crate) problem: Option<String>,
    /// It carries credentials: caching copies them into the cache backend.
    pub(crate) secret: Option<String>,
    /// It can be stored, with a caveat (an ORM instance comes back detached).
    pub(crate) warning: Option<String>,
}

/// Library classes whose instances do not pickle, and the fix.
const UNPICKLABLE: &[(&str, &str)] = &[
    (
        "asyncpg.Record",
        "return dict(row) (or [dict(r) for r in rows])",
    ),
    (
        "asyncpg.protocol.Record",
        "return dict(row) (or [dict(r) for r in rows])",
    ),
    (
        "aiohttp.ClientResponse",
        "return the data (await response.json() or .text()), not the response",
    ),
    (
        "aiohttp.client_reqrep.ClientResponse",
        "return the data (await response.json() or .text()), not the response",
    ),
    ("aiohttp.ClientSession", "return data, not the client"),
    ("httpx.AsyncClient", "return data, not the client"),
    (
        "sqlalchemy.ext.asyncio.AsyncSession",
        "return data, not the session",
    ),
    ("sqlalchemy.orm.Session", "return data, not the session"),
    (
        "sqlalchemy.engine.Result",
        "return result.all() / .scalars().all() as plain data",
    ),
    (
        "sqlalchemy.engine.CursorResult",
        "return result.all() as plain data",
    ),
    (
        "sqlalchemy.Result",
        "return result.all() / .scalars().all() as plain data",
    ),
    ("asyncpg.Connection", "return data, not the connection"),
    ("asyncio.Lock", "return data, not the lock"),
    (
        "discord.Message",
        "return the message's data (its id, content), not the message",
    ),
    (
        "discord.Member",
        "return the member's id and fields, not the member",
    ),
    (
        "tortoise.queryset.QuerySet",
        "await it and return the rows' data",
    ),
];

/// Method calls whose results do not pickle, by the method's name and the
/// receiver's library.
const UNPICKLABLE_CALLS: &[(&str, &str, &str)] = &[
    (
        "fetch",
        "asyncpg",
        "asyncpg rows (Record): return [dict(r) for r in rows]",
    ),
    ("fetchrow", "asyncpg", "an asyncpg Record: return dict(row)"),
];

/// Attribute names that hold a live resource.
const HANDLE_ATTRIBUTES: &[&str] = &[
    "session",
    "_session",
    "client",
    "_client",
    "bot",
    "_bot",
    "conn",
    "connection",
    "_conn",
    "_connection",
    "engine",
    "pool",
    "lock",
    "_lock",
    "redis",
    "http",
    "_http",
    "_raw_data",
    "_response",
    "response",
    "_state",
    "loop",
    "_loop",
    "socket",
    "ws",
    "websocket",
];

/// Login material in the clear: what signs in as someone (a mailbox
/// password, session cookies). A password hash, a client secret, an access
/// token are commonly cached with their records (the labelled real code
/// does): those are a warning.
const SECRET_ATTRIBUTES: &[&str] = &["email_password", "plain_password", "cookies", "cookie_jar"];
const SENSITIVE_ATTRIBUTES: &[&str] = &[
    "token",
    "access_token",
    "refresh_token",
    "secret",
    "client_secret",
    "api_key",
    "private_key",
    "otp_secret",
    "totp_secret",
    "session_token",
];

/// Base classes of ORM models: storable, but detached from their session.
const ORM_BASES: &[&str] = &[
    "DeclarativeBase",
    "declarative_base",
    "Base",
    "Model",
    "Document",
    "SQLModel",
    "AsyncAttrs",
];

pub(crate) fn storability<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    f: &Function<'p>,
) -> Storability {
    let mut out = Storability::default();
    if f.is_generator {
        // cache.iterator stores the items one by one: each must be data.
        out.problem = yielded_resource(module, f);
        return out;
    }
    for class in returned_classes(index, module, f, 0) {
        judge(index, &class, &mut out);
    }
    if out.problem.is_none() {
        out.problem = returned_call_problem(index, module, f);
    }
    out
}

/// Where a returned value is judged: a class (project or library), or a
/// problem already known from the call that made it.
fn judge(index: &Index, class: &Symbol, out: &mut Storability) {
    match class {
        Symbol::External(name) => {
            let same = |n: &str| {
                n == name
                    || (n.rsplit('.').next() == name.rsplit('.').next()
                        && n.split('.').next() == name.split('.').next())
            };
            if let Some((_, fix)) = UNPICKLABLE.iter().find(|(n, _)| same(n)) {
                out.problem.get_or_insert(format!(
                    "returns a {name}, which the disk and Redis backends cannot pickle (TypeError on every call): {fix}"
                ));
            }
        }
        Symbol::Class(def) => project_class(index, def, out),
        _ => {}
    }
}

fn project_class(index: &Index, def: &Def, out: &mut Storability) {
    let name = def.qualname.rsplit('.').next().unwrap_or(&def.qualname);
    for class in index.mro(def) {
        for (attr, a) in &class.attributes {
            if let Some(Symbol::External(t)) = &a.class
                && let Some((_, fix)) = UNPICKLABLE.iter().find(|(n, _)| n == t)
            {
                out.problem.get_or_insert(format!(
                    "returns a {name}, whose `{attr}` is a {t}: pickling it fails (TypeError on every call) with the disk and Redis backends; {fix}"
                ));
            }
            if a.from_param.is_some()
                && (HANDLE_ATTRIBUTES.contains(&attr.as_str())
                    || crate::key::is_resource_name(attr))
            {
                out.problem.get_or_insert(format!(
                    "returns a {name}, which holds `{attr}` (a live resource): it cannot be pickled, and a cached one would outlive its request; return plain data instead"
                ));
            }
            let bare = attr.trim_start_matches('_');
            if SECRET_ATTRIBUTES.contains(&bare) {
                out.secret.get_or_insert(format!(
                    "returns a {name}, which holds `{attr}`: caching copies it into the cache backend"
                ));
            } else if SENSITIVE_ATTRIBUTES.contains(&bare) && out.warning.is_none() {
                out.warning = Some(format!(
                    "returns a {name}, which holds `{attr}`: the cache backend then holds it too (keep it private: Redis with auth, a 0700 disk folder)"
                ));
            }
        }
        for base in &class.bases {
            let Some(name) = base.external_name() else {
                continue;
            };
            let base_name = name.rsplit('.').next().unwrap_or(name);
            if ORM_BASES.contains(&base_name) && out.warning.is_none() {
                out.warning = Some(format!(
                    "returns an ORM instance ({name}): it is stored, but comes back detached from any session (lazy relationships raise); return plain data if callers need them"
                ));
            }
        }
    }
}

/// The classes the function's result may be: its return annotation, the
/// classes its `return` statements construct, what the project functions
/// it returns from give back.
fn returned_classes<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    f: &Function<'p>,
    depth: usize,
) -> Vec<Symbol> {
    let mut out = Vec::new();
    if let Some(annotation) = f.site.node.child_by_field_name("return_type") {
        let text = module.src.text_of(annotation);
        out.extend(index.annotation_text_class(module, text));
        // `list[Record]`, `Optional[Response]`: the element counts too.
        for inner in text
            .split(['[', ']', ',', '|'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            if inner != text {
                out.extend(index.annotation_text_class(module, inner));
            }
        }
    }
    for ret in &f.body.returns {
        let Some(value) = ret.named_child(0) else {
            continue;
        };
        let value = unwrap_await(value);
        if value.kind() != "call" {
            continue;
        }
        let Some(callee) = value.child_by_field_name("function") else {
            continue;
        };
        match index.resolve_node(module, callee) {
            Symbol::Class(def) => out.push(Symbol::Class(def)),
            Symbol::External(name)
                if name
                    .rsplit('.')
                    .next()
                    .is_some_and(|n| n.starts_with(char::is_uppercase)) =>
            {
                out.push(Symbol::External(name))
            }
            Symbol::Function(def) if depth < 3 => {
                if let Some(m) = index.module(&def.path)
                    && let Some(site) = m.function(&def.qualname)
                {
                    let g = Function::new(m.src, site);
                    out.extend(returned_classes(index, m, &g, depth + 1));
                }
            }
            _ => {}
        }
    }
    out
}

/// `return await conn.fetch(...)`, `return resp` after `async with
/// session.get(...) as resp`: values known not to pickle by the call that
/// made them.
fn returned_call_problem<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    f: &Function<'p>,
) -> Option<String> {
    let src = module.src;
    for ret in &f.body.returns {
        let Some(value) = ret.named_child(0).map(unwrap_await) else {
            continue;
        };
        let origin = match value.kind() {
            "identifier" => with_alias(f, src, src.text_of(value))
                .or_else(|| assigned(f, src, src.text_of(value))),
            "call" => Some(value),
            _ => None,
        };
        let Some(call) = origin.map(unwrap_await).filter(|c| c.kind() == "call") else {
            continue;
        };
        let Some(callee) = call
            .child_by_field_name("function")
            .filter(|c| c.kind() == "attribute")
        else {
            continue;
        };
        let method = src.text_of(callee.child_by_field_name("attribute")?);
        let receiver = callee.child_by_field_name("object")?;
        let library = receiver_library(index, module, f, receiver);
        if let Some((_, _, what)) = UNPICKLABLE_CALLS.iter().find(|(m, lib, _)| {
            *m == method && library.as_deref().is_some_and(|l| l.starts_with(lib))
        }) {
            return Some(format!(
                "returns {what}; the disk and Redis backends cannot pickle it (TypeError on every call)"
            ));
        }
        if matches!(
            method,
            "get" | "post" | "request" | "put" | "patch" | "delete" | "head"
        ) && library.as_deref().is_some_and(|l| l.starts_with("aiohttp"))
        {
            return Some(
                "returns an aiohttp.ClientResponse, which cannot be pickled (TypeError on every call): return the data (await response.json() or .text()), not the response".to_string(),
            );
        }
    }
    None
}

/// The library a receiver's object comes from, when known: an annotated
/// parameter, `self.attr` typed in `__init__`, a module-level object.
fn receiver_library<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    f: &Function<'p>,
    receiver: Node,
) -> Option<String> {
    let src = module.src;
    let dotted = dotted_name(src, receiver)?;
    let (head, rest) = dotted
        .split_once('.')
        .map_or((dotted.as_str(), None), |(h, r)| (h, Some(r)));
    let class = if f.receiver().is_some_and(|r| r.name == head) {
        let owner = crate::purity::class_of(module, f)?;
        let attr = rest?.split('.').next()?;
        index.attribute_type(&owner, attr)
    } else if let Some(p) = f.param(head) {
        index.annotation_text_class(module, p.annotation.as_deref()?)
    } else {
        match index.resolve_dotted(module, &dotted) {
            Symbol::Instance(of) => Some(*of),
            _ => None,
        }
    };
    match class? {
        Symbol::External(name) => Some(name),
        _ => None,
    }
}

fn unwrap_await(node: Node) -> Node {
    if node.kind() == "await" {
        node.named_child(0).unwrap_or(node)
    } else {
        node
    }
}

/// The value last assigned to a local.
fn assigned<'t>(f: &Function<'t>, src: &crate::source::SourceFile, name: &str) -> Option<Node<'t>> {
    f.body
        .targets
        .iter()
        .rev()
        .filter(|(t, _)| t.kind() == "identifier" && src.text_of(*t) == name)
        .find_map(|(t, _)| t.parent()?.child_by_field_name("right"))
}

/// `async with SessionLocal() as session: yield session`: a generator that
/// hands out what its `with` opens (a FastAPI dependency) is a resource
/// provider, and a cached item would be a closed session or connection.
fn yielded_resource<'p>(module: &Module<'p>, f: &Function<'p>) -> Option<String> {
    let src = module.src;
    f.body.yields.iter().find_map(|y| {
        let value = y.named_child(0).filter(|v| v.kind() == "identifier")?;
        let name = src.text_of(value);
        let opened = with_alias(f, src, name)?;
        Some(format!(
            "yields `{name}`, which `with {}` opens (line {}): it hands out a resource that is closed once the caller is done, so a cached item is a closed resource; cache the function that reads with it instead",
            src.text_of(opened),
            crate::source::line_of(*y)
        ))
    })
}

/// `async with session.get(url) as resp`: the call `resp` names.
fn with_alias<'t>(
    f: &Function<'t>,
    src: &crate::source::SourceFile,
    name: &str,
) -> Option<Node<'t>> {
    let body = f.site.node.child_by_field_name("body")?;
    let mut stack = vec![body];
    while let Some(node) = stack.pop() {
        if node.kind() == "as_pattern"
            && node
                .child_by_field_name("alias")
                .is_some_and(|a| src.text_of(a).trim() == name)
        {
            return node.named_child(0);
        }
        if !matches!(node.kind(), "function_definition" | "lambda") || node.id() == body.id() {
            let mut cursor = node.walk();
            stack.extend(node.named_children(&mut cursor));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locate::find;

    fn of(files: &[(&str, &str)], name: &str) -> Storability {
        crate::project::tests::with_project_module(files, "app/m.py", |index, module| {
            let f = Function::new(
                module.src,
                find(module.src, &module.functions, name).unwrap(),
            );
            storability(index, module, &f)
        })
    }

    #[test]
    fn unpicklable_results_and_their_fixes() {
        let files = [
            ("app/__init__.py", ""),
            (
                "app/m.py",
                "import aiohttp\nimport asyncpg\nfrom sqlalchemy.orm import DeclarativeBase\n\nclass Base(DeclarativeBase):\n    pass\n\nclass User(Base):\n    id = 1\n\nclass Envelope:\n    def __init__(self, response: aiohttp.ClientResponse):\n        self._raw_data = response\n\nclass Account:\n    def __init__(self, name, cookies):\n        self.name = name\n        self.cookies = cookies\n\nasync def rows(conn: asyncpg.Connection):\n    return await conn.fetch('SELECT 1')\n\nasync def plain(conn: asyncpg.Connection):\n    return [dict(r) for r in await conn.fetch('SELECT 1')]\n\nasync def page(session: aiohttp.ClientSession, url):\n    async with session.get(url) as resp:\n        return resp\n\nasync def data(session: aiohttp.ClientSession, url):\n    async with session.get(url) as resp:\n        return await resp.json()\n\nasync def wrapped(r) -> Envelope:\n    return Envelope(r)\n\nasync def account() -> Account:\n    return Account('a', 'b')\n\nasync def user() -> User:\n    return User()\n",
            ),
        ];
        assert!(of(&files, "rows").problem.unwrap().contains("dict(r)"));
        assert_eq!(of(&files, "plain"), Storability::default());
        assert!(
            of(&files, "page")
                .problem
                .unwrap()
                .contains("ClientResponse")
        );
        assert_eq!(of(&files, "data"), Storability::default());
        assert!(
            of(&files, "wrapped")
                .problem
                .unwrap()
                .contains("`_raw_data`")
        );
        assert!(of(&files, "account").secret.unwrap().contains("`cookies`"));
        assert!(of(&files, "user").warning.unwrap().contains("detached"));
    }

    #[test]
    fn a_generator_handing_out_what_it_opens_is_not_stored() {
        let files = [
            ("app/__init__.py", ""),
            (
                "app/m.py",
                "async def session_dep(maker):\n    async with maker() as session:\n        yield session\n\nasync def rows(db):\n    async with db.stream('q') as stream:\n        async for row in stream:\n            yield dict(row)\n",
            ),
        ];
        let problem = of(&files, "session_dep").problem.unwrap();
        assert!(problem.contains("yields `session`"), "{problem}");
        assert_eq!(of(&files, "rows"), Storability::default());
    }
}
