use axum::extract::{RawQuery, State};
use chrono::NaiveDate;
use dtap_shared::AppState;
use dtap_shared::api::auth::{Auth, roles};
use dtap_shared::api::{ApiError, ApiResult, Envelope};
use dtap_shared::store::repos::usage;
use serde::Serialize;
use utoipa::ToSchema;

use dtap_shared::api::query as params;

#[derive(Debug, Serialize, ToSchema)]
pub struct Usage {
    /// The calendar month counted (UTC), `yyyy-mm`.
    #[schema(example = "2026-03")]
    period: String,
    /// Authenticated API requests made for the organization.
    api_calls: u64,
    clusters_optimized: u64,
    hibernations_triggered: u64,
}

/// A `yyyy-mm` month no later than the current one.
fn parse_period(raw: &str, current: &str) -> Result<String, ApiError> {
    let shape_ok = raw.len() == 7
        && raw.bytes().enumerate().all(|(i, b)| {
            if i == 4 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    let well_formed =
        shape_ok && NaiveDate::parse_from_str(&format!("{raw}-01"), "%Y-%m-%d").is_ok();
    if !well_formed {
        return Err(ApiError::Validation(
            "period: must be a month as yyyy-mm".into(),
        ));
    }
    // Both are yyyy-mm, so string order is time order.
    if raw > current {
        return Err(ApiError::Validation(
            "period: must not be in the future".into(),
        ));
    }
    Ok(raw.to_owned())
}

/// Usage counters of the organization for one calendar month (UTC).
#[utoipa::path(
    get,
    path = "/account/usage",
    tag = "account",
    params(
        ("period" = Option<String>, Query, description = "Month as yyyy-mm (UTC); defaults to the current month"),
        ("X-Org" = Option<String>, Header, description = "Slug of the organization to act for"),
    ),
    responses(
        (status = 200, description = "Usage of the month", body = Usage),
        (status = 400, description = "Malformed or future `period`"),
        (status = 401, description = "Missing or invalid credentials"),
    ),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn usage(
    State(state): State<AppState>,
    caller: Auth<roles::Viewer>,
    RawQuery(query): RawQuery,
) -> ApiResult<Envelope<Usage>> {
    let current = usage::month_of(state.clock.now());
    let period = match params::get(query.as_deref(), "period") {
        Some(raw) => parse_period(raw.trim(), &current)?,
        None => current,
    };
    let counted = usage::for_month(state.store.as_ref(), &caller.org.id, &period).await?;
    Ok(Envelope(Usage {
        period,
        api_calls: counted.api_calls,
        clusters_optimized: counted.clusters_optimized,
        hibernations_triggered: counted.hibernations_triggered,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_past_or_current_months() {
        assert_eq!(parse_period("2026-03", "2026-03").unwrap(), "2026-03");
        assert_eq!(parse_period("2025-12", "2026-03").unwrap(), "2025-12");
        for bad in [
            "2026-3",
            "2026-13",
            "2026-00",
            "26-03",
            "2026/03",
            "2026-03-01",
            "",
            "+202-03",
        ] {
            assert!(parse_period(bad, "2026-03").is_err(), "{bad}");
        }
        assert_eq!(
            parse_period("2026-04", "2026-03").unwrap_err().to_string(),
            "period: must not be in the future"
        );
    }
}
