use axum::extract::State;
use dtap_shared::AppState;
use dtap_shared::api::auth::{Auth, roles};
use dtap_shared::api::{ApiResult, Envelope};
use dtap_shared::domain::billing::{self, InvoiceStatus};
use dtap_shared::domain::plan::Plan;
use dtap_shared::store::repos::plans;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct Invoice {
    /// The first day of the month billed (UTC).
    #[schema(example = "2026-02-01")]
    date: String,
    /// In whole `currency` units.
    amount: u32,
    status: InvoiceStatus,
    /// The plan the month is billed at: the one in force on its first day.
    plan: Plan,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Billing {
    plan: Plan,
    /// The current plan's monthly price, in whole `currency` units.
    monthly_cost: u32,
    #[schema(example = "USD")]
    currency: &'static str,
    /// Newest first. The month the organization was created in is not billed; each later month
    /// is billed at the plan in force on its first day, `paid` once it has ended and `upcoming`
    /// while under way.
    invoices: Vec<Invoice>,
}

/// The organization's plan, its price and its invoices (owner only).
#[utoipa::path(
    get,
    path = "/account/billing",
    tag = "account",
    params(("X-Org" = Option<String>, Header, description = "Slug of the organization to act for")),
    responses(
        (status = 200, description = "Billing history", body = Billing),
        (status = 401, description = "Missing or invalid credentials"),
        (status = 403, description = "Only the organization's owners see billing"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn billing(
    State(state): State<AppState>,
    caller: Auth<roles::Owner>,
) -> ApiResult<Envelope<Billing>> {
    let history = plans::history(state.store.as_ref(), &caller.org).await?;
    let invoices = billing::invoices(caller.org.created_at, &history, state.clock.now())
        .into_iter()
        .map(|invoice| Invoice {
            date: invoice.month.format("%Y-%m-%d").to_string(),
            amount: invoice.amount_usd,
            status: invoice.status,
            plan: invoice.plan,
        })
        .collect();
    Ok(Envelope(Billing {
        plan: caller.org.plan,
        monthly_cost: caller.org.plan.monthly_price_usd(),
        currency: "USD",
        invoices,
    }))
}
