#![allow(clippy::unwrap_used)]
//! Compute end to end: aws-cli against a real control plane, real agents in their own
//! network namespaces, real runc containers and real QEMU (TCG) virtual machines.

mod support;

use std::time::Duration;

use support::{Cloud, Host};

fn ids_of(reservation: &serde_json::Value) -> Vec<String> {
    reservation["Instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["InstanceId"].as_str().unwrap().to_string())
        .collect()
}

/// Is the process running (a zombie waiting for its reaper is not)?
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            stat.rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().next())
                != Some("Z")
        }
        Err(_) => false,
    }
}

/// The v1 memory and cpu cgroup limits of a process.
fn cgroup_limits(pid: u32) -> (u64, i64, i64) {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let path_of = |controller: &str| {
        cgroups
            .lines()
            .find_map(|l| {
                let mut parts = l.splitn(3, ':');
                let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
                controllers
                    .split(',')
                    .any(|c| c == controller)
                    .then(|| path.to_string())
            })
            .unwrap_or_else(|| panic!("no {controller} cgroup for {pid}: {cgroups}"))
    };
    let read = |file: String| {
        std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{file}: {e}"))
            .trim()
            .to_string()
    };
    let memory = read(format!(
        "/sys/fs/cgroup/memory{}/memory.limit_in_bytes",
        path_of("memory")
    ))
    .parse()
    .unwrap();
    let cpu_dir = ["cpu,cpuacct", "cpu"]
        .iter()
        .map(|d| format!("/sys/fs/cgroup/{d}{}", path_of("cpu")))
        .find(|d| std::path::Path::new(d).exists())
        .unwrap();
    let quota = read(format!("{cpu_dir}/cpu.cfs_quota_us")).parse().unwrap();
    let period = read(format!("{cpu_dir}/cpu.cfs_period_us"))
        .parse()
        .unwrap();
    (memory, quota, period)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_run_with_limits_survive_an_agent_restart_and_terminate() {
    let cloud = Cloud::start().await;
    let mut host = Host::start(&cloud, "host-a", 8, 8192);
    let host_id = host.wait_enrolled(&cloud).await;
    let (alice, key, secret) = cloud.tenant("alice").await;

    let (ok, run, err) = cloud
        .aws(
            &key,
            &secret,
            &[
                "ec2",
                "run-instances",
                "--image-id",
                &cloud.container_image,
                "--count",
                "3",
                "--instance-type",
                "t3.nano",
            ],
        )
        .await;
    assert!(ok, "run-instances: {err}");
    let ids = ids_of(&run);
    assert_eq!(ids.len(), 3);
    assert_eq!(run["Instances"][0]["State"]["Name"], "pending");
    cloud
        .wait_state(&alice, &ids, "running", Duration::from_secs(120))
        .await;

    let (ok, described, err) = cloud
        .aws(
            &key,
            &secret,
            &[
                "ec2",
                "describe-instances",
                "--filters",
                "Name=instance-state-name,Values=running",
            ],
        )
        .await;
    assert!(ok, "{err}");
    let running: Vec<&str> = described["Reservations"][0]["Instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["InstanceId"].as_str().unwrap())
        .collect();
    assert_eq!(running.len(), 3);

    // Each container really runs, with the type's limits (t3.nano: 2 vCPU, 512 MiB).
    let containers = host.containers();
    let mut pids = Vec::new();
    for id in &ids {
        let pid = containers
            .pid(id)
            .await
            .unwrap()
            .expect("container process");
        assert!(alive(pid));
        let (memory, quota, period) = cgroup_limits(pid);
        assert_eq!(memory, 512 * 1024 * 1024);
        assert_eq!(quota, 2 * period);
        pids.push(pid);
    }
    let used: (i32, i32) =
        sqlx::query_as("SELECT vcpus_used, memory_mib_used FROM compute.hosts WHERE host_id = $1")
            .bind(&host_id)
            .fetch_one(&cloud.compute.pool)
            .await
            .unwrap();
    assert_eq!(used, (6, 1536));

    // Kill the agent: the containers keep running; a new agent re-adopts them.
    host.kill_agent();
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (id, pid) in ids.iter().zip(&pids) {
        assert_eq!(
            containers.pid(id).await.unwrap(),
            Some(*pid),
            "container {id} died with the agent"
        );
    }
    host.start_agent();
    tokio::time::sleep(Duration::from_secs(3)).await;
    for (id, pid) in ids.iter().zip(&pids) {
        assert_eq!(
            containers.pid(id).await.unwrap(),
            Some(*pid),
            "container {id} was restarted instead of re-adopted"
        );
    }
    cloud
        .wait_state(&alice, &ids, "running", Duration::from_secs(30))
        .await;

    // Terminate: gone from the host, capacity and addresses freed.
    let mut args = vec!["ec2", "terminate-instances", "--instance-ids"];
    args.extend(ids.iter().map(String::as_str));
    let (ok, terminated, err) = cloud.aws(&key, &secret, &args).await;
    assert!(ok, "{err}");
    assert_eq!(
        terminated["TerminatingInstances"][0]["CurrentState"]["Name"],
        "shutting-down"
    );
    cloud
        .wait_state(&alice, &ids, "terminated", Duration::from_secs(120))
        .await;
    for (id, pid) in ids.iter().zip(&pids) {
        assert_eq!(
            containers.observe(id).await.unwrap(),
            kumo_compute_protocol::ObservedState::Absent
        );
        assert!(!alive(*pid), "container process {pid} still running");
    }
    let used: (i32, i32) =
        sqlx::query_as("SELECT vcpus_used, memory_mib_used FROM compute.hosts WHERE host_id = $1")
            .bind(&host_id)
            .fetch_one(&cloud.compute.pool)
            .await
            .unwrap();
    assert_eq!(used, (0, 0));
    let addresses: i64 = sqlx::query_scalar("SELECT count(*) FROM compute.ip_allocations")
        .fetch_one(&cloud.compute.pool)
        .await
        .unwrap();
    assert_eq!(addresses, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_boots_and_reads_its_metadata() {
    let cloud = Cloud::start().await;
    let host = Host::start(&cloud, "host-vm", 4, 4096);
    host.wait_enrolled(&cloud).await;
    let (alice, key, secret) = cloud.tenant("vm-owner").await;
    let user_data = "#!/bin/sh\necho hello from user data\n";
    let (ok, run, err) = cloud
        .aws(
            &key,
            &secret,
            &[
                "ec2",
                "run-instances",
                "--image-id",
                &cloud.vm_image,
                "--count",
                "1",
                "--instance-type",
                "t3.micro",
                "--user-data",
                user_data,
            ],
        )
        .await;
    assert!(ok, "run-instances: {err}");
    let id = ids_of(&run).remove(0);
    cloud
        .wait_state(
            &alice,
            std::slice::from_ref(&id),
            "running",
            Duration::from_secs(120),
        )
        .await;

    // TCG boot takes seconds; poll the console through the API (bounded).
    let mut console = String::new();
    for _ in 0..240 {
        let (ok, out, err) = cloud
            .aws(
                &key,
                &secret,
                &["ec2", "get-console-output", "--instance-id", &id],
            )
            .await;
        assert!(ok, "{err}");
        console = out["Output"].as_str().unwrap_or("").to_string();
        if console.contains("KUMO-BOOT-COMPLETE") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        console.contains("KUMO-BOOT: kernel up"),
        "console: {console}"
    );
    assert!(
        console.contains(&format!("KUMO-INSTANCE-ID: {id}")),
        "the guest did not read its instance id from the metadata service: {console}"
    );
    assert!(
        console.contains("KUMO-USER-DATA: #!/bin/sh"),
        "the guest did not read its user data: {console}"
    );

    let (ok, _, err) = cloud
        .aws(
            &key,
            &secret,
            &["ec2", "terminate-instances", "--instance-ids", &id],
        )
        .await;
    assert!(ok, "{err}");
    cloud
        .wait_state(&alice, &[id], "terminated", Duration::from_secs(120))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_are_isolated_and_bad_requests_get_ec2_errors() {
    let cloud = Cloud::start().await;
    let host = Host::start(&cloud, "host-small", 2, 1024);
    host.wait_enrolled(&cloud).await;
    let (alice, key_a, secret_a) = cloud.tenant("alice").await;
    let (_bob, key_b, secret_b) = cloud.tenant("bob").await;

    let (ok, run, err) = cloud
        .aws(
            &key_a,
            &secret_a,
            &[
                "ec2",
                "run-instances",
                "--image-id",
                &cloud.container_image,
                "--count",
                "1",
                "--instance-type",
                "t3.nano",
            ],
        )
        .await;
    assert!(ok, "{err}");
    let id = ids_of(&run).remove(0);

    // Bob can neither see nor touch Alice's instance.
    for args in [
        vec!["ec2", "describe-instances", "--instance-ids", id.as_str()],
        vec!["ec2", "stop-instances", "--instance-ids", id.as_str()],
        vec!["ec2", "terminate-instances", "--instance-ids", id.as_str()],
        vec!["ec2", "get-console-output", "--instance-id", id.as_str()],
    ] {
        let (ok, _, err) = cloud.aws(&key_b, &secret_b, &args).await;
        assert!(
            !ok && err.contains("InvalidInstanceID.NotFound"),
            "{args:?}: {err}"
        );
    }
    let (ok, listed, _) = cloud
        .aws(&key_b, &secret_b, &["ec2", "describe-instances"])
        .await;
    assert!(ok);
    assert_eq!(listed["Reservations"].as_array().unwrap().len(), 0);
    cloud
        .wait_state(
            &alice,
            std::slice::from_ref(&id),
            "running",
            Duration::from_secs(120),
        )
        .await;

    // The host has 1 GiB; two t3.micro (1 GiB each) do not fit next to the nano.
    let (ok, _, err) = cloud
        .aws(
            &key_a,
            &secret_a,
            &[
                "ec2",
                "run-instances",
                "--image-id",
                &cloud.container_image,
                "--count",
                "2",
                "--instance-type",
                "t3.micro",
            ],
        )
        .await;
    assert!(!ok && err.contains("InsufficientInstanceCapacity"), "{err}");

    // Bad parameters are 4xx EC2 errors.
    for (args, code) in [
        (
            vec![
                "ec2",
                "run-instances",
                "--image-id",
                "ami-nothere",
                "--count",
                "1",
            ],
            "InvalidAMIID.Malformed",
        ),
        (
            vec![
                "ec2",
                "run-instances",
                "--image-id",
                "ami-00000000000000000",
                "--count",
                "1",
            ],
            "InvalidAMIID.NotFound",
        ),
        (
            vec![
                "ec2",
                "run-instances",
                "--image-id",
                cloud.container_image.as_str(),
                "--instance-type",
                "t9.huge",
                "--count",
                "1",
            ],
            "InvalidParameterValue",
        ),
        (
            vec![
                "ec2",
                "run-instances",
                "--image-id",
                cloud.container_image.as_str(),
                "--count",
                "0",
            ],
            "InvalidParameterValue",
        ),
        (
            vec!["ec2", "describe-instances", "--instance-ids", "i-zzz"],
            "InvalidInstanceID.Malformed",
        ),
        (
            vec![
                "ec2",
                "describe-instances",
                "--filters",
                "Name=no-such-filter,Values=x",
            ],
            "InvalidParameterValue",
        ),
        (
            vec![
                "ec2",
                "run-instances",
                "--image-id",
                cloud.container_image.as_str(),
                "--count",
                "1",
                "--key-name",
                "nokey",
            ],
            "InvalidKeyPair.NotFound",
        ),
    ] {
        let (ok, _, err) = cloud.aws(&key_a, &secret_a, &args).await;
        assert!(
            !ok && err.contains(code),
            "{args:?} should fail with {code}: {err}"
        );
    }

    let (ok, _, err) = cloud
        .aws(
            &key_a,
            &secret_a,
            &["ec2", "terminate-instances", "--instance-ids", &id],
        )
        .await;
    assert!(ok, "{err}");
    cloud
        .wait_state(&alice, &[id], "terminated", Duration::from_secs(120))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_spread_across_hosts() {
    let cloud = Cloud::start().await;
    let host_a = Host::start(&cloud, "rack1-a", 4, 2048);
    let host_b = Host::start(&cloud, "rack1-b", 4, 2048);
    let a = host_a.wait_enrolled(&cloud).await;
    let b = host_b.wait_enrolled(&cloud).await;
    let (alice, key, secret) = cloud.tenant("spread").await;
    let (ok, run, err) = cloud
        .aws(
            &key,
            &secret,
            &[
                "ec2",
                "run-instances",
                "--image-id",
                &cloud.container_image,
                "--count",
                "4",
                "--instance-type",
                "t3.nano",
            ],
        )
        .await;
    assert!(ok, "{err}");
    let ids = ids_of(&run);
    cloud
        .wait_state(&alice, &ids, "running", Duration::from_secs(120))
        .await;
    let per_host: Vec<(String, i64)> = sqlx::query_as(
        "SELECT host_id, count(*) FROM compute.instances WHERE state = 'running' GROUP BY host_id ORDER BY host_id",
    )
    .fetch_all(&cloud.compute.pool)
    .await
    .unwrap();
    let mut expected = vec![(a, 2i64), (b, 2i64)];
    expected.sort();
    assert_eq!(per_host, expected);
    // And they really run on their own hosts.
    let on_a = host_a.containers().known_instances().unwrap().len();
    let on_b = host_b.containers().known_instances().unwrap().len();
    assert_eq!((on_a, on_b), (2, 2));

    let mut args = vec!["ec2", "terminate-instances", "--instance-ids"];
    args.extend(ids.iter().map(String::as_str));
    let (ok, _, err) = cloud.aws(&key, &secret, &args).await;
    assert!(ok, "{err}");
    cloud
        .wait_state(&alice, &ids, "terminated", Duration::from_secs(120))
        .await;
}
