//! Every environment variable the service reads, in one place, with local defaults.
//! docs/CONFIGURATION.md lists the same names.
//!
//! No secret value is ever read from the environment outside `STAGE=local`: the
//! environment names a Secrets Manager secret, read at first use by the functions that
//! need it ([`platform::secrets`]). Each part is built only by the functions that use it:
//! [`Config`] (settings, no secrets; every function), the gateway's part
//! ([`Config::gateway_from_env`]: its settings and the handle of its keys; the functions
//! that pay), `api::auth::AuthConfig` (behind a token), [`WebhookSecrets`] (the
//! webhook), [`NotifyConfig`] (the emails) and [`EventsConfig`] (the event bus).
//! One file per part: this one, `gateway.rs`, `webhook.rs` and `notify.rs` (the two
//! event-driven functions'); the token verifier's is in the api crate.

mod gateway;
mod notify;
#[cfg(test)]
mod test_support;
mod webhook;

pub use notify::{EventsConfig, NotifyConfig, DEV_NOTIFY_FROM_ADDRESS};
pub use webhook::WebhookSecrets;

use std::time::Duration;

pub use ::gateway::config::{
    GatewayConfig, LargeTransferMode, RazorpayXConfig, RazorpayXKeys, SimulatedGatewayConfig,
    DEV_RAZORPAYX_ACCOUNT_NUMBER, DEV_RAZORPAYX_BASE_URL, DEV_RAZORPAYX_KEY_ID,
    DEV_RAZORPAYX_KEY_SECRET, DEV_RAZORPAYX_WEBHOOK_SECRET, IMPS_LIMIT_PAISE,
    RAZORPAYX_MIN_PAYOUT_PAISE, RTGS_MIN_PAISE,
};

use domain::error::{Error, Result};
use domain::money::Paise;
use domain::settings::{parse, parse_value, trimmed, within};
use platform::secrets::SECRET_CACHE_SECS;
use platform::vault::Vault;

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

/// `PAYOUT_SCHEDULE_TZ` when it is not set: the marketplace's, India's.
pub const DEFAULT_SCHEDULE_TZ: chrono_tz::Tz = chrono_tz::Asia::Kolkata;

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

impl GatewayKind {
    /// Its `PAYMENT_GATEWAY` value.
    pub fn as_str(self) -> &'static str {
        match self {
            GatewayKind::Simulated => "simulated",
            GatewayKind::RazorpayX => "razorpayx",
        }
    }
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
    /// `DRAIN=true`: keep reading the queue and paying until it is empty or the deadline
    /// nears. Off (`None`) by default: one batch per run, 10 an hour at the default size.
    pub drain: Option<Drain>,
    /// `PAYOUT_ACCOUNT_VALIDATION`: a destination is verified at the gateway before any
    /// payout goes to it (RazorpayX fund account validation; docs/RAZORPAYX.md).
    pub validate_accounts: bool,
}

/// Drain mode's brake. `DRAIN_MARGIN_SECS` (default 30): no new payout starts unless
/// the slowest payout so far, plus this, fits before the function's deadline, so a run
/// ends with its payouts finished instead of being cut off (its claimed payouts would
/// then wait out their lease before being reconciled: safe, but slow). The margin
/// covers a payout slower than any before it, such as one that meets a gateway
/// timing out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Drain {
    pub margin_secs: u64,
}

/// What the operator's commands (`cargo xtask import`, `recount-stats`, …), run from a
/// laptop against a stage rather than in one of its functions, need of it: its name,
/// its table, its payout limits and its payout account keys. A function reads these
/// as part of [`Config`].
#[derive(Clone, Debug)]
pub struct StageConfig {
    /// `STAGE`.
    pub stage: Option<String>,
    /// `PAYOUTS_TABLE` (default `payouts`).
    pub table_name: String,
    /// `PAYOUT_MIN_PAISE`..`PAYOUT_MAX_PAISE`.
    pub limits: PayoutLimits,
    /// `PAYOUT_ACCOUNT_KEY_ID` and `PAYOUT_ACCOUNT_MAC_KEY_ID`, set together or not at all.
    pub vault: Option<Vault>,
}

impl StageConfig {
    /// For the operator's commands: against a deployed stage (`STAGE` other than
    /// `local`), its table must be named, never defaulted, and so must its payout
    /// limits where they matter (`with_limits`: a run that can create payouts), so a
    /// run against production cannot pay above its limits or write to a table called
    /// `payouts` by accident.
    pub fn from_env(with_limits: bool) -> Result<Self> {
        let var = trimmed(|name| std::env::var(name).ok());
        let deployed = var("STAGE").is_some_and(|stage| stage != LOCAL_STAGE);
        if deployed {
            let limits: &[&str] = if with_limits {
                &["PAYOUT_MIN_PAISE", "PAYOUT_MAX_PAISE"]
            } else {
                &[]
            };
            for name in std::iter::once("PAYOUTS_TABLE").chain(limits.iter().copied()) {
                if var(name).is_none() {
                    return Err(Error::Config(format!(
                        "{name} is not set: against a deployed stage, give its table (and for \
                         an import its payout limits: the stack's parameters) explicitly"
                    )));
                }
            }
        }
        Self::from_var(&var)
    }

    fn from_var(var: &impl Fn(&str) -> Option<String>) -> Result<Self> {
        let table_name = var("PAYOUTS_TABLE").unwrap_or_else(|| "payouts".to_owned());
        let min = parse(var, "PAYOUT_MIN_PAISE", 100u64)?;
        let max = parse(var, "PAYOUT_MAX_PAISE", 10_000_000u64)?;
        if min == 0 || min > max {
            return Err(Error::Config(format!(
                "PAYOUT_MIN_PAISE ({min}) must be at least 1 and at most PAYOUT_MAX_PAISE ({max})"
            )));
        }
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
        Ok(StageConfig {
            stage: var("STAGE"),
            table_name,
            limits: PayoutLimits {
                min: Paise(min),
                max: Paise(max),
            },
            vault,
        })
    }
}

/// What `ingest-marketplace` reads: its stage's table and payout limits, and the
/// marketplace's event source.
#[derive(Clone, Debug)]
pub struct IngestConfig {
    pub stage: StageConfig,
    /// `MARKETPLACE_EVENT_SOURCE` (default `marketplace`): the only `source` taken.
    pub source: String,
}

impl IngestConfig {
    pub fn from_env() -> Result<Self> {
        let source = std::env::var("MARKETPLACE_EVENT_SOURCE")
            .ok()
            .map(|source| source.trim().to_owned())
            .filter(|source| !source.is_empty())
            .unwrap_or_else(|| DEFAULT_MARKETPLACE_EVENT_SOURCE.to_owned());
        Ok(IngestConfig {
            stage: StageConfig::from_env(true)?,
            source,
        })
    }
}

/// The marketplace's events' `source` unless `MARKETPLACE_EVENT_SOURCE` says otherwise.
pub const DEFAULT_MARKETPLACE_EVENT_SOURCE: &str = "marketplace";

impl Config {
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let var = trimmed(lookup);

        let StageConfig {
            stage,
            table_name,
            limits:
                PayoutLimits {
                    min: Paise(min),
                    max: Paise(max),
                },
            vault,
        } = StageConfig::from_var(&var)?;
        let local = stage.as_deref() == Some(LOCAL_STAGE);
        refuse_secrets_in_environment(&var, local)?;

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
            None => DEFAULT_SCHEDULE_TZ,
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

#[cfg(test)]
mod tests {
    use super::test_support::{config, deployed, gateway};
    use super::*;

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
