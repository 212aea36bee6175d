//! The tag filters every taggable resource answers: `tag:<key>` (the tag `key` exists and
//! its value matches), `tag-key` (any tag's key matches) and `tag-value` (any tag's value
//! matches).

use std::collections::BTreeMap;

use crate::filters::Compiled;

/// A resource's tags, key to value.
pub type Tags = BTreeMap<String, String>;

/// Is `name` one of the tag filters?
pub fn is_tag_filter(name: &str) -> bool {
    name.starts_with("tag:") || name == "tag-key" || name == "tag-value"
}

/// Does a resource with `tags` pass `filter`? `None` when `filter` is not a tag filter.
pub fn matches(filter: &Compiled, tags: &Tags) -> Option<bool> {
    let values = &filter.values;
    if let Some(key) = filter.name.strip_prefix("tag:") {
        return Some(tags.get(key).is_some_and(|v| values.matches(v)));
    }
    match filter.name.as_str() {
        "tag-key" => Some(values.matches_any(tags.keys().map(String::as_str))),
        "tag-value" => Some(values.matches_any(tags.values().map(String::as_str))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::filters::{compile, Filter};

    fn one(name: &str, value: &str) -> Compiled {
        let filter = Filter {
            name: name.into(),
            values: vec![value.into()],
        };
        compile(&[filter]).unwrap().filters.remove(0)
    }

    #[test]
    fn tag_filters() {
        let tags: Tags = [("Name".to_string(), "web-1".to_string())].into();
        assert_eq!(matches(&one("tag:Name", "web-*"), &tags), Some(true));
        assert_eq!(matches(&one("tag:Name", "db"), &tags), Some(false));
        assert_eq!(matches(&one("tag:Team", "*"), &tags), Some(false));
        assert_eq!(matches(&one("tag-key", "Na?e"), &tags), Some(true));
        assert_eq!(matches(&one("tag-value", "web-1"), &tags), Some(true));
        assert_eq!(matches(&one("tag-value", "x"), &Tags::new()), Some(false));
        assert_eq!(matches(&one("instance-id", "i-1"), &tags), None);
        assert!(is_tag_filter("tag:x") && is_tag_filter("tag-key") && !is_tag_filter("key"));
    }
}
