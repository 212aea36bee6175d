//! EC2 XML: the response envelope and one builder per output shape. Names are the EC2
//! model's `locationName`s; lists are `<fooSet><item>…</item></fooSet>`. The builders take
//! domain values only (no database), so tests can feed their output to botocore's parser.

use base64::Engine;
use chrono::{DateTime, Utc};
use kumo_common::xml::{element, escape, XML_DECLARATION};

use crate::images::Image;
use crate::instance_types::InstanceType;
use crate::instances::{Instance, InstanceState, Reservation, StateChange};
use crate::key_pairs::{KeyPair, NewKeyPair};
use crate::tags::{self, TagDescription, Tags};

/// The EC2 API namespace of every response.
pub const EC2_XMLNS: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

/// `<{action}Response xmlns=…><requestId>…</requestId>{inner}</{action}Response>`.
pub fn envelope(action: &str, request_id: &str, inner: &str) -> String {
    format!(
        "{XML_DECLARATION}<{action}Response xmlns=\"{EC2_XMLNS}\">{}{inner}</{action}Response>",
        element("requestId", request_id)
    )
}

/// EC2's timestamps: ISO 8601 with milliseconds, UTC.
pub fn timestamp(time: &DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn el(name: &str, text: &str) -> String {
    element(name, text)
}

fn opt(name: &str, text: Option<&str>) -> String {
    text.map(|t| element(name, t)).unwrap_or_default()
}

fn boolean(name: &str, value: bool) -> String {
    element(name, if value { "true" } else { "false" })
}

fn number(name: &str, value: impl std::fmt::Display) -> String {
    element(name, &value.to_string())
}

/// `<name><item>…</item>…</name>` from already-rendered item contents.
pub fn set<I: IntoIterator<Item = String>>(name: &str, items: I) -> String {
    let mut out = format!("<{name}>");
    for item in items {
        out.push_str("<item>");
        out.push_str(&item);
        out.push_str("</item>");
    }
    out.push_str(&format!("</{name}>"));
    out
}

/// `<return>true</return>`.
pub fn return_true() -> String {
    boolean("return", true)
}

/// `<tagSet>` of `{key, value}` items.
pub fn tag_set(tags: &Tags) -> String {
    set(
        "tagSet",
        tags.iter()
            .map(|(k, v)| format!("{}{}", el("key", k), el("value", v))),
    )
}

fn state(name: &str, state: InstanceState) -> String {
    format!(
        "<{name}>{}{}</{name}>",
        number("code", state.code()),
        el("name", state.as_str())
    )
}

/// vCPUs as EC2 presents them: two threads per core when the count is even.
pub fn cpu_topology(vcpus: i32) -> (i32, i32) {
    let vcpus = vcpus.max(1);
    if vcpus % 2 == 0 {
        (vcpus / 2, 2)
    } else {
        (vcpus, 1)
    }
}

fn vcpus_of(types: &[InstanceType], name: &str) -> i32 {
    types
        .iter()
        .find(|t| t.name == name)
        .map(|t| t.vcpus)
        .unwrap_or(1)
}

/// `ip-a-b-c-d.ec2.internal`, or empty without an address.
pub fn private_dns_name(ip: Option<&str>) -> String {
    ip.map(|ip| format!("ip-{}.ec2.internal", ip.replace('.', "-")))
        .unwrap_or_default()
}

/// The default VPC of a subnet: `vpc-` and the subnet id's digits.
pub fn vpc_id(subnet_id: &str) -> String {
    format!(
        "vpc-{}",
        subnet_id.strip_prefix("subnet-").unwrap_or(subnet_id)
    )
}

/// A stored state reason, as `(code, message, transition reason)`. Reasons written as
/// `Code: message` keep the whole text as the message, as EC2 does
/// (`Client.UserInitiatedShutdown: User initiated shutdown`).
pub fn split_reason(reason: &str) -> (String, String, String) {
    match reason.split_once(": ") {
        Some((code, message)) if !code.is_empty() && !code.contains(' ') => {
            (code.to_string(), reason.to_string(), message.to_string())
        }
        _ => (reason.to_string(), reason.to_string(), reason.to_string()),
    }
}

/// One `instancesSet` item.
pub fn instance_xml(instance: &Instance, types: &[InstanceType]) -> String {
    let ip = instance.private_ip.as_deref();
    let dns = private_dns_name(ip);
    let vpc = vpc_id(&instance.subnet_id);
    let (cores, threads) = cpu_topology(vcpus_of(types, &instance.instance_type));
    let (state_reason, transition) =
        match instance.state_reason.as_deref().filter(|r| !r.is_empty()) {
            Some(reason) => {
                let (code, message, transition) = split_reason(reason);
                (
                    format!(
                        "<stateReason>{}{}</stateReason>",
                        el("code", &code),
                        el("message", &message)
                    ),
                    transition,
                )
            }
            None => (String::new(), String::new()),
        };
    let interface = format!(
        "{}{}{}{}{}{}{}{}{}{}{}",
        el("subnetId", &instance.subnet_id),
        el("vpcId", &vpc),
        el("description", ""),
        el("ownerId", &instance.account_id),
        el("status", "in-use"),
        el("macAddress", &instance.mac),
        opt("privateIpAddress", ip),
        el("privateDnsName", &dns),
        boolean("sourceDestCheck", true),
        "<groupSet/>",
        set(
            "privateIpAddressesSet",
            ip.map(|ip| format!(
                "{}{}{}",
                el("privateIpAddress", ip),
                el("privateDnsName", &dns),
                boolean("primary", true)
            )),
        ),
    ) + &el("interfaceType", "interface");
    let mut out = String::with_capacity(2048);
    out.push_str(&el("instanceId", &instance.instance_id));
    out.push_str(&el("imageId", &instance.image_id));
    out.push_str(&state("instanceState", instance.state));
    out.push_str(&el("privateDnsName", &dns));
    out.push_str(&el("dnsName", ""));
    out.push_str(&el("reason", &transition));
    out.push_str(&opt("keyName", instance.key_name.as_deref()));
    out.push_str(&number("amiLaunchIndex", instance.launch_index));
    out.push_str("<productCodes/>");
    out.push_str(&el("instanceType", &instance.instance_type));
    out.push_str(&el("launchTime", &timestamp(&instance.launch_time)));
    out.push_str(&format!(
        "<placement>{}{}{}</placement>",
        el("availabilityZone", &instance.availability_zone),
        el("groupName", ""),
        el("tenancy", "default")
    ));
    out.push_str(&format!(
        "<monitoring>{}</monitoring>",
        el("state", "disabled")
    ));
    out.push_str(&el("subnetId", &instance.subnet_id));
    out.push_str(&el("vpcId", &vpc));
    out.push_str(&opt("privateIpAddress", ip));
    out.push_str(&boolean("sourceDestCheck", true));
    out.push_str("<groupSet/>");
    out.push_str(&state_reason);
    out.push_str(&el("architecture", "x86_64"));
    out.push_str(&el("rootDeviceType", "ebs"));
    out.push_str(&el("rootDeviceName", "/dev/xvda"));
    out.push_str("<blockDeviceMapping/>");
    out.push_str(&el("virtualizationType", "hvm"));
    out.push_str(&el(
        "clientToken",
        instance.client_token.as_deref().unwrap_or(""),
    ));
    out.push_str(&tag_set(&instance.tags));
    out.push_str(&el("hypervisor", "xen"));
    out.push_str(&set("networkInterfaceSet", [interface]));
    out.push_str(&boolean("ebsOptimized", false));
    out.push_str(&boolean("enaSupport", true));
    out.push_str(&format!(
        "<cpuOptions>{}{}</cpuOptions>",
        number("coreCount", cores),
        number("threadsPerCore", threads)
    ));
    out.push_str(&el("platformDetails", "Linux/UNIX"));
    out.push_str(&el("usageOperation", "RunInstances"));
    out.push_str(&format!(
        "<metadataOptions>{}{}{}{}</metadataOptions>",
        el("state", "applied"),
        el("httpTokens", "optional"),
        number("httpPutResponseHopLimit", 1),
        el("httpEndpoint", "enabled"),
    ));
    out
}

/// The fields of one reservation (RunInstances' whole answer; a `reservationSet` item).
pub fn reservation_xml(reservation: &Reservation, types: &[InstanceType]) -> String {
    format!(
        "{}{}<groupSet/>{}",
        el("reservationId", &reservation.reservation_id),
        el("ownerId", &reservation.owner_id),
        set(
            "instancesSet",
            reservation.instances.iter().map(|i| instance_xml(i, types))
        ),
    )
}

/// Instances grouped by reservation, in order of first appearance.
pub fn group_reservations(instances: Vec<Instance>) -> Vec<Reservation> {
    let mut reservations: Vec<Reservation> = Vec::new();
    for instance in instances {
        match reservations
            .iter_mut()
            .find(|r| r.reservation_id == instance.reservation_id)
        {
            Some(reservation) => reservation.instances.push(instance),
            None => reservations.push(Reservation {
                reservation_id: instance.reservation_id.clone(),
                owner_id: instance.account_id.clone(),
                instances: vec![instance],
            }),
        }
    }
    reservations
}

/// DescribeInstances: `reservationSet` and `nextToken` when there are more.
pub fn describe_instances_xml(
    reservations: &[Reservation],
    next_token: Option<&str>,
    types: &[InstanceType],
) -> String {
    format!(
        "{}{}",
        set(
            "reservationSet",
            reservations.iter().map(|r| reservation_xml(r, types))
        ),
        opt("nextToken", next_token)
    )
}

/// Start/Stop/TerminateInstances: `instancesSet` of state changes.
pub fn state_changes_xml(changes: &[StateChange]) -> String {
    set(
        "instancesSet",
        changes.iter().map(|c| {
            format!(
                "{}{}{}",
                el("instanceId", &c.instance_id),
                state("currentState", c.current_state),
                state("previousState", c.previous_state)
            )
        }),
    )
}

/// DescribeInstanceStatus: running instances report `ok` with reachability `passed`.
pub fn instance_status_xml(instances: &[Instance], next_token: Option<&str>) -> String {
    let status = |name: &str, running: bool| {
        if running {
            format!(
                "<{name}>{}{}</{name}>",
                el("status", "ok"),
                set(
                    "details",
                    [format!(
                        "{}{}",
                        el("name", "reachability"),
                        el("status", "passed")
                    )]
                )
            )
        } else {
            format!("<{name}>{}</{name}>", el("status", "not-applicable"))
        }
    };
    let items = instances.iter().map(|i| {
        let running = i.state == InstanceState::Running;
        format!(
            "{}{}{}{}{}",
            el("instanceId", &i.instance_id),
            el("availabilityZone", &i.availability_zone),
            state("instanceState", i.state),
            status("systemStatus", running),
            status("instanceStatus", running),
        )
    });
    format!(
        "{}{}",
        set("instanceStatusSet", items),
        opt("nextToken", next_token)
    )
}

/// GetConsoleOutput: the console bytes as base64.
pub fn console_output_xml(instance_id: &str, output: &[u8], at: &DateTime<Utc>) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(output);
    format!(
        "{}{}{}",
        el("instanceId", instance_id),
        el("timestamp", &timestamp(at)),
        if output.is_empty() {
            String::new()
        } else {
            el("output", &encoded)
        }
    )
}

