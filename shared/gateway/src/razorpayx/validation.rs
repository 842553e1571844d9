//! RazorpayX fund account validation, the "penny drop" (docs/RAZORPAYX.md, "Fund
//! account validation"): ₹1 sent to a saved bank account tells whether the account
//! exists and under which name its bank holds it, so that a mistyped account number
//! is caught before a payout goes to it. A VPA goes through the same call, free and
//! with no transfer.
//!
//! RazorpayX answers `created` and settles the validation later (mostly at once, up
//! to two working days when NPCI or the bank is slow): `GET
//! /v1/fund_accounts/validations/{id}` and the `fund_account.validation.completed` /
//! `.failed` webhooks carry the same entity, and both are read by `from_entity`, so
//! a poll and a webhook can never disagree about what one entity means.
//!
//! `completed` is not "verified": RazorpayX completes the validation of an account
//! that does not exist too, with `account_status: invalid`. `failed` is RazorpayX's
//! own technical failure, its charge reversed: it says nothing about the account.
//!
//! RazorpayX takes no idempotency key on this call (its `X-Payout-Idempotency`
//! covers payouts only), so a start first looks for a validation of the same fund
//! account already under way or done, and pays ₹1 again only when there is none.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Call, RazorpayX, StatusDetails};
use crate::GatewayError;
use domain::account::DestinationKind;
use domain::names::{name_score, normalised_name, NAME_MATCH_THRESHOLD};
use domain::time::Timestamp;

/// The penny of the penny drop, in paise: what RazorpayX's documentation sends (and
/// defaults to). Fees and tax come on top, from the business account.
pub const PENNY_DROP_PAISE: u64 = 100;

/// How far back of `since` a start looks for an earlier validation: RazorpayX's
/// clock and ours may disagree by this much.
const CLOCK_SLACK_SECS: i64 = 300;

/// RazorpayX's largest page, and how many validations a start reads at most before
/// it gives up (more than that since `since` were not all made for one account).
const LOOKUP_PAGE: usize = 100;
const MAX_LOOKUP_VALIDATIONS: usize = 1_000;

/// Where a validation stands, in the words an account shows (`verification`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValidationStatus {
    /// RazorpayX has not finished (`created`, or a status it adds later).
    Pending,
    /// The bank took the penny: the account exists and is active (the name may still
    /// differ: see [`Validation::name_match`]).
    Verified,
    /// Not verified; [`Validation::failure`] says whether the account is at fault.
    Failed,
}

/// Why a validation is `Failed`: the two call for different things.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ValidationFailure {
    /// The bank refused the account (`account_status: invalid`): the user has to
    /// give another one; validating this one again would say the same.
    AccountInvalid {
        /// RazorpayX's words, when it gave any, with anything identifying taken out.
        details: Option<String>,
    },
    /// RazorpayX could not finish (`failed`, its charge reversed), or finished without
    /// saying how the account stands: nothing is known about the account, and a new
    /// validation may be started.
    NotCompleted { reason: String },
}

/// Who scored a name match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoredBy {
    /// RazorpayX's `name_match_score`, against the name the fund account was made with.
    Razorpayx,
    /// [`name_score`], because RazorpayX gave no score.
    Us,
}

/// Whether the name the bank returned is the saved name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum NameMatch {
    /// Nothing to compare: no name came back (not verified yet, an invalid account,
    /// a VPA with no bank account behind it), or there is no saved name to hold it to.
    Unknown,
    Matches {
        score: u8,
        scored_by: ScoredBy,
    },
    Differs {
        score: u8,
        scored_by: ScoredBy,
    },
}

impl NameMatch {
    /// `None` when unknown.
    pub fn matches(self) -> Option<bool> {
        match self {
            NameMatch::Unknown => None,
            NameMatch::Matches { .. } => Some(true),
            NameMatch::Differs { .. } => Some(false),
        }
    }

    fn scored(score: u8, scored_by: ScoredBy) -> Self {
        if score >= NAME_MATCH_THRESHOLD {
            NameMatch::Matches { score, scored_by }
        } else {
            NameMatch::Differs { score, scored_by }
        }
    }
}

