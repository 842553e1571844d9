//! Payout items: creation (with the reservation, the order, the summary and the
//! idempotency record in one transaction), status changes derived from
//! [`domain::payout::TRANSITIONS`], and index queries.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    Update,
};
use uuid::Uuid;

use super::accounts::{self, AccountGuard};
use super::keys;
use super::schedules::ScheduleAdvance;
use super::stats::CounterChange;
use super::transact::TransactFailure;
use super::{
    built, from_item, key, n, s, to_item, update_item, with_key, IdempotencyRecord, Item, PageKey,
    Store,
};
use domain::error::{Error, Result};
use domain::money::Paise;
use domain::payout::{Acting, HistoryEntry, Payout, PayoutStatus, PayoutType, Transition};
use domain::time::Timestamp;

/// Which index a payout listing reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PayoutIndex {
    Status(PayoutStatus),
    User(u64),
    All,
}

impl PayoutIndex {
    fn name_and_key(&self) -> (&'static str, &'static str, String) {
        match self {
            PayoutIndex::Status(status) => (
                keys::INDEX_BY_STATUS,
                keys::STATUS_PK,
                keys::status_pk(*status),
            ),
            PayoutIndex::User(user_id) => {
                (keys::INDEX_BY_USER, keys::USER_PK, keys::user_pk(*user_id))
            }
            PayoutIndex::All => (keys::INDEX_BY_CREATED, keys::FEED_PK, keys::FEED.to_owned()),
        }
    }

    /// Names the listing a cursor belongs to, so a cursor from one cannot page another.
    pub fn scope(&self) -> String {
        self.name_and_key().2
    }
}

#[derive(Clone, Debug, Default)]
pub struct PayoutPage {
    pub payouts: Vec<Payout>,
    pub next: Option<PageKey>,
}

/// How a status change treats the processing lease.
#[derive(Clone, Copy, Debug)]
pub enum Lease<'a> {
    /// The change neither needs nor touches a lease (admin retry and cancel).
    NotHeld,
    /// Take the lease: only from a state nobody holds.
    Acquire(&'a str),
    /// Take over a lease that ran out at `expired_at`, as observed.
    TakeOver {
        token: &'a str,
        expired_at: Timestamp,
    },
    /// Settle under the lease we hold and give it up.
    Release(&'a str),
    /// The gateway's final word settles the attempt whoever holds it: any lease is
    /// dropped, and its holder's own settle then finds the payout moved on.
    Break,
}

/// One status change: the payout as it should be afterwards, written only if the stored
/// one is still in the state it was read in (and, where a lease is involved, ours).
#[derive(Clone, Debug)]
pub struct StatusChange<'a> {
    pub transition: Transition,
    pub next: Payout,
    pub lease: Lease<'a>,
    /// When set, the write also needs the stored gateway status to be absent or none
    /// of these: a gateway's report never overwrites a later one that won a race.
    pub gateway_status_not_in: Option<&'a [&'a str]>,
}

/// An order's completion as items: the order moves from one of `open_statuses` to
/// `completed_status`, its seller payout (if any) is created, its bounty (if any) is
/// credited to the scout.
#[derive(Clone, Copy, Debug)]
pub struct OrderCompletion<'a> {
    pub order_id: &'a str,
    pub open_statuses: &'a [&'a str],
    pub completed_status: &'a str,
    pub payout: Option<&'a Payout>,
    pub bounty: Option<(&'a str, Paise)>,
    pub now: Timestamp,
}

/// Why creating a payout was refused; nothing was written.
#[derive(Debug)]
pub enum CreateRefused {
    /// The scout is missing, is not the payout's owner's, or has less available.
    ScoutBalance,
    /// The request's idempotency key is already taken.
    IdempotencyKeyTaken,
    /// A payout with this id exists: one whose id derives from what it pays for (a
    /// schedule's period) was made already.
    PayoutExists,
    /// The schedule the payout was made for is no longer due at the time it was read
    /// (its owner changed it, or another sweep moved it on).
    ScheduleMoved,
    /// The order is missing or not open.
    OrderNotOpen,
    /// The order names a scout that does not exist.
    BountyScoutMissing,
    Failed(Error),
}

impl From<Error> for CreateRefused {
    fn from(error: Error) -> Self {
        CreateRefused::Failed(error)
    }
}

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

enum Written {
    Applied(Item),
    /// The condition did not hold; the stored item, if there is one.
    Refused(Option<Item>),
}

