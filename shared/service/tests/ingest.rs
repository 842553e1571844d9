//! The marketplace's second door: its `order.*` and `scout.*` events, carried by
//! moto's EventBridge through a rule with the template's pattern, applied by
//! `ingest-marketplace`'s ingester against DynamoDB Local: created and moved on as the
//! routes would, once per event id, an older or overtaken event changing nothing,
//! and a refused one stored nowhere.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use chrono::{DateTime, Duration, Utc};
use devkit::invariants::assert_books_balance;
use devkit::testing::{fresh_bus, fresh_store};
use domain::money::Paise;
use domain::order::OrderStatus;
use serde_json::{json, Value};
use service::config::PayoutLimits;
use service::marketplace::ingest::{Ingested, Ingester};
use service::marketplace::Upserted;
use store::Store;

const LIMITS: PayoutLimits = PayoutLimits {
    min: Paise(100),
    max: Paise(10_000_000),
};
const SOURCE: &str = "marketplace";

fn ingester(store: &Store) -> Ingester<'_> {
    Ingester {
        store,
        limits: LIMITS,
        source: SOURCE.to_owned(),
    }
}

/// The rule's pattern, as template.yaml's `MarketplaceEvents` has it.
fn template_pattern() -> Value {
    json!({"source": [SOURCE], "detail-type": [{"prefix": "order."}, {"prefix": "scout."}]})
}

fn event(
    id: &str,
    detail_type: &str,
    time: DateTime<Utc>,
    detail: Value,
) -> EventBridgeEvent<Value> {
    serde_json::from_value(json!({
        "version": "0", "id": id, "detail-type": detail_type, "source": SOURCE,
        "account": "123456789012", "time": time, "region": "ap-south-1",
        "resources": [], "detail": detail
    }))
    .unwrap()
}

fn order(status: &str, bounty: u64) -> Value {
    json!({"order_id": "o-1", "buyer_id": 9, "seller_id": 8, "item_price_paise": 120_000,
           "status": status, "scout_id": "s-1", "scout_bounty_paise": bounty})
}

#[tokio::test]
async fn moto_carries_the_marketplaces_events_to_the_ingester_through_the_templates_rule() {
    let store = fresh_store().await;
    let bus = fresh_bus(&template_pattern()).await;
    let entry = |detail_type: &str, source: &str, detail: Value| {
        PutEventsRequestEntry::builder()
            .event_bus_name(&bus.name)
            .source(source)
            .detail_type(detail_type)
            .detail(detail.to_string())
            .build()
    };
    let entries = vec![
        entry(
            "scout.created",
            SOURCE,
            json!({"scout_id": "s-1", "user_id": 7, "active": true}),
        ),
        entry("order.placed", SOURCE, order("placed", 6_000)),
        // Not the marketplace's, and not about orders or scouts: the rule takes neither.
        entry(
            "scout.created",
            "someone-else",
            json!({"scout_id": "s-2", "user_id": 8, "active": true}),
        ),
        entry("payment.captured", SOURCE, json!({"order_id": "o-1"})),
    ];
    let put = bus
        .clients
        .eventbridge
        .put_events()
        .set_entries(Some(entries))
        .send()
        .await
        .unwrap();
    assert_eq!(put.failed_entry_count(), 0);
    let delivered = bus.capture.drain().await.unwrap();
    assert_eq!(delivered.len(), 2, "{delivered:#?}");

    let ingester = ingester(&store);
    // EventBridge may deliver in any order: the scout first here, as a retry would.
    let mut events: Vec<EventBridgeEvent<Value>> = delivered
        .into_iter()
        .map(|envelope| serde_json::from_value(envelope).unwrap())
        .collect();
    events.sort_by_key(|event| !event.detail_type.starts_with("scout."));
    for event in &events {
        let ingested = ingester.ingest(event).await.unwrap();
        assert_eq!(ingested, Ingested::Applied(Upserted::Created), "{event:?}");
        // Delivered again: seen, nothing done.
        assert_eq!(ingester.ingest(event).await.unwrap(), Ingested::Duplicate);
    }
    assert_eq!(store.scout("s-1").await.unwrap().unwrap().user_id, 7);
    assert_eq!(
        store.order("o-1").await.unwrap().unwrap().status,
        OrderStatus::Placed
    );
    assert_eq!(store.scout("s-2").await.unwrap(), None);
}

