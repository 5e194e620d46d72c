//! The rewrite: targets in, one result per target and the new text of each
//! file out. Nothing is written here.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cashews::format_ttl;
use crate::catalogue::Pattern;
use crate::config::Config;
use crate::decide::{Decision, Outcome, Request, decide};
use crate::deps::{DependencyPlan, DependencyReport};
use crate::edit::{Edit, apply};
use crate::function::{FnKind, Function};
use crate::imports::Binding;
use crate::key::{HandleRules, Key, check_placeholders, design, missing_inputs};
use crate::locate::find;
use crate::module::Module;
use crate::plan::{Spelling, decorator_edit, decorator_lines, http_exception};
use crate::project::{Index, Projects, Sources};
use crate::purity::{Purity, analyse};
use crate::setup::conftest::{TestsPlan, TestsReport};
use crate::setup::{Cached, SetupOptions, SetupPlan, SetupReport};
use crate::source::{BadInput, SourceFile, first_error};

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
    /// Evidence a person must weigh: nothing emitted, exit 1 (`--force` applies it).
    Review,
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
    /// Who changes what the target reads (absent with --no-invalidate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) invalidation: Option<crate::invalidate::Invalidation>,
    /// The cache object the decorator uses, `(module, name)`: the setup's.
    #[serde(skip)]
    pub(crate) cache_origin: Option<(String, String)>,
    /// What `--emit-test` needs to call it (changed or already cached).
    #[serde(skip)]
    pub(crate) probe: Option<(PathBuf, crate::prove::Probe)>,
    /// The generated test (`--emit-test`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) test: Option<crate::prove::TestReport>,
    /// The writers' `delete_tags` statements, by file (`tags::plan`).
    #[serde(skip)]
    pub(crate) writer_edits: Vec<crate::tags::WriterEdit>,
}

/// A file whose text changes.
pub(crate) struct FileChange {
    pub(crate) path: PathBuf,
    pub(crate) old: String,
    pub(crate) new: String,
}

/// What one file is planned with: the request, completed by its project's config.
pub(crate) struct Settings<'a> {
    pub(crate) request: Request,
    pub(crate) handles: HandleRules,
    pub(crate) patterns: Vec<&'a Pattern>,
    /// In a library: its own instance (`pkg._cache`, `pkg_cache`), used
    /// instead of cashews' global cache (`setup/library.rs`).
    pub(crate) library_cache: Option<(String, String)>,
}

impl<'a> Settings<'a> {
    /// Command-line values win over `[tool.cashews-add]`.
    pub(crate) fn new(request: &Request, config: &'a Config) -> Settings<'a> {
        let o = &config.options;
        let mut request = request.clone();
        if request.ttl.is_none() {
            request.ttl.clone_from(&o.default_ttl);
        }
        let handles = HandleRules {
            extra_names: o.extra_handle_names.clone(),
            extra_types: o.extra_handle_types.clone(),
            extra_secrets: o.extra_secret_names.clone(),
        };
        let patterns = crate::catalogue::builtin()
            .iter()
            .chain(&config.extra_patterns)
            .collect();
        Settings {
            request,
            handles,
            patterns,
            library_cache: None,
        }
    }
}

pub(crate) struct Report {
    pub(crate) results: Vec<TargetResult>,
    pub(crate) changes: Vec<FileChange>,
    pub(crate) setup: SetupReport,
    pub(crate) dependency: DependencyReport,
    pub(crate) tests: TestsReport,
}

/// Project-wide choices: the startup setup and the backend it uses.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProjectOptions {
    pub(crate) no_setup: bool,
    pub(crate) setup_in: Option<PathBuf>,
    pub(crate) backend_url: Option<String>,
    /// `--emit-test`: a pytest file per cached target.
    pub(crate) emit_test: bool,
}

