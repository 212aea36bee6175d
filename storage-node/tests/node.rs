//! A real storage node on 127.0.0.1:0, enrolled with a stand-in control plane (a tiny axum
//! router speaking the storage-agent protocol), driven over HTTP with reqwest.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use kumo_storage_node::{NodeConfig, RunningNode, StorageNode, StorageNodeError};
use kumo_storage_protocol::{
    ChunkError, ChunkList, EnrolRequest, EnrolResponse, HeartbeatRequest, HeartbeatResponse,
    NodeStatus, MAX_CHUNK_BYTES, NODE_TOKEN_HEADER,
};
use sha2::{Digest, Sha256};

const JOIN_TOKEN: &str = "join-secret";
const NODE_ID: &str = "sn-test";
const NODE_TOKEN: &str = "sn-test:s3cret";

/// What the stand-in control plane saw.
#[derive(Default)]
struct ControlPlane {
    enrolments: Mutex<Vec<EnrolRequest>>,
    heartbeats: Mutex<Vec<HeartbeatRequest>>,
    /// Answered in every heartbeat response.
    interval_seconds: AtomicU64,
}

impl ControlPlane {
    fn enrolments(&self) -> Vec<EnrolRequest> {
        self.enrolments.lock().unwrap().clone()
    }
    fn heartbeats(&self) -> Vec<HeartbeatRequest> {
        self.heartbeats.lock().unwrap().clone()
    }
}

async fn enrol(
    State(cp): State<Arc<ControlPlane>>,
    Json(request): Json<EnrolRequest>,
) -> Result<Json<EnrolResponse>, (StatusCode, String)> {
    if request.join_token != JOIN_TOKEN {
        return Err((StatusCode::FORBIDDEN, "bad join token".into()));
    }
    cp.enrolments.lock().unwrap().push(request);
    Ok(Json(EnrolResponse {
        node_id: NODE_ID.into(),
        node_token: NODE_TOKEN.into(),
    }))
}

async fn heartbeat(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Json(request): Json<HeartbeatRequest>,
) -> Result<Json<HeartbeatResponse>, StatusCode> {
    if headers.get(NODE_TOKEN_HEADER).map(|v| v.as_bytes()) != Some(NODE_TOKEN.as_bytes()) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    cp.heartbeats.lock().unwrap().push(request);
    Ok(Json(HeartbeatResponse {
        interval_seconds: cp.interval_seconds.load(Ordering::Relaxed),
    }))
}

/// Serve a stand-in control plane on `listener`; returns its base URL.
async fn serve_control_plane(listener: tokio::net::TcpListener) -> (String, Arc<ControlPlane>) {
    let cp = Arc::new(ControlPlane::default());
    let app = Router::new()
        .route("/v1/storage-agent/enrol", post(enrol))
        .route("/v1/storage-agent/heartbeat", post(heartbeat))
        .with_state(cp.clone());
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, cp)
}

async fn control_plane() -> (String, Arc<ControlPlane>) {
    serve_control_plane(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()).await
}

fn config(data_dir: &Path, control_plane: &str) -> NodeConfig {
    let mut config = NodeConfig::new(data_dir, control_plane);
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.join_token = Some(JOIN_TOKEN.into());
    config.name = "node-a".into();
    config.capacity_bytes = Some(1 << 30);
    config.heartbeat_interval = Duration::from_millis(50);
    config
}

/// Poll `condition` (generously bounded: a slow machine is not a failure).
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..3000 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for: {what}");
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A client of one node's chunk API.
struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    fn new(node: &RunningNode) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: node.address().to_string(),
            token: node.node_token().to_string(),
        }
    }
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
    async fn put(&self, hash: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.http
            .put(self.url(&format!("/v1/chunks/{hash}")))
            .header(NODE_TOKEN_HEADER, &self.token)
            .body(body)
            .send()
            .await
            .unwrap()
    }
    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .header(NODE_TOKEN_HEADER, &self.token)
            .send()
            .await
            .unwrap()
    }
    async fn delete(&self, hash: &str) -> reqwest::Response {
        self.http
            .delete(self.url(&format!("/v1/chunks/{hash}")))
            .header(NODE_TOKEN_HEADER, &self.token)
            .send()
            .await
            .unwrap()
    }
    async fn list(&self, query: &str) -> ChunkList {
        let response = self.get(&format!("/v1/chunks{query}")).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }
}

