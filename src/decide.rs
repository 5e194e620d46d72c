//! The decision tree: which cashews decorator, with which TTL. Every branch
//! leaves a reason behind, shown in `decision.reasons`.

use serde::Serialize;

use crate::cashews::{format_ttl, parse_ttl};
use crate::function::Function;
use crate::key::{Key, looks_aggregate};
use crate::module::Module;
use crate::project::Index;
use crate::project::resolve::Symbol;
use crate::purity::{Purity, Verdict};
use crate::source::{BadInput, SourceFile};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Strategy {
    /// `@cache(ttl, key)`: plain caching.
    Cache,
    /// `@cache.early(...)`: refreshed in the background before it expires.
    Early,
    /// `@cache.soft(...)`: after soft_ttl the next call recomputes, and the old value is served if that raises.
    Soft,
    /// `@cache(..., lock=True)`: one caller computes, the others wait.
    Locked,
    /// `@cache.failover(...)` over `@cache(...)`: serves the last good value when the call raises.
    Failover,
    /// `@cache.iterator(...)`: for async generators.
    Iterator,
    /// `@cache.hit(...)`: expires after N hits.
    Hit,
}

impl Strategy {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Strategy::Cache => "cache",
            Strategy::Early => "early",
            Strategy::Soft => "soft",
            Strategy::Locked => "locked",
            Strategy::Failover => "failover",
            Strategy::Iterator => "iterator",
            Strategy::Hit => "hit",
        }
    }

    /// Default TTL in seconds when neither `--ttl` nor config gives one.
    pub(crate) fn default_ttl(self) -> u64 {
        match self {
            Strategy::Failover => 5 * 60, // the short inner cache; the failover copy lives a day
            _ => 3600,
        }
    }
}

/// What the user asked for on the command line (or in config).
#[derive(Debug, Clone, Default)]
pub(crate) struct Request {
    pub(crate) ttl: Option<String>,
    pub(crate) key: Option<String>,
    pub(crate) strategy: Option<Strategy>,
    pub(crate) tags: Vec<String>,
    pub(crate) force: bool,
    /// Look for the project's writers of what the target reads.
    pub(crate) invalidate: bool,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Decision {
    pub(crate) strategy: Strategy,
    pub(crate) reasons: Vec<String>,
    #[serde(skip)]
    pub(crate) ttl: u64,
    /// `early_ttl`, `soft_ttl`, or the failover copy's TTL.
    #[serde(skip)]
    pub(crate) second_ttl: Option<u64>,
}

pub(crate) enum Outcome {
    Decorate(Decision),
    /// Already cached by cashews: nothing to do.
    Unchanged(String),
    /// Not safe or not possible to cache: exit 1.
    Refused(String),
    /// Evidence a person must weigh (the clock, randomness, a credential
    /// check, a callee that looks like a write): exit 1 unless `--force`.
    Review(String),
}

/// What stops caching: a refusal, or a question for a person.
enum Gate {
    Refuse(String),
    Review(String),
}

const OTHER_CACHES: &[&str] = &[
    "lru_cache",
    "functools.cache",
    "alru_cache",
    "cached",
    "aiocache.cached",
    "async_lru.alru_cache",
];
const NOT_CACHEABLE: &[(&str, &str)] = &[
    ("contextmanager", "a context manager"),
    ("asynccontextmanager", "a context manager"),
    ("abstractmethod", "abstract"),
    ("overload", "an @overload stub"),
    ("property", "a @property"),
    ("cached_property", "a @cached_property"),
    ("setter", "a property setter"),
];
const WRITE_ROUTES: &[&str] = &[
    "post",
    "put",
    "patch",
    "delete",
    "websocket",
    "websocket_route",
];

pub(crate) fn decide<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    f: &Function<'p>,
    purity: &Purity,
    key: &Key,
    req: &Request,
) -> Result<Outcome, BadInput> {
    let src = module.src;
    let names = index.cashews(module);
    if let Some(d) = f
        .decorators
        .iter()
        .filter_map(|d| names.decorator(src, d))
        .find(|d| d.caches())
    {
        return Ok(Outcome::Unchanged(format!(
            "already cached with @{}",
            decorator_label(d.strategy())
        )));
    }
    if let Some(refusal) = structural_refusal(src, f).or_else(|| other_cache(index, module, f)) {
        return Ok(Outcome::Refused(refusal));
    }
    let mut reasons = vec![if f.is_generator {
        "async generator: cashews caches it with @cache.iterator".to_string()
    } else {
        "async def: cashews can await it".to_string()
    }];
    match purity_gate(f, purity, req.force) {
        Ok(reason) => reasons.push(reason),
        Err(Gate::Refuse(refusal)) => return Ok(Outcome::Refused(refusal)),
        Err(Gate::Review(question)) => return Ok(Outcome::Review(question)),
    }
    let stored = crate::storable::storability(index, module, f);
    match (&stored.problem, &stored.secret) {
        (Some(problem), _) if !req.force => {
            return Ok(Outcome::Refused(format!(
                "{problem} (--force caches it anyway)"
            )));
        }
        (None, Some(secret)) if !req.force => {
            return Ok(Outcome::Review(format!(
                "needs review: {secret}. Question: may these credentials sit in the cache backend for the TTL? (--force caches it)"
            )));
        }
        _ => {}
    }
    reasons.extend(stored.warning);
    if let Some(question) = key
        .review
        .first()
        .filter(|_| !req.force && req.key.is_none())
    {
        return Ok(Outcome::Review(format!(
            "needs review of its key: {question} (--key gives one, --force keys it as designed)"
        )));
    }
    if !f.is_generator && !f.returns_value(src) {
        if !req.force {
            return Ok(Outcome::Refused(
                "never returns a value: caching would store None and skip whatever the function does; --force caches it anyway".to_string(),
            ));
        }
        reasons.push("never returns a value; cached anyway (--force)".to_string());
    }
    let strategy = choose(f, purity, key, req, &mut reasons)?;
    let clock = purity.effects.iter().any(|e| e.category == "time");
    if clock {
        reasons.push(
            "the result depends on the clock (--force): the TTL must be no longer than the time the result stays valid, or put a time bucket in the key (e.g. a `day` parameter the callers pass)".to_string(),
        );
    }
    let default = (clock && req.ttl.is_none()).then(|| CLOCK_TTL.to_string());
    let (ttl, second_ttl) = ttls(
        strategy,
        req.ttl.as_deref().or(default.as_deref()),
        &mut reasons,
    )?;
    Ok(Outcome::Decorate(Decision {
        strategy,
        reasons,
        ttl,
        second_ttl,
    }))
}

