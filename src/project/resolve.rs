//! Names resolved across the project's modules: imports (absolute,
//! relative, through `__init__.py` re-exports and `import *`), module-level
//! assignments, and attribute chains through modules, classes and instances.

use std::path::{Path, PathBuf};

use tree_sitter::Node;

use crate::function::dotted_name;
use crate::imports::Binding;
use crate::module::Module;
use crate::project::{Index, ModuleRef};

/// A definition in a project module: a function, a class or a module-level name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Def {
    /// Absolute path of the module file.
    pub(crate) path: PathBuf,
    pub(crate) qualname: String,
}

/// What a name means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Symbol {
    /// A project module file.
    Module(PathBuf),
    /// A namespace package folder of the project.
    Folder(PathBuf),
    Function(Def),
    Class(Def),
    /// A module-level value that is not a call's result (a literal, a constant).
    Data(Def),
    /// An object made by calling something: a project class, a library
    /// class (`FastCRUD(User)`, `Cache()`), or a library function.
    Instance(Box<Symbol>),
    /// Something outside the project, by its dotted name (`httpx.AsyncClient`,
    /// `cashews.cache`); an attribute of it is `External("x.attr")` too.
    External(String),
    Unknown,
}

impl Symbol {
    /// The dotted name of a library class, or of the library class an
    /// instance was made from (a base written `declarative_base()`).
    pub(crate) fn external_name(&self) -> Option<&str> {
        match self {
            Symbol::External(n) => Some(n),
            Symbol::Instance(of) => match of.as_ref() {
                Symbol::External(n) => Some(n),
                _ => None,
            },
            _ => None,
        }
    }
}

/// How many hops a resolution may take (re-export chains, aliases).
const MAX_HOPS: usize = 32;

/// How deep resolutions may nest on one thread, whatever the path.
const MAX_NESTING: usize = 64;

