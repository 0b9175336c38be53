//! Plans kept for statements that run whole in one remote source, so a session that sends the
//! same text again skips parsing, name resolution, planning, the optimizer and physical
//! planning, and goes straight to the source.
//!
//! ```text
//!  Query text ─► parse_batch ─ hit (same text, same key) ──► the kept plan, fresh ─► run
//!                     │ miss
//!                     ▼
//!               parse ─► plan ─► physical plan ─► run
//!                                      └─ kept when it is one remote statement (see `keepable`)
//! ```
//!
//! A plan is kept only when reusing it cannot change the answer:
//! - its leaf is one statement sent to a remote source, whose rows are read when it runs (a
//!   lake table's files and version are fixed when it is planned, so plans that read one are
//!   never kept), and nothing above it but what passes rows on (projections, casts, a local
//!   sort, limit or filter, the row filter's barrier);
//! - no function in it is other than immutable (`now()`, `random()`, `current_user`,
//!   `current_setting`…: planning folds or binds them once) and it has no parameters;
//! - it was planned outside a transaction block, unpinned (`mesh.as_of`), in a session that is
//!   not a peer gateway's.
//!
//! And a kept plan is used only under the key it was planned under: the exact statement text,
//! every session setting (search_path, TimeZone, DateStyle, mesh.* …), the mesh generation
//! (reloads: grants, row filters, masks, domain files) and the session's catalog generation
//! (SET ROLE, a reload's principal), and the audit's text setting. The cache is the session's
//! own, so another user never sees it; creating or dropping temporary tables empties it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::error::Result as DfResult;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Expr, LogicalPlan, Volatility};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::sql::sqlparser::ast::Statement;

use crate::catalog::Mesh;
use crate::policy::StatementAccess;

/// Plans kept per session: enough for the statements a service repeats, small enough that a
/// thousand sessions hold little.
const CAPACITY: usize = 64;

/// Longer texts are planned each time (their planning dwarfs the lookup anyway, and keeping
/// them would hold much memory).
const MAX_TEXT: usize = 16 * 1024;

/// Everything besides the text that a kept plan depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub settings: BTreeMap<String, String>,
    pub generation: u64,
    pub access_generation: u64,
    pub audit: Option<bool>,
}

/// A kept plan.
pub struct Entry {
    key: Key,
    pub statement: Statement,
    pub audit_text: Option<String>,
    /// The plan as planned (what the audit reads its tables from).
    pub logical: LogicalPlan,
    physical: Arc<dyn ExecutionPlan>,
    /// What planning recorded: tables, policies applied, whether a row filter did.
    pub access: StatementAccess,
    /// The session's engine context as the plan runs in it: the same under the same key
    /// (settings, functions, the user a peer gateway reads as), and costly to build (it copies
    /// every function's registration).
    pub task_ctx: Arc<TaskContext>,
}

impl Entry {
    /// The kept physical plan with its per-run state (metrics, counters) new.
    pub fn physical(&self) -> DfResult<Arc<dyn ExecutionPlan>> {
        Arc::clone(&self.physical)
            .transform_up(|p| Ok(Transformed::yes(p.reset_state()?)))
            .map(|t| t.data)
    }
}

/// What `parse_batch` found for the statement about to run.
pub enum Pending {
    /// Its kept plan.
    Hit(Arc<Entry>),
    /// None yet: keep what planning makes, if it may be kept, under this text and key.
    Fill {
        text: String,
        key: Key,
        audit_text: Option<String>,
    },
}

#[derive(Default)]
pub struct PlanCache {
    entries: HashMap<String, Arc<Entry>>,
    /// Texts oldest first, for eviction.
    order: VecDeque<String>,
}

impl PlanCache {
    /// The kept plan of `text`, if it was kept under `key`.
    pub fn get(&self, text: &str, matches: impl FnOnce(&Key) -> bool) -> Option<Arc<Entry>> {
        let e = self.entries.get(text)?;
        matches(&e.key).then(|| Arc::clone(e))
    }

    /// Whether a text is short enough to be kept.
    pub fn may_keep(text: &str) -> bool {
        text.len() <= MAX_TEXT
    }

    #[allow(clippy::too_many_arguments)]
    pub fn insert(
        &mut self,
        text: String,
        key: Key,
        statement: Statement,
        audit_text: Option<String>,
        logical: LogicalPlan,
        physical: Arc<dyn ExecutionPlan>,
        access: StatementAccess,
        task_ctx: Arc<TaskContext>,
    ) {
        if self.entries.len() >= CAPACITY && !self.entries.contains_key(&text) {
            if let Some(oldest) = self.order.pop_front() {
                self.entries.remove(&oldest);
            }
        }
        if !self.entries.contains_key(&text) {
            self.order.push_back(text.clone());
        }
        self.entries.insert(
            text,
            Arc::new(Entry {
                key,
                statement,
                audit_text,
                logical,
                physical,
                access,
                task_ctx,
            }),
        );
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
    }
}

