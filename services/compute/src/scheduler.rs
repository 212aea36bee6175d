//! The scheduler: filters hosts (enabled, heartbeat fresh, kind supported, zone, free
//! vCPU and memory) and weighs the ones that fit (pack or spread). Capacity is claimed in
//! the caller's transaction with the candidate hosts locked (`FOR UPDATE`), so two
//! schedulers never double-book a host. A batch of N instances is placed in one round.

use kumo_compute_protocol::InstanceKind;
use sqlx::{Postgres, Transaction};

use crate::error::{ComputeError, Result};
use crate::{ComputeConfig, Weigher};

/// A host as the scheduler sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Candidate {
    pub host_id: String,
    pub zone: String,
    pub vcpus: i32,
    pub memory_mib: i32,
    pub vcpus_used: i32,
    pub memory_mib_used: i32,
}

/// What one round must place.
#[derive(Debug, Clone)]
pub struct Demand {
    pub kind: InstanceKind,
    pub vcpus: i32,
    pub memory_mib: i32,
    pub zone: Option<String>,
    pub min_count: usize,
    pub max_count: usize,
}

/// Overcommit ratios.
#[derive(Debug, Clone, Copy)]
pub struct Ratios {
    pub cpu: f64,
    pub memory: f64,
}

impl Candidate {
    fn vcpu_limit(&self, ratios: Ratios) -> i64 {
        (f64::from(self.vcpus) * ratios.cpu).floor() as i64
    }
    fn memory_limit(&self, ratios: Ratios) -> i64 {
        (f64::from(self.memory_mib) * ratios.memory).floor() as i64
    }
    fn fits(&self, demand: &Demand, ratios: Ratios) -> bool {
        i64::from(self.vcpus_used) + i64::from(demand.vcpus) <= self.vcpu_limit(ratios)
            && i64::from(self.memory_mib_used) + i64::from(demand.memory_mib)
                <= self.memory_limit(ratios)
    }
    /// Fraction of memory in use (the scarcer resource on real hosts).
    fn utilisation(&self, ratios: Ratios) -> f64 {
        let limit = self.memory_limit(ratios).max(1) as f64;
        f64::from(self.memory_mib_used) / limit
    }
}

/// Place up to `demand.max_count` instances on `hosts` (updating their usage); returns the
/// index of the host for each placed instance. Pure: the benchmark and tests call it directly.
pub fn place(
    hosts: &mut [Candidate],
    demand: &Demand,
    weigher: Weigher,
    ratios: Ratios,
) -> Vec<usize> {
    let mut placed = Vec::with_capacity(demand.max_count);
    for _ in 0..demand.max_count {
        let mut best: Option<(usize, f64)> = None;
        for (index, host) in hosts.iter().enumerate() {
            if !host.fits(demand, ratios) {
                continue;
            }
            let score = match weigher {
                Weigher::Pack => host.utilisation(ratios),
                Weigher::Spread => -host.utilisation(ratios),
            };
            if best.is_none_or(|(_, s)| score > s) {
                best = Some((index, score));
            }
        }
        let Some((index, _)) = best else { break };
        hosts[index].vcpus_used += demand.vcpus;
        hosts[index].memory_mib_used += demand.memory_mib;
        placed.push(index);
    }
    placed
}

