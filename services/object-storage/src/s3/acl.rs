//! The one ACL Kumo has: the owning account's FULL_CONTROL (GetBucketAcl, GetObjectAcl).

use axum::response::Response;

use super::response::xml_response;
use super::xml::{self, S3Xml};
use crate::buckets::Bucket;

/// `AccessControlPolicy` granting the bucket's owner FULL_CONTROL, and nobody else anything.
pub(super) fn owner_full_control(bucket: &Bucket) -> Response {
    xml_response(owner_full_control_document(&bucket.account_id))
}

fn owner_full_control_document(account_id: &str) -> String {
    let mut w = xml::document("AccessControlPolicy");
    w.owner("Owner", account_id);
    w.open("AccessControlList").open("Grant");
    w.open_with(
        "Grantee",
        &[
            ("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"),
            ("xsi:type", "CanonicalUser"),
        ],
    )
    .text("ID", &xml::canonical_user_id(account_id))
    .text("DisplayName", account_id)
    .close();
    w.text("Permission", "FULL_CONTROL");
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owners_grant_reads_as_s3_writes_it() {
        let id = xml::canonical_user_id("123456789012");
        assert_eq!(
            owner_full_control_document("123456789012"),
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
                 <AccessControlPolicy xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <Owner><ID>{id}</ID><DisplayName>123456789012</DisplayName></Owner>\
                 <AccessControlList><Grant>\
                 <Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\">\
                 <ID>{id}</ID><DisplayName>123456789012</DisplayName></Grantee>\
                 <Permission>FULL_CONTROL</Permission></Grant></AccessControlList>\
                 </AccessControlPolicy>"
            )
        );
    }
}
