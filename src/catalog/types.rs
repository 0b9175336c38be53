//! Arrow types as PostgreSQL sees them: type OID, typmod, `format_type` text and the
//! information_schema columns, from one mapping.
//!
//! The type OID is the one result rows carry in RowDescription (arrow-pg's mapping), so a
//! column's pg_attribute type and the type of the values a query returns always agree.

use datafusion::arrow::datatypes::DataType;

/// PostgreSQL encodes `numeric(p,s)` as `((p << 16) | s) + VARHDRSZ` and `varchar(n)` as
/// `n + VARHDRSZ`; VARHDRSZ is 4.
const VARHDRSZ: i32 = 4;

pub const NUMERIC: i32 = 1700;
pub const VARCHAR: i32 = 1043;
pub const BPCHAR: i32 = 1042;

/// How PostgreSQL would describe one column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgColumnType {
    pub oid: i32,
    pub typmod: i32,
    /// pg_attribute.attlen: the type's fixed size, -1 for variable length.
    pub len: i16,
}

pub fn numeric_typmod(precision: i32, scale: i32) -> i32 {
    ((precision << 16) | (scale & 0xffff)) + VARHDRSZ
}

pub fn column_type(dt: &DataType) -> PgColumnType {
    let oid = arrow_pg::datatypes::into_pg_type(dt)
        .map(|t| t.oid() as i32)
        .unwrap_or(25);
    let typmod = match dt {
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => numeric_typmod(i32::from(*p), i32::from(*s)),
        _ => -1,
    };
    let len = match oid {
        16 => 1,
        21 => 2,
        23 | 700 | 1082 => 4,
        20 | 701 | 1083 | 1114 | 1184 => 8,
        1186 => 16,
        _ => -1,
    };
    PgColumnType { oid, typmod, len }
}

/// `format_type(oid, typmod)` as PostgreSQL prints it.
pub fn format_type(oid: i32, typmod: Option<i32>) -> Option<String> {
    let typmod = typmod.unwrap_or(-1);
    let base = match oid {
        0 => return Some("-".into()),
        16 => "boolean",
        17 => "bytea",
        18 => "\"char\"",
        19 => "name",
        20 => "bigint",
        21 => "smallint",
        23 => "integer",
        25 => "text",
        26 => "oid",
        114 => "json",
        700 => "real",
        701 => "double precision",
        1082 => "date",
        1083 => "time without time zone",
        1114 => "timestamp without time zone",
        1184 => "timestamp with time zone",
        1186 => "interval",
        2950 => "uuid",
        3802 => "jsonb",
        NUMERIC => {
            return Some(if typmod >= VARHDRSZ {
                let t = typmod - VARHDRSZ;
                format!("numeric({},{})", (t >> 16) & 0xffff, t & 0xffff)
            } else {
                "numeric".into()
            })
        }
        VARCHAR => {
            return Some(if typmod >= VARHDRSZ {
                format!("character varying({})", typmod - VARHDRSZ)
            } else {
                "character varying".into()
            })
        }
        BPCHAR => {
            return Some(if typmod >= VARHDRSZ {
                format!("character({})", typmod - VARHDRSZ)
            } else {
                "bpchar".into()
            })
        }
        _ => {
            let element = match oid {
                1000 => 16,
                1001 => 17,
                1005 => 21,
                1007 => 23,
                1009 => 25,
                1015 => VARCHAR,
                1016 => 20,
                1021 => 700,
                1022 => 701,
                1115 => 1114,
                1182 => 1082,
                1185 => 1184,
                1231 => NUMERIC,
                _ => return Some("???".into()),
            };
            return format_type(element, Some(typmod)).map(|t| format!("{t}[]"));
        }
    };
    Some(base.to_string())
}

/// information_schema.columns facts: data_type, character_maximum_length, numeric_precision,
/// numeric_precision_radix, numeric_scale, datetime_precision.
pub struct InfoSchemaType {
    pub data_type: String,
    pub char_max_length: Option<i32>,
    pub numeric_precision: Option<i32>,
    pub numeric_radix: Option<i32>,
    pub numeric_scale: Option<i32>,
    pub datetime_precision: Option<i32>,
    pub udt_name: &'static str,
}

pub fn info_schema_type(dt: &DataType) -> InfoSchemaType {
    let t = column_type(dt);
    let mut out = InfoSchemaType {
        data_type: format_type(t.oid, None).unwrap_or_default(),
        char_max_length: None,
        numeric_precision: None,
        numeric_radix: None,
        numeric_scale: None,
        datetime_precision: None,
        udt_name: udt_name(t.oid),
    };
    if t.oid >= 1000 && out.data_type.ends_with("[]") {
        out.data_type = "ARRAY".into();
    }
    match t.oid {
        21 => {
            (out.numeric_precision, out.numeric_radix, out.numeric_scale) =
                (Some(16), Some(2), Some(0))
        }
        23 => {
            (out.numeric_precision, out.numeric_radix, out.numeric_scale) =
                (Some(32), Some(2), Some(0))
        }
        20 => {
            (out.numeric_precision, out.numeric_radix, out.numeric_scale) =
                (Some(64), Some(2), Some(0))
        }
        700 => (out.numeric_precision, out.numeric_radix) = (Some(24), Some(2)),
        701 => (out.numeric_precision, out.numeric_radix) = (Some(53), Some(2)),
        NUMERIC if t.typmod >= VARHDRSZ => {
            let m = t.typmod - VARHDRSZ;
            (out.numeric_precision, out.numeric_radix, out.numeric_scale) =
                (Some((m >> 16) & 0xffff), Some(10), Some(m & 0xffff));
        }
        NUMERIC => out.numeric_radix = Some(10),
        1082 => out.datetime_precision = Some(0),
        1083 | 1114 | 1184 | 1186 => out.datetime_precision = Some(6),
        _ => {}
    }
    out
}

fn udt_name(oid: i32) -> &'static str {
    match oid {
        16 => "bool",
        17 => "bytea",
        20 => "int8",
        21 => "int2",
        23 => "int4",
        25 => "text",
        700 => "float4",
        701 => "float8",
        1082 => "date",
        1083 => "time",
        1114 => "timestamp",
        1184 => "timestamptz",
        1186 => "interval",
        NUMERIC => "numeric",
        VARCHAR => "varchar",
        1000 => "_bool",
        1005 => "_int2",
        1007 => "_int4",
        1009 => "_text",
        1016 => "_int8",
        1021 => "_float4",
        1022 => "_float8",
        1231 => "_numeric",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_typmod_is_encoded_as_postgres_does() {
        let t = column_type(&DataType::Decimal128(15, 2));
        assert_eq!(t.oid, NUMERIC);
        // SELECT atttypmod FROM pg_attribute WHERE … numeric(15,2) gives 983046 in PostgreSQL.
        assert_eq!(t.typmod, 983_046);
        assert_eq!(
            format_type(t.oid, Some(t.typmod)).as_deref(),
            Some("numeric(15,2)")
        );
        assert_eq!(
            format_type(VARCHAR, Some(29)).as_deref(),
            Some("character varying(25)")
        );
        assert_eq!(format_type(20, Some(-1)).as_deref(), Some("bigint"));
        assert_eq!(format_type(1082, None).as_deref(), Some("date"));
        assert_eq!(format_type(1231, Some(-1)).as_deref(), Some("numeric[]"));
    }
}
