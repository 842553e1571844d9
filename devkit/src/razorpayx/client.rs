//! A client for tests that talk to the local RazorpayX over HTTP, as the gateway
//! does, rather than through `FakeRazorpayX`'s methods: the wire is what is under test.
//! It panics on anything the transport gets wrong, because a test has nothing better to
//! do with it, and answers every status so that a test can hold refusals to RazorpayX's.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use service::config::{DEV_RAZORPAYX_KEY_ID, DEV_RAZORPAYX_KEY_SECRET};

use super::FakeRazorpayX;

/// The fake's `/v1/…` API with the dev keys (what `FakeConfig::default()` accepts), and
/// its `/_fake/…` control API. Cheap to clone, so a burst of calls can share one.
#[derive(Clone)]
pub struct FakeApi {
    http: reqwest::Client,
    base: String,
}

impl FakeApi {
    pub fn new(fake: &FakeRazorpayX) -> FakeApi {
        FakeApi {
            // A proxy from the environment would not reach a fake on loopback.
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("building the HTTP client for the local RazorpayX"),
            base: fake.base_url(),
        }
    }

    /// The client itself, for what the helpers here will not send (wrong or no keys).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The fake's address with `path` (from its leading `/`) after it.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A `/v1/…` call with the dev keys, its status and answer: a body makes it a POST,
    /// none a GET; `key` goes in `X-Payout-Idempotency`.
    pub async fn v1(
        &self,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .request(path, body)
            .basic_auth(DEV_RAZORPAYX_KEY_ID, Some(DEV_RAZORPAYX_KEY_SECRET));
        if let Some(key) = key {
            request = request.header("X-Payout-Idempotency", key);
        }
        answer(path, request).await
    }

    /// [`FakeApi::v1`] for a call that has to succeed: its answer.
    pub async fn v1_ok(&self, path: &str, body: Option<Value>, key: Option<&str>) -> Value {
        let (status, answer) = self.v1(path, body, key).await;
        assert!(status.is_success(), "{path}: {status} {answer}");
        answer
    }

    /// `/_fake/{path}` (no auth, as the control API takes none), its status and answer:
    /// a body makes it a POST, none a GET.
    pub async fn control(&self, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let path = format!("/_fake/{path}");
        answer(&path, self.request(&path, body)).await
    }

    /// Registers Asha Verma and her bank account; answers the fund account's id.
    pub async fn fund_account(&self) -> String {
        let contact = self
            .v1_ok(
                "/v1/contacts",
                Some(json!({"name": "Asha Verma", "type": "vendor"})),
                None,
            )
            .await;
        let account = self
            .v1_ok(
                "/v1/fund_accounts",
                Some(
                    json!({"contact_id": contact["id"], "account_type": "bank_account",
                            "bank_account": {"name": "Asha Verma", "ifsc": "HDFC0001234",
                                             "account_number": "765432123456789"}}),
                ),
                None,
            )
            .await;
        account["id"]
            .as_str()
            .unwrap_or_else(|| panic!("a fund account with no id: {account}"))
            .to_owned()
    }

    fn request(&self, path: &str, body: Option<Value>) -> reqwest::RequestBuilder {
        let url = self.url(path);
        match body {
            Some(body) => self.http.post(url).json(&body),
            None => self.http.get(url),
        }
    }
}

async fn answer(path: &str, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request
        .send()
        .await
        .unwrap_or_else(|err| panic!("{path}: the local RazorpayX did not answer: {err}"));
    let status = response.status();
    let answer = response
        .json()
        .await
        .unwrap_or_else(|err| panic!("{path}: {status} with no JSON answer: {err}"));
    (status, answer)
}

/// Waits (up to 5 s) for the fake's payout `id` to reach `status`, which it does on
/// its own clock after `settle_after`.
pub async fn wait_for_status(fake: &FakeRazorpayX, id: &str, status: &str) {
    for _ in 0..500 {
        if fake
            .payouts()
            .iter()
            .any(|p| p["id"] == id && p["status"] == status)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("payout {id} never became {status}: {:?}", fake.payouts());
}
