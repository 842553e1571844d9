//! What finance and the operator read over the API: a day's reconciliation (JSON and
//! CSV) and every payout of a range of time as CSV pages that link to the next.

use std::collections::BTreeSet;

use api::auth::DEV_JWT_SECRET;
use devkit::api::{Api, Reply};
use devkit::testing::{fresh_store, gateway, processor_config, requested};
use domain::actor::Role;
use domain::money::Paise;
use domain::payout::{IdempotencyKey, Payout};
use domain::reconciliation::Report;
use domain::time::Timestamp;
use gateway::TransferOutcome;
use service::config::PayoutLimits;
use service::process::Processor;
use service::reconciliation::{reconcile_day, Day};
use service::scout::Scout;
use store::Store;

const OWNER: u64 = 7;
const ADMIN: u64 = 1;
const LIMITS: PayoutLimits = PayoutLimits {
    min: Paise(100),
    max: Paise(10_000_000),
};
const TZ: chrono_tz::Tz = chrono_tz::Asia::Kolkata;

fn token(user: u64, role: Role) -> String {
    devkit::token::mint(DEV_JWT_SECRET, user, role, 3600).unwrap()
}

/// Four payouts of scout s-1 paid today by the simulated bank, then the bank's own
/// mistakes: two transfers for nobody of ours, one of ours forgotten, one paid twice;
/// and today reconciled. Returns the payouts and today.
async fn a_reconciled_day() -> (Store, Vec<Payout>, Day) {
    let store = fresh_store().await;
    store
        .insert_scout(&Scout::with_earnings("s-1", OWNER, Paise(100_000)))
        .await
        .unwrap();
    let bank = gateway(&store, 1.0);
    let mut payouts = Vec::new();
    for amount in [10_000, 11_000, 12_000, 13_000] {
        payouts.push(requested(&store, LIMITS, OWNER, "s-1", amount).await);
    }
    Processor::new(&store, &bank, processor_config(10))
        .run()
        .await
        .unwrap();
    let paid = TransferOutcome::Paid {
        reference: "=HYPERLINK(\"x\")".to_owned(),
        gateway_payout_id: None,
    };
    for _ in 0..2 {
        let stranger = uuid::Uuid::new_v4();
        bank.book_by_hand(
            &IdempotencyKey::for_attempt(stranger, 1),
            stranger,
            Paise(5_000),
            paid.clone(),
        )
        .await
        .unwrap();
    }
    bank.forget_by_hand(&payouts[1].idempotency_key())
        .await
        .unwrap();
    bank.book_by_hand(
        &IdempotencyKey::for_attempt(payouts[2].payout_id, 9),
        payouts[2].payout_id,
        Paise(12_000),
        paid,
    )
    .await
    .unwrap();
    let now = Timestamp::now();
    let today = Day::containing(now, TZ);
    let run = reconcile_day(&store, &bank, today, now, None)
        .await
        .unwrap();
    assert_eq!(run.new_findings.len(), 4, "{:#?}", run.new_findings);
    let mut stored = Vec::new();
    for payout in payouts {
        stored.push(store.payout(payout.payout_id).await.unwrap().unwrap());
    }
    (store, stored, today)
}

/// Everything a reading route could have changed: the day's report and findings, and
/// the payouts.
async fn state(store: &Store, day: &Day, payouts: &[Payout]) -> (Option<Report>, String) {
    let mut text = format!("{:?}", store.all_findings(&day.name()).await.unwrap());
    for payout in payouts {
        text.push_str(&format!(
            "{:?}",
            store.payout(payout.payout_id).await.unwrap()
        ));
    }
    (
        store.reconciliation_report(&day.name()).await.unwrap(),
        text,
    )
}

