//! A query's memory pool inside the engine's: each query may use up to its own limit, and all
//! queries together no more than the engine's pool allows (the server gives every client's
//! query one, so that one large query cannot take what the others need, and all of them cannot
//! take more than the machine has).

use datafusion::common::{Result, resources_datafusion_err};
use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug)]
pub struct QueryPool {
    engine: Arc<dyn MemoryPool>,
    limit: usize,
    used: AtomicUsize,
}

impl QueryPool {
    pub fn new(engine: Arc<dyn MemoryPool>, limit: usize) -> QueryPool {
        QueryPool {
            engine,
            limit,
            used: AtomicUsize::new(0),
        }
    }
}

impl fmt::Display for QueryPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "query pool ({} bytes, within {})",
            self.limit, self.engine
        )
    }
}

impl MemoryPool for QueryPool {
    fn name(&self) -> &str {
        "fjq_query_pool"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.engine.register(consumer);
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.engine.unregister(consumer);
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.used.fetch_add(additional, Ordering::Relaxed);
        self.engine.grow(reservation, additional);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.used.fetch_sub(shrink, Ordering::Relaxed);
        self.engine.shrink(reservation, shrink);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                let new = used.checked_add(additional)?;
                (new <= self.limit).then_some(new)
            })
            .map_err(|used| {
                resources_datafusion_err!(
                    "the query needs more than its memory limit of {} MB ({} MB in use, {} MB more asked for {}); it spills where it can, otherwise raise --query-memory-limit",
                    self.limit >> 20,
                    used >> 20,
                    additional >> 20,
                    reservation.consumer().name()
                )
            })?;
        if let Err(e) = self.engine.try_grow(reservation, additional) {
            self.used.fetch_sub(additional, Ordering::Relaxed);
            return Err(e);
        }
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.limit)
    }
}
