//! Completing orders (DESIGN §5): one seller payout per order, ever, and the scout
//! bounty credited once, against DynamoDB Local.

use devkit::invariants::{assert_books_balance, user_payouts};
use devkit::testing::fresh_store;
use shared::auth::Actor;
use shared::money::Paise;
use shared::order::{complete_order, Order, OrderStatus};
use shared::payout::{PayoutStatus, PayoutType};
use shared::scout::Scout;
use shared::store::Store;
use shared::Error;

const BUYER: u64 = 9;
const SELLER: u64 = 8;
const SCOUT_OWNER: u64 = 7;

fn order(order_id: &str, status: OrderStatus, scout: Option<(&str, u64)>) -> Order {
    Order {
        order_id: order_id.to_owned(),
        buyer_id: BUYER,
        seller_id: SELLER,
        item_price_paise: Paise(120_000),
        status,
        scout_id: scout.map(|(id, _)| id.to_owned()),
        scout_bounty_paise: scout.map(|(_, bounty)| Paise(bounty)),
        payout_id: None,
        completed_at: None,
    }
}

async fn store_with(orders: &[Order]) -> Store {
    let store = fresh_store().await;
    store
        .insert_scout(&Scout::with_earnings("s-1", SCOUT_OWNER, Paise(50_000)))
        .await
        .unwrap();
    for order in orders {
        assert!(store.insert_order(order).await.unwrap());
    }
    store
}

#[tokio::test]
async fn completing_creates_the_seller_payout_and_credits_the_bounty() {
    let store = store_with(&[order("o-1", OrderStatus::Placed, Some(("s-1", 6_000)))]).await;
    let done = complete_order(&store, &Actor::user(BUYER), "o-1")
        .await
        .unwrap();
    assert!(done.newly_completed);
    assert_eq!(done.order.status, OrderStatus::Completed);
    assert_eq!(done.order.payout_id, Some(done.payout.payout_id));
    assert_eq!(done.payout.payout_id, Order::seller_payout_id("o-1"));
    assert_eq!(done.payout.payout_type, PayoutType::SellerPayout);
    assert_eq!(done.payout.status, PayoutStatus::Pending);
    assert_eq!(done.payout.user_id, SELLER);
    assert_eq!(done.payout.amount_paise, Paise(120_000));
    assert_eq!(done.payout.order_id.as_deref(), Some("o-1"));

    assert_eq!(store.order("o-1").await.unwrap(), Some(done.order.clone()));
    assert_eq!(
        store.payout(done.payout.payout_id).await.unwrap(),
        Some(done.payout.clone())
    );
    let scout = store.scout("s-1").await.unwrap().unwrap();
    assert_eq!(
        (scout.earnings_paise, scout.credited_paise),
        (Paise(56_000), Paise(56_000))
    );
    let seller = store.summary(SELLER).await.unwrap();
    assert_eq!((seller.total, seller.pending_paise), (1, Paise(120_000)));
    assert_books_balance(&store, &["s-1"], &[SELLER]).await;
}

#[tokio::test]
async fn twenty_concurrent_completions_make_one_payout_and_one_bounty() {
    let store = store_with(&[order("o-1", OrderStatus::Delivered, Some(("s-1", 6_000)))]).await;
    let calls = (0..20).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { complete_order(&store, &Actor::user(BUYER), "o-1").await })
    });
    let mut newly = 0;
    for call in calls {
        match call.await.unwrap() {
            Ok(done) => {
                assert_eq!(done.payout.payout_id, Order::seller_payout_id("o-1"));
                newly += usize::from(done.newly_completed);
            }
            Err(Error::Conflict(_)) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(newly, 1);
    assert_eq!(user_payouts(&store, SELLER).await.len(), 1);
    let scout = store.scout("s-1").await.unwrap().unwrap();
    assert_eq!(
        scout.earnings_paise,
        Paise(56_000),
        "bounty credited exactly once"
    );
    assert_eq!(store.summary(SELLER).await.unwrap().total, 1);
    assert_books_balance(&store, &["s-1"], &[SELLER]).await;
}

#[tokio::test]
async fn completing_again_returns_the_existing_payout_and_changes_nothing() {
    let store = store_with(&[order("o-1", OrderStatus::Shipped, Some(("s-1", 6_000)))]).await;
    let first = complete_order(&store, &Actor::user(BUYER), "o-1")
        .await
        .unwrap();
    let again = complete_order(&store, &Actor::admin(1), "o-1")
        .await
        .unwrap();
    assert!(!again.newly_completed);
    assert_eq!(again.payout, first.payout);
    assert_eq!(again.order, first.order);
    assert_eq!(
        store.scout("s-1").await.unwrap().unwrap().earnings_paise,
        Paise(56_000)
    );
    assert_books_balance(&store, &["s-1"], &[SELLER]).await;
}

#[tokio::test]
async fn a_cancelled_order_is_refused_and_nothing_is_written() {
    let cancelled = order("o-4", OrderStatus::Cancelled, Some(("s-1", 6_000)));
    let store = store_with(std::slice::from_ref(&cancelled)).await;
    let err = complete_order(&store, &Actor::user(BUYER), "o-4")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    assert_eq!(err.http_status(), 409);
    assert_eq!(store.order("o-4").await.unwrap(), Some(cancelled));
    assert_eq!(
        store.payout(Order::seller_payout_id("o-4")).await.unwrap(),
        None
    );
    assert_eq!(
        store.scout("s-1").await.unwrap().unwrap().earnings_paise,
        Paise(50_000)
    );
    assert_books_balance(&store, &["s-1"], &[SELLER]).await;
}

#[tokio::test]
async fn only_the_buyer_or_an_admin_completes_and_missing_orders_are_404() {
    let placed = order("o-1", OrderStatus::Placed, None);
    let store = store_with(std::slice::from_ref(&placed)).await;
    for outsider in [Actor::user(SELLER), Actor::user(SCOUT_OWNER)] {
        let err = complete_order(&store, &outsider, "o-1").await.unwrap_err();
        assert_eq!(err.http_status(), 403);
    }
    assert_eq!(store.order("o-1").await.unwrap(), Some(placed));
    let err = complete_order(&store, &Actor::admin(1), "o-missing")
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), 404);
    let done = complete_order(&store, &Actor::admin(1), "o-1")
        .await
        .unwrap();
    assert!(done.newly_completed);
    assert_books_balance(&store, &["s-1"], &[SELLER]).await;
}

#[tokio::test]
async fn an_order_whose_scout_is_missing_is_refused_whole() {
    let orphan = order("o-9", OrderStatus::Placed, Some(("s-gone", 6_000)));
    let store = store_with(std::slice::from_ref(&orphan)).await;
    let err = complete_order(&store, &Actor::user(BUYER), "o-9")
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), 409, "{err:?}");
    assert_eq!(store.order("o-9").await.unwrap(), Some(orphan));
    assert_eq!(
        store.payout(Order::seller_payout_id("o-9")).await.unwrap(),
        None
    );
    assert_eq!(store.summary(SELLER).await.unwrap().total, 0);
}
