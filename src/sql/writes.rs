//! Written statements as queries: DELETE, UPDATE and MERGE on a created table are copy-on-write
//! rewrites, so each becomes the queries whose rows are the table's new content, and the
//! queries whose `count(*)` is the number the command tag reports. Built as syntax trees from
//! the statement's own parts (its relations, predicates and expressions are carried over as
//! parsed), then planned by the front end like any query, under the writer's policies.
//!
//! ```text
//!  DELETE FROM t WHERE p   rows:  SELECT * FROM t WHERE NOT coalesce((p), false)
//!                          count: SELECT count(*) FROM t WHERE coalesce((p), false)
//!  UPDATE t SET c = e …    rows:  SELECT CASE WHEN coalesce((p), false) THEN (e) ELSE t.c END, …
//!  UPDATE … FROM s         rows:  untouched rows UNION ALL changed rows (one per match)
//!  MERGE INTO t USING s    rows:  unmatched ∪ matched (updated or kept) ∪ inserted
//! ```

use std::collections::HashMap;

use datafusion::arrow::datatypes::Schema;
use datafusion::sql::sqlparser::ast::{
    self, Expr, Ident, Join, JoinConstraint, JoinOperator, ObjectName, ObjectNamePart, Query,
    TableFactor, TableWithJoins,
};

use super::build;
use super::names::parts;
use crate::error::{SqlState, UserError};

/// A copy-on-write rewrite of a table.
#[derive(Debug)]
pub struct Rewrite {
    /// The table's rows after the statement, stacked in order (each in the table's columns).
    pub rows: Vec<Query>,
    /// Queries whose counts add up to the rows the statement affects.
    pub count: Vec<Query>,
}

/// The statement's kind for a refusal of something writes cannot do (yet).
pub fn unsupported(what: &str, hint: &str) -> UserError {
    UserError::unsupported(format!("{what} is not supported in data products"))
        .with_hint(hint.to_string())
}

fn from(relation: TableFactor) -> TableWithJoins {
    TableWithJoins {
        relation,
        joins: vec![],
    }
}

/// `target JOIN source ON on`.
fn joined(target: &TableFactor, source: &TableFactor, on: &Expr) -> TableWithJoins {
    TableWithJoins {
        relation: target.clone(),
        joins: vec![Join {
            relation: source.clone(),
            global: false,
            join_operator: JoinOperator::Join(JoinConstraint::On(on.clone())),
        }],
    }
}

fn select_one() -> Vec<ast::SelectItem> {
    vec![build::item(build::number(1))]
}

fn count_of(from: Vec<TableWithJoins>, selection: Option<Expr>) -> Query {
    build::select(vec![build::item(build::count_star())], from, selection)
}

/// How the statement names the table's columns: by its alias, else by its name.
fn qualifier(name: &ObjectName, alias: &Option<ast::TableAlias>) -> ObjectName {
    match alias {
        Some(a) => ObjectName(vec![ObjectNamePart::Identifier(a.name.clone())]),
        None => name.clone(),
    }
}

/// `SET c = e, …` of an UPDATE or a MERGE's UPDATE: column → expression, each column one of
/// the table's.
fn assignments(
    list: &[ast::Assignment],
    schema: &Schema,
    table: &str,
) -> Result<HashMap<String, Expr>, UserError> {
    let mut set = HashMap::new();
    for a in list {
        let ast::AssignmentTarget::ColumnName(c) = &a.target else {
            return Err(unsupported(
                "UPDATE of a column tuple",
                "assign columns one by one",
            ));
        };
        let c = parts(c).pop().unwrap_or_default();
        if schema.field_with_name(&c).is_err() {
            return Err(UserError::new(
                SqlState::UndefinedColumn,
                format!("column \"{c}\" of relation \"{table}\" does not exist"),
            ));
        }
        set.insert(c, a.value.clone());
    }
    Ok(set)
}

