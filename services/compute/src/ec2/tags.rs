//! EC2 CreateTags, DeleteTags and DescribeTags: compute's dispatcher lists them, the shared
//! tag store (`kumo_tags::ec2`) answers them for every service's resources (the owners the
//! gateway registered in [`Compute::taggable`]).

use kumo_auth::Principal;
use kumo_common::xml::XmlWriter;

use super::params::Params;
use crate::error::Result;
use crate::{require_write, Compute};

pub(super) async fn create_tags(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    require_write(caller)?;
    Ok(kumo_tags::ec2::create_tags(&compute.pool, &compute.taggable, caller, p).await?)
}

pub(super) async fn delete_tags(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    require_write(caller)?;
    Ok(kumo_tags::ec2::delete_tags(&compute.pool, &compute.taggable, caller, p).await?)
}

pub(super) async fn describe_tags(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    Ok(kumo_tags::ec2::describe_tags(&compute.pool, caller, p).await?)
}
