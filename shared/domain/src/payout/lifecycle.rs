//! The payout lifecycle as data: its statuses, every way one may change
//! ([`TRANSITIONS`]), and the rules beside it that each change is written under
//! ([`LEASE_RULES`]). The store turns them into the condition of every write.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayoutStatus {
    Pending,
    Processing,
    Completed,
    Failed,
    Cancelled,
    /// The gateway paid, then the bank sent the money back (closed account, wrong
    /// beneficiary): an admin sends it again or cancels it.
    Reversed,
}

impl PayoutStatus {
    pub const ALL: [PayoutStatus; 6] = [
        PayoutStatus::Pending,
        PayoutStatus::Processing,
        PayoutStatus::Completed,
        PayoutStatus::Failed,
        PayoutStatus::Cancelled,
        PayoutStatus::Reversed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PayoutStatus::Pending => "pending",
            PayoutStatus::Processing => "processing",
            PayoutStatus::Completed => "completed",
            PayoutStatus::Failed => "failed",
            PayoutStatus::Cancelled => "cancelled",
            PayoutStatus::Reversed => "reversed",
        }
    }

    /// Money in these states is still on its way to the user (`pending_paise`).
    pub fn is_in_flight(self) -> bool {
        matches!(self, PayoutStatus::Pending | PayoutStatus::Processing)
    }

    /// The user has this money: it counts in `paid_paise` and `total_paid_paise`.
    pub fn is_paid(self) -> bool {
        self == PayoutStatus::Completed
    }

    /// A scout payout in these states still holds its reservation (`reserved_paise`).
    pub fn holds_reservation(self) -> bool {
        matches!(
            self,
            PayoutStatus::Pending
                | PayoutStatus::Processing
                | PayoutStatus::Failed
                | PayoutStatus::Reversed
        )
    }
}

impl fmt::Display for PayoutStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PayoutStatus {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        PayoutStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or(())
    }
}

/// Every way a payout's status may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transition {
    /// A processor takes a pending payout and holds a lease on it while it pays.
    Claim,
    /// A processor takes over a payout whose holder's lease ran out.
    Reclaim,
    /// The gateway paid the attempt a processor holds.
    Complete,
    /// The gateway says an attempt that went back to the queue with its outcome unknown
    /// was paid after all (found when an admin cancels it, or reported by the gateway):
    /// recorded as paid, never sent again.
    Confirm,
    /// The gateway declined for good (also said of an attempt that went back to the
    /// queue with its outcome unknown).
    Fail,
    /// The gateway could not be reached, or a reclaimed attempt was never made:
    /// back to the queue with the same attempt (and so the same idempotency key).
    Requeue,
    /// The gateway accepted the attempt but has not finished it: the payout stays
    /// `processing`, held by nobody, due for another look at `lease_expires_at`.
    Accept,
    /// The gateway reports progress on an attempt it holds (queued, initiated): its
    /// status is recorded; nothing else changes.
    Track,
    /// The gateway says a paid attempt came back from the bank (or one we never heard
    /// was paid came back): the money is the user's no more, the reservation holds it.
    Reverse,
    /// An admin sends a failed or reversed payout round again, as a new attempt.
    Retry,
    /// An admin withdraws a payout that has not been paid, or whose payment came back.
    Cancel,
}

/// The payout lifecycle (docs/LIFECYCLE.md), as data: (transition, allowed from,
/// to).
pub const TRANSITIONS: &[(Transition, &[PayoutStatus], PayoutStatus)] = &[
    (
        Transition::Claim,
        &[PayoutStatus::Pending],
        PayoutStatus::Processing,
    ),
    (
        Transition::Reclaim,
        &[PayoutStatus::Processing],
        PayoutStatus::Processing,
    ),
    (
        Transition::Complete,
        &[PayoutStatus::Processing],
        PayoutStatus::Completed,
    ),
    (
        Transition::Confirm,
        &[PayoutStatus::Pending],
        PayoutStatus::Completed,
    ),
    (
        Transition::Fail,
        &[PayoutStatus::Processing, PayoutStatus::Pending],
        PayoutStatus::Failed,
    ),
    (
        Transition::Requeue,
        &[PayoutStatus::Processing],
        PayoutStatus::Pending,
    ),
    (
        Transition::Accept,
        &[PayoutStatus::Processing],
        PayoutStatus::Processing,
    ),
    (
        Transition::Track,
        &[PayoutStatus::Processing],
        PayoutStatus::Processing,
    ),
    (
        Transition::Reverse,
        &[
            PayoutStatus::Processing,
            PayoutStatus::Pending,
            PayoutStatus::Completed,
        ],
        PayoutStatus::Reversed,
    ),
    (
        Transition::Retry,
        &[PayoutStatus::Failed, PayoutStatus::Reversed],
        PayoutStatus::Pending,
    ),
    (
        Transition::Cancel,
        &[
            PayoutStatus::Pending,
            PayoutStatus::Failed,
            PayoutStatus::Reversed,
        ],
        PayoutStatus::Cancelled,
    ),
];

