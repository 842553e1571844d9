//! Every environment variable the service reads, in one place, with local defaults.
//! The README's configuration table lists the same names.
//!
//! No secret value is ever read from the environment outside `STAGE=local`: the
//! environment names a Secrets Manager secret, read at first use by the functions that
//! need it ([`crate::secrets`]). Each part is built only by the functions that use it:
//! [`Config`] (settings, no secrets; every function), the gateway's part
//! ([`Config::gateway_from_env`]: its settings and the handle of its keys; the functions
//! that pay), `api::auth::AuthConfig` (behind a token), [`WebhookSecrets`] (the
//! webhook), [`NotifyConfig`] (the emails) and [`EventsConfig`] (the event bus).

use std::time::Duration;

pub use gateway::config::{
    GatewayConfig, LargeTransferMode, RazorpayXConfig, RazorpayXKeys, SimulatedGatewayConfig,
    DEV_RAZORPAYX_ACCOUNT_NUMBER, DEV_RAZORPAYX_BASE_URL, DEV_RAZORPAYX_KEY_ID,
    DEV_RAZORPAYX_KEY_SECRET, DEV_RAZORPAYX_WEBHOOK_SECRET, IMPS_LIMIT_PAISE,
    RAZORPAYX_MIN_PAYOUT_PAISE, RTGS_MIN_PAISE,
};

use crate::error::{Error, Result};
use crate::money::Paise;
use crate::secrets::{Secret, SECRET_CACHE_SECS};
use crate::vault::Vault;
use domain::settings::{parse, parse_value, trimmed, within};

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// `PAYOUTS_TABLE`: the single DynamoDB table.
    pub table_name: String,
    /// `STAGE`: the deployment stage, a dimension of every metric. Only `local` (set by
    /// the dev tooling alone) accepts the documented development secrets.
    pub stage: String,
    pub limits: PayoutLimits,
    pub processor: ProcessorConfig,
    /// `PAYMENT_GATEWAY` (`simulated` or `razorpayx`): which gateway pays. Its settings
    /// and credentials are a part of their own ([`Config::gateway_from_env`]), built
    /// only by the functions that pay.
    pub gateway_kind: GatewayKind,
    /// `PAYOUT_SCHEDULE_TZ` (an IANA name, default `Asia/Kolkata`): the operator's time
    /// zone. A schedule falls due at midnight there; dates are stored in UTC.
    pub schedule_tz: chrono_tz::Tz,
    /// `PAYOUT_ACCOUNT_HOLD_SECS` (default 86,400; 0 turns holds off): how long a user's
    /// payouts wait after they change where they are paid or the email that hears of it.
    pub account_hold_secs: u64,
    /// `PAYOUT_ACCOUNT_KEY_ID` and `PAYOUT_ACCOUNT_MAC_KEY_ID`: the KMS keys that seal
    /// and fingerprint payout destinations, set (both or neither) only on the
    /// functions that save accounts or register them at the gateway.
    pub vault: Option<Vault>,
}

/// The stage the dev tooling (`cargo xtask dev`, `test`, `bench`) runs under.
pub const LOCAL_STAGE: &str = "local";

/// The stages that may pay with the simulated gateway: anywhere else users would be
/// told "paid" for money that never moved.
pub const SIMULATION_STAGES: [&str; 2] = [LOCAL_STAGE, "dev"];

/// Which gateway pays: every function knows (the limits and account checks depend on
/// it); only the ones that pay build its part ([`GatewayConfig`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GatewayKind {
    Simulated,
    RazorpayX,
}

/// Variables that once carried secret values. Outside local runs their presence refuses
/// start: a secret in a function's environment is readable by anyone who may read the
/// function's configuration.
const SECRET_VARIABLES: [&str; 5] = [
    "JWT_SECRET",
    "RAZORPAYX_KEY_ID",
    "RAZORPAYX_KEY_SECRET",
    "RAZORPAYX_WEBHOOK_SECRET",
    "RAZORPAYX_WEBHOOK_SECRET_PREVIOUS",
];

/// Bounds that keep every derived figure (lease expiry, query limits, sleeps) far from
/// overflow; values outside them are refused at start.
const MAX_LEASE_SECS: u64 = 86_400;
const MAX_BATCH: usize = 1_000;
const MAX_SIM_LATENCY_MS: u64 = 600_000;
/// A day: long enough for the emails about a change to be read before money follows it.
const DEFAULT_ACCOUNT_HOLD_SECS: u64 = 86_400;
/// Thirty days: a hold longer than that is a frozen account, which is support's call.
const MAX_ACCOUNT_HOLD_SECS: u64 = 30 * 86_400;

