//! Reading a day's reconciliation: its report and a page of its findings (the admin's
//! JSON), or its findings as CSV pages (finance's).

use domain::actor::Actor;
use domain::error::{Error, Result};
use domain::reconciliation::{Action, Finding, Report};
use domain::time::Timestamp;
use store::{keys, PageKey, Store};

use super::Day;
use crate::csv_page::{self, list, optional, CsvPage};
use crate::cursor;

/// A day's report and one page of its findings.
#[derive(Clone, Debug)]
pub struct DayReport {
    pub report: Report,
    pub findings: Vec<Finding>,
    pub next_cursor: Option<String>,
}

/// The finding columns of the CSV, in order. Stable: a column is only ever added at the
/// end. A finding about several gateway payouts (`paid_twice`) lists each side's value in
/// its `gateway_*` columns, `;`-separated, in the same order.
pub const FINDING_COLUMNS: [&str; 20] = [
    "date",
    "found_at",
    "kind",
    "action",
    "transition",
    "subject",
    "payout_id",
    "user_id",
    "our_status",
    "our_attempt",
    "our_amount_paise",
    "our_gateway_payout_id",
    "our_fund_account_id",
    "gateway_payout_ids",
    "gateway_statuses",
    "gateway_amounts_paise",
    "gateway_fund_account_ids",
    "gateway_utrs",
    "gateway_references",
    "detail",
];

/// The day asked for (`YYYY-MM-DD` in the operator's time zone), or, when none is, the
/// day the daily run reconciles last: yesterday.
pub fn day_named(date: Option<&str>, now: Timestamp, tz: chrono_tz::Tz) -> Result<Day> {
    match date {
        None => Ok(Day::before(now, tz)),
        Some(text) => Day::parse(text, tz)
            .ok_or_else(|| Error::BadRequest(format!("date must be YYYY-MM-DD, got `{text}`"))),
    }
}

/// The report of `day` and a page of its findings, by kind then subject. Admins only; a
/// day no run has reported on is `404`.
pub async fn day_report(
    store: &Store,
    actor: &Actor,
    day: Day,
    limit: usize,
    cursor: Option<&str>,
) -> Result<DayReport> {
    actor.require_admin()?;
    let date = day.name();
    let start = cursor
        .map(|cursor| decode_finding_cursor(&date, cursor))
        .transpose()?;
    let (report, (findings, next)) = tokio::try_join!(
        reported(store, &date),
        findings_page(store, &date, limit, start)
    )?;
    let next_cursor = next
        .map(|next| cursor::encode(&keys::reconciliation_pk(&date), &next))
        .transpose()?;
    Ok(DayReport {
        report,
        findings,
        next_cursor,
    })
}

/// A page of `day`'s findings as CSV, at most `max_rows` long. Admins only; a day no run
/// has reported on is `404`.
pub async fn findings_csv(
    store: &Store,
    actor: &Actor,
    day: Day,
    max_rows: usize,
    cursor: Option<&str>,
) -> Result<CsvPage> {
    actor.require_admin()?;
    let date = day.name();
    reported(store, &date).await?;
    let start = cursor
        .map(|cursor| decode_finding_cursor(&date, cursor))
        .transpose()?;
    csv_page::page_of(
        &FINDING_COLUMNS,
        max_rows,
        start,
        |wanted, start| findings_page(store, &date, wanted, start),
        |finding| finding_row(&date, finding),
        &keys::reconciliation_pk(&date),
    )
    .await
}

/// The report of `date`: `404` when no run has written one (an empty answer would read
/// as "nothing found").
async fn reported(store: &Store, date: &str) -> Result<Report> {
    store
        .reconciliation_report(date)
        .await?
        .ok_or_else(|| Error::NotFound {
            entity: "reconciliation report",
            id: date.to_owned(),
        })
}

/// Up to `limit` of `date`'s findings from `start`, and where the next page starts. One
/// extra finding tells whether another page exists, so `next` is `None` exactly at the
/// end; a query cut short by DynamoDB's 1 MB per call ends the page where it stopped.
async fn findings_page(
    store: &Store,
    date: &str,
    limit: usize,
    start: Option<PageKey>,
) -> Result<(Vec<Finding>, Option<PageKey>)> {
    let page = store.findings(date, limit + 1, start).await?;
    let mut findings = page.findings;
    let next = if findings.len() > limit {
        findings.truncate(limit);
        findings.last().map(|last| finding_page_key(date, last))
    } else {
        page.next
    };
    Ok((findings, next))
}

/// Where a page of `date`'s findings ends: the last finding's key.
fn finding_page_key(date: &str, finding: &Finding) -> PageKey {
    PageKey::from([
        (keys::PK.to_owned(), keys::reconciliation_pk(date)),
        (keys::SK.to_owned(), keys::finding_sk(&finding.key())),
    ])
}

/// A cursor of `date`'s findings: exactly a finding's key in that day's partition.
fn decode_finding_cursor(date: &str, cursor: &str) -> Result<PageKey> {
    let partition = keys::reconciliation_pk(date);
    cursor::decode_checked(&partition, cursor, |key| {
        key.len() == 2
            && key.get(keys::PK) == Some(&partition)
            && key
                .get(keys::SK)
                .is_some_and(|sk| sk.starts_with(keys::FINDING_PREFIX))
    })
}

fn finding_row(date: &str, finding: &Finding) -> [String; FINDING_COLUMNS.len()] {
    let ours = finding.ours.as_ref();
    let theirs = |cell: &dyn Fn(&domain::reconciliation::GatewaySide) -> String| {
        list(finding.theirs.iter().map(cell))
    };
    let (action, transition) = match &finding.action {
        Action::Repaired { transition } => ("repaired", transition.as_str()),
        Action::LeftForPerson => ("left_for_person", ""),
    };
    [
        date.to_owned(),
        finding.found_at.to_string(),
        finding.kind.as_str().to_owned(),
        action.to_owned(),
        transition.to_owned(),
        finding.subject.clone(),
        optional(ours.map(|ours| ours.payout_id)),
        optional(ours.map(|ours| ours.user_id)),
        optional(ours.map(|ours| ours.status.as_str())),
        optional(ours.map(|ours| ours.attempt)),
        optional(ours.map(|ours| ours.amount_paise.get())),
        optional(ours.and_then(|ours| ours.gateway_payout_id.as_deref())),
        optional(ours.and_then(|ours| ours.gateway_fund_account_id.as_deref())),
        theirs(&|side| side.gateway_payout_id.clone()),
        theirs(&|side| side.status.clone()),
        theirs(&|side| optional(side.amount_paise)),
        theirs(&|side| optional(side.fund_account_id.as_deref())),
        theirs(&|side| optional(side.utr.as_deref())),
        theirs(&|side| optional(side.reference.as_deref())),
        finding.detail.clone(),
    ]
}
