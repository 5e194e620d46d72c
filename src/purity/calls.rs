//! Calls followed into the project: module functions, imported functions,
//! `self.method()`, `super().method()`, `self.attr.method()` and
//! `param.method()` when the type is known, constructors, class and static
//! methods, module-level objects. The callee's summary is mapped onto the
//! call: a mutation of a parameter becomes a mutation of what the caller
//! passed, an HTTP method or an SQL statement taken from a parameter is
//! judged by the caller's argument.

use std::collections::BTreeMap;

use tree_sitter::Node;

use crate::catalogue::Severity;
use crate::function::{FnKind, Function, Param, ParamKind};
use crate::module::Module;
use crate::project::Index;
use crate::project::effects::{Cond, Effect, FnKey, Found, Holder, Step, Summary};
use crate::project::resolve::{Def, Symbol};
use crate::purity::args::{chain_root, classify_statement, dict_value, verb_of, verb_text};
use crate::purity::body::{Analyser, first_line};
use crate::purity::scope::Scope;
use crate::source::{SourceFile, line_of};

/// What a method call is bound to.
#[derive(Clone, Copy)]
enum Bound<'t> {
    /// A plain function, or a method called through its class.
    Unbound,
    /// `obj.method()`: the receiver is `obj`.
    Object(Node<'t>),
    /// A constructor: the receiver is the new object.
    Fresh,
}

/// An argument as the callee's parameter sees it.
enum Arg<'t> {
    Given(Node<'t>),
    /// Not passed: the parameter's default, as written.
    Default(Option<String>),
    /// Passed in a way that cannot be read (`*args`, `**kwargs`).
    Unknown,
}

