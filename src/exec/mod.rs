//! Query execution: the seam between the protocol and the engine.
//!
//! ```text
//!   session (network runtime)                 exec runtime (own threads)
//!   plan ── Executor::execute ───────────────► task: DataFusion stream.next() …
//!        ◄── BatchStream (bounded channel) ◄── batches, one at a time (backpressure)
//!   drop BatchStream / cancel ──────────────► task aborted, DataFusion stream dropped
//! ```
//!
//! Execution runs on its own tokio runtime, so a CPU-heavy query cannot starve the accept loop,
//! CancelRequests or other sessions' I/O (a peer built the other way stopped accepting connections
//! under one large cross join). The channel holds at most [`CHANNEL_BATCHES`] batches: a slow
//! client slows the scan instead of growing server memory. A statement handed to a Ballista
//! cluster (see [`cluster`]) comes back through the same queue and channel.

pub mod carrier;
pub mod cluster;
mod memory;
pub mod remote;
pub mod slots;
mod union;

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{MemoryPool, UnboundedMemoryPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionConfig;
use futures::{Stream, StreamExt};
use tokio::sync::{mpsc, Semaphore};

use crate::config::LimitsSettings;
use memory::{QueryPool, ServerPool};

/// Batches buffered between the engine and the socket writer.
const CHANNEL_BATCHES: usize = 2;

/// Runs plans. One per server; shared by all sessions.
pub struct Executor {
    /// Always `Some` until drop.
    runtime: Option<tokio::runtime::Runtime>,
    /// Object stores, memory pool and disk manager shared by every session.
    pub env: Arc<RuntimeEnv>,
    batch_size: usize,
    /// Bytes one query may reserve; `usize::MAX` when only the pool bounds it.
    query_memory: usize,
    admission: Arc<Admission>,
    /// The operator's `[engine]` settings, applied over meshgate's own.
    engine: Vec<(String, String)>,
}

/// Bounds how many queries execute at once; the rest wait, up to a bounded number.
struct Admission {
    running: Arc<Semaphore>,
    max_running: usize,
    waiting: AtomicUsize,
    max_waiting: usize,
}

/// Returned instead of a stream when the admission queue is full.
#[derive(Debug)]
pub struct Overloaded {
    pub running: usize,
    pub waiting: usize,
}

/// Counts a queued query for as long as it waits, including when its task is aborted before
/// it ever ran (the guard is moved into the task, so dropping the task drops it).
struct Waiting(Arc<Admission>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("batch_size", &self.batch_size)
            .finish()
    }
}

impl Executor {
    pub fn new(
        threads: usize,
        batch_size: usize,
        limits: &LimitsSettings,
    ) -> std::io::Result<Self> {
        let threads = threads.max(1);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("meshgate-exec")
            .enable_all()
            .build()?;
        const MIB: usize = 1024 * 1024;
        let pool: Arc<dyn MemoryPool> = match limits.memory_pool_mb {
            0 => Arc::new(UnboundedMemoryPool::default()),
            mb => Arc::new(ServerPool::new(mb.saturating_mul(MIB))),
        };
        let disk = match &limits.spill_dir {
            Some(dir) => DiskManagerBuilder::default()
                .with_mode(DiskManagerMode::Directories(vec![dir.clone()])),
            None => DiskManagerBuilder::default().with_mode(DiskManagerMode::OsTmpDirectory),
        };
        let env = RuntimeEnvBuilder::new()
            .with_memory_pool(pool)
            .with_disk_manager_builder(disk)
            .build_arc()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let query_memory = match limits.query_memory_mb {
            0 => usize::MAX,
            mb => mb.saturating_mul(MIB),
        };
        let max_running = match limits.max_running_queries {
            0 => threads * 2,
            n => n,
        };
        let admission = Arc::new(Admission {
            running: Arc::new(Semaphore::new(max_running)),
            max_running,
            waiting: AtomicUsize::new(0),
            max_waiting: limits.max_queued_queries,
        });
        Ok(Executor {
            runtime: Some(runtime),
            env,
            batch_size,
            query_memory,
            admission,
            engine: Vec::new(),
        })
    }

    /// The operator's `[engine]` settings (checked when the configuration was loaded) for every
    /// session from now on.
    pub fn with_engine_settings(mut self, settings: &[(String, String)]) -> Self {
        self.engine = settings.to_vec();
        self
    }

