//! Timestamps: UTC, millisecond precision, RFC 3339 with a fixed width so that the
//! string form sorts the same way as the instant (it is used in index sort keys).

use std::fmt;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    pub fn now() -> Self {
        Self::from_millis(Utc::now().timestamp_millis())
    }

    pub fn from_millis(millis: i64) -> Self {
        Timestamp(DateTime::from_timestamp_millis(millis).unwrap_or(DateTime::UNIX_EPOCH))
    }

    pub fn unix_millis(self) -> i64 {
        self.0.timestamp_millis()
    }

    /// Saturates at the end of representable time instead of panicking; configuration
    /// bounds keep real values far from it.
    pub fn plus_secs(self, secs: u64) -> Self {
        Timestamp(
            Self::duration(secs)
                .and_then(|duration| self.0.checked_add_signed(duration))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        )
    }

    pub fn minus_secs(self, secs: u64) -> Self {
        Timestamp(
            Self::duration(secs)
                .and_then(|duration| self.0.checked_sub_signed(duration))
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
        )
    }

    fn duration(secs: u64) -> Option<Duration> {
        i64::try_from(secs).ok().and_then(Duration::try_seconds)
    }

    pub fn as_utc(self) -> DateTime<Utc> {
        self.0
    }

    /// Millisecond precision, like every stored timestamp.
    pub fn from_utc(time: DateTime<Utc>) -> Self {
        Self::from_millis(time.timestamp_millis())
    }

    pub fn parse(text: &str) -> Option<Self> {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| Self::from_millis(t.with_timezone(&Utc).timestamp_millis()))
    }
}

/// A Lambda invocation's deadline (wall clock) on the monotonic clock, which the wall
/// clock stepping cannot move.
pub fn deadline_instant(deadline: std::time::SystemTime) -> std::time::Instant {
    let left = deadline
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    std::time::Instant::now() + left
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 timestamp: {text}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_is_fixed_width_and_sorts_like_time() {
        let a = Timestamp::from_millis(1_767_607_200_000);
        let b = Timestamp::from_millis(1_767_607_200_007);
        assert_eq!(a.to_string(), "2026-01-05T10:00:00.000Z");
        assert!(a.to_string() < b.to_string());
        assert_eq!(Timestamp::parse(&b.to_string()), Some(b));
    }

    #[test]
    fn arithmetic_saturates_instead_of_panicking() {
        let now = Timestamp::now();
        assert!(now.plus_secs(u64::MAX) > now);
        assert!(now.minus_secs(u64::MAX) < now);
        assert_eq!(now.plus_secs(60).minus_secs(60), now);
    }
}
