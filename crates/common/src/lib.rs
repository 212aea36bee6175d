//! Edge plumbing shared by every Kumo service: request ids, error rendering in the
//! native JSON shape and in the AWS wire shapes (Query/IAM/STS, EC2, S3), validated
//! extractors that turn bad input into clear 4xx answers, and AWS-style id generation.

pub mod digest;
pub mod enrolment;
pub mod errors;
pub mod extract;
pub mod fs;
pub mod host;
pub mod ids;
pub mod query;
pub mod request_id;
pub mod service;
pub mod text;
pub mod xml;

pub use enrolment::JoinToken;
pub use errors::{ApiErrorBody, AwsError, AwsErrorFormat, JsonError};
pub use extract::{ValidJson, ValidPath, ValidQuery};
pub use query::QueryRequest;
pub use request_id::{current_request_id, request_id_middleware, RequestId, REQUEST_ID_HEADER};
