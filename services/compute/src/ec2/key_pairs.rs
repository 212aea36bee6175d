//! EC2 ImportKeyPair, CreateKeyPair, DescribeKeyPairs and DeleteKeyPair: their
//! parameters, filters and XML.

use base64::Engine;
use kumo_auth::Principal;
use kumo_common::xml::XmlWriter;
use kumo_ec2_query::tags::is_tag_filter;

use super::params::Params;
use super::xml::{fragment, tag_set};
use crate::error::{ComputeError, Result};
use crate::key_pairs::{self, CreateKeyPair, ImportKeyPair, KeyPair, NewKeyPair};
use crate::tags::{self, Tags};
use crate::{require_write, Compute};
use kumo_ec2_query::filters::{check_names, select_by_fields};

/// `PublicKeyMaterial`: base64 of the OpenSSH line (SDKs encode it); a raw line is accepted too.
fn public_key_material(text: &str) -> Result<String> {
    let text = text.trim();
    if text.starts_with("ssh-") || text.starts_with("ecdsa-") {
        return Ok(text.to_string());
    }
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| {
            ComputeError::Invalid(
                "InvalidKeyPair.Format",
                "Key is not in valid OpenSSH public key format".into(),
            )
        })
}

pub(super) async fn import_key_pair(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let input = ImportKeyPair {
        key_name: p.required("KeyName")?.to_string(),
        public_key: public_key_material(p.required("PublicKeyMaterial")?)?,
    };
    let tag_list = p.tags_for("key-pair", &[])?;
    tags::validate(&tag_list)?;
    let key = key_pairs::import(&compute.pool, caller, &input).await?;
    tags::put(
        &compute.pool,
        &caller.account_id,
        &key.key_pair_id,
        &tag_list,
    )
    .await?;
    let mut xml = XmlWriter::fragment();
    write_imported_key_pair(&mut xml, &key, &tag_list.into_iter().collect());
    Ok(xml)
}

pub(super) async fn create_key_pair(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    if let Some(format) = p.string("KeyFormat") {
        if format != "pem" {
            return Err(ComputeError::invalid(format!(
                "Invalid value '{format}' for KeyFormat: only pem"
            )));
        }
    }
    let input = CreateKeyPair {
        key_name: p.required("KeyName")?.to_string(),
        key_type: p.string("KeyType").map(str::to_string),
    };
    let tag_list = p.tags_for("key-pair", &[])?;
    tags::validate(&tag_list)?;
    let key = key_pairs::create(&compute.pool, caller, &input).await?;
    tags::put(
        &compute.pool,
        &caller.account_id,
        &key.key_pair.key_pair_id,
        &tag_list,
    )
    .await?;
    let mut xml = XmlWriter::fragment();
    write_created_key_pair(&mut xml, &key, &tag_list.into_iter().collect());
    Ok(xml)
}

const KEY_PAIR_FILTERS: [&str; 4] = ["key-name", "key-pair-id", "fingerprint", "key-type"];

fn key_pair_field(key: &(KeyPair, Tags), name: &str) -> Vec<String> {
    let (key, _) = key;
    let one = |s: &str| vec![s.to_string()];
    match name {
        "key-name" => one(&key.key_name),
        "key-pair-id" => one(&key.key_pair_id),
        "fingerprint" => one(&key.fingerprint),
        "key-type" => one(&key.key_type),
        _ => Vec::new(),
    }
}

