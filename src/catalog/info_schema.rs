//! information_schema over the mesh's metadata cache.
//!
//! DataFusion's own information_schema lists columns by asking every table for its provider,
//! which opens (reads storage for) every table; so a session turns it off and gets this one.
//! `columns` opens never-opened tables only when the query pins `table_name` (and, when it
//! pins it, `table_schema`), like pg_attribute does for `attrelid`.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::{MemTable, SchemaProvider, Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::TableType;
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

use super::pg_catalog::{may_read, may_use_schema, pinned_values, OPEN_CONCURRENCY};
use super::rows::{batch, i32v, schema, text};
use super::types::info_schema_type;
use super::{Mesh, TableEntry};
use crate::policy::Principal;

const TABLES: &[&str] = &["tables", "columns", "schemata", "views"];

#[derive(Debug)]
pub struct InfoSchema {
    mesh: Arc<Mesh>,
    user: Arc<Principal>,
}

impl InfoSchema {
    pub fn new(mesh: Arc<Mesh>, user: Arc<Principal>) -> Self {
        InfoSchema { mesh, user }
    }

    fn tables_iter(&self) -> impl Iterator<Item = &Arc<TableEntry>> {
        self.mesh.products.values().flat_map(|p| p.tables.values()).filter(|t| may_read(&self.user, t))
    }

    fn tables(&self) -> Result<Arc<dyn TableProvider>> {
        let cols: Vec<(&str, DataType, bool)> = [
            "table_catalog",
            "table_schema",
            "table_name",
            "table_type",
            "self_referencing_column_name",
            "reference_generation",
            "user_defined_type_catalog",
            "user_defined_type_schema",
            "user_defined_type_name",
            "is_insertable_into",
            "is_typed",
            "commit_action",
        ]
        .iter()
        .map(|c| (*c, DataType::Utf8, true))
        .collect();
        let s = schema(&cols);
        let rows = self
            .tables_iter()
            .map(|t| {
                let mut r = vec![
                    Some(text(self.mesh.database.clone())),
                    Some(text(t.product.clone())),
                    Some(text(t.name.clone())),
                    Some(text("BASE TABLE")),
                ];
                r.extend([None, None, None, None, None, Some(text("NO")), Some(text("NO")), None]);
                r
            })
            .collect();
        mem(&s, rows)
    }

    fn schemata(&self) -> Result<Arc<dyn TableProvider>> {
        let cols: Vec<(&str, DataType, bool)> = [
            "catalog_name",
            "schema_name",
            "schema_owner",
            "default_character_set_catalog",
            "default_character_set_schema",
            "default_character_set_name",
            "sql_path",
        ]
        .iter()
        .map(|c| (*c, DataType::Utf8, true))
        .collect();
        let s = schema(&cols);
        let mut names: Vec<String> = self.mesh.products.keys().cloned().collect();
        names.extend(["information_schema", "pg_catalog", "public"].map(String::from));
        names.sort();
        let rows = names
            .into_iter()
            .filter(|n| may_use_schema(&self.user, &self.mesh, n))
            .map(|n| {
                let owner = self
                    .mesh
                    .products
                    .get(&n)
                    .map(|p| p.owner.clone())
                    .filter(|o| !o.is_empty())
                    .unwrap_or_else(|| super::oids::BOOTSTRAP_ROLE_NAME.to_string());
                vec![Some(text(self.mesh.database.clone())), Some(text(n)), Some(text(owner)), None, None, None, None]
            })
            .collect();
        mem(&s, rows)
    }

    fn views(&self) -> Result<Arc<dyn TableProvider>> {
        let cols: Vec<(&str, DataType, bool)> = [
            "table_catalog",
            "table_schema",
            "table_name",
            "view_definition",
            "check_option",
            "is_updatable",
            "is_insertable_into",
            "is_trigger_updatable",
            "is_trigger_deletable",
            "is_trigger_insertable_into",
        ]
        .iter()
        .map(|c| (*c, DataType::Utf8, true))
        .collect();
        mem(&schema(&cols), vec![])
    }
}

fn mem(s: &SchemaRef, rows: Vec<Vec<Option<ScalarValue>>>) -> Result<Arc<dyn TableProvider>> {
    let b = batch(s, rows)?;
    Ok(Arc::new(MemTable::try_new(s.clone(), vec![vec![b]])?))
}