/// Whether a planned statement may be kept: its plan immutable and without parameters, its
/// physical plan one remote statement under nothing that holds rows or state of its own.
pub fn keepable(logical: &LogicalPlan, physical: &Arc<dyn ExecutionPlan>, mesh: &Mesh) -> bool {
    immutable(logical) && one_remote_statement(physical, mesh)
}

fn immutable(plan: &LogicalPlan) -> bool {
    let mut ok = true;
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|e| {
            e.apply(|x| {
                let fixed = match x {
                    Expr::ScalarFunction(f) => {
                        f.func.signature().volatility == Volatility::Immutable
                    }
                    Expr::Placeholder(_) => false,
                    _ => true,
                };
                ok &= fixed;
                Ok(if fixed {
                    TreeNodeRecursion::Continue
                } else {
                    TreeNodeRecursion::Stop
                })
            })
        })?;
        Ok(if ok {
            TreeNodeRecursion::Continue
        } else {
            TreeNodeRecursion::Stop
        })
    });
    ok
}

/// Nodes that pass a remote statement's rows on and whose reset leaves nothing of a past run.
const PASS_THROUGH: [&str; 11] = [
    "CooperativeExec",
    "ProjectionExec",
    "FilterExec",
    "RepartitionExec",
    "CoalescePartitionsExec",
    "CoalesceBatchesExec",
    "SortExec",
    "SortPreservingMergeExec",
    "GlobalLimitExec",
    "LocalLimitExec",
    crate::sql::barrier::EXEC_NAME,
];

fn one_remote_statement(plan: &Arc<dyn ExecutionPlan>, mesh: &Mesh) -> bool {
    let mut node = Arc::clone(plan);
    loop {
        let children = node.children();
        if children.is_empty() {
            return node.as_any().is::<crate::exec::remote::RemoteQueryExec>()
                || mesh
                    .connectors
                    .readers()
                    .any(|c| c.remote_statement(&node).is_some());
        }
        if children.len() != 1 || !PASS_THROUGH.contains(&node.name()) {
            return false;
        }
        let child = Arc::clone(children[0]);
        node = child;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::Schema;
    use datafusion::logical_expr::{EmptyRelation, LogicalPlanBuilder};
    use datafusion::physical_plan::empty::EmptyExec;
    use datafusion::prelude::SessionContext;

    fn key(generation: u64) -> Key {
        Key {
            settings: BTreeMap::from([("search_path".into(), "billing".into())]),
            generation,
            access_generation: 1,
            audit: None,
        }
    }

    fn keep(cache: &mut PlanCache, text: &str) {
        cache.insert(
            text.to_string(),
            key(1),
            crate::sql::parse_one("SELECT 1").expect("parses"),
            None,
            LogicalPlan::EmptyRelation(EmptyRelation {
                produce_one_row: false,
                schema: Arc::new(datafusion::common::DFSchema::empty()),
            }),
            Arc::new(EmptyExec::new(Arc::new(Schema::empty()))),
            StatementAccess::default(),
            SessionContext::new().task_ctx(),
        );
    }

    #[test]
    fn plans_are_found_under_their_key_only_and_the_oldest_go_first() {
        let mut cache = PlanCache::default();
        keep(&mut cache, "q0");
        assert!(cache.get("q0", |k| *k == key(1)).is_some());
        assert!(
            cache.get("q0", |k| *k == key(2)).is_none(),
            "a reload since"
        );
        assert!(cache.get("q1", |k| *k == key(1)).is_none());
        for i in 1..=CAPACITY {
            keep(&mut cache, &format!("q{i}"));
        }
        assert_eq!(cache.entries.len(), CAPACITY);
        assert!(cache.get("q0", |_| true).is_none(), "the oldest went");
        assert!(cache.get(&format!("q{CAPACITY}"), |_| true).is_some());
        // Keeping a text again replaces it, and does not evict another.
        keep(&mut cache, "q5");
        assert_eq!(cache.entries.len(), CAPACITY);
        assert_eq!(cache.order.len(), CAPACITY);
    }

    #[test]
    fn volatile_functions_and_parameters_are_not_kept() {
        let plan = |e: Expr| {
            LogicalPlanBuilder::empty(true)
                .project(vec![e])
                .and_then(|b| b.build())
                .expect("plan")
        };
        use datafusion::functions::expr_fn::{abs, now, random};
        use datafusion::logical_expr::{lit, placeholder};
        assert!(immutable(&plan(abs(lit(-1)))));
        assert!(!immutable(&plan(now())));
        assert!(!immutable(&plan(random())));
        assert!(!immutable(&plan(placeholder("$1"))));
    }
}
