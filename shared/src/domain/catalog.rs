//! What instances cost: vCPU, memory and on-demand USD/hour per region, from the price sheet in
//! `reference/cloud-apis.md` §6 (SkyPilot catalog v6: `catalogs/v6/{aws,azure,gcp}/vms.csv`).
//! Marks as there: [V] verified against the catalog, [D] derived (the derivation is noted).
//!
//! The prices are a snapshot (2025 or later) and must be re-fetched from the providers' price APIs
//! before they are trusted for billing; they are good enough to rank clusters and count savings.
//!
//! Databricks DBUs are **not** included: §6 marks both the $/DBU list rates and the DBU/hour per
//! instance type as unverified and conflicting, so a Databricks cluster's cost here is its cloud
//! VM bill only, which understates what Databricks customers pay.

use crate::domain::platform::ClusterInfo;

/// The cloud an instance type belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Provider {
    Aws,
    Azure,
    Gcp,
}

impl Provider {
    /// The region §6 prices every type in, used when the cluster's own region has no price.
    pub fn base_region(self) -> &'static str {
        match self {
            Self::Aws => "us-east-1",
            Self::Azure => "eastus",
            Self::Gcp => "us-central1",
        }
    }
}

/// The shape of an instance type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InstanceType {
    pub name: &'static str,
    pub provider: Provider,
    pub vcpu: u32,
    /// GiB (GCP's catalog says GB; its machine types are sized in GiB).
    pub memory_gib: f64,
}

/// (type, provider, vCPU, GiB, base-region $/h). Base regions: AWS us-east-1, Azure eastus,
/// GCP us-central1 (VM price only, without the Dataproc fee).
const TYPES: &[(&str, Provider, u32, f64, f64)] = &[
    ("i3.large", Provider::Aws, 2, 15.25, 0.156),    // [V]
    ("i3.xlarge", Provider::Aws, 4, 30.5, 0.312),    // [D] 2 × i3.large, linear family
    ("i3.2xlarge", Provider::Aws, 8, 61.0, 0.624),   // [V]
    ("i3.4xlarge", Provider::Aws, 16, 122.0, 1.248), // [V]
    ("m5.large", Provider::Aws, 2, 8.0, 0.096),      // [V]
    ("m5.xlarge", Provider::Aws, 4, 16.0, 0.192),    // [D] linear family
    ("m5.2xlarge", Provider::Aws, 8, 32.0, 0.384),   // [D] linear family
    ("m5.4xlarge", Provider::Aws, 16, 64.0, 0.768),  // [V]
    ("m5a.xlarge", Provider::Aws, 4, 16.0, 0.172),   // [V]
    ("m5a.2xlarge", Provider::Aws, 8, 32.0, 0.344),  // [V]
    ("r5.xlarge", Provider::Aws, 4, 32.0, 0.252),    // [V]
    ("r5.2xlarge", Provider::Aws, 8, 64.0, 0.504),   // [D] r5.metal 96 vCPU = 6.048 → 0.063/vCPU
    ("r5a.2xlarge", Provider::Aws, 8, 64.0, 0.452),  // [V]
    ("c5.large", Provider::Aws, 2, 4.0, 0.085),      // [V]
    ("c5.2xlarge", Provider::Aws, 8, 16.0, 0.34),    // [D] c5.4xlarge = 0.68 [V]
    ("c5.4xlarge", Provider::Aws, 16, 32.0, 0.68),   // [V]
    ("Standard_DS3_v2", Provider::Azure, 4, 14.0, 0.293), // [V]
    ("Standard_DS4_v2", Provider::Azure, 8, 28.0, 0.585), // [V]
    ("Standard_DS5_v2", Provider::Azure, 16, 56.0, 1.17), // [V]
    ("Standard_E8s_v3", Provider::Azure, 8, 64.0, 0.504), // [V]
    ("Standard_E8s_v5", Provider::Azure, 8, 64.0, 0.504), // [V]
    ("Standard_E8ds_v5", Provider::Azure, 8, 64.0, 0.576), // [V]
    ("Standard_E8as_v5", Provider::Azure, 8, 64.0, 0.452), // [V]
    ("Standard_E64s_v3", Provider::Azure, 64, 432.0, 3.629), // [V]
    ("n2-standard-4", Provider::Gcp, 4, 16.0, 0.19424), // [V]
    ("n2-standard-48", Provider::Gcp, 48, 192.0, 2.33083), // [V]
    ("n2-highmem-2", Provider::Gcp, 2, 16.0, 0.13101), // [V]
    ("n2-highmem-8", Provider::Gcp, 8, 64.0, 0.52405), // [D] 4 × n2-highmem-2 ≈ ½ × n2-highmem-16
    ("n2-highmem-16", Provider::Gcp, 16, 128.0, 1.04811), // [V]
];

