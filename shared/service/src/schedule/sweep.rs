//! The daily sweep: every scout whose schedule is due gets one payout of all its
//! available earnings for the period, through the same reservation transaction as a
//! scout's own request, and its schedule moves on to the next due date in the same
//! write. A sweep run twice, or two at once, make one payout per scout per period.

use std::time::{Duration, Instant};

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::NaiveDate;
use chrono_tz::Tz;
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use tracing::{error, info};

use super::{period_of, scheduled_payout_id, PayoutSchedule};
use crate::config::PayoutLimits;
use domain::error::{Conflict, Error, Result};
use domain::money::Paise;
use domain::payout::{Payout, PayoutType};
use domain::time::Timestamp;
use platform::metrics::{self, Unit};
use store::{CreateRefused, ScheduleAdvance, Store};

/// How a sweep pages and when it stops.
#[derive(Clone, Copy, Debug)]
pub struct SweepOptions {
    pub page_size: usize,
    /// Scouts swept at once within a page.
    pub concurrency: usize,
    /// No new page starts with less than this left before the deadline.
    pub margin: Duration,
}

impl Default for SweepOptions {
    fn default() -> Self {
        SweepOptions {
            page_size: 100,
            concurrency: 8,
            // A page is at most 100 scouts of four requests each, eight at a time:
            // a few seconds even when DynamoDB throttles.
            margin: Duration::from_secs(20),
        }
    }
}

/// The sweep Lambda's work: one sweep per EventBridge event, of the schedules due now,
/// stopping short of the invocation's `deadline`.
pub async fn on_sweep_schedule(
    store: &Store,
    limits: PayoutLimits,
    tz: Tz,
    event: &EventBridgeEvent,
    deadline: Option<std::time::SystemTime>,
) -> Result<SweepSummary> {
    platform::telemetry::schedule_fired(event, "sweep");
    // Boxed: the sweep is a deep future, and the Lambda runtime's own nests it deeper
    // than the compiler's default layout depth.
    Box::pin(sweep(
        store,
        limits,
        tz,
        Timestamp::now(),
        deadline.map(domain::time::deadline_instant),
        SweepOptions::default(),
    ))
    .await
}

/// What one sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepSummary {
    /// Schedules found due.
    pub due: usize,
    /// Payouts requested.
    pub requested: usize,
    pub requested_paise: Paise,
    /// Scouts whose available earnings were below their minimum: skipped this period.
    pub below_minimum: usize,
    /// Due, but the scout is deactivated: the period passes without a payout.
    pub inactive: usize,
    /// Periods paid by an earlier or overlapping sweep (nothing new was made).
    pub already_requested: usize,
    /// Schedules changed or swept by someone else between the index and the read.
    pub not_due: usize,
    pub errors: usize,
    pub pages: usize,
    /// Stopped before the deadline with scouts still due: the next sweep resumes.
    pub stopped_early: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Swept {
    Requested(Paise),
    BelowMinimum,
    /// The marketplace deactivated the scout.
    Inactive,
    AlreadyRequested,
    NotDue,
}

/// Requests the payouts of every schedule due at `now`, a page at a time, stopping
/// between pages when `deadline` is nearer than the margin. A scout that fails stays
/// due and is swept again next time; the sweep then returns an error so that the
/// failed invocation raises the alarm (and EventBridge retries it, which is safe).
pub async fn sweep(
    store: &Store,
    limits: PayoutLimits,
    tz: Tz,
    now: Timestamp,
    deadline: Option<Instant>,
    options: SweepOptions,
) -> Result<SweepSummary> {
    let mut summary = SweepSummary::default();
    let mut start = None;
    loop {
        let page = store.due_schedules(now, options.page_size, start).await?;
        summary.pages += 1;
        summary.due += page.scout_ids.len();
        let outcomes: Vec<(String, Result<Swept>)> = stream::iter(page.scout_ids)
            .map(|scout_id| async move {
                let swept = sweep_scout(store, limits, tz, now, &scout_id).await;
                (scout_id, swept)
            })
            .buffer_unordered(options.concurrency.max(1))
            .collect()
            .await;
        for (scout_id, outcome) in outcomes {
            match outcome {
                Ok(Swept::Requested(amount)) => {
                    summary.requested += 1;
                    summary.requested_paise = summary
                        .requested_paise
                        .checked_add(amount)
                        .unwrap_or(summary.requested_paise);
                }
                Ok(Swept::BelowMinimum) => summary.below_minimum += 1,
                Ok(Swept::Inactive) => summary.inactive += 1,
                Ok(Swept::AlreadyRequested) => summary.already_requested += 1,
                Ok(Swept::NotDue) => summary.not_due += 1,
                Err(err) => {
                    summary.errors += 1;
                    error!(event = "sweep_failed", scout_id, error = %err, "a scheduled payout could not be requested; it stays due");
                }
            }
        }
        let Some(next) = page.next else {
            break;
        };
        start = Some(next);
        if deadline.is_some_and(|deadline| {
            deadline.saturating_duration_since(Instant::now()) < options.margin
        }) {
            summary.stopped_early = true;
            break;
        }
    }
    info!(
        event = "sweep_completed",
        due = summary.due,
        requested = summary.requested,
        requested_paise = summary.requested_paise.get(),
        below_minimum = summary.below_minimum,
        inactive = summary.inactive,
        already_requested = summary.already_requested,
        not_due = summary.not_due,
        errors = summary.errors,
        pages = summary.pages,
        stopped_early = summary.stopped_early,
        "scheduled payouts swept"
    );
    let as_count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    metrics::emit(
        &[
            (
                "ScheduledPayoutsRequested",
                Unit::Count,
                as_count(summary.requested),
            ),
            ("SweepErrors", Unit::Count, as_count(summary.errors)),
            (
                "SweepStoppedEarly",
                Unit::Count,
                u64::from(summary.stopped_early),
            ),
        ],
        &[],
    );
    if summary.errors > 0 {
        return Err(Error::Incomplete(format!(
            "{} scheduled payouts could not be requested; they stay due",
            summary.errors
        )));
    }
    Ok(summary)
}

