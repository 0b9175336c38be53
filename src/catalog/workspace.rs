//! Writable data products: the tables and views clients (dbt, mostly) create through meshgate.
//!
//! A domain marks a product `writable`; what is created in it lives in the domain's own storage,
//! under the product's write location:
//!
//! ```text
//!   <storage.root>/<write_location>/
//!       _meshgate/catalog/<n>.json    the product's created relations (this module's Manifest),
//!                                     one file per commit, the highest number current
//!       orders_daily-<uuid>/          one Delta table per CREATE TABLE, never renamed on disk
//!       ...
//! ```
//!
//! Data goes into a fresh directory for every CREATE TABLE, written and committed by delta-rs
//! before the catalog names it; the catalog is the only thing a rename, drop, comment or view
//! changes, and each change is one new catalog file. So a crash mid-write leaves at most an
//! unnamed directory, never a half-visible table, and a transaction's DDL (dbt's create, rename
//! and drop) becomes visible all at once at COMMIT: the session keeps its changes as [`Op`]s
//! and the commit replays them on the newest catalog.
//!
//! Several servers (replicas behind a load balancer) may commit to one product: a commit writes
//! catalog `n + 1` only if no file of that number exists (a put that refuses to overwrite, which
//! local disks and S3 both provide, the rule Delta's own log follows). The server that loses the
//! race replays its ops on the winner's catalog and tries again; ops that no longer apply (the
//! winner took the same name) fail the transaction with 40001, as in PostgreSQL.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use meshgate_connectors::Storage;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::{SqlState, UserError};

/// Where a writable product keeps what is created in it.
#[derive(Debug, Clone)]
pub struct WriteTarget {
    pub storage: Storage,
    /// The product's write root; ends with `/`.
    pub root: url::Url,
}

impl WriteTarget {
    /// The catalog of servers before numbered catalogs: read as number 0 when no numbered one
    /// exists yet.
    fn first_catalog_path(&self) -> StorePath {
        store_path(&self.root, "_meshgate/catalog.json")
    }

    fn catalogs_path(&self) -> StorePath {
        store_path(&self.root, "_meshgate/catalog")
    }

    fn catalog_path(&self, n: u64) -> StorePath {
        store_path(&self.root, &format!("_meshgate/catalog/{n:020}.json"))
    }

    /// The URL of a created table's directory.
    pub fn table_url(&self, dir: &str) -> url::Url {
        let mut u = self
            .root
            .join(dir)
            .expect("a created table's directory name is a plain path segment");
        if !u.path().ends_with('/') {
            let p = format!("{}/", u.path());
            u.set_path(&p);
        }
        u
    }

    /// Removes a table directory that no catalog names any more (dropped, replaced, or written
    /// by a rolled-back transaction). Best effort: a leftover directory is unreachable anyway.
    pub async fn remove_dir(&self, dir: &str) {
        use futures::StreamExt;
        let prefix = store_path(&self.root, dir);
        let store = self.storage.object_store.clone();
        let paths = store
            .list(Some(&prefix))
            .filter_map(|m| async move { m.ok().map(|m| Ok(m.location)) })
            .boxed();
        let mut deleted = store.delete_stream(paths);
        while let Some(r) = deleted.next().await {
            if let Err(e) = r {
                tracing::warn!(dir, "removing a table directory no catalog names: {e}");
                return;
            }
        }
        if matches!(self.storage.kind, meshgate_connectors::StorageKind::Local) {
            // Local stores leave the emptied folders behind.
            if let Ok(path) = self.table_url(dir).to_file_path() {
                let _ = tokio::fs::remove_dir_all(path).await;
            }
        }
    }
}

fn store_path(root: &url::Url, rel: &str) -> StorePath {
    let joined = format!("{}{}", root.path(), rel);
    StorePath::from_url_path(joined).unwrap_or_else(|_| StorePath::from(rel))
}

/// A writable product's created relations, as stored in its catalog files.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(default)]
    pub tables: BTreeMap<String, CreatedTable>,
    #[serde(default)]
    pub views: BTreeMap<String, CreatedView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedTable {
    /// The Delta table's directory, relative to the write root.
    pub dir: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    /// What `CREATE TABLE … AS` built it from; absent for empty tables and for tables created
    /// before sources were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<TableSource>,
}

