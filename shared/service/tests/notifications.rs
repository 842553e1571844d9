//! Emails for completed, failed and reversed payouts and for a changed payout account,
//! end to end on the local stack: a change in DynamoDB Local's stream, published to a
//! bus on moto, matched by the notify rule's pattern, handled by `notify`, sent through
//! moto's SES v2.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use devkit::testing::{fresh_sender, fresh_store, publish_table_stream, sent_emails};
use domain::actor::Actor;
use domain::money::Paise;
use domain::payout::{Payout, PayoutStatus, Transition};
use domain::time::Timestamp;
use service::account::{save_payout_account, Destination, NewPayoutAccount, PayoutAccount};
use service::config::PayoutLimits;
use service::events::{Event, PayoutEvent, PayoutEventType};
use service::notify::{time_in_words, Email, Mailer, Notified, Notifier, Recipient, SesMailer};
use service::scout::{request_payout, PayoutRequest, Scout};
use store::{EmailClaim, EmailRecord, EmailState, Lease, StatusChange, Store};
use uuid::Uuid;

const CONFIGURATION_SET: &str = "payouts-test";
const ACCOUNT_NUMBER: &str = "000123456789012";
const IFSC: &str = "HDFC0001234";
const VPA: &str = "asha.rao@okhdfc";
const BENEFICIARY: &str = "Asha Rao";

/// The pattern of the notify rule, as template.yaml deploys it.
fn notify_rule() -> serde_json::Value {
    let template: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(devkit::paths::template()).unwrap()).unwrap();
    let pattern = &template["Resources"]["NotifyFunction"]["Properties"]["Events"]["PayoutEmails"]
        ["Properties"]["Pattern"];
    let pattern = serde_json::to_value(pattern).unwrap();
    assert_eq!(
        pattern,
        serde_json::json!({
            "source": ["payouts"],
            "detail-type": ["payout.completed", "payout.failed", "payout.reversed", "payout_account.changed"],
        })
    );
    pattern
}

async fn with_account(store: &Store, user_id: u64, destination: Destination, email: Option<&str>) {
    save_account(store, user_id, destination, email, 0).await;
}

/// Saves the user's account as `PUT /me/payout-account` does; a change holds payouts
/// for `hold_secs`.
async fn save_account(
    store: &Store,
    user_id: u64,
    destination: Destination,
    email: Option<&str>,
    hold_secs: u64,
) -> PayoutAccount {
    save_payout_account(
        store,
        &devkit::testing::vault().await,
        &Actor::user(user_id),
        NewPayoutAccount {
            name: BENEFICIARY.to_owned(),
            destination,
            email: email.map(str::to_owned),
        },
        hold_secs,
    )
    .await
    .unwrap()
}

fn bank_account() -> Destination {
    Destination::BankAccount {
        ifsc: IFSC.to_owned(),
        account_number: ACCOUNT_NUMBER.to_owned(),
    }
}

