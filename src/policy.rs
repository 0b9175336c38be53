//! Who may read what, and how much of it: grants, row filters and column masks, owned by each
//! domain in its own file, enforced inside the query plan.
//!
//! ```text
//!   Config ──► Policies (per mesh) ──► Principal (per session: user, roles, attributes)
//!                                          │
//!   catalog: ProductSchema::table(name) ── may_read? ── no ──► 42501
//!                                          │ yes
//!                                          ▼
//!   sql::expand: row_filters / masks for this principal, bound to it (bind_user)?
//!                            none ──► the table's own provider
//!                            masks only ──► a view: SELECT masks… FROM table
//!                            a filter ──► the same view, WHERE filters, behind a security barrier
//!
//!   the plan of a statement over a filtered table, once optimised (sql::barrier):
//!     Filter: the user's predicates that are not leakproof   ◄── visible rows only
//!       SecurityBarrier
//!         Projection: masks…
//!           the filters (a semi join where they have a subquery)
//!             scan, predicate = the user's leakproof predicates, and the filters where they
//!                               name only the table's columns    (prunes files, row groups)
//! ```
//!
//! This module decides *what* applies; the SQL front end builds the policy view from it. The
//! guarded table is a DataFusion view, and DataFusion inlines a view's plan where the statement
//! names the table, before any optimisation. So the policy predicate is part of the statement's
//! plan: it is pushed into the scan and prunes files like any other predicate, and no path into
//! the data (joins, subqueries, CTEs, cursors, COPY, portals, three-part names) can reach the
//! table around it, because they all resolve tables through the catalog.
//!
//! The user's own predicates are not free to join it there. One that can fail (`1/0`, a cast, a
//! regular expression, overflow) evaluated on a hidden row would answer, by an error or not,
//! whether that row matches. As PostgreSQL does for row security, a filtered table's view is a
//! security barrier: only leakproof predicates (comparisons with literals, IN, BETWEEN, IS NULL
//! and their AND/OR/NOT, on unmasked columns; see `sql::barrier::leakproof`) go below the row
//! filter into the scan; everything else runs on the rows the filter let through. A predicate on
//! a masked column stays above the barrier too, so it sees the mask.
//!
//! Semantics, chosen to fail closed:
//! - Deny by default: a table is readable by admins and by principals a grant names (the user,
//!   a role it holds, or `public`).
//! - A row filter binds the users and roles it names; a principal bound by several sees the
//!   union of their rows (filters are OR-ed). A grant without a filter does not lift a filter
//!   that applies through another role.
//! - A column with several masks for the principal uses the first one declared.
//! - Admins are never filtered or masked.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use datafusion::sql::sqlparser::ast::{self, visit_expressions_mut};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

use crate::config::Config;
use crate::error::{SqlState, UserError};

/// The role every user holds.
pub use crate::config::PUBLIC;

/// The prefix under which a user's attributes are visible to SQL (`current_setting`).
pub const ATTRIBUTE_PREFIX: &str = "mesh.user.";

#[derive(Debug, Clone)]
pub struct Grant {
    pub domain: String,
    pub product: String,
    pub table: Option<String>,
    pub to: Vec<String>,
    /// A write grant (a whole writable product); it also gives read.
    pub write: bool,
}

#[derive(Debug, Clone)]
pub struct RowFilter {
    pub name: String,
    pub domain: String,
    pub product: String,
    pub table: String,
    pub to: Vec<String>,
    pub filter: String,
}

#[derive(Debug, Clone)]
pub struct Mask {
    pub name: String,
    pub domain: String,
    pub product: String,
    pub table: String,
    pub column: String,
    pub to: Vec<String>,
    pub mask: String,
}

#[derive(Debug, Clone, Default)]
struct UserFacts {
    admin: bool,
    roles: Vec<String>,
    attributes: BTreeMap<String, String>,
}

/// Every domain's policies plus the central users and roles, for one configuration.
#[derive(Debug, Default)]
pub struct Policies {
    pub grants: Vec<Grant>,
    pub filters: Vec<RowFilter>,
    pub masks: Vec<Mask>,
    /// Role → the roles it is a member of.
    roles: BTreeMap<String, Vec<String>>,
    users: HashMap<String, UserFacts>,
}

