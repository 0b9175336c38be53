//! Shapes of the catalog queries clients send (psql, pgjdbc, asyncpg, Npgsql, SQLAlchemy) that
//! DataFusion cannot plan, each replaced by one it can that gives the same answer over meshgate's
//! catalogs. Every rewrite says which catalog fact makes it exact.

use std::ops::ControlFlow;

use sqlparser::ast::{
    ArrayElemTypeDef, BinaryOperator, DataType, Expr, FunctionArg, FunctionArgExpr,
    FunctionArguments, GroupByExpr, Ident, JoinOperator, ObjectNamePart, Query, Select, SelectItem,
    SetExpr, TableFactor, Value, ValueWithSpan, VisitorMut,
};

use super::string_literal;
use crate::build;

/// `WITH RECURSIVE t(a, b) AS (anchor UNION ALL step)`: DataFusion takes a recursive CTE's
/// column names from its anchor's select list, not from the column list, so the list is
/// written into the anchor as aliases (asyncpg's type introspection names `depth` this way).
pub(super) fn recursive_cte_column_names(q: &mut Query) {
    let Some(with) = q.with.as_mut() else { return };
    if !with.recursive {
        return;
    }
    for cte in &mut with.cte_tables {
        let names: Vec<Ident> = cte.alias.columns.iter().map(|c| c.name.clone()).collect();
        if names.is_empty() {
            continue;
        }
        let SetExpr::SetOperation { left, .. } = cte.query.body.as_mut() else {
            continue;
        };
        let SetExpr::Select(anchor) = left.as_mut() else {
            continue;
        };
        if anchor.projection.len() != names.len() {
            continue;
        }
        for (item, name) in anchor.projection.iter_mut().zip(names) {
            *item = match std::mem::replace(item, SelectItem::Wildcard(Default::default())) {
                SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => {
                    SelectItem::ExprWithAlias { expr, alias: name }
                }
                other => other,
            };
        }
    }
}

/// asyncpg's type introspection asks, per type, for a domain's base type and a composite's
/// attribute types and names, with recursive CTEs and correlated subqueries inside CASE
/// branches taken only for `typtype = 'd'` / `'c'`, which DataFusion cannot plan. No result
/// column of the mesh has a domain or composite type (data products' columns are base and
/// array types), so asyncpg never needs those branches for meshgate's rows: they become typed
/// NULLs. (Introspecting a system catalog's composite type by hand gets NULL attributes.)
pub(super) fn typtype_branch(expr: &Expr) -> Option<Expr> {
    let Expr::Case {
        conditions,
        else_result,
        ..
    } = expr
    else {
        return None;
    };
    let [when] = conditions.as_slice() else {
        return None;
    };
    let Expr::BinaryOp {
        left,
        op: BinaryOperator::Eq,
        right,
    } = &when.condition
    else {
        return None;
    };
    let is_typtype = match left.as_ref() {
        Expr::CompoundIdentifier(p) => p.last().is_some_and(|i| i.value == "typtype"),
        Expr::Identifier(i) => i.value == "typtype",
        _ => false,
    };
    let kind = string_literal(right)?;
    if !is_typtype || !matches!(kind, "d" | "c") || !matches!(when.result, Expr::Subquery(_)) {
        return None;
    }
    if else_result.as_deref().is_some_and(|e| {
        !matches!(
            e,
            Expr::Value(ValueWithSpan {
                value: Value::Null,
                ..
            })
        )
    }) {
        return None;
    }
    // Arrays as text[]: asyncpg decodes the introspection's own result with its core codecs
    // only (oid[] and text[]; an int4[] column would send it introspecting int4[] forever).
    let ty = if kind == "d" {
        DataType::Int(None)
    } else {
        DataType::Array(ArrayElemTypeDef::SquareBracket(
            Box::new(DataType::Text),
            None,
        ))
    };
    Some(build::cast(build::null(), ty))
}