/// `PAYOUT_MIN_PAISE` / `PAYOUT_MAX_PAISE`: bounds of one scout payout request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayoutLimits {
    pub min: Paise,
    pub max: Paise,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessorConfig {
    /// `BATCH_SIZE`: pending payouts taken per run (and expired leases reconciled per run).
    pub batch_size: usize,
    /// `PROCESS_CONCURRENCY`: payouts in flight at once within a run; defaults to the batch size.
    pub concurrency: usize,
    /// `LEASE_SECS`: how long a claim holds a payout. Must exceed the longest a function
    /// can run (its timeout), or a live attempt could be reconciled under its feet.
    pub lease_secs: u64,
    /// `GATEWAY_POLL_SECS`: how long a payout the gateway accepted waits before the
    /// processor asks the gateway about it again.
    pub poll_secs: u64,
    /// `DRAIN=true`: keep taking batches until the queue is empty or the deadline
    /// nears. Off (`None`) by default: one batch per run, 10 an hour at the default size.
    pub drain: Option<Drain>,
    /// `PAYOUT_ACCOUNT_VALIDATION`: a destination is verified at the gateway before any
    /// payout goes to it (RazorpayX fund account validation; docs/RAZORPAYX.md).
    pub validate_accounts: bool,
}

/// Drain mode's brake. `DRAIN_MARGIN_SECS` (default 30): no new batch starts unless
/// the slowest batch so far, plus this, fits before the function's deadline, so a run
/// ends between batches instead of being cut off in one (its claimed payouts would
/// then wait out their lease before being reconciled: safe, but slow). The margin
/// covers a batch slower than any before it, such as one that meets a gateway
/// timing out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Drain {
    pub margin_secs: u64,
}

impl Config {
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let var = trimmed(lookup);

        let table_name = var("PAYOUTS_TABLE").unwrap_or_else(|| "payouts".to_owned());
        let min = parse(&var, "PAYOUT_MIN_PAISE", 100u64)?;
        let max = parse(&var, "PAYOUT_MAX_PAISE", 10_000_000u64)?;
        if min == 0 || min > max {
            return Err(Error::Config(format!(
                "PAYOUT_MIN_PAISE ({min}) must be at least 1 and at most PAYOUT_MAX_PAISE ({max})"
            )));
        }

        let stage = var("STAGE");
        let local = stage.as_deref() == Some(LOCAL_STAGE);
        refuse_secrets_in_environment(&var, local)?;
        let vault =
            match (
                var("PAYOUT_ACCOUNT_KEY_ID"),
                var("PAYOUT_ACCOUNT_MAC_KEY_ID"),
            ) {
                (Some(key_id), Some(mac_key_id)) => Some(Vault::new(key_id, mac_key_id)),
                (None, None) => None,
                _ => return Err(Error::Config(
                    "PAYOUT_ACCOUNT_KEY_ID and PAYOUT_ACCOUNT_MAC_KEY_ID are set together or not \
                     at all"
                        .to_owned(),
                )),
            };

        let batch_size = within(
            parse(&var, "BATCH_SIZE", 10usize)?,
            "BATCH_SIZE",
            1,
            MAX_BATCH,
        )?;
        let concurrency = within(
            parse(&var, "PROCESS_CONCURRENCY", batch_size)?,
            "PROCESS_CONCURRENCY",
            1,
            MAX_BATCH,
        )?;
        let lease_secs = within(
            parse(&var, "LEASE_SECS", 300u64)?,
            "LEASE_SECS",
            1,
            MAX_LEASE_SECS,
        )?;
        // A lease that can run out while its holder is still working would let a second
        // processor take the payout over under its feet. The template sets each
        // function's timeout here; only local runs (no timeout) may leave it out.
        match var("FUNCTION_TIMEOUT_SECS") {
            Some(text) => {
                let timeout: u64 = parse_value("FUNCTION_TIMEOUT_SECS", &text)?;
                if lease_secs <= timeout {
                    return Err(Error::Config(format!(
                        "LEASE_SECS ({lease_secs}) must be longer than the function timeout \
                         FUNCTION_TIMEOUT_SECS ({timeout})"
                    )));
                }
            }
            None if !local => {
                return Err(Error::Config(
                    "FUNCTION_TIMEOUT_SECS is not set: the lease (LEASE_SECS) cannot be checked \
                     against the function timeout"
                        .to_owned(),
                ))
            }
            None => {}
        }

        let gateway_kind = match var("PAYMENT_GATEWAY").as_deref() {
            None | Some("simulated") => GatewayKind::Simulated,
            Some("razorpayx") => GatewayKind::RazorpayX,
            Some(other) => {
                return Err(Error::Config(format!(
                    "PAYMENT_GATEWAY must be `simulated` or `razorpayx`, got `{other}`"
                )))
            }
        };
        let stage_name = stage.as_deref().unwrap_or("unnamed");
        if gateway_kind == GatewayKind::Simulated && !SIMULATION_STAGES.contains(&stage_name) {
            return Err(Error::Config(format!(
                "PAYMENT_GATEWAY is `simulated` (the template's PaymentGateway parameter) on \
                 stage `{stage_name}`: only {SIMULATION_STAGES:?} may pay with the simulated \
                 gateway, whose users would be told they were paid when no money moved; \
                 deploy with PaymentGateway=razorpayx"
            )));
        }
        // RazorpayX refuses a payout under ₹1: one smaller would fail every time.
        if gateway_kind == GatewayKind::RazorpayX && min < RAZORPAYX_MIN_PAYOUT_PAISE {
            return Err(Error::Config(format!(
                "PAYOUT_MIN_PAISE ({min}) is below RazorpayX's smallest payout \
                 ({RAZORPAYX_MIN_PAYOUT_PAISE} paise)"
            )));
        }
        let poll_secs = within(
            parse(&var, "GATEWAY_POLL_SECS", 60u64)?,
            "GATEWAY_POLL_SECS",
            1,
            MAX_LEASE_SECS,
        )?;

