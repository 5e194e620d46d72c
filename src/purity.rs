//! Is the function safe to cache? Every call and assignment in its body
//! (and in the same-module helpers it calls, one level deep) is checked
//! against the side-effect catalogue and a few state-mutation rules.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;
use tree_sitter::Node;

use crate::catalogue::{Pattern, Severity, When};
use crate::function::{Function, ParamKind, dotted_name};
use crate::module::{Module, is_container};
use crate::source::{SourceFile, line_of};

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct Effect {
    pub(crate) category: String,
    pub(crate) severity: &'static str,
    pub(crate) line: usize,
    pub(crate) code: String,
    pub(crate) note: String,
    /// The helper the effect was found in, when not in the function itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) via: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Verdict {
    Pure,
    Impure,
    Unknown,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Purity {
    pub(crate) verdict: Verdict,
    /// Effects with severity block or warn.
    pub(crate) effects: Vec<Effect>,
    /// Reads (severity read): not effects, but they steer the decision.
    pub(crate) reads: Vec<Effect>,
}

/// Method names that change the object they are called on.
const MUTATING_METHODS: &[&str] = &[
    "append",
    "extend",
    "insert",
    "remove",
    "pop",
    "clear",
    "sort",
    "reverse",
    "update",
    "setdefault",
    "popitem",
    "add",
    "discard",
    "difference_update",
    "intersection_update",
    "symmetric_difference_update",
    "appendleft",
    "extendleft",
    "popleft",
    "rotate",
    "put_nowait",
    "put",
    "set_result",
    "set_exception",
    "cache_clear",
];

/// Function names that say "I write".
const WRITE_PREFIXES: &[&str] = &[
    "create_",
    "update_",
    "delete_",
    "remove_",
    "send_",
    "post_",
    "put_",
    "save_",
    "write_",
    "set_",
    "add_",
    "insert_",
    "upsert_",
    "publish_",
    "notify_",
    "register_",
    "reset_",
    "invalidate_",
    "charge_",
    "refund_",
];

pub(crate) fn analyse(module: &Module, f: &Function, patterns: &[&Pattern]) -> Purity {
    let mut effects = Vec::new();
    let checker = Checker { module, patterns };
    checker.check_body(f, None, &mut effects);
    for helper in helpers(module, f) {
        let h = Function::new(module.src, helper.1);
        checker.check_body(&h, Some(helper.0.as_str()), &mut effects);
    }
    if let Some(prefix) = WRITE_PREFIXES
        .iter()
        .find(|p| f.name.trim_start_matches('_').starts_with(*p))
    {
        effects.push(Effect {
            category: "unknown".to_string(),
            severity: Severity::Warn.as_str(),
            line: f.line,
            code: format!("def {}", f.name),
            note: format!("the name ({prefix}…) suggests a write"),
            via: None,
        });
    }
    let (reads, effects): (Vec<Effect>, Vec<Effect>) =
        effects.into_iter().partition(|e| e.severity == "read");
    let verdict = if effects.iter().any(|e| e.severity == "block") {
        Verdict::Impure
    } else if effects.is_empty() {
        Verdict::Pure
    } else {
        Verdict::Unknown
    };
    Purity {
        verdict,
        effects,
        reads,
    }
}

/// Same-module functions and same-class methods the function calls.
fn helpers<'t>(
    module: &Module<'t>,
    f: &Function<'t>,
) -> Vec<(String, crate::locate::FunctionSite<'t>)> {
    let src = module.src;
    let receiver = f.receiver().map(|p| p.name.as_str());
    let class = f
        .site
        .class
        .and_then(|_| f.qualname.rsplit_once('.'))
        .map(|(class, _)| class);
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for call in &f.body.calls {
        let Some(name) = call
            .child_by_field_name("function")
            .and_then(|c| dotted_name(src, c))
        else {
            continue;
        };
        let qualname = match (name.split_once('.'), receiver, class) {
            (None, _, _) => name.clone(),
            (Some((head, method)), Some(recv), Some(class))
                if head == recv && !method.contains('.') =>
            {
                format!("{class}.{method}")
            }
            _ => continue,
        };
        if qualname == f.qualname {
            continue; // recursion
        }
        if let Some(site) = module.function(&qualname)
            && seen.insert(qualname.clone())
        {
            out.push((qualname, site));
        }
    }
    out
}

