//! How cashews is spelled in code, and the two small languages it reads:
//! key templates and TTL strings. Shared by the rewrite and the lint so they
//! can never disagree.

use std::collections::{BTreeMap, BTreeSet};

use tree_sitter::Node;

use crate::function::{Decorator, dotted_name};
use crate::imports::Imports;
use crate::source::SourceFile;

/// Local names that refer to cashews cache objects in one module.
#[derive(Debug, Clone, Default)]
pub(crate) struct CashewsNames {
    /// Names bound to a cache object: `cache`, an alias, a `Cache()` instance,
    /// `noself_cache`, `cashews.cache`.
    caches: BTreeSet<String>,
    /// Names bound to `cashews.noself`.
    noself: BTreeSet<String>,
    /// Module-level shortcuts bound to a method of the default cache:
    /// `from cashews import early` makes `early` mean `cache.early`.
    shortcuts: BTreeMap<String, String>,
    /// Module-level ready-made decorators: `cached = cache(ttl="1h")` makes
    /// `@cached` a cashews decorator; the method and the call's byte range.
    aliases: BTreeMap<String, (Option<String>, (usize, usize))>,
}

/// The decorator shortcuts `cashews/__init__.py` exports (`failover = cache.failover`, …).
const SHORTCUTS: &[&str] = &[
    "failover",
    "early",
    "soft",
    "hit",
    "transaction",
    "circuit_breaker",
    "dynamic",
    "rate_limit",
    "slice_rate_limit",
    "locked",
    "invalidate",
];

/// A decorator that resolves to cashews.
#[derive(Debug, Clone)]
pub(crate) struct CashewsDecorator<'t> {
    /// `early`, `soft`, `failover`, …; None for plain `@cache(...)`.
    pub(crate) method: Option<String>,
    /// The call holding the arguments; None for a bare `@cache`.
    pub(crate) call: Option<Node<'t>>,
    pub(crate) noself: bool,
    /// The local name of the cache object: `cache`, `mycache`, `cashews.mem`.
    pub(crate) object: String,
}

impl<'t> CashewsDecorator<'t> {
    /// Whether this decorator stores results. `@cache.invalidate`,
    /// `@cache.locked` (a lock alone caches nothing), rate limits and circuit
    /// breakers are cashews decorators that do not.
    pub(crate) fn caches(&self) -> bool {
        matches!(
            self.method.as_deref(),
            None | Some("early" | "soft" | "failover" | "hit" | "iterator" | "cache" | "dynamic")
        )
    }

    /// The strategy word used in JSON: `cache` for plain `@cache(...)`.
    pub(crate) fn strategy(&self) -> &str {
        self.method.as_deref().unwrap_or("cache")
    }

    /// A keyword argument's value node.
    pub(crate) fn keyword(&self, src: &SourceFile, name: &str) -> Option<Node<'t>> {
        let args = self.call?.child_by_field_name("arguments")?;
        let mut cursor = args.walk();
        let found = args.named_children(&mut cursor).find(|a| {
            a.kind() == "keyword_argument"
                && a.child_by_field_name("name")
                    .is_some_and(|n| src.text_of(n) == name)
        });
        found.and_then(|a| a.child_by_field_name("value"))
    }

    /// The n-th positional argument.
    pub(crate) fn positional(&self, n: usize) -> Option<Node<'t>> {
        let args = self.call?.child_by_field_name("arguments")?;
        let mut cursor = args.walk();
        args.named_children(&mut cursor)
            .filter(|a| {
                !matches!(
                    a.kind(),
                    "keyword_argument" | "comment" | "list_splat" | "dictionary_splat"
                )
            })
            .nth(n)
    }
}

impl CashewsNames {
    pub(crate) fn collect(src: &SourceFile, imports: &Imports) -> CashewsNames {
        let mut caches: BTreeSet<String> =
            imports.locals_for("cashews", "cache").into_iter().collect();
        caches.extend(imports.locals_for("cashews", "noself_cache"));
        // `mem` is a second cache that cashews sets up itself.
        caches.extend(imports.locals_for("cashews", "mem"));
        let mut shortcuts = BTreeMap::new();
        for method in SHORTCUTS {
            for local in imports.locals_for("cashews", method) {
                shortcuts.insert(local, (*method).to_string());
            }
        }
        for module in imports.module_aliases("cashews") {
            caches.insert(format!("{module}.cache"));
            caches.insert(format!("{module}.noself_cache"));
            caches.insert(format!("{module}.mem"));
            for method in SHORTCUTS {
                shortcuts.insert(format!("{module}.{method}"), (*method).to_string());
            }
        }
        let noself: BTreeSet<String> = imports
            .locals_for("cashews", "noself")
            .into_iter()
            .collect();
        let mut names = CashewsNames {
            caches,
            noself,
            shortcuts,
            aliases: BTreeMap::new(),
        };
        names.add_instances(src, imports);
        names.add_aliases(src);
        names
    }

