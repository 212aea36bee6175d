//! Real QEMU (TCG): a VM with a NIC on a tap device and a copy-on-write disk overlay.
//! The guest configures eth0 from `kumo.ip`/`kumo.gw` and ARPs for its gateway (the
//! host's address on the tap), so the host learns the guest's MAC; the overlay is
//! created once over the image's disk and kept across a stop.
//!
//! Needs root (tap device), `qemu-system-x86_64`, `qemu-img`, `ip` and the image from
//! `deploy/build-images.sh` (`$KUMO_IMAGE_DIR`, default `<repo>/target/kumo-images`).
#![allow(clippy::unwrap_used)]

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kumo_compute_node::vm::{Accel, VmConfig, VmRuntime};
use kumo_compute_protocol::{
    DesiredState, ImageSource, InstanceKind, InstanceMetadata, InstanceSpec, NetworkAttachment,
    ObservedState,
};

const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

fn image_dir() -> PathBuf {
    std::env::var_os("KUMO_IMAGE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/kumo-images"))
}

fn vm_image() -> (PathBuf, PathBuf) {
    let dir = image_dir().join("vm");
    let kernel = dir.join("vmlinuz");
    let initramfs = dir.join("initramfs.img");
    assert!(
        kernel.is_file() && initramfs.is_file(),
        "VM image missing: {} and {} must exist; run deploy/build-images.sh \
         (or point KUMO_IMAGE_DIR at an image directory)",
        kernel.display(),
        initramfs.display()
    );
    (kernel, initramfs)
}

fn sh(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} not runnable: {e}"));
    assert!(
        out.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A tap device in the host namespace, deleted on drop.
struct Tap(String);

impl Drop for Tap {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).output();
    }
}

async fn wait_for(
    what: &str,
    mut check: impl FnMut() -> Option<String>,
    on_timeout: impl Fn() -> String,
) -> String {
    let deadline = Instant::now() + BOOT_TIMEOUT;
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{what} not seen within {BOOT_TIMEOUT:?}:\n{}",
            on_timeout()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn read(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_with_tap_and_disk_overlay() {
    let (kernel, initramfs) = vm_image();
    let state = tempfile::tempdir().unwrap();
    let _cleanup = kumo_compute_node::testing::KillQemuOnDrop(state.path().to_path_buf());

    // A small qcow2 "image disk" to back the instance's overlay.
    let backing = state.path().join("image-disk.qcow2");
    sh(
        "qemu-img",
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            backing.to_str().unwrap(),
            "16M",
        ],
    );

    let octet = 100 + rand::random::<u8>() % 100;
    let tap_name = format!("kvt{:08x}", rand::random::<u32>());
    let tap = Tap(tap_name.clone());
    sh("ip", &["tuntap", "add", "dev", &tap.0, "mode", "tap"]);
    sh(
        "ip",
        &[
            "addr",
            "add",
            &format!("10.213.{octet}.1/24"),
            "dev",
            &tap.0,
        ],
    );
    sh("ip", &["link", "set", &tap.0, "up"]);

    let id = format!("i-{:017x}", rand::random::<u64>() >> 4);
    let ip = Ipv4Addr::new(10, 213, octet, 5);
    let mac = format!("02:00:0a:d5:{octet:02x}:05");
    let spec = InstanceSpec {
        instance_id: id.clone(),
        account_id: "000000000000".to_string(),
        kind: InstanceKind::Vm,
        desired: DesiredState::Running,
        generation: 1,
        reboot_count: 0,
        vcpus: 1,
        memory_mib: 256,
        image: ImageSource {
            image_id: "ami-kumovm".to_string(),
            kind: InstanceKind::Vm,
            kernel: Some(kernel),
            initramfs: Some(initramfs),
            disk: Some(backing.clone()),
            rootfs: None,
        },
        network: NetworkAttachment {
            network_interface_id: String::new(),
            vpc_id: String::new(),
            subnet_id: "subnet-test".to_string(),
            bridge: "kb-test".to_string(),
            ip,
            prefix_len: 24,
            gateway: Ipv4Addr::new(10, 213, octet, 1),
            mac: mac.clone(),
            dns_server: None,
            dns_domain: String::new(),
        },
        volumes: Vec::new(),
        metadata: InstanceMetadata {
            instance_id: id.clone(),
            instance_type: "t3.micro".to_string(),
            ami_id: "ami-kumovm".to_string(),
            reservation_id: "r-test".to_string(),
            account_id: "000000000000".to_string(),
            availability_zone: "kumo-1a".to_string(),
            region: "kumo-1".to_string(),
            local_ipv4: ip,
            mac: mac.clone(),
            hostname: "test".to_string(),
            public_keys: vec![],
            user_data: None,
        },
    };

    let runtime = VmRuntime::new(VmConfig {
        qemu: PathBuf::from("qemu-system-x86_64"),
        state_dir: state.path().join("vms"),
        accel: Accel::Tcg,
        stop_grace: Duration::from_secs(1),
    });
    let console = runtime.console_path(&id);
    let disk = runtime.instance_dir(&id).join("disk.qcow2");

    runtime.start(&spec, Some(&tap_name)).await.unwrap();

    // The overlay is backed by the image's disk.
    let info = sh(
        "qemu-img",
        &["info", "-U", "--output=json", disk.to_str().unwrap()],
    );
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["format"], "qcow2");
    assert_eq!(
        info["backing-filename"].as_str().map(PathBuf::from),
        Some(backing.canonicalize().unwrap()),
        "{info}"
    );

    // The guest configured eth0 from the kernel command line...
    let want = format!("kumo-init: eth0 {ip}/24 gw 10.213.{octet}.1");
    wait_for(
        &want,
        || read(&console).contains(&want).then(String::new),
        || read(&console),
    )
    .await;
    // ...and its frames reach the host through the tap, with the spec's MAC.
    wait_for(
        "the guest's MAC among the tap's neighbours",
        || {
            let neigh = sh("ip", &["neigh", "show", "dev", &tap_name]);
            neigh.contains(&mac).then_some(neigh)
        },
        || {
            format!(
                "{}\nconsole:\n{}",
                sh("ip", &["neigh", "show", "dev", &tap_name]),
                read(&console)
            )
        },
    )
    .await;
    assert_eq!(runtime.observe(&id).await.unwrap(), ObservedState::Running);

    // The overlay survives a stop and is reused by the next start.
    let before = std::fs::metadata(&disk).unwrap();
    runtime.stop(&id).await.unwrap();
    assert_eq!(runtime.observe(&id).await.unwrap(), ObservedState::Stopped);
    assert!(disk.is_file());
    runtime.start(&spec, Some(&tap_name)).await.unwrap();
    let after = std::fs::metadata(&disk).unwrap();
    {
        use std::os::unix::fs::MetadataExt;
        assert_eq!(before.ino(), after.ino(), "disk overlay was recreated");
    }
    assert!(runtime.pid(&id).await.unwrap().is_some());

    runtime.remove(&id).await.unwrap();
    assert_eq!(runtime.observe(&id).await.unwrap(), ObservedState::Absent);
    assert!(!disk.exists());
    assert!(backing.is_file(), "the image's disk must be left alone");
    drop(tap);
}
