//! Transaction blocks: BEGIN, COMMIT, ROLLBACK, a failed block, and what a block wrote into
//! writable products.
//!
//! ```text
//!  names: CREATE TABLE, CREATE VIEW, RENAME, DROP, COMMENT ──► an Op in the transaction, applied
//!       to its own copy of the product's catalog (it sees its changes through its own mesh)
//!                          │ COMMIT (or at once outside a transaction block)
//!                          ▼
//!       Workspaces::commit replays the ops on the newest catalog, stores it in one put;
//!       every session sees the new mesh at its next statement
//!  ROLLBACK, a failed block, a session gone inside a block: the table directories it wrote go
//! ```
//!
//! Row writes go to the table format at once, each an atomic commit. A table created in the
//! open transaction is invisible to others until COMMIT, so everything written into it is too;
//! rows inserted into or deleted from a table committed before are a commit of their own,
//! which ROLLBACK does not undo (see README "dbt").

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use pgwire::messages::response::TransactionStatus;

use super::{complete, notice, Client, Failure, Session};
use crate::catalog::workspace::{Manifest, Op, WriteTarget};
use crate::error::{SqlState, UserError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum TxState {
    #[default]
    Idle,
    InBlock,
    Failed,
}

impl TxState {
    pub(super) fn status(self) -> TransactionStatus {
        match self {
            TxState::Idle => TransactionStatus::Idle,
            TxState::InBlock => TransactionStatus::Transaction,
            TxState::Failed => TransactionStatus::Error,
        }
    }
}

/// The session's transaction.
#[derive(Default)]
pub(super) struct Transaction {
    pub state: TxState,
    /// The isolation level the open block was begun with, for SHOW.
    pub isolation: Option<String>,
    /// The open transaction's changes to writable products.
    pub writes: Option<Writes>,
    /// A REPEATABLE READ or SERIALIZABLE block reads the mesh as of its first statement.
    pub pinned_at: Option<i64>,
}

/// A transaction's changes to writable products, until COMMIT or ROLLBACK.
#[derive(Default)]
pub(super) struct Writes {
    /// This transaction's copies of the catalogs it changed.
    manifests: HashMap<String, Manifest>,
    /// The changes, per product, in order, to replay at COMMIT.
    ops: Vec<(String, Op)>,
    /// Table directories this transaction wrote (removed when it rolls back).
    pub written: Vec<(WriteTarget, String)>,
}

impl Session {
    pub(super) async fn begin(
        &mut self,
        level: Option<String>,
        client: &mut dyn Client,
    ) -> Result<(), Failure> {
        if self.tx.state != TxState::Idle {
            notice(
                client,
                true,
                SqlState::ActiveTransaction,
                "there is already a transaction in progress".into(),
            )
            .await?;
        } else {
            self.tx.isolation = level;
            self.tx.pinned_at = None;
            self.settings.begin_transaction();
        }
        self.tx.state = TxState::InBlock;
        complete(client, "BEGIN").await
    }

    /// COMMIT (`commit`) or ROLLBACK. A failed block only rolls back.
    pub(super) async fn end_transaction(
        &mut self,
        commit: bool,
        client: &mut dyn Client,
    ) -> Result<(), Failure> {
        let commit = commit && self.tx.state != TxState::Failed;
        if self.tx.state == TxState::Idle {
            notice(
                client,
                true,
                SqlState::NoActiveTransaction,
                "there is no transaction in progress".into(),
            )
            .await?;
        }
        self.tx.state = TxState::Idle;
        self.tx.isolation = None;
        self.tx.pinned_at = None;
        for r in self.with_settings(|s, cx| Ok(s.end_transaction(commit, cx)))? {
            super::report_setting(client, Some(r)).await?;
        }
        self.portals.clear();
        self.close_transaction_cursors();
        if commit {
            self.commit_writes().await?;
        } else {
            self.rollback_writes();
        }
        complete(client, if commit { "COMMIT" } else { "ROLLBACK" }).await
    }

    /// Whether an open block reads one snapshot of the mesh (REPEATABLE READ, SERIALIZABLE).
    fn snapshot_block(&self) -> bool {
        if self.tx.state == TxState::Idle {
            return false;
        }
        let level = self
            .tx
            .isolation
            .clone()
            .or_else(|| self.get("default_transaction_isolation"))
            .unwrap_or_default();
        matches!(
            level.to_ascii_lowercase().as_str(),
            "repeatable read" | "serializable"
        )
    }

    /// Before a statement plans: the instant its tables are read as of. `mesh.as_of` wins; a
    /// snapshot block pins the instant of its first statement, so tables it first reads later
    /// are read as they were then too.
    pub(super) fn pin_reads(&mut self) -> Result<(), UserError> {
        let setting = self.get("mesh.as_of").unwrap_or_default();
        let at = if !setting.is_empty() {
            Some(crate::catalog::history::instant(&setting)?)
        } else if self.snapshot_block() {
            Some(
                *self
                    .tx
                    .pinned_at
                    .get_or_insert_with(|| chrono::Utc::now().timestamp_millis()),
            )
        } else {
            None
        };
        self.access.set_as_of(at);
        Ok(())
    }

    /// Writes need the newest version of what they change: a session reading the past may not
    /// write.
    pub(super) fn refuse_pinned_write(&self) -> Result<(), UserError> {
        let why = if !self.get("mesh.as_of").unwrap_or_default().is_empty() {
            "mesh.as_of is set"
        } else if self.snapshot_block() {
            "the transaction reads one snapshot of the mesh (REPEATABLE READ or SERIALIZABLE)"
        } else {
            return Ok(());
        };
        Err(UserError::new(
            SqlState::ReadOnlySqlTransaction,
            format!("cannot execute a write in a read-only transaction: {why}"),
        ))
    }

    /// The catalog of `product` as this transaction sees it.
    pub(super) fn working(&self, product: &str) -> Manifest {
        if let Some(m) = self
            .tx
            .writes
            .as_ref()
            .and_then(|w| w.manifests.get(product))
        {
            return m.clone();
        }
        self.services
            .mesh
            .workspaces
            .snapshot()
            .get(product)
            .map(|m| (**m).clone())
            .unwrap_or_default()
    }

    /// Records one change of a product's catalog; commits at once outside a transaction block.
    pub(super) async fn change(&mut self, product: &str, op: Op) -> Result<(), Failure> {
        let (p, _) = self.writable(product)?;
        let mut m = self.working(product);
        // What the op frees is freed at commit, when no earlier state can still need it.
        let _freed = m.apply(&op, &p.declared)?;
        let writes = self.tx.writes.get_or_insert_with(Writes::default);
        writes.manifests.insert(product.to_string(), m);
        writes.ops.push((product.to_string(), op));
        if self.tx.state == TxState::Idle {
            self.commit_writes().await?;
        } else {
            self.install_write_view()?;
        }
        Ok(())
    }

    /// A table directory the transaction wrote (removed if it does not commit).
    pub(super) fn wrote_dir(&mut self, target: &WriteTarget, dir: &str) {
        self.tx
            .writes
            .get_or_insert_with(Writes::default)
            .written
            .push((target.clone(), dir.to_string()));
    }

    /// Builds this session's own mesh: the committed catalogs with this transaction's copies.
    pub(super) fn install_write_view(&mut self) -> Result<(), UserError> {
        let Some(writes) = self.tx.writes.as_ref() else {
            return Ok(());
        };
        let mesh = self
            .services
            .mesh
            .with_changes(&writes.manifests)
            .map_err(|e| UserError::internal("transaction catalog", &e))?;
        self.reinstall(mesh);
        Ok(())
    }

    /// COMMIT of a transaction with writes: its catalog changes become visible, all at once.
    pub(super) async fn commit_writes(&mut self) -> Result<(), UserError> {
        let Some(writes) = self.tx.writes.take() else {
            return Ok(());
        };
        let state = self.services.mesh.clone();
        let mesh = state.mesh();
        let mut changes: Vec<(String, WriteTarget, BTreeSet<String>, Vec<Op>)> = Vec::new();
        for (product, op) in writes.ops {
            if let Some(c) = changes.iter_mut().find(|c| c.0 == product) {
                c.3.push(op);
                continue;
            }
            let Some(p) = mesh.products.get(&product) else {
                continue;
            };
            let Some(target) = p.write.clone() else {
                continue;
            };
            changes.push((product, target, p.declared.clone(), vec![op]));
        }
        let freed = match state.workspaces.commit(&changes).await {
            Ok(f) => f,
            Err(e) => {
                self.discard_dirs(writes.written, Duration::ZERO);
                self.reinstall_shared();
                return Err(e);
            }
        };
        // Directories this transaction wrote but no longer names (created, then dropped).
        let named: Vec<String> = state
            .workspaces
            .snapshot()
            .values()
            .flat_map(|m| m.tables.values().map(|t| t.dir.clone()))
            .collect();
        let unnamed: Vec<(WriteTarget, String)> = writes
            .written
            .into_iter()
            .filter(|(_, d)| !named.contains(d))
            .collect();
        self.discard_dirs(unnamed, Duration::ZERO);
        // A statement planned over the catalog before this commit may still be scanning a
        // dropped table: its files go once such a statement would have refreshed.
        let grace = Duration::from_secs(state.config().server.metadata_refresh_secs);
        self.discard_dirs(freed, grace);
        if let Err(e) = state.rebuild() {
            tracing::error!("mesh not rebuilt after a commit: {e}");
        }
        self.reinstall_shared();
        Ok(())
    }

    /// ROLLBACK (or a failed transaction's end): nothing it created stays.
    pub(super) fn rollback_writes(&mut self) {
        if let Some(writes) = self.tx.writes.take() {
            self.discard_dirs(writes.written, Duration::ZERO);
            self.reinstall_shared();
        }
    }

    /// A failed write outside a transaction block leaves nothing to commit: drop what it wrote.
    pub(super) fn forget_if_idle(&mut self) {
        if self.tx.state == TxState::Idle {
            self.rollback_writes();
        }
    }

    /// At the session's end: an open transaction's tables are never committed.
    pub(super) fn discard_open_writes(&mut self) {
        if let Some(writes) = self.tx.writes.take() {
            tracing::info!(
                dirs = writes.written.len(),
                "session ended inside a transaction with writes: discarding them"
            );
            self.discard_dirs(writes.written, Duration::ZERO);
        }
    }

    /// Back to the shared mesh as it is now.
    fn reinstall_shared(&mut self) {
        self.generation = self.services.mesh.generation();
        let mesh = self.services.mesh.mesh();
        self.reinstall(mesh);
    }

    fn discard_dirs(&self, dirs: Vec<(WriteTarget, String)>, after: Duration) {
        if dirs.is_empty() {
            return;
        }
        self.services.executor.spawn_background(async move {
            if !after.is_zero() {
                tokio::time::sleep(after).await;
            }
            for (t, d) in dirs {
                t.remove_dir(&d).await;
            }
        });
    }
}
