//! CA501: the project deletes a tag of a cached function that its
//! decorator never registers.

use std::path::PathBuf;

use tree_sitter::Node;

use crate::lint::literal;
use crate::lint::rules::{Cached, Checker, Rule, calls_named};
use crate::module::Module;
use crate::project::Index;

declare_rule! {
    /// ## What it does
    /// Finds a cached function whose entries the project means to evict by
    /// tag, with a tag its decorator never registers: somewhere in the
    /// project `cache.delete_tags(...)` deletes a tag that names the
    /// function (`"users:get_user:name={name}"` names `get_user`), and no
    /// tag in the function's `tags=[...]` can be that tag (a different
    /// prefix, a different field, or no `tags=` at all).
    ///
    /// The deleted tags are read from literals, f-strings (an
    /// interpolation matches anything) and lists passed as `*tags`; a tag
    /// names a function when one of its `:`-separated parts is the
    /// function's name.
    ///
    /// ## Why is this bad?
    /// cashews deletes the keys it recorded under exactly that tag. A tag
    /// no decorator registers has no keys, so the delete removes nothing:
    /// after the write, callers keep the stale value until the TTL ends, and
    /// the test that mocks `delete_tags` and checks the strings passes.
    ///
    /// ## Example
    /// ```python
    /// @cache(ttl="1h", tags=["get_user:name={name}"])
    /// async def get_user(name: str): ...
    ///
    /// async def on_user_changed(name: str):
    ///     await cache.delete_tags(f"users:get_user:name={name}")
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// @cache(ttl="1h", tags=["users:get_user:name={name}"])
    /// async def get_user(name: str): ...
    /// ```
    ///
    /// ## Fix
    /// Register the tag the writer deletes (or delete the tag the decorator
    /// registers). No automatic fix: which side is right needs a person.
    pub(crate) const DOC;
}

/// A tag some call in the project deletes.
#[derive(Debug, Clone)]
pub(crate) struct DeletedTag {
    /// The tag's text; `\u{0}` where an f-string interpolates.
    pattern: String,
    path: PathBuf,
    line: usize,
}

/// Deleted tags of the project, read once per project.
pub(crate) type DeletedTags = std::sync::OnceLock<Vec<DeletedTag>>;

const HOLE: char = '\u{0}';

fn deleted_tags<'i>(index: &'i Index) -> &'i [DeletedTag] {
    index.deleted_tags.get_or_init(|| {
        let files: Vec<PathBuf> = index
            .files()
            .iter()
            .filter(|p| {
                std::fs::read(p).is_ok_and(|b| memchr::memmem::find(&b, b"delete_tags(").is_some())
            })
            .cloned()
            .collect();
        index.preload(&files);
        let mut out = Vec::new();
        for path in &files {
            if let Some(module) = index.module(path) {
                collect(module, path, &mut out);
            }
        }
        out
    })
}

fn collect(module: &Module, path: &std::path::Path, out: &mut Vec<DeletedTag>) {
    let src = module.src;
    for call in calls_named(src, &["delete_tags"]) {
        let Some(args) = call.child_by_field_name("arguments") else {
            continue;
        };
        let mut cursor = args.walk();
        for a in args.named_children(&mut cursor) {
            let values: Vec<Node> = match a.kind() {
                "list_splat" => a
                    .named_child(0)
                    .filter(|n| n.kind() == "identifier")
                    .map(|n| list_values(src, call, src.text_of(n)))
                    .unwrap_or_default(),
                _ => vec![a],
            };
            for v in values {
                if let Some(pattern) = tag_pattern(src, v) {
                    out.push(DeletedTag {
                        pattern,
                        path: path.to_path_buf(),
                        line: crate::source::line_of(v),
                    });
                }
            }
        }
    }
}

/// The strings of every list literal assigned to `name` in the function
/// holding `call`.
fn list_values<'t>(src: &crate::source::SourceFile, call: Node<'t>, name: &str) -> Vec<Node<'t>> {
    let mut scope = call;
    while let Some(p) = scope.parent() {
        scope = p;
        if p.kind() == "function_definition" {
            break;
        }
    }
    let mut out = Vec::new();
    let mut stack = vec![scope];
    while let Some(n) = stack.pop() {
        if n.kind() == "assignment"
            && let (Some(left), Some(right)) = (
                n.child_by_field_name("left"),
                n.child_by_field_name("right"),
            )
            && left.kind() == "identifier"
            && src.text_of(left) == name
            && right.kind() == "list"
        {
            let mut cursor = right.walk();
            out.extend(right.named_children(&mut cursor));
            continue;
        }
        let mut cursor = n.walk();
        stack.extend(n.named_children(&mut cursor));
    }
    out
}

