//! Whole subplans that touch only one remote engine run inside it, as one statement.
//!
//! ```text
//!   Sort: n  (kept here when the statement's ORDER BY decides the result's order)
//!     RemoteQuery: postgres://db1:5432/billing, sql=SELECT … JOIN … GROUP BY … ORDER BY … LIMIT 10
//! ```
//!
//! After DataFusion's own rules (so scans already carry the filters, columns and LIMIT their
//! providers accepted), [`Federate`] looks for the largest subtrees whose scans all read
//! [`RemoteTable`]s of engines with one key and whose every node and expression is on an
//! allow-list of what every engine answers exactly as meshgate does; each is unparsed in the
//! engine's dialect (DataFusion's unparser) and replaced by a [`RemoteQuery`] leaf, which
//! [`RemotePlanner`] plans as `exec::remote::RemoteQueryExec` calling
//! [`RemoteEngine::execute`]. A subtree whose SQL cannot be written stays as it was: its scans
//! still send their own statements.
//!
//! Only subtrees with work a scan cannot send on its own (a join, an aggregate, DISTINCT, a
//! UNION, a sort) are sent whole; filters, columns and LIMIT of a single table are the scan's
//! already, and its statement is the simpler one.
//!
//! Security: a [`SecurityBarrier`](super::barrier::SecurityBarrier) is never inside a sent
//! subtree. The subtree below it (the policy's filter, masks, scan) may be sent as one
//! statement; nothing above it is combined with it, because the engine's planner, knowing no
//! barrier, may evaluate a user's predicate or join condition before the row filter.
//!
//! Why not `datafusion-federation` (0.5.x): it federates by replacing table sources before
//! planning and adds its own analyzer and query planner, which would take the place of the ones
//! `barrier::install` builds (the barrier's filter pushdown, the PostgreSQL semantics rule that
//! turns arithmetic into checked functions) and would need teaching about the barrier; its
//! pushed SQL is not checked against an allow-list of expressions whose answer is the same in
//! the source. This rule is a few hundred lines on DataFusion's own unparser, runs after those
//! rules, and sees the barrier as just one more node it does not send.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, DFSchemaRef, NullEquality, TableReference};
use datafusion::datasource::source_as_provider;
use datafusion::error::Result;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::expr::{AggregateFunction, Alias, InList};
use datafusion::logical_expr::{
    Between, BinaryExpr, Case, Cast, Distinct, Expr, ExprSchemable, Extension, FetchType, JoinType,
    LogicalPlan, Operator, SkipType, Sort, SortExpr, SubqueryAlias, TableScan,
    UserDefinedLogicalNode, UserDefinedLogicalNodeCore,
};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{ExtensionPlanner, PhysicalPlanner};
use datafusion::scalar::ScalarValue;
use datafusion::sql::unparser::Unparser;
use meshgate_connectors::{RemoteEngine, RemoteTable};

/// The name the pushed subplan has in EXPLAIN.
pub const NAME: &str = "RemoteQuery";

/// The optimizer rule; append it after DataFusion's own.
pub fn rule() -> Arc<dyn OptimizerRule + Send + Sync> {
    Arc::new(Federate)
}

#[derive(Debug, Default)]
pub struct Federate;

impl OptimizerRule for Federate {
    fn name(&self) -> &str {
        "federate_remote_subplans"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        // It walks the plan itself, top-down: the first subtree that can be sent is the
        // largest one.
        None
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        federate(plan)
    }
}

fn federate(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    if let Some(engine) = engine_of(&plan) {
        if has_work(&plan) {
            if let Some(sent) = send(&plan, engine) {
                return Ok(Transformed::yes(sent));
            }
        }
    }
    plan.map_children(federate)
}

/// The engine a subtree can be sent to whole, if any.
fn engine_of(plan: &LogicalPlan) -> Option<Arc<dyn RemoteEngine>> {
    let engine = allowed_engine(plan)?;
    (!engine.refuses(plan)).then_some(engine)
}

