//! Completing orders (docs/API.md, Complete an order): one seller payout per order, ever, and
//! the scout bounty credited once, against DynamoDB Local.

use devkit::admin::{cancel_payout, process_payout, retry_payout};
use devkit::invariants::{assert_books_balance, user_payouts};
use devkit::testing::{fresh_store, gateway, processor_config, Snapshot};
use domain::actor::Actor;
use domain::money::Paise;
use domain::payout::{PayoutStatus, PayoutType};
use domain::{Conflict, Error};
use service::config::PayoutLimits;
use service::order::{complete_order, Order, OrderStatus};
use service::scout::Scout;
use store::Store;

const LIMITS: PayoutLimits = PayoutLimits {
    min: Paise(100),
    max: Paise(10_000_000),
};
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
        currency: Default::default(),
        revision: 0,
        updated_at: None,
        reported_at: None,
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
    let done = complete_order(&store, LIMITS, &Actor::user(BUYER), "o-1")
        .await
        .unwrap();
    assert!(done.newly_completed);
    assert_eq!(done.order.status, OrderStatus::Completed);
    let payout = done
        .payout
        .clone()
        .expect("a priced order has a seller payout");
    assert_eq!(done.order.payout_id, Some(payout.payout_id));
    assert_eq!(payout.payout_id, Order::seller_payout_id("o-1"));
    assert_eq!(payout.payout_type, PayoutType::SellerPayout);
    assert_eq!(payout.status, PayoutStatus::Pending);
    assert_eq!(payout.user_id, SELLER);
    assert_eq!(payout.amount_paise, Paise(120_000));
    assert_eq!(payout.order_id.as_deref(), Some("o-1"));

    assert_eq!(store.order("o-1").await.unwrap(), Some(done.order.clone()));
    assert_eq!(
        store.payout(payout.payout_id).await.unwrap(),
        Some(payout.clone())
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
        tokio::spawn(
            async move { complete_order(&store, LIMITS, &Actor::user(BUYER), "o-1").await },
        )
    });
    let mut newly = 0;
    for call in calls {
        match call.await.unwrap() {
            Ok(done) => {
                assert_eq!(
                    done.payout.as_ref().unwrap().payout_id,
                    Order::seller_payout_id("o-1")
                );
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
    let first = complete_order(&store, LIMITS, &Actor::user(BUYER), "o-1")
        .await
        .unwrap();
    let again = complete_order(&store, LIMITS, &Actor::admin(1), "o-1")
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
    let err = complete_order(&store, LIMITS, &Actor::user(BUYER), "o-4")
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Conflict(Conflict::Refused(_))),
        "{err:?}"
    );
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
        let err = complete_order(&store, LIMITS, &outsider, "o-1")
            .await
            .unwrap_err();
        assert_eq!(err.http_status(), 403);
    }
    assert_eq!(store.order("o-1").await.unwrap(), Some(placed));
    let err = complete_order(&store, LIMITS, &Actor::admin(1), "o-missing")
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), 404);
    let done = complete_order(&store, LIMITS, &Actor::admin(1), "o-1")
        .await
        .unwrap();
    assert!(done.newly_completed);
    assert_books_balance(&store, &["s-1"], &[SELLER]).await;
}

#[tokio::test]
async fn an_order_whose_scout_is_missing_is_refused_whole() {
    let orphan = order("o-9", OrderStatus::Placed, Some(("s-gone", 6_000)));
    let store = store_with(std::slice::from_ref(&orphan)).await;
    let err = complete_order(&store, LIMITS, &Actor::user(BUYER), "o-9")
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

fn priced(order_id: &str, price: u64) -> Order {
    Order {
        item_price_paise: Paise(price),
        ..order(order_id, OrderStatus::Placed, Some(("s-1", 500)))
    }
}

/// Nothing of 0 paise reaches the gateway. A free order completes, its
/// scout bounty is credited, and it has no seller payout, which the answer says.
#[tokio::test]
async fn a_free_order_completes_without_a_payout() {
    let store = store_with(&[priced("o-free", 0)]).await;
    let done = complete_order(&store, LIMITS, &Actor::user(BUYER), "o-free")
        .await
        .unwrap();
    assert!(done.newly_completed);
    assert_eq!(done.order.status, OrderStatus::Completed);
    assert_eq!((done.payout, done.order.payout_id), (None, None));
    assert_eq!(
        store.order("o-free").await.unwrap(),
        Some(done.order.clone())
    );
    assert_eq!(
        store
            .payout(Order::seller_payout_id("o-free"))
            .await
            .unwrap(),
        None
    );
    assert!(user_payouts(&store, SELLER).await.is_empty());
    let scout = store.scout("s-1").await.unwrap().unwrap();
    assert_eq!(
        scout.earnings_paise,
        Paise(50_500),
        "the bounty is still earned"
    );

    let again = complete_order(&store, LIMITS, &Actor::user(BUYER), "o-free")
        .await
        .unwrap();
    assert!(!again.newly_completed);
    assert_eq!((again.order, again.payout), (done.order, None));
    assert_books_balance(&store, &["s-1"], &[SELLER]).await;
}

/// A positive price no payout may carry is refused (422) and the order stays open:
/// completing it would leave the seller owed money with nothing to pay it.
#[tokio::test]
async fn a_price_outside_the_payout_limits_is_refused_and_changes_nothing() {
    for (order_id, price) in [("o-tiny", 99), ("o-huge", 10_000_001)] {
        let store = store_with(&[priced(order_id, price)]).await;
        let before = Snapshot::take(&store, &["s-1"], &[order_id], &[SELLER]).await;
        let err = complete_order(&store, LIMITS, &Actor::user(BUYER), order_id)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::AmountOutOfRange { .. }), "{err:?}");
        assert_eq!(
            (err.http_status(), err.code()),
            (422, "amount_out_of_range")
        );
        assert_eq!(
            Snapshot::take(&store, &["s-1"], &[order_id], &[SELLER]).await,
            before
        );
    }
}

/// The documented decision (docs/API.md, Complete an order): a cancelled seller payout is final. Completing the order
/// again shows it, and nothing pays it or creates another.
#[tokio::test]
async fn a_cancelled_seller_payout_is_final() {
    let store = store_with(&[order("o-1", OrderStatus::Placed, None)]).await;
    let admin = Actor::admin(1);
    let done = complete_order(&store, LIMITS, &admin, "o-1").await.unwrap();
    let payout_id = done.payout.expect("a priced order has a payout").payout_id;
    let gateway = gateway(&store, 1.0);
    let config = processor_config(10);
    let cancelled = cancel_payout(&store, &gateway, config, &admin, payout_id)
        .await
        .unwrap();
    assert_eq!(cancelled.status, PayoutStatus::Cancelled);

    let again = complete_order(&store, LIMITS, &admin, "o-1").await.unwrap();
    assert!(!again.newly_completed);
    assert_eq!(again.payout, Some(cancelled.clone()));
    for err in [
        retry_payout(&store, &gateway, config, &admin, payout_id)
            .await
            .unwrap_err(),
        process_payout(&store, &gateway, config, &admin, payout_id)
            .await
            .unwrap_err(),
    ] {
        assert_eq!(err.http_status(), 409, "{err}");
    }
    assert_eq!(user_payouts(&store, SELLER).await, vec![cancelled]);
    assert!(gateway.transfer_calls().is_empty());
    assert_books_balance(&store, &["s-1"], &[SELLER]).await;
}
