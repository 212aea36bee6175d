//! The trailing headers of an aws-chunked body, and where they appear once it ended.

use std::sync::{Arc, Mutex};

/// The trailing headers of a body, names lowercased, without `x-amz-trailer-signature`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trailers {
    pub(super) headers: Vec<(String, String)>,
}

impl Trailers {
    /// The value of a trailing header (name in any case).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }

    pub fn len(&self) -> usize {
        self.headers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }
}

/// Where the trailers appear once the decoded stream has ended successfully.
#[derive(Debug, Clone, Default)]
pub struct TrailerHandle {
    trailers: Arc<Mutex<Option<Trailers>>>,
}

impl TrailerHandle {
    /// The trailers, `None` until the stream has ended without error.
    pub fn trailers(&self) -> Option<Trailers> {
        self.slot().clone()
    }

    /// One trailer's value, `None` if absent or the stream has not ended successfully.
    pub fn get(&self, name: &str) -> Option<String> {
        self.slot()
            .as_ref()
            .and_then(|trailers| trailers.get(name))
            .map(str::to_string)
    }

    pub(super) fn set(&self, trailers: Trailers) {
        *self.slot() = Some(trailers);
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Trailers>> {
        // Nothing can panic while the lock is held; a poisoned lock still holds valid data.
        self.trailers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// `name:value` → (lowercased name, trimmed value). Names must be HTTP tokens.
pub(super) fn parse_trailer_line(line: &[u8]) -> Option<(String, String)> {
    let line = std::str::from_utf8(line).ok()?;
    let (name, value) = line.split_once(':')?;
    let name = name.trim();
    let is_token_char = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(is_token_char) {
        return None;
    }
    let value = value.trim();
    if value.bytes().any(|b| b.is_ascii_control()) {
        return None;
    }
    Some((name.to_ascii_lowercase(), value.to_string()))
}
