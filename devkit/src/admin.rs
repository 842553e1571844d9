//! The three admin actions on one payout by name, for tests, chaos runs and the local
//! tools: each is [`act_on_payout`] with its action and no bulk request, as the
//! `process-payout`, `retry-payout` and `cancel-payout` routes call it.

use uuid::Uuid;

use domain::actor::Actor;
use domain::error::Result;
use domain::payout::{AdminAction, Payout};
use gateway::PaymentGateway;
use service::admin::act_on_payout;
use service::config::ProcessorConfig;
use store::Store;

pub async fn process_payout<G: PaymentGateway>(
    store: &Store,
    gateway: &G,
    config: ProcessorConfig,
    actor: &Actor,
    payout_id: Uuid,
) -> Result<Payout> {
    act_on_payout(
        store,
        gateway,
        config,
        actor,
        AdminAction::Process,
        None,
        payout_id,
    )
    .await
}

pub async fn retry_payout<G: PaymentGateway>(
    store: &Store,
    gateway: &G,
    config: ProcessorConfig,
    actor: &Actor,
    payout_id: Uuid,
) -> Result<Payout> {
    act_on_payout(
        store,
        gateway,
        config,
        actor,
        AdminAction::Retry,
        None,
        payout_id,
    )
    .await
}

/// Withdraws a pending, failed or reversed payout, never one the gateway may have paid
/// ([`Processor::cancel`]).
pub async fn cancel_payout<G: PaymentGateway>(
    store: &Store,
    gateway: &G,
    config: ProcessorConfig,
    actor: &Actor,
    payout_id: Uuid,
) -> Result<Payout> {
    act_on_payout(
        store,
        gateway,
        config,
        actor,
        AdminAction::Cancel,
        None,
        payout_id,
    )
    .await
}