thread_local! {
    static NESTING: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// One level of nested resolution, released when dropped.
struct DepthGuard;

impl DepthGuard {
    fn enter() -> Option<DepthGuard> {
        NESTING.with(|n| {
            if n.get() >= MAX_NESTING {
                None
            } else {
                n.set(n.get() + 1);
                Some(DepthGuard)
            }
        })
    }
}

impl Drop for DepthGuard {
    fn drop(&mut self) {
        NESTING.with(|n| n.set(n.get() - 1));
    }
}

impl Symbol {
    /// The dotted name outside the project, looking through `Instance`.
    pub(crate) fn external(&self) -> Option<&str> {
        match self {
            Symbol::External(d) => Some(d),
            Symbol::Instance(of) => of.external(),
            _ => None,
        }
    }
}

impl<'p> Index<'p> {
    /// What `name` means at module level of `module`.
    pub(crate) fn resolve_name(&self, module: &Module, name: &str) -> Symbol {
        self.name_in(module, name, 0)
    }

    /// What a dotted expression (`a`, `a.b.c`) means at module level of `module`.
    pub(crate) fn resolve_dotted(&self, module: &Module, dotted: &str) -> Symbol {
        let mut parts = dotted.split('.');
        let head = parts.next().unwrap_or_default();
        let mut symbol = self.resolve_name(module, head);
        for part in parts {
            symbol = self.member(&symbol, part);
        }
        symbol
    }

    /// What a plain name or attribute chain node means at module level.
    pub(crate) fn resolve_node(&self, module: &Module, node: Node) -> Symbol {
        match dotted_name(module.src, node) {
            Some(dotted) => self.resolve_dotted(module, &dotted),
            None => Symbol::Unknown,
        }
    }

    /// What a name or attribute chain node means where it is used: as at
    /// module level, else through an import in a function around it.
    pub(crate) fn resolve_node_in(&self, module: &Module, node: Node) -> Symbol {
        let found = self.resolve_node(module, node);
        if found != Symbol::Unknown {
            return found;
        }
        let Some(dotted) = dotted_name(module.src, node) else {
            return found;
        };
        let mut parts = dotted.split('.');
        let head = parts.next().unwrap_or_default();
        let Some(binding) = function_import(module, node, head) else {
            return found;
        };
        let mut symbol = self.binding(&Index::key(&module.src.path), &binding, 0);
        for part in parts {
            symbol = self.member(&symbol, part);
        }
        symbol
    }

    fn name_in(&self, module: &Module, name: &str, hops: usize) -> Symbol {
        // Aliases and re-exports can loop through attribute chains and call
        // results, where `hops` restarts: a depth guard per thread ends them.
        let Some(_guard) = DepthGuard::enter() else {
            return Symbol::Unknown;
        };
        if hops > MAX_HOPS {
            return Symbol::Unknown;
        }
        let path = Index::key(&module.src.path);
        let def = || Def {
            path: path.clone(),
            qualname: name.to_string(),
        };
        if module.function(name).is_some() {
            return Symbol::Function(def());
        }
        if module.class(name).is_some() {
            return Symbol::Class(def());
        }
        if let Some(binding) = module.imports.bindings.get(name) {
            return self.binding(&path, binding, hops);
        }
        if let Some(value) = module.variables.get(name) {
            return self.value(module, name, *value, hops);
        }
        for (level, star) in &module.imports.star_modules {
            if let Some(ModuleRef::File(file)) = self.resolve_module(&path, *level, star)
                && let Some(other) = self.module(&file)
                && exports(other, name)
            {
                let found = self.name_in(other, name, hops + 1);
                if found != Symbol::Unknown {
                    return found;
                }
            }
        }
        Symbol::Unknown
    }

    fn binding(&self, from: &Path, binding: &Binding, hops: usize) -> Symbol {
        match binding {
            Binding::Module(dotted) => match self.resolve_module(from, 0, dotted) {
                Some(ModuleRef::File(f)) => Symbol::Module(f),
                Some(ModuleRef::Folder(d)) => Symbol::Folder(d),
                None => Symbol::External(dotted.clone()),
            },
            Binding::From {
                level,
                module,
                name,
            } => match self.resolve_module(from, *level, module) {
                Some(ModuleRef::File(file)) => self.in_file(&file, name, hops + 1),
                Some(ModuleRef::Folder(dir)) => submodule(&dir, name),
                None if *level == 0 => Symbol::External(format!("{module}.{name}")),
                None => Symbol::Unknown,
            },
        }
    }

    /// `name` in the module file `file`, or its submodule when `file` is a package's `__init__.py`.
    fn in_file(&self, file: &Path, name: &str, hops: usize) -> Symbol {
        let found = match self.module(file) {
            Some(m) => self.name_in(m, name, hops),
            None => Symbol::Unknown,
        };
        if found != Symbol::Unknown {
            return found;
        }
        if file.file_name().is_some_and(|n| n == "__init__.py")
            && let Some(dir) = file.parent()
        {
            return submodule(dir, name);
        }
        found
    }

    /// A module-level `name = value`.
    fn value(&self, module: &Module, name: &str, value: Node, hops: usize) -> Symbol {
        let src = module.src;
        match value.kind() {
            "identifier" | "attribute" => {
                let Some(dotted) = dotted_name(src, value) else {
                    return Symbol::Unknown;
                };
                if dotted == name {
                    return Symbol::Unknown; // `x = x`
                }
                let mut parts = dotted.split('.');
                let mut symbol = self.name_in(module, parts.next().unwrap_or_default(), hops + 1);
                for part in parts {
                    symbol = self.member(&symbol, part);
                }
                symbol
            }
            "call" => {
                let callee = value
                    .child_by_field_name("function")
                    .map(|c| self.resolve_node(module, c))
                    .unwrap_or(Symbol::Unknown);
                match callee {
                    Symbol::Unknown => Symbol::Unknown,
                    other => Symbol::Instance(Box::new(other)),
                }
            }
            _ => Symbol::Data(Def {
                path: Index::key(&src.path),
                qualname: name.to_string(),
            }),
        }
    }

    /// `symbol.attr`.
    pub(crate) fn member(&self, symbol: &Symbol, attr: &str) -> Symbol {
        match symbol {
            Symbol::Module(file) => self.in_file(file, attr, 0),
            Symbol::Folder(dir) => submodule(dir, attr),
            Symbol::Class(def) => self.class_member(def, attr),
            Symbol::Instance(of) => match of.as_ref() {
                Symbol::Class(def) => match self.class_member(def, attr) {
                    Symbol::Unknown => self
                        .attribute_type(def, attr)
                        .map(|t| Symbol::Instance(Box::new(t)))
                        .unwrap_or(Symbol::Unknown),
                    found => found,
                },
                Symbol::External(d) => Symbol::External(format!("{d}.{attr}")),
                _ => Symbol::Unknown,
            },
            Symbol::External(d) => Symbol::External(format!("{d}.{attr}")),
            _ => Symbol::Unknown,
        }
    }

    /// A method or nested class of a class, found along its bases.
    fn class_member(&self, def: &Def, attr: &str) -> Symbol {
        for class in self.mro(def) {
            let qualname = format!("{}.{attr}", class.def.qualname);
            let Some(module) = self.module(&class.def.path) else {
                continue;
            };
            let found = Def {
                path: class.def.path.clone(),
                qualname: qualname.clone(),
            };
            if module.function(&qualname).is_some() {
                return Symbol::Function(found);
            }
            if module.class(&qualname).is_some() {
                return Symbol::Class(found);
            }
        }
        Symbol::Unknown
    }
}

/// Whether `import *` from `module` binds `name`: listed in `__all__` when
/// the module has one, else any name not starting with `_`.
/// How an import in a function around `node` binds `name`, the nearest first.
pub(crate) fn function_import(module: &Module, node: Node, name: &str) -> Option<Binding> {
    let mut around = node.parent();
    while let Some(n) = around {
        around = n.parent();
        if n.kind() == "function_definition"
            && let Some(binding) = crate::imports::Imports::in_function(module.src, n)
                .bindings
                .remove(name)
        {
            return Some(binding);
        }
    }
    None
}

fn exports(module: &Module, name: &str) -> bool {
    match module.variables.get("__all__") {
        Some(all) => {
            let text = module.src.text_of(*all);
            text.contains(&format!("\"{name}\"")) || text.contains(&format!("'{name}'"))
        }
        None => !name.starts_with('_'),
    }
}

fn submodule(dir: &Path, name: &str) -> Symbol {
    let file = dir.join(format!("{name}.py"));
    if file.is_file() {
        return Symbol::Module(file);
    }
    let init = dir.join(name).join("__init__.py");
    if init.is_file() {
        return Symbol::Module(init);
    }
    let folder = dir.join(name);
    if folder.is_dir() {
        Symbol::Folder(folder)
    } else {
        Symbol::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::Sources;
    use crate::project::tests::project;

    /// Resolves each dotted name from `from` in a project of `files`;
    /// `{root}` in the expected symbols' paths stands for the project folder.
    fn check(files: &[(&str, &str)], from: &str, cases: &[(&str, Symbol)]) {
        let dir = project(files);
        let sources = Sources::default();
        let path = dir.path().join(from);
        let index = Index::for_file(&sources, &path);
        let module = index.module(&path).unwrap();
        for (dotted, want) in cases {
            let got = index.resolve_dotted(module, dotted);
            let shown = format!("{got:?}").replace(&dir.path().display().to_string(), "{root}");
            assert_eq!(shown, format!("{want:?}"), "{dotted}");
        }
    }

    fn def(rel: &str, qualname: &str) -> Def {
        Def {
            path: Path::new("{root}").join(rel),
            qualname: qualname.to_string(),
        }
    }

    #[test]
    fn through_reexports_and_relative_imports() {
        let files = [
            ("app/__init__.py", "from .caching import cache\n"),
            (
                "app/caching.py",
                "from cashews import Cache\ncache = Cache()\n",
            ),
            ("app/db/__init__.py", "from .repo import *\n"),
            (
                "app/db/repo.py",
                "__all__ = ['UserRepo']\nclass UserRepo:\n    async def get(self, i): ...\nclass _Hidden: ...\n",
            ),
            (
                "app/api/users.py",
                "from app import cache\nfrom ..db import UserRepo\nimport app.db as db\nfrom app import db as dbpkg\nrepo = UserRepo()\n",
            ),
        ];
        check(
            &files,
            "app/api/users.py",
            &[
                (
                    "cache",
                    Symbol::Instance(Box::new(Symbol::External("cashews.Cache".into()))),
                ),
                ("UserRepo", Symbol::Class(def("app/db/repo.py", "UserRepo"))),
                (
                    "repo.get",
                    Symbol::Function(def("app/db/repo.py", "UserRepo.get")),
                ),
                (
                    "db.repo.UserRepo",
                    Symbol::Class(def("app/db/repo.py", "UserRepo")),
                ),
                (
                    "dbpkg",
                    Symbol::Module(Path::new("{root}").join("app/db/__init__.py")),
                ),
            ],
        );
        check(
            &files,
            "app/db/__init__.py",
            &[("_Hidden", Symbol::Unknown)],
        );
    }

    #[test]
    fn library_names_stay_external() {
        let files = [(
            "m.py",
            "import httpx as h\nfrom fastcrud import FastCRUD\ncrud_users = FastCRUD(User)\n",
        )];
        check(
            &files,
            "m.py",
            &[
                (
                    "h.AsyncClient.get",
                    Symbol::External("httpx.AsyncClient.get".into()),
                ),
                (
                    "crud_users.update",
                    Symbol::External("fastcrud.FastCRUD.update".into()),
                ),
            ],
        );
    }

    #[test]
    fn assignment_cycles_through_calls_and_attributes_end() {
        let files = [
            ("a.py", "import b\nx = b.y()\n"),
            ("b.py", "import a\ny = a.x()\n"),
            ("c.py", "f = f()\ng = h.k\nh = g.m\n"),
        ];
        check(&files, "a.py", &[("x", Symbol::Unknown)]);
        check(
            &files,
            "c.py",
            &[("g", Symbol::Unknown), ("f", Symbol::Unknown)],
        );
    }

    #[test]
    fn import_cycles_end() {
        let files = [("a.py", "from b import x\n"), ("b.py", "from a import x\n")];
        check(&files, "a.py", &[("x", Symbol::Unknown)]);
    }
}
