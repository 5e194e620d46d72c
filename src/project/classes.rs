//! Classes across modules: bases and their order (the MRO), methods and
//! properties, attributes with their types (class annotations, `__init__`
//! assignments typed by annotation, constructor call or constructor
//! parameter), and whether `str()` of an instance is readable.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tree_sitter::Node;

use crate::function::{Function, dotted_name};
use crate::locate::FunctionSite;
use crate::module::Module;
use crate::project::Index;
use crate::project::resolve::{Def, Symbol};
use crate::source::SourceFile;

#[derive(Debug)]
pub(crate) struct ClassInfo {
    pub(crate) def: Def,
    pub(crate) bases: Vec<Symbol>,
    /// Class decorators, resolved (`dataclasses.dataclass`).
    pub(crate) decorators: Vec<Symbol>,
    pub(crate) methods: BTreeSet<String>,
    pub(crate) properties: BTreeSet<String>,
    pub(crate) attributes: BTreeMap<String, Attribute>,
    /// Whether it has a `metaclass=` or `*bases` it cannot read.
    pub(crate) opaque: bool,
}

/// An attribute of instances (or a class attribute) with what is known of it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Attribute {
    /// Its class, when known: a project class or an outside one.
    pub(crate) class: Option<Symbol>,
    /// The annotation as written, when it has one.
    pub(crate) annotation: Option<String>,
    /// The `__init__` parameter it is set from (`self._client = client`).
    pub(crate) from_param: Option<String>,
    /// Whether the value is a literal constant (`self.retries = 3`).
    pub(crate) constant: bool,
}

/// Bases that define neither `__str__` nor `__repr__`.
const PLAIN_BASES: &[&str] = &[
    "object",
    "abc.ABC",
    "typing.Generic",
    "typing.Protocol",
    "typing_extensions.Protocol",
];

/// Library bases whose instances print their values.
const READABLE_BASES: &[&str] = &[
    "pydantic.BaseModel",
    "pydantic.main.BaseModel",
    "pydantic_settings.BaseSettings",
    "sqlmodel.SQLModel",
    "enum.Enum",
    "enum.IntEnum",
    "enum.StrEnum",
    "enum.Flag",
    "typing.NamedTuple",
    "str",
    "int",
    "float",
    "tuple",
    "dict",
    "list",
    "Exception",
    "msgspec.Struct",
];

/// Class decorators that write a `__repr__`.
const REPR_DECORATORS: &[&str] = &[
    "dataclasses.dataclass",
    "attr.s",
    "attr.attrs",
    "attr.define",
    "attr.frozen",
    "attrs.define",
    "attrs.frozen",
    "pydantic.dataclasses.dataclass",
];

impl<'p> Index<'p> {
    /// The class `def`, read once.
    pub(crate) fn class_info(&self, def: &Def) -> Option<Arc<ClassInfo>> {
        if let Some(known) = self.classes.lock().expect("no panics while held").get(def) {
            return known.clone();
        }
        // Reading a class may ask about the class itself (a base named in
        // its own module, an attribute typed with it): until it is read, it
        // is unknown, which ends the cycle.
        self.classes
            .lock()
            .expect("no panics while held")
            .insert(def.clone(), None);
        let info = self.read_class(def).map(Arc::new);
        self.classes
            .lock()
            .expect("no panics while held")
            .insert(def.clone(), info.clone());
        info
    }

    fn read_class(&self, def: &Def) -> Option<ClassInfo> {
        let module = self.module(&def.path)?;
        let site = module.class(&def.qualname)?;
        let node = site.node;
        let mut info = ClassInfo {
            def: def.clone(),
            bases: Vec::new(),
            decorators: Vec::new(),
            methods: BTreeSet::new(),
            properties: BTreeSet::new(),
            attributes: BTreeMap::new(),
            opaque: false,
        };
        if let Some(bases) = node.child_by_field_name("superclasses") {
            let mut cursor = bases.walk();
            for base in bases.named_children(&mut cursor) {
                let base = match base.kind() {
                    "comment" => continue,
                    "subscript" => base.child_by_field_name("value").unwrap_or(base),
                    "keyword_argument" | "list_splat" | "dictionary_splat" => {
                        info.opaque = true;
                        continue;
                    }
                    _ => base,
                };
                info.bases.push(self.resolve_in_scope(module, node, base));
            }
        }
        if let Some(parent) = node.parent().filter(|p| p.kind() == "decorated_definition") {
            let mut cursor = parent.walk();
            for d in parent
                .children(&mut cursor)
                .filter(|c| c.kind() == "decorator")
            {
                if let Some(expr) = d.named_child(0) {
                    let callee = if expr.kind() == "call" {
                        expr.child_by_field_name("function").unwrap_or(expr)
                    } else {
                        expr
                    };
                    info.decorators.push(self.resolve_node(module, callee));
                }
            }
        }
        self.read_body(module, site.node, &mut info);
        Some(info)
    }

