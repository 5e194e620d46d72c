//! The project's import-sorting and line-length settings, read the way ruff
//! and isort read them, so that the lines the tool adds pass the project's
//! own `ruff check --select I,E501` and `ruff format`: which section a
//! module belongs to, and where a new import goes within it.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// Top-level modules of the standard library (data/stdlib_modules.txt).
const STDLIB: &str = include_str!("../data/stdlib_modules.txt");

/// Black's, ruff's and ruff-format's default line length.
const DEFAULT_LINE_LENGTH: usize = 88;

/// isort's sections in the order ruff and isort write them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Section {
    Future,
    Stdlib,
    ThirdParty,
    FirstParty,
    LocalFolder,
}

/// The settings that decide where an import goes and how long a line may be.
#[derive(Debug, Clone)]
pub(crate) struct Style {
    known_first_party: Vec<String>,
    known_third_party: Vec<String>,
    extra_standard_library: Vec<String>,
    /// One name per `from` import: never merge into an existing one.
    pub(crate) force_single_line: bool,
    force_sort_within_sections: bool,
    from_first: bool,
    /// Where first-party modules live (ruff's `src`, isort's `src_paths`).
    import_roots: Vec<PathBuf>,
    /// The maximum line length (ruff's or black's `line-length`).
    pub(crate) line_length: usize,
}

impl Default for Style {
    fn default() -> Style {
        Style {
            known_first_party: Vec::new(),
            known_third_party: Vec::new(),
            extra_standard_library: Vec::new(),
            force_single_line: false,
            force_sort_within_sections: false,
            from_first: false,
            import_roots: Vec::new(),
            line_length: DEFAULT_LINE_LENGTH,
        }
    }
}

/// One import statement, as far as sorting is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImportLine {
    /// Leading dots of a relative `from` import.
    pub(crate) level: usize,
    pub(crate) module: String,
    /// `import module as alias`.
    pub(crate) alias: Option<String>,
    /// `from module import name [as alias]`: the (first) imported name.
    pub(crate) member: Option<(String, Option<String>)>,
}

impl ImportLine {
    pub(crate) fn module(module: &str, alias: Option<&str>) -> ImportLine {
        ImportLine {
            level: 0,
            module: module.to_string(),
            alias: alias.map(str::to_string),
            member: None,
        }
    }

    pub(crate) fn from(module: &str, name: &str, alias: Option<&str>) -> ImportLine {
        let level = module.chars().take_while(|c| *c == '.').count();
        ImportLine {
            level,
            module: module[level..].to_string(),
            alias: None,
            member: Some((name.to_string(), alias.map(str::to_string))),
        }
    }

    pub(crate) fn text(&self) -> String {
        let as_ = |a: &Option<String>| a.as_ref().map_or(String::new(), |a| format!(" as {a}"));
        match &self.member {
            None => format!("import {}{}", self.module, as_(&self.alias)),
            Some((name, alias)) => format!(
                "from {}{} import {name}{}",
                ".".repeat(self.level),
                self.module,
                as_(alias)
            ),
        }
    }

    /// Reads back a line `text()` wrote (one statement, one name).
    pub(crate) fn parse(line: &str) -> Option<ImportLine> {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["import", m] => Some(ImportLine::module(m, None)),
            ["import", m, "as", a] => Some(ImportLine::module(m, Some(a))),
            ["from", m, "import", n] => Some(ImportLine::from(m, n, None)),
            ["from", m, "import", n, "as", a] => Some(ImportLine::from(m, n, Some(a))),
            _ => None,
        }
    }
}

/// The order ruff gives import statements in one block (its `ModuleKey`).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct SortKey {
    pub(crate) section: Section,
    /// `import x` before `from x import y` unless sorted by module only.
    style: u8,
    /// Farther relative imports first.
    level: std::cmp::Reverse<usize>,
    lower: Natural,
    name: Natural,
    member: Option<(u8, Natural, Natural, Option<Natural>)>,
    alias: Option<Natural>,
}

impl Style {
    pub(crate) fn section(&self, line: &ImportLine) -> Section {
        let base = line.module.split('.').next().unwrap_or_default();
        if line.level == 0 && base == "__future__" {
            return Section::Future;
        }
        if line.level > 0 {
            return Section::LocalFolder;
        }
        let known = |list: &[String]| list.iter().any(|k| matches_module(k, &line.module));
        if known(&self.known_first_party) {
            Section::FirstParty
        } else if known(&self.known_third_party) {
            Section::ThirdParty
        } else if known(&self.extra_standard_library) || is_stdlib(base) {
            Section::Stdlib
        } else if self.import_roots.iter().any(|r| holds_module(r, base)) {
            Section::FirstParty
        } else {
            Section::ThirdParty
        }
    }

