//! Syntax trees built by meshgate itself: the queries a write runs, a policy view, a rewrite's
//! replacement. Built from nodes, never from text, so a user's expression is carried as the
//! tree it was parsed into and can never be re-read as something else.

use sqlparser::ast::{
    helpers::attached_token::AttachedToken, BinaryOperator, CastKind, DataType, Expr, Function,
    FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, GroupByExpr, Ident,
    ObjectName, ObjectNamePart, Query, Select, SelectFlavor, SelectItem, SetExpr, SetOperator,
    SetQuantifier, TableAlias, TableAliasColumnDef, TableFactor, TableWithJoins, UnaryOperator,
    Value, WildcardAdditionalOptions,
};

/// A quoted identifier: exactly this name, whatever its case.
pub fn ident(name: &str) -> Ident {
    Ident::with_quote('"', name)
}

/// `a.b.c` from quoted parts.
pub fn object_name(parts: &[&str]) -> ObjectName {
    ObjectName(
        parts
            .iter()
            .map(|p| ObjectNamePart::Identifier(ident(p)))
            .collect(),
    )
}

/// `qualifier.column`, the column quoted.
pub fn column(qualifier: Option<&ObjectName>, name: &str) -> Expr {
    match qualifier {
        None => Expr::Identifier(ident(name)),
        Some(q) => {
            let mut parts: Vec<Ident> = q.0.iter().filter_map(|p| p.as_ident().cloned()).collect();
            parts.push(ident(name));
            Expr::CompoundIdentifier(parts)
        }
    }
}

pub fn number(n: i64) -> Expr {
    Expr::value(Value::Number(n.to_string(), false))
}

pub fn string(s: &str) -> Expr {
    Expr::value(Value::SingleQuotedString(s.to_string()))
}

pub fn null() -> Expr {
    Expr::value(Value::Null)
}

pub fn boolean(b: bool) -> Expr {
    Expr::value(Value::Boolean(b))
}

/// `(e)`: keeps a user's expression one operand whatever operators surround it.
pub fn nested(e: Expr) -> Expr {
    Expr::Nested(Box::new(e))
}

pub fn not(e: Expr) -> Expr {
    Expr::UnaryOp {
        op: UnaryOperator::Not,
        expr: Box::new(nested(e)),
    }
}

pub fn and(a: Expr, b: Expr) -> Expr {
    Expr::BinaryOp {
        left: Box::new(a),
        op: BinaryOperator::And,
        right: Box::new(b),
    }
}

/// `(a) OR (b) OR …`; `false` for none.
pub fn any_of(exprs: impl IntoIterator<Item = Expr>) -> Expr {
    exprs
        .into_iter()
        .map(nested)
        .reduce(|a, b| Expr::BinaryOp {
            left: Box::new(a),
            op: BinaryOperator::Or,
            right: Box::new(b),
        })
        .unwrap_or_else(|| boolean(false))
}

/// `coalesce((p), false)`: whether a predicate is true, NULL counting as not.
pub fn is_true(p: Expr) -> Expr {
    call("coalesce", vec![nested(p), boolean(false)])
}

/// `name(args…)`.
pub fn call(name: &str, args: Vec<Expr>) -> Expr {
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
}

/// `count(*)`.
pub fn count_star() -> Expr {
    let mut f = call("count", vec![]);
    if let Expr::Function(Function {
        args: FunctionArguments::List(list),
        ..
    }) = &mut f
    {
        list.args
            .push(FunctionArg::Unnamed(FunctionArgExpr::Wildcard));
    }
    f
}

/// `CAST(e AS t)`.
pub fn cast(e: Expr, data_type: DataType) -> Expr {
    Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(e),
        data_type,
        array: false,
        format: None,
    }
}

/// `CASE WHEN when THEN then ELSE otherwise END`.
pub fn case_when(when: Expr, then: Expr, otherwise: Expr) -> Expr {
    Expr::Case {
        case_token: AttachedToken::empty(),
        end_token: AttachedToken::empty(),
        operand: None,
        conditions: vec![sqlparser::ast::CaseWhen {
            condition: when,
            result: then,
        }],
        else_result: Some(Box::new(otherwise)),
    }
}

