//! The request rate the local RazorpayX enforces when asked (`rate_limit_tps`): one
//! budget for every `/v1/…` call, a 429 in RazorpayX's error shape above it that does
//! nothing, the control API never limited, and the limit set and cleared at runtime,
//! at start and across a restart. The bounds are on counts, never on durations: a
//! burst's admitted calls are bounded by the time it measurably took.

use std::time::{Duration, Instant};

use devkit::razorpayx::{FakeApi, FakeConfig, FakeRazorpayX, Faults};
use reqwest::StatusCode;
use serde_json::{json, Value};
use service::config::{DEV_RAZORPAYX_ACCOUNT_NUMBER, DEV_RAZORPAYX_KEY_ID};

/// One call in 100 s: a full bucket holds one call, and no test lives long enough to
/// see a second token, so what is admitted is exact.
const ONE_CALL: f64 = 0.01;

async fn fake() -> FakeRazorpayX {
    fake_with(Faults::default()).await
}

async fn fake_with(faults: Faults) -> FakeRazorpayX {
    FakeRazorpayX::start(
        0,
        FakeConfig {
            settle_after: Duration::from_secs(3600),
            seed: 7,
            faults,
            ..FakeConfig::default()
        },
    )
    .await
    .unwrap()
}

/// The fake's HTTP API. No fund account until a test asks for one: under a limit set
/// at start, registering it would spend the budget the test means to measure.
#[derive(Clone)]
struct Api {
    client: FakeApi,
}

impl Api {
    fn new(fake: &FakeRazorpayX) -> Api {
        Api {
            client: FakeApi::new(fake),
        }
    }

    async fn list(&self) -> (StatusCode, Value) {
        self.client
            .v1(
                &format!("/v1/payouts?account_number={DEV_RAZORPAYX_ACCOUNT_NUMBER}"),
                None,
                None,
            )
            .await
    }

    async fn payout(&self, fund_account_id: &str, key: &str) -> (StatusCode, Value) {
        self.client
            .v1(
                "/v1/payouts",
                Some(json!({"account_number": DEV_RAZORPAYX_ACCOUNT_NUMBER,
                            "fund_account_id": fund_account_id, "amount": 10_000,
                            "currency": "INR", "mode": "IMPS", "purpose": "payout",
                            "reference_id": key, "notes": {"idempotency_key": key}})),
                Some(key),
            )
            .await
    }

    async fn control_get(&self, path: &str) -> (StatusCode, Value) {
        self.client.control(path, None).await
    }

    async fn set_faults(&self, faults: Value) -> (StatusCode, Value) {
        self.client.control("faults", Some(faults)).await
    }

    /// `GET /_fake/rate`, checked against `FakeRazorpayX::rate_counts`.
    async fn rate(&self, fake: &FakeRazorpayX) -> Value {
        let (status, rate) = self.control_get("rate").await;
        assert_eq!(status, StatusCode::OK, "{rate}");
        assert_eq!(
            (rate["admitted"].as_u64(), rate["refused"].as_u64()),
            {
                let (admitted, refused) = fake.rate_counts();
                (Some(admitted), Some(refused))
            },
            "{rate}"
        );
        rate
    }
}

