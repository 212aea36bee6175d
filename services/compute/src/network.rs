//! Instances' networking, owned by the network service: every instance gets a primary
//! network interface (an address in a subnet of a VPC, a MAC, security groups) made in
//! RunInstances' own transaction, and gives it back when it ends. Compute reaches the
//! network service through [`InstanceNetworking`], which the composition root wires (this
//! crate does not depend on the network's). Each VPC becomes one Linux bridge on every
//! host that runs its instances.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use chrono::{DateTime, Utc};
use kumo_auth::Principal;
use kumo_compute_protocol::network::VpcLinkNames;
use kumo_compute_protocol::NetworkAttachment;
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, Transaction};

use crate::error::{ComputeError, Result};

/// What a launch asks of the network (RunInstances' `SubnetId`, `SecurityGroupId.N`,
/// `SecurityGroup.N`, `PrivateIpAddress`, or its `NetworkInterface.0.*`).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkRequest {
    /// The subnet; the account's default subnet of the instance's zone when absent.
    #[serde(default)]
    pub subnet_id: Option<String>,
    #[serde(default)]
    pub security_group_ids: Vec<String>,
    /// Group names, of the default VPC.
    #[serde(default)]
    pub security_groups: Vec<String>,
    #[serde(default)]
    pub private_ip_address: Option<String>,
    #[serde(default)]
    pub secondary_private_ip_address_count: Option<i64>,
    /// The primary interface's description.
    #[serde(default)]
    pub description: Option<String>,
    /// Whether the primary interface goes with the instance (default true).
    #[serde(default)]
    pub delete_on_termination: Option<bool>,
    /// Whether the primary interface gets a public address from the zone's pool while the
    /// instance runs (not an elastic IP); the subnet's `mapPublicIpOnLaunch` when absent.
    #[serde(default)]
    pub associate_public_ip_address: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SecurityGroupRef {
    pub group_id: String,
    pub group_name: String,
}

/// A public address mapped to one of an interface's private addresses: an elastic IP, or
/// the launch-time public address of an instance launched with one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PublicAddress {
    pub private_ip_address: String,
    pub public_ip: String,
    /// Empty when the VPC gives no public DNS names.
    pub public_dns_name: String,
    /// The account that owns the elastic IP; `amazon` for a launch-time public address.
    pub ip_owner_id: String,
}

/// One network interface of an instance, as the instance shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct InstanceInterface {
    pub network_interface_id: String,
    pub subnet_id: String,
    pub vpc_id: String,
    pub owner_id: String,
    pub description: String,
    pub mac_address: String,
    pub private_ip_address: String,
    /// Every private address, the primary first.
    pub private_ip_addresses: Vec<String>,
    pub source_dest_check: bool,
    pub groups: Vec<SecurityGroupRef>,
    pub interface_type: String,
    pub attachment_id: String,
    pub device_index: i32,
    pub attach_time: DateTime<Utc>,
    pub delete_on_termination: bool,
    /// The subnet's prefix length and gateway, for the host's bridge.
    pub prefix_len: u8,
    pub gateway: String,
    /// The elastic IPs of its private addresses.
    pub public_addresses: Vec<PublicAddress>,
    /// The VPC's resolver (its base + 2); null while the VPC's DNS support is off.
    pub dns_server: Option<String>,
    /// The private DNS domain, the instance's search domain (e.g. `ec2.internal`).
    pub dns_domain: String,
}

impl InstanceInterface {
    /// The elastic IP of one of its private addresses, if any.
    pub fn public_address(&self, private_ip: &str) -> Option<&PublicAddress> {
        self.public_addresses
            .iter()
            .find(|a| a.private_ip_address == private_ip)
    }
}

/// A change to an instance's primary interface (ModifyInstanceAttribute's `GroupId.N`
/// and `SourceDestCheck`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrimaryInterfaceChange {
    Groups(Vec<String>),
    SourceDestCheck(bool),
}

/// The network service, as compute uses it. The transactions are compute's: a launch's
/// interfaces commit (or not) with its instances, an instance's end with the release of
/// its addresses.
#[async_trait::async_trait]
pub trait InstanceNetworking: Send + Sync {
    /// Check a launch's network for the caller (subnet, groups, address) before any host
    /// is claimed; the zone the subnet fixes, if one was given.
    async fn plan(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        caller: &Principal,
        request: &NetworkRequest,
        zone: Option<&str>,
        count: usize,
    ) -> Result<Option<String>>;

