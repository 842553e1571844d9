//! A status change: the write derived from [`domain::payout::TRANSITIONS`], the
//! conditions it holds under (status, lease, version, account), and why one was
//! refused.

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use uuid::Uuid;

use crate::accounts::{self, AccountGuard};
use crate::keys;
use crate::transact::TransactFailure;
use crate::{from_item, n, s, to_item, update_item, Item, Store};
use domain::error::{Conflict, Error, Result};
use domain::payout::{
    Acting, AttemptUse, HistoryEntry, Payout, PayoutStatus, PayoutType, Transition,
};
use domain::time::Timestamp;

use super::counters::{in_flight, paid, reserves};
use super::{Lease, StatusChange};
use crate::expr::{add_clause, summary_update, Expr};

const LEASE_TOKEN: &str = "lease_token";
/// Rounds of a status change that lost every retry of its transaction to contention,
/// each on another counter shard, before it gives up.
const CONTENDED_ROUNDS: usize = 3;
/// The id of the last status change written to a payout (see `explain_refusal`).
const CHANGE_ID: &str = "change_id";
/// The payout's write counter (`Payout::version`).
const VERSION: &str = "version";
/// The payout's admin history (`Payout::history`): appended to, never written whole.
const HISTORY: &str = "history";

/// How a status change's transaction ended, when it did not fail.
enum Transacted {
    Written,
    /// The payout's own condition did not hold; the item as it stands, if there is one.
    Refused(Option<Item>),
}

enum Written {
    Applied(Item),
    /// The condition did not hold; the stored item, if there is one.
    Refused(Option<Item>),
}

impl Store {
    /// Writes one status change under its condition, with the summary and scout
    /// balances it moves in the same transaction. Returns the payout as written.
    pub async fn change_status(
        &self,
        current: &Payout,
        change: StatusChange<'_>,
    ) -> Result<Payout> {
        self.change_status_as(current, change, None).await
    }

    /// [`Store::change_status`] on an admin's request: the same write, under the same
    /// condition, also appends the change to the payout's history. The entry is part of
    /// the write itself, so it is there exactly when the change is.
    pub async fn change_status_as(
        &self,
        current: &Payout,
        change: StatusChange<'_>,
        acting: Option<&Acting>,
    ) -> Result<Payout> {
        self.change_status_guarded(current, change, acting, None)
            .await
    }

    /// [`Store::change_status_as`], written only while the user's payout account is
    /// still the one `guard` names: a claim decided on an account must not be written
    /// after a save replaced it (a 409 `conflict`, nothing written).
    pub async fn change_status_guarded(
        &self,
        current: &Payout,
        change: StatusChange<'_>,
        acting: Option<&Acting>,
        guard: Option<AccountGuard>,
    ) -> Result<Payout> {
        let StatusChange {
            transition,
            mut next,
            lease,
            gateway_status_not_in,
        } = change;
        check_rules(current, transition, lease, &next)?;
        let from = current.status;
        let to = transition.target();
        next.status = to;
        // What the write below will make it, unless a write it did not see landed
        // first: a single update hands back the stored number.
        next.version = current.version + 1;

        // Names this change on the item, so that a resend of it (a lost response) can
        // recognise its own write in what the refusal hands back.
        let change_id = Uuid::new_v4().to_string();
        let entry = acting.map(|acting| acting.entry(from, to, next.updated_at));
        let payout_update = self.payout_update(
            current,
            &next,
            lease,
            gateway_status_not_in,
            &change_id,
            entry.as_ref(),
        )?;
        // What the write appends; the transaction below hands back no item to read it from.
        next.history = current.history.clone();
        next.history.extend(entry);
        let amount = i128::from(current.amount_paise.get());
        let paid_delta = amount * (paid(to) - paid(from));
        let summary = summary_update(
            &self.table,
            current.user_id,
            &[
                ("pending_paise", amount * (in_flight(to) - in_flight(from))),
                ("total_paid_paise", paid_delta),
            ],
        )?;
        let scout = self.scout_update(current, from, to)?;

        let counts = from != to;
        let waiting = accounts::waiting_item(&self.table, current, &next)?;

        // A change that moves no money and no counter (a gateway's progress report) is
        // one conditional update, which hands back the item as stored.
        let alone = summary.is_none() && scout.is_none() && waiting.is_none() && guard.is_none();
        let refused = if alone && !counts {
            match self.update_single(payout_update).await? {
                // The report continues from what DynamoDB holds, not from the copy it
                // was handed (an index entry may be stale).
                Written::Applied(stored) => return from_item(stored),
                Written::Refused(stored) => stored,
            }
        } else {
            let mut payout_update = payout_update;
            payout_update.return_values_on_condition_check_failure =
                Some(ReturnValuesOnConditionCheckFailure::AllOld);
            // The guard comes right after the payout, where a refusal of it is told
            // from one of the books'.
            let mut items = vec![update_item(payout_update)];
            if let Some(guard) = guard {
                items.push(accounts::guard_item(&self.table, guard)?);
            }
            items.extend(waiting);
            items.extend(summary.map(update_item));
            items.extend(scout.map(update_item));
            match self
                .write_with_counters(current, transition, items, guard.is_some(), next.updated_at)
                .await?
            {
                Transacted::Written => return Ok(next),
                Transacted::Refused(stored) => stored,
            }
        };
        self.explain_refusal(current, transition, &change_id, refused)
    }

