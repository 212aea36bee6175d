//! Native routes: `/v1/security-groups` and their rules. Handlers are thin.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use kumo_auth::Caller;
use kumo_common::{ApiErrorBody, ValidJson, ValidPath, ValidQuery};
use kumo_ec2_query::{Filter, Page};
use serde::{Deserialize, Serialize};

use super::{CreateSecurityGroup, DescribeGroups, SecurityGroup};
use crate::error::Result;
use crate::security_group_rules::{self, DescribeRules, RuleSpec, SecurityGroupRule};
use crate::tags::Tags;
use crate::Network;

pub fn router(network: Network) -> Router {
    Router::new()
        .route(
            "/v1/security-groups",
            get(list_security_groups).post(create_security_group),
        )
        .route(
            "/v1/security-groups/{group_id}",
            get(get_security_group).delete(delete_security_group),
        )
        .route(
            "/v1/security-groups/{group_id}/rules",
            get(list_rules).post(add_rules),
        )
        .route(
            "/v1/security-groups/{group_id}/rules/{rule_id}",
            put(replace_rule).delete(remove_rule),
        )
        .with_state(network)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListSecurityGroupsQuery {
    /// Only the groups of this VPC.
    pub vpc_id: Option<String>,
    /// Only the groups of this name.
    pub group_name: Option<String>,
    /// Page size (5–1000).
    pub max_results: Option<i64>,
    /// From the previous page's `next_token`.
    pub next_token: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SecurityGroupPage {
    pub security_groups: Vec<SecurityGroup>,
    pub next_token: Option<String>,
}

fn filter(name: &str, value: Option<String>) -> Option<Filter> {
    value.map(|v| Filter {
        name: name.into(),
        values: vec![v],
    })
}

#[utoipa::path(get, path = "/v1/security-groups", tag = "network", params(ListSecurityGroupsQuery),
    responses((status = 200, body = SecurityGroupPage), (status = 400, body = ApiErrorBody)))]
async fn list_security_groups(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidQuery(query): ValidQuery<ListSecurityGroupsQuery>,
) -> Result<Json<SecurityGroupPage>> {
    let describe = DescribeGroups {
        group_ids: Vec::new(),
        group_names: Vec::new(),
        filters: [
            filter("vpc-id", query.vpc_id),
            filter("group-name", query.group_name),
        ]
        .into_iter()
        .flatten()
        .collect(),
        page: Page::parse(query.max_results, query.next_token.as_deref(), (5, 1000))?,
    };
    let (security_groups, next_token) = super::describe(&network.pool, &caller, describe).await?;
    Ok(Json(SecurityGroupPage {
        security_groups,
        next_token,
    }))
}

#[utoipa::path(post, path = "/v1/security-groups", tag = "network", request_body = CreateSecurityGroup,
    responses((status = 201, body = SecurityGroup), (status = 400, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn create_security_group(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidJson(input): ValidJson<CreateSecurityGroup>,
) -> Result<(StatusCode, Json<SecurityGroup>)> {
    let group = super::create(&network, &caller, &input).await?;
    Ok((StatusCode::CREATED, Json(group)))
}

#[utoipa::path(get, path = "/v1/security-groups/{group_id}", tag = "network",
    params(("group_id" = String, Path)),
    responses((status = 200, body = SecurityGroup), (status = 404, body = ApiErrorBody)))]
async fn get_security_group(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(group_id): ValidPath<String>,
) -> Result<Json<SecurityGroup>> {
    Ok(Json(super::get(&network.pool, &caller, &group_id).await?))
}

#[utoipa::path(delete, path = "/v1/security-groups/{group_id}", tag = "network",
    params(("group_id" = String, Path)),
    responses((status = 204), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody),
        (status = 409, body = ApiErrorBody)))]
