//! `SET search_path = sales, supply, geo`: an unqualified table name resolves in the first
//! schema of the path that has it, as in PostgreSQL. DataFusion resolves unqualified names in one
//! default schema only, so before planning each unqualified name is qualified with the schema
//! the path finds it in (names the path does not find are left to DataFusion, which reports
//! them missing). CTE names are never qualified.

use datafusion::catalog::CatalogProvider;
use datafusion::sql::sqlparser::ast::Statement;

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

/// Qualifies the statement's unqualified table names with the first schema of `path` that has
/// them. The path's first schema is DataFusion's default already, so a path of one schema
/// changes nothing.
pub(crate) fn qualify(stmt: &mut Statement, path: &[String], catalog: &dyn CatalogProvider) {
    if path.len() < 2 {
        return;
    }
    let schemas: Vec<_> = path
        .iter()
        .filter_map(|p| catalog.schema(p).map(|s| (p.clone(), s)))
        .collect();
    super::names::qualify_unqualified(stmt, |table| {
        schemas
            .iter()
            .find(|(_, s)| s.table_exist(table))
            .map(|(p, _)| p.clone())
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
