//! The dev stack's settings from the environment: a number (a port, a period), or its
//! default when the variable is unset or blank.

use anyhow::Result;

pub fn env_number<T: std::str::FromStr>(name: &str, default: T) -> Result<T> {
    match std::env::var(name) {
        Ok(text) if !text.trim().is_empty() => text
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("{name} has an unusable value `{text}`")),
        _ => Ok(default),
    }
}
