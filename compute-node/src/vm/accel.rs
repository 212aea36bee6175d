//! Which accelerator QEMU runs guests with: KVM when the hardware offers it, else TCG.

/// The accelerator QEMU runs guests with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn as_str(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// KVM when `/proc/cpuinfo` shows `vmx` or `svm` and `/dev/kvm` opens read-write, else
/// TCG. The environment variable `KUMO_ACCEL=tcg|kvm` overrides the detection.
pub fn detect_accel() -> Accel {
    let env = std::env::var("KUMO_ACCEL").ok();
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    decide_accel(env.as_deref(), &cpuinfo, || {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .is_ok()
    })
}

/// The decision behind [`detect_accel`], from its inputs: the `KUMO_ACCEL` value, the
/// text of `/proc/cpuinfo`, and whether `/dev/kvm` opens (asked only when needed).
pub fn decide_accel(env: Option<&str>, cpuinfo: &str, kvm_opens: impl FnOnce() -> bool) -> Accel {
    match env.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        Some("tcg") => return Accel::Tcg,
        Some("kvm") => return Accel::Kvm,
        None | Some("") => {}
        Some(other) => {
            tracing::warn!(
                value = other,
                "KUMO_ACCEL is neither tcg nor kvm; detecting"
            )
        }
    }
    if cpu_has_virtualization(cpuinfo) && kvm_opens() {
        Accel::Kvm
    } else {
        Accel::Tcg
    }
}

/// Whether a `/proc/cpuinfo` text shows hardware virtualization (`vmx` or `svm`).
pub fn cpu_has_virtualization(cpuinfo: &str) -> bool {
    cpuinfo
        .lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == "flags").then_some(value)
        })
        .any(|flags| flags.split_whitespace().any(|f| f == "vmx" || f == "svm"))
}