struct Checker<'m, 't> {
    module: &'m Module<'t>,
    patterns: &'m [&'m Pattern],
}

impl<'t> Checker<'_, 't> {
    fn src(&self) -> &'t SourceFile {
        self.module.src
    }

    fn check_body(&self, f: &Function<'t>, via: Option<&str>, out: &mut Vec<Effect>) {
        let scope = Scope::new(self.src(), f);
        for call in &f.body.calls {
            if let Some(e) = self.match_call(*call, &scope) {
                out.push(self.effect(*call, e.0, e.1, e.2, via));
            } else if let Some(note) = scope.mutating_call(*call) {
                out.push(self.effect(
                    *call,
                    scope.mutation_category(*call),
                    Severity::Block,
                    note,
                    via,
                ));
            }
        }
        for (target, _) in &f.body.targets {
            if let Some((category, note)) = scope.assignment(*target) {
                let statement = target.parent().unwrap_or(*target);
                out.push(self.effect(statement, category, Severity::Block, note, via));
            }
        }
        for del in &f.body.deletes {
            let mut cursor = del.walk();
            for target in del.named_children(&mut cursor) {
                if let Some((category, note)) = scope.assignment(target) {
                    out.push(self.effect(
                        *del,
                        category,
                        Severity::Block,
                        note.replace("assigns", "deletes"),
                        via,
                    ));
                }
            }
        }
    }

    fn effect(
        &self,
        node: Node,
        category: &str,
        severity: Severity,
        note: impl Into<String>,
        via: Option<&str>,
    ) -> Effect {
        let code = self.src().text_of(node);
        let code = code.lines().next().unwrap_or("").trim();
        let code = if code.len() > 120 {
            format!("{}…", &code[..code.floor_char_boundary(117)])
        } else {
            code.to_string()
        };
        Effect {
            category: category.to_string(),
            severity: severity.as_str(),
            line: line_of(node),
            code,
            note: note.into(),
            via: via.map(str::to_string),
        }
    }

    /// The most severe catalogue pattern matching this call.
    fn match_call(&self, call: Node<'t>, scope: &Scope) -> Option<(&str, Severity, String)> {
        let src = self.src();
        let callee = call.child_by_field_name("function")?;
        let raw = dotted_name(src, callee);
        let resolved = raw.as_deref().map(|r| self.module.imports.resolve(r));
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
            if !(by_name || by_method) || !p.when.is_none_or(|w| args.holds(w, scope)) {
                continue;
            }
            if best.is_none_or(|b| p.severity > b.severity) {
                best = Some(p);
            }
        }
        best.map(|p| (p.category.as_str(), p.severity, p.note.clone()))
    }
}

