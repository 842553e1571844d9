//! Every sample event in `events/` goes through its function's handler against
//! DynamoDB Local, in the order a demo would use them, with the demo data loaded.

use std::collections::BTreeMap;

use api::input::path_param;
use api::Endpoint;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use devkit::api::Api;
use devkit::fixture::Fixture;
use devkit::invariants::assert_books_balance;
use devkit::paths;
use devkit::testing::{
    fresh_bus, fresh_sender, fresh_store, gateway, processor_config, sent_emails,
};
use domain::actor::Actor;
use domain::payout::PayoutStatus;
use lambda_http::RequestExt;
use service::config::WebhookSecrets;
use service::events::bus::EventBridgeBus;
use service::events::publish::{Publisher, RetryPolicy};
use service::events::{Event, PayoutEvent};
use service::notify::{Notifier, SesMailer};
use service::order::{complete_order, Order};
use service::process::{on_schedule, Processor};
use service::schedule::sweep::on_sweep_schedule;
use service::schedule::PayoutSchedule;

fn sample_events() -> BTreeMap<String, String> {
    std::fs::read_dir(paths::workspace_root().join("events"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect()
}

#[tokio::test]
async fn every_sample_event_runs_through_its_handler() {
    let store = fresh_store().await;
    let limits = devkit::testing::local_config(&[]).unwrap().limits;
    Fixture::read(&paths::workspace_root().join("fixtures/demo.json"))
        .unwrap()
        .load(&store, &devkit::testing::vault().await, limits)
        .await
        .unwrap();
    // retry-payout.json retries o-3's seller payout: complete o-3 and have it declined.
    let admin = Actor::admin(1);
    let o3 = complete_order(&store, limits, &admin, "o-3").await.unwrap();
    let declining = gateway(&store, 0.0);
    devkit::admin::process_payout(
        &store,
        &declining,
        processor_config(10),
        &admin,
        o3.payout.expect("o-3 has a price").payout_id,
    )
    .await
    .unwrap();

    let mut api = Api::new(store.clone());
    // The local stage's webhook secret, which events/razorpayx-webhook.json is signed with.
    api.app.webhook_secrets = Some(
        WebhookSecrets::from_lookup(|name| (name == "STAGE").then(|| "local".to_owned())).unwrap(),
    );
    let events = sample_events();
    // (event, expected status), in the order they make sense together.
    let plan = [
        ("request-scout-payout", 201),
        ("complete-order", 200),
        ("my-payouts", 200),
        ("list-payouts", 200),
        ("process-payout", 200),
        ("retry-payout", 200),
        ("cancel-payout", 200),
        // Cancels o-1's payout (cancelled just above), o-3's (paid by the retry) and
        // o-4's (a cancelled order has none): 200 with conflict, conflict, not_found.
        ("bulk-payouts", 200),
        ("get-payout-account", 200),
        ("put-payout-account", 200),
        ("get-payout-account", 200),
        ("get-user-payout-account", 200),
        // An admin ends a hold on user 7's payouts; this stack holds none after a change
        // (the hold is 0 here), so the route refuses, as it does a hold already over.
        ("end-payout-account-hold", 409),
        ("payout-stats", 200),
        ("admin-dashboard", 200),
        // s-1's owner asks to be paid every Monday.
        ("put-payout-schedule", 200),
        ("get-payout-schedule", 200),
        // The bank returns o-2's seller payout, paid by process-payout.json.
        ("razorpayx-webhook", 200),
        // The marketplace creates scout s-9, an order it scouted, and a bonus.
        ("put-scout", 201),
        ("put-order", 201),
        ("record-scout-earnings", 201),
    ];
    let mut covered = vec![
        "scheduled".to_owned(),
        "reconcile".to_owned(),
        "reconciliation-report".to_owned(),
        "reconciliation-csv".to_owned(),
        "payouts-csv".to_owned(),
        "sweep-earnings".to_owned(),
        "publish-events".to_owned(),
        "notify".to_owned(),
        "notify-account-changed".to_owned(),
    ];
    for (name, expected) in plan {
        let endpoint = Endpoint::for_function(name).unwrap();
        let request = lambda_http::request::from_str(&events[name]).unwrap();
        let reply = api.send(endpoint, request).await;
        assert_eq!(
            reply.status, expected,
            "events/{name}.json: {:?}",
            reply.body
        );
        covered.push(name.to_owned());
    }
    // The marketplace's events, as its bus delivers them: a scout, then an order it
    // scouted.
    let ingester = service::marketplace::ingest::Ingester {
        store: &store,
        limits,
        source: service::config::DEFAULT_MARKETPLACE_EVENT_SOURCE.to_owned(),
    };
    for name in ["ingest-marketplace-scout", "ingest-marketplace-order"] {
        let event: EventBridgeEvent<serde_json::Value> =
            serde_json::from_str(&events[name]).unwrap();
        let ingested = ingester.ingest(&event).await.unwrap();
        assert_eq!(
            ingested,
            service::marketplace::ingest::Ingested::Applied(
                service::marketplace::Upserted::Created
            ),
            "events/{name}.json"
        );
        covered.push(name.to_owned());
    }
    assert_eq!(
        covered
            .iter()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>(),
        events.keys().cloned().collect(),
        "every file in events/ is exercised"
    );

    let payout = |order: &str| {
        let store = store.clone();
        let id = Order::seller_payout_id(order);
        async move { store.payout(id).await.unwrap().unwrap().status }
    };
    assert_eq!(payout("o-2").await, PayoutStatus::Reversed);
    assert_eq!(payout("o-3").await, PayoutStatus::Completed);
    assert_eq!(payout("o-1").await, PayoutStatus::Cancelled);

    // The scheduled event pays what is left: the two scout payouts of the demo data
    // and the one made by request-scout-payout.json.
    let event: EventBridgeEvent = serde_json::from_str(&events["scheduled"]).unwrap();
    let paying = gateway(&store, 1.0);
    let summary = on_schedule(
        &Processor::new(&store, &paying, processor_config(10)),
        &event,
        None,
    )
    .await
    .unwrap();
    assert_eq!((summary.found, summary.completed), (3, 3));
    assert_books_balance(&store, &["s-1", "s-2", "s-3"], &[8, 10]).await;

    // The daily reconciliation: its schedule asks for the day before the rule's time.
    // Today's, with the simulated bank, finds what the sample webhook made of o-2's
    // seller payout: reversed by a RazorpayX webhook, paid by the simulated bank.
    let event: serde_json::Value = serde_json::from_str(&events["reconcile"]).unwrap();
    let now = domain::time::Timestamp::now();
    let tz = chrono_tz::Asia::Kolkata;
    assert_eq!(
        service::reconciliation::day_asked(&event, now, tz)
            .unwrap()
            .name(),
        "2026-11-24"
    );
    let today = service::reconciliation::Day::containing(now, tz);
    let run = service::reconciliation::reconcile_day(&store, &paying, today, now, None)
        .await
        .unwrap();
    let findings: Vec<_> = run
        .new_findings
        .iter()
        .map(|finding| (finding.kind.as_str(), finding.payout_id()))
        .collect();
    assert_eq!(
        findings,
        [("status_mismatch", Some(Order::seller_payout_id("o-2")))],
        "{:#?}",
        run.new_findings
    );
    assert_eq!(
        run.report.matched.get("completed"),
        Some(&(run.report.ours.paid))
    );
    // The day the sample asks for, read back as JSON and CSV; and finance's export of
    // every completed payout since 1 November: the three the scheduled run paid and o-3's.
    let asked = service::reconciliation::day_asked(&event, now, tz).unwrap();
    service::reconciliation::reconcile_day(&store, &paying, asked, now, None)
        .await
        .unwrap();
    for name in ["reconciliation-report", "reconciliation-csv", "payouts-csv"] {
        let endpoint = Endpoint::for_function(name).unwrap();
        let request = lambda_http::request::from_str(&events[name]).unwrap();
        let reply = api.send(endpoint, request).await;
        assert_eq!(reply.status, 200, "events/{name}.json: {}", reply.text);
        match name {
            "reconciliation-report" => assert_eq!(reply.body["report"]["date"], "2026-11-24"),
            "reconciliation-csv" => assert!(reply.text.starts_with("date,found_at,kind,")),
            _ => assert_eq!(reply.text.lines().skip(1).count(), 4, "{}", reply.text),
        }
    }

    // Monday comes: the sweep requests what s-1 has left (put-payout-schedule.json).
    let mut schedule: PayoutSchedule = store.schedule_item("s-1").await.unwrap().unwrap();
    let due = domain::time::Timestamp::now().minus_secs(60);
    schedule.next_due_at = Some(due);
    store
        .put_schedule("s-1", &schedule, Some(due))
        .await
        .unwrap();
    let event: EventBridgeEvent = serde_json::from_str(&events["sweep-earnings"]).unwrap();
    let swept = on_sweep_schedule(&store, limits, chrono_tz::Asia::Kolkata, &event, None)
        .await
        .unwrap();
    assert_eq!((swept.due, swept.requested), (1, 1), "{swept:?}");
    let s1 = store.scout("s-1").await.unwrap().unwrap();
    assert_eq!(s1.earnings_paise.get(), 0);
    assert_books_balance(&store, &["s-1", "s-2", "s-3"], &[8, 10]).await;

    // The stream batch: a payout completed (one event) and a summary item (none).
    let batch: aws_lambda_events::dynamodb::Event =
        serde_json::from_str(&events["publish-events"]).unwrap();
    let bus = fresh_bus(&serde_json::json!({"source": ["payouts"]})).await;
    let publisher = Publisher::new(
        EventBridgeBus::new(bus.clients.eventbridge.clone(), &bus.name),
        RetryPolicy::default(),
    );
    let report = publisher.publish(&batch).await;
    assert_eq!(
        (report.records, report.published, report.retry_from),
        (2, 1, None)
    );
    let published = bus.capture.drain().await.unwrap();
    let notify_event: EventBridgeEvent<PayoutEvent> =
        serde_json::from_str(&events["notify"]).unwrap();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0]["detail-type"], "payout.completed");
    // notify.json is what EventBridge hands the notify rule for that change.
    assert_eq!(
        serde_json::from_value::<PayoutEvent>(published[0]["detail"].clone()).unwrap(),
        notify_event.detail
    );

    // User 7 saved an email with put-payout-account.json: one email, once.
    let (ses, from) = fresh_sender("payouts-test").await;
    let mailer = SesMailer::new(ses, &from, Some("payouts-test".to_owned()));
    let notifier = Notifier::new(&store, &mailer);
    let sent = notifier.on_event(&notify_event, None).await.unwrap();
    assert_eq!(sent.as_str(), "sent");
    let again = notifier.on_event(&notify_event, None).await.unwrap();
    assert_eq!(again.as_str(), "already_sent");
    let emails = sent_emails(&from).await;
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0].to, vec!["asha@example.com".to_owned()]);

    // notify-account-changed.json: user 7's account now pays a UPI address and emails
    // another address. One email to each, once; the event reads back as it was written.
    let text = &events["notify-account-changed"];
    let changed: EventBridgeEvent<Event> = serde_json::from_str(text).unwrap();
    let sample: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(
        serde_json::to_value(&changed.detail).unwrap(),
        sample["detail"]
    );
    let sent = notifier.on_event(&changed, None).await.unwrap();
    assert_eq!(sent.as_str(), "sent");
    let again = notifier.on_event(&changed, None).await.unwrap();
    assert_eq!(again.as_str(), "already_sent");
    let emails = sent_emails(&from).await;
    assert_eq!(emails.len(), 3, "{emails:#?}");
    let mut recipients: Vec<&str> = emails[1..]
        .iter()
        .flat_map(|email| email.to.iter().map(String::as_str))
        .collect();
    recipients.sort();
    assert_eq!(recipients, ["asha.rao@example.net", "asha@example.com"]);
}

