//! A library's dependency: cashews as an optional extra, never a hard
//! requirement (`[project.optional-dependencies] cache = [...]`, or Poetry's
//! `optional = true` plus `[tool.poetry.extras] cache = ["cashews"]`).

use std::path::Path;

use toml_edit::{Document, Item, Table};

use super::{
    DependencyPlan, LOWER_BOUND, Outcome, add_key, append_to_array, edited, line_of, normalize,
    parse_head, read, report, requirement, toml_str,
};
use crate::source::BadInput;

/// The extra's name.
pub(crate) const EXTRA: &str = "cache";

pub(crate) fn plan(root: &Path, extra: Option<&str>) -> Result<DependencyPlan, BadInput> {
    let path = root.join("pyproject.toml");
    let text = read(&path)?;
    let req = requirement(extra);
    let outcome = edit(&text, extra)
        .map_err(|e| BadInput(format!("{}: invalid TOML: {e}", path.display())))?;
    Ok(report(&path, text, outcome, &req))
}

fn parse(text: &str) -> Result<Document<&str>, String> {
    Document::parse(text).map_err(|e| {
        e.to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    })
}

/// The line of a cashews requirement in any of the arrays of `table`.
fn cashews_in_arrays(text: &str, table: &Table) -> Option<usize> {
    table
        .iter()
        .filter_map(|(_, v)| v.as_array())
        .flat_map(|a| a.iter())
        .find(|v| {
            v.as_str()
                .and_then(parse_head)
                .is_some_and(|h| h.name == "cashews")
        })
        .and_then(|v| v.span())
        .map(|s| line_of(text, s.start))
}

fn edit(text: &str, extra: Option<&str>) -> Result<Outcome, String> {
    let doc = parse(text)?;
    let root = doc.as_item();
    let project = root.get("project").and_then(Item::as_table);
    let poetry = root
        .get("tool")
        .and_then(|t| t.get("poetry"))
        .and_then(Item::as_table);
    let req = requirement(extra);
    if let Some(project) = project {
        if let Some(deps) = project.get("dependencies").and_then(Item::as_array)
            && let Some(v) = deps.iter().find(|v| {
                v.as_str()
                    .and_then(parse_head)
                    .is_some_and(|h| h.name == "cashews")
            })
        {
            return Ok(Outcome::Present {
                line: line_of(text, v.span().map_or(0, |s| s.start)),
            });
        }
        return Ok(pep621(text, project, &req));
    }
    if let Some(poetry) = poetry {
        return poetry_optional(text, poetry, extra);
    }
    Ok(Outcome::Manual(
        "no [project] or [tool.poetry] table".to_string(),
    ))
}

fn pep621(text: &str, project: &Table, req: &str) -> Outcome {
    match project.get("optional-dependencies") {
        Some(Item::Table(groups)) => {
            if let Some(line) = cashews_in_arrays(text, groups) {
                return Outcome::Present { line };
            }
            match groups.get(EXTRA).and_then(Item::as_array) {
                Some(array) => append_to_array(text, array, req),
                None => add_key(
                    text,
                    groups,
                    &format!("{EXTRA} = [{}]", toml_str(req, "")),
                    "[project.optional-dependencies]",
                ),
            }
        }
        Some(_) => Outcome::Manual(
            "[project] optional-dependencies is not a table the tool can extend".to_string(),
        ),
        None => append_table(
            text,
            "[project.optional-dependencies]",
            &format!("{EXTRA} = [{}]", toml_str(req, "")),
        ),
    }
}

/// A new table at the end of the file.
fn append_table(text: &str, header: &str, line: &str) -> Outcome {
    let eol = crate::plan::file_line_ending(text);
    let lead = match (text.is_empty(), text.ends_with('\n')) {
        (true, _) => String::new(),
        (false, true) => eol.to_string(),
        (false, false) => eol.repeat(2),
    };
    let at = text.len();
    let what = format!("`{line}` under {header}");
    edited(
        text,
        &[crate::edit::Edit::insert(
            at,
            format!("{lead}{header}{eol}{line}{eol}"),
        )],
        at + lead.len() + header.len() + eol.len(),
        what,
    )
}

