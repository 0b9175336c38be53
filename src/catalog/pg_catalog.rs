//! The pg_catalog tables that describe the mesh, built from the mesh's metadata cache.
//!
//! ```text
//!  pg_catalog schema = MeshPgCatalog ─┬─ ours: pg_namespace, pg_class, pg_attribute,
//!                                     │        pg_description, pg_database, pg_tables,
//!                                     │        pg_stat_user_tables
//!                                     └─ everything else: datafusion-pg-catalog (pg_type,
//!                                        pg_proc, pg_am, pg_roles, pg_settings, empty tables…)
//! ```
//!
//! The crate's dynamic tables list a table by asking DataFusion for its provider, which opens
//! it (reads storage) for every table on every catalog query, and they know nothing of
//! descriptions; so those are replaced. Ours never read storage for a listing: tables come
//! from configuration, columns from the schema cached at the table's last open
//! ([`super::TableEntry::known`]). A query that names tables by OID (`attrelid = …`, psql's
//! `\d`) opens just those tables when they have never been opened.

use std::any::Any;
use std::collections::BTreeSet;
use std::sync::{Arc, Weak};

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::Expr;

use super::columns::{pinned_values, scalar_i32, ColumnListing, ColumnRows, Listed, Wanted};
use super::oids::{self, BOOTSTRAP_ROLE, PG_CLASS_CLASSOID, PG_NAMESPACE_CLASSOID};
use super::rows::{boolv, i16v, i32v, i64v, mem, opt_text, schema, text, text_list};
use super::types::column_type;
use super::{Mesh, TableEntry};
use crate::policy::Principal;

/// The tables of pg_catalog this module answers; the rest are the crate's.
const OURS: &[&str] = &[
    "pg_namespace",
    "pg_class",
    "pg_attribute",
    "pg_description",
    "pg_database",
    "pg_tables",
    "pg_views",
    "pg_stat_user_tables",
    "pg_settings",
    "pg_roles",
    "pg_user",
];

/// Whether `principal` may see and read `table`: every catalog listing and privilege function
/// asks here, so an object without a grant is invisible everywhere.
pub fn may_read(principal: &Principal, table: &TableEntry) -> bool {
    principal.may_read(&table.product, &table.name)
}

/// Whether `principal` may use the schema `product` (may read at least one of its tables; an
/// empty product only admins see).
pub fn may_use_schema(principal: &Principal, mesh: &Mesh, product: &str) -> bool {
    match mesh.products.get(product) {
        // An empty product: a writable one nothing was built in yet is there for whoever may
        // write it or holds a grant on the whole product (dbt asks whether its schema exists).
        Some(p) if p.tables.is_empty() => {
            principal.admin || principal.may_write(&p.name) || principal.may_read(&p.name, "")
        }
        Some(p) => p.tables.values().any(|t| may_read(principal, t)),
        None => [
            "pg_catalog",
            "information_schema",
            "public",
            "mesh",
            super::TEMP_SCHEMA,
        ]
        .contains(&product),
    }
}

/// A pg_class row's varying part: (oid, name, namespace, owner, tuples, attributes, relkind,
/// relpersistence).
type RelRow = (i32, String, i32, i32, f64, i16, &'static str, &'static str);

pub struct MeshPgCatalog {
    crate_tables: Arc<dyn SchemaProvider>,
    mesh: Arc<Mesh>,
    user: Arc<Principal>,
    /// The database catalog, for the list of schemas; weak because the catalog holds us.
    catalog: Weak<dyn CatalogProvider>,
}

impl std::fmt::Debug for MeshPgCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MeshPgCatalog")
    }
}

impl MeshPgCatalog {
    pub fn new(
        crate_tables: Arc<dyn SchemaProvider>,
        mesh: Arc<Mesh>,
        user: Arc<Principal>,
        catalog: Weak<dyn CatalogProvider>,
    ) -> Self {
        MeshPgCatalog {
            crate_tables,
            mesh,
            user,
            catalog,
        }
    }

