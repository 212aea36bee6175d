//! The AWS CLI profile `kumo up` writes for the operator: a credentials file, a config file
//! and an env file to `source`, all under the state directory, mode 0600.

use std::path::{Path, PathBuf};

use kumo_identity::bootstrap::OperatorCredentials;

pub const PROFILE: &str = "kumo";

pub struct ProfileFiles {
    pub credentials: PathBuf,
    pub config: PathBuf,
    pub env: PathBuf,
}

/// Create the file's directory, then write it with the one private-file writer.
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    kumo_common::fs::write_private(path, contents.as_bytes())
}

pub fn write(
    state_dir: &Path,
    endpoint: &str,
    creds: &OperatorCredentials,
) -> std::io::Result<ProfileFiles> {
    let dir = state_dir.join("aws");
    let files = ProfileFiles {
        credentials: dir.join("credentials"),
        config: dir.join("config"),
        env: state_dir.join("kumo.env"),
    };
    write_private(
        &files.credentials,
        &format!(
            "[{PROFILE}]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            creds.access_key_id, creds.secret_access_key
        ),
    )?;
    write_private(
        &files.config,
        &format!(
            "[profile {PROFILE}]\nregion = us-east-1\noutput = json\nendpoint_url = {endpoint}\ns3 =\n    addressing_style = path\n    signature_version = s3v4\n"
        ),
    )?;
    write_private(
        &files.env,
        &format!(
            "export AWS_SHARED_CREDENTIALS_FILE={}\nexport AWS_CONFIG_FILE={}\nexport AWS_PROFILE={PROFILE}\nexport AWS_ENDPOINT_URL={endpoint}\n",
            files.credentials.display(),
            files.config.display()
        ),
    )?;
    if let Some(password) = &creds.new_password {
        write_private(
            &state_dir.join("operator-password"),
            &format!("{password}\n"),
        )?;
    }
    write_private(&state_dir.join("endpoint"), &format!("{endpoint}\n"))?;
    Ok(files)
}
