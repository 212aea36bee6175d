#![allow(clippy::unwrap_used)]
//! The web console end to end in a real browser: a real `kumo up` with its compute agent and
//! a storage node serves the built console (web-console/dist) at /console/, and
//! `node web-console/e2e/run.mjs` drives Debian's Chromium through it with playwright-core
//! (the operator creates an account and its admin; the admin launches containers and a VM,
//! reads the console, stops, starts and terminates, uploads 20 MiB to a bucket and downloads
//! it, creates an access key; the security checks; screenshots to target/console-screenshots).
//! Then a second `kumo up --no-agent --token-ttl-secs 10`: a session expires under the page.
//! Needs `npm --prefix web-console ci && npm --prefix web-console run build` and Chromium
//! (`deploy/install-deps.sh --test` installs them; deploy/test.sh also builds the console).

mod kumo_up;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use kumo_up::{repo_root, KumoUp};

/// Seconds a token lives on the second cloud (the CLI's minimum).
const SHORT_TTL_SECS: &str = "10";

/// `node web-console/e2e/run.mjs` against `up`, with `more_env`; fails with its output.
fn run_browser_tests(up: &KumoUp, state: &Path, more_env: &[(&str, &str)]) {
    let root = repo_root();
    let password = std::fs::read_to_string(state.join("operator-password")).unwrap();
    let screenshots = root.join("target/console-screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();
    let started = Instant::now();
    let out = Command::new("node")
        .arg(root.join("web-console/e2e/run.mjs"))
        .current_dir(&root)
        .env("KUMO_ENDPOINT", &up.endpoint)
        .env("KUMO_OPERATOR_PASSWORD", password.trim())
        .env("KUMO_SCREENSHOTS", &screenshots)
        .envs(more_env.iter().copied())
        .output()
        .expect("node (Node.js) not found: run deploy/install-deps.sh --test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    if !stderr.trim().is_empty() {
        println!("stderr of node:\n{stderr}");
    }
    println!(
        "browser tests took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if !out.status.success() {
        println!("kumo up's log tail:\n{}", up.log_tail());
    }
    assert!(
        out.status.success(),
        "web-console/e2e/run.mjs failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}

#[test]
fn the_console_works_in_chromium_against_kumo_up() {
    let root = repo_root();
    let dist = root.join("web-console/dist/index.html");
    assert!(
        dist.is_file(),
        "the web console is not built ({} is missing): run \
         `npm --prefix web-console ci && npm --prefix web-console run build`",
        dist.display()
    );
    assert!(
        root.join("web-console/node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `npm --prefix web-console ci` (or deploy/install-deps.sh --test)"
    );

    let state = tempfile::Builder::new()
        .prefix("kumo-console-")
        .tempdir_in("/tmp")
        .unwrap();
    let up = KumoUp::start_with_agent(
        state.path(),
        "warn,kumo_gateway=info,kumo_compute_node=info",
    );
    run_browser_tests(&up, state.path(), &[]);
    drop(up);

    let state = tempfile::Builder::new()
        .prefix("kumo-console-ttl-")
        .tempdir_in("/tmp")
        .unwrap();
    let up = KumoUp::start_and(state.path(), "warn", &["--token-ttl-secs", SHORT_TTL_SECS]);
    run_browser_tests(
        &up,
        state.path(),
        &[("KUMO_TOKEN_TTL_SECS", SHORT_TTL_SECS)],
    );
}
