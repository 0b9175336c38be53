//! Relation names: how PostgreSQL folds them, where an unqualified one resolves, and which ones
//! do not exist.
//!
//! DataFusion looks for an unqualified name in one default schema. PostgreSQL looks in the
//! session's temporary schema, then pg_catalog, then each schema of the search path in turn.
//! So before planning every unqualified relation name that is not a CTE's is qualified with the
//! schema PostgreSQL would find it in:
//!
//! ```text
//!  name ─► a CTE of the statement? ─► as is
//!        ─► a temporary table of the session? ─► pg_temp.name
//!        ─► a pg_catalog table? ─► pg_catalog.name
//!        ─► the first search-path schema that has it (paths of two or more) ─► schema.name
//!        ─► as is: DataFusion's default schema is the path's first existing one
//! ```
//!
//! A name that resolves nowhere is PostgreSQL's 42P01 `relation "…" does not exist`, decided
//! here rather than read back from DataFusion's message. A table that exists but may not be
//! read is left to the catalog, which refuses it with 42501.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use datafusion::catalog::{CatalogProvider, SchemaProvider};
use datafusion::sql::sqlparser::ast::{
    Ident, ObjectName, ObjectNamePart, Query, Statement, TableFactor, Visit, VisitMut, Visitor,
    VisitorMut,
};
use datafusion_pg_catalog::pg_catalog::PG_CATALOG_TABLES;

use crate::catalog::{Mesh, TEMP_SCHEMA};
use crate::error::{SqlState, UserError};

pub use meshgate_sqlfront::ident::folded;

/// The folded parts of a name.
pub fn parts(name: &ObjectName) -> Vec<String> {
    name.0
        .iter()
        .filter_map(ObjectNamePart::as_ident)
        .map(folded)
        .collect()
}

/// The schemas of a `search_path` value, in order (`$user` is the session's user).
pub fn search_path(value: &str, user: &str) -> Vec<String> {
    value
        .split(',')
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            if s.starts_with('"') {
                s.trim_matches('"').to_string()
            } else {
                s.to_ascii_lowercase()
            }
        })
        .map(|s| if s == "$user" { user.to_string() } else { s })
        .collect()
}

/// Where a session's names resolve.
pub struct Scope<'a> {
    pub mesh: &'a Mesh,
    /// The session's database catalog (products, pg_catalog, information_schema, pg_temp…).
    pub catalog: &'a dyn CatalogProvider,
    /// The session's temporary tables.
    pub temp: &'a dyn SchemaProvider,
    /// The search path's schemas, in order.
    pub search_path: Vec<String>,
    /// DataFusion's default schema: the first schema of the path that exists.
    pub default_schema: String,
}

impl Scope<'_> {
    /// The schema PostgreSQL finds an unqualified `table` in, when it is not the default one.
    fn schema_for(&self, table: &str) -> Option<String> {
        if self.temp.table_exist(table) {
            return Some(TEMP_SCHEMA.to_string());
        }
        if PG_CATALOG_TABLES.contains(&table) {
            return Some("pg_catalog".to_string());
        }
        if self.search_path.len() < 2 {
            return None;
        }
        self.search_path
            .iter()
            .find(|s| self.exists(s, table))
            .cloned()
    }

    /// Whether `schema.table` names a relation (readable or not).
    fn exists(&self, schema: &str, table: &str) -> bool {
        match self.mesh.products.get(schema) {
            Some(p) => p.tables.contains_key(table),
            None => self
                .catalog
                .schema(schema)
                .is_some_and(|s| s.table_exist(table)),
        }
    }

    /// Qualifies the statement's names as PostgreSQL resolves them and refuses one that names
    /// nothing.
    pub fn resolve(&self, stmt: &mut Statement) -> Result<(), UserError> {
        let ctes = cte_names(stmt);
        let check = matches!(stmt, Statement::Query(_) | Statement::Explain { .. });
        let mut v = Resolve {
            scope: self,
            ctes: &ctes,
            check,
        };
        match stmt.visit(&mut v) {
            ControlFlow::Break(e) => Err(e),
            ControlFlow::Continue(()) => Ok(()),
        }
    }
}

