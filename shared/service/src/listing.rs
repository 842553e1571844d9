//! Reading payouts: a user's own, newest first with O(1) totals; and the admin's
//! list, by status or all, newest first. Both page with an opaque cursor; the admin
//! list also takes a `page` number, as the API's first version did.

use std::collections::{HashMap, HashSet};

use crate::cursor as page_cursor;
use domain::account::PayoutHold;
use domain::actor::Actor;
use domain::error::{Error, Result};
use domain::money::Paise;
use domain::payout::{Payout, PayoutStatus};
use domain::time::Timestamp;
use store::{PayoutIndex, Store};

pub const MAX_LIMIT: usize = 100;
pub const MY_PAYOUTS_DEFAULT_LIMIT: usize = 20;
pub const ADMIN_LIST_DEFAULT_LIMIT: usize = 50;

#[derive(Clone, Debug)]
pub struct MyPayouts {
    pub payouts: Vec<Payout>,
    /// Why the user's pending payouts wait, if they do.
    pub hold: Option<PayoutHold>,
    /// Every payout the user ever had, any status.
    pub total: u64,
    pub total_paid_paise: Paise,
    /// On its way: pending or processing.
    pub pending_paise: Paise,
    pub next_cursor: Option<String>,
}

#[derive(Clone, Debug)]
pub struct PayoutList {
    pub payouts: Vec<Payout>,
    /// The users in this page whose pending payouts wait, and why.
    pub holds: HashMap<u64, PayoutHold>,
    pub page: u64,
    pub limit: usize,
    pub next_cursor: Option<String>,
}

fn check_limit(limit: usize) -> Result<usize> {
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(Error::BadRequest(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )))
    }
}

/// What keeps the pending payouts in `payouts` waiting, by user: one batch read, and
/// none when nothing in the page is pending.
async fn holds_of(
    store: &Store,
    payouts: &[Payout],
    validating: bool,
) -> Result<HashMap<u64, PayoutHold>> {
    let users: HashSet<u64> = payouts
        .iter()
        .filter(|payout| payout.status == PayoutStatus::Pending)
        .map(|payout| payout.user_id)
        .collect();
    if users.is_empty() {
        return Ok(HashMap::new());
    }
    let now = Timestamp::now();
    Ok(store
        .account_gates(&users)
        .await?
        .into_iter()
        .filter_map(|(user_id, gate)| Some((user_id, gate.hold(now, validating)?)))
        .collect())
}

/// The caller's payouts, newest first, and their totals (one summary item read).
pub async fn my_payouts(
    store: &Store,
    actor: &Actor,
    validating: bool,
    limit: usize,
    cursor: Option<&str>,
) -> Result<MyPayouts> {
    let limit = check_limit(limit)?;
    let index = PayoutIndex::User(actor.user_id);
    let start = cursor
        .map(|cursor| page_cursor::decode(&index, cursor))
        .transpose()?;
    let (page, summary) = tokio::try_join!(
        store.query_payouts(&index, true, limit, start),
        store.summary(actor.user_id)
    )?;
    let holds = holds_of(store, &page.payouts, validating).await?;
    Ok(MyPayouts {
        hold: holds.get(&actor.user_id).copied(),
        payouts: page.payouts,
        total: summary.total,
        total_paid_paise: summary.total_paid_paise,
        pending_paise: summary.pending_paise,
        next_cursor: page
            .next
            .map(|next| page_cursor::encode(&index.scope(), &next))
            .transpose()?,
    })
}

/// Every payout, or those in one status, newest first. Admins only.
pub async fn list_payouts(
    store: &Store,
    actor: &Actor,
    validating: bool,
    status: Option<PayoutStatus>,
    page: Option<u64>,
    limit: usize,
    cursor: Option<&str>,
) -> Result<PayoutList> {
    actor.require_admin()?;
    let limit = check_limit(limit)?;
    let index = status.map_or(PayoutIndex::All, PayoutIndex::Status);
    let page_number = page.unwrap_or(1);
    if page_number == 0 {
        return Err(Error::BadRequest("page starts at 1".to_owned()));
    }
    let start = match (cursor, page) {
        (Some(_), Some(_)) => {
            return Err(Error::BadRequest(
                "use either page or cursor, not both".to_owned(),
            ))
        }
        (Some(cursor), None) => Some(page_cursor::decode(&index, cursor)?),
        (None, _) => {
            let skip = usize::try_from(page_number - 1)
                .ok()
                .and_then(|pages| pages.checked_mul(limit))
                .ok_or_else(|| Error::BadRequest("page is too large".to_owned()))?;
            match store.skip_payouts(&index, true, skip).await? {
                Some(start) => start,
                None => {
                    return Ok(PayoutList {
                        payouts: Vec::new(),
                        holds: HashMap::new(),
                        page: page_number,
                        limit,
                        next_cursor: None,
                    })
                }
            }
        }
    };
    let result = store.query_payouts(&index, true, limit, start).await?;
    let holds = holds_of(store, &result.payouts, validating).await?;
    Ok(PayoutList {
        holds,
        payouts: result.payouts,
        page: page_number,
        limit,
        next_cursor: result
            .next
            .map(|next| page_cursor::encode(&index.scope(), &next))
            .transpose()?,
    })
}
