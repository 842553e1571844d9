//! Seeds of `cargo xtask chaos` kept as regression tests (docs/RELIABILITY.md,
//! "Findings"): each once broke the invariants, or caught a bug put back on purpose.
//! A run against the real DynamoDB Local replays the seed's world, operations and
//! faults; its timing, and so some of what the faults hit, may differ.

use devkit::chaos::{self, GatewayKind};
use devkit::testing::client;

async fn assert_seed_holds(seed: u64, gateway: GatewayKind) {
    let report = chaos::run(
        &client().await,
        &devkit::testing::vault().await,
        seed,
        gateway,
        40,
    )
    .await;
    assert!(
        report.violations.is_empty(),
        "seed {seed} ({}): {:#?}\ntrace:\n{}",
        gateway.as_str(),
        report.violations,
        report.trace.join("\n")
    );
    assert!(report.operations >= 40, "the whole history ran");
}

/// With the gateway check taken out of cancel (the double payment this check prevents), these
/// seeds cancel a payout whose lost-answer attempt had been paid: the bank's ledger
/// then holds a transfer for a cancelled payout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeds_that_catch_a_cancel_that_does_not_ask_the_gateway() {
    for seed in [106, 108, 121] {
        assert_seed_holds(seed, GatewayKind::Simulated).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_razorpayx_history_with_webhooks_and_reversals() {
    assert_seed_holds(5_003, GatewayKind::RazorpayX).await;
}
