//! The security barrier around a policy view: a user's expression that can fail or reveal
//! what it sees runs only on rows the row filters let through.
//!
//! ```text
//!   Filter: user predicates that are not leakproof      (evaluated on visible rows only)
//!     SecurityBarrier                                   (nothing but leakproof crosses it)
//!       Projection: masks…
//!         Filter: policy filter AND leakproof user predicates   ─► pushed on by DataFusion,
//!           TableScan                                              into the scan
//! ```
//!
//! Without it, DataFusion's optimizer merges the user's predicates with the policy filter and
//! may evaluate them first, so `CASE WHEN <hidden row matches> THEN 1/0 END` answers, by an
//! error or not, a question about rows the user may not see. PostgreSQL applies row-security
//! quals before any user qual that is not leakproof; this module does the same:
//! - logically, the barrier is an extension node that DataFusion's rules do not push filters or
//!   expressions through ([`SecurityBarrier`]); DataFusion's filter pushdown, wrapped
//!   ([`PushDownFilterWithBarriers`]), moves only leakproof conjuncts ([`leakproof`]) of a
//!   filter right above it to inside it and on into the scan, so file and row-group pruning
//!   still work;
//! - physically, it is a pass-through operator ([`BarrierExec`]) that lets no filter pushed from
//!   above through except a join's or TopK's dynamic filter over plain columns (comparisons and
//!   set lookups that cannot fail), and no projection or sort (it keeps no order, so none is
//!   pushed below it).

use std::any::Any;
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, DFSchemaRef};
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::execution::context::{QueryPlanner, SessionState};
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::expr::{InList, Like};
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{
    Between, BinaryExpr, Cast, Expr, ExprSchemable, Extension, Filter, LogicalPlan, Operator,
    UserDefinedLogicalNode, UserDefinedLogicalNodeCore,
};
use datafusion::optimizer::optimizer::Optimizer;
use datafusion::optimizer::push_down_filter::PushDownFilter;
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};
use datafusion::physical_expr::expressions::{Column as PhysicalColumn, DynamicFilterPhysicalExpr};
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::filter_pushdown::{
    ChildFilterDescription, FilterDescription, FilterPushdownPhase,
};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PhysicalExpr, PlanProperties,
};
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};

/// The name the barrier has in EXPLAIN, logical and physical.
pub const NAME: &str = "SecurityBarrier";

/// Installs the barrier's optimizer rule and physical planner into a session's state. Every
/// context that plans or runs statements over the mesh must be built with it: a plan with a
/// barrier cannot be run by a planner that does not know it (it fails, never skips it).
pub fn install(mut builder: SessionStateBuilder) -> SessionStateBuilder {
    // In PushDownFilter's place, which it calls everywhere but right above a barrier.
    let mut rules = builder
        .optimizer_rules()
        .take()
        .unwrap_or_else(|| Optimizer::new().rules);
    match rules.iter().position(|r| r.name() == "push_down_filter") {
        Some(at) => rules[at] = Arc::new(PushDownFilterWithBarriers::default()),
        None => rules.push(Arc::new(PushDownFilterWithBarriers::default())),
    }
    // After DataFusion's own (subqueries decorrelated, cross joins made inner joins); both
    // leave plans over remote engines as they are, for federation to send whole.
    rules.push(super::prefilter::rule());
    rules.push(super::semijoin::rule());
    // Last, so that scans carry what their providers accepted and the barrier stands.
    rules.push(super::federate::rule());
    builder
        .with_optimizer_rules(rules)
        .with_query_planner(Arc::new(MeshQueryPlanner))
}

/// Wraps a policy view's plan. `masked` are the output columns computed by a mask.
pub fn wrap(input: LogicalPlan, table: String, masked: BTreeSet<String>) -> LogicalPlan {
    LogicalPlan::Extension(Extension {
        node: Arc::new(SecurityBarrier {
            input,
            table,
            masked,
        }),
    })
}

