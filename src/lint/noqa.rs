//! `# noqa` comments: bare, or with codes (`# noqa: CA101, CA104`).

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::sync::LazyLock;

use regex::Regex;

use crate::lint::rules::Rule;

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
