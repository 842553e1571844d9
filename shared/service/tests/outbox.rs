//! The publisher between the table's stream and the bus, on DynamoDB Local's real
//! stream and moto's EventBridge: a replayed batch publishes the same ids, entries the
//! bus refuses are sent again alone, and what cannot be published stops the batch at
//! the first such record, from where Lambda's retry publishes the rest.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use devkit::streams::{StartAt, StreamReader};
use devkit::testing::{endpoint, fresh_bus, fresh_store, gateway, processor_config, TestBus};
use domain::actor::Actor;
use domain::money::Paise;
use gateway::BeneficiaryIds;
use service::account::{save_payout_account, Destination, NewPayoutAccount, PayoutAccount};
use service::config::PayoutLimits;
use service::events::bus::{EntryOutcome, EventBridgeBus, EventBus};
use service::events::publish::{Publisher, RetryPolicy};
use service::events::{Event, PayoutAccountChanged, PayoutEvent, PayoutEventType};
use service::process::Processor;
use service::scout::{request_payout, PayoutRequest, Scout};
use store::Store;
use uuid::Uuid;

const OWNER: u64 = 31;
const LIMITS: PayoutLimits = PayoutLimits {
    min: Paise(1),
    max: Paise(1_000_000),
};

/// `count` payouts requested and paid: three events each (requested, processing,
/// completed), in the stream with the scout's and the counters' own records between.
async fn paid_payouts(count: usize) -> (Store, Vec<Uuid>) {
    let store = fresh_store().await;
    store
        .insert_scout(&Scout::with_earnings("s-1", OWNER, Paise(10_000_000)))
        .await
        .unwrap();
    let mut ids = Vec::new();
    for index in 0..count {
        let request = PayoutRequest {
            scout_id: "s-1".to_owned(),
            amount: Some(Paise(1_000 + index as u64)),
            idempotency_key: None,
        };
        let requested = request_payout(&store, LIMITS, &Actor::user(OWNER), request)
            .await
            .unwrap();
        ids.push(requested.payout().payout_id);
    }
    let gateway = gateway(&store, 1.0);
    let summary = Processor::new(&store, &gateway, processor_config(count))
        .run()
        .await
        .unwrap();
    assert_eq!(summary.completed, count);
    (store, ids)
}

fn catch_all() -> serde_json::Value {
    serde_json::json!({"source": ["payouts"]})
}

fn real_bus(bus: &TestBus) -> EventBridgeBus {
    EventBridgeBus::new(bus.clients.eventbridge.clone(), &bus.name)
}

fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        first_pause: std::time::Duration::from_millis(1),
    }
}

/// What reached the bus's catch-all rule, as details.
async fn delivered(bus: &TestBus) -> Vec<PayoutEvent> {
    bus.capture
        .drain()
        .await
        .unwrap()
        .into_iter()
        .map(|envelope| serde_json::from_value(envelope["detail"].clone()).unwrap())
        .collect()
}

/// The whole stream so far, in batches of `size`, published by `publisher`; every
/// batch must go out whole.
async fn publish_all<B: EventBus>(store: &Store, publisher: &Publisher<B>, size: usize) {
    let mut reader = StreamReader::open(&endpoint(), store.table(), StartAt::TrimHorizon)
        .await
        .unwrap();
    loop {
        let batch = reader.next_batch(size).await.unwrap();
        if batch.records.is_empty() {
            return;
        }
        let report = publisher.publish(&batch).await;
        assert_eq!(report.retry_from, None, "{report:?}");
    }
}

/// A bus in front of the real one that refuses the entries it is told to, a number
/// of times each (without passing them on), and remembers every call.
struct RefusingBus {
    inner: EventBridgeBus,
    refusals: Mutex<HashMap<String, u32>>,
    calls: Mutex<Vec<Vec<PayoutEvent>>>,
}

