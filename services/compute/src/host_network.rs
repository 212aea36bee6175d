//! What each host's agent is told about the VPC data plane, and how fast: the long poll
//! `GET /v1/agent/network?after=<generation>`, answered with the host's whole
//! [`HostNetworkSpec`] as soon as anything that shapes it changes.
//!
//! The catalog notifies channel `kumo_data_plane` (triggers on the network tables, on
//! instances moving or changing state, on hosts' underlay settings); one listener task per
//! process bumps an in-memory generation on every notification, and waiting polls answer.
//! The VPCs themselves are the network service's to compute ([`HostNetworkPlanner`], wired
//! by the composition root); the host's underlay settings are compute's: what the agent
//! reports in enrolment and sync, unless the operator set them.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kumo_auth::Principal;
pub use kumo_compute_protocol::network::VpcSpec;
use kumo_compute_protocol::{HostNetworkReport, HostNetworkSettings, HostNetworkSpec};
use serde::Deserialize;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::error::{ComputeError, Result};
use crate::hosts::{self, Host};
use crate::{require_operator, Compute};

/// The channel the catalog's triggers notify.
pub const CHANNEL: &str = "kumo_data_plane";

/// The longest a poll waits for a change before answering with the same generation.
pub const LONG_POLL: Duration = Duration::from_secs(25);

/// The network service, as the data plane's long poll uses it.
#[async_trait::async_trait]
pub trait HostNetworkPlanner: Send + Sync {
    /// Every VPC with an interface of an active instance on `host_id`, as that host must
    /// build it.
    async fn vpcs(&self, host_id: &str) -> Result<Vec<VpcSpec>>;
}

#[derive(Debug, Clone, Copy)]
struct Generation {
    value: i64,
    /// The process is stopping: waiting polls answer now instead of holding it up.
    stopping: bool,
}

/// This process's data-plane generation, shared by the listener task and the polls.
#[derive(Clone)]
pub struct DataPlane {
    generation: Arc<watch::Sender<Generation>>,
}

impl Default for DataPlane {
    fn default() -> Self {
        Self::new()
    }
}

