//! The parts of the two event-driven functions: where `publish-events` sends payout
//! events, and who `notify`'s emails come from.

use super::LOCAL_STAGE;
use domain::error::{Error, Result};
use domain::settings::trimmed;

/// What `publish-events` reads: the stage and the bus, nothing of
/// [`Config`](super::Config)'s (the lease, the gateway, the limits are not its business).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventsConfig {
    pub stage: String,
    /// `EVENT_BUS_NAME` (default `payouts`): the custom bus payout events go to.
    pub bus_name: String,
}

impl EventsConfig {
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let var = trimmed(lookup);
        Ok(EventsConfig {
            stage: var("STAGE").unwrap_or_else(|| "unnamed".to_owned()),
            bus_name: var("EVENT_BUS_NAME").unwrap_or_else(|| "payouts".to_owned()),
        })
    }
}

/// The sender local runs use; the dev stack verifies it with the local SES.
pub const DEV_NOTIFY_FROM_ADDRESS: &str = "payouts@example.com";

/// What `notify` reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifyConfig {
    pub stage: String,
    /// `PAYOUTS_TABLE`: where payout accounts (the user's email) and the record of
    /// emails sent live.
    pub table_name: String,
    /// `NOTIFY_FROM_ADDRESS`: the SES-verified sender. Required outside `STAGE=local`,
    /// where it defaults to [`DEV_NOTIFY_FROM_ADDRESS`].
    pub from_address: String,
    /// `SES_CONFIGURATION_SET` (optional): bounces, complaints and delivery metrics.
    pub configuration_set: Option<String>,
}

impl NotifyConfig {
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let var = trimmed(lookup);
        let stage = var("STAGE");
        let local = stage.as_deref() == Some(LOCAL_STAGE);
        let from_address = match var("NOTIFY_FROM_ADDRESS") {
            Some(address) => address,
            None if local => DEV_NOTIFY_FROM_ADDRESS.to_owned(),
            None => {
                return Err(Error::Config(
                    "NOTIFY_FROM_ADDRESS is not set: emails need a sender verified in SES"
                        .to_owned(),
                ))
            }
        };
        let plausible = from_address
            .split_once('@')
            .is_some_and(|(local_part, domain)| !local_part.is_empty() && domain.contains('.'));
        if !plausible {
            return Err(Error::Config(format!(
                "NOTIFY_FROM_ADDRESS `{from_address}` is not an email address"
            )));
        }
        Ok(NotifyConfig {
            stage: stage.unwrap_or_else(|| "unnamed".to_owned()),
            table_name: var("PAYOUTS_TABLE").unwrap_or_else(|| "payouts".to_owned()),
            from_address,
            configuration_set: var("SES_CONFIGURATION_SET"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_needs_a_sender_outside_local_runs() {
        let lookup = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| (*value).to_owned())
            }
        };
        let missing = NotifyConfig::from_lookup(lookup(&[("STAGE", "prod")]));
        assert!(
            matches!(&missing, Err(Error::Config(message)) if message.contains("NOTIFY_FROM_ADDRESS")),
            "{missing:?}"
        );
        let not_an_address = NotifyConfig::from_lookup(lookup(&[
            ("STAGE", "prod"),
            ("NOTIFY_FROM_ADDRESS", "payouts"),
        ]));
        assert!(not_an_address.is_err(), "{not_an_address:?}");
        let local = NotifyConfig::from_lookup(lookup(&[("STAGE", LOCAL_STAGE)])).unwrap();
        assert_eq!(local.from_address, DEV_NOTIFY_FROM_ADDRESS);
        assert_eq!(local.configuration_set, None);
        let deployed = NotifyConfig::from_lookup(lookup(&[
            ("STAGE", "prod"),
            ("NOTIFY_FROM_ADDRESS", " payouts@shop.in "),
            ("SES_CONFIGURATION_SET", "payouts-prod"),
            ("PAYOUTS_TABLE", "payouts-prod"),
        ]))
        .unwrap();
        assert_eq!(deployed.from_address, "payouts@shop.in");
        assert_eq!(deployed.configuration_set.as_deref(), Some("payouts-prod"));
        assert_eq!(deployed.table_name, "payouts-prod");
        assert_eq!(
            EventsConfig::from_lookup(lookup(&[])).unwrap().bus_name,
            "payouts"
        );
    }
}
