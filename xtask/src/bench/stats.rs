//! Small statistics over measured durations.

use std::time::Duration;

/// The `p`-th percentile (0–100) of `samples`, nearest-rank.
pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn median(samples: &[Duration]) -> Duration {
    percentile(samples, 50.0)
}

pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

pub fn ratio(value: f64, baseline: f64) -> f64 {
    if baseline > 0.0 {
        value / baseline
    } else {
        f64::NAN
    }
}

/// A section's heading and the line naming the command that made its figures, and when.
pub fn section_head(heading: &str, command: &str) -> String {
    format!(
        "{heading}\n\nFigures of this section: `{command}`, {}.\n\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    )
}
