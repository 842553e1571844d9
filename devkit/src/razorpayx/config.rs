//! What the local RazorpayX is started with: its keys, settlement delay, seed, the fault
//! rates for payouts and validations, and how it sends webhooks.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use service::config::{
    DEV_RAZORPAYX_ACCOUNT_NUMBER, DEV_RAZORPAYX_KEY_ID, DEV_RAZORPAYX_KEY_SECRET,
    DEV_RAZORPAYX_WEBHOOK_SECRET,
};

/// Fault rates, each from 0 to 1, drawn per create-payout request, and the request rate
/// the fake enforces, if any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// A 5xx before anything is created.
    pub server_error: f64,
    /// The payout is created, then the answer hangs past the client's timeout.
    pub timeout: f64,
    /// A 429 before anything is created.
    pub rate_limit: f64,
    /// Created, then `rejected`/`failed` at once with a real reason.
    pub reject: f64,
    /// Accepted (`processing`), later `failed` or `reversed` instead of `processed`.
    pub fail_after_accept: f64,
    /// A payout's change of status whose webhook is never sent (drawn per change).
    pub drop_webhooks: f64,
    /// At most this many `/v1/…` calls a second, all routes and callers together, as
    /// RazorpayX rate-limits (it asks for 5–10 TPS): a call that finds the budget spent
    /// gets a 429 before anything is done. A token bucket of `max(1, rate)` calls,
    /// refilled continuously at `rate` a second; `None`, no limit. Above 0 and finite
    /// ([`Faults::check`]). Not drawn from the seeded generator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit_tps: Option<f64>,
}

impl Faults {
    /// `RAZORPAYX_FAKE_RATE_LIMIT_TPS` as [`FakeConfig::from_env`] reads it: unset or
    /// blank, no limit; else a number of calls a second above 0.
    pub fn rate_limit_tps_from(value: Option<&str>) -> Result<Option<f64>> {
        let Some(text) = value.map(str::trim).filter(|text| !text.is_empty()) else {
            return Ok(None);
        };
        let tps: f64 = text.parse().with_context(|| {
            format!("RAZORPAYX_FAKE_RATE_LIMIT_TPS must be a number, got `{text}`")
        })?;
        Faults {
            rate_limit_tps: Some(tps),
            ..Faults::default()
        }
        .check()
        .map_err(|message| anyhow::anyhow!("RAZORPAYX_FAKE_RATE_LIMIT_TPS: {message}"))?;
        Ok(Some(tps))
    }

    pub(super) fn check(&self) -> Result<(), String> {
        if let Some(tps) = self.rate_limit_tps {
            if !(tps.is_finite() && tps > 0.0) {
                return Err(format!(
                    "rate_limit_tps must be a number of calls a second above 0, got {tps}"
                ));
            }
        }
        for (name, rate) in [
            ("server_error", self.server_error),
            ("timeout", self.timeout),
            ("rate_limit", self.rate_limit),
            ("reject", self.reject),
            ("fail_after_accept", self.fail_after_accept),
            ("drop_webhooks", self.drop_webhooks),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be within 0..=1"));
            }
        }
        Ok(())
    }
}

/// Fault rates for fund account validations (docs/RAZORPAYX.md), each from 0 to 1,
/// drawn per validation created. Apart from [`Faults`], which other callers build
/// whole, so that adding these changed nothing of theirs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValidationFaults {
    /// Completes with `account_status: invalid` and no registered name (the penny
    /// comes back).
    pub invalid_account: f64,
    /// Completes `active`, with a registered name that is someone else's.
    pub name_mismatch: f64,
    /// Fails on RazorpayX's side (`failed`, the penny refunded): nothing is learnt.
    pub technical_failure: f64,
    /// Created (and charged), then the answer hangs past the client's timeout.
    pub timeout: f64,
}

