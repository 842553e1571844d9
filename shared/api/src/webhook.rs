//! `POST /webhooks/razorpayx`: RazorpayX's word on our payouts. No token: the body's
//! signature is the caller's proof, checked on the raw bytes before anything else is
//! read. It answers within RazorpayX's 5 seconds (reads and conditional writes only,
//! never a gateway call); anything but a 2xx makes RazorpayX deliver it again.

use lambda_http::{Body, Request, Response};
use tracing::warn;

use super::{reply, App};
use domain::error::{Error, Result};
use gateway::razorpayx_webhook::{self, Event, EVENT_ID_HEADER, SIGNATURE_HEADER};
use platform::metrics::{self, Unit};
use service::verification;
use service::webhook::{self, Delivery, Handled};

/// RazorpayX's events are a few kilobytes; anything this large is not one of them.
pub const MAX_WEBHOOK_BYTES: usize = 1024 * 1024;
const MAX_EVENT_ID_LEN: usize = 128;
const GATEWAY: &str = "razorpayx";

pub(super) async fn serve(app: &App, request: &Request) -> Result<Response<Body>> {
    let secrets = app.webhook_secrets.as_ref().ok_or_else(|| {
        Error::Config("the webhook secrets were not loaded for this function".to_owned())
    })?;
    // lambda_http has already decoded a body API Gateway sent base64-encoded.
    let body: &[u8] = match request.body() {
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    };
    if body.len() > MAX_WEBHOOK_BYTES {
        return Err(Error::PayloadTooLarge {
            limit: MAX_WEBHOOK_BYTES,
        });
    }
    let signature = header(request, SIGNATURE_HEADER).unwrap_or_default();
    // Read per delivery (cached for a bounded time), so a rotated secret is taken up
    // without a redeploy; unreadable, it fails the delivery (503) and RazorpayX retries.
    let secrets = secrets.all().await?;
    if !razorpayx_webhook::signature_is_valid(body, signature, secrets.iter().map(String::as_str)) {
        metrics::emit(&[("WebhookSignatureRejected", Unit::Count, 1)], &[]);
        return Err(Error::InvalidSignature);
    }
    let event_id = header(request, EVENT_ID_HEADER)
        .filter(|id| {
            !id.is_empty()
                && id.len() <= MAX_EVENT_ID_LEN
                && id.bytes().all(|byte| byte.is_ascii_graphic())
        })
        .ok_or_else(|| {
            Error::BadRequest(format!(
                "the {EVENT_ID_HEADER} header must name the event (1 to {MAX_EVENT_ID_LEN} \
                 printable characters)"
            ))
        })?;
    // A check of a payout account: its answer goes to the account (the state it finds
    // decides, so a duplicate or late one changes nothing and needs no receipt).
    if let Some(report) = razorpayx_webhook::parse_validation(body)
        .map_err(|err| Error::BadRequest(err.to_string()))?
    {
        let reported = verification::on_report(&app.store, &report.validation).await?;
        metrics::emit(
            &[("WebhookEvents", Unit::Count, 1)],
            &[
                ("webhook_event", report.name.as_str().into()),
                ("handled", reported.as_str().into()),
            ],
        );
        return Ok(reply::webhook_received(event_id, reported.as_str()));
    }
    let event = razorpayx_webhook::parse(body).map_err(|err| Error::BadRequest(err.to_string()))?;
    let (name, report) = match &event {
        Event::Payout { name, report } => (name.as_str(), Some(report.as_ref())),
        Event::Other { name } => (name.as_str(), None),
    };
    let handled = webhook::receive(
        &app.store,
        Delivery {
            gateway: GATEWAY,
            event_id,
            body_sha256: &razorpayx_webhook::body_digest(body),
            event: name,
            report,
        },
    )
    .await?;
    if let Handled::UnknownPayout { reference } = &handled {
        // Answered 200 all the same: a 5xx would have RazorpayX retry it for a day.
        warn!(
            event = "webhook_unknown_payout",
            event_id,
            webhook_event = name,
            reference_id = reference.as_deref().unwrap_or_default(),
            gateway_payout_id = report
                .map(|r| r.gateway_payout_id.as_str())
                .unwrap_or_default(),
            "a webhook names a payout this service does not have"
        );
    }
    let counted = |wanted: bool| u64::from(wanted);
    metrics::emit(
        &[
            ("WebhookEvents", Unit::Count, 1),
            (
                "WebhookDuplicates",
                Unit::Count,
                counted(handled == Handled::Duplicate),
            ),
            (
                "WebhookUnknownPayouts",
                Unit::Count,
                counted(matches!(handled, Handled::UnknownPayout { .. })),
            ),
            // Both mean a person must look: the alarm on them is in template.yaml.
            (
                "WebhookContradictions",
                Unit::Count,
                counted(matches!(
                    handled,
                    Handled::Contradicts { .. } | Handled::NeedsAttention { .. }
                )),
            ),
        ],
        &[
            ("webhook_event", name.into()),
            ("handled", handled.as_str().into()),
        ],
    );
    Ok(reply::webhook_received(event_id, handled.as_str()))
}

fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
}