/// The `rel="next"` link of a CSV page, resolved against the page's own path (it is
/// relative, so it holds behind a stage's path), split into path and query.
fn next_link(reply: &Reply, path: &str) -> Option<(String, String)> {
    let link = reply.headers.get("link")?.to_str().unwrap().to_owned();
    let target = link
        .strip_prefix('<')
        .and_then(|rest| rest.strip_suffix(">; rel=\"next\""))
        .unwrap_or_else(|| panic!("a next link: {link}"));
    let (file, query) = target.split_once('?').unwrap();
    assert!(!file.contains('/'), "relative to the page: {link}");
    let directory = &path[..=path.rfind('/').unwrap()];
    Some((format!("{directory}{file}"), query.to_owned()))
}

/// Every page of a CSV export from `query` on, following the links: the header of each
/// page, and the rows of all.
async fn every_page(api: &Api, path: &str, query: &str) -> (Vec<String>, Vec<String>) {
    let admin = token(ADMIN, Role::Admin);
    let (mut path, mut query) = (path.to_owned(), query.to_owned());
    let (mut headers, mut rows) = (Vec::new(), Vec::new());
    loop {
        let reply = api.get(&path, &query, &admin).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.headers["content-type"], "text/csv; charset=utf-8");
        assert!(reply.headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename="));
        let mut lines = reply.text.split("\r\n").filter(|line| !line.is_empty());
        headers.push(lines.next().unwrap().to_owned());
        rows.extend(lines.map(str::to_owned));
        match next_link(&reply, &path) {
            Some((next_path, next_query)) => (path, query) = (next_path, next_query),
            None => return (headers, rows),
        }
    }
}

