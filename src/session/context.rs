//! The engine context a session plans in, and the functions that belong to one session.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::MemoryCatalogProviderList;
use datafusion::common::ScalarValue;
use datafusion::error::Result as DfResult;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{create_udf, ColumnarValue, Volatility};
use datafusion::prelude::SessionContext;

use super::{Login, Services};
use crate::error::UserError;
use crate::exec::Executor;

/// The engine state every session of a server starts from: settings, runtime, functions,
/// rules and planner. Building it registers some 400 functions and builds the rule lists,
/// the largest part of setting up a session; copying a built one costs a fraction of that
/// (copied maps of shared pointers), so it is built once per database name and copied.
#[derive(Default)]
pub struct Template(std::sync::Mutex<Option<(String, SessionState)>>);

impl Template {
    fn state(&self, executor: &Executor, database: &str) -> SessionState {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match slot.as_ref() {
            Some((name, state)) if name == database => state.clone(),
            _ => {
                let state = build(executor, database);
                *slot = Some((database.to_string(), state.clone()));
                state
            }
        }
    }
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Template")
    }
}

fn build(executor: &Executor, database: &str) -> SessionState {
    let mut state = crate::sql::semantics::install_before_coercion(crate::sql::barrier::install(
        meshgate_functions::install(
            SessionStateBuilder::new()
                .with_config(executor.session_config(database))
                .with_runtime_env(executor.env.clone())
                .with_default_features(),
        ),
    ))
    .with_analyzer_rule(crate::sql::semantics::rule())
    .build();
    if let Err(e) = state.register_udf(Arc::new(crate::sql::semantics::one_row())) {
        tracing::error!("one_row not registered: {e}");
    }
    state
}

/// A session's engine context: the server's engine settings and runtime (object stores, memory
/// pool, spill disk), copied from the server's [`Template`]; the mesh is installed into it by
/// the session.
pub(super) fn new(template: &Template, executor: &Executor, database: &str) -> SessionContext {
    let mut state = template.state(executor, database);
    // The copy shares the template's catalog list; the session registers its own catalog
    // (the mesh as its principal sees it), so it gets a list of its own.
    state.register_catalog_list(Arc::new(MemoryCatalogProviderList::new()));
    SessionContext::new_with_state(state)
}

