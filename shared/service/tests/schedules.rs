//! Payout schedules against DynamoDB Local: the two endpoints through
//! `App::handle`, and the sweep that turns due schedules into payouts, once per period.

use std::time::{Duration, Instant};

use api::auth::DEV_JWT_SECRET;
use devkit::api::{Api, Call, Reply};
use devkit::invariants::{assert_books_balance, user_payouts};
use devkit::testing::{fresh_store, local_config};
use devkit::token::mint;
use domain::actor::Role;
use domain::money::Paise;
use domain::payout::{PayoutStatus, PayoutType};
use domain::time::Timestamp;
use serde_json::{json, Value};
use service::config::PayoutLimits;
use service::schedule::sweep::{sweep, SweepOptions, SweepSummary};
use service::schedule::{period_of, scheduled_payout_id, Frequency, PayoutSchedule};
use service::scout::Scout;
use store::{CreateRefused, ScheduleAdvance, Store};

const OWNER: u64 = 7;
const OTHER: u64 = 8;
const ADMIN: u64 = 1;
const IST: chrono_tz::Tz = chrono_tz::Asia::Kolkata;

fn token(user: u64) -> String {
    mint(DEV_JWT_SECRET, user, Role::User, 600).unwrap()
}

fn admin() -> String {
    mint(DEV_JWT_SECRET, ADMIN, Role::Admin, 600).unwrap()
}

fn limits() -> PayoutLimits {
    local_config(&[]).unwrap().limits
}

async fn scout(store: &Store, scout_id: &str, owner: u64, earnings: u64) {
    store
        .insert_scout(&Scout::with_earnings(scout_id, owner, Paise(earnings)))
        .await
        .unwrap();
}

async fn put(api: &Api, token: &str, body: Value) -> Reply {
    let body = body.to_string();
    api.call(Call {
        method: "PUT",
        path: "/me/payout-schedule",
        token: Some(token),
        body: Some(&body),
        ..Call::default()
    })
    .await
}

async fn stored(store: &Store, scout_id: &str) -> Option<PayoutSchedule> {
    store.schedule_item(scout_id).await.unwrap()
}

/// Makes a schedule due at `due`, as time passing would.
async fn due_at(store: &Store, scout_id: &str, owner: u64, frequency: Frequency, due: Timestamp) {
    let schedule = PayoutSchedule {
        scout_id: scout_id.to_owned(),
        user_id: owner,
        frequency,
        day: match frequency {
            Frequency::Weekly | Frequency::Monthly => Some(1),
            _ => None,
        },
        minimum_paise: Paise(100),
        next_due_at: Some(due),
        next_period: Some(period_of(due, IST)),
        last_swept_at: None,
        updated_at: Some(due),
    };
    store
        .put_schedule(scout_id, &schedule, Some(due))
        .await
        .unwrap();
}

/// Credits a scout as the marketplace does: a completed order's bounty.
async fn bounty(store: &Store, order_id: &str, scout_id: &str, paise: u64) {
    let fixture: devkit::fixture::Fixture = serde_json::from_value(json!({
        "orders": [{"order_id": order_id, "buyer_id": 90, "seller_id": 91,
                    "item_price_paise": 100_000, "status": "delivered",
                    "scout_id": scout_id, "scout_bounty_paise": paise}],
        "complete_orders": [order_id]
    }))
    .unwrap();
    fixture
        .load(store, &devkit::testing::vault().await, limits())
        .await
        .unwrap();
}

