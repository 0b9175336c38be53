//! The seam between the mesh and the table formats.
//!
//! A domain configures its storage once ([`Storage`]); every table of that domain is opened through
//! a [`Connector`] for its format, which turns a [`TableSpec`] into a DataFusion `TableProvider`.
//! Tables created through meshgate are written by the [`Writer`] of the one format it writes.
//! The mesh holds every format in a [`Registry`] and names none of them.
//!
//! ```text
//!   domain file ──► Storage (object store + options, secrets redacted)
//!                        │
//!   table entry ──► TableSpec ──► Connector::open ──► OpenedTable { provider, version, … }
//!   running plan ──► Connector::planned_scan ──► bytes a format's own scan planned to read
//!   rows ──► Writer::write ──► one commit of a table meshgate created
//! ```
//!
//! The formats disagree on how they are told about credentials (object_store config keys for
//! DataFusion and delta-rs, `s3.*` properties for iceberg's opendal storage), so `Storage` keeps
//! them typed and each connector asks for the spelling it needs.

mod engine;
mod remote;
mod scan;
mod secret;
mod storage;
mod write;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::TableProvider;
use datafusion::physical_plan::ExecutionPlan;
use futures::future::BoxFuture;

pub use engine::{RemoteEngine, RemoteTable};
pub use remote::{
    filters_pushdown, scan_columns, select_statement, sql_operator, MysqlSource, OnBehalfOf,
    PeerSource, PostgresSource, RemoteError, RemoteSource, SourceUnavailable, SqliteSource,
    TlsMode, Unreachable,
};
pub use scan::{spawned_batches, Fetched, ScanSource, SourceScanExec};
pub use secret::Secret;
pub use storage::{S3Settings, Storage, StorageKind};
pub use write::{conform, conformed, no_rows, WriteMode, Writer};

