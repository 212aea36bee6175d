//! IPv4 CIDR blocks as the network service checks them: parsed strictly (the address must
//! be the block's first one, as AWS requires), sized, and compared for containment and
//! overlap.

use std::net::Ipv4Addr;

use crate::error::{NetworkError, Result};

/// An IPv4 block: its first address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Block {
    pub first: u32,
    pub prefix: u8,
}

impl Ipv4Block {
    /// Parse `a.b.c.d/n`; `field` names the parameter in the error.
    pub fn parse(text: &str, field: &str) -> Result<Self> {
        let invalid = || {
            NetworkError::invalid(format!(
                "Value ({text}) for parameter {field} is invalid. This is not a valid CIDR block."
            ))
        };
        let (addr, prefix) = text.split_once('/').ok_or_else(invalid)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| invalid())?;
        if prefix.is_empty() || prefix.len() > 2 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let prefix: u8 = prefix.parse().map_err(|_| invalid())?;
        if prefix > 32 {
            return Err(invalid());
        }
        let block = Self {
            first: u32::from(addr),
            prefix,
        };
        if block.first & !block.mask() != 0 {
            return Err(invalid());
        }
        Ok(block)
    }

    /// A block from its parts (the host bits are cleared).
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Self {
        let mut block = Self {
            first: u32::from(addr),
            prefix: prefix.min(32),
        };
        block.first &= block.mask();
        block
    }

    fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    /// How many addresses the block holds.
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }

    pub fn last(&self) -> u32 {
        self.first | !self.mask()
    }

    /// Does this block hold all of `other`?
    pub fn contains(&self, other: &Ipv4Block) -> bool {
        self.prefix <= other.prefix && other.first & self.mask() == self.first
    }

    pub fn overlaps(&self, other: &Ipv4Block) -> bool {
        self.contains(other) || other.contains(self)
    }

    /// The `n`-th block of prefix `prefix` inside this one (`None` past the end).
    pub fn nth_sub_block(&self, prefix: u8, n: u32) -> Option<Ipv4Block> {
        if prefix < self.prefix || prefix > 32 {
            return None;
        }
        let count = 1u64 << (prefix - self.prefix);
        if u64::from(n) >= count {
            return None;
        }
        let step = 1u64 << (32 - u32::from(prefix));
        let first = u64::from(self.first) + u64::from(n) * step;
        Some(Self {
            first: u32::try_from(first).ok()?,
            prefix,
        })
    }
}

impl std::fmt::Display for Ipv4Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.first), self.prefix)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parse_is_strict() {
        let block = Ipv4Block::parse("10.0.0.0/16", "CidrBlock").unwrap();
        assert_eq!(block.to_string(), "10.0.0.0/16");
        assert_eq!(block.size(), 65536);
        for bad in [
            "10.0.0.1/16",
            "10.0.0.0",
            "10.0.0.0/33",
            "10.0.0/8",
            "x/8",
            "10.0.0.0/+8",
        ] {
            assert!(Ipv4Block::parse(bad, "CidrBlock").is_err(), "{bad}");
        }
        assert_eq!(Ipv4Block::parse("0.0.0.0/0", "x").unwrap().size(), 1 << 32);
    }

    #[test]
    fn containment_and_sub_blocks() {
        let vpc = Ipv4Block::parse("172.31.0.0/16", "x").unwrap();
        let a = Ipv4Block::parse("172.31.16.0/20", "x").unwrap();
        let b = Ipv4Block::parse("172.31.16.0/24", "x").unwrap();
        assert!(vpc.contains(&a) && a.contains(&b) && !b.contains(&a));
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&Ipv4Block::parse("172.31.32.0/20", "x").unwrap()));
        assert_eq!(vpc.nth_sub_block(20, 1), Some(a));
        assert_eq!(vpc.nth_sub_block(20, 16), None);
        assert_eq!(
            Ipv4Block::new(Ipv4Addr::new(10, 1, 2, 3), 8).to_string(),
            "10.0.0.0/8"
        );
    }
}
