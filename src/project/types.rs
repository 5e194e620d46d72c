//! The project class a local name holds, read off how it was bound: made
//! from a class (`repo = UserRepository(session)`), returned by a project
//! function (`manager = await get_user_manager(...)`, a provider whose
//! return annotation or `return UserManager(...)` says), or entered as a
//! context (`async with UserService.new(config) as users`, `async with
//! provide_services(provide_users, provide_roles) as (users, roles)`).
//! Purity follows calls on such a local; invalidation reads the data a
//! write through it changes.

use tree_sitter::Node;

use crate::function::Function;
use crate::module::Module;
use crate::project::Index;
use crate::project::resolve::{Def, Symbol};

/// How deep a provider may hand its class on (a provider returning a
/// provider's result).
const MAX_DEPTH: usize = 3;

/// Wrappers whose first argument is what the function hands out:
/// generators and context managers yield it, awaitables resolve to it.
const HANDED_OUT: &[&str] = &[
    "AsyncGenerator",
    "AsyncIterator",
    "AsyncIterable",
    "Generator",
    "Iterator",
    "Iterable",
    "Awaitable",
    "AbstractAsyncContextManager",
    "AsyncContextManager",
    "AbstractContextManager",
    "ContextManager",
];

impl<'p> Index<'p> {
    /// The project class `name`, a local of `f`, holds: from an assignment
    /// (its annotation or its value) or, with `entered`, a `with ... as
    /// name` in `f`'s body; nested functions included (a CLI command's
    /// inner coroutine).
    pub(crate) fn local_class(
        &self,
        module: &Module<'p>,
        f: &Function<'p>,
        name: &str,
        entered: bool,
    ) -> Option<Def> {
        let body = f.site.node.child_by_field_name("body")?;
        let mut stack = vec![body];
        while let Some(n) = stack.pop() {
            let found = match n.kind() {
                "assignment" => self.assigned_class(module, n, name),
                "with_item" if entered => self.entered_class(module, n, name),
                _ => None,
            };
            if found.is_some() {
                return found;
            }
            let mut cursor = n.walk();
            stack.extend(n.named_children(&mut cursor));
        }
        None
    }

    /// The class of `name` when it is a parameter of a function `f` is
    /// defined in (a dependency factory's `repository: PermissionRepository`
    /// its inner function uses), by its annotation.
    pub(crate) fn outer_param_class(
        &self,
        module: &Module<'p>,
        f: &Function<'p>,
        name: &str,
    ) -> Option<Def> {
        let param = crate::function::enclosing_param(module.src, f.site.node, name)?;
        match self.annotation_text_class(module, param.annotation.as_deref()?)? {
            Symbol::Class(c) => Some(c),
            _ => None,
        }
    }

    /// The class a project function returns or yields: its return
    /// annotation (through `AsyncIterator[...]` and the like, `Self`), else
    /// the class every `return`/`yield` of it constructs.
    fn returned_class(&self, def: &Def, depth: usize) -> Option<Def> {
        if depth > MAX_DEPTH {
            return None;
        }
        let m = self.module(&def.path)?;
        let site = m.function(&def.qualname)?;
        if let Some(annotation) = site.node.child_by_field_name("return_type") {
            let text = handed_out(m.src.text_of(annotation));
            if text.trim_matches(['"', '\'']) == "Self" {
                return crate::purity::class_of(m, &Function::new(m.src, site));
            }
            return match self.annotation_text_class(m, text)? {
                Symbol::Class(c) => Some(c),
                _ => None,
            };
        }
        let f = Function::new(m.src, site);
        let mut classes = f
            .body
            .returns
            .iter()
            .chain(&f.body.yields)
            .filter_map(|r| r.named_child(0))
            .map(|value| self.value_class(m, &f, value, depth + 1));
        let first = classes.next()??;
        classes.all(|c| c.as_ref() == Some(&first)).then_some(first)
    }

    /// `name = V` or `name: T = V`: the class T names, else V's.
    fn assigned_class(&self, module: &Module<'p>, assignment: Node<'p>, name: &str) -> Option<Def> {
        let left = assignment.child_by_field_name("left")?;
        if left.kind() != "identifier" || module.src.text_of(left) != name {
            return None;
        }
        if let Some(annotation) = assignment.child_by_field_name("type") {
            // A plain name may be imported in the function: resolved where it stands.
            let named = annotation
                .named_child(0)
                .filter(|n| matches!(n.kind(), "identifier" | "attribute"))
                .map(|n| self.resolve_node_in(module, n));
            if let Some(Symbol::Class(c)) =
                named.or_else(|| self.annotation_class(module, annotation))
            {
                return Some(c);
            }
        }
        self.call_class(
            module,
            unawaited(assignment.child_by_field_name("right")?),
            0,
        )
    }

