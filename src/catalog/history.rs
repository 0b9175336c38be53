//! Tables as they were: opening an older version (time travel), and the commits a table's
//! format still keeps.
//!
//! ```text
//!  name FOR VERSION / TIMESTAMP AS OF, mesh.as_of, a pinned transaction
//!    ─► TableEntry::open_at(AsOf) ─► versions cache (per table, bounded) ─► Connector::open_at
//! ```
//!
//! A version, once committed, never changes, and an instant in the past always picks the same
//! one (a later commit is dated later), so opened versions are kept without expiry; the bound
//! keeps a dashboard that walks through history from holding every version's metadata.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use meshgate_connectors::{AsOf, Commit, ConnectorError, OpenedTable};
use meshgate_sqlfront::versions::Version;

use super::{Mesh, TableEntry};
use crate::error::{SqlState, UserError};

/// Opened versions kept per table.
pub(super) const VERSIONS_KEPT: usize = 8;

/// The versions of one table opened lately, the most recently used last.
#[derive(Default, Clone)]
pub(super) struct Versions(VecDeque<(AsOf, OpenedTable)>);

impl Versions {
    fn get(&mut self, at: AsOf) -> Option<OpenedTable> {
        let i = self.0.iter().position(|(a, _)| *a == at)?;
        let hit = self.0.remove(i)?;
        let t = hit.1.clone();
        self.0.push_back(hit);
        Some(t)
    }

    /// Drops every way `version` was reached (by number, or by an instant that picked it).
    fn forget(&mut self, version: &str) {
        self.0
            .retain(|(_, t)| t.version.as_deref() != Some(version));
    }

    fn put(&mut self, at: AsOf, t: OpenedTable) {
        if self.0.len() >= VERSIONS_KEPT {
            self.0.pop_front();
        }
        self.0.push_back((at, t));
    }
}

impl TableEntry {
    /// The table as it was at `at`. Loads of one table are single-flight, as for the newest
    /// version.
    pub async fn open_at(&self, at: AsOf) -> Result<OpenedTable, UserError> {
        if self.view.is_some() {
            return Err(UserError::new(
                SqlState::WrongObjectType,
                format!(
                    "{}.{} is a view: only tables have versions",
                    self.product, self.name
                ),
            ));
        }
        self.open_version(at).await.map_err(|e| self.open_failed(e))
    }

    /// The table as it was at the instant a session is pinned to. A format that keeps no
    /// history (plain Parquet) has only its present to show, so it is read as it is now.
    pub async fn open_pinned(&self, at_ms: i64) -> Result<OpenedTable, UserError> {
        match self.open_version(AsOf::Timestamp(at_ms)).await {
            Err(ConnectorError::NoHistory { .. }) => self.open().await,
            opened => opened.map_err(|e| self.open_failed(e)),
        }
    }

    async fn open_version(&self, at: AsOf) -> Result<OpenedTable, ConnectorError> {
        let mut versions = self.versions.lock().await;
        if let Some(t) = versions.get(at) {
            return Ok(t);
        }
        // Each REPEATABLE READ transaction pins its own instant: when the format can name the
        // version an instant picks, one already open serves it.
        let mut open = at;
        if let AsOf::Timestamp(_) = at {
            if let Some(v) = self
                .connector
                .resolve(&self.spec, &self.storage, at)
                .await?
            {
                if let Some(t) = versions.get(AsOf::Version(v)) {
                    versions.put(at, t.clone());
                    return Ok(t);
                }
                open = AsOf::Version(v);
            }
        }
        let t = self
            .connector
            .open_at(&self.spec, &self.storage, open)
            .await?;
        // An instant resolves to a version: a later read of that version by number needs no
        // open of its own.
        let number = t.version.as_deref().and_then(|v| v.parse().ok());
        if let (AsOf::Timestamp(_), Some(v)) = (at, number) {
            if versions.get(AsOf::Version(v)).is_none() {
                versions.put(AsOf::Version(v), t.clone());
            }
        }
        versions.put(at, t.clone());
        Ok(t)
    }

    /// Keeps the newest version, just opened, among the versions: the policy view over it and
    /// a statement naming the table again read it by number.
    pub(super) async fn remember(&self, t: &OpenedTable) {
        let Some(v) = t.version.as_deref().and_then(|v| v.parse().ok()) else {
            return;
        };
        let mut versions = self.versions.lock().await;
        if versions.get(AsOf::Version(v)).is_none() {
            versions.put(AsOf::Version(v), t.clone());
        }
    }

