//! The PostgreSQL functions and system catalogs that describe the mesh to one principal, beyond
//! DataFusion's own.
//!
//! `pg_catalog` starts as datafusion-pg-catalog's (static tables: pg_type, pg_proc, pg_am…; and
//! its functions), then the tables and functions that describe the mesh are replaced by ours
//! (catalog::pg_catalog, catalog::info_schema, and the functions below), because the crate's
//! open every table to list it, know no descriptions, and answer some functions with constants
//! (`current_database()` = "datafusion", `pg_get_userbyid` = "postgres", `current_schema()` =
//! "public", privileges always true). `version()` is ours because clients parse it.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, ListArray, StringArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::config::ConfigOptions;
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use datafusion::prelude::SessionContext;
use datafusion_pg_catalog::pg_catalog::context::{PgCatalogContextProvider, Role};

use datafusion::catalog::CatalogProvider;

use super::pg_catalog::{may_read, may_use_schema, MeshPgCatalog};
use super::{scalar_i32, Mesh, MeshCatalog};
use crate::config::Config;
use crate::policy::Principal;

pub use super::parameters::{READ_ONLY, SERVER_VERSION};

/// Role names for pg_roles. A plain `Clone` type: the crate's blanket impl for `Arc<T>` calls
/// itself forever.
#[derive(Debug, Clone)]
pub struct MeshRoles {
    users: Arc<Vec<(String, bool)>>,
}

#[async_trait]
impl PgCatalogContextProvider for MeshRoles {
    async fn roles(&self) -> Vec<String> {
        self.users.iter().map(|(n, _)| n.clone()).collect()
    }

    async fn role(&self, name: &str) -> Option<Role> {
        self.users
            .iter()
            .find(|(n, _)| n == name)
            .map(|(n, admin)| Role {
                name: n.clone(),
                is_superuser: *admin,
                can_login: true,
                can_create_db: false,
                can_create_role: false,
                can_create_user: false,
                can_replication: false,
                grants: vec![],
                inherited_roles: vec![],
            })
    }
}

pub fn version_string() -> String {
    format!(
        "PostgreSQL {SERVER_VERSION} on x86_64-pc-linux-gnu, compiled by meshgate {} (Apache DataFusion {}), 64-bit",
        env!("CARGO_PKG_VERSION"),
        datafusion::DATAFUSION_VERSION
    )
}

type RowFn = dyn Fn(&[ScalarValue], &ConfigOptions) -> Result<ScalarValue> + Send + Sync;

/// A function evaluated row by row over `ScalarValue`s: catalog functions run over a few
/// hundred rows at most, and accepting any argument type (OIDs arrive as Int32, Int64 or text)
/// matters more here than vectorised speed.
struct RowUdf {
    name: String,
    signature: Signature,
    ret: DataType,
    f: Box<RowFn>,
}

impl std::fmt::Debug for RowUdf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RowUdf({})", self.name)
    }
}

impl PartialEq for RowUdf {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}
impl Eq for RowUdf {}
impl std::hash::Hash for RowUdf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

impl ScalarUDFImpl for RowUdf {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(self.ret.clone())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let config = args.config_options.clone();
        if args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)))
        {
            let vals: Vec<ScalarValue> = args
                .args
                .iter()
                .map(|a| match a {
                    ColumnarValue::Scalar(s) => s.clone(),
                    ColumnarValue::Array(_) => ScalarValue::Null,
                })
                .collect();
            let v = (self.f)(&vals, &config)?;
            // DataFusion expects one row per input row even for constant arguments.
            return Ok(ColumnarValue::Array(v.to_array_of_size(args.number_rows)?));
        }
        let arrays: Vec<ArrayRef> = args
            .args
            .iter()
            .map(|a| a.to_array(args.number_rows))
            .collect::<Result<_>>()?;
        let mut out = Vec::with_capacity(args.number_rows);
        for i in 0..args.number_rows {
            let row: Vec<ScalarValue> = arrays
                .iter()
                .map(|a| ScalarValue::try_from_array(a, i))
                .collect::<Result<_>>()?;
            out.push((self.f)(&row, &config)?);
        }
        if out.is_empty() {
            return Ok(ColumnarValue::Array(
                datafusion::arrow::array::new_empty_array(&self.ret),
            ));
        }
        Ok(ColumnarValue::Array(ScalarValue::iter_to_array(out)?))
    }
}

