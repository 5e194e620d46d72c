//! The scan's output: a text table per verdict, JSON, and a progress line
//! on a terminal when the run is long.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{Benefit, Judged, Scanned, Verdict};

/// Longest key shown in the table; JSON has it whole.
const KEY_CHARS: usize = 48;
/// Longest reason shown in the table.
const REASON_CHARS: usize = 160;

pub(crate) fn json(scanned: &Scanned, out: &mut dyn Write) {
    let count = |v: Verdict| scanned.judged.iter().filter(|j| j.verdict == v).count();
    let doc = serde_json::json!({
        "results": scanned.judged,
        "skipped": scanned.skipped,
        "summary": {
            "files": scanned.files,
            "functions": scanned.judged.len(),
            "worth": count(Verdict::Worth),
            "trivial": count(Verdict::Trivial),
            "review": count(Verdict::Review),
            "unsafe": count(Verdict::Unsafe),
            "cached": count(Verdict::Cached),
        },
    });
    let _ = writeln!(
        out,
        "{}",
        serde_json::to_string_pretty(&doc).expect("values serialise")
    );
}

pub(crate) fn text(scanned: &Scanned, paths: &[PathBuf], out: &mut dyn Write, err: &mut dyn Write) {
    for s in &scanned.skipped {
        let _ = writeln!(err, "warning: {}: not scanned: {}", s.path, s.message);
    }
    for verdict in [
        Verdict::Worth,
        Verdict::Review,
        Verdict::Unsafe,
        Verdict::Cached,
        Verdict::Trivial,
    ] {
        let group: Vec<&Judged> = scanned
            .judged
            .iter()
            .filter(|j| j.verdict == verdict)
            .collect();
        if group.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{} ({})", heading(verdict), group.len());
        let rows: Vec<Vec<String>> = group.iter().map(|j| row(j)).collect();
        table(&rows, out);
        let _ = writeln!(out);
    }
    let count = |v: Verdict| scanned.judged.iter().filter(|j| j.verdict == v).count();
    let _ = writeln!(
        out,
        "{} files, {} async functions: {} worth caching, {} to review, {} refused, {} already cached, {} not worth it",
        scanned.files,
        scanned.judged.len(),
        count(Verdict::Worth),
        count(Verdict::Review),
        count(Verdict::Unsafe),
        count(Verdict::Cached),
        count(Verdict::Trivial),
    );
    if count(Verdict::Worth) > 0 {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        let _ = writeln!(
            out,
            "cache the worth-caching ones: cashews-add scan {} --apply (--diff to see it first)",
            shown.join(" ")
        );
    }
}

fn heading(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Worth => "worth caching, best first",
        Verdict::Review => "needs review before caching",
        Verdict::Unsafe => "refused: unsafe to cache, or a shape cashews cannot cache",
        Verdict::Cached => "already cached",
        Verdict::Trivial => "safe but not worth caching (no I/O per call)",
    }
}

fn row(j: &Judged) -> Vec<String> {
    let r = &j.result;
    let mut reason = j.reason.clone();
    for f in &j.findings {
        reason.push_str(&format!("; {} line {}: {}", f.code, f.line, f.message));
    }
    match j.verdict {
        Verdict::Worth | Verdict::Trivial => j
            .rank
            .map(|r| r.to_string())
            .into_iter()
            .chain([
                r.target.clone(),
                r.decision
                    .as_ref()
                    .map(|d| d.strategy.as_str().to_string())
                    .unwrap_or_default(),
                r.ttl.clone().unwrap_or_default(),
                r.key
                    .as_ref()
                    .map(|k| cut(&k.template, KEY_CHARS))
                    .unwrap_or_default(),
                cut(&reason, REASON_CHARS),
            ])
            .collect(),
        _ => vec![r.target.clone(), cut(&reason, REASON_CHARS)],
    }
}

/// Columns padded to their widest cell; the last one is never padded.
fn table(rows: &[Vec<String>], out: &mut dyn Write) {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let mut line = String::from(" ");
        for (c, cell) in r.iter().enumerate() {
            line.push(' ');
            if c + 1 == columns {
                line.push_str(cell);
            } else {
                let pad = widths[c] - cell.chars().count();
                line.push_str(cell);
                line.push_str(&" ".repeat(pad + 1));
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// "2 DB reads, 1 awaited call (line 14 `…`); GET route; 3 callers", or
/// why it is not worth caching.
pub(crate) fn work_summary(b: &Benefit) -> String {
    let Some(first) = b.work.first() else {
        return "no I/O per call (no read, no awaited call, no heavy loop): a cache round trip costs about what the call does (anti-pattern 5)".to_string();
    };
    let mut kinds: Vec<(&str, usize)> = Vec::new();
    for w in &b.work {
        match kinds.iter_mut().find(|(k, _)| *k == w.kind) {
            Some((_, n)) => *n += 1,
            None => kinds.push((w.kind, 1)),
        }
    }
    let parts: Vec<String> = kinds
        .iter()
        .map(|(k, n)| {
            let (one, many) = label(k);
            format!("{n} {}", if *n == 1 { one } else { many })
        })
        .collect();
    let mut out = format!(
        "{} (line {} `{}`{})",
        parts.join(", "),
        first.line,
        first.code,
        first.via
    );
    if let Some(entry) = b.entry {
        out.push_str(&format!("; {entry}"));
    }
    if b.callers > 0 {
        let s = if b.callers == 1 { "" } else { "s" };
        out.push_str(&format!("; {} call site{s} by name", b.callers));
    }
    out
}

fn label(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "db_read" => ("DB read", "DB reads"),
        "http_read" => ("HTTP read", "HTTP reads"),
        "file_read" => ("file read", "file reads"),
        "awaited_call" => ("awaited call", "awaited calls"),
        "async_stream" => ("async stream", "async streams"),
        _ => ("heavy loop", "heavy loops"),
    }
}

/// Files done, on stderr, once the run has taken a second and only when
/// stderr is a terminal: pipes, CI logs and tests see nothing.
pub(crate) struct Progress {
    bar: Option<indicatif::ProgressBar>,
    started: Instant,
}

const QUIET_FOR: Duration = Duration::from_secs(1);

impl Progress {
    pub(crate) fn new() -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::with_draw_target(
                None,
                indicatif::ProgressDrawTarget::hidden(),
            );
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} scanned {pos} files {msg}")
                    .expect("a valid template"),
            );
            bar
        });
        Progress {
            bar,
            started: Instant::now(),
        }
    }

    pub(crate) fn tick(&self, path: &Path) {
        let Some(bar) = &self.bar else { return };
        if bar.is_hidden() && self.started.elapsed() > QUIET_FOR {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(8));
        }
        bar.inc(1);
        if !bar.is_hidden() {
            let name = path
                .file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned());
            bar.set_message(name);
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
