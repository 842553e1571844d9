//! `cargo xtask deploy --stage S [-- <sam deploy args>]`: the package, built now from
//! these sources and checked to be theirs, deployed with `sam deploy --config-env S`
//! (samconfig.toml's `[S.*]` sections). SAM builds nothing (docs/DEPLOY.md).

use std::process::Command;

use anyhow::{bail, Context, Result};
use aws_sdk_dynamodb::operation::get_item::GetItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use devkit::paths;

use crate::{package, tools};

const USAGE: &str = "usage: cargo xtask deploy --stage STAGE [-- <sam deploy arguments>]";

pub fn run(args: &[String]) -> Result<()> {
    let (ours, sam_args) = match args.iter().position(|arg| arg == "--") {
        Some(split) => (&args[..split], &args[split + 1..]),
        None => (args, &[][..]),
    };
    let stage = match ours {
        [flag, stage] if flag == "--stage" => stage.as_str(),
        _ => bail!(USAGE),
    };
    refuse_overrides(sam_args)?;
    let root = paths::workspace_root();
    let config = samconfig(&root)?;
    let stages = deployable_stages(&config);
    if !stages.iter().any(|known| known == stage) {
        bail!("samconfig.toml has no [{stage}.deploy.parameters]; its stages: {stages:?}");
    }
    let target = deploy_target(&config, stage, sam_args)?;
    if target.sharded_indexes < ALL_SHARDED_INDEXES {
        refuse_elsewhere(std::env::vars())?;
        tokio::runtime::Runtime::new()?.block_on(async {
            let mut loader = aws_config::from_env();
            if let Some(region) = &target.region {
                loader = loader.region(aws_config::Region::new(region.clone()));
            }
            if let Some(profile) = &target.profile {
                loader = loader.profile_name(profile);
            }
            let client = aws_sdk_dynamodb::Client::new(&loader.load().await);
            refuse_dropping_read_indexes(&client, &target.table, target.sharded_indexes).await
        })?;
    }
    // Every workspace crate compiled again: cargo trusts modification times, and a
    // file put back with an older one (a checkout, `cp -p`) would keep the binary built
    // from what it replaced while the digest matches the file.
    let (manifest, took) =
        package::build(&root, package::Scope::Every, package::Rebuild::Workspace)?;
    package::print_sizes(&manifest, took);
    // What is about to ship is what was just built from the tree as it is now, all of
    // it.
    let manifest = package::verify(&root)?;
    if !manifest.is_complete(&root)? {
        bail!("the package does not hold every function: nothing deployed");
    }
    let sam = tools::sam()?;
    tools::run(
        Command::new(sam.join("sam"))
            .args(["deploy", "--config-env", stage, "--template"])
            .arg(paths::template())
            .args(sam_args)
            .env("SAM_CLI_TELEMETRY", "0")
            .current_dir(&root),
    )
    .with_context(|| format!("sam deploy --config-env {stage}"))
}

/// The `sam deploy` options that would deploy something else than what was checked:
/// another template (a stale `.aws-sam/build`), another stage's settings or stack,
/// parameters replacing the stage's own (all of them: SAM does not merge them), or the
/// guided mode, which asks for all of those again.
const FIXED_BY_THE_STAGE: [&str; 9] = [
    "-t",
    "--template",
    "--template-file",
    "--config-env",
    "--config-file",
    "--stack-name",
    "--parameter-overrides",
    "-g",
    "--guided",
];

fn refuse_overrides(sam_args: &[String]) -> Result<()> {
    for arg in sam_args {
        let option = arg
            .split_once('=')
            .map_or(arg.as_str(), |(option, _)| option);
        // A short option may carry its value attached (`-tFILE`).
        let short = option.get(..2).filter(|_| !option.starts_with("--"));
        if FIXED_BY_THE_STAGE.contains(&option)
            || short.is_some_and(|short| FIXED_BY_THE_STAGE.contains(&short))
        {
            bail!(
                "`{option}` is the stage's to say (samconfig.toml, the checked package): \
                 change samconfig.toml instead"
            );
        }
    }
    Ok(())
}

/// The template's `ShardedIndexes` when a stage's overrides do not name it: all three.
const ALL_SHARDED_INDEXES: u8 = 3;