/// A scout payout of `amount` to `user_id`, taken to `status` through the lifecycle's
/// own writes.
async fn payout_ending(store: &Store, user_id: u64, amount: u64, status: PayoutStatus) -> Payout {
    let scout_id = format!("s-{user_id}");
    store
        .insert_scout(&Scout::with_earnings(
            &scout_id,
            user_id,
            Paise(10_000_000_000),
        ))
        .await
        .unwrap();
    let limits = PayoutLimits {
        min: Paise(1),
        max: Paise(1_000_000_000),
    };
    let request = PayoutRequest {
        scout_id,
        amount: Some(Paise(amount)),
        idempotency_key: None,
    };
    let mut payout = request_payout(store, limits, &Actor::user(user_id), request)
        .await
        .unwrap()
        .payout()
        .clone();
    let token = "notify-test";
    let mut steps = vec![(Transition::Claim, Lease::Acquire(token))];
    steps.push(match status {
        PayoutStatus::Completed => (Transition::Complete, Lease::Release(token)),
        PayoutStatus::Failed => (Transition::Fail, Lease::Release(token)),
        _ => (Transition::Reverse, Lease::Break),
    });
    for (transition, lease) in steps {
        let mut next = payout.clone();
        next.updated_at = Timestamp::now();
        next.lease_expires_at = match transition {
            Transition::Claim => Some(Timestamp::now().plus_secs(300)),
            _ => None,
        };
        match transition {
            Transition::Claim => {
                next.attempt_sent_at = Some(Timestamp::now());
                next.gateway_fund_account_id = Some("fa_00000000000001".to_owned());
            }
            Transition::Complete => next.payment_reference = Some("UTR2026120200001".to_owned()),
            Transition::Fail => next.failure_reason = Some("payout_account_invalid".to_owned()),
            _ => next.failure_reason = Some("beneficiary account closed".to_owned()),
        }
        payout = store
            .change_status(
                &payout,
                StatusChange {
                    transition,
                    next,
                    lease,
                    gateway_status_not_in: None,
                },
            )
            .await
            .unwrap();
    }
    payout
}

/// Publishes the table's stream to a bus with the notify rule; the events it matched,
/// as the notify function receives them.
async fn deliveries(store: &Store) -> Vec<EventBridgeEvent<Event>> {
    publish_table_stream(store, &notify_rule())
        .await
        .into_iter()
        .map(|envelope| serde_json::from_value(envelope).unwrap())
        .collect()
}

/// The payout events of [`deliveries`].
async fn notify_deliveries(store: &Store) -> Vec<EventBridgeEvent<PayoutEvent>> {
    publish_table_stream(store, &notify_rule())
        .await
        .into_iter()
        .filter(|envelope| {
            envelope["detail-type"]
                .as_str()
                .is_some_and(|kind| kind.starts_with("payout."))
        })
        .map(|envelope| serde_json::from_value(envelope).unwrap())
        .collect()
}

async fn ses() -> (SesMailer, String) {
    let (client, from) = fresh_sender(CONFIGURATION_SET).await;
    let mailer = SesMailer::new(client, &from, Some(CONFIGURATION_SET.to_owned()));
    (mailer, from)
}

#[tokio::test]
async fn one_email_per_completed_failed_and_reversed_payout_and_none_on_redelivery() {
    let store = fresh_store().await;
    let address = format!("seller-{}@example.com", Uuid::new_v4().simple());
    with_account(&store, 41, bank_account(), Some(&address)).await;
    let completed = payout_ending(&store, 41, 15_000_000, PayoutStatus::Completed).await;
    let failed = payout_ending(&store, 41, 250_000, PayoutStatus::Failed).await;
    let reversed = payout_ending(&store, 41, 99_99, PayoutStatus::Reversed).await;

    let deliveries = notify_deliveries(&store).await;
    let kinds: Vec<PayoutEventType> = deliveries.iter().map(|d| d.detail.event_type).collect();
    assert_eq!(
        deliveries.len(),
        3,
        "only the rule's three types reach notify: {kinds:?}"
    );

    let (mailer, from) = ses().await;
    let notifier = Notifier::new(&store, &mailer);
    for delivery in &deliveries {
        let outcome = notifier.on_event(delivery, None).await.unwrap();
        assert!(matches!(outcome, Notified::Sent { .. }), "{outcome:?}");
        let record = store
            .email_record(&delivery.detail.event_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.state, EmailState::Sent);
    }
    // EventBridge delivers at least once: every event again, and nothing more is sent.
    for delivery in &deliveries {
        assert_eq!(
            notifier.on_event(delivery, None).await.unwrap(),
            Notified::AlreadySent
        );
    }

    let emails = sent_emails(&from).await;
    assert_eq!(emails.len(), 3, "{emails:#?}");
    for (payout, amount, words) in [
        (&completed, "₹1,50,000.00", "has been paid"),
        (&failed, "₹2,500.00", "could not be made"),
        (&reversed, "₹99.99", "returned by your bank"),
    ] {
        let email = emails
            .iter()
            .find(|email| email.body.contains(&payout.payout_id.to_string()))
            .unwrap_or_else(|| panic!("no email for {}", payout.payout_id));
        assert_eq!(email.to, vec![address.clone()]);
        assert!(email.subject.contains(amount), "{}", email.subject);
        assert!(email.subject.contains(words), "{}", email.subject);
        assert!(email.body.contains("What happens next"), "{}", email.body);
    }
    assert!(emails[..]
        .iter()
        .any(|e| e.body.contains("UTR2026120200001")));
}

