//! A scout's request to be paid out of the earnings it holds ([`domain::scout`]).

use tracing::info;
use uuid::Uuid;

use crate::config::PayoutLimits;
use domain::actor::Actor;
use domain::error::{Conflict, Error, Result};
use domain::money::Paise;
use domain::payout::{Payout, PayoutType};
pub use domain::scout::*;
use domain::time::Timestamp;
use store::{CreateRefused, IdempotencyRecord, Store};

/// A scout's request to be paid out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayoutRequest {
    pub scout_id: String,
    /// `None` asks for all available earnings.
    pub amount: Option<Paise>,
    /// The client's `Idempotency-Key`: the same key from the same user gets the first
    /// payout.
    pub idempotency_key: Option<String>,
}

/// Whether a request made a payout or found the one an earlier request made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requested {
    Created(Payout),
    Replayed(Payout),
}

impl Requested {
    pub fn payout(&self) -> &Payout {
        match self {
            Requested::Created(payout) | Requested::Replayed(payout) => payout,
        }
    }
}

/// How often a request re-reads the scout after losing a race for its balance.
const BALANCE_RACE_RETRIES: usize = 5;

/// Reserves earnings for a payout (docs/LIFECYCLE.md): the amount leaves
/// `earnings` for `reserved` in the same transaction that creates the payout, so the same
/// earnings can never be requested twice.
pub async fn request_payout(
    store: &Store,
    limits: PayoutLimits,
    actor: &Actor,
    request: PayoutRequest,
) -> Result<Requested> {
    if let Some(key) = &request.idempotency_key {
        check_idempotency_key(key)?;
        if let Some(record) = store.idempotency_record(actor.user_id, key).await? {
            return replay(store, &record, &request).await;
        }
    }
    if request.amount == Some(Paise::ZERO) {
        return Err(Error::BadRequest(
            "amount_paise must be positive".to_owned(),
        ));
    }

    if let Some(amount) = request.amount {
        check_limits(amount, limits)?;
    }
    // A user asking for a stated amount from their own scout needs no read: the
    // transaction's condition checks owner and balance, and only a refusal is
    // explained by reading the scout (the next round). One request, not two.
    let mut unread = request.amount.filter(|_| !actor.is_admin());
    for _ in 0..BALANCE_RACE_RETRIES {
        let (owner, amount) = match unread.take() {
            Some(amount) => (actor.user_id, amount),
            None => {
                let scout = store.existing_scout(&request.scout_id).await?;
                actor.require_owner(scout.user_id, "this scout")?;
                if !scout.active {
                    return Err(Error::ScoutInactive {
                        scout_id: request.scout_id.clone(),
                    });
                }
                let amount = match request.amount {
                    Some(amount) => amount,
                    None if scout.earnings_paise == Paise::ZERO => {
                        return Err(Error::NothingToPayOut)
                    }
                    None => scout.earnings_paise,
                };
                check_limits(amount, limits)?;
                if amount > scout.earnings_paise {
                    return Err(Error::InsufficientEarnings {
                        available: scout.earnings_paise,
                        requested: amount,
                    });
                }
                (scout.user_id, amount)
            }
        };

        let mut payout = Payout::new(
            Uuid::new_v4(),
            owner,
            PayoutType::ScoutBounty,
            amount,
            Timestamp::now(),
        );
        payout.scout_id = Some(request.scout_id.clone());
        let record = request
            .idempotency_key
            .as_ref()
            .map(|key| IdempotencyRecord {
                user_id: actor.user_id,
                key: key.clone(),
                scout_id: request.scout_id.clone(),
                requested_paise: request.amount,
                payout_id: payout.payout_id,
            });
        match store
            .create_scout_payout(&payout, &request.scout_id, record.as_ref(), None)
            .await
        {
            Ok(()) => {
                info!(
                    event = "payout_requested",
                    payout_id = %payout.payout_id,
                    user_id = payout.user_id,
                    scout_id = %request.scout_id,
                    amount_paise = amount.get(),
                    "scout payout requested"
                );
                return Ok(Requested::Created(payout));
            }
            Err(CreateRefused::IdempotencyKeyTaken) => {
                // A concurrent request with the same key won; answer as it did.
                let key = request.idempotency_key.as_deref().unwrap_or_default();
                let record = store
                    .idempotency_record(actor.user_id, key)
                    .await?
                    .ok_or_else(|| {
                        Error::Conflict(Conflict::Contended("Idempotency-Key is in use".to_owned()))
                    })?;
                return replay(store, &record, &request).await;
            }
            // Its id is new, so only this request can have made it: a round resent
            // after `TransactionInProgress` whose first try had landed after all.
            Err(CreateRefused::PayoutExists) => {
                let made = store.existing_payout(payout.payout_id).await?;
                return Ok(Requested::Created(made));
            }
            // Not the owner's, gone, deactivated, or the balance moved since it was
            // read: read it (again) to say which, or to try with what is there now.
            Err(CreateRefused::ScoutBalance) => continue,
            Err(CreateRefused::Failed(error)) => return Err(error),
            Err(other) => return Err(Error::Invariant(format!("unexpected refusal {other:?}"))),
        }
    }
    Err(Error::Conflict(Conflict::Contended(
        "the scout's balance is changing too fast; try again".to_owned(),
    )))
}

fn check_limits(amount: Paise, limits: PayoutLimits) -> Result<()> {
    if amount < limits.min || amount > limits.max {
        return Err(Error::AmountOutOfRange {
            requested: amount,
            min: limits.min,
            max: limits.max,
        });
    }
    Ok(())
}

/// 1–255 printable ASCII characters, as the HTTP header allows. Every route that
/// takes an `Idempotency-Key` holds it to this rule (`crate::bulk` too).
pub(crate) fn check_idempotency_key(key: &str) -> Result<()> {
    let printable = key.bytes().all(|byte| (0x20..=0x7e).contains(&byte));
    if key.is_empty() || key.len() > 255 || !printable {
        return Err(Error::BadRequest(
            "Idempotency-Key must be 1 to 255 printable ASCII characters".to_owned(),
        ));
    }
    Ok(())
}

async fn replay(
    store: &Store,
    record: &IdempotencyRecord,
    request: &PayoutRequest,
) -> Result<Requested> {
    if record.scout_id != request.scout_id || record.requested_paise != request.amount {
        return Err(Error::IdempotencyKeyReused);
    }
    let payout = store.payout(record.payout_id).await?.ok_or_else(|| {
        Error::inconsistent(format!(
            "payout {} of an idempotency record is missing",
            record.payout_id
        ))
    })?;
    Ok(Requested::Replayed(payout))
}
