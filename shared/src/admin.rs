//! What admins do to a single payout: process it now, retry it, cancel it. Each
//! answers with the payout as it stands after the action.

use uuid::Uuid;

use crate::auth::Actor;
use crate::config::ProcessorConfig;
use crate::error::Result;
use crate::gateway::PaymentGateway;
use crate::payout::{Payout, Transition};
use crate::process::Processor;
use crate::store::{Lease, StatusChange, Store};
use crate::time::Timestamp;

pub async fn process_payout<G: PaymentGateway>(
    store: &Store,
    gateway: &G,
    config: ProcessorConfig,
    actor: &Actor,
    payout_id: Uuid,
) -> Result<Payout> {
    actor.require_admin()?;
    Processor::new(store, gateway, config)
        .process_one(payout_id)
        .await
}

pub async fn retry_payout<G: PaymentGateway>(
    store: &Store,
    gateway: &G,
    config: ProcessorConfig,
    actor: &Actor,
    payout_id: Uuid,
) -> Result<Payout> {
    actor.require_admin()?;
    Processor::new(store, gateway, config)
        .retry(payout_id)
        .await
}

/// Withdraws a pending or failed payout; a scout's reservation returns to its
/// available earnings in the same transaction.
pub async fn cancel_payout(store: &Store, actor: &Actor, payout_id: Uuid) -> Result<Payout> {
    actor.require_admin()?;
    let payout = store.existing_payout(payout_id).await?;
    let now = Timestamp::now();
    let mut next = payout.clone();
    next.cancelled_at = Some(now);
    next.updated_at = now;
    let cancelled = store
        .change_status(
            &payout,
            StatusChange {
                transition: Transition::Cancel,
                next,
                lease: Lease::NotHeld,
            },
        )
        .await?;
    tracing::info!(
        event = "payout_cancelled",
        payout_id = %payout_id,
        user_id = cancelled.user_id,
        amount_paise = cancelled.amount_paise.get(),
        by = actor.user_id,
        "payout cancelled"
    );
    Ok(cancelled)
}
