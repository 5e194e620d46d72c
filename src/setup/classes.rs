//! Apps that are classes the framework reads rather than objects it builds:
//!
//! - an arq `WorkerSettings` class: `on_startup = f` / `on_shutdown = g`,
//!   each an async def taking the worker's `ctx` dict (or an `async def
//!   on_startup(ctx)` in the class body, which arq reads the same way);
//! - a Django `AppConfig` subclass: its `ready()`, which Django calls once
//!   when the app registry is loaded, in every process that serves. cashews'
//!   `cache.setup(...)` is synchronous and opens no connection, so it fits a
//!   sync `ready()`. Django has no shutdown hook (its ASGI handler refuses the
//!   lifespan scope), so no `cache.close()` is added.

use tree_sitter::Node;

use super::hooks::{
    Written, above, as_def, class_end, def_in_block, is_async, local_hook, start_of, start_of_close,
};
use super::{App, Bindings, Framework, Place, Writer, ancestor_or_self, block_start};
use crate::function::dotted_name;
use crate::source::SourceFile;

const DJANGO_CONFIGS: [&str; 2] = ["django.apps.AppConfig", "django.apps.config.AppConfig"];

/// arq worker settings and Django app configs among the top-level classes.
pub(super) fn app_classes(src: &SourceFile, binds: &Bindings) -> Vec<App> {
    super::hooks::top_classes(src)
        .into_iter()
        .filter_map(|class| {
            let kind = if is_django_config(src, binds, class) {
                Framework::Django
            } else if is_arq_settings(src, class) {
                Framework::Arq
            } else {
                return None;
            };
            Some(App {
                call: (class.start_byte(), class.end_byte()),
                kind,
            })
        })
        .collect()
}

fn is_django_config(src: &SourceFile, binds: &Bindings, class: Node) -> bool {
    let Some(bases) = class.child_by_field_name("superclasses") else {
        return false;
    };
    let mut cursor = bases.walk();
    bases.named_children(&mut cursor).any(|b| {
        dotted_name(src, b).is_some_and(|d| DJANGO_CONFIGS.contains(&binds.resolve(&d).as_str()))
    })
}

/// arq reads a settings class by its attributes; no base class says so. A
/// class naming the jobs (`functions` or `cron_jobs`) that is called
/// `WorkerSettings` (arq's own name for it) or sits in a file naming arq.
fn is_arq_settings(src: &SourceFile, class: Node) -> bool {
    let Some(body) = class.child_by_field_name("body") else {
        return false;
    };
    let jobs = class_attr(src, body, "functions").is_some()
        || class_attr(src, body, "cron_jobs").is_some();
    let named = crate::locate::name_of(src, class) == "WorkerSettings";
    jobs && (named || src.text.contains("arq"))
}

/// The value of `NAME = VALUE` (or `NAME: T = VALUE`) in a class body.
fn class_attr<'t>(src: &SourceFile, body: Node<'t>, name: &str) -> Option<Node<'t>> {
    let mut cursor = body.walk();
    let statements: Vec<Node> = body.named_children(&mut cursor).collect();
    statements.into_iter().rev().find_map(|s| {
        let a = s
            .named_child(0)
            .filter(|a| s.kind() == "expression_statement" && a.kind() == "assignment")?;
        let left = a.child_by_field_name("left")?;
        (left.kind() == "identifier" && src.text_of(left) == name)
            .then(|| a.child_by_field_name("right"))
            .flatten()
    })
}

fn class_of<'t>(src: &'t SourceFile, app: &App) -> Option<Node<'t>> {
    let node = src
        .tree
        .root_node()
        .descendant_for_byte_range(app.call.0, app.call.1)?;
    ancestor_or_self(node, "class_definition")
}

/// arq: the hook a settings attribute names: an async def of this file, or
/// one defined in the class body. `Err` when the attribute is set to
/// something else (imported, a lambda): it cannot be extended, nor replaced.
fn arq_hook<'t>(src: &'t SourceFile, body: Node<'t>, name: &str) -> Result<Option<Node<'t>>, ()> {
    if let Some(def) = def_in_block(src, body, name, usize::MAX).filter(|d| is_async(*d)) {
        return Ok(Some(def));
    }
    match class_attr(src, body, name) {
        None => Ok(None),
        Some(value) => local_hook(src, value)
            .filter(|d| is_async(*d))
            .map(Some)
            .ok_or(()),
    }
}

