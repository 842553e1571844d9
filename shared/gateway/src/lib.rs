//! The payment gateway seam (docs/ARCHITECTURE.md, "Where to add"): the simulated gateway
//! (default) and RazorpayX Payouts, behind one trait.
//!
//! Real gateways answer asynchronously, so a transfer has three answers: paid,
//! declined for good, or accepted and on its way (the payout stays `processing`
//! until a later look says more). Anything else is an error, and each error says what
//! may be done next: an unknown outcome is asked about again under the same key, a
//! rate limit waits, a refusal of our own credentials stops the run.

pub mod config;
pub mod pace;
mod razorpayx;
mod simulated;

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::config::GatewayConfig;
pub use domain::account::BeneficiaryIds;
use domain::account::{DestinationKind, PayoutAccount};
use domain::money::Paise;
use domain::payout::{EarlierAttempt, GatewayStatusDetails, IdempotencyKey, Payout};
use domain::time::Timestamp;
use store::Store;

pub use razorpayx::validation::Validation;
pub use razorpayx::{validation, webhook as razorpayx_webhook, RazorpayX};
pub use simulated::SimulatedGateway;

/// What the gateway did with an attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum TransferOutcome {
    Paid {
        reference: String,
        /// The gateway's own id for the transfer, when it has one (RazorpayX `pout_…`):
        /// kept on the payout, so a payout paid at once can still be looked up by it.
        gateway_payout_id: Option<String>,
    },
    /// Final: the same key will always be declined; a retry needs a new attempt.
    Declined { reason: String },
    /// Paid, then sent back by the bank (RazorpayX `reversed`): final for this key;
    /// the money is ours again and a retry needs a new attempt.
    Reversed { reason: String },
    /// Taken and on its way, not final (RazorpayX `queued`, `processing`, …).
    Accepted {
        gateway_payout_id: String,
        gateway_status: String,
    },
}

/// What a gateway told us, unasked, about one of its payouts (a webhook), in the
/// gateway's own terms: the service decides what it means for our payout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayReport {
    /// Our payout id, as we sent it (RazorpayX `reference_id`); `None` when the
    /// gateway's payout was not made by us.
    pub payout_id: Option<uuid::Uuid>,
    /// The idempotency key of the attempt it answers, as we sent it in the notes.
    pub idempotency_key: Option<String>,
    pub gateway_payout_id: String,
    pub gateway_status: String,
    /// What the gateway's payout is for, when it says: a report whose amount or
    /// destination is not our attempt's is not about our attempt.
    pub amount_paise: Option<u64>,
    pub fund_account_id: Option<String>,
    pub details: GatewayStatusDetails,
    pub outcome: TransferOutcome,
    /// The gateway statuses this report must not replace (its own, and the ones that
    /// come after it): a late or repeated report never undoes a newer one. A status
    /// the gateway adds later, unknown here, counts as the earliest.
    pub not_after: &'static [&'static str],
}

impl GatewayReport {
    /// Whether the report is about `payout`'s current attempt: by the gateway's id when
    /// we learned it; by the attempt's key when we did not (accepted, but the acceptance
    /// is not written yet, or its writer died).
    pub fn is_about_current_attempt(&self, payout: &Payout) -> bool {
        match payout.gateway_payout_id.as_deref() {
            Some(known) => known == self.gateway_payout_id,
            None => self.idempotency_key.as_deref() == Some(payout.idempotency_key().as_str()),
        }
    }

    /// The earlier attempt of `payout` the report is about, told apart the same way
    /// (another gateway payout under a reversed attempt's key is not that attempt).
    pub fn earlier_attempt_of<'a>(&self, payout: &'a Payout) -> Option<&'a EarlierAttempt> {
        payout
            .earlier_attempts
            .iter()
            .find(|earlier| match earlier.gateway_payout_id.as_deref() {
                Some(known) => known == self.gateway_payout_id,
                None => {
                    self.idempotency_key.as_deref()
                        == Some(
                            IdempotencyKey::for_attempt(payout.payout_id, earlier.attempt).as_str(),
                        )
                }
            })
    }
}

