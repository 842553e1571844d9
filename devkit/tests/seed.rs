//! `cargo xtask seed`: the demo fixture loads through the real operations, and
//! loading it again changes nothing.

use devkit::fixture::{Fixture, SeedReport};
use devkit::invariants::{assert_books_balance, user_payouts};
use devkit::paths;
use devkit::testing::{fresh_store, Snapshot};
use domain::money::Paise;
use domain::payout::PayoutStatus;
use service::config::PayoutLimits;
use service::order::OrderStatus;

const LIMITS: PayoutLimits = PayoutLimits {
    min: Paise(100),
    max: Paise(10_000_000),
};

#[tokio::test]
async fn the_demo_fixture_loads_once_and_reloading_changes_nothing() {
    let store = fresh_store().await;
    let fixture = Fixture::read(&paths::workspace_root().join("fixtures/demo.json")).unwrap();

    let first = fixture
        .load(&store, &devkit::testing::vault().await, LIMITS)
        .await
        .unwrap();
    assert_eq!(
        first,
        SeedReport {
            scouts_added: 3,
            orders_added: 4,
            payouts_created: 2,
            orders_completed: 1,
            payout_accounts_added: 7,
        }
    );
    let scout = store.scout("s-1").await.unwrap().unwrap();
    assert_eq!(
        (scout.earnings_paise, scout.reserved_paise),
        (Paise(40_000), Paise(10_000))
    );
    let everything = store.scout("s-2").await.unwrap().unwrap();
    assert_eq!(everything.earnings_paise, Paise::ZERO);
    assert_eq!(
        store.order("o-2").await.unwrap().unwrap().status,
        OrderStatus::Completed
    );
    for user in [7, 11, 10] {
        let payouts = user_payouts(&store, user).await;
        assert_eq!(payouts.len(), 1, "user {user}");
        assert!(payouts.iter().all(|p| p.status == PayoutStatus::Pending));
    }
    let snapshot = || {
        Snapshot::take(
            &store,
            &["s-1", "s-2", "s-3"],
            &["o-1", "o-2", "o-3", "o-4"],
            &[7, 8, 10, 11, 12],
        )
    };
    let before = snapshot().await;

    let second = fixture
        .load(&store, &devkit::testing::vault().await, LIMITS)
        .await
        .unwrap();
    assert_eq!(second, SeedReport::default());
    assert_eq!(snapshot().await, before);
    let account = store.payout_account(7).await.unwrap().unwrap();
    assert_eq!(account.revision, 1, "a loaded account is not saved again");
    assert_books_balance(&store, &["s-1", "s-2", "s-3"], &[8, 10]).await;
}

#[test]
fn a_malformed_fixture_is_refused_with_its_reason() {
    let dir = std::env::temp_dir().join(format!("fixture-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in [
        ("unknown.json", r#"{"scoutz": []}"#),
        (
            "space.json",
            r#"{"scouts": [{"scout_id": "s 1", "user_id": 1, "earnings_paise": 10}]}"#,
        ),
        (
            "price.json",
            r#"{"orders": [{"order_id": "o", "buyer_id": 1, "seller_id": 2, "item_price_paise": 0, "status": "placed"}]}"#,
        ),
        (
            "status.json",
            r#"{"orders": [{"order_id": "o", "buyer_id": 1, "seller_id": 2, "item_price_paise": 5, "status": "lost"}]}"#,
        ),
        (
            "float.json",
            r#"{"scouts": [{"scout_id": "s", "user_id": 1, "earnings_paise": 10.5}]}"#,
        ),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        assert!(Fixture::read(&path).is_err(), "{name} was accepted");
    }
    let _ = std::fs::remove_dir_all(dir);
}