/// Errors a connector reports while opening a table.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The table's location holds no table of the declared format (a user-fixable setup error).
    #[error("table {table} not found at its configured location: {reason}")]
    NotFound { table: String, reason: String },
    /// The configuration is wrong in a way only visible when opening (e.g. unknown catalog).
    #[error("table {table}: {reason}")]
    Config { table: String, reason: String },
    /// The format keeps no history (plain Parquet): a version cannot be asked for.
    #[error("table {table} has no versions: its format ({format}) keeps no history")]
    NoHistory { table: String, format: &'static str },
    /// The version asked for is not in the table's history (never written, removed by VACUUM or
    /// snapshot expiry, or a timestamp before the first commit). The text is for clients.
    #[error("{}", no_such_version(table, asked, oldest))]
    NoSuchVersion {
        table: String,
        asked: AsOf,
        /// The oldest version still available, with its commit time (ms since the epoch).
        oldest: Option<(i64, i64)>,
    },
    /// The version is in the table's log, but data files it reads are gone (Delta's VACUUM
    /// deletes the files no recent version reads). The text is for clients.
    #[error("table {table} version {version} can no longer be read: data files it needs were removed (VACUUM); a newer version can be")]
    VersionRemoved { table: String, version: i64 },
    /// The table's database could not be reached.
    #[error("table {table}: {source}")]
    Unavailable {
        table: String,
        source: SourceUnavailable,
    },
    /// The engine that holds the table answered with an error of its own (a peer gateway: no
    /// such version there). Its code and text are for clients.
    #[error("{source}")]
    Remote { source: RemoteError },
    /// Anything the format library reports; the text may carry paths and is for logs, not clients.
    #[error("table {table}: {source}")]
    Format {
        table: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ConnectorError {
    pub fn format(
        table: &str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        ConnectorError::Format {
            table: table.to_string(),
            source: source.into(),
        }
    }
}

fn no_such_version(table: &str, asked: &AsOf, oldest: &Option<(i64, i64)>) -> String {
    let asked = match asked {
        AsOf::Version(v) => format!("has no version {v}"),
        AsOf::Timestamp(ms) => format!("has no version as of {}", timestamp_text(*ms)),
    };
    match oldest {
        Some((v, ms)) => format!(
            "table {table} {asked}: the oldest version available is {v}, committed at {}",
            timestamp_text(*ms)
        ),
        None => format!("table {table} {asked}: it has no versions"),
    }
}

/// An instant as PostgreSQL prints a `timestamptz` in UTC.
pub fn timestamp_text(ms: i64) -> String {
    match datafusion::arrow::temporal_conversions::timestamp_ms_to_datetime(ms) {
        Some(t) => format!("{t}+00"),
        None => format!("{ms} ms after the epoch"),
    }
}

pub type Result<T, E = ConnectorError> = std::result::Result<T, E>;

/// How an Iceberg table is found.
#[derive(Debug, Clone)]
pub enum IcebergSource {
    /// A `…/metadata/vNNN.metadata.json` file, read as a static table. When the location is a
    /// table directory instead, the newest metadata file in `metadata/` is used, so new snapshots
    /// written by a path-based writer become visible on refresh.
    MetadataFile,
    /// A table in an Iceberg catalog declared by the domain.
    Catalog {
        catalog: IcebergCatalog,
        namespace: Vec<String>,
        table: String,
    },
}

/// An Iceberg catalog declared in a domain file.
#[derive(Debug, Clone)]
pub enum IcebergCatalog {
    /// The JDBC-style SQL catalog (`iceberg_tables` / `iceberg_namespace_properties`), e.g. on sqlite.
    Sql {
        name: String,
        uri: String,
        warehouse: String,
    },
    /// The Iceberg REST catalog protocol. `prefix` is the path segment after `/v1/` for servers
    /// whose config endpoint does not hand one out (the server's `overrides.prefix` wins).
    Rest {
        name: String,
        uri: String,
        warehouse: Option<String>,
        prefix: Option<String>,
        token: Option<Secret>,
    },
}

/// A Hive-style partition column: its name, the SQL type its path values are read as, and where
/// it stands among the table's columns (1-based; after the file's columns when not given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionColumn {
    pub name: String,
    pub sql_type: String,
    pub position: Option<usize>,
}

impl PartitionColumn {
    pub fn new(name: impl Into<String>, sql_type: impl Into<String>) -> Self {
        PartitionColumn {
            name: name.into(),
            sql_type: sql_type.into(),
            position: None,
        }
    }
}

/// Everything a connector needs to open one table.
#[derive(Debug, Clone)]
pub struct TableSpec {
    /// `product.table`, for messages.
    pub qualified_name: String,
    /// Absolute location (a `file://` or object-store URL), already resolved against the domain root.
    pub location: url::Url,
    /// Hive-style partition columns of a Parquet table, in path order.
    pub partition_columns: Vec<PartitionColumn>,
    /// Set for Iceberg tables.
    pub iceberg: Option<IcebergSource>,
    /// Set for tables read in place from an operational database.
    pub remote: Option<RemoteSource>,
}

impl TableSpec {
    /// The table's identity in a catalog (namespace, name), when it is found through one rather
    /// than at a location.
    pub fn catalog_table(&self) -> Option<(&[String], &str)> {
        match &self.iceberg {
            Some(IcebergSource::Catalog {
                namespace, table, ..
            }) => Some((namespace.as_slice(), table.as_str())),
            _ => None,
        }
    }
}

/// A table opened by a connector, with the metadata the mesh shows about it.
#[derive(Debug, Clone)]
pub struct OpenedTable {
    pub provider: Arc<dyn TableProvider>,
    /// Delta version or Iceberg snapshot id, when the format has one.
    pub version: Option<String>,
    /// Commit/snapshot time of that version, milliseconds since the epoch.
    pub committed_at_ms: Option<i64>,
    /// Row count when the format's metadata knows it without reading data.
    pub row_count: Option<u64>,
    /// Table description stored in the format's own metadata (Delta description, Iceberg `comment`).
    pub description: Option<String>,
    /// Column descriptions stored in the format's own metadata.
    pub column_descriptions: BTreeMap<String, String>,
}

impl OpenedTable {
    pub fn new(provider: Arc<dyn TableProvider>) -> Self {
        OpenedTable {
            provider,
            version: None,
            committed_at_ms: None,
            row_count: None,
            description: None,
            column_descriptions: BTreeMap::new(),
        }
    }
}

/// Which version of a table to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AsOf {
    /// A Delta version number or an Iceberg snapshot id.
    Version(i64),
    /// The version current at this instant (ms since the epoch): the newest committed at or
    /// before it.
    Timestamp(i64),
}

/// One commit in a table's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// Delta version or Iceberg snapshot id.
    pub version: i64,
    /// The commit time [`AsOf::Timestamp`] compares with, ms since the epoch.
    pub committed_at_ms: i64,
    /// The format's name for what the commit did (`WRITE`, `DELETE`, `append`, …).
    pub operation: Option<String>,
    pub rows_added: Option<u64>,
    pub rows_removed: Option<u64>,
}

/// The version `at` picks among `commits` (oldest first), or the error naming the
/// oldest one.
pub fn pick(table: &str, commits: &[Commit], at: AsOf) -> Result<i64> {
    let found = match at {
        AsOf::Version(v) => commits.iter().find(|c| c.version == v),
        // The last commit at or before the instant: commit order, not clock order, decides
        // between commits whose clocks disagree.
        AsOf::Timestamp(ms) => commits.iter().rev().find(|c| c.committed_at_ms <= ms),
    };
    found
        .map(|c| c.version)
        .ok_or_else(|| ConnectorError::NoSuchVersion {
            table: table.to_string(),
            asked: at,
            oldest: commits.first().map(|c| (c.version, c.committed_at_ms)),
        })
}

/// A scan node that reads its files itself, outside DataFusion's file scans (whose
/// `bytes_scanned` metric counts what they read): what it planned to read, found from the plan.
pub struct PlannedScan {
    /// Where the table lives (for an Iceberg table, its table location).
    pub location: String,
    /// The table's identity in a catalog (namespace, name), when it came from one.
    pub catalog_table: Option<(Vec<String>, String)>,
    /// The bytes of the data (and delete) files the scan planned to read: an upper bound,
    /// computed lazily (off the query's path) when awaited.
    pub bytes: BoxFuture<'static, Result<u64>>,
}

