//! What a generated test needs to call one cached function: a value for
//! every input the key holds (two for the one it varies), a fake for every
//! handle the key leaves out, and the module-level I/O it replaces.

use std::collections::BTreeSet;

use tree_sitter::Node;

use crate::function::{FnKind, Function, ParamKind};
use crate::key::Key;
use crate::module::Module;

/// One argument of the call: its Python value, and another for the miss check.
#[derive(Debug, Clone)]
pub(crate) struct Arg {
    pub(crate) name: String,
    pub(crate) same: String,
    pub(crate) other: Option<String>,
}

/// Everything the test text is made from (see `text.rs`).
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    /// Dotted module of the target and its qualified name.
    pub(crate) module: String,
    pub(crate) qualname: String,
    pub(crate) kind: FnKind,
    pub(crate) generator: bool,
    pub(crate) args: Vec<Arg>,
    /// `self.NAME` attributes the body reads: a key value or a fake.
    pub(crate) self_values: Vec<(String, String)>,
    pub(crate) self_fakes: Vec<String>,
    /// Module-level names of the target module replaced by a fake.
    pub(crate) patches: Vec<String>,
    /// A method's class inherits from elsewhere: the instance answers any
    /// attribute `__init__` would have set with a fake.
    pub(crate) fake_rest: bool,
    /// One line each: what is stubbed and why.
    pub(crate) stubs: Vec<String>,
    /// The cache object the decorator uses, `(module, name)`.
    pub(crate) cache: (String, String),
    pub(crate) imports: BTreeSet<&'static str>,
    /// Why no test can be written, when none can.
    pub(crate) unsupported: Option<String>,
    /// A writer whose `delete_tags` the rewrite adds: the third check.
    pub(crate) writer: Option<WriterCall>,
    /// Writers given a delete under a condition: named, not called.
    pub(crate) conditional_writers: Vec<String>,
    /// The decorator's key template, when known: the checks count only the
    /// target's own served calls (a cached function it calls may be served
    /// too, with a key made of fake values every call shares).
    pub(crate) template: Option<String>,
}

/// A call of one writer of what the target reads, for the check "after the
/// writer runs, the next read misses".
#[derive(Debug, Clone)]
pub(crate) struct WriterCall {
    /// Its dotted module, and its name (a method of the target's class
    /// runs on the same `_instance()`).
    pub(crate) module: String,
    pub(crate) qualname: String,
    pub(crate) method: bool,
    /// `name=value`: the read's own value for a shared name, a default left
    /// to serve, a simple value by annotation, else a fake.
    pub(crate) args: Vec<String>,
    /// The `self.NAME` handles the writer uses and the read does not: the
    /// shared `_instance()` holds fakes for them too.
    pub(crate) self_fakes: Vec<String>,
}

/// The writer call for `g` (in module `dotted`), or None when no test can
/// call it: a method of another class, a nested function.
pub(crate) fn writer_call(
    dotted: &str,
    module: &Module,
    g: &Function,
    p: &Probe,
) -> Option<WriterCall> {
    let method = g.kind == FnKind::Method;
    let same_class = g.qualname.split('.').next() == p.qualname.split('.').next();
    if g.qualname.matches('.').count() > usize::from(method)
        || (method && (!same_class || p.kind != FnKind::Method))
    {
        return None;
    }
    let mut args = Vec::new();
    let mut imports = BTreeSet::new();
    for param in &g.params {
        if matches!(
            param.kind,
            ParamKind::Receiver | ParamKind::Args | ParamKind::Kwargs
        ) {
            continue;
        }
        let name = &param.name;
        let value = if let Some(a) = p.args.iter().find(|a| a.name == *name) {
            a.same.clone()
        } else if param.default.as_deref().is_some_and(is_literal) {
            continue;
        } else if let Some((v, _)) = scalar(param.annotation.as_deref(), None, name, &mut imports)
            .filter(|_| param.annotation.is_some())
        {
            v
        } else {
            "_Stub()".to_string()
        };
        args.push(format!("{name}={value}"));
    }
    // A value needing an import the target's own test does not make.
    if !imports.is_subset(&p.imports) {
        return None;
    }
    let mut self_fakes = Vec::new();
    if let Some(receiver) = g.receiver().filter(|_| method) {
        let prefix = format!("{}.", receiver.name);
        for attr in self_reads(module, g, &prefix) {
            let held =
                p.self_fakes.contains(&attr) || p.self_values.iter().any(|(a, _)| *a == attr);
            if !held && !self_fakes.contains(&attr) {
                self_fakes.push(attr);
            }
        }
    }
    Some(WriterCall {
        module: dotted.to_string(),
        qualname: g.qualname.clone(),
        method,
        args,
        self_fakes,
    })
}