/// The query a table was built from, for lineage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableSource {
    /// As meshgate planned it: every name qualified with the schema it resolved in.
    pub sql: String,
    /// Relations it read, `product.table`.
    #[serde(default)]
    pub reads: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedView {
    /// The defining query, as the client wrote it (pg_views shows it).
    pub sql: String,
    /// Output columns and their Arrow types, so catalogs list them without planning the view.
    pub schema: Vec<ViewColumn>,
    /// Relations the definition names, `product.table`: creating a view that reaches itself
    /// through them is refused, so planning a view always ends.
    #[serde(default)]
    pub depends_on: Vec<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViewColumn {
    pub name: String,
    pub data_type: String,
}

/// One change to a product's catalog, kept by a session until its transaction commits.
#[derive(Debug, Clone)]
pub enum Op {
    CreateTable {
        name: String,
        table: CreatedTable,
    },
    CreateView {
        name: String,
        view: CreatedView,
        replace: bool,
    },
    Rename {
        from: String,
        to: String,
        view: bool,
    },
    Drop {
        name: String,
        view: bool,
    },
    Comment {
        name: String,
        column: Option<String>,
        text: String,
    },
    /// `DROP SCHEMA … CASCADE`: every created relation goes; the product itself is the domain's.
    DropAll,
}

fn exists(name: &str) -> UserError {
    UserError::new(
        SqlState::DuplicateTable,
        format!("relation \"{name}\" already exists"),
    )
}

fn missing(name: &str, view: bool) -> UserError {
    let kind = if view { "view" } else { "table" };
    UserError::new(
        SqlState::UndefinedTable,
        format!("{kind} \"{name}\" does not exist"),
    )
}

impl Manifest {
    pub fn has(&self, name: &str) -> bool {
        self.tables.contains_key(name) || self.views.contains_key(name)
    }

    /// Applies one change; `declared` are the product's tables from the domain file, which
    /// nothing created may shadow. Returns the table directories the change leaves unnamed.
    pub fn apply(
        &mut self,
        op: &Op,
        declared: &BTreeSet<String>,
    ) -> Result<Vec<String>, UserError> {
        let taken = |m: &Manifest, n: &str| declared.contains(n) || m.has(n);
        match op {
            Op::CreateTable { name, table } => {
                if taken(self, name) {
                    return Err(exists(name));
                }
                self.tables.insert(name.clone(), table.clone());
                Ok(vec![])
            }
            Op::CreateView {
                name,
                view,
                replace,
            } => {
                if declared.contains(name)
                    || self.tables.contains_key(name)
                    || (!replace && self.views.contains_key(name))
                {
                    return Err(exists(name));
                }
                self.views.insert(name.clone(), view.clone());
                Ok(vec![])
            }
            Op::Rename { from, to, view } => {
                if taken(self, to) {
                    return Err(exists(to));
                }
                if *view {
                    let v = self.views.remove(from).ok_or_else(|| missing(from, true))?;
                    self.views.insert(to.clone(), v);
                } else {
                    let t = self
                        .tables
                        .remove(from)
                        .ok_or_else(|| missing(from, false))?;
                    self.tables.insert(to.clone(), t);
                }
                Ok(vec![])
            }
            Op::Drop { name, view } => {
                if *view {
                    self.views
                        .remove(name)
                        .map(|_| vec![])
                        .ok_or_else(|| missing(name, true))
                } else {
                    self.tables
                        .remove(name)
                        .map(|t| vec![t.dir])
                        .ok_or_else(|| missing(name, false))
                }
            }
            Op::Comment { name, column, text } => {
                let (description, columns) = if let Some(t) = self.tables.get_mut(name) {
                    (&mut t.description, &mut t.columns)
                } else if let Some(v) = self.views.get_mut(name) {
                    (&mut v.description, &mut v.columns)
                } else if declared.contains(name) {
                    return Err(UserError::new(
                        SqlState::InsufficientPrivilege,
                        format!("permission denied: \"{name}\" is described in its domain's file; comment on the tables created through meshgate only"),
                    ));
                } else {
                    return Err(missing(name, false));
                };
                match column {
                    None => *description = text.clone(),
                    Some(c) if text.is_empty() => {
                        columns.remove(c);
                    }
                    Some(c) => {
                        columns.insert(c.clone(), text.clone());
                    }
                }
                Ok(vec![])
            }
            Op::DropAll => {
                let dirs = self.tables.values().map(|t| t.dir.clone()).collect();
                self.tables.clear();
                self.views.clear();
                Ok(dirs)
            }
        }
    }
}

/// The committed catalogs of every writable product, shared by all sessions.
#[derive(Default)]
pub struct Workspaces {
    committed: RwLock<HashMap<String, Arc<Manifest>>>,
    /// Commits are replayed and stored one at a time.
    commit: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Workspaces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Workspaces")
    }
}

