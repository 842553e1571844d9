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

/// The names of [`RazorpayxStatus::KNOWN`], in its order (the life cycle's).
const NAMES: [&str; 9] = {
    let mut names = [""; 9];
    let mut index = 0;
    while index < names.len() {
        names[index] = RazorpayxStatus::KNOWN[index].as_str();
        index += 1;
    }
    names
};

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
    pub const fn as_str(self) -> &'static str {
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
        // `KNOWN` runs in life-cycle order, so its own stage and the later ones are a tail.
        let first = Self::KNOWN
            .iter()
            .position(|known| known.stage() >= self.stage())
            .unwrap_or(NAMES.len());
        &NAMES[first..]
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
        assert_eq!(Unknown.not_after(), NAMES);
    }
}
