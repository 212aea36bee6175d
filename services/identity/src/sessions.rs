//! The web console's sessions: the login JWT in an HttpOnly cookie (`kumo_session`, sent
//! only to `/v1/`) and its CSRF token in a cookie the console's scripts read (`kumo_csrf`).
//! The auth layer authenticates the cookie and checks the CSRF header (see
//! [`kumo_auth::session`]); this module signs in, answers who is signed in, signs out and
//! changes the password.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use kumo_auth::jwt::Claims;
use kumo_auth::{session, AuthMethod, Caller, Principal, Role};
use kumo_common::{ApiErrorBody, ValidJson};
use serde::{Deserialize, Serialize};

use crate::error::{IdentityError, Result};
use crate::login::{self, LoginRequest};
use crate::users::{self, UpdateUser};
use crate::{accounts, passwords, Identity};

/// Who is signed in. Never carries the JWT: that stays in the HttpOnly cookie.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Session {
    pub account_id: String,
    pub account_name: String,
    pub user_name: String,
    pub role: Role,
    /// When the session ends; the console then asks to sign in again.
    pub expires_at: DateTime<Utc>,
    /// Repeat as `X-CSRF-Token` on every request that changes something (also in the
    /// `kumo_csrf` cookie).
    pub csrf_token: String,
}

/// `{"current_password": …, "new_password": …}`.
#[derive(Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current_password: String,
    /// 8 to 256 characters.
    pub new_password: String,
}

impl std::fmt::Debug for ChangePassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangePassword").finish_non_exhaustive()
    }
}

async fn describe(identity: &Identity, claims: &Claims, role: Role) -> Result<Session> {
    let account = accounts::fetch(&identity.pool, &claims.account)
        .await?
        .ok_or_else(|| accounts::not_found(&claims.account))?;
    Ok(Session {
        account_id: account.account_id,
        account_name: account.name,
        user_name: claims.name.clone(),
        role,
        expires_at: DateTime::from_timestamp(claims.exp, 0).unwrap_or_else(Utc::now),
        csrf_token: session::csrf_token(&claims.jti),
    })
}

/// Sign in with a password: a fresh token in the cookies.
async fn sign_in(identity: &Identity, request: &LoginRequest) -> Result<Response> {
    let (answer, claims) = login::issue(identity, request).await?;
    let session = describe(identity, &claims, claims.role).await?;
    let max_age = (answer.expires_at - Utc::now()).num_seconds();
    let cookies = session::set_cookies(&answer.token, &claims.jti, max_age);
    Ok(with_cookies(Json(session).into_response(), &cookies))
}

fn with_cookies(mut response: Response, cookies: &[String]) -> Response {
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    // Answers that set credentials are never cached.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn no_token() -> IdentityError {
    IdentityError::InvalidInput(
        "this request carries no session or bearer token (access keys have no session)".into(),
    )
}

#[utoipa::path(post, path = "/v1/session", tag = "identity", request_body = LoginRequest,
    responses((status = 200, body = Session,
               description = "signed in: sets the HttpOnly `kumo_session` cookie (Path=/v1/) and the `kumo_csrf` cookie"),
              (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody)))]
pub(crate) async fn create_session(
    State(identity): State<Identity>,
    ValidJson(request): ValidJson<LoginRequest>,
) -> Result<Response> {
    sign_in(&identity, &request).await
}

#[utoipa::path(get, path = "/v1/session", tag = "identity",
    responses((status = 200, body = Session), (status = 401, body = ApiErrorBody)))]
pub(crate) async fn get_session(
    State(identity): State<Identity>,
    Caller(caller): Caller,
    claims: Option<Extension<Claims>>,
) -> Result<Json<Session>> {
    let Some(Extension(claims)) = claims else {
        return Err(no_token());
    };
    Ok(Json(describe(&identity, &claims, caller.role).await?))
}

#[utoipa::path(delete, path = "/v1/session", tag = "identity",
    responses((status = 204, description = "signed out: the session's token is revoked and both cookies are cleared (a bearer token is left alone: POST /v1/logout revokes those)"),
              (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody)))]
pub(crate) async fn delete_session(
    State(identity): State<Identity>,
    caller: Option<Extension<Principal>>,
    claims: Option<Extension<Claims>>,
) -> Result<Response> {
    let from_cookie = caller.is_some_and(|Extension(c)| c.method == AuthMethod::Session);
    if let (true, Some(Extension(claims))) = (from_cookie, claims) {
        login::logout(&identity, &claims).await?;
    }
    Ok(with_cookies(
        StatusCode::NO_CONTENT.into_response(),
        &session::clear_cookies(),
    ))
}

#[utoipa::path(post, path = "/v1/session/password", tag = "identity", request_body = ChangePassword,
    responses((status = 200, body = Session,
               description = "changed: every earlier token of the user is revoked and fresh cookies are set"),
              (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
              (status = 403, body = ApiErrorBody)))]
pub(crate) async fn change_password(
    State(identity): State<Identity>,
    Caller(caller): Caller,
    claims: Option<Extension<Claims>>,
    ValidJson(input): ValidJson<ChangePassword>,
) -> Result<Response> {
    if claims.is_none() {
        return Err(no_token());
    }
    check_current_password(&identity, &caller, &input.current_password).await?;
    let update = UpdateUser {
        password: Some(input.new_password.clone()),
        ..UpdateUser::default()
    };
    users::update(
        &identity.pool,
        &caller,
        &caller.account_id,
        &caller.user_name,
        &update,
    )
    .await?;
    // The change revoked every token of the user, this one too: sign in again with the
    // new password for fresh cookies.
    let request = LoginRequest {
        account: caller.account_id.clone(),
        user_name: caller.user_name.clone(),
        password: input.new_password,
    };
    sign_in(&identity, &request).await
}

async fn check_current_password(
    identity: &Identity,
    caller: &Principal,
    password: &str,
) -> Result<()> {
    passwords::validate_chars(password)?;
    let row = users::fetch_row(&identity.pool, &caller.account_id, &caller.user_name)
        .await?
        .ok_or_else(|| users::not_found(&caller.account_id, &caller.user_name))?;
    let Some(hash) = row.password_hash else {
        return Err(IdentityError::Forbidden(
            "this user has no password to change".into(),
        ));
    };
    if !passwords::verify_off_thread(password, hash).await? {
        return Err(IdentityError::Forbidden(
            "the current password is not right".into(),
        ));
    }
    Ok(())
}
