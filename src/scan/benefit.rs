//! How much a cache saves on a safe function: the work each call does (its
//! reads, its awaited calls, heavy loops), whether a route or a handler runs
//! it per request, and how many places call it. Anti-pattern 5 of the seed:
//! a function that does no such work is not worth a backend round trip.

use std::collections::HashMap;

use serde::Serialize;
use tree_sitter::Node;

use crate::function::Function;
use crate::module::Module;
use crate::project::Index;
use crate::project::resolve::Symbol;
use crate::purity::Purity;
use crate::source::{SourceFile, line_of};

/// One piece of work a call does.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Work {
    /// `db_read`, `http_read`, `file_read`, `awaited_call`, `async_stream` or `computation`.
    pub(crate) kind: &'static str,
    pub(crate) line: usize,
    pub(crate) code: String,
    /// The helper chain when the work sits in a helper (`-> app/db.py:12 `...``).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) via: String,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Benefit {
    /// Higher saves more; only worth-caching functions are ranked by it.
    pub(crate) score: u32,
    pub(crate) work: Vec<Work>,
    /// Call sites by name across the files scanned (`f(` or `.f(`).
    pub(crate) callers: usize,
    /// `GET route` or `bot handler` when a framework runs it per request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) entry: Option<&'static str>,
}

/// Calls whose await is not work of their own: they wait on other awaits
/// (counted where they are written) or on the clock.
const NOT_WORK: &[&str] = &[
    "asyncio.sleep",
    "asyncio.gather",
    "asyncio.wait",
    "asyncio.wait_for",
    "asyncio.shield",
    "asyncio.to_thread",
    "anyio.sleep",
    "trio.sleep",
];

/// Decorators (last dotted part) of a GET route, any framework.
const GET_ROUTES: &[&str] = &["get", "head", "route", "api_route"];
/// Decorators of chat-bot handlers, run for each incoming update.
const BOT_HANDLERS: &[&str] = &[
    "message",
    "callback_query",
    "inline_query",
    "message_handler",
    "callback_query_handler",
    "command",
    "hybrid_command",
    "slash_command",
    "on_message",
];

/// Weights per kind of work: an HTTP round trip costs the most, then a
/// query, a file, an unknown awaited call, a loop.
fn weight(kind: &str) -> u32 {
    match kind {
        "http_read" => 4,
        "db_read" => 3,
        "file_read" | "awaited_call" | "async_stream" => 2,
        _ => 1,
    }
}

/// The most any one of work, callers and entry adds to the score, so a
/// function called from fifty places does not outrank every route's query.
const MAX_WORK_SCORE: u32 = 12;
const MAX_CALLER_SCORE: u32 = 5;
const ENTRY_SCORE: u32 = 4;

/// The work one call does and whether a framework runs it per request;
/// the callers are counted once every file is read (`count_callers`).
pub(crate) fn measure<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    f: &Function<'p>,
    purity: &Purity,
) -> Benefit {
    let mut work: Vec<Work> = purity.reads.iter().filter_map(read_work).collect();
    Walk { index, depth: 0 }.function(module, f, &mut work);
    // A read the catalogue knows is also an awaited call: keep one per line.
    work.sort_by_key(|w| (w.line, w.kind == "awaited_call"));
    work.dedup_by(|later, first| later.line == first.line);
    let mut benefit = Benefit {
        score: 0,
        work,
        callers: 0,
        entry: entry_kind(f),
    };
    benefit.score = benefit.scored();
    benefit
}

impl Benefit {
    pub(crate) fn count_callers(&mut self, calls: &CallCounts, name: &str, method: bool) {
        self.callers = calls.callers(name, method);
        self.score = self.scored();
    }

