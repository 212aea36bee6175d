#![allow(clippy::unwrap_used)]
use std::collections::BTreeMap;

use super::instances::states_with_status;
use super::*;
use crate::ComputeConfig;
use http::{header, StatusCode};
use kumo_auth::{AuthMethod, Role};

/// A service whose database is never reached: these requests fail before it.
fn compute() -> Compute {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .connect_lazy("postgres://nobody@127.0.0.1:1/none")
        .unwrap();
    Compute::new(pool, ComputeConfig::default())
}

fn principal(role: Role) -> Principal {
    Principal {
        account_id: "123456789012".into(),
        user_id: "AIDAEXAMPLE".into(),
        user_name: "alice".into(),
        role,
        method: AuthMethod::Bearer,
    }
}

fn request(action: &str, params: &[(&str, &str)]) -> QueryRequest {
    QueryRequest {
        action: action.into(),
        version: Some("2016-11-15".into()),
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

async fn call(principal: Option<&Principal>, req: QueryRequest) -> (StatusCode, String) {
    let response = dispatch(&compute(), principal, &req).await;
    let status = response.status();
    assert_eq!(response.headers()[header::CONTENT_TYPE], "text/xml");
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn code(body: &str) -> &str {
    let start = body.find("<Code>").unwrap() + 6;
    let end = body.find("</Code>").unwrap();
    &body[start..end]
}

#[tokio::test]
async fn errors_before_any_work() {
    let alice = principal(Role::Admin);
    let reader = principal(Role::Reader);

    let (status, body) = call(None, request("DescribeInstances", &[])).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "AuthFailure");
    assert!(body.contains("<Response><Errors><Error>"));

    let (status, body) = call(Some(&alice), request("LaunchRocket", &[])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "InvalidAction");

    let (status, body) = call(
        Some(&alice),
        request("RunInstances", &[("MinCount", "1"), ("MaxCount", "1")]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "MissingParameter");
    assert!(body.contains("ImageId"));

    let run = [
        ("ImageId", "ami-0123456789abcdef0"),
        ("MinCount", "one"),
        ("MaxCount", "1"),
    ];
    let (_, body) = call(Some(&alice), request("RunInstances", &run)).await;
    assert_eq!(code(&body), "InvalidParameterValue");

    let run = [("ImageId", "ami-0123456789abcdef0"), ("MinCount", "1")];
    let (_, body) = call(Some(&alice), request("RunInstances", &run)).await;
    assert_eq!(code(&body), "MissingParameter");
    assert!(body.contains("MaxCount"));

    let (_, body) = call(
        Some(&alice),
        request(
            "StopInstances",
            &[("InstanceId.1", "i-0123456789abcdef0"), ("Force", "maybe")],
        ),
    )
    .await;
    assert_eq!(code(&body), "InvalidParameterValue");

    let (_, body) = call(Some(&alice), request("StartInstances", &[])).await;
    assert_eq!(code(&body), "MissingParameter");

    let (status, body) = call(
        Some(&alice),
        request(
            "TerminateInstances",
            &[("InstanceId.1", "i-x"), ("DryRun", "true")],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(code(&body), "DryRunOperation");

    let (status, body) = call(
        Some(&reader),
        request(
            "TerminateInstances",
            &[("InstanceId.1", "i-x"), ("DryRun", "true")],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "UnauthorizedOperation");

    let (_, body) = call(
        Some(&alice),
        request(
            "DescribeImages",
            &[("Filter.1.Name", "colour"), ("Filter.1.Value.1", "red")],
        ),
    )
    .await;
    assert_eq!(code(&body), "InvalidParameterValue");

    let (_, body) = call(
        Some(&alice),
        request("DescribeTags", &[("MaxResults", "lots")]),
    )
    .await;
    assert_eq!(code(&body), "InvalidParameterValue");

    let (_, body) = call(
        Some(&reader),
        request(
            "CreateTags",
            &[("ResourceId.1", "i-0123456789abcdef0"), ("Tag.1.Key", "a")],
        ),
    )
    .await;
    assert_eq!(code(&body), "UnauthorizedOperation");

    let (_, body) = call(
        Some(&alice),
        request("CreateTags", &[("ResourceId.1", "i-0123456789abcdef0")]),
    )
    .await;
    assert_eq!(code(&body), "MissingParameter");

    let (_, body) = call(
        Some(&alice),
        request(
            "ModifyInstanceAttribute",
            &[("InstanceId", "i-0123456789abcdef0")],
        ),
    )
    .await;
    assert_eq!(code(&body), "MissingParameter");
}

/// Filter limits are checked while parsing: no database is reached.
#[tokio::test]
async fn filter_limits_before_any_work() {
    let reader = principal(Role::Reader);
    let owned = |pairs: Vec<(String, String)>| QueryRequest {
        action: String::new(),
        version: None,
        params: pairs.into_iter().collect(),
    };
    let actions = [
        "DescribeInstances",
        "DescribeImages",
        "DescribeKeyPairs",
        "DescribeTags",
        "DescribeInstanceStatus",
        "DescribeInstanceTypes",
        "DescribeAvailabilityZones",
        "DescribeRegions",
    ];
    for action in actions {
        let mut many_filters = Vec::new();
        for n in 1..=51 {
            many_filters.push((format!("Filter.{n}.Name"), "tag:Name".to_string()));
            many_filters.push((format!("Filter.{n}.Value.1"), "x".to_string()));
        }
        let mut req = owned(many_filters);
        req.action = action.into();
        let (status, body) = call(Some(&reader), req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{action}");
        assert_eq!(code(&body), "FilterLimitExceeded", "{action}");

        let mut many_values = vec![("Filter.1.Name".to_string(), "tag:Name".to_string())];
        for m in 1..=201 {
            many_values.push((format!("Filter.1.Value.{m}"), "*x*".to_string()));
        }
        let mut req = owned(many_values);
        req.action = action.into();
        let (_, body) = call(Some(&reader), req).await;
        assert_eq!(code(&body), "FilterLimitExceeded", "{action}");

        // The finding: 60,000 stars once overflowed the stack.
        let stars = "*".repeat(60_000);
        let req = request(
            action,
            &[
                ("Filter.1.Name", "instance-id"),
                ("Filter.1.Value.1", &stars),
            ],
        );
        let (status, body) = call(Some(&reader), req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{action}");
        assert_eq!(code(&body), "InvalidParameterValue", "{action}");
        let long_name = "n".repeat(256);
        let req = request(action, &[("Filter.1.Name", &long_name)]);
        let (_, body) = call(Some(&reader), req).await;
        assert_eq!(code(&body), "InvalidParameterValue", "{action}");
    }
    let ids: Vec<(String, String)> = (1..=1001)
        .map(|n| (format!("InstanceId.{n}"), "i-0123456789abcdef0".to_string()))
        .collect();
    let mut req = owned(ids);
    req.action = "DescribeInstances".into();
    let (_, body) = call(Some(&reader), req).await;
    assert_eq!(code(&body), "InvalidParameterValue");
}

/// NUL and control characters in stored fields answer 400 with the field's code before
/// the catalog is reached (the Query edge refuses them too; these are the domain rules).
#[tokio::test]
async fn control_characters_refused_before_any_work() {
    let alice = principal(Role::Admin);
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: [Case; 9] = [
        (
            "CreateTags",
            vec![
                ("ResourceId.1", "i-0123456789abcdef0"),
                ("Tag.1.Key", "k"),
                ("Tag.1.Value", "a\u{1}b"),
            ],
            "InvalidParameterValue",
        ),
        (
            "CreateTags",
            vec![
                ("ResourceId.1", "i-0123456789abcdef0"),
                ("Tag.1.Key", "a\0"),
                ("Tag.1.Value", "v"),
            ],
            "InvalidParameterValue",
        ),
        (
            "CreateTags",
            vec![("ResourceId.1", "i-0123456789abcdef0"), ("Tag.1.Key", "")],
            "InvalidTagKey.Malformed",
        ),
        (
            "CreateTags",
            vec![
                ("ResourceId.1", "i-0123456789abcdef0"),
                ("Tag.1.Key", "aws:x"),
            ],
            "InvalidParameterValue",
        ),
        (
            "ImportKeyPair",
            vec![
                ("KeyName", "k\0"),
                ("PublicKeyMaterial", "c3NoLWVkMjU1MTk="),
            ],
            "InvalidParameterValue",
        ),
        (
            "ImportKeyPair",
            // base64 of "ssh-ed25519 AAAA\0x": a NUL inside the decoded material.
            vec![
                ("KeyName", "k"),
                ("PublicKeyMaterial", "c3NoLWVkMjU1MTkgQUFBQQB4"),
            ],
            "InvalidKeyPair.Format",
        ),
        (
            "RunInstances",
            vec![
                ("ImageId", "ami-0123456789abcdef0"),
                ("MinCount", "1"),
                ("MaxCount", "1"),
                ("ClientToken", "t\0"),
            ],
            "InvalidParameterValue",
        ),
        (
            "DescribeImages",
            vec![("Owner.1", "a\0")],
            "InvalidParameterValue",
        ),
        (
            "RegisterImage",
            vec![("Name", "img"), ("ImageLocation", "/etc/passwd")],
            "InvalidParameterValue",
        ),
    ];
    for (action, params, expected) in cases {
        let (status, body) = call(Some(&alice), request(action, &params)).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{action} {params:?}: {body}"
        );
        assert_eq!(code(&body), expected, "{action} {params:?}");
    }
    // 51 tags on one call.
    let keys: Vec<String> = (1..=51).map(|n| format!("Tag.{n}.Key")).collect();
    let mut params = vec![("ResourceId.1", "i-0123456789abcdef0")];
    params.extend(keys.iter().map(|k| (k.as_str(), "k")));
    let (_, body) = call(Some(&alice), request("CreateTags", &params)).await;
    assert_eq!(code(&body), "TagLimitExceeded");
}

#[tokio::test]
async fn regions_need_no_database() {
    let alice = principal(Role::Admin);
    let (status, body) = call(Some(&alice), request("DescribeRegions", &[])).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(
        "<DescribeRegionsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>"
    ));
    assert!(body.contains("<regionInfo><item><regionName>us-east-1</regionName>"));
    let (_, body) = call(
        Some(&alice),
        request("DescribeRegions", &[("RegionName.1", "eu-west-1")]),
    )
    .await;
    assert!(body.contains("<regionInfo></regionInfo>"));
}

#[test]
fn modify_attribute_forms() {
    let one = |pairs: &[(&str, &str)]| {
        let m: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        modified_attribute(Params::new(&m))
    };
    assert_eq!(
        one(&[("Attribute", "instanceType"), ("Value", "t3.large")]).unwrap(),
        ("instanceType".to_string(), "t3.large".to_string())
    );
    assert_eq!(
        one(&[("DisableApiTermination.Value", "true")]).unwrap(),
        ("disableApiTermination".to_string(), "true".to_string())
    );
    assert_eq!(one(&[("UserData.Value", "aGk=")]).unwrap().0, "userData");
    assert_eq!(
        one(&[("Attribute", "userData")]).unwrap_err().to_aws().code,
        "MissingParameter"
    );
    assert_eq!(
        one(&[
            ("InstanceType.Value", "t3.large"),
            ("UserData.Value", "aGk=")
        ])
        .unwrap_err()
        .to_aws()
        .code,
        "InvalidParameterCombination"
    );
    assert_eq!(
        one(&[("GroupId.1", "sg-1")]).unwrap_err().to_aws().code,
        "InvalidGroupId.Malformed"
    );
    assert_eq!(
        one(&[
            ("GroupId.1", "sg-0123456789abcdef0"),
            ("GroupId.2", "sg-0123456789abcdef1")
        ])
        .unwrap(),
        (
            "groupSet".to_string(),
            "sg-0123456789abcdef0 sg-0123456789abcdef1".to_string()
        )
    );
    assert_eq!(
        one(&[("BlockDeviceMapping.1.DeviceName", "/dev/xvda")])
            .unwrap_err()
            .to_aws()
            .code,
        "UnsupportedOperation"
    );
}

#[test]
fn status_filters_map_to_states() {
    assert_eq!(states_with_status(&["ok".into()], false), vec!["running"]);
    assert_eq!(
        states_with_status(&["not-applicable".into()], false).len(),
        5
    );
    assert_eq!(
        states_with_status(&["passed".into()], true),
        vec!["running"]
    );
    assert!(states_with_status(&["impaired".into()], false).is_empty());
}
