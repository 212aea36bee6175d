//! The agent's one error type.

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A host command (ip, runc, qemu-img, …) failed.
    #[error("{command}: {message}")]
    Command { command: String, message: String },
    #[error("QMP: {0}")]
    Qmp(String),
    #[error("invalid instance spec: {0}")]
    InvalidSpec(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("control plane: {0}")]
    ControlPlane(String),
    #[error("{0}")]
    Other(String),
}

/// Instance ids become file, namespace and link names: only well-formed ids get that far.
impl From<kumo_common::ids::MalformedId> for NodeError {
    fn from(malformed: kumo_common::ids::MalformedId) -> Self {
        NodeError::InvalidSpec(malformed.to_string())
    }
}

pub type Result<T, E = NodeError> = std::result::Result<T, E>;

/// Run a host command to completion; a non-zero exit becomes [`NodeError::Command`] with
/// its stderr.
pub async fn run(program: &str, args: &[&str]) -> Result<String> {
    let output = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| NodeError::Command {
            command: format!("{program} {}", args.join(" ")),
            message: e.to_string(),
        })?;
    if !output.status.success() {
        return Err(NodeError::Command {
            command: format!("{program} {}", args.join(" ")),
            message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Run a host command with `input` on its stdin (an `nft -f -` script); a non-zero exit
/// becomes [`NodeError::Command`] with its stderr.
pub async fn run_with_input(program: &str, args: &[&str], input: &str) -> Result<String> {
    use tokio::io::AsyncWriteExt;
    let command = || format!("{program} {}", args.join(" "));
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| NodeError::Command {
            command: command(),
            message: e.to_string(),
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).await?;
    }
    let output = child.wait_with_output().await?;
    if !output.status.success() {
        return Err(NodeError::Command {
            command: command(),
            message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
