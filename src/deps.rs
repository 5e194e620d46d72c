//! The dependency: `cashews[EXTRA]>=7.0` in the project's manifest.
//!
//! PEP 621 `[project] dependencies` and Poetry's `[tool.poetry.dependencies]`
//! in pyproject.toml (located with toml_edit's spans, edited as text so every
//! comment and the layout stay as they were), else a requirements file, line
//! by line. New lines take the file's line ending. Existing pins are checked
//! against cashews 7.x: PEP 440 here, Poetry's syntax in `poetry.rs`.

use std::ops::Range;
use std::path::{Path, PathBuf};

use pep440_rs::{Version, VersionSpecifiers};
use serde::Serialize;
use toml_edit::{Array, Document, InlineTable, Item, Table, Value};

use crate::edit::{Edit, apply};
use crate::imports::line_end;
use crate::plan::file_line_ending;
use crate::rewrite::FileChange;
use crate::source::{BadInput, io_reason};

pub(crate) mod optional;
mod poetry;

/// The lower bound on cashews' current major version: the emitted code
/// (decorator arguments, `disk://?directory=` URLs) is checked against 7.x.
pub(crate) const LOWER_BOUND: &str = ">=7.0";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum DepStatus {
    /// A new entry, or the extra added to the existing entry.
    Added,
    /// The existing entry excluded cashews 7.x (`==6.4.0`, `<7`): its
    /// version constraint is replaced by `>=7.0`, the message says why.
    Updated,
    /// cashews (with the extra the backend needs) is declared already.
    Present,
    /// No manifest the tool can edit: the message says what to install.
    Manual,
    /// Nothing is cached, so nothing is needed.
    Skipped,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct DependencyReport {
    pub(crate) status: DepStatus,
    pub(crate) file: Option<String>,
    pub(crate) line: Option<usize>,
    pub(crate) requirement: String,
    pub(crate) message: String,
}

impl DependencyReport {
    pub(crate) fn skipped(message: &str) -> DependencyReport {
        DependencyReport {
            status: DepStatus::Skipped,
            file: None,
            line: None,
            requirement: String::new(),
            message: message.to_string(),
        }
    }
}

pub(crate) struct DependencyPlan {
    pub(crate) report: DependencyReport,
    pub(crate) change: Option<FileChange>,
}

/// `cashews[diskcache]>=7.0`, or `cashews>=7.0` when no extra is needed.
pub(crate) fn requirement(extra: Option<&str>) -> String {
    match extra {
        Some(e) => format!("cashews[{e}]{LOWER_BOUND}"),
        None => format!("cashews{LOWER_BOUND}"),
    }
}

/// What one manifest says about cashews.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Present {
        line: usize,
    },
    Edited {
        text: String,
        line: usize,
        what: String,
        status: DepStatus,
    },
    Manual(String),
    /// The file declares no dependencies of this kind.
    NotHere,
}

/// Plans the dependency in the manifest at `root`.
pub(crate) fn plan(root: &Path, extra: Option<&str>) -> Result<DependencyPlan, BadInput> {
    let req = requirement(extra);
    let pyproject = root.join("pyproject.toml");
    if pyproject.is_file() {
        let text = read(&pyproject)?;
        let outcome = edit_pyproject(&text, extra)
            .map_err(|e| BadInput(format!("{}: invalid TOML: {e}", pyproject.display())))?;
        if outcome != Outcome::NotHere {
            return Ok(report(&pyproject, text, outcome, &req));
        }
    }
    if let Some(file) = requirements_file(root) {
        // A manifest this tool cannot read is not the run's input: the
        // decorator and the setup still go in, and the person adds the
        // dependency (`manual`, saying why).
        let (text, outcome) = match read(&file) {
            Ok(text) => {
                let outcome = edit_requirements(&text, extra);
                (text, outcome)
            }
            Err(BadInput(why)) => {
                let why = why
                    .rsplit_once(": cannot read: ")
                    .map_or(why.as_str(), |(_, w)| w);
                let note = format!("cannot read it ({why}), so it is left as it is");
                (String::new(), Outcome::Manual(note))
            }
        };
        return Ok(report(&file, text, outcome, &req));
    }
    Ok(DependencyPlan {
        report: DependencyReport {
            status: DepStatus::Manual,
            file: None,
            line: None,
            message: format!(
                "no pyproject.toml dependency list or requirements*.txt in {}: install it with `pip install '{req}'`",
                shown(root)
            ),
            requirement: req,
        },
        change: None,
    })
}

fn read(path: &Path) -> Result<String, BadInput> {
    std::fs::read_to_string(path).map_err(|e| {
        BadInput(format!(
            "{}: cannot read: {}",
            path.display(),
            io_reason(&e)
        ))
    })
}

fn shown(path: &Path) -> String {
    let s = crate::render::diff_path(path);
    if s.is_empty() { ".".to_string() } else { s }
}

