//! RazorpayX Payouts (docs/RAZORPAYX.md;
//! https://razorpay.com/docs/api/x/payouts/): contacts, fund accounts and payouts over
//! its HTTP API, with `X-Payout-Idempotency` derived from the payout and attempt and the
//! same body on every send of an attempt.
//!
//! What RazorpayX answers is mapped once, here: `processed` is paid (the UTR
//! is the payment reference); `failed`, `rejected` and `cancelled` are declined with the
//! reason from `status_details`, `reversed` is a payment the bank sent back; anything
//! else is accepted and not final. A 400 is a definitive refusal, a 401 our own
//! misconfiguration, a 429 a request to slow down (retried here with jitter, then left to
//! the next run, and the client's pace halved: `pace`), and a 5xx, a timeout or a reset
//! an unknown outcome.

use std::collections::HashSet;
use std::time::Duration;

use tracing::warn;

use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

pub(crate) mod status;
pub mod validation;
pub mod webhook;

use super::{
    BeneficiaryIds, GatewayError, GatewayPayout, GatewayReport, PaymentGateway, StatementLine,
    StatementSource, TransferOutcome,
};
use crate::config::{LargeTransferMode, RazorpayXConfig, RazorpayXKeys};
use crate::pace::Pace;
use domain::account::{Destination, DestinationKind, PayoutAccount};
use domain::money::Paise;
use domain::payout::{GatewayStatusDetails, IdempotencyKey, Payout, PayoutType};
use domain::time::Timestamp;
use platform::secrets::Secret;
use platform::vault::{Vault, VaultError};
use status::RazorpayxStatus;

/// RazorpayX's largest page of payouts, and how many under one reference are read at
/// most before a lookup gives up (well above our 999 attempts of one payout).
const LOOKUP_PAGE: usize = 100;
const MAX_LOOKUP_PAYOUTS: usize = 2_000;

/// The most pages one listing reads (a million payouts): past it, the list is not
/// ending, and nothing is concluded from it.
const MAX_LIST_PAGES: usize = 10_000;

/// How often a 429 is retried within one call before the payout waits for a later run.
const RATE_LIMIT_RETRIES: u32 = 3;

/// `Debug` shows where the keys come from, never the keys.
#[derive(Debug)]
pub struct RazorpayX {
    http: reqwest::Client,
    base_url: String,
    /// The API key pair's secret, read (and cached for a bounded time) per call, so a
    /// rotated key is taken up without a redeploy.
    credentials: Secret,
    local: bool,
    account_number: String,
    imps_max_paise: u64,
    above_imps_mode: LargeTransferMode,
    /// Opens the sealed destination of an account to register its fund account.
    vault: Option<Vault>,
    /// Spaces our calls under RazorpayX's rate limit, when one is configured.
    pace: Option<Pace>,
    /// The longest one call may take, and so the longest one may wait for its place.
    timeout: Duration,
}

/// The parts of a RazorpayX payout entity this service reads.
#[derive(Debug, Deserialize)]
struct PayoutEntity {
    id: String,
    status: String,
    #[serde(default)]
    reference_id: Option<String>,
    #[serde(default)]
    amount: Option<u64>,
    #[serde(default)]
    fund_account_id: Option<String>,
    #[serde(default)]
    utr: Option<String>,
    #[serde(default)]
    status_details: Option<StatusDetails>,
    #[serde(default)]
    notes: Value,
    /// Unix seconds.
    #[serde(default)]
    created_at: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
struct StatusDetails {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    source: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Collection<T> {
    items: Vec<T>,
}

#[derive(Debug, Deserialize)]
struct Created {
    id: String,
}

impl RazorpayX {
    /// One client (and connection pool) per Lambda instance, built at init.
    pub fn new(config: &RazorpayXConfig) -> Result<Self, GatewayError> {
        let credentials = config.credentials.clone().ok_or_else(|| {
            GatewayError::Misconfigured(
                "RAZORPAYX_API_SECRET_ID is not set: this function was not given the RazorpayX \
                 keys"
                    .to_owned(),
            )
        })?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(config.timeout_ms.min(5_000)))
            .timeout(Duration::from_millis(config.timeout_ms))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|err| GatewayError::Misconfigured(format!("HTTP client: {err}")))?;
        Ok(RazorpayX {
            http,
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            credentials,
            local: config.local,
            account_number: config.account_number.clone(),
            imps_max_paise: config.imps_max_paise,
            above_imps_mode: config.above_imps_mode,
            vault: config.vault.clone(),
            pace: config.max_tps.and_then(Pace::new),
            timeout: Duration::from_millis(config.timeout_ms),
        })
    }

