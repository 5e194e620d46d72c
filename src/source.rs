//! Reading and parsing one Python file.

use std::path::{Path, PathBuf};

use tree_sitter::{Node, Parser, Tree};

use crate::queries::PYTHON;

/// Bad input: one line for the user, exit code 2, nothing written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadInput(pub(crate) String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone)]
pub(crate) struct SourceFile {
    /// The path as the user named it, for messages and diff headers.
    pub(crate) path: PathBuf,
    /// The text without a leading byte-order mark.
    pub(crate) text: String,
    /// Whether the file started with a UTF-8 BOM (written back as it was).
    pub(crate) bom: bool,
    pub(crate) tree: Tree,
}

const BOM: &str = "\u{feff}";

/// Deepest syntax tree read. Python 3.11 refuses to build an AST deeper
/// than about 3,000 levels, so no file it runs comes near; the bound keeps
/// every walk over the tree (and its parent lookups) cheap.
pub(crate) const MAX_DEPTH: usize = 10_000;

impl SourceFile {
    pub(crate) fn read(path: &Path) -> Result<SourceFile, BadInput> {
        let bytes = crate::file::read(path)
            .map_err(|e| BadInput(format!("{}: {}", path.display(), e.0)))?;
        SourceFile::parse(path, bytes)
    }

    pub(crate) fn parse(path: &Path, bytes: Vec<u8>) -> Result<SourceFile, BadInput> {
        let text = String::from_utf8(bytes).map_err(|e| {
            let declared = declared_encoding(&String::from_utf8_lossy(e.as_bytes()))
                .map(|enc| format!(" and declares encoding {enc}"))
                .unwrap_or_default();
            BadInput(format!(
                "{}: not UTF-8 (invalid byte at offset {}){declared}; cashews-add edits UTF-8 (or pure ASCII) files only: convert it to UTF-8 first",
                path.display(),
                e.utf8_error().valid_up_to()
            ))
        })?;
        let (bom, text) = match text.strip_prefix(BOM) {
            Some(rest) => (true, rest.to_string()),
            None => (false, text),
        };
        check_encoding_declaration(&text, bom)
            .map_err(|e| BadInput(format!("{}: {e}", path.display())))?;
        let tree = parse_tree(&text)
            .ok_or_else(|| BadInput(format!("{}: the parser gave up", path.display())))?;
        let (error, depth) = scan(&text, tree.root_node());
        if let Some(problem) = error {
            let what = problem.what;
            let hint = if has_lone_cr(&text) {
                " (its lines end in a bare CR, which the parser does not read as a line break: convert them to LF or CRLF)"
            } else {
                ""
            };
            return Err(BadInput(format!(
                "{}:{}: {what}; fix the file before adding a cache{hint}",
                path.display(),
                text[..problem.offset].matches('\n').count() + 1
            )));
        }
        if depth > MAX_DEPTH {
            return Err(BadInput(format!(
                "{}: its syntax tree nests {depth} levels deep (cashews-add reads up to {MAX_DEPTH}; Python's own parser stops near 3,000)",
                path.display()
            )));
        }
        Ok(SourceFile {
            path: path.to_path_buf(),
            text,
            bom,
            tree,
        })
    }

    pub(crate) fn text_of(&self, node: Node) -> &str {
        &self.text[node.byte_range()]
    }

    /// The whole file as it should be written back, BOM included.
    pub(crate) fn full_text(&self, text: &str) -> String {
        if self.bom {
            format!("{BOM}{text}")
        } else {
            text.to_string()
        }
    }
}

pub(crate) fn parse_tree(text: &str) -> Option<Tree> {
    parse_tree_with(text, None)
}

/// Parses `text`, reusing `old` (already edited to match) when given.
///
/// tree-sitter-python's scanner is quadratic on runs of comment lines: at
/// the end of each line it reads ahead over every comment line that follows
/// to find the next line's indentation (20,000 lines of `#` in a function
/// took 20 s). Comments mean nothing to Python, so long runs are parsed as
/// blank lines instead (same bytes, same offsets): the tree lacks those
/// comment nodes, which nothing but the syntax check (`first_error`, which
/// accepts comment lines between tokens) would look at.
pub(crate) fn parse_tree_with(text: &str, old: Option<&Tree>) -> Option<Tree> {
    let mut hidden = long_comment_runs(text);
    if hidden.is_empty() {
        return plain_parse(text, old);
    }
    // A "comment" line may really be string content: then it is parsed as
    // written (inside a string the scanner does not read ahead). A masked
    // quote may also have closed a string, which then runs on unterminated:
    // quoted lines after such a string start are shown again. A few rounds
    // settle it; the masks change nothing else.
    let mut tree = None;
    for _ in 0..4 {
        let masked = mask(text, &hidden);
        let parsed = plain_parse(&masked, None)?;
        let before = hidden.len();
        let (strings, dangling) = strings_of(&parsed);
        hidden.retain(|line| {
            // The strings do not overlap and are in order: the last one
            // starting before the line is the only one that may hold it.
            let at = strings.partition_point(|range| range.start <= line.start);
            let inside = at
                .checked_sub(1)
                .is_some_and(|i| line.end <= strings[i].end);
            let quoted = text[line.clone()].contains(['"', '\'']);
            let after_dangling = dangling.is_some_and(|d| d < line.start);
            !(inside || (quoted && after_dangling))
        });
        tree = Some(parsed);
        if hidden.len() == before {
            break;
        }
        if hidden.is_empty() {
            return plain_parse(text, None);
        }
    }
    tree
}

