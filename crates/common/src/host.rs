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

/// The authority of an address (`http://10.0.0.5:9100/x` → `10.0.0.5:9100`; a bare
/// `host:port` stays as it is).
pub fn url_authority(address: &str) -> &str {
    address
        .split_once("://")
        .map_or(address, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default()
}

/// The host of an address, without its port or an IPv6 address's brackets
/// (`http://[fd00::1]:9100` → `fd00::1`).
pub fn url_host(address: &str) -> &str {
    let authority = url_authority(address);
    match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_addresses() {
        assert_eq!(url_authority("http://10.0.0.5:9100/v1"), "10.0.0.5:9100");
        assert_eq!(url_host("http://10.0.0.5:9100"), "10.0.0.5");
        assert_eq!(url_host("http://127.0.0.1:9100/"), "127.0.0.1");
        assert_eq!(url_host("10.0.0.5"), "10.0.0.5");
        assert_eq!(url_host("http://[fd00::1]:9100"), "fd00::1");
    }
}
