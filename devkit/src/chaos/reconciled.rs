//! The run's last check: once the faults have stopped and every payout has settled, a
//! few disagreements are made at the gateway on purpose (a payment returned with no word
//! to us, a payout paid a second time, and at RazorpayX a payout its bank debited twice),
//! and the daily reconciliation must report those,
//! each with its kind, and nothing else: every other payout of the run must agree with
//! the gateway. The silent reversal is then repaired, and the books must still balance.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::json;
use uuid::Uuid;

use domain::money::Paise;
use domain::payout::{IdempotencyKey, Payout, PayoutStatus};
use domain::reconciliation::{Action, Finding, FindingKind};
use domain::time::Timestamp;
use gateway::{PaymentGateway, SimulatedGateway, TransferOutcome};
use service::reconciliation::{reconcile_day, Day};
use store::Store;

use super::plan::Plan;
use super::Report;
use crate::invariants::user_payouts;
use crate::razorpayx::FakeRazorpayX;

/// The business days the run's payouts fall in (IST, as deployed by default).
const TZ: chrono_tz::Tz = chrono_tz::Asia::Kolkata;

/// A disagreement the run made on purpose, and what the reconciliation must make of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Injected {
    pub payout_id: Uuid,
    pub kind: FindingKind,
    pub repaired: bool,
}

impl Injected {
    fn reports(&self, finding: &Finding) -> bool {
        finding.kind == self.kind
            && finding.payout_id() == Some(self.payout_id)
            && matches!(finding.action, Action::Repaired { .. }) == self.repaired
    }
}

/// Which of the run's completed payouts get a silent reversal, a second payment and a
/// second debit on the statement (RazorpayX only), no payout two of them: drawn from
/// the seed, apart from the plan, so the plan's histories are unchanged.
struct Chosen {
    reversed: Option<Payout>,
    paid_twice: Option<Payout>,
    debited_twice: Option<Payout>,
}

fn chosen(plan: &Plan, completed: &[Payout]) -> Chosen {
    let mut rng = StdRng::seed_from_u64(plan.seed ^ 0x2ec0_4c11);
    let reverse = rng.random_bool(0.7);
    let twice = rng.random_bool(0.5);
    let mut taken: Vec<Uuid> = Vec::new();
    let mut pick = |wanted: bool, rng: &mut StdRng| {
        let left: Vec<&Payout> = completed
            .iter()
            .filter(|payout| !taken.contains(&payout.payout_id))
            .collect();
        let picked =
            (wanted && !left.is_empty()).then(|| left[rng.random_range(0..left.len())].clone());
        taken.extend(picked.as_ref().map(|payout| payout.payout_id));
        picked
    };
    let reversed = pick(reverse, &mut rng);
    let paid_twice = pick(twice, &mut rng);
    // Drawn after the others, so theirs are as they were before it existed.
    let debit_again = rng.random_bool(0.5);
    let debited_twice = pick(debit_again, &mut rng);
    Chosen {
        reversed,
        paid_twice,
        debited_twice,
    }
}

async fn completed(store: &Store, plan: &Plan) -> Vec<Payout> {
    let mut all = Vec::new();
    for user in &plan.world.users {
        all.extend(user_payouts(store, *user).await);
    }
    all.retain(|payout| payout.status == PayoutStatus::Completed);
    all.sort_by_key(|payout| payout.payout_id);
    all
}

/// At the simulated bank, by its own hand.
pub async fn inject_at_bank(
    store: &Store,
    bank: &SimulatedGateway,
    plan: &Plan,
    report: &mut Report,
) -> Vec<Injected> {
    let Chosen {
        reversed,
        paid_twice,
        ..
    } = chosen(plan, &completed(store, plan).await);
    let mut injected = Vec::new();
    if let Some(payout) = reversed {
        let booked = bank
            .book_by_hand(
                &payout.idempotency_key(),
                payout.payout_id,
                payout.amount_paise,
                TransferOutcome::Reversed {
                    reason: "beneficiary account closed (chaos)".to_owned(),
                },
            )
            .await;
        note(
            report,
            &mut injected,
            booked.map_err(|err| err.to_string()),
            &payout,
            FindingKind::StatusMismatch,
            true,
        );
    }
    if let Some(payout) = paid_twice {
        let booked = bank
            .book_by_hand(
                &IdempotencyKey::for_attempt(payout.payout_id, IdempotencyKey::MAX_ATTEMPT),
                payout.payout_id,
                Paise(payout.amount_paise.get()),
                TransferOutcome::Paid {
                    reference: "CHAOS-AGAIN".to_owned(),
                    gateway_payout_id: None,
                },
            )
            .await;
        note(
            report,
            &mut injected,
            booked.map_err(|err| err.to_string()),
            &payout,
            FindingKind::PaidTwice,
            false,
        );
    }
    injected
}

