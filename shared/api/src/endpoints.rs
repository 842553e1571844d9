//! The routes behind a token: read the input, call the operation, shape the reply.

use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};

use super::routes::Endpoint;
use super::{input, reply, App};
use crate::auth::Actor;
use domain::error::{Error, Result};
use domain::payout::AdminAction;
use service::listing::{self, ADMIN_LIST_DEFAULT_LIMIT, MAX_LIMIT, MY_PAYOUTS_DEFAULT_LIMIT};
use service::scout::{request_payout, PayoutRequest, Requested};
use service::{account, admin, bulk, csv_page, export, order, reconciliation, schedule};

/// Findings per page of `GET /admin/reconciliation` unless `limit` says otherwise.
const RECONCILIATION_FINDINGS_DEFAULT_LIMIT: usize = 100;

/// Each token-bearing route's handler, named as its function crate is.
pub(super) async fn serve(
    app: &App,
    endpoint: Endpoint,
    actor: &Actor,
    request: &Request,
) -> Result<Response<Body>> {
    match endpoint {
        Endpoint::RequestScoutPayout => request_scout_payout(app, actor, request).await,
        Endpoint::CompleteOrder => complete_order(app, actor, request).await,
        Endpoint::MyPayouts => my_payouts(app, actor, request).await,
        Endpoint::ListPayouts => list_payouts(app, actor, request).await,
        Endpoint::PutPayoutAccount => put_payout_account(app, actor, request).await,
        Endpoint::GetPayoutAccount => get_payout_account(app, actor).await,
        Endpoint::GetUserPayoutAccount => get_user_payout_account(app, actor, request).await,
        Endpoint::EndPayoutAccountHold => end_payout_account_hold(app, actor, request).await,
        Endpoint::ProcessPayout => act_on_payout(app, actor, request, AdminAction::Process).await,
        Endpoint::RetryPayout => act_on_payout(app, actor, request, AdminAction::Retry).await,
        Endpoint::CancelPayout => act_on_payout(app, actor, request, AdminAction::Cancel).await,
        Endpoint::PutPayoutSchedule => put_payout_schedule(app, actor, request).await,
        Endpoint::GetPayoutSchedule => get_payout_schedule(app, actor, request).await,
        Endpoint::BulkPayouts => bulk_payouts(app, actor, request).await,
        Endpoint::PayoutStats => payout_stats(app, actor).await,
        Endpoint::ReconciliationReport => reconciliation_report(app, actor, request).await,
        Endpoint::ReconciliationCsv => reconciliation_csv(app, actor, request).await,
        Endpoint::PayoutsCsv => payouts_csv(app, actor, request).await,
        // Not token-bearing: `App::handle` serves them before any token is read.
        Endpoint::RazorpayXWebhook | Endpoint::AdminDashboard => Err(
            domain::error::Error::Forbidden("this route takes no token".to_owned()),
        ),
        // The marketplace's: `App::handle` sends a person's token nowhere near them.
        Endpoint::PutScout | Endpoint::PutOrder | Endpoint::RecordScoutEarnings => Err(
            Error::Forbidden("this route is for the marketplace's backend".to_owned()),
        ),
    }
}

async fn complete_order(app: &App, actor: &Actor, request: &Request) -> Result<Response<Body>> {
    let order_id = input::record_id(request, Endpoint::CompleteOrder, "order_id", "order")?;
    let completed = order::complete_order(&app.store, app.config.limits, actor, &order_id).await?;
    Ok(reply::completed_order(&completed))
}

async fn my_payouts(app: &App, actor: &Actor, request: &Request) -> Result<Response<Body>> {
    let validating = app.config.processor.validate_accounts;
    let limit = limit(request, MY_PAYOUTS_DEFAULT_LIMIT)?;
    let cursor = input::query(request, "cursor")?;
    let list = listing::my_payouts(&app.store, actor, validating, limit, cursor.as_deref()).await?;
    Ok(reply::my_payouts(&list))
}

async fn list_payouts(app: &App, actor: &Actor, request: &Request) -> Result<Response<Body>> {
    actor.require_admin()?;
    let status = input::query_status(request)?;
    let page = input::query_number(request, "page", 1..=1_000_000)?;
    let limit = limit(request, ADMIN_LIST_DEFAULT_LIMIT)?;
    let cursor = input::query(request, "cursor")?;
    let validating = app.config.processor.validate_accounts;
    let list = listing::list_payouts(
        &app.store,
        actor,
        validating,
        status,
        page,
        limit,
        cursor.as_deref(),
    )
    .await?;
    Ok(reply::payout_list(&list))
}

