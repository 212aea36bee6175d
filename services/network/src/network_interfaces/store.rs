//! Reading interfaces whole (row, addresses, groups, tags) and the small writes every
//! interface action shares.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use super::{
    not_found, Attachment, GroupIdentifier, InterfaceStatus, NetworkInterface, PrivateIpAddress,
};
use crate::error::Result;
use crate::tags;

#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct InterfaceRow {
    pub network_interface_id: String,
    pub account_id: String,
    pub subnet_id: String,
    pub vpc_id: String,
    pub zone: String,
    pub cidr: String,
    pub mac: String,
    pub description: String,
    pub source_dest_check: bool,
    pub interface_type: String,
    pub instance_id: Option<String>,
    pub attachment_id: Option<String>,
    pub device_index: Option<i32>,
    pub attach_time: Option<DateTime<Utc>>,
    pub delete_on_termination: bool,
}

pub(crate) const COLUMNS: &str =
    "i.network_interface_id, i.account_id, i.subnet_id, i.vpc_id, s.zone, s.cidr::text AS cidr,
    i.mac, i.description, i.source_dest_check, i.interface_type, i.instance_id, i.attachment_id,
    i.device_index, i.attach_time, i.delete_on_termination";

/// One of the account's interfaces, locked for a change.
pub(crate) async fn lock_interface(
    conn: &mut PgConnection,
    account_id: &str,
    id: &str,
) -> Result<InterfaceRow> {
    sqlx::query_as::<_, InterfaceRow>(&format!(
        "SELECT {COLUMNS} FROM network.network_interfaces i JOIN network.subnets s ON s.subnet_id = i.subnet_id
         WHERE i.network_interface_id = $1 AND i.account_id = $2 FOR NO KEY UPDATE OF i"
    ))
    .bind(id)
    .bind(account_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| not_found(id))
}

/// The interfaces matching `condition` (over `i`, the interface, with `$1` a text and `$2`
/// a text array), whole, in id order.
pub(crate) async fn interfaces_where(
    conn: &mut PgConnection,
    pool: &PgPool,
    condition: &str,
    first: &str,
    list: &[String],
) -> Result<Vec<NetworkInterface>> {
    let rows = sqlx::query_as::<_, InterfaceRow>(&format!(
        "SELECT {COLUMNS} FROM network.network_interfaces i JOIN network.subnets s ON s.subnet_id = i.subnet_id
         WHERE {condition} ORDER BY i.network_interface_id"
    ))
    .bind(first)
    .bind(list)
    .fetch_all(&mut *conn)
    .await?;
    assemble(conn, pool, rows).await
}

/// Rows made whole: their addresses (primary first), groups (in order) and tags.
pub(crate) async fn assemble(
    conn: &mut PgConnection,
    pool: &PgPool,
    rows: Vec<InterfaceRow>,
) -> Result<Vec<NetworkInterface>> {
    let ids: Vec<String> = rows
        .iter()
        .map(|r| r.network_interface_id.clone())
        .collect();
    let mut addresses: BTreeMap<String, Vec<PrivateIpAddress>> = BTreeMap::new();
    for (id, ip, primary) in sqlx::query_as::<_, (String, String, bool)>(
        "SELECT network_interface_id, host(private_ip), is_primary FROM network.network_interface_addresses
         WHERE network_interface_id = ANY($1) ORDER BY network_interface_id, is_primary DESC, private_ip",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?
    {
        addresses.entry(id).or_default().push(PrivateIpAddress {
            private_ip_address: ip,
            primary,
        });
    }
    let mut groups: BTreeMap<String, Vec<GroupIdentifier>> = BTreeMap::new();
    for (id, group_id, group_name) in sqlx::query_as::<_, (String, String, String)>(
        "SELECT m.network_interface_id, g.group_id, g.group_name FROM network.network_interface_groups m
         JOIN network.security_groups g ON g.group_id = m.group_id
         WHERE m.network_interface_id = ANY($1) ORDER BY m.network_interface_id, m.position",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?
    {
        groups.entry(id).or_default().push(GroupIdentifier {
            group_id,
            group_name,
        });
    }
    let account_id = rows
        .first()
        .map(|r| r.account_id.clone())
        .unwrap_or_default();
    let mut associations = crate::addresses::of_interfaces(&mut *conn, &ids).await?;
    let mut tags = tags::for_resources(pool, &account_id, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let id = row.network_interface_id.clone();
            let addresses = addresses.remove(&id).unwrap_or_default();
            let attachment = match (
                &row.instance_id,
                &row.attachment_id,
                row.device_index,
                row.attach_time,
            ) {
                (Some(instance_id), Some(attachment_id), Some(device_index), Some(attach_time)) => {
                    Some(Attachment {
                        attachment_id: attachment_id.clone(),
                        instance_id: instance_id.clone(),
                        instance_owner_id: row.account_id.clone(),
                        device_index,
                        attach_time,
                        delete_on_termination: row.delete_on_termination,
                    })
                }
                _ => None,
            };
            NetworkInterface {
                network_interface_id: id.clone(),
                owner_id: row.account_id,
                subnet_id: row.subnet_id,
                vpc_id: row.vpc_id,
                availability_zone: row.zone,
                subnet_cidr: row.cidr,
                mac_address: row.mac,
                description: row.description,
                source_dest_check: row.source_dest_check,
                interface_type: row.interface_type,
                status: if attachment.is_some() {
                    InterfaceStatus::InUse
                } else {
                    InterfaceStatus::Available
                },
                private_ip_address: addresses
                    .iter()
                    .find(|a| a.primary)
                    .map(|a| a.private_ip_address.clone())
                    .unwrap_or_default(),
                private_ip_addresses: addresses,
                groups: groups.remove(&id).unwrap_or_default(),
                attachment,
                associations: associations.remove(&id).unwrap_or_default(),
                tags: tags.remove(&id).unwrap_or_default(),
            }
        })
        .collect())
}

/// Delete the account's interfaces with their addresses, groups (cascaded) and tags; their
/// elastic IPs are disassociated.
pub(crate) async fn delete_interfaces(
    tx: &mut Transaction<'_, Postgres>,
    account_id: &str,
    ids: &[String],
) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    crate::addresses::disassociate_from(tx, ids, &[]).await?;
    sqlx::query(
        "DELETE FROM network.network_interfaces WHERE account_id = $1 AND network_interface_id = ANY($2)",
    )
    .bind(account_id)
    .bind(ids)
    .execute(&mut **tx)
    .await?;
    tags::delete_all(tx, account_id, ids).await
}

/// Set one of the interface's own columns (a fixed name from this module, never input).
pub(crate) async fn set_column<T>(
    conn: &mut PgConnection,
    id: &str,
    column: &'static str,
    value: T,
) -> Result<()>
where
    T: for<'q> sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send,
{
    sqlx::query(&format!(
        "UPDATE network.network_interfaces SET {column} = $2 WHERE network_interface_id = $1"
    ))
    .bind(id)
    .bind(value)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
