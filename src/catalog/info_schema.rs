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
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::Expr;

use super::columns::{pinned_strings, ColumnListing, ColumnRows, Listed, Wanted};
use super::pg_catalog::{may_read, may_use_schema};
use super::rows::{i32v, mem, schema, text, text_schema};
use super::types::info_schema_type;
use super::{Mesh, TableEntry};
use crate::policy::Principal;

const TABLES: &[&str] = &[
    "tables",
    "columns",
    "schemata",
    "views",
    "character_sets",
    "table_constraints",
    "key_column_usage",
    "referential_constraints",
    "constraint_column_usage",
];

/// Key and constraint views, with PostgreSQL's columns: a mesh declares no keys, so they are
/// empty, but BI tools (Power BI's relationship detection, DBeaver) query them by name.
fn constraint_view(name: &str) -> Option<SchemaRef> {
    let text = |n: &'static str| (n, DataType::Utf8, true);
    let int = |n: &'static str| (n, DataType::Int32, true);
    let base = [
        text("constraint_catalog"),
        text("constraint_schema"),
        text("constraint_name"),
    ];
    let table = [
        text("table_catalog"),
        text("table_schema"),
        text("table_name"),
    ];
    let cols: Vec<(&str, DataType, bool)> = match name {
        "table_constraints" => base
            .into_iter()
            .chain(table)
            .chain([
                text("constraint_type"),
                text("is_deferrable"),
                text("initially_deferred"),
                text("enforced"),
                text("nulls_distinct"),
            ])
            .collect(),
        "key_column_usage" => base
            .into_iter()
            .chain(table)
            .chain([
                text("column_name"),
                int("ordinal_position"),
                int("position_in_unique_constraint"),
            ])
            .collect(),
        "referential_constraints" => base
            .into_iter()
            .chain([
                text("unique_constraint_catalog"),
                text("unique_constraint_schema"),
                text("unique_constraint_name"),
                text("match_option"),
                text("update_rule"),
                text("delete_rule"),
            ])
            .collect(),
        "constraint_column_usage" => table
            .into_iter()
            .chain([text("column_name")])
            .chain(base)
            .collect(),
        _ => return None,
    };
    Some(schema(&cols))
}

pub struct InfoSchema {
    mesh: Arc<Mesh>,
    user: Arc<Principal>,
    /// The session's catalog, for its temporary tables (weak: the catalog holds this schema).
    catalog: std::sync::Weak<dyn datafusion::catalog::CatalogProvider>,
}

impl std::fmt::Debug for InfoSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InfoSchema")
    }
}

impl InfoSchema {
    pub fn new(
        mesh: Arc<Mesh>,
        user: Arc<Principal>,
        catalog: std::sync::Weak<dyn datafusion::catalog::CatalogProvider>,
    ) -> Self {
        InfoSchema {
            mesh,
            user,
            catalog,
        }
    }

    fn tables_iter(&self) -> impl Iterator<Item = &Arc<TableEntry>> {
        self.mesh
            .products
            .values()
            .flat_map(|p| p.tables.values())
            .filter(|t| may_read(&self.user, t))
    }

    async fn tables(&self) -> Result<Arc<dyn TableProvider>> {
        let s = text_schema(&[
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
        ]);
        let mut rows: Vec<Vec<Option<ScalarValue>>> = self
            .tables_iter()
            .map(|t| {
                let mut r = vec![
                    Some(text(self.mesh.database.clone())),
                    Some(text(t.product.clone())),
                    Some(text(t.name.clone())),
                    Some(text(if t.view.is_some() {
                        "VIEW"
                    } else {
                        "BASE TABLE"
                    })),
                ];
                r.extend([
                    None,
                    None,
                    None,
                    None,
                    None,
                    Some(text("NO")),
                    Some(text("NO")),
                    None,
                ]);
                r
            })
            .collect();
        // The session's temporary tables, as PostgreSQL lists them.
        for (name, _) in super::columns::temp_tables(&self.catalog).await {
            let mut r = vec![
                Some(text(self.mesh.database.clone())),
                Some(text(super::TEMP_SCHEMA)),
                Some(text(name)),
                Some(text("LOCAL TEMPORARY")),
            ];
            r.extend([
                None,
                None,
                None,
                None,
                None,
                Some(text("YES")),
                Some(text("NO")),
                Some(text("PRESERVE ROWS")),
            ]);
            rows.push(r);
        }
        mem(&s, rows)
    }

