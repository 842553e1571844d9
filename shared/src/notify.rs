//! `notify`: emails the user when their payout completes, fails or comes back from the
//! bank, at most once per event however often EventBridge delivers it.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message, MessageTag};
use tracing::{info, warn};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::events::{PayoutEvent, PayoutEventType, SOURCE};
use crate::store::{EmailClaim, EmailRecord, EmailState, Store, EMAIL_RECORD_DAYS};
use crate::time::Timestamp;

/// The events a user hears about by email; the others are for other teams.
pub const EMAILED: [PayoutEventType; 3] = [
    PayoutEventType::Completed,
    PayoutEventType::Failed,
    PayoutEventType::Reversed,
];

/// How long a delivery holds the claim on an email: longer than the function may run
/// (its timeout, 15 s), so no second delivery sends while the first still might, and
/// shorter than the minute before Lambda's first retry of a delivery that died.
pub const EMAIL_LEASE_SECS: i64 = 45;

/// Tries at recording a sent email (each already with the SDK's own retries).
const MARK_ATTEMPTS: usize = 3;
/// Left of the invocation when recording a sent email gives up, so that the
/// invocation ends on its own (successfully) rather than by its timeout.
const MARK_MARGIN: Duration = Duration::from_secs(1);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// For the configuration set's metrics: which event it was about.
    pub tag: String,
}

pub trait Mailer {
    /// Sends `email`; the provider's message id.
    fn send(&self, email: &Email) -> impl Future<Output = Result<String>> + Send;
}

/// SES v2 `SendEmail`.
#[derive(Clone, Debug)]
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    from_address: String,
    configuration_set: Option<String>,
}

impl SesMailer {
    pub fn new(
        client: aws_sdk_sesv2::Client,
        from_address: impl Into<String>,
        configuration_set: Option<String>,
    ) -> Self {
        SesMailer {
            client,
            from_address: from_address.into(),
            configuration_set,
        }
    }
}

impl Mailer for SesMailer {
    async fn send(&self, email: &Email) -> Result<String> {
        let text = |data: &str| {
            Content::builder()
                .data(data)
                .charset("UTF-8")
                .build()
                .map_err(Error::store)
        };
        let message = Message::builder()
            .subject(text(&email.subject)?)
            .body(
                Body::builder()
                    .text(text(&email.text)?)
                    .html(text(&email.html)?)
                    .build(),
            )
            .build();
        let tag = MessageTag::builder()
            .name("event")
            .value(&email.tag)
            .build()
            .map_err(Error::store)?;
        let output = self
            .client
            .send_email()
            .from_email_address(&self.from_address)
            .destination(Destination::builder().to_addresses(&email.to).build())
            .content(EmailContent::builder().simple(message).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .email_tags(tag)
            .send()
            .await
            .map_err(|error| {
                Error::Store(format!("SES SendEmail: {}", crate::aws::error_text(&error)))
            })?;
        Ok(output.message_id().unwrap_or_default().to_owned())
    }
}

/// What became of one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notified {
    Sent {
        message_id: String,
    },
    /// A delivery before this one sent it.
    AlreadySent,
    /// The user saved no email with their payout account (or no account at all).
    NoEmailAddress,
    /// Not an event users are emailed about.
    NotEmailed,
    /// Another delivery of the same event holds the claim and is sending it.
    InProgressElsewhere,
}

impl Notified {
    /// What the function answers (and tests and the dev loop read).
    pub fn as_str(&self) -> &'static str {
        match self {
            Notified::Sent { .. } => "sent",
            Notified::AlreadySent => "already_sent",
            Notified::NoEmailAddress => "no_email_address",
            Notified::NotEmailed => "not_emailed",
            Notified::InProgressElsewhere => "in_progress_elsewhere",
        }
    }
}

pub struct Notifier<'a, M> {
    store: &'a Store,
    mailer: &'a M,
}

impl<'a, M: Mailer> Notifier<'a, M> {
    pub fn new(store: &'a Store, mailer: &'a M) -> Self {
        Notifier { store, mailer }
    }

    /// An event as EventBridge delivers it. Anything not from the payouts bus's own
    /// source, or whose detail type and detail disagree, is refused: the rule should
    /// never have sent it.
    pub async fn on_event(
        &self,
        event: &EventBridgeEvent<PayoutEvent>,
        deadline: Option<SystemTime>,
    ) -> Result<Notified> {
        if event.source != SOURCE {
            return Err(Error::BadRequest(format!(
                "not a payout event: source `{}`",
                event.source
            )));
        }
        if event.detail_type != event.detail.detail_type() {
            return Err(Error::BadRequest(format!(
                "detail type `{}` does not match the detail's `{}`",
                event.detail_type,
                event.detail.detail_type()
            )));
        }
        self.notify(&event.detail, deadline).await
    }