fn decorator_label(strategy: &str) -> String {
    if strategy == "cache" {
        "cache".to_string()
    } else {
        format!("cache.{strategy}")
    }
}

fn structural_refusal(src: &SourceFile, f: &Function) -> Option<String> {
    let _ = src;
    if let Some((_, what)) = NOT_CACHEABLE
        .iter()
        .find(|(name, _)| f.has_decorator(&[name]))
    {
        return Some(format!(
            "is {what}: cashews cannot cache it; cache the async function it calls instead"
        ));
    }
    if !f.is_async {
        return Some(
            "is a sync def: cashews awaits the function it wraps, so every call would fail with TypeError at run time; \
             make it `async def` (run blocking work with asyncio.to_thread) and cache that"
                .to_string(),
        );
    }
    let write_route = f
        .decorators
        .iter()
        .filter_map(|d| d.dotted.as_deref())
        .find(|d| {
            d.rsplit_once('.')
                .is_some_and(|(_, verb)| WRITE_ROUTES.contains(&verb))
        });
    if let Some(route) = write_route {
        return Some(format!(
            "is a @{route} route: a write endpoint must run on every request, so it is not cached"
        ));
    }
    None
}

/// The default TTL of a clock-dependent result cached with `--force`.
const CLOCK_TTL: &str = "1m";

/// Caches from other libraries, by the decorator's import.
const LIBRARY_CACHES: &[&str] = &[
    "functools.lru_cache",
    "functools.cache",
    "async_lru.alru_cache",
    "aiocache.cached",
    "aiocache.multi_cached",
    "aiocache.decorators.cached",
    "fastapi_cache.decorator.cache",
    "cachetools.cached",
    "cachetools.func.ttl_cache",
    "cachetools.func.lru_cache",
    "asyncache.cached",
    "async_cache.AsyncLRU",
    "async_cache.AsyncTTL",
    "aiocache.Cache",
];