pub(super) async fn describe_key_pairs(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let filters = p.filters()?;
    check_names(&filters, |name| {
        is_tag_filter(name) || KEY_PAIR_FILTERS.contains(&name)
    })?;
    let include_public_key = p.bool("IncludePublicKey")?.unwrap_or(false);
    let keys = key_pairs::list(
        &compute.pool,
        caller,
        &p.list("KeyName")?,
        &p.list("KeyPairId")?,
    )
    .await?;
    let ids: Vec<String> = keys.iter().map(|k| k.key_pair_id.clone()).collect();
    let mut tags = tags::for_resources(&compute.pool, &caller.account_id, &ids).await?;
    let with_tags: Vec<(KeyPair, Tags)> = keys
        .into_iter()
        .map(|k| {
            let t = tags.remove(&k.key_pair_id).unwrap_or_default();
            (k, t)
        })
        .collect();
    let selected = select_by_fields(
        &caller.account_id,
        with_tags,
        &filters,
        key_pair_field,
        |(_, t)| Some(t),
    )
    .await?;
    let mut xml = XmlWriter::fragment();
    write_describe_key_pairs(&mut xml, &selected, include_public_key);
    Ok(xml)
}

pub(super) async fn delete_key_pair(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let name = p.string("KeyName");
    let id = p.string("KeyPairId");
    require_write(caller)?;
    if name.is_none() && id.is_none() {
        return Err(ComputeError::Missing("KeyName".into()));
    }
    // Deleting a key pair that does not exist succeeds, as in EC2; a found one loses its tags too.
    let names: Vec<String> = name.map(str::to_string).into_iter().collect();
    let ids: Vec<String> = id.map(str::to_string).into_iter().collect();
    let found = match key_pairs::list(&compute.pool, caller, &names, &ids).await {
        Ok(keys) => keys,
        Err(ComputeError::NotFound(..)) => Vec::new(),
        Err(other) => return Err(other),
    };
    key_pairs::delete(&compute.pool, caller, name, id).await?;
    for key in &found {
        tags::delete(&compute.pool, &caller.account_id, &key.key_pair_id, &[]).await?;
    }
    let mut xml = XmlWriter::fragment();
    xml.bool("return", true)
        .opt("keyPairId", found.first().map(|k| k.key_pair_id.as_str()));
    Ok(xml)
}

// ---------------------------------------------------------------- XML

/// ImportKeyPair's answer.
fn write_imported_key_pair(xml: &mut XmlWriter, key: &KeyPair, tags: &Tags) {
    xml.text("keyName", &key.key_name)
        .text("keyFingerprint", &key.fingerprint)
        .text("keyPairId", &key.key_pair_id);
    tag_set(xml, tags);
}

/// [`write_imported_key_pair`], as text.
pub fn imported_key_pair_xml(key: &KeyPair, tags: &Tags) -> String {
    fragment(|xml| write_imported_key_pair(xml, key, tags))
}

/// CreateKeyPair's answer, with the private key (shown once).
fn write_created_key_pair(xml: &mut XmlWriter, key: &NewKeyPair, tags: &Tags) {
    write_imported_key_pair(xml, &key.key_pair, tags);
    xml.text("keyMaterial", &key.key_material);
}

/// [`write_created_key_pair`], as text.
pub fn created_key_pair_xml(key: &NewKeyPair, tags: &Tags) -> String {
    fragment(|xml| write_created_key_pair(xml, key, tags))
}

/// DescribeKeyPairs: `keySet` (the public key only when asked for).
fn write_describe_key_pairs(
    xml: &mut XmlWriter,
    keys: &[(KeyPair, Tags)],
    include_public_key: bool,
) {
    xml.list("keySet", "item", keys, |xml, (k, tags)| {
        xml.text("keyPairId", &k.key_pair_id)
            .text("keyName", &k.key_name)
            .text("keyFingerprint", &k.fingerprint)
            .text("keyType", &k.key_type)
            .time("createTime", k.created_at);
        if include_public_key {
            xml.text("publicKey", &k.public_key);
        }
        tag_set(xml, tags);
    });
}

/// [`write_describe_key_pairs`], as text.
pub fn describe_key_pairs_xml(keys: &[(KeyPair, Tags)], include_public_key: bool) -> String {
    fragment(|xml| write_describe_key_pairs(xml, keys, include_public_key))
}