fn udf(
    name: &str,
    arities: &[usize],
    ret: DataType,
    f: impl Fn(&[ScalarValue], &ConfigOptions) -> Result<ScalarValue> + Send + Sync + 'static,
) -> ScalarUDF {
    let sigs = arities
        .iter()
        .map(|n| {
            if *n == 0 {
                TypeSignature::Nullary
            } else {
                TypeSignature::Any(*n)
            }
        })
        .collect();
    ScalarUDF::new_from_impl(RowUdf {
        name: name.into(),
        signature: Signature::one_of(sigs, Volatility::Stable),
        ret,
        f: Box::new(f),
    })
}

fn as_text(v: &ScalarValue) -> Option<String> {
    match v {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Some(s.clone()),
        _ => None,
    }
}

fn text(v: Option<String>) -> ScalarValue {
    ScalarValue::Utf8(v)
}

/// The schema unqualified names resolve in: the first existing schema of the search_path.
fn default_schema(c: &ConfigOptions) -> String {
    c.catalog.default_schema.clone()
}

/// A table named by OID or by (possibly qualified) name.
fn table_arg<'m>(
    mesh: &'m Mesh,
    v: &ScalarValue,
    c: &ConfigOptions,
) -> Option<&'m Arc<super::TableEntry>> {
    if let Some(oid) = scalar_i32(v) {
        return mesh.table_by_oid(oid);
    }
    let name = as_text(v)?;
    let parts: Vec<String> = name
        .split('.')
        .map(|p| p.trim_matches('"').to_string())
        .collect();
    match parts.as_slice() {
        [t] => mesh.table(&default_schema(c), t),
        [s, t] | [_, s, t] => mesh.table(s, t),
        _ => None,
    }
}

/// `has_*_privilege([user,] object, privilege)`: whose privilege (the session's principal, or
/// the user or role named), the object, the privilege.
fn privilege_args<'a>(
    me: &Arc<Principal>,
    a: &'a [ScalarValue],
) -> (Arc<Principal>, &'a ScalarValue, Option<&'a ScalarValue>) {
    let (who, object, privilege) = if a.len() == 3 {
        (as_text(&a[0]), &a[1], a.get(2))
    } else {
        (None, &a[0], a.get(1))
    };
    let who = who
        .filter(|w| *w != me.current_user())
        .map(|w| Arc::new(me.other(&w)))
        .unwrap_or_else(|| me.clone());
    (who, object, privilege)
}

/// Privilege names a read-only mesh grants to readers.
fn read_privilege(v: Option<&ScalarValue>) -> bool {
    let Some(p) = v.and_then(as_text) else {
        return false;
    };
    p.split(',').all(|p| {
        let p = p.trim().to_ascii_uppercase();
        let p = p
            .strip_suffix(" WITH GRANT OPTION")
            .unwrap_or(&p)
            .to_string();
        matches!(p.as_str(), "SELECT" | "USAGE" | "CONNECT" | "REFERENCES")
    })
}

