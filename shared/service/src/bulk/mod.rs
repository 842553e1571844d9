//! `POST /payouts/bulk`: one admin action — process, retry or cancel — on up to
//! [`MAX_PAYOUT_IDS`] payouts at once. Each id goes through the operation its own route
//! runs ([`crate::admin`]), with the same checks and conditional transitions, so each
//! succeeds or fails alone: a conflict on one id never holds up or undoes another, and
//! the answer has one result per id, in the order asked.
//!
//! With an `Idempotency-Key`, the first answer is kept for a day and a repeat of the
//! same request gets it again without anything being done twice.
//!
//! Each run gets an id of its own; every payout's history entry from it carries that
//! id, the key (if any) and the requesting admin, and a keyed request's record names
//! the requester, the action and the run. That record, and the answer kept in it, is
//! `idempotency.rs`.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tracing::{error, info, warn};
use uuid::Uuid;

use crate::admin;
use crate::config::ProcessorConfig;
use crate::scout::check_idempotency_key;
use domain::actor::Actor;
use domain::error::{Error, Result};
use domain::payout::{AdminAction, BulkOrigin, Payout};
use gateway::PaymentGateway;
use store::Store;

mod idempotency;

use idempotency::{claim, save, Claim};

pub const MAX_PAYOUT_IDS: usize = 100;

/// The body's fields; nothing else may be in it.
pub const FIELDS: [&str; 2] = ["action", "payout_ids"];

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
const HYPHENATED_LEN: usize = 36;

/// An id takes a few gateway calls at most (a lookup, a transfer, a lookup again), each
/// bounded by the gateway client's timeout; none starts with less than this left.
pub const START_MARGIN: Duration = Duration::from_secs(12);

/// How long a bulk request may take: API Gateway's HTTP API answers 503 after 30 s,
/// and the function's timeout (29 s) cuts it off then anyway.
pub const TIME_LIMIT: Duration = Duration::from_secs(29);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BulkAction {
    Process,
    Retry,
    Cancel,
}

impl BulkAction {
    pub const ALL: [BulkAction; 3] = [BulkAction::Process, BulkAction::Retry, BulkAction::Cancel];

    pub fn as_str(self) -> &'static str {
        match self {
            BulkAction::Process => "process",
            BulkAction::Retry => "retry",
            BulkAction::Cancel => "cancel",
        }
    }

    fn admin_action(self) -> AdminAction {
        match self {
            BulkAction::Process => AdminAction::Process,
            BulkAction::Retry => AdminAction::Retry,
            BulkAction::Cancel => AdminAction::Cancel,
        }
    }
}

impl FromStr for BulkAction {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        BulkAction::ALL
            .into_iter()
            .find(|action| action.as_str() == text)
            .ok_or_else(|| Error::BadRequest(action_expected("must be")))
    }
}

fn action_expected(what: &str) -> String {
    format!(
        "`action` {what} one of {}",
        BulkAction::ALL.map(BulkAction::as_str).join(", ")
    )
}

/// A validated request: an action and distinct payout ids, in the order given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BulkCommand {
    pub action: BulkAction,
    pub payout_ids: Vec<Uuid>,
}

