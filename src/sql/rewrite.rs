//! The PostgreSQL-dialect rewrites (meshgate-sqlfront's `rewrite`, sqlfront/src/rewrite/), with
//! their errors as the client sees them.

use datafusion::sql::sqlparser::ast::Statement;

use crate::error::UserError;

pub use meshgate_sqlfront::rewrite::{shown_name, RelationResolver, ONE_ROW};

pub fn rewrite(stmt: &mut Statement, resolver: &dyn RelationResolver) -> Result<(), UserError> {
    meshgate_sqlfront::rewrite::rewrite(stmt, resolver).map_err(UserError::from)
}