fn storage_error(what: &str, product: &str, e: &dyn std::fmt::Display) -> UserError {
    let id = crate::error::error_id();
    tracing::error!(error_id = %id, product, "{what}: {e}");
    UserError::new(
        SqlState::IoError,
        format!("the catalog of product {product} could not be {what} in its domain's storage (error id {id}); the server log has details"),
    )
}

impl Workspaces {
    pub fn snapshot(&self) -> HashMap<String, Arc<Manifest>> {
        self.committed
            .read()
            .expect("lock is never poisoned: no panics while held")
            .clone()
    }

    pub fn is_loaded(&self, product: &str) -> bool {
        self.committed
            .read()
            .expect("lock is never poisoned: no panics while held")
            .contains_key(product)
    }

    /// Reads a product's catalog from storage (none yet: empty).
    pub async fn load(&self, product: &str, target: &WriteTarget) -> Result<(), UserError> {
        let (manifest, _) = read(product, target).await?;
        self.committed
            .write()
            .expect("lock is never poisoned: no panics while held")
            .insert(product.to_string(), Arc::new(manifest));
        Ok(())
    }

    /// Replays each product's ops on its newest catalog and stores the results. Nothing is
    /// stored for a product when any op no longer applies (another session changed the same
    /// names first): that is a serialization failure, as in PostgreSQL. Returns the
    /// directories no catalog names any more.
    pub async fn commit(
        &self,
        changes: &[(String, WriteTarget, BTreeSet<String>, Vec<Op>)],
    ) -> Result<Vec<(WriteTarget, String)>, UserError> {
        let _one_at_a_time = self.commit.lock().await;
        let mut next = Vec::new();
        let mut freed = Vec::new();
        for (product, target, declared, ops) in changes {
            let (m, dirs) = store_next(product, target, declared, ops).await?;
            freed.extend(dirs.into_iter().map(|d| (target.clone(), d)));
            next.push((product.clone(), target.clone(), m));
        }
        // Directories still named after every op (created, then renamed) are not freed.
        freed.retain(|(t, d)| {
            !next
                .iter()
                .any(|(_, nt, m)| nt.root == t.root && m.tables.values().any(|x| &x.dir == d))
        });
        let mut committed = self
            .committed
            .write()
            .expect("lock is never poisoned: no panics while held");
        for (product, _, m) in next {
            committed.insert(product, Arc::new(m));
        }
        Ok(freed)
    }
}

/// Commits lost to other servers before a transaction gives up (40001).
const COMMIT_ATTEMPTS: usize = 8;
/// Numbered catalogs kept behind the newest (older ones are deleted after a commit).
const CATALOGS_KEPT: u64 = 10;

/// Writes the catalog after `ops` as the product's next numbered catalog, replaying them on a
/// newer catalog when another server committed first. Returns it and the directories the ops
/// freed.
async fn store_next(
    product: &str,
    target: &WriteTarget,
    declared: &BTreeSet<String>,
    ops: &[Op],
) -> Result<(Manifest, Vec<String>), UserError> {
    let conflict = |why: String| {
        UserError::new(
            SqlState::SerializationFailure,
            format!("could not serialize the changes to product {product}: {why}; run the transaction again"),
        )
    };
    for _ in 0..COMMIT_ATTEMPTS {
        let (mut m, n) = read(product, target).await?;
        let mut freed = Vec::new();
        for op in ops {
            freed.extend(m.apply(op, declared).map_err(|e| conflict(e.message))?);
        }
        let body =
            serde_json::to_vec_pretty(&m).map_err(|e| storage_error("encoded", product, &e))?;
        let put = target
            .storage
            .object_store
            .put_opts(
                &target.catalog_path(n + 1),
                PutPayload::from(body),
                PutMode::Create.into(),
            )
            .await;
        match put {
            Ok(_) => {
                forget_old(target, n + 1).await;
                return Ok((m, freed));
            }
            // Another server committed this number first: replay on its catalog.
            Err(object_store::Error::AlreadyExists { .. }) => continue,
            Err(e) => return Err(storage_error("written", product, &e)),
        }
    }
    Err(conflict(format!(
        "other servers committed to it {COMMIT_ATTEMPTS} times meanwhile"
    )))
}