    fn tables(&self) -> impl Iterator<Item = &Arc<TableEntry>> {
        self.mesh
            .products
            .values()
            .flat_map(|p| p.tables.values())
            .filter(|t| may_read(&self.user, t))
    }

    /// The owner's role name, as pg_tables and pg_views show it.
    fn owner_name(&self, product: &str) -> String {
        self.mesh
            .roles
            .get(&self.owner_of(product))
            .cloned()
            .unwrap_or_default()
    }

    fn owner_of(&self, product: &str) -> i32 {
        match self.mesh.products.get(product) {
            Some(p) if !p.owner.is_empty() => oids::role_oid(&p.owner),
            _ => BOOTSTRAP_ROLE,
        }
    }

    fn pg_namespace(&self) -> Result<Arc<dyn TableProvider>> {
        let s = schema(&[
            ("oid", DataType::Int32, false),
            ("nspname", DataType::Utf8, false),
            ("nspowner", DataType::Int32, false),
            ("nspacl", text_list(), true),
        ]);
        let mut names: BTreeSet<String> = self
            .catalog
            .upgrade()
            .map(|c| c.schema_names())
            .unwrap_or_default()
            .into_iter()
            .collect();
        names.extend(["pg_catalog", "information_schema", "public"].map(String::from));
        let rows = names
            .into_iter()
            .filter(|n| may_use_schema(&self.user, &self.mesh, n))
            .map(|n| {
                vec![
                    Some(i32v(self.mesh.oids.namespace(&n))),
                    Some(text(n.clone())),
                    Some(i32v(self.owner_of(&n))),
                    None,
                ]
            })
            .collect();
        mem(&s, rows)
    }

