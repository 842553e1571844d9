//! The marketplace's routes (docs/MARKETPLACE.md): read the input,
//! call `service::marketplace` as the calling service, shape the reply. `App::handle`
//! lets only a token with the service scope reach them.

use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde_json::json;

use super::reply::{json_response, OrderView, PayoutView};
use super::routes::Endpoint;
use super::{input, App};
use domain::actor::ServiceCaller;
use domain::error::{Error, Result};
use domain::money::Paise;
use domain::scout::{EarningsEntry, Scout};
use domain::time::Timestamp;
use service::marketplace::earnings::{self, EarningsRequest, Recorded};
use service::marketplace::orders::{self, OrderReport, ReportedOrder};
use service::marketplace::scouts::{self, ScoutProfile};
use service::marketplace::Upserted;

/// Each marketplace route's handler, named as its function crate is.
pub(super) async fn serve(
    app: &App,
    endpoint: Endpoint,
    caller: &ServiceCaller,
    request: &Request,
) -> Result<Response<Body>> {
    match endpoint {
        Endpoint::PutScout => put_scout(app, caller, request).await,
        Endpoint::PutOrder => put_order(app, caller, request).await,
        Endpoint::RecordScoutEarnings => record_scout_earnings(app, caller, request).await,
        // `App::handle` sends a service token nowhere else.
        _ => Err(Error::Forbidden(
            "a service token acts for no user".to_owned(),
        )),
    }
}

async fn put_scout(app: &App, caller: &ServiceCaller, request: &Request) -> Result<Response<Body>> {
    let scout_id = input::record_id(request, Endpoint::PutScout, "scout_id", "scout")?;
    let profile = ScoutProfile::parse(&input::json_object(request)?)?;
    let (scout, upserted) = scouts::put_scout(&app.store, caller, &scout_id, profile).await?;
    Ok(json_response(status_of(upserted), &ScoutView::from(&scout)))
}

async fn put_order(app: &App, caller: &ServiceCaller, request: &Request) -> Result<Response<Body>> {
    let order_id = input::record_id(request, Endpoint::PutOrder, "order_id", "order")?;
    let report = OrderReport::parse(&input::json_object(request)?, app.config.limits)?;
    let reported =
        orders::put_order(&app.store, app.config.limits, caller, &order_id, report).await?;
    Ok(reported_order(&reported))
}

async fn record_scout_earnings(
    app: &App,
    caller: &ServiceCaller,
    request: &Request,
) -> Result<Response<Body>> {
    let endpoint = Endpoint::RecordScoutEarnings;
    let scout_id = input::record_id(request, endpoint, "scout_id", "scout")?;
    let wanted = EarningsRequest::parse(&input::json_object(request)?)?;
    let key = input::header(request, "idempotency-key")?;
    let recorded =
        earnings::record_earnings(&app.store, caller, &scout_id, key.as_deref(), wanted).await?;
    Ok(match &recorded {
        Recorded::Created(entry) => json_response(StatusCode::CREATED, &EntryView::from(entry)),
        Recorded::Replayed(entry) => {
            let mut response = json_response(StatusCode::OK, &EntryView::from(entry));
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            response
        }
    })
}

fn status_of(upserted: Upserted) -> StatusCode {
    match upserted {
        Upserted::Created => StatusCode::CREATED,
        Upserted::Updated | Upserted::Unchanged | Upserted::Superseded => StatusCode::OK,
    }
}

/// The order, and its seller payout once it is completed (the shape of `PATCH
/// /orders/{id}/complete`'s answer).
fn reported_order(reported: &ReportedOrder) -> Response<Body> {
    json_response(
        status_of(reported.upserted),
        &json!({
            "order": OrderView::from(&reported.order),
            "payout": reported.payout.as_ref().map(PayoutView::from),
            "no_payout_reason": null,
        }),
    )
}

/// A scout as the marketplace sees it: its profile and where its money is.
#[derive(Serialize)]
struct ScoutView<'a> {
    scout_id: &'a str,
    user_id: u64,
    display_name: Option<&'a str>,
    active: bool,
    earnings_paise: Paise,
    reserved_paise: Paise,
    paid_paise: Paise,
    credited_paise: Paise,
}

impl<'a> From<&'a Scout> for ScoutView<'a> {
    fn from(scout: &'a Scout) -> Self {
        ScoutView {
            scout_id: &scout.scout_id,
            user_id: scout.user_id,
            display_name: scout.display_name.as_deref(),
            active: scout.active,
            earnings_paise: scout.earnings_paise,
            reserved_paise: scout.reserved_paise,
            paid_paise: scout.paid_paise,
            credited_paise: scout.credited_paise,
        }
    }
}

#[derive(Serialize)]
struct EntryView<'a> {
    scout_id: &'a str,
    idempotency_key: &'a str,
    direction: &'static str,
    amount_paise: Paise,
    reason: &'a str,
    created_at: Timestamp,
}

impl<'a> From<&'a EarningsEntry> for EntryView<'a> {
    fn from(entry: &'a EarningsEntry) -> Self {
        EntryView {
            scout_id: &entry.scout_id,
            idempotency_key: &entry.idempotency_key,
            direction: entry.direction.as_str(),
            amount_paise: entry.amount_paise,
            reason: &entry.reason,
            created_at: entry.created_at,
        }
    }
}
