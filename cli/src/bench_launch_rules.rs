//! The launch side of `kumo bench security-groups`: RunInstances through the EC2 facade
//! (compute wired to the network service, as in `kumo up`; no HTTP, no signing, no agent:
//! a simulated host row takes the placements) into a subnet, once with the VPC's default
//! group and once with a group of 1,000 inbound rules; then the data-plane spec the host's
//! agent would be sent (`host_plans::for_host`) with that group in it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use kumo_auth::Principal;
use kumo_common::QueryRequest;
use kumo_compute::{Compute, ComputeConfig};
use kumo_network::Network;

use crate::bench::percentile;

/// The simulated host: room for every launch of the run.
const HOST_ID: &str = "host-0000000000000bench";

fn request(action: &str, params: &[(&str, &str)]) -> QueryRequest {
    QueryRequest {
        action: action.into(),
        version: Some("2016-11-15".into()),
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
    }
}

/// The text of the first `<name>…</name>` in an EC2 answer.
fn element(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(xml[start..end].to_string())
}

async fn answer(response: axum::response::Response, action: &str) -> anyhow::Result<String> {
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 24).await?;
    let text = String::from_utf8_lossy(&body).into_owned();
    if !status.is_success() {
        bail!("{action} answered {status}: {text}");
    }
    Ok(text)
}

/// A launch tree: a subnet of `vpc_id`, an image, and a simulated host.
pub struct LaunchBench {
    compute: Compute,
    network: Network,
    caller: Principal,
    subnet_id: String,
    image_id: String,
    _rootfs: tempfile::TempDir,
}

impl LaunchBench {
    pub async fn new(network: &Network, caller: &Principal, vpc_id: &str) -> anyhow::Result<Self> {
        let compute = kumo_gateway::compose::compute_with_network(
            Compute::new(network.pool.clone(), ComputeConfig::default()),
            network,
        );
        sqlx::query(
            "INSERT INTO compute.hosts (host_id, name, zone, address, token_sha256, vcpus, memory_mib, disk_gib, kinds, last_heartbeat_at)
             VALUES ($1, 'bench-host', 'us-east-1a', '', '', 100000, 100000000, 100000,
                     ARRAY['vm', 'container'], now() + interval '1 hour')",
        )
        .bind(HOST_ID)
        .execute(&network.pool)
        .await
        .context("simulated host")?;
        let subnet = kumo_network::ec2::dispatch(
            network,
            Some(caller),
            &request(
                "CreateSubnet",
                &[
                    ("VpcId", vpc_id),
                    ("CidrBlock", "10.0.0.0/20"),
                    ("AvailabilityZone", "us-east-1a"),
                ],
            ),
        )
        .await;
        let subnet_id = element(&answer(subnet, "CreateSubnet").await?, "subnetId")
            .context("CreateSubnet's subnetId")?;
        // An empty tar archive (two zero blocks) is a valid, if bare, container rootfs.
        let rootfs = tempfile::Builder::new()
            .prefix("kumo-bench-rootfs-")
            .tempdir_in("/tmp")?;
        let tar = rootfs.path().join("rootfs.tar");
        std::fs::write(&tar, vec![0u8; 1024])?;
        // Host paths are for operators: the operator registers it as a public image.
        let operator = Principal {
            role: kumo_auth::Role::Operator,
            ..caller.clone()
        };
        let image = kumo_compute::images::register(
            &compute,
            &operator,
            &kumo_compute::images::RegisterImage {
                name: "bench-rootfs".into(),
                description: String::new(),
                location: tar.display().to_string(),
                public: true,
            },
        )
        .await
        .context("registering the bench image")?;
        Ok(Self {
            compute,
            network: network.clone(),
            caller: caller.clone(),
            subnet_id,
            image_id: image.image_id,
            _rootfs: rootfs,
        })
    }

    /// RunInstances (one container, in the subnet, in `group_id` or the VPC's default
    /// group) `runs` times; each instance is terminated before the next launch.
    pub async fn launch_latency(
        &self,
        group_id: Option<&str>,
        runs: usize,
    ) -> anyhow::Result<(Duration, Duration)> {
        let mut params = vec![
            ("ImageId", self.image_id.as_str()),
            ("InstanceType", "t3.micro"),
            ("MinCount", "1"),
            ("MaxCount", "1"),
            ("SubnetId", self.subnet_id.as_str()),
        ];
        if let Some(group_id) = group_id {
            params.push(("SecurityGroupId.1", group_id));
        }
        let run = request("RunInstances", &params);
        let mut latencies = Vec::with_capacity(runs);
        for _ in 0..runs {
            let started = Instant::now();
            let response =
                kumo_compute::ec2::dispatch(&self.compute, Some(&self.caller), &run).await;
            let elapsed = started.elapsed();
            let xml = answer(response, "RunInstances").await?;
            latencies.push(elapsed);
            let instance_id = element(&xml, "instanceId").context("RunInstances' instanceId")?;
            let terminate = request("TerminateInstances", &[("InstanceId.1", &instance_id)]);
            let response =
                kumo_compute::ec2::dispatch(&self.compute, Some(&self.caller), &terminate).await;
            answer(response, "TerminateInstances").await?;
        }
        latencies.sort();
        Ok((percentile(&latencies, 0.5), percentile(&latencies, 0.99)))
    }

    /// Launch `count` instances in `group_id` and keep them, then time the host's
    /// data-plane spec `runs` times.
    pub async fn host_spec_latency(
        &self,
        group_id: &str,
        count: usize,
        runs: usize,
    ) -> anyhow::Result<(Duration, Duration, usize)> {
        let count_text = count.to_string();
        let run = request(
            "RunInstances",
            &[
                ("ImageId", self.image_id.as_str()),
                ("InstanceType", "t3.micro"),
                ("MinCount", count_text.as_str()),
                ("MaxCount", count_text.as_str()),
                ("SubnetId", self.subnet_id.as_str()),
                ("SecurityGroupId.1", group_id),
            ],
        );
        let response = kumo_compute::ec2::dispatch(&self.compute, Some(&self.caller), &run).await;
        answer(response, "RunInstances").await?;
        let mut latencies = Vec::with_capacity(runs);
        let mut rules = 0;
        for _ in 0..runs {
            let started = Instant::now();
            let vpcs = kumo_network::host_plans::for_host(&self.network, HOST_ID).await?;
            latencies.push(started.elapsed());
            rules = vpcs
                .iter()
                .flat_map(|vpc| &vpc.security_groups)
                .map(|group| group.ingress.len() + group.egress.len())
                .sum();
        }
        latencies.sort();
        Ok((
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            rules,
        ))
    }
}