/// The table's columns, each the assigned expression where `when` holds (always when None).
fn updated(
    schema: &Schema,
    q: &ObjectName,
    set: &HashMap<String, Expr>,
    when: Option<&Expr>,
) -> Vec<ast::SelectItem> {
    schema
        .fields()
        .iter()
        .map(|f| {
            let col = build::column(Some(q), f.name());
            build::item(match (set.get(f.name()), when) {
                (Some(e), Some(p)) => {
                    build::case_when(build::is_true(p.clone()), build::nested(e.clone()), col)
                }
                (Some(e), None) => build::nested(e.clone()),
                (None, _) => col,
            })
        })
        .collect()
}

fn all_columns(schema: &Schema, q: &ObjectName) -> Vec<ast::SelectItem> {
    updated(schema, q, &HashMap::new(), None)
}

/// `DELETE FROM t [USING …] [WHERE p]`: None when every row goes (no predicate).
pub fn delete(d: &ast::Delete) -> Result<(ObjectName, Option<Rewrite>), UserError> {
    let tables = match &d.from {
        ast::FromTable::WithFromKeyword(t) | ast::FromTable::WithoutKeyword(t) => t,
    };
    let [twj] = tables.as_slice() else {
        return Err(unsupported(
            "DELETE from several tables",
            "delete from one table",
        ));
    };
    let TableFactor::Table { name, .. } = &twj.relation else {
        return Err(unsupported(
            "DELETE from this kind of relation",
            "delete from a table",
        ));
    };
    if d.returning.is_some() || d.limit.is_some() || !d.order_by.is_empty() {
        return Err(unsupported(
            "DELETE … RETURNING / ORDER BY / LIMIT",
            "delete with a WHERE clause",
        ));
    }
    // The relation as written, alias included: the predicate may name it either way.
    let relation = || from(twj.relation.clone());
    let predicate = match (&d.using, &d.selection) {
        (Some(using), sel) => Some(build::exists(build::select(
            select_one(),
            using.clone(),
            sel.clone(),
        ))),
        (None, Some(sel)) => Some(sel.clone()),
        (None, None) => None,
    };
    let rewrite = predicate.map(|p| Rewrite {
        rows: vec![build::select(
            vec![build::wildcard()],
            vec![relation()],
            Some(build::not(build::is_true(p.clone()))),
        )],
        count: vec![count_of(vec![relation()], Some(build::is_true(p)))],
    });
    Ok((name.clone(), rewrite))
}

/// The table a whole-table DELETE empties, counted first.
pub fn count_all(name: &ObjectName) -> Query {
    count_of(vec![build::table(name.clone())], None)
}

/// The name of the table an UPDATE writes.
pub fn update_target(u: &ast::Update) -> Result<&ObjectName, UserError> {
    if u.returning.is_some() || u.limit.is_some() || !u.table.joins.is_empty() {
        return Err(unsupported(
            "UPDATE … RETURNING / LIMIT / JOIN",
            "update with SET, FROM and WHERE",
        ));
    }
    match &u.table.relation {
        TableFactor::Table { name, .. } => Ok(name),
        _ => Err(unsupported(
            "UPDATE of this kind of relation",
            "update a table",
        )),
    }
}

/// `UPDATE t [AS a] SET c = e, … [FROM s] [WHERE p]`. (With FROM, a row matching several
/// source rows is written once for each, where PostgreSQL would pick one.)
pub fn update(u: &ast::Update, schema: &Schema, table: &str) -> Result<Rewrite, UserError> {
    let name = update_target(u)?;
    let TableFactor::Table { alias, .. } = &u.table.relation else {
        unreachable!("update_target accepted only tables");
    };
    let q = qualifier(name, alias);
    let set = assignments(&u.assignments, schema, table)?;
    let pred = u.selection.clone().unwrap_or_else(|| build::boolean(true));
    let relation = || from(u.table.relation.clone());
    let sources = match &u.from {
        Some(ast::UpdateTableFromKind::AfterSet(f))
        | Some(ast::UpdateTableFromKind::BeforeSet(f)) => Some(f.clone()),
        None => None,
    };
    Ok(match sources {
        None => Rewrite {
            rows: vec![build::select(
                updated(schema, &q, &set, Some(&pred)),
                vec![relation()],
                None,
            )],
            count: vec![count_of(vec![relation()], Some(build::is_true(pred)))],
        },
        Some(sources) => {
            let mut with_sources = vec![relation()];
            with_sources.extend(sources.iter().cloned());
            let untouched = build::not(build::exists(build::select(
                select_one(),
                sources,
                Some(build::is_true(pred.clone())),
            )));
            Rewrite {
                rows: vec![
                    build::select(all_columns(schema, &q), vec![relation()], Some(untouched)),
                    build::select(
                        updated(schema, &q, &set, None),
                        with_sources.clone(),
                        Some(build::is_true(pred.clone())),
                    ),
                ],
                count: vec![count_of(with_sources, Some(build::is_true(pred)))],
            }
        }
    })
}

