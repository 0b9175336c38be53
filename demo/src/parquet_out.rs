//! Plain Parquet output: the baseline copies and the `geo` domain tables.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use datafusion::arrow::array::{Array, Int64Array};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::compute::kernels::cmp::eq;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;

use crate::error::{DemoError, IoContext};
use crate::tpch::TpchTable;

/// Rows per Parquet file before rolling over to the next one, in every format. At SF 1 this splits
/// lineitem into six files so scans of all formats can use both cores.
pub const ROWS_PER_FILE: usize = 1 << 20;

/// Rows per Parquet row group, in every format; small enough that even a single-file table at
/// SF 0.1 offers several row groups to parallel scans and pruning.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Rows per data page, in every format. A reader that looks rows up by a sorted key (the page
/// index narrows the scan to the pages whose key range holds it) decompresses and decodes one
/// page of every column it returns, so the page bounds the cost of a point lookup: at 4,096
/// rows it is a fifth of the Parquet writer's default of 20,000, while scans still read pages
/// large enough (32 KiB of a plain 8-byte column) that per-page overhead stays negligible.
pub const PAGE_ROWS: usize = 4096;

/// Writer settings shared by all formats so their files differ only in what the format demands:
/// snappy, [`ROW_GROUP_ROWS`]-row row groups, [`PAGE_ROWS`]-row pages with statistics per page
/// (the page index), and no dictionary for the table's mostly distinct columns.
pub(crate) fn writer_properties(table: TpchTable) -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_data_page_row_count_limit(PAGE_ROWS)
        .set_statistics_enabled(EnabledStatistics::Page);
    for column in table.columns().iter().filter(|c| c.mostly_distinct) {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(column.name), false);
    }
    builder.build()
}

/// Writes `part-<n>.parquet` files into one directory, starting a new file every
/// [`ROWS_PER_FILE`] rows.
pub(crate) struct RollingParquetWriter {
    dir: PathBuf,
    schema: SchemaRef,
    properties: WriterProperties,
    current: Option<(PathBuf, ArrowWriter<File>)>,
    rows_in_file: usize,
    files: usize,
    rows: u64,
}

impl RollingParquetWriter {
    pub(crate) fn new(dir: &Path, table: TpchTable, schema: SchemaRef) -> Result<Self, DemoError> {
        std::fs::create_dir_all(dir).io("create directory", dir)?;
        Ok(RollingParquetWriter {
            dir: dir.to_path_buf(),
            schema,
            properties: writer_properties(table),
            current: None,
            rows_in_file: 0,
            files: 0,
            rows: 0,
        })
    }

    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<(), DemoError> {
        if self.rows_in_file >= ROWS_PER_FILE {
            self.close_current()?;
        }
        if self.current.is_none() {
            self.current = Some(self.open_next()?);
        }
        if let Some((_, writer)) = &mut self.current {
            writer.write(batch)?;
        }
        self.rows_in_file += batch.num_rows();
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Closes the last file and returns the number of rows written. A table without rows still
    /// gets one (empty) file so that readers can see its schema.
    pub(crate) fn finish(mut self) -> Result<u64, DemoError> {
        if self.files == 0 {
            self.current = Some(self.open_next()?);
        }
        self.close_current()?;
        Ok(self.rows)
    }

    fn open_next(&mut self) -> Result<(PathBuf, ArrowWriter<File>), DemoError> {
        let path = self.dir.join(format!("part-{}.parquet", self.files));
        let file = File::create(&path).io("create", &path)?;
        let writer =
            ArrowWriter::try_new(file, self.schema.clone(), Some(self.properties.clone()))?;
        self.files += 1;
        self.rows_in_file = 0;
        Ok((path, writer))
    }

    fn close_current(&mut self) -> Result<(), DemoError> {
        if let Some((path, writer)) = self.current.take() {
            let file = writer.into_inner()?;
            // Without fsync a crash right after `.complete` is written could leave torn files
            // behind a marker that claims the data is complete.
            file.sync_all().io("sync", &path)?;
        }
        Ok(())
    }
}

/// Writes a Hive-partitioned table: `<dir>/<column>=<value>/part-<n>.parquet`, with the partition
/// column left out of the files as Hive readers expect.
pub(crate) struct HiveParquetWriter {
    dir: PathBuf,
    table: TpchTable,
    column: String,
    column_index: usize,
    file_schema: SchemaRef,
    partitions: BTreeMap<i64, RollingParquetWriter>,
}

impl HiveParquetWriter {
    /// `column` must be an Int64 column of `schema`.
    pub(crate) fn new(
        dir: &Path,
        table: TpchTable,
        schema: &SchemaRef,
        column: &str,
    ) -> Result<Self, DemoError> {
        let column_index = schema.index_of(column)?;
        let file_schema = std::sync::Arc::new(
            schema.as_ref().clone().project(
                &(0..schema.fields().len())
                    .filter(|i| *i != column_index)
                    .collect::<Vec<_>>(),
            )?,
        );
        std::fs::create_dir_all(dir).io("create directory", dir)?;
        Ok(HiveParquetWriter {
            dir: dir.to_path_buf(),
            table,
            column: column.to_string(),
            column_index,
            file_schema,
            partitions: BTreeMap::new(),
        })
    }

    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<(), DemoError> {
        let keys = batch
            .column(self.column_index)
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| {
                datafusion::arrow::error::ArrowError::SchemaError(format!(
                    "partition column {} is not Int64",
                    self.column
                ))
            })?;
        let mut values: Vec<i64> = keys.iter().flatten().collect();
        values.sort_unstable();
        values.dedup();
        let data_columns: Vec<usize> = (0..batch.num_columns())
            .filter(|i| *i != self.column_index)
            .collect();
        for value in values {
            let mask = eq(keys, &Int64Array::new_scalar(value))?;
            let part = filter_record_batch(batch, &mask)?.project(&data_columns)?;
            let writer = match self.partitions.entry(value) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    let dir = self.dir.join(format!("{}={value}", self.column));
                    e.insert(RollingParquetWriter::new(
                        &dir,
                        self.table,
                        self.file_schema.clone(),
                    )?)
                }
            };
            writer.write(&part)?;
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> Result<u64, DemoError> {
        let mut rows = 0;
        for writer in self.partitions.into_values() {
            rows += writer.finish()?;
        }
        Ok(rows)
    }
}