    /// The full destination of `account`, for its fund account: the one place it is
    /// opened. KMS not answering is "not now" (the payouts wait); an account with
    /// nothing sealed, or a seal that does not open under its user, cannot be
    /// registered (its payouts fail `payout_account_invalid`, and come back when the
    /// user saves the account again).
    async fn open_destination(&self, account: &PayoutAccount) -> Result<Destination, GatewayError> {
        let vault = self.vault.as_ref().ok_or_else(|| {
            GatewayError::Misconfigured(
                "PAYOUT_ACCOUNT_KEY_ID is not set: this function cannot open payout destinations"
                    .to_owned(),
            )
        })?;
        vault
            .open(account.user_id, &account.destination)
            .await
            .map_err(|error| match error {
                VaultError::Unavailable(why) => GatewayError::Unavailable(why),
                VaultError::Refused(why) => GatewayError::Misconfigured(why),
                VaultError::Unreadable(_) | VaultError::NotKept => {
                    warn!(event = "payout_destination_not_opened", user_id = account.user_id, revision = account.revision, error = %error, "the account's destination could not be opened; the user must save it again");
                    GatewayError::Refused(error.to_string())
                }
            })
    }

    /// The `Authorization` header from the key pair's secret as it is now. A secret that
    /// cannot be read or holds no usable keys is our misconfiguration: nothing is sent,
    /// and the payout is not failed for it.
    async fn authorization(&self) -> Result<reqwest::header::HeaderValue, GatewayError> {
        let value = self
            .credentials
            .read()
            .await
            .map_err(|err| GatewayError::Misconfigured(err.to_string()))?;
        let keys = RazorpayXKeys::from_secret_string(&value, self.local)
            .map_err(GatewayError::Misconfigured)?;
        let credentials = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", keys.key_id, keys.key_secret));
        let mut header = reqwest::header::HeaderValue::try_from(format!("Basic {credentials}"))
            .map_err(|_| {
                GatewayError::Misconfigured("the RazorpayX keys are not header-safe".to_owned())
            })?;
        // Kept out of any `Debug` of the request, whatever logs it.
        header.set_sensitive(true);
        Ok(header)
    }

    /// The body of an attempt's create-payout request: a function of the payout alone,
    /// so every send under one key is byte-for-byte the same request.
    fn payout_body(&self, key: &IdempotencyKey, payout: &Payout) -> Result<Value, GatewayError> {
        let fund_account_id = payout.gateway_fund_account_id.as_deref().ok_or_else(|| {
            GatewayError::Misconfigured(format!(
                "payout {} has no fund account to pay",
                payout.payout_id
            ))
        })?;
        let mode = payout.gateway_mode.as_deref().unwrap_or("IMPS");
        Ok(json!({
            "account_number": self.account_of(payout),
            "fund_account_id": fund_account_id,
            "amount": payout.amount_paise.get(),
            "currency": "INR",
            "mode": mode,
            "purpose": "payout",
            "queue_if_low_balance": true,
            "reference_id": payout.payout_id.to_string(),
            "narration": narration(payout),
            "notes": {"idempotency_key": key.as_str(), "attempt": payout.attempt.to_string()},
        }))
    }