impl RefusingBus {
    fn new(inner: EventBridgeBus, refuse: impl IntoIterator<Item = (String, u32)>) -> Self {
        RefusingBus {
            inner,
            refusals: Mutex::new(refuse.into_iter().collect()),
            calls: Mutex::new(Vec::new()),
        }
    }

    fn calls(&self) -> Vec<Vec<PayoutEvent>> {
        self.calls.lock().unwrap().clone()
    }
}

impl EventBus for RefusingBus {
    async fn put_events(&self, events: &[&Event]) -> domain::Result<Vec<EntryOutcome>> {
        // The payouts of these tests save no account: every event is a payout's.
        self.calls.lock().unwrap().push(
            events
                .iter()
                .map(|event| event.as_payout().expect("a payout event").clone())
                .collect(),
        );
        let refused: Vec<bool> = {
            let mut refusals = self.refusals.lock().unwrap();
            events
                .iter()
                .map(|event| match refusals.get_mut(event.event_id()) {
                    Some(left) if *left > 0 => {
                        *left -= 1;
                        true
                    }
                    _ => false,
                })
                .collect()
        };
        let passed: Vec<&Event> = events
            .iter()
            .zip(&refused)
            .filter(|(_, refused)| !**refused)
            .map(|(event, _)| *event)
            .collect();
        let mut passed_outcomes = if passed.is_empty() {
            Vec::new()
        } else {
            self.inner.put_events(&passed).await?
        }
        .into_iter();
        Ok(refused
            .into_iter()
            .map(|refused| match refused {
                true => EntryOutcome::Failed {
                    code: "ThrottlingException".to_owned(),
                    message: "Rate exceeded".to_owned(),
                },
                false => passed_outcomes.next().unwrap(),
            })
            .collect())
    }
}

#[tokio::test]
async fn a_replayed_stream_publishes_the_same_event_ids() {
    let (store, ids) = paid_payouts(4).await;
    let bus = fresh_bus(&catch_all()).await;
    let publisher = Publisher::new(real_bus(&bus), RetryPolicy::default());

    publish_all(&store, &publisher, 100).await;
    let first = delivered(&bus).await;
    // The same records again, in other batch sizes, as a Lambda retry or a replay
    // of the stream would deliver them.
    publish_all(&store, &publisher, 3).await;
    let second = delivered(&bus).await;

    assert_eq!(first.len(), ids.len() * 3);
    let by_id = |events: &[PayoutEvent]| -> HashMap<String, PayoutEvent> {
        events
            .iter()
            .map(|event| (event.event_id.clone(), event.clone()))
            .collect()
    };
    assert_eq!(by_id(&first).len(), first.len(), "ids are unique");
    // Same ids, same details: a consumer deduplicating on the id loses nothing.
    assert_eq!(by_id(&first), by_id(&second));
    assert_eq!(second.len(), first.len());
}

