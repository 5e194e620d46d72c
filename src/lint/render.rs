//! Lint output: text, JSON, GitHub Actions annotations, SARIF 2.1.0.

use std::io::Write;
use std::path::Path;

use serde_json::json;

use crate::lint::rules::Rule;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LintFormat {
    /// `path:line:col: CODE message`
    Text,
    /// `{"findings": [{"path", "line", "column", "code", "severity", "message"}]}`
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
}

const SEVERITY: &str = "error";

pub(crate) fn render(
    format: LintFormat,
    report: &Report,
    out: &mut dyn Write,
    err: &mut dyn Write,
) {
    match format {
        LintFormat::Text => {
            for f in &report.findings {
                let _ = writeln!(
                    out,
                    "{}:{}:{}: {} {}",
                    f.path,
                    f.line,
                    f.column,
                    f.rule.code(),
                    f.message
                );
            }
            errors_text(report, err);
            summary(report, err);
        }
        LintFormat::Json => {
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
            let doc = json!({ "findings": findings });
            let _ = writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&doc).expect("plain data serialises")
            );
            errors_text(report, err);
        }
        LintFormat::Github => {
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
            summary(report, err);
        }
        LintFormat::Sarif => {
            let doc = sarif(report);
            let _ = writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&doc).expect("plain data serialises")
            );
            errors_text(report, err);
        }
    }
}

fn errors_text(report: &Report, err: &mut dyn Write) {
    for e in &report.errors {
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

fn summary(report: &Report, err: &mut dyn Write) {
    if report.fixed > 0 {
        let _ = writeln!(err, "Fixed {} finding(s).", report.fixed);
    }
    let n = report.findings.len();
    if n == 0 && report.errors.is_empty() {
        let _ = writeln!(err, "All checks passed.");
        return;
    }
    let fixable = report.findings.iter().filter(|f| f.fixable).count();
    let files = {
        let mut paths: Vec<&str> = report.findings.iter().map(|f| f.path.as_str()).collect();
        paths.dedup();
        paths.len()
    };
    let mut line = format!("Found {n} finding(s) in {files} file(s)");
    if fixable > 0 {
        line.push_str(&format!(" ({fixable} fixable with --fix)"));
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
                        "artifactLocation": {
                            "uri": repo_relative(&report.root, &f.path),
                            "uriBaseId": "%SRCROOT%",
                        },
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
        .map(|e| {
            json!({
                "level": "error",
                "message": {"text": e.message},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {
                            "uri": repo_relative(&report.root, &e.path),
                            "uriBaseId": "%SRCROOT%",
                        },
                        "region": {"startLine": e.line, "startColumn": e.column},
                    },
                }],
            })
        })
        .collect();
    let root_uri = format!(
        "file://{}/",
        report.root.to_string_lossy().trim_end_matches('/')
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
            "invocations": [{
                "executionSuccessful": true,
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
        }],
    })
}

/// A path as printed (relative to the current folder) made relative to the
/// repository root, `/`-separated.
fn repo_relative(root: &Path, shown: &str) -> String {
    let absolute = std::path::absolute(shown).unwrap_or_else(|_| Path::new(shown).to_path_buf());
    absolute
        .strip_prefix(root)
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .unwrap_or_else(|_| shown.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_escaping_follows_actions_toolkit() {
        assert_eq!(data("50% done\r\nnext"), "50%25 done%0D%0Anext");
        assert_eq!(property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
        assert_eq!(data("key \"f:{a}\""), "key \"f:{a}\"", "data keeps ':'");
    }
}
