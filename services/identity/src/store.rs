//! The auth layer's credential store, backed by the catalog, with a cache in front so that
//! authenticating a request (SigV4 or Bearer) does not read Postgres every time.
//!
//! What is cached: access keys (secret unsealed), users (role, enabled, token generation,
//! revoked token ids) and JWT verification keys. Only things that exist are cached; an
//! unknown key or user is looked up every time.
//!
//! Invalidation, so that a revocation takes effect at once:
//! - **in this process**, every identity write bumps a process-wide counter after it
//!   commits ([`changed`]); every cache compares it with the one its entries were loaded
//!   under, so the next request after the write's response reads the catalog again;
//! - **across processes** (`kumo-identity`, `kumo-compute`, … sharing one catalog),
//!   triggers on the identity tables `NOTIFY kumo_identity` at commit; each cache LISTENs
//!   and drops everything it holds when a notification arrives (milliseconds). While the
//!   listening connection is down nothing is cached at all, and notifications that may have
//!   been missed while it reconnected drop everything too;
//! - and as a last resort every entry lives at most [`CACHE_TTL`] (1 s), which bounds how
//!   long a change can go unseen even if notifications stall silently.
//!
//! A load that raced with an invalidation (read the catalog before the change committed,
//! finished after the invalidation) is not stored: entries carry the invalidation epoch
//! they were read under.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use kumo_auth::{AccessKeySecret, CredentialStore, JwtKey, StoreError, UserStatus};
use kumo_common::service::BackgroundTask;
use sqlx::postgres::PgListener;
use sqlx::PgPool;

use crate::access_keys::{self, KeyEntry};
use crate::crypto::MasterKey;
use crate::{signing_keys, users};

/// The channel the identity tables' triggers notify.
pub const CHANNEL: &str = "kumo_identity";

/// The name of the listener's task: it serves the auth layer of whichever process holds
/// the store, whatever services that process runs.
pub const LISTENER_TASK: &str = "auth.credential-cache";

/// The longest a cached credential is trusted without being read again.
pub const CACHE_TTL: Duration = Duration::from_secs(1);

/// Identity writes committed by this process; see [`changed`].
static LOCAL_WRITES: AtomicU64 = AtomicU64::new(0);

/// Tell every credential cache in this process that identity data changed (call after the
/// write committed): their next lookups read the catalog.
pub fn changed() {
    LOCAL_WRITES.fetch_add(1, Ordering::SeqCst);
}

struct Cached<T> {
    value: T,
    epoch: u64,
    loaded: Instant,
}

struct Shared {
    /// Bumped by every notification (and by the listener losing or regaining its
    /// connection); together with [`LOCAL_WRITES`] it dates every entry.
    notified: AtomicU64,
    /// True while the listener is listening; without it nothing is cached.
    listening: AtomicBool,
    keys: RwLock<HashMap<String, Cached<KeyEntry>>>,
    users: RwLock<HashMap<String, Cached<UserStatus>>>,
    jwt_keys: RwLock<HashMap<String, Cached<JwtKey>>>,
    /// The listener, until the composition root takes it to list it with its loops.
    listener: Mutex<Option<BackgroundTask>>,
}

impl Shared {
    fn epoch(&self) -> u64 {
        self.notified
            .load(Ordering::SeqCst)
            .wrapping_add(LOCAL_WRITES.load(Ordering::SeqCst))
    }

    fn invalidate(&self) {
        self.notified.fetch_add(1, Ordering::SeqCst);
        clear(&self.keys);
        clear(&self.users);
        clear(&self.jwt_keys);
    }

    fn get<K, T>(&self, map: &RwLock<HashMap<K, Cached<T>>>, key: &str) -> Option<T>
    where
        K: Eq + Hash + std::borrow::Borrow<str>,
        T: Clone,
    {
        if !self.listening.load(Ordering::SeqCst) {
            return None;
        }
        let epoch = self.epoch();
        let map = map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(key)
            .filter(|c| c.epoch == epoch && c.loaded.elapsed() < CACHE_TTL)
            .map(|c| c.value.clone())
    }

