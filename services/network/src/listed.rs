//! What every listing of the topology shares, EC2's describes and the native lists alike:
//! a resource's tags and its place in the listing (oldest first, then by id), and one page
//! of such resources.

use chrono::{DateTime, Utc};
use kumo_ec2_query::Page;

use crate::error::{NetworkError, Result};
use crate::tags::{self, Tags};

/// A resource a listing shows.
pub(crate) trait Listed: Send + 'static {
    fn tags(&self) -> &Tags;
    fn tags_mut(&mut self) -> &mut Tags;
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

/// A listing's last step: every id `asked` for must have been found (else `not_found` of
/// the first missing one); then each item gets its tags.
pub(crate) async fn found_with_tags<T: Listed>(
    pool: &sqlx::PgPool,
    account_id: &str,
    asked: &[String],
    mut items: Vec<T>,
    not_found: fn(&str) -> NetworkError,
) -> Result<Vec<T>> {
    if let Some(missing) = asked
        .iter()
        .find(|id| !items.iter().any(|i| i.id() == id.as_str()))
    {
        return Err(not_found(missing));
    }
    let ids: Vec<String> = items.iter().map(|i| i.id().to_string()).collect();
    let mut found = tags::for_resources(pool, account_id, &ids).await?;
    for item in &mut items {
        *item.tags_mut() = found.remove(item.id()).unwrap_or_default();
    }
    Ok(items)
}

macro_rules! listed {
    ($($type:ty => $id:ident;)*) => {$(
        impl Listed for $type {
            fn tags(&self) -> &Tags {
                &self.tags
            }
            fn tags_mut(&mut self) -> &mut Tags {
                &mut self.tags
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
    crate::addresses::Address => allocation_id;
}
