//! Why a payout failed or went back, as the gateway says and as we show it: the
//! gateway's status details, our own reason codes, and the one reason a payout shows.

use serde::{Deserialize, Serialize};

use super::{Payout, PayoutStatus};

/// The gateway's account of its status: a stable reason code, words for a person, and
/// who caused it (`beneficiary_bank`, `gateway`, `business`…).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayStatusDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// The `failure_reason` of a payout that had nowhere to go.
pub const PAYOUT_ACCOUNT_MISSING: &str = "payout_account_missing";
/// The `failure_reason` of a payout whose account the gateway would not register, or
/// whose verification found it invalid or under another name.
pub const PAYOUT_ACCOUNT_INVALID: &str = "payout_account_invalid";

/// Why a payout is where it is, as responses show it: a stable code and a sentence
/// written by us. What is stored (`failure_reason`, `last_error`) may hold the
/// gateway's or the infrastructure's own words, which can quote a VPA, an IFSC or an
/// account number back ("VPA asha@okhdfc is invalid"), or tell things about us that
/// are nobody's business ("Transactions from this IP are not allowed"): those are
/// never shown, only the code they come down to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reason {
    pub code: &'static str,
    pub message: &'static str,
}

impl Reason {
    const NOTHING_TO_PAY: Reason = Reason {
        code: "nothing_to_pay",
        message: "The amount is zero: there is nothing to pay.",
    };
    const PAYOUT_ACCOUNT_MISSING: Reason = Reason {
        code: PAYOUT_ACCOUNT_MISSING,
        message: "There is no payout account to send it to; it is sent again once one is saved.",
    };
    const PAYOUT_ACCOUNT_INVALID: Reason = Reason {
        code: PAYOUT_ACCOUNT_INVALID,
        message: "The saved payout account could not be paid: the payment network would not \
                  accept it, or its bank holds it under another name. It is sent again once a \
                  payout account is saved anew.",
    };
    const BANK_RETURNED: Reason = Reason {
        code: "bank_returned",
        message: "The bank sent the money back (a closed account or a name that does not \
                  match, usually); an admin sends it again or cancels it.",
    };
    const GATEWAY_DECLINED: Reason = Reason {
        code: "gateway_declined",
        message: "The bank or payment network declined it; an admin sends it again or \
                  cancels it.",
    };
    const LEASE_EXPIRED: Reason = Reason {
        code: "lease_expired",
        message: "The run sending it stopped before it finished; it is checked with the \
                  gateway and sent again, never paid twice.",
    };
    const GATEWAY_RATE_LIMITED: Reason = Reason {
        code: "gateway_rate_limited",
        message: "The payment gateway asked us to slow down; it is sent again on a later run.",
    };
    const GATEWAY_CONFIGURATION: Reason = Reason {
        code: "gateway_configuration",
        message: "The payment gateway refused our own request (our credentials or settings); \
                  it waits, untouched, until we fix that.",
    };
    const GATEWAY_NOT_CONFIRMED: Reason = Reason {
        code: "gateway_not_confirmed",
        message: "The payment gateway has not confirmed it yet; we ask again shortly.",
    };
    const GATEWAY_UNAVAILABLE: Reason = Reason {
        code: "gateway_unavailable",
        message: "The payment gateway could not be reached or did not answer; it is asked \
                  again on a later run, never paid twice.",
    };

    /// `code: message`, the one string a response's field holds.
    pub fn shown(self) -> String {
        format!("{}: {}", self.code, self.message)
    }
}

impl Payout {
    /// Why it failed or came back, in our words; `None` while nothing went wrong.
    pub fn failure(&self) -> Option<Reason> {
        let stored = self.failure_reason.as_deref()?;
        let reason = match stored {
            PAYOUT_ACCOUNT_MISSING => Reason::PAYOUT_ACCOUNT_MISSING,
            PAYOUT_ACCOUNT_INVALID => Reason::PAYOUT_ACCOUNT_INVALID,
            _ if stored.starts_with("amount is 0 paise") => Reason::NOTHING_TO_PAY,
            // A reversal's reason stays on the payout when an admin cancels it.
            _ if self.status == PayoutStatus::Reversed
                || self.gateway_status.as_deref() == Some("reversed")
                || stored.starts_with("reversed") =>
            {
                Reason::BANK_RETURNED
            }
            _ => Reason::GATEWAY_DECLINED,
        };
        Some(reason)
    }

