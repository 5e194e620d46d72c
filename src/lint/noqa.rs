//! `# noqa` comments: bare (`# noqa`), with codes (`# noqa: CA101, CA104`),
//! or for the whole file on a line of its own (`# cashews-add: noqa`,
//! `# cashews-add: noqa: CA101`). As in ruff, `noqa` must end the word
//! (`# noqa-ish` is no directive), and a `# noqa:` whose list is empty or
//! names an unknown CA code silences nothing for it and is reported (CA001):
//! a typo never silences everything. Other tools' codes (`E501`) are theirs.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::sync::LazyLock;

use regex::Regex;

use crate::lint::rules::{Finding, Rule, ca001};
use crate::source::SourceFile;

/// Where a directive starts: `#`, then `noqa` or `cashews-add: noqa`.
static NOQA_START: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)#\s*(cashews-add\s*:\s*)?noqa").expect("static regex"));

/// One code of a list: letters then digits (`CA101`, `E501`).
static CODE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z]+[0-9]+").expect("static regex"));

/// What one directive silences.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    All,
    /// Codes, upper case (other tools' codes included).
    Codes(Vec<String>),
}

impl Scope {
    fn covers(&self, rule: Rule) -> bool {
        match self {
            Scope::All => true,
            Scope::Codes(codes) => codes.iter().any(|c| c == rule.code()),
        }
    }
}

/// A directive that silences less than it seems to: reported as CA001.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) line: usize,
    pub(crate) message: String,
}

/// The `# noqa` comments of one file.
pub(crate) struct Noqa {
    /// By 1-based line.
    lines: BTreeMap<usize, Scope>,
    /// `# cashews-add: noqa`, for the whole file.
    file: Vec<Scope>,
    pub(crate) invalid: Vec<Invalid>,
}

/// A directive parsed from the text after `noqa`.
struct Parsed {
    scope: Option<Scope>,
    /// Bytes of the directive after `noqa` (up to its last code).
    len: usize,
    unknown: Vec<String>,
}

/// The text after `noqa`: `: CODES`, or nothing / a blank / `#` (bare);
/// any other character means `noqa` was part of a longer word.
fn parse_rest(rest: &str) -> Option<Parsed> {
    let trimmed = rest.trim_start_matches([' ', '\t']);
    let Some(list) = trimmed.strip_prefix(':') else {
        let bare =
            rest.is_empty() || rest.starts_with(char::is_whitespace) || rest.starts_with('#');
        return bare.then_some(Parsed {
            scope: Some(Scope::All),
            len: 0,
            unknown: Vec::new(),
        });
    };
    let mut at = rest.len() - list.len();
    let mut end = at;
    let mut codes = Vec::new();
    loop {
        let skipped = rest[at..].trim_start_matches([' ', '\t', ',']);
        let Some(code) = CODE.find(skipped) else {
            break;
        };
        at = rest.len() - skipped.len() + code.end();
        end = at;
        codes.push(code.as_str().to_ascii_uppercase());
    }
    let unknown: Vec<String> = codes
        .iter()
        .filter(|c| c.starts_with("CA") && Rule::from_code(c).is_none())
        .cloned()
        .collect();
    Some(Parsed {
        scope: (!codes.is_empty()).then_some(Scope::Codes(codes)),
        len: end,
        unknown,
    })
}

impl Noqa {
    pub(crate) fn parse(text: &str) -> Noqa {
        let mut noqa = Noqa {
            lines: BTreeMap::new(),
            file: Vec::new(),
            invalid: Vec::new(),
        };
        let mut line = 1;
        let mut counted_to = 0;
        for m in NOQA_START.captures_iter(text) {
            let whole = m.get(0).expect("whole match");
            let at = whole.start();
            line += memchr::memchr_iter(b'\n', &text.as_bytes()[counted_to..at]).count();
            counted_to = at;
            let line_end = memchr::memchr(b'\n', &text.as_bytes()[whole.end()..])
                .map_or(text.len(), |i| whole.end() + i);
            let rest = text[whole.end()..line_end].trim_end_matches('\r');
            let Some(parsed) = parse_rest(rest) else {
                continue;
            };
            let end = whole.end() + parsed.len;
            let file_level = m.get(1).is_some();
            let report = |message: String| Invalid {
                start: at,
                end,
                line,
                message,
            };
            if file_level && !own_line(text, at) {
                noqa.invalid.push(report(ca001::not_on_own_line()));
                continue;
            }
            for code in &parsed.unknown {
                noqa.invalid.push(report(ca001::unknown_code(code)));
            }
            match parsed.scope {
                None => noqa.invalid.push(report(ca001::empty_list(file_level))),
                Some(scope) if file_level => noqa.file.push(scope),
                Some(scope) => {
                    noqa.lines.insert(line, scope);
                }
            }
        }
        noqa
    }

    /// Whether a comment on one of `lines`, or one for the file, silences `rule`.
    pub(crate) fn silences(&self, rule: Rule, lines: &RangeInclusive<usize>) -> bool {
        self.file.iter().any(|s| s.covers(rule))
            || self
                .lines
                .range(lines.clone())
                .any(|(_, scope)| scope.covers(rule))
    }

