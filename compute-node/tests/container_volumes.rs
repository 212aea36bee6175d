//! EBS volumes in running containers, for real: two `qemu-storage-daemon` NBD+TLS-PSK
//! exports on 127.0.0.1 stand for two storage nodes' replicas; the agent's container
//! runtime attaches the volume (local daemon, quorum, FUSE export, loop, mknod) at
//! `/dev/sdf` of a running runc container, which writes a pattern with dd; both replicas
//! hold it; a new runtime (agent restart) adopts the volume; detach removes the device
//! while the container runs; attached to a second container the checksum reads back equal.
//! Needs root, runc, busybox-static and QEMU's tools; skipped (with a note) without them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use kumo_compute_node::container::{ContainerConfig, ContainerRuntime};
use kumo_compute_node::testing::busybox_rootfs_tarball;
use kumo_compute_protocol::{
    DesiredState, ImageSource, InstanceKind, InstanceMetadata, InstanceSpec, NetworkAttachment,
    ObservedState, VolumeAttachmentSpec, VolumeReplicaEndpoint,
};

const MIB: u64 = 1 << 20;

fn tools_present() -> bool {
    let found = ["qemu-storage-daemon", "qemu-img", "runc", "losetup"]
        .iter()
        .all(|tool| Command::new(tool).arg("--version").output().is_ok())
        && Path::new("/dev/fuse").exists();
    if !found {
        eprintln!("skipped: qemu-storage-daemon, qemu-img, runc, losetup or /dev/fuse missing");
    }
    found
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut buf))
        .unwrap();
    hex::encode(buf)
}

/// A storage node's replica: a qcow2 exported over NBD with TLS-PSK, killed when dropped.
struct Replica {
    image: PathBuf,
    daemon: Child,
    endpoint: VolumeReplicaEndpoint,
}

