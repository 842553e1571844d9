//! moto in server mode: the local EventBridge, SES v2, SQS, Secrets Manager and KMS. The functions
//! reach it through `AWS_ENDPOINT_URL_EVENTBRIDGE` / `AWS_ENDPOINT_URL_SESV2` like any
//! other endpoint; the local tooling adds what AWS would do around them: a bus, rules
//! whose targets are queues it can read, a verified sender, and the emails "sent".

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::Value;

use crate::dynamodb_local::{is_listening, local_sdk_config};
use crate::python;

/// Pinned: its PutEvents (rules on `source`/`detail-type`, SQS targets), SES v2 and the
/// `/moto-api/data.json` shape [`sent_emails`] reads were checked against this version.
pub const PACKAGE: &str = "moto[server]==5.2.5";

const SERVER: &str = "moto_server";

/// moto installed into the project's venv; returns its server executable.
pub fn install() -> Result<PathBuf> {
    Ok(python::venv_with(&[PACKAGE], SERVER)?.join(SERVER))
}

pub fn endpoint(port: u16) -> String {
    crate::dynamodb_local::endpoint(port)
}

/// A moto server this program started; stopped when dropped.
pub struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    /// Installs moto if missing and starts it on 127.0.0.1:`port`, waiting until it
    /// listens. Its state lives in memory: a new server starts empty.
    pub fn start(port: u16, log: &Path) -> Result<Self> {
        let server = install()?;
        if is_listening(port) {
            bail!("port {port} is already in use");
        }
        let log_file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("starting {}", server.display()))?;
        let mut moto = Moto { child, port };
        moto.wait_ready(log)?;
        Ok(moto)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn endpoint(&self) -> String {
        endpoint(self.port)
    }

    fn wait_ready(&mut self, log: &Path) -> Result<()> {
        let limit = Duration::from_secs(60);
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "moto exited ({status}) during start-up; see {}",
                    log.display()
                );
            }
            if is_listening(self.port) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!(
            "moto did not listen on port {} within {} s",
            self.port,
            limit.as_secs()
        )
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SDK clients for the moto at one endpoint, with the dummy credentials it accepts.
#[derive(Clone, Debug)]
pub struct Clients {
    pub eventbridge: aws_sdk_eventbridge::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sesv2: aws_sdk_sesv2::Client,
    pub secretsmanager: aws_sdk_secretsmanager::Client,
    pub kms: aws_sdk_kms::Client,
}

/// Where the local stack's payout account keys are found on moto.
pub const LOCAL_ACCOUNT_KEY_ALIAS: &str = "alias/payouts-local-accounts";
pub const LOCAL_ACCOUNT_MAC_KEY_ALIAS: &str = "alias/payouts-local-account-fingerprints";

/// The two KMS keys payout destinations are sealed and fingerprinted with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountKeys {
    pub key_id: String,
    pub mac_key_id: String,
}

impl AccountKeys {
    /// A vault with these keys on this moto.
    pub fn vault(&self, clients: &Clients) -> platform::vault::Vault {
        platform::vault::Vault::with_client(clients.kms.clone(), &self.key_id, &self.mac_key_id)
    }

    /// The function environment that names them, with the KMS to reach them at.
    pub fn env(&self, moto_endpoint: &str) -> Vec<(&'static str, String)> {
        vec![
            ("PAYOUT_ACCOUNT_KEY_ID", self.key_id.clone()),
            ("PAYOUT_ACCOUNT_MAC_KEY_ID", self.mac_key_id.clone()),
            ("AWS_ENDPOINT_URL_KMS", moto_endpoint.to_owned()),
        ]
    }
}

impl Clients {
    pub async fn new(endpoint: &str) -> Self {
        let config = local_sdk_config(endpoint).await;
        Clients {
            eventbridge: aws_sdk_eventbridge::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            sesv2: aws_sdk_sesv2::Client::new(&config),
            secretsmanager: aws_sdk_secretsmanager::Client::new(&config),
            kms: aws_sdk_kms::Client::new(&config),
        }
    }

