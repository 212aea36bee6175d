//! The EC2-compatible instance metadata service at `169.254.169.254:80`.
//!
//! One listener per VPC bridge, bound (`SO_BINDTODEVICE`) to the device instances reach it
//! through: the `gw` link of the VPC's router namespace (see [`crate::vpc`]), or the bridge
//! itself in the current or a named namespace. A VPC only reaches its own listener. A
//! caller is identified by (bridge, source IPv4 address) and only ever sees its own
//! instance's data; an unknown caller gets 404.
//!
//! IMDSv1 (plain GETs) and IMDSv2 (`PUT /latest/api/token`, then GETs carrying
//! `X-aws-ec2-metadata-token`) are both served. Tokens are bound to the caller that
//! asked for them and live in memory until their TTL runs out. Requests carrying
//! `X-Forwarded-For` are refused with 403, as EC2 does for token requests, so that a
//! proxy on the instance cannot be turned into a way to reach the service.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use kumo_compute_protocol::InstanceMetadata;
use rand::RngCore;

use crate::error::{NodeError, Result};
use crate::network::{METADATA_ADDR, NETNS_DIR};

/// Header of an IMDSv2 token request: the token's lifetime.
pub const TOKEN_TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
/// Header carrying an IMDSv2 token.
pub const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
/// Longest token lifetime EC2 allows (6 hours).
pub const MAX_TOKEN_TTL_SECONDS: u64 = 21_600;

/// The metadata service. Cheap to clone: clones share everything.
#[derive(Clone, Default)]
pub struct MetadataService {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Named network namespace the listeners are opened in; `None`: the current one.
    netns: Option<String>,
    /// (bridge, instance IP) → what that instance may see.
    instances: Mutex<HashMap<(String, Ipv4Addr), InstanceMetadata>>,
    /// IMDSv2 token → whom it was given to and until when.
    tokens: Mutex<HashMap<String, Token>>,
    /// bridge → its listener.
    listeners: Mutex<HashMap<String, Listener>>,
    /// Held while a listener is being set up, so two callers never race to bind.
    setup: tokio::sync::Mutex<()>,
}

struct Listener {
    task: tokio::task::JoinHandle<()>,
    /// Where its socket is: (namespace, the namespace file's inode, device). A namespace
    /// made anew under the same name needs a new socket.
    place: (Option<String>, Option<u64>, String),
}

struct Token {
    bridge: String,
    ip: Ipv4Addr,
    expires: Instant,
}

/// Lock a mutex, carrying on with the data even if a thread panicked while holding it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl std::fmt::Debug for MetadataService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataService")
            .field("netns", &self.inner.netns)
            .field("instances", &lock(&self.inner.instances).len())
            .field("listeners", &lock(&self.inner.listeners).len())
            .finish()
    }
}

impl MetadataService {
    /// A service whose listeners open in the current network namespace.
    pub fn new() -> Self {
        Self::default()
    }

    /// A service whose listeners open in the named network namespace `name` (the one a
    /// [`crate::network::HostNetwork::in_netns`] works in).
    pub fn in_netns(name: &str) -> Self {
        Self {
            inner: Arc::new(Inner {
                netns: Some(name.to_string()),
                ..Inner::default()
            }),
        }
    }

    /// Record what the instance at `metadata.local_ipv4` on `bridge` may see (replacing
    /// what was there).
    pub fn register(&self, bridge: &str, metadata: InstanceMetadata) {
        let key = (bridge.to_string(), metadata.local_ipv4);
        lock(&self.inner.instances).insert(key, metadata);
    }

    /// Forget the instance at `ip` on `bridge`, and its tokens.
    pub fn unregister(&self, bridge: &str, ip: Ipv4Addr) {
        lock(&self.inner.instances).remove(&(bridge.to_string(), ip));
        lock(&self.inner.tokens).retain(|_, t| !(t.bridge == bridge && t.ip == ip));
    }