#[tokio::test]
async fn refused_entries_are_sent_again_alone_and_none_is_lost() {
    let (store, ids) = paid_payouts(12).await;
    let bus = fresh_bus(&catch_all()).await;
    // Learn the ids from a dry pass on a bus of its own.
    let probe = fresh_bus(&catch_all()).await;
    publish_all(
        &store,
        &Publisher::new(real_bus(&probe), quick_retries()),
        100,
    )
    .await;
    let all = delivered(&probe).await;
    let refuse: Vec<(String, u32)> = all
        .iter()
        .step_by(4)
        .map(|event| (event.event_id.clone(), 2))
        .collect();
    let refused: HashSet<String> = refuse.iter().map(|(id, _)| id.clone()).collect();

    let refusing = RefusingBus::new(real_bus(&bus), refuse);
    let publisher = Publisher::new(refusing, quick_retries());
    let mut reader = StreamReader::open(&endpoint(), store.table(), StartAt::TrimHorizon)
        .await
        .unwrap();
    let mut resent = 0;
    loop {
        let batch = reader.next_batch(100).await.unwrap();
        if batch.records.is_empty() {
            break;
        }
        let report = publisher.publish(&batch).await;
        assert_eq!(report.retry_from, None, "{report:?}");
        resent += report.resent;
    }
    assert_eq!(resent, refused.len() * 2);

    // Every event arrived once; a resend carried only entries refused before.
    let arrived = delivered(&bus).await;
    let mut arrived_ids: Vec<&str> = arrived.iter().map(|e| e.event_id.as_str()).collect();
    arrived_ids.sort();
    let mut expected: Vec<&str> = all.iter().map(|e| e.event_id.as_str()).collect();
    expected.sort();
    assert_eq!(arrived_ids, expected);
    assert_eq!(arrived.len(), ids.len() * 3);
    let calls = publisher.bus().calls();
    let mut seen = HashSet::new();
    for call in &calls {
        assert!(call.len() <= 10, "PutEvents takes at most 10 entries");
        let payouts: HashSet<Uuid> = call.iter().map(|e| e.payout_id).collect();
        assert_eq!(payouts.len(), call.len(), "one event per payout per call");
        for event in call {
            if !seen.insert(event.event_id.clone()) {
                assert!(
                    refused.contains(&event.event_id),
                    "{} resent",
                    event.event_id
                );
            }
        }
    }
}

#[tokio::test]
async fn an_entry_refused_for_good_stops_the_batch_and_the_retry_from_it_publishes_the_rest() {
    let (store, ids) = paid_payouts(3).await;
    let probe = fresh_bus(&catch_all()).await;
    publish_all(
        &store,
        &Publisher::new(real_bus(&probe), quick_retries()),
        100,
    )
    .await;
    let all = delivered(&probe).await;
    // The second payout's `processing`: refused more often than the publisher tries.
    let stuck = all
        .iter()
        .find(|e| e.payout_id == ids[1] && e.event_type == PayoutEventType::Processing)
        .unwrap()
        .clone();

    let bus = fresh_bus(&catch_all()).await;
    let refusing = RefusingBus::new(real_bus(&bus), [(stuck.event_id.clone(), 3)]);
    let publisher = Publisher::new(refusing, quick_retries());
    let mut reader = StreamReader::open(&endpoint(), store.table(), StartAt::TrimHorizon)
        .await
        .unwrap();
    let batch = reader.next_batch(1_000).await.unwrap();
    let report = publisher.publish(&batch).await;
    let retry_from = report
        .retry_from
        .clone()
        .expect("the batch did not all go out");
    let response = report.response();
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(
        response.batch_item_failures[0].item_identifier.as_deref(),
        Some(retry_from.as_str())
    );
    let first_pass = delivered(&bus).await;
    assert!(!first_pass.iter().any(|e| e.event_id == stuck.event_id));
    // Nothing of that payout after its stuck event left: its order holds.
    assert!(!first_pass
        .iter()
        .any(|e| e.payout_id == stuck.payout_id && e.version > stuck.version));

    // Lambda sends the batch again from the record it was told.
    reader.rewind_to(&retry_from).await.unwrap();
    let retry = reader.next_batch(1_000).await.unwrap();
    assert_eq!(
        retry.records[0].change.sequence_number.as_deref(),
        Some(retry_from.as_str())
    );
    let report = publisher.publish(&retry).await;
    assert_eq!(report.retry_from, None, "{report:?}");
    let second_pass = delivered(&bus).await;

    let mut arrived: Vec<&PayoutEvent> = first_pass.iter().chain(&second_pass).collect();
    let distinct: HashSet<&str> = arrived.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(distinct.len(), all.len(), "every event arrived");
    // Duplicates are the retried tail only, with the same ids and details.
    arrived.sort_by(|a, b| a.event_id.cmp(&b.event_id));
    for pair in arrived.windows(2) {
        if pair[0].event_id == pair[1].event_id {
            assert_eq!(pair[0], pair[1]);
        }
    }
    // Per payout, first arrivals are in version order.
    for id in &ids {
        let versions: Vec<u64> = first_pass
            .iter()
            .chain(&second_pass)
            .filter(|e| e.payout_id == *id)
            .map(|e| e.version)
            .fold(Vec::new(), |mut seen, version| {
                if !seen.contains(&version) {
                    seen.push(version);
                }
                seen
            });
        let mut sorted = versions.clone();
        sorted.sort();
        assert_eq!(versions, sorted, "payout {id}");
    }
}

