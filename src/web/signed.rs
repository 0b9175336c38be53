//! Who a page is for: what a handler knows of a signed-in user. Its own file so that the
//! sign-in code and the page frame can both name it without depending on each other.

use crate::auth::AuthMethod;

/// A signed-in user, as a handler sees them.
#[derive(Debug, Clone)]
pub(super) struct Signed {
    pub user: String,
    pub admin: bool,
    /// How they proved it (audit events of the queries they run).
    pub method: AuthMethod,
    /// Roles their token's roles claim gave them; empty after a password.
    pub roles: Vec<String>,
    /// The token every form of this session carries.
    pub csrf: String,
}
