//! `PUT /scouts/{scout_id}`: the marketplace creates a scout or changes its profile.
//! A new scout holds nothing; its balances move only by bounties of completed orders,
//! earnings entries and payouts, never by this write.

use serde_json::{Map, Value};
use tracing::info;

use super::{by, invalid, user_id, Upserted, RACE_RETRIES};
use domain::actor::ServiceCaller;
use domain::error::{Conflict, Error, Result};
use domain::money::Paise;
use domain::scout::Scout;
use domain::time::Timestamp;
use store::{ScoutProfileUpdate, Store};

/// The fields of the body.
pub const FIELDS: [&str; 3] = ["user_id", "display_name", "active"];

/// Longest display name kept, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 100;

/// What the marketplace says a scout is. A `PUT` says all of it: a display name left
/// out is removed, and whether it is active is always said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScoutProfile {
    /// Who is paid the scout's earnings; fixed once the scout exists.
    pub user_id: u64,
    pub display_name: Option<String>,
    pub active: bool,
    /// When the marketplace said it (an event's `time`; `None` for a request): a
    /// profile older than the latest one applied is superseded.
    pub as_of: Option<Timestamp>,
}

impl ScoutProfile {
    pub fn parse(body: &Map<String, Value>) -> Result<Self> {
        domain::body::only_fields(body, &FIELDS)?;
        let user_id = user_id(body, "user_id")?;
        let display_name = match body.get("display_name") {
            None | Some(Value::Null) => None,
            Some(Value::String(name))
                if !name.trim().is_empty()
                    && name.chars().count() <= MAX_DISPLAY_NAME_CHARS
                    && !name.chars().any(char::is_control) =>
            {
                Some(name.clone())
            }
            Some(_) => {
                return Err(invalid(
                    "display_name",
                    format!(
                        "display_name must be text of 1 to {MAX_DISPLAY_NAME_CHARS} characters \
                         without control characters"
                    ),
                ))
            }
        };
        // Required: a PUT that only meant to rename a scout must not reactivate it.
        let active = match body.get("active") {
            Some(Value::Bool(active)) => *active,
            _ => return Err(invalid("active", "active is required: true or false")),
        };
        Ok(ScoutProfile {
            user_id,
            display_name,
            active,
            as_of: None,
        })
    }

    pub(crate) fn is_what(&self, scout: &Scout) -> bool {
        scout.display_name == self.display_name && scout.active == self.active
    }
}

/// Creates the scout, or sets its profile. Its owner cannot change (`409 owner_fixed`):
/// a scout's earnings go to its owner, and moving them to another user is not a
/// profile change.
pub async fn put_scout(
    store: &Store,
    caller: &ServiceCaller,
    scout_id: &str,
    profile: ScoutProfile,
) -> Result<(Scout, Upserted)> {
    for _ in 0..RACE_RETRIES {
        let Some(stored) = store.scout(scout_id).await? else {
            let scout = Scout {
                display_name: profile.display_name.clone(),
                active: profile.active,
                reported_at: profile.as_of,
                ..Scout::with_earnings(scout_id, profile.user_id, Paise::ZERO)
            };
            if store.insert_scout(&scout).await? {
                info!(
                    event = "scout_created",
                    scout_id,
                    user_id = scout.user_id,
                    active = scout.active,
                    client_id = by(caller),
                    "scout created by the marketplace"
                );
                return Ok((scout, Upserted::Created));
            }
            // Created by a request beside this one: compare with what it wrote.
            continue;
        };
        if stored.user_id != profile.user_id {
            return Err(Error::ScoutOwnerFixed {
                scout_id: scout_id.to_owned(),
                owner: stored.user_id,
            });
        }
        if matches!((profile.as_of, stored.reported_at), (Some(as_of), Some(seen)) if as_of < seen)
        {
            return Ok((stored, Upserted::Superseded));
        }
        let advances = match (profile.as_of, stored.reported_at) {
            (Some(as_of), Some(seen)) => as_of > seen,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let same = profile.is_what(&stored);
        // The same profile of a later time is written all the same: an older one
        // arriving after it must still be known to be older.
        if same && !advances {
            return Ok((stored, Upserted::Unchanged));
        }
        if store
            .update_scout_profile(ScoutProfileUpdate {
                scout_id,
                owner: profile.user_id,
                display_name: profile.display_name.as_deref(),
                active: profile.active,
                as_of: profile.as_of,
            })
            .await?
        {
            info!(
                event = "scout_updated",
                scout_id,
                user_id = stored.user_id,
                active = profile.active,
                was_active = stored.active,
                client_id = by(caller),
                "scout updated by the marketplace"
            );
            let scout = Scout {
                display_name: profile.display_name,
                active: profile.active,
                reported_at: profile.as_of.or(stored.reported_at),
                ..stored
            };
            let how = if same {
                Upserted::Unchanged
            } else {
                Upserted::Updated
            };
            return Ok((scout, how));
        }
    }
    Err(Error::Conflict(Conflict::Contended(format!(
        "scout {scout_id} is changing too fast; try again"
    ))))
}
