//! my-payouts and the admin list against DynamoDB Local: newest first, every payout
//! exactly once across pages (cursor or page number), totals equal to the sums.

use std::collections::HashSet;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use devkit::admin::cancel_payout;
use devkit::invariants::assert_books_balance;
use devkit::testing::{fresh_store, gateway, processor_config};
use domain::actor::Actor;
use domain::money::Paise;
use domain::payout::{Payout, PayoutStatus};
use service::config::PayoutLimits;
use service::listing::{list_payouts, my_payouts};
use service::process::Processor;
use service::scout::{request_payout, PayoutRequest, Scout};
use store::Store;

const LIMITS: PayoutLimits = PayoutLimits {
    min: Paise(1),
    max: Paise(10_000_000),
};
const OWNER: u64 = 7;
const OTHER: u64 = 8;

async fn store_with_payouts(count: usize) -> (Store, Vec<Payout>) {
    let store = fresh_store().await;
    for (scout, user) in [("s-1", OWNER), ("s-2", OTHER)] {
        store
            .insert_scout(&Scout::with_earnings(scout, user, Paise(10_000_000)))
            .await
            .unwrap();
    }
    let mut payouts = Vec::new();
    for index in 0..count {
        let request = PayoutRequest {
            scout_id: "s-1".to_owned(),
            amount: Some(Paise(100 + index as u64)),
            idempotency_key: None,
        };
        let requested = request_payout(&store, LIMITS, &Actor::user(OWNER), request)
            .await
            .unwrap();
        payouts.push(requested.payout().clone());
    }
    let other = PayoutRequest {
        scout_id: "s-2".to_owned(),
        amount: Some(Paise(5_000)),
        idempotency_key: None,
    };
    request_payout(&store, LIMITS, &Actor::user(OTHER), other)
        .await
        .unwrap();
    (store, payouts)
}

fn newest_first(mut payouts: Vec<Payout>) -> Vec<uuid::Uuid> {
    payouts.sort_by(|a, b| {
        (b.created_at, b.payout_id.to_string()).cmp(&(a.created_at, a.payout_id.to_string()))
    });
    payouts.into_iter().map(|payout| payout.payout_id).collect()
}

#[tokio::test]
async fn my_payouts_pages_newest_first_with_totals_that_match() {
    let (store, payouts) = store_with_payouts(120).await;
    let gateway = gateway(&store, 1.0);
    Processor::new(&store, &gateway, processor_config(30))
        .run()
        .await
        .unwrap();
    cancel_payout(
        &store,
        &gateway,
        processor_config(30),
        &Actor::admin(1),
        payouts[119].payout_id,
    )
    .await
    .unwrap();
    let me = Actor::user(OWNER);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut first_page = None;
    loop {
        let page = my_payouts(&store, &me, false, 50, cursor.as_deref())
            .await
            .unwrap();
        assert!(page.payouts.len() <= 50);
        assert!(page.payouts.iter().all(|payout| payout.user_id == OWNER));
        seen.extend(page.payouts.iter().cloned());
        first_page.get_or_insert(page.clone());
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let ids: Vec<_> = seen.iter().map(|payout| payout.payout_id).collect();
    assert_eq!(ids.len(), 120);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 120);
    assert_eq!(ids, newest_first(seen.clone()));

    let first_page = first_page.unwrap();
    assert_eq!(first_page.total, 120);
    let sum = |status: &dyn Fn(PayoutStatus) -> bool| {
        Paise(
            seen.iter()
                .filter(|p| status(p.status))
                .map(|p| p.amount_paise.get())
                .sum(),
        )
    };
    assert_eq!(
        first_page.total_paid_paise,
        sum(&|s| s == PayoutStatus::Completed)
    );
    assert_eq!(first_page.pending_paise, sum(&|s| s.is_in_flight()));
    assert_ne!(first_page.total_paid_paise, Paise::ZERO);
    assert_ne!(first_page.pending_paise, Paise::ZERO);
    assert_books_balance(&store, &["s-1", "s-2"], &[]).await;
}

#[tokio::test]
async fn a_cursor_works_only_for_its_own_listing() {
    let (store, _) = store_with_payouts(5).await;
    let mine = my_payouts(&store, &Actor::user(OWNER), false, 2, None)
        .await
        .unwrap();
    let cursor = mine.next_cursor.unwrap();
    let err = my_payouts(&store, &Actor::user(OTHER), false, 2, Some(&cursor))
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), 400);
    let err = list_payouts(
        &store,
        &Actor::admin(1),
        false,
        None,
        None,
        2,
        Some(&cursor),
    )
    .await
    .unwrap_err();
    assert_eq!(err.http_status(), 400);
    // Cursors are not signed (reading routes hold no secret): one rewritten to claim the
    // owner's listing while pointing into another user's index is refused all the same.
    let another = PayoutRequest {
        scout_id: "s-2".to_owned(),
        amount: Some(Paise(6_000)),
        idempotency_key: None,
    };
    request_payout(&store, LIMITS, &Actor::user(OTHER), another)
        .await
        .unwrap();
    let theirs = my_payouts(&store, &Actor::user(OTHER), false, 1, None)
        .await
        .unwrap()
        .next_cursor
        .expect("the other user has more than one payout");
    let decoded = URL_SAFE_NO_PAD.decode(&theirs).unwrap();
    let rewritten = String::from_utf8(decoded).unwrap().replace(
        &format!("\"s\":\"USER#{OTHER}\""),
        &format!("\"s\":\"USER#{OWNER}\""),
    );
    let steered = URL_SAFE_NO_PAD.encode(rewritten);
    let err = my_payouts(&store, &Actor::user(OWNER), false, 2, Some(&steered))
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), 400);
    for limit in [0, 101] {
        let err = my_payouts(&store, &Actor::user(OWNER), false, limit, None)
            .await
            .unwrap_err();
        assert_eq!(err.http_status(), 400);
    }
}