pub(crate) fn payout_item(payout: &Payout) -> Result<Item> {
    let mut item = with_key(
        to_item(payout)?,
        &keys::payout_pk(payout.payout_id),
        keys::PAYOUT_SK,
    );
    let created = keys::created_sk(payout.created_at, payout.payout_id);
    item.insert(
        keys::STATUS_PK.to_owned(),
        s(keys::status_pk(payout.status)),
    );
    item.insert(keys::USER_PK.to_owned(), s(keys::user_pk(payout.user_id)));
    item.insert(keys::FEED_PK.to_owned(), s(keys::FEED));
    item.insert(keys::CREATED_SK.to_owned(), s(created));
    Ok(item)
}

/// Accumulates an expression and its placeholders, so no attribute name is ever
/// spliced into an expression (several are DynamoDB reserved words, like `status`).
#[derive(Default)]
struct Expr {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    fn name(&mut self, attribute: &str) -> String {
        let placeholder = format!("#n{}", self.names.len());
        self.names.insert(placeholder.clone(), attribute.to_owned());
        placeholder
    }

    fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    fn update(
        self,
        table: &str,
        pk: String,
        sk: &str,
        update: String,
        condition: Option<String>,
    ) -> Result<Update> {
        built(
            Update::builder()
                .table_name(table)
                .set_key(Some(key(pk, sk)))
                .update_expression(update)
                .set_condition_expression(condition)
                .set_expression_attribute_names(Some(self.names).filter(|m| !m.is_empty()))
                .set_expression_attribute_values(Some(self.values).filter(|m| !m.is_empty()))
                .build(),
        )
    }
}

/// `ADD` clauses for the non-zero deltas, or `None` when there is nothing to change.
fn add_clause(expr: &mut Expr, deltas: &[(&str, i128)]) -> Option<String> {
    let parts: Vec<String> = deltas
        .iter()
        .filter(|(_, delta)| *delta != 0)
        .map(|(attribute, delta)| format!("{} {}", expr.name(attribute), expr.value(n(delta))))
        .collect();
    (!parts.is_empty()).then(|| format!("ADD {}", parts.join(", ")))
}

fn summary_update(table: &str, user_id: u64, deltas: &[(&str, i128)]) -> Result<Option<Update>> {
    let mut expr = Expr::default();
    match add_clause(&mut expr, deltas) {
        Some(clause) => Ok(Some(expr.update(
            table,
            keys::user_pk(user_id),
            keys::SUMMARY_SK,
            clause,
            None,
        )?)),
        None => Ok(None),
    }
}

fn put(item: Item, table: &str, condition: &str) -> Result<TransactWriteItem> {
    let put = built(
        Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression(condition)
            .build(),
    )?;
    Ok(TransactWriteItem::builder().put(put).build())
}

fn in_flight(status: PayoutStatus) -> i128 {
    i128::from(status.is_in_flight())
}

fn reserves(status: PayoutStatus) -> i128 {
    i128::from(status.holds_reservation())
}

fn paid(status: PayoutStatus) -> i128 {
    i128::from(status.is_paid())
}

/// The key DynamoDB would hand back after `item` on `index`: table key plus index key.
fn page_key(index: &PayoutIndex, item: &Item) -> PageKey {
    let (_, index_pk, _) = index.name_and_key();
    [keys::PK, keys::SK, index_pk, keys::CREATED_SK]
        .into_iter()
        .filter_map(|name| match item.get(name) {
            Some(AttributeValue::S(value)) => Some((name.to_owned(), value.clone())),
            _ => None,
        })
        .collect()
}

impl Store {
    pub async fn payout(&self, payout_id: Uuid) -> Result<Option<Payout>> {
        self.get(&keys::payout_pk(payout_id), keys::PAYOUT_SK).await
    }

    /// The payout, or `NotFound` (404) when there is none.
    pub async fn existing_payout(&self, payout_id: Uuid) -> Result<Payout> {
        self.payout(payout_id)
            .await?
            .ok_or_else(|| Error::NotFound {
                entity: "payout",
                id: payout_id.to_string(),
            })
    }