    /// Queries executing now.
    pub fn running(&self) -> usize {
        self.admission.max_running - self.admission.running.available_permits()
    }

    /// Queries waiting for a slot.
    pub fn queued(&self) -> usize {
        self.admission.waiting.load(Ordering::SeqCst)
    }

    /// Bytes reserved in the shared memory pool.
    pub fn memory_reserved(&self) -> usize {
        self.env.memory_pool.reserved()
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.runtime
            .as_ref()
            .expect("the runtime lives until the executor is dropped")
            .handle()
    }

    /// The engine settings every session starts from (also used by tests and benchmarks for
    /// their in-process baseline, so both sides plan alike).
    pub fn session_config(&self, database: &str) -> SessionConfig {
        let mut config = session_config(database, self.batch_size);
        for (key, value) in &self.engine {
            if let Err(e) = config.options_mut().set(key, value) {
                tracing::warn!("engine setting {key} not applied: {e}");
            }
        }
        config
    }

    /// Runs engine-side bookkeeping that is not a query (no admission slot, no memory cap) on
    /// the query runtime, away from the network threads.
    pub fn spawn_background(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.handle().spawn(task);
    }

    /// Runs a job (a table write) on the exec runtime, away from the network threads.
    pub fn spawn<T: Send + 'static>(
        &self,
        job: impl std::future::Future<Output = T> + Send + 'static,
    ) -> tokio::task::JoinHandle<T> {
        self.handle().spawn(job)
    }

    /// Starts executing `plan` on the exec runtime. Dropping the returned stream stops it, also
    /// while it still waits in the admission queue.
    pub fn execute(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        ctx: Arc<TaskContext>,
    ) -> std::result::Result<BatchStream, Overloaded> {
        let ctx = self.with_query_pool(ctx);
        let plan = yielding_joins(plan);
        let schema = plan.schema();
        self.admit(schema, move || match union::in_branch_order(&plan, &ctx) {
            Some(rows) => Ok(rows),
            None => datafusion::physical_plan::execute_stream(plan, ctx),
        })
    }

    /// Starts `job` (a cluster's statement, already checked with [`cluster::Job::prepare`]) and
    /// streams its result like a local plan's: through the same admission queue and bounded
    /// channel. Dropping the stream cancels the job on the cluster.
    pub fn execute_on_cluster(
        &self,
        job: cluster::Job,
        ctx: Arc<TaskContext>,
    ) -> std::result::Result<BatchStream, Overloaded> {
        let schema = job.schema();
        self.admit(schema, move || job.start(ctx))
    }

    /// Queues `start` for an execution slot, then runs the stream it returns on the exec
    /// runtime, one batch ahead of the reader at most.
    fn admit(
        &self,
        schema: SchemaRef,
        start: impl FnOnce() -> Result<SendableRecordBatchStream> + Send + 'static,
    ) -> std::result::Result<BatchStream, Overloaded> {
        let admission = self.admission.clone();
        // Reserve a place in the queue now, so a full queue fails the statement at once.
        let queued = admission.running.available_permits() == 0;
        if queued {
            let before = admission.waiting.fetch_add(1, Ordering::SeqCst);
            if before >= admission.max_waiting {
                admission.waiting.fetch_sub(1, Ordering::SeqCst);
                return Err(Overloaded {
                    running: admission.max_running,
                    waiting: before,
                });
            }
        } else {
            admission.waiting.fetch_add(1, Ordering::SeqCst);
        }
        let waiting = Waiting(admission.clone());
        let (tx, rx) = mpsc::channel(CHANNEL_BATCHES);
        let task = self.handle().spawn(async move {
            let permit = match admission.running.clone().acquire_owned().await {
                Ok(p) => p,
                Err(_) => return, // semaphore closed: the executor is going away
            };
            drop(waiting);
            let _permit = permit;
            let mut stream = match start() {
                Ok(s) => s,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            while let Some(item) = stream.next().await {
                let stop = item.is_err();
                if tx.send(item).await.is_err() || stop {
                    return; // receiver gone: the client cancelled or went away
                }
            }
        });
        Ok(BatchStream {
            schema,
            rx,
            task,
            done: false,
        })
    }

    /// The query's own view of the runtime: the shared pool, seen through a per-query cap.
    fn with_query_pool(&self, ctx: Arc<TaskContext>) -> Arc<TaskContext> {
        if self.query_memory == usize::MAX {
            return ctx;
        }
        let pool: Arc<dyn MemoryPool> = Arc::new(QueryPool::new(
            self.env.memory_pool.clone(),
            self.query_memory,
        ));
        match RuntimeEnvBuilder::from_runtime_env(&self.env)
            .with_memory_pool(pool)
            .build_arc()
        {
            Ok(env) => Arc::new(TaskContext::new(
                ctx.task_id(),
                ctx.session_id(),
                ctx.session_config().clone(),
                ctx.scalar_functions().clone(),
                ctx.aggregate_functions().clone(),
                ctx.window_functions().clone(),
                env,
            )),
            Err(e) => {
                tracing::warn!("per-query memory cap not applied: {e}");
                ctx
            }
        }
    }
}

