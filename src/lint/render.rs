//! Lint output: text, JSON, GitHub Actions annotations, SARIF 2.1.0.

use std::io::Write;
use std::path::Path;

use serde_json::json;

use crate::lint::rules::Rule;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LintFormat {
    /// `path:line:col: CODE message`
    Text,
    /// `{"findings": [{"path", "line", "column", "code", "severity", "message"}], "errors": [{"path", "line", "column", "message"}]}`
    Json,
    /// GitHub Actions `::error` workflow commands
    Github,
    /// SARIF 2.1.0 for GitHub code scanning
    Sarif,
}

/// A finding ready to print: 1-based lines and character columns.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Located {
    /// Relative to the current folder when below it, `/`-separated.
    pub(crate) path: String,
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) rule: Rule,
    pub(crate) end_line: usize,
    pub(crate) end_column: usize,
    pub(crate) message: String,
    pub(crate) fixable: bool,
}

/// A file that could not be linted (unreadable, not UTF-8, does not parse).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct FileError {
    pub(crate) path: String,
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) message: String,
}

pub(crate) struct Report {
    pub(crate) findings: Vec<Located>,
    pub(crate) errors: Vec<FileError>,
    pub(crate) fixed: usize,
    /// Where SARIF paths are relative to (the repository root).
    pub(crate) root: std::path::PathBuf,
    /// No Python file was found under the paths given.
    pub(crate) no_files: bool,
}

/// How the report is printed, beside its format.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Style {
    /// Counts per rule instead of the findings (`--statistics`).
    pub(crate) statistics: bool,
    /// The findings and nothing else (`--quiet`).
    pub(crate) quiet: bool,
    /// Fixes that change a key count as fixable (`--unsafe-fixes`).
    pub(crate) unsafe_fixes: bool,
    /// ANSI colour in the text format.
    pub(crate) colour: bool,
}

const SEVERITY: &str = "error";

pub(crate) fn render(
    format: LintFormat,
    style: &Style,
    report: &Report,
    out: &mut dyn Write,
    err: &mut dyn Write,
) {
    if style.statistics {
        statistics(format, style, report, out);
        errors_text(&report.errors, err);
        if !style.quiet {
            summary(style, report, err);
        }
        return;
    }
    match format {
        LintFormat::Text => {
            for f in &report.findings {
                let line = text_line(f);
                let _ = if style.colour {
                    writeln!(out, "{line}")
                } else {
                    writeln!(out, "{}", anstream::adapter::strip_str(&line))
                };
            }
            errors_text(&report.errors, err);
        }
        LintFormat::Json => {
            let doc = json_doc(report);
            let _ = writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&doc).expect("plain data serialises")
            );
            errors_text(&report.errors, err);
        }
        LintFormat::Github => github(report, out),
        LintFormat::Sarif => {
            let doc = sarif(report);
            let _ = writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&doc).expect("plain data serialises")
            );
            errors_text(&report.errors, err);
        }
    }
    if !style.quiet && matches!(format, LintFormat::Text | LintFormat::Github) {
        summary(style, report, err);
    } else if !style.quiet && report.no_files {
        no_files(err);
    }
}

/// `path:line:col: CODE message`, styled as ruff does (stripped without colour).
fn text_line(f: &Located) -> String {
    let bold = anstyle::Style::new().bold();
    let cyan = anstyle::AnsiColor::Cyan.on_default();
    let code = anstyle::AnsiColor::Red.on_default().bold();
    format!(
        "{bold}{}{bold:#}{cyan}:{cyan:#}{}{cyan}:{cyan:#}{}{cyan}:{cyan:#} {code}{}{code:#} {}",
        f.path,
        f.line,
        f.column,
        f.rule.code(),
        f.message
    )
}

fn json_doc(report: &Report) -> serde_json::Value {
    let findings: Vec<_> = report
        .findings
        .iter()
        .map(|f| {
            json!({
                "path": f.path,
                "line": f.line,
                "column": f.column,
                "code": f.rule.code(),
                "severity": SEVERITY,
                "message": f.message,
            })
        })
        .collect();
    let errors: Vec<_> = report
        .errors
        .iter()
        .map(|e| {
            json!({
                "path": e.path,
                "line": e.line,
                "column": e.column,
                "message": e.message,
            })
        })
        .collect();
    json!({ "findings": findings, "errors": errors })
}

