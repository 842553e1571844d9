//! The run's checks, and the harness's own hands on the world (a clock that jumps, a
//! bank that returns a payment, the HTTP front RazorpayX posts its webhooks to).
//!
//! The invariant checks of `crate::invariants` panic on a violation, as a test wants;
//! here each runs as its own task and a panic becomes a violation of the run.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::types::AttributeValue;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::json;
use uuid::Uuid;

use domain::payout::{Payout, PayoutStatus};
use domain::time::Timestamp;
use service::config::WebhookSecrets;
use store::Store;

use super::plan::Plan;
use super::seams::{self, CrashAt};
use super::{Report, Saves};
use crate::api::{Api, Call};
use crate::invariants::{assert_balances, assert_books_balance, user_payouts};
use crate::razorpayx::{assert_paid_once, FakeRazorpayX};

pub const WEBHOOK_SECRET: &str = "chaos-webhook-secret-0001";

fn scouts(plan: &Plan) -> Vec<String> {
    plan.world
        .scouts
        .iter()
        .map(|scout| scout.scout_id.clone())
        .collect()
}

/// Runs a check that panics on a violation; the panic's message becomes the violation.
async fn expect<F>(report: &mut Report, what: &str, check: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    if let Err(err) = tokio::spawn(check).await {
        let message = if err.is_panic() {
            super::panic_message(err.into_panic())
        } else {
            err.to_string()
        };
        report.violations.push(format!("{what}: {message}"));
    }
}

