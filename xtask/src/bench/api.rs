//! §2 and §3: each endpoint's handler in process (the function's own code, through
//! `App::handle`), against DynamoDB Local — its DynamoDB requests per call and its
//! warm latency next to a raw `GetItem` on the same table; and my-payouts' cost as a
//! user's history grows.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use api::auth::DEV_JWT_SECRET;
use api::Endpoint;
use devkit::api::{Api, Call};
use domain::actor::Role;
use domain::money::Paise;
use gateway::Gateway;
use platform::vault::Vault;
use service::config::Config;
use service::order::{Order, OrderStatus};
use store::keys;

use super::stats::percentile;
use super::world::World;

pub struct EndpointFigures {
    pub endpoint: Endpoint,
    pub p50: Duration,
    pub p99: Duration,
    pub requests_per_call: BTreeMap<String, f64>,
}

pub struct ApiFigures {
    pub calls: usize,
    /// A request refused by validation after its token was verified: the handler's own
    /// work (token, routing, parsing, the JSON error) with no DynamoDB request.
    pub handler_only_p50: Duration,
    pub get_item_p50: Duration,
    pub get_item_p99: Duration,
    pub endpoints: Vec<EndpointFigures>,
    /// (payouts the user has, requests per my-payouts call, p50)
    pub my_payouts_scaling: Vec<(usize, f64, Duration)>,
    /// (payouts in the table, requests per stats call, p50)
    pub stats_scaling: Vec<(usize, f64, Duration)>,
}

pub(super) fn api_for(world: &World, vault: &Vault, success_rate: &str) -> Result<Api> {
    let (config, gateway) = devkit::testing::local_parts(&[
        ("GATEWAY_SIM_LATENCY_MS", "0"),
        ("GATEWAY_SIM_SUCCESS_RATE", success_rate),
        ("GATEWAY_SIM_SEED", "1"),
        ("PAYOUT_MIN_PAISE", "1"),
    ])?;
    let config = Config {
        table_name: world.store.table().to_owned(),
        vault: Some(vault.clone()),
        ..config
    };
    // The gateway's ledger goes through the uncounted client: its requests are the bank's.
    let mut api = Api::with_config(config, &gateway, world.store.clone());
    api.app.gateway = Some(Gateway::Simulated(world.gateway(0, success_rate.parse()?)));
    Ok(api)
}

/// One point of a "flat as the data grows" row: GET `path?query` repeatedly, each answer
/// checked by `expected`; DynamoDB requests per call and the median latency.
async fn scaling_point(
    world: &World,
    api: &Api,
    calls: usize,
    (path, query): (&str, &str),
    token: &str,
    expected: impl Fn(&serde_json::Value) -> bool,
) -> Result<(f64, Duration)> {
    let mut samples = Vec::new();
    world.counter.reset();
    let rounds = calls.min(50);
    for _ in 0..rounds {
        let started = Instant::now();
        let reply = api.get(path, query, token).await;
        samples.push(started.elapsed());
        ensure!(expected(&reply.body), "{path}: {:?}", reply.body);
    }
    Ok((
        world.counter.total() as f64 / rounds as f64,
        percentile(&samples, 50.0),
    ))
}

/// The scouts whose payouts fill payout-stats' table, one transaction at a time each,
/// and the first of their users (one each).
const STATS_SCOUTS: usize = 8;
const STATS_FIRST_USER: u64 = 300;

pub(super) fn token(user: u64, role: Role) -> Result<String> {
    devkit::token::mint(DEV_JWT_SECRET, user, role, 3600)
}