fn mesh_functions(ctx: &SessionContext, mesh: Arc<Mesh>, principal: Arc<Principal>) {
    let m = mesh.clone();
    ctx.register_udf(udf(
        "obj_description",
        &[1, 2],
        DataType::Utf8,
        move |a, _| {
            let Some(oid) = scalar_i32(&a[0]) else {
                return Ok(text(None));
            };
            let catalog = a.get(1).and_then(as_text);
            let class = catalog
                .as_deref()
                .map(|c| c.strip_prefix("pg_catalog.").unwrap_or(c));
            if matches!(class, None | Some("pg_class")) {
                if let Some(t) = m.table_by_oid(oid) {
                    return Ok(text(t.description()));
                }
            }
            if matches!(class, None | Some("pg_namespace")) {
                if let Some(p) = m.oids.namespace_name(oid).and_then(|n| m.products.get(n)) {
                    return Ok(text(Some(p.description.clone()).filter(|d| !d.is_empty())));
                }
            }
            Ok(text(None))
        },
    ));
    let m = mesh.clone();
    ctx.register_udf(udf("col_description", &[2], DataType::Utf8, move |a, _| {
        let (Some(oid), Some(attnum)) = (scalar_i32(&a[0]), scalar_i32(&a[1])) else {
            return Ok(text(None));
        };
        let Some(t) = m.table_by_oid(oid) else {
            return Ok(text(None));
        };
        let Some(meta) = t.known() else {
            return Ok(text(None));
        };
        let Some(field) = usize::try_from(attnum - 1)
            .ok()
            .and_then(|i| meta.schema.fields().get(i).cloned())
        else {
            return Ok(text(None));
        };
        Ok(text(t.column_description(field.name(), Some(&meta))))
    }));
    ctx.register_udf(udf(
        "shobj_description",
        &[2],
        DataType::Utf8,
        move |_, _| {
            // The configuration has no database description (yet): PostgreSQL's answer then is NULL.
            Ok(text(None))
        },
    ));
    // What `x::regnamespace` prints in a result (see catalog::rewrite); an
    // OID that names nothing prints as the number, as in PostgreSQL.
    let m = mesh.clone();
    ctx.register_udf(udf(
        "mesh_regnamespace",
        &[1],
        DataType::Utf8,
        move |a, _| {
            let Some(oid) = scalar_i32(&a[0]) else {
                return Ok(text(None));
            };
            Ok(text(Some(
                m.oids
                    .namespace_name(oid)
                    .map(str::to_string)
                    .unwrap_or_else(|| oid.to_string()),
            )))
        },
    ));
    // A relation's OID by its (possibly qualified, possibly quoted) name, NULL when there is
    // none; also what a cast of a computed name to regclass becomes (see sqlfront's rewrite).
    let m = mesh.clone();
    ctx.register_udf(udf("to_regclass", &[1], DataType::Int32, move |a, c| {
        let Some(name) = as_text(&a[0]) else {
            return Ok(ScalarValue::Int32(None));
        };
        let parts = meshgate_sqlfront::rewrite::split_qualified(&name);
        let (schema, table) = match parts.as_slice() {
            [t] => (default_schema(c), t.as_str()),
            [s, t] | [_, s, t] => (s.clone(), t.as_str()),
            _ => return Ok(ScalarValue::Int32(None)),
        };
        Ok(ScalarValue::Int32(m.oids.table(&schema, table).or_else(
            || {
                (schema == "pg_catalog")
                    .then(|| super::oids::system_relation(table))
                    .flatten()
            },
        )))
    }));
    // A view's definition as pg_views shows it (the pretty flag changes nothing here): by OID,
    // or by name (the older text form); NULL for what the principal may not read.
    let m = mesh.clone();
    let me = principal.clone();
    ctx.register_udf(udf(
        "pg_get_viewdef",
        &[1, 2],
        DataType::Utf8,
        move |a, c| {
            let table = match scalar_i32(&a[0]) {
                Some(oid) => m.table_by_oid(oid),
                None => {
                    let Some(name) = as_text(&a[0]) else {
                        return Ok(text(None));
                    };
                    match meshgate_sqlfront::rewrite::split_qualified(&name).as_slice() {
                        [t] => m.table(&default_schema(c), t),
                        [s, t] | [_, s, t] => m.table(s, t),
                        _ => None,
                    }
                }
            };
            Ok(text(table.filter(|t| may_read(&me, t)).and_then(|t| {
                // As written: a table version folded into its name for the parser is a clause.
                Some(meshgate_sqlfront::versions::unfolded(t.view.as_deref()?).into_owned())
            })))
        },
    ));
    let m = mesh.clone();
    ctx.register_udf(udf("pg_get_userbyid", &[1], DataType::Utf8, move |a, _| {
        let Some(oid) = scalar_i32(&a[0]) else {
            return Ok(text(None));
        };
        // PostgreSQL prints an unknown role as "unknown (OID=n)".
        Ok(text(Some(
            m.roles
                .get(&oid)
                .cloned()
                .unwrap_or_else(|| format!("unknown (OID={oid})")),
        )))
    }));
    let m = mesh.clone();
    ctx.register_udf(udf(
        "pg_table_is_visible",
        &[1],
        DataType::Boolean,
        move |a, c| {
            let Some(oid) = scalar_i32(&a[0]) else {
                return Ok(ScalarValue::Boolean(None));
            };
            Ok(ScalarValue::Boolean(Some(
                m.table_by_oid(oid)
                    .is_some_and(|t| t.product == default_schema(c)),
            )))
        },
    ));
    // Every type and function lives in pg_catalog, which is always on the search path (psql's
    // `\dT` and `\df` filter with these).
    for name in ["pg_type_is_visible", "pg_function_is_visible"] {
        ctx.register_udf(udf(name, &[1], DataType::Boolean, move |a, _| {
            Ok(ScalarValue::Boolean(scalar_i32(&a[0]).map(|_| true)))
        }));
    }
    ctx.register_udf(udf("format_type", &[2], DataType::Utf8, move |a, _| {
        let Some(oid) = scalar_i32(&a[0]) else {
            return Ok(text(None));
        };
        Ok(text(super::types::format_type(oid, scalar_i32(&a[1]))))
    }));
    ctx.register_udf(udf("current_schema", &[0], DataType::Utf8, move |_, c| {
        Ok(text(Some(default_schema(c))))
    }));
    let list = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
    ctx.register_udf(udf("current_schemas", &[1], list, move |a, c| {
        let implicit = matches!(a[0], ScalarValue::Boolean(Some(true)));
        let mut names: Vec<String> = Vec::new();
        if implicit {
            names.push("pg_catalog".into());
        }
        names.push(default_schema(c));
        let values = StringArray::from(names);
        let list = ListArray::new(
            Arc::new(Field::new("item", DataType::Utf8, true)),
            OffsetBuffer::from_lengths([values.len()]),
            Arc::new(values),
            None,
        );
        Ok(ScalarValue::List(Arc::new(list)))
    }));
    let db = mesh.database.clone();
    for name in ["current_database", "current_catalog"] {
        let db = db.clone();
        ctx.register_udf(udf(name, &[0], DataType::Utf8, move |_, _| {
            Ok(text(Some(db.clone())))
        }));
    }
    // After SET ROLE, current_user is the role and session_user still the login, as in PostgreSQL.
    for name in ["current_user", "session_user", "user", "current_role"] {
        let u = if name == "session_user" {
            principal.user.clone()
        } else {
            principal.current_user().to_string()
        };
        ctx.register_udf(udf(name, &[0], DataType::Utf8, move |_, _| {
            Ok(text(Some(u.clone())))
        }));
    }
    // has_table_privilege([user,] table, privilege): a read-only mesh grants reading only.
    for name in ["has_table_privilege", "has_any_column_privilege"] {
        let m = mesh.clone();
        let me = principal.clone();
        ctx.register_udf(udf(name, &[2, 3], DataType::Boolean, move |a, c| {
            let (who, table, privilege) = privilege_args(&me, a);
            let Some(t) = table_arg(&m, table, c) else {
                return Err(DataFusionError::Execution("relation does not exist".into()));
            };
            Ok(ScalarValue::Boolean(Some(
                read_privilege(privilege) && may_read(&who, t),
            )))
        }));
    }
    let m = mesh.clone();
    let me = principal.clone();
    ctx.register_udf(udf(
        "has_schema_privilege",
        &[2, 3],
        DataType::Boolean,
        move |a, _| {
            let (who, schema, privilege) = privilege_args(&me, a);
            let name = match scalar_i32(schema) {
                Some(oid) => m.oids.namespace_name(oid).map(str::to_string),
                None => as_text(schema),
            };
            let Some(name) = name else {
                return Ok(ScalarValue::Boolean(Some(false)));
            };
            Ok(ScalarValue::Boolean(Some(
                read_privilege(privilege) && may_use_schema(&who, &m, &name),
            )))
        },
    ));
    ctx.register_udf(udf(
        "has_database_privilege",
        &[2, 3],
        DataType::Boolean,
        move |a, _| {
            Ok(ScalarValue::Boolean(Some(
                read_privilege(a.last())
                    || as_text(a.last().unwrap_or(&ScalarValue::Null)).is_some_and(|p| {
                        p.eq_ignore_ascii_case("TEMP") || p.eq_ignore_ascii_case("TEMPORARY")
                    }),
            )))
        },
    ));
    // The size of a mesh table is the size of its files in object storage, which the catalog
    // does not read; NULL is PostgreSQL's answer for "no such relation size", psql shows it empty.
    for name in [
        "pg_table_size",
        "pg_total_relation_size",
        "pg_relation_size",
        "pg_indexes_size",
    ] {
        ctx.register_udf(udf(name, &[1, 2], DataType::Int64, |_, _| {
            Ok(ScalarValue::Int64(None))
        }));
    }
    // Likewise the mesh database's size (DBeaver reads it for its statistics).
    ctx.register_udf(udf("pg_database_size", &[1], DataType::Int64, |_, _| {
        Ok(ScalarValue::Int64(None))
    }));
    // Mesh tables have no indexes and no constraints, so no OID names one: PostgreSQL answers
    // NULL for an OID that is not an index / constraint.
    ctx.register_udf(udf("pg_get_indexdef", &[1, 3], DataType::Utf8, |_, _| {
        Ok(text(None))
    }));
    ctx.register_udf(udf(
        "pg_get_constraintdef",
        &[1, 2],
        DataType::Utf8,
        |_, _| Ok(text(None)),
    ));
    // A session's pg_catalog lists its own temporary tables only, never another session's
    // temporary schema (dbt-postgres' catalog query filters with it).
    ctx.register_udf(udf(
        "pg_is_other_temp_schema",
        &[1],
        DataType::Boolean,
        |a, _| Ok(ScalarValue::Boolean((!a[0].is_null()).then_some(false))),
    ));
    // Nothing is published for logical replication; any argument type (psql passes a string).
    ctx.register_udf(udf(
        "pg_relation_is_publishable",
        &[1],
        DataType::Boolean,
        |_, _| Ok(ScalarValue::Boolean(Some(false))),
    ));
    // The crate's answers "UTF-8"; PostgreSQL's name for encoding 6 is "UTF8".
    ctx.register_udf(udf("pg_encoding_to_char", &[1], DataType::Utf8, |a, _| {
        Ok(text(match scalar_i32(&a[0]) {
            Some(6) => Some("UTF8".into()),
            Some(0) => Some("SQL_ASCII".into()),
            _ => Some(String::new()),
        }))
    }));
    ctx.register_udf(udf("pg_size_pretty", &[1], DataType::Utf8, |a, _| {
        let Some(n) = (match &a[0] {
            ScalarValue::Int64(v) => *v,
            v => scalar_i32(v).map(i64::from),
        }) else {
            return Ok(text(None));
        };
        Ok(text(Some(size_pretty(n))))
    }));
}

