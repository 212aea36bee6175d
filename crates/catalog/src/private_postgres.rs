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
//!
//! The supervisor also restarts a postmaster that dies on its own (killed, crashed, OOM):
//! after 0.5 s, doubling up to 10 s while it keeps dying, back to 0.5 s once a run lasted
//! a minute. It reports each start and exit on its standard output, which we read and log
//! (with the exit status or signal). Postgres itself copes with the stale
//! `postmaster.pid` a killed postmaster leaves (it checks whether that pid is alive); if
//! the old server's backends still hold its shared memory, the new postmaster refuses to
//! start and the back-off tries again after they have gone. Connections are then made
//! anew by the pool, so the services resume without a restart.

use std::ffi::CString;
use std::io::{BufRead, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    events: Arc<Mutex<Events>>,
}

/// What the supervisor has reported so far.
#[derive(Debug, Default)]
struct Events {
    /// Postmasters started (the first one included).
    starts: u64,
    /// Why the last postmaster exited, when one has.
    last_exit: Option<String>,
}

/// How long [`PrivatePostgres::stop`] lets a fast shutdown take before an immediate one,
/// and that before killing the supervisor's process group.
const FAST_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
const IMMEDIATE_SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// `sh`'s `$?` for a child: the exit code, or 128 + the signal that killed it.
fn describe_exit(status: i32) -> String {
    if status > 128 {
        let signal = status - 128;
        let name = match signal {
            libc::SIGKILL => " (SIGKILL)",
            libc::SIGTERM => " (SIGTERM)",
            libc::SIGINT => " (SIGINT)",
            libc::SIGQUIT => " (SIGQUIT)",
            libc::SIGSEGV => " (SIGSEGV)",
            libc::SIGABRT => " (SIGABRT)",
            libc::SIGBUS => " (SIGBUS)",
            _ => "",
        };
        format!("killed by signal {signal}{name}")
    } else {
        format!("exit status {status}")
    }
}

/// Log what the supervisor reports, one line at a time, until it exits.
fn follow_supervisor(stdout: std::process::ChildStdout, dir: PathBuf, events: Arc<Mutex<Events>>) {
    let log = dir.join("postgres.log");
    for line in std::io::BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let mut words = line.split_whitespace();
        match words.next() {
            Some("started") => {
                let pid = words.next().unwrap_or("?");
                let starts = {
                    let mut e = events
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    e.starts += 1;
                    e.starts
                };
                if starts > 1 {
                    tracing::info!(pid, dir = %dir.display(), "private Postgres restarted");
                } else {
                    tracing::debug!(pid, dir = %dir.display(), "private Postgres started");
                }
            }
            Some("exited") => {
                let status = words
                    .next()
                    .and_then(|w| w.parse::<i32>().ok())
                    .unwrap_or(-1);
                let ran = words.next().unwrap_or("?");
                let delay_ms = words
                    .next()
                    .and_then(|w| w.parse::<u64>().ok())
                    .unwrap_or(0);
                let reason = describe_exit(status);
                tracing::warn!(
                    reason = %reason,
                    ran_seconds = ran,
                    restart_in_seconds = format!("{:.1}", delay_ms as f64 / 1000.0),
                    log = %log.display(),
                    "private Postgres exited on its own; restarting it"
                );
                events
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .last_exit = Some(reason);
            }
            _ => tracing::debug!(line, "private Postgres supervisor"),
        }
    }
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

/// The pid on the first line of a `postmaster.pid`.
fn read_pid(pid_file: &Path) -> Option<i32> {
    std::fs::read_to_string(pid_file)
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|pid| *pid > 0)
}

/// Is `pid` a running `postgres` process?
fn is_postgres(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim() == "postgres")
}

/// Wait up to `limit` for `child` to exit.
fn wait_until(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => return None,
        }
    }
}

