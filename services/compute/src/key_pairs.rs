//! Key pairs: imported OpenSSH public keys, or pairs Kumo generates (with `ssh-keygen`);
//! the private key is returned once and never stored.

use base64::Engine;
use chrono::{DateTime, Utc};
use kumo_auth::Principal;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use sqlx::PgPool;

use crate::error::{ComputeError, Result};
use crate::{require_write, validate};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct KeyPair {
    pub key_pair_id: String,
    pub key_name: String,
    /// `rsa` or `ed25519` (or the type of an imported key).
    pub key_type: String,
    pub public_key: String,
    pub fingerprint: String,
    pub created_at: DateTime<Utc>,
}

/// A generated pair: the only time the private key is shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NewKeyPair {
    #[serde(flatten)]
    pub key_pair: KeyPair,
    pub key_material: String,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportKeyPair {
    pub key_name: String,
    /// An OpenSSH public key line, e.g. `ssh-ed25519 AAAA… comment`.
    pub public_key: String,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyPair {
    pub key_name: String,
    /// `rsa` (default) or `ed25519`.
    #[serde(default)]
    pub key_type: Option<String>,
}

const COLUMNS: &str = "key_pair_id, key_name, key_type, public_key, fingerprint, created_at";

pub fn validate_key_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.chars().count() > 255
        || !name.chars().all(|c| c.is_ascii() && !c.is_ascii_control())
    {
        return Err(ComputeError::invalid(format!(
            "Invalid value '{name}' for KeyName: 1 to 255 ASCII characters"
        )));
    }
    Ok(())
}

/// An OpenSSH public key line as stored: one line of at most
/// [`validate::MAX_PUBLIC_KEY_BYTES`] bytes, no control characters.
pub fn validate_public_key_line(line: &str) -> Result<()> {
    let bad = |why: &str| {
        ComputeError::Invalid(
            "InvalidKeyPair.Format",
            format!("Key is not in valid OpenSSH public key format: {why}"),
        )
    };
    if line.len() > validate::MAX_PUBLIC_KEY_BYTES {
        return Err(bad(&format!(
            "longer than {} bytes",
            validate::MAX_PUBLIC_KEY_BYTES
        )));
    }
    if line.contains(['\n', '\r']) {
        return Err(bad("more than one line"));
    }
    kumo_common::text::check(line).map_err(|problem| bad(&problem.to_string()))
}

/// Parse an OpenSSH public key line: `(type, blob, fingerprint)`.
pub fn parse_public_key(line: &str) -> Result<(String, String)> {
    let bad = || {
        ComputeError::Invalid(
            "InvalidKeyPair.Format",
            "Key is not in valid OpenSSH public key format".into(),
        )
    };
    let mut parts = line.split_whitespace();
    let key_type = parts.next().ok_or_else(bad)?;
    let blob_b64 = parts.next().ok_or_else(bad)?;
    let blob = base64::engine::general_purpose::STANDARD
        .decode(blob_b64)
        .map_err(|_| bad())?;
    // The blob starts with the key type as an SSH string (4-byte length + bytes).
    if blob.len() < 4 {
        return Err(bad());
    }
    let len = u32::from_be_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
    if blob.len() < 4 + len || &blob[4..4 + len] != key_type.as_bytes() {
        return Err(bad());
    }
    let kind = match key_type {
        "ssh-rsa" => "rsa",
        "ssh-ed25519" => "ed25519",
        t if t.starts_with("ecdsa-sha2-") => "ecdsa",
        _ => return Err(bad()),
    };
    let digest = sha2::Sha256::digest(&blob);
    let fingerprint = base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest);
    Ok((kind.to_string(), fingerprint))
}