/// Whether something else caches the function already: a caching library's
/// decorator, the project's own caching decorator, or a `.cache_clear()` /
/// `.invalidate()` on it somewhere in the project (its cache is managed
/// there). Stacking cashews under it would defeat that invalidation.
fn other_cache<'p>(index: &Index<'p>, module: &Module<'p>, f: &Function) -> Option<String> {
    let src = module.src;
    for d in &f.decorators {
        let callee = if d.expr.kind() == "call" {
            d.expr.child_by_field_name("function").unwrap_or(d.expr)
        } else {
            d.expr
        };
        match index.resolve_node(module, callee) {
            Symbol::External(name) if LIBRARY_CACHES.contains(&name.as_str()) => {
                return Some(format!(
                    "is already cached with @{} ({name}): stacking cashews under it would defeat its invalidation; remove it first or keep it",
                    src.text_of(callee)
                ));
            }
            Symbol::Function(def) => {
                let name = def
                    .qualname
                    .rsplit('.')
                    .next()
                    .unwrap_or(&def.qualname)
                    .to_ascii_lowercase();
                if name.contains("cache") || name.contains("memo") {
                    return Some(format!(
                        "is already cached by the project's own decorator @{} ({}): stacking cashews under it would defeat its invalidation",
                        src.text_of(callee),
                        index.module_name(&def.path)
                    ));
                }
            }
            _ => {}
        }
    }
    if f.has_decorator(OTHER_CACHES) {
        return Some(
            "is already cached by another library (lru_cache/alru_cache/aiocache): remove that first".to_string(),
        );
    }
    let found = index.cache_managed(&f.name)?;
    Some(format!(
        "is managed by another cache: `{}.cache_clear()`/`.invalidate()` is called in {}; stacking cashews under it would defeat that invalidation",
        f.name,
        crate::render::diff_path(&found)
    ))
}

/// Ok(reason) when caching may go on; Err otherwise.
fn purity_gate(f: &Function, purity: &Purity, force: bool) -> Result<String, Gate> {
    let _ = f;
    match purity.verdict {
        Verdict::Pure => {
            Ok("no side effects found in the body or the helpers it calls".to_string())
        }
        Verdict::Unknown => {
            let evidence: Vec<String> = purity
                .effects
                .iter()
                .map(|e| {
                    format!(
                        "{} at line {}: `{}`{} ({})",
                        e.category,
                        e.line,
                        e.code,
                        e.chain(),
                        e.note
                    )
                })
                .collect();
            if force {
                return Ok(format!(
                    "to review, cached anyway (--force): {}",
                    evidence.join("; ")
                ));
            }
            let first = &purity.effects[0];
            Err(Gate::Review(format!(
                "needs review: {}. {} (--force caches it)",
                evidence.join("; "),
                question(&first.category, &first.code)
            )))
        }
        Verdict::Impure => {
            let e = purity
                .effects
                .iter()
                .find(|e| e.severity == "block")
                .expect("impure has a block");
            let what = format!(
                "{} at line {}: `{}`{} ({})",
                e.category,
                e.line,
                e.code,
                e.chain(),
                e.note
            );
            if force {
                Ok(format!(
                    "has side effects ({what}); cached anyway (--force)"
                ))
            } else {
                Err(Gate::Refuse(format!(
                    "has side effects: {what}; caching would skip them on every hit (--force caches it anyway)"
                )))
            }
        }
    }
}

/// The one question a person must answer before caching, by the kind of evidence.
fn question(category: &str, code: &str) -> String {
    match category {
        "time" => "Question: may a result be served for a while after the clock has moved on? If so, --force caches it with a TTL no longer than that (default 1m), or key it on a time bucket".to_string(),
        "random" => "Question: may callers get the same random value again? If each call needs a fresh one, do not cache it".to_string(),
        "auth" => "Question: may a revoked, expired or changed credential keep working for the whole TTL? Caching a credential check usually must not".to_string(),
        "network" => format!("Question: does `{code}` only ever read (GET)? If callers can make it write, do not cache it"),
        "db_unknown" => format!("Question: is the statement run by `{code}` always a read? A write or a transaction must not be cached"),
        "process" => "Question: may the spawned work be skipped on a cache hit?".to_string(),
        _ => format!("Question: does `{code}` change anything? If it only reads, cache it"),
    }
}