/// What RazorpayX says about one validation, read once for the API, the list and the
/// webhooks alike. `Debug` leaves the registered name out: it is a person's name.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validation {
    /// `fav_…`
    pub id: String,
    /// The fund account it validates, as the entity names it.
    pub fund_account_id: Option<String>,
    pub status: ValidationStatus,
    /// Set exactly when `status` is `Failed`.
    pub failure: Option<ValidationFailure>,
    /// The account holder's name as the bank returned it, when it did.
    pub registered_name: Option<String>,
    /// The registered name held to the name the fund account was made with, as far
    /// as the entity itself tells that name (a bank account's does; a VPA's may not):
    /// see [`Validation::name_match_with`] to hold it to the saved name instead.
    pub name_match: NameMatch,
    /// RazorpayX's own status word (`created`, `completed`, `failed`).
    pub gateway_status: String,
    /// The user whose account it checks, from the notes it was started with (`None`:
    /// not started by this service).
    pub user_id: Option<u64>,
    /// The penny drop's bank reference, once there is one.
    pub utr: Option<String>,
}

impl fmt::Debug for Validation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validation")
            .field("id", &self.id)
            .field("fund_account_id", &self.fund_account_id)
            .field("status", &self.status)
            .field("failure", &self.failure)
            .field(
                "registered_name",
                &self.registered_name.as_ref().map(|_| "<redacted>"),
            )
            .field("name_match", &self.name_match)
            .field("gateway_status", &self.gateway_status)
            .field("user_id", &self.user_id)
            .field("utr", &self.utr)
            .finish()
    }
}

impl Validation {
    /// The registered name held to `saved_name` (the account's, which is the one that
    /// counts): RazorpayX's score when it gave one (it scored against the name the
    /// fund account was made with, which is the saved one), else [`name_score`].
    pub fn name_match_with(&self, saved_name: &str) -> NameMatch {
        match self.name_match {
            NameMatch::Matches {
                scored_by: ScoredBy::Razorpayx,
                ..
            }
            | NameMatch::Differs {
                scored_by: ScoredBy::Razorpayx,
                ..
            } => self.name_match,
            _ => match (self.status, &self.registered_name) {
                (ValidationStatus::Verified, Some(registered)) => compare(saved_name, registered),
                _ => NameMatch::Unknown,
            },
        }
    }
}

/// The parts of a `fund_account.validation` entity this service reads. RazorpayX
/// documents two shapes: `results` {account_status, registered_name} on the
/// validation of an existing fund account, and `validation_results` {…, details,
/// name_match_score} on the newer and composite ones; both are taken. No `Debug`: it
/// holds names.
#[derive(Deserialize)]
pub(super) struct Entity {
    id: String,
    status: String,
    #[serde(default)]
    fund_account: Option<FundAccountRef>,
    #[serde(default)]
    results: Option<Results>,
    #[serde(default)]
    validation_results: Option<Results>,
    #[serde(default)]
    status_details: Option<StatusDetails>,
    #[serde(default)]
    utr: Option<String>,
    /// An object of strings as we send them; RazorpayX shows empty notes as `[]`.
    #[serde(default)]
    notes: Value,
}

#[derive(Default, Deserialize)]
struct Results {
    #[serde(default)]
    account_status: Option<String>,
    #[serde(default)]
    registered_name: Option<String>,
    #[serde(default)]
    details: Option<String>,
    /// A number in the samples, a string in the field list: either is taken.
    #[serde(default)]
    name_match_score: Option<Value>,
}

#[derive(Deserialize)]
struct FundAccountRef {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    bank_account: Option<Named>,
    #[serde(default)]
    contact: Option<Named>,
}

