//! The agent skill in `skill/` cannot drift from the tool.
//!
//! 1. `skill/SKILL.md`'s YAML frontmatter is parsed (serde-saphyr) and held
//!    to the agentskills.io limits: only `name`, `description`, `license`,
//!    `compatibility` and `metadata`; `name` equals [`INSTALL_NAME`], the
//!    folder name README.md tells people to install the skill under;
//!    description ≤ 1024 characters without `<` or `>`; SKILL.md ≤ 500 lines.
//! 2. Every relative link in `skill/**/*.md` points at a file that exists,
//!    and SKILL.md links every file in `skill/references/`.
//! 3. Every `cashews-add` command in a fenced code block of `skill/**/*.md`
//!    is run, and its documented outcome is checked.
//! 4. Python blocks followed by `<!-- expect-lint: ... -->` are linted.
//!
//! # The example convention
//!
//! A command is a line of a ```` ```bash ```` block (also `sh`, `shell`,
//! `console`) that starts with `cashews-add` (after an optional `$ `; a line
//! ending in `\` continues on the next). Such a block holds only commands,
//! comments and blank lines, and is followed, right after its closing fence,
//! by one comment per command, in order:
//!
//! ```text
//! <!-- expect: exit=0 status=changed strategy=failover -->
//! ```
//!
//! The commands of one block run one after the other, each with `bash -c`, in
//! one fresh copy of a fixture project from `fixtures/skill/` (`shop` unless
//! the block's first comment says `fixture=NAME`), with the freshly built
//! `cashews-add` first on PATH. A `cashews-add` elsewhere in a shell line
//! (after `&&`, `|`, `$(`, an env assignment, in another kind of block) fails
//! the test: it would be a command nobody checks.
//!
//! Assertions are `NAME=VALUE` (equal), `NAME~=VALUE` (contains) or
//! `NAME!~=VALUE` (does not contain). A value is a bare word, or quoted with
//! `"…"` (`\"` and `\\` escapes) or `'…'` (taken literally). Names:
//!
//! - `exit` (required): the exit code.
//! - `stdout`, `stderr`: the text.
//! - `file:PATH`: the file's text after the command (relative to the project).
//! - `findings`: lint codes, sorted and deduplicated, comma separated (empty
//!   for none), read from lint's text or JSON output.
//! - rewrite JSON (`--format json`): `status` (comma separated, one per
//!   target); and, when there is one target, `strategy`, `key` (the template),
//!   `ttl`, `verdict`, `tags`, `excluded` (names), `effects` (categories),
//!   `warnings`; `setup` and `dependency` (their `status`).
//! - `json.PATH`: any value of the JSON on stdout, PATH dot separated with
//!   array indices (`json.results.0.decision.strategy`).
//!
//! Lists compare as their items joined with `,`; `null` as `null`.
//!
//! A ```` ```python ```` block followed by `<!-- expect-lint: CA101 -->` (codes
//! comma separated, or `none`) is written to `example.py` in a new project and
//! linted; the codes found must be exactly those. The project also gets a
//! `main.py` calling `cache.setup("mem://")` unless CA402 is expected.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_json::Value;

/// The folder name the skill is installed under (`<skills dir>/cashews-add/`);
/// README.md says the same.
const INSTALL_NAME: &str = "cashews-add";
const BIN: &str = env!("CARGO_BIN_EXE_cashews-add");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const DEFAULT_FIXTURE: &str = "shop";

fn skill_dir() -> PathBuf {
    Path::new(ROOT).join("skill")
}

/// SKILL.md and every Markdown file below skill/, sorted.
fn markdown_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&skill_dir(), &mut out);
    out.sort();
    out
}

fn rel(path: &Path) -> String {
    path.strip_prefix(ROOT)
        .unwrap_or(path)
        .display()
        .to_string()
}

// ---------------------------------------------------------------------------
// Frontmatter

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Frontmatter {
    name: String,
    description: String,
    license: Option<String>,
    compatibility: Option<String>,
    metadata: Option<std::collections::BTreeMap<String, String>>,
}

fn split_frontmatter(text: &str) -> (&str, &str) {
    let rest = text
        .strip_prefix("---\n")
        .expect("SKILL.md starts with a `---` line");
    let end = rest
        .find("\n---\n")
        .expect("the frontmatter ends with a `---` line");
    (&rest[..end + 1], &rest[end + 5..])
}

