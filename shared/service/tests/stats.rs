//! `GET /payouts/stats` against DynamoDB Local: the counters it reads are
//! checked against the payouts themselves (every money test does that too, through
//! `assert_books_balance`), and its windows against the transitions that happened.

use api::auth::DEV_JWT_SECRET;
use devkit::api::{Api, Reply};
use devkit::fixture::Fixture;
use devkit::invariants::{all_payouts, assert_balances, assert_books_balance};
use devkit::testing::{fresh_store, gateway, processor_config};
use devkit::token::mint;
use domain::actor::{Actor, Role};
use domain::payout::{Payout, PayoutStatus, PayoutType, Transition};
use serde_json::{json, Value};
use store::{Buckets, CounterBucket, CounterItem, Lease, StatusChange, Store, STATS_SHARDS};

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
    fixture
        .load(&store, &devkit::testing::vault().await, limits)
        .await
        .unwrap();
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
            devkit::admin::process_payout(&store, &declining, config, &admin, payout.payout_id)
        } else {
            devkit::admin::process_payout(&store, &paying, config, &admin, payout.payout_id)
        }
        .await
        .unwrap();
        assert_eq!(done.status.is_paid(), !declined);
    }
    let to_cancel = scout_payouts
        .iter()
        .find(|p| p.amount_paise.get() == 40_000)
        .unwrap();
    devkit::admin::cancel_payout(&store, &paying, config, &admin, to_cancel.payout_id)
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

/// One scout payout of `amount`, pending, on a table of its own.
async fn one_payout(amount: u64) -> (Api, Store, Payout) {
    let store = fresh_store().await;
    let limits = devkit::testing::local_config(&[]).unwrap().limits;
    let fixture: Fixture = serde_json::from_value(json!({
        "scouts": [{"scout_id": "s-1", "user_id": 7, "earnings_paise": 500000}],
        "payout_requests": [
            {"scout_id": "s-1", "amount_paise": amount, "idempotency_key": "a"}
        ]
    }))
    .unwrap();
    fixture
        .load(&store, &devkit::testing::vault().await, limits)
        .await
        .unwrap();
    let payouts = all_payouts(&store).await;
    assert_eq!(payouts.len(), 1);
    (Api::new(store.clone()), store, payouts[0].clone())
}

/// The bank sends a paid payout's money back (what a `payout.reversed` webhook does).
async fn reverse(store: &Store, payout: &Payout) -> Payout {
    let current = store.existing_payout(payout.payout_id).await.unwrap();
    assert_eq!(current.status, PayoutStatus::Completed);
    let mut next = current.clone();
    next.failure_reason = Some("beneficiary_bank_rejected".to_owned());
    next.updated_at = domain::time::Timestamp::now();
    store
        .change_status(
            &current,
            StatusChange {
                transition: Transition::Reverse,
                next,
                lease: Lease::Break,
                gateway_status_not_in: None,
            },
        )
        .await
        .unwrap()
}

/// Both windows' `completed` and `failed`, as (count, paise).
async fn windows(api: &Api) -> [((u64, u64), (u64, u64)); 2] {
    let reply = stats(api).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    ["last_24h", "last_7d"].map(|window| {
        (
            tally(&reply.body, &[window, "completed"]),
            tally(&reply.body, &[window, "failed"]),
        )
    })
}

