//! The memory floor of any tool built on tree-sitter: parse one file with
//! tree-sitter-python and hold the tree, nothing else. `scripts/bench-big.sh`
//! runs it beside `cashews-add` so the peak memory of the rewrite can be read
//! against the tree it cannot do without.
//!
//!     cargo run --release --example parse_only -- FILE

fn main() {
    let path = std::env::args().nth(1).expect("usage: parse_only FILE");
    let text = std::fs::read(&path).expect("readable file");
    let mut parser = tree_sitter::Parser::new();
    parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .expect("the grammar loads");
    let tree = parser.parse(&text, None).expect("a tree");
    println!(
        "{} bytes, {} nodes at the top",
        text.len(),
        tree.root_node().child_count()
    );
}
