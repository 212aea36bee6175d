#![allow(clippy::unwrap_used)]
//! Networks from before VPCs: an account's compute subnet becomes the first default subnet
//! of its default VPC (same id and range) and its live instances get primary interfaces
//! holding the addresses and MACs they had; terminated ones are left alone. Twice is the
//! same as once.

use kumo_network::network_interfaces::instances::of_instances;

const ACCOUNT: &str = "555555555555";
const SUBNET: &str = "subnet-0aaaabbbbccccdddd";

async fn instance(pool: &sqlx::PgPool, id: &str, ip: &str, mac: &str, state: &str) {
    sqlx::query(
        "INSERT INTO compute.instances (instance_id, account_id, reservation_id, image_id, instance_type, kind,
             vcpus, memory_mib, zone, state, desired_state, subnet_id, private_ip, mac)
         VALUES ($1, $2, 'r-0aaaabbbbccccdddd', 'ami-0aaaabbbbccccdddd', 't3.micro', 'container', 2, 1024,
             'us-east-1a', $3, CASE WHEN $3 = 'terminated' THEN 'terminated' ELSE 'running' END, $4, $5::inet, $6)",
    )
    .bind(id)
    .bind(ACCOUNT)
    .bind(state)
    .bind(SUBNET)
    .bind(ip)
    .bind(mac)
    .execute(pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn pre_vpc_subnets_and_instances_are_adopted_once() {
    let pool = kumo_catalog::testing::fresh_database().await.unwrap();
    sqlx::query(
        "INSERT INTO compute.subnets (subnet_id, account_id, cidr, gateway) VALUES ($1, $2, '172.31.0.0/20', '172.31.0.1')",
    )
    .bind(SUBNET)
    .bind(ACCOUNT)
    .execute(&pool)
    .await
    .unwrap();
    instance(
        &pool,
        "i-0aaaabbbbcccc0001",
        "172.31.0.4",
        "02:aa:00:00:00:01",
        "running",
    )
    .await;
    instance(
        &pool,
        "i-0aaaabbbbcccc0002",
        "172.31.0.5",
        "02:aa:00:00:00:02",
        "stopped",
    )
    .await;
    instance(
        &pool,
        "i-0aaaabbbbcccc0003",
        "172.31.0.6",
        "02:aa:00:00:00:03",
        "terminated",
    )
    .await;
    let compute = kumo_compute::Compute::new(pool.clone(), Default::default());
    let network = kumo_network::Network::new(pool.clone(), Default::default());

    for _ in 0..2 {
        kumo_gateway::compose::adopt_pre_vpc_networks(&compute, &network)
            .await
            .unwrap();
    }

    let (cidr, is_default): (String, bool) = sqlx::query_as(
        "SELECT s.cidr::text, v.is_default FROM network.subnets s JOIN network.vpcs v ON v.vpc_id = s.vpc_id
         WHERE s.subnet_id = $1 AND s.account_id = $2",
    )
    .bind(SUBNET)
    .bind(ACCOUNT)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((cidr.as_str(), is_default), ("172.31.0.0/20", true));

    let ids: Vec<String> = (1..=3).map(|n| format!("i-0aaaabbbbcccc000{n}")).collect();
    let found = of_instances(&network, ACCOUNT, &ids).await.unwrap();
    assert_eq!(found.len(), 2, "only live instances: {found:?}");
    for (n, ip, mac) in [
        (1, "172.31.0.4", "02:aa:00:00:00:01"),
        (2, "172.31.0.5", "02:aa:00:00:00:02"),
    ] {
        let list = &found[&format!("i-0aaaabbbbcccc000{n}")];
        assert_eq!(list.len(), 1, "one primary interface, not two");
        let eni = &list[0];
        assert_eq!(eni.private_ip_address, ip);
        assert_eq!(eni.mac_address, mac);
        assert_eq!(eni.subnet_id, SUBNET);
        assert_eq!(eni.attachment.as_ref().unwrap().device_index, 0);
        assert_eq!(eni.groups[0].group_name, "default");
    }
    // The view compute's invariants read shows exactly the live instances' addresses.
    let allocated: Vec<String> =
        sqlx::query_scalar("SELECT host(ip) FROM compute.ip_allocations ORDER BY ip")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(allocated, ["172.31.0.4", "172.31.0.5"]);
}