        let drain = match var("DRAIN").as_deref() {
            None | Some("false") => None,
            Some("true") => Some(Drain {
                margin_secs: within(
                    parse(&var, "DRAIN_MARGIN_SECS", 30u64)?,
                    "DRAIN_MARGIN_SECS",
                    1,
                    MAX_LEASE_SECS,
                )?,
            }),
            Some(other) => {
                return Err(Error::Config(format!(
                    "DRAIN must be `true` or `false`, got `{other}`"
                )))
            }
        };
        if let (Some(drain), Some(timeout)) = (drain, var("FUNCTION_TIMEOUT_SECS")) {
            let timeout: u64 = parse_value("FUNCTION_TIMEOUT_SECS", &timeout)?;
            if drain.margin_secs >= timeout {
                return Err(Error::Config(format!(
                    "DRAIN_MARGIN_SECS ({}) must be shorter than the function timeout \
                     FUNCTION_TIMEOUT_SECS ({timeout}), or no batch could ever start",
                    drain.margin_secs
                )));
            }
        }

        let schedule_tz = match var("PAYOUT_SCHEDULE_TZ") {
            None => chrono_tz::Asia::Kolkata,
            Some(name) => name.trim().parse().map_err(|_| {
                Error::Config(format!(
                    "PAYOUT_SCHEDULE_TZ must be an IANA time zone name such as Asia/Kolkata, got `{name}`"
                ))
            })?,
        };

        let validate_accounts = account_validation(&var, gateway_kind, stage.as_deref())?;

        let account_hold_secs = within(
            parse(&var, "PAYOUT_ACCOUNT_HOLD_SECS", DEFAULT_ACCOUNT_HOLD_SECS)?,
            "PAYOUT_ACCOUNT_HOLD_SECS",
            0,
            MAX_ACCOUNT_HOLD_SECS,
        )?;

        Ok(Config {
            table_name,
            stage: stage.unwrap_or_else(|| "unnamed".to_owned()),
            limits: PayoutLimits {
                min: Paise(min),
                max: Paise(max),
            },
            processor: ProcessorConfig {
                batch_size,
                concurrency,
                lease_secs,
                poll_secs,
                drain,
                validate_accounts,
            },
            gateway_kind,
            schedule_tz,
            account_hold_secs,
            vault,
        })
    }
}

impl Config {
    /// The gateway's part, from the environment: only the functions that pay build it.
    pub fn gateway_from_env(&self) -> Result<GatewayConfig> {
        self.gateway_from_lookup(|name| std::env::var(name).ok())
    }