/// arq: setup first in the settings' `on_startup`, close first in its
/// `on_shutdown`; each missing one a new async def above the class, named
/// by a new attribute at the end of the class body.
pub(super) fn write_arq(w: &mut Writer, app: &App, file: &str) -> Written {
    let src = w.src;
    let class = class_of(src, app)?;
    let body = class.child_by_field_name("body")?;
    let class_name = crate::locate::name_of(src, class).to_string();
    let start = arq_hook(src, body, "on_startup").ok()?;
    let stop = arq_hook(src, body, "on_shutdown");
    let setup = match start {
        Some(start) => start_of(w, start, stop.ok().flatten())?,
        None => {
            let name = w.free_name("setup_cache");
            let setup = above(w, class, None, |_, setup, eol, u| {
                format!("async def {name}(ctx):{eol}{u}{setup}{eol}")
            })?;
            add_attr(w, body, "on_startup", &name)?;
            if let Ok(Some(stop)) = stop {
                let cache = w.cache_name(class.start_byte());
                start_of_close(w, stop, &cache)?;
            }
            setup
        }
    };
    let close = match stop {
        Ok(Some(_)) => "in `on_shutdown`".to_string(),
        Ok(None) => {
            let name = w.free_name("close_cache");
            let cache = w.cache_name(class.start_byte());
            above(w, class, None, |_, _, eol, u| {
                format!("async def {name}(ctx):{eol}{u}await {cache}.close(){eol}")
            })?;
            add_attr(w, body, "on_shutdown", &name)?;
            format!("in a new `on_shutdown` hook `{name}`")
        }
        Err(()) => "not added: `on_shutdown` is set to something this tool cannot extend; call cache.close() there".to_string(),
    };
    let message = format!(
        "cache.setup(...) in the `on_startup` hook of `{class_name}` in {file} (arq runs it when the worker starts); cache.close() {close}"
    );
    Some((Place::OnStartup, setup, message))
}

/// `NAME = VALUE` as the last line of a class body.
fn add_attr(w: &mut Writer, body: Node, name: &str, value: &str) -> Option<()> {
    let (at, indent) = class_end(w, body)?;
    w.insert_line(at, &indent, &format!("{name} = {value}"));
    Some(())
}

/// Django: setup first in the config's `ready()`, or in a new one at the
/// end of the class.
pub(super) fn write_django(w: &mut Writer, app: &App, file: &str) -> Written {
    let src = w.src;
    let class = class_of(src, app)?;
    let body = class.child_by_field_name("body")?;
    let class_name = crate::locate::name_of(src, class).to_string();
    let ready = {
        let mut cursor = body.walk();
        let defs: Vec<Node> = body
            .named_children(&mut cursor)
            .filter_map(as_def)
            .collect();
        defs.into_iter()
            .rfind(|d| crate::locate::name_of(src, *d) == "ready")
    };
    let setup = match ready.filter(|d| !is_async(*d)) {
        Some(ready) => {
            let (at, indent) = block_start(src, ready.child_by_field_name("body")?)?;
            let (cache, os, _) = w.names(at, None);
            let setup = w.setup_call(&cache, &os, &indent);
            w.insert_line(at, &indent, &setup);
            setup
        }
        None if ready.is_some() => return None,
        None => {
            let (at, indent) = class_end(w, body)?;
            let (cache, os, _) = w.names(at, None);
            let u = w.unit.clone();
            let setup = w.setup_call(&cache, &os, &format!("{indent}{u}"));
            let eol = w.eol;
            w.body.push(crate::edit::Edit::insert(
                at,
                format!(
                    "{}{eol}{indent}def ready(self) -> None:{eol}{indent}{u}{setup}{eol}",
                    crate::imports::break_at_end(&src.text, at, eol)
                ),
            ));
            setup
        }
    };
    let message = format!(
        "cache.setup(...) in `{class_name}.ready()` in {file}, run once when Django loads its apps; Django has no shutdown hook (its ASGI handler refuses the lifespan scope), so cache.close() is not called and connections end with the process"
    );
    Some((Place::Ready, setup, message))
}
