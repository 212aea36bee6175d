//! Names EC2 derives from its region: availability zone ids (`use1-az1`), private DNS
//! names (`ip-10-0-0-5.ec2.internal`) and public ones (`ec2-203-0-113-5.compute-1.amazonaws.com`).

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
    format!("{short}-az{number}")
}

/// The domain of private DNS names: `ec2.internal` in us-east-1,
/// `<region>.compute.internal` elsewhere.
pub fn private_dns_domain(region: &str) -> String {
    if region == "us-east-1" {
        "ec2.internal".to_string()
    } else {
        format!("{region}.compute.internal")
    }
}

/// The private DNS name of an address: `ip-a-b-c-d.ec2.internal` in us-east-1,
/// `ip-a-b-c-d.<region>.compute.internal` elsewhere.
pub fn private_dns_name(region: &str, ip: &str) -> String {
    format!("ip-{}.{}", ip.replace('.', "-"), private_dns_domain(region))
}

/// The public DNS name of a public address: `ec2-a-b-c-d.compute-1.amazonaws.com` in
/// us-east-1, `ec2-a-b-c-d.<region>.compute.amazonaws.com` elsewhere.
pub fn public_dns_name(region: &str, ip: &str) -> String {
    let host = format!("ec2-{}", ip.replace('.', "-"));
    if region == "us-east-1" {
        format!("{host}.compute-1.amazonaws.com")
    } else {
        format!("{host}.{region}.compute.amazonaws.com")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_ids_follow_aws() {
        assert_eq!(zone_id("us-east-1", "us-east-1a", 1), "use1-az1");
        assert_eq!(zone_id("us-east-1", "us-east-1c", 1), "use1-az3");
        assert_eq!(zone_id("ap-southeast-2", "ap-southeast-2b", 1), "apse2-az2");
        assert_eq!(zone_id("eu-central-1", "lab", 4), "euc1-az4");
    }
}