/// Wraps the output of every operator that can emit many batches per batch it reads (joins,
/// unnest) so that each batch uses tokio's task budget. Without it, an aggregate over a cross
/// join never yields: its input is only polled once per probe batch, which can be minutes of
/// work, so aborting the task (cancel, statement_timeout, a client gone) waits for the end of
/// the query while it keeps the exec threads busy for every other session.
fn yielding_joins(plan: Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    use datafusion::physical_plan::coop::CooperativeExec;
    use datafusion::physical_plan::joins::{
        CrossJoinExec, HashJoinExec, NestedLoopJoinExec, PiecewiseMergeJoinExec, SortMergeJoinExec,
        SymmetricHashJoinExec,
    };
    use datafusion::physical_plan::unnest::UnnestExec;
    let original = plan.clone();
    let wrapped = plan.transform_up(|node| {
        let any = node.as_any();
        let multiplies = any.is::<NestedLoopJoinExec>()
            || any.is::<CrossJoinExec>()
            || any.is::<HashJoinExec>()
            || any.is::<SortMergeJoinExec>()
            || any.is::<SymmetricHashJoinExec>()
            || any.is::<PiecewiseMergeJoinExec>()
            || any.is::<UnnestExec>();
        Ok(if multiplies {
            Transformed::yes(Arc::new(CooperativeExec::new(node)) as Arc<dyn ExecutionPlan>)
        } else {
            Transformed::no(node)
        })
    });
    match wrapped {
        Ok(t) => t.data,
        Err(e) => {
            tracing::warn!("plan not made cooperative: {e}");
            original
        }
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        // Dropping a runtime from inside another runtime's thread panics; detach instead.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

pub fn session_config(database: &str, batch_size: usize) -> SessionConfig {
    let mut c = SessionConfig::new()
        .with_information_schema(true)
        .with_default_catalog_and_schema(database, "public")
        .with_create_default_catalog_and_schema(false)
        .with_batch_size(batch_size);
    let o = c.options_mut();
    o.sql_parser.dialect = datafusion::config::Dialect::PostgreSQL;
    // `1.5` is numeric in PostgreSQL, not double precision: `0.1 + 0.2` must be exactly 0.3.
    o.sql_parser.parse_float_as_decimal = true;
    // The session's TimeZone (UTC until it SETs another): now() and current_timestamp are
    // timestamptz in PostgreSQL, which DataFusion gives only with a zone configured.
    o.execution.time_zone = Some("UTC".to_string());
    c
}

/// The rows of one running statement. Dropping it aborts the engine task.
pub struct BatchStream {
    schema: SchemaRef,
    rx: mpsc::Receiver<Result<RecordBatch>>,
    task: tokio::task::JoinHandle<()>,
    done: bool,
}

impl BatchStream {
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

impl Stream for BatchStream {
    type Item = Result<RecordBatch>;

    /// Cancel-safe: a batch is either returned or still in the channel.
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(None) if !self.done => {
                // The sender is gone: the task ended. Wait for its outcome so a panic inside the
                // engine reaches the client as an error instead of a silently short result.
                use std::future::Future;
                match Pin::new(&mut self.task).poll(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(res) => {
                        self.done = true;
                        match res {
                            Err(e) if e.is_panic() => Poll::Ready(Some(Err(
                                DataFusionError::Internal("query task panicked".to_string()),
                            ))),
                            _ => Poll::Ready(None),
                        }
                    }
                }
            }
            other => other,
        }
    }
}

impl Drop for BatchStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}
