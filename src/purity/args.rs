//! A call's arguments, for the catalogue's `when` conditions: the open
//! mode, the HTTP verb, the SQL statement.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use tree_sitter::Node;

use crate::catalogue::When;
use crate::function::dotted_name;
use crate::source::SourceFile;

pub(crate) struct Args<'s, 't> {
    src: &'s SourceFile,
    pub(crate) positional: Vec<Node<'t>>,
    pub(crate) keywords: BTreeMap<String, Node<'t>>,
    /// `**d` arguments: what `d` is (a dict literal, or a name bound to one).
    pub(crate) splats: Vec<Node<'t>>,
    /// For `path.open("w")` the mode is the first argument, for `open(p, "w")` the second.
    is_method: bool,
    /// What is called (`client.post`).
    callee: Option<Node<'t>>,
}

static WRITE_SQL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?is)^\s*(insert|update|delete|merge|upsert|replace|create|drop|alter|truncate|grant|revoke)\b")
        .unwrap()
});
/// A write hidden behind a read's first word: `WITH ... INSERT`, `SELECT ... FOR UPDATE`.
static HIDDEN_WRITE_SQL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?is)(^\s*with\b.*\b(insert\s+into|update\s+\S+\s+set|delete\s+from)\b)|\bfor\s+(no\s+key\s+)?(update|share)\b")
        .unwrap()
});
static BUILDER_WRITE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\b(Query|Table|\w+_table)\s*\.\s*(into|update)\s*\(|\.\s*(insert|delete|replace)\s*\(",
    )
    .unwrap()
});
static BUILDER_READ: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(Query|Table)\s*\.\s*from_\s*\(|\.\s*select\s*\(").unwrap());
static READ_SQL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?is)^\s*(select|with|show|explain|values)\b").unwrap());
/// What names a query endpoint or client: `/graphql`, `search_url`, `gql_client`.
static QUERY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)(graphql|gql|search|query)").unwrap());
static URL_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)(url|endpoint|path|uri|href|link|route)").unwrap());