#[derive(Deserialize)]
struct Named {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct Collection {
    items: Vec<Value>,
}

/// Reads an entity. serde's complaint would quote the value it could not take (a
/// name, an account number), so only where it stopped is kept.
pub(super) fn parse_entity(value: Value) -> Result<Validation, String> {
    serde_json::from_value::<Entity>(value)
        .map(from_entity)
        .map_err(|err| {
            format!(
                "unexpected fund account validation ({:?} error at line {} column {})",
                err.classify(),
                err.line(),
                err.column()
            )
        })
}

/// What an entity means (module docs): `created` is pending; `completed` is verified
/// when the account is `active` (`valid` in the newer samples), failed when it is
/// `invalid`; `failed` is failed without blame. A status RazorpayX adds later is
/// pending, as a payout's is: nothing final is concluded from a word we do not know.
pub(super) fn from_entity(entity: Entity) -> Validation {
    let results = entity
        .validation_results
        .or(entity.results)
        .unwrap_or_default();
    let registered_name = results
        .registered_name
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty());
    let account_status = results
        .account_status
        .as_deref()
        .map(str::to_ascii_lowercase);
    let (status, failure) = match entity.status.as_str() {
        "completed" => match account_status.as_deref() {
            Some("active" | "valid") => (ValidationStatus::Verified, None),
            Some("invalid") => (
                ValidationStatus::Failed,
                Some(ValidationFailure::AccountInvalid {
                    details: results.details.as_deref().map(platform::telemetry::redact),
                }),
            ),
            other => (
                ValidationStatus::Failed,
                Some(ValidationFailure::NotCompleted {
                    reason: format!(
                        "RazorpayX completed the validation with account status {}",
                        other.unwrap_or("none")
                    ),
                }),
            ),
        },
        "failed" => {
            let details = entity.status_details.unwrap_or_default();
            let why = details
                .description
                .or(details.reason)
                .unwrap_or_else(|| "no reason given".to_owned());
            (
                ValidationStatus::Failed,
                Some(ValidationFailure::NotCompleted {
                    reason: platform::telemetry::redact(&format!(
                        "RazorpayX could not complete the validation: {why}"
                    )),
                }),
            )
        }
        _ => (ValidationStatus::Pending, None),
    };
    let fund_account = entity.fund_account;
    let validated_name = fund_account.as_ref().and_then(|fa| {
        fa.bank_account
            .as_ref()
            .and_then(|bank| bank.name.clone())
            .or_else(|| fa.contact.as_ref().and_then(|contact| contact.name.clone()))
    });
    let name_match = match (status, &registered_name) {
        (ValidationStatus::Verified, Some(registered)) => {
            match results.name_match_score.as_ref().and_then(score_of) {
                Some(score) => NameMatch::scored(score, ScoredBy::Razorpayx),
                None => validated_name
                    .as_deref()
                    .map_or(NameMatch::Unknown, |name| compare(name, registered)),
            }
        }
        _ => NameMatch::Unknown,
    };
    Validation {
        id: entity.id,
        fund_account_id: fund_account.and_then(|fa| fa.id),
        status,
        failure,
        registered_name,
        name_match,
        gateway_status: entity.status,
        user_id: entity.notes["user_id"]
            .as_str()
            .and_then(|id| id.parse().ok()),
        utr: entity.utr.filter(|utr| !utr.is_empty()),
    }
}

/// RazorpayX's score, 0–100, from a number or a numeric string; anything else is no
/// score (our own comparison is made instead).
fn score_of(value: &Value) -> Option<u8> {
    let number = match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse::<f64>().ok(),
        _ => None,
    }?;
    // A score outside 0–100 is not one RazorpayX documents.
    (0.0..=100.0)
        .contains(&number)
        .then(|| number.round() as u8)
}

fn compare(saved: &str, registered: &str) -> NameMatch {
    if normalised_name(saved).is_empty() || normalised_name(registered).is_empty() {
        return NameMatch::Unknown;
    }
    NameMatch::scored(name_score(saved, registered), ScoredBy::Us)
}

impl RazorpayX {
    /// Starts the validation of `fund_account_id` (a bank account: ₹1 is sent to it;
    /// a VPA: free, nothing is sent), unless one of it was started since `since` and
    /// did not fail on RazorpayX's side: then that one is answered, and nothing is paid
    /// again. `since` is when the caller's reason to validate began (the account
    /// revision was saved): an earlier validation of the same fund account counts too,
    /// as fund accounts never change, but is not looked for.
    ///
    /// RazorpayX has no idempotency key for this call, so "no earlier validation" is
    /// only as good as its list: a start whose answer was lost (a timeout, a 5xx) is
    /// found by the retry once RazorpayX lists it, but a retry before then pays a
    /// second ₹1. A 400 is `Refused` (nothing was created: an unknown fund account, a
    /// low balance): not the account's fault, so no reason to mark it failed.
    pub async fn validate_fund_account(
        &self,
        fund_account_id: &str,
        destination: DestinationKind,
        user_id: u64,
        since: Timestamp,
    ) -> Result<Validation, GatewayError> {
        if let Some(existing) = self.find_validation(fund_account_id, since).await? {
            return Ok(existing);
        }
        let (_, body) = self
            .send(
                Call::Payout,
                self.http
                    .post(format!("{}/v1/fund_accounts/validations", self.base_url))
                    .json(&self.validation_body(fund_account_id, destination, user_id)),
            )
            .await?;
        parse_entity(body).map_err(GatewayError::Unavailable)
    }