fn plain_parse(text: &str, old: Option<&Tree>) -> Option<Tree> {
    let mut parser = Parser::new();
    parser
        .set_language(&PYTHON)
        .expect("grammar ABI matches the runtime (tested)");
    parser.parse(text, old)
}

/// A run of comment lines costs the scanner about (lines × bytes) steps;
/// below this the run is parsed as it is (the usual case: real code keeps
/// its comment nodes).
const MASK_COST: usize = 1 << 20;

/// The comment-only lines (from `#` to the line break) of the runs that
/// would cost the scanner more than `MASK_COST`. Blank lines do not end a run.
pub(crate) fn long_comment_runs(text: &str) -> Vec<std::ops::Range<usize>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut run: Vec<std::ops::Range<usize>> = Vec::new();
    let mut run_start = 0;
    let mut flush = |run: &mut Vec<std::ops::Range<usize>>, run_start: usize, end: usize| {
        if run.len().saturating_mul(end - run_start) > MASK_COST {
            out.append(run);
        }
        run.clear();
    };
    let mut start = 0;
    while start < bytes.len() {
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i);
        let first = bytes[start..end]
            .iter()
            .position(|b| !matches!(b, b' ' | b'\t' | b'\x0c' | b'\r'));
        match first {
            Some(i) if bytes[start + i] == b'#' => {
                if run.is_empty() {
                    run_start = start;
                }
                run.push(start + i..end);
            }
            None => {}
            Some(_) => flush(&mut run, run_start, start),
        }
        start = end + 1;
    }
    flush(&mut run, run_start, bytes.len());
    out
}

/// `text` with the given ranges turned to spaces, CRs kept (a bare CR in a
/// comment is still found and refused).
fn mask(text: &str, ranges: &[std::ops::Range<usize>]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for range in ranges {
        for b in &mut bytes[range.clone()] {
            if *b != b'\r' {
                *b = b' ';
            }
        }
    }
    String::from_utf8(bytes).expect("only whole lines from `#` on turned to ASCII spaces")
}

/// The byte ranges of the strings of a tree, in order, and where the first
/// string that never ends (its start in an ERROR) starts.
fn strings_of(tree: &Tree) -> (Vec<std::ops::Range<usize>>, Option<usize>) {
    let mut strings = Vec::new();
    let mut dangling = None;
    let mut cursor = tree.walk();
    loop {
        let node = cursor.node();
        let string = node.kind() == "string";
        if string {
            strings.push(node.byte_range());
        } else if node.kind() == "string_start" && dangling.is_none() {
            dangling = Some(node.start_byte());
        }
        if !string && cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return (strings, dangling);
            }
        }
    }
}

pub(crate) fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    }
}

/// Where the file stops being Python, as tree-sitter would not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SyntaxProblem {
    /// Byte offset of the problem.
    pub(crate) offset: usize,
    /// What is wrong, in a few words.
    pub(crate) what: &'static str,
}

const SYNTAX_ERROR: &str = "syntax error";
/// CPython 3.11+ reads 99 nested indented blocks (tokenizer MAXINDENT) and
/// 200 nested brackets (MAXLEVEL); one more is a SyntaxError.
const MAX_INDENTS: usize = 99;
const MAX_BRACKETS: usize = 200;
const TOO_DEEP_INDENT: &str =
    "too many levels of indentation (Python's IndentationError: it reads 99 nested blocks)";
const TOO_MANY_BRACKETS: &str =
    "too many nested parentheses (Python's SyntaxError: it reads 200 nested brackets)";
const BARE_CR: &str = "a bare CR line ending, which Python reads as a line break and tree-sitter does not (convert the line endings to LF or CRLF)";
const MISALIGNED: &str = "an indentation that matches neither the statement above nor an outer block (Python: unexpected indent, or unindent does not match)";
const BACKSLASH_LINE: &str = "a line holding only `\\`, after which tree-sitter misreads the indentation (Python ignores the line: remove it)";

/// The first syntax problem, in document order: an ERROR or MISSING node;
/// a statement that shares a line with the one before it; or a character
/// between tokens that Python does not take as whitespace. tree-sitter is
/// more lenient than Python on the last two: `has_error()` misses some
/// MISSING nodes, and a MISSING newline (the one assumed in
/// `import os    class A:`, or at a lone `\r`) is a hidden node no API shows,
/// so its trace is checked instead; and tree-sitter skips `\u{feff}`,
/// `\u{200b}` and Unicode spaces between tokens (even a newline after
/// them), which Python rejects. One valid layout is refused too: a line
/// holding only a `\` continuation, after which tree-sitter-python loses
/// track of the indentation (it read a method below one as a module function).
pub(crate) fn first_error(text: &str, root: Node) -> Option<SyntaxProblem> {
    scan(text, root).0
}

