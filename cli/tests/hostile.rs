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

use kumo_up::{http_status, repo_root, KumoUp};

#[test]
fn hostile_requests_get_4xx_never_5xx_crash_or_cross_tenant_effect() {
    let state = tempfile::Builder::new()
        .prefix("kumo-hostile-")
        .tempdir_in("/tmp")
        .unwrap();
    let mut up = KumoUp::start(state.path(), "warn");
    let out = up.run_python(
        state.path(),
        "hostile/hostile.py",
        &[repo_root().as_os_str()],
        Some("KUMO_HOSTILE_CHECKS"),
    );

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
    up.assert_clean_stop();
}