#[tokio::test]
async fn late_and_overtaken_events_change_nothing_and_completion_happens_once() {
    let store = fresh_store().await;
    let ingester = ingester(&store);
    let t0 = Utc::now() - Duration::minutes(10);
    let at = |minutes: i64| t0 + Duration::minutes(minutes);
    let scout = json!({"scout_id": "s-1", "user_id": 7, "active": true});
    ingester
        .ingest(&event("e-0", "scout.created", at(0), scout))
        .await
        .unwrap();

    let placed = event("e-1", "order.placed", at(1), order("placed", 6_000));
    let shipped = event("e-2", "order.shipped", at(2), order("shipped", 5_000));
    let completed = event("e-3", "order.completed", at(3), order("completed", 5_000));
    assert_eq!(
        ingester.ingest(&shipped).await.unwrap(),
        Ingested::Applied(Upserted::Created)
    );
    // The placement arrives after the shipment: older, so it changes nothing (not even
    // the bounty it carries).
    assert_eq!(
        ingester.ingest(&placed).await.unwrap(),
        Ingested::Applied(Upserted::Superseded)
    );
    let stored = store.order("o-1").await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.scout_bounty_paise),
        (OrderStatus::Shipped, Some(Paise(5_000)))
    );
    assert_eq!(
        ingester.ingest(&completed).await.unwrap(),
        Ingested::Applied(Upserted::Updated)
    );
    // A later event the order has moved on past (a status from before completion,
    // stamped later by a clock behind): nothing changes.
    let stray = event("e-4", "order.shipped", at(4), order("shipped", 5_000));
    assert_eq!(
        ingester.ingest(&stray).await.unwrap(),
        Ingested::Applied(Upserted::Superseded)
    );
    let again = event("e-5", "order.completed", at(5), order("completed", 5_000));
    assert_eq!(
        ingester.ingest(&again).await.unwrap(),
        Ingested::Applied(Upserted::Unchanged)
    );
    let scout = store.scout("s-1").await.unwrap().unwrap();
    assert_eq!(
        scout.earnings_paise,
        Paise(5_000),
        "the bounty, credited once"
    );
    assert_eq!(
        store.summary(8).await.unwrap().total,
        1,
        "one seller payout"
    );

    // An older profile does not undo a newer one.
    let off = json!({"scout_id": "s-1", "user_id": 7, "active": false});
    ingester
        .ingest(&event("e-6", "scout.deactivated", at(6), off))
        .await
        .unwrap();
    let on = json!({"scout_id": "s-1", "user_id": 7, "active": true});
    assert_eq!(
        ingester
            .ingest(&event("e-7", "scout.updated", at(2), on))
            .await
            .unwrap(),
        Ingested::Applied(Upserted::Superseded)
    );
    assert!(!store.scout("s-1").await.unwrap().unwrap().active);
    assert_books_balance(&store, &["s-1"], &[8]).await;
}