/// One `instanceTypeSet` item.
pub fn instance_type_xml(t: &InstanceType) -> String {
    let (cores, threads) = cpu_topology(t.vcpus);
    let item = |v: &str| el("item", v);
    format!(
        "{}{}{}<supportedUsageClasses>{}</supportedUsageClasses><supportedRootDeviceTypes>{}</supportedRootDeviceTypes>\
         <supportedVirtualizationTypes>{}</supportedVirtualizationTypes>{}{}\
         <processorInfo><supportedArchitectures>{}</supportedArchitectures></processorInfo>\
         <vCpuInfo>{}{}{}</vCpuInfo><memoryInfo>{}</memoryInfo>{}{}",
        el("instanceType", &t.name),
        boolean("currentGeneration", true),
        boolean("freeTierEligible", false),
        item("on-demand"),
        item("ebs"),
        item("hvm"),
        boolean("bareMetal", false),
        el("hypervisor", "nitro"),
        item("x86_64"),
        number("defaultVCpus", t.vcpus),
        number("defaultCores", cores),
        number("defaultThreadsPerCore", threads),
        number("sizeInMiB", t.memory_mib),
        boolean("instanceStorageSupported", false),
        boolean("burstablePerformanceSupported", t.name.starts_with('t')),
    )
}

/// DescribeInstanceTypes.
pub fn describe_instance_types_xml(types: &[InstanceType], next_token: Option<&str>) -> String {
    format!(
        "{}{}",
        set("instanceTypeSet", types.iter().map(instance_type_xml)),
        opt("nextToken", next_token)
    )
}

