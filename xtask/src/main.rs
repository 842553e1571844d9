//! `cargo xtask <command>`: the project's local interfaces (README, Local commands).

mod bench;
mod browser;
mod chaos;
mod children;
mod circles;
mod deploy;
mod dev;
mod emails;
mod events;
mod front;
mod import;
mod invoke;
mod migrate;
mod operator;
mod package;
mod reconcile;
#[cfg(test)]
mod scratch;
mod servers;
mod settings;
mod smoke;
mod test;
mod tools;
mod workspace_tests;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use api::auth::AuthConfig;
use domain::actor::Role;
use service::config::{Config, StageConfig};

const USAGE: &str = "\
usage: cargo xtask <command>

  dev                      the whole local stack: DynamoDB Local, table, demo data,
                           the API on http://127.0.0.1:$API_PORT (9000),
                           the hourly schedule's local stand-in, and the event path
                           (stream → publish-events → moto's EventBridge on
                           $MOTO_PORT (9200) → notify → moto's SES)
  emails                   the emails the local SES accepted: to, subject, first
                           lines ($MOTO_ENDPOINT, default http://127.0.0.1:9200)
  invoke FUNCTION [--data-file FILE]
                           invoke FUNCTION on the running `dev` stack's functions
                           (127.0.0.1:$INVOKE_PORT, 9001) with the event in FILE
                           (default events/FUNCTION.json) and print its answer
  reconcile [--date YYYY-MM-DD]
                           reconcile a day (default yesterday, PAYOUT_SCHEDULE_TZ) with
                           the running `dev` stack's gateway, through its `reconcile`
                           function, and print the report and findings
                           (docs/OPERATIONS.md, \"Reconciliation\")
  test [-- <cargo test options> [-- <test binary args>]]
                           every check and test (what CI runs); e.g.
                           `test -- -p service --test listing -- merged`
  circles [DIR]            fail on an import circle between the modules of any
                           crate of the workspace at DIR (default: this one; one of
                           the checks `test` runs; docs/ARCHITECTURE.md)
  seed FILE                load a JSON fixture into $PAYOUTS_TABLE at
                           $AWS_ENDPOINT_URL_DYNAMODB (idempotent)
  import [--scouts FILE] [--orders FILE] [--dry-run] [--complete-orders] [--restart]
                           load a marketplace's scouts and orders (CSV or JSON
                           Lines) into $PAYOUTS_TABLE through the marketplace's
                           routes' use cases; resumable (docs/MARKETPLACE.md)
  token --user N [--role admin|user] [--ttl SECS]
  token --service [--ttl SECS]
                           print a JWT signed with $JWT_SECRET (or the dev secret)
  table                    create $PAYOUTS_TABLE from template.yaml (idempotent)
  bench [--quick] [--only processor|reconcile|heat|drain|sweep|bulk]
                           benchmarks; writes docs/BENCHMARKS.md (--quick: smaller,
                           to .local/bench/, as `cargo xtask test` runs it; --only
                           PART: that part's section alone)
  chaos [--runs N] [--seed S] [--gateway simulated|razorpayx] [--ops N] [--jobs N] [--load]
                           seeded randomized histories of the money path under
                           faults, invariants checked after each, --jobs at once
                           (default 4; docs/RELIABILITY.md); --load: the
                           concurrency figures instead
  screenshot [FILE]        the admin dashboard over the demo data in headless
                           Chromium, as FILE (docs/dashboard.png)
  package [--quick] [--check]
                           build every function for arm64 (aarch64-unknown-linux-gnu,
                           release) into target/lambda/<function>/bootstrap.zip, the
                           template's CodeUri, and print their sizes (docs/DEPLOY.md);
                           --quick: three of them, one per kind of event; --check: start
                           each under qemu on its sample event
  deploy --stage STAGE [-- <sam deploy args>]
                           package, check the zips are built from these sources, and
                           `sam deploy --config-env STAGE` (samconfig.toml: dev, prod)

Operator commands: on the local stack unless STAGE names a deployed stage (with
PAYOUTS_TABLE its table, and your AWS credentials: profile, SSO); then they say
which table, region and account, and ask before writing unless given --yes
(docs/OPERATIONS.md).
  recount-stats [--yes]    count every payout of $PAYOUTS_TABLE again into the
                           stats counters (writers stopped)
  mark-waiting-payouts [--yes]
                           mark the payouts of $PAYOUTS_TABLE that failed for want
                           of a payout account before this version, so a save finds
                           them (once, after deploying)
  migrate-payout-accounts [--yes]
                           move the payout accounts of $PAYOUTS_TABLE kept under their
                           user's partition into their own key space (once, after
                           deploying)
  migrate [--dry-run] [--restart] [--segments N] [--yes]
                           give every payout and due schedule of $PAYOUTS_TABLE the
                           keys of the sharded indexes (a parallel scan in N
                           segments, default 4; resumable from
                           .local/migrate/<table>.json), then, once the indexes are
                           ACTIVE, mark the table so the service reads them; safe
                           while the service runs (once, after deploying;
                           --dry-run: count, write nothing; --restart: scan again)
  migrate --unmark [--yes] take the mark away, the first step of a rollback past
                           this version: the service reads the legacy indexes again
                           within a minute (docs/DEPLOY.md)
  import ... [--yes]       as above
";

/// The commands that may act on a deployed stage's table (module `operator`).
const OPERATORS: [&str; 5] = [
    "import",
    "recount-stats",
    "mark-waiting-payouts",
    "migrate-payout-accounts",
    "migrate",
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<()> {
    let Some((command, rest)) = args.split_first() else {
        print!("{USAGE}");
        return Ok(());
    };
    // The operator's commands reach a deployed stage when told which (`STAGE=prod`,
    // with the caller's credentials); packaging and deploying never talk to the local
    // stack; everything else is local, always.
    let operator = OPERATORS.contains(&command.as_str());
    let aws = ["package", "deploy"].contains(&command.as_str())
        || (operator && operator::deployed_stage().is_some());
    if !aws {
        apply_local_defaults();
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let mut rest = rest.to_vec();
    if operator {
        let run = operator::Run::read(command, rest).with_context(|| USAGE.to_owned())?;
        runtime.block_on(operator::confirm(command, &run))?;
        rest = run.args;
    }
    let rest = rest.as_slice();
    match command.as_str() {
        "package" => runtime.block_on(package::run(rest)),
        "deploy" => deploy::run(rest),
        "dev" => runtime.block_on(dev::run()),
        "test" => runtime.block_on(test::run(rest)),
        "circles" => circles::check(
            &rest
                .first()
                .map_or_else(devkit::paths::workspace_root, PathBuf::from),
        ),
        "seed" => {
            let [file] = rest else {
                bail!("usage: cargo xtask seed FILE");
            };
            runtime.block_on(seed(PathBuf::from(file)))
        }
        "token" => token(rest),
        "import" => runtime.block_on(import::run(rest)),
        "emails" => runtime.block_on(emails::list()),
        "invoke" => runtime.block_on(invoke::run(rest)),
        "reconcile" => runtime.block_on(reconcile::run(rest)),
        "table" => runtime.block_on(create_table()),
        "bench" => runtime.block_on(bench::run(rest)),
        "chaos" => runtime.block_on(chaos::run(rest)),
        "recount-stats" => runtime.block_on(recount_stats()),
        "mark-waiting-payouts" => runtime.block_on(mark_waiting_payouts()),
        "migrate-payout-accounts" => runtime.block_on(migrate_payout_accounts()),
        "migrate" => runtime.block_on(migrate::run(rest)),
        "screenshot" => {
            let out = rest.first().map_or_else(
                || devkit::paths::workspace_root().join("docs/dashboard.png"),
                PathBuf::from,
            );
            runtime.block_on(browser::screenshot(&out))
        }
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command `{other}`\n\n{USAGE}"),
    }
}

/// Unset variables get their local values, before any thread exists to read the
/// environment: the local stack never reaches AWS by accident, and anything set by the
/// caller (`GATEWAY_SIM_SUCCESS_RATE=0 cargo xtask dev`) wins and reaches every function.
fn apply_local_defaults() {
    let ddb_port = std::env::var("DDB_PORT").unwrap_or_else(|_| dev::DEFAULT_DDB_PORT.to_string());
    let moto_port =
        std::env::var("MOTO_PORT").unwrap_or_else(|_| dev::DEFAULT_MOTO_PORT.to_string());
    let moto = format!("http://127.0.0.1:{moto_port}");
    let defaults = [
        (
            "AWS_ENDPOINT_URL_DYNAMODB",
            format!("http://127.0.0.1:{ddb_port}"),
        ),
        ("AWS_ENDPOINT_URL_EVENTBRIDGE", moto.clone()),
        ("AWS_ENDPOINT_URL_SESV2", moto.clone()),
        ("AWS_ENDPOINT_URL_SQS", moto.clone()),
        ("AWS_ENDPOINT_URL_KMS", moto),
        ("PAYOUTS_TABLE", "payouts".to_owned()),
        // The only stage that accepts the development secret below.
        ("STAGE", service::config::LOCAL_STAGE.to_owned()),
        ("JWT_SECRET", api::auth::DEV_JWT_SECRET.to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
    ]
    .into_iter()
    .chain(
        devkit::dynamodb_local::LOCAL_ENV
            .iter()
            .map(|(name, value)| (*name, (*value).to_owned())),
    );
    // Whether the DynamoDB endpoint is the caller's or this default, for the commands
    // that start their own unless told to use one (`servers::dynamodb_for_run`); in
    // the environment, so that xtask's own children (`bench --quick`) know it too.
    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_some() {
        std::env::remove_var(servers::DYNAMODB_ENDPOINT_DEFAULTED);
    } else {
        std::env::set_var(servers::DYNAMODB_ENDPOINT_DEFAULTED, "1");
    }
    for (name, value) in defaults {
        if std::env::var_os(name).is_none() {
            std::env::set_var(name, value);
        }
    }
}

async fn create_table() -> Result<()> {
    let config = Config::from_env()?;
    let client = sdk_client().await;
    devkit::table::TableDefinition::from_template(&devkit::paths::template())?
        .create(&client, &config.table_name)
        .await?;
    println!("table {} is ready", config.table_name);
    Ok(())
}

async fn recount_stats() -> Result<()> {
    let config = StageConfig::from_env(false)?;
    let store = store::Store::new(sdk_client().await, &config.table_name);
    let counted = service::stats::recount(&store).await?;
    println!(
        "{}: {} payouts, {} paise, counted into the stats",
        config.table_name,
        counted.count,
        counted.amount_paise.get()
    );
    Ok(())
}

async fn mark_waiting_payouts() -> Result<()> {
    let config = StageConfig::from_env(false)?;
    let store = store::Store::new(sdk_client().await, &config.table_name);
    let marked = service::account::mark_waiting_payouts(&store).await?;
    println!(
        "{}: {marked} payouts failed for want of a payout account marked; each goes back \
         to pending when its user saves an account",
        config.table_name
    );
    Ok(())
}

async fn migrate_payout_accounts() -> Result<()> {
    let config = StageConfig::from_env(false)?;
    let store = store::Store::new(sdk_client().await, &config.table_name);
    let vault = vault_for(&config).await?;
    let moved = service::account::migrate_legacy_accounts(&store, &vault).await?;
    println!(
        "{}: {} payout accounts and {} revision records moved into the account key space, \
         their destinations sealed; {} accounts already there sealed in place",
        config.table_name, moved.accounts, moved.revisions, moved.sealed_in_place
    );
    Ok(())
}

async fn seed(file: PathBuf) -> Result<()> {
    let config = StageConfig::from_env(true)?;
    let fixture = devkit::fixture::Fixture::read(&file)?;
    let store = store::Store::new(sdk_client().await, &config.table_name);
    let vault = vault_for(&config).await?;
    let report = fixture.load(&store, &vault, config.limits).await?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// The keys that seal payout accounts: `PAYOUT_ACCOUNT_KEY_ID` and
/// `PAYOUT_ACCOUNT_MAC_KEY_ID` when set; locally (`STAGE=local`), the dev stack's on the
/// moto at `AWS_ENDPOINT_URL_KMS`.
async fn vault_for(config: &StageConfig) -> Result<platform::vault::Vault> {
    if let Some(vault) = &config.vault {
        return Ok(vault.clone());
    }
    if config.stage.as_deref() != Some(service::config::LOCAL_STAGE) {
        bail!("set PAYOUT_ACCOUNT_KEY_ID and PAYOUT_ACCOUNT_MAC_KEY_ID to the stage's payout account keys (the stack's outputs)");
    }
    let moto = std::env::var("AWS_ENDPOINT_URL_KMS").context("AWS_ENDPOINT_URL_KMS")?;
    Ok(devkit::moto::local_vault(&moto).await?.0)
}

/// The standard chain, as the functions use it: `AWS_ENDPOINT_URL_DYNAMODB` and the
/// credentials in the environment decide where it goes.
pub async fn sdk_client() -> aws_sdk_dynamodb::Client {
    let config = aws_config::load_from_env().await;
    aws_sdk_dynamodb::Client::new(&config)
}

/// The client a local service token names: the marketplace's backend on the dev stack.
const LOCAL_SERVICE_CLIENT: &str = "marketplace-local";

/// Whom `cargo xtask token` mints for.
enum Subject {
    Person(u64, Role),
    Service(&'static str),
}

fn token(args: &[String]) -> Result<()> {
    let mut user = None;
    let mut role = Role::User;
    let mut service = None;
    let mut ttl: u64 = 3600;
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        if flag == "--service" {
            service = Some(LOCAL_SERVICE_CLIENT);
            continue;
        }
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--user" => user = Some(value.parse::<u64>().context("--user takes a number")?),
            "--role" => {
                role = match value.as_str() {
                    "admin" => Role::Admin,
                    "user" => Role::User,
                    other => bail!("--role is admin or user, not `{other}`"),
                }
            }
            "--ttl" => ttl = value.parse().context("--ttl takes seconds")?,
            other => bail!("unknown flag `{other}`"),
        }
    }
    const USAGE: &str =
        "usage: cargo xtask token --user N [--role admin] [--ttl SECS], or --service [--ttl SECS]";
    let subject = match (user, service) {
        (Some(user), None) => Subject::Person(user, role),
        (None, Some(client)) => Subject::Service(client),
        _ => bail!(USAGE),
    };
    // Local only: a deployed stage verifies the identity provider's tokens and holds no
    // key that could sign one (docs/SECURITY.md).
    let AuthConfig::LocalSecret(secret) = AuthConfig::from_env()? else {
        bail!(
            "cargo xtask token signs with the local secret; with JWT_JWKS_URL set, tokens come \
             from the identity provider (docs/API.md, \"Getting a token\")"
        );
    };
    let token = match subject {
        Subject::Person(user, role) => devkit::token::mint(&secret, user, role, ttl)?,
        Subject::Service(client) => devkit::token::mint_service(&secret, client, ttl)?,
    };
    println!("{token}");
    Ok(())
}