fn github(report: &Report, out: &mut dyn Write) {
    for f in &report.findings {
        let _ = writeln!(
            out,
            "::error title={},file={},line={},col={},endLine={},endColumn={}::{}",
            property(&format!("cashews-add ({})", f.rule.code())),
            property(&f.path),
            f.line,
            f.column,
            f.end_line,
            f.end_column,
            data(&format!(
                "{}:{}:{}: {} {}",
                f.path,
                f.line,
                f.column,
                f.rule.code(),
                f.message
            ))
        );
    }
    for e in &report.errors {
        if e.path.is_empty() {
            let _ = writeln!(out, "::error title=cashews-add::{}", data(&e.message));
            continue;
        }
        let _ = writeln!(
            out,
            "::error title={},file={},line={},col={}::{}",
            property("cashews-add"),
            property(&e.path),
            e.line,
            e.column,
            data(&format!(
                "{}:{}:{}: {}",
                e.path, e.line, e.column, e.message
            ))
        );
    }
}

/// Whether a finding's fix applies in this run's mode.
fn fix_applies(f: &Located, style: &Style) -> bool {
    f.fixable && (style.unsafe_fixes || f.rule.fix_is_safe())
}

/// `--statistics`: one line per rule, most frequent first, as ruff prints
/// them (`count  code  [*] name`, `[*]` when --fix repairs them); a JSON
/// list in the JSON format.
fn statistics(format: LintFormat, style: &Style, report: &Report, out: &mut dyn Write) {
    let mut counts: Vec<(Rule, usize, bool)> = Vec::new();
    for f in &report.findings {
        match counts.iter_mut().find(|(r, ..)| *r == f.rule) {
            Some((_, n, fixable)) => {
                *n += 1;
                *fixable |= fix_applies(f, style);
            }
            None => counts.push((f.rule, 1, fix_applies(f, style))),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    if format == LintFormat::Json {
        let rows: Vec<_> = counts
            .iter()
            .map(|(r, n, fixable)| {
                json!({"code": r.code(), "name": r.name(), "count": n, "fixable": fixable})
            })
            .collect();
        let doc = serde_json::Value::Array(rows);
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&doc).expect("plain data serialises")
        );
        return;
    }
    let width = counts
        .iter()
        .map(|c| c.1.to_string().len())
        .max()
        .unwrap_or(1);
    for (rule, n, fixable) in counts {
        let mark = if fixable { "[*]" } else { "[ ]" };
        let _ = writeln!(out, "{n:>width$}\t{}\t{mark} {}", rule.code(), rule.name());
    }
}

pub(crate) fn errors_text(errors: &[FileError], err: &mut dyn Write) {
    for e in errors {
        if e.path.is_empty() {
            let _ = writeln!(err, "error: {}", e.message);
            continue;
        }
        let _ = writeln!(
            err,
            "error: {}:{}:{}: {}",
            e.path, e.line, e.column, e.message
        );
    }
}

fn no_files(err: &mut dyn Write) {
    let _ = writeln!(
        err,
        "warning: No Python files found under the given path(s)."
    );
}

fn summary(style: &Style, report: &Report, err: &mut dyn Write) {
    if report.fixed > 0 {
        let _ = writeln!(err, "Fixed {} finding(s).", report.fixed);
    }
    let n = report.findings.len();
    if n == 0 && report.errors.is_empty() {
        if report.no_files {
            no_files(err);
        } else {
            let _ = writeln!(err, "All checks passed.");
        }
        return;
    }
    let fixable = report
        .findings
        .iter()
        .filter(|f| fix_applies(f, style))
        .count();
    let hidden = report.findings.iter().filter(|f| f.fixable).count() - fixable;
    let files = {
        let mut paths: Vec<&str> = report.findings.iter().map(|f| f.path.as_str()).collect();
        paths.dedup();
        paths.len()
    };
    let mut line = format!("Found {n} finding(s) in {files} file(s)");
    let flag = if style.unsafe_fixes {
        "--fix --unsafe-fixes"
    } else {
        "--fix"
    };
    match (fixable, hidden) {
        (0, 0) => {}
        (0, h) => line.push_str(&format!(
            " ({h} fixable with --fix --unsafe-fixes: those fixes change a cache key)"
        )),
        (k, 0) => line.push_str(&format!(" ({k} fixable with {flag})")),
        (k, h) => line.push_str(&format!(
            " ({k} fixable with --fix, {h} more with --unsafe-fixes: those fixes change a cache key)"
        )),
    }
    if !report.errors.is_empty() {
        line.push_str(&format!(
            "; {} file(s) could not be linted",
            report.errors.len()
        ));
    }
    let _ = writeln!(err, "{line}.");
}

