//! PostgreSQL syntax that catalog queries use and DataFusion does not plan, rewritten before
//! planning.
//!
//! - `'sales.orders'::regclass` becomes the table's OID literal (our OIDs are known without I/O),
//!   so `attrelid = 'sales.orders'::regclass` is a plain equality the catalog tables can use to
//!   open only that table. A name that does not exist is PostgreSQL's 42P01.
//! - `OPERATOR(pg_catalog.~)` and friends become the operator; `COLLATE pg_catalog.default` goes.
//! - `pg_catalog.f(…)` becomes `f(…)` (DataFusion functions are not schema-qualified).
//! - casts to `oid`/`regtype`/… become integer casts or go, `pg_catalog.text` becomes `text`.
//! - bare `current_schema` becomes `current_schema()`.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, DataType, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList,
    FunctionArguments, GroupByExpr, Ident, JoinConstraint, JoinOperator, ObjectName,
    ObjectNamePart, Query, Select, SelectItem, SetExpr, Statement, TableAliasColumnDef,
    TableFactor, Value, ValueWithSpan, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use datafusion_pg_catalog::pg_catalog::PG_CATALOG_TABLES;

use crate::error::{sqlstate, UserError};

/// Resolves a relation name (`schema.table` or `table`, unquoted) to its OID.
pub trait RelationResolver {
    fn relation_oid(&self, schema: Option<&str>, name: &str) -> Option<i32>;

    /// A schema's OID, for `'name'::regnamespace`.
    fn namespace_oid(&self, _name: &str) -> Option<i32> {
        None
    }
}