impl<'p> Analyser<'_, 'p> {
    /// The callee's summary mapped onto this call, when the callee is a
    /// function of the project; None otherwise (the catalogue judges it).
    pub(crate) fn follow(
        &self,
        module: &Module<'p>,
        f: &Function<'p>,
        scope: &Scope<'_, 'p>,
        call: Node<'p>,
        stack: &mut Vec<FnKey>,
    ) -> Option<Summary> {
        if let Some(table) = self.dispatched(module, scope, call) {
            // Any entry may run: together they are what the call does.
            let mut out = Summary::default();
            for def in table {
                if let Some(one) =
                    self.follow_to(module, f, scope, call, stack, (def, Bound::Unbound))
                {
                    out.found.extend(one.found);
                    out.reads.extend(one.reads);
                    out.reached.extend(one.reached);
                }
            }
            return Some(out);
        }
        let target = self.callee(module, f, scope, call)?;
        self.follow_to(module, f, scope, call, stack, target)
    }

    /// A call through a dispatch table of project functions:
    /// `levels = {0: show_cart, 1: checkout}`, then `levels[level](...)` or
    /// `handler = levels[level]; await handler(**kwargs)`.
    fn dispatched(
        &self,
        module: &Module<'p>,
        scope: &Scope<'_, 'p>,
        call: Node<'p>,
    ) -> Option<Vec<Def>> {
        // The node itself, or the value of the local it names.
        let as_kind = |node: Node<'p>, kind: &str| -> Option<Node<'p>> {
            if node.kind() == kind {
                return Some(node);
            }
            let local = scope.locals.get(module.src.text_of(node)).copied();
            local.filter(|v| node.kind() == "identifier" && v.kind() == kind)
        };
        let picked = as_kind(call.child_by_field_name("function")?, "subscript")?;
        let table = as_kind(picked.child_by_field_name("value")?, "dictionary")?;
        let mut cursor = table.walk();
        let defs: Vec<Def> = table
            .named_children(&mut cursor)
            .filter_map(|pair| pair.child_by_field_name("value"))
            .filter_map(|v| match self.index.resolve_node_in(module, v) {
                Symbol::Function(def) => Some(def),
                _ => None,
            })
            .collect();
        (!defs.is_empty()).then_some(defs)
    }

    /// The summary of `target`, the function `call` reaches, mapped onto the call.
    fn follow_to(
        &self,
        module: &Module<'p>,
        f: &Function<'p>,
        scope: &Scope<'_, 'p>,
        call: Node<'p>,
        stack: &mut Vec<FnKey>,
        (def, bound): (Def, Bound<'p>),
    ) -> Option<Summary> {
        let callee_module = self.index.module_of(module, &def.path)?;
        let site = callee_module.function(&def.qualname)?;
        let callee = Function::new(callee_module.src, site);
        if is_stub(callee_module.src, &callee) {
            return None; // an abstract method or a Protocol's: judged by its name
        }
        let summary = self.summary(callee_module, &callee, stack);
        let builds_select = |n: Node<'p>| self.builds_select(module, f, scope, n);
        let mapping = Mapping {
            src: module.src,
            scope,
            call,
            bound,
            binder: Binder::new(module.src, &callee, call, bound, f),
            step_path: self.shown(&callee_module.src.path),
            callee: &callee.qualname,
            builds_select: &builds_select,
        };
        let mut mapped = mapping.apply(&summary);
        mapped.reached = std::iter::once(def)
            .chain(summary.reached.iter().cloned())
            .collect();
        Some(mapped)
    }

    /// A path as effects show it: relative to the project root.
    fn shown(&self, path: &std::path::Path) -> String {
        let absolute = Index::key(path);
        absolute
            .strip_prefix(&self.index.root)
            .unwrap_or(&absolute)
            .to_string_lossy()
            .replace('\\', "/")
    }

    /// A call of a project function annotated to return a query it builds
    /// (`-> Select`): the statement handed on is a read.
    fn builds_select(
        &self,
        module: &Module<'p>,
        f: &Function<'p>,
        scope: &Scope<'_, 'p>,
        call: Node<'p>,
    ) -> bool {
        if call.kind() != "call" {
            return false;
        }
        let Some((def, _)) = self.callee(module, f, scope, call) else {
            return false;
        };
        let Some(m) = self.index.module_of(module, &def.path) else {
            return false;
        };
        m.function(&def.qualname)
            .and_then(|site| site.node.child_by_field_name("return_type"))
            .map(|t| {
                m.src
                    .text_of(t)
                    .trim_matches(['"', '\''])
                    .rsplit('.')
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
            .is_some_and(|t| matches!(t.as_str(), "Select" | "Query"))
    }

    /// The project function a call reaches, and what it is bound to.
    fn callee(
        &self,
        module: &Module<'p>,
        f: &Function<'p>,
        scope: &Scope<'_, 'p>,
        call: Node<'p>,
    ) -> Option<(Def, Bound<'p>)> {
        let src = module.src;
        let callee = call.child_by_field_name("function")?;
        let found = match callee.kind() {
            "identifier" => {
                let name = src.text_of(callee);
                if scope.is_param(name)
                    || scope.locals.contains_key(name)
                    || scope.receiver.as_deref() == Some(name)
                {
                    return None; // a callback or a local function
                }
                (self.index.resolve_node_in(module, callee), Bound::Unbound)
            }
            "attribute" => {
                let object = callee.child_by_field_name("object")?;
                let method = src.text_of(callee.child_by_field_name("attribute")?);
                if is_super_call(src, object) {
                    let class = class_of(module, f)?;
                    let found = self.index.mro(&class).iter().skip(1).find_map(|c| {
                        let qualname = format!("{}.{method}", c.def.qualname);
                        let m = self.index.module(&c.def.path)?;
                        m.function(&qualname).map(|_| Def {
                            path: c.def.path.clone(),
                            qualname,
                        })
                    })?;
                    return Some((found, Bound::Object(object)));
                }
                let (owner, bound) = self.object_symbol(module, f, scope, object)?;
                (self.index.member(&owner, method), bound)
            }
            _ => return None,
        };
        match found {
            (Symbol::Function(def), bound) => Some((def, bound)),
            (Symbol::Class(def), _) => match self.index.member(&Symbol::Class(def), "__init__") {
                Symbol::Function(init) => Some((init, Bound::Fresh)),
                _ => None,
            },
            _ => None,
        }
    }

    /// What the object of `object.method()` is, and how the method binds.
    fn object_symbol(
        &self,
        module: &Module<'p>,
        f: &Function<'p>,
        scope: &Scope<'_, 'p>,
        object: Node<'p>,
    ) -> Option<(Symbol, Bound<'p>)> {
        let src = module.src;
        let instance = |def: Def| Symbol::Instance(Box::new(Symbol::Class(def)));
        match object.kind() {
            "identifier" => {
                let name = src.text_of(object);
                if scope.receiver.as_deref() == Some(name) {
                    let class = class_of(module, f)?;
                    return Some((instance(class), Bound::Object(object)));
                }
                if scope.is_param(name) {
                    let annotation = f.param(name)?.annotation.as_deref()?;
                    let class = self.index.annotation_text_class(module, annotation)?;
                    return Some((Symbol::Instance(Box::new(class)), Bound::Object(object)));
                }
                // A local made from a class or handed back by a provider; in
                // an inner function, its maker's annotated parameter.
                let local = scope.locals.contains_key(name);
                let bound = if local || (self.entered && scope.entered(name)) {
                    self.index.local_class(module, f, name, self.entered)
                } else {
                    None
                }
                .or_else(|| {
                    (!local)
                        .then(|| self.index.outer_param_class(module, f, name))
                        .flatten()
                });
                if let Some(def) = bound {
                    return Some((instance(def), Bound::Object(object)));
                }
                if local {
                    return None;
                }
                let symbol = self.index.resolve_node_in(module, object);
                let bound = match symbol {
                    Symbol::Instance(_) => Bound::Object(object),
                    _ => Bound::Unbound,
                };
                Some((symbol, bound))
            }
            "attribute" => {
                let inner = object.child_by_field_name("object")?;
                let attr = src.text_of(object.child_by_field_name("attribute")?);
                let (owner, _) = self.object_symbol(module, f, scope, inner)?;
                let symbol = self.index.member(&owner, attr);
                let bound = match symbol {
                    Symbol::Instance(_) => Bound::Object(object),
                    _ => Bound::Unbound,
                };
                Some((symbol, bound))
            }
            _ => None,
        }
    }
}

/// The project function a call reaches and the parameter `arg` (one of the
/// call's arguments, or a keyword argument's value) lands in there: what key
/// design follows to learn how a value passed on is used.
pub(crate) fn argument_target<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    f: &Function<'p>,
    call: Node<'p>,
    arg: Node<'p>,
) -> Option<(Def, String)> {
    bound_call(index, module, f, call, |def, callee, binder| {
        let param = callee
            .params
            .iter()
            .find(|p| matches!(binder.arg(&p.name), Arg::Given(n) if n.id() == arg.id()))?;
        Some((def, param.name.clone()))
    })
}

/// The argument a call passes for `def`'s parameter `param`, when the call
/// reaches `def`: the inverse of `argument_target`, for invalidation to
/// learn what callers hand a generic helper.
pub(crate) fn argument_for<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    f: &Function<'p>,
    call: Node<'p>,
    def: &Def,
    param: &str,
) -> Option<Node<'p>> {
    bound_call(index, module, f, call, |reached, _, binder| {
        match (&reached == def, binder.arg(param)) {
            (true, Arg::Given(n)) => Some(n),
            _ => None,
        }
    })
}