fn poetry_optional(text: &str, poetry: &Table, extra: Option<&str>) -> Result<Outcome, String> {
    let Some(deps) = poetry.get("dependencies").and_then(Item::as_table) else {
        return Ok(Outcome::Manual(
            "no [tool.poetry.dependencies] table".to_string(),
        ));
    };
    if let Some((_, v)) = deps.iter().find(|(k, _)| normalize(k) == "cashews") {
        let line = v
            .as_value()
            .and_then(|v| v.span())
            .map_or(1, |s| line_of(text, s.start));
        return Ok(Outcome::Present { line });
    }
    let extras = extra.map_or_else(String::new, |e| format!(", extras = [\"{e}\"]"));
    let entry = format!("cashews = {{ version = \"{LOWER_BOUND}\", optional = true{extras} }}");
    let Outcome::Edited {
        text: first, line, ..
    } = add_key(text, deps, &entry, "[tool.poetry.dependencies]")
    else {
        return Ok(Outcome::Manual(
            "cannot add to [tool.poetry.dependencies]".to_string(),
        ));
    };
    let doc = parse(&first)?;
    let table = doc
        .as_item()
        .get("tool")
        .and_then(|t| t.get("poetry"))
        .and_then(|p| p.get("extras"));
    let group = format!("{EXTRA} = [\"cashews\"]");
    let second = match table {
        Some(Item::Table(t)) if t.contains_key(EXTRA) => {
            return Ok(Outcome::Manual(format!(
                "[tool.poetry.extras] has a `{EXTRA}` group already: add \"cashews\" to it"
            )));
        }
        Some(Item::Table(t)) => add_key(&first, t, &group, "[tool.poetry.extras]"),
        Some(_) => {
            return Ok(Outcome::Manual(
                "[tool.poetry] extras is not a table".to_string(),
            ));
        }
        None => append_table(&first, "[tool.poetry.extras]", &group),
    };
    let Outcome::Edited { text: new, .. } = second else {
        return Ok(second);
    };
    Ok(Outcome::Edited {
        text: new,
        line,
        what: format!(
            "`{entry}` under [tool.poetry.dependencies] and `{group}` under [tool.poetry.extras]"
        ),
        status: super::DepStatus::Added,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_text(o: Outcome) -> String {
        match o {
            Outcome::Edited { text, .. } => text,
            other => panic!("expected an edit, got {other:?}"),
        }
    }

    #[test]
    fn pep621_gets_an_optional_extra_once() {
        let before = "[project]\nname = \"lib\"\ndependencies = [\"httpx\"]\n\n[tool.x]\na = 1\n";
        let after = new_text(edit(before, None).unwrap());
        assert_eq!(
            after,
            "[project]\nname = \"lib\"\ndependencies = [\"httpx\"]\n\n[tool.x]\na = 1\n\n[project.optional-dependencies]\ncache = [\"cashews>=7.0\"]\n"
        );
        assert!(matches!(
            edit(&after, None).unwrap(),
            Outcome::Present { line: 9 }
        ));
        let groups =
            "[project]\nname = \"lib\"\n\n[project.optional-dependencies]\ndev = [\"pytest\"]\n";
        assert_eq!(
            new_text(edit(groups, None).unwrap()),
            "[project]\nname = \"lib\"\n\n[project.optional-dependencies]\ndev = [\"pytest\"]\ncache = [\"cashews>=7.0\"]\n"
        );
        let hard = "[project]\nname = \"lib\"\ndependencies = [\"cashews>=7\"]\n";
        assert!(matches!(
            edit(hard, None).unwrap(),
            Outcome::Present { line: 3 }
        ));
    }

    #[test]
    fn poetry_gets_optional_and_extras() {
        let before =
            "[tool.poetry]\nname = \"lib\"\n\n[tool.poetry.dependencies]\npython = \"^3.10\"\n";
        let after = new_text(edit(before, None).unwrap());
        assert_eq!(
            after,
            "[tool.poetry]\nname = \"lib\"\n\n[tool.poetry.dependencies]\npython = \"^3.10\"\ncashews = { version = \">=7.0\", optional = true }\n\n[tool.poetry.extras]\ncache = [\"cashews\"]\n"
        );
        assert!(matches!(
            edit(&after, None).unwrap(),
            Outcome::Present { line: 6 }
        ));
    }
}