    /// A name bound to a cashews cache object (found through the project).
    pub(crate) fn add_cache(&mut self, name: String) {
        self.caches.insert(name);
    }

    /// A name bound to a decorator shortcut (`early` for `cache.early`).
    pub(crate) fn add_shortcut(&mut self, name: String, method: String) {
        self.shortcuts.insert(name, method);
    }

    pub(crate) fn add_noself(&mut self, name: String) {
        self.noself.insert(name);
    }

    /// `cached = cache(ttl="1h")` at module level: `@cached` decorates.
    pub(crate) fn add_aliases(&mut self, src: &SourceFile) {
        let root = src.tree.root_node();
        let mut cursor = root.walk();
        for stmt in root
            .named_children(&mut cursor)
            .filter(|s| s.kind() == "expression_statement")
        {
            let Some(assign) = stmt.named_child(0).filter(|a| a.kind() == "assignment") else {
                continue;
            };
            let (Some(left), Some(right)) = (
                assign.child_by_field_name("left"),
                assign.child_by_field_name("right"),
            ) else {
                continue;
            };
            if left.kind() != "identifier" || right.kind() != "call" {
                continue;
            }
            let Some(callee) = right
                .child_by_field_name("function")
                .and_then(|c| dotted_name(src, c))
            else {
                continue;
            };
            let method = if self.is_cache(&callee) {
                None
            } else if let Some(m) = self.shortcuts.get(&callee) {
                Some(m.clone())
            } else if let Some((base, m)) = callee.rsplit_once('.')
                && self.is_cache(base)
            {
                Some(m.to_string())
            } else {
                continue;
            };
            self.aliases.insert(
                src.text_of(left).to_string(),
                (method, (right.start_byte(), right.end_byte())),
            );
        }
    }

    /// `mycache = Cache()` at module level makes `mycache` a cache object.
    fn add_instances(&mut self, src: &SourceFile, imports: &Imports) {
        let root = src.tree.root_node();
        let mut cursor = root.walk();
        for stmt in root
            .named_children(&mut cursor)
            .filter(|s| s.kind() == "expression_statement")
        {
            let Some(assign) = stmt.named_child(0).filter(|a| a.kind() == "assignment") else {
                continue;
            };
            let (Some(left), Some(right)) = (
                assign.child_by_field_name("left"),
                assign.child_by_field_name("right"),
            ) else {
                continue;
            };
            let Some(callee) = right
                .child_by_field_name("function")
                .filter(|_| right.kind() == "call")
            else {
                continue;
            };
            if is_cache_class(src, imports, callee)
                && let Some(name) = dotted_name(src, left)
            {
                self.caches.insert(name);
            }
        }
    }

    /// The names as seen inside `function`: the module's names plus the
    /// caches its enclosing functions bind, a parameter annotated with
    /// cashews' `Cache` (a pytest fixture) or a local `c = Cache()`.
    pub(crate) fn in_scope_of(
        &self,
        src: &SourceFile,
        imports: &Imports,
        function: Node,
    ) -> Option<CashewsNames> {
        let mut extra = Vec::new();
        let mut current = function.parent();
        while let Some(n) = current {
            if n.kind() == "function_definition" {
                extra.extend(scope_caches(src, imports, n));
            }
            current = n.parent();
        }
        if extra.is_empty() {
            return None;
        }
        let mut names = self.clone();
        names.caches.extend(extra);
        Some(names)
    }

    pub(crate) fn is_cache(&self, dotted: &str) -> bool {
        self.caches.contains(dotted)
    }

    /// Plain names (no dots) bound to a cache object at module level: what
    /// other modules can import.
    pub(crate) fn exported(&self) -> impl Iterator<Item = &str> {
        self.caches
            .iter()
            .filter(|c| !c.contains('.'))
            .map(String::as_str)
    }

