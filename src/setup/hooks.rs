//! Startup hooks by framework: where each one runs code once at startup and
//! once at shutdown, found in the file that builds the app (or, for a
//! lifespan or startup handler imported from another module, in that
//! module), and how the setup is added there.
//!
//! | framework | startup / shutdown |
//! | --- | --- |
//! | FastAPI, Starlette | `lifespan` (also made by a factory, or set as `router.lifespan_context`), `on_event` / `add_event_handler` |
//! | Litestar | `on_startup=[...]` / `on_shutdown=[...]`, or `lifespan=[...]` |
//! | aiohttp | `app.cleanup_ctx`, or `app.on_startup` / `app.on_cleanup` |
//! | aiogram | `dp.startup` / `dp.shutdown` (registered or decorated) |
//! | discord.py | a Bot/Client subclass's `setup_hook` / `close` |

use std::path::{Path, PathBuf};

use tree_sitter::Node;

use super::{
    App, Bindings, Framework, Place, Writer, above_comments, ancestor_or_self, app_class,
    blank_lines_before, block_start, extend_def, keyword_args, keyword_edit, own_line,
    top_statement,
};
use crate::edit::Edit;
use crate::function::dotted_name;
use crate::imports::line_end;
use crate::source::SourceFile;

/// What `write_*` returns: the place, the setup call's text, the message.
pub(super) type Written = Option<(Place, String, String)>;

/// A hook found by following an import: a def in another module.
pub(super) enum Hook {
    /// A lifespan-like context manager: setup before its `yield`, close after.
    Lifespan((usize, usize)),
    /// A startup handler, and the shutdown handler when it is in the same file.
    Startup((usize, usize), Option<(usize, usize)>),
    /// A Litestar init plugin's `on_app_init(self, app_config)`: the app is
    /// configured there, so the hooks are added to `app_config` there.
    InitPlugin((usize, usize)),
}

// ---------------------------------------------------------------------------
// Finding defs

/// The def a node's range names in `src`.
pub(super) fn def_at(src: &SourceFile, range: (usize, usize)) -> Option<Node<'_>> {
    let node = src
        .tree
        .root_node()
        .descendant_for_byte_range(range.0, range.1)?;
    ancestor_or_self(node, "function_definition")
}

/// The def `name` visible at `at`: in the functions around it (innermost
/// first), then at module level; the last one defined before `at` in a scope.
pub(super) fn def_named<'t>(src: &'t SourceFile, name: &str, at: Node<'t>) -> Option<Node<'t>> {
    let mut scope = at.parent();
    while let Some(s) = scope {
        let block = match s.kind() {
            "function_definition" => s.child_by_field_name("body"),
            "module" => Some(s),
            _ => None,
        };
        if let Some(block) = block
            && let Some(def) = def_in_block(src, block, name, at.start_byte())
        {
            return Some(def);
        }
        scope = s.parent();
    }
    None
}

/// The last `def name` among a block's statements (decorated or not), before `before`.
pub(super) fn def_in_block<'t>(
    src: &SourceFile,
    block: Node<'t>,
    name: &str,
    before: usize,
) -> Option<Node<'t>> {
    let mut cursor = block.walk();
    block
        .named_children(&mut cursor)
        .filter(|s| s.start_byte() < before)
        .filter_map(as_def)
        .filter(|d| crate::locate::name_of(src, *d) == name)
        .last()
}

/// The `function_definition` of a statement (a decorated one too).
pub(super) fn as_def(stmt: Node) -> Option<Node> {
    match stmt.kind() {
        "function_definition" => Some(stmt),
        "decorated_definition" => stmt
            .child_by_field_name("definition")
            .filter(|d| d.kind() == "function_definition"),
        _ => None,
    }
}

/// The def a factory returns: `def make(...): async def inner(...): ...; return inner`.
pub(super) fn returned_def<'t>(src: &'t SourceFile, factory: Node<'t>) -> Option<Node<'t>> {
    let body = factory.child_by_field_name("body")?;
    let mut cursor = body.walk();
    let returned = body
        .named_children(&mut cursor)
        .filter(|s| s.kind() == "return_statement")
        .filter_map(|r| r.named_child(0))
        .find(|v| v.kind() == "identifier")?;
    def_in_block(src, body, src.text_of(returned), returned.start_byte())
}

/// A hook expression: `name` or `factory(...)`; the name and whether it is called.
pub(super) fn hook_name<'t>(src: &'t SourceFile, expr: Node<'t>) -> Option<(&'t str, bool)> {
    match expr.kind() {
        "identifier" => Some((src.text_of(expr), false)),
        "call" => {
            let f = expr.child_by_field_name("function")?;
            (f.kind() == "identifier").then(|| (src.text_of(f), true))
        }
        _ => None,
    }
}

