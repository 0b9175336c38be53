//! Arrow → PostgreSQL rows: a batch as DataRows in the columns' formats, and the row
//! description that announces them (the Postgres port sends them; the web catalog reads them
//! back as text).

use std::sync::Arc;

use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use pgwire::api::results::FieldInfo;
use pgwire::messages::data::{FieldDescription, RowDescription};
use pgwire::messages::PgWireBackendMessage;

/// The rows of a batch as DataRows in the fields' formats, timestamptz text in `zone` (the
/// session's TimeZone).
pub fn encode_rows(
    fields: Arc<Vec<FieldInfo>>,
    batch: RecordBatch,
    zone: Option<Tz>,
) -> impl Iterator<Item = pgwire::error::PgWireResult<pgwire::messages::data::DataRow>> {
    let (batch, binary_places) = with_display_scales(&fields, batch);
    let batch = with_postgres_text(&fields, batch, zone.as_ref());
    let batch = with_jsonb_version(&fields, batch);
    let batch = with_bpchar_blanks(&fields, batch);
    let batch = with_regtype_oids(&fields, batch);
    let places = binary_places.unwrap_or_default();
    let (rows, failed) = match super::datarow::encode(&fields, &batch, &places) {
        Ok(rows) => (rows, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    rows.into_iter().map(Ok).chain(failed.map(Err))
}

/// Each value's display scale, per binary numeric column that has them (see
/// `with_display_scales`), by row.
type BinaryPlaces = Vec<Option<Vec<i32>>>;

/// The batch with the columns the client sees, text-format numerics printed as PostgreSQL
/// prints them: at each value's display scale where the result has a hidden column of them
/// after the visible ones (`meshgate_sqlfront::rewrite::add_display_scales`), else, for a
/// numeric whose column scale is only room for computed values (an average read from a
/// subquery), with the digits the value has. Binary numerics keep the column's scale: the
/// value is the same, drivers read the scale as the number of decimals.
fn with_display_scales(
    fields: &[FieldInfo],
    batch: RecordBatch,
) -> (RecordBatch, Option<BinaryPlaces>) {
    use datafusion::arrow::array::{Array, AsArray, Int32Array, StringArray};
    use datafusion::arrow::datatypes::{Decimal128Type, Int32Type};
    let visible = fields.len();
    let schema = batch.schema();
    let mut scales: Vec<Option<&Int32Array>> = vec![None; visible];
    for (hidden, f) in schema.fields().iter().enumerate().skip(visible) {
        let target = meshgate_sqlfront::rewrite::display_scale_target(f.name(), visible);
        if let (Some(target), DataType::Int32) = (target, f.data_type()) {
            scales[target] = Some(batch.column(hidden).as_primitive::<Int32Type>());
        }
    }
    let computed: Vec<bool> = (0..visible.min(schema.fields().len()))
        .map(|i| meshgate_functions::has_computed_scale(schema.field(i)))
        .collect();
    if schema.fields().len() <= visible && !computed.contains(&true) {
        return (batch, None);
    }
    let mut columns = batch.columns()[..visible].to_vec();
    let mut schema_fields: Vec<_> = schema.fields()[..visible].to_vec();
    let mut binary: BinaryPlaces = vec![None; visible];
    for (i, field) in fields.iter().enumerate() {
        let DataType::Decimal128(_, scale) = columns[i].data_type() else {
            continue;
        };
        if scales[i].is_none() && !computed[i] {
            continue;
        }
        let scale = *scale;
        let values = columns[i].as_primitive::<Decimal128Type>();
        let places: Vec<i32> = (0..values.len())
            .map(|r| match scales[i] {
                Some(p) if p.is_valid(r) => p.value(r),
                _ if computed[i] && values.is_valid(r) => own_digits(values.value(r), scale),
                _ => scale as i32,
            })
            .collect();
        if field.format() != pgwire::api::results::FieldFormat::Text {
            binary[i] = Some(places);
            continue;
        }
        let text: StringArray = (0..values.len())
            .map(|r| {
                values
                    .is_valid(r)
                    .then(|| crate::sql::text::numeric(values.value(r), scale, places[r]))
            })
            .collect();
        schema_fields[i] = Arc::new(Field::new(schema.field(i).name(), DataType::Utf8, true));
        columns[i] = Arc::new(text);
    }
    let batch =
        RecordBatch::try_new(Arc::new(Schema::new(schema_fields)), columns).unwrap_or(batch);
    (batch, binary.iter().any(Option::is_some).then_some(binary))
}

/// The decimals a value of `scale` has without its trailing zeros.
fn own_digits(mut v: i128, scale: i8) -> i32 {
    let mut places = scale.max(0) as i32;
    while places > 0 && v % 10 == 0 {
        v /= 10;
        places -= 1;
    }
    places
}

/// The batch with its text-format columns preformatted where PostgreSQL's text differs from
/// the encoder's (see `text`); the fields keep announcing the columns' own types.
fn with_postgres_text(fields: &[FieldInfo], batch: RecordBatch, zone: Option<&Tz>) -> RecordBatch {
    with_columns_replaced(fields, batch, |field, column| {
        if field.format() != pgwire::api::results::FieldFormat::Text {
            return None;
        }
        crate::sql::text::postgres_text(column, zone)
    })
}

/// PostgreSQL's binary jsonb is a version byte (1) and then the text; the encoder writes a
/// string's bytes as they are, so binary jsonb columns get the byte in front of each value.
fn with_jsonb_version(fields: &[FieldInfo], batch: RecordBatch) -> RecordBatch {
    use datafusion::arrow::array::{AsArray, StringArray};
    with_columns_replaced(fields, batch, |field, column| {
        if field.format() != pgwire::api::results::FieldFormat::Binary
            || *field.datatype() != pgwire::api::Type::JSONB
        {
            return None;
        }
        let text = datafusion::arrow::compute::cast(column, &DataType::Utf8).ok()?;
        let versioned: StringArray = text
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(|s| format!("\u{1}{s}")))
            .collect();
        Some(Arc::new(versioned) as ArrayRef)
    })
}

/// A `char(n)` value is held without its trailing blanks (see meshgate-functions' chars.rs);
/// PostgreSQL prints it padded to n, in both formats.
fn with_bpchar_blanks(fields: &[FieldInfo], batch: RecordBatch) -> RecordBatch {
    use datafusion::arrow::array::{AsArray, StringArray};
    with_columns_replaced(fields, batch, |field, column| {
        if *field.datatype() != pgwire::api::Type::BPCHAR || field.type_modifier() <= 4 {
            return None;
        }
        let width = (field.type_modifier() - 4) as usize;
        let text = datafusion::arrow::compute::cast(column, &DataType::Utf8).ok()?;
        let padded: StringArray = text
            .as_string::<i32>()
            .iter()
            .map(|v| {
                v.map(|s| {
                    let short = width.saturating_sub(s.chars().count());
                    format!("{s}{}", " ".repeat(short))
                })
            })
            .collect();
        Some(Arc::new(padded) as ArrayRef)
    })
}

/// Binary regtype is the type's OID; the engine holds the name `pg_typeof` prints. A name
/// without a known OID is sent as 0 (InvalidOid).
fn with_regtype_oids(fields: &[FieldInfo], batch: RecordBatch) -> RecordBatch {
    use datafusion::arrow::array::{AsArray, Int32Array};
    with_columns_replaced(fields, batch, |field, column| {
        if field.format() != pgwire::api::results::FieldFormat::Binary
            || *field.datatype() != pgwire::api::Type::REGTYPE
        {
            return None;
        }
        let text = datafusion::arrow::compute::cast(column, &DataType::Utf8).ok()?;
        let oids: Int32Array = text
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(|name| regtype_oid(name).unwrap_or(0)))
            .collect();
        Some(Arc::new(oids) as ArrayRef)
    })
}

