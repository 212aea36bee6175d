#![allow(clippy::unwrap_used)]
//! The hostile suite: one real `kumo up` process (private Postgres, one storage node, no
//! compute agent: a host is enrolled through the agent protocol so instances get placed)
//! with three accounts, attacked by `tests/hostile/hostile.py` (boto3/botocore and raw
//! signed requests): pathological describe filters, host paths as image locations, tokens
//! after demotion/deletion/logout, NUL / control characters / invalid UTF-8 / oversized
//! values in named fields and in every string parameter of every EC2, IAM, STS and native
//! JSON route, S3 byte-exact keys, refused features, signatures with a wrong region or an
//! endless lifetime. Afterwards the process must still be alive and `/healthz` answer 200.
//! `KUMO_HOSTILE_CHECKS="prefix …"` runs only the checks whose names start so.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The Python with boto3: `$KUMO_PYTHON`, else the workspace's `.venv`, else `python3`.
fn python() -> String {
    if let Ok(python) = std::env::var("KUMO_PYTHON") {
        return python;
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    if venv.exists() {
        return venv.to_string_lossy().into_owned();
    }
    "python3".into()
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

fn image_dir() -> PathBuf {
    std::env::var_os("KUMO_IMAGE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/kumo-images"))
}

/// `kumo up` as a child process; killed when dropped.
struct Up {
    child: Child,
    endpoint: String,
    log: PathBuf,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Up {
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(4000);
        let start = (start..text.len())
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        text[start..].to_string()
    }
}

fn healthz(endpoint: &str) -> Option<u16> {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "30",
        ])
        .arg(format!("{endpoint}/healthz"))
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn start(state: &Path) -> Up {
    let log = state.join("kumo-up.log");
    let log_file = std::fs::File::create(&log).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kumo"));
    cmd.args(["up", "--listen", "127.0.0.1:0", "--no-agent", "--state-dir"])
        .arg(state);
    if image_dir().join("container/rootfs.tar").is_file() {
        cmd.arg("--image-dir").arg(image_dir());
    }
    let child = cmd
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .unwrap();
    let mut up = Up {
        child,
        endpoint: String::new(),
        log,
    };
    // Start-up takes a few seconds; poll (bounded) for the endpoint file and readiness.
    for _ in 0..1200 {
        if let Some(status) = up.child.try_wait().unwrap() {
            panic!("kumo up exited: {status}\n{}", up.log_tail());
        }
        if let Ok(text) = std::fs::read_to_string(state.join("endpoint")) {
            let endpoint = text.trim().to_string();
            let ready = Command::new("curl")
                .args(["-sf", &format!("{endpoint}/readyz")])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            if ready {
                up.endpoint = endpoint;
                return up;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("kumo up never became ready\n{}", up.log_tail());
}

#[test]
fn hostile_requests_get_4xx_never_5xx_crash_or_cross_tenant_effect() {
    let state = tempfile::Builder::new()
        .prefix("kumo-hostile-")
        .tempdir_in("/tmp")
        .unwrap();
    let mut up = start(state.path());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile/hostile.py");
    let mut cmd = Command::new(python());
    cmd.arg(&script)
        .arg(&up.endpoint)
        .arg(state.path())
        .arg(repo_root())
        .env("KUMO_IMAGE_DIR", image_dir())
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    if let Ok(only) = std::env::var("KUMO_HOSTILE_CHECKS") {
        cmd.args(only.split_whitespace());
    }
    let out = cmd
        .output()
        .expect("python with boto3: run deploy/install-deps.sh --test, or set KUMO_PYTHON");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    if !stderr.trim().is_empty() {
        println!("stderr of the script:\n{stderr}");
    }

    // Whatever the checks said: the process is alive and serves.
    let alive = up.child.try_wait().unwrap().is_none();
    let health = healthz(&up.endpoint);
    println!(
        "kumo up after the suite: alive={alive}, /healthz={health:?}; log tail:\n{}",
        up.log_tail()
    );
    assert!(alive, "kumo up died during the hostile suite");
    assert_eq!(health, Some(200), "/healthz after the hostile suite");
    assert!(
        out.status.success(),
        "hostile checks failed (see FAIL lines above)"
    );

    // A clean stop still works.
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(up.child.id() as libc::pid_t, libc::SIGTERM) };
    assert!(up.child.wait().unwrap().success());
}
