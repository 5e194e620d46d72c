//! CA402: cached functions, but no `cache.setup(...)` in the project.

use tree_sitter::Node;

use crate::function::dotted_name;
use crate::lint::rules::Deco;
use crate::module::Module;

declare_rule! {
    /// ## What it does
    /// Reports a project (the folder holding the nearest `pyproject.toml`,
    /// `setup.cfg`, `setup.py` or `.git`) that has cashews decorators but no
    /// cashews setup. A linted file sets up with `X.setup(...)`,
    /// `X.setup_tags_backend(...)` or `X.init(url)` where `X` is a cashews
    /// cache or a name containing "cache", or with `cashews.setup(...)`. The
    /// rest of the project is searched the way `cashews-add` searches before
    /// it adds a setup (so the two agree): a setup on a cashews cache, also
    /// one imported from another module of the project; setups in test
    /// folders and test files do not count there. Decorators on cashews'
    /// own pre-configured `mem` cache need no setup. The finding sits on
    /// the first cached function.
    ///
    /// ## Why is this bad?
    /// Without a backend the first call of a cached function raises
    /// `NotConfiguredError: run cache.setup(...) before using cache`, at run
    /// time, in production, not at import or in a unit test that mocks the
    /// function.
    ///
    /// ## Example
    /// ```python
    /// from cashews import cache
    ///
    /// @cache(ttl="1h", key="user:{user_id}")
    /// async def get_user(user_id: int): ...
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// from cashews import cache
    ///
    /// cache.setup(os.environ.get("CACHE_URL", "mem://"))
    ///
    /// @cache(ttl="1h", key="user:{user_id}")
    /// async def get_user(user_id: int): ...
    /// ```
    ///
    /// ## Fix
    /// Call `cache.setup(...)` once at startup: at module level of the
    /// application module, in the FastAPI/Starlette lifespan, in Django's
    /// `AppConfig.ready()`. No automatic fix from the lint (`cashews-add`
    /// adds one when it decorates a function). A library that leaves the
    /// setup to its users can `ignore = ["CA402"]`.
    pub(crate) const DOC;
}

/// A call that sets a cache up, with its URL argument.
pub(crate) struct SetupCall<'t> {
    pub(crate) url: Option<Node<'t>>,
    /// `setup(url, directory=...)`.
    pub(crate) directory_keyword: bool,
}

/// Every `cache.setup(...)` (`setup_tags_backend(...)`, `init(url)`) call in the module.
/// `names`: the module's cashews names through the project (`Index::cashews`).
pub(crate) fn setup_calls<'t>(
    module: &Module<'t>,
    names: &crate::cashews::CashewsNames,
) -> Vec<SetupCall<'t>> {
    let src = module.src;
    let mut out = Vec::new();
    for call in crate::lint::rules::calls_named(src, &["setup", "setup_tags_backend", "init"]) {
        let Some(callee) = call.child_by_field_name("function") else {
            continue;
        };
        let Some(args) = call.child_by_field_name("arguments") else {
            continue;
        };
        let mut cursor = args.walk();
        let children: Vec<Node> = args
            .named_children(&mut cursor)
            .filter(|a| a.kind() != "comment")
            .collect();
        let is_setup = match callee.kind() {
            "attribute" => {
                let (Some(object), Some(attr)) = (
                    callee.child_by_field_name("object"),
                    callee.child_by_field_name("attribute"),
                ) else {
                    continue;
                };
                let method = src.text_of(attr);
                let wanted = matches!(method, "setup" | "setup_tags_backend")
                    || (method == "init" && !children.is_empty());
                wanted
                    && (is_cache_object(module, names, object) || is_setup_function(module, callee))
            }
            "identifier" => is_setup_function(module, callee),
            _ => false,
        };
        if !is_setup {
            continue;
        }
        let keyword = |name: &str| {
            children
                .iter()
                .find(|a| {
                    a.kind() == "keyword_argument"
                        && a.child_by_field_name("name")
                            .is_some_and(|n| src.text_of(n) == name)
                })
                .and_then(|a| a.child_by_field_name("value"))
        };
        let url = keyword("settings_url").or_else(|| {
            children
                .iter()
                .find(|a| {
                    !matches!(
                        a.kind(),
                        "keyword_argument" | "list_splat" | "dictionary_splat"
                    )
                })
                .copied()
        });
        out.push(SetupCall {
            url,
            directory_keyword: keyword("directory").is_some(),
        });
    }
    out
}

/// `cashews.setup` itself (`from cashews import setup`).
fn is_setup_function(module: &Module, callee: Node) -> bool {
    dotted_name(module.src, callee)
        .is_some_and(|name| module.imports.resolve(&name) == "cashews.setup")
}

/// A cashews cache, or anything whose name says it is a cache.
fn is_cache_object(module: &Module, names: &crate::cashews::CashewsNames, object: Node) -> bool {
    let src = module.src;
    if let Some(name) = dotted_name(src, object)
        && names.is_cache(&name)
    {
        return true;
    }
    let last = match object.kind() {
        "identifier" => Some(object),
        "attribute" => object.child_by_field_name("attribute"),
        "call" => object
            .child_by_field_name("function")
            .and_then(|f| match f.kind() {
                "attribute" => f.child_by_field_name("attribute"),
                _ => Some(f),
            }),
        _ => None,
    };
    last.is_some_and(|n| src.text_of(n).to_ascii_lowercase().contains("cache"))
}

/// Whether a decorator needs a setup: all do but those on cashews' `mem`,
/// which cashews sets up itself.
pub(crate) fn needs_setup(module: &Module, deco: &Deco) -> bool {
    module.imports.resolve(&deco.cashews.object) != "cashews.mem"
}

pub(crate) fn message(root: &str) -> String {
    format!(
        "cached functions but no cache.setup(...) in any Python file under {root}: the first call raises NotConfiguredError; call cache.setup(...) at startup"
    )
}
