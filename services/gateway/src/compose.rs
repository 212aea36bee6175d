//! The composition root: which services a process runs, how they are wired to each other,
//! and starting them. Each service starts itself (its routes and its own loops); this only
//! combines what they return and puts the edge (auth, request ids, limits) in front.

use kumo_auth::{AuthConfig, Principal};
use kumo_common::service::Started;
use kumo_compute::image_import::{BoxFuture, ObjectReader, ObjectStream, ReadError};
use kumo_compute::Compute;
use kumo_identity::Identity;
use std::collections::BTreeMap;

use kumo_block_storage::BlockStorage;
use kumo_common::ids::{NetworkInterfaceId, SecurityGroupId};
use kumo_compute::host_network::{HostNetworkPlanner, VpcSpec};
use kumo_compute::network::{
    InstanceInterface, InstanceNetworking, NetworkRequest, PrimaryInterfaceChange, PublicAddress,
    SecurityGroupRef,
};
use kumo_compute::ComputeError;
use kumo_network::network_interfaces::instances::{self as eni_instances, LaunchRequest};
use kumo_network::network_interfaces::{InterfaceChange, NetworkInterface};
use kumo_network::vpcs::resolver::{self, VpcResolver};
use kumo_network::{Network, NetworkError};
use kumo_object_storage::{ObjectStorage, StorageError};
use sqlx::{Postgres, Transaction};

mod chunks;
mod images;
pub mod overview;
mod volumes;

/// The services this gateway mounts.
#[derive(Clone)]
pub struct Services {
    pub identity: Identity,
    pub compute: Compute,
    pub object_storage: ObjectStorage,
    pub network: Network,
    pub block_storage: BlockStorage,
}

/// What one process serves: the whole gateway (`kumo up`, `kumo-gateway`), or one service
/// on its own (`kumo-identity`, `kumo-compute`, `kumo-object-storage`, `kumo-network`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mount {
    Gateway,
    IdentityOnly,
    ComputeOnly,
    ObjectStorageOnly,
    NetworkOnly,
}

impl Mount {
    pub fn serves_identity(self) -> bool {
        matches!(self, Mount::Gateway | Mount::IdentityOnly)
    }

    pub fn serves_compute(self) -> bool {
        matches!(self, Mount::Gateway | Mount::ComputeOnly)
    }

    pub fn serves_object_storage(self) -> bool {
        matches!(self, Mount::Gateway | Mount::ObjectStorageOnly)
    }

    pub fn serves_network(self) -> bool {
        matches!(self, Mount::Gateway | Mount::NetworkOnly)
    }

    /// Block storage runs in the whole gateway only (no standalone binary yet).
    pub fn serves_block_storage(self) -> bool {
        matches!(self, Mount::Gateway)
    }
}

impl Services {
    /// The services wired to each other: compute reads RegisterImage's `bucket/key`
    /// objects through object storage, and answers the EC2 tag actions (one shared tag
    /// store) for the network service's resources too: it asks the network service which
    /// `vpc-…`, `sg-…` … ids exist in the caller's account. Instances get their interfaces,
    /// and hosts their VPCs' data plane, from the network service (in every process that
    /// serves compute: the network's tables are in the same catalog).
    pub(crate) fn wired(mut self) -> Self {
        self.compute = self
            .compute
            .with_object_reader(std::sync::Arc::new(StorageObjects(
                self.object_storage.clone(),
            )))
            .with_taggable(std::sync::Arc::new(
                kumo_network::tags::NetworkResources::new(self.network.pool.clone()),
            ))
            .with_taggable(std::sync::Arc::new(
                kumo_block_storage::tags::VolumeResources::new(self.block_storage.pool.clone()),
            ));
        self.compute = compute_with_network(self.compute, &self.network);
        // Instances' volumes: compute reads attachments, block storage reads instances.
        self.compute = self
            .compute
            .with_volumes(std::sync::Arc::new(volumes::AttachedVolumes(
                self.block_storage.clone(),
            )))
            .with_image_snapshots(std::sync::Arc::new(images::ImageVolumes(
                self.block_storage.clone(),
            )));
        self.block_storage =
            self.block_storage
                .with_instances(std::sync::Arc::new(volumes::ComputeInstances(
                    self.compute.clone(),
                )));
        // Snapshot chunks are kept in object storage.
        self.block_storage =
            self.block_storage
                .with_chunk_store(std::sync::Arc::new(chunks::ObjectChunks(
                    self.object_storage.clone(),
                )));
        self
    }

