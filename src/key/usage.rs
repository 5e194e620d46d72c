//! How a function uses one of its parameters: the attributes it reads
//! (`user.username`, `ctx.author`, `request.path_params[slug]`), followed
//! into the project functions it passes the value to. A key then holds
//! exactly what the result depends on, not an object's `str()`.

use std::collections::BTreeSet;

use tree_sitter::Node;

use crate::function::Function;
use crate::module::Module;
use crate::project::Index;
use crate::purity::args::string_value;
use crate::purity::argument_target;
use crate::source::SourceFile;

/// How deep a value is followed into the functions it is passed to.
const MAX_DEPTH: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Usage {
    /// Never read.
    Unused,
    /// Read only through these attribute paths (`username`, `author.id`,
    /// `path_params[slug]`), and possibly by calling its methods.
    Fields(BTreeSet<String>),
    /// Read as a whole: returned, compared, formatted, passed to code the
    /// analysis cannot follow, or only through its own methods.
    Whole,
}

impl Usage {
    fn merge(self, other: Usage) -> Usage {
        match (self, other) {
            (Usage::Whole, _) | (_, Usage::Whole) => Usage::Whole,
            (Usage::Unused, u) | (u, Usage::Unused) => u,
            (Usage::Fields(mut a), Usage::Fields(b)) => {
                a.extend(b);
                Usage::Fields(a)
            }
        }
    }
}

/// How `f` uses its parameter `name`. A method called on the value itself
/// (`filters.get("page")`) may read anything of it: the value is then read
/// whole, unless it is a carrier (`ctx.send(...)`), whose methods act and
/// whose identity is what counts.
pub(crate) fn usage<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    f: &Function<'p>,
    name: &str,
) -> Usage {
    usage_at(index, module, f, name, 0, false)
}

/// `usage` for a carrier: its own methods are not reads.
pub(crate) fn carrier_usage<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    f: &Function<'p>,
    name: &str,
) -> Usage {
    usage_at(index, module, f, name, 0, true)
}

fn usage_at<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    f: &Function<'p>,
    name: &str,
    depth: usize,
    carrier: bool,
) -> Usage {
    let src = module.src;
    let mut out = Usage::Unused;
    for ident in &f.body.idents {
        if src.text_of(*ident) != name || !crate::source::is_load(*ident) {
            continue;
        }
        let chain = ancestors(f.site.node, *ident);
        let (top, path, called) = climb(src, &chain);
        let one = if !path.is_empty() {
            let field = if called {
                &path[..path.len() - 1]
            } else {
                &path[..]
            };
            if field.is_empty() && carrier {
                Usage::Fields(BTreeSet::new()) // only its methods: `ctx.send(...)`
            } else if field.is_empty() {
                Usage::Whole
            } else {
                Usage::Fields([field.join("").trim_start_matches('.').to_string()].into())
            }
        } else if only_tested(src, top) {
            Usage::Fields(BTreeSet::new())
        } else if let Some(call) = passed_to(top) {
            passed_on(index, module, f, call, top.node, depth, carrier)
        } else {
            Usage::Whole
        };
        out = out.merge(one);
        if out == Usage::Whole {
            break;
        }
    }
    out
}

/// The nodes from `within` down to `node`, `node` last. (`Node::parent`
/// walks down from the root each time: climbing a long chain with it is
/// quadratic; one walk down is linear.)
fn ancestors<'t>(within: Node<'t>, node: Node<'t>) -> Vec<Node<'t>> {
    let mut chain = vec![within];
    let mut current = within;
    while current.id() != node.id() {
        let Some(next) = current.child_with_descendant(node) else {
            break;
        };
        chain.push(next);
        current = next;
    }
    chain
}

/// From a name up through `.attr` and `[literal]`: the outermost node with
/// its parent, the path segments (`.attr`, `[key]`), and whether the last
/// one is called. `chain` ends with the name.
fn climb<'t>(src: &SourceFile, chain: &[Node<'t>]) -> (Top<'t>, Vec<String>, bool) {
    let mut at = chain.len() - 1;
    let mut path = Vec::new();
    while at > 0 {
        let (node, parent) = (chain[at], chain[at - 1]);
        match parent.kind() {
            "attribute"
                if parent
                    .child_by_field_name("object")
                    .is_some_and(|o| o.id() == node.id()) =>
            {
                let Some(attr) = parent.child_by_field_name("attribute") else {
                    break;
                };
                path.push(format!(".{}", src.text_of(attr)));
            }
            "subscript"
                if parent
                    .child_by_field_name("value")
                    .is_some_and(|v| v.id() == node.id()) =>
            {
                let Some(key) = parent.child_by_field_name("subscript").and_then(|k| {
                    string_value(src, k)
                        .or_else(|| (k.kind() == "integer").then(|| src.text_of(k).to_string()))
                }) else {
                    break;
                };
                path.push(format!("[{key}]"));
            }
            _ => break,
        }
        at -= 1;
    }
    let top = Top {
        node: chain[at],
        parent: at.checked_sub(1).map(|i| chain[i]),
        grandparent: at.checked_sub(2).map(|i| chain[i]),
    };
    let called = !path.is_empty()
        && top.parent.is_some_and(|p| {
            p.kind() == "call"
                && p.child_by_field_name("function")
                    .is_some_and(|c| c.id() == top.node.id())
        });
    (top, path, called)
}

