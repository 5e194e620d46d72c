//! Values of Python literals the rules read: key templates, setup URLs, TTLs.

use tree_sitter::Node;

use crate::cashews::{format_ttl, parse_ttl};
use crate::function::dotted_name;
use crate::imports::Imports;
use crate::source::SourceFile;

/// A string literal (or an implicit concatenation of them).
#[derive(Debug, Clone)]
pub(crate) struct Str<'t> {
    pub(crate) node: Node<'t>,
    pub(crate) value: String,
    /// Where the value starts in the file when the source text between the
    /// quotes is the value byte for byte (one part, no escapes): edits
    /// inside the value are then safe.
    pub(crate) verbatim_at: Option<usize>,
    /// Just before the closing quote of the last part: text appended there
    /// ends the value.
    pub(crate) append_at: usize,
    /// Whether edits at `append_at` / `verbatim_at` change this value: not
    /// for an f-string or a constant defined elsewhere.
    pub(crate) editable: bool,
}

/// The value of a plain or raw string literal; None for f-strings, bytes and
/// anything computed.
pub(crate) fn string<'t>(src: &SourceFile, node: Node<'t>) -> Option<Str<'t>> {
    match node.kind() {
        "string" => {
            let (value, verbatim, end) = part(src, node)?;
            let start = node
                .child(0)
                .filter(|c| c.kind() == "string_start")?
                .end_byte();
            Some(Str {
                node,
                value,
                verbatim_at: verbatim.then_some(start),
                append_at: end,
                editable: true,
            })
        }
        "concatenated_string" => {
            let mut value = String::new();
            let mut append_at = node.end_byte();
            let mut cursor = node.walk();
            for p in node.named_children(&mut cursor) {
                if p.kind() == "comment" {
                    continue;
                }
                if p.kind() != "string" {
                    return None;
                }
                let (v, _, end) = part(src, p)?;
                value.push_str(&v);
                append_at = end;
            }
            Some(Str {
                node,
                value,
                verbatim_at: None,
                append_at,
                editable: true,
            })
        }
        "parenthesized_expression" => string(src, node.named_child(0)?),
        _ => None,
    }
}

/// The text a key f-string gives cashews: `f"{PREFIX}:{{user_id}}"` is
/// `…:{user_id}`, each interpolation (evaluated once, at import) standing as
/// `…`. Parts may be plain strings (implicit concatenation). None for
/// anything else, or an interpolation whose value could hold a brace (a
/// format spec or a conversion).
pub(crate) fn template<'t>(src: &SourceFile, node: Node<'t>) -> Option<Str<'t>> {
    if let Some(plain) = string(src, node) {
        return Some(plain);
    }
    let parts: Vec<Node> = match node.kind() {
        "string" => vec![node],
        "concatenated_string" => {
            let mut cursor = node.walk();
            node.named_children(&mut cursor)
                .filter(|p| p.kind() != "comment")
                .collect()
        }
        "parenthesized_expression" => return template(src, node.named_child(0)?),
        _ => return None,
    };
    let mut value = String::new();
    for p in parts {
        if p.kind() != "string" {
            return None;
        }
        if let Some((v, _, _)) = part(src, p) {
            value.push_str(&v);
            continue;
        }
        let mut cursor = p.walk();
        let children: Vec<Node> = p.children(&mut cursor).collect();
        let prefix = src.text_of(*children.first()?).to_ascii_lowercase();
        if !prefix.contains('f') || prefix.contains('b') || prefix.contains('t') {
            return None;
        }
        let raw = prefix.contains('r');
        for c in &children[1..children.len().saturating_sub(1)] {
            match c.kind() {
                "string_content" => {
                    let text = src.text_of(*c).replace("{{", "{").replace("}}", "}");
                    if raw || !text.contains('\\') {
                        value.push_str(&text);
                    } else {
                        value.push_str(&unescape(&text));
                    }
                }
                "escape_interpolation" => {
                    value.push_str(&src.text_of(*c)[..1]);
                }
                "escape_sequence" => value.push_str(&unescape(src.text_of(*c))),
                "interpolation" => {
                    let mut cursor = c.walk();
                    let plain = c
                        .named_children(&mut cursor)
                        .all(|n| !matches!(n.kind(), "format_specifier" | "type_conversion"));
                    if !plain {
                        return None;
                    }
                    value.push('…');
                }
                _ => return None,
            }
        }
    }
    Some(Str {
        node,
        value,
        verbatim_at: None,
        append_at: node.end_byte(),
        editable: false,
    })
}

