#![allow(clippy::unwrap_used)]
//! `GET /v1/overview`: the operator's totals, refused to tenants.

mod common;

use common::{call, tenant, TestCloud};
use reqwest::Method;

#[tokio::test]
async fn operators_see_the_totals_tenants_do_not() {
    let cloud = TestCloud::start().await;
    let op = cloud.operator_token().await;
    let (account_id, admin) = tenant(&cloud, &op, "alpha").await;
    let (status, _) = call(
        &cloud,
        Method::POST,
        &format!("/v1/accounts/{account_id}/disable"),
        &op,
        None,
    )
    .await;
    assert_eq!(status, 200);
    tenant(&cloud, &op, "beta").await;
    for (id, state, used) in [("h-1", "enabled", 2), ("h-2", "draining", 0)] {
        sqlx::query(
            "INSERT INTO compute.hosts (host_id, name, zone, address, token_sha256, vcpus,
                 memory_mib, disk_gib, kinds, vcpus_used, memory_mib_used, state)
             VALUES ($1, $1, 'z', '127.0.0.1', '', 8, 4096, 10, '{container}', $2, $2 * 512, $3)",
        )
        .bind(id)
        .bind(used)
        .bind(state)
        .execute(&cloud.identity.pool)
        .await
        .unwrap();
    }

    let (status, overview) = call(&cloud, Method::GET, "/v1/overview", &op, None).await;
    assert_eq!(status, 200, "{overview}");
    assert_eq!(overview["accounts"]["total"], 3, "{overview}");
    assert_eq!(overview["accounts"]["disabled"], 1);
    assert!(overview["instances_by_state"].is_object());
    assert_eq!(
        overview["hosts_by_state"],
        serde_json::json!({"enabled": 1, "draining": 1})
    );
    assert_eq!(
        overview["compute"],
        serde_json::json!({"vcpus_total": 16, "vcpus_used": 2, "memory_mib_total": 8192, "memory_mib_used": 1024})
    );
    for field in [
        "nodes",
        "used_bytes",
        "capacity_bytes",
        "objects",
        "object_bytes",
    ] {
        assert_eq!(overview["object_storage"][field], 0, "{field}");
    }
    assert_eq!(overview["volumes"]["count"], 0);
    assert_eq!(overview["volumes"]["size_gib"], 0);

    let beta = cloud.login("beta", "admin", "correct-horse").await;
    let (status, body) = call(&cloud, Method::GET, "/v1/overview", &beta, None).await;
    assert_eq!(status, 403, "{body}");
    // The disabled account's admin is refused before that.
    let (status, _) = call(&cloud, Method::GET, "/v1/overview", &admin, None).await;
    assert_eq!(status, 401);
}