async fn error_code(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: ChunkError = response.json().await.unwrap();
    (status, body.code)
}

#[tokio::test]
async fn enrols_heartbeats_stops_and_restarts() {
    let (cp_url, cp) = control_plane().await;
    let dir = tempfile::tempdir().unwrap();
    let node = StorageNode::start(config(dir.path(), &cp_url))
        .await
        .unwrap();
    assert_eq!(node.node_id(), NODE_ID);
    assert_ne!(node.local_addr().port(), 0);
    assert_eq!(node.address(), format!("http://{}", node.local_addr()));

    // Enrolled once, with what we configured; the credential is private.
    let enrolments = cp.enrolments();
    assert_eq!(enrolments.len(), 1);
    assert_eq!(enrolments[0].name, "node-a");
    assert_eq!(enrolments[0].zone, "us-east-1a");
    assert_eq!(enrolments[0].address, node.address());
    assert_eq!(enrolments[0].capacity_bytes, 1 << 30);
    let credential = dir.path().join("node.json");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&credential).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&credential).unwrap()).unwrap();
    assert_eq!(saved["node_id"], NODE_ID);
    assert_eq!(saved["node_token"], NODE_TOKEN);

    // Heartbeats carry the address and the usage, which follows the chunks.
    eventually("heartbeats", || cp.heartbeats().len() >= 2).await;
    let first = cp.heartbeats()[0].clone();
    assert_eq!(first.address, node.address());
    assert_eq!(
        (first.capacity_bytes, first.chunks, first.used_bytes),
        (1 << 30, 0, 0)
    );
    let client = Client::new(&node);
    let data = b"heartbeat me".to_vec();
    let hash = sha256_hex(&data);
    assert_eq!(
        client.put(&hash, data.clone()).await.status(),
        StatusCode::CREATED
    );
    eventually("a heartbeat reporting the chunk", || {
        cp.heartbeats()
            .last()
            .is_some_and(|h| h.chunks == 1 && h.used_bytes == data.len() as u64)
    })
    .await;

    // One node per data directory.
    let second = StorageNode::start(config(dir.path(), &cp_url)).await;
    assert!(
        matches!(second, Err(StorageNodeError::Config(_))),
        "{:?}",
        second.err()
    );

    // Stopped: the port is closed and heartbeats cease.
    let address = node.address().to_string();
    node.shutdown().await;
    let beats = cp.heartbeats().len();
    assert!(reqwest::Client::new()
        .get(format!("{address}/v1/status"))
        .send()
        .await
        .is_err());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(cp.heartbeats().len(), beats);

    // Restarted without a join token: the saved credential is used, the chunk is still there.
    let mut again = config(dir.path(), &cp_url);
    again.join_token = None;
    let node = StorageNode::start(again).await.unwrap();
    assert_eq!(node.node_id(), NODE_ID);
    assert_eq!(cp.enrolments().len(), 1);
    let client = Client::new(&node);
    let response = client.get(&format!("/v1/chunks/{hash}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap(), data);
    let new_address = node.address().to_string();
    eventually("a heartbeat with the new address", || {
        cp.heartbeats()
            .last()
            .is_some_and(|h| h.address == new_address && h.chunks == 1)
    })
    .await;
    node.shutdown().await;
}

#[tokio::test]
async fn a_refused_enrolment_is_an_error() {
    let (cp_url, cp) = control_plane().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), &cp_url);
    config.join_token = Some("wrong".into());
    let err = StorageNode::start(config).await.err().unwrap();
    assert!(matches!(err, StorageNodeError::ControlPlane(_)), "{err}");
    assert!(err.to_string().contains("refused"), "{err}");
    assert!(cp.enrolments().is_empty());
    assert!(!dir.path().join("node.json").exists());
}

#[tokio::test]
async fn enrolment_needs_a_join_token() {
    let (cp_url, _cp) = control_plane().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), &cp_url);
    config.join_token = None;
    let err = StorageNode::start(config).await.err().unwrap();
    assert!(matches!(err, StorageNodeError::Config(_)), "{err}");
}