/// Libraries whose module-level names do I/O when called.
const IO_LIBRARIES: &[&str] = &[
    "httpx",
    "aiohttp",
    "requests",
    "asyncpg",
    "aiosqlite",
    "motor",
    "redis",
    "aioredis",
    "aiofiles",
    "aioboto3",
    "aiobotocore",
    "databases",
    "aiomysql",
    "aiopg",
    "celery",
];

/// The probe of `f`, cached under `key` on `cache`. `vary` says whether an
/// input may be varied (an existing decorator's key may not hold it).
pub(crate) fn build(
    module: &Module,
    dotted: &str,
    f: &Function,
    key: &Key,
    cache: (String, String),
    vary: &dyn Fn(&str) -> bool,
) -> Probe {
    let mut p = Probe {
        module: dotted.to_string(),
        qualname: f.qualname.clone(),
        kind: f.kind,
        generator: f.is_generator,
        args: Vec::new(),
        self_values: Vec::new(),
        self_fakes: Vec::new(),
        patches: Vec::new(),
        fake_rest: false,
        stubs: Vec::new(),
        cache,
        imports: BTreeSet::new(),
        unsupported: None,
        writer: None,
        conditional_writers: Vec::new(),
        template: None,
    };
    if f.qualname.matches('.').count() > 1 {
        p.unsupported = Some("a nested class or function: call it from a test yourself".into());
        return p;
    }
    let mut varied = false;
    for param in &f.params {
        if let Err(why) = add_param(&mut p, f, key, param, vary, &mut varied) {
            p.unsupported = Some(why);
            return p;
        }
    }
    add_self(&mut p, module, f, key);
    add_patches(&mut p, module, f);
    p
}

fn add_param(
    p: &mut Probe,
    f: &Function,
    key: &Key,
    param: &crate::function::Param,
    vary: &dyn Fn(&str) -> bool,
    varied: &mut bool,
) -> Result<(), String> {
    let name = &param.name;
    if matches!(
        param.kind,
        ParamKind::Receiver | ParamKind::Args | ParamKind::Kwargs
    ) {
        return Ok(());
    }
    if let Some(ex) = key.excluded.iter().find(|e| e.name == *name) {
        p.stubs.push(format!(
            "`{name}` ({}, left out of the key): a fake object stands in",
            ex.reason
        ));
        p.args.push(Arg {
            name: name.clone(),
            same: "_Stub()".into(),
            other: None,
        });
        return Ok(());
    }
    let fields: Vec<&str> = key
        .inputs
        .iter()
        .filter_map(|i| i.strip_prefix(name.as_str()))
        .filter(|rest| rest.is_empty() || rest.starts_with('.'))
        .map(|rest| rest.trim_start_matches('.'))
        .collect();
    if fields.is_empty() {
        if param.default.as_deref().is_some_and(is_literal) {
            return Ok(()); // its default serves
        }
        p.stubs.push(format!(
            "`{name}` (not in the key): a fake object stands in"
        ));
        p.args.push(Arg {
            name: name.clone(),
            same: "_Stub()".into(),
            other: None,
        });
        return Ok(());
    }
    let scalar_value = scalar(
        param.annotation.as_deref(),
        param.default.as_deref(),
        name,
        &mut p.imports,
    );
    if fields == [""]
        && scalar_value.is_none()
        && let Some(default) = param.default.as_deref().filter(|d| is_literal(d))
    {
        // No value of its type is built, but its default is one: held, not varied.
        p.args.push(Arg {
            name: name.clone(),
            same: default.trim().to_string(),
            other: None,
        });
        return Ok(());
    }
    let (same, other) = if fields == [""] {
        scalar_value.ok_or_else(|| {
            format!(
                "no test value for `{name}: {}`: write the test yourself",
                param.annotation.as_deref().unwrap_or("?")
            )
        })?
    } else {
        namespace(name, &fields, &mut p.imports)?
    };
    let other = (!*varied && vary(name)).then_some(other);
    *varied |= other.is_some();
    let _ = f;
    p.args.push(Arg {
        name: name.clone(),
        same,
        other,
    });
    Ok(())
}

