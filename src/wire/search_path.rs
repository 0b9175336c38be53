//! `SET search_path = sales, supply, geo`: an unqualified table name resolves in the first
//! schema of the path that has it, as in PostgreSQL. DataFusion resolves unqualified names in one
//! default schema only, so before planning each unqualified name is qualified with the schema
//! the path finds it in (names the path does not find are left to DataFusion, which reports
//! them missing). CTE names are never qualified.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use datafusion::catalog::CatalogProvider;
use datafusion::sql::sqlparser::ast::{
    visit_relations_mut, visit_statements, Ident, ObjectNamePart, Query, Statement,
};

fn folded(i: &Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_ascii_lowercase()
    }
}

/// The schemas of a `search_path` value, in order (`$user` is the session's user).
pub(crate) fn schemas(value: &str, user: &str) -> Vec<String> {
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

fn collect_ctes(q: &Query, out: &mut BTreeSet<String>) {
    if let Some(w) = &q.with {
        for c in &w.cte_tables {
            out.insert(folded(&c.alias.name));
            collect_ctes(&c.query, out);
        }
    }
}

/// Qualifies the statement's unqualified table names with the first schema of `path` that has
/// them. The path's first schema is DataFusion's default already, so a path of one schema
/// changes nothing.
pub(crate) fn qualify(stmt: &mut Statement, path: &[String], catalog: &dyn CatalogProvider) {
    if path.len() < 2 {
        return;
    }
    let mut ctes = BTreeSet::new();
    let _ = visit_statements(&*stmt, |s| {
        if let Statement::Query(q) = s {
            collect_ctes(q, &mut ctes);
        }
        ControlFlow::<()>::Continue(())
    });
    let schemas: Vec<_> = path
        .iter()
        .filter_map(|p| catalog.schema(p).map(|s| (p.clone(), s)))
        .collect();
    let _ = visit_relations_mut(stmt, |name| {
        if let [ObjectNamePart::Identifier(t)] = name.0.as_slice() {
            let table = folded(t);
            if !ctes.contains(&table) {
                if let Some((schema, _)) = schemas.iter().find(|(_, s)| s.table_exist(&table)) {
                    name.0.insert(
                        0,
                        ObjectNamePart::Identifier(Ident::with_quote('"', schema.clone())),
                    );
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_path_values_parse_like_postgres() {
        assert_eq!(
            schemas("sales, \"Geo\", $user, public", "bob"),
            ["sales", "Geo", "bob", "public"]
        );
        assert_eq!(schemas("SALES", "bob"), ["sales"]);
    }
}