/// An image's location as tenants see it: `<owner account>/<name>` (as EC2 shows
/// `amazon/<name>`); the image store's layout is never shown.
pub fn image_location(image: &Image) -> String {
    format!("{}/{}", image.account_id, image.name)
}

/// One `imagesSet` item.
pub fn image_xml(image: &Image, tags: &Tags) -> String {
    let state = if image.state == "available" {
        "available"
    } else {
        image.state.as_str()
    };
    format!(
        "{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}<blockDeviceMapping/>{}",
        el("imageId", &image.image_id),
        el("imageLocation", &image_location(image)),
        el("imageState", state),
        el("imageOwnerId", &image.account_id),
        el("creationDate", &timestamp(&image.created_at)),
        boolean("isPublic", image.is_public),
        el("architecture", "x86_64"),
        el("imageType", "machine"),
        el("name", &image.name),
        el("description", &image.description),
        el("rootDeviceType", "ebs"),
        el("rootDeviceName", "/dev/xvda"),
        el("virtualizationType", "hvm"),
        el("hypervisor", "xen"),
        el("platformDetails", "Linux/UNIX"),
        el("usageOperation", "RunInstances"),
        boolean("enaSupport", true),
        "<productCodes/>",
        tag_set(tags),
    )
}

/// DescribeImages.
pub fn describe_images_xml(images: &[(Image, Tags)], next_token: Option<&str>) -> String {
    format!(
        "{}{}",
        set(
            "imagesSet",
            images.iter().map(|(image, tags)| image_xml(image, tags))
        ),
        opt("nextToken", next_token)
    )
}

