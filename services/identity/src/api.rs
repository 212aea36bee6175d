//! The native JSON API under `/v1/`. Handlers are thin: extract, call the domain
//! function, encode.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use kumo_auth::jwt::Claims;
use kumo_auth::{AuthMethod, Caller, Role};
use kumo_common::{ApiErrorBody, ValidJson, ValidPath};
use serde::{Deserialize, Serialize};

use crate::access_keys::{self, AccessKey, AccessKeyStatus, NewAccessKey};
use crate::accounts::{self, Account, CreateAccount};
use crate::error::{IdentityError, Result};
use crate::login::{self, LoginRequest, LoginResponse};
use crate::presign::{self, PresignMethod, PresignRequest, PresignedUrl};
use crate::sessions::{self, ChangePassword, Session};
use crate::signing_keys::{self, SigningKeyInfo};
use crate::users::{self, CreateUser, UpdateUser, User};
use crate::Identity;

pub fn router(identity: Identity) -> Router {
    Router::new()
        .route("/v1/login", post(login_handler))
        .route("/v1/logout", post(logout_handler))
        .route("/v1/whoami", get(whoami))
        .route(
            "/v1/session",
            get(sessions::get_session)
                .post(sessions::create_session)
                .delete(sessions::delete_session),
        )
        .route("/v1/session/password", post(sessions::change_password))
        .route("/v1/presign", post(presign::presign_handler))
        .route("/v1/accounts", get(list_accounts).post(create_account))
        .route("/v1/accounts/{account_id}", get(get_account))
        .route("/v1/accounts/{account_id}/disable", post(disable_account))
        .route("/v1/accounts/{account_id}/enable", post(enable_account))
        .route(
            "/v1/accounts/{account_id}/users",
            get(list_users).post(create_user),
        )
        .route(
            "/v1/accounts/{account_id}/users/{user_name}",
            get(get_user).patch(update_user).delete(delete_user),
        )
        .route(
            "/v1/accounts/{account_id}/users/{user_name}/sign-out",
            post(sign_out_user),
        )
        .route(
            "/v1/accounts/{account_id}/users/{user_name}/access-keys",
            get(list_access_keys).post(create_access_key),
        )
        .route(
            "/v1/accounts/{account_id}/users/{user_name}/access-keys/{access_key_id}",
            axum::routing::patch(update_access_key).delete(delete_access_key),
        )
        .route("/v1/signing-keys", get(list_signing_keys))
        .route("/v1/signing-keys/rotate", post(rotate_signing_key))
        .with_state(identity)
}

#[utoipa::path(post, path = "/v1/login", tag = "identity", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ApiErrorBody)))]
async fn login_handler(
    State(identity): State<Identity>,
    ValidJson(request): ValidJson<LoginRequest>,
) -> Result<Json<LoginResponse>> {
    Ok(Json(login::login(&identity, &request).await?))
}

#[utoipa::path(post, path = "/v1/logout", tag = "identity",
    responses((status = 204, description = "the presented token is revoked"),
              (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody)))]