/// The def a hook expression names in this file (through a factory when called).
pub(super) fn local_hook<'t>(src: &'t SourceFile, expr: Node<'t>) -> Option<Node<'t>> {
    let (name, called) = hook_name(src, expr)?;
    let def = def_named(src, name, expr)?;
    if called {
        returned_def(src, def)
    } else {
        Some(def)
    }
}

/// Whether a def is `async def`.
pub(super) fn is_async(def: Node) -> bool {
    def.child(0).is_some_and(|c| c.kind() == "async")
}

// ---------------------------------------------------------------------------
// Following a hook into another module

/// The app's lifespan or startup handler when it is imported from another
/// module of the project: that module and the hook in it.
pub(super) fn follow(
    root: &Path,
    src: &SourceFile,
    module: &str,
    app: &App,
) -> Option<(SourceFile, Hook)> {
    if app.kind == Framework::Litestar {
        return init_plugin(root, src, module, app);
    }
    if app.kind != Framework::Asgi {
        return None;
    }
    let call = def_or_call(src, app.call)?;
    let binds = Bindings::collect(src, module);
    let var = assigned_name(src, call);
    let lifespan = keyword_args(src, call)
        .into_iter()
        .find(|(k, _)| k == "lifespan")
        .map(|(_, v)| v)
        .or_else(|| var.as_deref().and_then(|v| lifespan_context(src, v)));
    if let Some(expr) = lifespan {
        let (other, range) = imported_def(root, src, &binds, expr)?;
        return Some((other, Hook::Lifespan(range)));
    }
    let var = var?;
    let start = event_handler(src, &var, "startup")?;
    let (other, range) = imported_def(root, src, &binds, start)?;
    let stop = event_handler(src, &var, "shutdown")
        .and_then(|e| imported_def(root, src, &binds, e))
        .filter(|(f, _)| f.path == other.path)
        .map(|(_, d)| d);
    Some((other, Hook::Startup(range, stop)))
}

/// Litestar `plugins=[Plugin(), ...]`: the first plugin class of the
/// project (this module or another) defining `on_app_init`; its file and
/// that method's range.
fn init_plugin(
    root: &Path,
    src: &SourceFile,
    module: &str,
    app: &App,
) -> Option<(SourceFile, Hook)> {
    let call = def_or_call(src, app.call)?;
    let (_, list) = keyword_args(src, call)
        .into_iter()
        .find(|(k, _)| k == "plugins")?;
    let binds = Bindings::collect(src, module);
    let mut cursor = list.walk();
    let items: Vec<Node> = list.named_children(&mut cursor).collect();
    items.into_iter().find_map(|item| {
        let class = item
            .child_by_field_name("function")
            .filter(|_| item.kind() == "call")?;
        let name = src.text_of(class.kind().eq("identifier").then_some(class)?);
        let dotted = imported_in_defs(src, item, name).unwrap_or_else(|| binds.resolve(name));
        let other = match dotted.rsplit_once('.') {
            Some((m, _)) => SourceFile::read(&module_file(root, &src.path, m)?).ok()?,
            None => src.clone(),
        };
        let class_name = dotted.rsplit('.').next()?;
        let range = on_app_init(&other, class_name)?;
        Some((other, Hook::InitPlugin(range)))
    })
}

/// `on_app_init` of the top-level class `name`.
fn on_app_init(src: &SourceFile, name: &str) -> Option<(usize, usize)> {
    let root = src.tree.root_node();
    let mut cursor = root.walk();
    let class = root
        .named_children(&mut cursor)
        .filter_map(|s| match s.kind() {
            "class_definition" => Some(s),
            "decorated_definition" => s.child_by_field_name("definition"),
            _ => None,
        })
        .find(|c| c.kind() == "class_definition" && crate::locate::name_of(src, *c) == name)?;
    let def = def_in_block(
        src,
        class.child_by_field_name("body")?,
        "on_app_init",
        usize::MAX,
    )?;
    Some((def.start_byte(), def.end_byte()))
}

