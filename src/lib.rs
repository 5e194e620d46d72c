//! cashews-add: adds cashews caching to Python code the way a careful
//! engineer would, and lints existing cashews usage.
//!
//! Pipeline: source (parse) -> locate -> function/purity/key (analyse) ->
//! decide -> plan (edits) -> render / write.

mod cashews;
mod catalogue;
mod config;
mod decide;
mod deps;
mod edit;
mod file;
mod function;
#[cfg(test)]
mod fuzz;
mod imports;
mod invalidate;
mod isort;
mod journal;
mod key;
mod lint;
mod locate;
mod lock;
mod module;
mod plan;
mod project;
mod prove;
mod purity;
mod queries;
mod render;
mod rewrite;
mod scan;
mod setup;
mod source;
mod storable;
mod tags;
mod wrap;
mod write;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};

use crate::decide::{Request, Strategy};
use crate::rewrite::{Report, Status, Target};
use crate::source::BadInput;

/// Exit codes (see CONTRACT.md): success, findings/refusals/changes due, bad input.
pub(crate) const EXIT_OK: u8 = 0;
pub(crate) const EXIT_FAILURE: u8 = 1;
pub(crate) const EXIT_BAD_INPUT: u8 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// Add a cashews cache decorator to async Python functions.
///
/// Prints a unified diff by default; --write applies it.
/// Exit codes: 0 every target changed or already cached; 1 a target was refused
/// (or --check found a change due); 2 bad input (nothing is written).
#[derive(Debug, Parser)]
#[command(
    name = "cashews-add",
    version,
    about,
    long_about,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// FILE::FUNCTION or FILE::Class.method; several may be given.
    #[arg(required = true, value_name = "TARGET")]
    targets: Vec<String>,
    /// Time to live in cashews' grammar: 30s, 5m, 2h5m30s, 1d, or seconds.
    #[arg(long)]
    ttl: Option<String>,
    /// Key template; every placeholder must name a parameter.
    #[arg(long)]
    key: Option<String>,
    /// Override the decision tree.
    #[arg(long, value_enum)]
    strategy: Option<Strategy>,
    /// Tags for invalidation, comma separated (placeholders must be parameters).
    #[arg(long, value_delimiter = ',')]
    tags: Vec<String>,
    /// Apply the edits in place (atomically).
    #[arg(long, conflicts_with = "check")]
    write: bool,
    /// Change nothing; exit 1 when a change is due.
    #[arg(long)]
    check: bool,
    /// Cache even when the function has side effects that block caching.
    #[arg(long)]
    force: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Add no cache.setup(...) to the project (the dependency is still added).
    #[arg(long, conflicts_with = "setup_in")]
    no_setup: bool,
    /// Put cache.setup(...) in this module instead of the one the tool picks.
    #[arg(long, value_name = "FILE")]
    setup_in: Option<std::path::PathBuf>,
    /// Default backend URL in the generated setup (CACHE_URL overrides it at run time).
    #[arg(long, value_name = "URL")]
    backend_url: Option<String>,
    /// Skip the search for the project's functions that write what a target reads.
    #[arg(long)]
    no_invalidate: bool,
    /// Write a pytest file per cached target into the project's tests: a
    /// repeat call is a hit, another input misses.
    #[arg(long)]
    emit_test: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    Lint(lint::LintArgs),
    Rule(lint::RuleArgs),
    /// What in this project is worth caching, what to review, what must never be.
    Scan(scan::ScanArgs),
}

/// Runs the command line; the testable entry point behind `main`.
pub fn run(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let stdout = std::io::stdout();
    // anstream's answer for stdout: a terminal, NO_COLOR unset, TERM not dumb,
    // CLICOLOR / CLICOLOR_FORCE honoured.
    let colour = anstream::AutoStream::choice(&stdout) != anstream::ColorChoice::Never;
    let code = run_with(
        args,
        &mut stdout.lock(),
        &mut std::io::stderr().lock(),
        colour,
    );
    ExitCode::from(code)
}

