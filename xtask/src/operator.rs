//! Where an operator's command (`import`, `recount-stats`, `mark-waiting-payouts`,
//! `migrate-payout-accounts`, `migrate`) acts, said before it acts. Against a deployed stage
//! (`STAGE=<stage>`, `PAYOUTS_TABLE=<its table>`) it runs with the caller's own AWS
//! credentials (the standard chain: environment, profiles and `AWS_PROFILE`, SSO,
//! `credential_process`), names the table, region and account those credentials
//! reach, and asks before writing, unless told `--yes`. Without `STAGE` it is the
//! local stack's, and says so: nothing reaches AWS unasked, nothing local is mistaken
//! for a stage.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Context, Result};

/// The flag that answers the question in advance (scripts, CI).
pub const YES: &str = "--yes";

/// The stage `STAGE` names, when it is a deployed one.
pub fn deployed_stage() -> Option<String> {
    stage_in(&std::env::vars().collect::<Vec<_>>())
}

fn stage_in(vars: &[(String, String)]) -> Option<String> {
    let stage = vars
        .iter()
        .find(|(name, _)| name == "STAGE")
        .map(|(_, value)| value.trim())?;
    (!stage.is_empty() && stage != service::config::LOCAL_STAGE).then(|| stage.to_owned())
}

/// An operator command's arguments, read.
#[derive(Debug, PartialEq)]
pub struct Run {
    /// What the command itself reads (`--yes` taken out).
    pub args: Vec<String>,
    /// Asked in advance.
    pub yes: bool,
    /// Whether it may write (everything but an import's or a migration's `--dry-run`).
    pub writes: bool,
}

/// The commands that read arguments of their own, `--dry-run` among them.
const WITH_ARGUMENTS: [&str; 2] = ["import", "migrate"];

impl Run {
    /// Only the import and the migration read arguments; the others take none but
    /// `--yes`, so that a flag they would ignore cannot skip the question.
    pub fn read(command: &str, args: Vec<String>) -> Result<Self> {
        let yes = args.iter().any(|arg| arg == YES);
        let args: Vec<String> = args.into_iter().filter(|arg| arg != YES).collect();
        let with_arguments = WITH_ARGUMENTS.contains(&command);
        if !with_arguments && !args.is_empty() {
            bail!("`{command}` takes no arguments but {YES}, not {args:?}");
        }
        let writes = !(with_arguments && args.iter().any(|arg| arg == "--dry-run"));
        Ok(Run { args, yes, writes })
    }
}

/// Where an operator command acts, from the environment `vars`.
#[derive(Debug, PartialEq)]
enum Target {
    Local { table: String, endpoint: String },
    Stage { stage: String, table: String },
}

fn target(vars: &[(String, String)]) -> Result<Target> {
    let var = |wanted: &str| {
        vars.iter()
            .find(|(name, _)| name == wanted)
            .map(|(_, value)| value.clone())
            .unwrap_or_default()
    };
    let table = var("PAYOUTS_TABLE");
    let Some(stage) = stage_in(vars) else {
        let endpoint = var("AWS_ENDPOINT_URL_DYNAMODB");
        // The local stack is on this machine; anything else is a stage, named or not.
        if !devkit::testing::is_loopback(&endpoint) {
            bail!(
                "no STAGE, but AWS_ENDPOINT_URL_DYNAMODB is {endpoint}, not this machine: set \
                 STAGE and PAYOUTS_TABLE to act on a deployed stage"
            );
        }
        return Ok(Target::Local { table, endpoint });
    };
    if table.is_empty() {
        bail!("PAYOUTS_TABLE is not set: name stage {stage}'s table (the stack's outputs)");
    }
    // What would send the writes somewhere the account named to the operator does not
    // say: an endpoint or the local stack's credentials left in the shell.
    let elsewhere: Vec<String> = vars
        .iter()
        .filter(|(name, value)| {
            name.starts_with("AWS_ENDPOINT_URL")
                || (name == "AWS_ACCESS_KEY_ID" && value == "local")
        })
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    if !elsewhere.is_empty() {
        bail!(
            "stage {stage} is AWS's, but the environment points elsewhere ({}): unset those",
            elsewhere.join(", ")
        );
    }
    Ok(Target::Stage { stage, table })
}

