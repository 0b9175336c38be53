//! The `mesh` schema: what the mesh offers, described for its consumers.
//!
//! `mesh.domains`, `mesh.data_products`, `mesh.datasets`, `mesh.columns` and `mesh.my_grants`
//! are built per query from configuration and the metadata cache (like pg_catalog, they never
//! read storage), and each shows only what the session's principal may read: a consumer
//! discovers exactly the products it can query. `mesh.history` is the exception: the commits
//! of every readable table come from the formats' own logs, read when it is queried.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};

use super::pg_catalog::{may_read, may_use_schema};
use super::rows::mem;
use super::rows::{boolv, i32v, i64v, opt_text, schema, text, text_list};
use super::types::{column_type, format_type};
use super::{Mesh, ProductEntry, TableEntry};
use crate::policy::Principal;

pub const SCHEMA: &str = "mesh";
const TABLES: &[&str] = &[
    "domains",
    "data_products",
    "datasets",
    "columns",
    "my_grants",
    "history",
];

pub struct Discovery {
    mesh: Arc<Mesh>,
    principal: Arc<Principal>,
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Discovery")
    }
}

fn list(items: impl IntoIterator<Item = String>) -> ScalarValue {
    let values: Vec<ScalarValue> = items
        .into_iter()
        .map(|s| ScalarValue::Utf8(Some(s)))
        .collect();
    ScalarValue::List(ScalarValue::new_list_nullable(&values, &DataType::Utf8))
}

fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

impl Discovery {
    pub fn new(mesh: Arc<Mesh>, principal: Arc<Principal>) -> Self {
        Discovery { mesh, principal }
    }

    fn products(&self) -> impl Iterator<Item = &Arc<ProductEntry>> {
        self.mesh
            .products
            .values()
            .filter(|p| may_use_schema(&self.principal, &self.mesh, &p.name))
    }

    fn tables<'a>(&'a self, p: &'a ProductEntry) -> impl Iterator<Item = &'a Arc<TableEntry>> {
        p.tables.values().filter(|t| may_read(&self.principal, t))
    }

    /// A row count is shown only to principals who see every row.
    fn row_count(&self, t: &TableEntry) -> Option<u64> {
        let filtered = !self.principal.row_filters(&t.product, &t.name).is_empty();
        t.known().and_then(|m| m.row_count).filter(|_| !filtered)
    }

    fn domains(&self) -> Result<Arc<dyn TableProvider>> {
        let s = schema(&[
            ("name", DataType::Utf8, false),
            ("description", DataType::Utf8, true),
            ("owners", text_list(), true),
            ("jurisdiction", DataType::Utf8, true),
        ]);
        let visible: Vec<&str> = self.products().map(|p| p.domain.as_str()).collect();
        let rows = self
            .mesh
            .domains
            .iter()
            .filter(|d| self.principal.admin || visible.contains(&d.name.as_str()))
            .map(|d| {
                vec![
                    Some(text(d.name.clone())),
                    Some(opt_text(
                        Some(d.description.clone()).filter(|s| !s.is_empty()),
                    )),
                    Some(list(d.owners.clone())),
                    Some(opt_text(d.jurisdiction.clone())),
                ]
            })
            .collect();
        mem(&s, rows)
    }

    fn data_products(&self) -> Result<Arc<dyn TableProvider>> {
        let s = schema(&[
            ("product", DataType::Utf8, false),
            ("domain", DataType::Utf8, false),
            ("description", DataType::Utf8, true),
            ("owner", DataType::Utf8, true),
            ("tags", text_list(), true),
            ("formats", text_list(), true),
            ("table_count", DataType::Int32, false),
            ("freshness", timestamp(), true),
            ("jurisdiction", DataType::Utf8, true),
            ("residency", DataType::Utf8, true),
        ]);
        let rows = self
            .products()
            .map(|p| {
                let tables: Vec<&Arc<TableEntry>> = self.tables(p).collect();
                let mut formats: Vec<String> =
                    tables.iter().map(|t| t.format.to_string()).collect();
                formats.sort();
                formats.dedup();
                let freshness = tables
                    .iter()
                    .filter_map(|t| t.known().and_then(|m| m.committed_at_ms))
                    .max();
                vec![
                    Some(text(p.name.clone())),
                    Some(text(p.domain.clone())),
                    Some(opt_text(
                        Some(p.description.clone()).filter(|s| !s.is_empty()),
                    )),
                    Some(opt_text(Some(p.owner.clone()).filter(|s| !s.is_empty()))),
                    Some(list(p.tags.clone())),
                    Some(list(formats)),
                    Some(i32v(tables.len() as i32)),
                    Some(ScalarValue::TimestampMillisecond(
                        freshness,
                        Some("UTC".into()),
                    )),
                    Some(opt_text(
                        self.mesh
                            .domains
                            .iter()
                            .find(|d| d.name == p.domain)
                            .and_then(|d| d.jurisdiction.clone()),
                    )),
                    // What leaves the jurisdiction for consumers of other regions.
                    Some(opt_text(p.residency.as_ref().map(|r| r.describe()))),
                ]
            })
            .collect();
        mem(&s, rows)
    }

