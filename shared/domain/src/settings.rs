//! Reading a setting's text into a value: trimmed, defaulted when unset, and refused
//! with an error naming the variable when it does not parse or is out of range. Every
//! part of the configuration reads its variables through these, from whatever lookup
//! it is given (the process's environment, or a test's table).

use crate::error::{Error, Result};

/// `lookup` with values trimmed and blank ones absent: how every part of the
/// configuration reads the environment, so no two parts can read one variable apart.
pub fn trimmed(lookup: impl Fn(&str) -> Option<String>) -> impl Fn(&str) -> Option<String> {
    move |name: &str| {
        lookup(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    }
}

/// `value`, or an error naming `name` when it lies outside `min..=max`.
pub fn within<T: PartialOrd + std::fmt::Display>(
    value: T,
    name: &str,
    min: T,
    max: T,
) -> Result<T> {
    if value < min || value > max {
        return Err(Error::Config(format!(
            "{name} must be within {min}..={max}, got {value}"
        )));
    }
    Ok(value)
}

/// The variable `name` parsed, or `default` when it is unset.
pub fn parse<T: std::str::FromStr>(
    var: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: T,
) -> Result<T> {
    match var(name) {
        Some(text) => parse_value(name, &text),
        None => Ok(default),
    }
}

/// `text` (the value of `name`) parsed, or an error naming the variable and the value.
pub fn parse_value<T: std::str::FromStr>(name: &str, text: &str) -> Result<T> {
    text.trim()
        .parse()
        .map_err(|_| Error::Config(format!("{name} has an unusable value `{text}`")))
}
