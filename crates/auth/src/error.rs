//! Authentication failures and their wire shapes.
//!
//! One error type serves both protocols: the native API answers with [`JsonError`], the AWS
//! APIs with the exact code and status each AWS service uses for the same failure, because
//! SDKs branch on those codes (e.g. botocore retries `RequestTimeTooSkewed` after fixing its
//! clock offset, and treats `InvalidClientTokenId` as a credentials problem). A failing
//! credential store (the catalog is unreachable) answers 503 in each service's code for a
//! temporary failure, which SDKs retry.

use http::StatusCode;
use kumo_common::{AwsError, AwsErrorFormat, JsonError};

use crate::StoreError;

/// Why a request could not be authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The Authorization header or presigned query is malformed or lacks a part.
    #[error("incomplete signature: {0}")]
    IncompleteSignature(String),
    /// The access key id is not known (or is deactivated).
    #[error("unknown access key")]
    UnknownAccessKey,
    /// The signature does not match the one we computed.
    #[error("signature does not match")]
    SignatureDoesNotMatch,
    /// The request time is too far from ours, or a presigned URL has expired.
    #[error("request expired: {0}")]
    RequestExpired(String),
    /// A bearer token that is malformed, signed by an unknown key, or forged.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// A bearer token whose `exp` has passed.
    #[error("token expired")]
    ExpiredToken,
    /// A well-signed bearer token that no longer counts: logged out, signed out everywhere,
    /// its user deleted, disabled or changed (role, password).
    #[error("token revoked: {0}")]
    RevokedToken(String),
    /// The credential scope names a region this endpoint does not serve.
    #[error("the region '{region}' is wrong; expecting '{expected}'")]
    WrongRegion { region: String, expected: String },
    /// A SigV2 presigned URL that would stay valid longer than seven days.
    #[error("presigned URL valid too long: {0}")]
    PresignedTooLong(String),
    /// A signed body larger than the layer will buffer to hash.
    #[error("request body too large to verify")]
    BodyTooLarge,
    /// The body could not be read (client went away, framing error).
    #[error("request body could not be read: {0}")]
    IncompleteBody(String),
    /// The credential store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

const INVALID_CLIENT_TOKEN_ID: &str = "The security token included in the request is invalid.";
const QUERY_SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
const S3_SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your key and signing method.";
const EC2_AUTH_FAILURE: &str = "AWS was not able to validate the provided access credentials";
const S3_UNKNOWN_KEY: &str = "The AWS Access Key Id you provided does not exist in our records.";
const S3_SKEWED: &str =
    "The difference between the request time and the current time is too large.";
const TOO_LARGE: &str = "Request body is larger than the limit for signed requests.";

/// What IAM, STS and EC2 answer for a credential scoped to a region they do not serve.
fn wrong_region(region: &str) -> String {
    format!("Credential should be scoped to a valid region, not '{region}'. ")
}