impl ValidationFaults {
    pub(super) fn check(&self) -> Result<(), String> {
        for (name, rate) in [
            ("invalid_account", self.invalid_account),
            ("name_mismatch", self.name_mismatch),
            ("technical_failure", self.technical_failure),
            ("timeout", self.timeout),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be within 0..=1"));
            }
        }
        Ok(())
    }
}

/// How webhooks are sent (https://razorpay.com/docs/webhooks/best-practices/) and the
/// delivery faults injected into them.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// Where events are POSTed; `None` sends none.
    pub url: Option<String>,
    /// The key of the `X-Razorpay-Signature` HMAC (the webhook secret, not the API key).
    pub secret: String,
    /// Rate, from 0 to 1, of events delivered twice under the same event id.
    pub duplicate: f64,
    /// Rate, from 0 to 1, of events held back so that later events overtake them.
    pub late: f64,
    /// The longest hold-back; a held event waits a seeded time between half of it and
    /// all of it, so that two held events can overtake each other too.
    pub late_by: Duration,
    /// The wait before the first retry; it doubles with each retry, plus up to half
    /// again of seeded jitter.
    pub retry_base: Duration,
    /// Attempts per delivery, the first included, before it is recorded as failed.
    pub max_attempts: u32,
}

impl WebhookConfig {
    pub(super) fn check(&self) -> Result<(), String> {
        for (name, rate) in [("duplicate", self.duplicate), ("late", self.late)] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("the webhook {name} rate must be within 0..=1"));
            }
        }
        if let Some(url) = &self.url {
            reqwest::Url::parse(url).map_err(|err| format!("webhook URL `{url}`: {err}"))?;
        }
        Ok(())
    }
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            url: None,
            secret: DEV_RAZORPAYX_WEBHOOK_SECRET.to_owned(),
            duplicate: 0.0,
            late: 0.0,
            late_by: Duration::from_secs(10),
            retry_base: Duration::from_millis(500),
            max_attempts: 8,
        }
    }
}

#[derive(Clone, Debug)]
pub struct FakeConfig {
    pub key_id: String,
    pub key_secret: String,
    pub account_number: String,
    /// Where the state lives; `None` keeps it in memory (tests).
    pub state_file: Option<PathBuf>,
    /// How long a payout stays `processing` before it settles.
    pub settle_after: Duration,
    /// How long a `timeout` fault holds the answer back.
    pub hang: Duration,
    /// The business balance a new state starts with, in paise.
    pub opening_balance: u64,
    pub faults: Faults,
    /// The validation faults a new state starts with.
    pub validation_faults: ValidationFaults,
    pub seed: u64,
    pub webhooks: WebhookConfig,
}

