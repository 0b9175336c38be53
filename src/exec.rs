//! Query execution: the seam between the protocol and the engine.
//!
//! ```text
//!   wire (network runtime)                    exec runtime (own threads)
//!   plan ── Executor::execute ───────────────► task: DataFusion stream.next() …
//!        ◄── BatchStream (bounded channel) ◄── batches, one at a time (backpressure)
//!   drop BatchStream / cancel ──────────────► task aborted, DataFusion stream dropped
//! ```
//!
//! Execution runs on its own tokio runtime, so a CPU-heavy query cannot starve the accept loop,
//! CancelRequests or other sessions' I/O (a peer built the other way stopped accepting connections
//! under one large cross join). The channel holds at most [`CHANNEL_BATCHES`] batches: a slow
//! client slows the scan instead of growing server memory. Today the executor is local
//! DataFusion; a distributed executor would implement the same `execute`.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionConfig;
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

/// Batches buffered between the engine and the socket writer.
const CHANNEL_BATCHES: usize = 2;

/// Runs plans. One per server; shared by all sessions.
pub struct Executor {
    /// Always `Some` until drop.
    runtime: Option<tokio::runtime::Runtime>,
    /// Object stores, memory pool and disk manager shared by every session.
    pub env: Arc<RuntimeEnv>,
    batch_size: usize,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor").field("batch_size", &self.batch_size).finish()
    }
}

impl Executor {
    pub fn new(threads: usize, batch_size: usize) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("meshgate-exec")
            .enable_all()
            .build()?;
        let env = RuntimeEnvBuilder::new()
            .build_arc()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Executor { runtime: Some(runtime), env, batch_size })
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.runtime.as_ref().expect("the runtime lives until the executor is dropped").handle()
    }

    /// The engine settings every session starts from (also used by tests and benchmarks for
    /// their in-process baseline, so both sides plan alike).
    pub fn session_config(&self, database: &str) -> SessionConfig {
        session_config(database, self.batch_size)
    }

    /// Starts executing `plan` on the exec runtime. Dropping the returned stream stops it.
    pub fn execute(&self, plan: Arc<dyn ExecutionPlan>, ctx: Arc<TaskContext>) -> BatchStream {
        let schema = plan.schema();
        let (tx, rx) = mpsc::channel(CHANNEL_BATCHES);
        let task = self.handle().spawn(async move {
            let mut stream = match datafusion::physical_plan::execute_stream(plan, ctx) {
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
        BatchStream { schema, rx, task, done: false }
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
                            Err(e) if e.is_panic() => Poll::Ready(Some(Err(DataFusionError::Internal(
                                "query task panicked".to_string(),
                            )))),
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
