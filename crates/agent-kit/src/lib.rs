//! What the per-host agents (compute and storage) share: the flags that point them at the
//! control plane, the enrolment call, and logging set-up. The agents differ in what they
//! enrol with and how they retry; this crate holds only what is the same.

pub mod process;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Where the control plane is and how to join it; flattened into each agent's flags.
#[derive(Debug, Clone, clap::Args)]
pub struct ControlPlaneArgs {
    /// The control plane's URL (the gateway).
    #[arg(
        long,
        env = "KUMO_CONTROL_PLANE",
        default_value = "http://127.0.0.1:8780"
    )]
    pub control_plane: String,
    /// Operator-issued join token; needed only to enrol the first time.
    #[arg(long, env = "KUMO_JOIN_TOKEN")]
    pub join_token: Option<String>,
}

/// Why an enrolment call did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrolFailure {
    /// The control plane said no (4xx: unknown or expired join token, bad request);
    /// retrying will not help.
    Refused { status: String, body: String },
    /// It could not be reached or answered with a server error; it may work later.
    Unavailable(String),
    /// It answered success with a body we cannot read.
    Unreadable(String),
}

impl std::fmt::Display for EnrolFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused { status, body } => write!(f, "enrolment refused ({status}): {body}"),
            Self::Unavailable(why) => write!(f, "control plane unavailable: {why}"),
            Self::Unreadable(why) => write!(f, "unreadable enrolment answer: {why}"),
        }
    }
}

impl std::error::Error for EnrolFailure {}

/// The message for an agent that has neither a credential nor a join token.
pub fn missing_join_token(what: &str) -> String {
    format!(
        "this {what} is not enrolled yet: give it a join token (--join-token or KUMO_JOIN_TOKEN)"
    )
}

/// One enrolment attempt: POST the request as JSON to `url`, read the answer.
pub async fn enrol<Request, Response>(
    http: &reqwest::Client,
    url: &str,
    request: &Request,
) -> Result<Response, EnrolFailure>
where
    Request: Serialize + ?Sized,
    Response: DeserializeOwned,
{
    let response = match http.post(url).json(request).send().await {
        Ok(response) => response,
        Err(e) => return Err(EnrolFailure::Unavailable(error_chain(&e))),
    };
    let status = response.status();
    if status.is_success() {
        return response
            .json()
            .await
            .map_err(|e| EnrolFailure::Unreadable(error_chain(&e)));
    }
    let body = response.text().await.unwrap_or_default();
    if status.is_client_error() {
        Err(EnrolFailure::Refused {
            status: status.to_string(),
            body,
        })
    } else {
        Err(EnrolFailure::Unavailable(format!("answered {status}")))
    }
}

/// An error with its causes, `outer: inner: innermost` (reqwest hides the useful part,
/// e.g. "connection refused", in the chain).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Log to stderr, at `RUST_LOG`'s levels or `info`.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-shot HTTP server answering `response` to the first request.
    async fn answer_once(response: &'static str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1/agent/enrol", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            socket.write_all(response.as_bytes()).await.unwrap();
        });
        url
    }

    #[tokio::test]
    async fn tells_refusal_from_unavailability() {
        let http = reqwest::Client::new();
        let url = answer_once(
            "HTTP/1.1 403 Forbidden\r\ncontent-length: 7\r\nconnection: close\r\n\r\nexpired",
        )
        .await;
        let failure = enrol::<_, serde_json::Value>(&http, &url, &1)
            .await
            .unwrap_err();
        assert_eq!(
            failure.to_string(),
            "enrolment refused (403 Forbidden): expired"
        );

        let url =
            answer_once("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n").await;
        let failure = enrol::<_, serde_json::Value>(&http, &url, &1)
            .await
            .unwrap_err();
        assert!(matches!(failure, EnrolFailure::Unavailable(_)), "{failure}");

        let url = answer_once("HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n{\"id\":7}\n").await;
        let answer: serde_json::Value = enrol(&http, &url, &1).await.unwrap();
        assert_eq!(answer["id"], 7);

        // Nothing listens on port 1.
        let failure = enrol::<_, serde_json::Value>(&http, "http://127.0.0.1:1/", &1)
            .await
            .unwrap_err();
        assert!(failure.to_string().contains("unavailable"), "{failure}");
    }
}