/// A workflow command's message: `%`, CR and LF escaped (actions/toolkit).
pub(crate) fn data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: as `data`, plus `:` and `,`.
pub(crate) fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

fn sarif(report: &Report) -> serde_json::Value {
    let rules: Vec<_> = Rule::ALL
        .iter()
        .map(|r| {
            json!({
                "id": r.code(),
                "name": r.name(),
                "shortDescription": {"text": r.summary()},
                "fullDescription": {"text": r.summary()},
                "help": {"text": r.doc(), "markdown": r.doc()},
                "defaultConfiguration": {"level": SEVERITY},
                "properties": {"fixable": r.fixable()},
            })
        })
        .collect();
    let results: Vec<_> = report
        .findings
        .iter()
        .map(|f| {
            json!({
                "ruleId": f.rule.code(),
                "ruleIndex": Rule::ALL.iter().position(|r| *r == f.rule),
                "level": SEVERITY,
                "message": {"text": f.message},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": artifact(&report.root, &f.path),
                        "region": {
                            "startLine": f.line,
                            "startColumn": f.column,
                            "endLine": f.end_line,
                            "endColumn": f.end_column,
                        },
                    },
                }],
            })
        })
        .collect();
    let notifications: Vec<_> = report
        .errors
        .iter()
        .map(|e| notification(report, e))
        .collect();
    let root_uri = format!(
        "file://{}/",
        encode(report.root.to_string_lossy().trim_end_matches('/'))
    );
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "cashews-add",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "originalUriBaseIds": {"%SRCROOT%": {"uri": root_uri}},
            // Columns count characters (see LineIndex), not UTF-16 units.
            "columnKind": "unicodeCodePoints",
            "invocations": [{
                // A file that could not be linted: the run did not do all its work.
                "executionSuccessful": report.errors.is_empty(),
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
        }],
    })
}

/// A file that could not be linted, as a SARIF notification.
fn notification(report: &Report, e: &FileError) -> serde_json::Value {
    let mut n = json!({
        "level": "error",
        "message": {"text": e.message},
        "descriptor": {"id": "not-linted"},
    });
    if !e.path.is_empty() {
        n["locations"] = json!([{
            "physicalLocation": {
                "artifactLocation": artifact(&report.root, &e.path),
                "region": {"startLine": e.line, "startColumn": e.column},
            },
        }]);
    }
    n
}

/// What a URI path keeps as is: unreserved characters and `/`. The rest,
/// `%`, `#`, `?`, blanks, `:` (a relative path's first segment must not
/// look like a scheme) and every non-ASCII byte, is percent-encoded.
const PATH_SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

fn encode(path: &str) -> String {
    percent_encoding::utf8_percent_encode(path, PATH_SET).to_string()
}

/// A SARIF artifactLocation: relative to `%SRCROOT%` (the repository root)
/// when below it, else an absolute `file://` URI.
fn artifact(root: &Path, shown: &str) -> serde_json::Value {
    let absolute = std::path::absolute(shown).unwrap_or_else(|_| Path::new(shown).to_path_buf());
    match absolute.strip_prefix(root) {
        Ok(relative) => json!({
            "uri": encode(&relative.to_string_lossy().replace('\\', "/")),
            "uriBaseId": "%SRCROOT%",
        }),
        Err(_) => json!({
            "uri": format!("file://{}", encode(&absolute.to_string_lossy().replace('\\', "/"))),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_percent_encoded() {
        assert_eq!(encode("app/my file#1.py"), "app/my%20file%231.py");
        assert_eq!(encode("a:b/50%/é.py"), "a%3Ab/50%25/%C3%A9.py");
        let outside = artifact(Path::new("/repo"), "/tmp/x y.py");
        assert_eq!(outside, json!({"uri": "file:///tmp/x%20y.py"}));
    }

    #[test]
    fn github_escaping_follows_actions_toolkit() {
        assert_eq!(data("50% done\r\nnext"), "50%25 done%0D%0Anext");
        assert_eq!(property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
        assert_eq!(data("key \"f:{a}\""), "key \"f:{a}\"", "data keeps ':'");
    }
}