    /// Nothing for a function that does no work: callers and a route do
    /// not make a trivial function worth a backend round trip.
    fn scored(&self) -> u32 {
        if self.work.is_empty() {
            return 0;
        }
        let work: u32 = self.work.iter().map(|w| weight(w.kind)).sum();
        work.min(MAX_WORK_SCORE)
            + self.entry.map_or(0, |_| ENTRY_SCORE)
            + u32::try_from(self.callers)
                .unwrap_or(u32::MAX)
                .min(MAX_CALLER_SCORE)
    }
}

fn read_work(read: &crate::project::effects::Effect) -> Option<Work> {
    let kind = match read.category.as_str() {
        "db_read" => "db_read",
        c if c.starts_with("external_read") => "http_read",
        "file_read" => "file_read",
        _ => return None,
    };
    Some(Work {
        kind,
        line: read.line,
        code: read.code.clone(),
        via: read.chain(),
    })
}

/// How deep project helpers are followed for their awaited calls.
const MAX_HELPER_DEPTH: usize = 3;

/// Awaited calls, `async for` / `async with` and nested loops in a body.
/// An awaited project function is followed: it is work when its own body
/// does some (a trivial helper is not), shown at the call with its chain.
struct Walk<'i, 'p> {
    index: &'i Index<'p>,
    depth: usize,
}

impl<'p> Walk<'_, 'p> {
    fn function(&self, module: &Module<'p>, f: &Function<'p>, out: &mut Vec<Work>) {
        if let Some(body) = f.site.node.child_by_field_name("body") {
            self.block(module, body, 0, out);
        }
    }

    /// Nested functions and classes are left out: they run when called, not here.
    fn block(&self, module: &Module<'p>, node: Node<'p>, loops: usize, out: &mut Vec<Work>) {
        let src = module.src;
        let mut cursor = node.walk();
        for child in node.named_children(&mut cursor) {
            let mut depth = loops;
            match child.kind() {
                "function_definition" | "lambda" | "class_definition" | "decorated_definition" => {
                    continue;
                }
                "await" => {
                    if let Some(call) = child.named_child(0).filter(|c| c.kind() == "call")
                        && !is_not_work(src, call)
                    {
                        out.extend(self.awaited(module, call));
                    }
                }
                "for_statement" | "with_statement" if is_async(child) => {
                    let head = child
                        .child_by_field_name("right")
                        .or_else(|| child.named_child(0))
                        .unwrap_or(child);
                    out.push(work_at(src, "async_stream", head));
                }
                "for_statement"
                | "while_statement"
                | "list_comprehension"
                | "dictionary_comprehension"
                | "set_comprehension"
                | "generator_expression" => {
                    depth += 1;
                    if depth == 2 {
                        out.push(work_at(src, "computation", child));
                    }
                }
                _ => {}
            }
            self.block(module, child, depth, out);
        }
    }

    /// An awaited call: a project function's own work, else (a library, a
    /// method on an object of unknown type) an awaited call.
    fn awaited(&self, module: &Module<'p>, call: Node<'p>) -> Option<Work> {
        let here = work_at(module.src, "awaited_call", call);
        let callee = call.child_by_field_name("function")?;
        let Symbol::Function(def) = self.index.resolve_node(module, callee) else {
            return Some(here);
        };
        if self.depth >= MAX_HELPER_DEPTH {
            return Some(here);
        }
        let m = self.index.module(&def.path)?;
        let g = Function::new(m.src, m.function(&def.qualname)?);
        let mut inner = Vec::new();
        Walk {
            index: self.index,
            depth: self.depth + 1,
        }
        .function(m, &g, &mut inner);
        let first = inner.first()?;
        let path = crate::render::diff_path(&m.src.path);
        Some(Work {
            kind: first.kind,
            via: format!(" -> {path}:{} `{}`{}", first.line, first.code, first.via),
            ..here
        })
    }
}

fn is_async(node: Node) -> bool {
    node.child(0).is_some_and(|c| c.kind() == "async")
}

fn is_not_work(src: &SourceFile, call: Node) -> bool {
    let callee = call
        .child_by_field_name("function")
        .map_or("", |c| src.text_of(c));
    NOT_WORK.contains(&callee)
}