    async fn send(
        &self,
        call: Call,
        request: reqwest::RequestBuilder,
    ) -> Result<(reqwest::StatusCode, Value), GatewayError> {
        let authorization = self.authorization().await?;
        let mut attempt = 0;
        loop {
            let request_now = request.try_clone().ok_or_else(|| {
                GatewayError::Misconfigured("a request body could not be resent".to_owned())
            })?;
            if let Some(pace) = &self.pace {
                if !pace.wait(self.timeout).await {
                    return Err(GatewayError::RateLimited(format!(
                        "our own pace ({:.1} calls a second) has no place for this call \
                         within {} ms: nothing was sent",
                        pace.tps(),
                        self.timeout.as_millis()
                    )));
                }
            }
            let response = request_now
                .header(reqwest::header::AUTHORIZATION, authorization.clone())
                .send()
                .await
                .map_err(|err| GatewayError::Unavailable(describe(err)))?;
            let status = response.status();
            if let Some(pace) = &self.pace {
                if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                    pace.slow_down();
                } else {
                    pace.answered();
                }
            }
            if status == reqwest::StatusCode::TOO_MANY_REQUESTS && attempt < RATE_LIMIT_RETRIES {
                attempt += 1;
                let jitter = rand::random_range(0..250u64);
                tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt) + jitter)).await;
                continue;
            }
            let body: Value = response.json().await.map_err(|err| {
                GatewayError::Unavailable(format!("unreadable answer: {}", err.without_url()))
            })?;
            return match status.as_u16() {
                200..=299 => Ok((status, body)),
                401 => Err(GatewayError::Misconfigured(format!(
                    "RazorpayX refused our credentials (401): {}",
                    error_description(&body)
                ))),
                429 => Err(GatewayError::RateLimited(error_description(&body))),
                400 => Err(classify_bad_request(call, &body)),
                // Live mode answers calls from an IP not allowlisted this way: ours to fix.
                403 => Err(GatewayError::Misconfigured(format!(
                    "RazorpayX refused the call (403): {}",
                    error_description(&body)
                ))),
                // A 4xx RazorpayX does not document for these calls (a proxy's 408 or
                // 409): nothing says what happened, so nothing is concluded.
                _ => Err(GatewayError::Unavailable(format!(
                    "RazorpayX answered {status}: {}",
                    error_description(&body)
                ))),
            };
        }
    }

    /// The business account the attempt is paid from: the one its claim recorded, so a
    /// change of `RAZORPAYX_ACCOUNT_NUMBER` while it is open neither changes its body
    /// nor looks for it in another account (where "no record" would be a false promise).
    /// Attempts claimed before the account was recorded were sent from the configured one.
    fn account_of<'a>(&'a self, payout: &'a Payout) -> &'a str {
        payout
            .gateway_account_number
            .as_deref()
            .unwrap_or(&self.account_number)
    }

    /// The attempt's payout among every RazorpayX payout under our reference, read page
    /// by page until it is found or a page comes back empty: "none" is a promise (cancel
    /// and a refused resend rely on it), so it is never concluded from one page, nor from
    /// a page shorter than asked for. The list is newest first; a payout created while it
    /// is read pushes the rest down a place, so one may be read twice and none is missed.
    async fn find_attempt(
        &self,
        key: &IdempotencyKey,
        payout: &Payout,
    ) -> Result<Option<PayoutEntity>, GatewayError> {
        let reference = payout.payout_id.to_string();
        let mut skip = 0usize;
        loop {
            let (_, body) = self
                .send(
                    Call::Lookup,
                    self.http
                        .get(format!("{}/v1/payouts", self.base_url))
                        .query(&[
                            ("account_number", self.account_of(payout)),
                            ("reference_id", reference.as_str()),
                            ("count", &LOOKUP_PAGE.to_string()),
                            ("skip", &skip.to_string()),
                        ]),
                )
                .await?;
            let collection: Collection<PayoutEntity> =
                serde_json::from_value(body).map_err(|err| {
                    GatewayError::Unavailable(format!("unexpected payouts list: {err}"))
                })?;
            let read = collection.items.len();
            if read == 0 {
                return Ok(None);
            }
            if let Some(found) = collection
                .items
                .into_iter()
                .find(|entity| entity.notes["idempotency_key"] == json!(key.as_str()))
            {
                return Ok(Some(found));
            }
            skip += read;
            if skip >= MAX_LOOKUP_PAYOUTS {
                // Our own attempts are at most 999; more under our reference were made
                // by someone else. Nothing can be promised: ask a person.
                return Err(GatewayError::Unavailable(format!(
                    "more than {MAX_LOOKUP_PAYOUTS} RazorpayX payouts carry reference \
                     {reference}: the attempt cannot be looked up"
                )));
            }
        }
    }
}