    /// A scan of the table at `version` found a data file gone: the version is opened afresh
    /// next time, which checks its files (see `Connector::open_at`); when it is the newest
    /// version opened, the next statement opens the table's newest again. Never waits: a
    /// version being opened right now is checked by that open.
    fn forget_version(&self, version: &str) {
        if let Ok(mut versions) = self.versions.try_lock() {
            versions.forget(version);
        }
        if let Ok(mut slot) = self.cached.try_lock() {
            if slot
                .as_ref()
                .is_some_and(|(_, t)| t.version.as_deref() == Some(version))
            {
                *slot = None;
            }
        }
    }

    /// The commits the table's format still keeps, oldest first.
    pub async fn history(&self) -> Result<Vec<Commit>, UserError> {
        if self.view.is_some() {
            return Ok(Vec::new());
        }
        self.connector
            .history(&self.spec, &self.storage)
            .await
            .map_err(|e| self.open_failed(e))
    }

    /// What the client learns of a failed open: a version that is not there in full (the text
    /// names only the table and its versions); anything else by table and error id, the
    /// connector's text (which can hold storage URLs) going to the log.
    pub(super) fn open_failed(&self, e: ConnectorError) -> UserError {
        match e {
            ConnectorError::NoSuchVersion { .. }
            | ConnectorError::NoHistory { .. }
            | ConnectorError::VersionRemoved { .. } => {
                UserError::new(SqlState::InvalidParameterValue, e.to_string())
            }
            ConnectorError::Unavailable { source, .. } => crate::error::unavailable(&source),
            ConnectorError::Remote { source } => UserError::new(
                SqlState::from_code(&source.code).unwrap_or(SqlState::InternalError),
                source.to_string(),
            ),
            // A database or peer gateway answered that it has no such table: its answer names
            // the server, never a path or a credential.
            ConnectorError::NotFound { .. } if self.spec.remote.is_some() => {
                UserError::new(SqlState::UndefinedTable, e.to_string())
            }
            e => {
                let id = crate::error::error_id();
                tracing::error!(error_id = %id, table = %self.spec.qualified_name, "opening table failed: {e}");
                UserError::new(
                    SqlState::InternalError,
                    format!(
                        "table {}.{} could not be opened from its storage (error id {id}); the server log has details",
                        self.product, self.name
                    ),
                )
            }
        }
    }
}

/// The tables a statement reads, at the versions it reads them. Each version was whole when
/// opened, but VACUUM or snapshot expiry may delete its files later (an older version's, or
/// the newest opened one's once a newer commit replaced them), and a scan then fails on a
/// missing file with a storage error that names a path.
#[derive(Default)]
pub struct ReadVersions(Vec<Read>);

struct Read {
    entry: Arc<TableEntry>,
    version: String,
}

impl ReadVersions {
    /// From the statement's record of versions read (`product.table` ─► versions).
    pub fn of(mesh: &Mesh, read: &BTreeMap<String, String>) -> ReadVersions {
        let mut all = Vec::new();
        for (name, versions) in read {
            let Some((product, table)) = name.split_once('.') else {
                continue;
            };
            let Some(entry) = mesh.table(product, table) else {
                continue;
            };
            for v in versions.split(", ") {
                all.push(Read {
                    entry: entry.clone(),
                    version: v.to_string(),
                });
            }
        }
        ReadVersions(all)
    }

    /// The client's error for a scan that found a file missing, when the statement read
    /// versioned tables: those versions are forgotten, so reading one again checks it and
    /// refuses it with the oldest version that can still be read, and a table read at its
    /// newest version is opened again at its newest, which reads.
    pub fn file_gone(&self) -> Option<UserError> {
        let (first, rest) = self.0.split_first()?;
        for r in &self.0 {
            r.entry.forget_version(&r.version);
        }
        let named =
            |r: &Read| format!("{}.{} version {}", r.entry.product, r.entry.name, r.version);
        let message = if rest.is_empty() {
            format!(
                "table {} can no longer be read: data files it needs were removed (VACUUM or snapshot expiry) after it was opened; the table is opened afresh when read again",
                named(first)
            )
        } else {
            format!(
                "a data file of a table was removed (VACUUM or snapshot expiry) after the version read was opened; the tables are opened afresh when read again; versions read: {}",
                self.0.iter().map(named).collect::<Vec<_>>().join(", ")
            )
        };
        Some(UserError::new(SqlState::InvalidParameterValue, message))
    }
}