    /// The validation as RazorpayX has it now.
    pub async fn fetch_validation(&self, id: &str) -> Result<Validation, GatewayError> {
        // The id goes into the URL's path: only what RazorpayX's ids are made of.
        let well_formed = !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !well_formed {
            return Err(GatewayError::Misconfigured(
                "not a RazorpayX validation id".to_owned(),
            ));
        }
        let (_, body) = self
            .send(
                Call::Lookup,
                self.http.get(format!(
                    "{}/v1/fund_accounts/validations/{id}",
                    self.base_url
                )),
            )
            .await?;
        parse_entity(body).map_err(GatewayError::Unavailable)
    }

    /// A bank account's validation carries the penny; a VPA's carries no amount
    /// (RazorpayX's VPA request has none: nothing is transferred).
    fn validation_body(
        &self,
        fund_account_id: &str,
        destination: DestinationKind,
        user_id: u64,
    ) -> Value {
        let mut body = json!({
            "account_number": self.account_number,
            "fund_account": {"id": fund_account_id},
            // The fund account id is also in the entity's `fund_account`; here too in
            // case a shape of the entity leaves that out, so that the lookup still
            // recognises it. The user id is how a webhook finds the account.
            "notes": {"fund_account_id": fund_account_id, "user_id": user_id.to_string()},
        });
        if destination == DestinationKind::BankAccount {
            body["amount"] = json!(PENNY_DROP_PAISE);
            body["currency"] = json!("INR");
        }
        body
    }

