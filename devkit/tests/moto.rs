//! The local EventBridge and SES (moto) as the tests and the dev stack use them: a
//! rule's matches land in its capture queue, and accepted emails can be read back.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use devkit::moto::{verify_sender, LocalBus};
use devkit::testing;
use serde_json::json;

fn entry(bus: &str, detail_type: &str, payout_id: &str) -> PutEventsRequestEntry {
    PutEventsRequestEntry::builder()
        .event_bus_name(bus)
        .source("payouts")
        .detail_type(detail_type)
        .detail(json!({ "payout_id": payout_id }).to_string())
        .build()
}

#[tokio::test]
async fn a_rule_captures_the_events_its_pattern_matches_and_no_others() {
    let pattern = json!({"source": ["payouts"], "detail-type": ["payout.completed"]});
    let bus = testing::fresh_bus(&pattern).await;
    let put = bus
        .clients
        .eventbridge
        .put_events()
        .entries(entry(&bus.name, "payout.completed", "p-1"))
        .entries(entry(&bus.name, "payout.requested", "p-2"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.failed_entry_count, 0);

    let events = bus.capture.drain().await.unwrap();
    let [completed] = events.as_slice() else {
        panic!("one matching event: {events:?}");
    };
    assert_eq!(completed["source"], "payouts");
    assert_eq!(completed["detail-type"], "payout.completed");
    assert_eq!(completed["detail"]["payout_id"], "p-1");
    assert!(completed["id"].is_string() && completed["time"].is_string());
    assert!(bus.capture.drain().await.unwrap().is_empty(), "drained");

    // Setting the same bus and rule up again changes nothing and loses nothing.
    let again = LocalBus::ensure(&bus.clients, &bus.name).await.unwrap();
    let capture = again.capture("capture", &pattern).await.unwrap();
    assert_eq!(capture.queue_url(), bus.capture.queue_url());
}

#[tokio::test]
async fn an_email_from_a_verified_sender_is_listed_as_sent() {
    let (sesv2, from) = testing::fresh_sender("payouts-test").await;
    verify_sender(&sesv2, &from, "payouts-test").await.unwrap();
    let text = |data: &str| Content::builder().data(data).build().unwrap();
    sesv2
        .send_email()
        .from_email_address(&from)
        .destination(
            Destination::builder()
                .to_addresses("asha@example.com")
                .build(),
        )
        .configuration_set_name("payouts-test")
        .content(
            EmailContent::builder()
                .simple(
                    Message::builder()
                        .subject(text("Your payout of ₹100.00 is on its way"))
                        .body(
                            Body::builder()
                                .text(text("plain"))
                                .html(text("<p>html</p>"))
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();

    let emails = testing::sent_emails(&from).await;
    let [email] = emails.as_slice() else {
        panic!("one email: {emails:?}");
    };
    assert_eq!(email.to, ["asha@example.com"]);
    assert_eq!(email.subject, "Your payout of ₹100.00 is on its way");
    assert_eq!(email.body, "<p>html</p>", "moto keeps the HTML part");
}

#[tokio::test]
async fn an_unverified_sender_is_refused() {
    let (sesv2, _) = testing::fresh_sender("payouts-test").await;
    let refused = sesv2
        .send_email()
        .from_email_address("nobody-verified-me@example.com")
        .destination(
            Destination::builder()
                .to_addresses("asha@example.com")
                .build(),
        )
        .content(
            EmailContent::builder()
                .simple(
                    Message::builder()
                        .subject(Content::builder().data("x").build().unwrap())
                        .body(
                            Body::builder()
                                .text(Content::builder().data("x").build().unwrap())
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await;
    assert!(refused.is_err(), "SES refuses a sender it has not verified");
}