/// The engine of a subtree whose nodes are all on the shared allow-list.
fn allowed_engine(plan: &LogicalPlan) -> Option<Arc<dyn RemoteEngine>> {
    let one_input = |input: &LogicalPlan| engine_of(input);
    match plan {
        LogicalPlan::TableScan(scan) => scan_engine(scan),
        LogicalPlan::Projection(p) => {
            let engine = one_input(&p.input)?;
            (engine.speaks_meshgate() || p.expr.iter().all(|e| sendable(e, p.input.schema())))
                .then_some(engine)
        }
        LogicalPlan::Filter(f) => {
            let engine = one_input(&f.input)?;
            (engine.speaks_meshgate() || sendable(&f.predicate, f.input.schema())).then_some(engine)
        }
        LogicalPlan::Aggregate(a) => {
            let engine = one_input(&a.input)?;
            let schema = a.input.schema();
            (engine.speaks_meshgate()
                || (a
                    .group_expr
                    .iter()
                    .all(|e| sendable(e, schema) && e.get_type(schema).is_ok_and(|t| !float(&t)))
                    && a.aggr_expr.iter().all(|e| aggregate(e, schema))))
            .then_some(engine)
        }
        LogicalPlan::Sort(s) => {
            let engine = one_input(&s.input)?;
            (engine.speaks_meshgate()
                || s.expr.iter().all(|o| orderable(&o.expr, s.input.schema())))
            .then_some(engine)
        }
        LogicalPlan::Limit(l) => {
            let engine = one_input(&l.input)?;
            (matches!(l.get_skip_type(), Ok(SkipType::Literal(_)))
                && matches!(l.get_fetch_type(), Ok(FetchType::Literal(_))))
            .then_some(engine)
        }
        LogicalPlan::SubqueryAlias(a) => one_input(&a.input),
        LogicalPlan::Distinct(Distinct::All(input)) => one_input(input),
        LogicalPlan::Join(j) => {
            // The unparser moves the filters of a scan right below a join (and of Filter nodes
            // over it) into the join's ON clause. For an inner join, and for the side an outer
            // join does not preserve, that is the same answer; on a preserved side it keeps
            // the rows those filters drop, and a semi or anti join (written as EXISTS) loses
            // them on both sides. A NOT IN's null-aware anti join is not a NOT EXISTS.
            let same = match j.join_type {
                JoinType::Inner => true,
                JoinType::Left => !folds_filters(&j.left),
                JoinType::Right => !folds_filters(&j.right),
                JoinType::Full | JoinType::LeftSemi | JoinType::LeftAnti => {
                    !folds_filters(&j.left) && !folds_filters(&j.right)
                }
                _ => false,
            };
            if !same || j.null_aware || j.null_equality != NullEquality::NullEqualsNothing {
                return None;
            }
            let left = one_input(&j.left)?;
            let right = one_input(&j.right)?;
            if left.key() != right.key() {
                return None;
            }
            let schema = j.left.schema().join(j.right.schema()).ok()?;
            (left.speaks_meshgate()
                || (j.on.iter().all(|(l, r)| {
                    sendable(l, &schema)
                        && sendable(r, &schema)
                        && l.get_type(&schema).is_ok_and(|t| !float(&t))
                }) && j.filter.iter().all(|f| sendable(f, &schema))))
            .then_some(left)
        }
        LogicalPlan::Union(u) => {
            let mut engines = u.inputs.iter().map(|i| one_input(i));
            let first = engines.next()??;
            for e in engines {
                if e?.key() != first.key() {
                    return None;
                }
            }
            Some(first)
        }
        // A SecurityBarrier, a RemoteQuery already made, and everything else.
        _ => None,
    }
}

/// Whether the unparser folds filters of this join input into the join's condition: a chain
/// of aliases and filters down to a scan, with a filter on the way or in the scan.
fn folds_filters(input: &LogicalPlan) -> bool {
    let mut node = input;
    let mut filtered = false;
    loop {
        match node {
            LogicalPlan::SubqueryAlias(a) => node = a.input.as_ref(),
            LogicalPlan::Filter(f) => {
                filtered = true;
                node = f.input.as_ref();
            }
            LogicalPlan::TableScan(scan) => return filtered || !scan.filters.is_empty(),
            _ => return false,
        }
    }
}

