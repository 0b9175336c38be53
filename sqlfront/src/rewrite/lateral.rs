//! `LATERAL (subquery)` in FROM. DataFusion 53 decorrelates a lateral subquery in one narrow
//! shape only (unaliased, on the right of an inner join, not aggregated), so
//! `FROM r, LATERAL (SELECT … FROM n WHERE n.k = r.k …) x` fails to plan. The shapes people
//! write correlate through equalities `inner = outer` in the subquery's WHERE, and those become
//! shapes the engine plans:
//!
//! - **Rows per outer row** (`SELECT … WHERE n.k = r.k [GROUP BY …] [ORDER BY … LIMIT n]`): the
//!   subquery is computed once for all keys, with each key as a hidden column
//!   (`n.k AS __lateral1_k1`, also in its GROUP BY and in the PARTITION BY of its windows), a
//!   top-n as `row_number()` partitioned by the keys, and joined on `x.__lateral1_k1 = r.k`
//!   (inside a LEFT JOIN's ON, so an outer row without rows keeps its NULLs). Stars over the
//!   result exclude the hidden columns.
//! - **One aggregate row per outer row** (`SELECT count(*) … WHERE n.k = r.k`, no GROUP BY): an
//!   outer row without matches still has that row (`count` is 0, not NULL), which a join would
//!   lose; each of its columns becomes a scalar subquery where it is read, and the engine's
//!   decorrelation of scalar subqueries handles the empty case.
//!
//! A lateral subquery that reads no outer column is an ordinary derived table. Any other
//! correlation is 0A000 with a message that says which forms are supported.

use std::collections::HashSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, DataType, Distinct, ExcludeSelectItem, Expr, GroupByExpr, Ident, Join,
    JoinConstraint, JoinOperator, LimitClause, ObjectNamePart, OrderByExpr, OrderByKind, Query,
    Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr, TableAliasColumnDef, TableFactor,
    Value, Visit, VisitMut, Visitor, VisitorMut, WildcardAdditionalOptions, WindowSpec, WindowType,
};

use super::clauses::fetch_as_limit;
use super::columns::postgres_name;
use super::shapes::{contains_aggregate, for_each_select};
use crate::build;
use crate::error::{Code, FrontError};

/// Rewrites every lateral subquery in the query's own SELECTs (nested queries are visited on
/// their own).
pub(super) fn decorrelate(q: &mut Query) -> Result<(), FrontError> {
    let mut seq = 0;
    if let SetExpr::Select(select) = q.body.as_mut() {
        return in_select(select, q.order_by.as_mut().map(|o| &mut o.kind), &mut seq);
    }
    let mut result = Ok(());
    for_each_select(q.body.as_mut(), &mut |s| {
        if result.is_ok() {
            result = in_select(s, None, &mut seq);
        }
    });
    result
}

/// Where a lateral subquery stands in a FROM list.
#[derive(Clone, Copy)]
enum Place {
    /// `FROM a, LATERAL (…) x`: an item of its own.
    Item(usize),
    /// `FROM a JOIN LATERAL (…) x ON …`: a join of an item.
    Join(usize, usize),
}

fn in_select(
    select: &mut Select,
    mut order_by: Option<&mut OrderByKind>,
    seq: &mut usize,
) -> Result<(), FrontError> {
    while let Some(place) = find_lateral(select) {
        *seq += 1;
        rewrite_one(select, order_by.as_deref_mut(), place, *seq)?;
    }
    Ok(())
}

fn find_lateral(select: &Select) -> Option<Place> {
    for (i, item) in select.from.iter().enumerate() {
        if matches!(item.relation, TableFactor::Derived { lateral: true, .. }) {
            return Some(Place::Item(i));
        }
        for (j, join) in item.joins.iter().enumerate() {
            if matches!(join.relation, TableFactor::Derived { lateral: true, .. }) {
                return Some(Place::Join(i, j));
            }
        }
    }
    None
}

fn factor(select: &mut Select, place: Place) -> &mut TableFactor {
    match place {
        Place::Item(i) => &mut select.from[i].relation,
        Place::Join(i, j) => &mut select.from[i].joins[j].relation,
    }
}

fn factors(select: &Select) -> impl Iterator<Item = &TableFactor> {
    select
        .from
        .iter()
        .flat_map(|t| std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)))
}