/// The logical barrier: outputs its input unchanged. Filters reach it only through
/// [`PushDownFilterWithBarriers`] (DataFusion's own rule would also keep a predicate that names
/// one of its columns above it: the default of `prevent_predicate_push_down_columns`).
/// Common-subexpression elimination does not look into an extension's input, projection
/// pruning may only drop columns below it ([`UserDefinedLogicalNodeCore::necessary_children_exprs`]),
/// and the only expressions DataFusion moves into an extension's input are struct and map
/// field accesses (its leaf-projection rule), which cannot fail on a row.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecurityBarrier {
    input: LogicalPlan,
    /// `product.table`, for EXPLAIN.
    table: String,
    /// Columns whose value is a mask: a predicate on them must see the mask, so it stays above
    /// (pushed below, DataFusion would substitute the mask's expression and evaluate it on
    /// hidden rows).
    masked: BTreeSet<String>,
}

impl PartialOrd for SecurityBarrier {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (&self.table, &self.masked)
            .partial_cmp(&(&other.table, &other.masked))
            .filter(|o| *o != Ordering::Equal || self == other)
    }
}

impl UserDefinedLogicalNodeCore for SecurityBarrier {
    fn name(&self) -> &str {
        NAME
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        self.input.schema()
    }

    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{NAME}: {}", self.table)
    }

    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        if inputs.len() != 1 {
            return datafusion::common::internal_err!("{NAME} takes one input");
        }
        Ok(SecurityBarrier {
            input: inputs.swap_remove(0),
            table: self.table.clone(),
            masked: self.masked.clone(),
        })
    }

    // Dropping unused columns below the barrier evaluates nothing new, and lets the scan read
    // only the columns the statement uses.
    fn necessary_children_exprs(&self, output_columns: &[usize]) -> Option<Vec<Vec<usize>>> {
        Some(vec![output_columns.to_vec()])
    }

    fn supports_limit_pushdown(&self) -> bool {
        true
    }
}

/// DataFusion's PushDownFilter, except at a barrier. PushDownFilter keeps a predicate above an
/// extension node only if it names one of the node's columns: one that names none (`1/0 = 1`)
/// it would push below, next to the policy's filter, where evaluated on hidden rows it answers
/// whether a row there passed the other conjuncts. So a filter (or chain of filters) right above
/// a barrier is handled here and never reaches PushDownFilter: its leakproof conjuncts move
/// inside, where PushDownFilter takes them on to the scan, and the rest stays above.
#[derive(Debug, Default)]
pub struct PushDownFilterWithBarriers(PushDownFilter);

impl OptimizerRule for PushDownFilterWithBarriers {
    fn name(&self) -> &str {
        "push_down_filter_with_barriers"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        self.0.apply_order()
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        match barrier_below_filters(&plan) {
            Some((predicates, barrier, chain)) => {
                let predicates = predicates.into_iter().cloned().collect();
                let barrier = barrier.clone();
                split_at_barrier(predicates, &barrier, chain > 1)
            }
            None => self.0.rewrite(plan, config),
        }
    }
}

/// The conjuncts of `plan`, a filter or a chain of filters, when a barrier is right below them,
/// with the barrier and the chain's length.
fn barrier_below_filters(plan: &LogicalPlan) -> Option<(Vec<&Expr>, &SecurityBarrier, usize)> {
    let mut predicates = Vec::new();
    let mut chain = 0;
    let mut node = plan;
    while let LogicalPlan::Filter(f) = node {
        predicates.extend(split_conjunction(&f.predicate));
        chain += 1;
        node = f.input.as_ref();
    }
    match node {
        LogicalPlan::Extension(ext) if chain > 0 => ext
            .node
            .as_any()
            .downcast_ref::<SecurityBarrier>()
            .map(|b| (predicates, b, chain)),
        _ => None,
    }
}

/// `Filter(rest) ─ Barrier ─ Filter(leakproof) ─ input`, from the conjuncts of the filters above
/// the barrier.
fn split_at_barrier(
    predicates: Vec<Expr>,
    barrier: &SecurityBarrier,
    merged: bool,
) -> Result<Transformed<LogicalPlan>> {
    let schema = barrier.input.schema().clone();
    let (inside, above): (Vec<Expr>, Vec<Expr>) = predicates.into_iter().partition(|e| {
        e.column_refs()
            .iter()
            .all(|c| !barrier.masked.contains(&c.name))
            && leakproof(e, &schema)
    });
    let moved = !inside.is_empty();
    let input = match conjunction(inside) {
        Some(inside) => {
            LogicalPlan::Filter(Filter::try_new(inside, Arc::new(barrier.input.clone()))?)
        }
        None => barrier.input.clone(),
    };
    let node = LogicalPlan::Extension(Extension {
        node: Arc::new(SecurityBarrier {
            input,
            table: barrier.table.clone(),
            masked: barrier.masked.clone(),
        }),
    });
    let plan = match conjunction(above) {
        Some(above) => LogicalPlan::Filter(Filter::try_new(above, Arc::new(node))?),
        None => node,
    };
    Ok(if moved || merged {
        Transformed::yes(plan)
    } else {
        Transformed::no(plan)
    })
}

