//! Frameworks whose startup and shutdown hooks are defs decorated with an
//! attribute of the app, or registered by calling it with the def:
//!
//! | framework | startup / shutdown | the hook takes |
//! | --- | --- | --- |
//! | Quart | `before_serving` / `after_serving` | nothing |
//! | Sanic | `before_server_start` / `after_server_stop` | the app |
//! | FastStream | `on_startup` / `after_shutdown` (also the constructor's lists) | nothing |
//!
//! Sanic: `main_process_start` runs in the parent process, whose cache the
//! workers that serve requests never see; `before_server_start` runs in each
//! worker (and on ASGI lifespan startup), where the cached functions run.

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
            None => new_hooks(w, call, &var, &spec, false)?.1,
        };
        let message = format!(
            "cache.setup(...) at the start of the `{var}.{}` hook `{}` and cache.close() in `{close_in}` in {file}",
            spec.start,
            crate::locate::name_of(src, start)
        );
        return Some((Place::OnStartup, setup, message));
    }
    let (setup, close_in) = new_hooks(w, call, &var, &spec, true)?;
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
    var: &str,
    spec: &Spec,
    with_start: bool,
) -> Option<(String, String)> {
    let stmt = statement_holding(call)?;
    let text = &w.src.text;
    let (_, indent) = own_line(text, stmt)?;
    let at = line_end(text, stmt.end_byte());
    let (cache, os, _) = w.names(stmt.start_byte(), None);
    let (eol, u, params) = (w.eol, w.unit.clone(), spec.params);
    // PEP 8: two blank lines around a top-level def, one inside a def.
    let blank = if indent.is_empty() { 2 } else { 1 };
    let gap = eol.repeat(blank + 1);
    let mut code = String::new();
    let mut setup = String::new();
    if with_start {
        let name = w.free_name("setup_cache");
        setup = w.setup_call(&cache, &os, &format!("{indent}{u}"));
        code.push_str(&format!(
            "{gap}{indent}@{var}.{}{eol}{indent}async def {name}({params}):{eol}{indent}{u}{setup}",
            spec.start
        ));
    }
    let close = w.free_name("close_cache");
    code.push_str(&format!(
        "{gap}{indent}@{var}.{}{eol}{indent}async def {close}({params}):{eol}{indent}{u}await {cache}.close(){eol}",
        spec.stop
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
