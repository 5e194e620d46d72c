//! `cashews-add lint`: finds broken cashews usage in existing code.
//!
//! Files are walked in parallel (`.gitignore` respected). Each file is read
//! once; a file that never mentions `cashews` cannot import it and is
//! skipped before parsing. The rest are parsed and checked by the rules in
//! `rules/`, which reuse the rewrite's analysis. `--fix` applies the safe
//! fixes with the rewrite's edit machinery and re-checks until nothing
//! changes. CA402 (no setup anywhere) is decided once per project at the end.

pub(crate) mod files;
pub(crate) mod literal;
mod noqa;
pub(crate) mod project;
pub(crate) mod render;
pub(crate) mod rules;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ignore::WalkState;

use crate::decide::Request;
use crate::edit::{Edit, apply};
use crate::lint::files::{Configs, Resolved, RuleSet, Selection, check_selector, is_python};
use crate::lint::noqa::Noqa;
use crate::lint::project::Project;
use crate::lint::render::{FileError, LintFormat, Located, Report};
use crate::lint::rules::{Checker, Finding, Rule, ca402};
use crate::module::Module;
use crate::project::Index;
use crate::project::cashews::imports_cashews;
use crate::rewrite::Settings;
use crate::source::{BadInput, SourceFile, first_error, parse_tree};
use crate::{EXIT_FAILURE, EXIT_OK};

/// Check existing cashews usage: keys that miss inputs, sync functions,
/// side effects, bad TTLs, decorator order, setup URLs.
///
/// Exit codes: 0 no findings; 1 findings (or a file that could not be
/// linted); 2 bad input (a missing path, an unreadable or invalid config).
#[derive(Debug, clap::Args)]
pub(crate) struct LintArgs {
    /// Files or folders (default: the current folder). Folders are walked
    /// respecting .gitignore; files named here are always checked.
    #[arg(value_name = "PATH")]
    pub(crate) paths: Vec<PathBuf>,
    /// Output format (`--format` is an alias).
    #[arg(
        long = "output-format",
        alias = "format",
        value_enum,
        default_value = "text"
    )]
    pub(crate) format: LintFormat,
    /// Apply the safe fixes (CA204, CA401) in place; with --unsafe-fixes also
    /// the fixes that change a cache key (CA101, CA104).
    #[arg(long)]
    pub(crate) fix: bool,
    /// Also apply (with --fix or --diff) the fixes that change behaviour:
    /// a new key misses every value cached under the old one.
    #[arg(long)]
    pub(crate) unsafe_fixes: bool,
    /// Print the fixes as a unified diff and write nothing; exit 1 when a fix is due.
    #[arg(long, conflicts_with = "add_noqa")]
    pub(crate) diff: bool,
    /// Add a `# noqa: CODE` comment to silence every finding in place.
    #[arg(long, conflicts_with = "fix")]
    pub(crate) add_noqa: bool,
    /// Apply `exclude` (and the default excludes) to files named on the
    /// command line too, as pre-commit passes every staged file.
    #[arg(long)]
    pub(crate) force_exclude: bool,
    /// Only these rules (codes or prefixes, comma separated); replaces the config's `select`.
    #[arg(long, value_delimiter = ',', value_name = "CODE")]
    pub(crate) select: Vec<String>,
    /// Skip these rules (codes or prefixes, comma separated); added to the config's `ignore`.
    #[arg(long, value_delimiter = ',', value_name = "CODE")]
    pub(crate) ignore: Vec<String>,
    /// Exit 0 even with findings (bad input still exits 2).
    #[arg(long)]
    pub(crate) exit_zero: bool,
    /// Read [tool.cashews-add] from this file instead of the nearest pyproject.toml.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Count the findings per rule instead of listing them.
    #[arg(long)]
    pub(crate) statistics: bool,
    /// Print the findings and nothing else (no summary, no warnings).
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// The path of the source read from stdin (PATH `-`, or no PATH): where
    /// its configuration and project are looked up, and the name printed.
    #[arg(long, value_name = "PATH")]
    pub(crate) stdin_filename: Option<PathBuf>,
    /// Colour in the text output; `auto` colours a terminal unless NO_COLOR is set.
    #[arg(long, value_enum, default_value = "auto")]
    pub(crate) color: ColorWhen,
    /// Print the settings that apply to the first PATH (or the current folder) and exit.
    #[arg(long)]
    pub(crate) show_settings: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ColorWhen {
    Auto,
    Always,
    Never,
}

