//! The statement text an audit event carries.
//!
//! Redaction works on the parsed statement, not on the text: every literal value becomes `'?'`
//! (strings, dates, intervals…) or `$?` (numbers, booleans), and the statement is printed again.
//! A text rule (regexes over quotes and comments) would have to re-implement the SQL lexer —
//! dollar quoting, `E'…'` escapes, nested comments — and would leak whatever it got wrong.
//! Statements that carry passwords (CREATE/ALTER ROLE or USER … PASSWORD) are redacted even when
//! literal redaction is off.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    ObjectName, ObjectNamePart, Statement, Value, VisitMut, VisitorMut,
};
use meshgate_sqlfront::versions;

struct Redactor;

impl VisitorMut for Redactor {
    type Break = ();

    /// A table version (`FOR TIMESTAMP AS OF '…'`) reaches the tree folded into the relation's
    /// name, not as a literal; it is redacted like one. The event's `versions` field says which
    /// version was read.
    fn pre_visit_relation(&mut self, relation: &mut ObjectName) -> ControlFlow<()> {
        for part in relation.0.iter_mut() {
            if let ObjectNamePart::Identifier(ident) = part {
                if let (table, Some(_)) = versions::split(&ident.value) {
                    ident.value = versions::redacted(table);
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_value(&mut self, value: &mut Value) -> ControlFlow<()> {
        match value {
            // NULL reveals nothing, and `$1` is a parameter whose value is not in the text.
            Value::Null | Value::Placeholder(_) => {}
            Value::Number(..) | Value::Boolean(_) => *value = Value::Placeholder("$?".into()),
            _ => *value = Value::SingleQuotedString("?".into()),
        }
        ControlFlow::Continue(())
    }
}

/// Statements whose literals may hold a password.
fn holds_password(stmt: &Statement) -> bool {
    matches!(
        stmt,
        Statement::CreateRole(_)
            | Statement::AlterRole { .. }
            | Statement::CreateUser(_)
            | Statement::AlterUser(_)
    )
}

/// The audit text of a parsed statement.
pub(crate) fn statement_text(stmt: &Statement, redact_literals: bool) -> String {
    if !redact_literals && !holds_password(stmt) {
        return stmt.to_string();
    }
    let mut stmt = stmt.clone();
    let _ = stmt.visit(&mut Redactor);
    stmt.to_string()
}

/// The audit text of a message that did not parse: the raw text only when literals need not be
/// redacted, and never when it may carry a password.
pub(crate) fn unparsed_text(sql: &str, redact_literals: bool) -> Option<String> {
    (!redact_literals && !sql.to_ascii_lowercase().contains("password")).then(|| sql.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(sql: &str, redact: bool) -> String {
        use datafusion::sql::sqlparser::{dialect::PostgreSqlDialect, parser::Parser};
        let stmts = Parser::parse_sql(&PostgreSqlDialect {}, sql).expect("parses");
        statement_text(&stmts[0], redact)
    }

    #[test]
    fn literals_become_placeholders() {
        let t = text(
            "SELECT o_orderkey FROM sales.orders WHERE o_comment = 'secret' AND o_totalprice > 1000.5 \
             AND o_orderdate < DATE '1995-01-01' AND o_custkey IN (1, 2) AND o_comment IS NOT NULL AND o_orderkey = $1 LIMIT 10",
            true,
        );
        assert!(
            !t.contains("secret") && !t.contains("1000.5") && !t.contains("1995"),
            "{t}"
        );
        assert!(
            t.contains("o_comment = '?'")
                && t.contains("o_totalprice > $?")
                && t.contains("IN ($?, $?)"),
            "{t}"
        );
        assert!(
            t.contains("DATE '?'") && t.contains("o_orderkey = $1") && t.contains("LIMIT $?"),
            "{t}"
        );
        assert!(t.contains("IS NOT NULL"), "{t}");
        let e = text("SELECT E'a\\'b', $$dollar$$, INTERVAL '1 day'", true);
        assert!(
            !e.contains("dollar") && !e.contains("1 day") && !e.contains("a\\'b"),
            "{e}"
        );
    }

    #[test]
    fn table_versions_are_redacted_with_the_literals() {
        for (clause, value) in [
            (
                "FOR TIMESTAMP AS OF TIMESTAMP '2026-11-30 12:00:00+00'",
                "2026-11-30",
            ),
            ("FOR VERSION AS OF 812", "812"),
        ] {
            let sql = format!("SELECT count(*) FROM sales.orders {clause} o");
            let respelled = versions::respell(&sql).expect("respells");
            let t = text(&respelled, true);
            assert!(!t.contains(value), "{t}");
            assert!(t.contains("orders AS OF ?"), "{t}");
            // Kept when literals are.
            let kept = text(&respelled, false);
            assert!(kept.contains(value), "{kept}");
        }
    }

    #[test]
    fn passwords_are_redacted_even_when_literals_are_kept() {
        let t = text("SELECT 'kept' FROM sales.orders", false);
        assert!(t.contains("'kept'"), "{t}");
        for sql in [
            "CREATE ROLE x LOGIN PASSWORD 'hunter2'",
            "ALTER ROLE x WITH PASSWORD 'hunter2'",
            "CREATE USER u PASSWORD = 'hunter2'",
        ] {
            let t = text(sql, false);
            assert!(!t.contains("hunter2"), "{sql} → {t}");
        }
        assert_eq!(unparsed_text("SELEC 1", false).as_deref(), Some("SELEC 1"));
        assert_eq!(unparsed_text("SELEC 1", true), None);
        assert_eq!(
            unparsed_text("CREATE ROLE x PASSWORD 'hunter2' oops(", false),
            None
        );
        // PostgreSQL's CREATE USER spelling is not in the parser's grammar: it takes that path.
        assert_eq!(
            unparsed_text("CREATE USER u PASSWORD 'hunter2'", false),
            None
        );
    }
}
