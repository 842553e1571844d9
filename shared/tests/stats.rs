//! `GET /payouts/stats` (issue 12) against DynamoDB Local: the counters it reads are
//! checked against the payouts themselves (every money test does that too, through
//! `assert_books_balance`), and its windows against the transitions that happened.

use devkit::api::{Api, Reply};
use devkit::fixture::Fixture;
use devkit::invariants::{all_payouts, assert_books_balance};
use devkit::testing::{fresh_store, gateway, processor_config};
use devkit::token::mint;
use serde_json::{json, Value};
use shared::auth::{Actor, Role};
use shared::config::DEV_JWT_SECRET;
use shared::payout::{Payout, PayoutStatus, PayoutType, Transition};
use shared::store::{Lease, StatusChange, Store};

const ADMIN: u64 = 1;

fn admin() -> String {
    mint(DEV_JWT_SECRET, ADMIN, Role::Admin, 600).unwrap()
}

fn user(id: u64) -> String {
    mint(DEV_JWT_SECRET, id, Role::User, 600).unwrap()
}

async fn stats(api: &Api) -> Reply {
    api.get("/payouts/stats", "", &admin()).await
}

/// Scout payouts and seller payouts in every status.
async fn busy_world() -> (Api, Store) {
    let store = fresh_store().await;
    let limits = devkit::testing::local_config(&[]).unwrap().limits;
    let fixture: Fixture = serde_json::from_value(json!({
        "scouts": [
            {"scout_id": "s-1", "user_id": 7, "earnings_paise": 500000},
            {"scout_id": "s-2", "user_id": 11, "earnings_paise": 120000}
        ],
        "orders": [
            {"order_id": "o-1", "buyer_id": 9, "seller_id": 8, "item_price_paise": 120000,
             "status": "delivered", "scout_id": "s-1", "scout_bounty_paise": 6000},
            {"order_id": "o-2", "buyer_id": 9, "seller_id": 10, "item_price_paise": 45000,
             "status": "delivered"}
        ],
        "payout_requests": [
            {"scout_id": "s-1", "amount_paise": 10000, "idempotency_key": "a"},
            {"scout_id": "s-1", "amount_paise": 20000, "idempotency_key": "b"},
            {"scout_id": "s-1", "amount_paise": 30000, "idempotency_key": "c"},
            {"scout_id": "s-1", "amount_paise": 40000, "idempotency_key": "d"},
            {"scout_id": "s-2", "amount_paise": 5000, "idempotency_key": "e"}
        ],
        "complete_orders": ["o-1", "o-2"]
    }))
    .unwrap();
    fixture.load(&store, limits).await.unwrap();
    let admin = Actor::admin(ADMIN);
    let mut scout_payouts: Vec<Payout> = all_payouts(&store)
        .await
        .into_iter()
        .filter(|p| p.payout_type == PayoutType::ScoutBounty)
        .collect();
    scout_payouts.sort_by_key(|p| p.amount_paise);
    let config = processor_config(10);
    let paying = gateway(&store, 1.0);
    let declining = gateway(&store, 0.0);
    // 10000: completed, then returned by the bank; 20000: completed; 30000: failed;
    // 40000: cancelled; 5000: stays pending. The sellers' payouts stay pending.
    for (amount, declined) in [(10_000, false), (20_000, false), (30_000, true)] {
        let payout = scout_payouts
            .iter()
            .find(|p| p.amount_paise.get() == amount)
            .unwrap();
        let done = if declined {
            shared::admin::process_payout(&store, &declining, config, &admin, payout.payout_id)
        } else {
            shared::admin::process_payout(&store, &paying, config, &admin, payout.payout_id)
        }
        .await
        .unwrap();
        assert_eq!(done.status.is_paid(), !declined);
    }
    let to_cancel = scout_payouts
        .iter()
        .find(|p| p.amount_paise.get() == 40_000)
        .unwrap();
    shared::admin::cancel_payout(&store, &paying, config, &admin, to_cancel.payout_id)
        .await
        .unwrap();
    let completed = store
        .existing_payout(
            scout_payouts
                .iter()
                .find(|p| p.amount_paise.get() == 10_000)
                .unwrap()
                .payout_id,
        )
        .await
        .unwrap();
    let mut reversed = completed.clone();
    reversed.failure_reason = Some("beneficiary_bank_rejected".to_owned());
    store
        .change_status(
            &completed,
            StatusChange {
                transition: Transition::Reverse,
                next: reversed,
                lease: Lease::Break,
                gateway_status_not_in: None,
            },
        )
        .await
        .unwrap();
    (Api::new(store.clone()), store)
}

