//! 2. 50 concurrent completions of one order: one payout per order.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::fixtures::{books, fresh_store, payouts_of};
use super::text::{answer, describe_counts};
use super::{Db, Row};
use anyhow::{Context, Result};
use api::auth::DEV_JWT_SECRET;
use devkit::api::Api;
use domain::actor::Role;
use domain::money::Paise;
use serde_json::Value;
use service::order::{Order, OrderStatus};
use service::scout::Scout;
use tokio::sync::Barrier;
use tokio::task::JoinHandle;

pub(super) async fn one_order(db: &Db) -> Result<Row> {
    const ORDER: &str = "o-load";
    const BUYER: u64 = 9;
    const SELLER: u64 = 8;
    const SCOUT: &str = "s-bounty";
    const SCOUT_OWNER: u64 = 7;
    const PRICE: u64 = 50_000;
    const BOUNTY: u64 = 500;
    const REQUESTS: usize = 50;

    let store = fresh_store(&db.client, "order").await?;
    store
        .insert_scout(&Scout::with_earnings(SCOUT, SCOUT_OWNER, Paise::ZERO))
        .await?;
    store
        .insert_order(&Order {
            order_id: ORDER.to_owned(),
            buyer_id: BUYER,
            seller_id: SELLER,
            item_price_paise: Paise(PRICE),
            status: OrderStatus::Delivered,
            scout_id: Some(SCOUT.to_owned()),
            scout_bounty_paise: Some(Paise(BOUNTY)),
            payout_id: None,
            completed_at: None,
            currency: Default::default(),
            revision: 0,
            updated_at: None,
            reported_at: None,
        })
        .await?;
    let expected_id = Order::seller_payout_id(ORDER).to_string();
    let api = Arc::new(Api::new(store.clone()));
    let token = Arc::new(devkit::token::mint(DEV_JWT_SECRET, BUYER, Role::User, 600)?);
    let path = Arc::new(format!("/orders/{ORDER}/complete"));
    let barrier = Arc::new(Barrier::new(REQUESTS));
    db.counter.reset();
    let started = Instant::now();
    let calls: Vec<JoinHandle<(Duration, u16, String, Value)>> = (0..REQUESTS)
        .map(|_| {
            let (api, token, path, barrier) =
                (api.clone(), token.clone(), path.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let sent = Instant::now();
                let reply = api.patch(&path, &token).await;
                let payout_id = reply.body["payout"]["payout_id"].clone();
                (
                    sent.elapsed(),
                    reply.status,
                    reply.code().to_owned(),
                    payout_id,
                )
            })
        })
        .collect();
    let mut row = Row::new("2. 50 concurrent completions of one order");
    let mut answers: BTreeMap<String, usize> = BTreeMap::new();
    let mut other_payout_ids = Vec::new();
    for call in calls {
        let (latency, status, code, payout_id) = call.await.context("a completion task died")?;
        row.latencies.push(latency);
        if status == 200 && payout_id.as_str() != Some(expected_id.as_str()) {
            other_payout_ids.push(payout_id.to_string());
        }
        *answers.entry(answer(status, &code)).or_default() += 1;
    }
    row.wall = started.elapsed();
    db.note_requests(&mut row, "while timed");
    row.requests = REQUESTS;

    let payouts = payouts_of(&store, SELLER).await?;
    let order = store
        .order(ORDER)
        .await?
        .context("the order is missing after the burst")?;
    let scout = store
        .scout(SCOUT)
        .await?
        .context("the bounty scout is missing")?;
    let one_payout = payouts.len() == 1
        && payouts[0].payout_id.to_string() == expected_id
        && order.status == OrderStatus::Completed
        && order.payout_id.map(|id| id.to_string()) == Some(expected_id.clone());
    row.check(
        one_payout,
        format!(
            "{} seller payout(s), order {} with payout {}",
            payouts.len(),
            order.status,
            order
                .payout_id
                .map_or("none".to_owned(), |id| id.to_string())
        ),
    );
    // A completion that loses the race reads the completed order and returns its
    // payout (200); one that keeps losing the transaction to its twins gets
    // `409 conflict` (try again). Nothing else is a correct answer.
    let only_documented = answers
        .keys()
        .all(|answer| answer == "200" || answer == "409 conflict");
    row.check(
        only_documented && other_payout_ids.is_empty(),
        format!(
            "answers {}{}",
            describe_counts(&answers),
            if other_payout_ids.is_empty() {
                ", every 200 names the one payout".to_owned()
            } else {
                format!(", 200s naming another payout: {other_payout_ids:?}")
            }
        ),
    );
    row.check(
        scout.earnings_paise == Paise(BOUNTY) && scout.credited_paise == Paise(BOUNTY),
        format!("bounty credited {} paise", scout.credited_paise.get()),
    );
    books(&mut row, &store, &[SCOUT], &[SELLER, SCOUT_OWNER], true).await;
    Ok(row)
}