async fn sweep_now(store: &Store) -> SweepSummary {
    sweep(
        store,
        limits(),
        IST,
        Timestamp::now(),
        None,
        SweepOptions::default(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn an_owner_sets_and_reads_a_schedule() {
    let store = fresh_store().await;
    scout(&store, "s-1", OWNER, 50_000).await;
    let api = Api::new(store.clone());

    let reply = put(
        &api,
        &token(OWNER),
        json!({"scout_id": "s-1", "frequency": "weekly", "day": 1, "minimum_paise": 20000}),
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["frequency"], "weekly");
    assert_eq!(reply.body["day"], 1);
    assert_eq!(reply.body["minimum_paise"], 20000);
    assert_eq!(reply.body["time_zone"], "Asia/Kolkata");
    // Midnight on a Monday in India is 18:30 UTC on the Sunday before.
    let due = Timestamp::parse(reply.body["next_due_at"].as_str().unwrap()).unwrap();
    assert!(due > Timestamp::now() && due < Timestamp::now().plus_secs(7 * 86_400));
    assert!(due.to_string().ends_with("T18:30:00.000Z"), "{due}");
    assert_eq!(
        chrono::Datelike::weekday(&period_of(due, IST)),
        chrono::Weekday::Mon
    );

    let saved = stored(&store, "s-1").await.unwrap();
    assert_eq!(
        (
            saved.frequency,
            saved.day,
            saved.minimum_paise,
            saved.next_due_at
        ),
        (Frequency::Weekly, Some(1), Paise(20_000), Some(due))
    );
    let read = api
        .get("/me/payout-schedule", "scout_id=s-1", &token(OWNER))
        .await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body, reply.body);
    // Support reads anyone's.
    let read = api
        .get("/me/payout-schedule", "scout_id=s-1", &admin())
        .await;
    assert_eq!(read.body, reply.body);

    // Back to manual: off the sweep's index, nothing due.
    let reply = put(
        &api,
        &token(OWNER),
        json!({"scout_id": "s-1", "frequency": "manual"}),
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["next_due_at"], Value::Null);
    assert_eq!(reply.body["minimum_paise"], limits().min.get());
    assert_eq!(stored(&store, "s-1").await.unwrap().next_due_at, None);
}

#[tokio::test]
async fn a_scout_without_a_schedule_is_manual() {
    let store = fresh_store().await;
    scout(&store, "s-1", OWNER, 50_000).await;
    let api = Api::new(store.clone());
    let read = api
        .get("/me/payout-schedule", "scout_id=s-1", &token(OWNER))
        .await;
    assert_eq!(read.status, 200, "{:?}", read.body);
    assert_eq!(read.body["frequency"], "manual");
    assert_eq!(read.body["next_due_at"], Value::Null);
    assert_eq!(read.body["updated_at"], Value::Null);
    assert_eq!(stored(&store, "s-1").await, None, "reading stores nothing");
}

#[tokio::test]
async fn bad_schedules_are_refused_with_their_field_and_change_nothing() {
    let store = fresh_store().await;
    scout(&store, "s-1", OWNER, 50_000).await;
    let api = Api::new(store.clone());
    let good = put(
        &api,
        &token(OWNER),
        json!({"scout_id": "s-1", "frequency": "monthly", "day": 15}),
    )
    .await;
    assert_eq!(good.status, 200);
    let before = stored(&store, "s-1").await;

    let max = limits().max.get();
    for (body, field) in [
        (json!({"frequency": "daily"}), "scout_id"),
        (json!({"scout_id": "", "frequency": "daily"}), "scout_id"),
        (json!({"scout_id": 12, "frequency": "daily"}), "scout_id"),
        (json!({"scout_id": "s-1"}), "frequency"),
        (
            json!({"scout_id": "s-1", "frequency": "hourly"}),
            "frequency",
        ),
        (json!({"scout_id": "s-1", "frequency": "weekly"}), "day"),
        (
            json!({"scout_id": "s-1", "frequency": "weekly", "day": 0}),
            "day",
        ),
        (
            json!({"scout_id": "s-1", "frequency": "weekly", "day": 8}),
            "day",
        ),
        (
            json!({"scout_id": "s-1", "frequency": "weekly", "day": "1"}),
            "day",
        ),
        (
            json!({"scout_id": "s-1", "frequency": "monthly", "day": 29}),
            "day",
        ),
        (
            json!({"scout_id": "s-1", "frequency": "monthly", "day": 1.5}),
            "day",
        ),
        (
            json!({"scout_id": "s-1", "frequency": "daily", "day": 3}),
            "day",
        ),
        (
            json!({"scout_id": "s-1", "frequency": "manual", "day": 3}),
            "day",
        ),
        (
            json!({"scout_id": "s-1", "frequency": "daily", "minimum_paise": 0}),
            "minimum_paise",
        ),
        (
            json!({"scout_id": "s-1", "frequency": "daily", "minimum_paise": -5}),
            "minimum_paise",
        ),
        (
            json!({"scout_id": "s-1", "frequency": "daily", "minimum_paise": 100.0}),
            "minimum_paise",
        ),
        (
            json!({"scout_id": "s-1", "frequency": "daily", "minimum_paise": max + 1}),
            "minimum_paise",
        ),
    ] {
        let reply = put(&api, &token(OWNER), body.clone()).await;
        assert_eq!(reply.status, 400, "{body}: {:?}", reply.body);
        assert_eq!(reply.code(), "invalid_payout_schedule", "{body}");
        assert_eq!(reply.body["error"]["field"], field, "{body}");
    }
    let unknown = put(
        &api,
        &token(OWNER),
        json!({"scout_id": "s-1", "frequency": "daily", "at": "09:00"}),
    )
    .await;
    assert_eq!((unknown.status, unknown.code()), (400, "bad_request"));
    let garbage = api
        .call(Call {
            method: "PUT",
            path: "/me/payout-schedule",
            token: Some(&token(OWNER)),
            body: Some("{not json"),
            ..Call::default()
        })
        .await;
    assert_eq!(garbage.status, 400);
    let no_scout = api.get("/me/payout-schedule", "", &token(OWNER)).await;
    assert_eq!((no_scout.status, no_scout.code()), (400, "bad_request"));

    assert_eq!(stored(&store, "s-1").await, before, "nothing changed");
}

#[tokio::test]
async fn only_the_owner_sets_a_schedule_and_only_they_or_an_admin_read_it() {
    let store = fresh_store().await;
    scout(&store, "s-1", OWNER, 50_000).await;
    let api = Api::new(store.clone());
    let daily = json!({"scout_id": "s-1", "frequency": "daily"});

    let stranger = put(&api, &token(OTHER), daily.clone()).await;
    assert_eq!((stranger.status, stranger.code()), (403, "forbidden"));
    // An admin is not the owner: when the owner's money moves is the owner's call.
    let by_admin = put(&api, &admin(), daily.clone()).await;
    assert_eq!(by_admin.status, 403);
    let missing = put(
        &api,
        &token(OWNER),
        json!({"scout_id": "s-9", "frequency": "daily"}),
    )
    .await;
    assert_eq!((missing.status, missing.code()), (404, "not_found"));
    let anonymous = api
        .call(Call {
            method: "PUT",
            path: "/me/payout-schedule",
            body: Some(&daily.to_string()),
            ..Call::default()
        })
        .await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(stored(&store, "s-1").await, None, "nothing stored");

    let read = api
        .get("/me/payout-schedule", "scout_id=s-1", &token(OTHER))
        .await;
    assert_eq!(read.status, 403);
    let read = api
        .get("/me/payout-schedule", "scout_id=s-9", &token(OWNER))
        .await;
    assert_eq!(read.status, 404);
}

#[tokio::test]
async fn a_due_schedule_is_paid_once_per_period_however_often_it_is_swept() {
    let store = fresh_store().await;
    scout(&store, "s-1", OWNER, 75_000).await;
    let due = Timestamp::now().minus_secs(3_600);
    due_at(&store, "s-1", OWNER, Frequency::Daily, due).await;

    let first = sweep_now(&store).await;
    assert_eq!((first.due, first.requested), (1, 1), "{first:?}");
    assert_eq!(first.requested_paise, Paise(75_000));
    let payout_id = scheduled_payout_id("s-1", period_of(due, IST));
    let payout = store.payout(payout_id).await.unwrap().unwrap();
    assert_eq!(
        (
            payout.status,
            payout.payout_type,
            payout.amount_paise,
            payout.user_id
        ),
        (
            PayoutStatus::Pending,
            PayoutType::ScoutBounty,
            Paise(75_000),
            OWNER
        )
    );
    let s1 = store.scout("s-1").await.unwrap().unwrap();
    assert_eq!(
        (s1.earnings_paise, s1.reserved_paise),
        (Paise(0), Paise(75_000))
    );
    let schedule = stored(&store, "s-1").await.unwrap();
    let next = schedule.next_due_at.unwrap();
    assert!(next > Timestamp::now() && next <= Timestamp::now().plus_secs(86_400));
    assert!(schedule.last_swept_at.is_some());

    // The same day again: nothing is due any more.
    let again = sweep_now(&store).await;
    assert_eq!((again.due, again.requested), (0, 0), "{again:?}");

    // Should a period paid already be due again (the payout and the move are one
    // transaction, but an item restored from a backup is not), the next sweep finds its
    // payout made and only moves on. New earnings meanwhile wait for the next period.
    bounty(&store, "o-1", "s-1", 10_000).await;
    due_at(&store, "s-1", OWNER, Frequency::Daily, due).await;
    let resumed = sweep_now(&store).await;
    assert_eq!(
        (resumed.due, resumed.requested, resumed.already_requested),
        (1, 0, 1),
        "{resumed:?}"
    );
    assert_eq!(user_payouts(&store, OWNER).await.len(), 1);
    assert!(stored(&store, "s-1").await.unwrap().next_due_at.unwrap() > Timestamp::now());
    assert_books_balance(&store, &["s-1"], &[OWNER]).await;
}

#[tokio::test]
async fn overlapping_sweeps_make_one_payout_per_scout() {
    let store = fresh_store().await;
    let due = Timestamp::now().minus_secs(60);
    let scouts: Vec<String> = (0..20).map(|n| format!("s-{n}")).collect();
    for (n, scout_id) in scouts.iter().enumerate() {
        scout(&store, scout_id, 100 + n as u64, 10_000 + n as u64).await;
        due_at(&store, scout_id, 100 + n as u64, Frequency::Weekly, due).await;
    }
    let (a, b, c) = tokio::join!(sweep_now(&store), sweep_now(&store), sweep_now(&store));
    assert_eq!(
        a.requested + b.requested + c.requested,
        20,
        "{a:?} {b:?} {c:?}"
    );
    for (n, scout_id) in scouts.iter().enumerate() {
        let payouts = user_payouts(&store, 100 + n as u64).await;
        assert_eq!(payouts.len(), 1, "{scout_id}");
        assert_eq!(payouts[0].amount_paise, Paise(10_000 + n as u64));
        assert_eq!(
            payouts[0].payout_id,
            scheduled_payout_id(scout_id, period_of(due, IST))
        );
    }
    let ids: Vec<&str> = scouts.iter().map(String::as_str).collect();
    let users: Vec<u64> = (0..20).map(|n| 100 + n).collect();
    assert_books_balance(&store, &ids, &users).await;
}

#[tokio::test]
async fn below_the_minimum_the_period_is_skipped_and_the_earnings_wait() {
    let store = fresh_store().await;
    scout(&store, "s-1", OWNER, 5_000).await;
    let api = Api::new(store.clone());
    let reply = put(
        &api,
        &token(OWNER),
        json!({"scout_id": "s-1", "frequency": "daily", "minimum_paise": 10000}),
    )
    .await;
    assert_eq!(reply.status, 200);
    let mut schedule = stored(&store, "s-1").await.unwrap();
    let due = Timestamp::now().minus_secs(60);
    schedule.next_due_at = Some(due);
    store
        .put_schedule("s-1", &schedule, Some(due))
        .await
        .unwrap();

    let swept = sweep_now(&store).await;
    assert_eq!(
        (swept.due, swept.below_minimum, swept.requested),
        (1, 1, 0),
        "{swept:?}"
    );
    assert!(user_payouts(&store, OWNER).await.is_empty());
    assert_eq!(
        store.scout("s-1").await.unwrap().unwrap().earnings_paise,
        Paise(5_000)
    );
    assert!(stored(&store, "s-1").await.unwrap().next_due_at.unwrap() > Timestamp::now());
}

/// A scout the marketplace deactivated requests nothing by schedule either: its due
/// period passes, its earnings stay, and once active again the next period pays.
#[tokio::test]
async fn a_deactivated_scout_lets_its_period_pass() {
    let store = fresh_store().await;
    scout(&store, "s-1", OWNER, 50_000).await;
    let due = Timestamp::now().minus_secs(60);
    due_at(&store, "s-1", OWNER, Frequency::Daily, due).await;
    assert!(store
        .update_scout_profile(store::ScoutProfileUpdate {
            scout_id: "s-1",
            owner: OWNER,
            display_name: None,
            active: false,
            as_of: None,
        })
        .await
        .unwrap());

    let swept = sweep_now(&store).await;
    assert_eq!(
        (swept.due, swept.inactive, swept.requested, swept.errors),
        (1, 1, 0, 0),
        "{swept:?}"
    );
    assert!(user_payouts(&store, OWNER).await.is_empty());
    assert_eq!(
        store.scout("s-1").await.unwrap().unwrap().earnings_paise,
        Paise(50_000)
    );
    assert!(stored(&store, "s-1").await.unwrap().next_due_at.unwrap() > Timestamp::now());

    assert!(store
        .update_scout_profile(store::ScoutProfileUpdate {
            scout_id: "s-1",
            owner: OWNER,
            display_name: None,
            active: true,
            as_of: None,
        })
        .await
        .unwrap());
    due_at(
        &store,
        "s-1",
        OWNER,
        Frequency::Daily,
        Timestamp::now().minus_secs(1),
    )
    .await;
    let swept = sweep_now(&store).await;
    assert_eq!(swept.requested, 1, "{swept:?}");
    assert_books_balance(&store, &["s-1"], &[OWNER]).await;
}

#[tokio::test]
async fn earnings_above_the_largest_payout_are_paid_up_to_it() {
    let store = fresh_store().await;
    let max = limits().max.get();
    scout(&store, "s-1", OWNER, max + 12_345).await;
    due_at(
        &store,
        "s-1",
        OWNER,
        Frequency::Monthly,
        Timestamp::now().minus_secs(1),
    )
    .await;
    let swept = sweep_now(&store).await;
    assert_eq!(swept.requested_paise, Paise(max));
    assert_eq!(
        store.scout("s-1").await.unwrap().unwrap().earnings_paise,
        Paise(12_345)
    );
    assert_books_balance(&store, &["s-1"], &[OWNER]).await;
}

#[tokio::test]
async fn schedules_not_yet_due_and_manual_ones_are_left_alone() {
    let store = fresh_store().await;
    scout(&store, "s-1", OWNER, 50_000).await;
    scout(&store, "s-2", OTHER, 50_000).await;
    due_at(
        &store,
        "s-1",
        OWNER,
        Frequency::Daily,
        Timestamp::now().plus_secs(60),
    )
    .await;
    let api = Api::new(store.clone());
    let reply = put(
        &api,
        &token(OTHER),
        json!({"scout_id": "s-2", "frequency": "manual"}),
    )
    .await;
    assert_eq!(reply.status, 200);
    let swept = sweep_now(&store).await;
    assert_eq!((swept.due, swept.requested), (0, 0), "{swept:?}");
    assert!(user_payouts(&store, OWNER).await.is_empty());
    assert!(user_payouts(&store, OTHER).await.is_empty());
}

#[tokio::test]
async fn a_long_sweep_stops_between_pages_before_the_deadline_and_the_next_resumes() {
    let store = fresh_store().await;
    let due = Timestamp::now().minus_secs(60);
    let scouts: Vec<String> = (0..30).map(|n| format!("s-{n:02}")).collect();
    for (n, scout_id) in scouts.iter().enumerate() {
        scout(&store, scout_id, 100 + n as u64, 1_000).await;
        due_at(&store, scout_id, 100 + n as u64, Frequency::Daily, due).await;
    }
    let options = SweepOptions {
        page_size: 10,
        concurrency: 4,
        margin: Duration::from_secs(60),
    };
    // Less than the margin left from the start: one page, then stop.
    let first = sweep(
        &store,
        limits(),
        IST,
        Timestamp::now(),
        Some(Instant::now() + Duration::from_secs(30)),
        options,
    )
    .await
    .unwrap();
    assert_eq!(
        (first.pages, first.requested, first.stopped_early),
        (1, 10, true),
        "{first:?}"
    );
    let rest = sweep(&store, limits(), IST, Timestamp::now(), None, options)
        .await
        .unwrap();
    assert_eq!(
        (rest.requested, rest.stopped_early),
        (20, false),
        "{rest:?}"
    );
    // The merged read of the due shards knows a page is the last one: no empty read
    // after it (a single partition's query, with a full page, could not tell).
    assert_eq!(rest.pages, 2, "two pages of ten");
    for (n, _) in scouts.iter().enumerate() {
        assert_eq!(user_payouts(&store, 100 + n as u64).await.len(), 1);
    }
    let ids: Vec<&str> = scouts.iter().map(String::as_str).collect();
    let users: Vec<u64> = (0..30).map(|n| 100 + n).collect();
    assert_books_balance(&store, &ids, &users).await;
}

#[tokio::test]
async fn a_payout_is_not_made_for_a_schedule_that_changed_since_it_was_read() {
    let store = fresh_store().await;
    scout(&store, "s-1", OWNER, 40_000).await;
    let due = Timestamp::now().minus_secs(60);
    due_at(&store, "s-1", OWNER, Frequency::Daily, due).await;
    let read = stored(&store, "s-1").await.unwrap();
    // The owner switches to manual between the sweep's read and its payout.
    let api = Api::new(store.clone());
    let reply = put(
        &api,
        &token(OWNER),
        json!({"scout_id": "s-1", "frequency": "manual"}),
    )
    .await;
    assert_eq!(reply.status, 200);

    let period = period_of(due, IST);
    let mut payout = domain::payout::Payout::new(
        scheduled_payout_id("s-1", period),
        OWNER,
        PayoutType::ScoutBounty,
        Paise(40_000),
        Timestamp::now(),
    );
    payout.scout_id = Some("s-1".to_owned());
    let next = Timestamp::now().plus_secs(86_400);
    let next_period = period_of(next, IST).to_string();
    let refused = store
        .create_scout_payout(
            &payout,
            "s-1",
            None,
            Some(ScheduleAdvance {
                scout_id: "s-1",
                from: read.next_due_at.unwrap(),
                to: next,
                to_period: &next_period,
                swept_at: Timestamp::now(),
            }),
        )
        .await;
    assert!(
        matches!(refused, Err(CreateRefused::ScheduleMoved)),
        "{refused:?}"
    );
    assert!(user_payouts(&store, OWNER).await.is_empty());
    let s1 = store.scout("s-1").await.unwrap().unwrap();
    assert_eq!(
        (s1.earnings_paise, s1.reserved_paise),
        (Paise(40_000), Paise(0))
    );
    assert_eq!(
        stored(&store, "s-1").await.unwrap().frequency,
        Frequency::Manual
    );
    assert_eq!(sweep_now(&store).await.due, 0);
}

#[tokio::test]
async fn a_period_keeps_its_name_when_the_operator_changes_time_zone() {
    let store = fresh_store().await;
    scout(&store, "s-1", OWNER, 40_000).await;
    // Due at midnight IST on 1 December: still 30 November in Los Angeles.
    let due = Timestamp::parse("2026-11-30T18:30:00Z").unwrap();
    due_at(&store, "s-1", OWNER, Frequency::Daily, due).await;
    let los_angeles = chrono_tz::America::Los_Angeles;
    let swept = sweep(
        &store,
        limits(),
        los_angeles,
        Timestamp::now(),
        None,
        SweepOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(swept.requested, 1, "{swept:?}");
    let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    assert!(store
        .payout(scheduled_payout_id("s-1", day))
        .await
        .unwrap()
        .is_some());
    // The next period is named in the zone it was computed in.
    let schedule = stored(&store, "s-1").await.unwrap();
    assert_eq!(
        schedule.next_period,
        Some(period_of(schedule.next_due_at.unwrap(), los_angeles))
    );
}
