//! The block role's loop: every second, fetch the node's volume replicas from the control
//! plane, converge, and report. While the control plane is unreachable the last answer
//! keeps being applied, so dead daemons are still restarted; until it has the block
//! endpoints (404) the node quietly waits and goes on serving chunks.

use std::time::Duration;

use kumo_agent_kit::error_chain;
use kumo_storage_protocol::block::{NodeVolumes, VolumeReport};
use kumo_storage_protocol::NODE_TOKEN_HEADER;
use tokio::sync::watch;

use super::snapshot::{ControlPlane, SnapshotRunner};
use super::BlockExports;

pub struct BlockPoll {
    pub http: reqwest::Client,
    /// The control plane's base URL, without a trailing slash.
    pub control_plane: String,
    pub node_token: String,
    pub interval: Duration,
    pub exports: BlockExports,
    pub stop: watch::Receiver<bool>,
}

/// Why a round trip with the control plane did not happen.
enum Unavailable {
    /// 404: the control plane has no block role (yet).
    NotServed,
    Failed(String),
}

impl BlockPoll {
    async fn fetch(&self) -> Result<NodeVolumes, Unavailable> {
        let response = self
            .http
            .get(format!("{}/v1/storage-agent/volumes", self.control_plane))
            .header(NODE_TOKEN_HEADER, &self.node_token)
            .send()
            .await
            .map_err(|e| Unavailable::Failed(error_chain(&e)))?;
        let response = check(response).await?;
        response
            .json()
            .await
            .map_err(|e| Unavailable::Failed(format!("volumes: {}", error_chain(&e))))
    }

    async fn report(&self, report: &VolumeReport) -> Result<(), Unavailable> {
        let response = self
            .http
            .post(format!(
                "{}/v1/storage-agent/volumes/report",
                self.control_plane
            ))
            .header(NODE_TOKEN_HEADER, &self.node_token)
            .json(report)
            .send()
            .await
            .map_err(|e| Unavailable::Failed(error_chain(&e)))?;
        check(response).await.map(drop)
    }
}

async fn check(response: reqwest::Response) -> Result<reqwest::Response, Unavailable> {
    let status = response.status();
    if status == reqwest::StatusCode::NOT_FOUND {
        return Err(Unavailable::NotServed);
    }
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        return Err(Unavailable::Failed(format!("answered {status}: {body}")));
    }
    Ok(response)
}

/// Run until told to stop. The daemons are left running: volumes stay served while the
/// agent is down.
pub async fn block_loop(mut poll: BlockPoll) {
    let mut wanted: Option<NodeVolumes> = None;
    let mut failing = false;
    let control = ControlPlane {
        http: poll.http.clone(),
        base: poll.control_plane.clone(),
        node_token: poll.node_token.clone(),
    };
    poll.exports.set_control_plane(control.clone());
    let snapshots = SnapshotRunner::default();
    loop {
        let mut stop = poll.stop.clone();
        let round = async {
            let mut outcome = match poll.fetch().await {
                Ok(volumes) => {
                    wanted = Some(volumes);
                    Ok(())
                }
                Err(e) => Err(e),
            };
            if let Some(volumes) = &wanted {
                let report = poll.exports.converge(volumes).await;
                snapshots.start(&control, poll.exports.config(), &volumes.snapshots);
                if outcome.is_ok() {
                    outcome = poll.report(&report).await;
                }
            }
            outcome
        };
        let outcome = tokio::select! {
            outcome = round => outcome,
            _ = stop.wait_for(|stop| *stop) => return,
        };
        match outcome {
            Ok(()) => {
                if failing {
                    tracing::info!("block role reaches the control plane again");
                }
                failing = false;
            }
            Err(Unavailable::NotServed) => {
                tracing::debug!("the control plane has no block endpoints yet; retrying");
            }
            Err(Unavailable::Failed(why)) => {
                if failing {
                    tracing::debug!(%why, "block role: control plane unavailable; retrying");
                } else {
                    tracing::warn!(%why, "block role: control plane unavailable; retrying");
                }
                failing = true;
            }
        }
        let mut stop = poll.stop.clone();
        tokio::select! {
            _ = tokio::time::sleep(poll.interval) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
}
