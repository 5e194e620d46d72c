//! A bot or client built without a class of its own (discord.py
//! `commands.Bot(...)`, telethon `TelegramClient(...)`, pyrogram
//! `Client(...)`) has no startup hook to extend: it starts when a launcher
//! runs it. That launcher is usually `async def main()` run by
//! `asyncio.run(main())` (or `loop.run_until_complete(main())`, pyrogram's
//! `app.run(main())`): the setup goes first in `main`, before the client
//! starts, and `cache.close()` in a `finally` around the rest, so it runs
//! however the bot stops. Without such a main, the setup goes just before
//! the statement that starts the client (`bot.run(TOKEN)`, `app.run()`);
//! a telegram client's loop outlives its run, so `cache.close()` follows
//! it on that loop.

use tree_sitter::Node;

use super::hooks::{Written, assigned_name, calls_of, def_named, def_or_call, is_async};
use super::{App, Place, Writer, block_start, own_line};
use crate::edit::Edit;
use crate::function::dotted_name;
use crate::imports::line_end;
use crate::source::SourceFile;

/// Methods that start a client (and run the loop until it stops).
const STARTS: [&str; 4] = [
    "run",
    "start",
    "run_until_disconnected",
    "run_until_complete",
];

pub(super) fn write_launcher(w: &mut Writer, app: &App, file: &str) -> Written {
    let src = w.src;
    let var = def_or_call(src, app.call).and_then(|c| assigned_name(src, c));
    if let Some(main) = launched_main(src) {
        return write_main(w, main, file);
    }
    let var = var?;
    let start = start_statement(src, &var)?;
    let (at, indent) = own_line(&src.text, start)?;
    let (cache, os, _) = w.names(at, None);
    let setup = w.setup_call(&cache, &os, &indent);
    w.insert_line(at, &indent, &setup);
    let started = src.text_of(start).lines().next().unwrap_or_default();
    let closed = (app.kind == super::Framework::Telegram)
        .then(|| close_on_client_loop(w, &var, &cache))
        .flatten();
    let message = match closed {
        Some(close) => format!(
            "cache.setup(...) before `{started}` starts the client in {file}; `{close}` after the run, on the client's own loop, which stays open"
        ),
        None => format!(
            "cache.setup(...) before `{started}` starts the client in {file}; it runs the event loop itself, so cache.close() is not called and connections end with the process"
        ),
    };
    Some((Place::BeforeRun, setup, message))
}

/// Methods of a telethon or pyrogram client that run its loop until the
/// client stops, and return with that loop still open (pyrogram's `run()`
/// and telethon's `run_until_disconnected()`, called outside a coroutine).
const RUNS_UNTIL_STOPPED: [&str; 2] = ["run", "run_until_disconnected"];

/// `VAR.loop.run_until_complete(cache.close())` after the last statement
/// that runs the client: the connections close on the loop they were made
/// on (a new `asyncio.run` would be another loop). The written line.
fn close_on_client_loop(w: &mut Writer, var: &str, cache: &str) -> Option<String> {
    let src = w.src;
    let close = format!("{var}.loop.run_until_complete({cache}.close())");
    if src.text.contains(&close) {
        return None;
    }
    let run = RUNS_UNTIL_STOPPED
        .iter()
        .flat_map(|m| calls_of(src, &format!("{var}.{m}")))
        // `app.run(main())` runs a launcher: its main closes the cache.
        .filter(|c| {
            c.child_by_field_name("arguments")
                .is_some_and(|a| a.named_child_count() == 0)
        })
        .filter_map(|c| super::hooks::statement_holding(c))
        .filter(|s| runs_at_top(*s))
        .max_by_key(|s| s.end_byte())?;
    let (_, indent) = own_line(&src.text, run)?;
    let at = line_end(&src.text, run.end_byte());
    w.insert_line(at, &indent, &close);
    Some(close)
}

/// The local `async def` a module-level or `__main__` runner call starts:
/// `asyncio.run(NAME())`, `LOOP.run_until_complete(NAME())`, `APP.run(NAME())`.
fn launched_main(src: &SourceFile) -> Option<Node<'_>> {
    let root = src.tree.root_node();
    let mut cursor = root.walk();
    let top: Vec<Node> = root.named_children(&mut cursor).collect();
    let runners = top.iter().flat_map(|s| runner_calls(src, *s));
    runners.into_iter().find_map(|call| {
        let arg = call.child_by_field_name("arguments")?.named_child(0)?;
        let f = arg
            .child_by_field_name("function")
            .filter(|_| arg.kind() == "call")?;
        (f.kind() == "identifier")
            .then(|| def_named(src, src.text_of(f), arg))
            .flatten()
            .filter(|d| is_async(*d))
    })
}

