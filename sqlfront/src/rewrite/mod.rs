//! PostgreSQL syntax and shapes that DataFusion does not plan, rewritten before planning: the
//! front end's "PostgreSQL dialect" step.
//!
//! ```text
//!  mod.rs       the visitor: casts, operators, pg_catalog qualifiers, LIKE … ESCAPE, array(…)
//!  columns.rs   result column names as PostgreSQL gives them; reg types printed as names
//!  shapes.rs    catalog-query shapes clients send that DataFusion cannot decorrelate
//!  literals.rs  numeric literals typed as PostgreSQL types them (int4, numeric); quoted
//!               literals in the forms PostgreSQL's input functions accept
//!  quantified.rs  `op ANY/ALL (subquery | literal array)` as PostgreSQL means them
//!  srf.rs       set-returning functions in the select list and FROM (rows, not an array)
//!  lateral.rs   LATERAL subqueries as joins on their correlation keys, or scalar subqueries
//!  result_types.rs  functions cast to the result type PostgreSQL declares
//!  scales.rs    hidden columns with each quotient's and average's display scale
//!  setops.rs    EXCEPT ALL / INTERSECT ALL counting duplicates
//!  clauses.rs   FETCH FIRST as LIMIT; GROUP BY () and positions inside ROLLUP/CUBE
//!  calls.rs     named arguments (`make_interval(days => 3)`) put in their places
//!  operators.rs prefix operators, AT TIME ZONE, OVERLAPS, LIKE ANY, row comparisons
//!  strings.rs   casts to varchar(n) / char(n), SIMILAR TO
//!  json.rs      casts to json / jsonb (functions: DataFusion has no such types)
//! ```
//!
//! - `'sales.orders'::regclass` becomes the table's OID literal (our OIDs are known without I/O),
//!   so `attrelid = 'sales.orders'::regclass` is a plain equality the catalog tables can use to
//!   open only that table. A name that does not exist is PostgreSQL's 42P01.
//! - `OPERATOR(pg_catalog.~)` and friends become the operator; `COLLATE pg_catalog.default` goes.
//! - `pg_catalog.f(…)` becomes `f(…)` (DataFusion functions are not schema-qualified).
//! - casts to `oid`/`regtype`/… become integer casts or go, `pg_catalog.text` becomes `text`.
//! - bare `current_schema` becomes `current_schema()`.

mod calls;
mod clauses;
mod columns;
mod json;
mod lateral;
mod literals;
mod operators;
mod quantified;
mod result_types;
mod scales;
mod setops;
mod shapes;
mod srf;
mod strings;

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, DataType, Expr, FunctionArg, FunctionArgExpr, FunctionArguments,
    JoinConstraint, JoinOperator, ObjectName, Query, SelectItem, SetExpr, Statement, TableFactor,
    Value, ValueWithSpan, VisitMut, VisitorMut,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use crate::build;
use crate::error::{Code, FrontError};
use columns::{name_repeated_columns, postgres_column_names, qualify_table_stars};
use shapes::{
    for_each_select, one_row_scalar_subquery, reads_always_null_catalog, reads_only_empty_catalog,
    recursive_cte_column_names, regproc_join_by_name, typtype_branch, unnests_outer_catalog_array,
    NullSubqueries,
};

pub use columns::{shown_name, type_oid};
pub use json::{CAST_JSON, CAST_JSONB};
pub use quantified::parse_array_text;
pub use result_types::TO_NUMERIC;
pub use scales::{
    add_display_scales, aggregate_dscale, display_scale_target, is_display_scale, CAST_DSCALE,
    DIV_DSCALE,
};
pub use shapes::ONE_ROW;
pub use strings::{CAST_BPCHAR, CAST_VARCHAR};

/// A statement for a test of one of the rewrites.
#[cfg(test)]
fn parsed(sql: &str) -> Statement {
    Parser::parse_sql(&PostgreSqlDialect {}, sql)
        .expect("parses")
        .remove(0)
}