/// Print a lint rule's documentation.
#[derive(Debug, clap::Args)]
pub(crate) struct RuleArgs {
    /// A rule code such as CA101; without one, every rule is listed.
    pub(crate) code: Option<String>,
}

/// Fix rounds per file before giving up (a fix that re-triggers itself is a bug).
const MAX_FIX_ROUNDS: usize = 10;

pub(crate) fn rule(args: &RuleArgs, out: &mut dyn Write) -> Result<u8, BadInput> {
    let Some(code) = &args.code else {
        for r in Rule::ALL {
            let fix = match (r.fixable(), r.fix_is_safe()) {
                (false, _) => "",
                (true, true) => "  (--fix)",
                (true, false) => "  (--fix --unsafe-fixes)",
            };
            let _ = writeln!(out, "{}  {:<26}{}{fix}", r.code(), r.name(), r.summary());
        }
        return Ok(EXIT_OK);
    };
    let rule = Rule::from_code(code).ok_or_else(|| {
        BadInput(format!(
            "unknown rule {code:?}; `cashews-add rule` lists them (CA001 … CA502)"
        ))
    })?;
    let _ = write!(out, "# {} ({})\n\n{}", rule.code(), rule.name(), rule.doc());
    Ok(EXIT_OK)
}

/// What a run does to the files beyond reporting.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Mode {
    /// Compute the fixes (for --fix, --diff, or stdin's fixed text).
    pub(crate) fix: bool,
    /// Include the fixes that change a cache key.
    pub(crate) unsafe_fixes: bool,
    /// Compute `# noqa` comments for every finding.
    pub(crate) add_noqa: bool,
}

impl LintArgs {
    fn mode(&self) -> Mode {
        Mode {
            fix: self.fix || self.diff,
            unsafe_fixes: self.unsafe_fixes,
            add_noqa: self.add_noqa,
        }
    }

    /// Source comes from stdin: the path `-`, or no path and --stdin-filename.
    fn reads_stdin(&self) -> bool {
        match self.paths.as_slice() {
            [] => self.stdin_filename.is_some(),
            [one] => one.as_os_str() == "-",
            _ => false,
        }
    }

    /// Whether files are written: --fix or --add-noqa, not --diff, not stdin.
    fn writes(&self) -> bool {
        (self.fix || self.add_noqa) && !self.diff && !self.reads_stdin()
    }
}