/// Whether a predicate is on the allow-list of expressions that cannot fail, have no side
/// effects and call nothing user-defined, whatever row they see: comparisons of columns and
/// literals of one type (a column may be widened where no value can fail the cast), IS [NOT]
/// NULL, IN lists and BETWEEN of literals, and AND/OR/NOT of those. Anything else (arithmetic,
/// which meshgate checks for overflow; casts that can fail; LIKE and regular expressions;
/// every function and subquery) is not leakproof.
pub fn leakproof(e: &Expr, schema: &DFSchema) -> bool {
    match e {
        Expr::Literal(..) => true,
        Expr::Column(_) => e.get_type(schema).is_ok_and(|t| t == DataType::Boolean),
        Expr::Not(x)
        | Expr::IsTrue(x)
        | Expr::IsFalse(x)
        | Expr::IsUnknown(x)
        | Expr::IsNotTrue(x)
        | Expr::IsNotFalse(x)
        | Expr::IsNotUnknown(x) => leakproof(x, schema),
        Expr::IsNull(x) | Expr::IsNotNull(x) => operand(x, schema).is_some(),
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And | Operator::Or => leakproof(left, schema) && leakproof(right, schema),
            op if super::semantics::compares(*op) => same_type(&[left, right], schema),
            _ => false,
        },
        Expr::InList(InList { expr, list, .. }) => {
            list.iter().all(|l| matches!(l, Expr::Literal(..)))
                && same_type(
                    &std::iter::once(expr.as_ref())
                        .chain(list)
                        .collect::<Vec<_>>(),
                    schema,
                )
        }
        Expr::Between(Between {
            expr, low, high, ..
        }) => {
            matches!(low.as_ref(), Expr::Literal(..))
                && matches!(high.as_ref(), Expr::Literal(..))
                && same_type(&[expr, low, high], schema)
        }
        // Named so that adding a case above is a decision, not an accident.
        Expr::Like(Like { .. }) | Expr::SimilarTo(_) => false,
        _ => false,
    }
}

/// Operands that are all leakproof and of one type.
fn same_type(operands: &[&Expr], schema: &DFSchema) -> bool {
    let mut types = operands.iter().map(|o| operand(o, schema));
    match types.next().flatten() {
        Some(first) => types.all(|t| t.as_ref() == Some(&first)),
        None => false,
    }
}

/// The type of a leakproof operand: a column, a literal, or a column widened by a cast that no
/// value can fail.
fn operand(e: &Expr, schema: &DFSchema) -> Option<DataType> {
    match e {
        Expr::Column(_) | Expr::Literal(..) => e.get_type(schema).ok(),
        Expr::Cast(Cast { expr, data_type }) if matches!(expr.as_ref(), Expr::Column(_)) => {
            let from = expr.get_type(schema).ok()?;
            widens(&from, data_type).then(|| data_type.clone())
        }
        _ => None,
    }
}

/// Casts that succeed for every value of `from`.
fn widens(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    // Decimal digits left of the point an integer type needs.
    let digits = |t: &DataType| match t {
        Int8 | UInt8 => Some(3),
        Int16 | UInt16 => Some(5),
        Int32 | UInt32 => Some(10),
        Int64 => Some(19),
        UInt64 => Some(20),
        _ => None,
    };
    match (from, to) {
        _ if from == to => true,
        (Int8, Int16 | Int32 | Int64)
        | (Int16, Int32 | Int64)
        | (Int32, Int64)
        | (UInt8, UInt16 | UInt32 | UInt64 | Int16 | Int32 | Int64)
        | (UInt16, UInt32 | UInt64 | Int32 | Int64)
        | (UInt32, UInt64 | Int64)
        | (Float32, Float64)
        | (Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64, Float64)
        | (Utf8, LargeUtf8 | Utf8View)
        | (LargeUtf8, Utf8View) => true,
        (Decimal128(p1, s1), Decimal128(p2, s2) | Decimal256(p2, s2))
        | (Decimal256(p1, s1), Decimal256(p2, s2)) => {
            s2 >= s1 && (*p2 as i16 - *s2 as i16) >= (*p1 as i16 - *s1 as i16)
        }
        (_, Decimal128(p, s) | Decimal256(p, s)) => {
            digits(from).is_some_and(|d| (*p as i16 - *s as i16) >= d)
        }
        _ => false,
    }
}