/// ImportKeyPair's answer.
pub fn imported_key_pair_xml(key: &KeyPair, tags: &Tags) -> String {
    format!(
        "{}{}{}{}",
        el("keyName", &key.key_name),
        el("keyFingerprint", &key.fingerprint),
        el("keyPairId", &key.key_pair_id),
        tag_set(tags)
    )
}

/// CreateKeyPair's answer, with the private key (shown once).
pub fn created_key_pair_xml(key: &NewKeyPair, tags: &Tags) -> String {
    format!(
        "{}{}",
        imported_key_pair_xml(&key.key_pair, tags),
        el("keyMaterial", &key.key_material)
    )
}

/// DescribeKeyPairs: `keySet` (the public key only when asked for).
pub fn describe_key_pairs_xml(keys: &[(KeyPair, Tags)], include_public_key: bool) -> String {
    set(
        "keySet",
        keys.iter().map(|(k, tags)| {
            format!(
                "{}{}{}{}{}{}{}",
                el("keyPairId", &k.key_pair_id),
                el("keyName", &k.key_name),
                el("keyFingerprint", &k.fingerprint),
                el("keyType", &k.key_type),
                el("createTime", &timestamp(&k.created_at)),
                if include_public_key {
                    el("publicKey", &k.public_key)
                } else {
                    String::new()
                },
                tag_set(tags),
            )
        }),
    )
}

/// DescribeTags: `tagSet` of `{resourceId, resourceType, key, value}`.
pub fn describe_tags_xml(tags: &[TagDescription], next_token: Option<&str>) -> String {
    format!(
        "{}{}",
        set(
            "tagSet",
            tags.iter().map(|t| {
                format!(
                    "{}{}{}{}",
                    el("resourceId", &t.resource_id),
                    el("resourceType", tags::resource_type(&t.resource_id)),
                    el("key", &t.key),
                    el("value", &t.value)
                )
            })
        ),
        opt("nextToken", next_token)
    )
}

