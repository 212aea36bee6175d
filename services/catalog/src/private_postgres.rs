//! A private Postgres cluster run from the installed PostgreSQL binaries.
//!
//! Postgres refuses to run as root, so when we are root the cluster belongs to the
//! `postgres` user. It listens only on a Unix socket inside its own directory (no port to
//! collide on, no network exposure) with `trust` authentication for that socket.
//!
//! The server runs under a small `sh` supervisor whose standard input is a pipe from us:
//! when our process exits for any reason (even SIGKILL) the pipe closes, and the
//! supervisor stops Postgres with a fast shutdown. No orphaned server outlives `kumo up`
//! or a test run.

use std::ffi::CString;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::CatalogError;

/// The database role the private cluster is created with.
pub const SUPERUSER: &str = "kumo";

/// How to run the private cluster.
#[derive(Debug, Clone)]
pub struct PrivatePostgresOptions {
    /// Holds `data/`, the socket and `postgres.log`.
    pub dir: PathBuf,
    /// Trade durability for speed (fsync off): for throw-away test clusters only.
    pub ephemeral: bool,
    /// Delete `dir` when the server stops.
    pub remove_on_stop: bool,
}

impl PrivatePostgresOptions {
    /// A durable cluster that keeps its data across restarts.
    pub fn durable(dir: PathBuf) -> Self {
        Self {
            dir,
            ephemeral: false,
            remove_on_stop: false,
        }
    }
}

/// A running private cluster. Dropping it (or [`PrivatePostgres::stop`]) shuts it down.
pub struct PrivatePostgres {
    dir: PathBuf,
    supervisor: Mutex<Option<Child>>,
}

fn err(message: impl Into<String>) -> CatalogError {
    CatalogError::PrivatePostgres(message.into())
}

/// The directory with `initdb` and `postgres`: `$KUMO_PG_BINDIR`, or the newest
/// `/usr/lib/postgresql/<version>/bin`.
pub fn find_bindir() -> Result<PathBuf, CatalogError> {
    if let Ok(dir) = std::env::var("KUMO_PG_BINDIR") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| {
            err(format!(
                "no PostgreSQL server found under /usr/lib/postgresql ({e}); install the `postgresql` package or set DATABASE_URL"
            ))
        })?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| err("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin; install the `postgresql` package or set DATABASE_URL"))
}

/// The uid/gid to run Postgres as: ourselves, or `postgres` when we are root.
fn server_identity() -> Result<Option<(u32, u32)>, CatalogError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = CString::new("postgres").map_err(|e| err(e.to_string()))?;
    // SAFETY: getpwnam returns a pointer into static storage or null; we copy the ids out
    // immediately and only call it from this function.
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    if entry.is_null() {
        return Err(err(
            "running as root, and there is no `postgres` user to run the private Postgres as (Postgres refuses root); install the `postgresql` package or set DATABASE_URL",
        ));
    }
    // SAFETY: entry is non-null and points at a valid passwd record.
    let (uid, gid) = unsafe { ((*entry).pw_uid, (*entry).pw_gid) };
    Ok(Some((uid, gid)))
}

fn chown(path: &Path, identity: Option<(u32, u32)>) -> Result<(), CatalogError> {
    if let Some((uid, gid)) = identity {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .map_err(|e| err(format!("chown {}: {e}", path.display())))?;
    }
    Ok(())
}

/// Postgres (as another user) must be able to reach its directory: every ancestor needs
/// the search bit for others. Say so plainly instead of letting initdb fail obscurely.
fn check_reachable(dir: &Path) -> Result<(), CatalogError> {
    for ancestor in dir.ancestors().skip(1) {
        if let Ok(meta) = std::fs::metadata(ancestor) {
            if meta.permissions().mode() & 0o001 == 0 {
                return Err(err(format!(
                    "the private Postgres runs as the `postgres` user, which cannot reach {} (no search permission on {}); choose a state directory outside it (e.g. --state-dir /var/lib/kumo) or set DATABASE_URL",
                    dir.display(),
                    ancestor.display()
                )));
            }
        }
    }
    Ok(())
}