/// The project function `call` reaches, with how its arguments bind to
/// its parameters, handed to `then`.
fn bound_call<'p, T>(
    index: &Index<'p>,
    module: &Module<'p>,
    f: &Function<'p>,
    call: Node<'p>,
    then: impl FnOnce(Def, &Function<'p>, &Binder<'_, 'p>) -> Option<T>,
) -> Option<T> {
    let analyser = Analyser {
        index,
        patterns: &[],
        entered: false,
    };
    let scope = Scope::new(module.src, f);
    let (def, bound) = analyser.callee(module, f, &scope, call)?;
    let callee_module = index.module_of(module, &def.path)?;
    let callee = Function::new(callee_module.src, callee_module.function(&def.qualname)?);
    let binder = Binder::new(module.src, &callee, call, bound, f);
    then(def, &callee, &binder)
}

/// The project function (or constructor) a call reaches, as purity
/// resolves it.
pub(crate) fn called<'p>(
    index: &Index<'p>,
    module: &Module<'p>,
    f: &Function<'p>,
    call: Node<'p>,
) -> Option<Def> {
    let analyser = Analyser {
        index,
        patterns: &[],
        entered: false,
    };
    let scope = Scope::new(module.src, f);
    analyser.callee(module, f, &scope, call).map(|(def, _)| def)
}