/// What a relation name's version (see `meshgate_sqlfront::versions`) asks the connector for.
pub fn as_of(version: Version<'_>) -> Result<AsOf, UserError> {
    Ok(match version {
        Version::Number(n) => AsOf::Version(n),
        Version::Timestamp(text) => AsOf::Timestamp(instant(text)?),
    })
}

/// A `timestamptz` literal as ms since the epoch: `2026-11-30 12:00:00+00` (any offset, `Z`, a
/// `T` between date and time, fractions of a second), or a date. Without an offset it is UTC.
/// The future is refused: what a table will hold is not known yet, and a read pinned there
/// would change as commits arrive.
pub fn instant(text: &str) -> Result<i64, UserError> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    let bad = || {
        UserError::new(
            SqlState::InvalidDatetimeFormat,
            format!("invalid input syntax for type timestamp with time zone: \"{text}\""),
        )
    };
    let mut t = text.trim().to_string();
    if t.get(10..11).is_some_and(|c| c.eq_ignore_ascii_case("t")) {
        t.replace_range(10..11, " ");
    }
    let t = match t.strip_suffix(['Z', 'z']) {
        Some(rest) => format!("{rest}+00"),
        None => t
            .strip_suffix(" UTC")
            .map(|r| format!("{r}+00"))
            .unwrap_or(t),
    };
    let ms = if let Ok(d) = DateTime::parse_from_str(&t, "%Y-%m-%d %H:%M:%S%.f%#z") {
        d.timestamp_millis()
    } else if let Ok(d) = DateTime::parse_from_str(&t, "%Y-%m-%d %H:%M%#z") {
        d.timestamp_millis()
    } else if let Ok(d) = NaiveDateTime::parse_from_str(&t, "%Y-%m-%d %H:%M:%S%.f") {
        d.and_utc().timestamp_millis()
    } else if let Ok(d) = NaiveDate::parse_from_str(&t, "%Y-%m-%d") {
        d.and_hms_opt(0, 0, 0)
            .ok_or_else(bad)?
            .and_utc()
            .timestamp_millis()
    } else {
        return Err(bad());
    };
    if ms > chrono::Utc::now().timestamp_millis() {
        return Err(UserError::new(
            SqlState::InvalidParameterValue,
            format!("{text} is in the future: tables can be read as of now or earlier"),
        ));
    }
    Ok(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_timestamps_as_postgres_writes_them() {
        let noon = 1_764_504_000_000; // 2025-11-30 12:00:00 UTC
        for t in [
            "2025-11-30 12:00:00+00",
            "2025-11-30 12:00:00+00:00",
            "2025-11-30T12:00:00Z",
            "2025-11-30 13:00:00+01",
            "2025-11-30 12:00:00",
            "2025-11-30 12:00:00.000 UTC",
            "2025-11-30 12:00+00",
        ] {
            assert_eq!(instant(t).ok(), Some(noon), "{t}");
        }
        assert_eq!(instant("2025-11-30").ok(), Some(noon - 12 * 3_600_000));
        assert_eq!(
            instant("yesterday").unwrap_err().code,
            SqlState::InvalidDatetimeFormat
        );
        assert_eq!(
            instant("2999-01-01").unwrap_err().code,
            SqlState::InvalidParameterValue
        );
    }

    #[test]
    fn keeps_the_versions_used_last() {
        let provider: std::sync::Arc<dyn datafusion::catalog::TableProvider> =
            std::sync::Arc::new(datafusion::datasource::empty::EmptyTable::new(
                std::sync::Arc::new(datafusion::arrow::datatypes::Schema::empty()),
            ));
        let mut v = Versions::default();
        for i in 0..VERSIONS_KEPT as i64 {
            v.put(AsOf::Version(i), OpenedTable::new(provider.clone()));
        }
        assert!(v.get(AsOf::Version(0)).is_some());
        v.put(AsOf::Timestamp(7), OpenedTable::new(provider.clone()));
        assert!(v.get(AsOf::Version(0)).is_some(), "used last, so kept");
        assert!(
            v.get(AsOf::Version(1)).is_none(),
            "used least lately, so gone"
        );
        assert_eq!(v.0.len(), VERSIONS_KEPT);
    }
}
