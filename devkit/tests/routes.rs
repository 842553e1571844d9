//! One truth for the routes: `shared::http::Endpoint` names every API function, and
//! the local watch router and the crates under `functions/` must agree with it.

use std::collections::BTreeSet;

use devkit::paths;
use shared::http::Endpoint;

/// Functions that are not behind an HTTP route.
const SCHEDULED: &[&str] = &["process-pending"];

fn workspace_manifest() -> toml::Table {
    let text = std::fs::read_to_string(paths::workspace_root().join("Cargo.toml")).unwrap();
    text.parse().unwrap()
}

#[test]
fn the_watch_router_serves_each_route_with_its_function() {
    let manifest = workspace_manifest();
    let router = manifest["workspace"]["metadata"]["lambda"]["watch"]["router"]
        .as_table()
        .expect("[workspace.metadata.lambda.watch.router]");
    let mut routed = BTreeSet::new();
    for (path, targets) in router {
        for target in targets.as_array().expect("routes list method and function") {
            let method = target["method"].as_str().unwrap();
            let function = target["function"].as_str().unwrap();
            routed.insert((method.to_owned(), path.clone(), function.to_owned()));
        }
    }
    let expected: BTreeSet<_> = Endpoint::ALL
        .iter()
        .map(|e| {
            (
                e.method().to_string(),
                e.path().to_owned(),
                e.function().to_owned(),
            )
        })
        .collect();
    assert_eq!(routed, expected);
}

#[test]
fn every_function_crate_serves_the_endpoint_it_is_named_for() {
    let dir = paths::workspace_root().join("functions");
    let crates: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let expected: BTreeSet<String> = Endpoint::ALL
        .iter()
        .map(|endpoint| endpoint.function().to_owned())
        .chain(SCHEDULED.iter().map(|name| (*name).to_owned()))
        .collect();
    assert_eq!(crates, expected);
    for endpoint in Endpoint::ALL {
        let main =
            std::fs::read_to_string(dir.join(endpoint.function()).join("src/main.rs")).unwrap();
        assert!(
            main.contains(&format!("run(Endpoint::{endpoint:?})")),
            "functions/{}/src/main.rs must run Endpoint::{endpoint:?}",
            endpoint.function()
        );
        let manifest: toml::Table =
            std::fs::read_to_string(dir.join(endpoint.function()).join("Cargo.toml"))
                .unwrap()
                .parse()
                .unwrap();
        assert_eq!(
            manifest["package"]["name"].as_str(),
            Some(endpoint.function())
        );
    }
}