    /// The keys that seal payout destinations, as the template's are: a symmetric key
    /// for envelope encryption and an HMAC_256 key for fingerprints, found by their
    /// aliases or made (so every local command on one moto uses the same). They live as
    /// long as this moto does.
    pub async fn account_keys(&self) -> Result<AccountKeys> {
        use aws_sdk_kms::types::{KeySpec, KeyUsageType};
        Ok(AccountKeys {
            key_id: self
                .key_by_alias(
                    LOCAL_ACCOUNT_KEY_ALIAS,
                    KeySpec::SymmetricDefault,
                    KeyUsageType::EncryptDecrypt,
                )
                .await?,
            mac_key_id: self
                .key_by_alias(
                    LOCAL_ACCOUNT_MAC_KEY_ALIAS,
                    KeySpec::Hmac256,
                    KeyUsageType::GenerateVerifyMac,
                )
                .await?,
        })
    }

    async fn key_by_alias(
        &self,
        alias: &str,
        spec: aws_sdk_kms::types::KeySpec,
        usage: aws_sdk_kms::types::KeyUsageType,
    ) -> Result<String> {
        if let Ok(found) = self.kms.describe_key().key_id(alias).send().await {
            if let Some(metadata) = found.key_metadata {
                return Ok(metadata.key_id);
            }
        }
        let created = self
            .kms
            .create_key()
            .description(format!("{alias} (local)"))
            .key_spec(spec)
            .key_usage(usage)
            .send()
            .await
            .map_err(sdk_error(format!("creating the key {alias}")))?;
        let key_id = created
            .key_metadata
            .map(|metadata| metadata.key_id)
            .context("moto returned a key without an id")?;
        self.kms
            .create_alias()
            .alias_name(alias)
            .target_key_id(&key_id)
            .send()
            .await
            .map_err(sdk_error(format!("naming the key {alias}")))?;
        Ok(key_id)
    }

    /// Creates the secret `name` with `value`, or gives it `value` as its new version
    /// if it exists (a rotation, as `aws secretsmanager put-secret-value` does).
    pub async fn put_secret(&self, name: &str, value: &str) -> Result<()> {
        let created = self
            .secretsmanager
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|service| service.is_resource_exists_exception()) =>
            {
                self.secretsmanager
                    .put_secret_value()
                    .secret_id(name)
                    .secret_string(value)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(sdk_error(format!("putting a new value into secret {name}")))
            }
            Err(err) => Err(sdk_error(format!("creating secret {name}"))(err)),
        }
    }
}

/// An SDK error with its whole chain of causes, which the SDK's `Display` leaves out.
fn sdk_error<E: std::error::Error + Send + Sync + 'static>(
    what: String,
) -> impl FnOnce(E) -> anyhow::Error {
    move |err| anyhow::anyhow!("{what}: {}", aws_sdk_sqs::error::DisplayErrorContext(err))
}

/// A custom event bus on moto.
pub struct LocalBus {
    clients: Clients,
    name: String,
}

