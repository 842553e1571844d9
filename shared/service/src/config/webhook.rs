//! The webhook's part: the secrets RazorpayX signs its deliveries with, read by the
//! webhook function alone.

use super::DEV_RAZORPAYX_WEBHOOK_SECRET;
use super::{refuse_secrets_in_environment, secret_cache_ttl, LOCAL_STAGE};
use domain::error::{Error, Result};
use domain::settings::trimmed;
use platform::secrets::Secret;

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