    /// Listen on `169.254.169.254:80` bound to `bridge` (which must exist and hold that
    /// address) in the service's namespace, unless a listener for it is already running.
    /// The listener runs as a task on the current Tokio runtime.
    pub async fn ensure_listener(&self, bridge: &str) -> Result<()> {
        let netns = self.inner.netns.clone();
        self.ensure_listener_at(bridge, netns.as_deref(), bridge)
            .await
    }

    /// The listener for the instances on `bridge`, opened in the named namespace `netns`
    /// (`None`: the current one) bound to `device` there, which must hold
    /// `169.254.169.254` (a VPC's router namespace and its `gw` link). A listener of
    /// `bridge` elsewhere (or in an earlier namespace of the same name) is replaced.
    pub async fn ensure_listener_at(
        &self,
        bridge: &str,
        netns: Option<&str>,
        device: &str,
    ) -> Result<()> {
        let _setup = self.inner.setup.lock().await;
        let inode = netns.and_then(netns_inode);
        let place = (netns.map(str::to_string), inode, device.to_string());
        let previous = {
            let mut listeners = lock(&self.inner.listeners);
            match listeners.get(bridge) {
                Some(l) if !l.task.is_finished() && l.place == place => return Ok(()),
                Some(_) => listeners.remove(bridge),
                None => None,
            }
        };
        if let Some(old) = previous {
            old.task.abort();
            let _ = old.task.await;
        }
        let std_listener = match netns {
            Some(ns) => bind_in_netns(ns, device).await?,
            None => bind_listener(device)?,
        };
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        let app = self
            .router_for(bridge)
            .into_make_service_with_connect_info::<SocketAddr>();
        let name = bridge.to_string();
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(bridge = %name, error = %e, "metadata listener stopped");
            }
        });
        lock(&self.inner.listeners).insert(bridge.to_string(), Listener { task, place });
        tracing::info!(
            bridge,
            ?netns,
            device,
            "metadata service listening on {METADATA_ADDR}:80"
        );
        Ok(())
    }

    /// The bridges that have a listener.
    pub fn listening_bridges(&self) -> Vec<String> {
        lock(&self.inner.listeners).keys().cloned().collect()
    }

    /// Stop the listener of `bridge` (when the bridge goes away); fine if there is none.
    /// Returns once its socket is closed.
    pub async fn remove_listener(&self, bridge: &str) {
        let listener = lock(&self.inner.listeners).remove(bridge);
        if let Some(listener) = listener {
            listener.task.abort();
            // Resolves once the task's future, and with it the listening socket, is dropped.
            let _ = listener.task.await;
        }
    }

    /// The service for one bridge. Serve it with
    /// `into_make_service_with_connect_info::<SocketAddr>()`: callers are told apart by
    /// their source address.
    pub fn router_for(&self, bridge: &str) -> Router {
        let ctx = Ctx {
            inner: self.inner.clone(),
            bridge: Arc::from(bridge),
        };
        Router::new().fallback(handle).with_state(ctx)
    }
}

/// The inode of a named namespace's file (tells a namespace made anew from the old one).
fn netns_inode(ns: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(Path::new(NETNS_DIR).join(ns))
        .ok()
        .map(|m| m.ino())
}

/// The listening socket bound to `bridge` (a device), in the current network namespace.
fn bind_listener(bridge: &str) -> Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    let err = |what: &str, e: std::io::Error| {
        NodeError::Other(format!("metadata listener on {bridge}: {what}: {e}"))
    };
    let sock = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))
        .map_err(|e| err("socket", e))?;
    sock.set_reuse_address(true)
        .map_err(|e| err("SO_REUSEADDR", e))?;
    sock.bind_device(Some(bridge.as_bytes()))
        .map_err(|e| err("SO_BINDTODEVICE", e))?;
    let addr = SockAddr::from(SocketAddr::from((METADATA_ADDR, 80)));
    sock.bind(&addr).map_err(|e| err("bind", e))?;
    sock.listen(1024).map_err(|e| err("listen", e))?;
    sock.set_nonblocking(true)
        .map_err(|e| err("O_NONBLOCK", e))?;
    Ok(sock.into())
}

