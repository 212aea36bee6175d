#![allow(clippy::unwrap_used)]
//! Differential AWS conformance: `tests/conformance/run.py` runs one boto3 scenario (every
//! EC2, STS, IAM and S3 action Kumo implements, and NotFound errors) against moto in
//! server mode and against a real `kumo up` (with its own compute agent: the instances are
//! real runc containers), and compares the shape of every raw response
//! (element paths and leaf types, not values); it also checks every Kumo body against
//! botocore's service model. Differences moto shows and Kumo lacks fail unless
//! `tests/conformance/allow-list.toml` lists them with a reason. See docs/conformance.md.

mod kumo_up;

use kumo_up::{repo_root, KumoUp};

#[test]
fn kumo_answers_have_the_shape_of_moto_and_of_botocores_model() {
    let state = tempfile::Builder::new()
        .prefix("kumo-conformance-")
        .tempdir_in("/tmp")
        .unwrap();
    let up = KumoUp::start_with_agent(state.path(), "warn");
    up.run_checks(
        state.path(),
        "conformance/run.py",
        &[repo_root().as_os_str()],
        None,
        "conformance differences (see FAIL lines above)",
    );
}