/// The hour and day counter items as stored: no number in any of them is negative, and,
/// summed over the shards, each bucket kind holds exactly the payouts that are now
/// completed or failed (every one ended within the last hour or so). The totals items
/// are not checked one by one: each write takes a shard of its own, so a shard's totals
/// may well be below zero; only their sum means anything (`assert_books_balance`).
async fn assert_buckets_hold_the_ended_payouts(store: &Store) {
    let now = domain::time::Timestamp::now().as_utc();
    let hours: Vec<String> = (0..24)
        .map(|back| Buckets::of(now - chrono::Duration::hours(back)).hour)
        .collect();
    let days: Vec<String> = (0..7)
        .map(|back| Buckets::of(now - chrono::Duration::days(back)).day)
        .collect();
    let items = store.stats_items(&hours, &days).await.unwrap();
    let payouts = all_payouts(store).await;
    for kind in ["hour", "day"] {
        let buckets: Vec<&CounterItem> = items
            .iter()
            .filter(|item| match &item.bucket {
                CounterBucket::Hour(_) => kind == "hour",
                CounterBucket::Day(_) => kind == "day",
                CounterBucket::Totals => false,
            })
            .collect();
        for item in &buckets {
            for (name, value) in &item.values {
                assert!(*value >= 0, "{:?} {name} = {value}", item.bucket);
            }
        }
        for status in [PayoutStatus::Completed, PayoutStatus::Failed] {
            let value = |name: String| -> i128 {
                buckets
                    .iter()
                    .filter_map(|item| item.values.get(&name))
                    .sum()
            };
            // Ended there, less what left that ending since.
            let net = |measure: &str| {
                value(format!("{status}_{measure}"))
                    - value(format!("{status}_retracted_{measure}"))
            };
            let ended: Vec<&Payout> = payouts.iter().filter(|p| p.status == status).collect();
            let paise: u64 = ended.iter().map(|p| p.amount_paise.get()).sum();
            assert_eq!(
                (net("count"), net("paise")),
                (ended.len() as i128, i128::from(paise)),
                "{kind} buckets, {status}"
            );
        }
    }
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
    // Completed twice, but one came back from the bank: it ended reversed, not paid.
    // Failed once. Both this hour, today.
    for window in ["last_24h", "last_7d"] {
        assert_eq!(tally(body, &[window, "completed"]), (1, 20_000), "{window}");
        assert_eq!(tally(body, &[window, "failed"]), (1, 30_000), "{window}");
    }
    assert_buckets_hold_the_ended_payouts(&store).await;
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
    assert!(domain::time::Timestamp::parse(body["as_of"].as_str().unwrap()).is_some());
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

    let counted = service::stats::recount(&store).await.unwrap();
    assert_eq!((counted.count, counted.amount_paise.get()), (7, 270_000));
    let after = stats(&api).await.body;
    for part in ["by_status", "by_type", "total"] {
        assert_eq!(after[part], before[part], "{part}");
    }
    // And the payouts go on being counted from there.
    assert_books_balance(&store, &["s-1", "s-2"], &[8, 10]).await;
}

/// A completion the bank returned, and the payout completed again on its
/// retry, is one payout paid once: one completion, its amount once, in the window of
/// the last one; nothing reversed.
#[tokio::test]
async fn a_payout_returned_by_the_bank_and_paid_again_counts_once() {
    let (api, store, payout) = one_payout(25_000).await;
    let admin = Actor::admin(ADMIN);
    let config = processor_config(10);
    let paying = gateway(&store, 1.0);

    let paid = devkit::admin::process_payout(&store, &paying, config, &admin, payout.payout_id)
        .await
        .unwrap();
    assert_eq!(paid.status, PayoutStatus::Completed);
    for window in windows(&api).await {
        assert_eq!(window, ((1, 25_000), (0, 0)));
    }

    reverse(&store, &payout).await;
    // Returned: no longer paid, in no window.
    for window in windows(&api).await {
        assert_eq!(window, ((0, 0), (0, 0)));
    }
    assert_buckets_hold_the_ended_payouts(&store).await;

    let again = devkit::admin::retry_payout(&store, &paying, config, &admin, payout.payout_id)
        .await
        .unwrap();
    assert_eq!((again.status, again.attempt), (PayoutStatus::Completed, 2));

    let reply = stats(&api).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    for window in ["last_24h", "last_7d"] {
        assert_eq!(
            tally(&reply.body, &[window, "completed"]),
            (1, 25_000),
            "{window}"
        );
        assert_eq!(tally(&reply.body, &[window, "failed"]), (0, 0), "{window}");
    }
    assert_eq!(tally(&reply.body, &["by_status", "completed"]), (1, 25_000));
    assert_eq!(tally(&reply.body, &["by_status", "reversed"]), (0, 0));
    assert_buckets_hold_the_ended_payouts(&store).await;
    // Not against the simulated gateway's ledger: the bank's return happened in the
    // store only, so the ledger still holds the first attempt as paid.
    assert_balances(&store, &["s-1"], &[7]).await;
}

/// A payout that failed and completed on its retry ended once, completed.
#[tokio::test]
async fn a_failure_retried_into_a_completion_counts_as_the_completion_only() {
    let (api, store, payout) = one_payout(12_345).await;
    let admin = Actor::admin(ADMIN);
    let config = processor_config(10);

    let failed = devkit::admin::process_payout(
        &store,
        &gateway(&store, 0.0),
        config,
        &admin,
        payout.payout_id,
    )
    .await
    .unwrap();
    assert_eq!(failed.status, PayoutStatus::Failed);
    for window in windows(&api).await {
        assert_eq!(window, ((0, 0), (1, 12_345)));
    }

    let paid = devkit::admin::retry_payout(
        &store,
        &gateway(&store, 1.0),
        config,
        &admin,
        payout.payout_id,
    )
    .await
    .unwrap();
    assert_eq!(paid.status, PayoutStatus::Completed);
    for window in windows(&api).await {
        assert_eq!(window, ((1, 12_345), (0, 0)));
    }
    assert_buckets_hold_the_ended_payouts(&store).await;
    assert_books_balance(&store, &["s-1"], &[7]).await;
}

