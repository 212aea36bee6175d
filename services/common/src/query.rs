//! AWS Query protocol requests (`Action=…&Version=…&…`), as IAM, STS and EC2 use: the
//! parameters come from the form body of a POST or the query string of a GET.

use std::collections::BTreeMap;

use http::StatusCode;

use crate::errors::AwsError;

/// A parsed AWS Query request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryRequest {
    pub action: String,
    pub version: Option<String>,
    /// Every parameter except `Action`, `Version` and the `X-Amz-*` signing parameters.
    pub params: BTreeMap<String, String>,
}

impl QueryRequest {
    /// Parse from the URL query string and (for POST) the form body.
    pub fn parse(query: Option<&str>, body: &[u8]) -> Result<Self, AwsError> {
        let mut request = QueryRequest::default();
        let sources = [query.unwrap_or("").as_bytes(), body];
        for source in sources {
            for (key, value) in form_urlencoded::parse(source) {
                match key.as_ref() {
                    "Action" => request.action = value.into_owned(),
                    "Version" => request.version = Some(value.into_owned()),
                    k if k.starts_with("X-Amz-") => {}
                    _ => {
                        request.params.insert(key.into_owned(), value.into_owned());
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
}
