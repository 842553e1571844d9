//! Small helpers: how an answer is counted and shown, and a seeded generator.

use std::collections::BTreeMap;

/// `201`, or `422 insufficient_earnings`: how a client tells the answers apart.
pub(super) fn answer(status: u16, code: &str) -> String {
    if code.is_empty() {
        status.to_string()
    } else {
        format!("{status} {code}")
    }
}

pub(super) fn describe_counts(counts: &BTreeMap<String, usize>) -> String {
    counts
        .iter()
        .map(|(what, count)| format!("{count} × {what}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn first_few(messages: &[String]) -> String {
    if messages.is_empty() {
        String::new()
    } else {
        format!(
            " (first: {})",
            messages
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join(" | ")
        )
    }
}

/// A seeded generator for the webhook shuffle: the same seed replays the same order,
/// and xtask needs no `rand` for it.
pub(super) struct SplitMix64(pub(super) u64);

impl SplitMix64 {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform enough in `0..bound` for a shuffle of a thousand items.
    pub(super) fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}
