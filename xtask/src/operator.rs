//! Where an operator's command (`import`, `recount-stats`, `mark-waiting-payouts`,
//! `migrate-payout-accounts`) acts, said before it acts. Against a deployed stage
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
    let stage = std::env::var("STAGE").ok()?;
    let stage = stage.trim();
    (!stage.is_empty() && stage != service::config::LOCAL_STAGE).then(|| stage.to_owned())
}

/// Says where `command` will act and, for a deployed stage, asks first (`writes`
/// false: it only reads, and is not asked about). Errors leave everything untouched.
pub async fn confirm(command: &str, writes: bool, yes: bool) -> Result<()> {
    let table = std::env::var("PAYOUTS_TABLE").unwrap_or_default();
    let Some(stage) = deployed_stage() else {
        let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_default();
        eprintln!(
            "{command}: the local stack's table {table} at {endpoint} (set STAGE and \
             PAYOUTS_TABLE to act on a deployed stage)"
        );
        return Ok(());
    };
    if table.is_empty() {
        bail!("PAYOUTS_TABLE is not set: name stage {stage}'s table (the stack's outputs)");
    }
    // What would send the writes somewhere the account named below does not say: an
    // endpoint or the local stack's credentials left in the shell.
    let local: Vec<String> = std::env::vars()
        .filter(|(name, value)| {
            name.starts_with("AWS_ENDPOINT_URL")
                || (name == "AWS_ACCESS_KEY_ID" && value == "local")
        })
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    if !local.is_empty() {
        bail!(
            "stage {stage} is AWS's, but the environment points elsewhere ({}): unset those",
            local.join(", ")
        );
    }
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
    if !writes || yes {
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