impl LocalBus {
    /// Creates the bus unless it exists.
    pub async fn ensure(clients: &Clients, name: &str) -> Result<Self> {
        let created = clients
            .eventbridge
            .create_event_bus()
            .name(name)
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_already_exists_exception()) => {}
            Err(err) => return Err(sdk_error(format!("creating event bus {name}"))(err)),
        }
        Ok(LocalBus {
            clients: clients.clone(),
            name: name.to_owned(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A rule named `rule` on this bus with `pattern`, delivering to a queue of its own
    /// (see [`queue_name`]): what a subscriber would receive, to read back. Re-running
    /// it with the same arguments changes nothing.
    pub async fn capture(&self, rule: &str, pattern: &Value) -> Result<Capture> {
        let queue = Capture::create_queue(&self.clients.sqs, &queue_name(&self.name, rule)).await?;
        let queue_arn = queue.arn().await?;
        self.clients
            .eventbridge
            .put_rule()
            .name(rule)
            .event_bus_name(&self.name)
            .event_pattern(pattern.to_string())
            .send()
            .await
            .map_err(sdk_error(format!("putting rule {rule} on {}", self.name)))?;
        let target = aws_sdk_eventbridge::types::Target::builder()
            .id("capture-queue")
            .arn(queue_arn)
            .build()?;
        self.clients
            .eventbridge
            .put_targets()
            .rule(rule)
            .event_bus_name(&self.name)
            .targets(target)
            .send()
            .await
            .map_err(sdk_error(format!("targeting rule {rule} at its queue")))?;
        Ok(queue)
    }
}

/// The queue a rule of `bus` named `rule` delivers to: `<bus>-<rule>`, within what SQS
/// accepts in a name (80 characters of letters, digits, `-` and `_`).
pub fn queue_name(bus: &str, rule: &str) -> String {
    format!("{bus}-{rule}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(80)
        .collect()
}

/// The queue behind a rule: the events it matched, as EventBridge delivers them.
#[derive(Clone, Debug)]
pub struct Capture {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl Capture {
    async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> Result<Self> {
        let created = sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .map_err(sdk_error(format!("creating queue {name}")))?;
        let queue_url = created
            .queue_url
            .with_context(|| format!("creating queue {name} returned no URL"))?;
        Ok(Capture {
            sqs: sqs.clone(),
            queue_url,
        })
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    async fn arn(&self) -> Result<String> {
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(sdk_error(format!("reading {}'s ARN", self.queue_url)))?;
        attributes
            .attributes
            .and_then(|mut map| map.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .with_context(|| format!("{} has no QueueArn", self.queue_url))
    }

    /// Every event waiting in the queue, oldest first as far as SQS keeps order, each
    /// removed from it: the EventBridge envelope (`id`, `source`, `detail-type`,
    /// `detail`, `time`, …) as JSON.
    pub async fn drain(&self) -> Result<Vec<Value>> {
        let mut events = Vec::new();
        loop {
            let batch = self.receive_batch().await?;
            if batch.is_empty() {
                return Ok(events);
            }
            for message in batch {
                let body = message.body.as_deref().unwrap_or_default();
                events.push(
                    serde_json::from_str(body)
                        .with_context(|| format!("a message of {} is not JSON", self.queue_url))?,
                );
                if let Some(handle) = message.receipt_handle {
                    self.delete(&handle).await?;
                }
            }
        }
    }

    async fn receive_batch(&self) -> Result<Vec<aws_sdk_sqs::types::Message>> {
        let received = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .send()
            .await
            .map_err(sdk_error(format!("receiving from {}", self.queue_url)))?;
        Ok(received.messages.unwrap_or_default())
    }

    async fn delete(&self, receipt_handle: &str) -> Result<()> {
        self.sqs
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(sdk_error(format!("deleting from {}", self.queue_url)))?;
        Ok(())
    }
}

/// `from_address` may send, with `configuration_set` existing, as SES requires before
/// a `SendEmail` that names them. Both steps may be repeated: moto records a second
/// identity for an address it has, so the identity is looked up first; an existing
/// configuration set is refused under a code of moto's own, which counts as done.
pub async fn verify_sender(
    sesv2: &aws_sdk_sesv2::Client,
    from_address: &str,
    configuration_set: &str,
) -> Result<()> {
    let identity = sesv2
        .get_email_identity()
        .email_identity(from_address)
        .send()
        .await;
    match identity {
        Ok(_) => {}
        Err(err) if has_code(&err, &["NotFoundException"]) => {
            sesv2
                .create_email_identity()
                .email_identity(from_address)
                .send()
                .await
                .map_err(sdk_error(format!("verifying {from_address}")))?;
        }
        Err(err) => return Err(sdk_error(format!("looking up {from_address}"))(err)),
    }
    let created = sesv2
        .create_configuration_set()
        .configuration_set_name(configuration_set)
        .send()
        .await;
    match created {
        Ok(_) => Ok(()),
        Err(err)
            if has_code(
                &err,
                &[
                    "AlreadyExistsException",
                    "ConfigurationSetAlreadyExistsException",
                ],
            ) =>
        {
            Ok(())
        }
        Err(err) => Err(sdk_error(format!(
            "creating configuration set {configuration_set}"
        ))(err)),
    }
}

fn has_code<E, R>(err: &aws_sdk_sesv2::error::SdkError<E, R>, codes: &[&str]) -> bool
where
    E: aws_sdk_sesv2::error::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| codes.contains(&code))
}

/// An email moto accepted. Of a message with both a text and an HTML part, moto keeps
/// only the HTML as `body`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentEmail {
    pub to: Vec<String>,
    pub from: String,
    pub subject: String,
    pub body: String,
}

/// The part of `/moto-api/data.json` that holds what SES accepted.
#[derive(Deserialize)]
struct MotoState {
    #[serde(default)]
    ses: SesState,
}

#[derive(Default, Deserialize)]
struct SesState {
    #[serde(rename = "Message", default)]
    messages: Vec<StoredMessage>,
}

#[derive(Deserialize)]
struct StoredMessage {
    #[serde(default)]
    source: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    destinations: Destinations,
}

#[derive(Default, Deserialize)]
struct Destinations {
    #[serde(rename = "ToAddresses", default)]
    to: Vec<String>,
}

/// Every email the moto at `endpoint` has accepted since it started, oldest first.
pub async fn sent_emails(endpoint: &str) -> Result<Vec<SentEmail>> {
    // moto builds data.json from every model while other requests add to them, and
    // answers 500 when one changed under it (a rule created by a test running
    // alongside): a read again a moment later sees a settled state.
    const READS: u32 = 5;
    let mut read = 1;
    loop {
        match read_sent_emails(endpoint).await {
            Ok(emails) => return Ok(emails),
            Err(err) if read >= READS => return Err(err),
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(100 * u64::from(read))).await;
                read += 1;
            }
        }
    }
}

async fn read_sent_emails(endpoint: &str) -> Result<Vec<SentEmail>> {
    let url = format!("{}/moto-api/data.json", endpoint.trim_end_matches('/'));
    let state: MotoState = reqwest::Client::builder()
        .build()
        .context("an HTTP client")?
        .get(&url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("GET {url}"))?
        .json()
        .await
        .with_context(|| format!("reading {url}"))?;
    Ok(state
        .ses
        .messages
        .into_iter()
        .map(SentEmail::from)
        .collect())
}

impl From<StoredMessage> for SentEmail {
    fn from(message: StoredMessage) -> Self {
        SentEmail {
            to: message.destinations.to,
            from: message.source,
            subject: message.subject,
            body: message.body,
        }
    }
}

/// The local payout account keys on the moto at `endpoint` (made there at first use),
/// and a vault with them.
pub async fn local_vault(endpoint: &str) -> Result<(platform::vault::Vault, AccountKeys)> {
    let clients = Clients::new(endpoint).await;
    let keys = clients.account_keys().await?;
    Ok((keys.vault(&clients), keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names_stay_within_what_sqs_accepts() {
        assert_eq!(queue_name("payouts", "notify"), "payouts-notify");
        assert_eq!(queue_name("bus.one", "rule:two"), "bus-one-rule-two");
        assert_eq!(queue_name(&"b".repeat(70), &"r".repeat(30)).len(), 80);
    }

    #[test]
    fn sent_emails_are_read_from_motos_state() {
        let state = r#"{"ses": {"Message": [{"id": "m-1", "source": "payouts@example.com",
            "subject": "Paid", "body": "<p>₹100</p>",
            "destinations": {"ToAddresses": ["asha@example.com"]}}]}, "sqs": {}}"#;
        let state: MotoState = serde_json::from_str(state).unwrap();
        let emails: Vec<SentEmail> = state
            .ses
            .messages
            .into_iter()
            .map(SentEmail::from)
            .collect();
        assert_eq!(
            emails,
            [SentEmail {
                to: vec!["asha@example.com".to_owned()],
                from: "payouts@example.com".to_owned(),
                subject: "Paid".to_owned(),
                body: "<p>₹100</p>".to_owned(),
            }]
        );
        let empty: MotoState = serde_json::from_str(r#"{"core": {}}"#).unwrap();
        assert!(empty.ses.messages.is_empty());
    }
}
