//! One function body against the side-effect catalogue and the
//! state-mutation rules; calls into the project are handed to `calls`.

use std::sync::Arc;
use std::sync::LazyLock;

use regex::Regex;
use tree_sitter::Node;

use crate::catalogue::{Pattern, Severity, When};
use crate::function::{Function, dotted_name};
use crate::module::Module;
use crate::project::Index;
use crate::project::effects::{Cond, Effect, FnKey, Found, Summary, fn_key};
use crate::purity::args::{Args, string_value};
use crate::purity::scope::Scope;
use crate::source::{SourceFile, line_of};

/// Words in a method name that say it changes something.
const WRITE_WORDS: &[&str] = &[
    "create",
    "update",
    "delete",
    "remove",
    "insert",
    "upsert",
    "save",
    "store",
    "put",
    "post",
    "patch",
    "send",
    "publish",
    "push",
    "write",
    "set",
    "add",
    "increment",
    "incr",
    "decr",
    "mark",
    "consume",
    "revoke",
    "register",
    "enqueue",
    "notify",
    "charge",
    "refund",
    "pay",
    "reset",
    "purge",
    "destroy",
    "archive",
    "approve",
    "reject",
    "cancel",
    "ban",
    "kick",
    "mute",
    "grant",
    "assign",
    "attach",
    "detach",
    "subscribe",
    "unsubscribe",
    "follow",
    "unfollow",
    "invite",
    "submit",
    "commit",
    "flush",
    "lock",
    "acquire",
    "signup",
    "activate",
    "deactivate",
    "block",
    "unblock",
    "edit",
    "reply",
    "answer",
    "upload",
    "append",
    "bump",
    "record",
    "schedule",
    "queue",
    "dispatch",
    "emit",
    "expire",
    "migrate",
    "restore",
    "kill",
    "spawn",
    "withdraw",
    "transfer",
    "deposit",
    "buy",
    "sell",
    "purchase",
    "checkout",
];

/// Words in a method name that say it checks credentials: caching it keeps
/// a revoked or changed credential working for the TTL.
const AUTH_WORDS: &[&str] = &[
    "login",
    "logout",
    "authenticate",
    "authorize",
    "verify",
    "validate_token",
    "check_password",
    "signin",
];

/// SQL that reads the clock or a random source: the rows differ per call.
static SQL_CLOCK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(now\s*\(\s*\)|current_timestamp|current_date|current_time|localtimestamp|getdate\s*\(|datetime\s*\(\s*'now'|utc_timestamp|sysdate)").unwrap()
});
static SQL_RANDOM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(random|rand|newid|gen_random_uuid|uuid_generate_v4)\s*\(").unwrap()
});
static RANDOM_URL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^(https?://[^\s]*|/[\w/{}.-]*)/(random|shuffle)\b").unwrap());
static SQL_LIKE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?is)^\s*(select|with|insert|update|delete)\b.*\b(from|into|set|where)\b").unwrap()
});

/// Runs the analysis of one run: the index to follow calls through and
/// the catalogue to judge library calls by.
pub(crate) struct Analyser<'i, 'p> {
    pub(crate) index: &'i Index<'p>,
    pub(crate) patterns: &'i [&'i Pattern],
    /// Whether calls on an object an `async with` entered are followed:
    /// a writer's lease taken inside a client's context is a write for
    /// invalidation, while a read judged for caching stays judged by the
    /// names it calls (a lease is bookkeeping, not the data it returns).
    pub(crate) entered: bool,
}