#[test]
fn path_parameters_come_from_the_event_or_else_from_the_raw_path() {
    for (name, text) in sample_events() {
        let Some(endpoint) = Endpoint::for_function(&name) else {
            continue;
        };
        let request = lambda_http::request::from_str(&text).unwrap();
        let given = request.path_parameters();
        // The same call as `cargo lambda` makes it, with no pathParameters at all.
        let mut bare: serde_json::Value = serde_json::from_str(&text).unwrap();
        let raw = format!("/lambda-url/{name}{}", bare["rawPath"].as_str().unwrap());
        bare["rawPath"] = raw.clone().into();
        bare["requestContext"]["http"]["path"] = raw.into();
        bare.as_object_mut().unwrap().remove("pathParameters");
        let bare = lambda_http::request::from_str(&bare.to_string()).unwrap();
        for param in ["scout_id", "order_id", "payout_id", "user_id"] {
            assert_eq!(
                path_param(&bare, endpoint, param).as_deref(),
                given.first(param),
                "{name}: {param}"
            );
            assert_eq!(
                path_param(&request, endpoint, param).as_deref(),
                given.first(param)
            );
        }
    }
}

/// The event shapes `ingest-marketplace` takes are written down as JSON Schemas
/// (events/schema): the samples conform, and details the ingester refuses for their
/// shape are refused by the schemas too.
#[test]
fn the_marketplace_event_samples_conform_to_their_schemas() {
    let root = paths::workspace_root();
    let read = |path: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(root.join(path)).unwrap()).unwrap()
    };
    for (schema, sample) in [
        (
            "events/schema/marketplace-scout.schema.json",
            "events/ingest-marketplace-scout.json",
        ),
        (
            "events/schema/marketplace-order.schema.json",
            "events/ingest-marketplace-order.json",
        ),
    ] {
        let validator = jsonschema::validator_for(&read(schema)).unwrap();
        let sample = read(sample);
        assert!(validator.is_valid(&sample), "{schema}: {sample}");
        let broken = |field: &str, value: serde_json::Value| {
            let mut event = sample.clone();
            event["detail"][field] = value;
            event
        };
        let id = if schema.contains("scout") {
            "scout_id"
        } else {
            "order_id"
        };
        for bad in [
            broken("nickname", serde_json::json!("x")),
            broken(id, serde_json::json!("")),
            broken(id, serde_json::json!("has space")),
        ] {
            assert!(!validator.is_valid(&bad), "{schema} takes {bad}");
        }
    }
    let orders =
        jsonschema::validator_for(&read("events/schema/marketplace-order.schema.json")).unwrap();
    let mut backwards = read("events/ingest-marketplace-order.json");
    backwards["detail"]["status"] = serde_json::json!("returned");
    assert!(!orders.is_valid(&backwards));
    backwards["detail"]["status"] = serde_json::json!("shipped");
    backwards["detail"]["item_price_paise"] = serde_json::json!(-1);
    assert!(!orders.is_valid(&backwards));
}
