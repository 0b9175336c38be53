//! Views created through meshgate (`CREATE VIEW`, dbt's view materialisation).
//!
//! A view is stored as its SQL and planned again each time a statement names it, for the
//! principal reading it (security invoker): the tables it reads are resolved through the
//! reader's own catalog, so their grants, row filters and masks apply to the reader, and a view
//! can never be a way around a policy. Planned each time, it also sees its tables' newest
//! versions. Unqualified names in the definition resolve in the view's own product.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::datasource::ViewTable;
use datafusion::error::Result as DfResult;
use datafusion::sql::sqlparser::ast::{visit_relations, ObjectNamePart, Statement};

use super::{Mesh, MeshCatalog, TableEntry};
use crate::policy::Access;

pub async fn plan(
    mesh: &Arc<Mesh>,
    access: &Access,
    entry: &TableEntry,
    sql: &str,
) -> DfResult<Arc<dyn TableProvider>> {
    let config = datafusion::prelude::SessionConfig::new()
        .with_default_catalog_and_schema(mesh.database.as_str(), entry.product.as_str())
        .with_create_default_catalog_and_schema(false)
        .with_information_schema(false);
    let ctx = datafusion::prelude::SessionContext::new_with_config(config);
    ctx.register_catalog(
        mesh.database.as_str(),
        Arc::new(MeshCatalog::new(mesh.clone(), access.clone())),
    );
    let plan = ctx.state().create_logical_plan(sql).await?;
    Ok(Arc::new(ViewTable::new(plan, Some(sql.to_string()))))
}

/// The relations a statement names, as `product.table` (unqualified names in `default_schema`;
/// three-part names lose their database). CTE names are included; they match no product table.
pub fn relations(stmt: &Statement, default_schema: &str) -> Vec<String> {
    let mut out = Vec::new();
    let _ = visit_relations(stmt, |name| {
        let parts: Vec<String> = name
            .0
            .iter()
            .filter_map(ObjectNamePart::as_ident)
            .map(|i| {
                if i.quote_style.is_some() {
                    i.value.clone()
                } else {
                    i.value.to_ascii_lowercase()
                }
            })
            .collect();
        let q = match parts.as_slice() {
            [t] => format!("{default_schema}.{t}"),
            [s, t] | [_, s, t] => format!("{s}.{t}"),
            _ => String::new(),
        };
        if !q.is_empty() && !out.contains(&q) {
            out.push(q);
        }
        ControlFlow::<()>::Continue(())
    });
    out
}
