//! Payout schedules: a scout's owner asks to be paid automatically (daily, weekly or
//! monthly) instead of asking each time, and the daily sweep makes those requests.
//!
//! A schedule falls due at midnight, in the operator's time zone (`PAYOUT_SCHEDULE_TZ`),
//! of each day it names; the due instant is stored in UTC. The sweep requests all
//! available earnings of every scout due, through the same reservation transaction as
//! a scout's own request, under a payout id derived from the scout and the period's
//! date: a sweep run twice, or two at once, make one payout per scout per period.
//! This file holds the schedule (its cadence, due dates, periods, and an owner's
//! reads and writes); the sweep is in `sweep.rs`.

use chrono::{Datelike, Days, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tracing::info;
use uuid::Uuid;

use crate::config::PayoutLimits;
use domain::actor::Actor;
use domain::error::{Error, Result};
use domain::money::Paise;
use domain::time::Timestamp;
use store::Store;

pub mod sweep;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Frequency {
    /// The scout asks for each payout (the default).
    Manual,
    Daily,
    /// On `day` of each week, Monday = 1.
    Weekly,
    /// On `day` (1–28, so that every month has it) of each month.
    Monthly,
}

impl Frequency {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "manual" => Some(Frequency::Manual),
            "daily" => Some(Frequency::Daily),
            "weekly" => Some(Frequency::Weekly),
            "monthly" => Some(Frequency::Monthly),
            _ => None,
        }
    }

    /// The days `day` may name, for the frequencies that take one.
    fn days(self) -> Option<std::ops::RangeInclusive<u8>> {
        match self {
            Frequency::Weekly => Some(1..=7),
            Frequency::Monthly => Some(1..=28),
            Frequency::Manual | Frequency::Daily => None,
        }
    }
}

/// How often a scout is paid, as its owner set it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cadence {
    pub frequency: Frequency,
    pub day: Option<u8>,
    /// Below this the period is skipped and the earnings wait for the next one.
    pub minimum_paise: Paise,
}

impl Cadence {
    fn falls_on(self, date: NaiveDate) -> bool {
        match (self.frequency, self.day) {
            (Frequency::Daily, _) => true,
            (Frequency::Weekly, Some(day)) => date.weekday().number_from_monday() == u32::from(day),
            (Frequency::Monthly, Some(day)) => date.day() == u32::from(day),
            _ => false,
        }
    }

    /// The first due instant strictly after `after`: midnight in `tz` of the first day
    /// the cadence falls on. `None` for manual schedules, which are never due.
    pub fn next_due(self, after: Timestamp, tz: Tz) -> Option<Timestamp> {
        let today = after.as_utc().with_timezone(&tz).date_naive();
        // A monthly day recurs within 31 days; two months' worth covers every case.
        (0..=62u64)
            .filter_map(|offset| today.checked_add_days(Days::new(offset)))
            .filter(|date| self.falls_on(*date))
            .map(|date| start_of_day(date, tz))
            .find(|due| *due > after)
    }
}

/// Midnight of `date` in `tz`, in UTC. Where a DST change skips midnight, the day
/// starts at its first instant after the gap; where midnight happens twice, the first.
fn start_of_day(date: NaiveDate, tz: Tz) -> Timestamp {
    let midnight = date.and_time(NaiveTime::MIN);
    let local = (0..=2)
        .map(|hours| midnight + chrono::Duration::hours(hours))
        .find_map(|time| match tz.from_local_datetime(&time) {
            LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => Some(at),
            LocalResult::None => None,
        });
    match local {
        Some(at) => Timestamp::from_utc(at.with_timezone(&Utc)),
        // No zone skips more than two hours; should one, midnight UTC is still a day.
        None => Timestamp::from_utc(midnight.and_utc()),
    }
}

/// The period a due instant opens: its local date.
pub fn period_of(due: Timestamp, tz: Tz) -> NaiveDate {
    due.as_utc().with_timezone(&tz).date_naive()
}

