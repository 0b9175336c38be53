//! Jobs stranded on a scheduler with no executor left.
//!
//! Ballista 53 puts the tasks of a lost executor back in its queue and waits for another
//! executor to take them: when every executor is gone, a running job waits for ever (its
//! statement until `statement_timeout` or a cancel). The scheduler here fails such jobs once
//! no executor has been alive for one executor timeout, the time an operator already allows
//! a silent executor, so a replacement that registers within it still takes the work.
//!
//! ```text
//!  watch (every expiry check) ── no live executor for `grace`, jobs running
//!     ├─ Verdicts::record(job, "no executor is left …")
//!     └─ SchedulerServer::cancel_job(job) ─ Ballista fails the job ("Cancelled"), cleans up
//!  gateway ── GetJobStatus ─► task manager ─► Verdicts::get_job_status: the recorded reason
//! ```
//!
//! Ballista's own way to fail a running job with a reason is not public; a cancel is, and the
//! job state it saves passes through [`Verdicts`], which gives the reason in its place.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ballista_core::error::Result;
use ballista_core::serde::protobuf::executor_status::Status as ExecutorStatus;
use ballista_core::serde::protobuf::job_status::Status;
use ballista_core::serde::protobuf::JobStatus;
use ballista_core::serde::scheduler::ExecutorMetadata;
use ballista_core::JobStatusSubscriber;
use ballista_scheduler::cluster::{JobState, JobStateEventStream};
use ballista_scheduler::scheduler_server::SchedulerServer;
use ballista_scheduler::state::execution_graph::ExecutionGraphBox;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};

use crate::exec::cluster::NO_EXECUTOR_LEFT;

/// A job state that reports the reason a job was failed for, where Ballista's cancel would
/// say only "Cancelled". Everything else is the wrapped state's.
pub struct Verdicts {
    inner: Arc<dyn JobState>,
    /// Jobs failed here and why; an entry goes when Ballista forgets the job.
    failed: Mutex<std::collections::HashMap<String, String>>,
}

impl Verdicts {
    pub fn new(inner: Arc<dyn JobState>) -> Self {
        Verdicts {
            inner,
            failed: Mutex::new(Default::default()),
        }
    }

    /// The reason `job` is about to be failed for.
    fn record(&self, job: &str, reason: String) {
        self.failed
            .lock()
            .expect("no panic while the lock is held")
            .insert(job.to_string(), reason);
    }

    fn reason(&self, job: &str) -> Option<String> {
        self.failed
            .lock()
            .expect("no panic while the lock is held")
            .get(job)
            .cloned()
    }
}

#[tonic::async_trait]
impl JobState for Verdicts {
    fn accept_job(&self, job_id: &str, job_name: &str, queued_at: u64) -> Result<()> {
        self.inner.accept_job(job_id, job_name, queued_at)
    }

    fn pending_job_number(&self) -> usize {
        self.inner.pending_job_number()
    }

    async fn submit_job(
        &self,
        job_id: String,
        graph: &ExecutionGraphBox,
        subscriber: Option<JobStatusSubscriber>,
    ) -> Result<()> {
        self.inner.submit_job(job_id, graph, subscriber).await
    }

    async fn get_jobs(&self) -> Result<HashSet<String>> {
        self.inner.get_jobs().await
    }

    async fn get_all_jobs(&self) -> Result<HashSet<String>> {
        self.inner.get_all_jobs().await
    }

    async fn get_job_status(&self, job_id: &str) -> Result<Option<JobStatus>> {
        let mut status = self.inner.get_job_status(job_id).await?;
        if let (
            Some(reason),
            Some(JobStatus {
                status: Some(Status::Failed(f)),
                ..
            }),
        ) = (self.reason(job_id), status.as_mut())
        {
            f.error = reason;
        }
        Ok(status)
    }

    async fn get_execution_graph(&self, job_id: &str) -> Result<Option<ExecutionGraphBox>> {
        self.inner.get_execution_graph(job_id).await
    }

    async fn save_job(&self, job_id: &str, graph: &ExecutionGraphBox) -> Result<()> {
        self.inner.save_job(job_id, graph).await
    }

    async fn fail_unscheduled_job(&self, job_id: &str, reason: String) -> Result<()> {
        self.inner.fail_unscheduled_job(job_id, reason).await
    }