impl BulkCommand {
    /// Reads the body's `action` and `payout_ids` (the caller has refused other
    /// fields). The whole list is checked before anything is done, so a bad id
    /// anywhere leaves every payout as it was.
    pub fn parse(body: &Map<String, Value>) -> Result<Self> {
        let action = match body.get("action") {
            None | Some(Value::Null) => {
                return Err(Error::BadRequest(action_expected("is required:")))
            }
            Some(Value::String(text)) => text.parse()?,
            Some(_) => return Err(Error::BadRequest(action_expected("must be"))),
        };
        let list = || format!("a list of 1 to {MAX_PAYOUT_IDS} payout ids");
        let items = match body.get("payout_ids") {
            None | Some(Value::Null) => {
                return Err(Error::BadRequest(format!(
                    "`payout_ids` is required: {}",
                    list()
                )))
            }
            Some(Value::Array(items)) => items,
            Some(_) => {
                return Err(Error::BadRequest(format!(
                    "`payout_ids` must be {}",
                    list()
                )))
            }
        };
        if items.is_empty() || items.len() > MAX_PAYOUT_IDS {
            return Err(Error::BadRequest(format!(
                "`payout_ids` must be {}, not {}",
                list(),
                items.len()
            )));
        }
        let mut payout_ids = Vec::with_capacity(items.len());
        // Compared as UUIDs, so the same id in another case or form is still a repeat.
        let mut first_at: HashMap<Uuid, usize> = HashMap::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let payout_id = item
                .as_str()
                // The hyphenated form only, as the API shows ids (`format: uuid`): the
                // parser alone would also take the simple, braced and URN forms.
                .filter(|text| text.len() == HYPHENATED_LEN)
                .and_then(|text| Uuid::parse_str(text).ok())
                .ok_or_else(|| {
                    Error::BadRequest(format!("payout_ids[{index}] is not a payout id"))
                })?;
            if let Some(first) = first_at.insert(payout_id, index) {
                return Err(Error::BadRequest(format!(
                    "payout_ids[{index}] repeats payout_ids[{first}] ({payout_id}); name each \
                     payout once"
                )));
            }
            payout_ids.push(payout_id);
        }
        Ok(BulkCommand { action, payout_ids })
    }

    /// Lowercase hex SHA-256 of the action and the ids in order: what makes a repeat
    /// under the same `Idempotency-Key` the same request.
    pub fn fingerprint(&self) -> String {
        let mut text = self.action.as_str().to_owned();
        for payout_id in &self.payout_ids {
            text.push('\n');
            text.push_str(&payout_id.hyphenated().to_string());
        }
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes())
            .as_ref()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}

/// How one id fared. `Error` is not one of the three: it is a failure of ours
/// (storage, configuration) on that id, kept to that id rather than failing the
/// whole answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Done,
    Conflict,
    NotFound,
    Error,
    /// Not started: too little of the invocation was left to finish it.
    NotAttempted,
}

/// Why an id was not done, as the single-payout route would have said it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemError {
    pub code: String,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemResult {
    pub payout_id: Uuid,
    pub outcome: Outcome,
    /// After the action when done; as stored now after a conflict.
    #[serde(default)]
    pub payout: Option<Payout>,
    #[serde(default)]
    pub error: Option<ItemError>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkAnswer {
    pub action: BulkAction,
    /// One per id, in the order asked.
    pub results: Vec<ItemResult>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub done: usize,
    pub conflict: usize,
    pub not_found: usize,
    pub error: usize,
    pub not_attempted: usize,
}

impl BulkAnswer {
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for result in &self.results {
            match result.outcome {
                Outcome::Done => counts.done += 1,
                Outcome::Conflict => counts.conflict += 1,
                Outcome::NotFound => counts.not_found += 1,
                Outcome::Error => counts.error += 1,
                Outcome::NotAttempted => counts.not_attempted += 1,
            }
        }
        counts
    }
}

/// Whether this request ran, or repeated a keyed request that had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bulk {
    Ran(BulkAnswer),
    Replayed(BulkAnswer),
}

impl Bulk {
    pub fn answer(&self) -> &BulkAnswer {
        match self {
            Bulk::Ran(answer) | Bulk::Replayed(answer) => answer,
        }
    }

    pub fn replayed(&self) -> bool {
        matches!(self, Bulk::Replayed(_))
    }
}

