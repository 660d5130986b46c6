//! What a running cluster costs and emits per hour, and so what hibernating it saves: the one
//! place the catalog (prices) and the sustainability model (CO2, water) meet a cluster.

use super::catalog;
use super::platform::ClusterInfo;
use super::sustainability::{self, Footprint};

/// The cluster's region, else its platform's: prices and grid factors are regional.
pub fn region<'a>(info: &'a ClusterInfo, platform_region: Option<&'a str>) -> Option<&'a str> {
    info.region.as_deref().or(platform_region)
}

/// USD per hour of running (cloud VMs only); `None` when a node type is not in the catalog.
pub fn hourly_cost(info: &ClusterInfo, platform_region: Option<&str>) -> Option<f64> {
    catalog::cluster_cost(info, region(info, platform_region)).map(|cost| cost.usd_per_hour)
}

/// Energy, CO2 and water of one hour of running; `None` when a node type is unknown.
pub fn footprint(info: &ClusterInfo, platform_region: Option<&str>) -> Option<Footprint> {
    let worker = catalog::instance(info.instance_type.as_deref()?)?;
    let driver = match info.driver_instance_type.as_deref() {
        Some(driver) => catalog::instance(driver)?,
        None => worker,
    };
    Some(sustainability::cluster_hour(
        &worker,
        &driver,
        info.workers,
        region(info, platform_region),
    ))
}

/// What an hour of hibernation saves, fixed when the cluster goes down. `None` without a price:
/// there is nothing honest to count as saved.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SavingRates {
    pub hourly_cost_usd: f64,
    pub co2_kg_per_hour: f64,
    /// Zero where the provider publishes no water figure (GCP), rather than an invented one.
    pub water_gallons_per_hour: f64,
}

pub fn saving_rates(info: &ClusterInfo, platform_region: Option<&str>) -> Option<SavingRates> {
    let hourly_cost_usd = hourly_cost(info, platform_region)?;
    let hour = footprint(info, platform_region).unwrap_or_default();
    Some(SavingRates {
        hourly_cost_usd,
        co2_kg_per_hour: hour.co2_kg,
        water_gallons_per_hour: hour.water_gallons.unwrap_or(0.0),
    })
}

/// Rounds a figure for display.
pub fn round(value: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::platform::ClusterState;

    fn cluster(instance: Option<&str>, workers: u32) -> ClusterInfo {
        ClusterInfo {
            id: "c".into(),
            name: "c".into(),
            state: ClusterState::Running,
            instance_type: instance.map(str::to_owned),
            driver_instance_type: None,
            workers,
            region: None,
            started_at: None,
        }
    }

    #[test]
    fn rates_are_the_catalog_price_and_the_footprint_of_all_nodes() {
        let info = cluster(Some("i3.xlarge"), 8);
        let rates = saving_rates(&info, Some("us-east-1")).unwrap();
        assert!((rates.hourly_cost_usd - 9.0 * 0.312).abs() < 1e-9);
        let hour = footprint(&info, Some("us-east-1")).unwrap();
        assert_eq!(rates.co2_kg_per_hour, hour.co2_kg);
        assert_eq!(Some(rates.water_gallons_per_hour), hour.water_gallons);
    }

    #[test]
    fn unknown_types_have_no_rates() {
        assert_eq!(saving_rates(&cluster(Some("x9.huge"), 2), None), None);
        assert_eq!(saving_rates(&cluster(None, 2), None), None);
    }
}
