//! The agent's network task: long-polls `GET /v1/agent/network?after=<generation>` and
//! converges the host to every answer (also to a timed-out one with the same generation:
//! that re-asserts the plumbing against edits from outside). A failed pass is retried
//! after a second with a fresh spec.

use std::sync::Arc;
use std::time::Duration;

use kumo_compute_protocol::{HostNetworkSpec, NODE_TOKEN_HEADER};

use super::VpcPlumbing;
use crate::error::{NodeError, Result};

/// The control plane holds a poll this long at most; the request may take a little more.
const POLL_TIMEOUT: Duration = Duration::from_secs(40);
const RETRY: Duration = Duration::from_secs(1);
/// How long to wait before asking again a control plane that has no network endpoint.
const ABSENT_RETRY: Duration = Duration::from_secs(10);

/// Where and how to ask for the host's network.
#[derive(Clone)]
pub struct NetworkSource {
    pub http: reqwest::Client,
    pub control_plane: String,
    pub node_token: String,
}

impl std::fmt::Debug for NetworkSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkSource")
            .field("control_plane", &self.control_plane)
            .finish()
    }
}

/// An answer: a spec, or none because the control plane does not serve the endpoint.
enum Answer {
    Spec(HostNetworkSpec),
    NotServed,
}

impl NetworkSource {
    async fn fetch(&self, after: Option<i64>) -> Result<Answer> {
        let mut url = format!("{}/v1/agent/network", self.control_plane);
        if let Some(after) = after {
            url.push_str(&format!("?after={after}"));
        }
        let response = self
            .http
            .get(&url)
            .header(NODE_TOKEN_HEADER, &self.node_token)
            .timeout(POLL_TIMEOUT)
            .send()
            .await
            .map_err(|e| NodeError::ControlPlane(e.to_string()))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND
            || response.status() == reqwest::StatusCode::METHOD_NOT_ALLOWED
        {
            return Ok(Answer::NotServed);
        }
        let spec = response
            .error_for_status()
            .map_err(|e| NodeError::ControlPlane(e.to_string()))?
            .json()
            .await
            .map_err(|e| NodeError::ControlPlane(e.to_string()))?;
        Ok(Answer::Spec(spec))
    }
}

/// Run until dropped (the agent aborts the task at shutdown). `lock` is held during each
/// pass: the agent holds it too while it makes a bridge or gives one a port.
pub async fn run(
    plumbing: Arc<VpcPlumbing>,
    source: NetworkSource,
    lock: Arc<tokio::sync::Mutex<()>>,
) {
    let mut after: Option<i64> = None;
    let mut failing = false;
    let mut passes: u64 = 0;
    loop {
        let spec = match source.fetch(after).await {
            Ok(Answer::Spec(spec)) => spec,
            Ok(Answer::NotServed) => {
                tracing::debug!("the control plane serves no host network yet");
                tokio::time::sleep(ABSENT_RETRY).await;
                continue;
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "fetching the host network failed; retrying");
                }
                failing = true;
                after = None;
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        passes += 1;
        // Every tenth pass re-applies the rule sets even when unchanged.
        if passes.is_multiple_of(10) {
            plumbing.forget_applied().await;
        }
        let result = {
            let _plumbing = lock.lock().await;
            plumbing.converge(&spec).await
        };
        match result {
            Ok(()) => {
                if failing {
                    tracing::info!(generation = spec.generation, "host network converged again");
                }
                failing = false;
                after = Some(spec.generation);
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, generation = spec.generation, "converging the host network failed; retrying");
                }
                failing = true;
                after = None;
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}