/// One scout due: request its period's payout (once), then move the schedule on.
async fn sweep_scout(
    store: &Store,
    limits: PayoutLimits,
    tz: Tz,
    now: Timestamp,
    scout_id: &str,
) -> Result<Swept> {
    // The index may lag its items: act on the schedule as stored now.
    let Some(schedule) = store.schedule_item::<PayoutSchedule>(scout_id).await? else {
        return Ok(Swept::NotDue);
    };
    let Some(due) = schedule.next_due_at.filter(|due| *due <= now) else {
        return Ok(Swept::NotDue);
    };
    // The period as named when the date was set: a later change of time zone cannot
    // rename a period already paid.
    let period = schedule.next_period.unwrap_or_else(|| period_of(due, tz));
    // Missed periods (a sweep that did not run) are not made up one by one: the next
    // payout takes everything available anyway.
    let next = schedule.cadence().next_due(now, tz).ok_or_else(|| {
        Error::inconsistent(format!("schedule of {scout_id} has no next due date"))
    })?;
    let next_period = period_of(next, tz).to_string();
    let advance = ScheduleAdvance {
        scout_id,
        from: due,
        to: next,
        to_period: &next_period,
        swept_at: now,
    };
    let swept = request_for_period(store, limits, &schedule, period, advance).await?;
    if matches!(
        swept,
        Swept::BelowMinimum | Swept::AlreadyRequested | Swept::Inactive
    ) {
        // No payout moved it on; `false` is another sweep (or the owner) having done so.
        store.advance_schedule(advance).await?;
    }
    Ok(swept)
}

/// How often to read the scout again after losing a race for its balance.
const BALANCE_RACE_RETRIES: usize = 5;

/// Requests the period's payout, moving the schedule on in the same transaction.
async fn request_for_period(
    store: &Store,
    limits: PayoutLimits,
    schedule: &PayoutSchedule,
    period: NaiveDate,
    advance: ScheduleAdvance<'_>,
) -> Result<Swept> {
    let now = advance.swept_at;
    let payout_id = scheduled_payout_id(&schedule.scout_id, period);
    for _ in 0..BALANCE_RACE_RETRIES {
        let Some(scout) = store.scout(&schedule.scout_id).await? else {
            return Err(Error::inconsistent(format!(
                "scout {} of a payout schedule is missing",
                schedule.scout_id
            )));
        };
        // A deactivated scout's schedule lets its periods pass: it requests nothing.
        if !scout.active {
            return Ok(Swept::Inactive);
        }
        let threshold = schedule.minimum_paise.max(limits.min);
        if scout.earnings_paise < threshold {
            return Ok(Swept::BelowMinimum);
        }
        // Anything above the largest payout waits for the next period.
        let amount = scout.earnings_paise.min(limits.max);
        let mut payout = Payout::new(
            payout_id,
            scout.user_id,
            PayoutType::ScoutBounty,
            amount,
            now,
        );
        payout.scout_id = Some(schedule.scout_id.clone());
        match store
            .create_scout_payout(&payout, &schedule.scout_id, None, Some(advance))
            .await
        {
            Ok(()) => {
                info!(
                    event = "payout_requested",
                    payout_id = %payout_id,
                    user_id = payout.user_id,
                    scout_id = %schedule.scout_id,
                    amount_paise = amount.get(),
                    period = %period,
                    by = "schedule",
                    "scout payout requested"
                );
                return Ok(Swept::Requested(amount));
            }
            Err(CreateRefused::PayoutExists) => return Ok(Swept::AlreadyRequested),
            // Its owner changed it, or another sweep got there first.
            Err(CreateRefused::ScheduleMoved) => return Ok(Swept::NotDue),
            // The owner spent some of it meanwhile: read the balance again.
            Err(CreateRefused::ScoutBalance) => continue,
            Err(CreateRefused::Failed(error)) => return Err(error),
            Err(other) => return Err(Error::Invariant(format!("unexpected refusal {other:?}"))),
        }
    }
    Err(Error::Conflict(Conflict::Contended(format!(
        "the balance of scout {} kept changing",
        schedule.scout_id
    ))))
}