/// `types.SimpleNamespace(id=1, name="a")` for a parameter the key reads fields of.
fn namespace(
    name: &str,
    fields: &[&str],
    imports: &mut BTreeSet<&'static str>,
) -> Result<(String, String), String> {
    if fields.iter().any(|f| f.is_empty() || !is_identifier(f)) {
        return Err(format!(
            "the key reads `{name}` in a way no test value is built for: write the test yourself"
        ));
    }
    imports.insert("types");
    let value = |i: usize, first: bool| {
        let f = fields[i];
        let n = if first || i > 0 { 1 } else { 2 };
        if f == "id" || f.ends_with("_id") || f == "pk" {
            format!("{f}={n}")
        } else {
            format!("{f}=\"{}\"", if n == 1 { "a" } else { "b" })
        }
    };
    let build = |first: bool| {
        let parts: Vec<String> = (0..fields.len()).map(|i| value(i, first)).collect();
        format!("types.SimpleNamespace({})", parts.join(", "))
    };
    Ok((build(true), build(false)))
}

/// Two values of a simple annotated (or defaulted) type.
fn scalar(
    annotation: Option<&str>,
    default: Option<&str>,
    name: &str,
    imports: &mut BTreeSet<&'static str>,
) -> Option<(String, String)> {
    let pair = |a: &str, b: &str| Some((a.to_string(), b.to_string()));
    let Some(ty) = annotation.map(core_type) else {
        return match default.map(str::trim) {
            Some(d) if d.starts_with(['"', '\'']) => pair("\"a\"", "\"b\""),
            Some("True" | "False") => pair("False", "True"),
            Some(d) if d.parse::<f64>().is_ok() && d.contains('.') => pair("1.5", "2.5"),
            _ if name.ends_with("id") || default.is_some() => pair("1", "2"),
            _ => pair("\"a\"", "\"b\""),
        };
    };
    match ty.rsplit('.').next().unwrap_or(&ty) {
        "int" => pair("1", "2"),
        "str" => pair("\"a\"", "\"b\""),
        "float" => pair("1.5", "2.5"),
        "bool" => pair("False", "True"),
        "bytes" => pair("b\"a\"", "b\"b\""),
        "UUID" => {
            imports.insert("uuid");
            pair("uuid.UUID(int=1)", "uuid.UUID(int=2)")
        }
        _ => None,
    }
}

/// `Optional[int]`, `int | None`, `Annotated[int, Path()]` -> `int`.
fn core_type(annotation: &str) -> String {
    let mut t = annotation.trim().trim_matches(['"', '\'']).to_string();
    for wrapper in [
        "Optional[",
        "typing.Optional[",
        "Annotated[",
        "typing.Annotated[",
    ] {
        if let Some(inner) = t.strip_prefix(wrapper).and_then(|r| r.strip_suffix(']')) {
            t = inner.split(',').next().unwrap_or(inner).trim().to_string();
        }
    }
    let parts: Vec<&str> = t
        .split('|')
        .map(str::trim)
        .filter(|s| *s != "None")
        .collect();
    match parts.as_slice() {
        [one] => one.to_string(),
        _ => t,
    }
}

