//! The AWS side of identity: STS and IAM actions in the AWS Query protocol, answered in
//! their XML. One file per resource family ([`sts`], [`users`], [`access_keys`]); this one
//! dispatches and writes the response envelope. The same domain functions as the native
//! API do the work.

mod access_keys;
mod sts;
mod users;

use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use http::{header, HeaderValue, StatusCode};
use kumo_auth::Principal;
use kumo_common::errors::{IAM_XMLNS, STS_XMLNS};
use kumo_common::xml::XmlWriter;
use kumo_common::{current_request_id, AwsError, AwsErrorFormat, QueryRequest};

use crate::error::IdentityError;
use crate::Identity;

/// The SigV4 service names this crate answers.
pub const SERVICES: [&str; 2] = ["sts", "iam"];

/// What an action answers: the inside of `<{Action}Result>`, or nothing for actions that
/// return nothing (AWS then leaves the result element out).
type ActionResult = Result<Option<XmlWriter>, AwsError>;

/// Answer one Query request for `service` (`sts` or `iam`).
pub async fn dispatch(
    identity: &Identity,
    service: &str,
    principal: Option<&Principal>,
    request: &QueryRequest,
) -> Response {
    let format = AwsErrorFormat::for_service(service);
    let xmlns = if service == "iam" {
        IAM_XMLNS
    } else {
        STS_XMLNS
    };
    let Some(caller) = principal else {
        return AwsError::new(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
        )
        .into_response_as(format);
    };
    let result = match (service, request.action.as_str()) {
        ("sts", "GetCallerIdentity") => Ok(Some(sts::get_caller_identity(caller))),
        ("iam", "GetUser") => users::get_user(identity, caller, request).await,
        ("iam", "CreateAccessKey") => access_keys::create(identity, caller, request).await,
        ("iam", "ListAccessKeys") => access_keys::list(identity, caller, request).await,
        ("iam", "DeleteAccessKey") => access_keys::delete(identity, caller, request).await,
        ("iam", "UpdateAccessKey") => access_keys::update(identity, caller, request).await,
        (_, action) => Err(AwsError::invalid_action(action)),
    };
    match result {
        Ok(body) => xml_response(&request.action, xmlns, body),
        Err(error) => error.into_response_as(format),
    }
}

/// `<{Action}Response xmlns><{Action}Result>…</…Result><ResponseMetadata/></…Response>`.
fn xml_response(action: &str, xmlns: &str, result: Option<XmlWriter>) -> Response {
    let mut xml = XmlWriter::document(&format!("{action}Response"), Some(xmlns));
    if let Some(result) = result {
        xml.open(&format!("{action}Result"))
            .fragment_of(result)
            .close();
    }
    xml.element("ResponseMetadata", |xml| {
        xml.text("RequestId", &current_request_id());
    });
    let mut response = (StatusCode::OK, xml.finish()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    response
}

/// IAM's timestamps carry whole seconds (`2009-10-12T17:50:30Z`), unlike EC2's and S3's.
fn iam_time(time: &DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn aws(error: IdentityError) -> AwsError {
    error.to_aws()
}

/// IAM's `UserName` parameter, defaulting to the caller (IAM users live in one account).
fn user_name_param<'a>(caller: &'a Principal, request: &'a QueryRequest) -> &'a str {
    request.get("UserName").unwrap_or(&caller.user_name)
}