fn choose(
    f: &Function,
    purity: &Purity,
    key: &Key,
    req: &Request,
    reasons: &mut Vec<String>,
) -> Result<Strategy, BadInput> {
    if let Some(s) = req.strategy {
        match (f.is_generator, s) {
            (true, s) if s != Strategy::Iterator => {
                return Err(BadInput(format!(
                    "--strategy {}: {} is an async generator; only --strategy iterator can cache it",
                    s.as_str(),
                    f.name
                )));
            }
            (false, Strategy::Iterator) => {
                return Err(BadInput(format!(
                    "--strategy iterator: {} is a coroutine, not an async generator; use cache, early, soft, locked, hit or failover",
                    f.name
                )));
            }
            _ => {}
        }
        reasons.push(format!("strategy {} chosen with --strategy", s.as_str()));
        return Ok(s);
    }
    if f.is_generator {
        return Ok(Strategy::Iterator);
    }
    if let Some(read) = purity
        .reads
        .iter()
        .find(|r| r.category.starts_with("external_read"))
    {
        reasons.push(format!(
            "reads an external HTTP API (line {}: `{}`): failover serves the last good value when it fails, a short cache keeps it fast",
            read.line, read.code
        ));
        return Ok(Strategy::Failover);
    }
    if key.inputs.is_empty() && looks_aggregate(&f.name) {
        reasons.push(
            "no inputs and the name says aggregate: @cache.early refreshes it in the background before it expires"
                .to_string(),
        );
        return Ok(Strategy::Early);
    }
    reasons.push("plain @cache: no external API, not an aggregate".to_string());
    Ok(Strategy::Cache)
}

