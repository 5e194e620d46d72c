//! Every fixture in fixtures/rewrite: the diff is snapshotted, the written
//! file parses (Python's `ast` is the referee), only lines are added, and a
//! second run changes nothing.

mod common;

use common::*;

/// The targets and extra arguments a fixture declares in `# targets:` / `# args:` comments.
fn header(text: &str, key: &str) -> Vec<String> {
    let prefix = format!("# {key}:");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|rest| {
            rest.split([',', ' '])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn rewrite_fixtures() {
    let mut names: Vec<_> = std::fs::read_dir(fixture_dir("rewrite"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "py"))
        .collect();
    names.sort();
    assert!(names.len() >= 20, "fixtures missing");
    for path in names {
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let dir = project(&[(&name, &text)]);
        // A project root without manifest tables: these snapshots are about the
        // code edit; setup and dependency have their own tests (tests/e2e.rs).
        std::fs::write(dir.path().join("pyproject.toml"), "# fixture root\n").unwrap();
        let mut args: Vec<String> = header(&text, "targets")
            .iter()
            .map(|t| format!("{name}::{t}"))
            .collect();
        assert!(!args.is_empty(), "{name} declares no # targets:");
        args.extend(header(&text, "args"));
        args.push("--no-setup".to_string());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();

        let first = run(dir.path(), &args);
        let shown = format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            code(&first),
            stdout(&first),
            stderr(&first)
        );
        insta::assert_snapshot!(name.trim_end_matches(".py").to_string(), shown);
        assert_ne!(code(&first), 2, "{name}: {shown}");

        let file = dir.path().join(&name);
        let mut write_args = args.clone();
        write_args.push("--write");
        let wrote = run(dir.path(), &write_args);
        assert_eq!(
            code(&wrote),
            code(&first),
            "{name}: --write exits like the dry run"
        );
        let new = std::fs::read_to_string(&file).unwrap();
        python_parses(&file)
            .unwrap_or_else(|e| panic!("{name}: written file does not parse: {e}\n{new}"));
        only_adds_lines(text.as_bytes(), new.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            stdout(&first).is_empty(),
            new == text,
            "{name}: the diff shows exactly what is written"
        );

        let second = run(dir.path(), &write_args);
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            new,
            "{name}: a second run changed the file"
        );
        assert!(
            !stderr(&second).contains(": changed:"),
            "{name}: second run: {}",
            stderr(&second)
        );
        let check_args: Vec<&str> = args.iter().copied().chain(["--check"]).collect();
        let check = run(dir.path(), &check_args);
        assert_eq!(
            code(&check),
            if stderr(&check).contains(": refused:") || stderr(&check).contains(": review:") {
                1
            } else {
                0
            },
            "{name}: --check after --write"
        );
    }
}
