//! How much memory queries may hold: the server's pool, and one query's cap inside it.
//!
//! DataFusion counts a batch by the buffers it references, and batches that share buffers are
//! each counted in full: string views taken from one source batch, slices of one decoded page.
//! On TPC-H SF1 q18 over Delta tables one hash join is counted at 8.4 GiB while the whole
//! process holds 1.2 GiB, so a pool that trusts the count alone refuses the query on a machine
//! with memory to spare. The server's pool therefore keeps DataFusion's fair-spill accounting
//! (sorts and aggregates spill past their share) but refuses, or makes an operator spill, only
//! when the process's resident memory is really near the limit.

use std::sync::Arc;

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::memory_pool::{
    FairSpillPool, MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};

/// The server's pool of `limit` bytes: a reservation over its fair-spill share is still granted
/// while the process's resident memory plus the request stays within the limit.
#[derive(Debug)]
pub(super) struct ServerPool {
    counted: FairSpillPool,
    limit: usize,
    /// The process's resident memory in bytes, when the platform says.
    resident: fn() -> Option<usize>,
}

impl ServerPool {
    pub fn new(limit: usize) -> Self {
        Self::with_probe(limit, resident_bytes)
    }

    fn with_probe(limit: usize, resident: fn() -> Option<usize>) -> Self {
        ServerPool {
            counted: FairSpillPool::new(limit),
            limit,
            resident,
        }
    }
}

/// VmRSS of this process (Linux); None elsewhere.
fn resident_bytes() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let kb: usize = kb.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}

impl MemoryPool for ServerPool {
    fn register(&self, consumer: &MemoryConsumer) {
        self.counted.register(consumer)
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.counted.unregister(consumer)
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.counted.grow(reservation, additional)
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.counted.shrink(reservation, shrink)
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        match self.counted.try_grow(reservation, additional) {
            Ok(()) => Ok(()),
            Err(e) => match (self.resident)() {
                Some(rss) if rss.saturating_add(additional) <= self.limit => {
                    self.counted.grow(reservation, additional);
                    Ok(())
                }
                _ => Err(e),
            },
        }
    }

    fn reserved(&self) -> usize {
        self.counted.reserved()
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.limit)
    }
}

/// One query's reservations: each is checked against the query's own fair-spill pool (so the
/// query's spillable operators share its cap and spill past their share), then against the
/// shared pool; the query fails (53200) instead of the server when it needs too much.
#[derive(Debug)]
pub(super) struct QueryPool {
    shared: Arc<dyn MemoryPool>,
    own: FairSpillPool,
    cap: usize,
}

impl QueryPool {
    pub fn new(shared: Arc<dyn MemoryPool>, cap: usize) -> Self {
        QueryPool {
            shared,
            own: FairSpillPool::new(cap),
            cap,
        }
    }
}

impl MemoryPool for QueryPool {
    fn register(&self, consumer: &MemoryConsumer) {
        self.own.register(consumer);
        self.shared.register(consumer)
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.own.unregister(consumer);
        self.shared.unregister(consumer)
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.own.grow(reservation, additional);
        self.shared.grow(reservation, additional);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.own.shrink(reservation, shrink);
        self.shared.shrink(reservation, shrink);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        if self.own.try_grow(reservation, additional).is_err() {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "query memory limit of {} MiB reached ({} needed {} more bytes)",
                self.cap / (1024 * 1024),
                reservation.consumer().name(),
                additional
            )));
        }
        if let Err(e) = self.shared.try_grow(reservation, additional) {
            self.own.shrink(reservation, additional);
            return Err(e);
        }
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.own.reserved()
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    fn join_build(pool: &Arc<dyn MemoryPool>) -> MemoryReservation {
        MemoryConsumer::new("HashJoinInput").register(pool)
    }

    #[test]
    fn over_the_count_but_not_in_fact_is_granted() {
        let pool: Arc<dyn MemoryPool> =
            Arc::new(ServerPool::with_probe(100 * MIB, || Some(10 * MIB)));
        let r = join_build(&pool);
        r.try_grow(80 * MIB).unwrap();
        // Counted past the pool, while the process holds 10 MiB.
        r.try_grow(50 * MIB).unwrap();
        assert_eq!(pool.reserved(), 130 * MIB);
    }

    #[test]
    fn a_real_shortage_is_refused() {
        let pool: Arc<dyn MemoryPool> =
            Arc::new(ServerPool::with_probe(100 * MIB, || Some(95 * MIB)));
        let r = join_build(&pool);
        r.try_grow(80 * MIB).unwrap();
        assert!(r.try_grow(50 * MIB).is_err());
        assert_eq!(pool.reserved(), 80 * MIB);
        // Where resident memory cannot be read, the count decides, as before.
        let pool: Arc<dyn MemoryPool> = Arc::new(ServerPool::with_probe(100 * MIB, || None));
        let r = join_build(&pool);
        assert!(r.try_grow(150 * MIB).is_err());
    }

    #[test]
    fn spillable_operators_spill_only_when_memory_is_short() {
        let sort = |pool: &Arc<dyn MemoryPool>| {
            MemoryConsumer::new("Sort")
                .with_can_spill(true)
                .register(pool)
        };
        let roomy: Arc<dyn MemoryPool> = Arc::new(ServerPool::with_probe(100 * MIB, || Some(MIB)));
        let (a, _b) = (sort(&roomy), sort(&roomy));
        a.try_grow(70 * MIB)
            .expect("past its half of the pool, with memory to spare");
        let short: Arc<dyn MemoryPool> =
            Arc::new(ServerPool::with_probe(100 * MIB, || Some(99 * MIB)));
        let (a, _b) = (sort(&short), sort(&short));
        assert!(
            a.try_grow(70 * MIB).is_err(),
            "past its share when short: spill"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn resident_memory_is_read_on_linux() {
        assert!(resident_bytes().is_some_and(|b| b > 0));
    }
}