fn work_at(src: &SourceFile, kind: &'static str, node: Node) -> Work {
    let text = src.text_of(node);
    let first = text.lines().next().unwrap_or_default().trim();
    let code = match first.char_indices().nth(80) {
        Some((at, _)) => format!("{}…", &first[..at]),
        None => first.to_string(),
    };
    Work {
        kind,
        line: line_of(node),
        code,
        via: String::new(),
    }
}

fn entry_kind(f: &Function) -> Option<&'static str> {
    let last = |d: &str| d.rsplit('.').next().unwrap_or(d).to_string();
    let names: Vec<String> = f
        .decorators
        .iter()
        .filter_map(|d| d.dotted.as_deref())
        .map(last)
        .collect();
    if names.iter().any(|n| GET_ROUTES.contains(&n.as_str())) {
        Some("GET route")
    } else if names.iter().any(|n| BOT_HANDLERS.contains(&n.as_str())) {
        Some("bot handler")
    } else {
        None
    }
}

/// Call sites by name in the files scanned: `name(` and `.name(`. By name
/// only (no import resolution), which overcounts common method names; the
/// score caps what callers add.
#[derive(Debug, Default)]
pub(crate) struct CallCounts {
    bare: HashMap<String, usize>,
    dotted: HashMap<String, usize>,
}

impl CallCounts {
    /// Counts the calls in one file's text (comments and strings included:
    /// a cheap byte scan, no parse).
    pub(crate) fn add_text(&mut self, text: &[u8]) {
        for at in memchr::memchr_iter(b'(', text) {
            let end = trim_spaces_back(text, at);
            let start = ident_start(text, end);
            if start == end {
                continue;
            }
            let Ok(name) = std::str::from_utf8(&text[start..end]) else {
                continue;
            };
            if name.as_bytes()[0].is_ascii_digit() {
                continue;
            }
            let before = trim_spaces_back(text, start);
            let map = match before.checked_sub(1).map(|i| text[i]) {
                Some(b'.') => &mut self.dotted,
                _ if preceded_by_def(text, before) => continue,
                _ => &mut self.bare,
            };
            *map.entry(name.to_string()).or_default() += 1;
        }
    }

    pub(crate) fn merge(&mut self, other: CallCounts) {
        for (k, v) in other.bare {
            *self.bare.entry(k).or_default() += v;
        }
        for (k, v) in other.dotted {
            *self.dotted.entry(k).or_default() += v;
        }
    }

    /// A method is called as `.name(`; a function as `name(` or `module.name(`.
    fn callers(&self, name: &str, method: bool) -> usize {
        let dotted = self.dotted.get(name).copied().unwrap_or(0);
        if method {
            dotted
        } else {
            dotted + self.bare.get(name).copied().unwrap_or(0)
        }
    }
}

fn trim_spaces_back(text: &[u8], mut at: usize) -> usize {
    while at > 0 && matches!(text[at - 1], b' ' | b'\t') {
        at -= 1;
    }
    at
}

fn ident_start(text: &[u8], end: usize) -> usize {
    let mut at = end;
    while at > 0 && (text[at - 1].is_ascii_alphanumeric() || text[at - 1] == b'_') {
        at -= 1;
    }
    at
}

/// `def name(` / `class Name(`: a definition, not a call.
fn preceded_by_def(text: &[u8], before: usize) -> bool {
    let head = &text[..before];
    head.ends_with(b"def") || head.ends_with(b"class")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_counts_tell_calls_from_definitions() {
        let mut counts = CallCounts::default();
        counts
            .add_text(b"async def load(x):\n    return await repo.load(x)\n\nload (1)\nprint(2)\n");
        assert_eq!(counts.callers("load", false), 2);
        assert_eq!(counts.callers("load", true), 1);
        assert_eq!(counts.callers("print", false), 1);
    }
}
