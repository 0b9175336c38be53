//! The members of a `[cluster]`: Apache DataFusion Ballista's own scheduler and executors,
//! set up for the plans meshgate hands them (`meshgate scheduler`, `meshgate executor`).
//!
//! ```text
//!  gateway ── ExecuteQuery(PlanCarrier) ──► scheduler: decode, split into stages at shuffles
//!                                              │ tasks (executors poll for them)
//!  gateway ◄── result partitions (Flight) ── executors: run stages, reading each domain's
//!                                            files with that domain's object store
//! ```
//!
//! Beside Ballista's own, the scheduler answers how many task slots its live executors have
//! ([`crate::exec::slots`], what a gateway plans a statement's partitions with) and fails the
//! jobs left with no executor at all (`stranded`).
//!
//! An executor is built from the same meshgate.toml and domain files as the gateway: its
//! runtime has every domain's bucket registered with that domain's credentials, the same way
//! the gateway's has ([`crate::catalog::register_object_stores`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::extension::SessionConfigExt;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::serde::protobuf::scheduler_grpc_server::SchedulerGrpcServer;
use ballista_core::serde::{BallistaCodec, BallistaPhysicalExtensionCodec};
use ballista_core::utils::{create_grpc_server, GrpcServerConfig};
use ballista_core::{ConfigProducer, RuntimeProducer};
use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_server::SchedulerServer;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::SessionConfig;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use tokio::net::TcpListener;

use crate::config::Config;
use crate::exec::carrier::{cluster_state, CarrierCodec};

mod slots;
mod stranded;

/// How tasks reach executors. With `Push` the scheduler sends them and can cancel running
/// ones (a cancelled statement frees its task slots at once); with `Pull` executors poll for
/// them (an executor needs no port of its own for the scheduler, but a cancelled job's running
/// tasks run to their end). Scheduler and executors must agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tasks {
    Push,
    Pull,
}

impl Tasks {
    fn policy(self) -> TaskSchedulingPolicy {
        match self {
            Tasks::Push => TaskSchedulingPolicy::PushStaged,
            Tasks::Pull => TaskSchedulingPolicy::PullStaged,
        }
    }
}

/// How long an executor may stay silent before the scheduler counts it lost, when tasks are
/// pushed: six heartbeats at the executor's default interval. A lost executor's running tasks
/// are run again on the others, so this bounds how long a statement waits on a dead machine.
pub const DEFAULT_EXECUTOR_TIMEOUT_SECS: u64 = 30;

/// The same when executors poll for tasks: an executor reports only when it asks for work, so
/// one busy with long tasks is silent the whole time; a short timeout would count it lost and
/// run its tasks again elsewhere, over and over. Ballista's own default.
pub const DEFAULT_PULL_EXECUTOR_TIMEOUT_SECS: u64 = 180;

/// How often a `meshgate executor` tells the scheduler it is alive (pushed tasks).
pub const DEFAULT_HEARTBEAT_SECS: u64 = 5;

/// How `meshgate scheduler` runs.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    pub tasks: Tasks,
    /// Seconds without word from an executor before it is counted lost (default: by `tasks`,
    /// [`DEFAULT_EXECUTOR_TIMEOUT_SECS`] or [`DEFAULT_PULL_EXECUTOR_TIMEOUT_SECS`]).
    pub executor_timeout_secs: Option<u64>,
    /// `host:port` executors reach the scheduler by: they send the status of the tasks it gave
    /// them there (default: see [`reachable_address`]).
    pub external_address: Option<String>,
}

impl SchedulerOptions {
    pub fn new(tasks: Tasks) -> Self {
        SchedulerOptions {
            tasks,
            executor_timeout_secs: None,
            external_address: None,
        }
    }

    fn config(&self) -> SchedulerConfig {
        let timeout = self
            .executor_timeout_secs
            .unwrap_or(match self.tasks {
                Tasks::Push => DEFAULT_EXECUTOR_TIMEOUT_SECS,
                Tasks::Pull => DEFAULT_PULL_EXECUTOR_TIMEOUT_SECS,
            })
            .max(1);
        SchedulerConfig {
            executor_timeout_seconds: timeout,
            // Looked for a sixth of the timeout apart, so a lost executor is noticed at most
            // that much after its timeout (Ballista looks every 15 s whatever the timeout).
            expire_dead_executor_interval_seconds: (timeout / 6).clamp(1, 15),
            ..SchedulerConfig::default()
        }
        .with_scheduler_policy(self.tasks.policy())
    }
}