    /// The scout's balances a bounty's status change moves (`None`: a seller's payout,
    /// or a change that moves none of them), refused if it would release more than is
    /// held.
    fn scout_update(
        &self,
        current: &Payout,
        from: PayoutStatus,
        to: PayoutStatus,
    ) -> Result<Option<Update>> {
        let amount = i128::from(current.amount_paise.get());
        let paid_delta = amount * (paid(to) - paid(from));
        Ok(match (&current.payout_type, &current.scout_id) {
            (PayoutType::ScoutBounty, Some(scout_id)) => {
                let reserved_delta = amount * (reserves(to) - reserves(from));
                let mut expr = Expr::default();
                let clause = add_clause(
                    &mut expr,
                    &[
                        ("reserved_paise", reserved_delta),
                        ("paid_paise", paid_delta),
                        (
                            "earnings_paise",
                            amount * i128::from(to == PayoutStatus::Cancelled),
                        ),
                    ],
                );
                match clause {
                    Some(clause) => {
                        // A release larger than what is held would mean the books are
                        // already wrong; refuse rather than drive them negative. Only a
                        // balance that shrinks is checked (an absent one compares false).
                        let mut condition = "attribute_exists(pk)".to_owned();
                        for (attribute, delta) in [
                            ("reserved_paise", reserved_delta),
                            ("paid_paise", paid_delta),
                        ] {
                            if delta < 0 {
                                let held = expr.name(attribute);
                                let release = expr.value(n(-delta));
                                condition.push_str(&format!(" AND {held} >= {release}"));
                            }
                        }
                        Some(expr.update(
                            &self.table,
                            keys::scout_pk(scout_id),
                            keys::SCOUT_SK,
                            clause,
                            Some(condition),
                        )?)
                    }
                    None => None,
                }
            }
            _ => None,
        })
    }

    /// Writes the status change's transaction, with the counters it moves, each round on
    /// another shard.
    async fn write_with_counters(
        &self,
        current: &Payout,
        transition: Transition,
        mut items: Vec<TransactWriteItem>,
        guarded: bool,
        at: Timestamp,
    ) -> Result<Transacted> {
        let fixed = items.len();
        let mut rounds = 0;
        loop {
            // The counters hold no condition: they can never be what refuses. Each
            // round counts on a shard of its own choosing, so a round that lost to
            // busy counter items does not meet the same ones again.
            items.truncate(fixed);
            items.extend(self.transition_counters(
                current,
                current.status,
                transition.target(),
                at,
            )?);
            match self.transact(items.clone()).await {
                // A transaction returns no item. What it wrote is what is stored,
                // but for a gateway report (`track`) that may have landed alongside:
                // it only writes `gateway_*` fields, and none of them is money.
                Ok(()) => return Ok(Transacted::Written),
                Err(TransactFailure::ConditionFailed(refused)) if refused.at(0) => {
                    return Ok(Transacted::Refused(refused.stored(0).cloned()));
                }
                Err(TransactFailure::ConditionFailed(refused)) if guarded && refused.at(1) => {
                    return Err(Error::Conflict(Conflict::Stale(format!(
                        "the payout account of user {} changed while payout {} was being \
                         claimed; it stays pending",
                        current.user_id, current.payout_id
                    ))));
                }
                Err(TransactFailure::ConditionFailed(refused)) => {
                    return Err(Error::BooksRefused(format!(
                        "payout {} balances refused a {} (items {:?})",
                        current.payout_id,
                        transition.verb(),
                        refused.positions()
                    )))
                }
                // Nothing was written. A settle after the gateway paid must not
                // give up lightly: its payout would wait out its lease.
                Err(TransactFailure::Contended) if rounds < CONTENDED_ROUNDS => {
                    rounds += 1;
                }
                Err(TransactFailure::Contended) => return Err(TransactFailure::contended()),
                Err(TransactFailure::Other(error)) => return Err(error),
            }
        }
    }