#[tokio::test]
async fn no_bank_detail_reaches_an_event_or_an_email() {
    let store = fresh_store().await;
    let address = format!("vpa-{}@example.com", Uuid::new_v4().simple());
    with_account(&store, 42, bank_account(), Some(&address)).await;
    payout_ending(&store, 42, 10_000, PayoutStatus::Completed).await;
    with_account(
        &store,
        42,
        Destination::Vpa {
            address: VPA.to_owned(),
        },
        Some(&address),
    )
    .await;
    payout_ending(&store, 42, 20_000, PayoutStatus::Reversed).await;

    // Every event, not only the emailed ones: six of payouts and the account's change.
    let events = publish_table_stream(&store, &serde_json::json!({"source": ["payouts"]})).await;
    assert_eq!(events.len(), 7);

    let (mailer, from) = ses().await;
    let notifier = Notifier::new(&store, &mailer);
    for delivery in deliveries(&store).await {
        notifier.on_event(&delivery, None).await.unwrap();
    }
    let emails = sent_emails(&from).await;
    assert_eq!(emails.len(), 3);

    let is_account_change = |text: &str| text.contains("payout_account.changed");
    let texts = events.iter().map(|event| event.to_string()).chain(
        emails
            .iter()
            .map(|email| format!("{} {}", email.subject, email.body)),
    );
    for text in texts {
        for secret in [ACCOUNT_NUMBER, "6789012", VPA, BENEFICIARY, "fa_0000"] {
            assert!(!text.contains(secret), "`{secret}` in {text}");
        }
        // The account's change names the destinations (masked, with the IFSC) and its
        // event the addresses, for notify to write to: payout events and emails never.
        let about_the_account =
            is_account_change(&text) || text.contains("payout account was changed");
        if !about_the_account {
            for secret in [IFSC, &address] {
                assert!(!text.contains(secret), "`{secret}` in {text}");
            }
        }
    }
}

#[tokio::test]
async fn users_without_an_email_are_skipped_and_other_events_are_not_emailed() {
    let store = fresh_store().await;
    with_account(&store, 43, bank_account(), None).await;
    payout_ending(&store, 43, 10_000, PayoutStatus::Completed).await;
    // User 44 has no payout account at all.
    payout_ending(&store, 44, 10_000, PayoutStatus::Failed).await;

    let (mailer, from) = ses().await;
    let notifier = Notifier::new(&store, &mailer);
    let deliveries = notify_deliveries(&store).await;
    assert_eq!(deliveries.len(), 2);
    for delivery in &deliveries {
        assert_eq!(
            notifier.on_event(delivery, None).await.unwrap(),
            Notified::NoEmailAddress
        );
        assert_eq!(
            store.email_record(&delivery.detail.event_id).await.unwrap(),
            None
        );
    }
    let mut processing = deliveries[0].clone();
    processing.detail.event_type = PayoutEventType::Processing;
    processing.detail_type = "payout.processing".to_owned();
    assert_eq!(
        notifier.on_event(&processing, None).await.unwrap(),
        Notified::NotEmailed
    );

    let mut forged = deliveries[0].clone();
    forged.source = "orders".to_owned();
    assert!(notifier.on_event(&forged, None).await.is_err());
    let mut mismatched = deliveries[0].clone();
    mismatched.detail_type = "payout.reversed".to_owned();
    assert!(notifier.on_event(&mismatched, None).await.is_err());
    assert!(sent_emails(&from).await.is_empty());
}

