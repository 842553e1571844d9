//! The local RazorpayX's webhooks (https://razorpay.com/docs/webhooks/payouts/): every
//! payout status change is POSTed to a receiver, signed, retried on failure, and
//! duplicated or held back when told to. A small axum receiver here records what arrives;
//! no DynamoDB is involved.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use devkit::razorpayx::{
    wait_for_status, FakeApi, FakeConfig, FakeRazorpayX, WebhookConfig, WEBHOOK_ACCOUNT_ID,
};
use serde_json::{json, Value};
use service::config::{DEV_RAZORPAYX_ACCOUNT_NUMBER, DEV_RAZORPAYX_WEBHOOK_SECRET};

const IDLE: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
struct Received {
    event_id: String,
    signature: String,
    content_type: String,
    body: Bytes,
    json: Value,
}

impl Received {
    fn event(&self) -> &str {
        self.json["event"].as_str().unwrap()
    }

    fn entity(&self) -> &Value {
        &self.json["payload"]["payout"]["entity"]
    }
}

#[derive(Default)]
struct Inbox {
    /// Answers for the next requests, in order; 200 once it runs out.
    script: VecDeque<u16>,
    received: Vec<Received>,
}

#[derive(Clone)]
struct Receiver {
    url: String,
    inbox: Arc<Mutex<Inbox>>,
}

impl Receiver {
    async fn start(script: &[u16]) -> Receiver {
        let inbox = Arc::new(Mutex::new(Inbox {
            script: script.iter().copied().collect(),
            received: Vec::new(),
        }));
        let app = Router::new()
            .route("/webhooks/razorpayx", post(receive))
            .with_state(inbox.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver {
            url: format!("http://{addr}/webhooks/razorpayx"),
            inbox,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.inbox.lock().unwrap().received.clone()
    }

    fn of(&self, payout_id: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.entity()["id"] == payout_id)
            .collect()
    }
}

async fn receive(
    State(inbox): State<Arc<Mutex<Inbox>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let mut inbox = inbox.lock().unwrap();
    inbox.received.push(Received {
        event_id: header("x-razorpay-event-id"),
        signature: header("x-razorpay-signature"),
        content_type: header("content-type"),
        json: serde_json::from_slice(&body).unwrap(),
        body,
    });
    StatusCode::from_u16(inbox.script.pop_front().unwrap_or(200)).unwrap()
}

/// Our own hex HMAC-SHA256, to hold the fake's signature to.
fn expected_signature(secret: &str, body: &[u8]) -> String {
    use aws_lc_rs::hmac;
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()), body);
    tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn assert_well_formed(received: &Received) {
    assert_eq!(received.content_type, "application/json");
    assert_eq!(
        received.signature,
        expected_signature(DEV_RAZORPAYX_WEBHOOK_SECRET, &received.body),
        "signature of {}",
        received.event_id
    );
    let id = received.event_id.strip_prefix("evt_").unwrap();
    assert!(
        id.len() == 14 && id.bytes().all(|b| b.is_ascii_alphanumeric()),
        "event id {}",
        received.event_id
    );
    let envelope = &received.json;
    assert_eq!(envelope["entity"], "event");
    assert_eq!(envelope["account_id"], WEBHOOK_ACCOUNT_ID);
    assert_eq!(envelope["contains"], json!(["payout"]));
    assert!(envelope["created_at"].as_i64().unwrap() > 1_600_000_000);
    assert_eq!(received.entity()["entity"], "payout");
    let expected = match received.entity()["status"].as_str().unwrap() {
        "processing" => "payout.initiated".to_owned(),
        "cancelled" => "payout.updated".to_owned(),
        status => format!("payout.{status}"),
    };
    assert_eq!(received.event(), expected);
}

fn events(received: &[Received]) -> Vec<&str> {
    received.iter().map(Received::event).collect()
}

async fn fake_with(
    receiver: &Receiver,
    settle_after: Duration,
    webhooks: WebhookConfig,
) -> FakeRazorpayX {
    FakeRazorpayX::start(
        0,
        FakeConfig {
            settle_after,
            seed: 42,
            webhooks: WebhookConfig {
                url: Some(receiver.url.clone()),
                retry_base: Duration::from_millis(20),
                ..webhooks
            },
            ..FakeConfig::default()
        },
    )
    .await
    .unwrap()
}

/// The fake's own HTTP API, as the gateway client calls it, with Asha Verma's fund
/// account to pay.
struct Api {
    client: FakeApi,
    fund_account_id: String,
}