    /// The gateway's settings and the handle of its credentials (a Secrets Manager
    /// secret, read at first use), checked against the rest of this configuration.
    pub fn gateway_from_lookup(
        &self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<GatewayConfig> {
        let var = trimmed(lookup);
        let local = self.stage == LOCAL_STAGE;
        let lease_secs = self.processor.lease_secs;
        let secret_cache_ttl = secret_cache_ttl(&var)?;
        let vault = &self.vault;
        let gateway = match self.gateway_kind {
            GatewayKind::Simulated => {
                let defaults = SimulatedGatewayConfig::default();
                let success_rate = parse(&var, "GATEWAY_SIM_SUCCESS_RATE", defaults.success_rate)?;
                if !(0.0..=1.0).contains(&success_rate) {
                    return Err(Error::Config(format!(
                        "GATEWAY_SIM_SUCCESS_RATE must be within 0.0..=1.0, got {success_rate}"
                    )));
                }
                let latency_ms = within(
                    parse(&var, "GATEWAY_SIM_LATENCY_MS", defaults.latency_ms)?,
                    "GATEWAY_SIM_LATENCY_MS",
                    0,
                    MAX_SIM_LATENCY_MS,
                )?;
                // A transfer still sleeping when its lease runs out would land after a
                // cancel had already been told that nothing was sent.
                if latency_ms >= lease_secs.saturating_mul(1000) {
                    return Err(Error::Config(format!(
                        "GATEWAY_SIM_LATENCY_MS ({latency_ms}) must be shorter than LEASE_SECS \
                             ({lease_secs} s)"
                    )));
                }
                GatewayConfig::Simulated(SimulatedGatewayConfig {
                    success_rate,
                    latency_ms,
                    seed: var("GATEWAY_SIM_SEED")
                        .map(|text| parse_value("GATEWAY_SIM_SEED", &text))
                        .transpose()?,
                })
            }
            GatewayKind::RazorpayX => {
                let credentials = match var("RAZORPAYX_API_SECRET_ID") {
                    Some(id) => Some(Secret::managed(id, secret_cache_ttl)),
                    None if local => Some(Secret::fixed(
                        RazorpayXKeys {
                            key_id: var("RAZORPAYX_KEY_ID")
                                .unwrap_or_else(|| DEV_RAZORPAYX_KEY_ID.to_owned()),
                            key_secret: var("RAZORPAYX_KEY_SECRET")
                                .unwrap_or_else(|| DEV_RAZORPAYX_KEY_SECRET.to_owned()),
                        }
                        .to_secret_string(),
                    )),
                    // Only the functions that pay are given the secret; the others never
                    // build a RazorpayX client ([`gateway::Gateway::from_config`]).
                    None => None,
                };
                let base_url = var("RAZORPAYX_BASE_URL").unwrap_or_else(|| {
                    if local {
                        DEV_RAZORPAYX_BASE_URL
                    } else {
                        "https://api.razorpay.com"
                    }
                    .to_owned()
                });
                if !local && !base_url.starts_with("https://") {
                    return Err(Error::Config(format!(
                            "RAZORPAYX_BASE_URL must be https outside local development, got `{base_url}`"
                        )));
                }
                let account_number =
                    match var("RAZORPAYX_ACCOUNT_NUMBER") {
                        None if local => DEV_RAZORPAYX_ACCOUNT_NUMBER.to_owned(),
                        Some(number) => number,
                        None => return Err(Error::Config(
                            "RAZORPAYX_ACCOUNT_NUMBER is missing: the RazorpayX business account \
                                 payouts are made from"
                                .to_owned(),
                        )),
                    };
                GatewayConfig::RazorpayX(RazorpayXConfig {
                    base_url,
                    credentials,
                    account_number,
                    timeout_ms: within(
                        parse(&var, "RAZORPAYX_TIMEOUT_MS", 10_000u64)?,
                        "RAZORPAYX_TIMEOUT_MS",
                        100,
                        60_000,
                    )?,
                    local,
                    imps_max_paise: within(
                        parse(&var, "RAZORPAYX_IMPS_MAX_PAISE", IMPS_LIMIT_PAISE)?,
                        "RAZORPAYX_IMPS_MAX_PAISE",
                        RAZORPAYX_MIN_PAYOUT_PAISE,
                        IMPS_LIMIT_PAISE,
                    )?,
                    above_imps_mode: match var("RAZORPAYX_ABOVE_IMPS_MODE").as_deref() {
                        None | Some("NEFT") => LargeTransferMode::Neft,
                        Some("RTGS") => LargeTransferMode::Rtgs,
                        Some(other) => {
                            return Err(Error::Config(format!(
                                "RAZORPAYX_ABOVE_IMPS_MODE must be NEFT or RTGS, got `{other}`"
                            )))
                        }
                    },
                    vault: vault.clone(),
                })
            }
        };
        // RTGS takes ₹2,00,000 and more: everything above the IMPS limit must be.
        if let GatewayConfig::RazorpayX(razorpayx) = &gateway {
            if razorpayx.above_imps_mode == LargeTransferMode::Rtgs
                && razorpayx.imps_max_paise < RTGS_MIN_PAISE
            {
                return Err(Error::Config(format!(
                    "RAZORPAYX_ABOVE_IMPS_MODE=RTGS needs RAZORPAYX_IMPS_MAX_PAISE of at least \
                     {RTGS_MIN_PAISE} (RTGS's smallest transfer)"
                )));
            }
        }
        Ok(gateway)
    }
}

/// The secrets RazorpayX signs webhooks with, read by the webhook function alone from
/// the secret `RAZORPAYX_WEBHOOK_SECRET_ID` names: `{"current": …, "previous": …}`,
/// `previous` set only while a rotation is under way (RazorpayX redelivers events made
/// before the change signed with the old secret, for up to 24 hours).
#[derive(Clone, Debug)]
pub struct WebhookSecrets {
    source: Secret,
    local: bool,
}

#[derive(serde::Deserialize)]
struct WebhookSecretValue {
    current: String,
    #[serde(default)]
    previous: Option<String>,
}

/// A secret chosen on the RazorpayX dashboard; short ones are guessable offline from
/// one signed delivery.
const MIN_WEBHOOK_SECRET_LEN: usize = 16;

impl WebhookSecrets {
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let var = trimmed(lookup);
        let local = var("STAGE").as_deref() == Some(LOCAL_STAGE);
        refuse_secrets_in_environment(&var, local)?;
        let source =
            match var("RAZORPAYX_WEBHOOK_SECRET_ID") {
                Some(id) => Secret::managed(id, secret_cache_ttl(&var)?),
                None if local => Secret::fixed(Self::secret_string(
                    &var("RAZORPAYX_WEBHOOK_SECRET")
                        .unwrap_or_else(|| DEV_RAZORPAYX_WEBHOOK_SECRET.to_owned()),
                    var("RAZORPAYX_WEBHOOK_SECRET_PREVIOUS").as_deref(),
                )),
                None => return Err(Error::Config(
                    "RAZORPAYX_WEBHOOK_SECRET_ID is not set: the webhook secrets are read from \
                     Secrets Manager"
                        .to_owned(),
                )),
            };
        Ok(WebhookSecrets { source, local })
    }

    /// The webhook secrets in `source` (tests: a local Secrets Manager, or fixed values).
    pub fn from_source(source: Secret, local: bool) -> Self {
        WebhookSecrets { source, local }
    }

    /// The secret's JSON, as stored.
    pub fn secret_string(current: &str, previous: Option<&str>) -> String {
        serde_json::json!({"current": current, "previous": previous}).to_string()
    }

