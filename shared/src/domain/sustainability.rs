//! Energy, CO2 and water of running instances, after Cloud Carbon Footprint (CCF), from
//! `reference/cloud-apis.md` §5 (CCF at `b7a049c7`, 2024-03-25). Every coefficient is in the
//! [`COEFFICIENTS`] table or the grid table below, next to its source.
//!
//! Method, per instance-hour:
//! - compute: `avgW = minW + u × (maxW − minW)` per vCPU at utilisation `u` = 50% (CCF's default
//!   when the real utilisation is unknown; monitoring does not feed real figures in yet), × vCPUs;
//! - memory: `GiB × 0.000392 kWh` on the whole memory. CCF counts only memory above the SPECpower
//!   baseline on AWS and Azure; we have no baseline per type, so this overstates memory energy a
//!   little. GiB are taken as CCF's GB (DIMM "GB" are GiB);
//! - facility energy = (compute + memory) × PUE; CO2 = facility energy × the region's grid factor;
//! - water = IT energy (before PUE: WUE is litres per kWh of IT energy, §5.4) × the provider's WUE,
//!   litres → US gallons. CCF has no water model; the WUE figures are vendor statements found in
//!   secondary sources, and GCP publishes none, so GCP water is unknown (`None`), not zero.
//!
//! Embodied emissions, networking and storage are not counted.

use crate::domain::catalog::{InstanceType, Provider};

/// CCF's default average CPU utilisation of hyperscale servers (§5.1, §5.2).
pub const DEFAULT_CPU_UTILISATION: f64 = 0.5;

/// Litres in one US gallon.
pub const LITRES_PER_US_GALLON: f64 = 3.785_411_784;

/// One provider's coefficients.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Coefficients {
    /// CCF's fallback average watts per vCPU at idle and at full load.
    pub min_watts_per_vcpu: f64,
    pub max_watts_per_vcpu: f64,
    pub memory_kwh_per_gb_hour: f64,
    pub pue: f64,
    /// Litres of water per kWh of IT energy, with the year the figure is for.
    pub wue_litres_per_kwh: Option<(f64, u16)>,
}

/// §5.2 (CCF `packages/{aws,azure,gcp}/src/domain/*FootprintEstimationConstants.ts`) and §5.4.
pub fn coefficients(provider: Provider) -> Coefficients {
    match provider {
        // min/max 0.74/3.5, PUE 1.135 [V]; WUE 0.12 L/kWh for 2025, Amazon News via
        // humanprogress.org / networkworld.com [V-secondary] (0.25 in 2021).
        Provider::Aws => Coefficients {
            min_watts_per_vcpu: 0.74,
            max_watts_per_vcpu: 3.5,
            memory_kwh_per_gb_hour: 0.000392,
            pue: 1.135,
            wue_litres_per_kwh: Some((0.12, 2025)),
        },
        // CCF's code values 0.74/3.54 and PUE 1.185 (the doc differs; the code is what CCF runs);
        // WUE 0.27 L/kWh for 2025, owned fleet, Microsoft via windowsnews.ai [V-secondary].
        Provider::Azure => Coefficients {
            min_watts_per_vcpu: 0.74,
            max_watts_per_vcpu: 3.54,
            memory_kwh_per_gb_hour: 0.000392,
            pue: 1.185,
            wue_litres_per_kwh: Some((0.27, 2025)),
        },
        // CCF's code medians 0.68/4.11, fleet PUE 1.1 (per-region PUE in `gcp_pue`); Google
        // publishes no WUE in L/kWh [U].
        Provider::Gcp => Coefficients {
            min_watts_per_vcpu: 0.68,
            max_watts_per_vcpu: 4.11,
            memory_kwh_per_gb_hour: 0.000392,
            pue: 1.1,
            wue_litres_per_kwh: None,
        },
    }
}

/// GCP's per-region trailing-12-month PUE (§5.2); other regions use the fleet average.
fn gcp_pue(region: &str) -> Option<f64> {
    Some(match region {
        "us-central1" => 1.11,
        "europe-west1" => 1.09,
        "us-east4" => 1.08,
        "europe-west4" => 1.07,
        "europe-north1" => 1.09,
        "asia-east1" => 1.12,
        "asia-southeast1" => 1.13,
        _ => return None,
    })
}

