//! From a decision to text edits: the decorator line(s) above `def`, and the import.

use crate::cashews::format_ttl;
use crate::decide::{Decision, Strategy};
use crate::edit::Edit;
use crate::function::Function;
use crate::module::Module;
use crate::source::SourceFile;
use crate::wrap::{Arg, Call, indent_unit};

/// The line ending most lines of the file use (LF when there is none).
pub(crate) fn file_line_ending(text: &str) -> &'static str {
    let crlf = text.matches("\r\n").count();
    let lf = text.matches('\n').count() - crlf;
    if crlf > lf { "\r\n" } else { "\n" }
}

/// A Python string literal for `s`.
pub(crate) fn py_str(s: &str) -> String {
    let mut escaped = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            // Python source cannot hold a NUL, nor most control characters, raw.
            c if c.is_control() => escaped.push_str(&format!("\\x{:02x}", c as u32)),
            c => escaped.push(c),
        }
    }
    format!("\"{escaped}\"")
}

/// What the decorators need beyond the decision.
pub(crate) struct Spelling<'a> {
    /// The local name of `cashews.cache` (usually `cache`).
    pub(crate) cache: &'a str,
    pub(crate) key: &'a str,
    pub(crate) tags: &'a [String],
    /// For failover: the exception tuple's contents, e.g. `httpx.HTTPError`.
    pub(crate) exceptions: &'a str,
}

/// The decorators, outermost first.
pub(crate) fn decorator_lines(d: &Decision, s: &Spelling) -> Vec<Call> {
    let ttl = format!("ttl={}", py_str(&format_ttl(d.ttl)));
    let second = d
        .second_ttl
        .map(|t| py_str(&format_ttl(t)))
        .unwrap_or_default();
    let key = format!("key={}", py_str(s.key));
    let tags = (!s.tags.is_empty()).then(|| {
        Call::list(
            "tags=",
            s.tags.iter().map(|t| Arg::text(py_str(t))).collect(),
        )
    });
    let c = s.cache;
    let call = |name: &str, args: &[&str], tagged: bool| {
        let callee = if name.is_empty() {
            format!("@{c}")
        } else {
            format!("@{c}.{name}")
        };
        let mut args: Vec<Arg> = args.iter().map(|a| Arg::text(*a)).collect();
        // Tags go after the key, before `lock=True`.
        if let Some(tags) = tags.as_ref().filter(|_| tagged) {
            let at = args.len() - usize::from(d.strategy == Strategy::Locked);
            args.insert(at, Arg::Call(tags.clone()));
        }
        Call::new(callee, args)
    };
    match d.strategy {
        Strategy::Cache => vec![call("", &[&ttl, &key], true)],
        Strategy::Locked => vec![call("", &[&ttl, &key, "lock=True"], true)],
        Strategy::Early => vec![call(
            "early",
            &[&ttl, &format!("early_ttl={second}"), &key],
            true,
        )],
        Strategy::Soft => vec![call(
            "soft",
            &[&ttl, &format!("soft_ttl={second}"), &key],
            true,
        )],
        Strategy::Hit => vec![call(
            "hit",
            &[&ttl, "cache_hits=100", "update_after=80", &key],
            true,
        )],
        Strategy::Iterator => vec![call("iterator", &[&ttl, &key], false)],
        Strategy::Failover => vec![
            call(
                "failover",
                &[
                    &format!("ttl={second}"),
                    &format!("exceptions=({},)", s.exceptions),
                    &key,
                ],
                false,
            ),
            call("", &[&ttl, &key], true),
        ],
    }
}

/// Inserts the lines directly above `def` (so below route decorators,
/// `@staticmethod` and `@classmethod`), with the def's indentation and line ending.
pub(crate) fn decorator_edit(
    src: &SourceFile,
    f: &Function,
    decorators: &[Call],
) -> Result<Edit, String> {
    let text = &src.text;
    let def_start = f.site.node.start_byte();
    let line_start = text[..def_start].rfind('\n').map_or(0, |i| i + 1);
    let indent = &text[line_start..def_start];
    if !indent.chars().all(|c| matches!(c, ' ' | '\t' | '\x0c')) {
        return Err(
            "shares its line with other code (e.g. `class A: async def f(self): …`); put the def on its own line first"
                .to_string(),
        );
    }
    // Python restarts the indentation count at a form feed: only what follows the last one counts.
    let indent = indent.rsplit('\x0c').next().unwrap_or(indent);
    let eol = match text[def_start..].find('\n') {
        Some(i) if text[..def_start + i].ends_with('\r') => "\r\n",
        Some(_) => "\n",
        None => file_line_ending(text),
    };
    // Wrapped past the project's line length, as ruff-format would.
    let width = crate::isort::for_file(&src.path).line_length;
    let unit = indent_unit(text);
    let content: String = decorators
        .iter()
        .flat_map(|d| d.lines(indent, &unit, width))
        .map(|l| format!("{l}{eol}"))
        .collect();
    Ok(Edit::insert(line_start, content))
}

