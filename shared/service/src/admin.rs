//! What admins do to a single payout: process it now, retry it, cancel it. Each
//! answers with the payout as it stands after the action, and each status change it
//! makes goes into the payout's history with the admin's id and the time
//! ([`domain::payout::HistoryEntry`]).

use uuid::Uuid;

use crate::account::{self, AccountView};
use crate::config::ProcessorConfig;
use crate::process::Processor;
use domain::actor::Actor;
use domain::error::Result;
use domain::payout::{Acting, AdminAction, BulkOrigin, Payout};
use domain::time::Timestamp;
use gateway::PaymentGateway;
use store::{AccountRead, Store, ACCOUNT_READ_KEPT_DAYS};

/// `GET /users/{user_id}/payout-account`: an admin reads any user's account, and the
/// look is recorded first. A look that cannot be recorded is refused, so none goes
/// unrecorded.
pub async fn user_payout_account(
    store: &Store,
    actor: &Actor,
    user_id: u64,
) -> Result<AccountView> {
    actor.require_admin()?;
    if actor.user_id != user_id {
        let at = Timestamp::now();
        let kept_secs = ACCOUNT_READ_KEPT_DAYS * 86_400;
        store
            .record_account_read(&AccountRead {
                user_id,
                actor_user_id: actor.user_id,
                at,
                expires_at: at.plus_secs(kept_secs).unix_millis() / 1000,
            })
            .await?;
        tracing::info!(
            event = "payout_account_read",
            user_id,
            by = actor.user_id,
            "an admin read a user's payout account"
        );
    }
    account::payout_account_of(store, actor, user_id).await
}

/// One admin action on one payout, from its own route or from a bulk request (`bulk`,
/// which its history entries then name).
pub async fn act_on_payout<G: PaymentGateway>(
    store: &Store,
    gateway: &G,
    config: ProcessorConfig,
    actor: &Actor,
    action: AdminAction,
    bulk: Option<&BulkOrigin>,
    payout_id: Uuid,
) -> Result<Payout> {
    actor.require_admin()?;
    let processor = Processor::new(store, gateway, config).acting_for(Acting {
        action,
        actor_user_id: actor.user_id,
        bulk: bulk.cloned(),
    });
    match action {
        AdminAction::Process => processor.process_one(payout_id).await,
        AdminAction::Retry => processor.retry(payout_id).await,
        AdminAction::Cancel => {
            let cancelled = processor.cancel(payout_id).await?;
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
    }
}
