//! The budget behind the fake's request rate (`Faults::rate_limit_tps`): a token bucket
//! kept in memory only (never saved, never drawn from the seeded generator, so a seeded
//! run replays as before), with what it admitted and refused. Apart from the middleware
//! that spends it (`rate`), so the fake's state can hold it without reaching the routes.

use std::time::Instant;

/// A token bucket of `max(1, rate)` calls refilled continuously at `rate` a second, and
/// the calls it admitted and refused since it was last reset (at start, and whenever the
/// faults are set).
#[derive(Debug)]
pub(super) struct RateBudget {
    tokens: f64,
    last: Instant,
    pub(super) admitted: u64,
    pub(super) refused: u64,
}

impl RateBudget {
    /// Full (whatever the rate), with nothing counted.
    pub(super) fn new() -> Self {
        RateBudget {
            // Capped at the bucket's capacity on the first call.
            tokens: f64::INFINITY,
            last: Instant::now(),
            admitted: 0,
            refused: 0,
        }
    }

    pub(super) fn reset(&mut self) {
        *self = RateBudget::new();
    }

    /// Takes a token for a call made at `now` under `rate` calls a second (`None`: no
    /// limit, every call admitted). A refused call takes nothing. A rate that is not
    /// above 0 and finite, which the control API refuses and only
    /// `FakeRazorpayX::set_faults` can set, counts as no limit.
    pub(super) fn take(&mut self, rate: Option<f64>, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        let Some(rate) = rate.filter(|rate| rate.is_finite() && *rate > 0.0) else {
            self.admitted += 1;
            return true;
        };
        self.tokens = (self.tokens + elapsed * rate).min(rate.max(1.0));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.admitted += 1;
            true
        } else {
            self.refused += 1;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_full_bucket_admits_its_capacity_then_refills_at_the_rate() {
        let start = Instant::now();
        let mut budget = RateBudget::new();
        let admitted = (0..30).filter(|_| budget.take(Some(10.0), start)).count();
        assert_eq!(admitted, 10);
        assert_eq!((budget.admitted, budget.refused), (10, 20));
        // Half a second later: five more, and the refused ones took nothing.
        let later = start + Duration::from_millis(500);
        let admitted = (0..30).filter(|_| budget.take(Some(10.0), later)).count();
        assert_eq!(admitted, 5);
        // Long idle: full again, never above capacity.
        let idle = later + Duration::from_secs(60);
        let admitted = (0..30).filter(|_| budget.take(Some(10.0), idle)).count();
        assert_eq!(admitted, 10);
    }

    #[test]
    fn below_one_a_second_the_bucket_still_holds_one_call() {
        let start = Instant::now();
        let mut budget = RateBudget::new();
        assert!(budget.take(Some(0.5), start));
        assert!(!budget.take(Some(0.5), start + Duration::from_secs(1)));
        assert!(budget.take(Some(0.5), start + Duration::from_secs(2)));
    }

    #[test]
    fn no_limit_admits_everything_and_counts_it() {
        let now = Instant::now();
        let mut budget = RateBudget::new();
        for rate in [None, Some(0.0), Some(-1.0), Some(f64::NAN)] {
            assert!((0..100).all(|_| budget.take(rate, now)));
        }
        assert_eq!((budget.admitted, budget.refused), (400, 0));
    }
}