/// The name of the table a MERGE writes.
pub fn merge_target(m: &ast::Merge) -> Result<&ObjectName, UserError> {
    match &m.table {
        TableFactor::Table { name, .. } => Ok(name),
        _ => Err(unsupported(
            "MERGE into this kind of relation",
            "merge into a table",
        )),
    }
}

/// `MERGE INTO t USING s ON c` with at most one WHEN MATCHED (UPDATE or DELETE) and one WHEN
/// NOT MATCHED … INSERT clause (what dbt's `merge` strategy sends).
pub fn merge(m: &ast::Merge, schema: &Schema, table: &str) -> Result<Rewrite, UserError> {
    let name = merge_target(m)?;
    let TableFactor::Table { alias, .. } = &m.table else {
        unreachable!("merge_target accepted only tables");
    };
    let q = qualifier(name, alias);
    let (target, source, on) = (&m.table, &m.source, m.on.as_ref());
    let mut matched: Option<(Option<Expr>, &ast::MergeAction)> = None;
    let mut not_matched: Option<(Option<Expr>, &ast::MergeInsertExpr)> = None;
    for c in &m.clauses {
        let pred = c.predicate.clone();
        match (&c.clause_kind, &c.action) {
            (
                ast::MergeClauseKind::Matched,
                a @ (ast::MergeAction::Update(_) | ast::MergeAction::Delete { .. }),
            ) if matched.is_none() => matched = Some((pred, a)),
            (
                ast::MergeClauseKind::NotMatched | ast::MergeClauseKind::NotMatchedByTarget,
                ast::MergeAction::Insert(i),
            ) if not_matched.is_none() => not_matched = Some((pred, i)),
            _ => {
                return Err(unsupported(
                    "this MERGE form",
                    "use one WHEN MATCHED THEN UPDATE/DELETE and one WHEN NOT MATCHED THEN INSERT clause",
                ))
            }
        }
    }
    let mut rows = Vec::new();
    let mut count = Vec::new();
    match &matched {
        None => rows.push(build::select(
            all_columns(schema, &q),
            vec![from(target.clone())],
            None,
        )),
        Some((pred, action)) => {
            let when = pred.clone().unwrap_or_else(|| build::boolean(true));
            let unmatched = build::not(build::exists(build::select(
                select_one(),
                vec![from(source.clone())],
                Some(on.clone()),
            )));
            rows.push(build::select(
                all_columns(schema, &q),
                vec![from(target.clone())],
                Some(unmatched),
            ));
            count.push(count_of(
                vec![joined(target, source, on)],
                Some(build::is_true(when.clone())),
            ));
            match action {
                ast::MergeAction::Update(u) => {
                    let set = assignments(&u.assignments, schema, table)?;
                    rows.push(build::select(
                        updated(schema, &q, &set, Some(&when)),
                        vec![joined(target, source, on)],
                        None,
                    ));
                }
                _ => rows.push(build::select(
                    all_columns(schema, &q),
                    vec![joined(target, source, on)],
                    Some(build::not(build::is_true(when))),
                )),
            }
        }
    }
    if let Some((pred, insert)) = &not_matched {
        let ast::MergeInsertKind::Values(values) = &insert.kind else {
            return Err(unsupported(
                "MERGE … INSERT ROW",
                "list the inserted values",
            ));
        };
        let [row] = values.rows.as_slice() else {
            return Err(unsupported(
                "MERGE … INSERT of several rows",
                "insert one row per source row",
            ));
        };
        let names: Vec<String> = if insert.columns.is_empty() {
            schema.fields().iter().map(|f| f.name().clone()).collect()
        } else {
            insert
                .columns
                .iter()
                .map(|c| parts(c).pop().unwrap_or_default())
                .collect()
        };
        let items = schema
            .fields()
            .iter()
            .map(|f| {
                build::item(
                    names
                        .iter()
                        .position(|n| n == f.name())
                        .and_then(|i| row.get(i))
                        .map(|e| build::nested(e.clone()))
                        .unwrap_or_else(build::null),
                )
            })
            .collect();
        let new = build::not(build::exists(build::select(
            select_one(),
            vec![from(target.clone())],
            Some(on.clone()),
        )));
        let selection = match pred {
            Some(p) => build::and(new, build::is_true(p.clone())),
            None => new,
        };
        let inserted = build::select(items, vec![from(source.clone())], Some(selection));
        count.push(count_of(
            vec![build::derived(inserted.clone(), "inserted", &[])],
            None,
        ));
        rows.push(inserted);
    }
    Ok(Rewrite { rows, count })
}