/// The template's `Stage` when a stage's overrides do not name it.
const TEMPLATE_STAGE: &str = "dev";

/// What a deploy of a stage keeps of the sharded indexes, and where its table is: what
/// SAM will deploy, from samconfig.toml and the `sam deploy` arguments.
#[derive(Debug, PartialEq)]
struct DeployTarget {
    sharded_indexes: u8,
    /// `payouts-<Stage>`, the template's name for it.
    table: String,
    region: Option<String>,
    profile: Option<String>,
}

fn deploy_target(config: &toml::Table, stage: &str, sam_args: &[String]) -> Result<DeployTarget> {
    let section = |command: &str| {
        config
            .get(stage)
            .and_then(|sections| sections.get(command))
            .and_then(|command| command.get("parameters"))
    };
    // SAM reads a setting from the command's section, else from `global`.
    let setting = |name: &str| {
        section("deploy")
            .and_then(|parameters| parameters.get(name))
            .or_else(|| section("global").and_then(|parameters| parameters.get(name)))
    };
    let overrides = match setting("parameter_overrides") {
        None => Vec::new(),
        Some(toml::Value::String(text)) => split_overrides(text),
        Some(toml::Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .with_context(|| {
                format!("samconfig.toml [{stage}]: parameter_overrides holds a non-string")
            })?,
        Some(other) => bail!(
            "samconfig.toml [{stage}]: parameter_overrides is a string or a list of strings, \
             not {other}"
        ),
    };
    let mut parameters = std::collections::HashMap::new();
    for pair in &overrides {
        let (name, value) = override_pair(pair)
            .with_context(|| format!("samconfig.toml [{stage}]: `{pair}` is not Name=value"))?;
        // The last of a name wins, as in SAM.
        parameters.insert(name, value);
    }
    let sharded_indexes = match parameters.get("ShardedIndexes") {
        Some(value) => value
            .parse()
            .ok()
            .filter(|indexes| *indexes <= ALL_SHARDED_INDEXES)
            .with_context(|| {
                format!("samconfig.toml [{stage}]: ShardedIndexes is 0 to 3, not `{value}`")
            })?,
        None => ALL_SHARDED_INDEXES,
    };
    let stage_parameter = parameters
        .get("Stage")
        .map_or(TEMPLATE_STAGE, String::as_str);
    let chosen = |name: &str| {
        sam_option(sam_args, &format!("--{name}")).or_else(|| {
            setting(name)
                .and_then(toml::Value::as_str)
                .map(str::to_owned)
        })
    };
    Ok(DeployTarget {
        sharded_indexes,
        table: format!("payouts-{stage_parameter}"),
        region: chosen("region"),
        profile: chosen("profile"),
    })
}

/// SAM's `Name="value" Other=value` overrides, a pair each, a quoted value's spaces
/// kept and its quotes dropped.
fn split_overrides(text: &str) -> Vec<String> {
    let mut pairs = Vec::new();
    let mut pair = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !pair.is_empty() {
                    pairs.push(std::mem::take(&mut pair));
                }
            }
            c => pair.push(c),
        }
    }
    if !pair.is_empty() {
        pairs.push(pair);
    }
    pairs
}

/// One override as a name and value: `Name=value`, or CloudFormation's
/// `ParameterKey=Name,ParameterValue=value`.
fn override_pair(pair: &str) -> Option<(String, String)> {
    if let Some(rest) = pair.strip_prefix("ParameterKey=") {
        let (name, value) = rest.split_once(",ParameterValue=")?;
        return Some((name.to_owned(), value.trim_matches('"').to_owned()));
    }
    let (name, value) = pair.split_once('=')?;
    Some((name.to_owned(), value.trim_matches('"').to_owned()))
}

/// `option`'s value among the `sam deploy` arguments (`--region X`, `--region=X`).
fn sam_option(sam_args: &[String], option: &str) -> Option<String> {
    let mut args = sam_args.iter();
    let mut found = None;
    while let Some(arg) = args.next() {
        if arg == option {
            found = args.next().cloned();
        } else if let Some(value) = arg
            .strip_prefix(option)
            .and_then(|rest| rest.strip_prefix('='))
        {
            found = Some(value.to_owned());
        }
    }
    found
}

