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

mod kumo_up;

use std::path::Path;
use std::process::Command;

use kumo_up::{http_status, image_dir, python, repo_root, KumoUp};

#[test]
fn hostile_requests_get_4xx_never_5xx_crash_or_cross_tenant_effect() {
    let state = tempfile::Builder::new()
        .prefix("kumo-hostile-")
        .tempdir_in("/tmp")
        .unwrap();
    let mut up = KumoUp::start(state.path(), "warn");
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
    let health = http_status(&format!("{}/healthz", up.endpoint), &[]);
    println!(
        "kumo up after the suite: alive={alive}, /healthz={health:?}; log tail:\n{}",
        up.log_tail()
    );
    assert!(alive, "kumo up died during the hostile suite");
    assert_eq!(health, 200, "/healthz after the hostile suite");
    assert!(
        out.status.success(),
        "hostile checks failed (see FAIL lines above)"
    );

    // A clean stop still works.
    up.signal(libc::SIGTERM);
    assert!(up.child.wait().unwrap().success());
}