pub fn rewrite(stmt: &mut Statement, resolver: &dyn RelationResolver) -> Result<(), UserError> {
    if let Statement::Query(q) = stmt {
        if let SetExpr::Select(select) = q.body.as_mut() {
            postgres_column_names(select);
        }
        recursive_cte_column_names(q);
    }
    let mut v = Rewriter { resolver };
    match stmt.visit(&mut v) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// `WITH RECURSIVE t(a, b) AS (anchor UNION ALL step)`: DataFusion takes a recursive CTE's
/// column names from its anchor's select list, not from the column list, so the list is
/// written into the anchor as aliases (asyncpg's type introspection names `depth` this way).
fn recursive_cte_column_names(q: &mut Query) {
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
fn typtype_branch(expr: &Expr) -> Option<Expr> {
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
    let ty = if kind == "d" { "INT" } else { "TEXT[]" };
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&format!("CAST(NULL AS {ty})"))
        .and_then(|mut p| p.parse_expr())
        .ok()
}

struct Rewriter<'a> {
    resolver: &'a dyn RelationResolver,
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
fn reads_only_empty_catalog(select: &Select) -> bool {
    let is_empty = |r: &TableFactor| match r {
        TableFactor::Table {
            name, args: None, ..
        } => name
            .0
            .last()
            .is_some_and(|p| ALWAYS_EMPTY.contains(&p.to_string().as_str())),
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
fn for_each_select(body: &mut SetExpr, f: &mut dyn FnMut(&mut Select)) {
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
struct NullSubqueries;

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

/// The name PostgreSQL gives an unnamed result column (its FigureColname): a function's name,
/// a cast's argument name or else its type, `case`, `array`, `exists`, else `?column?`.
/// `None`: a column reference (DataFusion names it the same) or a form left to DataFusion.
fn postgres_name(e: &Expr) -> Option<String> {
    fn strong(e: &Expr) -> Option<String> {
        match e {
            Expr::Identifier(i) => Some(i.value.clone()),
            Expr::CompoundIdentifier(parts) => parts.last().map(|p| p.value.clone()),
            Expr::Function(f) => f
                .name
                .0
                .last()
                .map(|p| p.to_string().trim_matches('"').to_ascii_lowercase()),
            Expr::Nested(inner) => strong(inner),
            Expr::Cast { expr, .. } => strong(expr),
            Expr::Case { .. } => Some("case".into()),
            Expr::Array(_) => Some("array".into()),
            Expr::Exists { .. } => Some("exists".into()),
            _ => None,
        }
    }
    match e {
        Expr::Identifier(_)
        | Expr::CompoundIdentifier(_)
        | Expr::Subquery(_)
        | Expr::Wildcard(_)
        | Expr::QualifiedWildcard(..) => None,
        Expr::Cast {
            expr, data_type, ..
        } => strong(expr).or_else(|| Some(cast_type_name(data_type))),
        e => strong(e).or_else(|| Some("?column?".into())),
    }
}

/// A cast's column name: PostgreSQL's internal name of the type (`int4` for `integer`).
fn cast_type_name(t: &DataType) -> String {
    let name = lower_name(t);
    let base = name.split('(').next().unwrap_or("").trim().to_string();
    match base.as_str() {
        "int" | "integer" | "int4" => "int4",
        "bigint" | "int8" => "int8",
        "smallint" | "int2" => "int2",
        "real" | "float4" => "float4",
        "double precision" | "double" | "float8" | "float" => "float8",
        "decimal" | "numeric" => "numeric",
        "boolean" | "bool" => "bool",
        "character varying" | "varchar" => "varchar",
        "character" | "char" => "bpchar",
        "timestamp with time zone" | "timestamptz" => "timestamptz",
        "timestamp" | "timestamp without time zone" => "timestamp",
        _ => return base,
    }
    .to_string()
}

/// Names a statement's result columns as PostgreSQL does, where DataFusion would print the
/// expression (`count(*)`, `Int64(1)`): clients show these names and code reads columns by them.
/// Only the outermost SELECT, and only names no other column of it has (DataFusion wants them
/// distinct; a repeat keeps DataFusion's name).
fn postgres_column_names(select: &mut Select) {
    let mut taken: std::collections::HashSet<String> = select
        .projection
        .iter()
        .filter_map(|i| match i {
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
            SelectItem::UnnamedExpr(Expr::Identifier(i)) => Some(i.value.clone()),
            SelectItem::UnnamedExpr(Expr::CompoundIdentifier(p)) => {
                p.last().map(|p| p.value.clone())
            }
            _ => None,
        })
        .collect();
    for item in select.projection.iter_mut() {
        if let SelectItem::UnnamedExpr(e) = item {
            if let Some(name) = postgres_name(e) {
                if taken.insert(name.clone()) {
                    *item = SelectItem::ExprWithAlias {
                        expr: e.clone(),
                        alias: Ident::with_quote('"', name),
                    };
                }
            }
        }
        if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
            print_reg_type(e);
        }
    }
}

/// The OID of a built-in type named as `regtype` input accepts it (`'int4'::regtype`).
fn type_oid(name: &str) -> Option<i32> {
    let n = name.trim().to_ascii_lowercase();
    let n = n.strip_prefix("pg_catalog.").unwrap_or(&n);
    Some(match n {
        "bool" | "boolean" => 16,
        "bytea" => 17,
        "char" | "\"char\"" => 18,
        "name" => 19,
        "int8" | "bigint" => 20,
        "int2" | "smallint" => 21,
        "int4" | "integer" | "int" => 23,
        "text" => 25,
        "oid" => 26,
        "json" => 114,
        "float4" | "real" => 700,
        "float8" | "double precision" => 701,
        "bpchar" | "character" => 1042,
        "varchar" | "character varying" => 1043,
        "date" => 1082,
        "time" | "time without time zone" => 1083,
        "timestamp" | "timestamp without time zone" => 1114,
        "timestamptz" | "timestamp with time zone" => 1184,
        "interval" => 1186,
        "numeric" | "decimal" => 1700,
        "uuid" => 2950,
        "jsonb" => 3802,
        _ => return None,
    })
}

/// A result column cast to `regtype`, `regrole` or `regnamespace` prints the object's name in
/// PostgreSQL (`atttypid::regtype` is `integer`); elsewhere such casts are OIDs to compare.
/// (`::regclass` in results still prints the OID: psql's `\d+` projects `c.oid::regclass` beside
/// other `oid` columns, and the printed form's name would collide with them.)
fn print_reg_type(e: &mut Expr) {
    let Expr::Cast {
        expr: inner,
        data_type,
        ..
    } = e
    else {
        return;
    };
    let ty = lower_name(data_type);
    if let Some(name) = string_literal(inner) {
        // `'int4'::regtype` prints PostgreSQL's name for it, `integer`.
        match type_oid(name) {
            Some(oid) if ty.ends_with("regtype") => **inner = number(oid),
            _ => return,
        }
    }
    let (function, extra) = match ty.strip_prefix("pg_catalog.").unwrap_or(&ty) {
        "regtype" => (
            "format_type",
            Some(Expr::Value(ValueWithSpan::from(Value::Null))),
        ),
        "regrole" => ("pg_get_userbyid", None),
        "regnamespace" => ("mesh_regnamespace", None),
        _ => return,
    };
    let mut f = call(function);
    if let Expr::Function(Function {
        args: FunctionArguments::List(list),
        ..
    }) = &mut f
    {
        list.args.push(FunctionArg::Unnamed(FunctionArgExpr::Expr(
            (**inner).clone(),
        )));
        if let Some(x) = extra {
            list.args
                .push(FunctionArg::Unnamed(FunctionArgExpr::Expr(x)));
        }
    }
    *e = f;
}

/// DataFusion wants distinct output names; PostgreSQL names every unnamed expression
/// `?column?` and allows repeats (psql selects `NULL, NULL`). Repeats get numbered aliases.
fn name_repeated_columns(select: &mut Select) {
    let mut seen = std::collections::HashSet::new();
    for (i, item) in select.projection.iter_mut().enumerate() {
        if let SelectItem::UnnamedExpr(e) = item {
            if !seen.insert(e.to_string())
                && !matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_))
            {
                *item = SelectItem::ExprWithAlias {
                    expr: e.clone(),
                    alias: Ident::new(format!("?column?{i}")),
                };
            }
        }
    }
}

fn lower_name(t: &DataType) -> String {
    t.to_string().to_ascii_lowercase()
}

fn strip_pg_catalog(name: &mut ObjectName) {
    if name.0.len() == 2
        && name.0[0]
            .as_ident()
            .is_some_and(|i| i.value.eq_ignore_ascii_case("pg_catalog"))
    {
        name.0.remove(0);
    }
}

/// Splits `schema.table`, honouring double quotes; identifiers fold to lower case unless quoted.
fn split_qualified(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut was_quoted = false;
    let mut chars = s.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => {
                quoted = !quoted;
                was_quoted = true;
            }
            '.' if !quoted => {
                parts.push(if was_quoted {
                    std::mem::take(&mut cur)
                } else {
                    std::mem::take(&mut cur).to_lowercase()
                });
                was_quoted = false;
            }
            c => cur.push(c),
        }
    }
    parts.push(if was_quoted { cur } else { cur.to_lowercase() });
    parts
}

