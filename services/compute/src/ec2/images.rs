//! EC2 DescribeImages, RegisterImage and DeregisterImage: their parameters, filters and XML.

use kumo_auth::Principal;
use kumo_common::xml::XmlWriter;

use super::page;
use super::params::Params;
use super::xml::{fragment, returned_true, tag_set};
use crate::ebs_images::{self, CreateImage, RegisterEbsImage};
use crate::error::{ComputeError, Result};
use crate::images::{self, Image, RegisterImage};
use crate::tags::{self, Tags};
use crate::volumes::ROOT_DEVICE_NAME;
use crate::Compute;
use kumo_ec2_query::filters::{check_names, select_by_fields};
use kumo_ec2_query::tags::is_tag_filter;

const IMAGE_FILTERS: [&str; 15] = [
    "image-id",
    "name",
    "description",
    "owner-id",
    "state",
    "is-public",
    "manifest-location",
    "architecture",
    "image-type",
    "root-device-type",
    "root-device-name",
    "virtualization-type",
    "hypervisor",
    "platform-details",
    "ena-support",
];

fn image_field(image: &(Image, Tags), name: &str) -> Vec<String> {
    let (image, _) = image;
    let one = |s: &str| vec![s.to_string()];
    match name {
        "image-id" => one(&image.image_id),
        "name" => one(&image.name),
        "description" => one(&image.description),
        "owner-id" => one(&image.account_id),
        "state" => one(image.state.as_str()),
        "is-public" => one(if image.is_public { "true" } else { "false" }),
        "manifest-location" => one(&image_location(image)),
        "architecture" => one("x86_64"),
        "image-type" => one("machine"),
        "root-device-type" => one(root_device_type(image.is_ebs_backed())),
        "root-device-name" => one(ROOT_DEVICE_NAME),
        "virtualization-type" => one("hvm"),
        "hypervisor" => one("xen"),
        "platform-details" => one("Linux/UNIX"),
        "ena-support" => one("true"),
        _ => Vec::new(),
    }
}

pub(super) async fn describe_images(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let page = page(p, (5, 1000))?;
    let filters = p.filters()?;
    check_names(&filters, |name| {
        is_tag_filter(name) || IMAGE_FILTERS.contains(&name)
    })?;
    p.bool("IncludeDeprecated")?;
    p.bool("IncludeDisabled")?;
    ebs_images::refresh(compute, &caller.account_id).await?;
    let found = images::list(
        &compute.pool,
        caller,
        &p.list("ImageId")?,
        &p.list("Owner")?,
        &[],
    )
    .await?;
    let ids: Vec<String> = found.iter().map(|i| i.image_id.clone()).collect();
    let mut tags = tags::for_resources(&compute.pool, &caller.account_id, &ids).await?;
    let with_tags: Vec<(Image, Tags)> = found
        .into_iter()
        .map(|i| {
            let t = tags.remove(&i.image_id).unwrap_or_default();
            (i, t)
        })
        .collect();
    let selected = select_by_fields(
        &caller.account_id,
        with_tags,
        &filters,
        image_field,
        |(_, t)| Some(t),
    )
    .await?;
    // The listing's order (oldest first) as the page's sort key.
    let (page, next_token) = page.apply(selected, |(image, _)| {
        (image.created_at.timestamp_micros(), image.image_id.clone())
    })?;
    let mut xml = XmlWriter::fragment();
    write_describe_images(&mut xml, &page, next_token.as_deref());
    Ok(xml)
}

pub(super) async fn register_image(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    if let Some(root_device_name) = p.string("RootDeviceName") {
        return register_ebs_image(compute, caller, p, root_device_name).await;
    }
    let input = RegisterImage {
        name: p.required("Name")?.to_string(),
        description: p.string("Description").unwrap_or("").to_string(),
        location: p.required("ImageLocation")?.to_string(),
        public: false,
    };
    check_architecture(p)?;
    let tag_list = p.tags_for("image", &[])?;
    tags::validate(&tag_list)?;
    let image = images::register(compute, caller, &input).await?;
    tags::put(
        &compute.pool,
        &caller.account_id,
        &image.image_id,
        &tag_list,
    )
    .await?;
    let mut xml = XmlWriter::fragment();
    xml.text("imageId", &image.image_id);
    Ok(xml)
}

/// RegisterImage with `RootDeviceName` and snapshots in `BlockDeviceMapping.N`.
async fn register_ebs_image(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
    root_device_name: &str,
) -> Result<XmlWriter> {
    check_architecture(p)?;
    if p.string("ImageLocation").is_some() {
        return Err(ComputeError::Invalid(
            "InvalidParameterCombination",
            "ImageLocation and RootDeviceName cannot both be given".into(),
        ));
    }
    let input = RegisterEbsImage {
        name: p.required("Name")?.to_string(),
        description: p.string("Description").unwrap_or("").to_string(),
        root_device_name: root_device_name.to_string(),
        mappings: super::instances::block_device_mappings(p)?,
        kernel_image_id: p.string("KernelId").map(str::to_string),
        tags: p.tags_for("image", &[])?,
    };
    let image_id = ebs_images::register(compute, caller, &input).await?;
    let mut xml = XmlWriter::fragment();
    xml.text("imageId", &image_id);
    Ok(xml)
}