/// `EXISTS (q)`.
pub fn exists(q: Query) -> Expr {
    Expr::Exists {
        subquery: Box::new(q),
        negated: false,
    }
}

pub fn item(e: Expr) -> SelectItem {
    SelectItem::UnnamedExpr(e)
}

pub fn aliased(e: Expr, alias: &str) -> SelectItem {
    SelectItem::ExprWithAlias {
        expr: e,
        alias: ident(alias),
    }
}

pub fn wildcard() -> SelectItem {
    SelectItem::Wildcard(WildcardAdditionalOptions::default())
}

/// A relation in FROM, by name.
pub fn table(name: ObjectName) -> TableWithJoins {
    TableWithJoins {
        relation: TableFactor::Table {
            name,
            alias: None,
            args: None,
            with_hints: vec![],
            version: None,
            with_ordinality: false,
            partitions: vec![],
            json_path: None,
            sample: None,
            index_hints: vec![],
        },
        joins: vec![],
    }
}

/// `(q) AS alias(columns…)` in FROM.
pub fn derived(q: Query, alias: &str, columns: &[&str]) -> TableWithJoins {
    TableWithJoins {
        relation: TableFactor::Derived {
            lateral: false,
            subquery: Box::new(q),
            alias: Some(TableAlias {
                explicit: true,
                name: ident(alias),
                columns: columns
                    .iter()
                    .map(|c| TableAliasColumnDef {
                        name: ident(c),
                        data_type: None,
                    })
                    .collect(),
            }),
            sample: None,
        },
        joins: vec![],
    }
}

/// `SELECT projection FROM from WHERE selection`.
pub fn select(
    projection: Vec<SelectItem>,
    from: Vec<TableWithJoins>,
    selection: Option<Expr>,
) -> Query {
    query(SetExpr::Select(Box::new(Select {
        select_token: AttachedToken::empty(),
        optimizer_hint: None,
        distinct: None,
        select_modifiers: None,
        top: None,
        top_before_distinct: false,
        projection,
        exclude: None,
        into: None,
        from,
        lateral_views: vec![],
        prewhere: None,
        selection,
        connect_by: vec![],
        group_by: GroupByExpr::Expressions(vec![], vec![]),
        cluster_by: vec![],
        distribute_by: vec![],
        sort_by: vec![],
        having: None,
        named_window: vec![],
        qualify: None,
        window_before_qualify: false,
        value_table_mode: None,
        flavor: SelectFlavor::Standard,
    })))
}

/// `a UNION ALL b UNION ALL …`.
pub fn union_all(parts: Vec<Query>) -> Option<Query> {
    parts
        .into_iter()
        .map(|q| SetExpr::Query(Box::new(q)))
        .reduce(|left, right| SetExpr::SetOperation {
            op: SetOperator::Union,
            set_quantifier: SetQuantifier::All,
            left: Box::new(left),
            right: Box::new(right),
        })
        .map(query)
}

/// A query of this body, with no WITH, ORDER BY or LIMIT.
pub fn query(body: SetExpr) -> Query {
    Query {
        with: None,
        body: Box::new(body),
        order_by: None,
        limit_clause: None,
        fetch: None,
        locks: vec![],
        for_clause: None,
        settings: None,
        format_clause: None,
        pipe_operators: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trees_print_as_the_sql_they_stand_for() {
        let users_predicate = Expr::BinaryOp {
            left: Box::new(Expr::Identifier(Ident::new("a"))),
            op: BinaryOperator::Eq,
            right: Box::new(number(1)),
        };
        let q = select(
            vec![item(count_star())],
            vec![table(object_name(&["sales", "orders"]))],
            Some(not(is_true(users_predicate))),
        );
        assert_eq!(
            q.to_string(),
            "SELECT count(*) FROM \"sales\".\"orders\" WHERE NOT (coalesce((a = 1), false))"
        );
        assert_eq!(any_of([number(1), number(2)]).to_string(), "(1) OR (2)");
        assert_eq!(any_of(vec![]).to_string(), "false");
    }
}