/// An identifier as PostgreSQL compares it: unquoted ones are folded to lower case.
fn folded(i: &Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

/// The name a FROM item's columns are qualified with.
fn qualifier(f: &TableFactor) -> Option<Ident> {
    match f {
        TableFactor::Table { alias: Some(a), .. }
        | TableFactor::Derived { alias: Some(a), .. }
        | TableFactor::Function { alias: Some(a), .. }
        | TableFactor::UNNEST { alias: Some(a), .. } => Some(a.name.clone()),
        TableFactor::Table { name, .. } => match name.0.last() {
            Some(ObjectNamePart::Identifier(i)) => Some(i.clone()),
            _ => None,
        },
        _ => None,
    }
}

fn unsupported(what: &str) -> FrontError {
    FrontError::new(
        Code::FeatureNotSupported,
        format!(
            "LATERAL subquery {what}: meshgate plans lateral subqueries correlated through \
             equalities (inner = outer) in their WHERE clause"
        ),
    )
}

/// Column references by the qualifiers of the enclosing SELECT that the subquery does not
/// define itself.
struct Scope {
    outer: HashSet<String>,
    inner: HashSet<String>,
}

impl Scope {
    fn is_outer(&self, parts: &[Ident]) -> bool {
        parts.len() >= 2 && {
            let q = folded(&parts[parts.len() - 2]);
            self.outer.contains(&q) && !self.inner.contains(&q)
        }
    }

    /// (reads an outer column, reads any other column)
    fn reads<V: Visit>(&self, node: &V) -> (bool, bool) {
        struct Reads<'a> {
            scope: &'a Scope,
            outer: bool,
            other: bool,
        }
        impl Visitor for Reads<'_> {
            type Break = ();
            fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
                match e {
                    Expr::CompoundIdentifier(parts) if self.scope.is_outer(parts) => {
                        self.outer = true
                    }
                    Expr::CompoundIdentifier(_) | Expr::Identifier(_) => self.other = true,
                    _ => {}
                }
                ControlFlow::Continue(())
            }
        }
        let mut r = Reads {
            scope: self,
            outer: false,
            other: false,
        };
        let _ = node.visit(&mut r);
        (r.outer, r.other)
    }
}

fn and_parts(e: Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            and_parts(*left, out);
            and_parts(*right, out);
        }
        Expr::Nested(inner)
            if matches!(
                inner.as_ref(),
                Expr::BinaryOp {
                    op: BinaryOperator::And,
                    ..
                }
            ) =>
        {
            and_parts(*inner, out)
        }
        e => out.push(e),
    }
}

fn all_of(parts: Vec<Expr>) -> Option<Expr> {
    parts.into_iter().reduce(build::and)
}

fn integer(e: &Expr) -> Option<u64> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n.parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

fn is_true(e: &Expr) -> bool {
    matches!(e, Expr::Value(v) if v.value == Value::Boolean(true))
}

fn rewrite_one(
    select: &mut Select,
    order_by: Option<&mut OrderByKind>,
    place: Place,
    seq: usize,
) -> Result<(), FrontError> {
    let TableFactor::Derived {
        lateral,
        subquery,
        alias,
        ..
    } = factor(select, place)
    else {
        unreachable!("find_lateral found a derived table");
    };
    *lateral = false;
    let mut sub = subquery.as_ref().clone();
    let alias = alias.clone();
    // The other FROM items' names (a LATERAL item may read those before it; reading one after
    // it fails in the engine as it does in PostgreSQL).
    let me = factor_index(select, place);
    let outer: HashSet<String> = factors(select)
        .enumerate()
        .filter(|(k, _)| *k != me)
        .filter_map(|(_, f)| qualifier(f))
        .map(|i| folded(&i))
        .collect();
    let SetExpr::Select(inner_select) = sub.body.as_ref() else {
        let scope = Scope {
            outer,
            inner: HashSet::new(),
        };
        return if scope.reads(&sub).0 {
            Err(unsupported("over a set operation"))
        } else {
            Ok(())
        };
    };
    let scope = Scope {
        inner: factors(inner_select)
            .filter_map(qualifier)
            .map(|i| folded(&i))
            .collect(),
        outer,
    };
    if !scope.reads(&sub).0 {
        // Not correlated: an ordinary derived table.
        return Ok(());
    }
    let Some(alias) = alias else {
        return Err(unsupported("without an alias"));
    };
    if sub.with.is_some() {
        return Err(unsupported("with a WITH clause"));
    }
    fetch_as_limit(&mut sub);
    if sub.fetch.is_some() {
        return Err(unsupported("with FETCH … WITH TIES"));
    }
    let SetExpr::Select(inner) = sub.body.as_mut() else {
        unreachable!("checked above");
    };
    // `LATERAL (SELECT r.a * 2 AS b) x`: values computed from the outer row, read in place.
    if inner.from.is_empty()
        && inner.selection.is_none()
        && inner.distinct.is_none()
        && !aggregated(inner)
        && sub.limit_clause.is_none()
    {
        return one_row_per_outer_row(select, order_by, place, sub, &alias, None);
    }
    // The outer columns may be read in the WHERE only.
    let where_clause = inner.selection.take();
    if scope.reads(inner.as_ref()).0 || scope.reads(&sub.order_by).0 {
        return Err(unsupported(
            "reading outer columns outside its WHERE clause",
        ));
    }
    let SetExpr::Select(inner) = sub.body.as_mut() else {
        unreachable!("checked above");
    };
    let mut kept = Vec::new();
    let mut keys: Vec<(Expr, Expr)> = Vec::new();
    // Correlated conditions of other forms.
    let mut others = Vec::new();
    let mut conjuncts = Vec::new();
    if let Some(w) = where_clause {
        and_parts(w, &mut conjuncts);
    }
    for c in conjuncts {
        if !scope.reads(&c).0 {
            kept.push(c);
            continue;
        }
        let pair = match &c {
            Expr::BinaryOp {
                left,
                op: BinaryOperator::Eq,
                right,
            } => match (scope.reads(left.as_ref()), scope.reads(right.as_ref())) {
                ((false, _), (true, false)) => Some((*left.clone(), *right.clone())),
                ((true, false), (false, _)) => Some((*right.clone(), *left.clone())),
                _ => None,
            },
            _ => None,
        };
        match pair {
            Some(pair) => keys.push(pair),
            None => others.push(c),
        }
    }
    inner.selection = all_of(kept);
    if !matches!(&inner.group_by, GroupByExpr::Expressions(_, m) if m.is_empty()) {
        return Err(unsupported("with this GROUP BY"));
    }
    if aggregated(inner) && !grouped(inner) {
        if !others.is_empty() {
            return Err(unsupported(
                "of one aggregate row correlated by something other than an equality",
            ));
        }
        one_row_per_outer_row(select, order_by, place, sub, &alias, Some((keys, seq)))
    } else {
        let correlation = Correlation { keys, others };
        rows_per_outer_row(select, place, sub, alias, correlation, &scope, seq)
    }
}