pub(crate) fn run(
    args: &LintArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
    colour: bool,
) -> Result<u8, BadInput> {
    for s in &args.select {
        check_selector(s).map_err(|e| BadInput(format!("--select: {e}")))?;
    }
    for s in &args.ignore {
        check_selector(s).map_err(|e| BadInput(format!("--ignore: {e}")))?;
    }
    if args.paths.len() > 1 && args.paths.iter().any(|p| p.as_os_str() == "-") {
        return Err(BadInput("`-` (stdin) must be the only PATH".to_string()));
    }
    let stdin = args.reads_stdin();
    let paths: Vec<PathBuf> = if args.paths.is_empty() || stdin {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    for p in paths.iter().filter(|_| !stdin) {
        if std::fs::metadata(p).is_err() {
            return Err(BadInput(format!("{}: no such file or folder", p.display())));
        }
    }
    let configs = Configs::new(args.config.as_deref())?;
    let selection = Selection {
        select: args.select.clone(),
        ignore: args.ignore.clone(),
    };
    if args.show_settings {
        let path = match (&args.stdin_filename, stdin) {
            (Some(name), true) => name.clone(),
            _ => paths[0].clone(),
        };
        return show_settings(&path, &configs, &selection, out);
    }
    // As with --write: one writing run per project, from the first read on.
    let anchors: Vec<PathBuf> = paths
        .iter()
        .map(|p| {
            if p.is_dir() {
                p.join("__init__.py")
            } else {
                p.clone()
            }
        })
        .collect();
    let lock = if args.writes() {
        Some(crate::lock::ProjectLock::acquire(&anchors, err)?)
    } else {
        None
    };
    if !stdin {
        crate::note_interrupted_writes(lock.as_ref(), &anchors, err);
    }
    let sources = crate::project::Sources::default();
    let project = Project::new(&sources);
    let (outcomes, seen) = if stdin {
        (vec![lint_stdin(args, &configs, &selection, &project)?], 1)
    } else {
        walk(&paths, args, &configs, &selection, &project)?
    };
    let colour = match args.color {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => colour,
    };
    finish(
        outcomes,
        seen,
        args,
        lock.as_ref(),
        &project,
        colour,
        out,
        err,
    )
}

/// Lints the source on stdin as the file `--stdin-filename` names (`-` without it).
fn lint_stdin(
    args: &LintArgs,
    configs: &Configs,
    selection: &Selection,
    project: &Project,
) -> Result<Outcome, BadInput> {
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
        .map_err(|e| BadInput(format!("cannot read stdin: {e}")))?;
    let path = args
        .stdin_filename
        .clone()
        .unwrap_or_else(|| PathBuf::from("-"));
    let resolved = configs.for_path(&path, false)?;
    let excluded = args.force_exclude && resolved.excluded(&path, true);
    if excluded || !may_use_cashews(&bytes, &path, project) {
        // Nothing to check; the text still goes through unchanged.
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let mut outcome = Outcome::failed(path, None);
        outcome.stdin_text = Some(text);
        return Ok(outcome);
    }
    let rules = resolved.rules_for(&path, selection);
    let mut outcome = lint_file(&path, bytes.clone(), &resolved, rules, project, args.mode());
    outcome.stdin_text = Some(match &outcome.new_text {
        Some((_, new)) => new.clone(),
        None => String::from_utf8_lossy(&bytes).into_owned(),
    });
    Ok(outcome)
}

/// `--show-settings`: the configuration that applies to `path`, as TOML-ish lines.
fn show_settings(
    path: &Path,
    configs: &Configs,
    selection: &Selection,
    out: &mut dyn Write,
) -> Result<u8, BadInput> {
    let resolved = configs.for_path(path, path.is_dir())?;
    let config = &resolved.config;
    let file = config
        .file
        .as_deref()
        .map_or_else(|| "none (defaults)".to_string(), shown);
    let rules = resolved.rules_for(path, selection);
    let enabled: Vec<&str> = Rule::ALL
        .iter()
        .filter(|r| rules.enabled(**r))
        .map(|r| r.code())
        .collect();
    let o = &config.options;
    let list = |v: &[String]| format!("{v:?}");
    let lines = [
        format!("Resolved settings for: {}", shown(path)),
        format!("Settings path: {file}"),
        String::new(),
        format!("rules = {enabled:?}"),
        format!("select = {}", list(&o.select)),
        format!("ignore = {}", list(&o.ignore)),
        format!("cli.select = {}", list(&selection.select)),
        format!("cli.ignore = {}", list(&selection.ignore)),
        format!("exclude = {}", list(&o.exclude)),
        format!("default-excludes = {:?}", files::DEFAULT_EXCLUDES),
        format!("per-file-ignores = {:?}", o.per_file_ignores),
        format!("extra-handle-names = {}", list(&o.extra_handle_names)),
        format!("extra-handle-types = {}", list(&o.extra_handle_types)),
        format!("extra-secret-names = {}", list(&o.extra_secret_names)),
        format!(
            "extra-side-effects = {} pattern(s)",
            o.extra_side_effects.len()
        ),
        format!("default-ttl = {:?}", o.default_ttl),
        format!("backend-url = {:?}", o.backend_url),
    ];
    for line in lines {
        let _ = writeln!(out, "{line}");
    }
    Ok(EXIT_OK)
}

/// Whether the file may hold a cashews decorator: a line imports cashews
/// (phase 1, a byte scan), or an import line names one of the project's
/// own cashews objects (phase 2, `from app.caching import cache`; the
/// project's exporters are found once per project). Other files are never
/// parsed.
fn may_use_cashews(bytes: &[u8], path: &Path, project: &Project) -> bool {
    imports_cashews(bytes) || project.index(path).may_import_project_cashews(bytes)
}

/// What linting one file produced.
struct Outcome {
    path: PathBuf,
    findings: Vec<Located>,
    error: Option<FileError>,
    /// A cashews decorator that needs a backend.
    cached: bool,
    /// Where CA402 would go in this file (enabled and not silenced there).
    setup_candidate: Option<Located>,
    has_setup: bool,
    fixed: usize,
    /// The text read and the new one (BOM included) when --fix changed the file.
    new_text: Option<(String, String)>,
    /// For stdin: the text to print back with --fix (fixed or as read).
    stdin_text: Option<String>,
}

fn walk(
    paths: &[PathBuf],
    args: &LintArgs,
    configs: &Configs,
    selection: &Selection,
    project: &Project,
) -> Result<(Vec<Outcome>, usize), BadInput> {
    let outcomes: Mutex<Vec<Outcome>> = Mutex::new(Vec::new());
    // Python files found, linted or not: none at all is worth saying.
    let seen = std::sync::atomic::AtomicUsize::new(0);
    let failure: Mutex<Option<BadInput>> = Mutex::new(None);
    let fail = |e: BadInput| {
        failure
            .lock()
            .expect("no panics while held")
            .get_or_insert(e);
        WalkState::Quit
    };
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut builder = files::walker(paths);
    builder.threads(threads);
    builder.build_parallel().run(|| {
        Box::new(|entry| {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    let error = FileError {
                        path: String::new(),
                        line: 0,
                        column: 0,
                        message: e.to_string(),
                    };
                    outcomes
                        .lock()
                        .expect("no panics while held")
                        .push(Outcome::failed(PathBuf::new(), error));
                    return WalkState::Continue;
                }
            };
            let path = entry.path();
            let explicit = entry.depth() == 0;
            if entry.file_type().is_some_and(|t| t.is_dir()) {
                if explicit {
                    return WalkState::Continue;
                }
                return match configs.for_path(path, true) {
                    Ok(r) if r.excluded(path, false) => WalkState::Skip,
                    Ok(_) => WalkState::Continue,
                    Err(e) => fail(e),
                };
            }
            if !explicit && !is_python(path) {
                return WalkState::Continue;
            }
            seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let bytes = match crate::file::read(path) {
                Ok(b) => b,
                Err(e) => {
                    let error = FileError {
                        path: shown(path),
                        line: 1,
                        column: 1,
                        message: format!("{}; not linted", e.0),
                    };
                    outcomes
                        .lock()
                        .expect("no panics while held")
                        .push(Outcome::failed(path.to_path_buf(), error));
                    return WalkState::Continue;
                }
            };
            if !may_use_cashews(&bytes, path, project) {
                return WalkState::Continue;
            }
            let resolved = match configs.for_path(path, false) {
                Ok(r) => r,
                Err(e) => return fail(e),
            };
            if (!explicit || args.force_exclude) && resolved.excluded(path, explicit) {
                return WalkState::Continue;
            }
            let rules = resolved.rules_for(path, selection);
            let outcome = lint_file(path, bytes, &resolved, rules, project, args.mode());
            outcomes.lock().expect("no panics while held").push(outcome);
            WalkState::Continue
        })
    });
    if let Some(e) = failure.into_inner().expect("no panics while held") {
        return Err(e);
    }
    let mut outcomes = outcomes.into_inner().expect("no panics while held");
    // The same file named twice (or a file and its folder) is linted once.
    outcomes.sort_by_cached_key(|o| std::path::absolute(&o.path).unwrap_or_default());
    outcomes.dedup_by(|a, b| {
        !a.path.as_os_str().is_empty()
            && std::path::absolute(&a.path).ok() == std::path::absolute(&b.path).ok()
    });
    Ok((outcomes, seen.into_inner()))
}