/// Payout ids of scheduled payouts derive from the scout and the period, so the same
/// period can never be paid twice, whoever sweeps it and however often.
const SCHEDULED_PAYOUT_NAMESPACE: Uuid = Uuid::from_u128(0x5c4e_d01e_9a7b_4f3e_8d21_6b0c_7e5a_1f02);

pub fn scheduled_payout_id(scout_id: &str, period: NaiveDate) -> Uuid {
    Uuid::new_v5(
        &SCHEDULED_PAYOUT_NAMESPACE,
        format!("{scout_id}/{period}").as_bytes(),
    )
}

/// A scout's schedule as stored (next to the scout's item).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutSchedule {
    pub scout_id: String,
    pub user_id: u64,
    pub frequency: Frequency,
    #[serde(default)]
    pub day: Option<u8>,
    pub minimum_paise: Paise,
    /// `None` for manual schedules.
    #[serde(default)]
    pub next_due_at: Option<Timestamp>,
    /// The period `next_due_at` opens (its local date when it was set), which names the
    /// period's payout.
    #[serde(default)]
    pub next_period: Option<NaiveDate>,
    #[serde(default)]
    pub last_swept_at: Option<Timestamp>,
    /// `None` for the default schedule of a scout whose owner never set one.
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
}

impl PayoutSchedule {
    pub fn cadence(&self) -> Cadence {
        Cadence {
            frequency: self.frequency,
            day: self.day,
            minimum_paise: self.minimum_paise,
        }
    }
}

/// What `PUT /me/payout-schedule` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleRequest {
    pub scout_id: String,
    pub cadence: Cadence,
}

fn invalid(field: &'static str, message: impl Into<String>) -> Error {
    Error::InvalidPayoutSchedule {
        field,
        message: message.into(),
    }
}

/// Reads and checks a schedule body; every refusal names its field.
pub fn parse_request(body: &Map<String, Value>, limits: PayoutLimits) -> Result<ScheduleRequest> {
    const FIELDS: [&str; 4] = ["scout_id", "frequency", "day", "minimum_paise"];
    // One wording for unknown keys everywhere, cut short: a client's key is never
    // echoed back whole.
    domain::body::only_fields(body, &FIELDS)?;
    let scout_id = match body.get("scout_id") {
        Some(Value::String(id)) if domain::body::is_addressable_id(id) => id.clone(),
        _ => {
            return Err(invalid(
                "scout_id",
                "scout_id must be the id of one of your scouts",
            ))
        }
    };
    let frequency = body
        .get("frequency")
        .and_then(Value::as_str)
        .and_then(Frequency::parse)
        .ok_or_else(|| {
            invalid(
                "frequency",
                "frequency must be one of manual, daily, weekly, monthly",
            )
        })?;
    let day = match (
        body.get("day").filter(|day| !day.is_null()),
        frequency.days(),
    ) {
        (None, None) => None,
        (Some(_), None) => {
            return Err(invalid(
                "day",
                "day is only for weekly and monthly schedules",
            ))
        }
        (given, Some(days)) => {
            let day = given
                .and_then(Value::as_u64)
                .and_then(|day| u8::try_from(day).ok())
                .filter(|day| days.contains(day));
            let what = if frequency == Frequency::Weekly {
                "a weekly schedule needs day 1-7 (Monday = 1)"
            } else {
                "a monthly schedule needs day 1-28"
            };
            Some(day.ok_or_else(|| invalid("day", what))?)
        }
    };
    let minimum_paise = match body.get("minimum_paise").filter(|value| !value.is_null()) {
        None => limits.min,
        Some(value) => value
            .as_u64()
            // A float such as 100.0 is not an amount of paise.
            .filter(|_| value.is_u64())
            .map(Paise)
            .filter(|minimum| (limits.min..=limits.max).contains(minimum))
            .ok_or_else(|| {
                invalid(
                    "minimum_paise",
                    format!(
                        "minimum_paise must be a whole number of paise from {} to {}",
                        limits.min.get(),
                        limits.max.get()
                    ),
                )
            })?,
    };
    Ok(ScheduleRequest {
        scout_id,
        cadence: Cadence {
            frequency,
            day,
            minimum_paise,
        },
    })
}

