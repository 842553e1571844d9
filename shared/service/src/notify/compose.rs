//! What each email says: the payout's amount in rupees and what happens next, or a
//! changed account's two masked destinations, the time and the hold; text and HTML, the
//! HTML escaped.

use super::mail::Email;
use super::Recipient;
use crate::events::{PayoutAccountChanged, PayoutEvent, PayoutEventType};
use domain::time::Timestamp;

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
    use super::super::recipients;
    use super::*;
    use domain::money::Paise;
    use domain::payout::{Payout, PayoutStatus, PayoutType};
    use uuid::Uuid;

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
