//! `notify`: emails the user when their payout completes, fails or comes back from the
//! bank, and when their payout account changes (at the address it had and the one it
//! has now), at most once per event and address however often EventBridge delivers it.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message, MessageTag};
use tracing::{info, warn};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::events::{Event, PayoutAccountChanged, PayoutEvent, PayoutEventType, SOURCE};
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
    pub async fn on_event<D>(
        &self,
        event: &EventBridgeEvent<D>,
        deadline: Option<SystemTime>,
    ) -> Result<Notified>
    where
        D: Clone + Into<Event> + serde::Serialize + serde::de::DeserializeOwned,
    {
        if event.source != SOURCE {
            return Err(Error::BadRequest(format!(
                "not a payout event: source `{}`",
                event.source
            )));
        }
        let detail: Event = event.detail.clone().into();
        if event.detail_type != detail.detail_type() {
            return Err(Error::BadRequest(format!(
                "detail type `{}` does not match the detail's `{}`",
                event.detail_type,
                detail.detail_type()
            )));
        }
        match &detail {
            Event::Payout(payout) => self.notify(payout, deadline).await,
            Event::PayoutAccountChanged(changed) => {
                let outcomes = self.notify_account_changed(changed, deadline).await?;
                Ok(summary(outcomes))
            }
        }
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
        let email = compose(event, address);
        let notified = self
            .send_once(&event.event_id, event.user_id, &email, deadline)
            .await?;
        if let Notified::Sent { message_id } = &notified {
            info!(
                event = "email_sent",
                event_id = %event.event_id,
                payout_id = %event.payout_id,
                user_id = event.user_id,
                event_type = event.detail_type(),
                message_id = %message_id,
            );
        }
        Ok(notified)
    }

    /// A changed payout account: an email to the address the account had and one to
    /// the address it has now (one if they are the same, none to an absent one), each
    /// sent once however often the event comes. The previous address goes first: it
    /// is the one someone who took the account over cannot read. One address failing
    /// does not keep the other from its email; the invocation then fails, and its
    /// retry sends only what is still unsent.
    pub async fn notify_account_changed(
        &self,
        event: &PayoutAccountChanged,
        deadline: Option<SystemTime>,
    ) -> Result<Vec<(Recipient, Notified)>> {
        let recipients = recipients(event);
        if recipients.is_empty() {
            info!(event = "email_skipped", event_id = %event.event_id, user_id = event.user_id, "neither the previous nor the new payout account has an email");
        }
        let mut outcomes = Vec::new();
        let mut failed = None;
        for (recipient, address) in recipients {
            let email = compose_account_changed(event, recipient, address.to_owned());
            let claim = recipient.claim_id(&event.event_id);
            match self
                .send_once(&claim, event.user_id, &email, deadline)
                .await
            {
                Ok(notified) => {
                    if let Notified::Sent { message_id } = &notified {
                        info!(
                            event = "email_sent",
                            event_id = %event.event_id,
                            user_id = event.user_id,
                            event_type = event.detail_type(),
                            recipient = recipient.as_str(),
                            message_id = %message_id,
                        );
                    }
                    outcomes.push((recipient, notified));
                }
                Err(err) => {
                    warn!(event = "email_not_sent", event_id = %event.event_id, recipient = recipient.as_str(), error = %err);
                    failed.get_or_insert(err);
                }
            }
        }
        match failed {
            Some(err) => Err(err),
            None => Ok(outcomes),
        }
    }

    /// Sends `email` unless a delivery before this one did: claims the record
    /// `claim` (an event id, or an event id and a recipient), sends, marks it sent.
    async fn send_once(
        &self,
        claim: &str,
        user_id: u64,
        email: &Email,
        deadline: Option<SystemTime>,
    ) -> Result<Notified> {
        let now = Timestamp::now().unix_millis() / 1000;
        let token = Uuid::new_v4().to_string();
        let record = EmailRecord {
            event_id: claim.to_owned(),
            user_id,
            state: EmailState::Sending,
            token: token.clone(),
            lease_until: now + EMAIL_LEASE_SECS,
            message_id: None,
            expires_at: now + EMAIL_RECORD_DAYS * 86_400,
        };
        match self.store.claim_email(&record, now).await? {
            EmailClaim::Claimed => {}
            EmailClaim::AlreadySent { message_id } => {
                info!(event = "email_already_sent", event_id = %claim, message_id = message_id.as_deref().unwrap_or_default());
                return Ok(Notified::AlreadySent);
            }
            // The delivery holding it is an invocation Lambda retries if it fails (or
            // dead-letters): it, not this duplicate, sees the email through.
            EmailClaim::HeldElsewhere { lease_until } => {
                info!(event = "email_in_progress_elsewhere", event_id = %claim, lease_until);
                return Ok(Notified::InProgressElsewhere);
            }
        }

        let message_id = match self.mailer.send(email).await {
            Ok(message_id) => message_id,
            Err(err) => {
                if let Err(release) = self.store.release_email(claim, &token).await {
                    warn!(event = "email_claim_not_released", event_id = %claim, error = %release, "the next delivery waits for the claim to run out");
                }
                return Err(err);
            }
        };
        // The email is out: from here on nothing may fail the invocation, or Lambda's
        // retry would find the claim run out and send it again.
        let mark = async {
            let mut marked = Err(Error::Store("not tried".to_owned()));
            for _ in 0..MARK_ATTEMPTS {
                marked = self.store.mark_email_sent(claim, &token, &message_id).await;
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
                warn!(event = "email_claim_lost", event_id = %claim, "the claim ran out before the email was marked sent; another delivery may send it again")
            }
            Err(err) => {
                warn!(event = "email_not_marked_sent", event_id = %claim, error = %err, "sent, but not recorded: a redelivery after the claim runs out would send it again")
            }
        }
        Ok(Notified::Sent { message_id })
    }
}