impl RazorpayX {
    /// Every entity of `account` at `path` that `filters` select, read page by page until
    /// a page comes back empty (a short page is no proof of the end), each once: the list
    /// is newest first, and an entity made while it is read pushes the rest down a place,
    /// so one may be read twice and none is missed.
    async fn list_all<T: Listed>(
        &self,
        path: &str,
        account: &str,
        filters: &[(&str, String)],
    ) -> Result<Vec<T>, GatewayError> {
        let mut seen = HashSet::new();
        let mut all = Vec::new();
        let mut skip = 0usize;
        for _ in 0..MAX_LIST_PAGES {
            let mut query = vec![
                ("account_number", account.to_owned()),
                ("count", LOOKUP_PAGE.to_string()),
                ("skip", skip.to_string()),
            ];
            query.extend(filters.iter().cloned());
            let (_, body) = self
                .send(
                    Call::Lookup,
                    self.http
                        .get(format!("{}{path}", self.base_url))
                        .query(&query),
                )
                .await?;
            let collection: Collection<T> = serde_json::from_value(body).map_err(|err| {
                GatewayError::Unavailable(platform::telemetry::redact(&format!(
                    "unexpected list at {path}: {err}"
                )))
            })?;
            if collection.items.is_empty() {
                return Ok(all);
            }
            skip += collection.items.len();
            let before = all.len();
            all.extend(
                collection
                    .items
                    .into_iter()
                    .filter(|entity| seen.insert(entity.id().to_owned())),
            );
            // A whole page read before: the list is not moving on (a window still being
            // paid into would need a hundred new entities between two pages).
            if all.len() == before {
                return Err(GatewayError::Unavailable(format!(
                    "RazorpayX's list at {path} repeated a page at skip {skip}"
                )));
            }
        }
        Err(GatewayError::Unavailable(format!(
            "RazorpayX's list at {path} did not end within {MAX_LIST_PAGES} pages"
        )))
    }
}

/// An entity RazorpayX lists, told apart by its id.
trait Listed: serde::de::DeserializeOwned {
    fn id(&self) -> &str;
}

impl Listed for PayoutEntity {
    fn id(&self) -> &str {
        &self.id
    }
}

impl Listed for TransactionEntity {
    fn id(&self) -> &str {
        &self.id
    }
}

/// A statement line as RazorpayX lists it
/// (https://razorpay.com/docs/api/x/transactions/fetch-all).
#[derive(Debug, Deserialize)]
struct TransactionEntity {
    id: String,
    #[serde(default)]
    credit: u64,
    #[serde(default)]
    debit: u64,
    /// Unix seconds.
    #[serde(default)]
    created_at: Option<i64>,
    #[serde(default)]
    source: Value,
}

impl TransactionEntity {
    /// The line in our terms. RazorpayX documents a payout's debit (`source.entity`
    /// `payout`, `source.id` its id) and funds added (`bank_transfer`); it says the
    /// statement holds reversals but not their shape, which is read here as
    /// `source.entity` `reversal` naming the payout in `source.payout_id`
    /// (docs/RAZORPAYX.md, "Account statement").
    fn line(&self) -> Result<StatementLine, GatewayError> {
        let created_at = self.created_at.ok_or_else(|| {
            GatewayError::Unavailable(format!(
                "RazorpayX listed transaction {} with no created_at",
                self.id
            ))
        })?;
        let text = |field: &str| self.source[field].as_str().map(str::to_owned);
        let entity = text("entity").unwrap_or_default();
        let source = match (entity.as_str(), text("id"), text("payout_id")) {
            ("payout", Some(gateway_payout_id), _) => StatementSource::Payout {
                gateway_payout_id,
                fees_paise: self.source["fees"].as_u64().unwrap_or_default(),
            },
            ("reversal", _, Some(gateway_payout_id)) => StatementSource::Reversal {
                gateway_payout_id,
                fees_paise: self.source["fees"].as_u64().unwrap_or_default(),
            },
            _ => StatementSource::Other { entity },
        };
        Ok(StatementLine {
            id: self.id.clone(),
            created_at: Timestamp::from_millis(created_at.saturating_mul(1000)),
            debit_paise: self.debit,
            credit_paise: self.credit,
            source,
        })
    }
}

/// RazorpayX's `from` and `to` are whole seconds: a list asks for every second the
/// window touches, and its caller keeps what lies inside it.
fn whole_seconds(from: Timestamp, to: Timestamp) -> Vec<(&'static str, String)> {
    let from_secs = from.unix_millis().div_euclid(1000);
    let to_secs = (to.unix_millis() + 999).div_euclid(1000);
    vec![("from", from_secs.to_string()), ("to", to_secs.to_string())]
}