/// Resolves a relation name (`schema.table` or `table`, unquoted) to its OID.
pub trait RelationResolver {
    fn relation_oid(&self, schema: Option<&str>, name: &str) -> Option<i32>;

    /// A schema's OID, for `'name'::regnamespace`.
    fn namespace_oid(&self, _name: &str) -> Option<i32> {
        None
    }
}

pub fn rewrite(stmt: &mut Statement, resolver: &dyn RelationResolver) -> Result<(), FrontError> {
    if let Statement::Query(q) = stmt {
        // A set operation's columns are named by its first SELECT.
        let mut first = q.body.as_mut();
        while let SetExpr::SetOperation { left, .. } = first {
            first = left.as_mut();
        }
        if let SetExpr::Select(select) = first {
            postgres_column_names(select);
        }
        recursive_cte_column_names(q);
    }
    let mut v = Rewriter {
        resolver,
        quantified: Default::default(),
    };
    if let ControlFlow::Break(e) = stmt.visit(&mut v) {
        return Err(e);
    }
    // After the catalog shapes, which null out `= ANY` in selects that read nothing.
    quantified::rewrite(stmt);
    result_types::rewrite(stmt);
    literals::type_literals(stmt);
    Ok(())
}

struct Rewriter<'a> {
    resolver: &'a dyn RelationResolver,
    /// The subqueries of `op ANY/ALL (subquery)`: sets, not scalars (known by address, as the
    /// tree does not move while it is visited).
    quantified: std::collections::HashSet<*const Query>,
}

