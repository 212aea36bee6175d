//! Accelerator detection and the QEMU command line (no QEMU run).
#![allow(clippy::unwrap_used)]

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use kumo_compute_node::vm::{
    cpu_has_virtualization, decide_accel, detect_accel, Accel, VmConfig, VmRuntime,
};
use kumo_compute_node::NodeError;
use kumo_compute_protocol::{
    DesiredState, ImageSource, InstanceKind, InstanceMetadata, InstanceSpec, NetworkAttachment,
    VolumeAttachmentSpec,
};

#[test]
fn detect_accel_is_tcg_without_vmx_or_svm() {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap();
    match std::env::var("KUMO_ACCEL").ok().as_deref() {
        Some("tcg") => assert_eq!(detect_accel(), Accel::Tcg),
        Some("kvm") => assert_eq!(detect_accel(), Accel::Kvm),
        _ if !cpu_has_virtualization(&cpuinfo) => {
            // This project's build machines: a PVM /dev/kvm, no vmx/svm → TCG.
            assert_eq!(detect_accel(), Accel::Tcg)
        }
        _ => eprintln!(
            "this CPU has vmx/svm: detect_accel() = {:?}",
            detect_accel()
        ),
    }
}

#[test]
fn accel_decision() {
    let plain = "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr pae hypervisor\n";
    let vmx = "processor\t: 0\nflags\t\t: fpu vme vmx de\n";
    let svm = "flags : fpu svm\n";
    assert!(!cpu_has_virtualization(plain));
    assert!(cpu_has_virtualization(vmx));
    assert!(cpu_has_virtualization(svm));
    // "vmx" inside another flag does not count.
    assert!(!cpu_has_virtualization("flags : vmxfoo svm_lock\n"));

    assert_eq!(decide_accel(None, plain, || true), Accel::Tcg);
    assert_eq!(decide_accel(None, vmx, || false), Accel::Tcg);
    assert_eq!(decide_accel(None, vmx, || true), Accel::Kvm);
    assert_eq!(decide_accel(None, svm, || true), Accel::Kvm);
    assert_eq!(decide_accel(Some("tcg"), vmx, || true), Accel::Tcg);
    assert_eq!(decide_accel(Some("KVM"), plain, || false), Accel::Kvm);
    assert_eq!(decide_accel(Some("bogus"), plain, || true), Accel::Tcg);
    assert_eq!(decide_accel(Some(""), vmx, || true), Accel::Kvm);
    // /dev/kvm is not even tried without the CPU flags.
    assert_eq!(
        decide_accel(None, plain, || panic!("opened /dev/kvm")),
        Accel::Tcg
    );
}

fn spec(id: &str, image: ImageSource) -> InstanceSpec {
    let ip = Ipv4Addr::new(10, 1, 2, 3);
    InstanceSpec {
        instance_id: id.to_string(),
        account_id: "000000000000".to_string(),
        kind: InstanceKind::Vm,
        desired: DesiredState::Running,
        generation: 1,
        reboot_count: 0,
        vcpus: 2,
        memory_mib: 512,
        image,
        network: NetworkAttachment {
            network_interface_id: String::new(),
            vpc_id: String::new(),
            subnet_id: "subnet-1".to_string(),
            bridge: "kb-1".to_string(),
            ip,
            prefix_len: 24,
            gateway: Ipv4Addr::new(10, 1, 2, 1),
            mac: "02:00:0a:01:02:03".to_string(),
            dns_server: None,
            dns_domain: String::new(),
        },
        volumes: Vec::new(),
        metadata: InstanceMetadata {
            instance_id: id.to_string(),
            instance_type: "t3.small".to_string(),
            ami_id: "ami-1".to_string(),
            reservation_id: "r-1".to_string(),
            account_id: "000000000000".to_string(),
            availability_zone: "kumo-1a".to_string(),
            region: "kumo-1".to_string(),
            local_ipv4: ip,
            mac: "02:00:0a:01:02:03".to_string(),
            hostname: "h".to_string(),
            public_keys: vec![],
            user_data: None,
        },
    }
}

fn kernel_image() -> ImageSource {
    ImageSource {
        image_id: "ami-1".to_string(),
        kind: InstanceKind::Vm,
        kernel: Some(PathBuf::from("/images/vmlinuz")),
        initramfs: Some(PathBuf::from("/images/initramfs.img")),
        disk: None,
        rootfs: None,
    }
}

fn runtime(state: &std::path::Path, accel: Accel) -> VmRuntime {
    VmRuntime::new(VmConfig {
        qemu: PathBuf::from("qemu-system-x86_64"),
        state_dir: state.to_path_buf(),
        accel,
        stop_grace: Duration::from_secs(10),
    })
}