/// Calls on modules we know to be pure (`json.loads`, `re.sub`): a method
/// pattern like `write` must not fire on `os.path.join`-style calls.
fn is_known_pure(resolved: &str) -> bool {
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

/// Names in play inside one function body.
struct Scope<'s, 't> {
    src: &'s SourceFile,
    module: BTreeSet<String>,
    params: BTreeSet<String>,
    receiver: Option<String>,
    locals: BTreeMap<String, Node<'t>>,
    local_containers: BTreeSet<String>,
    globals: BTreeSet<String>,
}

impl<'s, 't> Scope<'s, 't> {
    fn new(src: &'s SourceFile, f: &Function<'t>) -> Scope<'s, 't> {
        let params = f
            .params
            .iter()
            .filter(|p| p.kind != ParamKind::Receiver)
            .map(|p| p.name.clone())
            .collect();
        let receiver = f.receiver().map(|p| p.name.clone());
        let globals: BTreeSet<String> = f
            .body
            .globals
            .iter()
            .flat_map(|g| {
                let mut cursor = g.walk();
                g.named_children(&mut cursor)
                    .map(|n| src.text_of(n).to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut locals = BTreeMap::new();
        for (target, _) in &f.body.targets {
            if target.kind() == "identifier" {
                let name = src.text_of(*target).to_string();
                if let Some(value) = target.parent().and_then(|a| a.child_by_field_name("right")) {
                    locals.insert(name, value);
                }
            }
        }
        let local_containers = locals
            .iter()
            .filter(|(name, value)| !globals.contains(*name) && is_container(src, **value))
            .map(|(name, _)| name.clone())
            .collect();
        let module = module_names(src);
        Scope {
            src,
            module,
            params,
            receiver,
            locals,
            local_containers,
            globals,
        }
    }

    /// The root name of `a.b[c].d`.
    fn root<'n>(&self, mut node: Node<'n>) -> Option<Node<'n>> {
        loop {
            node = match node.kind() {
                "identifier" => return Some(node),
                "attribute" => node.child_by_field_name("object")?,
                "subscript" => node.child_by_field_name("value")?,
                _ => return None,
            };
        }
    }

    fn is_module_state(&self, name: &str) -> bool {
        self.globals.contains(name)
            || (self.module.contains(name)
                && !self.locals.contains_key(name)
                && !self.params.contains(name))
    }

    /// An assignment or `del` target that changes state outside the function.
    fn assignment(&self, target: Node) -> Option<(&'static str, String)> {
        let text = self.src.text_of(target);
        if target.kind() == "identifier" {
            return self
                .globals
                .contains(text)
                .then(|| ("global_write", format!("assigns global `{text}`")));
        }
        if is_pattern(target) {
            // Nested patterns with a work list, not recursion: `((((a,),),),) = x`.
            let mut stack = vec![target];
            while let Some(pattern) = stack.pop() {
                let mut cursor = pattern.walk();
                let children: Vec<Node> = pattern.named_children(&mut cursor).collect();
                for child in children.into_iter().rev() {
                    if is_pattern(child) {
                        stack.push(child);
                    } else if let Some(hit) = self.assignment(child) {
                        return Some(hit);
                    }
                }
            }
            return None;
        }
        let root = self.root(target)?;
        let name = self.src.text_of(root);
        if self.receiver.as_deref() == Some(name) {
            Some((
                "global_write",
                format!("assigns `{text}`: instance or class state"),
            ))
        } else if self.params.contains(name) {
            Some((
                "argument_mutation",
                format!("assigns `{text}`: mutates an argument"),
            ))
        } else if self.is_module_state(name) {
            Some(("global_write", format!("assigns `{text}`: module state")))
        } else {
            None
        }
    }

    /// `param.append(x)`, `self.items.add(x)`, `REGISTRY.update(...)`.
    fn mutating_call(&self, call: Node) -> Option<String> {
        let callee = call
            .child_by_field_name("function")
            .filter(|c| c.kind() == "attribute")?;
        let method = self.src.text_of(callee.child_by_field_name("attribute")?);
        if !MUTATING_METHODS.contains(&method) {
            return None;
        }
        let object = callee.child_by_field_name("object")?;
        let root = self.root(object)?;
        let name = self.src.text_of(root);
        let on_self_attr = self.receiver.as_deref() == Some(name) && object.kind() != "identifier";
        let hit = on_self_attr
            || (object.kind() == "identifier"
                && (self.params.contains(name) || self.is_module_state(name)))
            || (object.kind() != "identifier" && self.params.contains(name));
        hit.then(|| {
            format!(
                "`{}.{method}(…)` mutates state outside the function",
                self.src.text_of(object)
            )
        })
    }

    fn mutation_category(&self, call: Node) -> &'static str {
        let root = call
            .child_by_field_name("function")
            .and_then(|c| c.child_by_field_name("object"))
            .and_then(|o| self.root(o))
            .map(|r| self.src.text_of(r));
        if root.is_some_and(|r| self.params.contains(r)) {
            "argument_mutation"
        } else {
            "global_write"
        }
    }
}

fn is_pattern(node: Node) -> bool {
    matches!(
        node.kind(),
        "pattern_list" | "tuple_pattern" | "list_pattern"
    )
}

/// Names bound at module level (assignments, imports excluded).
fn module_names(src: &SourceFile) -> BTreeSet<String> {
    let root = src.tree.root_node();
    let mut cursor = root.walk();
    root.named_children(&mut cursor)
        .filter(|s| s.kind() == "expression_statement")
        .filter_map(|s| s.named_child(0).filter(|a| a.kind() == "assignment"))
        .filter_map(|a| a.child_by_field_name("left"))
        .filter(|l| l.kind() == "identifier")
        .map(|l| src.text_of(l).to_string())
        .collect()
}

/// The arguments of one call, for the `when` conditions.
struct Args<'s, 't> {
    src: &'s SourceFile,
    positional: Vec<Node<'t>>,
    keywords: BTreeMap<String, Node<'t>>,
    /// For `path.open("w")` the mode is the first argument, for `open(p, "w")` the second.
    is_method: bool,
}

static WRITE_SQL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?is)^\s*(insert|update|delete|merge|upsert|replace|create|drop|alter|truncate|grant|revoke)\b")
        .unwrap()
});
static READ_SQL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?is)^\s*(select|with|show|explain|values)\b").unwrap());
static URL_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)(url|endpoint|path|uri|href|link|route)").unwrap());

