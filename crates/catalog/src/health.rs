//! Losing the catalog: which errors mean "Postgres is unreachable right now", and a
//! background probe that logs the loss once and the recovery once.
//!
//! Requests that meet such an error answer 503 (each crate's error type asks
//! [`is_unavailable`]); the pool reconnects by itself when Postgres is back, so nothing
//! has to be restarted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;

/// How often the probe runs, and how long one probe may take.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Does this error mean the catalog cannot be reached (or is restarting) rather than that
/// the request or the data is wrong? Such errors are transient: the caller should retry.
///
/// - the pool could not hand out a connection in time, or is closed (shutting down);
/// - the socket failed (connection refused, reset, closed mid-query);
/// - Postgres said so: class 08 (connection exception), 57P01 admin shutdown, 57P02 crash
///   shutdown (another backend crashed), 57P03 cannot connect now (starting up, in
///   recovery, shutting down), 53300 too many connections.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(e) => e.code().is_some_and(|code| {
            code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

/// One `SELECT 1`, bounded by `timeout` (readiness checks).
pub async fn ping_within(pool: &PgPool, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, crate::ping(pool)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    }
}

/// Whether the catalog answered its last probe. Cheap to clone and to read.
#[derive(Clone, Debug)]
pub struct CatalogHealth {
    up: Arc<AtomicBool>,
}

impl CatalogHealth {
    /// Did the last probe succeed?
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Probe `pool` every [`PROBE_INTERVAL`] until the returned task is aborted. The first
    /// failed probe logs a warning, the first success after it an info line with the
    /// outage's length; nothing is logged in between.
    pub fn spawn(pool: PgPool) -> (Self, tokio::task::JoinHandle<()>) {
        let health = Self {
            up: Arc::new(AtomicBool::new(true)),
        };
        let up = health.up.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(PROBE_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut lost_since: Option<Instant> = None;
            loop {
                tick.tick().await;
                match ping_within(&pool, PROBE_TIMEOUT).await {
                    Ok(()) => {
                        if let Some(since) = lost_since.take() {
                            tracing::info!(
                                outage_seconds = format!("{:.1}", since.elapsed().as_secs_f64()),
                                "catalog reachable again; requests are served"
                            );
                        }
                        up.store(true, Ordering::Relaxed);
                    }
                    Err(error) => {
                        if lost_since.is_none() {
                            lost_since = Some(Instant::now());
                            tracing::warn!(
                                %error,
                                "catalog unreachable; requests answer 503 until it is back"
                            );
                        }
                        up.store(false, Ordering::Relaxed);
                    }
                }
            }
        });
        (health, task)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_failures_are_unavailable() {
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(is_unavailable(&sqlx::Error::PoolClosed));
        assert!(is_unavailable(&sqlx::Error::WorkerCrashed));
        assert!(is_unavailable(&sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused
        ))));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
        assert!(!is_unavailable(&sqlx::Error::Protocol("odd".into())));
    }
}
