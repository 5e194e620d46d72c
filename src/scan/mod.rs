//! `cashews-add scan`: every `async def` of a project judged by the
//! rewrite's own analysis (`rewrite::plan_target`, never a second copy of
//! the rules), then sorted into worth caching (ranked by what a cache
//! saves), not worth it, review, refused and already cached.
//!
//! Files are walked in parallel with the lint's walker; each module is
//! parsed once into the project model the rewrite uses, so a helper two
//! modules away is followed once for every function that calls it.

mod benefit;
mod render;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ignore::WalkState;
use serde::Serialize;

use crate::decide::Request;
use crate::function::Function;
use crate::lint::files::{Configs, Selection, is_python};
use crate::lint::project::Project;
use crate::locate::with_nested;
use crate::module::Module;
use crate::project::Index;
use crate::rewrite::{Settings, Status, Target, TargetResult, plan_target};
use crate::source::{BadInput, SourceFile};

pub(crate) use benefit::Benefit;
use benefit::CallCounts;

#[derive(Debug, clap::Args)]
pub(crate) struct ScanArgs {
    /// Files or folders (default: the current folder). Folders are walked
    /// respecting .gitignore; test files and folders (tests/, test_*.py,
    /// conftest.py) are skipped unless named here.
    #[arg(value_name = "PATH")]
    pub(crate) paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) format: crate::Format,
    /// List only the N best worth-caching functions (the other groups are kept).
    #[arg(long, value_name = "N")]
    pub(crate) top: Option<usize>,
    /// Only these groups, comma separated.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub(crate) only: Vec<Verdict>,
    /// Cache the worth-caching functions (after --top): one rewrite, one
    /// setup, one dependency, written atomically.
    #[arg(long)]
    pub(crate) apply: bool,
    /// With --apply: print the diff and write nothing.
    #[arg(long, requires = "apply")]
    pub(crate) diff: bool,
    /// With --apply: add no cache.setup(...).
    #[arg(long, requires = "apply", conflicts_with = "setup_in")]
    pub(crate) no_setup: bool,
    /// With --apply: put cache.setup(...) in this module.
    #[arg(long, requires = "apply", value_name = "FILE")]
    pub(crate) setup_in: Option<PathBuf>,
    /// With --apply: the default backend URL of the generated setup.
    #[arg(long, requires = "apply", value_name = "URL")]
    pub(crate) backend_url: Option<String>,
}

/// What the scan says of one function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Verdict {
    /// Safe, and each call does real work (I/O, heavy loops).
    Worth,
    /// Evidence a person must weigh before caching.
    Review,
    /// Refused by the rewrite: an effect, or a shape cashews cannot cache.
    Unsafe,
    /// Already cached with cashews.
    Cached,
    /// Safe but trivial: a cache costs more than it saves.
    Trivial,
}

#[derive(Debug, Serialize)]
pub(crate) struct Judged {
    pub(crate) verdict: Verdict,
    /// 1 for the function whose cache saves most (worth caching only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rank: Option<usize>,
    /// The one-line reason shown in the table.
    pub(crate) reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) benefit: Option<Benefit>,
    /// Lint findings on an already cached function.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) findings: Vec<Finding>,
    #[serde(flatten)]
    pub(crate) result: TargetResult,
    /// The function's name and whether it is a method: what its callers are counted by.
    #[serde(skip)]
    callee: (String, bool),
}

#[derive(Debug, Serialize)]
pub(crate) struct Finding {
    pub(crate) code: &'static str,
    pub(crate) line: usize,
    pub(crate) message: String,
}

/// A file the scan could not judge, and why.
#[derive(Debug, Serialize)]
pub(crate) struct Skipped {
    pub(crate) path: String,
    pub(crate) message: String,
}

pub(crate) struct Scanned {
    pub(crate) judged: Vec<Judged>,
    pub(crate) skipped: Vec<Skipped>,
    pub(crate) files: usize,
}

