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