/// PostgreSQL's pg_size_pretty (dbsize.c): bytes below 10 kB, then the largest unit keeping
/// the value below 20 * 1024, half-rounded. The value is kept in units of half the next unit
/// between steps, as PostgreSQL does, so rounding matches.
fn size_pretty(n: i64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if n.abs() < 10 * 1024 {
        return format!("{n} bytes");
    }
    let half_rounded = |x: i64| (x + if x < 0 { -1 } else { 1 }) / 2;
    let mut size = n / 512;
    for unit in UNITS {
        if size.abs() < 20 * 1024 - 1 {
            return format!("{} {unit}", half_rounded(size));
        }
        size /= 1024;
    }
    format!("{} PB", half_rounded(size))
}

/// datafusion-pg-catalog's `setup_pg_catalog`, with its static tables (pg_type, pg_proc… decoded
/// from embedded Arrow files) built once per process instead of once per session: per session
/// they cost about 5 MiB, which 1,000 idle connections turned into 5 GiB (bench/robustness.rs).
fn setup_crate_pg_catalog(
    ctx: &SessionContext,
    database: &str,
    roles: MeshRoles,
) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
    use datafusion_pg_catalog::pg_catalog::{
        self as pgc, PgCatalogSchemaProvider, PgCatalogStaticTables,
    };
    static TABLES: std::sync::OnceLock<std::result::Result<Arc<PgCatalogStaticTables>, String>> =
        std::sync::OnceLock::new();
    let tables = TABLES
        .get_or_init(|| {
            PgCatalogStaticTables::try_new()
                .map(Arc::new)
                .map_err(|e| e.to_string())
        })
        .clone()?;
    let provider = PgCatalogSchemaProvider::try_new(
        ctx.state_ref().read().catalog_list().clone(),
        tables.clone(),
        roles,
    )?;
    ctx.catalog(database)
        .ok_or("the session's database catalog is registered before pg_catalog")?
        .register_schema("pg_catalog", Arc::new(provider))?;
    for f in [
        pgc::create_current_database_udf(),
        pgc::create_current_schema_udf(),
        pgc::create_current_schemas_udf(),
        pgc::create_pg_get_userbyid_udf(),
        pgc::has_privilege_udf::create_has_privilege_udf("has_table_privilege"),
        pgc::has_privilege_udf::create_has_privilege_udf("has_schema_privilege"),
        pgc::has_privilege_udf::create_has_privilege_udf("has_database_privilege"),
        pgc::has_privilege_udf::create_has_privilege_udf("has_any_column_privilege"),
        pgc::create_pg_table_is_visible(),
        pgc::format_type::create_format_type_udf(),
        pgc::create_session_user_udf(),
        pgc::pg_get_expr_udf::create_pg_get_expr_udf(),
        pgc::create_pg_get_partkeydef_udf(),
        pgc::create_pg_relation_is_publishable_udf(),
        pgc::create_pg_get_statisticsobjdef_columns_udf(),
        pgc::create_pg_encoding_to_char_udf(),
        pgc::create_pg_backend_pid_udf(),
        pgc::create_pg_relation_size_udf(),
        pgc::create_pg_total_relation_size_udf(),
        pgc::create_pg_stat_get_numscans(),
        pgc::create_pg_get_constraintdef(),
        pgc::create_pg_get_partition_ancestors_udf(),
        pgc::quote_ident_udf::create_parse_ident_udf(),
    ] {
        ctx.register_udf(f);
    }
    ctx.register_udtf("pg_get_keywords", tables.pg_get_keywords.clone());
    type Signatures = std::collections::HashMap<i32, (String, String)>;
    static SIGNATURES: std::sync::OnceLock<Arc<Signatures>> = std::sync::OnceLock::new();
    let signatures = SIGNATURES
        .get_or_init(|| Arc::new(function_signatures(&tables)))
        .clone();
    // pgjdbc's getFunctions() classifies functions by the result; psql's \df shows both.
    let results = signatures.clone();
    ctx.register_udf(udf(
        "pg_get_function_result",
        &[1],
        DataType::Utf8,
        move |a, _| {
            Ok(text(
                scalar_i32(&a[0]).and_then(|oid| results.get(&oid).map(|s| s.0.clone())),
            ))
        },
    ));
    ctx.register_udf(udf(
        "pg_get_function_arguments",
        &[1],
        DataType::Utf8,
        move |a, _| {
            Ok(text(
                scalar_i32(&a[0]).and_then(|oid| signatures.get(&oid).map(|s| s.1.clone())),
            ))
        },
    ));
    Ok(())
}