/// Whether `plan` reads a table of a remote engine. Rules that reshape joins leave such plans
/// as they are: this rule decides what the engine is sent, and a semi join it cannot write
/// (one over filtered scans) would keep a whole join or aggregate from being sent.
pub fn reads_remote(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply_with_subqueries(|node| {
        found |= matches!(node, LogicalPlan::TableScan(scan) if remote_table(scan).is_some());
        Ok(if found {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    found
}

/// The remote table a scan reads, when it reads no column the engine treats unlike meshgate
/// and its filters are sendable.
fn remote_table(scan: &TableScan) -> Option<Arc<dyn datafusion::datasource::TableProvider>> {
    let provider = source_as_provider(&scan.source).ok()?;
    provider.as_any().is::<RemoteTable>().then_some(provider)
}

fn scan_engine(scan: &TableScan) -> Option<Arc<dyn RemoteEngine>> {
    let provider = remote_table(scan)?;
    let table = provider.as_any().downcast_ref::<RemoteTable>()?;
    let schema = provider.schema();
    let read: Vec<usize> = match &scan.projection {
        Some(p) => p.clone(),
        None => (0..schema.fields().len()).collect(),
    };
    let mut used: Vec<String> = read
        .iter()
        .map(|i| schema.field(*i).name().clone())
        .collect();
    for f in &scan.filters {
        used.extend(f.column_refs().into_iter().map(|c| c.name.clone()));
    }
    if used.iter().any(|c| table.opaque_columns.contains(c)) {
        return None;
    }
    if table.engine.speaks_meshgate() {
        return Some(Arc::clone(&table.engine));
    }
    let full = DFSchema::try_from_qualified_schema(scan.table_name.clone(), &schema).ok()?;
    scan.filters
        .iter()
        .all(|f| sendable(f, &full))
        .then(|| Arc::clone(&table.engine))
}

/// Whether the subtree does something its scans cannot send on their own.
fn has_work(plan: &LogicalPlan) -> bool {
    matches!(
        plan,
        LogicalPlan::Join(_)
            | LogicalPlan::Aggregate(_)
            | LogicalPlan::Sort(_)
            | LogicalPlan::Distinct(_)
            | LogicalPlan::Union(_)
    ) || plan.inputs().into_iter().any(has_work)
}

fn text(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
    )
}

/// Floating point compares unlike in sources: Arrow orders -0 before 0 and treats them as
/// different, PostgreSQL does not.
fn float(t: &DataType) -> bool {
    matches!(t, DataType::Float16 | DataType::Float32 | DataType::Float64)
}

fn integer(t: &DataType) -> bool {
    matches!(t, DataType::Int16 | DataType::Int32 | DataType::Int64)
}

/// Expressions every engine evaluates as meshgate does: columns, plain literals, comparisons
/// (ordering ones not on text, which engines order by their collation), boolean logic, NULL
/// tests, IN lists, BETWEEN, CASE, and casts that widen. Arithmetic is not here: meshgate's
/// is checked functions by the time this rule runs, and engines differ on overflow and
/// division.
fn sendable(e: &Expr, schema: &DFSchema) -> bool {
    let ty = |x: &Expr| x.get_type(schema).ok();
    match e {
        Expr::Alias(Alias { expr, .. }) => sendable(expr, schema),
        Expr::Column(c) => schema.has_column(c),
        Expr::Literal(v, _) => matches!(
            v,
            ScalarValue::Null
                | ScalarValue::Boolean(_)
                | ScalarValue::Int16(_)
                | ScalarValue::Int32(_)
                | ScalarValue::Int64(_)
                | ScalarValue::Decimal128(..)
                | ScalarValue::Utf8(_)
        ),
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let both = sendable(left, schema) && sendable(right, schema);
            match op {
                Operator::And | Operator::Or => both,
                Operator::Eq
                | Operator::NotEq
                | Operator::IsDistinctFrom
                | Operator::IsNotDistinctFrom => both && ty(left).is_some_and(|t| !float(&t)),
                Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq => {
                    both && ty(left).is_some_and(|t| !text(&t) && !float(&t))
                }
                _ => false,
            }
        }
        Expr::Not(x)
        | Expr::IsNull(x)
        | Expr::IsNotNull(x)
        | Expr::IsTrue(x)
        | Expr::IsFalse(x)
        | Expr::IsNotTrue(x)
        | Expr::IsNotFalse(x) => sendable(x, schema),
        Expr::Between(Between {
            expr, low, high, ..
        }) => {
            sendable(expr, schema)
                && sendable(low, schema)
                && sendable(high, schema)
                && ty(expr).is_some_and(|t| !text(&t) && !float(&t))
        }
        Expr::InList(InList { expr, list, .. }) => {
            sendable(expr, schema)
                && list.iter().all(|x| sendable(x, schema))
                && ty(expr).is_some_and(|t| !float(&t))
        }
        Expr::Case(Case {
            expr,
            when_then_expr,
            else_expr,
        }) => {
            expr.iter().all(|x| sendable(x, schema))
                && else_expr.iter().all(|x| sendable(x, schema))
                && when_then_expr
                    .iter()
                    .all(|(w, t)| sendable(w, schema) && sendable(t, schema))
        }
        Expr::Cast(Cast { expr, data_type }) => {
            sendable(expr, schema) && ty(expr).is_some_and(|from| widens(&from, data_type))
        }
        _ => false,
    }
}

/// Casts with one answer everywhere and no failure: integers to wider integers or decimals
/// with room for every value, decimals to decimals that keep every digit.
fn widens(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    let digits = |t: &DataType| match t {
        Int16 => Some(5),
        Int32 => Some(10),
        Int64 => Some(19),
        _ => None,
    };
    match (from, to) {
        _ if from == to => true,
        (Int16, Int32 | Int64) | (Int32, Int64) => true,
        (Decimal128(p1, s1), Decimal128(p2, s2)) => {
            s2 >= s1 && (*p2 as i16 - *s2 as i16) >= (*p1 as i16 - *s1 as i16)
        }
        (_, Decimal128(p, s)) => digits(from).is_some_and(|d| (*p as i16 - *s as i16) >= d),
        _ => false,
    }
}

/// Sort keys: plain columns not of text (engines order text by their collation).
fn orderable(e: &Expr, schema: &DFSchema) -> bool {
    matches!(e, Expr::Column(_))
        && sendable(e, schema)
        && e.get_type(schema).is_ok_and(|t| !text(&t))
}

/// `count`, `sum` of integers and decimals, `min`/`max` of what is not text; no FILTER or
/// ORDER BY inside.
fn aggregate(e: &Expr, schema: &DFSchema) -> bool {
    let Expr::AggregateFunction(AggregateFunction { func, params }) = (match e {
        Expr::Alias(Alias { expr, .. }) => expr.as_ref(),
        e => e,
    }) else {
        return false;
    };
    if params.filter.is_some() || !params.order_by.is_empty() || params.null_treatment.is_some() {
        return false;
    }
    if !params.args.iter().all(|a| sendable(a, schema)) {
        return false;
    }
    let arg_type = || params.args.first().and_then(|a| a.get_type(schema).ok());
    match func.name() {
        "count" => true,
        "sum" => {
            !params.distinct
                && arg_type().is_some_and(|t| integer(&t) || matches!(t, DataType::Decimal128(..)))
        }
        "min" | "max" => arg_type().is_some_and(|t| !text(&t) && t != DataType::Boolean),
        _ => false,
    }
}

/// The subtree as a [`RemoteQuery`] (under a local sort when its order matters), or None when
/// it cannot be written for its engine.
fn send(plan: &LogicalPlan, engine: Arc<dyn RemoteEngine>) -> Option<LogicalPlan> {
    let order = output_order(plan)?;
    let renamed = in_source_names(plan.clone())
        .and_then(without_pruning)
        .ok()?;
    let dialect = engine.dialect();
    let sql = Unparser::new(dialect.as_ref())
        .plan_to_sql(&renamed)
        .map_err(|e| tracing::debug!("subplan not sent whole: {e}"))
        .ok()?
        .to_string();
    let schema = plan.schema().clone();
    let sql = engine.statement(sql, &Arc::new(schema.as_arrow().clone()))?;
    let node = LogicalPlan::Extension(Extension {
        node: Arc::new(RemoteQuery {
            engine,
            sql,
            schema,
        }),
    });
    match order {
        None => Some(node),
        Some((expr, fetch)) => Some(LogicalPlan::Sort(Sort {
            expr,
            input: Arc::new(node),
            fetch,
        })),
    }
}

/// What the result's order is, when the subtree's top sorts: the sort on its output columns,
/// to keep here (the engine sorts, and meshgate must not lose that order when it repartitions
/// above). `Some(None)` when no order is promised; None when it cannot be stated on the
/// output.
#[allow(clippy::type_complexity)]
fn output_order(plan: &LogicalPlan) -> Option<Option<(Vec<SortExpr>, Option<usize>)>> {
    let mut fetch = None;
    let mut node = plan;
    loop {
        match node {
            LogicalPlan::Sort(s) => {
                let fetch = fetch.or(s.fetch);
                let out = plan.schema();
                let expr = s
                    .expr
                    .iter()
                    .map(|o| match &o.expr {
                        Expr::Column(c) => {
                            let (q, f) = out.qualified_field_with_unqualified_name(&c.name).ok()?;
                            // The same column, not one of the same name from the other side.
                            (q == c.relation.as_ref() || c.relation.is_none()).then(|| SortExpr {
                                expr: Expr::Column(Column::new(q.cloned(), f.name())),
                                asc: o.asc,
                                nulls_first: o.nulls_first,
                            })
                        }
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()?;
                return Some(Some((expr, fetch)));
            }
            LogicalPlan::Limit(l) => {
                if let Ok(FetchType::Literal(Some(n))) = l.get_fetch_type() {
                    fetch = Some(fetch.map_or(n, |f: usize| f.min(n)));
                }
                node = l.input.as_ref();
            }
            LogicalPlan::Projection(p) => node = p.input.as_ref(),
            LogicalPlan::SubqueryAlias(a) => node = a.input.as_ref(),
            _ => return Some(None),
        }
    }
}

/// The subtree without the column-pruning projections right below its aggregates: the
/// unparser writes such a projection as a derived table whose columns the aggregate's
/// (qualified) expressions then no longer name. The aggregate's output is the same without it.
fn without_pruning(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up(|node| {
        let LogicalPlan::Aggregate(a) = &node else {
            return Ok(Transformed::no(node));
        };
        let LogicalPlan::Projection(p) = a.input.as_ref() else {
            return Ok(Transformed::no(node));
        };
        if !p.expr.iter().all(|e| matches!(e, Expr::Column(_))) {
            return Ok(Transformed::no(node));
        }
        let inner = p.input.as_ref().clone();
        Ok(Transformed::yes(
            node.with_new_exprs(node.expressions(), vec![inner])?,
        ))
    })
    .map(|t| t.data)
}

/// The subtree with each scan naming its table as the engine knows it, under an alias of the
/// name the columns above use.
fn in_source_names(plan: LogicalPlan) -> Result<LogicalPlan> {
    match plan {
        LogicalPlan::TableScan(scan) => {
            let alias = TableReference::bare(scan.table_name.table());
            let renamed = renamed_scan(scan)?;
            Ok(LogicalPlan::SubqueryAlias(SubqueryAlias::try_new(
                Arc::new(renamed),
                alias,
            )?))
        }
        // Aliases over aliases of a scan (a decorrelated subquery's over the table's own): the
        // columns above name the outermost, and the unparser would write the innermost.
        LogicalPlan::SubqueryAlias(a) if aliased_scan(&a.input).is_some() => {
            let scan = aliased_scan(&a.input).expect("matched above").clone();
            Ok(LogicalPlan::SubqueryAlias(SubqueryAlias::try_new(
                Arc::new(renamed_scan(scan)?),
                a.alias.clone(),
            )?))
        }
        other => other
            .map_children(|c| in_source_names(c).map(Transformed::yes))
            .map(|t| t.data),
    }
}

/// The scan under a chain of aliases (none included), if that is all there is.
fn aliased_scan(plan: &LogicalPlan) -> Option<&TableScan> {
    match plan {
        LogicalPlan::TableScan(scan) => Some(scan),
        LogicalPlan::SubqueryAlias(a) => aliased_scan(&a.input),
        _ => None,
    }
}

fn renamed_scan(mut scan: TableScan) -> Result<LogicalPlan> {
    let provider = remote_table(&scan).ok_or_else(|| {
        datafusion::error::DataFusionError::Internal("a remote scan is no longer remote".into())
    })?;
    let table = provider
        .as_any()
        .downcast_ref::<RemoteTable>()
        .expect("checked by remote_table");
    let name = table.name_in_source.clone();
    // The unparser qualifies a scan's own columns and filters by its name.
    scan.filters = scan
        .filters
        .into_iter()
        .map(|f| {
            f.transform(|e| match e {
                Expr::Column(c) if c.relation.as_ref() == Some(&scan.table_name) => Ok(
                    Transformed::yes(Expr::Column(Column::new(Some(name.clone()), c.name))),
                ),
                e => Ok(Transformed::no(e)),
            })
            .map(|t| t.data)
        })
        .collect::<Result<_>>()?;
    scan.projected_schema = Arc::new(
        scan.projected_schema
            .as_ref()
            .clone()
            .replace_qualifier(name.clone()),
    );
    scan.table_name = name;
    Ok(LogicalPlan::TableScan(scan))
}

/// A subplan sent whole to one engine as one statement.
#[derive(Debug, Clone)]
pub struct RemoteQuery {
    engine: Arc<dyn RemoteEngine>,
    sql: String,
    schema: DFSchemaRef,
}

impl PartialEq for RemoteQuery {
    fn eq(&self, other: &Self) -> bool {
        self.engine.key() == other.engine.key()
            && self.sql == other.sql
            && self.schema == other.schema
    }
}

impl Eq for RemoteQuery {}

impl Hash for RemoteQuery {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.engine.key().hash(state);
        self.sql.hash(state);
    }
}

impl PartialOrd for RemoteQuery {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        (self.engine.key(), &self.sql)
            .partial_cmp(&(other.engine.key(), &other.sql))
            .filter(|o| *o != std::cmp::Ordering::Equal || self == other)
    }
}

impl UserDefinedLogicalNodeCore for RemoteQuery {
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
        write!(
            f,
            "{NAME}: source={}, sql={}",
            self.engine.describe(),
            self.sql
        )
    }

    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, inputs: Vec<LogicalPlan>) -> Result<Self> {
        if !inputs.is_empty() {
            return datafusion::common::internal_err!("{NAME} has no inputs");
        }
        Ok(self.clone())
    }
}