/// What `name` is bound to by an absolute `from M import name` in the defs
/// around `node` (a factory importing the app's parts late).
fn imported_in_defs(src: &SourceFile, node: Node, name: &str) -> Option<String> {
    let mut scope = node.parent();
    while let Some(s) = scope {
        if s.kind() == "function_definition"
            && let Some(body) = s.child_by_field_name("body")
        {
            let mut statements = Vec::new();
            super::import_statements(body, &mut statements);
            for stmt in statements
                .iter()
                .filter(|s| s.kind() == "import_from_statement")
            {
                let Some(from) = stmt
                    .child_by_field_name("module_name")
                    .filter(|m| m.kind() == "dotted_name")
                else {
                    continue;
                };
                let mut c = stmt.walk();
                for n in stmt.children_by_field_name("name", &mut c) {
                    let (path, alias) = crate::imports::split_alias(src, n);
                    if alias.as_deref().unwrap_or(&path) == name {
                        return Some(format!("{}.{path}", src.text_of(from)));
                    }
                }
            }
        }
        scope = s.parent();
    }
    None
}

/// Litestar init plugin: the setup first in `on_app_init`, which runs when
/// the app is built (cashews' setup is synchronous and connects to nothing,
/// so building the app is early enough), and a new shutdown hook above the
/// class, appended to the config's `on_shutdown` there.
pub(super) fn write_init_plugin(w: &mut Writer, range: (usize, usize), file: &str) -> Written {
    let src = w.src;
    let def = def_at(src, range)?;
    let params = def.child_by_field_name("parameters")?;
    let param = params.named_child(1)?;
    let param = match param.kind() {
        "identifier" => param,
        _ => param.named_child(0).filter(|p| p.kind() == "identifier")?,
    };
    let config = src.text_of(param).to_string();
    let class = ancestor_or_self(def, "class_definition")?;
    let (at, indent) = block_start(src, def.child_by_field_name("body")?)?;
    let stop = w.free_name("close_cache");
    let cache = w.cache_name(class.start_byte());
    let s = stop.clone();
    above(w, class, None, |_, _, eol, u| {
        format!("async def {s}():{eol}{u}await {cache}.close(){eol}")
    })?;
    let (cache, os, _) = w.names(at, None);
    let setup = w.setup_call(&cache, &os, &indent);
    let eol = w.eol;
    w.insert_line(
        at,
        &indent,
        &format!("{setup}{eol}{indent}{config}.on_shutdown.append({stop})"),
    );
    let message = format!(
        "cache.setup(...) at the start of `{}.on_app_init` in {file} (the init plugin that configures the app, run when it is built); cache.close() in a new shutdown hook `{stop}` it adds",
        crate::locate::name_of(src, class)
    );
    Some((Place::OnStartup, setup, message))
}

/// A def in another module the hook expression names: that file, the
/// def's byte range. None when the name is defined here, or cannot be followed.
fn imported_def(
    root: &Path,
    src: &SourceFile,
    binds: &Bindings,
    expr: Node,
) -> Option<(SourceFile, (usize, usize))> {
    let (name, called) = hook_name(src, expr)?;
    if def_named(src, name, expr).is_some() {
        return None;
    }
    let dotted = binds.resolve(name);
    let (module, def_name) = dotted.rsplit_once('.')?;
    let path = module_file(root, &src.path, module)?;
    let other = SourceFile::read(&path).ok()?;
    let range = {
        let def = def_in_block(&other, other.tree.root_node(), def_name, usize::MAX)?;
        let def = if called {
            returned_def(&other, def)?
        } else {
            def
        };
        (def.start_byte(), def.end_byte())
    };
    Some((other, range))
}

/// The file of a dotted module of the project.
fn module_file(root: &Path, from: &Path, dotted: &str) -> Option<PathBuf> {
    let rel: PathBuf = dotted.split('.').collect();
    let mut bases = vec![root.to_path_buf(), root.join("src")];
    bases.extend(
        from.ancestors()
            .skip(1)
            .take_while(|a| a.starts_with(root))
            .map(Path::to_path_buf),
    );
    bases.into_iter().find_map(|base| {
        let file = base.join(&rel).with_extension("py");
        let init = base.join(&rel).join("__init__.py");
        [file, init].into_iter().find(|p| p.is_file())
    })
}

/// The constructor call at `range`.
pub(super) fn def_or_call(src: &SourceFile, range: (usize, usize)) -> Option<Node<'_>> {
    let node = src
        .tree
        .root_node()
        .descendant_for_byte_range(range.0, range.1)?;
    ancestor_or_self(node, "call")
}

/// `VAR` in `VAR = Class(...)` (also annotated: `VAR: T = Class(...)`).
pub(super) fn assigned_name(src: &SourceFile, call: Node) -> Option<String> {
    call.parent()
        .filter(|p| p.kind() == "assignment")
        .and_then(|p| p.child_by_field_name("left"))
        .filter(|l| l.kind() == "identifier")
        .map(|l| src.text_of(l).to_string())
}