    /// The current secret, then the previous one if a rotation is under way. Fails when
    /// the secret cannot be read or holds no usable value: no signature is then valid.
    pub async fn all(&self) -> Result<Vec<String>> {
        let value =
            self.source.read().await.map_err(|err| {
                Error::DependencyUnavailable(format!("the webhook secrets: {err}"))
            })?;
        let unusable =
            |why: &str| Error::Config(format!("the webhook secret {} {why}", self.source.id()));
        let value: WebhookSecretValue = serde_json::from_str(&value)
            .map_err(|_| unusable("is not JSON with `current` (and `previous`)"))?;
        let mut all = vec![value.current];
        all.extend(
            value
                .previous
                .filter(|previous| !previous.trim().is_empty()),
        );
        for secret in &all {
            if !self.local && secret.len() < MIN_WEBHOOK_SECRET_LEN {
                return Err(unusable("holds a secret shorter than 16 characters"));
            }
            if !self.local && secret == DEV_RAZORPAYX_WEBHOOK_SECRET {
                return Err(unusable("holds the local secret from the repository"));
            }
        }
        Ok(all)
    }
}

/// `PAYOUT_ACCOUNT_VALIDATION` (`true` or `false`): whether a destination is verified
/// before payouts go to it. RazorpayX validates in live mode only, so it defaults to on
/// where RazorpayX pays outside the development stages, off elsewhere; the simulated
/// gateway has nothing to validate with and refuses `true`.
fn account_validation(
    var: &impl Fn(&str) -> Option<String>,
    gateway: GatewayKind,
    stage: Option<&str>,
) -> Result<bool> {
    let razorpayx = gateway == GatewayKind::RazorpayX;
    let production = !SIMULATION_STAGES.contains(&stage.unwrap_or("unnamed"));
    let validate = match var("PAYOUT_ACCOUNT_VALIDATION").as_deref() {
        None => razorpayx && production,
        Some("true") => true,
        Some("false") => false,
        Some(other) => {
            return Err(Error::Config(format!(
                "PAYOUT_ACCOUNT_VALIDATION must be `true` or `false`, got `{other}`"
            )))
        }
    };
    if validate && !razorpayx {
        return Err(Error::Config(
            "PAYOUT_ACCOUNT_VALIDATION=true needs PAYMENT_GATEWAY=razorpayx: the simulated \
             gateway cannot verify an account"
                .to_owned(),
        ));
    }
    Ok(validate)
}

/// Outside local runs, a secret-bearing variable in the environment refuses start.
fn refuse_secrets_in_environment(var: &impl Fn(&str) -> Option<String>, local: bool) -> Result<()> {
    if local {
        return Ok(());
    }
    match SECRET_VARIABLES.iter().find(|name| var(name).is_some()) {
        Some(name) => Err(Error::Config(format!(
            "{name} is set in the environment: secrets are read from Secrets Manager at run \
             time, never from a function's environment; remove it"
        ))),
        None => Ok(()),
    }
}

/// `SECRET_CACHE_SECS` (default 300): how long a secret read from Secrets Manager is used
/// before it is read again, so a rotation reaches every function within that time.
fn secret_cache_ttl(var: &impl Fn(&str) -> Option<String>) -> Result<Duration> {
    Ok(Duration::from_secs(within(
        parse(var, "SECRET_CACHE_SECS", SECRET_CACHE_SECS)?,
        "SECRET_CACHE_SECS",
        0,
        3_600,
    )?))
}

/// What `publish-events` reads: it needs no secrets, so it does not go through
/// [`Config`] (which insists on the JWT secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventsConfig {
    pub stage: String,
    /// `EVENT_BUS_NAME` (default `payouts`): the custom bus payout events go to.
    pub bus_name: String,
}

impl EventsConfig {
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let var = trimmed(lookup);
        Ok(EventsConfig {
            stage: var("STAGE").unwrap_or_else(|| "unnamed".to_owned()),
            bus_name: var("EVENT_BUS_NAME").unwrap_or_else(|| "payouts".to_owned()),
        })
    }
}

/// The sender local runs use; the dev stack verifies it with the local SES.
pub const DEV_NOTIFY_FROM_ADDRESS: &str = "payouts@example.com";

/// What `notify` reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifyConfig {
    pub stage: String,
    /// `PAYOUTS_TABLE`: where payout accounts (the user's email) and the record of
    /// emails sent live.
    pub table_name: String,
    /// `NOTIFY_FROM_ADDRESS`: the SES-verified sender. Required outside `STAGE=local`,
    /// where it defaults to [`DEV_NOTIFY_FROM_ADDRESS`].
    pub from_address: String,
    /// `SES_CONFIGURATION_SET` (optional): bounces, complaints and delivery metrics.
    pub configuration_set: Option<String>,
}