#[test]
fn frontmatter_follows_the_agentskills_format() {
    let text = fs::read_to_string(skill_dir().join("SKILL.md")).unwrap();
    let (yaml, body) = split_frontmatter(&text);
    let fm: Frontmatter = serde_saphyr::from_str(yaml).unwrap_or_else(|e| {
        panic!(
            "SKILL.md frontmatter (only name, description, license, compatibility, metadata): {e}"
        )
    });

    assert_eq!(fm.name, INSTALL_NAME, "name is the install folder name");
    assert!(
        (1..=64).contains(&fm.name.len())
            && fm
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !fm.name.starts_with('-')
            && !fm.name.ends_with('-')
            && !fm.name.contains("--"),
        "name {:?}: 1-64 of a-z, 0-9 and single inner hyphens",
        fm.name
    );

    let chars = fm.description.chars().count();
    assert!(
        (1..=1024).contains(&chars),
        "description is {chars} characters (1-1024)"
    );
    assert!(
        !fm.description.contains(['<', '>']),
        "no < or > in the description"
    );
    let lower = fm.description.to_lowercase();
    for phrase in [
        "add cache",
        "cache this function",
        "set up cashews",
        "disk cache",
        "speed up with caching",
        "cache key",
        "ttl",
    ] {
        assert!(
            lower.contains(phrase),
            "the description names the trigger {phrase:?}"
        );
    }

    if let Some(license) = &fm.license {
        assert!(!license.trim().is_empty(), "license is not empty");
    }
    if let Some(c) = &fm.compatibility {
        let n = c.chars().count();
        assert!((1..=500).contains(&n), "compatibility is {n} characters");
        assert!(c.contains("cashews-add"), "compatibility names the binary");
    }
    if let Some(m) = &fm.metadata {
        assert!(!m.is_empty(), "metadata, when present, is not empty");
    }

    let lines = text.lines().count();
    assert!(lines <= 500, "SKILL.md has {lines} lines (at most 500)");
    assert!(!body.trim().is_empty(), "SKILL.md has a body");
}

#[test]
fn readme_installs_the_skill_under_its_name() {
    let readme = fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let folder = format!("<skills dir>/{INSTALL_NAME}/");
    assert!(
        readme.contains(&folder),
        "README.md tells people to install skill/ as {folder}"
    );
}

// ---------------------------------------------------------------------------
// Links

/// Targets of inline Markdown links `[text](target)` outside code blocks
/// and code spans.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_fence = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        // Drop code spans, where `](` is just text.
        let mut plain = String::new();
        for (i, part) in line.split('`').enumerate() {
            if i % 2 == 0 {
                plain.push_str(part);
            }
        }
        let mut rest = plain.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].trim().to_string());
            rest = &after[end..];
        }
    }
    out
}

