#![allow(clippy::unwrap_used)]
//! Terraform's recorded calls against a real `kumo up` with its own compute agent:
//! `tests/terraform_exchanges.py` replays every recorded EC2/STS/IAM call in
//! `tests/terraform/exchanges/` (hashicorp/aws 5.100.0 against moto: the networking
//! resources, an EBS-backed aws_instance, an EBS volume and its attachment) with Kumo's
//! ids, and checks that every element path of moto's response is in Kumo's (allowances
//! with reasons in the script). Then, when `terraform` is on PATH,
//! `tests/terraform/vpc_stack.sh` applies a real stack (a VPC, an EBS-backed instance with
//! a root_block_device, a volume and its attachment) with the stock provider, plans again
//! (expects "No changes") and destroys it; otherwise the test says it skipped that part
//! and why.

mod kumo_up;

use std::path::Path;
use std::process::Command;

use kumo_up::KumoUp;

#[test]
fn terraform_exchanges_and_a_real_terraform_stack() {
    let state = tempfile::Builder::new()
        .prefix("kumo-tfx-")
        .tempdir_in("/tmp")
        .unwrap();
    let mut up = KumoUp::start_with_agent(state.path(), "warn");
    let exchanges = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/terraform/exchanges");
    up.run_checks(
        state.path(),
        "terraform_exchanges.py",
        &[exchanges.as_os_str()],
        None,
        "Kumo's answers lack elements of the recorded ones (see MISSING lines above)",
    );
    real_terraform(&up, state.path());
    up.assert_clean_stop();
}

/// A real `terraform apply` / `plan` / `destroy` of a VPC stack, where terraform exists.
fn real_terraform(up: &KumoUp, state: &Path) {
    let found = Command::new("sh")
        .args(["-c", "command -v terraform"])
        .output()
        .unwrap();
    if !found.status.success() {
        println!(
            "SKIPPED the real Terraform run: `command -v terraform` finds no terraform on this \
             machine (it is in no package registry these machines reach)"
        );
        return;
    }
    // A user of a fresh account (the script's first line of output: key id, secret, image, zone).
    let made = up.run_python(state, "terraform/user.py", &[], None);
    assert!(made.status.success(), "could not make a Terraform user");
    let stdout = String::from_utf8_lossy(&made.stdout);
    let line = stdout.lines().last().unwrap_or_default().to_string();
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields.len(), 4, "unexpected user line: {line}");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/terraform/vpc_stack.sh");
    let out = Command::new(script)
        .args([up.endpoint.as_str(), fields[2], fields[3]])
        .env("AWS_ACCESS_KEY_ID", fields[0])
        .env("AWS_SECRET_ACCESS_KEY", fields[1])
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .unwrap();
    println!("{}", String::from_utf8_lossy(&out.stdout));
    println!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "terraform apply / plan (No changes) / destroy of the VPC stack failed (see above)"
    );
}
