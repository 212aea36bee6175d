//! AWS Query protocol requests (`Action=…&Version=…&…`), as IAM, STS and EC2 use: the
//! parameters come from the form body of a POST or the query string of a GET.

use std::collections::BTreeMap;

use http::StatusCode;

use crate::errors::AwsError;
use crate::text;

/// At most this many parameters in one request: enough for 50 filters of 200 values
/// each (EC2's own limits) and then some; more is refused before any work is done.
pub const MAX_PARAMETERS: usize = 20_000;

/// A parsed AWS Query request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryRequest {
    pub action: String,
    pub version: Option<String>,
    /// Every parameter except `Action`, `Version` and the `X-Amz-*` signing parameters.
    pub params: BTreeMap<String, String>,
}

impl QueryRequest {
    /// Parse from the URL query string and (for POST) the form body. Decoding is strict:
    /// invalid UTF-8 after percent-decoding, NUL and the controls XML cannot hold (see
    /// [`crate::text`]) are refused with `InvalidParameterValue`, never decoded lossily.
    pub fn parse(query: Option<&str>, body: &[u8]) -> Result<Self, AwsError> {
        let mut request = QueryRequest::default();
        let sources = [query.unwrap_or("").as_bytes(), body];
        let mut count = 0usize;
        for source in sources {
            for pair in source.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
                count += 1;
                if count > MAX_PARAMETERS {
                    return Err(AwsError::invalid_parameter_value(format!(
                        "The request has more than {MAX_PARAMETERS} parameters"
                    )));
                }
                let (raw_key, raw_value) = match pair.iter().position(|&b| b == b'=') {
                    Some(at) => (&pair[..at], &pair[at + 1..]),
                    None => (pair, &b""[..]),
                };
                let key = decode_component(raw_key).map_err(|problem| {
                    AwsError::invalid_parameter_value(format!("A parameter name {problem}"))
                })?;
                let value = decode_component(raw_value).map_err(|problem| {
                    AwsError::invalid_parameter_value(format!(
                        "The value for parameter {} {problem}",
                        printable(&key)
                    ))
                })?;
                match key.as_str() {
                    "Action" => request.action = value,
                    "Version" => request.version = Some(value),
                    k if k.starts_with("X-Amz-") => {}
                    _ => {
                        request.params.insert(key, value);
                    }
                }
            }
        }
        if request.action.is_empty() {
            return Err(AwsError::new(
                StatusCode::BAD_REQUEST,
                "MissingAction",
                "The request must contain the parameter Action",
            ));
        }
        Ok(request)
    }

    /// An optional parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// A required parameter, or `MissingParameter`.
    pub fn require(&self, name: &str) -> Result<&str, AwsError> {
        self.get(name)
            .ok_or_else(|| AwsError::missing_parameter(name))
    }
}

/// `application/x-www-form-urlencoded` decoding of one key or value (`+` is a space),
/// strict about UTF-8 and refused characters.
fn decode_component(raw: &[u8]) -> Result<String, text::TextProblem> {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => bytes.push(b' '),
            b'%' => match (
                raw.get(i + 1).copied().and_then(hex),
                raw.get(i + 2).copied().and_then(hex),
            ) {
                (Some(hi), Some(lo)) => {
                    bytes.push(hi << 4 | lo);
                    i += 2;
                }
                // A stray `%` stays literal, as browsers and form_urlencoded do.
                _ => bytes.push(b'%'),
            },
            b => bytes.push(b),
        }
        i += 1;
    }
    let text = String::from_utf8(bytes).map_err(|_| text::TextProblem::InvalidUtf8)?;
    text::check(&text)?;
    Ok(text)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// A parameter name for an error message: refused characters shown escaped, bounded.
fn printable(name: &str) -> String {
    name.chars().take(64).flat_map(char::escape_debug).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_form_body_and_query() {
        let r = QueryRequest::parse(
            Some("Version=2011-06-15"),
            b"Action=GetCallerIdentity&UserName=a%20b",
        )
        .unwrap();
        assert_eq!(r.action, "GetCallerIdentity");
        assert_eq!(r.version.as_deref(), Some("2011-06-15"));
        assert_eq!(r.get("UserName"), Some("a b"));
        assert_eq!(
            QueryRequest::parse(None, b"").unwrap_err().code,
            "MissingAction"
        );
    }

    #[test]
    fn strict_decoding() {
        let r = QueryRequest::parse(None, b"Action=A&K=a+b%2Bc&Empty=&Bare").unwrap();
        assert_eq!(r.get("K"), Some("a b+c"));
        assert_eq!(r.get("Empty"), Some(""));
        assert_eq!(r.get("Bare"), Some(""));
        // A stray % is kept literally, as form_urlencoded does.
        let r = QueryRequest::parse(None, b"Action=A&K=100%&L=%zz").unwrap();
        assert_eq!(r.get("K"), Some("100%"));
        assert_eq!(r.get("L"), Some("%zz"));
        for bad in [
            &b"Action=A&K=a%00b"[..],
            b"Action=A&K=a%01b",
            b"Action=A&K=lossy%FFkey",
            b"Action=A&K%00=v",
            b"Action=A%00",
        ] {
            let err = QueryRequest::parse(None, bad).unwrap_err();
            assert_eq!(err.code, "InvalidParameterValue", "{bad:?}");
        }
        let r = QueryRequest::parse(None, b"Action=A&K=tab%09nl%0A").unwrap();
        assert_eq!(r.get("K"), Some("tab\tnl\n"));
        let many: String = (0..=MAX_PARAMETERS).map(|i| format!("P{i}=x&")).collect();
        let err = QueryRequest::parse(None, format!("Action=A&{many}").as_bytes()).unwrap_err();
        assert_eq!(err.code, "InvalidParameterValue");
    }
}
