//! Shaping responses: JSON bodies with the API's published field names (docs/API.md), every optional field
//! present (as `null` when empty), and the one error shape
//! `{"error": {"code", "message"}}`.

use lambda_http::http::header::{
    ALLOW, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, LINK, WWW_AUTHENTICATE,
};
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;

use domain::error::Error;
use domain::money::Paise;
use domain::payout::{
    EarlierAttempt, GatewayStatusDetails, HistoryEntry, Payout, PayoutStatus, PayoutType, Reason,
};
use domain::reconciliation::Action;
use domain::time::Timestamp;
use service::account::{AccountView, PayoutAccount, PayoutHold};
use service::bulk::{BulkAnswer, ItemError, Outcome};
use service::csv_page::CsvPage;
use service::listing::{MyPayouts, PayoutList};
use service::order::{CompletedOrder, Order, OrderStatus, NO_PAYOUT_ZERO_PRICE};
use service::reconciliation::report::DayReport;
use service::schedule::PayoutSchedule;
use service::stats::PayoutStats;

/// A payout as the API shows it.
#[derive(Serialize)]
pub struct PayoutView<'a> {
    pub payout_id: Uuid,
    pub user_id: u64,
    pub payout_type: PayoutType,
    pub status: PayoutStatus,
    pub amount_paise: Paise,
    pub scout_id: Option<&'a str>,
    pub order_id: Option<&'a str>,
    pub payment_reference: Option<&'a str>,
    /// `code: sentence`, both ours ([`domain::payout::Reason`]); never the gateway's words.
    pub failure_reason: Option<String>,
    pub attempt: u32,
    pub attempt_sent_at: Option<Timestamp>,
    pub gateway_payout_id: Option<&'a str>,
    pub gateway_status: Option<&'a str>,
    /// The gateway's codes only: its description is its own words.
    pub gateway_status_details: Option<GatewayStatusDetails>,
    /// Attempts before the current one, oldest first, and how each ended.
    pub earlier_attempts: &'a [EarlierAttempt],
    /// `code: sentence`, both ours; never the gateway's or the infrastructure's words.
    pub last_error: Option<String>,
    pub processed_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    pub cancelled_at: Option<Timestamp>,
    pub lease_expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Set on a pending payout whose user changed their payout account recently: it
    /// waits until then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold: Option<HoldView>,
}

/// Why a pending payout waits, and until when (absent: until the gateway answers).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct HoldView {
    pub reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
}

impl HoldView {
    /// What keeps a payout waiting when its user's payouts wait for `hold`: only one
    /// still pending waits for it.
    fn pending(payout: &Payout, hold: PayoutHold) -> Option<Self> {
        (payout.status == PayoutStatus::Pending).then_some(HoldView {
            reason: hold.reason(),
            until: hold.until(),
        })
    }
}

impl<'a> From<&'a Payout> for PayoutView<'a> {
    fn from(payout: &'a Payout) -> Self {
        PayoutView {
            payout_id: payout.payout_id,
            user_id: payout.user_id,
            payout_type: payout.payout_type,
            status: payout.status,
            amount_paise: payout.amount_paise,
            scout_id: payout.scout_id.as_deref(),
            order_id: payout.order_id.as_deref(),
            payment_reference: payout.payment_reference.as_deref(),
            failure_reason: payout.failure().map(Reason::shown),
            attempt: payout.attempt,
            attempt_sent_at: payout.attempt_sent_at,
            gateway_payout_id: payout.gateway_payout_id.as_deref(),
            gateway_status: payout.gateway_status.as_deref(),
            gateway_status_details: payout
                .gateway_status_details
                .as_ref()
                .map(GatewayStatusDetails::codes_only),
            earlier_attempts: &payout.earlier_attempts,
            last_error: payout.last_error_reason().map(Reason::shown),
            processed_at: payout.processed_at,
            completed_at: payout.completed_at,
            cancelled_at: payout.cancelled_at,
            lease_expires_at: payout.lease_expires_at,
            created_at: payout.created_at,
            updated_at: payout.updated_at,
            hold: None,
        }
    }
}

#[derive(Serialize)]
pub struct OrderView<'a> {
    pub order_id: &'a str,
    pub buyer_id: u64,
    pub seller_id: u64,
    pub item_price_paise: Paise,
    pub currency: &'static str,
    pub status: OrderStatus,
    pub scout_id: Option<&'a str>,
    pub scout_bounty_paise: Option<Paise>,
    pub payout_id: Option<Uuid>,
    pub completed_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
}

