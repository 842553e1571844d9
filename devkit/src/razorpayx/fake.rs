//! The fake's state behind its one lock: the configuration it was started with, its
//! books, its seeded generator and its webhook outbox, and what every part does with
//! them (ids, fault rolls, saving the books), and the request-rate budget (`rate`).

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use rand::rngs::StdRng;
use rand::RngExt;
use serde_json::Value;

use super::config::FakeConfig;
use super::ledger::Ledger;
use super::rate_budget::RateBudget;
use super::webhooks::{Outbox, SharedOutbox};

pub(super) struct Fake {
    pub(super) config: FakeConfig,
    pub(super) ledger: Ledger,
    pub(super) rng: StdRng,
    pub(super) webhooks: SharedOutbox,
    /// The `rate_limit_tps` budget and its counts: in memory only.
    pub(super) rate: RateBudget,
}

pub(super) type Shared = Arc<Mutex<Fake>>;

impl Fake {
    pub(super) fn roll(&mut self, rate: f64) -> bool {
        rate > 0.0 && self.rng.random_bool(rate.min(1.0))
    }

    pub(super) fn next_id(&mut self, prefix: &str) -> String {
        self.ledger.sequence += 1;
        let noise: u32 = self.rng.random();
        format!("{prefix}_{:06}{noise:08x}", self.ledger.sequence)
    }

    /// An id for the statement's own records (lines, reversals, funds added), drawn
    /// from the sequence alone: the seeded generator's rolls (faults, payout ids) stay
    /// what they were before the fake kept a statement, so a seed replays as it did.
    /// Its own sequence too, so the other records' ids are as they were.
    pub(super) fn statement_id(&mut self, prefix: &str) -> String {
        self.ledger.statement_sequence += 1;
        let sequence = self.ledger.statement_sequence;
        let mixed = sequence.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
        format!("{prefix}_{sequence:06}{mixed:08x}")
    }

    /// Queues the webhook for a payout that just changed; `entity` is its public view
    /// at that moment, which later changes must not alter. The `drop_webhooks` fault
    /// drops it instead.
    pub(super) fn emit(&mut self, entity: Value) {
        let dropped = self.roll(self.ledger.faults.drop_webhooks);
        self.emit_or_drop(entity, dropped);
    }

    /// As [`Fake::emit`], or drops the webhook when `dropped`.
    pub(super) fn emit_or_drop(&self, entity: Value, dropped: bool) {
        if dropped {
            self.outbox().payout_change_dropped(&entity);
        } else {
            self.outbox().payout_changed(&self.config.webhooks, entity);
        }
    }

    /// Queues the webhook for a validation that just settled.
    pub(super) fn emit_validation(&self, entity: Value) {
        self.outbox()
            .validation_settled(&self.config.webhooks, entity);
    }

    /// The outbox, under its lock. A poisoned one (a panic while it was held) panics
    /// here in turn, which poisons the fake's own lock: every later request fails loudly
    /// instead of webhooks being dropped unseen.
    fn outbox(&self) -> std::sync::MutexGuard<'_, Outbox> {
        self.webhooks
            .lock()
            .unwrap_or_else(|_| panic!("local RazorpayX: the webhook outbox is poisoned"))
    }

    pub(super) fn persist(&self) {
        let Some(path) = &self.config.state_file else {
            return;
        };
        if let Err(err) = write_atomically(path, &self.ledger) {
            eprintln!(
                "local RazorpayX: could not save {}: {err:#}",
                path.display()
            );
        }
    }
}

fn write_atomically(path: &Path, ledger: &Ledger) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let temporary = path.with_extension("json.tmp");
    std::fs::write(&temporary, serde_json::to_vec_pretty(ledger)?)?;
    std::fs::rename(&temporary, path)?;
    Ok(())
}