impl<'p> Analyser<'_, 'p> {
    /// The summary of `f` in `module`, computed once per run. A call back
    /// into a function still being summarised (recursion, a cycle) adds
    /// nothing: its effects are found where the cycle started.
    pub(crate) fn summary(
        &self,
        module: &Module<'p>,
        f: &Function<'p>,
        stack: &mut Vec<FnKey>,
    ) -> Arc<Summary> {
        let key = fn_key(module, &f.qualname, self.entered);
        if let Some(known) = self.index.summary(&key) {
            return known;
        }
        if stack.contains(&key) || stack.len() > 200 {
            return Arc::new(Summary::default());
        }
        stack.push(key.clone());
        let summary = Arc::new(self.compute(module, f, stack));
        stack.pop();
        self.index.remember(key, summary.clone());
        summary
    }

    fn compute(&self, module: &Module<'p>, f: &Function<'p>, stack: &mut Vec<FnKey>) -> Summary {
        let src = module.src;
        let scope = Scope::new(src, f);
        let mut out = Summary::default();
        let handlers = except_clauses(f);
        for call in &f.body.calls {
            // A file written on the error path (a dump, a report, named by the
            // clock or at random) describes a computation a cache hit does not
            // run: not an effect to keep.
            let diagnostic = |found: &Found| {
                matches!(
                    found.effect.category.as_str(),
                    "file_write" | "time" | "random"
                ) && handlers.iter().any(|r| r.contains(&call.start_byte()))
            };
            if let Some(mut followed) = self.follow(module, f, &scope, *call, stack) {
                followed.found.retain(|x| !diagnostic(x));
                out.found.extend(followed.found);
                out.reads.extend(followed.reads);
                out.reached.extend(followed.reached);
                continue;
            }
            if let Some(query) = self.index.aiosql_query(module, *call) {
                let (category, severity, note) = if query.write {
                    (
                        "db_write",
                        Severity::Block,
                        "runs an aiosql statement that writes",
                    )
                } else {
                    ("db_read", Severity::Read, "runs an aiosql query")
                };
                let found = effect(src, *call, category, severity, note);
                if query.write {
                    out.found.push(Found {
                        effect: found,
                        condition: Cond::Always,
                    });
                } else {
                    out.reads.push(found);
                }
                continue;
            }
            if let Some((pattern, args)) = self.match_call(module, *call, &scope) {
                let found = Found {
                    effect: effect(
                        src,
                        *call,
                        &pattern.category,
                        pattern.severity,
                        &pattern.note,
                    ),
                    condition: condition(src, pattern, &args, &scope),
                };
                if found.effect.severity == "read" && found.condition == Cond::Always {
                    out.reads.push(found.effect);
                } else if !diagnostic(&found) {
                    out.found.push(found);
                }
            } else if let Some(m) = scope.mutating_call(*call) {
                out.found.push(Found {
                    effect: effect(src, *call, m.category, Severity::Block, &m.note),
                    condition: m.condition,
                });
            } else if let Some((category, note)) = self.looks_like_write(module, &scope, *call) {
                out.found.push(Found {
                    effect: effect(src, *call, category, Severity::Warn, &note),
                    condition: Cond::Always,
                });
            }
        }
        for (target, _) in &f.body.targets {
            if let Some(m) = scope.assignment(*target) {
                let statement = target.parent().unwrap_or(*target);
                out.found.push(Found {
                    effect: effect(src, statement, m.category, Severity::Block, &m.note),
                    condition: m.condition,
                });
            }
        }
        for del in &f.body.deletes {
            let mut cursor = del.walk();
            for target in del.named_children(&mut cursor) {
                if let Some(m) = scope.assignment(target) {
                    out.found.push(Found {
                        effect: effect(
                            src,
                            *del,
                            m.category,
                            Severity::Block,
                            &m.note.replace("assigns", "deletes"),
                        ),
                        condition: m.condition,
                    });
                }
            }
        }
        out.found.extend(scan_body(module, f, &scope));
        out.found.dedup();
        out.reached.sort();
        out.reached.dedup();
        out
    }

    /// The most severe catalogue pattern matching this call, with its arguments.
    fn match_call<'a>(
        &'a self,
        module: &Module<'p>,
        call: Node<'p>,
        scope: &Scope<'_, 'p>,
    ) -> Option<(&'a Pattern, Args<'p, 'p>)> {
        let src = module.src;
        let callee = call.child_by_field_name("function")?;
        let raw = dotted_name(src, callee);
        let resolved = raw.as_deref().map(|r| module.imports.resolve(r));
        let method = (callee.kind() == "attribute")
            .then(|| {
                callee
                    .child_by_field_name("attribute")
                    .map(|a| src.text_of(a))
            })
            .flatten();
        let receiver_node = callee
            .child_by_field_name("object")
            .filter(|_| callee.kind() == "attribute");
        let receiver = receiver_node.and_then(|r| last_identifier(src, r));
        if receiver_node.is_some_and(|r| {
            r.kind() == "identifier" && scope.local_containers.contains(src.text_of(r))
        }) {
            return None; // `buf = io.StringIO(); buf.write(...)` touches nothing outside
        }
        let args = Args::new(
            src,
            call,
            method.is_some() && resolved.as_deref().is_none_or(|r| !is_module_call(r)),
        );
        let mut best: Option<&Pattern> = None;
        for p in self.patterns {
            let by_name = [raw.as_deref(), resolved.as_deref()]
                .into_iter()
                .flatten()
                .any(|name| {
                    p.calls.iter().any(|c| c == name)
                        || p.prefixes.iter().any(|pre| name.starts_with(pre.as_str()))
                });
            let by_method = method.is_some_and(|m| p.methods.iter().any(|pm| pm == m))
                && p.receiver
                    .as_ref()
                    .is_none_or(|re| receiver.as_deref().is_some_and(|r| re.is_match(r)))
                && !resolved.as_deref().is_some_and(is_known_pure);
            if !(by_name || by_method) || !p.when.is_none_or(|w| args.holds(w, &scope.assigned)) {
                continue;
            }
            if best.is_none_or(|b| p.severity > b.severity) {
                best = Some(p);
            }
        }
        best.map(|p| (p, args))
    }

    /// A call the analysis cannot follow (its receiver's type is not known)
    /// whose name says it changes something: `crud_users.update(...)`,
    /// `queries.delete_article(...)`, `repo.mark_used(token)`.
    fn looks_like_write(
        &self,
        module: &Module<'p>,
        scope: &Scope,
        call: Node,
    ) -> Option<(&'static str, String)> {
        let src = module.src;
        let callee = call.child_by_field_name("function")?;
        if callee.kind() == "identifier" {
            return self.library_call_like_write(module, scope, callee);
        }
        if callee.kind() != "attribute" {
            return None;
        }
        let method = src.text_of(callee.child_by_field_name("attribute")?);
        let object = callee.child_by_field_name("object")?;
        // `super().update(...)` into a library base: the instance's own write.
        let root = if super::calls::is_super_call(src, object) {
            object.child_by_field_name("function")?
        } else {
            scope.root(object)?
        };
        let name = src.text_of(root);
        // Locals are the function's own objects; only what outlives the call
        // counts, and what is awaited (I/O through an object a call handed back).
        let awaited = call.parent().is_some_and(|p| p.kind() == "await");
        let outside = scope.receiver.as_deref() == Some(name)
            || name == "super"
            || scope.is_param(name)
            || (!scope.locals.contains_key(name)
                && self.index.resolve_name(module, name)
                    != crate::project::resolve::Symbol::Unknown)
            || (awaited && !scope.local_containers.contains(name));
        let dunder = method.starts_with("__") && method.ends_with("__");
        if !outside || dunder || is_known_pure(&module.imports.resolve(name)) {
            return None;
        }
        let words: Vec<&str> = method.trim_start_matches('_').split('_').collect();
        if let Some(hit) = words.iter().find(|w| AUTH_WORDS.contains(w)) {
            return Some((
                "auth",
                format!(
                    "`{}.{method}(…)` cannot be followed and its name says it checks credentials ({hit}): a cached answer keeps a revoked or changed credential working",
                    src.text_of(object)
                ),
            ));
        }
        let hit = words.iter().find(|w| WRITE_WORDS.contains(w))?;
        Some((
            "unknown",
            format!(
                "`{}.{method}(…)` cannot be followed (the type of `{}` is not known here) and its name says it may change something ({hit})",
                src.text_of(object),
                src.text_of(object)
            ),
        ))
    }
}