    async fn pg_class(&self) -> Result<Arc<dyn TableProvider>> {
        use DataType::*;
        let s = schema(&[
            ("oid", Int32, false),
            ("relname", Utf8, false),
            ("relnamespace", Int32, false),
            ("reltype", Int32, false),
            ("reloftype", Int32, false),
            ("relowner", Int32, false),
            ("relam", Int32, false),
            ("relfilenode", Int32, false),
            ("reltablespace", Int32, false),
            ("relpages", Int32, false),
            ("reltuples", Float64, false),
            ("relallvisible", Int32, false),
            ("reltoastrelid", Int32, false),
            ("relhasindex", Boolean, false),
            ("relisshared", Boolean, false),
            ("relpersistence", Utf8, false),
            ("relkind", Utf8, false),
            ("relnatts", Int16, false),
            ("relchecks", Int16, false),
            ("relhasrules", Boolean, false),
            ("relhastriggers", Boolean, false),
            ("relhassubclass", Boolean, false),
            ("relrowsecurity", Boolean, false),
            ("relforcerowsecurity", Boolean, false),
            ("relispopulated", Boolean, false),
            ("relreplident", Utf8, false),
            ("relispartition", Boolean, false),
            ("relrewrite", Int32, false),
            ("relfrozenxid", Int32, false),
            ("relminmxid", Int32, false),
            ("relacl", text_list(), true),
            ("reloptions", text_list(), true),
            ("relpartbound", Utf8, true),
        ]);
        let mut rels: Vec<RelRow> = self
            .tables()
            .filter_map(|t| {
                let oid = self.mesh.oids.table(&t.product, &t.name)?;
                let meta = t.known();
                // PostgreSQL 14+ reports -1 for a table never analyzed: "unknown", not "empty".
                // Under a row filter the table's full size is not this user's to know.
                let tuples = meta
                    .as_ref()
                    .and_then(|m| m.row_count)
                    .filter(|_| self.user.row_filters(&t.product, &t.name).is_empty())
                    .map(|n| n as f64)
                    .unwrap_or(-1.0);
                let natts = meta
                    .as_ref()
                    .map(|m| m.schema.fields().len() as i16)
                    .unwrap_or(0);
                let kind = if t.view.is_some() { "v" } else { "r" };
                Some((
                    oid,
                    t.name.clone(),
                    self.mesh.oids.namespace(&t.product),
                    self.owner_of(&t.product),
                    tuples,
                    natts,
                    kind,
                    "p",
                ))
            })
            .collect();
        // The session's temporary tables (psql `\dt pg_temp.*`, drivers listing them).
        if let Some(temp) = self
            .catalog
            .upgrade()
            .and_then(|c| c.schema(super::TEMP_SCHEMA))
        {
            let nsp = self.mesh.oids.namespace(super::TEMP_SCHEMA);
            for name in temp.table_names() {
                let natts = match temp.table(&name).await {
                    Ok(Some(t)) => t.schema().fields().len() as i16,
                    _ => continue,
                };
                rels.push((
                    oids::temp_table_oid(&name),
                    name,
                    nsp,
                    oids::role_oid(self.user.current_user()),
                    -1.0,
                    natts,
                    "r",
                    "t",
                ));
            }
        }
        let rows = rels
            .into_iter()
            .map(
                |(oid, name, nsp, owner, tuples, natts, kind, persistence)| {
                    vec![
                        Some(i32v(oid)),
                        Some(text(name)),
                        Some(i32v(nsp)),
                        Some(i32v(0)),
                        Some(i32v(0)),
                        Some(i32v(owner)),
                        // pg_am's heap: psql shows it as the access method.
                        Some(i32v(2)),
                        Some(i32v(0)),
                        Some(i32v(0)),
                        Some(i32v(0)),
                        Some(ScalarValue::Float64(Some(tuples))),
                        Some(i32v(0)),
                        Some(i32v(0)),
                        Some(boolv(false)),
                        Some(boolv(false)),
                        Some(text(persistence)),
                        Some(text(kind)),
                        Some(i16v(natts)),
                        Some(i16v(0)),
                        Some(boolv(false)),
                        Some(boolv(false)),
                        Some(boolv(false)),
                        Some(boolv(false)),
                        Some(boolv(false)),
                        Some(boolv(true)),
                        // "default", as PostgreSQL's tables have (psql prints nothing for it).
                        Some(text("d")),
                        Some(boolv(false)),
                        Some(i32v(0)),
                        Some(i32v(0)),
                        Some(i32v(0)),
                        None,
                        None,
                        None,
                    ]
                },
            )
            .collect();
        mem(&s, rows)
    }

    fn pg_description(&self) -> Result<Arc<dyn TableProvider>> {
        let s = schema(&[
            ("objoid", DataType::Int32, false),
            ("classoid", DataType::Int32, false),
            ("objsubid", DataType::Int32, false),
            ("description", DataType::Utf8, false),
        ]);
        let mut rows = Vec::new();
        for p in self.mesh.products.values() {
            if !p.description.is_empty() && may_use_schema(&self.user, &self.mesh, &p.name) {
                rows.push(vec![
                    Some(i32v(self.mesh.oids.namespace(&p.name))),
                    Some(i32v(PG_NAMESPACE_CLASSOID)),
                    Some(i32v(0)),
                    Some(text(p.description.clone())),
                ]);
            }
        }
        for t in self.tables() {
            let Some(oid) = self.mesh.oids.table(&t.product, &t.name) else {
                continue;
            };
            if let Some(d) = t.description() {
                rows.push(vec![
                    Some(i32v(oid)),
                    Some(i32v(PG_CLASS_CLASSOID)),
                    Some(i32v(0)),
                    Some(text(d)),
                ]);
            }
            if let Some(meta) = t.known() {
                for (i, f) in meta.schema.fields().iter().enumerate() {
                    if let Some(d) = t.column_description(f.name(), Some(&meta)) {
                        rows.push(vec![
                            Some(i32v(oid)),
                            Some(i32v(PG_CLASS_CLASSOID)),
                            Some(i32v(i as i32 + 1)),
                            Some(text(d)),
                        ]);
                    }
                }
            }
        }
        mem(&s, rows)
    }