    /// `with V as name` or `with V as (a, name)`.
    fn entered_class(&self, module: &Module<'p>, item: Node<'p>, name: &str) -> Option<Def> {
        let pattern = item
            .child_by_field_name("value")
            .filter(|v| v.kind() == "as_pattern")?;
        let context = pattern.named_child(0)?;
        let alias = pattern.child_by_field_name("alias")?;
        let target = alias.named_child(0).unwrap_or(alias);
        let text = |n: Node| module.src.text_of(n);
        if target.kind() == "identifier" {
            return (text(target) == name)
                .then(|| self.context_class(module, context))
                .flatten();
        }
        // `as (users, roles)`: the i-th value comes from the i-th provider passed.
        let mut cursor = target.walk();
        let position = target
            .named_children(&mut cursor)
            .position(|n| n.kind() == "identifier" && text(n) == name)?;
        let args = context.child_by_field_name("arguments")?;
        let mut cursor = args.walk();
        let provider = args
            .named_children(&mut cursor)
            .filter(|a| a.kind() != "keyword_argument")
            .nth(position)?;
        self.provider_class(module, provider)
    }

    /// The class a context manager's call enters: a project class
    /// (`__aenter__` hands the instance back), an alternative constructor
    /// of one from its library base (`UserService.new(...)`), or what a
    /// project function yields.
    fn context_class(&self, module: &Module<'p>, context: Node<'p>) -> Option<Def> {
        if let Some(found) = self.call_class(module, context, 0) {
            return Some(found);
        }
        let callee = context.child_by_field_name("function")?;
        let owner = callee
            .child_by_field_name("object")
            .filter(|_| callee.kind() == "attribute")?;
        match (
            self.resolve_node_in(module, owner),
            self.resolve_node_in(module, callee),
        ) {
            (Symbol::Class(c), Symbol::Unknown | Symbol::External(_)) => Some(c),
            _ => None,
        }
    }

    /// A provider passed by name (`deps.provide_users_service`), made at
    /// module level from a class (`create_service_provider(UserService,
    /// ...)`), or the class itself.
    fn provider_class(&self, module: &Module<'p>, provider: Node<'p>) -> Option<Def> {
        if let Symbol::Class(c) = self.resolve_node_in(module, provider) {
            return Some(c);
        }
        let (m, value) = self.variable(module, provider)?;
        if value.kind() != "call" {
            return None;
        }
        let args = value.child_by_field_name("arguments")?;
        let mut cursor = args.walk();
        let first = args.named_children(&mut cursor).next()?;
        match self.resolve_node_in(m, first) {
            Symbol::Class(c) => Some(c),
            _ => None,
        }
    }

    /// The module-level value a (dotted) name is bound to, through imports:
    /// `deps.provide_users_service` in `app/domain/accounts/deps.py`.
    pub(crate) fn variable(
        &self,
        module: &Module<'p>,
        node: Node<'p>,
    ) -> Option<(&Module<'p>, Node<'p>)> {
        let (head, name) = match (node.kind(), node.child_by_field_name("object")) {
            ("attribute", Some(object)) => (
                Some(object),
                module.src.text_of(node.child_by_field_name("attribute")?),
            ),
            ("identifier", _) => (None, module.src.text_of(node)),
            _ => return None,
        };
        let mut m: &Module<'p> = match head {
            Some(head) => match self.resolve_node_in(module, head) {
                Symbol::Module(file) => self.module(&file)?,
                _ => return None,
            },
            None => self.module(&module.src.path)?,
        };
        // Imported inside the function: the first hop is the function's import.
        let mut binding = (head.is_none()
            && !m.variables.contains_key(name)
            && !m.imports.bindings.contains_key(name))
        .then(|| crate::project::resolve::function_import(module, node, name))
        .flatten();
        for _ in 0..8 {
            if let Some(value) = m.variables.get(name).filter(|_| binding.is_none()) {
                return Some((m, *value));
            }
            let next = binding
                .take()
                .or_else(|| m.imports.bindings.get(name).cloned())?;
            let crate::imports::Binding::From {
                level,
                module: from,
                name: imported,
            } = &next
            else {
                return None;
            };
            if imported != name {
                return None;
            }
            let here = Index::key(&m.src.path);
            m = match self.resolve_module(&here, *level, from)? {
                crate::project::ModuleRef::File(file) => self.module(&file)?,
                crate::project::ModuleRef::Folder(_) => return None,
            };
        }
        None
    }

    /// The class a call's value is: the class called, or the one a project
    /// function called returns.
    fn call_class(&self, module: &Module<'p>, value: Node<'p>, depth: usize) -> Option<Def> {
        if value.kind() != "call" {
            return None;
        }
        match self.resolve_node_in(module, value.child_by_field_name("function")?) {
            Symbol::Class(c) => Some(c),
            Symbol::Function(def) => self.returned_class(&def, depth + 1),
            _ => None,
        }
    }

    /// A returned or yielded value's class: a call's, or a local's made in `f`.
    fn value_class(
        &self,
        m: &Module<'p>,
        f: &Function<'p>,
        value: Node<'p>,
        depth: usize,
    ) -> Option<Def> {
        let value = unawaited(value);
        match value.kind() {
            "call" => self.call_class(m, value, depth),
            "identifier" if depth <= MAX_DEPTH => {
                self.local_class(m, f, m.src.text_of(value), true)
            }
            _ => None,
        }
    }
}