    /// Recognises `@cache`, `@cache(...)`, `@cache.early(...)`,
    /// `@noself(cache)(...)`, `@noself(cache).soft(...)`, `@mycache(...)`.
    pub(crate) fn decorator<'t>(
        &self,
        src: &'t SourceFile,
        d: &Decorator<'t>,
    ) -> Option<CashewsDecorator<'t>> {
        let (target, call) = match d.expr.kind() {
            "call" => (d.expr.child_by_field_name("function")?, Some(d.expr)),
            _ => (d.expr, None),
        };
        // A ready-made decorator: `cached = cache(ttl=...)`, then `@cached`.
        if call.is_none()
            && let Some((method, (start, end))) =
                dotted_name(src, target).and_then(|n| self.aliases.get(&n))
            && let Some(alias_call) = src
                .tree
                .root_node()
                .descendant_for_byte_range(*start, *end)
                .filter(|n| n.kind() == "call")
        {
            return Some(CashewsDecorator {
                method: method.clone(),
                call: Some(alias_call),
                noself: false,
                object: src.text_of(target).to_string(),
            });
        }
        // `cache`, `cache.early` or a shortcut such as `early`
        if let Some(name) = dotted_name(src, target) {
            if self.is_cache(&name) {
                return Some(CashewsDecorator {
                    method: None,
                    call,
                    noself: name.ends_with("noself_cache"),
                    object: name,
                });
            }
            if let Some(method) = self.shortcuts.get(&name) {
                return Some(CashewsDecorator {
                    method: Some(method.clone()),
                    call,
                    noself: false,
                    object: name,
                });
            }
            if let Some((base, method)) = name.rsplit_once('.')
                && self.is_cache(base)
            {
                return Some(CashewsDecorator {
                    method: Some(method.to_string()),
                    call,
                    noself: base.ends_with("noself_cache"),
                    object: base.to_string(),
                });
            }
            return None;
        }
        // `noself(cache)(...)` or `noself(cache).early(...)`
        let (inner, method) = match target.kind() {
            "call" => (target, None),
            "attribute" => {
                let object = target.child_by_field_name("object")?;
                let attr = src
                    .text_of(target.child_by_field_name("attribute")?)
                    .to_string();
                (object, Some(attr))
            }
            _ => return None,
        };
        let wrapper = dotted_name(src, inner.child_by_field_name("function")?)?;
        let arg = inner.child_by_field_name("arguments")?.named_child(0)?;
        let wrapped = dotted_name(src, arg)?;
        (self.noself.contains(&wrapper) && self.is_cache(&wrapped)).then_some(CashewsDecorator {
            method,
            call,
            noself: true,
            object: wrapped,
        })
    }
}

/// Whether `callee` (a class being called, or an annotation) is cashews' `Cache`.
pub(crate) fn is_cache_class(src: &SourceFile, imports: &Imports, callee: Node) -> bool {
    let class = dotted_name(src, callee).map(|c| imports.resolve(&c));
    matches!(
        class.as_deref(),
        Some("cashews.Cache" | "cashews.wrapper.Cache" | "cashews.wrapper.wrapper.Cache")
    )
}

/// Caches a function binds for the functions nested in it.
fn scope_caches(src: &SourceFile, imports: &Imports, function: Node) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(params) = function.child_by_field_name("parameters") {
        let mut cursor = params.walk();
        for p in params.named_children(&mut cursor) {
            if matches!(p.kind(), "typed_parameter" | "typed_default_parameter")
                && let Some(annotation) = p.child_by_field_name("type")
                && let Some(class) = annotation.named_child(0)
                && is_cache_class(src, imports, class)
            {
                let name = if p.kind() == "typed_parameter" {
                    p.named_child(0)
                } else {
                    p.child_by_field_name("name")
                };
                if let Some(name) = name.filter(|n| n.kind() == "identifier") {
                    out.push(src.text_of(name).to_string());
                }
            }
        }
    }
    if let Some(body) = function.child_by_field_name("body") {
        let mut cursor = body.walk();
        for stmt in body.named_children(&mut cursor) {
            if let Some(assign) = stmt.named_child(0).filter(|a| a.kind() == "assignment")
                && let (Some(left), Some(right)) = (
                    assign.child_by_field_name("left"),
                    assign.child_by_field_name("right"),
                )
                && left.kind() == "identifier"
                && right.kind() == "call"
                && let Some(callee) = right.child_by_field_name("function")
                && is_cache_class(src, imports, callee)
            {
                out.push(src.text_of(left).to_string());
            }
        }
    }
    out
}