/// `pg_get_function_result` and `pg_get_function_arguments` of every function in the crate's
/// pg_proc, by OID. The result is `TABLE(name type, …)` for functions with TABLE columns, else
/// the result type, `SETOF` when it returns a set; the arguments are `[mode] [name] type, …`
/// as PostgreSQL prints them (without defaults). meshgate has no functions of its own in pg_proc.
fn function_signatures(
    tables: &datafusion_pg_catalog::pg_catalog::PgCatalogStaticTables,
) -> std::collections::HashMap<i32, (String, String)> {
    use datafusion::arrow::array::RecordBatch;
    use datafusion::arrow::compute::cast;
    // Every column as text: the crate stores OIDs as integers and arrays as `['a', 'b']` text.
    fn column(b: &RecordBatch, name: &str) -> Vec<Option<String>> {
        let Some(c) = b.column_by_name(name) else {
            return vec![None; b.num_rows()];
        };
        let Ok(c) = cast(c, &DataType::Utf8) else {
            return vec![None; b.num_rows()];
        };
        let Some(c) = c.as_any().downcast_ref::<StringArray>() else {
            return vec![None; b.num_rows()];
        };
        c.iter().map(|v| v.map(str::to_string)).collect()
    }
    fn list(v: &Option<String>) -> Vec<String> {
        let inner = v
            .as_deref()
            .unwrap_or("")
            .trim()
            .trim_start_matches(['[', '{'])
            .trim_end_matches([']', '}']);
        // Arrays print as `['a', 'b']`; an oidvector as `25 25`.
        inner
            .split([',', ' '])
            .map(|p| p.trim().trim_matches(['\'', '"']).to_string())
            .filter(|p| !p.is_empty())
            .collect()
    }
    let mut type_names = std::collections::HashMap::new();
    for b in tables.pg_type.data() {
        for (oid, name) in column(b, "oid").into_iter().zip(column(b, "typname")) {
            if let (Some(oid), Some(name)) = (oid.and_then(|o| o.parse::<i32>().ok()), name) {
                type_names.insert(oid, name);
            }
        }
    }
    let type_name = |oid: i32| match super::types::format_type(oid, None) {
        Some(t) if t != "???" => t,
        _ => type_names
            .get(&oid)
            .cloned()
            .unwrap_or_else(|| "???".into()),
    };
    let mut out = std::collections::HashMap::new();
    for b in tables.pg_proc.data() {
        let rows = column(b, "oid")
            .into_iter()
            .zip(column(b, "prorettype"))
            .zip(column(b, "proretset"))
            .zip(column(b, "proargmodes"))
            .zip(column(b, "proargnames"))
            .zip(column(b, "proallargtypes"))
            .zip(column(b, "proargtypes"));
        for ((((((oid, ret), set), modes), names), all_types), in_types) in rows {
            let (Some(oid), Some(ret)) = (
                oid.and_then(|o| o.parse::<i32>().ok()),
                ret.and_then(|r| r.parse::<i32>().ok()),
            ) else {
                continue;
            };
            let (modes, names, all_types, in_types) = (
                list(&modes),
                list(&names),
                list(&all_types),
                list(&in_types),
            );
            let table_columns: Vec<String> = modes
                .iter()
                .enumerate()
                .filter(|(_, m)| *m == "t")
                .map(|(i, _)| {
                    let ty = all_types
                        .get(i)
                        .and_then(|t| t.parse::<i32>().ok())
                        .map(type_name)
                        .unwrap_or_default();
                    format!("{} {ty}", names.get(i).cloned().unwrap_or_default())
                })
                .collect();
            let result = if !table_columns.is_empty() {
                format!("TABLE({})", table_columns.join(", "))
            } else if set.as_deref() == Some("true") {
                format!("SETOF {}", type_name(ret))
            } else {
                type_name(ret)
            };
            // With modes, every argument is in proallargtypes; without, proargtypes holds the
            // input arguments only.
            let arg = |i: usize, ty: &String, mode: &str| {
                let ty = ty.parse::<i32>().ok().map(type_name).unwrap_or_default();
                let name = names
                    .get(i)
                    .filter(|n| !n.is_empty())
                    .map(|n| format!("{n} "))
                    .unwrap_or_default();
                let mode = match mode {
                    "o" => "OUT ",
                    "b" => "INOUT ",
                    "v" => "VARIADIC ",
                    _ => "",
                };
                format!("{mode}{name}{ty}")
            };
            let arguments: Vec<String> = if modes.is_empty() {
                in_types
                    .iter()
                    .enumerate()
                    .map(|(i, t)| arg(i, t, "i"))
                    .collect()
            } else {
                all_types
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| modes.get(*i).is_some_and(|m| m != "t"))
                    .map(|(i, t)| arg(i, t, &modes[i]))
                    .collect()
            };
            out.insert(oid, (result, arguments.join(", ")));
        }
    }
    out
}