/// One target file: its text and the edits its targets need.
struct Planned<'a> {
    src: &'a SourceFile,
    imports: Vec<Edit>,
    decorators: Vec<Edit>,
    /// Some target in it ends up cached (changed, or cached already).
    cached: bool,
    config: Config,
    /// The library its project is, if it is one.
    library: Option<crate::setup::library::Library>,
}

/// Plans every target; any bad input fails the whole run before anything is written.
pub(crate) fn plan(
    targets: &[Target],
    request: &Request,
    project: &ProjectOptions,
) -> Result<Report, BadInput> {
    let mut files: Vec<(&Path, Vec<&Target>)> = Vec::new();
    for t in targets {
        match files.iter_mut().find(|(f, _)| *f == t.file.as_path()) {
            Some((_, list)) => list.push(t),
            None => files.push((&t.file, vec![t])),
        }
    }
    let mut results = Vec::new();
    let mut planned = Vec::new();
    let mut libraries: Vec<(PathBuf, Option<crate::setup::library::Library>)> = Vec::new();
    let sources = Sources::default();
    let projects = Projects::new(&sources);
    for (path, targets) in files {
        let src = SourceFile::read(path)?;
        let config = crate::config::load_for(path)?;
        let mut settings = Settings::new(request, &config);
        // Once per project: detection reads the package's files.
        let root = crate::project::root_or_folder(path).0;
        let library = match libraries.iter().find(|(r, _)| *r == root) {
            Some((_, lib)) => lib.clone(),
            None => {
                let lib = crate::setup::library::detect(&root, config.options.library);
                libraries.push((root, lib.clone()));
                lib
            }
        };
        settings.library_cache = library.as_ref().map(|l| l.cache());
        let index = projects.for_file(path);
        let module = index.insert(src);
        let src = module.src;
        let (file_results, imports, decorators) = plan_file(index, module, &targets, &settings)?;
        let cached = file_results
            .iter()
            .any(|r| matches!(r.status, Status::Changed | Status::Unchanged));
        results.extend(file_results);
        planned.push(Planned {
            src,
            imports,
            decorators,
            cached,
            config,
            library,
        });
    }
    let origin = results.iter().find_map(|r| r.cache_origin.as_ref());
    let (mut setup, dependency, tests, module) =
        plan_project(&projects, origin, &planned, project)?;
    let mut setup_edits = setup.edits.take();
    let mut writers = writer_edits(&mut results);
    let mut changes = Vec::new();
    for p in planned {
        let (mut imports, body) = take_writer_edits(&mut writers, &p.src.path);
        imports.extend(p.imports);
        match setup_edits.take_if(|s| same_file(&s.src.path, &p.src.path)) {
            // The setup goes into a target file: one apply for both.
            Some(s) => {
                // The setup's imports first: `import os` above `from cashews import cache`.
                imports = s.imports.into_iter().chain(imports).collect();
                let body = s.body.into_iter().chain(body).collect();
                let change = compose(p.src, imports, body, p.decorators)?;
                setup.report.line = line_in(&change, &s.call);
                changes.extend(change);
            }
            None => changes.extend(compose(p.src, imports, body, p.decorators)?),
        }
    }
    if let Some(s) = setup_edits {
        let (imports, body) = take_writer_edits(&mut writers, &s.src.path);
        let imports = s.imports.into_iter().chain(imports).collect();
        let body = s.body.into_iter().chain(body).collect();
        let change = compose(&s.src, imports, body, Vec::new())?;
        setup.report.line = line_in(&change, &s.call);
        changes.extend(change);
    }
    while let Some(first) = writers.first() {
        let path = first.path.clone();
        let (imports, body) = take_writer_edits(&mut writers, &path);
        let index = projects.for_file(&path);
        let Some(m) = index.module(&path) else {
            continue;
        };
        changes.extend(compose(m.src, imports, body, Vec::new())?);
    }
    changes.extend(dependency.change);
    changes.extend(tests.change);
    changes.extend(module);
    if project.emit_test {
        changes.extend(emit_tests(&mut results));
    }
    Ok(Report {
        results,
        changes,
        setup: setup.report,
        dependency: dependency.report,
        tests: tests.report,
    })
}