    /// A base class name may name a class defined in an enclosing class.
    fn resolve_in_scope(&self, module: &Module, class: Node, base: Node) -> Symbol {
        let found = self.resolve_node(module, base);
        if found != Symbol::Unknown {
            return found;
        }
        let Some(name) = dotted_name(module.src, base) else {
            return found;
        };
        let Some(site) = module.classes.iter().find(|c| c.node.id() == class.id()) else {
            return found;
        };
        let mut outer = site.qualname.as_str();
        while let Some((parent, _)) = outer.rsplit_once('.') {
            let qualname = format!("{parent}.{name}");
            if module.class(&qualname).is_some() {
                return Symbol::Class(Def {
                    path: Index::key(&module.src.path),
                    qualname,
                });
            }
            outer = parent;
        }
        found
    }

    fn read_body(&self, module: &Module, class: Node, info: &mut ClassInfo) {
        let src = module.src;
        let Some(body) = class.child_by_field_name("body") else {
            return;
        };
        let mut cursor = body.walk();
        for stmt in body.named_children(&mut cursor) {
            match stmt.kind() {
                "function_definition" | "decorated_definition" => {
                    let Some(def) = definition(stmt) else {
                        continue;
                    };
                    let name = src.text_of(def.child_by_field_name("name").unwrap_or(def));
                    let decorators = decorator_names(src, stmt);
                    let is_property = decorators.iter().any(|d| {
                        d == "property" || d.ends_with("cached_property") || d.ends_with(".getter")
                    });
                    if is_property {
                        info.properties.insert(name.to_string());
                        let annotation = def.child_by_field_name("return_type");
                        info.attributes
                            .entry(name.to_string())
                            .or_insert(Attribute {
                                class: annotation.and_then(|a| self.annotation_class(module, a)),
                                annotation: annotation.map(|a| src.text_of(a).to_string()),
                                ..Attribute::default()
                            });
                    } else {
                        info.methods.insert(name.to_string());
                    }
                    if name == "__init__" {
                        self.read_init(module, class, def, info);
                    }
                }
                "expression_statement" => {
                    let Some(a) = stmt.named_child(0).filter(|a| a.kind() == "assignment") else {
                        continue;
                    };
                    let Some(left) = a
                        .child_by_field_name("left")
                        .filter(|l| l.kind() == "identifier")
                    else {
                        continue;
                    };
                    let annotation = a.child_by_field_name("type");
                    let value = a.child_by_field_name("right");
                    let attribute = Attribute {
                        class: annotation
                            .and_then(|t| self.annotation_class(module, t))
                            .or_else(|| value.and_then(|v| self.constructed(module, v))),
                        annotation: annotation.map(|t| src.text_of(t).to_string()),
                        from_param: None,
                        constant: value.is_some_and(is_literal),
                    };
                    info.attributes
                        .insert(src.text_of(left).to_string(), attribute);
                }
                _ => {}
            }
        }
    }