    /// Reserves the amount from the scout's available earnings and creates the payout,
    /// its summary entry and (if given) the idempotency record, all or nothing.
    pub async fn create_scout_payout(
        &self,
        payout: &Payout,
        scout_id: &str,
        idempotency: Option<&IdempotencyRecord>,
        schedule: Option<ScheduleAdvance<'_>>,
    ) -> Result<(), CreateRefused> {
        let amount = payout.amount_paise.get();
        let mut expr = Expr::default();
        let earnings = expr.name("earnings_paise");
        let reserved = expr.name("reserved_paise");
        let owner = expr.name("user_id");
        let amount_value = expr.value(n(amount));
        let owner_value = expr.value(n(payout.user_id));
        // The payout goes to the scout's owner: the condition holds that too, so a
        // caller that did not read the scout first cannot pay someone else.
        let reserve = expr.update(
            &self.table,
            keys::scout_pk(scout_id),
            keys::SCOUT_SK,
            format!("SET {earnings} = {earnings} - {amount_value} ADD {reserved} {amount_value}"),
            Some(format!(
                "attribute_exists(pk) AND {owner} = {owner_value} AND {earnings} >= {amount_value}"
            )),
        )?;

        let mut items = vec![
            update_item(reserve),
            put(
                payout_item(payout)?,
                &self.table,
                "attribute_not_exists(pk)",
            )?,
        ];
        items.extend(self.creation_summary(payout)?);
        let idempotency_position = items.len();
        if let Some(record) = idempotency {
            let item = with_key(
                to_item(record)?,
                &keys::idempotency_pk(record.user_id, &record.key),
                keys::IDEMPOTENCY_SK,
            );
            items.push(put(item, &self.table, "attribute_not_exists(pk)")?);
        }
        // A scheduled payout moves its schedule on in the same transaction: no payout
        // for a schedule changed meanwhile, and no period left due after its payout.
        let schedule_position = items.len();
        if let Some(advance) = schedule {
            items.push(update_item(self.schedule_advance(advance)?));
        }
        // Last, so that the positions above stay what the refusals below name.
        items.extend(self.creation_counters(payout)?);

        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TransactFailure::ConditionFailed(refused))
                if schedule.is_some() && refused.at(schedule_position) =>
            {
                Err(CreateRefused::ScheduleMoved)
            }
            Err(TransactFailure::ConditionFailed(refused)) if refused.at(idempotency_position) => {
                Err(CreateRefused::IdempotencyKeyTaken)
            }
            // Before the balance: a period paid already is the answer even if the
            // balance has since dropped too.
            Err(TransactFailure::ConditionFailed(refused)) if refused.at(1) => {
                Err(CreateRefused::PayoutExists)
            }
            Err(TransactFailure::ConditionFailed(refused)) if refused.at(0) => {
                Err(CreateRefused::ScoutBalance)
            }
            Err(TransactFailure::ConditionFailed(_)) => {
                Err(CreateRefused::Failed(Error::Conflict(format!(
                    "payout {} could not be created; try again",
                    payout.payout_id
                ))))
            }
            Err(TransactFailure::Contended) => {
                Err(CreateRefused::Failed(TransactFailure::contended()))
            }
            Err(TransactFailure::Other(error)) => Err(CreateRefused::Failed(error)),
        }
    }

    /// Completes the order, creates its seller payout (if it has one; its id derives from
    /// the order id, so never twice) and credits the order's scout bounty, all or nothing.
    pub async fn complete_order(
        &self,
        completion: OrderCompletion<'_>,
    ) -> Result<(), CreateRefused> {
        let OrderCompletion {
            order_id,
            open_statuses,
            completed_status,
            payout,
            bounty,
            now,
        } = completion;
        let mut expr = Expr::default();
        let status = expr.name("status");
        let open: Vec<String> = open_statuses
            .iter()
            .map(|state| expr.value(s(*state)))
            .collect();
        let completed = expr.value(s(completed_status));
        let completed_at = expr.name("completed_at");
        let now_value = expr.value(s(now.to_string()));
        let mut sets = format!("{status} = {completed}, {completed_at} = {now_value}");
        if let Some(payout) = payout {
            let payout_id = expr.name("payout_id");
            let payout_id_value = expr.value(s(payout.payout_id.to_string()));
            sets.push_str(&format!(", {payout_id} = {payout_id_value}"));
        }
        let complete = expr.update(
            &self.table,
            keys::order_pk(order_id),
            keys::ORDER_SK,
            format!("SET {sets}"),
            Some(format!(
                "attribute_exists(pk) AND {status} IN ({})",
                open.join(", ")
            )),
        )?;

        let mut items = vec![update_item(complete)];
        if let Some(payout) = payout {
            items.push(put(
                payout_item(payout)?,
                &self.table,
                "attribute_not_exists(pk)",
            )?);
            items.extend(self.creation_summary(payout)?);
        }
        let bounty_position = items.len();
        if let Some((scout_id, bounty)) = bounty {
            let mut expr = Expr::default();
            let clause = add_clause(
                &mut expr,
                &[
                    ("earnings_paise", i128::from(bounty.get())),
                    ("credited_paise", i128::from(bounty.get())),
                ],
            )
            .unwrap_or_default();
            let credit = expr.update(
                &self.table,
                keys::scout_pk(scout_id),
                keys::SCOUT_SK,
                clause,
                Some("attribute_exists(pk)".to_owned()),
            )?;
            items.push(update_item(credit));
        }
        if let Some(payout) = payout {
            items.extend(self.creation_counters(payout)?);
        }

        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TransactFailure::ConditionFailed(refused)) if refused.at(0) => {
                Err(CreateRefused::OrderNotOpen)
            }
            Err(TransactFailure::ConditionFailed(refused)) if refused.at(bounty_position) => {
                Err(CreateRefused::BountyScoutMissing)
            }
            Err(TransactFailure::ConditionFailed(_)) => Err(CreateRefused::Failed(
                Error::Conflict(format!("order {order_id}'s payout already exists")),
            )),
            Err(TransactFailure::Contended) => {
                Err(CreateRefused::Failed(TransactFailure::contended()))
            }
            Err(TransactFailure::Other(error)) => Err(CreateRefused::Failed(error)),
        }
    }

    /// A new payout on the counters: one more in its status and of its type.
    fn creation_counters(&self, payout: &Payout) -> Result<Vec<TransactWriteItem>> {
        self.counter_updates(CounterChange::creation(payout))
    }

    /// A status change on the counters: one fewer in the old status, one more in the
    /// new; in the hour and day buckets, a completion or failure reached is added, and
    /// one left (returned by the bank, retried, cancelled) is retracted from where it
    /// was added, so that a payout counts there once, by how it ended. `payout` is the
    /// copy the write is conditioned on, `at` the `updated_at` it writes.
    fn transition_counters(
        &self,
        payout: &Payout,
        from: PayoutStatus,
        to: PayoutStatus,
        at: Timestamp,
    ) -> Result<Vec<TransactWriteItem>> {
        if from == to {
            return Ok(Vec::new());
        }
        self.counter_updates(CounterChange::transition(payout, from, to, at))
    }

    fn creation_summary(&self, payout: &Payout) -> Result<Option<TransactWriteItem>> {
        let amount = i128::from(payout.amount_paise.get());
        Ok(summary_update(
            &self.table,
            payout.user_id,
            &[
                ("total", 1),
                ("pending_paise", amount * in_flight(payout.status)),
            ],
        )?
        .map(update_item))
    }

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
        let from = current.status;
        if !transition.allows(from) {
            return Err(Error::InvalidTransition {
                payout_id: current.payout_id.to_string(),
                transition,
                status: from,
            });
        }
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
        let scout = match (&current.payout_type, &current.scout_id) {
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
        };

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
            let fixed = items.len();
            let mut rounds = 0;
            loop {
                // The counters hold no condition: they can never be what refuses. Each
                // round counts on a shard of its own choosing, so a round that lost to
                // busy counter items does not meet the same ones again.
                items.truncate(fixed);
                items.extend(self.transition_counters(current, from, to, next.updated_at)?);
                match self.transact(items.clone()).await {
                    // A transaction returns no item. What it wrote is what is stored,
                    // but for a gateway report (`track`) that may have landed alongside:
                    // it only writes `gateway_*` fields, and none of them is money.
                    Ok(()) => return Ok(next),
                    Err(TransactFailure::ConditionFailed(refused)) if refused.at(0) => {
                        break refused.stored(0).cloned();
                    }
                    Err(TransactFailure::ConditionFailed(refused))
                        if guard.is_some() && refused.at(1) =>
                    {
                        return Err(Error::Conflict(format!(
                            "the payout account of user {} changed while payout {} was being \
                             claimed; it stays pending",
                            current.user_id, current.payout_id
                        )));
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
        };
        self.explain_refusal(current, transition, &change_id, refused)
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
            return Err(Error::Conflict(format!(
                "payout {} is not as it was read (its amount, user or scout differ); read it again",
                current.payout_id
            )));
        }
        if stored.attempt != current.attempt || stored.attempt_sent_at != current.attempt_sent_at {
            return Err(Error::Conflict(format!(
                "payout {} changed while this request was working on it (now attempt {}); \
                 read it again",
                current.payout_id, stored.attempt
            )));
        }
        Err(Error::Conflict(format!(
            "payout {} is held by another processor",
            current.payout_id
        )))
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
        let mut before = to_item(current)?;
        let mut after = to_item(next)?;
        // Never copied from the payout in hand, which may be an older read: a history
        // written whole could drop an entry another request appended meanwhile.
        before.remove(HISTORY);
        after.remove(HISTORY);
        let mut expr = Expr::default();
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

        // The item must still be the one the caller read: same status, same attempt,
        // and the same send of it (a claim and requeue in between change the last).
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
        let mut condition = format!(
            "{status} = {observed} AND {attempt} = {observed_attempt} AND {sent_condition} \
             AND {amount} = {observed_amount} AND {user} = {observed_user} AND {scout_condition}"
        );
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
                other => Err(super::sdk_error(&other)),
            },
        }
    }

    /// One page of an index, in creation order (`newest_first` reverses it).
    pub async fn query_payouts(
        &self,
        index: &PayoutIndex,
        newest_first: bool,
        limit: usize,
        start: Option<PageKey>,
    ) -> Result<PayoutPage> {
        // One extra item tells whether another page exists, so `next` is `None` exactly
        // at the end instead of pointing at an empty page.
        let (mut items, _) = self
            .query_with(index, newest_first, limit + 1, start, None, None)
            .await?;
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|last| page_key(index, last))
        } else {
            None
        };
        Ok(PayoutPage {
            payouts: items.into_iter().map(from_item).collect::<Result<_>>()?,
            next,
        })
    }

    /// Where page `skip / limit + 1` starts: walks the index reading keys only, so the
    /// seed's `page` parameter costs keys, not items. `None` means past the end.
    pub async fn skip_payouts(
        &self,
        index: &PayoutIndex,
        newest_first: bool,
        mut skip: usize,
    ) -> Result<Option<Option<PageKey>>> {
        let mut start = None;
        while skip > 0 {
            let (items, next) = self
                .query_with(index, newest_first, skip, start, Some("pk"), None)
                .await?;
            skip -= items.len().min(skip);
            match next {
                Some(next) => start = Some(next),
                None => return Ok(None),
            }
        }
        Ok(Some(start))
    }

    /// Processing payouts whose lease ran out before `now` (stuck, or accepted by the
    /// gateway and due for another look), the longest overdue first: a payout the
    /// gateway keeps queued for days must not starve newer ones, so every due payout
    /// is read and the earliest due are taken. Reads every processing payout's item;
    /// see docs/DATA_MODEL.md.
    pub async fn expired_leases(&self, now: Timestamp, limit: usize) -> Result<Vec<Payout>> {
        let mut due: Vec<Payout> = Vec::new();
        let mut start = None;
        loop {
            let mut expr = Expr::default();
            let expiry = expr.name("lease_expires_at");
            let now_value = expr.value(s(now.to_string()));
            let (items, next) = self
                .query_with(
                    &PayoutIndex::Status(PayoutStatus::Processing),
                    false,
                    100,
                    start,
                    None,
                    Some((format!("{expiry} < {now_value}"), expr)),
                )
                .await?;
            for item in items {
                due.push(from_item(item)?);
            }
            match next {
                Some(next) => start = Some(next),
                None => break,
            }
        }
        due.sort_by_key(|payout| payout.lease_expires_at);
        due.truncate(limit);
        Ok(due)
    }

    async fn query_with(
        &self,
        index: &PayoutIndex,
        newest_first: bool,
        limit: usize,
        start: Option<PageKey>,
        projection: Option<&str>,
        filter: Option<(String, Expr)>,
    ) -> Result<(Vec<Item>, Option<PageKey>)> {
        let (index_name, key_attribute, key_value) = index.name_and_key();
        let (filter_expression, mut expr) = match filter {
            Some((expression, expr)) => (Some(expression), expr),
            None => (None, Expr::default()),
        };
        let key_name = expr.name(key_attribute);
        let key_placeholder = expr.value(s(key_value));
        let limit = i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000);
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index_name)
            .key_condition_expression(format!("{key_name} = {key_placeholder}"))
            .set_filter_expression(filter_expression)
            .set_projection_expression(projection.map(str::to_owned))
            .set_expression_attribute_names(Some(expr.names))
            .set_expression_attribute_values(Some(expr.values))
            .scan_index_forward(!newest_first)
            .limit(limit)
            .set_exclusive_start_key(start.map(|start| {
                start
                    .into_iter()
                    .map(|(name, value)| (name, s(value)))
                    .collect()
            }))
            .send()
            .await
            .map_err(|err| super::sdk_error(&err))?;
        let next = output.last_evaluated_key.map(|last| {
            last.into_iter()
                .filter_map(|(name, value)| match value {
                    AttributeValue::S(text) => Some((name, text)),
                    _ => None,
                })
                .collect()
        });
        Ok((output.items.unwrap_or_default(), next))
    }
}