#[tokio::test]
async fn records_that_are_not_payout_status_changes_publish_nothing() {
    let store = fresh_store().await;
    store
        .insert_scout(&Scout::with_earnings("s-2", OWNER, Paise(5_000)))
        .await
        .unwrap();
    let bus = fresh_bus(&catch_all()).await;
    let publisher = Publisher::new(real_bus(&bus), RetryPolicy::default());
    let mut reader = StreamReader::open(&endpoint(), store.table(), StartAt::TrimHorizon)
        .await
        .unwrap();
    let batch = reader.next_batch(100).await.unwrap();
    assert!(
        !batch.records.is_empty(),
        "the scout's record is in the stream"
    );
    let report = publisher.publish(&batch).await;
    assert_eq!((report.published, report.retry_from), (0, None));
    assert!(delivered(&bus).await.is_empty());
}

/// While a deploy rolls out, code from before `version` may still write: its changes
/// leave the number where it was, and must not share an id with another change.
#[test]
fn a_change_that_did_not_move_the_version_takes_its_stream_records_id() {
    let text =
        std::fs::read_to_string(devkit::paths::workspace_root().join("events/publish-events.json"))
            .unwrap();
    let sample: serde_json::Value = serde_json::from_str(&text).unwrap();
    let event_for = |new_version: &str, record_id: &str| {
        let mut sample = sample.clone();
        sample["Records"][0]["dynamodb"]["NewImage"]["version"]["N"] = new_version.into();
        sample["Records"][0]["eventID"] = record_id.into();
        let batch: aws_lambda_events::dynamodb::Event = serde_json::from_value(sample).unwrap();
        service::events::event_for_record(&batch.records[0])
            .unwrap()
            .unwrap()
    };
    let moved = event_for("3", "a1");
    assert_eq!(
        moved.event_id,
        format!("{}:3:payout.completed", moved.payout_id)
    );
    // Same change read again: same id, whatever the stream record's id.
    assert_eq!(event_for("3", "b2").event_id, moved.event_id);
    let stayed = event_for("2", "a1");
    assert_eq!(
        stayed.event_id,
        format!("{}:record-a1:payout.completed", stayed.payout_id)
    );
    assert_ne!(event_for("2", "b2").event_id, stayed.event_id);
}

const ACCOUNT_NUMBER: &str = "000123456789012";
const IFSC: &str = "HDFC0001234";
const VPA: &str = "asha.rao@okhdfc";
/// How long a changed account holds payouts in these tests (a day, as deployed).
const HOLD_SECS: u64 = 86_400;

fn bank_account() -> Destination {
    Destination::BankAccount {
        ifsc: IFSC.to_owned(),
        account_number: ACCOUNT_NUMBER.to_owned(),
    }
}

fn vpa() -> Destination {
    Destination::Vpa {
        address: VPA.to_owned(),
    }
}

/// The user saves their payout account, through the same code as `PUT
/// /me/payout-account`.
async fn save_account(
    store: &Store,
    user_id: u64,
    name: &str,
    destination: Destination,
    email: Option<&str>,
) -> PayoutAccount {
    save_payout_account(
        store,
        &devkit::testing::vault().await,
        &Actor::user(user_id),
        NewPayoutAccount {
            name: name.to_owned(),
            destination,
            email: email.map(str::to_owned),
        },
        HOLD_SECS,
    )
    .await
    .unwrap()
}