/// Per scout `available + reserved + paid = credited`, reservations and payments equal
/// to the payouts holding them, and every user's summary equal to its payouts; with
/// the simulated gateway, its ledger agrees with every payout too.
///
/// The check reads one item at a time. With RazorpayX, webhooks keep arriving while it
/// reads, and a payout that moves between the read of its summary and the read of its
/// payouts looks like a broken book. Books that are really wrong stay wrong (nothing
/// mends them), so a failure is read again a few times before it counts.
pub async fn books(store: &Store, plan: &Plan, report: &mut Report, when: &str) {
    const READS: usize = 4;
    for _ in 1..READS {
        let mut attempt = Report::default();
        books_once(store, plan, &mut attempt, when).await;
        if attempt.violations.is_empty() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    books_once(store, plan, report, when).await;
}

async fn books_once(store: &Store, plan: &Plan, report: &mut Report, when: &str) {
    let (store, scouts, users) = (store.clone(), scouts(plan), plan.world.users.clone());
    let simulated = plan.gateway == super::GatewayKind::Simulated;
    expect(report, &format!("books {when}"), async move {
        let scouts: Vec<&str> = scouts.iter().map(String::as_str).collect();
        if simulated {
            assert_books_balance(&store, &scouts, &users).await;
        } else {
            assert_balances(&store, &scouts, &users).await;
        }
    })
    .await;
}

async fn all_payouts(store: &Store, plan: &Plan) -> Vec<Payout> {
    let mut all = Vec::new();
    for user in &plan.world.users {
        all.extend(user_payouts(store, *user).await);
    }
    all
}

/// No transfer in the simulated bank's ledger without a payout of ours of its amount,
/// under an attempt the payout has reached.
pub async fn simulated_ledger(store: &Store, plan: &Plan, report: &mut Report) {
    let payouts = all_payouts(store, plan).await;
    let mut start = None;
    loop {
        let page = store
            .client()
            .scan()
            .table_name(store.table())
            .filter_expression("begins_with(pk, :gateway)")
            .expression_attribute_values(":gateway", AttributeValue::S("GATEWAY#".to_owned()))
            .set_exclusive_start_key(start)
            .send()
            .await;
        let page = match page {
            Ok(page) => page,
            Err(err) => {
                report.violations.push(format!("reading the ledger: {err}"));
                return;
            }
        };
        for item in page.items.unwrap_or_default() {
            let text = |name: &str| match item.get(name) {
                Some(AttributeValue::S(value)) => value.clone(),
                Some(AttributeValue::N(value)) => value.clone(),
                _ => String::new(),
            };
            let key = text("key");
            let payout_id = Uuid::parse_str(&text("payout_id")).ok();
            let attempt: u32 = key
                .rsplit('-')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            match payouts.iter().find(|p| Some(p.payout_id) == payout_id) {
                None => report.violations.push(format!(
                    "the bank holds transfer {key} for no payout of ours"
                )),
                Some(payout) => {
                    if text("amount_paise") != payout.amount_paise.get().to_string() {
                        report.violations.push(format!(
                            "transfer {key} is for {} paise, payout {} for {}",
                            text("amount_paise"),
                            payout.payout_id,
                            payout.amount_paise.get()
                        ));
                    }
                    if attempt == 0 || attempt > payout.attempt {
                        report.violations.push(format!(
                            "transfer {key} names an attempt payout {} never made",
                            payout.payout_id
                        ));
                    }
                }
            }
        }
        match page.last_evaluated_key {
            Some(next) => start = Some(next),
            None => break,
        }
    }
    books(store, plan, report, "against the bank's ledger").await;
}

/// Exactly one processed RazorpayX payout per completed payout, for its amount and
/// with its UTR; none for a failed, cancelled or reversed one; none for no payout.
pub async fn razorpayx_ledger(
    store: &Store,
    plan: &Plan,
    fake: &Arc<FakeRazorpayX>,
    report: &mut Report,
) {
    let payouts = all_payouts(store, plan).await;
    let fake = fake.clone();
    expect(report, "RazorpayX's ledger", async move {
        assert_paid_once(&fake, &payouts);
    })
    .await;
}

/// Claim 7: RazorpayX paid no payout to a fund account it had not verified, under the
/// name it was saved with: every payout at the fake names a fund account with a
/// completed validation of an `active` account whose registered name matches; and no
/// fund account was checked twice but for checks RazorpayX itself failed (refunded).
/// Read from the fake's own records, not ours.
pub fn verified_destinations(fake: &FakeRazorpayX, report: &mut Report) {
    let validations = fake.validations();
    let verified = |fund_account_id: &str| {
        validations.iter().any(|validation| {
            let fund_account = &validation["fund_account"];
            let saved_name = fund_account["bank_account"]["name"]
                .as_str()
                .or_else(|| fund_account["contact"]["name"].as_str());
            fund_account["id"] == fund_account_id
                && validation["status"] == "completed"
                && validation["results"]["account_status"] == "active"
                && match (
                    validation["results"]["registered_name"].as_str(),
                    saved_name,
                ) {
                    (Some(registered), Some(saved)) => {
                        domain::names::names_match(registered, saved)
                    }
                    // A VPA's fund account names no one: its registered name is held to
                    // the contact's, which the fake returns unchanged.
                    (Some(_), None) => true,
                    _ => false,
                }
        })
    };
    for payout in fake.payouts() {
        let fund_account_id = payout["fund_account_id"].as_str().unwrap_or_default();
        if !verified(fund_account_id) {
            report.violations.push(format!(
                "RazorpayX payout {} went to fund account {fund_account_id}, which no \
                 validation verified",
                payout["id"]
            ));
        }
    }
    let mut checks: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for validation in &validations {
        if validation["status"] != "failed" {
            *checks
                .entry(validation["fund_account"]["id"].to_string())
                .or_default() += 1;
        }
    }
    for (fund_account_id, count) in checks {
        if count > 1 {
            report.violations.push(format!(
                "fund account {fund_account_id} was validated {count} times (each a penny)"
            ));
        }
    }
}

/// No payout was sent to a destination its owner had replaced before the attempt
/// reached the gateway: a payout whose destination came from revision `r` of the
/// account, first sent at `t`, finds no later revision whose save had committed before
/// `t`. (The save's instant is taken after it returned, so a claim that raced with it
/// is never counted against it; the claim's is taken before its write, which the
/// account guard refuses once a save has committed.) Its masked destination is also
/// the one revision `r` saved. And no payout was sent while its user's account was on
/// hold: no send falls between a changing save's commit and the end of its hold.
pub async fn destinations(store: &Store, plan: &Plan, saves: &Saves, report: &mut Report) {
    let payouts = all_payouts(store, plan).await;
    let saves = saves.all();
    for payout in &payouts {
        let Ok(saved) = store.payout_account_revisions(payout.user_id, 100).await else {
            continue;
        };
        let later_send = payout
            .attempt_sent_at
            .filter(|at| Some(*at) != payout.first_sent_at);
        for sent in [payout.first_sent_at, later_send].into_iter().flatten() {
            for record in &saved {
                let Some(until) = record.hold_until else {
                    continue;
                };
                let held_from = saves.iter().find(|(user, revision, _)| {
                    *user == payout.user_id && *revision == record.revision
                });
                if let Some((_, _, committed)) = held_from {
                    if *committed < sent && sent < until {
                        report.violations.push(format!(
                            "payout {} attempt {} was sent at {sent}, while user {}'s account \
                             was held (revision {}, from {committed} until {until})",
                            payout.payout_id, payout.attempt, payout.user_id, record.revision
                        ));
                    }
                }
            }
        }
    }
    for payout in payouts {
        let (Some(revision), Some(sent)) = (payout.account_revision, payout.first_sent_at) else {
            continue;
        };
        if let Some((_, replaced_by, committed)) = saves.iter().find(|(user, later, committed)| {
            *user == payout.user_id && *later > revision && *committed < sent
        }) {
            report.violations.push(format!(
                "payout {} attempt {} was sent at {sent} to revision {revision} of user {}'s \
                 account, which revision {replaced_by} had replaced by {committed}",
                payout.payout_id, payout.attempt, payout.user_id
            ));
        }
        let saved = match store.payout_account_revisions(payout.user_id, 100).await {
            Ok(saved) => saved,
            Err(err) => {
                report.violations.push(format!(
                    "the account history of user {} is unreadable: {err}",
                    payout.user_id
                ));
                continue;
            }
        };
        let masked = saved
            .iter()
            .find(|record| record.revision == revision)
            .map(|record| record.destination.clone());
        if masked != payout.destination {
            report.violations.push(format!(
                "payout {} went to {:?}, but revision {revision} of user {}'s account is {masked:?}",
                payout.payout_id, payout.destination, payout.user_id
            ));
        }
    }
}

/// Claim 8: bank details are never stored in plain text. Every user's account item
/// holds its destination masked and fingerprinted, sealed until the gateway holds a
/// fund account for it and not kept after: no `account_number` or `address`, and no
/// seal beside a fund account.
pub async fn sealed_accounts(store: &Store, plan: &Plan, report: &mut Report) {
    for user_id in &plan.world.users {
        let item = match store
            .client()
            .get_item()
            .table_name(store.table())
            .key("pk", AttributeValue::S(format!("ACCOUNT#{user_id}")))
            .key("sk", AttributeValue::S("ACCOUNT".to_owned()))
            .consistent_read(true)
            .send()
            .await
        {
            Ok(found) => found.item,
            Err(err) => {
                report.violations.push(format!(
                    "user {user_id}'s account is unreadable: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(err)
                ));
                continue;
            }
        };
        let Some(item) = item else {
            continue;
        };
        for plain in ["account_number", "address"] {
            if item.contains_key(plain) {
                report.violations.push(format!(
                    "user {user_id}'s account holds `{plain}` in plain text"
                ));
            }
        }
        if !item.contains_key("destination_masked") || !item.contains_key("destination_fingerprint")
        {
            report.violations.push(format!(
                "user {user_id}'s account has no masked or fingerprinted destination"
            ));
        }
        let registered = item.contains_key("gateway_fund_account_id");
        let sealed = item.contains_key("destination_sealed");
        if registered && sealed {
            report.violations.push(format!(
                "user {user_id}'s account keeps its sealed destination beside a fund account"
            ));
        }
        if !registered && !sealed {
            report.violations.push(format!(
                "user {user_id}'s account has neither a fund account nor a sealed destination: \
                 it can never be paid"
            ));
        }
    }
}

fn open(payout: &Payout) -> bool {
    matches!(
        payout.status,
        PayoutStatus::Pending | PayoutStatus::Processing
    )
}

pub async fn open_payouts(store: &Store, plan: &Plan) -> usize {
    let clean = Store::new(store.client().clone(), store.table());
    all_payouts(&clean, plan)
        .await
        .iter()
        .filter(|p| open(p))
        .count()
}

/// Once the faults stopped and the processor ran clean, every payout has ended:
/// completed, or failed / reversed / cancelled with its reason.
pub async fn liveness(store: &Store, plan: &Plan, report: &mut Report) {
    for payout in all_payouts(store, plan).await {
        if open(&payout) {
            report.violations.push(format!(
                "payout {} is still {} after the faults stopped (attempt {}, lease until {:?}, \
                 gateway {:?} {:?}, last error {:?})",
                payout.payout_id,
                payout.status,
                payout.attempt,
                payout.lease_expires_at.map(|t| t.to_string()),
                payout.gateway_payout_id,
                payout.gateway_status,
                payout.last_error
            ));
        } else if matches!(payout.status, PayoutStatus::Failed | PayoutStatus::Reversed)
            && payout.failure_reason.is_none()
        {
            report.violations.push(format!(
                "payout {} is {} with no reason",
                payout.payout_id, payout.status
            ));
        }
    }
}

/// A clock that jumped: the payout's lease, if it is processing, ends now, whoever
/// holds it.
pub async fn expire_lease(store: &Store, payout_id: Uuid) -> String {
    let Ok(Some(payout)) = store.payout(payout_id).await else {
        return "unreadable".to_owned();
    };
    let (PayoutStatus::Processing, Some(expiry)) = (payout.status, payout.lease_expires_at) else {
        return format!("{} (no lease)", payout.status);
    };
    let past = Timestamp::now().minus_secs(1).to_string();
    let written = store
        .client()
        .update_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S(format!("PAYOUT#{payout_id}")))
        .key("sk", AttributeValue::S("PAYOUT".to_owned()))
        .update_expression("SET lease_expires_at = :past")
        .condition_expression("lease_expires_at = :seen AND #status = :processing")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":past", AttributeValue::S(past))
        .expression_attribute_values(":seen", AttributeValue::S(expiry.to_string()))
        .expression_attribute_values(":processing", AttributeValue::S("processing".to_owned()))
        .send()
        .await;
    match written {
        Ok(_) => "lease expired".to_owned(),
        Err(_) => "moved on meanwhile".to_owned(),
    }
}