fn report(file: &Path, old: String, outcome: Outcome, req: &str) -> DependencyPlan {
    let name = shown(file);
    let (status, line, message, change) = match outcome {
        Outcome::Present { line } => (
            DepStatus::Present,
            Some(line),
            format!("cashews is declared in {name}:{line}"),
            None,
        ),
        Outcome::Edited {
            text,
            line,
            what,
            status,
        } => (
            status,
            Some(line),
            format!("{what} in {name}:{line}"),
            Some(FileChange {
                path: file.to_path_buf(),
                old,
                new: text,
            }),
        ),
        Outcome::Manual(why) => (
            DepStatus::Manual,
            None,
            format!("{name}: {why}; declare `{req}` yourself"),
            None,
        ),
        Outcome::NotHere => unreachable!("callers pass only manifests that declare dependencies"),
    };
    DependencyPlan {
        report: DependencyReport {
            status,
            file: Some(name),
            line,
            requirement: req.to_string(),
            message,
        },
        change,
    }
}

/// `requirements.in` (pip-tools compiles the .txt from it), `requirements.txt`,
/// else the first other `requirements*.txt` that is not for development.
fn requirements_file(root: &Path) -> Option<PathBuf> {
    for name in ["requirements.in", "requirements.txt"] {
        let p = root.join(name);
        if p.is_file() {
            return Some(p);
        }
    }
    let mut others: Vec<PathBuf> = std::fs::read_dir(root)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().to_lowercase())
                .unwrap_or_default();
            name.starts_with("requirements")
                && name.ends_with(".txt")
                && !["dev", "test", "lint", "doc", "ci"]
                    .iter()
                    .any(|w| name.contains(w))
                && p.is_file()
        })
        .collect();
    others.sort();
    others.into_iter().next()
}

/// A PEP 508 requirement's head: the name and its extras.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    name: String,
    name_end: usize,
    extras: Vec<String>,
    /// Offset of the `]` closing the extras.
    close: Option<usize>,
}

fn parse_head(req: &str) -> Option<Head> {
    let start = req.len() - req.trim_start().len();
    let name_len = req[start..]
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(req.len() - start);
    if name_len == 0 {
        return None;
    }
    let name_end = start + name_len;
    let rest = &req[name_end..];
    let open = name_end + (rest.len() - rest.trim_start().len());
    let (extras, close) = if req[open..].starts_with('[') {
        let close = open + req[open..].find(']')?;
        let extras = req[open + 1..close]
            .split(',')
            .map(|e| normalize(e.trim()))
            .filter(|e| !e.is_empty())
            .collect();
        (extras, Some(close))
    } else {
        (Vec::new(), None)
    };
    Some(Head {
        name: normalize(&req[start..name_end]),
        name_end,
        extras,
        close,
    })
}

