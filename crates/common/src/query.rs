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
            for pair in text::form_pairs(source) {
                count += 1;
                if count > MAX_PARAMETERS {
                    return Err(AwsError::invalid_parameter_value(format!(
                        "The request has more than {MAX_PARAMETERS} parameters"
                    )));
                }
                let (key, value) = pair.map_err(|refused| {
                    AwsError::invalid_parameter_value(match refused.name {
                        None => format!("A parameter name {}", refused.problem),
                        Some(name) => format!(
                            "The value for parameter {} {}",
                            printable(&name),
                            refused.problem
                        ),
                    })
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
