//! Edge cases, one behaviour per fixture in `fixtures/edge/`. Each runs the
//! binary on a temporary copy (`--write --force --no-setup`), and checks the
//! exit code, the exact output (`NAME.expected.py`; `UPDATE_EXPECT=1`
//! rewrites them), that every original byte is kept, that Python's own `ast`
//! parses the result, and that a second identical run changes nothing.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::{code, only_adds_lines, python, python_rejects, repo, run, statuses, stderr};

/// A temporary project (it has a pyproject.toml, so module names are file stems).
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::write(
        dir.path().join("pyproject.toml"),
        "[project]\nname = \"edge\"\n",
    )
    .unwrap();
    dir
}

fn fixture(name: &str) -> PathBuf {
    repo().join("fixtures/edge").join(name)
}

fn copy_fixture(dir: &Path, name: &str) -> Vec<u8> {
    let bytes = fs::read(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    fs::write(dir.join(name), &bytes).unwrap();
    bytes
}

fn target_args(file: &str, functions: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["--write", "--force", "--no-setup", "--format", "json"]
        .map(String::from)
        .to_vec();
    args.extend(functions.iter().map(|f| format!("{file}::{f}")));
    args
}

fn run_args(dir: &Path, args: &[String]) -> std::process::Output {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run(dir, &refs)
}

/// Compares with the golden file, or writes it under UPDATE_EXPECT=1.
fn assert_golden(name: &str, got: &[u8]) {
    let golden = fixture(&name.replace(".py", ".expected.py"));
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        fs::write(&golden, got).unwrap();
        return;
    }
    let want = fs::read(&golden).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (UPDATE_EXPECT=1 writes it)\ngot:\n{}",
            golden.display(),
            String::from_utf8_lossy(got)
        )
    });
    assert!(
        got == want.as_slice(),
        "{name}: output differs from {}\n--- got ---\n{:?}\n--- want ---\n{:?}",
        golden.display(),
        String::from_utf8_lossy(got),
        String::from_utf8_lossy(&want)
    );
}

/// The whole check for a fixture that gets edited: exit 0, golden output,
/// original bytes kept, Python parses it, second run unchanged.
fn edits(name: &str, functions: &[&str]) {
    let all_changed = vec!["changed"; functions.len()];
    edits_some(name, functions, &all_changed);
}

/// `edits` where some targets are refused (exit 1) and the others still edited.
fn edits_some(name: &str, functions: &[&str], want: &[&str]) {
    let dir = project();
    let before = copy_fixture(dir.path(), name);
    let args = target_args(name, functions);
    let first = run_args(dir.path(), &args);
    let exit = if want.contains(&"refused") { 1 } else { 0 };
    assert_eq!(code(&first), exit, "{name}: {}", stderr(&first));
    assert_eq!(statuses(&first), want, "{name}: {}", stderr(&first));
    let after = fs::read(dir.path().join(name)).unwrap();
    assert_golden(name, &after);
    only_adds_lines(&before, &after).unwrap_or_else(|e| panic!("{name}: {e}"));
    let rejected = python_rejects(&python(), &[dir.path().join(name)]);
    assert!(rejected.is_empty(), "{rejected:?}");
    let second = run_args(dir.path(), &args);
    assert_eq!(code(&second), exit, "{name}: {}", stderr(&second));
    let again: Vec<&str> = want
        .iter()
        .map(|s| if *s == "changed" { "unchanged" } else { s })
        .collect();
    assert_eq!(statuses(&second), again, "{name}: second run");
    assert_eq!(
        fs::read(dir.path().join(name)).unwrap(),
        after,
        "{name}: second run changed bytes"
    );
}

/// A fixture the tool must not touch: the exit code, a message, the same bytes.
fn untouched(name: &str, functions: &[&str], exit: i32, message: &str) {
    let dir = project();
    let before = copy_fixture(dir.path(), name);
    let out = run_args(dir.path(), &target_args(name, functions));
    assert_eq!(code(&out), exit, "{name}: {}", stderr(&out));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(text.contains(message), "{name}: no {message:?} in:\n{text}");
    assert_eq!(fs::read(dir.path().join(name)).unwrap(), before, "{name}");
}

#[test]
fn decorators_spanning_several_lines() {
    edits("decorators_multiline.py", &["read_item"]);
}

#[test]
fn comments_and_blank_lines_between_decorators_and_def() {
    // `traced` is a sync def: refused (exit 1) while `load` is still edited.
    edits_some(
        "decorators_comments_blank_lines.py",
        &["traced", "load"],
        &["refused", "changed"],
    );
}

/// `-> list["A"] or "A"` and `tags: list[str] or None`: the grammar wraps
/// the `or` in an error node; the file is valid Python, so it is edited.
#[test]
fn boolean_annotations_after_a_generic_type() {
    edits("boolean_annotations.py", &["Shelf.count", "titles"]);
}

#[test]
fn one_line_async_def() {
    edits("one_line_def.py", &["answer", "Repo.get"]);
}

#[test]
fn functions_under_if_try_and_type_checking() {
    // `lookup` is defined twice; Python keeps the `else` one, and so does the tool.
    edits("conditional_defs.py", &["lookup", "parse"]);
}

#[test]
fn nested_classes() {
    edits(
        "nested_classes.py",
        &["Outer.Inner.find", "Outer.Inner.Deepest.find"],
    );
}

#[test]
fn tab_indentation() {
    edits("tabs.py", &["Store.get"]);
}

#[test]
fn mixed_crlf_and_lf_keep_each_line_ending() {
    edits("mixed_line_endings.py", &["first", "second"]);
}

#[test]
fn crlf_file() {
    edits("crlf.py", &["fetch"]);
}