/// DescribeInstanceAttribute: `<instanceId>` and `<{attribute}><value>…</value></{attribute}>`
/// (an attribute with no value is an empty element).
pub fn instance_attribute_xml(instance_id: &str, attribute: &str, value: Option<&str>) -> String {
    // The attribute names an element: only a known attribute's plain name ever gets here,
    // and nothing else is ever written as markup.
    let attribute = if !attribute.is_empty() && attribute.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        attribute
    } else {
        "attribute"
    };
    let inner = match value {
        Some(v) => el("value", v),
        None => String::new(),
    };
    format!(
        "{}<{attribute}>{inner}</{attribute}>",
        el("instanceId", instance_id)
    )
}

/// One availability zone.
pub fn zone_xml(zone: &str, region: &str, zone_id: &str) -> String {
    format!(
        "{}{}{}{}{}{}{}{}<messageSet/>",
        el("zoneName", zone),
        el("zoneState", "available"),
        el("regionName", region),
        el("zoneId", zone_id),
        el("zoneType", "availability-zone"),
        el("optInStatus", "opt-in-not-required"),
        el("groupName", region),
        el("networkBorderGroup", region),
    )
}

/// One region.
pub fn region_xml(region: &str) -> String {
    format!(
        "{}{}{}",
        el("regionName", region),
        el("regionEndpoint", &format!("ec2.{region}.amazonaws.com")),
        el("optInStatus", "opt-in-not-required")
    )
}

/// EC2's zone id for a zone name: the region's short form and the zone letter's ordinal,
/// e.g. `us-east-1a` → `use1-az1`, `ap-southeast-2b` → `apse2-az2`. `position` (1-based)
/// numbers zones whose names do not end in a letter after the region.
pub fn zone_id(region: &str, zone: &str, position: usize) -> String {
    let mut short = String::new();
    for (i, part) in region.split('-').enumerate() {
        if i == 0 || part.bytes().all(|b| b.is_ascii_digit()) {
            short.push_str(part);
            continue;
        }
        let abbreviated = match part {
            "north" => "n",
            "south" => "s",
            "east" => "e",
            "west" => "w",
            "central" => "c",
            "northeast" => "ne",
            "northwest" => "nw",
            "southeast" => "se",
            "southwest" => "sw",
            "gov" => "g",
            other => other.get(..1).unwrap_or(""),
        };
        short.push_str(abbreviated);
    }
    let number = zone
        .strip_prefix(region)
        .filter(|rest| rest.len() == 1 && rest.bytes().all(|b| b.is_ascii_lowercase()))
        .map(|rest| (rest.as_bytes()[0] - b'a') as usize + 1)
        .unwrap_or(position);
    format!("{}-az{number}", escape(&short))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn zone_ids_follow_aws() {
        assert_eq!(zone_id("us-east-1", "us-east-1a", 1), "use1-az1");
        assert_eq!(zone_id("us-east-1", "us-east-1c", 1), "use1-az3");
        assert_eq!(zone_id("ap-southeast-2", "ap-southeast-2b", 1), "apse2-az2");
        assert_eq!(zone_id("eu-central-1", "lab", 4), "euc1-az4");
    }

    #[test]
    fn reasons_split_into_code_and_message() {
        let (code, message, transition) =
            split_reason("Client.UserInitiatedShutdown: User initiated shutdown");
        assert_eq!(code, "Client.UserInitiatedShutdown");
        assert_eq!(
            message,
            "Client.UserInitiatedShutdown: User initiated shutdown"
        );
        assert_eq!(transition, "User initiated shutdown");
        assert_eq!(split_reason("User initiated").0, "User initiated");
    }

    #[test]
    fn helpers() {
        assert_eq!(cpu_topology(2), (1, 2));
        assert_eq!(cpu_topology(1), (1, 1));
        assert_eq!(cpu_topology(8), (4, 2));
        assert_eq!(
            private_dns_name(Some("172.31.0.5")),
            "ip-172-31-0-5.ec2.internal"
        );
        assert_eq!(vpc_id("subnet-0123456789abcdef0"), "vpc-0123456789abcdef0");
        assert_eq!(
            set("groupSet", Vec::<String>::new()),
            "<groupSet></groupSet>"
        );
        let t = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.678Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(timestamp(&t), "2026-01-02T03:04:05.678Z");
    }
}
