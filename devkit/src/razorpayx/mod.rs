//! A local RazorpayX: a stateful fake of the Payouts API
//! (https://razorpay.com/docs/api/x/payouts/) over real HTTP, so that the RazorpayX
//! gateway is tested, and can be tried, with no account and no internet. No registry
//! ships one.
//!
//! It keeps contacts, fund accounts, payouts, fund account validations, the business
//! balance and its account statement (`GET /v1/transactions`: a line for every movement
//! of the balance), validates requests the way the documented API does (Basic auth,
//! field rules with `field`, `X-Payout-Idempotency`), settles payouts and validations
//! asynchronously after a delay, and injects seeded faults. Its state is a JSON file
//! written after every change, so a restart loses nothing. A control API under
//! `/_fake/` (no auth, loopback only) plays the part of the RazorpayX Test Mode
//! dashboard (which has no validations: RazorpayX offers them in live mode only).
//!
//! With a webhook URL it also sends signed `payout.*` webhooks for every status change
//! and `fund_account.validation.completed` / `.failed` for every validation settled
//! (https://razorpay.com/docs/webhooks/payouts/), at least once: retried with backoff,
//! and with seeded duplicates and late deliveries, because the receiving end has to cope
//! with all three. Undelivered webhooks live in memory only: a restart drops them, as a
//! disabled webhook would.
//!
//! Its rooms: `server` (the running fake and its routes), `config` (what it is started
//! with), `fake` (its state behind one lock), `ledger` (the books), `errors` (the
//! error shape and shared request checks), `accounts`, `payouts`, `validations` and
//! `statement` (the public API), `rate` (the request rate it enforces, if asked),
//! `control` (`/_fake/`), `webhooks` (the outbox and its sender),
//! `sink` (a receiver for tests), `client` (an HTTP client for tests) and `paid_once`
//! (the check against our payouts).

mod accounts;
mod client;
mod clock;
mod config;
mod control;
mod errors;
mod fake;
mod ledger;
mod paid_once;
mod payouts;
mod rate;
mod rate_budget;
mod server;
mod sink;
mod statement;
mod validations;
mod webhooks;

pub use client::{wait_for_status, FakeApi};
pub use config::{FakeConfig, Faults, ValidationFaults, WebhookConfig};
pub use paid_once::assert_paid_once;
pub use server::FakeRazorpayX;
pub use sink::{ReceivedWebhook, WebhookSink};
pub use webhooks::WEBHOOK_ACCOUNT_ID;