    /// A status change whose condition did not hold. Either our own write already
    /// landed (its response was lost and it was sent again: the item carries this
    /// change's id), or the payout moved on, and the error says how.
    fn explain_refusal(
        &self,
        current: &Payout,
        transition: Transition,
        change_id: &str,
        stored: Option<Item>,
    ) -> Result<Payout> {
        let Some(stored) = stored else {
            return Err(Error::NotFound {
                entity: "payout",
                id: current.payout_id.to_string(),
            });
        };
        let ours = matches!(stored.get(CHANGE_ID), Some(AttributeValue::S(id)) if id == change_id);
        let stored: Payout = from_item(stored)?;
        if ours {
            return Ok(stored);
        }
        if stored.status != current.status || !transition.allows(stored.status) {
            return Err(Error::InvalidTransition {
                payout_id: current.payout_id.to_string(),
                transition,
                status: stored.status,
            });
        }
        if stored.amount_paise != current.amount_paise
            || stored.user_id != current.user_id
            || stored.scout_id != current.scout_id
        {
            return Err(Error::Conflict(Conflict::Stale(format!(
                "payout {} is not as it was read (its amount, user or scout differ); read it again",
                current.payout_id
            ))));
        }
        if stored.attempt != current.attempt || stored.attempt_sent_at != current.attempt_sent_at {
            return Err(Error::Conflict(Conflict::Stale(format!(
                "payout {} changed while this request was working on it (now attempt {}); \
                 read it again",
                current.payout_id, stored.attempt
            ))));
        }
        Err(Error::Conflict(Conflict::Stale(format!(
            "payout {} changed while this request was working on it (another processor holds \
             it, or the gateway's status moved on); read it again",
            current.payout_id
        ))))
    }

    /// The conditional update of the payout item: only the attributes that change are
    /// written, and only if the status (and lease) are still as read.
    fn payout_update(
        &self,
        current: &Payout,
        next: &Payout,
        lease: Lease<'_>,
        gateway_status_not_in: Option<&[&str]>,
        change_id: &str,
        entry: Option<&HistoryEntry>,
    ) -> Result<Update> {
        let mut expr = Expr::default();
        let (mut sets, mut removes) =
            changed_attributes(&mut expr, current, next, change_id, entry)?;
        let mut condition = as_read(&mut expr, current);
        lease_clauses(
            &mut expr,
            lease,
            current,
            &mut condition,
            &mut sets,
            &mut removes,
        );
        if let Some(later) = gateway_status_not_in.filter(|later| !later.is_empty()) {
            let gateway_status = expr.name("gateway_status");
            let values: Vec<String> = later.iter().map(|status| expr.value(s(*status))).collect();
            condition.push_str(&format!(
                " AND (attribute_not_exists({gateway_status}) OR NOT {gateway_status} IN ({}))",
                values.join(", ")
            ));
        }

        let mut update = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            update.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        // Added by DynamoDB, not copied from `next`: two writes that passed their
        // conditions from the same read (gateway reports) still get numbers of their own.
        update.push_str(&format!(" ADD {} {}", expr.name(VERSION), expr.value(n(1))));
        expr.update(
            &self.table,
            keys::payout_pk(current.payout_id),
            keys::PAYOUT_SK,
            update,
            Some(condition),
        )
    }