    /// `deadline`: when the invocation is cut off. Recording a sent email must end
    /// before it: an invocation timed out after SES took the email would be retried,
    /// after the claim ran out, into a second email.
    pub async fn notify(
        &self,
        event: &PayoutEvent,
        deadline: Option<SystemTime>,
    ) -> Result<Notified> {
        if !EMAILED.contains(&event.event_type) {
            return Ok(Notified::NotEmailed);
        }
        let address = self.store.payout_account_email(event.user_id).await?;
        let Some(address) = address else {
            info!(event = "email_skipped", event_id = %event.event_id, payout_id = %event.payout_id, user_id = event.user_id, "the user has no email on their payout account");
            return Ok(Notified::NoEmailAddress);
        };

        let now = Timestamp::now().unix_millis() / 1000;
        let token = Uuid::new_v4().to_string();
        let record = EmailRecord {
            event_id: event.event_id.clone(),
            user_id: event.user_id,
            state: EmailState::Sending,
            token: token.clone(),
            lease_until: now + EMAIL_LEASE_SECS,
            message_id: None,
            expires_at: now + EMAIL_RECORD_DAYS * 86_400,
        };
        match self.store.claim_email(&record, now).await? {
            EmailClaim::Claimed => {}
            EmailClaim::AlreadySent { message_id } => {
                info!(event = "email_already_sent", event_id = %event.event_id, message_id = message_id.as_deref().unwrap_or_default());
                return Ok(Notified::AlreadySent);
            }
            // The delivery holding it is an invocation Lambda retries if it fails (or
            // dead-letters): it, not this duplicate, sees the email through.
            EmailClaim::HeldElsewhere { lease_until } => {
                info!(event = "email_in_progress_elsewhere", event_id = %event.event_id, lease_until);
                return Ok(Notified::InProgressElsewhere);
            }
        }

        let email = compose(event, address);
        let message_id = match self.mailer.send(&email).await {
            Ok(message_id) => message_id,
            Err(err) => {
                if let Err(release) = self.store.release_email(&event.event_id, &token).await {
                    warn!(event = "email_claim_not_released", event_id = %event.event_id, error = %release, "the next delivery waits for the claim to run out");
                }
                return Err(err);
            }
        };
        // The email is out: from here on nothing may fail the invocation, or Lambda's
        // retry would find the claim run out and send it again.
        let mark = async {
            let mut marked = Err(Error::Store("not tried".to_owned()));
            for _ in 0..MARK_ATTEMPTS {
                marked = self
                    .store
                    .mark_email_sent(&event.event_id, &token, &message_id)
                    .await;
                if marked.is_ok() {
                    break;
                }
            }
            marked
        };
        let budget = deadline
            .map(crate::time::deadline_instant)
            .map(|deadline| {
                deadline
                    .saturating_duration_since(Instant::now())
                    .saturating_sub(MARK_MARGIN)
            })
            .unwrap_or(Duration::from_secs(60));
        let marked = tokio::time::timeout(budget, mark)
            .await
            .unwrap_or_else(|_| Err(Error::Store("the invocation's time ran out".to_owned())));
        match marked {
            Ok(true) => {}
            Ok(false) => {
                warn!(event = "email_claim_lost", event_id = %event.event_id, "the claim ran out before the email was marked sent; another delivery may send it again")
            }
            Err(err) => {
                warn!(event = "email_not_marked_sent", event_id = %event.event_id, error = %err, "sent, but not recorded: a redelivery after the claim runs out would send it again")
            }
        }
        info!(
            event = "email_sent",
            event_id = %event.event_id,
            payout_id = %event.payout_id,
            user_id = event.user_id,
            event_type = event.detail_type(),
            message_id = %message_id,
        );
        Ok(Notified::Sent { message_id })
    }
}

