//! Commands run inside one network namespace (a named one, or the agent's own): `ip`,
//! `bridge`, `nft`, `sysctl`, and the small JSON readings the convergence code diffs
//! against.

use std::path::Path;

use crate::error::{run, run_with_input, NodeError, Result};
use crate::network::NETNS_DIR;

/// One network namespace: `None` is the agent's current one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Netns {
    name: Option<String>,
}

impl Netns {
    /// The agent's current namespace.
    pub fn current() -> Self {
        Self { name: None }
    }

    /// The named namespace (`/var/run/netns/<name>`).
    pub fn named(name: &str) -> Self {
        Self {
            name: Some(name.to_string()),
        }
    }

    /// `named(name)` or, without a name, the current one.
    pub fn from_option(name: Option<&str>) -> Self {
        Self {
            name: name.map(str::to_string),
        }
    }

    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Whether a named namespace exists (the current one always does).
    pub fn exists(&self) -> bool {
        match &self.name {
            Some(name) => Path::new(NETNS_DIR).join(name).exists(),
            None => true,
        }
    }

    /// Create the named namespace unless it exists.
    pub async fn create(&self) -> Result<()> {
        let Some(name) = &self.name else {
            return Ok(());
        };
        if !self.exists() {
            if let Err(e) = run("ip", &["netns", "add", name]).await {
                if !self.exists() {
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Delete the named namespace (its links go with it); fine if already gone.
    pub async fn delete(&self) -> Result<()> {
        let Some(name) = &self.name else {
            return Ok(());
        };
        if self.exists() {
            if let Err(e) = run("ip", &["netns", "del", name]).await {
                if self.exists() {
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// `ip …` in this namespace.
    pub async fn ip(&self, args: &[&str]) -> Result<String> {
        self.tool("ip", args).await
    }

    /// `bridge …` in this namespace.
    pub async fn bridge(&self, args: &[&str]) -> Result<String> {
        self.tool("bridge", args).await
    }

    /// `nft -f -` with `script`: one atomic transaction.
    pub async fn nft_script(&self, script: &str) -> Result<String> {
        match &self.name {
            Some(ns) => {
                run_with_input("ip", &["netns", "exec", ns, "nft", "-f", "-"], script).await
            }
            None => run_with_input("nft", &["-f", "-"], script).await,
        }
    }

    /// `nft <command>`.
    pub async fn nft(&self, command: &str) -> Result<String> {
        self.exec("nft", &[command]).await
    }

    /// Set `key` (e.g. `net.ipv4.ip_forward`) to `value` unless it already has it.
    pub async fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        let current = self.exec("sysctl", &["-n", key]).await?;
        if current.trim() != value {
            self.exec("sysctl", &["-qw", &format!("{key}={value}")])
                .await?;
        }
        Ok(())
    }

    pub async fn link_exists(&self, name: &str) -> bool {
        self.ip(&["link", "show", "dev", name]).await.is_ok()
    }

    /// Delete a link; fine if it is already gone.
    pub async fn delete_link(&self, name: &str) -> Result<()> {
        if self.link_exists(name).await {
            if let Err(e) = self.ip(&["link", "del", "dev", name]).await {
                if self.link_exists(name).await {
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// `ip -j …` parsed; an empty answer is an empty list.
    pub async fn ip_json(&self, args: &[&str]) -> Result<Vec<serde_json::Value>> {
        let mut all = vec!["-j"];
        all.extend_from_slice(args);
        parse_json_list(&self.ip(&all).await?, args)
    }

    /// `bridge -j …` parsed.
    pub async fn bridge_json(&self, args: &[&str]) -> Result<Vec<serde_json::Value>> {
        let mut all = vec!["-j"];
        all.extend_from_slice(args);
        parse_json_list(&self.bridge(&all).await?, args)
    }

    /// One link's `ip -j -d link show` entry (`None`: no such link).
    pub async fn link_details(&self, name: &str) -> Option<serde_json::Value> {
        self.ip_json(&["-d", "link", "show", "dev", name])
            .await
            .ok()?
            .into_iter()
            .next()
    }

    /// The IPv4 addresses (`a.b.c.d/len`) on a link.
    pub async fn ipv4_addresses(&self, link: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for entry in self.ip_json(&["-4", "addr", "show", "dev", link]).await? {
            for a in entry
                .get("addr_info")
                .and_then(|a| a.as_array())
                .into_iter()
                .flatten()
            {
                if let (Some(local), Some(len)) = (
                    a.get("local").and_then(|x| x.as_str()),
                    a.get("prefixlen").and_then(|x| x.as_u64()),
                ) {
                    out.push(format!("{local}/{len}"));
                }
            }
        }
        Ok(out)
    }

    /// Make `link` hold exactly `wanted` IPv4 addresses (`a.b.c.d/len`).
    pub async fn set_ipv4_addresses(&self, link: &str, wanted: &[String]) -> Result<()> {
        let present = self.ipv4_addresses(link).await?;
        for old in present.iter().filter(|a| !wanted.contains(a)) {
            self.ip(&["addr", "del", old, "dev", link]).await?;
        }
        for new in wanted.iter().filter(|a| !present.contains(a)) {
            self.ip(&["addr", "replace", new, "dev", link]).await?;
        }
        Ok(())
    }

    async fn tool(&self, program: &str, args: &[&str]) -> Result<String> {
        match &self.name {
            Some(ns) => {
                let mut all = vec!["-n", ns.as_str()];
                all.extend_from_slice(args);
                run(program, &all).await
            }
            None => run(program, args).await,
        }
    }

    async fn exec(&self, program: &str, args: &[&str]) -> Result<String> {
        match &self.name {
            Some(ns) => {
                let mut all = vec!["netns", "exec", ns.as_str(), program];
                all.extend_from_slice(args);
                run("ip", &all).await
            }
            None => run(program, args).await,
        }
    }
}

fn parse_json_list(text: &str, args: &[&str]) -> Result<Vec<serde_json::Value>> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    match serde_json::from_str(text) {
        Ok(serde_json::Value::Array(list)) => Ok(list),
        Ok(_) => Ok(Vec::new()),
        Err(e) => Err(NodeError::Other(format!("{}: {e}", args.join(" ")))),
    }
}

/// A string field of a JSON object.
pub fn field<'a>(value: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    value.get(name).and_then(|v| v.as_str())
}