fn aggregated(select: &Select) -> bool {
    select.having.is_some()
        || select.projection.iter().any(|i| match i {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                contains_aggregate(e)
            }
            _ => false,
        })
}

/// How a lateral subquery's rows depend on the outer row: equalities `inner = outer`, and
/// other conditions that read both.
struct Correlation {
    keys: Vec<(Expr, Expr)>,
    others: Vec<Expr>,
}

fn factor_index(select: &Select, place: Place) -> usize {
    let mut k = 0;
    for (i, item) in select.from.iter().enumerate() {
        if matches!(place, Place::Item(p) if p == i) {
            return k;
        }
        k += 1;
        for j in 0..item.joins.len() {
            if matches!(place, Place::Join(p, q) if p == i && q == j) {
                return k;
            }
            k += 1;
        }
    }
    k
}

/// The hidden column names of the `seq`th lateral subquery.
fn key_name(seq: usize, k: usize) -> Ident {
    build::ident(&format!("__lateral{seq}_k{k}"))
}

fn rows_per_outer_row(
    select: &mut Select,
    place: Place,
    mut sub: Query,
    mut alias: sqlparser::ast::TableAlias,
    correlation: Correlation,
    scope: &Scope,
    seq: usize,
) -> Result<(), FrontError> {
    let Correlation { keys, others } = correlation;
    let limit = match sub.limit_clause.take() {
        None => None,
        Some(LimitClause::LimitOffset {
            limit,
            offset,
            limit_by,
        }) if limit_by.is_empty() => {
            let limit = match &limit {
                None => None,
                Some(e) => Some(integer(e).ok_or_else(|| unsupported("with a computed LIMIT"))?),
            };
            let offset = match &offset {
                None => 0,
                Some(o) => {
                    integer(&o.value).ok_or_else(|| unsupported("with a computed OFFSET"))?
                }
            };
            (limit.is_some() || offset > 0).then_some((limit, offset))
        }
        Some(_) => return Err(unsupported("with this LIMIT")),
    };
    let order_by = sub.order_by.take();
    let SetExpr::Select(inner) = sub.body.as_mut() else {
        unreachable!("checked by the caller");
    };
    match &inner.distinct {
        None => {}
        Some(Distinct::Distinct) if limit.is_none() => {}
        Some(Distinct::All) => {}
        Some(_) => return Err(unsupported("with DISTINCT and a LIMIT, or DISTINCT ON")),
    }
    let visible = inner.projection.len();
    let has_star = inner.projection.iter().any(|i| {
        matches!(
            i,
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
        )
    });
    let inner_keys: Vec<Expr> = keys.iter().map(|(i, _)| i.clone()).collect();
    // Windows are computed per outer row: per key.
    struct PerKey<'a>(&'a [Expr], bool, bool);
    impl VisitorMut for PerKey<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            if let Expr::Function(f) = e {
                match &mut f.over {
                    Some(WindowType::WindowSpec(spec)) => {
                        spec.partition_by.splice(0..0, self.0.iter().cloned());
                        self.2 = true;
                    }
                    Some(WindowType::NamedWindow(_)) => self.1 = true,
                    None => {}
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut per_key = PerKey(&inner_keys, false, false);
    let _ = VisitMut::visit(&mut inner.projection, &mut per_key);
    if per_key.1 {
        return Err(unsupported("with a named window"));
    }
    let windowed = per_key.2;
    if let GroupByExpr::Expressions(list, _) = &mut inner.group_by {
        if !list.is_empty() && !inner_keys.is_empty() {
            list.extend(inner_keys.iter().cloned());
        }
    }
    let mut hidden: Vec<Ident> = Vec::new();
    for (k, key) in inner_keys.iter().enumerate() {
        let name = key_name(seq, k + 1);
        inner.projection.push(SelectItem::ExprWithAlias {
            expr: key.clone(),
            alias: name.clone(),
        });
        hidden.push(name);
    }
    // Another condition (`n.k > r.k`) moves into the join, reading the subquery's columns it
    // names through hidden columns; only where the subquery's rows are its FROM's rows.
    let mut conditions = Vec::new();
    if !others.is_empty() {
        if grouped(inner)
            || aggregated(inner)
            || windowed
            || inner.distinct.is_some()
            || limit.is_some()
        {
            return Err(unsupported(
                "correlated by something other than an equality, with GROUP BY, DISTINCT, \
                 a window or a LIMIT",
            ));
        }
        struct Expose<'a> {
            scope: &'a Scope,
            x: &'a Ident,
            seq: usize,
            items: Vec<SelectItem>,
            names: Vec<Ident>,
        }
        impl VisitorMut for Expose<'_> {
            type Break = ();
            fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
                let inner = match e {
                    Expr::CompoundIdentifier(p) => !self.scope.is_outer(p),
                    Expr::Identifier(_) => true,
                    _ => false,
                };
                if inner {
                    let name =
                        build::ident(&format!("__lateral{}_c{}", self.seq, self.names.len() + 1));
                    self.items.push(SelectItem::ExprWithAlias {
                        expr: e.clone(),
                        alias: name.clone(),
                    });
                    self.names.push(name.clone());
                    *e = Expr::CompoundIdentifier(vec![self.x.clone(), name]);
                }
                ControlFlow::Continue(())
            }
        }
        let mut expose = Expose {
            scope,
            x: &alias.name,
            seq,
            items: vec![],
            names: vec![],
        };
        for mut c in others {
            let _ = VisitMut::visit(&mut c, &mut expose);
            conditions.push(c);
        }
        inner.projection.extend(expose.items);
        hidden.extend(expose.names);
    }
    if let Some((limit, offset)) = limit {
        let order: Vec<OrderByExpr> = match order_by.map(|o| o.kind) {
            Some(OrderByKind::Expressions(exprs)) => exprs
                .into_iter()
                .map(|mut o| {
                    o.expr = output_expr(&inner.projection[..visible], o.expr);
                    o
                })
                .collect(),
            Some(OrderByKind::All(_)) => return Err(unsupported("with ORDER BY ALL")),
            None => vec![],
        };
        let mut number = build::call("row_number", vec![]);
        if let Expr::Function(f) = &mut number {
            f.over = Some(WindowType::WindowSpec(WindowSpec {
                window_name: None,
                partition_by: inner_keys.clone(),
                order_by: order,
                window_frame: None,
            }));
        }
        let rn = build::ident(&format!("__lateral{seq}_rn"));
        inner.projection.push(SelectItem::ExprWithAlias {
            expr: number,
            alias: rn.clone(),
        });
        hidden.push(rn.clone());
        let rn_col = Expr::Identifier(rn);
        let mut bounds = vec![Expr::BinaryOp {
            left: Box::new(rn_col.clone()),
            op: BinaryOperator::Gt,
            right: Box::new(build::number(offset as i64)),
        }];
        if let Some(limit) = limit {
            bounds.push(Expr::BinaryOp {
                left: Box::new(rn_col),
                op: BinaryOperator::LtEq,
                right: Box::new(build::number((offset + limit) as i64)),
            });
        }
        let wrapper = format!("__lateral{seq}");
        sub = build::select(
            vec![build::wildcard()],
            vec![build::derived(sub, &wrapper, &[])],
            all_of(bounds),
        );
    }
    if !alias.columns.is_empty() {
        if has_star || alias.columns.len() != visible {
            return Err(unsupported(
                "with column aliases for a star or for only some of its columns",
            ));
        }
        alias
            .columns
            .extend(hidden.iter().map(|h| TableAliasColumnDef {
                name: h.clone(),
                data_type: None,
            }));
    }
    let equalities = keys
        .iter()
        .zip(&hidden)
        .map(|((_, outer), h)| Expr::BinaryOp {
            left: Box::new(Expr::CompoundIdentifier(vec![
                alias.name.clone(),
                h.clone(),
            ])),
            op: BinaryOperator::Eq,
            right: Box::new(outer.clone()),
        });
    let on = all_of(equalities.chain(conditions).collect())
        .expect("a correlated subquery has a condition");
    let x = alias.name.clone();
    *factor(select, place) = TableFactor::Derived {
        lateral: false,
        subquery: Box::new(sub),
        alias: Some(alias),
        sample: None,
    };
    match place {
        Place::Item(_) => {
            select.selection = Some(match select.selection.take() {
                Some(w) => build::and(build::nested(w), on),
                None => on,
            });
        }
        Place::Join(i, j) => {
            let join = &mut select.from[i].joins[j];
            join.join_operator = match std::mem::replace(
                &mut join.join_operator,
                JoinOperator::CrossJoin(JoinConstraint::None),
            ) {
                JoinOperator::CrossJoin(_) => JoinOperator::Inner(JoinConstraint::On(on)),
                JoinOperator::Join(JoinConstraint::On(c))
                | JoinOperator::Inner(JoinConstraint::On(c)) => {
                    JoinOperator::Inner(JoinConstraint::On(build::and(build::nested(c), on)))
                }
                JoinOperator::Left(JoinConstraint::On(c))
                | JoinOperator::LeftOuter(JoinConstraint::On(c)) => {
                    JoinOperator::LeftOuter(JoinConstraint::On(build::and(build::nested(c), on)))
                }
                _ => return Err(unsupported("in this kind of join")),
            };
        }
    }
    // `*` and `x.*` show the subquery's own columns only.
    for item in select.projection.iter_mut() {
        let options = match item {
            SelectItem::Wildcard(o) => o,
            SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(n), o)
                if matches!(n.0.as_slice(), [ObjectNamePart::Identifier(q)] if folded(q) == folded(&x)) =>
            {
                o
            }
            _ => continue,
        };
        if options.opt_exclude.is_some() {
            return Err(unsupported("under a star with EXCLUDE"));
        }
        options.opt_exclude = Some(ExcludeSelectItem::Multiple(hidden.clone()));
    }
    Ok(())
}

