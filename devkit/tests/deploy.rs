//! What is deployed is what was built from these sources, with the toolchain they say.

use std::collections::BTreeSet;
use std::process::Command;

use devkit::paths;

/// `1.94.1` as (1, 94, 1); a missing part is 0.
fn version(text: &str) -> (u64, u64, u64) {
    let mut parts = text
        .trim()
        .split('.')
        .map(|part| part.parse::<u64>().expect("a version number"));
    let mut next = || parts.next().unwrap_or(0);
    (next(), next(), next())
}

fn workspace_manifest() -> toml::Table {
    let text = std::fs::read_to_string(paths::workspace_root().join("Cargo.toml")).unwrap();
    text.parse().unwrap()
}

/// The workspace says the lowest Rust that builds it: the highest `rust-version` any
/// locked dependency (of the platforms built for) declares, no lower (a newcomer's
/// older compiler fails on a dependency, not on our word) and no higher.
#[test]
fn rust_version_is_what_the_locked_dependencies_need() {
    let stated = workspace_manifest()["workspace"]["package"]["rust-version"]
        .as_str()
        .expect("workspace.package.rust-version")
        .to_owned();
    let mut needed = (0, 0, 0);
    let mut by = String::new();
    for platform in ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"] {
        let output = Command::new(env!("CARGO"))
            .args(["metadata", "--format-version", "1", "--locked"])
            .args(["--filter-platform", platform])
            .current_dir(paths::workspace_root())
            .output()
            .unwrap();
        assert!(output.status.success(), "cargo metadata: {output:?}");
        let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let members: BTreeSet<&str> = metadata["workspace_members"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|id| id.as_str())
            .collect();
        let resolved: BTreeSet<&str> = metadata["resolve"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|node| node["id"].as_str())
            .collect();
        for package in metadata["packages"].as_array().unwrap() {
            let id = package["id"].as_str().unwrap();
            if members.contains(id) || !resolved.contains(id) {
                continue;
            }
            if let Some(declared) = package["rust_version"].as_str() {
                if version(declared) > needed {
                    needed = version(declared);
                    by = format!("{} {}", package["name"], package["version"]);
                }
            }
        }
    }
    assert_eq!(
        version(&stated),
        needed,
        "Cargo.toml says rust-version {stated}; the locked dependencies need {needed:?} ({by})"
    );

    // The pinned toolchain builds it, for the deployed target too.
    let toolchain: toml::Table =
        std::fs::read_to_string(paths::workspace_root().join("rust-toolchain.toml"))
            .unwrap()
            .parse()
            .unwrap();
    let toolchain = &toolchain["toolchain"];
    let channel = toolchain["channel"].as_str().unwrap();
    assert!(
        version(channel) >= needed,
        "rust-toolchain.toml pins {channel}, older than the {needed:?} the dependencies need"
    );
    let targets: Vec<&str> = toolchain["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|target| target.as_str())
        .collect();
    assert!(
        targets.contains(&"aarch64-unknown-linux-gnu"),
        "rust-toolchain.toml lacks the arm64 target the functions are deployed as: {targets:?}"
    );
}

/// SAM's build cache is keyed on a function's `CodeUri`, which held only its thin
/// `main.rs`: an edit to `shared/` or `Cargo.lock` left every cache valid, and a
/// cached `sam build` shipped the old binaries. So SAM builds nothing: every function
/// ships the zip `cargo xtask package` built from the whole workspace (and
/// `cargo xtask deploy` refuses a zip not built from the current sources).
#[test]
fn every_function_ships_the_zip_cargo_xtask_package_builds() {
    let root = paths::workspace_root();
    let template: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(paths::template()).unwrap()).unwrap();
    let mut shipped = BTreeSet::new();
    for (name, resource) in template["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let name = name.as_str().unwrap();
        assert!(
            resource["Metadata"]["BuildMethod"].is_null(),
            "{name}: a BuildMethod makes `sam build` build it, from a cache that misses shared/"
        );
        let code = resource["Properties"]["CodeUri"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no CodeUri"));
        let function = code
            .strip_prefix("target/lambda/")
            .and_then(|rest| rest.strip_suffix("/bootstrap.zip"))
            .unwrap_or_else(|| {
                panic!("{name}: CodeUri {code} is not target/lambda/<function>/bootstrap.zip")
            });
        assert!(
            root.join("functions")
                .join(function)
                .join("Cargo.toml")
                .is_file(),
            "{name}: {code} names no function crate"
        );
        assert!(
            shipped.insert(function.to_owned()),
            "{function} shipped twice"
        );
    }
    let crates: BTreeSet<String> = std::fs::read_dir(root.join("functions"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        shipped, crates,
        "every function crate is deployed, and only those"
    );

    let samconfig: toml::Table = std::fs::read_to_string(root.join("samconfig.toml"))
        .unwrap()
        .parse()
        .unwrap();
    for (env, sections) in &samconfig {
        if let Some(build) = sections.get("build") {
            panic!("samconfig.toml [{env}.build]: {build}: deploys do not run `sam build`");
        }
    }
}