async fn put_payout_account(app: &App, actor: &Actor, request: &Request) -> Result<Response<Body>> {
    let body = input::json_object(request)?;
    let account = account::parse_new_account(&body)?;
    let vault = app.config.vault.as_ref().ok_or_else(|| {
        Error::Config(
            "PAYOUT_ACCOUNT_KEY_ID is not set: this function cannot seal payout accounts"
                .to_owned(),
        )
    })?;
    let saved = account::save_payout_account(
        &app.store,
        vault,
        actor,
        account,
        app.config.account_hold_secs,
    )
    .await?;
    Ok(reply::payout_account(
        &saved,
        app.config.processor.validate_accounts,
    ))
}

async fn get_payout_account(app: &App, actor: &Actor) -> Result<Response<Body>> {
    let found = account::payout_account_of(&app.store, actor, actor.user_id).await?;
    Ok(reply::payout_account_view(
        &found,
        app.config.processor.validate_accounts,
    ))
}

async fn get_user_payout_account(
    app: &App,
    actor: &Actor,
    request: &Request,
) -> Result<Response<Body>> {
    actor.require_admin()?;
    let user_id = input::user_id(request, Endpoint::GetUserPayoutAccount)?;
    let found = admin::user_payout_account(&app.store, actor, user_id).await?;
    Ok(reply::payout_account_view(
        &found,
        app.config.processor.validate_accounts,
    ))
}

async fn end_payout_account_hold(
    app: &App,
    actor: &Actor,
    request: &Request,
) -> Result<Response<Body>> {
    actor.require_admin()?;
    let user_id = input::user_id(request, Endpoint::EndPayoutAccountHold)?;
    let ended = account::end_hold(&app.store, actor, user_id).await?;
    Ok(reply::payout_account(
        &ended,
        app.config.processor.validate_accounts,
    ))
}

/// `process-payout`, `retry-payout` and `cancel-payout`: one admin action on one payout.
async fn act_on_payout(
    app: &App,
    actor: &Actor,
    request: &Request,
    action: AdminAction,
) -> Result<Response<Body>> {
    actor.require_admin()?;
    let endpoint = match action {
        AdminAction::Process => Endpoint::ProcessPayout,
        AdminAction::Retry => Endpoint::RetryPayout,
        AdminAction::Cancel => Endpoint::CancelPayout,
    };
    let payout_id = input::payout_id(request, endpoint)?;
    let payout = admin::act_on_payout(
        &app.store,
        app.gateway()?,
        app.config.processor,
        actor,
        action,
        None,
        payout_id,
    )
    .await?;
    Ok(reply::admin_payout(StatusCode::OK, &payout))
}

async fn put_payout_schedule(
    app: &App,
    actor: &Actor,
    request: &Request,
) -> Result<Response<Body>> {
    let body = input::json_object(request)?;
    let wanted = schedule::parse_request(&body, app.config.limits)?;
    let saved = schedule::set_schedule(&app.store, app.config.schedule_tz, actor, wanted).await?;
    Ok(reply::payout_schedule(&saved, app.config.schedule_tz))
}

async fn get_payout_schedule(
    app: &App,
    actor: &Actor,
    request: &Request,
) -> Result<Response<Body>> {
    let scout_id = input::query(request, "scout_id")?
        .filter(|id| input::is_addressable_id(id))
        .ok_or_else(|| {
            Error::BadRequest(
                "scout_id (a query parameter) names the scout whose schedule to read".to_owned(),
            )
        })?;
    let found = schedule::schedule_of(&app.store, app.config.limits, actor, &scout_id).await?;
    Ok(reply::payout_schedule(&found, app.config.schedule_tz))
}