/// The class a method is defined in.
pub(crate) fn class_of(module: &Module, f: &Function) -> Option<Def> {
    let class = f.site.class?;
    let site = module.classes.iter().find(|c| c.node.id() == class.id())?;
    Some(Def {
        path: Index::key(&module.src.path),
        qualname: site.qualname.clone(),
    })
}

/// A body with nothing to read: `...`, `pass`, a docstring, `raise
/// NotImplementedError`, or an `@abstractmethod`.
fn is_stub(src: &SourceFile, f: &Function) -> bool {
    if f.has_decorator(&["abstractmethod", "abc.abstractmethod"]) {
        return true;
    }
    let Some(body) = f.site.node.child_by_field_name("body") else {
        return true;
    };
    let mut cursor = body.walk();
    body.named_children(&mut cursor)
        .all(|stmt| match stmt.kind() {
            "pass_statement" | "comment" => true,
            "expression_statement" => stmt
                .named_child(0)
                .is_some_and(|e| matches!(e.kind(), "ellipsis" | "string")),
            "raise_statement" => src.text_of(stmt).contains("NotImplementedError"),
            _ => false,
        })
}

pub(super) fn is_super_call(src: &SourceFile, node: Node) -> bool {
    node.kind() == "call"
        && node
            .child_by_field_name("function")
            .is_some_and(|f| src.text_of(f) == "super")
}

/// Matches a callee's parameters to one call's arguments.
struct Binder<'c, 't> {
    params: Vec<&'c Param>,
    positional: Vec<Node<'t>>,
    keywords: BTreeMap<String, Node<'t>>,
    /// `*args` before the end: positions cannot be trusted past it.
    splat_at: Option<usize>,
    /// `**{...}` with literal keys.
    dict_splats: Vec<Node<'t>>,
    has_kwargs_splat: bool,
    src: &'t SourceFile,
}

impl<'c, 't> Binder<'c, 't> {
    /// `caller`'s own `*args` / `**kwargs` passed on hide nothing the call
    /// itself says: a parameter they would carry takes its default.
    fn new(
        src: &'t SourceFile,
        callee: &'c Function,
        call: Node<'t>,
        bound: Bound,
        caller: &Function,
    ) -> Binder<'c, 't> {
        let forwarded = |node: Option<Node>, kind: ParamKind| {
            node.filter(|n| n.kind() == "identifier")
                .and_then(|n| caller.param(src.text_of(n)))
                .is_some_and(|p| p.kind == kind)
        };
        let skip_receiver = !matches!(bound, Bound::Unbound) || callee.kind == FnKind::ClassMethod;
        let params = callee
            .params
            .iter()
            .filter(|p| !(skip_receiver && p.kind == ParamKind::Receiver))
            .collect();
        let mut b = Binder {
            params,
            positional: Vec::new(),
            keywords: BTreeMap::new(),
            splat_at: None,
            dict_splats: Vec::new(),
            has_kwargs_splat: false,
            src,
        };
        if let Some(args) = call.child_by_field_name("arguments") {
            let mut cursor = args.walk();
            for a in args.named_children(&mut cursor) {
                match a.kind() {
                    "keyword_argument" => {
                        if let (Some(n), Some(v)) = (
                            a.child_by_field_name("name"),
                            a.child_by_field_name("value"),
                        ) {
                            b.keywords.insert(src.text_of(n).to_string(), v);
                        }
                    }
                    "list_splat" if forwarded(a.named_child(0), ParamKind::Args) => {}
                    "list_splat" => {
                        b.splat_at.get_or_insert(b.positional.len());
                    }
                    "dictionary_splat" => match a.named_child(0) {
                        Some(d) if d.kind() == "dictionary" => b.dict_splats.push(d),
                        d if forwarded(d, ParamKind::Kwargs) => {}
                        _ => b.has_kwargs_splat = true,
                    },
                    "comment" => {}
                    _ => b.positional.push(a),
                }
            }
        }
        b
    }