    async fn remove_job(&self, job_id: &str) -> Result<()> {
        self.failed
            .lock()
            .expect("no panic while the lock is held")
            .remove(job_id);
        self.inner.remove_job(job_id).await
    }

    async fn try_acquire_job(&self, job_id: &str) -> Result<Option<ExecutionGraphBox>> {
        self.inner.try_acquire_job(job_id).await
    }

    async fn job_state_events(&self) -> Result<JobStateEventStream> {
        self.inner.job_state_events().await
    }

    async fn create_or_update_session(
        &self,
        session_id: &str,
        config: &SessionConfig,
    ) -> Result<Arc<SessionContext>> {
        self.inner
            .create_or_update_session(session_id, config)
            .await
    }

    async fn remove_session(&self, session_id: &str) -> Result<()> {
        self.inner.remove_session(session_id).await
    }

    fn produce_config(&self) -> SessionConfig {
        self.inner.produce_config()
    }
}

/// Whether an executor last heard of at `heartbeat` (seconds since the epoch) with `status` is
/// alive `now`: active (or, when executors poll, not yet reporting a status) and heard of
/// within `timeout`, as Ballista counts it.
fn alive(
    status: Option<&ExecutorStatus>,
    heartbeat: u64,
    now: u64,
    timeout: u64,
    pull: bool,
) -> bool {
    let active = match status {
        Some(ExecutorStatus::Active(_)) => true,
        None => pull,
        Some(_) => false,
    };
    active && heartbeat + timeout > now
}

/// The executors of `server` alive now.
pub(super) async fn live_executors(
    server: &SchedulerServer<LogicalPlanNode, PhysicalPlanNode>,
) -> Option<Vec<ExecutorMetadata>> {
    let timeout = server.state.config.executor_timeout_seconds;
    let pull = !server.state.config.is_push_staged_scheduling();
    let manager = &server.state.executor_manager;
    let executors = manager.get_executors_state().await.ok()?;
    let now = ballista_scheduler::scheduler_server::timestamp_secs();
    Some(
        executors
            .into_iter()
            .map(|(metadata, _, _)| metadata)
            .filter(|metadata| {
                manager
                    .get_executor_hearbeat(&metadata.id)
                    .is_some_and(|b| {
                        let status = b.status.as_ref().and_then(|s| s.status.as_ref());
                        alive(status, b.timestamp, now, timeout, pull)
                    })
            })
            .collect(),
    )
}

/// Every `every`, fails the running jobs of `server` once no executor has been alive for
/// `grace` (counted from when the last one stopped being alive, or from the start).
pub async fn watch(
    server: SchedulerServer<LogicalPlanNode, PhysicalPlanNode>,
    verdicts: Arc<Verdicts>,
    every: Duration,
    grace: Duration,
) {
    let mut none_since = Some(Instant::now());
    loop {
        tokio::time::sleep(every).await;
        let Some(live) = live_executors(&server).await else {
            continue;
        };
        if !live.is_empty() {
            none_since = None;
            continue;
        }
        let since = *none_since.get_or_insert_with(Instant::now);
        if since.elapsed() < grace {
            continue;
        }
        let running = server.state.task_manager.get_running_job_cache();
        for job in running.keys() {
            tracing::warn!(
                job = %job,
                "cluster job failed: no executor has been alive for {}s",
                since.elapsed().as_secs()
            );
            verdicts.record(job, NO_EXECUTOR_LEFT.to_string());
            if let Err(e) = server.cancel_job(job.clone()).await {
                tracing::warn!(job = %job, "could not fail the job: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballista_core::serde::protobuf::ExecutorStatus as Wrapper;

    fn status(s: &Wrapper) -> Option<&ExecutorStatus> {
        s.status.as_ref()
    }

    #[test]
    fn an_executor_is_alive_while_active_and_heard_of_within_the_timeout() {
        let active = Wrapper {
            status: Some(ExecutorStatus::Active(String::new())),
        };
        let dead = Wrapper {
            status: Some(ExecutorStatus::Dead(String::new())),
        };
        assert!(alive(status(&active), 100, 102, 3, false));
        assert!(!alive(status(&active), 100, 103, 3, false));
        assert!(!alive(status(&dead), 100, 100, 3, false));
        // Polling executors report no status until asked.
        assert!(alive(None, 100, 101, 3, true));
        assert!(!alive(None, 100, 101, 3, false));
    }
}
