//! aiosql: SQL kept in `.sql` files and loaded as methods of one object
//! (`queries = aiosql.from_path(Path(__file__).parent / "sql", "asyncpg")`;
//! `await queries.create_user(conn, ...)`). Each `-- name: create-user<!`
//! block becomes `queries.create_user`: its suffix and its statement say
//! whether it writes, and its SQL names the tables it reads and writes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use regex::Regex;
use tree_sitter::Node;

use super::Index;
use super::resolve::Def;
use crate::imports::Binding;
use crate::module::Module;

/// One named statement of a `.sql` file.
#[derive(Debug)]
pub(crate) struct Query {
    pub(crate) write: bool,
    /// Every table the statement names.
    pub(crate) tables: Vec<String>,
    /// The tables it inserts into, updates or deletes from.
    pub(crate) written: Vec<String>,
}

/// The statements one loader call loaded, by method name.
pub(crate) type Queries = HashMap<String, Arc<Query>>;

impl<'p> Index<'p> {
    /// The aiosql statement `call` runs (`queries.get_user(conn, ...)`),
    /// when `queries` is a project variable assigned `aiosql.from_path(...)`.
    pub(crate) fn aiosql_query(&self, module: &Module<'p>, call: Node) -> Option<Arc<Query>> {
        let callee = call.child_by_field_name("function")?;
        if callee.kind() != "attribute" {
            return None;
        }
        let object = callee.child_by_field_name("object")?;
        if object.kind() != "identifier" {
            return None;
        }
        let method = module.src.text_of(callee.child_by_field_name("attribute")?);
        let (home, value) = self.definition(module, module.src.text_of(object), 0)?;
        let def = Def {
            path: Index::key(&home.src.path),
            qualname: module.src.text_of(object).to_string(),
        };
        let queries = self.loaded(&def, home, value)?;
        queries.get(method).cloned()
    }

    /// The module and value of a module-level variable, followed through
    /// `from m import name`.
    fn definition(
        &self,
        module: &Module<'p>,
        name: &str,
        depth: usize,
    ) -> Option<(&Module<'p>, Node<'p>)> {
        if depth > 4 {
            return None;
        }
        let here = self.module(&module.src.path)?;
        if let Some(value) = here.variables.get(name) {
            return Some((here, *value));
        }
        let Some(Binding::From {
            level,
            module: from,
            name: imported,
        }) = here.imports.bindings.get(name)
        else {
            return None;
        };
        let Some(super::ModuleRef::File(file)) = self.resolve_module(&here.src.path, *level, from)
        else {
            return None;
        };
        let other = self.module(&file)?;
        self.definition(other, imported, depth + 1)
    }

    /// The statements `value` (an `aiosql.from_path(...)` call) loads, once per variable.
    fn loaded(&self, def: &Def, home: &Module<'p>, value: Node) -> Option<Arc<Queries>> {
        let mut memo = self.aiosql.lock().expect("no panics while held");
        if let Some(found) = memo.get(def) {
            return found.clone();
        }
        let found = loader_path(home, value).map(|p| Arc::new(load(&p)));
        memo.insert(def.clone(), found.clone());
        found
    }
}

/// The path an `aiosql.from_path(PATH, ...)` call reads.
fn loader_path(module: &Module, value: Node) -> Option<PathBuf> {
    if value.kind() != "call" {
        return None;
    }
    let callee = crate::function::dotted_name(module.src, value.child_by_field_name("function")?)?;
    if module.imports.resolve(&callee) != "aiosql.from_path" {
        return None;
    }
    let first = value.child_by_field_name("arguments")?.named_child(0)?;
    let file = Index::key(&module.src.path);
    let path = evaluate(module, first, &file)?;
    if path.is_absolute() {
        return Some(path);
    }
    // A relative string is read from where the app runs: the project root
    // is the best guess; beside the module the next.
    let beside = file.parent()?.join(&path);
    Some(if beside.exists() { beside } else { path })
}

