//! Writing: the one format tables created through meshgate are stored in, behind [`Writer`].

use async_trait::async_trait;
use datafusion::arrow::array::{new_null_array, ArrayRef, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;

use crate::{Result, Storage};

/// How a write meets what is already at the location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// A new table; fails if one exists.
    Create,
    /// New rows after the existing ones.
    Append,
    /// The rows replace the table's rows (its schema stays).
    Overwrite,
}

/// A format meshgate writes tables in. Every write is one commit: readers see all of it or
/// none of it.
#[async_trait]
pub trait Writer: Send + Sync + std::fmt::Debug {
    /// The format name, as [`crate::Connector::format`] of the connector that reads it.
    fn format(&self) -> &'static str;

    /// The schema a new table gets for rows of `schema`: the types the format stores.
    fn storable_schema(&self, schema: &Schema) -> SchemaRef;

    /// Whether the format can store a column of this type at all.
    fn can_store(&self, data_type: &DataType) -> bool;

    /// Writes `input`, already conformed to `schema`, to the table at `location` in one commit.
    /// Returns the new table version.
    #[allow(clippy::too_many_arguments)]
    async fn write(
        &self,
        location: &url::Url,
        storage: &Storage,
        schema: SchemaRef,
        input: SendableRecordBatchStream,
        mode: WriteMode,
        name: &str,
        target_file_bytes: u64,
    ) -> Result<u64>;
}

/// Casts a batch to `target` by position; columns past the batch's end are NULL.
pub fn conform(batch: &RecordBatch, target: &SchemaRef) -> DfResult<RecordBatch> {
    let rows = batch.num_rows();
    let columns: Vec<ArrayRef> = target
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| match batch.columns().get(i) {
            Some(c) if c.data_type() == f.data_type() => Ok(c.clone()),
            Some(c) => cast(c, f.data_type()).map_err(DataFusionError::from),
            None => Ok(new_null_array(f.data_type(), rows)),
        })
        .collect::<DfResult<_>>()?;
    Ok(RecordBatch::try_new(target.clone(), columns)?)
}

/// Maps every batch of `input` to `schema` (see [`conform`]).
pub fn conformed(input: SendableRecordBatchStream, schema: SchemaRef) -> SendableRecordBatchStream {
    let out = schema.clone();
    Box::pin(RecordBatchStreamAdapter::new(
        out,
        input.map(move |b| b.and_then(|b| conform(&b, &schema))),
    ))
}

/// An empty stream of rows of `schema` (TRUNCATE writes it).
pub fn no_rows(schema: SchemaRef) -> SendableRecordBatchStream {
    Box::pin(RecordBatchStreamAdapter::new(
        schema,
        futures::stream::empty(),
    ))
}
