//! Effect summaries: what each function of the project does, computed once
//! by `purity` and kept here so every caller reuses it.

use std::sync::Arc;

use serde::Serialize;

use crate::module::Module;
use crate::project::Index;

/// One effect, where the analysed function shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct Effect {
    pub(crate) category: String,
    pub(crate) severity: &'static str,
    pub(crate) line: usize,
    pub(crate) code: String,
    pub(crate) note: String,
    /// The call chain from `line` to the effect, outermost first, when the
    /// effect sits in a helper: each step's file, line and code.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) via: Vec<Step>,
}

impl Effect {
    /// ` -> app/repo.py:88 `session.commit()``: the chain, for messages.
    pub(crate) fn chain(&self) -> String {
        self.via
            .iter()
            .map(|s| format!(" -> {}:{} `{}`", s.path, s.line, s.code))
            .collect()
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct Step {
    pub(crate) path: String,
    pub(crate) line: usize,
    pub(crate) code: String,
    /// The qualified name of the function `line` is in (in `path`).
    #[serde(skip)]
    pub(crate) function: String,
}

/// Whose state a mutation changes, in terms the caller can map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Holder {
    /// The object passed as this parameter.
    Param(String),
    /// The instance (or class) the method is called on.
    Receiver,
}

/// When an effect in a summary happens, seen from the function's callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cond {
    Always,
    /// Changes the object `Holder` refers to: an effect only when the
    /// caller passes something that outlives the call.
    Mutates(Holder),
    /// An HTTP request whose method is this parameter's value: a write when
    /// a caller passes `POST`, a read for `GET`.
    Verb(String),
    /// An SQL statement taken from this parameter: a write when a caller
    /// passes `INSERT ...`, a read for `SELECT ...`.
    Sql(String),
}

/// An effect of a summary with its condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) effect: Effect,
    pub(crate) condition: Cond,
}

/// What a function does, its helpers included.
#[derive(Debug, Default)]
pub(crate) struct Summary {
    pub(crate) found: Vec<Found>,
    /// Reads (not effects): they steer the decision (failover for HTTP reads).
    pub(crate) reads: Vec<Effect>,
    /// Every project function the calls reach, helpers of helpers included:
    /// what the invalidation analysis asks which data they touch.
    pub(crate) reached: Vec<crate::project::resolve::Def>,
}

/// Identifies a function across the run: its module (by address: each
/// parsed version is its own) and its qualified name.
/// A function's source file, qualname, and whether `async with`-entered
/// objects were followed (two summaries of one function).
pub(crate) type FnKey = (usize, String, bool);

pub(crate) fn fn_key(module: &Module, qualname: &str, entered: bool) -> FnKey {
    (
        std::ptr::from_ref(module.src) as usize,
        qualname.to_string(),
        entered,
    )
}

impl Index<'_> {
    pub(crate) fn summary(&self, key: &FnKey) -> Option<Arc<Summary>> {
        self.summaries
            .lock()
            .expect("no panics while held")
            .get(key)
            .cloned()
    }

    pub(crate) fn remember(&self, key: FnKey, summary: Arc<Summary>) {
        self.summaries
            .lock()
            .expect("no panics while held")
            .insert(key, summary);
    }
}
