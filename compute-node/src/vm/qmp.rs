//! A small async QMP (QEMU Machine Protocol) client over a Unix socket.
//!
//! The protocol is line-delimited JSON: the server greets with `{"QMP": …}`, the client
//! negotiates with `qmp_capabilities`, then every `{"execute": …}` gets exactly one
//! `{"return": …}` or `{"error": …}` reply, interleaved with asynchronous
//! `{"event": …}` messages, which this client skips. Every read and write is bounded by
//! the client's timeout.
//!
//! A QMP monitor serves one client at a time; others wait in the listen backlog until the
//! current one disconnects, so keep connections short ([`execute_once`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

use crate::error::{NodeError, Result};

/// Longest reply line accepted (QMP replies of the commands used here are tiny).
const MAX_LINE: usize = 1 << 20;

/// One negotiated QMP connection.
#[derive(Debug)]
pub struct QmpClient {
    path: PathBuf,
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    timeout: Duration,
    next_id: u64,
}

impl QmpClient {
    /// Connects, reads the greeting and leaves capability negotiation mode; each step
    /// is bounded by `timeout`.
    pub async fn connect(path: &Path, timeout: Duration) -> Result<Self> {
        let stream = tokio::time::timeout(timeout, UnixStream::connect(path))
            .await
            .map_err(|_| NodeError::Qmp(format!("{}: connect timed out", path.display())))?
            .map_err(|e| NodeError::Qmp(format!("{}: connect: {e}", path.display())))?;
        let (read, writer) = stream.into_split();
        let mut client = QmpClient {
            path: path.to_path_buf(),
            reader: BufReader::new(read),
            writer,
            timeout,
            next_id: 1,
        };
        let greeting = client.read_message().await?;
        if greeting.get("QMP").is_none() {
            return Err(client.err(format!("unexpected greeting {greeting}")));
        }
        client.execute("qmp_capabilities", None).await?;
        Ok(client)
    }

    /// Runs one command and returns the value of its `return` member; an `error` reply
    /// becomes [`NodeError::Qmp`] with its class and description.
    pub async fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let mut request = json!({ "execute": command, "id": id });
        if let Some(arguments) = arguments {
            request["arguments"] = arguments;
        }
        let mut line = request.to_string();
        line.push('\n');
        tokio::time::timeout(self.timeout, self.writer.write_all(line.as_bytes()))
            .await
            .map_err(|_| self.err(format!("{command}: write timed out")))?
            .map_err(|e| self.err(format!("{command}: write: {e}")))?;
        loop {
            let message = self.read_message().await?;
            if message.get("event").is_some() {
                tracing::debug!(path = %self.path.display(), %message, "QMP event");
                continue;
            }
            // Replies carry our id back; ignore anything that is not ours.
            if message.get("id").is_some_and(|v| v != &json!(id)) {
                continue;
            }
            if let Some(value) = message.get("return") {
                return Ok(value.clone());
            }
            if let Some(error) = message.get("error") {
                let class = error
                    .get("class")
                    .and_then(Value::as_str)
                    .unwrap_or("Error");
                let desc = error.get("desc").and_then(Value::as_str).unwrap_or("");
                return Err(self.err(format!("{command}: {class}: {desc}")));
            }
            tracing::debug!(path = %self.path.display(), %message, "unexpected QMP message");
        }
    }

    /// Waits, without a time limit, for the next asynchronous event (replies to nothing
    /// are skipped): for a connection that only listens.
    pub async fn next_event(&mut self) -> Result<Value> {
        loop {
            let message = self.read_message_within(None).await?;
            if message.get("event").is_some() {
                return Ok(message);
            }
        }
    }

    async fn read_message(&mut self) -> Result<Value> {
        self.read_message_within(Some(self.timeout)).await
    }

    async fn read_message_within(&mut self, timeout: Option<Duration>) -> Result<Value> {
        let mut line = String::new();
        loop {
            line.clear();
            let mut limited = (&mut self.reader).take(MAX_LINE as u64);
            let read = limited.read_line(&mut line);
            let n = match timeout {
                Some(timeout) => tokio::time::timeout(timeout, read)
                    .await
                    .map_err(|_| self.err("read timed out".to_string()))?,
                None => read.await,
            }
            .map_err(|e| self.err(format!("read: {e}")))?;
            if n == 0 {
                return Err(self.err("connection closed".to_string()));
            }
            if n >= MAX_LINE && !line.ends_with('\n') {
                return Err(self.err("reply line too long".to_string()));
            }
            let trimmed = line.trim();
            if trimmed.is_empty() {
                continue;
            }
            return serde_json::from_str(trimmed)
                .map_err(|e| self.err(format!("bad JSON {trimmed:?}: {e}")));
        }
    }

    fn err(&self, message: String) -> NodeError {
        NodeError::Qmp(format!("{}: {message}", self.path.display()))
    }
}

/// Connects, runs one command and disconnects; the whole exchange takes at most about
/// four times `timeout`.
pub async fn execute_once(
    path: &Path,
    command: &str,
    arguments: Option<Value>,
    timeout: Duration,
) -> Result<Value> {
    let mut client = QmpClient::connect(path, timeout).await?;
    client.execute(command, arguments).await
}
