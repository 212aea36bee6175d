//! Real QEMU (TCG) lifecycle of the default VM image: boot, re-adoption by a fresh
//! runtime, stop (ACPI ignored by busybox → QMP quit fallback), restart with the console
//! kept, reboot, remove.
//!
//! Needs `qemu-system-x86_64` and the image from `deploy/build-images.sh`
//! (`$KUMO_IMAGE_DIR/vm/{vmlinuz,initramfs.img}`, default `<repo>/target/kumo-images`).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kumo_compute_node::testing;
use kumo_compute_node::vm::{Accel, VmConfig, VmRuntime};
use kumo_compute_protocol::{InstanceSpec, ObservedState};

const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

fn image_dir() -> PathBuf {
    std::env::var_os("KUMO_IMAGE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/kumo-images"))
}

/// The kernel and initramfs of the default VM image; fails loudly when missing.
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
    let qemu_ok = std::process::Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        qemu_ok,
        "qemu-system-x86_64 not found: run deploy/install-compute-deps.sh"
    );
    (kernel, initramfs)
}

fn spec(id: &str, kernel: &Path, initramfs: &Path) -> InstanceSpec {
    testing::vm_spec(id, testing::vm_image(kernel, initramfs, None), 7)
}

fn unique_id() -> String {
    format!("i-{:017x}", rand::random::<u64>() >> 4)
}

fn count(console: &str, marker: &str) -> usize {
    console.matches(marker).count()
}

