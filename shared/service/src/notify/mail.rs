//! An email and how it leaves: the `Mailer` seam, and SES v2's `SendEmail` behind it.

use std::future::Future;

use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message, MessageTag};

use domain::error::{Error, Result};

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
                .map_err(|error| Error::Mail(error.to_string()))
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
                Error::Mail(format!(
                    "SES SendEmail: {}",
                    platform::aws::error_text(&error)
                ))
            })?;
        Ok(output.message_id().unwrap_or_default().to_owned())
    }
}