/// A literal or an f-string, each interpolation a hole.
fn tag_pattern(src: &crate::source::SourceFile, node: Node) -> Option<String> {
    let t = literal::template(src, node)?;
    Some(if t.editable {
        t.value
    } else {
        t.value.replace('…', &HOLE.to_string())
    })
}

/// Whether a registered tag template (placeholders match anything) can be
/// the deleted tag (holes match anything): either side, its wildcards
/// filled, matches the other as a pattern.
fn may_match(template: &str, deleted: &str) -> bool {
    let registered = template_holes(template);
    let matches = |pattern: &str, text: &str| {
        let re = pattern
            .split(HOLE)
            .map(regex::escape)
            .collect::<Vec<_>>()
            .join(".*");
        regex::Regex::new(&format!("^{re}$")).is_ok_and(|re| re.is_match(&text.replace(HOLE, "x")))
    };
    matches(&registered, deleted) || matches(deleted, &registered)
}

/// A template with each `{placeholder}` a hole.
fn template_holes(template: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in template.chars() {
        match c {
            '{' => {
                if depth == 0 {
                    out.push(HOLE);
                }
                depth += 1;
            }
            '}' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// The tags a decorator registers: None when they are not literals.
fn registered(ck: &Checker, deco: &crate::lint::rules::Deco) -> Option<Vec<String>> {
    let src = ck.src();
    let Some(tags) = deco.cashews.keyword(src, "tags") else {
        return (!deco.has_star_args()).then(Vec::new);
    };
    if !matches!(tags.kind(), "list" | "tuple") {
        return None;
    }
    let mut cursor = tags.walk();
    tags.named_children(&mut cursor)
        .filter(|t| t.kind() != "comment")
        .map(|t| literal::string(src, t).map(|s| s.value))
        .collect()
}

pub(crate) fn check<'t>(ck: &mut Checker<'_, 't>, c: &Cached<'t>) {
    if !ck.enabled(Rule::CA501) {
        return; // the project's delete calls are read on first use
    }
    let Some(deco) = c.caching().next() else {
        return;
    };
    let name = c.f.name.as_str();
    let naming: Vec<&DeletedTag> = deleted_tags(ck.index)
        .iter()
        .filter(|t| t.pattern.split(':').any(|part| part == name))
        .collect();
    if naming.is_empty() {
        return;
    }
    let Some(tags) = registered(ck, deco) else {
        return;
    };
    let Some(missed) = naming
        .iter()
        .find(|t| !tags.iter().any(|r| may_match(r, &t.pattern)))
    else {
        return;
    };
    let shown = missed.pattern.replace(HOLE, "…");
    let path = crate::lint::shown_path(&missed.path);
    let what = if tags.is_empty() {
        "registers no tags".to_string()
    } else {
        format!(
            "registers only {}",
            tags.iter()
                .map(|t| format!("{t:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let message = format!(
        "{path}:{} deletes tag {shown:?} for `{name}`, but its decorator {what}: the delete removes nothing and callers get stale values until the TTL ends",
        missed.line
    );
    ck.report(Rule::CA501, deco.node, &c.noqa, message, None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_match_through_placeholders_and_holes() {
        let hole = |s: &str| s.replace('…', &HOLE.to_string());
        assert!(may_match(
            "fasjson:search_users:username__exact={username__exact}",
            "fasjson:search_users:username__exact="
        ));
        assert!(may_match(
            "get_user:username={username}",
            &hole("get_user:username=…")
        ));
        assert!(!may_match(
            "get_user:username={username}",
            &hole("fasjson:get_user:username=…")
        ));
        assert!(may_match(
            "pagure:get_projects:username={username}:owner={owner}",
            "pagure:get_projects:username=:owner="
        ));
        assert!(!may_match("a:{x}", "b:1"));
        assert!(may_match("a:1", "a:1"));
        assert!(!may_match("a:1", "a:2"));
    }
}