    /// (name, oid, superuser, can log in) of every role: the bootstrap role that owns the
    /// database, the configured users (and a token or certificate user not among them), the
    /// declared roles. OIDs are the ones pg_get_userbyid and the owner columns use.
    fn role_rows(&self) -> Vec<(String, i32, bool, bool)> {
        let mut rows = vec![(
            oids::BOOTSTRAP_ROLE_NAME.to_string(),
            BOOTSTRAP_ROLE,
            true,
            false,
        )];
        let policies = self.user.policies();
        let mut users: Vec<(String, bool)> =
            policies.users().map(|(n, a)| (n.clone(), a)).collect();
        if !users.iter().any(|(n, _)| *n == self.user.user) {
            users.push((self.user.user.clone(), false));
        }
        rows.extend(
            users
                .into_iter()
                .map(|(n, admin)| (n.clone(), oids::role_oid(&n), admin, true)),
        );
        rows.extend(
            policies
                .role_names()
                .map(|r| (r.clone(), oids::role_oid(r), false, false)),
        );
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        rows
    }

    fn pg_roles(&self) -> Result<Arc<dyn TableProvider>> {
        use DataType::*;
        let ts = Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let s = schema(&[
            ("rolname", Utf8, false),
            ("rolsuper", Boolean, false),
            ("rolinherit", Boolean, false),
            ("rolcreaterole", Boolean, false),
            ("rolcreatedb", Boolean, false),
            ("rolcanlogin", Boolean, false),
            ("rolreplication", Boolean, false),
            ("rolconnlimit", Int32, false),
            ("rolpassword", Utf8, true),
            ("rolvaliduntil", ts, true),
            ("rolbypassrls", Boolean, false),
            ("rolconfig", text_list(), true),
            ("oid", Int32, false),
        ]);
        let rows = self
            .role_rows()
            .into_iter()
            .map(|(name, oid, superuser, login)| {
                vec![
                    Some(text(name)),
                    Some(boolv(superuser)),
                    Some(boolv(true)),
                    Some(boolv(false)),
                    Some(boolv(false)),
                    Some(boolv(login)),
                    Some(boolv(false)),
                    Some(i32v(-1)),
                    // PostgreSQL shows the password column masked to everyone.
                    Some(text("********")),
                    None,
                    Some(boolv(superuser)),
                    None,
                    Some(i32v(oid)),
                ]
            })
            .collect();
        mem(&s, rows)
    }

    fn pg_user(&self) -> Result<Arc<dyn TableProvider>> {
        use DataType::*;
        let ts = Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let s = schema(&[
            ("usename", Utf8, false),
            ("usesysid", Int32, false),
            ("usecreatedb", Boolean, false),
            ("usesuper", Boolean, false),
            ("userepl", Boolean, false),
            ("usebypassrls", Boolean, false),
            ("passwd", Utf8, true),
            ("valuntil", ts, true),
            ("useconfig", text_list(), true),
        ]);
        let rows = self
            .role_rows()
            .into_iter()
            .filter(|r| r.3)
            .map(|(name, oid, superuser, _)| {
                vec![
                    Some(text(name)),
                    Some(i32v(oid)),
                    Some(boolv(false)),
                    Some(boolv(superuser)),
                    Some(boolv(false)),
                    Some(boolv(superuser)),
                    Some(text("********")),
                    None,
                    None,
                ]
            })
            .collect();
        mem(&s, rows)
    }

