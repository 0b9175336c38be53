//! A Delta version as the exact list of its files, for [`LakeTable`].
//!
//! The log's add actions give every live file with its size, row count, partition values and
//! per-column bounds, so DataFusion's Parquet scan can read the version without delta-rs's own
//! scan (which replays the log's file list at every query). Whatever this reading would get
//! wrong is refused here, with the reason, and the caller keeps delta-rs's provider.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::execution::object_store::ObjectStoreUrl;
use delta_kernel::expressions::Scalar;
use deltalake::table::state::DeltaTableState;
use meshgate_connector_api::{Storage, TableSpec};
use meshgate_lakescan::{ColumnBounds, DataFile, LakeTable};
use object_store::path::Path;

/// Delta's writers truncate string statistics to a prefix (Spark: 32 characters); a truncated
/// maximum is below the real one, so only shorter maxima are bounds.
const STRING_STATS_PREFIX: usize = 32;

/// The version's files as a [`LakeTable`] showing `schema` (delta-rs's provider's), or why not.
pub(crate) fn lake_table(
    spec: &TableSpec,
    storage: &Storage,
    state: &DeltaTableState,
    schema: SchemaRef,
) -> Result<LakeTable, String> {
    let metadata = state.metadata();
    // Column mapping stores columns under physical names (or ids) the files use instead of
    // the schema's.
    if let Some(mode) = metadata.configuration().get("delta.columnMapping.mode") {
        if mode != "none" {
            return Err(format!("column mapping ({mode} mode)"));
        }
    }
    if let Some(field) = schema.fields().iter().find(|f| !supported(f.data_type())) {
        return Err(format!(
            "column {} has type {}, which the Parquet scan is not trusted with here",
            field.name(),
            field.data_type()
        ));
    }
    let store = store_of(spec, storage)?;
    let root = Path::from_url_path(spec.location.path()).map_err(|e| e.to_string())?;
    let partition_columns = metadata.partition_columns().to_vec();
    let partition_fields = partition_columns
        .iter()
        .map(|c| schema.field_with_name(c).map_err(|e| e.to_string()))
        .collect::<Result<Vec<&Field>, _>>()?;
    let file_fields: Vec<&Field> = schema
        .fields()
        .iter()
        .map(|f| f.as_ref())
        .filter(|f| !partition_columns.contains(f.name()))
        .collect();

    let mut files = Vec::new();
    for file in state.log_data().iter() {
        // Rows a deletion vector removes are still in the file.
        if file.deletion_vector_descriptor().is_some() {
            return Err("a file has a deletion vector".into());
        }
        let path = file.path();
        if path.contains("://") {
            return Err("a file outside the table's directory (absolute path in the log)".into());
        }
        let joined = format!("{root}/{path}");
        let path = Path::parse(&joined).unwrap_or_else(|_| Path::from(joined.as_str()));
        let size = u64::try_from(file.size()).map_err(|e| e.to_string())?;

        let partitions = file.partition_values();
        let partition_values = partition_fields
            .iter()
            .map(|field| {
                let raw = partitions.as_ref().and_then(|p| {
                    let i = p.fields().iter().position(|f| f.name() == field.name())?;
                    Some(&p.values()[i])
                });
                match raw {
                    None | Some(Scalar::Null(_)) => {
                        ScalarValue::try_from(field.data_type()).map_err(|e| e.to_string())
                    }
                    Some(v) => value(v, field.data_type()).ok_or_else(|| {
                        format!(
                            "partition value of {} is not a {}",
                            field.name(),
                            field.data_type()
                        )
                    }),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;

        let (mins, maxes, nulls) = (file.min_values(), file.max_values(), file.null_counts());
        let columns = file_fields
            .iter()
            .map(|field| ColumnBounds {
                min: stat(mins.as_ref(), field).filter(|_| bounded(field.data_type())),
                max: stat(maxes.as_ref(), field)
                    .filter(|_| bounded(field.data_type()))
                    .filter(|v| !truncated(v)),
                null_count: match stat_scalar(nulls.as_ref(), field.name()) {
                    Some(Scalar::Long(n)) => u64::try_from(*n).ok(),
                    Some(Scalar::Integer(n)) => u64::try_from(*n).ok(),
                    _ => None,
                },
            })
            .collect();
        files.push(DataFile {
            path,
            size,
            rows: file.num_records().map(|n| n as u64),
            partition_values,
            columns,
        });
    }
    LakeTable::try_new(schema, &partition_columns, store, files).map_err(|e| e.to_string())
}

/// The object store the session reaches the table through: the domain's, registered with the
/// session under its URL (local files need none).
fn store_of(spec: &TableSpec, storage: &Storage) -> Result<ObjectStoreUrl, String> {
    let key = |u: &url::Url| format!("{}://{}", u.scheme(), u.authority());
    let table = key(&spec.location);
    if spec.location.scheme() != "file" && table != key(&storage.store_url()) {
        return Err("the table is outside its domain's object store".into());
    }
    ObjectStoreUrl::parse(table).map_err(|e| e.to_string())
}

/// Types whose Parquet reading DataFusion and delta-rs agree on.
fn supported(t: &DataType) -> bool {
    match t {
        DataType::Int8 | DataType::Int16 => true,
        // delta-rs dictionary-encodes partition columns.
        DataType::Dictionary(_, value) => supported(value),
        t => meshgate_lakescan::plain_type(t),
    }
}

/// Floats are left out: statistics skip NaN, which DataFusion orders above every number.
fn bounded(t: &DataType) -> bool {
    !matches!(t, DataType::Float32 | DataType::Float64)
}

fn truncated(v: &ScalarValue) -> bool {
    match v {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => s.chars().count() >= STRING_STATS_PREFIX,
        _ => false,
    }
}

fn stat_scalar<'a>(stats: Option<&'a Scalar>, name: &str) -> Option<&'a Scalar> {
    let Some(Scalar::Struct(s)) = stats else {
        return None;
    };
    let i = s.fields().iter().position(|f| f.name() == name)?;
    s.values().get(i)
}

fn stat(stats: Option<&Scalar>, field: &Field) -> Option<ScalarValue> {
    value(stat_scalar(stats, field.name())?, field.data_type())
}

/// A log value as the column's type; `None` for a null or a value of another kind.
fn value(v: &Scalar, to: &DataType) -> Option<ScalarValue> {
    let utc = || Some(Arc::<str>::from("UTC"));
    let v = match v {
        Scalar::Integer(x) => ScalarValue::Int32(Some(*x)),
        Scalar::Long(x) => ScalarValue::Int64(Some(*x)),
        Scalar::Short(x) => ScalarValue::Int16(Some(*x)),
        Scalar::Byte(x) => ScalarValue::Int8(Some(*x)),
        Scalar::Float(x) => ScalarValue::Float32(Some(*x)),
        Scalar::Double(x) => ScalarValue::Float64(Some(*x)),
        Scalar::String(x) => ScalarValue::Utf8(Some(x.clone())),
        Scalar::Boolean(x) => ScalarValue::Boolean(Some(*x)),
        Scalar::Timestamp(x) => ScalarValue::TimestampMicrosecond(Some(*x), utc()),
        Scalar::TimestampNtz(x) => ScalarValue::TimestampMicrosecond(Some(*x), None),
        Scalar::Date(x) => ScalarValue::Date32(Some(*x)),
        Scalar::Binary(x) => ScalarValue::Binary(Some(x.clone())),
        Scalar::Decimal(d) => {
            ScalarValue::Decimal128(Some(d.bits()), d.precision(), d.scale() as i8)
        }
        _ => return None,
    };
    // Timestamps: a `timestamp` column is UTC-adjusted and a `timestamp_ntz` is not; the log
    // value carries which, and must agree with the column rather than be converted.
    if let (ScalarValue::TimestampMicrosecond(_, tz), DataType::Timestamp(_, want)) = (&v, to) {
        if tz.is_some() != want.is_some() {
            return None;
        }
    }
    if v.data_type() == *to {
        return Some(v);
    }
    v.cast_to(to).ok()
}