/// `await x` -> `x`.
fn unawaited(node: Node) -> Node {
    if node.kind() == "await" {
        node.named_child(0).unwrap_or(node)
    } else {
        node
    }
}

/// `AsyncIterator[UserService]` -> `UserService`; other annotations as they are.
fn handed_out(annotation: &str) -> &str {
    let t = annotation.trim();
    let Some(open) = t.find('[') else {
        return t;
    };
    let head = t[..open].trim();
    if !HANDED_OUT.contains(&head.rsplit('.').next().unwrap_or(head)) {
        return t;
    }
    let inner = t[open + 1..].strip_suffix(']').unwrap_or(&t[open + 1..]);
    let end = inner
        .char_indices()
        .scan(0i32, |depth, (i, c)| {
            match c {
                '[' | '(' => *depth += 1,
                ']' | ')' => *depth -= 1,
                _ => {}
            }
            Some((i, c, *depth))
        })
        .find(|(_, c, depth)| *c == ',' && *depth == 0)
        .map_or(inner.len(), |(i, _, _)| i);
    inner[..end].trim()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::Sources;
    use crate::project::tests::project;

    const SERVICES: &str = "\
from contextlib import asynccontextmanager
from typing import AsyncIterator
from library import Base, create_service_provider

class UserService(Base):
    pass

class RoleService(Base):
    pass

class Manager:
    pass

def get_manager(repo):
    return Manager()

async def make_manager():
    manager = get_manager(None)
    return manager

@asynccontextmanager
async def users_context() -> AsyncIterator[UserService]:
    yield UserService()

provide_users = create_service_provider(UserService, load=[])
provide_roles = create_service_provider(RoleService)
";

    const CLI: &str = "\
from app import services
from library import provide_services, config

def command():
    # Imported where used, as CLI commands often do.
    from app.services import provide_users, UserService, get_manager, make_manager, users_context

    async def inner():
        async with provide_services(provide_users, services.provide_roles, session=None) as (users, roles):
            await users.create({})
        async with UserService.new(config=config) as fresh:
            await fresh.update({})
        async with users_context() as entered:
            pass
        manager = get_manager(1)
        later = await make_manager()
        typed: UserService = config.get()
        unknown = config.make()
    return inner
";

    #[test]
    fn locals_bound_by_calls_providers_and_contexts() {
        let dir = project(&[
            ("app/__init__.py", ""),
            ("app/services.py", SERVICES),
            ("app/cli.py", CLI),
        ]);
        let sources = Sources::default();
        let path = dir.path().join("app/cli.py");
        let index = Index::for_file(&sources, &path);
        let m = index.module(&path).unwrap();
        let f = Function::new(m.src, m.function("command").unwrap());
        let class = |name: &str| {
            index
                .local_class(m, &f, name, true)
                .map(|d| d.qualname)
                .unwrap_or_default()
        };
        assert_eq!(class("users"), "UserService");
        assert_eq!(class("roles"), "RoleService");
        assert_eq!(class("fresh"), "UserService");
        assert_eq!(class("entered"), "UserService");
        assert_eq!(class("manager"), "Manager");
        assert_eq!(class("later"), "Manager");
        assert_eq!(class("typed"), "UserService");
        assert_eq!(class("unknown"), "");
    }

    #[test]
    fn handed_out_unwraps_generators_and_contexts() {
        assert_eq!(handed_out("AsyncIterator[UserService]"), "UserService");
        assert_eq!(
            handed_out("typing.AsyncGenerator[Repo[User], None]"),
            "Repo[User]"
        );
        assert_eq!(handed_out("Optional[Repo]"), "Optional[Repo]");
    }
}
