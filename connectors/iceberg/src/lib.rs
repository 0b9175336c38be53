//! Iceberg tables, read through iceberg-rust.
//!
//! Iceberg reads metadata through opendal (its `FileIO`), configured from
//! [`Storage::iceberg_properties`]. The provider is pinned to the snapshot that was current at
//! open time; a newer snapshot becomes visible when the mesh opens the table again. The
//! snapshot's data files are scanned by DataFusion's Parquet scan through the domain's object
//! store ([`lake`]) unless the table uses something that scan would read wrongly; then
//! iceberg-rust's own provider reads them through its `FileIO`.

mod lake;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::catalog::TableProvider;
use datafusion::physical_plan::ExecutionPlan;
use futures::TryStreamExt;
use iceberg::io::{FileIO, FileIOBuilder, StorageFactory};
use iceberg::spec::{SnapshotRef, TableMetadata};
use iceberg::table::{StaticTable, Table};
use iceberg::{Catalog, CatalogBuilder, ErrorKind, NamespaceIdent, TableIdent};
use iceberg_catalog_rest::{
    RestCatalogBuilder, REST_CATALOG_PROP_URI, REST_CATALOG_PROP_WAREHOUSE,
};
use iceberg_catalog_sql::{
    SqlBindStyle, SqlCatalogBuilder, SQL_CATALOG_PROP_BIND_STYLE, SQL_CATALOG_PROP_URI,
    SQL_CATALOG_PROP_WAREHOUSE,
};
use iceberg_datafusion::physical_plan::IcebergTableScan;
use iceberg_datafusion::IcebergStaticTableProvider;
use iceberg_storage_opendal::OpenDalResolvingStorageFactory;
use meshgate_connector_api::{
    pick, AsOf, Commit, Connector, ConnectorError, IcebergCatalog, IcebergSource, OpenedTable,
    PlannedScan, Result, Secret, Storage, TableSpec,
};

/// Opens Iceberg tables (`format: iceberg`), from a metadata file or through a catalog.
///
/// Catalogs are built on first use and kept for the life of the connector, keyed by catalog
/// name, so opening a table does not reconnect (the SQL catalog holds a connection pool).
#[derive(Default)]
pub struct IcebergConnector {
    catalogs: Mutex<HashMap<String, CachedCatalog>>,
}

impl IcebergConnector {
    pub fn new() -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for IcebergConnector {
    // Only names: a catalog's own Debug may include its connection URI or token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = match self.catalogs.lock() {
            Ok(cache) => cache.keys().cloned().collect(),
            Err(_) => Vec::new(),
        };
        f.debug_struct("IcebergConnector")
            .field("catalogs", &names)
            .finish()
    }
}

struct CachedCatalog {
    config: CatalogConfig,
    catalog: Arc<dyn Catalog>,
}

/// Everything a built catalog depends on. A domain reload that changes any of it must not be
/// served by the catalog built from the old declaration.
#[derive(PartialEq)]
struct CatalogConfig {
    kind: &'static str,
    uri: String,
    warehouse: Option<String>,
    prefix: Option<String>,
    token: Option<Secret>,
    file_io_props: Vec<(String, String)>,
}

impl CatalogConfig {
    fn new(decl: &IcebergCatalog, storage: &Storage) -> Self {
        let file_io_props = storage.iceberg_properties();
        match decl {
            IcebergCatalog::Sql { uri, warehouse, .. } => CatalogConfig {
                kind: "sql",
                uri: uri.clone(),
                warehouse: Some(warehouse.clone()),
                prefix: None,
                token: None,
                file_io_props,
            },
            IcebergCatalog::Rest {
                uri,
                warehouse,
                prefix,
                token,
                ..
            } => CatalogConfig {
                kind: "rest",
                uri: uri.clone(),
                warehouse: warehouse.clone(),
                prefix: prefix.clone(),
                token: token.clone(),
                file_io_props,
            },
        }
    }
}

fn catalog_name(decl: &IcebergCatalog) -> &str {
    match decl {
        IcebergCatalog::Sql { name, .. } | IcebergCatalog::Rest { name, .. } => name,
    }
}

