//! 4. 1,000 webhooks, 30 % of them redeliveries: each applied once.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::fixtures::{backlog, backlog_scouts, books, fresh_store, payouts_of, BACKLOG_SCOUTS};
use super::text::{describe_counts, SplitMix64};
use super::{Db, Row};
use anyhow::{Context, Result};
use devkit::api::{Api, Call};
use domain::payout::{Payout, PayoutStatus};
use gateway::razorpayx_webhook::signature;
use serde_json::json;
use service::config::WebhookSecrets;
use tokio::task::JoinHandle;

const WEBHOOK_SECRET: &str = "load-test-webhook-secret-0001";

pub(super) struct Delivery {
    payout: usize,
    body: String,
    event_id: String,
    signature: String,
}

pub(super) struct Delivered {
    payout: usize,
    latency: Duration,
    status: u16,
    handled: String,
}

pub(super) async fn webhooks(db: &Db) -> Result<Row> {
    const DISTINCT: usize = 700;
    const DUPLICATES: usize = 300;
    const WORKERS: usize = 20;
    const SEED: u64 = 0x5EED_0004;

    let store = fresh_store(&db.client, "webhooks").await?;
    let (scouts, users) = backlog_scouts(&store, DISTINCT).await?;
    let sent = backlog(&store, DISTINCT, true).await?;

    let mut deliveries: Vec<Delivery> = sent
        .iter()
        .enumerate()
        .map(|(index, payout)| {
            let body = processed_event(payout, &format!("pout_load{index:06}"));
            Delivery {
                payout: index,
                signature: signature(body.as_bytes(), WEBHOOK_SECRET),
                event_id: format!("evt_load{index:012}"),
                body,
            }
        })
        .collect();
    // RazorpayX redelivers an event unchanged, under its id: any of them, any number
    // of times, in any order relative to the first delivery.
    let mut rng = SplitMix64(SEED);
    for _ in 0..DUPLICATES {
        let original = &deliveries[rng.below(DISTINCT)];
        let again = Delivery {
            payout: original.payout,
            body: original.body.clone(),
            event_id: original.event_id.clone(),
            signature: original.signature.clone(),
        };
        deliveries.push(again);
    }
    for index in (1..deliveries.len()).rev() {
        deliveries.swap(index, rng.below(index + 1));
    }
    let total = deliveries.len();
    let redelivered = {
        let mut seen = vec![0usize; DISTINCT];
        for delivery in &deliveries {
            seen[delivery.payout] += 1;
        }
        seen.iter().filter(|count| **count > 1).count()
    };

    let mut api = Api::new(store.clone());
    api.app.webhook_secrets = Some(
        WebhookSecrets::from_lookup(|name| match name {
            "STAGE" => Some(service::config::LOCAL_STAGE.to_owned()),
            "RAZORPAYX_WEBHOOK_SECRET" => Some(WEBHOOK_SECRET.to_owned()),
            _ => None,
        })
        .context("the load test's webhook secret")?,
    );
    let api = Arc::new(api);
    let deliveries = Arc::new(deliveries);
    let next = Arc::new(AtomicUsize::new(0));
    db.counter.reset();
    let started = Instant::now();
    let workers: Vec<JoinHandle<Vec<Delivered>>> = (0..WORKERS)
        .map(|_| {
            let (api, deliveries, next) = (api.clone(), deliveries.clone(), next.clone());
            tokio::spawn(async move {
                let mut done = Vec::new();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(delivery) = deliveries.get(index) else {
                        return done;
                    };
                    let sent = Instant::now();
                    let reply = api
                        .call(Call {
                            method: "POST",
                            path: "/webhooks/razorpayx",
                            body: Some(&delivery.body),
                            headers: vec![
                                ("x-razorpay-event-id", &delivery.event_id),
                                ("x-razorpay-signature", &delivery.signature),
                            ],
                            ..Call::default()
                        })
                        .await;
                    let handled = match reply.body["handled"].as_str() {
                        Some(handled) => handled.to_owned(),
                        None => format!("{} {}", reply.status, reply.code()),
                    };
                    done.push(Delivered {
                        payout: delivery.payout,
                        latency: sent.elapsed(),
                        status: reply.status,
                        handled,
                    });
                }
            })
        })
        .collect();
    let mut row = Row::new("4. 1,000 webhooks, 30 % duplicates");
    let mut handled: BTreeMap<String, usize> = BTreeMap::new();
    let mut applied = vec![0usize; DISTINCT];
    let mut not_200 = 0;
    for worker in workers {
        for delivered in worker.await.context("a webhook worker died")? {
            row.latencies.push(delivered.latency);
            not_200 += usize::from(delivered.status != 200);
            if delivered.handled == "applied" {
                applied[delivered.payout] += 1;
            }
            *handled.entry(delivered.handled).or_default() += 1;
        }
    }
    row.wall = started.elapsed();
    db.note_requests(&mut row, "while timed");
    row.requests = row.latencies.len();

    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    let mut paid_with_utr = 0;
    for user in &users {
        for payout in payouts_of(&store, *user).await? {
            *by_status.entry(payout.status.to_string()).or_default() += 1;
            paid_with_utr += usize::from(
                payout.status == PayoutStatus::Completed
                    && payout.payment_reference.as_deref() == Some(UTR),
            );
        }
    }
    let completed = by_status.get("completed").copied().unwrap_or(0);
    let applied_once = applied.iter().filter(|count| **count == 1).count();
    let applied_twice = applied.iter().filter(|count| **count > 1).count();
    let answered_as_seen = handled
        .iter()
        .filter(|(what, _)| what.as_str() != "applied")
        .all(|(what, _)| what == "duplicate" || what == "ignored");
    let repeats = total - DISTINCT;
    let repeats_answered = handled.get("duplicate").copied().unwrap_or(0)
        + handled.get("ignored").copied().unwrap_or(0);

    row.check(
        completed == DISTINCT && paid_with_utr == DISTINCT,
        format!(
            "{completed}/{DISTINCT} completed with the UTR ({})",
            describe_counts(&by_status)
        ),
    );
    row.check(
        applied_once == DISTINCT && applied_twice == 0,
        format!("applied once {applied_once}, more than once {applied_twice}"),
    );
    row.check(
        answered_as_seen && repeats_answered == repeats,
        format!("answers {}", describe_counts(&handled)),
    );
    row.check(not_200 == 0, format!("{not_200} non-200 answers"));
    let scout_ids: Vec<&str> = scouts.iter().map(String::as_str).collect();
    // The balances and summaries only: these payouts were paid by a bank that exists
    // only in the events, so the simulated gateway's ledger has nothing to agree with.
    books(&mut row, &store, &scout_ids, &users, false).await;
    row.notes.push(format!(
        "{DISTINCT} distinct `payout.processed` events + {repeats} redeliveries (same id and \
         body) of {redelivered} of them, shuffled with seed {SEED:#x}, {WORKERS} at a time; \
         payouts of {BACKLOG_SCOUTS} scouts, claimed and sent before the run"
    ));
    row.notes.push(
        "a redelivery that races its first delivery is answered `ignored` (the payout is \
         already completed) instead of `duplicate` (the receipt is written after the payout)"
            .to_owned(),
    );
    Ok(row)
}

pub(super) const UTR: &str = "UTR0000000001";

/// The `payout.processed` event RazorpayX would send for the payout's current attempt
/// (shared/service/tests/webhooks.rs builds the same); the caller signs it.
pub(super) fn processed_event(payout: &Payout, gateway_id: &str) -> String {
    json!({
        "entity": "event",
        "account_id": "acc_00000000000001",
        "event": "payout.processed",
        "contains": ["payout"],
        "payload": {"payout": {"entity": {
            "id": gateway_id,
            "entity": "payout",
            "fund_account_id": "fa_00000000000001",
            "amount": payout.amount_paise.get(),
            "currency": "INR",
            "notes": {
                "idempotency_key": payout.idempotency_key().as_str(),
                "attempt": payout.attempt.to_string(),
            },
            "fees": 590,
            "tax": 90,
            "status": "processed",
            "utr": UTR,
            "mode": "IMPS",
            "purpose": "payout",
            "reference_id": payout.payout_id.to_string(),
            "narration": "Payout",
            "batch_id": null,
            "status_details": {"reason": null, "description": null, "source": null},
            "created_at": 1_795_485_600
        }}},
        "created_at": 1_795_485_600
    })
    .to_string()
}
