//! A small deterministic mutational fuzzer over the whole pipeline (parse,
//! locate, analyse, decide, plan, edit, re-parse; the setup planner; the
//! lint and its fixes), in memory.
//!
//! Every seed is checked unmutated first, in every mode: the fixtures of
//! `fixtures/{edge,rewrite,setup,lint,e2e}`, the invalidation fixtures, the example app, and
//! `fixtures/fuzz/*` (inputs that once failed). Then each input is one of
//! those (kept failures aside) mutated 1-6 times (byte flips, line
//! deletes/duplicates/swaps/re-indents, splices between seeds, random bytes,
//! Python tokens such as `async def`, `yield`, `@`, `\r\n`, tabs, `\\\n`),
//! or plain random bytes. Every function in it is a target (with `--force`
//! three times in four); a third of the inputs also get the cache setup
//! planned into them, as the only file of their project. The checks:
//! - no panic;
//! - bad input is refused as such, never as an "internal error";
//! - a sync `def` is never decorated;
//! - an edit only adds lines (a merged `from M import` line excepted; with
//!   the setup, only inserts text), still parses, and a second pass over the
//!   result changes nothing (the setup it added is found as present);
//! - the lint (on inputs naming cashews) converges under `--fix` without a
//!   fix ever breaking the syntax, and finds nothing on a line the rewrite
//!   wrote (CA202 aside under `--force`);
//! - Python's own `ast` parses every file the rewrite or `--fix` made whose
//!   original it parses (one `python3` process per 20,000 files).
//!
//! `CASHEWS_FUZZ_ITERS` (default 2000) and `CASHEWS_FUZZ_SEED` (default 1)
//! steer a run; `CASHEWS_FUZZ_CORPUS=target/corpus` adds the corpus test's
//! real files of up to 16 KiB to the seeds that get mutated. A long one:
//! `CASHEWS_FUZZ_ITERS=1500000 CASHEWS_FUZZ_SEED=31 cargo test --release
//! --lib fuzz_pipeline`. Failing inputs are saved under
//! `target/fuzz-failures/`; copy them to `fixtures/fuzz/` once fixed so they
//! stay regression cases.

use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::catalogue;
use crate::decide::Request;
use crate::key::HandleRules;
use crate::lint::lint_text;
use crate::lint::rules::Rule;
use crate::locate::all_functions;
use crate::rewrite::{Settings, Status, Target, TargetResult, rewrite_text};
use crate::source::SourceFile;

/// SplitMix64: tiny, seedable, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// 0..n (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

