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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ec2_api_through_aws_cli() {
    let cloud = Cloud::start().await;
    let host = Host::start(&cloud, "host-api", 16, 8192);
    host.wait_enrolled(&cloud).await;
    let (owner, key, secret) = cloud.tenant("api").await;
    let aws = |args: Vec<&str>| {
        let (key, secret) = (key.clone(), secret.clone());
        let args: Vec<String> = args.into_iter().map(String::from).collect();
        let cloud = &cloud;
        async move {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let (ok, out, err) = cloud.aws(&key, &secret, &refs).await;
            assert!(ok, "aws {args:?}: {err}");
            out
        }
    };

    // Catalogue calls.
    let types = aws(vec![
        "ec2",
        "describe-instance-types",
        "--instance-types",
        "t3.micro",
    ])
    .await;
    assert_eq!(types["InstanceTypes"][0]["VCpuInfo"]["DefaultVCpus"], 2);
    assert_eq!(types["InstanceTypes"][0]["MemoryInfo"]["SizeInMiB"], 1024);
    let images = aws(vec![
        "ec2",
        "describe-images",
        "--image-ids",
        &cloud.container_image,
    ])
    .await;
    assert_eq!(images["Images"][0]["Name"], "kumo-busybox-container");
    let zones = aws(vec!["ec2", "describe-availability-zones"]).await;
    assert!(zones["AvailabilityZones"]
        .as_array()
        .unwrap()
        .iter()
        .any(|z| z["ZoneName"] == "us-east-1a"));
    let regions = aws(vec!["ec2", "describe-regions"]).await;
    assert_eq!(regions["Regions"][0]["RegionName"], "us-east-1");

    // Key pairs.
    let created = aws(vec![
        "ec2",
        "create-key-pair",
        "--key-name",
        "made",
        "--key-type",
        "ed25519",
    ])
    .await;
    assert!(created["KeyMaterial"]
        .as_str()
        .unwrap()
        .contains("PRIVATE KEY"));
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(dir.path().join("k"))
        .status()
        .unwrap();
    assert!(status.success());
    let material = format!("fileb://{}", dir.path().join("k.pub").display());
    aws(vec![
        "ec2",
        "import-key-pair",
        "--key-name",
        "imported",
        "--public-key-material",
        &material,
    ])
    .await;
    let keys = aws(vec!["ec2", "describe-key-pairs"]).await;
    let names: Vec<&str> = keys["KeyPairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["KeyName"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["imported", "made"]);

    // Launch with a client token, tags and a key; the same token returns the same reservation.
    let launch = vec![
        "ec2",
        "run-instances",
        "--image-id",
        &cloud.container_image,
        "--count",
        "6",
        "--instance-type",
        "t3.nano",
        "--key-name",
        "imported",
        "--client-token",
        "api-test-token",
        "--tag-specifications",
        "ResourceType=instance,Tags=[{Key=Name,Value=web}]",
    ];
    let first = aws(launch.clone()).await;
    let again = aws(launch).await;
    assert_eq!(first["ReservationId"], again["ReservationId"]);
    let ids = ids_of(&first);
    assert_eq!(ids.len(), 6);
    cloud
        .wait_state(&owner, &ids, "running", Duration::from_secs(120))
        .await;

    // Filters and pagination.
    let page = aws(vec![
        "ec2",
        "describe-instances",
        "--max-results",
        "5",
        "--no-paginate",
    ])
    .await;
    let on_page: usize = page["Reservations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Instances"].as_array().unwrap().len())
        .sum();
    assert_eq!(on_page, 5);
    assert!(page["NextToken"].is_string());
    let tagged = aws(vec![
        "ec2",
        "describe-instances",
        "--filters",
        "Name=tag:Name,Values=web",
        "Name=instance-state-name,Values=running",
    ])
    .await;
    assert_eq!(
        tagged["Reservations"][0]["Instances"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
    let first_instance = &tagged["Reservations"][0]["Instances"][0];
    assert_eq!(first_instance["KeyName"], "imported");
    assert!(first_instance["PrivateIpAddress"]
        .as_str()
        .unwrap()
        .starts_with("172.31."));

    // Tags.
    aws(vec![
        "ec2",
        "create-tags",
        "--resources",
        &ids[0],
        "--tags",
        "Key=team,Value=blue",
    ])
    .await;
    let tags = aws(vec![
        "ec2",
        "describe-tags",
        "--filters",
        &format!("Name=resource-id,Values={}", ids[0]),
    ])
    .await;
    let keys: Vec<&str> = tags["Tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["Key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, vec!["Name", "team"]);
    aws(vec![
        "ec2",
        "delete-tags",
        "--resources",
        &ids[0],
        "--tags",
        "Key=team",
    ])
    .await;

    // Status, attributes, stop/start/reboot.
    let status = aws(vec![
        "ec2",
        "describe-instance-status",
        "--instance-ids",
        &ids[0],
    ])
    .await;
    assert_eq!(
        status["InstanceStatuses"][0]["InstanceState"]["Name"],
        "running"
    );
    let stopped = aws(vec!["ec2", "stop-instances", "--instance-ids", &ids[0]]).await;
    assert_eq!(
        stopped["StoppingInstances"][0]["CurrentState"]["Name"],
        "stopping"
    );
    cloud
        .wait_state(&owner, &ids[..1], "stopped", Duration::from_secs(120))
        .await;
    aws(vec![
        "ec2",
        "modify-instance-attribute",
        "--instance-id",
        &ids[0],
        "--instance-type",
        "Value=t3.micro",
    ])
    .await;
    let attribute = aws(vec![
        "ec2",
        "describe-instance-attribute",
        "--instance-id",
        &ids[0],
        "--attribute",
        "instanceType",
    ])
    .await;
    assert_eq!(attribute["InstanceType"]["Value"], "t3.micro");
    let started = aws(vec!["ec2", "start-instances", "--instance-ids", &ids[0]]).await;
    assert_eq!(
        started["StartingInstances"][0]["PreviousState"]["Name"],
        "stopped"
    );
    cloud
        .wait_state(&owner, &ids[..1], "running", Duration::from_secs(120))
        .await;
    let pid = host.containers().pid(&ids[0]).await.unwrap().unwrap();
    assert_eq!(
        cgroup_limits(pid).0,
        1024 * 1024 * 1024,
        "the new type's memory limit applies after start"
    );
    aws(vec!["ec2", "reboot-instances", "--instance-ids", &ids[1]]).await;
    let (ok, _, err) = cloud
        .aws(
            &key,
            &secret,
            &[
                "ec2",
                "start-instances",
                "--instance-ids",
                "i-0000000000000000f",
            ],
        )
        .await;
    assert!(!ok && err.contains("InvalidInstanceID.NotFound"), "{err}");

    // Protection against termination.
    aws(vec![
        "ec2",
        "modify-instance-attribute",
        "--instance-id",
        &ids[2],
        "--disable-api-termination",
    ])
    .await;
    let (ok, _, err) = cloud
        .aws(
            &key,
            &secret,
            &["ec2", "terminate-instances", "--instance-ids", &ids[2]],
        )
        .await;
    assert!(!ok && err.contains("OperationNotPermitted"), "{err}");
    aws(vec![
        "ec2",
        "modify-instance-attribute",
        "--instance-id",
        &ids[2],
        "--no-disable-api-termination",
    ])
    .await;

    let mut args = vec!["ec2", "terminate-instances", "--instance-ids"];
    args.extend(ids.iter().map(String::as_str));
    aws(args).await;
    cloud
        .wait_state(&owner, &ids, "terminated", Duration::from_secs(120))
        .await;
    aws(vec!["ec2", "delete-key-pair", "--key-name", "made"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_see_and_steer_hosts_through_the_native_api() {
    let cloud = Cloud::start().await;
    let host = Host::start(&cloud, "host-ops", 8, 4096);
    let host_id = host.wait_enrolled(&cloud).await;
    let http = reqwest::Client::new();
    let login = |account: String, user: String, password: String| {
        let http = http.clone();
        let url = format!("{}/v1/login", cloud.endpoint);
        async move {
            let r: serde_json::Value = http
                .post(url)
                .json(&serde_json::json!({"account": account, "user_name": user, "password": password}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            r["token"].as_str().unwrap().to_string()
        }
    };
    let op = login(
        cloud.operator.account_id.clone(),
        "operator".into(),
        cloud.operator.new_password.clone().unwrap(),
    )
    .await;
    let call =
        |method: reqwest::Method, path: &str, token: &str, body: Option<serde_json::Value>| {
            let mut r = http
                .request(method, format!("{}{path}", cloud.endpoint))
                .bearer_auth(token);
            if let Some(b) = body {
                r = r.json(&b);
            }
            async move {
                let resp = r.send().await.unwrap();
                let status = resp.status().as_u16();
                (
                    status,
                    resp.json::<serde_json::Value>()
                        .await
                        .unwrap_or(serde_json::Value::Null),
                )
            }
        };
    let (status, hosts) = call(reqwest::Method::GET, "/v1/hosts", &op, None).await;
    assert_eq!(status, 200);
    assert_eq!(hosts[0]["host_id"], host_id.as_str());
    assert_eq!(hosts[0]["vcpus"], 8);
    assert_eq!(hosts[0]["memory_mib"], 4096);
    assert_eq!(hosts[0]["reachable"], true);

    // A disabled host takes no new instances; enabled again, it does.
    let (status, _) = call(
        reqwest::Method::POST,
        &format!("/v1/hosts/{host_id}/disable"),
        &op,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let run = serde_json::json!({"image_id": cloud.container_image, "instance_type": "t3.nano"});
    let (status, body) = call(
        reqwest::Method::POST,
        "/v1/instances",
        &op,
        Some(run.clone()),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "InsufficientCapacity");
    call(
        reqwest::Method::POST,
        &format!("/v1/hosts/{host_id}/enable"),
        &op,
        None,
    )
    .await;
    let (status, body) = call(
        reqwest::Method::POST,
        "/v1/instances",
        &op,
        Some(run.clone()),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["instances"][0]["instance_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, hosts) = call(reqwest::Method::GET, "/v1/hosts", &op, None).await;
    assert_eq!(hosts[0]["instances"], 1);
    assert_eq!(hosts[0]["memory_mib_used"], 512);

    // Draining: the running instance stays, nothing new lands.
    call(
        reqwest::Method::POST,
        &format!("/v1/hosts/{host_id}/drain"),
        &op,
        None,
    )
    .await;
    let (status, _) = call(reqwest::Method::POST, "/v1/instances", &op, Some(run)).await;
    assert_eq!(status, 503);
    let (status, instance) = call(
        reqwest::Method::GET,
        &format!("/v1/instances/{id}"),
        &op,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_ne!(instance["state"], "terminated");

    // Without valid credentials there is nothing to see.
    let (status, _) = call(reqwest::Method::GET, "/v1/hosts", "not-a-token", None).await;
    assert_eq!(status, 401);
    let (status, body) = call(reqwest::Method::GET, "/v1/instances/i-nothere", &op, None).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = call(
        reqwest::Method::DELETE,
        &format!("/v1/instances/{id}"),
        &op,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let owner = kumo_auth::Principal {
        account_id: cloud.operator.account_id.clone(),
        user_id: String::new(),
        user_name: "operator".into(),
        role: kumo_auth::Role::Operator,
        method: kumo_auth::AuthMethod::Bearer,
    };
    cloud
        .wait_state(&owner, &[id], "terminated", Duration::from_secs(120))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_whose_process_dies_is_reported_stopped() {
    let cloud = Cloud::start().await;
    let host = Host::start(&cloud, "host-crash", 4, 2048);
    host.wait_enrolled(&cloud).await;
    let (owner, key, secret) = cloud.tenant("fragile").await;
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
                "1",
                "--instance-type",
                "t3.nano",
            ],
        )
        .await;
    assert!(ok, "{err}");
    let id = ids_of(&run).remove(0);
    cloud
        .wait_state(
            &owner,
            std::slice::from_ref(&id),
            "running",
            Duration::from_secs(120),
        )
        .await;

    // The workload dies behind everyone's back.
    let pid = host.containers().pid(&id).await.unwrap().unwrap();
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    cloud
        .wait_state(
            &owner,
            std::slice::from_ref(&id),
            "stopped",
            Duration::from_secs(120),
        )
        .await;
    let (ok, described, err) = cloud
        .aws(
            &key,
            &secret,
            &["ec2", "describe-instances", "--instance-ids", &id],
        )
        .await;
    assert!(ok, "{err}");
    let instance = &described["Reservations"][0]["Instances"][0];
    assert_eq!(instance["State"]["Name"], "stopped");
    assert_eq!(
        instance["StateReason"]["Code"],
        "Client.InstanceInitiatedShutdown"
    );
    // Not restarted behind the user's back; a start brings it back.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        kumo_compute::instances::get(&cloud.compute, &owner, &id)
            .await
            .unwrap()
            .state
            .as_str(),
        "stopped"
    );
    let (ok, _, err) = cloud
        .aws(
            &key,
            &secret,
            &["ec2", "start-instances", "--instance-ids", &id],
        )
        .await;
    assert!(ok, "{err}");
    cloud
        .wait_state(
            &owner,
            std::slice::from_ref(&id),
            "running",
            Duration::from_secs(120),
        )
        .await;
    let (ok, _, err) = cloud
        .aws(
            &key,
            &secret,
            &["ec2", "terminate-instances", "--instance-ids", &id],
        )
        .await;
    assert!(ok, "{err}");
    cloud
        .wait_state(&owner, &[id], "terminated", Duration::from_secs(120))
        .await;
}