/// Runs `command`, or with an `idempotency_key` already used for it, gives the first
/// answer again. A key is the admin's own: another admin's same key is another request.
pub async fn bulk_payouts<G: PaymentGateway>(
    store: &Store,
    gateway: &G,
    config: ProcessorConfig,
    actor: &Actor,
    command: BulkCommand,
    idempotency_key: Option<&str>,
    deadline: Option<Instant>,
) -> Result<Bulk> {
    actor.require_admin()?;
    let Some(key) = idempotency_key else {
        let origin = BulkOrigin {
            request_id: Uuid::new_v4(),
            idempotency_key: None,
        };
        let answer = run(store, gateway, config, actor, &command, &origin, deadline).await;
        log(actor, &answer, &origin, false);
        return Ok(Bulk::Ran(answer));
    };
    check_idempotency_key(key)?;
    let origin = BulkOrigin {
        request_id: Uuid::new_v4(),
        idempotency_key: Some(key.to_owned()),
    };
    let started_at = match claim(store, config, actor.user_id, key, &command, &origin).await? {
        Claim::Replay(answer) => {
            log(actor, &answer, &origin, true);
            return Ok(Bulk::Replayed(answer));
        }
        Claim::Run(started_at) => started_at,
    };
    let answer = run(store, gateway, config, actor, &command, &origin, deadline).await;
    save(store, actor.user_id, key, started_at, &answer, &origin).await;
    log(actor, &answer, &origin, false);
    Ok(Bulk::Ran(answer))
}

/// Every id, `concurrency` at a time, the answers kept in the order asked. No id is
/// started with less than [`START_MARGIN`] left before `deadline`: one cut off by the
/// function's timeout would hold its payout until the lease ran out, and the caller
/// would get no answer at all.
async fn run<G: PaymentGateway>(
    store: &Store,
    gateway: &G,
    config: ProcessorConfig,
    actor: &Actor,
    command: &BulkCommand,
    origin: &BulkOrigin,
    deadline: Option<Instant>,
) -> BulkAnswer {
    let results = stream::iter(command.payout_ids.iter().copied())
        .map(|payout_id| async move {
            let late = deadline.is_some_and(|deadline| {
                deadline.saturating_duration_since(Instant::now()) < START_MARGIN
            });
            if late {
                return ItemResult {
                    payout_id,
                    outcome: Outcome::NotAttempted,
                    payout: None,
                    error: Some(ItemError {
                        code: "not_attempted".to_owned(),
                        message: "not attempted: the request ran short of time; send this id \
                                  again"
                            .to_owned(),
                    }),
                };
            }
            act(
                store,
                gateway,
                config,
                actor,
                command.action,
                origin,
                payout_id,
            )
            .await
        })
        .buffered(config.concurrency.max(1))
        .collect()
        .await;
    BulkAnswer {
        action: command.action,
        results,
    }
}

async fn act<G: PaymentGateway>(
    store: &Store,
    gateway: &G,
    config: ProcessorConfig,
    actor: &Actor,
    action: BulkAction,
    origin: &BulkOrigin,
    payout_id: Uuid,
) -> ItemResult {
    let acted = admin::act_on_payout(
        store,
        gateway,
        config,
        actor,
        action.admin_action(),
        Some(origin),
        payout_id,
    )
    .await;
    let err = match acted {
        Ok(payout) => {
            return ItemResult {
                payout_id,
                outcome: Outcome::Done,
                payout: Some(payout),
                error: None,
            }
        }
        Err(err) => err,
    };
    let outcome = match &err {
        Error::NotFound {
            entity: "payout", ..
        } => Outcome::NotFound,
        _ if err.http_status() == 409 => Outcome::Conflict,
        _ => Outcome::Error,
    };
    let payout = match outcome {
        Outcome::Conflict => match store.payout(payout_id).await {
            Ok(found) => found,
            Err(read) => {
                warn!(event = "bulk_payout_unread", payout_id = %payout_id, error = %read, "a payout in conflict could not be read");
                None
            }
        },
        _ => None,
    };
    if outcome == Outcome::Error {
        // The request as a whole succeeds, so its own log line will not carry this.
        if err.http_status() >= 500 {
            error!(event = "bulk_item_failed", action = action.as_str(), payout_id = %payout_id, error_code = err.code(), error = %err, "a bulk action failed on one payout");
        } else {
            warn!(event = "bulk_item_refused", action = action.as_str(), payout_id = %payout_id, error_code = err.code(), detail = %err.public_message(), "a bulk action was refused on one payout");
        }
    }
    ItemResult {
        payout_id,
        outcome,
        payout,
        error: Some(ItemError {
            code: err.code().to_owned(),
            message: err.public_message(),
        }),
    }
}

