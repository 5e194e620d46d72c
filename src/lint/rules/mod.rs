//! The lint rules, one file each. A rule's doc comment is its user
//! documentation: `declare_rule!` keeps it as the rule's `DOC` constant, so
//! rustdoc and `cashews-add rule CODE` print the same text.
//!
//! Every rule reuses the rewrite's analysis (key design, handle rules,
//! purity catalogue, TTL grammar), so the lint and the rewrite cannot disagree.

use std::ops::RangeInclusive;

use tree_sitter::Node;

use crate::cashews::CashewsDecorator;
use crate::edit::Edit;
use crate::function::Function;
use crate::key::Key;
use crate::lint::files::RuleSet;
use crate::lint::literal::{self, Str};
use crate::locate::{FunctionSite, name_of};
use crate::module::Module;
use crate::project::Index;
use crate::rewrite::Settings;
use crate::source::{SourceFile, line_of};

/// Declares a rule's documentation: the doc comment on `DOC` is also its value.
macro_rules! declare_rule {
    ($(#[doc = $line:literal])+ pub(crate) const DOC;) => {
        $(#[doc = $line])+
        pub(crate) const DOC: &str = concat!($($line, "\n"),+);
    };
}

pub(crate) mod ca001;
pub(crate) mod ca101;
pub(crate) mod ca102;
pub(crate) mod ca103;
pub(crate) mod ca104;
pub(crate) mod ca201;
pub(crate) mod ca202;
pub(crate) mod ca203;
pub(crate) mod ca204;
pub(crate) mod ca301;
pub(crate) mod ca302;
pub(crate) mod ca401;
pub(crate) mod ca402;
pub(crate) mod ca501;
pub(crate) mod ca502;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Rule {
    CA001,
    CA101,
    CA102,
    CA103,
    CA104,
    CA201,
    CA202,
    CA203,
    CA204,
    CA301,
    CA302,
    CA401,
    CA402,
    CA501,
    CA502,
}

impl Rule {
    pub(crate) const ALL: [Rule; 15] = [
        Rule::CA001,
        Rule::CA101,
        Rule::CA102,
        Rule::CA103,
        Rule::CA104,
        Rule::CA201,
        Rule::CA202,
        Rule::CA203,
        Rule::CA204,
        Rule::CA301,
        Rule::CA302,
        Rule::CA401,
        Rule::CA402,
        Rule::CA501,
        Rule::CA502,
    ];

    pub(crate) fn code(self) -> &'static str {
        match self {
            Rule::CA001 => "CA001",
            Rule::CA101 => "CA101",
            Rule::CA102 => "CA102",
            Rule::CA103 => "CA103",
            Rule::CA104 => "CA104",
            Rule::CA201 => "CA201",
            Rule::CA202 => "CA202",
            Rule::CA203 => "CA203",
            Rule::CA204 => "CA204",
            Rule::CA301 => "CA301",
            Rule::CA302 => "CA302",
            Rule::CA401 => "CA401",
            Rule::CA402 => "CA402",
            Rule::CA501 => "CA501",
            Rule::CA502 => "CA502",
        }
    }

    /// A kebab-case name for the pattern the rule flags (SARIF `name`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Rule::CA001 => "invalid-noqa",
            Rule::CA101 => "key-missing-input",
            Rule::CA102 => "key-unknown-placeholder",
            Rule::CA103 => "key-object-repr",
            Rule::CA104 => "key-unhashed-secret",
            Rule::CA201 => "cache-on-sync-function",
            Rule::CA202 => "cache-with-side-effects",
            Rule::CA203 => "iterator-mismatch",
            Rule::CA204 => "cache-above-route",
            Rule::CA301 => "ttl-missing-or-malformed",
            Rule::CA302 => "second-ttl-not-below-ttl",
            Rule::CA401 => "disk-url-path-ignored",
            Rule::CA402 => "cache-never-set-up",
            Rule::CA501 => "deleted-tag-never-registered",
            Rule::CA502 => "cache-never-invalidated",
        }
    }

    /// One line, as in CONTRACT.md's rule table.
    pub(crate) fn summary(self) -> &'static str {
        match self {
            Rule::CA001 => "`# noqa:` with an empty list or an unknown CA code (silences nothing)",
            Rule::CA101 => "explicit key omits a parameter that affects the result",
            Rule::CA102 => {
                "key placeholder names no parameter (cashews raises WrongKeyError at import)"
            }
            Rule::CA103 => {
                "key embeds an object's repr (self without __str__, or a handle such as a DB session)"
            }
            Rule::CA104 => "secret-like parameter in a key without :hash",
            Rule::CA201 => "cashews decorator on a sync def (TypeError at call time)",
            Rule::CA202 => "cached function has side effects",
            Rule::CA203 => {
                "async generator under a non-iterator decorator, or cache.iterator on a coroutine"
            }
            Rule::CA204 => {
                "cache decorator above a route decorator, so the route registers the uncached function"
            }
            Rule::CA301 => "TTL missing or malformed for cashews",
            Rule::CA302 => "early_ttl / soft_ttl not below ttl",
            Rule::CA401 => "disk:///path setup URL: cashews ignores the path",
            Rule::CA402 => "cached functions but no cache.setup( in the project",
            Rule::CA501 => {
                "the project deletes a tag of a cached function that its decorator never registers"
            }
            Rule::CA502 => {
                "a project function writes what a cached function reads and invalidates nothing"
            }
        }
    }

    fn raw_doc(self) -> &'static str {
        match self {
            Rule::CA001 => ca001::DOC,
            Rule::CA101 => ca101::DOC,
            Rule::CA102 => ca102::DOC,
            Rule::CA103 => ca103::DOC,
            Rule::CA104 => ca104::DOC,
            Rule::CA201 => ca201::DOC,
            Rule::CA202 => ca202::DOC,
            Rule::CA203 => ca203::DOC,
            Rule::CA204 => ca204::DOC,
            Rule::CA301 => ca301::DOC,
            Rule::CA302 => ca302::DOC,
            Rule::CA401 => ca401::DOC,
            Rule::CA402 => ca402::DOC,
            Rule::CA501 => ca501::DOC,
            Rule::CA502 => ca502::DOC,
        }
    }

    /// The rule's doc comment as Markdown (one leading space per line removed).
    pub(crate) fn doc(self) -> String {
        let mut out: String = self
            .raw_doc()
            .lines()
            .map(|l| l.strip_prefix(' ').unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        out.push('\n');
        out
    }

    /// Whether `--fix` can repair (some) findings of this rule.
    pub(crate) fn fixable(self) -> bool {
        matches!(self, Rule::CA101 | Rule::CA104 | Rule::CA204 | Rule::CA401)
    }

    /// Whether `--fix` applies this rule's fix. The others change a cache
    /// key, and so behaviour (every value cached under the old key is
    /// missed, calls that shared one value no longer do): they need
    /// `--unsafe-fixes`, and their docs say so.
    pub(crate) fn fix_is_safe(self) -> bool {
        matches!(self, Rule::CA204 | Rule::CA401)
    }

    pub(crate) fn from_code(code: &str) -> Option<Rule> {
        Rule::ALL
            .into_iter()
            .find(|r| r.code().eq_ignore_ascii_case(code))
    }
}

