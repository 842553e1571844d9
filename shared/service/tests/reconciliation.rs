//! The daily reconciliation against the simulated bank's ledger (the local RazorpayX's
//! are in razorpayx_reconciliation.rs): a day that agrees, each kind of finding made on
//! purpose at the bank, a missed reversal repaired once, and a second run over the same
//! day that changes nothing and reports the same.

use devkit::invariants::{assert_balances, assert_books_balance};
use devkit::testing::{fresh_store, gateway, processor_config, requested};
use domain::money::Paise;
use domain::payout::{IdempotencyKey, Payout, PayoutStatus};
use domain::reconciliation::{Action, Finding, FindingKind};
use domain::time::Timestamp;
use gateway::{SimulatedGateway, TransferOutcome};
use service::config::PayoutLimits;
use service::process::Processor;
use service::reconciliation::{day_asked, reconcile_day, Day, Run};
use service::scout::Scout;
use store::Store;

const OWNER: u64 = 7;
const LIMITS: PayoutLimits = PayoutLimits {
    min: Paise(100),
    max: Paise(10_000_000),
};
const TZ: chrono_tz::Tz = chrono_tz::Asia::Kolkata;

struct Bank {
    store: Store,
    bank: SimulatedGateway,
}

/// Scout s-1 of user 7 with ₹1,000.00, and `paid` payouts of it paid by the simulated
/// bank today.
async fn bank_with_paid(amounts: &[u64]) -> (Bank, Vec<Payout>) {
    let store = fresh_store().await;
    store
        .insert_scout(&Scout::with_earnings("s-1", OWNER, Paise(100_000)))
        .await
        .unwrap();
    let bank = gateway(&store, 1.0);
    let mut payouts = Vec::new();
    for amount in amounts {
        payouts.push(requested(&store, LIMITS, OWNER, "s-1", *amount).await);
    }
    let summary = Processor::new(&store, &bank, processor_config(10))
        .run()
        .await
        .unwrap();
    assert_eq!(summary.completed, amounts.len());
    let mut paid = Vec::new();
    for payout in payouts {
        paid.push(store.payout(payout.payout_id).await.unwrap().unwrap());
    }
    (Bank { store, bank }, paid)
}

impl Bank {
    async fn reconcile(&self) -> Run {
        let now = Timestamp::now();
        reconcile_day(&self.store, &self.bank, Day::containing(now, TZ), now, None)
            .await
            .unwrap()
    }

    async fn stored(&self, payout: &Payout) -> Payout {
        self.store.payout(payout.payout_id).await.unwrap().unwrap()
    }

    /// What the bank's back office does by hand, with no notice to anyone.
    async fn book(&self, payout: &Payout, attempt: u32, amount: u64, outcome: TransferOutcome) {
        self.bank
            .book_by_hand(
                &IdempotencyKey::for_attempt(payout.payout_id, attempt),
                payout.payout_id,
                Paise(amount),
                outcome,
            )
            .await
            .unwrap();
    }
}

fn a_payment() -> TransferOutcome {
    TransferOutcome::Paid {
        reference: "BANK-BY-HAND".to_owned(),
        gateway_payout_id: None,
    }
}

fn only(run: &Run) -> &Finding {
    assert_eq!(run.new_findings.len(), 1, "{:#?}", run.new_findings);
    &run.new_findings[0]
}

/// The report without what differs between runs by nature (when, how many).
fn comparable(run: &Run) -> domain::reconciliation::Report {
    let mut report = run.report.clone();
    report.runs = 0;
    report.last_run_at = report.first_run_at;
    report
}