/// A payout as the gateway lists it: what it says of it, as a webhook about it would,
/// and when the gateway made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayPayout {
    pub created_at: Timestamp,
    /// The reference it carries as the gateway has it (ours are payout ids; a payout
    /// made by hand may carry anything, or nothing).
    pub reference: Option<String>,
    pub report: GatewayReport,
}

/// One line of the gateway's account statement: money into or out of the business
/// account, and what moved it. The statement is the bank's own record of money, apart
/// from what its payouts say of themselves: the reconciliation holds each to the other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementLine {
    /// The gateway's id for the line (RazorpayX `txn_…`).
    pub id: String,
    pub created_at: Timestamp,
    pub debit_paise: u64,
    pub credit_paise: u64,
    pub source: StatementSource,
}

/// What moved a statement line's money.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatementSource {
    /// A payout's money (leaving, or coming back as a correction of it).
    Payout {
        gateway_payout_id: String,
        /// The gateway's charges on it, which the line may include beside its amount.
        fees_paise: u64,
    },
    /// A payout's money sent back (a reversal, or a failure after the debit).
    Reversal {
        gateway_payout_id: String,
        /// The charges sent back with it, when the line says.
        fees_paise: u64,
    },
    /// Anything else: funds added, an account validation's penny.
    Other { entity: String },
}

impl StatementLine {
    /// The gateway payout whose money the line moved, if a payout's.
    pub fn gateway_payout_id(&self) -> Option<&str> {
        match &self.source {
            StatementSource::Payout {
                gateway_payout_id, ..
            }
            | StatementSource::Reversal {
                gateway_payout_id, ..
            } => Some(gateway_payout_id),
            StatementSource::Other { .. } => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// Timeout, 5xx, reset: the transfer may or may not exist. Asked about again under
    /// the same key, never paid afresh.
    #[error("gateway unavailable: {0}")]
    Unavailable(String),
    /// 429: nothing was created; try again later under the same key.
    #[error("gateway rate limit: {0}")]
    RateLimited(String),
    /// The gateway refused the request itself (a 400): nothing was created.
    #[error("gateway refused the request: {0}")]
    Refused(String),
    /// This request created nothing (the gateway refused it) and the gateway has no
    /// record under the key, but an earlier send was made under it: the caller, which
    /// knows how late that send can have left, decides whether it may still be created
    /// (ask again later) or the refusal is final (the gateway's reason).
    #[error("gateway refused a resend while an earlier send may still land: {0}")]
    EarlierSendMayLand(String),
    /// Our credentials or configuration were refused (401, a payout we cannot build):
    /// nothing to do with the payout, which must not be failed for it.
    #[error("gateway misconfigured: {0}")]
    Misconfigured(String),
}

pub trait PaymentGateway: Send + Sync {
    /// The gateway's name as configuration, reports and logs give it
    /// (`PAYMENT_GATEWAY`).
    fn name(&self) -> &'static str {
        "unnamed"
    }

    /// The gateway statuses that come after `status` in its lifecycle: a write of
    /// `status` must not replace one of them (a report that lost a race to a later one).
    fn statuses_after(&self, _status: &str) -> &'static [&'static str] {
        &[]
    }

    /// Whether a payout needs its user's payout account (a real bank does).
    fn requires_payout_account(&self) -> bool {
        false
    }

    /// How long after a send the gateway may still create a transfer we have no record
    /// of (its own lag): past this and our lease, "no record" means never.
    fn late_transfer_window_secs(&self) -> u64 {
        0
    }

