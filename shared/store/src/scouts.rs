//! Scouts: read one, add one whose balances add up.

use domain::error::{Error, Result};
use domain::scout::Scout;

use crate::{keys, Store};

impl Store {
    pub async fn scout(&self, scout_id: &str) -> Result<Option<Scout>> {
        self.get(&keys::scout_pk(scout_id), keys::SCOUT_SK).await
    }

    /// Adds a scout unless one with this id exists; `false` when it did.
    pub async fn insert_scout(&self, scout: &Scout) -> Result<bool> {
        if !scout.balances_add_up() {
            return Err(Error::BadRequest(format!(
                "scout {} balances do not add up to credited_paise",
                scout.scout_id
            )));
        }
        self.insert(&keys::scout_pk(&scout.scout_id), keys::SCOUT_SK, scout)
            .await
    }
}