/// The functions that act on this session or the server: `version()`, `pg_backend_pid()` (the
/// pid in BackendKeyData: clients cancel with `pg_cancel_backend(pid)`), `pg_reload_conf()`
/// (admins only, as in PostgreSQL: re-reads the configuration like SIGHUP does),
/// `pg_cancel_backend` and `pg_terminate_backend` (one's own sessions; admins any).
pub(super) fn session_functions(
    ctx: &SessionContext,
    services: &Services,
    login: &Login,
    pid: i32,
) {
    let (user, admin) = (login.user.as_str(), login.admin);
    let version = crate::catalog::functions::version_string();
    ctx.register_udf(create_udf(
        "version",
        vec![],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |_args: &[ColumnarValue]| -> DfResult<ColumnarValue> {
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
                version.clone(),
            ))))
        }),
    ));
    ctx.register_udf(create_udf(
        "pg_backend_pid",
        vec![],
        DataType::Int32,
        Volatility::Stable,
        Arc::new(move |_args: &[ColumnarValue]| -> DfResult<ColumnarValue> {
            Ok(ColumnarValue::Scalar(ScalarValue::Int32(Some(pid))))
        }),
    ));
    // Weak: a session's functions must not keep the server alive.
    let weak = Arc::downgrade(&services.control);
    ctx.register_udf(create_udf(
        "pg_reload_conf",
        vec![],
        DataType::Boolean,
        Volatility::Volatile,
        Arc::new(move |_args: &[ColumnarValue]| {
            if !admin {
                return Err(
                    UserError::denied("permission denied for function pg_reload_conf")
                        .into_datafusion(),
                );
            }
            let Some(control) = weak.upgrade() else {
                return Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(false))));
            };
            // PostgreSQL answers true once the reload is signalled; an invalid file is logged
            // and the old configuration kept. Here the outcome is known, so it is reported.
            Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(
                control.reload(),
            ))))
        }),
    ));
    for (name, terminate) in [("pg_cancel_backend", false), ("pg_terminate_backend", true)] {
        let registry = Arc::downgrade(&services.registry);
        let peers = services.peers.clone();
        let user = user.to_string();
        ctx.register_udf(create_udf(
            name,
            vec![DataType::Int64],
            DataType::Boolean,
            Volatility::Volatile,
            Arc::new(move |args: &[ColumnarValue]| {
                let arrays = ColumnarValue::values_to_arrays(args)?;
                let pids = datafusion::common::cast::as_int64_array(&arrays[0])?;
                let Some(registry) = registry.upgrade() else {
                    return Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(false))));
                };
                let mut out = datafusion::arrow::array::BooleanBuilder::with_capacity(pids.len());
                for pid in pids.iter() {
                    match pid.and_then(|p| i32::try_from(p).ok()) {
                        Some(p) => out.append_value(
                            if peers.is_remote(p) {
                                peers.signal(p, &user, admin, terminate)
                            } else {
                                registry.signal(p, &user, admin, terminate)
                            }
                            .map_err(UserError::into_datafusion)?,
                        ),
                        None => out.append_null(),
                    }
                }
                let result: datafusion::arrow::array::ArrayRef = Arc::new(out.finish());
                Ok(
                    if arrays[0].len() == 1 && matches!(args[0], ColumnarValue::Scalar(_)) {
                        ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?)
                    } else {
                        ColumnarValue::Array(result)
                    },
                )
            }),
        ));
    }
}

/// The engine state a session's statements plan with, and the task context they run with,
/// copied from the session's context only when something changed it.
///
/// `SessionContext::state()` copies the whole state (some 400 functions in maps, the rule
/// lists, the settings) and `task_ctx()` copies the function maps again: about a sixth of the
/// server's CPU for a statement that reads no table (perf of a release server answering
/// `SELECT %s` in a loop). A session's state changes only when a setting is written or its
/// catalog installed, and those say so ([`Snapshot::changed`]); the next statement copies it
/// again.
#[derive(Default)]
pub struct Snapshot {
    version: std::sync::atomic::AtomicU64,
    kept: std::sync::Mutex<Option<Kept>>,
}

struct Kept {
    version: u64,
    state: Arc<SessionState>,
    task: Arc<datafusion::execution::TaskContext>,
}

impl Snapshot {
    /// Something wrote the context's state: the next statement copies it again.
    pub fn changed(&self) {
        self.version
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// The state to plan one statement with. Its execution starts now: `now()` is this
    /// statement's time, as a copy from `SessionContext::state()` would have it (the copy is
    /// taken again only while an earlier statement still holds the last one).
    pub fn state(&self, ctx: &SessionContext) -> Arc<SessionState> {
        self.with_kept(ctx, |kept| {
            Arc::make_mut(&mut kept.state).mark_start_execution();
            kept.state.clone()
        })
    }

    /// The task context to run a statement with.
    pub fn task_ctx(&self, ctx: &SessionContext) -> Arc<datafusion::execution::TaskContext> {
        self.with_kept(ctx, |kept| kept.task.clone())
    }

    fn with_kept<T>(&self, ctx: &SessionContext, f: impl FnOnce(&mut Kept) -> T) -> T {
        // Read before copying: a write that lands during the copy leaves a newer state under
        // an older version, which the next statement copies again.
        let version = self.version.load(std::sync::atomic::Ordering::SeqCst);
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        match kept.as_mut() {
            Some(k) if k.version == version => f(k),
            _ => {
                let state = Arc::new(ctx.state());
                let task = Arc::new(datafusion::execution::TaskContext::from(state.as_ref()));
                f(kept.insert(Kept {
                    version,
                    state,
                    task,
                }))
            }
        }
    }
}