    fn datasets(&self) -> Result<Arc<dyn TableProvider>> {
        let s = schema(&[
            ("product", DataType::Utf8, false),
            ("table_name", DataType::Utf8, false),
            ("domain", DataType::Utf8, false),
            ("format", DataType::Utf8, false),
            ("location", DataType::Utf8, false),
            ("description", DataType::Utf8, true),
            ("version", DataType::Utf8, true),
            ("committed_at", timestamp(), true),
            ("row_count", DataType::Int64, true),
        ]);
        let mut rows = Vec::new();
        for p in self.products() {
            for t in self.tables(p) {
                let meta = t.known();
                rows.push(vec![
                    Some(text(p.name.clone())),
                    Some(text(t.name.clone())),
                    Some(text(p.domain.clone())),
                    Some(text(t.format)),
                    Some(text(redacted_location(&p.domain, &t.spec.location))),
                    Some(opt_text(t.description())),
                    Some(opt_text(meta.as_ref().and_then(|m| m.version.clone()))),
                    Some(ScalarValue::TimestampMillisecond(
                        meta.as_ref().and_then(|m| m.committed_at_ms),
                        Some("UTC".into()),
                    )),
                    self.row_count(t).map(|n| i64v(n as i64)),
                ]);
            }
        }
        mem(&s, rows)
    }

    fn columns(&self) -> Result<Arc<dyn TableProvider>> {
        let s = schema(&[
            ("product", DataType::Utf8, false),
            ("table_name", DataType::Utf8, false),
            ("column_name", DataType::Utf8, false),
            ("ordinal_position", DataType::Int32, false),
            ("data_type", DataType::Utf8, false),
            ("description", DataType::Utf8, true),
            ("masked", DataType::Boolean, false),
        ]);
        let mut rows = Vec::new();
        for p in self.products() {
            for t in self.tables(p) {
                let Some(meta) = t.known() else { continue };
                let masks = self.principal.masks(&t.product, &t.name);
                for (i, f) in meta.schema.fields().iter().enumerate() {
                    let ty = column_type(f.data_type());
                    let typmod = (ty.typmod >= 0).then_some(ty.typmod);
                    rows.push(vec![
                        Some(text(p.name.clone())),
                        Some(text(t.name.clone())),
                        Some(text(f.name().clone())),
                        Some(i32v(i as i32 + 1)),
                        Some(text(
                            format_type(ty.oid, typmod).unwrap_or_else(|| "text".into()),
                        )),
                        Some(opt_text(t.column_description(f.name(), Some(&meta)))),
                        Some(boolv(masks.contains_key(f.name()))),
                    ]);
                }
            }
        }
        mem(&s, rows)
    }

