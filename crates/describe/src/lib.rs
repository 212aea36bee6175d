//! The describe toolkit every facade shares (EC2 today; networking and block storage
//! next): `Filter.N.Name`/`Filter.N.Value.M` filters with AWS's wildcard rules and limits,
//! evaluated fairly off the async workers ([`filters`]); the `tag:<key>`, `tag-key` and
//! `tag-value` filters every taggable resource answers ([`tags`]); and `MaxResults` /
//! `NextToken` pages whose tokens stay valid while rows are inserted ([`paging`]).
//!
//! Generic over the resource type: a describer hands in its items and how to read a
//! filter's values (or a page's sort key) from one. Errors carry the AWS code; each
//! service maps [`DescribeError`] into its own error type.

mod error;
pub mod filters;
pub mod paging;
pub mod tags;

pub use error::{DescribeError, Result};
pub use filters::{Compiled, Filter, Filters, ValueSet};
pub use paging::Page;
