//! EC2 Query parameters: the shared reader of the EC2 Query toolkit.

pub use kumo_ec2_query::params::{Params, TagSpecification};
