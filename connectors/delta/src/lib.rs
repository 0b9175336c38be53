//! Delta Lake tables, read through delta-rs.
//!
//! The provider is delta-rs's own DataFusion `TableProvider` over the snapshot loaded at open
//! time, so a scan sees exactly the version reported in [`OpenedTable::version`]; a newer commit
//! becomes visible when the mesh opens the table again.

use std::collections::{BTreeMap, HashMap};
use std::sync::Once;

use async_trait::async_trait;
use deltalake::kernel::MetadataValue;
use deltalake::table::state::DeltaTableState;
use deltalake::DeltaTableError;
use meshgate_connector_api::{Connector, ConnectorError, OpenedTable, Result, Storage, TableSpec};

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
        let name = spec.qualified_name.as_str();
        let options: HashMap<String, String> = storage.object_store_options().into_iter().collect();
        let table = deltalake::open_table_with_storage_options(spec.location.clone(), options)
            .await
            .map_err(|e| open_error(spec, e))?;

        let provider = table
            .table_provider()
            .await
            .map_err(|e| ConnectorError::format(name, e))?;
        let state = table
            .snapshot()
            .map_err(|e| ConnectorError::format(name, e))?;
        let version = state.version();

        let mut opened = OpenedTable::new(provider);
        opened.version = Some(version.to_string());
        opened.committed_at_ms = state.version_timestamp(version);
        opened.row_count = row_count(state);
        opened.description = state.metadata().description().map(str::to_string);
        opened.column_descriptions = column_descriptions(state);
        Ok(opened)
    }
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
