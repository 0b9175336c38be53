//! Delta Lake tables, read through delta-rs.
//!
//! The version is loaded at open time, so a scan sees exactly the version reported in
//! [`OpenedTable::version`]; a newer commit becomes visible when the mesh opens the table again.
//! Its files are scanned by DataFusion's Parquet scan ([`lake`]) unless the table uses something
//! that scan would read wrongly; then delta-rs's own provider reads it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::Once;

use async_trait::async_trait;
use datafusion::catalog::TableProvider;
use deltalake::kernel::MetadataValue;
use deltalake::logstore::LogStoreRef;
use deltalake::table::state::DeltaTableState;
use deltalake::DeltaTableBuilder;
use deltalake::DeltaTableError;
use futures::{StreamExt, TryStreamExt};
use meshgate_connector_api::{
    pick, AsOf, Commit, Connector, ConnectorError, OpenedTable, Result, Storage, TableSpec,
};

mod lake;
mod write;

pub use write::DeltaWriter;

/// Opens Delta tables (`format: delta`).
#[derive(Debug, Clone, Copy, Default)]
pub struct DeltaConnector;

/// delta-rs only knows `file://` and `memory://` until the cloud crates add their log-store and
/// object-store factories to its global registries. The `deltalake` crate also does this from
/// constructors run at load time, but those can be dropped by the linker, so do it explicitly.
pub(crate) fn register_cloud_handlers() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        deltalake::aws::register_handlers(None);
        deltalake::gcp::register_handlers(None);
        deltalake::azure::register_handlers(None);
    });
}

#[async_trait]
impl Connector for DeltaConnector {
    fn format(&self) -> &'static str {
        "delta"
    }

    async fn open(&self, spec: &TableSpec, storage: &Storage) -> Result<OpenedTable> {
        register_cloud_handlers();
        let options: HashMap<String, String> = storage.object_store_options().into_iter().collect();
        let table = deltalake::open_table_with_storage_options(spec.location.clone(), options)
            .await
            .map_err(|e| open_error(spec, e))?;
        opened(spec, storage, table).await
    }

    async fn open_at(&self, spec: &TableSpec, storage: &Storage, at: AsOf) -> Result<OpenedTable> {
        let mut table = unloaded(spec, storage)?;
        let commits = commit_files(spec, &table.log_store()).await?;
        let version = pick(&spec.qualified_name, &commits, at)?;
        let version =
            u64::try_from(version).map_err(|e| ConnectorError::format(&spec.qualified_name, e))?;
        table
            .load_version(version)
            .await
            .map_err(|e| open_error(spec, e))?;
        if commits.last().is_some_and(|c| c.version as u64 != version) {
            files_remain(spec, &table, version).await?;
        }
        opened(spec, storage, table).await
    }

    async fn resolve(&self, spec: &TableSpec, storage: &Storage, at: AsOf) -> Result<Option<i64>> {
        let table = unloaded(spec, storage)?;
        let commits = commit_files(spec, &table.log_store()).await?;
        pick(&spec.qualified_name, &commits, at).map(Some)
    }

    /// Commit times are the commit files' modification times, as delta-rs dates versions (so
    /// a time read here opens the same version FOR TIMESTAMP AS OF); what each commit did comes
    /// from its `commitInfo`.
    async fn history(&self, spec: &TableSpec, storage: &Storage) -> Result<Vec<Commit>> {
        let table = unloaded(spec, storage)?;
        let log_store = table.log_store();
        let mut commits = commit_files(spec, &log_store).await?;
        let store = log_store.object_store(None);
        let versions: Vec<i64> = commits.iter().map(|c| c.version).collect();
        let log_path = log_store.log_path().clone();
        let infos: Vec<Option<CommitSummary>> = futures::stream::iter(versions)
            .map(|v| commit_summary(store.clone(), log_path.clone(), v))
            .buffered(8)
            .collect()
            .await;
        for (c, info) in commits.iter_mut().zip(infos) {
            if let Some(info) = info {
                c.operation = info.operation;
                c.rows_added = info.rows_added;
                c.rows_removed = info.rows_removed;
            }
        }
        Ok(commits)
    }
}

/// VACUUM deletes the data files that no version within its retention reads; an older version
/// still loads from the log, and would fail only when a scan reached a missing file, with an
/// error that names a path. One listing of the table when such a version is opened (it is then
/// cached) turns that into a clear refusal.
async fn files_remain(spec: &TableSpec, table: &deltalake::DeltaTable, version: u64) -> Result<()> {
    let name = spec.qualified_name.as_str();
    let state = table
        .snapshot()
        .map_err(|e| ConnectorError::format(name, e))?;
    let present: std::collections::HashSet<String> = table
        .log_store()
        .object_store(None)
        .list(None)
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .map_err(|e| ConnectorError::format(name, e))?;
    let missing = state
        .log_data()
        .iter()
        .any(|f| !present.contains(&object_store::path::Path::from(f.path().as_ref()).to_string()));
    if missing {
        return Err(ConnectorError::VersionRemoved {
            table: name.to_string(),
            version: version as i64,
        });
    }
    Ok(())
}

/// A table handle with its log store and nothing loaded.
fn unloaded(spec: &TableSpec, storage: &Storage) -> Result<deltalake::DeltaTable> {
    register_cloud_handlers();
    let options: HashMap<String, String> = storage.object_store_options().into_iter().collect();
    DeltaTableBuilder::from_url(spec.location.clone())
        .and_then(|b| b.with_storage_options(options).build())
        .map_err(|e| open_error(spec, e))
}

