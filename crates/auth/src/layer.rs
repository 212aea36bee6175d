//! The tower layer that authenticates every request.
//!
//! It runs before routing so that every handler sees the same, already-verified
//! [`Principal`]. Apply it to the outermost router: the signature covers the path as the
//! client sent it (the layer prefers axum's `OriginalUri` when a router has rewritten it).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use http::request::Parts;
use http::{header, Request, Version};
use http_body_util::BodyExt;
use kumo_common::{AwsErrorFormat, JsonError};
use tower::{Layer, Service};

use crate::sigv4::{self, CanonicalInput, ParsedSignature};
use crate::{jwt, AuthError, AuthMethod, CredentialStore, Principal};
use crate::{session, sigv2};

/// The region `kumo up` writes into the AWS profile and every service reports.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Limits, regions and clock of the layer.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Largest body buffered to check a non-S3 signature (S3 bodies stream and are checked
    /// by the S3 service as they arrive).
    pub max_signed_body_bytes: usize,
    /// How far a signed request's time may be from ours, either way.
    pub max_clock_skew: Duration,
    /// The clock; tests inject a fixed one.
    pub now: fn() -> DateTime<Utc>,
    /// The regions this endpoint serves: a SigV4 credential scoped to any other is refused
    /// (the first one is named in the error as the one expected).
    pub regions: Vec<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            max_signed_body_bytes: 1024 * 1024,
            max_clock_skew: Duration::from_secs(15 * 60),
            now: Utc::now,
            regions: vec![DEFAULT_REGION.to_string()],
        }
    }
}

/// What a SigV4-authenticated request was signed with, for handlers that need more than the
/// Principal: the S3 service verifies aws-chunked bodies (chaining from `seed_signature`
/// with `signing_key`) and checks a hex `payload_hash` against the body it streams.
#[derive(Clone, PartialEq, Eq)]
pub struct SigV4Context {
    pub access_key_id: String,
    /// The credential scope's service; a handler should check it is its own.
    pub service: String,
    pub region: String,
    /// `yyyymmdd` of the credential scope.
    pub date: String,
    /// `yyyymmddThhmmssZ` the request was signed at.
    pub amz_date: String,
    pub signing_key: Vec<u8>,
    /// The request's (verified) signature.
    pub seed_signature: String,
    /// What the canonical request carried as payload hash: a hex digest, or one of S3's
    /// `UNSIGNED-PAYLOAD` / `STREAMING-…` markers.
    pub payload_hash: String,
    pub presigned: bool,
}

impl SigV4Context {
    /// `yyyymmdd/region/service/aws4_request`, as chunk signatures need it.
    pub fn scope(&self) -> String {
        sigv4::credential_scope(&self.date, &self.region, &self.service)
    }
}

impl std::fmt::Debug for SigV4Context {
    // The signing key is as good as the secret for a day: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigV4Context")
            .field("access_key_id", &self.access_key_id)
            .field("service", &self.service)
            .field("region", &self.region)
            .field("amz_date", &self.amz_date)
            .field("payload_hash", &self.payload_hash)
            .field("presigned", &self.presigned)
            .finish_non_exhaustive()
    }
}

struct Shared {
    store: Arc<dyn CredentialStore>,
    config: AuthConfig,
}

/// Authenticates requests by Bearer JWT or AWS SigV4 and inserts the [`Principal`] (and for
/// SigV4 a [`SigV4Context`]) into the request extensions.
#[derive(Clone)]
pub struct AuthLayer {
    shared: Arc<Shared>,
}

impl AuthLayer {
    pub fn new(store: Arc<dyn CredentialStore>) -> Self {
        Self::with_config(store, AuthConfig::default())
    }

    pub fn with_config(store: Arc<dyn CredentialStore>, config: AuthConfig) -> Self {
        Self {
            shared: Arc::new(Shared { store, config }),
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service [`AuthLayer`] wraps around the router.
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Service<Request<Body>> for AuthService<S>
where
    S: Service<Request<Body>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        // The clone that was polled ready is the one that must be called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        Box::pin(async move {
            match authenticate(&shared, req).await {
                Ok(req) => inner.call(req).await,
                Err(response) => Ok(response),
            }
        })
    }
}

