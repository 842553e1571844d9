//! `cargo xtask dev`: the whole stack on one machine (README, Quick start; docs/DEVELOPMENT.md).

use std::convert::Infallible;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use devkit::dynamodb_local::{self, DynamoDbLocal};
use devkit::fixture::Fixture;
use devkit::moto::{self, Moto};
use devkit::paths;
use devkit::razorpayx::{FakeConfig, FakeRazorpayX};
use devkit::streams::{StartAt, StreamReader};
use service::config::{Config, GatewayConfig, RazorpayXKeys, WebhookSecrets};
use store::Store;
use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::children::Supervised;
use crate::events::{EventPump, EventSettings};
use crate::settings::env_number;
use crate::tools;

pub const DEFAULT_DDB_PORT: u16 = 8000;
pub const DEFAULT_RAZORPAYX_FAKE_PORT: u16 = 9100;
/// The secrets the dev stack keeps in moto's Secrets Manager for the functions.
const LOCAL_API_SECRET: &str = "payouts/local/razorpayx-api";
const LOCAL_WEBHOOK_SECRET: &str = "payouts/local/razorpayx-webhook";
pub const DEFAULT_MOTO_PORT: u16 = 9200;
const DEFAULT_SCHEDULE_SECS: u64 = 60;
/// How often the stream is polled: about what Lambda's polling feels like.
const EVENTS_EVERY: Duration = Duration::from_secs(2);

/// The port of a loopback `http://127.0.0.1:<port>` endpoint.
pub fn local_port(endpoint: &str) -> Option<u16> {
    ["http://127.0.0.1:", "http://localhost:"]
        .iter()
        .find_map(|prefix| endpoint.strip_prefix(prefix))
        .and_then(|rest| rest.trim_end_matches('/').parse().ok())
}

/// The signals that stop `cargo xtask dev`: Ctrl-C, `kill`, and the terminal going away.
struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
    hangup: Signal,
}

impl StopSignals {
    /// From here on these signals are only recorded (no longer fatal), so whatever
    /// phase one arrives in, the stack is stopped by dropping it, children included.
    fn install() -> Result<Self> {
        let install = |kind: SignalKind, name: &str| {
            signal(kind).with_context(|| format!("installing a {name} handler"))
        };
        Ok(StopSignals {
            interrupt: install(SignalKind::interrupt(), "SIGINT")?,
            terminate: install(SignalKind::terminate(), "SIGTERM")?,
            hangup: install(SignalKind::hangup(), "SIGHUP")?,
        })
    }

    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.hangup.recv() => "SIGHUP",
        }
    }

    /// A signal that has already arrived, if any.
    async fn received(&mut self) -> Option<&'static str> {
        tokio::time::timeout(Duration::from_millis(100), self.recv())
            .await
            .ok()
    }
}

/// Runs the stack until it fails or SIGINT, SIGTERM or SIGHUP arrives, in any phase.
/// Either way every child it started is stopped before this returns: they belong to
/// [`serve`]'s future, and dropping it runs their `Drop` (`Supervised`, `DynamoDbLocal`;
/// the local RazorpayX is a task of this process).
pub async fn run() -> Result<()> {
    let mut signals = StopSignals::install()?;
    let mut stack = Box::pin(serve());
    let outcome = tokio::select! {
        biased;
        signal = signals.recv() => Ok(signal),
        result = &mut stack => result.map(|never| match never {}),
    };
    let signal = match outcome {
        Ok(signal) => signal,
        // A blocking start-up step (DynamoDB Local, pip) that failed because of the
        // signal (Ctrl-C reaches the whole foreground group) is the signal's doing.
        Err(err) => signals.received().await.ok_or(err)?,
    };
    // Not println!: after SIGHUP the terminal may be gone, and that must not panic.
    let _ = writeln!(std::io::stderr(), "\n{signal}: stopping…");
    drop(stack);
    let _ = writeln!(std::io::stderr(), "stopped");
    Ok(())
}