/// Every event the table's stream makes so far, as the bus delivered them.
async fn published(store: &Store) -> Vec<serde_json::Value> {
    let bus = fresh_bus(&catch_all()).await;
    publish_all(store, &Publisher::new(real_bus(&bus), quick_retries()), 100).await;
    bus.capture.drain().await.unwrap()
}

/// A save that sends the money elsewhere (and the emails to another address)
/// is published once, as `payout_account.changed`, with both destinations masked and
/// both addresses; nothing of it reads the account number or the UPI address in full.
#[tokio::test]
async fn a_changed_payout_account_publishes_one_event_with_both_destinations_masked() {
    let store = fresh_store().await;
    let first = save_account(
        &store,
        51,
        "Asha Rao",
        bank_account(),
        Some("asha@example.com"),
    )
    .await;
    let changed = save_account(&store, 51, "Asha Rao", vpa(), Some("mallory@example.net")).await;

    // The stream as the function receives it: one record stands for the event.
    let mut reader = StreamReader::open(&endpoint(), store.table(), StartAt::TrimHorizon)
        .await
        .unwrap();
    let batch = reader.next_batch(1_000).await.unwrap();
    let from_records: Vec<Event> = batch
        .records
        .iter()
        .filter_map(|record| Event::for_record(record).unwrap())
        .collect();
    assert_eq!(from_records.len(), 1, "{from_records:?}");

    let envelopes = published(&store).await;
    let [envelope] = envelopes.as_slice() else {
        panic!("one event expected: {envelopes:#?}")
    };
    assert_eq!(envelope["source"], "payouts");
    assert_eq!(envelope["detail-type"], "payout_account.changed");
    let event: PayoutAccountChanged = serde_json::from_value(envelope["detail"].clone()).unwrap();
    assert_eq!(
        Event::PayoutAccountChanged(event.clone()),
        from_records[0],
        "the bus carries the detail as built"
    );
    assert_eq!(
        envelope["detail"],
        serde_json::json!({
            "event_id": format!("51:{}:payout_account.changed", changed.revision),
            "event_type": "payout_account.changed",
            "user_id": 51,
            "revision": changed.revision,
            "changed_at": changed.updated_at.to_string(),
            "destination_changed": true,
            "email_changed": true,
            "previous_destination": {"type": "bank_account", "ifsc": IFSC, "account_number": "XXXXXXXXXXX9012"},
            "new_destination": {"type": "vpa", "address": "as***@okhdfc"},
            "previous_email": "asha@example.com",
            "new_email": "mallory@example.net",
            "hold_until": changed.hold_until.expect("a changed account is held").to_string(),
        })
    );
    assert!(changed.revision > first.revision);

    let text = envelope.to_string();
    for raw in [ACCOUNT_NUMBER, "456789012", VPA, "asha.rao@", "Asha Rao"] {
        assert!(!text.contains(raw), "`{raw}` in {text}");
    }

    // Read again (a retried batch, a replayed stream): the same event, the same id.
    let again = published(&store).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0]["detail"], envelope["detail"]);
}

/// The first save after deploying, of an account kept where accounts were
/// before they had a key space of their own, moves it and is still announced as the
/// change it is (the move itself announces nothing).
#[tokio::test]
async fn a_change_of_an_account_not_migrated_yet_is_announced() {
    let store = fresh_store().await;
    devkit::testing::legacy_account(
        &store,
        54,
        NewPayoutAccount {
            name: "Asha Rao".to_owned(),
            destination: bank_account(),
            email: Some("asha@example.com".to_owned()),
        },
    )
    .await;
    let changed = save_account(&store, 54, "Asha Rao", vpa(), Some("mallory@example.net")).await;
    let envelopes = published(&store).await;
    let changes: Vec<&serde_json::Value> = envelopes
        .iter()
        .filter(|envelope| envelope["detail"]["user_id"] == 54)
        .collect();
    let [envelope] = changes.as_slice() else {
        panic!("one change of user 54 expected: {envelopes:#?}")
    };
    assert_eq!(envelope["detail-type"], "payout_account.changed");
    assert_eq!(envelope["detail"]["revision"], changed.revision);
    assert_eq!(envelope["detail"]["previous_email"], "asha@example.com");
    assert_eq!(envelope["detail"]["new_email"], "mallory@example.net");
    assert!(changed.hold_until.is_some());
}

