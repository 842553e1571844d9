//! Building the configuration's parts from a few variables, for the tests of each part.

use super::{Config, GatewayConfig, LOCAL_STAGE};
use domain::error::Result;

pub(super) fn deployed(pairs: &[(&str, &str)]) -> Result<Config> {
    Config::from_lookup(|name| {
        pairs
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned())
    })
}

pub(super) fn config(pairs: &[(&str, &str)]) -> Result<Config> {
    let mut pairs = pairs.to_vec();
    pairs.push(("STAGE", LOCAL_STAGE));
    deployed(&pairs)
}

/// The gateway's part as a function that pays builds it, after the settings.
pub(super) fn deployed_gateway(pairs: &[(&str, &str)]) -> Result<GatewayConfig> {
    deployed(pairs)?.gateway_from_lookup(|name| {
        pairs
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned())
    })
}

pub(super) fn gateway(pairs: &[(&str, &str)]) -> Result<GatewayConfig> {
    let mut pairs = pairs.to_vec();
    pairs.push(("STAGE", LOCAL_STAGE));
    deployed_gateway(&pairs)
}
