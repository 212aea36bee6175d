//! The QEMU command line of a VM, and the checks of what goes into it.

use std::path::Path;

use kumo_common::ids::{InstanceId, VolumeId};
use kumo_compute_protocol::InstanceSpec;

use super::boot::boot_volume;
use super::volumes::volume_serial;
use super::{
    absolute, Accel, VmRuntime, CONSOLE_FILE, DISK_FILE, PID_FILE, QMP_SOCKET, SUN_PATH_MAX,
};
use crate::error::{NodeError, Result};
use crate::network::{validate_link_name, validate_mac};

impl VmRuntime {
    /// The QEMU arguments (without the binary) that [`start`](Self::start) uses.
    pub fn qemu_args(&self, spec: &InstanceSpec, tap: Option<&str>) -> Result<Vec<String>> {
        let id = spec.instance_id.as_str();
        InstanceId::parse(id)?;
        if spec.vcpus == 0 || spec.memory_mib == 0 {
            return Err(NodeError::InvalidSpec(format!(
                "{id}: {} vCPUs and {} MiB of memory",
                spec.vcpus, spec.memory_mib
            )));
        }
        let dir = self.instance_dir(id);
        let qmp = dir.join(QMP_SOCKET);
        if qmp.as_os_str().len() > SUN_PATH_MAX {
            return Err(NodeError::Other(format!(
                "QMP socket path {} is longer than {SUN_PATH_MAX} bytes: use a shorter state dir",
                qmp.display()
            )));
        }
        let mut args: Vec<String> = Vec::new();
        let mut push = |items: &[&str]| args.extend(items.iter().map(|s| s.to_string()));
        push(&["-name", id]);
        push(&["-machine", "pc", "-accel", self.config.accel.as_str()]);
        push(&[
            "-cpu",
            match self.config.accel {
                Accel::Kvm => "host",
                Accel::Tcg => "max",
            },
        ]);
        push(&["-m", &spec.memory_mib.to_string()]);
        push(&["-smp", &spec.vcpus.to_string()]);
        push(&["-nodefaults", "-no-user-config", "-display", "none"]);
        push(&[
            "-chardev",
            &format!("socket,id=qmp,path={},server=on,wait=off", opt_path(&qmp)),
            "-mon",
            "chardev=qmp,mode=control",
        ]);
        // A second monitor, only listened to: volume replicas' failed writes (events).
        push(&[
            "-chardev",
            &format!(
                "socket,id=qev,path={},server=on,wait=off",
                opt_path(&dir.join(super::replicas::EVENTS_SOCKET))
            ),
            "-mon",
            "chardev=qev,mode=control",
        ]);
        push(&[
            "-chardev",
            &format!(
                "file,id=con,path={},append=on",
                opt_path(&dir.join(CONSOLE_FILE))
            ),
            "-serial",
            "chardev:con",
        ]);
        push(&["-pidfile", &path_str(&dir.join(PID_FILE)), "-daemonize"]);
        let root = boot_volume(spec);
        if let Some(root) = root {
            VolumeId::parse(&root.volume_id)?;
            // Paused until the root volume is plugged over QMP.
            push(&["-S"]);
        }

        let image = &spec.image;
        match (&image.kernel, &image.initramfs) {
            (Some(kernel), initramfs) => {
                push(&["-kernel", &path_str(&absolute(kernel))]);
                if let Some(initramfs) = initramfs {
                    push(&["-initrd", &path_str(&absolute(initramfs))]);
                }
                let net = &spec.network;
                let mut append = format!(
                    "console=ttyS0 panic=-1 kumo.ip={}/{} kumo.gw={} kumo.instance_id={id}",
                    net.ip, net.prefix_len, net.gateway
                );
                if let Some(root) = root {
                    append.push_str(&format!(" kumo.root={}", volume_serial(&root.volume_id)));
                }
                push(&["-append", &append]);
            }
            (None, Some(_)) => {
                return Err(NodeError::InvalidSpec(format!(
                    "{id}: image {} has an initramfs but no kernel",
                    image.image_id
                )))
            }
            (None, None) if image.disk.is_none() => {
                return Err(NodeError::InvalidSpec(format!(
                    "{id}: image {} has neither a kernel nor a disk",
                    image.image_id
                )))
            }
            (None, None) => {}
        }
        // An EBS-backed VM's disk is its root volume, not a local overlay.
        if image.disk.is_some() && root.is_none() {
            push(&[
                "-drive",
                &format!(
                    "file={},if=virtio,format=qcow2",
                    opt_path(&dir.join(DISK_FILE))
                ),
            ]);
        }
        if let Some(tap) = tap {
            validate_link_name(tap)?;
            let mac = &spec.network.mac;
            validate_mac(mac)?;
            push(&[
                "-netdev",
                &format!("tap,id=n0,ifname={tap},script=no,downscript=no"),
                "-device",
                &format!("virtio-net-pci,netdev=n0,mac={mac}"),
            ]);
        }
        Ok(args)
    }
}

pub(super) fn check_image_files(spec: &InstanceSpec) -> Result<()> {
    let image = &spec.image;
    // The root volume was made from the image's disk on storage nodes: no local copy.
    let disk = match boot_volume(spec) {
        Some(_) => &None,
        None => &image.disk,
    };
    for (what, path) in [
        ("kernel", &image.kernel),
        ("initramfs", &image.initramfs),
        ("disk", disk),
    ] {
        if let Some(path) = path {
            if !path.is_file() {
                return Err(NodeError::InvalidSpec(format!(
                    "{}: {what} {} of image {} does not exist",
                    spec.instance_id,
                    path.display(),
                    image.image_id
                )));
            }
        }
    }
    Ok(())
}

pub(super) fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// A path inside a QEMU `key=value,…` option: commas are doubled.
fn opt_path(path: &Path) -> String {
    path_str(path).replace(',', ",,")
}