/// `run` with its streams given: what tests call in-process.
#[doc(hidden)]
pub fn run_with(
    args: impl IntoIterator<Item = OsString>,
    out: &mut dyn Write,
    err: &mut dyn Write,
    colour: bool,
) -> u8 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                EXIT_BAD_INPUT
            } else {
                EXIT_OK
            };
            let _ = if e.use_stderr() {
                write!(err, "{}", e.render())
            } else {
                write!(out, "{}", e.render())
            };
            return code;
        }
    };
    let result = match &cli.command {
        Some(Command::Lint(args)) => lint::run(args, out, err, colour),
        Some(Command::Rule(args)) => lint::rule(args, out),
        Some(Command::Scan(args)) => scan::run(args, out, err, colour),
        None => add(&cli, out, err, colour),
    };
    match result {
        Ok(code) => code,
        Err(BadInput(message)) => {
            let _ = writeln!(err, "error: {}", one_line(&message));
            EXIT_BAD_INPUT
        }
    }
}

/// Longest error line printed, in characters.
const MAX_ERROR_CHARS: usize = 600;
/// Longest run of non-blank characters kept whole (a path, a quoted target).
const MAX_WORD_CHARS: usize = 160;

/// A bad-input message as one line of bounded length: line breaks (a regex
/// or TOML error) become spaces, control characters are escaped, a huge
/// word (a 100,000-character target) keeps its ends, and the line is capped.
fn one_line(message: &str) -> String {
    let words: Vec<String> = message.split_whitespace().map(short_word).collect();
    let line = words.join(" ");
    if line.chars().count() <= MAX_ERROR_CHARS {
        return line;
    }
    let kept: String = line.chars().take(MAX_ERROR_CHARS).collect();
    format!("{kept}… (cut)")
}

