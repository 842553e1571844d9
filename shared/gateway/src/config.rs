//! What the gateways are configured with: which one, and for RazorpayX where it is,
//! which account pays, how big transfers go, and its test keys for local runs. Read
//! from the environment by the service's configuration; the gateways take only this.

use platform::secrets::Secret;
use platform::vault::Vault;

/// RazorpayX key secrets are 24 characters; shorter is not a real one.
const MIN_GATEWAY_SECRET_LEN: usize = 16;

#[derive(Clone, Debug, PartialEq)]
pub enum GatewayConfig {
    Simulated(SimulatedGatewayConfig),
    RazorpayX(RazorpayXConfig),
}

/// `PAYMENT_GATEWAY=razorpayx`.
#[derive(Clone, Debug, PartialEq)]
pub struct RazorpayXConfig {
    /// `RAZORPAYX_BASE_URL`: `https://api.razorpay.com` (locally the local RazorpayX).
    pub base_url: String,
    /// `RAZORPAYX_API_SECRET_ID`: the Secrets Manager secret holding the API key pair
    /// (`{"key_id": …, "key_secret": …}`), set only on the functions that call
    /// RazorpayX. `None` in every other function: it never builds a RazorpayX client.
    /// Locally the local RazorpayX's test keys.
    pub credentials: Option<Secret>,
    /// `RAZORPAYX_ACCOUNT_NUMBER`: our RazorpayX business account, debited by payouts.
    pub account_number: String,
    /// `RAZORPAYX_TIMEOUT_MS`: the whole of one HTTP call.
    pub timeout_ms: u64,
    /// Local runs accept the local RazorpayX's test keys; nothing else does.
    pub local: bool,
    /// `RAZORPAYX_IMPS_MAX_PAISE` (default ₹5,00,000, IMPS's limit per transfer): bank
    /// transfers up to this go by IMPS, larger ones by `above_imps_mode`.
    pub imps_max_paise: u64,
    /// `RAZORPAYX_ABOVE_IMPS_MODE`: `NEFT` (default) or `RTGS` (₹2,00,000 and more only).
    pub above_imps_mode: LargeTransferMode,
    /// The keys that open an account's sealed destination to register its fund account
    /// (the configuration's vault); `None` in a function that registers none.
    pub vault: Option<Vault>,
    /// The most calls a second this client makes (`GATEWAY_MAX_TPS`); `None`: unpaced.
    pub max_tps: Option<f64>,
}

/// How a bank transfer above IMPS's limit goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LargeTransferMode {
    Neft,
    Rtgs,
}

impl LargeTransferMode {
    pub fn as_str(self) -> &'static str {
        match self {
            LargeTransferMode::Neft => "NEFT",
            LargeTransferMode::Rtgs => "RTGS",
        }
    }
}

/// IMPS's limit per transfer (₹5,00,000), RTGS's floor (₹2,00,000) and RazorpayX's
/// smallest payout (₹1), in paise.
pub const IMPS_LIMIT_PAISE: u64 = 50_000_000;
pub const RTGS_MIN_PAISE: u64 = 20_000_000;
pub const RAZORPAYX_MIN_PAYOUT_PAISE: u64 = 100;

impl RazorpayXConfig {
    /// A local RazorpayX at `base_url` with the given test key secret (tests and
    /// benchmarks: the key pair is fixed, not read from Secrets Manager).
    pub fn local(base_url: String, key_secret: &str, timeout_ms: u64) -> Self {
        RazorpayXConfig {
            base_url,
            credentials: Some(Secret::fixed(
                RazorpayXKeys {
                    key_id: DEV_RAZORPAYX_KEY_ID.to_owned(),
                    key_secret: key_secret.to_owned(),
                }
                .to_secret_string(),
            )),
            account_number: DEV_RAZORPAYX_ACCOUNT_NUMBER.to_owned(),
            timeout_ms,
            local: true,
            imps_max_paise: IMPS_LIMIT_PAISE,
            above_imps_mode: LargeTransferMode::Neft,
            vault: None,
            max_tps: None,
        }
    }

    /// With `vault` to open destinations (a test's or the local stack's keys).
    pub fn with_vault(self, vault: Vault) -> Self {
        RazorpayXConfig {
            vault: Some(vault),
            ..self
        }
    }

    /// Paced at `max_tps` calls a second.
    pub fn paced(self, max_tps: f64) -> Self {
        RazorpayXConfig {
            max_tps: Some(max_tps),
            ..self
        }
    }
}

/// The RazorpayX API key pair, as its secret holds it.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RazorpayXKeys {
    pub key_id: String,
    pub key_secret: String,
}

/// Never prints the key secret.
impl std::fmt::Debug for RazorpayXKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RazorpayXKeys")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl RazorpayXKeys {
    pub fn dev() -> Self {
        RazorpayXKeys {
            key_id: DEV_RAZORPAYX_KEY_ID.to_owned(),
            key_secret: DEV_RAZORPAYX_KEY_SECRET.to_owned(),
        }
    }

    /// The secret's JSON, as stored.
    pub fn to_secret_string(&self) -> String {
        serde_json::json!({"key_id": self.key_id, "key_secret": self.key_secret}).to_string()
    }

    /// The key pair in a secret's value; outside local runs the local test keys and
    /// short secrets are refused, as a missing secret is.
    pub fn from_secret_string(value: &str, local: bool) -> std::result::Result<Self, String> {
        let keys: RazorpayXKeys = serde_json::from_str(value).map_err(|_| {
            "the RazorpayX API secret is not JSON with key_id and key_secret".to_owned()
        })?;
        if keys.key_id.trim().is_empty() || keys.key_secret.trim().is_empty() {
            return Err("the RazorpayX API secret has an empty key_id or key_secret".to_owned());
        }
        if !local {
            // The stack creates the secret with a placeholder key id; a real one is
            // RazorpayX's `rzp_live_…` or `rzp_test_…`.
            if !keys.key_id.starts_with("rzp_") {
                return Err(
                    "the RazorpayX API secret has not been set: its key_id is not a RazorpayX \
                     key id (put the real key pair with put-secret-value)"
                        .to_owned(),
                );
            }
            if keys.key_id == DEV_RAZORPAYX_KEY_ID || keys.key_secret == DEV_RAZORPAYX_KEY_SECRET {
                return Err(
                    "the RazorpayX API secret holds the local test keys from the repository"
                        .to_owned(),
                );
            }
            if keys.key_secret.len() < MIN_GATEWAY_SECRET_LEN {
                return Err(format!(
                    "the RazorpayX key_secret is shorter than {MIN_GATEWAY_SECRET_LEN} characters"
                ));
            }
        }
        Ok(keys)
    }
}

/// The local RazorpayX's test credentials and business account (devkit's fake accepts
/// exactly these). Like the dev token secret, only `STAGE=local` accepts them.
pub const DEV_RAZORPAYX_KEY_ID: &str = "rzp_test_localfake0001";
pub const DEV_RAZORPAYX_KEY_SECRET: &str = "local-fake-razorpayx-secret-0123456789";
pub const DEV_RAZORPAYX_ACCOUNT_NUMBER: &str = "2323230041626905";
pub const DEV_RAZORPAYX_BASE_URL: &str = "http://127.0.0.1:9100";
/// The webhook secret the local RazorpayX signs with and `STAGE=local` verifies against.
pub const DEV_RAZORPAYX_WEBHOOK_SECRET: &str = "local-fake-razorpayx-webhook-secret-0001";

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
