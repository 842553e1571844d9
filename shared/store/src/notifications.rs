//! The record of an email sent for a payout event, which makes a redelivered event send
//! nothing. It is claimed before the email goes out (with a lease, so a sender that
//! died is taken over) and marked sent after.

use aws_sdk_dynamodb::types::ReturnValue;
use serde::{Deserialize, Serialize};

use super::{keys, n, s, to_item, with_key, written, Store};
use domain::error::Result;

/// Long past every redelivery: EventBridge retries for 24 hours, Lambda's async queue
/// for 6, and a dead-lettered event redriven by hand within the SQS retention (14 days).
pub const EMAIL_RECORD_DAYS: i64 = 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailState {
    /// Claimed; the email may or may not have gone out yet.
    Sending,
    Sent,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailRecord {
    pub event_id: String,
    pub user_id: u64,
    pub state: EmailState,
    /// The claim's holder: only it marks the email sent or gives the claim up.
    pub token: String,
    /// Until when (epoch seconds) the holder has it; after that another delivery may
    /// take the claim over.
    pub lease_until: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// DynamoDB's TTL (epoch seconds).
    pub expires_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EmailClaim {
    /// This delivery sends the email.
    Claimed,
    AlreadySent {
        message_id: Option<String>,
    },
    /// Another delivery holds the claim and may be sending right now.
    HeldElsewhere {
        lease_until: i64,
    },
}

impl Store {
    /// Claims the email for `record.event_id`: a new record, or one whose holder's lease
    /// ran out before it marked the email sent.
    pub async fn claim_email(&self, record: &EmailRecord, now_epoch: i64) -> Result<EmailClaim> {
        let pk = keys::notify_pk(&record.event_id);
        let item = with_key(to_item(record)?, &pk, keys::EMAIL_SK);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(pk) OR (#state = :sending AND #lease_until < :now)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#lease_until", "lease_until")
            .expression_attribute_values(":sending", s("sending"))
            .expression_attribute_values(":now", n(now_epoch))
            .send()
            .await;
        if written(result)? {
            return Ok(EmailClaim::Claimed);
        }
        let stored: Option<EmailRecord> = self.get(&pk, keys::EMAIL_SK).await?;
        Ok(match stored {
            // A resend of our own put whose first answer was lost.
            Some(stored) if stored.token == record.token => EmailClaim::Claimed,
            Some(stored) if stored.state == EmailState::Sent => EmailClaim::AlreadySent {
                message_id: stored.message_id,
            },
            Some(stored) => EmailClaim::HeldElsewhere {
                lease_until: stored.lease_until,
            },
            // Expired by TTL between the two calls: as good as never claimed, but this
            // delivery did not get it; the next one will.
            None => EmailClaim::HeldElsewhere { lease_until: 0 },
        })
    }

    /// Records that the email went out. `false` if the claim was taken over meanwhile
    /// (the lease ran out first); the email was sent all the same.
    pub async fn mark_email_sent(
        &self,
        event_id: &str,
        token: &str,
        message_id: &str,
    ) -> Result<bool> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::notify_pk(event_id)))
            .key(keys::SK, s(keys::EMAIL_SK))
            .update_expression("SET #state = :sent, message_id = :message_id")
            .condition_expression("#token = :token")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#token", "token")
            .expression_attribute_values(":sent", s("sent"))
            .expression_attribute_values(":message_id", s(message_id))
            .expression_attribute_values(":token", s(token))
            .return_values(ReturnValue::None)
            .send()
            .await;
        written(result)
    }

    /// Gives up a claim whose email could not be sent, so the next delivery need not
    /// wait out the lease.
    pub async fn release_email(&self, event_id: &str, token: &str) -> Result<bool> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::notify_pk(event_id)))
            .key(keys::SK, s(keys::EMAIL_SK))
            .condition_expression("#token = :token AND #state = :sending")
            .expression_attribute_names("#token", "token")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(":sending", s("sending"))
            .send()
            .await;
        written(result)
    }

    pub async fn email_record(&self, event_id: &str) -> Result<Option<EmailRecord>> {
        self.get(&keys::notify_pk(event_id), keys::EMAIL_SK).await
    }
}
