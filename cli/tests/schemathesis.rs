#![allow(clippy::unwrap_used)]
//! A bounded schemathesis run against the native API as `openapi/kumo.json` describes it,
//! served by a real `kumo up` (private Postgres, one storage node, no compute agent, so
//! RunInstances never starts a machine). Schemathesis generates valid and invalid requests
//! for every operation (its examples, coverage, fuzzing and stateful phases) as the
//! operator; the test fails on any 5xx but the 503 `InsufficientCapacity` of a cloud without agents (hooks.py's `no_server_error`) and if the process does not
//! survive the run.
//!
//! Bounded by the number of cases, not by time: `--max-examples` per operation
//! (`KUMO_SCHEMATHESIS_EXAMPLES`, default 50), with a fixed seed so a failure reproduces
//! (`KUMO_SCHEMATHESIS_SEED` to vary it). Needs schemathesis in the project venv
//! (`deploy/install-deps.sh --test`).
//!
//! Left out: `POST /v1/logout` and `POST /v1/signing-keys/rotate` (they would end the
//! run's own token), and requests that would demote, delete, re-password or sign out the
//! operator itself (`tests/schemathesis/hooks.py` points those at a user that does not exist).

mod kumo_up;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use kumo_up::{repo_root, KumoUp};

/// `$KUMO_SCHEMATHESIS`, else the project venv's.
fn schemathesis() -> PathBuf {
    if let Some(path) = std::env::var_os("KUMO_SCHEMATHESIS") {
        return PathBuf::from(path);
    }
    let venv = repo_root().join(".venv/bin/schemathesis");
    assert!(
        venv.exists(),
        "schemathesis missing in {}: run deploy/install-deps.sh --test",
        venv.display()
    );
    venv
}

/// curl's stdout, or `None` if it failed.
fn curl(args: &[&str]) -> Option<Vec<u8>> {
    let out = Command::new("curl").args(args).output().unwrap();
    out.status.success().then_some(out.stdout)
}

fn json(bytes: Option<Vec<u8>>) -> serde_json::Value {
    serde_json::from_slice(&bytes.expect("request failed")).unwrap()
}

#[test]
fn schemathesis_finds_no_server_error() {
    let state = tempfile::Builder::new()
        .prefix("kumo-schemathesis-")
        .tempdir_in("/tmp")
        .unwrap();
    let up = KumoUp::start(state.path(), "warn");

    let password = std::fs::read_to_string(state.path().join("operator-password")).unwrap();
    let login = json(curl(&[
        "-sf",
        "-H",
        "content-type: application/json",
        "-d",
        &serde_json::json!({"account": "operator", "user_name": "operator", "password": password.trim()})
            .to_string(),
        &format!("{}/v1/login", up.endpoint),
    ]));
    let token = login["token"].as_str().unwrap().to_string();
    let authorization = format!("Authorization: Bearer {token}");
    let whoami = json(curl(&[
        "-sf",
        "-H",
        &authorization,
        &format!("{}/v1/whoami", up.endpoint),
    ]));
    let account_id = whoami["account_id"].as_str().unwrap().to_string();

    let examples = std::env::var("KUMO_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "50".into());
    let seed = std::env::var("KUMO_SCHEMATHESIS_SEED").unwrap_or_else(|_| "7".into());
    let report = state.path().join("report");
    let root = repo_root();
    let out = Command::new(schemathesis())
        .arg("run")
        .arg(root.join("openapi/kumo.json"))
        .args(["--url", &up.endpoint, "-H", &authorization])
        .args(["--checks", "no_server_error"])
        .args(["--max-examples", &examples, "--seed", &seed])
        .args(["--workers", "2", "--generation-database", "none"])
        .args(["--exclude-path", "/v1/logout"])
        .args(["--exclude-path", "/v1/signing-keys/rotate"])
        .args(["--report", "junit", "--report-dir"])
        .arg(&report)
        .args(["--no-color", "--output-truncate", "false"])
        .env(
            "SCHEMATHESIS_HOOKS",
            root.join("cli/tests/schemathesis/hooks.py"),
        )
        .env("KUMO_ST_OPERATOR_ACCOUNT", &account_id)
        .env("KUMO_ST_OPERATOR_USER", "operator")
        // Its state (.hypothesis, reports) stays in the temporary directory.
        .current_dir(state.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}");

    // The run's token must have lasted: a revoked operator would hide everything behind 401s.
    assert!(
        curl(&[
            "-sf",
            "-H",
            &authorization,
            &format!("{}/v1/whoami", up.endpoint)
        ])
        .is_some(),
        "the operator's token was revoked during the run"
    );
    assert!(
        out.status.success(),
        "schemathesis failed ({}): see the FAILURES above\n{stderr}\nkumo up log:\n{}",
        out.status,
        up.log_tail()
    );
    assert!(
        !stdout.contains("Server error"),
        "a 5xx answer: see the FAILURES above"
    );
    assert!(
        curl(&["-sf", &format!("{}/healthz", up.endpoint)]).is_some(),
        "kumo up no longer answers /healthz"
    );
}
