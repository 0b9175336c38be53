//! Handing a planned statement to an Apache DataFusion Ballista cluster.
//!
//! ```text
//!  physical plan ─ choose (session's mesh.execution, [cluster] mode, bytes its files hold)
//!     ├─ local ───────────────────────────────► Executor::execute
//!     └─ cluster ─ Job::prepare (serialise; decode with the cluster's functions)
//!          ├─ a node without codec ─► local, reason logged
//!          └─ Executor::execute_on_cluster ─► DistributedQueryExec ─► scheduler ─► executors
//!                 result partitions fetched from the executors ─► BatchStream (bounded)
//!                 stream dropped (cancel, statement_timeout, client gone) ─► CancelJob
//! ```

use std::sync::{Arc, LazyLock};

use ballista_core::config::BallistaConfig;
use ballista_core::execution_plans::DistributedQueryExec;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::serde::protobuf::CancelJobParams;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::JoinType;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::joins::{HashJoinExec, NestedLoopJoinExec, PartitionMode};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties, Partitioning};
use datafusion::prelude::SessionConfig;
use datafusion_proto::protobuf::LogicalPlanNode;
use futures::StreamExt;

use super::carrier::{cluster_state, CarrierCodec, PlanCarrier};
use crate::config::{ClusterMode, ClusterSettings};

/// Where a session asked its statements to run (`SET mesh.execution`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    Local,
    Cluster,
    /// As the server's `[cluster] mode` says.
    Auto,
}

/// Where one statement runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    Local,
    /// On the cluster of this scheduler (`host:port`); the plan's files hold `bytes`.
    Cluster {
        scheduler: String,
        bytes: u64,
    },
    /// The cluster was asked for but cannot be used: run here, saying why.
    Fallback(String),
}