impl<'a> From<&'a Order> for OrderView<'a> {
    fn from(order: &'a Order) -> Self {
        OrderView {
            order_id: &order.order_id,
            buyer_id: order.buyer_id,
            seller_id: order.seller_id,
            item_price_paise: order.item_price_paise,
            currency: order.currency.as_str(),
            status: order.status,
            scout_id: order.scout_id.as_deref(),
            scout_bounty_paise: order.scout_bounty_paise,
            payout_id: order.payout_id,
            completed_at: order.completed_at,
            updated_at: order.updated_at,
        }
    }
}

/// A payout as an admin sees it: with who did what to it. Users never see other
/// users' ids, admins' included, so their views leave the history out.
#[derive(Serialize)]
pub struct AdminPayoutView<'a> {
    #[serde(flatten)]
    pub payout: PayoutView<'a>,
    /// The status changes made on admins' requests, oldest first.
    pub history: &'a [HistoryEntry],
}

impl<'a> From<&'a Payout> for AdminPayoutView<'a> {
    fn from(payout: &'a Payout) -> Self {
        AdminPayoutView {
            payout: PayoutView::from(payout),
            history: &payout.history,
        }
    }
}

pub fn payout(status: StatusCode, payout: &Payout) -> Response<Body> {
    json_response(status, &PayoutView::from(payout))
}

/// A payout after an admin's action on it, history included.
pub fn admin_payout(status: StatusCode, payout: &Payout) -> Response<Body> {
    json_response(status, &AdminPayoutView::from(payout))
}

pub fn completed_order(completed: &CompletedOrder) -> Response<Body> {
    json_response(
        StatusCode::OK,
        &json!({
            "order": OrderView::from(&completed.order),
            "payout": completed.payout.as_ref().map(PayoutView::from),
            "no_payout_reason": completed.payout.is_none().then_some(NO_PAYOUT_ZERO_PRICE),
        }),
    )
}

pub fn my_payouts(list: &MyPayouts) -> Response<Body> {
    // Every payout in the list is the caller's: their hold is each pending one's.
    let payouts: Vec<PayoutView<'_>> = list
        .payouts
        .iter()
        .map(|payout| PayoutView {
            hold: list.hold.and_then(|hold| HoldView::pending(payout, hold)),
            ..PayoutView::from(payout)
        })
        .collect();
    json_response(
        StatusCode::OK,
        &json!({
            "payouts": payouts,
            "hold_until": list.hold.and_then(PayoutHold::until),
            "total": list.total,
            "total_paid_paise": list.total_paid_paise,
            "pending_paise": list.pending_paise,
            "next_cursor": list.next_cursor,
        }),
    )
}

pub fn payout_list(list: &PayoutList) -> Response<Body> {
    json_response(
        StatusCode::OK,
        &json!({
            "payouts": list
                .payouts
                .iter()
                .map(|payout| {
                    let mut view = AdminPayoutView::from(payout);
                    view.payout.hold = list
                        .holds
                        .get(&payout.user_id)
                        .and_then(|hold| HoldView::pending(payout, *hold));
                    view
                })
                .collect::<Vec<_>>(),
            "page": list.page,
            "limit": list.limit,
            "next_cursor": list.next_cursor,
        }),
    )
}

/// A payout account, masked: the full account number or VPA never leaves the service.
/// Its verification is shown when accounts are verified (`validating`).
pub fn payout_account(account: &PayoutAccount, validating: bool) -> Response<Body> {
    json_response(StatusCode::OK, &account.masked_with(validating))
}

/// A payout account, masked, with its saved revisions (newest first).
pub fn payout_account_view(view: &AccountView, validating: bool) -> Response<Body> {
    let mut body = json!(view.account.masked_with(validating));
    body["revisions"] = json!(view.revisions);
    json_response(StatusCode::OK, &body)
}

/// A payout schedule with the time zone its dates are reckoned in.
pub fn payout_schedule(schedule: &PayoutSchedule, tz: chrono_tz::Tz) -> Response<Body> {
    json_response(
        StatusCode::OK,
        &json!({
            "scout_id": schedule.scout_id,
            "user_id": schedule.user_id,
            "frequency": schedule.frequency,
            "day": schedule.day,
            "minimum_paise": schedule.minimum_paise,
            "time_zone": tz.name(),
            "next_due_at": schedule.next_due_at,
            "last_swept_at": schedule.last_swept_at,
            "updated_at": schedule.updated_at,
        }),
    )
}

pub fn payout_stats(stats: &PayoutStats) -> Response<Body> {
    json_response(StatusCode::OK, stats)
}

