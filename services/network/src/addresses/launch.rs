//! Launch-time public IPv4 addresses: what an instance launched with
//! `AssociatePublicIpAddress` (or into a subnet with `mapPublicIpOnLaunch`) gets on its
//! primary interface's primary private address, from the operator's pool of its zone. Not
//! an elastic IP: no allocation or association id, owner `amazon`, not in
//! DescribeAddresses. As in AWS it goes back to the pool when the instance stops or ends (a
//! new one at each start), steps aside while an elastic IP is associated with that private
//! address, and comes back (a new one) when the elastic IP leaves.
//!
//! The desire is stored on the interface (`public_ip_on_launch`, `public_ip_wanted`), the
//! mapping in `network.launch_public_ips`; [`reconcile`] moves the mapping to the desire,
//! idempotently, in the transaction of whatever changed either (launch, stop, start,
//! termination, AssociateAddress, DisassociateAddress). A launch that finds its zone's pools
//! full (or none) goes on without one, as a logged warning, and gets one at a later
//! reconcile (start, or an elastic IP leaving).

use sqlx::PgConnection;

use crate::error::Result;

/// One interface's desire and mapping.
#[derive(Debug, sqlx::FromRow)]
struct Desire {
    network_interface_id: String,
    private_ip: String,
    zone: String,
    /// Wanted now, attached at device index 0, and no elastic IP on the primary address.
    wanted: bool,
    public_ip: Option<String>,
}

async fn desires(conn: &mut PgConnection, interface_ids: &[String]) -> Result<Vec<Desire>> {
    Ok(sqlx::query_as::<_, Desire>(
        "SELECT i.network_interface_id, host(p.private_ip) AS private_ip, s.zone,
                (i.public_ip_wanted AND COALESCE(i.device_index = 0, false) AND NOT EXISTS (
                    SELECT 1 FROM network.addresses a
                    WHERE a.network_interface_id = i.network_interface_id AND a.private_ip = p.private_ip
                )) AS wanted,
                host(l.public_ip) AS public_ip
         FROM network.network_interfaces i
         JOIN network.network_interface_addresses p
              ON p.network_interface_id = i.network_interface_id AND p.is_primary
         JOIN network.subnets s ON s.subnet_id = i.subnet_id
         LEFT JOIN network.launch_public_ips l ON l.network_interface_id = i.network_interface_id
         WHERE i.network_interface_id = ANY($1)
         ORDER BY i.network_interface_id",
    )
    .bind(interface_ids)
    .fetch_all(&mut *conn)
    .await?)
}

/// Move the interfaces' launch-time public addresses to their desire: give one to each
/// that wants one and has none (the lowest free address of its zone's pools), take it
/// from each that has one and no longer wants it. Idempotent; in the caller's transaction.
pub(crate) async fn reconcile(conn: &mut PgConnection, interface_ids: &[String]) -> Result<()> {
    if interface_ids.is_empty() {
        return Ok(());
    }
    let mut found = desires(&mut *conn, interface_ids).await?;
    let unwanted: Vec<String> = found
        .iter()
        .filter(|d| !d.wanted && d.public_ip.is_some())
        .map(|d| d.network_interface_id.clone())
        .collect();
    if !unwanted.is_empty() {
        let released: Vec<(String, String)> = sqlx::query_as(
            "DELETE FROM network.launch_public_ips WHERE network_interface_id = ANY($1)
             RETURNING network_interface_id, host(public_ip)",
        )
        .bind(&unwanted)
        .fetch_all(&mut *conn)
        .await?;
        for (network_interface_id, public_ip) in released {
            tracing::info!(%network_interface_id, %public_ip, "launch-time public address released");
        }
    }
    if !found.iter().any(|d| d.wanted && d.public_ip.is_none()) {
        return Ok(());
    }
    // One allocator at a time (elastic IPs and pools too); read the desire again under
    // the lock, so a concurrent reconcile of the same interface is seen.
    super::lock_allocations(&mut *conn).await?;
    found = desires(&mut *conn, interface_ids).await?;
    for desire in found.iter().filter(|d| d.wanted && d.public_ip.is_none()) {
        let Some((pool, public_ip)) = super::lowest_free(&mut *conn, Some(&desire.zone)).await?
        else {
            tracing::warn!(
                network_interface_id = %desire.network_interface_id,
                zone = %desire.zone,
                "no free public address in the zone's pools: the interface goes without a launch-time public address"
            );
            continue;
        };
        sqlx::query(
            "INSERT INTO network.launch_public_ips (public_ip, pool_name, network_interface_id, private_ip)
             VALUES ($1::inet, $2, $3, $4::inet)",
        )
        .bind(&public_ip)
        .bind(&pool)
        .bind(&desire.network_interface_id)
        .bind(&desire.private_ip)
        .execute(&mut *conn)
        .await?;
        tracing::info!(network_interface_id = %desire.network_interface_id, private_ip = %desire.private_ip, %public_ip, %pool, "launch-time public address assigned");
    }
    Ok(())
}

/// The instance is to run (`true`: its primary interface wants a public address again if
/// it was launched with one) or not (`false`: stopped or ending, the address goes back to
/// the pool). Idempotent; in the caller's (compute's) transaction.
pub async fn set_instance_running(
    conn: &mut PgConnection,
    instance_id: &str,
    running: bool,
) -> Result<()> {
    let ids: Vec<String> = sqlx::query_scalar(
        "UPDATE network.network_interfaces
         SET public_ip_wanted = public_ip_on_launch AND $2
         WHERE instance_id = $1 AND device_index = 0
         RETURNING network_interface_id",
    )
    .bind(instance_id)
    .bind(running)
    .fetch_all(&mut *conn)
    .await?;
    reconcile(conn, &ids).await
}