/// The request with its Principal attached, or the response refusing it.
async fn authenticate(shared: &Shared, req: Request<Body>) -> Result<Request<Body>, Response> {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    match authorization {
        Some(value) => {
            if let Some(token) = bearer_token(&value) {
                let token = token.to_string();
                bearer(shared, req, &token).await
            } else if sigv4::is_sigv4_authorization(&value) {
                sigv4_auth(shared, req, Some(value)).await
            } else if value.starts_with("AWS") {
                // SigV2, SigV4a: clients that speak AWS, so answer in AWS's shape.
                let service = sigv4::service_hint(Some(&value), "");
                Err(aws_reject(
                    AuthError::IncompleteSignature(format!(
                        "Unsupported Authorization Type; only {} is supported",
                        sigv4::ALGORITHM
                    )),
                    service.as_deref(),
                    false,
                    None,
                ))
            } else {
                let e = AuthError::InvalidToken(
                    "unsupported Authorization scheme; use 'Bearer <token>'".into(),
                );
                tracing::debug!(error = %e, "authentication failed");
                Err(e.to_json().into_response())
            }
        }
        None if query_has_algorithm(req.uri().query().unwrap_or("")) => {
            sigv4_auth(shared, req, None).await
        }
        None if sigv2::is_presigned_v2(req.uri().query().unwrap_or("")) => {
            presigned_v2_auth(shared, req).await
        }
        None if session::cookie_applies(req.method(), req.uri().path()) => {
            match session::session_cookie(req.headers()) {
                session::SessionCookie::One(token) => {
                    let token = token.to_string();
                    session_auth(shared, req, &token).await
                }
                session::SessionCookie::Ambiguous => {
                    let e = AuthError::InvalidToken(session::AMBIGUOUS_SESSION_MESSAGE.into());
                    log_failure(&e, None);
                    Err(e.to_json().into_response())
                }
                session::SessionCookie::Absent => Ok(req),
            }
        }
        None => Ok(req),
    }
}

/// An S3 presigned URL in the SigV2 form (what `aws s3 presign` makes by default).
async fn presigned_v2_auth(
    shared: &Shared,
    mut req: Request<Body>,
) -> Result<Request<Body>, Response> {
    let reject = |e: AuthError, akid: Option<&str>| aws_reject(e, Some("s3"), true, akid);
    let query = req.uri().query().unwrap_or("").to_string();
    let path = req.uri().path().to_string();
    let parsed = sigv2::parse(&query).ok_or_else(|| {
        reject(
            AuthError::IncompleteSignature(
                "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters".into(),
            ),
            None,
        )
    })?;
    let akid = Some(parsed.access_key_id.as_str());
    let now = (shared.config.now)().timestamp();
    if now > parsed.expires {
        return Err(reject(
            AuthError::RequestExpired("the presigned URL has expired".into()),
            akid,
        ));
    }
    // Like SigV4's X-Amz-Expires: at most seven days ahead (plus the allowed clock skew).
    let skew = i64::try_from(shared.config.max_clock_skew.as_secs()).unwrap_or(i64::MAX);
    let latest = now
        .saturating_add(sigv4::MAX_PRESIGNED_EXPIRES as i64)
        .saturating_add(skew);
    if parsed.expires > latest {
        return Err(reject(
            AuthError::PresignedTooLong(format!(
                "Expires must be at most {} seconds (seven days) from now",
                sigv4::MAX_PRESIGNED_EXPIRES
            )),
            akid,
        ));
    }
    let key = shared
        .store
        .access_key(&parsed.access_key_id)
        .await
        .map_err(|e| reject(e.into(), akid))?
        .ok_or_else(|| reject(AuthError::UnknownAccessKey, akid))?;
    let header = |name: &str| {
        req.headers()
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default()
    };
    let amz_headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .filter(|(n, _)| n.as_str().starts_with("x-amz-"))
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    // Path style signs `/bucket/key`; virtual-host style signs `/<bucket from Host>/key`.
    let mut resources = vec![sigv2::canonical_resource(&path, &query)];
    let host = header("host");
    if let Some((bucket, _)) = host.split(':').next().unwrap_or("").split_once('.') {
        resources.push(sigv2::canonical_resource(
            &format!("/{bucket}{path}"),
            &query,
        ));
    }
    let matches = resources.iter().any(|resource| {
        let expected = sigv2::signature(
            &key.secret_access_key,
            &sigv2::string_to_sign(
                req.method().as_str(),
                &header("content-md5"),
                &header("content-type"),
                parsed.expires,
                &amz_headers,
                resource,
            ),
        );
        sigv4::constant_time_eq(expected.as_bytes(), parsed.signature.as_bytes())
    });
    if !matches {
        return Err(reject(AuthError::SignatureDoesNotMatch, akid));
    }
    req.extensions_mut().insert(Principal {
        account_id: key.account_id,
        user_id: key.user_id,
        user_name: key.user_name,
        role: key.role,
        method: AuthMethod::PresignedV2 {
            access_key_id: parsed.access_key_id.clone(),
        },
    });
    Ok(req)
}

fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn query_has_algorithm(query: &str) -> bool {
    query
        .split('&')
        .any(|pair| pair.split('=').next() == Some("X-Amz-Algorithm"))
}

async fn bearer(
    shared: &Shared,
    mut req: Request<Body>,
    token: &str,
) -> Result<Request<Body>, Response> {
    match verify_token(shared, token).await {
        Ok((claims, principal)) => {
            req.extensions_mut().insert(principal);
            // Logout needs the token's id and expiry.
            req.extensions_mut().insert(claims);
            Ok(req)
        }
        Err(e) => {
            log_failure(&e, None);
            Err(e.to_json().into_response())
        }
    }
}

/// The console's session cookie: the same JWT as a Bearer token, refused (401) on the same
/// grounds; a state-changing request must also repeat the session's CSRF token in
/// `X-CSRF-Token` (else 403 `InvalidCsrfToken`).
async fn session_auth(
    shared: &Shared,
    mut req: Request<Body>,
    token: &str,
) -> Result<Request<Body>, Response> {
    let (claims, mut principal) = verify_token(shared, token).await.map_err(|e| {
        log_failure(&e, None);
        e.to_json().into_response()
    })?;
    if session::needs_csrf(req.method()) && !session::csrf_matches(req.headers(), &claims.jti) {
        tracing::debug!(user_name = %principal.user_name, "session request without a valid CSRF token");
        return Err(JsonError::new(
            http::StatusCode::FORBIDDEN,
            session::CSRF_ERROR_CODE,
            session::CSRF_ERROR_MESSAGE,
        )
        .into_response());
    }
    principal.method = AuthMethod::Session;
    req.extensions_mut().insert(principal);
    req.extensions_mut().insert(claims);
    Ok(req)
}

/// A JWT's claims and the caller it stands for, if it is valid and still honoured.
async fn verify_token(shared: &Shared, token: &str) -> Result<(jwt::Claims, Principal), AuthError> {
    let kid = jwt::token_kid(token)?;
    let key = shared.store.jwt_key(&kid).await?.ok_or_else(|| {
        AuthError::InvalidToken("the bearer token's signing key is unknown or retired".into())
    })?;
    let claims = jwt::verify_at(&key, token, (shared.config.now)())?;
    let user = shared.store.user(&claims.sub).await?;
    let principal = current_principal(&claims, user.as_ref())?;
    Ok((claims, principal))
}