    /// The transfer mode for `amount` to `destination`, fixed on the attempt when it is
    /// claimed (every send under one key is the same request).
    fn mode_for(&self, destination: DestinationKind, amount: Paise) -> &'static str {
        let _ = amount;
        match destination {
            DestinationKind::BankAccount => "IMPS",
            DestinationKind::Vpa => "UPI",
        }
    }

    /// The account payouts are made from, recorded on each attempt when it is claimed
    /// (`None`: the gateway has no such notion).
    fn paying_account(&self) -> Option<&str> {
        None
    }

    /// Whether calls can be made at all (our credentials can be read and are usable):
    /// asked before a payout is claimed, so a configuration fault never marks an
    /// attempt as sent when nothing was.
    fn ready(&self) -> impl Future<Output = Result<(), GatewayError>> + Send {
        async { Ok(()) }
    }

    /// Registers where `account` is paid (idempotent at the gateway: the same details
    /// give the same ids).
    fn register_beneficiary(
        &self,
        account: &PayoutAccount,
    ) -> impl Future<Output = Result<BeneficiaryIds, GatewayError>> + Send {
        let user = account.user_id;
        async move {
            Err(GatewayError::Misconfigured(format!(
                "this gateway keeps no beneficiaries (user {user})"
            )))
        }
    }

    /// Starts the check that `account`'s fund account exists under its name, or answers
    /// the one started for it since `since` (a check is paid for, and made once per
    /// destination).
    fn start_validation(
        &self,
        fund_account_id: &str,
        account: &PayoutAccount,
        since: Timestamp,
    ) -> impl Future<Output = Result<Validation, GatewayError>> + Send {
        let _ = (fund_account_id, since);
        let user = account.user_id;
        async move {
            Err(GatewayError::Misconfigured(format!(
                "this gateway cannot verify accounts (user {user})"
            )))
        }
    }

    /// A check as the gateway has it now.
    fn validation(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Validation, GatewayError>> + Send {
        let _ = id;
        async {
            Err(GatewayError::Misconfigured(
                "this gateway cannot verify accounts".to_owned(),
            ))
        }
    }

    /// Sends the payout's current attempt under `key`, at most once per key: the same
    /// key returns the first attempt's state, never a second transfer.
    fn transfer(
        &self,
        key: &IdempotencyKey,
        payout: &Payout,
    ) -> impl Future<Output = Result<TransferOutcome, GatewayError>> + Send;

    /// Every payout the gateway made in `[from, to)` (only those now in `status`, in the
    /// gateway's words, when one is given), each once: the gateway's side of the daily
    /// reconciliation.
    fn payouts_made(
        &self,
        from: Timestamp,
        to: Timestamp,
        status: Option<&'static str>,
    ) -> impl Future<Output = Result<Vec<GatewayPayout>, GatewayError>> + Send {
        let _ = (from, to, status);
        async {
            Err(GatewayError::Misconfigured(
                "this gateway cannot list its payouts".to_owned(),
            ))
        }
    }

    /// Every payout the gateway holds for `payout`, whichever attempt (or nobody's) made
    /// it: asked when the day's list leaves a payout's side in doubt.
    fn payouts_of(
        &self,
        payout: &Payout,
    ) -> impl Future<Output = Result<Vec<GatewayPayout>, GatewayError>> + Send {
        let id = payout.payout_id;
        async move {
            Err(GatewayError::Misconfigured(format!(
                "this gateway cannot list its payouts (payout {id})"
            )))
        }
    }

    /// One gateway payout by the gateway's own id; `None` when the gateway has no record
    /// of it.
    fn payout_by_id(
        &self,
        gateway_payout_id: &str,
    ) -> impl Future<Output = Result<Option<GatewayPayout>, GatewayError>> + Send {
        let id = gateway_payout_id.to_owned();
        async move {
            Err(GatewayError::Misconfigured(format!(
                "this gateway cannot look up its payouts (payout {id})"
            )))
        }
    }

    /// Every line of the account statement in `[from, to)`, each once; `None` when the
    /// gateway keeps no statement apart from its payouts (the simulated bank: its ledger
    /// is its payouts).
    fn statement(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> impl Future<Output = Result<Option<Vec<StatementLine>>, GatewayError>> + Send {
        let _ = (from, to);
        async { Ok(None) }
    }

    /// The state of an earlier attempt under this key, if the gateway has one.
    ///
    /// `Ok(None)` is a promise: the gateway holds nothing under this key, and nothing
    /// already sent under it can still create a transfer once our call has ended
    /// (cancel relies on it, past the lease). A gateway that cannot tell answers
    /// `Err`, never `None`.
    fn lookup(
        &self,
        key: &IdempotencyKey,
        payout: &Payout,
    ) -> impl Future<Output = Result<Option<TransferOutcome>, GatewayError>> + Send;
}

impl<G: PaymentGateway> PaymentGateway for std::sync::Arc<G> {
    fn name(&self) -> &'static str {
        G::name(self)
    }

    fn requires_payout_account(&self) -> bool {
        G::requires_payout_account(self)
    }

    fn ready(&self) -> impl Future<Output = Result<(), GatewayError>> + Send {
        G::ready(self)
    }

    fn mode_for(&self, destination: DestinationKind, amount: Paise) -> &'static str {
        G::mode_for(self, destination, amount)
    }

    fn paying_account(&self) -> Option<&str> {
        G::paying_account(self)
    }

    fn late_transfer_window_secs(&self) -> u64 {
        G::late_transfer_window_secs(self)
    }

    fn register_beneficiary(
        &self,
        account: &PayoutAccount,
    ) -> impl Future<Output = Result<BeneficiaryIds, GatewayError>> + Send {
        G::register_beneficiary(self, account)
    }

    fn start_validation(
        &self,
        fund_account_id: &str,
        account: &PayoutAccount,
        since: Timestamp,
    ) -> impl Future<Output = Result<Validation, GatewayError>> + Send {
        G::start_validation(self, fund_account_id, account, since)
    }

    fn validation(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Validation, GatewayError>> + Send {
        G::validation(self, id)
    }

    fn transfer(
        &self,
        key: &IdempotencyKey,
        payout: &Payout,
    ) -> impl Future<Output = Result<TransferOutcome, GatewayError>> + Send {
        G::transfer(self, key, payout)
    }

    fn lookup(
        &self,
        key: &IdempotencyKey,
        payout: &Payout,
    ) -> impl Future<Output = Result<Option<TransferOutcome>, GatewayError>> + Send {
        G::lookup(self, key, payout)
    }

    fn payouts_made(
        &self,
        from: Timestamp,
        to: Timestamp,
        status: Option<&'static str>,
    ) -> impl Future<Output = Result<Vec<GatewayPayout>, GatewayError>> + Send {
        G::payouts_made(self, from, to, status)
    }

    fn payouts_of(
        &self,
        payout: &Payout,
    ) -> impl Future<Output = Result<Vec<GatewayPayout>, GatewayError>> + Send {
        G::payouts_of(self, payout)
    }

    fn payout_by_id(
        &self,
        gateway_payout_id: &str,
    ) -> impl Future<Output = Result<Option<GatewayPayout>, GatewayError>> + Send {
        G::payout_by_id(self, gateway_payout_id)
    }

    fn statement(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> impl Future<Output = Result<Option<Vec<StatementLine>>, GatewayError>> + Send {
        G::statement(self, from, to)
    }
}

/// The gateway the configuration names, built once per process.
#[derive(Debug)]
pub enum Gateway {
    Simulated(SimulatedGateway),
    RazorpayX(RazorpayX),
}

impl Gateway {
    /// The gateway `config` names; the simulated bank keeps its ledger in `store`.
    pub fn from_config(config: &GatewayConfig, store: &Store) -> Result<Self, GatewayError> {
        Ok(match config {
            GatewayConfig::Simulated(simulated) => {
                Gateway::Simulated(SimulatedGateway::new(store.clone(), *simulated))
            }
            GatewayConfig::RazorpayX(razorpayx) => Gateway::RazorpayX(RazorpayX::new(razorpayx)?),
        })
    }
}

impl PaymentGateway for Gateway {
    fn name(&self) -> &'static str {
        match self {
            Gateway::Simulated(gateway) => gateway.name(),
            Gateway::RazorpayX(gateway) => gateway.name(),
        }
    }

    fn requires_payout_account(&self) -> bool {
        match self {
            Gateway::Simulated(gateway) => gateway.requires_payout_account(),
            Gateway::RazorpayX(gateway) => gateway.requires_payout_account(),
        }
    }

    async fn ready(&self) -> Result<(), GatewayError> {
        match self {
            Gateway::Simulated(gateway) => gateway.ready().await,
            Gateway::RazorpayX(gateway) => gateway.ready().await,
        }
    }

    fn mode_for(&self, destination: DestinationKind, amount: Paise) -> &'static str {
        match self {
            Gateway::Simulated(gateway) => gateway.mode_for(destination, amount),
            Gateway::RazorpayX(gateway) => gateway.mode_for(destination, amount),
        }
    }

    fn paying_account(&self) -> Option<&str> {
        match self {
            Gateway::Simulated(gateway) => gateway.paying_account(),
            Gateway::RazorpayX(gateway) => gateway.paying_account(),
        }
    }

    fn late_transfer_window_secs(&self) -> u64 {
        match self {
            Gateway::Simulated(gateway) => gateway.late_transfer_window_secs(),
            Gateway::RazorpayX(gateway) => gateway.late_transfer_window_secs(),
        }
    }

    async fn register_beneficiary(
        &self,
        account: &PayoutAccount,
    ) -> Result<BeneficiaryIds, GatewayError> {
        match self {
            Gateway::Simulated(gateway) => gateway.register_beneficiary(account).await,
            Gateway::RazorpayX(gateway) => gateway.register_beneficiary(account).await,
        }
    }

    async fn start_validation(
        &self,
        fund_account_id: &str,
        account: &PayoutAccount,
        since: Timestamp,
    ) -> Result<Validation, GatewayError> {
        match self {
            Gateway::Simulated(gateway) => {
                gateway
                    .start_validation(fund_account_id, account, since)
                    .await
            }
            Gateway::RazorpayX(gateway) => {
                PaymentGateway::start_validation(gateway, fund_account_id, account, since).await
            }
        }
    }

    async fn validation(&self, id: &str) -> Result<Validation, GatewayError> {
        match self {
            Gateway::Simulated(gateway) => gateway.validation(id).await,
            Gateway::RazorpayX(gateway) => PaymentGateway::validation(gateway, id).await,
        }
    }

    async fn transfer(
        &self,
        key: &IdempotencyKey,
        payout: &Payout,
    ) -> Result<TransferOutcome, GatewayError> {
        match self {
            Gateway::Simulated(gateway) => gateway.transfer(key, payout).await,
            Gateway::RazorpayX(gateway) => gateway.transfer(key, payout).await,
        }
    }

    async fn lookup(
        &self,
        key: &IdempotencyKey,
        payout: &Payout,
    ) -> Result<Option<TransferOutcome>, GatewayError> {
        match self {
            Gateway::Simulated(gateway) => gateway.lookup(key, payout).await,
            Gateway::RazorpayX(gateway) => gateway.lookup(key, payout).await,
        }
    }

    async fn payouts_made(
        &self,
        from: Timestamp,
        to: Timestamp,
        status: Option<&'static str>,
    ) -> Result<Vec<GatewayPayout>, GatewayError> {
        match self {
            Gateway::Simulated(gateway) => gateway.payouts_made(from, to, status).await,
            Gateway::RazorpayX(gateway) => gateway.payouts_made(from, to, status).await,
        }
    }

    async fn payouts_of(&self, payout: &Payout) -> Result<Vec<GatewayPayout>, GatewayError> {
        match self {
            Gateway::Simulated(gateway) => gateway.payouts_of(payout).await,
            Gateway::RazorpayX(gateway) => gateway.payouts_of(payout).await,
        }
    }

    async fn payout_by_id(
        &self,
        gateway_payout_id: &str,
    ) -> Result<Option<GatewayPayout>, GatewayError> {
        match self {
            Gateway::Simulated(gateway) => gateway.payout_by_id(gateway_payout_id).await,
            Gateway::RazorpayX(gateway) => gateway.payout_by_id(gateway_payout_id).await,
        }
    }

    async fn statement(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Option<Vec<StatementLine>>, GatewayError> {
        match self {
            Gateway::Simulated(gateway) => gateway.statement(from, to).await,
            Gateway::RazorpayX(gateway) => gateway.statement(from, to).await,
        }
    }
}