const TOKENS: &[&str] = &[
    "async def f(a):\n    return a\n",
    "    async def m(self, x):\n        return self.x + x\n",
    "async def g():\n    yield 1\n",
    "def s(a):\n    return a\n",
    "class K:\n",
    "class K: pass\n",
    "@app.get('/x')\n",
    "@app.post('/x')\n",
    "@staticmethod\n",
    "@classmethod\n",
    "@property\n",
    "@cache(ttl='1h')\n",
    "from cashews import cache\n",
    "from cashews import Cache\n",
    "from cashews import (\n    Cache,\n)\n",
    "import httpx\n",
    "from __future__ import annotations\n",
    "\"\"\"Doc.\"\"\"\n",
    "if TYPE_CHECKING:\n",
    "try:\n",
    "except ImportError:\n",
    "else:\n",
    "    ",
    "async ",
    "def ",
    "await ",
    "yield ",
    "return ",
    "lambda: ",
    "global X\n",
    "self.x = 1\n",
    "pass\n",
    "...",
    "@",
    "\r\n",
    "\r",
    "\n",
    "\t",
    "\\\n",
    "\x0c",
    "\u{feff}",
    "# -*- coding: latin-1 -*-\n",
    "#",
    "\"\"\"",
    "'",
    "(",
    ")",
    "[",
    "]",
    ":",
    ",",
    ";",
    "=",
    "é",
    "\u{2028}",
    "\0",
];

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], input: &mut Vec<u8>) {
    match rng.below(10) {
        0 if !input.is_empty() => {
            let i = rng.below(input.len());
            input[i] = rng.next() as u8;
        }
        1 | 2 => {
            let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
            let at = line_boundary_or_any(rng, input);
            input.splice(at..at, token.iter().copied());
        }
        3 => {
            // Delete a line.
            let lines = line_spans(input);
            if !lines.is_empty() {
                let (a, b) = lines[rng.below(lines.len())];
                input.drain(a..b);
            }
        }
        4 => {
            // Duplicate a line (a def, a decorator, an import twice).
            let lines = line_spans(input);
            if !lines.is_empty() {
                let (a, b) = lines[rng.below(lines.len())];
                let line = input[a..b].to_vec();
                input.splice(b..b, line);
            }
        }
        5 => {
            // Swap two lines.
            let lines = line_spans(input);
            if lines.len() >= 2 {
                let (i, j) = (rng.below(lines.len()), rng.below(lines.len()));
                let (x, y) = (lines[i.min(j)], lines[i.max(j)]);
                if x != y {
                    let mut out = input[..x.0].to_vec();
                    out.extend_from_slice(&input[y.0..y.1]);
                    out.extend_from_slice(&input[x.1..y.0]);
                    out.extend_from_slice(&input[x.0..x.1]);
                    out.extend_from_slice(&input[y.1..]);
                    *input = out;
                }
            }
        }
        6 => {
            // Splice a run of lines from another seed.
            let other = &seeds[rng.below(seeds.len())];
            let lines = line_spans(other);
            if !lines.is_empty() {
                let first = rng.below(lines.len());
                let last = (first + rng.below(8)).min(lines.len() - 1);
                let chunk = other[lines[first].0..lines[last].1].to_vec();
                let at = line_boundary_or_any(rng, input);
                input.splice(at..at, chunk);
            }
        }
        7 => {
            // Re-indent a line: add or drop leading whitespace.
            let lines = line_spans(input);
            if !lines.is_empty() {
                let (a, _) = lines[rng.below(lines.len())];
                if rng.chance(2) {
                    let pad: &[u8] = [b"    ".as_slice(), b"\t", b" "][rng.below(3)];
                    input.splice(a..a, pad.iter().copied());
                } else {
                    let n = input[a..]
                        .iter()
                        .take_while(|b| **b == b' ' || **b == b'\t')
                        .count();
                    input.drain(a..a + n.min(1 + rng.below(4)));
                }
            }
        }
        8 => {
            // A few random bytes.
            let at = rng.below(input.len() + 1);
            let bytes: Vec<u8> = (0..1 + rng.below(8)).map(|_| rng.next() as u8).collect();
            input.splice(at..at, bytes);
        }
        _ if !input.is_empty() => {
            // Truncate (a file cut short, no final newline).
            let at = rng.below(input.len());
            input.truncate(at);
        }
        _ => {}
    }
}

/// Where lines start (and the end), plus sometimes any offset.
fn line_boundary_or_any(rng: &mut Rng, input: &[u8]) -> usize {
    if rng.chance(4) {
        return rng.below(input.len() + 1);
    }
    let lines = line_spans(input);
    if lines.is_empty() {
        return input.len();
    }
    let (a, b) = lines[rng.below(lines.len())];
    if rng.chance(2) { a } else { b }
}

/// Byte spans of lines, each with its `\n`.
fn line_spans(input: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, b) in input.iter().enumerate() {
        if *b == b'\n' {
            out.push((start, i + 1));
            start = i + 1;
        }
    }
    if start < input.len() {
        out.push((start, input.len()));
    }
    out
}

/// One generated input: a mutated seed, or random bytes.
fn generate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    if rng.chance(40) {
        let len = rng.below(400);
        let python = b"adefsyncwaitreturnyield()[]{}:.,=@#\"' \t\n\r\\";
        return (0..len)
            .map(|_| {
                if rng.chance(2) {
                    python[rng.below(python.len())]
                } else {
                    rng.next() as u8
                }
            })
            .collect();
    }
    let mut input = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(6) {
        mutate(rng, seeds, &mut input);
    }
    input.truncate(64 * 1024);
    input
}