    /// The native routes of the services `mount` serves, without starting their loops.
    pub(crate) fn routes(&self, mount: Mount) -> axum::Router {
        let mut router = axum::Router::new();
        if mount.serves_identity() {
            router = router.merge(self.identity.router());
        }
        if mount.serves_compute() {
            router = router.merge(self.compute.router());
        }
        if mount.serves_object_storage() {
            router = router.merge(self.object_storage.router());
        }
        if mount.serves_network() {
            router = router.merge(self.network.router());
        }
        if mount.serves_block_storage() {
            router = router.merge(self.block_storage.router());
        }
        router
    }
}

/// `compute` giving instances their interfaces, and hosts their VPCs' data plane, from
/// `network` (also what benchmarks use to launch through the EC2 facade in process).
pub fn compute_with_network(compute: Compute, network: &Network) -> Compute {
    compute
        .with_networking(std::sync::Arc::new(NetworkInterfaces(network.clone())))
        .with_host_network_planner(std::sync::Arc::new(HostPlans(network.clone())))
}

/// Start the services `mount` serves and put the edge in front of their routes. The
/// result's router is the whole application; its tasks are the loops this process runs:
/// the auth layer's credential-cache listener (every process authenticates), then each
/// mounted service's own loops, and no one else's.
pub fn start(services: Services, mount: Mount, auth_config: AuthConfig) -> Started {
    start_with_console(
        services,
        mount,
        auth_config,
        crate::ConsoleConfig::from_env(),
    )
}

/// [`start`], serving the web console from `console` (when `mount` is the whole gateway).
pub fn start_with_console(
    services: Services,
    mount: Mount,
    auth_config: AuthConfig,
    console: crate::ConsoleConfig,
) -> Started {
    let services = services.wired();
    let mut started = Started {
        router: axum::Router::new(),
        tasks: services
            .identity
            .credentials
            .take_listener()
            .into_iter()
            .collect(),
    };
    if mount.serves_identity() {
        started = started.merge(services.identity.start());
    }
    if mount.serves_compute() {
        started = started.merge(services.compute.start());
    }
    if mount.serves_object_storage() {
        started = started.merge(services.object_storage.start());
    }
    if mount.serves_network() {
        started = started.merge(services.network.start());
    }
    if mount.serves_block_storage() {
        started = started.merge(services.block_storage.start());
    }
    Started {
        router: crate::build(services, started.router, auth_config, mount, console),
        tasks: started.tasks,
    }
}

/// The compute service reads RegisterImage's `bucket/key` objects through object storage's
/// own read path and permission check.
struct StorageObjects(ObjectStorage);

impl ObjectReader for StorageObjects {
    fn open<'a>(
        &'a self,
        caller: &'a Principal,
        bucket: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<(u64, ObjectStream), ReadError>> {
        Box::pin(async move {
            match kumo_object_storage::objects::read_latest(&self.0, caller, bucket, key).await {
                Ok((version, stream)) => {
                    let stream = futures::StreamExt::map(stream, |r| r.map_err(|e| e.to_string()));
                    Ok((version.size.max(0) as u64, Box::pin(stream) as _))
                }
                Err(StorageError::NoSuchBucket(_) | StorageError::NoSuchKey(_)) => {
                    Err(ReadError::NotFound)
                }
                Err(StorageError::AccessDenied) => Err(ReadError::AccessDenied),
                Err(StorageError::S3(status, _, message)) if status.is_client_error() => {
                    Err(ReadError::Invalid(message))
                }
                Err(other) => Err(ReadError::Unavailable(other.to_string())),
            }
        })
    }
}

/// Instances get their network interfaces from the network service, in compute's own
/// transactions.
struct NetworkInterfaces(Network);

/// The network service's refusals, as compute answers them (same codes and messages).
fn network_error(e: NetworkError) -> ComputeError {
    match e {
        NetworkError::Invalid(code, m) | NetworkError::LimitExceeded(code, m) => {
            ComputeError::Invalid(code, m)
        }
        NetworkError::Missing(name) => ComputeError::Missing(name),
        NetworkError::NotFound(code, m) => ComputeError::NotFound(code, m),
        NetworkError::Conflict(code, m) => ComputeError::Conflict(code, m),
        NetworkError::DependencyViolation(m) => ComputeError::Conflict("DependencyViolation", m),
        NetworkError::Forbidden(m) => ComputeError::Forbidden(m),
        NetworkError::Unauthenticated => ComputeError::Unauthenticated,
        NetworkError::Throttled(m) => ComputeError::Throttled(m),
        NetworkError::Database(e) => ComputeError::Database(e),
        NetworkError::Internal(m) => ComputeError::Internal(m),
    }
}

