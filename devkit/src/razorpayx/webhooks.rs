//! Webhooks as RazorpayX sends them (https://razorpay.com/docs/webhooks/payouts/):
//! signed, at least once, retried with backoff, and with seeded duplicates and late
//! deliveries. The outbox has its own lock, taken after the fake's when an event is
//! queued and alone when one is sent, so a slow receiver never holds up the API.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use serde_json::{json, Map, Value};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::clock::unix_now;
use super::config::WebhookConfig;

/// `acc_` and 14 characters, like a real RazorpayX account id; the fake has one account.
pub const WEBHOOK_ACCOUNT_ID: &str = "acc_LocalFakeRzpX1";

/// RazorpayX treats an answer not received within 5 s as a failure
/// (https://razorpay.com/docs/webhooks/best-practices/).
pub(super) const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// Waits past this are not interesting locally, and keep the arithmetic in range.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(600);

/// Events made and not yet delivered or given up, with the record of every delivery.
pub(super) struct Outbox {
    /// Its own generator, so that turning webhooks on leaves the payouts' seeded
    /// behaviour (ids, faults, UTRs) as it was.
    rng: StdRng,
    queue: VecDeque<Delivery>,
    records: Vec<DeliveryRecord>,
    /// Deliveries queued, held back or in flight.
    outstanding: usize,
    wake: Arc<Notify>,
}

/// The outbox and its lock, shared by the fake (which queues) and the dispatcher
/// (which sends).
pub(super) type SharedOutbox = Arc<Mutex<Outbox>>;

impl Outbox {
    pub(super) fn new(seed: u64) -> Self {
        Outbox {
            rng: StdRng::seed_from_u64(seed ^ u64::from_be_bytes(*b"webhooks")),
            queue: VecDeque::new(),
            records: Vec::new(),
            outstanding: 0,
            wake: Arc::new(Notify::new()),
        }
    }
}

/// One copy of an event on its way; a duplicated event is two of these.
struct Delivery {
    record: usize,
    url: String,
    event_id: String,
    /// Signed once: every attempt and copy carries these exact bytes.
    body: Bytes,
    signature: String,
    hold: Duration,
    attempts: u32,
    max_attempts: u32,
    retry_base: Duration,
    /// Its own, so the backoff does not depend on how deliveries interleave.
    jitter: StdRng,
}

#[derive(Clone, Debug, Serialize)]
struct DeliveryRecord {
    event_id: String,
    event: String,
    /// The payout the event is about; empty (and not shown) for a validation's.
    #[serde(skip_serializing_if = "String::is_empty")]
    payout_id: String,
    /// The fund account validation the event is about, for a validation's.
    #[serde(skip_serializing_if = "Option::is_none")]
    validation_id: Option<String>,
    status: String,
    /// 1, or 2 for the second copy of a duplicated event.
    copy: u8,
    held_back_ms: u64,
    attempts: u32,
    last_http_status: Option<u16>,
    last_error: Option<String>,
    delivered: bool,
    /// `pending` (queued, held back, in flight or waiting to retry), `delivered`,
    /// `failed` (every attempt failed), or `dropped` (never sent, on purpose).
    state: &'static str,
}

#[derive(Serialize)]
struct Envelope<'a> {
    entity: &'static str,
    account_id: &'static str,
    event: &'a str,
    contains: [&'static str; 1],
    payload: Value,
    created_at: i64,
}

/// The event RazorpayX fires when a payout enters `status`
/// (https://razorpay.com/docs/webhooks/payouts/).
fn event_name(status: &str) -> &'static str {
    match status {
        "processing" => "payout.initiated",
        "queued" => "payout.queued",
        "processed" => "payout.processed",
        "failed" => "payout.failed",
        "rejected" => "payout.rejected",
        "reversed" => "payout.reversed",
        "pending" => "payout.pending",
        _ => "payout.updated",
    }
}

