//! Who is asking, once their token is verified: a user or an admin, or the
//! marketplace's backend calling as itself. The use cases enforce roles and ownership
//! on it themselves, so no entry point can forget to.

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

/// The marketplace's backend, calling as itself with a token that carries the service
/// scope (docs/MARKETPLACE.md). It is nobody's user and no admin: only
/// the routes that take scouts, orders and earnings accept it, and only it may call
/// them. The marketplace routes' use cases take one, so none can run without it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceCaller {
    /// Who the identity provider says is calling (its `client_id`, else its `sub`), for
    /// the log and the records it writes.
    pub client_id: String,
}

/// Whoever a verified token speaks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    Person(Actor),
    Service(ServiceCaller),
}
