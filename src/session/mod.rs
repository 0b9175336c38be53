//! One connection's session: who is connected, what it has set, its transaction, prepared
//! statements, portals, cursors and temporary tables, and the dispatch of each statement.
//!
//! ```text
//!  wire ── parse_batch / prepare / bind / execute ──► Session ── sql::parse / sql::plan
//!    ▲                                                  │  Command::Query ──► exec (rows)
//!    └── Client (replies, rows, COPY) ◄─────────────────┤  SET/SHOW ──► settings.rs
//!                                                       │  BEGIN/COMMIT ──► transaction.rs
//!                                                       │  DECLARE/FETCH ──► cursor.rs
//!                                                       │  temporary tables ──► temp.rs
//!                                                       └  DDL / DML ──► ddl.rs, dml.rs
//! ```
//!
//! The session never touches a socket: what a statement says goes through a [`Client`], which
//! the protocol layer implements over the connection and tests implement in memory.

mod audit;
mod context;
mod cursor;
mod datarow;
mod ddl;
mod dml;
pub mod encode;
pub mod plancache;
mod prepared;
pub mod registry;
pub mod replicas;
pub mod result;
pub mod settings;
mod temp;
#[cfg(test)]
mod tests;
mod transaction;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::MemorySchemaProvider;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement;
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::api::Type;
use tokio_util::sync::CancellationToken;

use crate::audit::{Auditor, Protocol};
use crate::auth::AuthMethod;
use crate::catalog::history::ReadVersions;
use crate::catalog::{Mesh, MeshState};
use crate::error::{SqlState, UserError};
use crate::exec::cluster::Choice;
use crate::exec::Executor;
use crate::policy::{Access, Principal};
use crate::sql::{self, Allow, Command, Parsed};

pub use crate::sql::CopyFormat;
pub use context::Template;
pub use prepared::Description;
pub use registry::{replica_of, CancelSlot, Registry};
pub use result::{Pumped, RowSource};
use transaction::{Transaction, TxState};

/// What the server lends every session: narrow handles, never the server itself.
#[derive(Clone)]
pub struct Services {
    /// The mesh statements plan against, and the configuration it was built from.
    pub mesh: Arc<MeshState>,
    pub executor: Arc<Executor>,
    pub auditor: Arc<Auditor>,
    /// Every session's pid and cancel key.
    pub registry: Arc<Registry>,
    /// The other replicas, for signals to their sessions.
    pub peers: Arc<replicas::Peers>,
    /// What only the server can do.
    pub control: Arc<dyn Control>,
    /// The server's counters.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The engine state sessions are copied from.
    pub template: Arc<context::Template>,
}

/// Server operations a session's functions may ask for.
pub trait Control: Send + Sync {
    /// Re-reads the configuration (`pg_reload_conf()`); whether it was applied.
    fn reload(&self) -> bool;
}

/// Who logged in, and how: fixed for the connection.
#[derive(Debug, Clone)]
pub struct Login {
    pub user: String,
    pub admin: bool,
    pub method: AuthMethod,
    /// Roles the login brought with it (a token's roles claim); empty for other methods.
    pub roles: Vec<String>,
    /// The client's address, for audit events.
    pub peer: SocketAddr,
    /// Set when a peer gateway speaks for the user: its region. What the session reads then
    /// leaves this gateway's jurisdiction, under the products' residency rules.
    pub gateway: Option<String>,
}

/// The connection is gone; the session ends.
#[derive(Debug)]
pub struct Gone;

/// Why a statement or protocol step did not complete.
#[derive(Debug)]
pub enum Failure {
    /// Report to the client and go on.
    User(UserError),
    /// The connection is gone.
    Gone,
}

impl From<UserError> for Failure {
    fn from(e: UserError) -> Self {
        Failure::User(e)
    }
}

impl From<Gone> for Failure {
    fn from(_: Gone) -> Self {
        Failure::Gone
    }
}

/// What a statement says to its client besides rows.
#[derive(Debug, Clone)]
pub enum Reply {
    /// The columns of the rows that follow (RowDescription).
    Columns(Arc<Vec<FieldInfo>>),
    /// One row of text values in these columns (SHOW).
    Row(Arc<Vec<FieldInfo>>, Vec<String>),
    /// The statement completed with this tag (CommandComplete).
    Complete(String),
    /// A NOTICE or WARNING that does not stop the statement.
    Notice {
        warning: bool,
        code: SqlState,
        message: String,
    },
    /// A reported setting changed (ParameterStatus).
    Parameter(String, String),
    /// The message held no statement.
    Empty,
    /// The portal stopped at its row limit and can be resumed.
    Suspended,
}

/// When a running statement must stop: its cancel token (a CancelRequest, `pg_cancel_backend`,
/// drain) and its deadline (`statement_timeout`).
#[derive(Debug, Clone)]
pub struct Guard {
    pub cancel: CancellationToken,
    pub deadline: Option<tokio::time::Instant>,
}

impl Guard {
    /// Resolves with the error that stops the statement.
    pub async fn stopped(&self) -> UserError {
        let deadline = async {
            match self.deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => UserError::cancelled(),
            _ = deadline => UserError::statement_timeout(),
        }
    }
}

