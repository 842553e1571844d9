//! What one gateway payout says against our payout: they agree, the gateway's word was
//! missed and may be applied as its webhook would, or a finding of some kind. Pure: the
//! run reads both sides, asks here, and acts.

use domain::payout::{EarlierAttempt, IdempotencyKey, Payout, PayoutStatus};
use domain::reconciliation::FindingKind;
use gateway::{GatewayPayout, TransferOutcome};

/// Where the money is, by one side's word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Money {
    Paid,
    /// Never left, or left and came back.
    NotPaid,
    OnItsWay,
}

pub(super) fn theirs(payout: &GatewayPayout) -> Money {
    match payout.report.outcome {
        TransferOutcome::Paid { .. } => Money::Paid,
        TransferOutcome::Declined { .. } | TransferOutcome::Reversed { .. } => Money::NotPaid,
        TransferOutcome::Accepted { .. } => Money::OnItsWay,
    }
}

pub(super) fn ours(status: PayoutStatus) -> Money {
    match status {
        PayoutStatus::Completed => Money::Paid,
        PayoutStatus::Pending | PayoutStatus::Processing => Money::OnItsWay,
        PayoutStatus::Failed | PayoutStatus::Cancelled | PayoutStatus::Reversed => Money::NotPaid,
    }
}

/// Which of our payout's attempts a gateway payout is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Attempt<'a> {
    Current,
    Earlier(&'a EarlierAttempt),
    /// None of ours: made under our reference by someone else.
    Neither,
}

/// As a webhook about it is told apart (`GatewayReport::is_about_current_attempt`).
pub(super) fn attempt_of<'a>(payout: &'a Payout, theirs: &GatewayPayout) -> Attempt<'a> {
    if theirs.report.is_about_current_attempt(payout) {
        return Attempt::Current;
    }
    theirs
        .report
        .earlier_attempt_of(payout)
        .map_or(Attempt::Neither, Attempt::Earlier)
}

/// What the run makes of one gateway payout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Both sides agree; counted under our payout's status.
    Matched(PayoutStatus),
    /// The gateway's final word on our current attempt, which our books have not heard:
    /// applied through the transition its webhook would have made.
    Repair,
    /// Possibly paid twice: the gateway paid an attempt other than the one our books
    /// hold as paid. Confirmed by counting every processed payout of ours there.
    MaybePaidTwice,
    Finding(FindingKind, &'static str),
}

pub(super) fn judge(ours_now: Option<&Payout>, gateway: &GatewayPayout) -> Verdict {
    let Some(payout) = ours_now else {
        return Verdict::Finding(
            FindingKind::UnknownToUs,
            "no payout of ours has the gateway payout's reference",
        );
    };
    let report = &gateway.report;
    let attempt = attempt_of(payout, gateway);
    if attempt == Attempt::Neither {
        let our_key = (1..=payout.attempt).any(|attempt| {
            report.idempotency_key.as_deref()
                == Some(IdempotencyKey::for_attempt(payout.payout_id, attempt).as_str())
        });
        return if theirs(gateway) == Money::Paid && payout.status == PayoutStatus::Completed {
            Verdict::MaybePaidTwice
        } else if our_key {
            Verdict::Finding(
                FindingKind::StatusMismatch,
                "the gateway holds a payout under one of our attempts' keys that is not the one \
                 our books know for it",
            )
        } else {
            Verdict::Finding(
                FindingKind::UnknownToUs,
                "the gateway payout carries our payout's reference but none of its attempts' keys",
            )
        };
    }
    if report
        .amount_paise
        .is_some_and(|amount| amount != payout.amount_paise.get())
    {
        return Verdict::Finding(
            FindingKind::AmountMismatch,
            "the gateway's payout for our attempt is for another amount",
        );
    }
    let Attempt::Earlier(earlier) = attempt else {
        return current(payout, gateway);
    };
    match theirs(gateway) {
        Money::Paid if payout.status == PayoutStatus::Completed => Verdict::MaybePaidTwice,
        Money::Paid => Verdict::Finding(
            FindingKind::StatusMismatch,
            "the gateway paid an earlier attempt, which our books hold as failed or reversed",
        ),
        Money::NotPaid => Verdict::Matched(earlier.ended),
        Money::OnItsWay => Verdict::Finding(
            FindingKind::StatusMismatch,
            "an earlier attempt, which our books hold as ended, is still on its way at the \
             gateway",
        ),
    }
}