/// How a status change treats the processing lease, named by what it does (the store's
/// `Lease` carries the token), so that which one each transition takes is a rule of the
/// lifecycle rather than a habit of its callers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseUse {
    /// Neither needs nor touches a lease: an admin's change, or a report of progress.
    NotHeld,
    /// Takes the lease on a payout nobody holds.
    Acquire,
    /// Takes over a lease that ran out.
    TakeOver,
    /// Settles under the lease its writer holds, and gives it up.
    Release,
    /// The gateway's final word on the attempt: whatever lease there is is dropped, and
    /// its holder's own settle then finds the payout moved on.
    Break,
}

/// Which leases each transition may be written with, beside [`TRANSITIONS`]. The store
/// refuses a status change that breaks it before writing anything
/// ([`crate::error::Error::Invariant`]).
pub const LEASE_RULES: &[(Transition, &[LeaseUse])] = &[
    (Transition::Claim, &[LeaseUse::Acquire]),
    (Transition::Reclaim, &[LeaseUse::TakeOver]),
    // The processor settles under its lease; a webhook's report breaks any.
    (Transition::Complete, &[LeaseUse::Release, LeaseUse::Break]),
    // A cancel finds it paid (nobody holds a pending payout); or a webhook says so.
    (Transition::Confirm, &[LeaseUse::NotHeld, LeaseUse::Break]),
    (Transition::Fail, &[LeaseUse::Release, LeaseUse::Break]),
    (Transition::Requeue, &[LeaseUse::Release]),
    (Transition::Accept, &[LeaseUse::Release]),
    (Transition::Track, &[LeaseUse::NotHeld]),
    (Transition::Reverse, &[LeaseUse::Release, LeaseUse::Break]),
    (Transition::Retry, &[LeaseUse::NotHeld]),
    (Transition::Cancel, &[LeaseUse::NotHeld]),
];

/// What a status change does to the payout's attempt, the idempotency key its sends go
/// under. A key the gateway may hold a transfer for is given up only by a retry, and a
/// retry starts only from a status in which the gateway has finished with it (failed or
/// reversed, [`TRANSITIONS`]); a send of it is forgotten only when the gateway said that
/// send created nothing. So no change can leave a transfer the gateway may still make
/// behind a new key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptUse {
    /// The same attempt, and its last send that could still land is neither moved
    /// earlier nor forgotten (`Payout::sent_at`).
    Keeps,
    /// The same attempt; its last send may be forgotten, because the gateway said that
    /// send created nothing (refused, rate limited, never made), so the attempt is as it
    /// was before its claim. The store can check the attempt number only; that the
    /// gateway said so is the caller's to know (`process::changes::requeue_unsent`).
    ForgetsRefusedSend,
    /// The next attempt (a new key), nothing of it sent yet.
    StartsNext,
}

/// What each transition does to the attempt, beside [`TRANSITIONS`]; the store refuses
/// a status change that breaks it before writing anything
/// ([`crate::error::Error::Invariant`]).
pub const ATTEMPT_RULES: &[(Transition, AttemptUse)] = &[
    (Transition::Claim, AttemptUse::Keeps),
    (Transition::Reclaim, AttemptUse::Keeps),
    (Transition::Complete, AttemptUse::Keeps),
    (Transition::Confirm, AttemptUse::Keeps),
    // A decline ends the attempt under its own key: the gateway will not pay it.
    (Transition::Fail, AttemptUse::Keeps),
    (Transition::Requeue, AttemptUse::ForgetsRefusedSend),
    (Transition::Accept, AttemptUse::Keeps),
    (Transition::Track, AttemptUse::Keeps),
    (Transition::Reverse, AttemptUse::Keeps),
    (Transition::Retry, AttemptUse::StartsNext),
    // A cancel of a sent attempt first asks the gateway (`Processor::cancel`); the key
    // stays, so a late report of it still finds this payout.
    (Transition::Cancel, AttemptUse::Keeps),
];

// The three tables hold one row per transition, in the enum's order: a row added, dropped or
// moved fails the build here rather than a lookup at run time.
const _: () = {
    assert!(TRANSITIONS.len() == Transition::ALL.len());
    assert!(LEASE_RULES.len() == Transition::ALL.len());
    assert!(ATTEMPT_RULES.len() == Transition::ALL.len());
    let mut index = 0;
    while index < Transition::ALL.len() {
        assert!(Transition::ALL[index] as usize == index);
        assert!(TRANSITIONS[index].0 as usize == index);
        assert!(LEASE_RULES[index].0 as usize == index);
        assert!(ATTEMPT_RULES[index].0 as usize == index);
        assert!(!TRANSITIONS[index].1.is_empty());
        assert!(!LEASE_RULES[index].1.is_empty());
        index += 1;
    }
};

