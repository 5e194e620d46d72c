//! The rewrite: targets in, one result per target and the new text of each
//! file out. Nothing is written here.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cashews::format_ttl;
use crate::catalogue::Pattern;
use crate::decide::{Decision, Outcome, Request, decide};
use crate::edit::{Edit, apply};
use crate::function::{FnKind, Function};
use crate::key::{HandleRules, Key, check_placeholders, design, missing_inputs};
use crate::locate::find_among;
use crate::module::Module;
use crate::plan::{Spelling, decorator_edit, decorator_lines, http_exception};
use crate::purity::{Purity, analyse};
use crate::source::{BadInput, SourceFile, first_error, parse_tree};

/// `FILE::QUALNAME` as the user wrote it.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) raw: String,
    pub(crate) file: PathBuf,
    pub(crate) qualname: String,
}

impl Target {
    pub(crate) fn parse(raw: &str) -> Result<Target, BadInput> {
        let (file, qualname) = raw
            .rsplit_once("::")
            .filter(|(f, q)| !f.is_empty() && !q.is_empty())
            .ok_or_else(|| {
                BadInput(format!(
                    "{raw}: a target is FILE::FUNCTION or FILE::Class.method"
                ))
            })?;
        Ok(Target {
            raw: raw.to_string(),
            file: PathBuf::from(file),
            qualname: qualname.to_string(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Changed,
    Unchanged,
    Refused,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct FunctionFacts {
    pub(crate) qualname: String,
    pub(crate) line: usize,
    pub(crate) is_async: bool,
    pub(crate) is_generator: bool,
    pub(crate) kind: FnKind,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct TargetResult {
    pub(crate) target: String,
    pub(crate) status: Status,
    pub(crate) message: String,
    pub(crate) function: FunctionFacts,
    pub(crate) purity: Purity,
    pub(crate) decision: Option<Decision>,
    pub(crate) key: Option<Key>,
    pub(crate) ttl: Option<String>,
    pub(crate) tags: Vec<String>,
    pub(crate) warnings: Vec<String>,
    /// The decorator lines added, outermost first.
    pub(crate) decorators: Vec<String>,
}

/// A file whose text changes.
pub(crate) struct FileChange {
    pub(crate) path: PathBuf,
    pub(crate) old: String,
    pub(crate) new: String,
}

pub(crate) struct Settings<'a> {
    pub(crate) request: Request,
    pub(crate) handles: HandleRules,
    pub(crate) patterns: Vec<&'a Pattern>,
}

pub(crate) struct Report {
    pub(crate) results: Vec<TargetResult>,
    pub(crate) changes: Vec<FileChange>,
}

/// Plans every target; any bad input fails the whole run before anything is written.
pub(crate) fn plan(targets: &[Target], settings: &Settings) -> Result<Report, BadInput> {
    let mut files: Vec<(&Path, Vec<&Target>)> = Vec::new();
    for t in targets {
        match files.iter_mut().find(|(f, _)| *f == t.file.as_path()) {
            Some((_, list)) => list.push(t),
            None => files.push((&t.file, vec![t])),
        }
    }
    let mut report = Report {
        results: Vec::new(),
        changes: Vec::new(),
    };
    for (path, targets) in files {
        let src = SourceFile::read(path)?;
        let (results, new_text) = plan_file(&src, &targets, settings)?;
        report.results.extend(results);
        if new_text != src.text {
            report.changes.push(FileChange {
                path: path.to_path_buf(),
                old: src.full_text(&src.text),
                new: src.full_text(&new_text),
            });
        }
    }
    Ok(report)
}

pub(crate) fn plan_file(
    src: &SourceFile,
    targets: &[&Target],
    settings: &Settings,
) -> Result<(Vec<TargetResult>, String), BadInput> {
    let module = Module::new(src);
    let prefix_module = crate::project::module_name(&src.path);
    let mut results = Vec::new();
    let mut import_edits: Vec<Edit> = Vec::new();
    let mut decorator_edits: Vec<Edit> = Vec::new();
    let mut seen = Vec::new();
    for target in targets {
        let site = find_among(src, &module.functions, &target.qualname)?;
        if seen.contains(&site.node.id()) {
            continue; // the same function named twice
        }
        seen.push(site.node.id());
        let f = Function::new(src, site);
        let (result, edits) = plan_target(&module, &f, target, &prefix_module, settings)?;
        if let Some((import, decorator)) = edits {
            import_edits.extend(import);
            decorator_edits.push(decorator);
        }
        results.push(result);
    }
    let edits: Vec<Edit> = import_edits.into_iter().chain(decorator_edits).collect();
    let new_text = apply(&src.text, &edits)
        .map_err(|e| BadInput(format!("{}: internal error: {e}", src.path.display())))?;
    check_still_parses(src, &new_text)?;
    Ok((results, new_text))
}

type Edits = Option<(Vec<Edit>, Edit)>;

fn plan_target(
    module: &Module,
    f: &Function,
    target: &Target,
    prefix_module: &str,
    settings: &Settings,
) -> Result<(TargetResult, Edits), BadInput> {
    let src = module.src;
    let req = &settings.request;
    let purity = analyse(module, f, &settings.patterns);
    let qualname = &target.qualname;
    let mut key = design(
        module,
        f,
        &format!("{prefix_module}:{qualname}"),
        &settings.handles,
    );
    let mut warnings = std::mem::take(&mut key.warnings);
    let bad = |e: BadInput| BadInput(format!("{}: {}", target.raw, e.0));
    if let Some(user_key) = &req.key {
        check_placeholders(f, user_key, "--key").map_err(bad)?;
        for input in missing_inputs(f, &key, user_key) {
            warnings.push(format!("--key leaves out `{input}`: calls that differ only in it will share one cached value"));
        }
        key.template = user_key.clone();
    }
    for tag in &req.tags {
        check_placeholders(f, tag, "--tags").map_err(bad)?;
    }
    let outcome = decide(module, f, &purity, &key, req).map_err(bad)?;
    if !req.tags.is_empty()
        && let Outcome::Decorate(d) = &outcome
        && d.strategy == crate::decide::Strategy::Iterator
    {
        return Err(BadInput(format!(
            "{}: --tags: cache.iterator does not take tags",
            target.raw
        )));
    }
    warnings.extend(
        purity
            .effects
            .iter()
            .filter(|e| e.severity == "warn")
            .map(|e| format!("line {}: `{}`: {} ({})", e.line, e.code, e.note, e.category)),
    );
    let facts = FunctionFacts {
        qualname: qualname.clone(),
        line: f.line,
        is_async: f.is_async,
        is_generator: f.is_generator,
        kind: f.kind,
    };
    let mut result = TargetResult {
        target: target.raw.clone(),
        status: Status::Unchanged,
        message: String::new(),
        function: facts,
        purity,
        decision: None,
        key: None,
        ttl: None,
        tags: req.tags.clone(),
        warnings,
        decorators: Vec::new(),
    };
    let decision = match outcome {
        Outcome::Unchanged(message) => {
            result.message = format!("{qualname} {message}");
            return Ok((result, None));
        }
        Outcome::Refused(message) => {
            result.status = Status::Refused;
            result.message = format!("{qualname} {message}");
            return Ok((result, None));
        }
        Outcome::Decorate(d) => d,
    };
    let def_start = f.site.node.start_byte();
    let (cache_name, cache_import) = module.imports.ensure(src, "cashews", "cache", def_start);
    let (exceptions, exc_import) = if decision.strategy == crate::decide::Strategy::Failover {
        http_exception(module, def_start)
    } else {
        (String::new(), None)
    };
    let spelling = Spelling {
        cache: &cache_name,
        key: &key.template,
        tags: &req.tags,
        exceptions: &exceptions,
    };
    let lines = decorator_lines(&decision, &spelling);
    let edit =
        decorator_edit(src, f, &lines).map_err(|e| BadInput(format!("{}: {e}", target.raw)))?;
    result.status = Status::Changed;
    result.message = format!("{qualname}: add {}", lines.join(" over "));
    result.ttl = Some(format_ttl(decision.ttl));
    result.decorators = lines;
    result.decision = Some(decision);
    result.key = Some(key);
    Ok((
        result,
        Some((cache_import.into_iter().chain(exc_import).collect(), edit)),
    ))
}

/// A rewrite must never break a file: re-parse the result.
fn check_still_parses(src: &SourceFile, new_text: &str) -> Result<(), BadInput> {
    let broken =
        parse_tree(new_text).is_none_or(|tree| first_error(new_text, tree.root_node()).is_some());
    if broken {
        return Err(BadInput(format!(
            "{}: internal error: the edit would break the syntax; nothing written",
            src.path.display()
        )));
    }
    Ok(())
}
