//! What the Lambda runtime states about an invocation, read once, when it arrives.

use std::sync::Once;
use std::time::{Duration, SystemTime};

/// What `cargo lambda watch` states as every invocation's deadline, in milliseconds
/// (its runtime emulator, cargo-lambda 1.9.2, `functions_router.rs`): ten minutes,
/// where the runtime API states a moment on the wall clock.
pub const EMULATOR_DEADLINE_MS: u64 = 600_000;

/// The deadline an invocation arrived with (`Lambda-Runtime-Deadline-Ms`, which
/// `lambda_runtime`'s `Context::deadline` reads as milliseconds since the epoch), if it
/// is one to keep.
///
/// Lambda states when the invocation's timeout ends. Locally, `cargo lambda watch`
/// states [`EMULATOR_DEADLINE_MS`], 00:10 on 1 January 1970, which every invocation
/// arrives decades past: kept, it leaves no time for what stops short of a deadline
/// (recording a sent email, a draining run, the next page of the sweep), which then
/// stopped before starting. That one value alone is dropped (the emulator enforces no
/// timeout of its own, so the invocation runs without one); any other deadline is kept
/// as stated, even one already past (no time left is the safe reading of a clock that
/// jumped), so a deployed function never loses its real one.
pub fn deadline(stated: SystemTime) -> Option<SystemTime> {
    let kept = keep(stated);
    if kept.is_none() {
        static SAID: Once = Once::new();
        SAID.call_once(|| {
            tracing::info!(
                event = "deadline_ignored",
                stated_ms = EMULATOR_DEADLINE_MS,
                "the invocation's stated deadline is the local emulator's fixed one; \
                 invocations run without one"
            );
        });
    }
    kept
}

fn keep(stated: SystemTime) -> Option<SystemTime> {
    (stated != SystemTime::UNIX_EPOCH + Duration::from_millis(EMULATOR_DEADLINE_MS))
        .then_some(stated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_emulators_deadline_is_none_to_keep() {
        // As `lambda_runtime`'s `Context::deadline` reads the header.
        let stated = SystemTime::UNIX_EPOCH + Duration::from_millis(EMULATOR_DEADLINE_MS);
        assert_eq!(deadline(stated), None);
    }

    #[test]
    fn every_other_deadline_is_kept_as_stated() {
        let now = SystemTime::now();
        for stated in [
            now + Duration::from_secs(15),
            now + Duration::from_millis(1),
            now,
            // Past already (a clock that jumped): no time left, never no deadline.
            now - Duration::from_secs(1),
            SystemTime::UNIX_EPOCH + Duration::from_millis(EMULATOR_DEADLINE_MS + 1),
        ] {
            assert_eq!(deadline(stated), Some(stated));
        }
    }
}