/// The listening socket for one bridge, opened in the named network namespace `ns`: a
/// socket stays in the namespace it was created in, so a short-lived thread enters the
/// namespace, creates it and hands it back.
async fn bind_in_netns(ns: &str, bridge: &str) -> Result<std::net::TcpListener> {
    use std::os::fd::AsRawFd;
    let path = Path::new(NETNS_DIR).join(ns);
    let bridge = bridge.to_string();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let result = (|| {
            let file = std::fs::File::open(&path)?;
            // SAFETY: setns(2) with a valid, open namespace file descriptor; it changes
            // the network namespace of this (throw-away) thread only.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            if rc != 0 {
                return Err(NodeError::Io(std::io::Error::last_os_error()));
            }
            bind_listener(&bridge)
        })();
        let _ = tx.send(result);
    });
    rx.await
        .map_err(|_| NodeError::Other("metadata listener thread died".into()))?
}

#[derive(Clone)]
struct Ctx {
    inner: Arc<Inner>,
    bridge: Arc<str>,
}

fn text(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut resp = (status, body.into()).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    resp
}

fn not_found() -> Response {
    text(StatusCode::NOT_FOUND, "Not Found\n")
}

async fn handle(
    State(ctx): State<Ctx>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if headers.contains_key("x-forwarded-for") {
        return text(StatusCode::FORBIDDEN, "Forbidden\n");
    }
    let ip = match peer {
        SocketAddr::V4(a) => *a.ip(),
        SocketAddr::V6(a) => match a.ip().to_ipv4_mapped() {
            Some(ip) => ip,
            None => return not_found(),
        },
    };
    let key = (ctx.bridge.to_string(), ip);
    let Some(md) = lock(&ctx.inner.instances).get(&key).cloned() else {
        return not_found();
    };
    let path = uri.path();

    if path == "/latest/api/token" {
        if method != Method::PUT {
            return text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
        }
        return issue_token(&ctx, ip, &headers);
    }
    if method != Method::GET && method != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
    }

    // IMDSv2: a token, when present, must be valid and the caller's own.
    let mut token_ttl = None;
    if let Some(value) = headers.get(TOKEN_HEADER) {
        let now = Instant::now();
        let valid = value.to_str().ok().and_then(|t| {
            lock(&ctx.inner.tokens).get(t).and_then(|tok| {
                (tok.bridge == *ctx.bridge && tok.ip == ip && tok.expires > now)
                    .then(|| tok.expires.saturating_duration_since(now).as_secs())
            })
        });
        match valid {
            Some(left) => token_ttl = Some(left),
            None => return text(StatusCode::UNAUTHORIZED, "Unauthorized\n"),
        }
    }

    let mut resp = serve_path(&md, path);
    if let Some(left) = token_ttl {
        if let Ok(v) = HeaderValue::from_str(&left.to_string()) {
            resp.headers_mut().insert(TOKEN_TTL_HEADER, v);
        }
    }
    resp
}

fn issue_token(ctx: &Ctx, ip: Ipv4Addr, headers: &HeaderMap) -> Response {
    let ttl = headers
        .get(TOKEN_TTL_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|t| (1..=MAX_TOKEN_TTL_SECONDS).contains(t));
    let Some(ttl) = ttl else {
        return text(StatusCode::BAD_REQUEST, "Bad Request\n");
    };
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let now = Instant::now();
    {
        let mut tokens = lock(&ctx.inner.tokens);
        tokens.retain(|_, t| t.expires > now);
        tokens.insert(
            token.clone(),
            Token {
                bridge: ctx.bridge.to_string(),
                ip,
                expires: now + Duration::from_secs(ttl),
            },
        );
    }
    let mut resp = text(StatusCode::OK, token);
    if let Ok(v) = HeaderValue::from_str(&ttl.to_string()) {
        resp.headers_mut().insert(TOKEN_TTL_HEADER, v);
    }
    resp
}

