//! The account statement: every movement of the business balance as a `transaction`
//! line (https://razorpay.com/docs/api/x/transactions/), written as the money moves,
//! and `GET /v1/transactions` that reads it, newest first.
//!
//! A line is `{"id": "txn_…", "entity": "transaction", "account_number", "amount",
//! "currency": "INR", "credit", "debit", "balance", "source", "created_at"}`: `amount`
//! is its money (its `debit` or its `credit`, the other 0) and `balance` the business
//! balance right after it. Its `source` is what moved the money, as it was then:
//!
//! - a payout's debit: the payout, `{"id": "pout_…", "entity": "payout",
//!   "fund_account_id", "amount", "notes", "fees", "tax", "status", "utr", "mode",
//!   "created_at"}` (as RazorpayX documents it; `status` is `processing` when the money
//!   is taken). A payout processed for another amount has a second line with it as
//!   source, for the difference only, so its lines net to what was processed.
//! - a payout's money coming back (failed after the debit, or reversed): a credit whose
//!   source is `{"id": "rvrsl_…", "entity": "reversal", "payout_id": "pout_…", "amount",
//!   "fees", "tax", "utr", "created_at"}`. RazorpayX says its statement records
//!   reversals but does not document that source's shape: this one is our decision.
//! - funds added or taken out with `POST /_fake/balance`: `{"id": "bt_…", "entity":
//!   "bank_transfer", "payer_name", "payer_account", "payer_ifsc", "mode",
//!   "bank_reference", "amount"}`, a credit when the balance is raised, a debit when it is
//!   lowered (no line when it is unchanged).
//! - a penny drop and its money coming back: `{"id": "fav_…", "entity":
//!   "fund_account.validation", "amount"}`.
//!
//! The opening balance has no line. A debit never takes the balance below zero (its
//! `balance` then reads 0). Lines are kept in order of `created_at` (ties in the order
//! they were written), since a bulk booking or a control line may be dated in the past.
//! The control API can add lines no payout implies, remove one, and forget a payout with
//! its lines (see `control`).

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use serde_json::{json, Value};

use super::clock::unix_now;
use super::errors::{collection, open_list, Reply};
use super::fake::{Fake, Shared};
use super::ledger::{FakePayout, FakeTransaction};

/// A payout as a line's source: as it is now.
pub(super) fn payout_source(payout: &FakePayout) -> Value {
    json!({
        "id": payout.id,
        "entity": "payout",
        "fund_account_id": payout.fund_account_id,
        "amount": payout.amount,
        "notes": payout.notes,
        "fees": payout.fees,
        "tax": payout.tax,
        "status": payout.status,
        "utr": payout.utr,
        "mode": payout.mode,
        "created_at": payout.created_at,
    })
}

/// The reversal `id` of all of `payout`'s money, made at `at`, as a line's source.
pub(super) fn reversal_source(id: String, payout: &FakePayout, at: i64) -> Value {
    json!({
        "id": id,
        "entity": "reversal",
        "payout_id": payout.id,
        "amount": payout.amount,
        "fees": payout.fees,
        "tax": payout.tax,
        "utr": payout.utr,
        "created_at": at,
    })
}

/// A penny drop's money, out or back, as a line's source.
pub(super) fn validation_source(id: &str, amount: u64) -> Value {
    json!({"id": id, "entity": "fund_account.validation", "amount": amount})
}

impl Fake {
    /// Takes `amount` from the balance (down to zero at most) and writes its line, dated
    /// `at` (unix seconds). Nothing for 0.
    pub(super) fn debit(&mut self, amount: u64, source: Value, at: i64) -> Option<FakeTransaction> {
        if amount == 0 {
            return None;
        }
        self.ledger.balance = self.ledger.balance.saturating_sub(amount);
        Some(self.write_line(amount, 0, source, at))
    }

    /// Adds `amount` to the balance and writes its line, dated `at`. Nothing for 0.
    pub(super) fn credit(
        &mut self,
        amount: u64,
        source: Value,
        at: i64,
    ) -> Option<FakeTransaction> {
        if amount == 0 {
            return None;
        }
        self.ledger.balance = self.ledger.balance.saturating_add(amount);
        Some(self.write_line(0, amount, source, at))
    }

    /// The line for money just moved, after every line dated `at` or earlier: at the end
    /// unless it is dated in the past.
    fn write_line(&mut self, debit: u64, credit: u64, source: Value, at: i64) -> FakeTransaction {
        let line = FakeTransaction {
            id: self.statement_id("txn"),
            entity: "transaction".to_owned(),
            account_number: self.config.account_number.clone(),
            amount: debit + credit,
            currency: "INR".to_owned(),
            credit,
            debit,
            balance: self.ledger.balance,
            source,
            created_at: at,
        };
        let lines = &mut self.ledger.transactions;
        let place = lines.partition_point(|earlier| earlier.created_at <= at);
        lines.insert(place, line.clone());
        line
    }

    /// Sets the business balance as funds added or taken out would: a `bank_transfer`
    /// line for the difference, none when it is unchanged.
    pub(super) fn set_balance(&mut self, amount: u64) {
        let before = self.ledger.balance;
        if amount == before {
            return;
        }
        let difference = amount.abs_diff(before);
        let source = json!({
            "id": self.statement_id("bt"),
            "entity": "bank_transfer",
            "payer_name": "RazorpayX Test Mode",
            "payer_account": "0000000000000000",
            "payer_ifsc": "RAZR0000001",
            "mode": "NEFT",
            // From the sequence, not the seeded generator: see `Fake::statement_id`.
            "bank_reference": format!("FAKE{:012}", self.ledger.sequence),
            "amount": difference,
        });
        if amount > before {
            self.credit(difference, source, unix_now());
        } else {
            self.debit(difference, source, unix_now());
        }
    }
}

/// `GET /v1/transactions?account_number=&from=&to=&count=&skip=`: the statement, newest
/// first, checked as the payouts list is.
pub(super) async fn list_transactions(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Reply {
    let (fake, page) = open_list(&shared, &headers, &query)?;
    let items: Vec<Value> = fake
        .ledger
        .transactions
        .iter()
        .rev()
        .filter(|line| page.holds(line.created_at))
        .skip(page.skip)
        .take(page.count)
        .map(FakeTransaction::public)
        .collect();
    collection(items)
}