impl Policies {
    pub fn from_config(config: &Config) -> Policies {
        let mut p = Policies {
            roles: config
                .roles
                .values()
                .map(|r| (r.name.clone(), r.member_of.clone()))
                .collect(),
            users: config
                .users
                .values()
                .map(|u| {
                    (
                        u.name.clone(),
                        UserFacts {
                            admin: u.admin,
                            roles: u.roles.clone(),
                            attributes: u.attributes.clone(),
                        },
                    )
                })
                .collect(),
            ..Policies::default()
        };
        for d in &config.domains {
            p.grants.extend(d.grants.iter().map(|g| Grant {
                domain: d.name.clone(),
                product: g.product.clone(),
                table: g.table.clone(),
                to: g.to.clone(),
                write: g.privilege == "write",
            }));
            p.filters.extend(d.row_filters.iter().map(|f| RowFilter {
                name: format!("{}.{}", d.name, f.name),
                domain: d.name.clone(),
                product: f.product.clone(),
                table: f.table.clone(),
                to: f.to.clone(),
                filter: f.filter.clone(),
            }));
            p.masks.extend(d.masks.iter().map(|m| Mask {
                name: format!("{}.{}", d.name, m.name),
                domain: d.name.clone(),
                product: m.product.clone(),
                table: m.table.clone(),
                column: m.column.clone(),
                to: m.to.clone(),
                mask: m.mask.clone(),
            }));
        }
        p
    }

    pub fn is_role(&self, name: &str) -> bool {
        self.roles.contains_key(name)
    }

    pub fn role_names(&self) -> impl Iterator<Item = &String> {
        self.roles.keys()
    }

    /// The configured users and whether each is an admin.
    pub fn users(&self) -> impl Iterator<Item = (&String, bool)> {
        self.users.iter().map(|(n, f)| (n, f.admin))
    }

    /// `roles` and every role they are members of, transitively.
    fn closure<'a>(&self, roles: impl IntoIterator<Item = &'a String>) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut todo: Vec<String> = roles
            .into_iter()
            .filter(|r| self.roles.contains_key(*r))
            .cloned()
            .collect();
        while let Some(r) = todo.pop() {
            if out.insert(r.clone()) {
                todo.extend(self.roles.get(&r).into_iter().flatten().cloned());
            }
        }
        out
    }
}

/// Who a session acts as: the login user, the roles that apply, the user's attributes.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The login user (`session_user`).
    pub user: String,
    /// The role set with SET ROLE, if any (`current_user`).
    pub role: Option<String>,
    pub admin: bool,
    /// Names grants are matched against: the acting user or role, every role it holds, and
    /// `public`.
    pub names: BTreeSet<String>,
    /// Names row filters and masks are matched against: `names` plus, after SET ROLE, the login
    /// user's own. SET ROLE can narrow what a session reads, never widen it: a regional analyst
    /// who sets a parent role keeps their row filter.
    bound: BTreeSet<String>,
    /// Roles the login user may SET ROLE to.
    pub held: BTreeSet<String>,
    pub attributes: BTreeMap<String, String>,
    policies: Arc<Policies>,
}

impl Principal {
    /// The principal of a login. `login_roles` are roles the authentication itself carried (a
    /// token's roles claim); names that are not declared roles are ignored.
    pub fn login(policies: &Arc<Policies>, user: &str, login_roles: &[String]) -> Principal {
        let facts = policies.users.get(user).cloned().unwrap_or_default();
        let held = policies.closure(facts.roles.iter().chain(login_roles));
        let mut names = held.clone();
        names.insert(user.to_string());
        names.insert(PUBLIC.to_string());
        Principal {
            user: user.to_string(),
            role: None,
            admin: facts.admin,
            bound: names.clone(),
            names,
            held,
            attributes: facts.attributes,
            policies: policies.clone(),
        }
    }

    /// The server's own view: reads everything, unfiltered (policy planning, background work).
    pub fn system(policies: &Arc<Policies>) -> Principal {
        Principal {
            user: "meshgate".into(),
            role: None,
            admin: true,
            names: BTreeSet::new(),
            bound: BTreeSet::new(),
            held: BTreeSet::new(),
            attributes: BTreeMap::new(),
            policies: policies.clone(),
        }
    }

    /// After `SET ROLE role` (`None`: RESET ROLE). Like PostgreSQL, acting as a role keeps only
    /// that role's privileges: an admin that sets a non-admin role is no longer an admin.
    pub fn with_role(&self, role: Option<&str>) -> Result<Principal, UserError> {
        let base = Principal::login(
            &self.policies,
            &self.user,
            &self.held.iter().cloned().collect::<Vec<_>>(),
        );
        let Some(role) = role.filter(|r| *r != self.user) else {
            return Ok(Principal {
                held: self.held.clone(),
                ..base
            });
        };
        // An admin may act as any declared role (to see what it sees), like a superuser.
        let login_admin = self.policies.users.get(&self.user).is_some_and(|u| u.admin);
        if !(self.held.contains(role) || login_admin && self.policies.is_role(role)) {
            return Err(UserError::new(
                SqlState::InsufficientPrivilege,
                format!("permission denied to set role \"{role}\""),
            ));
        }
        let mut names = self.policies.closure([&role.to_string()]);
        names.insert(PUBLIC.to_string());
        let bound = names.union(&base.bound).cloned().collect();
        Ok(Principal {
            role: Some(role.to_string()),
            admin: false,
            names,
            bound,
            held: self.held.clone(),
            ..base
        })
    }