async fn delete_security_group(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(group_id): ValidPath<String>,
) -> Result<StatusCode> {
    super::delete(&network, &caller, &group_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/security-groups/{group_id}/rules", tag = "network",
    params(("group_id" = String, Path)),
    responses((status = 200, body = [SecurityGroupRule]), (status = 404, body = ApiErrorBody)))]
async fn list_rules(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(group_id): ValidPath<String>,
) -> Result<Json<Vec<SecurityGroupRule>>> {
    let group = super::get(&network.pool, &caller, &group_id).await?;
    Ok(Json(
        group.ingress.into_iter().chain(group.egress).collect(),
    ))
}

/// Which way a rule's traffic goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Ingress,
    Egress,
}

/// Rules to add to a group, all in one direction.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddRules {
    pub direction: Direction,
    pub rules: Vec<RuleSpec>,
    /// Tags for every new rule.
    #[serde(default)]
    pub tags: Tags,
}

#[utoipa::path(post, path = "/v1/security-groups/{group_id}/rules", tag = "network",
    params(("group_id" = String, Path)), request_body = AddRules,
    responses((status = 201, body = [SecurityGroupRule]), (status = 400, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn add_rules(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(group_id): ValidPath<String>,
    ValidJson(input): ValidJson<AddRules>,
) -> Result<(StatusCode, Json<Vec<SecurityGroupRule>>)> {
    let rules = security_group_rules::authorize(
        &network,
        &caller,
        &group_id,
        input.direction == Direction::Egress,
        &input.rules,
        &input.tags,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(rules)))
}

/// The caller's rule `rule_id` of group `group_id`.
async fn one_rule(
    network: &Network,
    caller: &kumo_auth::Principal,
    group_id: &str,
    rule_id: &str,
) -> Result<SecurityGroupRule> {
    let query = DescribeRules {
        rule_ids: vec![rule_id.to_string()],
        filters: vec![Filter {
            name: "group-id".into(),
            values: vec![group_id.to_string()],
        }],
        page: Page::all(),
    };
    let (mut rules, _) = security_group_rules::describe(&network.pool, caller, query).await?;
    rules
        .pop()
        .ok_or_else(|| security_group_rules::rule_not_found(rule_id))
}

#[utoipa::path(put, path = "/v1/security-groups/{group_id}/rules/{rule_id}", tag = "network",
    params(("group_id" = String, Path), ("rule_id" = String, Path)), request_body = RuleSpec,
    responses((status = 200, body = SecurityGroupRule), (status = 400, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn replace_rule(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath((group_id, rule_id)): ValidPath<(String, String)>,
    ValidJson(spec): ValidJson<RuleSpec>,
) -> Result<Json<SecurityGroupRule>> {
    security_group_rules::modify(&network, &caller, &group_id, &[(rule_id.clone(), spec)]).await?;
    Ok(Json(
        one_rule(&network, &caller, &group_id, &rule_id).await?,
    ))
}

#[utoipa::path(delete, path = "/v1/security-groups/{group_id}/rules/{rule_id}", tag = "network",
    params(("group_id" = String, Path), ("rule_id" = String, Path)),
    responses((status = 204), (status = 404, body = ApiErrorBody)))]
async fn remove_rule(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath((group_id, rule_id)): ValidPath<(String, String)>,
) -> Result<StatusCode> {
    let rule = one_rule(&network, &caller, &group_id, &rule_id).await?;
    security_group_rules::revoke(
        &network,
        &caller,
        &group_id,
        rule.is_egress,
        &[],
        &[rule_id],
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list_security_groups, create_security_group, get_security_group, delete_security_group,
        list_rules, add_rules, replace_rule, remove_rule),
    components(schemas(SecurityGroup, SecurityGroupPage, CreateSecurityGroup, SecurityGroupRule,
        RuleSpec, AddRules, Direction)),
    tags((name = "network", description = "VPCs, subnets, route tables, gateways, security groups, network interfaces and addresses"))
)]
pub struct SecurityGroupsApi;