/// A listed payout with the time RazorpayX made it (which every payout entity carries).
fn listed(entity: &PayoutEntity) -> Result<GatewayPayout, GatewayError> {
    let created_at = entity.created_at.ok_or_else(|| {
        GatewayError::Unavailable(format!(
            "RazorpayX listed payout {} with no created_at",
            entity.id
        ))
    })?;
    Ok(GatewayPayout {
        created_at: Timestamp::from_millis(created_at.saturating_mul(1000)),
        reference: entity.reference_id.clone(),
        report: report(entity),
    })
}

/// What a payout entity says, as a webhook about it would.
fn report(entity: &PayoutEntity) -> GatewayReport {
    let details = entity.status_details.as_ref();
    GatewayReport {
        payout_id: entity
            .reference_id
            .as_deref()
            .and_then(|id| uuid::Uuid::parse_str(id).ok()),
        idempotency_key: entity.notes["idempotency_key"].as_str().map(str::to_owned),
        gateway_payout_id: entity.id.clone(),
        gateway_status: entity.status.clone(),
        amount_paise: entity.amount,
        fund_account_id: entity.fund_account_id.clone(),
        details: GatewayStatusDetails {
            reason: details.and_then(|details| details.reason.clone()),
            description: details.and_then(|details| details.description.clone()),
            source: details.and_then(|details| details.source.clone()),
        },
        outcome: outcome(entity),
        not_after: RazorpayxStatus::parse(&entity.status).not_after(),
    }
}