    /// The item after the write, or (when the condition did not hold) as it stood.
    async fn update_single(&self, update: Update) -> Result<Written> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(update.key))
            .update_expression(update.update_expression)
            .set_condition_expression(update.condition_expression)
            .set_expression_attribute_names(update.expression_attribute_names)
            .set_expression_attribute_values(update.expression_attribute_values)
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => Ok(Written::Applied(output.attributes.unwrap_or_default())),
            Err(err) => match err.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(refused) => {
                    Ok(Written::Refused(refused.item))
                }
                other => Err(crate::sdk_error(&other)),
            },
        }
    }
}

/// The lifecycle's rules for a status change, checked before anything is written: the
/// lease it is written with ([`domain::payout::LEASE_RULES`]), whether it may leave the
/// status the payout is in ([`domain::payout::TRANSITIONS`]), and what it does to the
/// payout's attempt ([`domain::payout::ATTEMPT_RULES`]): the attempt number, and the
/// last send that could still land, which only a retry or a requeue may move earlier
/// or forget. Why a requeue forgets a send (the gateway said it created nothing) is
/// the caller's to know (`process::changes::requeue_unsent`); the store checks what
/// the write itself shows.
fn check_rules(
    current: &Payout,
    transition: Transition,
    lease: Lease<'_>,
    next: &Payout,
) -> Result<()> {
    if !transition.lease_uses().contains(&lease.kind()) {
        return Err(Error::Invariant(format!(
            "payout {}: a {} was written with the lease {:?}; the lifecycle's rules allow \
             only {:?}",
            current.payout_id,
            transition.verb(),
            lease.kind(),
            transition.lease_uses()
        )));
    }
    let from = current.status;
    if !transition.allows(from) {
        return Err(Error::InvalidTransition {
            payout_id: current.payout_id.to_string(),
            transition,
            status: from,
        });
    }
    // `sent_at` is the last send that could still land (older items: `processed_at`);
    // `None` sorts before every instant, so "not earlier" also means "not forgotten".
    let attempt_kept = next.attempt == current.attempt;
    let follows = match transition.attempt_use() {
        AttemptUse::Keeps => attempt_kept && next.sent_at() >= current.sent_at(),
        AttemptUse::ForgetsRefusedSend => attempt_kept,
        AttemptUse::StartsNext => {
            current.attempt.checked_add(1) == Some(next.attempt) && next.sent_at().is_none()
        }
    };
    if !follows {
        return Err(Error::Invariant(format!(
            "payout {}: a {} would make attempt {} (last sent {:?}) attempt {} (last sent \
             {:?}); the lifecycle's rules allow only {:?}",
            current.payout_id,
            transition.verb(),
            current.attempt,
            current.sent_at(),
            next.attempt,
            next.sent_at(),
            transition.attempt_use()
        )));
    }
    Ok(())
}

/// The SET and REMOVE clauses that make the stored payout `next`: only the attributes
/// that differ from `current`, the change's id, the status index key when the status
/// moves, and the admin's history entry appended.
fn changed_attributes(
    expr: &mut Expr,
    current: &Payout,
    next: &Payout,
    change_id: &str,
    entry: Option<&HistoryEntry>,
) -> Result<(Vec<String>, Vec<String>)> {
    let mut before = to_item(current)?;
    let mut after = to_item(next)?;
    // Never copied from the payout in hand, which may be an older read: a history
    // written whole could drop an entry another request appended meanwhile.
    before.remove(HISTORY);
    after.remove(HISTORY);
    let mut sets = Vec::new();
    let mut removes = Vec::new();
    for (attribute, value) in &after {
        if attribute != VERSION && before.get(attribute) != Some(value) {
            sets.push(format!(
                "{} = {}",
                expr.name(attribute),
                expr.value(value.clone())
            ));
        }
    }
    for attribute in before
        .keys()
        .filter(|attribute| !after.contains_key(*attribute))
    {
        removes.push(expr.name(attribute));
    }
    sets.push(format!(
        "{} = {}",
        expr.name(CHANGE_ID),
        expr.value(s(change_id))
    ));
    if current.status != next.status {
        sets.push(format!(
            "{} = {}",
            expr.name(keys::STATUS_PK),
            expr.value(s(keys::status_pk(next.status)))
        ));
        sets.push(format!(
            "{} = {}",
            expr.name(keys::STATUS_SHARD_PK),
            expr.value(s(super::status_shard_pk(next.payout_id, next.status)))
        ));
    }
    if current.first_sent_at != next.first_sent_at {
        match super::sent_day_keys(next) {
            Some((day_pk, day_sk)) => {
                sets.push(format!(
                    "{} = {}",
                    expr.name(keys::DAY_PK),
                    expr.value(s(day_pk))
                ));
                sets.push(format!(
                    "{} = {}",
                    expr.name(keys::DAY_SK),
                    expr.value(s(day_sk))
                ));
            }
            None => {
                removes.push(expr.name(keys::DAY_PK));
                removes.push(expr.name(keys::DAY_SK));
            }
        }
    }
    // Appended in this same update, so the condition below decides for both: no
    // entry without its change, no change on an admin's request without its entry.
    // The condition itself does not look at the history.
    if let Some(entry) = entry {
        let history = expr.name(HISTORY);
        let empty = expr.value(AttributeValue::L(Vec::new()));
        let appended = expr.value(AttributeValue::L(vec![AttributeValue::M(to_item(entry)?)]));
        sets.push(format!(
            "{history} = list_append(if_not_exists({history}, {empty}), {appended})"
        ));
    }
    Ok((sets, removes))
}