/// The session's side of the connection: where replies and rows go.
#[async_trait]
pub trait Client: Send {
    async fn reply(&mut self, reply: Reply) -> Result<(), Gone>;

    /// Sends up to `limit` rows of `src` (0: all), or skips them (`send` false, MOVE), until
    /// the stream ends (Done) or the limit is reached (Suspended). Stops with the guard's error
    /// when it fires.
    async fn rows(
        &mut self,
        src: &mut RowSource,
        limit: usize,
        send: bool,
        guard: &Guard,
    ) -> Result<Pumped, Failure>;

    /// Streams every row of `src` as `COPY … TO STDOUT` in `format`; the rows sent.
    async fn copy_out(
        &mut self,
        src: &mut RowSource,
        format: &CopyFormat,
        guard: &Guard,
    ) -> Result<u64, Failure>;
}

pub struct Session {
    pub login: Login,
    services: Services,
    /// Our pid and cancel key; leaving the registry when the session ends.
    registered: registry::Registered,
    /// The engine context statements plan in: the mesh as the principal sees it.
    ctx: SessionContext,
    /// `ctx`'s state as statements plan and run with it.
    snapshot: context::Snapshot,
    /// The mesh `ctx`'s catalog serves.
    mesh: Arc<Mesh>,
    /// Who the session acts as (SET ROLE, reloads) and what its current statement read.
    access: Access,
    /// Temporary tables (see `temp`): this session's only, in its memory only.
    temp: Arc<MemorySchemaProvider>,
    settings: settings::Settings,
    /// The mesh generation `ctx` was built from.
    generation: u64,
    /// Bumped whenever the catalog is rebuilt for another principal or mesh: statements
    /// prepared before must be planned again (their policies may differ).
    access_generation: u64,
    tx: Transaction,
    statements: BTreeMap<String, Arc<prepared::Prepared>>,
    portals: BTreeMap<String, prepared::Portal>,
    /// SQL cursors (DECLARE … CURSOR), by name.
    cursors: BTreeMap<String, cursor::Cursor>,
    /// The audit record of the statement running now (see `audit`).
    record: Option<crate::audit::StatementRecord>,
    /// Plans of statements that run whole in one remote source, by text (see `plancache`).
    plans: plancache::PlanCache,
    /// What `parse_batch` found in `plans` for the one statement it returned.
    pending: Option<plancache::Pending>,
}

impl Session {
    /// A session for a login, with the startup packet's parameters applied. Errors are FATAL.
    pub fn start(
        services: Services,
        login: Login,
        params: &BTreeMap<String, String>,
    ) -> Result<Session, UserError> {
        let state = services.mesh.clone();
        let config = state.config();
        let mesh = state.mesh();
        let registered = services.registry.register(&login.user);
        let principal = if login.method == AuthMethod::Peer && login.admin {
            Principal::system(&mesh.policies)
        } else {
            Principal::login(&mesh.policies, &login.user, &login.roles)
        };
        let ctx = context::new(
            &services.template,
            &services.executor,
            &config.server.database,
        );
        let mut session = Session {
            settings: settings::Settings::new(
                &config.limits,
                config.server.max_statement_timeout_ms,
            ),
            access: Access::new(principal),
            temp: Arc::new(MemorySchemaProvider::new()),
            generation: state.generation(),
            access_generation: 0,
            tx: Transaction::default(),
            statements: BTreeMap::new(),
            portals: BTreeMap::new(),
            cursors: BTreeMap::new(),
            record: None,
            plans: plancache::PlanCache::default(),
            pending: None,
            mesh: mesh.clone(),
            ctx,
            snapshot: context::Snapshot::default(),
            login,
            services,
            registered,
        };
        let principal = (*session.access.principal).clone();
        session
            .install(mesh, principal)
            .map_err(|e| UserError::internal("session setup", &e).into_fatal())?;
        session
            .apply_startup_params(params)
            .map_err(UserError::into_fatal)?;
        Ok(session)
    }