async fn bulk_payouts(app: &App, actor: &Actor, request: &Request) -> Result<Response<Body>> {
    // Who, then the whole body and the key, before anything is read or done.
    actor.require_admin()?;
    let body = input::json_object(request)?;
    input::only_fields(&body, &bulk::FIELDS)?;
    let command = bulk::BulkCommand::parse(&body)?;
    let idempotency_key = input::header(request, "idempotency-key")?;
    let done = bulk::bulk_payouts(
        &app.store,
        app.gateway()?,
        app.config.processor,
        actor,
        command,
        idempotency_key.as_deref(),
        // API Gateway gives up on an answer after 30 s, whatever the function's
        // own deadline (the local emulator's counts its builds in, too).
        Some(std::time::Instant::now() + bulk::TIME_LIMIT),
    )
    .await?;
    let mut response = reply::bulk_payouts(done.answer());
    if done.replayed() {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

async fn payout_stats(app: &App, actor: &Actor) -> Result<Response<Body>> {
    let stats = service::stats::payout_stats(&app.store, actor).await?;
    Ok(reply::payout_stats(&stats))
}

async fn reconciliation_report(
    app: &App,
    actor: &Actor,
    request: &Request,
) -> Result<Response<Body>> {
    actor.require_admin()?;
    let day = reconciliation_day(app, request)?;
    let limit = limit(request, RECONCILIATION_FINDINGS_DEFAULT_LIMIT)?;
    let cursor = input::query(request, "cursor")?;
    let report =
        reconciliation::report::day_report(&app.store, actor, day, limit, cursor.as_deref())
            .await?;
    Ok(reply::reconciliation_report(&report))
}

async fn reconciliation_csv(app: &App, actor: &Actor, request: &Request) -> Result<Response<Body>> {
    actor.require_admin()?;
    let day = reconciliation_day(app, request)?;
    let rows = csv_rows(request)?;
    let cursor = input::query(request, "cursor")?;
    let page =
        reconciliation::report::findings_csv(&app.store, actor, day, rows, cursor.as_deref())
            .await?;
    let date = day.name();
    let next = page.next_cursor.as_deref().map(|cursor| {
        format!(
            "{}?date={date}&limit={rows}&cursor={cursor}",
            file_name(Endpoint::ReconciliationCsv)
        )
    });
    Ok(reply::csv(
        page,
        &format!("reconciliation-{date}.csv"),
        next.as_deref(),
    ))
}

/// The day a reconciliation route asks for: `date`, or yesterday in the operator's zone.
fn reconciliation_day(app: &App, request: &Request) -> Result<reconciliation::Day> {
    let date = input::query(request, "date")?;
    reconciliation::report::day_named(
        date.as_deref(),
        domain::time::Timestamp::now(),
        app.config.schedule_tz,
    )
}

async fn payouts_csv(app: &App, actor: &Actor, request: &Request) -> Result<Response<Body>> {
    actor.require_admin()?;
    let from = input::query(request, "from")?.ok_or_else(|| {
        Error::BadRequest("from is required: a date or an RFC 3339 time".to_owned())
    })?;
    let to = input::query(request, "to")?;
    let range = export::CreatedRange::parse(
        &from,
        to.as_deref(),
        domain::time::Timestamp::now(),
        app.config.schedule_tz,
    )?;
    let status = input::query_status(request)?;
    let rows = csv_rows(request)?;
    let cursor = input::query(request, "cursor")?;
    let page =
        export::payouts_csv(&app.store, actor, range, status, rows, cursor.as_deref()).await?;
    // The next page names the range as resolved (times, not dates), so following it
    // never depends on when or where it is followed.
    let next = page.next_cursor.as_deref().map(|cursor| {
        let status = status.map_or(String::new(), |status| format!("&status={status}"));
        format!(
            "{}?from={}&to={}{status}&limit={rows}&cursor={cursor}",
            file_name(Endpoint::PayoutsCsv),
            range.from,
            range.to
        )
    });
    Ok(reply::csv(page, "payouts.csv", next.as_deref()))
}

async fn request_scout_payout(
    app: &App,
    actor: &Actor,
    request: &Request,
) -> Result<Response<Body>> {
    let endpoint = Endpoint::RequestScoutPayout;
    let scout_id = input::record_id(request, endpoint, "scout_id", "scout")?;
    let body = input::json_object(request)?;
    input::only_fields(&body, &["amount_paise"])?;
    let amount = input::amount(&body, "amount_paise")?;
    let idempotency_key = input::header(request, "idempotency-key")?;
    let requested = request_payout(
        &app.store,
        app.config.limits,
        actor,
        PayoutRequest {
            scout_id,
            amount,
            idempotency_key,
        },
    )
    .await?;
    Ok(match requested {
        Requested::Created(payout) => reply::payout(StatusCode::CREATED, &payout),
        Requested::Replayed(payout) => {
            let mut response = reply::payout(StatusCode::OK, &payout);
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            response
        }
    })
}

/// The last segment of a CSV route's path: a next page's link is relative to the page,
/// so it holds behind a stage's path (`/prod/admin/…`) or a custom domain's base path
/// as it does locally.
fn file_name(endpoint: Endpoint) -> &'static str {
    endpoint.path().rsplit('/').next().unwrap_or_default()
}

/// Rows per CSV page: `limit`, or as many as a page holds.
fn csv_rows(request: &Request) -> Result<usize> {
    let rows = input::query_number(request, "limit", 1..=csv_page::MAX_ROWS as u64)?;
    Ok(rows.map_or(csv_page::MAX_ROWS, |rows| rows as usize))
}

fn limit(request: &Request, default: usize) -> Result<usize> {
    let limit = input::query_number(request, "limit", 1..=MAX_LIMIT as u64)?;
    Ok(limit.map_or(default, |limit| limit as usize))
}