#[tokio::test]
async fn a_day_that_agrees_has_no_findings_and_a_second_run_reports_the_same() {
    let (bank, paid) = bank_with_paid(&[10_000, 20_000, 30_000]).await;
    let first = bank.reconcile().await;
    assert!(first.new_findings.is_empty(), "{:#?}", first.new_findings);
    let report = &first.report;
    assert_eq!(report.gateway, "simulated");
    assert_eq!(report.time_zone, "Asia/Kolkata");
    assert_eq!((report.ours.payouts, report.ours.paid), (3, 3));
    assert_eq!((report.theirs.payouts, report.theirs.paid), (3, 3));
    assert_eq!(report.ours.paid_paise, 60_000);
    assert_eq!(report.theirs.paid_paise, 60_000);
    assert_eq!(report.matched.get("completed"), Some(&3));
    assert!(report.findings.is_empty());
    assert_eq!(
        bank.store
            .reconciliation_report(&report.date)
            .await
            .unwrap()
            .as_ref(),
        Some(report)
    );

    let second = bank.reconcile().await;
    assert_eq!(second.report.runs, 2);
    assert_eq!(comparable(&second), comparable(&first));
    for payout in &paid {
        assert_eq!(&bank.stored(payout).await, payout, "a run changed a payout");
    }
    assert_books_balance(&bank.store, &["s-1"], &[OWNER]).await;
}

#[tokio::test]
async fn a_missed_reversal_is_applied_once_and_the_money_moves_once() {
    let (bank, paid) = bank_with_paid(&[25_000]).await;
    let payout = &paid[0];
    // The bank sends the money back; nobody tells us.
    bank.book(
        payout,
        1,
        25_000,
        TransferOutcome::Reversed {
            reason: "beneficiary account closed".to_owned(),
        },
    )
    .await;
    let before = bank.store.summary(OWNER).await.unwrap();

    let first = bank.reconcile().await;
    let finding = only(&first);
    assert_eq!(finding.kind, FindingKind::StatusMismatch);
    assert_eq!(
        finding.action,
        Action::Repaired {
            transition: "reverse".to_owned()
        }
    );
    assert_eq!(
        finding.ours.as_ref().unwrap().status,
        PayoutStatus::Completed
    );
    assert_eq!(finding.theirs[0].status, "reversed");
    let reversed = bank.stored(payout).await;
    assert_eq!(reversed.status, PayoutStatus::Reversed);
    let after = bank.store.summary(OWNER).await.unwrap();
    assert_eq!(
        after.total_paid_paise.get(),
        before.total_paid_paise.get() - 25_000,
        "the reversal takes the payment off the user's total once"
    );
    assert_eq!(first.report.repaired, 1);
    assert_eq!(first.report.left_for_person, 0);
    assert_eq!(first.report.matched.get("reversed"), Some(&1));
    assert_books_balance(&bank.store, &["s-1"], &[OWNER]).await;

    let second = bank.reconcile().await;
    assert!(second.new_findings.is_empty(), "{:#?}", second.new_findings);
    assert_eq!(comparable(&second), comparable(&first));
    assert_eq!(bank.stored(payout).await, reversed);
    assert_eq!(bank.store.summary(OWNER).await.unwrap(), after);
    assert_books_balance(&bank.store, &["s-1"], &[OWNER]).await;
}

#[tokio::test]
async fn a_transfer_for_no_payout_of_ours_is_unknown_to_us() {
    let (bank, _) = bank_with_paid(&[10_000]).await;
    let stranger = uuid::Uuid::new_v4();
    bank.bank
        .book_by_hand(
            &IdempotencyKey::for_attempt(stranger, 1),
            stranger,
            Paise(77_700),
            a_payment(),
        )
        .await
        .unwrap();
    let run = bank.reconcile().await;
    let finding = only(&run);
    assert_eq!(finding.kind, FindingKind::UnknownToUs);
    assert_eq!(finding.action, Action::LeftForPerson);
    assert!(finding.ours.is_none());
    assert_eq!(finding.theirs[0].amount_paise, Some(77_700));
    assert_eq!(run.report.theirs.paid_paise, 10_000 + 77_700);
    assert_eq!(run.report.ours.paid_paise, 10_000);
    assert_eq!(run.report.left_for_person, 1);
}