fn launch_request(request: &NetworkRequest) -> LaunchRequest {
    LaunchRequest {
        subnet_id: request.subnet_id.clone(),
        group_ids: request.security_group_ids.clone(),
        group_names: request.security_groups.clone(),
        private_ip: request.private_ip_address.clone(),
        secondary_count: request.secondary_private_ip_address_count,
        description: request.description.clone(),
        delete_on_termination: request.delete_on_termination,
        associate_public_ip: request.associate_public_ip_address,
    }
}

/// An instance's view of one of its interfaces (`region` names its public DNS names,
/// `resolver` is its VPC's).
fn instance_interface(
    eni: NetworkInterface,
    region: &str,
    resolver: Option<&VpcResolver>,
) -> Result<InstanceInterface, ComputeError> {
    let (_, prefix_len) = eni.network().map_err(network_error)?;
    let gateway = eni.gateway().map_err(network_error)?.to_string();
    let attachment = eni.attachment.ok_or_else(|| {
        ComputeError::Internal(format!(
            "interface {} is not attached",
            eni.network_interface_id
        ))
    })?;
    Ok(InstanceInterface {
        network_interface_id: eni.network_interface_id,
        subnet_id: eni.subnet_id,
        vpc_id: eni.vpc_id,
        owner_id: eni.owner_id,
        description: eni.description,
        mac_address: eni.mac_address,
        private_ip_address: eni.private_ip_address,
        private_ip_addresses: eni
            .private_ip_addresses
            .into_iter()
            .map(|a| a.private_ip_address)
            .collect(),
        source_dest_check: eni.source_dest_check,
        groups: eni
            .groups
            .into_iter()
            .map(|g| SecurityGroupRef {
                group_id: g.group_id,
                group_name: g.group_name,
            })
            .collect(),
        interface_type: eni.interface_type,
        attachment_id: attachment.attachment_id,
        device_index: attachment.device_index,
        attach_time: attachment.attach_time,
        delete_on_termination: attachment.delete_on_termination,
        prefix_len,
        gateway,
        public_addresses: eni
            .associations
            .iter()
            .map(|a| PublicAddress {
                private_ip_address: a.private_ip_address.clone(),
                public_ip: a.public_ip.clone(),
                public_dns_name: a.public_dns_name(region),
                ip_owner_id: a.ip_owner_id.clone(),
            })
            .collect(),
        dns_server: resolver.and_then(|r| r.address).map(|a| a.to_string()),
        dns_domain: resolver.map(|r| r.domain.clone()).unwrap_or_default(),
    })
}

impl NetworkInterfaces {
    /// The resolvers of the VPCs some interfaces are in.
    async fn resolvers<'a>(
        &self,
        enis: impl Iterator<Item = &'a NetworkInterface>,
    ) -> Result<BTreeMap<String, VpcResolver>, ComputeError> {
        let mut vpc_ids: Vec<String> = enis.map(|eni| eni.vpc_id.clone()).collect();
        vpc_ids.sort();
        vpc_ids.dedup();
        resolver::of_vpcs(&self.0, &vpc_ids)
            .await
            .map_err(network_error)
    }
}

#[async_trait::async_trait]
impl InstanceNetworking for NetworkInterfaces {
    async fn plan(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        caller: &Principal,
        request: &NetworkRequest,
        zone: Option<&str>,
        count: usize,
    ) -> Result<Option<String>, ComputeError> {
        // The account's default VPC exists before its first launch (its own transaction:
        // it outlives any one launch).
        kumo_network::vpcs::ensure_default(&self.0, &caller.account_id)
            .await
            .map_err(network_error)?;
        eni_instances::plan_launch(tx, caller, &launch_request(request), zone, count)
            .await
            .map_err(network_error)
    }

    async fn create_primary(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        caller: &Principal,
        request: &NetworkRequest,
        instance_id: &str,
        zone: &str,
    ) -> Result<InstanceInterface, ComputeError> {
        let eni = eni_instances::launch_primary(
            &self.0,
            tx,
            caller,
            &launch_request(request),
            instance_id,
            zone,
        )
        .await
        .map_err(network_error)?;
        let resolvers = self.resolvers(std::iter::once(&eni)).await?;
        let resolver = resolvers.get(&eni.vpc_id);
        instance_interface(eni, &self.0.config.region, resolver)
    }

    async fn release(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        instance_id: &str,
    ) -> Result<(), ComputeError> {
        eni_instances::release_instance(tx, instance_id)
            .await
            .map_err(network_error)
    }

    async fn set_running(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        instance_id: &str,
        running: bool,
    ) -> Result<(), ComputeError> {
        kumo_network::addresses::launch::set_instance_running(tx, instance_id, running)
            .await
            .map_err(network_error)
    }