impl DataPlane {
    /// Starts at the clock's milliseconds, so that a restarted process does not answer an
    /// agent's `after` from its previous life with "nothing changed".
    pub fn new() -> Self {
        let start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2))
            .unwrap_or(1);
        Self {
            generation: Arc::new(
                watch::channel(Generation {
                    value: start,
                    stopping: false,
                })
                .0,
            ),
        }
    }

    pub fn current(&self) -> i64 {
        self.generation.borrow().value
    }

    /// Something changed (or may have: the listener was not listening for a while).
    pub fn bump(&self) {
        self.generation.send_modify(|g| g.value += 1);
    }

    /// Answer every waiting poll now, and every later one at once (the process stops).
    pub fn stop_waiting(&self) {
        self.generation.send_modify(|g| g.stopping = true);
    }

    /// The generation once it differs from `after`, or after `timeout`.
    pub async fn wait_past(&self, after: i64, timeout: Duration) -> i64 {
        let mut changes = self.generation.subscribe();
        let changed = changes.wait_for(|g| g.value != after || g.stopping);
        let _ = tokio::time::timeout(timeout, changed).await;
        self.current()
    }

    /// Listen on [`CHANNEL`] until the pool closes, bumping the generation on every
    /// notification, and once more whenever listening (re)starts: what changed while
    /// nobody listened is unknown, so everyone fetches again.
    pub async fn listen(self, pool: PgPool) {
        let mut backoff = Duration::from_millis(100);
        let mut warned = false;
        loop {
            if pool.is_closed() {
                return;
            }
            match listener(&pool).await {
                Ok(mut listener) => {
                    if warned {
                        tracing::info!("data-plane listener listening again");
                        warned = false;
                    }
                    self.bump();
                    backoff = Duration::from_millis(100);
                    loop {
                        match listener.try_recv().await {
                            Ok(Some(_)) => self.bump(),
                            // Reconnected: notifications in between are lost.
                            Ok(None) => {
                                tracing::info!("data-plane listener reconnected");
                                self.bump();
                            }
                            Err(e) => {
                                if !pool.is_closed() {
                                    tracing::warn!(error = %e, "data-plane listener failed; agents wait up to their poll timeout until it is back");
                                    warned = true;
                                }
                                break;
                            }
                        }
                    }
                }
                Err(e) => {
                    if pool.is_closed() {
                        return;
                    }
                    if !warned {
                        tracing::warn!(error = %e, "data-plane listener cannot listen; agents wait up to their poll timeout until it can");
                        warned = true;
                    }
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

async fn listener(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// The long poll: the host's spec at once when `after` is absent or not the current
/// generation, else when the generation moves (or after [`LONG_POLL`]).
pub async fn spec(compute: &Compute, host_id: &str, after: Option<i64>) -> Result<HostNetworkSpec> {
    spec_within(compute, host_id, after, LONG_POLL).await
}

/// [`spec`] with another wait (tests).
pub async fn spec_within(
    compute: &Compute,
    host_id: &str,
    after: Option<i64>,
    wait: Duration,
) -> Result<HostNetworkSpec> {
    let mut generation = compute.data_plane.current();
    if after == Some(generation) {
        generation = compute.data_plane.wait_past(generation, wait).await;
    }
    // The generation was read before the catalog: a change committed meanwhile shows in
    // this answer or bumps the generation past it, never neither.
    let host = settings(&compute.pool, host_id).await?;
    let vpcs = match &compute.host_networks {
        Some(planner) => planner.vpcs(host_id).await?,
        None => {
            tracing::warn!(%host_id, "the network service is not wired: the host is told to build no VPC");
            Vec::new()
        }
    };
    Ok(HostNetworkSpec {
        generation,
        host,
        vpcs,
    })
}

#[derive(sqlx::FromRow)]
struct SettingsRow {
    vtep_address: Option<String>,
    uplink: Option<String>,
}

/// A host's effective underlay settings: the operator's where set, else the agent's.
pub async fn settings(pool: &PgPool, host_id: &str) -> Result<HostNetworkSettings> {
    let row = sqlx::query_as::<_, SettingsRow>(
        "SELECT host(COALESCE(operator_vtep_address, reported_vtep_address)) AS vtep_address,
                COALESCE(operator_uplink, reported_uplink) AS uplink
         FROM compute.hosts WHERE host_id = $1",
    )
    .bind(host_id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| host_not_found(host_id))?;
    Ok(HostNetworkSettings {
        vtep_address: row
            .vtep_address
            .map(|text| text.parse())
            .transpose()
            .map_err(|_| {
                ComputeError::Internal(format!("host {host_id} has a bad vtep address"))
            })?,
        uplink: row.uplink,
    })
}

/// `PUT /v1/hosts/{host_id}/network`: the operator's underlay settings for a host; a
/// field left out (or null) goes back to what the agent reports.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetHostNetwork {
    /// The host's VXLAN endpoint, an IPv4 unicast address on the underlay.
    #[serde(default)]
    pub vtep_address: Option<String>,
    /// The interface elastic IPs leave through (1–15 of `A-Z a-z 0-9 _ . -`).
    #[serde(default)]
    pub uplink: Option<String>,
}

/// Set (or clear) the operator's underlay settings of a host.
pub async fn set(
    compute: &Compute,
    caller: &Principal,
    host_id: &str,
    input: &SetHostNetwork,
) -> Result<Host> {
    require_operator(caller)?;
    let vtep = input
        .vtep_address
        .as_deref()
        .map(|text| {
            text.parse::<Ipv4Addr>().map_err(|_| {
                ComputeError::invalid(format!("vtep_address {text:?} is not an IPv4 address"))
            })
        })
        .transpose()?;
    check_report(&HostNetworkReport {
        vtep_address: vtep,
        uplink: input.uplink.clone(),
    })?;
    let updated = sqlx::query(
        "UPDATE compute.hosts SET operator_vtep_address = $2::inet, operator_uplink = $3
         WHERE host_id = $1",
    )
    .bind(host_id)
    .bind(vtep.map(|a| a.to_string()))
    .bind(&input.uplink)
    .execute(&compute.pool)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(host_not_found(host_id));
    }
    tracing::info!(%host_id, vtep_address = ?vtep, uplink = ?input.uplink, "host underlay set by the operator");
    hosts::get(compute, caller, host_id).await
}

/// An underlay setting, from an agent or the operator: a unicast IPv4 tunnel endpoint and
/// a Linux interface name.
pub fn check_report(report: &HostNetworkReport) -> Result<()> {
    if let Some(address) = report.vtep_address {
        if address.is_unspecified()
            || address.is_broadcast()
            || address.is_multicast()
            || address.is_loopback()
        {
            return Err(ComputeError::invalid(format!(
                "vtep_address {address} is not a unicast address"
            )));
        }
    }
    if let Some(uplink) = &report.uplink {
        let valid = (1..=15).contains(&uplink.len())
            && uplink
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
            && uplink != "."
            && uplink != "..";
        if !valid {
            return Err(ComputeError::invalid(
                "uplink: an interface name of 1 to 15 letters, digits, '_', '.' or '-'",
            ));
        }
    }
    Ok(())
}

/// The report's values as the catalog stores them.
pub fn report_columns(report: &HostNetworkReport) -> (Option<String>, Option<String>) {
    (
        report.vtep_address.map(|a| a.to_string()),
        report.uplink.clone(),
    )
}

pub fn host_not_found(host_id: &str) -> ComputeError {
    ComputeError::NotFound(
        "InvalidHostID.NotFound",
        format!("host {host_id} not found"),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn underlay_settings_are_checked() {
        let ok = |vtep: Option<&str>, uplink: Option<&str>| {
            check_report(&HostNetworkReport {
                vtep_address: vtep.map(|v| v.parse().unwrap()),
                uplink: uplink.map(str::to_string),
            })
            .is_ok()
        };
        assert!(ok(Some("10.77.0.11"), Some("up0")));
        assert!(ok(None, Some("enp0s31f6.100")));
        assert!(ok(None, None));
        for vtep in ["0.0.0.0", "255.255.255.255", "224.0.0.1", "127.0.0.1"] {
            assert!(!ok(Some(vtep), None), "{vtep}");
        }
        for uplink in [
            "",
            "sixteen-chars-xx",
            "eth 0",
            "eth/0",
            ".",
            "..",
            "eth0\n",
        ] {
            assert!(!ok(None, Some(uplink)), "{uplink:?}");
        }
    }

    #[tokio::test]
    async fn a_poll_waits_for_the_next_generation_or_the_timeout() {
        let plane = DataPlane::new();
        let start = plane.current();
        // Nothing changes: the same generation after the timeout.
        assert_eq!(
            plane.wait_past(start, Duration::from_millis(20)).await,
            start
        );
        let waiting = tokio::spawn({
            let plane = plane.clone();
            async move { plane.wait_past(start, Duration::from_secs(10)).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        plane.bump();
        assert_eq!(waiting.await.unwrap(), start + 1);
        // Stopping answers at once, whatever the generation.
        plane.stop_waiting();
        let now = plane.current();
        let answered = tokio::time::timeout(
            Duration::from_secs(1),
            plane.wait_past(now, Duration::from_secs(10)),
        )
        .await;
        assert_eq!(answered.unwrap(), now);
    }
}
