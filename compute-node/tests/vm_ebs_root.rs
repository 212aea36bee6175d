//! Real QEMU (TCG) and `qemu-storage-daemon`s on 127.0.0.1: an EBS-backed VM whose root
//! file system is a volume of two replicas, each an NBD export with TLS-PSK made from the
//! image's root disk (`disk.qcow2`), as storage nodes export them. The VM starts paused,
//! gets the volume plugged over QMP and boots with `kumo.root=<serial>`: the image's
//! initramfs mounts the volume and switches to it, and its /init counts the disk's boots
//! in a file on `/`. Booted again by a second runtime (another state directory, a fresh
//! QEMU: another host), the count goes on, so what the guest wrote on `/` survived; the
//! two replicas are identical. Prints the boot time next to an initramfs-only boot.
//!
//! Needs `qemu-system-x86_64`, `qemu-img`, `qemu-storage-daemon` and the image from
//! `deploy/build-images.sh` (`$KUMO_IMAGE_DIR`, default `<repo>/target/kumo-images`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kumo_compute_node::testing;
use kumo_compute_node::vm::volumes::volume_serial;
use kumo_compute_node::vm::{Accel, VmConfig, VmRuntime};
use kumo_compute_protocol::{InstanceSpec, VolumeAttachmentSpec, VolumeReplicaEndpoint};

const BOOT_TIMEOUT: Duration = Duration::from_secs(180);

fn image_dir() -> PathBuf {
    std::env::var_os("KUMO_IMAGE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/kumo-images"))
        .join("vm")
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

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One replica: a qcow2 copy of the image's root disk exported over NBD with TLS-PSK by
/// its own `qemu-storage-daemon` (killed on drop).
struct Replica {
    file: PathBuf,
    pid: u32,
    endpoint: VolumeReplicaEndpoint,
}