/// The condition that the stored payout is still the one the caller read: same status,
/// same attempt, and the same send of it (a claim and requeue in between change the
/// last).
fn as_read(expr: &mut Expr, current: &Payout) -> String {
    let status = expr.name("status");
    let observed = expr.value(s(current.status.as_str()));
    let attempt = expr.name("attempt");
    let observed_attempt = expr.value(n(current.attempt));
    let sent = expr.name("attempt_sent_at");
    let sent_condition = match current.attempt_sent_at {
        Some(sent_at) => format!("{sent} = {}", expr.value(s(sent_at.to_string()))),
        None => format!("attribute_not_exists({sent})"),
    };
    // And the same payout: what the balance and counter changes are computed from
    // (amount, user, scout) never changes after creation, so a copy that differs
    // is no copy of this payout, and nothing is computed from it.
    let amount = expr.name("amount_paise");
    let observed_amount = expr.value(n(current.amount_paise.get()));
    let user = expr.name("user_id");
    let observed_user = expr.value(n(current.user_id));
    let scout = expr.name("scout_id");
    let scout_condition = match &current.scout_id {
        Some(scout_id) => format!("{scout} = {}", expr.value(s(scout_id.as_str()))),
        None => format!("attribute_not_exists({scout})"),
    };
    format!(
        "{status} = {observed} AND {attempt} = {observed_attempt} AND {sent_condition} \
         AND {amount} = {observed_amount} AND {user} = {observed_user} AND {scout_condition}"
    )
}

/// What the lease adds to the write: the condition that it is as the change expects,
/// and the token set or removed.
fn lease_clauses(
    expr: &mut Expr,
    lease: Lease<'_>,
    current: &Payout,
    condition: &mut String,
    sets: &mut Vec<String>,
    removes: &mut Vec<String>,
) {
    match lease {
        Lease::NotHeld => {}
        Lease::Acquire(token) => {
            // A claim is written from the copy it was handed and goes on from it:
            // only the very version read may be claimed. Every write to a pending
            // payout moves `updated_at`, so this refuses stale copies only.
            let updated = expr.name("updated_at");
            let observed_updated = expr.value(s(current.updated_at.to_string()));
            condition.push_str(&format!(" AND {updated} = {observed_updated}"));
            sets.push(format!(
                "{} = {}",
                expr.name(LEASE_TOKEN),
                expr.value(s(token))
            ));
        }
        Lease::TakeOver { token, expired_at } => {
            let expiry = expr.name("lease_expires_at");
            let observed_expiry = expr.value(s(expired_at.to_string()));
            condition.push_str(&format!(" AND {expiry} = {observed_expiry}"));
            sets.push(format!(
                "{} = {}",
                expr.name(LEASE_TOKEN),
                expr.value(s(token))
            ));
        }
        Lease::Release(token) => {
            let held = expr.name(LEASE_TOKEN);
            let ours = expr.value(s(token));
            condition.push_str(&format!(" AND {held} = {ours}"));
            removes.push(held);
        }
        Lease::Break => removes.push(expr.name(LEASE_TOKEN)),
    }
}