    fn pg_database(&self) -> Result<Arc<dyn TableProvider>> {
        use DataType::*;
        let s = schema(&[
            ("oid", Int32, false),
            ("datname", Utf8, false),
            ("datdba", Int32, false),
            ("encoding", Int32, false),
            ("datlocprovider", Utf8, false),
            ("datistemplate", Boolean, false),
            ("datallowconn", Boolean, false),
            ("datconnlimit", Int32, false),
            ("datfrozenxid", Int32, false),
            ("datminmxid", Int32, false),
            ("dattablespace", Int32, false),
            ("datcollate", Utf8, false),
            ("datctype", Utf8, false),
            ("daticulocale", Utf8, true),
            ("daticurules", Utf8, true),
            ("datcollversion", Utf8, true),
            ("datacl", text_list(), true),
        ]);
        let row = vec![
            Some(i32v(self.mesh.oids.database)),
            Some(text(self.mesh.database.clone())),
            Some(i32v(BOOTSTRAP_ROLE)),
            // 6 is UTF8 in PostgreSQL's encoding table.
            Some(i32v(6)),
            Some(text("c")),
            Some(boolv(false)),
            Some(boolv(true)),
            Some(i32v(-1)),
            Some(i32v(0)),
            Some(i32v(0)),
            // pg_default tablespace.
            Some(i32v(1663)),
            Some(text("C")),
            Some(text("C")),
            None,
            None,
            None,
            None,
        ];
        mem(&s, vec![row])
    }

    fn pg_tables(&self) -> Result<Arc<dyn TableProvider>> {
        let s = schema(&[
            ("schemaname", DataType::Utf8, false),
            ("tablename", DataType::Utf8, false),
            ("tableowner", DataType::Utf8, false),
            ("tablespace", DataType::Utf8, true),
            ("hasindex", DataType::Boolean, false),
            ("hasrules", DataType::Boolean, false),
            ("hastriggers", DataType::Boolean, false),
            ("rowsecurity", DataType::Boolean, false),
        ]);
        let rows = self
            .tables()
            .filter(|t| t.view.is_none())
            .map(|t| {
                let owner = self.owner_name(&t.product);
                vec![
                    Some(text(t.product.clone())),
                    Some(text(t.name.clone())),
                    Some(text(owner)),
                    None,
                    Some(boolv(false)),
                    Some(boolv(false)),
                    Some(boolv(false)),
                    Some(boolv(false)),
                ]
            })
            .collect();
        mem(&s, rows)
    }

    /// Views created in writable products, with their definitions (dbt lists relations here).
    fn pg_views(&self) -> Result<Arc<dyn TableProvider>> {
        let s = schema(&[
            ("schemaname", DataType::Utf8, false),
            ("viewname", DataType::Utf8, false),
            ("viewowner", DataType::Utf8, false),
            ("definition", DataType::Utf8, true),
        ]);
        let rows = self
            .tables()
            .filter_map(|t| {
                // As written: a table version folded into its name for the parser is shown as a clause.
                let sql = meshgate_sqlfront::versions::unfolded(t.view.as_deref()?).into_owned();
                let owner = self.owner_name(&t.product);
                Some(vec![
                    Some(text(t.product.clone())),
                    Some(text(t.name.clone())),
                    Some(text(owner)),
                    Some(text(sql)),
                ])
            })
            .collect();
        mem(&s, rows)
    }