    async fn modify_primary(
        &self,
        caller: &Principal,
        instance_id: &str,
        change: &PrimaryInterfaceChange,
    ) -> Result<(), ComputeError> {
        let ids = [instance_id.to_string()];
        let found = eni_instances::of_instances(&self.0, &caller.account_id, &ids)
            .await
            .map_err(network_error)?;
        let primary = found
            .get(instance_id)
            .and_then(|list| list.first())
            .filter(|eni| eni.attachment.as_ref().is_some_and(|a| a.device_index == 0))
            .ok_or_else(|| {
                ComputeError::IncorrectState(format!(
                    "The instance '{instance_id}' has no network interface."
                ))
            })?;
        let change = match change {
            PrimaryInterfaceChange::Groups(ids) => InterfaceChange::Groups(
                ids.iter()
                    .map(|id| SecurityGroupId::parse(id))
                    .collect::<Result<_, _>>()
                    .map_err(|e| ComputeError::Invalid(e.code, e.to_string()))?,
            ),
            PrimaryInterfaceChange::SourceDestCheck(check) => {
                InterfaceChange::SourceDestCheck(*check)
            }
        };
        let id = NetworkInterfaceId::parse(&primary.network_interface_id)
            .map_err(|e| ComputeError::Internal(e.to_string()))?;
        kumo_network::network_interfaces::modify(&self.0, caller, &id, &change)
            .await
            .map_err(network_error)
    }

    async fn interfaces(
        &self,
        account_id: &str,
        instance_ids: &[String],
    ) -> Result<BTreeMap<String, Vec<InstanceInterface>>, ComputeError> {
        let found = eni_instances::of_instances(&self.0, account_id, instance_ids)
            .await
            .map_err(network_error)?;
        let resolvers = self.resolvers(found.values().flatten()).await?;
        found
            .into_iter()
            .map(|(instance, list)| {
                let list = list
                    .into_iter()
                    .map(|eni| {
                        let resolver = resolvers.get(&eni.vpc_id);
                        instance_interface(eni, &self.0.config.region, resolver)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((instance, list))
            })
            .collect()
    }
}

/// What each host must build for its VPCs is the network service's to say.
struct HostPlans(Network);

#[async_trait::async_trait]
impl HostNetworkPlanner for HostPlans {
    async fn vpcs(&self, host_id: &str) -> Result<Vec<VpcSpec>, ComputeError> {
        kumo_network::host_plans::for_host(&self.0, host_id)
            .await
            .map_err(network_error)
    }
}

/// Networks from before VPCs, adopted once (idempotent; run at start, before requests):
/// each account's compute subnet becomes the first default subnet of its default VPC,
/// with the same id and range, and each live instance gets a primary interface holding
/// the address and MAC it has.
pub async fn adopt_pre_vpc_networks(compute: &Compute, network: &Network) -> anyhow::Result<()> {
    // Every start runs this: ask first what is left, then touch only that.
    let subnets = kumo_compute::network::pre_vpc_subnets(&compute.pool).await?;
    let accounts: Vec<String> = subnets.iter().map(|s| s.account_id.clone()).collect();
    let without_vpc = kumo_network::vpcs::without_default(&network.pool, &accounts).await?;
    for subnet in subnets
        .iter()
        .filter(|s| without_vpc.contains(&s.account_id))
    {
        kumo_network::vpcs::ensure_default_with_subnet(
            network,
            &subnet.account_id,
            Some(&subnet.subnet_id),
        )
        .await?;
    }
    let mut adopted = 0;
    let instances = kumo_compute::network::pre_vpc_instances(&compute.pool).await?;
    let ids: Vec<String> = instances.iter().map(|i| i.instance_id.clone()).collect();
    let without_interface = eni_instances::without_primary(&network.pool, &ids).await?;
    for instance in instances
        .iter()
        .filter(|i| without_interface.contains(&i.instance_id))
    {
        let mut tx = network.pool.begin().await?;
        let result = eni_instances::adopt_primary(
            &mut tx,
            &instance.account_id,
            &instance.subnet_id,
            &instance.instance_id,
            instance.ip()?,
            &instance.mac,
            instance.launch_time,
        )
        .await;
        match result {
            Ok(made) => {
                tx.commit().await?;
                adopted += usize::from(made);
            }
            // One instance that cannot be adopted (its subnet was never made) must not
            // stop the others or the start.
            Err(error) => {
                tracing::warn!(instance_id = %instance.instance_id, %error, "instance from before VPCs not adopted")
            }
        }
    }
    if adopted > 0 {
        tracing::info!(
            adopted,
            "instances from before VPCs got their primary network interfaces"
        );
    }
    Ok(())
}