    /// `self.x = ...` in `__init__`: typed by its annotation, the class it
    /// constructs, or the annotation of the parameter it is set from.
    fn read_init(&self, module: &Module, class: Node, init: Node, info: &mut ClassInfo) {
        let src = module.src;
        let site = FunctionSite {
            node: init,
            class: Some(class),
            qualname: "__init__".to_string(),
        };
        let f = Function::new(src, site);
        let receiver = f
            .receiver()
            .map(|p| p.name.clone())
            .unwrap_or_else(|| "self".into());
        for (target, _) in &f.body.targets {
            let (Some(object), Some(attr)) = (
                target.child_by_field_name("object"),
                target.child_by_field_name("attribute"),
            ) else {
                continue;
            };
            if target.kind() != "attribute" || src.text_of(object) != receiver {
                continue;
            }
            let Some(assignment) = target.parent().filter(|p| p.kind() == "assignment") else {
                continue;
            };
            let annotation = assignment.child_by_field_name("type");
            let value = assignment.child_by_field_name("right");
            let param = value
                .filter(|v| v.kind() == "identifier")
                .and_then(|v| f.param(src.text_of(v)));
            let param_annotation = param.and_then(|p| p.annotation.as_deref());
            let attribute = Attribute {
                class: annotation
                    .and_then(|t| self.annotation_class(module, t))
                    .or_else(|| {
                        param_annotation.and_then(|t| self.annotation_text_class(module, t))
                    })
                    .or_else(|| value.and_then(|v| self.constructed(module, v))),
                annotation: annotation
                    .map(|t| src.text_of(t).to_string())
                    .or_else(|| param.and_then(|p| p.annotation.clone())),
                from_param: param.map(|p| p.name.clone()),
                constant: value.is_some_and(is_literal),
            };
            let name = src.text_of(attr).to_string();
            // The first assignment in __init__ usually says the most (a later one may be `None`).
            let entry = info.attributes.entry(name).or_default();
            if entry.class.is_none() {
                entry.class = attribute.class;
            }
            if entry.annotation.is_none() {
                entry.annotation = attribute.annotation;
            }
            if entry.from_param.is_none() {
                entry.from_param = attribute.from_param;
            }
            entry.constant |= attribute.constant;
        }
    }

    /// The class a value is made from: `Foo(...)` -> Foo.
    fn constructed(&self, module: &Module, value: Node) -> Option<Symbol> {
        let callee = value
            .child_by_field_name("function")
            .filter(|_| value.kind() == "call")?;
        match self.resolve_node(module, callee) {
            Symbol::Unknown => None,
            found => Some(found),
        }
    }

    /// The class an annotation names: `UserRepo`, `Optional[UserRepo]`,
    /// `"UserRepo"`, `UserRepo | None`, `Annotated[AsyncSession, Depends(...)]`.
    pub(crate) fn annotation_class(&self, module: &Module, annotation: Node) -> Option<Symbol> {
        self.annotation_text_class(module, module.src.text_of(annotation))
    }

    /// `annotation_class` for an annotation's text.
    pub(crate) fn annotation_text_class(
        &self,
        module: &Module,
        annotation: &str,
    ) -> Option<Symbol> {
        self.annotation_text_class_in(module, annotation, 0)
    }

    /// A module-level alias (`GetChatServices = Annotated[ChatServices,
    /// Depends(...)]`, FastAPI's dependency shorthand; `TagRepository =
    /// RepositoryBase[Tag, …]`) is followed to the class it names, twice at most.
    fn annotation_text_class_in(
        &self,
        module: &Module,
        annotation: &str,
        depth: usize,
    ) -> Option<Symbol> {
        let name = annotated_class_name(annotation)?;
        match self.resolve_dotted(module, name) {
            Symbol::Unknown => None,
            Symbol::Data(def) if depth < 2 => {
                let followed = self.module(&def.path).and_then(|target| {
                    let value = alias_value(target, &def.qualname)?;
                    self.annotation_text_class_in(target, &value, depth + 1)
                });
                followed.or(Some(Symbol::Data(def)))
            }
            s => Some(s),
        }
    }

    /// The class and its bases in the project, in method resolution order
    /// (depth first, left to right, each once): what a lookup walks.
    pub(crate) fn mro(&self, def: &Def) -> Vec<Arc<ClassInfo>> {
        let mut out: Vec<Arc<ClassInfo>> = Vec::new();
        let mut stack = vec![def.clone()];
        while let Some(next) = stack.pop() {
            if out.len() > 64 || out.iter().any(|c| c.def == next) {
                continue;
            }
            let Some(info) = self.class_info(&next) else {
                continue;
            };
            for base in info.bases.iter().rev() {
                if let Symbol::Class(b) = base {
                    stack.push(b.clone());
                }
            }
            out.push(info);
        }
        out
    }

    /// The class of attribute `attr` on instances of `def`, along the MRO.
    pub(crate) fn attribute_type(&self, def: &Def, attr: &str) -> Option<Symbol> {
        self.attribute(def, attr).and_then(|a| a.class)
    }

