//! What the Lambda runtime states about an invocation, read once, when it arrives.

use std::sync::Once;
use std::time::SystemTime;

/// What `cargo lambda watch` states as every invocation's deadline, in milliseconds
/// (its runtime emulator, cargo-lambda 1.9.2, `functions_router.rs`): ten minutes,
/// where the runtime API states a moment on the wall clock.
pub const EMULATOR_DEADLINE_MS: u64 = 600_000;

/// The deadline an invocation arrived with (`Lambda-Runtime-Deadline-Ms`, which
/// `lambda_runtime`'s `Context::deadline` reads as milliseconds since the epoch), if it
/// is one to keep.
///
/// Lambda states when the invocation's timeout ends, after its arrival. Locally, `cargo
/// lambda watch` states [`EMULATOR_DEADLINE_MS`], 00:10 on 1 January 1970, which every
/// invocation arrives decades past: kept, it leaves no time for what stops short of a deadline (recording a sent
/// email, a draining run, the next page of the sweep), which then stopped before
/// starting. A deadline already past on arrival is none Lambda gives; the emulator
/// enforces no timeout of its own, so the invocation runs without one.
pub fn deadline(stated: SystemTime) -> Option<SystemTime> {
    let kept = deadline_at(stated, SystemTime::now());
    if kept.is_none() {
        static SAID: Once = Once::new();
        SAID.call_once(|| {
            tracing::info!(
                event = "deadline_ignored",
                stated_ms = stated
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |since| since.as_millis()),
                "the invocation's stated deadline had passed when it arrived (the local \
                 emulator's); invocations run without one"
            );
        });
    }
    kept
}

/// [`deadline`], for an invocation that arrived at `arrived`.
pub fn deadline_at(stated: SystemTime, arrived: SystemTime) -> Option<SystemTime> {
    (stated > arrived).then_some(stated)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_local_emulators_deadline_is_none_to_keep() {
        // As `lambda_runtime`'s `Context::deadline` reads the header.
        let stated = SystemTime::UNIX_EPOCH + Duration::from_millis(EMULATOR_DEADLINE_MS);
        assert_eq!(deadline_at(stated, SystemTime::now()), None);
        assert_eq!(deadline(stated), None);
    }

    #[test]
    fn a_deadline_ahead_of_the_arrival_is_kept_as_stated() {
        let arrived = SystemTime::now();
        let fifteen_seconds = arrived + Duration::from_secs(15);
        assert_eq!(deadline_at(fifteen_seconds, arrived), Some(fifteen_seconds));
        let one_ms = arrived + Duration::from_millis(1);
        assert_eq!(deadline_at(one_ms, arrived), Some(one_ms));
    }

    #[test]
    fn a_deadline_at_or_before_the_arrival_is_none_to_keep() {
        let arrived = SystemTime::now();
        assert_eq!(deadline_at(arrived, arrived), None);
        assert_eq!(deadline_at(arrived - Duration::from_secs(1), arrived), None);
    }
}