    /// The CA001 findings: directives that silence less than they seem to.
    pub(crate) fn invalid_findings(&self) -> Vec<Finding> {
        self.invalid
            .iter()
            .map(|i| Finding {
                rule: Rule::CA001,
                start: i.start,
                end: i.end,
                message: i.message.clone(),
                fix: None,
                noqa: i.line..=i.line,
            })
            .collect()
    }
}

/// Whether only blanks precede `at` on its line.
fn own_line(text: &str, at: usize) -> bool {
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    text[start..at].trim().is_empty()
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
        out = append_code(&out, line, &codes.join(", "));
    }
    (out, added)
}

/// `text` with `code` added to the `# noqa: ...` of a 1-based line, or a
/// new `# noqa: code` at its end.
pub(crate) fn append_code(text: &str, line: usize, code: &str) -> String {
    let starts = line_starts(text);
    if line == 0 || line > starts.len() {
        return text.to_string();
    }
    let (start, end) = line_span(text, &starts, line);
    let mut out = text.to_string();
    match existing_codes_end(&text[start..end]) {
        Some(at) => out.insert_str(start + at, &format!(", {code}")),
        None => {
            let at = start + text[start..end].trim_end().len();
            out.insert_str(at, &format!("  # noqa: {code}"));
        }
    }
    out
}

/// Where the code list of a line's `# noqa: CODES` ends, to extend it.
fn existing_codes_end(line: &str) -> Option<usize> {
    NOQA_START
        .captures_iter(line)
        .filter(|m| m.get(1).is_none())
        .find_map(|m| {
            let end = m.get(0).expect("whole match").end();
            let parsed = parse_rest(&line[end..])?;
            matches!(parsed.scope, Some(Scope::Codes(_))).then_some(end + parsed.len)
        })
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
            "a  # noqa\nb  # NOQA: ca101,CA104\nc  # noqa:E501\nd\ne  #noqa explained\nf  # noqa : CA202 because\n",
        );
        assert!(n.silences(Rule::CA202, &(1..=1)));
        assert!(n.silences(Rule::CA101, &(2..=2)));
        assert!(n.silences(Rule::CA104, &(2..=2)));
        assert!(!n.silences(Rule::CA102, &(2..=2)));
        assert!(!n.silences(Rule::CA101, &(3..=3)));
        assert!(!n.silences(Rule::CA101, &(4..=4)));
        assert!(!n.silences(Rule::CA101, &(3..=4)));
        assert!(n.silences(Rule::CA101, &(5..=5)), "bare: no colon");
        assert!(n.silences(Rule::CA202, &(6..=6)) && !n.silences(Rule::CA101, &(6..=6)));
        assert!(n.invalid.is_empty(), "{:?}", n.invalid);
    }

    #[test]
    fn noqa_must_end_the_word() {
        let n = Noqa::parse("a  # noqa-ish\nb  # noqa123\nc  # noqa_x: CA101\nd  #noqa#x\n");
        for line in 1..=3 {
            assert!(!n.silences(Rule::CA101, &(line..=line)), "line {line}");
        }
        assert!(n.silences(Rule::CA101, &(4..=4)));
        assert!(n.invalid.is_empty());
    }

    #[test]
    fn empty_lists_and_unknown_codes_silence_nothing_and_are_reported() {
        let text =
            "a  # noqa:\nb  # noqa: see the docs\nc  # noqa: CA999, CA101\nd  # noqa: CA11\n";
        let n = Noqa::parse(text);
        for line in [1, 2, 4] {
            assert!(!n.silences(Rule::CA202, &(line..=line)), "line {line}");
        }
        assert!(n.silences(Rule::CA101, &(3..=3)) && !n.silences(Rule::CA202, &(3..=3)));
        let found: Vec<(usize, &str)> = n
            .invalid
            .iter()
            .map(|i| (i.line, &text[i.start..i.end]))
            .collect();
        assert_eq!(
            found,
            [
                (1, "# noqa:"),
                (2, "# noqa:"),
                (3, "# noqa: CA999, CA101"),
                (4, "# noqa: CA11"),
            ]
        );
        assert!(
            n.invalid[2].message.contains("CA999"),
            "{}",
            n.invalid[2].message
        );
    }

    #[test]
    fn file_level() {
        let all = Noqa::parse("import x\n  # Cashews-Add: NOQA\n");
        assert!(all.silences(Rule::CA101, &(9..=9)) && all.silences(Rule::CA001, &(1..=1)));
        let some = Noqa::parse("# cashews-add: noqa: CA101, CA104\nx\n");
        assert!(some.silences(Rule::CA104, &(2..=2)) && !some.silences(Rule::CA202, &(2..=2)));
        let inline = Noqa::parse("x = 1  # cashews-add: noqa\n");
        assert!(!inline.silences(Rule::CA101, &(5..=5)) && !inline.silences(Rule::CA101, &(1..=1)));
        assert_eq!(inline.invalid.len(), 1);
        let empty = Noqa::parse("# cashews-add: noqa:\n");
        assert!(!empty.silences(Rule::CA101, &(1..=1)));
        assert_eq!(empty.invalid.len(), 1);
    }
}
