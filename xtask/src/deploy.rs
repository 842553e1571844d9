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
    let stages = deployable_stages(&root)?;
    if !stages.iter().any(|known| known == stage) {
        bail!("samconfig.toml has no [{stage}.deploy.parameters]; its stages: {stages:?}");
    }
    let (indexes, table) = sharded_indexes(&root, stage)?;
    if indexes < ALL_SHARDED_INDEXES {
        tokio::runtime::Runtime::new()?.block_on(async {
            let config = aws_config::load_from_env().await;
            refuse_dropping_read_indexes(&aws_sdk_dynamodb::Client::new(&config), &table, indexes)
                .await
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

/// The sharded indexes a deploy of `stage` keeps (its overrides' `ShardedIndexes`, else
/// all three) and its table (`payouts-<Stage>`, the template's name for it).
fn sharded_indexes(root: &std::path::Path, stage: &str) -> Result<(u8, String)> {
    let text = std::fs::read_to_string(root.join("samconfig.toml"))?;
    let config: toml::Table = text.parse().context("samconfig.toml")?;
    let overrides = config
        .get(stage)
        .and_then(|sections| sections.get("deploy"))
        .and_then(|deploy| deploy.get("parameters"))
        .and_then(|parameters| parameters.get("parameter_overrides"))
        .and_then(toml::Value::as_str)
        .unwrap_or_default();
    let indexes = match override_value(overrides, "ShardedIndexes") {
        Some(value) => value.parse().with_context(|| {
            format!("samconfig.toml [{stage}]: ShardedIndexes is 0 to 3, not `{value}`")
        })?,
        None => ALL_SHARDED_INDEXES,
    };
    let stage_parameter = override_value(overrides, "Stage").unwrap_or(stage);
    Ok((indexes, format!("payouts-{stage_parameter}")))
}

/// `name`'s value in SAM's `Name="value" Other=value` overrides.
fn override_value<'a>(overrides: &'a str, name: &str) -> Option<&'a str> {
    overrides.split_whitespace().find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| value.trim_matches('"'))
    })
}

/// Fewer than three sharded indexes makes CloudFormation delete one, which a table
/// that has moved to them still has every store query (docs/DEPLOY.md): refused once
/// its marker is there. A table not made yet has not moved.
async fn refuse_dropping_read_indexes(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    indexes: u8,
) -> Result<()> {
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
fn deployable_stages(root: &std::path::Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(root.join("samconfig.toml"))?;
    let config: toml::Table = text.parse().context("samconfig.toml")?;
    Ok(config
        .iter()
        .filter(|(_, sections)| sections.get("deploy").is_some())
        .map(|(stage, _)| stage.clone())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stages_are_samconfigs() {
        let stages = deployable_stages(&paths::workspace_root()).unwrap();
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
    fn the_sharded_indexes_are_all_three_unless_the_overrides_say() {
        assert_eq!(
            sharded_indexes(&paths::workspace_root(), "prod").unwrap(),
            (3, "payouts-prod".to_owned())
        );
        let overrides = r#"Stage="prod" ShardedIndexes="1" PaymentGateway=razorpayx"#;
        assert_eq!(override_value(overrides, "ShardedIndexes"), Some("1"));
        assert_eq!(
            override_value(overrides, "PaymentGateway"),
            Some("razorpayx")
        );
        assert_eq!(override_value(overrides, "Sharded"), None);
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