impl<'s, 't> Args<'s, 't> {
    fn new(src: &'s SourceFile, call: Node<'t>, is_method: bool) -> Args<'s, 't> {
        let mut positional = Vec::new();
        let mut keywords = BTreeMap::new();
        if let Some(args) = call.child_by_field_name("arguments") {
            let mut cursor = args.walk();
            for a in args.named_children(&mut cursor) {
                match a.kind() {
                    "keyword_argument" => {
                        if let (Some(n), Some(v)) = (
                            a.child_by_field_name("name"),
                            a.child_by_field_name("value"),
                        ) {
                            keywords.insert(src.text_of(n).to_string(), v);
                        }
                    }
                    "comment" => {}
                    _ => positional.push(a),
                }
            }
        }
        Args {
            src,
            positional,
            keywords,
            is_method,
        }
    }

    fn holds(&self, when: When, scope: &Scope) -> bool {
        match when {
            When::WriteMode => self
                .mode()
                .is_some_and(|m| m.contains(['w', 'a', 'x', '+'])),
            When::ReadMode => {
                self.mode()
                    .is_none_or(|m| !m.contains(['w', 'a', 'x', '+']))
                    && !self.mode_is_variable()
            }
            When::WriteSql => self.sql(scope) == Some(true),
            When::ReadSql => self.sql(scope) == Some(false),
            When::UnknownSql => !self.positional.is_empty() && self.sql(scope).is_none(),
            When::WriteVerb => self
                .verb()
                .is_some_and(|v| matches!(v.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")),
            When::ReadVerb => self
                .verb()
                .is_some_and(|v| matches!(v.as_str(), "GET" | "HEAD" | "OPTIONS")),
            When::VariableVerb => self
                .verb_node()
                .is_some_and(|n| string_value(self.src, n).is_none()),
            When::HasArgs => !self.positional.is_empty() || !self.keywords.is_empty(),
            When::UrlArg => self.positional.first().is_some_and(|a| self.url_like(*a)),
        }
    }

    fn mode_node(&self) -> Option<Node<'t>> {
        let index = if self.is_method { 0 } else { 1 };
        self.keywords
            .get("mode")
            .copied()
            .or_else(|| self.positional.get(index).copied())
    }

    fn mode(&self) -> Option<String> {
        self.mode_node().and_then(|n| string_value(self.src, n))
    }

    fn mode_is_variable(&self) -> bool {
        self.mode_node()
            .is_some_and(|n| string_value(self.src, n).is_none())
    }

    fn verb_node(&self) -> Option<Node<'t>> {
        self.keywords
            .get("method")
            .copied()
            .or_else(|| self.positional.first().copied())
    }

    fn verb(&self) -> Option<String> {
        self.verb_node()
            .and_then(|n| string_value(self.src, n))
            .map(|v| v.to_ascii_uppercase())
    }

    /// Some(true) for a write statement, Some(false) for a read, None when unknown.
    fn sql(&self, scope: &Scope) -> Option<bool> {
        let first = *self.positional.first()?;
        let value = match first.kind() {
            "identifier" => scope
                .locals
                .get(self.src.text_of(first))
                .copied()
                .unwrap_or(first),
            _ => first,
        };
        classify_statement(self.src, value)
    }