/// Every target's writer edits, one statement per place (two reads of one
/// table ask a writer for deletes at the same place).
fn writer_edits(results: &mut [TargetResult]) -> Vec<crate::tags::WriterEdit> {
    let mut out: Vec<crate::tags::WriterEdit> = Vec::new();
    for edit in results
        .iter_mut()
        .flat_map(|r| std::mem::take(&mut r.writer_edits))
    {
        if !out.iter_mut().any(|e| e.merge(&edit)) {
            out.push(edit);
        }
    }
    out
}

/// The imports and statements the writers of `path` need, taken out.
fn take_writer_edits(
    writers: &mut Vec<crate::tags::WriterEdit>,
    path: &Path,
) -> (Vec<Edit>, Vec<Edit>) {
    let (here, rest): (Vec<_>, Vec<_>) = std::mem::take(writers)
        .into_iter()
        .partition(|w| same_file(&w.path, path));
    *writers = rest;
    let mut imports = Vec::new();
    let mut body = Vec::new();
    for w in here {
        body.extend(w.body());
        imports.extend(w.imports);
    }
    (imports, body)
}

/// `--emit-test`: each cached target's test file, one per file name.
fn emit_tests(results: &mut [TargetResult]) -> Vec<FileChange> {
    let mut changes: Vec<FileChange> = Vec::new();
    for r in results.iter_mut() {
        let Some((file, probe)) = r.probe.take() else {
            continue;
        };
        let (report, change) = crate::prove::plan(&file, &probe);
        if let Some(c) = change.filter(|c| !changes.iter().any(|o| o.path == c.path)) {
            changes.push(c);
        }
        r.test = Some(report);
    }
    changes
}

/// Setup, dependency and test settings for the project of the first cached target.
fn plan_project(
    projects: &Projects,
    origin: Option<&(String, String)>,
    planned: &[Planned],
    options: &ProjectOptions,
) -> Result<ProjectPlan, BadInput> {
    let cached: Vec<&Planned> = planned.iter().filter(|p| p.cached).collect();
    let Some(first) = cached.first() else {
        let why = "no function is cached: nothing to set up";
        return Ok((
            SetupPlan {
                report: SetupReport::skipped(why),
                edits: None,
            },
            DependencyPlan {
                report: DependencyReport::skipped(why),
                change: None,
            },
            TestsPlan {
                report: TestsReport::skipped(why),
                change: None,
            },
            None,
        ));
    };
    let (root, recursive) = crate::project::root_or_folder(&first.src.path);
    let is_default = options.backend_url.is_none() && first.config.options.backend_url.is_none();
    let url = match (&options.backend_url, &first.config.options.backend_url) {
        (Some(url), _) => {
            crate::setup::check_url(url, "--backend-url")?;
            url.clone()
        }
        (None, Some(url)) => url.clone(),
        (None, None) => crate::setup::default_url(&root),
    };
    let (mine, others): (Vec<&&Planned>, Vec<&&Planned>) = cached
        .iter()
        .partition(|p| crate::project::root_or_folder(&p.src.path).0 == root);
    let modules: Vec<Cached> = mine
        .iter()
        .map(|p| Cached {
            path: p.src.path.clone(),
            module: crate::project::module_name_in(&root, &p.src.path),
            src: Some((*p.src).clone()),
        })
        .collect();
    let index = projects.for_file(&first.src.path);
    if let Some(lib) = &first.library {
        let cache = origin.cloned().unwrap_or_else(|| lib.cache());
        return plan_library(&root, lib, &cache, options);
    }
    let cache = match (origin, index.project_caches().first()) {
        (Some(origin), _) => origin.clone(),
        (None, Some(own)) => (own.module.clone(), own.name.clone()),
        (None, None) => ("cashews".to_string(), "cache".to_string()),
    };
    let opts = SetupOptions {
        skip: options.no_setup,
        setup_in: options.setup_in.clone(),
        url: url.clone(),
        cache,
    };
    let mut setup = crate::setup::plan(&root, recursive, &modules, &opts)?;
    if setup.report.status == crate::setup::SetupStatus::Added {
        setup.report.disk = crate::setup::disk::note(&root, &url, is_default);
    }
    for p in others {
        setup.report.warnings.push(format!(
            "{} is in another project: set that one up with its own cashews-add run",
            crate::render::diff_path(&p.src.path)
        ));
    }
    let dependency = crate::deps::plan(&root, crate::setup::extra_for(&url))?;
    let tests = tests_plan(&root, &setup.report, &opts);
    Ok((setup, dependency, tests, None))
}