/// One `{...}` placeholder of a key template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placeholder {
    /// Everything before the format spec: `user.id`, `obj[k]`, `__args__`.
    pub(crate) field: String,
    /// The leading name: `user` for `user.id`; `@` for context values.
    pub(crate) root: String,
    /// The format spec after `:`, e.g. `hash`, `lower`, `get(name)`.
    pub(crate) format: Option<String>,
    /// Byte range of the whole `{...}` in the template.
    pub(crate) span: std::ops::Range<usize>,
}

/// Parses a cashews key template the way `string.Formatter` does:
/// `{{` and `}}` are literal braces.
pub(crate) fn parse_template(template: &str) -> Result<Vec<Placeholder>, String> {
    let mut out = Vec::new();
    let mut chars = template.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' if chars.peek().map(|p| p.1) == Some('{') => {
                chars.next();
            }
            '}' if chars.peek().map(|p| p.1) == Some('}') => {
                chars.next();
            }
            '}' => return Err(format!("single '}}' at position {i}")),
            '{' => {
                let mut depth = 1;
                let mut inner = String::new();
                let mut end = template.len();
                for (j, c) in chars.by_ref() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    if depth == 0 {
                        end = j + 1;
                        break;
                    }
                    inner.push(c);
                }
                if depth != 0 {
                    return Err(format!("unclosed '{{' at position {i}"));
                }
                out.push(
                    placeholder(&inner, i..end)
                        .ok_or_else(|| format!("empty placeholder at position {i}"))?,
                );
            }
            _ => {}
        }
    }
    Ok(out)
}

fn placeholder(inner: &str, span: std::ops::Range<usize>) -> Option<Placeholder> {
    let (field, format) = match inner.split_once(':') {
        Some((f, fmt)) => (f.trim(), Some(fmt.trim().to_string())),
        None => (inner.trim(), None),
    };
    if field.is_empty() {
        return None;
    }
    let root: String = if field.starts_with('@') {
        "@".to_string()
    } else {
        // As Python's str.format splits a field: the name ends at `.`, `[`
        // or `!` (an identifier may hold combining marks, not alphanumeric).
        field
            .chars()
            .take_while(|c| !matches!(c, '.' | '[' | '!'))
            .collect()
    };
    Some(Placeholder {
        field: field.to_string(),
        root,
        format,
        span,
    })
}

/// Seconds from a TTL string in cashews' grammar (`30s`, `5m`, `2h5m30s`,
/// `1d`, `3600`). Refuses what cashews would misread: `5m30` is 300 s to
/// cashews (the trailing 30 is dropped), `5x` raises, `0` caches nothing.
pub(crate) fn parse_ttl(ttl: &str) -> Result<u64, String> {
    let t = ttl.trim().to_ascii_lowercase();
    if t.is_empty() {
        return Err("empty TTL".to_string());
    }
    if t.chars().all(|c| c.is_ascii_digit()) {
        let secs: u64 = t.parse().map_err(|_| format!("TTL {ttl:?} is too large"))?;
        return if secs == 0 {
            Err(format!("TTL {ttl:?} is zero: nothing would be cached"))
        } else {
            Ok(secs)
        };
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => {
                return Err(format!(
                    "TTL {ttl:?}: unknown unit {c:?} (use d, h, m, s, e.g. 2h5m30s)"
                ));
            }
        };
        if number.is_empty() {
            return Err(format!("TTL {ttl:?}: unit {c:?} has no number before it"));
        }
        let n: u64 = number
            .parse()
            .map_err(|_| format!("TTL {ttl:?} is too large"))?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("TTL {ttl:?} is too large"))?;
        number.clear();
    }
    if !number.is_empty() {
        return Err(format!(
            "TTL {ttl:?}: trailing {number} has no unit, and cashews would silently drop it (write {number}s)"
        ));
    }
    if total == 0 {
        return Err(format!("TTL {ttl:?} is zero: nothing would be cached"));
    }
    Ok(total)
}