/// The caller a verified token stands for, if its user still honours it: the user exists in
/// the token's account, is enabled, is still at the token's generation, has not revoked this
/// token, and holds at least the role the token claims. The principal carries the user's
/// current name and the lesser of the two roles.
pub fn current_principal(
    claims: &jwt::Claims,
    user: Option<&crate::UserStatus>,
) -> Result<Principal, AuthError> {
    let revoked = |why: &str| Err(AuthError::RevokedToken(why.to_string()));
    let Some(user) = user.filter(|u| u.account_id == claims.account && u.user_id == claims.sub)
    else {
        return revoked("its user no longer exists");
    };
    if !user.enabled {
        return revoked("its user is disabled");
    }
    if user.token_generation != claims.generation {
        return revoked(
            "its user signed out everywhere, or its role or password changed since it was issued",
        );
    }
    if user.revoked_tokens.contains(&claims.jti) {
        return revoked("it was logged out");
    }
    if user.role.rank() < claims.role.rank() {
        return revoked("its user's role was lowered since it was issued");
    }
    Ok(Principal {
        account_id: user.account_id.clone(),
        user_id: user.user_id.clone(),
        user_name: user.user_name.clone(),
        role: claims.role.at_most(user.role),
        method: AuthMethod::Bearer,
    })
}

async fn sigv4_auth(
    shared: &Shared,
    req: Request<Body>,
    authorization: Option<String>,
) -> Result<Request<Body>, Response> {
    let presigned = authorization.is_none();
    let (parts, body) = req.into_parts();
    // The URI as the client sent it, even if a router has rewritten it.
    let uri = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map(|u| u.0.clone())
        .unwrap_or_else(|| parts.uri.clone());
    let query = uri.query().unwrap_or("");

    let parsed = match &authorization {
        Some(_) if query_has_algorithm(query) => Err(AuthError::IncompleteSignature(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified".into(),
        )),
        Some(value) => sigv4::parse_authorization(value),
        None => sigv4::parse_presigned(query).and_then(|p| {
            p.ok_or_else(|| AuthError::IncompleteSignature("X-Amz-Algorithm is missing".into()))
        }),
    };
    let parsed = match parsed {
        Ok(p) => p,
        Err(e) => {
            let service = sigv4::service_hint(authorization.as_deref(), query);
            return Err(aws_reject(e, service.as_deref(), presigned, None));
        }
    };
    let service = parsed.credential.service.clone();
    let reject = |e: AuthError| {
        aws_reject(
            e,
            Some(&service),
            presigned,
            Some(&parsed.credential.access_key_id),
        )
    };

    if !shared.config.regions.contains(&parsed.credential.region) {
        return Err(reject(AuthError::WrongRegion {
            region: parsed.credential.region.clone(),
            expected: shared
                .config
                .regions
                .first()
                .cloned()
                .unwrap_or_else(|| DEFAULT_REGION.to_string()),
        }));
    }
    let headers = request_headers(&parts, &parsed);
    let (time, amz_date) = sigv4::request_time(&parsed, &headers).map_err(&reject)?;
    sigv4::check_freshness(
        &parsed,
        time,
        (shared.config.now)(),
        shared.config.max_clock_skew,
    )
    .map_err(&reject)?;
    let s3_payload = if service == "s3" {
        Some(s3_payload_hash(&parsed, &headers).map_err(&reject)?)
    } else {
        None
    };
    let key = shared
        .store
        .access_key(&parsed.credential.access_key_id)
        .await
        .map_err(|e| reject(e.into()))?
        .ok_or_else(|| reject(AuthError::UnknownAccessKey))?;

    // Non-S3 bodies are small API calls whose hash is signed: read, hash, and hand the same
    // bytes on. S3 bodies may be gigabytes; they stream and S3 checks them.
    let (payload_hash, body) = match s3_payload {
        Some(hash) => (hash, body),
        None => {
            let bytes = read_body(body, &parts, shared.config.max_signed_body_bytes)
                .await
                .map_err(&reject)?;
            (sigv4::sha256_hex(&bytes), Body::from(bytes))
        }
    };

    let input = CanonicalInput {
        method: parts.method.as_str(),
        path: uri.path(),
        query,
        headers: &headers,
        payload_hash: &payload_hash,
    };
    let signing_key =
        sigv4::verify(&parsed, &input, &amz_date, &key.secret_access_key).map_err(&reject)?;

    let principal = Principal {
        account_id: key.account_id,
        user_id: key.user_id,
        user_name: key.user_name,
        role: key.role,
        method: AuthMethod::SigV4 {
            access_key_id: parsed.credential.access_key_id.clone(),
            service: service.clone(),
            region: parsed.credential.region.clone(),
        },
    };
    let context = SigV4Context {
        access_key_id: parsed.credential.access_key_id.clone(),
        service: service.clone(),
        region: parsed.credential.region.clone(),
        date: parsed.credential.date.clone(),
        amz_date,
        signing_key: signing_key.to_vec(),
        seed_signature: parsed.signature.clone(),
        payload_hash,
        presigned,
    };
    let mut req = Request::from_parts(parts, body);
    req.extensions_mut().insert(principal);
    req.extensions_mut().insert(context);
    Ok(req)
}