/// Resolves each location by its scheme (`file://`, `s3://`, …), which a catalog needs because
/// its tables are not bound to the domain root.
fn storage_factory() -> Arc<dyn StorageFactory> {
    Arc::new(OpenDalResolvingStorageFactory::new())
}

fn file_io(storage: &Storage) -> FileIO {
    FileIOBuilder::new(storage_factory())
        .with_props(storage.iceberg_properties())
        .build()
}

#[async_trait]
impl Connector for IcebergConnector {
    fn format(&self) -> &'static str {
        "iceberg"
    }

    /// iceberg-rust's scan reads through its own FileIO and reports no byte metric: its files are
    /// planned again from the table's manifest cache and their sizes counted.
    fn planned_scan(&self, node: &Arc<dyn ExecutionPlan>) -> Option<PlannedScan> {
        let scan = node.as_any().downcast_ref::<IcebergTableScan>()?;
        let table = scan.table();
        let ident = table.identifier();
        Some(PlannedScan {
            location: table.metadata().location().to_string(),
            catalog_table: Some((ident.namespace.as_ref().clone(), ident.name.clone())),
            bytes: Box::pin(planned_bytes(node.clone())),
        })
    }

    async fn open(&self, spec: &TableSpec, storage: &Storage) -> Result<OpenedTable> {
        let table = self.load(spec, storage).await?;
        let snapshot = table.metadata().current_snapshot().cloned();
        opened_table(spec, storage, table, snapshot).await
    }

    async fn open_at(&self, spec: &TableSpec, storage: &Storage, at: AsOf) -> Result<OpenedTable> {
        let table = self.load(spec, storage).await?;
        let metadata = table.metadata_ref();
        // A snapshot id names a snapshot even off the main branch's log.
        let snapshot = match at {
            AsOf::Version(id) => metadata.snapshot_by_id(id).cloned(),
            AsOf::Timestamp(_) => None,
        };
        let snapshot = match snapshot {
            Some(s) => s,
            None => {
                let id = pick(&spec.qualified_name, &commits(&metadata), at)?;
                metadata.snapshot_by_id(id).cloned().ok_or_else(|| {
                    ConnectorError::format(
                        &spec.qualified_name,
                        "snapshot log names an expired snapshot",
                    )
                })?
            }
        };
        opened_table(spec, storage, table, Some(snapshot)).await
    }

    async fn history(&self, spec: &TableSpec, storage: &Storage) -> Result<Vec<Commit>> {
        let table = self.load(spec, storage).await?;
        Ok(commits(table.metadata()))
    }
}

/// The main branch's snapshots in the order they became current (the snapshot log), those
/// expired left out; what each did from its summary.
fn commits(metadata: &TableMetadata) -> Vec<Commit> {
    let commit = |s: &SnapshotRef, at: i64| {
        let summary = s.summary();
        let count = |key: &str| {
            summary
                .additional_properties
                .get(key)
                .and_then(|v| v.parse::<u64>().ok())
        };
        Commit {
            version: s.snapshot_id(),
            committed_at_ms: at,
            operation: Some(summary.operation.as_str().to_string()),
            rows_added: count("added-records"),
            rows_removed: count("deleted-records"),
        }
    };
    let logged: Vec<Commit> = metadata
        .history()
        .iter()
        .filter_map(|l| {
            Some(commit(
                metadata.snapshot_by_id(l.snapshot_id)?,
                l.timestamp_ms,
            ))
        })
        .collect();
    if !logged.is_empty() {
        return logged;
    }
    let mut snapshots: Vec<&SnapshotRef> = metadata.snapshots().collect();
    snapshots.sort_by_key(|s| (s.sequence_number(), s.timestamp_ms()));
    snapshots
        .into_iter()
        .map(|s| commit(s, s.timestamp_ms()))
        .collect()
}

