//! The pace of calls to a gateway that limits its callers (RazorpayX asks for 5–10 calls
//! a second and answers 429 above its limit): calls leave evenly spaced at no more than
//! `GATEWAY_MAX_TPS`, and a 429 halves the pace, which then climbs back a step at a
//! time with each answered call (additive increase, multiplicative decrease), so a run
//! settles just under the limit the gateway enforces rather than at the one it was
//! told.
//!
//! One pace per client, and one client per Lambda instance: the processor runs one
//! instance at a time (reserved concurrency 1), so its pace is the stage's; the other
//! functions that call the gateway make a call or a few per request, and the daily
//! reconciliation keeps its own pace (docs/CONFIGURATION.md, `GATEWAY_MAX_TPS`).

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The slowest the pace falls to after 429s: a tenth of the most, and never below one
/// call in four seconds.
const SLOWEST_SHARE: f64 = 0.1;
const SLOWEST_TPS: f64 = 0.25;

/// How many answered calls it takes to climb back from the slowest to the most.
const CLIMB_CALLS: f64 = 20.0;

#[derive(Debug)]
pub struct Pace {
    max_tps: f64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    tps: f64,
    /// When the next call may leave.
    next: Instant,
}

impl Pace {
    /// At most `max_tps` calls a second; `None` for a rate that is not above zero and
    /// finite (the configuration refuses one).
    pub fn new(max_tps: f64) -> Option<Pace> {
        (max_tps.is_finite() && max_tps > 0.0).then(|| Pace {
            max_tps,
            state: Mutex::new(State {
                tps: max_tps,
                next: Instant::now(),
            }),
        })
    }

    /// Waits for this call's place: each call takes the next free slot, so calls made
    /// together leave one after another, never faster than the pace.
    pub async fn wait(&self) {
        let at = {
            let Ok(mut state) = self.state.lock() else {
                // A panic while the pace was held: pacing is lost, not the call.
                return;
            };
            let now = Instant::now();
            let at = state.next.max(now);
            state.next = at + Duration::from_secs_f64(1.0 / state.tps);
            at
        };
        tokio::time::sleep_until(at).await;
    }

    /// The gateway said 429: half the pace, and the next call waits a whole interval
    /// of it from now.
    pub fn slow_down(&self) {
        if let Ok(mut state) = self.state.lock() {
            let slowest = (self.max_tps * SLOWEST_SHARE).max(SLOWEST_TPS.min(self.max_tps));
            state.tps = (state.tps / 2.0).max(slowest);
            let after = Instant::now() + Duration::from_secs_f64(1.0 / state.tps);
            state.next = state.next.max(after);
        }
    }

    /// A call was answered: a step back towards the most.
    pub fn answered(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.tps = (state.tps + self.max_tps / CLIMB_CALLS).min(self.max_tps);
        }
    }

    /// The pace now, in calls a second.
    pub fn tps(&self) -> f64 {
        self.state.lock().map_or(self.max_tps, |state| state.tps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn calls_leave_evenly_spaced_at_the_pace() {
        let pace = Pace::new(10.0).expect("a pace");
        let start = Instant::now();
        for _ in 0..21 {
            pace.wait().await;
        }
        // The first leaves at once, the 21st two seconds later: 10 a second.
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_halves_the_pace_and_answers_climb_back_to_the_most() {
        let pace = Pace::new(8.0).expect("a pace");
        pace.slow_down();
        assert_eq!(pace.tps(), 4.0);
        for _ in 0..10 {
            pace.slow_down();
        }
        assert_eq!(pace.tps(), 0.8, "a tenth of the most at the slowest");
        for _ in 0..100 {
            pace.answered();
        }
        assert_eq!(pace.tps(), 8.0, "never above the most");
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_429_the_next_call_waits_an_interval_of_the_slower_pace() {
        let pace = Pace::new(10.0).expect("a pace");
        pace.wait().await;
        let start = Instant::now();
        pace.slow_down();
        pace.wait().await;
        assert_eq!(start.elapsed(), Duration::from_millis(200));
    }

    #[test]
    fn no_pace_for_a_rate_that_is_not_a_positive_number() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(Pace::new(rate).is_none(), "{rate}");
        }
    }
}
