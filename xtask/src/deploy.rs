//! `cargo xtask deploy --stage S [-- <sam deploy args>]`: the package, built now from
//! these sources and checked to be theirs, deployed with `sam deploy --config-env S`
//! (samconfig.toml's `[S.*]` sections). SAM builds nothing (docs/DEPLOY.md).

use std::process::Command;

use anyhow::{bail, Context, Result};
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
    fn a_deploy_needs_a_known_stage_before_it_builds_anything() {
        let refused = run(&["--stage".to_owned(), "staging".to_owned()]).unwrap_err();
        assert!(refused
            .to_string()
            .contains("no [staging.deploy.parameters]"));
        assert!(run(&[]).unwrap_err().to_string().contains(USAGE));
    }
}
