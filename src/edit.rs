//! Text edits: byte ranges replaced in one pass; the tree is never mutated.

use tree_sitter::{InputEdit, Point, Tree};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Edit {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) content: String,
}

impl Edit {
    pub(crate) fn insert(at: usize, content: impl Into<String>) -> Edit {
        Edit {
            start: at,
            end: at,
            content: content.into(),
        }
    }

    pub(crate) fn replace(start: usize, end: usize, content: impl Into<String>) -> Edit {
        Edit {
            start,
            end,
            content: content.into(),
        }
    }
}

/// Applies edits in one left-to-right splice. Identical edits count once
/// (two targets asking for the same import); insertions at one offset keep
/// the order they were given in; overlapping replacements are a bug.
pub(crate) fn apply(text: &str, edits: &[Edit]) -> Result<String, String> {
    let unique = normalize(edits);
    let mut out = String::with_capacity(text.len() + 256);
    let mut pos = 0;
    for e in unique {
        if e.start < pos || e.end > text.len() || e.start > e.end {
            return Err(format!(
                "overlapping or out-of-range edit at byte {}",
                e.start
            ));
        }
        if !text.is_char_boundary(e.start) || !text.is_char_boundary(e.end) {
            return Err(format!("edit at byte {} splits a character", e.start));
        }
        out.push_str(&text[pos..e.start]);
        out.push_str(&e.content);
        pos = e.end;
    }
    out.push_str(&text[pos..]);
    Ok(out)
}

/// The edits `apply` makes, in the order it makes them.
pub(crate) fn normalize(edits: &[Edit]) -> Vec<&Edit> {
    let mut unique: Vec<&Edit> = Vec::new();
    for e in edits {
        if !unique.contains(&e) {
            unique.push(e);
        }
    }
    unique.sort_by_key(|e| (e.start, e.end)); // stable: same-offset inserts keep their order
    unique
}

/// Re-parses the edited text reusing the old tree, so a rewrite of a large
/// file is not charged a second full parse. Edits are replayed last to
/// first, so each one is expressed in the original text's coordinates.
pub(crate) fn reparse(
    old_text: &str,
    old_tree: &Tree,
    edits: &[Edit],
    new_text: &str,
) -> Option<Tree> {
    // The old tree hides long comment runs (see `parse_tree_with`): the
    // edited text may hide others, so no subtree of it is reused.
    if !crate::source::long_comment_runs(old_text).is_empty() {
        return crate::source::parse_tree(new_text);
    }
    let lines: Vec<usize> = std::iter::once(0)
        .chain(old_text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let point = |byte: usize| {
        let row = lines.partition_point(|&start| start <= byte) - 1;
        Point {
            row,
            column: byte - lines[row],
        }
    };
    let mut tree = old_tree.clone();
    for e in normalize(edits).into_iter().rev() {
        let start_position = point(e.start);
        let new_end_position = match e.content.rfind('\n') {
            Some(i) => Point {
                row: start_position.row + e.content.matches('\n').count(),
                column: e.content.len() - i - 1,
            },
            None => Point {
                row: start_position.row,
                column: start_position.column + e.content.len(),
            },
        };
        tree.edit(&InputEdit {
            start_byte: e.start,
            old_end_byte: e.end,
            new_end_byte: e.start + e.content.len(),
            start_position,
            old_end_position: point(e.end),
            new_end_position,
        });
    }
    crate::source::parse_tree_with(new_text, Some(&tree))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_in_order_and_dedups() {
        let edits = [
            Edit::insert(4, "B"),
            Edit::insert(0, "A"),
            Edit::insert(4, "C"),
            Edit::insert(0, "A"),
        ];
        assert_eq!(apply("xxxxyy", &edits).unwrap(), "AxxxxBCyy");
    }

    #[test]
    fn incremental_reparse_matches_a_fresh_parse() {
        let old = "import os\n\nasync def f(x):\n    return x\n\nclass A:\n    async def g(self):\n        return 1\n";
        let tree = crate::source::parse_tree(old).unwrap();
        let edits = [
            Edit::insert(10, "from cashews import cache\n"),
            Edit::insert(11, "@cache(ttl=\"1h\", key=\"m:f:{x}\")\n"),
            Edit::insert(
                old.find("    async def g").unwrap(),
                "    @cache(ttl=\"1h\")\n",
            ),
        ];
        let new = apply(old, &edits).unwrap();
        let incremental = reparse(old, &tree, &edits, &new).unwrap();
        let fresh = crate::source::parse_tree(&new).unwrap();
        assert_eq!(
            incremental.root_node().to_sexp(),
            fresh.root_node().to_sexp()
        );
        assert!(!incremental.root_node().has_error());
    }

    #[test]
    fn replaces_and_refuses_overlap() {
        assert_eq!(
            apply("hello", &[Edit::replace(1, 3, "EE")]).unwrap(),
            "hEElo"
        );
        assert!(
            apply(
                "hello",
                &[Edit::replace(1, 3, "a"), Edit::replace(2, 4, "b")]
            )
            .is_err()
        );
        assert!(apply("hé", &[Edit::insert(2, "x")]).is_err());
    }
}
