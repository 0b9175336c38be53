//! The catalog tables with one row per column of every table a principal may read
//! (`pg_attribute`, `information_schema.columns`), built when they are scanned.
//!
//! Built at scan time so the scan's filters can say which tables are wanted: a client that asks
//! for one table's columns (`attrelid = 'x'::regclass`, `table_name = 'x'`) opens just that
//! table when its columns are not known yet, and a whole listing never waits on storage (it
//! lists what the tables' last opens learned). The session's temporary tables are listed too.

use std::any::Any;
use std::sync::{Arc, Weak};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{CatalogProvider, MemTable, Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::TableType;
use datafusion::error::Result;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

use super::rows::batch;
use super::{oids, Mesh, TableEntry, TEMP_SCHEMA};
use crate::policy::Principal;

/// Tables opened at once when a catalog query names never-opened tables.
pub const OPEN_CONCURRENCY: usize = 8;

/// Which tables a scan's filters ask for.
pub(super) enum Wanted {
    All,
    /// `attrelid = …` / `attrelid IN (…)`.
    Oids(Vec<i32>),
    /// `table_schema = …`, `table_name = …` (None: not pinned).
    Named {
        schemas: Option<Vec<String>>,
        tables: Option<Vec<String>>,
    },
}

/// One listed table.
pub(super) struct Listed {
    /// None for a mesh table without an OID (never the case for a configured one).
    pub oid: Option<i32>,
    pub schema: String,
    pub table: String,
    pub columns: SchemaRef,
}

/// What tells the two listings apart: their columns and rows, and which filter pins tables.
pub(super) trait ColumnRows: Send + Sync + std::fmt::Debug + 'static {
    fn schema(&self) -> SchemaRef;
    fn wanted(&self, filters: &[Expr]) -> Wanted;
    fn rows(&self, mesh: &Mesh, table: &Listed, out: &mut Vec<Vec<Option<ScalarValue>>>);
}

#[derive(Debug)]
pub(super) struct ColumnListing<R> {
    pub mesh: Arc<Mesh>,
    pub user: Arc<Principal>,
    /// The session's catalog, for its temporary tables (weak: the catalog holds this table).
    pub catalog: Weak<dyn CatalogProvider>,
    pub rows: R,
}

impl<R: ColumnRows> ColumnListing<R> {
    async fn listed(&self, wanted: &Wanted) -> Vec<Listed> {
        let all = self
            .mesh
            .products
            .values()
            .flat_map(|p| p.tables.values())
            .cloned();
        let tables: Vec<Arc<TableEntry>> = match wanted {
            Wanted::All => all.collect(),
            Wanted::Oids(oids) => oids
                .iter()
                .filter_map(|oid| self.mesh.table_by_oid(*oid).cloned())
                .collect(),
            Wanted::Named { schemas, tables } => all
                .filter(|t| schemas.as_ref().is_none_or(|s| s.contains(&t.product)))
                .filter(|t| tables.as_ref().is_none_or(|n| n.contains(&t.name)))
                .collect(),
        };
        let tables: Vec<Arc<TableEntry>> = tables
            .into_iter()
            .filter(|t| self.user.may_read(&t.product, &t.name))
            .collect();
        if matches!(
            wanted,
            Wanted::Oids(_)
                | Wanted::Named {
                    tables: Some(_),
                    ..
                }
        ) {
            self.mesh.ensure_known(&tables, OPEN_CONCURRENCY).await;
        }
        let mut listed: Vec<Listed> = tables
            .iter()
            .filter_map(|t| {
                Some(Listed {
                    oid: self.mesh.oids.table(&t.product, &t.name),
                    schema: t.product.clone(),
                    table: t.name.clone(),
                    columns: t.known()?.schema.clone(),
                })
            })
            .collect();
        for (name, columns) in temp_tables(&self.catalog).await {
            let oid = oids::temp_table_oid(&name);
            let wanted = match wanted {
                Wanted::All => true,
                Wanted::Oids(oids) => oids.contains(&oid),
                Wanted::Named { schemas, tables } => {
                    schemas
                        .as_ref()
                        .is_none_or(|s| s.iter().any(|s| s == TEMP_SCHEMA))
                        && tables.as_ref().is_none_or(|n| n.contains(&name))
                }
            };
            if wanted {
                listed.push(Listed {
                    oid: Some(oid),
                    schema: TEMP_SCHEMA.to_string(),
                    table: name,
                    columns,
                });
            }
        }
        listed
    }
}