#[allow(clippy::too_many_arguments)]
fn finish(
    mut outcomes: Vec<Outcome>,
    seen: usize,
    args: &LintArgs,
    lock: Option<&crate::lock::ProjectLock>,
    project: &Project,
    colour: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, BadInput> {
    let mut project_findings = missing_setup(&outcomes, project);
    if args.add_noqa {
        silence_project_findings(&mut outcomes, &project_findings);
        project_findings.clear();
    }
    if let Some(lock) = lock {
        let changed: Vec<crate::write::FileWrite> = outcomes
            .iter()
            .filter_map(|o| {
                let (old, new) = o.new_text.as_ref()?;
                Some(crate::write::FileWrite {
                    path: &o.path,
                    old: old.as_bytes(),
                    new: new.as_bytes(),
                })
            })
            .collect();
        crate::write::write_all(&changed, &lock.roots[0])?;
    }
    if args.diff {
        return Ok(print_diff(&outcomes, args, out, err));
    }
    // Stdin with --fix: the fixed source is the output, the report goes to stderr.
    let stdin_fixed = outcomes
        .iter()
        .find_map(|o| o.stdin_text.clone())
        .filter(|_| args.fix);
    if let Some(text) = &stdin_fixed {
        let _ = write!(out, "{text}");
    }
    let mut findings: Vec<Located> = project_findings;
    let mut errors = Vec::new();
    let mut fixed = 0;
    for o in &mut outcomes {
        findings.append(&mut o.findings);
        errors.extend(o.error.take());
        fixed += o.fixed;
    }
    findings.sort();
    errors.sort();
    if args.add_noqa {
        if !args.quiet {
            let _ = writeln!(err, "Added {fixed} noqa directive(s).");
        }
        render::errors_text(&errors, err);
        return Ok(exit_code(!errors.is_empty(), args));
    }
    let report = Report {
        findings,
        errors,
        fixed,
        root: repository_root(),
        no_files: seen == 0,
    };
    let style = render::Style {
        statistics: args.statistics,
        quiet: args.quiet,
        unsafe_fixes: args.unsafe_fixes,
        colour,
    };
    if stdin_fixed.is_some() {
        let mut shown = Vec::new();
        render::render(args.format, &style, &report, &mut shown, err);
        let _ = err.write_all(&shown);
    } else {
        render::render(args.format, &style, &report, out, err);
    }
    let problems = !report.findings.is_empty() || !report.errors.is_empty();
    Ok(exit_code(problems, args))
}

/// `--add-noqa` for CA402, found once the whole run is known: a
/// `# noqa: CA402` on the decorator line it points at.
fn silence_project_findings(outcomes: &mut [Outcome], findings: &[Located]) {
    for f in findings {
        let Some(o) = outcomes.iter_mut().find(|o| shown(&o.path) == f.path) else {
            continue;
        };
        let (old, text) = match o.new_text.take() {
            Some(pair) => pair,
            None => match std::fs::read_to_string(&o.path) {
                Ok(text) => (text.clone(), text),
                Err(_) => continue,
            },
        };
        let new = noqa::append_code(&text, f.line, f.rule.code());
        if parses(new.strip_prefix('\u{feff}').unwrap_or(&new)) {
            o.fixed += 1;
            o.new_text = Some((old, new));
        } else {
            o.new_text = (old != text).then_some((old, text));
        }
    }
}

fn exit_code(problems: bool, args: &LintArgs) -> u8 {
    if problems && !args.exit_zero {
        EXIT_FAILURE
    } else {
        EXIT_OK
    }
}

/// `--diff`: each file the fixes would change as a unified diff; exit 1
/// when there is one (as `ruff check --diff`), 2-style errors on stderr.
fn print_diff(
    outcomes: &[Outcome],
    args: &LintArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let mut fixed = 0;
    let mut errors = Vec::new();
    for o in outcomes {
        errors.extend(o.error.clone());
        let Some((old, new)) = &o.new_text else {
            continue;
        };
        fixed += o.fixed;
        let old = old.strip_prefix('\u{feff}').unwrap_or(old);
        let new = new.strip_prefix('\u{feff}').unwrap_or(new);
        let path = PathBuf::from(shown(&o.path));
        let diff = crate::render::unified_diff_in(None, &path, old, new);
        let _ = write!(out, "{diff}");
    }
    render::errors_text(&errors, err);
    if !args.quiet {
        let _ = match fixed {
            0 => writeln!(err, "No fixes to apply."),
            n => writeln!(err, "Would fix {n} finding(s)."),
        };
    }
    exit_code(fixed > 0 || !errors.is_empty(), args)
}

/// CA402, once per project root: cached functions, no setup in any linted
/// file of that root, and none in the rest of the project either.
fn missing_setup(outcomes: &[Outcome], project: &Project) -> Vec<Located> {
    let mut roots: BTreeMap<PathBuf, Vec<&Outcome>> = BTreeMap::new();
    for o in outcomes.iter().filter(|o| o.error.is_none()) {
        roots.entry(Project::root_of(&o.path)).or_default().push(o);
    }
    let mut found = Vec::new();
    for (root, group) in roots {
        if !group.iter().any(|o| o.cached) || group.iter().any(|o| o.has_setup) {
            continue;
        }
        let Some(candidate) = group.iter().find_map(|o| o.setup_candidate.clone()) else {
            continue;
        };
        if project.has_setup(&root) {
            continue;
        }
        let shown_root = shown(&root);
        let shown_root = if shown_root.is_empty() {
            ".".to_string()
        } else {
            shown_root
        };
        found.push(Located {
            message: ca402::message(&shown_root),
            ..candidate
        });
    }
    found
}

impl Outcome {
    fn failed(path: PathBuf, error: impl Into<Option<FileError>>) -> Outcome {
        Outcome {
            path,
            findings: Vec::new(),
            error: error.into(),
            cached: false,
            setup_candidate: None,
            has_setup: false,
            fixed: 0,
            new_text: None,
            stdin_text: None,
        }
    }
}

/// Lints one file, applying fixes round by round when asked.
fn lint_file(
    path: &Path,
    bytes: Vec<u8>,
    resolved: &Resolved,
    rules: RuleSet,
    project: &Project,
    mode: Mode,
) -> Outcome {
    let error = |line: usize, column: usize, message: String| {
        Outcome::failed(
            path.to_path_buf(),
            FileError {
                path: shown(path),
                line,
                column,
                message,
            },
        )
    };
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            return error(
                1,
                1,
                format!(
                    "not UTF-8 (invalid byte at offset {}); not linted",
                    e.utf8_error().valid_up_to()
                ),
            );
        }
    };
    // What --write checks the file still holds before replacing it.
    let original = (mode.fix || mode.add_noqa).then(|| text.clone());
    let (bom, mut text) = match text.strip_prefix('\u{feff}') {
        Some(rest) => (true, rest.to_string()),
        None => (false, text),
    };
    let settings = Settings::new(&Request::default(), &resolved.config);
    let mut fixed = 0;
    let mut changed = false;
    let mut round = 0;
    loop {
        let src = match parse(path, &text, bom) {
            Ok(src) => src,
            Err((line, column, what)) => {
                return error(line, column, format!("{what}; not linted"));
            }
        };
        let index = project.index(path);
        let module = if round == 0 {
            index.insert(src)
        } else {
            index.insert_version(src)
        };
        let src = module.src;
        let checked = check(index, module, &settings, rules);
        if mode.add_noqa {
            let (new, added) = noqa::add_comments(src, &checked.findings);
            let new_text = original
                .filter(|_| added > 0 && parses(&new))
                .map(|old| (old, src.full_text(&new)));
            let added = if new_text.is_some() { added } else { 0 };
            return checked.into_outcome(src, added, new_text);
        }
        let fixes: Vec<&Finding> = checked
            .findings
            .iter()
            .filter(|f| mode.fix && round < MAX_FIX_ROUNDS && applies(f, mode))
            .collect();
        let next = (!fixes.is_empty())
            .then(|| apply_fixes(&text, &fixes))
            .flatten()
            .filter(|(new, _)| parses(new));
        let Some((new_text, applied)) = next else {
            let new_text = original
                .filter(|_| changed)
                .map(|old| (old, src.full_text(&src.text)));
            return checked.into_outcome(src, fixed, new_text);
        };
        fixed += applied;
        changed = true;
        text = new_text;
        round += 1;
    }
}

