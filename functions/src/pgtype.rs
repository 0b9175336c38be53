//! PostgreSQL types the engine holds as text, told apart by the field's metadata.
//!
//! json, jsonb, varchar, bpchar and regtype values are Utf8 to the engine: it compares, sorts,
//! groups and moves them as text. What PostgreSQL would call them is in the field's
//! `meshgate.pg_type` metadata, which a function sets on its result field and DataFusion carries
//! along with a column through projections, subqueries and joins; the wire announces the type
//! from it (and `pg_typeof` names it). An expression computed from such a column has a field of
//! its own, so a function's result is of the type the function says, as in PostgreSQL.
//!
//! The value is the type's name with its length where one was given: `varchar(2)`, `bpchar(5)`,
//! `json`, `jsonb`, `regtype`, or `text` for a value cast to text from one of these (DataFusion's
//! cast keeps the field's metadata, which would otherwise still name the old type).

use std::collections::HashMap;

use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::DFSchema;
use datafusion::logical_expr::{Expr, ExprSchemable};

/// The field metadata key naming a column's PostgreSQL type.
pub const PG_TYPE_KEY: &str = "meshgate.pg_type";
/// Arrow's canonical extension type for JSON text, on every JSON field (other Arrow readers
/// know the column from it).
const EXTENSION_NAME_KEY: &str = "ARROW:extension:name";
const EXTENSION_NAME: &str = "arrow.json";

/// Which JSON type a JSON value is (its functions are in `json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JsonKind {
    Json,
    Jsonb,
}

impl JsonKind {
    pub fn name(self) -> &'static str {
        match self {
            JsonKind::Json => "json",
            JsonKind::Jsonb => "jsonb",
        }
    }
}

/// A PostgreSQL type held as Utf8 text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PgType {
    Text,
    /// `varchar(n)`, or without a length.
    Varchar(Option<u32>),
    /// `char(n)`. The engine holds the value without its trailing blanks, which PostgreSQL
    /// ignores in comparisons, `length` and casts to text; the wire pads it to n.
    Bpchar(Option<u32>),
    Json,
    Jsonb,
    /// A type's name, as `pg_typeof` returns it.
    Regtype,
}

impl PgType {
    fn tag(self) -> String {
        match self {
            PgType::Text => "text".into(),
            PgType::Varchar(None) => "varchar".into(),
            PgType::Varchar(Some(n)) => format!("varchar({n})"),
            PgType::Bpchar(None) => "bpchar".into(),
            PgType::Bpchar(Some(n)) => format!("bpchar({n})"),
            PgType::Json => "json".into(),
            PgType::Jsonb => "jsonb".into(),
            PgType::Regtype => "regtype".into(),
        }
    }

    fn from_tag(tag: &str) -> Option<Self> {
        let (base, length) = match tag.split_once('(') {
            Some((base, rest)) => (base, Some(rest.strip_suffix(')')?.parse::<u32>().ok()?)),
            None => (tag, None),
        };
        Some(match (base, length) {
            ("text", None) => PgType::Text,
            ("varchar", n) => PgType::Varchar(n),
            ("bpchar", n) => PgType::Bpchar(n),
            ("json", None) => PgType::Json,
            ("jsonb", None) => PgType::Jsonb,
            ("regtype", None) => PgType::Regtype,
            _ => return None,
        })
    }

    /// The name `pg_typeof` prints for a value of this type.
    pub fn typeof_name(self) -> &'static str {
        match self {
            PgType::Text => "text",
            PgType::Varchar(_) => "character varying",
            PgType::Bpchar(_) => "character",
            PgType::Json => "json",
            PgType::Jsonb => "jsonb",
            PgType::Regtype => "regtype",
        }
    }

    pub fn json_kind(self) -> Option<JsonKind> {
        match self {
            PgType::Json => Some(JsonKind::Json),
            PgType::Jsonb => Some(JsonKind::Jsonb),
            _ => None,
        }
    }

    /// The declared length of a varchar or bpchar.
    pub fn length(self) -> Option<u32> {
        match self {
            PgType::Varchar(n) | PgType::Bpchar(n) => n,
            _ => None,
        }
    }

    /// Field metadata that makes a column of this type: an alias carrying it overrides what
    /// the aliased expression's field says.
    pub fn metadata(self) -> HashMap<String, String> {
        let mut m = HashMap::from([(PG_TYPE_KEY.to_string(), self.tag())]);
        if self.json_kind().is_some() {
            m.insert(EXTENSION_NAME_KEY.to_string(), EXTENSION_NAME.to_string());
        }
        m
    }

    /// A nullable Utf8 field holding values of this type.
    pub fn field(self, name: &str) -> Field {
        Field::new(name, DataType::Utf8, true).with_metadata(self.metadata())
    }

    /// The type of a CASE or COALESCE over values of these two types: PostgreSQL resolves
    /// varchars of different lengths to varchar.
    fn common(self, other: PgType) -> Option<PgType> {
        match (self, other) {
            (a, b) if a == b => Some(a),
            (PgType::Varchar(_), PgType::Varchar(_)) => Some(PgType::Varchar(None)),
            (PgType::Bpchar(_), PgType::Bpchar(_)) => Some(PgType::Bpchar(None)),
            _ => None,
        }
    }
}