/// An input the pipeline edited, for Python's referee pass.
struct Edited {
    before: Vec<u8>,
    after: Vec<u8>,
    /// Which step made `after`.
    by: &'static str,
}

fn settings(force: bool) -> Settings<'static> {
    Settings {
        request: Request {
            force,
            // Writers of the file's own tables get delete_tags statements.
            invalidate: true,
            ..Request::default()
        },
        handles: HandleRules::default(),
        patterns: catalogue::builtin().iter().collect(),
        library_cache: None,
    }
}

fn targets_of(src: &SourceFile) -> Vec<Target> {
    let mut names: Vec<String> = Vec::new();
    for site in all_functions(src) {
        if !names.contains(&site.qualname) {
            names.push(site.qualname);
        }
    }
    names
        .into_iter()
        .map(|qualname| Target {
            raw: format!("fuzz.py::{qualname}"),
            file: PathBuf::from("fuzz.py"),
            qualname,
        })
        .collect()
}

const REWRITE: &str = "the rewrite";
const LINT_FIX: &str = "lint --fix";

/// The full pipeline on one input, with every check: the texts it made
/// (the rewrite's, and `lint --fix`'s before and after it), for Python's referee.
fn check(input: &[u8], settings: &Settings, setup: bool) -> Result<Vec<Edited>, String> {
    let path = Path::new("fuzz.py");
    let Ok(src) = SourceFile::parse(path, input.to_vec()) else {
        return Ok(Vec::new()); // bad input, refused before any analysis
    };
    let mut made = Vec::new();
    lint_checked(&src, input, &mut made)?;
    let targets = targets_of(&src);
    let refs: Vec<&Target> = targets.iter().collect();
    let (results, new_text) = match rewrite_text(&src, &refs, settings, setup) {
        Ok(planned) => planned,
        Err(e) if e.0.contains("internal error") => return Err(e.0),
        Err(_) => return Ok(made),
    };
    check_results(&results)?;
    if new_text == src.text {
        return Ok(made);
    }
    if setup {
        // `, lifespan=…` goes into the app's constructor call.
        keeps_every_byte(&src.text, &new_text)?;
    } else {
        only_adds_lines(&src.text, &new_text)?;
    }
    let after = src.full_text(&new_text).into_bytes();
    let again = SourceFile::parse(path, after.clone())
        .map_err(|e| format!("the edited file does not parse: {e}"))?;
    let (second, newer) =
        rewrite_text(&again, &refs, settings, setup).map_err(|e| format!("second pass: {e}"))?;
    if newer != again.text {
        return Err("the second pass edited again".to_string());
    }
    for (r1, r2) in results.iter().zip(&second) {
        if r1.status == Status::Changed && r2.status != Status::Unchanged {
            return Err(format!(
                "{}: changed, then {:?} on the second pass",
                r1.target, r2.status
            ));
        }
    }
    let findings = lint_checked(&again, &after, &mut made)?;
    lint_agrees(&src.text, &again.text, &findings, settings.request.force)?;
    made.push(Edited {
        before: input.to_vec(),
        after,
        by: REWRITE,
    });
    Ok(made)
}

/// The lint's findings (rule, line) on a file that names cashews (the lint
/// skips the others), its `--fix` result kept for the referee.
fn lint_checked(
    src: &SourceFile,
    bytes: &[u8],
    made: &mut Vec<Edited>,
) -> Result<Vec<(Rule, usize)>, String> {
    if !src.text.contains("cashews") {
        return Ok(Vec::new());
    }
    let (findings, fixed) = lint_text(src)?;
    if let Some(fixed) = fixed {
        made.push(Edited {
            before: bytes.to_vec(),
            after: fixed.into_bytes(),
            by: LINT_FIX,
        });
    }
    Ok(findings)
}