/// The OID of a type by the name `pg_typeof` gives it.
fn regtype_oid(name: &str) -> Option<i32> {
    let Some(element) = name.strip_suffix("[]") else {
        return match name {
            "regtype" => Some(2206),
            "unknown" => Some(705),
            name => meshgate_sqlfront::rewrite::type_oid(name),
        };
    };
    Some(match meshgate_sqlfront::rewrite::type_oid(element)? {
        16 => 1000,
        17 => 1001,
        20 => 1016,
        21 => 1005,
        23 => 1007,
        25 => 1009,
        114 => 199,
        700 => 1021,
        701 => 1022,
        1042 => 1014,
        1043 => 1015,
        1082 => 1182,
        1083 => 1183,
        1114 => 1115,
        1184 => 1185,
        1186 => 1187,
        1700 => 1231,
        3802 => 3807,
        _ => return None,
    })
}

/// The batch with the columns `replace` gives new values for replaced by them (text, or the
/// binary form's own type).
fn with_columns_replaced(
    fields: &[FieldInfo],
    batch: RecordBatch,
    replace: impl Fn(&FieldInfo, &ArrayRef) -> Option<ArrayRef>,
) -> RecordBatch {
    let mut columns = batch.columns().to_vec();
    let mut schema_fields: Vec<_> = batch.schema().fields().iter().cloned().collect();
    let mut changed = false;
    for (i, field) in fields.iter().enumerate() {
        let Some(text) = columns.get(i).and_then(|c| replace(field, c)) else {
            continue;
        };
        schema_fields[i] = Arc::new(Field::new(
            schema_fields[i].name(),
            text.data_type().clone(),
            true,
        ));
        columns[i] = text;
        changed = true;
    }
    if !changed {
        return batch;
    }
    let schema = Arc::new(Schema::new(schema_fields));
    RecordBatch::try_new(schema, columns).unwrap_or(batch)
}