#[async_trait]
impl SchemaProvider for InfoSchema {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn table_names(&self) -> Vec<String> {
        TABLES.iter().map(|t| t.to_string()).collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        Ok(Some(match name.to_ascii_lowercase().as_str() {
            "tables" => self.tables()?,
            "schemata" => self.schemata()?,
            "views" => self.views()?,
            "columns" => Arc::new(Columns { mesh: self.mesh.clone(), user: self.user.clone(), schema: columns_schema() }),
            _ => return Ok(None),
        }))
    }

    fn table_exist(&self, name: &str) -> bool {
        TABLES.contains(&name.to_ascii_lowercase().as_str())
    }
}

fn columns_schema() -> SchemaRef {
    use DataType::*;
    schema(&[
        ("table_catalog", Utf8, false),
        ("table_schema", Utf8, false),
        ("table_name", Utf8, false),
        ("column_name", Utf8, false),
        ("ordinal_position", Int32, false),
        ("column_default", Utf8, true),
        ("is_nullable", Utf8, false),
        ("data_type", Utf8, false),
        ("character_maximum_length", Int32, true),
        ("character_octet_length", Int32, true),
        ("numeric_precision", Int32, true),
        ("numeric_precision_radix", Int32, true),
        ("numeric_scale", Int32, true),
        ("datetime_precision", Int32, true),
        ("interval_type", Utf8, true),
        ("interval_precision", Int32, true),
        ("collation_name", Utf8, true),
        ("domain_catalog", Utf8, true),
        ("domain_schema", Utf8, true),
        ("domain_name", Utf8, true),
        ("udt_catalog", Utf8, false),
        ("udt_schema", Utf8, false),
        ("udt_name", Utf8, false),
        ("is_identity", Utf8, false),
        ("is_generated", Utf8, false),
        ("is_updatable", Utf8, false),
    ])
}

#[derive(Debug)]
struct Columns {
    mesh: Arc<Mesh>,
    user: Arc<Principal>,
    schema: SchemaRef,
}

fn strings(v: Option<Vec<ScalarValue>>) -> Option<Vec<String>> {
    v.map(|vals| {
        vals.into_iter()
            .filter_map(|v| match v {
                ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => Some(s),
                _ => None,
            })
            .collect()
    })
}

#[async_trait]
impl TableProvider for Columns {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let schemas = strings(pinned_values(filters, "table_schema"));
        let names = strings(pinned_values(filters, "table_name"));
        let all: Vec<Arc<TableEntry>> = self
            .mesh
            .products
            .values()
            .filter(|p| schemas.as_ref().is_none_or(|s| s.contains(&p.name)))
            .flat_map(|p| p.tables.values())
            .filter(|t| names.as_ref().is_none_or(|n| n.contains(&t.name)))
            .filter(|t| may_read(&self.user, t))
            .cloned()
            .collect();
        if names.is_some() {
            self.mesh.ensure_known(&all, OPEN_CONCURRENCY).await;
        }
        let mut rows = Vec::new();
        for t in &all {
            let Some(meta) = t.known() else { continue };
            for (i, f) in meta.schema.fields().iter().enumerate() {
                let ty = info_schema_type(f.data_type());
                let opt = |v: Option<i32>| v.map(i32v);
                rows.push(vec![
                    Some(text(self.mesh.database.clone())),
                    Some(text(t.product.clone())),
                    Some(text(t.name.clone())),
                    Some(text(f.name().clone())),
                    Some(i32v(i as i32 + 1)),
                    None,
                    Some(text(if f.is_nullable() { "YES" } else { "NO" })),
                    Some(text(ty.data_type)),
                    opt(ty.char_max_length),
                    None,
                    opt(ty.numeric_precision),
                    opt(ty.numeric_radix),
                    opt(ty.numeric_scale),
                    opt(ty.datetime_precision),
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    Some(text(self.mesh.database.clone())),
                    Some(text("pg_catalog")),
                    Some(text(ty.udt_name)),
                    Some(text("NO")),
                    Some(text("NEVER")),
                    Some(text("NO")),
                ]);
            }
        }
        let b = batch(&self.schema, rows)?;
        MemTable::try_new(self.schema.clone(), vec![vec![b]])?.scan(state, projection, &[], limit).await
    }
}