/// The address executors are told to report to when none is given: the listening address,
/// unless that is a wildcard (`0.0.0.0:50050`, which every executor would take for itself); then
/// this host's name (a container's, which the other containers of its network resolve).
pub fn reachable_address(listening: SocketAddr) -> String {
    if !listening.ip().is_unspecified() {
        return listening.to_string();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{}", listening.port())
}

/// Starts Ballista's scheduler on `listener` and returns once it serves (the server runs on
/// the current runtime until it ends).
pub async fn start_scheduler(listener: TcpListener, tasks: Tasks) -> Result<SocketAddr, String> {
    start_scheduler_with(listener, SchedulerOptions::new(tasks)).await
}

/// [`start_scheduler`] with every option.
pub async fn start_scheduler_with(
    listener: TcpListener,
    opts: SchedulerOptions,
) -> Result<SocketAddr, String> {
    let addr = listener
        .local_addr()
        .map_err(|e| format!("scheduler address: {e}"))?;
    let name = opts
        .external_address
        .clone()
        .unwrap_or_else(|| reachable_address(addr));
    tracing::info!(listen = %addr, external = %name, "scheduler starts");
    let config_producer: ConfigProducer = Arc::new(SessionConfig::new_with_ballista);
    let memory = BallistaCluster::new_memory(
        name.clone(),
        Arc::new(cluster_state),
        config_producer.clone(),
    );
    let verdicts = Arc::new(stranded::Verdicts::new(memory.job_state()));
    let cluster = BallistaCluster::new(memory.cluster_state(), verdicts.clone());
    let codec: BallistaCodec<LogicalPlanNode, PhysicalPlanNode> = BallistaCodec::new(
        Arc::new(CarrierCodec::default()),
        Arc::new(BallistaPhysicalExtensionCodec::default()),
    );
    let metrics = ballista_scheduler::metrics::default_metrics_collector()
        .map_err(|e| format!("scheduler metrics: {e}"))?;
    let mut server: SchedulerServer<LogicalPlanNode, PhysicalPlanNode> =
        SchedulerServer::new(name, cluster, codec, Arc::new(opts.config()), metrics);
    server.init().await.map_err(|e| format!("scheduler: {e}"))?;
    let config = opts.config();
    let every = Duration::from_secs(config.expire_dead_executor_interval_seconds);
    if opts.tasks == Tasks::Push {
        tokio::spawn(revive_offers(server.clone(), every));
    }
    tokio::spawn(stranded::watch(
        server.clone(),
        verdicts,
        every,
        Duration::from_secs(config.executor_timeout_seconds),
    ));
    let max = config_producer().ballista_grpc_client_max_message_size();
    let slots = slots::Slots(server.clone());
    let grpc = SchedulerGrpcServer::new(server)
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    tokio::spawn(async move {
        let served = create_grpc_server(&GrpcServerConfig::default())
            .add_service(grpc)
            .add_service(slots)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await;
        if let Err(e) = served {
            tracing::error!("scheduler stopped: {e}");
        }
    });
    tracing::info!("cluster scheduler listening on {addr}");
    Ok(addr)
}

/// Ballista 53's scheduler puts the running tasks of an executor it counts lost back in its
/// queue, but with pushed tasks it offers queued tasks to executors only on its next event (a
/// task's end, a job's submission, an executor's registration): when the surviving executors
/// are idle, a statement whose executor died would wait for ever. While jobs run, an empty
/// status report in the name of a live executor is such an event, once per expiry check.
async fn revive_offers(
    server: SchedulerServer<LogicalPlanNode, PhysicalPlanNode>,
    every: Duration,
) {
    use ballista_core::serde::protobuf::executor_status::Status;
    use ballista_core::serde::protobuf::scheduler_grpc_server::SchedulerGrpc;
    use ballista_core::serde::protobuf::UpdateTaskStatusParams;
    loop {
        tokio::time::sleep(every).await;
        if server.running_job_number() == 0 {
            continue;
        }
        let manager = &server.state.executor_manager;
        let Ok(executors) = manager.get_executors_state().await else {
            continue;
        };
        let live = executors.into_iter().find_map(|(metadata, _, _)| {
            let beat = manager.get_executor_hearbeat(&metadata.id)?;
            matches!(beat.status?.status?, Status::Active(_)).then_some(metadata.id)
        });
        let Some(executor_id) = live else {
            continue;
        };
        let nudge = tonic::Request::new(UpdateTaskStatusParams {
            executor_id,
            task_status: vec![],
        });
        if let Err(e) = SchedulerGrpc::update_task_status(&server, nudge).await {
            tracing::debug!("scheduler did not take the offer nudge: {}", e.message());
        }
    }
}

/// The runtime an executor's tasks read through: every domain's object store.
fn executor_runtime(config: &Config) -> Result<Arc<RuntimeEnv>, String> {
    let env = RuntimeEnvBuilder::new()
        .build_arc()
        .map_err(|e| e.to_string())?;
    crate::catalog::register_object_stores(config, &env).map_err(|e| e.to_string())?;
    Ok(env)
}

fn executor_functions() -> Result<BallistaFunctionRegistry, String> {
    cluster_state(SessionConfig::new())
        .map(|s| BallistaFunctionRegistry::from(&s))
        .map_err(|e| e.to_string())
}

/// How `meshgate executor` runs.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler, `host:port`.
    pub scheduler: String,
    /// Address its Flight (result partitions, shuffles) and gRPC services bind to.
    pub bind_host: String,
    /// The host name the scheduler and gateways reach it by (default: `bind_host`).
    pub external_host: Option<String>,
    pub port: u16,
    pub grpc_port: u16,
    /// Tasks run at once; 0: one per core.
    pub concurrent_tasks: usize,
    /// Where shuffle files are written (default: a temporary directory).
    pub work_dir: Option<PathBuf>,
    pub tasks: Tasks,
    /// Seconds between the executor's heartbeats to the scheduler (pushed tasks; an executor
    /// that polls reports each time it asks for work). 0: [`DEFAULT_HEARTBEAT_SECS`].
    pub heartbeat_secs: u64,
}