#[async_trait]
impl<R: ColumnRows> TableProvider for ColumnListing<R> {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.rows.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // Filters are only read to choose tables; DataFusion still applies them to the rows.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let wanted = self.rows.wanted(filters);
        let mut rows = Vec::new();
        for table in self.listed(&wanted).await {
            self.rows.rows(&self.mesh, &table, &mut rows);
        }
        let schema = self.rows.schema();
        let b = batch(&schema, rows)?;
        MemTable::try_new(schema, vec![vec![b]])?
            .scan(state, projection, &[], limit)
            .await
    }
}

/// The session's temporary tables (name, schema), sorted by name.
pub(super) async fn temp_tables(catalog: &Weak<dyn CatalogProvider>) -> Vec<(String, SchemaRef)> {
    let Some(temp) = catalog.upgrade().and_then(|c| c.schema(TEMP_SCHEMA)) else {
        return vec![];
    };
    let mut out = Vec::new();
    for name in temp.table_names() {
        if let Ok(Some(t)) = temp.table(&name).await {
            out.push((name, t.schema()));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The values a filter pins `column` to (`column = v`, `v = column`, `column IN (…)`), if one
/// of the filters does.
pub fn pinned_values(filters: &[Expr], column: &str) -> Option<Vec<ScalarValue>> {
    fn is_col(e: &Expr, column: &str) -> bool {
        match e {
            Expr::Column(c) => c.name == column,
            Expr::Cast(c) => is_col(&c.expr, column),
            Expr::TryCast(c) => is_col(&c.expr, column),
            _ => false,
        }
    }
    fn lit(e: &Expr) -> Option<ScalarValue> {
        match e {
            Expr::Literal(v, _) => Some(v.clone()),
            Expr::Cast(c) => lit(&c.expr),
            _ => None,
        }
    }
    filters.iter().find_map(|f| match f {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) => {
            if is_col(left, column) {
                lit(right).map(|v| vec![v])
            } else if is_col(right, column) {
                lit(left).map(|v| vec![v])
            } else {
                None
            }
        }
        Expr::InList(l) if !l.negated && is_col(&l.expr, column) => {
            l.list.iter().map(lit).collect()
        }
        _ => None,
    })
}

/// An integer however a client spelled it (OIDs arrive as Int32, Int64 or text).
pub fn scalar_i32(v: &ScalarValue) -> Option<i32> {
    match v {
        ScalarValue::Int32(Some(n)) => Some(*n),
        ScalarValue::Int16(Some(n)) => Some(i32::from(*n)),
        ScalarValue::Int64(Some(n)) => i32::try_from(*n).ok(),
        ScalarValue::UInt32(Some(n)) => i32::try_from(*n).ok(),
        ScalarValue::UInt64(Some(n)) => i32::try_from(*n).ok(),
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Text values a filter pins `column` to.
pub(super) fn pinned_strings(filters: &[Expr], column: &str) -> Option<Vec<String>> {
    pinned_values(filters, column).map(|vals| {
        vals.into_iter()
            .filter_map(|v| match v {
                ScalarValue::Utf8(Some(s))
                | ScalarValue::LargeUtf8(Some(s))
                | ScalarValue::Utf8View(Some(s)) => Some(s),
                _ => None,
            })
            .collect()
    })
}