/// Prices outside the base regions; all [V].
const REGIONAL: &[(&str, &str, f64)] = &[
    ("i3.2xlarge", "eu-west-1", 0.688),
    ("i3.2xlarge", "us-west-2", 0.624),
    ("r5.xlarge", "eu-west-1", 0.282),
    ("m5.4xlarge", "eu-west-1", 0.856),
    ("Standard_DS3_v2", "eastus2", 0.229),
    ("Standard_DS3_v2", "westus2", 0.229),
    ("Standard_E8s_v3", "westus2", 0.504),
    ("Standard_E8s_v3", "eastus2", 0.532),
    ("n2-standard-4", "europe-west1", 0.21367),
    ("n2-standard-4", "us-east4", 0.21876),
    ("n2-highmem-2", "europe-west1", 0.14412),
];

/// The shape of a type; `None` when the catalog does not know it.
pub fn instance(name: &str) -> Option<InstanceType> {
    TYPES
        .iter()
        .find(|row| row.0 == name)
        .map(|&(name, provider, vcpu, memory_gib, _)| InstanceType {
            name,
            provider,
            vcpu,
            memory_gib,
        })
}

/// The family of a type, for right-sizing within it: AWS the part before the dot (`i3`, `m5a`),
/// GCP the part before the size (`n2-highmem`), Azure the name with its size digits replaced
/// (`Standard_DS#_v2`, `Standard_E#s_v3`). `None` for a type the catalog does not know.
pub fn family(name: &str) -> Option<String> {
    let instance = instance(name)?;
    Some(match instance.provider {
        Provider::Aws => name.split('.').next().unwrap_or(name).to_owned(),
        Provider::Gcp => name
            .rsplit_once('-')
            .map_or(name, |(family, _)| family)
            .to_owned(),
        Provider::Azure => {
            let start = name.find(|c: char| c.is_ascii_digit())?;
            let end = name[start..]
                .find(|c: char| !c.is_ascii_digit())
                .map_or(name.len(), |offset| start + offset);
            format!("{}#{}", &name[..start], &name[end..])
        }
    })
}

/// Every type of the catalog in the same family as `name` (itself included).
pub fn same_family(name: &str) -> Vec<InstanceType> {
    let Some(wanted) = family(name) else {
        return Vec::new();
    };
    TYPES
        .iter()
        .filter(|row| family(row.0).as_deref() == Some(wanted.as_str()))
        .filter_map(|row| instance(row.0))
        .collect()
}

/// An hourly price and where it was taken from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Price {
    pub usd_per_hour: f64,
    /// The region whose price this is.
    pub region: &'static str,
    /// Whether the asked region had no price and the provider's base region was used instead.
    pub fallback: bool,
}

/// The on-demand price of `name` in `region`. A region the sheet has no row for (or no region)
/// falls back to the same type in the provider's base region, and says so; an unknown type is
/// `None`, never a price of zero.
pub fn price(name: &str, region: Option<&str>) -> Option<Price> {
    let &(_, provider, _, _, base) = TYPES.iter().find(|row| row.0 == name)?;
    let base_region = provider.base_region();
    if let Some(region) = region {
        if region == base_region {
            return Some(Price {
                usd_per_hour: base,
                region: base_region,
                fallback: false,
            });
        }
        if let Some(&(_, region, usd_per_hour)) =
            REGIONAL.iter().find(|row| row.0 == name && row.1 == region)
        {
            return Some(Price {
                usd_per_hour,
                region,
                fallback: false,
            });
        }
    }
    Some(Price {
        usd_per_hour: base,
        region: base_region,
        fallback: true,
    })
}

/// What a cluster costs per hour of running.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClusterCost {
    pub usd_per_hour: f64,
    /// Some node's price came from the base region rather than the cluster's.
    pub fallback: bool,
}