/// Setup, dependency, tests, and a new module a library's decorators import.
type ProjectPlan = (SetupPlan, DependencyPlan, TestsPlan, Option<FileChange>);

/// A library: no global setup; the decorators' instance (its `_cache.py`,
/// added when the decorators use it) is left for the host app to set up,
/// and cashews is an optional extra.
fn plan_library(
    root: &Path,
    lib: &crate::setup::library::Library,
    cache: &(String, String),
    options: &ProjectOptions,
) -> Result<ProjectPlan, BadInput> {
    use crate::setup::library;
    let ours = *cache == lib.cache();
    let module = if ours {
        library::cache_module(lib)
    } else {
        None
    };
    let rel = format!("{}.py", cache.0.replace('.', "/"));
    let file = [root.join(&rel), root.join("src").join(&rel)]
        .into_iter()
        .find(|f| f.is_file())
        .unwrap_or_else(|| lib.dir.join("_cache.py"));
    let (module_name, name) = cache;
    let host = format!("from {module_name} import {name}; {name}.setup(\"redis://HOST:6379/0\")");
    let default = if ours {
        format!(
            " It caches in process memory until then ({}=redis://... in the environment also points it elsewhere); without the `cache` extra installed the functions run uncached.",
            lib.env_var()
        )
    } else {
        String::new()
    };
    let report = SetupReport {
        status: crate::setup::SetupStatus::Library,
        file: Some(crate::render::diff_path(&file)),
        line: None,
        place: None,
        url: None,
        message: format!(
            "{}, so it must not configure cashews' global cache (that would override the settings of every application importing it): the decorators use its own `{name}` from {module_name}, which the host application sets up at its startup: `{host}`.{default}",
            lib.why
        ),
        warnings: library::global_setups(lib)
            .into_iter()
            .map(|at| {
                format!(
                    "{at} sets up cashews' global cache when {} is imported, replacing the cache settings of every application that imports it: set up the library's own instance instead (`{name}.setup(...)` from {module_name}), or leave setup to the application",
                    lib.package
                )
            })
            .collect(),
        disk: None,
    };
    let setup = SetupPlan {
        report,
        edits: None,
    };
    let extra = options
        .backend_url
        .as_deref()
        .and_then(crate::setup::extra_for);
    let mut dependency = crate::deps::optional::plan(root, extra)?;
    if dependency.report.status == crate::deps::DepStatus::Added {
        dependency.report.message.push_str(&format!(
            "; an optional extra (`pip install '{}[cache]'`), never a hard requirement, since the applications using a library choose their own cache",
            lib.dist
        ));
    }
    let var = lib.env_var();
    let wanted = crate::setup::conftest::Wanted {
        env_var: &var,
        cache,
    };
    let tests = if options.no_setup {
        TestsPlan {
            report: TestsReport::skipped("--no-setup: no conftest.py change"),
            change: None,
        }
    } else {
        crate::setup::conftest::plan(root, &wanted)
    };
    Ok((setup, dependency, tests, module))
}