impl FakeConfig {
    /// The local RazorpayX of `cargo xtask dev`: state under `.local/razorpayx/`, and
    /// settlement delay, seed and fault rates from the environment
    /// (`RAZORPAYX_FAKE_SETTLE_MS`, `RAZORPAYX_FAKE_SEED`, `RAZORPAYX_FAKE_SERVER_ERROR`,
    /// `…_TIMEOUT`, `…_RATE_LIMIT`, `…_REJECT`, `…_FAIL_AFTER_ACCEPT`,
    /// `…_DROP_WEBHOOKS`), the request rate (`RAZORPAYX_FAKE_RATE_LIMIT_TPS`, calls a
    /// second; unset or blank: no limit), validation
    /// faults (`RAZORPAYX_FAKE_INVALID_ACCOUNT`, `…_NAME_MISMATCH`,
    /// `…_VALIDATION_FAILURE`, `…_VALIDATION_TIMEOUT`), and webhooks:
    /// `RAZORPAYX_FAKE_WEBHOOK_URL` (unset, blank or `off`: none),
    /// `RAZORPAYX_FAKE_WEBHOOK_SECRET` (default [`DEV_RAZORPAYX_WEBHOOK_SECRET`]),
    /// `RAZORPAYX_FAKE_WEBHOOK_DUPLICATE` and `RAZORPAYX_FAKE_WEBHOOK_LATE` (rates, 0–1)
    /// and `RAZORPAYX_FAKE_WEBHOOK_LATE_MS` (the longest hold-back, default 10000).
    pub fn from_env() -> Result<Self> {
        let number = |name: &str| -> Result<Option<f64>> {
            match std::env::var(name) {
                Ok(text) if !text.trim().is_empty() => text
                    .trim()
                    .parse()
                    .map(Some)
                    .with_context(|| format!("{name} must be a number, got `{text}`")),
                _ => Ok(None),
            }
        };
        let rate = |name: &str| -> Result<f64> { Ok(number(name)?.unwrap_or(0.0)) };
        let faults = Faults {
            server_error: rate("RAZORPAYX_FAKE_SERVER_ERROR")?,
            timeout: rate("RAZORPAYX_FAKE_TIMEOUT")?,
            rate_limit: rate("RAZORPAYX_FAKE_RATE_LIMIT")?,
            reject: rate("RAZORPAYX_FAKE_REJECT")?,
            fail_after_accept: rate("RAZORPAYX_FAKE_FAIL_AFTER_ACCEPT")?,
            drop_webhooks: rate("RAZORPAYX_FAKE_DROP_WEBHOOKS")?,
            rate_limit_tps: Faults::rate_limit_tps_from(
                std::env::var("RAZORPAYX_FAKE_RATE_LIMIT_TPS")
                    .ok()
                    .as_deref(),
            )?,
        };
        faults.check().map_err(anyhow::Error::msg)?;
        let validation_faults = ValidationFaults {
            invalid_account: rate("RAZORPAYX_FAKE_INVALID_ACCOUNT")?,
            name_mismatch: rate("RAZORPAYX_FAKE_NAME_MISMATCH")?,
            technical_failure: rate("RAZORPAYX_FAKE_VALIDATION_FAILURE")?,
            timeout: rate("RAZORPAYX_FAKE_VALIDATION_TIMEOUT")?,
        };
        validation_faults.check().map_err(anyhow::Error::msg)?;
        let settle_ms = number("RAZORPAYX_FAKE_SETTLE_MS")?.unwrap_or(5_000.0);
        let text = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        let defaults = WebhookConfig::default();
        let webhooks = WebhookConfig {
            url: text("RAZORPAYX_FAKE_WEBHOOK_URL").filter(|url| url != "off"),
            secret: text("RAZORPAYX_FAKE_WEBHOOK_SECRET").unwrap_or(defaults.secret),
            duplicate: rate("RAZORPAYX_FAKE_WEBHOOK_DUPLICATE")?,
            late: rate("RAZORPAYX_FAKE_WEBHOOK_LATE")?,
            late_by: number("RAZORPAYX_FAKE_WEBHOOK_LATE_MS")?.map_or(defaults.late_by, |ms| {
                Duration::from_millis(ms.max(0.0) as u64)
            }),
            ..defaults
        };
        webhooks.check().map_err(anyhow::Error::msg)?;
        Ok(FakeConfig {
            state_file: Some(
                crate::paths::local_dir()
                    .join("razorpayx")
                    .join("state.json"),
            ),
            settle_after: Duration::from_millis(settle_ms.max(0.0) as u64),
            faults,
            validation_faults,
            seed: number("RAZORPAYX_FAKE_SEED")?.map_or_else(rand::random, |seed| seed as u64),
            webhooks,
            ..FakeConfig::default()
        })
    }
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            key_id: DEV_RAZORPAYX_KEY_ID.to_owned(),
            key_secret: DEV_RAZORPAYX_KEY_SECRET.to_owned(),
            account_number: DEV_RAZORPAYX_ACCOUNT_NUMBER.to_owned(),
            state_file: None,
            settle_after: Duration::from_secs(2),
            hang: Duration::from_secs(15),
            // ₹10 crore: enough that only a test that asks for a low balance sees one.
            opening_balance: 10_000_000_000,
            faults: Faults::default(),
            validation_faults: ValidationFaults::default(),
            seed: 0,
            webhooks: WebhookConfig::default(),
        }
    }
}