impl AuthError {
    /// The AWS error for this failure, in the codes and statuses of the service family
    /// `format` stands for. `presigned` selects S3's query-string variants.
    pub fn to_aws(&self, format: AwsErrorFormat, presigned: bool) -> AwsError {
        use AuthError as E;
        let s = |status: StatusCode, code: &str, message: &str| {
            AwsError::new(status, code, message.to_string())
        };
        match format {
            AwsErrorFormat::S3 => match self {
                E::IncompleteSignature(m) if presigned => s(
                    StatusCode::BAD_REQUEST,
                    "AuthorizationQueryParametersError",
                    m,
                ),
                E::IncompleteSignature(m) => s(
                    StatusCode::BAD_REQUEST,
                    "AuthorizationHeaderMalformed",
                    &format!("The authorization header is malformed; {m}"),
                ),
                E::UnknownAccessKey => {
                    s(StatusCode::FORBIDDEN, "InvalidAccessKeyId", S3_UNKNOWN_KEY)
                }
                E::SignatureDoesNotMatch => s(
                    StatusCode::FORBIDDEN,
                    "SignatureDoesNotMatch",
                    S3_SIGNATURE_MISMATCH,
                ),
                E::RequestExpired(_) if presigned => {
                    s(StatusCode::FORBIDDEN, "AccessDenied", "Request has expired")
                }
                E::RequestExpired(_) => s(StatusCode::FORBIDDEN, "RequestTimeTooSkewed", S3_SKEWED),
                E::InvalidToken(m) => s(StatusCode::BAD_REQUEST, "InvalidToken", m),
                E::ExpiredToken => s(
                    StatusCode::BAD_REQUEST,
                    "ExpiredToken",
                    "The provided token has expired.",
                ),
                E::RevokedToken(m) => s(StatusCode::BAD_REQUEST, "InvalidToken", m),
                E::WrongRegion { region, expected } if presigned => s(
                    StatusCode::BAD_REQUEST,
                    "AuthorizationQueryParametersError",
                    &format!("Error parsing the X-Amz-Credential parameter; the region '{region}' is wrong; expecting '{expected}'"),
                ),
                E::WrongRegion { region, expected } => s(
                    StatusCode::BAD_REQUEST,
                    "AuthorizationHeaderMalformed",
                    &format!("The authorization header is malformed; the region '{region}' is wrong; expecting '{expected}'"),
                ),
                E::PresignedTooLong(m) => s(StatusCode::FORBIDDEN, "AccessDenied", m),
                E::BodyTooLarge => s(StatusCode::BAD_REQUEST, "EntityTooLarge", TOO_LARGE),
                E::IncompleteBody(m) => s(StatusCode::BAD_REQUEST, "IncompleteBody", m),
                E::Store(_) => s(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "Service is unable to handle request.",
                ),
            },
            AwsErrorFormat::Ec2 => match self {
                E::IncompleteSignature(m) => s(StatusCode::BAD_REQUEST, "IncompleteSignature", m),
                E::UnknownAccessKey
                | E::SignatureDoesNotMatch
                | E::InvalidToken(_)
                | E::RevokedToken(_) => {
                    s(StatusCode::UNAUTHORIZED, "AuthFailure", EC2_AUTH_FAILURE)
                }
                E::WrongRegion { region, .. } => s(
                    StatusCode::UNAUTHORIZED,
                    "AuthFailure",
                    &wrong_region(region),
                ),
                E::PresignedTooLong(m) => s(StatusCode::BAD_REQUEST, "RequestExpired", m),
                E::RequestExpired(m) => s(StatusCode::BAD_REQUEST, "RequestExpired", m),
                E::ExpiredToken => s(
                    StatusCode::BAD_REQUEST,
                    "RequestExpired",
                    "The security token included in the request is expired",
                ),
                E::BodyTooLarge => s(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "RequestEntityTooLarge",
                    TOO_LARGE,
                ),
                E::IncompleteBody(m) => s(StatusCode::BAD_REQUEST, "IncompleteBody", m),
                E::Store(_) => s(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Unavailable",
                    "The server is overloaded and can't handle the request.",
                ),
            },
            AwsErrorFormat::Query { .. } => match self {
                E::IncompleteSignature(m) => s(StatusCode::BAD_REQUEST, "IncompleteSignature", m),
                E::UnknownAccessKey | E::InvalidToken(_) | E::RevokedToken(_) => s(
                    StatusCode::FORBIDDEN,
                    "InvalidClientTokenId",
                    INVALID_CLIENT_TOKEN_ID,
                ),
                E::WrongRegion { region, .. } => s(
                    StatusCode::FORBIDDEN,
                    "SignatureDoesNotMatch",
                    &wrong_region(region),
                ),
                E::PresignedTooLong(m) => s(StatusCode::BAD_REQUEST, "RequestExpired", m),
                E::SignatureDoesNotMatch => s(
                    StatusCode::FORBIDDEN,
                    "SignatureDoesNotMatch",
                    QUERY_SIGNATURE_MISMATCH,
                ),
                E::RequestExpired(m) => s(StatusCode::BAD_REQUEST, "RequestExpired", m),
                E::ExpiredToken => s(
                    StatusCode::FORBIDDEN,
                    "ExpiredToken",
                    "The security token included in the request is expired",
                ),
                E::BodyTooLarge => s(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "RequestEntityTooLarge",
                    TOO_LARGE,
                ),
                E::IncompleteBody(m) => s(StatusCode::BAD_REQUEST, "IncompleteBody", m),
                E::Store(_) => s(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "The request has failed due to a temporary failure of the server.",
                ),
            },
        }
    }

