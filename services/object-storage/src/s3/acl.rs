//! The one ACL Kumo has: the owning account's FULL_CONTROL (GetBucketAcl, GetObjectAcl).

use axum::response::Response;

use super::response::xml_response;
use super::xml::{self, S3Xml};
use crate::buckets::Bucket;

/// `AccessControlPolicy` granting the bucket's owner FULL_CONTROL, and nobody else anything.
pub(super) fn owner_full_control(bucket: &Bucket) -> Response {
    let mut w = xml::document("AccessControlPolicy");
    w.owner("Owner", &bucket.account_id);
    w.open("AccessControlList").open("Grant");
    w.open_with(
        "Grantee",
        &[
            ("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"),
            ("xsi:type", "CanonicalUser"),
        ],
    )
    .text("ID", &xml::canonical_user_id(&bucket.account_id))
    .text("DisplayName", &bucket.account_id)
    .close();
    w.text("Permission", "FULL_CONTROL");
    xml_response(w.finish())
}