/// Deletes the catalog that `newest` pushed out of the kept window (the newest and the
/// [`CATALOGS_KEPT`] before it). Best effort: a leftover file is only read when it is the
/// newest.
async fn forget_old(target: &WriteTarget, newest: u64) {
    let Some(n) = newest.checked_sub(CATALOGS_KEPT + 1) else {
        return;
    };
    match target
        .storage
        .object_store
        .delete(&target.catalog_path(n))
        .await
    {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
        Err(e) => tracing::debug!("removing an old catalog: {e}"),
    }
}

/// The product's newest catalog and its number (0: none numbered yet, the first catalog or
/// nothing).
async fn read(product: &str, target: &WriteTarget) -> Result<(Manifest, u64), UserError> {
    use futures::TryStreamExt;
    let store = &target.storage.object_store;
    let listed: Vec<object_store::ObjectMeta> = store
        .list(Some(&target.catalogs_path()))
        .try_collect()
        .await
        .map_err(|e| storage_error("read", product, &e))?;
    let newest = listed
        .iter()
        .filter_map(|m| {
            m.location
                .filename()?
                .strip_suffix(".json")?
                .parse::<u64>()
                .ok()
        })
        .max();
    let (path, n) = match newest {
        Some(n) => (target.catalog_path(n), n),
        None => (target.first_catalog_path(), 0),
    };
    match store.get(&path).await {
        Ok(r) => {
            let bytes = r
                .bytes()
                .await
                .map_err(|e| storage_error("read", product, &e))?;
            let m =
                serde_json::from_slice(&bytes).map_err(|e| storage_error("read", product, &e))?;
            Ok((m, n))
        }
        Err(object_store::Error::NotFound { .. }) if n == 0 => Ok((Manifest::default(), 0)),
        Err(e) => Err(storage_error("read", product, &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(dir: &str) -> CreatedTable {
        CreatedTable {
            dir: dir.into(),
            description: String::new(),
            columns: BTreeMap::new(),
            source: None,
        }
    }

    #[test]
    fn dbt_table_swap_replays_in_order() {
        let declared: BTreeSet<String> = ["orders".to_string()].into();
        let mut m = Manifest::default();
        m.apply(
            &Op::CreateTable {
                name: "model".into(),
                table: table("model-1"),
            },
            &declared,
        )
        .expect("create");
        // dbt: create tmp, rename model → backup, tmp → model, drop backup.
        let ops = [
            Op::CreateTable {
                name: "model__dbt_tmp".into(),
                table: table("model-2"),
            },
            Op::Rename {
                from: "model".into(),
                to: "model__dbt_backup".into(),
                view: false,
            },
            Op::Rename {
                from: "model__dbt_tmp".into(),
                to: "model".into(),
                view: false,
            },
            Op::Drop {
                name: "model__dbt_backup".into(),
                view: false,
            },
        ];
        let freed: Vec<String> = ops
            .iter()
            .flat_map(|op| m.apply(op, &declared).expect("applies"))
            .collect();
        assert_eq!(freed, vec!["model-1".to_string()]);
        assert_eq!(m.tables.keys().collect::<Vec<_>>(), vec!["model"]);
        assert_eq!(m.tables["model"].dir, "model-2");
    }

    #[test]
    fn names_cannot_clash_or_shadow_declared_tables() {
        let declared: BTreeSet<String> = ["orders".to_string()].into();
        let mut m = Manifest::default();
        let e = m
            .apply(
                &Op::CreateTable {
                    name: "orders".into(),
                    table: table("x"),
                },
                &declared,
            )
            .expect_err("declared");
        assert_eq!(e.code.code(), "42P07");
        m.apply(
            &Op::CreateTable {
                name: "t".into(),
                table: table("t-1"),
            },
            &declared,
        )
        .expect("create");
        let e = m
            .apply(
                &Op::Rename {
                    from: "nope".into(),
                    to: "u".into(),
                    view: false,
                },
                &declared,
            )
            .expect_err("missing");
        assert_eq!(e.code.code(), "42P01");
        let e = m
            .apply(
                &Op::Comment {
                    name: "orders".into(),
                    column: None,
                    text: "x".into(),
                },
                &declared,
            )
            .expect_err("declared tables are described by their domain");
        assert_eq!(e.code.code(), "42501");
    }
}