#[tokio::test]
async fn a_refused_event_is_an_error_and_stores_nothing() {
    let store = fresh_store().await;
    let ingester = ingester(&store);
    let now = Utc::now();
    let refusals = [
        event("r-1", "order.placed", now, order("placed", 6_000)), // its scout is unknown
        event(
            "r-2",
            "order.placed",
            now,
            json!({"order_id": "o-2", "buyer_id": 9}),
        ),
        event(
            "r-3",
            "scout.created",
            now,
            json!({"user_id": 7, "active": true}),
        ),
        event("r-4", "refund.created", now, json!({"order_id": "o-1"})),
        event("r-5", "scout.created", now, json!("s-1")),
    ];
    for refused in &refusals {
        assert!(ingester.ingest(refused).await.is_err(), "{refused:?}");
        let event_id = refused.id.as_deref().unwrap();
        assert_eq!(store.ingest_receipt(SOURCE, event_id).await.unwrap(), None);
    }
    let mut other = event(
        "r-6",
        "scout.created",
        now,
        json!({"scout_id": "s-9", "user_id": 7, "active": true}),
    );
    other.source = "someone-else".to_owned();
    assert!(ingester.ingest(&other).await.is_err());
    assert_eq!(store.order("o-1").await.unwrap(), None);
    assert_eq!(store.order("o-2").await.unwrap(), None);
    assert_eq!(store.scout("s-9").await.unwrap(), None);

    // Once its scout exists, the first one goes through when retried.
    let scout = json!({"scout_id": "s-1", "user_id": 7, "active": true});
    ingester
        .ingest(&event("r-7", "scout.created", now, scout))
        .await
        .unwrap();
    assert_eq!(
        ingester.ingest(&refusals[0]).await.unwrap(),
        Ingested::Applied(Upserted::Created)
    );
}

/// Out of order, an event that says what is stored is still the latest: an older one
/// arriving after it changes nothing. A completion whose clock is behind still
/// completes an open order; an event that would settle an order another way than it
/// was settled fails, for the dead-letter queue and its alarm.
#[tokio::test]
async fn the_latest_event_wins_and_a_settlement_is_never_dropped_quietly() {
    let store = fresh_store().await;
    let ingester = ingester(&store);
    let t0 = Utc::now() - Duration::minutes(10);
    let at = |minutes: i64| t0 + Duration::minutes(minutes);
    let scout = json!({"scout_id": "s-1", "user_id": 7, "active": true});
    ingester
        .ingest(&event("s-0", "scout.created", at(0), scout))
        .await
        .unwrap();
    let priced = |price: u64| {
        let mut detail = order("placed", 1_000);
        detail["item_price_paise"] = json!(price);
        detail
    };
    // Sent t1 (100), t2 (150), t3 (100); arriving t1, t3, t2.
    for (id, minute, price) in [
        ("p-1", 1, 100_000),
        ("p-3", 3, 100_000),
        ("p-2", 2, 150_000),
    ] {
        ingester
            .ingest(&event(id, "order.updated", at(minute), priced(price)))
            .await
            .unwrap();
    }
    assert_eq!(
        store.order("o-1").await.unwrap().unwrap().item_price_paise,
        Paise(100_000)
    );

    // A completion stamped before the latest update still completes the order.
    let mut completing = priced(100_000);
    completing["status"] = json!("completed");
    let late = event("c-1", "order.completed", at(2), completing);
    assert_eq!(
        ingester.ingest(&late).await.unwrap(),
        Ingested::Applied(Upserted::Updated)
    );
    assert_eq!(
        store.order("o-1").await.unwrap().unwrap().status,
        OrderStatus::Completed
    );
    // Cancelling the completed order is no stale event: it fails, and nothing moves.
    let mut cancelling = priced(100_000);
    cancelling["status"] = json!("cancelled");
    let cancel = event("c-2", "order.cancelled", at(9), cancelling);
    assert!(ingester.ingest(&cancel).await.is_err());
    assert_eq!(store.ingest_receipt(SOURCE, "c-2").await.unwrap(), None);
    assert_eq!(
        store.order("o-1").await.unwrap().unwrap().status,
        OrderStatus::Completed
    );
    // Nor is a settled order's other price.
    let mut repriced = priced(120_000);
    repriced["status"] = json!("completed");
    assert!(ingester
        .ingest(&event("c-3", "order.completed", at(9), repriced))
        .await
        .is_err());
    // An event from the future would outrank every later one: refused.
    let ahead = event(
        "f-1",
        "order.updated",
        Utc::now() + Duration::hours(1),
        priced(100_000),
    );
    assert!(ingester.ingest(&ahead).await.is_err());
    assert_books_balance(&store, &["s-1"], &[8]).await;
}
