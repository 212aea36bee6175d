//! `kumo up`: the private catalog (or DATABASE_URL), migrations, the operator bootstrap,
//! the operator's AWS CLI profile, and the gateway with every service, until Ctrl-C.

use std::time::Instant;

use kumo_gateway::config::{start_control_plane, CommonArgs};

use crate::profile;

pub async fn run(args: CommonArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let plane = start_control_plane(&args).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {}: {e} (choose another with --listen)",
                args.listen
            )
        })?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let files = profile::write(&plane.state_dir, &endpoint, &plane.operator)?;
    let app = kumo_gateway::app(
        kumo_gateway::Services {
            identity: plane.identity.clone(),
        },
        Default::default(),
    );
    let password_note = if plane.operator.new_password.is_some() {
        format!(
            "\n  console password: in {} (created now)",
            plane.state_dir.join("operator-password").display()
        )
    } else {
        String::new()
    };
    println!(
        "Kumo is up at {endpoint} (ready in {:.2} s)\n  \
         catalog:  {}\n  \
         operator: account {} user {} (profile '{}'){password_note}\n  \
         use it:   source {} && aws sts get-caller-identity\n  \
         or:       AWS_SHARED_CREDENTIALS_FILE={} aws --endpoint-url {endpoint} --profile {} --region us-east-1 sts get-caller-identity\n\
         Press Ctrl-C to stop.",
        started.elapsed().as_secs_f64(),
        if plane.catalog.is_private() {
            format!("private Postgres in {}", plane.state_dir.join("postgres").display())
        } else {
            "DATABASE_URL".to_string()
        },
        plane.operator.account_id,
        plane.operator.user_name,
        profile::PROFILE,
        files.env.display(),
        files.credentials.display(),
        profile::PROFILE,
    );
    tracing::info!(%endpoint, "kumo up: ready");
    kumo_gateway::server::serve(listener, app, kumo_gateway::server::shutdown_signal()).await?;
    plane.catalog.shutdown().await;
    println!("Kumo stopped.");
    Ok(())
}
