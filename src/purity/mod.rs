//! Is the function safe to cache? Every call and assignment in its body is
//! checked against the side-effect catalogue and the state-mutation rules,
//! and every call into the project is followed, across modules and to any
//! depth: each function's summary is computed once (`Analyser::summary`)
//! and reused by its callers, its effects carrying the call chain.

pub(crate) mod args;
mod body;
mod calls;
mod scope;

use serde::Serialize;

use crate::catalogue::{Pattern, Severity};
use crate::function::Function;
use crate::module::Module;
use crate::project::Index;
use crate::project::effects::{Cond, Holder};

pub(crate) use crate::project::effects::Effect;
pub(crate) use args::string_value;
pub(crate) use body::{Analyser, first_line};
pub(crate) use calls::{argument_for, argument_target, called, class_of};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Verdict {
    Pure,
    Impure,
    Unknown,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Purity {
    pub(crate) verdict: Verdict,
    /// Effects with severity block or warn.
    pub(crate) effects: Vec<Effect>,
    /// Reads (severity read): not effects, but they steer the decision.
    #[serde(skip)]
    pub(crate) reads: Vec<Effect>,
    /// The project functions its calls reach (see `Summary::reached`).
    #[serde(skip)]
    pub(crate) reached: Vec<crate::project::resolve::Def>,
}

/// Function names that say "I write".
const WRITE_PREFIXES: &[&str] = &[
    "create_",
    "update_",
    "delete_",
    "remove_",
    "send_",
    "post_",
    "put_",
    "save_",
    "write_",
    "set_",
    "add_",
    "insert_",
    "upsert_",
    "publish_",
    "notify_",
    "register_",
    "reset_",
    "invalidate_",
    "charge_",
    "refund_",
];

/// Whether a function name says it writes (`create_user`, `_save_all`).
pub(crate) fn names_a_write(name: &str) -> bool {
    let bare = name.trim_start_matches('_');
    WRITE_PREFIXES.iter().any(|p| bare.starts_with(p))
}

/// Every effect of `f`'s summary with its whole chain, none merged: the
/// invalidation asks each chain what it writes (two writes behind one
/// call are two answers). Calls on an `async with`-entered object are
/// followed here: the writes a client's context makes are writes.
pub(crate) fn chains<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    f: &Function<'p>,
    patterns: &[&Pattern],
) -> Vec<Effect> {
    let analyser = Analyser {
        index,
        patterns,
        entered: true,
    };
    let summary = analyser.summary(module, f, &mut Vec::new());
    summary
        .found
        .iter()
        .map(|found| found.effect.clone())
        .collect()
}

/// The purity of `f` in `module`, its calls followed through `index`.
pub(crate) fn analyse<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    f: &Function<'p>,
    patterns: &[&Pattern],
) -> Purity {
    let analyser = Analyser {
        index,
        patterns,
        entered: false,
    };
    let summary = analyser.summary(module, f, &mut Vec::new());
    let mut effects: Vec<Effect> = summary
        .found
        .iter()
        .map(|found| match &found.condition {
            Cond::Always | Cond::Mutates(Holder::Receiver) | Cond::Mutates(Holder::Param(_)) => {
                found.effect.clone()
            }
            Cond::Verb(p) => Effect {
                note: format!("the HTTP method is the parameter `{p}`: callers may pass POST"),
                ..found.effect.clone()
            },
            Cond::Sql(p) => Effect {
                note: format!("the SQL statement is the parameter `{p}`: callers may pass a write"),
                ..found.effect.clone()
            },
        })
        .collect();
    if let Some(prefix) = WRITE_PREFIXES
        .iter()
        .find(|p| f.name.trim_start_matches('_').starts_with(*p))
    {
        effects.push(warn_on_def(
            f,
            "unknown",
            format!("the name ({prefix}…) suggests a write"),
        ));
    }
    effects.extend(closure_reads(module, f));
    // A credential passed on to an outside API only says who is asking (it
    // goes into the key, hashed); one looked up or compared is a check.
    let outgoing = summary.reads.iter().any(|r| r.category == "external_read")
        && !summary.reads.iter().any(|r| r.category.starts_with("db"));
    effects.extend(credential_check(f, outgoing));
    effects.extend(access_gate(f));
    let mut seen = Vec::new();
    effects.retain(|e| {
        let key = (
            e.line,
            e.code.clone(),
            e.category.clone(),
            e.via.first().cloned(),
        );
        let new = !seen.contains(&key);
        seen.push(key);
        new
    });
    let verdict = if effects.iter().any(|e| e.severity == "block") {
        Verdict::Impure
    } else if effects.is_empty() {
        Verdict::Pure
    } else {
        Verdict::Unknown
    };
    Purity {
        verdict,
        effects,
        reads: summary.reads.clone(),
        reached: summary.reached.clone(),
    }
}