/// The test run's fresh cache, for a setup that reads `CACHE_URL`: the
/// one the tool adds, or one already there that reads it.
fn tests_plan(root: &Path, setup: &SetupReport, opts: &SetupOptions) -> TestsPlan {
    use crate::setup::SetupStatus;
    let skip = |why: &str| TestsPlan {
        report: TestsReport::skipped(why),
        change: None,
    };
    let reads_env = || {
        setup
            .file
            .as_ref()
            .and_then(|f| crate::file::read_text(Path::new(f)).ok())
            .is_some_and(|t| t.contains(crate::setup::ENV_VAR))
    };
    match setup.status {
        SetupStatus::Skipped => skip(&format!("no setup: {}", setup.message)),
        SetupStatus::Present if !reads_env() => skip(
            "the project's own setup does not read CACHE_URL: make the test run use a fresh cache (mem://) yourself",
        ),
        _ => {
            let wanted = crate::setup::conftest::Wanted {
                env_var: crate::setup::ENV_VAR,
                cache: &opts.cache,
            };
            crate::setup::conftest::plan(root, &wanted)
        }
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    let key = |p: &Path| std::fs::canonicalize(p).or_else(|_| std::path::absolute(p));
    match (key(a), key(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The 1-based line of `needle` in a change's new text.
fn line_in(change: &Option<FileChange>, needle: &str) -> Option<usize> {
    let new = &change.as_ref()?.new;
    let at = new.find(needle)?;
    Some(new[..at].matches('\n').count() + 1)
}

/// Applies a file's edits in one pass: imports, then setup, then decorators
/// (so at one offset the setup precedes a decorator). None when nothing changes.
fn compose(
    src: &SourceFile,
    imports: Vec<Edit>,
    body: Vec<Edit>,
    decorators: Vec<Edit>,
) -> Result<Option<FileChange>, BadInput> {
    let new_text = apply_checked(src, imports, body, decorators)?;
    if new_text == src.text {
        return Ok(None);
    }
    Ok(Some(FileChange {
        path: src.path.clone(),
        old: src.full_text(&src.text),
        new: src.full_text(&new_text),
    }))
}

/// The new text (BOM excluded), refused when it would not parse.
fn apply_checked(
    src: &SourceFile,
    imports: Vec<Edit>,
    body: Vec<Edit>,
    decorators: Vec<Edit>,
) -> Result<String, BadInput> {
    let imports = crate::imports::coalesce(src, imports);
    let edits: Vec<Edit> = crate::imports::fit_blank_lines(imports, &body)
        .into_iter()
        .chain(body)
        .chain(decorators)
        .collect();
    let new_text = apply(&src.text, &edits)
        .map_err(|e| BadInput(format!("{}: internal error: {e}", src.path.display())))?;
    check_still_parses(src, &edits, &new_text)?;
    Ok(new_text)
}

/// One file's code edits, and with `setup` the cache setup it would get as
/// the only file of its project (never a dependency): the results and the
/// new text (BOM excluded). The fuzz harness drives the pipeline through it.
#[cfg(test)]
pub(crate) fn rewrite_text(
    src: &SourceFile,
    targets: &[&Target],
    settings: &Settings,
    setup: bool,
) -> Result<(Vec<TargetResult>, String), BadInput> {
    let sources = Sources::default();
    // The file alone, as the only file of its project.
    let folder = std::path::absolute(&src.path)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let index = Index::new(&sources, folder, false);
    let module = index.insert(src.clone());
    let (mut results, mut imports, decorators) = plan_file(&index, module, targets, settings)?;
    let cached = results
        .iter()
        .any(|r| matches!(r.status, Status::Changed | Status::Unchanged));
    // The file is its own project: every writer is in it.
    let mut writers = writer_edits(&mut results);
    let (writer_imports, mut body) = take_writer_edits(&mut writers, &src.path);
    imports.extend(writer_imports);
    if setup
        && cached
        && let Some(s) = crate::setup::plan_in_file(src)
    {
        imports = s.imports.into_iter().chain(imports).collect();
        body = s.body.into_iter().chain(body).collect();
    }
    let new_text = apply_checked(src, imports, body, decorators)?;
    Ok((results, new_text))
}

/// A file's results, its import edits and its decorator edits.
type FilePlan = (Vec<TargetResult>, Vec<Edit>, Vec<Edit>);

pub(crate) fn plan_file<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    targets: &[&Target],
    settings: &Settings,
) -> Result<FilePlan, BadInput> {
    let src = module.src;
    let prefix_module = index.module_name(&src.path);
    let mut results = Vec::new();
    let mut import_edits: Vec<Edit> = Vec::new();
    let mut decorator_edits: Vec<Edit> = Vec::new();
    let mut seen = Vec::new();
    for target in targets {
        let site = find(src, &module.functions, &target.qualname)?;
        if seen.contains(&site.node.id()) {
            continue; // the same function named twice
        }
        seen.push(site.node.id());
        let f = Function::new(src, site);
        let (result, edits) = plan_target(index, module, &f, target, &prefix_module, settings)?;
        if let Some((import, decorator)) = edits {
            import_edits.extend(import);
            decorator_edits.push(decorator);
        }
        results.push(result);
    }
    Ok((results, import_edits, decorator_edits))
}

pub(crate) type Edits = Option<(Vec<Edit>, Edit)>;

/// The write check of a target cached already (by an earlier run, say): a
/// writer that deletes already, when the decorator gives the entry tags.
/// So a test deleted and generated again is the same as the first one.
fn existing_writer<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    f: &Function<'p>,
    purity: &crate::purity::Purity,
    settings: &Settings,
    probe: &mut crate::prove::Probe,
) {
    let tagged = f
        .decorators
        .iter()
        .any(|d| module.src.text_of(d.expr).contains("tags="));
    if !tagged {
        return;
    }
    let inv = crate::invalidate::analyse(index, module, f, purity, &settings.patterns);
    let (always, conditional) = crate::tags::deleting_writers(index, &inv);
    probe.writer = always.iter().find_map(|(path, qualname)| {
        let m = index.module(path)?;
        let g = Function::new(m.src, m.function(qualname)?);
        crate::prove::probe::writer_call(&index.module_name(path), m, &g, probe)
    });
    probe.conditional_writers = conditional;
}

pub(crate) fn plan_target<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    f: &Function<'p>,
    target: &Target,
    prefix_module: &str,
    settings: &Settings,
) -> Result<(TargetResult, Edits), BadInput> {
    let src = module.src;
    let req = &settings.request;
    let purity = analyse(index, module, f, &settings.patterns);
    let qualname = &target.qualname;
    let mut key = design(
        index,
        module,
        f,
        &format!("{prefix_module}:{qualname}"),
        &settings.handles,
    );
    let mut warnings = std::mem::take(&mut key.warnings);
    let bad = |e: BadInput| BadInput(format!("{}: {}", target.raw, e.0));
    if let Some(user_key) = &req.key {
        let fields = check_placeholders(f, user_key, "--key").map_err(bad)?;
        // A parameter the user's key holds (`{user.id}`) needs no "left out" warning.
        let roots: Vec<&str> = fields
            .iter()
            .map(|f| f.split(['.', '[']).next().unwrap_or(f))
            .collect();
        warnings.retain(|w| !roots.iter().any(|r| w.starts_with(&format!("`{r}` "))));
        for input in missing_inputs(f, &key, user_key) {
            warnings.push(format!(
                "--key leaves out `{input}`: calls that differ only in it will share one cached value"
            ));
        }
        key.template = user_key.clone();
    }
    for tag in &req.tags {
        check_placeholders(f, tag, "--tags").map_err(bad)?;
    }
    let outcome = decide(index, module, f, &purity, &key, req).map_err(bad)?;
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
        invalidation: None,
        cache_origin: None,
        probe: None,
        test: None,
        writer_edits: Vec::new(),
    };
    let decision = match outcome {
        Outcome::Unchanged(message) => {
            result.message = format!("{qualname} {message}");
            let def_start = f.site.node.start_byte();
            let origin =
                cache_object(index, module, def_start, settings.library_cache.as_ref()).origin;
            let vary = |name: &str| existing_key_holds(src, f, name);
            let mut probe =
                crate::prove::probe::build(module, prefix_module, f, &key, origin, &vary);
            crate::prove::models::add_models(&mut probe, index, module, f);
            probe.template =
                crate::prove::probe::existing_template(module, index.cashews(module), f);
            if req.invalidate {
                existing_writer(index, module, f, &result.purity, settings, &mut probe);
            }
            result.probe = Some((src.path.clone(), probe));
            return Ok((result, None));
        }
        Outcome::Refused(message) => {
            result.status = Status::Refused;
            result.message = format!("{qualname} {message}");
            return Ok((result, None));
        }
        Outcome::Review(message) => {
            result.status = Status::Review;
            result.message = format!("{qualname} {message}");
            return Ok((result, None));
        }
        Outcome::Decorate(d) => d,
    };
    let def_start = f.site.node.start_byte();
    let choice = cache_object(index, module, def_start, settings.library_cache.as_ref());
    let (cache_name, cache_import) = (choice.local, choice.import);
    let mut probe = crate::prove::probe::build(
        module,
        prefix_module,
        f,
        &key,
        choice.origin.clone(),
        &|_| true,
    );
    crate::prove::models::add_models(&mut probe, index, module, f);
    probe.template = Some(key.template.clone());
    result.probe = Some((src.path.clone(), probe));
    result.cache_origin = Some(choice.origin);
    let (exceptions, exc_import) = if decision.strategy == crate::decide::Strategy::Failover {
        http_exception(module)
    } else {
        (String::new(), None)
    };
    if req.invalidate {
        let mut inv =
            crate::invalidate::analyse(index, module, f, &result.purity, &settings.patterns);
        // The user's --tags are theirs to invalidate; the iterator takes none.
        if req.tags.is_empty() && decision.strategy != crate::decide::Strategy::Iterator {
            let planned = crate::tags::plan(index, &inv, &key, settings.library_cache.as_ref());
            inv.tags = planned.tags;
            inv.edits = planned.shown;
            result.tags.clone_from(&inv.tags);
            result.writer_edits = planned.edits;
            if let Some((_, probe)) = result.probe.as_mut() {
                probe.writer = planned.edited.iter().find_map(|(path, qualname, _)| {
                    let m = index.module(path)?;
                    let g = Function::new(m.src, m.function(qualname)?);
                    crate::prove::probe::writer_call(&index.module_name(path), m, &g, probe)
                });
                probe.conditional_writers.clone_from(&planned.conditional);
            }
        }
        result.invalidation = Some(inv);
    }
    let spelling = Spelling {
        cache: &cache_name,
        key: &key.template,
        tags: &result.tags,
        exceptions: &exceptions,
    };
    let decorators = decorator_lines(&decision, &spelling);
    let edit = decorator_edit(src, f, &decorators)
        .map_err(|e| BadInput(format!("{}: {e}", target.raw)))?;
    let lines: Vec<String> = decorators.iter().map(crate::wrap::Call::flat).collect();
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

/// Whether an existing cache decorator's key holds parameter `name`: a
/// `{name...}` placeholder, or no explicit key (cashews' default holds all).
fn existing_key_holds(src: &SourceFile, f: &Function, name: &str) -> bool {
    let texts: Vec<&str> = f.decorators.iter().map(|d| src.text_of(d.node)).collect();
    let keyed: Vec<&&str> = texts.iter().filter(|t| t.contains("key=")).collect();
    keyed.is_empty()
        || keyed.iter().any(|t| {
            [".", "}", ":", "["]
                .iter()
                .any(|end| t.contains(&format!("{{{name}{end}")))
        })
}

/// The cache object to decorate with.
pub(crate) struct CacheChoice {
    /// The name the decorator uses in this file.
    pub(crate) local: String,
    /// The import that binds it, when the file lacks one.
    pub(crate) import: Option<Edit>,
    /// Where it lives, `(module, name)`: what the setup must configure.
    pub(crate) origin: (String, String),
}

/// The cache object to decorate with: the one the file already imports
/// (cashews' own, or the project's), an instance the file builds and sets
/// up, the one the project's modules import from the project
/// (`from app.caching import cache`), else cashews' own.
pub(crate) fn cache_object<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    at: usize,
    library: Option<&(String, String)>,
) -> CacheChoice {
    let src = module.src;
    let here = index.module_name(&src.path);
    let names = index.cashews(module);
    let usable = |n: &&str| {
        !matches!(
            module.imports.resolve(n).as_str(),
            "cashews.mem" | "cashews.noself_cache"
        )
    };
    let bound: Vec<&str> = names.exported().filter(usable).collect();
    let imported = bound
        .iter()
        .find_map(|n| match module.imports.bindings.get(*n)? {
            Binding::From {
                level,
                module: from,
                name,
            } => {
                let origin = if *level == 0 && from.starts_with("cashews") {
                    ("cashews".to_string(), "cache".to_string())
                } else {
                    let file = index.resolve_module(&src.path, *level, from);
                    let dotted = match file {
                        Some(crate::project::ModuleRef::File(f)) => index.module_name(&f),
                        _ => from.clone(),
                    };
                    (dotted, name.clone())
                };
                Some((n.to_string(), origin))
            }
            Binding::Module(_) => None,
        });
    let built_here = || {
        bound
            .iter()
            .find(|n| {
                !module.imports.bindings.contains_key(**n)
                    && src.text.contains(&format!("{n}.setup("))
            })
            .map(|n| (n.to_string(), (here.clone(), n.to_string())))
    };
    // A library decorates with its own instance, not cashews' global one.
    let global = |o: &(String, String)| o.0 == "cashews";
    let imported = imported.filter(|(_, o)| library.is_none() || !global(o));
    if let Some((local, origin)) = imported.or_else(built_here) {
        return CacheChoice {
            local,
            import: None,
            origin,
        };
    }
    // The project's own object, when this file can import it by that name
    // (a module below another import root is not importable from here).
    let own = index.project_caches().iter().find(|own| {
        own.module != here
            && matches!(
                index.resolve_module(&src.path, 0, &own.module),
                Some(crate::project::ModuleRef::File(_))
            )
    });
    let (from, name) = match (own, library) {
        (Some(own), _) => (own.module.clone(), own.name.clone()),
        (None, Some(lib)) => lib.clone(),
        (None, None) => ("cashews".to_string(), "cache".to_string()),
    };
    let (local, import) = module.imports.ensure(src, &from, &name, at);
    CacheChoice {
        local,
        import,
        origin: (from, name),
    }
}

/// A rewrite must never break a file: re-parse the result.
fn check_still_parses(src: &SourceFile, edits: &[Edit], new_text: &str) -> Result<(), BadInput> {
    if edits.is_empty() {
        return Ok(());
    }
    let tree = crate::edit::reparse(&src.text, &src.tree, edits, new_text);
    let broken = tree.is_none_or(|tree| first_error(new_text, tree.root_node()).is_some());
    if broken {
        return Err(BadInput(format!(
            "{}: internal error: the edit would break the syntax; nothing written",
            src.path.display()
        )));
    }
    Ok(())
}