#[test]
fn relative_links_resolve_and_every_reference_is_linked() {
    let mut broken = Vec::new();
    for file in markdown_files() {
        let text = fs::read_to_string(&file).unwrap();
        for target in links(&text) {
            if target.contains("://") || target.starts_with('#') || target.starts_with("mailto:") {
                continue;
            }
            let path = target.split('#').next().unwrap();
            let resolved = file.parent().unwrap().join(path);
            if !resolved.exists() {
                broken.push(format!("{}: {target}", rel(&file)));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));

    let skill = fs::read_to_string(skill_dir().join("SKILL.md")).unwrap();
    let linked: BTreeSet<String> = links(&skill).into_iter().collect();
    let mut references: Vec<String> = fs::read_dir(skill_dir().join("references"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    references.sort();
    assert!(!references.is_empty(), "skill/references/ has files");
    for name in references {
        let target = format!("references/{name}");
        assert!(
            linked.contains(&target),
            "SKILL.md links [{target}]({target})"
        );
    }
}

// ---------------------------------------------------------------------------
// Code blocks

struct Block {
    file: PathBuf,
    /// 1-based line of the opening fence.
    line: usize,
    lang: String,
    body: Vec<String>,
    /// The `<!-- ... -->` comments right after the closing fence.
    comments: Vec<String>,
}

fn blocks(file: &Path) -> Vec<Block> {
    let text = fs::read_to_string(file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(info) = lines[i].trim_start().strip_prefix("```") else {
            i += 1;
            continue;
        };
        let start = i;
        let lang = info.trim().to_string();
        let mut body = Vec::new();
        i += 1;
        while i < lines.len() && !lines[i].trim_start().starts_with("```") {
            body.push(lines[i].to_string());
            i += 1;
        }
        assert!(
            i < lines.len(),
            "{}:{}: unclosed fence",
            rel(file),
            start + 1
        );
        i += 1;
        let mut comments = Vec::new();
        while i < lines.len() && lines[i].trim_start().starts_with("<!--") {
            let mut comment = lines[i].trim().to_string();
            while !comment.ends_with("-->") {
                i += 1;
                assert!(i < lines.len(), "{}: unclosed comment", rel(file));
                comment.push(' ');
                comment.push_str(lines[i].trim());
            }
            comments.push(comment);
            i += 1;
        }
        out.push(Block {
            file: file.to_path_buf(),
            line: start + 1,
            lang,
            body,
            comments,
        });
    }
    out
}

fn is_shell(lang: &str) -> bool {
    matches!(lang, "bash" | "sh" | "shell" | "console")
}

/// Whether `cashews-add` is invoked somewhere in this shell line other than
/// at its start: after a separator, an env assignment or a command substitution.
fn hidden_invocation(line: &str) -> bool {
    let line = line.trim_start().trim_start_matches("$ ");
    let mut segments: Vec<&str> = Vec::new();
    let mut rest = line;
    loop {
        let next = ["&&", "||", ";", "|", "$(", "`"]
            .iter()
            .filter_map(|sep| rest.find(sep).map(|at| (at, sep.len())))
            .min();
        match next {
            Some((at, len)) => {
                segments.push(&rest[..at]);
                rest = &rest[at + len..];
            }
            None => {
                segments.push(rest);
                break;
            }
        }
    }
    segments.iter().enumerate().any(|(n, seg)| {
        let mut words = seg.split_whitespace().peekable();
        let mut assigned = false;
        while words.peek().is_some_and(|w| {
            w.contains('=') && !w.starts_with('-') && !w.starts_with("cashews-add")
        }) {
            words.next();
            assigned = true;
        }
        match words.next() {
            Some("cashews-add") => n > 0 || assigned,
            // Wrappers that run their arguments as a command.
            Some("env" | "exec" | "nohup" | "sudo" | "time" | "timeout" | "xargs") => {
                words.any(|w| w == "cashews-add")
            }
            _ => false,
        }
    })
}

struct Example {
    block_at: String,
    command: String,
    expect: Vec<Assertion>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Contains,
    NotContains,
}

#[derive(Debug)]
struct Assertion {
    name: String,
    op: Op,
    value: String,
}

/// Parses `exit=0 stdout~="a b" file:x.py!~='y'`.
fn parse_assertions(src: &str) -> Result<Vec<Assertion>, String> {
    let mut out = Vec::new();
    let mut chars = src.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == '~' || c == '!' || c.is_whitespace() {
                break;
            }
            name.push(c);
            chars.next();
        }
        let op = match (chars.next(), chars.peek().copied()) {
            (Some('='), _) => Op::Eq,
            (Some('~'), Some('=')) => {
                chars.next();
                Op::Contains
            }
            (Some('!'), Some('~')) => {
                chars.next();
                if chars.next() != Some('=') {
                    return Err(format!("{name}: expected !~="));
                }
                Op::NotContains
            }
            _ => return Err(format!("{name:?}: expected =, ~= or !~=")),
        };
        let mut value = String::new();
        match chars.peek().copied() {
            Some('"') => {
                chars.next();
                loop {
                    match chars.next() {
                        Some('\\') => value.push(chars.next().ok_or("dangling \\")?),
                        Some('"') => break,
                        Some(c) => value.push(c),
                        None => return Err(format!("{name}: unclosed \"")),
                    }
                }
            }
            Some('\'') => {
                chars.next();
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => value.push(c),
                        None => return Err(format!("{name}: unclosed '")),
                    }
                }
            }
            _ => {
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
        }
        out.push(Assertion { name, op, value });
    }
    Ok(out)
}

