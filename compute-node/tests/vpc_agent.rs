//! The agent's network task: it long-polls `GET /v1/agent/network` (with the generation
//! it acted on), builds what the answer names in its host namespace, and removes it when
//! the answer no longer names it. The control plane is a small stand-in. Needs root,
//! iproute2 and nftables.
#![allow(clippy::unwrap_used)]

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Query;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use kumo_compute_node::agent::{Agent, AgentConfig};
use kumo_compute_node::testing::{Topology, UPLINK};
use kumo_compute_protocol::network::{router_netns, SubnetSpec, VpcLinkNames, VpcSpec};
use kumo_compute_protocol::{
    EnrolResponse, HostNetworkReport, HostNetworkSettings, HostNetworkSpec, SyncRequest,
    SyncResponse,
};

#[derive(Clone, Default)]
struct Plane {
    spec: Arc<Mutex<HostNetworkSpec>>,
    /// The `after` of every poll.
    polls: Arc<Mutex<Vec<Option<i64>>>>,
    /// What the agent reported about its underlay.
    reported: Arc<Mutex<Option<HostNetworkReport>>>,
}

#[derive(serde::Deserialize)]
struct After {
    after: Option<i64>,
}

impl Plane {
    async fn serve(&self, host_id: &str) -> String {
        let id = host_id.to_string();
        let enrol = post(move || async move {
            Json(EnrolResponse {
                host_id: id,
                node_token: "node-token".into(),
            })
        });
        let plane = self.clone();
        let sync = post(move |Json(req): Json<SyncRequest>| {
            let plane = plane.clone();
            async move {
                *plane.reported.lock().unwrap() = Some(req.network);
                Json(SyncResponse { instances: vec![] })
            }
        });
        let plane = self.clone();
        let network = get(move |Query(q): Query<After>| {
            let plane = plane.clone();
            async move {
                plane.polls.lock().unwrap().push(q.after);
                // A long poll in small: wait while the agent has the current generation.
                for _ in 0..10 {
                    let spec = plane.spec.lock().unwrap().clone();
                    if q.after != Some(spec.generation) {
                        return Json(spec);
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Json(plane.spec.lock().unwrap().clone())
            }
        });
        let app = Router::new()
            .route("/v1/agent/enrol", enrol)
            .route("/v1/agent/sync", sync)
            .route("/v1/agent/network", network)
            .route("/v1/agent/console", put(|| async { "" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }
}

fn ip_out(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn wait(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_network_task_builds_and_removes_a_vpc() {
    let prefix = format!("ka{:04x}", rand::random::<u16>());
    let topo = Topology::create(&prefix, 1).unwrap();
    let host_ns = topo.host_netns(1);
    let host_id = format!("h-agentvpc{:08x}", rand::random::<u32>());
    topo.adopt_owner(&host_id);
    let tmp = tempfile::tempdir().unwrap();

    let vpc_id = format!("vpc-{:017x}", rand::random::<u64>() >> 4);
    let names = VpcLinkNames::for_vpc(&vpc_id);
    let router = router_netns(&host_id, &vpc_id);
    let plane = Plane::default();
    *plane.spec.lock().unwrap() = HostNetworkSpec {
        generation: 7,
        host: HostNetworkSettings {
            vtep_address: Some(Topology::vtep(1)),
            uplink: Some(UPLINK.into()),
        },
        vpcs: vec![VpcSpec {
            vpc_id: vpc_id.clone(),
            vni: 4242,
            bridge: names.bridge.clone(),
            vxlan: names.vxlan.clone(),
            router_netns: router.clone(),
            cidr_blocks: vec!["10.9.0.0/16".into()],
            dns_address: None,
            dns_domain: "ec2.internal".into(),
            subnets: vec![SubnetSpec {
                subnet_id: "subnet-0a".into(),
                cidr_block: "10.9.1.0/24".into(),
                gateway: Ipv4Addr::new(10, 9, 1, 1),
                prefix_len: 24,
                internet_gateway: true,
            }],
            interfaces: vec![],
            remote_interfaces: vec![],
            security_groups: vec![],
        }],
    };
    let url = plane.serve(&host_id).await;
    let mut config = AgentConfig::new(&url, tmp.path().join("state"));
    config.join_token = Some("join".into());
    config.host_netns = Some(host_ns.clone());
    config.vtep_address = Some(Topology::vtep(1));
    config.uplink = Some(UPLINK.into());
    config.sync_interval = Duration::from_millis(200);
    let agent = Agent::start(config).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(agent.run_until(async {
        let _ = stopped.await;
    }));

    // Built: bridge, VXLAN, gateway port, transit, the router with its gateway.
    wait("the VPC's router and transit", || {
        ip_out(&["-n", &router, "-4", "addr", "show", "dev", "gw"]).contains("10.9.1.1/24")
            && ip_out(&["-n", &router, "-4", "addr", "show", "dev", "up"]).contains("169.254.255.2")
    })
    .await;
    let links = ip_out(&["-n", &host_ns, "-br", "link", "show"]);
    for link in [
        &names.bridge,
        &names.vxlan,
        &names.gateway_port,
        &names.transit,
    ] {
        assert!(links.contains(link.as_str()), "{link} missing:\n{links}");
    }
    let gw = ip_out(&["-n", &router, "-4", "addr", "show", "dev", "gw"]);
    assert!(gw.contains("169.254.169.254/32"), "{gw}");
    // The underlay is reported; the next poll waits on the generation acted on.
    wait("the underlay reported", || {
        plane.reported.lock().unwrap().is_some()
    })
    .await;
    assert_eq!(
        *plane.reported.lock().unwrap(),
        Some(HostNetworkReport {
            vtep_address: Some(Topology::vtep(1)),
            uplink: Some(UPLINK.to_string()),
        })
    );
    wait("a poll after generation 7", || {
        plane.polls.lock().unwrap().contains(&Some(7))
    })
    .await;

    // The VPC leaves the spec: all of it goes.
    {
        let mut spec = plane.spec.lock().unwrap();
        spec.generation = 8;
        spec.vpcs.clear();
    }
    wait("the VPC removed", || {
        !ip_out(&["netns", "list"]).contains(&router)
            && !ip_out(&["-n", &host_ns, "-br", "link", "show"]).contains(&names.bridge)
    })
    .await;
    let links = ip_out(&["-n", &host_ns, "-br", "link", "show"]);
    for prefix in ["kb-", "kx-", "kg-", "kr-"] {
        assert!(!links.contains(prefix), "{prefix}* left:\n{links}");
    }
    stop.send(()).unwrap();
    task.await.unwrap();
}