/// Per-architecture watts per vCPU for the AWS families §5.1 maps (CCF `AWSInstanceTypes.ts`):
/// m5 → Skylake 0.65/4.26; c5 and r5 → the average of Cascade Lake 0.64/3.97 and Skylake. Other
/// families (i3 among them: UNKNOWN in CCF) take the provider average.
fn aws_architecture_watts(instance: &str) -> Option<(f64, f64)> {
    let family = instance.split('.').next()?;
    match family {
        "m5" => Some((0.65, 4.26)),
        "c5" | "r5" => Some(((0.64 + 0.65) / 2.0, (3.97 + 4.26) / 2.0)),
        _ => None,
    }
}

/// Grid emission factors CCF uses, in kg CO2e per kWh (§5.3 gives metric tonnes per kWh; US:
/// EPA eGRID2020, GCP: grid mode).
const GRID_KG_PER_KWH: &[(Provider, &str, f64)] = &[
    (Provider::Aws, "us-east-1", 0.379069),
    (Provider::Aws, "us-east-2", 0.410608),
    (Provider::Aws, "us-west-2", 0.322167),
    (Provider::Aws, "eu-west-1", 0.2786),
    (Provider::Aws, "eu-central-1", 0.311),
    (Provider::Azure, "eastus", 0.379069),
    (Provider::Azure, "eastus2", 0.379069),
    (Provider::Azure, "westeurope", 0.3284),
    (Provider::Azure, "northeurope", 0.2786),
    (Provider::Azure, "westus2", 0.322167),
    (Provider::Gcp, "us-central1", 0.456),
    (Provider::Gcp, "us-east1", 0.434),
    (Provider::Gcp, "europe-west1", 0.11),
];

/// The grid factor of `region`, or of the provider's base region when the table has no row for
/// it (the flag says so).
pub fn grid_kg_per_kwh(provider: Provider, region: Option<&str>) -> (f64, bool) {
    let find = |wanted: &str| {
        GRID_KG_PER_KWH
            .iter()
            .find(|row| row.0 == provider && row.1 == wanted)
            .map(|row| row.2)
    };
    if let Some(factor) = region.and_then(find) {
        return (factor, false);
    }
    let base = find(provider.base_region()).expect("every provider's base region has a factor");
    (base, true)
}

/// What running something for one hour uses and emits.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Footprint {
    /// Energy drawn by the servers themselves.
    pub it_kwh: f64,
    /// IT energy × PUE.
    pub facility_kwh: f64,
    pub co2_kg: f64,
    /// `None` when the provider publishes no water figure.
    pub water_gallons: Option<f64>,
    /// Whether the region's grid factor was unknown and the base region's was used.
    pub grid_fallback: bool,
}

impl Footprint {
    fn scaled(self, by: f64) -> Self {
        Self {
            it_kwh: self.it_kwh * by,
            facility_kwh: self.facility_kwh * by,
            co2_kg: self.co2_kg * by,
            water_gallons: self.water_gallons.map(|w| w * by),
            grid_fallback: self.grid_fallback,
        }
    }

    fn plus(self, other: Self) -> Self {
        Self {
            it_kwh: self.it_kwh + other.it_kwh,
            facility_kwh: self.facility_kwh + other.facility_kwh,
            co2_kg: self.co2_kg + other.co2_kg,
            water_gallons: self
                .water_gallons
                .zip(other.water_gallons)
                .map(|(a, b)| a + b),
            grid_fallback: self.grid_fallback || other.grid_fallback,
        }
    }
}

/// One hour of one instance of `instance` in `region`, at CCF's default utilisation.
pub fn instance_hour(instance: &InstanceType, region: Option<&str>) -> Footprint {
    let c = coefficients(instance.provider);
    let (min_w, max_w) = match instance.provider {
        Provider::Aws => aws_architecture_watts(instance.name),
        Provider::Azure | Provider::Gcp => None,
    }
    .unwrap_or((c.min_watts_per_vcpu, c.max_watts_per_vcpu));
    let avg_w = min_w + DEFAULT_CPU_UTILISATION * (max_w - min_w);
    let compute_kwh = avg_w * f64::from(instance.vcpu) / 1000.0;
    let memory_kwh = instance.memory_gib * c.memory_kwh_per_gb_hour;
    let it_kwh = compute_kwh + memory_kwh;
    let pue = match instance.provider {
        Provider::Gcp => region.and_then(gcp_pue).unwrap_or(c.pue),
        Provider::Aws | Provider::Azure => c.pue,
    };
    let facility_kwh = it_kwh * pue;
    let (grid, grid_fallback) = grid_kg_per_kwh(instance.provider, region);
    Footprint {
        it_kwh,
        facility_kwh,
        co2_kg: facility_kwh * grid,
        water_gallons: c
            .wue_litres_per_kwh
            .map(|(litres, _year)| it_kwh * litres / LITRES_PER_US_GALLON),
        grid_fallback,
    }
}

