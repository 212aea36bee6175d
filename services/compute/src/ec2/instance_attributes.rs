//! EC2 DescribeInstanceAttribute and ModifyInstanceAttribute: their parameters and XML.

use base64::Engine;
use kumo_auth::Principal;
use kumo_common::ids::{InstanceId, SecurityGroupId};
use kumo_common::xml::XmlWriter;

use super::params::Params;
use super::xml::returned_true;
use crate::error::{ComputeError, Result};
use crate::instances::{self, AttributeValue};
use crate::network::PrimaryInterfaceChange;
use crate::volumes::ROOT_DEVICE_NAME;
use crate::{api, require_write, Compute};

/// Attributes Kumo does not model: their fixed values (`None`: empty element).
fn fixed_attribute(attribute: &str) -> Option<Option<&'static str>> {
    Some(match attribute {
        "enaSupport" => Some("true"),
        "ebsOptimized" | "disableApiStop" => Some("false"),
        "kernel" | "ramdisk" | "sriovNetSupport" | "productCodes" => None,
        _ => return None,
    })
}

pub(super) async fn describe_instance_attribute(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let instance_id = p.required("InstanceId")?;
    let attribute = p.required("Attribute")?;
    let instance_id = InstanceId::parse(instance_id)?;
    if matches!(attribute, "groupSet" | "sourceDestCheck") {
        // The primary interface's (none once terminated: no groups, the check on).
        let instance = instances::get(compute, caller, instance_id.as_str()).await?;
        let primary = instance.primary_interface();
        let mut xml = XmlWriter::fragment();
        xml.text("instanceId", instance_id.as_str());
        if attribute == "groupSet" {
            xml.list("groupSet", "item", instance.security_groups(), |xml, g| {
                xml.text("groupId", &g.group_id)
                    .text("groupName", &g.group_name);
            });
        } else {
            xml.element("sourceDestCheck", |xml| {
                xml.bool("value", primary.is_none_or(|p| p.source_dest_check));
            });
        }
        return Ok(xml);
    }
    if matches!(attribute, "blockDeviceMapping" | "rootDeviceName") {
        let instance = instances::get(compute, caller, instance_id.as_str()).await?;
        let mut xml = XmlWriter::fragment();
        xml.text("instanceId", instance_id.as_str());
        if attribute == "blockDeviceMapping" {
            super::instances::write_block_devices(&mut xml, &instance.block_devices);
        } else {
            let name = instance.root_device_name.as_deref();
            xml.element("rootDeviceName", |xml| {
                xml.text("value", name.unwrap_or(ROOT_DEVICE_NAME));
            });
        }
        return Ok(xml);
    }
    if let Some(fixed) = fixed_attribute(attribute) {
        // Existence and ownership, through a modelled attribute.
        instances::get_attribute(&compute.pool, caller, &instance_id, "instanceType").await?;
        return Ok(instance_attribute(instance_id.as_str(), attribute, fixed));
    }
    let value = instances::get_attribute(&compute.pool, caller, &instance_id, attribute).await?;
    let text = match value {
        AttributeValue::Text(t) => Some(t),
        AttributeValue::Bool(b) => Some(b.to_string()),
        AttributeValue::UserData(data) => data
            .filter(|d| !d.is_empty())
            .map(|d| base64::engine::general_purpose::STANDARD.encode(d)),
    };
    Ok(instance_attribute(
        instance_id.as_str(),
        attribute,
        text.as_deref(),
    ))
}

