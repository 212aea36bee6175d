//! The EC2 Query toolkit every EC2-style facade shares (compute and network today; block
//! storage next): the parameter reader ([`params`]: strict scalars, flattened lists, tags
//! and tag specifications), the response document, `DryRun` and page requests
//! ([`response`]), `Filter.N.Name`/`Filter.N.Value.M` filters with AWS's wildcard rules and limits,
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
pub mod params;
pub mod response;
pub mod tags;
pub mod zones;

pub use error::{DescribeError, Result};
pub use filters::{Compiled, Filter, Filters, ValueSet};
pub use paging::Page;
pub use params::{Params, TagSpecification};