/// A path expression of the forms loaders are written with:
/// `Path(__file__).parent / "sql"`, `os.path.join(os.path.dirname(__file__), "sql")`, `"app/sql"`.
fn evaluate(module: &Module, node: Node, file: &Path) -> Option<PathBuf> {
    let src = module.src;
    match node.kind() {
        "string" => crate::purity::string_value(src, node).map(PathBuf::from),
        "identifier" if src.text_of(node) == "__file__" => Some(file.to_path_buf()),
        "parenthesized_expression" => evaluate(module, node.named_child(0)?, file),
        "binary_operator" => {
            let left = evaluate(module, node.child_by_field_name("left")?, file)?;
            let right = evaluate(module, node.child_by_field_name("right")?, file)?;
            Some(left.join(right))
        }
        "attribute" => {
            let object = evaluate(module, node.child_by_field_name("object")?, file)?;
            match src.text_of(node.child_by_field_name("attribute")?) {
                "parent" => object.parent().map(Path::to_path_buf),
                _ => None,
            }
        }
        "call" => {
            let callee = crate::function::dotted_name(src, node.child_by_field_name("function")?)?;
            let args = node.child_by_field_name("arguments")?;
            let mut cursor = args.walk();
            let values: Vec<PathBuf> = args
                .named_children(&mut cursor)
                .map(|a| evaluate(module, a, file))
                .collect::<Option<_>>()?;
            let full = module.imports.resolve(&callee);
            match full.as_str() {
                "pathlib.Path" | "pathlib.PurePath" | "str" | "os.fspath" | "os.path.abspath"
                | "os.path.realpath" => values.into_iter().next(),
                "os.path.dirname" => values.first()?.parent().map(Path::to_path_buf),
                "os.path.join" => values.into_iter().reduce(|a, b| a.join(b)),
                // `Path(__file__).resolve().parent`: the method calls of a path.
                _ if callee.ends_with(".resolve") || callee.ends_with(".absolute") => {
                    let object = node
                        .child_by_field_name("function")?
                        .child_by_field_name("object")?;
                    evaluate(module, object, file)
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// The statements of the `.sql` file at `path`, or of every `.sql` file in
/// the folder (aiosql names a subfolder's statements `folder.name`).
fn load(path: &Path) -> Queries {
    let mut out = Queries::new();
    if path.is_dir() {
        let Ok(entries) = std::fs::read_dir(path) else {
            return out;
        };
        let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for file in files {
            if file.extension().is_some_and(|e| e == "sql") {
                out.extend(load(&file));
            }
        }
    } else if let Ok(text) = std::fs::read_to_string(path) {
        out.extend(parse(&text));
    }
    out
}

/// `-- name: get-user^` blocks, each up to the next.
fn parse(text: &str) -> Queries {
    static NAME: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?m)^--\s*name:\s*([A-Za-z_][\w-]*)\s*(<!|\*!|!|#|\^|\$)?\s*$")
            .expect("a valid regex")
    });
    let heads: Vec<_> = NAME.captures_iter(text).collect();
    let mut out = Queries::new();
    for (i, head) in heads.iter().enumerate() {
        let start = head.get(0).map_or(0, |m| m.end());
        let end = heads
            .get(i + 1)
            .and_then(|h| h.get(0))
            .map_or(text.len(), |m| m.start());
        let body = strip_comments(&text[start..end]);
        let suffix = head.get(2).map_or("", |m| m.as_str());
        let write = matches!(suffix, "!" | "<!" | "*!" | "#") || super::sql::writes(&body);
        out.insert(
            head[1].replace('-', "_"),
            Arc::new(Query {
                write,
                tables: super::sql::tables(&body),
                written: super::sql::written_tables(&body),
            }),
        );
    }
    out
}

fn strip_comments(sql: &str) -> String {
    sql.lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn names_suffixes_and_tables() {
        let q = parse(
            "-- name: get-note^\n-- a comment\nSELECT n.body FROM notes n JOIN authors a ON a.id = n.author_id WHERE n.id = :id;\n\n\
             -- name: add-note<!\nINSERT INTO notes (body) VALUES ((SELECT :body)) RETURNING id;\n\n\
             -- name: count-notes$\nSELECT count(*) FROM notes;\n\n\
             -- name: purge\nDELETE FROM notes WHERE author_id = :author_id;\n",
        );
        let get = &q["get_note"];
        assert!(!get.write);
        assert_eq!(get.tables, ["notes", "authors"]);
        let add = &q["add_note"];
        assert!(add.write);
        assert_eq!(add.written, ["notes"]);
        assert!(!q["count_notes"].write);
        // No suffix, but the statement itself deletes.
        assert!(q["purge"].write);
        assert_eq!(q["purge"].written, ["notes"]);
    }
}
