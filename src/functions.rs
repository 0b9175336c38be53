//! PostgreSQL functions and system catalogs a session needs beyond DataFusion's own.
//!
//! `pg_catalog` comes from datafusion-pg-catalog, fed by the session's catalog list; `version()`
//! is ours because clients parse it (SQLAlchemy fails on anything not shaped like PostgreSQL's).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{create_udf, ColumnarValue, Volatility};
use datafusion::prelude::SessionContext;
use datafusion_pg_catalog::pg_catalog::context::{PgCatalogContextProvider, Role};

use crate::config::Config;
use crate::session::SERVER_VERSION;

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
        self.users.iter().find(|(n, _)| n == name).map(|(n, admin)| Role {
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

pub fn register(ctx: &SessionContext, database: &str, config: &Config, pid: i32) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut users: Vec<(String, bool)> = config.users.values().map(|u| (u.name.clone(), u.admin)).collect();
    users.sort();
    datafusion_pg_catalog::setup_pg_catalog(ctx, database, MeshRoles { users: Arc::new(users) })?;
    let version = version_string();
    ctx.register_udf(create_udf(
        "version",
        vec![],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |_args: &[ColumnarValue]| -> Result<ColumnarValue> {
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(version.clone()))))
        }),
    ));
    // The pid must be the one in BackendKeyData: clients cancel with pg_cancel_backend(pid).
    ctx.register_udf(create_udf(
        "pg_backend_pid",
        vec![],
        DataType::Int32,
        Volatility::Stable,
        Arc::new(move |_args: &[ColumnarValue]| -> Result<ColumnarValue> {
            Ok(ColumnarValue::Scalar(ScalarValue::Int32(Some(pid))))
        }),
    ));
    Ok(())
}