/// A previous server on this data directory may still be shutting down (its owner was
/// killed a moment ago and the supervisor is stopping it). Wait for it; if it stays, say
/// plainly that another Kumo seems to be using this state directory.
fn wait_for_previous_server(data: &Path) -> Result<(), CatalogError> {
    let pid_file = data.join("postmaster.pid");
    for _ in 0..300 {
        let pid = std::fs::read_to_string(&pid_file).ok().and_then(|text| {
            text.lines()
                .next()
                .and_then(|l| l.trim().parse::<i32>().ok())
        });
        let Some(pid) = pid else { return Ok(()) };
        // SAFETY: kill with signal 0 only checks that the process exists.
        let alive = pid > 0 && unsafe { libc::kill(pid, 0) } == 0;
        if !alive {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(err(format!(
        "another Postgres is running on {} (is another kumo using this state directory?)",
        data.display()
    )))
}

impl PrivatePostgres {
    /// Initialise the cluster if needed and start the server (does not wait for readiness).
    pub fn start(options: PrivatePostgresOptions) -> Result<Self, CatalogError> {
        let bindir = find_bindir()?;
        let identity = server_identity()?;
        let dir = options.dir.clone();
        std::fs::create_dir_all(&dir).map_err(|e| err(format!("create {}: {e}", dir.display())))?;
        let dir = dir
            .canonicalize()
            .map_err(|e| err(format!("resolve {}: {e}", dir.display())))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| err(format!("chmod {}: {e}", dir.display())))?;
        if identity.is_some() {
            // The state directory holding us is ours: let the postgres user pass through it
            // (search only; its files stay private by their own modes).
            if let Some(parent) = dir.parent() {
                if let Ok(meta) = std::fs::metadata(parent) {
                    let mode = meta.permissions().mode();
                    if mode & 0o001 == 0 {
                        let _ = std::fs::set_permissions(
                            parent,
                            std::fs::Permissions::from_mode((mode & 0o7777) | 0o011),
                        );
                    }
                }
            }
            check_reachable(&dir)?;
        }
        chown(&dir, identity)?;
        let data = dir.join("data");

        if !data.join("PG_VERSION").exists() {
            let mut initdb = Command::new(bindir.join("initdb"));
            initdb
                .arg("-D")
                .arg(&data)
                .args([
                    "-U",
                    SUPERUSER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                ])
                .current_dir(&dir)
                .stdin(Stdio::null());
            if options.ephemeral {
                initdb.arg("--no-sync");
            }
            if let Some((uid, gid)) = identity {
                initdb.uid(uid).gid(gid);
            }
            let output = initdb
                .output()
                .map_err(|e| err(format!("run initdb: {e}")))?;
            if !output.status.success() {
                return Err(err(format!(
                    "initdb failed: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                )));
            }
            tracing::info!(dir = %data.display(), "initialised private Postgres cluster");
        }

        wait_for_previous_server(&data)?;

        let mut settings = vec![
            "-c listen_addresses=''".to_string(),
            format!("-k '{}'", dir.display()),
            "-c max_connections=200".to_string(),
            "-c shared_buffers=64MB".to_string(),
        ];
        if options.ephemeral {
            settings.push("-c fsync=off -c synchronous_commit=off -c full_page_writes=off".into());
        }
        let remove = if options.remove_on_stop {
            format!("rm -rf '{}'", dir.display())
        } else {
            String::new()
        };
        // The supervisor: start postgres, wait for our stdin to close, then shut it down fast.
        let script = format!(
            "'{postgres}' -D '{data}' {settings} >>'{log}' 2>&1 &\n\
             pid=$!\n\
             trap 'kill -INT $pid 2>/dev/null' TERM INT\n\
             while read -r _; do :; done\n\
             kill -INT $pid 2>/dev/null\n\
             wait $pid\n\
             {remove}\n",
            postgres = bindir.join("postgres").display(),
            data = data.display(),
            settings = settings.join(" "),
            log = dir.join("postgres.log").display(),
        );
        let mut supervisor = Command::new("/bin/sh");
        supervisor
            .arg("-c")
            .arg(script)
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Not in our process group: a Ctrl-C at the terminal reaches us, and we stop
            // Postgres in order after the services have closed their connections.
            .process_group(0);
        if let Some((uid, gid)) = identity {
            supervisor.uid(uid).gid(gid);
        }
        let child = supervisor
            .spawn()
            .map_err(|e| err(format!("start postgres: {e}")))?;
        Ok(Self {
            dir,
            supervisor: Mutex::new(Some(child)),
        })
    }

    /// The directory holding the socket, data and log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Options for connecting to `database` over the private socket.
    pub fn connect_options(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.dir)
            .username(SUPERUSER)
            .database(database)
            .disable_statement_logging()
    }

    /// Wait until the server accepts connections (it needs well under a second normally).
    pub async fn wait_ready(&self) -> Result<(), CatalogError> {
        let options = self.connect_options("postgres");
        let mut last_error = String::new();
        for _ in 0..600 {
            match sqlx::PgConnection::connect_with(&options).await {
                Ok(conn) => {
                    let _ = conn.close().await;
                    return Ok(());
                }
                Err(e) => last_error = e.to_string(),
            }
            if let Ok(mut guard) = self.supervisor.lock() {
                if let Some(child) = guard.as_mut() {
                    if let Ok(Some(status)) = child.try_wait() {
                        return Err(err(format!(
                            "postgres exited ({status}) before accepting connections; see {}",
                            self.dir.join("postgres.log").display()
                        )));
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(err(format!(
            "postgres did not accept connections within 30 s ({last_error}); see {}",
            self.dir.join("postgres.log").display()
        )))
    }

    /// Create `database` unless it exists.
    pub async fn ensure_database(&self, database: &str) -> Result<(), CatalogError> {
        let mut conn = sqlx::PgConnection::connect_with(&self.connect_options("postgres"))
            .await
            .map_err(CatalogError::Connect)?;
        let exists: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
                .bind(database)
                .fetch_optional(&mut conn)
                .await?;
        if exists.is_none() {
            let quoted = database.replace('"', "\"\"");
            match sqlx::query(&format!("CREATE DATABASE \"{quoted}\""))
                .execute(&mut conn)
                .await
            {
                Ok(_) => {}
                // Another process created it first.
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
                Err(e) => return Err(e.into()),
            }
        }
        let _ = conn.close().await;
        Ok(())
    }

    /// Stop the server (fast shutdown) and wait for it to exit.
    pub fn stop(&self) {
        let child = self
            .supervisor
            .lock()
            .ok()
            .and_then(|mut guard| guard.take());
        if let Some(mut child) = child {
            // Closing stdin tells the supervisor to shut Postgres down.
            if let Some(mut stdin) = child.stdin.take() {
                let _ = stdin.flush();
                drop(stdin);
            }
            let _ = child.wait();
            tracing::info!(dir = %self.dir.display(), "private Postgres stopped");
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.stop();
    }
}
