//! The check that the local RazorpayX and our payouts agree: nobody paid twice, nothing
//! paid that is not ours.

use serde_json::{json, Value};

use super::server::FakeRazorpayX;

/// Panics unless the local RazorpayX agrees with our payouts: each completed one has
/// exactly one `processed` payout there, for its amount, with the UTR it shows; at
/// most one payout there is not failed (processed or still on its way) for any of
/// ours; a failed or cancelled one of ours has nothing there that paid or may pay;
/// and nothing was processed there that is not one of `payouts`.
pub fn assert_paid_once(fake: &FakeRazorpayX, payouts: &[domain::payout::Payout]) {
    use domain::payout::PayoutStatus;
    const GONE: [&str; 4] = ["failed", "rejected", "cancelled", "reversed"];
    let at_gateway = fake.payouts();
    let of = |payout_id: &str| -> Vec<&Value> {
        at_gateway
            .iter()
            .filter(|item| item["reference_id"] == payout_id)
            .collect()
    };
    for payout in payouts {
        let id = payout.payout_id.to_string();
        let items = of(&id);
        let alive: Vec<&&Value> = items
            .iter()
            .filter(|item| !GONE.iter().any(|gone| item["status"] == *gone))
            .collect();
        assert!(
            alive.len() <= 1,
            "payout {id}: {} payouts at RazorpayX paid or may pay: {alive:?}",
            alive.len()
        );
        match payout.status {
            PayoutStatus::Completed => {
                let paid: Vec<&&&Value> = alive
                    .iter()
                    .filter(|item| item["status"] == "processed")
                    .collect();
                assert_eq!(paid.len(), 1, "payout {id}: processed at RazorpayX");
                assert_eq!(
                    paid[0]["amount"],
                    json!(payout.amount_paise.get()),
                    "payout {id}: amount"
                );
                assert_eq!(
                    paid[0]["utr"].as_str(),
                    payout.payment_reference.as_deref(),
                    "payout {id}: UTR"
                );
            }
            status if status.is_in_flight() => {}
            status => assert!(
                alive.is_empty(),
                "payout {id} is {status} but RazorpayX holds {alive:?}"
            ),
        }
    }
    for item in at_gateway
        .iter()
        .filter(|item| item["status"] == "processed")
    {
        assert!(
            payouts
                .iter()
                .any(|payout| item["reference_id"] == json!(payout.payout_id.to_string())),
            "RazorpayX processed {item} for no payout of ours"
        );
    }
}