/// One finding, located by byte offsets in the file's text.
#[derive(Debug, Clone)]
pub(crate) struct Finding {
    pub(crate) rule: Rule,
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) message: String,
    /// Edits that repair it; applied together or not at all.
    pub(crate) fix: Option<Vec<Edit>>,
    /// Lines (1-based) where a `# noqa` comment silences it.
    pub(crate) noqa: RangeInclusive<usize>,
}

/// What the decorator method takes, by cashews 7's signatures.
#[derive(Debug)]
pub(crate) struct Spec {
    pub(crate) method: &'static str,
    /// Caches the function's result (so its key must hold every input).
    pub(crate) caches_result: bool,
    /// Positional index of `ttl`.
    pub(crate) ttl: Option<usize>,
    /// `ttl` has no default: leaving it out is a TypeError at import.
    pub(crate) ttl_required: bool,
    /// Positional index of `key`.
    pub(crate) key: Option<usize>,
    /// `early_ttl` / `soft_ttl` and its positional index.
    pub(crate) second_ttl: Option<(&'static str, usize)>,
}

const fn spec(
    method: &'static str,
    caches_result: bool,
    ttl: Option<usize>,
    ttl_required: bool,
    key: Option<usize>,
    second_ttl: Option<(&'static str, usize)>,
) -> Spec {
    Spec {
        method,
        caches_result,
        ttl,
        ttl_required,
        key,
        second_ttl,
    }
}

/// cashews 7.6 `Cache` decorator methods (`cache.cache` is `cache.__call__`).
const SPECS: &[Spec] = &[
    spec("cache", true, Some(0), true, Some(1), None),
    spec(
        "early",
        true,
        Some(0),
        true,
        Some(1),
        Some(("early_ttl", 2)),
    ),
    spec("soft", true, Some(0), true, Some(1), Some(("soft_ttl", 2))),
    spec("failover", true, Some(0), true, Some(2), None),
    spec("hit", true, Some(0), true, Some(3), None),
    spec("dynamic", true, Some(0), false, Some(1), None),
    spec("iterator", true, Some(0), true, Some(1), None),
    spec("locked", false, Some(0), false, Some(1), None),
    spec("rate_limit", false, Some(2), false, Some(5), None),
    spec("slice_rate_limit", false, None, false, Some(2), None),
    spec("circuit_breaker", false, Some(2), true, Some(5), None),
    spec("invalidate", false, None, false, None, None),
    spec("transaction", false, None, false, None, None),
    spec("bloom", false, None, false, None, None),
    spec("dual_bloom", false, None, false, None, None),
];

fn spec_for(method: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.method == method)
}

/// A cashews decorator on the function being checked.
pub(crate) struct Deco<'t> {
    pub(crate) cashews: CashewsDecorator<'t>,
    /// The `decorator` node (from `@`).
    pub(crate) node: Node<'t>,
    /// Its position in the function's decorator list, outermost first.
    pub(crate) index: usize,
    pub(crate) spec: &'static Spec,
}