#[test]
fn command_line_for_a_kernel_image_with_a_tap() {
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().canonicalize().unwrap();
    let rt = runtime(&state_dir, Accel::Tcg);
    let args = rt
        .qemu_args(&spec("i-00000001", kernel_image()), Some("kt-i-1"))
        .unwrap();
    let line = args.join(" ");
    let dir = state_dir.join("i-00000001");
    let d = dir.display();
    let expected = format!(
        "-name i-00000001 -machine pc -accel tcg -cpu max -m 512 -smp 2 -nodefaults -no-user-config \
         -display none -chardev socket,id=qmp,path={d}/qmp.sock,server=on,wait=off \
         -mon chardev=qmp,mode=control -chardev socket,id=qev,path={d}/qev.sock,server=on,wait=off \
         -mon chardev=qev,mode=control -chardev file,id=con,path={d}/console.log,append=on \
         -serial chardev:con -pidfile {d}/qemu.pid -daemonize -kernel /images/vmlinuz \
         -initrd /images/initramfs.img -append console=ttyS0 panic=-1 kumo.ip=10.1.2.3/24 \
         kumo.gw=10.1.2.1 kumo.instance_id=i-00000001 -netdev tap,id=n0,ifname=kt-i-1,script=no,downscript=no \
         -device virtio-net-pci,netdev=n0,mac=02:00:0a:01:02:03"
    );
    assert_eq!(line, expected);
    // The kernel command line is one argument.
    let append = args.iter().position(|a| a == "-append").unwrap();
    assert!(args[append + 1].starts_with("console=ttyS0 "));
    assert_eq!(rt.console_path("i-00000001"), dir.join("console.log"));
}

#[test]
fn command_line_for_a_disk_image_under_kvm_without_nic() {
    let state = tempfile::tempdir().unwrap();
    let rt = runtime(state.path(), Accel::Kvm);
    let image = ImageSource {
        kernel: None,
        initramfs: None,
        disk: Some(PathBuf::from("/images/disk.qcow2")),
        ..kernel_image()
    };
    let args = rt.qemu_args(&spec("i-00000002", image), None).unwrap();
    let line = args.join(" ");
    assert!(line.contains("-accel kvm -cpu host"), "{line}");
    assert!(!line.contains("-kernel"), "{line}");
    assert!(!line.contains("-netdev"), "{line}");
    let disk = rt.instance_dir("i-00000002").join("disk.qcow2");
    assert!(
        line.contains(&format!(
            "-drive file={},if=virtio,format=qcow2",
            disk.display()
        )),
        "{line}"
    );
}

#[test]
fn command_line_for_an_ebs_root_volume() {
    let state = tempfile::tempdir().unwrap();
    let rt = runtime(state.path(), Accel::Tcg);
    let image = ImageSource {
        disk: Some(PathBuf::from("/images/disk.qcow2")),
        ..kernel_image()
    };
    let mut ebs = spec("i-00000003", image);
    ebs.volumes.push(VolumeAttachmentSpec {
        volume_id: "vol-0123456789abcdef0".into(),
        device: "/dev/xvda".into(),
        replicas: Vec::new(),
        boot: true,
    });
    let args = rt.qemu_args(&ebs, None).unwrap();
    // Paused until the root volume is plugged; no local overlay; the root named by serial.
    assert!(args.iter().any(|a| a == "-S"), "{args:?}");
    assert!(!args.iter().any(|a| a == "-drive"), "{args:?}");
    let append = args.iter().position(|a| a == "-append").unwrap();
    assert!(
        args[append + 1].ends_with(" kumo.root=vol0123456789abcdef0"),
        "{}",
        args[append + 1]
    );
    // The same image without a boot volume: its disk is a local overlay, no kumo.root.
    ebs.volumes[0].boot = false;
    let args = rt.qemu_args(&ebs, None).unwrap();
    assert!(!args.iter().any(|a| a == "-S"), "{args:?}");
    assert!(args.iter().any(|a| a == "-drive"), "{args:?}");
    assert!(!args.join(" ").contains("kumo.root"), "{args:?}");
}

#[test]
fn invalid_specs_are_refused() {
    let state = tempfile::tempdir().unwrap();
    let rt = runtime(state.path(), Accel::Tcg);
    let invalid =
        |r: kumo_compute_node::Result<Vec<String>>| matches!(r, Err(NodeError::InvalidSpec(_)));
    assert!(invalid(rt.qemu_args(&spec("../x", kernel_image()), None)));
    assert!(invalid(rt.qemu_args(&spec("", kernel_image()), None)));
    assert!(invalid(rt.qemu_args(&spec("a,b", kernel_image()), None)));
    let nothing = ImageSource {
        kernel: None,
        initramfs: None,
        ..kernel_image()
    };
    assert!(invalid(rt.qemu_args(&spec("i-00000003", nothing), None)));
    assert!(invalid(rt.qemu_args(
        &spec("i-00000003", kernel_image()),
        Some("tap,evil=1")
    )));
    assert!(invalid(rt.qemu_args(
        &spec("i-00000003", kernel_image()),
        Some("a-very-long-tap-name")
    )));
    let mut bad_mac = spec("i-00000003", kernel_image());
    bad_mac.network.mac = "02:00:0a:01:02".to_string();
    assert!(invalid(rt.qemu_args(&bad_mac, Some("kt-3"))));
    let mut no_cpu = spec("i-00000003", kernel_image());
    no_cpu.vcpus = 0;
    assert!(invalid(rt.qemu_args(&no_cpu, None)));
    // No NIC: the MAC is not looked at.
    assert!(rt.qemu_args(&bad_mac, None).is_ok());
}
