//! The EC2 facade's XML, read back by botocore's own EC2 parser (no server, no database):
//! every builder's output must parse into the fields AWS SDKs expect, and every element
//! must be one the EC2 model names (checked against the operation's output shape).
//!
//! Needs Python with botocore: `$KUMO_PYTHON`, else the workspace's `.venv/bin/python`
//! (`deploy/install-deps.sh --test` creates it, with the pinned botocore), else `python3`.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use chrono::{DateTime, TimeZone, Utc};
use kumo_common::errors::AwsErrorFormat;
use kumo_compute::ec2::xml;
use kumo_compute::images::{Image, ImageState};
use kumo_compute::instance_types::InstanceType;
use kumo_compute::instances::{
    Instance, InstanceState, Reservation, ShutdownBehavior, StateChange,
};
use kumo_compute::key_pairs::{KeyPair, NewKeyPair};
use kumo_compute::network::{InstanceInterface, SecurityGroupRef};
use kumo_compute::tags::{TagDescription, Tags};
use kumo_compute::ComputeError;
use kumo_compute_protocol::InstanceKind;
use serde_json::{json, Value};

/// Parses `[{"op", "body", "status"}]` from stdin with botocore's EC2 parser; prints
/// `[{"parsed", "problems"}]`. `problems` lists elements the operation's output shape does
/// not name and scalars of the wrong type.
const PARSER: &str = r#"
import base64, datetime, json, sys
import botocore.session
from botocore.parsers import create_parser
from dateutil import parser as dateparser

model = botocore.session.get_session().get_service_model('ec2')
parser = create_parser('ec2')

def local(tag):
    return tag.split('}', 1)[-1]

def check(element, shape, path, problems):
    children = list(element)
    kind = shape.type_name
    if kind == 'structure':
        names = {m.serialization.get('name', n): m for n, m in shape.members.items()}
        for child in children:
            tag = local(child.tag)
            if tag not in names:
                problems.append(f'{path}/{tag}: not in {shape.name}')
            else:
                check(child, names[tag], f'{path}/{tag}', problems)
    elif kind == 'list':
        item = shape.member.serialization.get('name', 'item')
        for child in children:
            if local(child.tag) != item:
                problems.append(f'{path}/{local(child.tag)}: list items must be <{item}>')
            else:
                check(child, shape.member, f'{path}/{item}', problems)
    else:
        if children:
            problems.append(f'{path}: scalar {shape.name} has child elements')
            return
        text = element.text or ''
        try:
            if kind in ('integer', 'long'):
                int(text)
            elif kind == 'double' or kind == 'float':
                float(text)
            elif kind == 'boolean':
                if text not in ('true', 'false'):
                    raise ValueError(text)
            elif kind == 'timestamp':
                dateparser.isoparse(text)
        except ValueError:
            problems.append(f'{path}: {text!r} is not a {kind}')

def plain(value):
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value

out = []
for case in json.load(sys.stdin):
    op = model.operation_model(case['op'])
    status = case.get('status', 200)
    body = case['body'].encode()
    shape = op.output_shape if status == 200 else None
    parsed = parser.parse({'body': body, 'headers': {}, 'status_code': status}, shape)
    problems = []
    if status == 200:
        import xml.etree.ElementTree as ET
        root = ET.fromstring(body)
        expected = case['op'] + 'Response'
        if local(root.tag) != expected:
            problems.append(f'root is {local(root.tag)}, expected {expected}')
        if root.tag != '{http://ec2.amazonaws.com/doc/2016-11-15/}' + expected:
            problems.append(f'root namespace: {root.tag}')
        for child in root:
            tag = local(child.tag)
            if tag == 'requestId':
                continue
            if shape is None:
                # EC2 answers `<return>true</return>` where the model has no output.
                if tag == 'return' and child.text == 'true':
                    continue
                problems.append(f'/{tag}: {case["op"]} has no output')
                continue
            names = {m.serialization.get('name', n): m for n, m in shape.members.items()}
            if tag not in names:
                problems.append(f'/{tag}: not in {shape.name}')
            else:
                check(child, names[tag], '/' + tag, problems)
    out.append({'parsed': plain(parsed), 'problems': problems})
