//! The instance metadata service: callers told apart by source address, IMDSv1 and v2.
//! The first test serves the router on loopback (instances are 127.0.0.x source
//! addresses); the second runs the real listener (169.254.169.254:80, SO_BINDTODEVICE)
//! on bridges inside a throw-away network namespace and asks from instance namespaces.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;

use kumo_compute_node::metadata::MetadataService;
use kumo_compute_node::network::HostNetwork;
use kumo_compute_protocol::{InstanceMetadata, NetworkAttachment};
use reqwest::StatusCode;

const BRIDGE: &str = "kb-test0001";

fn metadata(id: &str, ip: Ipv4Addr, with_extras: bool) -> InstanceMetadata {
    InstanceMetadata {
        instance_id: id.to_string(),
        instance_type: "t3.micro".into(),
        ami_id: "ami-0123456789abcdef0".into(),
        reservation_id: "r-0123456789abcdef0".into(),
        account_id: "123456789012".into(),
        availability_zone: "kumo-1a".into(),
        region: "kumo-1".into(),
        local_ipv4: ip,
        mac: "02:00:0a:00:00:02".into(),
        hostname: format!(
            "ip-{}.kumo-1.compute.internal",
            ip.to_string().replace('.', "-")
        ),
        public_keys: if with_extras {
            vec![("my-key".into(), "ssh-ed25519 AAAAC3Nza test@kumo".into())]
        } else {
            vec![]
        },
        user_data: with_extras.then(|| b"#!/bin/sh\necho hello\n".to_vec()),
    }
}

/// A client whose requests come from `ip`, never through a proxy.
fn client_from(ip: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(ip))
        .no_proxy()
        .build()
        .unwrap()
}

