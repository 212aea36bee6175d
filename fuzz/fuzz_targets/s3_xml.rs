//! The S3 request-document readers (`kumo_object_storage::s3::xml`): the well-formedness
//! check every document passes first, then the readers of Delete (DeleteObjects),
//! CompleteMultipartUpload, Tagging, VersioningConfiguration and CreateBucketConfiguration,
//! exactly as the handlers call them.
//!
//! Input: the document (bytes that are not UTF-8 are replaced, as the reader refuses them
//! before parsing anyway).
//!
//! Properties: nothing panics or runs away; a document the writer produces from any text
//! the edges accept is well-formed, and its tags read back exactly as written (nothing
//! trimmed).
#![no_main]

use kumo_object_storage::s3::xml;
use libfuzzer_sys::fuzz_target;

const ROOTS: [&str; 5] = [
    "Delete",
    "CompleteMultipartUpload",
    "Tagging",
    "VersioningConfiguration",
    "CreateBucketConfiguration",
];

fn refused(c: char) -> bool {
    matches!(c, '\0'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{fffe}' | '\u{ffff}')
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for root in ROOTS {
        let _ = xml::well_formed(&text, root);
    }
    // DeleteObjects
    let _ = xml::first_token(&text, "Quiet");
    for object in xml::elements(&text, "Object") {
        let _ = xml::first_text(object, "Key");
        let _ = xml::first_text(object, "VersionId");
    }
    // CompleteMultipartUpload
    for part in xml::elements(&text, "Part") {
        let _ = xml::first_token(part, "PartNumber").map(|n| n.parse::<i64>());
        let _ = xml::first_token(part, "ETag");
        let _ = xml::first_token(part, "ChecksumCRC32");
    }
    // Tagging, VersioningConfiguration, CreateBucketConfiguration
    let _ = xml::parse_tagging(&text);
    let _ = xml::first_token(&text, "Status");
    let _ = xml::first_token(&text, "MfaDelete");
    let _ = xml::first_token(&text, "LocationConstraint");
    let _ = xml::unescape(&text);
    let _ = xml::text_content(&text);

    // Writer → reader: whatever the text, the writer's document is well-formed; text the
    // edges accept reads back as written. The input is one key, '|', one value.
    let (key, value) = text.split_once('|').unwrap_or((&text, ""));
    let document = xml::write_tagging(&[(key.to_string(), value.to_string())]);
    assert!(
        xml::well_formed(&document, "Tagging"),
        "writer made {document:?}"
    );
    if text.chars().any(refused) {
        return;
    }
    let tags = xml::parse_tagging(&document);
    assert_eq!(tags.len(), 1, "{document:?}");
    // Keys and values are data: read back exactly, spaces and all.
    assert_eq!(
        &tags[0],
        &(key.to_string(), value.to_string()),
        "{document:?}"
    );
});