    fn arg(&self, name: &str) -> Arg<'t> {
        if let Some(v) = self.keywords.get(name) {
            return Arg::Given(*v);
        }
        for d in &self.dict_splats {
            if let Some(v) = dict_value(self.src, *d, name) {
                return Arg::Given(v);
            }
        }
        let Some(index) = self.params.iter().position(|p| p.name == name) else {
            return Arg::Unknown;
        };
        let param = self.params[index];
        if matches!(param.kind, ParamKind::Args | ParamKind::Kwargs) {
            return Arg::Unknown;
        }
        if self.splat_at.is_some_and(|s| s <= index) {
            return Arg::Unknown;
        }
        match self.positional.get(index) {
            Some(v) => Arg::Given(*v),
            None if self.has_kwargs_splat || self.splat_at.is_some() => Arg::Unknown,
            None => Arg::Default(param.default.clone()),
        }
    }
}

/// One call's view of its callee's summary.
struct Mapping<'a, 'c, 't> {
    src: &'t SourceFile,
    scope: &'a Scope<'a, 't>,
    call: Node<'t>,
    bound: Bound<'t>,
    binder: Binder<'c, 't>,
    step_path: String,
    callee: &'a str,
    /// Whether a call in the caller builds a read statement (`builds_select`).
    builds_select: &'a dyn Fn(Node<'t>) -> bool,
}

/// What a verb or a statement turned out to be.
enum Judged {
    Write,
    Read,
    Unknown,
    /// Still the caller's parameter.
    Param(String),
}

impl<'t> Mapping<'_, '_, 't> {
    fn apply(&self, summary: &Summary) -> Summary {
        let mut out = Summary::default();
        for found in &summary.found {
            match self.map(found) {
                Some(Ok(f)) => out.found.push(f),
                Some(Err(read)) => out.reads.push(read),
                None => {}
            }
        }
        out.reads.extend(summary.reads.iter().map(|r| self.wrap(r)));
        out.found.dedup();
        out
    }

    /// The effect at the call, with the callee's step in front of its chain.
    fn wrap(&self, effect: &Effect) -> Effect {
        let mut via = vec![Step {
            path: self.step_path.clone(),
            line: effect.line,
            code: effect.code.clone(),
            function: self.callee.to_string(),
        }];
        via.extend(effect.via.iter().cloned());
        Effect {
            category: effect.category.clone(),
            severity: effect.severity,
            line: line_of(self.call),
            code: first_line(self.src.text_of(self.call)),
            note: effect.note.clone(),
            via,
        }
    }

    /// Some(Ok) an effect for the caller, Some(Err) a read, None nothing.
    fn map(&self, found: &Found) -> Option<Result<Found, Effect>> {
        let effect = self.wrap(&found.effect);
        let keep = |effect: Effect, condition| Some(Ok(Found { effect, condition }));
        match &found.condition {
            Cond::Always => keep(effect, Cond::Always),
            Cond::Mutates(Holder::Receiver) => match self.bound {
                Bound::Object(node) => self.mutation(effect, node),
                Bound::Unbound | Bound::Fresh => None,
            },
            Cond::Mutates(Holder::Param(p)) => match self.binder.arg(p) {
                Arg::Given(node) => self.mutation(effect, node),
                Arg::Default(_) | Arg::Unknown => None,
            },
            Cond::Verb(p) => match self.judge(p, verb_of, verb_text) {
                Judged::Write => keep(
                    Effect {
                        category: "network_write".into(),
                        severity: Severity::Block.as_str(),
                        note: format!(
                            "an HTTP write through {}(): the method passed is a write",
                            self.callee
                        ),
                        ..effect
                    },
                    Cond::Always,
                ),
                Judged::Read => Some(Err(Effect {
                    category: "external_read".into(),
                    severity: Severity::Read.as_str(),
                    ..effect
                })),
                Judged::Unknown => keep(effect, Cond::Always),
                Judged::Param(q) => keep(effect, Cond::Verb(q)),
            },
            Cond::Sql(p) => match self.judge(p, sql, |_| None) {
                Judged::Write => keep(
                    Effect {
                        category: "db_write".into(),
                        severity: Severity::Block.as_str(),
                        note: format!("the SQL passed to {}() writes", self.callee),
                        ..effect
                    },
                    Cond::Always,
                ),
                Judged::Read => Some(Err(Effect {
                    category: "db_read".into(),
                    severity: Severity::Read.as_str(),
                    ..effect
                })),
                Judged::Unknown => keep(effect, Cond::Always),
                Judged::Param(q) => keep(effect, Cond::Sql(q)),
            },
        }
    }