struct Resolve<'a> {
    scope: &'a Scope<'a>,
    ctes: &'a BTreeSet<String>,
    /// Refuse names that resolve nowhere (queries; DDL and DML targets are checked by their
    /// statements).
    check: bool,
}

/// Where a name resolves: the schema to put in front of it (None: as written), and the
/// `schema.table` it then names.
enum Resolved {
    Cte,
    Relation {
        qualify: Option<String>,
        schema: String,
        table: String,
    },
}

impl Resolve<'_> {
    fn resolve(&self, p: &[String], shown: &str) -> Result<Resolved, UserError> {
        // A table read at a version (see `meshgate_sqlfront::versions`) resolves as the table.
        let mut p = p.to_vec();
        let alone = p.len() == 1;
        if let Some(last) = p.last_mut() {
            let (table, version) = meshgate_sqlfront::versions::split(last);
            if version.is_some() {
                if alone && self.ctes.contains(table) {
                    return Err(UserError::new(
                        SqlState::WrongObjectType,
                        format!("\"{table}\" is a WITH query: only tables have versions"),
                    ));
                }
                *last = table.to_string();
            }
        }
        Ok(match p.as_slice() {
            [t] if self.ctes.contains(t) => Resolved::Cte,
            [t] => match self.scope.schema_for(t) {
                Some(s) => Resolved::Relation {
                    qualify: Some(s.clone()),
                    schema: s,
                    table: t.clone(),
                },
                None => Resolved::Relation {
                    qualify: None,
                    schema: self.scope.default_schema.clone(),
                    table: t.clone(),
                },
            },
            [s, t] => Resolved::Relation {
                qualify: None,
                schema: s.clone(),
                table: t.clone(),
            },
            [d, _, _] => {
                return Err(UserError::unsupported(format!(
                    "cross-database references are not implemented: \"{d}\" in {shown}"
                )))
            }
            _ => {
                return Err(UserError::syntax(format!(
                    "improper relation name (too many dotted names): {shown}"
                )))
            }
        })
    }

    /// The name's folded parts without the session's own database, and as messages show it.
    fn parts(&self, name: &ObjectName) -> (Vec<String>, String) {
        let mut p = parts(name);
        if p.len() == 3 && p[0] == self.scope.mesh.database {
            p.remove(0);
        }
        // As PostgreSQL names it in messages: folded, unquoted, without the database (and
        // without a version folded into it: the user wrote the table).
        let shown = meshgate_sqlfront::versions::split(&p.join("."))
            .0
            .to_string();
        (p, shown)
    }
}

impl VisitorMut for Resolve<'_> {
    type Break = UserError;

    /// Every relation name (FROM items, INSERT and DML targets): qualified where PostgreSQL
    /// finds it.
    fn pre_visit_relation(&mut self, name: &mut ObjectName) -> ControlFlow<UserError> {
        let (p, shown) = self.parts(name);
        if p.len() < name.0.len() {
            name.0.remove(0);
        }
        match self.resolve(&p, &shown) {
            Ok(Resolved::Relation {
                qualify: Some(s), ..
            }) => name
                .0
                .insert(0, ObjectNamePart::Identifier(Ident::with_quote('"', &s))),
            Ok(_) => {}
            Err(e) => return ControlFlow::Break(e),
        }
        ControlFlow::Continue(())
    }

    /// A table in FROM (not a table function such as `generate_series(…)`) must exist.
    fn pre_visit_table_factor(&mut self, t: &mut TableFactor) -> ControlFlow<UserError> {
        let TableFactor::Table {
            name, args: None, ..
        } = t
        else {
            return ControlFlow::Continue(());
        };
        if !self.check {
            return ControlFlow::Continue(());
        }
        let (p, shown) = self.parts(name);
        match self.resolve(&p, &shown) {
            Ok(Resolved::Relation { schema, table, .. }) if !self.scope.exists(&schema, &table) => {
                ControlFlow::Break(UserError::new(
                    SqlState::UndefinedTable,
                    format!("relation \"{shown}\" does not exist"),
                ))
            }
            Ok(_) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(e),
        }
    }
}