async fn logout_handler(
    State(identity): State<Identity>,
    Caller(_caller): Caller,
    claims: Option<Extension<Claims>>,
) -> Result<StatusCode> {
    let Some(Extension(claims)) = claims else {
        return Err(IdentityError::InvalidInput(
            "logout revokes a bearer token; this request carries none (access keys are deleted or deactivated instead)".into(),
        ));
    };
    login::logout(&identity, &claims).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/accounts/{account_id}/users/{user_name}/sign-out", tag = "identity",
    params(("account_id" = String, Path), ("user_name" = String, Path)),
    responses((status = 204, description = "every token issued to the user so far is revoked"),
              (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn sign_out_user(
    State(identity): State<Identity>,
    Caller(caller): Caller,
    ValidPath((account_id, user_name)): ValidPath<(String, String)>,
) -> Result<StatusCode> {
    users::sign_out_everywhere(&identity.pool, &caller, &account_id, &user_name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `{"status": "Active" | "Inactive"}`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAccessKey {
    /// `Active` or `Inactive`; an inactive key is refused at once.
    pub status: String,
}

#[utoipa::path(patch, path = "/v1/accounts/{account_id}/users/{user_name}/access-keys/{access_key_id}", tag = "identity",
    request_body = UpdateAccessKey,
    params(("account_id" = String, Path), ("user_name" = String, Path), ("access_key_id" = String, Path)),
    responses((status = 200, body = AccessKey), (status = 400, body = ApiErrorBody),
              (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn update_access_key(
    State(identity): State<Identity>,
    Caller(caller): Caller,
    ValidPath((account_id, user_name, access_key_id)): ValidPath<(String, String, String)>,
    ValidJson(input): ValidJson<UpdateAccessKey>,
) -> Result<Json<AccessKey>> {
    Ok(Json(
        access_keys::set_status(
            &identity.pool,
            &caller,
            &account_id,
            &user_name,
            &access_key_id,
            AccessKeyStatus::parse(&input.status)?,
        )
        .await?,
    ))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WhoAmI {
    pub account_id: String,
    pub user_id: String,
    pub user_name: String,
    pub role: Role,
    pub arn: String,
    /// `bearer`, `session` (the console's cookie), `sigv4` or `presigned-v2`.
    pub auth_method: String,
}

#[utoipa::path(get, path = "/v1/whoami", tag = "identity",
    responses((status = 200, body = WhoAmI), (status = 401, body = ApiErrorBody)))]
async fn whoami(Caller(caller): Caller) -> Json<WhoAmI> {
    Json(WhoAmI {
        arn: caller.arn(),
        account_id: caller.account_id,
        user_id: caller.user_id,
        user_name: caller.user_name,
        role: caller.role,
        auth_method: match caller.method {
            AuthMethod::Bearer => "bearer".into(),
            AuthMethod::Session => "session".into(),
            AuthMethod::SigV4 { .. } => "sigv4".into(),
            AuthMethod::PresignedV2 { .. } => "presigned-v2".into(),
        },
    })
}

#[utoipa::path(get, path = "/v1/accounts", tag = "identity",
    responses((status = 200, body = Vec<Account>), (status = 401, body = ApiErrorBody)))]
async fn list_accounts(
    State(identity): State<Identity>,
    Caller(caller): Caller,
) -> Result<Json<Vec<Account>>> {
    Ok(Json(accounts::list(&identity.pool, &caller).await?))
}

#[utoipa::path(post, path = "/v1/accounts", tag = "identity", request_body = CreateAccount,
    responses((status = 201, body = Account), (status = 400, body = ApiErrorBody),
              (status = 403, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn create_account(
    State(identity): State<Identity>,
    Caller(caller): Caller,
    ValidJson(input): ValidJson<CreateAccount>,
) -> Result<(StatusCode, Json<Account>)> {
    Ok((
        StatusCode::CREATED,
        Json(accounts::create(&identity.pool, &caller, &input).await?),
    ))
}

#[utoipa::path(get, path = "/v1/accounts/{account_id}", tag = "identity",
    params(("account_id" = String, Path, description = "12-digit account id")),
    responses((status = 200, body = Account), (status = 404, body = ApiErrorBody)))]
async fn get_account(
    State(identity): State<Identity>,
    Caller(caller): Caller,
    ValidPath(account_id): ValidPath<String>,
) -> Result<Json<Account>> {
    Ok(Json(
        accounts::get(&identity.pool, &caller, &account_id).await?,
    ))
}

#[utoipa::path(post, path = "/v1/accounts/{account_id}/disable", tag = "identity",
    params(("account_id" = String, Path, description = "12-digit account id")),
    responses((status = 200, body = Account,
               description = "disabled: its users cannot log in; their tokens and access keys are refused"),
              (status = 400, body = ApiErrorBody), (status = 403, body = ApiErrorBody),
              (status = 404, body = ApiErrorBody)))]
async fn disable_account(
    State(identity): State<Identity>,
    Caller(caller): Caller,
    ValidPath(account_id): ValidPath<String>,
) -> Result<Json<Account>> {
    Ok(Json(
        accounts::set_enabled(&identity.pool, &caller, &account_id, false).await?,
    ))
}

#[utoipa::path(post, path = "/v1/accounts/{account_id}/enable", tag = "identity",
    params(("account_id" = String, Path, description = "12-digit account id")),
    responses((status = 200, body = Account), (status = 400, body = ApiErrorBody),
              (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn enable_account(
    State(identity): State<Identity>,
    Caller(caller): Caller,
    ValidPath(account_id): ValidPath<String>,
) -> Result<Json<Account>> {
    Ok(Json(
        accounts::set_enabled(&identity.pool, &caller, &account_id, true).await?,
    ))
}

#[utoipa::path(get, path = "/v1/accounts/{account_id}/users", tag = "identity",
    params(("account_id" = String, Path, description = "12-digit account id")),
    responses((status = 200, body = Vec<User>), (status = 404, body = ApiErrorBody)))]
async fn list_users(
    State(identity): State<Identity>,
    Caller(caller): Caller,
    ValidPath(account_id): ValidPath<String>,
) -> Result<Json<Vec<User>>> {
    Ok(Json(
        users::list(&identity.pool, &caller, &account_id).await?,
    ))
}

#[utoipa::path(post, path = "/v1/accounts/{account_id}/users", tag = "identity", request_body = CreateUser,
    params(("account_id" = String, Path, description = "12-digit account id")),
    responses((status = 201, body = User), (status = 400, body = ApiErrorBody),
              (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody),
              (status = 409, body = ApiErrorBody)))]
async fn create_user(
    State(identity): State<Identity>,
    Caller(caller): Caller,
    ValidPath(account_id): ValidPath<String>,
    ValidJson(input): ValidJson<CreateUser>,
) -> Result<(StatusCode, Json<User>)> {
    let user = users::create(&identity.pool, &caller, &account_id, &input).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

#[utoipa::path(get, path = "/v1/accounts/{account_id}/users/{user_name}", tag = "identity",
    params(("account_id" = String, Path), ("user_name" = String, Path)),
    responses((status = 200, body = User), (status = 404, body = ApiErrorBody)))]