    /// A mutation of what `node` refers to in the caller.
    fn mutation(&self, effect: Effect, node: Node) -> Option<Result<Found, Effect>> {
        let what = first_line(self.src.text_of(node));
        let (category, note, condition) = match self.scope.holder_of(node)? {
            Ok(Holder::Receiver) => (
                "global_write",
                format!("changes `{what}` (instance state) in {}()", self.callee),
                Cond::Mutates(Holder::Receiver),
            ),
            Ok(Holder::Param(q)) => (
                "argument_mutation",
                format!("changes the argument `{what}` in {}()", self.callee),
                Cond::Mutates(Holder::Param(q)),
            ),
            Err(_) => (
                "global_write",
                format!("changes module state `{what}` in {}()", self.callee),
                Cond::Always,
            ),
        };
        Some(Ok(Found {
            effect: Effect {
                category: category.into(),
                note,
                ..effect
            },
            condition,
        }))
    }

    /// Judges the argument for parameter `p` with `judge` (a verb or a
    /// statement), a default's text with `default`. A local is followed to
    /// what was assigned to it, down to a parameter of the caller.
    fn judge(
        &self,
        p: &str,
        judge: fn(&SourceFile, Node) -> Option<bool>,
        default: fn(&str) -> Option<bool>,
    ) -> Judged {
        match self.binder.arg(p) {
            Arg::Given(node) => self.judge_node(node, judge, &mut Vec::new()),
            Arg::Default(Some(text)) => verdict(default(&text)),
            Arg::Default(None) | Arg::Unknown => Judged::Unknown,
        }
    }

    /// Each local is followed once: `q = q.where(...)` assigned many times
    /// would otherwise branch at every assignment (exponential in their number).
    fn judge_node(
        &self,
        node: Node<'t>,
        judge: fn(&SourceFile, Node) -> Option<bool>,
        seen: &mut Vec<String>,
    ) -> Judged {
        if let Some(v) = judge(self.src, node) {
            return verdict(Some(v));
        }
        if (self.builds_select)(node) {
            return Judged::Read;
        }
        let Some(root) = chain_root(self.src, node) else {
            return Judged::Unknown;
        };
        if self.scope.is_param(root) {
            return Judged::Param(root.to_string());
        }
        if seen.iter().any(|s| s == root) {
            return Judged::Unknown;
        }
        seen.push(root.to_string());
        let Some(values) = self.scope.assigned.get(root) else {
            return Judged::Unknown;
        };
        let judged: Vec<Judged> = values
            .iter()
            .filter(|v| v.id() != node.id())
            .map(|v| self.judge_node(*v, judge, seen))
            .collect();
        if judged.iter().any(|j| matches!(j, Judged::Write)) {
            Judged::Write
        } else if let Some(Judged::Param(p)) = judged.iter().find(|j| matches!(j, Judged::Param(_)))
        {
            Judged::Param(p.clone())
        } else if judged.iter().any(|j| matches!(j, Judged::Read)) {
            Judged::Read
        } else {
            Judged::Unknown
        }
    }
}

fn verdict(v: Option<bool>) -> Judged {
    match v {
        Some(true) => Judged::Write,
        Some(false) => Judged::Read,
        None => Judged::Unknown,
    }
}

fn sql(src: &SourceFile, node: Node) -> Option<bool> {
    classify_statement(src, node)
}
