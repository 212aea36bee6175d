#![allow(clippy::unwrap_used)]
//! Losing Postgres under a running `kumo up`: the private postmaster is killed (kill -9)
//! while clients send requests. `/readyz` turns 503, requests answer 503 in each API's
//! code for a temporary failure (never 500, never a minute-long stall), the supervisor
//! restarts Postgres and the same process serves again; Ctrl-C while Postgres is down
//! still stops Kumo cleanly. Timings are printed, never asserted.

mod kumo_up;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kumo_up::{http_status, KumoUp};

fn login(endpoint: &str, state: &Path) -> String {
    let password = std::fs::read_to_string(state.join("operator-password")).unwrap();
    let out = Command::new("curl")
        .args(["-sf", "-H", "content-type: application/json", "-d"])
        .arg(format!(
            r#"{{"account":"operator","user_name":"operator","password":"{}"}}"#,
            password.trim()
        ))
        .arg(format!("{endpoint}/v1/login"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    body["token"].as_str().unwrap().to_string()
}

fn aws_cli() -> PathBuf {
    if let Ok(cli) = std::env::var("KUMO_AWS_CLI") {
        return PathBuf::from(cli);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/aws");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("aws")
    }
}

/// One AWS CLI call with the operator's profile and no retries (we want to see the code).
fn aws(state: &Path, endpoint: &str, args: &[&str]) -> std::process::Output {
    Command::new(aws_cli())
        .args([
            "--endpoint-url",
            endpoint,
            "--profile",
            "kumo",
            "--output",
            "json",
        ])
        .args(args)
        .env("AWS_SHARED_CREDENTIALS_FILE", state.join("aws/credentials"))
        .env("AWS_CONFIG_FILE", state.join("aws/config"))
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AWS_RETRY_MODE", "standard")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .expect("aws-cli: run deploy/install-deps.sh --test")
}

/// The live postmaster of `state`'s private cluster (the pid file outlives a killed one).
fn postmaster(state: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(state.join("postgres/data/postmaster.pid")).ok()?;
    let pid: i32 = text.lines().next()?.trim().parse().ok()?;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    (comm.trim() == "postgres").then_some(pid)
}

/// Processes whose command line names `state`'s Postgres data directory.
fn postgres_processes(state: &Path) -> Vec<i32> {
    let data = state.join("postgres/data").display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&data))
        })
        .collect()
}

