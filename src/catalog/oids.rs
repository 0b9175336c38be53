//! Object identifiers for pg_catalog: derived from qualified names, so a table keeps its OID
//! across sessions and restarts, and a client caching OIDs (psql, pgjdbc, Npgsql) is never
//! confused by a reconnect.
//!
//! PostgreSQL hands out OIDs from 16384 (`FirstNormalObjectId`) for user objects; ours live in
//! `[16384, i32::MAX]` because the pg_catalog columns are `Int32` (the static tables of
//! datafusion-pg-catalog use that type, and joins need both sides alike). System schemas keep
//! PostgreSQL's fixed OIDs.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::ProductEntry;

/// `pg_catalog`'s OID in every PostgreSQL.
pub const PG_CATALOG_NAMESPACE: i32 = 11;
/// `public`'s OID in every PostgreSQL.
pub const PUBLIC_NAMESPACE: i32 = 2200;
/// information_schema's OID differs between PostgreSQL builds; any fixed system-range value works.
pub const INFORMATION_SCHEMA_NAMESPACE: i32 = 13_000;
/// The classoid of pg_class rows in pg_description (PostgreSQL's `RelationRelationId`).
pub const PG_CLASS_CLASSOID: i32 = 1259;
/// The classoid of pg_namespace rows (`NamespaceRelationId`).
pub const PG_NAMESPACE_CLASSOID: i32 = 2615;
/// The classoid of pg_database rows, for pg_shdescription (`DatabaseRelationId`).
pub const PG_DATABASE_CLASSOID: i32 = 1262;
/// The bootstrap superuser's OID in PostgreSQL: owner of the system schemas.
pub const BOOTSTRAP_ROLE: i32 = 10;
pub const BOOTSTRAP_ROLE_NAME: &str = "meshgate";

/// The fixed OIDs of the system catalogs clients name with `'pg_class'::regclass`.
pub fn system_relation(name: &str) -> Option<i32> {
    Some(match name {
        "pg_type" => 1247,
        "pg_attribute" => 1249,
        "pg_proc" => 1255,
        "pg_class" => PG_CLASS_CLASSOID,
        "pg_database" => PG_DATABASE_CLASSOID,
        "pg_namespace" => PG_NAMESPACE_CLASSOID,
        "pg_am" => 2601,
        "pg_constraint" => 2606,
        "pg_description" => 2609,
        "pg_index" => 2610,
        "pg_trigger" => 2620,
        "pg_authid" => 1260,
        // dbt-postgres finds view dependencies through pg_depend rows whose classid is
        // 'pg_rewrite'::regclass.
        "pg_attrdef" => 2604,
        "pg_depend" => 2608,
        "pg_inherits" => 2611,
        "pg_rewrite" => 2618,
        _ => return None,
    })
}

const FIRST_NORMAL_OID: u64 = 16_384;

/// FNV-1a: stable across Rust releases and platforms, unlike `DefaultHasher`.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A session's temporary table: its OID follows from its name (one session cannot have two
/// temporary tables of one name, and other sessions never see it).
pub fn temp_table_oid(name: &str) -> i32 {
    derive("temp table", name, 0)
}

fn derive(kind: &str, name: &str, attempt: u32) -> i32 {
    let h = fnv1a(format!("{kind}\0{name}\0{attempt}").as_bytes());
    let span = i32::MAX as u64 - FIRST_NORMAL_OID + 1;
    i32::try_from(FIRST_NORMAL_OID + h % span).expect("value is below i32::MAX by construction")
}

/// A role's OID (configured users and product owners).
pub fn role_oid(name: &str) -> i32 {
    derive("role", name, 0)
}

/// Every OID of one mesh, checked for collisions when the mesh is built.
#[derive(Debug, Default)]
pub struct Oids {
    pub database: i32,
    namespaces: HashMap<String, i32>,
    tables: HashMap<(String, String), i32>,
    table_names: HashMap<i32, (String, String)>,
    namespace_names: HashMap<i32, String>,
}

impl Oids {
    /// Objects are visited in name order and a colliding OID is re-derived with the next
    /// attempt number, so the result depends only on the set of names.
    pub fn build(database: &str, products: &BTreeMap<String, Arc<ProductEntry>>) -> Oids {
        let mut used: HashMap<i32, ()> = HashMap::new();
        let mut take = |kind: &str, name: &str| {
            let mut attempt = 0;
            loop {
                let oid = derive(kind, name, attempt);
                if used.insert(oid, ()).is_none() {
                    return oid;
                }
                attempt += 1;
            }
        };
        let mut o = Oids {
            database: take("database", database),
            ..Default::default()
        };
        for (name, oid) in [
            ("pg_catalog", PG_CATALOG_NAMESPACE),
            ("public", PUBLIC_NAMESPACE),
            ("information_schema", INFORMATION_SCHEMA_NAMESPACE),
        ] {
            o.namespaces.insert(name.into(), oid);
            o.namespace_names.insert(oid, name.into());
        }
        for p in products.values() {
            let oid = take("namespace", &p.name);
            o.namespaces.insert(p.name.clone(), oid);
            o.namespace_names.insert(oid, p.name.clone());
            for t in p.tables.values() {
                let oid = take("table", &format!("{}.{}", p.name, t.name));
                o.tables.insert((p.name.clone(), t.name.clone()), oid);
                o.table_names.insert(oid, (p.name.clone(), t.name.clone()));
            }
        }
        o
    }

    /// A schema's OID: a product's, a system schema's, or one derived from the name for any
    /// other schema a session registers.
    pub fn namespace(&self, name: &str) -> i32 {
        self.namespaces
            .get(name)
            .copied()
            .unwrap_or_else(|| derive("namespace", name, 0))
    }

    pub fn namespace_name(&self, oid: i32) -> Option<&str> {
        self.namespace_names.get(&oid).map(String::as_str)
    }

    pub fn table(&self, product: &str, table: &str) -> Option<i32> {
        self.tables
            .get(&(product.to_string(), table.to_string()))
            .copied()
    }

    pub fn table_name(&self, oid: i32) -> Option<(&str, &str)> {
        self.table_names
            .get(&oid)
            .map(|(p, t)| (p.as_str(), t.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_oids_are_stable_and_in_the_user_range() {
        let a = derive("table", "sales.orders", 0);
        assert_eq!(a, derive("table", "sales.orders", 0));
        assert_ne!(a, derive("table", "sales.lineitem", 0));
        assert!(i64::from(a) >= 16_384);
        // A fixed value: changing the derivation would change every client-visible OID.
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