/// Who an email about a changed account goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Recipient {
    /// The address the account had before the save.
    Previous,
    /// The address it has now (also the one email when the address stayed).
    New,
}

impl Recipient {
    pub fn as_str(self) -> &'static str {
        match self {
            Recipient::Previous => "previous",
            Recipient::New => "new",
        }
    }

    /// The email record's key: one per recipient, so that each is sent once and a
    /// redelivery finds both. The role, not the address, keeps addresses out of keys.
    pub fn claim_id(self, event_id: &str) -> String {
        format!("{event_id}#{}", self.as_str())
    }
}

/// Where the emails about a changed account go: the previous address, then the new
/// one unless it is the same mailbox (addresses differing only in case are).
pub fn recipients(event: &PayoutAccountChanged) -> Vec<(Recipient, &str)> {
    fn present(email: &Option<String>) -> Option<&str> {
        email
            .as_deref()
            .map(str::trim)
            .filter(|email| !email.is_empty())
    }
    let previous = present(&event.previous_email);
    let new = present(&event.new_email);
    let mut recipients = Vec::new();
    match (previous, new) {
        (Some(previous), Some(new)) if previous.eq_ignore_ascii_case(new) => {
            recipients.push((Recipient::New, new));
        }
        (previous, new) => {
            recipients.extend(previous.map(|address| (Recipient::Previous, address)));
            recipients.extend(new.map(|address| (Recipient::New, address)));
        }
    }
    recipients
}