/// The owner of a scout that exists.
async fn scout_owner(store: &Store, scout_id: &str) -> Result<u64> {
    Ok(store.existing_scout(scout_id).await?.user_id)
}

/// Saves the owner's schedule for one of their scouts. Its next due date is computed
/// from now, so a change takes effect from the next period. Only the owner sets it,
/// admins included: it decides when the owner's money moves.
pub async fn set_schedule(
    store: &Store,
    tz: Tz,
    actor: &Actor,
    request: ScheduleRequest,
) -> Result<PayoutSchedule> {
    let owner = scout_owner(store, &request.scout_id).await?;
    if owner != actor.user_id {
        return Err(Error::Forbidden(
            "this scout belongs to another user".to_owned(),
        ));
    }
    let now = Timestamp::now();
    let next_due_at = request.cadence.next_due(now, tz);
    let schedule = PayoutSchedule {
        scout_id: request.scout_id,
        user_id: owner,
        frequency: request.cadence.frequency,
        day: request.cadence.day,
        minimum_paise: request.cadence.minimum_paise,
        next_due_at,
        next_period: next_due_at.map(|due| period_of(due, tz)),
        last_swept_at: None,
        updated_at: Some(now),
    };
    store
        .put_schedule(&schedule.scout_id, &schedule, schedule.next_due_at)
        .await?;
    info!(
        event = "payout_schedule_set",
        scout_id = %schedule.scout_id,
        user_id = schedule.user_id,
        frequency = ?schedule.frequency,
        day = schedule.day,
        minimum_paise = schedule.minimum_paise.get(),
        next_due_at = ?schedule.next_due_at.map(|due| due.to_string()),
        "payout schedule set"
    );
    Ok(schedule)
}