impl From<JsonKind> for PgType {
    fn from(kind: JsonKind) -> Self {
        match kind {
            JsonKind::Json => PgType::Json,
            JsonKind::Jsonb => PgType::Jsonb,
        }
    }
}

/// The PostgreSQL type a field's metadata names; without the key, a field with Arrow's JSON
/// extension (written by another Arrow producer) is json.
pub fn pg_type(field: &Field) -> Option<PgType> {
    let metadata = field.metadata();
    match metadata.get(PG_TYPE_KEY) {
        Some(tag) => PgType::from_tag(tag),
        None => (metadata.get(EXTENSION_NAME_KEY).map(String::as_str) == Some(EXTENSION_NAME))
            .then_some(PgType::Json),
    }
}

/// The type PostgreSQL gives an expression where DataFusion's field says otherwise: a CASE
/// or COALESCE of such values is of their type (DataFusion's field drops it), a cast to text
/// is text (DataFusion's cast keeps the field's metadata).
pub fn expr_pg_type(e: &Expr, schema: &DFSchema) -> Option<PgType> {
    let of_all = |exprs: &mut dyn Iterator<Item = &Expr>| {
        let mut seen: Option<PgType> = None;
        for e in exprs {
            if matches!(e, Expr::Literal(v, _) if v.is_null()) {
                continue;
            }
            let t = expr_pg_type(e, schema)?;
            seen = Some(match seen {
                Some(s) => s.common(t)?,
                None => t,
            });
        }
        seen
    };
    match e {
        Expr::Alias(a) if a.metadata.is_none() => expr_pg_type(&a.expr, schema),
        Expr::Cast(c) => match c.data_type {
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => None,
            _ => expr_pg_type(&c.expr, schema),
        },
        Expr::Case(c) => of_all(
            &mut c
                .when_then_expr
                .iter()
                .map(|(_, then)| then.as_ref())
                .chain(c.else_expr.as_deref()),
        ),
        Expr::ScalarFunction(f) if matches!(f.name(), "coalesce" | "nullif") => of_all(
            &mut f
                .args
                .iter()
                .take(if f.name() == "nullif" { 1 } else { usize::MAX }),
        ),
        e => e
            .to_field(schema)
            .ok()
            .and_then(|(_, field)| pg_type(&field)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_name_their_postgres_type_and_length() {
        for t in [
            PgType::Text,
            PgType::Varchar(None),
            PgType::Varchar(Some(2)),
            PgType::Bpchar(Some(5)),
            PgType::Json,
            PgType::Jsonb,
            PgType::Regtype,
        ] {
            assert_eq!(pg_type(&t.field("c")), Some(t));
        }
        assert_eq!(pg_type(&Field::new("t", DataType::Utf8, true)), None);
        let bad = Field::new("t", DataType::Utf8, true).with_metadata(HashMap::from([(
            PG_TYPE_KEY.to_string(),
            "varchar(x)".to_string(),
        )]));
        assert_eq!(pg_type(&bad), None);
    }

    #[test]
    fn varchars_of_other_lengths_meet_in_varchar() {
        assert_eq!(
            PgType::Varchar(Some(2)).common(PgType::Varchar(Some(3))),
            Some(PgType::Varchar(None))
        );
        assert_eq!(PgType::Varchar(Some(2)).common(PgType::Json), None);
    }
}
