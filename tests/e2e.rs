//! End to end under real cashews: each fixture project under `fixtures/e2e/`
//! is copied to a temporary folder, rewritten with `cashews-add --write`, and
//! run with the venv from `scripts/pyenv.sh` (pinned cashews[diskcache,redis],
//! fastapi, httpx) through `tests/e2e/driver.py`. For every project it shows:
//!
//! - the first call computes and the second is served from the cache
//!   (the driver counts calls to the slow function through a wrapper, and
//!   times them against the deliberate `asyncio.sleep(0.3)`);
//! - different arguments give different results (no key collision);
//! - with the default disk backend the cache survives a process restart;
//! - with `CACHE_URL=redis://127.0.0.1:PORT` two processes with separate
//!   disk caches share one cache (a `redis-server` started here);
//! - a second `--write` changes nothing, and `--check` is due before, clean after.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;

const SLEEP: f64 = 0.3; // the fixtures' deliberate asyncio.sleep

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The venv's python, created once.
fn python() -> &'static Path {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| PathBuf::from(common::venv_python()))
}

/// Makes sure redis-server is installed (scripts/redis.sh, once).
fn redis_installed() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let status = Command::new("bash")
            .arg(repo().join("scripts/redis.sh"))
            .status()
            .expect("bash runs");
        assert!(status.success(), "scripts/redis.sh failed");
    });
}

/// A redis-server on a free loopback port, stopped on drop (also on panic).
struct Redis {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Redis {
    fn start() -> Redis {
        redis_installed();
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let dir = tempfile::tempdir().unwrap();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server starts");
            let mut redis = Redis {
                child,
                port,
                _dir: dir,
            };
            if redis.wait_for_ping() {
                return redis;
            }
            // Lost the port to someone else, or slow to start: try another.
        }
        panic!("redis-server did not answer PING on three ports");
    }