pub async fn run(endpoint: &str, vault: &Vault, quick: bool) -> Result<ApiFigures> {
    let calls = if quick { 20 } else { 200 };
    let warmup = 5;
    let world = World::new(endpoint).await?;
    world.rich_scout("s-bench", 7).await?;
    let api = api_for(&world, vault, "1")?;
    let declining = api_for(&world, vault, "0")?;
    let (owner, buyer, admin) = (
        token(7, Role::User)?,
        token(9, Role::User)?,
        token(1, Role::Admin)?,
    );
    let marketplace = devkit::token::mint_service(DEV_JWT_SECRET, "marketplace-bench", 3600)?;

    // The baseline: a strongly consistent GetItem of one small item, as the store reads.
    let mut get_item = Vec::new();
    for round in 0..calls + warmup {
        let started = Instant::now();
        world
            .store
            .client()
            .get_item()
            .table_name(world.store.table())
            .key(
                keys::PK,
                aws_sdk_dynamodb::types::AttributeValue::S(keys::scout_pk("s-bench")),
            )
            .key(
                keys::SK,
                aws_sdk_dynamodb::types::AttributeValue::S(keys::SCOUT_SK.to_owned()),
            )
            .consistent_read(true)
            .send()
            .await?;
        if round >= warmup {
            get_item.push(started.elapsed());
        }
    }

    // The handler alone: verified token, parsed input, a 400 with no DynamoDB request.
    let mut handler_only = Vec::new();
    for round in 0..calls + warmup {
        let started = Instant::now();
        let reply = api
            .post(
                "/scouts/s-bench/request-payout",
                &owner,
                Some(r#"{"amount_paise": "x"}"#),
            )
            .await;
        if round >= warmup {
            handler_only.push(started.elapsed());
        }
        ensure!(reply.status == 400, "expected a 400, got {}", reply.status);
    }

    // Inputs for the endpoints that change what they act on.
    let n = calls + warmup;
    let mut orders = Vec::new();
    for index in 0..n {
        let order = Order {
            order_id: format!("o-bench-{index}"),
            buyer_id: 9,
            seller_id: 8,
            item_price_paise: Paise(50_000),
            status: OrderStatus::Placed,
            scout_id: Some("s-bench".to_owned()),
            scout_bounty_paise: Some(Paise(500)),
            payout_id: None,
            completed_at: None,
            currency: Default::default(),
            revision: 0,
            updated_at: None,
            reported_at: None,
        };
        world.store.insert_order(&order).await?;
        orders.push(order.order_id);
    }
    let to_process = world.pending("s-bench", 7, n, 16).await?;
    let to_cancel = world.pending("s-bench", 7, n, 16).await?;
    let to_retry = world.pending("s-bench", 7, n, 16).await?;
    // Each bulk call cancels ten payouts of its own.
    let bulk_bodies: Vec<String> = world
        .pending("s-bench", 7, n * 10, 16)
        .await?
        .chunks(10)
        .map(|chunk| {
            let ids: Vec<String> = chunk.iter().map(|p| p.payout_id.to_string()).collect();
            serde_json::json!({"action": "cancel", "payout_ids": ids}).to_string()
        })
        .collect();
    for payout in &to_retry {
        let path = format!("/payouts/process/{}", payout.payout_id);
        let reply = declining.post(&path, &admin, None).await;
        ensure!(
            reply.body["status"] == "failed",
            "could not prepare a failed payout: {:?}",
            reply.body
        );
    }

    let order_reports: Vec<String> = (0..n)
        .map(|_| {
            serde_json::json!({"buyer_id": 9, "seller_id": 8, "item_price_paise": 50_000,
                "status": "placed", "scout_id": "s-bench", "scout_bounty_paise": 500})
            .to_string()
        })
        .collect();
    let credit_keys: Vec<String> = (0..n)
        .map(|round| format!("bench-credit-{round}"))
        .collect();
    let credit = r#"{"direction": "credit", "amount_paise": 100, "reason": "bonus"}"#;

    let mut endpoints = Vec::new();
    // The webhook takes a signature, not a token; its cost per event is written in
    // docs/DATA_MODEL.md.
    for endpoint in Endpoint::ALL.into_iter().filter(|e| e.takes_token()) {
        let mut samples = Vec::new();
        let mut counted = 0;
        world.counter.reset();
        for round in 0..n {
            if round == warmup {
                world.counter.reset();
            }
            let (method, path, query, token, body): (&str, String, &str, &str, Option<&str>) =
                match endpoint {
                    Endpoint::RequestScoutPayout => (
                        "POST",
                        "/scouts/s-bench/request-payout".to_owned(),
                        "",
                        &owner,
                        Some(r#"{"amount_paise": 100}"#),
                    ),
                    Endpoint::CompleteOrder => (
                        "PATCH",
                        format!("/orders/{}/complete", orders[round]),
                        "",
                        &buyer,
                        None,
                    ),
                    Endpoint::MyPayouts => (
                        "GET",
                        "/payouts/my-payouts".to_owned(),
                        "limit=20",
                        &owner,
                        None,
                    ),
                    Endpoint::ListPayouts => (
                        "GET",
                        "/payouts".to_owned(),
                        "status=pending&limit=50",
                        &admin,
                        None,
                    ),
                    Endpoint::ProcessPayout => (
                        "POST",
                        format!("/payouts/process/{}", to_process[round].payout_id),
                        "",
                        &admin,
                        None,
                    ),
                    Endpoint::RetryPayout => (
                        "POST",
                        format!("/payouts/{}/retry", to_retry[round].payout_id),
                        "",
                        &admin,
                        None,
                    ),
                    Endpoint::CancelPayout => (
                        "POST",
                        format!("/payouts/{}/cancel", to_cancel[round].payout_id),
                        "",
                        &admin,
                        None,
                    ),
                    Endpoint::PutPayoutAccount => (
                        "PUT",
                        "/me/payout-account".to_owned(),
                        "",
                        &owner,
                        Some(
                            r#"{"type": "vpa", "name": "Bench Owner", "address": "bench@okhdfc"}"#,
                        ),
                    ),
                    Endpoint::GetPayoutAccount => {
                        ("GET", "/me/payout-account".to_owned(), "", &owner, None)
                    }
                    Endpoint::GetUserPayoutAccount => (
                        "GET",
                        "/users/7/payout-account".to_owned(),
                        "",
                        &admin,
                        None,
                    ),
                    Endpoint::PutPayoutSchedule => (
                        "PUT",
                        "/me/payout-schedule".to_owned(),
                        "",
                        &owner,
                        Some(r#"{"scout_id": "s-bench", "frequency": "weekly", "day": 1}"#),
                    ),
                    Endpoint::GetPayoutSchedule => (
                        "GET",
                        "/me/payout-schedule".to_owned(),
                        "scout_id=s-bench",
                        &owner,
                        None,
                    ),
                    Endpoint::BulkPayouts => (
                        "POST",
                        "/payouts/bulk".to_owned(),
                        "",
                        &admin,
                        Some(bulk_bodies[round].as_str()),
                    ),
                    Endpoint::PayoutStats => ("GET", "/payouts/stats".to_owned(), "", &admin, None),
                    // A new scout and a new order each round: the creating write.
                    Endpoint::PutScout => (
                        "PUT",
                        format!("/scouts/s-put-{round}"),
                        "",
                        &marketplace,
                        Some(r#"{"user_id": 7, "display_name": "Bench", "active": true}"#),
                    ),
                    Endpoint::PutOrder => (
                        "PUT",
                        format!("/orders/o-put-{round}"),
                        "",
                        &marketplace,
                        Some(order_reports[round].as_str()),
                    ),
                    Endpoint::RecordScoutEarnings => (
                        "POST",
                        "/scouts/s-bench/earnings".to_owned(),
                        "",
                        &marketplace,
                        Some(credit),
                    ),
                    // A page of 100 rows of the world's payouts, all statuses.
                    Endpoint::PayoutsCsv => (
                        "GET",
                        "/admin/payouts.csv".to_owned(),
                        "from=2020-01-01&limit=100",
                        &admin,
                        None,
                    ),
                    // They read a day's report, which only a reconciliation run writes:
                    // one GetItem and one Query of the day's findings, counted in
                    // docs/DATA_MODEL.md.
                    Endpoint::ReconciliationReport | Endpoint::ReconciliationCsv => continue,
                    // Each call needs a hold of its own to end (a save of a changed
                    // account first, which the counter would add to its figures): its
                    // cost, one GetItem and one two-item transaction, is counted in
                    // docs/DATA_MODEL.md instead.
                    Endpoint::RazorpayXWebhook
                    | Endpoint::AdminDashboard
                    | Endpoint::EndPayoutAccountHold => continue,
                };
            let started = Instant::now();
            let reply = api
                .call(Call {
                    method,
                    path: &path,
                    query,
                    token: Some(token),
                    body,
                    headers: (endpoint == Endpoint::RecordScoutEarnings)
                        .then(|| ("Idempotency-Key", credit_keys[round].as_str()))
                        .into_iter()
                        .collect(),
                })
                .await;
            let elapsed = started.elapsed();
            ensure!(
                reply.status < 300,
                "{} answered {}: {:?}",
                endpoint.function(),
                reply.status,
                reply.body
            );
            if round >= warmup {
                samples.push(elapsed);
                counted += 1;
            }
        }
        // The endpoints skipped above: no figure rather than a zero one.
        if counted == 0 {
            continue;
        }
        let requests_per_call = world
            .counter
            .counts()
            .into_iter()
            .map(|(operation, count)| (operation, count as f64 / counted as f64))
            .collect();
        endpoints.push(EndpointFigures {
            endpoint,
            p50: percentile(&samples, 50.0),
            p99: percentile(&samples, 99.0),
            requests_per_call,
        });
    }

    // my-payouts for users with 10, 1,000 and 10,000 payouts.
    let sizes: &[usize] = if quick {
        &[10, 100, 1000]
    } else {
        &[10, 1000, 10_000]
    };
    let mut my_payouts_scaling = Vec::new();
    for (index, size) in sizes.iter().enumerate() {
        let user = 100 + index as u64;
        let scout = format!("s-history-{size}");
        world.rich_scout(&scout, user).await?;
        world.pending(&scout, user, *size, 8).await?;
        println!("bench: api: my-payouts with {size} payouts");
        let token = token(user, Role::User)?;
        let (requests, p50) = scaling_point(
            &world,
            &api,
            calls,
            ("/payouts/my-payouts", "limit=20"),
            &token,
            |body| body["total"] == *size as u64,
        )
        .await?;
        my_payouts_scaling.push((*size, requests, p50));
    }

    // payout-stats as the whole table grows, on a table of its own.
    let table_sizes: &[usize] = if quick {
        &[100, 1000]
    } else {
        &[100, 1000, 10_000, 100_000]
    };
    // Eight transactions at once, each on a scout and user of its own: more at once
    // (64 on one scout and user, or on sixteen) made DynamoDB Local time out waiting
    // for a lock once the part's earlier tables held 11,000 payouts (DynamoDB would not),
    // and the figure is the table's size, not whose payouts fill it.
    let stats_world = World::new(endpoint).await?;
    let stats_scouts: Vec<(String, u64)> = (0..STATS_SCOUTS)
        .map(|n| (format!("s-stats-{n}"), STATS_FIRST_USER + n as u64))
        .collect();
    for (scout, user) in &stats_scouts {
        stats_world.rich_scout(scout, *user).await?;
    }
    let stats_api = api_for(&stats_world, vault, "1")?;
    let mut stats_scaling = Vec::new();
    let mut made = 0;
    for size in table_sizes {
        let more = size - made;
        futures::future::try_join_all(stats_scouts.iter().enumerate().map(|(n, (scout, user))| {
            let share = more / STATS_SCOUTS + usize::from(n < more % STATS_SCOUTS);
            stats_world.pending(scout, *user, share, 1)
        }))
        .await?;
        made = *size;
        println!("bench: api: payout-stats over {size} payouts");
        let (requests, p50) = scaling_point(
            &stats_world,
            &stats_api,
            calls,
            ("/payouts/stats", ""),
            &admin,
            |body| body["total"]["count"] == *size as u64,
        )
        .await?;
        stats_scaling.push((*size, requests, p50));
    }

    Ok(ApiFigures {
        calls,
        handler_only_p50: percentile(&handler_only, 50.0),
        get_item_p50: percentile(&get_item, 50.0),
        get_item_p99: percentile(&get_item, 99.0),
        endpoints,
        my_payouts_scaling,
        stats_scaling,
    })
}
