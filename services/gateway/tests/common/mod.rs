//! A real gateway on a loopback port over a fresh catalog database, and the real AWS
//! clients (aws-cli, botocore) to talk to it.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Output;

use kumo_identity::bootstrap::{self, OperatorCredentials};
use kumo_identity::{Identity, IdentityConfig, MasterKey};
use serde_json::{json, Value};

pub struct TestCloud {
    pub endpoint: String,
    pub host: String,
    pub identity: Identity,
    pub operator: OperatorCredentials,
    pub http: reqwest::Client,
    /// The services' loops, when started with them ([`TestCloud::start_with_loops`]).
    pub tasks: Vec<kumo_common::service::BackgroundTask>,
}

impl TestCloud {
    /// The gateway's routes, without the services' loops.
    pub async fn start() -> Self {
        Self::serve(false).await
    }

    /// The gateway as a process runs it: every service's loops too.
    pub async fn start_with_loops() -> Self {
        Self::serve(true).await
    }

    async fn serve(with_loops: bool) -> Self {
        let pool = kumo_catalog::testing::fresh_database().await.unwrap();
        let identity = Identity::new(pool, MasterKey::random(), IdentityConfig::default());
        let operator = bootstrap::ensure_operator(&identity.pool, &identity.master_key)
            .await
            .unwrap();
        let compute = kumo_compute::Compute::new(identity.pool.clone(), Default::default());
        let services = kumo_gateway::Services {
            identity: identity.clone(),
            compute,
            object_storage: kumo_object_storage::ObjectStorage::new(
                identity.pool.clone(),
                Default::default(),
            ),
            network: kumo_network::Network::new(identity.pool.clone(), Default::default()),
            block_storage: kumo_block_storage::BlockStorage::new(
                identity.pool.clone(),
                Default::default(),
            ),
        };
        let (app, tasks) = if with_loops {
            let started =
                kumo_gateway::start(services, kumo_gateway::Mount::Gateway, Default::default());
            (started.router, started.tasks)
        } else {
            (kumo_gateway::app(services, Default::default()), Vec::new())
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        TestCloud {
            endpoint: format!("http://{host}"),
            host,
            identity,
            operator,
            http: reqwest::Client::new(),
            tasks,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.endpoint)
    }

    /// Log in through the native API and return the bearer token.
    pub async fn login(&self, account: &str, user: &str, password: &str) -> String {
        let resp = self
            .http
            .post(self.url("/v1/login"))
            .json(&serde_json::json!({"account": account, "user_name": user, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            200,
            "login failed: {}",
            resp.text().await.unwrap()
        );
        let body: serde_json::Value = resp.json().await.unwrap();
        body["token"].as_str().unwrap().to_string()
    }

    pub async fn operator_token(&self) -> String {
        let password = self.operator.new_password.clone().unwrap();
        self.login(
            &self.operator.account_id,
            &self.operator.user_name,
            &password,
        )
        .await
    }

    /// A SigV4-signed AWS Query POST with our own signer.
    pub async fn signed_query(
        &self,
        service: &str,
        body: &str,
        access_key_id: &str,
        secret: &str,
        time: chrono::DateTime<chrono::Utc>,
    ) -> reqwest::Response {
        let headers = vec![
            ("host".to_string(), self.host.clone()),
            (
                "content-type".to_string(),
                "application/x-www-form-urlencoded; charset=utf-8".to_string(),
            ),
        ];
        let signed = kumo_auth::sigv4::sign_request(
            "POST",
            "/",
            &headers,
            body.as_bytes(),
            access_key_id,
            secret,
            "us-east-1",
            service,
            time,
        );
        let mut request = self.http.post(self.url("/")).body(body.to_string());
        for (name, value) in headers.iter().skip(1).chain(signed.iter()) {
            request = request.header(name.as_str(), value.as_str());
        }
        request.send().await.unwrap()
    }
}

/// The aws-cli executable: `$KUMO_AWS_CLI`, else `aws` on PATH.
pub fn aws_cli() -> String {
    std::env::var("KUMO_AWS_CLI").unwrap_or_else(|_| "aws".into())
}

/// The Python with botocore/boto3: `$KUMO_PYTHON`, else `python3`.
pub fn python() -> String {
    std::env::var("KUMO_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Run aws-cli with a credentials file holding profile `kumo`.
pub async fn run_aws(endpoint: &str, access_key_id: &str, secret: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("credentials");
    std::fs::write(
        &credentials,
        format!("[kumo]\naws_access_key_id = {access_key_id}\naws_secret_access_key = {secret}\n"),
    )
    .unwrap();
    let output = tokio::process::Command::new(aws_cli())
        .args([
            "--endpoint-url",
            endpoint,
            "--profile",
            "kumo",
            "--region",
            "us-east-1",
            "--output",
            "json",
        ])
        .args(args)
        .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
        .env("AWS_CONFIG_FILE", dir.path().join("no-config"))
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot run aws-cli ({}): {e}; run deploy/install-deps.sh --test",
                aws_cli()
            )
        });
    output
}

pub fn python_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(name)
}

/// A native API call with a bearer token: the status and the body (JSON, else text).
pub async fn call(
    cloud: &TestCloud,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = cloud
        .http
        .request(method, cloud.url(path))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Operator creates an account with an admin (password set); returns (account id, admin token).
pub async fn tenant(cloud: &TestCloud, op_token: &str, name: &str) -> (String, String) {
    let (status, account) = call(
        cloud,
        reqwest::Method::POST,
        "/v1/accounts",
        op_token,
        Some(json!({"name": name})),
    )
    .await;
    assert_eq!(status, 201, "{account}");
    let id = account["account_id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 12);
    let (status, user) = call(
        cloud,
        reqwest::Method::POST,
        &format!("/v1/accounts/{id}/users"),
        op_token,
        Some(json!({"user_name": "admin", "role": "admin", "password": "correct-horse"})),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    assert_eq!(user["arn"], format!("arn:aws:iam::{id}:user/admin"));
    let token = cloud.login(name, "admin", "correct-horse").await;
    (id, token)
}
