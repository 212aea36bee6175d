#![allow(clippy::unwrap_used)]
//! `kumo up` as users run it: a real process with its own private Postgres. Killing it
//! (SIGKILL, no clean shutdown) and starting it again keeps every account, user and key,
//! and the AWS CLI profile it writes works.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Up {
    child: Child,
    endpoint: String,
}

fn start(state: &Path) -> Up {
    let _ = std::fs::remove_file(state.join("endpoint"));
    let child = Command::new(env!("CARGO_BIN_EXE_kumo"))
        .args(["up", "--listen", "127.0.0.1:0", "--state-dir"])
        .arg(state)
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut up = Up {
        child,
        endpoint: String::new(),
    };
    // Start-up takes about a second; poll (bounded) for the endpoint file and readiness.
    for _ in 0..1200 {
        if let Some(status) = up.child.try_wait().unwrap() {
            panic!("kumo up exited: {status}");
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
    panic!("kumo up never became ready");
}

fn aws(state: &Path, endpoint: &str, args: &[&str]) -> std::process::Output {
    Command::new(std::env::var("KUMO_AWS_CLI").unwrap_or_else(|_| "aws".into()))
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
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .expect("aws-cli: run deploy/install-deps.sh --test")
}

fn login(endpoint: &str, password: &str) -> String {
    let out = Command::new("curl")
        .args(["-sf", "-H", "content-type: application/json", "-d"])
        .arg(format!(
            r#"{{"account":"operator","user_name":"operator","password":"{password}"}}"#
        ))
        .arg(format!("{endpoint}/v1/login"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    body["token"].as_str().unwrap().to_string()
}

fn curl_json(
    endpoint: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> serde_json::Value {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sf",
        "-X",
        method,
        "-H",
        &format!("authorization: Bearer {token}"),
    ]);
    if let Some(b) = body {
        cmd.args(["-H", "content-type: application/json", "-d", b]);
    }
    let out = cmd.arg(format!("{endpoint}{path}")).output().unwrap();
    assert!(out.status.success(), "{method} {path} failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn kill_and_restart_keeps_accounts_users_and_keys() {
    let state = tempfile::Builder::new()
        .prefix("kumo-up-")
        .tempdir_in("/tmp")
        .unwrap();
    let state = state.path();
    let mut up = start(state);

    let out = aws(state, &up.endpoint, &["sts", "get-caller-identity"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ident: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let password = std::fs::read_to_string(state.join("operator-password")).unwrap();
    let token = login(&up.endpoint, password.trim());
    let account = curl_json(
        &up.endpoint,
        &token,
        "POST",
        "/v1/accounts",
        Some(r#"{"name":"durable"}"#),
    );
    let account_id = account["account_id"].as_str().unwrap().to_string();
    curl_json(
        &up.endpoint,
        &token,
        "POST",
        &format!("/v1/accounts/{account_id}/users"),
        Some(r#"{"user_name":"keeper","role":"member"}"#),
    );
    let key = curl_json(
        &up.endpoint,
        &token,
        "POST",
        &format!("/v1/accounts/{account_id}/users/keeper/access-keys"),
        None,
    );

    // Kill without warning; the private Postgres is stopped by its supervisor.
    up.child.kill().unwrap();
    up.child.wait().unwrap();
    let mut up = start(state);

    let out = aws(state, &up.endpoint, &["sts", "get-caller-identity"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again, ident);
    let token = login(&up.endpoint, password.trim());
    let users = curl_json(
        &up.endpoint,
        &token,
        "GET",
        &format!("/v1/accounts/{account_id}/users"),
        None,
    );
    assert_eq!(users[0]["user_name"], "keeper");
    let keys = curl_json(
        &up.endpoint,
        &token,
        "GET",
        &format!("/v1/accounts/{account_id}/users/keeper/access-keys"),
        None,
    );
    assert_eq!(keys[0]["access_key_id"], key["access_key_id"]);

    // The restored key still signs.
    let out = Command::new(std::env::var("KUMO_AWS_CLI").unwrap_or_else(|_| "aws".into()))
        .args([
            "--endpoint-url",
            &up.endpoint,
            "--region",
            "us-east-1",
            "--output",
            "json",
            "sts",
            "get-caller-identity",
        ])
        .env("AWS_ACCESS_KEY_ID", key["access_key_id"].as_str().unwrap())
        .env(
            "AWS_SECRET_ACCESS_KEY",
            key["secret_access_key"].as_str().unwrap(),
        )
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let who: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(who["Arn"], format!("arn:aws:iam::{account_id}:user/keeper"));

    // A clean stop (SIGTERM) leaves no Postgres behind.
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(up.child.id() as libc::pid_t, libc::SIGTERM) };
    assert!(up.child.wait().unwrap().success());
    let pid_file = state.join("postgres/data/postmaster.pid");
    for _ in 0..100 {
        if !pid_file.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !pid_file.exists(),
        "Postgres still running after kumo up stopped"
    );
}

#[test]
fn openapi_document_is_current() {
    let out = Command::new(env!("CARGO_BIN_EXE_kumo"))
        .arg("openapi")
        .output()
        .unwrap();
    assert!(out.status.success());
    let generated = String::from_utf8(out.stdout).unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi/kumo.json");
    if std::env::var_os("KUMO_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "openapi/kumo.json is stale: regenerate it with `cargo run -p kumo -- openapi > openapi/kumo.json`"
    );
}
