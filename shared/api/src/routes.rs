//! The API's routes (the README's route table), as data: one row per Lambda. Tests hold
//! the local watch router, the function crates and (later) the SAM template to this
//! table.

use lambda_http::http::Method;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    RequestScoutPayout,
    CompleteOrder,
    MyPayouts,
    ListPayouts,
    ProcessPayout,
    RetryPayout,
    CancelPayout,
    PutPayoutAccount,
    GetPayoutAccount,
    GetUserPayoutAccount,
    EndPayoutAccountHold,
    RazorpayXWebhook,
    PutPayoutSchedule,
    GetPayoutSchedule,
    BulkPayouts,
    PayoutStats,
    AdminDashboard,
    PutScout,
    PutOrder,
    RecordScoutEarnings,
    ReconciliationReport,
    ReconciliationCsv,
    PayoutsCsv,
}

impl Endpoint {
    pub const ALL: [Endpoint; 23] = [
        Endpoint::RequestScoutPayout,
        Endpoint::CompleteOrder,
        Endpoint::MyPayouts,
        Endpoint::ListPayouts,
        Endpoint::ProcessPayout,
        Endpoint::RetryPayout,
        Endpoint::CancelPayout,
        Endpoint::PutPayoutAccount,
        Endpoint::GetPayoutAccount,
        Endpoint::GetUserPayoutAccount,
        Endpoint::EndPayoutAccountHold,
        Endpoint::RazorpayXWebhook,
        Endpoint::PutPayoutSchedule,
        Endpoint::GetPayoutSchedule,
        Endpoint::BulkPayouts,
        Endpoint::PayoutStats,
        Endpoint::AdminDashboard,
        Endpoint::PutScout,
        Endpoint::PutOrder,
        Endpoint::RecordScoutEarnings,
        Endpoint::ReconciliationReport,
        Endpoint::ReconciliationCsv,
        Endpoint::PayoutsCsv,
    ];

    /// The function crate (and Lambda) that serves the route.
    pub fn function(self) -> &'static str {
        match self {
            Endpoint::RequestScoutPayout => "request-scout-payout",
            Endpoint::CompleteOrder => "complete-order",
            Endpoint::MyPayouts => "my-payouts",
            Endpoint::ListPayouts => "list-payouts",
            Endpoint::ProcessPayout => "process-payout",
            Endpoint::RetryPayout => "retry-payout",
            Endpoint::CancelPayout => "cancel-payout",
            Endpoint::PutPayoutAccount => "put-payout-account",
            Endpoint::GetPayoutAccount => "get-payout-account",
            Endpoint::GetUserPayoutAccount => "get-user-payout-account",
            Endpoint::EndPayoutAccountHold => "end-payout-account-hold",
            Endpoint::RazorpayXWebhook => "razorpayx-webhook",
            Endpoint::PutPayoutSchedule => "put-payout-schedule",
            Endpoint::GetPayoutSchedule => "get-payout-schedule",
            Endpoint::BulkPayouts => "bulk-payouts",
            Endpoint::PayoutStats => "payout-stats",
            Endpoint::AdminDashboard => "admin-dashboard",
            Endpoint::PutScout => "put-scout",
            Endpoint::PutOrder => "put-order",
            Endpoint::RecordScoutEarnings => "record-scout-earnings",
            Endpoint::ReconciliationReport => "reconciliation-report",
            Endpoint::ReconciliationCsv => "reconciliation-csv",
            Endpoint::PayoutsCsv => "payouts-csv",
        }
    }

    pub fn method(self) -> Method {
        match self {
            Endpoint::RequestScoutPayout
            | Endpoint::ProcessPayout
            | Endpoint::RetryPayout
            | Endpoint::CancelPayout
            | Endpoint::RazorpayXWebhook
            | Endpoint::EndPayoutAccountHold
            | Endpoint::BulkPayouts
            | Endpoint::RecordScoutEarnings => Method::POST,
            Endpoint::CompleteOrder => Method::PATCH,
            Endpoint::MyPayouts
            | Endpoint::ListPayouts
            | Endpoint::GetPayoutAccount
            | Endpoint::GetUserPayoutAccount
            | Endpoint::GetPayoutSchedule
            | Endpoint::PayoutStats
            | Endpoint::AdminDashboard
            | Endpoint::ReconciliationReport
            | Endpoint::ReconciliationCsv
            | Endpoint::PayoutsCsv => Method::GET,
            Endpoint::PutPayoutAccount
            | Endpoint::PutPayoutSchedule
            | Endpoint::PutScout
            | Endpoint::PutOrder => Method::PUT,
        }
    }

    /// The path, with `{param}` placeholders (API Gateway's and matchit's syntax).
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::RequestScoutPayout => "/scouts/{scout_id}/request-payout",
            Endpoint::CompleteOrder => "/orders/{order_id}/complete",
            Endpoint::MyPayouts => "/payouts/my-payouts",
            Endpoint::ListPayouts => "/payouts",
            Endpoint::ProcessPayout => "/payouts/process/{payout_id}",
            Endpoint::RetryPayout => "/payouts/{payout_id}/retry",
            Endpoint::CancelPayout => "/payouts/{payout_id}/cancel",
            Endpoint::PutPayoutAccount | Endpoint::GetPayoutAccount => "/me/payout-account",
            Endpoint::GetUserPayoutAccount => "/users/{user_id}/payout-account",
            Endpoint::EndPayoutAccountHold => "/users/{user_id}/payout-account/end-hold",
            Endpoint::RazorpayXWebhook => "/webhooks/razorpayx",
            Endpoint::PutPayoutSchedule | Endpoint::GetPayoutSchedule => "/me/payout-schedule",
            Endpoint::BulkPayouts => "/payouts/bulk",
            Endpoint::PayoutStats => "/payouts/stats",
            Endpoint::AdminDashboard => "/admin",
            Endpoint::PutScout => "/scouts/{scout_id}",
            Endpoint::PutOrder => "/orders/{order_id}",
            Endpoint::RecordScoutEarnings => "/scouts/{scout_id}/earnings",
            Endpoint::ReconciliationReport => "/admin/reconciliation",
            Endpoint::ReconciliationCsv => "/admin/reconciliation.csv",
            Endpoint::PayoutsCsv => "/admin/payouts.csv",
        }
    }

    /// Callers prove who they are with a bearer token, except the gateway, which signs
    /// its webhooks instead, and the dashboard's page, which holds no data (it asks
    /// for a token and calls the API with it).
    pub fn takes_token(self) -> bool {
        !matches!(self, Endpoint::RazorpayXWebhook | Endpoint::AdminDashboard)
    }

    /// The marketplace's routes: only a token with the service scope may call them, and
    /// such a token may call nothing else (docs/MARKETPLACE.md).
    pub fn for_service(self) -> bool {
        matches!(
            self,
            Endpoint::PutScout | Endpoint::PutOrder | Endpoint::RecordScoutEarnings
        )
    }

    /// The routes that may move money through the gateway; only their functions build a
    /// gateway client, and only they are given its keys.
    pub fn pays(self) -> bool {
        matches!(
            self,
            Endpoint::ProcessPayout
                | Endpoint::RetryPayout
                | Endpoint::CancelPayout
                | Endpoint::BulkPayouts
        )
    }

    pub fn for_function(name: &str) -> Option<Endpoint> {
        Endpoint::ALL
            .into_iter()
            .find(|endpoint| endpoint.function() == name)
    }
}