/// The value of `VAR.router.lifespan_context = VALUE`.
pub(super) fn lifespan_context<'t>(src: &'t SourceFile, var: &str) -> Option<Node<'t>> {
    let wanted = format!("{var}.router.lifespan_context");
    assignments(src, &wanted).into_iter().last()
}

/// The values assigned to the dotted name `target` anywhere in the file.
fn assignments<'t>(src: &'t SourceFile, target: &str) -> Vec<Node<'t>> {
    let mut out = Vec::new();
    for (at, _) in src.text.match_indices(target) {
        let Some(node) = src
            .tree
            .root_node()
            .descendant_for_byte_range(at, at + target.len())
        else {
            continue;
        };
        let assignment = node.parent().filter(|p| p.kind() == "assignment");
        if let Some(a) = assignment
            && a.child_by_field_name("left")
                .is_some_and(|l| l.id() == node.id())
            && dotted_name(src, node).as_deref() == Some(target)
            && let Some(value) = a.child_by_field_name("right")
        {
            out.push(value);
        }
    }
    out
}

/// The calls of the dotted function `callee` in the file, in source order.
pub(super) fn calls_of<'t>(src: &'t SourceFile, callee: &str) -> Vec<Node<'t>> {
    let mut out = Vec::new();
    for (at, _) in src.text.match_indices(callee) {
        let Some(node) = src
            .tree
            .root_node()
            .descendant_for_byte_range(at, at + callee.len())
        else {
            continue;
        };
        let call = node.parent().filter(|p| p.kind() == "call");
        if let Some(call) = call
            && call
                .child_by_field_name("function")
                .is_some_and(|f| f.id() == node.id())
            && dotted_name(src, node).as_deref() == Some(callee)
        {
            out.push(call);
        }
    }
    out
}

/// The handler of `VAR.add_event_handler("EVENT", HANDLER)`.
pub(super) fn event_handler<'t>(src: &'t SourceFile, var: &str, event: &str) -> Option<Node<'t>> {
    calls_of(src, &format!("{var}.add_event_handler"))
        .into_iter()
        .find_map(|call| {
            let args = call.child_by_field_name("arguments")?;
            let first = args.named_child(0).filter(|a| a.kind() == "string")?;
            (src.text_of(first).trim_matches(['"', '\'']) == event)
                .then(|| args.named_child(1))
                .flatten()
        })
}

/// The first argument of each `CALLEE(ARG)` call.
pub(super) fn first_args<'t>(src: &'t SourceFile, callee: &str) -> Vec<Node<'t>> {
    calls_of(src, callee)
        .into_iter()
        .filter_map(|c| c.child_by_field_name("arguments")?.named_child(0))
        .collect()
}

/// The module's top-level classes (decorated ones too).
pub(super) fn top_classes(src: &SourceFile) -> Vec<Node<'_>> {
    let root = src.tree.root_node();
    let mut cursor = root.walk();
    root.named_children(&mut cursor)
        .filter_map(|s| match s.kind() {
            "class_definition" => Some(s),
            "decorated_definition" => s.child_by_field_name("definition"),
            _ => None,
        })
        .collect()
}