/// A mailer whose provider is down.
struct DownMailer;

impl Mailer for DownMailer {
    async fn send(&self, _email: &Email) -> domain::Result<String> {
        Err(domain::Error::Mail(
            "SES SendEmail: service unavailable".to_owned(),
        ))
    }
}

#[tokio::test]
async fn a_delivery_in_progress_elsewhere_or_a_failed_send_does_not_lose_the_email() {
    let store = fresh_store().await;
    let address = format!("busy-{}@example.com", Uuid::new_v4().simple());
    with_account(&store, 45, bank_account(), Some(&address)).await;
    payout_ending(&store, 45, 70_000, PayoutStatus::Completed).await;
    let deliveries = notify_deliveries(&store).await;
    let [delivery] = deliveries.as_slice() else {
        panic!("{deliveries:?}")
    };
    let event_id = &delivery.detail.event_id;
    let (mailer, from) = ses().await;

    // A send that fails gives its claim up: the next delivery need not wait.
    let down = Notifier::new(&store, &DownMailer);
    assert!(down.on_event(delivery, None).await.is_err());
    assert_eq!(store.email_record(event_id).await.unwrap(), None);

    // Another delivery holds a live claim: this one leaves it to that one, sending nothing.
    let now = Timestamp::now().unix_millis() / 1000;
    let held = EmailRecord {
        event_id: event_id.clone(),
        user_id: 45,
        state: EmailState::Sending,
        token: "another-delivery".to_owned(),
        lease_until: now + 60,
        message_id: None,
        expires_at: now + 86_400,
    };
    assert_eq!(
        store.claim_email(&held, now).await.unwrap(),
        EmailClaim::Claimed
    );
    let notifier = Notifier::new(&store, &mailer);
    assert_eq!(
        notifier.on_event(delivery, None).await.unwrap(),
        Notified::InProgressElsewhere
    );
    assert!(sent_emails(&from).await.is_empty());

    // That delivery died: once its lease has run out, the next one sends.
    let expired = EmailRecord {
        lease_until: now - 1,
        token: "a-delivery-that-died".to_owned(),
        ..held
    };
    store
        .release_email(event_id, "another-delivery")
        .await
        .unwrap();
    assert_eq!(
        store.claim_email(&expired, now).await.unwrap(),
        EmailClaim::Claimed
    );
    assert!(matches!(
        notifier.on_event(delivery, None).await.unwrap(),
        Notified::Sent { .. }
    ));
    assert_eq!(
        notifier.on_event(delivery, None).await.unwrap(),
        Notified::AlreadySent
    );
    assert_eq!(sent_emails(&from).await.len(), 1);
}

/// Recording a sent email gives up before the invocation's deadline: an invocation
/// cut off after SES took the email would be retried into a second one.
#[tokio::test]
async fn a_sent_email_is_reported_sent_even_when_no_time_is_left_to_record_it() {
    let store = fresh_store().await;
    let address = format!("late-{}@example.com", Uuid::new_v4().simple());
    with_account(&store, 46, bank_account(), Some(&address)).await;
    payout_ending(&store, 46, 30_000, PayoutStatus::Completed).await;
    let deliveries = notify_deliveries(&store).await;
    let [delivery] = deliveries.as_slice() else {
        panic!("{deliveries:?}")
    };
    let (mailer, from) = ses().await;
    let notifier = Notifier::new(&store, &mailer);
    let cut_off = Some(std::time::SystemTime::now());
    assert!(matches!(
        notifier.on_event(delivery, cut_off).await.unwrap(),
        Notified::Sent { .. }
    ));
    assert_eq!(sent_emails(&from).await.len(), 1);
    // Marked or not (the write may have landed before the time ran out), a
    // redelivery within the lease sends nothing.
    let again = notifier.on_event(delivery, None).await.unwrap();
    assert!(
        matches!(again, Notified::AlreadySent | Notified::InProgressElsewhere),
        "{again:?}"
    );
    assert_eq!(sent_emails(&from).await.len(), 1);
}

