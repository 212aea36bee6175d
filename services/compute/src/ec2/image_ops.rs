//! EC2 DescribeImages, RegisterImage and DeregisterImage.

use super::*;

pub(super) const IMAGE_FILTERS: [&str; 15] = [
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

pub(super) fn image_field(image: &(Image, Tags), name: &str) -> Vec<String> {
    let (image, _) = image;
    let one = |s: &str| vec![s.to_string()];
    match name {
        "image-id" => one(&image.image_id),
        "name" => one(&image.name),
        "description" => one(&image.description),
        "owner-id" => one(&image.account_id),
        "state" => one(&image.state),
        "is-public" => one(if image.is_public { "true" } else { "false" }),
        "manifest-location" => one(&xml::image_location(image)),
        "architecture" => one("x86_64"),
        "image-type" => one("machine"),
        "root-device-type" => one("ebs"),
        "root-device-name" => one("/dev/xvda"),
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
) -> Result<String> {
    let page = page(p, (5, 1000))?;
    let filters = p.filters()?;
    check_filters(&filters, |name| {
        is_tag_filter(name) || IMAGE_FILTERS.contains(&name)
    })?;
    p.bool("IncludeDeprecated")?;
    p.bool("IncludeDisabled")?;
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
    let selected =
        apply_filters(caller, with_tags, &filters, image_field, |(_, t)| Some(t)).await?;
    // The listing's order (oldest first) as the page's sort key.
    let (page, next_token) = page.apply(selected, |(image, _)| {
        (image.created_at.timestamp_micros(), image.image_id.clone())
    })?;
    Ok(xml::describe_images_xml(&page, next_token.as_deref()))
}

pub(super) async fn register_image(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<String> {
    let input = RegisterImage {
        name: p.required("Name")?.to_string(),
        description: p.string("Description").unwrap_or("").to_string(),
        location: p.required("ImageLocation")?.to_string(),
        public: false,
    };
    if let Some(arch) = p.string("Architecture") {
        if arch != "x86_64" {
            return Err(ComputeError::invalid(format!(
                "Invalid value '{arch}' for Architecture: only x86_64"
            )));
        }
    }
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
    Ok(element("imageId", &image.image_id))
}

pub(super) async fn deregister_image(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<String> {
    let image_id = p.required("ImageId")?;
    images::deregister(&compute.pool, caller, image_id).await?;
    Ok(xml::return_true())
}