#[tokio::test]
async fn a_paid_payout_the_bank_has_no_record_of_is_missing_at_the_gateway() {
    let (bank, paid) = bank_with_paid(&[10_000, 12_000]).await;
    bank.bank
        .forget_by_hand(&paid[1].idempotency_key())
        .await
        .unwrap();
    let run = bank.reconcile().await;
    let finding = only(&run);
    assert_eq!(finding.kind, FindingKind::MissingAtGateway);
    assert_eq!(finding.payout_id(), Some(paid[1].payout_id));
    assert!(finding.theirs.is_empty());
    assert_eq!(bank.stored(&paid[1]).await, paid[1], "nothing repaired");
    assert_balances(&bank.store, &["s-1"], &[OWNER]).await;
}

#[tokio::test]
async fn a_failure_at_the_bank_of_a_payout_we_hold_paid_is_left_for_a_person() {
    let (bank, paid) = bank_with_paid(&[10_000]).await;
    bank.book(
        &paid[0],
        1,
        10_000,
        TransferOutcome::Declined {
            reason: "beneficiary bank rejected".to_owned(),
        },
    )
    .await;
    let run = bank.reconcile().await;
    let finding = only(&run);
    assert_eq!(finding.kind, FindingKind::StatusMismatch);
    assert_eq!(finding.action, Action::LeftForPerson);
    assert_eq!(
        bank.stored(&paid[0]).await,
        paid[0],
        "never undone by machine"
    );
    assert_balances(&bank.store, &["s-1"], &[OWNER]).await;

    // The bank changes its word again: the same payout in another state is another
    // finding, recorded beside the first.
    bank.book(
        &paid[0],
        1,
        10_000,
        TransferOutcome::Reversed {
            reason: "beneficiary bank rejected".to_owned(),
        },
    )
    .await;
    let again = bank.reconcile().await;
    let repaired = only(&again);
    assert_eq!(
        repaired.action,
        Action::Repaired {
            transition: "reverse".to_owned()
        }
    );
    assert_eq!(again.report.findings.get("status_mismatch"), Some(&2));
    assert_eq!(
        (again.report.repaired, again.report.left_for_person),
        (1, 1)
    );
    assert_books_balance(&bank.store, &["s-1"], &[OWNER]).await;
}

#[tokio::test]
async fn a_reversal_weeks_after_its_day_is_found_by_a_later_days_run() {
    let (bank, paid) = bank_with_paid(&[18_000]).await;
    let today = bank.reconcile().await;
    assert!(today.new_findings.is_empty(), "{:#?}", today.new_findings);
    bank.book(
        &paid[0],
        1,
        18_000,
        TransferOutcome::Reversed {
            reason: "beneficiary account closed".to_owned(),
        },
    )
    .await;
    // A later day's run: the payout is not that day's, its reversal is looked for.
    let now = Timestamp::now();
    let later = Day::containing(now.plus_secs(2 * 86_400), TZ);
    let run = reconcile_day(&bank.store, &bank.bank, later, now, None)
        .await
        .unwrap();
    let finding = only(&run);
    assert_eq!(finding.kind, FindingKind::StatusMismatch);
    assert_eq!(finding.payout_id(), Some(paid[0].payout_id));
    assert_eq!(
        finding.action,
        Action::Repaired {
            transition: "reverse".to_owned()
        }
    );
    assert_eq!(run.report.theirs.payouts, 0, "not that day's payout");
    assert!(run.report.matched.is_empty());
    assert_eq!(bank.stored(&paid[0]).await.status, PayoutStatus::Reversed);
    assert_books_balance(&bank.store, &["s-1"], &[OWNER]).await;
}

#[tokio::test]
async fn a_run_out_of_time_keeps_what_it_did_and_a_run_again_carries_on() {
    let (bank, paid) = bank_with_paid(&[11_000]).await;
    bank.book(
        &paid[0],
        1,
        11_000,
        TransferOutcome::Reversed {
            reason: "beneficiary account closed".to_owned(),
        },
    )
    .await;
    let now = Timestamp::now();
    let day = Day::containing(now, TZ);
    let cut = reconcile_day(
        &bank.store,
        &bank.bank,
        day,
        now,
        Some(std::time::Instant::now()),
    )
    .await;
    assert!(
        matches!(cut, Err(domain::error::Error::Incomplete(_))),
        "{cut:?}"
    );
    assert_eq!(
        bank.store.reconciliation_report(&day.name()).await.unwrap(),
        None,
        "no report for a day not finished"
    );
    let run = bank.reconcile().await;
    assert_eq!(only(&run).kind, FindingKind::StatusMismatch);
    assert_eq!(run.report.repaired, 1);
    assert_books_balance(&bank.store, &["s-1"], &[OWNER]).await;
}