/// What the rewrite wrote lints clean: no finding on a line it added or
/// changed, but CA202 (side effects) where `--force` decorated anyway.
fn lint_agrees(
    old: &str,
    new: &str,
    findings: &[(Rule, usize)],
    forced: bool,
) -> Result<(), String> {
    let diff = similar::TextDiff::from_lines(old, new);
    let added: Vec<usize> = diff
        .ops()
        .iter()
        .flat_map(|op| match op.tag() {
            similar::DiffTag::Equal | similar::DiffTag::Delete => 0..0,
            _ => op.new_range(),
        })
        .map(|i| i + 1)
        .collect();
    match findings
        .iter()
        .find(|(rule, line)| added.contains(line) && !(forced && *rule == Rule::CA202))
    {
        Some((rule, line)) => Err(format!(
            "the lint finds {} on line {line}, which the rewrite wrote",
            rule.code()
        )),
        None => Ok(()),
    }
}

fn check_results(results: &[TargetResult]) -> Result<(), String> {
    match results
        .iter()
        .find(|r| !r.function.is_async && r.status == Status::Changed)
    {
        Some(r) => Err(format!("{}: a sync def was decorated", r.target)),
        None => Ok(()),
    }
}

/// Every original line is still there, byte for byte and in order; the only
/// line that may change is a `from M import …` line that gained `, name`
/// (or `name, `), wrapped in parentheses when that made it too long.
pub(crate) fn only_adds_lines(old: &str, new: &str) -> Result<(), String> {
    let (old, new) = (joined_imports(old), joined_imports(new));
    let old_lines: Vec<&str> = old.split_inclusive('\n').collect();
    let mut i = 0;
    for line in new.split_inclusive('\n') {
        let Some(want) = old_lines.get(i) else { break };
        if line == *want || is_merged_import(want, line) {
            i += 1;
        }
    }
    match old_lines.get(i) {
        None => Ok(()),
        Some(lost) => Err(format!("line {} lost or changed: {lost:?}", i + 1)),
    }
}

/// Every original byte is still there, in order: the edit only inserted.
/// Spaces and tabs aside: a constructor call that `, lifespan=…` makes too
/// long is wrapped one argument a line, which drops the space after a comma.
fn keeps_every_byte(old: &str, new: &str) -> Result<(), String> {
    let mut rest = new.bytes();
    let blank = |b: u8| b == b' ' || b == b'\t';
    match old
        .bytes()
        .position(|b| !blank(b) && !rest.by_ref().any(|n| n == b))
    {
        None => Ok(()),
        Some(i) => {
            let line = old[..i].matches('\n').count() + 1;
            Err(format!("line {line}: original text lost or changed"))
        }
    }
}

fn is_merged_import(old: &str, new: &str) -> bool {
    let Some(extra) = new.len().checked_sub(old.len()) else {
        return false;
    };
    let is_name =
        |name: &str| !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_');
    (0..=old.len())
        .filter(|i| old.is_char_boundary(*i))
        .any(|i| {
            // Both ends match first, so `i` and `i + extra` are boundaries in `new`.
            new.starts_with(&old[..i])
                && new.ends_with(&old[i..])
                && (new[i..i + extra].strip_prefix(", ").is_some_and(is_name)
                    || new[i..i + extra].strip_suffix(", ").is_some_and(is_name))
        })
}

/// `from m import (`, one name a line, `)  # c` joined to `from m import a,
/// b  # c` (comments inside dropped), so that a statement wrapped when a
/// name was merged into it compares with its one-line self.
fn joined_imports(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut lines = text.split_inclusive('\n');
    while let Some(line) = lines.next() {
        let body = line.trim_end_matches(['\r', '\n']);
        let head = body
            .strip_suffix(" import (")
            .filter(|h| h.trim_start().starts_with("from "));
        let Some(head) = head else {
            out.push_str(line);
            continue;
        };
        let mut taken = line.to_string();
        let mut names: Vec<&str> = Vec::new();
        let mut joined = None;
        for next in lines.by_ref() {
            taken.push_str(next);
            let code = next.split('#').next().unwrap_or_default().trim();
            if let Some(rest) = next.trim_start().strip_prefix(')') {
                joined = Some(format!("{head} import {}{rest}", names.join(", ")));
                break;
            }
            names.extend(code.split(',').map(str::trim).filter(|n| !n.is_empty()));
        }
        out.push_str(joined.as_deref().unwrap_or(&taken));
    }
    out
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Python files under `dir` (subfolders included), in path order.
fn python_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for path in entries.filter_map(Result::ok).map(|e| e.path()) {
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "py")
                && let Ok(bytes) = std::fs::read(&path)
            {
                out.push((path, bytes));
            }
        }
    }
    out.sort();
    out
}