/// Catalogs that have no rows in meshgate (no inheritance, policies as PostgreSQL RLS,
/// triggers, publications, column defaults or foreign tables). A query reading only one of
/// them returns no rows whatever its select list says, so subqueries in that select list,
/// which psql writes in forms DataFusion cannot decorrelate, are replaced by NULL without
/// changing any answer. Whoever gives one of these catalogs rows must drop it from here.
const ALWAYS_EMPTY: &[&str] = &[
    "pg_policy",
    "pg_inherits",
    "pg_statistic_ext",
    "pg_publication",
    "pg_publication_rel",
    "pg_publication_namespace",
    "pg_trigger",
    "pg_attrdef",
    "pg_partitioned_table",
    "pg_foreign_table",
    // No keys or indexes are declared for mesh tables (SQLAlchemy's get_pk_constraint,
    // get_foreign_keys and get_indexes unnest their int2vector columns).
    "pg_index",
    "pg_constraint",
];

/// Whether the query's FROM yields no rows because an always-empty catalog, or a derived
/// table that reads one (pgjdbc's getPrimaryKeys and getIndexInfo wrap their pg_index query
/// in an outer SELECT), is one of its comma-separated items or inner-joined to the rest.
pub(super) fn reads_only_empty_catalog(select: &Select) -> bool {
    let is_empty = |r: &TableFactor| match r {
        TableFactor::Table {
            name, args: None, ..
        } => name
            .0
            .last()
            .and_then(ObjectNamePart::as_ident)
            .is_some_and(|p| ALWAYS_EMPTY.contains(&crate::ident::folded(p).as_str())),
        TableFactor::Derived { subquery, .. } => {
            matches!(subquery.body.as_ref(), SetExpr::Select(s) if reads_only_empty_catalog(s))
        }
        _ => false,
    };
    select.from.iter().any(|f| {
        is_empty(&f.relation)
            || f.joins.iter().any(|j| {
                matches!(
                    j.join_operator,
                    JoinOperator::Join(_) | JoinOperator::Inner(_)
                ) && is_empty(&j.relation)
            })
    })
}

/// Calls `f` on every SELECT of a (possibly UNION-ed) query body.
pub(super) fn for_each_select(body: &mut SetExpr, f: &mut dyn FnMut(&mut Select)) {
    match body {
        SetExpr::Select(s) => f(s),
        SetExpr::SetOperation { left, right, .. } => {
            for_each_select(left, f);
            for_each_select(right, f);
        }
        SetExpr::Query(q) => for_each_select(q.body.as_mut(), f),
        _ => {}
    }
}

/// Replaces subqueries and `= ANY(…)` by NULL in a SELECT that yields no rows (see
/// [`ALWAYS_EMPTY`]); `= ANY` too because the crate types some of those catalogs' array
/// columns as text. Likewise subscripts and row fields (`con.conkey[pos.n]`, `(keys).x`) and
/// `information_schema._pg_expandarray(i.indkey)`, a set-returning function of composite
/// type, which pgjdbc's key and index queries use.
pub(super) struct NullSubqueries;

impl VisitorMut for NullSubqueries {
    type Break = ();
    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let replace = matches!(expr, Expr::Subquery(_) | Expr::AnyOp { .. } | Expr::AllOp { .. } | Expr::CompoundFieldAccess { .. })
            || matches!(expr, Expr::Function(f) if f.name.0.last().is_some_and(|p| p.to_string().eq_ignore_ascii_case("_pg_expandarray")))
            || matches!(expr, Expr::Function(f) if matches!(f.args, FunctionArguments::Subquery(_)))
            // Set-returning functions over those catalogs' array columns, which the crate
            // types as text.
            || matches!(expr, Expr::Function(f) if ["unnest", "generate_subscripts"]
                .contains(&f.name.to_string().to_ascii_lowercase().trim_start_matches("pg_catalog.")));
        if replace {
            *expr = Expr::Value(ValueWithSpan::from(Value::Null));
        }
        ControlFlow::Continue(())
    }
}

