//! The EC2 facade: EC2 Query actions (`Action=RunInstances&…`) answered in EC2's XML. The
//! same domain functions as the native API do the work; this module only parses
//! parameters (see [`params`]) and renders the answers (see [`xml`]).

pub mod params;
pub mod xml;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use base64::Engine;
use http::{header, HeaderValue, StatusCode};
use kumo_auth::Principal;
use kumo_common::xml::element;
use kumo_common::{current_request_id, AwsError, AwsErrorFormat, QueryRequest};

use crate::error::{ComputeError, Result};
use crate::images::{self, Image, RegisterImage};
use crate::instance_types::{self, InstanceType};
use crate::instances::{self, AttributeValue, DescribeQuery, Filter, RunInstances};
use crate::key_pairs::{self, CreateKeyPair, ImportKeyPair, KeyPair};
use crate::tags::{self, TagDescription, Tags};
use crate::{api, filters, require_write, Compute};
use params::Params;

/// Every action this facade answers, and whether it writes.
pub const ACTIONS: [(&str, bool); 23] = [
    ("RunInstances", true),
    ("DescribeInstances", false),
    ("StartInstances", true),
    ("StopInstances", true),
    ("RebootInstances", true),
    ("TerminateInstances", true),
    ("DescribeInstanceStatus", false),
    ("GetConsoleOutput", false),
    ("DescribeInstanceTypes", false),
    ("DescribeImages", false),
    ("RegisterImage", true),
    ("DeregisterImage", true),
    ("ImportKeyPair", true),
    ("CreateKeyPair", true),
    ("DescribeKeyPairs", false),
    ("DeleteKeyPair", true),
    ("CreateTags", true),
    ("DeleteTags", true),
    ("DescribeTags", false),
    ("DescribeInstanceAttribute", false),
    ("ModifyInstanceAttribute", true),
    ("DescribeAvailabilityZones", false),
    ("DescribeRegions", false),
];

/// Answer one EC2 Query request.
pub async fn dispatch(
    compute: &Compute,
    principal: Option<&Principal>,
    request: &QueryRequest,
) -> Response {
    let Some(caller) = principal else {
        return ComputeError::Unauthenticated
            .to_aws()
            .into_response_as(AwsErrorFormat::Ec2);
    };
    let action = request.action.as_str();
    let Some(&(_, writes)) = ACTIONS.iter().find(|(name, _)| *name == action) else {
        return AwsError::invalid_action(action).into_response_as(AwsErrorFormat::Ec2);
    };
    let p = Params::new(&request.params);
    if let Err(error) = dry_run(caller, writes, p) {
        return error.into_response_as(AwsErrorFormat::Ec2);
    }
    let result = match action {
        "RunInstances" => run_instances(compute, caller, p).await,
        "DescribeInstances" => describe_instances(compute, caller, p).await,
        "StartInstances" => start_instances(compute, caller, p).await,
        "StopInstances" => stop_instances(compute, caller, p).await,
        "RebootInstances" => reboot_instances(compute, caller, p).await,
        "TerminateInstances" => terminate_instances(compute, caller, p).await,
        "DescribeInstanceStatus" => describe_instance_status(compute, caller, p).await,
        "GetConsoleOutput" => get_console_output(compute, caller, p).await,
        "DescribeInstanceTypes" => describe_instance_types(compute, caller, p).await,
        "DescribeImages" => describe_images(compute, caller, p).await,
        "RegisterImage" => register_image(compute, caller, p).await,
        "DeregisterImage" => deregister_image(compute, caller, p).await,
        "ImportKeyPair" => import_key_pair(compute, caller, p).await,
        "CreateKeyPair" => create_key_pair(compute, caller, p).await,
        "DescribeKeyPairs" => describe_key_pairs(compute, caller, p).await,
        "DeleteKeyPair" => delete_key_pair(compute, caller, p).await,
        "CreateTags" => create_tags(compute, caller, p).await,
        "DeleteTags" => delete_tags(compute, caller, p).await,
        "DescribeTags" => describe_tags(compute, caller, p).await,
        "DescribeInstanceAttribute" => describe_instance_attribute(compute, caller, p).await,
        "ModifyInstanceAttribute" => modify_instance_attribute(compute, caller, p).await,
        "DescribeAvailabilityZones" => describe_availability_zones(compute, caller, p).await,
        "DescribeRegions" => describe_regions(compute, caller, p).await,
        other => return AwsError::invalid_action(other).into_response_as(AwsErrorFormat::Ec2),
    };
    match result {
        Ok(inner) => xml_response(action, &inner),
        Err(error) => error.to_aws().into_response_as(AwsErrorFormat::Ec2),
    }
}