    /// The newest validation of `fund_account_id` made since `since` (less the clock
    /// slack) that did not fail on RazorpayX's side, read page by page (newest first)
    /// until found or a page comes back empty.
    async fn find_validation(
        &self,
        fund_account_id: &str,
        since: Timestamp,
    ) -> Result<Option<Validation>, GatewayError> {
        let from = (since.unix_millis() / 1000 - CLOCK_SLACK_SECS).max(0);
        let mut skip = 0usize;
        loop {
            let (_, body) = self
                .send(
                    Call::Lookup,
                    self.http
                        .get(format!("{}/v1/fund_accounts/validations", self.base_url))
                        .query(&[
                            ("account_number", self.account_number.as_str()),
                            ("from", &from.to_string()),
                            ("count", &LOOKUP_PAGE.to_string()),
                            ("skip", &skip.to_string()),
                        ]),
                )
                .await?;
            let collection: Collection = serde_json::from_value(body).map_err(|err| {
                GatewayError::Unavailable(format!(
                    "unexpected validations list ({:?} error)",
                    err.classify()
                ))
            })?;
            let read = collection.items.len();
            if read == 0 {
                return Ok(None);
            }
            for item in collection.items {
                let ours = item["fund_account"]["id"] == fund_account_id
                    || item["notes"]["fund_account_id"] == fund_account_id;
                if !ours || item["status"] == "failed" {
                    continue;
                }
                return parse_entity(item)
                    .map(Some)
                    .map_err(GatewayError::Unavailable);
            }
            skip += read;
            if skip >= MAX_LOOKUP_VALIDATIONS {
                return Err(GatewayError::Unavailable(format!(
                    "more than {MAX_LOOKUP_VALIDATIONS} RazorpayX validations since the \
                     account was saved: an earlier one cannot be ruled out"
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(value: Value) -> Validation {
        parse_entity(value).unwrap()
    }

    fn classic(status: &str, account_status: Value, registered_name: Value) -> Value {
        json!({
            "id": "fav_00000000000001",
            "entity": "fund_account.validation",
            "fund_account": {
                "id": "fa_00000000000001",
                "entity": "fund_account",
                "account_type": "bank_account",
                "bank_account": {"name": "Gaurav Kumar", "ifsc": "HDFC0000053", "account_number": "765432123456789"},
            },
            "status": status,
            "amount": 100,
            "currency": "INR",
            "notes": [],
            "results": {"account_status": account_status, "registered_name": registered_name},
            "created_at": 1_547_566_278,
            "utr": null,
        })
    }

    #[test]
    fn the_classic_entity_in_each_state() {
        let created = entity(classic("created", Value::Null, Value::Null));
        assert_eq!(created.status, ValidationStatus::Pending);
        assert_eq!(created.name_match, NameMatch::Unknown);
        assert_eq!(
            created.fund_account_id.as_deref(),
            Some("fa_00000000000001")
        );

        let verified = entity(classic("completed", json!("active"), json!("GAURAV KUMAR")));
        assert_eq!(verified.status, ValidationStatus::Verified);
        assert_eq!(verified.failure, None);
        assert_eq!(verified.registered_name.as_deref(), Some("GAURAV KUMAR"));
        assert_eq!(
            verified.name_match,
            NameMatch::Matches {
                score: 100,
                scored_by: ScoredBy::Us
            }
        );

        let invalid = entity(classic("completed", json!("invalid"), Value::Null));
        assert_eq!(invalid.status, ValidationStatus::Failed);
        assert!(matches!(
            invalid.failure,
            Some(ValidationFailure::AccountInvalid { .. })
        ));

        let mut failed = classic("failed", Value::Null, Value::Null);
        failed["status_details"] = json!({"reason": "validation_failed", "description": "Beneficiary bank is down", "source": "beneficiary_bank"});
        let failed = entity(failed);
        assert_eq!(failed.status, ValidationStatus::Failed);
        let Some(ValidationFailure::NotCompleted { reason }) = failed.failure else {
            panic!("{failed:?}");
        };
        assert!(reason.contains("Beneficiary bank is down"), "{reason}");

        // A status RazorpayX adds later concludes nothing.
        let odd = entity(classic("processing", Value::Null, Value::Null));
        assert_eq!(odd.status, ValidationStatus::Pending);
    }

    #[test]
    fn razorpayxs_score_wins_over_ours_as_a_number_or_a_string() {
        let newer = |score: Value| {
            entity(json!({
                "id": "fav_1",
                "entity": "fund_account.validation",
                "status": "completed",
                "validation_results": {
                    "account_status": "valid",
                    "registered_name": "Gaurav Kumar",
                    "details": "The beneficiary account is valid.",
                    "name_match_score": score,
                },
                "fund_account": {"id": "fa_1", "bank_account": {"name": "Gaurav Kumar"}},
            }))
        };
        // Our comparison would say 100; RazorpayX's word is taken.
        assert_eq!(
            newer(json!(40)).name_match,
            NameMatch::Differs {
                score: 40,
                scored_by: ScoredBy::Razorpayx
            }
        );
        assert_eq!(
            newer(json!("85")).name_match,
            NameMatch::Matches {
                score: 85,
                scored_by: ScoredBy::Razorpayx
            }
        );
        // No usable score: ours.
        assert_eq!(
            newer(json!(170)).name_match.matches(),
            Some(true),
            "a score off the scale is no score"
        );
        assert_eq!(newer(Value::Null).name_match.matches(), Some(true));
        let scored = newer(json!(40));
        assert_eq!(scored.status, ValidationStatus::Verified);
        assert_eq!(
            scored.name_match_with("Someone Else").matches(),
            Some(false)
        );
    }

    #[test]
    fn a_vpas_name_is_held_to_the_saved_one() {
        let vpa = entity(json!({
            "id": "fav_2",
            "status": "completed",
            "fund_account": {"id": "fa_2", "account_type": "vpa", "vpa": {"address": "asha@okhdfc"}},
            "results": {"account_status": "active", "registered_name": "ASHA RAO"},
        }));
        assert_eq!(
            vpa.name_match,
            NameMatch::Unknown,
            "the entity names no one"
        );
        assert_eq!(vpa.name_match_with("Mrs. Asha Rao").matches(), Some(true));
        assert_eq!(vpa.name_match_with("Ravi Rao").matches(), Some(false));
        // A VPA with no bank account behind it (RazorpayX FAQ): invalid, no name.
        let bare = entity(json!({
            "id": "fav_3", "status": "completed",
            "results": {"account_status": "invalid", "registered_name": null},
        }));
        assert_eq!(bare.status, ValidationStatus::Failed);
        assert_eq!(bare.name_match_with("Asha Rao"), NameMatch::Unknown);
    }

    #[test]
    fn debug_and_errors_name_no_one() {
        let verified = entity(classic("completed", json!("active"), json!("GAURAV KUMAR")));
        let shown = format!("{verified:?}");
        assert!(!shown.contains("GAURAV"), "{shown}");
        let err =
            parse_entity(json!({"id": "fav_1", "status": {"name": "Asha Rao 765432123456789"}}))
                .unwrap_err();
        assert!(
            !err.contains("Asha") && !err.contains("765432123456789"),
            "{err}"
        );
    }
}