/// Seconds as the shortest cashews TTL string: 3600 -> `1h`, 330 -> `5m30s`.
pub(crate) fn format_ttl(mut secs: u64) -> String {
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    if out.is_empty() {
        "0s".to_string()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_table() {
        let ok = [
            ("30s", 30),
            ("5m", 300),
            ("2h5m30s", 7530),
            ("1d", 86_400),
            ("3600", 3600),
            ("1H", 3600),
        ];
        for (text, secs) in ok {
            assert_eq!(parse_ttl(text), Ok(secs), "{text}");
        }
        for bad in ["", "  ", "5x", "5m30", "0", "0s", "m", "1w", "-5s", "1.5h"] {
            assert!(parse_ttl(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(parse_ttl("5m30").unwrap_err().contains("silently drop"));
    }

    #[test]
    fn ttl_formats_back() {
        for (secs, text) in [
            (3600, "1h"),
            (330, "5m30s"),
            (86_400 + 60, "1d1m"),
            (45, "45s"),
        ] {
            assert_eq!(format_ttl(secs), text);
            assert_eq!(parse_ttl(text), Ok(secs));
        }
    }

    fn decorated(code: &str) -> Vec<(Option<String>, String)> {
        use crate::function::Function;
        use crate::imports::Imports;
        let src =
            SourceFile::parse(std::path::Path::new("m.py"), code.as_bytes().to_vec()).unwrap();
        let imports = Imports::collect(&src);
        let names = CashewsNames::collect(&src, &imports);
        let mut out = Vec::new();
        // nested functions too: the lint checks a test's local functions
        for site in crate::lint::rules::decorated_functions(&src) {
            let scoped = names.in_scope_of(&src, &imports, site.node);
            let names = scoped.as_ref().unwrap_or(&names);
            let f = Function::new(&src, site);
            for d in &f.decorators {
                if let Some(c) = names.decorator(&src, d) {
                    out.push((c.method.clone(), c.object.clone()));
                }
            }
        }
        out
    }

    #[test]
    fn every_spelling_is_recognised() {
        let code = "import cashews\nimport cashews as cw\nfrom cashews import cache as c, Cache, noself, early, mem\nfrom functools import cache\n\
            mine = Cache()\n\
            @c(ttl='1h')\nasync def a(): ...\n\
            @c.soft(ttl='1h')\nasync def b(): ...\n\
            @mine(ttl='1h')\nasync def d(): ...\n\
            @noself(c)(ttl='1h')\nasync def e(): ...\n\
            @early(ttl='1h')\nasync def g(): ...\n\
            @cw.failover(ttl='1h')\nasync def h(): ...\n\
            @mem(ttl='1h')\nasync def i(): ...\n\
            @cache\ndef j(): ...\n\
            async def test(cache: Cache):\n    @cache.hit(ttl=1, cache_hits=1)\n    async def k(): ...\n";
        let got = decorated(code);
        let want: Vec<(Option<String>, String)> = [
            (None, "c"),
            (Some("soft"), "c"),
            (None, "mine"),
            (None, "c"),
            (Some("early"), "early"),
            (Some("failover"), "cw.failover"),
            (None, "mem"),
            (Some("hit"), "cache"),
        ]
        .into_iter()
        .map(|(m, o)| (m.map(str::to_string), o.to_string()))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn template_placeholders() {
        let p =
            parse_template("f:{user.id}:{obj[k]}:{password:hash}:{{lit}}:{@:get(name)}:{__args__}")
                .unwrap();
        let roots: Vec<_> = p.iter().map(|p| p.root.as_str()).collect();
        assert_eq!(roots, ["user", "obj", "password", "@", "__args__"]);
        assert_eq!(p[2].format.as_deref(), Some("hash"));
        assert_eq!(p[0].field, "user.id");
        assert_eq!(p[0].span, 2..11);
        assert_eq!(p[3].span, 45..58, "{{{{ and }}}} are not placeholders");
        // A combining mark continues an identifier: `{cit͍y}` names `cit͍y`.
        let p = parse_template("f:{cit\u{34d}y}:{a!r}").unwrap();
        let roots: Vec<_> = p.iter().map(|p| p.root.as_str()).collect();
        assert_eq!(roots, ["cit\u{34d}y", "a"]);
        assert!(parse_template("f:{a").is_err());
        assert!(parse_template("f:a}").is_err());
        assert!(parse_template("f:{}").is_err());
    }
}