/// `first_error` and the depth of the tree, in one iterative walk (no
/// recursion, whatever the nesting).
fn scan(text: &str, root: Node) -> (Option<SyntaxProblem>, usize) {
    let mut cursor = root.walk();
    let (mut depth, mut deepest) = (0usize, 0usize);
    // End of the last token seen: what lies between two tokens must be blank.
    let mut last_end = 0;
    // A misaligned statement is seen before the tokens that precede it: kept
    // until the scan ends, so that the first problem in the text is the one named.
    let mut stray: Option<SyntaxProblem> = None;
    let first =
        |problem: Option<SyntaxProblem>, stray: Option<SyntaxProblem>| match (problem, stray) {
            (Some(p), Some(s)) => Some(if s.offset < p.offset { s } else { p }),
            (p, s) => p.or(s),
        };
    let at = |offset, what| Some(SyntaxProblem { offset, what });
    // CPython's tokenizer limits: the depths of the indented blocks open
    // around the node, and of the brackets open before it.
    let mut indented: Vec<usize> = Vec::new();
    let mut brackets = 0usize;
    loop {
        let node = cursor.node();
        while indented.last().is_some_and(|&d| d >= depth) {
            indented.pop();
        }
        if node.kind() == "block" && alone_on_its_line(text, node.start_byte()) {
            indented.push(depth);
            if indented.len() > MAX_INDENTS {
                return (
                    first(at(node.start_byte(), TOO_DEEP_INDENT), stray),
                    deepest,
                );
            }
        }
        if (node.is_error() && !is_annotation_gap(text, node)) || node.is_missing() {
            let what = if node.is_missing() {
                "syntax error (missing token)"
            } else {
                SYNTAX_ERROR
            };
            return (first(at(node.start_byte(), what), stray), deepest);
        }
        if matches!(node.kind(), "module" | "block" | "decorated_definition")
            && let Some(second) = statement_on_same_line(text, node)
        {
            return (first(at(second.start_byte(), SYNTAX_ERROR), stray), deepest);
        }
        if let Some(node) = misaligned(text, root, node)
            && stray.is_none_or(|s| node.start_byte() < s.offset)
        {
            stray = at(node.start_byte(), MISALIGNED);
        }
        // A token: a leaf, or a whole string or comment (their insides are free text).
        let token = node.child_count() == 0
            || (matches!(node.kind(), "string" | "comment") && !node.has_error());
        if token {
            if let Some(problem) = gap_problem(text, last_end, node.start_byte()) {
                return (first(Some(problem), stray), deepest);
            }
            match node.kind() {
                "(" | "[" | "{" => brackets += 1,
                ")" | "]" | "}" => brackets = brackets.saturating_sub(1),
                _ => {}
            }
            if brackets > MAX_BRACKETS {
                return (
                    first(at(node.start_byte(), TOO_MANY_BRACKETS), stray),
                    deepest,
                );
            }
            if node.kind() == "line_continuation" && alone_on_its_line(text, node.start_byte()) {
                return (first(at(node.start_byte(), BACKSLASH_LINE), stray), deepest);
            }
            // In a comment or a one-line string Python ends the line at a bare
            // CR (an unterminated string); tree-sitter reads on.
            if (node.kind() == "comment"
                || (node.kind() == "string" && !is_triple_quoted(text, node)))
                && let Some(cr) = bare_cr(text, node.start_byte(), node.end_byte())
            {
                return (first(at(cr, BARE_CR), stray), deepest);
            }
            last_end = last_end.max(node.end_byte());
        }
        if !token && cursor.goto_first_child() {
            depth += 1;
            deepest = deepest.max(depth);
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return (
                    first(gap_problem(text, last_end, text.len()), stray),
                    deepest,
                );
            }
            depth -= 1;
        }
    }
}

/// The `(left, right)` of each assignment statement directly in a module
/// or block (`x = 1`, `model: type = User`), in order.
pub(crate) fn assignments(block: Node) -> Vec<(Node, Node)> {
    let mut cursor = block.walk();
    block
        .named_children(&mut cursor)
        .filter_map(|stmt| {
            let a = stmt.named_child(0).filter(|a| a.kind() == "assignment")?;
            Some((
                a.child_by_field_name("left")?,
                a.child_by_field_name("right")?,
            ))
        })
        .collect()
}

/// Every named node under `body` that belongs to its own scope: nested
/// functions, classes and lambdas left out.
pub(crate) fn own_scope_nodes(body: Node) -> Vec<Node> {
    let mut out = Vec::new();
    let mut stack = vec![body];
    while let Some(n) = stack.pop() {
        if matches!(
            n.kind(),
            "function_definition" | "class_definition" | "lambda"
        ) {
            continue;
        }
        out.push(n);
        let mut cursor = n.walk();
        stack.extend(n.named_children(&mut cursor));
    }
    out
}