    fn wait_for_ping(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                let mut buf = [0u8; 7];
                if s.write_all(b"PING\r\n").is_ok()
                    && s.read_exact(&mut buf).is_ok()
                    && &buf == b"+PONG\r\n"
                {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh copy of `fixtures/e2e/NAME`, alone in a temporary folder (no
/// project marker above it, so the copy is its own project).
fn project(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(name);
    common::copy_dir(&repo().join("fixtures/e2e").join(name), &dir);
    (tmp, dir)
}

fn tool(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cashews-add"))
        .args(args)
        .current_dir(dir)
        .env_remove("CACHE_URL")
        .output()
        .expect("cashews-add runs")
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Snapshot of every file in the project, to prove a run changed nothing.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                if e.file_name() != "__pycache__" {
                    stack.push(e.path());
                }
            } else {
                out.push((e.path(), std::fs::read(e.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Rewrites the project: `--check` due first, then `--write`, then a second
/// `--write` and `--check` that change nothing. Returns the first JSON report.
fn rewrite(dir: &Path, target: &str) -> Value {
    let check = tool(dir, &[target, "--check"]);
    assert_eq!(
        check.status.code(),
        Some(1),
        "--check before: a change is due"
    );
    let out = tool(dir, &[target, "--write", "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json_of(&out);
    assert_eq!(report["results"][0]["status"], "changed", "{report:#}");
    assert_eq!(report["setup"]["status"], "added", "{report:#}");
    assert_eq!(report["dependency"]["status"], "added", "{report:#}");
    let before = files(dir);
    let again = tool(dir, &[target, "--write", "--format", "json"]);
    assert_eq!(again.status.code(), Some(0));
    let second = json_of(&again);
    assert_eq!(second["diff"], "", "second run: {second:#}");
    assert_eq!(second["results"][0]["status"], "unchanged");
    assert_eq!(second["setup"]["status"], "present");
    assert_eq!(second["setup"]["file"], report["setup"]["file"]);
    assert_eq!(second["setup"]["line"], report["setup"]["line"]);
    assert_eq!(second["dependency"]["status"], "present");
    assert_eq!(files(dir), before, "the second --write changed files");
    assert_eq!(tool(dir, &[target, "--check"]).status.code(), Some(0));
    report
}

/// Runs the driver in a fresh process; `home` holds the default disk cache
/// (`~/.cache/cashews/...`), `cache_url` overrides the backend like a deployment.
fn drive(dir: &Path, home: &Path, cache_url: Option<&str>, args: &[&str]) -> Value {
    drive_env(dir, home, cache_url, &[], args)
}

fn drive_env(
    dir: &Path,
    home: &Path,
    cache_url: Option<&str>,
    env: &[(&str, &Path)],
    args: &[&str],
) -> Value {
    let mut cmd = Command::new(python());
    cmd.arg(repo().join("tests/e2e/driver.py"))
        .arg(args[0])
        .arg(dir)
        .args(&args[1..])
        .env("HOME", home)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONWARNINGS", "ignore")
        .env_remove("CACHE_URL");
    if let Some(url) = cache_url {
        cmd.env("CACHE_URL", url);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("python runs");
    assert!(
        out.status.success(),
        "driver {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    json_of(&out)
}

fn calls(facts: &Value) -> Vec<String> {
    facts["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c[0].to_string().trim_matches('"').to_string())
        .collect()
}

/// Checks one process's requests: which computed (reached the slow
/// function), and that a cached answer came back faster than the sleep.
fn check_requests(facts: &Value, computed: &[bool]) {
    let requests = facts["requests"].as_array().unwrap();
    assert_eq!(requests.len(), computed.len());
    for (r, &c) in requests.iter().zip(computed) {
        assert_eq!(r["status"], 200, "{r}");
        assert_eq!(r["computed"], c, "{facts:#}");
        let secs = r["seconds"].as_f64().unwrap();
        if c {
            assert!(secs >= SLEEP, "a computed call sleeps: {r}");
        } else {
            assert!(secs < SLEEP, "a cache hit skips the sleep: {r}");
        }
    }
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap()
}

#[test]
fn fastapi_app_without_lifespan_gets_one() {
    let (tmp, dir) = project("fastapi_plain");
    let report = rewrite(&dir, "app/items.py::get_item");
    assert_eq!(report["setup"]["file"], "app/main.py");
    assert_eq!(report["setup"]["place"], "new_lifespan");
    let main = read(&dir, "app/main.py");
    assert!(
        main.contains("app = FastAPI(title=\"plain shop\", lifespan=lifespan)"),
        "{main}"
    );
    assert_eq!(main.matches(".setup(").count(), 1, "{main}");
    assert!(main.contains("await cache.close()"), "{main}");
    let pyproject = read(&dir, "pyproject.toml");
    assert!(
        pyproject.contains(
            "    \"httpx>=0.27\",\n    \"cashews[diskcache]>=7.0\",\n]\n\n[tool.cashews-add]"
        ),
        "{pyproject}"
    );
    assert!(pyproject.contains("\"fastapi>=0.110\",  # web framework"));

    let app = |home: &Path, url: Option<&str>, paths: &[&str]| {
        let mut args = vec!["app", "app.main:app", "app.items:load_item"];
        args.extend(paths);
        drive(&dir, home, url, &args)
    };
    // Default disk backend: hit after miss, distinct keys, survives a restart.
    let home = tmp.path().join("home-disk");
    let first = app(&home, None, &["/items/1", "/items/1", "/items/2"]);
    check_requests(&first, &[true, false, true]);
    assert_eq!(calls(&first), ["1", "2"]);
    let r = &first["requests"];
    assert_eq!(r[0]["body"], r[1]["body"]);
    assert_ne!(r[0]["body"], r[2]["body"], "another id, another value");
    assert!(
        home.join(".cache/cashews/plain-shop-0.1.0/cache.db")
            .is_file(),
        "the default directory is ~/.cache/cashews/<project>-<version>"
    );
    let restarted = app(&home, None, &["/items/1", "/items/2"]);
    check_requests(&restarted, &[false, false]);
    assert_eq!(restarted["requests"][0]["body"], r[0]["body"]);
    assert_eq!(restarted["requests"][1]["body"], r[2]["body"]);

    // Redis: two processes with separate homes (no shared disk cache) share it.
    let redis = Redis::start();
    let url = redis.url();
    let a = app(&tmp.path().join("home-a"), Some(&url), &["/items/3"]);
    check_requests(&a, &[true]);
    let b = app(
        &tmp.path().join("home-b"),
        Some(&url),
        &["/items/3", "/items/1"],
    );
    check_requests(&b, &[false, true]);
    assert_eq!(b["requests"][0]["body"], a["requests"][0]["body"]);
    assert!(
        !tmp.path().join("home-a/.cache").exists(),
        "redis, not disk"
    );
}

#[test]
fn fastapi_app_keeps_its_own_lifespan() {
    let (tmp, dir) = project("fastapi_lifespan");
    let report = rewrite(&dir, "service.py::quote");
    assert_eq!(report["setup"]["file"], "service.py");
    assert_eq!(report["setup"]["place"], "lifespan");
    let service = read(&dir, "service.py");
    assert_eq!(service.matches(".setup(").count(), 1, "{service}");
    assert_eq!(
        service.matches("async def lifespan").count(),
        1,
        "{service}"
    );
    assert_eq!(
        service.matches("yield {\"greeting\": \"hello\"}").count(),
        1
    );
    assert!(service.contains("app = FastAPI(lifespan=lifespan, title=\"quotes\")"));
    assert!(
        service.contains("    yield {\"greeting\": \"hello\"}\n    await cache.close()\n"),
        "{service}"
    );
    let pyproject = read(&dir, "pyproject.toml");
    assert!(
        pyproject.contains(
            "cashews = { version = \"^7.0\", extras = [\"diskcache\"] }    # already here"
        ),
        "{pyproject}"
    );

    let log = tmp.path().join("shutdown.log");
    // The fixture's own lifespan appends "closed" to $SHUTDOWN_LOG at shutdown.
    let app = |home: &Path, url: Option<&str>, paths: &[&str]| {
        let mut args = vec!["app", "service:app", "service:fetch_rate"];
        args.extend(paths);
        drive_env(&dir, home, url, &[("SHUTDOWN_LOG", &log)], &args)
    };
    let home = tmp.path().join("home-disk");
    let first = app(
        &home,
        None,
        &[
            "/quote?amount=10",
            "/quote?amount=10",
            "/quote?amount=10&currency=GBP",
        ],
    );
    check_requests(&first, &[true, false, true]);
    assert_eq!(calls(&first), ["EUR", "GBP"]);
    let r = &first["requests"];
    assert_eq!(r[0]["body"]["total"], 11.0);
    assert_eq!(
        r[2]["body"]["total"], 13.0,
        "another currency, another value"
    );
    // The app's own lifespan still runs: its state reaches requests, its shutdown logs.
    assert_eq!(r[0]["body"]["greeting"], "hello");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "closed\n");
    let restarted = app(&home, None, &["/quote?amount=10&currency=GBP"]);
    check_requests(&restarted, &[false]);
    assert_eq!(restarted["requests"][0]["body"]["total"], 13.0);
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "closed\nclosed\n");

    let redis = Redis::start();
    let url = redis.url();
    let a = app(&tmp.path().join("home-a"), Some(&url), &["/quote?amount=7"]);
    check_requests(&a, &[true]);
    let b = app(&tmp.path().join("home-b"), Some(&url), &["/quote?amount=7"]);
    check_requests(&b, &[false]);
    assert_eq!(b["requests"][0]["body"], a["requests"][0]["body"]);
}

#[test]
fn script_sets_up_in_its_main_block() {
    let (tmp, dir) = project("script");
    let report = rewrite(&dir, "report.py::region_total");
    assert_eq!(report["setup"]["file"], "report.py");
    assert_eq!(report["setup"]["place"], "main_block");
    let script = read(&dir, "report.py");
    assert!(
        // Wrapped: too long for 88 columns at the block's indentation, twice.
        script.contains("if __name__ == \"__main__\":\n    cache.setup(\n        os.environ.get(\n            \"CACHE_URL\",\n            \"disk://?directory=~/.cache/cashews/script&shards=0\",\n        ),\n    )\n    asyncio.run(main(sys.argv[1:]))"),
        "{script}"
    );
    assert_eq!(
        read(&dir, "requirements.txt"),
        "# Runtime dependencies of the nightly report.\nhttpx==0.28.1\ncashews[diskcache]>=7.0\n"
    );

    let run = |home: &Path, url: Option<&str>, regions: &[&str]| {
        let mut args = vec!["script", "report.py", "pricing:fetch_prices"];
        args.extend(regions);
        drive(&dir, home, url, &args)
    };
    let totals = |facts: &Value| -> Vec<f64> {
        facts["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["printed"]["total"].as_f64().unwrap())
            .collect()
    };
    // Each printed line is one call of the cached function: computed ones
    // sleep, hits do not.
    let check_times = |facts: &Value, computed: &[bool]| {
        let lines = facts["lines"].as_array().unwrap();
        assert_eq!(lines.len(), computed.len(), "{facts:#}");
        for (l, &c) in lines.iter().zip(computed) {
            let secs = l["seconds"].as_f64().unwrap();
            assert_eq!(secs >= SLEEP, c, "computed={c}: {l}");
        }
    };
    let home = tmp.path().join("home-disk");
    let first = run(&home, None, &["north", "north", "south-east"]);
    assert_eq!(calls(&first), ["north", "south-east"], "{first:#}");
    assert_eq!(totals(&first), [8.75, 8.75, 15.0]);
    check_times(&first, &[true, false, true]);
    let restarted = run(&home, None, &["south-east", "north"]);
    assert_eq!(calls(&restarted), Vec::<String>::new(), "{restarted:#}");
    assert_eq!(totals(&restarted), [15.0, 8.75]);
    check_times(&restarted, &[false, false]);

    let redis = Redis::start();
    let url = redis.url();
    let a = run(&tmp.path().join("home-a"), Some(&url), &["west"]);
    assert_eq!(calls(&a), ["west"]);
    let b = run(&tmp.path().join("home-b"), Some(&url), &["west"]);
    assert_eq!(calls(&b), Vec::<String>::new(), "{b:#}");
    assert_eq!(totals(&b), totals(&a));
}

/// The project has its own `Cache()` instance, set up where it is built:
/// the rewrite decorates with it, imported like the neighbours import it,
/// and adds no second setup (cashews' global `cache` would never be set up:
/// NotConfiguredError on the first call).
#[test]
fn project_cache_instance_is_reused() {
    let (tmp, dir) = project("own_cache");
    let out = tool(
        &dir,
        &["app/items.py::get_item", "--write", "--format", "json"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json_of(&out);
    assert_eq!(report["results"][0]["status"], "changed", "{report:#}");
    assert_eq!(report["setup"]["status"], "present", "{report:#}");
    assert_eq!(report["setup"]["file"], "app/caching.py");
    let items = read(&dir, "app/items.py");
    assert!(items.contains("from app.caching import cache\n"), "{items}");
    assert!(!items.contains("from cashews"), "{items}");
    assert!(items.contains("@cache(ttl="), "{items}");
    let again = tool(&dir, &["app/items.py::get_item", "--check"]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "a second run has nothing to do"
    );
    let facts = drive(
        &dir,
        &tmp.path().join("home"),
        None,
        &[
            "app",
            "app.main:app",
            "app.store:load_item",
            "/items/1",
            "/items/1",
            "/items/2",
        ],
    );
    check_requests(&facts, &[true, false, true]);
}

/// A route keyed by the current user: two users get their own answers, an
/// anonymous caller (an Optional user that is None) gets one of its own,
/// and the password hash the user record holds never reaches the key. A
/// client function returning its response object is refused before it
/// reaches cashews: forced, the disk backend fails on it; returning the data
/// works.
#[test]
fn keys_hold_who_asks_and_values_can_be_stored() {
    let (tmp, dir) = project("per_user");
    let out = tool(
        &dir,
        &[
            "app/routes.py::my_orders",
            "app/routes.py::greeting",
            "--write",
            "--format",
            "json",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let routes = read(&dir, "app/routes.py");
    assert!(
        routes.contains("key=\"app.routes:my_orders:{user[id]}\""),
        "{routes}"
    );
    assert!(
        routes.contains("key=\"app.routes:greeting:{user.name}\""),
        "{routes}"
    );
    assert!(!routes.contains("hashed_password"), "{routes}");
    let mut cmd = Command::new(python());
    cmd.arg(repo().join("tests/e2e/per_user.py"))
        .args(["app".as_ref(), dir.as_os_str()])
        .env("HOME", tmp.path().join("home"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("CACHE_URL");
    let facts = json_of(&cmd.output().expect("python runs"));
    let r = facts["requests"].as_array().expect("requests");
    let computed: Vec<bool> = r.iter().map(|x| x["computed"].as_bool().unwrap()).collect();
    assert_eq!(
        computed,
        [true, false, true, true, false, true],
        "{facts:#}"
    );
    assert_eq!(r[0]["body"], r[1]["body"]);
    assert_ne!(
        r[0]["body"], r[2]["body"],
        "user 2 must not get user 1's orders"
    );
    assert_eq!(r[3]["body"], "hello stranger");
    assert_ne!(
        r[5]["body"], r[3]["body"],
        "a signed-in user is not the anonymous one"
    );

    let refused = tool(&dir, &["app/pages.py::fetch_page", "--format", "json"]);
    assert_eq!(refused.status.code(), Some(1));
    let report = json_of(&refused);
    assert_eq!(report["results"][0]["status"], "refused");
    let message = report["results"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("cannot be pickled") && message.contains(".json()"),
        "{message}"
    );
    let forced = tool(
        &dir,
        &[
            "app/pages.py::fetch_page",
            "app/pages.py::fetch_json",
            "--force",
            "--no-setup",
            "--write",
        ],
    );
    assert_eq!(
        forced.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
    let mut cmd = Command::new(python());
    cmd.arg(repo().join("tests/e2e/per_user.py"))
        .args(["pages".as_ref(), dir.as_os_str()])
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let facts = json_of(&cmd.output().expect("python runs"));
    assert_eq!(facts["json"]["first"], facts["json"]["second"], "{facts:#}");
    assert_eq!(
        facts["json"]["server_hits"], 1,
        "the data is stored: {facts:#}"
    );
    let page = facts["page"].as_str().unwrap();
    assert!(
        page.contains("pickle") || page.starts_with("TypeError"),
        "the response object cannot be stored: {page}"
    );
}

/// Issue: secrets went raw into keys. The rewritten functions run under
/// real cashews with two secret values each: both compute (the key tells
/// them apart), a repeat hits, and no stored key holds a secret value.
#[test]
fn stored_keys_hold_no_secret() {
    let (tmp, dir) = project("secrets");
    let names = [
        "profile",
        "decode",
        "by_session",
        "database_name",
        "repository",
        "search",
        "login",
        "fingerprint",
    ];
    let mut args: Vec<String> = names
        .iter()
        .map(|n| format!("app/lookups.py::{n}"))
        .collect();
    // A function taking a credential goes to review; --force is the answer.
    args.extend(["--write", "--force", "--no-setup", "--format", "json"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = tool(&dir, &args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut cmd = Command::new(python());
    cmd.arg(repo().join("tests/e2e/secret_keys.py"))
        .arg(&dir)
        .env("HOME", tmp.path().join("home"))
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let facts = json_of(&cmd.output().expect("python runs"));
    assert_eq!(facts["leaks"], serde_json::json!([]), "{facts:#}");
    for name in names {
        assert_eq!(
            facts["computed"][name],
            serde_json::json!([true, true, false]),
            "{name}: two secrets, two entries; the repeat hits: {facts:#}"
        );
    }
}

/// Starts a rewritten framework fixture through its own startup hooks
/// (`tests/e2e/hooks.py`) and calls the cached function once per arg.
fn start_hooks(tmp: &Path, dir: &Path, framework: &str, counted: &str, args: &[&str]) -> Value {
    let out = Command::new(python())
        .arg(repo().join("tests/e2e/hooks.py"))
        .args([framework, dir.to_str().unwrap(), counted])
        .args(args)
        .env("HOME", tmp.join("home"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONWARNINGS", "ignore")
        .env_remove("CACHE_URL")
        // A telethon client writes its session file where it runs.
        .current_dir(dir)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "hooks.py {framework} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let last = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    serde_json::from_str(&last).unwrap_or_else(|e| panic!("not JSON ({e}): {last}"))
}

/// Issue 14: the setup goes in each framework's startup hook. For each
/// fixture: `--write` puts it there (a second run changes nothing: see
/// `rewrite`), then the app really starts through that hook: the cache is
/// not set up before, is while it runs (the first call would raise
/// NotConfiguredError otherwise), a repeated argument is a hit, and the
/// shutdown hook closes the cache once.
#[test]
fn setup_runs_in_each_framework_startup_hook() {
    // (fixture, target, setup file, place, framework, counted helper, args)
    let table = [
        (
            "hooks_fastapi",
            "shop/prices.py::price_of",
            "shop/core/setup.py",
            "lifespan",
            "fastapi",
            "shop.prices:compute_price",
            ["a1", "a1", "b22"],
        ),
        (
            "hooks_litestar",
            "menu/dishes.py::dish",
            "menu/app.py",
            "on_startup",
            "litestar",
            "menu.dishes:compute_dish",
            ["soup", "soup", "pie"],
        ),
        (
            "hooks_aiohttp",
            "names/lookup.py::describe",
            "names/server.py",
            "new_lifespan",
            "aiohttp",
            "names.lookup:compute_name",
            ["ann", "ann", "bo"],
        ),
        (
            "hooks_aiogram",
            "tipbot/tips.py::tip_for",
            "tipbot/bot.py",
            "on_startup",
            "aiogram",
            "tipbot.tips:compute_tip",
            ["3", "3", "4"],
        ),
        (
            "hooks_discord",
            "jokebot/jokes.py::joke_about",
            "jokebot/bot.py",
            "setup_hook",
            "discord",
            "jokebot.jokes:compute_joke",
            ["cat", "cat", "dog"],
        ),
        (
            "hooks_discord_main",
            "fortunebot/fortunes.py::fortune_for",
            "fortunebot/bot.py",
            "launcher",
            "discord-main",
            "fortunebot.fortunes:compute_fortune",
            ["ann", "ann", "bo"],
        ),
        (
            "hooks_arq",
            "rates/fx.py::rate_of",
            "rates/worker.py",
            "on_startup",
            "arq",
            "rates.fx:compute_rate",
            ["eur", "eur", "gbp"],
        ),
        (
            "hooks_quart",
            "forecast/sky.py::sky_over",
            "forecast/web.py",
            "on_startup",
            "quart",
            "forecast.sky:compute_sky",
            ["oslo", "oslo", "rome"],
        ),
        (
            "hooks_sanic",
            "prices/catalogue.py::price_of",
            "prices/server.py",
            "on_startup",
            "sanic",
            "prices.catalogue:compute_price",
            ["tea", "tea", "coffee"],
        ),
        (
            "hooks_django",
            "scores/standings.py::table_for",
            "scores/apps.py",
            "ready",
            "django",
            "scores.standings:compute_table",
            ["2024", "2024", "2025"],
        ),
        (
            "hooks_faststream",
            "alerts/levels.py::level_at",
            "alerts/app.py",
            "on_startup",
            "faststream",
            "alerts.levels:compute_level",
            ["dee", "dee", "tyne"],
        ),
        (
            "hooks_taskiq",
            "shipping/tariffs.py::tariff_for",
            "shipping/tasks.py",
            "on_startup",
            "taskiq",
            "shipping.tariffs:compute_tariff",
            ["north", "north", "east"],
        ),
        (
            "hooks_pyrogram",
            "quotebot/sayings.py::saying_on",
            "quotebot/bot.py",
            "before_run",
            "pyrogram",
            "quotebot.sayings:compute_saying",
            ["luck", "luck", "rain"],
        ),
        (
            "hooks_telethon",
            "wordbot/meanings.py::meaning_of",
            "wordbot/bot.py",
            "launcher",
            "telethon",
            "wordbot.meanings:compute_meaning",
            ["tide", "tide", "moss"],
        ),
    ];
    for (fixture, target, file, place, framework, counted, args) in table {
        let (tmp, dir) = project(fixture);
        let report = rewrite(&dir, target);
        assert_eq!(report["setup"]["file"], file, "{fixture}: {report:#}");
        assert_eq!(report["setup"]["place"], place, "{fixture}: {report:#}");
        assert!(
            report["setup"]["warnings"].as_array().unwrap().is_empty(),
            "{fixture}: {report:#}"
        );
        for f in [file, target.split("::").next().unwrap()] {
            common::python_parses(&dir.join(f)).unwrap_or_else(|e| panic!("{fixture}: {f}: {e}"));
        }
        let facts = start_hooks(tmp.path(), &dir, framework, counted, &args);
        assert_eq!(facts["setup_before_start"], false, "{fixture}: {facts:#}");
        assert_eq!(facts["setup_while_running"], true, "{fixture}: {facts:#}");
        let calls: Vec<String> = calls(&facts);
        assert_eq!(
            calls,
            [args[0], args[2]],
            "{fixture}: the repeat is a hit: {facts:#}"
        );
        let r = &facts["results"];
        assert_eq!(r[0], r[1], "{fixture}");
        assert_ne!(r[0], r[2], "{fixture}: another argument, another value");
        // Django has no shutdown hook: nothing closes the cache there.
        let closes = usize::from(framework != "django");
        assert_eq!(
            facts["closed"], closes,
            "{fixture}: the shutdown hook closes the cache"
        );
    }
}

/// Runs the project's own pytest suite (`files` only, when given) with the
/// default disk cache under `home`; the exit code and the output.
fn pytest(dir: &Path, home: &Path, files: &[&str]) -> (i32, String) {
    let out = Command::new(python())
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .args(files)
        .current_dir(dir)
        .env("HOME", home)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("CACHE_URL")
        .env_remove("XDG_CACHE_HOME")
        .output()
        .expect("pytest runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// Issue 14: a project's tests failed on their second run, served the
/// first run's values from the persistent disk default. After `--write`
/// the project's own suite passes twice in a row; with the tests' conftest
/// left as it was, the second run fails (so the check can fail).
#[test]
fn the_projects_own_tests_pass_twice_after_write() {
    let (tmp, dir) = project("tested_app");
    let out = tool(
        &dir,
        &["stock/api.py::units_on_hand", "--write", "--format", "json"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json_of(&out);
    assert_eq!(report["setup"]["status"], "added", "{report:#}");
    assert_eq!(report["tests"]["status"], "added", "{report:#}");
    assert_eq!(report["tests"]["file"], "tests/conftest.py");
    let conftest = read(&dir, "tests/conftest.py");
    let env = conftest
        .find("os.environ.setdefault(\"CACHE_URL\", \"mem://\")")
        .unwrap();
    assert!(
        env < conftest.find("from stock.api import app").unwrap(),
        "{conftest}"
    );
    assert!(
        conftest.contains("def client():"),
        "the project's fixture is kept"
    );
    let again = json_of(&tool(
        &dir,
        &["stock/api.py::units_on_hand", "--write", "--format", "json"],
    ));
    assert_eq!(again["diff"], "", "{again:#}");
    assert_eq!(again["tests"]["status"], "present", "{again:#}");

    let home = tmp.path().join("home");
    for run in ["first", "second"] {
        let (code, text) = pytest(&dir, &home, &[]);
        assert_eq!(code, 0, "{run} run:\n{text}");
        assert!(text.contains("4 passed"), "{run} run:\n{text}");
    }

    // The control: the same rewrite with the tests' own conftest put back.
    let (tmp, dir) = project("tested_app");
    let out = tool(&dir, &["stock/api.py::units_on_hand", "--write"]);
    assert_eq!(out.status.code(), Some(0));
    std::fs::copy(
        repo().join("fixtures/e2e/tested_app/tests/conftest.py"),
        dir.join("tests/conftest.py"),
    )
    .unwrap();
    let home = tmp.path().join("home");
    let (code, text) = pytest(&dir, &home, &["tests/test_api.py"]);
    assert_eq!(code, 0, "first run without the conftest change:\n{text}");
    let (code, text) = pytest(&dir, &home, &["tests/test_api.py"]);
    assert_eq!(
        code, 1,
        "the second run is served the first run's value:\n{text}"
    );
    assert!(text.contains("1 failed"), "{text}");
}

/// Issue 14: an API client library got `cache.setup(...)` at import time
/// and cashews as a hard requirement, overriding every host application's
/// cache. Now it gets its own instance in `stock_client/_cache.py` (no
/// global setup), cashews as the optional `cache` extra, and under real
/// cashews: it caches in memory by default, the host's setup of it wins,
/// cashews' global cache stays untouched, and without cashews installed
/// the function runs uncached.
#[test]
fn a_library_gets_its_own_cache_and_an_optional_extra() {
    let (tmp, dir) = project("library");
    let target = "stock_client/lookups.py::units_for";
    let out = tool(&dir, &[target, "--write", "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json_of(&out);
    assert_eq!(report["setup"]["status"], "library", "{report:#}");
    assert_eq!(report["setup"]["file"], "stock_client/_cache.py");
    let message = report["setup"]["message"].as_str().unwrap();
    assert!(message.contains("stock_client_cache.setup("), "{message}");
    assert_eq!(report["dependency"]["status"], "added");
    let diff = report["diff"].as_str().unwrap();
    assert!(
        diff.contains("--- /dev/null\n+++ b/stock_client/_cache.py\n"),
        "{diff}"
    );
    let pyproject = read(&dir, "pyproject.toml");
    assert!(
        pyproject.ends_with("\n[project.optional-dependencies]\ncache = [\"cashews>=7.0\"]\n"),
        "{pyproject}"
    );
    assert!(
        pyproject.contains("dependencies = []\n"),
        "no hard requirement: {pyproject}"
    );
    let lookups = read(&dir, "stock_client/lookups.py");
    assert!(
        lookups.contains("from stock_client._cache import stock_client_cache\n"),
        "{lookups}"
    );
    assert!(lookups.contains("@stock_client_cache(ttl="), "{lookups}");
    assert!(
        !lookups.contains("cache.setup") && !lookups.contains("from cashews"),
        "{lookups}"
    );
    let again = json_of(&tool(&dir, &[target, "--write", "--format", "json"]));
    assert_eq!(again["diff"], "", "a second run changes nothing: {again:#}");
    assert_eq!(again["results"][0]["status"], "unchanged");
    assert_eq!(again["dependency"]["status"], "present");

    let script = r#"
import asyncio, json, sys, time
if sys.argv[1] == "without":
    sys.modules["cashews"] = None  # as if the extra were not installed
from stock_client import lookups
async def timed(sku):
    start = time.monotonic()
    value = await lookups.units_for(sku)
    return [value, time.monotonic() - start >= 0.3]
async def main():
    facts = {"default": [await timed("apple"), await timed("apple")]}
    if sys.argv[1] == "with":
        import cashews
        from stock_client._cache import stock_client_cache
        stock_client_cache.setup("disk://?directory=" + sys.argv[2] + "&shards=0")
        facts["host"] = [await timed("apple"), await timed("apple")]
        facts["global_setup"] = cashews.cache.is_setup()
    print(json.dumps(facts))
asyncio.run(main())
"#;
    let run = |mode: &str| {
        let out = Command::new(python())
            .args(["-c", script, mode])
            .arg(tmp.path().join("host-cache"))
            .current_dir(&dir)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env_remove("STOCK_CLIENT_CACHE_URL")
            .output()
            .expect("python runs");
        json_of(&out)
    };
    let with = run("with");
    let computed = |facts: &Value, part: &str| -> Vec<bool> {
        facts[part]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c[1].as_bool().unwrap())
            .collect()
    };
    assert_eq!(
        computed(&with, "default"),
        [true, false],
        "memory by default: {with}"
    );
    assert_eq!(
        computed(&with, "host"),
        [true, false],
        "the host's backend: {with}"
    );
    assert!(
        tmp.path().join("host-cache/cache.db").is_file(),
        "the host's setup wins"
    );
    assert_eq!(
        with["global_setup"], false,
        "cashews' global cache is left alone"
    );
    let without = run("without");
    assert_eq!(
        computed(&without, "default"),
        [true, true],
        "uncached without cashews: {without}"
    );
    assert_eq!(without["default"][1][0], 12);
}

/// Issue 13: a cached read whose table the project's own functions write
/// gets tags, and each writer deletes them after its write; under real
/// cashews (disk and Redis) a write is followed by a fresh read: the entry
/// tag drops only the written SKU's entry, the family tag every entry.
#[test]
fn writers_invalidate_what_they_change() {
    let redis = Redis::start();
    let (tmp, dir) = project("invalidation");
    let report = rewrite(&dir, "depot/stock.py::stock_level");
    let inv = &report["results"][0]["invalidation"];
    assert_eq!(
        inv["tags"],
        serde_json::json!(["stock", "stock:{sku}"]),
        "{inv:#}"
    );
    let code = read(&dir, "depot/stock.py");
    assert!(
        code.contains("    await cache.delete_tags(f\"stock:{sku}\")\n"),
        "{code}"
    );
    assert!(
        code.contains("    await cache.delete_tags(\"stock\")\n"),
        "{code}"
    );
    common::python_parses(&dir.join("depot/stock.py")).unwrap();
    let disk = format!(
        "disk://?directory={}&shards=0",
        tmp.path().join("disk").display()
    );
    for url in [disk, redis.url()] {
        let out = Command::new(python())
            .arg(repo().join("tests/e2e/invalidation.py"))
            .args([dir.to_str().unwrap(), &url])
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env_remove("CACHE_URL")
            .output()
            .expect("python runs");
        assert!(
            out.status.success(),
            "{url}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let steps: Value = serde_json::from_slice(&out.stdout).unwrap();
        let got: Vec<(i64, i64)> = steps
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["value"].as_i64().unwrap(), s["queries"].as_i64().unwrap()))
            .collect();
        // (value, queries): a miss, a hit, a miss; the restock of a drops a's
        // entry only (b still a hit); the write-off drops the family.
        assert_eq!(
            got,
            [(1, 1), (1, 0), (2, 1), (6, 1), (2, 0), (0, 1)],
            "{url}: {steps:#}"
        );
    }
}
