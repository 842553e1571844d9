//! The local RazorpayX's account statement over HTTP: a line for every movement of the
//! business balance (a payout's debit, its money coming back, funds set by hand),
//! `GET /v1/transactions` paging it newest first, and the control routes that make it
//! disagree with the payouts. Each test checks what the fake has stored afterwards.

use std::time::Duration;

use devkit::razorpayx::{wait_for_status, FakeApi, FakeConfig, FakeRazorpayX, ValidationFaults};
use reqwest::StatusCode;
use serde_json::{json, Value};
use service::config::DEV_RAZORPAYX_ACCOUNT_NUMBER;

/// What a new fake starts with (`FakeConfig::default()`).
const OPENING: u64 = 10_000_000_000;

async fn fake(settle_after: Duration) -> FakeRazorpayX {
    FakeRazorpayX::start(
        0,
        FakeConfig {
            settle_after,
            seed: 7,
            ..FakeConfig::default()
        },
    )
    .await
    .unwrap()
}

/// Settles in an hour: a payout stays `processing` until a test moves it.
async fn slow_fake() -> FakeRazorpayX {
    fake(Duration::from_secs(3600)).await
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A payout to Asha Verma's fund account, processing once created; answers its id.
async fn payout(api: &FakeApi, fund_account_id: &str, key: &str, amount: u64) -> String {
    let created = api
        .v1_ok(
            "/v1/payouts",
            Some(json!({"account_number": DEV_RAZORPAYX_ACCOUNT_NUMBER,
                        "fund_account_id": fund_account_id, "amount": amount,
                        "currency": "INR", "mode": "IMPS", "purpose": "payout",
                        "reference_id": key, "notes": {"idempotency_key": key}})),
            Some(key),
        )
        .await;
    assert_eq!(created["status"], "processing", "{created}");
    created["id"].as_str().unwrap().to_owned()
}

/// `GET /v1/transactions` with this query (after `?`), its status and answer.
async fn statement(api: &FakeApi, query: &str) -> (StatusCode, Value) {
    api.v1(&format!("/v1/transactions?{query}"), None, None)
        .await
}

/// Each line's shape, and each running balance following from the one before.
fn assert_well_formed(lines: &[Value], opening: u64) {
    let mut balance = opening;
    for line in lines {
        assert!(line["id"].as_str().unwrap().starts_with("txn_"), "{line}");
        assert_eq!(line["entity"], "transaction");
        assert_eq!(line["account_number"], DEV_RAZORPAYX_ACCOUNT_NUMBER);
        assert_eq!(line["currency"], "INR");
        let (debit, credit) = (
            line["debit"].as_u64().unwrap(),
            line["credit"].as_u64().unwrap(),
        );
        assert!(
            (debit == 0) != (credit == 0),
            "one of debit and credit: {line}"
        );
        assert_eq!(line["amount"].as_u64().unwrap(), debit + credit);
        balance = balance - debit + credit;
        assert_eq!(line["balance"], balance, "running balance at {line}");
        assert!(line["created_at"].as_i64().unwrap() > 1_600_000_000);
    }
}

fn lines_of<'a>(lines: &'a [Value], payout_id: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|line| {
            line["source"]["id"] == payout_id || line["source"]["payout_id"] == payout_id
        })
        .collect()
}

/// What a payout's lines take from the balance, net.
fn net_debit(lines: &[&Value]) -> i64 {
    lines
        .iter()
        .map(|line| line["debit"].as_i64().unwrap() - line["credit"].as_i64().unwrap())
        .sum()
}

