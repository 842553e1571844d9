//! Every environment variable the service reads, in one place, with local defaults.
//! The README's configuration table lists the same names.

use crate::error::{Error, Result};
use crate::money::Paise;

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// `PAYOUTS_TABLE`: the single DynamoDB table.
    pub table_name: String,
    /// `STAGE`: the deployment stage, a dimension of every metric.
    pub stage: String,
    pub limits: PayoutLimits,
    pub processor: ProcessorConfig,
    pub gateway: GatewayConfig,
    /// `JWT_SECRET`: verifies bearer tokens and keys the page cursors. Defaults to
    /// [`DEV_JWT_SECRET`] for local runs only; the SAM template always sets a real one.
    pub jwt_secret: String,
}

/// The documented local secret (README): tokens from `cargo xtask token` are signed with it.
pub const DEV_JWT_SECRET: &str = "local-dev-secret-do-not-use-in-production-0123456789";

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
}

#[derive(Clone, Debug, PartialEq)]
pub enum GatewayConfig {
    Simulated(SimulatedGatewayConfig),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SimulatedGatewayConfig {
    /// `GATEWAY_SIM_SUCCESS_RATE`, 0.0–1.0.
    pub success_rate: f64,
    /// `GATEWAY_SIM_LATENCY_MS`.
    pub latency_ms: u64,
    /// `GATEWAY_SIM_SEED`; unset = a random seed per process.
    pub seed: Option<u64>,
}

impl Default for SimulatedGatewayConfig {
    fn default() -> Self {
        SimulatedGatewayConfig {
            success_rate: 0.95,
            latency_ms: 1000,
            seed: None,
        }
    }
}

impl Config {
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let var = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());

        let table_name = var("PAYOUTS_TABLE").unwrap_or_else(|| "payouts".to_owned());
        let min = parse(&var, "PAYOUT_MIN_PAISE", 100u64)?;
        let max = parse(&var, "PAYOUT_MAX_PAISE", 10_000_000u64)?;
        if min == 0 || min > max {
            return Err(Error::Config(format!(
                "PAYOUT_MIN_PAISE ({min}) must be at least 1 and at most PAYOUT_MAX_PAISE ({max})"
            )));
        }

        let batch_size = parse(&var, "BATCH_SIZE", 10usize)?;
        let concurrency = parse(&var, "PROCESS_CONCURRENCY", batch_size)?;
        let lease_secs = parse(&var, "LEASE_SECS", 300u64)?;
        if batch_size == 0 || concurrency == 0 || lease_secs == 0 {
            return Err(Error::Config(
                "BATCH_SIZE, PROCESS_CONCURRENCY and LEASE_SECS must be positive".to_owned(),
            ));
        }

        let gateway = match var("PAYMENT_GATEWAY").as_deref() {
            None | Some("simulated") => {
                let defaults = SimulatedGatewayConfig::default();
                let success_rate = parse(&var, "GATEWAY_SIM_SUCCESS_RATE", defaults.success_rate)?;
                if !(0.0..=1.0).contains(&success_rate) {
                    return Err(Error::Config(format!(
                        "GATEWAY_SIM_SUCCESS_RATE must be within 0.0..=1.0, got {success_rate}"
                    )));
                }
                GatewayConfig::Simulated(SimulatedGatewayConfig {
                    success_rate,
                    latency_ms: parse(&var, "GATEWAY_SIM_LATENCY_MS", defaults.latency_ms)?,
                    seed: var("GATEWAY_SIM_SEED")
                        .map(|text| parse_value("GATEWAY_SIM_SEED", &text))
                        .transpose()?,
                })
            }
            Some(other) => {
                return Err(Error::Config(format!(
                    "PAYMENT_GATEWAY must be `simulated`, got `{other}`"
                )))
            }
        };

        Ok(Config {
            table_name,
            stage: var("STAGE").unwrap_or_else(|| "local".to_owned()),
            limits: PayoutLimits {
                min: Paise(min),
                max: Paise(max),
            },
            processor: ProcessorConfig {
                batch_size,
                concurrency,
                lease_secs,
            },
            gateway,
            jwt_secret: var("JWT_SECRET").unwrap_or_else(|| DEV_JWT_SECRET.to_owned()),
        })
    }
}

fn parse<T: std::str::FromStr>(
    var: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: T,
) -> Result<T> {
    match var(name) {
        Some(text) => parse_value(name, &text),
        None => Ok(default),
    }
}

fn parse_value<T: std::str::FromStr>(name: &str, text: &str) -> Result<T> {
    text.trim()
        .parse()
        .map_err(|_| Error::Config(format!("{name} has an unusable value `{text}`")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config> {
        Config::from_lookup(|name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn defaults_match_the_design() {
        let cfg = config(&[]).unwrap();
        assert_eq!(cfg.processor.batch_size, 10);
        assert_eq!(cfg.processor.concurrency, 10);
        assert_eq!(
            cfg.gateway,
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
        assert!(config(&[("GATEWAY_SIM_SUCCESS_RATE", "1.5")]).is_err());
        assert!(config(&[("PAYOUT_MIN_PAISE", "500"), ("PAYOUT_MAX_PAISE", "100")]).is_err());
        assert!(config(&[("PAYMENT_GATEWAY", "paypal")]).is_err());
    }
}