/// What the physical barrier is called in plans.
pub const EXEC_NAME: &str = "SecurityBarrierExec";

/// The physical barrier: passes its input's batches through.
#[derive(Debug)]
pub struct BarrierExec {
    input: Arc<dyn ExecutionPlan>,
    table: String,
    properties: Arc<PlanProperties>,
}

impl BarrierExec {
    pub fn new(input: Arc<dyn ExecutionPlan>, table: String) -> Self {
        // No ordering is promised, and none is kept (`maintains_input_order`): DataFusion pushes
        // a sort (a TopK's too) below an operator that keeps its input's order, and a sort's
        // expressions may fail.
        let from = input.properties();
        let properties = Arc::new(
            PlanProperties::new(
                EquivalenceProperties::new(input.schema()),
                from.partitioning.clone(),
                from.emission_type,
                from.boundedness,
            )
            .with_evaluation_type(from.evaluation_type)
            .with_scheduling_type(from.scheduling_type),
        );
        BarrierExec {
            input,
            table,
            properties,
        }
    }
}

impl DisplayAs for BarrierExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{NAME}Exec: {}", self.table)
    }
}

/// A filter from above that may be evaluated below the barrier: a dynamic filter (a hash join's
/// build-side bounds and key set, TopK's threshold) over plain columns. What DataFusion builds
/// into it is comparisons and set membership of those columns with values of their own type,
/// which cannot fail; over any other expression (`1/x` as a join key) it could.
fn may_cross(filter: &Arc<dyn PhysicalExpr>) -> bool {
    filter
        .as_any()
        .downcast_ref::<DynamicFilterPhysicalExpr>()
        .is_some_and(|d| {
            d.children()
                .iter()
                .all(|c| c.as_any().is::<PhysicalColumn>())
        })
}

impl ExecutionPlan for BarrierExec {
    fn name(&self) -> &str {
        EXEC_NAME
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![false]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return datafusion::common::internal_err!("{NAME}Exec takes one input");
        }
        Ok(Arc::new(BarrierExec::new(
            children.swap_remove(0),
            self.table.clone(),
        )))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        self.input.execute(partition, context)
    }

    fn partition_statistics(
        &self,
        partition: Option<usize>,
    ) -> Result<datafusion::common::Statistics> {
        self.input.partition_statistics(partition)
    }

    fn supports_limit_pushdown(&self) -> bool {
        true
    }

    fn cardinality_effect(&self) -> datafusion::physical_plan::execution_plan::CardinalityEffect {
        datafusion::physical_plan::execution_plan::CardinalityEffect::Equal
    }

    // `try_swapping_with_projection` keeps its default (no): a projection's expressions must
    // not run below the barrier.

    fn gather_filters_for_pushdown(
        &self,
        _phase: FilterPushdownPhase,
        parent_filters: Vec<Arc<dyn PhysicalExpr>>,
        _config: &ConfigOptions,
    ) -> Result<FilterDescription> {
        // DataFusion offers no public way to mark one parent filter unsupported, but a filter
        // whose column is not in the child's schema is; the unsupported entry's expression is
        // not used further.
        let filters: Vec<Arc<dyn PhysicalExpr>> = parent_filters
            .into_iter()
            .map(|f| {
                if may_cross(&f) {
                    f
                } else {
                    Arc::new(PhysicalColumn::new("__mg_barrier", usize::MAX)) as _
                }
            })
            .collect();
        Ok(FilterDescription::new()
            .with_child(ChildFilterDescription::from_child(&filters, &self.input)?))
    }
}