/// The TTL and the second TTL a strategy needs (early_ttl, soft_ttl, failover ttl).
fn ttls(
    strategy: Strategy,
    requested: Option<&str>,
    reasons: &mut Vec<String>,
) -> Result<(u64, Option<u64>), BadInput> {
    let ttl = match requested {
        Some(text) => parse_ttl(text).map_err(|e| BadInput(format!("--ttl: {e}")))?,
        None => strategy.default_ttl(),
    };
    let second = match strategy {
        Strategy::Early | Strategy::Soft if ttl < 2 => {
            return Err(BadInput(format!(
                "--ttl {}: {} needs a TTL of at least 2s so that its second TTL can be strictly below it",
                format_ttl(ttl),
                strategy.as_str()
            )));
        }
        // Refresh in the last sixth (1h -> 50m): fresh enough, rare enough.
        Strategy::Early => Some(ttl - (ttl / 6).max(1)),
        Strategy::Soft => Some(ttl / 2),
        // Keep the failover copy long: it is what survives an outage.
        Strategy::Failover => Some((ttl * 4).max(86_400)),
        _ => None,
    };
    let source = if requested.is_some() {
        "from --ttl"
    } else {
        "default for this strategy"
    };
    reasons.push(format!("ttl {} ({source})", format_ttl(ttl)));
    Ok((ttl, second))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::builtin;
    use crate::key::{HandleRules, design};
    use crate::locate::find;

    fn run(code: &str, name: &str, req: &Request) -> Result<(String, String), BadInput> {
        crate::project::tests::with_module(code, |index, module| {
            let f = Function::new(
                module.src,
                find(module.src, &module.functions, name).unwrap(),
            );
            let patterns: Vec<_> = builtin().iter().collect();
            let purity = crate::purity::analyse(index, module, &f, &patterns);
            let key = design(index, module, &f, "m:f", &HandleRules::default());
            outcome(decide(index, module, &f, &purity, &key, req)?)
        })
    }

    fn outcome(o: Outcome) -> Result<(String, String), BadInput> {
        Ok(match o {
            Outcome::Decorate(d) => (d.strategy.as_str().to_string(), format_ttl(d.ttl)),
            Outcome::Unchanged(m) => ("unchanged".to_string(), m),
            Outcome::Refused(m) => ("refused".to_string(), m),
            Outcome::Review(m) => ("review".to_string(), m),
        })
    }

    #[test]
    fn tree_table() {
        let none = Request::default();
        let cases: &[(&str, &str, &str)] = &[
            ("async def f(a):\n    return a\n", "f", "cache"),
            ("async def f(a):\n    yield a\n", "f", "iterator"),
            (
                "async def f(client, u):\n    return (await client.get(f'/x/{u}')).json()\n",
                "f",
                "failover",
            ),
            (
                "async def get_dashboard_stats():\n    return 1\n",
                "get_dashboard_stats",
                "early",
            ),
            (
                "async def get_stats(team):\n    return team\n",
                "get_stats",
                "cache",
            ),
            (
                "import time\nasync def f(a):\n    return a, time.time()\n",
                "f",
                "review",
            ),
            (
                "async def create_user(a):\n    return a\n",
                "create_user",
                "review",
            ),
            ("def f(a):\n    return a\n", "f", "refused"),
            (
                "class A:\n    @property\n    async def p(self):\n        return 1\n",
                "A.p",
                "refused",
            ),
            (
                "async def f(s):\n    await s.commit()\n    return 1\n",
                "f",
                "refused",
            ),
            ("async def f(a):\n    print(a)\n", "f", "refused"),
            (
                "@app.post('/x')\nasync def f(a):\n    return a\n",
                "f",
                "refused",
            ),
            (
                "@app.get('/x')\nasync def f(a):\n    return a\n",
                "f",
                "cache",
            ),
            (
                "from functools import lru_cache\n@lru_cache\nasync def f(a):\n    return a\n",
                "f",
                "refused",
            ),
            (
                "from cashews import cache\n@cache(ttl='1h')\nasync def f(a):\n    return a\n",
                "f",
                "unchanged",
            ),
            (
                "from cashews import cache\n@cache.locked(ttl='1m')\nasync def f(a):\n    return a\n",
                "f",
                "cache",
            ),
            (
                "from cashews import cache\n@cache.invalidate('f:{a}')\nasync def f(a):\n    return a\n",
                "f",
                "cache",
            ),
        ];
        for (code, name, want) in cases {
            let (got, detail) = run(code, name, &none).unwrap();
            assert_eq!(got, *want, "{code}: {detail}");
        }
    }

    #[test]
    fn overrides_and_ttls() {
        let req = |s: Strategy, ttl: Option<&str>| Request {
            strategy: Some(s),
            ttl: ttl.map(str::to_string),
            ..Request::default()
        };
        let code = "async def f(a):\n    return a\n";
        assert_eq!(
            run(code, "f", &req(Strategy::Locked, Some("5m"))).unwrap(),
            ("locked".into(), "5m".into())
        );
        assert!(run(code, "f", &req(Strategy::Iterator, None)).is_err());
        assert!(
            run(
                "async def f(a):\n    yield a\n",
                "f",
                &req(Strategy::Cache, None)
            )
            .is_err()
        );
        let err = run(
            code,
            "f",
            &Request {
                ttl: Some("5m30".into()),
                ..Request::default()
            },
        )
        .err()
        .unwrap();
        assert!(err.0.contains("silently drop"), "{err}");
        let forced = Request {
            force: true,
            ..Request::default()
        };
        assert_eq!(
            run(
                "async def f(s):\n    await s.commit()\n    return 1\n",
                "f",
                &forced
            )
            .unwrap()
            .0,
            "cache"
        );
    }

    #[test]
    fn review_names_the_evidence_and_the_question() {
        let code = "import datetime\nasync def f(a):\n    return a, datetime.datetime.now()\n";
        let (status, message) = run(code, "f", &Request::default()).unwrap();
        assert_eq!(status, "review");
        assert!(
            message.contains("time at line 3: `datetime.datetime.now()`"),
            "{message}"
        );
        assert!(
            message.contains("Question: may a result be served"),
            "{message}"
        );
        let forced = Request {
            force: true,
            ..Request::default()
        };
        assert_eq!(
            run(code, "f", &forced).unwrap(),
            ("cache".into(), "1m".into()),
            "a short TTL for the clock"
        );
        let ttl = Request {
            force: true,
            ttl: Some("10s".into()),
            ..Request::default()
        };
        assert_eq!(run(code, "f", &ttl).unwrap().1, "10s");
    }

    #[test]
    fn second_ttls_are_strictly_below() {
        for ttl in [2u64, 7, 60, 3600, 86_400] {
            let mut reasons = Vec::new();
            for s in [Strategy::Early, Strategy::Soft] {
                let (t, second) = ttls(s, Some(&ttl.to_string()), &mut reasons).unwrap();
                assert!(second.unwrap() < t && second.unwrap() > 0, "{s:?} {ttl}");
            }
        }
        assert_eq!(
            ttls(Strategy::Early, None, &mut Vec::new()).unwrap(),
            (3600, Some(3000))
        );
    }
}
