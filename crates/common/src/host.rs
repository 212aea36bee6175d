//! Facts about the machine a process runs on.

/// This machine's hostname (`localhost` when unknown or empty): the default name an agent
/// enrols under.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
