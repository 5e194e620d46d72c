//! A name merged into an existing `from M import …` statement the way
//! ruff's isort and ruff-format write one: in sorted position; a line of
//! its own in a parenthesised one-name-a-line block; and when the merged
//! line would pass the line length, the statement wrapped one name a line
//! with a trailing comma (which also keeps either tool from joining it).

use tree_sitter::Node;

use super::{comments_above, line_end, neighbour_line_ending, split_alias};
use crate::edit::Edit;
use crate::isort::{ImportLine, SortKey, Style};
use crate::source::SourceFile;
use crate::wrap::{indent_unit, line_width};

/// The edit adding `name` to `stmt`, a `from module import …` statement.
pub(super) fn merge(
    src: &SourceFile,
    stmt: Node,
    module: &str,
    name: &str,
    style: &Style,
) -> Option<Edit> {
    let names = names_of(stmt);
    if names.is_empty() {
        return None;
    }
    let new_key = style.key(&ImportLine::from(module, name, None));
    let pos = names
        .iter()
        .position(|n| member_key(src, *n, module, style) > new_key)
        .unwrap_or(names.len());
    if one_per_line(src, stmt, &names) {
        return Some(own_line(src, stmt, &names, pos, name));
    }
    let inline = inline(&names, pos, name);
    // Comments inside the statement would be lost to a rewrite of it.
    if fits(&src.text, &inline, style.line_length) || has_comment(stmt) {
        return Some(inline);
    }
    Some(wrapped(src, stmt, &names, pos, name))
}

fn names_of(stmt: Node) -> Vec<Node> {
    stmt.children_by_field_name("name", &mut stmt.walk())
        .collect()
}

/// A name's place in ruff's order (`order-by-type`: constants, classes, the rest).
fn member_key(src: &SourceFile, node: Node, module: &str, style: &Style) -> SortKey {
    let (path, alias) = split_alias(src, node);
    style.key(&ImportLine::from(module, &path, alias.as_deref()))
}

fn token<'t>(stmt: Node<'t>, kind: &str) -> Option<Node<'t>> {
    let mut cursor = stmt.walk();
    stmt.children(&mut cursor).find(|c| c.kind() == kind)
}

/// `from m import (\n    a,\n    b,\n)`: parenthesised, each name first on
/// a row of its own, apart from both parentheses.
fn one_per_line(src: &SourceFile, stmt: Node, names: &[Node]) -> bool {
    let (Some(open), Some(close)) = (token(stmt, "("), token(stmt, ")")) else {
        return false;
    };
    let rows: Vec<usize> = names.iter().map(|n| n.start_position().row).collect();
    let first_on_row = |n: &Node| {
        let start = n.start_byte();
        let line_start = src.text[..start].rfind('\n').map_or(0, |i| i + 1);
        src.text[line_start..start].trim().is_empty()
    };
    rows.windows(2).all(|w| w[0] < w[1])
        && rows[0] > open.start_position().row
        && close.start_position().row > names[names.len() - 1].end_position().row
        && names.iter().all(first_on_row)
}

/// `    name,` on a line of its own: above the name it sorts before (and
/// the comments above that name), else below the last one, which gains a
/// comma when it has none.
fn own_line(src: &SourceFile, stmt: Node, names: &[Node], pos: usize, name: &str) -> Edit {
    let text = &src.text;
    let anchor = names.get(pos).unwrap_or(&names[names.len() - 1]);
    let line_start = text[..anchor.start_byte()].rfind('\n').map_or(0, |i| i + 1);
    let indent = &text[line_start..anchor.start_byte()];
    if pos < names.len() {
        let floor = match pos {
            0 => token(stmt, "(").map_or(line_start, |p| line_end(text, p.end_byte())),
            _ => line_end(text, names[pos - 1].end_byte()),
        };
        let at = comments_above(text, line_start, floor);
        let eol = neighbour_line_ending(text, at);
        return Edit::insert(at, format!("{indent}{name},{eol}"));
    }
    let comma = anchor.next_sibling().filter(|s| s.kind() == ",");
    let after = comma.map_or(anchor.end_byte(), |c| c.end_byte());
    let at = line_end(text, after);
    let eol = neighbour_line_ending(text, at);
    let line = format!("{indent}{name},{eol}");
    match comma {
        Some(_) => Edit::insert(at, line),
        // `c  # note` -> `c,  # note` and the new line below it.
        None => Edit::replace(after, at, format!(",{}{line}", &text[after..at])),
    }
}

/// `, name` after the name before it, or `name, ` before the first.
fn inline(names: &[Node], pos: usize, name: &str) -> Edit {
    match pos {
        0 => Edit::insert(names[0].start_byte(), format!("{name}, ")),
        _ => Edit::insert(names[pos - 1].end_byte(), format!(", {name}")),
    }
}

/// Whether the line the insertion lands on stays within the line length.
fn fits(text: &str, edit: &Edit, width: usize) -> bool {
    let start = text[..edit.start].rfind('\n').map_or(0, |i| i + 1);
    let end = text[edit.start..]
        .find('\n')
        .map_or(text.len(), |i| edit.start + i);
    let line = format!(
        "{}{}{}",
        &text[start..edit.start],
        edit.content,
        &text[edit.start..end]
    );
    line_width(line.trim_end_matches('\r')) <= width
}

fn has_comment(node: Node) -> bool {
    let mut cursor = node.walk();
    node.children(&mut cursor)
        .any(|c| c.kind() == "comment" || has_comment(c))
}

/// The statement as ruff-format wraps a long one: `from m import (`, a
/// name a line indented one level, each with a comma, `)`.
fn wrapped(src: &SourceFile, stmt: Node, names: &[Node], pos: usize, name: &str) -> Edit {
    let text = &src.text;
    let line_start = text[..stmt.start_byte()].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..stmt.start_byte()];
    let indent = if before.trim().is_empty() { before } else { "" };
    let inner = format!("{indent}{}", indent_unit(text));
    let eol = neighbour_line_ending(text, line_start);
    let module = stmt
        .child_by_field_name("module_name")
        .map_or("", |m| src.text_of(m));
    let mut items: Vec<&str> = names.iter().map(|n| src.text_of(*n)).collect();
    items.insert(pos, name);
    let mut out = format!("from {module} import ({eol}");
    for item in items {
        out.push_str(&format!("{inner}{item},{eol}"));
    }
    out.push_str(&format!("{indent})"));
    Edit::replace(stmt.start_byte(), stmt.end_byte(), out)
}
