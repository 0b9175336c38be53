//! Identifiers as PostgreSQL reads them.

use sqlparser::ast::Ident;

/// How PostgreSQL folds an identifier: quoted ones keep their case.
pub fn folded(i: &Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_ascii_lowercase()
    }
}