impl PaymentGateway for RazorpayX {
    fn name(&self) -> &'static str {
        "razorpayx"
    }

    async fn payouts_made(
        &self,
        from: Timestamp,
        to: Timestamp,
        status: Option<&'static str>,
    ) -> Result<Vec<GatewayPayout>, GatewayError> {
        let mut filters = whole_seconds(from, to);
        filters.extend(status.map(|status| ("status", status.to_owned())));
        let entities: Vec<PayoutEntity> = self
            .list_all("/v1/payouts", &self.account_number, &filters)
            .await?;
        let mut made = Vec::with_capacity(entities.len());
        for entity in &entities {
            let payout = listed(entity)?;
            if payout.created_at >= from && payout.created_at < to {
                made.push(payout);
            }
        }
        Ok(made)
    }

    async fn payouts_of(&self, payout: &Payout) -> Result<Vec<GatewayPayout>, GatewayError> {
        let entities: Vec<PayoutEntity> = self
            .list_all(
                "/v1/payouts",
                self.account_of(payout),
                &[("reference_id", payout.payout_id.to_string())],
            )
            .await?;
        entities.iter().map(listed).collect()
    }

    async fn payout_by_id(
        &self,
        gateway_payout_id: &str,
    ) -> Result<Option<GatewayPayout>, GatewayError> {
        // The id comes from RazorpayX's own statement; it goes into the path escaped all
        // the same.
        let mut url = reqwest::Url::parse(&format!("{}/v1/payouts", self.base_url))
            .map_err(|err| GatewayError::Misconfigured(format!("RazorpayX's address: {err}")))?;
        url.path_segments_mut()
            .map_err(|()| {
                GatewayError::Misconfigured("RazorpayX's address has no path".to_owned())
            })?
            .push(gateway_payout_id);
        let fetched = self.send(Call::Fetch, self.http.get(url)).await;
        match fetched {
            Ok((_, body)) => listed(&parse_entity(body)?).map(Some),
            Err(GatewayError::Refused(_)) => Ok(None),
            Err(other) => Err(other),
        }
    }

    async fn statement(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Option<Vec<StatementLine>>, GatewayError> {
        let entities: Vec<TransactionEntity> = self
            .list_all(
                "/v1/transactions",
                &self.account_number,
                &whole_seconds(from, to),
            )
            .await?;
        let mut lines = Vec::with_capacity(entities.len());
        for entity in &entities {
            let line = entity.line()?;
            if line.created_at >= from && line.created_at < to {
                lines.push(line);
            }
        }
        Ok(Some(lines))
    }

    async fn ready(&self) -> Result<(), GatewayError> {
        self.authorization().await.map(|_| ())
    }

    fn paying_account(&self) -> Option<&str> {
        Some(&self.account_number)
    }

    /// IMPS up to its limit, NEFT or RTGS above it (IMPS refuses larger transfers);
    /// UPI to a VPA.
    fn mode_for(&self, destination: DestinationKind, amount: Paise) -> &'static str {
        match destination {
            DestinationKind::Vpa => "UPI",
            DestinationKind::BankAccount if amount.get() <= self.imps_max_paise => "IMPS",
            DestinationKind::BankAccount => self.above_imps_mode.as_str(),
        }
    }

    fn requires_payout_account(&self) -> bool {
        true
    }

    fn statuses_after(&self, status: &str) -> &'static [&'static str] {
        RazorpayxStatus::parse(status).not_after()
    }

    /// RazorpayX's own advice after a 5xx: look the payout up by reference for up to
    /// an hour before concluding it was never created (RazorpayX, "Payout Idempotency":
    /// https://razorpay.com/docs/api/x/payout-idempotency/).
    fn late_transfer_window_secs(&self) -> u64 {
        3_600
    }

    async fn start_validation(
        &self,
        fund_account_id: &str,
        account: &PayoutAccount,
        since: Timestamp,
    ) -> Result<validation::Validation, GatewayError> {
        self.validate_fund_account(
            fund_account_id,
            account.destination.kind,
            account.user_id,
            since,
        )
        .await
    }

    async fn validation(&self, id: &str) -> Result<validation::Validation, GatewayError> {
        self.fetch_validation(id).await
    }

    async fn register_beneficiary(
        &self,
        account: &PayoutAccount,
    ) -> Result<BeneficiaryIds, GatewayError> {
        // Opened first: a destination that cannot be opened now leaves no contact behind.
        let destination = Box::pin(self.open_destination(account)).await?;
        let mut contact = json!({
            "name": account.name,
            "type": "vendor",
            "reference_id": account.user_id.to_string(),
        });
        if let Some(email) = &account.email {
            contact["email"] = json!(email);
        }
        let (_, body) = self
            .send(
                Call::Beneficiary,
                self.http
                    .post(format!("{}/v1/contacts", self.base_url))
                    .json(&contact),
            )
            .await?;
        let contact_id = created_id(body)?;
        let fund_account = match &destination {
            Destination::BankAccount {
                ifsc,
                account_number,
            } => json!({
                "contact_id": contact_id,
                "account_type": "bank_account",
                "bank_account": {"name": account.name, "ifsc": ifsc, "account_number": account_number},
            }),
            Destination::Vpa { address } => json!({
                "contact_id": contact_id,
                "account_type": "vpa",
                "vpa": {"address": address},
            }),
        };
        let (_, body) = self
            .send(
                Call::Beneficiary,
                self.http
                    .post(format!("{}/v1/fund_accounts", self.base_url))
                    .json(&fund_account),
            )
            .await?;
        Ok(BeneficiaryIds {
            contact_id,
            fund_account_id: created_id(body)?,
        })
    }

    async fn transfer(
        &self,
        key: &IdempotencyKey,
        payout: &Payout,
    ) -> Result<TransferOutcome, GatewayError> {
        let body = self.payout_body(key, payout)?;
        let result = self
            .send(
                Call::Payout,
                self.http
                    .post(format!("{}/v1/payouts", self.base_url))
                    .header("X-Payout-Idempotency", key.as_str())
                    .json(&body),
            )
            .await;
        match result {
            Ok((_, entity)) => Ok(outcome(&parse_entity(entity)?)),
            // This request created nothing. An earlier send under the same key may have
            // (a changed body is refused too): only when the key is unknown to RazorpayX
            // is the attempt declined for good.
            Err(GatewayError::Refused(reason)) => {
                match self.find_attempt(key, payout).await? {
                    Some(entity) => Ok(outcome(&entity)),
                    // An earlier send of this attempt may still be created within the
                    // hour RazorpayX can take after it left us: the processor, which
                    // knows how late a send can leave (its lease), decides.
                    None if payout.previous_sent_at.is_some() => {
                        Err(GatewayError::EarlierSendMayLand(reason))
                    }
                    None => Ok(TransferOutcome::Declined { reason }),
                }
            }
            Err(other) => Err(other),
        }
    }

    async fn lookup(
        &self,
        key: &IdempotencyKey,
        payout: &Payout,
    ) -> Result<Option<TransferOutcome>, GatewayError> {
        // The id is the current attempt's: a new attempt starts without one.
        let entity = match payout.gateway_payout_id.as_deref() {
            Some(id) => {
                let (_, body) = self
                    .send(
                        Call::Lookup,
                        self.http.get(format!("{}/v1/payouts/{id}", self.base_url)),
                    )
                    .await?;
                Some(parse_entity(body)?)
            }
            None => self.find_attempt(key, payout).await?,
        };
        Ok(entity.as_ref().map(outcome))
    }
}