/// A scout's schedule, for its owner or an admin; manual (with the smallest allowed
/// minimum) if never set.
pub async fn schedule_of(
    store: &Store,
    limits: PayoutLimits,
    actor: &Actor,
    scout_id: &str,
) -> Result<PayoutSchedule> {
    let owner = scout_owner(store, scout_id).await?;
    actor.require_owner(owner, "this scout")?;
    Ok(store
        .schedule_item(scout_id)
        .await?
        .unwrap_or_else(|| PayoutSchedule {
            scout_id: scout_id.to_owned(),
            user_id: owner,
            frequency: Frequency::Manual,
            day: None,
            minimum_paise: limits.min,
            next_due_at: None,
            next_period: None,
            last_swept_at: None,
            updated_at: None,
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    fn cadence(frequency: Frequency, day: Option<u8>) -> Cadence {
        Cadence {
            frequency,
            day,
            minimum_paise: Paise(100),
        }
    }

    const IST: Tz = chrono_tz::Asia::Kolkata;

    #[test]
    fn daily_is_due_at_the_next_midnight_in_india_across_month_and_year_ends() {
        let daily = cadence(Frequency::Daily, None);
        for (after, due) in [
            // 15:00 IST on 31 January → midnight IST on 1 February (18:30 UTC the day before).
            ("2027-01-31T09:30:00Z", "2027-01-31T18:30:00.000Z"),
            ("2026-12-31T20:00:00Z", "2027-01-01T18:30:00.000Z"),
            // Exactly at a due instant: the next one, never the same.
            ("2027-01-31T18:30:00Z", "2027-02-01T18:30:00.000Z"),
            ("2027-01-31T18:29:59.999Z", "2027-01-31T18:30:00.000Z"),
        ] {
            assert_eq!(
                daily.next_due(at(after), IST),
                Some(at(due)),
                "after {after}"
            );
        }
    }

    #[test]
    fn february_ends_on_the_28th_or_in_leap_years_the_29th() {
        let daily = cadence(Frequency::Daily, None);
        // 12:00 IST on 28 February.
        assert_eq!(
            daily.next_due(at("2028-02-28T06:30:00Z"), IST),
            Some(at("2028-02-28T18:30:00.000Z")),
            "2028 is a leap year: the 29th comes next"
        );
        assert_eq!(
            period_of(at("2028-02-28T18:30:00Z"), IST).to_string(),
            "2028-02-29"
        );
        assert_eq!(
            period_of(
                daily.next_due(at("2027-02-28T06:30:00Z"), IST).unwrap(),
                IST
            )
            .to_string(),
            "2027-03-01"
        );
        let monthly = cadence(Frequency::Monthly, Some(28));
        // After the 28th of February (leap or not), the 28th of March.
        for after in [
            "2028-02-28T06:30:00Z",
            "2028-02-29T06:30:00Z",
            "2027-03-01T00:00:00Z",
        ] {
            let due = monthly.next_due(at(after), IST).unwrap();
            assert_eq!(
                period_of(due, IST).to_string()[5..],
                *"03-28",
                "after {after}"
            );
        }
        assert_eq!(
            monthly.next_due(at("2028-02-27T06:30:00Z"), IST),
            Some(at("2028-02-27T18:30:00.000Z"))
        );
    }

    #[test]
    fn monthly_rolls_into_the_next_month_and_year() {
        let first = cadence(Frequency::Monthly, Some(1));
        assert_eq!(
            first.next_due(at("2026-12-15T00:00:00Z"), IST),
            Some(at("2026-12-31T18:30:00.000Z"))
        );
        assert_eq!(
            period_of(at("2026-12-31T18:30:00Z"), IST).to_string(),
            "2027-01-01"
        );
        // 31 January to the 15th: 15 February.
        let fifteenth = cadence(Frequency::Monthly, Some(15));
        let due = fifteenth.next_due(at("2027-01-31T12:00:00Z"), IST).unwrap();
        assert_eq!(period_of(due, IST).to_string(), "2027-02-15");
    }

    #[test]
    fn weekly_counts_days_from_monday() {
        // Sunday 6 December 2026, noon IST.
        let sunday_noon = at("2026-12-06T06:30:00Z");
        for (day, expected) in [
            (1, "2026-12-07"),
            (3, "2026-12-09"),
            (6, "2026-12-12"),
            (7, "2026-12-13"),
        ] {
            let due = cadence(Frequency::Weekly, Some(day))
                .next_due(sunday_noon, IST)
                .unwrap();
            assert_eq!(period_of(due, IST).to_string(), expected, "day {day}");
        }
    }

    #[test]
    fn india_has_no_daylight_saving_every_due_instant_is_18_30_utc() {
        let daily = cadence(Frequency::Daily, None);
        let mut after = at("2026-01-01T00:00:00Z");
        for _ in 0..366 {
            let due = daily.next_due(after, IST).unwrap();
            assert!(due.to_string().ends_with("T18:30:00.000Z"), "{due}");
            after = due;
        }
    }

    #[test]
    fn a_midnight_skipped_by_daylight_saving_starts_the_day_after_the_gap() {
        // São Paulo moved its clocks from 00:00 to 01:00 on 4 November 2018.
        let sao_paulo = chrono_tz::America::Sao_Paulo;
        let due = cadence(Frequency::Daily, None)
            .next_due(at("2018-11-03T12:00:00Z"), sao_paulo)
            .unwrap();
        assert_eq!(due, at("2018-11-04T03:00:00.000Z"));
        assert_eq!(period_of(due, sao_paulo).to_string(), "2018-11-04");
    }

    #[test]
    fn manual_is_never_due() {
        assert_eq!(
            cadence(Frequency::Manual, None).next_due(Timestamp::now(), IST),
            None
        );
    }

    #[test]
    fn a_period_names_one_payout() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        let next = NaiveDate::from_ymd_opt(2026, 12, 8).unwrap();
        assert_eq!(
            scheduled_payout_id("s-1", day),
            scheduled_payout_id("s-1", day)
        );
        assert_ne!(
            scheduled_payout_id("s-1", day),
            scheduled_payout_id("s-1", next)
        );
        assert_ne!(
            scheduled_payout_id("s-1", day),
            scheduled_payout_id("s-2", day)
        );
    }
}
