//! Listings: ListBuckets, ListObjects (v1 and v2) and ListObjectVersions, with S3's
//! markers, continuation tokens and `encoding-type=url`.

use axum::response::Response;
use base64::Engine;

use super::response::{encode_key, xml_response};
use super::xml::{self, S3Xml, XmlWriter};
use super::S3Request;
use crate::buckets::{self, AuthorizedBucket};
use crate::error::{Result, StorageError};
use crate::objects::{self, ListPosition, ListQuery, Listing};
use crate::ObjectStorage;

pub async fn list_buckets(storage: &ObjectStorage, request: &S3Request) -> Result<Response> {
    let list = buckets::list(storage, &request.principal).await?;
    let mut w = xml::document("ListAllMyBucketsResult");
    w.owner("Owner", &request.principal.account_id);
    w.open("Buckets");
    for bucket in &list {
        w.open("Bucket")
            .text("Name", &bucket.name)
            .time("CreationDate", bucket.created_at)
            .text("BucketRegion", &bucket.region)
            .close();
    }
    w.close();
    Ok(xml_response(w.finish()))
}

pub(super) fn max_keys(request: &S3Request, name: &str) -> Result<usize> {
    match request.param(name) {
        None => Ok(1000),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(|n| n.min(1000) as usize)
            .ok_or_else(|| {
                StorageError::invalid_argument(format!(
                    "Provided {name} not an integer or within integer range"
                ))
            }),
    }
}

pub(super) fn url_encoding(request: &S3Request) -> Result<bool> {
    match request.param("encoding-type") {
        None => Ok(false),
        Some("url") => Ok(true),
        Some(_) => Err(StorageError::invalid_argument(
            "Invalid Encoding Method specified in Request",
        )),
    }
}