    fn url_like(&self, node: Node) -> bool {
        match node.kind() {
            "string" => {
                let text = self.src.text_of(node);
                text.contains("://") || text.contains('/') || is_fstring(self.src, node)
            }
            "identifier" | "attribute" => URL_NAME.is_match(self.src.text_of(node)),
            "binary_operator" | "concatenated_string" | "call" => true,
            _ => false,
        }
    }
}

fn is_fstring(src: &SourceFile, node: Node) -> bool {
    node.child(0)
        .is_some_and(|s| src.text_of(s).to_ascii_lowercase().contains('f'))
}

/// The value of a plain (non-f) string literal.
fn string_value(src: &SourceFile, node: Node) -> Option<String> {
    if node.kind() != "string" || is_fstring(src, node) {
        return None;
    }
    let mut cursor = node.walk();
    let content: String = node
        .named_children(&mut cursor)
        .filter(|c| c.kind() == "string_content")
        .map(|c| src.text_of(c))
        .collect();
    Some(content)
}

/// insert()/update()/delete() builders and write SQL are writes; select() and SELECT are reads.
fn classify_statement(src: &SourceFile, mut node: Node) -> Option<bool> {
    // A loop, not recursion: `text(text(...))` may nest deep. The builder
    // markers are looked for once, in the outermost call's text (which holds
    // every inner one): once per level would be quadratic.
    let mut outermost = true;
    loop {
        match node.kind() {
            "string" => {
                let s = string_value(src, node).unwrap_or_else(|| {
                    src.text_of(node)
                        .trim_start_matches(['f', 'F', 'r', 'R', '"', '\''])
                        .to_string()
                });
                return if WRITE_SQL.is_match(&s) {
                    Some(true)
                } else if READ_SQL.is_match(&s) {
                    Some(false)
                } else {
                    None
                };
            }
            "call" => {
                let text = src.text_of(node);
                if std::mem::take(&mut outermost)
                    && [".values(", "on_conflict_do", ".returning("]
                        .iter()
                        .any(|m| text.contains(m))
                    && !text.contains("select(")
                {
                    return Some(true);
                }
                let innermost = innermost_callee(src, node)?;
                let last = innermost.rsplit('.').next().unwrap_or(&innermost);
                match last {
                    "insert" | "update" | "delete" => return Some(true),
                    "select" => return Some(false),
                    "text" => {
                        node = node
                            .child_by_field_name("arguments")
                            .and_then(|a| a.named_child(0))?;
                    }
                    _ => return None,
                }
            }
            _ => return None,
        }
    }
}

