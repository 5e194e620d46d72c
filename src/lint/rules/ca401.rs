//! CA401: a `disk:///path` setup URL.

use tree_sitter::Node;

use crate::edit::Edit;
use crate::function::dotted_name;
use crate::lint::literal;
use crate::lint::rules::ca402::setup_calls;
use crate::lint::rules::{Checker, Rule};
use crate::source::line_of;

declare_rule! {
    /// ## What it does
    /// Finds a `disk://` setup URL with a path or a host, such as
    /// `cache.setup("disk:///var/cache/app")`, also as the default of
    /// `os.environ.get(...)` / `os.getenv(...)` or in a module-level
    /// variable passed to `setup`.
    ///
    /// ## Why is this bad?
    /// cashews passes only the URL's query to the disk backend: the host and
    /// the path are thrown away, and `diskcache` makes a random folder under
    /// `/tmp`. The cache is neither persistent nor shared between workers,
    /// and the folder named in the URL is never created.
    ///
    /// ## Example
    /// ```python
    /// cache.setup("disk:///var/cache/app?shards=0")
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// cache.setup("disk://?directory=/var/cache/app&shards=0")
    /// ```
    ///
    /// ## Fix
    /// Safe (applied by `--fix`): the keys stay the same, only the folder
    /// becomes the one the URL names.
    /// `--fix` rewrites `disk:///path` to `disk://?directory=/path`, keeping
    /// the query. A `disk://host/...` URL and f-strings are reported
    /// without a fix. Put `# noqa: CA401` on the line of the URL to keep it.
    pub(crate) const DOC;
}

pub(crate) fn check(ck: &mut Checker) {
    let module = ck.module;
    let src = module.src;
    let mut found = Vec::new();
    for call in setup_calls(module, ck.index.cashews(module)) {
        if call.directory_keyword {
            continue; // `setup("disk://…", directory=…)`: the keyword wins
        }
        let Some(url) = call.url else {
            continue;
        };
        let mut strings = Vec::new();
        url_strings(ck, url, 0, &mut strings);
        for node in strings {
            if let Some(f) = disk_url(src, node) {
                found.push(f);
            }
        }
    }
    for (node, message, fix) in found {
        let noqa = line_of(node)..=node.end_position().row + 1;
        ck.report(Rule::CA401, node, &noqa, message, fix);
    }
}

type Found<'t> = (Node<'t>, String, Option<Vec<Edit>>);

fn disk_url<'t>(src: &crate::source::SourceFile, node: Node<'t>) -> Option<Found<'t>> {
    let parsed = literal::string(src, node);
    // An f-string is judged by its text up to the first interpolation.
    let (value, shown) = match &parsed {
        Some(s) => (s.value.clone(), format!("{:?}", s.value)),
        None if node.kind() == "string" => {
            let mut cursor = node.walk();
            let children: Vec<Node> = node.children(&mut cursor).collect();
            let head: String = children
                .iter()
                .skip(1)
                .take_while(|c| c.kind() == "string_content")
                .map(|c| src.text_of(*c))
                .collect();
            (head, src.text_of(node).to_string())
        }
        None => return None,
    };
    let rest = value
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case("disk://"))
        .map(|_| &value[7..])?;
    let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
    if location.is_empty() {
        return None;
    }
    let suggestion = (parsed.is_some()
        && location.starts_with('/')
        && !query.contains("directory="))
    .then(|| {
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("&{query}")
        };
        format!("disk://?directory={location}{query}")
    });
    let what = if location.starts_with('/') {
        "the path"
    } else {
        "the host and path"
    };
    let instead = suggestion.clone().unwrap_or_else(|| {
        "disk://?directory=/path (or setup(\"disk://\", directory=\"/path\"))".to_string()
    });
    let message = format!(
        "setup URL {shown}: cashews ignores {what} of a disk:// URL and caches in a random temporary folder; use {instead}"
    );
    let fix = match (&parsed, suggestion) {
        (Some(s), Some(new)) => s
            .verbatim_at
            .map(|at| vec![Edit::replace(at, at + s.value.len(), new)]),
        _ => None,
    };
    Some((node, message, fix))
}

/// The string literals a setup URL expression can evaluate to.
fn url_strings<'t>(ck: &Checker<'_, 't>, node: Node<'t>, depth: usize, out: &mut Vec<Node<'t>>) {
    if depth > 3 {
        return;
    }
    let module = ck.module;
    let src = module.src;
    match node.kind() {
        "string" | "concatenated_string" => out.push(node),
        "parenthesized_expression" => {
            if let Some(inner) = node.named_child(0) {
                url_strings(ck, inner, depth + 1, out);
            }
        }
        "boolean_operator" => {
            for side in ["left", "right"] {
                if let Some(n) = node.child_by_field_name(side) {
                    url_strings(ck, n, depth + 1, out);
                }
            }
        }
        "conditional_expression" => {
            let count = node.named_child_count();
            for i in [0, count.saturating_sub(1)] {
                if let Some(n) = node.named_child(i) {
                    url_strings(ck, n, depth + 1, out);
                }
            }
        }
        "identifier" => {
            if let Some(value) = module.variables.get(src.text_of(node)) {
                url_strings(ck, *value, depth + 1, out);
            }
        }
        "call" => {
            let Some(name) = node
                .child_by_field_name("function")
                .and_then(|f| dotted_name(src, f))
            else {
                return;
            };
            let resolved = module.imports.resolve(&name);
            if !matches!(
                resolved.as_str(),
                "os.environ.get" | "os.getenv" | "os.environ.setdefault"
            ) {
                return;
            }
            let Some(args) = node.child_by_field_name("arguments") else {
                return;
            };
            let mut cursor = args.walk();
            let children: Vec<Node> = args.named_children(&mut cursor).collect();
            let default = children
                .iter()
                .find(|a| {
                    a.kind() == "keyword_argument"
                        && a.child_by_field_name("name")
                            .is_some_and(|n| src.text_of(n) == "default")
                })
                .and_then(|a| a.child_by_field_name("value"))
                .or_else(|| {
                    children
                        .iter()
                        .filter(|a| !matches!(a.kind(), "keyword_argument" | "comment"))
                        .nth(1)
                        .copied()
                });
            if let Some(d) = default {
                url_strings(ck, d, depth + 1, out);
            }
        }
        _ => {}
    }
}