    pub(crate) fn key(&self, line: &ImportLine) -> SortKey {
        let from = line.member.is_some();
        let style = match (self.force_sort_within_sections, self.from_first, from) {
            (true, _, _) => 0,
            (false, first, from) => u8::from(from != first),
        };
        SortKey {
            section: self.section(line),
            style,
            level: std::cmp::Reverse(line.level),
            lower: Natural(line.module.to_lowercase()),
            name: Natural(line.module.clone()),
            member: line.member.as_ref().map(|(n, a)| {
                (
                    member_type(n),
                    Natural(n.to_lowercase()),
                    Natural(n.clone()),
                    a.clone().map(Natural),
                )
            }),
            alias: line.alias.clone().map(Natural),
        }
    }
}

/// ruff's `order-by-type`: CONSTANTS, then Classes, then variables.
fn member_type(name: &str) -> u8 {
    let cased = name.chars().any(char::is_alphabetic);
    if name.len() > 1 && cased && !name.chars().any(char::is_lowercase) {
        0
    } else if name.chars().next().is_some_and(char::is_uppercase) {
        1
    } else {
        2
    }
}

/// A string compared as natord does (ruff's order): runs of digits by value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Natural(String);

impl Ord for Natural {
    fn cmp(&self, other: &Self) -> Ordering {
        let (mut a, mut b) = (self.0.as_str(), other.0.as_str());
        loop {
            match (a.chars().next(), b.chars().next()) {
                (None, None) => return Ordering::Equal,
                (None, Some(_)) => return Ordering::Less,
                (Some(_), None) => return Ordering::Greater,
                (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                    let da = a.len() - a.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                    let db = b.len() - b.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                    let (na, nb) = (
                        a[..da].trim_start_matches('0'),
                        b[..db].trim_start_matches('0'),
                    );
                    let by_value = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
                    if by_value != Ordering::Equal {
                        return by_value;
                    }
                    (a, b) = (&a[da..], &b[db..]);
                }
                (Some(x), Some(y)) => {
                    if x != y {
                        return x.cmp(&y);
                    }
                    (a, b) = (&a[x.len_utf8()..], &b[y.len_utf8()..]);
                }
            }
        }
    }
}