/// Runs a Ballista executor for the domains of `config` until SIGTERM or Ctrl-C.
pub async fn run_executor(config: &Config, opts: ExecutorOptions) -> Result<(), String> {
    let (host, port) = opts
        .scheduler
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
        .ok_or_else(|| format!("scheduler {:?} is not host:port", opts.scheduler))?;
    let env = executor_runtime(config)?;
    let runtime: RuntimeProducer = Arc::new(move |_| Ok(env.clone()));
    let defaults = ExecutorProcessConfig::default();
    let process = ExecutorProcessConfig {
        bind_host: opts.bind_host.clone(),
        external_host: opts.external_host.clone().or(Some(opts.bind_host)),
        port: opts.port,
        grpc_port: opts.grpc_port,
        scheduler_host: host,
        scheduler_port: port,
        concurrent_tasks: match opts.concurrent_tasks {
            0 => defaults.concurrent_tasks,
            n => n,
        },
        task_scheduling_policy: opts.tasks.policy(),
        work_dir: opts.work_dir.map(|d| d.display().to_string()),
        executor_heartbeat_interval_seconds: match opts.heartbeat_secs {
            0 => DEFAULT_HEARTBEAT_SECS,
            n => n,
        },
        override_runtime_producer: Some(runtime),
        override_function_registry: Some(Arc::new(executor_functions()?)),
        override_config_producer: Some(Arc::new(SessionConfig::new_with_ballista)),
        ..defaults
    };
    start_executor_process(Arc::new(process))
        .await
        .map_err(|e| format!("executor: {e}"))
}

/// Starts an executor inside this process (on the current runtime) for the scheduler at
/// `scheduler`, reading the domains of `config`; it listens on a free port of localhost and
/// polls for tasks ([`Tasks::Pull`]).
pub async fn start_executor_in_process(
    config: &Config,
    scheduler: SocketAddr,
    concurrent_tasks: usize,
) -> Result<(), String> {
    let client = SchedulerGrpcClient::connect(format!("http://{scheduler}"))
        .await
        .map_err(|e| format!("cannot reach the scheduler at {scheduler}: {e}"))?;
    let env = executor_runtime(config)?;
    ballista_executor::new_standalone_executor_from_builder(
        client,
        concurrent_tasks.max(1),
        Arc::new(SessionConfig::new_with_ballista),
        Arc::new(move |_| Ok(env.clone())),
        BallistaCodec::default(),
        executor_functions()?,
    )
    .await
    .map_err(|e| format!("executor: {e}"))
}

#[cfg(test)]
mod tests {
    use super::reachable_address;

    #[test]
    fn a_wildcard_listen_address_is_not_what_executors_are_told() {
        assert_eq!(
            reachable_address("127.0.0.1:50050".parse().unwrap()),
            "127.0.0.1:50050"
        );
        let told = reachable_address("0.0.0.0:50050".parse().unwrap());
        assert!(
            told.ends_with(":50050") && !told.starts_with("0.0.0.0"),
            "{told}"
        );
    }
}