#[tokio::test]
async fn the_days_report_and_its_findings_page_by_page() {
    let (store, payouts, today) = a_reconciled_day().await;
    let api = Api::new(store.clone());
    let admin = token(ADMIN, Role::Admin);
    let date = today.name();

    let whole = api
        .get("/admin/reconciliation", &format!("date={date}"), &admin)
        .await;
    assert_eq!(whole.status, 200, "{}", whole.text);
    let report = &whole.body["report"];
    assert_eq!(report["date"], date.as_str());
    assert_eq!(report["gateway"], "simulated");
    assert_eq!(report["findings"]["unknown_to_us"], 2);
    assert_eq!(report["findings"]["missing_at_gateway"], 1);
    assert_eq!(report["findings"]["paid_twice"], 1);
    assert_eq!(report["left_for_person"], 4);
    assert_eq!(report["ours"]["paid_paise"], 46_000);
    let findings = whole.body["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 4);
    assert_eq!(whole.body["next_cursor"], serde_json::Value::Null);
    // Every field is there, null when empty: a finding for nobody of ours says so.
    let unknown = findings
        .iter()
        .find(|finding| finding["kind"] == "unknown_to_us")
        .unwrap();
    for field in ["payout_id", "transition", "ours"] {
        assert_eq!(unknown[field], serde_json::Value::Null, "{unknown}");
    }
    assert_eq!(unknown["action"], "left_for_person");
    assert_eq!(unknown["theirs"][0]["amount_paise"], 5_000);
    let missing = findings
        .iter()
        .find(|finding| finding["kind"] == "missing_at_gateway")
        .unwrap();
    assert_eq!(missing["payout_id"], payouts[1].payout_id.to_string());
    assert_eq!(missing["ours"]["amount_paise"], 11_000);
    assert_eq!(missing["theirs"], serde_json::json!([]));

    // A page at a time, by kind then subject: the same four, each once.
    let mut seen = Vec::new();
    let mut query = format!("date={date}&limit=1");
    loop {
        let page = api.get("/admin/reconciliation", &query, &admin).await;
        assert_eq!(page.status, 200, "{}", page.text);
        let findings = page.body["findings"].as_array().unwrap();
        assert_eq!(findings.len(), 1);
        seen.push(findings[0].clone());
        match page.body["next_cursor"].as_str() {
            Some(cursor) => query = format!("date={date}&limit=1&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(&seen, findings);

    // Yesterday is the default, and nobody reconciled it here.
    let yesterday = api.get("/admin/reconciliation", "", &admin).await;
    assert_eq!(
        (yesterday.status, yesterday.code()),
        (404, "not_found"),
        "{}",
        yesterday.text
    );
}

#[tokio::test]
async fn bad_questions_about_a_day_are_refused_and_change_nothing() {
    let (store, payouts, today) = a_reconciled_day().await;
    let api = Api::new(store.clone());
    let admin = token(ADMIN, Role::Admin);
    let date = today.name();
    let first = api
        .get(
            "/admin/reconciliation",
            &format!("date={date}&limit=1"),
            &admin,
        )
        .await;
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    // The day before, reconciled too (nothing happened on it).
    let yesterday = Day::before(Timestamp::now(), TZ);
    reconcile_day(
        &store,
        &gateway(&store, 1.0),
        yesterday,
        Timestamp::now(),
        None,
    )
    .await
    .unwrap();
    let other_day = yesterday.name();
    let before = state(&store, &today, &payouts).await;
    let user = token(OWNER, Role::User);
    for (path, query, token, status, code) in [
        (
            "/admin/reconciliation",
            format!("date={date}"),
            &user,
            403,
            "forbidden",
        ),
        (
            "/admin/reconciliation.csv",
            format!("date={date}"),
            &user,
            403,
            "forbidden",
        ),
        (
            "/admin/reconciliation",
            "date=2026-13-01".to_owned(),
            &admin,
            400,
            "bad_request",
        ),
        (
            "/admin/reconciliation",
            "date=yesterday".to_owned(),
            &admin,
            400,
            "bad_request",
        ),
        (
            "/admin/reconciliation",
            "date=+10000-01-01".to_owned(),
            &admin,
            400,
            "bad_request",
        ),
        (
            "/admin/reconciliation",
            format!("date={date}&limit=0"),
            &admin,
            400,
            "bad_request",
        ),
        (
            "/admin/reconciliation",
            format!("date={date}&limit=101"),
            &admin,
            400,
            "bad_request",
        ),
        (
            "/admin/reconciliation",
            "date=2020-01-01".to_owned(),
            &admin,
            404,
            "not_found",
        ),
        // A cursor pages only the day it came from.
        (
            "/admin/reconciliation",
            format!("date={other_day}&cursor={cursor}"),
            &admin,
            400,
            "bad_request",
        ),
        (
            "/admin/reconciliation.csv",
            format!("date={other_day}&cursor={cursor}"),
            &admin,
            400,
            "bad_request",
        ),
        (
            "/admin/reconciliation",
            format!("date={date}&cursor=x{cursor}"),
            &admin,
            400,
            "bad_request",
        ),
        (
            "/admin/reconciliation.csv",
            format!("date={date}&cursor={cursor}x"),
            &admin,
            400,
            "bad_request",
        ),
        (
            "/admin/reconciliation.csv",
            format!("date={date}&limit=10001"),
            &admin,
            400,
            "bad_request",
        ),
        (
            "/admin/reconciliation.csv",
            "date=2020-01-01".to_owned(),
            &admin,
            404,
            "not_found",
        ),
    ] {
        let reply = api.get(path, &query, token).await;
        assert_eq!(
            (reply.status, reply.code()),
            (status, code),
            "{path}?{query}: {}",
            reply.text
        );
        assert_eq!(reply.headers["content-type"], "application/json");
    }
    assert_eq!(state(&store, &today, &payouts).await, before);
}

#[tokio::test]
async fn the_days_findings_as_csv_have_stable_columns_and_link_their_pages() {
    let (store, payouts, today) = a_reconciled_day().await;
    let api = Api::new(store.clone());
    let date = today.name();
    let (headers, rows) =
        every_page(&api, "/admin/reconciliation.csv", &format!("date={date}")).await;
    assert_eq!(headers.len(), 1, "one page holds four findings");
    assert_eq!(
        headers[0],
        "date,found_at,kind,action,transition,subject,payout_id,user_id,our_status,\
         our_attempt,our_amount_paise,our_gateway_payout_id,our_fund_account_id,\
         gateway_payout_ids,gateway_statuses,gateway_amounts_paise,\
         gateway_fund_account_ids,gateway_utrs,gateway_references,detail"
    );
    assert_eq!(rows.len(), 4);
    let paid_twice = rows
        .iter()
        .find(|row| row.contains(",paid_twice,"))
        .unwrap();
    assert!(paid_twice.contains(&payouts[2].payout_id.to_string()));
    // Both of the bank's transfers, in one cell each column.
    assert!(paid_twice.contains(",12000;12000,"), "{paid_twice}");
    // A reference that a spreadsheet would run as a formula is written as text.
    assert!(
        rows.iter().any(|row| row.contains("'=HYPERLINK")),
        "{rows:#?}"
    );
    assert!(!rows.iter().any(|row| row.contains(",=HYPERLINK")));

    // A page of one row at a time: four pages, each a whole file, the same rows.
    let (headers, paged) = every_page(
        &api,
        "/admin/reconciliation.csv",
        &format!("date={date}&limit=1"),
    )
    .await;
    assert_eq!(headers.len(), 4);
    assert!(headers
        .iter()
        .all(|header| header.starts_with("date,found_at,")));
    assert_eq!(paged, rows);
}

#[tokio::test]
async fn every_payout_of_a_range_as_csv_pages_without_a_gap_or_a_repeat() {
    let (store, payouts, _) = a_reconciled_day().await;
    // Two more, pending, to filter by status.
    let pending = [
        requested(&store, LIMITS, OWNER, "s-1", 500).await,
        requested(&store, LIMITS, OWNER, "s-1", 600).await,
    ];
    let api = Api::new(store.clone());
    let from = payouts[0].created_at.minus_secs(1);
    let to = Timestamp::now().plus_secs(1);

    let (headers, rows) =
        every_page(&api, "/admin/payouts.csv", &format!("from={from}&to={to}")).await;
    assert_eq!(
        headers[0],
        "payout_id,user_id,payout_type,status,amount_paise,scout_id,order_id,attempt,utr,\
         gateway_payout_id,gateway_status,failure_reason,created_at,first_sent_at,\
         processed_at,completed_at,cancelled_at,updated_at"
    );
    assert_eq!(rows.len(), 6);
    // Oldest first, as made.
    let ids: Vec<String> = rows
        .iter()
        .map(|row| row.split(',').next().unwrap().to_owned())
        .collect();
    let made: Vec<String> = payouts
        .iter()
        .chain(&pending)
        .map(|payout| payout.payout_id.to_string())
        .collect();
    assert_eq!(ids, made);
    let first: Vec<&str> = rows[0].split(',').collect();
    assert_eq!(first[1], OWNER.to_string());
    assert_eq!(first[2], "scout_bounty");
    assert_eq!(first[3], "completed");
    assert_eq!(first[4], "10000");
    assert_eq!(first[8], payouts[0].payment_reference.as_deref().unwrap());

    // Two rows a page: three pages, the same rows, none twice.
    let (headers, paged) = every_page(
        &api,
        "/admin/payouts.csv",
        &format!("from={from}&to={to}&limit=2"),
    )
    .await;
    assert_eq!(headers.len(), 3);
    assert_eq!(paged, rows);
    assert_eq!(paged.iter().collect::<BTreeSet<_>>().len(), 6);

    // One status: the two pending ones.
    let (_, pending_rows) = every_page(
        &api,
        "/admin/payouts.csv",
        &format!("from={from}&to={to}&status=pending&limit=1"),
    )
    .await;
    assert_eq!(pending_rows.len(), 2);
    assert!(pending_rows.iter().all(|row| row.contains(",pending,")));

    // A range the payouts are not in, by dates: a header and nothing else.
    let (_, none) = every_page(&api, "/admin/payouts.csv", "from=2020-01-01&to=2020-01-31").await;
    assert!(none.is_empty());
    // Today as dates (the operator's zone), `to` left out: now.
    let today = Day::containing(Timestamp::now(), TZ).name();
    let (_, by_date) = every_page(&api, "/admin/payouts.csv", &format!("from={today}")).await;
    assert_eq!(by_date.len(), 6);
}

#[tokio::test]
async fn a_bad_export_is_refused_and_changes_nothing() {
    let (store, payouts, today) = a_reconciled_day().await;
    let api = Api::new(store.clone());
    let admin = token(ADMIN, Role::Admin);
    let before = state(&store, &today, &payouts).await;
    let from = payouts[0].created_at.minus_secs(1);
    let to = Timestamp::now().plus_secs(1);
    let first = api
        .get(
            "/admin/payouts.csv",
            &format!("from={from}&to={to}&limit=1"),
            &admin,
        )
        .await;
    let (_, next) = next_link(&first, "/admin/payouts.csv").unwrap();
    let cursor = next.rsplit_once("cursor=").unwrap().1.to_owned();
    // The same cursor, its place moved to a time outside the range.
    let outside = {
        use base64::Engine;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut payload: serde_json::Value =
            serde_json::from_slice(&engine.decode(&cursor).unwrap()).unwrap();
        let place = payload["k"]["created_sk"].as_str().unwrap().to_owned();
        let (_, id) = place.split_once('#').unwrap();
        payload["k"]["created_sk"] = format!("{}#{id}", to.plus_secs(60)).into();
        engine.encode(payload.to_string())
    };
    let user = token(OWNER, Role::User);
    for (query, token, status) in [
        (format!("from={from}&to={to}"), &user, 403),
        ("to=2026-01-01".to_owned(), &admin, 400),
        ("from=last-week".to_owned(), &admin, 400),
        (format!("from={to}&to={from}"), &admin, 400),
        (
            "from=2026-12-02&to=2026-12-01T00:00:00Z".to_owned(),
            &admin,
            400,
        ),
        (format!("from={from}&status=lost"), &admin, 400),
        (format!("from={from}&limit=0"), &admin, 400),
        // A cursor continues only its own export: not another range, not another status.
        (
            format!("from={from}&to={}&cursor={cursor}", to.plus_secs(1)),
            &admin,
            400,
        ),
        (
            format!("from={from}&to={to}&status=completed&cursor={cursor}"),
            &admin,
            400,
        ),
        (format!("from={from}&to={to}&cursor=junk"), &admin, 400),
        (format!("from={from}&to={to}&cursor={outside}"), &admin, 400),
        ("from=+10000-01-01".to_owned(), &admin, 400),
    ] {
        let reply = api.get("/admin/payouts.csv", &query, token).await;
        assert_eq!(reply.status, status, "{query}: {}", reply.text);
        assert_eq!(reply.headers["content-type"], "application/json");
    }
    assert_eq!(state(&store, &today, &payouts).await, before);
}

/// More payouts than one DynamoDB query returns: one page of the export reads the
/// index several times and loses none.
#[tokio::test]
async fn an_export_larger_than_one_query_reads_on_until_the_range_ends() {
    let store = fresh_store().await;
    store
        .insert_scout(&Scout::with_earnings("s-1", OWNER, Paise(10_000_000)))
        .await
        .unwrap();
    let started = Timestamp::now().minus_secs(1);
    let made = 1_100;
    let mut ids = BTreeSet::new();
    // A few at a time: each request moves the one scout's balance, and DynamoDB Local
    // answers many transactions on one item at once with lock timeouts (which DynamoDB
    // itself does not) on a busy machine.
    let wave_size = 10;
    for wave in 0..made / wave_size {
        let requests = (0..wave_size).map(|_| requested(&store, LIMITS, OWNER, "s-1", 100));
        for payout in futures::future::join_all(requests).await {
            ids.insert(payout.payout_id.to_string());
        }
        assert_eq!(ids.len(), (wave + 1) * wave_size);
    }
    let api = Api::new(store.clone());
    let (headers, rows) = every_page(&api, "/admin/payouts.csv", &format!("from={started}")).await;
    assert_eq!(headers.len(), 1, "one page of 10,000 rows holds them");
    let exported: BTreeSet<String> = rows
        .iter()
        .map(|row| row.split(',').next().unwrap().to_owned())
        .collect();
    assert_eq!(rows.len(), made);
    assert_eq!(exported, ids);
}