/// A day's reconciliation: its report and a page of its findings, every field of a
/// finding present (`null` when empty).
pub fn reconciliation_report(day: &DayReport) -> Response<Body> {
    let findings: Vec<Value> = day
        .findings
        .iter()
        .map(|finding| {
            let (action, transition) = match &finding.action {
                Action::Repaired { transition } => ("repaired", Some(transition.as_str())),
                Action::LeftForPerson => ("left_for_person", None),
            };
            json!({
                "kind": finding.kind,
                "subject": finding.subject,
                "payout_id": finding.payout_id(),
                "action": action,
                "transition": transition,
                "detail": finding.detail,
                "found_at": finding.found_at,
                "ours": finding.ours.as_ref().map(|ours| json!({
                    "payout_id": ours.payout_id,
                    "user_id": ours.user_id,
                    "status": ours.status,
                    "attempt": ours.attempt,
                    "amount_paise": ours.amount_paise,
                    "gateway_payout_id": ours.gateway_payout_id,
                    "gateway_fund_account_id": ours.gateway_fund_account_id,
                    "utr": ours.payment_reference,
                    "first_sent_at": ours.first_sent_at,
                })),
                "theirs": finding.theirs.iter().map(|side| json!({
                    "gateway_payout_id": side.gateway_payout_id,
                    "reference": side.reference,
                    "idempotency_key": side.idempotency_key,
                    "status": side.status,
                    "amount_paise": side.amount_paise,
                    "fund_account_id": side.fund_account_id,
                    "utr": side.utr,
                    "created_at": side.created_at,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json_response(
        StatusCode::OK,
        &json!({
            "report": day.report,
            "findings": findings,
            "next_cursor": day.next_cursor,
        }),
    )
}

/// One page of a CSV export, as a file to save, with the next page's address in a
/// `Link: <…>; rel="next"` header (RFC 8288) when there is one.
pub fn csv(page: CsvPage, filename: &str, next: Option<&str>) -> Response<Body> {
    let mut response = Response::new(Body::Text(page.text));
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(disposition) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
    {
        headers.insert(CONTENT_DISPOSITION, disposition);
    }
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(next) = next {
        // A page whose next page cannot be named must not pass for the last one.
        let Ok(link) = HeaderValue::from_str(&format!("<{next}>; rel=\"next\"")) else {
            return error(&Error::inconsistent(format!(
                "the next page's link is not a header value: {next}"
            )));
        };
        headers.insert(LINK, link);
    }
    response
}

pub fn error(error: &Error) -> Response<Body> {
    let status =
        StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut body = json!({"code": error.code(), "message": error.public_message()});
    if let Some(field) = error.field() {
        body["field"] = json!(field);
    }
    if let Some(until) = error.until() {
        body["until"] = json!(until);
    }
    let mut response = json_response(status, &json!({ "error": body }));
    if matches!(error, Error::Unauthenticated(_)) {
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// The acknowledgement of a webhook delivery: what was done with it, for the
/// gateway's delivery log.
pub fn webhook_received(event_id: &str, handled: &str) -> Response<Body> {
    json_response(
        StatusCode::OK,
        &json!({"received": true, "event_id": event_id, "handled": handled}),
    )
}

pub fn method_not_allowed(allowed: &str) -> Response<Body> {
    let mut response = json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        &json!({"error": {"code": "method_not_allowed", "message": format!("use {allowed}")}}),
    );
    if let Ok(value) = HeaderValue::from_str(allowed) {
        response.headers_mut().insert(ALLOW, value);
    }
    response
}

pub(crate) fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    // Serialising these plain structs cannot fail; a failure would still be a clean 500.
    let (status, text) = match serde_json::to_string(body) {
        Ok(text) => (status, text),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"error":{"code":"internal_error","message":"internal error"}}"#.to_owned(),
        ),
    };
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // The dashboard's origin holds an admin token: no answer is ever read as a page.
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    // Answers carry people's payouts and accounts: no browser or proxy may keep one.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// One id of a bulk answer: `payout` and `error` are always there, `null` when empty.
#[derive(Serialize)]
struct BulkResultView<'a> {
    payout_id: Uuid,
    outcome: Outcome,
    payout: Option<AdminPayoutView<'a>>,
    error: Option<&'a ItemError>,
}

/// A bulk action's answer: the action, one result per id in the order asked, and how
/// many ended each way. Always `200`: each id's fate is in its result.
pub fn bulk_payouts(answer: &BulkAnswer) -> Response<Body> {
    let results: Vec<BulkResultView<'_>> = answer
        .results
        .iter()
        .map(|result| BulkResultView {
            payout_id: result.payout_id,
            outcome: result.outcome,
            payout: result.payout.as_ref().map(AdminPayoutView::from),
            error: result.error.as_ref(),
        })
        .collect();
    json_response(
        StatusCode::OK,
        &json!({"action": answer.action, "results": results, "counts": answer.counts()}),
    )
}