impl<'p> Analyser<'_, 'p> {
    /// A function imported from a library (not the standard one) whose name
    /// says it changes something: `send_to_paste_service(...)`.
    fn library_call_like_write(
        &self,
        module: &Module<'p>,
        scope: &Scope,
        callee: Node,
    ) -> Option<(&'static str, String)> {
        let src = module.src;
        let name = src.text_of(callee);
        if scope.is_param(name) || scope.locals.contains_key(name) {
            return None;
        }
        let crate::project::resolve::Symbol::External(dotted) =
            self.index.resolve_name(module, name)
        else {
            return None;
        };
        let top = dotted.split('.').next().unwrap_or_default();
        if STDLIB.contains(&top) || is_known_pure(&dotted) {
            return None;
        }
        let words: Vec<&str> = name.trim_start_matches('_').split('_').collect();
        let hit = words.iter().find(|w| WRITE_WORDS.contains(w))?;
        Some((
            "unknown",
            format!(
                "`{dotted}(…)` comes from a library the analysis does not read, and its name says it may change something ({hit})"
            ),
        ))
    }
}

/// Standard-library modules: their effects are in the catalogue, their
/// names are not evidence.
const STDLIB: &[&str] = &[
    "abc",
    "argparse",
    "array",
    "asyncio",
    "base64",
    "bisect",
    "builtins",
    "calendar",
    "collections",
    "contextlib",
    "contextvars",
    "copy",
    "csv",
    "dataclasses",
    "datetime",
    "decimal",
    "enum",
    "functools",
    "glob",
    "gzip",
    "hashlib",
    "heapq",
    "hmac",
    "html",
    "http",
    "inspect",
    "io",
    "ipaddress",
    "itertools",
    "json",
    "logging",
    "math",
    "mimetypes",
    "operator",
    "os",
    "pathlib",
    "pickle",
    "platform",
    "pprint",
    "queue",
    "random",
    "re",
    "secrets",
    "shlex",
    "shutil",
    "signal",
    "socket",
    "sqlite3",
    "ssl",
    "statistics",
    "string",
    "struct",
    "subprocess",
    "sys",
    "tempfile",
    "textwrap",
    "threading",
    "time",
    "traceback",
    "types",
    "typing",
    "unicodedata",
    "urllib",
    "uuid",
    "warnings",
    "weakref",
    "xml",
    "zipfile",
    "zlib",
    "typing_extensions",
];