impl IcebergConnector {
    /// The table with its newest metadata.
    async fn load(&self, spec: &TableSpec, storage: &Storage) -> Result<Table> {
        Ok(match &spec.iceberg {
            None | Some(IcebergSource::MetadataFile) => open_metadata_file(spec, storage).await?,
            Some(IcebergSource::Catalog {
                catalog,
                namespace,
                table,
            }) => {
                let catalog = self.catalog(spec, catalog, storage).await?;
                let namespace = NamespaceIdent::from_vec(namespace.clone()).map_err(|e| {
                    ConnectorError::Config {
                        table: spec.qualified_name.clone(),
                        reason: format!("bad namespace: {e}"),
                    }
                })?;
                catalog
                    .load_table(&TableIdent::new(namespace, table.clone()))
                    .await
                    .map_err(|e| iceberg_error(spec, e))?
            }
        })
    }
}

impl IcebergConnector {
    async fn catalog(
        &self,
        spec: &TableSpec,
        decl: &IcebergCatalog,
        storage: &Storage,
    ) -> Result<Arc<dyn Catalog>> {
        let name = catalog_name(decl);
        let config = CatalogConfig::new(decl, storage);
        if let Some(cached) = self.lock_catalogs().get(name) {
            if cached.config == config {
                return Ok(Arc::clone(&cached.catalog));
            }
        }
        // Built without holding the lock so one slow catalog cannot stall opens through others.
        // Two concurrent first opens may both build; the later one simply replaces the other.
        let catalog = build_catalog(decl, storage)
            .await
            .map_err(|e| ConnectorError::Format {
                table: spec.qualified_name.clone(),
                source: format!("iceberg catalog {name}: {e}").into(),
            })?;
        self.lock_catalogs().insert(
            name.to_string(),
            CachedCatalog {
                config,
                catalog: Arc::clone(&catalog),
            },
        );
        Ok(catalog)
    }

    fn lock_catalogs(&self) -> std::sync::MutexGuard<'_, HashMap<String, CachedCatalog>> {
        // The map stays consistent even if a holder panicked: every update is a single insert.
        self.catalogs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

async fn build_catalog(
    decl: &IcebergCatalog,
    storage: &Storage,
) -> iceberg::Result<Arc<dyn Catalog>> {
    // Catalog properties are forwarded to the FileIO of every table the catalog loads.
    let mut props: HashMap<String, String> = storage.iceberg_properties().into_iter().collect();
    match decl {
        IcebergCatalog::Sql {
            name,
            uri,
            warehouse,
        } => {
            props.insert(SQL_CATALOG_PROP_URI.into(), uri.clone());
            props.insert(SQL_CATALOG_PROP_WAREHOUSE.into(), warehouse.clone());
            props.insert(
                SQL_CATALOG_PROP_BIND_STYLE.into(),
                bind_style(uri).to_string(),
            );
            let catalog = SqlCatalogBuilder::default()
                .with_storage_factory(storage_factory())
                .load(name, props)
                .await?;
            Ok(Arc::new(catalog))
        }
        IcebergCatalog::Rest {
            name,
            uri,
            warehouse,
            prefix,
            token,
        } => {
            props.insert(REST_CATALOG_PROP_URI.into(), uri.clone());
            if let Some(warehouse) = warehouse {
                props.insert(REST_CATALOG_PROP_WAREHOUSE.into(), warehouse.clone());
            }
            // A user property: the server's config `overrides` (applied after it) still win.
            if let Some(prefix) = prefix {
                props.insert("prefix".into(), prefix.clone());
            }
            if let Some(token) = token {
                props.insert("token".into(), token.expose().to_string());
            }
            let catalog = RestCatalogBuilder::default()
                .with_storage_factory(storage_factory())
                .load(name, props)
                .await?;
            Ok(Arc::new(catalog))
        }
    }
}

/// sqlx's `Any` driver passes placeholders through unchanged, so they must be in the dialect of
/// the database behind the URI.
fn bind_style(uri: &str) -> SqlBindStyle {
    if uri.starts_with("postgres:") || uri.starts_with("postgresql:") {
        SqlBindStyle::DollarNumeric
    } else {
        SqlBindStyle::QMark
    }
}

async fn open_metadata_file(spec: &TableSpec, storage: &Storage) -> Result<Table> {
    let metadata_location = if spec.location.path().ends_with(".json") {
        iceberg_location(&spec.location)
    } else {
        newest_metadata_file(spec, storage).await?
    };
    let io = file_io(storage);
    let exists = io
        .exists(&metadata_location)
        .await
        .map_err(|e| iceberg_error(spec, e))?;
    if !exists {
        return Err(ConnectorError::NotFound {
            table: spec.qualified_name.clone(),
            reason: "the Iceberg metadata file does not exist".into(),
        });
    }
    let ident = TableIdent::new(
        NamespaceIdent::new("meshgate".into()),
        spec.qualified_name.clone(),
    );
    let table = StaticTable::from_metadata_file(&metadata_location, ident, io)
        .await
        .map_err(|e| iceberg_error(spec, e))?;
    Ok(table.into_table())
}

/// Finds the newest `metadata/*.metadata.json` of a table directory. Writers without a catalog
/// (Hadoop-style tables, catalogs' own files) add one file per commit, numbered in the name.
async fn newest_metadata_file(spec: &TableSpec, storage: &Storage) -> Result<String> {
    let store_url = storage.store_url();
    if spec.location.scheme() != store_url.scheme()
        || spec.location.host_str() != store_url.host_str()
    {
        // The domain's object store is bound to its own bucket; it cannot list another one.
        return Err(ConnectorError::Config {
            table: spec.qualified_name.clone(),
            reason:
                "an Iceberg table directory outside the domain's bucket needs the location of its \
                     metadata file (…/metadata/*.metadata.json)"
                    .into(),
        });
    }
    let metadata_dir = spec
        .location
        .join("metadata/")
        .map_err(|e| ConnectorError::format(&spec.qualified_name, e))?;
    let prefix = object_store::path::Path::from_url_path(metadata_dir.path())
        .map_err(|e| ConnectorError::format(&spec.qualified_name, e))?;
    let listed: Vec<_> = storage
        .object_store
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|e| ConnectorError::format(&spec.qualified_name, e))?;

