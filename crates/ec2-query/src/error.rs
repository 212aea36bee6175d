//! The toolkit's one error type. Every variant names the AWS error code it answers with,
//! so a service maps it into its own error without guessing.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DescribeError {
    /// `(AWS code, message)`: a request the client must change, e.g.
    /// `FilterLimitExceeded`, `InvalidParameterValue` or `InvalidNextToken`.
    #[error("{1}")]
    Invalid(&'static str, String),
    /// A required parameter is absent (`MissingParameter`).
    #[error("The request must contain the parameter {0}")]
    Missing(String),
    /// The account has too many costly evaluations in flight (`RequestLimitExceeded`).
    #[error("{0}")]
    Throttled(String),
    /// The evaluation could not run (a task failed); not the client's fault.
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = DescribeError> = std::result::Result<T, E>;

impl DescribeError {
    /// `InvalidParameterValue` with `message`.
    pub fn invalid(message: impl Into<String>) -> Self {
        DescribeError::Invalid("InvalidParameterValue", message.into())
    }

    /// The AWS error code this error answers with.
    pub fn code(&self) -> &'static str {
        match self {
            DescribeError::Invalid(code, _) => code,
            DescribeError::Missing(_) => "MissingParameter",
            DescribeError::Throttled(_) => "RequestLimitExceeded",
            DescribeError::Internal(_) => "InternalError",
        }
    }
}