pub(super) fn encode_token(position: &ListPosition) -> String {
    let raw = match position {
        ListPosition::AfterKey(k) => format!("k{k}"),
        ListPosition::AfterPrefix(p) => format!("p{p}"),
        ListPosition::AfterVersion(k, seq) => format!("v{seq}:{k}"),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

pub(super) fn decode_token(token: &str) -> Result<ListPosition> {
    let invalid = || StorageError::invalid_argument("The continuation token provided is incorrect");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| invalid())?;
    let raw = String::from_utf8(raw).map_err(|_| invalid())?;
    let (kind, rest) = raw.split_at_checked(1).ok_or_else(invalid)?;
    match kind {
        "k" => Ok(ListPosition::AfterKey(rest.to_string())),
        "p" => Ok(ListPosition::AfterPrefix(rest.to_string())),
        _ => Err(invalid()),
    }
}

/// What every object listing (ListObjects v1 and v2, ListObjectVersions) asks for:
/// `prefix`, `delimiter`, `max-keys` and `encoding-type=url`.
struct ListingParams {
    url: bool,
    prefix: String,
    delimiter: Option<String>,
    max: usize,
}

impl ListingParams {
    fn parse(request: &S3Request) -> Result<Self> {
        let url = url_encoding(request)?;
        Ok(Self {
            url,
            prefix: request.param("prefix").unwrap_or("").to_string(),
            delimiter: request
                .param("delimiter")
                .filter(|d| !d.is_empty())
                .map(str::to_string),
            max: max_keys(request, "max-keys")?,
        })
    }

    /// One page of the bucket's objects (or of their versions), from `start`.
    async fn fetch(
        &self,
        storage: &ObjectStorage,
        bucket: &AuthorizedBucket,
        start: Option<ListPosition>,
        versions: bool,
    ) -> Result<Listing> {
        objects::list(
            storage,
            bucket,
            &ListQuery {
                prefix: self.prefix.clone(),
                delimiter: self.delimiter.clone(),
                max_keys: self.max,
                start,
                versions,
            },
        )
        .await
    }

    fn delimiter_element(&self, w: &mut XmlWriter) {
        w.opt(
            "Delimiter",
            self.delimiter
                .as_deref()
                .map(|d| encode_key(d, self.url))
                .as_deref(),
        );
    }

    fn encoding_type_element(&self, w: &mut XmlWriter) {
        if self.url {
            w.text("EncodingType", "url");
        }
    }
}

fn common_prefixes(w: &mut XmlWriter, prefixes: &[String], url: bool) {
    for prefix in prefixes {
        w.open("CommonPrefixes")
            .text("Prefix", &encode_key(prefix, url))
            .close();
    }
}

pub(super) async fn list_objects(
    storage: &ObjectStorage,
    request: &S3Request,
    bucket: &AuthorizedBucket,
    v2: bool,
) -> Result<Response> {
    let params = ListingParams::parse(request)?;
    let url = params.url;
    let start = if v2 {
        // An empty token is no token (S3 echoes it and lists from the start).
        match request
            .param("continuation-token")
            .filter(|t| !t.is_empty())
        {
            Some(token) => Some(decode_token(token)?),
            None => request
                .param("start-after")
                .filter(|s| !s.is_empty())
                .map(|s| ListPosition::AfterKey(s.to_string())),
        }
    } else {
        request
            .param("marker")
            .filter(|s| !s.is_empty())
            .map(|m| match &params.delimiter {
                // A marker that is a common prefix resumes after everything under it.
                Some(d) if m.ends_with(d.as_str()) && m.starts_with(params.prefix.as_str()) => {
                    ListPosition::AfterPrefix(m.to_string())
                }
                _ => ListPosition::AfterKey(m.to_string()),
            })
    };
    let listing = params.fetch(storage, bucket, start, false).await?;
    let mut w = xml::document("ListBucketResult");
    w.text("Name", bucket.name())
        .text("Prefix", &encode_key(&params.prefix, url));
    if v2 {
        w.opt(
            "StartAfter",
            request
                .param("start-after")
                .map(|s| encode_key(s, url))
                .as_deref(),
        );
        w.opt("ContinuationToken", request.param("continuation-token"));
        w.num(
            "KeyCount",
            listing.entries.len() + listing.common_prefixes.len(),
        );
    } else {
        w.text(
            "Marker",
            &encode_key(request.param("marker").unwrap_or(""), url),
        );
    }
    w.num("MaxKeys", params.max);
    params.delimiter_element(&mut w);
    w.bool("IsTruncated", listing.truncated);
    if listing.truncated {
        if let Some(next) = &listing.next {
            if v2 {
                w.text("NextContinuationToken", &encode_token(next));
            } else if params.delimiter.is_some() {
                let marker = match next {
                    ListPosition::AfterKey(k)
                    | ListPosition::AfterPrefix(k)
                    | ListPosition::AfterVersion(k, _) => k,
                };
                w.text("NextMarker", &encode_key(marker, url));
            }
        }
    }
    params.encoding_type_element(&mut w);
    for entry in &listing.entries {
        w.open("Contents")
            .text("Key", &encode_key(&entry.key, url))
            .time("LastModified", entry.last_modified)
            .text("ETag", &entry.etag)
            .num("Size", entry.size);
        if let Some(algorithm) = entry.checksum_algorithm {
            w.text("ChecksumAlgorithm", algorithm.as_str());
        }
        w.text("StorageClass", "STANDARD");
        if !v2 || request.param("fetch-owner") == Some("true") {
            w.owner("Owner", &entry.owner_account);
        }
        w.close();
    }
    common_prefixes(&mut w, &listing.common_prefixes, url);
    Ok(xml_response(w.finish()))
}

pub(super) async fn list_versions(
    storage: &ObjectStorage,
    request: &S3Request,
    bucket: &AuthorizedBucket,
) -> Result<Response> {
    let params = ListingParams::parse(request)?;
    let url = params.url;
    let key_marker = request.param("key-marker").filter(|s| !s.is_empty());
    let start = match (
        key_marker,
        request.param("version-id-marker").filter(|s| !s.is_empty()),
    ) {
        (None, _) => None,
        (Some(key), None) => Some(match &params.delimiter {
            Some(d) if key.ends_with(d.as_str()) => ListPosition::AfterPrefix(key.to_string()),
            _ => ListPosition::AfterKey(key.to_string()),
        }),
        (Some(key), Some(version)) => {
            Some(objects::version_position(storage, bucket, key, version).await?)
        }
    };
    let listing = params.fetch(storage, bucket, start, true).await?;
    let mut w = xml::document("ListVersionsResult");
    w.text("Name", bucket.name())
        .text("Prefix", &encode_key(&params.prefix, url))
        .text("KeyMarker", &encode_key(key_marker.unwrap_or(""), url))
        .text(
            "VersionIdMarker",
            request.param("version-id-marker").unwrap_or(""),
        )
        .num("MaxKeys", params.max);
    params.delimiter_element(&mut w);
    w.bool("IsTruncated", listing.truncated);
    if listing.truncated {
        match &listing.next {
            Some(ListPosition::AfterVersion(key, seq)) => {
                let version = listing
                    .entries
                    .iter()
                    .rev()
                    .find(|e| &e.key == key && e.seq == *seq)
                    .map(|e| e.version_id.clone())
                    .unwrap_or_default();
                w.text("NextKeyMarker", &encode_key(key, url))
                    .text("NextVersionIdMarker", &version);
            }
            Some(ListPosition::AfterPrefix(p)) | Some(ListPosition::AfterKey(p)) => {
                w.text("NextKeyMarker", &encode_key(p, url));
            }
            None => {}
        }
    }
    params.encoding_type_element(&mut w);
    for entry in &listing.entries {
        let element = if entry.delete_marker {
            "DeleteMarker"
        } else {
            "Version"
        };
        w.open(element)
            .text("Key", &encode_key(&entry.key, url))
            .text("VersionId", &entry.version_id)
            .bool("IsLatest", entry.is_latest)
            .time("LastModified", entry.last_modified);
        if !entry.delete_marker {
            w.text("ETag", &entry.etag)
                .num("Size", entry.size)
                .text("StorageClass", "STANDARD");
        }
        w.owner("Owner", &entry.owner_account);
        w.close();
    }
    common_prefixes(&mut w, &listing.common_prefixes, url);
    Ok(xml_response(w.finish()))
}
