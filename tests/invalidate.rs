//! The writers of a cached read, found across the project
//! (fixtures/invalidate/catalog): a model both name, a table both name in
//! SQL, a route whose write goes through a repository; an outside API says
//! the TTL is the only bound; tests and generic base classes are not writers.

mod common;

use common::{code, fixture_dir, run, stderr};
use serde_json::Value;

fn invalidation(target: &str, extra: &[&str]) -> Value {
    let dir = fixture_dir("invalidate").join("catalog");
    let mut args = vec![target, "--format", "json", "--no-setup"];
    args.extend(extra);
    let out = run(&dir, &args);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["results"][0]["invalidation"].clone()
}

fn writers(inv: &Value) -> Vec<(String, String)> {
    inv["writers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["target"].as_str().unwrap().to_string(),
                w["resource"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_model_read_finds_its_writers_and_the_routes_that_call_them() {
    let inv = invalidation("shop/repository.py::ProductRepository.get", &[]);
    assert_eq!(
        writers(&inv),
        [
            (
                "shop/repository.py::ProductRepository.rename".to_string(),
                "model Product".to_string()
            ),
            (
                "shop/routes.py::rename_product".to_string(),
                "model Product".to_string()
            ),
        ]
    );
    let route = &inv["writers"][1];
    assert_eq!(route["line"], 12);
    assert_eq!(
        route["through"][0],
        "shop/repository.py::ProductRepository.rename"
    );
    assert!(
        route["via"]
            .as_str()
            .unwrap()
            .contains("shop/repository.py:23")
    );
    // The generic base's save() serves every model: not a writer of products.
    assert!(!inv.to_string().contains("BaseRepository.save"));
}

#[test]
fn functions_and_sql_tables_are_matched_and_tests_are_not_writers() {
    let inv = invalidation("shop/repository.py::supplier_names", &[]);
    assert_eq!(
        writers(&inv),
        [(
            "shop/repository.py::add_supplier".to_string(),
            "model Supplier".to_string()
        )]
    );
    let inv = invalidation("shop/stock.py::stock_level", &[]);
    assert_eq!(
        writers(&inv),
        [(
            "shop/stock.py::restock".to_string(),
            "table stock".to_string()
        )]
    );
}

#[test]
fn an_outside_api_is_bounded_by_the_ttl_alone() {
    let inv = invalidation("shop/stock.py::list_price", &[]);
    assert!(writers(&inv).is_empty());
    assert!(
        inv["note"].as_str().unwrap().contains("outside API"),
        "{inv}"
    );
}

#[test]
fn no_invalidate_skips_the_search() {
    let inv = invalidation(
        "shop/repository.py::ProductRepository.get",
        &["--no-invalidate"],
    );
    assert!(inv.is_null(), "{inv}");
}

/// A copy of fixtures/invalidate/tagging, where every shape of write sits.
fn tagging() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tagging");
    common::copy_dir(&fixture_dir("invalidate").join("tagging"), &dir);
    (tmp, dir)
}

fn edits(inv: &Value) -> Vec<(String, String)> {
    inv["edits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let writer = e["writer"].as_str().unwrap();
            let name = writer.rsplit("::").next().unwrap().to_string();
            let code = e["code"].as_str().unwrap_or("").to_string();
            (name, code)
        })
        .collect()
}

/// Issue 13: the read gets its family tag and its entry's; each async
/// writer deletes the entry tag when its write uses the read's key input,
/// the family otherwise, placed after the commit, after the transaction's
/// `async with`, or after the write; a returned write keeps its value in a
/// name until the delete has run; a sync writer is reported, not edited. A
/// second run changes nothing.
#[test]
fn writers_delete_the_tags_where_their_write_commits() {
    let (_tmp, dir) = tagging();
    let target = "ledger/accounts.py::balance_of";
    let out = run(&dir, &[target, "--format", "json", "--no-setup", "--write"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let inv = &doc["results"][0]["invalidation"];
    assert_eq!(
        inv["tags"],
        serde_json::json!(["account", "account:{account_id}"])
    );
    assert_eq!(
        edits(inv),
        [
            (
                "close_account".into(),
                "await cache.delete_tags(f\"account:{account_id}\")".into()
            ),
            (
                "deposit".into(),
                "await cache.delete_tags(f\"account:{account_id}\")".into()
            ),
            ("import_accounts".into(), String::new()),
            (
                "open_account".into(),
                "await cache.delete_tags(\"account\")".into()
            ),
            (
                "reset_all".into(),
                "await cache.delete_tags(\"account\")".into()
            ),
        ]
    );
    let why: Vec<&str> = inv["edits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["why"].as_str().unwrap())
        .collect();
    assert!(why[0].starts_with("after the transaction"), "{why:?}");
    assert!(why[1].starts_with("after the commit"), "{why:?}");
    assert!(why[2].contains("sync writer"), "{why:?}");
    assert!(why[3].starts_with("kept in a name"), "{why:?}");
    assert!(
        why[4].contains("nothing in this function commits"),
        "{why:?}"
    );
    let path = dir.join("ledger/accounts.py");
    let text = std::fs::read_to_string(&path).unwrap();
    for block in [
        "    await session.execute(stmt)\n    await session.commit()\n    await cache.delete_tags(f\"account:{account_id}\")\n",
        "        await session.execute(delete(Account).where(Account.id == account_id))\n    await cache.delete_tags(f\"account:{account_id}\")\n",
        "    await session.execute(update(Account).values(balance=0))\n    await cache.delete_tags(\"account\")\n",
        // A returned write keeps its value in a name until the delete has run.
        "    result = await session.execute(Account.__table__.insert().values(balance=0))\n    await cache.delete_tags(\"account\")\n    return result\n",
        "    tags=[\"account\", \"account:{account_id}\"],\n",
    ] {
        assert!(text.contains(block), "{block}\nnot in\n{text}");
    }
    common::python_parses(&path).unwrap();
    let again = run(&dir, &[target, "--format", "json", "--no-setup", "--write"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text,
        "a second run changes nothing"
    );
}

/// Two reads of one model: each writer gets one statement, and the family
/// delete the whole-table read needs makes the entry tag redundant.
#[test]
fn two_reads_of_one_model_share_one_delete_per_writer() {
    let (_tmp, dir) = tagging();
    let out = run(
        &dir,
        &[
            "ledger/accounts.py::balance_of",
            "ledger/accounts.py::richest",
            "--no-setup",
            "--write",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = std::fs::read_to_string(dir.join("ledger/accounts.py")).unwrap();
    assert_eq!(
        text.matches("await cache.delete_tags(\"account\")\n")
            .count(),
        4,
        "{text}"
    );
    assert!(!text.contains("delete_tags(f\""), "{text}");
    assert!(
        text.contains("tags=[\"account\"])\nasync def richest"),
        "{text}"
    );
}

/// `--no-invalidate` and a user's own `--tags`: no writer is edited.
#[test]
fn no_invalidate_or_own_tags_leave_the_writers_alone() {
    for extra in [
        &["--no-invalidate"][..],
        &["--tags", "acct:{account_id}"][..],
    ] {
        let (_tmp, dir) = tagging();
        let mut args = vec!["ledger/accounts.py::balance_of", "--no-setup", "--write"];
        args.extend(extra);
        let out = run(&dir, &args);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let text = std::fs::read_to_string(dir.join("ledger/accounts.py")).unwrap();
        assert!(!text.contains("delete_tags"), "{extra:?}: {text}");
    }
}

/// The `invalidation` of one target run in `dir`.
fn invalidation_at(dir: &std::path::Path, target: &str) -> Value {
    let out = run(dir, &[target, "--format", "json", "--no-setup"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["results"][0]["invalidation"].clone()
}

fn writers_in(fixture: &str, target: &str) -> (Vec<String>, Vec<String>) {
    let inv = &invalidation_at(&fixture_dir("invalidate").join(fixture), target);
    let list = |k: &str, f: &str| -> Vec<String> {
        inv[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                if f.is_empty() {
                    v.as_str().unwrap().to_string()
                } else {
                    v[f].as_str().unwrap().to_string()
                }
            })
            .collect()
    };
    (list("resources", ""), list("writers", "target"))
}

/// Repositories and services whose model is a type argument
/// (`GenericRepository[m.Customer]`), a class attribute (`model = m.Note`)
/// or an alias (`NoteRepositoryAlias = GenericRepository[m.Note]`), on
/// advanced-alchemy's declarative base: the read through one and the
/// service writing through another meet on the model.
#[test]
fn models_behind_repositories_and_services_are_found() {
    let (resources, writers) = writers_in("services", "crm/views.py::customer_card");
    assert_eq!(resources, ["model Customer"]);
    assert_eq!(writers, ["crm/services.py::CustomerService.rename"]);
    let (resources, writers) = writers_in("services", "crm/views.py::note_text");
    assert_eq!(resources, ["model Note"]);
    assert_eq!(writers, ["crm/services.py::NoteService.jot"]);
    let (resources, writers) = writers_in("services", "crm/services.py::NoteBoard.pinned");
    assert!(
        resources.contains(&"model Note".to_string()),
        "{resources:?}"
    );
    assert_eq!(writers, ["crm/services.py::NoteService.jot"]);
}

/// Each write is matched by what its own chain writes
/// (fixtures/invalidate/precise): a generic base's `save(obj)` writes the
/// model of the repository the caller holds (an attribute, an annotated
/// parameter, a local made from a class); naming a model on the way
/// (`recolour(theme: Theme)` on a theme repository) or sharing a class
/// says nothing; a model loaded eagerly with the read's (`relationship(...,
/// lazy="selectin")`) is part of it, and a delete its foreign key cascades
/// from (`ondelete="CASCADE"`) writes it; a select in parentheses handed to a runner is a read; a
/// computation reads nothing a writer could change.
#[test]
fn each_write_counts_for_the_data_its_own_chain_writes() {
    let (resources, writers) =
        writers_in("precise", "blog/repositories.py::AuthorRepository.by_id");
    // The notes an author loads eagerly are part of it; its themes are not.
    assert_eq!(resources, ["model Author", "model Note"]);
    assert_eq!(
        writers,
        [
            "blog/cli.py::seed",
            "blog/routes.py::drop_author",
            "blog/services.py::NoteService.publish",
            "blog/services.py::NoteService.rename_author",
        ]
    );
    // A delete of the author cascades to their notes; renaming one does not.
    let (resources, writers) =
        writers_in("precise", "blog/repositories.py::NoteRepository.for_author");
    assert_eq!(resources, ["model Note"]);
    assert_eq!(
        writers,
        [
            "blog/routes.py::drop_author",
            "blog/services.py::NoteService.publish",
        ]
    );
    // A computation in a service reads nothing stored: sharing the class
    // with the service's writers is not sharing data.
    let (resources, writers) = writers_in("precise", "blog/services.py::NoteService.menu");
    assert!(resources.is_empty(), "{resources:?}");
    assert!(writers.is_empty(), "{writers:?}");
}

/// A delete cascades up more than one foreign key (a depot's delete
/// removes its bays' crates); a model parameter used only by its id is
/// no read of it; a commit writes what its function added, not what it
/// read, a row changed in place is a write of its model (not one handed
/// back to the caller to save); a rollback and a
/// message sent write nothing
/// (fixtures/invalidate/cascade).
#[test]
fn cascades_chain_and_commits_write_what_was_added() {
    let (resources, writers) = writers_in("cascade", "depot/stock.py::crates_in");
    assert_eq!(resources, ["model Crate"]);
    assert_eq!(
        writers,
        [
            "depot/stock.py::close_depot",
            "depot/stock.py::empty_bay",
            "depot/stock.py::relabel"
        ]
    );
    // A row changed in place through a loop over a relationship of an
    // argument (`for crate in bay.crates: crate.label = ...`) mutates the
    // argument, so it is not cached either.
    let dir = fixture_dir("invalidate").join("cascade");
    let out = run(
        &dir,
        &[
            "depot/stock.py::empty_bay",
            "--format",
            "json",
            "--no-setup",
        ],
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let effects = &doc["results"][0]["purity"]["effects"];
    assert_eq!(doc["results"][0]["status"], "refused", "{effects}");
    let mutation = effects
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["category"] == "argument_mutation")
        .unwrap_or_else(|| panic!("{effects}"));
    assert_eq!(mutation["code"], "crate.label = \"empty\"", "{effects}");
}

/// aiosql keeps its SQL in `.sql` files: each `-- name:` block is a method
/// of the loader, a read or a write by its suffix and statement, with its
/// tables; the class the methods share is not the data.
#[test]
fn aiosql_statements_are_read_from_their_sql_files() {
    let (resources, writers) = writers_in("precise", "blog/sql_repo.py::NotesSql.notes_by_author");
    assert_eq!(resources, ["table notes"]);
    assert_eq!(writers, ["blog/sql_repo.py::NotesSql.add_note"]);
    let dir = fixture_dir("invalidate").join("precise");
    let out = run(
        &dir,
        &[
            "blog/sql_repo.py::NotesSql.add_note",
            "--format",
            "json",
            "--no-setup",
        ],
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["results"][0]["status"], "refused");
    assert_eq!(
        doc["results"][0]["purity"]["effects"][0]["category"],
        "db_write"
    );
}

/// The delete goes where the writer's own line decides the data (its call
/// of the model's repository), with the row's id when the writer holds the
/// model (`author.id` for a read keyed by `author_id`); a returned write
/// keeps its value in a name until the delete has run. Applied, the files
/// compile and a second run changes nothing.
#[test]
fn writers_through_a_generic_base_and_returned_writes_get_their_delete() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("precise");
    common::copy_dir(&fixture_dir("invalidate").join("precise"), &dir);
    let targets = [
        "blog/repositories.py::AuthorRepository.by_id",
        "blog/sql_repo.py::NotesSql.notes_by_author",
    ];
    let mut args = targets.to_vec();
    args.extend(["--no-setup", "--write"]);
    let out = run(&dir, &args);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let routes = std::fs::read_to_string(dir.join("blog/routes.py")).unwrap();
    assert!(
        routes.contains("    await repository.remove(author)\n    await blog_cache.delete_tags(f\"author:{author.id}\")\n"),
        "{routes}"
    );
    let services = std::fs::read_to_string(dir.join("blog/services.py")).unwrap();
    assert!(
        services.contains(
            "        result = await self.authors.save(author)\n        await blog_cache.delete_tags(f\"author:{author.id}\")\n        return result\n"
        ),
        "{services}"
    );
    let sql = std::fs::read_to_string(dir.join("blog/sql_repo.py")).unwrap();
    assert!(
        sql.contains(
            "await blog_cache.delete_tags(f\"notes:{author_id}\")\n        return result\n"
        ),
        "{sql}"
    );
    for f in ["routes", "services", "sql_repo", "repositories"] {
        common::python_parses(&dir.join(format!("blog/{f}.py"))).unwrap();
    }
    // The seed calls rename_author: its delete is there, not in the seed.
    let cli = std::fs::read_to_string(dir.join("blog/cli.py")).unwrap();
    assert!(!cli.contains("delete_tags"), "{cli}");
    let mut again = targets.to_vec();
    again.extend(["--no-setup", "--format", "json"]);
    let out = run(&dir, &again);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["diff"], "", "a second run changes nothing");
}

/// Writers reached through how a local was bound (fixtures/invalidate/bound):
/// a service entered as a context (`async with ShelfService.new(...) as
/// shelves`), one of a tuple a provider helper yields (`as (visits,
/// books)`, by position), an object a factory function returns
/// (`get_librarian(visits)`), names imported inside a CLI command and its
/// inner coroutine (a writer too, and the one edited). A relationship whose
/// model only its `Mapped[list["Book"]]` annotation names is loaded with
/// the shelf when eager; a read returning a scalar (`-> str`) reads columns,
/// not the related rows, and one returning a schema holds the relationships
/// it has fields for; a loader option (`selectinload(Shelf.visits)`) loads
/// one the model does not.
#[test]
fn locals_bound_by_contexts_providers_and_factories_lead_to_their_writers() {
    let (resources, writers) = writers_in("bound", "shop/views.py::shelf_page");
    assert_eq!(resources, ["model Book", "model Shelf"]);
    assert_eq!(
        writers,
        [
            "shop/cli.py::add_book",
            "shop/cli.py::add_book.<locals>._add",
            "shop/cli.py::rename_shelf",
            "shop/cli.py::rename_shelf.<locals>._rename",
        ]
    );
    let (resources, writers) = writers_in("bound", "shop/views.py::shelf_label");
    assert_eq!(resources, ["model Shelf"]);
    assert_eq!(
        writers,
        [
            "shop/cli.py::rename_shelf",
            "shop/cli.py::rename_shelf.<locals>._rename",
        ]
    );
    let (resources, writers) = writers_in("bound", "shop/views.py::visit_count");
    assert_eq!(resources, ["model Visit"]);
    assert_eq!(
        writers,
        [
            "shop/librarian.py::Librarian.log_visit",
            "shop/views.py::enter_shelf"
        ]
    );
    // A schema without a field for the books holds none of them; a query
    // naming `selectinload(Shelf.visits)` loads the visits a shelf never does.
    let (resources, _) = writers_in("bound", "shop/views.py::shelf_card");
    assert_eq!(resources, ["model Shelf"]);
    let (resources, writers) = writers_in("bound", "shop/views.py::shelf_with_visits");
    assert_eq!(resources, ["model Book", "model Shelf", "model Visit"]);
    assert!(
        writers.contains(&"shop/librarian.py::Librarian.log_visit".to_string()),
        "{writers:?}"
    );
    // The inner coroutine gets the delete; the command around it says why it does not.
    let dir = fixture_dir("invalidate").join("bound");
    let out = run(
        &dir,
        &[
            "shop/views.py::shelf_label",
            "--format",
            "json",
            "--no-setup",
        ],
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let inv = &doc["results"][0]["invalidation"];
    assert_eq!(
        edits(inv),
        [
            ("rename_shelf".to_string(), String::new()),
            (
                "rename_shelf.<locals>._rename".to_string(),
                "await shop_cache.delete_tags(\"shelf\")".to_string()
            ),
        ]
    );
    assert_eq!(
        inv["edits"][0]["why"],
        "the write runs in a function defined inside it, which gets the delete"
    );
}

/// Models handed over rather than named (fixtures/invalidate/handed, a
/// Tortoise clinic): a class given its model by its constructions, a
/// helper writing whatever model its callers pass, a row unpacked from a
/// callee's tuple and picked from a class's map of models, a query behind
/// a model's property, `prefetch_related("patient")`, a write made inside
/// an `async with` client's context, and a generic base's own model.
#[test]
fn models_handed_over_by_callers_maps_and_contexts_lead_to_their_writers() {
    let patients = [
        "clinic/desk.py::Desk.check_in",
        "clinic/desk.py::Desk.rename_patient",
        "clinic/seed.py::admit",
        "clinic/seed.py::load",
        "clinic/seed.py::merge_patient",
        "clinic/seed.py::put_rows",
    ];
    // `Lookup(Doctor, pk)` and `Lookup(Patient, pk)`: the generic read
    // reads both; a read through it, only the one it passes.
    let (resources, writers) = writers_in("handed", "clinic/lookup.py::Lookup.one");
    assert_eq!(resources, ["model Doctor", "model Patient"]);
    assert_eq!(writers, patients);
    let (resources, writers) = writers_in("handed", "clinic/desk.py::patient");
    assert_eq!(resources, ["model Patient"]);
    assert_eq!(writers, patients);
    // `check_in` saves the row `find` picks from `ROLES`: a patient or a
    // doctor as far as the map says, so it drops doctors too.
    let (resources, writers) = writers_in("handed", "clinic/desk.py::Desk.doctor");
    assert_eq!(resources, ["model Doctor"]);
    assert_eq!(
        writers,
        [
            "clinic/desk.py::Desk.check_in",
            "clinic/seed.py::load",
            "clinic/seed.py::put_rows"
        ]
    );
    // `await doctor.on_call` queries the shifts; paging takes one inside
    // the pager's context.
    let (resources, writers) = writers_in("handed", "clinic/desk.py::Desk.doctor_card");
    assert_eq!(resources, ["model Doctor", "model Shift"]);
    for w in [
        "clinic/desk.py::Desk.end_shift",
        "clinic/pager.py::Pager._claim",
        "clinic/pager.py::page",
    ] {
        assert!(writers.contains(&w.to_string()), "{w} in {writers:?}");
    }
    // The patient a visit prefetches is part of it; without the prefetch
    // nothing in the project writes a visit.
    let (resources, writers) = writers_in("handed", "clinic/desk.py::Desk.visit");
    assert_eq!(resources, ["model Patient", "model Visit"]);
    assert_eq!(writers, patients);
    let (resources, writers) = writers_in("handed", "clinic/desk.py::Desk.visit_note");
    assert_eq!(resources, ["model Visit"]);
    assert!(writers.is_empty(), "{writers:?}");
    // A generic base's read of the model it is given: the base's own
    // write that names no model writes it.
    let (resources, writers) = writers_in("handed", "clinic/store.py::BaseStore.get");
    assert_eq!(resources, ["generic repository"]);
    assert_eq!(writers, ["clinic/store.py::BaseStore.put"]);
}

/// A writer whose writes sit in two branches (`if known: known.save()
/// else: Patient.create(...)`) gets one delete after the statement that
/// holds both; when both branches return (after the `if` nothing runs),
/// each branch gets its own.
#[test]
fn a_delete_follows_every_branch_that_writes() {
    let dir = fixture_dir("invalidate").join("handed");
    let inv = invalidation_at(&dir, "clinic/desk.py::patient");
    let edit = |writer: &str| {
        inv["edits"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["writer"] == writer)
            .unwrap_or_else(|| panic!("{writer} in {inv}"))
            .clone()
    };
    let seed = std::fs::read_to_string(dir.join("clinic/seed.py")).unwrap();
    // The first line holding `text` after the line holding `anchor`.
    let line_after = |anchor: &str, text: &str| {
        let start = seed.lines().position(|l| l.contains(anchor)).unwrap();
        start
            + seed
                .lines()
                .skip(start)
                .position(|l| l.contains(text))
                .unwrap()
            + 1
    };
    let merged = edit("clinic/seed.py::merge_patient");
    assert_eq!(
        merged["after_line"],
        line_after("def merge_patient", "await Patient.create(**row)"),
        "{merged}"
    );
    assert!(
        merged["why"]
            .as_str()
            .unwrap()
            .starts_with("after the statement that holds each"),
        "{merged}"
    );
    // Both branches of `admit` return: a delete in each, the returned
    // write's value kept in a name until its delete has run.
    let admitted: Vec<&Value> = inv["edits"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["writer"] == "clinic/seed.py::admit")
        .collect();
    assert_eq!(admitted.len(), 2, "{admitted:?}");
    assert_eq!(
        admitted[0]["after_line"],
        line_after("def admit", "await known.save()"),
        "{admitted:?}"
    );
    assert_eq!(
        admitted[1]["after_line"],
        line_after("def admit", "return await Patient.create(**row)"),
        "{admitted:?}"
    );
    assert!(
        admitted[1]["why"]
            .as_str()
            .unwrap()
            .starts_with("kept in a name")
    );
}

/// Calls on a model's query chain that write (`Patient.filter(...).update(...)`,
/// `.delete()`) are writes: the function is not cached.
#[test]
fn a_query_chain_update_is_a_write() {
    let dir = fixture_dir("invalidate").join("handed");
    let out = run(
        &dir,
        &[
            "clinic/desk.py::Desk.rename_patient",
            "--format",
            "json",
            "--no-setup",
            "--force",
        ],
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let effects = &doc["results"][0]["purity"]["effects"];
    assert_eq!(effects[0]["category"], "db_write", "{effects}");
    assert_eq!(effects[0]["note"], "ORM manager write", "{effects}");
}

/// A Beanie document's own classmethod reads it (`cls.find_one(...)`); a
/// chain's delete (`User.find_one(...).delete()`) writes it; a JWT
/// library minting a token for a loaded user (`create_access_token`)
/// stores nothing.
#[test]
fn a_documents_own_methods_and_chain_deletes_meet_and_tokens_are_no_writes() {
    let dir = common::project(&[
        (
            "pyproject.toml",
            "[project]\nname = \"accounts\"\ndependencies = [\"beanie\"]\n",
        ),
        ("accounts/__init__.py", ""),
        (
            "accounts/models.py",
            "from beanie import Document\n\n\nclass Member(Document):\n    email: str\n\n    @classmethod\n    async def by_email(cls, email: str):\n        return await cls.find_one(cls.email == email)\n",
        ),
        (
            "accounts/routes.py",
            "from accounts.models import Member\nfrom accounts.security import tokens\n\n\nasync def sign_in(email: str) -> dict:\n    member = await Member.by_email(email)\n    return {\"token\": tokens.create_access_token(member.email)}\n\n\nasync def leave(email: str) -> None:\n    await Member.find_one(Member.email == email).delete()\n",
        ),
        (
            "accounts/security.py",
            "from jwt_library import Issuer\n\ntokens = Issuer()\n",
        ),
    ]);
    let inv = &invalidation_at(dir.path(), "accounts/models.py::Member.by_email");
    assert_eq!(inv["resources"], serde_json::json!(["model Member"]));
    let targets: Vec<&str> = inv["writers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["target"].as_str().unwrap())
        .collect();
    assert_eq!(targets, ["accounts/routes.py::leave"]);
}

/// A statement a writer builds and hands to a helper that runs it
/// (`qs = "UPDATE accounts ..."; await execute(path, qs, params)`): the
/// writer's own line decides the table, so the delete goes there.
#[test]
fn a_statement_handed_to_a_runner_gets_its_delete_after_the_call() {
    let dir = common::project(&[
        (
            "pyproject.toml",
            "[project]\nname = \"pool\"\ndependencies = [\"aiosqlite\"]\n",
        ),
        ("pool/__init__.py", ""),
        (
            "pool/db.py",
            "import aiosqlite\n\n\nasync def execute(path: str, qs: str, params: dict | None = None):\n    async with aiosqlite.connect(path) as db:\n        await db.execute(qs, params)\n        await db.commit()\n\n\nasync def fetchall(path: str, qs: str):\n    async with aiosqlite.connect(path) as db:\n        async with db.execute(qs) as cur:\n            return await cur.fetchall()\n",
        ),
        (
            "pool/accounts.py",
            "from pool.db import execute, fetchall\n\n\nclass Pool:\n    def __init__(self, path: str):\n        self.path = path\n\n    async def stats(self) -> int:\n        rows = await fetchall(self.path, \"SELECT name FROM accounts\")\n        return len(rows)\n\n    async def unlock(self, name: str) -> None:\n        qs = \"UPDATE accounts SET locked = 0 WHERE name = :name\"\n        await execute(self.path, qs, {\"name\": name})\n",
        ),
    ]);
    let inv = &invalidation_at(dir.path(), "pool/accounts.py::Pool.stats");
    assert_eq!(inv["resources"], serde_json::json!(["table accounts"]));
    assert_eq!(inv["writers"][0]["target"], "pool/accounts.py::Pool.unlock");
    assert_eq!(inv["edits"][0]["writer"], "pool/accounts.py::Pool.unlock");
    assert_eq!(inv["edits"][0]["after_line"], 14);
}
