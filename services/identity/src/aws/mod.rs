//! The AWS side of identity: STS and IAM actions in the AWS Query protocol, answered in
//! their XML. The same domain functions as the native API do the work.

use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use http::{header, HeaderValue, StatusCode};
use kumo_auth::Principal;
use kumo_common::errors::{IAM_XMLNS, STS_XMLNS};
use kumo_common::xml::{element, XML_DECLARATION};
use kumo_common::{current_request_id, AwsError, AwsErrorFormat, QueryRequest};

use crate::error::IdentityError;
use crate::{access_keys, users, Identity};

/// The SigV4 service names this crate answers.
pub const SERVICES: [&str; 2] = ["sts", "iam"];

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
        ("sts", "GetCallerIdentity") => Ok(get_caller_identity(caller)),
        ("iam", "GetUser") => get_user(identity, caller, request).await,
        ("iam", "CreateAccessKey") => create_access_key(identity, caller, request).await,
        ("iam", "ListAccessKeys") => list_access_keys(identity, caller, request).await,
        ("iam", "DeleteAccessKey") => delete_access_key(identity, caller, request).await,
        ("iam", "UpdateAccessKey") => update_access_key(identity, caller, request).await,
        (_, action) => Err(AwsError::invalid_action(action)),
    };
    match result {
        Ok(body) => xml_response(&request.action, xmlns, &body),
        Err(error) => error.into_response_as(format),
    }
}

/// `<{Action}Response xmlns><{Action}Result>…</…Result><ResponseMetadata/></…Response>`;
/// an empty result element is left out, as AWS does for actions that return nothing.
fn xml_response(action: &str, xmlns: &str, result: &str) -> Response {
    let result = if result.is_empty() {
        String::new()
    } else {
        format!("<{action}Result>{result}</{action}Result>")
    };
    let body = format!(
        "{XML_DECLARATION}<{action}Response xmlns=\"{xmlns}\">{result}<ResponseMetadata>{}</ResponseMetadata></{action}Response>",
        element("RequestId", &current_request_id())
    );
    let mut response = (StatusCode::OK, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    response
}

fn iso8601(time: &DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn aws(error: IdentityError) -> AwsError {
    error.to_aws()
}

fn get_caller_identity(caller: &Principal) -> String {
    format!(
        "{}{}{}",
        element("Arn", &caller.arn()),
        element("UserId", &caller.user_id),
        element("Account", &caller.account_id)
    )
}

/// IAM's `UserName` parameter, defaulting to the caller (IAM users live in one account).
fn user_name_param<'a>(caller: &'a Principal, request: &'a QueryRequest) -> &'a str {
    request.get("UserName").unwrap_or(&caller.user_name)
}

async fn get_user(
    identity: &Identity,
    caller: &Principal,
    request: &QueryRequest,
) -> Result<String, AwsError> {
    let name = user_name_param(caller, request);
    let user = users::get(&identity.pool, caller, &caller.account_id, name)
        .await
        .map_err(|e| match e {
            IdentityError::NotFound(_) => AwsError::new(
                StatusCode::NOT_FOUND,
                "NoSuchEntity",
                format!("The user with name {name} cannot be found."),
            ),
            other => aws(other),
        })?;
    Ok(format!(
        "<User>{}{}{}{}{}</User>",
        element("Path", "/"),
        element("UserName", &user.user_name),
        element("UserId", &user.user_id),
        element("Arn", &user.arn),
        element("CreateDate", &iso8601(&user.created_at)),
    ))
}

async fn create_access_key(
    identity: &Identity,
    caller: &Principal,
    request: &QueryRequest,
) -> Result<String, AwsError> {
    let name = user_name_param(caller, request);
    let key = access_keys::create(
        &identity.pool,
        &identity.master_key,
        caller,
        &caller.account_id,
        name,
    )
    .await
    .map_err(aws)?;
    Ok(format!(
        "<AccessKey>{}{}{}{}{}</AccessKey>",
        element("UserName", &key.user_name),
        element("AccessKeyId", &key.access_key_id),
        element("Status", &key.status),
        element("SecretAccessKey", &key.secret_access_key),
        element("CreateDate", &iso8601(&key.created_at)),
    ))
}

async fn list_access_keys(
    identity: &Identity,
    caller: &Principal,
    request: &QueryRequest,
) -> Result<String, AwsError> {
    let name = user_name_param(caller, request);
    let keys = access_keys::list(&identity.pool, caller, &caller.account_id, name)
        .await
        .map_err(aws)?;
    let members: String = keys
        .iter()
        .map(|k| {
            format!(
                "<member>{}{}{}{}</member>",
                element("UserName", &k.user_name),
                element("AccessKeyId", &k.access_key_id),
                element("Status", &k.status),
                element("CreateDate", &iso8601(&k.created_at)),
            )
        })
        .collect();
    Ok(format!(
        "{}<AccessKeyMetadata>{members}</AccessKeyMetadata><IsTruncated>false</IsTruncated>",
        element("UserName", name)
    ))
}

async fn delete_access_key(
    identity: &Identity,
    caller: &Principal,
    request: &QueryRequest,
) -> Result<String, AwsError> {
    let name = user_name_param(caller, request);
    let key_id = request.require("AccessKeyId")?;
    access_keys::delete(&identity.pool, caller, &caller.account_id, name, key_id)
        .await
        .map_err(aws)?;
    Ok(String::new())
}

async fn update_access_key(
    identity: &Identity,
    caller: &Principal,
    request: &QueryRequest,
) -> Result<String, AwsError> {
    let name = user_name_param(caller, request);
    let key_id = request.require("AccessKeyId")?;
    let status = request.require("Status")?;
    access_keys::set_status(
        &identity.pool,
        caller,
        &caller.account_id,
        name,
        key_id,
        status,
    )
    .await
    .map_err(aws)?;
    Ok(String::new())
}
