//! A webhook receiver for tests: where a test points the fake's webhooks when it wants
//! to look at them itself.

use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;

/// One delivery as it arrived: the exact body bytes, so a signature can be checked.
#[derive(Clone, Debug)]
pub struct ReceivedWebhook {
    pub event_id: String,
    pub signature: String,
    pub body: Vec<u8>,
}

/// A receiver on `127.0.0.1` that records every POST and answers 200: where a test
/// points the fake's webhooks when it wants to look at them itself. Dropping it stops
/// it.
pub struct WebhookSink {
    pub url: String,
    received: Arc<Mutex<Vec<ReceivedWebhook>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WebhookSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WebhookSink {
    pub async fn start() -> Result<Self> {
        let received = Arc::new(Mutex::new(Vec::new()));
        let inbox = received.clone();
        let app = Router::new().fallback(post(move |headers: HeaderMap, body: Bytes| {
            let inbox = inbox.clone();
            async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|value| value.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                if let Ok(mut inbox) = inbox.lock() {
                    inbox.push(ReceivedWebhook {
                        event_id: header("x-razorpay-event-id"),
                        signature: header("x-razorpay-signature"),
                        body: body.to_vec(),
                    });
                }
                StatusCode::OK
            }
        }));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("binding the webhook sink")?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(WebhookSink {
            url: format!("http://{addr}/webhooks/razorpayx"),
            received,
            task,
        })
    }

    /// Every delivery so far, in the order they arrived.
    pub fn received(&self) -> Vec<ReceivedWebhook> {
        self.received
            .lock()
            .map(|received| received.clone())
            .unwrap_or_default()
    }
}
