//! What admins do to a single payout: process it now, retry it, cancel it. Each
//! answers with the payout as it stands after the action.

use uuid::Uuid;

use crate::auth::Actor;
use crate::config::ProcessorConfig;
use crate::error::Result;
use crate::gateway::PaymentGateway;
use crate::payout::Payout;
use crate::process::Processor;
use crate::store::Store;

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

/// Withdraws a pending or failed payout, never one the gateway may have paid
/// ([`Processor::cancel`]).
pub async fn cancel_payout<G: PaymentGateway>(
    store: &Store,
    gateway: &G,
    config: ProcessorConfig,
    actor: &Actor,
    payout_id: Uuid,
) -> Result<Payout> {
    actor.require_admin()?;
    let cancelled = Processor::new(store, gateway, config)
        .cancel(payout_id)
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