/// At the local RazorpayX, through its control API, with the webhooks dropped.
pub async fn inject_at_razorpayx(
    store: &Store,
    fake: &FakeRazorpayX,
    plan: &Plan,
    report: &mut Report,
) -> Vec<Injected> {
    let chosen = chosen(plan, &completed(store, plan).await);
    let mut injected = Vec::new();
    let gateway_id = |payout: &Option<Payout>| {
        payout
            .as_ref()
            .and_then(|payout| payout.gateway_payout_id.clone())
    };
    let debit_again = json!({
        "payout_id": gateway_id(&chosen.debited_twice),
        "debit": chosen.debited_twice.as_ref().map(|payout| payout.amount_paise.get()),
    });
    for (payout, path, body, kind, repaired) in [
        (
            chosen.reversed,
            "payouts/{id}/status",
            json!({"status": "reversed", "reason": "bank_account_closed", "drop_webhook": true}),
            FindingKind::StatusMismatch,
            true,
        ),
        (
            chosen.paid_twice,
            "payouts/{id}/duplicate",
            json!({"drop_webhook": true}),
            FindingKind::PaidTwice,
            false,
        ),
        (
            chosen.debited_twice,
            "transactions",
            debit_again,
            FindingKind::StatementMismatch,
            false,
        ),
    ] {
        let Some(payout) = payout else { continue };
        let Some(gateway_id) = payout.gateway_payout_id.clone() else {
            report.violations.push(format!(
                "completed payout {} has no RazorpayX id",
                payout.payout_id
            ));
            continue;
        };
        let answer = reqwest::Client::new()
            .post(format!(
                "{}/_fake/{}",
                fake.base_url(),
                path.replace("{id}", &gateway_id)
            ))
            .json(&body)
            .send()
            .await;
        let done = match answer {
            Ok(answer) if answer.status().is_success() => Ok(()),
            Ok(answer) => Err(format!("RazorpayX refused: {}", answer.status())),
            Err(err) => Err(err.to_string()),
        };
        note(report, &mut injected, done, &payout, kind, repaired);
    }
    injected
}

fn note(
    report: &mut Report,
    injected: &mut Vec<Injected>,
    done: Result<(), String>,
    payout: &Payout,
    kind: FindingKind,
    repaired: bool,
) {
    match done {
        Ok(()) => {
            report
                .trace
                .push(format!("injected {kind} for payout {}", payout.payout_id));
            injected.push(Injected {
                payout_id: payout.payout_id,
                kind,
                repaired,
            });
        }
        Err(why) => report.violations.push(format!(
            "injecting {kind} for payout {}: {why}",
            payout.payout_id
        )),
    }
}

/// Reconciles every business day the run touched and holds the findings to what was
/// injected: each reported with its kind (and repaired where it may be), nothing else.
pub async fn check<G: PaymentGateway>(
    store: &Store,
    gateway: &G,
    started: Timestamp,
    injected: &[Injected],
    report: &mut Report,
) {
    let now = Timestamp::now();
    let mut days = vec![Day::containing(started, TZ)];
    if Day::containing(now, TZ) != days[0] {
        days.push(Day::containing(now, TZ));
    }
    let mut findings = Vec::new();
    for day in days {
        match reconcile_day(store, gateway, day, now, None).await {
            Ok(run) => findings.extend(run.new_findings),
            Err(err) => {
                report
                    .violations
                    .push(format!("reconciling {}: {err}", day.name()));
                return;
            }
        }
    }
    for finding in &findings {
        if !injected.iter().any(|injected| injected.reports(finding)) {
            report.violations.push(format!(
                "reconciliation found what the run did not make: {} of {} ({:?}): {}",
                finding.kind, finding.subject, finding.action, finding.detail
            ));
        }
    }
    for wanted in injected {
        if !findings.iter().any(|finding| wanted.reports(finding)) {
            report.violations.push(format!(
                "reconciliation missed the {} made for payout {} (found {:?})",
                wanted.kind,
                wanted.payout_id,
                findings
                    .iter()
                    .map(|finding| (finding.kind, finding.subject.clone()))
                    .collect::<Vec<_>>()
            ));
        }
    }
}
