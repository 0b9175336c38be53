//! How a physical plan planned here reaches a Ballista scheduler, which accepts only logical
//! plans (or Substrait).
//!
//! ```text
//!  gateway: physical plan ─ datafusion-proto ─► bytes ─► PlanCarrier (a logical leaf node)
//!                                                           │ LogicalPlan::Extension, encoded by CarrierCodec
//!  scheduler: CarrierCodec::try_decode ─► PlanCarrier(bytes, decoded plan)
//!             CarrierPlanner ─► the decoded plan, as is (no optimizer runs again) ─► stages
//! ```
//!
//! Planning the tables a second time on the scheduler would need every connector's table
//! providers there (delta-rs and iceberg-rust have no codec); the gateway has already resolved
//! each table version to its Parquet files, and that plan serialises with DataFusion's own codec.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::{DFSchema, DFSchemaRef};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{
    Expr, Extension, LogicalPlan, UserDefinedLogicalNode, UserDefinedLogicalNodeCore,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};
use datafusion::prelude::SessionConfig;
use datafusion_proto::logical_plan::{DefaultLogicalExtensionCodec, LogicalExtensionCodec};
use datafusion_proto::physical_plan::DefaultPhysicalExtensionCodec;

const NAME: &str = "MeshgatePlan";

/// A logical leaf that stands for a physical plan, serialised.
#[derive(Clone)]
pub struct PlanCarrier {
    bytes: Arc<[u8]>,
    schema: DFSchemaRef,
    /// Set where the bytes were decoded (the scheduler), so the planner need not decode again.
    plan: Option<Arc<dyn ExecutionPlan>>,
}

impl PlanCarrier {
    /// Serialises `plan`; fails when a node of it has no codec.
    pub fn encode(plan: &Arc<dyn ExecutionPlan>) -> Result<Self> {
        let bytes = datafusion_proto::bytes::physical_plan_to_bytes_with_extension_codec(
            plan.clone(),
            &DefaultPhysicalExtensionCodec {},
        )?;
        Ok(PlanCarrier {
            bytes: Arc::from(bytes.as_ref()),
            schema: Arc::new(DFSchema::try_from(plan.schema())?),
            plan: None,
        })
    }

    /// Decodes `bytes` with the functions `ctx` knows (the cluster's).
    pub fn decode(bytes: &[u8], ctx: &TaskContext) -> Result<Self> {
        let plan = datafusion_proto::bytes::physical_plan_from_bytes_with_extension_codec(
            bytes,
            ctx,
            &DefaultPhysicalExtensionCodec {},
        )?;
        Ok(PlanCarrier {
            bytes: Arc::from(bytes),
            schema: Arc::new(DFSchema::try_from(plan.schema())?),
            plan: Some(plan),
        })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn into_logical(self) -> LogicalPlan {
        LogicalPlan::Extension(Extension {
            node: Arc::new(self),
        })
    }
}

impl fmt::Debug for PlanCarrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{NAME}({} bytes)", self.bytes.len())
    }
}

impl PartialEq for PlanCarrier {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for PlanCarrier {}

impl Hash for PlanCarrier {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.bytes.hash(state);
    }
}

impl PartialOrd for PlanCarrier {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.bytes.cmp(&other.bytes))
    }
}

impl UserDefinedLogicalNodeCore for PlanCarrier {
    fn name(&self) -> &str {
        NAME
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{self:?}")
    }

    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, _inputs: Vec<LogicalPlan>) -> Result<Self> {
        Ok(self.clone())
    }
}

/// Encodes [`PlanCarrier`] as its bytes; anything else as DataFusion does.
#[derive(Debug)]
pub struct CarrierCodec {
    inner: DefaultLogicalExtensionCodec,
}

impl Default for CarrierCodec {
    fn default() -> Self {
        CarrierCodec {
            inner: DefaultLogicalExtensionCodec {},
        }
    }
}

impl LogicalExtensionCodec for CarrierCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        _inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        Ok(Extension {
            node: Arc::new(PlanCarrier::decode(buf, ctx)?),
        })
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        match node.node.as_any().downcast_ref::<PlanCarrier>() {
            Some(c) => {
                buf.extend_from_slice(c.bytes());
                Ok(())
            }
            None => Err(DataFusionError::NotImplemented(format!(
                "no codec for the logical node {}",
                node.node.name()
            ))),
        }
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &datafusion::sql::TableReference,
        schema: datafusion::arrow::datatypes::SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn datafusion::catalog::TableProvider>> {
        self.inner
            .try_decode_table_provider(buf, table_ref, schema, ctx)
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &datafusion::sql::TableReference,
        node: Arc<dyn datafusion::catalog::TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        self.inner.try_encode_table_provider(table_ref, node, buf)
    }
}

/// Plans a [`PlanCarrier`] as the plan it carries.
#[derive(Debug)]
struct CarrierPlanner;

#[async_trait]
impl ExtensionPlanner for CarrierPlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        _physical_inputs: &[Arc<dyn ExecutionPlan>],
        session_state: &SessionState,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(carrier) = node.as_any().downcast_ref::<PlanCarrier>() else {
            return Ok(None);
        };
        match &carrier.plan {
            Some(p) => Ok(Some(p.clone())),
            None => Ok(Some(
                PlanCarrier::decode(carrier.bytes(), &session_state.task_ctx())?
                    .plan
                    .expect("a decoded carrier holds its plan"),
            )),
        }
    }
}

#[derive(Debug)]
struct CarrierQueryPlanner;

#[async_trait]
impl QueryPlanner for CarrierQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session_state: &SessionState,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(CarrierPlanner)])
            .create_physical_plan(logical_plan, session_state)
            .await
    }
}

/// Object stores for decoding plans where no file is read (the scheduler splitting a plan into
/// stages, the gateway checking that a plan decodes): a Parquet scan's decoding asks for its
/// store, and the scheduler holds no domain's credentials. An empty store stands in for any
/// bucket; were something read through it, it would fail (not found), never answer.
#[derive(Debug, Default)]
struct PlanningStores {
    registered: DefaultObjectStoreRegistry,
}

impl ObjectStoreRegistry for PlanningStores {
    fn register_store(
        &self,
        url: &url::Url,
        store: Arc<dyn object_store::ObjectStore>,
    ) -> Option<Arc<dyn object_store::ObjectStore>> {
        self.registered.register_store(url, store)
    }

    fn get_store(&self, url: &url::Url) -> Result<Arc<dyn object_store::ObjectStore>> {
        Ok(self
            .registered
            .get_store(url)
            .unwrap_or_else(|_| Arc::new(object_store::memory::InMemory::new())))
    }
}

/// The engine state of the scheduler: DataFusion's and meshgate's functions (what a plan may
/// call), the carrier's planner, no physical optimizer (the plan arrives optimized: the
/// gateway's rules, its row-filter barriers among them, already ran), and stand-in stores.
pub fn cluster_state(config: SessionConfig) -> Result<SessionState> {
    let env = RuntimeEnvBuilder::new()
        .with_object_store_registry(Arc::new(PlanningStores::default()))
        .build_arc()?;
    Ok(meshgate_functions::install(
        SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(env)
            .with_default_features(),
    )
    .with_query_planner(Arc::new(CarrierQueryPlanner))
    .with_physical_optimizer_rules(vec![])
    .build())
}