#[tokio::test]
async fn the_admin_list_pages_by_cursor_and_by_page_number_alike() {
    let (store, payouts) = store_with_payouts(120).await;
    let admin = Actor::admin(1);

    let err = list_payouts(&store, &Actor::user(OWNER), false, None, None, 50, None)
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), 403);

    let mut by_cursor = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = list_payouts(
            &store,
            &admin,
            false,
            Some(PayoutStatus::Pending),
            None,
            50,
            cursor.as_deref(),
        )
        .await
        .unwrap();
        by_cursor.extend(page.payouts.iter().map(|payout| payout.payout_id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let mut by_page = Vec::new();
    for page in 1.. {
        let list = list_payouts(
            &store,
            &admin,
            false,
            Some(PayoutStatus::Pending),
            Some(page),
            50,
            None,
        )
        .await
        .unwrap();
        assert_eq!((list.page, list.limit), (page, 50));
        if list.payouts.is_empty() {
            break;
        }
        by_page.extend(list.payouts.iter().map(|payout| payout.payout_id));
    }
    assert_eq!(by_cursor.len(), 121, "120 of one scout and 1 of the other");
    assert_eq!(by_cursor, by_page);
    assert_eq!(by_cursor.iter().collect::<HashSet<_>>().len(), 121);
    let mine: HashSet<_> = payouts.iter().map(|payout| payout.payout_id).collect();
    assert!(mine.iter().all(|id| by_cursor.contains(id)));

    let everything = list_payouts(&store, &admin, false, None, None, 100, None)
        .await
        .unwrap();
    assert_eq!(everything.payouts.len(), 100);
    let completed = list_payouts(
        &store,
        &admin,
        false,
        Some(PayoutStatus::Completed),
        None,
        10,
        None,
    )
    .await
    .unwrap();
    assert!(completed.payouts.is_empty());
    assert_eq!(completed.next_cursor, None);

    let err = list_payouts(&store, &admin, false, None, Some(0), 10, None)
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), 400);
    let err = list_payouts(&store, &admin, false, None, Some(2), 10, Some("x.y"))
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), 400);
}

/// The lists read every shard of the sharded indexes and merge them: at any page size,
/// and either way round, the pages together are exactly the payouts in creation order,
/// each once, however the payouts fall over the shards.
#[tokio::test]
async fn merged_shards_page_in_exact_creation_order_at_any_page_size() {
    let (store, mut payouts) = store_with_payouts(90).await;
    assert!(
        store.sharded_since().await.unwrap().is_some(),
        "a new table reads the sharded indexes"
    );
    let all = list_payouts(&store, &Actor::admin(1), false, None, None, 100, None)
        .await
        .unwrap();
    payouts.extend(
        all.payouts
            .iter()
            .filter(|payout| payout.user_id == OTHER)
            .cloned(),
    );
    let expected = newest_first(payouts);
    assert_eq!(expected.len(), 91);
    for (status, limits) in [
        (None, &[1, 7, 45, 100][..]),
        (Some(PayoutStatus::Pending), &[7, 91][..]),
    ] {
        for &limit in limits {
            let mut seen = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let page = list_payouts(
                    &store,
                    &Actor::admin(1),
                    false,
                    status,
                    None,
                    limit,
                    cursor.as_deref(),
                )
                .await
                .unwrap();
                assert!(page.payouts.len() <= limit);
                seen.extend(page.payouts.iter().map(|payout| payout.payout_id));
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            assert_eq!(seen, expected, "newest first, {status:?}, {limit} a page");
        }
    }
    // The processor's queue: oldest first, a page at a time.
    let mut oldest_first = expected.clone();
    oldest_first.reverse();
    for limit in [4, 33] {
        let mut seen = Vec::new();
        let mut start = None;
        loop {
            let page = store
                .query_payouts(
                    &store::PayoutIndex::Status(PayoutStatus::Pending),
                    false,
                    limit,
                    start,
                )
                .await
                .unwrap();
            seen.extend(page.payouts.iter().map(|payout| payout.payout_id));
            match page.next {
                Some(next) => start = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, oldest_first, "oldest first, {limit} a page");
    }
    // `page=N` lands where the cursors do.
    for page in [2, 5, 13] {
        let list = list_payouts(&store, &Actor::admin(1), false, None, Some(page), 7, None)
            .await
            .unwrap();
        let from = (page as usize - 1) * 7;
        let ids: Vec<_> = list.payouts.iter().map(|payout| payout.payout_id).collect();
        assert_eq!(ids, expected[from..(from + 7).min(91)], "page {page}");
    }
}
