//! What every listing of the topology shares, EC2's describes and the native lists alike:
//! a resource's tags and its place in the listing (oldest first, then by id), and one page
//! of such resources.

use chrono::{DateTime, Utc};
use kumo_ec2_query::Page;

use crate::error::Result;
use crate::tags::Tags;

/// A resource a listing shows.
pub(crate) trait Listed: Send + 'static {
    fn tags(&self) -> &Tags;
    fn created_at(&self) -> DateTime<Utc>;
    fn id(&self) -> &str;
}

/// This page of `items` (in listing order) and the next page's token.
pub(crate) fn page_of<T: Listed>(page: Page, items: Vec<T>) -> Result<(Vec<T>, Option<String>)> {
    Ok(page.apply(items, |item| {
        (item.created_at().timestamp_micros(), item.id().to_string())
    })?)
}

/// A native list's `max_results` (5–1000) and `next_token`.
pub(crate) fn native_page(max_results: Option<i64>, next_token: Option<&str>) -> Result<Page> {
    Ok(Page::parse(max_results, next_token, (5, 1000))?)
}

macro_rules! listed {
    ($($type:ty => $id:ident;)*) => {$(
        impl Listed for $type {
            fn tags(&self) -> &Tags {
                &self.tags
            }
            fn created_at(&self) -> DateTime<Utc> {
                self.created_at
            }
            fn id(&self) -> &str {
                &self.$id
            }
        }
    )*};
}

listed! {
    crate::vpcs::Vpc => vpc_id;
    crate::subnets::Subnet => subnet_id;
    crate::internet_gateways::InternetGateway => internet_gateway_id;
    crate::route_tables::RouteTable => route_table_id;
    crate::network_acls::NetworkAcl => network_acl_id;
}