    let newest = listed
        .iter()
        .filter_map(|meta| {
            let file_name = meta.location.filename()?;
            // Only direct children: a nested directory is not part of this table's metadata.
            let direct = meta
                .location
                .prefix_match(&prefix)
                .is_some_and(|mut rest| rest.nth(1).is_none());
            let version = metadata_version(file_name)?;
            direct.then_some((version, meta.last_modified, file_name))
        })
        .max();
    match newest {
        Some((_, _, file_name)) => metadata_dir
            .join(file_name)
            .map(|url| iceberg_location(&url))
            .map_err(|e| ConnectorError::format(&spec.qualified_name, e)),
        None => Err(ConnectorError::NotFound {
            table: spec.qualified_name.clone(),
            reason: "no metadata/*.metadata.json under the table location".into(),
        }),
    }
}

/// Iceberg locations are plain strings, not URLs: iceberg's local storage takes the path after
/// `file:/` literally, so a percent-encoded character (a space in a directory name) must be
/// decoded first.
fn iceberg_location(url: &url::Url) -> String {
    match url.to_file_path() {
        Ok(path) if url.scheme() == "file" => format!("file://{}", path.display()),
        _ => url.to_string(),
    }
}

/// The commit number in a metadata file name: `v12.metadata.json` (Hadoop tables) or
/// `00012-<uuid>.metadata.json` (catalogs), optionally gzip-compressed (`….gz.metadata.json`).
fn metadata_version(file_name: &str) -> Option<u64> {
    let stem = file_name.strip_suffix(".metadata.json")?;
    let stem = stem.strip_suffix(".gz").unwrap_or(stem);
    if let Some(number) = stem.strip_prefix('v') {
        return number.parse().ok();
    }
    let (number, uuid) = stem.split_once('-')?;
    if uuid.is_empty() {
        return None;
    }
    number.parse().ok()
}

fn iceberg_error(spec: &TableSpec, e: iceberg::Error) -> ConnectorError {
    match e.kind() {
        ErrorKind::TableNotFound | ErrorKind::NamespaceNotFound => ConnectorError::NotFound {
            table: spec.qualified_name.clone(),
            reason: e.message().to_string(),
        },
        _ => ConnectorError::format(&spec.qualified_name, e),
    }
}

