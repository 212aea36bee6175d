//! Network service: VPCs, subnets, route tables, internet gateways, security groups,
//! network interfaces and elastic IPs, in the catalog's `network` schema; the native `/v1/`
//! API and the EC2 networking actions. Domain logic lives in plain functions, one module
//! per resource; every function takes the caller's [`Principal`] and scopes its queries by
//! the caller's account (another account's resources answer "not found").
//!
//! The data plane (VXLAN per VPC, bridges, nftables for security groups, NAT for elastic
//! IPs) is the compute agents' job, converging to what this service stores.

pub mod addresses;
pub mod cidr;
pub mod client_tokens;
pub mod ec2;
pub mod error;
pub mod host_plans;
pub mod internet_gateways;
mod listed;
pub mod network_acls;
pub mod network_interfaces;
pub mod route_tables;
pub mod security_group_rules;
pub mod security_groups;
pub mod subnets;
pub mod tags;
pub mod vpcs;

use std::sync::Arc;

pub use error::{NetworkError, Result};
use kumo_auth::Principal;
use kumo_common::service::Started;
use sqlx::PgPool;

#[derive(Debug, Clone)]
pub struct NetworkConfig {
    pub region: String,
    /// The availability zones of the region, in order (default subnets go one per zone).
    pub zones: Vec<String>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            region: kumo_auth::DEFAULT_REGION.into(),
            zones: vec!["us-east-1a".into()],
        }
    }
}

/// The network service's state.
#[derive(Clone)]
pub struct Network {
    pub pool: PgPool,
    pub config: Arc<NetworkConfig>,
}

impl Network {
    pub fn new(pool: PgPool, config: NetworkConfig) -> Self {
        Self {
            pool,
            config: Arc::new(config),
        }
    }

    /// The native API routes.
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .merge(security_groups::router(self.clone()))
            .merge(network_interfaces::api::router(self.clone()))
            .merge(vpcs::api::router(self.clone()))
            .merge(subnets::api::router(self.clone()))
            .merge(internet_gateways::api::router(self.clone()))
            .merge(route_tables::api::router(self.clone()))
            .merge(addresses::api::router(self.clone()))
    }

    /// Start this service: its routes. It has no loop of its own: agents converge their
    /// hosts to what it stores.
    pub fn start(&self) -> Started {
        Started {
            router: self.router(),
            tasks: Vec::new(),
        }
    }
}

/// The OpenAPI document of the native routes, merged from every resource module.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    let mut doc = security_groups::SecurityGroupsApi::openapi();
    doc.merge(vpcs::api::VpcsApi::openapi());
    doc.merge(subnets::api::SubnetsApi::openapi());
    doc.merge(internet_gateways::api::InternetGatewaysApi::openapi());
    doc.merge(route_tables::api::RouteTablesApi::openapi());
    doc.merge(network_interfaces::api::NetworkInterfacesApi::openapi());
    doc.merge(addresses::api::AddressesApi::openapi());
    doc
}

/// Tenant writes need a role that may write.
pub fn require_write(caller: &Principal) -> Result<()> {
    if caller.role.can_write() {
        Ok(())
    } else {
        Err(NetworkError::Forbidden(format!(
            "You are not authorized to perform this operation: role {} is read-only",
            caller.role
        )))
    }
}

/// Operator-only actions (address pools, host uplinks).
pub fn require_operator(caller: &Principal) -> Result<()> {
    if caller.is_operator() {
        Ok(())
    } else {
        Err(NetworkError::Forbidden(
            "only operators can manage the network's underlay and address pools".into(),
        ))
    }
}