/// The commits whose files are still in `_delta_log`, oldest first: a version whose commit file
/// log cleanup removed cannot be loaded.
async fn commit_files(spec: &TableSpec, log_store: &LogStoreRef) -> Result<Vec<Commit>> {
    let log_path = log_store.log_path().clone();
    let listed: Vec<_> = log_store
        .object_store(None)
        .list(Some(&log_path))
        .try_collect()
        .await
        .map_err(|e| ConnectorError::format(&spec.qualified_name, e))?;
    let mut commits: Vec<Commit> = listed
        .iter()
        .filter(|m| {
            // Files in subdirectories are not commits (the spec's own rule).
            m.location
                .prefix_match(&log_path)
                .is_some_and(|mut rest| rest.nth(1).is_none())
        })
        .filter_map(|m| {
            let name = m.location.filename()?;
            let version = name.strip_suffix(".json")?;
            (version.len() == 20).then_some(())?;
            Some(Commit {
                version: version.parse().ok()?,
                committed_at_ms: m.last_modified.timestamp_millis(),
                operation: None,
                rows_added: None,
                rows_removed: None,
            })
        })
        .collect();
    if commits.is_empty() {
        return Err(ConnectorError::NotFound {
            table: spec.qualified_name.clone(),
            reason: "no Delta transaction log (_delta_log) found".into(),
        });
    }
    commits.sort_by_key(|c| c.version);
    Ok(commits)
}

struct CommitSummary {
    operation: Option<String>,
    rows_added: Option<u64>,
    rows_removed: Option<u64>,
}

/// The `commitInfo` of one commit; None when it cannot be read (history shows the commit
/// without it).
async fn commit_summary(
    store: std::sync::Arc<dyn deltalake::ObjectStore>,
    log_path: deltalake::Path,
    version: i64,
) -> Option<CommitSummary> {
    let path = log_path.clone().join(format!("{version:020}.json"));
    use object_store::ObjectStoreExt;
    let bytes = store.get(&path).await.ok()?.bytes().await.ok()?;
    let info = bytes
        .split(|b| *b == b'\n')
        .filter_map(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
        .find_map(|action| action.get("commitInfo").cloned())?;
    let metrics = info.get("operationMetrics");
    let metric = |names: &[&str]| -> Option<u64> {
        let found: Vec<u64> = names
            .iter()
            .filter_map(|n| metrics?.get(*n))
            .filter_map(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            .collect();
        (!found.is_empty()).then(|| found.iter().sum())
    };
    Some(CommitSummary {
        operation: info
            .get("operation")
            .and_then(|v| v.as_str())
            .map(str::to_string),
        // Spark's metric names, then delta-rs's.
        rows_added: metric(&[
            "numOutputRows",
            "numTargetRowsInserted",
            "num_added_rows",
            "num_target_rows_inserted",
        ]),
        rows_removed: metric(&[
            "numDeletedRows",
            "numTargetRowsDeleted",
            "num_deleted_rows",
            "num_target_rows_deleted",
        ]),
    })
}

async fn opened(
    spec: &TableSpec,
    storage: &Storage,
    table: deltalake::DeltaTable,
) -> Result<OpenedTable> {
    let name = spec.qualified_name.as_str();
    let library = table
        .table_provider()
        .await
        .map_err(|e| ConnectorError::format(name, e))?;
    let state = table
        .snapshot()
        .map_err(|e| ConnectorError::format(name, e))?;
    let version = state.version();
    let provider: Arc<dyn TableProvider> =
        match lake::lake_table(spec, storage, state, library.schema()) {
            Ok(lake) => Arc::new(lake),
            Err(reason) => {
                tracing::debug!(table = name, version, "delta-rs reads the table: {reason}");
                library
            }
        };

    let mut opened = OpenedTable::new(provider);
    opened.version = Some(version.to_string());
    opened.committed_at_ms = state.version_timestamp(version);
    opened.row_count = row_count(state);
    opened.description = state.metadata().description().map(str::to_string);
    opened.column_descriptions = column_descriptions(state);
    Ok(opened)
}

fn open_error(spec: &TableSpec, e: DeltaTableError) -> ConnectorError {
    let not_found = |reason: String| ConnectorError::NotFound {
        table: spec.qualified_name.clone(),
        reason,
    };
    match e {
        // A location whose `_delta_log` holds no commit, or no `_delta_log` at all.
        DeltaTableError::NotATable(_) => {
            not_found("no Delta transaction log (_delta_log) found".into())
        }
        // For local paths delta-rs reports a missing directory this way; for other schemes the
        // same variant means an unsupported or malformed URL, which is a configuration problem.
        // (Its message names the local path, which is not for clients.)
        DeltaTableError::InvalidTableLocation(_) if spec.location.scheme() == "file" => {
            not_found("the table directory does not exist".into())
        }
        DeltaTableError::InvalidTableLocation(reason) => ConnectorError::Config {
            table: spec.qualified_name.clone(),
            reason,
        },
        other => ConnectorError::format(&spec.qualified_name, other),
    }
}

/// Sums `numRecords` over the live files, minus rows hidden by deletion vectors. Any file without
/// statistics makes the total unknown rather than wrong.
fn row_count(state: &DeltaTableState) -> Option<u64> {
    let mut total: u64 = 0;
    for file in state.snapshot().log_data().iter() {
        let records = u64::try_from(file.num_records()?).ok()?;
        let deleted = file
            .deletion_vector_descriptor()
            .map_or(Some(0), |dv| u64::try_from(dv.cardinality).ok())?;
        total = total.checked_add(records.saturating_sub(deleted))?;
    }
    Some(total)
}

fn column_descriptions(state: &DeltaTableState) -> BTreeMap<String, String> {
    state
        .schema()
        .fields()
        .filter_map(|field| match field.metadata.get("comment") {
            Some(MetadataValue::String(comment)) if !comment.is_empty() => {
                Some((field.name.clone(), comment.clone()))
            }
            _ => None,
        })
        .collect()
}