/// Installs the mesh, as `catalog`'s principal sees it, into a session's context: the database
/// catalog itself, pg_catalog and information_schema over it, and the functions that describe
/// it. Installing again (SET ROLE, a reload, a transaction's own view of writable products)
/// replaces all of them at once.
pub fn install(
    ctx: &SessionContext,
    catalog: Arc<MeshCatalog>,
    config: &Config,
) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let database = catalog.mesh().database.clone();
    let principal = catalog.access().principal.clone();
    ctx.register_catalog(database.as_str(), catalog.clone());
    let mut users: Vec<(String, bool)> = config
        .users
        .values()
        .map(|u| (u.name.clone(), u.admin))
        .collect();
    // Declared roles are roles too (they cannot log in; pg_roles shows them as PostgreSQL does).
    users.extend(config.roles.keys().map(|r| (r.clone(), false)));
    // A token or certificate user need not be in [[users]]; its own session still sees its role.
    if !users.iter().any(|(n, _)| *n == principal.user) {
        users.push((principal.user.clone(), false));
    }
    users.sort();
    setup_crate_pg_catalog(
        ctx,
        &database,
        MeshRoles {
            users: Arc::new(users),
        },
    )?;
    let mesh = catalog.mesh().clone();
    let catalog: Arc<dyn CatalogProvider> = catalog;
    let crate_tables = catalog
        .schema("pg_catalog")
        .ok_or("setup_pg_catalog registered pg_catalog")?;
    let ours = MeshPgCatalog::new(
        crate_tables,
        mesh.clone(),
        principal.clone(),
        Arc::downgrade(&catalog),
    );
    catalog.register_schema("pg_catalog", Arc::new(ours))?;
    // DataFusion's information_schema opens every table to list columns; ours does not.
    ctx.state_ref()
        .write()
        .config_mut()
        .options_mut()
        .catalog
        .information_schema = false;
    catalog.register_schema(
        "information_schema",
        Arc::new(super::info_schema::InfoSchema::new(
            mesh.clone(),
            principal.clone(),
            Arc::downgrade(&catalog),
        )),
    )?;
    mesh_functions(ctx, mesh.clone(), principal);
    mesh.warm_in_background(super::OPEN_CONCURRENCY);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_like_postgres() {
        assert_eq!(size_pretty(10239), "10239 bytes");
        assert_eq!(size_pretty(10240), "10 kB");
        assert_eq!(size_pretty(20 * 1024 * 1024), "20 MB");
        assert_eq!(size_pretty(1_000_000), "977 kB");
    }
}