fn tally(body: &Value, path: &[&str]) -> (u64, u64) {
    let mut value = body;
    for part in path {
        value = &value[part];
    }
    (
        value["count"].as_u64().unwrap(),
        value["amount_paise"].as_u64().unwrap(),
    )
}

#[tokio::test]
async fn stats_count_every_status_and_type_as_the_payouts_are() {
    let (api, store) = busy_world().await;
    let reply = stats(&api).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let body = &reply.body;

    let payouts = all_payouts(&store).await;
    for status in PayoutStatus::ALL {
        let own: Vec<&Payout> = payouts.iter().filter(|p| p.status == status).collect();
        let amount: u64 = own.iter().map(|p| p.amount_paise.get()).sum();
        assert_eq!(
            tally(body, &["by_status", status.as_str()]),
            (own.len() as u64, amount),
            "{status}"
        );
    }
    // What the world above made, spelled out.
    assert_eq!(
        tally(body, &["by_status", "pending"]),
        (3, 5_000 + 120_000 + 45_000)
    );
    assert_eq!(tally(body, &["by_status", "completed"]), (1, 20_000));
    assert_eq!(tally(body, &["by_status", "failed"]), (1, 30_000));
    assert_eq!(tally(body, &["by_status", "cancelled"]), (1, 40_000));
    assert_eq!(tally(body, &["by_status", "reversed"]), (1, 10_000));
    assert_eq!(tally(body, &["by_status", "processing"]), (0, 0));
    assert_eq!(tally(body, &["by_type", "scout_bounty"]), (5, 105_000));
    assert_eq!(tally(body, &["by_type", "seller_payout"]), (2, 165_000));
    assert_eq!(tally(body, &["total"]), (7, 270_000));
    // Completed twice (one since returned), failed once: today, this hour.
    for window in ["last_24h", "last_7d"] {
        assert_eq!(tally(body, &[window, "completed"]), (2, 30_000), "{window}");
        assert_eq!(tally(body, &[window, "failed"]), (1, 30_000), "{window}");
    }
    let oldest = payouts
        .iter()
        .filter(|p| p.status == PayoutStatus::Pending)
        .min_by_key(|p| (p.created_at, p.payout_id))
        .unwrap();
    assert_eq!(
        body["oldest_pending"]["payout_id"],
        oldest.payout_id.to_string()
    );
    assert!(body["oldest_pending"]["age_seconds"].as_u64().is_some());
    assert!(shared::time::Timestamp::parse(body["as_of"].as_str().unwrap()).is_some());
    assert_books_balance(&store, &["s-1", "s-2"], &[8, 10]).await;
}

#[tokio::test]
async fn an_empty_table_has_zeroes_and_no_oldest_pending() {
    let store = fresh_store().await;
    let api = Api::new(store);
    let reply = stats(&api).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    for status in PayoutStatus::ALL {
        assert_eq!(tally(&reply.body, &["by_status", status.as_str()]), (0, 0));
    }
    assert_eq!(tally(&reply.body, &["total"]), (0, 0));
    assert_eq!(reply.body["oldest_pending"], Value::Null);
}

#[tokio::test]
async fn only_admins_read_the_stats() {
    let store = fresh_store().await;
    let api = Api::new(store);
    let as_user = api.get("/payouts/stats", "", &user(7)).await;
    assert_eq!((as_user.status, as_user.code()), (403, "forbidden"));
    let anonymous = api
        .call(devkit::api::Call {
            method: "GET",
            path: "/payouts/stats",
            ..devkit::api::Call::default()
        })
        .await;
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn a_recount_makes_wrong_or_missing_counters_right_again() {
    let (api, store) = busy_world().await;
    let before = stats(&api).await.body;
    // As on a table from before the counters: none, or wrong ones.
    let wrong = std::collections::HashMap::from([
        ("pending_count".to_owned(), 40_i128),
        ("completed_paise".to_owned(), -7),
    ]);
    store.replace_counter_totals(&wrong).await.unwrap();
    assert_ne!(stats(&api).await.body["by_status"], before["by_status"]);

    let counted = shared::stats::recount(&store).await.unwrap();
    assert_eq!((counted.count, counted.amount_paise.get()), (7, 270_000));
    let after = stats(&api).await.body;
    for part in ["by_status", "by_type", "total"] {
        assert_eq!(after[part], before[part], "{part}");
    }
    // And the payouts go on being counted from there.
    assert_books_balance(&store, &["s-1", "s-2"], &[8, 10]).await;
}
