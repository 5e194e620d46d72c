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
use crate::purity::args::{classify_statement, string_value};
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
        let (def, bound) = self.callee(module, f, scope, call)?;
        let here = Index::key(&module.src.path);
        let callee_module = if def.path == here {
            module
        } else {
            self.index.module(&def.path)?
        };
        let site = callee_module.function(&def.qualname)?;
        let callee = Function::new(callee_module.src, site);
        let summary = self.summary(callee_module, &callee, stack);
        let mapping = Mapping {
            src: module.src,
            scope,
            call,
            bound,
            binder: Binder::new(module.src, &callee, call, bound),
            step_path: self.shown(&callee_module.src.path),
            callee: &callee.qualname,
        };
        Some(mapping.apply(&summary))
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
                (self.index.resolve_name(module, name), Bound::Unbound)
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
                if let Some(value) = scope.locals.get(name) {
                    let constructed = value
                        .child_by_field_name("function")
                        .filter(|_| value.kind() == "call")
                        .map(|c| self.index.resolve_node(module, c))?;
                    return match constructed {
                        Symbol::Class(def) => Some((instance(def), Bound::Object(object))),
                        _ => None,
                    };
                }
                let symbol = self.index.resolve_name(module, name);
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

/// The class a method is defined in.
pub(crate) fn class_of(module: &Module, f: &Function) -> Option<Def> {
    let class = f.site.class?;
    let site = module.classes.iter().find(|c| c.node.id() == class.id())?;
    Some(Def {
        path: Index::key(&module.src.path),
        qualname: site.qualname.clone(),
    })
}

fn is_super_call(src: &SourceFile, node: Node) -> bool {
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
    fn new(
        src: &'t SourceFile,
        callee: &'c Function,
        call: Node<'t>,
        bound: Bound,
    ) -> Binder<'c, 't> {
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
                    "list_splat" => {
                        b.splat_at.get_or_insert(b.positional.len());
                    }
                    "dictionary_splat" => match a.named_child(0) {
                        Some(d) if d.kind() == "dictionary" => b.dict_splats.push(d),
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

/// `{"method": "POST"}["method"]`.
fn dict_value<'t>(src: &SourceFile, dict: Node<'t>, key: &str) -> Option<Node<'t>> {
    let mut cursor = dict.walk();
    let found = dict.named_children(&mut cursor).find(|pair| {
        pair.kind() == "pair"
            && pair
                .child_by_field_name("key")
                .and_then(|k| string_value(src, k))
                .is_some_and(|k| k == key)
    });
    found.and_then(|pair| pair.child_by_field_name("value"))
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
}

/// What a verb or a statement turned out to be.
enum Judged {
    Write,
    Read,
    Unknown,
    /// Still the caller's parameter.
    Param(String),
}

impl Mapping<'_, '_, '_> {
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
            Cond::Verb(p) => match self.judge(p, verb) {
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
            Cond::Sql(p) => match self.judge(p, sql) {
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

    /// Judges the argument for parameter `p` with `judge` (a verb or a statement).
    fn judge(&self, p: &str, judge: fn(&SourceFile, Node) -> Option<bool>) -> Judged {
        let verdict = |v: Option<bool>| match v {
            Some(true) => Judged::Write,
            Some(false) => Judged::Read,
            None => Judged::Unknown,
        };
        match self.binder.arg(p) {
            Arg::Given(node) => {
                if node.kind() == "identifier" {
                    let name = self.src.text_of(node);
                    if self.scope.is_param(name) {
                        return Judged::Param(name.to_string());
                    }
                    if let Some(value) = self.scope.locals.get(name) {
                        return verdict(judge(self.src, *value));
                    }
                }
                verdict(judge(self.src, node))
            }
            Arg::Default(Some(text)) => verdict(verb_text(&text)),
            Arg::Default(None) | Arg::Unknown => Judged::Unknown,
        }
    }
}

/// Some(true) for POST/PUT/PATCH/DELETE, Some(false) for GET/HEAD/OPTIONS:
/// a string, or an enum member or constant named for it (`HttpMethod.POST`,
/// `hdrs.METH_GET`).
fn verb(src: &SourceFile, node: Node) -> Option<bool> {
    match node.kind() {
        "string" => verb_text(&string_value(src, node)?),
        "attribute" => verb_text(src.text_of(node.child_by_field_name("attribute")?)),
        _ => None,
    }
}

fn verb_text(text: &str) -> Option<bool> {
    let word = text
        .trim_matches(['"', '\''])
        .trim_start_matches("METH_")
        .to_ascii_uppercase();
    match word.as_str() {
        "POST" | "PUT" | "PATCH" | "DELETE" => Some(true),
        "GET" | "HEAD" | "OPTIONS" => Some(false),
        _ => None,
    }
}

fn sql(src: &SourceFile, node: Node) -> Option<bool> {
    classify_statement(src, node)
}