impl Replica {
    fn start(dir: &Path, n: usize, volume_id: &str, port: u16) -> Self {
        let image = dir.join(format!("replica{n}.qcow2"));
        let tls = dir.join(format!("tls{n}"));
        std::fs::create_dir_all(&tls).unwrap();
        let key = random_hex(32);
        std::fs::write(tls.join("keys.psk"), format!("{volume_id}:{key}\n")).unwrap();
        let created = Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2"])
            .arg(&image)
            .arg((64 * MIB).to_string())
            .status()
            .unwrap();
        assert!(created.success());
        let mut daemon = Command::new("qemu-storage-daemon")
            .arg("--object")
            .arg(format!(
                "tls-creds-psk,id=tls0,endpoint=server,dir={}",
                tls.display()
            ))
            .arg("--nbd-server")
            .arg(format!(
                "addr.type=inet,addr.host=127.0.0.1,addr.port={port},tls-creds=tls0"
            ))
            .arg("--blockdev")
            .arg(format!(
                "driver=file,node-name=file0,filename={}",
                image.display()
            ))
            .arg("--blockdev")
            .arg("driver=qcow2,node-name=disk0,file=file0")
            .arg("--export")
            .arg(format!(
                "type=nbd,id=e0,node-name=disk0,name={volume_id},writable=on"
            ))
            .spawn()
            .unwrap();
        // Readiness, not speed: a loaded machine may take a while to start the daemon, but a
        // daemon that exited (say, its port was taken) fails at once with its status.
        let deadline = Instant::now() + Duration::from_secs(120);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = daemon.try_wait().unwrap() {
                panic!("the NBD server for port {port} exited: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "NBD server on {port} never listened"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Replica {
            image,
            daemon,
            endpoint: VolumeReplicaEndpoint {
                host: "127.0.0.1".into(),
                nbd_port: port,
                psk_identity: volume_id.into(),
                psk_key_hex: key,
                replica_id: format!("node-{n}"),
                in_sync: true,
            },
        }
    }

    /// md5 of the replica's first `mib` MiB (read while the server holds it: `-U`).
    fn md5(&self, dir: &Path, mib: u64) -> String {
        let raw = dir.join("check.raw");
        let st = Command::new("qemu-img")
            .args(["convert", "-U", "-O", "raw"])
            .arg(&self.image)
            .arg(&raw)
            .status()
            .unwrap();
        assert!(st.success());
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("head -c {} {} | md5sum", mib * MIB, raw.display()))
            .output()
            .unwrap();
        std::fs::remove_file(&raw).unwrap();
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// A running container in its own throw-away network namespace; deleted when dropped.
struct TestContainer {
    id: String,
    netns: String,
    root: PathBuf,
}

impl TestContainer {
    async fn start(rt: &ContainerRuntime, tar: &Path) -> Self {
        let id = format!("i-f{:016x}", rand::random::<u64>());
        let netns = format!("kumo-v-{:08x}", rand::random::<u32>());
        assert!(Command::new("ip")
            .args(["netns", "add", &netns])
            .status()
            .unwrap()
            .success());
        let container = TestContainer {
            id: id.clone(),
            netns: netns.clone(),
            root: rt.config().state_dir.join("runc"),
        };
        rt.start(
            &spec(&id, tar),
            Path::new(&format!("/var/run/netns/{netns}")),
        )
        .await
        .unwrap();
        container
    }

    /// Run a shell command inside the container; its stdout, or a panic with its stderr.
    fn exec(&self, script: &str) -> String {
        let out = Command::new("runc")
            .arg("--root")
            .arg(&self.root)
            .args(["exec", &self.id, "/bin/sh", "-c", script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for TestContainer {
    fn drop(&mut self) {
        let _ = Command::new("runc")
            .arg("--root")
            .arg(&self.root)
            .args(["delete", "--force", &self.id])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .output();
    }
}

fn spec(id: &str, rootfs: &Path) -> InstanceSpec {
    let ip = Ipv4Addr::new(10, 9, 0, 2);
    InstanceSpec {
        instance_id: id.to_string(),
        account_id: "123456789012".into(),
        kind: InstanceKind::Container,
        desired: DesiredState::Running,
        generation: 1,
        reboot_count: 0,
        vcpus: 1,
        memory_mib: 256,
        image: ImageSource {
            image_id: "ami-busybox".into(),
            kind: InstanceKind::Container,
            kernel: None,
            initramfs: None,
            disk: None,
            rootfs: Some(rootfs.to_path_buf()),
        },
        network: NetworkAttachment {
            network_interface_id: String::new(),
            vpc_id: String::new(),
            subnet_id: "subnet-9".into(),
            bridge: "kb-vol".into(),
            ip,
            prefix_len: 24,
            gateway: Ipv4Addr::new(10, 9, 0, 1),
            mac: "02:00:0a:09:00:02".into(),
            dns_server: None,
            dns_domain: String::new(),
        },
        volumes: Vec::new(),
        metadata: InstanceMetadata {
            instance_id: id.to_string(),
            instance_type: "c.small".into(),
            ami_id: "ami-busybox".into(),
            reservation_id: "r-0000000000000001".into(),
            account_id: "123456789012".into(),
            availability_zone: "kumo-1a".into(),
            region: "kumo-1".into(),
            local_ipv4: ip,
            mac: "02:00:0a:09:00:02".into(),
            hostname: id.to_string(),
            public_keys: vec![],
            user_data: None,
        },
    }
}

fn loops_of(file: &Path) -> usize {
    let out = Command::new("losetup").arg("-a").output().unwrap();
    let file = file.to_string_lossy().into_owned();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&file))
        .count()
}

/// The `max_background` limit of the FUSE connection serving `file`.
fn fuse_max_background(file: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata(file).unwrap().dev();
    let connection = (u64::from(libc::major(dev)) << 20) | u64::from(libc::minor(dev));
    std::fs::read_to_string(format!(
        "/sys/fs/fuse/connections/{connection}/max_background"
    ))
    .unwrap()
    .trim()
    .to_string()
}

#[tokio::test]
async fn a_volume_attaches_to_running_containers_and_keeps_its_bytes() {
    if !tools_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let tar = busybox_rootfs_tarball(tmp.path()).unwrap();
    let volume_id = format!("vol-{}", &random_hex(9)[..17]);
    let base = 20000 + (rand::random::<u16>() % 20000);
    let replicas = [
        Replica::start(tmp.path(), 0, &volume_id, base),
        Replica::start(tmp.path(), 1, &volume_id, base + 1),
    ];
    let volume = VolumeAttachmentSpec {
        volume_id: volume_id.clone(),
        device: "/dev/sdf".into(),
        replicas: replicas.iter().map(|r| r.endpoint.clone()).collect(),
        boot: false,
    };
    let config = ContainerConfig::new(tmp.path().join("state"));
    let rt = ContainerRuntime::new(config.clone());
    let writer = TestContainer::start(&rt, &tar).await;
    assert_eq!(writer.exec("test -e /dev/sdf || echo absent"), "absent");

    // Attach while it runs: the device appears.
    let started = Instant::now();
    rt.converge_volumes(&writer.id, std::slice::from_ref(&volume))
        .await
        .unwrap();
    let visible = started.elapsed();
    assert!(rt
        .plugged_volumes(&writer.id)
        .await
        .unwrap()
        .contains(&volume_id));
    println!("attach → /dev/sdf visible in the container: {visible:?}");
    // The export takes one background request at a time: qemu-storage-daemon < 10.1 can
    // send a write's replicas the next write's bytes when two are in flight.
    let volume_dir = config
        .state_dir
        .join(&writer.id)
        .join("volumes")
        .join(&volume_id);
    assert_eq!(fuse_max_background(&volume_dir.join("disk")), "1");
    assert_eq!(
        writer.exec("head -c 1 /dev/sdf >/dev/null && echo readable"),
        "readable"
    );
    writer.exec("head -c 16777216 /dev/urandom > /tmp/pattern");
    let started = Instant::now();
    writer.exec("dd if=/tmp/pattern of=/dev/sdf bs=1M conv=fsync 2>/dev/null");
    let write_time = started.elapsed();
    let written = writer.exec("md5sum < /tmp/pattern");
    let written = written.split_whitespace().next().unwrap().to_string();
    // Read back through the loop device with its page cache dropped (O_DIRECT).
    let started = Instant::now();
    let read_back = writer.exec("dd if=/dev/sdf bs=1M count=16 iflag=direct 2>/dev/null | md5sum");
    let read_time = started.elapsed();
    assert_eq!(read_back.split_whitespace().next().unwrap(), written);
    println!(
        "16 MiB through loop → FUSE → quorum → 2 × NBD+TLS: write+fsync {:.1} MiB/s, \
         direct read {:.1} MiB/s",
        16.0 / write_time.as_secs_f64(),
        16.0 / read_time.as_secs_f64()
    );

    // A restarted agent (a new runtime) adopts it; converging again changes nothing.
    let rt = ContainerRuntime::new(config.clone());
    assert!(rt
        .plugged_volumes(&writer.id)
        .await
        .unwrap()
        .contains(&volume_id));
    rt.converge_volumes(&writer.id, std::slice::from_ref(&volume))
        .await
        .unwrap();
    assert_eq!(loops_of(&volume_dir.join("disk")), 1);

    // Detach while it runs: the device disappears, the loop and the daemon go.
    rt.converge_volumes(&writer.id, &[]).await.unwrap();
    assert_eq!(writer.exec("test -e /dev/sdf || echo absent"), "absent");
    assert!(rt.plugged_volumes(&writer.id).await.unwrap().is_empty());
    assert!(!volume_dir.exists());
    // Every replica got every write.
    for replica in &replicas {
        assert_eq!(replica.md5(tmp.path(), 16), written);
    }

    // Another container gets the same bytes (at another name).
    let reader = TestContainer::start(&rt, &tar).await;
    let at_g = VolumeAttachmentSpec {
        device: "/dev/xvdg".into(),
        ..volume.clone()
    };
    rt.converge_volumes(&reader.id, std::slice::from_ref(&at_g))
        .await
        .unwrap();
    let read = reader.exec("head -c 16777216 /dev/xvdg | md5sum");
    assert_eq!(read.split_whitespace().next().unwrap(), written);

    // Removing the instance takes its volumes away too.
    let reader_volume = config
        .state_dir
        .join(&reader.id)
        .join("volumes")
        .join(&volume_id);
    rt.remove(&reader.id).await.unwrap();
    assert!(!reader_volume.exists());
    assert_eq!(loops_of(&reader_volume.join("disk")), 0);
    rt.remove(&writer.id).await.unwrap();
}

/// A container launched with an EBS root (`boot: true`): the empty volume becomes an ext4
/// holding the image, mounted as its `/`; a file written there survives a stop and a start
/// by a new runtime on a fresh state directory (another host); the root is never a device
/// in the container; stop and remove release the mount, the loop and the daemon.
#[tokio::test]
async fn a_container_boots_from_an_ebs_root_and_keeps_its_files() {
    if !tools_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let tar = busybox_rootfs_tarball(tmp.path()).unwrap();
    let volume_id = format!("vol-{}", &random_hex(9)[..17]);
    let base = 20000 + (rand::random::<u16>() % 20000);
    let replicas = [
        Replica::start(tmp.path(), 0, &volume_id, base),
        Replica::start(tmp.path(), 1, &volume_id, base + 1),
    ];
    let root = VolumeAttachmentSpec {
        volume_id: volume_id.clone(),
        device: "/dev/xvda".into(),
        replicas: replicas.iter().map(|r| r.endpoint.clone()).collect(),
        boot: true,
    };
    let id = format!("i-f{:016x}", rand::random::<u64>());
    let mut spec = spec(&id, &tar);
    spec.volumes = vec![root.clone()];
    let netns = format!("kumo-v-{:08x}", rand::random::<u32>());
    assert!(Command::new("ip")
        .args(["netns", "add", &netns])
        .status()
        .unwrap()
        .success());
    let netns_path = PathBuf::from(format!("/var/run/netns/{netns}"));
    let exec = |state: &Path, script: &str| -> String {
        let out = Command::new("runc")
            .arg("--root")
            .arg(state.join("runc"))
            .args(["exec", &id, "/bin/sh", "-c", script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };

    // First host: the empty volume is made the image's ext4 and mounted as `/`.
    let first_state = tmp.path().join("first");
    let rt = ContainerRuntime::new(ContainerConfig::new(&first_state));
    let started = Instant::now();
    rt.start(&spec, &netns_path).await.unwrap();
    println!(
        "first boot from an empty EBS root (mkfs + image): {:?}",
        started.elapsed()
    );
    let root_mount = exec(&first_state, "grep ' / ' /proc/mounts");
    assert!(root_mount.contains(" ext4 "), "{root_mount}");
    assert!(rt.plugged_volumes(&id).await.unwrap().contains(&volume_id));
    // The root volume is the container's `/`, not a device in it; converging the spec's
    // volumes leaves it alone.
    rt.converge_volumes(&id, std::slice::from_ref(&root))
        .await
        .unwrap();
    assert_eq!(
        exec(&first_state, "test -e /dev/xvda || echo absent"),
        "absent"
    );
    exec(&first_state, "echo kept-across-hosts > /marker && sync");
    rt.stop(&id, Duration::from_secs(5)).await.unwrap();
    let root_dir = first_state.join(&id).join("root").join(&volume_id);
    assert!(
        !root_dir.exists(),
        "the root's daemon files stay after stop"
    );
    assert_eq!(loops_of(&root_dir.join("disk")), 0);
    assert_eq!(rt.observe(&id).await.unwrap(), ObservedState::Stopped);

    // Another host (a fresh state directory): the same root, with its data.
    let second_state = tmp.path().join("second");
    let rt = ContainerRuntime::new(ContainerConfig::new(&second_state));
    let started = Instant::now();
    rt.start(&spec, &netns_path).await.unwrap();
    println!("boot from an existing EBS root: {:?}", started.elapsed());
    assert_eq!(exec(&second_state, "cat /marker"), "kept-across-hosts");
    // A restarted agent finds it mounted; starting again changes nothing.
    let rt = ContainerRuntime::new(ContainerConfig::new(&second_state));
    assert!(rt.plugged_volumes(&id).await.unwrap().contains(&volume_id));
    rt.start(&spec, &netns_path).await.unwrap();
    exec(&second_state, "echo second >> /marker && sync");
    rt.remove(&id).await.unwrap();
    let root_dir = second_state.join(&id).join("root").join(&volume_id);
    assert_eq!(loops_of(&root_dir.join("disk")), 0);
    assert!(!second_state.join(&id).exists());
    let _ = Command::new("ip").args(["netns", "del", &netns]).output();

    // The replicas hold the file system, whole: the host side reads it back.
    let raw = tmp.path().join("root.raw");
    assert!(Command::new("qemu-img")
        .args(["convert", "-U", "-O", "raw"])
        .arg(&replicas[1].image)
        .arg(&raw)
        .status()
        .unwrap()
        .success());
    let fsck = Command::new("e2fsck")
        .args(["-f", "-n"])
        .arg(&raw)
        .output()
        .unwrap();
    assert!(
        fsck.status.success(),
        "{}",
        String::from_utf8_lossy(&fsck.stdout)
    );
    let marker = Command::new("debugfs")
        .args(["-R", "cat /marker"])
        .arg(&raw)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&marker.stdout),
        "kept-across-hosts\nsecond\n"
    );
}