/// The failover exception for the HTTP library the module uses, and the
/// import edit it may need.
pub(crate) fn http_exception(module: &Module) -> (String, Option<Edit>) {
    for (lib, exc) in [
        ("httpx", "HTTPError"),
        ("aiohttp", "ClientError"),
        ("requests", "RequestException"),
    ] {
        if module.imports.uses_module(lib) {
            let (local, edit) = module.imports.ensure_module(module.src, lib);
            return (format!("{local}.{exc}"), edit);
        }
    }
    ("Exception".to_string(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_endings() {
        assert_eq!(file_line_ending("a\r\nb\r\nc\n"), "\r\n");
        assert_eq!(file_line_ending("a\nb\r\nc\n"), "\n");
        assert_eq!(file_line_ending("abc"), "\n");
    }

    #[test]
    fn form_feed_before_def_is_indentation() {
        let edit = |text: &str, name: &str| {
            let src =
                SourceFile::parse(std::path::Path::new("m.py"), text.as_bytes().to_vec()).unwrap();
            let site =
                crate::locate::find(&src, &crate::locate::all_functions(&src), name).unwrap();
            let f = Function::new(&src, site);
            let e = decorator_edit(&src, &f, &[Call::new("@d", vec![])]).unwrap();
            crate::edit::apply(&src.text, &[e]).unwrap()
        };
        assert_eq!(
            edit("x = 1\n\x0casync def g(): return 1\n", "g"),
            "x = 1\n@d()\n\x0casync def g(): return 1\n"
        );
        assert_eq!(
            edit("class A:\n\x0c    async def g(self): return 1\n", "A.g"),
            "class A:\n    @d()\n\x0c    async def g(self): return 1\n"
        );
    }

    #[test]
    fn long_decorators_are_wrapped_at_the_line_length() {
        let text =
            "class Client:\n    async def fetch_exchange_rate(self, currency):\n        return 1\n";
        let src =
            SourceFile::parse(std::path::Path::new("m.py"), text.as_bytes().to_vec()).unwrap();
        let site = crate::locate::find(
            &src,
            &crate::locate::all_functions(&src),
            "Client.fetch_exchange_rate",
        )
        .unwrap();
        let f = Function::new(&src, site);
        let d = Decision {
            strategy: Strategy::Failover,
            reasons: vec![],
            ttl: 300,
            second_ttl: Some(86400),
        };
        let s = Spelling {
            cache: "cache",
            key: "m:Client.fetch_exchange_rate:{currency}",
            tags: &[],
            exceptions: "httpx.HTTPError",
        };
        let e = decorator_edit(&src, &f, &decorator_lines(&d, &s)).unwrap();
        assert_eq!(
            e.content,
            "    @cache.failover(\n        ttl=\"1d\",\n        exceptions=(httpx.HTTPError,),\n        key=\"m:Client.fetch_exchange_rate:{currency}\",\n    )\n    @cache(ttl=\"5m\", key=\"m:Client.fetch_exchange_rate:{currency}\")\n"
        );
    }

    #[test]
    fn literals() {
        assert_eq!(py_str(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn decorators_per_strategy() {
        let d = |strategy, second| Decision {
            strategy,
            reasons: vec![],
            ttl: 3600,
            second_ttl: second,
        };
        let tags = vec!["users".to_string()];
        let s = Spelling {
            cache: "cache",
            key: "m:f:{a}",
            tags: &tags,
            exceptions: "httpx.HTTPError",
        };
        let decorator_lines = |d: &Decision, s: &Spelling| -> Vec<String> {
            decorator_lines(d, s).iter().map(Call::flat).collect()
        };
        assert_eq!(
            decorator_lines(&d(Strategy::Cache, None), &s),
            [r#"@cache(ttl="1h", key="m:f:{a}", tags=["users"])"#]
        );
        assert_eq!(
            decorator_lines(&d(Strategy::Locked, None), &s),
            [r#"@cache(ttl="1h", key="m:f:{a}", tags=["users"], lock=True)"#]
        );
        assert_eq!(
            decorator_lines(&d(Strategy::Early, Some(3000)), &s),
            [r#"@cache.early(ttl="1h", early_ttl="50m", key="m:f:{a}", tags=["users"])"#]
        );
        assert_eq!(
            decorator_lines(&d(Strategy::Failover, Some(86400)), &s),
            [
                r#"@cache.failover(ttl="1d", exceptions=(httpx.HTTPError,), key="m:f:{a}")"#,
                r#"@cache(ttl="1h", key="m:f:{a}", tags=["users"])"#
            ]
        );
    }
}