#[tokio::test]
async fn a_payout_is_one_debit_with_the_payout_as_source_and_processing_adds_nothing() {
    let fake = fake(Duration::from_millis(100)).await;
    let api = FakeApi::new(&fake);
    let fund_account_id = api.fund_account().await;
    let before = unix_now();

    let id = payout(&api, &fund_account_id, "statement-1", 25_000).await;
    let lines = fake.transactions();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert_eq!(line["debit"], 25_000);
    assert_eq!(line["credit"], 0);
    assert_eq!(line["amount"], 25_000);
    assert_eq!(line["balance"], OPENING - 25_000);
    assert!(line["created_at"].as_i64().unwrap() >= before);
    let payout = fake.payouts().into_iter().find(|p| p["id"] == id).unwrap();
    assert_eq!(
        line["source"],
        json!({"id": id, "entity": "payout", "fund_account_id": fund_account_id,
               "amount": 25_000, "notes": {"idempotency_key": "statement-1"}, "fees": 0,
               "tax": 0, "status": "processing", "utr": null, "mode": "IMPS",
               "created_at": payout["created_at"]})
    );

    wait_for_status(&fake, &id, "processed").await;
    let (status, listed) = statement(
        &api,
        &format!("account_number={DEV_RAZORPAYX_ACCOUNT_NUMBER}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["entity"], "collection");
    assert_eq!(listed["count"], 1);
    // Processed moves no money: the statement still has the one debit, as it was.
    assert_eq!(listed["items"], json!(lines));
    assert_eq!(fake.transactions(), lines);
    assert_eq!(fake.balance(), OPENING - 25_000);
    assert_eq!(
        api.control("transactions", None).await.1["items"],
        json!(lines)
    );
}

#[tokio::test]
async fn a_reversal_is_a_credit_with_the_reversal_as_source() {
    let fake = slow_fake().await;
    let api = FakeApi::new(&fake);
    let fund_account_id = api.fund_account().await;
    let id = payout(&api, &fund_account_id, "reverse-1", 40_000).await;

    let (status, answer) = api
        .control(
            &format!("payouts/{id}/status"),
            Some(json!({"status": "reversed"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    let lines = fake.transactions();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_well_formed(&lines, OPENING);
    assert_eq!(lines[0]["debit"], 40_000);
    let credit = &lines[1];
    assert_eq!(credit["credit"], 40_000);
    assert_eq!(credit["debit"], 0);
    assert_eq!(credit["balance"], OPENING);
    let source = &credit["source"];
    assert!(
        source["id"].as_str().unwrap().starts_with("rvrsl_"),
        "{source}"
    );
    assert_eq!(source["entity"], "reversal");
    assert_eq!(source["payout_id"], id.as_str());
    assert_eq!(source["amount"], 40_000);
    assert_eq!(source["fees"], 0);
    assert_eq!(source["tax"], 0);
    assert_eq!(source["created_at"], credit["created_at"]);
    assert_eq!(net_debit(&lines_of(&lines, &id)), 0);
    assert_eq!(fake.balance(), OPENING);

    // A failed payout whose money was taken comes back the same way.
    let failed = payout(&api, &fund_account_id, "fail-1", 9_000).await;
    let (status, _) = api
        .control(
            &format!("payouts/{failed}/status"),
            Some(json!({"status": "failed", "reason": "bank_account_closed"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let lines = fake.transactions();
    assert_eq!(lines.len(), 4);
    assert_well_formed(&lines, OPENING);
    let of_failed = lines_of(&lines, &failed);
    assert_eq!(of_failed.len(), 2);
    assert_eq!(of_failed[1]["source"]["entity"], "reversal");
    assert_eq!(net_debit(&of_failed), 0);
    assert_eq!(fake.balance(), OPENING);
}

#[tokio::test]
async fn processed_for_another_amount_nets_to_that_amount() {
    let fake = slow_fake().await;
    let api = FakeApi::new(&fake);
    let fund_account_id = api.fund_account().await;
    let more = payout(&api, &fund_account_id, "more-1", 10_000).await;
    let less = payout(&api, &fund_account_id, "less-1", 10_000).await;
    let same = payout(&api, &fund_account_id, "same-1", 10_000).await;

    for (id, amount) in [(&more, 12_500), (&less, 7_000), (&same, 10_000)] {
        let (status, answer) = api
            .control(
                &format!("payouts/{id}/status"),
                Some(json!({"status": "processed", "amount": amount})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }

    let lines = fake.transactions();
    assert_well_formed(&lines, OPENING);
    let of_more = lines_of(&lines, &more);
    assert_eq!(of_more.len(), 2);
    assert_eq!(of_more[1]["debit"], 2_500);
    assert_eq!(of_more[1]["source"]["entity"], "payout");
    assert_eq!(of_more[1]["source"]["amount"], 12_500);
    assert_eq!(of_more[1]["source"]["status"], "processed");
    assert!(of_more[1]["source"]["utr"].is_string());
    assert_eq!(net_debit(&of_more), 12_500);
    let of_less = lines_of(&lines, &less);
    assert_eq!(of_less.len(), 2);
    assert_eq!(of_less[1]["credit"], 3_000);
    assert_eq!(of_less[1]["source"]["amount"], 7_000);
    assert_eq!(net_debit(&of_less), 7_000);
    // The same amount again moves nothing.
    assert_eq!(lines_of(&lines, &same).len(), 1);
    assert_eq!(lines.len(), 5);
    assert_eq!(fake.balance(), OPENING - 12_500 - 7_000 - 10_000);
    assert_eq!(lines.last().unwrap()["balance"], fake.balance());
}

#[tokio::test]
async fn the_list_pages_newest_first_and_filters_by_time() {
    let fake = slow_fake().await;
    let api = FakeApi::new(&fake);
    let fund_account_id = api.fund_account().await;
    let start = unix_now();
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(payout(&api, &fund_account_id, &format!("page-{n}"), 1_000 + n).await);
    }
    let account = format!("account_number={DEV_RAZORPAYX_ACCOUNT_NUMBER}");

    let (status, first) = statement(&api, &format!("{account}&count=2")).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["count"], 2);
    let sources = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|line| line["source"]["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(sources(&first), [ids[4].clone(), ids[3].clone()]);
    let (_, second) = statement(&api, &format!("{account}&count=2&skip=2")).await;
    assert_eq!(sources(&second), [ids[2].clone(), ids[1].clone()]);
    let (_, last) = statement(&api, &format!("{account}&count=2&skip=4")).await;
    assert_eq!(sources(&last), [ids[0].clone()]);
    let (_, beyond) = statement(&api, &format!("{account}&skip=5")).await;
    assert_eq!(beyond["count"], 0);
    assert_eq!(beyond["items"], json!([]));
    // The default count is 10: all five.
    let (_, all) = statement(&api, &account).await;
    assert_eq!(all["count"], 5);

    // Lines dated in the past, to filter by: from and to are both included.
    let now = unix_now();
    for (ago, payout) in [
        (300, "pout_ghost300"),
        (200, "pout_ghost200"),
        (100, "pout_ghost100"),
    ] {
        let (status, answer) = api
            .control(
                "transactions",
                Some(json!({"payout_id": payout, "debit": 100, "created_at": now - ago})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let (_, window) = statement(
        &api,
        &format!("{account}&from={}&to={}", now - 200, now - 100),
    )
    .await;
    assert_eq!(
        sources(&window),
        ["pout_ghost100".to_owned(), "pout_ghost200".to_owned()]
    );
    let (_, older) = statement(&api, &format!("{account}&to={}", now - 250)).await;
    assert_eq!(sources(&older), ["pout_ghost300".to_owned()]);
    let (_, newer) = statement(&api, &format!("{account}&from={start}")).await;
    assert_eq!(newer["count"], 5);

    // The stored statement is oldest first, the lines dated in the past before today's.
    let stored = fake.transactions();
    assert_eq!(stored.len(), 8);
    let stored_sources: Vec<&str> = stored
        .iter()
        .map(|l| l["source"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        &stored_sources[..3],
        ["pout_ghost300", "pout_ghost200", "pout_ghost100"]
    );
    assert!(stored
        .windows(2)
        .all(|pair| pair[0]["created_at"].as_i64() <= pair[1]["created_at"].as_i64()));
    assert_eq!(fake.balance(), OPENING - (1_000..1_005).sum::<u64>() - 300);
}

#[tokio::test]
async fn the_list_refuses_what_razorpayx_refuses() {
    let fake = slow_fake().await;
    let api = FakeApi::new(&fake);
    let fund_account_id = api.fund_account().await;
    payout(&api, &fund_account_id, "refuse-1", 5_000).await;
    let account = format!("account_number={DEV_RAZORPAYX_ACCOUNT_NUMBER}");

    for (query, field, description) in [
        (
            "count=5".to_owned(),
            "account_number",
            "The account number field is required.",
        ),
        (
            "account_number=1234".to_owned(),
            "account_number",
            "The account number is invalid",
        ),
        (
            format!("{account}&count=101"),
            "count",
            "The count must be between 1 and 100.",
        ),
        (
            format!("{account}&count=0"),
            "count",
            "The count must be between 1 and 100.",
        ),
        (
            format!("{account}&skip=x"),
            "skip",
            "The skip must be an integer.",
        ),
        (
            format!("{account}&from=yesterday"),
            "from",
            "The from must be a unix timestamp.",
        ),
    ] {
        let (status, answer) = statement(&api, &query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {answer}");
        assert_eq!(answer["error"]["code"], "BAD_REQUEST_ERROR", "{query}");
        assert_eq!(answer["error"]["field"], field, "{query}");
        assert_eq!(answer["error"]["description"], description, "{query}");
        assert_eq!(answer["error"]["reason"], "input_validation_failed");
    }
    // Basic auth, as every /v1 route.
    let response = api
        .http()
        .get(api.url(&format!("/v1/transactions?{account}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["error"]["reason"], "authentication_failed");
    // None of it changed anything.
    assert_eq!(fake.transactions().len(), 1);
}

#[tokio::test]
async fn the_controls_add_and_leave_out_lines() {
    let fake = slow_fake().await;
    let api = FakeApi::new(&fake);
    let fund_account_id = api.fund_account().await;
    let id = payout(&api, &fund_account_id, "control-1", 30_000).await;
    let after_payout = fake.transactions();
    assert_eq!(after_payout.len(), 1);

    // Bodies the control refuses change nothing.
    let an_hour_on = unix_now() + 3600;
    for body in [
        json!({"payout_id": id, "debit": 100, "credit": 100}),
        json!({"payout_id": id}),
        json!({"payout_id": id, "debit": 0}),
        json!({"payout_id": id, "debit": -5}),
        json!({"payout_id": "our-own-uuid", "debit": 100}),
        json!({"payout_id": id, "credit": 100, "entity": "refund"}),
        json!({"payout_id": id, "debit": 100, "created_at": an_hour_on}),
        json!({"payout_id": id, "debit": 100, "why": "no reason"}),
        json!({"debit": 100}),
    ] {
        let (status, answer) = api.control("transactions", Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], "BAD_REQUEST_ERROR");
    }
    assert_eq!(fake.transactions(), after_payout);
    assert_eq!(fake.balance(), OPENING - 30_000);

    // The bank takes a known payout's money a second time.
    let (status, double) = api
        .control(
            "transactions",
            Some(json!({"payout_id": id, "debit": 30_000})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{double}");
    assert_eq!(double["debit"], 30_000);
    assert_eq!(double["balance"], OPENING - 60_000);
    assert_eq!(double["source"]["id"], id.as_str());
    assert_eq!(double["source"]["entity"], "payout");
    assert_eq!(
        double["source"]["fund_account_id"],
        fund_account_id.as_str()
    );
    assert_eq!(double["source"]["status"], "processing");

    // A debit for a payout RazorpayX has no record of.
    let (status, ghost) = api
        .control(
            "transactions",
            Some(json!({"payout_id": "pout_nobody", "debit": 700})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{ghost}");
    assert_eq!(
        ghost["source"],
        json!({"id": "pout_nobody", "entity": "payout", "amount": 700})
    );
    assert_eq!(ghost["balance"], OPENING - 60_700);

    // A credit with no reversal behind it, dated a minute ago.
    let a_minute_ago = unix_now() - 60;
    let (status, back) = api
        .control(
            "transactions",
            Some(
                json!({"payout_id": id, "credit": 1_000, "entity": "reversal",
                   "created_at": a_minute_ago}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{back}");
    assert_eq!(back["credit"], 1_000);
    assert_eq!(back["created_at"], a_minute_ago);
    assert_eq!(back["source"]["entity"], "reversal");
    assert_eq!(back["source"]["payout_id"], id.as_str());
    assert_eq!(back["source"]["amount"], 1_000);
    assert!(back["source"]["id"].as_str().unwrap().starts_with("rvrsl_"));
    assert_eq!(fake.balance(), OPENING - 59_700);
    // The reversal of a payout it does not know has the same shape.
    let (status, unknown_back) = api
        .control(
            "transactions",
            Some(json!({"payout_id": "pout_nobody", "credit": 700, "entity": "reversal"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(unknown_back["source"]["payout_id"], "pout_nobody");
    assert_eq!(unknown_back["source"]["utr"], Value::Null);

    let lines = fake.transactions();
    assert_eq!(lines.len(), 5);
    // Dated in the past, the credit comes first in the stored statement.
    assert_eq!(lines[0], back);
    assert_eq!(&lines[1], &after_payout[0]);
    assert_eq!(
        lines[2..],
        [double.clone(), ghost.clone(), unknown_back.clone()]
    );
    assert_eq!(api.control("transactions", None).await.1["count"], 5);
    assert_eq!(fake.balance(), OPENING - 59_000);

    // Leaving out a line: the statement omits it, the balance keeps it.
    let txn = double["id"].as_str().unwrap();
    let (status, removed) = api
        .control(&format!("transactions/{txn}/forget"), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::OK, "{removed}");
    assert_eq!(removed, double);
    let (status, answer) = api
        .control(&format!("transactions/{txn}/forget"), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer["error"]["description"],
        "The id provided does not exist"
    );
    let stored = fake.transactions();
    assert_eq!(stored.len(), 4);
    assert!(stored.iter().all(|line| line["id"] != txn));
    assert_eq!(fake.balance(), OPENING - 59_000);
}

#[tokio::test]
async fn forgetting_a_payout_takes_its_lines_with_it() {
    let fake = slow_fake().await;
    let api = FakeApi::new(&fake);
    let fund_account_id = api.fund_account().await;
    let gone = payout(&api, &fund_account_id, "forget-1", 8_000).await;
    let kept = payout(&api, &fund_account_id, "forget-2", 6_000).await;
    let (status, _) = api
        .control(
            &format!("payouts/{gone}/status"),
            Some(json!({"status": "processed"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api
        .control(
            &format!("payouts/{gone}/status"),
            Some(json!({"status": "reversed"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api
        .control(
            "transactions",
            Some(json!({"payout_id": gone, "debit": 8_000})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(lines_of(&fake.transactions(), &gone).len(), 3);
    assert_eq!(fake.balance(), OPENING - 6_000 - 8_000);

    let (status, answer) = api
        .control(&format!("payouts/{gone}/forget"), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let lines = fake.transactions();
    assert!(lines_of(&lines, &gone).is_empty(), "{lines:?}");
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["source"]["id"], kept.as_str());
    assert!(fake.payouts().iter().all(|p| p["id"] != gone.as_str()));
    // Its money was back already; the extra debit stays taken, with no line for it.
    assert_eq!(fake.balance(), OPENING - 6_000 - 8_000);

    // A processing payout forgotten: its money comes back with no line.
    let (status, _) = api
        .control(&format!("payouts/{kept}/forget"), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(fake.transactions().is_empty());
    assert_eq!(fake.balance(), OPENING - 8_000);
}

#[tokio::test]
async fn funds_set_by_hand_and_booked_payouts_have_their_lines() {
    let fake = slow_fake().await;
    let api = FakeApi::new(&fake);
    let fund_account_id = api.fund_account().await;

    fake.set_balance(OPENING + 5_000);
    let (status, answer) = api
        .control("balance", Some(json!({"amount": OPENING - 2_000})))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    // Unchanged: no line.
    let (status, _) = api
        .control("balance", Some(json!({"amount": OPENING - 2_000})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let lines = fake.transactions();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_well_formed(&lines, OPENING);
    assert_eq!(lines[0]["credit"], 5_000);
    assert_eq!(lines[1]["debit"], 7_000);
    for line in &lines {
        let source = &line["source"];
        assert!(
            source["id"].as_str().unwrap().starts_with("bt_"),
            "{source}"
        );
        assert_eq!(source["entity"], "bank_transfer");
        assert_eq!(source["amount"], line["amount"]);
    }

    // Booked earlier: a processed one has its debit at its own time, first in the
    // statement; failed and reversed ones have none.
    let an_hour_ago = unix_now() - 3600;
    let booking = json!({"payouts": [
        {"reference_id": "booked-1", "idempotency_key": "booked-1", "amount": 4_000,
         "fund_account_id": fund_account_id, "status": "processed",
         "created_at": an_hour_ago},
        {"reference_id": "booked-2", "idempotency_key": "booked-2", "amount": 3_000,
         "fund_account_id": fund_account_id, "status": "reversed",
         "reason": "bank_account_closed", "created_at": an_hour_ago + 1},
        {"reference_id": "booked-3", "idempotency_key": "booked-3", "amount": 2_000,
         "fund_account_id": fund_account_id, "status": "failed",
         "reason": "bank_account_closed", "created_at": an_hour_ago + 2},
    ]});
    let (status, booked) = api.control("payouts/bulk", Some(booking)).await;
    assert_eq!(status, StatusCode::OK, "{booked}");
    let lines = fake.transactions();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["created_at"], an_hour_ago);
    assert_eq!(lines[0]["debit"], 4_000);
    assert_eq!(lines[0]["source"]["id"], booked["items"][0]["id"]);
    assert_eq!(lines[0]["source"]["status"], "processed");
    assert_eq!(lines[0]["balance"], OPENING - 6_000);
    assert_eq!(fake.balance(), OPENING - 6_000);
}

#[tokio::test]
async fn the_statement_survives_a_restart_and_an_old_state_file_loads() {
    let dir = devkit::testing::scratch_dir("razorpayx-statement");
    let state_file = dir.join("state.json");
    let config = FakeConfig {
        settle_after: Duration::from_secs(3600),
        state_file: Some(state_file.clone()),
        ..FakeConfig::default()
    };
    let first = FakeRazorpayX::start(0, config.clone()).await.unwrap();
    let api = FakeApi::new(&first);
    let fund_account_id = api.fund_account().await;
    payout(&api, &fund_account_id, "restart-1", 2_000).await;
    let lines = first.transactions();
    assert_eq!(lines.len(), 1);
    drop(first);

    let again = FakeRazorpayX::start(0, config.clone()).await.unwrap();
    assert_eq!(again.transactions(), lines);
    assert_eq!(again.balance(), OPENING - 2_000);
    drop(again);

    // A state file from before the statement: no `transactions`, and it still loads.
    let mut state: Value = serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
    state
        .as_object_mut()
        .unwrap()
        .remove("transactions")
        .unwrap();
    std::fs::write(&state_file, serde_json::to_vec(&state).unwrap()).unwrap();
    let old = FakeRazorpayX::start(0, config).await.unwrap();
    assert!(old.transactions().is_empty());
    assert_eq!(old.payouts().len(), 1);
    assert_eq!(old.balance(), OPENING - 2_000);
    drop(old);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_penny_drop_is_a_debit_and_its_refund_a_credit() {
    let fake = fake(Duration::from_millis(50)).await;
    let api = FakeApi::new(&fake);
    let fund_account_id = api.fund_account().await;
    fake.set_validation_faults(ValidationFaults {
        invalid_account: 1.0,
        ..ValidationFaults::default()
    })
    .unwrap();
    let validation = api
        .v1_ok(
            "/v1/fund_accounts/validations",
            Some(json!({"account_number": DEV_RAZORPAYX_ACCOUNT_NUMBER,
                        "fund_account": {"id": fund_account_id}, "amount": 100,
                        "currency": "INR"})),
            None,
        )
        .await;
    let id = validation["id"].as_str().unwrap();
    let mut lines = fake.transactions();
    for _ in 0..500 {
        if lines.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        lines = fake.transactions();
    }
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_well_formed(&lines, OPENING);
    let source = json!({"id": id, "entity": "fund_account.validation", "amount": 100});
    assert_eq!(lines[0]["debit"], 100);
    assert_eq!(lines[0]["source"], source);
    // The account is invalid: the bank sent the penny back.
    assert_eq!(lines[1]["credit"], 100);
    assert_eq!(lines[1]["source"], source);
    assert_eq!(fake.balance(), OPENING);
}