/// pg_type's function columns (`typreceive`, …) are regproc in PostgreSQL, compared with
/// pg_proc's oid as numbers; the crate's pg_type holds them as the function's name. Npgsql's
/// type loading finds arrays by `pg_proc.oid = pg_type.typreceive` and `proname = 'array_recv'`:
/// comparing the name side with `proname` instead gives PostgreSQL's answer.
pub(super) fn regproc_join_by_name(expr: &mut Expr) {
    const REGPROC: &[&str] = &[
        "typinput",
        "typoutput",
        "typreceive",
        "typsend",
        "typmodin",
        "typmodout",
        "typanalyze",
    ];
    let Expr::BinaryOp {
        left,
        op: BinaryOperator::Eq,
        right,
    } = expr
    else {
        return;
    };
    let last = |e: &Expr| match e {
        Expr::CompoundIdentifier(parts) => parts.last().map(|p| p.value.to_ascii_lowercase()),
        Expr::Identifier(i) => Some(i.value.to_ascii_lowercase()),
        _ => None,
    };
    let (l, r) = (last(left), last(right));
    let oid_side = match (l.as_deref(), r.as_deref()) {
        (Some("oid"), Some(c)) if REGPROC.contains(&c) => left.as_mut(),
        (Some(c), Some("oid")) if REGPROC.contains(&c) => right.as_mut(),
        _ => return,
    };
    match oid_side {
        Expr::CompoundIdentifier(parts) => {
            if let Some(p) = parts.last_mut() {
                *p = Ident::new("proname");
            }
        }
        Expr::Identifier(i) => *i = Ident::new("proname"),
        _ => {}
    }
}

/// psql's `array(SELECT 'toast.' || x FROM unnest(tc.reloptions) x)` unnests an option or
/// ACL array of the outer query, which DataFusion cannot decorrelate. meshgate's catalogs never
/// have options or ACLs (those columns are always NULL), so the answer is NULL: only that case
/// is recognised, by the unnested column's name.
pub(super) fn unnests_outer_catalog_array(q: &Query) -> bool {
    let SetExpr::Select(select) = q.body.as_ref() else {
        return false;
    };
    let [from] = select.from.as_slice() else {
        return false;
    };
    if !from.joins.is_empty() || select.selection.is_some() {
        return false;
    }
    let TableFactor::Table {
        name,
        args: Some(args),
        ..
    } = &from.relation
    else {
        return false;
    };
    if !name
        .0
        .last()
        .is_some_and(|p| p.to_string().eq_ignore_ascii_case("unnest"))
    {
        return false;
    }
    matches!(args.args.as_slice(), [FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::CompoundIdentifier(parts)))]
    if parts.len() == 2 && {
        let col = parts[1].value.to_ascii_lowercase();
        col.ends_with("options") || col.ends_with("acl")
    })
}

/// psql's `\d` asks per column for its default (`pg_attrdef`) and for a collation differing
/// from its type's (`pg_collation` joined on `a.attcollation <> t.typcollation`) with
/// correlated subqueries DataFusion cannot decorrelate. Mesh columns have neither defaults nor
/// non-default collations, so PostgreSQL's answer is NULL; only subqueries over those two
/// catalogs are recognised. SQLAlchemy's `get_columns` asks the same way for identity options
/// (`pg_sequence` through `pg_get_serial_sequence`): mesh columns are never identity columns.
pub(super) fn reads_always_null_catalog(q: &Query) -> bool {
    let SetExpr::Select(select) = q.body.as_ref() else {
        return false;
    };
    select.from.iter().any(|f| {
        std::iter::once(&f.relation).chain(f.joins.iter().map(|j| &j.relation)).any(|r| {
            matches!(r, TableFactor::Table { name, args: None, .. }
                if name.0.last().is_some_and(|p| { let n = p.to_string(); n == "pg_attrdef" || n == "pg_collation" || n == "pg_sequence" }))
        })
    })
}

