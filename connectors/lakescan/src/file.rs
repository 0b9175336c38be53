//! One data file as a format's metadata describes it.

use std::sync::Arc;

use datafusion::common::stats::Precision;
use datafusion::common::{ColumnStatistics, ScalarValue, Statistics};
use datafusion::datasource::listing::PartitionedFile;
use object_store::path::Path;

/// What the metadata says about one column of one file. The bounds must hold for every row
/// (a writer that truncates or rounds has to widen, never narrow): they prune files, and a bound
/// that is too tight would drop rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColumnBounds {
    pub min: Option<ScalarValue>,
    pub max: Option<ScalarValue>,
    pub null_count: Option<u64>,
}

/// A Parquet file of one table version.
#[derive(Debug, Clone)]
pub struct DataFile {
    /// The file in the table's object store.
    pub path: Path,
    pub size: u64,
    /// Rows in the file; `None` when the metadata does not say.
    pub rows: Option<u64>,
    /// One value per partition column of the table, typed as the table declares it: the column
    /// is not in the file (Delta keeps it in the log).
    pub partition_values: Vec<ScalarValue>,
    /// One entry per column read from the file, in the table's file-column order.
    pub columns: Vec<ColumnBounds>,
}

impl DataFile {
    /// DataFusion's description of the file. Its statistics are what the Parquet opener prunes
    /// the file with before reading its footer, which needs `Exact` bounds; partition columns
    /// get theirs from their values.
    pub(crate) fn partitioned(&self) -> PartitionedFile {
        let columns = self
            .columns
            .iter()
            .map(|c| ColumnStatistics {
                null_count: exact(c.null_count.map(|n| n as usize)),
                min_value: exact(c.min.clone()),
                max_value: exact(c.max.clone()),
                ..ColumnStatistics::new_unknown()
            })
            .collect();
        let statistics = Statistics {
            num_rows: exact(self.rows.map(|n| n as usize)),
            // As for plain Parquet files (whose footers give none): the compressed file size
            // would stand for the in-memory size in join ordering, and mislead it.
            total_byte_size: Precision::Absent,
            column_statistics: columns,
        };
        PartitionedFile::new(self.path.to_string(), self.size)
            .with_partition_values(self.partition_values.clone())
            .with_statistics(Arc::new(statistics))
    }
}

fn exact<T: Clone + std::fmt::Debug + PartialEq + Eq + PartialOrd>(v: Option<T>) -> Precision<T> {
    v.map_or(Precision::Absent, Precision::Exact)
}
