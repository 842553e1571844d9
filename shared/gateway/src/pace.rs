//! The pace of calls to a gateway that limits its callers (RazorpayX asks for 5–10 calls
//! a second and answers 429 above its limit): calls leave evenly spaced at no more than
//! `GATEWAY_MAX_TPS`, and a 429 halves the pace, which then climbs back a step at a
//! time with each answered call (additive increase, multiplicative decrease), so a run
//! settles just under the limit the gateway enforces rather than at the one it was
//! told.
//!
//! One pace per client, and one client per Lambda instance, not one for the stage: the
//! processor runs one instance at a time (reserved concurrency 1), but `bulk-payouts`,
//! the admin routes and the daily reconciliation each keep their own, so when they
//! overlap the stage can call faster than `GATEWAY_MAX_TPS` and meet 429s, which slow
//! each down (nothing is sent twice for it: a 429 created nothing). A call whose slot is
//! further off than the client's timeout is not made at all, and says so as a rate
//! limit: a run near its deadline never waits past it with a payout claimed
//! (docs/CONFIGURATION.md, `GATEWAY_MAX_TPS`).

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// The slowest the pace falls to after 429s: a tenth of the most.
const SLOWEST_SHARE: f64 = 0.1;

/// Each answered call climbs back by the most divided by this: a twentieth of it.
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
    /// When the pace was last halved: the calls already given slots at the old pace
    /// answer 429 too, and one overrun halves it once.
    last_cut: Option<Instant>,
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
                last_cut: None,
            }),
        })
    }

    /// Nothing inside the lock panics; were it poisoned all the same, the pace goes on.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for this call's place: each call takes the next free slot, so calls made
    /// together leave one after another, never faster than the pace. `false`, at once
    /// and taking no slot, when the next free one is more than `longest` away: the
    /// caller then has not sent anything, and says so (a run near its deadline must not
    /// wait past it with a payout claimed).
    pub async fn wait(&self, longest: Duration) -> bool {
        let at = {
            let mut state = self.state();
            let now = Instant::now();
            let at = state.next.max(now);
            if at.duration_since(now) > longest {
                return false;
            }
            state.next = at + Duration::from_secs_f64(1.0 / state.tps);
            at
        };
        tokio::time::sleep_until(at).await;
        true
    }

    /// The gateway said 429: half the pace (once for the calls that overran together),
    /// and the next call waits a whole interval of it from now.
    pub fn slow_down(&self) {
        let mut state = self.state();
        let now = Instant::now();
        let interval = Duration::from_secs_f64(1.0 / state.tps);
        if state
            .last_cut
            .is_some_and(|cut| now.duration_since(cut) < interval)
        {
            return;
        }
        state.tps = (state.tps / 2.0).max(self.max_tps * SLOWEST_SHARE);
        state.last_cut = Some(now);
        let after = now + Duration::from_secs_f64(1.0 / state.tps);
        state.next = state.next.max(after);
    }

    /// A call was answered: a step back towards the most.
    pub fn answered(&self) {
        let mut state = self.state();
        state.tps = (state.tps + self.max_tps / CLIMB_CALLS).min(self.max_tps);
    }

    /// The pace now, in calls a second.
    pub fn tps(&self) -> f64 {
        self.state().tps
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
            assert!(pace.wait(Duration::from_secs(1)).await);
        }
        // The first leaves at once, the 21st two seconds later: 10 a second.
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_halves_the_pace_and_answers_climb_back_to_the_most() {
        let pace = Pace::new(8.0).expect("a pace");
        pace.slow_down();
        assert_eq!(pace.tps(), 4.0);
        // The calls that overran with it answer 429 within the interval: one cut.
        pace.slow_down();
        assert_eq!(pace.tps(), 4.0);
        for _ in 0..10 {
            tokio::time::advance(Duration::from_secs(2)).await;
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
        assert!(pace.wait(Duration::from_secs(1)).await);
        let start = Instant::now();
        pace.slow_down();
        assert!(pace.wait(Duration::from_secs(1)).await);
        assert_eq!(start.elapsed(), Duration::from_millis(200));
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_whose_slot_is_too_far_off_is_refused_and_takes_none() {
        let pace = Pace::new(1.0).expect("a pace");
        assert!(pace.wait(Duration::from_secs(5)).await);
        let start = Instant::now();
        // The next slot is a second away: refused when only half a second may pass.
        assert!(!pace.wait(Duration::from_millis(500)).await);
        assert_eq!(start.elapsed(), Duration::ZERO);
        // It took no slot: the next caller still gets the one a second away.
        assert!(pace.wait(Duration::from_secs(5)).await);
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }

    #[test]
    fn no_pace_for_a_rate_that_is_not_a_positive_number() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(Pace::new(rate).is_none(), "{rate}");
        }
    }
}