impl Replica {
    fn start(dir: &Path, i: usize, image_disk: &Path, volume_id: &str) -> Self {
        let dir = dir.join(format!("replica{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("volume.qcow2");
        let file_str = file.to_str().unwrap();
        sh(
            "qemu-img",
            &[
                "convert",
                "-q",
                "-O",
                "qcow2",
                image_disk.to_str().unwrap(),
                file_str,
            ],
        );
        sh("qemu-img", &["resize", "-q", file_str, "1G"]);
        let key = random_hex(32);
        std::fs::write(dir.join("keys.psk"), format!("{volume_id}:{key}\n")).unwrap();
        let port = free_port();
        let pidfile = dir.join("qsd.pid");
        sh(
            "qemu-storage-daemon",
            &[
                "--object",
                &format!(
                    "tls-creds-psk,id=tls0,endpoint=server,dir={}",
                    dir.display()
                ),
                "--blockdev",
                &format!("driver=file,filename={file_str},node-name=f0"),
                "--blockdev",
                "driver=qcow2,file=f0,node-name=v0",
                "--nbd-server",
                &format!("addr.type=inet,addr.host=127.0.0.1,addr.port={port},tls-creds=tls0"),
                "--export",
                &format!("type=nbd,id=e0,node-name=v0,name={volume_id},writable=on"),
                "--pidfile",
                pidfile.to_str().unwrap(),
                "--daemonize",
            ],
        );
        let pid = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        Replica {
            file,
            pid,
            endpoint: VolumeReplicaEndpoint {
                host: "127.0.0.1".into(),
                nbd_port: port,
                psk_identity: volume_id.into(),
                psk_key_hex: key,
                replica_id: format!("node-{i}"),
                in_sync: true,
            },
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        // SAFETY: plain syscall on the daemon this test started.
        unsafe { libc::kill(self.pid as i32, libc::SIGKILL) };
    }
}

fn spec(id: &str, image: &Path, volumes: Vec<VolumeAttachmentSpec>) -> InstanceSpec {
    let source = testing::vm_image(
        &image.join("vmlinuz"),
        &image.join("initramfs.img"),
        Some(&image.join("disk.qcow2")),
    );
    InstanceSpec {
        volumes,
        ..testing::vm_spec(id, source, 9)
    }
}

fn runtime(state: &Path) -> VmRuntime {
    VmRuntime::new(VmConfig {
        qemu: PathBuf::from("qemu-system-x86_64"),
        state_dir: state.to_path_buf(),
        accel: Accel::Tcg,
        stop_grace: Duration::ZERO,
    })
}

/// Waits until the console holds `marker`; panics with its tail on timeout.
async fn wait_console(path: &Path, marker: &str) -> String {
    let deadline = Instant::now() + BOOT_TIMEOUT;
    loop {
        let text = String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned();
        if text.contains(marker) {
            return text;
        }
        if Instant::now() >= deadline {
            let tail: String = text
                .chars()
                .skip(text.chars().count().saturating_sub(3000))
                .collect();
            panic!(
                "{marker:?} not seen in {} within {BOOT_TIMEOUT:?}; console tail:\n{tail}",
                path.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts `spec` on `vms` and waits for the end of the guest's /init; returns the console
/// and the time from start to `KUMO-BOOT-COMPLETE`.
async fn boot(vms: &VmRuntime, spec: &InstanceSpec) -> (String, Duration) {
    let started = Instant::now();
    vms.start(spec, None).await.unwrap();
    let console = vms.console_path(&spec.instance_id);
    let text = wait_console(&console, "KUMO-BOOT-COMPLETE").await;
    (text, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_boots_from_an_ebs_root_volume_and_keeps_its_files() {
    let image = image_dir();
    assert!(
        image.join("disk.qcow2").is_file() && image.join("vmlinuz").is_file(),
        "VM image with a root disk missing in {}: run deploy/build-images.sh",
        image.display()
    );
    let tmp = tempfile::tempdir().unwrap();
    let (host_a, host_b) = (tmp.path().join("host-a"), tmp.path().join("host-b"));
    let _cleanup_a = kumo_compute_node::testing::KillQemuOnDrop(host_a.clone());
    let _cleanup_b = kumo_compute_node::testing::KillQemuOnDrop(host_b.clone());

    let volume_id = format!("vol-{}", &random_hex(9)[..17]);
    let serial = volume_serial(&volume_id);
    let replicas: Vec<Replica> = (0..2)
        .map(|i| Replica::start(tmp.path(), i, &image.join("disk.qcow2"), &volume_id))
        .collect();
    let root = VolumeAttachmentSpec {
        volume_id: volume_id.clone(),
        device: "/dev/xvda".into(),
        replicas: replicas.iter().map(|r| r.endpoint.clone()).collect(),
        boot: true,
    };
    let id = format!("i-{:017x}", rand::random::<u64>() >> 4);
    let ebs = spec(&id, &image, vec![root.clone()]);

    // Paused start, no local disk, the root named on the kernel command line.
    let vms_a = runtime(&host_a);
    let args = vms_a.qemu_args(&ebs, None).unwrap().join(" ");
    assert!(args.contains(" -S"), "{args}");
    assert!(args.contains(&format!("kumo.root={serial}")), "{args}");
    assert!(!args.contains("-drive"), "{args}");

    let (text, ebs_boot) = boot(&vms_a, &ebs).await;
    assert!(
        text.contains(&format!("KUMO-ROOT: /dev/vda {serial} boot 1")),
        "{text}"
    );
    assert!(
        !host_a.join(&id).join("disk.qcow2").exists(),
        "no local overlay"
    );
    let plugged = vms_a.plugged_volumes(&id).await.unwrap();
    assert!(plugged.contains(&volume_id), "{plugged:?}");

    // A spec that no longer lists the root volume does not unplug it.
    let mut without_root = ebs.clone();
    without_root.volumes.clear();
    let _ = vms_a.converge_volumes(&id, &without_root.volumes).await;
    let plugged = vms_a.plugged_volumes(&id).await.unwrap();
    assert!(plugged.contains(&volume_id), "root unplugged: {plugged:?}");

    // The instance leaves host A (its directory goes) and starts on host B: a fresh QEMU
    // reads what the first wrote on its root file system.
    vms_a.remove(&id).await.unwrap();
    let vms_b = runtime(&host_b);
    let (text, ebs_boot_again) = boot(&vms_b, &ebs).await;
    assert!(
        text.contains(&format!("KUMO-ROOT: /dev/vda {serial} boot 2")),
        "{text}"
    );
    vms_b.remove(&id).await.unwrap();

    // Both replicas got every write.
    sh(
        "qemu-img",
        &[
            "compare",
            "-U",
            "-q",
            replicas[0].file.to_str().unwrap(),
            replicas[1].file.to_str().unwrap(),
        ],
    );

    // The same image without a root volume boots from its initramfs, as before.
    let plain_id = format!("i-{:017x}", rand::random::<u64>() >> 4);
    let mut plain = spec(&plain_id, &image, Vec::new());
    plain.image.disk = None;
    let (text, initramfs_boot) = boot(&vms_a, &plain).await;
    assert!(!text.contains("KUMO-ROOT"), "{text}");
    vms_a.remove(&plain_id).await.unwrap();

    eprintln!(
        "TCG boot to KUMO-BOOT-COMPLETE: EBS root (2 NBD replicas) {:.1} s and {:.1} s, \
         initramfs only {:.1} s",
        ebs_boot.as_secs_f64(),
        ebs_boot_again.as_secs_f64(),
        initramfs_boot.as_secs_f64()
    );
}