/// What `for NAME in X:` walks, for the first such loop in `body` (nested
/// functions and classes aside): the loop variable is each item of `X`.
pub(crate) fn loop_over<'t>(src: &SourceFile, body: Node<'t>, name: &str) -> Option<Node<'t>> {
    own_scope_nodes(body).into_iter().find_map(|n| {
        let left = n
            .child_by_field_name("left")
            .filter(|_| n.kind() == "for_statement")?;
        (left.kind() == "identifier" && src.text_of(left) == name)
            .then(|| n.child_by_field_name("right"))?
    })
}

/// tree-sitter-python's one known gap in valid code: an annotation that is
/// a boolean expression starting with a generic type (`-> list["A"] or "A":`,
/// `labels: list[str] or None = None`; valid Python, meaningless as a type).
/// The grammar reads the generic type and cannot go on: an ERROR holds
/// either `list["A"] or` (the rest of the annotation follows as a type) or
/// `or X` (right after the generic type, or after the parameter it ends).
/// The tree around it is intact, so the file is read as Python reads it.
fn is_annotation_gap(text: &str, node: Node) -> bool {
    let kind = |n: Option<Node>| n.map(|n| n.kind()).unwrap_or_default();
    let generic = |n: Option<Node>| {
        n.filter(|t| t.kind() == "type")
            .and_then(|t| t.named_child(0))
            .is_some_and(|g| g.kind() == "generic_type")
    };
    let operator =
        |n: Option<Node>| n.is_some_and(|c| matches!(&text[c.byte_range()], "or" | "and"));
    let whole = |n: Option<Node>| n.is_some_and(|c| c.is_named() && !c.has_error());
    let prev = node.prev_sibling();
    // `b: list[int] or None,`: the ERROR follows the parameter the type ends.
    let prev_type = match kind(prev) {
        "typed_parameter" | "typed_default_parameter" => {
            prev.and_then(|p| p.child(p.child_count().checked_sub(1)?))
        }
        _ => prev,
    };
    let (first, second) = (node.child(0), node.child(1));
    let before_rest = generic(first) && operator(second) && kind(node.next_sibling()) == "type";
    let after_type = generic(prev_type) && operator(first) && whole(second);
    node.child_count() == 2 && (before_rest || after_type)
}

/// What is wrong with the text between two tokens, if anything. Python
/// allows spaces, tabs, form feeds, line breaks and `\` continuations there.
fn gap_problem(text: &str, start: usize, end: usize) -> Option<SyntaxProblem> {
    let gap = &text[start..end];
    if let Some(cr) = bare_cr(text, start, end) {
        return Some(SyntaxProblem {
            offset: cr,
            what: BARE_CR,
        });
    }
    let bad = |c: char| !matches!(c, ' ' | '\t' | '\x0c' | '\r' | '\n' | '\\');
    let mut from = 0;
    loop {
        let offset = start + from + gap[from..].find(bad)?;
        // A comment line the parser read as blank (see `parse_tree_with`).
        if text[offset..].starts_with('#') && alone_on_its_line(text, offset) {
            let rest = &gap[offset - start..];
            from = offset - start + rest.find(['\r', '\n']).unwrap_or(rest.len());
            continue;
        }
        return Some(SyntaxProblem {
            offset,
            what: SYNTAX_ERROR,
        });
    }
}

/// The offset of the first `\r` in `start..end` not followed by `\n`. The
/// `\n` may lie past `end`: a comment node holds the `\r` of its CRLF ending.
fn bare_cr(text: &str, start: usize, end: usize) -> Option<usize> {
    text[start..end]
        .match_indices('\r')
        .map(|(i, _)| start + i)
        .find(|&i| !text[i + 1..].starts_with('\n'))
}

/// A `"""` or `'''` string (any prefix), in which a line break is text.
fn is_triple_quoted(text: &str, string: Node) -> bool {
    string.child(0).is_some_and(|start| {
        let opening = &text[start.byte_range()];
        start.kind() == "string_start" && (opening.ends_with("\"\"\"") || opening.ends_with("'''"))
    })
}

/// Whether only blanks precede `offset` on its line.
fn alone_on_its_line(text: &str, offset: usize) -> bool {
    let line_start = text[..offset].rfind('\n').map_or(0, |n| n + 1);
    text[line_start..offset]
        .chars()
        .all(|c| matches!(c, ' ' | '\t' | '\x0c'))
}

/// The first statement of a module or block (or the definition below a
/// decorator) that follows the previous one
/// with neither a newline nor a `;` between them.
fn statement_on_same_line<'t>(text: &str, body: Node<'t>) -> Option<Node<'t>> {
    let mut cursor = body.walk();
    let mut previous: Option<Node> = None;
    for stmt in body
        .named_children(&mut cursor)
        .filter(|n| n.kind() != "comment")
    {
        if let Some(prev) = previous {
            match separation(&text[prev.end_byte()..stmt.start_byte()]) {
                Separation::Newline => {}
                // `x = 1; y = 2`, but never `import os; class A: ...`.
                Separation::Semicolon if !is_compound(stmt) => {}
                _ => return Some(stmt),
            }
        }
        previous = Some(stmt);
    }
    None
}

