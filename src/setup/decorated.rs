//! Frameworks whose startup and shutdown hooks are defs decorated with an
//! attribute of the app, or registered by calling it with the def:
//!
//! | framework | startup / shutdown | the hook takes |
//! | --- | --- | --- |
//! | Quart | `before_serving` / `after_serving` | nothing |
//! | Sanic | `before_server_start` / `after_server_stop` | the app |
//! | FastStream | `on_startup` / `after_shutdown` (also the constructor's lists) | nothing |
//! | Taskiq | `on_event(TaskiqEvents.WORKER_STARTUP)` / `WORKER_SHUTDOWN` (also `add_event_handler`) | the state |
//!
//! Sanic: `main_process_start` runs in the parent process, whose cache the
//! workers that serve requests never see; `before_server_start` runs in each
//! worker (and on ASGI lifespan startup), where the cached functions run.
//! Taskiq: the worker events, as the tasks (and what they call) run in the
//! worker; the app that sends them has its own framework's hook.

use tree_sitter::Node;

use super::hooks::{
    Written, assigned_name, decorated_by, def_or_call, first_args, is_async, local_hook, start_of,
    statement_holding,
};
use super::{App, Framework, Place, Writer, keyword_args, own_line};
use crate::edit::Edit;
use crate::imports::line_end;
use crate::source::SourceFile;

/// A framework's hook attributes and what its hooks take.
struct Spec {
    start: &'static str,
    stop: &'static str,
    params: &'static str,
}

fn spec(kind: Framework) -> Option<Spec> {
    let (start, stop, params) = match kind {
        Framework::Quart => ("before_serving", "after_serving", ""),
        Framework::Sanic => ("before_server_start", "after_server_stop", "app"),
        Framework::FastStream => ("on_startup", "after_shutdown", ""),
        _ => return None,
    };
    Some(Spec {
        start,
        stop,
        params,
    })
}

/// The existing handler of `VAR.ATTR`: decorated, registered by a call, or
/// in the constructor's `ATTR=[...]` list; an async def of this file.
fn handler<'t>(src: &'t SourceFile, call: Node<'t>, var: &str, attr: &str) -> Option<Node<'t>> {
    let dotted = format!("{var}.{attr}");
    let listed = || {
        let (_, list) = keyword_args(src, call)
            .into_iter()
            .find(|(k, _)| k == attr)?;
        let mut cursor = list.walk();
        let items: Vec<Node> = list.named_children(&mut cursor).collect();
        items.into_iter().find_map(|i| local_hook(src, i))
    };
    decorated_by(src, &dotted)
        .or_else(|| {
            first_args(src, &dotted)
                .into_iter()
                .find_map(|a| local_hook(src, a))
        })
        .or_else(listed)
        .filter(|d| is_async(*d))
}

/// Setup at the start of the app's startup hook (close at the start of its
/// shutdown hook); new decorated hooks after the app is built for the ones
/// missing.
pub(super) fn write_decorated(w: &mut Writer, app: &App, file: &str) -> Written {
    let spec = spec(app.kind)?;
    let call = def_or_call(w.src, app.call)?;
    let var = assigned_name(w.src, call)?;
    let src = w.src;
    let (start, stop) = (
        handler(src, call, &var, spec.start),
        handler(src, call, &var, spec.stop),
    );
    if let Some(start) = start {
        let setup = start_of(w, start, stop)?;
        let close_in = match stop {
            Some(s) => crate::locate::name_of(src, s).to_string(),
            None => new_hooks(w, call, None, &format!("{var}.{}", spec.stop), spec.params)?.1,
        };
        let message = format!(
            "cache.setup(...) at the start of the `{var}.{}` hook `{}` and cache.close() in `{close_in}` in {file}",
            spec.start,
            crate::locate::name_of(src, start)
        );
        return Some((Place::OnStartup, setup, message));
    }
    let (start, stop) = (
        format!("{var}.{}", spec.start),
        format!("{var}.{}", spec.stop),
    );
    let (setup, close_in) = new_hooks(w, call, Some(&start), &stop, spec.params)?;
    let message = format!(
        "cache.setup(...) in a new `@{var}.{}` hook and cache.close() in a new `@{var}.{}` hook `{close_in}` in {file}",
        spec.start, spec.stop
    );
    Some((Place::OnStartup, setup, message))
}

