//! Creating a payout: a scout's request (the reservation and the idempotency record
//! in the same transaction) and an order's completion (the order, its payout and the
//! summary, once per order).

use aws_sdk_dynamodb::types::AttributeValue;

use crate::keys;
use crate::orders::revision_clause;
use crate::schedules::ScheduleAdvance;
use crate::transact::TransactFailure;
use crate::{n, s, to_item, update_item, with_key, IdempotencyRecord, Store};
use domain::error::{Conflict, Error, Result};
use domain::order::OrderStatus;
use domain::payout::Payout;

use super::{payout_item, CreateRefused, OrderCompletion};
use crate::expr::{add_clause, put, Expr};

impl Store {
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
        let active = expr.name("active");
        let active_value = expr.value(AttributeValue::Bool(true));
        // The payout goes to the scout's owner: the condition holds that too, so a
        // caller that did not read the scout first cannot pay someone else. A scout the
        // marketplace deactivated requests nothing (scouts stored before that flag
        // existed have none, and are active).
        let reserve = expr.update(
            &self.table,
            keys::scout_pk(scout_id),
            keys::SCOUT_SK,
            format!("SET {earnings} = {earnings} - {amount_value} ADD {reserved} {amount_value}"),
            Some(format!(
                "attribute_exists(pk) AND {owner} = {owner_value} AND {earnings} >= {amount_value} \
                 AND (attribute_not_exists({active}) OR {active} = {active_value})"
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
            Err(TransactFailure::ConditionFailed(_)) => Err(CreateRefused::Failed(
                Error::Conflict(Conflict::Contended(format!(
                    "payout {} could not be created; try again",
                    payout.payout_id
                ))),
            )),
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
            read_revision,
            read_status,
            payout,
            bounty,
            now,
        } = completion;
        let mut expr = Expr::default();
        let condition = revision_clause(&mut expr, read_revision, read_status);
        let status = expr.name("status");
        let completed = expr.value(s(OrderStatus::Completed.as_str()));
        let completed_at = expr.name("completed_at");
        let updated_at = expr.name("updated_at");
        let now_value = expr.value(s(now.to_string()));
        let revision = expr.name("revision");
        let next_revision = expr.value(n(read_revision + 1));
        let mut sets = format!(
            "{status} = {completed}, {completed_at} = {now_value}, {updated_at} = {now_value}, \
             {revision} = {next_revision}"
        );
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
            Some(condition),
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
            Err(TransactFailure::ConditionFailed(_)) => {
                Err(CreateRefused::Failed(Error::Conflict(Conflict::Refused(
                    format!("order {order_id}'s payout already exists"),
                ))))
            }
            Err(TransactFailure::Contended) => {
                Err(CreateRefused::Failed(TransactFailure::contended()))
            }
            Err(TransactFailure::Other(error)) => Err(CreateRefused::Failed(error)),
        }
    }
}
