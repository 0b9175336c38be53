//! Result columns as PostgreSQL names and prints them.

use sqlparser::ast::{
    DataType, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, ObjectName,
    ObjectNamePart, Select, SelectItem, SelectItemQualifiedWildcardKind, TableFactor,
};

use super::{lower_name, number, string_literal};
use crate::build;

/// The name PostgreSQL gives an unnamed result column (its FigureColname): a function's name,
/// a cast's argument name or else its type, `case`, `array`, `exists`, else `?column?`.
/// `None`: a column reference (DataFusion names it the same) or a form left to DataFusion.
pub(super) fn postgres_name(e: &Expr) -> Option<String> {
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
            // Calls the parser gives forms of their own.
            Expr::Ceil { .. } => Some("ceil".into()),
            Expr::Floor { .. } => Some("floor".into()),
            Expr::Extract { .. } => Some("extract".into()),
            Expr::Substring { shorthand, .. } => {
                Some(if *shorthand { "substr" } else { "substring" }.into())
            }
            Expr::Position { .. } => Some("position".into()),
            Expr::Overlay { .. } => Some("overlay".into()),
            Expr::Trim { trim_where, .. } => Some(
                match trim_where {
                    Some(sqlparser::ast::TrimWhereField::Leading) => "ltrim",
                    Some(sqlparser::ast::TrimWhereField::Trailing) => "rtrim",
                    _ => "btrim",
                }
                .into(),
            ),
            Expr::AtTimeZone { .. } => Some("timezone".into()),
            Expr::BinaryOp {
                op: sqlparser::ast::BinaryOperator::Overlaps,
                ..
            } => Some("overlaps".into()),
            // `(ARRAY[…])[2]` is named by what it subscripts.
            Expr::CompoundFieldAccess { root, .. } => strong(root),
            // A scalar subquery is named by its one column.
            Expr::Subquery(q) => match q.body.as_ref() {
                sqlparser::ast::SetExpr::Select(s) => match s.projection.as_slice() {
                    [SelectItem::ExprWithAlias { alias, .. }] => Some(alias.value.clone()),
                    [SelectItem::UnnamedExpr(e)] => strong(e).or_else(|| Some("?column?".into())),
                    _ => None,
                },
                _ => None,
            },
            Expr::Array(_) => Some("array".into()),
            Expr::Exists { .. } => Some("exists".into()),
            _ => None,
        }
    }
    match e {
        Expr::Identifier(_)
        | Expr::CompoundIdentifier(_)
        | Expr::Wildcard(_)
        | Expr::QualifiedWildcard(..) => None,
        Expr::Cast {
            expr, data_type, ..
        } => strong(expr).or_else(|| Some(cast_type_name(data_type))),
        // `DATE '2024-01-01'` is a cast of a literal: named by its type.
        Expr::TypedString(t) => Some(cast_type_name(&t.data_type)),
        Expr::Interval(_) => Some("interval".into()),
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
/// Only the outermost SELECT.
pub(super) fn postgres_column_names(select: &mut Select) {
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
    for (i, item) in select.projection.iter_mut().enumerate() {
        if let SelectItem::UnnamedExpr(e) = item {
            if let Some(name) = postgres_name(e) {
                // A repeat (`SELECT 1, 2` is two `?column?`) is made unique for the engine
                // with a mark the client never sees.
                let alias = if taken.insert(name.clone()) {
                    name
                } else {
                    format!("{name}{REPEAT_MARK}{i}")
                };
                *item = SelectItem::ExprWithAlias {
                    expr: e.clone(),
                    alias: Ident::with_quote('"', alias),
                };
            }
        }
        if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
            print_reg_type(e);
        }
    }
}

/// The OID of a built-in type named as `regtype` input accepts it (`'int4'::regtype`).
pub fn type_oid(name: &str) -> Option<i32> {
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
        // Pseudo-types, which catalog queries compare return types with (pgcli's
        // `prorettype::regtype != 'trigger'::regtype`).
        "record" => 2249,
        "cstring" => 2275,
        "any" => 2276,
        "anyarray" => 2277,
        "void" => 2278,
        "trigger" => 2279,
        "internal" => 2281,
        "anyelement" => 2283,
        "event_trigger" => 3838,
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
        "regtype" => ("format_type", Some(build::null())),
        "regrole" => ("pg_get_userbyid", None),
        "regnamespace" => ("mesh_regnamespace", None),
        _ => return,
    };
    let mut f = build::call(function, vec![]);
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

/// Marks a repeated output name made unique for DataFusion; [`shown_name`] cuts it off again
/// when the result's columns are described.
const REPEAT_MARK: char = '\u{1f}';

/// A scalar subquery's one column gets the name PostgreSQL gives it. Unnamed, DataFusion names
/// a call by the call (`sum(t.x)`), and a query computing the same call outside the subquery
/// (`SELECT sum(x), (SELECT sum(x) FROM t) FROM t`, a share of a total) then has two columns
/// of one name once the subquery is joined in: an error. Named before the subquery is made to
/// yield one row (`one_row_scalar_subquery`), so the name is the column's, not the wrapper's.
pub(super) fn name_scalar_subquery_column(q: &mut sqlparser::ast::Query) {
    let sqlparser::ast::SetExpr::Select(select) = q.body.as_mut() else {
        return;
    };
    if let [item @ SelectItem::UnnamedExpr(_)] = select.projection.as_mut_slice() {
        let SelectItem::UnnamedExpr(e) = item else {
            return;
        };
        if let Some(name) = postgres_name(e).or_else(|| strong_column_name(e)) {
            *item = build::aliased(e.clone(), &name);
        }
    }
}