fn seeds() -> Vec<(PathBuf, Vec<u8>)> {
    let root = manifest_dir();
    let mut seeds: Vec<(PathBuf, Vec<u8>)> = [
        "fixtures/edge",
        "fixtures/fuzz",
        "fixtures/rewrite",
        "fixtures/setup",
        "fixtures/lint",
        "fixtures/e2e/fastapi_lifespan",
        "fixtures/e2e/fastapi_plain/app",
        "fixtures/e2e/script",
        // Reads and their writers in one file: the delete_tags edits.
        "fixtures/e2e/invalidation/depot",
        "fixtures/invalidate/tagging/ledger",
        "examples/shop/app",
    ]
    .iter()
    .flat_map(|d| python_files(&root.join(d)))
    .collect();
    seeds.retain(|(p, _)| !p.to_string_lossy().ends_with(".expected.py"));
    assert!(
        seeds.len() >= 10,
        "fuzz seeds missing under {}",
        root.display()
    );
    seeds
}

/// The Python files of up to 16 KiB under `dir` (the corpus test's download,
/// `target/corpus`): real layouts to mutate, when `CASHEWS_FUZZ_CORPUS` names it.
fn corpus_seeds(dir: &Path) -> Vec<Vec<u8>> {
    python_files(dir)
        .into_iter()
        .filter(|(_, bytes)| bytes.len() <= 16 * 1024)
        .map(|(_, bytes)| bytes)
        .collect()
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

/// Runs one input, turning a panic into a failure.
fn run_one(input: &[u8], settings: &Settings, setup: bool) -> Result<Vec<Edited>, String> {
    catch_unwind(AssertUnwindSafe(|| check(input, settings, setup))).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Err(format!("panic: {message}"))
    })
}

/// Python's `ast` as the referee: every edited file whose original parses must parse.
fn python_referee(edited: &[Edited]) -> Vec<String> {
    if edited.is_empty() {
        return Vec::new();
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut list = String::new();
    for (i, e) in edited.iter().enumerate() {
        let (before, after) = (
            dir.path().join(format!("{i}.before.py")),
            dir.path().join(format!("{i}.after.py")),
        );
        std::fs::write(&before, &e.before).expect("write");
        std::fs::write(&after, &e.after).expect("write");
        list.push_str(&format!("{}\n{}\n", before.display(), after.display()));
    }
    let list_path = dir.path().join("list.txt");
    std::fs::write(&list_path, list).expect("write");
    let script = r#"
import ast, sys, warnings
warnings.simplefilter("ignore")
paths = open(sys.argv[1]).read().split("\n")
def parses(p):
    try:
        ast.parse(open(p, "rb").read())
        return True
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
for before, after in zip(paths[0::2], paths[1::2]):
    if parses(before) and not parses(after):
        print(before)
"#;
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string());
    let out = std::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(&list_path)
        .output()
        .unwrap_or_else(|e| panic!("{python}: {e} (the fuzz test needs Python 3 as its referee)"));
    assert!(
        out.status.success(),
        "python referee failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|p| {
            let i: usize = Path::new(p)
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.split('.').next())
                .and_then(|n| n.parse().ok())
                .expect("numbered file");
            let e = &edited[i];
            save_failure(
                &e.before,
                &format!("{} makes a file Python's ast.parse refuses", e.by),
            )
        })
        .collect()
}

/// Keeps a failing input under target/fuzz-failures/ and says where.
fn save_failure(input: &[u8], why: &str) -> String {
    let dir = manifest_dir().join("target/fuzz-failures");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{:016x}.py", fnv(input)));
    let _ = std::fs::write(&path, input);
    format!("{}: {why}", path.display())
}

/// How many edited inputs the Python referee re-checks in one batch.
const REFEREE_BATCH: usize = 20_000;