    /// The principal of another user, for `has_table_privilege('name', …)`.
    pub fn other(&self, user: &str) -> Principal {
        if self.policies.is_role(user) {
            let mut names = self.policies.closure([&user.to_string()]);
            names.insert(PUBLIC.to_string());
            return Principal {
                role: Some(user.to_string()),
                admin: false,
                bound: names.clone(),
                names,
                ..Principal::system(&self.policies)
            };
        }
        Principal::login(&self.policies, user, &[])
    }

    pub fn current_user(&self) -> &str {
        self.role.as_deref().unwrap_or(&self.user)
    }

    pub fn policies(&self) -> &Arc<Policies> {
        &self.policies
    }

    fn applies(&self, to: &[String]) -> bool {
        to.iter().any(|n| self.names.contains(n))
    }

    fn bound_by(&self, to: &[String]) -> bool {
        to.iter().any(|n| self.bound.contains(n))
    }

    pub fn may_read(&self, product: &str, table: &str) -> bool {
        self.admin
            || self.policies.grants.iter().any(|g| {
                g.product == product
                    && g.table.as_deref().is_none_or(|t| t == table)
                    && self.applies(&g.to)
            })
    }

    /// Whether the principal may create, replace and drop relations in a writable product.
    /// Admins may write every writable product; others need a write grant. (Whether the product
    /// is writable at all is the catalog's to say.)
    pub fn may_write(&self, product: &str) -> bool {
        self.admin
            || self
                .policies
                .grants
                .iter()
                .any(|g| g.write && g.product == product && self.applies(&g.to))
    }

    /// Grants that give this principal access (for `mesh.my_grants`).
    pub fn grants(&self) -> impl Iterator<Item = &Grant> {
        self.policies.grants.iter().filter(|g| self.applies(&g.to))
    }

    pub fn row_filters(&self, product: &str, table: &str) -> Vec<&RowFilter> {
        if self.admin {
            return vec![];
        }
        self.policies
            .filters
            .iter()
            .filter(|f| f.product == product && f.table == table && self.bound_by(&f.to))
            .collect()
    }

    /// The mask of each masked column (the first declared when several apply).
    pub fn masks(&self, product: &str, table: &str) -> BTreeMap<String, &Mask> {
        let mut out = BTreeMap::new();
        if self.admin {
            return out;
        }
        for m in self
            .policies
            .masks
            .iter()
            .filter(|m| m.product == product && m.table == table && self.bound_by(&m.to))
        {
            out.entry(m.column.clone()).or_insert(m);
        }
        out
    }
}

/// What the current statement touched, for audit and for error redaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatementAccess {
    /// `product.table` of every mesh table the statement reads.
    pub tables: BTreeSet<String>,
    /// Names of the row filters and masks applied.
    pub policies: BTreeSet<String>,
    /// A row filter applied: values of other rows must not surface in errors.
    pub filtered: bool,
    /// The version each table was read at (`product.table` ─► Delta version or snapshot id).
    pub versions: BTreeMap<String, String>,
}

/// A session's principal and the record of what its current statement touched; shared by the
/// session and its catalog.
#[derive(Debug, Clone)]
pub struct Access {
    pub principal: Arc<Principal>,
    log: Arc<Mutex<StatementAccess>>,
    /// The instant (ms since the epoch) every table is read as of, when the session is pinned
    /// (`mesh.as_of`, a REPEATABLE READ transaction).
    as_of: Arc<Mutex<Option<i64>>>,
}

impl Access {
    pub fn new(principal: Principal) -> Access {
        Access {
            principal: Arc::new(principal),
            log: Arc::default(),
            as_of: Arc::default(),
        }
    }

    /// The same session record, acting as another principal (SET ROLE, reload).
    pub fn with_principal(&self, principal: Principal) -> Access {
        Access {
            principal: Arc::new(principal),
            log: self.log.clone(),
            as_of: self.as_of.clone(),
        }
    }

    fn log(&self) -> std::sync::MutexGuard<'_, StatementAccess> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new statement starts planning.
    pub fn begin(&self) {
        *self.log() = StatementAccess::default();
    }

    pub fn current(&self) -> StatementAccess {
        self.log().clone()
    }

    /// Back to what a statement planned earlier recorded (a portal executes what Parse planned).
    pub fn restore(&self, access: StatementAccess) {
        *self.log() = access;
    }