/// `SELECT CAST(NULL AS type) AS "c", … WHERE false`: the columns of `CREATE TABLE t (…)`,
/// typed by the planner, which knows PostgreSQL's type names.
pub fn empty_table(columns: &[ast::ColumnDef]) -> Query {
    let items = columns
        .iter()
        .map(|c| {
            build::aliased(
                build::cast(build::null(), c.data_type.clone()),
                &super::names::folded(&c.name),
            )
        })
        .collect();
    build::select(items, vec![], Some(build::boolean(false)))
}

/// An identifier as a column of the table (`INSERT` lists).
pub fn column_name(i: &Ident) -> String {
    super::names::folded(i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field};

    fn statement(sql: &str) -> ast::Statement {
        crate::sql::parse_one(sql).expect("parses")
    }

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("v", DataType::Utf8, true),
        ])
    }

    #[test]
    fn delete_keeps_the_rows_the_predicate_does_not_hold_for() {
        let ast::Statement::Delete(d) = statement("DELETE FROM w.t AS x WHERE x.id > 2") else {
            panic!("not a delete")
        };
        let (name, rewrite) = delete(&d).expect("rewrites");
        assert_eq!(name.to_string(), "w.t");
        let r = rewrite.expect("has a predicate");
        assert_eq!(
            r.rows[0].to_string(),
            "SELECT * FROM w.t AS x WHERE NOT (coalesce((x.id > 2), false))"
        );
        assert_eq!(
            r.count[0].to_string(),
            "SELECT count(*) FROM w.t AS x WHERE coalesce((x.id > 2), false)"
        );
    }

    #[test]
    fn update_carries_the_users_expressions_as_trees() {
        let ast::Statement::Update(u) = statement("UPDATE w.t SET v = 'a''b' || v WHERE id = 1")
        else {
            panic!("not an update")
        };
        let r = update(&u, &schema(), "t").expect("rewrites");
        let text = r.rows[0].to_string();
        assert!(
            text.contains(
                "CASE WHEN coalesce((id = 1), false) THEN ('a''b' || v) ELSE w.t.\"v\" END"
            ),
            "{text}"
        );
        let ast::Statement::Update(u) = statement("UPDATE w.t SET nope = 1") else {
            panic!("not an update")
        };
        assert_eq!(
            update(&u, &schema(), "t").unwrap_err().code,
            SqlState::UndefinedColumn
        );
    }

    #[test]
    fn merge_is_unmatched_matched_and_inserted_rows() {
        let ast::Statement::Merge(m) = statement(
            "MERGE INTO w.t AS d USING s ON d.id = s.id \
             WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.v)",
        ) else {
            panic!("not a merge")
        };
        let r = merge(&m, &schema(), "t").expect("rewrites");
        assert_eq!(r.rows.len(), 3);
        assert_eq!(r.count.len(), 2);
        assert!(
            r.rows[2]
                .to_string()
                .starts_with("SELECT (s.id), (s.v) FROM s WHERE NOT (EXISTS"),
            "{}",
            r.rows[2]
        );
    }
}