/// Words in a function's name that say it checks credentials.
const AUTH_NAMES: &[&str] = &[
    "authenticate",
    "authorize",
    "login",
    "signin",
    "verify",
    "validate_token",
    "check_password",
    "current_user",
    "is_authenticated",
    "is_authorized",
];

/// A credential check: the function takes a credential (a token, a
/// password, a secret, credentials injected with `Security(...)`) or says
/// in its name that it checks one. A cached answer keeps a revoked, expired
/// or changed credential working for the TTL.
fn credential_check(f: &Function, outgoing: bool) -> Option<Effect> {
    let rules = crate::key::HandleRules::default();
    let taken = f
        .params
        .iter()
        .filter(|p| p.kind != crate::function::ParamKind::Receiver)
        .find(|p| {
            let annotation = p.annotation.as_deref().unwrap_or("");
            let flag = matches!(
                annotation,
                "bool" | "int" | "Optional[bool]" | "bool | None"
            ) || ["use_", "is_", "has_", "with_", "no_", "skip_"]
                .iter()
                .any(|f| p.name.starts_with(f));
            !flag && rules.is_secret(&p.name)
                || matches!(
                    p.name.trim_start_matches('_'),
                    "auth" | "jwt" | "otp" | "totp" | "creds"
                )
                || annotation.contains("Credentials")
                || annotation.contains("PasswordRequestForm")
                || p.default
                    .as_deref()
                    .is_some_and(|d| d.starts_with("Security("))
        });
    let name = f.name.to_ascii_lowercase();
    let bare = name.trim_start_matches('_');
    let named = AUTH_NAMES.iter().find(|w| {
        bare == **w
            || bare.starts_with(&format!("{w}_"))
            || (**w == "current_user" && bare.contains(*w))
    });
    let taken = taken.filter(|_| !outgoing);
    let note = match (taken, named) {
        (Some(p), _) => format!(
            "takes a credential (`{}`): if it checks or resolves it, a cached answer keeps working after the credential is revoked, expires or changes",
            p.name
        ),
        (None, Some(w)) => format!(
            "its name says it checks credentials ({w}): a cached answer keeps a revoked or changed credential working"
        ),
        (None, None) => return None,
    };
    Some(warn_on_def(f, "auth", note))
}

/// A `warn` whose evidence is the function itself (its name, its signature).
fn warn_on_def(f: &Function, category: &str, note: String) -> Effect {
    Effect {
        category: category.to_string(),
        severity: Severity::Warn.as_str(),
        line: f.line,
        code: format!("def {}", f.name),
        note,
        via: Vec::new(),
    }
}

/// Words of a qualified name that say the function checks a ban. (Measured
/// on the real set: permission lookups and aiogram filters in general are
/// reads reviewers cache; a ban check is the gate whose stale answer matters.)
const GATE_WORDS: &[&str] = &[
    "ban",
    "banned",
    "blocked",
    "blacklisted",
    "blacklist",
    "blocklist",
    "muted",
];

/// A ban check (`IsUserBannedFilter.__call__`, `is_banned`): a cached "not
/// banned" lets a user banned a minute ago through for the whole TTL.
fn access_gate(f: &Function) -> Option<Effect> {
    let words = crate::key::secrets::words(&f.qualname);
    let word = words.iter().find(|w| GATE_WORDS.contains(&w.as_str()))?;
    Some(warn_on_def(
        f,
        "auth",
        format!(
            "checks a ban (`{word}` in its name): a cached answer lets a user banned since then through for the TTL"
        ),
    ))
}