/// The headers the signature needs: the signed ones, plus the date and payload headers, with
/// `host` taken from the Host header (HTTP/1) or the URI authority (HTTP/2, which has none).
fn request_headers(parts: &Parts, parsed: &ParsedSignature) -> Vec<(String, String)> {
    let authority = parts.uri.authority().map(|a| a.as_str().to_string());
    let host_header = parts
        .headers
        .get(header::HOST)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let host = if parts.version >= Version::HTTP_2 {
        authority.or(host_header)
    } else {
        host_header.or(authority)
    };
    let mut out = Vec::new();
    if let Some(host) = host {
        out.push(("host".to_string(), host));
    }
    let extra = ["x-amz-date", "date", "x-amz-content-sha256"];
    let mut seen: Vec<&str> = vec!["host"];
    for name in parsed
        .signed_headers
        .iter()
        .map(String::as_str)
        .chain(extra)
    {
        if seen.contains(&name) {
            continue;
        }
        seen.push(name);
        for value in parts.headers.get_all(name) {
            out.push((
                name.to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            ));
        }
    }
    out
}

/// S3's payload hash: `x-amz-content-sha256` for header signatures; for presigned URLs
/// `X-Amz-Content-Sha256` when the URL pins one, else `UNSIGNED-PAYLOAD`.
fn s3_payload_hash(
    parsed: &ParsedSignature,
    headers: &[(String, String)],
) -> Result<String, AuthError> {
    let value = match &parsed.presigned {
        Some(p) => p
            .content_sha256
            .clone()
            .unwrap_or_else(|| sigv4::UNSIGNED_PAYLOAD.to_string()),
        None => headers
            .iter()
            .find(|(n, _)| n == "x-amz-content-sha256")
            .map(|(_, v)| v.trim().to_string())
            .ok_or_else(|| {
                AuthError::IncompleteSignature(
                    "Missing required header for this request: x-amz-content-sha256".into(),
                )
            })?,
    };
    if !sigv4::is_valid_s3_payload_hash(&value) {
        return Err(AuthError::IncompleteSignature(format!(
            "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a sha256 hex digest, not '{value}'"
        )));
    }
    Ok(lowercase_if_hex(value))
}

/// Hex digests compare case-insensitively; the markers are kept as they are.
fn lowercase_if_hex(value: String) -> String {
    if value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        value.to_ascii_lowercase()
    } else {
        value
    }
}

async fn read_body(body: Body, parts: &Parts, limit: usize) -> Result<Bytes, AuthError> {
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(AuthError::BodyTooLarge);
    }
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(AuthError::BodyTooLarge)
        }
        Err(e) => Err(AuthError::IncompleteBody(format!(
            "the request body could not be read: {e}"
        ))),
    }
}

fn log_failure(error: &AuthError, access_key_id: Option<&str>) {
    match error {
        // Warned once by the catalog's probe when the catalog is lost; not per request.
        AuthError::Store(e) => {
            tracing::debug!(error = %e, "credential store failed during authentication")
        }
        _ => {
            tracing::debug!(access_key_id = access_key_id.unwrap_or("-"), error = %error, "authentication failed")
        }
    }
}

/// An AWS-shaped refusal, in the format of the service the credential names (STS's Query
/// format when it names none we can read).
fn aws_reject(
    error: AuthError,
    service: Option<&str>,
    presigned: bool,
    access_key_id: Option<&str>,
) -> Response {
    log_failure(&error, access_key_id);
    let format = AwsErrorFormat::for_service(service.unwrap_or("sts"));
    error.to_aws(format, presigned).into_response_as(format)
}

#[cfg(test)]
mod tests;
