//! A RazorpayX payout's status, read once where an answer or a webhook arrives: what
//! it means for the attempt (paid, declined, reversed, still on its way) and which
//! stored status a report of it may replace follow from its stage in RazorpayX's
//! payout life cycle (https://razorpay.com/docs/x/payouts/states-life-cycle/:
//! pending → queued → processing → processed | failed…, and processed → reversed).
//!
//! The payout keeps the gateway's own word as a string (`Payout::gateway_status`, what
//! RazorpayX said, including a status added after this code): decisions are made on
//! this type, never on the text.

/// RazorpayX's payout statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RazorpayxStatus {
    Pending,
    Scheduled,
    Queued,
    Processing,
    Processed,
    Failed,
    Rejected,
    Cancelled,
    Reversed,
    /// A status RazorpayX added after this code was written: not final, and replaced
    /// by every known one (it replaces none).
    Unknown,
}

use RazorpayxStatus::*;

const FROM_PENDING: &[&str] = &[
    "pending",
    "scheduled",
    "queued",
    "processing",
    "processed",
    "failed",
    "rejected",
    "cancelled",
    "reversed",
];
const FROM_QUEUED: &[&str] = FROM_PENDING.split_at(2).1;
const FROM_PROCESSING: &[&str] = FROM_PENDING.split_at(3).1;
const FINAL: &[&str] = FROM_PENDING.split_at(4).1;
const REVERSED: &[&str] = FROM_PENDING.split_at(8).1;

impl RazorpayxStatus {
    /// Every status RazorpayX documents, in the order a payout moves through them.
    pub const KNOWN: [RazorpayxStatus; 9] = [
        Pending, Scheduled, Queued, Processing, Processed, Failed, Rejected, Cancelled, Reversed,
    ];

    pub fn parse(text: &str) -> Self {
        Self::KNOWN
            .into_iter()
            .find(|status| status.as_str() == text)
            .unwrap_or(Unknown)
    }

    /// RazorpayX's name for it (`Unknown` has none of its own: the stored word is kept).
    pub fn as_str(self) -> &'static str {
        match self {
            Pending => "pending",
            Scheduled => "scheduled",
            Queued => "queued",
            Processing => "processing",
            Processed => "processed",
            Failed => "failed",
            Rejected => "rejected",
            Cancelled => "cancelled",
            Reversed => "reversed",
            Unknown => "",
        }
    }

    /// Where it stands in the life cycle: a report may replace a stored status only of
    /// an earlier stage.
    fn stage(self) -> u8 {
        match self {
            Pending | Scheduled | Unknown => 0,
            Queued => 1,
            Processing => 2,
            Processed | Failed | Rejected | Cancelled => 3,
            Reversed => 4,
        }
    }

    /// The stored statuses a report of this status must not replace: its own and the
    /// ones after it, so a late or repeated report never undoes a newer one.
    pub fn not_after(self) -> &'static [&'static str] {
        match self.stage() {
            0 => FROM_PENDING,
            1 => FROM_QUEUED,
            2 => FROM_PROCESSING,
            3 => FINAL,
            _ => REVERSED,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_replaces_only_the_ones_before_it() {
        for status in RazorpayxStatus::KNOWN {
            for other in RazorpayxStatus::KNOWN {
                assert_eq!(
                    !status.not_after().contains(&other.as_str()),
                    other.stage() < status.stage(),
                    "{status:?} replacing {other:?}"
                );
            }
            // A status added later is replaced by every known one.
            assert!(!status.not_after().contains(&"something_new"));
            assert_eq!(RazorpayxStatus::parse(status.as_str()), status);
        }
        assert_eq!(RazorpayxStatus::parse("something_new"), Unknown);
        assert_eq!(Unknown.not_after(), FROM_PENDING);
    }
}
