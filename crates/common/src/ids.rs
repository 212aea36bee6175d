//! Identifiers that look like AWS's: random, never sequential.

use rand::Rng;

const BASE32_UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// `prefix-` followed by 17 lowercase hex digits, like `i-0123456789abcdef0`.
pub fn resource_id(prefix: &str) -> String {
    let mut rng = rand::thread_rng();
    let digits: String = (0..17)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect();
    format!("{prefix}-{digits}")
}

/// `prefix` followed by `len` characters of upper-case base32, like `AKIA…` / `AIDA…`.
pub fn upper_base32_id(prefix: &str, len: usize) -> String {
    let mut rng = rand::thread_rng();
    let mut id = String::with_capacity(prefix.len() + len);
    id.push_str(prefix);
    for _ in 0..len {
        id.push(BASE32_UPPER[rng.gen_range(0..BASE32_UPPER.len())] as char);
    }
    id
}

/// A random secret of `len` characters from `[A-Za-z0-9]`.
pub fn secret_string(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| ALPHANUMERIC[rng.gen_range(0..ALPHANUMERIC.len())] as char)
        .collect()
}

/// A 12-digit account id that never starts with 0.
pub fn account_id() -> String {
    let mut rng = rand::thread_rng();
    let first = rng.gen_range(1..10u32);
    let rest: String = (0..11)
        .map(|_| char::from_digit(rng.gen_range(0..10), 10).unwrap_or('0'))
        .collect();
    format!("{first}{rest}")
}

/// Is this a well-formed 12-digit account id?
pub fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// Why a text is not an id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedId {
    /// The AWS error code for this kind of id, e.g. `InvalidInstanceID.Malformed`.
    pub code: &'static str,
    pub id: String,
}

impl std::fmt::Display for MalformedId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Shown to clients: keep it short and printable.
        let shown: String = self
            .id
            .chars()
            .take(64)
            .filter(|c| !c.is_control())
            .collect();
        write!(f, "Invalid id: \"{shown}\"")
    }
}

impl std::error::Error for MalformedId {}

/// The one rule for every AWS-style resource id: `prefix-` then 8 (older AWS ids) or 17
/// lowercase hex digits. Such ids are also safe as file, netns and link-name parts.
pub fn is_resource_id(prefix: &str, text: &str) -> bool {
    let Some(digits) = text
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('-'))
    else {
        return false;
    };
    matches!(digits.len(), 8 | 17)
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Declares a newtype for one kind of resource id: generated with [`resource_id`], parsed
/// with [`is_resource_id`], shown and serialized as the plain string.
macro_rules! resource_ids {
    ($($(#[$doc:meta])* $name:ident = $prefix:literal, $code:literal;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The id's prefix, before the `-`.
            pub const PREFIX: &'static str = $prefix;
            /// The AWS error code for a malformed id of this kind.
            pub const MALFORMED: &'static str = $code;

            /// A fresh random id.
            pub fn generate() -> Self {
                Self(resource_id($prefix))
            }

            /// Check the shape: `prefix-` and 8 or 17 lowercase hex digits.
            pub fn parse(text: &str) -> Result<Self, MalformedId> {
                if is_resource_id($prefix, text) {
                    Ok(Self(text.to_owned()))
                } else {
                    Err(MalformedId { code: $code, id: text.to_owned() })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = MalformedId;
            fn from_str(text: &str) -> Result<Self, MalformedId> {
                Self::parse(text)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    )*};
}

resource_ids! {
    /// `i-…`: a virtual machine or container.
    InstanceId = "i", "InvalidInstanceID.Malformed";
    /// `r-…`: the instances of one RunInstances call.
    ReservationId = "r", "InvalidReservationID.Malformed";
    /// `ami-…`: a machine image.
    ImageId = "ami", "InvalidAMIID.Malformed";
    /// `key-…`: an SSH key pair.
    KeyPairId = "key", "InvalidKeyPair.Malformed";
    /// `vpc-…`: a virtual private cloud.
    VpcId = "vpc", "InvalidVpcID.Malformed";
    /// `subnet-…`: a subnet of a VPC.
    SubnetId = "subnet", "InvalidSubnetID.Malformed";
    /// `sg-…`: a security group.
    SecurityGroupId = "sg", "InvalidGroupId.Malformed";
    /// `sgr-…`: one rule of a security group.
    SecurityGroupRuleId = "sgr", "InvalidSecurityGroupRuleId.Malformed";
    /// `eni-…`: a network interface.
    NetworkInterfaceId = "eni", "InvalidNetworkInterfaceID.Malformed";
    /// `eni-attach-…`: a network interface's attachment to an instance.
    NetworkInterfaceAttachmentId = "eni-attach", "InvalidAttachmentID.Malformed";
    /// `eipalloc-…`: an Elastic IP allocation.
    AllocationId = "eipalloc", "InvalidAllocationID.Malformed";
    /// `eipassoc-…`: an Elastic IP association.
    AssociationId = "eipassoc", "InvalidAssociationID.Malformed";
    /// `igw-…`: an internet gateway.
    InternetGatewayId = "igw", "InvalidInternetGatewayID.Malformed";
    /// `rtb-…`: a route table.
    RouteTableId = "rtb", "InvalidRouteTableID.Malformed";
    /// `rtbassoc-…`: a route table's association with a subnet (or the VPC's main one).
    RouteTableAssociationId = "rtbassoc", "InvalidAssociationID.Malformed";
    /// `acl-…`: a network ACL.
    NetworkAclId = "acl", "InvalidNetworkAclID.Malformed";
    /// `vol-…`: a block volume.
    VolumeId = "vol", "InvalidVolumeID.Malformed";
    /// `snap-…`: a volume snapshot.
    SnapshotId = "snap", "InvalidSnapshotID.Malformed";
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn typed_ids_have_one_rule() {
        let id = InstanceId::generate();
        assert_eq!(InstanceId::parse(id.as_str()), Ok(id.clone()));
        assert!(InstanceId::parse("i-0123abcd").is_ok());
        for bad in [
            "i-",
            "i-1",
            "i-0123ABCD",
            "i-0123abcd0",
            "ami-0123abcd",
            "i-../../etc",
            "i-0123abcg",
        ] {
            let err = InstanceId::parse(bad).unwrap_err();
            assert_eq!(err.code, "InvalidInstanceID.Malformed");
        }
        assert_eq!(VolumeId::generate().as_str().len(), 21);
        let parsed: ImageId = serde_json::from_str("\"ami-0123456789abcdef0\"").unwrap();
        assert_eq!(
            serde_json::to_string(&parsed).unwrap(),
            "\"ami-0123456789abcdef0\""
        );
        assert!(serde_json::from_str::<ImageId>("\"ami-x\"").is_err());
        assert_eq!(
            MalformedId {
                code: "c",
                id: "i-\0x".into()
            }
            .to_string(),
            "Invalid id: \"i-x\""
        );
    }

    #[test]
    fn shapes() {
        let id = resource_id("i");
        assert_eq!(id.len(), 19);
        assert!(id.starts_with("i-"));
        let key = upper_base32_id("AKIA", 16);
        assert_eq!(key.len(), 20);
        assert!(is_account_id(&account_id()));
        assert!(!is_account_id("12345"));
        assert_eq!(secret_string(40).len(), 40);
    }
}