async fn opened_table(
    spec: &TableSpec,
    storage: &Storage,
    table: Table,
    snapshot: Option<SnapshotRef>,
) -> Result<OpenedTable> {
    let metadata: Arc<TableMetadata> = table.metadata_ref();
    let snapshot = snapshot.as_ref();
    // Pinning the snapshot keeps scans on the version reported below even if the table object
    // is refreshed elsewhere.
    let library = match snapshot {
        Some(s) => {
            IcebergStaticTableProvider::try_new_from_table_snapshot(table.clone(), s.snapshot_id())
                .await
        }
        None => IcebergStaticTableProvider::try_new_from_table(table.clone()).await,
    }
    .map_err(|e| ConnectorError::format(&spec.qualified_name, e))?;
    let provider: Arc<dyn TableProvider> =
        match lake::lake_table(spec, &table, snapshot, storage, library.schema()).await {
            Ok(lake) => Arc::new(lake),
            Err(reason) => {
                tracing::debug!(
                    table = spec.qualified_name,
                    "iceberg-rust reads the table: {reason}"
                );
                Arc::new(library)
            }
        };

    let mut opened = OpenedTable::new(provider);
    if let Some(snapshot) = snapshot {
        let summary = &snapshot.summary().additional_properties;
        let count = |key: &str| summary.get(key).and_then(|v| v.parse::<u64>().ok());
        opened.version = Some(snapshot.snapshot_id().to_string());
        opened.committed_at_ms = Some(snapshot.timestamp_ms());
        // `total-records` counts rows in data files; rows removed by delete files are still in
        // it, so it is only the table's row count when there are none.
        let has_deletes = ["total-position-deletes", "total-equality-deletes"]
            .iter()
            .any(|k| count(k).unwrap_or(0) > 0);
        opened.row_count = if has_deletes {
            None
        } else {
            count("total-records")
        };
    } else {
        opened.row_count = Some(0);
    }
    opened.description = metadata.properties().get("comment").cloned();
    opened.column_descriptions = metadata
        .current_schema()
        .as_struct()
        .fields()
        .iter()
        .filter_map(|field| Some((field.name.clone(), field.doc.clone()?)))
        .collect::<BTreeMap<_, _>>();
    Ok(opened)
}

/// Bytes of the data (and delete) files an Iceberg scan plans to read, planned again the way
/// the scan did: same snapshot, columns and predicate. The manifests come from the table's
/// object cache the scan itself filled, so this costs CPU rather than storage reads.
async fn planned_bytes(plan: Arc<dyn ExecutionPlan>) -> Result<u64> {
    let scan = plan
        .as_any()
        .downcast_ref::<IcebergTableScan>()
        .ok_or_else(|| ConnectorError::format("scan", "not an Iceberg scan"))?;
    let table = scan.table();
    let mut builder = match scan.snapshot_id() {
        Some(id) => table.scan().snapshot_id(id),
        None => table.scan(),
    };
    builder = match scan.projection() {
        Some(columns) => builder.select(columns.iter()),
        None => builder.select_all(),
    };
    if let Some(p) = scan.predicates() {
        builder = builder.with_filter(p.clone());
    }
    let name = table.identifier().to_string();
    let err = |e: iceberg::Error| ConnectorError::format(&name, e);
    let tasks = builder
        .build()
        .map_err(err)?
        .plan_files()
        .await
        .map_err(err)?;
    tasks
        .try_fold(0u64, |n, task| async move {
            Ok(n + task.length
                + task
                    .deletes
                    .iter()
                    .map(|d| d.file_size_in_bytes)
                    .sum::<u64>())
        })
        .await
        .map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_commit_numbers_from_metadata_file_names() {
        assert_eq!(metadata_version("v3.metadata.json"), Some(3));
        assert_eq!(
            metadata_version("00012-6f1c0e7a-3f0e-4a53-9b8e-1f2a3b4c5d6e.metadata.json"),
            Some(12)
        );
        assert_eq!(metadata_version("00002-6f1c0e7a.gz.metadata.json"), Some(2));
        assert_eq!(metadata_version("version-hint.text"), None);
        assert_eq!(metadata_version("snap-1-1-abc.avro"), None);
        assert_eq!(metadata_version("latest.metadata.json"), None);
    }
}