#[test]
fn bom_is_kept() {
    edits("bom.py", &["fetch"]);
}

#[test]
fn no_final_newline() {
    edits("no_final_newline.py", &["fetch"]);
}

#[test]
fn only_a_one_line_def_without_newline() {
    edits("only_def_no_newline.py", &["fetch"]);
}

#[test]
fn coding_latin1_declaration_pure_ascii_is_edited() {
    edits("coding_latin1_ascii.py", &["fetch"]);
}

#[test]
fn coding_latin1_declaration_with_latin1_bytes_is_refused() {
    untouched(
        "coding_latin1_non_ascii.py",
        &["greet"],
        2,
        "declares encoding latin-1",
    );
}

#[test]
fn coding_latin1_declaration_with_non_ascii_text_is_refused() {
    untouched(
        "coding_latin1_utf8_bytes.py",
        &["greet"],
        2,
        "declares encoding latin-1 and has non-ASCII text",
    );
}

#[test]
fn backslash_continuations_in_the_signature() {
    edits("backslash_signature.py", &["fetch", "other"]);
}

#[test]
fn line_holding_only_a_backslash_is_bad_input() {
    // Valid Python, but tree-sitter loses the indentation after it (it reads
    // `Repo.put` as a module function), so the file is refused, not misread.
    untouched(
        "backslash_only_line_before_def.py",
        &["Repo.get"],
        2,
        "backslash_only_line_before_def.py:2: a line holding only `\\`",
    );
}

#[test]
fn form_feed_before_def() {
    edits("form_feed.py", &["first", "second", "third"]);
}

#[test]
fn bare_cr_line_endings_are_refused_with_a_hint() {
    untouched("lone_cr_line_endings.py", &["fetch"], 2, "bare CR");
}

#[test]
fn two_targets_merge_into_one_existing_import() {
    edits("same_import_block.py", &["get_user", "get_team"]);
}

#[test]
fn two_targets_add_one_import() {
    edits("two_targets_new_import.py", &["get_user", "get_team"]);
}

#[test]
fn sync_def_is_refused_never_decorated() {
    untouched("sync_def_refused.py", &["add"], 1, "is a sync def");
}

#[test]
fn very_deep_nesting() {
    // 98 nested `if`s (Python allows 100), 180 nested parentheses, a 1,500-link chain.
    edits("deep_nesting.py", &["deep"]);
}

#[test]
fn nesting_deeper_than_python_reads_is_bad_input_not_a_crash() {
    let dir = project();
    let text = format!("async def f(x):\n    return {}x\n", "-".repeat(20_000));
    fs::write(dir.path().join("deep.py"), &text).unwrap();
    let out = run(dir.path(), &["--write", "deep.py::f"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("levels deep"), "{}", stderr(&out));
    assert_eq!(
        fs::read_to_string(dir.path().join("deep.py")).unwrap(),
        text
    );
}

/// 100,000 lines, generated (not committed): targets at both ends.
#[test]
fn hundred_thousand_line_file() {
    let dir = project();
    let mut text = String::from("import asyncio\n\n");
    for i in 0..33_333 {
        text.push_str(&format!("async def f{i}(a):\n    return a + {i}\n\n"));
    }
    assert!(text.lines().count() >= 100_000);
    fs::write(dir.path().join("big.py"), &text).unwrap();
    let args = target_args("big.py", &["f0", "f33332"]);
    let started = std::time::Instant::now();
    let out = run_args(dir.path(), &args);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        started.elapsed().as_secs() < 60,
        "took {:?}",
        started.elapsed()
    );
    let after = fs::read(dir.path().join("big.py")).unwrap();
    only_adds_lines(text.as_bytes(), &after).unwrap();
    assert_eq!(after.len() - text.len(), {
        // Its own section block: one blank line below the stdlib's.
        let import = "\nfrom cashews import cache\n".len();
        let deco = |i: u32| format!("@cache(ttl=\"1h\", key=\"big:f{i}:{{a}}\")\n").len();
        import + deco(0) + deco(33_332)
    });
    let second = run_args(dir.path(), &args);
    assert_eq!(statuses(&second), ["unchanged", "unchanged"]);
    assert_eq!(fs::read(dir.path().join("big.py")).unwrap(), after);
}

#[test]
fn symlinked_file_edits_the_target_and_keeps_the_link() {
    let dir = project();
    copy_fixture(dir.path(), "crlf.py");
    fs::create_dir(dir.path().join("real")).unwrap();
    fs::rename(dir.path().join("crlf.py"), dir.path().join("real/crlf.py")).unwrap();
    std::os::unix::fs::symlink("real/crlf.py", dir.path().join("crlf.py")).unwrap();
    let out = run_args(dir.path(), &target_args("crlf.py", &["fetch"]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let link = dir.path().join("crlf.py");
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read_link(&link).unwrap(), PathBuf::from("real/crlf.py"));
    // Same output as the plain fixture (the key uses the name the user gave).
    assert_golden(
        "crlf.py",
        &fs::read(dir.path().join("real/crlf.py")).unwrap(),
    );
    let leftovers: Vec<_> = fs::read_dir(dir.path().join("real"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["crlf.py"], "no temporary file left behind");
}

#[test]
fn read_only_file_is_bad_input_and_untouched() {
    let dir = project();
    let before = copy_fixture(dir.path(), "crlf.py");
    let path = dir.path().join("crlf.py");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o444)).unwrap();
    let out = run_args(dir.path(), &target_args("crlf.py", &["fetch"]));
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("crlf.py: read-only file; nothing written"),
        "{}",
        stderr(&out)
    );
    assert_eq!(fs::read(&path).unwrap(), before);
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o444
    );
}
