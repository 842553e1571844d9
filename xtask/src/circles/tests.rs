use super::*;
use crate::scratch::Dir;

fn graph_of(files: &[(&str, &str)]) -> (Dir, ModuleGraph) {
    let dir = Dir::new("xtask-circles");
    for (path, text) in files {
        dir.write(path, text);
    }
    let graph = ModuleGraph::read(dir.path()).expect("read");
    (dir, graph)
}

#[test]
fn a_circle_through_siblings_is_found_with_the_lines_that_close_it() {
    let (dir, graph) = graph_of(&[
        ("lib.rs", "pub mod store;\n"),
        ("store/mod.rs", "mod payouts;\nmod stats;\npub use payouts::Lease;\n"),
        (
            "store/payouts.rs",
            "use super::stats::CounterChange;\npub struct Lease;\n",
        ),
        (
            "store/stats.rs",
            "// crate::store::payouts is only named in a comment here\nuse super::{\n    keys,\n    payouts::{built, key},\n};\npub struct CounterChange;\n",
        ),
    ]);
    let circles = graph.circles();
    assert_eq!(
        circles,
        vec![vec!["store::payouts".to_owned(), "store::stats".to_owned()]]
    );
    let described = graph.describe(dir.path(), dir.path(), &circles[0]);
    assert!(
        described.contains("store::payouts → store::stats (store/payouts.rs:1)"),
        "{described}"
    );
    assert!(
        described.contains("store::stats → store::payouts (store/stats.rs:2)"),
        "{described}"
    );
}

#[test]
fn a_module_naming_its_parts_and_parts_naming_the_parent_is_no_circle() {
    let (_dir, graph) = graph_of(&[
        (
            "lib.rs",
            "pub mod store;\npub mod process;\npub use store::Store;\n",
        ),
        (
            "store/mod.rs",
            "mod payouts;\npub use payouts::Lease;\npub struct Store;\nfn key() {}\n",
        ),
        (
            "store/payouts.rs",
            "use super::{key, Store};\nuse crate::Error;\n",
        ),
        ("process.rs", "use crate::store::{Lease, Store};\n"),
    ]);
    assert!(graph.circles().is_empty(), "{:?}", graph.references);
    assert!(graph.references["process"].contains_key("store"));
    assert!(graph.references["store::payouts"].contains_key("store"));
}

#[test]
fn a_circle_through_four_modules_is_one_circle_and_a_tests_super_is_its_file() {
    let (_dir, graph) = graph_of(&[
        (
            "main.rs",
            "mod test;\nmod chaos;\nmod smoke;\nmod browser;\nmod gateway;\n",
        ),
        (
            "test.rs",
            "fn run() { crate::chaos::simulate(); crate::smoke::run(); }\n",
        ),
        (
            "chaos/mod.rs",
            "mod load;\nfn f() { let _ = crate::test::dynamodb_for_run(\"x\"); }\n",
        ),
        ("chaos/load.rs", "use crate::browser as b;\n"),
        ("smoke.rs", "use crate::{browser, gateway::simulated};\n"),
        (
            "browser.rs",
            "let x = crate::test::dynamodb_for_run(\"http://x\");\n",
        ),
        (
            "gateway/mod.rs",
            "mod simulated;\nuse crate::smoke::Thing;\n",
        ),
        (
            "gateway/simulated.rs",
            "pub struct Bank;\n\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
        ),
    ]);
    assert_eq!(
        graph.circles(),
        vec![vec![
            "browser".to_owned(),
            "chaos".to_owned(),
            "smoke".to_owned(),
            "test".to_owned()
        ]]
    );
}

#[test]
fn strings_comments_and_characters_are_not_code() {
    let text = "let a = \"crate::test::x\"; // crate::chaos\nlet b = '\"'; let c = crate::smoke::run;\n/* crate::browser\n */ let d = r#\"super::x \"# ;\nfn f<'a>(x: &'a str) { crate::dev::go() }\n";
    let paths: Vec<String> = referenced_paths(text)
        .into_iter()
        .map(|(line, path, _)| format!("{line}:{}", path.join("::")))
        .collect();
    assert_eq!(paths, vec!["2:crate::smoke::run", "5:crate::dev::go"]);
}

#[test]
fn raw_byte_strings_and_restricted_inline_modules_are_read_as_written() {
    let text = "let body = br#\"{\"a\":\"crate::x\"}\"#; let q = 1;\nlet ok = crate::dev::go;\npub(crate) mod inner {\n    use super::*;\n}\n";
    let found: Vec<(usize, String, bool)> = referenced_paths(text)
        .into_iter()
        .map(|(line, path, inline)| (line, path.join("::"), inline))
        .collect();
    assert_eq!(
        found,
        vec![
            (2, "crate::dev::go".to_owned(), false),
            (4, "super".to_owned(), true)
        ]
    );
}

#[test]
fn a_group_over_several_lines_names_its_leaves_not_its_prefix() {
    let text = "use super::{\n    keys,\n    payouts::{built, key},\n};\n";
    let found: Vec<String> = referenced_paths(text)
        .into_iter()
        .map(|(_, path, _)| path.join("::"))
        .collect();
    assert_eq!(
        found,
        vec![
            "super::keys",
            "super::payouts::built",
            "super::payouts::key"
        ]
    );
}