/// Under `cargo lambda watch` (`cargo xtask dev`, the smoke test) every invocation
/// states the emulator's deadline, ten minutes after the epoch: as `notify` reads it,
/// recording the email as sent still has its time, so nothing is logged as unrecorded
/// and a redelivery finds it sent rather than held. (The record alone would not tell:
/// a write given up on may land all the same.)
#[tokio::test]
async fn an_email_sent_under_the_local_emulator_is_marked_sent() {
    let store = fresh_store().await;
    let address = format!("local-{}@example.com", Uuid::new_v4().simple());
    with_account(&store, 48, bank_account(), Some(&address)).await;
    payout_ending(&store, 48, 30_000, PayoutStatus::Completed).await;
    let deliveries = notify_deliveries(&store).await;
    let [delivery] = deliveries.as_slice() else {
        panic!("{deliveries:?}")
    };
    let (mailer, from) = ses().await;
    let notifier = Notifier::new(&store, &mailer);
    let stated = std::time::SystemTime::UNIX_EPOCH
        + std::time::Duration::from_millis(platform::invocation::EMULATOR_DEADLINE_MS);
    let deadline = platform::invocation::deadline(stated);

    let (logs, guard) = devkit::testing::CapturedLogs::start("info");
    let sent = notifier.on_event(delivery, deadline).await.unwrap();
    drop(guard);
    let Notified::Sent { message_id } = sent else {
        panic!("{sent:?}")
    };
    let logs = logs.text();
    assert!(logs.contains("email_sent"), "{logs}");
    assert!(!logs.contains("email_not_marked_sent"), "{logs}");
    let record = store
        .email_record(&delivery.detail.event_id)
        .await
        .unwrap()
        .expect("the email's record");
    assert_eq!(record.state, EmailState::Sent, "{record:?}");
    assert_eq!(record.message_id.as_deref(), Some(message_id.as_str()));
    assert_eq!(
        notifier.on_event(delivery, deadline).await.unwrap(),
        Notified::AlreadySent
    );
    assert_eq!(sent_emails(&from).await.len(), 1);
}

/// The emails of a changed account, to `address`.
fn to<'a>(
    emails: &'a [devkit::moto::SentEmail],
    address: &str,
) -> Vec<&'a devkit::moto::SentEmail> {
    emails
        .iter()
        .filter(|email| email.to == vec![address.to_owned()])
        .collect()
}