/// Withdrawn after it failed, or after the bank returned it, a payout ended cancelled,
/// which no window counts.
#[tokio::test]
async fn a_cancel_takes_a_failure_or_a_returned_completion_out_of_the_windows() {
    let (api, store, payout) = one_payout(7_000).await;
    let admin = Actor::admin(ADMIN);
    let config = processor_config(10);
    devkit::admin::process_payout(
        &store,
        &gateway(&store, 0.0),
        config,
        &admin,
        payout.payout_id,
    )
    .await
    .unwrap();
    let cancelled = devkit::admin::cancel_payout(
        &store,
        &gateway(&store, 0.0),
        config,
        &admin,
        payout.payout_id,
    )
    .await
    .unwrap();
    assert_eq!(cancelled.status, PayoutStatus::Cancelled);
    for window in windows(&api).await {
        assert_eq!(window, ((0, 0), (0, 0)));
    }
    assert_buckets_hold_the_ended_payouts(&store).await;

    let (api, store, payout) = one_payout(8_000).await;
    let paying = gateway(&store, 1.0);
    devkit::admin::process_payout(&store, &paying, config, &admin, payout.payout_id)
        .await
        .unwrap();
    reverse(&store, &payout).await;
    let cancelled = devkit::admin::cancel_payout(&store, &paying, config, &admin, payout.payout_id)
        .await
        .unwrap();
    assert_eq!(cancelled.status, PayoutStatus::Cancelled);
    for window in windows(&api).await {
        assert_eq!(window, ((0, 0), (0, 0)));
    }
    assert_buckets_hold_the_ended_payouts(&store).await;
    // The first attempt was paid, then returned (in the store only, as above).
    assert_balances(&store, &["s-1"], &[7]).await;
}

/// A counter item written straight to shard `shard`: `sk` and its numbers.
async fn put_counters(store: &Store, shard: u128, sk: &str, numbers: &[(&str, i128)]) {
    use aws_sdk_dynamodb::types::AttributeValue;
    let mut item = std::collections::HashMap::from([
        ("pk".to_owned(), AttributeValue::S(format!("STATS#{shard}"))),
        ("sk".to_owned(), AttributeValue::S(sk.to_owned())),
    ]);
    for (name, value) in numbers {
        item.insert((*name).to_owned(), AttributeValue::N(value.to_string()));
    }
    devkit::testing::put_item(store, item).await;
}

/// Counts on every shard, and a read of the stats adds them all up: the totals of each,
/// the hour and day buckets of some, the last shard's among them, and nothing of a day
/// the windows do not reach (still on the table until TTL deletes it).
#[tokio::test]
async fn a_stats_read_adds_up_every_shard() {
    let store = fresh_store().await;
    let api = Api::new(store.clone());
    let now = domain::time::Timestamp::now().as_utc();
    let hour = format!("HOUR#{}", Buckets::of(now).hour);
    let day = format!("DAY#{}", Buckets::of(now).day);
    let week_ago = format!("DAY#{}", Buckets::of(now - chrono::Duration::days(8)).day);
    for shard in 0..STATS_SHARDS {
        // Shard n holds n + 1 pending payouts of 100 paise each.
        let count = i128::try_from(shard).unwrap() + 1;
        put_counters(
            &store,
            shard,
            "COUNTERS",
            &[
                ("pending_count", count),
                ("pending_paise", 100 * count),
                ("seller_payout_count", count),
                ("seller_payout_paise", 100 * count),
            ],
        )
        .await;
    }
    let last = STATS_SHARDS - 1;
    // Completions in this hour on three shards, one of them returned since (retracted
    // on a fourth); failures today on three others; an old day on one more.
    for shard in [0, 4, last] {
        put_counters(
            &store,
            shard,
            &hour,
            &[("completed_count", 1), ("completed_paise", 500)],
        )
        .await;
    }
    put_counters(
        &store,
        1,
        &hour,
        &[
            ("completed_retracted_count", 1),
            ("completed_retracted_paise", 500),
        ],
    )
    .await;
    for shard in [2, 3, last - 1] {
        put_counters(
            &store,
            shard,
            &day,
            &[("failed_count", 1), ("failed_paise", 300)],
        )
        .await;
    }
    put_counters(
        &store,
        5,
        &week_ago,
        &[("failed_count", 1_000), ("failed_paise", 1_000)],
    )
    .await;

    let reply = stats(&api).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let shards = u64::try_from(STATS_SHARDS).unwrap();
    let sum = shards * (shards + 1) / 2;
    assert_eq!(
        tally(&reply.body, &["by_status", "pending"]),
        (sum, 100 * sum)
    );
    assert_eq!(
        tally(&reply.body, &["by_type", "seller_payout"]),
        (sum, 100 * sum)
    );
    assert_eq!(tally(&reply.body, &["total"]), (sum, 100 * sum));
    assert_eq!(tally(&reply.body, &["last_24h", "completed"]), (2, 1_000));
    assert_eq!(tally(&reply.body, &["last_24h", "failed"]), (0, 0));
    assert_eq!(tally(&reply.body, &["last_7d", "completed"]), (0, 0));
    assert_eq!(tally(&reply.body, &["last_7d", "failed"]), (3, 900));

    // What the invariants read: every shard's totals, and no bucket.
    let totals = store.stats_items(&[], &[]).await.unwrap();
    assert_eq!(totals.len(), usize::try_from(STATS_SHARDS).unwrap());
    assert!(totals
        .iter()
        .all(|item| item.bucket == CounterBucket::Totals));
    let pending: i128 = totals.iter().map(|item| item.values["pending_count"]).sum();
    assert_eq!(pending, i128::from(sum));
}