impl NotifyConfig {
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let var = trimmed(lookup);
        let stage = var("STAGE");
        let local = stage.as_deref() == Some(LOCAL_STAGE);
        let from_address = match var("NOTIFY_FROM_ADDRESS") {
            Some(address) => address,
            None if local => DEV_NOTIFY_FROM_ADDRESS.to_owned(),
            None => {
                return Err(Error::Config(
                    "NOTIFY_FROM_ADDRESS is not set: emails need a sender verified in SES"
                        .to_owned(),
                ))
            }
        };
        let plausible = from_address
            .split_once('@')
            .is_some_and(|(local_part, domain)| !local_part.is_empty() && domain.contains('.'));
        if !plausible {
            return Err(Error::Config(format!(
                "NOTIFY_FROM_ADDRESS `{from_address}` is not an email address"
            )));
        }
        Ok(NotifyConfig {
            stage: stage.unwrap_or_else(|| "unnamed".to_owned()),
            table_name: var("PAYOUTS_TABLE").unwrap_or_else(|| "payouts".to_owned()),
            from_address,
            configuration_set: var("SES_CONFIGURATION_SET"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployed(pairs: &[(&str, &str)]) -> Result<Config> {
        Config::from_lookup(|name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    fn config(pairs: &[(&str, &str)]) -> Result<Config> {
        let mut pairs = pairs.to_vec();
        pairs.push(("STAGE", LOCAL_STAGE));
        deployed(&pairs)
    }

    /// The gateway's part as a function that pays builds it, after the settings.
    fn deployed_gateway(pairs: &[(&str, &str)]) -> Result<GatewayConfig> {
        deployed(pairs)?.gateway_from_lookup(|name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    fn gateway(pairs: &[(&str, &str)]) -> Result<GatewayConfig> {
        let mut pairs = pairs.to_vec();
        pairs.push(("STAGE", LOCAL_STAGE));
        deployed_gateway(&pairs)
    }

    #[test]
    fn outside_local_a_secret_in_the_environment_refuses_to_start() {
        for name in SECRET_VARIABLES {
            let err = deployed(&[
                ("STAGE", "dev"),
                ("FUNCTION_TIMEOUT_SECS", "29"),
                (name, "Zx9-this-is-a-real-secret-of-enough-length"),
            ])
            .unwrap_err();
            assert!(err.to_string().contains(name), "{name}: {err}");
            let err = WebhookSecrets::from_lookup(|key| {
                (key == name || key == "RAZORPAYX_WEBHOOK_SECRET_ID" || key == "STAGE").then(|| {
                    if key == "STAGE" {
                        "prod"
                    } else {
                        "x".repeat(40).leak()
                    }
                    .to_owned()
                })
            })
            .unwrap_err();
            assert!(err.to_string().contains(name), "{name}: {err}");
        }
        // Locally they are the documented way to point at the local RazorpayX.
        assert!(config(&[("RAZORPAYX_KEY_SECRET", "anything-local")]).is_ok());
    }

    #[test]
    fn account_validation_is_on_where_razorpayx_pays_for_real() {
        let razorpayx = |stage: &'static str, validation: Option<&'static str>| {
            let mut pairs = vec![
                ("STAGE", stage),
                ("FUNCTION_TIMEOUT_SECS", "29"),
                ("PAYMENT_GATEWAY", "razorpayx"),
                ("RAZORPAYX_ACCOUNT_NUMBER", "7878780080316316"),
                ("RAZORPAYX_API_SECRET_ID", "payouts/x/razorpayx-api"),
            ];
            if let Some(value) = validation {
                pairs.push(("PAYOUT_ACCOUNT_VALIDATION", value));
            }
            deployed(&pairs).map(|config| config.processor.validate_accounts)
        };
        assert!(razorpayx("prod", None).unwrap());
        assert!(razorpayx("staging", None).unwrap());
        // RazorpayX's test mode does not validate: off where it is used.
        assert!(!razorpayx("dev", None).unwrap());
        assert!(!razorpayx("prod", Some("false")).unwrap());
        assert!(razorpayx("dev", Some("true")).unwrap());
        let err = razorpayx("prod", Some("yes")).unwrap_err().to_string();
        assert!(err.contains("PAYOUT_ACCOUNT_VALIDATION"), "{err}");
        assert!(!config(&[]).unwrap().processor.validate_accounts);
        let err = config(&[("PAYOUT_ACCOUNT_VALIDATION", "true")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("razorpayx"), "{err}");
    }

    #[test]
    fn a_production_stage_refuses_the_simulated_gateway() {
        for stage in ["prod", "staging", "unnamed"] {
            let err = deployed(&[("STAGE", stage), ("FUNCTION_TIMEOUT_SECS", "29")])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("PAYMENT_GATEWAY") && err.contains("PaymentGateway"),
                "{stage}: {err}"
            );
        }
        assert!(deployed(&[("STAGE", "dev"), ("FUNCTION_TIMEOUT_SECS", "29")]).is_ok());
        let prod = deployed_gateway(&[
            ("STAGE", "prod"),
            ("FUNCTION_TIMEOUT_SECS", "29"),
            ("PAYMENT_GATEWAY", "razorpayx"),
            ("RAZORPAYX_ACCOUNT_NUMBER", "7878780080316316"),
            ("RAZORPAYX_API_SECRET_ID", "payouts/prod/razorpayx-api"),
        ])
        .unwrap();
        let GatewayConfig::RazorpayX(razorpayx) = prod else {
            panic!("razorpayx was asked for");
        };
        assert!(razorpayx
            .credentials
            .is_some_and(|secret| secret.is_managed()));
        // A function that is not given the secret builds no credentials at all.
        let reader = deployed_gateway(&[
            ("STAGE", "prod"),
            ("FUNCTION_TIMEOUT_SECS", "29"),
            ("PAYMENT_GATEWAY", "razorpayx"),
            ("RAZORPAYX_ACCOUNT_NUMBER", "7878780080316316"),
        ])
        .unwrap();
        let GatewayConfig::RazorpayX(razorpayx) = reader else {
            panic!("razorpayx was asked for");
        };
        assert_eq!(razorpayx.credentials, None);
        // A function that does not pay builds no gateway part: without the business
        // account it still starts, and only the part refuses.
        let settings = [
            ("STAGE", "prod"),
            ("FUNCTION_TIMEOUT_SECS", "29"),
            ("PAYMENT_GATEWAY", "razorpayx"),
        ];
        let config = deployed(&settings).unwrap();
        assert_eq!(config.gateway_kind, GatewayKind::RazorpayX);
        let err = deployed_gateway(&settings).unwrap_err().to_string();
        assert!(err.contains("RAZORPAYX_ACCOUNT_NUMBER"), "{err}");
    }

    #[test]
    fn razorpayx_needs_a_minimum_of_a_rupee_and_a_mode_above_imps_that_fits() {
        let razorpayx = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = vec![("PAYMENT_GATEWAY", "razorpayx")];
            pairs.extend_from_slice(extra);
            gateway(&pairs)
        };
        let err = razorpayx(&[("PAYOUT_MIN_PAISE", "99")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("PAYOUT_MIN_PAISE"), "{err}");
        // The simulated gateway has no such floor.
        assert!(config(&[("PAYOUT_MIN_PAISE", "1")]).is_ok());
        let GatewayConfig::RazorpayX(defaults) = razorpayx(&[]).unwrap() else {
            panic!("razorpayx was asked for");
        };
        assert_eq!(defaults.imps_max_paise, IMPS_LIMIT_PAISE);
        assert_eq!(defaults.above_imps_mode, LargeTransferMode::Neft);
        let GatewayConfig::RazorpayX(rtgs) =
            razorpayx(&[("RAZORPAYX_ABOVE_IMPS_MODE", "RTGS")]).unwrap()
        else {
            panic!("razorpayx was asked for");
        };
        assert_eq!(rtgs.above_imps_mode, LargeTransferMode::Rtgs);
        for bad in [
            &[("RAZORPAYX_ABOVE_IMPS_MODE", "IMPS")][..],
            &[("RAZORPAYX_IMPS_MAX_PAISE", "60000000")],
            &[("RAZORPAYX_IMPS_MAX_PAISE", "50")],
            // RTGS starts at ₹2,00,000: smaller transfers above the IMPS bound could not go.
            &[
                ("RAZORPAYX_ABOVE_IMPS_MODE", "RTGS"),
                ("RAZORPAYX_IMPS_MAX_PAISE", "10000000"),
            ],
        ] {
            assert!(razorpayx(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn razorpayx_keys_from_a_secret_refuse_the_local_ones_outside_local_runs() {
        let dev = RazorpayXKeys::dev().to_secret_string();
        assert!(RazorpayXKeys::from_secret_string(&dev, true).is_ok());
        assert!(RazorpayXKeys::from_secret_string(&dev, false).is_err());
        let real = RazorpayXKeys {
            key_id: "rzp_live_0123456789".to_owned(),
            key_secret: "a-live-secret-of-24-char".to_owned(),
        };
        assert_eq!(
            RazorpayXKeys::from_secret_string(&real.to_secret_string(), false).unwrap(),
            real
        );
        for bad in [
            "",
            "not json",
            r#"{"key_id":"rzp_live_1"}"#,
            r#"{"key_id":"a","key_secret":"short"}"#,
        ] {
            assert!(
                RazorpayXKeys::from_secret_string(bad, false).is_err(),
                "{bad}"
            );
        }
        assert!(!format!("{real:?}").contains("a-live-secret"));
    }

    #[test]
    fn the_schedule_time_zone_is_india_unless_named() {
        assert_eq!(config(&[]).unwrap().schedule_tz, chrono_tz::Asia::Kolkata);
        assert_eq!(
            config(&[("PAYOUT_SCHEDULE_TZ", "Europe/London")])
                .unwrap()
                .schedule_tz,
            chrono_tz::Europe::London
        );
        let err = config(&[("PAYOUT_SCHEDULE_TZ", "IST")]).unwrap_err();
        assert!(err.to_string().contains("PAYOUT_SCHEDULE_TZ"), "{err}");
    }

    #[test]
    fn drain_is_off_unless_asked_for_and_its_margin_fits_the_timeout() {
        assert_eq!(config(&[]).unwrap().processor.drain, None);
        assert_eq!(config(&[("DRAIN", "false")]).unwrap().processor.drain, None);
        assert_eq!(
            config(&[("DRAIN", "true")]).unwrap().processor.drain,
            Some(Drain { margin_secs: 30 })
        );
        assert_eq!(
            config(&[("DRAIN", "true"), ("DRAIN_MARGIN_SECS", "45")])
                .unwrap()
                .processor
                .drain,
            Some(Drain { margin_secs: 45 })
        );
        for bad in [
            &[("DRAIN", "yes")][..],
            &[("DRAIN", "true"), ("DRAIN_MARGIN_SECS", "0")],
            &[("DRAIN", "true"), ("DRAIN_MARGIN_SECS", "-5")],
            // No batch could ever start: the margin is the whole invocation.
            &[("DRAIN", "true"), ("FUNCTION_TIMEOUT_SECS", "30")],
        ] {
            assert!(config(bad).is_err(), "{bad:?}");
        }
        assert!(config(&[("DRAIN", "true"), ("FUNCTION_TIMEOUT_SECS", "120")]).is_ok());
    }

    #[test]
    fn the_lease_must_outlive_the_function_timeout() {
        let deploy = |lease: &str, timeout: Option<&str>| {
            let mut pairs = vec![("STAGE", "dev"), ("LEASE_SECS", lease)];
            if let Some(timeout) = timeout {
                pairs.push(("FUNCTION_TIMEOUT_SECS", timeout));
            }
            deployed(&pairs)
        };
        assert!(deploy("300", Some("120")).is_ok());
        for (lease, timeout) in [
            ("120", Some("120")),
            ("60", Some("120")),
            ("300", None),
            ("300", Some("x")),
        ] {
            assert!(
                deploy(lease, timeout).is_err(),
                "lease {lease}, timeout {timeout:?}"
            );
        }
        assert!(config(&[("LEASE_SECS", "10"), ("FUNCTION_TIMEOUT_SECS", "29")]).is_err());
    }

    #[test]
    fn values_that_would_overflow_or_stall_refuse_to_start() {
        for (name, value) in [
            ("BATCH_SIZE", "0"),
            ("PROCESS_CONCURRENCY", "0"),
            ("LEASE_SECS", "0"),
            ("BATCH_SIZE", "18446744073709551615"),
            ("PROCESS_CONCURRENCY", "1001"),
            ("LEASE_SECS", "18446744073709551615"),
            ("LEASE_SECS", "9223372036854775807"),
            ("GATEWAY_SIM_LATENCY_MS", "18446744073709551615"),
            ("BATCH_SIZE", "-1"),
        ] {
            let err = gateway(&[(name, value)]).unwrap_err();
            assert!(err.to_string().contains(name), "{name}={value}: {err}");
        }
    }

    #[test]
    fn notify_needs_a_sender_outside_local_runs() {
        let lookup = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| (*value).to_owned())
            }
        };
        let missing = NotifyConfig::from_lookup(lookup(&[("STAGE", "prod")]));
        assert!(
            matches!(&missing, Err(Error::Config(message)) if message.contains("NOTIFY_FROM_ADDRESS")),
            "{missing:?}"
        );
        let not_an_address = NotifyConfig::from_lookup(lookup(&[
            ("STAGE", "prod"),
            ("NOTIFY_FROM_ADDRESS", "payouts"),
        ]));
        assert!(not_an_address.is_err(), "{not_an_address:?}");
        let local = NotifyConfig::from_lookup(lookup(&[("STAGE", LOCAL_STAGE)])).unwrap();
        assert_eq!(local.from_address, DEV_NOTIFY_FROM_ADDRESS);
        assert_eq!(local.configuration_set, None);
        let deployed = NotifyConfig::from_lookup(lookup(&[
            ("STAGE", "prod"),
            ("NOTIFY_FROM_ADDRESS", " payouts@shop.in "),
            ("SES_CONFIGURATION_SET", "payouts-prod"),
            ("PAYOUTS_TABLE", "payouts-prod"),
        ]))
        .unwrap();
        assert_eq!(deployed.from_address, "payouts@shop.in");
        assert_eq!(deployed.configuration_set.as_deref(), Some("payouts-prod"));
        assert_eq!(deployed.table_name, "payouts-prod");
        assert_eq!(
            EventsConfig::from_lookup(lookup(&[])).unwrap().bus_name,
            "payouts"
        );
    }

    #[test]
    fn defaults_match_the_design() {
        let cfg = config(&[]).unwrap();
        assert_eq!(cfg.processor.batch_size, 10);
        assert_eq!(cfg.processor.concurrency, 10);
        assert_eq!(cfg.gateway_kind, GatewayKind::Simulated);
        assert_eq!(
            gateway(&[]).unwrap(),
            GatewayConfig::Simulated(SimulatedGatewayConfig::default())
        );
    }

    #[test]
    fn concurrency_follows_batch_size_unless_set() {
        let cfg = config(&[("BATCH_SIZE", "25")]).unwrap();
        assert_eq!(cfg.processor.concurrency, 25);
        let cfg = config(&[("BATCH_SIZE", "25"), ("PROCESS_CONCURRENCY", "4")]).unwrap();
        assert_eq!(cfg.processor.concurrency, 4);
    }

    #[test]
    fn bad_values_are_named_in_the_error() {
        let err = config(&[("BATCH_SIZE", "ten")]).unwrap_err();
        assert!(err.to_string().contains("BATCH_SIZE"));
        assert!(gateway(&[("GATEWAY_SIM_SUCCESS_RATE", "1.5")]).is_err());
        // The simulated gateway's latency must end before the lease.
        assert!(gateway(&[("GATEWAY_SIM_LATENCY_MS", "300000")]).is_err());
        assert!(gateway(&[("GATEWAY_SIM_LATENCY_MS", "299999")]).is_ok());
        assert!(config(&[("PAYOUT_MIN_PAISE", "500"), ("PAYOUT_MAX_PAISE", "100")]).is_err());
        assert!(config(&[("PAYMENT_GATEWAY", "paypal")]).is_err());
    }
}