    /// The native-API error for this failure.
    pub fn to_json(&self) -> JsonError {
        use AuthError as E;
        match self {
            E::InvalidToken(m) => {
                JsonError::new(StatusCode::UNAUTHORIZED, "InvalidToken", m.clone())
            }
            E::ExpiredToken => JsonError::new(
                StatusCode::UNAUTHORIZED,
                "ExpiredToken",
                "the bearer token has expired; log in again",
            ),
            E::RevokedToken(m) => JsonError::new(
                StatusCode::UNAUTHORIZED,
                "RevokedToken",
                format!("the bearer token has been revoked ({m}); log in again"),
            ),
            E::WrongRegion { region, .. } => JsonError::new(
                StatusCode::UNAUTHORIZED,
                "SignatureDoesNotMatch",
                wrong_region(region),
            ),
            E::PresignedTooLong(m) => {
                JsonError::new(StatusCode::FORBIDDEN, "AccessDenied", m.clone())
            }
            E::IncompleteSignature(m) => {
                JsonError::new(StatusCode::BAD_REQUEST, "IncompleteSignature", m.clone())
            }
            E::UnknownAccessKey => JsonError::new(
                StatusCode::UNAUTHORIZED,
                "InvalidClientTokenId",
                INVALID_CLIENT_TOKEN_ID,
            ),
            E::SignatureDoesNotMatch => JsonError::new(
                StatusCode::UNAUTHORIZED,
                "SignatureDoesNotMatch",
                QUERY_SIGNATURE_MISMATCH,
            ),
            E::RequestExpired(m) => {
                JsonError::new(StatusCode::UNAUTHORIZED, "RequestExpired", m.clone())
            }
            E::BodyTooLarge => {
                JsonError::new(StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLarge", TOO_LARGE)
            }
            E::IncompleteBody(m) => JsonError::bad_request(m.clone()),
            E::Store(_) => JsonError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "credentials cannot be checked right now; retry shortly",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kumo_common::AwsErrorFormat as F;

    fn code(e: AuthError, service: &str, presigned: bool) -> (u16, String) {
        let a = e.to_aws(F::for_service(service), presigned);
        (a.status.as_u16(), a.code)
    }

    #[test]
    fn query_services() {
        for svc in ["sts", "iam"] {
            assert_eq!(
                code(AuthError::IncompleteSignature("x".into()), svc, false),
                (400, "IncompleteSignature".into())
            );
            assert_eq!(
                code(AuthError::UnknownAccessKey, svc, false),
                (403, "InvalidClientTokenId".into())
            );
            assert_eq!(
                code(AuthError::SignatureDoesNotMatch, svc, false),
                (403, "SignatureDoesNotMatch".into())
            );
            assert_eq!(
                code(AuthError::RequestExpired("x".into()), svc, true),
                (400, "RequestExpired".into())
            );
            assert_eq!(
                code(AuthError::Store(StoreError("db".into())), svc, false),
                (503, "ServiceUnavailable".into())
            );
            assert_eq!(
                code(AuthError::BodyTooLarge, svc, false),
                (413, "RequestEntityTooLarge".into())
            );
        }
        let e = AuthError::UnknownAccessKey.to_aws(F::for_service("sts"), false);
        assert_eq!(e.message, INVALID_CLIENT_TOKEN_ID);
        let e = AuthError::SignatureDoesNotMatch.to_aws(F::for_service("iam"), false);
        assert_eq!(e.message, QUERY_SIGNATURE_MISMATCH);
    }

    #[test]
    fn ec2() {
        assert_eq!(
            code(AuthError::IncompleteSignature("x".into()), "ec2", false),
            (400, "IncompleteSignature".into())
        );
        assert_eq!(
            code(AuthError::UnknownAccessKey, "ec2", false),
            (401, "AuthFailure".into())
        );
        assert_eq!(
            code(AuthError::SignatureDoesNotMatch, "ec2", false),
            (401, "AuthFailure".into())
        );
        assert_eq!(
            code(AuthError::RequestExpired("x".into()), "ec2", false),
            (400, "RequestExpired".into())
        );
    }

    #[test]
    fn s3() {
        assert_eq!(
            code(AuthError::IncompleteSignature("x".into()), "s3", false),
            (400, "AuthorizationHeaderMalformed".into())
        );
        assert_eq!(
            code(AuthError::IncompleteSignature("x".into()), "s3", true),
            (400, "AuthorizationQueryParametersError".into())
        );
        assert_eq!(
            code(AuthError::UnknownAccessKey, "s3", false),
            (403, "InvalidAccessKeyId".into())
        );
        assert_eq!(
            code(AuthError::SignatureDoesNotMatch, "s3", true),
            (403, "SignatureDoesNotMatch".into())
        );
        assert_eq!(
            code(AuthError::RequestExpired("x".into()), "s3", false),
            (403, "RequestTimeTooSkewed".into())
        );
        let e = AuthError::RequestExpired("x".into()).to_aws(F::S3, true);
        assert_eq!(
            (e.status.as_u16(), e.code.as_str(), e.message.as_str()),
            (403, "AccessDenied", "Request has expired")
        );
    }

    #[test]
    fn json() {
        assert_eq!(
            AuthError::InvalidToken("bad".into()).to_json().status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            AuthError::InvalidToken("bad".into()).to_json().code,
            "InvalidToken"
        );
        assert_eq!(AuthError::ExpiredToken.to_json().code, "ExpiredToken");
        assert_eq!(
            AuthError::ExpiredToken.to_json().status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            AuthError::Store(StoreError("x".into())).to_json().status,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
