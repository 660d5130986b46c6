use serde::{Deserialize, Serialize};

/// A subscription tier. New organizations start on `starter` (contract).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    #[default]
    Starter,
    Growth,
    Enterprise,
}

impl Plan {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starter => "starter",
            Self::Growth => "growth",
            Self::Enterprise => "enterprise",
        }
    }

    /// The flat monthly price in whole US dollars: the one price table of the service. Growth is
    /// the documented 499; starter and enterprise are the service's own choice (README, "API
    /// decisions").
    pub fn monthly_price_usd(self) -> u32 {
        match self {
            Self::Starter => 99,
            Self::Growth => 499,
            Self::Enterprise => 1999,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_costs_what_the_documentation_shows() {
        assert_eq!(Plan::Growth.monthly_price_usd(), 499);
        assert!(Plan::Starter.monthly_price_usd() < Plan::Growth.monthly_price_usd());
        assert!(Plan::Growth.monthly_price_usd() < Plan::Enterprise.monthly_price_usd());
    }
}
