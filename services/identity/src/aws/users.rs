//! IAM users.

use http::StatusCode;
use kumo_auth::Principal;
use kumo_common::xml::XmlWriter;
use kumo_common::{AwsError, QueryRequest};

use super::{aws, iam_time, user_name_param, ActionResult};
use crate::error::IdentityError;
use crate::{users, Identity};

pub(super) async fn get_user(
    identity: &Identity,
    caller: &Principal,
    request: &QueryRequest,
) -> ActionResult {
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
    let mut xml = XmlWriter::fragment();
    xml.element("User", |xml| {
        xml.text("Path", "/")
            .text("UserName", &user.user_name)
            .text("UserId", &user.user_id)
            .text("Arn", &user.arn)
            .text("CreateDate", &iam_time(&user.created_at));
    });
    Ok(Some(xml))
}
