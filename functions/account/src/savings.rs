use axum::extract::State;
use dtap_shared::AppState;
use dtap_shared::api::auth::{Auth, roles};
use dtap_shared::api::{ApiResult, Envelope};
use dtap_shared::store::repos::savings;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct Savings {
    /// Running cost avoided by hibernations: each cluster's hourly cost × hours hibernated.
    #[schema(example = 28450.0)]
    total_saved_usd: f64,
    water_saved_gallons: f64,
    /// Hours clusters spent hibernated instead of idling.
    idle_hours_eliminated: f64,
    co2_reduced_kg: f64,
}

fn cents(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// What hibernations have saved the organization so far, counted from its completed hibernations
/// (those still under way count up to now).
#[utoipa::path(
    get,
    path = "/account/savings",
    tag = "account",
    params(("X-Org" = Option<String>, Header, description = "Slug of the organization to act for")),
    responses(
        (status = 200, description = "Savings summary", body = Savings),
        (status = 401, description = "Missing or invalid credentials"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn savings(
    State(state): State<AppState>,
    caller: Auth<roles::Viewer>,
) -> ApiResult<Envelope<Savings>> {
    let total = savings::summary(state.store.as_ref(), &caller.org.id, state.clock.now()).await?;
    Ok(Envelope(Savings {
        total_saved_usd: cents(total.total_saved_usd),
        water_saved_gallons: cents(total.water_saved_gallons),
        idle_hours_eliminated: cents(total.idle_hours_eliminated),
        co2_reduced_kg: cents(total.co2_reduced_kg),
    }))
}