/// The one attribute a ModifyInstanceAttribute call changes, and its raw value.
pub fn modified_attribute(p: Params<'_>) -> Result<(String, String)> {
    const STRUCTURED: [(&str, &str); 11] = [
        ("InstanceType", "instanceType"),
        ("UserData", "userData"),
        ("DisableApiTermination", "disableApiTermination"),
        (
            "InstanceInitiatedShutdownBehavior",
            "instanceInitiatedShutdownBehavior",
        ),
        ("SourceDestCheck", "sourceDestCheck"),
        ("EbsOptimized", "ebsOptimized"),
        ("EnaSupport", "enaSupport"),
        ("DisableApiStop", "disableApiStop"),
        ("Kernel", "kernel"),
        ("Ramdisk", "ramdisk"),
        ("SriovNetSupport", "sriovNetSupport"),
    ];
    let mut changes: Vec<(String, String)> = Vec::new();
    if let Some(attribute) = p.string("Attribute") {
        let value = p.required("Value")?;
        changes.push((attribute.to_string(), value.to_string()));
    }
    for (param, attribute) in STRUCTURED {
        if let Some(value) = p.string(&format!("{param}.Value")) {
            changes.push((attribute.to_string(), value.to_string()));
        }
    }
    // The primary interface's groups, as one value of space-separated (checked) ids.
    let groups = p.list("GroupId")?;
    for id in &groups {
        SecurityGroupId::parse(id)?;
    }
    if !groups.is_empty() {
        changes.push(("groupSet".to_string(), groups.join(" ")));
    }
    if !p.indices("BlockDeviceMapping").is_empty() {
        return Err(ComputeError::Invalid(
            "UnsupportedOperation",
            "Block device mappings cannot be modified".into(),
        ));
    }
    match changes.len() {
        0 => Err(ComputeError::Missing("Attribute".into())),
        1 => Ok(changes.remove(0)),
        _ => Err(ComputeError::Invalid(
            "InvalidParameterCombination",
            format!(
                "Fields for multiple attribute types specified: {}",
                changes
                    .iter()
                    .map(|(a, _)| a.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

fn parse_bool_value(attribute: &str, value: &str) -> Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ComputeError::invalid(format!(
            "Invalid value '{value}' for {attribute}. Expecting a boolean (true or false)."
        ))),
    }
}

pub(super) async fn modify_instance_attribute(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let instance_id = p.required("InstanceId")?;
    if !p.indices("BlockDeviceMapping").is_empty() {
        return modify_delete_on_termination(compute, caller, instance_id, p).await;
    }
    let (attribute, raw) = modified_attribute(p)?;
    let value = match attribute.as_str() {
        "instanceType" | "instanceInitiatedShutdownBehavior" => AttributeValue::Text(raw),
        "disableApiTermination" => AttributeValue::Bool(parse_bool_value(&attribute, &raw)?),
        "groupSet" | "sourceDestCheck" => {
            let change = if attribute == "groupSet" {
                PrimaryInterfaceChange::Groups(raw.split(' ').map(str::to_string).collect())
            } else {
                PrimaryInterfaceChange::SourceDestCheck(parse_bool_value(&attribute, &raw)?)
            };
            require_write(caller)?;
            let instance = instances::get(compute, caller, instance_id).await?;
            compute
                .networking()?
                .modify_primary(caller, &instance.instance_id, &change)
                .await?;
            return Ok(returned_true());
        }
        "userData" => {
            let bytes = if raw.trim().is_empty() {
                None
            } else {
                Some(api::decode_user_data(&raw)?)
            };
            AttributeValue::UserData(bytes)
        }
        other => {
            // Unmodelled attributes: setting their fixed value is a no-op, anything else unsupported.
            let fixed = fixed_attribute(other).flatten();
            let same = match fixed {
                Some(f) if f == "true" || f == "false" => {
                    parse_bool_value(other, &raw)?.to_string() == f
                }
                Some(f) => raw == f,
                None => false,
            };
            if !same {
                return Err(ComputeError::Invalid(
                    "UnsupportedOperation",
                    format!("Modifying the attribute '{other}' is not supported"),
                ));
            }
            require_write(caller)?;
            let instance_id = InstanceId::parse(instance_id)?;
            instances::get_attribute(&compute.pool, caller, &instance_id, "instanceType").await?;
            return Ok(returned_true());
        }
    };
    let instance_id = InstanceId::parse(instance_id)?;
    instances::modify_attribute(&compute.pool, caller, &instance_id, &attribute, value).await?;
    Ok(returned_true())
}

/// ModifyInstanceAttribute `BlockDeviceMapping.N` (`DeviceName`,
/// `Ebs.DeleteOnTermination`): whether each volume goes with the instance.
async fn modify_delete_on_termination(
    compute: &Compute,
    caller: &Principal,
    instance_id: &str,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let mut changes = Vec::new();
    for n in p.indices("BlockDeviceMapping") {
        let device = p.required(&format!("BlockDeviceMapping.{n}.DeviceName"))?;
        if p.string(&format!("BlockDeviceMapping.{n}.NoDevice"))
            .is_some()
        {
            return Err(ComputeError::Invalid(
                "UnsupportedOperation",
                "Removing a device with NoDevice is not supported: detach the volume".into(),
            ));
        }
        let name = format!("BlockDeviceMapping.{n}.Ebs.DeleteOnTermination");
        if let Some(value) = p.bool(&name)? {
            changes.push((device, value));
        }
    }
    require_write(caller)?;
    let instance = instances::get(compute, caller, instance_id).await?;
    let volumes = compute
        .volumes
        .as_ref()
        .ok_or_else(|| ComputeError::Internal("the block-storage service is not wired".into()))?;
    for (device, value) in changes {
        (volumes.set_delete_on_termination(
            &caller.account_id,
            &instance.instance_id,
            device,
            value,
        ))
        .await?;
    }
    Ok(returned_true())
}

// ---------------------------------------------------------------- XML

/// DescribeInstanceAttribute: `<instanceId>` and `<{attribute}><value>…</value></{attribute}>`
/// (an attribute with no value is an empty element).
fn instance_attribute(instance_id: &str, attribute: &str, value: Option<&str>) -> XmlWriter {
    // The attribute names an element: only a known attribute's plain name ever gets here,
    // and nothing else is ever written as markup.
    let attribute = if !attribute.is_empty() && attribute.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        attribute
    } else {
        "attribute"
    };
    let mut xml = XmlWriter::fragment();
    xml.text("instanceId", instance_id)
        .element(attribute, |xml| {
            xml.opt("value", value);
        });
    xml
}

/// [`instance_attribute`], as text.
pub fn instance_attribute_xml(instance_id: &str, attribute: &str, value: Option<&str>) -> String {
    instance_attribute(instance_id, attribute, value).finish()
}

/// DescribeInstanceCreditSpecifications: the credit option of the caller's burstable (`t`)
/// instances, all or `InstanceId.N` (Terraform reads it for every burstable aws_instance).
/// Kumo does not meter CPU credits: a burstable instance may run at full speed for as long
/// as it likes, which is what `unlimited` promises.
pub(super) async fn describe_instance_credit_specifications(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let query = instances::DescribeQuery {
        instance_ids: super::instances::parse_instance_ids(p)?,
        filters: p.filters()?,
        max_results: p.int("MaxResults")?,
        next_token: super::instances::next_token(p),
    };
    let (found, next_token) = instances::describe(compute, caller, &query).await?;
    let burstable: Vec<_> = found
        .iter()
        .filter(|i| i.instance_type.starts_with('t'))
        .collect();
    let mut xml = XmlWriter::fragment();
    xml.list(
        "instanceCreditSpecificationSet",
        "item",
        &burstable,
        |xml, instance| {
            xml.text("instanceId", &instance.instance_id)
                .text("cpuCredits", "unlimited");
        },
    )
    .opt("nextToken", next_token.as_deref());
    Ok(xml)
}