    fn schemata(&self) -> Result<Arc<dyn TableProvider>> {
        let s = text_schema(&[
            "catalog_name",
            "schema_name",
            "schema_owner",
            "default_character_set_catalog",
            "default_character_set_schema",
            "default_character_set_name",
            "sql_path",
        ]);
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
                vec![
                    Some(text(self.mesh.database.clone())),
                    Some(text(n)),
                    Some(text(owner)),
                    None,
                    None,
                    None,
                    None,
                ]
            })
            .collect();
        mem(&s, rows)
    }

    /// The one character set meshgate speaks (SQLAlchemy and JDBC tools read it on connect).
    fn character_sets(&self) -> Result<Arc<dyn TableProvider>> {
        let s = text_schema(&[
            "character_set_catalog",
            "character_set_schema",
            "character_set_name",
            "character_repertoire",
            "form_of_use",
            "default_collate_catalog",
            "default_collate_schema",
            "default_collate_name",
        ]);
        let row = vec![
            None,
            None,
            Some(text("UTF8")),
            Some(text("UCS")),
            Some(text("UTF8")),
            Some(text(self.mesh.database.clone())),
            Some(text("pg_catalog")),
            Some(text("C")),
        ];
        mem(&s, vec![row])
    }

    fn views(&self) -> Result<Arc<dyn TableProvider>> {
        let cols = text_schema(&[
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
        ]);
        let rows = self
            .tables_iter()
            .filter_map(|t| {
                // As written: a table version folded into its name for the parser is shown as a clause.
                let sql = meshgate_sqlfront::versions::unfolded(t.view.as_deref()?).into_owned();
                let mut r = vec![
                    Some(text(self.mesh.database.clone())),
                    Some(text(t.product.clone())),
                    Some(text(t.name.clone())),
                    Some(text(sql)),
                ];
                r.extend([
                    Some(text("NONE")),
                    Some(text("NO")),
                    Some(text("NO")),
                    Some(text("NO")),
                    Some(text("NO")),
                    Some(text("NO")),
                ]);
                Some(r)
            })
            .collect();
        mem(&cols, rows)
    }
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
        let name = name.to_ascii_lowercase();
        if name == "columns" {
            self.mesh.warmed().await;
        }
        Ok(Some(match name.as_str() {
            "tables" => self.tables().await?,
            "schemata" => self.schemata()?,
            "views" => self.views()?,
            "character_sets" => self.character_sets()?,
            "columns" => Arc::new(ColumnListing {
                mesh: self.mesh.clone(),
                user: self.user.clone(),
                catalog: self.catalog.clone(),
                rows: Columns,
            }),
            other => match constraint_view(other) {
                Some(s) => mem(&s, vec![])?,
                None => return Ok(None),
            },
        }))
    }

    fn table_exist(&self, name: &str) -> bool {
        TABLES.contains(&name.to_ascii_lowercase().as_str())
    }
}

