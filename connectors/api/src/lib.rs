//! The seam between the mesh and the table formats.
//!
//! A domain configures its storage once ([`Storage`]); every table of that domain is opened through
//! a [`Connector`] for its format, which turns a [`TableSpec`] into a DataFusion `TableProvider`.
//!
//! ```text
//!   domain file ──► Storage (object store + options, secrets redacted)
//!                        │
//!   table entry ──► TableSpec ──► Connector::open ──► OpenedTable { provider, version, … }
//! ```
//!
//! The formats disagree on how they are told about credentials (object_store config keys for
//! DataFusion and delta-rs, `s3.*` properties for iceberg's opendal storage), so `Storage` keeps
//! them typed and each connector asks for the spelling it needs.

mod secret;
mod storage;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::TableProvider;

pub use secret::Secret;
pub use storage::{S3Settings, Storage, StorageKind};

/// Errors a connector reports while opening a table.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The table's location holds no table of the declared format (a user-fixable setup error).
    #[error("table {table} not found at its configured location: {reason}")]
    NotFound { table: String, reason: String },
    /// The configuration is wrong in a way only visible when opening (e.g. unknown catalog).
    #[error("table {table}: {reason}")]
    Config { table: String, reason: String },
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

/// Everything a connector needs to open one table.
#[derive(Debug, Clone)]
pub struct TableSpec {
    /// `product.table`, for messages.
    pub qualified_name: String,
    /// Absolute location (a `file://` or object-store URL), already resolved against the domain root.
    pub location: url::Url,
    /// Hive-style partition columns of a Parquet table, in path order, with SQL type names.
    pub partition_columns: Vec<(String, String)>,
    /// Set for Iceberg tables.
    pub iceberg: Option<IcebergSource>,
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

/// One table format.
#[async_trait]
pub trait Connector: Send + Sync + std::fmt::Debug {
    /// The format name used in domain files (`delta`, `iceberg`, `parquet`).
    fn format(&self) -> &'static str;

    /// Opens the table's current version. Reads metadata only, never data files.
    async fn open(&self, spec: &TableSpec, storage: &Storage) -> Result<OpenedTable>;
}
