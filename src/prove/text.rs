//! The generated test's text: deterministic (the same probe gives the same
//! bytes), so a deleted test is regenerated identical.

use crate::function::FnKind;
use crate::prove::probe::{Arg, Probe};
use crate::prove::style::Style;

/// A fake for I/O: every attribute, call, await, item, `with` and `async
/// with` gives a fake back; it iterates as empty, is truthy (a fake row is
/// found), compares as neither smaller nor larger, takes item assignment,
/// and pickles (the cache stores what the function returns).
const STUB: &str = r#"class _Stub:
    """Stands in for a database session, a client or a connection: every
    attribute, call, await and item is another stub; it iterates as empty
    and is truthy (a fake row is found)."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Stub()

    def __call__(self, *args, **kwargs):
        return _Stub()

    def __await__(self):
        yield from ()
        return _Stub()

    def __getitem__(self, key):
        return _Stub()

    def get(self, *args, **kwargs):
        # `mapping.get("key", default)` answers its default, as an empty
        # mapping would; `client.get(url)`, `repo.get(db, id)` give a fake.
        if len(args) == 2 and isinstance(args[0], str) and not kwargs:
            return args[1]
        return _Stub()

    def __iter__(self):
        return iter(())

    def __aiter__(self):
        return self

    async def __anext__(self):
        raise StopAsyncIteration

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False

    def __setitem__(self, key, value):
        pass

    def __delitem__(self, key):
        pass

    def __contains__(self, item):
        return False

    def __len__(self):
        return 0

    def __bool__(self):
        # A fake row or response is "found": the read goes on as it would.
        return True

    def __lt__(self, other):
        return False

    __le__ = __gt__ = __ge__ = __lt__

    def __eq__(self, other):
        return isinstance(other, _Stub)

    def __hash__(self):
        return 0

    def __repr__(self):
        return "_Stub()"
"#;

/// Why an iterator's checks stop when its faked I/O yields nothing: cashews'
/// `cache.iterator` stores an iteration only once it has yielded an item.
const EMPTY_ITERATION: &str = "with its I/O faked the iterator yields no item, and cashews stores only an iteration that yields one: nothing cached to check";

/// The whole file.
pub(crate) fn render(p: &Probe, style: Style, unit: bool) -> String {
    let name = p.qualname.replace('.', "_");
    let mut out = header(p, style);
    out.push_str(&imports(p, style));
    if unit {
        out.push_str("\n# Marked as the project marks its isolated tests: these fake their I/O.\npytestmark = pytest.mark.unit\n");
    }
    if !p.stubs.is_empty() {
        out.push_str("\n# Stubbed, because these checks are about the cache, not the database or the\n# network (the function's own I/O is faked):\n");
        for s in &p.stubs {
            out.push_str(&format!("# - {s}\n"));
        }
    }
    let uses_stub = !p.stubs.is_empty()
        || p.writer
            .as_ref()
            .is_some_and(|w| w.args.iter().any(|a| a.ends_with("=_Stub()")));
    if uses_stub {
        out.push_str(&format!("\n\n{STUB}"));
    }
    out.push_str(&format!("\n\n{}", fixture(p)));
    if let Some(template) = &p.template {
        out.push_str(&format!("\n\n{}", served(template)));
    }
    if p.kind == FnKind::Method {
        out.push_str(&format!("\n\n{}", instance(p)));
    }
    let call = |other: bool| call_text(p, other);
    let calls = match p.template {
        Some(_) => "_served(detector)",
        None => "detector.calls",
    };
    let (kept, skip) = match p.generator {
        true => (
            "items = ",
            format!("if not items:\n    pytest.skip({EMPTY_ITERATION:?})\n"),
        ),
        false => ("", String::new()),
    };
    let hit = format!(
        "with cache.detect as detector:\n    {kept}{}\n    assert not {calls}, \"the first call computes: the cache starts empty\"\n{skip}with cache.detect as detector:\n    {}\n    assert {calls}, \"a second call with the same inputs is served from the cache\"\n",
        call(false),
        call(false)
    );
    // The first call of the other checks, whose entry they rely on.
    let first = format!("{kept}{}\n{skip}", call(false));
    out.push_str(&format!(
        "\n\n{}",
        test(style, &format!("test_{name}_second_call_is_a_hit"), &hit)
    ));
    match p.args.iter().find(|a| a.other.is_some()) {
        Some(varied) => {
            let miss = format!(
                "{first}with cache.detect as detector:\n    {}\n    assert not {calls}, \"another `{}` is another key: computed, not served\"\n",
                call(true),
                varied.name
            );
            out.push_str(&format!("\n\n{}", test(style, &format!("test_{name}_other_inputs_miss"), &miss)));
        }
        None => out.push_str(
            "\n\n# No miss check: the key holds no input this test can vary (every call shares one value).\n",
        ),
    }
    if p.writer.is_none() && !p.conditional_writers.is_empty() {
        out.push_str(&format!(
            "\n\n# No write check: the delete added to {} runs only under a condition\n# (an `if`, a loop, an `except`) that fake inputs cannot be relied on to meet.\n",
            p.conditional_writers
                .iter()
                .map(|w| format!("`{w}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(w) = &p.writer {
        let name_of = w.qualname.rsplit('.').next().unwrap_or(&w.qualname);
        let callee = if w.method {
            format!("_instance().{name_of}")
        } else {
            w.qualname.clone()
        };
        // A guard the fake values trip (`if taken: raise ...`) stops the
        // writer before its write: nothing to check then, and the test says so.
        let stale = format!(
            "{first}try:\n    await {callee}({})\nexcept Exception as error:\n    pytest.skip(f\"`{name_of}` raised {{error!r}} with fake inputs: the write check needs real ones\")\nwith cache.detect as detector:\n    {}\n    assert not {calls}, \"after `{name_of}` writes, the next read computes again\"\n",
            w.args.join(", "),
            call(false)
        );
        out.push_str(&format!(
            "\n\n{}",
            test(
                style,
                &format!("test_{name}_a_write_drops_the_entry"),
                &stale
            )
        ));
    }
    out
}

fn header(p: &Probe, style: Style) -> String {
    format!(
        "\"\"\"Cache checks for {}:{}, generated by `cashews-add --emit-test`.\n\nAsync tests: {}.\nDelete this file and run the tool again to regenerate it; while it exists the\ntool leaves it alone.\n\"\"\"\n\n",
        p.module,
        p.qualname,
        style.note()
    )
}

fn imports(p: &Probe, style: Style) -> String {
    let mut std: Vec<&str> = p.imports.iter().copied().collect();
    if style == Style::Plain {
        std.push("asyncio");
    }
    std.sort();
    let mut out = String::new();
    for m in &std {
        out.push_str(&format!("import {m}\n"));
    }
    if !std.is_empty() {
        out.push('\n');
    }
    let (cache_module, cache_name) = &p.cache;
    let alias = if cache_name == "cache" {
        String::new()
    } else {
        " as cache".to_string()
    };
    let cache_line = format!("from {cache_module} import {cache_name}{alias}\n");
    let own_cache = cache_module != "cashews";
    out.push_str("import pytest\n");
    if !own_cache {
        out.push_str(&cache_line);
    }
    out.push('\n');
    let mut project = Vec::new();
    if !p.patches.is_empty() {
        project.push(format!("import {} as _target\n", p.module));
    }
    if own_cache {
        project.push(cache_line);
    }
    let top = p.qualname.split('.').next().unwrap_or(&p.qualname);
    let mut names = vec![top];
    if let Some(w) = p.writer.as_ref().filter(|w| !w.method) {
        if w.module == p.module {
            names.push(&w.qualname);
        } else {
            project.push(format!("from {} import {}\n", w.module, w.qualname));
        }
    }
    names.sort_unstable();
    names.dedup();
    project.push(format!("from {} import {}\n", p.module, names.join(", ")));
    // isort's order: `import x` lines before `from x import y` lines.
    project.sort_by_key(|l| (l.starts_with("from "), l.clone()));
    out.push_str(&project.concat());
    out
}

/// The autouse fixture: an empty in-memory backend for each test, and the patches.
fn fixture(p: &Probe) -> String {
    let (arg, patches) = if p.patches.is_empty() {
        (String::new(), String::new())
    } else {
        let lines: String = p
            .patches
            .iter()
            .map(|n| format!("    monkeypatch.setattr(_target, \"{n}\", _Stub())\n"))
            .collect();
        ("monkeypatch".to_string(), lines)
    };
    format!(
        "@pytest.fixture(autouse=True)\ndef _cashews_memory_cache({arg}):\n    \"\"\"Each test starts with an empty in-memory cache: a new mem:// backend.\"\"\"\n    # check_interval=0: no background task tied to one test's event loop.\n    cache.setup(\"mem://\", check_interval=0)\n{patches}"
    )
}

/// The target's key template, and the calls the cache served under it.
fn served(template: &str) -> String {
    format!(
        "# The key of the function under test: a cached function it calls may be served\n# from the cache too (its key made of fake values every call shares).\n_KEY = {}\n\n\ndef _served(detector):\n    \"\"\"The calls of the function under test the cache served (a prefix, such as\n    cache.early's, may stand before its key).\"\"\"\n    served = []\n    for key, call in detector.calls.items():\n        template = str(call.get(\"template\"))\n        if template == _KEY or template.endswith(\":\" + _KEY):\n            served.append(key)\n    return served\n",
        crate::plan::py_str(template)
    )
}

/// A method's instance, built without `__init__` (which may open connections).
fn instance(p: &Probe) -> String {
    let class = p.qualname.split('.').next().unwrap_or(&p.qualname);
    let mut out = format!(
        "def _instance():\n    \"\"\"A {class} built without __init__, holding what the method reads.\"\"\"\n"
    );
    if p.fake_rest {
        out.push_str(&format!(
            "\n    class _Fake({class}):\n        def __getattr__(self, name):\n            \"\"\"A public attribute __init__ would have set: a fake. A private one\n            stays missing, so code filling it in on AttributeError runs as written.\"\"\"\n            if name.startswith(\"_\"):\n                raise AttributeError(name)\n            return _Stub()\n\n    obj = _Fake.__new__(_Fake)\n"
        ));
    } else {
        out.push_str(&format!("    obj = {class}.__new__({class})\n"));
    }
    for (name, value) in &p.self_values {
        out.push_str(&format!("    obj.{name} = {value}\n"));
    }
    let writer_fakes = p.writer.iter().flat_map(|w| &w.self_fakes);
    let fakes: Vec<&String> = p.self_fakes.iter().chain(writer_fakes).collect();
    if !fakes.is_empty() {
        let names: Vec<String> = fakes.iter().map(|n| format!("\"{n}\"")).collect();
        let tuple = if names.len() == 1 {
            format!("({},)", names[0])
        } else {
            format!("({})", names.join(", "))
        };
        out.push_str(&format!(
            "    for name in {tuple}:\n        if not hasattr({class}, name):  # a method or property of the class stays\n            setattr(obj, name, _Stub())\n"
        ));
    }
    out.push_str("    return obj\n");
    out
}

/// `await f(a=1, session=_Stub())`, or the collected items of a generator.
fn call_text(p: &Probe, other: bool) -> String {
    let args: Vec<String> = p
        .args
        .iter()
        .map(|a: &Arg| {
            let v = match (&a.other, other) {
                (Some(o), true) => o,
                _ => &a.same,
            };
            format!("{}={v}", a.name)
        })
        .collect();
    let callee = match p.kind {
        FnKind::Method => {
            let method = p.qualname.rsplit('.').next().unwrap_or(&p.qualname);
            format!("_instance().{method}")
        }
        _ => p.qualname.clone(),
    };
    let call = format!("{callee}({})", args.join(", "));
    if p.generator {
        format!("[item async for item in {call}]")
    } else {
        format!("await {call}")
    }
}

/// One test in the project's style; `body` is the check at indentation 0.
fn test(style: Style, name: &str, body: &str) -> String {
    let indent = |text: &str, by: &str| -> String {
        text.lines()
            .map(|l| {
                if l.is_empty() {
                    "\n".to_string()
                } else {
                    format!("{by}{l}\n")
                }
            })
            .collect()
    };
    match style {
        Style::AsyncioMark => format!(
            "@pytest.mark.asyncio\nasync def {name}():\n{}",
            indent(body, "    ")
        ),
        Style::Anyio => format!(
            "@pytest.mark.anyio\nasync def {name}():\n{}",
            indent(body, "    ")
        ),
        Style::AsyncioAuto => format!("async def {name}():\n{}", indent(body, "    ")),
        Style::Plain => format!(
            "def {name}():\n    async def check():\n{}\n    asyncio.run(check())\n",
            indent(body, "        ")
        ),
    }
}