/// Compound statements whose clauses (`elif`, `else`, `except`, `finally`)
/// line up with them.
const WITH_CLAUSES: &[&str] = &[
    "if_statement",
    "for_statement",
    "while_statement",
    "try_statement",
];

/// A statement, decorator or clause that starts its line at another
/// indentation than the siblings it must line up with (at module level: any
/// indentation). Python refuses it ("unexpected indent", "unindent does not
/// match any outer indentation level"); tree-sitter reads on, and an edit
/// beside it could change which block the code belongs to.
fn misaligned<'t>(text: &str, root: Node, node: Node<'t>) -> Option<Node<'t>> {
    let mut cursor = node.walk();
    let aligned: Vec<Node> = match node.kind() {
        "module" | "block" | "decorated_definition" => node
            .named_children(&mut cursor)
            .filter(|n| n.kind() != "comment")
            .collect(),
        kind if WITH_CLAUSES.contains(&kind) => std::iter::once(node)
            .chain(
                node.named_children(&mut cursor)
                    .filter(|n| n.kind().ends_with("_clause")),
            )
            .collect(),
        _ => return None,
    };
    let mut expected = (node.kind() == "module").then_some((0, 0));
    for n in aligned {
        let Some(columns) = line_columns(text, root, n) else {
            continue;
        };
        match expected {
            None => expected = Some(columns),
            Some(e) if e != columns => return Some(n),
            Some(_) => {}
        }
    }
    None
}

/// The indentation columns of `node` when it starts a line (not a `\`
/// continuation line), counted as Python does: tabs to the next multiple
/// of 8 and, for its consistency check, as 1; a form feed resets.
fn line_columns(text: &str, root: Node, node: Node) -> Option<(usize, usize)> {
    let offset = node.start_byte();
    let line_start = text[..offset].rfind('\n').map_or(0, |n| n + 1);
    let before = text[..line_start].trim_end_matches(['\n', '\r']);
    // A `\` that ends a comment continues nothing (a comment line may have
    // been parsed as blank: see `parse_tree_with`).
    let previous_line = &before[before.rfind('\n').map_or(0, |i| i + 1)..];
    let continued = before.ends_with('\\')
        && !previous_line
            .trim_start_matches([' ', '\t', '\x0c'])
            .starts_with('#')
        && root
            .descendant_for_byte_range(before.len() - 1, before.len())
            .is_none_or(|n| n.kind() != "comment");
    if line_start > 0 && continued {
        return None;
    }
    let mut columns = (0, 0);
    for c in text[line_start..offset].chars() {
        columns = match c {
            ' ' => (columns.0 + 1, columns.1 + 1),
            '\t' => ((columns.0 / 8 + 1) * 8, columns.1 + 1),
            '\x0c' => (0, 0),
            _ => return None,
        };
    }
    Some(columns)
}

enum Separation {
    Newline,
    Semicolon,
    Nothing,
}

/// What the text between two statements holds: a newline (not one escaped
/// by `\\`; a comment always ends at one), else a `;`, else nothing.
fn separation(gap: &str) -> Separation {
    let mut semicolon = false;
    let mut chars = gap.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' | '#' => return Separation::Newline,
            ';' => semicolon = true,
            '\\' => {
                chars.next_if_eq(&'\r');
                chars.next_if_eq(&'\n');
            }
            _ => {}
        }
    }
    if semicolon {
        Separation::Semicolon
    } else {
        Separation::Nothing
    }
}

/// A statement with a block: it must start a line of its own.
fn is_compound(stmt: Node) -> bool {
    matches!(
        stmt.kind(),
        "function_definition"
            | "class_definition"
            | "decorated_definition"
            | "if_statement"
            | "for_statement"
            | "while_statement"
            | "try_statement"
            | "with_statement"
            | "match_statement"
    )
}

/// A `\r` not followed by `\n`: Python reads it as a line break, tree-sitter does not.
fn has_lone_cr(text: &str) -> bool {
    bare_cr(text, 0, text.len()).is_some()
}

