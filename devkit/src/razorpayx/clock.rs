//! Wall-clock times in the units RazorpayX shows (seconds) and the fake schedules by
//! (milliseconds).

pub(super) fn unix_now() -> i64 {
    now_ms() / 1000
}

pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}