/// Plans [`RemoteQuery`] as [`RemoteQueryExec`](crate::exec::remote::RemoteQueryExec).
#[derive(Debug, Default)]
pub struct RemotePlanner;

#[async_trait]
impl ExtensionPlanner for RemotePlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        _physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session_state: &SessionState,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(q) = node.as_any().downcast_ref::<RemoteQuery>() else {
            return Ok(None);
        };
        Ok(Some(Arc::new(crate::exec::remote::RemoteQueryExec::new(
            crate::exec::remote::EngineQuery(Arc::clone(&q.engine)),
            q.sql.clone(),
            Arc::new(q.schema.as_arrow().clone()),
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{cast, col, lit};

    fn schema() -> DFSchema {
        use datafusion::arrow::datatypes::{Field, Schema};
        DFSchema::try_from(Schema::new(vec![
            Field::new("i", DataType::Int32, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("d", DataType::Decimal128(12, 2), true),
            Field::new("f", DataType::Float64, true),
        ]))
        .unwrap()
    }

    #[test]
    fn what_every_engine_answers_alike_is_sent() {
        let s = schema();
        for e in [
            col("i").gt(lit(3i32)).and(col("s").eq(lit("x"))),
            col("s").in_list(vec![lit("a"), lit("b")], false),
            cast(col("i"), DataType::Int64).eq(lit(1i64)),
            col("d")
                .is_null()
                .or(col("i").between(lit(1i32), lit(9i32))),
        ] {
            assert!(sendable(&e, &s), "{e}");
        }
    }

    #[test]
    fn text_order_arithmetic_and_narrowing_stay_here() {
        let s = schema();
        for e in [
            col("s").lt(lit("m")),
            (col("i") + lit(1i32)).eq(lit(2i32)),
            cast(col("d"), DataType::Int32).eq(lit(1i32)),
            col("s").like(lit("a%")),
            // -0 and 0 are one value in PostgreSQL, two in Arrow.
            col("f").eq(col("f")),
        ] {
            assert!(!sendable(&e, &s), "{e}");
        }
        assert!(!orderable(&col("s"), &s));
        assert!(orderable(&col("d"), &s));
    }
}