    fn pg_stat_user_tables(&self) -> Result<Arc<dyn TableProvider>> {
        use DataType::*;
        let ts = Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let counters = [
            "seq_scan",
            "seq_tup_read",
            "idx_scan",
            "idx_tup_fetch",
            "n_tup_ins",
            "n_tup_upd",
            "n_tup_del",
            "n_tup_hot_upd",
            "n_tup_newpage_upd",
            "n_live_tup",
            "n_dead_tup",
            "n_mod_since_analyze",
            "n_ins_since_vacuum",
            "vacuum_count",
            "autovacuum_count",
            "analyze_count",
            "autoanalyze_count",
        ];
        let times = [
            "last_seq_scan",
            "last_idx_scan",
            "last_vacuum",
            "last_autovacuum",
            "last_analyze",
            "last_autoanalyze",
        ];
        let mut cols: Vec<(&str, DataType, bool)> = vec![
            ("relid", Int32, false),
            ("schemaname", Utf8, false),
            ("relname", Utf8, false),
        ];
        cols.extend(counters.iter().map(|c| (*c, Int64, true)));
        cols.extend(times.iter().map(|c| (*c, ts.clone(), true)));
        let s = schema(&cols);
        let rows = self
            .tables()
            .filter(|t| t.view.is_none())
            .filter_map(|t| {
                let oid = self.mesh.oids.table(&t.product, &t.name)?;
                let live = t
                    .known()
                    .and_then(|m| m.row_count)
                    .filter(|_| self.user.row_filters(&t.product, &t.name).is_empty());
                let mut row = vec![
                    Some(i32v(oid)),
                    Some(text(t.product.clone())),
                    Some(text(t.name.clone())),
                ];
                row.extend(counters.iter().map(|c| match *c {
                    // The row count from the format's metadata when it has one (Delta, Iceberg).
                    "n_live_tup" => live.map(|n| i64v(n as i64)),
                    _ => Some(i64v(0)),
                }));
                row.extend(times.iter().map(|_| None));
                Some(row)
            })
            .collect();
        mem(&s, rows)
    }
}

/// pg_settings: the settings that are the same for every session (PostgreSQL's preset
/// options, which clients read here: pgjdbc's `max_index_keys`), and
/// `standard_conforming_strings`, which the crate's table had. Session settings are read with
/// SHOW or current_setting().
fn pg_settings() -> Result<Arc<dyn TableProvider>> {
    let cols = [
        "name",
        "setting",
        "unit",
        "category",
        "short_desc",
        "extra_desc",
        "context",
        "vartype",
        "source",
        "min_val",
        "max_val",
        "enumvals",
        "boot_val",
        "reset_val",
        "sourcefile",
    ];
    let mut fields: Vec<(&str, DataType, bool)> =
        cols.iter().map(|c| (*c, DataType::Utf8, true)).collect();
    fields.push(("sourceline", DataType::Int32, true));
    fields.push(("pending_restart", DataType::Boolean, true));
    let s = schema(&fields);
    let presets = super::parameters::READ_ONLY
        .iter()
        .map(|(n, v)| (*n, *v, "Preset Options", "internal"));
    let rows = presets
        .chain(std::iter::once((
            "standard_conforming_strings",
            "on",
            "Version and Platform Compatibility",
            "user",
        )))
        .map(|(name, value, category, context)| {
            let vartype = if value.parse::<i64>().is_ok() {
                "integer"
            } else if value == "on" || value == "off" {
                "bool"
            } else {
                "string"
            };
            let mut row = vec![
                Some(text(name)),
                Some(text(value)),
                None,
                Some(text(category)),
                None,
                None,
                Some(text(context)),
            ];
            row.extend([
                Some(text(vartype)),
                Some(text("default")),
                None,
                None,
                None,
                Some(text(value)),
                Some(text(value)),
                None,
                None,
            ]);
            row.push(Some(boolv(false)));
            row
        })
        .collect();
    mem(&s, rows)
}

#[async_trait]
impl SchemaProvider for MeshPgCatalog {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn table_names(&self) -> Vec<String> {
        self.crate_tables.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let name = name.to_ascii_lowercase();
        if matches!(
            name.as_str(),
            "pg_class" | "pg_attribute" | "pg_description" | "pg_stat_user_tables"
        ) {
            self.mesh.warmed().await;
        }
        let t = match name.as_str() {
            "pg_namespace" => self.pg_namespace()?,
            "pg_class" => self.pg_class().await?,
            "pg_attribute" => Arc::new(ColumnListing {
                mesh: self.mesh.clone(),
                user: self.user.clone(),
                catalog: self.catalog.clone(),
                rows: PgAttribute,
            }),
            "pg_description" => self.pg_description()?,
            "pg_database" => self.pg_database()?,
            "pg_tables" => self.pg_tables()?,
            "pg_views" => self.pg_views()?,
            "pg_stat_user_tables" => self.pg_stat_user_tables()?,
            "pg_settings" => pg_settings()?,
            "pg_roles" => self.pg_roles()?,
            "pg_user" => self.pg_user()?,
            _ => return self.crate_tables.table(&name).await,
        };
        Ok(Some(t))
    }

