//! PostgreSQL's names for the engine's types.

use datafusion::arrow::datatypes::DataType;

/// The name PostgreSQL's `pg_typeof` prints for a value of type `t`.
pub fn pg_type_name(t: &DataType) -> String {
    use DataType::*;
    match t {
        Null => "unknown".into(),
        Boolean => "boolean".into(),
        Int8 | Int16 | UInt8 => "smallint".into(),
        Int32 | UInt16 => "integer".into(),
        Int64 | UInt32 | UInt64 => "bigint".into(),
        Float16 | Float32 => "real".into(),
        Float64 => "double precision".into(),
        Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..) => "numeric".into(),
        Utf8 | LargeUtf8 | Utf8View => "text".into(),
        Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => "bytea".into(),
        Date32 | Date64 => "date".into(),
        Time32(_) | Time64(_) => "time without time zone".into(),
        Timestamp(_, None) => "timestamp without time zone".into(),
        Timestamp(_, Some(_)) => "timestamp with time zone".into(),
        Interval(_) | Duration(_) => "interval".into(),
        List(f) | LargeList(f) | ListView(f) | LargeListView(f) | FixedSizeList(f, _) => {
            format!("{}[]", pg_type_name(f.data_type()))
        }
        Struct(_) => "record".into(),
        Dictionary(_, v) => pg_type_name(v),
        Map(..) => "jsonb".into(),
        _ => "unknown".into(),
    }
}
