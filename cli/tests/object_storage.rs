#![allow(clippy::unwrap_used)]
//! Object storage end to end: the gateway in this process on a fresh catalog database, real
//! storage nodes (in-process, on loopback ports, data in temporary directories) and real
//! clients — boto3 for S3 conformance, our own SigV4 signer and the native API for the
//! resilience checks (replication, a dead node, corrupt replicas, garbage collection).

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::Digest;
use support::{run_boto3_report, storage_test_config, Cloud, TEST_NODE_CAPACITY};

const KIB: usize = 1024;
const CHUNK: usize = 256 * KIB;

/// Deterministic, incompressible-looking bytes (xorshift), different per seed.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

/// Does the chunk file hold the bytes its name promises?
fn intact(path: &Path, sha256: &str) -> bool {
    std::fs::read(path)
        .map(|data| sha256_hex(&data) == sha256)
        .unwrap_or(false)
}

/// Overwrite a few bytes of a file in place.
fn corrupt(path: &Path) {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(b"\0CORRUPTED\0", 1000).unwrap();
    file.sync_all().unwrap();
}

/// A minimal S3 client: path-style requests signed with SigV4 (the payload's SHA-256 signed).
struct S3 {
    endpoint: String,
    host: String,
    key: String,
    secret: String,
    http: reqwest::Client,
}

struct S3Response {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl S3Response {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl S3 {
    fn new(cloud: &Cloud, key: &str, secret: &str) -> Self {
        S3 {
            endpoint: cloud.endpoint.clone(),
            host: cloud.endpoint.trim_start_matches("http://").to_string(),
            key: key.to_string(),
            secret: secret.to_string(),
            http: reqwest::Client::new(),
        }
    }

    async fn send(&self, method: &str, uri: &str, body: Vec<u8>) -> S3Response {
        self.send_with(method, uri, body, &[]).await
    }

    /// With extra (signed) headers; a `host` among them replaces the endpoint's.
    async fn send_with(
        &self,
        method: &str,
        uri: &str,
        body: Vec<u8>,
        extra: &[(&str, &str)],
    ) -> S3Response {
        let mut headers = vec![("host".to_string(), self.host.clone())];
        for (name, value) in extra {
            if *name == "host" {
                headers[0].1 = value.to_string();
            } else {
                headers.push((name.to_string(), value.to_string()));
            }
        }
        let signed = kumo_auth::sigv4::sign_request(
            method,
            uri,
            &headers,
            &body,
            &self.key,
            &self.secret,
            "us-east-1",
            "s3",
            chrono::Utc::now(),
        );
        let mut request = self
            .http
            .request(method.parse().unwrap(), format!("{}{uri}", self.endpoint))
            // S3 wants a Content-Length on uploads, also when the body is empty.
            .header("content-length", body.len())
            .body(body);
        for (name, value) in headers.iter().chain(&signed) {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = request.send().await.unwrap();
        S3Response {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.bytes().await.unwrap().to_vec(),
        }
    }

    async fn expect(&self, method: &str, uri: &str, body: Vec<u8>, status: u16) -> S3Response {
        let response = self.send(method, uri, body).await;
        assert_eq!(
            response.status,
            status,
            "{method} {uri}: {}",
            response.text()
        );
        response
    }

    async fn put(&self, bucket: &str, key: &str, data: &[u8]) {
        self.expect("PUT", &format!("/{bucket}/{key}"), data.to_vec(), 200)
            .await;
    }

    async fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        self.expect("GET", &format!("/{bucket}/{key}"), Vec::new(), 200)
            .await
            .body
    }
}

/// The chunks of the latest version of `key`, in order.
async fn chunks_of(cloud: &Cloud, bucket: &str, key: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT c.sha256 FROM object_storage.objects o
         JOIN object_storage.blob_chunks c ON c.blob_id = o.blob_id
         WHERE o.bucket = $1 AND o.key = $2 AND o.is_latest ORDER BY c.seq",
    )
    .bind(bucket)
    .bind(key)
    .fetch_all(&cloud.object_storage.pool)
    .await
    .unwrap()
}

/// The nodes the catalog places a chunk's replicas on, in node-id order.
async fn replicas_of(cloud: &Cloud, sha256: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT node_id FROM object_storage.chunk_replicas WHERE sha256 = $1 ORDER BY node_id",
    )
    .bind(sha256)
    .fetch_all(&cloud.object_storage.pool)
    .await
    .unwrap()
}

async fn chunk_known(cloud: &Cloud, sha256: &str) -> bool {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM object_storage.chunks WHERE sha256 = $1)")
        .bind(sha256)
        .fetch_one(&cloud.object_storage.pool)
        .await
        .unwrap()
}

fn node_index(cloud: &Cloud, node_id: &str) -> usize {
    cloud
        .storage_nodes
        .iter()
        .position(|n| n.node_id == node_id)
        .unwrap()
}

fn chunk_file(cloud: &Cloud, node_id: &str, sha256: &str) -> PathBuf {
    cloud.storage_nodes[node_index(cloud, node_id)].chunk_path(sha256)
}