/// Whether the run applies this finding's fix: safe ones always, unsafe
/// ones (they change a cache key) with --unsafe-fixes.
fn applies(f: &Finding, mode: Mode) -> bool {
    f.fix.is_some() && (mode.unsafe_fixes || f.rule.fix_is_safe())
}

/// The non-overlapping fixes, in order; ruff's rule: skip a fix that starts
/// before the previous one ended (the next round picks it up).
fn apply_fixes(text: &str, fixes: &[&Finding]) -> Option<(String, usize)> {
    let mut ordered: Vec<Vec<Edit>> = fixes
        .iter()
        .filter_map(|f| f.fix.clone())
        .filter(|edits| !edits.is_empty())
        .collect();
    ordered.sort_by_key(|edits| edits.iter().map(|e| e.start).min());
    let mut chosen: Vec<Edit> = Vec::new();
    let mut last_end = 0;
    let mut applied = 0;
    for edits in ordered {
        let start = edits.iter().map(|e| e.start).min().unwrap_or(0);
        let end = edits.iter().map(|e| e.end).max().unwrap_or(0);
        if start < last_end {
            continue;
        }
        last_end = end;
        chosen.extend(edits);
        applied += 1;
    }
    let new = apply(text, &chosen).ok()?;
    (new != text).then_some((new, applied))
}

