//! EC2's tag rules, the same for every resource and every action that sets tags
//! (CreateTags, a create action's TagSpecification, the native API).

use kumo_common::text;

use crate::error::{Result, TagError};

/// At most this many tags on one resource (`TagLimitExceeded`).
pub const MAX_TAGS: usize = 50;
/// Tag keys: 1 to 128 characters, not starting with `aws:`.
pub const MAX_KEY_CHARS: usize = 128;
/// Tag values: 0 to 256 characters.
pub const MAX_VALUE_CHARS: usize = 256;

pub(crate) fn too_many() -> TagError {
    TagError::Invalid(
        "TagLimitExceeded",
        format!("The maximum number of Tags for a resource has been reached: at most {MAX_TAGS}"),
    )
}

/// No NUL or control characters, at most `max` characters (`InvalidParameterValue`).
fn field(field: &str, value: &str, max: usize) -> Result<()> {
    text::check_parameter(field, value, max).map_err(TagError::invalid)
}

/// A tag key's rules (also for DeleteTags' keys).
pub fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(TagError::Invalid(
            "InvalidTagKey.Malformed",
            "The specified tag key is not valid: tag keys cannot be empty".into(),
        ));
    }
    field("Tag.Key", key, MAX_KEY_CHARS)?;
    if key.starts_with("aws:") {
        return Err(TagError::invalid(format!(
            "Value ( {key} ) for parameter key is invalid. Tag keys starting with 'aws:' are reserved for internal use"
        )));
    }
    Ok(())
}

/// Tags to set: valid keys and values, at most [`MAX_TAGS`].
pub fn validate(tags: &[(String, String)]) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(too_many());
    }
    for (key, value) in tags {
        validate_key(key)?;
        field("Tag.Value", value, MAX_VALUE_CHARS)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn code(result: Result<()>) -> &'static str {
        match result.unwrap_err() {
            TagError::Invalid(code, _) => code,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rules() {
        let tag = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        assert!(validate(&tag("Name", "")).is_ok());
        assert!(validate(&tag(&"k".repeat(128), &"v".repeat(256))).is_ok());
        assert_eq!(
            code(validate(&tag(&"k".repeat(129), ""))),
            "InvalidParameterValue"
        );
        assert_eq!(
            code(validate(&tag("k", &"v".repeat(257)))),
            "InvalidParameterValue"
        );
        assert_eq!(code(validate(&tag("", "v"))), "InvalidTagKey.Malformed");
        assert_eq!(code(validate(&tag("aws:x", "v"))), "InvalidParameterValue");
        assert_eq!(code(validate(&tag("a\0", "v"))), "InvalidParameterValue");
        assert_eq!(code(validate(&tag("a", "b\u{1}"))), "InvalidParameterValue");
        let many: Vec<(String, String)> = (0..51).map(|n| (n.to_string(), String::new())).collect();
        assert_eq!(code(validate(&many)), "TagLimitExceeded");
        assert!(validate(&many[..50]).is_ok());
    }
}