/// Kills every postmaster of `state` while `hold` is set: Postgres stays down although
/// its supervisor keeps restarting it. Returns how many it killed.
fn keep_postgres_down(state: PathBuf, hold: Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut killed = Vec::new();
        while hold.load(Ordering::SeqCst) {
            if let Some(pid) = postmaster(&state) {
                if !killed.contains(&pid) {
                    // SAFETY: kill(2) has no memory-safety preconditions.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    killed.push(pid);
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        killed.len()
    })
}

/// Poll `f` every 50 ms until it is true; false after `limit` (a safety net, not a timing
/// assertion).
fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn postgres_killed_under_traffic_answers_503_recovers_and_stops_on_sigint() {
    let state_dir = tempfile::Builder::new()
        .prefix("kumo-pgloss-")
        .tempdir_in("/tmp")
        .unwrap();
    let state = state_dir.path().to_path_buf();
    let mut up = KumoUp::start(&state, "info");
    let endpoint = up.endpoint.clone();
    let bearer = format!("authorization: Bearer {}", login(&endpoint, &state));
    let out = aws(
        &state,
        &endpoint,
        &["s3api", "create-bucket", "--bucket", "kept"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Traffic: native API calls in a loop, every status recorded.
    let traffic_on = Arc::new(AtomicBool::new(true));
    let statuses = Arc::new(Mutex::new(Vec::<u16>::new()));
    let traffic: Vec<_> = (0..4)
        .map(|_| {
            let (on, statuses, url, bearer) = (
                traffic_on.clone(),
                statuses.clone(),
                format!("{endpoint}/v1/buckets"),
                bearer.clone(),
            );
            std::thread::spawn(move || {
                while on.load(Ordering::SeqCst) {
                    let s = http_status(&url, std::slice::from_ref(&bearer));
                    statuses.lock().unwrap().push(s);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));

    // Kill Postgres (and each successor) and hold it down.
    let hold = Arc::new(AtomicBool::new(true));
    let killed_at = Instant::now();
    let killer = keep_postgres_down(state.clone(), hold.clone());
    assert!(
        eventually(Duration::from_secs(60), || http_status(
            &format!("{endpoint}/readyz"),
            &[]
        ) == 503),
        "/readyz never turned 503"
    );
    let to_not_ready = killed_at.elapsed();
    // /healthz is liveness only: the process is alive.
    assert_eq!(http_status(&format!("{endpoint}/healthz"), &[]), 200);
    assert!(
        eventually(Duration::from_secs(60), || http_status(
            &format!("{endpoint}/v1/buckets"),
            std::slice::from_ref(&bearer)
        ) == 503),
        "the native API never answered 503"
    );

    // Each AWS API answers its own code for a temporary failure, as a 503 SDKs retry.
    for (args, code) in [
        (
            &["s3api", "list-objects-v2", "--bucket", "kept"][..],
            "ServiceUnavailable",
        ),
        (&["ec2", "describe-instances"][..], "Unavailable"),
        (&["iam", "list-users"][..], "ServiceUnavailable"),
    ] {
        let out = aws(&state, &endpoint, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{args:?} succeeded with Postgres down"
        );
        assert!(stderr.contains(&format!("({code})")), "{args:?}: {stderr}");
    }

    // Let it come back: the supervisor restarts it, the same process serves again.
    hold.store(false, Ordering::SeqCst);
    let killed = killer.join().unwrap();
    let released_at = Instant::now();
    assert!(
        eventually(Duration::from_secs(120), || http_status(
            &format!("{endpoint}/readyz"),
            &[]
        ) == 200),
        "/readyz never came back"
    );
    let to_ready = released_at.elapsed();
    assert!(
        eventually(Duration::from_secs(60), || http_status(
            &format!("{endpoint}/v1/buckets"),
            std::slice::from_ref(&bearer)
        ) == 200),
        "the native API never recovered"
    );
    let out = aws(&state, &endpoint, &["s3api", "list-buckets"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"kept\""));
    assert!(up.child.try_wait().unwrap().is_none(), "kumo up exited");

    traffic_on.store(false, Ordering::SeqCst);
    for t in traffic {
        t.join().unwrap();
    }
    let statuses = statuses.lock().unwrap().clone();
    let unexpected: Vec<u16> = statuses
        .iter()
        .copied()
        .filter(|s| *s != 200 && *s != 503)
        .collect();
    assert!(
        unexpected.is_empty(),
        "statuses other than 200/503: {unexpected:?}"
    );
    assert!(statuses.contains(&503) && statuses.contains(&200));

    // Ctrl-C while Postgres is down (and its supervisor keeps restarting it): Kumo stops
    // cleanly and leaves no Postgres behind.
    let hold = Arc::new(AtomicBool::new(true));
    let killer = keep_postgres_down(state.clone(), hold.clone());
    assert!(eventually(Duration::from_secs(60), || http_status(
        &format!("{endpoint}/readyz"),
        &[]
    ) == 503));
    let interrupted_at = Instant::now();
    up.signal(libc::SIGINT);
    let mut exit = None;
    assert!(
        eventually(Duration::from_secs(120), || {
            exit = up.child.try_wait().unwrap();
            exit.is_some()
        }),
        "kumo up did not stop on SIGINT"
    );
    let to_exit = interrupted_at.elapsed();
    hold.store(false, Ordering::SeqCst);
    killer.join().unwrap();
    assert!(exit.unwrap().success(), "kumo up exited with {exit:?}");
    assert!(
        eventually(Duration::from_secs(30), || postgres_processes(&state)
            .is_empty()),
        "Postgres still running after kumo up stopped: {:?}",
        postgres_processes(&state)
    );

    let log = std::fs::read_to_string(&up.log).unwrap();
    assert!(log.contains("killed by signal 9 (SIGKILL)"), "{log}");
    assert!(log.contains("private Postgres restarted"), "{log}");
    assert!(log.contains("catalog unreachable"), "{log}");
    assert!(log.contains("catalog reachable again"), "{log}");
    eprintln!(
        "kill -9 -> /readyz 503: {:.2} s; Postgres held down by {killed} kills; \
         release -> /readyz 200: {:.2} s; SIGINT with Postgres down -> exit: {:.2} s; \
         {} requests ({} answered 503)",
        to_not_ready.as_secs_f64(),
        to_ready.as_secs_f64(),
        to_exit.as_secs_f64(),
        statuses.len(),
        statuses.iter().filter(|s| **s == 503).count()
    );
}