    /// Why the last attempt went back to the queue or waits, in our words.
    pub fn last_error_reason(&self) -> Option<Reason> {
        let stored = self.last_error.as_deref()?.to_ascii_lowercase();
        let reason = if stored.contains("lease expired") {
            Reason::LEASE_EXPIRED
        } else if stored.contains("rate limit") {
            Reason::GATEWAY_RATE_LIMITED
        } else if [
            "misconfigured",
            "refused our",
            "refused the call",
            "could not be resent",
        ]
        .iter()
        .any(|ours| stored.contains(ours))
        {
            Reason::GATEWAY_CONFIGURATION
        } else if stored.contains("no record") || stored.contains("may still land") {
            Reason::GATEWAY_NOT_CONFIRMED
        } else {
            Reason::GATEWAY_UNAVAILABLE
        };
        Some(reason)
    }
}

impl GatewayStatusDetails {
    /// The gateway's reason, when it is a code (digits alone could be an account number).
    pub fn reason_code(&self) -> Option<&str> {
        self.reason.as_deref().filter(|reason| is_code(reason))
    }

    /// Only the gateway's codes (`reason`, `source`); its `description` is its own
    /// words, and a code that is not one is left out.
    pub fn codes_only(&self) -> GatewayStatusDetails {
        let code = |text: &Option<String>| text.clone().filter(|text| is_code(text));
        GatewayStatusDetails {
            reason: code(&self.reason),
            description: None,
            source: code(&self.source),
        }
    }
}

/// A short snake_case word that starts with a letter: a code, not words (a number
/// alone could be an account number). Events and views carry reasons only as codes:
/// free text may echo what a user typed (a gateway's error can quote the VPA or IFSC
/// it refused).
pub fn is_code(text: &str) -> bool {
    text.len() <= 64
        && text
            .bytes()
            .next()
            .is_some_and(|first| first.is_ascii_lowercase())
        && text
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Paise;
    use crate::payout::PayoutType;
    use crate::time::Timestamp;
    use uuid::Uuid;

    #[test]
    fn reasons_shown_are_ours_whatever_was_stored() {
        let mut payout = Payout::new(
            Uuid::new_v4(),
            7,
            PayoutType::SellerPayout,
            Paise(100),
            Timestamp::now(),
        );
        assert_eq!(payout.failure(), None);
        assert_eq!(payout.last_error_reason(), None);
        payout.status = PayoutStatus::Failed;
        for (stored, code) in [
            ("payout_account_missing", "payout_account_missing"),
            ("payout_account_invalid", "payout_account_invalid"),
            ("amount is 0 paise: nothing to pay", "nothing_to_pay"),
            ("failed: VPA asha@okhdfc is invalid", "gateway_declined"),
            (
                "reversed: account 765432123456789 is closed",
                "bank_returned",
            ),
        ] {
            payout.failure_reason = Some(stored.to_owned());
            let reason = payout.failure().map(Reason::shown).unwrap_or_default();
            assert!(
                reason.starts_with(&format!("{code}: ")),
                "{stored}: {reason}"
            );
            assert!(!reason.contains("asha@okhdfc") && !reason.contains("7654321"));
        }
        payout.status = PayoutStatus::Pending;
        for (stored, code) in [
            (
                "lease expired before the gateway saw a transfer",
                "lease_expired",
            ),
            ("rate limited: Too many requests", "gateway_rate_limited"),
            (
                "RazorpayX refused the call (403): Transactions from this IP are not allowed",
                "gateway_configuration",
            ),
            (
                "the gateway has no record of pout_1",
                "gateway_not_confirmed",
            ),
            (
                "RazorpayX timed out: operation timed out",
                "gateway_unavailable",
            ),
        ] {
            payout.last_error = Some(stored.to_owned());
            let reason = payout
                .last_error_reason()
                .map(Reason::shown)
                .unwrap_or_default();
            assert!(
                reason.starts_with(&format!("{code}: ")),
                "{stored}: {reason}"
            );
            assert!(!reason.contains("Transactions from this IP"), "{reason}");
        }
        let details = GatewayStatusDetails {
            reason: Some("000123456789012".to_owned()),
            description: Some("Asha Rao's account 765432123456789 was rejected".to_owned()),
            source: Some("beneficiary_bank".to_owned()),
        };
        assert_eq!(
            details.codes_only(),
            GatewayStatusDetails {
                reason: None,
                description: None,
                source: Some("beneficiary_bank".to_owned()),
            },
            "digits alone are no code, and words are never kept"
        );
    }
}