    /// The instant the session's tables are read as of, if it is pinned.
    pub fn as_of(&self) -> Option<i64> {
        *self.as_of.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Pins the session's reads at an instant, or unpins them (`None`).
    pub fn set_as_of(&self, at: Option<i64>) {
        *self.as_of.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }

    /// The version the statement already reads `table` at, if it named the table before.
    pub fn version_read(&self, table: &str) -> Option<String> {
        self.log().versions.get(table).cloned()
    }

    /// The statement reads `table` at `version`. A statement that reads one table at several
    /// versions (`FOR VERSION AS OF` twice) has them listed, comma-separated.
    pub fn record_version(&self, table: String, version: Option<String>) {
        let Some(v) = version else { return };
        let mut log = self.log();
        let read = log.versions.entry(table).or_default();
        if read.is_empty() {
            *read = v;
        } else if !read.split(", ").any(|r| r == v) {
            read.push_str(", ");
            read.push_str(&v);
        }
    }

    /// The statement reads `table` through these policies.
    pub fn record(&self, table: String, filters: &[&RowFilter], masks: &BTreeMap<String, &Mask>) {
        let mut log = self.log();
        log.tables.insert(table);
        log.policies.extend(filters.iter().map(|f| f.name.clone()));
        log.policies.extend(masks.values().map(|m| m.name.clone()));
        log.filtered |= !filters.is_empty();
    }
}

const DENIED_TABLE: &str = "permission denied for table ";

/// The error for a table the principal may not read: names the table, nothing inside it.
pub fn denied(product: &str, table: &str) -> UserError {
    UserError::denied(format!("{DENIED_TABLE}{product}.{table}"))
}

/// The product a [`denied`] error names (to point at where access can be requested).
pub fn denied_product(e: &UserError) -> Option<&str> {
    if e.code != SqlState::InsufficientPrivilege {
        return None;
    }
    e.message.strip_prefix(DENIED_TABLE)?.split('.').next()
}

/// Binds the principal into a policy's SQL expression: `current_setting('mesh.user.x')` becomes
/// the user's attribute (NULL when the user has none, which a filter treats as no rows) and
/// `current_user`/`session_user` the principal's names. Bound at plan time, so what a session
/// SETs can never change what a policy sees. Errors are for the log (the domain's SQL).
pub fn bind_user(sql: &str, p: &Principal) -> Result<ast::Expr, ParserError> {
    let mut expr = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut parser| parser.parse_expr())?;
    let text = |s: &str| ast::Expr::Value(ast::Value::SingleQuotedString(s.to_string()).into());
    let _ = visit_expressions_mut(&mut expr, |e| {
        if let ast::Expr::Function(f) = e {
            let name = f.name.to_string().to_ascii_lowercase();
            let replacement = match name.as_str() {
                "current_user" | "current_role" | "user" => Some(text(p.current_user())),
                "session_user" => Some(text(&p.user)),
                "current_setting" => match &f.args {
                    ast::FunctionArguments::List(list) => match list.args.first() {
                        Some(ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(
                            ast::Expr::Value(v),
                        ))) => match &v.value {
                            ast::Value::SingleQuotedString(s) => s
                                .strip_prefix(ATTRIBUTE_PREFIX)
                                .map(|attr| match p.attributes.get(attr) {
                                    Some(value) => text(value),
                                    None => ast::Expr::Value(ast::Value::Null.into()),
                                }),
                            _ => None,
                        },
                        _ => None,
                    },
                    _ => None,
                },
                _ => None,
            };
            if let Some(r) = replacement {
                *e = r;
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    Ok(expr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(attrs: &[(&str, &str)]) -> Principal {
        let mut p = Principal::system(&Arc::new(Policies::default()));
        p.user = "carol".into();
        p.attributes = attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        p
    }

    #[test]
    fn binds_attributes_and_user_names() {
        let p = principal(&[("region", "EUROPE")]);
        let s = bind_user(
            "r_name = current_setting('mesh.user.region') AND owner = current_user",
            &p,
        )
        .unwrap()
        .to_string();
        assert_eq!(s, "r_name = 'EUROPE' AND owner = 'carol'");
        let s = bind_user("x = current_setting('mesh.user.missing')", &p)
            .unwrap()
            .to_string();
        assert_eq!(s, "x = NULL");
        // Other settings are left to the engine.
        let s = bind_user("x = current_setting('search_path')", &p)
            .unwrap()
            .to_string();
        assert_eq!(s, "x = current_setting('search_path')");
    }

    #[test]
    fn attribute_values_cannot_inject_sql() {
        let p = principal(&[("region", "x' OR '1'='1")]);
        let s = bind_user("r = current_setting('mesh.user.region')", &p)
            .unwrap()
            .to_string();
        assert_eq!(s, "r = 'x'' OR ''1''=''1'");
    }
}
