//! The request rate the fake enforces (`Faults::rate_limit_tps`): one budget
//! (`rate_budget`) for every authenticated `/v1/…` call, and the middleware that answers
//! a call over it with RazorpayX's 429 before its handler runs.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::errors::{authenticate, lock, too_many_requests};
use super::fake::Shared;

/// Layered on the `/v1/…` routes. A call with the right keys spends a token or gets a
/// 429 in RazorpayX's error shape, before its handler runs: nothing is created, no
/// fault is drawn. A call with wrong keys goes on to its handler, which answers 401; it
/// neither counts nor spends (RazorpayX limits an account, which such a call is not).
pub(super) async fn limit_rate(
    State(shared): State<Shared>,
    request: Request,
    next: Next,
) -> Response {
    {
        let mut fake = match lock(&shared) {
            Ok(fake) => fake,
            Err(err) => return err.into_response(),
        };
        if authenticate(&fake, request.headers()).is_ok() {
            let rate = fake.ledger.faults.rate_limit_tps;
            if !fake.rate.take(rate, Instant::now()) {
                return too_many_requests().into_response();
            }
        }
    }
    next.run(request).await
}
