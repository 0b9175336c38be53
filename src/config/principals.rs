//! Users and roles: declared centrally in meshgate.toml, named by the domains' grants.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::{err, valid_ident, ConfigError, Domain, Role, RoleEntry, User, UserEntry};

/// Roles are declared once, centrally; a role and a user may not share a name (both are
/// PostgreSQL roles to clients), and every role named must exist.
pub(super) fn validate_roles(
    path: &Path,
    roles: &[RoleEntry],
    users: &[UserEntry],
) -> Result<BTreeMap<String, Role>, ConfigError> {
    let mut out = BTreeMap::new();
    for (i, r) in roles.iter().enumerate() {
        let key = format!("roles[{i}].name");
        if !valid_ident(&r.name) {
            return Err(err(
                path,
                key,
                format!("{:?} must be a lowercase identifier", r.name),
            ));
        }
        if r.name == super::PUBLIC {
            return Err(err(
                path,
                key,
                "\"public\" is the built-in role of every user; it cannot be declared",
            ));
        }
        if users.iter().any(|u| u.name == r.name) {
            return Err(err(path, key, format!("{:?} is also a user name", r.name)));
        }
        let role = Role {
            name: r.name.clone(),
            description: r.description.clone(),
            member_of: r.member_of.clone(),
        };
        if out.insert(r.name.clone(), role).is_some() {
            return Err(err(
                path,
                key,
                format!("role {:?} is declared twice", r.name),
            ));
        }
    }
    for (i, r) in roles.iter().enumerate() {
        for parent in &r.member_of {
            if !out.contains_key(parent) {
                return Err(err(
                    path,
                    format!("roles[{i}].member_of"),
                    format!("no role {parent:?} is declared"),
                ));
            }
        }
    }
    for (i, u) in users.iter().enumerate() {
        for r in &u.roles {
            if !out.contains_key(r) {
                return Err(err(
                    path,
                    format!("users[{i}].roles"),
                    format!("no role {r:?} is declared"),
                ));
            }
        }
    }
    Ok(out)
}

/// Grants, filters and masks name declared users and roles only: a typo must not silently
/// grant nothing (or worse, leave a filter unapplied).
pub(super) fn validate_principals(
    d: &Domain,
    users: &HashMap<String, User>,
    roles: &BTreeMap<String, Role>,
) -> Result<(), ConfigError> {
    let known = |n: &String| n == super::PUBLIC || users.contains_key(n) || roles.contains_key(n);
    let lists = d
        .grants
        .iter()
        .enumerate()
        .map(|(i, g)| (format!("grants[{i}].to"), &g.to))
        .chain(
            d.row_filters
                .iter()
                .enumerate()
                .map(|(i, f)| (format!("row_filters[{i}].to"), &f.to)),
        )
        .chain(
            d.masks
                .iter()
                .enumerate()
                .map(|(i, m)| (format!("masks[{i}].to"), &m.to)),
        );
    for (key, to) in lists {
        if let Some(n) = to.iter().find(|n| !known(n)) {
            return Err(err(
                &d.file,
                key,
                format!("{n:?} is neither a user nor a declared role"),
            ));
        }
    }
    Ok(())
}