impl<'s, 't> Args<'s, 't> {
    pub(crate) fn new(src: &'s SourceFile, call: Node<'t>, is_method: bool) -> Args<'s, 't> {
        let mut positional = Vec::new();
        let mut keywords = BTreeMap::new();
        let mut splats = Vec::new();
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
                    "dictionary_splat" => splats.extend(a.named_child(0)),
                    _ => positional.push(a),
                }
            }
        }
        Args {
            src,
            positional,
            keywords,
            splats,
            is_method,
            callee: call.child_by_field_name("function"),
        }
    }

    pub(crate) fn holds(&self, when: When, locals: &BTreeMap<String, Vec<Node<'t>>>) -> bool {
        match when {
            When::WriteMode => self
                .mode()
                .is_some_and(|m| m.contains(['w', 'a', 'x', '+'])),
            When::ReadMode => {
                self.mode()
                    .is_none_or(|m| !m.contains(['w', 'a', 'x', '+']))
                    && !self.mode_is_variable()
            }
            When::WriteSql => self.sql(locals) == Some(true),
            When::ReadSql => self.sql(locals) == Some(false),
            When::UnknownSql => !self.positional.is_empty() && self.sql(locals).is_none(),
            When::WriteVerb => self.verb(locals) == Some(true),
            When::ReadVerb => self.verb(locals) == Some(false),
            When::VariableVerb => self.verb_node(locals).is_some() && self.verb(locals).is_none(),
            When::HasArgs => !self.positional.is_empty() || !self.keywords.is_empty(),
            When::UrlArg => self.positional.first().is_some_and(|a| self.url_like(*a)),
            When::Query => self.is_query(locals),
            When::NotQuery => !self.is_query(locals),
        }
    }

    /// Whether a POST sends a query (GraphQL, a search) rather than a
    /// write: its URL, the client it goes through, or a
    /// `json={"query": ...}` body say so.
    fn is_query(&self, locals: &BTreeMap<String, Vec<Node<'t>>>) -> bool {
        let client = self
            .callee
            .and_then(|c| c.child_by_field_name("object"))
            .is_some_and(|o| QUERY.is_match(self.src.text_of(o)));
        let url = self
            .keywords
            .get("url")
            .copied()
            .or_else(|| self.positional.first().copied());
        let url_says = url.is_some_and(|u| {
            let names = |n: Node| QUERY.is_match(self.src.text_of(n));
            match u.kind() {
                "identifier" => {
                    names(u)
                        || locals
                            .get(self.src.text_of(u))
                            .is_some_and(|values| values.iter().any(|v| names(*v)))
                }
                _ => names(u),
            }
        });
        let body_says = ["json", "data"].iter().any(|k| {
            self.keywords.get(*k).is_some_and(|d| {
                d.kind() == "dictionary" && dict_value(self.src, *d, "query").is_some()
            })
        });
        client || url_says || body_says
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

    /// The HTTP method argument: `method=`, a `"method"` key of a `**dict`
    /// (a literal or a local bound to one), else the first positional; seen
    /// through `.upper()`, `.lower()` and `kwargs.get("method", default)`.
    pub(crate) fn verb_node(&self, locals: &BTreeMap<String, Vec<Node<'t>>>) -> Option<Node<'t>> {
        let found = self.keywords.get("method").copied().or_else(|| {
            self.splats
                .iter()
                .find_map(|d| {
                    let dict = match d.kind() {
                        "dictionary" => Some(*d),
                        "identifier" => locals
                            .get(self.src.text_of(*d))?
                            .iter()
                            .find(|v| v.kind() == "dictionary")
                            .copied(),
                        _ => None,
                    }?;
                    dict_value(self.src, dict, "method")
                })
                .or_else(|| {
                    self.positional
                        .first()
                        .copied()
                        .filter(|p| p.kind() != "list_splat")
                })
        })?;
        Some(unwrap_verb(self.src, found))
    }

    /// Some(true) for POST/PUT/PATCH/DELETE, Some(false) for GET/HEAD/OPTIONS.
    fn verb(&self, locals: &BTreeMap<String, Vec<Node<'t>>>) -> Option<bool> {
        verb_of(self.src, self.verb_node(locals)?)
    }

    /// Some(true) for a write statement, Some(false) for a read, None when
    /// unknown. A local is followed to the values assigned to it, and a
    /// query built in steps (`q = select(U)`, `q = q.where(...)`) to its start.
    fn sql(&self, locals: &BTreeMap<String, Vec<Node<'t>>>) -> Option<bool> {
        let mut todo = vec![*self.positional.first()?];
        let mut seen = Vec::new();
        let mut read = false;
        while let Some(node) = todo.pop() {
            if seen.len() > 32 || seen.contains(&node.id()) {
                continue;
            }
            seen.push(node.id());
            match classify_statement(self.src, node) {
                Some(true) => return Some(true),
                Some(false) => read = true,
                None => {
                    if let Some(values) = chain_root(self.src, node).and_then(|r| locals.get(r)) {
                        todo.extend(values.iter().copied());
                    }
                }
            }
        }
        read.then_some(false)
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
pub(crate) fn string_value(src: &SourceFile, node: Node) -> Option<String> {
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
pub(crate) fn classify_statement(src: &SourceFile, mut node: Node) -> Option<bool> {
    // A loop, not recursion: `text(text(...))` may nest deep. The builder
    // markers are looked for once, in the outermost call's text (which holds
    // every inner one): once per level would be quadratic.
    let mut outermost = true;
    loop {
        match node.kind() {
            "parenthesized_expression" | "await" => node = node.named_child(0)?,
            "string" => {
                let s = string_value(src, node).unwrap_or_else(|| {
                    src.text_of(node)
                        .trim_start_matches(['f', 'F', 'r', 'R', '"', '\''])
                        .to_string()
                });
                return if WRITE_SQL.is_match(&s) || HIDDEN_WRITE_SQL.is_match(&s) {
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
                    // `func.count(User.id)`: SQLAlchemy selects a bare function.
                    _ if innermost.starts_with("func.") => return Some(false),
                    "text" => {
                        node = node
                            .child_by_field_name("arguments")
                            .and_then(|a| a.named_child(0))?;
                    }
                    // A query builder named on its own terms (pypika's
                    // `Query.from_(t).select(...)`, `Query.into(t).insert(...)`).
                    _ if BUILDER_WRITE.is_match(text) => return Some(true),
                    _ if BUILDER_READ.is_match(text) => return Some(false),
                    _ => return None,
                }
            }
            _ => return None,
        }
    }
}

/// `m.upper()`, `str(m)`, `m.value`, `kwargs.get("method", m)` -> `m`.
fn unwrap_verb<'t>(src: &SourceFile, mut node: Node<'t>) -> Node<'t> {
    for _ in 0..8 {
        let next = match node.kind() {
            "call" => {
                let function = node.child_by_field_name("function");
                let args: Vec<Node> = node
                    .child_by_field_name("arguments")
                    .map(|a| {
                        let mut c = a.walk();
                        a.named_children(&mut c).collect()
                    })
                    .unwrap_or_default();
                match function {
                    Some(f) if f.kind() == "attribute" => {
                        let attr = f.child_by_field_name("attribute").map(|a| src.text_of(a));
                        match (attr, args.len()) {
                            (Some("upper" | "lower" | "strip"), 0) => {
                                f.child_by_field_name("object")
                            }
                            (Some("get"), 2) => Some(args[1]),
                            _ => None,
                        }
                    }
                    Some(f) if src.text_of(f) == "str" && args.len() == 1 => Some(args[0]),
                    _ => None,
                }
            }
            "attribute"
                if node
                    .child_by_field_name("attribute")
                    .is_some_and(|a| src.text_of(a) == "value") =>
            {
                node.child_by_field_name("object")
            }
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => break,
        }
    }
    node
}

/// Some(true) for POST/PUT/PATCH/DELETE, Some(false) for GET/HEAD/OPTIONS:
/// a string, or an enum member or constant named for it (`HttpMethod.POST`,
/// `hdrs.METH_GET`).
pub(crate) fn verb_of(src: &SourceFile, node: Node) -> Option<bool> {
    match node.kind() {
        "string" => verb_text(&string_value(src, node)?),
        "attribute" => verb_text(src.text_of(node.child_by_field_name("attribute")?)),
        _ => None,
    }
}

/// The verb a literal's text or a constant's name stands for.
pub(crate) fn verb_text(text: &str) -> Option<bool> {
    let word = text.trim().trim_matches(['"', '\'']);
    let word = word.rsplit('.').next().unwrap_or(word);
    let word = word.trim_start_matches("METH_").to_ascii_uppercase();
    match word.as_str() {
        "POST" | "PUT" | "PATCH" | "DELETE" => Some(true),
        "GET" | "HEAD" | "OPTIONS" => Some(false),
        _ => None,
    }
}

/// `{"method": "POST"}` -> the `"POST"` node; a key may also be a constant
/// named for it (`{Kwarg.METHOD: ...}`).
pub(crate) fn dict_value<'t>(src: &SourceFile, dict: Node<'t>, key: &str) -> Option<Node<'t>> {
    let mut cursor = dict.walk();
    let found = dict.named_children(&mut cursor).find(|pair| {
        pair.kind() == "pair"
            && pair
                .child_by_field_name("key")
                .is_some_and(|k| match k.kind() {
                    "attribute" => k
                        .child_by_field_name("attribute")
                        .is_some_and(|a| src.text_of(a).eq_ignore_ascii_case(key)),
                    _ => string_value(src, k).is_some_and(|k| k == key),
                })
    });
    found.and_then(|pair| pair.child_by_field_name("value"))
}

/// The name a method chain starts from: `q` for `q.where(x).limit(1)`, `q` for `q`.
pub(crate) fn chain_root<'s>(src: &'s SourceFile, mut node: Node) -> Option<&'s str> {
    loop {
        match node.kind() {
            "identifier" => return Some(src.text_of(node)),
            "call" => node = node.child_by_field_name("function")?,
            "attribute" => node = node.child_by_field_name("object")?,
            "await" | "parenthesized_expression" => node = node.named_child(0)?,
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
            // `(select(A).where(...)).limit(1)`: the builder inside the parentheses.
            Some(object)
                if function.kind() == "attribute"
                    && object.kind() == "parenthesized_expression"
                    && object.named_child(0).is_some_and(|n| n.kind() == "call") =>
            {
                call = object.named_child(0)?;
            }
            _ => return dotted_name(src, function),
        }
    }
}