/// The function that takes a scalar subquery's aggregated rows back to one value (see
/// `sql::semantics::one_row`).
pub const ONE_ROW: &str = "meshgate_one_row";

/// A scalar subquery is one value: PostgreSQL raises 21000 when it yields more than one row.
/// DataFusion plans a correlated scalar subquery only when it is aggregated, and would otherwise
/// join the rows in. A plain `(SELECT e FROM … WHERE …)` becomes
/// `(SELECT meshgate_one_row(array_agg(e)) FROM … WHERE …)`: the same FROM and WHERE (a
/// correlated one stays correlated the same way, as catalog queries such as psql's
/// `(SELECT collname FROM pg_collation … WHERE c.oid = a.attcollation)` need), always one row,
/// and 21000 when the list holds more than one value. Already aggregated or limited subqueries
/// are left alone.
pub(super) fn one_row_scalar_subquery(q: &mut Query) {
    // A set operation (`(SELECT 1 UNION ALL SELECT 2)`) of one column: its rows are read
    // through a derived table (such subqueries are not correlated in practice; the engine
    // plans none that is).
    if let SetExpr::SetOperation { .. } = q.body.as_ref() {
        let mut first = q.body.as_ref();
        while let SetExpr::SetOperation { left, .. } = first {
            first = left.as_ref();
        }
        let one_column = matches!(first, SetExpr::Select(s) if matches!(
            s.projection.as_slice(),
            [SelectItem::UnnamedExpr(_) | SelectItem::ExprWithAlias { .. }]
        ));
        if one_column {
            let v = Expr::Identifier(build::ident("_one_row_v"));
            *q = build::select(
                vec![build::item(build::call(
                    ONE_ROW,
                    vec![build::call("array_agg", vec![v])],
                ))],
                vec![build::derived(q.clone(), "_one_row", &["_one_row_v"])],
                None,
            );
        }
        return;
    }
    if q.limit_clause.is_some() || q.fetch.is_some() {
        return;
    }
    let SetExpr::Select(select) = q.body.as_mut() else {
        return;
    };
    if !matches!(select.group_by, GroupByExpr::Expressions(ref e, _) if e.is_empty())
        || select.having.is_some()
        || select.distinct.is_some()
    {
        return;
    }
    let [item] = select.projection.as_mut_slice() else {
        return;
    };
    let (e, alias) = match item {
        SelectItem::UnnamedExpr(e) => (e.clone(), None),
        SelectItem::ExprWithAlias { expr, alias } => (expr.clone(), Some(alias.clone())),
        _ => return,
    };
    if contains_aggregate(&e) {
        return;
    }
    let wrapped = build::call(ONE_ROW, vec![build::call("array_agg", vec![e])]);
    *item = match alias {
        Some(alias) => SelectItem::ExprWithAlias {
            expr: wrapped,
            alias,
        },
        None => SelectItem::UnnamedExpr(wrapped),
    };
}

/// Whether an aggregate function appears anywhere in `e` (`sum(x) * 0.0001` is aggregated).
pub(super) fn contains_aggregate(e: &Expr) -> bool {
    struct Find(bool);
    impl sqlparser::ast::Visitor for Find {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            if let Expr::Function(f) = e {
                let n = f.name.to_string().to_ascii_lowercase();
                if AGGREGATES.contains(&n.as_str()) {
                    self.0 = true;
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut f = Find(false);
    let _ = sqlparser::ast::Visit::visit(e, &mut f);
    f.0
}

const AGGREGATES: &[&str] = &[
    "array_agg",
    "count",
    "max",
    "min",
    "sum",
    "avg",
    "string_agg",
    "bool_and",
    "bool_or",
    "every",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "variance",
    "var_pop",
    "var_samp",
    "first_value",
    "last_value",
    "median",
    "approx_distinct",
];