fn is_literal(default: &str) -> bool {
    let d = default.trim();
    matches!(d, "None" | "True" | "False" | "()" | "[]" | "{}")
        || d.starts_with(['"', '\'', '-'])
        || d.chars().next().is_some_and(|c| c.is_ascii_digit())
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// A method's `self.NAME` reads: key inputs get a value, the rest a fake
/// (set only where the class itself defines no such name, at test time).
fn add_self(p: &mut Probe, module: &Module, f: &Function, key: &Key) {
    let Some(receiver) = f.receiver().filter(|_| f.kind == FnKind::Method) else {
        return;
    };
    let prefix = format!("{}.", receiver.name);
    for attr in self_reads(module, f, &prefix) {
        if key.inputs.iter().any(|i| i == &format!("{prefix}{attr}")) {
            p.self_values.push((attr.to_string(), "\"a\"".to_string()));
        } else {
            p.self_fakes.push(attr.to_string());
        }
    }
    if !p.self_fakes.is_empty() {
        let names: Vec<String> = p.self_fakes.iter().map(|n| format!("self.{n}")).collect();
        p.stubs.push(format!(
            "{} (handles the instance holds): fakes on an instance built without __init__",
            names.join(", ")
        ));
    }
    if inherits_elsewhere(module, f) {
        p.fake_rest = true;
        p.stubs.push(
            "any other public attribute of the instance (its base class, defined elsewhere, may read what __init__ sets): a fake".to_string(),
        );
    }
}

/// The `self.NAME`s `f` reads, and those the methods of its class it
/// calls read (`self._fetch(...)` reads `self.pool`), each once, in order.
fn self_reads(module: &Module, f: &Function, prefix: &str) -> Vec<String> {
    let mut reads: Vec<String> = Vec::new();
    for method in own_methods(module, f, prefix) {
        for node in &method.body.attributes {
            let text = module.src.text_of(*node);
            let Some(attr) = text.strip_prefix(prefix).and_then(|r| r.split('.').next()) else {
                continue;
            };
            if !is_method(module, f, attr)
                && is_identifier(attr)
                && !reads.iter().any(|r| r == attr)
            {
                reads.push(attr.to_string());
            }
        }
    }
    reads
}

fn class_of(f: &Function) -> String {
    f.qualname
        .rsplit_once('.')
        .map_or(String::new(), |(c, _)| c.to_string())
}

fn is_method(module: &Module, f: &Function, attr: &str) -> bool {
    module
        .function(&format!("{}.{attr}", class_of(f)))
        .is_some()
}

/// `f` and the methods of its class it reaches through `self.NAME` (`prefix`
/// is `self.`), each once: the code a call of `f` runs in this module.
pub(crate) fn own_methods<'t>(
    module: &Module<'t>,
    f: &Function<'t>,
    prefix: &str,
) -> Vec<Function<'t>> {
    let class = class_of(f);
    let mut visited = vec![f.qualname.clone()];
    let mut out = Vec::new();
    let mut queue = vec![f.site.clone()];
    while let Some(site) = queue.pop() {
        let method = Function::new(module.src, site);
        for node in &method.body.attributes {
            let text = module.src.text_of(*node);
            let Some(attr) = text.strip_prefix(prefix).and_then(|r| r.split('.').next()) else {
                continue;
            };
            let qualname = format!("{class}.{attr}");
            if let Some(callee) = module
                .function(&qualname)
                .filter(|_| !visited.contains(&qualname))
            {
                visited.push(qualname);
                queue.push(callee);
            }
        }
        out.push(method);
    }
    out
}

/// Whether the class of method `f` inherits from a class this module does
/// not define: its base's methods may read attributes not seen here.
pub(crate) fn inherits_elsewhere(module: &Module, f: &Function) -> bool {
    let class = class_of(f);
    let Some(site) = module.classes.iter().find(|c| c.qualname == class) else {
        return false;
    };
    let Some(bases) = site.node.child_by_field_name("superclasses") else {
        return false;
    };
    let mut cursor = bases.walk();
    bases.named_children(&mut cursor).any(|b| {
        let name = module.src.text_of(b);
        b.kind() != "keyword_argument"
            && name != "object"
            && !module.classes.iter().any(|c| c.qualname == name)
    })
}

