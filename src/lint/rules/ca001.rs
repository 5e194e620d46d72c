//! CA001: a `# noqa` comment that silences less than it seems to. The
//! directives are parsed in `lint/noqa.rs`; this file holds the rule's
//! documentation and messages.

declare_rule! {
    /// ## What it does
    /// Finds a `# noqa:` comment whose list of codes is empty (`# noqa:`,
    /// `# noqa: see below`) or names a `CA` code that is no cashews-add rule
    /// (`# noqa: CA999`, a typo such as `CA11`), and a file-level
    /// `# cashews-add: noqa` that shares its line with code. Like ruff's
    /// RUF100, for the directives that cannot work.
    ///
    /// ## Why is this bad?
    /// Such a comment looks like it silences a finding and silences nothing
    /// (an unknown code never matches; an empty list is not read as a bare
    /// `# noqa`, so a typo never silences everything). The finding it was
    /// meant for is still reported, or, worse, the comment is left behind
    /// for a rule that was renamed. Codes of other tools (`E501`, `F401`)
    /// are theirs and are not reported.
    ///
    /// ## Example
    /// ```python
    /// @cache(ttl="1h", key="f:{a}")  # noqa: CA11
    /// async def f(a, b): ...
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// @cache(ttl="1h", key="f:{a}")  # noqa: CA101
    /// async def f(a, b): ...
    /// ```
    ///
    /// ## Fix
    /// Name the code (`cashews-add rule` lists them), or write a bare
    /// `# noqa` to silence every rule on the line. `# cashews-add: noqa`
    /// (optionally `: CA101, CA104`) silences the whole file when it stands
    /// on a line of its own. No automatic fix: which code was meant is yours
    /// to say.
    pub(crate) const DOC;
}

pub(crate) fn empty_list(file_level: bool) -> String {
    let directive = if file_level {
        "`# cashews-add: noqa:`"
    } else {
        "`# noqa:`"
    };
    format!(
        "{directive} names no code, so it silences nothing: name the codes (`# noqa: CA101`) or drop the colon"
    )
}

pub(crate) fn unknown_code(code: &str) -> String {
    format!(
        "`# noqa` names {code}, which is no cashews-add rule (`cashews-add rule` lists them): it silences nothing"
    )
}

pub(crate) fn not_on_own_line() -> String {
    "`# cashews-add: noqa` silences a file only on a line of its own; here it silences nothing"
        .to_string()
}