/// (value, whether the source is the value verbatim, offset of the closing quote).
fn part(src: &SourceFile, node: Node) -> Option<(String, bool, usize)> {
    let mut cursor = node.walk();
    let children: Vec<Node> = node.children(&mut cursor).collect();
    let start = children.first().filter(|c| c.kind() == "string_start")?;
    let end = children.last().filter(|c| c.kind() == "string_end")?;
    let prefix = src
        .text_of(*start)
        .trim_end_matches(['"', '\''])
        .to_ascii_lowercase();
    if prefix.contains('f') || prefix.contains('b') || prefix.contains('t') {
        return None;
    }
    let raw = prefix.contains('r');
    let mut value = String::new();
    let mut verbatim = true;
    for c in &children[1..children.len() - 1] {
        match c.kind() {
            "string_content" => {
                let text = src.text_of(*c);
                if raw || !text.contains('\\') {
                    value.push_str(text);
                } else {
                    verbatim = false;
                    value.push_str(&unescape(text));
                }
            }
            _ => return None,
        }
    }
    Some((value, verbatim, end.start_byte()))
}

/// The common escapes; an unknown one stays as written, as Python keeps it.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some('\'') => out.push('\''),
            Some('"') => out.push('"'),
            Some('\n') => {}
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// A TTL argument as cashews reads it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ttl {
    Seconds(f64),
    /// A string cashews rejects or misreads; the reason.
    Malformed(String),
    /// A name, a call, `None`: known only at run time.
    Unknown,
}

impl Ttl {
    pub(crate) fn seconds(&self) -> Option<f64> {
        match self {
            Ttl::Seconds(s) => Some(*s),
            _ => None,
        }
    }
}

/// `3600`, `"1h"`, `timedelta(hours=1)`, `60 * 60`.
pub(crate) fn ttl(src: &SourceFile, imports: &Imports, node: Node) -> Ttl {
    match node.kind() {
        "integer" | "float" => number(src.text_of(node)).map_or(Ttl::Unknown, Ttl::Seconds),
        "string" | "concatenated_string" => match string(src, node) {
            Some(s) => match parse_ttl(&s.value) {
                Ok(secs) => Ttl::Seconds(secs as f64),
                Err(e) => Ttl::Malformed(e),
            },
            None => Ttl::Unknown,
        },
        "parenthesized_expression" => node
            .named_child(0)
            .map_or(Ttl::Unknown, |n| ttl(src, imports, n)),
        "unary_operator" => {
            let negative = node
                .child_by_field_name("operator")
                .is_some_and(|o| src.text_of(o) == "-");
            match node
                .child_by_field_name("argument")
                .map(|a| ttl(src, imports, a))
            {
                Some(Ttl::Seconds(s)) if negative => Ttl::Seconds(-s),
                Some(Ttl::Seconds(s)) => Ttl::Seconds(s),
                _ => Ttl::Unknown,
            }
        }
        "binary_operator" => {
            let side = |f| {
                node.child_by_field_name(f)
                    .and_then(|n| number_expr(src, imports, n))
            };
            let op = node.child_by_field_name("operator").map(|o| src.text_of(o));
            match (side("left"), op, side("right")) {
                (Some(a), Some("*"), Some(b)) => Ttl::Seconds(a * b),
                (Some(a), Some("+"), Some(b)) => Ttl::Seconds(a + b),
                (Some(a), Some("-"), Some(b)) => Ttl::Seconds(a - b),
                (Some(a), Some("/"), Some(b)) if b != 0.0 => Ttl::Seconds(a / b),
                _ => Ttl::Unknown,
            }
        }
        "call" => timedelta(src, imports, node).map_or(Ttl::Unknown, Ttl::Seconds),
        _ => Ttl::Unknown,
    }
}

/// Numbers and timedeltas only (a string in arithmetic is not a TTL).
fn number_expr(src: &SourceFile, imports: &Imports, node: Node) -> Option<f64> {
    if matches!(node.kind(), "string" | "concatenated_string") {
        return None;
    }
    ttl(src, imports, node).seconds()
}

fn number(text: &str) -> Option<f64> {
    let t = text.replace('_', "");
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return i64::from_str_radix(hex, 16).ok().map(|v| v as f64);
    }
    t.parse::<f64>().ok()
}

