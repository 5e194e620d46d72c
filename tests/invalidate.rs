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