/// Calls in a top-level statement (or the `if __name__` block) whose method
/// is `run` or `run_until_complete`.
fn runner_calls<'t>(src: &'t SourceFile, stmt: Node<'t>) -> Vec<Node<'t>> {
    let mut out = Vec::new();
    let mut stack = vec![stmt];
    while let Some(n) = stack.pop() {
        if matches!(n.kind(), "function_definition" | "class_definition") {
            continue;
        }
        if n.kind() == "call"
            && let Some(callee) = n
                .child_by_field_name("function")
                .and_then(|f| dotted_name(src, f))
            && matches!(
                callee.rsplit('.').next(),
                Some("run" | "run_until_complete")
            )
        {
            out.push(n);
        }
        let mut cursor = n.walk();
        stack.extend(n.named_children(&mut cursor));
    }
    out.reverse();
    out
}

/// The statement (top level or in the `if __name__` block) that starts `var`.
fn start_statement<'t>(src: &'t SourceFile, var: &str) -> Option<Node<'t>> {
    STARTS.iter().find_map(|m| {
        calls_of(src, &format!("{var}.{m}"))
            .into_iter()
            .filter_map(|c| super::hooks::statement_holding(c))
            .find(|s| runs_at_top(*s))
    })
}

/// A statement at module level or in a top-level `if` block (the
/// `__main__` guard): run once, when the script starts.
fn runs_at_top(stmt: Node) -> bool {
    stmt.parent().is_some_and(|p| p.kind() == "module")
        || stmt.parent().and_then(|b| b.parent()).is_some_and(|g| {
            g.kind() == "if_statement" && g.parent().is_some_and(|m| m.kind() == "module")
        })
}

/// Setup first in `main`, and the rest of its body in `try:` / `finally:
/// await cache.close()`; a body ending in its own `try`/`finally` gets the
/// close at the end of that `finally`.
fn write_main(w: &mut Writer, main: Node, file: &str) -> Written {
    let src = w.src;
    let text = &src.text;
    let body = main.child_by_field_name("body")?;
    let (at, indent) = block_start(src, body)?;
    let last = body.named_child(body.named_child_count().checked_sub(1)?)?;
    let end = line_end(text, last.end_byte());
    // Checked before any edit: a writer that gives up leaves none behind.
    if final_clause(last).is_none() && (at >= end || holds_multiline_string(body, at, end)) {
        return None;
    }
    let (cache, os, _) = w.names(at, None);
    let setup = w.setup_call(&cache, &os, &indent);
    let name = crate::locate::name_of(src, main).to_string();
    let close = format!("await {cache}.close()");
    let eol = w.eol;
    if let Some(finally) = final_clause(last) {
        let block = finally.named_child(finally.named_child_count().checked_sub(1)?)?;
        let end = block.named_child(block.named_child_count().checked_sub(1)?)?;
        let (_, findent) = own_line(text, end)?;
        w.insert_line(at, &indent, &setup);
        if !src.text_of(main).contains(&close) {
            w.insert_line(line_end(text, end.end_byte()), &findent, &close);
        }
    } else {
        let u = w.unit.clone();
        let inner: String = text[at..end]
            .split_inclusive('\n')
            .map(|l| {
                if l.trim().is_empty() {
                    l.to_string()
                } else {
                    format!("{u}{l}")
                }
            })
            .collect();
        let lead = crate::imports::break_at_end(text, end, eol);
        let inner = format!("{inner}{lead}");
        w.body.push(Edit::replace(
            at,
            end,
            format!(
                "{indent}{setup}{eol}{indent}try:{eol}{inner}{indent}finally:{eol}{indent}{u}{close}{eol}"
            ),
        ));
    }
    let message = format!(
        "cache.setup(...) at the start of `{name}` in {file}, before the client starts; cache.close() in a `finally` around the run"
    );
    Some((Place::Launcher, setup, message))
}

/// The `finally` clause of a `try` statement.
fn final_clause(stmt: Node) -> Option<Node> {
    if stmt.kind() != "try_statement" {
        return None;
    }
    let mut cursor = stmt.walk();
    stmt.named_children(&mut cursor)
        .find(|c| c.kind() == "finally_clause")
}

/// Whether a string spanning lines starts in `[from, to)`: indenting its
/// lines would change its value.
fn holds_multiline_string(node: Node, from: usize, to: usize) -> bool {
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        if n.end_byte() <= from || n.start_byte() >= to {
            continue;
        }
        if n.kind() == "string" && n.start_position().row != n.end_position().row {
            return true;
        }
        let mut cursor = n.walk();
        stack.extend(n.named_children(&mut cursor));
    }
    false
}
