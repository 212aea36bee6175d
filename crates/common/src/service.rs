//! What a started service hands the composition root: its routes and its background
//! loops. Each service starts its own loops (`Compute::start`, `ObjectStorage::start`,
//! `Identity::start`); a process runs only the loops of the services it mounts.

use std::future::Future;

use tracing::Instrument;

/// A named background loop of a service, running on the Tokio runtime.
pub struct BackgroundTask {
    name: &'static str,
    handle: tokio::task::JoinHandle<()>,
}

impl BackgroundTask {
    /// Spawn `task` in a `background_task` tracing span carrying `name`, so its log lines
    /// say which loop wrote them.
    pub fn spawn(name: &'static str, task: impl Future<Output = ()> + Send + 'static) -> Self {
        let span = tracing::info_span!("background_task", task = name);
        Self {
            name,
            handle: tokio::spawn(task.instrument(span)),
        }
    }

    /// `<service>.<loop>`, e.g. `compute.housekeeping`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Stop the loop at its next await point.
    pub fn abort(&self) {
        self.handle.abort();
    }
}

/// A started service: the routes it serves (its native `/v1/` API and its agents'
/// protocol) and the loops it started.
pub struct Started {
    pub router: axum::Router,
    pub tasks: Vec<BackgroundTask>,
}

impl Started {
    /// Routes only, for a service without loops.
    pub fn routes(router: axum::Router) -> Self {
        Self {
            router,
            tasks: Vec::new(),
        }
    }

    /// Both services' routes and loops together.
    pub fn merge(mut self, other: Started) -> Self {
        self.router = self.router.merge(other.router);
        self.tasks.extend(other.tasks);
        self
    }

    /// The names of the loops, in start order.
    pub fn task_names(&self) -> Vec<&'static str> {
        self.tasks.iter().map(BackgroundTask::name).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn merged_services_keep_every_route_and_loop() {
        let first = Started {
            router: axum::Router::new().route("/a", axum::routing::get(|| async { "a" })),
            tasks: vec![BackgroundTask::spawn("one.loop", std::future::pending())],
        };
        let second = Started {
            router: axum::Router::new().route("/b", axum::routing::get(|| async { "b" })),
            tasks: vec![BackgroundTask::spawn("two.loop", async {})],
        };
        let both = first.merge(second);
        assert_eq!(both.task_names(), ["one.loop", "two.loop"]);
        assert!(!both.tasks[0].is_finished());
        both.tasks[0].abort();
    }
}