async fn get_user(
    State(identity): State<Identity>,
    Caller(caller): Caller,
    ValidPath((account_id, user_name)): ValidPath<(String, String)>,
) -> Result<Json<User>> {
    Ok(Json(
        users::get(&identity.pool, &caller, &account_id, &user_name).await?,
    ))
}

#[utoipa::path(patch, path = "/v1/accounts/{account_id}/users/{user_name}", tag = "identity",
    request_body = UpdateUser,
    params(("account_id" = String, Path), ("user_name" = String, Path)),
    responses((status = 200, body = User), (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn update_user(
    State(identity): State<Identity>,
    Caller(caller): Caller,
    ValidPath((account_id, user_name)): ValidPath<(String, String)>,
    ValidJson(input): ValidJson<UpdateUser>,
) -> Result<Json<User>> {
    Ok(Json(
        users::update(&identity.pool, &caller, &account_id, &user_name, &input).await?,
    ))
}

#[utoipa::path(delete, path = "/v1/accounts/{account_id}/users/{user_name}", tag = "identity",
    params(("account_id" = String, Path), ("user_name" = String, Path)),
    responses((status = 204), (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn delete_user(
    State(identity): State<Identity>,
    Caller(caller): Caller,
    ValidPath((account_id, user_name)): ValidPath<(String, String)>,
) -> Result<StatusCode> {
    users::delete(&identity.pool, &caller, &account_id, &user_name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/accounts/{account_id}/users/{user_name}/access-keys", tag = "identity",
    params(("account_id" = String, Path), ("user_name" = String, Path)),
    responses((status = 200, body = Vec<AccessKey>), (status = 404, body = ApiErrorBody)))]
async fn list_access_keys(
    State(identity): State<Identity>,
    Caller(caller): Caller,
    ValidPath((account_id, user_name)): ValidPath<(String, String)>,
) -> Result<Json<Vec<AccessKey>>> {
    Ok(Json(
        access_keys::list(&identity.pool, &caller, &account_id, &user_name).await?,
    ))
}

#[utoipa::path(post, path = "/v1/accounts/{account_id}/users/{user_name}/access-keys", tag = "identity",
    params(("account_id" = String, Path), ("user_name" = String, Path)),
    responses((status = 201, body = NewAccessKey), (status = 403, body = ApiErrorBody),
              (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn create_access_key(
    State(identity): State<Identity>,
    Caller(caller): Caller,
    ValidPath((account_id, user_name)): ValidPath<(String, String)>,
) -> Result<(StatusCode, Json<NewAccessKey>)> {
    let key = access_keys::create(
        &identity.pool,
        &identity.master_key,
        &caller,
        &account_id,
        &user_name,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(key)))
}

#[utoipa::path(delete, path = "/v1/accounts/{account_id}/users/{user_name}/access-keys/{access_key_id}", tag = "identity",
    params(("account_id" = String, Path), ("user_name" = String, Path), ("access_key_id" = String, Path)),
    responses((status = 204), (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn delete_access_key(
    State(identity): State<Identity>,
    Caller(caller): Caller,
    ValidPath((account_id, user_name, access_key_id)): ValidPath<(String, String, String)>,
) -> Result<StatusCode> {
    access_keys::delete(
        &identity.pool,
        &caller,
        &account_id,
        &user_name,
        &access_key_id,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/signing-keys", tag = "identity",
    responses((status = 200, body = Vec<SigningKeyInfo>), (status = 403, body = ApiErrorBody)))]
async fn list_signing_keys(
    State(identity): State<Identity>,
    Caller(caller): Caller,
) -> Result<Json<Vec<SigningKeyInfo>>> {
    Ok(Json(signing_keys::list(&identity.pool, &caller).await?))
}

#[utoipa::path(post, path = "/v1/signing-keys/rotate", tag = "identity",
    responses((status = 200, body = SigningKeyInfo), (status = 403, body = ApiErrorBody)))]
async fn rotate_signing_key(
    State(identity): State<Identity>,
    Caller(caller): Caller,
) -> Result<Json<SigningKeyInfo>> {
    Ok(Json(
        signing_keys::rotate(
            &identity.pool,
            &identity.master_key,
            &caller,
            identity.config.token_ttl,
        )
        .await?,
    ))
}

/// The identity service's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        login_handler, logout_handler, whoami, list_accounts, create_account, get_account,
        disable_account, enable_account, sessions::create_session, sessions::get_session,
        sessions::delete_session, sessions::change_password, presign::presign_handler,
        list_users, create_user, get_user, update_user, delete_user, sign_out_user,
        list_access_keys, create_access_key, update_access_key, delete_access_key,
        list_signing_keys, rotate_signing_key
    ),
    components(schemas(ApiErrorBody, Account, CreateAccount, User, CreateUser, UpdateUser,
        AccessKey, NewAccessKey, UpdateAccessKey, LoginRequest, LoginResponse, WhoAmI,
        SigningKeyInfo, Role, Session, ChangePassword, PresignRequest, PresignMethod,
        PresignedUrl)),
    tags((name = "identity", description = "Accounts, users, roles, access keys, login and the console's sessions"))
)]
pub struct IdentityApi;