/// The name of a plain column reference.
fn strong_column_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Identifier(i) => Some(i.value.clone()),
        Expr::CompoundIdentifier(parts) => parts.last().map(|p| p.value.clone()),
        _ => None,
    }
}

/// DataFusion wants distinct output names; PostgreSQL allows repeats (psql selects `NULL, NULL`,
/// DBeaver `n.oid, n.*`, `SELECT 1 AS a, 2 AS a`). A repeat gets a unique alias, the name
/// PostgreSQL shows plus a marker the client never sees. A column reference beside a star that
/// expands to the same column (`x.col` with `x.*`, any column with a bare `*`) is such a repeat
/// too, though the star's names are only known when it is expanded.
pub(super) fn name_repeated_columns(select: &mut Select) {
    let bare_star = select
        .projection
        .iter()
        .any(|item| matches!(item, SelectItem::Wildcard(_)));
    let starred: std::collections::HashSet<String> = select
        .projection
        .iter()
        .filter_map(|item| match item {
            SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(name), _) => {
                match name.0.last() {
                    Some(ObjectNamePart::Identifier(table)) => Some(crate::ident::folded(table)),
                    _ => None,
                }
            }
            _ => None,
        })
        .collect();
    let in_a_star = |e: &Expr| match e {
        Expr::Identifier(_) => bare_star,
        Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
            bare_star || starred.contains(&crate::ident::folded(&parts[parts.len() - 2]))
        }
        _ => false,
    };
    let mut seen = std::collections::HashSet::new();
    for (i, item) in select.projection.iter_mut().enumerate() {
        if let SelectItem::UnnamedExpr(e) = item {
            if in_a_star(e) {
                let shown = match e {
                    Expr::Identifier(id) => crate::ident::folded(id),
                    Expr::CompoundIdentifier(parts) => {
                        crate::ident::folded(&parts[parts.len() - 1])
                    }
                    _ => unreachable!("in_a_star holds for column references only"),
                };
                *item = SelectItem::ExprWithAlias {
                    expr: e.clone(),
                    alias: Ident::with_quote('"', format!("{shown}{REPEAT_MARK}{i}")),
                };
                continue;
            }
        }
        let (expr, name, shown) = match item {
            SelectItem::UnnamedExpr(e) => {
                let name = match e {
                    Expr::Identifier(id) => Some(crate::ident::folded(id)),
                    Expr::CompoundIdentifier(parts) => parts.last().map(crate::ident::folded),
                    _ => None,
                };
                let key = name.clone().unwrap_or_else(|| e.to_string());
                (e, key, name.unwrap_or_else(|| "?column?".into()))
            }
            SelectItem::ExprWithAlias { expr, alias } => {
                let name = crate::ident::folded(alias);
                (expr, name.clone(), name)
            }
            _ => continue,
        };
        if !seen.insert(name) {
            *item = SelectItem::ExprWithAlias {
                expr: expr.clone(),
                alias: Ident::with_quote('"', format!("{shown}{REPEAT_MARK}{i}")),
            };
        }
    }
}

/// A result column's name as the client sees it (see [`name_repeated_columns`]).
pub fn shown_name(name: &str) -> &str {
    name.split(REPEAT_MARK).next().unwrap_or(name)
}

/// `region.*` over `FROM geo.region`: PostgreSQL finds a table by its unqualified name when it
/// has no alias; DataFusion only by the name as written in FROM, so the star gets that name.
pub(super) fn qualify_table_stars(select: &mut Select) {
    let tables: Vec<ObjectName> = select
        .from
        .iter()
        .flat_map(|t| std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)))
        .filter_map(|r| match r {
            TableFactor::Table {
                name, alias: None, ..
            } if name.0.len() > 1 => Some(name.clone()),
            _ => None,
        })
        .collect();
    for item in select.projection.iter_mut() {
        let SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(star), _) =
            item
        else {
            continue;
        };
        let [ObjectNamePart::Identifier(short)] = star.0.as_slice() else {
            continue;
        };
        let mut matching = tables.iter().filter(
            |t| matches!(t.0.last(), Some(ObjectNamePart::Identifier(i)) if i.value == short.value),
        );
        if let (Some(table), None) = (matching.next(), matching.next()) {
            *star = table.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::ast::{SetExpr, Statement};

    fn renamed(sql: &str) -> String {
        let mut stmt = super::super::parsed(sql);
        let Statement::Query(q) = &mut stmt else {
            panic!("a query")
        };
        let SetExpr::Select(s) = q.body.as_mut() else {
            panic!("a select")
        };
        name_repeated_columns(s);
        s.projection
            .iter()
            .map(|i| i.to_string().replace(REPEAT_MARK, "#"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    #[test]
    fn a_column_beside_its_own_star_is_a_repeat() {
        assert_eq!(
            renamed("SELECT n.oid, n.*, d.description FROM pg_namespace n, pg_description d"),
            "n.oid AS \"oid#0\", n.*, d.description"
        );
        assert_eq!(renamed("SELECT oid, * FROM t"), "oid AS \"oid#0\", *");
        // Another table's column is not in the star.
        assert_eq!(
            renamed("SELECT c.relname, a.* FROM pg_class c, pg_attribute a"),
            "c.relname, a.*"
        );
    }
}