/// The stack, until it fails; a signal ends it by dropping this future.
async fn serve() -> Result<Infallible> {
    let api_port = crate::invoke::api_port()?;
    let invoke_port = crate::invoke::port()?;
    let origins = crate::front::origins_from_env()?;
    let schedule =
        Duration::from_secs(env_number("LOCAL_SCHEDULE_SECS", DEFAULT_SCHEDULE_SECS)?.max(1));
    let config = Config::from_env()?;
    let logs = paths::local_dir().join("logs");
    std::fs::create_dir_all(&logs)?;

    let lambda_bin = tools::cargo_lambda()?;
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")?;
    let ddb_port = local_port(&endpoint).with_context(|| {
        format!("AWS_ENDPOINT_URL_DYNAMODB must be a local http endpoint for dev, got {endpoint}")
    })?;
    let _dynamodb = if dynamodb_local::is_listening(ddb_port) {
        println!("DynamoDB Local: reusing the one listening on {endpoint}");
        None
    } else {
        let started = DynamoDbLocal::start(ddb_port, &logs.join("dynamodb-local.log"))?;
        println!(
            "DynamoDB Local: started on {endpoint} (pid {})",
            started.pid()
        );
        Some(started)
    };

    let (moto_endpoint, _moto) = moto_for_dev(&logs)?;
    let events = dev_event_settings(&moto_endpoint);
    let notify_queue = events
        .set_up(crate::events::NOTIFY_RULE, &crate::events::notify_pattern())
        .await?;

    // The keys payout accounts are sealed with, on this moto as the template's are in
    // KMS; the functions that save or register accounts are told them.
    let (vault, account_keys) = devkit::moto::local_vault(&moto_endpoint).await?;

    let client = crate::sdk_client().await;
    devkit::table::TableDefinition::from_template(&paths::template())?
        .create(&client, &config.table_name)
        .await?;
    // Opened before the demo data goes in, so a new table's first payouts are
    // published too; on a table kept from before, from now on.
    let reader = StreamReader::open(&endpoint, &config.table_name, StartAt::Latest)
        .await?
        .filtered(devkit::streams::MappingFilter::from_template()?);
    let store = Store::new(client, &config.table_name);
    let demo = paths::workspace_root().join("fixtures").join("demo.json");
    let report = Fixture::read(&demo)?
        .load(&store, &vault, config.limits)
        .await?;
    println!(
        "table {}: demo data loaded from fixtures/demo.json ({})",
        config.table_name,
        serde_json::to_string(&report)?
    );

    // With RazorpayX, the local one: state on disk, so a restart loses nothing. Its
    // webhooks go to our own receiver unless RAZORPAYX_FAKE_WEBHOOK_URL says otherwise
    // (`off`: none); they fail and retry until `cargo lambda watch` is up.
    let razorpayx = match &config.gateway_from_env()? {
        GatewayConfig::RazorpayX(gateway) => {
            let port = env_number("RAZORPAYX_FAKE_PORT", DEFAULT_RAZORPAYX_FAKE_PORT)?;
            let mut fake_config = FakeConfig::from_env()?;
            let url_chosen =
                std::env::var("RAZORPAYX_FAKE_WEBHOOK_URL").is_ok_and(|url| !url.trim().is_empty());
            if !url_chosen {
                fake_config.webhooks.url =
                    Some(format!("http://127.0.0.1:{api_port}/webhooks/razorpayx"));
            }
            let webhooks = fake_config.webhooks.clone();
            let fake = FakeRazorpayX::start(port, fake_config).await?;
            Some((fake, gateway.clone(), webhooks))
        }
        GatewayConfig::Simulated(_) => None,
    };
    // The functions read the keys and the webhook secret from Secrets Manager (moto
    // here), as deployed ones do, never from their environment.
    let razorpayx_env: Vec<(&str, String)> = match &razorpayx {
        Some((fake, gateway, webhooks)) => {
            let clients = devkit::moto::Clients::new(&moto_endpoint).await;
            let keys = match &gateway.credentials {
                Some(credentials) => credentials.read().await?.as_str().to_owned(),
                None => RazorpayXKeys::dev().to_secret_string(),
            };
            clients.put_secret(LOCAL_API_SECRET, &keys).await?;
            clients
                .put_secret(
                    LOCAL_WEBHOOK_SECRET,
                    &WebhookSecrets::secret_string(&webhooks.secret, None),
                )
                .await?;
            vec![
                ("RAZORPAYX_BASE_URL", fake.base_url()),
                ("RAZORPAYX_API_SECRET_ID", LOCAL_API_SECRET.to_owned()),
                // The secret the local RazorpayX signs with.
                (
                    "RAZORPAYX_WEBHOOK_SECRET_ID",
                    LOCAL_WEBHOOK_SECRET.to_owned(),
                ),
                ("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto_endpoint.clone()),
            ]
        }
        None => Vec::new(),
    };

    for (port, name) in [(api_port, "API_PORT"), (invoke_port, "INVOKE_PORT")] {
        if dynamodb_local::is_listening(port) {
            bail!("port {port} is in use: is another `cargo xtask dev` running? (set {name} to use another)");
        }
    }
    let mut watch = Supervised::spawn(
        "cargo lambda watch",
        Command::new("cargo")
            .args(["lambda", "watch", "--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &invoke_port.to_string()])
            // CORS is the front's, as it is API Gateway's when deployed.
            .arg("--disable-cors")
            .env("PATH", tools::path_with(&lambda_bin))
            .envs(razorpayx_env)
            .envs(account_keys.env(&moto_endpoint))
            .envs(events.function_env())
            .current_dir(paths::workspace_root())
            .stdin(Stdio::null()),
    )?;
    wait_until_listening(invoke_port, Duration::from_secs(120), &mut watch).await?;
    // Ends with the runtime when the stack stops.
    let _front = crate::front::serve(api_port, invoke_port, &origins).await?;
    let cors = if origins.is_empty() {
        "no origin (CORS_ALLOWED_ORIGINS, comma-separated)".to_owned()
    } else {
        origins
            .iter()
            .filter_map(|origin| origin.to_str().ok())
            .collect::<Vec<_>>()
            .join(", ")
    };

    let base = format!("http://127.0.0.1:{api_port}");
    println!(
        "\n\
         ┌ payout service, local\n\
         │ API:              {base}   (browsers allowed from {cors})\n\
         │ functions:        cargo lambda watch, pid {pid}, invoked on 127.0.0.1:{invoke_port}\n\
         │ DynamoDB Local:   {endpoint}   table: {table}\n\
         │ events:           stream → publish-events → bus {bus} (moto {moto_endpoint}) → rule notify → notify, every {events_secs} s\n\
         │ marketplace:      its order.* / scout.* events on bus {marketplace} (moto) → rule → ingest-marketplace, source {source}\n\
         │ emails:           SES on moto, from {from}   ·   cargo xtask emails lists them\n\
         │ schedule:         sweep-earnings, then process-pending, every {secs} s (LOCAL_SCHEDULE_SECS)\n\
         │ tokens:           cargo xtask token --user 7   |   cargo xtask token --user 1 --role admin   |   cargo xtask token --service\n\
         │ run the processor now:\n\
         │   {run_processor_now}\n\
         │ reconcile yesterday with the gateway (or --date YYYY-MM-DD):\n\
         │   {reconcile}\n\
         │ logs:             .local/logs/   ·   Ctrl-C stops everything\n\
         └",
        pid = watch.pid(),
        run_processor_now = crate::invoke::run_processor_now(invoke_port),
        reconcile = crate::invoke::reconcile_day(invoke_port, api_port, None),
        table = config.table_name,
        secs = schedule.as_secs(),
        bus = events.bus,
        from = events.from_address,
        events_secs = EVENTS_EVERY.as_secs(),
        marketplace = crate::events::MARKETPLACE_BUS,
        source = service::config::DEFAULT_MARKETPLACE_EVENT_SOURCE,
    );
    if let Some((fake, gateway, webhooks)) = &razorpayx {
        let local_keys = match &gateway.credentials {
            Some(credentials) => {
                RazorpayXKeys::from_secret_string(&credentials.read().await?, true)
                    .map_err(anyhow::Error::msg)?
            }
            None => RazorpayXKeys::dev(),
        };
        println!(
            "\
             ┌ PAYMENT_GATEWAY=razorpayx: the local RazorpayX\n\
             │ API:        {url}   (key {key_id} / {key_secret}, account {account})\n\
             │ webhooks:   {webhook_url}   (secret {webhook_secret})\n\
             │ deliveries: curl -s {url}/_fake/webhooks\n\
             │ its state:  .local/razorpayx/state.json (kept across restarts)\n\
             │ payouts:    curl -s {url}/_fake/payouts\n\
             │ settle one: curl -s -X POST {url}/_fake/payouts/<pout_id>/status -d '{{\"status\": \"processed\"}}'\n\
             │ faults:     curl -s -X POST {url}/_fake/faults -d '{{\"server_error\": 0.2}}'   ({{}} clears)\n\
             │ balance:    curl -s -X POST {url}/_fake/balance -d '{{\"amount\": 100000000}}'\n\
             └",
            url = fake.base_url(),
            key_id = local_keys.key_id,
            // The local test secret only: a real one set in the environment stays
            // unprinted.
            key_secret = if local_keys.key_secret == service::config::DEV_RAZORPAYX_KEY_SECRET {
                local_keys.key_secret.as_str()
            } else {
                "<from the environment>"
            },
            account = gateway.account_number,
            webhook_url = webhooks.url.as_deref().unwrap_or("none (RAZORPAYX_FAKE_WEBHOOK_URL=off)"),
            webhook_secret = if webhooks.secret == service::config::DEV_RAZORPAYX_WEBHOOK_SECRET {
                webhooks.secret.as_str()
            } else {
                "<from RAZORPAYX_FAKE_WEBHOOK_SECRET>"
            },
        );
    }

    let ingest_queue = crate::events::marketplace_queue(&moto_endpoint).await?;
    let mut pump = EventPump::new(
        reader,
        notify_queue,
        ingest_queue,
        lambda_bin.clone(),
        invoke_port,
    );
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + schedule, schedule);
    let mut events_ticker = tokio::time::interval(EVENTS_EVERY);
    // After a long scheduled run, one round of events, not a burst of them.
    events_ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                if let Some(exit) = watch.exited() {
                    bail!("{exit}");
                }
                run_schedule(&lambda_bin, invoke_port).await;
            }
            _ = events_ticker.tick() => {
                if let Some(exit) = watch.exited() {
                    bail!("{exit}");
                }
                pump.pump().await;
            }
        }
    }
}