/// `DryRun=true`: `DryRunOperation` (412) when the caller may act, else the usual refusal.
fn dry_run(caller: &Principal, writes: bool, p: Params<'_>) -> std::result::Result<(), AwsError> {
    match p.bool("DryRun").map_err(|e| e.to_aws())? {
        Some(true) => {
            if writes {
                require_write(caller).map_err(|e| e.to_aws())?;
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

fn xml_response(action: &str, inner: &str) -> Response {
    let body = xml::envelope(action, &current_request_id(), inner);
    let mut response = (StatusCode::OK, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    response
}

fn invalid_filter(name: &str) -> ComputeError {
    ComputeError::invalid(format!("The filter '{name}' is invalid"))
}

/// Tag filters shared by every resource: `tag:Key`, `tag-key`, `tag-value`.
fn tag_filter(filter: &filters::Compiled, tags: &Tags) -> Option<bool> {
    let name = filter.name.as_str();
    let values = &filter.values;
    if let Some(key) = name.strip_prefix("tag:") {
        return Some(tags.get(key).is_some_and(|v| values.matches(v)));
    }
    match name {
        "tag-key" => Some(values.matches_any(tags.keys().map(String::as_str))),
        "tag-value" => Some(values.matches_any(tags.values().map(String::as_str))),
        _ => None,
    }
}

/// Every filter must be one `known` accepts (else `InvalidParameterValue`).
fn check_filters(filters: &[Filter], known: impl Fn(&str) -> bool) -> Result<()> {
    match filters.iter().find(|f| !known(&f.name)) {
        Some(filter) => Err(invalid_filter(&filter.name)),
        None => Ok(()),
    }
}

/// Is `name` one of the tag filters (`tag:Key`, `tag-key`, `tag-value`)?
fn is_tag_filter(name: &str) -> bool {
    name.starts_with("tag:") || name == "tag-key" || name == "tag-value"
}

/// Keep the items every filter accepts (filters are ANDed, their values ORed); `fields`
/// gives an item's values for a filter name, `tags_of` its tags for the tag filters. The
/// filters are compiled once; wildcard requests run off the async workers.
async fn apply_filters<T, F, G>(
    caller: &Principal,
    items: Vec<T>,
    filters: &[Filter],
    fields: F,
    tags_of: G,
) -> Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(&T, &str) -> Vec<String> + Send + Sync + 'static,
    G: Fn(&T) -> Option<&Tags> + Send + Sync + 'static,
{
    let compiled = Arc::new(filters::compile(filters)?);
    filters::select(&caller.account_id, items, compiled, move |item, filters| {
        Ok(filters.iter().all(|filter| {
            match tags_of(item).and_then(|tags| tag_filter(filter, tags)) {
                Some(accepted) => accepted,
                None => filter
                    .values
                    .matches_any(fields(item, &filter.name).iter().map(String::as_str)),
            }
        }))
    })
    .await
}

/// `MaxResults` (within bounds) and `NextToken`, parsed before any work is done.
#[derive(Debug, Clone, Copy)]
struct Page {
    max: Option<usize>,
    offset: usize,
}

impl Page {
    fn parse(p: Params<'_>, bounds: (i64, i64)) -> Result<Self> {
        let max = p.int("MaxResults")?;
        if let Some(max) = max {
            if max < bounds.0 || max > bounds.1 {
                return Err(ComputeError::invalid(format!(
                    "Value ( {max} ) for parameter maxResults is invalid. Expecting a value between {} and {}.",
                    bounds.0, bounds.1
                )));
            }
        }
        let offset = match p.string("NextToken").filter(|t| !t.is_empty()) {
            Some(token) => base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(token)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.strip_prefix("offset:").and_then(|n| n.parse().ok()))
                .ok_or_else(|| {
                    ComputeError::Invalid(
                        "InvalidNextToken",
                        "The specified token is invalid".into(),
                    )
                })?,
            None => 0,
        };
        Ok(Self {
            max: max.map(|m| m as usize),
            offset,
        })
    }

    /// This page of `items`, and the token for the next when there is more.
    fn apply<T>(self, items: Vec<T>) -> (Vec<T>, Option<String>) {
        let total = items.len();
        let page: Vec<T> = items
            .into_iter()
            .skip(self.offset)
            .take(self.max.unwrap_or(usize::MAX))
            .collect();
        let end = self.offset + page.len();
        let next = (end < total).then(|| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("offset:{end}"))
        });
        (page, next)
    }
}

fn instance_ids(p: Params<'_>) -> Result<Vec<String>> {
    let ids = p.list("InstanceId")?;
    if ids.is_empty() {
        return Err(ComputeError::Missing("InstanceId".into()));
    }
    Ok(ids)
}

// ---------------------------------------------------------------- instances

async fn run_instances(compute: &Compute, caller: &Principal, p: Params<'_>) -> Result<String> {
    let image_id = p.required("ImageId")?.to_string();
    let min_count = p.required_int("MinCount")?;
    let max_count = p.required_int("MaxCount")?;
    let user_data_bytes = match p.string("UserData").filter(|u| !u.trim().is_empty()) {
        Some(text) => Some(api::decode_user_data(text)?),
        None => None,
    };
    // Volumes and interfaces are not separate resources here: their tags have nowhere to go.
    let tags: BTreeMap<String, String> = p
        .tags_for("instance", &["volume", "network-interface"])?
        .into_iter()
        .collect();
    let input = RunInstances {
        image_id,
        instance_type: p.string("InstanceType").map(str::to_string),
        min_count: Some(min_count),
        max_count: Some(max_count),
        key_name: p.string("KeyName").map(str::to_string),
        user_data: None,
        user_data_bytes,
        client_token: p.string("ClientToken").map(str::to_string),
        tags,
        availability_zone: p
            .string("Placement.AvailabilityZone")
            .filter(|z| !z.is_empty())
            .map(str::to_string),
        disable_api_termination: p.bool("DisableApiTermination")?,
        shutdown_behavior: p
            .string("InstanceInitiatedShutdownBehavior")
            .map(str::to_string),
    };
    p.bool("EbsOptimized")?;
    let reservation = instances::run(compute, caller, &input).await?;
    let types = instance_types::list(&compute.pool).await?;
    Ok(xml::reservation_xml(&reservation, &types))
}

async fn describe_instances(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<String> {
    let query = DescribeQuery {
        instance_ids: p.list("InstanceId")?,
        filters: p.filters()?,
        max_results: p.int("MaxResults")?,
        next_token: p
            .string("NextToken")
            .filter(|t| !t.is_empty())
            .map(str::to_string),
    };
    let (found, next_token) = instances::describe(&compute.pool, caller, &query).await?;
    let types = instance_types::list(&compute.pool).await?;
    Ok(xml::describe_instances_xml(
        &xml::group_reservations(found),
        next_token.as_deref(),
        &types,
    ))
}

async fn start_instances(compute: &Compute, caller: &Principal, p: Params<'_>) -> Result<String> {
    let ids = instance_ids(p)?;
    Ok(xml::state_changes_xml(
        &instances::start(&compute.pool, caller, &ids).await?,
    ))
}

async fn stop_instances(compute: &Compute, caller: &Principal, p: Params<'_>) -> Result<String> {
    let ids = instance_ids(p)?;
    // Accepted and ignored: every stop is a clean one.
    p.bool("Force")?;
    p.bool("Hibernate")?;
    Ok(xml::state_changes_xml(
        &instances::stop(&compute.pool, caller, &ids).await?,
    ))
}

async fn terminate_instances(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<String> {
    let ids = instance_ids(p)?;
    Ok(xml::state_changes_xml(
        &instances::terminate(&compute.pool, caller, &ids).await?,
    ))
}

async fn reboot_instances(compute: &Compute, caller: &Principal, p: Params<'_>) -> Result<String> {
    let ids = instance_ids(p)?;
    instances::reboot(&compute.pool, caller, &ids).await?;
    Ok(xml::return_true())
}

/// The instance states whose status is `status` (`ok` when running, else `not-applicable`).
fn states_with_status(values: &[String], reachability: bool) -> Vec<String> {
    let all = [
        "pending",
        "running",
        "stopping",
        "stopped",
        "shutting-down",
        "terminated",
    ];
    let wanted = filters::ValueSet::new(values);
    let mut states = BTreeSet::new();
    for state in all {
        let running = state == "running";
        let status = match (reachability, running) {
            (false, true) => "ok",
            (false, false) => "not-applicable",
            (true, true) => "passed",
            (true, false) => "",
        };
        if !status.is_empty() && wanted.matches(status) {
            states.insert(state.to_string());
        }
    }
    states.into_iter().collect()
}

async fn describe_instance_status(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<String> {
    let include_all = p.bool("IncludeAllInstances")?.unwrap_or(false);
    let mut filters = Vec::new();
    for filter in p.filters()? {
        match filter.name.as_str() {
            "availability-zone" | "instance-state-name" | "instance-state-code" => {
                filters.push(filter)
            }
            "instance-status.status" | "system-status.status" => filters.push(Filter {
                name: "instance-state-name".into(),
                values: states_with_status(&filter.values, false),
            }),
            "instance-status.reachability" | "system-status.reachability" => filters.push(Filter {
                name: "instance-state-name".into(),
                values: states_with_status(&filter.values, true),
            }),
            other => return Err(invalid_filter(other)),
        }
    }
    if !include_all {
        filters.push(Filter {
            name: "instance-state-name".into(),
            values: vec!["running".into()],
        });
    }
    let query = DescribeQuery {
        instance_ids: p.list("InstanceId")?,
        filters,
        max_results: p.int("MaxResults")?,
        next_token: p
            .string("NextToken")
            .filter(|t| !t.is_empty())
            .map(str::to_string),
    };
    let (found, next_token) = instances::describe(&compute.pool, caller, &query).await?;
    Ok(xml::instance_status_xml(&found, next_token.as_deref()))
}

async fn get_console_output(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<String> {
    let instance_id = p.required("InstanceId")?;
    p.bool("Latest")?;
    let (output, at) = instances::console_output(&compute.pool, caller, instance_id).await?;
    Ok(xml::console_output_xml(
        instance_id,
        &output,
        &at.unwrap_or_else(chrono::Utc::now),
    ))
}

const INSTANCE_TYPE_FILTERS: [&str; 15] = [
    "instance-type",
    "vcpu-info.default-vcpus",
    "vcpu-info.default-cores",
    "vcpu-info.default-threads-per-core",
    "memory-info.size-in-mib",
    "current-generation",
    "bare-metal",
    "free-tier-eligible",
    "instance-storage-supported",
    "burstable-performance-supported",
    "hypervisor",
    "processor-info.supported-architecture",
    "supported-usage-class",
    "supported-root-device-type",
    "supported-virtualization-type",
];

fn instance_type_field(t: &InstanceType, name: &str) -> Vec<String> {
    let (cores, threads) = xml::cpu_topology(t.vcpus);
    let one = |s: &str| vec![s.to_string()];
    match name {
        "instance-type" => one(&t.name),
        "vcpu-info.default-vcpus" => one(&t.vcpus.to_string()),
        "vcpu-info.default-cores" => one(&cores.to_string()),
        "vcpu-info.default-threads-per-core" => one(&threads.to_string()),
        "memory-info.size-in-mib" => one(&t.memory_mib.to_string()),
        "current-generation" => one("true"),
        "bare-metal" | "free-tier-eligible" | "instance-storage-supported" => one("false"),
        "burstable-performance-supported" => one(if t.name.starts_with('t') {
            "true"
        } else {
            "false"
        }),
        "hypervisor" => one("nitro"),
        "processor-info.supported-architecture" => one("x86_64"),
        "supported-usage-class" => one("on-demand"),
        "supported-root-device-type" => one("ebs"),
        "supported-virtualization-type" => one("hvm"),
        _ => Vec::new(),
    }
}

async fn describe_instance_types(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<String> {
    let page = Page::parse(p, (5, 100))?;
    let names = p.list("InstanceType")?;
    let filters = p.filters()?;
    check_filters(&filters, |name| INSTANCE_TYPE_FILTERS.contains(&name))?;
    let all = instance_types::list(&compute.pool).await?;
    let unknown: Vec<&str> = names
        .iter()
        .filter(|n| !all.iter().any(|t| &t.name == *n))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(ComputeError::Invalid(
            "InvalidInstanceType",
            format!(
                "The following supplied instance types do not exist: [{}]",
                unknown.join(", ")
            ),
        ));
    }
    let selected: Vec<InstanceType> = all
        .into_iter()
        .filter(|t| names.is_empty() || names.contains(&t.name))
        .collect();
    let selected = apply_filters(caller, selected, &filters, instance_type_field, |_| None).await?;
    let (page, next_token) = page.apply(selected);
    Ok(xml::describe_instance_types_xml(
        &page,
        next_token.as_deref(),
    ))
}

// ---------------------------------------------------------------- images

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

async fn describe_images(compute: &Compute, caller: &Principal, p: Params<'_>) -> Result<String> {
    let page = Page::parse(p, (5, 1000))?;
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
    let (page, next_token) = page.apply(selected);
    Ok(xml::describe_images_xml(&page, next_token.as_deref()))
}

async fn register_image(compute: &Compute, caller: &Principal, p: Params<'_>) -> Result<String> {
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

async fn deregister_image(compute: &Compute, caller: &Principal, p: Params<'_>) -> Result<String> {
    let image_id = p.required("ImageId")?;
    images::deregister(&compute.pool, caller, image_id).await?;
    Ok(xml::return_true())
}

// ---------------------------------------------------------------- key pairs

/// `PublicKeyMaterial`: base64 of the OpenSSH line (SDKs encode it); a raw line is accepted too.
fn public_key_material(text: &str) -> Result<String> {
    let text = text.trim();
    if text.starts_with("ssh-") || text.starts_with("ecdsa-") {
        return Ok(text.to_string());
    }
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| {
            ComputeError::Invalid(
                "InvalidKeyPair.Format",
                "Key is not in valid OpenSSH public key format".into(),
            )
        })
}

async fn import_key_pair(compute: &Compute, caller: &Principal, p: Params<'_>) -> Result<String> {
    let input = ImportKeyPair {
        key_name: p.required("KeyName")?.to_string(),
        public_key: public_key_material(p.required("PublicKeyMaterial")?)?,
    };
    let tag_list = p.tags_for("key-pair", &[])?;
    tags::validate(&tag_list)?;
    let key = key_pairs::import(&compute.pool, caller, &input).await?;
    tags::put(
        &compute.pool,
        &caller.account_id,
        &key.key_pair_id,
        &tag_list,
    )
    .await?;
    Ok(xml::imported_key_pair_xml(
        &key,
        &tag_list.into_iter().collect(),
    ))
}

async fn create_key_pair(compute: &Compute, caller: &Principal, p: Params<'_>) -> Result<String> {
    if let Some(format) = p.string("KeyFormat") {
        if format != "pem" {
            return Err(ComputeError::invalid(format!(
                "Invalid value '{format}' for KeyFormat: only pem"
            )));
        }
    }
    let input = CreateKeyPair {
        key_name: p.required("KeyName")?.to_string(),
        key_type: p.string("KeyType").map(str::to_string),
    };
    let tag_list = p.tags_for("key-pair", &[])?;
    tags::validate(&tag_list)?;
    let key = key_pairs::create(&compute.pool, caller, &input).await?;
    tags::put(
        &compute.pool,
        &caller.account_id,
        &key.key_pair.key_pair_id,
        &tag_list,
    )
    .await?;
    Ok(xml::created_key_pair_xml(
        &key,
        &tag_list.into_iter().collect(),
    ))
}

const KEY_PAIR_FILTERS: [&str; 4] = ["key-name", "key-pair-id", "fingerprint", "key-type"];

fn key_pair_field(key: &(KeyPair, Tags), name: &str) -> Vec<String> {
    let (key, _) = key;
    let one = |s: &str| vec![s.to_string()];
    match name {
        "key-name" => one(&key.key_name),
        "key-pair-id" => one(&key.key_pair_id),
        "fingerprint" => one(&key.fingerprint),
        "key-type" => one(&key.key_type),
        _ => Vec::new(),
    }
}

async fn describe_key_pairs(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<String> {
    let filters = p.filters()?;
    check_filters(&filters, |name| {
        is_tag_filter(name) || KEY_PAIR_FILTERS.contains(&name)
    })?;
    let include_public_key = p.bool("IncludePublicKey")?.unwrap_or(false);
    let keys = key_pairs::list(
        &compute.pool,
        caller,
        &p.list("KeyName")?,
        &p.list("KeyPairId")?,
    )
    .await?;
    let ids: Vec<String> = keys.iter().map(|k| k.key_pair_id.clone()).collect();
    let mut tags = tags::for_resources(&compute.pool, &caller.account_id, &ids).await?;
    let with_tags: Vec<(KeyPair, Tags)> = keys
        .into_iter()
        .map(|k| {
            let t = tags.remove(&k.key_pair_id).unwrap_or_default();
            (k, t)
        })
        .collect();
    let selected = apply_filters(caller, with_tags, &filters, key_pair_field, |(_, t)| {
        Some(t)
    })
    .await?;
    Ok(xml::describe_key_pairs_xml(&selected, include_public_key))
}

async fn delete_key_pair(compute: &Compute, caller: &Principal, p: Params<'_>) -> Result<String> {
    let name = p.string("KeyName");
    let id = p.string("KeyPairId");
    require_write(caller)?;
    if name.is_none() && id.is_none() {
        return Err(ComputeError::Missing("KeyName".into()));
    }
    // Deleting a key pair that does not exist succeeds, as in EC2; a found one loses its tags too.
    let names: Vec<String> = name.map(str::to_string).into_iter().collect();
    let ids: Vec<String> = id.map(str::to_string).into_iter().collect();
    let found = match key_pairs::list(&compute.pool, caller, &names, &ids).await {
        Ok(keys) => keys,
        Err(ComputeError::NotFound(..)) => Vec::new(),
        Err(other) => return Err(other),
    };
    key_pairs::delete(&compute.pool, caller, name, id).await?;
    for key in &found {
        tags::delete(&compute.pool, &caller.account_id, &key.key_pair_id, &[]).await?;
    }
    let key_pair_id = found
        .first()
        .map(|k| element("keyPairId", &k.key_pair_id))
        .unwrap_or_default();
    Ok(format!("{}{key_pair_id}", xml::return_true()))
}

// ---------------------------------------------------------------- tags

/// Every resource must exist in the caller's account.
async fn check_resources(
    compute: &Compute,
    caller: &Principal,
    resource_ids: &[String],
) -> Result<()> {
    if resource_ids.is_empty() {
        return Err(ComputeError::Missing("ResourceId".into()));
    }
    for id in resource_ids {
        match tags::resource_type(id) {
            "instance" => {
                instances::get(&compute.pool, caller, id).await?;
            }
            "image" => {
                let found =
                    images::list(&compute.pool, caller, std::slice::from_ref(id), &[], &[]).await?;
                if !found
                    .iter()
                    .any(|i| &i.image_id == id && i.account_id == caller.account_id)
                {
                    return Err(images::not_found(id));
                }
            }
            "key-pair" => {
                key_pairs::list(&compute.pool, caller, &[], std::slice::from_ref(id)).await?;
            }
            _ => {
                return Err(ComputeError::Invalid(
                    "InvalidID",
                    format!("The ID '{id}' is not valid"),
                ))
            }
        }
    }
    Ok(())
}

async fn create_tags(compute: &Compute, caller: &Principal, p: Params<'_>) -> Result<String> {
    require_write(caller)?;
    let resource_ids = p.list("ResourceId")?;
    let tag_list: Vec<(String, String)> = p
        .tags("Tag")?
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    if tag_list.is_empty() {
        return Err(ComputeError::Missing("Tag".into()));
    }
    tags::validate(&tag_list)?;
    check_resources(compute, caller, &resource_ids).await?;
    for id in &resource_ids {
        tags::put(&compute.pool, &caller.account_id, id, &tag_list).await?;
    }
    Ok(xml::return_true())
}

async fn delete_tags(compute: &Compute, caller: &Principal, p: Params<'_>) -> Result<String> {
    require_write(caller)?;
    let resource_ids = p.list("ResourceId")?;
    let tag_list = p.tags("Tag")?;
    check_resources(compute, caller, &resource_ids).await?;
    for id in &resource_ids {
        tags::delete(&compute.pool, &caller.account_id, id, &tag_list).await?;
    }
    Ok(xml::return_true())
}

/// DescribeTags' filters; `tag:Key` means "the key is Key and the value matches".
fn tag_description_field(tag: &TagDescription, name: &str) -> Vec<String> {
    let one = |s: &str| vec![s.to_string()];
    match name {
        "resource-id" => one(&tag.resource_id),
        "resource-type" => one(tags::resource_type(&tag.resource_id)),
        "key" => one(&tag.key),
        "value" => one(&tag.value),
        other => match other.strip_prefix("tag:") {
            Some(key) if key == tag.key => one(&tag.value),
            _ => Vec::new(),
        },
    }
}

async fn describe_tags(compute: &Compute, caller: &Principal, p: Params<'_>) -> Result<String> {
    let page = Page::parse(p, (5, 1000))?;
    let filters = p.filters()?;
    check_filters(&filters, |name| {
        name.starts_with("tag:") || ["resource-id", "resource-type", "key", "value"].contains(&name)
    })?;
    let all = tags::describe(&compute.pool, &caller.account_id, &[], &[]).await?;
    let selected = apply_filters(caller, all, &filters, tag_description_field, |_| None).await?;
    let (page, next_token) = page.apply(selected);
    Ok(xml::describe_tags_xml(&page, next_token.as_deref()))
}

// ---------------------------------------------------------------- attributes

/// Attributes Kumo does not model: their fixed values (`None`: empty element).
fn fixed_attribute(attribute: &str) -> Option<Option<&'static str>> {
    Some(match attribute {
        "sourceDestCheck" | "enaSupport" => Some("true"),
        "ebsOptimized" | "disableApiStop" => Some("false"),
        "rootDeviceName" => Some("/dev/xvda"),
        "kernel" | "ramdisk" | "sriovNetSupport" | "groupSet" | "blockDeviceMapping"
        | "productCodes" => None,
        _ => return None,
    })
}

async fn describe_instance_attribute(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<String> {
    let instance_id = p.required("InstanceId")?;
    let attribute = p.required("Attribute")?;
    if let Some(fixed) = fixed_attribute(attribute) {
        // Existence and ownership, through a modelled attribute.
        instances::get_attribute(&compute.pool, caller, instance_id, "instanceType").await?;
        return Ok(xml::instance_attribute_xml(instance_id, attribute, fixed));
    }
    let value = instances::get_attribute(&compute.pool, caller, instance_id, attribute).await?;
    let text = match value {
        AttributeValue::Text(t) => Some(t),
        AttributeValue::Bool(b) => Some(b.to_string()),
        AttributeValue::UserData(data) => data
            .filter(|d| !d.is_empty())
            .map(|d| base64::engine::general_purpose::STANDARD.encode(d)),
    };
    Ok(xml::instance_attribute_xml(
        instance_id,
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
    if !p.list("GroupId")?.is_empty() || !p.indices("BlockDeviceMapping").is_empty() {
        return Err(ComputeError::Invalid(
            "UnsupportedOperation",
            "Security groups and block device mappings cannot be modified".into(),
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

async fn modify_instance_attribute(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<String> {
    let instance_id = p.required("InstanceId")?;
    let (attribute, raw) = modified_attribute(p)?;
    let value = match attribute.as_str() {
        "instanceType" | "instanceInitiatedShutdownBehavior" => AttributeValue::Text(raw),
        "disableApiTermination" => AttributeValue::Bool(parse_bool_value(&attribute, &raw)?),
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
            instances::get_attribute(&compute.pool, caller, instance_id, "instanceType").await?;
            return Ok(xml::return_true());
        }
    };
    instances::modify_attribute(&compute.pool, caller, instance_id, &attribute, value).await?;
    Ok(xml::return_true())
}

// ---------------------------------------------------------------- zones and regions

async fn describe_availability_zones(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<String> {
    let region = compute.config.region.as_str();
    let filters = p.filters()?;
    check_filters(&filters, |name| {
        [
            "zone-name",
            "zone-id",
            "region-name",
            "group-name",
            "network-border-group",
            "state",
            "zone-type",
            "opt-in-status",
        ]
        .contains(&name)
    })?;
    let wanted_names = p.list("ZoneName")?;
    let wanted_ids = p.list("ZoneId")?;
    p.bool("AllAvailabilityZones")?;
    let mut names: BTreeSet<String> =
        sqlx::query_scalar::<_, String>("SELECT DISTINCT zone FROM compute.hosts")
            .fetch_all(&compute.pool)
            .await?
            .into_iter()
            .collect();
    names.insert(compute.config.default_zone.clone());
    let zones: Vec<(String, String)> = names
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let id = xml::zone_id(region, &name, i + 1);
            (name, id)
        })
        .collect();
    for name in &wanted_names {
        if !zones.iter().any(|(n, _)| n == name) {
            return Err(ComputeError::invalid(format!(
                "Invalid availability zone: [{name}]"
            )));
        }
    }
    for id in &wanted_ids {
        if !zones.iter().any(|(_, i)| i == id) {
            return Err(ComputeError::invalid(format!(
                "Invalid availability zone id: [{id}]"
            )));
        }
    }
    let zones: Vec<(String, String)> = zones
        .into_iter()
        .filter(|(n, i)| {
            (wanted_names.is_empty() && wanted_ids.is_empty())
                || wanted_names.contains(n)
                || wanted_ids.contains(i)
        })
        .collect();
    let owned_region = region.to_string();
    let selected = apply_filters(
        caller,
        zones,
        &filters,
        move |(name, id): &(String, String), filter: &str| {
            let one = |s: &str| vec![s.to_string()];
            match filter {
                "zone-name" => one(name),
                "zone-id" => one(id),
                "region-name" | "group-name" | "network-border-group" => one(&owned_region),
                "state" => one("available"),
                "zone-type" => one("availability-zone"),
                "opt-in-status" => one("opt-in-not-required"),
                _ => Vec::new(),
            }
        },
        |_| None,
    )
    .await?;
    Ok(xml::set(
        "availabilityZoneInfo",
        selected
            .iter()
            .map(|(name, id)| xml::zone_xml(name, region, id)),
    ))
}

async fn describe_regions(compute: &Compute, caller: &Principal, p: Params<'_>) -> Result<String> {
    let region = compute.config.region.clone();
    p.bool("AllRegions")?;
    let wanted = p.list("RegionName")?;
    let regions: Vec<String> = std::iter::once(region)
        .filter(|r| wanted.is_empty() || wanted.contains(r))
        .collect();
    let filters = p.filters()?;
    check_filters(&filters, |name| {
        ["region-name", "endpoint", "opt-in-status"].contains(&name)
    })?;
    let selected = apply_filters(
        caller,
        regions,
        &filters,
        |r: &String, filter: &str| match filter {
            "region-name" => vec![r.clone()],
            "endpoint" => vec![format!("ec2.{r}.amazonaws.com")],
            "opt-in-status" => vec!["opt-in-not-required".to_string()],
            _ => Vec::new(),
        },
        |_| None,
    )
    .await?;
    Ok(xml::set(
        "regionInfo",
        selected.iter().map(|r| xml::region_xml(r)),
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::ComputeConfig;
    use kumo_auth::{AuthMethod, Role};

    /// A service whose database is never reached: these requests fail before it.
    fn compute() -> Compute {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .unwrap();
        Compute::new(pool, ComputeConfig::default())
    }

    fn principal(role: Role) -> Principal {
        Principal {
            account_id: "123456789012".into(),
            user_id: "AIDAEXAMPLE".into(),
            user_name: "alice".into(),
            role,
            method: AuthMethod::Bearer,
        }
    }

    fn request(action: &str, params: &[(&str, &str)]) -> QueryRequest {
        QueryRequest {
            action: action.into(),
            version: Some("2016-11-15".into()),
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    async fn call(principal: Option<&Principal>, req: QueryRequest) -> (StatusCode, String) {
        let response = dispatch(&compute(), principal, &req).await;
        let status = response.status();
        assert_eq!(response.headers()[header::CONTENT_TYPE], "text/xml");
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    fn code(body: &str) -> &str {
        let start = body.find("<Code>").unwrap() + 6;
        let end = body.find("</Code>").unwrap();
        &body[start..end]
    }

    #[tokio::test]
    async fn errors_before_any_work() {
        let alice = principal(Role::Admin);
        let reader = principal(Role::Reader);

        let (status, body) = call(None, request("DescribeInstances", &[])).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(code(&body), "AuthFailure");
        assert!(body.contains("<Response><Errors><Error>"));

        let (status, body) = call(Some(&alice), request("LaunchRocket", &[])).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(code(&body), "InvalidAction");

        let (status, body) = call(
            Some(&alice),
            request("RunInstances", &[("MinCount", "1"), ("MaxCount", "1")]),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(code(&body), "MissingParameter");
        assert!(body.contains("ImageId"));

        let run = [
            ("ImageId", "ami-0123456789abcdef0"),
            ("MinCount", "one"),
            ("MaxCount", "1"),
        ];
        let (_, body) = call(Some(&alice), request("RunInstances", &run)).await;
        assert_eq!(code(&body), "InvalidParameterValue");

        let run = [("ImageId", "ami-0123456789abcdef0"), ("MinCount", "1")];
        let (_, body) = call(Some(&alice), request("RunInstances", &run)).await;
        assert_eq!(code(&body), "MissingParameter");
        assert!(body.contains("MaxCount"));

        let (_, body) = call(
            Some(&alice),
            request(
                "StopInstances",
                &[("InstanceId.1", "i-0123456789abcdef0"), ("Force", "maybe")],
            ),
        )
        .await;
        assert_eq!(code(&body), "InvalidParameterValue");

        let (_, body) = call(Some(&alice), request("StartInstances", &[])).await;
        assert_eq!(code(&body), "MissingParameter");

        let (status, body) = call(
            Some(&alice),
            request(
                "TerminateInstances",
                &[("InstanceId.1", "i-x"), ("DryRun", "true")],
            ),
        )
        .await;
        assert_eq!(status, StatusCode::PRECONDITION_FAILED);
        assert_eq!(code(&body), "DryRunOperation");

        let (status, body) = call(
            Some(&reader),
            request(
                "TerminateInstances",
                &[("InstanceId.1", "i-x"), ("DryRun", "true")],
            ),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(code(&body), "UnauthorizedOperation");

        let (_, body) = call(
            Some(&alice),
            request(
                "DescribeImages",
                &[("Filter.1.Name", "colour"), ("Filter.1.Value.1", "red")],
            ),
        )
        .await;
        assert_eq!(code(&body), "InvalidParameterValue");

        let (_, body) = call(
            Some(&alice),
            request("DescribeTags", &[("MaxResults", "lots")]),
        )
        .await;
        assert_eq!(code(&body), "InvalidParameterValue");

        let (_, body) = call(
            Some(&reader),
            request(
                "CreateTags",
                &[("ResourceId.1", "i-0123456789abcdef0"), ("Tag.1.Key", "a")],
            ),
        )
        .await;
        assert_eq!(code(&body), "UnauthorizedOperation");

        let (_, body) = call(
            Some(&alice),
            request("CreateTags", &[("ResourceId.1", "i-0123456789abcdef0")]),
        )
        .await;
        assert_eq!(code(&body), "MissingParameter");

        let (_, body) = call(
            Some(&alice),
            request(
                "ModifyInstanceAttribute",
                &[("InstanceId", "i-0123456789abcdef0")],
            ),
        )
        .await;
        assert_eq!(code(&body), "MissingParameter");
    }

    /// Filter limits are checked while parsing: no database is reached.
    #[tokio::test]
    async fn filter_limits_before_any_work() {
        let reader = principal(Role::Reader);
        let owned = |pairs: Vec<(String, String)>| QueryRequest {
            action: String::new(),
            version: None,
            params: pairs.into_iter().collect(),
        };
        let actions = [
            "DescribeInstances",
            "DescribeImages",
            "DescribeKeyPairs",
            "DescribeTags",
            "DescribeInstanceStatus",
            "DescribeInstanceTypes",
            "DescribeAvailabilityZones",
            "DescribeRegions",
        ];
        for action in actions {
            let mut many_filters = Vec::new();
            for n in 1..=51 {
                many_filters.push((format!("Filter.{n}.Name"), "tag:Name".to_string()));
                many_filters.push((format!("Filter.{n}.Value.1"), "x".to_string()));
            }
            let mut req = owned(many_filters);
            req.action = action.into();
            let (status, body) = call(Some(&reader), req).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{action}");
            assert_eq!(code(&body), "FilterLimitExceeded", "{action}");

            let mut many_values = vec![("Filter.1.Name".to_string(), "tag:Name".to_string())];
            for m in 1..=201 {
                many_values.push((format!("Filter.1.Value.{m}"), "*x*".to_string()));
            }
            let mut req = owned(many_values);
            req.action = action.into();
            let (_, body) = call(Some(&reader), req).await;
            assert_eq!(code(&body), "FilterLimitExceeded", "{action}");

            // The finding: 60,000 stars once overflowed the stack.
            let stars = "*".repeat(60_000);
            let req = request(
                action,
                &[
                    ("Filter.1.Name", "instance-id"),
                    ("Filter.1.Value.1", &stars),
                ],
            );
            let (status, body) = call(Some(&reader), req).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{action}");
            assert_eq!(code(&body), "InvalidParameterValue", "{action}");
            let long_name = "n".repeat(256);
            let req = request(action, &[("Filter.1.Name", &long_name)]);
            let (_, body) = call(Some(&reader), req).await;
            assert_eq!(code(&body), "InvalidParameterValue", "{action}");
        }
        let ids: Vec<(String, String)> = (1..=1001)
            .map(|n| (format!("InstanceId.{n}"), "i-0123456789abcdef0".to_string()))
            .collect();
        let mut req = owned(ids);
        req.action = "DescribeInstances".into();
        let (_, body) = call(Some(&reader), req).await;
        assert_eq!(code(&body), "InvalidParameterValue");
    }

    /// NUL and control characters in stored fields answer 400 with the field's code before
    /// the catalog is reached (the Query edge refuses them too; these are the domain rules).
    #[tokio::test]
    async fn control_characters_refused_before_any_work() {
        let alice = principal(Role::Admin);
        type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
        let cases: [Case; 9] = [
            (
                "CreateTags",
                vec![
                    ("ResourceId.1", "i-0123456789abcdef0"),
                    ("Tag.1.Key", "k"),
                    ("Tag.1.Value", "a\u{1}b"),
                ],
                "InvalidParameterValue",
            ),
            (
                "CreateTags",
                vec![
                    ("ResourceId.1", "i-0123456789abcdef0"),
                    ("Tag.1.Key", "a\0"),
                    ("Tag.1.Value", "v"),
                ],
                "InvalidParameterValue",
            ),
            (
                "CreateTags",
                vec![("ResourceId.1", "i-0123456789abcdef0"), ("Tag.1.Key", "")],
                "InvalidTagKey.Malformed",
            ),
            (
                "CreateTags",
                vec![
                    ("ResourceId.1", "i-0123456789abcdef0"),
                    ("Tag.1.Key", "aws:x"),
                ],
                "InvalidParameterValue",
            ),
            (
                "ImportKeyPair",
                vec![
                    ("KeyName", "k\0"),
                    ("PublicKeyMaterial", "c3NoLWVkMjU1MTk="),
                ],
                "InvalidParameterValue",
            ),
            (
                "ImportKeyPair",
                // base64 of "ssh-ed25519 AAAA\0x": a NUL inside the decoded material.
                vec![
                    ("KeyName", "k"),
                    ("PublicKeyMaterial", "c3NoLWVkMjU1MTkgQUFBQQB4"),
                ],
                "InvalidKeyPair.Format",
            ),
            (
                "RunInstances",
                vec![
                    ("ImageId", "ami-0123456789abcdef0"),
                    ("MinCount", "1"),
                    ("MaxCount", "1"),
                    ("ClientToken", "t\0"),
                ],
                "InvalidParameterValue",
            ),
            (
                "DescribeImages",
                vec![("Owner.1", "a\0")],
                "InvalidParameterValue",
            ),
            (
                "RegisterImage",
                vec![("Name", "img"), ("ImageLocation", "/etc/passwd")],
                "InvalidParameterValue",
            ),
        ];
        for (action, params, expected) in cases {
            let (status, body) = call(Some(&alice), request(action, &params)).await;
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{action} {params:?}: {body}"
            );
            assert_eq!(code(&body), expected, "{action} {params:?}");
        }
        // 51 tags on one call.
        let keys: Vec<String> = (1..=51).map(|n| format!("Tag.{n}.Key")).collect();
        let mut params = vec![("ResourceId.1", "i-0123456789abcdef0")];
        params.extend(keys.iter().map(|k| (k.as_str(), "k")));
        let (_, body) = call(Some(&alice), request("CreateTags", &params)).await;
        assert_eq!(code(&body), "TagLimitExceeded");
    }

    #[tokio::test]
    async fn regions_need_no_database() {
        let alice = principal(Role::Admin);
        let (status, body) = call(Some(&alice), request("DescribeRegions", &[])).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("<DescribeRegionsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>"));
        assert!(body.contains("<regionInfo><item><regionName>us-east-1</regionName>"));
        let (_, body) = call(
            Some(&alice),
            request("DescribeRegions", &[("RegionName.1", "eu-west-1")]),
        )
        .await;
        assert!(body.contains("<regionInfo></regionInfo>"));
    }

    #[test]
    fn modify_attribute_forms() {
        let one = |pairs: &[(&str, &str)]| {
            let m: BTreeMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            modified_attribute(Params::new(&m))
        };
        assert_eq!(
            one(&[("Attribute", "instanceType"), ("Value", "t3.large")]).unwrap(),
            ("instanceType".to_string(), "t3.large".to_string())
        );
        assert_eq!(
            one(&[("DisableApiTermination.Value", "true")]).unwrap(),
            ("disableApiTermination".to_string(), "true".to_string())
        );
        assert_eq!(one(&[("UserData.Value", "aGk=")]).unwrap().0, "userData");
        assert_eq!(
            one(&[("Attribute", "userData")]).unwrap_err().to_aws().code,
            "MissingParameter"
        );
        assert_eq!(
            one(&[
                ("InstanceType.Value", "t3.large"),
                ("UserData.Value", "aGk=")
            ])
            .unwrap_err()
            .to_aws()
            .code,
            "InvalidParameterCombination"
        );
        assert_eq!(
            one(&[("GroupId.1", "sg-1")]).unwrap_err().to_aws().code,
            "UnsupportedOperation"
        );
    }

    #[test]
    fn status_filters_map_to_states() {
        assert_eq!(states_with_status(&["ok".into()], false), vec!["running"]);
        assert_eq!(
            states_with_status(&["not-applicable".into()], false).len(),
            5
        );
        assert_eq!(
            states_with_status(&["passed".into()], true),
            vec!["running"]
        );
        assert!(states_with_status(&["impaired".into()], false).is_empty());
    }

    #[test]
    fn pages() {
        let params = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let items = || (0..12).collect::<Vec<_>>();
        let m = params(&[("MaxResults", "5")]);
        let (page, next) = Page::parse(Params::new(&m), (5, 1000))
            .unwrap()
            .apply(items());
        assert_eq!(page, vec![0, 1, 2, 3, 4]);
        let m = params(&[("MaxResults", "5"), ("NextToken", &next.unwrap())]);
        let (page, next) = Page::parse(Params::new(&m), (5, 1000))
            .unwrap()
            .apply(items());
        assert_eq!(page, vec![5, 6, 7, 8, 9]);
        let m = params(&[("MaxResults", "5"), ("NextToken", &next.unwrap())]);
        let (page, next) = Page::parse(Params::new(&m), (5, 1000))
            .unwrap()
            .apply(items());
        assert_eq!(page, vec![10, 11]);
        assert!(next.is_none());
        let (page, next) = Page::parse(Params::new(&params(&[])), (5, 1000))
            .unwrap()
            .apply(items());
        assert_eq!((page.len(), next), (12, None));
        let m = params(&[("NextToken", "garbage!")]);
        let err = Page::parse(Params::new(&m), (5, 1000)).unwrap_err();
        assert_eq!(err.to_aws().code, "InvalidNextToken");
        let m = params(&[("MaxResults", "2")]);
        assert!(Page::parse(Params::new(&m), (5, 1000)).is_err());
    }
}