async fn insert(
    pool: &PgPool,
    caller: &Principal,
    name: &str,
    key_type: &str,
    public_key: &str,
    fingerprint: &str,
) -> Result<KeyPair> {
    sqlx::query_as::<_, KeyPair>(&format!(
        "INSERT INTO compute.key_pairs (key_pair_id, account_id, key_name, key_type, public_key, fingerprint)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    ))
    .bind(kumo_common::ids::KeyPairId::generate().as_str())
    .bind(&caller.account_id)
    .bind(name)
    .bind(key_type)
    .bind(public_key)
    .bind(fingerprint)
    .fetch_one(pool)
    .await
    .map_err(|e| match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => ComputeError::Conflict(
            "InvalidKeyPair.Duplicate",
            format!("The keypair '{name}' already exists."),
        ),
        other => other.into(),
    })
}

pub async fn import(pool: &PgPool, caller: &Principal, input: &ImportKeyPair) -> Result<KeyPair> {
    require_write(caller)?;
    validate_key_name(&input.key_name)?;
    let line = input.public_key.trim();
    validate_public_key_line(line)?;
    let (key_type, fingerprint) = parse_public_key(line)?;
    insert(pool, caller, &input.key_name, &key_type, line, &fingerprint).await
}

pub async fn create(
    pool: &PgPool,
    caller: &Principal,
    input: &CreateKeyPair,
) -> Result<NewKeyPair> {
    require_write(caller)?;
    validate_key_name(&input.key_name)?;
    let key_type = input.key_type.as_deref().unwrap_or("rsa");
    let (ssh_type, bits): (&str, &[&str]) = match key_type {
        "rsa" => ("rsa", &["-b", "2048"]),
        "ed25519" => ("ed25519", &[]),
        other => {
            return Err(ComputeError::invalid(format!(
                "Invalid value '{other}' for KeyType: rsa or ed25519"
            )))
        }
    };
    let dir = std::env::temp_dir().join(format!("kumo-key-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir(&dir).map_err(|e| ComputeError::Internal(e.to_string()))?;
    let path = dir.join("key");
    let output = tokio::process::Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            ssh_type,
            "-N",
            "",
            "-C",
            &input.key_name,
            "-m",
            "PEM",
        ])
        .args(bits)
        .arg("-f")
        .arg(&path)
        .output()
        .await;
    let result = (|| {
        let output = output.map_err(|e| ComputeError::Internal(format!("ssh-keygen: {e}")))?;
        if !output.status.success() {
            return Err(ComputeError::Internal(format!(
                "ssh-keygen: {}",
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        let private =
            std::fs::read_to_string(&path).map_err(|e| ComputeError::Internal(e.to_string()))?;
        let public = std::fs::read_to_string(path.with_extension("pub"))
            .map_err(|e| ComputeError::Internal(e.to_string()))?;
        Ok((private, public))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    let (private, public) = result?;
    let public = public.trim().to_string();
    let (key_type, fingerprint) = parse_public_key(&public)?;
    let key_pair = insert(
        pool,
        caller,
        &input.key_name,
        &key_type,
        &public,
        &fingerprint,
    )
    .await?;
    Ok(NewKeyPair {
        key_pair,
        key_material: private,
    })
}

pub async fn list(
    pool: &PgPool,
    caller: &Principal,
    names: &[String],
    ids: &[String],
) -> Result<Vec<KeyPair>> {
    let keys = sqlx::query_as::<_, KeyPair>(&format!(
        "SELECT {COLUMNS} FROM compute.key_pairs WHERE account_id = $1
           AND (cardinality($2::text[]) = 0 OR key_name = ANY($2))
           AND (cardinality($3::text[]) = 0 OR key_pair_id = ANY($3))
         ORDER BY key_name"
    ))
    .bind(&caller.account_id)
    .bind(names)
    .bind(ids)
    .fetch_all(pool)
    .await?;
    if let Some(missing) = names
        .iter()
        .find(|n| !keys.iter().any(|k| &k.key_name == *n))
    {
        return Err(not_found(missing));
    }
    if let Some(missing) = ids
        .iter()
        .find(|n| !keys.iter().any(|k| &k.key_pair_id == *n))
    {
        return Err(not_found(missing));
    }
    Ok(keys)
}

pub fn not_found(name: &str) -> ComputeError {
    ComputeError::NotFound(
        "InvalidKeyPair.NotFound",
        format!("The key pair '{name}' does not exist"),
    )
}

pub async fn get<'e, E: sqlx::PgExecutor<'e>>(
    executor: E,
    caller: &Principal,
    name: &str,
) -> Result<KeyPair> {
    sqlx::query_as::<_, KeyPair>(&format!(
        "SELECT {COLUMNS} FROM compute.key_pairs WHERE account_id = $1 AND key_name = $2"
    ))
    .bind(&caller.account_id)
    .bind(name)
    .fetch_optional(executor)
    .await?
    .ok_or_else(|| not_found(name))
}

/// Deleting a key pair that does not exist succeeds, as in EC2.
pub async fn delete(
    pool: &PgPool,
    caller: &Principal,
    name: Option<&str>,
    id: Option<&str>,
) -> Result<()> {
    require_write(caller)?;
    if name.is_none() && id.is_none() {
        return Err(ComputeError::Missing("KeyName".into()));
    }
    sqlx::query("DELETE FROM compute.key_pairs WHERE account_id = $1 AND ($2::text IS NULL OR key_name = $2) AND ($3::text IS NULL OR key_pair_id = $3)")
        .bind(&caller.account_id)
        .bind(name)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}