/// An ORDER BY term as the expression it names: a select-list alias or position stands for
/// that item's expression (a window's ORDER BY cannot name them).
fn output_expr(projection: &[SelectItem], e: Expr) -> Expr {
    if let Some(n) = integer(&e) {
        if let Some(SelectItem::UnnamedExpr(x) | SelectItem::ExprWithAlias { expr: x, .. }) =
            (n as usize).checked_sub(1).and_then(|i| projection.get(i))
        {
            return x.clone();
        }
    }
    if let Expr::Identifier(name) = &e {
        for item in projection {
            if let SelectItem::ExprWithAlias { expr, alias } = item {
                if folded(alias) == folded(name) {
                    return expr.clone();
                }
            }
        }
    }
    e
}

fn one_row_per_outer_row(
    select: &mut Select,
    order_by: Option<&mut OrderByKind>,
    place: Place,
    mut sub: Query,
    alias: &sqlparser::ast::TableAlias,
    keys: Option<(Vec<(Expr, Expr)>, usize)>,
) -> Result<(), FrontError> {
    match &sub.limit_clause {
        None => {}
        Some(LimitClause::LimitOffset {
            limit: Some(l),
            offset: None,
            limit_by,
        }) if limit_by.is_empty() && integer(l).is_some_and(|n| n >= 1) => {}
        Some(_) => return Err(unsupported("of one aggregate row with a LIMIT or OFFSET")),
    }
    sub.limit_clause = None;
    sub.order_by = None;
    let SetExpr::Select(inner) = sub.body.as_mut() else {
        unreachable!("checked by the caller");
    };
    if inner.distinct.is_some() || inner.having.is_some() {
        return Err(unsupported("of one aggregate row with DISTINCT or HAVING"));
    }
    let mut columns: Vec<(String, Expr)> = Vec::new();
    let items = std::mem::take(&mut inner.projection);
    for (k, item) in items.into_iter().enumerate() {
        let (expr, name) = match item {
            SelectItem::ExprWithAlias { expr, alias } => (expr, folded(&alias)),
            SelectItem::UnnamedExpr(expr) => {
                let name = match &expr {
                    Expr::Identifier(i) => folded(i),
                    Expr::CompoundIdentifier(p) => p.last().map_or(String::new(), folded),
                    e => postgres_name(e).unwrap_or_else(|| "?column?".into()),
                };
                (expr, name)
            }
            _ => return Err(unsupported("of one aggregate row with a star")),
        };
        let name = alias.columns.get(k).map_or(name, |c| folded(&c.name));
        let Some((_, seq)) = &keys else {
            columns.push((name, build::nested(expr)));
            continue;
        };
        // Read from the grouped subquery, or, where the outer row has no rows, the value the
        // expression has over none (`count` 0, other aggregates NULL).
        let v = build::ident(&format!("__lateral{seq}_v{}", k + 1));
        let read = Expr::CompoundIdentifier(vec![alias.name.clone(), v.clone()]);
        let empty = over_no_rows(&expr);
        let value = if matches!(&empty, Expr::Value(v) if v.value == Value::Null) {
            read
        } else {
            let present = Expr::CompoundIdentifier(vec![alias.name.clone(), key_name(*seq, 1)]);
            // The column's own value first: a branch's type decides how the column is
            // described.
            build::case_when(Expr::IsNotNull(Box::new(present)), read, empty)
        };
        inner
            .projection
            .push(SelectItem::ExprWithAlias { expr, alias: v });
        columns.push((name, value));
    }
    // Computed once per key and left-joined: every outer row keeps its one row.
    let joined = match keys {
        None => None,
        Some((keys, seq)) => {
            let mut group = Vec::new();
            let mut on = Vec::new();
            for (k, (inner_key, outer_key)) in keys.into_iter().enumerate() {
                let name = key_name(seq, k + 1);
                inner.projection.push(SelectItem::ExprWithAlias {
                    expr: inner_key.clone(),
                    alias: name.clone(),
                });
                group.push(inner_key);
                on.push(Expr::BinaryOp {
                    left: Box::new(Expr::CompoundIdentifier(vec![alias.name.clone(), name])),
                    op: BinaryOperator::Eq,
                    right: Box::new(outer_key),
                });
            }
            inner.group_by = GroupByExpr::Expressions(group, vec![]);
            let derived = TableFactor::Derived {
                lateral: false,
                subquery: Box::new(sub),
                alias: Some(sqlparser::ast::TableAlias {
                    explicit: true,
                    name: alias.name.clone(),
                    columns: vec![],
                }),
                sample: None,
            };
            Some((
                derived,
                all_of(on).expect("a correlated subquery has a key"),
            ))
        }
    };
    // `*` is every FROM item's columns in order, the subquery's where it stood.
    let mut star = Vec::new();
    let me = factor_index(select, place);
    for (k, f) in factors(select).enumerate() {
        if k == me {
            star.extend(columns.iter().map(|(name, e)| SelectItem::ExprWithAlias {
                expr: e.clone(),
                alias: Ident::with_quote('"', name.clone()),
            }));
        } else if let Some(q) = qualifier(f) {
            star.push(SelectItem::QualifiedWildcard(
                SelectItemQualifiedWildcardKind::ObjectName(sqlparser::ast::ObjectName(vec![
                    ObjectNamePart::Identifier(q),
                ])),
                WildcardAdditionalOptions::default(),
            ));
        } else {
            star.clear();
            break;
        }
    }
    // The subquery becomes a left join (its values inlined instead when it reads no table);
    // an inner join's condition becomes a filter.
    let condition = match place {
        Place::Item(i) => {
            if !select.from[i].joins.is_empty() {
                return Err(unsupported("of one aggregate row followed by joins"));
            }
            select.from.remove(i);
            if let Some((derived, on)) = joined {
                // The items before it become one join tree, which the join's condition sees.
                let mut before = select.from.drain(..i);
                let mut tree = before.next().expect("a lateral item follows another");
                for t in before {
                    tree.joins.push(Join {
                        relation: t.relation,
                        global: false,
                        join_operator: JoinOperator::CrossJoin(JoinConstraint::None),
                    });
                    tree.joins.extend(t.joins);
                }
                tree.joins.push(Join {
                    relation: derived,
                    global: false,
                    join_operator: JoinOperator::LeftOuter(JoinConstraint::On(on)),
                });
                select.from.insert(0, tree);
            }
            None
        }
        Place::Join(i, j) => {
            let join = match joined {
                None => select.from[i].joins.remove(j),
                Some((derived, on)) => {
                    let slot = &mut select.from[i].joins[j];
                    let op = std::mem::replace(
                        &mut slot.join_operator,
                        JoinOperator::LeftOuter(JoinConstraint::On(on)),
                    );
                    Join {
                        relation: std::mem::replace(&mut slot.relation, derived),
                        global: false,
                        join_operator: op,
                    }
                }
            };
            match join.join_operator {
                JoinOperator::CrossJoin(_) => None,
                JoinOperator::Join(JoinConstraint::On(c))
                | JoinOperator::Inner(JoinConstraint::On(c)) => Some(c),
                // One row per outer row: a left join matches it whenever the condition holds.
                JoinOperator::Left(JoinConstraint::On(c))
                | JoinOperator::LeftOuter(JoinConstraint::On(c))
                    if is_true(&c) =>
                {
                    None
                }
                _ => return Err(unsupported("of one aggregate row in this kind of join")),
            }
        }
    };
    let x = folded(&alias.name);
    let names: Vec<String> = columns.iter().map(|(n, _)| n.clone()).collect();
    let value_of = |parts: &[Ident]| -> Option<Expr> {
        let (col, q) = match parts {
            [c] => (c, None),
            [.., q, c] => (c, Some(q)),
            [] => return None,
        };
        if q.is_some_and(|q| folded(q) != x) {
            return None;
        }
        let col = folded(col);
        names
            .iter()
            .position(|n| *n == col)
            .map(|k| columns[k].1.clone())
    };
    // Stars: the other FROM items' columns, and the subquery's where it stood.
    let mut projection = Vec::new();
    for item in std::mem::take(&mut select.projection) {
        match item {
            SelectItem::Wildcard(o) => {
                if star.is_empty() || !plain(&o) {
                    return Err(unsupported("of one aggregate row under this star"));
                }
                projection.extend(star.iter().cloned());
            }
            SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(n), _)
                if matches!(n.0.as_slice(), [ObjectNamePart::Identifier(q)] if folded(q) == x) =>
            {
                for (name, e) in &columns {
                    projection.push(SelectItem::ExprWithAlias {
                        expr: e.clone(),
                        alias: Ident::with_quote('"', name.clone()),
                    });
                }
            }
            SelectItem::UnnamedExpr(Expr::Identifier(i))
                if value_of(std::slice::from_ref(&i)).is_some() =>
            {
                let e = value_of(std::slice::from_ref(&i)).expect("checked");
                let alias = Ident::with_quote('"', folded(&i));
                projection.push(SelectItem::ExprWithAlias { expr: e, alias });
            }
            SelectItem::UnnamedExpr(Expr::CompoundIdentifier(p)) if value_of(&p).is_some() => {
                let e = value_of(&p).expect("checked");
                let name = p
                    .last()
                    .map(folded)
                    .expect("a compound identifier has parts");
                let alias = Ident::with_quote('"', name);
                projection.push(SelectItem::ExprWithAlias { expr: e, alias });
            }
            other => projection.push(other),
        }
    }
    select.projection = projection;
    if let Some(c) = condition {
        if !is_true(&c) {
            select.selection = Some(match select.selection.take() {
                Some(w) => build::and(build::nested(w), c),
                None => c,
            });
        }
    }
    // Every other read of its columns.
    struct Substitute<'a> {
        value_of: &'a dyn Fn(&[Ident]) -> Option<Expr>,
        depth: usize,
    }
    impl VisitorMut for Substitute<'_> {
        type Break = ();
        fn pre_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
            self.depth += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
            self.depth -= 1;
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            // A bare name inside a nested query is that query's own column.
            let value = match e {
                Expr::CompoundIdentifier(p) => (self.value_of)(p),
                Expr::Identifier(i) if self.depth == 0 => (self.value_of)(std::slice::from_ref(i)),
                _ => None,
            };
            if let Some(v) = value {
                *e = v;
            }
            ControlFlow::Continue(())
        }
    }
    let mut s = Substitute {
        value_of: &value_of,
        depth: 0,
    };
    for item in select.projection.iter_mut() {
        if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
            let _ = VisitMut::visit(e, &mut s);
        }
    }
    let _ = VisitMut::visit(&mut select.selection, &mut s);
    let _ = VisitMut::visit(&mut select.group_by, &mut s);
    let _ = VisitMut::visit(&mut select.having, &mut s);
    for join in select.from.iter_mut().flat_map(|f| f.joins.iter_mut()) {
        let _ = VisitMut::visit(&mut join.join_operator, &mut s);
    }
    if let Some(o) = order_by {
        // A sort cannot hold a subquery: a column the select list shows is sorted by its name.
        let shown: HashSet<String> = select
            .projection
            .iter()
            .filter_map(|i| match i {
                SelectItem::ExprWithAlias { alias, .. } => Some(folded(alias)),
                _ => None,
            })
            .collect();
        if let OrderByKind::Expressions(exprs) = o {
            for term in exprs.iter_mut() {
                let name = match &term.expr {
                    Expr::Identifier(i) if value_of(std::slice::from_ref(i)).is_some() => Some(i),
                    Expr::CompoundIdentifier(p) if value_of(p).is_some() => p.last(),
                    _ => None,
                };
                match name.map(folded).filter(|n| shown.contains(n)) {
                    Some(name) => term.expr = Expr::Identifier(Ident::with_quote('"', name)),
                    None => {
                        let _ = VisitMut::visit(&mut term.expr, &mut s);
                    }
                }
            }
        }
    }
    Ok(())
}