/// CreateImage: an EBS image from the caller's EBS-backed VM (running or stopped; never
/// rebooted: its snapshots are crash-consistent).
pub(super) async fn create_image(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let input = CreateImage {
        instance_id: p.required("InstanceId")?.to_string(),
        name: p.required("Name")?.to_string(),
        description: p.string("Description").unwrap_or("").to_string(),
        no_reboot: p.bool("NoReboot")?.unwrap_or(false),
        mappings: super::instances::block_device_mappings(p)?,
        image_tags: p.tags_for("image", &["snapshot"])?,
        snapshot_tags: p.tags_for("snapshot", &["image"])?,
    };
    let image_id = ebs_images::create_image(compute, caller, &input).await?;
    let mut xml = XmlWriter::fragment();
    xml.text("imageId", &image_id);
    Ok(xml)
}

pub(super) async fn deregister_image(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let image_id = p.required("ImageId")?;
    images::deregister(&compute.pool, caller, image_id).await?;
    Ok(returned_true())
}

fn check_architecture(p: Params<'_>) -> Result<()> {
    match p.string("Architecture") {
        Some(arch) if arch != "x86_64" => Err(ComputeError::invalid(format!(
            "Invalid value '{arch}' for Architecture: only x86_64"
        ))),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------- XML

/// An image's location as tenants see it: `<owner account>/<name>` (as EC2 shows
/// `amazon/<name>`); the image store's layout is never shown.
/// `ebs` or `instance-store`.
pub fn root_device_type(ebs: bool) -> &'static str {
    if ebs {
        "ebs"
    } else {
        "instance-store"
    }
}

pub fn image_location(image: &Image) -> String {
    format!("{}/{}", image.account_id, image.name)
}

/// One `imagesSet` item's fields.
fn write_image(xml: &mut XmlWriter, image: &Image, tags: &Tags) {
    xml.text("imageId", &image.image_id)
        .text("imageLocation", &image_location(image))
        .text("imageState", image.state.as_str())
        .text("imageOwnerId", &image.account_id)
        .time("creationDate", image.created_at)
        .bool("isPublic", image.is_public)
        .text("architecture", "x86_64")
        .text("imageType", "machine")
        .text("name", &image.name)
        .text("description", &image.description)
        .text("rootDeviceType", root_device_type(image.is_ebs_backed()))
        .text("rootDeviceName", ROOT_DEVICE_NAME)
        .text("virtualizationType", "hvm")
        .text("hypervisor", "xen")
        .text("platformDetails", "Linux/UNIX")
        .text("usageOperation", "RunInstances")
        .bool("enaSupport", true)
        .empty("productCodes");
    xml.opt("sourceInstanceId", image.source_instance_id.as_deref());
    if !image.block_devices.is_empty() {
        xml.list(
            "blockDeviceMapping",
            "item",
            &image.block_devices.list(),
            |xml, device| {
                xml.text("deviceName", &device.device_name)
                    .element("ebs", |xml| {
                        xml.bool("deleteOnTermination", device.delete_on_termination)
                            .opt("snapshotId", device.snapshot_id.as_deref())
                            .num("volumeSize", device.volume_size_gib)
                            .text("volumeType", &device.volume_type)
                            .bool("encrypted", false);
                    });
            },
        );
        tag_set(xml, tags);
        return;
    }
    // An EBS-backed image maps its root volume (made from its disk, not from a snapshot).
    let root: Vec<Option<u64>> = if image.is_ebs_backed() {
        vec![image.root_volume_gib()]
    } else {
        Vec::new()
    };
    xml.list("blockDeviceMapping", "item", &root, |xml, size| {
        xml.text("deviceName", ROOT_DEVICE_NAME)
            .element("ebs", |xml| {
                xml.bool("deleteOnTermination", true);
                if let Some(size) = size {
                    xml.num("volumeSize", *size);
                }
                xml.text("volumeType", "gp3").bool("encrypted", false);
            });
    });
    tag_set(xml, tags);
}

/// One `imagesSet` item.
pub fn image_xml(image: &Image, tags: &Tags) -> String {
    fragment(|xml| write_image(xml, image, tags))
}

/// DescribeImages' answer.
fn write_describe_images(xml: &mut XmlWriter, images: &[(Image, Tags)], next_token: Option<&str>) {
    xml.list("imagesSet", "item", images, |xml, (image, tags)| {
        write_image(xml, image, tags)
    })
    .opt("nextToken", next_token);
}

/// [`write_describe_images`], as text.
pub fn describe_images_xml(images: &[(Image, Tags)], next_token: Option<&str>) -> String {
    fragment(|xml| write_describe_images(xml, images, next_token))
}