const META_DATA_LISTING: &[&str] = &[
    "ami-id",
    "hostname",
    "instance-id",
    "instance-type",
    "local-hostname",
    "local-ipv4",
    "mac",
    "placement/",
];

/// The answer to a GET of `path` for instance `md`.
fn serve_path(md: &InstanceMetadata, path: &str) -> Response {
    let p = path.trim_end_matches('/');
    let ok = |body: String| text(StatusCode::OK, body);
    match p {
        "" => ok("latest".into()),
        "/latest" => ok("dynamic\nmeta-data\nuser-data".into()),
        "/latest/meta-data" => {
            let mut items: Vec<&str> = META_DATA_LISTING.to_vec();
            if !md.public_keys.is_empty() {
                items.push("public-keys/");
            }
            items.push("reservation-id");
            ok(items.join("\n"))
        }
        "/latest/meta-data/ami-id" => ok(md.ami_id.clone()),
        "/latest/meta-data/instance-id" => ok(md.instance_id.clone()),
        "/latest/meta-data/instance-type" => ok(md.instance_type.clone()),
        "/latest/meta-data/reservation-id" => ok(md.reservation_id.clone()),
        "/latest/meta-data/local-ipv4" => ok(md.local_ipv4.to_string()),
        "/latest/meta-data/mac" => ok(md.mac.clone()),
        "/latest/meta-data/hostname" | "/latest/meta-data/local-hostname" => {
            ok(md.hostname.clone())
        }
        "/latest/meta-data/placement" => ok("availability-zone\nregion".into()),
        "/latest/meta-data/placement/availability-zone" => ok(md.availability_zone.clone()),
        "/latest/meta-data/placement/region" => ok(md.region.clone()),
        "/latest/meta-data/public-keys" if !md.public_keys.is_empty() => ok(md
            .public_keys
            .iter()
            .enumerate()
            .map(|(i, (name, _))| format!("{i}={name}"))
            .collect::<Vec<_>>()
            .join("\n")),
        "/latest/user-data" => match &md.user_data {
            Some(data) => {
                let mut resp = (StatusCode::OK, Body::from(data.clone())).into_response();
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                );
                resp
            }
            None => not_found(),
        },
        "/latest/dynamic" => ok("instance-identity/".into()),
        "/latest/dynamic/instance-identity" => ok("document".into()),
        "/latest/dynamic/instance-identity/document" => {
            let doc = serde_json::json!({
                "accountId": md.account_id,
                "architecture": "x86_64",
                "availabilityZone": md.availability_zone,
                "imageId": md.ami_id,
                "instanceId": md.instance_id,
                "instanceType": md.instance_type,
                "privateIp": md.local_ipv4.to_string(),
                "region": md.region,
                "version": "2017-09-30",
            });
            match serde_json::to_string_pretty(&doc) {
                Ok(body) => ok(body),
                Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "Internal Error\n"),
            }
        }
        _ => match p.strip_prefix("/latest/meta-data/public-keys/") {
            Some(rest) => serve_public_key(md, rest),
            None => not_found(),
        },
    }
}

/// `public-keys/<n>` (listing) and `public-keys/<n>/openssh-key`.
fn serve_public_key(md: &InstanceMetadata, rest: &str) -> Response {
    let (index, leaf) = match rest.split_once('/') {
        Some((i, leaf)) => (i, Some(leaf)),
        None => (rest, None),
    };
    let Some((_, key)) = index
        .parse::<usize>()
        .ok()
        .and_then(|i| md.public_keys.get(i))
    else {
        return not_found();
    };
    match leaf {
        None => text(StatusCode::OK, "openssh-key"),
        Some("openssh-key") => text(StatusCode::OK, key.clone()),
        Some(_) => not_found(),
    }
}