impl Api {
    async fn new(fake: &FakeRazorpayX) -> Api {
        let client = FakeApi::new(fake);
        let fund_account_id = client.fund_account().await;
        Api {
            client,
            fund_account_id,
        }
    }

    async fn payout(&self, key: &str, amount: u64) -> Value {
        self.client
            .v1_ok(
                "/v1/payouts",
                Some(json!({"account_number": DEV_RAZORPAYX_ACCOUNT_NUMBER,
                            "fund_account_id": self.fund_account_id, "amount": amount,
                            "currency": "INR", "mode": "IMPS", "purpose": "payout",
                            "queue_if_low_balance": true, "reference_id": key})),
                Some(key),
            )
            .await
    }

    async fn fetch(&self, id: &str) -> Value {
        self.client
            .v1_ok(&format!("/v1/payouts/{id}"), None, None)
            .await
    }

    async fn set_status(&self, id: &str, body: Value) -> (StatusCode, Value) {
        self.client
            .control(&format!("payouts/{id}/status"), Some(body))
            .await
    }
}

#[tokio::test]
async fn a_payouts_lifecycle_arrives_in_order_signed_with_the_entity_at_each_change() {
    let receiver = Receiver::start(&[]).await;
    let fake = fake_with(
        &receiver,
        Duration::from_millis(100),
        WebhookConfig::default(),
    )
    .await;
    let api = Api::new(&fake).await;

    let created = api.payout("lifecycle-1", 10_000).await;
    let id = created["id"].as_str().unwrap();
    wait_for_status(&fake, id, "processed").await;
    fake.wait_for_webhooks_idle(IDLE).await.unwrap();

    let received = receiver.of(id);
    assert_eq!(events(&received), ["payout.initiated", "payout.processed"]);
    received.iter().for_each(assert_well_formed);
    assert_ne!(received[0].event_id, received[1].event_id);
    // Each carries the payout as it was then: the creation's answer, then today's.
    assert_eq!(received[0].entity(), &created);
    assert_eq!(received[0].entity()["utr"], Value::Null);
    assert_eq!(received[1].entity(), &api.fetch(id).await);
    assert!(received[1].entity()["utr"].is_string());

    let deliveries = fake.webhook_deliveries();
    assert_eq!(deliveries.len(), 2);
    for (delivery, received) in deliveries.iter().zip(&received) {
        assert_eq!(delivery["event_id"], received.event_id);
        assert_eq!(delivery["event"], received.event());
        assert_eq!(delivery["payout_id"], id);
        assert_eq!(delivery["status"], received.entity()["status"]);
        assert_eq!(delivery["attempts"], 1);
        assert_eq!(delivery["last_http_status"], 200);
        assert_eq!(delivery["delivered"], true);
        assert_eq!(delivery["state"], "delivered");
    }
    let (_, listed) = api.client.control("webhooks", None).await;
    assert_eq!(listed["items"], json!(deliveries));
}

#[tokio::test]
async fn a_failed_delivery_is_retried_with_the_same_event_id_and_body() {
    let receiver = Receiver::start(&[500, 500]).await;
    // Settles in an hour: the creation's event is the only one.
    let fake = fake_with(
        &receiver,
        Duration::from_secs(3600),
        WebhookConfig::default(),
    )
    .await;
    let api = Api::new(&fake).await;

    api.payout("retry-1", 10_000).await;
    fake.wait_for_webhooks_idle(IDLE).await.unwrap();

    let received = receiver.received();
    assert_eq!(received.len(), 3, "{received:?}");
    received.iter().for_each(assert_well_formed);
    assert!(received.iter().all(|r| r.event_id == received[0].event_id));
    assert!(received.iter().all(|r| r.body == received[0].body));
    let deliveries = fake.webhook_deliveries();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0]["attempts"], 3);
    assert_eq!(deliveries[0]["last_http_status"], 200);
    assert_eq!(deliveries[0]["delivered"], true);
}

#[tokio::test]
async fn a_delivery_that_keeps_failing_is_given_up_as_failed() {
    let receiver = Receiver::start(&[503; 10]).await;
    let fake = fake_with(
        &receiver,
        Duration::from_secs(3600),
        WebhookConfig {
            max_attempts: 3,
            ..WebhookConfig::default()
        },
    )
    .await;
    let api = Api::new(&fake).await;

    api.payout("give-up-1", 10_000).await;
    fake.wait_for_webhooks_idle(IDLE).await.unwrap();

    assert_eq!(receiver.received().len(), 3);
    let deliveries = fake.webhook_deliveries();
    assert_eq!(deliveries[0]["attempts"], 3);
    assert_eq!(deliveries[0]["last_http_status"], 503);
    assert_eq!(deliveries[0]["delivered"], false);
    assert_eq!(deliveries[0]["state"], "failed");
}

