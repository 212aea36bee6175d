//! What the network describes share: their filters (checked against the action's known
//! names, `tag:*`/`tag-key`/`tag-value` always), their pages (oldest first), and the
//! small readers every resource's filter fields use.

use kumo_ec2_query::filters::{check_names, select_by_fields, Filter};
use kumo_ec2_query::tags::is_tag_filter;
use kumo_ec2_query::{response, Page, Params};

use crate::error::Result;
use crate::listed::page_of;
pub(super) use crate::listed::Listed;

/// One describe call's filters and page, parsed before any work.
pub(super) struct Describe {
    filters: Vec<Filter>,
    page: Page,
}

impl Describe {
    /// `Filter.N` (each name `known` or a tag filter) and, when `bounds` is given,
    /// `MaxResults`/`NextToken`.
    pub fn parse(p: Params<'_>, known: &[&str], bounds: Option<(i64, i64)>) -> Result<Self> {
        let page = match bounds {
            Some(bounds) => response::page(p, bounds)?,
            None => Page::all(),
        };
        let filters = p.filters()?;
        check_names(&filters, |name| {
            is_tag_filter(name) || known.contains(&name)
        })?;
        Ok(Self { filters, page })
    }

    /// The items every filter accepts (`fields` gives an item's values for a filter
    /// name), this page of them and the next page's token.
    pub async fn select<T: Listed>(
        self,
        account_id: &str,
        items: Vec<T>,
        fields: fn(&T, &str) -> Vec<String>,
    ) -> Result<(Vec<T>, Option<String>)> {
        let selected = select_by_fields(account_id, items, &self.filters, fields, |item: &T| {
            Some(item.tags())
        })
        .await?;
        page_of(self.page, selected)
    }
}

pub(super) fn one(value: &str) -> Vec<String> {
    vec![value.to_string()]
}

pub(super) fn flag(value: bool) -> Vec<String> {
    one(if value { "true" } else { "false" })
}
