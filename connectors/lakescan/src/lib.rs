//! A table format's data files, scanned by DataFusion's own Parquet scan.
//!
//! Delta and Iceberg both keep, in their metadata, the exact list of Parquet files a version
//! reads with their sizes, row counts and per-column bounds. The format libraries' own providers
//! read that list again at every scan and (for Iceberg) read the files outside DataFusion, so
//! they miss its footer cache, statistics-driven join ordering and file pruning. A connector
//! that can resolve a version to its files faithfully hands them to [`LakeTable`], whose scan is
//! a plain `DataSourceExec` over a `FileScanConfig` + `ParquetSource` (the plan DataFusion's
//! standard Parquet codec serialises), and keeps the library's provider for whatever it cannot.
//!
//! ```text
//!   Delta log / Iceberg manifests ──► [DataFile] (path, size, rows, partition values, bounds)
//!        ──► LakeTable::try_new ──► scan(): prune files by bounds ──► DataSourceExec(Parquet)
//! ```

mod file;
mod stats;
mod table;

pub use file::{ColumnBounds, DataFile};
pub use table::LakeTable;

use datafusion::arrow::datatypes::{DataType, TimeUnit};

/// Column types both formats write as plain Parquet that DataFusion reads back to the same
/// values; a connector falls back to its library's scan for any other.
pub fn plain_type(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Boolean
            | DataType::Int32
            | DataType::Int64
            | DataType::Float32
            | DataType::Float64
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::Date32
            | DataType::Decimal128(_, _)
            | DataType::Timestamp(TimeUnit::Microsecond, _)
    )
}