fn number(n: i32) -> Expr {
    Expr::Value(ValueWithSpan::from(Value::Number(n.to_string(), false)))
}

fn string_literal(e: &Expr) -> Option<&str> {
    match e {
        Expr::Value(ValueWithSpan {
            value: Value::SingleQuotedString(s),
            ..
        }) => Some(s),
        _ => None,
    }
}

impl VisitorMut for Rewriter<'_> {
    type Break = UserError;

    fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<UserError> {
        for_each_select(q.body.as_mut(), &mut |select| {
            name_repeated_columns(select);
            if reads_only_empty_catalog(select) {
                let mut n = NullSubqueries;
                for item in select.projection.iter_mut() {
                    if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } =
                        item
                    {
                        let _ = e.visit(&mut n);
                    }
                }
                if let Some(e) = select.selection.as_mut() {
                    let _ = e.visit(&mut n);
                }
                for join in select.from.iter_mut().flat_map(|f| f.joins.iter_mut()) {
                    if let JoinOperator::Join(JoinConstraint::On(e))
                    | JoinOperator::Inner(JoinConstraint::On(e)) = &mut join.join_operator
                    {
                        let _ = e.visit(&mut n);
                    }
                }
            }
        });
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, name: &mut ObjectName) -> ControlFlow<UserError> {
        // PostgreSQL searches pg_catalog before the search_path, so `FROM pg_class` works.
        if name.0.len() == 1 {
            let n = name.0[0].to_string();
            if PG_CATALOG_TABLES.contains(&n.as_str()) {
                name.0
                    .insert(0, ObjectNamePart::Identifier(Ident::new("pg_catalog")));
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, t: &mut TableFactor) -> ControlFlow<UserError> {
        if let TableFactor::Table {
            name,
            args: Some(_),
            alias,
            ..
        } = t
        {
            strip_pg_catalog(name);
            if name.to_string().eq_ignore_ascii_case("unnest") {
                // `unnest(a) x`: in PostgreSQL the alias of a scalar function also names its column.
                let mut alias = alias.clone();
                if let Some(a) = alias.as_mut() {
                    if a.columns.is_empty() {
                        a.columns
                            .push(TableAliasColumnDef::from_name(a.name.value.clone()));
                    }
                }
                let array_exprs = match t {
                    TableFactor::Table {
                        args: Some(args), ..
                    } => args
                        .args
                        .iter()
                        .filter_map(|a| match a {
                            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
                            _ => None,
                        })
                        .collect(),
                    _ => vec![],
                };
                *t = TableFactor::UNNEST {
                    alias,
                    array_exprs,
                    with_offset: false,
                    with_offset_alias: None,
                    with_ordinality: false,
                };
            }
        }
        if let TableFactor::Function { name, .. } = t {
            strip_pg_catalog(name);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<UserError> {
        regproc_join_by_name(expr);
        if let Some(null) = typtype_branch(expr) {
            *expr = null;
            return ControlFlow::Continue(());
        }
        match expr {
            // DataFusion's LIKE escapes with backslash only; SQLAlchemy writes `ESCAPE '/'`.
            // The pattern is re-escaped: backslashes doubled, then the escape char made one.
            Expr::Like {
                pattern,
                escape_char: escape @ Some(_),
                ..
            }
            | Expr::ILike {
                pattern,
                escape_char: escape @ Some(_),
                ..
            } => {
                let esc = match escape.as_ref() {
                    Some(Value::SingleQuotedString(c)) if c.chars().count() == 1 && c != "\\" => {
                        c.clone()
                    }
                    _ => return ControlFlow::Continue(()),
                };
                let call = |name: &str, args: Vec<Expr>| {
                    Expr::Function(Function {
                        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))]),
                        uses_odbc_syntax: false,
                        parameters: FunctionArguments::None,
                        args: FunctionArguments::List(FunctionArgumentList {
                            duplicate_treatment: None,
                            args: args
                                .into_iter()
                                .map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a)))
                                .collect(),
                            clauses: vec![],
                        }),
                        filter: None,
                        null_treatment: None,
                        over: None,
                        within_group: vec![],
                    })
                };
                let lit = |s: &str| {
                    Expr::Value(ValueWithSpan::from(Value::SingleQuotedString(
                        s.to_string(),
                    )))
                };
                let doubled = call("replace", vec![(**pattern).clone(), lit("\\"), lit("\\\\")]);
                **pattern = call("replace", vec![doubled, lit(&esc), lit("\\")]);
                *escape = None;
            }
            Expr::Subquery(q) => {
                if reads_always_null_catalog(q) {
                    *expr = Expr::Value(ValueWithSpan::from(Value::Null));
                    return ControlFlow::Continue(());
                }
                aggregate_scalar_subquery(q)
            }
            Expr::Collate { expr: inner, .. } => {
                *expr = (**inner).clone();
                return self.pre_visit_expr(expr);
            }
            Expr::BinaryOp { op, .. } => {
                if let BinaryOperator::PGCustomBinaryOperator(parts) = op {
                    let last = parts.last().map(String::as_str).unwrap_or_default();
                    let mapped = match last {
                        "~" => Some(BinaryOperator::PGRegexMatch),
                        "!~" => Some(BinaryOperator::PGRegexNotMatch),
                        "~*" => Some(BinaryOperator::PGRegexIMatch),
                        "!~*" => Some(BinaryOperator::PGRegexNotIMatch),
                        "~~" => Some(BinaryOperator::PGLikeMatch),
                        "!~~" => Some(BinaryOperator::PGNotLikeMatch),
                        "~~*" => Some(BinaryOperator::PGILikeMatch),
                        "!~~*" => Some(BinaryOperator::PGNotILikeMatch),
                        "=" => Some(BinaryOperator::Eq),
                        "<>" => Some(BinaryOperator::NotEq),
                        "<" => Some(BinaryOperator::Lt),
                        "<=" => Some(BinaryOperator::LtEq),
                        ">" => Some(BinaryOperator::Gt),
                        ">=" => Some(BinaryOperator::GtEq),
                        "||" => Some(BinaryOperator::StringConcat),
                        _ => None,
                    };
                    if let Some(m) = mapped {
                        *op = m;
                    }
                }
            }
            Expr::Function(f) => {
                strip_pg_catalog(&mut f.name);
                // `array(SELECT …)` is `(SELECT array_agg(v) FROM (SELECT …) AS _array(v))`.
                if f.name.to_string().eq_ignore_ascii_case("array") {
                    if let FunctionArguments::Subquery(q) = &f.args {
                        if unnests_outer_catalog_array(q) {
                            *expr = Expr::Value(ValueWithSpan::from(Value::Null));
                            return ControlFlow::Continue(());
                        }
                        let sql =
                            format!("SELECT array_agg(_array_v) FROM ({q}) AS _array(_array_v)");
                        if let Ok(mut stmts) = Parser::parse_sql(&PostgreSqlDialect {}, &sql) {
                            if let Some(Statement::Query(q)) = stmts.pop() {
                                *expr = Expr::Subquery(q);
                            }
                        }
                    }
                }
            }
            Expr::Identifier(i)
                if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("current_schema") =>
            {
                *expr = call("current_schema");
            }
            Expr::Cast {
                expr: inner,
                data_type,
                ..
            } => {
                // Arrays of OIDs (`$1::oid[]`, asyncpg) are integer arrays here.
                if let DataType::Array(
                    datafusion::sql::sqlparser::ast::ArrayElemTypeDef::SquareBracket(elem, _),
                ) = data_type
                {
                    if matches!(
                        lower_name(elem).trim_start_matches("pg_catalog."),
                        "oid" | "regtype" | "regclass" | "regproc" | "regnamespace"
                    ) {
                        **elem = DataType::Int(None);
                    }
                }
                let ty = lower_name(data_type);
                let ty = ty.strip_prefix("pg_catalog.").unwrap_or(&ty).to_string();
                match ty.as_str() {
                    "regclass" => {
                        if let Some(name) = string_literal(inner) {
                            let parts = split_qualified(name);
                            let oid = match parts.as_slice() {
                                [t] => self.resolver.relation_oid(None, t),
                                [s, t] => self.resolver.relation_oid(Some(s), t),
                                [_, s, t] => self.resolver.relation_oid(Some(s), t),
                                _ => None,
                            };
                            return match oid {
                                Some(oid) => {
                                    *expr = number(oid);
                                    ControlFlow::Continue(())
                                }
                                None => ControlFlow::Break(UserError::new(
                                    sqlstate::UNDEFINED_TABLE,
                                    format!("relation \"{name}\" does not exist"),
                                )),
                            };
                        }
                        *expr = (**inner).clone();
                        return self.pre_visit_expr(expr);
                    }
                    "oid" | "regtype" | "regproc" | "regprocedure" | "regnamespace" | "regrole"
                    | "regoper" | "xid" => {
                        if let Some(n) =
                            string_literal(inner).and_then(|s| s.trim().parse::<i32>().ok())
                        {
                            *expr = number(n);
                        } else if let Some(oid) = string_literal(inner)
                            .filter(|_| ty == "regnamespace")
                            .and_then(|s| self.resolver.namespace_oid(s.trim().trim_matches('"')))
                        {
                            *expr = number(oid);
                        } else if let Some(oid) = string_literal(inner)
                            .filter(|_| ty == "regtype")
                            .and_then(type_oid)
                        {
                            *expr = number(oid);
                        } else if ty == "oid" {
                            *data_type = DataType::Int(None);
                        } else {
                            *expr = (**inner).clone();
                            return self.pre_visit_expr(expr);
                        }
                    }
                    _ => {
                        if let DataType::Custom(name, _) = data_type {
                            if name.0.len() == 2 {
                                let last = name.0[1].to_string();
                                if let Ok(t) = Parser::new(&PostgreSqlDialect {})
                                    .try_with_sql(&last)
                                    .and_then(|mut p| p.parse_data_type())
                                {
                                    *data_type = match t {
                                        // `name` and `"char"` are text to us.
                                        DataType::Custom(..) | DataType::Char(_) => DataType::Text,
                                        t => t,
                                    };
                                }
                            }
                        }
                    }
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// pg_type's function columns (`typreceive`, …) are regproc in PostgreSQL, compared with
/// pg_proc's oid as numbers; the crate's pg_type holds them as the function's name. Npgsql's
/// type loading finds arrays by `pg_proc.oid = pg_type.typreceive` and `proname = 'array_recv'`:
/// comparing the name side with `proname` instead gives PostgreSQL's answer.
fn regproc_join_by_name(expr: &mut Expr) {
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
fn unnests_outer_catalog_array(q: &Query) -> bool {
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
fn reads_always_null_catalog(q: &Query) -> bool {
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

/// DataFusion plans a correlated scalar subquery only when it is aggregated (it cannot check
/// "more than one row" at run time as PostgreSQL does). Catalog queries (psql's
/// `(SELECT collname FROM pg_collation … WHERE c.oid = a.attcollation)`) return at most one
/// row by construction, so `max(x)` gives the same answer. Already aggregated or limited
/// subqueries are left alone.
fn aggregate_scalar_subquery(q: &mut Query) {
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
    let mut wrapped = call("max");
    if let Expr::Function(f) = &mut wrapped {
        f.args = FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(e))],
            clauses: vec![],
        });
    }
    *item = match alias {
        Some(alias) => SelectItem::ExprWithAlias {
            expr: wrapped,
            alias,
        },
        None => SelectItem::UnnamedExpr(wrapped),
    };
}

/// Whether an aggregate function appears anywhere in `e` (`sum(x) * 0.0001` is aggregated).
fn contains_aggregate(e: &Expr) -> bool {
    struct Find(bool);
    impl datafusion::sql::sqlparser::ast::Visitor for Find {
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
    let _ = datafusion::sql::sqlparser::ast::Visit::visit(e, &mut f);
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

fn call(name: &str) -> Expr {
    Expr::Function(Function {
        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![],
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names_split_like_postgres() {
        assert_eq!(split_qualified("Sales.Orders"), vec!["sales", "orders"]);
        assert_eq!(split_qualified("\"Sales\".orders"), vec!["Sales", "orders"]);
        assert_eq!(split_qualified("orders"), vec!["orders"]);
    }

    struct NoRelations;
    impl RelationResolver for NoRelations {
        fn relation_oid(&self, _: Option<&str>, _: &str) -> Option<i32> {
            None
        }
    }

    fn rewritten(sql: &str) -> String {
        let mut stmt = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .expect("parses")
            .remove(0);
        rewrite(&mut stmt, &NoRelations).expect("rewrites");
        stmt.to_string()
    }

    #[test]
    fn row_fields_of_empty_key_catalogs_become_null() {
        // pgjdbc's getPrimaryKeys: the inner query joins pg_index, the outer reads the inner.
        let text = rewritten(
            "SELECT result.COLUMN_NAME, result.KEY_SEQ FROM (SELECT a.attname AS COLUMN_NAME, \
             (information_schema._pg_expandarray(i.indkey)).n AS KEY_SEQ, information_schema._pg_expandarray(i.indkey) AS KEYS, \
             a.attnum AS A_ATTNUM FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_index i ON (a.attrelid = i.indrelid) \
             WHERE i.indisprimary) result WHERE result.A_ATTNUM = (result.KEYS).x ORDER BY result.key_seq",
        );
        assert!(
            !text.contains("_pg_expandarray") && !text.contains(").x") && !text.contains(").n"),
            "{text}"
        );
        // getBestRowIdentifier: the row field is in the ON of a join with an empty derived table.
        let text = rewritten(
            "SELECT a.attname FROM pg_catalog.pg_attribute a JOIN (SELECT i.indrelid, \
             information_schema._pg_expandarray(i.indkey) AS keys FROM pg_catalog.pg_index i) i \
             ON (a.attnum = (i.keys).x AND a.attrelid = i.indrelid)",
        );
        assert!(
            !text.contains("_pg_expandarray") && !text.contains(").x"),
            "{text}"
        );
        // getImportedKeys: subscripts of pg_constraint's key arrays.
        let text = rewritten(
            "SELECT pos.n FROM pg_catalog.pg_attribute pka, pg_catalog.pg_constraint con, \
             generate_series(1, 32) pos(n) WHERE pka.attnum = con.confkey[pos.n]",
        );
        assert!(!text.contains("confkey["), "{text}");
        // A catalog that has rows keeps its expressions.
        let text = rewritten("SELECT (current_schemas(true))[1] FROM pg_catalog.pg_namespace");
        assert!(text.contains("[1]"), "{text}");
    }

    #[test]
    fn like_with_another_escape_character_becomes_backslash_escaped() {
        let mut stmt = Parser::parse_sql(
            &PostgreSqlDialect {},
            "SELECT 'pg_x' NOT LIKE 'pg/_' || '%' ESCAPE '/'",
        )
        .expect("parses")
        .remove(0);
        rewrite(&mut stmt, &NoRelations).expect("rewrites");
        let text = stmt.to_string();
        assert!(!text.contains("ESCAPE"), "{text}");
        assert!(
            text.contains(r"replace(replace('pg/_' || '%', '\', '\\'), '/', '\')"),
            "{text}"
        );
    }
}