/// The file parsed, or the first syntax error (line, column, what).
fn parse(path: &Path, text: &str, bom: bool) -> Result<SourceFile, (usize, usize, String)> {
    crate::source::check_encoding_declaration(text, bom).map_err(|e| (1, 1, e))?;
    let tree = parse_tree(text).ok_or((1, 1, "the parser gave up".to_string()))?;
    if let Some(problem) = first_error(text, tree.root_node()) {
        let at = problem.offset;
        let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        return Err((
            text[..at].matches('\n').count() + 1,
            text[line_start..at].chars().count() + 1,
            problem.what.to_string(),
        ));
    }
    Ok(SourceFile {
        path: path.to_path_buf(),
        text: text.to_string(),
        bom,
        tree,
    })
}

fn parses(text: &str) -> bool {
    parse_tree(text).is_some_and(|t| first_error(text, t.root_node()).is_none())
}

/// Findings as (rule, line), and the text `--fix` made, if it changed any.
#[cfg(test)]
pub(crate) type Linted = (Vec<(Rule, usize)>, Option<String>);

/// `lint` and `lint --fix` on one parsed file, every rule on, with the
/// default config and no project around it: the findings, then the text
/// `--fix` makes (BOM included; None when no fix applies). Unlike the
/// command, a fixable finding left after `--fix` (its fix would break the
/// syntax, or the fixes never settle) is an error. The fuzz harness drives
/// the lint through it.
#[cfg(test)]
pub(crate) fn lint_text(src: &SourceFile) -> Result<Linted, String> {
    // A path in no project: class lookups find no neighbour files.
    let path = Path::new("/nonexistent-cashews-add-fuzz/fuzz.py");
    let resolved =
        Resolved::new(crate::config::Config::default(), PathBuf::from("/")).map_err(|e| e.0)?;
    let sources = crate::project::Sources::default();
    let project = Project::new(&sources);
    let bytes = src.full_text(&src.text).into_bytes();
    let lint = |fix| {
        let mode = Mode {
            fix,
            unsafe_fixes: true,
            add_noqa: false,
        };
        lint_file(
            path,
            bytes.clone(),
            &resolved,
            RuleSet::all(),
            &project,
            mode,
        )
    };
    let (found, fixed) = (lint(false), lint(true));
    if let Some(e) = found.error.or(fixed.error) {
        return Err(format!("lint: line {}: {}", e.line, e.message));
    }
    if let Some(left) = fixed.findings.iter().find(|f| f.fixable) {
        return Err(format!(
            "lint --fix: {} on line {} is still there (its fix breaks the syntax, or the fixes never settle)",
            left.rule.code(),
            left.line
        ));
    }
    let findings = found.findings.iter().map(|f| (f.rule, f.line)).collect();
    Ok((findings, fixed.new_text.map(|(_, new)| new)))
}