async fn serve(svc: &MetadataService, bridge: &str) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = svc
        .router_for(bridge)
        .into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn get(c: &reqwest::Client, base: &str, path: &str) -> (StatusCode, String) {
    let r = c.get(format!("{base}{path}")).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

#[tokio::test]
async fn answers_only_the_caller_v1_and_v2() {
    let svc = MetadataService::new();
    let me = Ipv4Addr::new(127, 0, 0, 2);
    let other = Ipv4Addr::new(127, 0, 0, 3);
    let stranger = Ipv4Addr::new(127, 0, 0, 4);
    svc.register(BRIDGE, metadata("i-aaaaaaaaaaaaaaaa1", me, true));
    svc.register(BRIDGE, metadata("i-bbbbbbbbbbbbbbbb2", other, false));
    let base = format!("http://{}", serve(&svc, BRIDGE).await);
    let c = client_from(me);

    // IMDSv1: every documented path, as text/plain.
    let r = c
        .get(format!("{base}/latest/meta-data/instance-id"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain");
    assert_eq!(r.text().await.unwrap(), "i-aaaaaaaaaaaaaaaa1");
    for (path, want) in [
        ("/latest/meta-data/instance-type", "t3.micro"),
        ("/latest/meta-data/ami-id", "ami-0123456789abcdef0"),
        ("/latest/meta-data/reservation-id", "r-0123456789abcdef0"),
        ("/latest/meta-data/local-ipv4", "127.0.0.2"),
        ("/latest/meta-data/mac", "02:00:0a:00:00:02"),
        (
            "/latest/meta-data/hostname",
            "ip-127-0-0-2.kumo-1.compute.internal",
        ),
        (
            "/latest/meta-data/local-hostname",
            "ip-127-0-0-2.kumo-1.compute.internal",
        ),
        ("/latest/meta-data/placement/availability-zone", "kumo-1a"),
        ("/latest/meta-data/placement/region", "kumo-1"),
        ("/latest/meta-data/public-keys/", "0=my-key"),
        ("/latest/meta-data/public-keys/0/", "openssh-key"),
        (
            "/latest/meta-data/public-keys/0/openssh-key",
            "ssh-ed25519 AAAAC3Nza test@kumo",
        ),
        ("/latest/user-data", "#!/bin/sh\necho hello\n"),
    ] {
        assert_eq!(
            get(&c, &base, path).await,
            (StatusCode::OK, want.into()),
            "{path}"
        );
    }
    let (status, listing) = get(&c, &base, "/latest/meta-data/").await;
    assert_eq!(status, 200);
    let lines: Vec<&str> = listing.lines().collect();
    for item in [
        "instance-id",
        "local-ipv4",
        "placement/",
        "public-keys/",
        "ami-id",
    ] {
        assert!(lines.contains(&item), "{item} in {listing}");
    }
    let (status, doc) = get(&c, &base, "/latest/dynamic/instance-identity/document").await;
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(doc["accountId"], "123456789012");
    assert_eq!(doc["instanceId"], "i-aaaaaaaaaaaaaaaa1");
    assert_eq!(doc["instanceType"], "t3.micro");
    assert_eq!(doc["imageId"], "ami-0123456789abcdef0");
    assert_eq!(doc["region"], "kumo-1");
    assert_eq!(doc["availabilityZone"], "kumo-1a");
    assert_eq!(doc["privateIp"], "127.0.0.2");
    assert_eq!(get(&c, &base, "/latest/meta-data/nope").await.0, 404);
    assert_eq!(
        get(&c, &base, "/latest/meta-data/public-keys/1/openssh-key")
            .await
            .0,
        404
    );

    // Another instance sees only itself; it has no user data and no keys.
    let c_other = client_from(other);
    assert_eq!(
        get(&c_other, &base, "/latest/meta-data/instance-id").await,
        (StatusCode::OK, "i-bbbbbbbbbbbbbbbb2".into())
    );
    assert_eq!(get(&c_other, &base, "/latest/user-data").await.0, 404);
    assert_eq!(
        get(&c_other, &base, "/latest/meta-data/public-keys/")
            .await
            .0,
        404
    );
    // An unknown address gets nothing at all.
    let c_stranger = client_from(stranger);
    assert_eq!(
        get(&c_stranger, &base, "/latest/meta-data/instance-id")
            .await
            .0,
        404
    );
    assert_eq!(get(&c_stranger, &base, "/latest/meta-data/").await.0, 404);
    let r = c_stranger
        .put(format!("{base}/latest/api/token"))
        .header("X-aws-ec2-metadata-token-ttl-seconds", "60")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // The same address on another bridge is another caller.
    let base_other_bridge = format!("http://{}", serve(&svc, "kb-test0002").await);
    assert_eq!(
        get(&c, &base_other_bridge, "/latest/meta-data/instance-id")
            .await
            .0,
        404
    );

    // IMDSv2: a token for me…
    let r = c
        .put(format!("{base}/latest/api/token"))
        .header("X-aws-ec2-metadata-token-ttl-seconds", "60")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-aws-ec2-metadata-token-ttl-seconds"], "60");
    let token = r.text().await.unwrap();
    assert!(token.len() >= 32, "{token}");
    let r = c
        .get(format!("{base}/latest/meta-data/instance-id"))
        .header("X-aws-ec2-metadata-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "i-aaaaaaaaaaaaaaaa1");
    // …a wrong one, or mine presented by someone else, is refused.
    let r = c
        .get(format!("{base}/latest/meta-data/instance-id"))
        .header("X-aws-ec2-metadata-token", "not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c_other
        .get(format!("{base}/latest/meta-data/instance-id"))
        .header("X-aws-ec2-metadata-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Bad or missing TTLs.
    for ttl in [Some("0"), Some("21601"), Some("-5"), Some("abc"), None] {
        let mut req = c.put(format!("{base}/latest/api/token"));
        if let Some(ttl) = ttl {
            req = req.header("X-aws-ec2-metadata-token-ttl-seconds", ttl);
        }
        assert_eq!(req.send().await.unwrap().status(), 400, "ttl {ttl:?}");
    }
    let r = c
        .put(format!("{base}/latest/api/token"))
        .header("X-aws-ec2-metadata-token-ttl-seconds", "21600")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Only PUT gets a token.
    assert_eq!(get(&c, &base, "/latest/api/token").await.0, 405);
    // Through a proxy: refused.
    let r = c
        .put(format!("{base}/latest/api/token"))
        .header("X-aws-ec2-metadata-token-ttl-seconds", "60")
        .header("X-Forwarded-For", "10.0.0.9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = c
        .get(format!("{base}/latest/meta-data/instance-id"))
        .header("X-Forwarded-For", "10.0.0.9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // Tokens run out.
    let r = c
        .put(format!("{base}/latest/api/token"))
        .header("X-aws-ec2-metadata-token-ttl-seconds", "1")
        .send()
        .await
        .unwrap();
    let short = r.text().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let r = c
        .get(format!("{base}/latest/meta-data/instance-id"))
        .header("X-aws-ec2-metadata-token", &short)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Unregistered: gone, and so are its tokens.
    svc.unregister(BRIDGE, me);
    assert_eq!(get(&c, &base, "/latest/meta-data/instance-id").await.0, 404);
    svc.register(BRIDGE, metadata("i-aaaaaaaaaaaaaaaa1", me, true));
    let r = c
        .get(format!("{base}/latest/meta-data/instance-id"))
        .header("X-aws-ec2-metadata-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

/// Deletes a named network namespace when dropped (also when a test panics).
struct NetnsGuard(String);

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

fn att(bridge: &str, subnet: u8, host: u8) -> NetworkAttachment {
    NetworkAttachment {
        network_interface_id: String::new(),
        vpc_id: String::new(),
        subnet_id: format!("subnet-{subnet}"),
        bridge: bridge.to_string(),
        ip: Ipv4Addr::new(10, subnet, 0, host),
        prefix_len: 24,
        gateway: Ipv4Addr::new(10, subnet, 0, 1),
        mac: format!("02:00:0a:{subnet:02x}:00:{host:02x}"),
        dns_server: None,
        dns_domain: String::new(),
    }
}

/// `busybox wget` of a metadata path from inside an instance's namespace.
async fn wget_from(ns: &str, path: &str) -> (bool, String, String) {
    // (busybox 1.35's `wget -T` crashes: bound the wait with timeout(1) instead.)
    let out = tokio::process::Command::new("timeout")
        .args([
            "10", "ip", "netns", "exec", ns, "busybox", "wget", "-q", "-O", "-",
        ])
        .arg(format!("http://169.254.169.254{path}"))
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_on_each_bridge_serves_its_own_subnet() {
    let host = NetnsGuard(format!("kumo-t-{:08x}", rand::random::<u32>()));
    assert!(Command::new("ip")
        .args(["netns", "add", &host.0])
        .status()
        .unwrap()
        .success());
    let net = HostNetwork::in_netns(&host.0);
    let a = format!("i-f{:016x}", rand::random::<u64>());
    let b = format!("i-f{:016x}", rand::random::<u64>());
    let _ga = NetnsGuard(HostNetwork::netns_name(&a));
    let _gb = NetnsGuard(HostNetwork::netns_name(&b));
    let (att_a, att_b) = (att("kb-md000001", 21, 2), att("kb-md000002", 22, 2));
    net.attach_container(&a, &att_a).await.unwrap();
    net.attach_container(&b, &att_b).await.unwrap();

    // No VPC router here: the bridges play it.
    for (att, gateway) in [(&att_a, "10.21.0.1/24"), (&att_b, "10.22.0.1/24")] {
        kumo_compute_node::testing::gateway_on_bridge(&host.0, &att.bridge, gateway).unwrap();
    }
    let svc = MetadataService::in_netns(&host.0);
    svc.register(&att_a.bridge, metadata(&a, att_a.ip, true));
    // b's address is known on a's bridge only: b, on its own bridge, is a stranger.
    svc.register(
        &att_a.bridge,
        metadata("i-00000000deadbeef0", att_b.ip, false),
    );
    for _ in 0..2 {
        svc.ensure_listener(&att_a.bridge).await.unwrap();
        svc.ensure_listener(&att_b.bridge).await.unwrap();
    }

    let ns_a = HostNetwork::netns_name(&a);
    let ns_b = HostNetwork::netns_name(&b);
    let (ok, out, err) = wget_from(&ns_a, "/latest/meta-data/instance-id").await;
    assert!(ok, "{err}");
    assert_eq!(out, a);
    let (ok, out, err) = wget_from(&ns_a, "/latest/meta-data/local-ipv4").await;
    assert!(ok, "{err}");
    assert_eq!(out, "10.21.0.2");
    let (ok, _, err) = wget_from(&ns_b, "/latest/meta-data/instance-id").await;
    assert!(!ok);
    assert!(err.contains("404"), "{err}");

    // The listener is bound to the bridge inside the test namespace, not the machine's.
    svc.remove_listener(&att_b.bridge).await;
    svc.ensure_listener(&att_b.bridge).await.unwrap();
    svc.register(&att_b.bridge, metadata(&b, att_b.ip, false));
    let (ok, out, err) = wget_from(&ns_b, "/latest/meta-data/instance-id").await;
    assert!(ok, "{err}");
    assert_eq!(out, b);
    net.detach(&a).await.unwrap();
    net.detach(&b).await.unwrap();
}