/// New decorated hooks after the statement that builds the app, at its
/// indentation: a startup hook (when `with_start`) and a shutdown hook.
/// Returns (setup call, or "", the shutdown hook's name).
fn new_hooks(
    w: &mut Writer,
    call: Node,
    start: Option<&str>,
    stop: &str,
    params: &str,
) -> Option<(String, String)> {
    let stmt = statement_holding(call)?;
    let text = &w.src.text;
    let (_, indent) = own_line(text, stmt)?;
    let at = line_end(text, stmt.end_byte());
    let (cache, os, _) = w.names(stmt.start_byte(), None);
    let (eol, u) = (w.eol, w.unit.clone());
    // PEP 8: two blank lines around a top-level def, one inside a def.
    let blank = if indent.is_empty() { 2 } else { 1 };
    let gap = eol.repeat(blank + 1);
    let mut code = String::new();
    let mut setup = String::new();
    if let Some(start) = start {
        let name = w.free_name("setup_cache");
        setup = w.setup_call(&cache, &os, &format!("{indent}{u}"));
        code.push_str(&format!(
            "{gap}{indent}@{start}{eol}{indent}async def {name}({params}):{eol}{indent}{u}{setup}"
        ));
    }
    let close = w.free_name("close_cache");
    code.push_str(&format!(
        "{gap}{indent}@{stop}{eol}{indent}async def {close}({params}):{eol}{indent}{u}await {cache}.close(){eol}"
    ));
    let following = text[at..]
        .split_inclusive('\n')
        .take_while(|l| l.trim().is_empty())
        .count();
    if at < text.len() && following < blank {
        code.push_str(&eol.repeat(blank - following));
    }
    // The statement's own line break comes first: `code` starts a new line.
    let lead = crate::imports::break_at_end(text, at, eol);
    let code = code.strip_prefix(eol).unwrap_or(&code).to_string();
    w.body.push(Edit::insert(at, format!("{lead}{code}")));
    Some((setup, close))
}

/// The statement-level name a broker is bound to, through a builder chain:
/// `broker = ListQueueBroker(url).with_result_backend(backend)`.
fn chained_name(src: &SourceFile, call: Node) -> Option<String> {
    let mut n = call;
    while let Some(p) = n.parent() {
        let through = match p.kind() {
            "attribute" => p.child_by_field_name("object"),
            "call" => p.child_by_field_name("function"),
            _ => None,
        };
        if through.is_none_or(|t| t.id() != n.id()) {
            break;
        }
        n = p;
    }
    assigned_name(src, n)
}

/// A module-level def under `@VAR.on_event(...EVENT)` or registered with
/// `VAR.add_event_handler(...EVENT, f)`; an async def of this file.
fn taskiq_handler<'t>(src: &'t SourceFile, var: &str, event: &str) -> Option<Node<'t>> {
    let names_event = |n: Option<Node>| n.is_some_and(|a| src.text_of(a).ends_with(event));
    let on_event = format!("{var}.on_event");
    let root = src.tree.root_node();
    let mut cursor = root.walk();
    let decorated = root
        .named_children(&mut cursor)
        .filter(|s| s.kind() == "decorated_definition")
        .find(|d| {
            let mut c = d.walk();
            d.children(&mut c)
                .filter(|x| x.kind() == "decorator")
                .any(|dec| {
                    let Some(call) = dec.named_child(0).filter(|e| e.kind() == "call") else {
                        return false;
                    };
                    let callee = call.child_by_field_name("function");
                    callee
                        .and_then(|f| crate::function::dotted_name(src, f))
                        .as_deref()
                        == Some(on_event.as_str())
                        && names_event(
                            call.child_by_field_name("arguments")
                                .and_then(|a| a.named_child(0)),
                        )
                })
        })
        .and_then(super::hooks::as_def);
    let registered = || {
        super::hooks::calls_of(src, &format!("{var}.add_event_handler"))
            .into_iter()
            .find_map(|c| {
                let args = c.child_by_field_name("arguments")?;
                names_event(args.named_child(0))
                    .then(|| args.named_child(1))
                    .flatten()
            })
            .and_then(|f| local_hook(src, f))
    };
    decorated.or_else(registered).filter(|d| is_async(*d))
}

/// Taskiq: setup first in the broker's worker-startup handler, close in
/// its worker-shutdown one; new handlers after the broker is built for the
/// ones missing.
pub(super) fn write_taskiq(w: &mut Writer, app: &App, file: &str) -> Written {
    let call = def_or_call(w.src, app.call)?;
    let var = chained_name(w.src, call)?;
    let src = w.src;
    let start = taskiq_handler(src, &var, "WORKER_STARTUP");
    let stop = taskiq_handler(src, &var, "WORKER_SHUTDOWN");
    let stmt = statement_holding(call)?;
    let (events, edit) = w
        .module
        .imports
        .ensure(src, "taskiq", "TaskiqEvents", stmt.start_byte());
    let decorator = |e: &str| format!("{var}.on_event({events}.{e})");
    if let Some(start) = start {
        let setup = start_of(w, start, stop)?;
        let close_in = match stop {
            Some(s) => crate::locate::name_of(src, s).to_string(),
            None => {
                w.imports.extend(edit);
                new_hooks(w, call, None, &decorator("WORKER_SHUTDOWN"), "state")?.1
            }
        };
        let message = format!(
            "cache.setup(...) at the start of the broker's worker-startup handler `{}` and cache.close() in `{close_in}` in {file}",
            crate::locate::name_of(src, start)
        );
        return Some((Place::OnStartup, setup, message));
    }
    w.imports.extend(edit);
    let (up, down) = (decorator("WORKER_STARTUP"), decorator("WORKER_SHUTDOWN"));
    let (setup, close_in) = new_hooks(w, call, Some(&up), &down, "state")?;
    let message = format!(
        "cache.setup(...) in a new worker-startup handler and cache.close() in a new worker-shutdown handler `{close_in}` on `{var}` in {file}"
    );
    Some((Place::OnStartup, setup, message))
}
