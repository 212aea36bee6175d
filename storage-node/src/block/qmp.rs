//! A minimal QMP client for a replica's `qemu-storage-daemon` (`qmp.sock`): connect,
//! negotiate, run commands one at a time (events are skipped). Errors are strings, as the
//! rest of the block role reports them.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

/// Every read and write is bounded by this.
const TIMEOUT: Duration = Duration::from_secs(10);

pub(super) struct Qmp {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_id: u64,
}

impl Qmp {
    pub async fn connect(socket: &Path) -> Result<Self, String> {
        let stream = tokio::time::timeout(TIMEOUT, UnixStream::connect(socket))
            .await
            .map_err(|_| format!("{}: QMP connect timed out", socket.display()))?
            .map_err(|e| format!("{}: QMP connect: {e}", socket.display()))?;
        let (read, writer) = stream.into_split();
        let mut qmp = Qmp {
            reader: BufReader::new(read),
            writer,
            next_id: 1,
        };
        let greeting = qmp.read().await?;
        if greeting.get("QMP").is_none() {
            return Err(format!("QMP: unexpected greeting {greeting}"));
        }
        qmp.execute("qmp_capabilities", json!({})).await?;
        Ok(qmp)
    }

    async fn read(&mut self) -> Result<Value, String> {
        let mut line = String::new();
        let n = tokio::time::timeout(TIMEOUT, self.reader.read_line(&mut line))
            .await
            .map_err(|_| "QMP: read timed out".to_string())?
            .map_err(|e| format!("QMP: read: {e}"))?;
        if n == 0 {
            return Err("QMP: the daemon closed the connection".into());
        }
        serde_json::from_str(&line).map_err(|e| format!("QMP: bad reply {line:?}: {e}"))
    }

    /// Run `command`; its `return` value, or its error's description.
    pub async fn execute(&mut self, command: &str, arguments: Value) -> Result<Value, String> {
        let id = self.next_id;
        self.next_id += 1;
        let mut line = json!({ "execute": command, "arguments": arguments, "id": id }).to_string();
        line.push('\n');
        tokio::time::timeout(TIMEOUT, self.writer.write_all(line.as_bytes()))
            .await
            .map_err(|_| format!("QMP {command}: write timed out"))?
            .map_err(|e| format!("QMP {command}: write: {e}"))?;
        loop {
            let reply = self.read().await?;
            if reply.get("event").is_some() || reply.get("id") != Some(&json!(id)) {
                continue;
            }
            if let Some(error) = reply.get("error") {
                return Err(format!(
                    "QMP {command}: {}",
                    error.get("desc").and_then(Value::as_str).unwrap_or("error")
                ));
            }
            return Ok(reply.get("return").cloned().unwrap_or(Value::Null));
        }
    }
}
