//! Error rendering at the edge. Each crate has its own error type; it maps itself once to
//! a [`JsonError`] (native API) and once to an [`AwsError`] (AWS APIs). This module turns
//! those into HTTP responses with the exact wire shapes clients parse.

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};
use serde::Serialize;

use crate::request_id::current_request_id;
use crate::xml::XmlWriter;

/// The body of every native-API error: `{"error": {"code", "message"}, "request_id"}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApiErrorBody {
    pub error: ApiErrorDetail,
    pub request_id: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApiErrorDetail {
    /// A stable machine-readable code, e.g. `NotFound`, `InvalidInput`.
    pub code: String,
    pub message: String,
}

/// A native-API error: HTTP status, stable code and human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl JsonError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidInput", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NotFound", message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized", message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden", message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "Conflict", message)
    }
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "internal error; the request id identifies it in the logs",
        )
    }
    /// The catalog cannot answer now (503; clients retry).
    pub fn catalog_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "the catalog is unavailable; retry shortly",
        )
    }
}

impl IntoResponse for JsonError {
    fn into_response(self) -> Response {
        let body = ApiErrorBody {
            error: ApiErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
            request_id: current_request_id(),
        };
        (self.status, axum::Json(body)).into_response()
    }
}

/// Which AWS wire shape an error takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsErrorFormat {
    /// `<ErrorResponse xmlns=…><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>`
    /// as IAM and STS answer.
    Query { xmlns: &'static str },
    /// `<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>` (EC2).
    Ec2,
    /// `<Error><Code/><Message/><Resource/><RequestId/></Error>` (S3).
    S3,
}

pub const IAM_XMLNS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
pub const STS_XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

impl AwsErrorFormat {
    /// The format for a SigV4 credential-scope service name.
    pub fn for_service(service: &str) -> Self {
        match service {
            "ec2" => AwsErrorFormat::Ec2,
            "s3" => AwsErrorFormat::S3,
            "iam" => AwsErrorFormat::Query { xmlns: IAM_XMLNS },
            _ => AwsErrorFormat::Query { xmlns: STS_XMLNS },
        }
    }
}

/// An AWS-protocol error: status, AWS error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// `Sender` (client's fault) or `Receiver` (ours); only the Query shape carries it.
    pub sender_fault: bool,
    /// S3 names the resource (bucket/key) the error concerns.
    pub resource: Option<String>,
    /// S3 also names it in elements of their own (`BucketName`, `Key`, `UploadId`).
    pub names: Vec<(&'static str, String)>,
}

impl AwsError {
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            sender_fault: status.is_client_error(),
            resource: None,
            names: Vec::new(),
        }
    }
    pub fn invalid_parameter_value(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidParameterValue", message)
    }
    pub fn missing_parameter(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MissingParameter",
            format!("The request must contain the parameter {name}"),
        )
    }
    pub fn invalid_action(action: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            format!("The action {action} is not valid for this web service."),
        )
    }
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            "The request processing has failed because of an unknown error.",
        )
    }

    /// EC2's code for a temporary server-side failure (503; botocore retries it).
    pub fn ec2_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Unavailable",
            "The server is overloaded and can't handle the request.",
        )
    }

    /// The XML body in the given shape.
    pub fn to_xml(&self, format: AwsErrorFormat, request_id: &str) -> String {
        match format {
            AwsErrorFormat::Query { xmlns } => {
                let mut xml = XmlWriter::document("ErrorResponse", Some(xmlns));
                xml.element("Error", |xml| {
                    xml.text(
                        "Type",
                        if self.sender_fault {
                            "Sender"
                        } else {
                            "Receiver"
                        },
                    )
                    .text("Code", &self.code)
                    .text("Message", &self.message);
                })
                .text("RequestId", request_id);
                xml.finish()
            }
            AwsErrorFormat::Ec2 => {
                let mut xml = XmlWriter::document("Response", None);
                xml.element("Errors", |xml| {
                    xml.element("Error", |xml| {
                        xml.text("Code", &self.code).text("Message", &self.message);
                    });
                })
                .text("RequestID", request_id);
                xml.finish()
            }
            AwsErrorFormat::S3 => {
                let mut xml = XmlWriter::document("Error", None);
                xml.text("Code", &self.code).text("Message", &self.message);
                for (name, value) in &self.names {
                    xml.text(name, value);
                }
                // S3's HostId identifies the serving host; ours is opaque: the request id.
                xml.opt("Resource", self.resource.as_deref())
                    .text("RequestId", request_id)
                    .text("HostId", request_id);
                xml.finish()
            }
        }
    }

    /// The HTTP response in the given shape, carrying the current request id.
    pub fn into_response_as(self, format: AwsErrorFormat) -> Response {
        let request_id = current_request_id();
        let body = self.to_xml(format, &request_id);
        let mut response = (self.status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_shape() {
        let e = AwsError::new(StatusCode::FORBIDDEN, "SignatureDoesNotMatch", "bad <sig>");
        let xml = e.to_xml(AwsErrorFormat::Query { xmlns: STS_XMLNS }, "req-1");
        assert!(xml.contains("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"));
        assert!(xml.contains("<Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>bad &lt;sig&gt;</Message>"));
        assert!(xml.contains("<RequestId>req-1</RequestId>"));
    }

    #[test]
    fn ec2_shape() {
        let e = AwsError::invalid_parameter_value("x");
        let xml = e.to_xml(AwsErrorFormat::Ec2, "r");
        assert!(xml.contains("<Response><Errors><Error><Code>InvalidParameterValue</Code>"));
        assert!(xml.contains("<RequestID>r</RequestID>"));
    }

    #[test]
    fn s3_shape() {
        let mut e = AwsError::new(StatusCode::NOT_FOUND, "NoSuchBucket", "gone");
        e.resource = Some("/b".into());
        e.names.push(("BucketName", "b".into()));
        let xml = e.to_xml(AwsErrorFormat::S3, "r");
        assert!(xml.contains("<Error><Code>NoSuchBucket</Code><Message>gone</Message><BucketName>b</BucketName><Resource>/b</Resource><RequestId>r</RequestId><HostId>r</HostId></Error>"));
    }
}