/// One hour of a cluster: `workers` instances of `worker` and one `driver`.
pub fn cluster_hour(
    worker: &InstanceType,
    driver: &InstanceType,
    workers: u32,
    region: Option<&str>,
) -> Footprint {
    instance_hour(worker, region)
        .scaled(f64::from(workers))
        .plus(instance_hour(driver, region))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::instance;

    fn close(actual: f64, expected: f64) {
        assert!(
            (actual - expected).abs() < 1e-9,
            "{actual} is not {expected}"
        );
    }

    #[test]
    fn an_i3_xlarge_hour_in_us_east_1() {
        // i3.xlarge: 4 vCPU, 30.5 GiB; i3 is UNKNOWN in CCF → AWS average 0.74/3.5 W.
        // avgW = 0.74 + 0.5 × 2.76 = 2.12 W; × 4 vCPU = 8.48 Wh = 0.00848 kWh
        // memory 30.5 × 0.000392 = 0.011956 kWh; IT = 0.020436 kWh
        // × PUE 1.135 = 0.02319486 kWh; × 0.379069 kg/kWh = 0.008792457…  kg CO2e
        // water: 0.020436 kWh × 0.12 L/kWh = 0.00245232 L / 3.785411784 = 0.000647834… gal
        let hour = instance_hour(&instance("i3.xlarge").unwrap(), Some("us-east-1"));
        close(hour.it_kwh, 0.020436);
        close(hour.facility_kwh, 0.02319486);
        close(hour.co2_kg, 0.02319486 * 0.379069);
        close(hour.water_gallons.unwrap(), 0.00245232 / 3.785411784);
        assert!(!hour.grid_fallback);
    }

    #[test]
    fn the_worked_example_of_section_5_3_at_20_percent() {
        // §5.3: 0.74 + 0.2 × 2.76 = 1.292 W × 4 = 5.168 Wh × 1.135 = 5.866 Wh → ≈ 2.2 g CO2e.
        let kwh = (0.74 + 0.2 * (3.5 - 0.74)) * 4.0 / 1000.0 * 1.135;
        close(kwh, 0.00586568);
        assert!((kwh * 0.379069 * 1000.0 - 2.2).abs() < 0.05);
    }

    #[test]
    fn m5_uses_skylake_watts() {
        // m5.xlarge: 0.65 + 0.5 × 3.61 = 2.455 W × 4 = 0.00982 kWh; memory 16 × 0.000392 =
        // 0.006272; IT 0.016092 kWh; × 1.135 = 0.01826442 kWh; eu-west-1 0.2786 kg/kWh.
        let hour = instance_hour(&instance("m5.xlarge").unwrap(), Some("eu-west-1"));
        close(hour.it_kwh, 0.016092);
        close(hour.co2_kg, 0.01826442 * 0.2786);
    }

    #[test]
    fn unknown_regions_take_the_base_region_grid_and_gcp_has_no_water() {
        let (factor, fallback) = grid_kg_per_kwh(Provider::Aws, Some("ap-south-1"));
        assert_eq!((factor, fallback), (0.379069, true));
        // n2-standard-4 in us-central1: avgW 0.68 + 0.5 × 3.43 = 2.395 × 4 = 0.00958 kWh;
        // memory 16 × 0.000392 = 0.006272; IT 0.015852; × regional PUE 1.11 = 0.01759572 kWh.
        let hour = instance_hour(&instance("n2-standard-4").unwrap(), Some("us-central1"));
        close(hour.facility_kwh, 0.01759572);
        close(hour.co2_kg, 0.01759572 * 0.456);
        assert_eq!(hour.water_gallons, None);
    }

    #[test]
    fn a_cluster_hour_is_its_workers_and_its_driver() {
        let i3 = instance("i3.xlarge").unwrap();
        let one = instance_hour(&i3, Some("us-east-1"));
        let cluster = cluster_hour(&i3, &i3, 8, Some("us-east-1"));
        close(cluster.it_kwh, 9.0 * 0.020436);
        close(
            cluster.water_gallons.unwrap(),
            9.0 * one.water_gallons.unwrap(),
        );
    }
}
