//! What this host tells the control plane about itself: its capacity and its underlay.

use std::path::Path;

use kumo_compute_protocol::{HostCapacity, HostNetworkReport, InstanceKind};

use super::AgentConfig;

/// The underlay this host says it has (the operator's settings, where made, win).
pub fn network_report(config: &AgentConfig) -> HostNetworkReport {
    HostNetworkReport {
        vtep_address: config.vtep_address,
        uplink: config.uplink.clone(),
    }
}

/// What this host offers.
pub fn capacity(config: &AgentConfig) -> HostCapacity {
    let vcpus = config.vcpus.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1)
    });
    let memory_mib = config.memory_mib.unwrap_or_else(|| {
        std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<u64>().ok())
            })
            .map(|kb| (kb / 1024) as u32)
            .unwrap_or(0)
    });
    let disk_gib = disk_gib(&config.state_dir);
    let mut kinds = Vec::new();
    if on_path(&config.container_runtime) {
        kinds.push(InstanceKind::Container);
    }
    if on_path(&config.qemu) {
        kinds.push(InstanceKind::Vm);
    }
    HostCapacity {
        vcpus,
        memory_mib,
        disk_gib,
        kinds,
    }
}

fn disk_gib(path: &Path) -> u32 {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().to_string_lossy().as_bytes()) else {
        return 0;
    };
    // SAFETY: statvfs writes into the zeroed struct we pass; c is a valid C string.
    unsafe {
        let mut stat: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut stat) == 0 {
            ((stat.f_bavail as u64 * stat.f_frsize as u64) >> 30) as u32
        } else {
            0
        }
    }
}

fn on_path(program: &Path) -> bool {
    if program.components().count() > 1 {
        return program.exists();
    }
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}
