//! EC2 Query parameters: scalars parsed strictly, and the flattened lists EC2 uses
//! (`InstanceId.1`, `Filter.1.Name` + `Filter.1.Value.1`, `Tag.1.Key`,
//! `TagSpecification.1.ResourceType` + `TagSpecification.1.Tag.1.Key`).

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{DescribeError, Result};
use crate::filters::{self, Filter};

/// A view over one request's parameters.
#[derive(Debug, Clone, Copy)]
pub struct Params<'a> {
    params: &'a BTreeMap<String, String>,
}

/// One `TagSpecification.N`: the resource type and its tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagSpecification {
    pub resource_type: String,
    pub tags: Vec<(String, String)>,
}

impl<'a> Params<'a> {
    pub fn new(params: &'a BTreeMap<String, String>) -> Self {
        Self { params }
    }

    /// An optional string.
    pub fn string(&self, name: &str) -> Option<&'a str> {
        self.params.get(name).map(String::as_str)
    }

    /// A required string (`MissingParameter` when absent).
    pub fn required(&self, name: &str) -> Result<&'a str> {
        self.string(name)
            .ok_or_else(|| DescribeError::Missing(name.to_string()))
    }

    /// An optional integer (`InvalidParameterValue` when not one).
    pub fn int(&self, name: &str) -> Result<Option<i64>> {
        match self.string(name) {
            None => Ok(None),
            Some(text) => text.trim().parse::<i64>().map(Some).map_err(|_| {
                DescribeError::invalid(format!(
                    "Invalid value '{text}' for {name}. Expecting an integer."
                ))
            }),
        }
    }

    /// A required integer.
    pub fn required_int(&self, name: &str) -> Result<i64> {
        self.int(name)?
            .ok_or_else(|| DescribeError::Missing(name.to_string()))
    }

    /// An optional boolean: `true` or `false` (any case).
    pub fn bool(&self, name: &str) -> Result<Option<bool>> {
        match self.string(name) {
            None => Ok(None),
            Some(text) => match text.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(Some(true)),
                "false" => Ok(Some(false)),
                _ => Err(DescribeError::invalid(format!(
                    "Invalid value '{text}' for {name}. Expecting a boolean (true or false)."
                ))),
            },
        }
    }

    /// The indices `N` of `{prefix}.N` and `{prefix}.N.…` parameters, ascending.
    pub fn indices(&self, prefix: &str) -> Vec<u32> {
        let dotted = format!("{prefix}.");
        let mut found = BTreeSet::new();
        for key in self.params.range(dotted.clone()..).map(|(k, _)| k) {
            let Some(rest) = key.strip_prefix(&dotted) else {
                break;
            };
            let index = rest.split('.').next().unwrap_or("");
            if let Ok(n) = index.parse::<u32>() {
                if n >= 1 && !index.starts_with('+') {
                    found.insert(n);
                }
            }
        }
        found.into_iter().collect()
    }

    /// A flattened list of strings: the values of `{prefix}.1`, `{prefix}.2`, … in index
    /// order; at most [`filters::MAX_IDS`] of them, each at most 255 characters.
    pub fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let indices = self.indices(prefix);
        if indices.len() > filters::MAX_IDS {
            return Err(DescribeError::invalid(format!(
                "The maximum number of {prefix} values on a single call is {}",
                filters::MAX_IDS
            )));
        }
        let list: Vec<String> = indices
            .into_iter()
            .filter_map(|n| self.string(&format!("{prefix}.{n}")).map(str::to_string))
            .collect();
        filters::check_ids(prefix, &list)?;
        Ok(list)
    }

    /// `Filter.N.Name` with `Filter.N.Value.M`, within the limits (at most
    /// [`filters::MAX_FILTERS`] filters of at most [`filters::MAX_FILTER_VALUES`] values:
    /// `FilterLimitExceeded`; names and values of at most 255 characters), checked before
    /// any value is copied.
    pub fn filters(&self) -> Result<Vec<Filter>> {
        let indices = self.indices("Filter");
        if indices.len() > filters::MAX_FILTERS {
            return Err(filters::too_many_filters());
        }
        let mut out = Vec::with_capacity(indices.len());
        for n in indices {
            let name = self.required(&format!("Filter.{n}.Name"))?.to_string();
            let prefix = format!("Filter.{n}.Value");
            let value_indices = self.indices(&prefix);
            if value_indices.len() > filters::MAX_FILTER_VALUES {
                return Err(filters::too_many_values());
            }
            let values = value_indices
                .into_iter()
                .filter_map(|m| self.string(&format!("{prefix}.{m}")).map(str::to_string))
                .collect();
            out.push(Filter { name, values });
        }
        filters::check_limits(&out)?;
        Ok(out)
    }

    /// `{prefix}.N.Key` with an optional `{prefix}.N.Value` (as CreateTags/DeleteTags name them).
    pub fn tags(&self, prefix: &str) -> Result<Vec<(String, Option<String>)>> {
        self.indices(prefix)
            .into_iter()
            .map(|n| {
                let key = self.required(&format!("{prefix}.{n}.Key"))?.to_string();
                let value = self
                    .string(&format!("{prefix}.{n}.Value"))
                    .map(str::to_string);
                Ok((key, value))
            })
            .collect()
    }

    /// `TagSpecification.N.ResourceType` with `TagSpecification.N.Tag.M.Key/Value`; a
    /// missing value is the empty string, as in EC2.
    pub fn tag_specifications(&self) -> Result<Vec<TagSpecification>> {
        self.indices("TagSpecification")
            .into_iter()
            .map(|n| {
                let resource_type = self
                    .required(&format!("TagSpecification.{n}.ResourceType"))?
                    .to_string();
                let tags = self
                    .tags(&format!("TagSpecification.{n}.Tag"))?
                    .into_iter()
                    .map(|(k, v)| (k, v.unwrap_or_default()))
                    .collect();
                Ok(TagSpecification {
                    resource_type,
                    tags,
                })
            })
            .collect()
    }

    /// The tags of the specifications for `resource_type`; any other type outside
    /// `also_allowed` is an error (`InvalidParameterValue`).
    pub fn tags_for(
        &self,
        resource_type: &str,
        also_allowed: &[&str],
    ) -> Result<Vec<(String, String)>> {
        let mut tags = Vec::new();
        for spec in self.tag_specifications()? {
            if spec.resource_type == resource_type {
                tags.extend(spec.tags);
            } else if !also_allowed.contains(&spec.resource_type.as_str()) {
                return Err(DescribeError::invalid(format!(
                    "'{}' is not a valid taggable resource type for this operation.",
                    spec.resource_type
                )));
            }
        }
        Ok(tags)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn indexed_lists_follow_numeric_order() {
        let m = map(&[
            ("InstanceId.1", "i-1"),
            ("InstanceId.10", "i-10"),
            ("InstanceId.2", "i-2"),
            ("InstanceIdx.3", "no"),
            ("InstanceId.x", "no"),
            ("InstanceId.0", "no"),
        ]);
        let p = Params::new(&m);
        assert_eq!(p.list("InstanceId").unwrap(), vec!["i-1", "i-2", "i-10"]);
        assert!(p.list("KeyName").unwrap().is_empty());
    }

    #[test]
    fn scalars_parse_strictly() {
        let m = map(&[
            ("MinCount", "2"),
            ("MaxCount", "two"),
            ("DryRun", "TRUE"),
            ("Force", "yes"),
        ]);
        let p = Params::new(&m);
        assert_eq!(p.int("MinCount").unwrap(), Some(2));
        assert_eq!(p.int("Nothing").unwrap(), None);
        let bad = p.int("MaxCount").unwrap_err();
        assert_eq!(bad.code(), "InvalidParameterValue");
        assert_eq!(p.bool("DryRun").unwrap(), Some(true));
        assert_eq!(p.bool("Force").unwrap_err().code(), "InvalidParameterValue");
        let missing = p.required_int("Count").unwrap_err();
        assert_eq!(missing.code(), "MissingParameter");
        assert!(missing.to_string().contains("Count"));
        assert_eq!(
            p.required("ImageId").unwrap_err().code(),
            "MissingParameter"
        );
    }

    #[test]
    fn filters_with_values() {
        let m = map(&[
            ("Filter.1.Name", "instance-state-name"),
            ("Filter.1.Value.1", "running"),
            ("Filter.1.Value.2", "stopped"),
            ("Filter.2.Name", "tag:Name"),
            ("Filter.2.Value.1", "web*"),
        ]);
        let filters = Params::new(&m).filters().unwrap();
        assert_eq!(filters.len(), 2);
        assert_eq!(filters[0].name, "instance-state-name");
        assert_eq!(filters[0].values, vec!["running", "stopped"]);
        assert_eq!(filters[1].name, "tag:Name");
        assert_eq!(filters[1].values, vec!["web*"]);

        let nameless = map(&[("Filter.1.Value.1", "x")]);
        let err = Params::new(&nameless).filters().unwrap_err();
        assert_eq!(err.code(), "MissingParameter");
        assert!(err.to_string().contains("Filter.1.Name"));
    }

    #[test]
    fn tags_and_specifications() {
        let m = map(&[
            ("Tag.1.Key", "Name"),
            ("Tag.1.Value", "web"),
            ("Tag.2.Key", "empty"),
            ("TagSpecification.1.ResourceType", "instance"),
            ("TagSpecification.1.Tag.1.Key", "Name"),
            ("TagSpecification.1.Tag.1.Value", "web"),
            ("TagSpecification.1.Tag.2.Key", "team"),
            ("TagSpecification.2.ResourceType", "volume"),
            ("TagSpecification.2.Tag.1.Key", "v"),
            ("TagSpecification.2.Tag.1.Value", "1"),
        ]);
        let p = Params::new(&m);
        assert_eq!(
            p.tags("Tag").unwrap(),
            vec![
                ("Name".to_string(), Some("web".to_string())),
                ("empty".to_string(), None)
            ]
        );
        let specs = p.tag_specifications().unwrap();
        assert_eq!(specs.len(), 2);
        assert_eq!(specs[0].resource_type, "instance");
        assert_eq!(
            specs[0].tags,
            vec![
                ("Name".to_string(), "web".to_string()),
                ("team".to_string(), String::new())
            ]
        );
        assert_eq!(specs[1].resource_type, "volume");
        assert_eq!(p.tags_for("instance", &["volume"]).unwrap().len(), 2);
        assert_eq!(
            p.tags_for("instance", &[]).unwrap_err().code(),
            "InvalidParameterValue"
        );

        let keyless = map(&[("Tag.1.Value", "x")]);
        assert_eq!(
            Params::new(&keyless).tags("Tag").unwrap_err().code(),
            "MissingParameter"
        );
        let typeless = map(&[("TagSpecification.1.Tag.1.Key", "x")]);
        assert_eq!(
            Params::new(&typeless)
                .tag_specifications()
                .unwrap_err()
                .code(),
            "MissingParameter"
        );
    }
}