fn current(payout: &Payout, gateway: &GatewayPayout) -> Verdict {
    let report = &gateway.report;
    if matches!(
        (&report.fund_account_id, &payout.gateway_fund_account_id),
        (Some(reported), Some(ours)) if reported != ours
    ) {
        return Verdict::Finding(
            FindingKind::DestinationMismatch,
            "the gateway's payout for our attempt goes to another fund account",
        );
    }
    let reversed = matches!(report.outcome, TransferOutcome::Reversed { .. });
    match (theirs(gateway), ours(payout.status)) {
        (Money::Paid, Money::Paid)
        | (Money::NotPaid, Money::NotPaid)
        | (Money::OnItsWay, Money::OnItsWay) => Verdict::Matched(payout.status),
        // A final word our books have not heard; and a reversal of a payment they have.
        (Money::Paid | Money::NotPaid, Money::OnItsWay) => Verdict::Repair,
        (Money::NotPaid, Money::Paid) if reversed => Verdict::Repair,
        (Money::NotPaid, Money::Paid) => Verdict::Finding(
            FindingKind::StatusMismatch,
            "the gateway failed an attempt our books hold as paid",
        ),
        (Money::Paid, Money::NotPaid) => Verdict::Finding(
            FindingKind::StatusMismatch,
            "the gateway paid an attempt our books hold as failed, cancelled or reversed",
        ),
        (Money::OnItsWay, Money::Paid) => Verdict::Finding(
            FindingKind::StatusMismatch,
            "the gateway has not settled an attempt our books hold as paid",
        ),
        (Money::OnItsWay, Money::NotPaid) => Verdict::Finding(
            FindingKind::StatusMismatch,
            "an attempt our books hold as ended is still on its way at the gateway, and may \
             pay",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::money::Paise;
    use domain::payout::{GatewayStatusDetails, PayoutType};
    use domain::time::Timestamp;
    use gateway::GatewayReport;
    use uuid::Uuid;

    fn payout(status: PayoutStatus) -> Payout {
        let mut payout = Payout::new(
            Uuid::new_v4(),
            7,
            PayoutType::ScoutBounty,
            Paise(50_000),
            Timestamp::now(),
        );
        payout.status = status;
        payout.gateway_payout_id = Some("pout_1".to_owned());
        payout.gateway_fund_account_id = Some("fa_1".to_owned());
        payout
    }

    fn at_gateway(payout: &Payout, id: &str, outcome: TransferOutcome) -> GatewayPayout {
        GatewayPayout {
            created_at: Timestamp::now(),
            reference: Some(payout.payout_id.to_string()),
            report: GatewayReport {
                payout_id: Some(payout.payout_id),
                idempotency_key: Some(payout.idempotency_key().to_string()),
                gateway_payout_id: id.to_owned(),
                gateway_status: "processed".to_owned(),
                amount_paise: Some(payout.amount_paise.get()),
                fund_account_id: Some("fa_1".to_owned()),
                details: GatewayStatusDetails::default(),
                outcome,
                not_after: &[],
            },
        }
    }

    fn paid() -> TransferOutcome {
        TransferOutcome::Paid {
            reference: "UTR1".to_owned(),
            gateway_payout_id: None,
        }
    }

    fn declined() -> TransferOutcome {
        TransferOutcome::Declined {
            reason: "failed: closed".to_owned(),
        }
    }

    fn reversed() -> TransferOutcome {
        TransferOutcome::Reversed {
            reason: "reversed: closed".to_owned(),
        }
    }

    /// A verdict in a word, to compare with what a case expects.
    fn word(verdict: &Verdict) -> String {
        match verdict {
            Verdict::Matched(status) => format!("matched {status}"),
            Verdict::Repair => "repair".to_owned(),
            Verdict::MaybePaidTwice => "maybe paid twice".to_owned(),
            Verdict::Finding(kind, _) => kind.as_str().to_owned(),
        }
    }

    #[test]
    fn each_pair_of_words_on_the_current_attempt_has_one_verdict() {
        use PayoutStatus::*;
        let accepted = TransferOutcome::Accepted {
            gateway_payout_id: "pout_1".to_owned(),
            gateway_status: "processing".to_owned(),
        };
        let cases = [
            (Completed, paid(), "matched completed"),
            (Failed, declined(), "matched failed"),
            (Reversed, reversed(), "matched reversed"),
            (Processing, accepted.clone(), "matched processing"),
            (Processing, paid(), "repair"),
            (Pending, declined(), "repair"),
            (Completed, reversed(), "repair"),
            (Completed, declined(), "status_mismatch"),
            (Failed, paid(), "status_mismatch"),
            (Cancelled, paid(), "status_mismatch"),
            (Completed, accepted.clone(), "status_mismatch"),
            (Cancelled, accepted, "status_mismatch"),
        ];
        for (status, outcome, expected) in cases {
            let ours = payout(status);
            let verdict = judge(Some(&ours), &at_gateway(&ours, "pout_1", outcome.clone()));
            assert_eq!(word(&verdict), expected, "{status} against {outcome:?}");
        }
    }

    #[test]
    fn amount_destination_and_strangers_are_told_apart() {
        let ours = payout(PayoutStatus::Completed);
        let mut other_amount = at_gateway(&ours, "pout_1", paid());
        other_amount.report.amount_paise = Some(1);
        assert!(matches!(
            judge(Some(&ours), &other_amount),
            Verdict::Finding(FindingKind::AmountMismatch, _)
        ));
        let mut elsewhere = at_gateway(&ours, "pout_1", paid());
        elsewhere.report.fund_account_id = Some("fa_2".to_owned());
        assert!(matches!(
            judge(Some(&ours), &elsewhere),
            Verdict::Finding(FindingKind::DestinationMismatch, _)
        ));
        // Another processed payout under our reference, by none of our keys.
        let mut second = at_gateway(&ours, "pout_2", paid());
        second.report.idempotency_key = Some("someone-else".to_owned());
        assert_eq!(judge(Some(&ours), &second), Verdict::MaybePaidTwice);
        // Under our key, but not the payout we know for it.
        let failed = payout(PayoutStatus::Failed);
        let other = at_gateway(&failed, "pout_9", paid());
        assert_eq!(word(&judge(Some(&failed), &other)), "status_mismatch");
        assert!(matches!(
            judge(None, &second),
            Verdict::Finding(FindingKind::UnknownToUs, _)
        ));
        let pending = payout(PayoutStatus::Pending);
        assert!(matches!(
            judge(Some(&pending), &second),
            Verdict::Finding(FindingKind::UnknownToUs, _)
        ));
    }

    #[test]
    fn an_earlier_attempt_agrees_only_while_it_paid_nothing() {
        let mut ours = payout(PayoutStatus::Completed);
        ours.earlier_attempts.push(EarlierAttempt {
            attempt: 1,
            gateway_payout_id: Some("pout_0".to_owned()),
            ended: PayoutStatus::Failed,
        });
        ours.attempt = 2;
        assert_eq!(
            judge(Some(&ours), &at_gateway(&ours, "pout_0", declined())),
            Verdict::Matched(PayoutStatus::Failed)
        );
        assert_eq!(
            judge(Some(&ours), &at_gateway(&ours, "pout_0", paid())),
            Verdict::MaybePaidTwice
        );
        ours.status = PayoutStatus::Processing;
        assert!(matches!(
            judge(Some(&ours), &at_gateway(&ours, "pout_0", paid())),
            Verdict::Finding(FindingKind::StatusMismatch, _)
        ));
    }
}