/// price(worker) × workers + price(driver); the driver is of the worker type unless the cluster
/// says otherwise. `None` when a node's type is missing or unknown: an unpriced cluster is
/// reported as unknown, not as free. Cloud VMs only (no DBUs, see the module docs).
pub fn cluster_cost(cluster: &ClusterInfo, region: Option<&str>) -> Option<ClusterCost> {
    let worker_type = cluster.instance_type.as_deref()?;
    let driver_type = cluster
        .driver_instance_type
        .as_deref()
        .unwrap_or(worker_type);
    let worker = price(worker_type, region)?;
    let driver = price(driver_type, region)?;
    Some(ClusterCost {
        usd_per_hour: worker.usd_per_hour * f64::from(cluster.workers) + driver.usd_per_hour,
        fallback: worker.fallback || driver.fallback,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::platform::ClusterState;

    fn cluster(worker: &str, driver: Option<&str>, workers: u32) -> ClusterInfo {
        ClusterInfo {
            id: "0301-prod-etl".into(),
            name: "Production ETL".into(),
            state: ClusterState::Running,
            instance_type: Some(worker.into()),
            driver_instance_type: driver.map(str::to_owned),
            workers,
            region: None,
            started_at: None,
        }
    }

    #[test]
    fn types_have_their_sheet_shapes() {
        let i3 = instance("i3.xlarge").unwrap();
        assert_eq!(
            (i3.provider, i3.vcpu, i3.memory_gib),
            (Provider::Aws, 4, 30.5)
        );
        assert_eq!(instance("Standard_E8s_v3").unwrap().memory_gib, 64.0);
        assert_eq!(instance("n2-standard-4").unwrap().provider, Provider::Gcp);
        assert_eq!(instance("x9.mega"), None);
    }

    #[test]
    fn families_group_the_sizes_of_one_line() {
        assert_eq!(family("i3.2xlarge").as_deref(), Some("i3"));
        assert_eq!(family("m5a.xlarge").as_deref(), Some("m5a"));
        assert_eq!(family("n2-highmem-8").as_deref(), Some("n2-highmem"));
        assert_eq!(
            family("Standard_DS4_v2").as_deref(),
            Some("Standard_DS#_v2")
        );
        assert_eq!(
            family("Standard_E64s_v3").as_deref(),
            Some("Standard_E#s_v3")
        );
        assert_eq!(family("x9.mega"), None);
        let names: Vec<_> = same_family("i3.xlarge").iter().map(|t| t.name).collect();
        assert_eq!(names, ["i3.large", "i3.xlarge", "i3.2xlarge", "i3.4xlarge"]);
        let e_v3: Vec<_> = same_family("Standard_E8s_v3")
            .iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(e_v3, ["Standard_E8s_v3", "Standard_E64s_v3"]);
        assert_eq!(same_family("m5.large").len(), 4);
    }

    #[test]
    fn regional_prices_win_and_other_regions_fall_back_to_the_base_region() {
        let eu = price("i3.2xlarge", Some("eu-west-1")).unwrap();
        assert_eq!(
            (eu.usd_per_hour, eu.region, eu.fallback),
            (0.688, "eu-west-1", false)
        );
        let base = price("i3.2xlarge", Some("us-east-1")).unwrap();
        assert_eq!((base.usd_per_hour, base.fallback), (0.624, false));
        let tokyo = price("i3.2xlarge", Some("ap-northeast-1")).unwrap();
        assert_eq!(
            (tokyo.usd_per_hour, tokyo.region, tokyo.fallback),
            (0.624, "us-east-1", true)
        );
        let unknown_region = price("Standard_DS3_v2", None).unwrap();
        assert_eq!(
            (unknown_region.usd_per_hour, unknown_region.region),
            (0.293, "eastus")
        );
        assert!(unknown_region.fallback);
        assert_eq!(
            price("n2-standard-4", Some("us-east4"))
                .unwrap()
                .usd_per_hour,
            0.21876
        );
        assert_eq!(price("r5d.2xlarge", Some("us-east-1")), None);
    }

    #[test]
    fn a_cluster_costs_its_workers_and_its_driver() {
        // 8 × 0.312 + 0.312 = 2.808
        let same = cluster_cost(&cluster("i3.xlarge", None, 8), Some("us-east-1")).unwrap();
        assert!((same.usd_per_hour - 2.808).abs() < 1e-9);
        assert!(!same.fallback);
        // 4 × 0.252 (r5.xlarge) + 0.624 (i3.2xlarge) = 1.632
        let mixed = cluster_cost(
            &cluster("r5.xlarge", Some("i3.2xlarge"), 4),
            Some("us-east-1"),
        )
        .unwrap();
        assert!((mixed.usd_per_hour - 1.632).abs() < 1e-9);
        // eu-west-1: 2 × 0.282 + 0.688 = 1.252
        let eu = cluster_cost(
            &cluster("r5.xlarge", Some("i3.2xlarge"), 2),
            Some("eu-west-1"),
        )
        .unwrap();
        assert!((eu.usd_per_hour - 1.252).abs() < 1e-9);
        // A single-node cluster is its driver.
        let single = cluster_cost(&cluster("m5.xlarge", None, 0), Some("us-east-1")).unwrap();
        assert_eq!(single.usd_per_hour, 0.192);
    }

    #[test]
    fn an_unknown_node_type_leaves_the_cluster_unpriced() {
        assert_eq!(
            cluster_cost(&cluster("r5d.2xlarge", None, 2), Some("us-east-1")),
            None
        );
        assert_eq!(
            cluster_cost(
                &cluster("i3.xlarge", Some("r5d.2xlarge"), 2),
                Some("us-east-1")
            ),
            None
        );
        let mut untyped = cluster("i3.xlarge", None, 2);
        untyped.instance_type = None;
        assert_eq!(cluster_cost(&untyped, None), None);
    }
}
