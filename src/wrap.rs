//! Calls the tool writes (decorators, `cache.setup(...)`), wrapped the way
//! ruff-format and black wrap them when they pass the line length: one
//! argument per line, indented one level, with a magic trailing comma
//! (which also keeps ruff-format from joining them again).

/// `callee(arg, ...)`; an argument is text or a call itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Call {
    pub(crate) callee: String,
    pub(crate) args: Vec<Arg>,
    /// `(` and `)`, or `[` and `]` for a list (`tags=[...]`).
    brackets: (char, char),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Arg {
    Text(String),
    Call(Call),
}

impl Call {
    pub(crate) fn new(callee: impl Into<String>, args: Vec<Arg>) -> Call {
        Call {
            callee: callee.into(),
            args,
            brackets: ('(', ')'),
        }
    }

    /// A list after `prefix` (`tags=`), wrapped as a call is.
    pub(crate) fn list(prefix: impl Into<String>, items: Vec<Arg>) -> Call {
        Call {
            brackets: ('[', ']'),
            ..Call::new(prefix, items)
        }
    }

    /// The call on one line.
    pub(crate) fn flat(&self) -> String {
        let args: Vec<String> = self.args.iter().map(Arg::flat).collect();
        let (open, close) = self.brackets;
        format!("{}{open}{}{close}", self.callee, args.join(", "))
    }

    /// The call's lines, each with its indentation, none longer than
    /// `width` where an argument can be moved to a line of its own.
    pub(crate) fn lines(&self, indent: &str, unit: &str, width: usize) -> Vec<String> {
        self.render(indent, unit, width, "")
    }

    fn render(&self, indent: &str, unit: &str, width: usize, suffix: &str) -> Vec<String> {
        let flat = format!("{indent}{}{suffix}", self.flat());
        if self.args.is_empty() || line_width(&flat) <= width {
            return vec![flat];
        }
        let inner = format!("{indent}{unit}");
        let (open, close) = self.brackets;
        let mut out = vec![format!("{indent}{}{open}", self.callee)];
        for arg in &self.args {
            match arg {
                Arg::Text(text) => out.push(format!("{inner}{text},")),
                Arg::Call(call) => out.extend(call.render(&inner, unit, width, ",")),
            }
        }
        out.push(format!("{indent}{close}{suffix}"));
        out
    }
}

impl Arg {
    pub(crate) fn text(s: impl Into<String>) -> Arg {
        Arg::Text(s.into())
    }

    fn flat(&self) -> String {
        match self {
            Arg::Text(t) => t.clone(),
            Arg::Call(c) => c.flat(),
        }
    }
}

/// A line's width as ruff's E501 measures it: characters, a tab up to the
/// next multiple of 4 (ruff's default indent width).
pub(crate) fn line_width(line: &str) -> usize {
    line.chars()
        .fold(0, |w, c| if c == '\t' { w + 4 - w % 4 } else { w + 1 })
}

/// The indentation one level adds in this file (four spaces when unknown).
pub(crate) fn indent_unit(text: &str) -> String {
    let mut prev_opens = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = &line[..line.len() - trimmed.len()];
        if prev_opens && !indent.is_empty() {
            return indent.to_string();
        }
        prev_opens = line.trim_end().ends_with(':');
    }
    "    ".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> Call {
        let get = Call::new(
            "os.environ.get",
            vec![
                Arg::text("\"CACHE_URL\""),
                Arg::text("\"disk://?directory=~/.cache/cashews/a-long-project-name&shards=0\""),
            ],
        );
        Call::new("cache.setup", vec![Arg::Call(get)])
    }

    #[test]
    fn short_calls_stay_on_one_line() {
        let c = Call::new(
            "@cache",
            vec![Arg::text("ttl=\"1h\""), Arg::text("key=\"m:f\"")],
        );
        assert_eq!(
            c.lines("    ", "    ", 88),
            ["    @cache(ttl=\"1h\", key=\"m:f\")"]
        );
    }

    #[test]
    fn long_calls_take_one_argument_a_line_with_a_trailing_comma() {
        let c = Call::new(
            "@cache.failover",
            vec![
                Arg::text("ttl=\"1d\""),
                Arg::text("exceptions=(httpx.HTTPError,)"),
                Arg::text("key=\"app.catalog:exchange_rate:{currency}\""),
            ],
        );
        assert_eq!(
            c.lines("", "    ", 88),
            [
                "@cache.failover(",
                "    ttl=\"1d\",",
                "    exceptions=(httpx.HTTPError,),",
                "    key=\"app.catalog:exchange_rate:{currency}\",",
                ")"
            ]
        );
        // Nested: the inner call is wrapped only when it does not fit either.
        assert_eq!(
            setup().lines("\t", "\t", 88),
            [
                "\tcache.setup(",
                "\t\tos.environ.get(",
                "\t\t\t\"CACHE_URL\",",
                "\t\t\t\"disk://?directory=~/.cache/cashews/a-long-project-name&shards=0\",",
                "\t\t),",
                "\t)"
            ]
        );
        assert_eq!(setup().lines("", "  ", 100).len(), 3);
    }

    /// A tags list too long for its line breaks like a call, as ruff-format does.
    #[test]
    fn long_lists_break_inside_their_brackets() {
        let tags = |n: usize| {
            Call::list(
                "tags=",
                (0..n)
                    .map(|i| Arg::text(format!("\"family{i}:{{id}}\"")))
                    .collect(),
            )
        };
        let c = |n| Call::new("@cache", vec![Arg::text("ttl=\"1h\""), Arg::Call(tags(n))]);
        assert_eq!(
            c(1).lines("", "    ", 88),
            ["@cache(ttl=\"1h\", tags=[\"family0:{id}\"])"]
        );
        assert_eq!(
            c(6).lines("", "    ", 88),
            [
                "@cache(",
                "    ttl=\"1h\",",
                "    tags=[",
                "        \"family0:{id}\",",
                "        \"family1:{id}\",",
                "        \"family2:{id}\",",
                "        \"family3:{id}\",",
                "        \"family4:{id}\",",
                "        \"family5:{id}\",",
                "    ],",
                ")",
            ]
        );
    }

    #[test]
    fn widths_count_tabs_as_ruff_does() {
        assert_eq!(line_width("\tab"), 6);
        assert_eq!(line_width("ab\tc"), 5);
        assert_eq!(line_width("é"), 1);
    }
}