print(json.dumps(out))
"#;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn has_botocore(python: &str) -> bool {
    Command::new(python)
        .args(["-c", "import botocore, dateutil"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The Python with botocore: `$KUMO_PYTHON`, else `.venv/bin/python` (the pinned botocore:
/// an older system one lacks members Kumo writes), else `python3`.
fn python() -> String {
    if let Ok(python) = std::env::var("KUMO_PYTHON") {
        assert!(
            has_botocore(&python),
            "KUMO_PYTHON={python} cannot import botocore: run deploy/install-deps.sh --test, then use .venv/bin/python"
        );
        return python;
    }
    let venv = workspace_root()
        .join(".venv/bin/python")
        .to_string_lossy()
        .into_owned();
    for candidate in [venv, "python3".to_string()] {
        if has_botocore(&candidate) {
            return candidate;
        }
    }
    panic!("botocore is not importable: run deploy/install-deps.sh --test, then set KUMO_PYTHON=.venv/bin/python");
}

/// Parse each `(operation, body)` with botocore; fail on any model problem.
fn parse_all(cases: &[(&str, String)]) -> Vec<Value> {
    parse_with_status(
        &cases
            .iter()
            .map(|(op, body)| (*op, body.clone(), 200))
            .collect::<Vec<_>>(),
    )
}

fn parse_with_status(cases: &[(&str, String, u16)]) -> Vec<Value> {
    let input: Vec<Value> = cases
        .iter()
        .map(|(op, body, status)| json!({"op": op, "body": body, "status": status}))
        .collect();
    let mut child = Command::new(python())
        .args(["-c", PARSER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&input).unwrap().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "parser failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    for ((op, body, _), result) in cases.iter().zip(&results) {
        let problems = result["problems"].as_array().unwrap();
        assert!(problems.is_empty(), "{op}: {problems:?}\n{body}");
    }
    results.into_iter().map(|r| r["parsed"].clone()).collect()
}

fn at(secs: i64, millis: u32) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, millis * 1_000_000).unwrap()
}

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn types() -> Vec<InstanceType> {
    vec![
        InstanceType {
            name: "t3.micro".into(),
            vcpus: 2,
            memory_mib: 1024,
        },
        InstanceType {
            name: "c5.xlarge".into(),
            vcpus: 4,
            memory_mib: 8192,
        },
    ]
}

fn instance(id: &str, reservation: &str, state: InstanceState, index: i32) -> Instance {
    Instance {
        instance_id: id.into(),
        account_id: "123456789012".into(),
        reservation_id: reservation.into(),
        image_id: "ami-0123456789abcdef0".into(),
        instance_type: "t3.micro".into(),
        kind: InstanceKind::Vm,
        state,
        state_code: state.code(),
        state_reason: None,
        host_id: Some("host-1".into()),
        availability_zone: "us-east-1a".into(),
        subnet_id: "subnet-0aaaabbbbccccdddd".into(),
        private_ip: Some(format!("172.31.0.{}", 10 + index)),
        mac: "02:aa:bb:cc:dd:ee".into(),
        key_name: Some("my-key".into()),
        launch_index: index,
        launch_time: at(1_767_323_045, 678),
        disable_api_termination: false,
        shutdown_behavior: ShutdownBehavior::Stop,
        client_token: None,
        tags: Tags::new(),
        network_interfaces: vec![InstanceInterface {
            network_interface_id: format!("eni-0aaaabbbbcccc000{index}"),
            subnet_id: "subnet-0aaaabbbbccccdddd".into(),
            vpc_id: "vpc-0aaaabbbbccccdddd".into(),
            owner_id: "123456789012".into(),
            description: String::new(),
            mac_address: "02:aa:bb:cc:dd:ee".into(),
            private_ip_address: format!("172.31.0.{}", 10 + index),
            private_ip_addresses: vec![format!("172.31.0.{}", 10 + index)],
            source_dest_check: true,
            groups: vec![SecurityGroupRef {
                group_id: "sg-0aaaabbbbccccdddd".into(),
                group_name: "default".into(),
            }],
            interface_type: "interface".into(),
            attachment_id: format!("eni-attach-0aaaabbbbcccc000{index}"),
            device_index: 0,
            attach_time: at(1_767_323_045, 678),
            delete_on_termination: true,
            prefix_len: 20,
            gateway: "172.31.0.1".into(),
            public_addresses: Vec::new(),
            dns_server: Some("172.31.0.2".into()),
            dns_domain: "ec2.internal".into(),
        }],
        block_devices: vec![kumo_compute::volumes::BlockDevice {
            device_name: "/dev/sdf".into(),
            volume_id: "vol-0123456789abcdef0".into(),
            status: "attached".into(),
            attach_time: at(1_767_323_045, 678),
            delete_on_termination: false,
        }],
        root_device_name: Some("/dev/xvda".into()),
    }
}

fn envelope(action: &'static str, inner: &str) -> (&'static str, String) {
    (action, xml::envelope(action, "req-0001", inner))
}

#[test]
fn instances_parse_as_botocore_expects() {
    let mut web = instance(
        "i-0123456789abcdef0",
        "r-0aaaaaaaaaaaaaaaa",
        InstanceState::Running,
        0,
    );
    web.tags = tags(&[("Name", "web <1> & co"), ("team", "")]);
    web.client_token = Some("token-1".into());
    let mut second = instance(
        "i-0123456789abcdef1",
        "r-0aaaaaaaaaaaaaaaa",
        InstanceState::Stopped,
        1,
    );
    second.state_reason = Some("Client.UserInitiatedShutdown: User initiated shutdown".into());
    second.key_name = None;
    second.instance_type = "c5.xlarge".into();
    let mut other = instance(
        "i-0123456789abcdef2",
        "r-0bbbbbbbbbbbbbbbb",
        InstanceState::Pending,
        0,
    );
    other.private_ip = None;
    other.host_id = None;

    let launched = Reservation {
        reservation_id: "r-0aaaaaaaaaaaaaaaa".into(),
        owner_id: "123456789012".into(),
        instances: vec![web.clone(), second.clone()],
    };
    let reservations = xml::group_reservations(vec![web.clone(), other.clone(), second.clone()]);
    assert_eq!(reservations.len(), 2);

    let parsed = parse_all(&[
        envelope("RunInstances", &xml::reservation_xml(&launched, &types())),
        envelope(
            "DescribeInstances",
            &xml::describe_instances_xml(&reservations, Some("bmV4dA"), &types()),
        ),
        envelope(
            "DescribeInstances",
            &xml::describe_instances_xml(&[], None, &types()),
        ),
    ]);

    let run = &parsed[0];
    assert_eq!(run["ReservationId"], "r-0aaaaaaaaaaaaaaaa");
    assert_eq!(run["OwnerId"], "123456789012");
    assert_eq!(run["Groups"], json!([]));
    assert_eq!(run["ResponseMetadata"]["RequestId"], "req-0001");
    let first = &run["Instances"][0];
    assert_eq!(first["InstanceId"], "i-0123456789abcdef0");
    assert_eq!(first["ImageId"], "ami-0123456789abcdef0");
    assert_eq!(first["State"], json!({"Code": 16, "Name": "running"}));
    assert_eq!(first["LaunchTime"], "2026-01-02T03:04:05.678000+00:00");
    assert_eq!(first["InstanceType"], "t3.micro");
    assert_eq!(first["KeyName"], "my-key");
    assert_eq!(first["AmiLaunchIndex"], 0);
    assert_eq!(first["PrivateIpAddress"], "172.31.0.10");
    assert_eq!(first["PrivateDnsName"], "ip-172-31-0-10.ec2.internal");
    assert_eq!(first["PublicDnsName"], "");
    assert_eq!(first["SubnetId"], "subnet-0aaaabbbbccccdddd");
    assert_eq!(first["VpcId"], "vpc-0aaaabbbbccccdddd");
    assert_eq!(first["Placement"]["AvailabilityZone"], "us-east-1a");
    assert_eq!(first["Placement"]["Tenancy"], "default");
    assert_eq!(first["Monitoring"]["State"], "disabled");
    assert_eq!(first["SourceDestCheck"], true);
    assert_eq!(first["EbsOptimized"], false);
    assert_eq!(first["EnaSupport"], true);
    assert_eq!(first["Architecture"], "x86_64");
    assert_eq!(first["RootDeviceType"], "ebs");
    assert_eq!(first["RootDeviceName"], "/dev/xvda");
    assert_eq!(first["VirtualizationType"], "hvm");
    assert_eq!(first["Hypervisor"], "xen");
    assert_eq!(first["ClientToken"], "token-1");
    assert_eq!(
        first["CpuOptions"],
        json!({"CoreCount": 1, "ThreadsPerCore": 2})
    );
    assert_eq!(
        first["Tags"],
        json!([{"Key": "Name", "Value": "web <1> & co"}, {"Key": "team", "Value": ""}])
    );
    let nic = &first["NetworkInterfaces"][0];
    assert_eq!(nic["PrivateIpAddress"], "172.31.0.10");
    assert_eq!(nic["MacAddress"], "02:aa:bb:cc:dd:ee");
    assert_eq!(nic["SubnetId"], "subnet-0aaaabbbbccccdddd");
    assert_eq!(nic["Status"], "in-use");
    assert_eq!(nic["NetworkInterfaceId"], "eni-0aaaabbbbcccc0000");
    assert_eq!(
        nic["Attachment"]["AttachmentId"],
        "eni-attach-0aaaabbbbcccc0000"
    );
    assert_eq!(nic["Attachment"]["DeviceIndex"], 0);
    assert_eq!(nic["Attachment"]["Status"], "attached");
    assert_eq!(nic["Attachment"]["DeleteOnTermination"], true);
    assert_eq!(nic["Groups"][0]["GroupId"], "sg-0aaaabbbbccccdddd");
    assert_eq!(first["SecurityGroups"][0]["GroupName"], "default");
    assert!(first.get("StateReason").is_none());

    let stopped = &run["Instances"][1];
    assert_eq!(stopped["State"], json!({"Code": 80, "Name": "stopped"}));
    assert_eq!(
        stopped["StateReason"]["Code"],
        "Client.UserInitiatedShutdown"
    );
    assert_eq!(
        stopped["StateReason"]["Message"],
        "Client.UserInitiatedShutdown: User initiated shutdown"
    );
    assert_eq!(stopped["StateTransitionReason"], "User initiated shutdown");
    assert!(stopped.get("KeyName").is_none());
    assert_eq!(stopped["AmiLaunchIndex"], 1);
    assert_eq!(
        stopped["CpuOptions"],
        json!({"CoreCount": 2, "ThreadsPerCore": 2})
    );

    let described = &parsed[1];
    assert_eq!(described["NextToken"], "bmV4dA");
    let reservations = described["Reservations"].as_array().unwrap();
    assert_eq!(reservations.len(), 2);
    assert_eq!(reservations[0]["ReservationId"], "r-0aaaaaaaaaaaaaaaa");
    assert_eq!(reservations[0]["Instances"].as_array().unwrap().len(), 2);
    assert_eq!(reservations[0]["Instances"][0]["State"]["Name"], "running");
    let mapping = &reservations[0]["Instances"][0]["BlockDeviceMappings"][0];
    assert_eq!(mapping["DeviceName"], "/dev/sdf");
    assert_eq!(mapping["Ebs"]["VolumeId"], "vol-0123456789abcdef0");
    assert_eq!(mapping["Ebs"]["Status"], "attached");
    assert_eq!(mapping["Ebs"]["DeleteOnTermination"], false);
    assert!(mapping["Ebs"]["AttachTime"].is_string());
    assert_eq!(
        reservations[0]["Instances"][1]["InstanceId"],
        "i-0123456789abcdef1"
    );
    assert_eq!(reservations[1]["Instances"][0]["State"]["Name"], "pending");
    assert_eq!(
        reservations[1]["Instances"][0]["StateReason"],
        json!({"Code": "pending", "Message": "pending"})
    );
    assert!(reservations[1]["Instances"][0]
        .get("PrivateIpAddress")
        .is_none());
    assert_eq!(reservations[1]["Instances"][0]["PrivateDnsName"], "");

    assert_eq!(parsed[2]["Reservations"], json!([]));
    assert!(parsed[2].get("NextToken").is_none());
}

#[test]
fn state_changes_status_and_console() {
    let changes = vec![
        StateChange {
            instance_id: "i-0123456789abcdef0".into(),
            previous_state: InstanceState::Running,
            current_state: InstanceState::Stopping,
        },
        StateChange {
            instance_id: "i-0123456789abcdef1".into(),
            previous_state: InstanceState::Stopped,
            current_state: InstanceState::Stopped,
        },
    ];
    let running = instance("i-0123456789abcdef0", "r-1", InstanceState::Running, 0);
    let stopped = instance("i-0123456789abcdef1", "r-1", InstanceState::Stopped, 1);
    let parsed = parse_all(&[
        envelope("StopInstances", &xml::state_changes_xml(&changes)),
        envelope("StartInstances", &xml::state_changes_xml(&changes)),
        envelope("TerminateInstances", &xml::state_changes_xml(&changes)),
        envelope("RebootInstances", &xml::return_true()),
        envelope(
            "DescribeInstanceStatus",
            &xml::instance_status_xml(&[running, stopped], Some("tok")),
        ),
        envelope(
            "GetConsoleOutput",
            &xml::console_output_xml(
                "i-0123456789abcdef0",
                b"boot ok\n\xff",
                &at(1_767_323_045, 5),
            ),
        ),
        envelope(
            "GetConsoleOutput",
            &xml::console_output_xml("i-0123456789abcdef0", b"", &at(0, 0)),
        ),
    ]);
    let stopping = &parsed[0]["StoppingInstances"];
    assert_eq!(stopping[0]["InstanceId"], "i-0123456789abcdef0");
    assert_eq!(
        stopping[0]["CurrentState"],
        json!({"Code": 64, "Name": "stopping"})
    );
    assert_eq!(
        stopping[0]["PreviousState"],
        json!({"Code": 16, "Name": "running"})
    );
    assert_eq!(stopping[1]["CurrentState"]["Name"], "stopped");
    assert_eq!(
        parsed[1]["StartingInstances"][0]["CurrentState"]["Name"],
        "stopping"
    );
    assert_eq!(
        parsed[2]["TerminatingInstances"][1]["PreviousState"]["Code"],
        80
    );
    assert_eq!(parsed[3]["ResponseMetadata"]["RequestId"], "req-0001");

    let statuses = &parsed[4];
    assert_eq!(statuses["NextToken"], "tok");
    let ok = &statuses["InstanceStatuses"][0];
    assert_eq!(ok["InstanceId"], "i-0123456789abcdef0");
    assert_eq!(ok["AvailabilityZone"], "us-east-1a");
    assert_eq!(ok["InstanceState"], json!({"Code": 16, "Name": "running"}));
    assert_eq!(ok["SystemStatus"]["Status"], "ok");
    assert_eq!(ok["InstanceStatus"]["Status"], "ok");
    assert_eq!(
        ok["InstanceStatus"]["Details"],
        json!([{"Name": "reachability", "Status": "passed"}])
    );
    let na = &statuses["InstanceStatuses"][1];
    assert_eq!(na["InstanceStatus"]["Status"], "not-applicable");
    assert_eq!(na["SystemStatus"]["Status"], "not-applicable");

    let console = &parsed[5];
    assert_eq!(console["InstanceId"], "i-0123456789abcdef0");
    assert_eq!(console["Timestamp"], "2026-01-02T03:04:05.005000+00:00");
    assert_eq!(console["Output"], "Ym9vdCBvawr/");
    assert!(parsed[6].get("Output").is_none());
}

#[test]
fn types_images_and_key_pairs() {
    let image = Image {
        image_id: "ami-0123456789abcdef0".into(),
        account_id: "123456789012".into(),
        name: "kumo-alpine".into(),
        description: "Alpine & friends".into(),
        kind: InstanceKind::Vm,
        kernel: Some("/srv/images/alpine/vmlinuz".into()),
        initramfs: Some("/srv/images/alpine/initramfs.img".into()),
        disk: Some("/srv/images/alpine/disk.qcow2".into()),
        rootfs: None,
        is_public: true,
        state: ImageState::Available,
        created_at: at(1_767_323_045, 0),
        source_instance_id: None,
        block_devices: Default::default(),
    };
    let container = Image {
        image_id: "ami-0123456789abcdef1".into(),
        kind: InstanceKind::Container,
        kernel: None,
        initramfs: None,
        rootfs: Some("/srv/images/busybox.tar".into()),
        is_public: false,
        name: "busybox".into(),
        description: String::new(),
        ..image.clone()
    };
    let key = KeyPair {
        key_pair_id: "key-0123456789abcdef0".into(),
        key_name: "my-key".into(),
        key_type: "ed25519".into(),
        public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample me@host".into(),
        fingerprint: "SHA256fingerprint".into(),
        created_at: at(1_767_323_045, 250),
    };
    let created = NewKeyPair {
        key_pair: key.clone(),
        key_material:
            "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n".into(),
    };
    let key_tags = tags(&[("env", "dev")]);
    let parsed = parse_all(&[
        envelope(
            "DescribeInstanceTypes",
            &xml::describe_instance_types_xml(&types(), Some("more")),
        ),
        envelope(
            "DescribeImages",
            &xml::describe_images_xml(
                &[(image, tags(&[("os", "alpine")])), (container, Tags::new())],
                None,
            ),
        ),
        envelope("RegisterImage", "<imageId>ami-0123456789abcdef0</imageId>"),
        envelope("DeregisterImage", &xml::return_true()),
        envelope(
            "ImportKeyPair",
            &xml::imported_key_pair_xml(&key, &key_tags),
        ),
        envelope(
            "CreateKeyPair",
            &xml::created_key_pair_xml(&created, &Tags::new()),
        ),
        envelope(
            "DescribeKeyPairs",
            &xml::describe_key_pairs_xml(&[(key.clone(), key_tags.clone())], true),
        ),
        envelope(
            "DescribeKeyPairs",
            &xml::describe_key_pairs_xml(&[(key, Tags::new())], false),
        ),
        envelope(
            "DeleteKeyPair",
            &format!(
                "{}{}",
                xml::return_true(),
                "<keyPairId>key-0123456789abcdef0</keyPairId>"
            ),
        ),
    ]);

    let micro = &parsed[0]["InstanceTypes"][0];
    assert_eq!(parsed[0]["NextToken"], "more");
    assert_eq!(micro["InstanceType"], "t3.micro");
    assert_eq!(
        micro["VCpuInfo"],
        json!({"DefaultVCpus": 2, "DefaultCores": 1, "DefaultThreadsPerCore": 2})
    );
    assert_eq!(micro["MemoryInfo"]["SizeInMiB"], 1024);
    assert_eq!(micro["CurrentGeneration"], true);
    assert_eq!(micro["SupportedUsageClasses"], json!(["on-demand"]));
    assert_eq!(
        micro["ProcessorInfo"]["SupportedArchitectures"],
        json!(["x86_64"])
    );
    assert_eq!(micro["Hypervisor"], "nitro");
    assert_eq!(micro["BurstablePerformanceSupported"], true);
    assert_eq!(micro["HibernationSupported"], false);
    assert_eq!(micro["DedicatedHostsSupported"], false);
    assert_eq!(micro["AutoRecoverySupported"], false);
    assert_eq!(micro["PhcSupport"], "unsupported");
    assert_eq!(micro["RebootMigrationSupport"], "unsupported");
    assert_eq!(parsed[0]["InstanceTypes"][1]["VCpuInfo"]["DefaultCores"], 2);

    let images = parsed[1]["Images"].as_array().unwrap();
    let vm = &images[0];
    assert_eq!(vm["ImageId"], "ami-0123456789abcdef0");
    // The image store's layout is never shown: the location is owner/name.
    assert_eq!(vm["ImageLocation"], "123456789012/kumo-alpine");
    let body = serde_json::to_string(&parsed).unwrap();
    assert!(!body.contains("/srv/images"), "{body}");
    assert_eq!(vm["State"], "available");
    assert_eq!(vm["OwnerId"], "123456789012");
    assert_eq!(vm["Public"], true);
    assert_eq!(vm["Architecture"], "x86_64");
    assert_eq!(vm["ImageType"], "machine");
    assert_eq!(vm["Name"], "kumo-alpine");
    assert_eq!(vm["Description"], "Alpine & friends");
    assert_eq!(vm["RootDeviceType"], "ebs");
    assert_eq!(vm["RootDeviceName"], "/dev/xvda");
    // Its disk is the root volume's source (no size: the file is not there to read).
    let root = &vm["BlockDeviceMappings"][0];
    assert_eq!(root["DeviceName"], "/dev/xvda");
    assert_eq!(root["Ebs"]["DeleteOnTermination"], true);
    assert_eq!(root["Ebs"]["VolumeType"], "gp3");
    assert_eq!(images[1]["RootDeviceType"], "instance-store");
    assert_eq!(images[1]["BlockDeviceMappings"], json!([]));
    assert_eq!(vm["VirtualizationType"], "hvm");
    assert_eq!(vm["Hypervisor"], "xen");
    assert_eq!(vm["CreationDate"], "2026-01-02T03:04:05.000Z");
    assert_eq!(vm["PlatformDetails"], "Linux/UNIX");
    assert_eq!(vm["Tags"], json!([{"Key": "os", "Value": "alpine"}]));
    assert_eq!(images[1]["ImageLocation"], "123456789012/busybox");
    assert_eq!(images[1]["Public"], false);
    assert_eq!(images[1]["Tags"], json!([]));

    assert_eq!(parsed[2]["ImageId"], "ami-0123456789abcdef0");
    assert_eq!(parsed[3]["Return"], true);

    let imported = &parsed[4];
    assert_eq!(imported["KeyName"], "my-key");
    assert_eq!(imported["KeyFingerprint"], "SHA256fingerprint");
    assert_eq!(imported["KeyPairId"], "key-0123456789abcdef0");
    assert_eq!(imported["Tags"], json!([{"Key": "env", "Value": "dev"}]));
    let created = &parsed[5];
    assert!(created["KeyMaterial"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"));
    assert_eq!(created["KeyPairId"], "key-0123456789abcdef0");

    let listed = &parsed[6]["KeyPairs"][0];
    assert_eq!(listed["KeyName"], "my-key");
    assert_eq!(listed["KeyType"], "ed25519");
    assert_eq!(listed["CreateTime"], "2026-01-02T03:04:05.250000+00:00");
    assert_eq!(
        listed["PublicKey"],
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample me@host"
    );
    assert_eq!(listed["Tags"], json!([{"Key": "env", "Value": "dev"}]));
    assert!(parsed[7]["KeyPairs"][0].get("PublicKey").is_none());
    assert_eq!(parsed[8]["Return"], true);
    assert_eq!(parsed[8]["KeyPairId"], "key-0123456789abcdef0");
}

#[test]
fn tags_attributes_zones_and_regions() {
    let described = vec![
        TagDescription {
            resource_id: "i-0123456789abcdef0".into(),
            key: "Name".into(),
            value: "web".into(),
        },
        TagDescription {
            resource_id: "ami-0123456789abcdef0".into(),
            key: "os".into(),
            value: String::new(),
        },
        TagDescription {
            resource_id: "key-0123456789abcdef0".into(),
            key: "env".into(),
            value: "dev".into(),
        },
    ];
    let user_data = "IyEvYmluL3NoCmVjaG8gaGk=";
    let parsed = parse_all(&[
        envelope("CreateTags", &xml::return_true()),
        envelope("DeleteTags", &xml::return_true()),
        envelope(
            "DescribeTags",
            &xml::describe_tags_xml(&described, Some("page2")),
        ),
        envelope(
            "DescribeInstanceAttribute",
            &xml::instance_attribute_xml("i-0123456789abcdef0", "instanceType", Some("t3.micro")),
        ),
        envelope(
            "DescribeInstanceAttribute",
            &xml::instance_attribute_xml("i-0123456789abcdef0", "userData", Some(user_data)),
        ),
        envelope(
            "DescribeInstanceAttribute",
            &xml::instance_attribute_xml(
                "i-0123456789abcdef0",
                "disableApiTermination",
                Some("true"),
            ),
        ),
        envelope(
            "DescribeInstanceAttribute",
            &xml::instance_attribute_xml(
                "i-0123456789abcdef0",
                "instanceInitiatedShutdownBehavior",
                Some("terminate"),
            ),
        ),
        envelope(
            "DescribeInstanceAttribute",
            &xml::instance_attribute_xml("i-0123456789abcdef0", "userData", None),
        ),
        envelope(
            "DescribeInstanceAttribute",
            &xml::instance_attribute_xml("i-0123456789abcdef0", "groupSet", None),
        ),
        envelope("ModifyInstanceAttribute", &xml::return_true()),
        envelope(
            "DescribeAvailabilityZones",
            &xml::set(
                "availabilityZoneInfo",
                [
                    xml::zone_xml(
                        "us-east-1a",
                        "us-east-1",
                        &xml::zone_id("us-east-1", "us-east-1a", 1),
                    ),
                    xml::zone_xml(
                        "us-east-1b",
                        "us-east-1",
                        &xml::zone_id("us-east-1", "us-east-1b", 2),
                    ),
                ],
            ),
        ),
        envelope(
            "DescribeRegions",
            &xml::set("regionInfo", [xml::region_xml("us-east-1")]),
        ),
    ]);
    assert_eq!(parsed[0]["ResponseMetadata"]["RequestId"], "req-0001");
    let described = &parsed[2];
    assert_eq!(described["NextToken"], "page2");
    assert_eq!(
        described["Tags"],
        json!([
            {"ResourceId": "i-0123456789abcdef0", "ResourceType": "instance", "Key": "Name", "Value": "web"},
            {"ResourceId": "ami-0123456789abcdef0", "ResourceType": "image", "Key": "os", "Value": ""},
            {"ResourceId": "key-0123456789abcdef0", "ResourceType": "key-pair", "Key": "env", "Value": "dev"},
        ])
    );
    assert_eq!(parsed[3]["InstanceId"], "i-0123456789abcdef0");
    assert_eq!(parsed[3]["InstanceType"]["Value"], "t3.micro");
    assert_eq!(parsed[4]["UserData"]["Value"], user_data);
    assert_eq!(parsed[5]["DisableApiTermination"]["Value"], true);
    assert_eq!(
        parsed[6]["InstanceInitiatedShutdownBehavior"]["Value"],
        "terminate"
    );
    assert!(parsed[7]["UserData"].get("Value").is_none());
    assert_eq!(parsed[8]["Groups"], json!([]));

    let zones = parsed[10]["AvailabilityZones"].as_array().unwrap();
    assert_eq!(zones.len(), 2);
    assert_eq!(
        zones[0],
        json!({
            "ZoneName": "us-east-1a",
            "State": "available",
            "RegionName": "us-east-1",
            "ZoneId": "use1-az1",
            "ZoneType": "availability-zone",
            "OptInStatus": "opt-in-not-required",
            "GroupName": "us-east-1",
            "NetworkBorderGroup": "us-east-1",
            "Messages": [],
        })
    );
    assert_eq!(zones[1]["ZoneId"], "use1-az2");
    assert_eq!(
        parsed[11]["Regions"],
        json!([{"RegionName": "us-east-1", "Endpoint": "ec2.us-east-1.amazonaws.com", "OptInStatus": "opt-in-not-required"}])
    );
}

#[test]
fn errors_parse_with_their_codes() {
    let not_found = ComputeError::instance_not_found(&["i-0123456789abcdef0".to_string()]).to_aws();
    let missing = ComputeError::Missing("ImageId".into()).to_aws();
    let parsed = parse_with_status(&[
        (
            "DescribeInstances",
            not_found.to_xml(AwsErrorFormat::Ec2, "req-9"),
            400,
        ),
        (
            "RunInstances",
            missing.to_xml(AwsErrorFormat::Ec2, "req-9"),
            400,
        ),
    ]);
    assert_eq!(parsed[0]["Error"]["Code"], "InvalidInstanceID.NotFound");
    assert_eq!(parsed[0]["ResponseMetadata"]["RequestId"], "req-9");
    assert_eq!(parsed[1]["Error"]["Code"], "MissingParameter");
}

/// Text from tenants (tags, names) is escaped.
#[test]
fn builders_escape_markup() {
    let mut tagged = instance("i-0123456789abcdef0", "r-1", InstanceState::Running, 0);
    tagged.tags = BTreeMap::from([("a<b".to_string(), "\"x\" & 'y'".to_string())]);
    let body = xml::instance_xml(&tagged, &types());
    assert!(body.contains("<key>a&lt;b</key><value>&quot;x&quot; &amp; &apos;y&apos;</value>"));
}