/// A statement a scan sends to an operational source, for the audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteStatement {
    /// The source as messages name it (server and database, or file), no credentials.
    pub source: String,
    pub sql: String,
}

/// One table format.
#[async_trait]
pub trait Connector: Send + Sync + std::fmt::Debug {
    /// The format name used in domain files (`delta`, `iceberg`, `parquet`).
    fn format(&self) -> &'static str;

    /// Opens the table's current version. Reads metadata only, never data files.
    async fn open(&self, spec: &TableSpec, storage: &Storage) -> Result<OpenedTable>;

    /// Opens the table as it was at `at`. Formats without history refuse.
    async fn open_at(
        &self,
        spec: &TableSpec,
        _storage: &Storage,
        _at: AsOf,
    ) -> Result<OpenedTable> {
        Err(ConnectorError::NoHistory {
            table: spec.qualified_name.clone(),
            format: self.format(),
        })
    }

    /// The version `at` names, when the format can tell without opening it (cheaply: Delta
    /// lists its log); `None` leaves it to [`Connector::open_at`].
    async fn resolve(
        &self,
        _spec: &TableSpec,
        _storage: &Storage,
        _at: AsOf,
    ) -> Result<Option<i64>> {
        Ok(None)
    }

    /// The table's commits still available, oldest first. Formats without history have none.
    async fn history(&self, _spec: &TableSpec, _storage: &Storage) -> Result<Vec<Commit>> {
        Ok(Vec::new())
    }

    /// Recognises a scan node of this format that reads its own files (see [`PlannedScan`]).
    /// Formats read through DataFusion's file scans have none.
    fn planned_scan(&self, _node: &Arc<dyn ExecutionPlan>) -> Option<PlannedScan> {
        None
    }

    /// Recognises a scan node of this format that runs a statement in an operational source.
    fn remote_statement(&self, _node: &Arc<dyn ExecutionPlan>) -> Option<RemoteStatement> {
        None
    }
}

/// Every format the mesh reads, and the one it writes.
#[derive(Clone)]
pub struct Registry {
    readers: BTreeMap<&'static str, Arc<dyn Connector>>,
    writer: Arc<dyn Writer>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("readers", &self.readers.keys().collect::<Vec<_>>())
            .field("writer", &self.writer.format())
            .finish()
    }
}

impl Registry {
    /// `writer` must write a format one of `readers` reads.
    pub fn new(readers: Vec<Arc<dyn Connector>>, writer: Arc<dyn Writer>) -> Self {
        let readers: BTreeMap<_, _> = readers.into_iter().map(|c| (c.format(), c)).collect();
        assert!(
            readers.contains_key(writer.format()),
            "the written format is also read"
        );
        Registry { readers, writer }
    }

    /// The connector of a format named in a domain file.
    pub fn get(&self, format: &str) -> Option<&Arc<dyn Connector>> {
        self.readers.get(format)
    }

    pub fn readers(&self) -> impl Iterator<Item = &Arc<dyn Connector>> {
        self.readers.values()
    }

    /// The format tables created through meshgate are written in.
    pub fn writer(&self) -> &Arc<dyn Writer> {
        &self.writer
    }

    /// The connector that reads what [`Registry::writer`] writes.
    pub fn written(&self) -> &Arc<dyn Connector> {
        &self.readers[self.writer.format()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(version: i64, committed_at_ms: i64) -> Commit {
        Commit {
            version,
            committed_at_ms,
            operation: None,
            rows_added: None,
            rows_removed: None,
        }
    }

    #[test]
    fn picks_the_last_commit_at_or_before_an_instant() {
        let commits = [
            commit(3, 1_000),
            commit(4, 2_000),
            commit(5, 2_000),
            commit(6, 3_000),
        ];
        assert_eq!(pick("p.t", &commits, AsOf::Timestamp(2_500)).ok(), Some(5));
        assert_eq!(pick("p.t", &commits, AsOf::Timestamp(2_000)).ok(), Some(5));
        assert_eq!(pick("p.t", &commits, AsOf::Timestamp(9_000)).ok(), Some(6));
        assert_eq!(pick("p.t", &commits, AsOf::Version(4)).ok(), Some(4));
        let e = pick("p.t", &commits, AsOf::Timestamp(999)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "table p.t has no version as of 1970-01-01 00:00:00.999+00: the oldest version available is 3, committed at 1970-01-01 00:00:01+00"
        );
        let e = pick("p.t", &commits, AsOf::Version(2)).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("table p.t has no version 2: the oldest version available is 3"),
            "{e}"
        );
        assert_eq!(
            pick("p.t", &[], AsOf::Version(0)).unwrap_err().to_string(),
            "table p.t has no version 0: it has no versions"
        );
    }
}