/// `timedelta(...)` / `datetime.timedelta(...)` with literal numbers, in seconds.
fn timedelta(src: &SourceFile, imports: &Imports, call: Node) -> Option<f64> {
    let callee = dotted_name(src, call.child_by_field_name("function")?)?;
    if imports.resolve(&callee) != "datetime.timedelta" {
        return None;
    }
    const UNITS: [(&str, f64); 7] = [
        ("days", 86_400.0),
        ("seconds", 1.0),
        ("microseconds", 1e-6),
        ("milliseconds", 1e-3),
        ("minutes", 60.0),
        ("hours", 3_600.0),
        ("weeks", 604_800.0),
    ];
    let args = call.child_by_field_name("arguments")?;
    let mut total = 0.0;
    let mut position = 0;
    let mut cursor = args.walk();
    for a in args.named_children(&mut cursor) {
        let (unit, value) = match a.kind() {
            "comment" => continue,
            "keyword_argument" => {
                let name = src.text_of(a.child_by_field_name("name")?);
                let unit = UNITS.iter().find(|(u, _)| *u == name)?.1;
                (unit, a.child_by_field_name("value")?)
            }
            "list_splat" | "dictionary_splat" => return None,
            _ => {
                let unit = UNITS.get(position)?.1;
                position += 1;
                (unit, a)
            }
        };
        total += unit * number_expr(src, imports, value)?;
    }
    Some(total)
}

/// Seconds for a message: `1h`, `90s`, `0.5s`.
pub(crate) fn show_seconds(secs: f64) -> String {
    if secs >= 1.0 && secs.fract() == 0.0 && secs < 1e15 {
        format_ttl(secs as u64)
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn first_value(code: &str) -> (SourceFile, usize) {
        let src = SourceFile::parse(Path::new("m.py"), code.as_bytes().to_vec()).unwrap();
        let at = code.find('=').unwrap() + 1;
        (src, at)
    }

    fn with_value<T>(code: &str, check: impl FnOnce(&SourceFile, &Imports, Node) -> T) -> T {
        let (src, at) = first_value(code);
        let imports = Imports::collect(&src);
        let node = src
            .tree
            .root_node()
            .named_descendant_for_byte_range(at + 1, at + 1)
            .unwrap();
        // climb to the whole right-hand side
        let mut n = node;
        while let Some(p) = n.parent() {
            if p.kind() == "assignment" {
                break;
            }
            n = p;
        }
        check(&src, &imports, n)
    }

    #[test]
    fn strings() {
        let v = |code: &str| {
            with_value(code, |src, _, n| {
                string(src, n).map(|s| (s.value, s.verbatim_at.is_some()))
            })
        };
        assert_eq!(v("k = 'a:{b}'\n"), Some(("a:{b}".into(), true)));
        assert_eq!(v("k = 'a\\n'\n"), Some(("a\n".into(), false)));
        assert_eq!(v("k = r'a\\n'\n"), Some(("a\\n".into(), true)));
        assert_eq!(v("k = 'a' \"b\"\n"), Some(("ab".into(), false)));
        assert_eq!(v("k = ''\n"), Some((String::new(), true)));
        assert_eq!(v("k = f'a{b}'\n"), None);
        assert_eq!(v("k = b'a'\n"), None);
        assert_eq!(v("k = name\n"), None);
    }

    #[test]
    fn ttls() {
        let t = |code: &str| with_value(code, ttl);
        assert_eq!(t("t = 60\n"), Ttl::Seconds(60.0));
        assert_eq!(t("t = 0.5\n"), Ttl::Seconds(0.5));
        assert_eq!(t("t = '1h'\n"), Ttl::Seconds(3600.0));
        assert_eq!(t("t = 60 * 60\n"), Ttl::Seconds(3600.0));
        assert_eq!(
            t("from datetime import timedelta\nt = timedelta(hours=1, minutes=1)\n"),
            Ttl::Seconds(3660.0)
        );
        assert_eq!(
            t("import datetime\nt = datetime.timedelta(1)\n"),
            Ttl::Seconds(86_400.0)
        );
        assert!(matches!(t("t = '5m30'\n"), Ttl::Malformed(m) if m.contains("silently drop")));
        assert_eq!(t("t = SETTINGS.ttl\n"), Ttl::Unknown);
        assert_eq!(t("t = timedelta(hours=1)\n"), Ttl::Unknown, "not imported");
        assert_eq!(t("t = '1h' * 2\n"), Ttl::Unknown);
        assert_eq!(show_seconds(3600.0), "1h");
        assert_eq!(show_seconds(0.5), "0.5s");
    }
}
