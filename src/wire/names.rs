//! Relation names in statements: how PostgreSQL folds them, and qualifying the unqualified ones
//! before planning (temporary tables, the search path, view definitions), which DataFusion
//! would otherwise look for in its one default schema.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    visit_relations_mut, visit_statements, Ident, ObjectNamePart, Query, Statement,
};

/// How PostgreSQL folds an identifier: quoted ones keep their case.
pub(crate) fn folded(i: &Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_ascii_lowercase()
    }
}

fn collect_ctes(q: &Query, out: &mut BTreeSet<String>) {
    if let Some(w) = &q.with {
        for c in &w.cte_tables {
            out.insert(folded(&c.alias.name));
            collect_ctes(&c.query, out);
        }
    }
}

/// Puts `schema_for(name)` in front of each unqualified relation name of the statement that is
/// not a CTE's; names it answers None for stay as they are.
pub(crate) fn qualify_unqualified(
    stmt: &mut Statement,
    mut schema_for: impl FnMut(&str) -> Option<String>,
) {
    let mut ctes = BTreeSet::new();
    let _ = visit_statements(&*stmt, |s| {
        if let Statement::Query(q) = s {
            collect_ctes(q, &mut ctes);
        }
        ControlFlow::<()>::Continue(())
    });
    let _ = visit_relations_mut(stmt, |name| {
        if let [ObjectNamePart::Identifier(t)] = name.0.as_slice() {
            let table = folded(t);
            if !ctes.contains(&table) {
                if let Some(schema) = schema_for(&table) {
                    name.0.insert(
                        0,
                        ObjectNamePart::Identifier(Ident::with_quote('"', schema)),
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
    fn ctes_and_qualified_names_stay_as_they_are() {
        let mut s = crate::wire::query::parse(
            "with c as (select * from t) select * from c join u on true join s.v on true",
        )
        .expect("parses")
        .remove(0);
        qualify_unqualified(&mut s, |t| (t != "u").then(|| "analytics".to_string()));
        let text = s.to_string();
        assert!(text.contains("\"analytics\".t"), "{text}");
        assert!(text.contains("JOIN u ON"), "{text}");
        assert!(text.contains("FROM c JOIN"), "{text}");
        assert!(text.contains("s.v"), "{text}");
    }
}