/// The hourly rules' local stand-in; the sweep first: a schedule that fell due is paid
/// in the same tick.
async fn run_schedule(lambda_bin: &Path, invoke_port: u16) {
    invoke_scheduled(
        lambda_bin,
        invoke_port,
        "sweep-earnings",
        "events/sweep-earnings.json",
    )
    .await;
    invoke_scheduled(
        lambda_bin,
        invoke_port,
        "process-pending",
        "events/scheduled.json",
    )
    .await;
}

/// moto on `MOTO_PORT`: the one already listening there (another `cargo xtask dev`'s,
/// or one started by hand), or a new one this run owns.
fn moto_for_dev(logs: &Path) -> Result<(String, Option<Moto>)> {
    let port = env_number("MOTO_PORT", DEFAULT_MOTO_PORT)?;
    let endpoint = moto::endpoint(port);
    if dynamodb_local::is_listening(port) {
        println!("moto: reusing the one listening on {endpoint}");
        return Ok((endpoint, None));
    }
    let started = Moto::start(port, &logs.join("moto.log"))?;
    println!("moto: started on {endpoint} (pid {})", started.pid());
    Ok((endpoint, Some(started)))
}

/// The bus, sender and configuration set of the local stack; each can be changed by
/// setting the variable the functions read, and the local stack then sets that one up.
fn dev_event_settings(moto_endpoint: &str) -> EventSettings {
    let env_or = |name: &str, default: &str| {
        std::env::var(name)
            .ok()
            .filter(|value| !value.trim().is_empty())
            .unwrap_or_else(|| default.to_owned())
    };
    EventSettings {
        moto_endpoint: moto_endpoint.to_owned(),
        bus: env_or("EVENT_BUS_NAME", "payouts"),
        from_address: env_or("NOTIFY_FROM_ADDRESS", "payouts@example.com"),
        configuration_set: env_or("SES_CONFIGURATION_SET", "payouts"),
    }
}