fn short_word(word: &str) -> String {
    let escaped: String = word
        .chars()
        .flat_map(|c| {
            if c.is_control() {
                format!("\\u{{{:x}}}", c as u32).chars().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect();
    let count = escaped.chars().count();
    if count <= MAX_WORD_CHARS {
        return escaped;
    }
    let head: String = escaped.chars().take(MAX_WORD_CHARS / 2).collect();
    let tail: String = escaped.chars().skip(count - MAX_WORD_CHARS / 4).collect();
    format!(
        "{head}…[{} characters]…{tail}",
        count - MAX_WORD_CHARS / 2 - MAX_WORD_CHARS / 4
    )
}

/// The options that need no file, checked before anything is read, so that
/// a bad one is refused whatever the targets turn out to be.
fn check_options(cli: &Cli) -> Result<(), BadInput> {
    if let Some(ttl) = &cli.ttl {
        cashews::parse_ttl(ttl).map_err(|e| BadInput(format!("--ttl: {e}")))?;
    }
    if let Some(key) = &cli.key {
        cashews::parse_template(key).map_err(|e| BadInput(format!("--key {key:?}: {e}")))?;
    }
    for tag in &cli.tags {
        cashews::parse_template(tag).map_err(|e| BadInput(format!("--tags {tag:?}: {e}")))?;
    }
    if let Some(url) = &cli.backend_url {
        setup::check_url(url, "--backend-url")?;
    }
    if let Some(file) = &cli.setup_in
        && file.extension().is_none_or(|e| e != "py")
    {
        return Err(BadInput(format!(
            "--setup-in {}: not a Python module (a .py file)",
            file.display()
        )));
    }
    Ok(())
}

fn add(cli: &Cli, out: &mut dyn Write, err: &mut dyn Write, colour: bool) -> Result<u8, BadInput> {
    check_options(cli)?;
    let targets: Vec<Target> = cli
        .targets
        .iter()
        .map(|t| Target::parse(t))
        .collect::<Result<_, _>>()?;
    let request = Request {
        ttl: cli.ttl.clone(),
        key: cli.key.clone(),
        strategy: cli.strategy,
        tags: cli
            .tags
            .iter()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect(),
        force: cli.force,
        invalidate: !cli.no_invalidate,
    };
    let project = rewrite::ProjectOptions {
        no_setup: cli.no_setup,
        setup_in: cli.setup_in.clone(),
        backend_url: cli.backend_url.clone(),
        emit_test: cli.emit_test,
    };
    let files: Vec<std::path::PathBuf> = targets.iter().map(|t| t.file.clone()).collect();
    // Held from before the first read to after the last write.
    let lock = if cli.write {
        Some(lock::ProjectLock::acquire(&files, err)?)
    } else {
        None
    };
    note_interrupted_writes(lock.as_ref(), &files, err);
    let report = rewrite::plan(&targets, &request, &project)?;
    let paths: Vec<&std::path::Path> = report.changes.iter().map(|c| c.path.as_path()).collect();
    let base = render::diff_base(&paths);
    let diff_shown = cli.format == Format::Json || !(cli.write || cli.check);
    if let Some(base) = base.as_ref().filter(|_| diff_shown) {
        let _ = writeln!(
            err,
            "note: a changed file is outside the current folder, so the diff's paths are relative to {0}: apply it with `git -C {0} apply`",
            base.display()
        );
    }
    let diff: String = report
        .changes
        .iter()
        .map(|c| render::unified_diff_in(base.as_deref(), &c.path, &c.old, &c.new))
        .collect();
    if let Some(lock) = &lock {
        let writes: Vec<write::FileWrite> = report
            .changes
            .iter()
            .map(|c| write::FileWrite {
                path: &c.path,
                old: c.old.as_bytes(),
                new: c.new.as_bytes(),
            })
            .collect();
        write::write_all_creating(&writes, &lock.roots[0])?;
        if report.setup.status == setup::SetupStatus::Added
            && let Some(url) = &report.setup.url
            && let Some(warning) = setup::prepare_disk_folder(url)
        {
            let _ = writeln!(err, "warning: {warning}");
        }
    }
    match cli.format {
        Format::Json => print_json(&report, &diff, out),
        Format::Text => print_text(cli, &report, &diff, out, err, colour),
    }
    Ok(exit_code(cli, &report))
}

/// A writing run (holding the lock) finishes or undoes what a killed run
/// left; any other run only says that one is pending.
pub(crate) fn note_interrupted_writes(
    lock: Option<&lock::ProjectLock>,
    files: &[std::path::PathBuf],
    err: &mut dyn Write,
) {
    match lock {
        Some(lock) => {
            for note in lock.roots.iter().flat_map(|r| journal::recover(r)) {
                let _ = writeln!(err, "note: {note}");
            }
        }
        None => {
            let mut roots: Vec<_> = files.iter().map(|f| lock::root_for(f)).collect();
            roots.sort();
            roots.dedup();
            for root in roots.iter().filter(|r| journal::pending(r)) {
                let _ = writeln!(
                    err,
                    "warning: a cashews-add write in {} was interrupted; the next run that writes (--write, lint --fix) finishes it",
                    root.display()
                );
            }
        }
    }
}

fn exit_code(cli: &Cli, report: &Report) -> u8 {
    let refused = report
        .results
        .iter()
        .any(|r| matches!(r.status, Status::Refused | Status::Review));
    if refused || (cli.check && !report.changes.is_empty()) {
        EXIT_FAILURE
    } else {
        EXIT_OK
    }
}

fn print_json(report: &Report, diff: &str, out: &mut dyn Write) {
    let doc = serde_json::json!({
        "results": report.results,
        "setup": report.setup,
        "dependency": report.dependency,
        "tests": report.tests,
        "diff": diff,
    });
    let _ = writeln!(
        out,
        "{}",
        serde_json::to_string_pretty(&doc).expect("plain data serialises")
    );
}

fn print_text(
    cli: &Cli,
    report: &Report,
    diff: &str,
    out: &mut dyn Write,
    err: &mut dyn Write,
    colour: bool,
) {
    if !cli.check && !cli.write {
        let _ = write!(
            out,
            "{}",
            if colour {
                render::colour_diff(diff)
            } else {
                diff.to_string()
            }
        );
    }
    for r in &report.results {
        let status = match (r.status, cli.write, cli.check) {
            (Status::Changed, true, _) => "changed",
            (Status::Changed, false, true) => "would change",
            (Status::Changed, false, false) => "to change",
            (Status::Unchanged, ..) => "unchanged",
            (Status::Refused, ..) => "refused",
            (Status::Review, ..) => "review",
        };
        let _ = writeln!(err, "{}: {status}: {}", r.target, r.message);
        for w in &r.warnings {
            let _ = writeln!(err, "  warning: {w}");
        }
        if let Some(inv) = &r.invalidation {
            for w in &inv.writers {
                let _ = writeln!(
                    err,
                    "  writer: {} line {} `{}`{} ({})",
                    w.target, w.line, w.code, w.via, w.resource
                );
            }
            for e in &inv.edits {
                let _ = if e.code.is_empty() {
                    writeln!(err, "  invalidate: {}: not edited: {}", e.writer, e.why)
                } else {
                    writeln!(
                        err,
                        "  invalidate: {}: `{}` after line {} ({})",
                        e.writer, e.code, e.after_line, e.why
                    )
                };
            }
            if let Some(note) = &inv.note {
                let _ = writeln!(err, "  note: {note}");
            }
        }
        if let Some(t) = &r.test {
            let word = match (t.status, cli.write, cli.check) {
                (setup::conftest::TestsStatus::Added, true, _) => "added",
                (setup::conftest::TestsStatus::Added, false, true) => "would add",
                (setup::conftest::TestsStatus::Added, false, false) => "to add",
                (setup::conftest::TestsStatus::Present, ..) => "present",
                (setup::conftest::TestsStatus::Skipped, ..) => "skipped",
            };
            let _ = writeln!(err, "  test: {word}: {}", t.message);
        }
    }
    let due = |added: bool| match (added, cli.write, cli.check) {
        (false, ..) => None,
        (true, true, _) => Some("added"),
        (true, false, true) => Some("would add"),
        (true, false, false) => Some("to add"),
    };
    let setup = &report.setup;
    let word = due(setup.status == setup::SetupStatus::Added).unwrap_or(match setup.status {
        setup::SetupStatus::Present => "present",
        setup::SetupStatus::Library => "library",
        _ => "skipped",
    });
    let _ = writeln!(err, "setup: {word}: {}", setup.message);
    for w in &setup.warnings {
        let _ = writeln!(err, "  warning: {w}");
    }
    if let Some(disk) = &setup.disk {
        let _ = writeln!(err, "  note: {}", disk.note);
    }
    let dep = &report.dependency;
    let update = match (cli.write, cli.check) {
        (true, _) => "updated",
        (false, true) => "would update",
        (false, false) => "to update",
    };
    let word = due(dep.status == deps::DepStatus::Added).unwrap_or(match dep.status {
        deps::DepStatus::Present => "present",
        deps::DepStatus::Manual => "install it yourself",
        deps::DepStatus::Updated => update,
        _ => "skipped",
    });
    let _ = writeln!(err, "dependency: {word}: {}", dep.message);
    let tests = &report.tests;
    let word =
        due(tests.status == setup::conftest::TestsStatus::Added).unwrap_or(match tests.status {
            setup::conftest::TestsStatus::Present => "present",
            _ => "skipped",
        });
    if tests.status != setup::conftest::TestsStatus::Skipped || tests.file.is_some() {
        let _ = writeln!(err, "tests: {word}: {}", tests.message);
    }
}
