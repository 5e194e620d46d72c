//! The patterns met in real code, each a small project of our own under
//! `fixtures/patterns/`: every folder holds a `cases.tsv` of
//! `target  status  evidence` (a dry run on TARGET gives STATUS, and its
//! message holds EVIDENCE unless it is `-`). Nothing is written.

use std::path::Path;

use serde_json::Value;

mod common;

#[test]
fn real_world_patterns() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/patterns");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("cases.tsv").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 8, "pattern projects: {dirs:?}");
    let mut failures = Vec::new();
    let mut checked = 0;
    for dir in &dirs {
        let cases = std::fs::read_to_string(dir.join("cases.tsv")).unwrap();
        for line in cases.lines().skip(1).filter(|l| !l.trim().is_empty()) {
            let cols: Vec<&str> = line.split('\t').collect();
            let [target, status, evidence] = cols[..] else {
                panic!("{}: bad row {line:?}", dir.display());
            };
            let out = common::run(dir, &[target, "--no-setup", "--format", "json"]);
            let name = dir.file_name().unwrap().to_string_lossy();
            if common::code(&out) == 2 {
                failures.push(format!("{name} {target}: exit 2: {}", common::stderr(&out)));
                continue;
            }
            let report: Value = serde_json::from_str(&common::stdout(&out)).unwrap();
            let result = &report["results"][0];
            let message = result["message"].as_str().unwrap_or_default();
            let want_code = if status == "changed" { 0 } else { 1 };
            if result["status"] != status || common::code(&out) != want_code {
                failures.push(format!(
                    "{name} {target}: want {status}, got {} (exit {}): {message}",
                    result["status"],
                    common::code(&out)
                ));
            } else if evidence != "-" && !message.contains(evidence) {
                failures.push(format!("{name} {target}: no {evidence:?} in: {message}"));
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 40, "only {checked} cases");
}