/// Waits until `marker` appears at least `n` times in the console; panics with the
/// console's tail on timeout.
async fn wait_console(path: &Path, marker: &str, n: usize) -> String {
    let deadline = Instant::now() + BOOT_TIMEOUT;
    loop {
        let text = String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned();
        if count(&text, marker) >= n {
            return text;
        }
        if Instant::now() >= deadline {
            let tail: String = text
                .chars()
                .rev()
                .take(3000)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            panic!(
                "{marker:?} not seen {n} time(s) in {} within {BOOT_TIMEOUT:?}; console tail:\n{tail}",
                path.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits (bounded) until the guest reached the end of its /init.
async fn wait_boot_complete(path: &Path, n: usize) {
    wait_console(path, "KUMO-BOOT-COMPLETE", n).await;
}

fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next());
            matches!(state, Some('Z') | Some('X'))
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_boot_stop_restart_reboot_remove() {
    let (kernel, initramfs) = vm_image();
    let state = tempfile::tempdir().unwrap();
    let _cleanup = kumo_compute_node::testing::KillQemuOnDrop(state.path().to_path_buf());
    let config = VmConfig {
        qemu: PathBuf::from("qemu-system-x86_64"),
        state_dir: state.path().to_path_buf(),
        accel: Accel::Tcg,
        stop_grace: Duration::from_secs(3),
    };
    let runtime = VmRuntime::new(config.clone());
    let id = unique_id();
    let spec = spec(&id, &kernel, &initramfs);
    let console = runtime.console_path(&id);

    assert_eq!(runtime.observe(&id).await.unwrap(), ObservedState::Absent);
    assert_eq!(runtime.pid(&id).await.unwrap(), None);

    // Boot.
    let started = Instant::now();
    runtime.start(&spec, None).await.unwrap();
    let dir = state.path().join(&id);
    for file in ["qmp.sock", "qemu.pid", "spec.json", "console.log"] {
        assert!(dir.join(file).exists(), "{file} missing after start");
    }
    wait_console(&console, "KUMO-BOOT: kernel up", 1).await;
    eprintln!(
        "TCG boot to 'KUMO-BOOT: kernel up': {:?}",
        started.elapsed()
    );
    wait_boot_complete(&console, 1).await;
    eprintln!("TCG boot to 'KUMO-BOOT-COMPLETE': {:?}", started.elapsed());
    let text = std::fs::read_to_string(&console).unwrap();
    assert!(
        text.contains("KUMO-METADATA: unavailable")
            || text.contains(&format!("KUMO-INSTANCE-ID: {id}")),
        "no metadata line on the console:\n{text}"
    );
    assert_eq!(runtime.observe(&id).await.unwrap(), ObservedState::Running);
    let pid = runtime.pid(&id).await.unwrap().unwrap();

    // Idempotent start.
    runtime.start(&spec, None).await.unwrap();
    assert_eq!(runtime.pid(&id).await.unwrap(), Some(pid));

    // A fresh runtime on the same state dir (agent restart) re-adopts it.
    let readopted = VmRuntime::new(config.clone());
    assert_eq!(readopted.known_instances().unwrap(), vec![id.clone()]);
    assert_eq!(readopted.load_spec(&id).unwrap().as_ref(), Some(&spec));
    assert_eq!(
        readopted.observe(&id).await.unwrap(),
        ObservedState::Running
    );
    assert_eq!(readopted.pid(&id).await.unwrap(), Some(pid));

    // Stop: busybox ignores the ACPI power button, so this goes through QMP quit.
    let stopping = Instant::now();
    readopted.stop(&id).await.unwrap();
    eprintln!("stop took {:?}", stopping.elapsed());
    assert!(process_gone(pid), "QEMU pid {pid} still alive after stop");
    assert_eq!(
        readopted.observe(&id).await.unwrap(),
        ObservedState::Stopped
    );
    assert_eq!(runtime.observe(&id).await.unwrap(), ObservedState::Stopped);
    assert_eq!(runtime.pid(&id).await.unwrap(), None);
    assert!(
        dir.join("spec.json").is_file(),
        "stop must keep the directory"
    );
    // Stopping a stopped VM is a no-op.
    runtime.stop(&id).await.unwrap();

    // Start again: boots again, earlier console output kept.
    runtime.start(&spec, None).await.unwrap();
    let text = wait_console(&console, "KUMO-BOOT: kernel up", 2).await;
    let first_complete = text.find("KUMO-BOOT-COMPLETE").unwrap();
    let second_boot = text.rfind("KUMO-BOOT: kernel up").unwrap();
    assert!(
        first_complete < second_boot,
        "the first boot's output must precede the second boot's"
    );
    wait_boot_complete(&console, 2).await;
    assert_eq!(runtime.observe(&id).await.unwrap(), ObservedState::Running);
    let pid2 = runtime.pid(&id).await.unwrap().unwrap();

    // Reboot: same process, the guest boots once more.
    runtime.reboot(&id).await.unwrap();
    wait_console(&console, "KUMO-BOOT: kernel up", 3).await;
    wait_boot_complete(&console, 3).await;
    assert_eq!(runtime.pid(&id).await.unwrap(), Some(pid2));
    assert_eq!(runtime.observe(&id).await.unwrap(), ObservedState::Running);

    // Remove: process and directory gone.
    runtime.remove(&id).await.unwrap();
    assert!(
        process_gone(pid2),
        "QEMU pid {pid2} still alive after remove"
    );
    assert!(!dir.exists(), "instance directory left after remove");
    assert_eq!(runtime.observe(&id).await.unwrap(), ObservedState::Absent);
    assert_eq!(readopted.observe(&id).await.unwrap(), ObservedState::Absent);
    assert!(runtime.known_instances().unwrap().is_empty());
    // Removing again is a no-op; rebooting a missing VM is an error.
    runtime.remove(&id).await.unwrap();
    assert!(runtime.reboot(&id).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_start_fails_cleanly_on_missing_image() {
    let state = tempfile::tempdir().unwrap();
    let runtime = VmRuntime::new(VmConfig {
        qemu: PathBuf::from("qemu-system-x86_64"),
        state_dir: state.path().to_path_buf(),
        accel: Accel::Tcg,
        stop_grace: Duration::from_secs(1),
    });
    let id = unique_id();
    let missing = state.path().join("nope");
    let err = runtime
        .start(
            &spec(&id, &missing.join("vmlinuz"), &missing.join("initrd")),
            None,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert_eq!(runtime.observe(&id).await.unwrap(), ObservedState::Absent);
    // Path traversal is refused.
    assert!(runtime.remove("../etc").await.is_err());
    assert!(runtime.observe("a/b").await.is_err());
}
