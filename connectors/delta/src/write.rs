//! Writing Delta tables: the data of tables created through meshgate (CREATE TABLE … AS, INSERT,
//! DELETE, TRUNCATE in writable products).
//!
//! Rows arrive as a stream (the statement's own running query) and are handed to delta-rs as a
//! one-partition streaming source, so nothing is collected in memory. Every write is one Delta
//! commit: readers see all of it or none of it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::streaming::StreamingTable;
use datafusion::datasource::provider_as_source;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use deltalake::protocol::SaveMode;
use deltalake::DeltaTable;
use meshgate_connector_api::{ConnectorError, Result, Storage, WriteMode, Writer};

/// Writes the tables created in writable products as Delta tables.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeltaWriter;

#[async_trait]
impl Writer for DeltaWriter {
    fn format(&self) -> &'static str {
        "delta"
    }

    fn storable_schema(&self, schema: &Schema) -> SchemaRef {
        storable_schema(schema)
    }

    /// Delta has no interval, duration or time-of-day types.
    fn can_store(&self, data_type: &DataType) -> bool {
        !matches!(
            data_type,
            DataType::Interval(_)
                | DataType::Duration(_)
                | DataType::Time32(_)
                | DataType::Time64(_)
        )
    }

    async fn write(
        &self,
        location: &url::Url,
        storage: &Storage,
        schema: SchemaRef,
        input: SendableRecordBatchStream,
        mode: WriteMode,
        name: &str,
        target_file_bytes: u64,
    ) -> Result<u64> {
        write(
            location,
            storage,
            schema,
            input,
            mode,
            name,
            target_file_bytes,
        )
        .await
    }
}

/// The Arrow type a column is stored as: Delta has no unsigned integers, view or null types,
/// and keeps timestamps in microseconds.
fn storable(dt: &DataType) -> DataType {
    match dt {
        DataType::Utf8View | DataType::LargeUtf8 | DataType::Null => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        DataType::UInt8 => DataType::Int16,
        DataType::UInt16 => DataType::Int32,
        DataType::UInt32 | DataType::UInt64 => DataType::Int64,
        DataType::Float16 => DataType::Float32,
        DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
        DataType::Dictionary(_, v) => storable(v),
        other => other.clone(),
    }
}

/// The schema a new table gets for rows of `schema`: storable types, every column nullable.
fn storable_schema(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), storable(f.data_type()), true))
            .collect::<Vec<_>>(),
    ))
}

/// Rows per data page of the files meshgate writes. A lookup by a key the page index narrows
/// decompresses one page of every column it returns; the Parquet writer's default (20,000
/// rows) makes that five times the work.
pub const PAGE_ROWS: usize = 4096;

/// The most a column chunk's dictionary may hold before its column is written plain. A reader
/// decodes a chunk's whole dictionary before any of its rows; the writer's default (1 MiB) is
/// reached only by columns whose values are nearly all distinct, where the dictionary saves
/// nothing and costs every lookup a megabyte. Columns of few values still get their dictionary.
pub const DICTIONARY_BYTES: usize = 64 * 1024;

/// How meshgate's writes lay their Parquet files out: snappy (delta-rs's default), pages of
/// [`PAGE_ROWS`] rows with statistics per page (the page index), dictionaries up to
/// [`DICTIONARY_BYTES`].
fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_created_by(format!("meshgate {}", env!("CARGO_PKG_VERSION")))
        .set_compression(Compression::SNAPPY)
        .set_data_page_row_count_limit(PAGE_ROWS)
        .set_dictionary_page_size_limit(DICTIONARY_BYTES)
        .set_statistics_enabled(EnabledStatistics::Page)
        .build()
}

/// A stream handed over once, as the single partition of a streaming table.
struct Once {
    schema: SchemaRef,
    stream: Mutex<Option<SendableRecordBatchStream>>,
}

impl std::fmt::Debug for Once {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Once")
    }
}

impl PartitionStream for Once {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let taken = self
            .stream
            .lock()
            .expect("lock is never poisoned: no panics while held")
            .take();
        match taken {
            Some(s) => s,
            None => Box::pin(RecordBatchStreamAdapter::new(
                self.schema.clone(),
                futures::stream::once(async {
                    Err(DataFusionError::Internal(
                        "the write's input was already read".into(),
                    ))
                }),
            )),
        }
    }
}

/// Writes `input`, already conformed to `schema`, to the Delta table at `location` in one
/// commit. Returns the new table version.
async fn write(
    location: &url::Url,
    storage: &Storage,
    schema: SchemaRef,
    input: SendableRecordBatchStream,
    mode: WriteMode,
    name: &str,
    target_file_bytes: u64,
) -> Result<u64> {
    crate::register_cloud_handlers();
    if location.scheme() == "file" {
        // delta-rs opens local locations only when the directory exists.
        if let Ok(path) = location.to_file_path() {
            tokio::fs::create_dir_all(&path)
                .await
                .map_err(|e| ConnectorError::format(name, e))?;
        }
    }
    let options: HashMap<String, String> = storage.object_store_options().into_iter().collect();
    let err = |e: deltalake::DeltaTableError| ConnectorError::format(name, e);
    let table = DeltaTable::try_from_url_with_storage_options(location.clone(), options)
        .await
        .map_err(err)?;
    let source = Arc::new(Once {
        schema: schema.clone(),
        stream: Mutex::new(Some(input)),
    });
    let provider = StreamingTable::try_new(schema, vec![source])
        .map_err(|e| ConnectorError::format(name, e))?;
    let plan = LogicalPlanBuilder::scan("input", provider_as_source(Arc::new(provider)), None)
        .and_then(|b| b.build())
        .map_err(|e| ConnectorError::format(name, e))?;
    let save = match mode {
        WriteMode::Create => SaveMode::ErrorIfExists,
        WriteMode::Append => SaveMode::Append,
        WriteMode::Overwrite => SaveMode::Overwrite,
    };
    // No session given: delta-rs plans the write in its own session, which has its planner.
    let written = table
        .write(Vec::new())
        .with_input_plan(plan)
        .with_save_mode(save)
        .with_target_file_size(std::num::NonZeroU64::new(target_file_bytes))
        .with_writer_properties(writer_properties())
        .with_table_name(name)
        .await
        .map_err(err)?;
    Ok(written.version().unwrap_or(0))
}
