//! `cargo xtask emails`: what the local SES (moto) accepted, for a person to read —
//! recipient, subject and the start of the body as text.

use anyhow::{Context, Result};
use devkit::moto::{self, SentEmail};

/// How much of each body is shown.
const BODY_LINES: usize = 4;

/// `MOTO_ENDPOINT`, or the moto `cargo xtask dev` starts.
fn endpoint() -> Result<String> {
    if let Some(endpoint) = std::env::var("MOTO_ENDPOINT")
        .ok()
        .filter(|endpoint| !endpoint.trim().is_empty())
    {
        return Ok(endpoint);
    }
    let port = match std::env::var("MOTO_PORT") {
        Ok(text) if !text.trim().is_empty() => text
            .trim()
            .parse::<u16>()
            .with_context(|| format!("MOTO_PORT has an unusable value `{text}`"))?,
        _ => crate::dev::DEFAULT_MOTO_PORT,
    };
    Ok(moto::endpoint(port))
}

pub async fn list() -> Result<()> {
    let endpoint = endpoint()?;
    let emails = moto::sent_emails(&endpoint)
        .await
        .with_context(|| format!("is `cargo xtask dev` running (moto at {endpoint})?"))?;
    if emails.is_empty() {
        println!("no emails sent yet (moto at {endpoint})");
        return Ok(());
    }
    for email in &emails {
        print!("{}", describe(email));
    }
    println!("{} emails (moto at {endpoint})", emails.len());
    Ok(())
}

fn describe(email: &SentEmail) -> String {
    let mut text = format!("to {}: {}\n", email.to.join(", "), email.subject);
    for line in text_lines(&email.body).iter().take(BODY_LINES) {
        text.push_str(&format!("    {line}\n"));
    }
    text.push('\n');
    text
}

/// The readable lines of an HTML (or plain) body: tags dropped, a line break where a
/// block ends and a space between table cells, the common entities decoded, blank
/// lines left out. What `<head>`,
/// `<style>` and `<script>` hold is not text.
pub fn text_lines(body: &str) -> Vec<String> {
    let mut text = String::new();
    let mut rest = body;
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('>') else {
            rest = &rest[open..];
            break;
        };
        let tag = rest[open + 1..open + close].trim().to_ascii_lowercase();
        rest = &rest[open + close + 1..];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        if !tag.starts_with('/') && ["head", "style", "script", "title"].contains(&name.as_str()) {
            rest = skip_element(rest, &name);
            continue;
        }
        if [
            "br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "table",
        ]
        .contains(&name.as_str())
        {
            text.push('\n');
        } else if ["td", "th"].contains(&name.as_str()) {
            text.push(' ');
        }
    }
    text.push_str(rest);
    decode_entities(&text)
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|line| !line.is_empty())
        .collect()
}

/// What follows the end tag of `name`, or nothing if it never ends.
fn skip_element<'a>(html: &'a str, name: &str) -> &'a str {
    let end = format!("</{name}");
    match html.to_ascii_lowercase().find(&end) {
        Some(at) => html[at..]
            .find('>')
            .map_or("", |close| &html[at + close + 1..]),
        None => "",
    }
}

fn decode_entities(text: &str) -> String {
    [
        ("&nbsp;", " "),
        ("&#8377;", "₹"),
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&quot;", "\""),
        ("&#39;", "'"),
        ("&amp;", "&"),
    ]
    .iter()
    .fold(text.to_owned(), |text, (entity, plain)| {
        text.replace(entity, plain)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_html_body_reads_as_its_text_lines() {
        let html = "<!doctype html><html><head><title>Paid</title>\
            <style>p { color: red }</style></head><body>\
            <h1>Your payout is complete</h1><p>We sent &#8377;1,200.00 to your\n   account.</p>\
            <p>Reference: <b>UTR123</b><br>Questions? Reply &amp; we&#39;ll help.</p>\
            <table><tr><td>Amount</td><td>&#8377;1,200.00</td></tr></table></body></html>";
        assert_eq!(
            text_lines(html),
            [
                "Your payout is complete",
                "We sent ₹1,200.00 to your",
                "account.",
                "Reference: UTR123",
                "Questions? Reply & we'll help.",
                "Amount ₹1,200.00",
            ]
        );
    }

    #[test]
    fn a_plain_body_and_broken_html_still_read() {
        assert_eq!(text_lines("line one\n\nline two"), ["line one", "line two"]);
        assert_eq!(text_lines("a <b>bold"), ["a bold"]);
        assert_eq!(text_lines("cut <p"), ["cut <p"]);
        assert!(text_lines("<style>never closed").is_empty());
    }

    #[test]
    fn an_email_is_described_by_recipient_subject_and_first_lines() {
        let email = SentEmail {
            to: vec!["asha@example.com".to_owned()],
            from: "payouts@example.com".to_owned(),
            subject: "Paid".to_owned(),
            body: "<p>1</p><p>2</p><p>3</p><p>4</p><p>5</p>".to_owned(),
        };
        assert_eq!(
            describe(&email),
            "to asha@example.com: Paid\n    1\n    2\n    3\n    4\n\n"
        );
    }
}