/// The key a decorator uses.
pub(crate) enum KeyArg<'t> {
    /// No key (or `key=None`): cashews builds one from every parameter.
    Default,
    /// A string literal template.
    Template(Str<'t>),
    /// Computed at run time: nothing to check.
    Unknown,
}

impl<'t> Deco<'t> {
    /// An argument by keyword, or else by position.
    pub(crate) fn arg(
        &self,
        src: &SourceFile,
        name: &str,
        position: Option<usize>,
    ) -> Option<Node<'t>> {
        self.cashews.keyword(src, name).or_else(|| {
            position
                .filter(|_| !self.has_star_args())
                .and_then(|p| self.cashews.positional(p))
        })
    }

    /// `*args` or `**kwargs` in the call: arguments may hide in them.
    pub(crate) fn has_star_args(&self) -> bool {
        let Some(args) = self
            .cashews
            .call
            .and_then(|c| c.child_by_field_name("arguments"))
        else {
            return false;
        };
        let mut cursor = args.walk();
        args.named_children(&mut cursor)
            .any(|a| matches!(a.kind(), "list_splat" | "dictionary_splat"))
    }

    /// The key: a literal, an f-string (its interpolations fixed at
    /// import), or a module constant (resolved through the project, then
    /// reported at the argument and never edited).
    pub(crate) fn key(&self, ck: &Checker<'_, 't>) -> KeyArg<'t> {
        let src = ck.src();
        if self.cashews.call.is_none() {
            return KeyArg::Unknown; // a bare `@cache` is broken in other ways (CA301)
        }
        match self.arg(src, "key", self.spec.key) {
            None if self.has_star_args() => KeyArg::Unknown,
            None => KeyArg::Default,
            Some(n) if n.kind() == "none" => KeyArg::Default,
            Some(n) => {
                if let Some(t) = literal::template(src, n) {
                    return KeyArg::Template(t);
                }
                match constant(ck.index, ck.module, n) {
                    Some((_, value)) if value.kind() == "none" => KeyArg::Default,
                    Some((module, value)) => {
                        literal::template(module.src, value).map_or(KeyArg::Unknown, |t| {
                            KeyArg::Template(Str {
                                node: n,
                                verbatim_at: None,
                                append_at: n.end_byte(),
                                editable: false,
                                value: t.value,
                            })
                        })
                    }
                    None => KeyArg::Unknown,
                }
            }
        }
    }

    /// `@cache.early` as written (without the arguments), for messages.
    pub(crate) fn label(&self, src: &SourceFile) -> String {
        let expr = self.node.named_child(0).unwrap_or(self.node);
        let callee = if expr.kind() == "call" {
            expr.child_by_field_name("function").unwrap_or(expr)
        } else {
            expr
        };
        let text: String = src.text_of(callee).split_whitespace().collect();
        format!("@{text}")
    }
}

/// The value a module constant names (`KEY`, `settings_module.KEY`,
/// imported or not), with the module it is assigned in, followed through
/// constants assigned to constants. None for anything computed.
pub(crate) fn constant<'i, 'p>(
    index: &'i Index<'p>,
    module: &'i Module<'p>,
    node: Node<'p>,
) -> Option<(&'i Module<'p>, Node<'p>)> {
    let mut module = module;
    let mut node = node;
    for _ in 0..8 {
        if !matches!(node.kind(), "identifier" | "attribute") {
            return Some((module, node));
        }
        let crate::project::resolve::Symbol::Data(def) = index.resolve_node(module, node) else {
            // A plain local name the index does not see as data.
            let name = module.src.text_of(node);
            let value = module.variables.get(name)?;
            if value.kind() == "identifier" && module.src.text_of(*value) == name {
                return None;
            }
            node = *value;
            continue;
        };
        let defining = index.module(&def.path)?;
        node = *defining.variables.get(&def.qualname)?;
        module = defining;
    }
    None
}