/// When a catalogue match happens, seen from callers: an HTTP method or an
/// SQL statement taken from a parameter is decided by what callers pass.
fn condition(src: &SourceFile, pattern: &Pattern, args: &Args, scope: &Scope) -> Cond {
    let param = |node: Option<Node>| {
        node.filter(|n| n.kind() == "identifier")
            .map(|n| src.text_of(n).to_string())
            .filter(|n| scope.is_param(n))
    };
    match pattern.when {
        Some(When::VariableVerb) => {
            param(args.verb_node(&scope.assigned)).map_or(Cond::Always, Cond::Verb)
        }
        Some(When::UnknownSql) => {
            param(args.positional.first().copied()).map_or(Cond::Always, Cond::Sql)
        }
        _ => Cond::Always,
    }
}

/// An effect at `node` in `src`.
pub(crate) fn effect(
    src: &SourceFile,
    node: Node,
    category: &str,
    severity: Severity,
    note: &str,
) -> Effect {
    Effect {
        category: category.to_string(),
        severity: severity.as_str(),
        line: line_of(node),
        code: first_line(src.text_of(node)),
        note: note.to_string(),
        via: Vec::new(),
    }
}

/// The first line of some code, capped: what an effect shows.
pub(crate) fn first_line(code: &str) -> String {
    let code = code.lines().next().unwrap_or("").trim();
    if code.len() > 120 {
        format!("{}…", &code[..code.floor_char_boundary(117)])
    } else {
        code.to_string()
    }
}

/// The byte ranges of the function's `except` clauses.
fn except_clauses(f: &Function) -> Vec<std::ops::Range<usize>> {
    let Some(body) = f.site.node.child_by_field_name("body") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut stack = vec![body];
    while let Some(node) = stack.pop() {
        if matches!(node.kind(), "except_clause" | "except_group_clause") {
            out.push(node.byte_range());
        }
        if matches!(
            node.kind(),
            "block"
                | "try_statement"
                | "if_statement"
                | "else_clause"
                | "elif_clause"
                | "for_statement"
                | "while_statement"
                | "with_statement"
                | "finally_clause"
        ) || node.id() == body.id()
        {
            let mut cursor = node.walk();
            stack.extend(node.named_children(&mut cursor));
        }
    }
    out
}