    /// Keep `value`, read from the catalog after `epoch` was taken, unless something was
    /// invalidated meanwhile.
    fn put<T>(&self, map: &RwLock<HashMap<String, Cached<T>>>, key: &str, value: T, epoch: u64) {
        if !self.listening.load(Ordering::SeqCst) || self.epoch() != epoch {
            return;
        }
        let mut map = map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Entries of older epochs are dead weight; drop them when the map grows.
        if map.len() >= 4096 {
            map.retain(|_, c| c.epoch == epoch);
        }
        map.insert(
            key.to_string(),
            Cached {
                value,
                epoch,
                loaded: Instant::now(),
            },
        );
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn clear<T>(map: &RwLock<HashMap<String, T>>) {
    map.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clear();
}

/// The catalog-backed [`CredentialStore`], one per [`crate::Identity`] (clones share it).
#[derive(Clone)]
pub struct CatalogCredentials {
    pool: PgPool,
    master_key: MasterKey,
    token_ttl: Duration,
    shared: Arc<Shared>,
}

impl CatalogCredentials {
    /// A store with an empty cache. Inside a Tokio runtime it starts listening for
    /// invalidations at once; outside one (or until the listener is up) it caches nothing.
    pub fn new(pool: PgPool, master_key: MasterKey, token_ttl: Duration) -> Self {
        let shared = Arc::new(Shared {
            notified: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            keys: RwLock::default(),
            users: RwLock::default(),
            jwt_keys: RwLock::default(),
            listener: Mutex::default(),
        });
        if tokio::runtime::Handle::try_current().is_ok() {
            let task =
                BackgroundTask::spawn(LISTENER_TASK, listen(pool.clone(), Arc::downgrade(&shared)));
            *lock(&shared.listener) = Some(task);
        }
        Self {
            pool,
            master_key,
            token_ttl,
            shared,
        }
    }

    /// The listener's task, once (`None` outside a Tokio runtime or when taken already).
    pub fn take_listener(&self) -> Option<BackgroundTask> {
        lock(&self.shared.listener).take()
    }

    /// Is the cache in use (the listener is listening)?
    pub fn is_caching(&self) -> bool {
        self.shared.listening.load(Ordering::SeqCst)
    }

    /// How many invalidations this cache has seen from notifications and its listener
    /// (not counting this process's own writes): tests wait on it.
    pub fn notifications(&self) -> u64 {
        self.shared.notified.load(Ordering::SeqCst)
    }

    /// Drop everything cached (what a notification does).
    pub fn invalidate(&self) {
        self.shared.invalidate();
    }

    async fn user_status(&self, user_id: &str) -> Result<Option<UserStatus>, StoreError> {
        if let Some(user) = self.shared.get(&self.shared.users, user_id) {
            return Ok(Some(user));
        }
        let epoch = self.shared.epoch();
        let user = users::status(&self.pool, user_id)
            .await
            .map_err(|e| StoreError(e.to_string()))?;
        if let Some(user) = &user {
            self.shared
                .put(&self.shared.users, user_id, user.clone(), epoch);
        }
        Ok(user)
    }

    async fn key_entry(&self, access_key_id: &str) -> Result<Option<KeyEntry>, StoreError> {
        if let Some(key) = self.shared.get(&self.shared.keys, access_key_id) {
            return Ok(Some(key));
        }
        let epoch = self.shared.epoch();
        let key = access_keys::fetch_entry(&self.pool, &self.master_key, access_key_id)
            .await
            .map_err(|e| StoreError(e.to_string()))?;
        if let Some(key) = &key {
            self.shared
                .put(&self.shared.keys, access_key_id, key.clone(), epoch);
        }
        Ok(key)
    }
}

#[async_trait]
impl CredentialStore for CatalogCredentials {
    async fn access_key(&self, access_key_id: &str) -> Result<Option<AccessKeySecret>, StoreError> {
        let Some(key) = self.key_entry(access_key_id).await? else {
            return Ok(None);
        };
        if !key.active || key.expires_at.is_some_and(|at| at <= chrono::Utc::now()) {
            return Ok(None);
        }
        let Some(user) = self.user_status(&key.user_id).await? else {
            return Ok(None);
        };
        if !user.enabled || user.account_id != key.account_id {
            return Ok(None);
        }
        Ok(Some(AccessKeySecret {
            access_key_id: key.access_key_id,
            secret_access_key: key.secret_access_key,
            account_id: user.account_id,
            user_id: user.user_id,
            user_name: user.user_name,
            role: user.role,
        }))
    }

    async fn user(&self, user_id: &str) -> Result<Option<UserStatus>, StoreError> {
        self.user_status(user_id).await
    }

    async fn jwt_key(&self, kid: &str) -> Result<Option<JwtKey>, StoreError> {
        if let Some(key) = self.shared.get(&self.shared.jwt_keys, kid) {
            return Ok(Some(key));
        }
        let epoch = self.shared.epoch();
        let key = signing_keys::verification_key(&self.pool, &self.master_key, kid, self.token_ttl)
            .await
            .map_err(|e| StoreError(e.to_string()))?;
        if let Some(key) = &key {
            self.shared
                .put(&self.shared.jwt_keys, kid, key.clone(), epoch);
        }
        Ok(key)
    }
}

/// Listen for invalidations until the store is dropped or the pool closes; reconnect with
/// back-off when the connection fails.
async fn listen(pool: PgPool, shared: Weak<Shared>) {
    let mut backoff = Duration::from_millis(100);
    // Warn once per outage; the catalog's own probe already reports the loss.
    let mut warned = false;
    loop {
        if pool.is_closed() {
            return;
        }
        match listener(&pool).await {
            Ok(mut listener) => {
                if warned {
                    tracing::info!("credential cache listening for changes again");
                    warned = false;
                }
                {
                    let Some(shared) = shared.upgrade() else {
                        return;
                    };
                    // Whatever was read before LISTEN took effect may be stale.
                    shared.invalidate();
                    shared.listening.store(true, Ordering::SeqCst);
                }
                backoff = Duration::from_millis(100);
                loop {
                    let received = listener.try_recv().await;
                    let Some(shared) = shared.upgrade() else {
                        return;
                    };
                    match received {
                        Ok(Some(notification)) => {
                            tracing::trace!(payload = notification.payload(), "identity changed");
                            shared.invalidate();
                        }
                        // The connection was lost and re-established: notifications in
                        // between are lost, so forget everything.
                        Ok(None) => {
                            tracing::info!("credential cache listener reconnected");
                            shared.invalidate();
                        }
                        Err(e) => {
                            shared.listening.store(false, Ordering::SeqCst);
                            shared.invalidate();
                            if !pool.is_closed() {
                                tracing::warn!(error = %e, "credential cache listener failed; not caching until it is back");
                                warned = true;
                            }
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                if pool.is_closed() {
                    return;
                }
                if !warned {
                    tracing::warn!(error = %e, "credential cache cannot listen for changes; not caching until it can");
                    warned = true;
                } else {
                    tracing::debug!(error = %e, "credential cache still cannot listen");
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn listener(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}