/// A TTL argument's value, a module constant followed to its literal
/// (`ttl=CACHE_TTL`, `ttl=config.TTL`); Unknown for what only the run
/// knows (a settings object's attribute, an f-string, a call).
pub(crate) fn ttl_of<'t>(ck: &Checker<'_, 't>, node: Node<'t>) -> literal::Ttl {
    let here = literal::ttl(ck.src(), &ck.module.imports, node);
    if here != literal::Ttl::Unknown {
        return here;
    }
    match constant(ck.index, ck.module, node) {
        Some((module, value)) if value.id() != node.id() => {
            literal::ttl(module.src, &module.imports, value)
        }
        _ => literal::Ttl::Unknown,
    }
}

/// A function with at least one cashews decorator, and the rewrite's key for it.
pub(crate) struct Cached<'t> {
    pub(crate) f: Function<'t>,
    pub(crate) decos: Vec<Deco<'t>>,
    /// The key the rewrite would design (same handle rules).
    pub(crate) key: Key,
    /// From the first decorator line to the `def` line.
    pub(crate) noqa: RangeInclusive<usize>,
}

impl<'t> Cached<'t> {
    /// The cashews decorators that cache the function's result.
    pub(crate) fn caching(&self) -> impl Iterator<Item = &Deco<'t>> {
        self.decos.iter().filter(|d| d.spec.caches_result)
    }
}

/// Per-file state shared by the rules.
pub(crate) struct Checker<'a, 't> {
    pub(crate) module: &'a Module<'t>,
    pub(crate) settings: &'a Settings<'a>,
    pub(crate) index: &'a Index<'t>,
    /// Rules enabled for this file; the others report nothing.
    pub(crate) rules: RuleSet,
    pub(crate) findings: Vec<Finding>,
}

impl<'a, 't> Checker<'a, 't> {
    pub(crate) fn src(&self) -> &'t SourceFile {
        self.module.src
    }

    pub(crate) fn enabled(&self, rule: Rule) -> bool {
        self.rules.enabled(rule)
    }

    pub(crate) fn report(
        &mut self,
        rule: Rule,
        node: Node,
        noqa: &RangeInclusive<usize>,
        message: String,
        fix: Option<Vec<Edit>>,
    ) {
        if !self.enabled(rule) {
            return;
        }
        self.findings.push(Finding {
            rule,
            start: node.start_byte(),
            end: node.end_byte(),
            message,
            fix,
            noqa: noqa.clone(),
        });
    }
}

/// Every decorated function of the file, nested ones included (a test's
/// local function under a fixture's cache), found from the `@` that start a
/// line rather than by walking every node.
pub(crate) fn decorated_functions(src: &SourceFile) -> Vec<FunctionSite<'_>> {
    let root = src.tree.root_node();
    let bytes = src.text.as_bytes();
    let mut out: Vec<FunctionSite> = Vec::new();
    for at in memchr::memchr_iter(b'@', bytes) {
        let line_start = memchr::memrchr(b'\n', &bytes[..at]).map_or(0, |i| i + 1);
        if !bytes[line_start..at]
            .iter()
            .all(|b| matches!(b, b' ' | b'\t'))
        {
            continue;
        }
        let mut node = root.named_descendant_for_byte_range(at, at + 1);
        while let Some(n) = node.filter(|n| n.kind() != "decorator" && n.start_byte() == at) {
            node = n.parent();
        }
        let Some(function) = node
            .filter(|n| n.kind() == "decorator" && n.start_byte() == at)
            .and_then(|d| d.parent())
            .and_then(|p| p.child_by_field_name("definition"))
            .filter(|d| d.kind() == "function_definition")
        else {
            continue;
        };
        if out.last().is_some_and(|s| s.node.id() == function.id()) {
            continue; // the function's next decorator
        }
        out.push(FunctionSite {
            node: function,
            class: enclosing_class(function),
            qualname: qualname(src, function),
        });
    }
    out
}

/// The class whose body holds the function directly.
fn enclosing_class(function: Node) -> Option<Node> {
    let mut current = function.parent();
    while let Some(n) = current {
        match n.kind() {
            "class_definition" => return Some(n),
            "function_definition" | "lambda" | "module" => return None,
            _ => current = n.parent(),
        }
    }
    None
}