/// The plan without its barriers, for a cluster: the barrier only fences the optimizer, which
/// has run by then (a cluster member runs the plan as it arrives), and it has no codec.
pub fn without_barriers(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    use datafusion::common::tree_node::TreeNode;
    plan.transform_up(|node| {
        Ok(match node.as_any().downcast_ref::<BarrierExec>() {
            Some(b) => Transformed::yes(b.input.clone()),
            None => Transformed::no(node),
        })
    })
    .map(|t| t.data)
}

/// Plans [`SecurityBarrier`] as [`BarrierExec`].
#[derive(Debug, Default)]
struct BarrierPlanner;

#[async_trait]
impl ExtensionPlanner for BarrierPlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session_state: &SessionState,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(barrier) = node.as_any().downcast_ref::<SecurityBarrier>() else {
            return Ok(None);
        };
        let [input] = physical_inputs else {
            return datafusion::common::internal_err!("{NAME} takes one input");
        };
        Ok(Some(Arc::new(BarrierExec::new(
            input.clone(),
            barrier.table.clone(),
        ))))
    }
}

/// DataFusion's physical planner, knowing the barrier.
#[derive(Debug, Default)]
struct MeshQueryPlanner;

#[async_trait]
impl QueryPlanner for MeshQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session_state: &SessionState,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        DefaultPhysicalPlanner::with_extension_planners(vec![
            Arc::new(BarrierPlanner),
            Arc::new(super::federate::RemotePlanner),
        ])
        .create_physical_plan(logical_plan, session_state)
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::logical_expr::{cast, col, lit, try_cast};

    fn schema() -> DFSchema {
        DFSchema::try_from(Schema::new(vec![
            Field::new("i", DataType::Int32, true),
            Field::new("b", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("d", DataType::Decimal128(15, 2), true),
            Field::new("ok", DataType::Boolean, true),
        ]))
        .unwrap()
    }

    #[test]
    fn the_allow_list() {
        let s = schema();
        for e in
            [
                col("i").eq(lit(1i32)),
                col("s").not_eq(lit("x")).and(col("b").lt_eq(lit(3i64))),
                col("s").is_null().or(col("d").gt(lit(
                    datafusion::common::ScalarValue::Decimal128(Some(900000), 15, 2),
                ))),
                cast(col("i"), DataType::Int64).eq(col("b")),
                cast(col("i"), DataType::Float64).gt(lit(1.5f64)),
                col("b").in_list(vec![lit(1i64), lit(2i64)], true),
                col("i").between(lit(1i32), lit(9i32)),
                !col("ok"),
            ]
        {
            assert!(leakproof(&e, &s), "{e}");
        }
    }

    #[test]
    fn what_can_fail_or_see_is_not_leakproof() {
        let s = schema();
        for e in [
            // Arithmetic, a narrowing or parsing cast, string matching, functions.
            (col("i") + lit(1i32)).eq(lit(2i32)),
            (lit(1i64) / col("b")).eq(lit(1i64)),
            cast(col("b"), DataType::Int32).eq(lit(1i32)),
            cast(col("s"), DataType::Int64).eq(col("b")),
            try_cast(col("s"), DataType::Int64).eq(col("b")),
            col("s").like(lit("a%")),
            datafusion::functions::expr_fn::length(col("s")).eq(lit(1i32)),
            // Operands of different types, an IN list with a column.
            col("i").eq(lit(1i64)),
            col("b").in_list(vec![lit(1i64), col("b")], false),
            // Not a predicate at all.
            col("i"),
        ] {
            assert!(!leakproof(&e, &s), "{e}");
        }
    }

    #[test]
    fn widening_casts_cannot_fail() {
        use DataType::*;
        assert!(widens(&Int32, &Int64));
        assert!(widens(&Int64, &Float64));
        assert!(widens(&Int32, &Decimal128(12, 2)));
        assert!(!widens(&Int32, &Decimal128(10, 2)));
        assert!(widens(&Decimal128(15, 2), &Decimal128(20, 4)));
        assert!(!widens(&Decimal128(15, 2), &Decimal128(15, 4)));
        assert!(!widens(&Int64, &Int32));
        assert!(!widens(&Float64, &Float32));
        assert!(!widens(&Utf8, &Int64));
        assert!(!widens(&Float64, &Int64));
    }
}
