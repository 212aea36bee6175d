//! The AWS Query parser (EC2, IAM, STS): `kumo_common::query::QueryRequest::parse`.
//!
//! Input: the URL query string, a `\n`, then the form body (no `\n`: the body alone).
//!
//! Properties: nothing panics; an accepted request has an action, holds no text a Kumo
//! edge refuses (NUL, controls other than TAB/LF/CR, U+FFFE/U+FFFF) and agrees with the
//! `form_urlencoded` crate's decoding of the same bytes (same action, version, parameters).
#![no_main]

use std::collections::BTreeMap;

use kumo_common::query::QueryRequest;
use libfuzzer_sys::fuzz_target;

/// An independent statement of the characters every edge refuses.
fn refused(c: char) -> bool {
    matches!(c, '\0'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{fffe}' | '\u{ffff}')
}

fuzz_target!(|data: &[u8]| {
    let (query, body) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => match std::str::from_utf8(&data[..at]) {
            Ok(query) => (Some(query), &data[at + 1..]),
            Err(_) => (None, data),
        },
        None => (None, data),
    };
    let Ok(request) = QueryRequest::parse(query, body) else {
        return;
    };
    assert!(!request.action.is_empty());
    let texts = std::iter::once(request.action.as_str())
        .chain(request.version.as_deref())
        .chain(
            request
                .params
                .iter()
                .flat_map(|(k, v)| [k.as_str(), v.as_str()]),
        );
    for text in texts {
        assert!(
            !text.chars().any(refused),
            "refused character accepted: {text:?}"
        );
    }

    // Differential: the same bytes through form_urlencoded (lossy, but nothing lossy was
    // accepted above).
    let (mut action, mut version, mut params) = (String::new(), None, BTreeMap::new());
    for source in [query.unwrap_or_default().as_bytes(), body] {
        for (key, value) in form_urlencoded::parse(source) {
            match key.as_ref() {
                "Action" => action = value.into_owned(),
                "Version" => version = Some(value.into_owned()),
                k if k.starts_with("X-Amz-") => {}
                _ => {
                    params.insert(key.into_owned(), value.into_owned());
                }
            }
        }
    }
    assert_eq!(request.action, action);
    assert_eq!(request.version, version);
    assert_eq!(request.params, params);
});
