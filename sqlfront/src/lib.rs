//! The syntax-tree half of meshgate's SQL front end, with no engine below it: what the server's
//! `sql` module runs on a statement between the text and DataFusion's planner.
//!
//! ```text
//!  respell.rs  PostgreSQL spellings the parser does not take, respelled on tokens
//!  versions.rs Trino's table versions (FOR VERSION / TIMESTAMP AS OF), folded into names
//!  parse.rs    the parser: PostgreSQL's dialect, the nesting bound
//!  ident.rs    how PostgreSQL folds an identifier
//!  build.rs    syntax trees meshgate writes itself (a write's queries, a policy view, a
//!              rewrite's replacement)
//!  rewrite/    the PostgreSQL-dialect rewrites, before planning
//!  error.rs    the errors those steps raise (a SQLSTATE and a message)
//! ```
//!
//! Its own crate so a fuzzer can build it alone (fuzz/: target `sql`); sqlparser is the one
//! DataFusion plans from, so the trees are the planner's.

pub mod build;
pub mod error;
pub mod ident;
pub mod parse;
pub mod respell;
pub mod rewrite;
pub mod versions;

pub use error::{Code, FrontError};
