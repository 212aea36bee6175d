//! The tag store's one error type. Every variant names the AWS error code it answers with;
//! each service maps it into its own error (`From<TagError>`), code and message unchanged.

#[derive(Debug, thiserror::Error)]
pub enum TagError {
    /// `(EC2 code, message)`: `TagLimitExceeded`, `InvalidTagKey.Malformed`, `InvalidID`,
    /// `InvalidParameterValue`, a malformed id's code …
    #[error("{1}")]
    Invalid(&'static str, String),
    /// A required parameter is absent (`MissingParameter`).
    #[error("The request must contain the parameter {0}")]
    Missing(String),
    /// `(EC2 code, message)`: the resource is not in the caller's account, e.g.
    /// `("InvalidVpcID.NotFound", "The vpc ID 'vpc-…' does not exist")`.
    #[error("{1}")]
    NotFound(&'static str, String),
    /// The account has too many costly evaluations in flight (`RequestLimitExceeded`).
    #[error("{0}")]
    Throttled(String),
    /// Not the client's fault (a filter task failed, a service could not answer).
    #[error("{0}")]
    Internal(String),
    #[error("catalog error: {0}")]
    Database(#[from] sqlx::Error),
}

pub type Result<T, E = TagError> = std::result::Result<T, E>;

impl TagError {
    /// `InvalidParameterValue` with `message`.
    pub fn invalid(message: impl Into<String>) -> Self {
        TagError::Invalid("InvalidParameterValue", message.into())
    }
}

impl From<kumo_ec2_query::DescribeError> for TagError {
    fn from(error: kumo_ec2_query::DescribeError) -> Self {
        use kumo_ec2_query::DescribeError;
        match error {
            DescribeError::Invalid(code, message) => TagError::Invalid(code, message),
            DescribeError::Missing(name) => TagError::Missing(name),
            DescribeError::Throttled(message) => TagError::Throttled(message),
            DescribeError::Internal(message) => TagError::Internal(message),
        }
    }
}

impl From<kumo_common::ids::MalformedId> for TagError {
    fn from(error: kumo_common::ids::MalformedId) -> Self {
        TagError::Invalid(error.code, error.to_string())
    }
}
