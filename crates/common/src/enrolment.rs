//! What compute hosts and storage nodes share when they enrol: the operator-issued join
//! token, and the rules for an agent's name.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// An operator-issued token that lets agents enrol (any number of them, until it expires).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JoinToken {
    pub join_token: String,
    pub expires_at: DateTime<Utc>,
}

/// An agent's name: 1 to 64 letters, digits, '-', '_' or '.'.
pub fn is_valid_agent_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}
