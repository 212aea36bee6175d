//! IAM access keys.

use kumo_auth::Principal;
use kumo_common::xml::XmlWriter;
use kumo_common::QueryRequest;

use super::{aws, iam_time, user_name_param, ActionResult};
use crate::access_keys::{self, AccessKeyStatus};
use crate::Identity;

pub(super) async fn create(
    identity: &Identity,
    caller: &Principal,
    request: &QueryRequest,
) -> ActionResult {
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
    let mut xml = XmlWriter::fragment();
    xml.element("AccessKey", |xml| {
        xml.text("UserName", &key.user_name)
            .text("AccessKeyId", &key.access_key_id)
            .text("Status", key.status.as_str())
            .text("SecretAccessKey", &key.secret_access_key)
            .text("CreateDate", &iam_time(&key.created_at));
    });
    Ok(Some(xml))
}

pub(super) async fn list(
    identity: &Identity,
    caller: &Principal,
    request: &QueryRequest,
) -> ActionResult {
    let name = user_name_param(caller, request);
    let keys = access_keys::list(&identity.pool, caller, &caller.account_id, name)
        .await
        .map_err(aws)?;
    let mut xml = XmlWriter::fragment();
    xml.text("UserName", name)
        .list("AccessKeyMetadata", "member", &keys, |xml, key| {
            xml.text("UserName", &key.user_name)
                .text("AccessKeyId", &key.access_key_id)
                .text("Status", key.status.as_str())
                .text("CreateDate", &iam_time(&key.created_at));
        })
        .bool("IsTruncated", false);
    Ok(Some(xml))
}

pub(super) async fn delete(
    identity: &Identity,
    caller: &Principal,
    request: &QueryRequest,
) -> ActionResult {
    let name = user_name_param(caller, request);
    let key_id = request.require("AccessKeyId")?;
    access_keys::delete(&identity.pool, caller, &caller.account_id, name, key_id)
        .await
        .map_err(aws)?;
    Ok(None)
}

pub(super) async fn update(
    identity: &Identity,
    caller: &Principal,
    request: &QueryRequest,
) -> ActionResult {
    let name = user_name_param(caller, request);
    let key_id = request.require("AccessKeyId")?;
    let status = AccessKeyStatus::parse(request.require("Status")?).map_err(aws)?;
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
    Ok(None)
}