/// A previous server on this data directory may still be shutting down (its owner was
/// killed a moment ago and the supervisor is stopping it). Wait for it; if it stays, say
/// plainly that another Kumo seems to be using this state directory.
fn wait_for_previous_server(data: &Path) -> Result<(), CatalogError> {
    let pid_file = data.join("postmaster.pid");
    for _ in 0..300 {
        // A killed postmaster leaves its file behind, and its pid may since name another
        // process: only a live `postgres` counts (Postgres itself then reclaims the file).
        let Some(pid) = read_pid(&pid_file).filter(|pid| is_postgres(*pid)) else {
            return Ok(());
        };
        // SAFETY: kill with signal 0 only checks that the process exists.
        if unsafe { libc::kill(pid, 0) } != 0 {
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
        // Crash recovery (after a kill -9) first syncs the data directory; one syncfs(2)
        // is much faster than an fsync per file (PostgreSQL 14 and later).
        let major = std::fs::read_to_string(data.join("PG_VERSION"))
            .ok()
            .and_then(|v| v.trim().parse::<u32>().ok())
            .unwrap_or(0);
        if major >= 14 {
            settings.push("-c recovery_init_sync_method=syncfs".into());
        }
        let remove = if options.remove_on_stop {
            format!("rm -rf '{}'", dir.display())
        } else {
            String::new()
        };
        // The supervisor. A watcher reads our pipe (kept on fd 3: an asynchronous command's
        // stdin is /dev/null) and signals the supervisor when it closes. The supervisor
        // runs postgres, restarts it with back-off when it dies on its own, and on TERM/INT
        // (from the watcher or from us) stops it with a fast shutdown. Each start and
        // exit is reported on stdout: `started <pid>`, `exited <status> <seconds> <delay ms>`.
        let script = format!(
            "exec 3<&0\n\
             stop=0\n\
             pid=\n\
             trap '' PIPE\n\
             trap 'stop=1; [ -n \"$pid\" ] && kill -INT $pid 2>/dev/null' TERM INT\n\
             ( while read -r _ <&3; do :; done; kill -TERM $$ 2>/dev/null ) >/dev/null 2>&1 &\n\
             exec 3<&-\n\
             delay=500\n\
             while [ $stop = 0 ]; do\n\
             started=$(date +%s)\n\
             '{postgres}' -D '{data}' {settings} >>'{log}' 2>&1 </dev/null &\n\
             pid=$!\n\
             [ $stop = 1 ] && kill -INT $pid 2>/dev/null\n\
             echo \"started $pid\"\n\
             while :; do\n\
             wait $pid; status=$?\n\
             kill -0 $pid 2>/dev/null || break\n\
             done\n\
             pid=\n\
             [ $stop = 1 ] && break\n\
             ran=$(( $(date +%s) - started ))\n\
             [ $ran -ge 60 ] && delay=500\n\
             echo \"exited $status $ran $delay\"\n\
             sleep $((delay / 1000)).$((delay % 1000 / 100)) >/dev/null 2>&1 &\n\
             wait $!\n\
             kill $! 2>/dev/null\n\
             delay=$((delay * 2))\n\
             [ $delay -gt 10000 ] && delay=10000\n\
             done\n\
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
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            // Not in our process group: a Ctrl-C at the terminal reaches us, and we stop
            // Postgres in order after the services have closed their connections.
            .process_group(0);
        if let Some((uid, gid)) = identity {
            supervisor.uid(uid).gid(gid);
        }
        let mut child = supervisor
            .spawn()
            .map_err(|e| err(format!("start postgres: {e}")))?;
        let events = Arc::new(Mutex::new(Events::default()));
        if let Some(stdout) = child.stdout.take() {
            let (dir, events) = (dir.clone(), events.clone());
            std::thread::Builder::new()
                .name("postgres-supervisor".into())
                .spawn(move || follow_supervisor(stdout, dir, events))
                .map_err(|e| err(format!("start the supervisor's reader: {e}")))?;
        }
        Ok(Self {
            dir,
            supervisor: Mutex::new(Some(child)),
            events,
        })
    }

    /// How many postmasters the supervisor has started (1 until one died and was restarted).
    pub fn starts(&self) -> u64 {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .starts
    }

    /// Why the last postmaster exited on its own (e.g. "killed by signal 9 (SIGKILL)").
    pub fn last_exit(&self) -> Option<String> {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .last_exit
            .clone()
    }

    /// The running postmaster's pid, from `data/postmaster.pid` (a killed postmaster
    /// leaves its file behind: the pid is only returned while it names a `postgres`).
    pub fn postmaster_pid(&self) -> Option<i32> {
        read_pid(&self.dir.join("data/postmaster.pid")).filter(|pid| is_postgres(*pid))
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
            if let Some(reason) = self.last_exit() {
                return Err(err(format!(
                    "postgres exited ({reason}) before accepting connections; see {}",
                    self.dir.join("postgres.log").display()
                )));
            }
            if let Ok(mut guard) = self.supervisor.lock() {
                if let Some(child) = guard.as_mut() {
                    if let Ok(Some(status)) = child.try_wait() {
                        return Err(err(format!(
                            "the postgres supervisor exited ({status}) before postgres accepted connections; see {}",
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
            // Closing stdin tells the supervisor to shut Postgres down (fast shutdown).
            if let Some(mut stdin) = child.stdin.take() {
                let _ = stdin.flush();
                drop(stdin);
            }
            if wait_until(&mut child, FAST_SHUTDOWN_GRACE).is_none() {
                // Still going (busy sessions, a slow checkpoint): immediate shutdown. Crash
                // recovery at the next start replays the WAL; nothing committed is lost.
                tracing::warn!(dir = %self.dir.display(), "private Postgres slow to stop; immediate shutdown");
                if let Some(pid) = self.postmaster_pid() {
                    // SAFETY: kill(2) has no memory-safety preconditions.
                    unsafe { libc::kill(pid, libc::SIGQUIT) };
                }
                if wait_until(&mut child, IMMEDIATE_SHUTDOWN_GRACE).is_none() {
                    tracing::warn!(dir = %self.dir.display(), "private Postgres still running; killing it");
                    if let Some(pid) = self.postmaster_pid() {
                        // SAFETY: as above.
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                    // The supervisor leads its own process group.
                    // SAFETY: as above.
                    unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                    let _ = child.wait();
                }
            }
            tracing::info!(dir = %self.dir.display(), "private Postgres stopped");
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.stop();
    }
}