/// An account saved in plain text in its own place (the version before destinations were
/// sealed) is sealed in place without a notice, and the same destination saved again is
/// still no news; but a number written over it in place, keeping the revision, is.
#[tokio::test]
async fn sealing_in_place_is_no_news_but_a_number_replaced_in_place_is() {
    let store = fresh_store().await;
    let vault = devkit::testing::vault().await;
    let first = save_account(&store, 56, "Asha Rao", bank_account(), None).await;
    devkit::testing::plain_account_in_place(&store, 56, ACCOUNT_NUMBER).await;
    service::account::migrate_legacy_accounts(&store, &vault)
        .await
        .unwrap();
    let again = save_account(&store, 56, "Asha Rao", bank_account(), None).await;
    assert_eq!(again.revision, first.revision + 1);
    assert_eq!(again.hold_until, None);
    let envelopes = published(&store).await;
    assert!(
        !envelopes
            .iter()
            .any(|envelope| envelope["detail"]["user_id"] == 56),
        "{envelopes:#?}"
    );

    let other = save_account(&store, 57, "Asha Rao", bank_account(), None).await;
    devkit::testing::plain_account_in_place(&store, 57, "999988887777").await;
    let envelopes = published(&store).await;
    let changes: Vec<&serde_json::Value> = envelopes
        .iter()
        .filter(|envelope| envelope["detail"]["user_id"] == 57)
        .collect();
    let [envelope] = changes.as_slice() else {
        panic!("one change of user 57 expected: {envelopes:#?}")
    };
    assert_eq!(envelope["detail"]["revision"], other.revision);
    assert_eq!(envelope["detail"]["destination_changed"], true);
}

/// Only a new destination or a new address is news: a first save, a new name, the
/// gateway's ids being remembered, or the same account saved again publish nothing.
#[tokio::test]
async fn a_first_save_a_new_name_or_the_gateway_ids_publish_nothing() {
    let store = fresh_store().await;
    let first = save_account(
        &store,
        52,
        "Asha Rao",
        bank_account(),
        Some("asha@example.com"),
    )
    .await;
    let renamed = save_account(
        &store,
        52,
        "Asha R Rao",
        bank_account(),
        Some("asha@example.com"),
    )
    .await;
    assert!(renamed.revision > first.revision);
    let ids = BeneficiaryIds {
        contact_id: "cont_00000000000001".to_owned(),
        fund_account_id: "fa_00000000000001".to_owned(),
    };
    assert!(store
        .remember_gateway_ids(52, renamed.revision, &ids)
        .await
        .unwrap());
    save_account(
        &store,
        52,
        "Asha R Rao",
        bank_account(),
        Some("asha@example.com"),
    )
    .await;
    // Another user's first save, with no email.
    save_account(&store, 53, "Ravi Kumar", vpa(), None).await;

    let mut reader = StreamReader::open(&endpoint(), store.table(), StartAt::TrimHorizon)
        .await
        .unwrap();
    let batch = reader.next_batch(1_000).await.unwrap();
    assert!(batch.records.len() >= 5, "the saves are in the stream");
    for record in &batch.records {
        assert_eq!(Event::for_record(record).unwrap(), None);
    }
    assert_eq!(published(&store).await, Vec::<serde_json::Value>::new());
}