/// The bank returns a payout RazorpayX processed, whatever our books say of it (even
/// one we requeued with its outcome unknown): RazorpayX marks it reversed and sends
/// `payout.reversed`.
pub async fn reverse_at_gateway(fake: &FakeRazorpayX, pick: usize) -> String {
    let mut processed: Vec<String> = fake
        .payouts()
        .iter()
        .filter(|item| item["status"] == "processed")
        .filter_map(|item| item["id"].as_str().map(str::to_owned))
        .collect();
    processed.sort();
    if processed.is_empty() {
        return "nothing processed at RazorpayX".to_owned();
    }
    let gateway_id = &processed[pick % processed.len()];
    let answer = reqwest::Client::new()
        .post(format!(
            "{}/_fake/payouts/{gateway_id}/status",
            fake.base_url()
        ))
        .json(&json!({"status": "reversed", "reason": "beneficiary_bank_rejected"}))
        .send()
        .await;
    match answer {
        Ok(answer) if answer.status().is_success() => format!("{gateway_id} reversed at RazorpayX"),
        Ok(answer) => format!("RazorpayX refused: {}", answer.status()),
        Err(err) => format!("RazorpayX unreachable: {err}"),
    }
}

/// The HTTP front RazorpayX posts webhooks to: the webhook function over the run's
/// faulty store, where a seeded share of invocations crash (API Gateway then answers
/// 502 and RazorpayX delivers again).
pub struct Front {
    pub addr: SocketAddr,
    crashing: Arc<AtomicBool>,
    violations: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Front {
    /// What the webhook function said that a person would have to look at (a
    /// contradiction, books that refused a report), and any panic in it.
    pub fn violations(&self) -> Vec<String> {
        self.violations
            .lock()
            .map(|found| found.clone())
            .unwrap_or_default()
    }

    pub fn stop_crashing(&self) {
        self.crashing.store(false, Ordering::SeqCst);
    }

    pub fn abort(&self) {
        self.task.abort();
    }
}

pub async fn serve_webhooks(store: Store, seed: u64, crash_rate: f64) -> anyhow::Result<Front> {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode, Uri};
    use axum::response::IntoResponse;