/// PEP 263: an encoding declaration on line 1 or 2, checked as CPython
/// does: with a BOM it must name UTF-8 ("encoding problem: X with BOM");
/// otherwise it must name a codec Python knows ("unknown encoding"), that
/// is a text encoding. A file declaring another encoding is only safe to
/// edit when it is pure ASCII and the codec reads ASCII as ASCII (then both
/// agree byte for byte); otherwise refuse rather than re-encode.
pub(crate) fn check_encoding_declaration(text: &str, bom: bool) -> Result<(), String> {
    let Some(encoding) = declared_encoding(text) else {
        return Ok(());
    };
    let normal = python_normal_name(&encoding);
    if bom {
        return if normal == "utf-8" {
            Ok(())
        } else {
            Err(format!(
                "encoding problem: {normal} with BOM (Python refuses a BOM with any coding but utf-8)"
            ))
        };
    }
    let kind = match normal.as_str() {
        "utf-8" | "iso-8859-1" => "ascii",
        other => codec_kind(other)
            .ok_or_else(|| format!("unknown encoding: {encoding} (Python cannot read the file)"))?,
    };
    match kind {
        "binary" => Err(format!(
            "'{encoding}' is not a text encoding (Python cannot read the file)"
        )),
        _ if normal == "utf-8" => Ok(()),
        "ascii" if text.is_ascii() => Ok(()),
        "ascii" => Err(format!(
            "declares encoding {encoding} and has non-ASCII text; cashews-add edits UTF-8 (or pure ASCII) files only: convert it to UTF-8 first"
        )),
        _ => Err(format!(
            "declares encoding {encoding}, which does not read ASCII as ASCII; cashews-add edits UTF-8 (or pure ASCII) files only: convert it to UTF-8 first"
        )),
    }
}

/// CPython's tokenizer name for a declared encoding (`get_normal_name`):
/// its utf-8 and latin-1 spellings become `utf-8` and `iso-8859-1`, looking
/// at the first 12 characters, lower-cased, `_` as `-`.
fn python_normal_name(name: &str) -> String {
    let head: String = name
        .chars()
        .take(12)
        .map(|c| {
            if c == '_' {
                '-'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    let latin = ["latin-1", "iso-8859-1", "iso-latin-1"];
    if head == "utf-8" || head.starts_with("utf-8-") {
        "utf-8".to_string()
    } else if latin
        .iter()
        .any(|l| head == *l || head.starts_with(&format!("{l}-")))
    {
        "iso-8859-1".to_string()
    } else {
        name.to_string()
    }
}

/// What Python's codec registry says of a name: `ascii` (a text codec that
/// reads ASCII as ASCII), `other` (a text codec that does not) or `binary`
/// (not a text encoding); None when it knows no such codec. The table is
/// CPython's (scripts/python-codecs.py), looked up as `encodings` does.
fn codec_kind(name: &str) -> Option<&'static str> {
    static TABLE: &str = include_str!("../data/python_codecs.txt");
    // encodings.normalize_encoding: runs of other characters become one `_`.
    let mut norm = String::new();
    let mut gap = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '.' {
            if gap && !norm.is_empty() {
                norm.push('_');
            }
            norm.push(c.to_ascii_lowercase());
            gap = false;
        } else {
            gap = true;
        }
    }
    let find = |key: &str| {
        TABLE
            .lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| l.split_once(' ').filter(|(n, _)| *n == key))
            .map(|(_, kind)| kind)
    };
    find(&norm).or_else(|| find(&norm.replace('.', "_")))
}

/// The declared encoding: a comment on line 1, or on line 2 below a line 1
/// that is blank or a comment (PEP 263, as CPython reads it).
pub(crate) fn declared_encoding(text: &str) -> Option<String> {
    for (i, line) in text.lines().take(2).enumerate() {
        let line = line.trim_start_matches([' ', '\t', '\x0c']);
        if !line.starts_with('#') {
            if i == 0 && !line.trim().is_empty() {
                return None;
            }
            continue;
        }
        for (pos, _) in line.match_indices("coding") {
            let rest = &line[pos + 6..];
            let Some(rest) = rest.strip_prefix(':').or_else(|| rest.strip_prefix('=')) else {
                continue;
            };
            let name: String = rest
                .trim_start_matches([' ', '\t'])
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                .collect();
            if !name.is_empty() {
                return Some(name);
            }
        }
    }
    None
}

/// An identifier used as a value, not as an attribute name or keyword name.
pub(crate) fn is_load(ident: Node) -> bool {
    let Some(parent) = ident.parent() else {
        return true;
    };
    match parent.kind() {
        "attribute" => parent
            .child_by_field_name("object")
            .is_some_and(|o| o.id() == ident.id()),
        "keyword_argument" => parent
            .child_by_field_name("value")
            .is_some_and(|v| v.id() == ident.id()),
        _ => true,
    }
}