/// `select(User).where(...).limit(1)` -> `select`.
fn innermost_callee(src: &SourceFile, mut call: Node) -> Option<String> {
    loop {
        let function = call.child_by_field_name("function")?;
        match function.child_by_field_name("object") {
            Some(object) if function.kind() == "attribute" && object.kind() == "call" => {
                call = object;
            }
            _ => return dotted_name(src, function),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::builtin;
    use crate::locate::find;
    use std::path::Path;

    fn purity(text: &str, name: &str) -> Purity {
        let src = SourceFile::parse(Path::new("m.py"), text.as_bytes().to_vec()).unwrap();
        let module = Module::new(&src);
        let f = Function::new(
            &src,
            find(&src, &crate::locate::all_functions(&src), name).unwrap(),
        );
        let patterns: Vec<&Pattern> = builtin().iter().collect();
        analyse(&module, &f, &patterns)
    }

    fn categories(p: &Purity) -> Vec<String> {
        p.effects
            .iter()
            .map(|e| format!("{}:{}", e.category, e.severity))
            .collect()
    }

    #[test]
    fn table() {
        let cases: &[(&str, &str, Verdict, &[&str])] = &[
            (
                "async def f(a):\n    return a * 2\n",
                "f",
                Verdict::Pure,
                &[],
            ),
            (
                "async def f(session, u):\n    session.add(u)\n    await session.commit()\n    return u\n",
                "f",
                Verdict::Impure,
                &["db_write:block", "db_write:block"],
            ),
            (
                "async def f(s, i):\n    return (await s.execute(select(U).where(U.id == i))).scalar()\n",
                "f",
                Verdict::Pure,
                &[],
            ),
            (
                "async def f(s, i):\n    await s.execute(insert(U).values(id=i))\n    return i\n",
                "f",
                Verdict::Impure,
                &["db_write:block", "db_write:block"],
            ),
            (
                "async def f(s, q):\n    return await s.execute(q)\n",
                "f",
                Verdict::Unknown,
                &["db_unknown:warn"],
            ),
            (
                "import httpx\nasync def f(c, u):\n    return (await c.post(u)).json()\n",
                "f",
                Verdict::Impure,
                &["network_write:block"],
            ),
            (
                "import subprocess as sp\nasync def f():\n    return sp.run(['ls'])\n",
                "f",
                Verdict::Impure,
                &["process:block"],
            ),
            (
                "async def f(p):\n    with open(p, 'w') as fh:\n        fh.write('x')\n    return 1\n",
                "f",
                Verdict::Impure,
                &["file_write:block", "file_write:block"],
            ),
            (
                "async def f(p):\n    with open(p) as fh:\n        return fh.read()\n",
                "f",
                Verdict::Pure,
                &[],
            ),
            (
                "import time\nasync def f():\n    return time.time()\n",
                "f",
                Verdict::Unknown,
                &["time:warn"],
            ),
            (
                "import uuid\nasync def f():\n    return uuid.uuid4()\n",
                "f",
                Verdict::Impure,
                &["random:block"],
            ),
            (
                "SEEN = []\nasync def f(x):\n    SEEN.append(x)\n    return x\n",
                "f",
                Verdict::Impure,
                &["global_write:block"],
            ),
            (
                "async def f(items):\n    items.append(1)\n    return items\n",
                "f",
                Verdict::Impure,
                &["argument_mutation:block"],
            ),
            (
                "async def f(items):\n    out = []\n    out.append(1)\n    return out\n",
                "f",
                Verdict::Pure,
                &[],
            ),
            (
                "COUNT = 0\nasync def f():\n    global COUNT\n    COUNT += 1\n    return COUNT\n",
                "f",
                Verdict::Impure,
                &["global_write:block"],
            ),
            (
                "async def f(m):\n    await m.send_message(1)\n    return 1\n",
                "f",
                Verdict::Impure,
                &["email:block"],
            ),
            (
                "async def create_user(n):\n    return n\n",
                "create_user",
                Verdict::Unknown,
                &["unknown:warn"],
            ),
        ];
        for (code, name, verdict, cats) in cases {
            let p = purity(code, name);
            assert_eq!(p.verdict, *verdict, "{code}\n{:?}", p.effects);
            assert_eq!(categories(&p), *cats, "{code}");
        }
    }

    #[test]
    fn reads_are_not_effects() {
        let p = purity(
            "async def f(client, uid):\n    r = await client.get(f'/users/{uid}')\n    return r.json()\n",
            "f",
        );
        assert_eq!(p.verdict, Verdict::Pure);
        assert!(
            p.reads.iter().any(|r| r.category == "external_read"),
            "{:?}",
            p.reads
        );
    }

    #[test]
    fn follows_helpers_one_level() {
        let code = "class S:\n    async def _save(self, x):\n        await self.session.commit()\n    async def get(self, x):\n        await self._save(x)\n        return x\n";
        let p = purity(code, "S.get");
        assert_eq!(p.verdict, Verdict::Impure);
        assert_eq!(p.effects[0].via.as_deref(), Some("S._save"));
        assert_eq!(p.effects[0].line, 3);
        let code = "def helper():\n    import os\n    os.system('x')\nasync def f():\n    helper()\n    return 1\n";
        assert_eq!(purity(code, "f").verdict, Verdict::Impure);
    }

    #[test]
    fn self_state_write_blocks() {
        let p = purity(
            "class A:\n    async def f(self):\n        self.n = 1\n        return 1\n",
            "A.f",
        );
        assert_eq!(categories(&p), ["global_write:block"]);
    }
}
