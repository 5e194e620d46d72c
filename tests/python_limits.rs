//! Input Python itself refuses is refused (issue 17, item 8), with Python's
//! own referee: every case is compiled by `python3` too, and the tool must
//! refuse exactly what Python refuses (exit 2, one line, nothing written).

mod common;

use common::{code, python, python_rejects, run, stderr};

const F: &str = "async def f():\n    return 1\n";

fn nested_ifs(n: usize) -> Vec<u8> {
    let mut text = F.to_string();
    for i in 0..n {
        text.push_str(&format!("{}if x:\n", "    ".repeat(i)));
    }
    text.push_str(&format!("{}pass\n", "    ".repeat(n)));
    text.into_bytes()
}

fn nested_parens(n: usize) -> Vec<u8> {
    format!("{F}x = {}1{}\n", "(".repeat(n), ")".repeat(n)).into_bytes()
}

fn with_coding(prefix: &[u8], line: &str) -> Vec<u8> {
    let mut bytes = prefix.to_vec();
    bytes.extend_from_slice(line.as_bytes());
    bytes.extend_from_slice(F.as_bytes());
    bytes
}

#[test]
fn what_python_refuses_is_refused_with_its_reason() {
    const BOM: &[u8] = b"\xef\xbb\xbf";
    let cases: Vec<(&str, Vec<u8>, Option<&str>)> = vec![
        ("ifs_99.py", nested_ifs(99), None),
        (
            "ifs_100.py",
            nested_ifs(100),
            Some("too many levels of indentation"),
        ),
        ("parens_200.py", nested_parens(200), None),
        (
            "parens_201.py",
            nested_parens(201),
            Some("too many nested parentheses"),
        ),
        (
            "parens_5000.py",
            nested_parens(5000),
            Some("too many nested parentheses"),
        ),
        (
            "mixed_201.py",
            format!("{F}x = {}1{}\n", "[{(".repeat(67), ")}]".repeat(67)).into_bytes(),
            Some("too many nested parentheses"),
        ),
        (
            "klingon.py",
            with_coding(b"", "# coding: klingon\n"),
            Some("unknown encoding: klingon"),
        ),
        (
            "klingon_line2.py",
            with_coding(b"", "#!/usr/bin/env python\n# -*- coding: klingon -*-\n"),
            Some("unknown encoding: klingon"),
        ),
        // Below code on line 1, or on line 3, it is no declaration.
        (
            "klingon_late.py",
            with_coding(b"", "x = 1\n# coding: klingon\n"),
            None,
        ),
        (
            "rot13.py",
            with_coding(b"", "# coding: rot13\n"),
            Some("is not a text encoding"),
        ),
        (
            "utf16.py",
            with_coding(b"", "# coding: utf-16\n"),
            Some("does not read ASCII as ASCII"),
        ),
        ("cp1252.py", with_coding(b"", "# coding: cp1252\n"), None),
        (
            "latin1_foo.py",
            with_coding(b"", "# coding: latin-1-foo\n"),
            None,
        ),
        (
            "bom_latin1.py",
            with_coding(BOM, "# coding: latin-1\n"),
            Some("encoding problem: iso-8859-1 with BOM"),
        ),
        (
            "bom_utf8_short.py",
            with_coding(BOM, "# coding: utf8\n"),
            Some("encoding problem: utf8 with BOM"),
        ),
        ("bom_utf8.py", with_coding(BOM, "# coding: UTF_8\n"), None),
    ];
    let dir = common::project(&[]);
    let paths: Vec<_> = cases
        .iter()
        .map(|(name, bytes, _)| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        })
        .collect();
    let rejected = python_rejects(&python(), &paths);
    for (name, bytes, refusal) in &cases {
        let by_python = rejected.iter().any(|r| r.contains(&format!("/{name}: ")));
        assert_eq!(
            by_python,
            refusal.is_some(),
            "{name}: Python disagrees: {rejected:?}"
        );
        let target = format!("{name}::f");
        let out = run(dir.path(), &[&target, "--write", "--no-setup"]);
        let err = stderr(&out);
        match refusal {
            Some(reason) => {
                assert_eq!(code(&out), 2, "{name}: {err}");
                assert!(err.contains(reason), "{name}: {err}");
                assert_eq!(err.lines().count(), 1, "{name}: {err}");
                assert_eq!(
                    &std::fs::read(dir.path().join(name)).unwrap(),
                    bytes,
                    "{name}"
                );
            }
            None => assert_eq!(code(&out), 0, "{name}: {err}"),
        }
    }
}

#[test]
fn the_lint_does_not_read_what_python_cannot() {
    let text = "# coding: klingon\nfrom cashews import cache\n\n\n@cache(ttl=\"1h\")\nasync def f(x):\n    return x\n";
    let dir = common::project(&[("k.py", text)]);
    let out = run(dir.path(), &["lint", "k.py"]);
    assert_eq!(code(&out), 1);
    let all = format!("{}{}", common::stdout(&out), stderr(&out));
    assert!(
        all.contains("k.py:1:1") && all.contains("unknown encoding: klingon"),
        "{all}"
    );
}