/// PEP 503 name normalisation: lower case, runs of `-_.` as one `-`.
fn normalize(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// `cashews>=7` -> `cashews[diskcache]>=7`; `cashews[redis]` -> `cashews[redis,diskcache]`.
fn with_extra(req: &str, head: &Head, extra: &str) -> String {
    match head.close {
        Some(close) if head.extras.is_empty() => {
            let open = req[..close].rfind('[').unwrap_or(close);
            format!("{}[{extra}]{}", &req[..open], &req[close + 1..])
        }
        Some(close) => format!("{},{extra}{}", &req[..close], &req[close..]),
        None => format!(
            "{}[{extra}]{}",
            &req[..head.name_end],
            &req[head.name_end..]
        ),
    }
}

fn has_extra(head: &Head, extra: Option<&str>) -> bool {
    extra.is_none_or(|e| head.extras.iter().any(|x| x == e))
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}

/// A TOML string literal, in the quote style of `like` when it can be.
fn toml_str(s: &str, like: &str) -> String {
    if like.starts_with('\'') && !like.starts_with("'''") && !s.contains('\'') {
        format!("'{s}'")
    } else {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

fn edited(text: &str, edits: &[Edit], line_at: usize, what: String) -> Outcome {
    let new = apply(text, edits).expect("edits computed from this text do not overlap");
    Outcome::Edited {
        line: line_of(&new, line_at),
        text: new,
        what,
        status: DepStatus::Added,
    }
}

/// The version constraint of a requirement (after the name and extras,
/// before any `;` marker), None for a URL or none at all.
fn version_part<'r>(req: &'r str, head: &Head) -> Option<&'r str> {
    let after = head.close.map_or(head.name_end, |c| c + 1);
    let spec = req[after..].split(';').next().unwrap_or_default().trim();
    let spec = spec.trim_start_matches('(').trim_end_matches(')').trim();
    (!spec.is_empty() && !spec.starts_with('@')).then_some(spec)
}

/// Whether a constraint admits no cashews 7.x (the emitted code needs 7):
/// tried on 7.0 to 7.30, so `!=7.0` or `>=7.1` still count as allowing it.
fn excludes_7(spec: &str) -> bool {
    let Ok(specs) = spec.parse::<VersionSpecifiers>() else {
        return false; // not PEP 440 (a typo, a Poetry caret): left to the person
    };
    !admits_7(&specs)
}

/// Whether some cashews 7.0 to 7.30 satisfies the specifiers.
fn admits_7(specs: &VersionSpecifiers) -> bool {
    (0..=30).any(|minor| specs.contains(&Version::new([7, minor])))
}

/// `cashews[redis]>=6` with `diskcache` -> `cashews[diskcache,redis]>=7.0`:
/// the name as written, the extras merged and sorted, `>=7.0` for the old
/// constraint, the marker kept. None when the constraint allows 7.x.
fn widened(req: &str, head: &Head, extra: Option<&str>) -> Option<String> {
    let spec = version_part(req, head)?;
    if !excludes_7(spec) {
        return None;
    }
    let mut extras = head.extras.clone();
    extras.extend(extra.map(str::to_string));
    extras.sort();
    extras.dedup();
    let start = req.len() - req.trim_start().len();
    let name = &req[start..head.name_end];
    let extras = match extras.is_empty() {
        true => String::new(),
        false => format!("[{}]", extras.join(",")),
    };
    let marker = req.find(';').map_or("", |i| &req[i..]);
    let gap = if marker.is_empty() { "" } else { " " };
    let trailing = &req[req.trim_end().len()..];
    Some(format!(
        "{}{name}{extras}{LOWER_BOUND}{gap}{}{trailing}",
        &req[..start],
        marker.trim_end()
    ))
}

/// The requirement `old` at `range` of `text` replaced by `new`, written as
/// `literal` (quoted in a TOML file).
fn widen_edit(text: &str, range: Range<usize>, old: &str, new: &str, literal: String) -> Outcome {
    let edit = Edit::replace(range.start, range.end, literal);
    updated(text, &[edit], range.start, old, new)
}

/// The `Updated` outcome of `edits`, saying `old` gave way to `new`.
fn updated(text: &str, edits: &[Edit], at: usize, old: &str, new: &str) -> Outcome {
    let new_text = apply(text, edits).expect("edits computed from this text do not overlap");
    Outcome::Edited {
        line: line_of(&new_text, at),
        text: new_text,
        what: format!(
            "`{}` excluded cashews 7.x, which the emitted code needs: now `{new}`",
            old.trim()
        ),
        status: DepStatus::Updated,
    }
}

fn edit_pyproject(text: &str, extra: Option<&str>) -> Result<Outcome, String> {
    let doc = Document::parse(text).map_err(|e| {
        e.to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    })?;
    let root = doc.as_item();
    let project = root.get("project").and_then(Item::as_table);
    let pep621 = project
        .and_then(|p| p.get("dependencies"))
        .and_then(Item::as_array);
    let poetry = root
        .get("tool")
        .and_then(|t| t.get("poetry"))
        .and_then(|p| p.get("dependencies"))
        .and_then(Item::as_table);
    if let Some(array) = pep621
        && let Some(outcome) = pep621_existing(text, array, extra)
    {
        return Ok(outcome);
    }
    if let Some(table) = poetry
        && let Some(outcome) = poetry_existing(text, table, extra)
    {
        return Ok(outcome);
    }
    let req = requirement(extra);
    if let Some(array) = pep621 {
        return Ok(append_to_array(text, array, &req));
    }
    if let Some(table) = poetry {
        let value = match extra {
            Some(e) => format!("{{ version = \"{LOWER_BOUND}\", extras = [\"{e}\"] }}"),
            None => format!("\"{LOWER_BOUND}\""),
        };
        return Ok(add_key(
            text,
            table,
            &format!("cashews = {value}"),
            "[tool.poetry.dependencies]",
        ));
    }
    if let Some(project) = project {
        let dynamic = project
            .get("dynamic")
            .and_then(Item::as_array)
            .is_some_and(|d| d.iter().any(|v| v.as_str() == Some("dependencies")));
        if !dynamic {
            let line = format!("dependencies = [{}]", toml_str(&req, ""));
            return Ok(add_key(text, project, &line, "[project]"));
        }
    }
    Ok(Outcome::NotHere)
}

/// The cashews entry of `[project] dependencies`, if any.
fn pep621_existing(text: &str, array: &Array, extra: Option<&str>) -> Option<Outcome> {
    for value in array.iter() {
        let (Some(req), Some(span)) = (value.as_str(), value.span()) else {
            continue;
        };
        let Some(head) = parse_head(req).filter(|h| h.name == "cashews") else {
            continue;
        };
        let line = line_of(text, span.start);
        if let Some(new) = widened(req, &head, extra) {
            let literal = toml_str(&new, &text[span.clone()]);
            return Some(widen_edit(text, span, req, &new, literal));
        }
        if has_extra(&head, extra) {
            return Some(Outcome::Present { line });
        }
        let extra = extra.expect("has_extra is true without one");
        let literal = toml_str(&with_extra(req, &head, extra), &text[span.clone()]);
        let edit = Edit::replace(span.start, span.end, literal);
        return Some(edited(
            text,
            &[edit],
            span.start,
            format!("the {extra} extra on cashews"),
        ));
    }
    None
}

/// Appends a string to a dependency array, in its layout: one per line with
/// the last element's indentation, or inline for a one-line array.
fn append_to_array(text: &str, array: &Array, req: &str) -> Outcome {
    let what = req.to_string();
    let span = array.span().expect("parsed arrays have spans");
    let last = array.iter().filter_map(Value::span).last();
    let Some(last) = last else {
        let literal = toml_str(req, "");
        return edited(
            text,
            &[Edit::insert(span.start + 1, literal)],
            span.start,
            what,
        );
    };
    let literal = toml_str(req, &text[last.clone()]);
    let after = &text[last.end..span.end];
    let comma = after.trim_start().starts_with(',');
    let close = span.end - 1; // the `]`
    let eol_at = text[last.end..].find('\n').map(|i| last.end + i);
    let multiline = eol_at.is_some_and(|e| e < close);
    if !multiline {
        return edited(
            text,
            &[Edit::insert(last.end, format!(", {literal}"))],
            last.end,
            what,
        );
    }
    let line_start = text[..last.start].rfind('\n').map_or(0, |i| i + 1);
    let indent: String = text[line_start..last.start]
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect();
    let eol = file_line_ending(text);
    let at = line_end(text, last.end);
    let mut edits = Vec::new();
    if !comma {
        edits.push(Edit::insert(last.end, ","));
    }
    edits.push(Edit::insert(at, format!("{indent}{literal},{eol}")));
    edited(text, &edits, at, what)
}

/// The cashews entry of `[tool.poetry.dependencies]`, if any.
fn poetry_existing(text: &str, table: &Table, extra: Option<&str>) -> Option<Outcome> {
    let (key, item) = table.iter().find(|(k, _)| normalize(k) == "cashews")?;
    let Some(value) = item.as_value() else {
        // `[tool.poetry.dependencies.cashews]`: a table of its own, which a
        // new `cashews = ...` line would duplicate.
        return Some(Outcome::Manual(
            "cashews is declared as a [tool.poetry.dependencies.cashews] table; check its version allows 7.x and add the extra there".to_string(),
        ));
    };
    let span = value.span()?;
    if let Some(outcome) = poetry_widened(text, key, value, extra) {
        return Some(outcome);
    }
    let line = line_of(text, span.start);
    let Some(extra) = extra else {
        return Some(Outcome::Present { line });
    };
    let what = format!("the {extra} extra on cashews");
    let edit = match value {
        Value::String(s) => {
            let version = toml_str(s.value(), &text[span.clone()]);
            let inline = format!("{{ version = {version}, extras = [\"{extra}\"] }}");
            Edit::replace(span.start, span.end, inline)
        }
        Value::InlineTable(t) => match extras_edit(t, extra) {
            Ok(Some(edit)) => edit,
            Ok(None) => return Some(Outcome::Present { line }),
            Err(manual) => return Some(manual),
        },
        _ => {
            return Some(Outcome::Manual(format!(
                "cashews has several constraints in [tool.poetry.dependencies]; add the {extra} extra to them"
            )));
        }
    };
    Some(edited(text, &[edit], span.start, what))
}

/// A Poetry entry whose version excludes cashews 7.x (`"^6.0"`, `{ version
/// = "~6.4", extras = [...] }`): the version becomes `>=7.0` and the extra
/// is merged in, in the entry's own form. None when the version allows 7.x.
fn poetry_widened(text: &str, key: &str, value: &Value, extra: Option<&str>) -> Option<Outcome> {
    let span = value.span()?;
    let mut edits = Vec::new();
    match value {
        Value::String(s) if poetry::excludes_7(s.value()) => {
            let version = toml_str(LOWER_BOUND, &text[span.clone()]);
            let new = match extra {
                Some(e) => format!("{{ version = {version}, extras = [\"{e}\"] }}"),
                None => version,
            };
            edits.push(Edit::replace(span.start, span.end, new));
        }
        Value::InlineTable(t) => {
            let version = t.get("version")?;
            let vspan = version.span()?;
            if !poetry::excludes_7(version.as_str()?) {
                return None;
            }
            let literal = toml_str(LOWER_BOUND, &text[vspan.clone()]);
            edits.push(Edit::replace(vspan.start, vspan.end, literal));
            if let Some(e) = extra
                && let Ok(Some(edit)) = extras_edit(t, e)
            {
                edits.push(edit);
            }
        }
        _ => return None,
    }
    let new_text = apply(text, &edits).expect("edits computed from this text do not overlap");
    // Every edit is inside the value: its new text ends as far past the
    // old end as the file grew.
    let new_end = (span.end + new_text.len()) - text.len();
    let old = format!("{key} = {}", &text[span.clone()]);
    let new = format!("{key} = {}", &new_text[span.start..new_end]);
    Some(updated(text, &edits, span.start, &old, &new))
}

/// The edit adding `extra` to an inline table's `extras`: None when it is
/// there already, Err when `extras` is not a list.
fn extras_edit(t: &InlineTable, extra: &str) -> Result<Option<Edit>, Outcome> {
    let span = t.span().expect("parsed tables have spans");
    match t.get("extras") {
        Some(Value::Array(extras)) => {
            if extras
                .iter()
                .any(|v| v.as_str().is_some_and(|s| normalize(s) == extra))
            {
                return Ok(None);
            }
            let aspan = extras.span().expect("parsed arrays have spans");
            Ok(Some(match extras.iter().filter_map(Value::span).last() {
                Some(last) => Edit::insert(last.end, format!(", \"{extra}\"")),
                None => Edit::insert(aspan.start + 1, format!("\"{extra}\"")),
            }))
        }
        Some(_) => Err(Outcome::Manual(
            "cashews' `extras` is not a list".to_string(),
        )),
        None => {
            let last_end = t
                .get_values()
                .iter()
                .filter_map(|(_, v)| v.span())
                .map(|r| r.end)
                .max();
            Ok(Some(match last_end {
                Some(end) => Edit::insert(end, format!(", extras = [\"{extra}\"]")),
                None => Edit::insert(span.start + 1, format!(" extras = [\"{extra}\"] ")),
            }))
        }
    }
}

/// A new `key = value` line at the end of a table's own entries.
fn add_key(text: &str, table: &Table, line: &str, name: &str) -> Outcome {
    let eol = file_line_ending(text);
    let last_end = table
        .get_values()
        .iter()
        .filter_map(|(_, v)| v.span())
        .map(|r: Range<usize>| r.end)
        .max();
    let at = match last_end.or_else(|| table.span().map(|s| s.end)) {
        Some(end) => line_end(text, end),
        None => text.len(),
    };
    let lead = if at > 0 && !text[..at].ends_with('\n') {
        eol
    } else {
        ""
    };
    let what = format!("`{line}` under {name}");
    edited(
        text,
        &[Edit::insert(at, format!("{lead}{line}{eol}"))],
        at + lead.len(),
        what,
    )
}

fn edit_requirements(text: &str, extra: Option<&str>) -> Outcome {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let body = line.trim_end_matches(['\n', '\r']);
        let code = match body.find(" #").or_else(|| body.find("\t#")) {
            Some(i) => &body[..i],
            None => body,
        };
        let trimmed = code.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('-') {
            continue;
        }
        let Some(head) = parse_head(code).filter(|h| h.name == "cashews") else {
            continue;
        };
        let line_no = line_of(text, start);
        if let Some(new) = widened(code, &head, extra) {
            let range = start..start + code.len();
            return widen_edit(text, range, code, &new, new.clone());
        }
        if has_extra(&head, extra) {
            return Outcome::Present { line: line_no };
        }
        let extra = extra.expect("has_extra is true without one");
        let new_code = with_extra(code, &head, extra);
        return edited(
            text,
            &[Edit::replace(start, start + code.len(), new_code)],
            start,
            format!("the {extra} extra on cashews"),
        );
    }
    let eol = file_line_ending(text);
    let lead = if !text.is_empty() && !text.ends_with('\n') {
        eol
    } else {
        ""
    };
    let req = requirement(extra);
    let at = text.len();
    edited(
        text,
        &[Edit::insert(at, format!("{lead}{req}{eol}"))],
        at + lead.len(),
        req,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_text(o: Outcome) -> String {
        match o {
            Outcome::Edited { text, .. } => text,
            other => panic!("expected an edit, got {other:?}"),
        }
    }

    const DISK: Option<&str> = Some("diskcache");

    #[test]
    fn heads_and_extras() {
        let h = parse_head("Cashews [Redis] >= 7 ; python_version > '3.9'").unwrap();
        assert_eq!(h.name, "cashews");
        assert_eq!(h.extras, ["redis"]);
        assert_eq!(
            with_extra(
                "cashews[redis]>=7",
                &parse_head("cashews[redis]>=7").unwrap(),
                "diskcache"
            ),
            "cashews[redis,diskcache]>=7"
        );
        assert_eq!(
            with_extra(
                "cashews>=7",
                &parse_head("cashews>=7").unwrap(),
                "diskcache"
            ),
            "cashews[diskcache]>=7"
        );
        assert_eq!(
            with_extra("cashews[]", &parse_head("cashews[]").unwrap(), "diskcache"),
            "cashews[diskcache]"
        );
        assert_eq!(normalize("Cash_ews..X"), "cash-ews-x");
        assert!(parse_head("  # comment").is_none());
    }

    fn status_and_text(o: Outcome) -> (DepStatus, String) {
        match o {
            Outcome::Edited { text, status, .. } => (status, text),
            other => panic!("expected an edit, got {other:?}"),
        }
    }

    #[test]
    fn pins_that_exclude_7_are_widened_with_extras_merged() {
        let pep621 = |dep: &str| {
            let text = format!("[project]\nname = \"x\"\ndependencies = [\"{dep}\"]\n");
            let (status, text) = status_and_text(edit_pyproject(&text, DISK).unwrap());
            assert_eq!(status, DepStatus::Updated, "{dep}");
            text.lines().nth(2).unwrap().to_string()
        };
        assert_eq!(
            pep621("cashews[diskcache]==6.4.0"),
            "dependencies = [\"cashews[diskcache]>=7.0\"]"
        );
        assert_eq!(
            pep621("cashews<7"),
            "dependencies = [\"cashews[diskcache]>=7.0\"]"
        );
        assert_eq!(
            pep621("cashews[redis]>=6,<7"),
            "dependencies = [\"cashews[diskcache,redis]>=7.0\"]"
        );
        assert_eq!(
            pep621("cashews ~= 6.4"),
            "dependencies = [\"cashews[diskcache]>=7.0\"]"
        );
        assert_eq!(
            pep621("cashews==6.4.0; python_version >= '3.10'"),
            "dependencies = [\"cashews[diskcache]>=7.0 ; python_version >= '3.10'\"]"
        );
        // Without an extra needed (mem://), none is added.
        let (_, text) = status_and_text(edit_requirements("cashews==6.4.0  # pinned\n", None));
        assert_eq!(text, "cashews>=7.0  # pinned\n");
        let (status, text) =
            status_and_text(edit_requirements("fastapi\ncashews[redis]<7\n", DISK));
        assert_eq!(
            (status, text.as_str()),
            (
                DepStatus::Updated,
                "fastapi\ncashews[diskcache,redis]>=7.0\n"
            )
        );
    }

    #[test]
    fn pins_that_allow_7_are_kept() {
        for dep in [
            "cashews[diskcache]>=6",
            "cashews[diskcache]!=7.0",
            "cashews[diskcache]>=7.1",
            "cashews[diskcache]",
            "cashews[diskcache] @ https://x/c.whl",
            "cashews[diskcache]==7.*",
        ] {
            let text = format!("[project]\ndependencies = [\"{dep}\"]\n");
            assert_eq!(
                edit_pyproject(&text, DISK).unwrap(),
                Outcome::Present { line: 2 },
                "{dep}"
            );
        }
        // `cashews[redis]>=6` allows 7: only the extra is added.
        let (status, text) = status_and_text(edit_requirements("cashews[redis]>=6\n", DISK));
        assert_eq!(
            (status, text.as_str()),
            (DepStatus::Added, "cashews[redis,diskcache]>=6\n")
        );
    }

    #[test]
    fn pep621_multiline_keeps_comments() {
        let before = "# top\n[project]\nname = \"x\"\ndependencies = [\n    \"fastapi>=0.110\",  # web\n    \"httpx\"  # client\n]\n\n[tool.x]\na = 1\n";
        let after = new_text(edit_pyproject(before, DISK).unwrap());
        assert_eq!(
            after,
            "# top\n[project]\nname = \"x\"\ndependencies = [\n    \"fastapi>=0.110\",  # web\n    \"httpx\",  # client\n    \"cashews[diskcache]>=7.0\",\n]\n\n[tool.x]\na = 1\n"
        );
        assert_eq!(
            edit_pyproject(&after, DISK).unwrap(),
            Outcome::Present { line: 7 }
        );
    }

    #[test]
    fn pep621_inline_empty_and_missing() {
        assert_eq!(
            new_text(edit_pyproject("[project]\ndependencies = ['a', 'b']\n", DISK).unwrap()),
            "[project]\ndependencies = ['a', 'b', 'cashews[diskcache]>=7.0']\n"
        );
        assert_eq!(
            new_text(edit_pyproject("[project]\ndependencies = []\n", None).unwrap()),
            "[project]\ndependencies = [\"cashews>=7.0\"]\n"
        );
        assert_eq!(
            new_text(
                edit_pyproject("[project]\nname = \"x\"  # n\n\n[tool.y]\nz = 1\n", DISK).unwrap()
            ),
            "[project]\nname = \"x\"  # n\ndependencies = [\"cashews[diskcache]>=7.0\"]\n\n[tool.y]\nz = 1\n"
        );
        assert_eq!(
            edit_pyproject(
                "[project]\nname = \"x\"\ndynamic = [\"dependencies\"]\n",
                DISK
            )
            .unwrap(),
            Outcome::NotHere
        );
        assert_eq!(
            edit_pyproject("[tool.black]\n", DISK).unwrap(),
            Outcome::NotHere
        );
    }

    #[test]
    fn pep621_existing_entry_gets_the_extra() {
        let before = "[project]\ndependencies = [\n  \"cashews[redis]>=7.1\",  # cache\n]\n";
        let after = new_text(edit_pyproject(before, DISK).unwrap());
        assert_eq!(
            after,
            "[project]\ndependencies = [\n  \"cashews[redis,diskcache]>=7.1\",  # cache\n]\n"
        );
        assert_eq!(
            edit_pyproject(&after, DISK).unwrap(),
            Outcome::Present { line: 3 }
        );
        assert_eq!(
            edit_pyproject(before, Some("redis")).unwrap(),
            Outcome::Present { line: 3 }
        );
    }

    #[test]
    fn crlf_is_kept() {
        let before = "[project]\r\ndependencies = [\r\n    \"a\"\r\n]\r\n";
        assert_eq!(
            new_text(edit_pyproject(before, DISK).unwrap()),
            "[project]\r\ndependencies = [\r\n    \"a\",\r\n    \"cashews[diskcache]>=7.0\",\r\n]\r\n"
        );
        assert_eq!(
            new_text(edit_requirements("a\r\nb\r\n", DISK)),
            "a\r\nb\r\ncashews[diskcache]>=7.0\r\n"
        );
    }

    #[test]
    fn poetry_add_and_extend() {
        let before = "[tool.poetry]\nname = \"x\"\n\n[tool.poetry.dependencies]\npython = \"^3.10\"\nfastapi = \"^0.110\"  # web\n\n[build-system]\nrequires = [\"poetry-core\"]\n";
        let after = new_text(edit_pyproject(before, DISK).unwrap());
        assert_eq!(
            after,
            "[tool.poetry]\nname = \"x\"\n\n[tool.poetry.dependencies]\npython = \"^3.10\"\nfastapi = \"^0.110\"  # web\ncashews = { version = \">=7.0\", extras = [\"diskcache\"] }\n\n[build-system]\nrequires = [\"poetry-core\"]\n"
        );
        assert_eq!(
            edit_pyproject(&after, DISK).unwrap(),
            Outcome::Present { line: 7 }
        );
        let plain = "[tool.poetry.dependencies]\ncashews = \"^7.0\"    # cache\n";
        let after = new_text(edit_pyproject(plain, DISK).unwrap());
        assert_eq!(
            after,
            "[tool.poetry.dependencies]\ncashews = { version = \"^7.0\", extras = [\"diskcache\"] }    # cache\n"
        );
        assert_eq!(
            edit_pyproject(&after, DISK).unwrap(),
            Outcome::Present { line: 2 }
        );
        assert_eq!(
            new_text(
                edit_pyproject(
                    "[tool.poetry.dependencies]\ncashews = {version = \"^7\", extras = [\"redis\"]}\n",
                    DISK
                )
                .unwrap()
            ),
            "[tool.poetry.dependencies]\ncashews = {version = \"^7\", extras = [\"redis\", \"diskcache\"]}\n"
        );
        assert_eq!(
            new_text(
                edit_pyproject(
                    "[tool.poetry.dependencies]\ncashews = {version = \"^7\"}\n",
                    DISK
                )
                .unwrap()
            ),
            "[tool.poetry.dependencies]\ncashews = {version = \"^7\", extras = [\"diskcache\"]}\n"
        );
        assert_eq!(
            new_text(edit_pyproject("[tool.poetry.dependencies]\n", None).unwrap()),
            "[tool.poetry.dependencies]\ncashews = \">=7.0\"\n"
        );
    }

    #[test]
    fn poetry_pins_that_exclude_7_are_widened_in_their_own_form() {
        let poetry = |entry: &str, extra: Option<&str>| {
            let text =
                format!("[tool.poetry.dependencies]\npython = \"^3.10\"\n{entry}  # cache\n");
            let (status, text) = status_and_text(edit_pyproject(&text, extra).unwrap());
            assert_eq!(status, DepStatus::Updated, "{entry}");
            let line = text.lines().nth(2).unwrap();
            line.strip_suffix("  # cache").unwrap().to_string()
        };
        for version in ["^6.0", "~6.4", "6.*", ">=6,<7", "6.4.0", "^0.5"] {
            assert_eq!(
                poetry(&format!("cashews = \"{version}\""), None),
                "cashews = \">=7.0\"",
                "{version}"
            );
        }
        assert_eq!(
            poetry("cashews = '^6.0'", DISK),
            "cashews = { version = '>=7.0', extras = [\"diskcache\"] }"
        );
        assert_eq!(
            poetry(
                "cashews = { version = \"^6.0\", extras = [\"redis\"] }",
                DISK
            ),
            "cashews = { version = \">=7.0\", extras = [\"redis\", \"diskcache\"] }"
        );
        assert_eq!(
            poetry("cashews = {version = \"~6.4\", optional = true}", DISK),
            "cashews = {version = \">=7.0\", optional = true, extras = [\"diskcache\"]}"
        );
        assert_eq!(
            poetry(
                "cashews = { version = \"^6.0\", extras = [\"diskcache\"] }",
                DISK
            ),
            "cashews = { version = \">=7.0\", extras = [\"diskcache\"] }"
        );
        let text =
            "[tool.poetry.dependencies]\ncashews = { version = \"^6.0\", extras = [\"redis\"] }\n";
        let Outcome::Edited { what, .. } = edit_pyproject(text, DISK).unwrap() else {
            panic!("expected an edit");
        };
        assert_eq!(
            what,
            "`cashews = { version = \"^6.0\", extras = [\"redis\"] }` excluded cashews 7.x, which the emitted code needs: now `cashews = { version = \">=7.0\", extras = [\"redis\", \"diskcache\"] }`"
        );
    }

    #[test]
    fn poetry_pins_that_allow_7_are_kept() {
        for entry in [
            "cashews = { version = \"*\", extras = [\"diskcache\"] }",
            "cashews = { version = \"^7.1\", extras = [\"diskcache\"] }",
            "cashews = { version = \"^6.0 || ^7.0\", extras = [\"diskcache\"] }",
            "cashews = { git = \"https://github.com/Krukov/cashews\", extras = [\"diskcache\"] }",
            "cashews = \">=6\"",
        ] {
            let text = format!("[tool.poetry.dependencies]\n{entry}\n");
            let extra = entry.contains("extras").then_some("diskcache");
            assert_eq!(
                edit_pyproject(&text, extra).unwrap(),
                Outcome::Present { line: 2 },
                "{entry}"
            );
        }
        // `^7.0` allows 7: only the extra is added.
        let (status, text) = status_and_text(
            edit_pyproject("[tool.poetry.dependencies]\ncashews = \"^7.0\"\n", DISK).unwrap(),
        );
        assert_eq!(status, DepStatus::Added);
        assert!(text.contains("version = \"^7.0\""), "{text}");
        // A cashews table of its own is not duplicated by a new key.
        let table = "[tool.poetry.dependencies.cashews]\nversion = \"^6.0\"\n";
        assert!(matches!(
            edit_pyproject(table, DISK).unwrap(),
            Outcome::Manual(_)
        ));
    }

    #[test]
    fn requirements_lines() {
        assert_eq!(
            new_text(edit_requirements("# deps\nhttpx==0.28.1", DISK)),
            "# deps\nhttpx==0.28.1\ncashews[diskcache]>=7.0\n"
        );
        let before = "-r base.txt\ncashews==7.6.0 ; python_version >= '3.10'  # cache\nhttpx\n";
        let after = new_text(edit_requirements(before, DISK));
        assert_eq!(
            after,
            "-r base.txt\ncashews[diskcache]==7.6.0 ; python_version >= '3.10'  # cache\nhttpx\n"
        );
        assert_eq!(
            edit_requirements(&after, DISK),
            Outcome::Present { line: 2 }
        );
        assert_eq!(
            edit_requirements("# cashews is great\ncashews\n", None),
            Outcome::Present { line: 2 }
        );
    }

    /// washbot's requirements.txt is UTF-16: the run goes on, the
    /// dependency is left to the person.
    #[test]
    fn an_unreadable_requirements_file_is_manual_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let utf16: Vec<u8> = [0xff, 0xfe]
            .into_iter()
            .chain("aiohttp==3.9\r\n".bytes().flat_map(|b| [b, 0]))
            .collect();
        std::fs::write(dir.path().join("requirements.txt"), utf16).unwrap();
        let plan = plan(dir.path(), DISK).unwrap();
        assert_eq!(plan.report.status, DepStatus::Manual);
        assert!(plan.change.is_none());
        let message = &plan.report.message;
        assert!(
            message.contains("requirements.txt: cannot read it (") && message.contains("UTF-8"),
            "{message}"
        );
        assert!(
            message.contains("declare `cashews[diskcache]>=7.0` yourself"),
            "{message}"
        );
    }

    #[test]
    fn manifest_choice() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let none = plan(root, DISK).unwrap();
        assert_eq!(none.report.status, DepStatus::Manual);
        assert!(
            none.report
                .message
                .contains("pip install 'cashews[diskcache]>=7.0'")
        );
        std::fs::write(root.join("requirements-dev.txt"), "pytest\n").unwrap();
        std::fs::write(root.join("requirements-prod.txt"), "httpx\n").unwrap();
        std::fs::write(
            root.join("pyproject.toml"),
            "[tool.black]\nline-length = 100\n",
        )
        .unwrap();
        let p = plan(root, DISK).unwrap();
        assert_eq!(p.report.status, DepStatus::Added);
        let change = p.change.unwrap();
        assert!(change.path.ends_with("requirements-prod.txt"));
        assert_eq!(change.new, "httpx\ncashews[diskcache]>=7.0\n");
        std::fs::write(root.join("requirements.txt"), "cashews[diskcache]\n").unwrap();
        let p = plan(root, DISK).unwrap();
        assert_eq!(p.report.status, DepStatus::Present);
        assert!(p.change.is_none());
    }
}