impl Transition {
    pub const ALL: [Transition; 11] = [
        Transition::Claim,
        Transition::Reclaim,
        Transition::Complete,
        Transition::Confirm,
        Transition::Fail,
        Transition::Requeue,
        Transition::Accept,
        Transition::Track,
        Transition::Reverse,
        Transition::Retry,
        Transition::Cancel,
    ];

    /// Its row: the tables are in the enum's order, which the compiler checks above, so
    /// the row is found by position.
    ///
    /// A variant added to the enum but to neither table nor [`Transition::ALL`] passes
    /// the compile-time check above: it then has no row, which fails loudly in a debug
    /// build (every test) and in a release build allows nothing, so writing it is
    /// refused as an invalid transition rather than a panic inside a Lambda.
    fn row(self) -> (&'static [PayoutStatus], PayoutStatus) {
        match TRANSITIONS.get(self as usize) {
            Some(&(transition, from, to)) if transition == self => (from, to),
            _ => {
                debug_assert!(false, "{self:?} has no row in TRANSITIONS");
                (&[], PayoutStatus::Pending)
            }
        }
    }

    pub fn allowed_from(self) -> &'static [PayoutStatus] {
        self.row().0
    }

    pub fn target(self) -> PayoutStatus {
        self.row().1
    }

    pub fn allows(self, from: PayoutStatus) -> bool {
        self.allowed_from().contains(&from)
    }

    /// The leases this transition may be written with ([`LEASE_RULES`]).
    pub fn lease_uses(self) -> &'static [LeaseUse] {
        // As for `row`: loud in tests, a refused write in a release build.
        self.rule_in(LEASE_RULES, "LEASE_RULES").unwrap_or(&[])
    }

    /// What this transition does to the attempt ([`ATTEMPT_RULES`]).
    pub fn attempt_use(self) -> AttemptUse {
        // As for `row`: loud in tests; in a release build the strictest rule.
        self.rule_in(ATTEMPT_RULES, "ATTEMPT_RULES")
            .unwrap_or(AttemptUse::Keeps)
    }

    /// Its rule in a table beside [`TRANSITIONS`], found by position as in `row`.
    fn rule_in<T: Copy>(self, table: &[(Transition, T)], name: &str) -> Option<T> {
        match table.get(self as usize) {
            Some(&(transition, rule)) if transition == self => Some(rule),
            _ => {
                debug_assert!(false, "{self:?} has no rule in {name}");
                None
            }
        }
    }

    pub fn verb(self) -> &'static str {
        match self {
            Transition::Claim => "claim",
            Transition::Reclaim => "reclaim",
            Transition::Complete => "complete",
            Transition::Confirm => "confirm",
            Transition::Fail => "fail",
            Transition::Requeue => "requeue",
            Transition::Accept => "accept",
            Transition::Track => "track",
            Transition::Reverse => "reverse",
            Transition::Retry => "retry",
            Transition::Cancel => "cancel",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_transition_has_one_row_and_one_rule_of_each_kind() {
        for transition in Transition::ALL {
            let rows = TRANSITIONS
                .iter()
                .filter(|(t, _, _)| *t == transition)
                .count();
            assert_eq!(rows, 1, "{transition:?}");
            assert!(!transition.allowed_from().is_empty(), "{transition:?}");
            let rules = LEASE_RULES.iter().filter(|(t, _)| *t == transition).count();
            assert_eq!(rules, 1, "{transition:?}");
            let rules = ATTEMPT_RULES
                .iter()
                .filter(|(t, _)| *t == transition)
                .count();
            assert_eq!(rules, 1, "{transition:?}");
        }
        // Only a retry gives up a key, and only from a status the gateway is done with.
        for (transition, rule) in ATTEMPT_RULES {
            assert_eq!(
                *rule == AttemptUse::StartsNext,
                *transition == Transition::Retry
            );
        }
        for from in Transition::Retry.allowed_from() {
            assert!(matches!(
                from,
                PayoutStatus::Failed | PayoutStatus::Reversed
            ));
        }
        // Only a claim takes a free payout's lease and only a reclaim an expired one.
        for (transition, uses) in LEASE_RULES {
            assert_eq!(
                uses.contains(&LeaseUse::Acquire),
                *transition == Transition::Claim
            );
            assert_eq!(
                uses.contains(&LeaseUse::TakeOver),
                *transition == Transition::Reclaim
            );
        }
    }

    #[test]
    fn terminal_states_have_no_way_out() {
        for (transition, from, _) in TRANSITIONS {
            assert!(!from.contains(&PayoutStatus::Cancelled));
            // Only the bank can undo a payment.
            if *transition != Transition::Reverse {
                assert!(!from.contains(&PayoutStatus::Completed), "{transition:?}");
            }
        }
    }

    #[test]
    fn statuses_parse_lowercase_only() {
        for status in PayoutStatus::ALL {
            assert_eq!(status.as_str().parse::<PayoutStatus>(), Ok(status));
        }
        assert!("PENDING".parse::<PayoutStatus>().is_err());
    }
}
