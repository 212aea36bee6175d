//! Field rules for every string that reaches the catalog from the EC2 facade or the native
//! API. Both APIs call the same domain functions, which call these: the control-character
//! refusal of the edges (`kumo_common::text`) is repeated here so that no caller of the
//! domain functions can bypass it.

use kumo_common::text;

use crate::error::{ComputeError, Result};

/// Longest ImportKeyPair public key line, in bytes (an RSA-16384 key is ~2.8 KiB).
pub const MAX_PUBLIC_KEY_BYTES: usize = 16 * 1024;
/// Longest image or key-pair description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 255;
/// Longest RunInstances `ClientToken` (ASCII).
pub const MAX_CLIENT_TOKEN: usize = 64;

/// No NUL or control characters (TAB/LF/CR aside), at most `max` characters; else
/// `code` with a message naming `field`.
pub fn text(code: &'static str, field: &str, value: &str, max: usize) -> Result<()> {
    text::check_parameter(field, value, max).map_err(|message| ComputeError::Invalid(code, message))
}

/// [`text`] with `InvalidParameterValue`.
pub fn field(field: &str, value: &str, max: usize) -> Result<()> {
    text("InvalidParameterValue", field, value, max)
}

/// A `ClientToken`: 1 to 64 printable ASCII characters.
pub fn client_token(token: &str) -> Result<()> {
    let ok = !token.is_empty()
        && token.len() <= MAX_CLIENT_TOKEN
        && token.bytes().all(|b| (0x20..0x7f).contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ComputeError::invalid(format!(
            "ClientToken must be 1 to {MAX_CLIENT_TOKEN} printable ASCII characters"
        )))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn rules() {
        assert!(field("Description", "fine\ttext", 10).is_ok());
        let nul = field("Description", "a\0", 10).unwrap_err().to_aws();
        assert_eq!(nul.code, "InvalidParameterValue");
        assert!(nul.message.contains("NUL"));
        assert!(field("Description", "a\u{1}b", 10).is_err());
        assert!(field("Description", &"é".repeat(11), 10).is_err());
        assert!(field("Description", &"é".repeat(10), 10).is_ok());
        assert!(client_token("abc-123").is_ok());
        assert!(client_token("").is_err());
        assert!(client_token("a\u{1}").is_err());
        assert!(client_token(&"a".repeat(65)).is_err());
        assert!(client_token("é").is_err());
        assert!(kumo_common::ids::is_account_id("123456789012"));
        assert!(!kumo_common::ids::is_account_id("12345678901x"));
    }
}
