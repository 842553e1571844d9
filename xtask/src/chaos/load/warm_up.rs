//! 0. Warm-up: bursts on a throwaway table before anything is timed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use super::fixtures::fresh_store;
use super::text::{answer, describe_counts};
use super::Db;
use anyhow::{Context, Result};
use api::auth::DEV_JWT_SECRET;
use devkit::api::Api;
use domain::actor::Role;
use domain::money::Paise;
use serde_json::json;
use service::scout::Scout;
use tokio::task::JoinHandle;

/// Bursts like scenario 1's on a throwaway table, before anything is timed. A freshly
/// started DynamoDB Local (what `chaos --load` usually gets) is a cold JVM: its first
/// few hundred transactions run several times slower, which measured the emulator's
/// JIT rather than our code (scenario 1's p50 was ~8 s cold, under 1 s warm).
pub(super) async fn warm_up(db: &Db) -> Result<String> {
    const ROUNDS: u64 = 3;
    const REQUESTS: usize = 200;
    let started = Instant::now();
    let store = fresh_store(&db.client, "warm-up").await?;
    let api = Arc::new(Api::new(store.clone()));
    let body = Arc::new(json!({ "amount_paise": 1_000 }).to_string());
    let mut answers: BTreeMap<String, usize> = BTreeMap::new();
    for round in 0..ROUNDS {
        let (scout, owner) = (format!("s-warm-{round}"), 500 + round);
        store
            .insert_scout(&Scout::with_earnings(&scout, owner, Paise(100_000)))
            .await?;
        let token = Arc::new(devkit::token::mint(DEV_JWT_SECRET, owner, Role::User, 600)?);
        let path = Arc::new(format!("/scouts/{scout}/request-payout"));
        let calls: Vec<JoinHandle<String>> = (0..REQUESTS)
            .map(|_| {
                let (api, token, path, body) =
                    (api.clone(), token.clone(), path.clone(), body.clone());
                tokio::spawn(async move {
                    let reply = api.post(&path, &token, Some(&body)).await;
                    answer(reply.status, reply.code())
                })
            })
            .collect();
        for call in calls {
            *answers
                .entry(call.await.context("a warm-up request died")?)
                .or_default() += 1;
        }
    }
    db.counter.reset();
    Ok(format!(
        "Warm-up first (untimed): {} payout requests in bursts of {REQUESTS} on a throwaway \
         table, {:.1} s ({}).",
        ROUNDS as usize * REQUESTS,
        started.elapsed().as_secs_f64(),
        describe_counts(&answers)
    ))
}