#[tokio::test]
async fn enrolment_waits_for_an_unreachable_control_plane() {
    // A port with nobody listening yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let starting = tokio::spawn(StorageNode::start(config(
        dir.path(),
        &format!("http://127.0.0.1:{port}/"),
    )));
    // Let a few attempts fail.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!starting.is_finished());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let (_url, cp) = serve_control_plane(listener).await;
    let node = starting.await.unwrap().unwrap();
    assert_eq!(node.node_id(), NODE_ID);
    assert_eq!(cp.enrolments().len(), 1);
    eventually("heartbeats", || !cp.heartbeats().is_empty()).await;
    node.shutdown().await;
}

#[tokio::test]
async fn the_control_plane_sets_the_heartbeat_interval() {
    let (cp_url, cp) = control_plane().await;
    cp.interval_seconds.store(1, Ordering::Relaxed);
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), &cp_url);
    // Were this kept, the second heartbeat would come an hour later.
    config.heartbeat_interval = Duration::from_secs(3600);
    let node = StorageNode::start(config).await.unwrap();
    eventually("a second heartbeat", || cp.heartbeats().len() >= 2).await;
    node.shutdown().await;
}

#[tokio::test]
async fn the_chunk_api_requires_the_node_token() {
    let (cp_url, _cp) = control_plane().await;
    let dir = tempfile::tempdir().unwrap();
    let node = StorageNode::start(config(dir.path(), &cp_url))
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let hash = sha256_hex(b"x");
    let chunk_url = format!("{}/v1/chunks/{hash}", node.address());
    let requests = [
        http.get(format!("{}/v1/status", node.address())),
        http.get(format!("{}/v1/chunks", node.address())),
        http.get(&chunk_url),
        http.delete(&chunk_url),
        http.put(&chunk_url).body("x"),
    ];
    for request in requests {
        for token in [None, Some("sn-test:wrong"), Some("")] {
            let request = request.try_clone().unwrap();
            let request = match token {
                Some(token) => request.header(NODE_TOKEN_HEADER, token),
                None => request,
            };
            let (status, code) = error_code(request.send().await.unwrap()).await;
            assert_eq!(
                (status, code.as_str()),
                (StatusCode::UNAUTHORIZED, "Unauthorized")
            );
        }
    }
    assert!(!node.chunk_path(&hash).exists());
    node.shutdown().await;
}

