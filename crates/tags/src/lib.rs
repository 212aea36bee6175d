//! The one EC2 tag store every service shares: schema `tags`, table
//! `tags.tags (account_id, resource_id, key, value)`, for instances, images and key pairs
//! (compute) as for VPCs, subnets, security groups … (network).
//!
//! - [`rules`]: EC2's tag rules (50 tags, keys 1–128 characters not `aws:`, values 0–256).
//! - [`store`]: set, delete and read tags, scoped by account; services call these in their
//!   own transactions (TagSpecification at create time, tags gone with the resource).
//! - [`owners`]: which service owns which id prefix and whether an id exists in the
//!   caller's account ([`TaggableResources`], registered by the composition root).
//! - [`ec2`]: CreateTags, DeleteTags and DescribeTags across every service's resources.

pub mod ec2;
mod error;
pub mod owners;
pub mod rules;
pub mod store;

pub use error::{Result, TagError};
pub use owners::{resource_type, ResourceOwners, TaggableResources};
pub use rules::{validate, validate_key, MAX_KEY_CHARS, MAX_TAGS, MAX_VALUE_CHARS};
pub use store::{delete, delete_all, describe, for_resources, forget, put, TagDescription, Tags};