#[test]
fn fuzz_pipeline() {
    let iterations = env_number("CASHEWS_FUZZ_ITERS", 2000);
    let seed = env_number("CASHEWS_FUZZ_SEED", 1);
    let seeds = seeds();
    let seed_bytes: Vec<Vec<u8>> = seeds.iter().map(|(_, b)| b.clone()).collect();
    // Kept failures run as they are; mutating them (mostly files refused as
    // bad input) would halve the share of inputs that reach an edit.
    let kept = manifest_dir().join("fixtures/fuzz");
    let mut mutable: Vec<Vec<u8>> = seeds
        .iter()
        .filter(|(p, _)| !p.starts_with(&kept))
        .map(|(_, b)| b.clone())
        .collect();
    if let Ok(dir) = std::env::var("CASHEWS_FUZZ_CORPUS") {
        let before = mutable.len();
        mutable.extend(corpus_seeds(Path::new(&dir)));
        eprintln!(
            "fuzz: {} real files from {dir} added as seeds",
            mutable.len() - before
        );
    }
    // Mostly `--force` (more edits to check), sometimes not (refusal paths).
    let (forced, plain) = (settings(true), settings(false));
    let mut rng = Rng(seed);
    let mut failures: Vec<String> = Vec::new();
    let mut edited: Vec<Edited> = Vec::new();
    let (mut edits, mut fixes, mut parsed) = (0u64, 0u64, 0u64);
    let mut slowest = (Duration::ZERO, Vec::new());
    // Written before each input so that an abort (stack overflow) leaves it behind.
    let current = manifest_dir().join(format!("target/fuzz-current-{seed}.py"));
    let started = Instant::now();
    // Every seed unmutated first (kept failures are regression cases), then mutants.
    let inputs = seed_bytes
        .iter()
        .cloned()
        .map(Some)
        .chain((0..iterations).map(|_| None));
    let long_run = iterations >= 100_000;
    for (done, fixed) in inputs.enumerate() {
        let (input, modes) = match fixed {
            // A kept input runs in every mode: it may have failed in any.
            Some(input) => (
                input,
                vec![
                    (&forced, false),
                    (&forced, true),
                    (&plain, false),
                    (&plain, true),
                ],
            ),
            None => {
                let input = generate(&mut rng, &mutable);
                let settings = if rng.chance(4) { &plain } else { &forced };
                // A third of the inputs also get the cache setup planned into them.
                (input, vec![(settings, rng.chance(3))])
            }
        };
        if long_run {
            let _ = std::fs::write(&current, &input);
            if done % 100_000 == 0 {
                // Past the harness's capture: progress of a long run.
                let _ = writeln!(
                    std::io::stderr(),
                    "fuzz: seed {seed}: {done} inputs, {:.0?}, {} failures",
                    started.elapsed(),
                    failures.len()
                );
            }
        }
        parsed += u64::from(SourceFile::parse(Path::new("fuzz.py"), input.clone()).is_ok());
        for (settings, setup) in modes {
            let t = Instant::now();
            let outcome = run_one(&input, settings, setup);
            let took = t.elapsed();
            if took > slowest.0 {
                slowest = (took, input.clone());
            }
            match outcome {
                Ok(made) => {
                    edits += made.iter().filter(|e| e.by == REWRITE).count() as u64;
                    fixes += made.iter().filter(|e| e.by == LINT_FIX).count() as u64;
                    edited.extend(made);
                    if edited.len() >= REFEREE_BATCH {
                        failures.extend(python_referee(&edited));
                        edited.clear();
                    }
                }
                Err(why) if failures.len() < 50 => {
                    let mode = if setup { " (with the setup)" } else { "" };
                    failures.push(save_failure(&input, &format!("{why}{mode}")));
                }
                Err(_) => {}
            }
        }
    }
    failures.extend(python_referee(&edited));
    let _ = std::fs::remove_file(&current);
    eprintln!(
        "fuzz: seed {seed}: {} inputs ({} seeds + {iterations} generated) in {:.1?}; {parsed} parsed, {edits} edited, {fixes} fixed by lint --fix (each re-checked by Python's ast); slowest {:.1?} ({} bytes)",
        seeds.len() as u64 + iterations,
        seeds.len(),
        started.elapsed(),
        slowest.0,
        slowest.1.len()
    );
    if slowest.0 > Duration::from_secs(10) {
        failures.push(save_failure(&slowest.1, "took more than 10 s"));
    }
    assert!(
        failures.is_empty(),
        "{} fuzz failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_adds_lines_allows_a_merged_import_and_nothing_else() {
        assert!(only_adds_lines("a\nb\n", "x\na\ny\nb\n").is_ok());
        assert!(only_adds_lines("from m import A\nb\n", "from m import A, cache\n@d\nb\n").is_ok());
        assert!(only_adds_lines("from m import b\n", "from m import a, b\n").is_ok());
        assert!(
            only_adds_lines(
                "from m import A, b  # c\nx\n",
                "from m import (\n    A,\n    a,\n    b,\n)  # c\nx\n"
            )
            .is_ok()
        );
        assert!(only_adds_lines("from m import A, b\n", "from m import (\n    A,\n)\n").is_err());
        assert!(only_adds_lines("a\nb\n", "a\n").is_err());
        assert!(only_adds_lines("a\r\nb\n", "a\nb\n").is_err());
        assert!(only_adds_lines("a = 1\n", "a = 12\n").is_err());
    }

    /// Every shape of deep nesting the analysis walks, just under the depth
    /// limit, through the whole pipeline on a test thread's small stack.
    #[test]
    fn deep_nesting_just_under_the_limit() {
        let n = crate::source::MAX_DEPTH - 100;
        let m = n / 2;
        let shapes = [
            format!(
                "async def f(x):\n    x{} = 1\n    return x\n",
                ".a".repeat(n)
            ),
            format!(
                "async def f(x):\n    x{} = 1\n    return x\n",
                "[0]".repeat(n)
            ),
            format!("async def f(x):\n    return x{}\n", "()".repeat(m)),
            format!("async def f(x):\n    return x{}\n", " + x".repeat(n)),
            format!("async def f(x):\n    return {}x\n", "lambda: ".repeat(m)),
            format!("async def f(x):\n    return {}x\n", "await ".repeat(n)),
            // Python stops at 100 indentation levels (tree-sitter's scanner soon after).
            (0..98).fold(String::new(), |mut s, i| {
                s.push_str(&format!("{}if x:\n", " ".repeat(i)));
                s
            }) + &format!("{0}async def f(x):\n{0}  return x\n", " ".repeat(98)),
        ];
        // Nested brackets stop at Python's limit of 200, long before the depth limit.
        let refused = [
            format!(
                "async def f(s):\n    return await s.execute({}'select 1'{})\n",
                "text(".repeat(m),
                ")".repeat(m)
            ),
            format!(
                "async def f(x):\n    {}a{} = x\n    return a\n",
                "(".repeat(m),
                ",)".repeat(m)
            ),
            format!(
                "async def f(x):\n    return {}x{}\n",
                "[".repeat(n),
                "]".repeat(n)
            ),
        ];
        let settings = settings(true);
        for (i, text) in shapes.iter().enumerate() {
            let started = Instant::now();
            let outcome = run_one(text.as_bytes(), &settings, false);
            assert!(
                outcome
                    .as_ref()
                    .is_ok_and(|made| made.iter().any(|e| e.by == REWRITE)),
                "shape {i} not edited: {:?}",
                outcome.err()
            );
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "shape {i} took {:?}",
                started.elapsed()
            );
        }
        for (i, text) in refused.iter().enumerate() {
            let outcome = run_one(text.as_bytes(), &settings, false);
            assert!(
                outcome.as_ref().is_ok_and(|made| made.is_empty()),
                "bracket shape {i}: {:?}",
                outcome.err()
            );
        }
    }

    #[test]
    fn mutations_are_deterministic() {
        let seeds = vec![b"async def f(a):\n    return a\n".to_vec()];
        let run = |seed| {
            let mut rng = Rng(seed);
            (0..50)
                .map(|_| generate(&mut rng, &seeds))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }
}