fn parse_entity(entity: Value) -> Result<PayoutEntity, GatewayError> {
    serde_json::from_value(entity)
        // serde quotes the value it could not take, which may be anything RazorpayX sent.
        .map_err(|err| {
            GatewayError::Unavailable(platform::telemetry::redact(&format!(
                "unexpected payout entity: {err}"
            )))
        })
}

/// What a payout entity says about the attempt.
fn outcome(entity: &PayoutEntity) -> TransferOutcome {
    let reason = || {
        let details = entity.status_details.as_ref();
        let why = details
            .and_then(|details| details.description.clone().or(details.reason.clone()))
            .unwrap_or_else(|| "no reason given".to_owned());
        format!("{}: {why}", entity.status)
    };
    match RazorpayxStatus::parse(&entity.status) {
        RazorpayxStatus::Processed => TransferOutcome::Paid {
            reference: entity.utr.clone().unwrap_or_else(|| entity.id.clone()),
            gateway_payout_id: Some(entity.id.clone()),
        },
        RazorpayxStatus::Failed | RazorpayxStatus::Rejected | RazorpayxStatus::Cancelled => {
            TransferOutcome::Declined { reason: reason() }
        }
        RazorpayxStatus::Reversed => TransferOutcome::Reversed { reason: reason() },
        RazorpayxStatus::Pending
        | RazorpayxStatus::Scheduled
        | RazorpayxStatus::Queued
        | RazorpayxStatus::Processing
        | RazorpayxStatus::Unknown => TransferOutcome::Accepted {
            gateway_payout_id: entity.id.clone(),
            gateway_status: entity.status.clone(),
        },
    }
}

fn created_id(body: Value) -> Result<String, GatewayError> {
    serde_json::from_value::<Created>(body)
        .map(|created| created.id)
        .map_err(|err| {
            GatewayError::Unavailable(platform::telemetry::redact(&format!(
                "unexpected entity: {err}"
            )))
        })
}

/// At most 30 letters, digits and spaces (RazorpayX's rule); banks keep the first few.
fn narration(payout: &Payout) -> String {
    let kind = match payout.payout_type {
        PayoutType::ScoutBounty => "Scout bounty",
        PayoutType::SellerPayout => "Seller payout",
    };
    let short: String = payout
        .payout_id
        .simple()
        .to_string()
        .chars()
        .take(8)
        .collect();
    format!("{kind} {short}")
}

/// Which kind of call a 400 answered: it means different things for each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Call {
    /// Creating a contact or fund account from the user's payout account.
    Beneficiary,
    /// Creating a payout.
    Payout,
    /// Fetching or listing payouts.
    Lookup,
    /// Fetching one payout by its id, which may not exist.
    Fetch,
}

/// Fields of a contact or fund account that come from the user's payout account: a
/// 400 naming one is the account's fault, any other is ours.
const ACCOUNT_FIELDS: [&str; 8] = [
    "name",
    "email",
    "contact",
    "ifsc",
    "account_number",
    "address",
    "bank_account",
    "vpa",
];

/// A 400 is a refusal of the request's own content, except where it is about us (our
/// business account, our IP, a request we built wrong: fix the configuration, fail
/// nobody, raise the alarm) or tells nothing (a lookup's).
fn classify_bad_request(call: Call, body: &Value) -> GatewayError {
    let description = error_description(body);
    let error = &body["error"];
    let field = error["field"].as_str().unwrap_or_default();
    let text = error["description"].as_str().unwrap_or_default();
    let ours = text.contains("Transactions from this IP are not allowed")
        || text.contains("Idempotency")
        || match call {
            Call::Payout | Call::Lookup | Call::Fetch => field == "account_number",
            Call::Beneficiary => !ACCOUNT_FIELDS.contains(&field),
        };
    if ours {
        GatewayError::Misconfigured(format!("RazorpayX refused our request: {description}"))
    } else if call == Call::Fetch
        && matches!(field, "id" | "")
        && text.starts_with("The id provided does not exist")
    {
        // RazorpayX has no payout of that id (and said so of the id, not of anything
        // else that "does not exist").
        GatewayError::Refused(description)
    } else if matches!(call, Call::Lookup | Call::Fetch) {
        GatewayError::Unavailable(format!("RazorpayX refused a lookup: {description}"))
    } else {
        GatewayError::Refused(description)
    }
}