    /// What is known of attribute `attr` on instances of `def`, along the MRO.
    pub(crate) fn attribute(&self, def: &Def, attr: &str) -> Option<Attribute> {
        self.mro(def)
            .iter()
            .find_map(|c| c.attributes.get(attr).cloned())
    }

    /// Whether `str()` of an instance is readable: Some(true) a `__str__` /
    /// `__repr__` (or a base or decorator that writes one), Some(false)
    /// provably the default `<X object at 0x…>`, None when it cannot be known.
    pub(crate) fn has_str(&self, def: &Def) -> Option<bool> {
        let mro = self.mro(def);
        if mro.is_empty() {
            return None;
        }
        let mut unknown = false;
        for class in &mro {
            if class.methods.contains("__str__")
                || class.methods.contains("__repr__")
                || class.attributes.contains_key("__str__")
                || class.attributes.contains_key("__repr__")
            {
                return Some(true);
            }
            for d in &class.decorators {
                match d.external() {
                    Some(name)
                        if REPR_DECORATORS
                            .iter()
                            .any(|r| name == *r || name.ends_with(&format!(".{r}"))) =>
                    {
                        return Some(true);
                    }
                    Some(name)
                        if REPR_DECORATORS
                            .iter()
                            .any(|r| r.rsplit('.').next() == Some(name)) =>
                    {
                        return Some(true);
                    }
                    _ => unknown = true,
                }
            }
            unknown |= class.opaque;
            for base in &class.bases {
                match base {
                    Symbol::Class(_) => {}
                    Symbol::External(name) if PLAIN_BASES.contains(&name.as_str()) => {}
                    Symbol::External(name) if READABLE_BASES.contains(&name.as_str()) => {
                        return Some(true);
                    }
                    Symbol::Unknown => {
                        // A builtin base: `class E(Exception)`, `class S(str)`.
                        unknown = true;
                    }
                    _ => unknown = true,
                }
            }
        }
        if unknown { None } else { Some(false) }
    }
}

fn definition(stmt: Node) -> Option<Node> {
    match stmt.kind() {
        "function_definition" => Some(stmt),
        "decorated_definition" => stmt
            .child_by_field_name("definition")
            .filter(|d| d.kind() == "function_definition"),
        _ => None,
    }
}

fn decorator_names(src: &SourceFile, stmt: Node) -> Vec<String> {
    if stmt.kind() != "decorated_definition" {
        return Vec::new();
    }
    let mut cursor = stmt.walk();
    stmt.children(&mut cursor)
        .filter(|c| c.kind() == "decorator")
        .filter_map(|d| crate::function::callee_name(src, d.named_child(0)?))
        .collect()
}

/// The dotted class name an annotation is about, looking through quotes,
/// `Optional`/`Annotated`/`Union`/`ClassVar`/`Final` and `| None`; for a
/// generic (`list[User]`) the container.
/// The text a module-level `NAME = VALUE` (or `NAME: TypeAlias = VALUE`)
/// assigns, when VALUE is a subscript (`Annotated[X, ...]`, a generic's
/// alias `TagRepository = RepositoryBase[Tag, …]`).
fn alias_value(module: &Module, name: &str) -> Option<String> {
    crate::source::assignments(module.src.tree.root_node())
        .into_iter()
        .find(|(left, right)| module.src.text_of(*left) == name && right.kind() == "subscript")
        .map(|(_, right)| module.src.text_of(right).to_string())
}

pub(crate) fn annotated_class_name(annotation: &str) -> Option<&str> {
    let mut t = annotation.trim().trim_matches(['"', '\'']).trim();
    for _ in 0..16 {
        if let Some(first) = split_top(t, '|').into_iter().find(|p| p.trim() != "None") {
            t = first.trim().trim_matches(['"', '\'']).trim();
        }
        let Some(open) = t.find('[') else { break };
        let head = t[..open].trim();
        let wrapper = matches!(
            head.rsplit('.').next().unwrap_or(head),
            "Optional" | "Annotated" | "Union" | "ClassVar" | "Final" | "Required" | "NotRequired"
                // `type[ChatRepository]`: the class itself, whose classmethods are called.
                | "type" | "Type"
        );
        if !wrapper {
            t = head;
            break;
        }
        let inner = t[open + 1..].strip_suffix(']').unwrap_or(&t[open + 1..]);
        let args = split_top(inner, ',');
        t = args
            .into_iter()
            .find(|a| a.trim() != "None")?
            .trim()
            .trim_matches(['"', '\''])
            .trim();
    }
    let valid = !t.is_empty()
        && t.split('.').all(|p| {
            p.chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
                && p.chars().all(|c| c.is_alphanumeric() || c == '_')
        });
    (valid && t != "None").then_some(t)
}