/// Python's `__qualname__`: classes joined with dots, `<locals>` inside functions.
fn qualname(src: &SourceFile, function: Node) -> String {
    let mut parts = vec![name_of(src, function).to_string()];
    let mut current = function.parent();
    while let Some(n) = current {
        match n.kind() {
            "class_definition" => parts.push(name_of(src, n).to_string()),
            "function_definition" => {
                parts.push("<locals>".to_string());
                parts.push(name_of(src, n).to_string());
            }
            _ => {}
        }
        current = n.parent();
    }
    parts.reverse();
    parts.join(".")
}

/// The functions in the file that carry a cashews decorator.
pub(crate) fn cached_functions<'t>(
    index: &crate::project::Index<'t>,
    module: &Module<'t>,
    cashews: &crate::cashews::CashewsNames,
    settings: &Settings,
) -> Vec<Cached<'t>> {
    let src = module.src;
    let mut out = Vec::new();
    for site in decorated_functions(src) {
        let Some(parent) = site
            .node
            .parent()
            .filter(|p| p.kind() == "decorated_definition")
        else {
            continue;
        };
        let scoped = cashews.in_scope_of(src, &module.imports, site.node);
        let names = scoped.as_ref().unwrap_or(cashews);
        let qualname = site.qualname.clone();
        let f = Function::new(src, site);
        let decos: Vec<Deco> = f
            .decorators
            .iter()
            .enumerate()
            .filter_map(|(index, d)| {
                let cashews = names.decorator(src, d)?;
                let spec = spec_for(cashews.strategy())?;
                Some(Deco {
                    cashews,
                    node: d.node,
                    index,
                    spec,
                })
            })
            .collect();
        if decos.is_empty() {
            continue;
        }
        let key = crate::key::design(index, module, &f, &qualname, &settings.handles);
        let noqa = line_of(parent)..=f.line;
        out.push(Cached {
            f,
            decos,
            key,
            noqa,
        });
    }
    out
}

/// The calls of a function or method with one of `names` (`setup`,
/// `cache.setup`, `cashews.setup`), in source order. Found from the
/// names' occurrences in the text, so a file is not walked node by node.
pub(crate) fn calls_named<'t>(src: &'t SourceFile, names: &[&str]) -> Vec<Node<'t>> {
    let root = src.tree.root_node();
    let bytes = src.text.as_bytes();
    let mut out: Vec<Node<'t>> = Vec::new();
    for name in names {
        for at in memchr::memmem::find_iter(bytes, name.as_bytes()) {
            let Some(ident) = root
                .named_descendant_for_byte_range(at, at + name.len())
                .filter(|n| n.kind() == "identifier" && src.text_of(*n) == *name)
            else {
                continue;
            };
            let callee = match ident.parent() {
                Some(a)
                    if a.kind() == "attribute"
                        && a.child_by_field_name("attribute")
                            .is_some_and(|n| n.id() == ident.id()) =>
                {
                    a
                }
                _ => ident,
            };
            if let Some(call) = callee.parent().filter(|c| {
                c.kind() == "call"
                    && c.child_by_field_name("function")
                        .is_some_and(|f| f.id() == callee.id())
            }) && !out.iter().any(|n| n.id() == call.id())
            {
                out.push(call);
            }
        }
    }
    out.sort_by_key(|n| n.start_byte());
    out
}

/// Runs every function- and module-level rule over one parsed file.
pub(crate) fn check_module<'t>(ck: &mut Checker<'_, 't>, cached: &[Cached<'t>]) {
    for c in cached {
        ca101::check(ck, c);
        ca102::check(ck, c);
        ca103::check(ck, c);
        ca104::check(ck, c);
        ca201::check(ck, c);
        ca202::check(ck, c);
        ca203::check(ck, c);
        ca204::check(ck, c);
        ca301::check(ck, c);
        ca302::check(ck, c);
        ca501::check(ck, c);
        ca502::check(ck, c);
    }
    ca401::check(ck);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_is_documented_in_ruff_shape() {
        for rule in Rule::ALL {
            let doc = rule.doc();
            for heading in [
                "## What it does",
                "## Why is this bad?",
                "## Example",
                "## Fix",
            ] {
                assert!(
                    doc.contains(heading),
                    "{} lacks {heading}:\n{doc}",
                    rule.code()
                );
            }
            assert!(!doc.starts_with(' '), "{}", rule.code());
            assert_eq!(Rule::from_code(rule.code()), Some(rule));
            assert_eq!(Rule::from_code(&rule.code().to_lowercase()), Some(rule));
        }
    }
}