#[tokio::test]
async fn the_chunk_api() {
    let (cp_url, _cp) = control_plane().await;
    let dir = tempfile::tempdir().unwrap();
    let node = StorageNode::start(config(dir.path(), &cp_url))
        .await
        .unwrap();
    let client = Client::new(&node);

    // PUT: 201 when stored, 200 when already there; GET returns the bytes.
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
    let hash = sha256_hex(&data);
    assert_eq!(
        client.put(&hash, data.clone()).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        client.put(&hash, data.clone()).await.status(),
        StatusCode::OK
    );
    let response = client.get(&format!("/v1/chunks/{hash}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.content_length(), Some(data.len() as u64));
    assert_eq!(response.bytes().await.unwrap(), data);
    assert_eq!(std::fs::read(node.chunk_path(&hash)).unwrap(), data);

    // A streamed (chunked, no Content-Length) body.
    let streamed: Vec<u8> = (0..3_000_000u32).map(|i| (i % 241) as u8).collect();
    let streamed_hash = sha256_hex(&streamed);
    let frames: Vec<Result<Bytes, std::io::Error>> = streamed
        .chunks(100_000)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let body = reqwest::Body::wrap_stream(futures::stream::iter(frames));
    assert_eq!(
        client.put(&streamed_hash, body).await.status(),
        StatusCode::CREATED
    );
    let response = client.get(&format!("/v1/chunks/{streamed_hash}")).await;
    assert_eq!(response.bytes().await.unwrap(), streamed);

    // Errors.
    let missing = sha256_hex(b"never stored");
    assert_eq!(
        error_code(client.get(&format!("/v1/chunks/{missing}")).await).await,
        (StatusCode::NOT_FOUND, "NoSuchChunk".into())
    );
    assert_eq!(
        error_code(client.put(&missing, "not those bytes").await).await,
        (StatusCode::BAD_REQUEST, "ChecksumMismatch".into())
    );
    assert!(!node.chunk_path(&missing).exists());
    for bad in ["abc", &hash.to_uppercase(), &format!("{hash}0")] {
        assert_eq!(
            error_code(client.get(&format!("/v1/chunks/{bad}")).await).await,
            (StatusCode::BAD_REQUEST, "InvalidChunkName".into())
        );
        assert_eq!(
            error_code(client.put(bad, "x").await).await,
            (StatusCode::BAD_REQUEST, "InvalidChunkName".into())
        );
        assert_eq!(
            error_code(client.delete(bad).await).await,
            (StatusCode::BAD_REQUEST, "InvalidChunkName".into())
        );
    }
    let too_big = vec![1u8; MAX_CHUNK_BYTES + 1];
    let too_big_hash = sha256_hex(&too_big);
    assert_eq!(
        error_code(client.put(&too_big_hash, too_big.clone()).await).await,
        (StatusCode::PAYLOAD_TOO_LARGE, "EntityTooLarge".into())
    );
    let frames: Vec<Result<Bytes, std::io::Error>> = too_big
        .chunks(256 * 1024)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let body = reqwest::Body::wrap_stream(futures::stream::iter(frames));
    assert_eq!(
        error_code(client.put(&too_big_hash, body).await).await,
        (StatusCode::PAYLOAD_TOO_LARGE, "EntityTooLarge".into())
    );
    assert!(std::fs::read_dir(dir.path().join("tmp"))
        .unwrap()
        .next()
        .is_none());

    // A client that goes away mid-body leaves nothing behind.
    let frames: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from(vec![5u8; 300_000])),
        Err(std::io::Error::other("client gives up")),
    ];
    let aborted = client
        .http
        .put(client.url(&format!("/v1/chunks/{missing}")))
        .header(NODE_TOKEN_HEADER, &client.token)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(frames)))
        .send()
        .await;
    assert!(aborted.is_err());
    let tmp = dir.path().join("tmp");
    eventually("the aborted upload's temporary file removed", || {
        std::fs::read_dir(&tmp).unwrap().next().is_none()
    })
    .await;
    assert!(!node.chunk_path(&missing).exists());

    // Status.
    let status: NodeStatus = client.get("/v1/status").await.json().await.unwrap();
    assert_eq!(status.node_id, NODE_ID);
    assert_eq!(status.capacity_bytes, 1 << 30);
    assert_eq!(status.chunks, 2);
    assert_eq!(status.used_bytes, (data.len() + streamed.len()) as u64);

    // The node does not verify on read (readers do); a re-PUT repairs a rotten copy.
    let mut rotten = data.clone();
    rotten[1234] ^= 0xff;
    std::fs::write(node.chunk_path(&hash), &rotten).unwrap();
    let response = client.get(&format!("/v1/chunks/{hash}")).await;
    assert_eq!(response.bytes().await.unwrap(), rotten);
    assert_eq!(
        client.put(&hash, data.clone()).await.status(),
        StatusCode::CREATED
    );
    let response = client.get(&format!("/v1/chunks/{hash}")).await;
    assert_eq!(response.bytes().await.unwrap(), data);

    // DELETE: 204, also when absent.
    assert_eq!(
        client.delete(&streamed_hash).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        client.delete(&streamed_hash).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        client
            .get(&format!("/v1/chunks/{streamed_hash}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    // LIST: pages in hash order.
    let mut expected = vec![hash.clone()];
    for i in 0..6 {
        let body = format!("small chunk {i}");
        let small = sha256_hex(body.as_bytes());
        assert_eq!(client.put(&small, body).await.status(), StatusCode::CREATED);
        expected.push(small);
    }
    expected.sort();
    let mut listed = Vec::new();
    let mut query = "?limit=3".to_string();
    loop {
        let page = client.list(&query).await;
        assert!(page.chunks.len() <= 3);
        listed.extend(page.chunks.into_iter().map(|c| c.sha256));
        match page.next_after {
            Some(next) => query = format!("?limit=3&after={next}"),
            None => break,
        }
    }
    assert_eq!(listed, expected);
    let all = client.list("").await;
    assert_eq!(all.chunks.len(), 7);
    assert!(all.next_after.is_none());
    let all = client.list("?after=").await;
    assert_eq!(all.chunks.len(), 7);
    assert_eq!(
        error_code(client.get("/v1/chunks?limit=many").await).await,
        (StatusCode::BAD_REQUEST, "InvalidArgument".into())
    );
    assert_eq!(
        error_code(client.get("/v1/chunks?after=zz").await).await,
        (StatusCode::BAD_REQUEST, "InvalidChunkName".into())
    );
    node.shutdown().await;
}
