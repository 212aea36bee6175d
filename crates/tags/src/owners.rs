//! Which service owns which resource ids. Tags live in one store, but whether `vpc-…` or
//! `i-…` exists in the caller's account only its service knows: each service implements
//! [`TaggableResources`] for the id prefixes it owns, and the composition root registers
//! them in [`ResourceOwners`], which CreateTags and DeleteTags ask before writing.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::error::{Result, TagError};

/// EC2's resource type of every taggable id prefix (DescribeTags' `resourceType`, the
/// `resource-type` filter), whoever owns it.
const RESOURCE_TYPES: &[(&str, &str)] = &[
    ("i", "instance"),
    ("ami", "image"),
    ("key", "key-pair"),
    ("vpc", "vpc"),
    ("subnet", "subnet"),
    ("sg", "security-group"),
    ("sgr", "security-group-rule"),
    ("igw", "internet-gateway"),
    ("rtb", "route-table"),
    ("acl", "network-acl"),
    ("eni", "network-interface"),
    ("eipalloc", "elastic-ip"),
    ("dopt", "dhcp-options"),
    ("nat", "natgateway"),
    ("vol", "volume"),
    ("snap", "snapshot"),
];

/// The EC2 resource type of an id, from its prefix (`unknown` for none of EC2's).
pub fn resource_type(resource_id: &str) -> &'static str {
    let prefix = resource_id.split('-').next().unwrap_or_default();
    RESOURCE_TYPES
        .iter()
        .find(|(p, _)| *p == prefix)
        .map_or("unknown", |(_, t)| t)
}

/// A service's answer about the resource ids it owns.
#[async_trait::async_trait]
pub trait TaggableResources: Send + Sync {
    /// The id prefixes this service owns (`"vpc"` for `vpc-…`).
    fn prefixes(&self) -> &'static [&'static str];

    /// Which of `ids` (all with one of [`Self::prefixes`]) are resources of `account_id`.
    /// Another account's resource is not among them.
    async fn existing(&self, account_id: &str, ids: &[String]) -> Result<BTreeSet<String>>;

    /// The error AWS answers for an id of this service's that is not among the account's
    /// resources: its malformed-id code, or its not-found code
    /// (`InvalidInstanceID.NotFound`, `InvalidVpcID.NotFound`, …).
    fn not_found(&self, id: &str) -> TagError;
}

/// Every service's [`TaggableResources`], in the order they were registered.
#[derive(Clone, Default)]
pub struct ResourceOwners {
    owners: Vec<Arc<dyn TaggableResources>>,
}

impl ResourceOwners {
    /// These owners and `owner`.
    pub fn with(mut self, owner: Arc<dyn TaggableResources>) -> Self {
        self.owners.push(owner);
        self
    }

    /// The index of the service that owns ids like `resource_id`.
    fn owner_of(&self, resource_id: &str) -> Option<usize> {
        let prefix = resource_id.split('-').next().unwrap_or_default();
        self.owners
            .iter()
            .position(|owner| owner.prefixes().contains(&prefix))
    }

    /// Every id must be a resource of the account. The first offending id, in the
    /// request's order, answers: `InvalidID` when no service owns its kind, else its
    /// service's [`TaggableResources::not_found`].
    pub async fn check(&self, account_id: &str, resource_ids: &[String]) -> Result<()> {
        let mut asked: Vec<Vec<String>> = vec![Vec::new(); self.owners.len()];
        for id in resource_ids {
            if let Some(index) = self.owner_of(id) {
                asked[index].push(id.clone());
            }
        }
        let mut found = BTreeSet::new();
        for (owner, ids) in self.owners.iter().zip(&asked) {
            if !ids.is_empty() {
                found.extend(owner.existing(account_id, ids).await?);
            }
        }
        for id in resource_ids {
            match self.owner_of(id) {
                None => {
                    return Err(TagError::Invalid(
                        "InvalidID",
                        format!("The ID '{id}' is not valid"),
                    ))
                }
                Some(index) if !found.contains(id) => return Err(self.owners[index].not_found(id)),
                Some(_) => {}
            }
        }
        Ok(())
    }
}

impl std::fmt::Debug for ResourceOwners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let prefixes: Vec<&[&str]> = self.owners.iter().map(|o| o.prefixes()).collect();
        f.debug_struct("ResourceOwners")
            .field("prefixes", &prefixes)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    struct Fixed(&'static [&'static str], &'static [&'static str]);

    #[async_trait::async_trait]
    impl TaggableResources for Fixed {
        fn prefixes(&self) -> &'static [&'static str] {
            self.0
        }
        async fn existing(&self, _: &str, ids: &[String]) -> Result<BTreeSet<String>> {
            Ok(ids
                .iter()
                .filter(|id| self.1.contains(&id.as_str()))
                .cloned()
                .collect())
        }
        fn not_found(&self, id: &str) -> TagError {
            TagError::NotFound("Test.NotFound", id.to_string())
        }
    }

    fn code(result: Result<()>) -> (&'static str, String) {
        match result.unwrap_err() {
            TagError::Invalid(code, m) | TagError::NotFound(code, m) => (code, m),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn first_offending_id_answers() {
        let owners = ResourceOwners::default()
            .with(Arc::new(Fixed(&["i", "ami"], &["i-1", "ami-1"])))
            .with(Arc::new(Fixed(&["vpc"], &["vpc-1"])));
        let ids = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        owners
            .check("a", &ids(&["i-1", "vpc-1", "ami-1"]))
            .await
            .unwrap();
        assert_eq!(
            code(owners.check("a", &ids(&["i-1", "vpc-2", "foo"])).await),
            ("Test.NotFound", "vpc-2".into())
        );
        assert_eq!(
            code(owners.check("a", &ids(&["foo", "vpc-2"])).await),
            ("InvalidID", "The ID 'foo' is not valid".into())
        );
        assert_eq!(
            code(owners.check("a", &ids(&["vol-1"])).await).0,
            "InvalidID"
        );
    }

    #[test]
    fn resource_types() {
        assert_eq!(resource_type("i-0123"), "instance");
        assert_eq!(resource_type("eipalloc-1"), "elastic-ip");
        assert_eq!(resource_type("sgr-1"), "security-group-rule");
        assert_eq!(resource_type("sg-1"), "security-group");
        assert_eq!(resource_type("nothing"), "unknown");
    }
}
