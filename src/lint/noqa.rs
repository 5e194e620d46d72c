//! `# noqa` comments: bare, or with codes (`# noqa: CA101, CA104`).

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::sync::LazyLock;

use regex::Regex;

use crate::lint::rules::{Finding, Rule};
use crate::source::SourceFile;

static NOQA: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)#\s*noqa(?:\s*:\s*([a-z]+[0-9]+(?:\s*,\s*[a-z]+[0-9]+)*))?")
        .expect("static regex")
});

/// The `# noqa` comments of one file, by 1-based line.
pub(crate) struct Noqa {
    /// None for a bare `# noqa`, else the codes it names (upper case).
    lines: BTreeMap<usize, Option<Vec<String>>>,
}

impl Noqa {
    pub(crate) fn parse(text: &str) -> Noqa {
        let mut lines = BTreeMap::new();
        let mut line = 1;
        let mut counted_to = 0;
        for m in NOQA.captures_iter(text) {
            let at = m.get(0).expect("whole match").start();
            line += memchr::memchr_iter(b'\n', &text.as_bytes()[counted_to..at]).count();
            counted_to = at;
            let codes = m.get(1).map(|codes| {
                codes
                    .as_str()
                    .split(',')
                    .map(|c| c.trim().to_ascii_uppercase())
                    .collect()
            });
            lines.insert(line, codes);
        }
        Noqa { lines }
    }

    /// Whether a comment on one of `lines` silences `rule`.
    pub(crate) fn silences(&self, rule: Rule, lines: &RangeInclusive<usize>) -> bool {
        self.lines
            .range(lines.clone())
            .any(|(_, codes)| match codes {
                None => true,
                Some(codes) => codes.iter().any(|c| c == rule.code()),
            })
    }
}

/// `--add-noqa`: the text with a `# noqa: CODE` comment for every finding,
/// and how many findings they silence. The comment goes where it silences
/// the finding: the finding's own line when a comment there counts, else
/// the first line that counts (the decorator's). A line that already has
/// `# noqa: ...` gets the codes appended (ruff's habit); a line ending
/// inside a string or with a `\` continuation takes no comment.
pub(crate) fn add_comments(src: &SourceFile, findings: &[Finding]) -> (String, usize) {
    let text = &src.text;
    let starts = line_starts(text);
    let mut by_line: BTreeMap<usize, Vec<&'static str>> = BTreeMap::new();
    let mut added = 0;
    for f in findings {
        let own = starts.partition_point(|s| *s <= f.start);
        let candidates = std::iter::once(own)
            .filter(|l| f.noqa.contains(l))
            .chain(f.noqa.clone());
        let Some(line) = candidates
            .into_iter()
            .find(|l| takes_comment(src, &starts, *l))
        else {
            continue;
        };
        let codes = by_line.entry(line).or_default();
        if !codes.contains(&f.rule.code()) {
            codes.push(f.rule.code());
        }
        added += 1;
    }
    let mut out = text.clone();
    // From the last line up, so earlier offsets stay valid.
    for (line, mut codes) in by_line.into_iter().rev() {
        codes.sort();
        let (start, end) = line_span(text, &starts, line);
        let existing = NOQA
            .captures(&text[start..end])
            .and_then(|c| c.get(1))
            .map(|m| start + m.end());
        match existing {
            Some(at) => out.insert_str(at, &format!(", {}", codes.join(", "))),
            None => {
                let at = start + text[start..end].trim_end().len();
                out.insert_str(at, &format!("  # noqa: {}", codes.join(", ")));
            }
        }
    }
    (out, added)
}

fn line_starts(text: &str) -> Vec<usize> {
    let mut starts = vec![0];
    starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1));
    starts
}

/// A 1-based line's byte span, without its line break.
fn line_span(text: &str, starts: &[usize], line: usize) -> (usize, usize) {
    let start = starts[line - 1];
    let end = starts.get(line).map_or(text.len(), |next| next - 1);
    let end = if text[..end].ends_with('\r') && end > start {
        end - 1
    } else {
        end
    };
    (start, end)
}

/// Whether a comment appended to `line` is a comment: the line holds code,
/// does not end with `\`, and does not end inside a string.
fn takes_comment(src: &SourceFile, starts: &[usize], line: usize) -> bool {
    if line == 0 || line > starts.len() {
        return false;
    }
    let (start, end) = line_span(&src.text, starts, line);
    let body = src.text[start..end].trim_end();
    if body.trim().is_empty() || body.ends_with('\\') {
        return false;
    }
    let last = start + body.len() - 1;
    let mut node = src
        .tree
        .root_node()
        .descendant_for_byte_range(last, last + 1);
    while let Some(n) = node {
        if n.kind() == "string" && n.end_byte() > last + 1 {
            return false;
        }
        node = n.parent();
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_and_coded() {
        let n = Noqa::parse(
            "a  # noqa\nb  # NOQA: ca101,CA104\nc  # noqa:E501\nd\ne  #noqa: see the docs\n",
        );
        assert!(n.silences(Rule::CA202, &(1..=1)));
        assert!(n.silences(Rule::CA101, &(2..=2)));
        assert!(n.silences(Rule::CA104, &(2..=2)));
        assert!(!n.silences(Rule::CA102, &(2..=2)));
        assert!(!n.silences(Rule::CA101, &(3..=3)));
        assert!(!n.silences(Rule::CA101, &(4..=4)));
        assert!(!n.silences(Rule::CA101, &(3..=4)));
        assert!(
            n.silences(Rule::CA101, &(5..=5)),
            "bare: the text names no code"
        );
    }
}