/// A function defined inside another reads the enclosing function's
/// values: the key cannot hold them, and every function the factory makes
/// would share one cache.
fn closure_reads(module: &Module, f: &Function) -> Option<Effect> {
    let src = module.src;
    let mut parent = f.site.node.parent();
    let outer = loop {
        let node = parent?;
        if node.kind() == "function_definition" {
            break node;
        }
        parent = node.parent();
    };
    let site = crate::locate::FunctionSite {
        node: outer,
        class: None,
        qualname: String::new(),
    };
    let enclosing = Function::new(src, site);
    let bound: Vec<&str> = enclosing
        .params
        .iter()
        .map(|p| p.name.as_str())
        .chain(
            enclosing
                .body
                .targets
                .iter()
                .filter(|(t, _)| t.kind() == "identifier")
                .map(|(t, _)| src.text_of(*t)),
        )
        .collect();
    let own: Vec<&str> = f
        .params
        .iter()
        .map(|p| p.name.as_str())
        .chain(
            f.body
                .targets
                .iter()
                .filter(|(t, _)| t.kind() == "identifier")
                .map(|(t, _)| src.text_of(*t)),
        )
        .collect();
    // A handle from the enclosing function (a repository, a session) is not
    // a value the result is keyed by.
    let handles = crate::key::HandleRules::default();
    let read = f.body.idents.iter().find(|i| {
        let name = src.text_of(**i);
        bound.contains(&name)
            && !own.contains(&name)
            && handles.handle_name(name).is_none()
            && crate::source::is_load(**i)
    })?;
    let name = src.text_of(*read);
    Some(Effect {
        category: "unknown".to_string(),
        severity: Severity::Warn.as_str(),
        line: crate::source::line_of(*read),
        code: name.to_string(),
        note: format!(
            "reads `{name}` from the enclosing function: the key cannot hold it, and every function the factory makes would share one cache"
        ),
        via: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::builtin;
    use crate::locate::find;

    fn purity(text: &str, name: &str) -> Purity {
        crate::project::tests::with_module(text, |index, module| analysed(index, module, name))
    }

    fn analysed<'p>(index: &Index<'p>, module: &Module<'p>, name: &str) -> Purity {
        let f = Function::new(
            module.src,
            find(module.src, &module.functions, name).unwrap(),
        );
        let patterns: Vec<&Pattern> = builtin().iter().collect();
        analyse(index, module, &f, &patterns)
    }

    /// The purity of `rel::name` in a project of `files`.
    fn in_project(files: &[(&str, &str)], rel: &str, name: &str) -> Purity {
        crate::project::tests::with_project_module(files, rel, |index, module| {
            analysed(index, module, name)
        })
    }

    fn categories(p: &Purity) -> Vec<String> {
        p.effects
            .iter()
            .map(|e| format!("{}:{}", e.category, e.severity))
            .collect()
    }

    #[test]
    fn table() {
        let cases: &[(&str, &str, Verdict, &[&str])] = &[
            // Access gates: a cached "not banned" lets a fresh ban through.
            (
                "class IsUserBannedFilter(BaseFilter):\n    async def __call__(self, message):\n        return await repo.get_by_tgid(message.from_user.id)\n",
                "IsUserBannedFilter.__call__",
                Verdict::Unknown,
                &["auth:warn"],
            ),
            (
                "async def is_banned(uid):\n    return await repo.load(uid)\n",
                "is_banned",
                Verdict::Unknown,
                &["auth:warn"],
            ),
            (
                "async def get_banner(uid):\n    return await repo.load(uid)\n",
                "get_banner",
                Verdict::Pure,
                &[],
            ),
            (
                "async def f(a):\n    return a * 2\n",
                "f",
                Verdict::Pure,
                &[],
            ),
            (
                "async def f(session, u):\n    session.add(u)\n    await session.commit()\n    return u\n",
                "f",
                Verdict::Impure,
                &["db_write:block", "db_write:block"],
            ),
            (
                "async def f(s, i):\n    return (await s.execute(select(U).where(U.id == i))).scalar()\n",
                "f",
                Verdict::Pure,
                &[],
            ),
            (
                "async def f(s, i):\n    await s.execute(insert(U).values(id=i))\n    return i\n",
                "f",
                Verdict::Impure,
                &["db_write:block", "db_write:block"],
            ),
            (
                "async def f(s, q):\n    return await s.execute(q)\n",
                "f",
                Verdict::Unknown,
                &["db_unknown:warn"],
            ),
            (
                "import httpx\nasync def f(c, u):\n    return (await c.post(u)).json()\n",
                "f",
                Verdict::Impure,
                &["network_write:block"],
            ),
            (
                "import subprocess as sp\nasync def f():\n    return sp.run(['ls'])\n",
                "f",
                Verdict::Impure,
                &["process:block"],
            ),
            (
                "async def f(p):\n    with open(p, 'w') as fh:\n        fh.write('x')\n    return 1\n",
                "f",
                Verdict::Impure,
                &["file_write:block", "file_write:block"],
            ),
            (
                "async def f(p):\n    with open(p) as fh:\n        return fh.read()\n",
                "f",
                Verdict::Pure,
                &[],
            ),
            (
                "import time\nasync def f():\n    return time.time()\n",
                "f",
                Verdict::Unknown,
                &["time:warn"],
            ),
            (
                "import uuid\nasync def f():\n    return uuid.uuid4()\n",
                "f",
                Verdict::Impure,
                &["random:block"],
            ),
            (
                "SEEN = []\nasync def f(x):\n    SEEN.append(x)\n    return x\n",
                "f",
                Verdict::Impure,
                &["global_write:block"],
            ),
            (
                "async def f(items):\n    items.append(1)\n    return items\n",
                "f",
                Verdict::Impure,
                &["argument_mutation:block"],
            ),
            (
                "async def f(items):\n    out = []\n    out.append(1)\n    return out\n",
                "f",
                Verdict::Pure,
                &[],
            ),
            (
                "COUNT = 0\nasync def f():\n    global COUNT\n    COUNT += 1\n    return COUNT\n",
                "f",
                Verdict::Impure,
                &["global_write:block"],
            ),
            (
                "async def f(m):\n    await m.send_message(1)\n    return 1\n",
                "f",
                Verdict::Impure,
                &["chat_send:block"],
            ),
            (
                "async def create_user(n):\n    return n\n",
                "create_user",
                Verdict::Unknown,
                &["unknown:warn"],
            ),
        ];
        for (code, name, verdict, cats) in cases {
            let p = purity(code, name);
            assert_eq!(p.verdict, *verdict, "{code}\n{:?}", p.effects);
            assert_eq!(categories(&p), *cats, "{code}");
        }
    }

    #[test]
    fn reads_are_not_effects() {
        let p = purity(
            "async def f(client, uid):\n    r = await client.get(f'/users/{uid}')\n    return r.json()\n",
            "f",
        );
        assert_eq!(p.verdict, Verdict::Pure);
        assert!(
            p.reads.iter().any(|r| r.category == "external_read"),
            "{:?}",
            p.reads
        );
    }

    #[test]
    fn follows_helpers_one_level() {
        let code = "class S:\n    async def _save(self, x):\n        await self.session.commit()\n    async def get(self, x):\n        await self._save(x)\n        return x\n";
        let p = purity(code, "S.get");
        assert_eq!(p.verdict, Verdict::Impure);
        assert_eq!(p.effects[0].via[0].line, 3);
        assert_eq!(p.effects[0].line, 5);
        let code = "def helper():\n    import os\n    os.system('x')\nasync def f():\n    helper()\n    return 1\n";
        assert_eq!(purity(code, "f").verdict, Verdict::Impure);
    }

    #[test]
    fn self_state_write_blocks() {
        let p = purity(
            "class A:\n    async def f(self):\n        self.n = 1\n        return 1\n",
            "A.f",
        );
        assert_eq!(categories(&p), ["global_write:block"]);
    }

    #[test]
    fn follows_calls_across_modules_with_the_chain() {
        let files = [
            ("app/__init__.py", ""),
            (
                "app/repo.py",
                "class UserRepo:\n    def __init__(self, session):\n        self.session = session\n    async def consume(self, token):\n        await self._mark(token)\n        return token\n    async def _mark(self, token):\n        await self.session.commit()\n",
            ),
            (
                "app/service.py",
                "from app.repo import UserRepo\nclass Service:\n    def __init__(self, repo: UserRepo):\n        self.repo = repo\n    async def redeem(self, token):\n        return await self.repo.consume(token)\n",
            ),
            (
                "app/api.py",
                "from .service import Service\nasync def redeem(token, service: Service):\n    return await service.redeem(token)\n",
            ),
        ];
        let p = in_project(&files, "app/api.py", "redeem");
        assert_eq!(p.verdict, Verdict::Impure, "{:?}", p.effects);
        let e = &p.effects[0];
        assert_eq!((e.line, e.category.as_str()), (3, "db_write"));
        let chain: Vec<(String, usize)> = e.via.iter().map(|s| (s.path.clone(), s.line)).collect();
        assert_eq!(
            chain,
            [
                ("app/service.py".to_string(), 6),
                ("app/repo.py".to_string(), 5),
                ("app/repo.py".to_string(), 8)
            ]
        );
    }

    #[test]
    fn http_method_passed_by_the_caller_decides() {
        let helper = "import enum\nclass M(enum.Enum):\n    GET = 'GET'\n    POST = 'POST'\nclass Api:\n    async def _request(self, method, url, **kw):\n        async with self._session.request(method, url) as r:\n            return await r.json()\n";
        let case = |body: &str| {
            purity(
                &format!("{helper}    async def f(self, x):\n        return await {body}\n"),
                "Api.f",
            )
        };
        for write in [
            "self._request('POST', x)",
            "self._request(M.POST, x)",
            "self._request(url=x, method='delete')",
            "self._request(x=1, **{'method': 'PATCH', 'url': x})",
        ] {
            let p = case(write);
            assert_eq!(p.verdict, Verdict::Impure, "{write}: {:?}", p.effects);
            assert_eq!(p.effects[0].category, "network_write");
        }
        for read in ["self._request('GET', x)", "self._request(M.GET, x)"] {
            let p = case(read);
            assert_eq!(p.verdict, Verdict::Pure, "{read}: {:?}", p.effects);
            assert!(
                p.reads.iter().any(|r| r.category == "external_read"),
                "{read}"
            );
        }
        // Passed on from the caller's own parameter: the question moves up.
        let p = purity(
            &format!(
                "{helper}    async def f(self, method, x):\n        return await self._request(method, x)\n"
            ),
            "Api.f",
        );
        assert_eq!(p.verdict, Verdict::Unknown);
        assert!(
            p.effects[0].note.contains("parameter `method`"),
            "{:?}",
            p.effects
        );
    }

    #[test]
    fn argument_mutation_follows_what_was_passed() {
        let helper = "def tag(items, x):\n    items.append(x)\n    return items\n";
        let p = purity(
            &format!("{helper}async def f(things, x):\n    return tag(things, x)\n"),
            "f",
        );
        assert_eq!(categories(&p), ["argument_mutation:block"]);
        let p = purity(
            &format!("{helper}async def f(x):\n    out = []\n    return tag(out, x)\n"),
            "f",
        );
        assert_eq!(p.verdict, Verdict::Pure, "{:?}", p.effects);
        let p = purity(
            &format!("{helper}SEEN = []\nasync def f(x):\n    return tag(SEEN, x)\n"),
            "f",
        );
        assert_eq!(categories(&p), ["global_write:block"]);
        let p = purity(
            "class Box:\n    def put(self, x):\n        self.items.append(x)\nasync def f(x):\n    b = Box()\n    b.put(x)\n    return b\n",
            "f",
        );
        assert_eq!(
            p.verdict,
            Verdict::Pure,
            "a fresh local object: {:?}",
            p.effects
        );
        let p = purity(
            "async def f(reader):\n    return await reader.read()\n",
            "f",
        );
        assert_eq!(categories(&p), ["argument_mutation:block"]);
    }

    #[test]
    fn sql_passed_to_a_helper_is_judged_at_the_call() {
        let helper =
            "async def run(conn, query, *args):\n    return await conn.fetch(query, *args)\n";
        let p = purity(
            &format!(
                "{helper}async def f(conn, i):\n    return await run(conn, 'INSERT INTO t VALUES ($1) RETURNING id', i)\n"
            ),
            "f",
        );
        assert_eq!(p.verdict, Verdict::Impure, "{:?}", p.effects);
        let p = purity(
            &format!(
                "{helper}async def f(conn, i):\n    return await run(conn, 'SELECT * FROM t WHERE id = $1', i)\n"
            ),
            "f",
        );
        assert_eq!(p.verdict, Verdict::Pure, "{:?}", p.effects);
        for write in [
            "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x",
            "SELECT * FROM t WHERE id = $1 FOR UPDATE",
        ] {
            let p = purity(
                &format!(
                    "{helper}async def f(conn, i):\n    return await run(conn, '{write}', i)\n"
                ),
                "f",
            );
            assert_eq!(p.verdict, Verdict::Impure, "{write}: {:?}", p.effects);
        }
        let p = purity(
            "async def f(s, i):\n    q = select(U)\n    q = q.where(U.id == i)\n    return (await s.execute(q)).scalar()\n",
            "f",
        );
        assert_eq!(
            p.verdict,
            Verdict::Pure,
            "a query built in steps: {:?}",
            p.effects
        );
    }

    #[test]
    fn super_recursion_and_dynamic_callees() {
        let p = purity(
            "class B:\n    async def get(self):\n        await self.db.commit()\nclass C(B):\n    async def get(self):\n        return await super().get()\n",
            "C.get",
        );
        assert_eq!(p.verdict, Verdict::Impure, "{:?}", p.effects);
        let p = purity(
            "async def f(n):\n    return await g(n)\nasync def g(n):\n    return await f(n - 1)\n",
            "f",
        );
        assert_eq!(p.verdict, Verdict::Pure);
        let p = purity(
            "from fastcrud import FastCRUD\ncrud_users = FastCRUD(User)\nasync def f(db, i):\n    return await crud_users.update(db, i)\n",
            "f",
        );
        assert_eq!(categories(&p), ["global_write:block"], "{:?}", p.effects);
        let p = purity(
            "import aiosql\nqueries = aiosql.from_path('q.sql', 'asyncpg')\nasync def f(conn, u):\n    return await queries.update_user_by_username(conn, u)\n",
            "f",
        );
        assert_eq!(categories(&p), ["unknown:warn"], "{:?}", p.effects);
        let p = purity(
            "async def f(conn):\n    return await conn.fetch('SELECT * FROM t WHERE at > NOW()')\n",
            "f",
        );
        assert_eq!(categories(&p), ["time:warn"], "{:?}", p.effects);
    }

    /// A bot's menu handler picks the step from a table of functions: the
    /// call may run any of them, so their writes are its writes; a table of
    /// readers stays pure, and the local the step is taken into counts too.
    #[test]
    fn dispatch_tables_run_every_entry() {
        let text = "async def show(session, item):\n    return await session.get(Item, item)\n\
async def buy(session, item):\n    session.add(Order(item=item))\n    await session.commit()\n\
async def navigate(level, session, item):\n    levels = {0: show, 1: buy}\n    step = levels[level]\n    await step(session=session, item=item)\n\
async def browse(level, session, item):\n    return await {0: show}[level](session, item)\n";
        let p = purity(text, "navigate");
        assert_eq!(p.verdict, Verdict::Impure, "{:?}", p.effects);
        assert!(
            categories(&p).iter().all(|c| c == "db_write:block"),
            "{:?}",
            p.effects
        );
        assert_eq!(purity(text, "browse").verdict, Verdict::Pure);
    }

    /// An inner function calls through its maker's annotated parameter:
    /// followed into the class, where a statement built by a method
    /// annotated `-> Select` is a read and a delete is a write.
    #[test]
    fn inner_functions_follow_their_makers_parameters() {
        let text = r#"from sqlalchemy import Select, delete, select
class Repo:
    def __init__(self, session):
        self.session = session
    def shelf_statement(self, shelf_id) -> Select:
        return select(Shelf).where(Shelf.id == shelf_id)
    async def list(self, statement):
        return (await self.session.execute(statement)).scalars().all()
    async def purge(self, shelf_id):
        await self.session.execute(delete(Shelf).where(Shelf.id == shelf_id))
def make_reader(repo: Repo):
    async def read(shelf_id):
        return await repo.list(repo.shelf_statement(shelf_id))
    return read
def make_purger(repo: Repo):
    async def purge(shelf_id):
        await repo.purge(shelf_id)
    return purge
"#;
        let p = purity(text, "make_reader.read");
        assert_eq!(p.verdict, Verdict::Pure, "{:?}", p.effects);
        let p = purity(text, "make_purger.purge");
        assert_eq!(p.verdict, Verdict::Impure, "{:?}", p.effects);
        assert!(
            categories(&p).iter().all(|c| c == "db_write:block"),
            "{:?}",
            p.effects
        );
    }
}
