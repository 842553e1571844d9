//! The simulated gateway (the default, `PAYMENT_GATEWAY=simulated`). It behaves like a real one where it matters for correctness:
//! it is idempotent by key *across processes* — its ledger lives in the table as
//! `GATEWAY#<key>` items — so a Lambda that dies after paying and a later run that
//! asks again see the same transfer, never a second one.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{GatewayError, GatewayPayout, GatewayReport, PaymentGateway, TransferOutcome};
use crate::config::SimulatedGatewayConfig;
use crate::razorpayx::status::RazorpayxStatus;
use domain::money::Paise;
use domain::payout::{GatewayStatusDetails, IdempotencyKey, Payout};
use domain::time::Timestamp;
use store::Store;

/// Reasons a bank gives, so failed payouts look like the real thing in the admin list.
const DECLINE_REASONS: [&str; 4] = [
    "beneficiary account is closed (simulated)",
    "beneficiary bank declined the transfer (simulated)",
    "invalid IFSC for beneficiary account (simulated)",
    "beneficiary name does not match the account (simulated)",
];

/// One transfer as the simulated gateway's ledger holds it.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct SimulatedTransfer {
    key: IdempotencyKey,
    payout_id: Uuid,
    amount_paise: Paise,
    outcome: TransferOutcome,
    created_at: Timestamp,
}

#[derive(Debug)]
pub struct SimulatedGateway {
    ledger: Store,
    success_rate: f64,
    latency: Duration,
    seed: u64,
    calls: Mutex<HashMap<IdempotencyKey, u32>>,
}

impl SimulatedGateway {
    pub fn new(ledger: Store, config: SimulatedGatewayConfig) -> Self {
        SimulatedGateway {
            ledger,
            success_rate: config.success_rate,
            latency: Duration::from_millis(config.latency_ms),
            seed: config.seed.unwrap_or_else(rand::random),
            calls: Mutex::new(HashMap::new()),
        }
    }

    /// How often this instance was asked to transfer under each key (tests and benches
    /// use it to prove that no key was sent twice).
    pub fn transfer_calls(&self) -> HashMap<IdempotencyKey, u32> {
        self.calls
            .lock()
            .map(|calls| calls.clone())
            .unwrap_or_default()
    }

    /// The outcome is a function of the seed and the key alone, so a seeded run decides
    /// the same way however its payouts interleave.
    fn decide(&self, key: &IdempotencyKey, now: Timestamp) -> TransferOutcome {
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        let mut rng = StdRng::seed_from_u64(self.seed ^ hasher.finish());
        if rng.random_bool(self.success_rate) {
            TransferOutcome::Paid {
                reference: format!("PAY-{}-{:08x}", now.unix_millis(), rng.random::<u32>()),
                gateway_payout_id: None,
            }
        } else {
            let reason = DECLINE_REASONS[rng.random_range(0..DECLINE_REASONS.len())];
            TransferOutcome::Declined {
                reason: reason.to_owned(),
            }
        }
    }

