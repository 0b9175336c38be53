//! Delta output for the `sales` domain.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::CommitBuilder;
use deltalake::kernel::{Action, Add, StructType};
use deltalake::operations::create::CreateBuilder;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::DeltaTable;
use url::Url;

use crate::error::{DemoError, IoContext};
use crate::parquet_out::{writer_properties, ROWS_PER_FILE, ROW_GROUP_ROWS};
use crate::tpch::TpchTable;

/// Field-metadata key Spark and Databricks read column comments from.
pub const COMMENT_KEY: &str = "comment";

/// Streams one TPC-H table into a new Delta table and commits it as a single append.
pub(crate) struct DeltaSink {
    table: DeltaTable,
    writer: RecordBatchWriter,
    schema: SchemaRef,
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    rows_in_file: usize,
    adds: Vec<Add>,
    rows: u64,
}

impl DeltaSink {
    pub(crate) async fn create(tpch: TpchTable, dir: &Path) -> Result<Self, DemoError> {
        std::fs::create_dir_all(dir).io("create directory", dir)?;
        let url = Url::from_directory_path(dir).map_err(|()| DemoError::NonUtf8Path(dir.into()))?;

        let arrow = commented_schema(tpch);
        let delta_schema: StructType = arrow.as_ref().try_into_kernel()?;
        let table = CreateBuilder::new()
            .with_location(url.as_str())
            .with_table_name(tpch.name())
            .with_comment(tpch.description())
            .with_columns(delta_schema.fields().cloned())
            .with_save_mode(SaveMode::ErrorIfExists)
            .await?;

        let writer =
            RecordBatchWriter::for_table(&table)?.with_writer_properties(writer_properties(tpch));
        // The writer's schema is the table's, comments included; batches are re-labelled with it
        // because the writer rejects batches whose schema differs even only in metadata.
        let schema = writer.arrow_schema();
        Ok(DeltaSink {
            table,
            writer,
            schema,
            pending: Vec::new(),
            pending_rows: 0,
            rows_in_file: 0,
            adds: Vec::new(),
            rows: 0,
        })
    }

    pub(crate) async fn write(&mut self, batch: RecordBatch) -> Result<(), DemoError> {
        self.pending_rows += batch.num_rows();
        self.pending.push(RecordBatch::try_new(
            self.schema.clone(),
            batch.columns().to_vec(),
        )?);
        // The delta-rs writer copies its whole in-memory file on every write call (to roll back a
        // failed write), so it is fed whole row groups rather than generator-sized batches.
        if self.pending_rows >= ROW_GROUP_ROWS {
            self.write_pending().await?;
        }
        Ok(())
    }

    async fn write_pending(&mut self) -> Result<(), DemoError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = concat_batches(&self.schema, &self.pending)?;
        self.pending.clear();
        self.pending_rows = 0;
        let rows = batch.num_rows();
        self.writer.write(batch).await?;
        self.rows_in_file += rows;
        self.rows += rows as u64;
        // The writer buffers a whole file in memory; flushing bounds memory at one file.
        if self.rows_in_file >= ROWS_PER_FILE {
            self.adds.extend(self.writer.flush().await?);
            self.rows_in_file = 0;
        }
        Ok(())
    }

    /// Flushes the last file and commits every file written as one `WRITE` version.
    pub(crate) async fn finish(mut self) -> Result<u64, DemoError> {
        self.write_pending().await?;
        self.adds.extend(self.writer.flush().await?);
        let actions: Vec<Action> = self.adds.into_iter().map(Action::Add).collect();
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: None,
            predicate: None,
        };
        CommitBuilder::default()
            .with_actions(actions)
            .build(
                Some(self.table.snapshot()?),
                self.table.log_store(),
                operation,
            )
            .await?;
        Ok(self.rows)
    }
}

/// The table's Arrow schema with each column description in the `comment` field metadata.
fn commented_schema(tpch: TpchTable) -> SchemaRef {
    let fields: Vec<Field> = tpch
        .columns()
        .iter()
        .map(|c| {
            Field::new(c.name, c.ty.data_type(), false).with_metadata(HashMap::from([(
                COMMENT_KEY.to_string(),
                c.description.to_string(),
            )]))
        })
        .collect();
    Arc::new(Schema::new(fields))
}