/// A read asks for hours and days by name: a bucket between them that it did not ask
/// for is not handed back, though the query over the range reads it.
#[tokio::test]
async fn a_stats_read_hands_back_only_the_buckets_asked_for() {
    let store = fresh_store().await;
    let now = domain::time::Timestamp::now().as_utc();
    let hours: Vec<String> = (0..3)
        .map(|back| Buckets::of(now - chrono::Duration::hours(back)).hour)
        .collect();
    let days: Vec<String> = (0..3)
        .map(|back| Buckets::of(now - chrono::Duration::days(back)).day)
        .collect();
    for (shard, sk) in [
        (5, format!("HOUR#{}", hours[0])),
        (5, format!("HOUR#{}", hours[1])),
        (6, format!("HOUR#{}", hours[2])),
        (5, format!("DAY#{}", days[0])),
        (7, format!("DAY#{}", days[1])),
        (7, format!("DAY#{}", days[2])),
        (2, "COUNTERS".to_owned()),
    ] {
        put_counters(&store, shard, &sk, &[("completed_count", 1)]).await;
    }
    let items = store
        .stats_items(
            &[hours[0].clone(), hours[2].clone()],
            &[days[0].clone(), days[2].clone()],
        )
        .await
        .unwrap();
    let mut got: Vec<CounterBucket> = items.into_iter().map(|item| item.bucket).collect();
    got.sort_by_key(|bucket| format!("{bucket:?}"));
    let mut expected = vec![
        CounterBucket::Hour(hours[0].clone()),
        CounterBucket::Hour(hours[2].clone()),
        CounterBucket::Day(days[0].clone()),
        CounterBucket::Day(days[2].clone()),
        CounterBucket::Totals,
    ];
    expected.sort_by_key(|bucket| format!("{bucket:?}"));
    assert_eq!(got, expected);
}

/// A shard whose buckets hold more than a query's page (1 MB) is read page by page:
/// nothing past the first page is lost.
#[tokio::test]
async fn a_stats_read_follows_a_query_past_its_first_page() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let store = fresh_store().await;
    let now = domain::time::Timestamp::now().as_utc();
    let hours: Vec<String> = (0..4)
        .map(|back| Buckets::of(now - chrono::Duration::hours(back)).hour)
        .collect();
    // Four items of about 390 KB (the most an item holds is 400 KB): no page holds all.
    let padding = "x".repeat(390_000);
    for hour in &hours {
        let item = std::collections::HashMap::from([
            ("pk".to_owned(), AttributeValue::S("STATS#3".to_owned())),
            ("sk".to_owned(), AttributeValue::S(format!("HOUR#{hour}"))),
            (
                "completed_count".to_owned(),
                AttributeValue::N("1".to_owned()),
            ),
            ("padding".to_owned(), AttributeValue::S(padding.clone())),
        ]);
        devkit::testing::put_item(&store, item).await;
    }
    let first_page = store
        .client()
        .query()
        .table_name(store.table())
        .key_condition_expression("pk = :pk AND begins_with(sk, :hour)")
        .expression_attribute_values(":pk", AttributeValue::S("STATS#3".to_owned()))
        .expression_attribute_values(":hour", AttributeValue::S("HOUR#".to_owned()))
        .send()
        .await
        .unwrap();
    assert!(
        first_page.last_evaluated_key.is_some(),
        "the test needs a query of more than one page; its first held {}",
        first_page.count
    );
    let items = store.stats_items(&hours, &[]).await.unwrap();
    let completed: i128 = items
        .iter()
        .map(|item| item.endings(PayoutStatus::Completed).0)
        .sum();
    assert_eq!(completed, 4);
}
