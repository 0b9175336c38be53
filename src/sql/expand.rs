//! What a table name expands to beyond an opened table, planned by the front end for the
//! catalog (see `catalog::Expander`): a created view's query, and the policy view over a table
//! that a row filter or mask applies to.
//!
//! ```text
//!  created view   ─► its stored SQL, planned in a context whose catalog is the reader's
//!                    (security invoker: the reader's grants, filters and masks apply inside)
//!  filtered table ─► SELECT *, (mask…) AS __mg_mask_i FROM product.table WHERE (filter) OR …
//!                    built as a syntax tree from the domain's expressions bound to the
//!                    principal, planned as the server (a filter's subquery over another
//!                    product reads it unfiltered: the domain wrote the filter, not the user),
//!                    then projected back to the table's columns with masks in place and,
//!                    under a row filter, wrapped in a security barrier (barrier.rs)
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::TableProvider;
use datafusion::common::Column;
use datafusion::datasource::ViewTable;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{cast, Expr, LogicalPlan, LogicalPlanBuilder};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{Ident, Statement, TableAlias, TableFactor};

use super::{barrier, build};
use crate::catalog::{Expander, Mesh, MeshCatalog, TableEntry};
use crate::error::UserError;
use crate::policy::{bind_user, Access, Mask, Principal, RowFilter};

/// The front end's answer to the catalog's questions.
#[derive(Debug, Default)]
pub struct Expand;

/// A context that plans SQL over the mesh as `access`'s principal sees it, with unqualified
/// names in `default_schema`. Views and policy views are planned in one of these: they are not
/// a session's statements, so they get none of a session's settings or functions.
fn planning_context(mesh: &Arc<Mesh>, access: Access, default_schema: &str) -> SessionContext {
    let mut config = SessionConfig::new()
        .with_default_catalog_and_schema(mesh.database.as_str(), default_schema)
        .with_create_default_catalog_and_schema(false)
        .with_information_schema(false);
    // Literals read as a session reads them (see exec::session_config).
    config.options_mut().sql_parser.parse_float_as_decimal = true;
    let ctx = SessionContext::new_with_state(
        super::barrier::install(meshgate_functions::install(
            datafusion::execution::session_state::SessionStateBuilder::new()
                .with_config(config)
                .with_default_features(),
        ))
        .build(),
    );
    ctx.register_udf(super::semantics::one_row());
    ctx.register_catalog(
        mesh.database.as_str(),
        Arc::new(MeshCatalog::new(mesh.clone(), access, Arc::new(Expand))),
    );
    ctx
}

/// A definition's statement through the front end's steps after the parse: its names were
/// qualified when it was stored (or are the domain's), and no session's settings reach it, so
/// what is left is the PostgreSQL-dialect rewrite, then the plan.
async fn plan_definition(
    ctx: &SessionContext,
    mesh: &Mesh,
    mut stmt: Statement,
) -> DfResult<LogicalPlan> {
    super::rewrite::rewrite(&mut stmt, &Relations(mesh)).map_err(UserError::into_datafusion)?;
    ctx.state()
        .statement_to_plan(DFStatement::Statement(Box::new(stmt)))
        .await
}

/// `'name'::regclass` in a definition: the mesh's own tables only.
struct Relations<'a>(&'a Mesh);

impl super::rewrite::RelationResolver for Relations<'_> {
    fn relation_oid(&self, schema: Option<&str>, name: &str) -> Option<i32> {
        self.0.oids.table(schema?, name)
    }
}

#[async_trait]
impl Expander for Expand {
    async fn view(
        &self,
        mesh: &Arc<Mesh>,
        access: &Access,
        entry: &TableEntry,
        sql: &str,
    ) -> DfResult<Arc<dyn TableProvider>> {
        // Unqualified names in a view's definition resolve in the view's own product.
        let ctx = planning_context(mesh, access.clone(), &entry.product);
        let stmt = super::parse_one(sql).map_err(UserError::into_datafusion)?;
        let plan = plan_definition(&ctx, mesh, stmt).await?;
        Ok(Arc::new(ViewTable::new(plan, Some(sql.to_string()))))
    }