    fn my_grants(&self) -> Result<Arc<dyn TableProvider>> {
        let s = schema(&[
            ("product", DataType::Utf8, false),
            ("table_name", DataType::Utf8, false),
            ("granted_to", text_list(), false),
            ("row_filters", text_list(), false),
            ("masks", text_list(), false),
        ]);
        let pr = &self.principal;
        let mut rows = Vec::new();
        for p in self.products() {
            for t in self.tables(p) {
                let mut via: Vec<String> = if pr.admin {
                    vec!["admin".to_string()]
                } else {
                    pr.grants()
                        .filter(|g| {
                            g.product == p.name && g.table.as_deref().is_none_or(|n| n == t.name)
                        })
                        .flat_map(|g| g.to.iter().filter(|n| pr.names.contains(*n)).cloned())
                        .collect()
                };
                via.sort();
                via.dedup();
                let filters = pr
                    .row_filters(&p.name, &t.name)
                    .into_iter()
                    .map(|f| format!("{}: {}", f.name, f.filter));
                let masks = pr
                    .masks(&p.name, &t.name)
                    .into_iter()
                    .map(|(c, m)| format!("{c}: {} = {}", m.name, m.mask));
                rows.push(vec![
                    Some(text(p.name.clone())),
                    Some(text(t.name.clone())),
                    Some(list(via)),
                    Some(list(filters)),
                    Some(list(masks)),
                ]);
            }
        }
        mem(&s, rows)
    }
}

impl Discovery {
    /// Every commit still kept of every table the principal may read. A table whose history
    /// cannot be read is left out (the log says why), so one broken table does not hide all.
    async fn history(&self) -> Result<Arc<dyn TableProvider>> {
        use futures::StreamExt;
        let s = schema(&[
            ("product", DataType::Utf8, false),
            ("table_name", DataType::Utf8, false),
            ("version", DataType::Int64, false),
            ("committed_at", timestamp(), false),
            ("operation", DataType::Utf8, true),
            ("rows_added", DataType::Int64, true),
            ("rows_removed", DataType::Int64, true),
        ]);
        let tables: Vec<Arc<TableEntry>> = self
            .products()
            .flat_map(|p| self.tables(p))
            .filter(|t| t.view.is_none())
            .cloned()
            .collect();
        let histories: Vec<_> = futures::stream::iter(tables)
            .map(|t: Arc<TableEntry>| async move {
                let h = t.history().await;
                (t, h)
            })
            .buffered(super::OPEN_CONCURRENCY)
            .collect()
            .await;
        let mut rows = Vec::new();
        for (t, commits) in histories {
            let Ok(commits) = commits else { continue };
            // Row counts say how many rows a commit touched: not for principals who see some.
            let counts = self.principal.row_filters(&t.product, &t.name).is_empty();
            let count = |n: Option<u64>| n.filter(|_| counts).map(|n| i64v(n as i64));
            for c in commits.into_iter().rev() {
                rows.push(vec![
                    Some(text(t.product.clone())),
                    Some(text(t.name.clone())),
                    Some(i64v(c.version)),
                    Some(ScalarValue::TimestampMillisecond(
                        Some(c.committed_at_ms),
                        Some("UTC".into()),
                    )),
                    Some(opt_text(c.operation)),
                    count(c.rows_added),
                    count(c.rows_removed),
                ]);
            }
        }
        mem(&s, rows)
    }
}

/// Where a dataset lives, down to its domain's bucket and no further: the path inside a bucket
/// (or on the server's disk) is the domain's business.
fn redacted_location(domain: &str, location: &url::Url) -> String {
    match location.scheme() {
        "file" => format!("local storage of domain {domain}"),
        // Built from the connection's server, database and table only: no user or password.
        "postgres" | "mysql" => location.to_string(),
        "sqlite" => format!("sqlite file of domain {domain}"),
        scheme => format!("{scheme}://{}", location.host_str().unwrap_or("")),
    }
}

#[async_trait]
impl SchemaProvider for Discovery {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn table_names(&self) -> Vec<String> {
        TABLES.iter().map(|s| s.to_string()).collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if matches!(name, "data_products" | "datasets" | "columns") {
            self.mesh.warmed().await;
        }
        Ok(Some(match name {
            "domains" => self.domains()?,
            "data_products" => self.data_products()?,
            "datasets" => self.datasets()?,
            "columns" => self.columns()?,
            "my_grants" => self.my_grants()?,
            "history" => self.history().await?,
            _ => return Ok(None),
        }))
    }

    fn register_table(
        &self,
        name: String,
        _table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        Err(DataFusionError::Plan(format!(
            "schema mesh is read-only; cannot create {name}"
        )))
    }

    fn table_exist(&self, name: &str) -> bool {
        TABLES.contains(&name)
    }
}