/// Module-level names whose calls do the I/O: a module variable awaited
/// or entered (`await client.get(...)`, `async with pool.acquire()`), or
/// an I/O library (`httpx.AsyncClient()`), replaced with monkeypatch.
fn add_patches(p: &mut Probe, module: &Module, f: &Function) {
    let src = module.src;
    let methods = match f.receiver().filter(|_| f.kind == FnKind::Method) {
        Some(r) => own_methods(module, f, &format!("{}.", r.name)),
        None => vec![Function::new(src, f.site.clone())],
    };
    let mut names = BTreeSet::new();
    for method in &methods {
        let params: BTreeSet<&str> = method.params.iter().map(|p| p.name.as_str()).collect();
        for call in &method.body.calls {
            let Some(root) = call.child_by_field_name("function").and_then(root_name) else {
                continue;
            };
            let root = src.text_of(root);
            if params.contains(root)
                || locally_bound(method, src, root)
                || module.cashews.is_cache(root)
            {
                continue;
            }
            if does_io_by_name(p, module, root, *call) {
                names.insert(root.to_string());
            }
        }
    }
    for name in names {
        p.stubs.push(format!(
            "`{name}` in {} (the I/O the function awaits): replaced by a fake with monkeypatch, so the test needs no network or database",
            p.module
        ));
        p.patches.push(name);
    }
}

/// Whether calling the module-level name `root` does the target's I/O: an
/// I/O library (`httpx.get`, `from httpx import AsyncClient`), a
/// module variable awaited or entered (`await client.get(...)`), or a name
/// imported from the project awaited or entered (`async with QueueClient(...)`,
/// `await fetch_rows(...)`: the project's own connection code).
fn does_io_by_name(p: &Probe, module: &Module, root: &str, call: Node) -> bool {
    use crate::imports::Binding;
    let top = |m: &str| m.split('.').next().unwrap_or(m).to_string();
    match module.imports.bindings.get(root) {
        Some(Binding::Module(m)) => is_io_library(m),
        Some(Binding::From {
            level, module: m, ..
        }) => is_io_library(m) || (does_io(call) && (*level > 0 || top(m) == top(&p.module))),
        None => module.variables.contains_key(root) && does_io(call),
    }
}

fn is_io_library(module: &str) -> bool {
    IO_LIBRARIES.contains(&module.split('.').next().unwrap_or(module))
}

/// Whether the function assigns `name` itself (then it is not the module's).
fn locally_bound(f: &Function, src: &crate::source::SourceFile, name: &str) -> bool {
    f.body.targets.iter().any(|(t, _)| src.text_of(*t) == name)
}

/// The leftmost name of `a.b.c` (None for `x().y`, subscripts and the like).
fn root_name(node: Node) -> Option<Node> {
    match node.kind() {
        "identifier" => Some(node),
        "attribute" => root_name(node.child_by_field_name("object")?),
        _ => None,
    }
}

/// A call that is awaited or entered by `with` / `async with`, or whose result is.
fn does_io(call: Node) -> bool {
    let mut n = call;
    for _ in 0..4 {
        let Some(parent) = n.parent() else {
            return false;
        };
        if matches!(parent.kind(), "await" | "with_item" | "with_clause") {
            return true;
        }
        if !matches!(
            parent.kind(),
            "attribute" | "call" | "argument_list" | "as_pattern"
        ) {
            return false;
        }
        n = parent;
    }
    false
}

/// The `key="..."` of an existing cashews decorator of `f` (on the cache
/// object, `@cache(...)`, `@cache.early(...)`), when it is a plain string.
pub(crate) fn existing_template(
    module: &Module,
    names: &crate::cashews::CashewsNames,
    f: &Function,
) -> Option<String> {
    let src = module.src;
    f.decorators.iter().find_map(|d| {
        let call = Some(d.expr).filter(|e| e.kind() == "call")?;
        let callee = call.child_by_field_name("function")?;
        let root = root_name(callee)?;
        if !names.is_cache(src.text_of(root)) {
            return None;
        }
        let args = call.child_by_field_name("arguments")?;
        let mut cursor = args.walk();
        let key = args.named_children(&mut cursor).find(|a| {
            a.kind() == "keyword_argument"
                && a.child_by_field_name("name")
                    .is_some_and(|n| src.text_of(n) == "key")
        })?;
        plain_string(src.text_of(key.child_by_field_name("value")?))
    })
}

/// The value of a string literal with no prefix, escape or placeholder
/// quirk (`"a:{x}"`, `'a:{x}'`); None for anything else.
fn plain_string(text: &str) -> Option<String> {
    let quote = text.chars().next().filter(|c| matches!(c, '"' | '\''))?;
    let inner = text.strip_prefix(quote)?.strip_suffix(quote)?;
    (!inner.is_empty() && !inner.contains(['\\', '"', '\'', '\n'])).then(|| inner.to_string())
}
