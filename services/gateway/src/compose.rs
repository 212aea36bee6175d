//! The composition root: which services a process runs, how they are wired to each other,
//! and starting them. Each service starts itself (its routes and its own loops); this only
//! combines what they return and puts the edge (auth, request ids, limits) in front.

use kumo_auth::{AuthConfig, Principal};
use kumo_common::service::Started;
use kumo_compute::image_import::{BoxFuture, ObjectReader, ObjectStream, ReadError};
use kumo_compute::Compute;
use kumo_identity::Identity;
use kumo_network::Network;
use kumo_object_storage::{ObjectStorage, StorageError};

/// The services this gateway mounts.
#[derive(Clone)]
pub struct Services {
    pub identity: Identity,
    pub compute: Compute,
    pub object_storage: ObjectStorage,
    pub network: Network,
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
}

impl Services {
    /// The services wired to each other: compute reads RegisterImage's `bucket/key`
    /// objects through object storage, and answers the EC2 tag actions (one shared tag
    /// store) for the network service's resources too: it asks the network service which
    /// `vpc-…`, `sg-…` … ids exist in the caller's account.
    pub(crate) fn wired(mut self) -> Self {
        self.compute = self
            .compute
            .with_object_reader(std::sync::Arc::new(StorageObjects(
                self.object_storage.clone(),
            )))
            .with_taggable(std::sync::Arc::new(
                kumo_network::tags::NetworkResources::new(self.network.pool.clone()),
            ));
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
        router
    }
}

/// Start the services `mount` serves and put the edge in front of their routes. The
/// result's router is the whole application; its tasks are the loops this process runs:
/// the auth layer's credential-cache listener (every process authenticates), then each
/// mounted service's own loops, and no one else's.
pub fn start(services: Services, mount: Mount, auth_config: AuthConfig) -> Started {
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
    Started {
        router: crate::build(services, started.router, auth_config, mount),
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