#[tokio::test]
async fn with_the_duplicate_fault_every_event_arrives_twice_under_one_id() {
    let receiver = Receiver::start(&[]).await;
    let fake = fake_with(
        &receiver,
        Duration::from_millis(50),
        WebhookConfig {
            duplicate: 1.0,
            ..WebhookConfig::default()
        },
    )
    .await;
    let api = Api::new(&fake).await;

    let id = api.payout("duplicate-1", 10_000).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for_status(&fake, &id, "processed").await;
    fake.wait_for_webhooks_idle(IDLE).await.unwrap();

    let received = receiver.of(&id);
    received.iter().for_each(assert_well_formed);
    let mut by_id: BTreeMap<&str, Vec<&Received>> = BTreeMap::new();
    for r in &received {
        by_id.entry(&r.event_id).or_default().push(r);
    }
    assert_eq!(by_id.len(), 2, "{received:?}");
    for copies in by_id.values() {
        assert_eq!(copies.len(), 2);
        assert_eq!(copies[0].body, copies[1].body);
    }
    assert_eq!(
        events(&received),
        [
            "payout.initiated",
            "payout.initiated",
            "payout.processed",
            "payout.processed"
        ]
    );
    assert_eq!(fake.webhook_deliveries().len(), 4);
}

#[tokio::test]
async fn with_the_late_fault_a_settlement_can_overtake_its_initiation() {
    const LATE_BY_MS: u64 = 2_000;
    // The settlement comes within ~70 ms (20 ms, then the next 50 ms tick) of the
    // initiation; a payout whose initiation is held back longer than its settlement by
    // well over that must show the overtaking.
    const MARGIN_MS: u64 = 250;
    let receiver = Receiver::start(&[]).await;
    let fake = fake_with(
        &receiver,
        Duration::from_millis(20),
        WebhookConfig {
            late: 1.0,
            late_by: Duration::from_millis(LATE_BY_MS),
            ..WebhookConfig::default()
        },
    )
    .await;
    let api = Api::new(&fake).await;

    // One payout at a time, so the seeded hold-backs fall on the same events each run.
    let mut ids = Vec::new();
    for n in 0..6 {
        let id = api.payout(&format!("late-{n}"), 10_000).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        wait_for_status(&fake, &id, "processed").await;
        ids.push(id);
    }
    fake.wait_for_webhooks_idle(IDLE).await.unwrap();

    let deliveries = fake.webhook_deliveries();
    let held = |id: &str, event: &str| {
        deliveries
            .iter()
            .find(|d| d["payout_id"] == id && d["event"] == event)
            .and_then(|d| d["held_back_ms"].as_u64())
            .unwrap()
    };
    assert!(deliveries
        .iter()
        .all(|d| (LATE_BY_MS / 2..=LATE_BY_MS).contains(&d["held_back_ms"].as_u64().unwrap())));
    let certain: Vec<&String> = ids
        .iter()
        .filter(|id| held(id, "payout.initiated") > held(id, "payout.processed") + MARGIN_MS)
        .collect();
    assert!(
        !certain.is_empty(),
        "seed 42 holds no initiation back enough: {deliveries:?}"
    );
    for id in certain {
        let received = receiver.of(id);
        received.iter().for_each(assert_well_formed);
        assert_eq!(
            events(&received),
            ["payout.processed", "payout.initiated"],
            "payout {id}"
        );
    }
    assert_eq!(receiver.received().len(), 12);
}