fn log(actor: &Actor, answer: &BulkAnswer, origin: &BulkOrigin, replayed: bool) {
    let counts = answer.counts();
    info!(
        event = "bulk_payouts",
        action = answer.action.as_str(),
        count = answer.results.len(),
        done = counts.done,
        conflict = counts.conflict,
        not_found = counts.not_found,
        errored = counts.error,
        not_attempted = counts.not_attempted,
        admin_id = actor.user_id,
        // A replay did nothing: its id is in no payout's history.
        bulk_request_id = %origin.request_id,
        replayed,
        "bulk payout action"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: Value) -> Map<String, Value> {
        match json {
            Value::Object(object) => object,
            _ => unreachable!("tests pass objects"),
        }
    }

    fn refused(json: Value) -> String {
        match BulkCommand::parse(&body(json)) {
            Err(Error::BadRequest(message)) => message,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn a_command_is_an_action_and_distinct_ids_in_order() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let command = BulkCommand::parse(&body(serde_json::json!({
            "action": "retry", "payout_ids": [b.to_string(), a.to_string()]
        })))
        .unwrap();
        assert_eq!(command.action, BulkAction::Retry);
        assert_eq!(command.payout_ids, [b, a]);
    }

    #[test]
    fn bad_commands_say_what_is_wrong() {
        let id = Uuid::new_v4().to_string();
        assert!(refused(serde_json::json!({"payout_ids": [id]})).contains("`action` is required"));
        assert!(
            refused(serde_json::json!({"action": "pay", "payout_ids": [id]}))
                .contains("process, retry, cancel")
        );
        assert!(refused(serde_json::json!({"action": 1, "payout_ids": [id]})).contains("`action`"));
        assert!(
            refused(serde_json::json!({"action": "cancel"})).contains("`payout_ids` is required")
        );
        assert!(
            refused(serde_json::json!({"action": "cancel", "payout_ids": id})).contains("a list")
        );
        assert!(
            refused(serde_json::json!({"action": "cancel", "payout_ids": []})).contains("not 0")
        );
        let many: Vec<String> = (0..101).map(|_| Uuid::new_v4().to_string()).collect();
        assert!(
            refused(serde_json::json!({"action": "cancel", "payout_ids": many}))
                .contains("not 101")
        );
        assert_eq!(
            refused(
                serde_json::json!({"action": "cancel", "payout_ids": [id, id, "x", 3, "nope"]})
            ),
            format!("payout_ids[1] repeats payout_ids[0] ({id}); name each payout once")
        );
        assert_eq!(
            refused(serde_json::json!({"action": "cancel", "payout_ids": [id, 3]})),
            "payout_ids[1] is not a payout id"
        );
        let simple = Uuid::new_v4().simple().to_string();
        assert_eq!(
            refused(serde_json::json!({"action": "cancel", "payout_ids": [id, simple]})),
            "payout_ids[1] is not a payout id"
        );
        let braced = format!("{{{id}}}");
        assert_eq!(
            refused(serde_json::json!({"action": "cancel", "payout_ids": [braced]})),
            "payout_ids[0] is not a payout id"
        );
        let upper = id.to_uppercase();
        assert!(
            refused(serde_json::json!({"action": "cancel", "payout_ids": [id, upper]}))
                .starts_with("payout_ids[1] repeats payout_ids[0]")
        );
    }

    #[test]
    fn the_fingerprint_is_the_action_and_the_ids_in_order() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let command = |action, payout_ids: Vec<Uuid>| BulkCommand { action, payout_ids };
        let first = command(BulkAction::Cancel, vec![a, b]).fingerprint();
        assert_eq!(first.len(), 64);
        assert_eq!(first, command(BulkAction::Cancel, vec![a, b]).fingerprint());
        assert_ne!(first, command(BulkAction::Cancel, vec![b, a]).fingerprint());
        assert_ne!(first, command(BulkAction::Retry, vec![a, b]).fingerprint());
        assert_ne!(first, command(BulkAction::Cancel, vec![a]).fingerprint());
    }
}
