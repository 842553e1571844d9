//! `notify`: emails the user when their payout completes, fails or comes back from the
//! bank, and when their payout account changes (at the address it had and the one it
//! has now), at most once per event and address however often EventBridge delivers it.
//!
//! Its rooms: this one (who is emailed, once), `mail` (the email and how it is sent)
//! and `compose` (what each email says).

mod compose;
mod mail;

pub use compose::{compose, compose_account_changed, time_in_words};
pub use mail::{Email, Mailer, SesMailer};

use std::time::{Duration, Instant, SystemTime};

use aws_lambda_events::eventbridge::EventBridgeEvent;
use tracing::{info, warn};
use uuid::Uuid;

use crate::events::{Event, PayoutAccountChanged, PayoutEvent, PayoutEventType, SOURCE};
use domain::error::{Error, Result};
use domain::time::Timestamp;
use store::{EmailClaim, EmailRecord, EmailState, Store, EMAIL_RECORD_DAYS};

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
            // Nobody is emailed about the marketplace's own records.
            Event::OrderCompleted(_) | Event::ScoutEarnings(_) => Ok(Notified::NotEmailed),
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
            let mut marked = Err(Error::store("not tried"));
            for _ in 0..MARK_ATTEMPTS {
                marked = self.store.mark_email_sent(claim, &token, &message_id).await;
                if marked.is_ok() {
                    break;
                }
            }
            marked
        };
        let budget = deadline
            .map(domain::time::deadline_instant)
            .map(|deadline| {
                deadline
                    .saturating_duration_since(Instant::now())
                    .saturating_sub(MARK_MARGIN)
            })
            .unwrap_or(Duration::from_secs(60));
        let marked = tokio::time::timeout(budget, mark)
            .await
            .unwrap_or_else(|_| Err(Error::store("the invocation's time ran out")));
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
