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
    assert_eq!(codes.len(), 13);
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
        let first = run(&["lint", "--fix", s(&file)]);
        assert!(first.code <= 1, "{code}: {}", first.err);
        let fixed = fs::read_to_string(&file).unwrap();
        let again = run(&["lint", "--fix", s(&file)]);
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
            run(&["lint", "--fix", "--select", &code, s(&alone)]);
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
    let r = run(&["lint", "--fix", s(&file)]);
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
    // The rewrite also set cashews up, so CA402 agrees too.
    let r = run(&["lint", s(dir.path())]);
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
        // CA401 and CA501 are about the fixture's own setup URLs and tag
        // deletes, not the rewrite.
        let r = run(&["lint", "--ignore", "CA401,CA501", s(&file)]);
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
    assert_eq!((r.code, r.out.as_str()), (0, "{\n  \"findings\": []\n}\n"));
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
    assert_eq!(ids.len(), 13);
    assert_eq!(ids[0], "CA101");
    assert_eq!(ids[11], "CA402");
    assert_eq!(ids[12], "CA501");
    assert!(
        rules[0]["help"]["markdown"]
            .as_str()
            .unwrap()
            .contains("## Why is this bad?")
    );
    let result = &run0["results"][0];
    assert_eq!(result["ruleId"], "CA101");
    assert_eq!(result["ruleIndex"], 0);
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
