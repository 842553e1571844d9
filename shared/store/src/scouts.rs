//! Scouts: read one, add one whose balances add up, change what the marketplace says
//! about it, and credit or debit its earnings with the entry that records why.

use aws_sdk_dynamodb::types::AttributeValue;

use domain::error::{Error, Result};
use domain::scout::{EarningsDirection, EarningsEntry, Scout};

use crate::expr::{put, Expr};
use crate::transact::TransactFailure;
use crate::{keys, n, s, to_item, update_item, with_key, Store};

/// A change of a scout's profile, as the marketplace said it.
#[derive(Clone, Copy, Debug)]
pub struct ScoutProfileUpdate<'a> {
    pub scout_id: &'a str,
    /// Who must still own it.
    pub owner: u64,
    pub display_name: Option<&'a str>,
    pub active: bool,
    /// An event's time: written, and required to be no older than the one stored.
    pub as_of: Option<domain::time::Timestamp>,
}

/// Why an earnings entry was not written; nothing was.
#[derive(Debug)]
pub enum EarningsRefused {
    /// An entry under this key exists already (a replay, or the key reused).
    KeyTaken,
    /// The scout is missing, or (a debit) has less available than the amount.
    ScoutBalance,
    Failed(Error),
}

impl Store {
    pub async fn scout(&self, scout_id: &str) -> Result<Option<Scout>> {
        self.get(&keys::scout_pk(scout_id), keys::SCOUT_SK).await
    }

    /// The scout, or `NotFound` when there is none.
    pub async fn existing_scout(&self, scout_id: &str) -> Result<Scout> {
        self.scout(scout_id).await?.ok_or_else(|| Error::NotFound {
            entity: "scout",
            id: scout_id.to_owned(),
        })
    }

    /// Adds a scout unless one with this id exists; `false` when it did.
    pub async fn insert_scout(&self, scout: &Scout) -> Result<bool> {
        if !scout.balances_add_up() {
            return Err(Error::BadRequest(format!(
                "scout {} balances do not add up to credited_paise",
                scout.scout_id
            )));
        }
        self.insert(&keys::scout_pk(&scout.scout_id), keys::SCOUT_SK, scout)
            .await
    }

    /// Sets the marketplace's profile of a scout (its name, whether it is active),
    /// only while the update's owner owns it and, for an event, no later one was
    /// applied: `false` when it is gone, owned by another user, or newer already. Its
    /// balances are not touched.
    pub async fn update_scout_profile(&self, update: ScoutProfileUpdate<'_>) -> Result<bool> {
        let mut expr = Expr::default();
        let owner_name = expr.name("user_id");
        let owner_value = expr.value(n(update.owner));
        let active_name = expr.name("active");
        let active_value = expr.value(AttributeValue::Bool(update.active));
        let display = expr.name("display_name");
        let mut sets = vec![format!("{active_name} = {active_value}")];
        let mut removes = Vec::new();
        match update.display_name {
            Some(name) => {
                let name_value = expr.value(s(name));
                sets.push(format!("{display} = {name_value}"));
            }
            None => removes.push(display),
        }
        let mut condition = format!("attribute_exists(pk) AND {owner_name} = {owner_value}");
        if let Some(as_of) = update.as_of {
            let reported = expr.name("reported_at");
            let as_of_value = expr.value(s(as_of.to_string()));
            sets.push(format!("{reported} = {as_of_value}"));
            // Timestamps are written in one fixed-width form: text order is time order.
            condition.push_str(&format!(
                " AND (attribute_not_exists({reported}) OR {reported} <= {as_of_value})"
            ));
        }
        let mut expression = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        let update = expr.update(
            &self.table,
            keys::scout_pk(update.scout_id),
            keys::SCOUT_SK,
            expression,
            Some(condition),
        )?;
        self.transact_if(vec![update_item(update)]).await
    }

    /// The entry the marketplace sent under `idempotency_key` for this scout, if any.
    pub async fn earnings_entry(
        &self,
        scout_id: &str,
        idempotency_key: &str,
    ) -> Result<Option<EarningsEntry>> {
        self.get(
            &keys::scout_pk(scout_id),
            &keys::earning_sk(idempotency_key),
        )
        .await
    }

    /// Moves the scout's available earnings (and with them `credited`, everything it
    /// earned net of what was taken back) by the entry, and stores the entry under its
    /// key, all or nothing. A debit never takes `earnings` below zero.
    pub async fn record_earnings(&self, entry: &EarningsEntry) -> Result<(), EarningsRefused> {
        let amount = entry.amount_paise.get();
        let mut expr = Expr::default();
        let earnings = expr.name("earnings_paise");
        let credited = expr.name("credited_paise");
        let amount_value = expr.value(n(amount));
        let (update, condition) = match entry.direction {
            EarningsDirection::Credit => (
                format!("ADD {earnings} {amount_value}, {credited} {amount_value}"),
                "attribute_exists(pk)".to_owned(),
            ),
            // `credited` holds at least `earnings`, so it cannot go below zero either.
            EarningsDirection::Debit => (
                format!(
                    "SET {earnings} = {earnings} - {amount_value}, \
                     {credited} = {credited} - {amount_value}"
                ),
                // `credited` too: a scout whose books were already off must not be
                // taken below zero, which no later read could load.
                format!(
                    "attribute_exists(pk) AND {earnings} >= {amount_value} \
                     AND {credited} >= {amount_value}"
                ),
            ),
        };
        let balance = expr
            .update(
                &self.table,
                keys::scout_pk(&entry.scout_id),
                keys::SCOUT_SK,
                update,
                Some(condition),
            )
            .map_err(EarningsRefused::Failed)?;
        let item = to_item(entry)
            .map(|item| {
                with_key(
                    item,
                    &keys::scout_pk(&entry.scout_id),
                    &keys::earning_sk(&entry.idempotency_key),
                )
            })
            .and_then(|item| put(item, &self.table, "attribute_not_exists(sk)"))
            .map_err(EarningsRefused::Failed)?;
        match self.transact(vec![update_item(balance), item]).await {
            Ok(()) => Ok(()),
            // The key first: a replay of a debit that emptied the balance is a replay.
            Err(TransactFailure::ConditionFailed(refused)) if refused.at(1) => {
                Err(EarningsRefused::KeyTaken)
            }
            Err(TransactFailure::ConditionFailed(_)) => Err(EarningsRefused::ScoutBalance),
            Err(TransactFailure::Contended) => {
                Err(EarningsRefused::Failed(TransactFailure::contended()))
            }
            Err(TransactFailure::Other(error)) => Err(EarningsRefused::Failed(error)),
        }
    }
}
