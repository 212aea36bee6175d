//! What every EC2 Query action shares around its own work: the `DryRun` answer, the page
//! request, and the response document (`<{Action}Response xmlns=…><requestId>…`).

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};
use kumo_common::xml::XmlWriter;
use kumo_common::{current_request_id, AwsError};

use crate::error::Result;
use crate::params::Params;
use crate::Page;

/// The EC2 API namespace of every response.
pub const EC2_XMLNS: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

/// The response document: `<{action}Response xmlns=…><requestId>…</requestId>{inner}</…>`.
pub fn document(action: &str, request_id: &str, inner: XmlWriter) -> String {
    let mut xml = XmlWriter::document(&format!("{action}Response"), Some(EC2_XMLNS));
    xml.text("requestId", request_id).fragment_of(inner);
    xml.finish()
}

/// The HTTP answer of a successful action, carrying the current request id.
pub fn xml_response(action: &str, inner: XmlWriter) -> Response {
    let body = document(action, &current_request_id(), inner);
    let mut response = (StatusCode::OK, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    response
}

/// `DryRun=true`: `DryRunOperation` (412) when the caller may act, else the refusal
/// `may_act` gives. `writes` says whether the action writes (only then is the caller's
/// right to write checked).
pub fn dry_run(
    p: Params<'_>,
    writes: bool,
    may_write: impl FnOnce() -> std::result::Result<(), AwsError>,
) -> std::result::Result<(), AwsError> {
    let requested = p
        .bool("DryRun")
        .map_err(|e| AwsError::new(StatusCode::BAD_REQUEST, e.code(), e.to_string()))?;
    match requested {
        Some(true) => {
            if writes {
                may_write()?;
            }
            Err(AwsError::new(
                StatusCode::PRECONDITION_FAILED,
                "DryRunOperation",
                "Request would have succeeded, but DryRun flag is set.",
            ))
        }
        _ => Ok(()),
    }
}

/// `MaxResults` (within `bounds`) and `NextToken`, parsed before any work is done.
pub fn page(p: Params<'_>, bounds: (i64, i64)) -> Result<Page> {
    Page::parse(p.int("MaxResults")?, p.string("NextToken"), bounds)
}

/// `<return>true</return>`, to answer with.
pub fn returned_true() -> XmlWriter {
    let mut xml = XmlWriter::fragment();
    xml.bool("return", true);
    xml
}

/// `<tagSet>` of `{key, value}` items.
pub fn tag_set<'a>(xml: &mut XmlWriter, tags: impl IntoIterator<Item = (&'a String, &'a String)>) {
    xml.list("tagSet", "item", tags, |xml, (key, value)| {
        xml.text("key", key).text("value", value);
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn documents_and_dry_runs() {
        assert_eq!(
            document("DeleteTags", "r-1", returned_true()),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteTagsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r-1</requestId><return>true</return></DeleteTagsResponse>"
        );
        let params: BTreeMap<String, String> = [("DryRun".to_string(), "true".to_string())].into();
        let p = Params::new(&params);
        assert_eq!(
            dry_run(p, false, || Ok(())).unwrap_err().code,
            "DryRunOperation"
        );
        let refused = dry_run(p, true, || {
            Err(AwsError::new(
                StatusCode::FORBIDDEN,
                "UnauthorizedOperation",
                "no",
            ))
        });
        assert_eq!(refused.unwrap_err().code, "UnauthorizedOperation");
        let none = BTreeMap::new();
        assert!(dry_run(Params::new(&none), true, || Ok(())).is_ok());
    }
}