#[tokio::test]
async fn a_reversal_after_processing_credits_the_balance_and_sends_payout_reversed() {
    let receiver = Receiver::start(&[]).await;
    let fake = fake_with(
        &receiver,
        Duration::from_millis(50),
        WebhookConfig::default(),
    )
    .await;
    let api = Api::new(&fake).await;
    let opening = fake.balance();

    let id = api.payout("reversal-1", 25_000).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for_status(&fake, &id, "processed").await;
    assert_eq!(fake.balance(), opening - 25_000);
    let utr = api.fetch(&id).await["utr"].clone();

    let (status, view) = api
        .set_status(
            &id,
            json!({"status": "reversed", "reason": "bank_account_closed"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(fake.balance(), opening);
    fake.wait_for_webhooks_idle(IDLE).await.unwrap();

    let received = receiver.of(&id);
    received.iter().for_each(assert_well_formed);
    assert_eq!(
        events(&received),
        ["payout.initiated", "payout.processed", "payout.reversed"]
    );
    let reversed = received[2].entity();
    assert_eq!(reversed["status"], "reversed");
    assert_eq!(reversed["status_details"]["reason"], "bank_account_closed");
    assert_eq!(reversed["utr"], utr);
    assert_eq!(reversed, &api.fetch(&id).await);

    // Once reversed it stays so, and the money is not credited twice.
    let (status, _) = api.set_status(&id, json!({"status": "reversed"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(fake.balance(), opening);
    fake.wait_for_webhooks_idle(IDLE).await.unwrap();
    assert_eq!(receiver.of(&id).len(), 3);
}

#[tokio::test]
async fn queued_cancelled_and_released_payouts_send_their_events() {
    let receiver = Receiver::start(&[]).await;
    let fake = FakeRazorpayX::start(
        0,
        FakeConfig {
            settle_after: Duration::from_millis(50),
            opening_balance: 5_000,
            webhooks: WebhookConfig {
                url: Some(receiver.url.clone()),
                ..WebhookConfig::default()
            },
            ..FakeConfig::default()
        },
    )
    .await
    .unwrap();
    let api = Api::new(&fake).await;

    let cancelled = api.payout("queued-1", 10_000).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let released = api.payout("queued-2", 10_000).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.client
        .v1_ok(
            &format!("/v1/payouts/{cancelled}/cancel"),
            Some(json!({})),
            None,
        )
        .await;
    fake.set_balance(1_000_000);
    wait_for_status(&fake, &released, "processed").await;
    fake.wait_for_webhooks_idle(IDLE).await.unwrap();

    let of_cancelled = receiver.of(&cancelled);
    of_cancelled.iter().for_each(assert_well_formed);
    assert_eq!(events(&of_cancelled), ["payout.queued", "payout.updated"]);
    assert_eq!(
        of_cancelled[0].entity()["status_details"]["reason"],
        "low_balance"
    );
    assert_eq!(of_cancelled[1].entity()["status"], "cancelled");
    let of_released = receiver.of(&released);
    of_released.iter().for_each(assert_well_formed);
    assert_eq!(
        events(&of_released),
        ["payout.queued", "payout.initiated", "payout.processed"]
    );
}

#[tokio::test]
async fn webhooks_leave_the_seeded_payouts_as_they_were() {
    async fn run(webhooks: WebhookConfig) -> Vec<Value> {
        let fake = FakeRazorpayX::start(
            0,
            FakeConfig {
                settle_after: Duration::from_millis(20),
                seed: 7,
                webhooks,
                ..FakeConfig::default()
            },
        )
        .await
        .unwrap();
        let api = Api::new(&fake).await;
        for n in 0..3 {
            let id = api.payout(&format!("seeded-{n}"), 10_000).await["id"]
                .as_str()
                .unwrap()
                .to_owned();
            wait_for_status(&fake, &id, "processed").await;
        }
        fake.wait_for_webhooks_idle(IDLE).await.unwrap();
        fake.payouts()
            .into_iter()
            .map(|p| json!([p["id"], p["utr"]]))
            .collect()
    }
    let receiver = Receiver::start(&[]).await;
    let without = run(WebhookConfig::default()).await;
    let with = run(WebhookConfig {
        url: Some(receiver.url.clone()),
        duplicate: 0.5,
        late: 0.5,
        late_by: Duration::from_millis(10),
        ..WebhookConfig::default()
    })
    .await;
    assert_eq!(without, with);
    assert!(!receiver.received().is_empty());
}

#[tokio::test]
async fn without_a_url_nothing_is_sent_or_recorded() {
    let fake = FakeRazorpayX::start(
        0,
        FakeConfig {
            settle_after: Duration::from_millis(20),
            ..FakeConfig::default()
        },
    )
    .await
    .unwrap();
    let api = Api::new(&fake).await;
    let id = api.payout("silent-1", 10_000).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for_status(&fake, &id, "processed").await;
    fake.wait_for_webhooks_idle(IDLE).await.unwrap();
    assert!(fake.webhook_deliveries().is_empty());
}
