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

impl SourceFile {
    pub(crate) fn read(path: &Path) -> Result<SourceFile, BadInput> {
        let bytes = std::fs::read(path).map_err(|e| {
            BadInput(format!(
                "{}: cannot read: {}",
                path.display(),
                io_reason(&e)
            ))
        })?;
        SourceFile::parse(path, bytes)
    }

    pub(crate) fn parse(path: &Path, bytes: Vec<u8>) -> Result<SourceFile, BadInput> {
        let text = String::from_utf8(bytes).map_err(|e| {
            BadInput(format!(
                "{}: not UTF-8 (invalid byte at offset {}); cashews-add edits UTF-8 files only",
                path.display(),
                e.utf8_error().valid_up_to()
            ))
        })?;
        let (bom, text) = match text.strip_prefix(BOM) {
            Some(rest) => (true, rest.to_string()),
            None => (false, text),
        };
        check_encoding_declaration(path, &text)?;
        let tree = parse_tree(&text)
            .ok_or_else(|| BadInput(format!("{}: the parser gave up", path.display())))?;
        if let Some(node) = first_error(tree.root_node()) {
            let what = if node.is_missing() {
                format!("syntax error (missing `{}`)", node.kind())
            } else {
                "syntax error".to_string()
            };
            return Err(BadInput(format!(
                "{}:{}: {what}; fix the file before adding a cache",
                path.display(),
                node.start_position().row + 1
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
pub(crate) fn parse_tree_with(text: &str, old: Option<&Tree>) -> Option<Tree> {
    let mut parser = Parser::new();
    parser
        .set_language(&PYTHON)
        .expect("grammar ABI matches the runtime (tested)");
    parser.parse(text, old)
}

pub(crate) fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    }
}

/// The first ERROR or MISSING node, depth first.
pub(crate) fn first_error(root: Node) -> Option<Node> {
    if !root.has_error() {
        return None;
    }
    let mut cursor = root.walk();
    let mut stack = vec![root];
    while let Some(node) = stack.pop() {
        if node.is_error() || node.is_missing() {
            return Some(node);
        }
        if node.has_error() {
            let children: Vec<Node> = node.children(&mut cursor).collect();
            stack.extend(children.into_iter().rev());
        }
    }
    None
}

/// PEP 263: an encoding declaration on line 1 or 2. A file that declares a
/// non-UTF-8 encoding is only safe to edit when it is pure ASCII (then both
/// encodings agree byte for byte); otherwise refuse rather than re-encode.
fn check_encoding_declaration(path: &Path, text: &str) -> Result<(), BadInput> {
    let Some(encoding) = declared_encoding(text) else {
        return Ok(());
    };
    let normal = encoding.to_ascii_lowercase().replace('_', "-");
    if matches!(normal.as_str(), "utf-8" | "utf8" | "ascii" | "us-ascii")
        || normal.starts_with("utf-8-")
        || text.is_ascii()
    {
        return Ok(());
    }
    Err(BadInput(format!(
        "{}: declares encoding {encoding} and has non-ASCII text; cashews-add edits UTF-8 (or pure ASCII) files only: convert it to UTF-8 first",
        path.display()
    )))
}

pub(crate) fn declared_encoding(text: &str) -> Option<String> {
    for line in text.lines().take(2) {
        let line = line.trim_start();
        if !line.starts_with('#') {
            continue;
        }
        if let Some(pos) = line.find("coding") {
            let rest = &line[pos + 6..];
            let Some(rest) = rest.strip_prefix(':').or_else(|| rest.strip_prefix('=')) else {
                continue;
            };
            let name: String = rest
                .trim_start()
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
}