    fn apply_startup_params(&mut self, params: &BTreeMap<String, String>) -> Result<(), UserError> {
        for (k, v) in params {
            match k.as_str() {
                "user" | "database" | "replication" => {}
                "options" => {
                    for (name, value) in meshgate_protocol::startup::parse_options(v) {
                        if name == crate::auth::PEER_ROLES_OPTION {
                            // Read at login, and only from a peer gateway.
                            if self.login.gateway.is_none() {
                                return Err(UserError::denied(format!(
                                    "{name} may be set only by a peer gateway"
                                )));
                            }
                            continue;
                        }
                        self.set(&name, &value)?;
                    }
                }
                // libpq sends these from the environment; unknown ones are ignored as
                // PostgreSQL ignores `_pq_` and unknown GUCs would fail the connection for no
                // gain.
                name => {
                    if let Err(e) = self.set(name, v) {
                        if e.code != SqlState::UndefinedObject {
                            return Err(e);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    pub fn pid(&self) -> i32 {
        self.registered.pid
    }

    /// What a CancelRequest for this session must present.
    pub fn cancel_key(&self) -> (i32, [u8; 4]) {
        (self.registered.pid, self.registered.secret)
    }

    /// Arms the cancel token of the work a client's message starts (see `CancelSlot::arm`).
    pub fn cancel_slot(&self) -> &Arc<CancelSlot> {
        &self.registered.slot
    }

    /// The value of a setting, as SHOW prints it.
    pub fn get(&self, name: &str) -> Option<String> {
        self.settings.get(name, &self.access.principal)
    }

    /// Applies `SET name = value`; the ParameterStatus to report, if any.
    pub fn set(&mut self, name: &str, value: &str) -> Result<Option<(String, String)>, UserError> {
        let cx = settings::Context {
            ctx: &self.ctx,
            snapshot: &self.snapshot,
            principal: &self.access.principal,
            database: &self.mesh.database,
        };
        self.settings.set(name, value, &cx)
    }

    /// How long the session may wait for its next message (idle timeouts); `None` = forever.
    pub fn idle_timeout(&self) -> Option<std::time::Duration> {
        self.settings.idle_timeout(self.tx.state != TxState::Idle)
    }

    /// The transaction status ReadyForQuery reports.
    pub fn transaction_status(&self) -> pgwire::messages::response::TransactionStatus {
        self.tx.state.status()
    }

    pub fn in_transaction(&self) -> bool {
        self.tx.state != TxState::Idle
    }

    /// An error ended the current protocol step: a transaction block fails.
    pub fn fail_transaction(&mut self) {
        if self.tx.state == TxState::InBlock {
            self.tx.state = TxState::Failed;
        }
    }

    /// The application name and the login method, for the connection's log lines.
    pub fn log_fields(&self) -> (String, AuthMethod) {
        (
            self.get("application_name").unwrap_or_default(),
            self.login.method,
        )
    }

    /// Installs the mesh (and pg_catalog, information_schema and the catalog functions, which
    /// describe one mesh for one principal) for `principal`.
    fn install(
        &mut self,
        mesh: Arc<Mesh>,
        principal: Principal,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        // It writes functions, catalog and settings into `ctx`'s state (no statement plans
        // meanwhile: the next one copies the state written).
        self.snapshot.changed();
        self.access = self.access.with_principal(principal);
        self.mesh = mesh.clone();
        let catalog = Arc::new(crate::catalog::MeshCatalog::new(
            mesh,
            self.access.clone(),
            Arc::new(sql::Expand),
        ));
        crate::catalog::functions::install(
            &self.ctx,
            catalog.clone(),
            &self.services.mesh.config(),
        )?;
        // After the catalog's functions: some share a name with the session's own.
        context::session_functions(&self.ctx, &self.services, &self.login, self.pid());
        // A peer gateway that reads another jurisdiction's tables runs the statement there as
        // this login, with the roles it brought.
        self.ctx
            .state_ref()
            .write()
            .config_mut()
            .set_extension(Arc::new(meshgate_connectors::OnBehalfOf {
                user: self.login.user.clone(),
                login_roles: self.login.roles.clone(),
            }));
        // The session's temporary tables belong to it, not to the mesh: they survive this.
        datafusion::catalog::CatalogProvider::register_schema(
            catalog.as_ref(),
            crate::catalog::TEMP_SCHEMA,
            self.temp.clone(),
        )?;
        self.access_generation += 1;
        // Kept plans hold the old catalog's tables: let them go now, not at eviction.
        self.plans.clear();
        Ok(())
    }

    fn reinstall(&mut self, mesh: Arc<Mesh>) {
        let principal = (*self.access.principal).clone();
        if let Err(e) = self.install(mesh, principal) {
            tracing::error!("session catalog not rebuilt: {e}");
        }
    }

    /// Before a message's statements: after a reload or a commit, the next statement plans
    /// against the new mesh, with the policies as they are now for the role the session acts as.
    fn refresh(&mut self) {
        let generation = self.services.mesh.generation();
        if generation == self.generation {
            return;
        }
        self.generation = generation;
        if self.tx.writes.is_some() {
            // A transaction with writes keeps seeing its own changes over the newest mesh.
            if let Err(e) = self.install_write_view() {
                tracing::error!("transaction catalog not rebuilt: {e}");
            }
            return;
        }
        let mesh = self.services.mesh.mesh();
        let old = &self.access.principal;
        let principal = Principal::login(&mesh.policies, &self.login.user, &self.login.roles);
        // A role the reload took away falls back to the login user.
        let principal = principal
            .with_role(old.role.as_deref())
            .unwrap_or(principal);
        if let Err(e) = self.install(mesh, principal) {
            tracing::error!("session catalog not rebuilt: {e}");
        }
    }

    /// SET ROLE / RESET ROLE (`None`).
    fn set_role(&mut self, role: Option<&str>) -> Result<(), UserError> {
        let principal = self.access.principal.with_role(role)?;
        let mesh = self.mesh.clone();
        self.install(mesh, principal)
            .map_err(|e| UserError::internal("set role", &e))
    }

    /// The statements of a simple Query message (the catalog refreshed first). An error is the
    /// message's only answer; it fails an open transaction block and is audited.
    pub fn parse_batch(&mut self, text: &str) -> Result<Vec<Parsed>, UserError> {
        self.refresh();
        self.pending = None;
        // The statement texts clients send, for recording a tool's corpus (tests/corpus/).
        tracing::debug!(target: "meshgate::statements", protocol = "simple", "{text}");
        let audit = self.audit_texts();
        let may_keep = self.may_keep_plans() && plancache::PlanCache::may_keep(text);
        if may_keep {
            let hit = self.plans.get(text, |k| {
                k.generation == self.generation
                    && k.access_generation == self.access_generation
                    && k.audit == audit
                    && &k.settings == self.settings.values()
            });
            if let Some(entry) = hit {
                self.services
                    .metrics
                    .kept_plan_hits
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let parsed = Parsed {
                    command: Command::Query(Box::new(entry.statement.clone())),
                    audit_text: entry.audit_text.clone(),
                };
                self.pending = Some(plancache::Pending::Hit(entry));
                return Ok(vec![parsed]);
            }
        }
        let parsed = sql::parse(text, audit).inspect_err(|e| {
            self.audit_unparsed(text, e);
            self.fail_transaction();
        })?;
        if may_keep {
            if let [Parsed {
                command: Command::Query(_),
                audit_text,
            }] = parsed.as_slice()
            {
                self.pending = Some(plancache::Pending::Fill {
                    text: text.to_string(),
                    key: self.plan_key(audit),
                    audit_text: audit_text.clone(),
                });
            }
        }
        Ok(parsed)
    }

    /// Whether statements may be answered from kept plans, or kept, now: outside transaction
    /// blocks (their pinned reads and writes), unpinned, and not for a peer gateway (whose
    /// plans the residency rules check each time).
    fn may_keep_plans(&self) -> bool {
        self.tx.state == TxState::Idle
            && self.tx.writes.is_none()
            && self.login.gateway.is_none()
            && self.access.as_of().is_none()
    }

    fn plan_key(&self, audit: Option<bool>) -> plancache::Key {
        plancache::Key {
            settings: self.settings.values().clone(),
            generation: self.generation,
            access_generation: self.access_generation,
            audit,
        }
    }

    /// Keeps the plan of the statement just planned when it may be kept: planned under the key
    /// it was looked up with (planning itself changed no setting: `set_config`), and one remote
    /// statement with nothing volatile in it.
    fn keep_plan(
        &mut self,
        pending: plancache::Pending,
        stmt: &Statement,
        plan: &LogicalPlan,
        physical: &Arc<dyn datafusion::physical_plan::ExecutionPlan>,
    ) {
        let plancache::Pending::Fill {
            text,
            key,
            audit_text,
        } = pending
        else {
            return;
        };
        if !self.may_keep_plans()
            || key != self.plan_key(key.audit)
            || !plancache::keepable(plan, physical, &self.mesh)
        {
            return;
        }
        self.services
            .metrics
            .plans_kept
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.plans.insert(
            text,
            key,
            stmt.clone(),
            audit_text,
            plan.clone(),
            Arc::clone(physical),
            self.access.current(),
            self.snapshot.task_ctx(&self.ctx),
        );
    }

    /// Runs one statement of a simple Query to its end, audited; an error fails an open
    /// transaction block.
    pub async fn run_statement(
        &mut self,
        parsed: Parsed,
        client: &mut dyn Client,
    ) -> Result<(), Failure> {
        self.audit_begin(Protocol::Simple, parsed.audit_text);
        let pending = self.pending.take();
        let result = match (parsed.command, pending) {
            (Command::Query(stmt), Some(pending)) if self.may_keep_plans() => {
                self.query(stmt, &Format::UnifiedText, true, client, Some(pending))
                    .await
            }
            (command, _) => self.run(command, &Format::UnifiedText, true, client).await,
        };
        self.audit_end(&result);
        if matches!(result, Err(Failure::User(_))) {
            self.fail_transaction();
        }
        result
    }

    /// Plans a statement in this session (see `sql::plan`) whose rows feed another statement.
    async fn plan(&mut self, stmt: &Statement, allow: Allow) -> Result<LogicalPlan, UserError> {
        self.plan_to(stmt, allow, sql::Rows::Statement).await
    }

    /// Plans a query whose rows go to the client.
    async fn plan_for_client(&mut self, stmt: &Statement) -> Result<LogicalPlan, UserError> {
        self.plan_to(stmt, Allow::Read, sql::Rows::Client).await
    }

    async fn plan_to(
        &mut self,
        stmt: &Statement,
        allow: Allow,
        rows: sql::Rows,
    ) -> Result<LogicalPlan, UserError> {
        self.pin_reads()?;
        let catalog = self
            .ctx
            .catalog(&self.mesh.database)
            .ok_or_else(|| UserError::internal("plan", &"no database catalog"))?;
        let default_schema = self
            .ctx
            .state_ref()
            .read()
            .config_options()
            .catalog
            .default_schema
            .clone();
        let search_path = sql::names::search_path(
            &self.get("search_path").unwrap_or_default(),
            &self.login.user,
        );
        let scope = sql::Scope {
            mesh: &self.mesh,
            catalog: catalog.as_ref(),
            temp: self.temp.as_ref(),
            search_path,
            default_schema,
        };
        let mut settings = SqlSettings {
            settings: &mut self.settings,
            cx: settings::Context {
                ctx: &self.ctx,
                snapshot: &self.snapshot,
                principal: &self.access.principal,
                database: &self.mesh.database,
            },
        };
        let (ctx, snapshot) = (&self.ctx, &self.snapshot);
        sql::plan(
            &|| snapshot.state(ctx),
            &scope,
            &self.access,
            &mut settings,
            stmt,
            allow,
            rows,
        )
        .await
    }

    /// A peer gateway's session reads, and only as the residency rules let it: no writes, no
    /// role change, and no EXPLAIN (a plan's text shows the policies' filters and the columns
    /// a query touches, which the rules do not vet).
    fn peer_may(&self, cmd: &Command) -> Result<(), UserError> {
        if self.login.gateway.is_none() {
            return Ok(());
        }
        let refused = match cmd {
            Command::Query(s) => matches!(**s, Statement::Explain { .. }),
            Command::CreateTemp(_)
            | Command::Insert(_)
            | Command::DropTables(_)
            | Command::Write(_)
            | Command::SetRole(_) => true,
            _ => false,
        };
        if refused {
            return Err(UserError::denied(
                "a peer gateway's session may only read, under the residency rules",
            ));
        }
        Ok(())
    }

    /// The default schema unqualified names resolve in now.
    fn default_schema(&self) -> String {
        self.ctx
            .state_ref()
            .read()
            .config_options()
            .catalog
            .default_schema
            .clone()
    }

    /// Starts running a planned query; rows are pulled by [`Session::pump`]. Its scans are attached to
    /// the running statement's audit record.
    async fn stream(&mut self, plan: LogicalPlan, format: &Format) -> Result<RowSource, UserError> {
        let (plan, physical) = self.physical_plan(plan).await?;
        self.start_plan(&plan, physical, format, None).await
    }

    /// The plan as it will run (checked by the residency rules for a peer gateway) and its
    /// physical plan.
    async fn physical_plan(
        &self,
        plan: LogicalPlan,
    ) -> Result<
        (
            LogicalPlan,
            Arc<dyn datafusion::physical_plan::ExecutionPlan>,
        ),
        UserError,
    > {
        let state = self.snapshot.state(&self.ctx);
        let (plan, physical) = match &self.login.gateway {
            // What leaves for another region is checked on the plan as it will run, and that
            // plan is the one planned physically (not optimized a second time).
            Some(region) => {
                let optimized = state
                    .optimize(&plan)
                    .map_err(|e| UserError::from_datafusion(&e))?;
                let checked = sql::residency::enforce(
                    optimized,
                    region,
                    &self.mesh,
                    &state.config_options().catalog.default_schema,
                )?;
                let physical = state
                    .query_planner()
                    .create_physical_plan(&checked, &state)
                    .await;
                (checked, physical)
            }
            None => {
                let physical = state.create_physical_plan(&plan).await;
                (plan, physical)
            }
        };
        let physical = physical.map_err(|e| UserError::from_datafusion(&e))?;
        Ok((plan, physical))
    }

    /// Starts running a physical plan planned from `plan`.
    async fn start_plan(
        &mut self,
        plan: &LogicalPlan,
        physical: Arc<dyn datafusion::physical_plan::ExecutionPlan>,
        format: &Format,
        task_ctx: Option<Arc<datafusion::execution::TaskContext>>,
    ) -> Result<RowSource, UserError> {
        let fields = result::fields(physical.schema().as_ref(), format)?;
        let probe = crate::audit::scan::ScanProbe::new(
            &self.services.auditor,
            plan,
            &physical,
            Some(&self.mesh),
            &self.default_schema(),
        );
        self.audit_attach(&probe);
        let executor = &self.services.executor;
        let task_ctx = task_ctx.unwrap_or_else(|| self.snapshot.task_ctx(&self.ctx));
        let local = |physical| executor.execute(physical, task_ctx.clone());
        let cluster = self.services.mesh.config().cluster.clone();
        let started = match crate::exec::cluster::choose(
            &cluster,
            self.settings.execution(),
            &physical,
        ) {
            Choice::Local => local(physical),
            Choice::Fallback(reason) => {
                tracing::info!(
                    pid = self.pid(),
                    "statement runs here, not on the cluster: {reason}"
                );
                local(physical)
            }
            Choice::Cluster { scheduler, bytes } => {
                // Boxed: its state (an engine state, a planning future) would otherwise grow
                // every statement's future, on the stack of whatever polls it.
                let state = self.snapshot.state(&self.ctx);
                let (for_cluster, cluster_state) = Box::pin(self.plan_for_cluster(
                    plan,
                    physical.clone(),
                    &state,
                    &cluster,
                    &scheduler,
                ))
                .await;
                match sql::barrier::without_barriers(for_cluster).and_then(|p| {
                    // Sessions share the engine state's id (copied from one template); the
                    // pid makes it this session's.
                    let session = format!("{}-{}", state.session_id(), self.pid());
                    crate::exec::cluster::Job::prepare(&p, &scheduler, &session)
                }) {
                    Ok(job) => {
                        tracing::debug!(pid = self.pid(), bytes, "statement handed to the cluster");
                        probe.ran_on_cluster(job.tracker());
                        executor.execute_on_cluster(job, cluster_state.task_ctx())
                    }
                    Err(e) => {
                        tracing::info!(
                            pid = self.pid(),
                            "statement runs here, not on the cluster: its plan holds what the cluster cannot run ({})",
                            crate::exec::cluster::short_reason(&e)
                        );
                        local(physical)
                    }
                }
            }
        };
        let stream = started
            .map_err(|o| {
                UserError::new(
                    SqlState::TooManyConnections,
                    format!("too many queries: {} running and {} waiting, the server's limit; try again shortly", o.running, o.waiting),
                )
            })?;
        let access = self.access.current();
        let zone = self
            .ctx
            .state_ref()
            .read()
            .config_options()
            .execution
            .time_zone
            .clone();
        Ok(RowSource::new(
            stream,
            fields,
            access.filtered,
            probe,
            ReadVersions::of(&self.mesh, &access.versions),
            zone.as_deref(),
        ))
    }

    /// `physical` planned again with the partitions the cluster runs (`[cluster] partitions`,
    /// else its executors' task slots), and the engine state it was planned with. The
    /// gateway's own partitions (its cores) would give every stage of a big cluster as many
    /// tasks as this machine has cores. `plan` is planned physically without being optimized
    /// again when it came optimized (a gateway of another region), as the first time.
    async fn plan_for_cluster(
        &self,
        plan: &LogicalPlan,
        physical: Arc<dyn datafusion::physical_plan::ExecutionPlan>,
        state: &datafusion::execution::SessionState,
        cluster: &crate::config::ClusterSettings,
        scheduler: &str,
    ) -> (
        Arc<dyn datafusion::physical_plan::ExecutionPlan>,
        datafusion::execution::SessionState,
    ) {
        use crate::exec::slots;
        let here = state.config().target_partitions();
        let slots = match cluster.partitions {
            0 => slots::cluster_slots(scheduler).await,
            _ => None,
        };
        let wanted = slots::partitions(cluster.partitions, slots, here);
        if wanted == here {
            return (physical, state.clone());
        }
        let mut config = state.config().clone();
        config.options_mut().execution.target_partitions = wanted;
        let replanning =
            datafusion::execution::SessionStateBuilder::new_from_existing(state.clone())
                .with_config(config)
                .build();
        let replanned = match &self.login.gateway {
            Some(_) => {
                replanning
                    .query_planner()
                    .create_physical_plan(plan, &replanning)
                    .await
            }
            None => replanning.create_physical_plan(plan).await,
        };
        match replanned {
            Ok(p) => (p, replanning),
            Err(e) => {
                // The plan made for here still runs there, with fewer tasks.
                tracing::info!(
                    pid = self.pid(),
                    "statement planned with {here} partitions, not the cluster's {wanted}: {}",
                    crate::exec::cluster::short_reason(&e)
                );
                (physical, state.clone())
            }
        }
    }

    /// The guard of the work starting now: the armed cancel token and the statement timeout.
    fn guard(&self) -> Guard {
        Guard {
            cancel: self.registered.slot.arm(),
            deadline: self
                .settings
                .statement_timeout()
                .map(|d| tokio::time::Instant::now() + d),
        }
    }

    /// Sends (or skips) up to `limit` rows of `src`, under the statement's guard.
    async fn pump(
        &mut self,
        client: &mut dyn Client,
        src: &mut RowSource,
        limit: usize,
        send: bool,
    ) -> Result<Pumped, Failure> {
        // A cursor's FETCH or a resumed portal reads through a scan started by an earlier message.
        self.audit_attach(&src.probe);
        let guard = self.guard();
        let before = src.sent;
        let bytes_before = src.bytes_sent;
        let result = client.rows(src, limit, send, &guard).await;
        self.registered.slot.end();
        if send {
            self.audit_rows(src.sent - before);
            self.audit_bytes_sent(src.bytes_sent - bytes_before);
        }
        result
    }

    /// A query to its end; `pending` is what `parse_batch` found in the kept plans for it.
    async fn query(
        &mut self,
        stmt: Box<Statement>,
        format: &Format,
        describe: bool,
        client: &mut dyn Client,
        pending: Option<plancache::Pending>,
    ) -> Result<(), Failure> {
        let explain = matches!(*stmt, Statement::Explain { .. });
        let mut src = match pending {
            Some(plancache::Pending::Hit(entry)) => {
                self.pin_reads()?;
                self.access.restore(entry.access.clone());
                let physical = entry
                    .physical()
                    .map_err(|e| UserError::from_datafusion(&e))?;
                self.start_plan(
                    &entry.logical,
                    physical,
                    format,
                    Some(entry.task_ctx.clone()),
                )
                .await?
            }
            pending => {
                let plan = self.plan_for_client(&stmt).await?;
                let (plan, physical) = self.physical_plan(plan).await?;
                if let Some(pending) = pending {
                    self.keep_plan(pending, &stmt, &plan, &physical);
                }
                self.start_plan(&plan, physical, format, None).await?
            }
        };
        if describe {
            client.reply(Reply::Columns(src.fields.clone())).await?;
        }
        self.pump(client, &mut src, 0, true).await?;
        let tag = if explain {
            "EXPLAIN".to_string()
        } else {
            format!("SELECT {}", src.sent)
        };
        complete(client, &tag).await
    }

    /// Runs one statement to completion. `describe` sends the row description first (simple
    /// query; in the extended protocol, Describe does that).
    async fn run(
        &mut self,
        cmd: Command,
        format: &Format,
        describe: bool,
        client: &mut dyn Client,
    ) -> Result<(), Failure> {
        if self.tx.state == TxState::Failed && !matches!(cmd, Command::Commit | Command::Rollback) {
            return Err(UserError::in_failed_transaction().into());
        }
        self.peer_may(&cmd)?;
        if matches!(
            cmd,
            Command::CreateTemp(_)
                | Command::Insert(_)
                | Command::DropTables(_)
                | Command::Write(_)
                | Command::DiscardAll
        ) {
            // A temporary table takes a name before the mesh's; a write may change the mesh.
            self.plans.clear();
        }
        match cmd {
            Command::Query(stmt) => self.query(stmt, format, describe, client, None).await,
            Command::Show(name) => {
                let (fields, rows) = self.show(&name)?;
                if describe {
                    client.reply(Reply::Columns(fields.clone())).await?;
                }
                self.audit_rows(rows.len());
                for row in rows {
                    client.reply(Reply::Row(fields.clone(), row)).await?;
                }
                complete(client, "SHOW").await
            }
            Command::Set(name, value) => {
                let report = self.set(&name, &value)?;
                report_setting(client, report).await?;
                complete(client, "SET").await
            }
            Command::SetLocal(name, value) => {
                if self.tx.state == TxState::Idle {
                    // PostgreSQL warns and the value would end with the statement's own
                    // implicit transaction: nothing changes.
                    notice(
                        client,
                        true,
                        SqlState::NoActiveTransaction,
                        "SET LOCAL can only be used in transaction blocks".into(),
                    )
                    .await?;
                } else {
                    let value = if value.eq_ignore_ascii_case("default") {
                        settings::default_value(&name).unwrap_or_default()
                    } else {
                        value
                    };
                    let report = self.with_settings(|s, cx| s.set_local(&name, &value, cx))?;
                    report_setting(client, report).await?;
                }
                complete(client, "SET").await
            }
            Command::Reset(Some(name)) if name.eq_ignore_ascii_case("role") => {
                self.set_role(None)?;
                complete(client, "RESET").await
            }
            Command::Reset(Some(name)) => {
                let report = self.with_settings(|s, cx| s.reset(&name, cx))?;
                report_setting(client, report).await?;
                complete(client, "RESET").await
            }
            Command::Reset(None) => {
                for r in self.with_settings(|s, cx| Ok(s.reset_all(cx)))? {
                    report_setting(client, Some(r)).await?;
                }
                complete(client, "RESET").await
            }
            Command::Noop(tag) => complete(client, tag).await,
            Command::SetMany(settings) => {
                for (name, value) in settings {
                    let report = self.set(&name, &value)?;
                    report_setting(client, report).await?;
                }
                complete(client, "SET").await
            }
            Command::SetRole(role) => {
                self.set_role(role.as_deref())?;
                complete(client, "SET").await
            }
            Command::Begin(level) => self.begin(level, client).await,
            Command::Commit | Command::Rollback => {
                self.end_transaction(matches!(cmd, Command::Commit), client)
                    .await
            }
            Command::DiscardAll => self.discard_all(client).await,
            Command::Deallocate(None) => {
                self.statements.clear();
                complete(client, "DEALLOCATE ALL").await
            }
            Command::Deallocate(Some(name)) => {
                if self.statements.remove(&name).is_none() {
                    return Err(UserError::new(
                        SqlState::InvalidSqlStatementName,
                        format!("prepared statement \"{name}\" does not exist"),
                    )
                    .into());
                }
                complete(client, "DEALLOCATE").await
            }
            Command::Declare {
                name,
                binary,
                hold,
                query,
            } => self.declare(name, binary, hold, &query, client).await,
            Command::Fetch { name, count, send } => {
                self.fetch(&name, count, send, describe, client).await
            }
            Command::CloseCursor(name) => self.close_cursor(name, client).await,
            Command::CopyOut(stmt, format) => self.copy_out(&stmt, format, client).await,
            Command::CreateTemp(stmt) => self.create_temp(*stmt, client).await,
            Command::Insert(stmt) => self.insert(*stmt, client).await,
            Command::DropTables(stmt) => self.drop_tables(*stmt, client).await,
            Command::Write(stmt) => self.write(*stmt, client).await,
            Command::Refused(e) => Err(e.into()),
        }
    }

    fn with_settings<T>(
        &mut self,
        f: impl FnOnce(&mut settings::Settings, &settings::Context) -> Result<T, UserError>,
    ) -> Result<T, UserError> {
        let cx = settings::Context {
            ctx: &self.ctx,
            snapshot: &self.snapshot,
            principal: &self.access.principal,
            database: &self.mesh.database,
        };
        f(&mut self.settings, &cx)
    }

    /// `COPY (query) TO STDOUT`.
    async fn copy_out(
        &mut self,
        stmt: &Statement,
        format: CopyFormat,
        client: &mut dyn Client,
    ) -> Result<(), Failure> {
        let plan = self.plan(stmt, Allow::Read).await?;
        let row_format = if format == CopyFormat::Binary {
            Format::UnifiedBinary
        } else {
            Format::UnifiedText
        };
        let mut src = self.stream(plan, &row_format).await?;
        let guard = self.guard();
        let result = client.copy_out(&mut src, &format, &guard).await;
        self.registered.slot.end();
        let rows = result?;
        self.audit_rows(rows as usize);
        complete(client, &format!("COPY {rows}")).await
    }

    /// DISCARD ALL: the session as it was at its start.
    async fn discard_all(&mut self, client: &mut dyn Client) -> Result<(), Failure> {
        if self.tx.state != TxState::Idle {
            return Err(UserError::new(
                SqlState::ActiveTransaction,
                "DISCARD ALL cannot run inside a transaction block",
            )
            .into());
        }
        for r in self.with_settings(|s, cx| Ok(s.reset_all(cx)))? {
            report_setting(client, Some(r)).await?;
        }
        self.statements.clear();
        self.portals.clear();
        self.cursors.clear();
        self.drop_temp_tables();
        complete(client, "DISCARD ALL").await
    }

    /// SHOW name / SHOW ALL: PostgreSQL's column names and text values.
    fn show(&self, name: &str) -> Result<Shown, UserError> {
        let text =
            |n: &str| FieldInfo::new(n.to_string(), None, None, Type::TEXT, FieldFormat::Text);
        let lower = name.to_ascii_lowercase();
        if lower == "all" {
            let rows = self
                .settings
                .all(&self.access.principal)
                .into_iter()
                .map(|(n, v)| vec![n, v])
                .collect();
            return Ok((Arc::new(vec![text("name"), text("setting")]), rows));
        }
        let key = match lower.as_str() {
            "transaction isolation level" => "transaction_isolation",
            // The parser hands a dotted name over in parts.
            "mesh as_of" => "mesh.as_of",
            "mesh execution" => "mesh.execution",
            "time zone" => "timezone",
            other => other,
        };
        let value = if key == "transaction_isolation" {
            // Outside a block, a transaction starts with the session's default; inside, with
            // the level its BEGIN named.
            match (&self.tx.isolation, self.tx.state) {
                (Some(level), TxState::InBlock | TxState::Failed) => level.clone(),
                _ => self
                    .get("default_transaction_isolation")
                    .unwrap_or_default(),
            }
        } else {
            self.get(key).ok_or_else(|| {
                UserError::new(
                    SqlState::UndefinedObject,
                    format!("unrecognized configuration parameter \"{name}\""),
                )
            })?
        };
        Ok((Arc::new(vec![text(key)]), vec![vec![value]]))
    }

    /// Ends the session: an open transaction's writes are never committed.
    pub fn end(mut self) {
        self.discard_open_writes();
    }
}

/// What SHOW answers: its columns and rows of text.
type Shown = (Arc<Vec<FieldInfo>>, Vec<Vec<String>>);

/// The session's settings as the front end's settings functions see them.
struct SqlSettings<'a> {
    settings: &'a mut settings::Settings,
    cx: settings::Context<'a>,
}

impl sql::Settings for SqlSettings<'_> {
    fn get(&self, name: &str) -> Option<String> {
        self.settings.get(name, self.cx.principal)
    }

    fn set(&mut self, name: &str, value: &str) -> Result<(), UserError> {
        self.settings.set(name, value, &self.cx).map(|_| ())
    }
}

async fn complete(client: &mut dyn Client, tag: &str) -> Result<(), Failure> {
    client.reply(Reply::Complete(tag.to_string())).await?;
    Ok(())
}

async fn report_setting(
    client: &mut dyn Client,
    r: Option<(String, String)>,
) -> Result<(), Failure> {
    if let Some((name, value)) = r {
        client.reply(Reply::Parameter(name, value)).await?;
    }
    Ok(())
}

/// A NOTICE (`warning` false) or WARNING that does not stop the statement.
async fn notice(
    client: &mut dyn Client,
    warning: bool,
    code: SqlState,
    message: String,
) -> Result<(), Failure> {
    client
        .reply(Reply::Notice {
            warning,
            code,
            message,
        })
        .await?;
    Ok(())
}