/// One answer for a delivery that may have sent two emails: `sent` if this one sent
/// any, else `in_progress_elsewhere` if another delivery is still at one, else
/// `already_sent`; `no_email_address` when there was nobody to write to.
fn summary(outcomes: Vec<(Recipient, Notified)>) -> Notified {
    if outcomes.is_empty() {
        return Notified::NoEmailAddress;
    }
    let mut summary = Notified::AlreadySent;
    for (_, outcome) in outcomes {
        match outcome {
            Notified::Sent { .. } => return outcome,
            Notified::InProgressElsewhere => summary = Notified::InProgressElsewhere,
            _ => {}
        }
    }
    summary
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
            // The destination the attempt was sent to, which may not be the one saved
            // now (an attempt keeps its destination once the gateway may hold it).
            let paid_to = match &event.destination {
                Some(destination) => {
                    facts.push(("Paid to", destination.clone()));
                    format!("the account {destination}")
                }
                None => "the account you saved for payouts".to_owned(),
            };
            (
                format!("Your payout of {amount} has been paid"),
                format!("Your payout of {amount} has been paid to {paid_to}."),
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

    let (text, html) = render(&[summary], &facts, &[("What happens next", next)]);
    Email {
        to,
        subject,
        text,
        html,
        tag: event.detail_type().replace('.', "_"),
    }
}

/// The email about a changed payout account, for one of its recipients. It names both
/// destinations, masked, and when the change was made, so that a user who did not make
/// it sees at once what to stop; it names no email address, not even the other one.
pub fn compose_account_changed(
    event: &PayoutAccountChanged,
    recipient: Recipient,
    to: String,
) -> Email {
    let when = time_in_words(event.changed_at);
    let (subject, summary) = match (event.destination_changed, event.email_changed) {
        (true, true) => (
            "Your payout account and payout email were changed",
            format!("The account your payouts go to and the email address for payout emails were changed on {when}."),
        ),
        (false, true) => (
            "The email for your payouts was changed",
            format!("The email address for your payout emails was changed on {when}."),
        ),
        _ => (
            "Your payout account was changed",
            format!("The account your payouts go to was changed on {when}."),
        ),
    };
    let mut paragraphs = vec![summary];
    let other_mailbox = match recipient {
        Recipient::Previous => event.new_email.as_deref(),
        Recipient::New => event.previous_email.as_deref(),
    }
    .is_some_and(|other| !other.trim().eq_ignore_ascii_case(to.trim()));
    if event.email_changed && other_mailbox {
        paragraphs.push(match recipient {
            Recipient::Previous => "This address is no longer the one on your payout account: payout emails now go to the new address.".to_owned(),
            Recipient::New => "This address is now the one on your payout account: payout emails come here from now on.".to_owned(),
        });
    }

    let mut facts = vec![
        ("Changed at", when),
        ("Payouts went to", event.previous_destination.in_words()),
        ("Payouts now go to", event.new_destination.in_words()),
    ];
    let hold = event.hold_until.map(time_in_words);
    if let Some(hold) = &hold {
        facts.push(("Payouts on hold until", hold.clone()));
        paragraphs.push(format!("To protect you, payouts will wait until {hold}."));
    }

    let act = "reply to this email or contact our support team right away";
    let not_you = match (&hold, event.destination_changed) {
        (Some(hold), true) => format!("{act}. Your payouts are on hold until {hold}, so nothing has been paid to the new account yet, and support can stop them from going there."),
        (Some(hold), false) => format!("{act}. Your payouts are on hold until {hold}, and support can undo the change before they go out."),
        (None, true) => format!("{act}, so that we can stop payouts to the new account."),
        (None, false) => format!("{act}, so that we can undo the change."),
    };
    let closing = [
        ("If this was you", "there is nothing else to do.".to_owned()),
        ("If this was not you", not_you),
    ];
    let (text, html) = render(&paragraphs, &facts, &closing);
    Email {
        to,
        subject: subject.to_owned(),
        text,
        html,
        tag: event.detail_type().replace('.', "_"),
    }
}

/// A time as the user reads it: India Standard Time (the service pays in India),
/// e.g. `3 December 2026, 14:42 IST`.
pub fn time_in_words(time: Timestamp) -> String {
    time.as_utc()
        .with_timezone(&chrono_tz::Asia::Kolkata)
        .format("%-d %B %Y, %H:%M IST")
        .to_string()
}

/// An email's plain text and HTML: a greeting, `paragraphs`, a table of `facts`, then
/// `closing` paragraphs each led by its label in bold. Every value is escaped in the
/// HTML: a reason or a reference may hold what a user or a gateway typed.
fn render(
    paragraphs: &[String],
    facts: &[(&str, String)],
    closing: &[(&str, String)],
) -> (String, String) {
    let mut text = "Hello,\n\n".to_owned();
    for paragraph in paragraphs {
        text.push_str(&format!("{paragraph}\n\n"));
    }
    for (label, value) in facts {
        text.push_str(&format!("{label}: {value}\n"));
    }
    for (label, value) in closing {
        text.push_str(&format!("\n{label}: {value}\n"));
    }

    let mut html = "<!doctype html><html><body style=\"font-family:sans-serif;line-height:1.5\">\
         <p>Hello,</p>"
        .to_owned();
    for paragraph in paragraphs {
        html.push_str(&format!("<p>{}</p>", escape(paragraph)));
    }
    html.push_str("<table>");
    for (label, value) in facts {
        html.push_str(&format!(
            "<tr><td style=\"color:#555;padding-right:1em\">{}</td><td><strong>{}</strong></td></tr>",
            escape(label),
            escape(value)
        ));
    }
    html.push_str("</table>");
    for (label, value) in closing {
        html.push_str(&format!(
            "<p><strong>{}:</strong> {}</p>",
            escape(label),
            escape(value)
        ));
    }
    html.push_str("</body></html>");
    (text, html)
}

/// Our own reasons in words; a gateway's codes are not shown (they mean nothing to a
/// user and could change), the user hears the general case instead.
fn failure_in_words(reason: Option<&str>) -> &'static str {
    match reason {
        Some(domain::account::PAYOUT_ACCOUNT_MISSING) => "there is no payout account to send it to",
        Some(domain::account::PAYOUT_ACCOUNT_INVALID) => {
            "the payout account you saved could not be paid: the payment network would not \
             accept it, or its bank holds it under another name; save it again, with the name \
             the bank holds it under"
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

    /// The "paid" email names the destination the attempt was sent to,
    /// masked, not "the account you saved" (which may have changed since).
    #[test]
    fn the_paid_email_names_the_destination_that_was_paid() {
        let mut paid = event(PayoutStatus::Completed, None);
        paid.destination = Some("XXXXXXXXXX4433".to_owned());
        let email = compose(&paid, "asha@example.com".to_owned());
        assert!(
            email.text.contains("paid to the account XXXXXXXXXX4433"),
            "{}",
            email.text
        );
        assert!(email.html.contains("XXXXXXXXXX4433"), "{}", email.html);
        let unknown = compose(
            &event(PayoutStatus::Completed, None),
            "asha@example.com".to_owned(),
        );
        assert!(
            unknown.text.contains("the account you saved"),
            "{}",
            unknown.text
        );
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

    fn account_changed(
        previous_email: Option<&str>,
        new_email: Option<&str>,
        hold: bool,
    ) -> PayoutAccountChanged {
        use crate::events::{AccountEventType, MaskedDestination};
        use domain::account::Destination;
        let changed_at = Timestamp::parse("2026-12-03T09:12:44.501Z").unwrap();
        PayoutAccountChanged {
            event_id: crate::events::account::event_id(7, 3),
            event_type: AccountEventType::Changed,
            user_id: 7,
            revision: 3,
            changed_at,
            destination_changed: true,
            email_changed: previous_email != new_email,
            previous_destination: MaskedDestination::of(&Destination::BankAccount {
                ifsc: "HDFC0001234".to_owned(),
                account_number: "000123456789012".to_owned(),
            }),
            new_destination: MaskedDestination::of(&Destination::Vpa {
                address: "mallory<b>@okaxis".to_owned(),
            }),
            previous_email: previous_email.map(str::to_owned),
            new_email: new_email.map(str::to_owned),
            hold_until: hold.then(|| changed_at.plus_secs(86_400)),
        }
    }

    #[test]
    fn a_changed_account_is_told_at_both_addresses_once_each() {
        let both = account_changed(Some("asha@example.com"), Some("new@example.net"), false);
        assert_eq!(
            recipients(&both),
            vec![
                (Recipient::Previous, "asha@example.com"),
                (Recipient::New, "new@example.net")
            ]
        );
        let same = account_changed(Some("Asha@Example.com"), Some("asha@example.com"), false);
        assert_eq!(
            recipients(&same),
            vec![(Recipient::New, "asha@example.com")]
        );
        let added = account_changed(None, Some("new@example.net"), false);
        assert_eq!(
            recipients(&added),
            vec![(Recipient::New, "new@example.net")]
        );
        let removed = account_changed(Some("asha@example.com"), None, false);
        assert_eq!(
            recipients(&removed),
            vec![(Recipient::Previous, "asha@example.com")]
        );
        assert!(recipients(&account_changed(None, None, false)).is_empty());
        assert_ne!(
            Recipient::Previous.claim_id(&both.event_id),
            Recipient::New.claim_id(&both.event_id)
        );
    }

    #[test]
    fn the_account_email_names_both_destinations_the_time_and_the_hold() {
        let held = account_changed(Some("asha@example.com"), Some("new@example.net"), true);
        let email =
            compose_account_changed(&held, Recipient::Previous, "asha@example.com".to_owned());
        for part in [&email.text, &email.html] {
            assert!(part.contains("XXXXXXXXXXX9012"), "{part}");
            assert!(part.contains("HDFC0001234"), "{part}");
            assert!(part.contains("3 December 2026, 14:42 IST"), "{part}");
            assert!(
                part.contains("payouts will wait until 4 December 2026, 14:42 IST"),
                "{part}"
            );
            assert!(
                part.contains("nothing has been paid to the new account yet"),
                "{part}"
            );
            assert!(
                part.contains("no longer the one on your payout account"),
                "{part}"
            );
            assert!(!part.contains("000123456789012"), "{part}");
            assert!(!part.contains("new@example.net"), "{part}");
        }
        assert!(email.text.contains("UPI ID ma***@okaxis"), "{}", email.text);
        assert!(email.html.contains("UPI ID ma***@okaxis"), "{}", email.html);
        assert_eq!(email.tag, "payout_account_changed");

        let unheld = account_changed(Some("asha@example.com"), Some("asha@example.com"), false);
        let email = compose_account_changed(&unheld, Recipient::New, "asha@example.com".to_owned());
        assert_eq!(email.subject, "Your payout account was changed");
        assert!(!email.text.contains("on hold"), "{}", email.text);
        assert!(
            email.text.contains("stop payouts to the new account"),
            "{}",
            email.text
        );
        assert!(
            !email.text.contains("payout emails now go"),
            "{}",
            email.text
        );

        let mut email_only =
            account_changed(Some("asha@example.com"), Some("new@example.net"), true);
        email_only.destination_changed = false;
        let email =
            compose_account_changed(&email_only, Recipient::New, "new@example.net".to_owned());
        assert_eq!(email.subject, "The email for your payouts was changed");
        assert!(
            email.text.contains("payout emails come here from now on"),
            "{}",
            email.text
        );
        assert!(
            email.text.contains("support can undo the change"),
            "{}",
            email.text
        );
        assert!(!email.text.contains("new account"), "{}", email.text);
    }

    #[test]
    fn html_is_escaped_and_our_reasons_are_in_words() {
        let paid = compose(&event(PayoutStatus::Completed, None), "a@b.in".to_owned());
        assert!(paid.html.contains("UTR&lt;123&gt;"), "{}", paid.html);
        assert!(!paid.html.contains("UTR<123>"));
        let failed = compose(
            &event(
                PayoutStatus::Failed,
                Some(domain::account::PAYOUT_ACCOUNT_MISSING),
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