/// The runnable examples of every Markdown file, grouped by block, with the
/// fixture each block runs in. Panics on any command without an expectation.
fn examples() -> Vec<(String, Vec<Example>)> {
    let mut groups = Vec::new();
    let mut problems = Vec::new();
    for file in markdown_files() {
        for block in blocks(&file) {
            let at = format!("{}:{}", rel(&block.file), block.line);
            let shell = is_shell(&block.lang);
            let mut commands: Vec<String> = Vec::new();
            let mut others = Vec::new();
            let mut pending: Option<String> = None;
            for line in &block.body {
                let trimmed = line.trim();
                if let Some(cont) = pending.as_mut() {
                    cont.push(' ');
                    cont.push_str(trimmed.trim_end_matches('\\').trim());
                    if !trimmed.ends_with('\\') {
                        commands.push(pending.take().unwrap());
                    }
                    continue;
                }
                let cmd = trimmed.strip_prefix("$ ").unwrap_or(trimmed);
                let starts = cmd == "cashews-add" || cmd.starts_with("cashews-add ");
                if starts && !shell {
                    problems.push(format!(
                        "{at}: `{cmd}` in a ```{} block: put commands in ```bash blocks",
                        block.lang
                    ));
                } else if starts {
                    if cmd.ends_with('\\') {
                        pending = Some(cmd.trim_end_matches('\\').trim().to_string());
                    } else {
                        commands.push(cmd.to_string());
                    }
                } else if shell && !trimmed.is_empty() && !trimmed.starts_with('#') {
                    if hidden_invocation(trimmed) {
                        problems.push(format!(
                            "{at}: `{trimmed}` runs cashews-add where the test cannot check it; \
                             start the line with cashews-add"
                        ));
                    }
                    others.push(trimmed.to_string());
                }
            }
            if let Some(p) = pending {
                problems.push(format!("{at}: `{p}` ends in a continuation"));
            }
            let expects: Vec<&String> = block
                .comments
                .iter()
                .filter(|c| c.starts_with("<!-- expect:"))
                .collect();
            if commands.is_empty() {
                if !expects.is_empty() {
                    problems.push(format!(
                        "{at}: expect comments after a block with no command"
                    ));
                }
                continue;
            }
            if !others.is_empty() {
                problems.push(format!(
                    "{at}: a block that runs cashews-add holds only cashews-add commands and \
                     comments; move {others:?} to their own block"
                ));
                continue;
            }
            if expects.len() != commands.len() {
                problems.push(format!(
                    "{at}: {} command(s) but {} `<!-- expect: ... -->` comment(s) after the block",
                    commands.len(),
                    expects.len()
                ));
                continue;
            }
            let mut fixture = DEFAULT_FIXTURE.to_string();
            let mut group = Vec::new();
            for (n, (command, comment)) in commands.into_iter().zip(expects).enumerate() {
                let inner = comment
                    .trim_start_matches("<!-- expect:")
                    .trim_end_matches("-->");
                let mut expect = match parse_assertions(inner) {
                    Ok(e) => e,
                    Err(e) => {
                        problems.push(format!("{at}: {comment}: {e}"));
                        continue;
                    }
                };
                if let Some(pos) = expect.iter().position(|a| a.name == "fixture") {
                    let a = expect.remove(pos);
                    if n == 0 {
                        fixture = a.value;
                    } else {
                        problems.push(format!(
                            "{at}: fixture= belongs on the block's first expect"
                        ));
                    }
                }
                if !expect.iter().any(|a| a.name == "exit" && a.op == Op::Eq) {
                    problems.push(format!("{at}: `{command}`: the expectation has no exit=N"));
                }
                group.push(Example {
                    block_at: at.clone(),
                    command,
                    expect,
                });
            }
            groups.push((fixture, group));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    groups
}

// ---------------------------------------------------------------------------
// Running

/// A fresh copy of fixtures/skill/NAME, as the folder NAME in a system temp
/// folder: outside the repository, so no `.git` above it changes where the
/// project starts, and named like the fixture, so a project without a
/// pyproject.toml still gets a stable name. Returns (guard, project folder).
fn fixture_copy(name: &str) -> (tempfile::TempDir, PathBuf) {
    let src = Path::new(ROOT).join("fixtures/skill").join(name);
    assert!(src.is_dir(), "no fixture {}", src.display());
    let dir = tempfile::Builder::new().prefix("skill-").tempdir().unwrap();
    let project = dir.path().join(name);
    common::copy_dir(&src, &project);
    (dir, project)
}

fn path_with_binary() -> String {
    let bin_dir = Path::new(BIN).parent().unwrap();
    let old = std::env::var("PATH").unwrap_or_default();
    format!("{}:{old}", bin_dir.display())
}

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run_line(dir: &Path, line: &str) -> Outcome {
    let out = Command::new("bash")
        .arg("-c")
        .arg(line)
        .current_dir(dir)
        .env("PATH", path_with_binary())
        .env("NO_COLOR", "1")
        .env_remove("CACHE_URL")
        .output()
        .unwrap();
    Outcome {
        code: out.status.code().expect("exited, not killed by a signal"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn render(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(render).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

fn json_path<'v>(root: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(root, |v, seg| match v {
        Value::Array(items) => items.get(seg.parse::<usize>().ok()?),
        Value::Object(map) => map.get(seg),
        _ => None,
    })
}

/// Lint codes in lint's JSON or text output, sorted and deduplicated.
fn finding_codes(stdout: &str) -> BTreeSet<String> {
    if let Ok(doc) = serde_json::from_str::<Value>(stdout)
        && let Some(findings) = doc.get("findings").and_then(Value::as_array)
    {
        return findings
            .iter()
            .filter_map(|f| f.get("code")?.as_str().map(str::to_string))
            .collect();
    }
    stdout
        .lines()
        .filter_map(|l| {
            // path:line:col: CODE message
            let mut parts = l.splitn(4, ':');
            let (_, line, col, rest) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
            line.parse::<usize>().ok()?;
            col.parse::<usize>().ok()?;
            let code = rest.split_whitespace().next()?;
            (code.len() == 5 && code.starts_with("CA")).then(|| code.to_string())
        })
        .collect()
}

/// The value an assertion names, as text.
fn actual(a: &Assertion, dir: &Path, o: &Outcome) -> Result<String, String> {
    let json = || -> Result<Value, String> {
        serde_json::from_str(&o.stdout).map_err(|e| format!("stdout is not JSON ({e})"))
    };
    let one_result = || -> Result<Value, String> {
        let doc = json()?;
        let results = doc
            .get("results")
            .and_then(Value::as_array)
            .ok_or("no results[] in the JSON")?;
        match results.as_slice() {
            [r] => Ok(r.clone()),
            _ => Err(format!(
                "{} needs exactly one result, got {}; use json.results.N...",
                a.name,
                results.len()
            )),
        }
    };
    let field = |path: &str| -> Result<String, String> {
        let r = one_result()?;
        Ok(json_path(&r, path).map_or("null".to_string(), render))
    };
    let names = |path: &str, item: &str| -> Result<String, String> {
        let r = one_result()?;
        let items = json_path(&r, path)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        Ok(items
            .iter()
            .map(|i| i.get(item).map_or("null".to_string(), render))
            .collect::<Vec<_>>()
            .join(","))
    };
    if let Some(path) = a.name.strip_prefix("file:") {
        return fs::read_to_string(dir.join(path)).map_err(|e| format!("{path}: {e}"));
    }
    if let Some(path) = a.name.strip_prefix("json.") {
        let doc = json()?;
        return Ok(json_path(&doc, path).map_or("null".to_string(), render));
    }
    match a.name.as_str() {
        "exit" => Ok(o.code.to_string()),
        "stdout" => Ok(o.stdout.clone()),
        "stderr" => Ok(o.stderr.clone()),
        "findings" => Ok(finding_codes(&o.stdout)
            .into_iter()
            .collect::<Vec<_>>()
            .join(",")),
        "status" => {
            let doc = json()?;
            let results = doc
                .get("results")
                .and_then(Value::as_array)
                .ok_or("no results[] in the JSON")?;
            Ok(results
                .iter()
                .map(|r| r.get("status").map_or("null".to_string(), render))
                .collect::<Vec<_>>()
                .join(","))
        }
        "strategy" => field("decision.strategy"),
        "key" => field("key.template"),
        "ttl" => field("ttl"),
        "verdict" => field("purity.verdict"),
        "tags" => field("tags"),
        "warnings" => field("warnings"),
        "excluded" => names("key.excluded", "name"),
        "effects" => names("purity.effects", "category"),
        "setup" | "dependency" => {
            let doc = json()?;
            Ok(json_path(&doc, &format!("{}.status", a.name)).map_or("null".to_string(), render))
        }
        other => Err(format!("unknown assertion name {other:?}")),
    }
}

fn check(a: &Assertion, dir: &Path, o: &Outcome) -> Result<(), String> {
    let got = actual(a, dir, o)?;
    let ok = match a.op {
        Op::Eq => got == a.value,
        Op::Contains => got.contains(&a.value),
        Op::NotContains => !got.contains(&a.value),
    };
    if ok {
        return Ok(());
    }
    let op = match a.op {
        Op::Eq => "=",
        Op::Contains => "~=",
        Op::NotContains => "!~=",
    };
    let shown = if got.len() > 600 {
        format!("{}…", &got[..got.floor_char_boundary(600)])
    } else {
        got
    };
    Err(format!("{}{op}{:?}: got {:?}", a.name, a.value, shown))
}

#[test]
fn every_documented_command_does_what_the_skill_says() {
    let groups = examples();
    let total: usize = groups.iter().map(|(_, g)| g.len()).sum();
    assert!(total > 0, "the skill shows no cashews-add command");
    let mut failures = Vec::new();
    for (fixture, group) in &groups {
        let (_guard, project) = fixture_copy(fixture);
        for ex in group {
            let o = run_line(&project, &ex.command);
            let errors: Vec<String> = ex
                .expect
                .iter()
                .filter_map(|a| check(a, &project, &o).err())
                .collect();
            if !errors.is_empty() {
                failures.push(format!(
                    "{}: `{}` (in fixtures/skill/{fixture}):\n  {}\n  --- stdout\n{}\n  --- stderr\n{}",
                    ex.block_at,
                    ex.command,
                    errors.join("\n  "),
                    o.stdout,
                    o.stderr
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} documented commands disagree with the tool:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    eprintln!("ran {total} documented cashews-add commands");
}

// ---------------------------------------------------------------------------
// Lint examples

#[test]
fn python_examples_lint_as_documented() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for file in markdown_files() {
        for block in blocks(&file) {
            let Some(comment) = block
                .comments
                .iter()
                .find(|c| c.starts_with("<!-- expect-lint:"))
            else {
                continue;
            };
            let at = format!("{}:{}", rel(&block.file), block.line);
            assert_eq!(
                block.lang, "python",
                "{at}: expect-lint follows a python block"
            );
            let spec = comment
                .trim_start_matches("<!-- expect-lint:")
                .trim_end_matches("-->")
                .trim();
            let want: BTreeSet<String> = if spec == "none" {
                BTreeSet::new()
            } else {
                spec.split(',').map(|s| s.trim().to_string()).collect()
            };
            let dir = tempfile::Builder::new()
                .prefix("skill-lint-")
                .tempdir()
                .unwrap();
            fs::write(
                dir.path().join("pyproject.toml"),
                "[project]\nname = \"example\"\n",
            )
            .unwrap();
            if !want.contains("CA402") {
                fs::write(
                    dir.path().join("main.py"),
                    "from cashews import cache\n\ncache.setup(\"mem://\")\n",
                )
                .unwrap();
            }
            let mut code = block.body.join("\n");
            code.push('\n');
            fs::write(dir.path().join("example.py"), code).unwrap();
            let o = run_line(dir.path(), "cashews-add lint --format json example.py");
            let got = finding_codes(&o.stdout);
            let expected_exit = if want.is_empty() { 0 } else { 1 };
            if got != want || o.code != expected_exit {
                failures.push(format!(
                    "{at}: expected {want:?} (exit {expected_exit}), got {got:?} (exit {})\n{}{}",
                    o.code, o.stdout, o.stderr
                ));
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    eprintln!("linted {checked} documented python examples");
}

#[test]
fn convention_parser() {
    let a = parse_assertions(r#"exit=0 stdout~="a \"b\"" file:x.py!~='c d' findings="#).unwrap();
    let got: Vec<(&str, Op, &str)> = a
        .iter()
        .map(|a| (a.name.as_str(), a.op, a.value.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("exit", Op::Eq, "0"),
            ("stdout", Op::Contains, "a \"b\""),
            ("file:x.py", Op::NotContains, "c d"),
            ("findings", Op::Eq, ""),
        ]
    );
    assert!(hidden_invocation("cd app && cashews-add lint"));
    assert!(hidden_invocation("CACHE_URL=mem:// cashews-add lint"));
    assert!(hidden_invocation("echo $(cashews-add --version)"));
    assert!(!hidden_invocation("command -v cashews-add"));
    assert!(!hidden_invocation(
        "cargo install --locked --path ../cashews-add"
    ));
    assert_eq!(
        finding_codes("app/x.py:5:22: CA101 key leaves out `page`\n"),
        BTreeSet::from(["CA101".to_string()])
    );
}