/// What a walk over the body finds beyond calls and assignments: SQL in
/// string literals that reads the clock (`NOW()`, `CURRENT_TIMESTAMP`) or a
/// random source, a URL that asks for something random (`/random`), and
/// `async for` over an iterator passed in (it is consumed).
fn scan_body(module: &Module, f: &Function, scope: &Scope) -> Vec<Found> {
    let src = module.src;
    let Some(body) = f.site.node.child_by_field_name("body") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut stack = vec![body];
    while let Some(node) = stack.pop() {
        // A module constant read here: `RANDOM_QUOTE_URL = "https://…/random"`.
        // (`is_load` climbs to the root: ask it only of a module constant's name.)
        if node.kind() == "identifier"
            && let Some(value) = module
                .variables
                .get(src.text_of(node))
                .filter(|v| v.kind() == "string")
            && crate::source::is_load(node)
            && let Some((category, note)) = string_evidence(src, *value)
        {
            out.push(Found {
                effect: effect(src, node, category, Severity::Warn, note),
                condition: Cond::Always,
            });
            continue;
        }
        if node.kind() == "string" {
            if let Some((category, note)) = string_evidence(src, node) {
                out.push(Found {
                    effect: effect(src, node, category, Severity::Warn, note),
                    condition: Cond::Always,
                });
            }
            continue;
        }
        if node.kind() == "for_statement"
            && node.child(0).is_some_and(|c| c.kind() == "async")
            && let Some(over) = node
                .child_by_field_name("right")
                .filter(|r| r.kind() == "identifier")
            && scope.is_param(src.text_of(over))
        {
            let name = src.text_of(over);
            out.push(Found {
                effect: effect(
                    src,
                    over,
                    "argument_mutation",
                    Severity::Block,
                    &format!("`async for` consumes the iterator `{name}` passed in: a cached result leaves it untouched"),
                ),
                condition: Cond::Mutates(crate::project::effects::Holder::Param(name.to_string())),
            });
        }
        let mut cursor = node.walk();
        stack.extend(node.named_children(&mut cursor));
    }
    out
}

fn string_evidence(src: &SourceFile, node: Node) -> Option<(&'static str, &'static str)> {
    let text = string_value(src, node).unwrap_or_else(|| {
        src.text_of(node)
            .trim_start_matches(['f', 'F', 'r', 'R', 'b', 'B'])
            .trim_start_matches(['"', '\''])
            .to_string()
    });
    if SQL_LIKE.is_match(&text) {
        if SQL_CLOCK.is_match(&text) {
            return Some((
                "time",
                "the SQL reads the database's clock: the same inputs give other rows later",
            ));
        }
        if SQL_RANDOM.is_match(&text) {
            return Some(("random", "the SQL draws random values"));
        }
    }
    if RANDOM_URL.is_match(&text) {
        return Some((
            "random",
            "the URL asks for something random: each call is meant to differ",
        ));
    }
    None
}

/// Calls on modules we know to be pure (`json.loads`, `re.sub`): a method
/// pattern like `write` must not fire on `os.path.join`-style calls.
pub(crate) fn is_known_pure(resolved: &str) -> bool {
    const PURE: &[&str] = &[
        "json.",
        "re.",
        "math.",
        "hashlib.",
        "base64.",
        "os.path.",
        "itertools.",
        "functools.",
        "operator.",
        "string.",
    ];
    PURE.iter().any(|p| resolved.starts_with(p)) && !resolved.starts_with("json.dump")
}

/// Whether a resolved name is a module function rather than a method on an object.
fn is_module_call(resolved: &str) -> bool {
    resolved.starts_with("httpx.")
        || resolved.starts_with("requests.")
        || resolved.starts_with("aiohttp.")
        || resolved.starts_with("urllib3.")
}

/// The last identifier of a receiver: `self.session` -> `session`,
/// `get_db()` -> `get_db`, `os.environ` -> `environ`.
fn last_identifier(src: &SourceFile, mut node: Node) -> Option<String> {
    loop {
        match node.kind() {
            "identifier" => return Some(src.text_of(node).to_string()),
            "attribute" => {
                return node
                    .child_by_field_name("attribute")
                    .map(|a| src.text_of(a).to_string());
            }
            "call" => node = node.child_by_field_name("function")?,
            "await" | "parenthesized_expression" => node = node.named_child(0)?,
            _ => return None,
        }
    }
}
