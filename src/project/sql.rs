//! Tables named in SQL text: what a read and a write of raw SQL share.

use std::sync::LazyLock;

use regex::Regex;

/// `SELECT … FROM users JOIN orders`, `INSERT INTO users`, `UPDATE users`:
/// every table, lower-cased, in order, each once.
pub(crate) fn tables(sql: &str) -> Vec<String> {
    static TABLE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"(?i)\b(?:from|join|into|update)\s+[`"\[]?([A-Za-z_]\w*)"#)
            .expect("a valid regex")
    });
    unique(TABLE.captures_iter(sql).map(|c| c[1].to_lowercase()))
}

/// The tables a statement inserts into, updates or deletes from.
pub(crate) fn written_tables(sql: &str) -> Vec<String> {
    static WRITTEN: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"(?i)\b(?:insert\s+into|update|delete\s+from|merge\s+into|replace\s+into)\s+[`"\[]?([A-Za-z_]\w*)"#)
            .expect("a valid regex")
    });
    unique(WRITTEN.captures_iter(sql).map(|c| c[1].to_lowercase()))
}

/// Whether the statement inserts, updates or deletes.
pub(crate) fn writes(sql: &str) -> bool {
    !written_tables(sql).is_empty()
}

/// Each once, in order; `ON CONFLICT DO UPDATE SET` names no table.
fn unique(found: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in found {
        if t != "set" && !out.contains(&t) {
            out.push(t);
        }
    }
    out
}