/// RazorpayX's words for an error, fit for our logs and records: they quote what was
/// sent back ("VPA asha@okhdfc is invalid", an IFSC, an account number), so those are
/// taken out (the payout views never show these words at all, see `Payout::failure`).
fn error_description(body: &Value) -> String {
    let error = &body["error"];
    let text = match (error["description"].as_str(), error["field"].as_str()) {
        (Some(description), Some(field)) => format!("{description} (field {field})"),
        (Some(description), None) => description.to_owned(),
        _ => body.to_string().chars().take(200).collect(),
    };
    platform::telemetry::redact(&text)
}

/// A transport error in words, without the URL's query (it names our account number).
fn describe(err: reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "connection failed"
    };
    platform::telemetry::redact(&format!("RazorpayX {kind}: {}", err.without_url()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad_request(field: &str, description: &str) -> Value {
        json!({"error": {"code": "BAD_REQUEST_ERROR", "description": description, "field": field}})
    }

    #[test]
    fn a_400_is_the_requests_fault_only_when_it_names_what_the_request_carried() {
        let kind = |call, field, text| match classify_bad_request(call, &bad_request(field, text)) {
            GatewayError::Refused(_) => "refused",
            GatewayError::Misconfigured(_) => "ours",
            GatewayError::Unavailable(_) => "unknown",
            GatewayError::RateLimited(_) => "rate",
            GatewayError::EarlierSendMayLand(_) => "earlier",
        };
        assert_eq!(
            kind(Call::Payout, "amount", "The amount must be…"),
            "refused"
        );
        assert_eq!(
            kind(
                Call::Payout,
                "account_number",
                "The account number is invalid"
            ),
            "ours"
        );
        assert_eq!(
            kind(Call::Beneficiary, "ifsc", "The ifsc must be 11 characters."),
            "refused"
        );
        assert_eq!(kind(Call::Beneficiary, "account_number", "…"), "refused");
        assert_eq!(
            kind(
                Call::Beneficiary,
                "contact_id",
                "The id provided does not exist"
            ),
            "ours"
        );
        assert_eq!(kind(Call::Lookup, "reference_id", "…"), "unknown");
        assert_eq!(kind(Call::Lookup, "account_number", "…"), "ours");
        // A payout fetched by id: only RazorpayX's word that the id does not exist means
        // there is none; anything else that "does not exist" tells nothing of it.
        assert_eq!(
            kind(Call::Fetch, "id", "The id provided does not exist"),
            "refused"
        );
        assert_eq!(
            kind(Call::Fetch, "", "The id provided does not exist"),
            "refused"
        );
        assert_eq!(
            kind(Call::Fetch, "", "Merchant account does not exist"),
            "unknown"
        );
        assert_eq!(
            kind(
                Call::Fetch,
                "account_number",
                "The id provided does not exist"
            ),
            "ours"
        );
        assert_eq!(
            kind(
                Call::Payout,
                "",
                "Transactions from this IP are not allowed"
            ),
            "ours"
        );
        assert_eq!(
            kind(
                Call::Payout,
                "",
                "Different request body sent for the same Idempotency Header"
            ),
            "ours"
        );
    }

    #[test]
    fn a_refusal_keeps_razorpayxs_words_but_not_what_they_quote() {
        let quoting =
            "VPA asha.rao@okhdfc with IFSC HDFC0000053 and account 765432123456789 is invalid";
        for (call, field) in [
            (Call::Beneficiary, "vpa"),
            (Call::Payout, ""),
            (Call::Lookup, "reference_id"),
        ] {
            let text = classify_bad_request(call, &bad_request(field, quoting)).to_string();
            assert!(text.contains("is invalid"), "{text}");
            for quoted in ["asha.rao@okhdfc", "HDFC0000053", "765432123456789"] {
                assert!(!text.contains(quoted), "{call:?}: {text}");
            }
        }
        // An answer that is not RazorpayX's error shape is quoted whole: redacted too.
        let odd = json!({"message": "no fund account for 765432123456789"});
        assert!(!error_description(&odd).contains("765432123456789"));
    }
}