pub(crate) fn run(
    args: &ScanArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
    colour: bool,
) -> Result<u8, BadInput> {
    let paths: Vec<PathBuf> = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    for p in &paths {
        if std::fs::metadata(p).is_err() {
            return Err(BadInput(format!("{}: no such file or folder", p.display())));
        }
    }
    if let Some(url) = &args.backend_url {
        crate::setup::check_url(url, "--backend-url")?;
    }
    let mut scanned = scan(&paths)?;
    rank(&mut scanned.judged);
    if let Some(n) = args.top {
        let mut kept = 0;
        scanned.judged.retain(|j| {
            kept += usize::from(j.verdict == Verdict::Worth);
            j.verdict != Verdict::Worth || kept <= n
        });
    }
    if args.apply {
        for s in &scanned.skipped {
            let _ = writeln!(err, "warning: {}: {}", s.path, s.message);
        }
        return apply(args, &scanned, out, err, colour);
    }
    if !args.only.is_empty() {
        scanned.judged.retain(|j| args.only.contains(&j.verdict));
    }
    match args.format {
        crate::Format::Json => render::json(&scanned, out),
        crate::Format::Text => render::text(&scanned, &paths, out, err),
    }
    Ok(crate::EXIT_OK)
}

/// The worth-caching functions through the rewrite: one diff (or write),
/// one setup, one dependency, exactly as `cashews-add T1 T2 …` does.
fn apply(
    args: &ScanArgs,
    scanned: &Scanned,
    out: &mut dyn Write,
    err: &mut dyn Write,
    colour: bool,
) -> Result<u8, BadInput> {
    let targets: Vec<String> = scanned
        .judged
        .iter()
        .filter(|j| j.verdict == Verdict::Worth)
        .map(|j| j.result.target.clone())
        .collect();
    if targets.is_empty() {
        let _ = writeln!(err, "nothing worth caching was found: nothing to apply");
        return Ok(crate::EXIT_OK);
    }
    let cli = crate::Cli {
        command: None,
        targets,
        ttl: None,
        key: None,
        strategy: None,
        tags: Vec::new(),
        write: !args.diff,
        check: false,
        force: false,
        no_invalidate: false,
        format: args.format,
        no_setup: args.no_setup,
        setup_in: args.setup_in.clone(),
        emit_test: false,
        backend_url: args.backend_url.clone(),
    };
    crate::add(&cli, out, err, colour)
}

/// Ranks the worth-caching functions by benefit, best first; ties by place.
fn rank(judged: &mut [Judged]) {
    judged.sort_by(|a, b| {
        let score = |j: &Judged| j.benefit.as_ref().map_or(0, |b| b.score);
        a.verdict
            .cmp(&b.verdict)
            .then(score(b).cmp(&score(a)))
            .then(a.result.target.cmp(&b.result.target))
    });
    let worth = judged.iter_mut().filter(|j| j.verdict == Verdict::Worth);
    for (rank, j) in (1..).zip(worth) {
        j.rank = Some(rank);
    }
}

/// Test folders and files: their async defs are fixtures and tests, never
/// something to cache.
fn is_test_path(path: &Path, is_dir: bool) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    if is_dir {
        crate::project::is_test_dir_name(name)
    } else {
        crate::project::is_test_file_name(name)
    }
}

/// Walks `paths` and judges every async def; the call counts of every file
/// read feed the callers of each function.
pub(crate) fn scan(paths: &[PathBuf]) -> Result<Scanned, BadInput> {
    let sources = crate::project::Sources::default();
    let project = Project::new(&sources);
    let configs = Configs::new(None)?;
    let judged: Mutex<Vec<Judged>> = Mutex::new(Vec::new());
    let skipped: Mutex<Vec<Skipped>> = Mutex::new(Vec::new());
    let counts: Mutex<CallCounts> = Mutex::new(CallCounts::default());
    let failure: Mutex<Option<BadInput>> = Mutex::new(None);
    let files = std::sync::atomic::AtomicUsize::new(0);
    let progress = render::Progress::new();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut builder = crate::lint::files::walker(paths);
    builder.threads(threads);
    builder.build_parallel().run(|| {
        Box::new(|entry| {
            let Ok(entry) = entry else {
                return WalkState::Continue;
            };
            let path = entry.path();
            let explicit = entry.depth() == 0;
            let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
            let excluded = || {
                configs
                    .for_path(path, is_dir)
                    .is_ok_and(|r| r.excluded(path, false))
            };
            if is_dir {
                let skip = !explicit && (is_test_path(path, true) || excluded());
                return if skip {
                    WalkState::Skip
                } else {
                    WalkState::Continue
                };
            }
            // A stub (`.pyi`) has no bodies to judge.
            let stub = path.extension().is_some_and(|e| e == "pyi");
            if !explicit && (!is_python(path) || stub || is_test_path(path, false) || excluded()) {
                return WalkState::Continue;
            }
            files.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            progress.tick(path);
            match scan_file(path, &project, &configs) {
                Ok((mine, calls)) => {
                    judged.lock().expect("no panics while held").extend(mine);
                    counts.lock().expect("no panics while held").merge(calls);
                }
                Err(e) if explicit => {
                    failure
                        .lock()
                        .expect("no panics while held")
                        .get_or_insert(e);
                    return WalkState::Quit;
                }
                Err(BadInput(message)) => {
                    skipped.lock().expect("no panics while held").push(Skipped {
                        path: crate::lint::shown_path(path),
                        message,
                    })
                }
            }
            WalkState::Continue
        })
    });
    progress.finish();
    if let Some(e) = failure.into_inner().expect("no panics while held") {
        return Err(e);
    }
    let counts = counts.into_inner().expect("no panics while held");
    let mut judged = judged.into_inner().expect("no panics while held");
    for j in &mut judged {
        if let Some(b) = &mut j.benefit {
            b.count_callers(&counts, &j.callee.0, j.callee.1);
            j.reason = render::work_summary(b);
        }
    }
    let mut skipped = skipped.into_inner().expect("no panics while held");
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Scanned {
        judged,
        skipped,
        files: files.into_inner(),
    })
}

