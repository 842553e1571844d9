//! One truth for the routes: `api::Endpoint` names every API function, and
//! the local watch router and the crates under `functions/` must agree with it.

use std::collections::BTreeSet;

use api::Endpoint;
use devkit::paths;

/// Functions that serve no HTTP route: the three schedules, the table's stream, the
/// `payouts` bus and the marketplace's.
const NOT_HTTP: &[&str] = &[
    "process-pending",
    "sweep-earnings",
    "reconcile",
    "publish-events",
    "notify",
    "ingest-marketplace",
];

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
        .chain(NOT_HTTP.iter().map(|name| (*name).to_owned()))
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

/// A function serving no route does not link the API's edge (the router, the token
/// verifier): it depends on `service` and below, never on `api`, and since `api` sits
/// above `service`, nothing it depends on can pull the edge in. An HTTP function does.
#[test]
fn only_the_http_functions_link_the_api_edge() {
    let dir = paths::workspace_root().join("functions");
    let depends_on_api = |function: &str| {
        let manifest: toml::Table = std::fs::read_to_string(dir.join(function).join("Cargo.toml"))
            .unwrap()
            .parse()
            .unwrap();
        manifest["dependencies"]
            .as_table()
            .is_some_and(|dependencies| dependencies.contains_key("api"))
    };
    for function in NOT_HTTP {
        assert!(
            !depends_on_api(function),
            "functions/{function} must not depend on api"
        );
    }
    for endpoint in Endpoint::ALL {
        assert!(
            depends_on_api(endpoint.function()),
            "functions/{} serves a route through api",
            endpoint.function()
        );
    }
}