/// The lint's findings in one module with the rules `rules` enables, each
/// as (rule, start byte, message): what `scan` shows beside a cached function.
pub(crate) fn module_findings<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    config: &crate::config::Config,
    rules: RuleSet,
) -> Vec<(Rule, usize, String)> {
    let settings = Settings::new(&Request::default(), config);
    check(index, module, &settings, rules)
        .findings
        .into_iter()
        .map(|f| (f.rule, f.start, f.message))
        .collect()
}

struct Checked {
    findings: Vec<Finding>,
    cached: bool,
    setup_candidate: Option<(usize, usize)>,
    has_setup: bool,
}

fn check<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    settings: &Settings,
    rules: RuleSet,
) -> Checked {
    let src = module.src;
    let cached = rules::cached_functions(index, module, index.cashews(module), settings);
    let mut ck = Checker {
        module,
        settings,
        index,
        rules,
        findings: Vec::new(),
    };
    rules::check_module(&mut ck, &cached);
    let noqa = Noqa::parse(&src.text);
    if rules.enabled(Rule::CA001) {
        ck.findings.extend(noqa.invalid_findings());
    }
    let findings: Vec<Finding> = ck
        .findings
        .into_iter()
        .filter(|f| !noqa.silences(f.rule, &f.noqa))
        .collect();
    let needing: Vec<&rules::Cached> = cached
        .iter()
        .filter(|c| c.decos.iter().any(|d| ca402::needs_setup(module, d)))
        .collect();
    let setup_candidate = needing
        .iter()
        .filter(|_| rules.enabled(Rule::CA402))
        .find(|c| !noqa.silences(Rule::CA402, &c.noqa))
        .and_then(|c| c.decos.iter().find(|d| ca402::needs_setup(module, d)))
        .map(|d| (d.node.start_byte(), d.node.end_byte()));
    Checked {
        findings,
        cached: !needing.is_empty(),
        setup_candidate,
        has_setup: !ca402::setup_calls(module, index.cashews(module)).is_empty(),
    }
}