/// The outermost node of a use, with the two nodes above it.
#[derive(Clone, Copy)]
struct Top<'t> {
    node: Node<'t>,
    parent: Option<Node<'t>>,
    grandparent: Option<Node<'t>>,
}

/// `if x:`, `x is None`, `not x`: only whether it is there, which its
/// fields' rendering covers (cashews renders `{user.id}` of None as "").
fn only_tested(src: &SourceFile, top: Top) -> bool {
    let (node, Some(parent)) = (top.node, top.parent) else {
        return false;
    };
    match parent.kind() {
        "not_operator" | "boolean_operator" => true,
        "comparison_operator" => src.text_of(parent).contains("None"),
        "if_statement" | "elif_clause" | "while_statement" => parent
            .child_by_field_name("condition")
            .is_some_and(|c| c.id() == node.id()),
        "conditional_expression" => parent.named_child(1).is_some_and(|c| c.id() == node.id()),
        _ => false,
    }
}

/// The call `top` is an argument (or a keyword argument's value) of.
fn passed_to(top: Top) -> Option<Node> {
    let parent = top.parent?;
    let list = match parent.kind() {
        "argument_list" => parent,
        "keyword_argument"
            if parent
                .child_by_field_name("value")
                .is_some_and(|v| v.id() == top.node.id()) =>
        {
            top.grandparent.filter(|p| p.kind() == "argument_list")?
        }
        _ => return None,
    };
    list.parent().filter(|c| c.kind() == "call")
}

/// How the function a value is passed to uses it.
fn passed_on<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    f: &Function<'p>,
    call: Node<'p>,
    arg: Node<'p>,
    depth: usize,
    carrier: bool,
) -> Usage {
    if depth >= MAX_DEPTH {
        return Usage::Whole;
    }
    let Some((def, param)) = argument_target(index, module, f, call, arg) else {
        return Usage::Whole;
    };
    let Some(callee_module) = index.module_of(module, &def.path) else {
        return Usage::Whole;
    };
    let Some(site) = callee_module.function(&def.qualname) else {
        return Usage::Whole;
    };
    let callee = Function::new(callee_module.src, site);
    match usage_at(index, callee_module, &callee, &param, depth + 1, carrier) {
        Usage::Unused => Usage::Fields(BTreeSet::new()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locate::find;

    fn used(files: &[(&str, &str)], rel: &str, target: &str, param: &str) -> Usage {
        crate::project::tests::with_project_module(files, rel, |index, module| {
            let f = Function::new(
                module.src,
                find(module.src, &module.functions, target).unwrap(),
            );
            usage(index, module, &f, param)
        })
    }

    fn fields(list: &[&str]) -> Usage {
        Usage::Fields(list.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn attributes_read_here_and_in_helpers() {
        let files = [
            ("app/__init__.py", ""),
            (
                "app/repo.py",
                "class Repo:\n    async def feed(self, user, limit):\n        return await self.q(user.username, user.profile.bio, limit)\n",
            ),
            (
                "app/api.py",
                "from app.repo import Repo\nasync def feed(user, repo: Repo, limit: int):\n    if user is None:\n        return []\n    return await repo.feed(user=user, limit=limit)\nasync def me(user):\n    return user\nasync def ctx_cmd(ctx, n):\n    await ctx.send(ctx.author.name)\n    return ctx.guild.id + n\nasync def slug(request):\n    return request.path_params['slug']\n",
            ),
        ];
        assert_eq!(
            used(&files, "app/api.py", "feed", "user"),
            fields(&["profile.bio", "username"])
        );
        assert_eq!(used(&files, "app/api.py", "me", "user"), Usage::Whole);
        let ctx =
            crate::project::tests::with_project_module(&files, "app/api.py", |index, module| {
                let f = Function::new(
                    module.src,
                    find(module.src, &module.functions, "ctx_cmd").unwrap(),
                );
                carrier_usage(index, module, &f, "ctx")
            });
        assert_eq!(ctx, fields(&["author.name", "guild.id"]));
        assert_eq!(
            used(&files, "app/api.py", "ctx_cmd", "ctx"),
            Usage::Whole,
            "a value's own method reads it whole"
        );
        assert_eq!(
            used(&files, "app/api.py", "slug", "request"),
            fields(&["path_params[slug]"])
        );
        assert_eq!(used(&files, "app/api.py", "feed", "limit"), Usage::Whole);
    }
}
