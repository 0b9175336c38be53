//! Table statistics summed up from the files a scan keeps.
//!
//! DataFusion orders joins from the scan's statistics. Row counts come from the metadata and
//! are exact; bounds are marked inexact at table level, because the aggregate
//! rule would otherwise answer `min()`/`max()` from them, and a writer's bounds may be wider
//! than the data (truncated strings, rounded timestamps).

use datafusion::common::stats::Precision;
use datafusion::common::{ColumnStatistics, ScalarValue, Statistics};

use crate::DataFile;

/// Statistics of `files` over the scan's columns: the file columns, then the partition columns.
pub(crate) fn summed(files: &[&DataFile], file_columns: usize, partitions: usize) -> Statistics {
    let rows = files
        .iter()
        .map(|f| f.rows)
        .try_fold(0usize, |n, r| Some(n + r? as usize));
    let mut columns = Vec::with_capacity(file_columns + partitions);
    for i in 0..file_columns {
        let nulls = files
            .iter()
            .map(|f| f.columns.get(i)?.null_count)
            .try_fold(0usize, |n, c| Some(n + c? as usize));
        let min = bound(files.iter().map(|f| f.columns.get(i)?.min.as_ref()), true);
        let max = bound(files.iter().map(|f| f.columns.get(i)?.max.as_ref()), false);
        columns.push(column(nulls, min, max));
    }
    for i in 0..partitions {
        // A null partition value makes all the file's rows null and takes no part in the bounds.
        let nulls = files.iter().try_fold(0usize, |n, f| {
            let null = f.partition_values.get(i)?.is_null();
            Some(n + if null { f.rows? as usize } else { 0 })
        });
        let present = || {
            files
                .iter()
                .filter_map(move |f| f.partition_values.get(i))
                .filter(|v| !v.is_null())
                .map(Some)
        };
        columns.push(column(
            nulls,
            bound(present(), true),
            bound(present(), false),
        ));
    }
    Statistics {
        num_rows: rows.map_or(Precision::Absent, Precision::Exact),
        // Unknown, as for plain Parquet tables: DataFusion then orders joins by rows, or by
        // rows times width when every column read is fixed-width. The files' compressed size
        // is not the size of their rows in memory.
        total_byte_size: Precision::Absent,
        column_statistics: columns,
    }
}

fn column(
    nulls: Option<usize>,
    min: Option<ScalarValue>,
    max: Option<ScalarValue>,
) -> ColumnStatistics {
    ColumnStatistics {
        null_count: nulls.map_or(Precision::Absent, Precision::Exact),
        min_value: min.map_or(Precision::Absent, Precision::Inexact),
        max_value: max.map_or(Precision::Absent, Precision::Inexact),
        ..ColumnStatistics::new_unknown()
    }
}

/// The least (or greatest) of the files' bounds; unknown when any file has none or two cannot
/// be compared.
fn bound<'a>(
    mut values: impl Iterator<Item = Option<&'a ScalarValue>>,
    least: bool,
) -> Option<ScalarValue> {
    let mut best = values.next()??.clone();
    for v in values {
        let v = v?;
        let ord = v.partial_cmp(&best)?;
        if (least && ord.is_lt()) || (!least && ord.is_gt()) {
            best = v.clone();
        }
    }
    Some(best)
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::path::Path;

    fn file(rows: u64, id: (i64, i64), region: Option<&str>) -> DataFile {
        DataFile {
            path: Path::from(format!("t/{rows}-{}.parquet", id.0)),
            size: rows * 10,
            rows: Some(rows),
            partition_values: vec![ScalarValue::Utf8(region.map(str::to_string))],
            columns: vec![crate::ColumnBounds {
                min: Some(ScalarValue::Int64(Some(id.0))),
                max: Some(ScalarValue::Int64(Some(id.1))),
                null_count: Some(1),
            }],
        }
    }

    #[test]
    fn sums_rows_and_nulls_and_widens_bounds_over_the_files() {
        let files = [
            file(10, (5, 9), Some("east")),
            file(20, (0, 3), None),
            file(30, (7, 12), Some("west")),
        ];
        let s = summed(&files.iter().collect::<Vec<_>>(), 1, 1);
        assert_eq!(s.num_rows, Precision::Exact(60));
        assert_eq!(s.total_byte_size, Precision::Absent);
        let id = &s.column_statistics[0];
        assert_eq!(id.null_count, Precision::Exact(3));
        assert_eq!(
            id.min_value,
            Precision::Inexact(ScalarValue::Int64(Some(0)))
        );
        assert_eq!(
            id.max_value,
            Precision::Inexact(ScalarValue::Int64(Some(12)))
        );
        // The null partition's 20 rows are the column's nulls and take no part in the bounds.
        let region = &s.column_statistics[1];
        assert_eq!(region.null_count, Precision::Exact(20));
        assert_eq!(
            region.min_value,
            Precision::Inexact(ScalarValue::from("east"))
        );
        assert_eq!(
            region.max_value,
            Precision::Inexact(ScalarValue::from("west"))
        );
    }

    #[test]
    fn a_file_without_a_count_or_a_bound_makes_it_unknown() {
        let mut unknown = file(10, (5, 9), Some("east"));
        unknown.rows = None;
        unknown.columns[0].max = None;
        let files = [file(20, (0, 3), Some("west")), unknown];
        let s = summed(&files.iter().collect::<Vec<_>>(), 1, 1);
        assert_eq!(s.num_rows, Precision::Absent);
        assert_eq!(s.column_statistics[0].max_value, Precision::Absent);
        assert_eq!(
            s.column_statistics[0].min_value,
            Precision::Inexact(ScalarValue::Int64(Some(0)))
        );
    }
}