/// RazorpayX's 429, as the `rate_limit` fault answers it.
fn assert_rate_limited(status: StatusCode, answer: &Value) {
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
    assert_eq!(
        answer,
        &json!({"error": {
            "code": "BAD_REQUEST_ERROR",
            "description": "Too many requests",
            "source": "business",
            "step": "NA",
            "reason": "rate_limit_exceeded",
            "metadata": {},
            "field": null,
        }})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_above_the_rate_gets_about_the_rate_and_429s_for_the_rest() {
    const RATE: u64 = 20;
    const TOTAL: u64 = 3 * RATE;
    let fake = fake().await;
    let api = Api::new(&fake);

    // The bucket is full from here: RATE calls are admitted whatever the timing, plus
    // one a 1/RATE s for as long as the burst measurably takes.
    let started = Instant::now();
    let (status, set) = api.set_faults(json!({"rate_limit_tps": RATE})).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["rate_limit_tps"], json!(RATE as f64));
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..TOTAL {
        let api = api.clone();
        burst.spawn(async move { api.list().await });
    }
    let mut admitted = 0;
    let mut refused = 0;
    while let Some(answer) = burst.join_next().await {
        let (status, answer) = answer.unwrap();
        if status == StatusCode::OK {
            assert_eq!(answer["entity"], "collection", "{answer}");
            admitted += 1;
        } else {
            assert_rate_limited(status, &answer);
            refused += 1;
        }
    }
    let took = started.elapsed().as_secs_f64();
    let most = (RATE + (took * RATE as f64).ceil() as u64 + 1).min(TOTAL);
    assert!(
        (RATE..=most).contains(&admitted),
        "{admitted} admitted of {TOTAL} in {took:.3} s at {RATE} a second: expected {RATE}..={most}"
    );
    assert_eq!(refused, TOTAL - admitted);
    let rate = api.rate(&fake).await;
    assert_eq!(
        rate,
        json!({"rate_limit_tps": RATE as f64, "admitted": admitted, "refused": refused})
    );

    // A second later the bucket is full again: RATE calls in a row all go through.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    for _ in 0..RATE {
        let (status, answer) = api.list().await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let rate = api.rate(&fake).await;
    assert_eq!(rate["admitted"], admitted + RATE);
    assert_eq!(rate["refused"], refused);
}

#[tokio::test]
async fn a_payout_refused_for_the_rate_creates_nothing_and_every_route_counts() {
    let fake = fake().await;
    let api = Api::new(&fake);
    let fund_account_id = api.client.fund_account().await;
    let (status, first) = api.payout(&fund_account_id, "rate-first").await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let payout_id = first["id"].as_str().unwrap().to_owned();

    let (status, _) = api.set_faults(json!({"rate_limit_tps": ONE_CALL})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer) = api.list().await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let payouts = api.control_get("payouts").await.1;
    let statement = api.control_get("transactions").await.1;
    assert_eq!(payouts["count"], 1);

    let (status, answer) = api.payout(&fund_account_id, "rate-second").await;
    assert_rate_limited(status, &answer);
    // The same call again, as a caller retries it: still refused, still nothing.
    let (status, answer) = api.payout(&fund_account_id, "rate-second").await;
    assert_rate_limited(status, &answer);
    assert_eq!(api.control_get("payouts").await.1, payouts);
    assert_eq!(api.control_get("transactions").await.1, statement);
    assert_eq!(fake.payouts().len(), 1);

    // Every `/v1/…` route draws on the same spent budget.
    let routes: Vec<(String, Option<Value>)> = vec![
        (format!("/v1/payouts/{payout_id}"), None),
        (format!("/v1/payouts/{payout_id}/cancel"), Some(json!({}))),
        (
            format!("/v1/transactions?account_number={DEV_RAZORPAYX_ACCOUNT_NUMBER}"),
            None,
        ),
        (
            "/v1/contacts".to_owned(),
            Some(json!({"name": "Ravi Kumar", "type": "vendor"})),
        ),
        (
            "/v1/fund_accounts".to_owned(),
            Some(json!({"contact_id": "cont_x", "account_type": "vpa",
                        "vpa": {"address": "ravi@upi"}})),
        ),
        (
            "/v1/fund_accounts/validations".to_owned(),
            Some(json!({"account_number": DEV_RAZORPAYX_ACCOUNT_NUMBER,
                        "fund_account": {"id": fund_account_id}, "amount": 100,
                        "currency": "INR"})),
        ),
        (
            format!("/v1/fund_accounts/validations?account_number={DEV_RAZORPAYX_ACCOUNT_NUMBER}"),
            None,
        ),
        ("/v1/fund_accounts/validations/fav_x".to_owned(), None),
    ];
    for (path, body) in &routes {
        let (status, answer) = api.client.v1(path, body.clone(), None).await;
        assert_rate_limited(status, &answer);
    }
    assert_eq!(fake.contacts().len(), 1);
    assert_eq!(fake.fund_accounts().len(), 1);
    assert!(fake.validations().is_empty());
    assert_eq!(fake.payouts()[0]["status"], "processing");

    // Wrong keys: a 401 from the route, neither counted nor spending.
    let response = api
        .client
        .http()
        .get(api.client.url(&format!(
            "/v1/payouts?account_number={DEV_RAZORPAYX_ACCOUNT_NUMBER}"
        )))
        .basic_auth(DEV_RAZORPAYX_KEY_ID, Some("not-the-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // The control API is never limited, and never counted.
    for _ in 0..20 {
        for path in ["payouts", "transactions", "webhooks", "validations", "rate"] {
            let (status, answer) = api.control_get(path).await;
            assert_eq!(status, StatusCode::OK, "/_fake/{path}: {answer}");
        }
    }
    let refused = 2 + routes.len();
    assert_eq!(
        api.rate(&fake).await,
        json!({"rate_limit_tps": ONE_CALL, "admitted": 1, "refused": refused})
    );
}

#[tokio::test]
async fn clearing_the_faults_lifts_the_limit() {
    let fake = fake().await;
    let api = Api::new(&fake);
    api.set_faults(json!({"rate_limit_tps": ONE_CALL})).await;
    assert_eq!(api.list().await.0, StatusCode::OK);
    let (status, answer) = api.list().await;
    assert_rate_limited(status, &answer);

    let (status, cleared) = api.set_faults(json!({})).await;
    assert_eq!(status, StatusCode::OK, "{cleared}");
    assert!(cleared.get("rate_limit_tps").is_none(), "{cleared}");
    assert_eq!(
        api.rate(&fake).await,
        json!({"rate_limit_tps": null, "admitted": 0, "refused": 0})
    );
    for _ in 0..50 {
        let (status, answer) = api.list().await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    assert_eq!(fake.rate_counts(), (50, 0));

    // `null` clears it as well, and setting a limit again starts from a full bucket.
    api.set_faults(json!({"rate_limit_tps": ONE_CALL})).await;
    assert_eq!(api.list().await.0, StatusCode::OK);
    assert_eq!(api.list().await.0, StatusCode::TOO_MANY_REQUESTS);
    let (status, cleared) = api.set_faults(json!({"rate_limit_tps": null})).await;
    assert_eq!(status, StatusCode::OK, "{cleared}");
    assert_eq!(api.list().await.0, StatusCode::OK);
    assert_eq!(fake.rate_counts(), (1, 0));
}

#[tokio::test]
async fn a_bad_rate_is_a_400_that_changes_nothing() {
    let fake = fake().await;
    let api = Api::new(&fake);
    let fund_account_id = api.client.fund_account().await;
    let (status, _) = api
        .set_faults(json!({"rate_limit_tps": ONE_CALL, "reject": 1.0}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(api.list().await.0, StatusCode::OK);
    let before = api.rate(&fake).await;
    assert_eq!(
        before,
        json!({"rate_limit_tps": ONE_CALL, "admitted": 1, "refused": 0})
    );

    for bad in [
        json!({"rate_limit_tps": 0}),
        json!({"rate_limit_tps": 0.0}),
        json!({"rate_limit_tps": -5}),
        json!({"rate_limit_tps": "fast"}),
        json!({"rate_limit_tps": 10, "reject": 2.0}),
    ] {
        let (status, answer) = api.set_faults(bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {answer}");
        assert_eq!(answer["error"]["code"], "BAD_REQUEST_ERROR", "{answer}");
        // Neither the limit nor its counts moved: the bucket is still spent.
        assert_eq!(api.rate(&fake).await, before, "after {bad}");
    }
    let (status, answer) = api.list().await;
    assert_rate_limited(status, &answer);

    // The other faults were kept too: with the limit lifted, `reject` still applies.
    api.set_faults(json!({"reject": 1.0})).await;
    let (status, payout) = api.payout(&fund_account_id, "rate-rejected").await;
    assert_eq!(status, StatusCode::OK, "{payout}");
    assert_eq!(payout["status"], "failed", "{payout}");
}

#[test]
fn the_env_var_is_a_positive_number_or_nothing() {
    for unset in [None, Some(""), Some("   ")] {
        assert_eq!(
            Faults::rate_limit_tps_from(unset).unwrap(),
            None,
            "{unset:?}"
        );
    }
    assert_eq!(Faults::rate_limit_tps_from(Some("10")).unwrap(), Some(10.0));
    assert_eq!(
        Faults::rate_limit_tps_from(Some(" 2.5 ")).unwrap(),
        Some(2.5)
    );
    for bad in ["0", "-1", "fast", "inf", "NaN", "5tps"] {
        let err = Faults::rate_limit_tps_from(Some(bad)).unwrap_err();
        assert!(
            format!("{err:#}").contains("RAZORPAYX_FAKE_RATE_LIMIT_TPS"),
            "{bad}: {err:#}"
        );
    }
}

#[tokio::test]
async fn a_limit_given_at_start_applies_and_survives_a_restart() {
    let started_with = Faults {
        rate_limit_tps: Some(ONE_CALL),
        ..Faults::default()
    };
    let fake = fake_with(started_with).await;
    let api = Api::new(&fake);
    assert_eq!(api.list().await.0, StatusCode::OK);
    let (status, answer) = api.list().await;
    assert_rate_limited(status, &answer);
    assert_eq!(
        api.rate(&fake).await,
        json!({"rate_limit_tps": ONE_CALL, "admitted": 1, "refused": 1})
    );
    drop(fake);

    // The limit is one of the faults, kept in the state file; the bucket and its
    // counts are not, and a state file written before the limit existed still loads.
    let dir = devkit::testing::scratch_dir("razorpayx-rate");
    let state_file = dir.join("state.json");
    let config = FakeConfig {
        state_file: Some(state_file.clone()),
        ..FakeConfig::default()
    };
    let first = FakeRazorpayX::start(0, config.clone()).await.unwrap();
    let api = Api::new(&first);
    let fund_account_id = api.client.fund_account().await;
    first.set_faults(started_with);
    let (status, payout) = api.payout(&fund_account_id, "rate-kept").await;
    assert_eq!(status, StatusCode::OK, "{payout}");
    assert_eq!(api.list().await.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(first.rate_counts(), (1, 1));
    drop(first);

    let again = FakeRazorpayX::start(0, config.clone()).await.unwrap();
    let api = Api::new(&again);
    assert_eq!(api.list().await.0, StatusCode::OK, "a full bucket again");
    assert_eq!(api.list().await.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(again.rate_counts(), (1, 1));
    drop(again);

    let mut state: Value = serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
    assert_eq!(state["faults"]["rate_limit_tps"], json!(ONE_CALL));
    state["faults"]
        .as_object_mut()
        .unwrap()
        .remove("rate_limit_tps")
        .unwrap();
    std::fs::write(&state_file, serde_json::to_vec(&state).unwrap()).unwrap();
    let old = FakeRazorpayX::start(0, config).await.unwrap();
    let api = Api::new(&old);
    for _ in 0..10 {
        assert_eq!(api.list().await.0, StatusCode::OK);
    }
    assert_eq!(old.payouts().len(), 1);
    assert_eq!(api.rate(&old).await["rate_limit_tps"], Value::Null);
    drop(old);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Our RazorpayX client paced at `max_tps`, against this fake.
fn paced_client(fake: &FakeRazorpayX, max_tps: f64) -> gateway::RazorpayX {
    gateway::RazorpayX::new(
        &gateway::config::RazorpayXConfig::local(
            fake.base_url(),
            service::config::DEV_RAZORPAYX_KEY_SECRET,
            // Long enough for thirty calls at once to find their places at the slowest
            // pace (a call whose place is further off is refused, unsent).
            30_000,
        )
        .paced(max_tps),
    )
    .expect("a RazorpayX client")
}

/// Reads the (empty) account statement `calls` times, all at once (one request each):
/// how many were answered.
async fn read_statements(client: gateway::RazorpayX, calls: usize) -> usize {
    use gateway::PaymentGateway;
    let client = std::sync::Arc::new(client);
    let now = domain::time::Timestamp::now();
    let mut reads = tokio::task::JoinSet::new();
    for _ in 0..calls {
        let client = client.clone();
        reads.spawn(async move { client.statement(now.minus_secs(60), now).await });
    }
    let mut answered = 0;
    while let Some(read) = reads.join_next().await {
        match read.expect("a read ran to its end") {
            Ok(_) => answered += 1,
            Err(err) => panic!("a paced call failed: {err}"),
        }
    }
    answered
}

#[tokio::test]
async fn a_client_paced_under_the_limit_is_never_refused() {
    let fake = fake_with(Faults {
        rate_limit_tps: Some(10.0),
        ..Faults::default()
    })
    .await;
    // A little under it, as deployed (8 against RazorpayX's 10): a stall of the test's
    // runtime must not send overdue calls together past the fake's bucket.
    let client = paced_client(&fake, 8.0);
    assert_eq!(read_statements(client, 30).await, 30);
    assert_eq!(fake.rate_counts(), (30, 0), "(admitted, refused)");
}

#[tokio::test]
async fn a_client_paced_above_the_limit_slows_down_and_every_call_gets_through() {
    let fake = fake_with(Faults {
        rate_limit_tps: Some(5.0),
        ..Faults::default()
    })
    .await;
    // Told four times the limit: its 429s halve the pace until it fits.
    let client = paced_client(&fake, 20.0);
    assert_eq!(read_statements(client, 30).await, 30);
    let (admitted, refused) = fake.rate_counts();
    assert_eq!(admitted, 30, "each call answered once");
    assert!(
        refused < admitted,
        "refused {refused} of {}",
        admitted + refused
    );
}