/// Bytes of the files the plan's file scans read (their sizes as planned, before pruning of
/// row groups): what `auto` compares with its threshold.
pub fn scan_bytes(plan: &Arc<dyn ExecutionPlan>) -> Option<u64> {
    let mut files = 0usize;
    let mut bytes = 0u64;
    let _ = plan.apply(|node| {
        if let Some(config) = node
            .as_any()
            .downcast_ref::<DataSourceExec>()
            .and_then(|d| d.data_source().as_any().downcast_ref::<FileScanConfig>())
        {
            for f in config.file_groups.iter().flat_map(|g| g.iter()) {
                files += 1;
                bytes += f.object_meta.size;
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    (files > 0).then_some(bytes)
}

/// Where the statement planned as `plan` runs. A plan that reads no file stays here whatever
/// was asked: catalog queries and constants have nothing to spread.
pub fn choose(
    settings: &ClusterSettings,
    asked: Placement,
    plan: &Arc<dyn ExecutionPlan>,
) -> Choice {
    let wanted = match (asked, settings.mode) {
        (Placement::Local, _) | (Placement::Auto, ClusterMode::Off) => return Choice::Local,
        (Placement::Cluster, _) | (Placement::Auto, ClusterMode::Always) => None,
        (Placement::Auto, ClusterMode::Auto) => Some(settings.auto_min_bytes),
    };
    // EXPLAIN ANALYZE shows the metrics of the plan it ran, which a cluster keeps on its
    // executors: it runs here.
    if plan
        .as_any()
        .is::<datafusion::physical_plan::analyze::AnalyzeExec>()
    {
        return Choice::Local;
    }
    let Some(bytes) = scan_bytes(plan) else {
        return Choice::Local;
    };
    if wanted.is_some_and(|min| bytes < min) {
        return Choice::Local;
    }
    match &settings.scheduler {
        Some(s) => Choice::Cluster {
            scheduler: s.clone(),
            bytes,
        },
        None => Choice::Fallback("no [cluster] scheduler is configured".to_string()),
    }
}

/// The first node, from the leaves up, that does not serialise although its inputs do.
fn without_codec(plan: &Arc<dyn ExecutionPlan>) -> Option<String> {
    if let Some(name) = plan.children().into_iter().find_map(without_codec) {
        return Some(name);
    }
    PlanCarrier::encode(plan)
        .is_err()
        .then(|| plan.name().to_string())
}

/// Why a plan could not be prepared, without the plan's text that the codec's errors append
/// (it may hold literals and sources' statements).
pub fn short_reason(e: &datafusion::error::DataFusionError) -> String {
    let text = e.to_string();
    let cut = text.find(". Plan:").unwrap_or(text.len()).min(300);
    let mut end = cut;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// Joins that emit the rows of their collected (build) side once every partition of the probe
/// side has been read: a task of a cluster runs one partition, so it would never see the others
/// finish (and emit nothing, or only its own matches).
fn emits_build_side_at_end(t: JoinType) -> bool {
    matches!(
        t,
        JoinType::Left
            | JoinType::LeftSemi
            | JoinType::LeftAnti
            | JoinType::LeftMark
            | JoinType::Full
    )
}

/// Whether every partitioned hash join of `plan` is inner. Ballista's planner turns a
/// partitioned join with a small side into a broadcast one (`CollectLeft`, the small side
/// built in every task), putting the smaller side on the build side, whatever the join type:
/// for an outer, semi or anti join that side's unmatched rows are then emitted by no task
/// (TPC-H q13 at SF 1 lost its customers without orders). Such plans are sent with
/// broadcast joins off.
fn broadcast_is_safe(plan: &Arc<dyn ExecutionPlan>) -> bool {
    let mut safe = true;
    let _ = plan.apply(|node| {
        if let Some(h) = node.as_any().downcast_ref::<HashJoinExec>() {
            if *h.partition_mode() == PartitionMode::Partitioned
                && *h.join_type() != JoinType::Inner
            {
                safe = false;
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    safe
}

/// The plan with every join whose partitions share state made to read one probe partition
/// (the scheduler puts a stage boundary at the coalesce), and its former output partitioning
/// restored above it when a parent depends on it (hash partitioning).
fn distributable(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        let any = node.as_any();
        let shared = match (
            any.downcast_ref::<HashJoinExec>(),
            any.downcast_ref::<NestedLoopJoinExec>(),
        ) {
            (Some(h), _) => {
                *h.partition_mode() == PartitionMode::CollectLeft
                    && emits_build_side_at_end(*h.join_type())
            }
            (None, Some(n)) => emits_build_side_at_end(*n.join_type()),
            _ => false,
        };
        let children: Vec<Arc<dyn ExecutionPlan>> = node.children().into_iter().cloned().collect();
        let [build, probe] = children.as_slice() else {
            return Ok(Transformed::no(node));
        };
        if !shared || probe.output_partitioning().partition_count() <= 1 {
            return Ok(Transformed::no(node));
        }
        let before = node.output_partitioning().clone();
        let joined = node.clone().with_new_children(vec![
            build.clone(),
            Arc::new(CoalescePartitionsExec::new(probe.clone())),
        ])?;
        Ok(Transformed::yes(match before {
            Partitioning::Hash(exprs, n) if n > 1 => Arc::new(RepartitionExec::try_new(
                joined,
                Partitioning::Hash(exprs, n),
            )?),
            _ => joined,
        }))
    })
    .map(|t| t.data)
}

/// The job's task context. Without dynamic filters: a join's filter waits for every partition
/// of its build side to report, and a cluster's task runs only one. And the client asks for
/// the job's status itself rather than waiting for the scheduler's updates, so the job's id is
/// known as soon as it is accepted (a cancel needs it).
fn job_context(ctx: &Arc<TaskContext>, broadcast: bool) -> Result<Arc<TaskContext>> {
    let mut config = ctx
        .session_config()
        .clone()
        .with_option_extension(BallistaConfig::default());
    let o = config.options_mut();
    o.optimizer.enable_join_dynamic_filter_pushdown = false;
    o.optimizer.enable_dynamic_filter_pushdown = false;
    o.set(ballista_core::config::BALLISTA_CLIENT_PULL, "true")?;
    if !broadcast {
        o.set(
            ballista_core::config::BALLISTA_BROADCAST_JOIN_THRESHOLD_BYTES,
            "0",
        )?;
    }
    Ok(Arc::new(TaskContext::new(
        ctx.task_id(),
        ctx.session_id(),
        config,
        ctx.scalar_functions().clone(),
        ctx.aggregate_functions().clone(),
        ctx.window_functions().clone(),
        ctx.runtime_env(),
    )))
}

/// The functions a cluster member knows: what a plan it receives may call.
static CLUSTER_FUNCTIONS: LazyLock<std::result::Result<Arc<TaskContext>, String>> =
    LazyLock::new(|| {
        cluster_state(SessionConfig::new())
            .map(|s| s.task_ctx())
            .map_err(|e| e.to_string())
    });

/// A statement ready for the cluster.
pub struct Job {
    exec: Arc<DistributedQueryExec<LogicalPlanNode>>,
    scheduler: String,
    schema: SchemaRef,
    /// Whether Ballista may turn a partitioned join into a broadcast one (see
    /// [`broadcast_is_safe`]).
    broadcast: bool,
    /// Dropped once the job's id is known or will never be: what [`JobTracker::settled_id`]
    /// waits for.
    settled: tokio::sync::watch::Sender<()>,
}

/// Tells the scheduler's id of a job once the scheduler has accepted it.
#[derive(Clone)]
pub struct JobTracker {
    exec: Arc<DistributedQueryExec<LogicalPlanNode>>,
    settled: tokio::sync::watch::Receiver<()>,
}

impl JobTracker {
    pub fn id(&self) -> Option<String> {
        self.exec.job_id()
    }

    /// The job's id, waiting (a bounded time) for it when the statement was stopped while
    /// the scheduler's answer was on its way; `None` if the scheduler never accepted the job.
    pub async fn settled_id(&self) -> Option<String> {
        if let Some(id) = self.id() {
            return Some(id);
        }
        let mut settled = self.settled.clone();
        let _ = tokio::time::timeout(ACCEPTANCE_WAIT, async {
            while settled.changed().await.is_ok() {}
        })
        .await;
        self.id()
    }
}

impl std::fmt::Debug for JobTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JobTracker({:?})", self.id())
    }
}

impl Job {
    /// Serialises `plan` for the scheduler at `scheduler` and decodes it again as a cluster
    /// member would; the error says which part of the plan the cluster could not run (a node
    /// of meshgate's own, such as an operational source's query, or a session's function).
    /// `session` names the gateway's session to the scheduler (one scheduler session each).
    pub fn prepare(plan: &Arc<dyn ExecutionPlan>, scheduler: &str, session: &str) -> Result<Job> {
        let plan = distributable(plan.clone())?;
        let broadcast = broadcast_is_safe(&plan);
        let carrier = PlanCarrier::encode(&plan).map_err(|e| match without_codec(&plan) {
            Some(name) => DataFusionError::NotImplemented(format!("{name} has no codec")),
            None => e,
        })?;
        let cluster = CLUSTER_FUNCTIONS
            .as_ref()
            .map_err(|e| DataFusionError::Execution(e.clone()))?;
        PlanCarrier::decode(carrier.bytes(), cluster)?;
        let url = format!("http://{scheduler}");
        Ok(Job {
            exec: Arc::new(DistributedQueryExec::<LogicalPlanNode>::with_extension(
                url.clone(),
                BallistaConfig::default(),
                carrier.into_logical(),
                Arc::new(CarrierCodec::default()),
                session.to_string(),
            )),
            scheduler: url,
            schema: plan.schema(),
            broadcast,
            settled: tokio::sync::watch::Sender::new(()),
        })
    }

    pub fn tracker(&self) -> JobTracker {
        JobTracker {
            exec: self.exec.clone(),
            settled: self.settled.subscribe(),
        }
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Submits the job; its batches follow once the cluster has run it. The session's engine
    /// settings travel with it (batch size, time zone, partitions).
    pub(super) fn start(self, ctx: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let ctx = job_context(&ctx, self.broadcast)?;
        let inner = self.exec.execute(0, ctx)?;
        Ok(Box::pin(Guarded {
            schema: inner.schema(),
            inner: Some(inner),
            exec: self.exec,
            scheduler: self.scheduler,
            finished: false,
            settled: Some(self.settled),
        }))
    }
}

/// The job's result stream. Dropped before its end (a cancel, a timeout, a client gone), it
/// cancels the job on the cluster.
struct Guarded {
    /// `None` only once dropped.
    inner: Option<SendableRecordBatchStream>,
    schema: SchemaRef,
    exec: Arc<DistributedQueryExec<LogicalPlanNode>>,
    scheduler: String,
    finished: bool,
    /// Dropped once the job's id is known or will never be.
    settled: Option<tokio::sync::watch::Sender<()>>,
}

impl futures::Stream for Guarded {
    type Item = Result<datafusion::arrow::record_batch::RecordBatch>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let Some(inner) = self.inner.as_mut() else {
            return std::task::Poll::Ready(None);
        };
        let polled = inner.poll_next_unpin(cx);
        match polled {
            std::task::Poll::Ready(None) => {
                self.finished = true;
                std::task::Poll::Ready(None)
            }
            std::task::Poll::Ready(Some(Err(e))) => {
                let job = self.exec.job_id();
                std::task::Poll::Ready(Some(Err(job_error(job.as_deref(), e))))
            }
            other => other,
        }
    }
}

impl datafusion::physical_plan::RecordBatchStream for Guarded {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

/// What Ballista's errors say when a member of the cluster stopped answering: a shuffle or
/// result partition that could not be fetched from an executor, or a connection that failed.
/// (A task's own connection errors, such as an object store that refused it, say none of
/// these.)
const LOST_MEMBER: &[&str] = &[
    "fetchpartitionerror",
    "shuffle fetch partition error",
    "error connecting to ballista scheduler or executor",
    "heartbeat timed out",
    "stream closed without job completing",
];

/// What the scheduler's reason says when it failed a job because no executor was left to run
/// it (`crate::cluster`'s watch); lower case, as the errors are compared.
pub const NO_EXECUTOR_LEFT: &str = "no executor is left on the cluster";

/// A job's error as the client sees it. A lost executor (or scheduler) is the cluster's
/// failure, not the statement's: 58030 with the job's id, which the scheduler's log names
/// too; Ballista's own text (addresses, executor ids) goes to this server's log. An error of
/// the statement's own (a division by zero on an executor) is left to the usual
/// classification.
fn job_error(job: Option<&str>, e: DataFusionError) -> DataFusionError {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    // Before the scheduler accepted the job nothing ran on an executor: a transport error is
    // the scheduler's.
    let none_left = lower.contains(NO_EXECUTOR_LEFT);
    let lost = none_left
        || LOST_MEMBER.iter().any(|m| lower.contains(m))
        || (job.is_none() && lower.contains("transport"));
    if !lost {
        return e;
    }
    let message = match job {
        Some(job) => {
            tracing::warn!(job = %job, "cluster job failed, a cluster member was lost: {text}");
            if none_left {
                format!(
                    "cluster job {job} failed: no executor is left on the cluster (every one was lost); run the statement again once an executor runs"
                )
            } else if lower.contains("stream closed without job completing") {
                format!("cluster job {job} failed: the cluster's scheduler stopped answering; run the statement again")
            } else {
                format!(
                    "cluster job {job} failed: an executor was lost before its results were read; run the statement again"
                )
            }
        }
        None => {
            tracing::warn!("cluster job not started, the scheduler was not reached: {text}");
            "the cluster's scheduler could not be reached; run the statement again".to_string()
        }
    };
    DataFusionError::External(Box::new(crate::error::UserError::new(
        crate::error::SqlState::IoError,
        message,
    )))
}

/// How long a dropped submission is driven on to learn its job's id: the scheduler may have
/// queued the job (and started its tasks) before its answer reached this gateway.
const ACCEPTANCE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

impl Drop for Guarded {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let exec = self.exec.clone();
        let inner = self.inner.take();
        let scheduler = self.scheduler.clone();
        let settled = self.settled.take();
        handle.spawn(async move {
            let accepted = accepted_job(&exec, inner).await;
            drop(settled);
            let Some(job_id) = accepted else {
                return; // the scheduler never accepted it: nothing runs
            };
            let cancelled = match SchedulerGrpcClient::connect(scheduler).await {
                Ok(mut c) => c
                    .cancel_job(CancelJobParams {
                        job_id: job_id.clone(),
                    })
                    .await
                    .map(|r| r.into_inner().cancelled)
                    .map_err(|e| e.message().to_string()),
                Err(e) => Err(e.to_string()),
            };
            match cancelled {
                Ok(_) => tracing::info!(job = %job_id, "cluster job cancelled"),
                Err(e) => tracing::warn!(job = %job_id, "cluster job not cancelled: {e}"),
            }
        });
    }
}

/// The id of the job `exec` submitted. A statement stopped while its submission was in flight
/// has no id yet, though the scheduler may already run the job: the submission is driven on
/// (its rows, if any, are not read) until the id is known or the submission fails.
async fn accepted_job(
    exec: &DistributedQueryExec<LogicalPlanNode>,
    inner: Option<SendableRecordBatchStream>,
) -> Option<String> {
    if let Some(id) = exec.job_id() {
        return Some(id);
    }
    let mut inner = inner?;
    let known = futures::future::poll_fn(|cx| {
        // Ballista records the id in the same poll that receives the scheduler's answer.
        let polled = inner.poll_next_unpin(cx);
        match (exec.job_id(), polled) {
            (Some(id), _) => std::task::Poll::Ready(Some(id)),
            (None, std::task::Poll::Ready(_)) => std::task::Poll::Ready(None),
            (None, std::task::Poll::Pending) => std::task::Poll::Pending,
        }
    });
    match tokio::time::timeout(ACCEPTANCE_WAIT, known).await {
        Ok(id) => id,
        Err(_) => {
            tracing::warn!(
                "a cancelled cluster submission was not answered in {ACCEPTANCE_WAIT:?}"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::UserError;

    fn seen(job: Option<&str>, text: &str) -> UserError {
        UserError::from_datafusion(&job_error(
            job,
            DataFusionError::Execution(text.to_string()),
        ))
    }

    #[test]
    fn a_lost_executor_is_58030_naming_the_job() {
        // What Ballista 53 says when a stage kept failing to read a dead executor's shuffle
        // output, and when the gateway could not fetch a result partition from it.
        for text in [
            "Job abc1234 failed: Job failed due to stage 2 failed: Stage 2 has failed 4 times, \
             most recent failure reason: {\"FetchPartitionError\"}",
            "Grpc connection error: Error connecting to Ballista scheduler or executor at \
             http://127.0.0.1:40123: tonic::transport::Error(Transport, ConnectError)",
        ] {
            let e = seen(Some("abc1234"), text);
            assert_eq!(e.code.code(), "58030", "{text}");
            assert!(e.message.contains("abc1234"), "{}", e.message);
            assert!(e.message.contains("executor was lost"), "{}", e.message);
            assert!(!e.message.contains("127.0.0.1"), "{}", e.message);
        }
    }

    #[test]
    fn a_job_failed_for_want_of_executors_is_58030_saying_so() {
        let e = seen(
            Some("abc1234"),
            &format!("Job abc1234 failed: {}", NO_EXECUTOR_LEFT),
        );
        assert_eq!(e.code.code(), "58030");
        assert!(e.message.contains("abc1234"), "{}", e.message);
        assert!(e.message.contains("no executor is left"), "{}", e.message);
    }

    /// Two one-column inputs joined on that column, partitioned, with `join`.
    fn partitioned_join(join: JoinType) -> Arc<dyn ExecutionPlan> {
        use datafusion::arrow::datatypes::{DataType, Field, Schema};
        use datafusion::common::NullEquality;
        use datafusion::physical_expr::expressions::Column;
        use datafusion::physical_plan::empty::EmptyExec;
        let side = |name: &str| -> Arc<dyn ExecutionPlan> {
            Arc::new(EmptyExec::new(Arc::new(Schema::new(vec![Field::new(
                name,
                DataType::Int64,
                true,
            )]))))
        };
        Arc::new(
            HashJoinExec::try_new(
                side("c"),
                side("o"),
                vec![(Arc::new(Column::new("c", 0)), Arc::new(Column::new("o", 0)))],
                None,
                &join,
                None,
                PartitionMode::Partitioned,
                NullEquality::NullEqualsNothing,
                false,
            )
            .expect("join"),
        )
    }

    #[test]
    fn only_inner_partitioned_joins_may_become_broadcast_joins() {
        assert!(broadcast_is_safe(&partitioned_join(JoinType::Inner)));
        for join in [
            JoinType::Left,
            JoinType::Right,
            JoinType::Full,
            JoinType::LeftSemi,
            JoinType::RightAnti,
        ] {
            assert!(!broadcast_is_safe(&partitioned_join(join)), "{join:?}");
        }
    }

    #[test]
    fn an_unreached_scheduler_is_58030() {
        let e = seen(None, "tonic::transport::Error(Transport, ConnectError)");
        assert_eq!(e.code.code(), "58030");
        assert!(e.message.contains("scheduler"), "{}", e.message);
    }

    #[test]
    fn a_statements_own_error_keeps_its_code() {
        let e = seen(
            Some("abc1234"),
            "Job abc1234 failed: Task failed: Arrow error: Divide by zero error",
        );
        assert_eq!(e.code.code(), "22012");
        // A task's own storage that refused a connection is not a lost cluster member.
        let e = seen(
            Some("abc1234"),
            "Job abc1234 failed: Object Store error: Generic S3 error: tcp connect error: \
             Connection refused",
        );
        assert_ne!(e.code.code(), "58030");
    }
}