fn yaml(file: &str) -> serde_yaml::Value {
    let text = std::fs::read_to_string(paths::workspace_root().join(file)).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

/// (method, path, function) for every route `api::Endpoint` declares.
fn declared_routes() -> BTreeSet<(String, String, String)> {
    Endpoint::ALL
        .iter()
        .map(|e| {
            (
                e.method().to_string(),
                e.path().to_owned(),
                e.function().to_owned(),
            )
        })
        .collect()
}

#[test]
fn the_sam_template_deploys_every_function_and_route() {
    let template = yaml("template.yaml");
    let resources = template["Resources"].as_mapping().unwrap();
    let mut functions = BTreeSet::new();
    let mut routes = BTreeSet::new();
    for resource in resources.values() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let properties = &resource["Properties"];
        let code = properties["CodeUri"].as_str().unwrap();
        // Its package's zip (tests/deploy.rs holds the shape).
        let function = code
            .strip_prefix("target/lambda/")
            .and_then(|rest| rest.strip_suffix("/bootstrap.zip"))
            .unwrap()
            .to_owned();
        functions.insert(function.clone());
        // The stream's publisher has an event source mapping of its own instead.
        let events = properties["Events"]
            .as_mapping()
            .cloned()
            .unwrap_or_default();
        for event in events.values() {
            if event["Type"].as_str() == Some("HttpApi") {
                let method = event["Properties"]["Method"].as_str().unwrap().to_owned();
                let path = event["Properties"]["Path"].as_str().unwrap().to_owned();
                routes.insert((method, path, function.clone()));
            }
        }
    }
    let crates: BTreeSet<String> = std::fs::read_dir(paths::workspace_root().join("functions"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        functions, crates,
        "a function in template.yaml per crate under functions/"
    );
    assert_eq!(routes, declared_routes(), "template.yaml HttpApi events");
}

#[test]
fn the_openapi_spec_documents_every_route_and_no_other() {
    let spec = yaml("openapi.yaml");
    let mut routes = BTreeSet::new();
    for (path, operations) in spec["paths"].as_mapping().unwrap() {
        for (method, operation) in operations.as_mapping().unwrap() {
            let function = operation["x-function"]
                .as_str()
                .expect("x-function on every operation");
            routes.insert((
                method.as_str().unwrap().to_uppercase(),
                path.as_str().unwrap().to_owned(),
                function.to_owned(),
            ));
        }
    }
    assert_eq!(routes, declared_routes());
}

/// Each function is told its own timeout (`FUNCTION_TIMEOUT_SECS`), so that the
/// configuration can refuse a lease shorter than it; the value must be the real one,
/// and the smallest lease the template allows must outlive every function.
#[test]
fn every_function_knows_its_timeout_and_the_lease_outlives_it() {
    let template = yaml("template.yaml");
    let globals = &template["Globals"]["Function"];
    let min_lease = template["Parameters"]["LeaseSecs"]["MinValue"]
        .as_u64()
        .unwrap();
    for (name, resource) in template["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let properties = &resource["Properties"];
        let timeout = properties["Timeout"]
            .as_u64()
            .or_else(|| globals["Timeout"].as_u64())
            .unwrap();
        let told = properties["Environment"]["Variables"]["FUNCTION_TIMEOUT_SECS"]
            .as_u64()
            .or_else(|| globals["Environment"]["Variables"]["FUNCTION_TIMEOUT_SECS"].as_u64());
        assert_eq!(told, Some(timeout), "{name:?}: FUNCTION_TIMEOUT_SECS");
        // An email's claim must outlive the delivery holding it, or a second delivery
        // could send while the first still might.
        if properties["CodeUri"].as_str() == Some("functions/notify") {
            let lease = u64::try_from(service::notify::EMAIL_LEASE_SECS).unwrap();
            assert!(
                timeout < lease,
                "{name:?}: timeout {timeout} s vs email lease {lease} s"
            );
        }
        assert!(
            min_lease > timeout,
            "{name:?}: LeaseSecs MinValue {min_lease}"
        );
    }
}

/// The README's route table names each function's handler, where its behaviour starts:
/// every function has its row, and every handler it names is a function of that name in
/// the file it points at.
#[test]
fn the_readme_names_a_handler_that_exists_for_every_function() {
    let root = paths::workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    // The section runs to the next heading, whatever its level.
    let api = readme
        .split_once("\n## API\n")
        .map(|(_, rest)| {
            let end = ["\n## ", "\n### "]
                .iter()
                .filter_map(|heading| rest.find(heading))
                .min()
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .expect("the README's API section");
    let source = |file: &str| std::fs::read_to_string(root.join(file)).unwrap();
    let mut named = BTreeSet::new();
    for row in api
        .lines()
        .filter(|line| line.starts_with("| `") || line.starts_with("| ("))
    {
        let cells: Vec<&str> = row.split(" | ").collect();
        if cells.len() != 5 {
            continue;
        }
        let function = cells[2].trim_matches('`');
        let handler = cells[3].trim_matches('`');
        let (file, name) = match handler.rsplit_once("::") {
            Some(("endpoints", name)) => ("shared/api/src/endpoints.rs".to_owned(), name),
            Some(("dashboard", name)) => ("shared/api/src/dashboard.rs".to_owned(), name),
            Some(("webhook", name)) => ("shared/api/src/webhook.rs".to_owned(), name),
            Some(("marketplace", name)) => ("shared/api/src/marketplace.rs".to_owned(), name),
            Some((module, name)) if module.starts_with("service::") => {
                let path = module.trim_start_matches("service::").replace("::", "/");
                let file = ["shared/service/src/{}.rs", "shared/service/src/{}/mod.rs"]
                    .iter()
                    .map(|pattern| pattern.replace("{}", &path))
                    .find(|file| root.join(file).is_file())
                    .unwrap_or_else(|| panic!("{function}: no file for {module}"));
                (file, name)
            }
            _ => panic!("{function}: `{handler}` is not a handler path"),
        };
        let text = source(&file);
        assert!(
            [
                format!("fn {name}("),
                format!("fn {name}<"),
                format!("struct {name}"),
            ]
            .iter()
            .any(|declared| text.contains(declared.as_str())),
            "{function}: {file} declares no `{name}`"
        );
        named.insert(function.to_owned());
    }
    let crates: BTreeSet<String> = std::fs::read_dir(root.join("functions"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        named, crates,
        "functions without a row, or rows without a function"
    );
}