/// 1-based line of a node.
pub(crate) fn line_of(node: Node) -> usize {
    node.start_position().row + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &[u8]) -> Result<SourceFile, BadInput> {
        SourceFile::parse(Path::new("m.py"), text.to_vec())
    }

    #[test]
    fn syntax_error_names_the_line() {
        let err = parse(b"x = 1\ndef f(:\n    pass\n").err().unwrap();
        assert!(err.0.starts_with("m.py:2: "), "{err}");
    }

    #[test]
    fn a_boolean_return_annotation_is_valid_python() {
        let ok = "class A:\n    async def get(\n        self,\n    ) -> list[\"B\"] or \"B\":\n        return []\n";
        assert!(parse(ok.as_bytes()).is_ok());
        for text in [
            "def f() -> dict[str, int] and None:\n    pass\n",
            "def f() -> list[\"B\"] or list:\n    pass\n",
        ] {
            assert!(parse(text.as_bytes()).is_ok(), "{text}");
        }
        // Other errors next to an annotation are still errors.
        let bad = [
            "def f() -> list[\"B\"] or:\n    pass\n",
            "def f() -> list[int] xor B:\n    pass\n",
        ];
        for text in bad {
            assert!(parse(text.as_bytes()).is_err(), "{text}");
        }
    }

    #[test]
    fn non_utf8_is_refused() {
        let err = parse(b"x = '\xff'\n").err().unwrap();
        assert!(err.0.contains("not UTF-8"), "{err}");
    }

    #[test]
    fn bom_is_kept_apart() {
        let src = parse("\u{feff}async def f():\n    return 1\n".as_bytes()).unwrap();
        assert!(src.bom);
        assert!(src.text.starts_with("async"));
        assert!(src.full_text(&src.text).starts_with(BOM));
    }

    #[test]
    fn latin1_declaration_refused_only_with_non_ascii() {
        assert!(parse(b"# -*- coding: latin-1 -*-\nx = 1\n").is_ok());
        let err = parse("# -*- coding: latin-1 -*-\nx = 'é'\n".as_bytes())
            .err()
            .unwrap();
        assert!(err.0.contains("declares encoding latin-1"), "{err}");
        assert!(parse("# coding=utf-8\nx = 'é'\n".as_bytes()).is_ok());
    }

    #[test]
    fn missing_nodes_that_has_error_misses_are_syntax_errors() {
        // tree-sitter assumes a newline before `class`; Python does not.
        let err = parse(b"import os    class A:\n    pass\n").err().unwrap();
        assert!(err.0.contains("m.py:1: "), "{err}");
        assert!(parse(b"import os\nclass A:\n    pass\n").is_ok());
        assert!(parse(b"x = 1; y = 2\nz = 3 \\\n  + 1  # c\nw = 4\n").is_ok());
        assert!(parse(b"import os;   class A:\n    pass\n").is_err());
        assert!(parse(b"x = 1 \\\ny = 2\n").is_err());
        assert!(parse(b"@d\\\nclass A:\n    pass\n").is_err());
    }

    #[test]
    fn characters_python_does_not_take_as_blank_are_syntax_errors() {
        // tree-sitter reads `...\u{feff}\n@cache(...)` as one `... @ cache(...)` expression.
        let err = parse("x = 1\n...\u{feff}\n@d\nasync def f():\n    return 1\n".as_bytes())
            .err()
            .unwrap();
        assert!(err.0.starts_with("m.py:2: syntax error"), "{err}");
        for bad in [
            "x = 1\u{a0}\n",
            "x\u{200b} = 1\n",
            "x = 1\n\u{2028}",
            "x = 1 \x0b\n",
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
        // Inside strings and comments anything goes; form feeds and continuations are blank.
        let fine =
            "x = '\u{feff}\u{a0}'  # \u{200b}\n\x0cy = 1 + \\\n    2\nz = f'{x!r:\u{a0}>5}'\n";
        assert!(
            parse(fine.as_bytes()).is_ok(),
            "{:?}",
            parse(fine.as_bytes()).err()
        );
    }

    #[test]
    fn a_line_holding_only_a_backslash_is_refused() {
        // tree-sitter reads `put` here as a module function.
        let text = "class Repo:\n    \\\n    async def get(self):\n        return 1\n\n    async def put(self):\n        return 2\n";
        let err = parse(text.as_bytes()).err().unwrap();
        assert!(err.0.starts_with("m.py:2: a line holding only"), "{err}");
        assert!(parse(b"x = 1 + \\\n    2\n").is_ok());
    }

    #[test]
    fn misaligned_statements_are_refused_as_python_does() {
        let refused = [
            // An indented def at module level (tree-sitter reads it as one).
            "import os\n\n    def f():\n    return 1\n",
            // Unindent to no outer level.
            "def f():\n        x = 1\n    return x\n",
            "@dec\n  async def f():\n    return 1\n",
            "if x:\n    y = 1\n  else:\n    y = 2\n",
            // A `\\` that ends a comment continues nothing.
            "@traced\n# note \\\n    async def get(self):\n        return 1\n",
            "try:\n    y = 1\nexcept E:\n    y = 2\n finally:\n    pass\n",
            // The same column, but tabs and spaces disagree (Python: TabError).
            "if x:\n\ty = 1\n        z = 2\n",
        ];
        for text in refused {
            let err = parse(text.as_bytes()).err();
            assert!(
                err.as_ref().is_some_and(|e| e.0.contains("indentation")),
                "{text:?}: {err:?}"
            );
        }
        let fine = [
            // A form feed resets the column.
            "x = 1\n\x0cy = 2\n",
            "if x:\n    y = 1\n\x0c    z = 2\n",
            "class A:\n\tdef f(self):\n\t\treturn 1\n\n\t# note\n\tasync def g(self):\n\t\treturn 2\n",
            "if x:\n    y = 1\n# a comment anywhere\nelse:\n    y = 2\n",
        ];
        for text in fine {
            assert!(
                parse(text.as_bytes()).is_ok(),
                "{text:?}: {:?}",
                parse(text.as_bytes()).err()
            );
        }
    }

    #[test]
    fn a_bare_cr_between_tokens_or_in_a_comment_is_refused() {
        // Python reads an empty line then `    \`; tree-sitter one line `\r    \`.
        let text = "class Repo:\n\r    \\\n    async def get(self):\n        return 1\n";
        let err = parse(text.as_bytes()).err().unwrap();
        assert!(err.0.starts_with("m.py:2: a bare CR"), "{err}");
        // Python ends the comment at the CR: `y = 2` is code to it.
        let err = parse(b"x = 1  # note\ry = 2\n").err().unwrap();
        assert!(err.0.contains("a bare CR"), "{err}");
        // In a triple-quoted string both read it as text; in a one-line
        // string Python ends the line there (unterminated string).
        assert!(parse(b"x = \"\"\"a\rb\"\"\"\r\n").is_ok());
        assert!(parse(b"x = rb'''a\rb'''\n").is_ok());
        let err = parse(b"x = \"red\rs://\"\ny = 1\n").err().unwrap();
        assert!(err.0.contains("a bare CR"), "{err}");
        let err = parse(b"x = f\"{y}\r\"\n").err().unwrap();
        assert!(err.0.contains("a bare CR"), "{err}");
        // The CR of a CRLF ending belongs to the comment node: not bare.
        assert!(parse(b"x = 1  # note\r\ny = 2\r\n").is_ok());
    }

    #[test]
    fn bare_cr_line_endings_are_named() {
        let err = parse(b"import os\rasync def f():\r    return 1\r")
            .err()
            .unwrap();
        assert!(err.0.contains("bare CR"), "{err}");
    }

    #[test]
    fn declared_latin1_that_is_not_utf8_says_so() {
        let err = parse(b"# -*- coding: latin-1 -*-\nx = '\xe9'\n")
            .err()
            .unwrap();
        assert!(err.0.contains("not UTF-8"), "{err}");
        assert!(err.0.contains("declares encoding latin-1"), "{err}");
    }

    #[test]
    fn nesting_beyond_the_limit_is_bad_input_not_a_crash() {
        let deep = format!("x = {}1\n", "-".repeat(MAX_DEPTH + 10));
        let err = parse(deep.as_bytes()).err().unwrap();
        assert!(err.0.contains("levels deep"), "{err}");
        let fine = format!("x = {}1\n", "-".repeat(2000));
        assert!(parse(fine.as_bytes()).is_ok());
    }
}