/// Says where `command` will act and, for a deployed stage, asks before it may write.
/// Errors leave everything untouched.
pub async fn confirm(command: &str, run: &Run) -> Result<()> {
    let (stage, table) = match target(&std::env::vars().collect::<Vec<_>>())? {
        Target::Local { table, endpoint } => {
            eprintln!(
                "{command}: the local stack's table {table} at {endpoint} (set STAGE and \
                 PAYOUTS_TABLE to act on a deployed stage)"
            );
            return Ok(());
        }
        Target::Stage { stage, table } => (stage, table),
    };
    let config = aws_config::load_from_env().await;
    let region = config
        .region()
        .map(ToString::to_string)
        .context("no AWS region: set AWS_REGION, or a region in your profile")?;
    let identity = aws_sdk_sts::Client::new(&config)
        .get_caller_identity()
        .send()
        .await
        .context(
            "who these AWS credentials are (sts:GetCallerIdentity): set AWS_PROFILE, run \
             `aws sso login`, or export credentials",
        )?;
    let account = identity.account().unwrap_or("unknown");
    let arn = identity.arn().unwrap_or("unknown");
    eprintln!(
        "{command}: stage {stage}, table {table} in {region}, AWS account {account} (as {arn})"
    );
    if !run.writes || run.yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!("not confirmed, nothing done: pass {YES} to act on stage {stage} without asking");
    }
    eprint!("Type the table's name to go on: ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() != table {
        bail!("not confirmed, nothing done");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|word| (*word).to_owned()).collect()
    }

    #[test]
    fn without_a_deployed_stage_it_is_the_local_stack() {
        for stage in [None, Some("local"), Some("  ")] {
            let mut env = vars(&[
                ("PAYOUTS_TABLE", "payouts"),
                ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"),
            ]);
            if let Some(stage) = stage {
                env.push(("STAGE".to_owned(), stage.to_owned()));
            }
            assert_eq!(
                target(&env).unwrap(),
                Target::Local {
                    table: "payouts".to_owned(),
                    endpoint: "http://127.0.0.1:8000".to_owned()
                }
            );
        }
    }

    #[test]
    fn without_a_stage_only_this_machine_is_local() {
        for endpoint in ["https://dynamodb.ap-south-1.amazonaws.com", ""] {
            let env = vars(&[
                ("PAYOUTS_TABLE", "payouts-prod"),
                ("AWS_ENDPOINT_URL_DYNAMODB", endpoint),
            ]);
            let refused = target(&env).unwrap_err().to_string();
            assert!(refused.contains("not this machine"), "{refused}");
        }
    }

    #[test]
    fn a_deployed_stage_needs_its_table_and_nothing_pointing_elsewhere() {
        let prod = |extra: &[(&str, &str)]| {
            let mut env = vars(&[("STAGE", "prod"), ("AWS_PROFILE", "payouts-prod")]);
            env.extend(vars(extra));
            target(&env)
        };
        let missing = prod(&[]).unwrap_err().to_string();
        assert!(missing.contains("PAYOUTS_TABLE is not set"), "{missing}");
        assert_eq!(
            prod(&[("PAYOUTS_TABLE", "payouts-prod")]).unwrap(),
            Target::Stage {
                stage: "prod".to_owned(),
                table: "payouts-prod".to_owned()
            }
        );
        for elsewhere in [
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"),
            ("AWS_ENDPOINT_URL", "http://localhost:4566"),
            ("AWS_ACCESS_KEY_ID", "local"),
        ] {
            let refused = prod(&[("PAYOUTS_TABLE", "payouts-prod"), elsewhere])
                .unwrap_err()
                .to_string();
            assert!(refused.contains(elsewhere.0), "{refused}");
        }
    }

    #[test]
    fn only_the_import_and_migrate_read_arguments_and_only_their_dry_run_skips_the_question() {
        assert_eq!(
            Run::read("recount-stats", args(&["--yes"])).unwrap(),
            Run {
                args: vec![],
                yes: true,
                writes: true
            }
        );
        for command in [
            "recount-stats",
            "mark-waiting-payouts",
            "migrate-payout-accounts",
        ] {
            let refused = Run::read(command, args(&["--dry-run"])).unwrap_err();
            assert!(
                refused.to_string().contains("takes no arguments"),
                "{command}"
            );
        }
        let dry = Run::read("import", args(&["--scouts", "s.csv", "--dry-run"])).unwrap();
        assert_eq!((dry.writes, dry.yes), (false, false));
        assert_eq!(dry.args, args(&["--scouts", "s.csv", "--dry-run"]));
        let real = Run::read("import", args(&["--yes", "--orders", "o.jsonl"])).unwrap();
        assert_eq!((real.writes, real.yes), (true, true));
        assert_eq!(real.args, args(&["--orders", "o.jsonl"]));
        let dry = Run::read("migrate", args(&["--segments", "8", "--dry-run"])).unwrap();
        assert_eq!((dry.writes, dry.yes), (false, false));
        assert_eq!(dry.args, args(&["--segments", "8", "--dry-run"]));
        let real = Run::read("migrate", args(&["--restart", "--yes"])).unwrap();
        assert_eq!((real.writes, real.yes), (true, true));
        assert_eq!(real.args, args(&["--restart"]));
    }
}