    async fn recorded(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<TransferOutcome>, GatewayError> {
        let transfer: Option<SimulatedTransfer> = self
            .ledger
            .simulated_transfer(key)
            .await
            .map_err(|err| GatewayError::Unavailable(err.to_string()))?;
        Ok(transfer.map(|transfer| transfer.outcome))
    }

    /// The bank's own hand, as a person at its back office (tests, and discrepancies
    /// made on purpose): books `outcome` for `amount` under `key` for payout
    /// `payout_id`, over whatever is booked there, with no notice to anyone. A new key
    /// is a transfer nobody asked for; an existing one changes what it came to.
    pub async fn book_by_hand(
        &self,
        key: &IdempotencyKey,
        payout_id: Uuid,
        amount: Paise,
        outcome: TransferOutcome,
    ) -> Result<(), GatewayError> {
        let created_at = match self
            .ledger
            .simulated_transfer::<SimulatedTransfer>(key)
            .await
        {
            Ok(Some(existing)) => existing.created_at,
            Ok(None) => Timestamp::now(),
            Err(err) => return Err(GatewayError::Unavailable(err.to_string())),
        };
        let transfer = SimulatedTransfer {
            key: key.clone(),
            payout_id,
            amount_paise: amount,
            outcome,
            created_at,
        };
        self.ledger
            .overwrite_simulated_transfer(key, &transfer, created_at)
            .await
            .map_err(|err| GatewayError::Unavailable(err.to_string()))
    }

    /// The bank's own hand: loses the transfer booked under `key`.
    pub async fn forget_by_hand(&self, key: &IdempotencyKey) -> Result<(), GatewayError> {
        self.ledger
            .forget_simulated_transfer(key)
            .await
            .map_err(|err| GatewayError::Unavailable(err.to_string()))
    }
}

impl SimulatedTransfer {
    /// The transfer as a real gateway lists a payout, in RazorpayX's words for its
    /// status (the simulated bank settles at once, so it only ever has final ones).
    fn listed(&self) -> GatewayPayout {
        let (status, reason) = match &self.outcome {
            TransferOutcome::Paid { .. } => ("processed", None),
            TransferOutcome::Declined { reason } => ("failed", Some(reason.clone())),
            TransferOutcome::Reversed { reason } => ("reversed", Some(reason.clone())),
            TransferOutcome::Accepted { gateway_status, .. } => (gateway_status.as_str(), None),
        };
        GatewayPayout {
            created_at: self.created_at,
            reference: Some(self.payout_id.to_string()),
            report: GatewayReport {
                payout_id: Some(self.payout_id),
                idempotency_key: Some(self.key.to_string()),
                // The ledger's own name for the transfer: its key.
                gateway_payout_id: self.key.to_string(),
                gateway_status: status.to_owned(),
                amount_paise: Some(self.amount_paise.get()),
                fund_account_id: None,
                details: GatewayStatusDetails {
                    reason: None,
                    description: reason,
                    source: None,
                },
                outcome: self.outcome.clone(),
                not_after: RazorpayxStatus::parse(status).not_after(),
            },
        }
    }
}

impl PaymentGateway for SimulatedGateway {
    fn name(&self) -> &'static str {
        "simulated"
    }

    async fn payouts_made(
        &self,
        from: Timestamp,
        to: Timestamp,
        status: Option<&'static str>,
    ) -> Result<Vec<GatewayPayout>, GatewayError> {
        let transfers: Vec<SimulatedTransfer> = self
            .ledger
            .simulated_transfers_made(from, to)
            .await
            .map_err(|err| GatewayError::Unavailable(err.to_string()))?;
        Ok(transfers
            .iter()
            .map(SimulatedTransfer::listed)
            .filter(|listed| status.is_none_or(|status| listed.report.gateway_status == status))
            .collect())
    }

    /// Under each of its attempts' keys: the ledger is kept by key, and a transfer
    /// booked under another key for this payout is found only in the day's list.
    async fn payouts_of(&self, payout: &Payout) -> Result<Vec<GatewayPayout>, GatewayError> {
        let keys: Vec<IdempotencyKey> = (1..=payout.attempt)
            .map(|attempt| IdempotencyKey::for_attempt(payout.payout_id, attempt))
            .collect();
        let transfers: Vec<SimulatedTransfer> = self
            .ledger
            .simulated_transfers(&keys)
            .await
            .map_err(|err| GatewayError::Unavailable(err.to_string()))?;
        Ok(transfers.iter().map(SimulatedTransfer::listed).collect())
    }

    async fn transfer(
        &self,
        key: &IdempotencyKey,
        payout: &Payout,
    ) -> Result<TransferOutcome, GatewayError> {
        if let Ok(mut calls) = self.calls.lock() {
            *calls.entry(key.clone()).or_default() += 1;
        }
        // Write first, read only on a clash: a replayed key is rare, and the
        // conditional put is what makes the ledger idempotent either way.
        tokio::time::sleep(self.latency).await;
        let now = Timestamp::now();
        let transfer = SimulatedTransfer {
            key: key.clone(),
            payout_id: payout.payout_id,
            amount_paise: payout.amount_paise,
            outcome: self.decide(key, now),
            created_at: now,
        };
        let inserted = self
            .ledger
            .record_simulated_transfer(key, &transfer, now)
            .await
            .map_err(|err| GatewayError::Unavailable(err.to_string()))?;
        if inserted {
            return Ok(transfer.outcome);
        }
        // This key was sent before (a retry after a timeout, or a concurrent caller):
        // the first transfer stands, as at a real gateway.
        self.recorded(key).await?.ok_or_else(|| {
            GatewayError::Unavailable(format!("transfer {key} vanished from the ledger"))
        })
    }

    async fn lookup(
        &self,
        key: &IdempotencyKey,
        _payout: &Payout,
    ) -> Result<Option<TransferOutcome>, GatewayError> {
        self.recorded(key).await
    }
}
