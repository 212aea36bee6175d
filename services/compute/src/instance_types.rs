//! Instance types: vCPU and memory per type, seeded by the migration.

use serde::Serialize;
use sqlx::PgPool;

use crate::error::{ComputeError, Result};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct InstanceType {
    pub name: String,
    pub vcpus: i32,
    pub memory_mib: i32,
}

pub async fn list(pool: &PgPool) -> Result<Vec<InstanceType>> {
    Ok(sqlx::query_as::<_, InstanceType>(
        "SELECT name, vcpus, memory_mib FROM compute.instance_types ORDER BY ordinal",
    )
    .fetch_all(pool)
    .await?)
}

pub async fn get<'e, E: sqlx::PgExecutor<'e>>(executor: E, name: &str) -> Result<InstanceType> {
    sqlx::query_as::<_, InstanceType>(
        "SELECT name, vcpus, memory_mib FROM compute.instance_types WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(executor)
    .await?
    .ok_or_else(|| ComputeError::invalid(format!("Invalid value '{name}' for InstanceType.")))
}

/// What DescribeInstanceTypes states of a type's networking: AWS's per-size interface and
/// address counts for the families Kumo names (the network service enforces uniform,
/// larger limits — 32 interfaces, 50 addresses each — so an instance that stays within
/// these always fits), bandwidth as AWS states it, no IPv6.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetworkLimits {
    pub maximum_network_interfaces: i32,
    pub ipv4_addresses_per_interface: i32,
    pub network_performance: &'static str,
    pub baseline_bandwidth_gbps: f64,
    pub peak_bandwidth_gbps: f64,
    pub ena_queues_per_interface: i32,
}

impl InstanceType {
    pub fn network_limits(&self) -> NetworkLimits {
        let burstable = self.name.starts_with('t');
        let size = self.name.split_once('.').map_or("", |(_, size)| size);
        // (interfaces, addresses per interface, baseline Gbps) by size, as AWS's t3/m5/c5.
        let (interfaces, addresses, baseline) = match (burstable, size) {
            (true, "nano") => (2, 2, 0.032),
            (true, "micro") => (2, 2, 0.064),
            (true, "small") => (3, 4, 0.128),
            (true, "medium") => (3, 6, 0.256),
            (true, "large") => (3, 12, 0.512),
            (true, _) => (4, 15, 1.024),
            (false, "large") => (3, 10, 0.75),
            (false, "xlarge") => (4, 15, 1.25),
            // Sizes the catalog may gain: by vCPUs.
            _ if self.vcpus <= 2 => (3, 10, 0.75),
            _ if self.vcpus <= 8 => (4, 15, 2.5),
            _ => (8, 30, 5.0),
        };
        let (network_performance, peak) = if burstable {
            ("Up to 5 Gigabit", 5.0)
        } else {
            ("Up to 10 Gigabit", 10.0)
        };
        NetworkLimits {
            maximum_network_interfaces: interfaces,
            ipv4_addresses_per_interface: addresses,
            network_performance,
            baseline_bandwidth_gbps: baseline,
            peak_bandwidth_gbps: peak,
            ena_queues_per_interface: self.vcpus.clamp(1, 8),
        }
    }
}