/// A save that changes where the money goes and the email is told at the
/// address the account had and at the new one, once each however often the event
/// comes, naming both destinations (masked), the time, the hold, and what to do if it
/// was not the user.
#[tokio::test]
async fn a_changed_account_emails_the_previous_and_the_new_address_once_each() {
    let store = fresh_store().await;
    let previous = format!("owner-{}@example.com", Uuid::new_v4().simple());
    let new = format!("new-{}@example.net", Uuid::new_v4().simple());
    save_account(&store, 47, bank_account(), Some(&previous), 86_400).await;
    let changed = save_account(
        &store,
        47,
        Destination::Vpa {
            address: VPA.to_owned(),
        },
        Some(&new),
        86_400,
    )
    .await;
    let hold_until = changed.hold_until.expect("a changed account is held");

    let deliveries = deliveries(&store).await;
    let [delivery] = deliveries.as_slice() else {
        panic!("one event reaches notify: {deliveries:#?}")
    };
    assert_eq!(delivery.detail_type, "payout_account.changed");
    let Event::PayoutAccountChanged(detail) = &delivery.detail else {
        panic!("{delivery:?}")
    };

    let (mailer, from) = ses().await;
    let notifier = Notifier::new(&store, &mailer);
    let outcome = notifier.on_event(delivery, None).await.unwrap();
    assert!(matches!(outcome, Notified::Sent { .. }), "{outcome:?}");
    for recipient in [Recipient::Previous, Recipient::New] {
        let record = store
            .email_record(&recipient.claim_id(&detail.event_id))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.state, EmailState::Sent, "{recipient:?}");
    }
    // Delivered again: both find their email sent.
    assert_eq!(
        notifier.on_event(delivery, None).await.unwrap(),
        Notified::AlreadySent
    );
    let each = notifier.notify_account_changed(detail, None).await.unwrap();
    assert_eq!(
        each,
        vec![
            (Recipient::Previous, Notified::AlreadySent),
            (Recipient::New, Notified::AlreadySent)
        ]
    );

    let emails = sent_emails(&from).await;
    assert_eq!(emails.len(), 2, "{emails:#?}");
    let changed_at = time_in_words(changed.updated_at);
    for address in [&previous, &new] {
        let [email] = to(&emails, address)[..] else {
            panic!("one email to {address}: {emails:#?}")
        };
        let text = format!("{} {}", email.subject, email.body);
        assert!(email.subject.contains("changed"), "{}", email.subject);
        for part in [
            "XXXXXXXXXXX9012",
            IFSC,
            "as***@okhdfc",
            &changed_at,
            &format!("payouts will wait until {}", time_in_words(hold_until)),
            "If this was not you",
            "nothing has been paid to the new account yet",
        ] {
            assert!(
                text.contains(part),
                "`{part}` not in the email to {address}: {text}"
            );
        }
        for secret in [ACCOUNT_NUMBER, "456789012", VPA, BENEFICIARY] {
            assert!(!text.contains(secret), "`{secret}` in {text}");
        }
        // Neither email gives the other address away.
        let other = if address == &previous {
            &new
        } else {
            &previous
        };
        assert!(!text.contains(other.as_str()), "{text}");
    }
}

/// The same address before and after gets one email; an account that had no email and
/// has none gets none, and the event is not an error.
#[tokio::test]
async fn one_email_when_the_address_stayed_and_none_without_one() {
    let store = fresh_store().await;
    let address = format!("same-{}@example.com", Uuid::new_v4().simple());
    save_account(&store, 48, bank_account(), Some(&address), 0).await;
    save_account(
        &store,
        48,
        Destination::Vpa {
            address: VPA.to_owned(),
        },
        Some(&address),
        0,
    )
    .await;
    save_account(&store, 49, bank_account(), None, 0).await;
    save_account(
        &store,
        49,
        Destination::Vpa {
            address: VPA.to_owned(),
        },
        None,
        0,
    )
    .await;

    let deliveries = deliveries(&store).await;
    assert_eq!(deliveries.len(), 2, "{deliveries:#?}");
    let (mailer, from) = ses().await;
    let notifier = Notifier::new(&store, &mailer);
    let mut outcomes = Vec::new();
    for delivery in &deliveries {
        outcomes.push(notifier.on_event(delivery, None).await.unwrap().as_str());
        assert_eq!(
            notifier.on_event(delivery, None).await.unwrap().as_str(),
            if outcomes.last() == Some(&"sent") {
                "already_sent"
            } else {
                "no_email_address"
            }
        );
    }
    outcomes.sort();
    assert_eq!(outcomes, ["no_email_address", "sent"]);
    let emails = sent_emails(&from).await;
    assert_eq!(emails.len(), 1, "{emails:#?}");
    assert_eq!(emails[0].to, vec![address.clone()]);
    assert!(!emails[0].body.contains("on hold"), "{}", emails[0].body);
    assert!(
        emails[0].body.contains("stop payouts to the new account"),
        "{}",
        emails[0].body
    );
}