pub fn row_description(fields: &[FieldInfo]) -> PgWireBackendMessage {
    PgWireBackendMessage::RowDescription(RowDescription::new(
        fields.iter().map(FieldDescription::from).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::result::fields;
    use datafusion::arrow::array::{Decimal128Array, StringArray};
    use pgwire::api::portal::Format;

    #[test]
    fn binary_jsonb_carries_its_version_byte_and_json_does_not() {
        let schema = Schema::new(vec![
            meshgate_functions::json_field("b", meshgate_functions::JsonKind::Jsonb),
            meshgate_functions::json_field("j", meshgate_functions::JsonKind::Json),
        ]);
        let values = || Arc::new(StringArray::from(vec![Some("{}")])) as ArrayRef;
        let batch = RecordBatch::try_new(Arc::new(schema.clone()), vec![values(), values()])
            .expect("batch");
        let binary = fields(&schema, &Format::UnifiedBinary).expect("fields");
        assert_eq!(*binary[0].datatype(), pgwire::api::Type::JSONB);
        assert_eq!(*binary[1].datatype(), pgwire::api::Type::JSON);
        let row = encode_rows(binary, batch.clone(), None)
            .next()
            .expect("a row")
            .expect("encodes");
        assert_eq!(
            row.data.to_vec(),
            vec![0, 0, 0, 3, 1, b'{', b'}', 0, 0, 0, 2, b'{', b'}']
        );
        // In text, both are the text itself.
        let text = fields(&schema, &Format::UnifiedText).expect("fields");
        let row = encode_rows(text, batch, None)
            .next()
            .expect("a row")
            .expect("encodes");
        assert_eq!(
            row.data.to_vec(),
            vec![0, 0, 0, 2, b'{', b'}', 0, 0, 0, 2, b'{', b'}']
        );
    }

    #[test]
    fn binary_numeric_zeros_keep_their_scale() {
        let schema = Schema::new(vec![Field::new("n", DataType::Decimal128(15, 2), true)]);
        let values = Decimal128Array::from(vec![Some(0), Some(150), None])
            .with_precision_and_scale(15, 2)
            .expect("decimal array");
        let batch =
            RecordBatch::try_new(Arc::new(schema.clone()), vec![Arc::new(values)]).expect("batch");
        let rows: Vec<_> = encode_rows(
            fields(&schema, &Format::UnifiedBinary).expect("fields"),
            batch,
            None,
        )
        .map(|r| r.expect("row").data.to_vec())
        .collect();
        // Length 8, then ndigits 0, weight 0, sign 0, dscale 2: PostgreSQL's 0.00.
        assert_eq!(rows[0], vec![0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 2]);
        // 1.50: one digit group (1), weight 0, dscale 2, then 1 and 5000 — untouched.
        assert_eq!(
            rows[1],
            vec![0, 0, 0, 12, 0, 2, 0, 0, 0, 0, 0, 2, 0, 1, 0x13, 0x88]
        );
        assert_eq!(rows[2], vec![0xff, 0xff, 0xff, 0xff]);
    }
}
