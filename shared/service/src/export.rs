//! Finance's export: every payout created in a range of time, as CSV pages read from the
//! creation index (all payouts, or one status's), oldest first. No Scan: a page is a few
//! index queries, whatever the table holds.

use domain::actor::Actor;
use domain::error::{Error, Result};
use domain::payout::{Payout, PayoutStatus, Reason};
use domain::time::Timestamp;
use store::{keys, PageKey, PayoutIndex, Store};

use crate::csv_page::{self, optional, CsvPage};
use crate::cursor;
use crate::reconciliation::Day;

/// The columns, in order. Stable: a column is only ever added at the end.
pub const PAYOUT_COLUMNS: [&str; 18] = [
    "payout_id",
    "user_id",
    "payout_type",
    "status",
    "amount_paise",
    "scout_id",
    "order_id",
    "attempt",
    "utr",
    "gateway_payout_id",
    "gateway_status",
    "failure_reason",
    "created_at",
    "first_sent_at",
    "processed_at",
    "completed_at",
    "cancelled_at",
    "updated_at",
];

/// Payouts created from `from` (inclusive) to `to` (exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreatedRange {
    pub from: Timestamp,
    pub to: Timestamp,
}

impl CreatedRange {
    /// `from` and `to` as the caller wrote them: each an RFC 3339 time or a date
    /// (`YYYY-MM-DD`) in the operator's time zone. A date as `from` starts at that day's
    /// first moment; as `to` it includes the whole day, so `from=2026-11-01&to=2026-11-30`
    /// is November. `to` left out is `now`.
    pub fn parse(
        from: &str,
        to: Option<&str>,
        now: Timestamp,
        tz: chrono_tz::Tz,
    ) -> Result<CreatedRange> {
        let moment = |name: &str, text: &str, end_of_day: bool| {
            if let Some(day) = Day::parse(text, tz) {
                let (start, end) = day.window();
                return Ok(if end_of_day { end } else { start });
            }
            Timestamp::parse(text).ok_or_else(|| {
                Error::BadRequest(format!(
                    "{name} must be a date (YYYY-MM-DD) or an RFC 3339 time, got `{text}`"
                ))
            })
        };
        let range = CreatedRange {
            from: moment("from", from, false)?,
            to: match to {
                Some(to) => moment("to", to, true)?,
                None => now,
            },
        };
        if range.from >= range.to {
            return Err(Error::BadRequest(
                "from must be before to: the range is empty".to_owned(),
            ));
        }
        Ok(range)
    }

    fn holds(&self, key: &PageKey) -> bool {
        key.get(keys::CREATED_SK).is_some_and(|created| {
            created.as_str() >= self.from.to_string().as_str()
                && created.as_str() < self.to.to_string().as_str()
        })
    }
}

/// A page of the payouts created in `range` (in `status`, if given), oldest first, at
/// most `max_rows` long. Admins only.
pub async fn payouts_csv(
    store: &Store,
    actor: &Actor,
    range: CreatedRange,
    status: Option<PayoutStatus>,
    max_rows: usize,
    cursor: Option<&str>,
) -> Result<CsvPage> {
    actor.require_admin()?;
    let index = status.map_or(PayoutIndex::All, PayoutIndex::Status);
    let partition = index.scope();
    // A cursor continues only the export it came from: same partition, same range.
    let listing = format!("{partition}|{}|{}", range.from, range.to);
    let start = cursor
        .map(|cursor| {
            cursor::decode_checked(&listing, cursor, |key| {
                cursor::is_payout_page_end(key, &index) && range.holds(key)
            })
        })
        .transpose()?;
    let index = &index;
    csv_page::page_of(
        &PAYOUT_COLUMNS,
        max_rows,
        start,
        |wanted, start| async move {
            let page = store
                .query_payouts_created(index, (range.from, range.to), wanted, start)
                .await?;
            Ok((page.payouts, page.next))
        },
        payout_row,
        &listing,
    )
    .await
}

fn payout_row(payout: &Payout) -> [String; PAYOUT_COLUMNS.len()] {
    [
        payout.payout_id.to_string(),
        payout.user_id.to_string(),
        payout.payout_type.as_str().to_owned(),
        payout.status.as_str().to_owned(),
        payout.amount_paise.get().to_string(),
        optional(payout.scout_id.as_deref()),
        optional(payout.order_id.as_deref()),
        payout.attempt.to_string(),
        optional(payout.payment_reference.as_deref()),
        optional(payout.gateway_payout_id.as_deref()),
        optional(payout.gateway_status.as_deref()),
        optional(payout.failure().map(Reason::shown)),
        payout.created_at.to_string(),
        optional(payout.first_sent_at),
        optional(payout.processed_at),
        optional(payout.completed_at),
        optional(payout.cancelled_at),
        payout.updated_at.to_string(),
    ]
}
