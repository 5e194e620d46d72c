//! Text edits: byte ranges replaced in one pass; the tree is never mutated.

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
    let mut unique: Vec<&Edit> = Vec::new();
    for e in edits {
        if !unique.contains(&e) {
            unique.push(e);
        }
    }
    unique.sort_by_key(|e| (e.start, e.end)); // stable: same-offset inserts keep their order
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