impl VisitorMut for Rewriter<'_> {
    type Break = FrontError;

    fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<FrontError> {
        if let Some(e) = clauses::unsupported_recursion(q) {
            return ControlFlow::Break(e);
        }
        clauses::fetch_as_limit(q);
        setops::all_as_numbered_rows(q);
        srf::lateral_json_rows(q);
        if let Err(e) = lateral::decorrelate(q) {
            return ControlFlow::Break(e);
        }
        for_each_select(q.body.as_mut(), &mut |select| {
            clauses::group_by_positions(select);
            quantified::rows_in_subquery(select);
            srf::in_select_list(select);
            qualify_table_stars(select);
            json::rows_as_structs(select);
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
                // Every join's ON, outer joins too: the select yields no rows whichever way
                // its other tables join (SQLAlchemy 1.4's get_indexes, which Superset runs
                // when a table becomes a dataset, left-joins pg_attribute
                // `ON a.attnum = ANY(ix.indkey)` to an inner join of pg_index).
                for join in select.from.iter_mut().flat_map(|f| f.joins.iter_mut()) {
                    if let Some(JoinConstraint::On(e)) = join_constraint(&mut join.join_operator) {
                        let _ = e.visit(&mut n);
                    }
                }
            }
        });
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, t: &mut TableFactor) -> ControlFlow<FrontError> {
        srf::in_from(t);
        if let TableFactor::Table {
            name,
            args: Some(_),
            alias,
            ..
        } = t
        {
            strip_pg_catalog(name);
            let function = name.to_string().to_ascii_lowercase();
            if function == "unnest" {
                // Named by srf::in_from as PostgreSQL names a function's column.
                let alias = alias.clone();
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

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<FrontError> {
        if let Some(e) = calls::invalid_constant_argument(expr) {
            return ControlFlow::Break(e);
        }
        literals::postgres_literal_forms(expr);
        if let Some(replacement) = operators::rewrite(expr) {
            *expr = replacement;
        }
        if let Some(replacement) = strings::rewrite(expr) {
            *expr = replacement;
        }
        if let Some(replacement) = json::rewrite(expr) {
            *expr = replacement;
        }
        regproc_join_by_name(expr);
        literals::quoted_as_type(expr);
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
                let call = build::call;
                let lit = build::string;
                let doubled = call("replace", vec![(**pattern).clone(), lit("\\"), lit("\\\\")]);
                **pattern = call("replace", vec![doubled, lit(&esc), lit("\\")]);
                *escape = None;
            }
            Expr::AnyOp { right, .. } | Expr::AllOp { right, .. } => {
                if let Expr::Subquery(q) = right.as_ref() {
                    self.quantified.insert(q.as_ref() as *const Query);
                }
            }
            Expr::Subquery(q) => {
                if reads_always_null_catalog(q) {
                    *expr = build::null();
                    return ControlFlow::Continue(());
                }
                if !self.quantified.contains(&(q.as_ref() as *const Query)) {
                    columns::name_scalar_subquery_column(q);
                    one_row_scalar_subquery(q);
                }
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
                calls::named_arguments(f);
                // `array(SELECT …)` is `(SELECT coalesce(array_agg(v), make_array()) FROM
                // (SELECT …) AS _array(v))`: an empty array when the query has no rows
                // (array_agg's NULL is not PostgreSQL's answer).
                if f.name.to_string().eq_ignore_ascii_case("array") {
                    if let FunctionArguments::Subquery(q) = &f.args {
                        if unnests_outer_catalog_array(q) {
                            *expr = build::null();
                            return ControlFlow::Continue(());
                        }
                        let value = Expr::Identifier(build::ident("_array_v"));
                        *expr = Expr::Subquery(Box::new(build::select(
                            vec![build::item(build::call(
                                "coalesce",
                                vec![
                                    build::call("array_agg", vec![value]),
                                    build::call("make_array", vec![]),
                                ],
                            ))],
                            vec![build::derived((**q).clone(), "_array", &["_array_v"])],
                            None,
                        )));
                    }
                }
            }
            Expr::Identifier(i)
                if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("current_schema") =>
            {
                *expr = build::call("current_schema", vec![]);
            }
            Expr::Cast {
                expr: inner,
                data_type,
                ..
            } => {
                // Arrays of OIDs (`$1::oid[]`, asyncpg) are integer arrays here.
                if let DataType::Array(sqlparser::ast::ArrayElemTypeDef::SquareBracket(elem, _)) =
                    data_type
                {
                    if matches!(
                        lower_name(elem).trim_start_matches("pg_catalog."),
                        "oid" | "regtype" | "regclass" | "regproc" | "regnamespace"
                    ) {
                        **elem = DataType::Int(None);
                        // A catalog column (pg_proc.proargtypes, an oidvector, is text here)
                        // is read by a function that takes text or a list alike; a parameter
                        // keeps its cast, which says its type.
                        if !matches!(
                            inner.as_ref(),
                            Expr::Value(ValueWithSpan {
                                value: Value::Placeholder(_),
                                ..
                            })
                        ) {
                            *expr = build::call("meshgate_oid_array", vec![(**inner).clone()]);
                            return ControlFlow::Continue(());
                        }
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
                                None => ControlFlow::Break(FrontError::new(
                                    Code::UndefinedTable,
                                    format!("relation \"{name}\" does not exist"),
                                )),
                            };
                        }
                        // A name computed at run time (Metabase casts
                        // `format('%I.%I', schema, table)::regclass`) is looked up then; an
                        // OID (`c.oid::regclass`) stays the number.
                        if computes_text(inner) {
                            *expr = build::call("to_regclass", vec![(**inner).clone()]);
                            return ControlFlow::Continue(());
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

/// Whether `e` is certainly a string: text functions, `||`, casts to text.
fn computes_text(e: &Expr) -> bool {
    match e {
        Expr::Nested(e) => computes_text(e),
        Expr::BinaryOp {
            op: BinaryOperator::StringConcat,
            ..
        } => true,
        Expr::Cast { data_type, .. } => matches!(
            data_type,
            DataType::Text | DataType::Varchar(_) | DataType::CharacterVarying(_)
        ),
        Expr::Function(f) => f.name.0.last().and_then(|p| p.as_ident()).is_some_and(|n| {
            matches!(
                n.value.to_ascii_lowercase().as_str(),
                "format" | "concat" | "concat_ws" | "quote_ident" | "lower" | "upper"
            )
        }),
        _ => false,
    }
}

pub(super) fn lower_name(t: &DataType) -> String {
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
/// `schema."Table"` as its parts, unquoted ones folded to lower case.
pub fn split_qualified(s: &str) -> Vec<String> {
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

pub(super) fn number(n: i32) -> Expr {
    build::number(i64::from(n))
}

pub(super) fn string_literal(e: &Expr) -> Option<&str> {
    match e {
        Expr::Value(ValueWithSpan {
            value: Value::SingleQuotedString(s),
            ..
        }) => Some(s),
        _ => None,
    }
}

/// The constraint of a join, of whatever kind.
fn join_constraint(op: &mut JoinOperator) -> Option<&mut JoinConstraint> {
    match op {
        JoinOperator::Join(c)
        | JoinOperator::Inner(c)
        | JoinOperator::Left(c)
        | JoinOperator::LeftOuter(c)
        | JoinOperator::Right(c)
        | JoinOperator::RightOuter(c)
        | JoinOperator::FullOuter(c)
        | JoinOperator::CrossJoin(c)
        | JoinOperator::Semi(c)
        | JoinOperator::LeftSemi(c)
        | JoinOperator::RightSemi(c)
        | JoinOperator::Anti(c)
        | JoinOperator::LeftAnti(c)
        | JoinOperator::RightAnti(c)
        | JoinOperator::StraightJoin(c) => Some(c),
        JoinOperator::AsOf { constraint, .. } => Some(constraint),
        JoinOperator::CrossApply | JoinOperator::OuterApply => None,
    }
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
    fn scalar_subqueries_are_held_to_one_row() {
        // Named as PostgreSQL names the column, then held to one row.
        assert_eq!(
            rewritten("SELECT (SELECT n_name FROM nation WHERE n_nationkey = c.k) AS n FROM c"),
            "SELECT (SELECT meshgate_one_row(array_agg(n_name)) AS \"n_name\" FROM nation WHERE n_nationkey = c.k) AS n FROM c"
        );
        // A set operation: its rows through a derived table.
        assert_eq!(
            rewritten("SELECT (SELECT 1 UNION ALL SELECT 2) AS x"),
            "SELECT (SELECT meshgate_one_row(array_agg(\"_one_row_v\")) FROM (SELECT CAST(1 AS INT) UNION ALL SELECT CAST(2 AS INT)) AS \"_one_row\" (\"_one_row_v\")) AS x"
        );
        // Already one row, or a set compared with ANY: not wrapped.
        for sql in [
            "SELECT (SELECT max(b) FROM u) AS m",
            "SELECT (SELECT b FROM u LIMIT 1) AS b",
            "SELECT a FROM t WHERE a > ANY(SELECT b FROM u)",
        ] {
            assert!(!rewritten(sql).contains("one_row"), "{sql}");
        }
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
        // SQLAlchemy 1.4's get_indexes: `= ANY` of pg_index's int2vector in the ON of an
        // outer join to the inner join of pg_index.
        let text = rewritten(
            "SELECT i.relname, a.attname FROM pg_class t JOIN pg_index ix ON t.oid = ix.indrelid \
             JOIN pg_class i ON i.oid = ix.indexrelid LEFT OUTER JOIN pg_attribute a \
             ON t.oid = a.attrelid AND a.attnum = ANY(ix.indkey) WHERE t.oid = 1",
        );
        assert!(!text.contains("ANY"), "{text}");
        // A catalog that has rows keeps its expressions.
        let text = rewritten("SELECT (current_schemas(true))[1] FROM pg_catalog.pg_namespace");
        assert!(text.contains("))["), "{text}");
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