/// Classes deriving from a discord.py Bot or Client, as apps.
pub(super) fn bot_classes(src: &SourceFile, binds: &Bindings) -> Vec<App> {
    top_classes(src)
        .into_iter()
        .filter(|class| {
            let Some(bases) = class.child_by_field_name("superclasses") else {
                return false;
            };
            let mut c = bases.walk();
            let direct = bases.named_children(&mut c).any(|b| {
                dotted_name(src, b)
                    .and_then(|d| app_class(&binds.resolve(&d)))
                    .is_some_and(|k| k == Framework::Discord)
            });
            // A base from another package (a bot toolkit over discord.py):
            // its own `setup_hook` says which hook starts it.
            let toolkit = src.text.contains("discord")
                && class
                    .child_by_field_name("body")
                    .and_then(|b| def_in_block(src, b, "setup_hook", usize::MAX))
                    .is_some_and(is_async);
            direct || toolkit
        })
        .map(|class| App {
            call: (class.start_byte(), class.end_byte()),
            kind: Framework::DiscordClass,
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Writing

/// Setup at the start of a startup handler; close at the start of the
/// async shutdown handler, when there is one. Returns the setup call.
pub(super) fn start_of(w: &mut Writer, start: Node, stop: Option<Node>) -> Option<String> {
    let (at, indent) = block_start(w.src, start.child_by_field_name("body")?)?;
    let (cache, os, _) = w.names(at, None);
    let setup = w.setup_call(&cache, &os, &indent);
    w.insert_line(at, &indent, &setup);
    if let Some(stop) = stop.filter(|s| is_async(*s))
        && !w.src.text_of(stop).contains(&format!("{cache}.close()"))
    {
        let (sat, sindent) = block_start(w.src, stop.child_by_field_name("body")?)?;
        w.insert_line(sat, &sindent, &format!("await {cache}.close()"));
    }
    Some(setup)
}

/// New top-level code above the statement holding `anchor`, two blank
/// lines around it; `make` gets (cache, setup call, eol, indent unit).
pub(super) fn above(
    w: &mut Writer,
    anchor: Node,
    extra: Option<(&str, &str)>,
    make: impl FnOnce(&[String; 3], &str, &str, &str) -> String,
) -> Option<String> {
    let text = &w.src.text;
    let at = above_comments(text, own_line(text, top_statement(anchor))?.0);
    let (cache, os, extra) = w.names(at, extra);
    let setup = w.setup_call(&cache, &os, &w.unit);
    let pre = if at == 0 {
        String::new()
    } else {
        w.eol
            .repeat(2usize.saturating_sub(blank_lines_before(text, at)))
    };
    let code = make(&[cache, extra, String::new()], &setup, w.eol, &w.unit);
    w.body
        .push(Edit::insert(at, format!("{pre}{code}{}{}", w.eol, w.eol)));
    Some(setup)
}

/// `async def SETUP(PARAMS): setup` and `async def CLOSE(PARAMS): close`
/// above the statement holding `anchor`. Returns (setup call, SETUP, CLOSE).
fn new_handlers(w: &mut Writer, anchor: Node, params: &str) -> Option<(String, String, String)> {
    let (start, stop) = (w.free_name("setup_cache"), w.free_name("close_cache"));
    let (s, c) = (start.clone(), stop.clone());
    let setup = above(w, anchor, None, |names, setup, eol, u| {
        let cache = &names[0];
        format!(
            "async def {s}({params}):{eol}{u}{setup}{eol}{eol}{eol}async def {c}({params}):{eol}{u}await {cache}.close(){eol}"
        )
    })?;
    Some((setup, start, stop))
}

/// A new context manager above `anchor`: setup, yield, close.
/// Returns (setup call, its name).
fn new_context(w: &mut Writer, anchor: Node, acm: bool, params: &str) -> Option<(String, String)> {
    let name = w.free_name(if acm {
        "cache_lifespan"
    } else {
        "cache_context"
    });
    let n = name.clone();
    let extra = acm.then_some(("contextlib", "asynccontextmanager"));
    let setup = above(w, anchor, extra, |names, setup, eol, u| {
        let (cache, acm) = (&names[0], &names[1]);
        let decorator = if acm.is_empty() {
            String::new()
        } else {
            format!("@{acm}{eol}")
        };
        format!(
            "{decorator}async def {n}({params}):{eol}{u}{setup}{eol}{u}yield{eol}{u}await {cache}.close(){eol}"
        )
    })?;
    Some((setup, name))
}

/// `LINE` on a new line after the statement holding `node`, at its indentation.
fn after_statement(w: &mut Writer, node: Node, line: &str) -> Option<()> {
    let stmt = statement_holding(node)?;
    let (_, indent) = own_line(&w.src.text, stmt)?;
    let at = line_end(&w.src.text, stmt.end_byte());
    w.insert_line(at, &indent, line);
    Some(())
}

/// Litestar: the setup first in `on_startup`, the close last in
/// `on_shutdown` (each added when missing); with only `lifespan=[...]`, a
/// new context manager first in that list.
pub(super) fn write_litestar(w: &mut Writer, app: &App, file: &str) -> Written {
    let call = def_or_call(w.src, app.call)?;
    let kwargs = keyword_args(w.src, call);
    let value = |name: &str| kwargs.iter().find(|(k, _)| k == name).map(|(_, v)| *v);
    let (startup, shutdown) = (value("on_startup"), value("on_shutdown"));
    if startup.is_none()
        && let Some(list) = value("lifespan").filter(|l| l.kind() == "list")
    {
        let (setup, name) = new_context(w, call, true, "app")?;
        w.body.push(list_edit(w, list, &name, true)?);
        let message = format!(
            "cache.setup(...) in a new context manager `{name}` first in the app's lifespan list in {file}"
        );
        return Some((Place::Lifespan, setup, message));
    }
    let (setup, start, stop) = new_handlers(w, call, "")?;
    let mut lists = Vec::new();
    let mut added = Vec::new();
    match startup {
        Some(list) => lists.push(list_edit(w, list, &start, true)?),
        None => added.push(format!("on_startup=[{start}]")),
    }
    match shutdown {
        Some(list) => lists.push(list_edit(w, list, &stop, false)?),
        None => added.push(format!("on_shutdown=[{stop}]")),
    }
    if added.is_empty() {
        w.body.extend(lists);
    } else {
        w.body.push(arguments_edit(w, call, lists, &added)?);
    }
    let message = format!(
        "cache.setup(...) in a new startup hook `{start}` and cache.close() in a new shutdown hook `{stop}`, passed to {} in {file}",
        super::app_label(w.src, call)
    );
    Some((Place::OnStartup, setup, message))
}

/// `item` first (or last) in a list literal; another value `V` becomes `[item, *V]`.
fn list_edit(w: &Writer, list: Node, item: &str, first: bool) -> Option<Edit> {
    let text = &w.src.text;
    if list.kind() != "list" {
        let v = w.src.text_of(list);
        let new = if first {
            format!("[{item}, *{v}]")
        } else {
            format!("[*{v}, {item}]")
        };
        return Some(Edit::replace(list.start_byte(), list.end_byte(), new));
    }
    let mut cursor = list.walk();
    let items: Vec<Node> = list
        .named_children(&mut cursor)
        .filter(|n| n.kind() != "comment")
        .collect();
    let Some(head) = items.first() else {
        return Some(Edit::insert(list.start_byte() + 1, item));
    };
    if !first {
        return keyword_edit(w.src, list, &[item], w.width, &w.unit);
    }
    // One item a line: a line of its own above the first.
    if text[list.start_byte()..head.start_byte()].contains('\n') {
        let (line, indent) = own_line(text, *head)?;
        return Some(Edit::insert(line, format!("{indent}{item},{}", w.eol)));
    }
    Some(Edit::insert(head.start_byte(), format!("{item}, ")))
}

/// aiohttp: the app's own `cleanup_ctx` generator, extended; else its
/// `on_startup` handler (close in its `on_cleanup` handler or a new one);
/// else a new `cleanup_ctx` generator appended after the app is built.
pub(super) fn write_aiohttp(w: &mut Writer, app: &App, file: &str) -> Written {
    let call = def_or_call(w.src, app.call)?;
    let var = assigned_name(w.src, call)?;
    let src = w.src;
    let local = |signal: &str| {
        first_args(src, &format!("{var}.{signal}.append"))
            .into_iter()
            .find_map(|a| local_hook(src, a).filter(|d| is_async(*d)))
    };
    if let Some(ctx) = local("cleanup_ctx")
        && let Ok((setup, name)) = extend_def(w, ctx)
    {
        let message = format!(
            "cache.setup(...) before the yield of the app's cleanup context `{name}` in {file}; cache.close() after it"
        );
        return Some((Place::Lifespan, setup, message));
    }
    if let Some(start) = local("on_startup") {
        let stop = local("on_cleanup").or_else(|| local("on_shutdown"));
        let setup = start_of(w, start, stop)?;
        let name = crate::locate::name_of(src, start);
        if stop.is_none() {
            new_close_registered(w, call, "app", call, |c| {
                format!("{var}.on_cleanup.append({c})")
            })?;
        }
        let message = format!(
            "cache.setup(...) at the start of the app's startup handler `{name}` in {file}; cache.close() at cleanup"
        );
        return Some((Place::OnStartup, setup, message));
    }
    let (setup, name) = new_context(w, call, false, "app")?;
    after_statement(w, call, &format!("{var}.cleanup_ctx.append({name})"))?;
    let message = format!(
        "cache.setup(...) and cache.close() in a new cleanup context `{name}` appended to `{var}.cleanup_ctx` in {file}"
    );
    Some((Place::NewLifespan, setup, message))
}

/// aiogram: the dispatcher's startup handler (registered or decorated),
/// else new startup and shutdown handlers registered after it is built.
pub(super) fn write_aiogram(w: &mut Writer, app: &App, file: &str) -> Written {
    let call = def_or_call(w.src, app.call)?;
    let var = assigned_name(w.src, call)?;
    let src = w.src;
    let handler = |event: &str| {
        let registered = first_args(src, &format!("{var}.{event}.register"))
            .into_iter()
            .find_map(|a| local_hook(src, a));
        registered.or_else(|| decorated_by(src, &format!("{var}.{event}")))
    };
    if let Some(start) = handler("startup").filter(|d| is_async(*d)) {
        let stop = handler("shutdown");
        let setup = start_of(w, start, stop)?;
        let name = crate::locate::name_of(src, start);
        if stop.is_none() {
            new_close_registered(w, call, "", call, |c| {
                format!("{var}.shutdown.register({c})")
            })?;
        }
        let message = format!(
            "cache.setup(...) at the start of the dispatcher's startup handler `{name}` in {file}; cache.close() at shutdown"
        );
        return Some((Place::OnStartup, setup, message));
    }
    let (setup, start, stop) = new_handlers(w, call, "")?;
    after_statement(
        w,
        call,
        &format!(
            "{var}.startup.register({start}){}{var}.shutdown.register({stop})",
            line_break(w, call)?
        ),
    )?;
    let message = format!(
        "cache.setup(...) in a new startup handler `{start}` and cache.close() in `{stop}`, registered on `{var}` in {file}"
    );
    Some((Place::OnStartup, setup, message))
}

/// A line break and the indentation of the statement holding `node`.
fn line_break(w: &Writer, node: Node) -> Option<String> {
    let stmt = statement_holding(node)?;
    let (_, indent) = own_line(&w.src.text, stmt)?;
    Some(format!("{}{indent}", w.eol))
}

/// A def decorated with `@DOTTED()` or `@DOTTED`, anywhere at module level.
pub(super) fn decorated_by<'t>(src: &'t SourceFile, dotted: &str) -> Option<Node<'t>> {
    let root = src.tree.root_node();
    let mut cursor = root.walk();
    root.named_children(&mut cursor)
        .filter(|s| s.kind() == "decorated_definition")
        .find(|d| {
            let mut c = d.walk();
            d.children(&mut c)
                .filter(|x| x.kind() == "decorator")
                .any(|dec| {
                    let Some(expr) = dec.named_child(0) else {
                        return false;
                    };
                    let callee = match expr.kind() {
                        "call" => expr.child_by_field_name("function"),
                        _ => Some(expr),
                    };
                    callee.and_then(|f| dotted_name(src, f)).as_deref() == Some(dotted)
                })
        })
        .and_then(as_def)
}

/// discord.py: setup first in the bot class's `setup_hook`, close first in
/// its `close`; each method added at the end of the class when missing.
pub(super) fn write_discord_class(w: &mut Writer, app: &App, file: &str) -> Written {
    let src = w.src;
    let class = src
        .tree
        .root_node()
        .descendant_for_byte_range(app.call.0, app.call.1)
        .and_then(|n| ancestor_or_self(n, "class_definition"))?;
    let body = class.child_by_field_name("body")?;
    let class_name = crate::locate::name_of(src, class).to_string();
    let method = |name: &str| def_in_block(src, body, name, usize::MAX).filter(|d| is_async(*d));
    let (hook, close) = (method("setup_hook"), method("close"));
    let setup = match hook {
        Some(hook) => start_of(w, hook, close)?,
        None => {
            let (at, indent) = class_end(w, body)?;
            let (cache, os, _) = w.names(at, None);
            let u = w.unit.clone();
            let setup = w.setup_call(&cache, &os, &format!("{indent}{u}"));
            let eol = w.eol;
            w.body.push(Edit::insert(at, format!(
                "{}{eol}{indent}async def setup_hook(self) -> None:{eol}{indent}{u}{setup}{eol}{indent}{u}await super().setup_hook(){eol}",
                crate::imports::break_at_end(&w.src.text, at, eol)
            )));
            if let Some(close) = close {
                start_of_close(w, close, &cache)?;
            }
            setup
        }
    };
    if close.is_none() {
        let (at, indent) = class_end(w, body)?;
        let cache = w.cache_name(at);
        let (eol, u) = (w.eol, w.unit.clone());
        w.body.push(Edit::insert(at, format!(
            "{}{eol}{indent}async def close(self) -> None:{eol}{indent}{u}await {cache}.close(){eol}{indent}{u}await super().close(){eol}",
            crate::imports::break_at_end(&w.src.text, at, eol)
        )));
    }
    let message = format!(
        "cache.setup(...) in `{class_name}.setup_hook` and cache.close() in `{class_name}.close` in {file}"
    );
    Some((Place::SetupHook, setup, message))
}

pub(super) fn start_of_close(w: &mut Writer, close: Node, cache: &str) -> Option<()> {
    if w.src.text_of(close).contains(&format!("{cache}.close()")) {
        return Some(());
    }
    let (at, indent) = block_start(w.src, close.child_by_field_name("body")?)?;
    w.insert_line(at, &indent, &format!("await {cache}.close()"));
    Some(())
}

/// After a class body's last statement, with the body's indentation.
pub(super) fn class_end(w: &Writer, body: Node) -> Option<(usize, String)> {
    let mut cursor = body.walk();
    let stmts: Vec<Node> = body.named_children(&mut cursor).collect();
    let (_, indent) = own_line(&w.src.text, *stmts.first()?)?;
    let last = stmts.last()?;
    Some((line_end(&w.src.text, last.end_byte()), indent))
}

/// The statement holding `node`: the one whose parent is a block or the module.
pub(super) fn statement_holding(node: Node) -> Option<Node> {
    let mut n = node;
    loop {
        let p = n.parent()?;
        if matches!(p.kind(), "block" | "module") {
            return Some(n);
        }
        n = p;
    }
}

/// aiohttp and FastAPI handlers registered by a call: `async def NAME(PARAMS):
/// await cache.close()` above `anchor`, and `LINE(NAME)` after the statement
/// holding `register`.
pub(super) fn new_close_registered(
    w: &mut Writer,
    anchor: Node,
    params: &str,
    register: Node,
    line: impl FnOnce(&str) -> String,
) -> Option<String> {
    let close = w.free_name("close_cache");
    let cache = w.cache_name(anchor.start_byte());
    let (eol, u) = (w.eol, w.unit.clone());
    above(w, anchor, None, |_, _, _, _| {
        format!("async def {close}({params}):{eol}{u}await {cache}.close(){eol}")
    })?;
    after_statement(w, register, &line(&close))?;
    Some(close)
}

/// The edits inside a call's arguments (`lists`) and new keywords, as one
/// edit of the argument list: a call too long for its line is rewritten
/// whole, which would overlap the edits inside it.
fn arguments_edit(w: &Writer, call: Node, lists: Vec<Edit>, added: &[String]) -> Option<Edit> {
    let args = call.child_by_field_name("arguments")?;
    let (start, end) = (args.start_byte(), args.end_byte());
    let grown: usize = lists.iter().map(|e| e.content.len()).sum();
    let shrunk: usize = lists.iter().map(|e| e.end - e.start).sum();
    let text = crate::edit::apply(&w.src.text, &lists).ok()?;
    let inner = SourceFile::parse(&w.src.path, text.clone().into_bytes()).ok()?;
    let new_call = inner
        .tree
        .root_node()
        .descendant_for_byte_range(start, start)
        .and_then(|n| ancestor_or_self(n, "argument_list"))
        .filter(|a| a.start_byte() == start)?
        .parent()?;
    let added: Vec<&str> = added.iter().map(String::as_str).collect();
    let kw = keyword_edit(&inner, new_call, &added, w.width, &w.unit)?;
    let kw_delta = kw.content.len() - (kw.end - kw.start);
    let text = crate::edit::apply(&text, &[kw]).ok()?;
    let new_end = end + grown - shrunk + kw_delta;
    Some(Edit::replace(start, end, text[start..new_end].to_string()))
}

/// The context manager a lifespan hands its whole work to: a body that is
/// only `async with other(...):` around the `yield`, `other` an async def of
/// this file with one `yield` of its own.
pub(super) fn delegate<'t>(src: &'t SourceFile, def: Node<'t>) -> Option<Node<'t>> {
    let body = def.child_by_field_name("body")?;
    let mut cursor = body.walk();
    let stmts: Vec<Node> = body
        .named_children(&mut cursor)
        .filter(|n| n.kind() != "comment" && !crate::imports::is_docstring(*n))
        .collect();
    let [with] = stmts.as_slice() else {
        return None;
    };
    if with.kind() != "with_statement" || with.child(0).is_none_or(|c| c.kind() != "async") {
        return None;
    }
    let clause = with.named_child(0).filter(|c| c.kind() == "with_clause")?;
    let items = clause_items(clause);
    let [item] = items.as_slice() else {
        return None;
    };
    let call = item.named_child(0).filter(|v| v.kind() == "call")?;
    let other = local_hook(src, call.child_by_field_name("function")?)?;
    let yields = crate::function::BodyFacts::collect(src, other).yields.len();
    (is_async(other) && yields == 1 && other.id() != def.id()).then_some(other)
}

fn clause_items(clause: Node) -> Vec<Node> {
    let mut cursor = clause.walk();
    clause
        .named_children(&mut cursor)
        .filter(|c| c.kind() == "with_item")
        .collect()
}
