//! Every decorator the tool emits, run under real cashews 7.6 (mem:// backend):
//! the second call is served from the cache, and different arguments do not
//! collide. Calls are counted through a fake client the key leaves out, so the
//! cached function itself has no side effect added.

mod common;

use std::process::Command;

use common::*;

const MODULE: &str = r#"
async def price(client, a: int, b: int):
    return await client.compute(a, b)


async def rows(client, a: int, b: int):
    for i in range(2):
        yield await client.compute(a, b, i)


class Catalog:
    def __init__(self, host: str, client):
        self._host = host
        self._client = client

    async def lookup(self, a: int, api_token: str):
        return await self._client.compute(a, len(self._host), len(api_token))
"#;

const HARNESS: &str = r#"
import asyncio, importlib, json, sys
from cashews import cache

cache.setup("mem://")
mod = importlib.import_module("shop")

class Client:
    def __init__(self):
        self.calls = 0
    async def compute(self, *args):
        self.calls += 1
        return sum(args)

async def call(fn, *args):
    if sys.argv[1] == "rows":
        return [x async for x in fn(*args)]
    return await fn(*args)

async def main():
    c = Client()
    if sys.argv[1] == "Catalog.lookup":
        one, other = mod.Catalog("h1", c), mod.Catalog("host2", c)
        first = await one.lookup(1, "tok")
        second = await one.lookup(1, "tok")
        different = await other.lookup(1, "tok")
    else:
        fn = getattr(mod, sys.argv[1])
        first = await call(fn, c, 1, 2)
        second = await call(fn, c, 1, 2)
        different = await call(fn, c, 1, 100)
    print(json.dumps({"first": first, "second": second, "different": different, "calls": c.calls}))

asyncio.run(main())
"#;

#[test]
fn emitted_decorators_cache_under_real_cashews() {
    let py = venv_python();
    let cases: &[(&str, &[&str])] = &[
        ("price", &[]),
        ("price", &["--strategy", "early"]),
        ("price", &["--strategy", "soft"]),
        ("price", &["--strategy", "locked"]),
        ("price", &["--strategy", "hit"]),
        ("price", &["--strategy", "failover"]),
        ("price", &["--tags", "prices,price:{a}"]),
        ("rows", &[]),
        // It takes a credential (a review case): forced, to check its hashed key.
        ("Catalog.lookup", &["--force"]),
    ];
    for (target, args) in cases {
        let dir = project(&[("shop.py", MODULE)]);
        // --no-setup: the harness sets up mem:// itself (a disk cache would outlive the test).
        let mut argv = vec![
            format!("shop.py::{target}"),
            "--write".to_string(),
            "--no-setup".to_string(),
        ];
        argv.extend(args.iter().map(|a| a.to_string()));
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let out = run(dir.path(), &argv);
        assert_eq!(code(&out), 0, "{target} {args:?}: {}", stderr(&out));
        let ran = Command::new(&py)
            .args(["-c", HARNESS, target])
            // The rewrite also adds the project's cache.setup (a disk cache under
            // ~/.cache) to shop.py; keep every case on a fresh mem:// backend.
            .env("CACHE_URL", "mem://")
            .current_dir(dir.path())
            .output()
            .unwrap();
        let written = std::fs::read_to_string(dir.path().join("shop.py")).unwrap();
        assert!(
            ran.status.success(),
            "{target} {args:?}: {}\n{written}",
            String::from_utf8_lossy(&ran.stderr)
        );
        let facts: serde_json::Value = serde_json::from_slice(&ran.stdout).unwrap();
        assert_eq!(facts["first"], facts["second"], "{target} {args:?}");
        assert_ne!(
            facts["first"], facts["different"],
            "{target} {args:?}: key collision\n{written}"
        );
        let per_call = if *target == "rows" { 2 } else { 1 };
        assert_eq!(
            facts["calls"],
            2 * per_call,
            "{target} {args:?}: the second call must be a cache hit\n{written}"
        );
    }
}
