//! `MaxResults` and `NextToken`. A token carries the sort key of the last item returned
//! (keyset paging), never an offset: rows inserted or deleted between two calls move no
//! other row across the cursor, so a page never repeats or skips a row that was there
//! throughout. Tokens are opaque to clients (base64url of a small JSON document) and
//! checked on the way in (`InvalidNextToken`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{DescribeError, Result};

/// One describe call's page request, parsed before any work is done.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    max: Option<usize>,
    /// The sort key of the previous page's last item (still undecoded: its type is the
    /// describer's).
    after: Option<serde_json::Value>,
}

/// The token's document: `{"after": <sort key>}`.
#[derive(Serialize, serde::Deserialize)]
struct Token<K> {
    after: K,
}

fn invalid_token() -> DescribeError {
    DescribeError::Invalid("InvalidNextToken", "The specified token is invalid".into())
}

impl Page {
    /// `MaxResults` within `bounds` (inclusive; else `InvalidParameterValue`) and the
    /// `NextToken` of an earlier page (an empty token is no token).
    pub fn parse(
        max_results: Option<i64>,
        next_token: Option<&str>,
        bounds: (i64, i64),
    ) -> Result<Self> {
        if let Some(max) = max_results {
            if max < bounds.0 || max > bounds.1 {
                return Err(DescribeError::invalid(format!(
                    "Value ( {max} ) for parameter maxResults is invalid. Expecting a value between {} and {}.",
                    bounds.0, bounds.1
                )));
            }
        }
        let after = match next_token.filter(|t| !t.is_empty()) {
            Some(token) => {
                let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid_token())?;
                let token: Token<serde_json::Value> =
                    serde_json::from_slice(&bytes).map_err(|_| invalid_token())?;
                Some(token.after)
            }
            None => None,
        };
        Ok(Self {
            max: max_results.map(|m| m.max(0) as usize),
            after,
        })
    }

    /// Every item on one page, no token.
    pub fn all() -> Self {
        Self {
            max: None,
            after: None,
        }
    }

    /// This page of `items` and the token for the next when more follow. `key` is each
    /// item's sort key, unique per item; the items are returned in key order.
    pub fn apply<T, K>(
        self,
        mut items: Vec<T>,
        key: impl Fn(&T) -> K,
    ) -> Result<(Vec<T>, Option<String>)>
    where
        K: Ord + Serialize + DeserializeOwned,
    {
        let after: Option<K> = match self.after {
            Some(value) => Some(serde_json::from_value(value).map_err(|_| invalid_token())?),
            None => None,
        };
        items.sort_by_cached_key(|item| key(item));
        let mut rest = items.into_iter().skip_while(|item| match &after {
            Some(after) => key(item) <= *after,
            None => false,
        });
        let page: Vec<T> = rest.by_ref().take(self.max.unwrap_or(usize::MAX)).collect();
        let next = match (rest.next(), page.last()) {
            (Some(_), Some(last)) => Some(encode(&key(last))?),
            _ => None,
        };
        Ok((page, next))
    }
}

fn encode<K: Serialize>(key: &K) -> Result<String> {
    let json = serde_json::to_vec(&Token { after: key })
        .map_err(|e| DescribeError::Internal(format!("page token: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

#[cfg(test)]
mod tests;