#[tokio::test]
async fn another_amount_at_the_bank_is_an_amount_mismatch() {
    let (bank, paid) = bank_with_paid(&[10_000]).await;
    bank.book(&paid[0], 1, 10_001, a_payment()).await;
    let run = bank.reconcile().await;
    let finding = only(&run);
    assert_eq!(finding.kind, FindingKind::AmountMismatch);
    assert_eq!(finding.theirs[0].amount_paise, Some(10_001));
    assert_eq!(finding.ours.as_ref().unwrap().amount_paise, Paise(10_000));
    assert_eq!(bank.stored(&paid[0]).await, paid[0]);
}

#[tokio::test]
async fn a_second_paid_transfer_for_one_payout_is_paid_twice() {
    let (bank, paid) = bank_with_paid(&[10_000]).await;
    // Under a key none of the payout's attempts has.
    bank.book(&paid[0], 9, 10_000, a_payment()).await;
    let run = bank.reconcile().await;
    let finding = only(&run);
    assert_eq!(finding.kind, FindingKind::PaidTwice);
    assert_eq!(finding.subject, paid[0].payout_id.to_string());
    assert_eq!(finding.theirs.len(), 2, "{finding:#?}");
    assert_eq!(bank.stored(&paid[0]).await, paid[0]);
    // The same finding, once, however often the day is run.
    let again = bank.reconcile().await;
    assert!(again.new_findings.is_empty());
    assert_eq!(again.report.findings.get("paid_twice"), Some(&1));
}

#[tokio::test]
async fn the_schedule_reconciles_the_day_before_its_time_and_a_day_to_come_is_refused() {
    let event = serde_json::json!({"time": "2026-11-24T21:30:00Z", "detail": {}});
    let now = Timestamp::now();
    assert_eq!(day_asked(&event, now, TZ).unwrap().name(), "2026-11-24");
    let asked = serde_json::json!({"date": "2026-11-20"});
    let day = day_asked(&asked, now, TZ).unwrap();
    assert_eq!(day.name(), "2026-11-20");
    let (from, to) = day.window();
    assert_eq!(from.to_string(), "2026-11-19T18:30:00.000Z");
    assert_eq!(to.to_string(), "2026-11-20T18:30:00.000Z");
    let tomorrow = Day::containing(now.plus_secs(86_400 * 2), TZ).name();
    for refused in [
        serde_json::json!({"date": tomorrow}),
        serde_json::json!({"date": "20-11-2026"}),
        serde_json::json!({"date": 20261120}),
    ] {
        let error = day_asked(&refused, now, TZ).unwrap_err();
        assert_eq!(error.http_status(), 400, "{refused}: {error}");
    }
}

#[tokio::test]
async fn the_look_back_acts_only_on_a_missed_reversal_and_reports_nothing_twice() {
    let (bank, _) = bank_with_paid(&[10_000]).await;
    let stranger = uuid::Uuid::new_v4();
    bank.bank
        .book_by_hand(
            &IdempotencyKey::for_attempt(stranger, 1),
            stranger,
            Paise(5_000),
            TransferOutcome::Reversed {
                reason: "returned".to_owned(),
            },
        )
        .await
        .unwrap();
    // Its own day's run reports it.
    let today = bank.reconcile().await;
    assert_eq!(only(&today).kind, FindingKind::UnknownToUs);
    // Later days' look-backs see the reversal and leave it to that day's report.
    let now = Timestamp::now();
    for days in [2, 3] {
        let later = Day::containing(now.plus_secs(days * 86_400), TZ);
        let run = reconcile_day(&bank.store, &bank.bank, later, now, None)
            .await
            .unwrap();
        assert!(run.new_findings.is_empty(), "{:#?}", run.new_findings);
        assert_eq!(run.report.left_for_person, 0);
    }
}