/// `X-Razorpay-Signature`: lowercase hex HMAC-SHA256 of the body.
fn signature(secret: &str, body: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    aws_lc_rs::hmac::sign(&key, body)
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn alphanumerics(rng: &mut StdRng, count: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..count)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// What an event is about, for its delivery records.
enum Subject {
    Payout(String),
    Validation(String),
}

impl Outbox {
    /// Wakes the dispatcher when an event is queued.
    pub(super) fn wake(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Deliveries queued, held back or in flight.
    pub(super) fn outstanding(&self) -> usize {
        self.outstanding
    }

    /// One record per delivery (a duplicated event has two), in the order the events
    /// were made.
    pub(super) fn deliveries(&self) -> Vec<Value> {
        self.records.iter().map(|record| json!(record)).collect()
    }

    /// Queues the webhook for a payout that just changed; `entity` is its public view
    /// at that moment, which later changes must not alter.
    pub(super) fn payout_changed(&mut self, settings: &WebhookConfig, entity: Value) {
        let status = entity["status"].as_str().unwrap_or_default().to_owned();
        let payout_id = entity["id"].as_str().unwrap_or_default().to_owned();
        let event = event_name(&status);
        self.queue_event(
            settings,
            event,
            "payout",
            entity,
            status,
            Subject::Payout(payout_id),
        );
    }

    /// Records the webhook for a payout's change as dropped: RazorpayX never sends it
    /// (the `drop_webhooks` fault, or a control request that asks for it), as when a
    /// webhook is disabled or its retries run out unseen.
    pub(super) fn payout_change_dropped(&mut self, entity: &Value) {
        let status = entity["status"].as_str().unwrap_or_default().to_owned();
        self.records.push(DeliveryRecord {
            event_id: String::new(),
            event: event_name(&status).to_owned(),
            payout_id: entity["id"].as_str().unwrap_or_default().to_owned(),
            validation_id: None,
            status,
            copy: 0,
            held_back_ms: 0,
            attempts: 0,
            last_http_status: None,
            last_error: None,
            delivered: false,
            state: "dropped",
        });
    }

    /// Queues the webhook for a validation that just settled (docs/RAZORPAYX.md):
    /// `.failed` when RazorpayX could not finish it, `.completed` otherwise, an
    /// invalid account included.
    pub(super) fn validation_settled(&mut self, settings: &WebhookConfig, entity: Value) {
        let status = entity["status"].as_str().unwrap_or_default().to_owned();
        let id = entity["id"].as_str().unwrap_or_default().to_owned();
        let event = if status == "failed" {
            "fund_account.validation.failed"
        } else {
            "fund_account.validation.completed"
        };
        self.queue_event(
            settings,
            event,
            "fund_account.validation",
            entity,
            status,
            Subject::Validation(id),
        );
    }

    /// Signs and queues one event whose payload is `{contains: {entity}}`, the shape
    /// of every RazorpayX event (https://razorpay.com/docs/webhooks/payouts/).
    fn queue_event(
        &mut self,
        settings: &WebhookConfig,
        event: &str,
        contains: &'static str,
        entity: Value,
        status: String,
        subject: Subject,
    ) {
        let Some(url) = settings.url.clone() else {
            return;
        };
        let outbox = self;
        let (payout_id, validation_id) = match subject {
            Subject::Payout(id) => (id, None),
            Subject::Validation(id) => (String::new(), Some(id)),
        };
        let event_id = format!("evt_{}", alphanumerics(&mut outbox.rng, 14));
        let mut payload = Map::new();
        payload.insert(contains.to_owned(), json!({ "entity": entity }));
        let envelope = Envelope {
            entity: "event",
            account_id: WEBHOOK_ACCOUNT_ID,
            event,
            contains: [contains],
            payload: Value::Object(payload),
            created_at: unix_now(),
        };
        let body = match serde_json::to_vec(&envelope) {
            Ok(body) => Bytes::from(body),
            Err(err) => {
                let about = validation_id.as_deref().unwrap_or(&payout_id);
                eprintln!("local RazorpayX: could not encode {event} for {about}: {err}");
                return;
            }
        };
        let signature = signature(&settings.secret, &body);
        let copies = if roll(&mut outbox.rng, settings.duplicate) {
            2
        } else {
            1
        };
        let hold = if roll(&mut outbox.rng, settings.late) {
            let longest = u64::try_from(settings.late_by.as_millis()).unwrap_or(u64::MAX);
            Duration::from_millis(outbox.rng.random_range(longest / 2..=longest))
        } else {
            Duration::ZERO
        };
        for copy in 1..=copies {
            outbox.records.push(DeliveryRecord {
                event_id: event_id.clone(),
                event: event.to_owned(),
                payout_id: payout_id.clone(),
                validation_id: validation_id.clone(),
                status: status.clone(),
                copy,
                held_back_ms: u64::try_from(hold.as_millis()).unwrap_or(u64::MAX),
                attempts: 0,
                last_http_status: None,
                last_error: None,
                delivered: false,
                state: "pending",
            });
            let jitter = StdRng::seed_from_u64(outbox.rng.random());
            outbox.queue.push_back(Delivery {
                record: outbox.records.len() - 1,
                url: url.clone(),
                event_id: event_id.clone(),
                body: body.clone(),
                signature: signature.clone(),
                hold,
                attempts: 0,
                max_attempts: settings.max_attempts.max(1),
                retry_base: settings.retry_base,
                jitter,
            });
            outbox.outstanding += 1;
        }
        outbox.wake.notify_one();
    }
}

fn roll(rng: &mut StdRng, rate: f64) -> bool {
    rate > 0.0 && rng.random_bool(rate.min(1.0))
}

/// Sends queued events one at a time, in the order the payouts changed; a held-back
/// event and the retries of a failed one go on their own, so they neither stall the
/// queue nor keep their place in it (RazorpayX promises no order either: docs/RAZORPAYX.md, "Webhooks").
/// Owning the side tasks here means aborting this task stops them too.
pub(super) async fn dispatch_webhooks(
    outbox: SharedOutbox,
    wake: Arc<Notify>,
    client: reqwest::Client,
) {
    let mut side = JoinSet::new();
    loop {
        while side.try_join_next().is_some() {}
        let next = match outbox.lock() {
            Ok(mut outbox) => outbox.queue.pop_front(),
            Err(_) => return,
        };
        let Some(mut delivery) = next else {
            wake.notified().await;
            continue;
        };
        if !delivery.hold.is_zero() {
            let (outbox, client) = (outbox.clone(), client.clone());
            side.spawn(async move {
                tokio::time::sleep(delivery.hold).await;
                deliver(&outbox, &client, delivery).await;
            });
            continue;
        }
        if attempt(&outbox, &client, &mut delivery).await {
            continue;
        }
        let (outbox, client) = (outbox.clone(), client.clone());
        side.spawn(async move {
            tokio::time::sleep(backoff(&mut delivery)).await;
            deliver(&outbox, &client, delivery).await;
        });
    }
}

/// Attempts until delivered or out of attempts.
async fn deliver(outbox: &SharedOutbox, client: &reqwest::Client, mut delivery: Delivery) {
    while !attempt(outbox, client, &mut delivery).await {
        tokio::time::sleep(backoff(&mut delivery)).await;
    }
}

/// The wait after the `attempts`-th failure: base × 2^(attempts − 1), plus up to half
/// of that again.
fn backoff(delivery: &mut Delivery) -> Duration {
    let doublings = delivery.attempts.saturating_sub(1).min(30);
    let wait = delivery
        .retry_base
        .saturating_mul(1 << doublings)
        .min(MAX_RETRY_WAIT);
    wait.mul_f64(1.0 + delivery.jitter.random_range(0.0..0.5))
}

/// One POST; true when the delivery is finished, delivered or given up.
async fn attempt(outbox: &SharedOutbox, client: &reqwest::Client, delivery: &mut Delivery) -> bool {
    delivery.attempts += 1;
    let sent = client
        .post(&delivery.url)
        .header("Content-Type", "application/json")
        .header("X-Razorpay-Event-Id", &delivery.event_id)
        .header("X-Razorpay-Signature", &delivery.signature)
        .body(delivery.body.clone())
        .send()
        .await;
    let (http_status, error) = match sent {
        Ok(response) => (Some(response.status().as_u16()), None),
        Err(err) => {
            let kind = if err.is_timeout() {
                "timed out"
            } else if err.is_connect() {
                "could not connect"
            } else {
                "failed"
            };
            (None, Some(format!("{kind}: {err}")))
        }
    };
    let delivered = http_status.is_some_and(|status| (200..300).contains(&status));
    let done = delivered || delivery.attempts >= delivery.max_attempts;
    if let Ok(mut outbox) = outbox.lock() {
        if let Some(record) = outbox.records.get_mut(delivery.record) {
            record.attempts = delivery.attempts;
            record.last_http_status = http_status;
            record.last_error = error;
            record.delivered = delivered;
            if done {
                record.state = if delivered { "delivered" } else { "failed" };
            }
        }
        if done {
            outbox.outstanding = outbox.outstanding.saturating_sub(1);
        }
    }
    done
}