/// The marker's read goes where SAM deploys, not to an endpoint left in the shell (the
/// local stack's), which would find no table and let the deploy through.
fn refuse_elsewhere(vars: impl Iterator<Item = (String, String)>) -> Result<()> {
    let elsewhere: Vec<String> = vars
        .filter(|(name, _)| name.starts_with("AWS_ENDPOINT_URL"))
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    if !elsewhere.is_empty() {
        bail!(
            "a deploy with fewer than 3 sharded indexes reads the stage's table first, but \
             the environment points elsewhere ({}): unset those",
            elsewhere.join(", ")
        );
    }
    Ok(())
}

/// Fewer than three sharded indexes makes CloudFormation delete one, which a table
/// that has moved to them still has every store query (docs/DEPLOY.md): refused once
/// its marker is there. A table not made yet has not moved.
async fn refuse_dropping_read_indexes(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    indexes: u8,
) -> Result<()> {
    if indexes >= ALL_SHARDED_INDEXES {
        return Ok(());
    }
    let marker = client
        .get_item()
        .table_name(table)
        .key(
            store::keys::PK,
            AttributeValue::S(store::keys::LAYOUT_PK.to_owned()),
        )
        .key(
            store::keys::SK,
            AttributeValue::S(store::keys::LAYOUT_SK.to_owned()),
        )
        .consistent_read(true)
        .send()
        .await;
    match marker {
        Ok(found) if found.item.is_some() => bail!(
            "{table} reads the sharded indexes (cargo xtask migrate marked it): \
             ShardedIndexes=\"{indexes}\" would delete one it queries; take the override \
             out of samconfig.toml or set it to \"3\" (docs/DEPLOY.md)"
        ),
        Ok(_) => Ok(()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(GetItemError::is_resource_not_found_exception) =>
        {
            Ok(())
        }
        Err(err) => Err(err).with_context(|| {
            format!(
                "reading whether {table} moved to the sharded indexes, before a deploy with \
                 ShardedIndexes=\"{indexes}\""
            )
        }),
    }
}

/// The stages samconfig.toml knows how to deploy: each `[S.deploy.parameters]`.
fn deployable_stages(config: &toml::Table) -> Vec<String> {
    config
        .iter()
        .filter(|(_, sections)| sections.get("deploy").is_some())
        .map(|(stage, _)| stage.clone())
        .collect()
}

fn samconfig(root: &std::path::Path) -> Result<toml::Table> {
    let text = std::fs::read_to_string(root.join("samconfig.toml"))?;
    text.parse().context("samconfig.toml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stages_are_samconfigs() {
        let stages = deployable_stages(&samconfig(&paths::workspace_root()).unwrap());
        assert_eq!(stages, ["dev", "prod"]);
    }

    #[test]
    fn nothing_after_the_dashes_can_change_what_is_deployed() {
        for option in [
            "--template-file=.aws-sam/build/template.yaml",
            "--template",
            "-t",
            "--config-env",
            "--parameter-overrides",
            "--stack-name",
            "-t.aws-sam/build/template.yaml",
            "--guided",
            "-g",
        ] {
            let args =
                ["--stage", "dev", "--", "--no-confirm-changeset", option].map(str::to_owned);
            let refused = run(&args).unwrap_err().to_string();
            assert!(
                refused.contains("is the stage's to say"),
                "{option}: {refused}"
            );
        }
        let allowed = ["--no-confirm-changeset", "--disable-rollback"].map(str::to_owned);
        assert!(refuse_overrides(&allowed).is_ok());
    }

    #[test]
    fn the_deploy_target_is_read_as_sam_reads_it() {
        let target = |text: &str, sam_args: &[&str]| {
            let config: toml::Table = text.parse().unwrap();
            let sam_args: Vec<String> = sam_args.iter().map(|arg| (*arg).to_owned()).collect();
            deploy_target(&config, "prod", &sam_args)
        };
        let samconfig =
            std::fs::read_to_string(paths::workspace_root().join("samconfig.toml")).unwrap();
        assert_eq!(
            target(&samconfig, &[]).unwrap(),
            DeployTarget {
                sharded_indexes: 3,
                table: "payouts-prod".to_owned(),
                region: None,
                profile: None,
            }
        );
        // As an operator writes it in samconfig.toml, escaped quotes and all; the last
        // of a name wins; the region and profile from the global section, the
        // arguments first.
        let escaped = r#"
            [prod.global.parameters]
            region = "ap-south-1"
            profile = "payouts"
            [prod.deploy.parameters]
            parameter_overrides = "Stage=\"live\" ShardedIndexes=\"3\" NotifyFromAddress=\"Payouts <payouts@example.com>\" ShardedIndexes=\"1\""
        "#;
        assert_eq!(
            target(escaped, &["--no-confirm-changeset", "--region=eu-west-1"]).unwrap(),
            DeployTarget {
                sharded_indexes: 1,
                table: "payouts-live".to_owned(),
                region: Some("eu-west-1".to_owned()),
                profile: Some("payouts".to_owned()),
            }
        );
        let listed = r#"
            [prod.deploy.parameters]
            parameter_overrides = ["Stage=prod", "ParameterKey=ShardedIndexes,ParameterValue=2"]
            region = "ap-south-1"
        "#;
        let read = target(listed, &["--profile", "ops"]).unwrap();
        assert_eq!(
            (read.sharded_indexes, read.table.as_str()),
            (2, "payouts-prod")
        );
        assert_eq!(
            (read.region.as_deref(), read.profile.as_deref()),
            (Some("ap-south-1"), Some("ops"))
        );
        // Without a Stage, the template's own.
        let unnamed = "[prod.deploy.parameters]\nparameter_overrides = \"ShardedIndexes=0\"";
        assert_eq!(target(unnamed, &[]).unwrap().table, "payouts-dev");
        let template = std::fs::read_to_string(paths::template()).unwrap();
        assert!(template.contains(&format!(
            "  Stage:\n    Type: String\n    Default: {TEMPLATE_STAGE}\n"
        )));
        for wrong in [
            "[prod.deploy.parameters]\nparameter_overrides = 3",
            "[prod.deploy.parameters]\nparameter_overrides = [3]",
            "[prod.deploy.parameters]\nparameter_overrides = \"ShardedIndexes=4\"",
            "[prod.deploy.parameters]\nparameter_overrides = \"ShardedIndexes\"",
        ] {
            assert!(target(wrong, &[]).is_err(), "{wrong}");
        }
    }

    #[test]
    fn the_marker_is_not_read_through_an_endpoint_left_in_the_shell() {
        let vars = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect::<Vec<_>>()
                .into_iter()
        };
        assert!(refuse_elsewhere(vars(&[("AWS_REGION", "ap-south-1")])).is_ok());
        let refused = refuse_elsewhere(vars(&[(
            "AWS_ENDPOINT_URL_DYNAMODB",
            "http://127.0.0.1:8000",
        )]))
        .unwrap_err()
        .to_string();
        assert!(refused.contains("AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:8000"));
    }

    /// A moved table's deploy may not drop a sharded index; one not moved, or not made
    /// yet, may be given them one at a time.
    #[tokio::test]
    async fn fewer_sharded_indexes_are_refused_once_the_table_has_moved() {
        let store = devkit::testing::fresh_store().await;
        let client = store.client();
        let table = store.table();
        assert!(store.sharded_since().await.unwrap().is_some());
        for indexes in 0..ALL_SHARDED_INDEXES {
            let refused = refuse_dropping_read_indexes(client, table, indexes)
                .await
                .unwrap_err()
                .to_string();
            assert!(refused.contains("would delete one it queries"), "{refused}");
        }
        refuse_dropping_read_indexes(client, table, ALL_SHARDED_INDEXES)
            .await
            .unwrap();
        assert!(store.unmark_sharded().await.unwrap());
        refuse_dropping_read_indexes(client, table, 1)
            .await
            .unwrap();
        refuse_dropping_read_indexes(client, "payouts-not-made-yet", 1)
            .await
            .unwrap();
    }

    #[test]
    fn a_deploy_needs_a_known_stage_before_it_builds_anything() {
        let refused = run(&["--stage".to_owned(), "staging".to_owned()]).unwrap_err();
        assert!(refused
            .to_string()
            .contains("no [staging.deploy.parameters]"));
        assert!(run(&[]).unwrap_err().to_string().contains(USAGE));
    }
}