/// Poll (bounded) until `check` holds.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..150 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: not within 15 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_conformance() {
    let cloud = Cloud::start_storage(3).await;
    let (alice, key_a, secret_a) = cloud.tenant("alice").await;
    let (_, key_b, secret_b) = cloud.tenant("bob").await;
    let (key_r, secret_r) = cloud
        .access_key(&alice.account_id, "reader", kumo_auth::Role::Reader)
        .await;
    // KUMO_S3_SECTIONS=listing,multipart runs only those sections (when debugging).
    let sections: Vec<String> = std::env::var("KUMO_S3_SECTIONS")
        .map(|s| s.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let mut args = vec![
        cloud.endpoint.clone(),
        key_a,
        secret_a,
        key_b,
        secret_b,
        key_r,
        secret_r,
    ];
    args.extend(sections.iter().cloned());
    let (report, out, _, stderr) = run_boto3_report("s3_conformance.py", &args).await;
    if !stderr.is_empty() {
        eprintln!("--- the script's stderr:\n{stderr}");
    }
    let failed = report["failed"].as_object().unwrap();
    for (section, trace) in failed {
        eprintln!("--- section {section} failed:\n{}", trace.as_str().unwrap());
    }
    assert!(
        failed.is_empty() && out.status.success(),
        "S3 conformance sections failed: {:?} (passed: {})\nstderr: {stderr}",
        failed.keys().collect::<Vec<_>>(),
        report["passed"]
    );
    let passed = report["passed"].as_array().unwrap().len();
    assert!(
        passed >= 15 || !sections.is_empty(),
        "only {passed} sections ran"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_are_replicated_repaired_and_survive_dead_nodes() {
    let mut cloud = Cloud::start_storage(3).await;
    let (_, key, secret) = cloud.tenant("alice").await;
    let s3 = S3::new(&cloud, &key, &secret);
    s3.expect("PUT", "/replicated", Vec::new(), 200).await;

    // Multi-chunk objects (and one of less than a chunk), all different.
    let mut objects: Vec<(String, Vec<u8>)> = Vec::new();
    for (i, len) in [3 * CHUNK + 1234, 2 * CHUNK, 5 * CHUNK - 1, 1000]
        .into_iter()
        .enumerate()
    {
        let name = format!("before-{i}");
        let data = pattern(len, i as u64 + 1);
        s3.put("replicated", &name, &data).await;
        objects.push((name, data));
    }
    let all_nodes: BTreeSet<String> = cloud
        .storage_nodes
        .iter()
        .map(|n| n.node_id.clone())
        .collect();
    for (name, data) in &objects {
        let chunks = chunks_of(&cloud, "replicated", name).await;
        assert_eq!(chunks.len(), data.len().div_ceil(CHUNK), "{name}");
        for (seq, sha256) in chunks.iter().enumerate() {
            let end = ((seq + 1) * CHUNK).min(data.len());
            assert_eq!(sha256, &sha256_hex(&data[seq * CHUNK..end]));
            let replicas: BTreeSet<String> =
                replicas_of(&cloud, sha256).await.into_iter().collect();
            assert_eq!(
                replicas, all_nodes,
                "{name} chunk {seq}: one replica per node"
            );
            for node in &cloud.storage_nodes {
                assert!(
                    intact(&node.chunk_path(sha256), sha256),
                    "{name} chunk {seq} on {}",
                    node.name
                );
            }
        }
    }

    // A corrupt replica: the GET detects it (SHA-256), serves another, and the corrupt file
    // is repaired in the background. Reads go in node-id order, so the first is corrupted.
    let (name, data) = &objects[0];
    let chunks = chunks_of(&cloud, "replicated", name).await;
    let victim = &chunks[1];
    let holders = replicas_of(&cloud, victim).await;
    let first = chunk_file(&cloud, &holders[0], victim);
    corrupt(&first);
    assert!(!intact(&first, victim));
    assert_eq!(&s3.get("replicated", name).await, data);
    eventually("the corrupt replica is repaired", || async {
        intact(&first, victim)
    })
    .await;
    // Two of three replicas corrupt (the two read first): still the right bytes, both mended.
    let victim = &chunks[2];
    let holders = replicas_of(&cloud, victim).await;
    let bad: Vec<PathBuf> = holders[..2]
        .iter()
        .map(|node| chunk_file(&cloud, node, victim))
        .collect();
    for path in &bad {
        corrupt(path);
    }
    assert_eq!(&s3.get("replicated", name).await, data);
    for path in &bad {
        eventually("both corrupt replicas are repaired", || async {
            intact(path, victim)
        })
        .await;
    }

    // One node dies: every GET still answers the right bytes, new PUTs succeed on the two
    // that are left (the dead one is still "healthy" in the catalog: its heartbeat is recent).
    cloud.storage_nodes[1].shutdown().await;
    let dead = cloud.storage_nodes[1].node_id.clone();
    for (name, data) in &objects {
        assert_eq!(
            &s3.get("replicated", name).await,
            data,
            "{name} with a node down"
        );
    }
    for i in 0..3u64 {
        let name = format!("during-{i}");
        let data = pattern(2 * CHUNK + 77 * i as usize, 100 + i);
        s3.put("replicated", &name, &data).await;
        for sha256 in chunks_of(&cloud, "replicated", &name).await {
            let replicas = replicas_of(&cloud, &sha256).await;
            assert_eq!(replicas.len(), 2, "{name}: a replica on each live node");
            assert!(
                !replicas.contains(&dead),
                "{name}: nothing recorded on the dead node"
            );
            assert!(!cloud.storage_nodes[1].chunk_path(&sha256).exists());
        }
        objects.push((name, data));
    }
    for (name, data) in &objects {
        assert_eq!(
            &s3.get("replicated", name).await,
            data,
            "{name} after the failure"
        );
    }
    // A second node dies: one replica of everything is left, and it is enough.
    cloud.storage_nodes[2].shutdown().await;
    for (name, data) in &objects {
        assert_eq!(
            &s3.get("replicated", name).await,
            data,
            "{name} on one node"
        );
    }
    let data = pattern(CHUNK + 1, 200);
    s3.put("replicated", "on-one-node", &data).await;
    assert_eq!(s3.get("replicated", "on-one-node").await, data);
    // The survivors come back (new ports, same data) and serve again.
    cloud.storage_nodes[1].restart().await;
    cloud.storage_nodes[2].restart().await;
    for node in &cloud.storage_nodes[1..] {
        // Their first heartbeat brings the catalog their new addresses.
        eventually("a restarted node reports its new address", || async {
            let address: String =
                sqlx::query_scalar("SELECT address FROM object_storage.nodes WHERE node_id = $1")
                    .bind(&node.node_id)
                    .fetch_one(&cloud.object_storage.pool)
                    .await
                    .unwrap();
            address == node.address
        })
        .await;
    }
    cloud.storage_nodes[0].shutdown().await;
    for (name, data) in &objects[..4] {
        assert_eq!(
            &s3.get("replicated", name).await,
            data,
            "{name} from restarted nodes"
        );
    }
    // With no replica reachable at all, the read fails with a retryable error before any
    // byte is promised (not a 200 that breaks off).
    cloud.storage_nodes[1].shutdown().await;
    cloud.storage_nodes[2].shutdown().await;
    let unavailable = s3
        .send("GET", &format!("/replicated/{}", objects[0].0), Vec::new())
        .await;
    assert_eq!(unavailable.status, 503, "{}", unavailable.text());
    assert!(unavailable
        .text()
        .contains("<Code>ServiceUnavailable</Code>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_counts_follow_the_nodes_available() {
    // Replication 1 on a single node.
    let cloud = Cloud::start_storage_with(1, storage_test_config(1)).await;
    let (_, key, secret) = cloud.tenant("solo").await;
    let s3 = S3::new(&cloud, &key, &secret);
    s3.expect("PUT", "/single", Vec::new(), 200).await;
    let data = pattern(3 * CHUNK + 5, 7);
    s3.put("single", "obj", &data).await;
    assert_eq!(s3.get("single", "obj").await, data);
    let chunks = chunks_of(&cloud, "single", "obj").await;
    assert_eq!(chunks.len(), 4);
    for sha256 in &chunks {
        assert_eq!(
            replicas_of(&cloud, sha256).await,
            vec![cloud.storage_nodes[0].node_id.clone()]
        );
        assert!(intact(&cloud.storage_nodes[0].chunk_path(sha256), sha256));
    }

    // Replication 3 wanted, 2 nodes: 2 replicas each, and the writes succeed.
    let cloud = Cloud::start_storage_with(2, storage_test_config(3)).await;
    let (_, key, secret) = cloud.tenant("pair").await;
    let s3 = S3::new(&cloud, &key, &secret);
    s3.expect("PUT", "/pair", Vec::new(), 200).await;
    let data = pattern(2 * CHUNK + 5, 8);
    s3.put("pair", "obj", &data).await;
    assert_eq!(s3.get("pair", "obj").await, data);
    for sha256 in chunks_of(&cloud, "pair", "obj").await {
        assert_eq!(replicas_of(&cloud, &sha256).await.len(), 2);
        for node in &cloud.storage_nodes {
            assert!(intact(&node.chunk_path(&sha256), &sha256));
        }
    }

    // No node at all: the write is refused with a retryable error, nothing is visible.
    let cloud = Cloud::start_storage_with(0, storage_test_config(3)).await;
    let (_, key, secret) = cloud.tenant("none").await;
    let s3 = S3::new(&cloud, &key, &secret);
    s3.expect("PUT", "/empty", Vec::new(), 200).await;
    let refused = s3.send("PUT", "/empty/obj", b"data".to_vec()).await;
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert!(refused.text().contains("<Code>ServiceUnavailable</Code>"));
    s3.expect("GET", "/empty/obj", Vec::new(), 404).await;
    // An empty object has no chunks and needs no node.
    s3.put("empty", "nothing", b"").await;
    assert_eq!(s3.get("empty", "nothing").await, b"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_collection_removes_only_unreferenced_chunks() {
    let cloud = Cloud::start_storage(3).await;
    let (_, key, secret) = cloud.tenant("alice").await;
    let s3 = S3::new(&cloud, &key, &secret);
    s3.expect("PUT", "/gc-test", Vec::new(), 200).await;
    let shared = pattern(3 * CHUNK, 1);
    let doomed = pattern(2 * CHUNK + 9, 2);
    let replaced = pattern(2 * CHUNK, 3);
    let replacement = pattern(CHUNK + 3, 4);
    s3.put("gc-test", "shared-1", &shared).await;
    s3.put("gc-test", "shared-2", &shared).await; // the same chunks: deduplicated
    s3.put("gc-test", "doomed", &doomed).await;
    s3.put("gc-test", "replaced", &replaced).await;
    let shared_chunks = chunks_of(&cloud, "gc-test", "shared-1").await;
    assert_eq!(
        shared_chunks,
        chunks_of(&cloud, "gc-test", "shared-2").await
    );
    let doomed_chunks = chunks_of(&cloud, "gc-test", "doomed").await;
    let replaced_chunks = chunks_of(&cloud, "gc-test", "replaced").await;
    s3.put("gc-test", "replaced", &replacement).await;
    let replacement_chunks = chunks_of(&cloud, "gc-test", "replaced").await;
    // An aborted multipart upload's part.
    let created = s3
        .expect("POST", "/gc-test/mp?uploads", Vec::new(), 200)
        .await;
    let text = created.text();
    let upload_id = text
        .split("<UploadId>")
        .nth(1)
        .and_then(|t| t.split("</UploadId>").next())
        .unwrap()
        .to_string();
    let part = pattern(CHUNK + 11, 5);
    s3.expect(
        "PUT",
        &format!("/gc-test/mp?partNumber=1&uploadId={upload_id}"),
        part.clone(),
        200,
    )
    .await;
    let part_chunks = vec![sha256_hex(&part[..CHUNK]), sha256_hex(&part[CHUNK..])];
    s3.expect(
        "DELETE",
        &format!("/gc-test/mp?uploadId={upload_id}"),
        Vec::new(),
        204,
    )
    .await;
    s3.expect("DELETE", "/gc-test/doomed", Vec::new(), 204)
        .await;
    s3.expect("DELETE", "/gc-test/shared-1", Vec::new(), 204)
        .await;

    let garbage: Vec<&String> = doomed_chunks
        .iter()
        .chain(&replaced_chunks)
        .chain(&part_chunks)
        .collect();
    let live: Vec<&String> = shared_chunks.iter().chain(&replacement_chunks).collect();
    let on_disk = |sha256: &str| {
        cloud
            .storage_nodes
            .iter()
            .filter(|n| n.chunk_path(sha256).exists())
            .count()
    };
    for sha256 in garbage.iter().chain(&live) {
        assert_eq!(on_disk(sha256), 3, "before collection");
    }

    // Within the grace period nothing goes: an upload may be about to reference a chunk.
    let report = kumo_object_storage::gc::collect(&cloud.object_storage, Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(report.chunks_deleted, 0, "{report:?}");
    for sha256 in &garbage {
        assert_eq!(on_disk(sha256), 3, "young garbage is spared");
    }

    let report = kumo_object_storage::gc::collect(&cloud.object_storage, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(report.chunks_deleted, garbage.len() as u64, "{report:?}");
    assert_eq!(report.replicas_deleted, 3 * garbage.len() as u64);
    for sha256 in &garbage {
        assert_eq!(on_disk(sha256), 0, "garbage chunk {sha256} left on disk");
        assert!(!chunk_known(&cloud, sha256).await);
        assert!(replicas_of(&cloud, sha256).await.is_empty());
    }
    for sha256 in &live {
        assert_eq!(on_disk(sha256), 3, "live chunk {sha256} was collected");
        assert!(chunk_known(&cloud, sha256).await);
    }
    assert_eq!(s3.get("gc-test", "shared-2").await, shared);
    assert_eq!(s3.get("gc-test", "replaced").await, replacement);

    // Again: nothing more to do.
    let report = kumo_object_storage::gc::collect(&cloud.object_storage, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(report.chunks_deleted, 0, "{report:?}");

    // Strays (on a node, unknown to the catalog: an upload that died before its commit)
    // go once older than the grace period.
    let node = &cloud.storage_nodes[0];
    let http = reqwest::Client::new();
    let mut strays = Vec::new();
    for seed in [10u64, 11] {
        let stray = pattern(1000, seed);
        let sha256 = sha256_hex(&stray);
        let put = http
            .put(format!("{}/v1/chunks/{sha256}", node.address))
            .header(kumo_storage_protocol::NODE_TOKEN_HEADER, &node.node_token)
            .body(stray)
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 201);
        strays.push(sha256);
    }
    let old = std::time::SystemTime::now() - Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(node.chunk_path(&strays[0]))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let report = kumo_object_storage::gc::collect(&cloud.object_storage, Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(report.strays_deleted, 1, "{report:?}");
    assert!(!node.chunk_path(&strays[0]).exists(), "old stray removed");
    assert!(node.chunk_path(&strays[1]).exists(), "young stray spared");
    for sha256 in &live {
        assert_eq!(on_disk(sha256), 3, "the stray sweep spares live chunks");
    }

    // The operator's endpoint does the same; tenants may not call it.
    let http = reqwest::Client::new();
    let tenant_token = {
        let (principal, _, _) = cloud.tenant("bob").await;
        kumo_identity::users::insert(
            &cloud.identity.pool,
            &principal.account_id,
            "web",
            kumo_auth::Role::Admin,
            Some("bobs-long-password"),
        )
        .await
        .unwrap();
        cloud
            .login(&principal.account_id, "web", "bobs-long-password")
            .await
    };
    let refused = http
        .post(format!("{}/v1/storage/gc?grace_seconds=0", cloud.endpoint))
        .bearer_auth(&tenant_token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    s3.expect("DELETE", "/gc-test/shared-2", Vec::new(), 204)
        .await;
    let operator = cloud.operator_token().await;
    let collected: serde_json::Value = http
        .post(format!("{}/v1/storage/gc?grace_seconds=0", cloud.endpoint))
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        collected["chunks_deleted"],
        shared_chunks.len() as u64,
        "{collected}"
    );
    for sha256 in &shared_chunks {
        assert_eq!(on_disk(sha256), 0, "the last reference went");
    }
    for sha256 in &replacement_chunks {
        assert_eq!(on_disk(sha256), 3);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_api_and_operator_view() {
    let cloud = Cloud::start_storage(3).await;
    let (alice, key, secret) = cloud.tenant("alice").await;
    let (bob, _, _) = cloud.tenant("bob").await;
    for account in [&alice.account_id, &bob.account_id] {
        kumo_identity::users::insert(
            &cloud.identity.pool,
            account,
            "web",
            kumo_auth::Role::Admin,
            Some("a-long-enough-password"),
        )
        .await
        .unwrap();
    }
    let alice_token = cloud
        .login(&alice.account_id, "web", "a-long-enough-password")
        .await;
    let bob_token = cloud
        .login(&bob.account_id, "web", "a-long-enough-password")
        .await;
    let operator = cloud.operator_token().await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", cloud.endpoint);
    let json = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().await.unwrap_or(serde_json::Value::Null);
        (status, body)
    };

    let (status, created) = json(
        http.post(url("/v1/buckets"))
            .bearer_auth(&alice_token)
            .json(&serde_json::json!({"name": "native-bucket"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["name"], "native-bucket");
    assert_eq!(created["account_id"], alice.account_id.as_str());
    assert_eq!(created["region"], "us-east-1");
    let (status, err) = json(
        http.post(url("/v1/buckets"))
            .bearer_auth(&bob_token)
            .json(&serde_json::json!({"name": "native-bucket"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, &err["error"]["code"]),
        (409, &serde_json::json!("BucketAlreadyExists")),
        "{err}"
    );
    let (status, err) = json(
        http.post(url("/v1/buckets"))
            .bearer_auth(&alice_token)
            .json(&serde_json::json!({"name": "Not_Valid"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, &err["error"]["code"]),
        (400, &serde_json::json!("InvalidBucketName")),
        "{err}"
    );
    let (status, listed) = json(
        http.get(url("/v1/buckets"))
            .bearer_auth(&alice_token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let (_, listed) = json(
        http.get(url("/v1/buckets"))
            .bearer_auth(&bob_token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        listed,
        serde_json::json!([]),
        "bob sees none of alice's buckets"
    );

    // Objects: bigger than the JSON body limit, several chunks, a key with slashes.
    let big = pattern(1536 * KIB + 3, 9);
    let (status, uploaded) = json(
        http.put(url("/v1/buckets/native-bucket/objects/dir/big.bin"))
            .bearer_auth(&alice_token)
            .header("content-type", "application/x-big")
            .body(big.clone())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{uploaded}");
    assert_eq!(uploaded["key"], "dir/big.bin");
    assert_eq!(uploaded["size"], big.len() as u64);
    let md5 = {
        let s3 = S3::new(&cloud, &key, &secret);
        let head = s3
            .expect("HEAD", "/native-bucket/dir/big.bin", Vec::new(), 200)
            .await;
        let etag = head.headers["etag"].to_str().unwrap().to_string();
        assert_eq!(
            s3.get("native-bucket", "dir/big.bin").await,
            big,
            "native upload read through S3"
        );
        etag
    };
    assert_eq!(uploaded["etag"], md5.as_str());
    let got = http
        .get(url("/v1/buckets/native-bucket/objects/dir/big.bin"))
        .bearer_auth(&alice_token)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["content-type"], "application/x-big");
    assert_eq!(got.headers()["etag"], md5.as_str());
    assert_eq!(got.bytes().await.unwrap().to_vec(), big);
    let bob_get = http
        .get(url("/v1/buckets/native-bucket/objects/dir/big.bin"))
        .bearer_auth(&bob_token)
        .send()
        .await
        .unwrap();
    assert_eq!(bob_get.status(), 403);
    let (status, _) = json(
        http.put(url("/v1/buckets/native-bucket/objects/planted"))
            .bearer_auth(&bob_token)
            .body("x")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 403);
    let anonymous = http
        .get(url("/v1/buckets/native-bucket/objects/dir/big.bin"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    for name in ["a", "b", "c", "dir/x", "dir/y"] {
        let response = http
            .put(url(&format!("/v1/buckets/native-bucket/objects/{name}")))
            .bearer_auth(&alice_token)
            .body(name.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let mut keys = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut request = http
            .get(url("/v1/buckets/native-bucket/objects"))
            .bearer_auth(&alice_token)
            .query(&[("max_keys", "2")]);
        if let Some(after) = &after {
            request = request.query(&[("after", after)]);
        }
        let (status, page) = json(request.send().await.unwrap()).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        keys.extend(
            page["objects"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["key"].as_str().unwrap().to_string()),
        );
        match page["next_after"].as_str() {
            Some(next) => after = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(keys, ["a", "b", "c", "dir/big.bin", "dir/x", "dir/y"]);
    assert_eq!(pages, 3);
    let (_, page) = json(
        http.get(url("/v1/buckets/native-bucket/objects"))
            .bearer_auth(&alice_token)
            .query(&[("delimiter", "/")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(page["common_prefixes"], serde_json::json!(["dir/"]));
    assert_eq!(page["objects"].as_array().unwrap().len(), 3);
    let (_, page) = json(
        http.get(url("/v1/buckets/native-bucket/objects"))
            .bearer_auth(&alice_token)
            .query(&[("prefix", "dir/"), ("delimiter", "/")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    let under: Vec<&str> = page["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["key"].as_str().unwrap())
        .collect();
    assert_eq!(under, ["dir/big.bin", "dir/x", "dir/y"]);

    // The operator's view: three healthy nodes with their capacity and what they hold.
    let tenant_view = http
        .get(url("/v1/storage/nodes"))
        .bearer_auth(&alice_token)
        .send()
        .await
        .unwrap();
    assert_eq!(tenant_view.status(), 403);
    // Heartbeats (every second) bring the nodes' own counts.
    let mut nodes = serde_json::Value::Null;
    for attempt in 0.. {
        let (status, body) = json(
            http.get(url("/v1/storage/nodes"))
                .bearer_auth(&operator)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        nodes = body;
        let reported = nodes.as_array().unwrap().iter().all(|n| {
            n["used_bytes"].as_u64().unwrap() >= big.len() as u64
                && n["chunks"].as_u64().unwrap() >= 7
        });
        if reported {
            break;
        }
        assert!(
            attempt < 150,
            "heartbeats never reported the chunks: {nodes}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let nodes = nodes.as_array().unwrap();
    assert_eq!(nodes.len(), 3, "{nodes:?}");
    for (node, expected) in nodes.iter().zip(&cloud.storage_nodes) {
        assert_eq!(node["name"], expected.name.as_str());
        assert_eq!(node["node_id"], expected.node_id.as_str());
        assert_eq!(node["address"], expected.address.as_str());
        assert_eq!(node["state"], "enabled");
        assert_eq!(node["healthy"], true);
        assert_eq!(node["capacity_bytes"], TEST_NODE_CAPACITY);
        assert!(node["replicas"].as_u64().unwrap() >= 7, "{node}");
    }

    let (status, usage) = json(
        http.get(url("/v1/storage/usage"))
            .bearer_auth(&operator)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{usage}");
    let mine = usage
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["account_id"] == alice.account_id.as_str())
        .unwrap();
    let small: usize = ["a", "b", "c", "dir/x", "dir/y"]
        .iter()
        .map(|k| k.len())
        .sum();
    assert_eq!(mine["buckets"], 1);
    assert_eq!(mine["objects"], 6);
    assert_eq!(mine["bytes"], (big.len() + small) as u64);
    let tenant_usage = http
        .get(url("/v1/storage/usage"))
        .bearer_auth(&alice_token)
        .send()
        .await
        .unwrap();
    assert_eq!(tenant_usage.status(), 403);

    // A disabled node takes no new chunks; it is still read.
    let disabled = &cloud.storage_nodes[2];
    let (status, node) = json(
        http.post(url(&format!(
            "/v1/storage/nodes/{}/disable",
            disabled.node_id
        )))
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (status, &node["state"]),
        (200, &serde_json::json!("disabled"))
    );
    let fresh = pattern(2 * CHUNK, 33);
    let response = http
        .put(url("/v1/buckets/native-bucket/objects/while-disabled"))
        .bearer_auth(&alice_token)
        .body(fresh.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    for sha256 in chunks_of(&cloud, "native-bucket", "while-disabled").await {
        let replicas = replicas_of(&cloud, &sha256).await;
        assert_eq!(replicas.len(), 2);
        assert!(!replicas.contains(&disabled.node_id));
    }
    let (status, node) = json(
        http.post(url(&format!(
            "/v1/storage/nodes/{}/enable",
            disabled.node_id
        )))
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (status, &node["state"]),
        (200, &serde_json::json!("enabled"))
    );
    let (status, _) = json(
        http.post(url("/v1/storage/nodes/sn-nope/disable"))
            .bearer_auth(&operator)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    let (status, token) = json(
        http.post(url("/v1/storage/join-tokens"))
            .bearer_auth(&operator)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(token["join_token"].as_str().unwrap().starts_with("ksj-"));
    let refused = http
        .post(url("/v1/storage/join-tokens"))
        .bearer_auth(&alice_token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);

    // Deletes: objects, then the emptied bucket.
    let (status, err) = json(
        http.delete(url("/v1/buckets/native-bucket"))
            .bearer_auth(&alice_token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, &err["error"]["code"]),
        (409, &serde_json::json!("BucketNotEmpty"))
    );
    for name in [
        "a",
        "b",
        "c",
        "dir/x",
        "dir/y",
        "dir/big.bin",
        "while-disabled",
    ] {
        let response = http
            .delete(url(&format!("/v1/buckets/native-bucket/objects/{name}")))
            .bearer_auth(&alice_token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204, "{name}");
    }
    let (status, err) = json(
        http.get(url("/v1/buckets/native-bucket/objects/a"))
            .bearer_auth(&alice_token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, &err["error"]["code"]),
        (404, &serde_json::json!("NoSuchKey")),
        "{err}"
    );
    let deleted = http
        .delete(url("/v1/buckets/native-bucket"))
        .bearer_auth(&alice_token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let (status, err) = json(
        http.get(url("/v1/buckets/native-bucket/objects"))
            .bearer_auth(&alice_token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, &err["error"]["code"]),
        (404, &serde_json::json!("NoSuchBucket")),
        "{err}"
    );
}

/// Accepts connections and never answers (a frozen process, a partitioned network).
async fn black_hole() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    address
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_node_costs_a_timeout_not_a_hang() {
    let config = kumo_object_storage::ObjectStorageConfig {
        node_timeout: Duration::from_secs(HUNG_NODE_TIMEOUT_SECS),
        ..storage_test_config(3)
    };
    let mut cloud = Cloud::start_storage_with(3, config).await;
    let (_, key, secret) = cloud.tenant("alice").await;
    let s3 = S3::new(&cloud, &key, &secret);
    s3.expect("PUT", "/hung", Vec::new(), 200).await;
    let data = pattern(CHUNK / 2, 3);
    s3.put("hung", "obj", &data).await;
    let chunk = chunks_of(&cloud, "hung", "obj").await.remove(0);
    // The replica read first goes silent, yet looks healthy (its heartbeat is fresh).
    let frozen = replicas_of(&cloud, &chunk).await.remove(0);
    let index = node_index(&cloud, &frozen);
    cloud.storage_nodes[index].shutdown().await;
    sqlx::query(
        "UPDATE object_storage.nodes SET address = $2, last_heartbeat_at = now() + interval '1 hour'
         WHERE node_id = $1",
    )
    .bind(&frozen)
    .bind(black_hole().await)
    .execute(&cloud.object_storage.pool)
    .await
    .unwrap();
    assert_eq!(
        s3.get("hung", "obj").await,
        data,
        "read past the hung replica"
    );
    let more = pattern(CHUNK + 10, 4);
    s3.put("hung", "more", &more).await;
    for sha256 in chunks_of(&cloud, "hung", "more").await {
        let replicas = replicas_of(&cloud, &sha256).await;
        assert_eq!(replicas.len(), 2, "written to the two answering nodes");
        assert!(!replicas.contains(&frozen));
    }
    assert_eq!(s3.get("hung", "more").await, more);
}

/// Long enough for a live node under load, short enough for the test.
const HUNG_NODE_TIMEOUT_SECS: u64 = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_leave_consistent_state() {
    let cloud = Cloud::start_storage(3).await;
    let (_, key, secret) = cloud.tenant("alice").await;
    let s3 = std::sync::Arc::new(S3::new(&cloud, &key, &secret));
    s3.expect("PUT", "/race", Vec::new(), 200).await;
    s3.expect("PUT", "/race-versioned", Vec::new(), 200).await;
    s3.expect(
        "PUT",
        "/race-versioned?versioning",
        br#"<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>"#.to_vec(),
        200,
    )
    .await;
    let bodies: Vec<Vec<u8>> = (0..8)
        .map(|i| pattern(CHUNK + 100 * i, 50 + i as u64))
        .collect();
    // Eight writers of one key, eight of their own keys, in both buckets at once.
    let mut writers = Vec::new();
    for bucket in ["race", "race-versioned"] {
        for (i, data) in bodies.iter().enumerate() {
            for key in ["same".to_string(), format!("own-{i}")] {
                let (s3, data) = (s3.clone(), data.clone());
                writers.push(tokio::spawn(async move {
                    s3.send("PUT", &format!("/{bucket}/{key}"), data)
                        .await
                        .status
                }));
            }
        }
    }
    for writer in writers {
        assert_eq!(writer.await.unwrap(), 200);
    }
    let same = s3.get("race", "same").await;
    assert!(bodies.contains(&same), "the key holds one writer's bytes");
    for (i, data) in bodies.iter().enumerate() {
        assert_eq!(&s3.get("race", &format!("own-{i}")).await, data);
        assert_eq!(&s3.get("race-versioned", &format!("own-{i}")).await, data);
    }
    let versions: Vec<(String, bool)> = sqlx::query_as(
        "SELECT bucket, is_latest FROM object_storage.objects WHERE key = 'same' ORDER BY bucket",
    )
    .fetch_all(&cloud.object_storage.pool)
    .await
    .unwrap();
    let unversioned: Vec<_> = versions.iter().filter(|v| v.0 == "race").collect();
    let versioned: Vec<_> = versions
        .iter()
        .filter(|v| v.0 == "race-versioned")
        .collect();
    assert_eq!(unversioned.len(), 1, "one null version");
    assert_eq!(versioned.len(), 8, "every write a version");
    assert_eq!(versioned.iter().filter(|v| v.1).count(), 1, "one latest");
    let latest = s3.get("race-versioned", "same").await;
    assert!(bodies.contains(&latest));

    // Create-only writers race: exactly one wins.
    let mut racers = Vec::new();
    for data in bodies.iter().cloned() {
        let s3 = s3.clone();
        racers.push(tokio::spawn(async move {
            s3.send_with("PUT", "/race/once", data, &[("if-none-match", "*")])
                .await
                .status
        }));
    }
    let mut statuses = Vec::new();
    for racer in racers {
        statuses.push(racer.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 412, 412, 412, 412, 412, 412, 412]);

    // Parts of one multipart upload in parallel.
    let created = s3.expect("POST", "/race/mp?uploads", Vec::new(), 200).await;
    let text = created.text();
    let upload_id = text
        .split("<UploadId>")
        .nth(1)
        .and_then(|t| t.split("</UploadId>").next())
        .unwrap()
        .to_string();
    let parts: Vec<Vec<u8>> = vec![
        pattern(5 * 1024 * KIB, 60),
        pattern(5 * 1024 * KIB, 61),
        pattern(3 * KIB, 62),
    ];
    let mut uploads = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let (s3, part, upload_id) = (s3.clone(), part.clone(), upload_id.clone());
        uploads.push(tokio::spawn(async move {
            let response = s3
                .send(
                    "PUT",
                    &format!("/race/mp?partNumber={}&uploadId={upload_id}", i + 1),
                    part,
                )
                .await;
            assert_eq!(response.status, 200, "{}", response.text());
            response.headers["etag"].to_str().unwrap().to_string()
        }));
    }
    let mut complete = String::from("<CompleteMultipartUpload>");
    for (i, upload) in uploads.into_iter().enumerate() {
        let etag = upload.await.unwrap();
        complete.push_str(&format!(
            "<Part><PartNumber>{}</PartNumber><ETag>{etag}</ETag></Part>",
            i + 1
        ));
    }
    complete.push_str("</CompleteMultipartUpload>");
    s3.expect(
        "POST",
        &format!("/race/mp?uploadId={upload_id}"),
        complete.into_bytes(),
        200,
    )
    .await;
    assert_eq!(s3.get("race", "mp").await, parts.concat());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_aws_chunked_uploads_and_virtual_hosts() {
    use kumo_auth::sigv4;
    let cloud = Cloud::start_storage(2).await;
    let (_, key, secret) = cloud.tenant("alice").await;
    let s3 = S3::new(&cloud, &key, &secret);
    s3.expect("PUT", "/streaming", Vec::new(), 200).await;

    // STREAMING-AWS4-HMAC-SHA256-PAYLOAD, as the Java and Go SDKs send it: each chunk
    // signed, chained on the seed signature of the Authorization header.
    let data = pattern(2 * 64 * KIB + 1000, 70);
    let put_streaming = |key: &'static str, tamper: bool| {
        let s3 = &s3;
        let data = data.clone();
        let secret = secret.clone();
        async move {
            let time = chrono::Utc::now();
            let amz_date = sigv4::format_amz_date(time);
            let date = &amz_date[..8];
            let scope = sigv4::credential_scope(date, "us-east-1", "s3");
            let signing_key = sigv4::signing_key(&secret, date, "us-east-1", "s3");
            let pieces: Vec<&[u8]> = data.chunks(64 * KIB).chain([&[][..]]).collect();
            // The encoded length is part of the signed request: compute it first.
            let signature_len = 64;
            let encoded_len: usize = pieces
                .iter()
                .map(|p| {
                    format!("{:x}", p.len()).len()
                        + ";chunk-signature=".len()
                        + signature_len
                        + 2
                        + p.len()
                        + 2
                })
                .sum();
            let headers = vec![
                ("host".to_string(), s3.host.clone()),
                ("content-encoding".to_string(), "aws-chunked".to_string()),
                (
                    "x-amz-content-sha256".to_string(),
                    sigv4::STREAMING_PAYLOAD.to_string(),
                ),
                (
                    "x-amz-decoded-content-length".to_string(),
                    data.len().to_string(),
                ),
                ("content-length".to_string(), encoded_len.to_string()),
            ];
            let uri = format!("/streaming/{key}");
            let signed = sigv4::sign_request(
                "PUT",
                &uri,
                &headers,
                b"",
                &s3.key,
                &secret,
                "us-east-1",
                "s3",
                time,
            );
            let authorization = &signed.iter().find(|(n, _)| n == "authorization").unwrap().1;
            let mut previous = authorization
                .rsplit("Signature=")
                .next()
                .unwrap()
                .to_string();
            let mut body = Vec::with_capacity(encoded_len);
            for piece in &pieces {
                let signature =
                    sigv4::chunk_signature(&signing_key, &amz_date, &scope, &previous, piece);
                body.extend_from_slice(
                    format!("{:x};chunk-signature={signature}\r\n", piece.len()).as_bytes(),
                );
                body.extend_from_slice(piece);
                body.extend_from_slice(b"\r\n");
                previous = signature;
            }
            assert_eq!(body.len(), encoded_len);
            if tamper {
                // One byte of the second chunk's data changes after signing.
                let at = body.len() / 2;
                body[at] ^= 0xff;
            }
            let mut request = s3.http.put(format!("{}{uri}", s3.endpoint)).body(body);
            for (name, value) in headers.iter().skip(1).chain(&signed) {
                request = request.header(name.as_str(), value.as_str());
            }
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let (status, text) = put_streaming("signed", false).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(s3.get("streaming", "signed").await, data);
    let head = s3
        .expect("HEAD", "/streaming/signed", Vec::new(), 200)
        .await;
    assert_eq!(
        head.headers["content-length"],
        data.len().to_string().as_str()
    );
    assert!(
        head.headers.get("content-encoding").is_none(),
        "aws-chunked is not stored"
    );
    let (status, text) = put_streaming("tampered", true).await;
    assert_eq!(status, 403, "{text}");
    assert!(
        text.contains("<Code>SignatureDoesNotMatch</Code>"),
        "{text}"
    );
    s3.expect("HEAD", "/streaming/tampered", Vec::new(), 404)
        .await;

    // Virtual-host-style addressing: the bucket in the Host header.
    let vhost = format!("vhost-bucket.s3.localhost:{}", cloud.port);
    let host = [("host", vhost.as_str())];
    let created = s3.send_with("PUT", "/", Vec::new(), &host).await;
    assert_eq!(created.status, 200, "{}", created.text());
    let put = s3
        .send_with("PUT", "/dir/obj.txt", b"virtual".to_vec(), &host)
        .await;
    assert_eq!(put.status, 200, "{}", put.text());
    assert_eq!(s3.get("vhost-bucket", "dir/obj.txt").await, b"virtual");
    let got = s3.send_with("GET", "/dir/obj.txt", Vec::new(), &host).await;
    assert_eq!((got.status, got.body.as_slice()), (200, &b"virtual"[..]));
    let listed = s3
        .send_with("GET", "/?list-type=2&prefix=dir%2F", Vec::new(), &host)
        .await;
    assert_eq!(listed.status, 200);
    assert!(
        listed.text().contains("<Key>dir/obj.txt</Key>"),
        "{}",
        listed.text()
    );
    assert!(listed.text().contains("<Name>vhost-bucket</Name>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_collection_racing_a_reupload_keeps_the_new_copy() {
    let config = kumo_object_storage::ObjectStorageConfig {
        node_timeout: Duration::from_secs(HUNG_NODE_TIMEOUT_SECS),
        ..storage_test_config(3)
    };
    let mut cloud = Cloud::start_storage_with(3, config).await;
    let (_, key, secret) = cloud.tenant("alice").await;
    let s3 = S3::new(&cloud, &key, &secret);
    s3.expect("PUT", "/gc-race", Vec::new(), 200).await;
    let data = pattern(CHUNK / 2, 80);
    s3.put("gc-race", "old", &data).await;
    let chunk = chunks_of(&cloud, "gc-race", "old").await.remove(0);
    s3.expect("DELETE", "/gc-race/old", Vec::new(), 204).await;
    // Written long ago, unreferenced now: garbage.
    sqlx::query("UPDATE object_storage.chunks SET last_written_at = now() - interval '2 hours'")
        .execute(&cloud.object_storage.pool)
        .await
        .unwrap();
    // One holder hangs, so collection takes a while (the node timeout) once it started: the
    // first in the chunk's rendezvous order (the order its replicas were recorded in, so a
    // collector walking them one by one meets it before the others).
    let holders = replicas_of(&cloud, &chunk).await;
    let hung = holders
        .iter()
        .max_by_key(|node_id| sha256_hex(format!("{chunk}{node_id}").as_bytes()))
        .unwrap()
        .clone();
    let index = node_index(&cloud, &hung);
    cloud.storage_nodes[index].shutdown().await;
    sqlx::query(
        "UPDATE object_storage.nodes SET address = $2, last_heartbeat_at = now() + interval '1 hour'
         WHERE node_id = $1",
    )
    .bind(&hung)
    .bind(black_hole().await)
    .execute(&cloud.object_storage.pool)
    .await
    .unwrap();
    let storage = cloud.object_storage.clone();
    let collection = tokio::spawn(async move {
        kumo_object_storage::gc::collect(&storage, Duration::from_secs(3600)).await
    });
    // Wait until collection has claimed the chunk: its row gone, or locked (a row's xmax
    // names the transaction holding it; reading it takes no lock that could get in the way)...
    let pool = cloud.object_storage.pool.clone();
    eventually("garbage collection claims the chunk", || {
        let (pool, chunk) = (pool.clone(), chunk.clone());
        async move {
            let xmax: Option<String> = sqlx::query_scalar(
                "SELECT xmax::text FROM object_storage.chunks WHERE sha256 = $1",
            )
            .bind(&chunk)
            .fetch_optional(&pool)
            .await
            .unwrap();
            xmax.is_none_or(|x| x != "0")
        }
    })
    .await;
    // ...then upload the same bytes again: the new object must keep them.
    s3.put("gc-race", "again", &data).await;
    let report = collection.await.unwrap().unwrap();
    assert_eq!(report.chunks_deleted, 1, "{report:?}");
    assert_eq!(s3.get("gc-race", "again").await, data);
    let replicas = replicas_of(&cloud, &chunk).await;
    for node in cloud.storage_nodes.iter().filter(|n| n.is_running()) {
        assert!(
            replicas.contains(&node.node_id),
            "recorded on {}",
            node.name
        );
        assert!(
            intact(&node.chunk_path(&chunk), &chunk),
            "the re-uploaded chunk survived on {}",
            node.name
        );
    }
}

/// The S3 error code of a response body (`<Code>…</Code>`).
fn s3_code(response: &S3Response) -> String {
    let text = response.text();
    text.split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| code.to_string())
        .unwrap_or_default()
}

/// Hostile inputs on the S3 facade and the native API (issue 7): NUL and other refused
/// characters in every field answer 4xx with S3's code (never 5xx, nothing stored);
/// undecodable keys are refused, never decoded lossily; DeleteObjects keys are bytes (never
/// trimmed); requests for features Kumo lacks are refused before anything is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_s3_inputs_are_refused() {
    let cloud = Cloud::start_storage(1).await;
    let (alice, key, secret) = cloud.tenant("alice").await;
    let s3 = S3::new(&cloud, &key, &secret);
    s3.expect("PUT", "/hostile", Vec::new(), 200).await;
    s3.put("hostile", "k", b"data").await;
    let refused = |response: &S3Response, status: u16, code: &str, what: &str| {
        assert_eq!(
            (response.status, s3_code(response).as_str()),
            (status, code),
            "{what}: {}",
            response.text()
        );
    };

    // NUL (and other refused characters) in the key, in every kind of query parameter.
    for (method, uri, status, code) in [
        ("PUT", "/hostile/a%00b", 400, "InvalidArgument"),
        ("GET", "/hostile/a%00b", 400, "InvalidArgument"),
        ("HEAD", "/hostile/a%01b", 400, ""),
        ("DELETE", "/hostile/a%00b", 400, "InvalidArgument"),
        ("POST", "/hostile/a%00b?uploads", 400, "InvalidArgument"),
        ("GET", "/hostile?prefix=%00", 400, "InvalidArgument"),
        ("GET", "/hostile?delimiter=%00", 400, "InvalidArgument"),
        ("GET", "/hostile?marker=a%00", 400, "InvalidArgument"),
        (
            "GET",
            "/hostile?list-type=2&start-after=%00",
            400,
            "InvalidArgument",
        ),
        (
            "GET",
            "/hostile?list-type=2&continuation-token=%00",
            400,
            "InvalidArgument",
        ),
        (
            "GET",
            "/hostile?versions&key-marker=%00",
            400,
            "InvalidArgument",
        ),
        (
            "GET",
            "/hostile?versions&key-marker=k&version-id-marker=%00",
            400,
            "InvalidArgument",
        ),
        (
            "GET",
            "/hostile?uploads&key-marker=%00",
            400,
            "InvalidArgument",
        ),
        (
            "GET",
            "/hostile?uploads&key-marker=k&upload-id-marker=%00",
            400,
            "InvalidArgument",
        ),
        ("GET", "/hostile/k?versionId=%00", 400, "InvalidArgument"),
        (
            "DELETE",
            "/hostile/k?versionId=a%00",
            400,
            "InvalidArgument",
        ),
        (
            "GET",
            "/hostile/k?tagging&versionId=%00",
            400,
            "InvalidArgument",
        ),
        ("GET", "/hostile/k?uploadId=%00", 404, "NoSuchUpload"),
        (
            "PUT",
            "/hostile/k?uploadId=%00&partNumber=1",
            404,
            "NoSuchUpload",
        ),
        ("DELETE", "/hostile/k?uploadId=%00", 404, "NoSuchUpload"),
        ("POST", "/hostile/k?uploadId=%00", 404, "NoSuchUpload"),
        (
            "GET",
            "/hostile/k?response-content-type=a%00",
            400,
            "InvalidArgument",
        ),
        ("GET", "/hos%00tile", 404, "NoSuchBucket"),
        ("GET", "/hos%00tile/k", 404, "NoSuchBucket"),
        ("GET", "/hostile?prefix=%7F", 400, "InvalidArgument"),
        ("GET", "/hostile?prefix=%EF%BF%BF", 400, "InvalidArgument"),
    ] {
        let response = s3.send(method, uri, Vec::new()).await;
        refused(&response, status, code, &format!("{method} {uri}"));
    }
    let long_key = "k".repeat(1025);
    let response = s3
        .send("PUT", &format!("/hostile/{long_key}"), b"x".to_vec())
        .await;
    refused(&response, 400, "KeyTooLongError", "a 1025-byte key");
    let response = s3
        .send("GET", &format!("/hostile?prefix={long_key}"), Vec::new())
        .await;
    refused(&response, 400, "InvalidArgument", "a 1025-byte prefix");

    // Copy sources and tagging: the key, version id and tags are checked like the rest.
    for (source, code) in [
        ("/hostile/a%00b", "InvalidArgument"),
        ("/hostile/k?versionId=%00", "InvalidArgument"),
        ("/hostile/a%FFb", "InvalidArgument"),
        ("/hos%00tile/k", "NoSuchBucket"),
    ] {
        let response = s3
            .send_with(
                "PUT",
                "/hostile/copy",
                Vec::new(),
                &[("x-amz-copy-source", source)],
            )
            .await;
        let status = if code == "NoSuchBucket" { 404 } else { 400 };
        refused(&response, status, code, &format!("copy source {source}"));
    }
    let response = s3
        .send_with(
            "PUT",
            "/hostile/t",
            b"x".to_vec(),
            &[("x-amz-tagging", "a=%00")],
        )
        .await;
    refused(&response, 400, "InvalidTag", "x-amz-tagging with a NUL");
    let response = s3
        .send_with(
            "PUT",
            "/hostile/t",
            b"x".to_vec(),
            &[("x-amz-tagging", "a=%FF")],
        )
        .await;
    refused(
        &response,
        400,
        "InvalidTag",
        "x-amz-tagging with invalid UTF-8",
    );
    let tagging = |key: &str, value: &str| {
        format!(
            "<Tagging><TagSet><Tag><Key>{key}</Key><Value>{value}</Value></Tag></TagSet></Tagging>"
        )
        .into_bytes()
    };
    for (body, code) in [
        (tagging("a&#0;", "v"), "MalformedXML"),
        (tagging("a", "\u{1}"), "MalformedXML"),
        (tagging("a&#x7F;", "v"), "InvalidTag"),
        (tagging("a", "v&#x85;"), "InvalidTag"),
        (tagging(&"k".repeat(129), "v"), "InvalidTag"),
        (tagging("k", &"v".repeat(257)), "InvalidTag"),
    ] {
        let response = s3.send("PUT", "/hostile/k?tagging", body.clone()).await;
        refused(&response, 400, code, &String::from_utf8_lossy(&body));
        let response = s3.send("PUT", "/hostile?tagging", body.clone()).await;
        refused(&response, 400, code, "bucket tagging");
    }
    let eleven: String = (0..11)
        .map(|i| format!("<Tag><Key>k{i}</Key><Value>v</Value></Tag>"))
        .collect();
    let response = s3
        .send(
            "PUT",
            "/hostile/k?tagging",
            format!("<Tagging><TagSet>{eleven}</TagSet></Tagging>").into_bytes(),
        )
        .await;
    refused(&response, 400, "InvalidTag", "11 object tags");
    let response = s3
        .send_with(
            "PUT",
            "/hostile/meta",
            b"x".to_vec(),
            &[("x-amz-meta-big", &"m".repeat(2100))],
        )
        .await;
    refused(&response, 400, "MetadataTooLarge", "2 KiB of metadata");

    // Keys are decoded strictly: %FF and %FE never become the same key.
    let response = s3
        .send("PUT", "/hostile/lossy%FFkey", b"first".to_vec())
        .await;
    refused(&response, 400, "InvalidURI", "PUT lossy%FFkey");
    let response = s3.send("GET", "/hostile/lossy%FEkey", Vec::new()).await;
    refused(&response, 400, "InvalidURI", "GET lossy%FEkey");
    let response = s3.send("GET", "/hostile?prefix=%FF", Vec::new()).await;
    refused(&response, 400, "InvalidURI", "prefix %FF");
    let listing = s3
        .expect("GET", "/hostile?list-type=2", Vec::new(), 200)
        .await
        .text();
    assert!(!listing.contains("lossy"), "{listing}");

    // DeleteObjects takes keys exactly: ' ', 'x ' and ' y' are deleted, all three.
    for name in ["%20", "x%20", "%20y"] {
        s3.put("hostile", name, b"w").await;
    }
    let delete = "<Delete><Object><Key> </Key></Object><Object><Key>x </Key></Object><Object><Key> y</Key></Object></Delete>";
    let response = s3
        .expect("POST", "/hostile?delete", delete.as_bytes().to_vec(), 200)
        .await
        .text();
    for key in ["<Key> </Key>", "<Key>x </Key>", "<Key> y</Key>"] {
        assert!(
            response.contains(&format!("<Deleted>{key}")),
            "{key}: {response}"
        );
    }
    let listing = s3
        .expect("GET", "/hostile?list-type=2", Vec::new(), 200)
        .await
        .text();
    assert!(
        listing.contains("<KeyCount>1</KeyCount>"),
        "only k remains: {listing}"
    );
    // A refused key, version id or an over-long key is that key's error; internal details
    // never reach the client.
    let delete = format!(
        "<Delete><Object><Key>a&#x7F;</Key></Object><Object><Key>k</Key><VersionId>&#x1F;</VersionId></Object><Object><Key>{long_key}</Key></Object></Delete>"
    );
    let response = s3
        .send("POST", "/hostile?delete", delete.into_bytes())
        .await;
    // &#x1F; is not an XML character: the whole document is refused.
    refused(
        &response,
        400,
        "MalformedXML",
        "a control character reference",
    );
    let delete = format!(
        "<Delete><Object><Key>a&#x7F;</Key></Object><Object><Key>k</Key><VersionId>v&#x80;</VersionId></Object><Object><Key>{long_key}</Key></Object></Delete>"
    );
    let response = s3
        .expect("POST", "/hostile?delete", delete.into_bytes(), 200)
        .await
        .text();
    assert_eq!(response.matches("<Error>").count(), 3, "{response}");
    assert!(
        response.contains("<Code>InvalidArgument</Code>"),
        "{response}"
    );
    assert!(
        response.contains("<Code>KeyTooLongError</Code>"),
        "{response}"
    );
    assert!(
        !response.contains("catalog") && !response.contains("0x00"),
        "{response}"
    );
    let response = s3
        .send("POST", "/hostile?delete", b"<Delete>\0</Delete>".to_vec())
        .await;
    refused(&response, 400, "MalformedXML", "a raw NUL in a document");
    let many: String = (0..1001)
        .map(|i| format!("<Object><Key>m{i}</Key></Object>"))
        .collect();
    let response = s3
        .send(
            "POST",
            "/hostile?delete",
            format!("<Delete>{many}</Delete>").into_bytes(),
        )
        .await;
    refused(&response, 400, "MalformedXML", "1001 keys");

    // Encryption: refused before anything is stored, and never served without the key.
    let sse_c = [
        ("x-amz-server-side-encryption-customer-algorithm", "AES256"),
        (
            "x-amz-server-side-encryption-customer-key",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        ),
        (
            "x-amz-server-side-encryption-customer-key-md5",
            "zZ5FnqcIqUjVwvWmyog4zw==",
        ),
    ];
    let response = s3
        .send_with("PUT", "/hostile/secret", b"plaintext".to_vec(), &sse_c)
        .await;
    refused(&response, 501, "NotImplemented", "SSE-C PutObject");
    let response = s3.send("GET", "/hostile/secret", Vec::new()).await;
    refused(
        &response,
        404,
        "NoSuchKey",
        "nothing stored by a refused SSE-C PUT",
    );
    let response = s3.send_with("GET", "/hostile/k", Vec::new(), &sse_c).await;
    refused(&response, 501, "NotImplemented", "SSE-C GetObject");
    for (name, value) in [
        ("x-amz-server-side-encryption", "AES256"),
        ("x-amz-server-side-encryption", "aws:kms"),
        ("x-amz-server-side-encryption-aws-kms-key-id", "k"),
        ("x-amz-object-lock-mode", "GOVERNANCE"),
        ("x-amz-object-lock-legal-hold", "ON"),
        ("x-amz-grant-read", "id=x"),
        ("x-amz-acl", "public-read"),
        ("x-amz-storage-class", "GLACIER"),
        ("x-amz-website-redirect-location", "/x"),
    ] {
        for (method, uri) in [("PUT", "/hostile/enc"), ("POST", "/hostile/enc?uploads")] {
            let response = s3
                .send_with(method, uri, b"x".to_vec(), &[(name, value)])
                .await;
            refused(
                &response,
                501,
                "NotImplemented",
                &format!("{method} {uri} {name}"),
            );
        }
        let response = s3
            .send_with(
                "PUT",
                "/hostile/enc",
                Vec::new(),
                &[("x-amz-copy-source", "/hostile/k"), (name, value)],
            )
            .await;
        refused(
            &response,
            501,
            "NotImplemented",
            &format!("CopyObject {name}"),
        );
    }
    let response = s3
        .send_with(
            "PUT",
            "/hostile/enc",
            Vec::new(),
            &[
                ("x-amz-copy-source", "/hostile/k"),
                (
                    "x-amz-copy-source-server-side-encryption-customer-algorithm",
                    "AES256",
                ),
            ],
        )
        .await;
    refused(&response, 501, "NotImplemented", "SSE-C copy source");
    let response = s3.send("GET", "/hostile/enc", Vec::new()).await;
    refused(
        &response,
        404,
        "NoSuchKey",
        "nothing stored by refused requests",
    );
    // What Kumo does anyway is accepted: the private canned ACL, STANDARD.
    s3.send_with(
        "PUT",
        "/hostile/plain",
        b"x".to_vec(),
        &[
            ("x-amz-acl", "private"),
            ("x-amz-storage-class", "STANDARD"),
        ],
    )
    .await;
    s3.get("hostile", "plain").await;
    // Another owner expected: refused.
    let response = s3
        .send_with(
            "GET",
            "/hostile/k",
            Vec::new(),
            &[("x-amz-expected-bucket-owner", "999999999999")],
        )
        .await;
    refused(
        &response,
        403,
        "AccessDenied",
        "another expected bucket owner",
    );
    let response = s3
        .send_with(
            "GET",
            "/hostile/k",
            Vec::new(),
            &[("x-amz-expected-bucket-owner", &alice.account_id)],
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text());

    // Object lock, configurations Kumo does not keep: refused, no bucket created.
    let response = s3
        .send_with(
            "PUT",
            "/locked",
            Vec::new(),
            &[("x-amz-bucket-object-lock-enabled", "true")],
        )
        .await;
    refused(
        &response,
        501,
        "NotImplemented",
        "CreateBucket with object lock",
    );
    let response = s3.send("HEAD", "/locked", Vec::new()).await;
    assert_eq!(response.status, 404, "no bucket created");
    for (name, value) in [
        ("x-amz-grant-full-control", "id=x"),
        ("x-amz-acl", "public-read-write"),
        ("x-amz-object-ownership", "ObjectWriter"),
    ] {
        let response = s3
            .send_with("PUT", "/granted", Vec::new(), &[(name, value)])
            .await;
        refused(
            &response,
            501,
            "NotImplemented",
            &format!("CreateBucket {name}"),
        );
    }
    let response = s3.send("HEAD", "/granted", Vec::new()).await;
    assert_eq!(response.status, 404, "no bucket created");
    for sub in [
        "encryption",
        "policy",
        "lifecycle",
        "cors",
        "website",
        "replication",
        "object-lock",
        "acl",
        "publicAccessBlock",
        "notification",
        "logging",
    ] {
        let response = s3
            .send("PUT", &format!("/hostile?{sub}"), b"<X/>".to_vec())
            .await;
        refused(&response, 501, "NotImplemented", &format!("PUT ?{sub}"));
    }
    let response = s3
        .send(
            "PUT",
            "/hostile?versioning",
            b"<VersioningConfiguration><Status>Enabled</Status><MfaDelete>Enabled</MfaDelete></VersioningConfiguration>".to_vec(),
        )
        .await;
    refused(&response, 501, "NotImplemented", "MFA delete");
    for sub in ["retention", "legal-hold", "acl"] {
        let response = s3
            .send("PUT", &format!("/hostile/k?{sub}"), b"<X/>".to_vec())
            .await;
        refused(
            &response,
            501,
            "NotImplemented",
            &format!("PUT object ?{sub}"),
        );
    }
    let response = s3.send("DELETE", "/hostile?bogus", Vec::new()).await;
    refused(
        &response,
        501,
        "NotImplemented",
        "DELETE of an unknown sub-resource",
    );
    s3.expect("HEAD", "/hostile", Vec::new(), 200).await;

    // The native API: the same key, bucket and listing rules.
    kumo_identity::users::insert(
        &cloud.identity.pool,
        &alice.account_id,
        "web",
        kumo_auth::Role::Admin,
        Some("a-long-enough-password"),
    )
    .await
    .unwrap();
    let token = cloud
        .login(&alice.account_id, "web", "a-long-enough-password")
        .await;
    let http = reqwest::Client::new();
    for (method, path, status) in [
        ("PUT", "/v1/buckets/hostile/objects/a%00b", 400),
        ("GET", "/v1/buckets/hostile/objects/a%00b", 400),
        ("DELETE", "/v1/buckets/hostile/objects/a%01b", 400),
        ("GET", "/v1/buckets/hostile/objects?prefix=%00", 400),
        ("GET", "/v1/buckets/hostile/objects?delimiter=%00", 400),
        ("GET", "/v1/buckets/hostile/objects?after=%00", 400),
        ("GET", "/v1/buckets/hos%00tile/objects", 400),
        ("DELETE", "/v1/buckets/hos%00tile", 400),
        ("GET", "/v1/buckets/hos%01tile/objects", 400),
        ("GET", "/v1/buckets/hostile/objects?prefix=%FF", 400),
    ] {
        let response = http
            .request(method.parse().unwrap(), format!("{}{path}", cloud.endpoint))
            .bearer_auth(&token)
            .body(b"x".to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status().as_u16(),
            status,
            "{method} {path}: {}",
            response.text().await.unwrap_or_default()
        );
    }
    let operator = cloud.operator_token().await;
    let response = http
        .post(format!("{}/v1/storage/nodes/a%00b/disable", cloud.endpoint))
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_client_error(),
        "a NUL node id: {}",
        response.status()
    );
}
