//! EC2 AttachVolume and DetachVolume (botocore's `VolumeAttachment` shape), and the
//! attachment's XML in DescribeVolumes' `attachmentSet`.

use kumo_auth::Principal;
use kumo_common::xml::XmlWriter;
use kumo_ec2_query::Params;

use crate::attachments::{self, Attachment};
use crate::error::Result;
use crate::BlockStorage;

pub(super) async fn attach_volume(
    storage: &BlockStorage,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let attachment = attachments::attach(
        storage,
        caller,
        p.required("VolumeId")?,
        p.required("InstanceId")?,
        p.required("Device")?,
    )
    .await?;
    let mut xml = XmlWriter::fragment();
    write_attachment(&mut xml, &attachment);
    Ok(xml)
}

pub(super) async fn detach_volume(
    storage: &BlockStorage,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let attachment = attachments::detach(
        storage,
        caller,
        p.required("VolumeId")?,
        p.string("InstanceId"),
        p.string("Device"),
        p.bool("Force")?.unwrap_or(false),
    )
    .await?;
    let mut xml = XmlWriter::fragment();
    write_attachment(&mut xml, &attachment);
    Ok(xml)
}

/// One attachment's fields (AttachVolume's and DetachVolume's answer, an `attachmentSet`
/// item).
pub(super) fn write_attachment(xml: &mut XmlWriter, attachment: &Attachment) {
    xml.text("volumeId", &attachment.volume_id)
        .text("instanceId", &attachment.instance_id)
        .text("device", &attachment.device)
        .text("status", &attachment.state)
        .time("attachTime", attachment.attached_at)
        .bool("deleteOnTermination", attachment.delete_on_termination);
}

/// The values of DescribeVolumes' `attachment.*` filters for one attachment.
pub(super) fn attachment_field(attachment: Option<&Attachment>, name: &str) -> Vec<String> {
    let Some(a) = attachment else {
        return Vec::new();
    };
    match name {
        "attachment.instance-id" => vec![a.instance_id.clone()],
        "attachment.status" => vec![a.state.clone()],
        "attachment.device" => vec![a.device.clone()],
        "attachment.delete-on-termination" => vec![a.delete_on_termination.to_string()],
        "attachment.attach-time" => vec![kumo_common::xml::iso8601(a.attached_at)],
        _ => Vec::new(),
    }
}