/// A star without EXCLUDE, REPLACE and the like.
fn plain(o: &WildcardAdditionalOptions) -> bool {
    o.opt_ilike.is_none()
        && o.opt_exclude.is_none()
        && o.opt_except.is_none()
        && o.opt_replace.is_none()
        && o.opt_rename.is_none()
}

fn grouped(select: &Select) -> bool {
    matches!(&select.group_by, GroupByExpr::Expressions(e, _) if !e.is_empty())
}

/// The value of an aggregate expression over no rows: `count` is 0, other aggregates are NULL.
fn over_no_rows(e: &Expr) -> Expr {
    struct Empty;
    impl VisitorMut for Empty {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            if let Expr::Function(f) = e {
                if f.over.is_none() && contains_aggregate(&Expr::Function(f.clone())) {
                    let name = f.name.to_string().to_ascii_lowercase();
                    *e = if name == "count" {
                        build::cast(build::number(0), DataType::BigInt(None))
                    } else {
                        build::null()
                    };
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut e = e.clone();
    let _ = VisitMut::visit(&mut e, &mut Empty);
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::ast::Statement;

    fn rewritten(sql: &str) -> Result<String, FrontError> {
        let Statement::Query(mut q) = super::super::parsed(sql) else {
            panic!("a query")
        };
        decorrelate(&mut q)?;
        // The hidden names are quoted identifiers: compared without the quotes.
        Ok(q.to_string().replace('"', ""))
    }

    #[test]
    fn rows_per_outer_row_join_on_their_key() {
        assert_eq!(
            rewritten(
                "SELECT r.a, x.* FROM r LEFT JOIN LATERAL \
                 (SELECT n.b FROM n WHERE n.k = r.k ORDER BY n.b DESC LIMIT 2) x ON true"
            )
            .unwrap(),
            "SELECT r.a, x.* EXCLUDE (__lateral1_k1, __lateral1_rn) FROM r LEFT OUTER JOIN \
             (SELECT * FROM (SELECT n.b, n.k AS __lateral1_k1, row_number() OVER \
             (PARTITION BY n.k ORDER BY n.b DESC) AS __lateral1_rn FROM n) AS __lateral1 \
             WHERE __lateral1_rn > 0 AND __lateral1_rn <= 2) x \
             ON (true) AND x.__lateral1_k1 = r.k"
        );
    }

    #[test]
    fn one_aggregate_row_per_outer_row_keeps_outer_rows_without_matches() {
        assert_eq!(
            rewritten(
                "SELECT r.a, x.c FROM r, LATERAL (SELECT count(*) AS c FROM n WHERE n.k = r.k) x"
            )
            .unwrap(),
            "SELECT r.a, CASE WHEN x.__lateral1_k1 IS NOT NULL THEN x.__lateral1_v1 \
             ELSE CAST(0 AS BIGINT) END AS c FROM r LEFT OUTER JOIN \
             (SELECT count(*) AS __lateral1_v1, n.k AS __lateral1_k1 FROM n GROUP BY n.k) AS x \
             ON x.__lateral1_k1 = r.k"
        );
    }

    #[test]
    fn uncorrelated_lateral_is_a_derived_table() {
        assert_eq!(
            rewritten("SELECT * FROM r, LATERAL (SELECT 1 AS one) x").unwrap(),
            "SELECT * FROM r, (SELECT 1 AS one) x"
        );
    }

    #[test]
    fn other_correlations_are_not_supported() {
        let e = rewritten("SELECT * FROM r, LATERAL (SELECT count(*) FROM n WHERE n.k > r.k) x")
            .unwrap_err();
        assert_eq!(e.code, Code::FeatureNotSupported);
        assert!(
            e.message.contains("other than an equality"),
            "{}",
            e.message
        );
    }
}