/// Every CTE name a statement defines, in any query at any depth (subqueries, derived tables,
/// other CTEs).
fn cte_names(stmt: &Statement) -> BTreeSet<String> {
    struct Ctes(BTreeSet<String>);
    impl Visitor for Ctes {
        type Break = ();
        fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
            if let Some(w) = &q.with {
                self.0
                    .extend(w.cte_tables.iter().map(|c| folded(&c.alias.name)));
            }
            ControlFlow::Continue(())
        }
    }
    let mut v = Ctes(BTreeSet::new());
    let _ = stmt.visit(&mut v);
    v.0
}

/// Every table function a statement calls in FROM (`generate_series(1, 3)`): the parser
/// reports them as relations too, but they live in no schema.
fn table_functions(stmt: &Statement) -> BTreeSet<String> {
    struct Calls(BTreeSet<String>);
    impl Visitor for Calls {
        type Break = ();
        fn pre_visit_table_factor(&mut self, f: &TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table {
                name,
                args: Some(_),
                ..
            } = f
            {
                if let [ObjectNamePart::Identifier(t)] = name.0.as_slice() {
                    self.0.insert(folded(t));
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut v = Calls(BTreeSet::new());
    let _ = stmt.visit(&mut v);
    v.0
}

/// Qualifies every unqualified relation name of the statement that is not a CTE or a table
/// function with `schema` (a view's definition, stored so it means the same wherever it is
/// planned).
pub fn qualify_all(stmt: &mut Statement, schema: &str) {
    let mut unqualified = cte_names(stmt);
    unqualified.extend(table_functions(stmt));
    let _ = datafusion::sql::sqlparser::ast::visit_relations_mut(stmt, |name| {
        if let [ObjectNamePart::Identifier(t)] = name.0.as_slice() {
            if !unqualified.contains(&folded(t)) {
                name.0.insert(
                    0,
                    ObjectNamePart::Identifier(Ident::with_quote('"', schema)),
                );
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

/// The relations a statement names, as `schema.table` (unqualified names in `default_schema`;
/// three-part names lose their database). CTE names are included; they match no product table.
pub fn relations(stmt: &Statement, default_schema: &str) -> Vec<String> {
    let mut out = Vec::new();
    let _ = datafusion::sql::sqlparser::ast::visit_relations(stmt, |name| {
        // A table read at a version is the table (see meshgate_sqlfront::versions).
        let table = |t: &str| meshgate_sqlfront::versions::split(t).0.to_string();
        let q = match parts(name).as_slice() {
            [t] => format!("{default_schema}.{}", table(t)),
            [s, t] | [_, s, t] => format!("{s}.{}", table(t)),
            _ => String::new(),
        };
        if !q.is_empty() && !out.contains(&q) {
            out.push(q);
        }
        ControlFlow::<()>::Continue(())
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_path_values_parse_like_postgres() {
        assert_eq!(
            search_path("sales, \"Geo\", $user, public", "bob"),
            ["sales", "Geo", "bob", "public"]
        );
        assert_eq!(search_path("SALES", "bob"), ["sales"]);
    }

    #[test]
    fn a_table_read_at_a_version_is_the_table_it_reads() {
        let folded = meshgate_sqlfront::versions::respell(
            "SELECT * FROM s.t FOR VERSION AS OF 3 JOIN u FOR TIMESTAMP AS OF '2026-01-01' ON true",
        )
        .expect("folds");
        let s = crate::sql::parse_one(&folded).expect("parses");
        assert_eq!(relations(&s, "analytics"), ["s.t", "analytics.u"]);
    }

    #[test]
    fn view_queries_are_qualified_except_ctes() {
        let mut s = crate::sql::parse_one(
            "with c as (select * from t) select * from c join u on true join s.v on true",
        )
        .expect("parses");
        qualify_all(&mut s, "analytics");
        let text = s.to_string();
        assert!(text.contains("\"analytics\".t"), "{text}");
        assert!(text.contains("\"analytics\".u"), "{text}");
        assert!(text.contains("FROM c JOIN"), "{text}");
        assert!(text.contains("s.v"), "{text}");
    }

    #[test]
    fn view_queries_keep_table_functions_unqualified() {
        let mut s =
            crate::sql::parse_one("select x from generate_series(1, 3) as g(x) join t on true")
                .expect("parses");
        qualify_all(&mut s, "analytics");
        let text = s.to_string();
        assert!(text.contains("FROM generate_series(1, 3)"), "{text}");
        assert!(text.contains("\"analytics\".t"), "{text}");
    }
}