/// Claim capacity for a batch inside `tx`: the host id and zone for each placed instance (at least
/// `min_count`, at most `max_count`), or `InsufficientInstanceCapacity`.
pub async fn claim(
    tx: &mut Transaction<'_, Postgres>,
    demand: &Demand,
    config: &ComputeConfig,
) -> Result<Vec<(String, String)>> {
    let ratios = Ratios {
        cpu: config.cpu_allocation_ratio,
        memory: config.memory_allocation_ratio,
    };
    let timeout_secs = config.heartbeat_timeout.as_secs_f64();
    // Step 1, no locks: the best-weighed hosts that fit at least one instance. A batch never
    // needs more hosts than instances, so a small multiple keeps 10,000-host pools cheap.
    let order = match config.weigher {
        Weigher::Pack => "DESC",
        Weigher::Spread => "ASC",
    };
    let shortlist = (demand.max_count * 2).max(16) as i64;
    let candidates: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT host_id FROM compute.hosts
         WHERE state = 'enabled'
           AND last_heartbeat_at > now() - make_interval(secs => $1)
           AND $2 = ANY(kinds)
           AND ($3::text IS NULL OR zone = $3)
           AND memory_mib_used + $4 <= memory_mib * $5
           AND vcpus_used + $6 <= vcpus * $7
         ORDER BY memory_mib_used::float8 / GREATEST(memory_mib * $5, 1) {order}, host_id
         LIMIT $8"
    ))
    .bind(timeout_secs)
    .bind(demand.kind.as_str())
    .bind(&demand.zone)
    .bind(demand.memory_mib)
    .bind(ratios.memory)
    .bind(demand.vcpus)
    .bind(ratios.cpu)
    .bind(shortlist)
    .fetch_all(&mut **tx)
    .await?;
    // Step 2: lock the shortlist in host-id order (concurrent rounds cannot deadlock) and
    // read the usage again: another scheduler may have claimed some in between.
    let mut hosts = sqlx::query_as::<_, Candidate>(
        "SELECT host_id, zone, vcpus, memory_mib, vcpus_used, memory_mib_used FROM compute.hosts
         WHERE host_id = ANY($1) AND state = 'enabled'
         ORDER BY host_id
         FOR UPDATE",
    )
    .bind(&candidates)
    .fetch_all(&mut **tx)
    .await?;
    let placed = place(&mut hosts, demand, config.weigher, ratios);
    if placed.len() < demand.min_count {
        return Err(ComputeError::InsufficientCapacity(format!(
            "We currently do not have sufficient capacity for {} {} instance(s) of {} vCPU / {} MiB{}. Our system will be working on provisioning additional capacity.",
            demand.min_count,
            demand.kind.as_str(),
            demand.vcpus,
            demand.memory_mib,
            demand.zone.as_deref().map(|z| format!(" in {z}")).unwrap_or_default(),
        )));
    }
    let mut touched: Vec<usize> = placed.clone();
    touched.sort_unstable();
    touched.dedup();
    for host in touched.iter().map(|&i| &hosts[i]) {
        sqlx::query(
            "UPDATE compute.hosts SET vcpus_used = $2, memory_mib_used = $3 WHERE host_id = $1",
        )
        .bind(&host.host_id)
        .bind(host.vcpus_used)
        .bind(host.memory_mib_used)
        .execute(&mut **tx)
        .await?;
    }
    Ok(placed
        .into_iter()
        .map(|i| (hosts[i].host_id.clone(), hosts[i].zone.clone()))
        .collect())
}

/// Give an instance's capacity back to its host.
pub async fn release<'e, E: sqlx::PgExecutor<'e>>(
    executor: E,
    host_id: &str,
    vcpus: i32,
    memory_mib: i32,
) -> Result<()> {
    sqlx::query(
        "UPDATE compute.hosts SET vcpus_used = GREATEST(vcpus_used - $2, 0),
                                  memory_mib_used = GREATEST(memory_mib_used - $3, 0)
         WHERE host_id = $1",
    )
    .bind(host_id)
    .bind(vcpus)
    .bind(memory_mib)
    .execute(executor)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(id: &str, used: i32) -> Candidate {
        Candidate {
            host_id: id.into(),
            zone: "z".into(),
            vcpus: 4,
            memory_mib: 4096,
            vcpus_used: 0,
            memory_mib_used: used,
        }
    }

    fn demand(n: usize) -> Demand {
        Demand {
            kind: InstanceKind::Container,
            vcpus: 2,
            memory_mib: 1024,
            zone: None,
            min_count: 1,
            max_count: n,
        }
    }

    const RATIOS: Ratios = Ratios {
        cpu: 16.0,
        memory: 1.0,
    };

    #[test]
    fn spread_alternates_and_pack_fills() {
        let mut hosts = vec![host("a", 0), host("b", 0)];
        let placed = place(&mut hosts, &demand(4), Weigher::Spread, RATIOS);
        assert_eq!(placed.len(), 4);
        assert_eq!(hosts[0].memory_mib_used, 2048);
        assert_eq!(hosts[1].memory_mib_used, 2048);

        let mut hosts = vec![host("a", 1024), host("b", 0)];
        let placed = place(&mut hosts, &demand(3), Weigher::Pack, RATIOS);
        assert_eq!(placed, vec![0, 0, 0]);
        assert_eq!(hosts[0].memory_mib_used, 4096);
    }

    #[test]
    fn stops_when_full() {
        let mut hosts = vec![host("a", 3072)];
        assert_eq!(
            place(&mut hosts, &demand(5), Weigher::Spread, RATIOS).len(),
            1
        );
        assert!(place(&mut hosts, &demand(1), Weigher::Spread, RATIOS).is_empty());
    }
}