    /// Make one instance's primary interface (device index 0) in `zone`.
    async fn create_primary(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        caller: &Principal,
        request: &NetworkRequest,
        instance_id: &str,
        zone: &str,
    ) -> Result<InstanceInterface>;

    /// The instance ended: delete its delete-on-termination interfaces (their addresses
    /// are free again) and detach the others. Idempotent.
    async fn release(&self, tx: &mut Transaction<'_, Postgres>, instance_id: &str) -> Result<()>;

    /// The instance is to run (`true`, a start) or not (`false`, a stop or termination
    /// asked): its launch-time public address is given (again) or goes back to the pool.
    /// Idempotent; in the state change's transaction.
    async fn set_running(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        instance_id: &str,
        running: bool,
    ) -> Result<()>;

    /// Change the caller's instance's primary interface.
    async fn modify_primary(
        &self,
        caller: &Principal,
        instance_id: &str,
        change: &PrimaryInterfaceChange,
    ) -> Result<()>;

    /// The interfaces of some of the account's instances, each instance's in device order.
    async fn interfaces(
        &self,
        account_id: &str,
        instance_ids: &[String],
    ) -> Result<BTreeMap<String, Vec<InstanceInterface>>>;
}

/// What the agent plugs an instance into: its VPC's bridge (one per VPC per host, the
/// same name on every host) and its primary interface's address.
pub fn attachment(primary: &InstanceInterface) -> Result<NetworkAttachment> {
    let bad = |what: &str| {
        ComputeError::Internal(format!(
            "interface {} has a bad {what}",
            primary.network_interface_id
        ))
    };
    Ok(NetworkAttachment {
        network_interface_id: primary.network_interface_id.clone(),
        vpc_id: primary.vpc_id.clone(),
        subnet_id: primary.subnet_id.clone(),
        bridge: VpcLinkNames::for_vpc(&primary.vpc_id).bridge,
        ip: primary
            .private_ip_address
            .parse()
            .map_err(|_| bad("address"))?,
        prefix_len: primary.prefix_len,
        gateway: primary.gateway.parse().map_err(|_| bad("gateway"))?,
        mac: primary.mac_address.clone(),
        dns_server: primary
            .dns_server
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|_| bad("resolver"))?,
        dns_domain: primary.dns_domain.clone(),
    })
}

/// An account's subnet from before VPCs (`compute.subnets`), to be adopted as the first
/// default subnet of its default VPC.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PreVpcSubnet {
    pub account_id: String,
    pub subnet_id: String,
}

/// An instance launched before VPCs: its address and MAC, to be held by a primary interface.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PreVpcInstance {
    pub instance_id: String,
    pub account_id: String,
    pub subnet_id: String,
    pub private_ip: String,
    pub mac: String,
    pub launch_time: DateTime<Utc>,
}

impl PreVpcInstance {
    pub fn ip(&self) -> Result<Ipv4Addr> {
        self.private_ip.parse().map_err(|_| {
            ComputeError::Internal(format!("instance {} has a bad address", self.instance_id))
        })
    }
}

/// Every pre-VPC subnet (the composition root adopts them at start; idempotent).
pub async fn pre_vpc_subnets(pool: &PgPool) -> Result<Vec<PreVpcSubnet>> {
    Ok(sqlx::query_as::<_, PreVpcSubnet>(
        "SELECT account_id, subnet_id FROM compute.subnets ORDER BY account_id",
    )
    .fetch_all(pool)
    .await?)
}

/// The live instances of pre-VPC subnets, with their addresses.
pub async fn pre_vpc_instances(pool: &PgPool) -> Result<Vec<PreVpcInstance>> {
    Ok(sqlx::query_as::<_, PreVpcInstance>(
        "SELECT i.instance_id, i.account_id, i.subnet_id, host(i.private_ip) AS private_ip, i.mac, i.launch_time
         FROM compute.instances i JOIN compute.subnets s ON s.subnet_id = i.subnet_id
         WHERE i.state <> 'terminated' AND i.private_ip IS NOT NULL
         ORDER BY i.instance_id",
    )
    .fetch_all(pool)
    .await?)
}
