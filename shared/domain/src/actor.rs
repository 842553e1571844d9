//! Who is asking, once their token is verified: a user or an admin. The use cases
//! enforce roles and ownership on it themselves, so no entry point can forget to.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    User,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Actor {
    pub user_id: u64,
    pub role: Role,
}

impl Actor {
    pub fn user(user_id: u64) -> Self {
        Actor {
            user_id,
            role: Role::User,
        }
    }

    pub fn admin(user_id: u64) -> Self {
        Actor {
            user_id,
            role: Role::Admin,
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn require_admin(&self) -> Result<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(Error::Forbidden(
                "this action needs the admin role".to_owned(),
            ))
        }
    }

    /// Owners act on their own records; admins act for anyone.
    pub fn require_owner(&self, owner_id: u64, what: &str) -> Result<()> {
        if self.is_admin() || self.user_id == owner_id {
            Ok(())
        } else {
            Err(Error::Forbidden(format!("{what} belongs to another user")))
        }
    }
}