    fn table_exist(&self, name: &str) -> bool {
        OURS.contains(&name) || self.crate_tables.table_exist(name)
    }
}

fn pg_attribute_schema() -> SchemaRef {
    use DataType::*;
    schema(&[
        ("attrelid", Int32, false),
        ("attname", Utf8, false),
        ("atttypid", Int32, false),
        ("attstattarget", Int32, false),
        ("attlen", Int16, false),
        ("attnum", Int16, false),
        ("attndims", Int32, false),
        ("attcacheoff", Int32, false),
        ("atttypmod", Int32, false),
        ("attbyval", Boolean, false),
        ("attalign", Utf8, false),
        ("attstorage", Utf8, false),
        ("attcompression", Utf8, false),
        ("attnotnull", Boolean, false),
        ("atthasdef", Boolean, false),
        ("atthasmissing", Boolean, false),
        ("attidentity", Utf8, false),
        ("attgenerated", Utf8, false),
        ("attisdropped", Boolean, false),
        ("attislocal", Boolean, false),
        ("attinhcount", Int32, false),
        ("attcollation", Int32, false),
        ("attacl", text_list(), true),
        ("attoptions", text_list(), true),
        ("attfdwoptions", text_list(), true),
        ("attmissingval", Utf8, true),
    ])
}

/// pg_attribute: the columns of the tables a scan asks for by `attrelid`, or of all.
#[derive(Debug)]
pub(super) struct PgAttribute;

impl ColumnRows for PgAttribute {
    fn schema(&self) -> SchemaRef {
        pg_attribute_schema()
    }

    fn wanted(&self, filters: &[Expr]) -> Wanted {
        match pinned_values(filters, "attrelid") {
            Some(vals) => Wanted::Oids(vals.iter().filter_map(scalar_i32).collect()),
            None => Wanted::All,
        }
    }

    fn rows(&self, _mesh: &Mesh, table: &Listed, out: &mut Vec<Vec<Option<ScalarValue>>>) {
        let Some(oid) = table.oid else { return };
        for (i, f) in table.columns.fields().iter().enumerate() {
            let ty = column_type(f.data_type());
            let is_list = matches!(
                f.data_type(),
                DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..)
            );
            let collation = if matches!(ty.oid, 25 | 1043 | 1042) {
                100
            } else {
                0
            };
            let (align, storage) = match ty.len {
                1 => ("c", "p"),
                2 => ("s", "p"),
                4 => ("i", "p"),
                8 | 16 => ("d", "p"),
                _ => ("i", "x"),
            };
            out.push(vec![
                Some(i32v(oid)),
                Some(text(f.name().clone())),
                Some(i32v(ty.oid)),
                Some(i32v(-1)),
                Some(i16v(ty.len)),
                Some(i16v(i as i16 + 1)),
                Some(i32v(i32::from(is_list))),
                Some(i32v(-1)),
                Some(i32v(ty.typmod)),
                Some(boolv(matches!(ty.len, 1 | 2 | 4 | 8))),
                Some(text(align)),
                Some(text(storage)),
                Some(text("")),
                Some(boolv(!f.is_nullable())),
                Some(boolv(false)),
                Some(boolv(false)),
                Some(text("")),
                Some(text("")),
                Some(boolv(false)),
                Some(boolv(true)),
                Some(i32v(0)),
                Some(i32v(collation)),
                None,
                None,
                None,
                Some(opt_text(None)),
            ]);
        }
    }
}