/// One file: its call counts, and when it holds an `async def`, each one judged.
fn scan_file(
    path: &Path,
    project: &Project,
    configs: &Configs,
) -> Result<(Vec<Judged>, CallCounts), BadInput> {
    let bytes =
        crate::file::read(path).map_err(|e| BadInput(format!("{}: {}", path.display(), e.0)))?;
    let mut calls = CallCounts::default();
    calls.add_text(&bytes);
    if memchr::memmem::find(&bytes, b"async").is_none() {
        return Ok((Vec::new(), calls));
    }
    let src = SourceFile::parse(path, bytes)?;
    let index = project.index(path);
    let module = index.insert(src);
    let resolved = configs.for_path(path, false)?;
    let settings = Settings::new(&Request::default(), &resolved.config);
    let prefix = index.module_name(path);
    let shown = crate::lint::shown_path(path);
    let mut judged = Vec::new();
    let mut lint: Option<Vec<(crate::lint::rules::Rule, usize, String)>> = None;
    for site in with_nested(module.src, &module.functions) {
        let f = Function::new(module.src, site);
        if !f.is_async {
            continue;
        }
        let target = Target {
            raw: format!("{shown}::{}", f.qualname),
            file: path.to_path_buf(),
            qualname: f.qualname.clone(),
        };
        let (result, _) = plan_target(index, module, &f, &target, &prefix, &settings)?;
        let mut j = judge(index, module, &f, result);
        if j.verdict == Verdict::Cached {
            let all = lint.get_or_insert_with(|| {
                let rules = resolved.rules_for(path, &Selection::default());
                crate::lint::module_findings(index, module, &resolved.config, rules)
            });
            j.findings = findings_in(module.src, &f, all);
        }
        judged.push(j);
    }
    Ok((judged, calls))
}

fn judge<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    f: &Function<'p>,
    result: TargetResult,
) -> Judged {
    let qualname_gone = |m: &str| {
        m.strip_prefix(&f.qualname)
            .unwrap_or(m)
            .trim_start_matches([':', ' '])
            .to_string()
    };
    let (verdict, benefit, reason) = match result.status {
        Status::Changed => {
            let b = benefit::measure(index, module, f, &result.purity);
            let verdict = if b.work.is_empty() {
                Verdict::Trivial
            } else {
                Verdict::Worth
            };
            let reason = render::work_summary(&b);
            (verdict, Some(b), reason)
        }
        Status::Unchanged => (Verdict::Cached, None, qualname_gone(&result.message)),
        Status::Review => (Verdict::Review, None, qualname_gone(&result.message)),
        Status::Refused => (Verdict::Unsafe, None, qualname_gone(&result.message)),
    };
    Judged {
        verdict,
        rank: None,
        reason,
        benefit,
        findings: Vec::new(),
        callee: (f.name.clone(), f.site.class.is_some()),
        result,
    }
}

/// The findings that fall inside the function, decorators included.
fn findings_in(
    src: &SourceFile,
    f: &Function,
    all: &[(crate::lint::rules::Rule, usize, String)],
) -> Vec<Finding> {
    let node = f.site.node;
    let start = node
        .parent()
        .filter(|p| p.kind() == "decorated_definition")
        .unwrap_or(node)
        .start_byte();
    all.iter()
        .filter(|(_, at, _)| (start..node.end_byte()).contains(at))
        .map(|(rule, at, message)| Finding {
            code: rule.code(),
            line: src.text[..*at].matches('\n').count() + 1,
            message: message.clone(),
        })
        .collect()
}