impl PartialOrd for Natural {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn is_stdlib(base: &str) -> bool {
    STDLIB
        .lines()
        .filter(|l| !l.starts_with('#'))
        .any(|l| l == base)
}

/// `app` or `app.*` matches `app.users`; a pattern may end in `*` (ruff takes globs).
fn matches_module(pattern: &str, module: &str) -> bool {
    if let Some(prefix) = pattern.strip_suffix('*') {
        return module.starts_with(prefix);
    }
    module == pattern || module.starts_with(&format!("{pattern}."))
}

/// Whether `root/base/` or `root/base.py` exists, as ruff's `src` lookup asks.
fn holds_module(root: &Path, base: &str) -> bool {
    root.join(base).is_dir() || root.join(format!("{base}.py")).is_file()
}

/// The style for a file: its project's settings, plus its own top-level
/// package as first-party (ruff's `detect-same-package`).
pub(crate) fn for_file(path: &Path) -> Style {
    let (root, _) = crate::project::root_or_folder(path);
    let mut style = (*for_root(&root)).clone();
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let base = crate::project::import_base(&root, &absolute);
    if let Ok(rel) = absolute.strip_prefix(&base)
        && rel.components().count() > 1
        && let Some(top) = rel.components().next()
    {
        style
            .known_first_party
            .push(top.as_os_str().to_string_lossy().into_owned());
    }
    style
}

/// The settings of a project root, read once per run.
fn for_root(root: &Path) -> Arc<Style> {
    static SEEN: OnceLock<Mutex<HashMap<PathBuf, Arc<Style>>>> = OnceLock::new();
    let seen = SEEN.get_or_init(Default::default);
    if let Some(style) = seen.lock().expect("style cache").get(root) {
        return style.clone();
    }
    let style = Arc::new(read_root(root));
    seen.lock()
        .expect("style cache")
        .insert(root.to_path_buf(), style.clone());
    style
}

/// Reads ruff's settings (ruff.toml, .ruff.toml, `[tool.ruff]`), else
/// isort's (`[tool.isort]`, .isort.cfg, setup.cfg, tox.ini); black's
/// `line-length` when ruff sets none. Unreadable files count as absent:
/// they are the linters' business, not this tool's.
pub(crate) fn read_root(root: &Path) -> Style {
    // Through `file::read_text`: a FIFO named pyproject.toml must not hang the run.
    let read = |name: &str| crate::file::read_text(&root.join(name)).ok();
    let toml_of = |name: &str| read(name).and_then(|t| t.parse::<toml::Table>().ok());
    let pyproject = toml_of("pyproject.toml");
    let tool = |name: &str| {
        pyproject
            .as_ref()
            .and_then(|p| p.get("tool")?.get(name)?.as_table().cloned())
    };
    let mut style = Style {
        import_roots: vec![root.to_path_buf(), root.join("src")],
        ..Style::default()
    };
    let ruff = toml_of("ruff.toml")
        .or_else(|| toml_of(".ruff.toml"))
        .or_else(|| tool("ruff"));
    let black_length = tool("black").and_then(|b| int(b.get("line-length")));
    if let Some(ruff) = ruff {
        apply_ruff(&mut style, root, &ruff);
        if ruff.get("line-length").is_none()
            && let Some(n) = black_length
        {
            style.line_length = n;
        }
        return style;
    }
    let isort = tool("isort").map(|t| {
        t.into_iter()
            .map(|(k, v)| (k.replace('-', "_"), v))
            .collect::<toml::Table>()
    });
    let isort = isort.or_else(|| {
        [
            (".isort.cfg", "settings"),
            (".isort.cfg", "isort"),
            ("setup.cfg", "isort"),
            ("tox.ini", "isort"),
        ]
        .iter()
        .find_map(|(file, section)| ini_section(&read(file)?, section))
    });
    if let Some(isort) = isort {
        apply_isort(&mut style, root, &isort);
    }
    if let Some(n) = black_length {
        style.line_length = n;
    }
    style
}

fn apply_ruff(style: &mut Style, root: &Path, ruff: &toml::Table) {
    if let Some(n) = int(ruff.get("line-length")) {
        style.line_length = n;
    }
    if let Some(src) = strings(ruff.get("src")) {
        style.import_roots = src.iter().map(|s| root.join(s)).collect();
    }
    // `[lint.isort]`, or the older top-level `[isort]`.
    let isort = ruff
        .get("lint")
        .and_then(|l| l.get("isort"))
        .or_else(|| ruff.get("isort"));
    let Some(isort) = isort.and_then(toml::Value::as_table) else {
        return;
    };
    let list = |key: &str| strings(isort.get(key)).unwrap_or_default();
    style.known_first_party = list("known-first-party");
    style.known_third_party = list("known-third-party");
    style.extra_standard_library = list("extra-standard-library");
    let flag = |key: &str| {
        isort
            .get(key)
            .and_then(toml::Value::as_bool)
            .unwrap_or(false)
    };
    style.force_single_line = flag("force-single-line");
    style.force_sort_within_sections = flag("force-sort-within-sections");
    style.from_first = flag("from-first");
}

fn apply_isort(style: &mut Style, root: &Path, isort: &toml::Table) {
    let flag = |key: &str| {
        isort.get(key).and_then(|v| {
            v.as_bool()
                .or_else(|| v.as_str().map(|s| s.eq_ignore_ascii_case("true")))
        })
    };
    // The profiles that change what is read here.
    match isort.get("profile").and_then(toml::Value::as_str) {
        Some("black") => style.line_length = DEFAULT_LINE_LENGTH,
        Some("google") => {
            style.force_single_line = true;
            style.force_sort_within_sections = true;
        }
        _ => {}
    }
    let list = |key: &str| strings(isort.get(key)).unwrap_or_default();
    style.known_first_party = list("known_first_party");
    style.known_third_party = list("known_third_party");
    style.extra_standard_library = list("extra_standard_library");
    if let Some(f) = flag("force_single_line") {
        style.force_single_line = f;
    }
    if let Some(f) = flag("force_sort_within_sections") {
        style.force_sort_within_sections = f;
    }
    if let Some(n) = int(isort.get("line_length")) {
        style.line_length = n;
    }
    if let Some(src) = strings(isort.get("src_paths")) {
        style.import_roots = src.iter().map(|s| root.join(s)).collect();
    }
}

fn int(v: Option<&toml::Value>) -> Option<usize> {
    match v? {
        toml::Value::Integer(n) => usize::try_from(*n).ok(),
        toml::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A TOML list of strings, or an INI value `a, b` / one per line.
fn strings(v: Option<&toml::Value>) -> Option<Vec<String>> {
    match v? {
        toml::Value::Array(items) => Some(
            items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect(),
        ),
        toml::Value::String(s) => Some(
            s.split([',', '\n'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        ),
        _ => None,
    }
}

/// One `[section]` of an INI file (setup.cfg, .isort.cfg, tox.ini) as
/// strings: `key = value` or `key: value`, indented lines continuing it.
fn ini_section(text: &str, wanted: &str) -> Option<toml::Table> {
    let mut table = toml::Table::new();
    let mut inside = false;
    let mut found = false;
    let mut last: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with(['#', ';']) {
            continue;
        }
        if trimmed.starts_with('[') {
            inside = trimmed.trim_matches(['[', ']']).trim() == wanted;
            found |= inside;
            last = None;
            continue;
        }
        if !inside {
            continue;
        }
        if line.starts_with([' ', '\t'])
            && let Some(key) = &last
            && let Some(toml::Value::String(v)) = table.get_mut(key)
        {
            v.push('\n');
            v.push_str(trimmed);
            continue;
        }
        if let Some((key, value)) = trimmed.split_once(['=', ':']) {
            let key = key.trim().replace('-', "_");
            table.insert(key.clone(), toml::Value::String(value.trim().to_string()));
            last = Some(key);
        }
    }
    found.then_some(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn sections_by_stdlib_roots_and_config() {
        let dir = project(&[
            (
                "pyproject.toml",
                "[tool.ruff.lint.isort]\nknown-first-party = [\"corp*\"]\n",
            ),
            ("app/__init__.py", ""),
            ("src/lib2.py", ""),
        ]);
        let style = read_root(dir.path());
        let section = |m: &str| style.section(&ImportLine::module(m, None));
        assert_eq!(section("os.path"), Section::Stdlib);
        assert_eq!(section("cashews"), Section::ThirdParty);
        assert_eq!(section("app.db"), Section::FirstParty);
        assert_eq!(section("lib2"), Section::FirstParty);
        assert_eq!(section("corp_utils"), Section::FirstParty);
        assert_eq!(section("__future__"), Section::Future);
        assert_eq!(
            style.section(&ImportLine::from(".models", "X", None)),
            Section::LocalFolder
        );
    }

    #[test]
    fn straight_imports_sort_before_from_imports() {
        let style = Style::default();
        let k = |l: ImportLine| style.key(&l);
        assert!(k(ImportLine::module("os", None)) < k(ImportLine::from("contextlib", "x", None)));
        assert!(
            k(ImportLine::from("cashews", "Cache", None))
                < k(ImportLine::from("cashews", "cache", None))
        );
        assert!(
            k(ImportLine::from("cashews", "cache", None))
                < k(ImportLine::from("fastapi", "F", None))
        );
        let within = Style {
            force_sort_within_sections: true,
            ..Style::default()
        };
        assert!(
            within.key(&ImportLine::from("contextlib", "x", None))
                < within.key(&ImportLine::module("os", None))
        );
    }

    #[test]
    fn natural_order() {
        assert!(Natural("a2".into()) < Natural("a10".into()));
        assert!(Natural("http".into()) < Natural("httpx".into()));
    }

    #[test]
    fn reads_every_config_file() {
        let ruff = project(&[(
            "ruff.toml",
            "line-length = 100\n[lint.isort]\nforce-single-line = true\n",
        )]);
        let s = read_root(ruff.path());
        assert_eq!((s.line_length, s.force_single_line), (100, true));
        let black = project(&[(
            "pyproject.toml",
            "[tool.black]\nline-length = 120\n[tool.isort]\nprofile = \"black\"\nknown_first_party = [\"corp\"]\n",
        )]);
        let s = read_root(black.path());
        assert_eq!(s.line_length, 120);
        assert_eq!(
            s.section(&ImportLine::module("corp.x", None)),
            Section::FirstParty
        );
        let cfg = project(&[(
            "setup.cfg",
            "[metadata]\nname = x\n[isort]\nknown_first_party =\n    corp,\n    other\nline_length: 79\nforce_single_line = True\n",
        )]);
        let s = read_root(cfg.path());
        assert_eq!((s.line_length, s.force_single_line), (79, true));
        assert_eq!(
            s.section(&ImportLine::module("other", None)),
            Section::FirstParty
        );
        assert_eq!(read_root(project(&[]).path()).line_length, 88);
    }

    #[test]
    fn import_lines_round_trip() {
        for text in [
            "import os",
            "import os as o",
            "from cashews import cache",
            "from ..m import n as k",
        ] {
            assert_eq!(ImportLine::parse(text).unwrap().text(), text);
        }
    }
}