/// The local stand-in for the EventBridge rules (the hourly processor, the daily
/// sweep): the same event, through the same runtime emulator the API uses.
async fn invoke_scheduled(lambda_bin: &Path, invoke_port: u16, function: &str, event: &str) {
    let started = Instant::now();
    let output = crate::invoke::lambda_invoke(lambda_bin, invoke_port, function, Path::new(event))
        .output()
        .await;
    match output {
        Ok(output) if output.status.success() => println!(
            "schedule: {function} → {} ({} ms)",
            String::from_utf8_lossy(&output.stdout).trim(),
            started.elapsed().as_millis()
        ),
        Ok(output) => eprintln!(
            "schedule: {function} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        Err(err) => eprintln!("schedule: could not run cargo lambda invoke: {err}"),
    }
}

/// Blocks until something listens on `port`, or `process` ends, or `limit` passes.
pub fn wait_for_port(port: u16, limit: Duration, process: &mut Supervised) -> Result<()> {
    let deadline = Instant::now() + limit;
    while !port_ready(port, process)? {
        if Instant::now() >= deadline {
            bail!(not_listening(port, limit));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

/// [`wait_for_port`] for async callers: dropping the future (a signal) ends the wait.
async fn wait_until_listening(port: u16, limit: Duration, process: &mut Supervised) -> Result<()> {
    let deadline = Instant::now() + limit;
    while !port_ready(port, process)? {
        if Instant::now() >= deadline {
            bail!(not_listening(port, limit));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// Whether `port` listens; an error once `process`, which should open it, has ended.
fn port_ready(port: u16, process: &mut Supervised) -> Result<bool> {
    if let Some(exit) = process.exited() {
        bail!("{exit}");
    }
    Ok(dynamodb_local::is_listening(port))
}

fn not_listening(port: u16, limit: Duration) -> String {
    format!(
        "nothing listened on port {port} within {} s",
        limit.as_secs()
    )
}