/// PostgreSQL 16's information_schema.columns, in order: (name, type, nullable).
const COLUMNS: &[(&str, bool, bool)] = &[
    // (name, is an integer column, nullable)
    ("table_catalog", false, false),
    ("table_schema", false, false),
    ("table_name", false, false),
    ("column_name", false, false),
    ("ordinal_position", true, false),
    ("column_default", false, true),
    ("is_nullable", false, false),
    ("data_type", false, false),
    ("character_maximum_length", true, true),
    ("character_octet_length", true, true),
    ("numeric_precision", true, true),
    ("numeric_precision_radix", true, true),
    ("numeric_scale", true, true),
    ("datetime_precision", true, true),
    ("interval_type", false, true),
    ("interval_precision", true, true),
    ("character_set_catalog", false, true),
    ("character_set_schema", false, true),
    ("character_set_name", false, true),
    ("collation_catalog", false, true),
    ("collation_schema", false, true),
    ("collation_name", false, true),
    ("domain_catalog", false, true),
    ("domain_schema", false, true),
    ("domain_name", false, true),
    ("udt_catalog", false, false),
    ("udt_schema", false, false),
    ("udt_name", false, false),
    ("scope_catalog", false, true),
    ("scope_schema", false, true),
    ("scope_name", false, true),
    ("maximum_cardinality", true, true),
    ("dtd_identifier", false, true),
    ("is_self_referencing", false, true),
    ("is_identity", false, false),
    ("identity_generation", false, true),
    ("identity_start", false, true),
    ("identity_increment", false, true),
    ("identity_maximum", false, true),
    ("identity_minimum", false, true),
    ("identity_cycle", false, true),
    ("is_generated", false, false),
    ("generation_expression", false, true),
    ("is_updatable", false, false),
];

fn columns_schema() -> SchemaRef {
    let cols: Vec<(&str, DataType, bool)> = COLUMNS
        .iter()
        .map(|(n, int, null)| {
            (
                *n,
                if *int {
                    DataType::Int32
                } else {
                    DataType::Utf8
                },
                *null,
            )
        })
        .collect();
    schema(&cols)
}

/// information_schema.columns: the columns of the tables a scan asks for by `table_schema` and
/// `table_name`, or of all.
#[derive(Debug)]
struct Columns;

impl ColumnRows for Columns {
    fn schema(&self) -> SchemaRef {
        columns_schema()
    }

    fn wanted(&self, filters: &[Expr]) -> Wanted {
        Wanted::Named {
            schemas: pinned_strings(filters, "table_schema"),
            tables: pinned_strings(filters, "table_name"),
        }
    }

    fn rows(&self, mesh: &Mesh, table: &Listed, out: &mut Vec<Vec<Option<ScalarValue>>>) {
        for (i, f) in table.columns.fields().iter().enumerate() {
            let ty = info_schema_type(f.data_type());
            let opt = |v: Option<i32>| v.map(i32v);
            let value = |name: &str| -> Option<ScalarValue> {
                match name {
                    "table_catalog" | "udt_catalog" => Some(text(mesh.database.clone())),
                    "table_schema" => Some(text(table.schema.clone())),
                    "table_name" => Some(text(table.table.clone())),
                    "column_name" => Some(text(f.name().clone())),
                    "ordinal_position" => Some(i32v(i as i32 + 1)),
                    "dtd_identifier" => Some(text((i + 1).to_string())),
                    "is_nullable" => Some(text(if f.is_nullable() { "YES" } else { "NO" })),
                    "data_type" => Some(text(ty.data_type.clone())),
                    "character_maximum_length" => opt(ty.char_max_length),
                    "numeric_precision" => opt(ty.numeric_precision),
                    "numeric_precision_radix" => opt(ty.numeric_radix),
                    "numeric_scale" => opt(ty.numeric_scale),
                    "datetime_precision" => opt(ty.datetime_precision),
                    "udt_schema" => Some(text("pg_catalog")),
                    "udt_name" => Some(text(ty.udt_name)),
                    "is_self_referencing" | "is_identity" | "is_updatable" => Some(text("NO")),
                    "is_generated" => Some(text("NEVER")),
                    _ => None,
                }
            };
            out.push(COLUMNS.iter().map(|(n, _, _)| value(n)).collect());
        }
    }
}