    let mut api = Api::new(store);
    api.app.webhook_secrets = Some(WebhookSecrets::from_lookup(|name| match name {
        "STAGE" => Some("local".to_owned()),
        "RAZORPAYX_WEBHOOK_SECRET" => Some(WEBHOOK_SECRET.to_owned()),
        _ => None,
    })?);
    let api = Arc::new(api);
    let crashing = Arc::new(AtomicBool::new(true));
    let violations: Arc<Mutex<Vec<String>>> = Arc::default();
    let rng = Arc::new(Mutex::new(StdRng::seed_from_u64(seed)));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let (crashes, handler_api, found) = (crashing.clone(), api.clone(), violations.clone());
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
        let (api, crashes, rng) = (handler_api.clone(), crashes.clone(), rng.clone());
        let found = found.clone();
        async move {
            let crash = rng.lock().ok().and_then(|mut rng| {
                (crashes.load(Ordering::SeqCst) && rng.random_bool(crash_rate.clamp(0.0, 1.0)))
                    .then(|| CrashAt {
                        at: rng.random_range(0..4),
                        after: rng.random_bool(0.5),
                    })
            });
            let body = String::from_utf8_lossy(&body).into_owned();
            let headers = crate::api::text_headers(&headers);
            let path = uri.path().to_owned();
            // Its own task, as a Lambda invocation is: a panic in it is caught here.
            let invocation = tokio::spawn(async move {
                let call = api.call(Call {
                    method: "POST",
                    path: &path,
                    body: Some(&body),
                    headers: headers
                        .iter()
                        .map(|(name, value)| (name.as_str(), value.as_str()))
                        .collect(),
                    ..Call::default()
                });
                tokio::time::timeout(super::INVOCATION_TIMEOUT, seams::invoke(crash, call)).await
            });
            let reply = match invocation.await {
                Ok(Ok(Some(reply))) => reply,
                // The function died or timed out: API Gateway's answer.
                Ok(Ok(None) | Err(_)) => return StatusCode::BAD_GATEWAY.into_response(),
                Err(err) => {
                    let message = if err.is_panic() {
                        super::panic_message(err.into_panic())
                    } else {
                        err.to_string()
                    };
                    if let Ok(mut found) = found.lock() {
                        found.push(format!("the webhook function panicked: {message}"));
                    }
                    return StatusCode::BAD_GATEWAY.into_response();
                }
            };
            let handled = reply.body["handled"].as_str().unwrap_or_default();
            if matches!(handled, "contradicts" | "needs_attention") {
                if let Ok(mut found) = found.lock() {
                    found.push(format!(
                        "a webhook was answered `{handled}`: {}",
                        reply.body
                    ));
                }
            }
            (
                StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_GATEWAY),
                axum::Json(reply.body),
            )
                .into_response()
        }
    });
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Front {
        addr,
        crashing,
        violations,
        task,
    })
}