/// `s` split at `sep` outside brackets.
fn split_top(s: &str, sep: char) -> Vec<&str> {
    let mut depth = 0i32;
    let mut parts = Vec::new();
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '[' | '(' => depth += 1,
            ']' | ')' => depth -= 1,
            c if c == sep && depth == 0 => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn is_literal(value: Node) -> bool {
    matches!(
        value.kind(),
        "string" | "integer" | "float" | "true" | "false" | "none" | "concatenated_string"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::Sources;
    use crate::project::tests::project;

    #[test]
    fn bases_across_modules_and_attribute_types() {
        let dir = project(&[
            ("app/__init__.py", ""),
            (
                "app/base.py",
                "class Base:\n    def __repr__(self): return 'b'\nclass Plain:\n    pass\n",
            ),
            (
                "app/repo.py",
                "from sqlalchemy.ext.asyncio import AsyncSession\nfrom .base import Base, Plain\nclass Repo(Plain):\n    def __init__(self, session: AsyncSession, name):\n        self.session = session\n        self.name = name\n        self.retries = 3\n",
            ),
            (
                "app/service.py",
                "from typing import Optional\nfrom .repo import Repo\nfrom .base import Base\nclass Service(Base):\n    repo: Optional[Repo]\n    def __init__(self):\n        self.other = Repo(None, 'x')\n",
            ),
        ]);
        let sources = Sources::default();
        let index = Index::for_file(&sources, &dir.path().join("app/repo.py"));
        let def = |rel: &str, q: &str| Def {
            path: dir.path().join(rel),
            qualname: q.into(),
        };
        let repo = def("app/repo.py", "Repo");
        let service = def("app/service.py", "Service");
        assert_eq!(index.has_str(&repo), Some(false));
        assert_eq!(index.has_str(&service), Some(true));
        let session = index.attribute(&repo, "session").unwrap();
        assert_eq!(
            session.class,
            Some(Symbol::External(
                "sqlalchemy.ext.asyncio.AsyncSession".into()
            ))
        );
        assert_eq!(session.from_param.as_deref(), Some("session"));
        assert!(index.attribute(&repo, "retries").unwrap().constant);
        assert_eq!(
            index.attribute_type(&service, "repo"),
            Some(Symbol::Class(repo.clone()))
        );
        assert_eq!(
            index.attribute_type(&service, "other"),
            Some(Symbol::Class(repo))
        );
    }

    #[test]
    fn annotation_names() {
        for (text, want) in [
            ("UserRepo", Some("UserRepo")),
            ("Optional[repo.UserRepo]", Some("repo.UserRepo")),
            ("'UserRepo' | None", Some("UserRepo")),
            ("None | UserRepo", Some("UserRepo")),
            (
                "Annotated[AsyncSession, Depends(get_db)]",
                Some("AsyncSession"),
            ),
            ("Union[None, \"A\"]", Some("A")),
            ("list[User]", Some("list")),
            ("None", None),
        ] {
            assert_eq!(annotated_class_name(text), want, "{text}");
        }
    }

    #[test]
    fn decorated_and_library_classes() {
        let dir = project(&[(
            "m.py",
            "from dataclasses import dataclass\nfrom pydantic import BaseModel\nimport enum\n@dataclass\nclass D:\n    x: int\nclass M(BaseModel):\n    x: int\nclass E(enum.Enum):\n    A = 1\nclass Unknown(SomethingElse):\n    pass\n",
        )]);
        let sources = Sources::default();
        let index = Index::for_file(&sources, &dir.path().join("m.py"));
        let has = |q: &str| {
            index.has_str(&Def {
                path: dir.path().join("m.py"),
                qualname: q.into(),
            })
        };
        assert_eq!(has("D"), Some(true));
        assert_eq!(has("M"), Some(true));
        assert_eq!(has("E"), Some(true));
        assert_eq!(has("Unknown"), None);
    }
}