    async fn guard(
        &self,
        mesh: &Arc<Mesh>,
        access: &Access,
        entry: &TableEntry,
        provider: Arc<dyn TableProvider>,
        version: Option<i64>,
    ) -> DfResult<Arc<dyn TableProvider>> {
        if let Some(region) = entry.read_elsewhere() {
            // The peer gateway plans the statement as the login user, with that user's
            // policies. It cannot take a role: after SET ROLE the filters bound to the role
            // would be left out, so such a statement is refused rather than widened.
            if access.principal.role.is_some() {
                return Err(UserError::new(
                    crate::error::SqlState::FeatureNotSupported,
                    format!(
                        "{}.{} is read through the gateway of region {region}, which acts for the login user only: RESET ROLE first",
                        entry.product, entry.name
                    ),
                )
                .into_datafusion());
            }
            return Ok(provider);
        }
        let p = &access.principal;
        let filters = p.row_filters(&entry.product, &entry.name);
        let masks = p.masks(&entry.product, &entry.name);
        access.record(
            format!("{}.{}", entry.product, entry.name),
            &filters,
            &masks,
        );
        if filters.is_empty() && masks.is_empty() {
            return Ok(provider);
        }
        match policy_view(mesh, p, entry, provider, version, &filters, &masks).await {
            Ok(view) => Ok(view),
            Err(e) => {
                // A policy that cannot be planned must deny, never fall back to the raw table.
                // The domain team reads why in the log; the client learns only which table.
                let id = crate::error::error_id();
                let names: Vec<&str> = filters
                    .iter()
                    .map(|f| f.name.as_str())
                    .chain(masks.values().map(|m| m.name.as_str()))
                    .collect();
                tracing::error!(error_id = %id, table = %format!("{}.{}", entry.product, entry.name), policies = ?names, "policy does not plan: {e}");
                Err(UserError::denied(format!(
                    "permission denied for table {}.{}: its access policy could not be applied (error id {id})",
                    entry.product, entry.name
                ))
                .into_datafusion())
            }
        }
    }
}

const MASK_PREFIX: &str = "__mg_mask_";

async fn policy_view(
    mesh: &Arc<Mesh>,
    p: &Principal,
    entry: &TableEntry,
    provider: Arc<dyn TableProvider>,
    version: Option<i64>,
    filters: &[&RowFilter],
    masks: &BTreeMap<String, &Mask>,
) -> DfResult<Arc<dyn TableProvider>> {
    let schema = provider.schema();
    for c in masks.keys() {
        if schema.field_with_name(c).is_err() {
            return Err(DataFusionError::Plan(format!(
                "masked column {c} is not a column of the table"
            )));
        }
    }
    let bound = |sql: &str| {
        bind_user(sql, p)
            .map_err(|e| DataFusionError::Plan(format!("policy SQL does not parse: {e}")))
    };
    let masked: Vec<(&String, &Mask)> = masks.iter().map(|(c, m)| (c, *m)).collect();
    let mut items = vec![build::wildcard()];
    for (i, (_, m)) in masked.iter().enumerate() {
        items.push(build::aliased(
            build::nested(bound(&m.mask)?),
            &format!("{MASK_PREFIX}{i}"),
        ));
    }
    let predicate = if filters.is_empty() {
        None
    } else {
        Some(build::any_of(
            filters
                .iter()
                .map(|f| bound(&f.filter))
                .collect::<DfResult<Vec<_>>>()?,
        ))
    };
    // The policy reads the version the reader asked for (its filter's own lookups read the
    // tables as they are now: the domain wrote the filter for today's data).
    let mut from = build::table(build::object_name(&[&entry.product, &entry.name]));
    if let (Some(v), TableFactor::Table { name, alias, .. }) = (version, &mut from.relation) {
        let versioned = meshgate_sqlfront::versions::versioned(&entry.name, v);
        *name = build::object_name(&[&entry.product, &versioned]);
        // Under its own name, as the domain's filters and masks name it.
        *alias = Some(TableAlias {
            explicit: true,
            name: Ident::with_quote('"', &entry.name),
            columns: vec![],
        });
    }
    let query = build::select(items, vec![from], predicate);
    let definition = query.to_string();
    let system = Access::new(Principal::system(&mesh.policies));
    let ctx = planning_context(mesh, system, "public");
    let plan = plan_definition(&ctx, mesh, Statement::Query(Box::new(query))).await?;
    let out = plan.schema().clone();
    let mut exprs = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let expr = match masked.iter().position(|(c, _)| *c == field.name()) {
            Some(i) => {
                let idx = out
                    .index_of_column_by_name(None, &format!("{MASK_PREFIX}{i}"))
                    .ok_or_else(|| {
                        DataFusionError::Plan("mask column missing from the policy plan".into())
                    })?;
                cast(
                    Expr::Column(Column::from(out.qualified_field(idx))),
                    field.data_type().clone(),
                )
                .alias(field.name())
            }
            None => {
                let idx = out
                    .index_of_column_by_name(None, field.name())
                    .or_else(|| out.fields().iter().position(|f| f.name() == field.name()))
                    .ok_or_else(|| {
                        DataFusionError::Plan(format!(
                            "column {} missing from the policy plan",
                            field.name()
                        ))
                    })?;
                Expr::Column(Column::from(out.qualified_field(idx)))
            }
        };
        exprs.push(expr);
    }
    let plan = LogicalPlanBuilder::from(plan).project(exprs)?.build()?;
    // Masks alone hide no rows: a user's predicate on the table sees masked values wherever
    // DataFusion evaluates it. A row filter hides rows, which only the barrier keeps the user's
    // fallible expressions from seeing.
    let plan = if filters.is_empty() {
        plan
    } else {
        barrier::wrap(
            plan,
            format!("{}.{}", entry.product, entry.name),
            masked.iter().map(|(c, _)| (*c).clone()).collect(),
        )
    };
    Ok(Arc::new(ViewTable::new(plan, Some(definition))))
}