#[cfg(test)]
mod comment_run_tests {
    use super::*;

    fn parse(text: &str) -> Result<SourceFile, BadInput> {
        SourceFile::parse(Path::new("m.py"), text.as_bytes().to_vec())
    }

    #[test]
    fn long_comment_runs_parse_in_linear_time() {
        // Unmasked, 40,000 comment lines in a function took minutes.
        let text = format!(
            "async def f(x):\n    y = x\n{}    return y\n",
            "    # note\n".repeat(40_000)
        );
        assert!(!long_comment_runs(&text).is_empty());
        let started = std::time::Instant::now();
        let src = parse(&text).unwrap();
        assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
        let f = src.tree.root_node().child(0).unwrap();
        assert_eq!(f.kind(), "function_definition");
        assert!(src.text[f.byte_range()].ends_with("return y"));
        // A short run keeps its comment nodes.
        assert!(long_comment_runs("x = 1\n# a\n# b\ny = 2\n").is_empty());
    }

    #[test]
    fn comment_like_lines_inside_strings_stay_string_content() {
        let text = format!(
            "async def f(x):\n    s = \"\"\"\n{}# end \"\"\"\n    return s\n",
            "# a \" quote\n".repeat(2000)
        );
        let src = parse(&text).unwrap();
        let sexp = src.tree.root_node().to_sexp();
        assert!(sexp.contains("return_statement"), "{}", &sexp[..300]);
        let single = format!("x = '''\n{}'''\ny = 1\n", "# '\n".repeat(3000));
        assert!(parse(&single).is_ok());
    }

    #[test]
    fn python_errors_after_a_long_run_are_still_found() {
        let run = "    # note \\\n".repeat(3000);
        // A `\` ending a comment continues nothing: `  y` is misaligned.
        let err = parse(&format!("def f():\n    x = 1\n{run}  y = 2\n"))
            .err()
            .unwrap();
        assert!(err.0.contains("indentation"), "{err}");
        let err = parse(&format!("def f():\n    x = 1\n{run}    y = (\n"))
            .err()
            .unwrap();
        assert!(err.0.contains("syntax error"), "{err}");
        // Python ends a comment at a bare CR: what follows is code.
        let err = parse(&format!("x = 1\n{run}# c\ry = 2\n")).err().unwrap();
        assert!(err.0.contains("bare CR"), "{err}");
        assert!(parse(&format!("def f():\n    x = 1\n{run}    return x\n")).is_ok());
    }
}
