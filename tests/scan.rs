//! `cashews-add scan`: every verdict on a fixture project, the ranking, the
//! JSON, `--only`/`--top`, `--apply` composing with setup and dependency,
//! and bad input.

mod common;

use std::path::{Path, PathBuf};

use common::{code, copy_dir, fixture_dir, python_parses, run, stderr, stdout};
use serde_json::Value;

/// A fresh copy of fixtures/scan/library, its own project.
fn library() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("library");
    copy_dir(&fixture_dir("scan").join("library"), &dir);
    (tmp, dir)
}

fn scan_json(dir: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["scan", "--format", "json", "."];
    args.extend(extra);
    let out = run(dir, &args);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn verdicts(doc: &Value) -> Vec<(String, String)> {
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["target"].as_str().unwrap().to_string(),
                r["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn every_verdict_on_the_fixture_project() {
    let (_tmp, dir) = library();
    let doc = scan_json(&dir, &[]);
    let got = verdicts(&doc);
    let want = [
        ("app/books.py::read_book", "worth"),
        ("app/loans.py::shelf_page", "worth"),
        ("app/loans.py::isbn_details", "worth"),
        ("app/books.py::titles_on_shelf", "worth"),
        ("app/loans.py::is_overdue", "review"),
        ("app/loans.py::loan_limit.<locals>.limit_for", "review"),
        ("app/books.py::rename_book", "unsafe"),
        ("app/models.py::open_session", "unsafe"),
        ("app/loans.py::loans_of", "cached"),
        ("app/books.py::shelf_label", "trivial"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(t, v)| (t.to_string(), v.to_string()))
        .collect();
    assert_eq!(got, want);
    // Test files and stubs are not judged.
    assert!(
        got.iter()
            .all(|(t, _)| !t.contains("tests/") && !t.contains(".pyi"))
    );
    assert_eq!(doc["summary"]["files"], 5);
}

#[test]
fn routes_reading_the_database_rank_above_helpers() {
    let (_tmp, dir) = library();
    let doc = scan_json(&dir, &["--only", "worth"]);
    let results = doc["results"].as_array().unwrap();
    let ranks: Vec<(&str, u64, u64)> = results
        .iter()
        .map(|r| {
            (
                r["target"].as_str().unwrap(),
                r["rank"].as_u64().unwrap(),
                r["benefit"]["score"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(ranks[0].0, "app/books.py::read_book");
    assert_eq!(ranks.iter().map(|r| r.1).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert!(ranks.windows(2).all(|w| w[0].2 >= w[1].2), "{ranks:?}");
    let first = &results[0]["benefit"];
    assert_eq!(first["entry"], "GET route");
    assert_eq!(first["work"][0]["kind"], "db_read");
    // A read two modules away is shown at the call, with its chain.
    let page = &results[1];
    assert_eq!(page["target"], "app/loans.py::shelf_page");
    let via = page["benefit"]["work"][0]["via"].as_str().unwrap();
    assert!(via.contains("app/books.py:19"), "{via}");
    // The trivial helper is not listed as worth caching, and says why.
    let all = scan_json(&dir, &["--only", "trivial"]);
    let reason = all["results"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("anti-pattern 5"), "{reason}");
}

#[test]
fn results_are_the_rewrites_own() {
    let (_tmp, dir) = library();
    let doc = scan_json(&dir, &[]);
    fn status_of(verdict: &str) -> &str {
        match verdict {
            "worth" | "trivial" => "changed",
            "cached" => "unchanged",
            "unsafe" => "refused",
            other => other,
        }
    }
    for r in doc["results"].as_array().unwrap() {
        let target = r["target"].as_str().unwrap();
        // The scan judges without the writer search: tags come with --apply.
        let out = run(
            &dir,
            &[target, "--format", "json", "--no-setup", "--no-invalidate"],
        );
        let rewrite: Value = serde_json::from_slice(&out.stdout).unwrap();
        let one = &rewrite["results"][0];
        assert_eq!(
            one["status"],
            status_of(r["verdict"].as_str().unwrap()),
            "{target}"
        );
        assert_eq!(r["status"], one["status"], "{target}");
        assert_eq!(r["key"], one["key"], "{target}");
        assert_eq!(r["decorators"], one["decorators"], "{target}");
    }
}

#[test]
fn cached_functions_carry_their_lint_findings() {
    let (_tmp, dir) = library();
    let doc = scan_json(&dir, &["--only", "cached"]);
    let cached = &doc["results"][0];
    assert_eq!(cached["target"], "app/loans.py::loans_of");
    assert_eq!(cached["findings"][0]["code"], "CA101");
}

#[test]
fn top_keeps_the_best_and_the_text_table_groups_by_verdict() {
    let (_tmp, dir) = library();
    let doc = scan_json(&dir, &["--top", "2"]);
    let worth: Vec<_> = verdicts(&doc)
        .into_iter()
        .filter(|(_, v)| v == "worth")
        .collect();
    assert_eq!(worth.len(), 2);
    let out = run(&dir, &["scan", "."]);
    assert_eq!(code(&out), 0);
    let text = stdout(&out);
    let order: Vec<usize> = [
        "worth caching",
        "needs review",
        "refused",
        "already cached",
        "not worth caching",
    ]
    .iter()
    .map(|h| text.find(h).unwrap_or_else(|| panic!("{h} in {text}")))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert!(
        text.contains("10 async functions: 4 worth caching"),
        "{text}"
    );
    // No progress line when stderr is not a terminal.
    assert_eq!(stderr(&out), "");
}

#[test]
fn apply_caches_the_worth_ones_with_one_setup_and_one_dependency() {
    let (_tmp, dir) = library();
    let out = run(&dir, &["scan", ".", "--apply", "--diff"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let diff = stdout(&out);
    // One setup in the app's lifespan; the project's tests get a fresh
    // in-memory cache in their conftest.py.
    assert_eq!(diff.matches("+    cache.setup(\n").count(), 1, "{diff}");
    assert!(diff.contains("+++ b/tests/conftest.py"), "{diff}");
    assert_eq!(
        diff.matches("+    \"cashews[diskcache]>=").count(),
        1,
        "{diff}"
    );
    // failover stacks over a short plain cache.
    assert_eq!(diff.matches("+@cache(").count(), 4, "{diff}");
    assert_eq!(diff.matches("+@cache.failover").count(), 1, "{diff}");
    assert!(!diff.contains("key=\"app.books:shelf_label"), "{diff}");
    // --diff wrote nothing.
    assert!(
        !std::fs::read_to_string(dir.join("app/books.py"))
            .unwrap()
            .contains("@cache")
    );

    let out = run(&dir, &["scan", ".", "--apply"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    for file in ["app/books.py", "app/loans.py", "app/main.py"] {
        python_parses(&dir.join(file)).unwrap();
    }
    let pyproject = std::fs::read_to_string(dir.join("pyproject.toml")).unwrap();
    assert!(pyproject.contains("cashews[diskcache]"), "{pyproject}");
    // Now they are cached: a second apply finds nothing to do.
    let doc = scan_json(&dir, &[]);
    let cached = verdicts(&doc).iter().filter(|(_, v)| v == "cached").count();
    assert_eq!(cached, 5);
    let before = std::fs::read(dir.join("app/books.py")).unwrap();
    let out = run(&dir, &["scan", ".", "--apply"]);
    assert_eq!(code(&out), 0);
    assert!(
        stderr(&out).contains("nothing to apply"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(dir.join("app/books.py")).unwrap(), before);
}

#[test]
fn bad_input_exits_2_and_a_broken_file_in_a_walk_is_skipped() {
    let (_tmp, dir) = library();
    let out = run(&dir, &["scan", "nowhere"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("nowhere: no such file or folder"));
    std::fs::write(dir.join("app/broken.py"), "async def f(:\n    pass\n").unwrap();
    let out = run(&dir, &["scan", "app/broken.py"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("error: app/broken.py"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stderr(&out).lines().count(), 1);
    let doc = scan_json(&dir, &[]);
    assert_eq!(doc["skipped"][0]["path"], "app/broken.py");
    assert_eq!(verdicts(&doc).len(), 10);
    let out = run(&dir, &["scan", "--diff"]);
    assert_eq!(code(&out), 2, "--diff needs --apply");
}