/// The email for an event users are told about. It names the payout, its amount and
/// the bank's reference; never the account it went to.
pub fn compose(event: &PayoutEvent, to: String) -> Email {
    let amount = event.amount_paise.to_rupees_grouped();
    let mut facts = vec![
        ("Payout ID", event.payout_id.to_string()),
        ("Amount", amount.clone()),
    ];
    let (subject, summary, next) = match event.event_type {
        PayoutEventType::Completed => {
            if let Some(reference) = &event.reference {
                facts.push(("Bank reference (UTR)", reference.clone()));
            }
            (
                format!("Your payout of {amount} has been paid"),
                format!("Your payout of {amount} has been paid to the account you saved for payouts."),
                "It usually shows in your account within minutes. If it has not arrived in 2 working days, reply to this email with the payout ID and bank reference and we will trace it with your bank.".to_owned(),
            )
        }
        PayoutEventType::Failed => (
            format!("Your payout of {amount} could not be made"),
            format!("We could not pay out {amount}: {}.", failure_in_words(event.reason.as_deref())),
            "Your money is safe: nothing left your balance. Check the payout account in your settings; once it is right, our team sends the payout again. You do not need to request it again.".to_owned(),
        ),
        _ => (
            format!("Your payout of {amount} was returned by your bank"),
            format!("Your bank sent back the payout of {amount}: {}.", reversal_in_words(event.reason.as_deref())),
            "The money is back with us, not lost. Please check the payout account in your settings (a closed account, or a name that does not match, is the usual cause); our team then sends the payout again.".to_owned(),
        ),
    };

    let mut text = format!("Hello,\n\n{summary}\n\n");
    for (label, value) in &facts {
        text.push_str(&format!("{label}: {value}\n"));
    }
    text.push_str(&format!("\nWhat happens next: {next}\n"));

    let mut html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif;line-height:1.5\">\
         <p>Hello,</p><p>{}</p><table>",
        escape(&summary)
    );
    for (label, value) in &facts {
        html.push_str(&format!(
            "<tr><td style=\"color:#555;padding-right:1em\">{}</td><td><strong>{}</strong></td></tr>",
            escape(label),
            escape(value)
        ));
    }
    html.push_str(&format!(
        "</table><p><strong>What happens next:</strong> {}</p></body></html>",
        escape(&next)
    ));

    Email {
        to,
        subject,
        text,
        html,
        tag: event.detail_type().replace('.', "_"),
    }
}

/// Our own reasons in words; a gateway's codes are not shown (they mean nothing to a
/// user and could change), the user hears the general case instead.
fn failure_in_words(reason: Option<&str>) -> &'static str {
    match reason {
        Some(crate::account::PAYOUT_ACCOUNT_MISSING) => "there is no payout account to send it to",
        Some(crate::account::PAYOUT_ACCOUNT_INVALID) => {
            "the payment network would not accept the payout account you saved"
        }
        _ => "the bank or payment network declined it",
    }
}

fn reversal_in_words(reason: Option<&str>) -> &'static str {
    match reason {
        Some(reason) if reason.contains("closed") => "the account is closed",
        _ => "it could not be credited to the account",
    }
}

fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Paise;
    use crate::payout::{Payout, PayoutStatus, PayoutType};

    fn event(status: PayoutStatus, reason: Option<&str>) -> PayoutEvent {
        let mut payout = Payout::new(
            Uuid::new_v4(),
            7,
            PayoutType::SellerPayout,
            Paise(15_000_050),
            Timestamp::now(),
        );
        payout.status = status;
        payout.version = 3;
        payout.payment_reference = Some("UTR<123>".to_owned());
        payout.failure_reason = reason.map(str::to_owned);
        PayoutEvent::for_change(Some(PayoutStatus::Processing), &payout).unwrap()
    }

    #[test]
    fn each_email_says_the_amount_in_rupees_and_what_happens_next() {
        for (status, words) in [
            (PayoutStatus::Completed, "has been paid"),
            (PayoutStatus::Failed, "could not be made"),
            (PayoutStatus::Reversed, "returned by your bank"),
        ] {
            let email = compose(&event(status, None), "a@b.in".to_owned());
            assert!(email.subject.contains("₹1,50,000.50"), "{}", email.subject);
            assert!(email.subject.contains(words), "{}", email.subject);
            assert!(email.text.contains("What happens next:"), "{}", email.text);
            assert!(email.html.contains("What happens next:"), "{}", email.html);
            assert_eq!(email.to, "a@b.in");
        }
    }

    #[test]
    fn html_is_escaped_and_our_reasons_are_in_words() {
        let paid = compose(&event(PayoutStatus::Completed, None), "a@b.in".to_owned());
        assert!(paid.html.contains("UTR&lt;123&gt;"), "{}", paid.html);
        assert!(!paid.html.contains("UTR<123>"));
        let failed = compose(
            &event(
                PayoutStatus::Failed,
                Some(crate::account::PAYOUT_ACCOUNT_MISSING),
            ),
            "a@b.in".to_owned(),
        );
        assert!(failed.text.contains("no payout account"), "{}", failed.text);
        let declined = compose(
            &event(
                PayoutStatus::Failed,
                Some("IMPS_ERR_41 beneficiary bank offline"),
            ),
            "a@b.in".to_owned(),
        );
        assert!(!declined.text.contains("IMPS_ERR_41"), "{}", declined.text);
    }
}