impl Checked {
    fn into_outcome(
        self,
        src: &SourceFile,
        fixed: usize,
        new_text: Option<(String, String)>,
    ) -> Outcome {
        let lines = LineIndex::new(&src.text);
        let path = shown(&src.path);
        let locate = |rule: Rule, start: usize, end: usize, message: String, fixable: bool| {
            let (line, column) = lines.position(&src.text, start);
            let (end_line, end_column) = lines.position(&src.text, end);
            Located {
                path: path.clone(),
                line,
                column,
                rule,
                end_line,
                end_column,
                message,
                fixable,
            }
        };
        let findings = self
            .findings
            .into_iter()
            .map(|f| locate(f.rule, f.start, f.end, f.message, f.fix.is_some()))
            .collect();
        let setup_candidate = self
            .setup_candidate
            .map(|(start, end)| locate(Rule::CA402, start, end, String::new(), false));
        Outcome {
            path: src.path.clone(),
            findings,
            error: None,
            cached: self.cached,
            setup_candidate,
            has_setup: self.has_setup,
            fixed,
            new_text,
            stdin_text: None,
        }
    }
}

/// Byte offsets to 1-based lines and character columns.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1));
        LineIndex { starts }
    }

    fn position(&self, text: &str, offset: usize) -> (usize, usize) {
        let line = self.starts.partition_point(|s| *s <= offset);
        let start = self.starts[line - 1];
        (line, text[start..offset].chars().count() + 1)
    }
}

/// A path as findings show it (for messages naming another file).
pub(crate) fn shown_path(path: &Path) -> String {
    shown(path)
}

/// A path relative to the current folder when below it, else as absolute.
fn shown(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let relative = std::env::current_dir()
        .ok()
        .and_then(|cwd| absolute.strip_prefix(cwd).ok().map(Path::to_path_buf));
    match relative {
        Some(r) => r.to_string_lossy().replace('\\', "/"),
        None => absolute.to_string_lossy().into_owned(),
    }
}

/// The repository root (the nearest folder above the current one with a
/// `.git`), where SARIF paths start; the current folder outside git.
fn repository_root() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_default();
    cwd.ancestors()
        .find(|d| d.join(".git").exists())
        .unwrap_or(&cwd)
        .to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_importing_cashews_are_parsed() {
        assert!(imports_cashews(b"from cashews import cache\n"));
        assert!(imports_cashews(b"x = 1\nimport os, cashews\n"));
        assert!(imports_cashews(b"from cashews.wrapper import Cache"));
        assert!(!imports_cashews(b"# uses cashews\nimport os\n"));
        assert!(!imports_cashews(b"from .wrapper import Cache\n"));
    }

    #[test]
    fn positions_count_characters() {
        let text = "ab\né🙂x\n";
        let idx = LineIndex::new(text);
        assert_eq!(idx.position(text, 0), (1, 1));
        assert_eq!(idx.position(text, 3), (2, 1));
        assert_eq!(idx.position(text, text.find('x').unwrap()), (2, 3));
        assert_eq!(idx.position(text, text.len()), (3, 1));
    }
}
