//! What a statement returns: the PostgreSQL description of its columns, and its rows on their
//! way to the client, kept between FETCHes and Executes.

use std::sync::Arc;

use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use pgwire::api::portal::Format;
use pgwire::api::results::FieldInfo;
use pgwire::api::Type;

use crate::audit::scan::ScanProbe;
use crate::catalog::history::ReadVersions;
use crate::error::{SqlState, UserError};
use crate::exec::BatchStream;

/// Whether a result column is sent to the client (not a display-scale column the wire layer
/// reads, see `meshgate_sqlfront::rewrite::add_display_scales`).
fn visible(f: &Field) -> bool {
    !meshgate_sqlfront::rewrite::is_display_scale(f.name())
}

/// The number of columns the client sees of a result schema.
pub fn visible_columns(schema: &Schema) -> usize {
    schema.fields().iter().filter(|f| visible(f)).count()
}

/// Field descriptions for a result schema in the given formats.
pub fn fields(schema: &Schema, format: &Format) -> Result<Arc<Vec<FieldInfo>>, UserError> {
    let shown;
    let schema = if schema
        .fields()
        .iter()
        .any(|f| crate::sql::rewrite::shown_name(f.name()) != f.name() || !visible(f))
    {
        shown = Schema::new(
            schema
                .fields()
                .iter()
                .filter(|f| visible(f))
                .map(|f| {
                    f.as_ref()
                        .clone()
                        .with_name(crate::sql::rewrite::shown_name(f.name()))
                })
                .collect::<Vec<_>>(),
        );
        &shown
    } else {
        schema
    };
    let infos =
        arrow_pg::datatypes::arrow_schema_to_pg_fields(schema, format, None).map_err(|e| {
            UserError::unsupported(format!(
                "a result column has a type meshgate cannot send: {e}"
            ))
        })?;
    let infos = infos
        .into_iter()
        .zip(schema.fields())
        .map(|(info, f)| match f.data_type() {
            // PostgreSQL's numeric typmod: ((precision << 16) | scale) + VARHDRSZ. Drivers read
            // the scale from it (JDBC getScale, psycopg's Decimal context).
            // A computed numeric (a quotient, an average) has none, as in PostgreSQL.
            DataType::Decimal128(p, s) if *s >= 0 && !meshgate_functions::has_computed_scale(f) => {
                info.with_type_modifier((((*p as i32) << 16) | (*s as i32)) + 4)
            }
            // Several PostgreSQL types are text to the engine; the field says which one.
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                match meshgate_functions::pg_type(f) {
                    Some(t) => described(info, t),
                    None => info,
                }
            }
            _ => info,
        })
        .collect();
    Ok(Arc::new(infos))
}

/// A text column described as the PostgreSQL type its field names, with PostgreSQL's typmod
/// for a declared length (n + VARHDRSZ), which the wire pads bpchar values to.
fn described(info: FieldInfo, t: meshgate_functions::PgType) -> FieldInfo {
    use meshgate_functions::PgType;
    let pg = match t {
        PgType::Text => Type::TEXT,
        PgType::Varchar(_) => Type::VARCHAR,
        PgType::Bpchar(_) => Type::BPCHAR,
        PgType::Json => Type::JSON,
        PgType::Jsonb => Type::JSONB,
        PgType::Regtype => Type::REGTYPE,
    };
    let described = FieldInfo::new(
        info.name().to_string(),
        info.table_id(),
        info.column_id(),
        pg,
        info.format(),
    );
    match t.length().and_then(|n| i32::try_from(n).ok()) {
        Some(n) => described.with_type_modifier(n.saturating_add(4)),
        None => described,
    }
}

/// The columns of `CREATE [TEMPORARY] TABLE t (names…) AS query`: the query's, renamed by
/// position where the statement names them, all nullable.
pub fn renamed(
    schema: &Schema,
    names: &[datafusion::sql::sqlparser::ast::ColumnDef],
) -> Result<Schema, UserError> {
    if names.len() > schema.fields().len() {
        return Err(UserError::syntax(
            "CREATE TABLE AS specifies too many column names",
        ));
    }
    Ok(Schema::new(
        schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let name = names
                    .get(i)
                    .map(|c| crate::sql::folded(&c.name))
                    .unwrap_or_else(|| f.name().clone());
                datafusion::arrow::datatypes::Field::new(name, f.data_type().clone(), true)
            })
            .collect::<Vec<_>>(),
    ))
}

/// Result formats from a Bind: none (all text), one for all, or one per column.
pub fn result_format(codes: &[i16], columns: usize) -> Result<Format, UserError> {
    for c in codes {
        if *c != 0 && *c != 1 {
            return Err(UserError::new(
                SqlState::ProtocolViolation,
                format!("unsupported format code: {c}"),
            ));
        }
    }
    Ok(match codes.len() {
        0 => Format::UnifiedText,
        1 => Format::from(codes[0]),
        n if n == columns => Format::Individual(codes.to_vec()),
        n => {
            return Err(UserError::new(
                SqlState::ProtocolViolation,
                format!("bind message has {n} result formats but query has {columns} columns"),
            ))
        }
    })
}

/// The rows of a statement on their way to the client; kept in a portal between Executes.
pub struct RowSource {
    pub stream: BatchStream,
    /// Rows of a batch not yet sent (a row limit fell inside it).
    pub pending: Option<RecordBatch>,
    pub fields: Arc<Vec<FieldInfo>>,
    /// Rows sent so far, for the command tag.
    pub sent: usize,
    /// Bytes of the DataRow messages sent (the audit of a peer gateway's statements).
    pub bytes_sent: u64,
    /// The plan reads a table under a row filter: an error raised while evaluating rows may
    /// quote a value from a row the filter hides (a failed cast, say), so its text is withheld.
    pub redact: bool,
    /// The plan's scans, read for bytes scanned by each statement that pulls rows from it.
    pub probe: Arc<ScanProbe>,
    /// Tables read at older versions, whose files VACUUM may have deleted meanwhile.
    pub older: ReadVersions,
    /// The session's TimeZone when the statement started, which timestamptz text is in.
    pub zone: Option<Tz>,
}

impl RowSource {
    pub fn new(
        stream: BatchStream,
        fields: Arc<Vec<FieldInfo>>,
        redact: bool,
        probe: Arc<ScanProbe>,
        older: ReadVersions,
        zone: Option<&str>,
    ) -> Self {
        RowSource {
            stream,
            pending: None,
            fields,
            sent: 0,
            bytes_sent: 0,
            redact,
            probe,
            older,
            zone: zone.and_then(|z| z.parse().ok()),
        }
    }

    /// `batch` as DataRows in the fields' formats (see [`super::encode::encode_rows`]).
    pub fn encode(
        &self,
        batch: RecordBatch,
    ) -> impl Iterator<Item = pgwire::error::PgWireResult<pgwire::messages::data::DataRow>> + use<>
    {
        super::encode::encode_rows(self.fields.clone(), batch, self.zone)
    }

    /// Up to `budget` rows of those already fetched, counted as sent; the rest stay for the
    /// next call.
    pub fn take(&mut self, budget: usize) -> Option<RecordBatch> {
        let batch = self.pending.take()?;
        let n = batch.num_rows().min(budget);
        if n < batch.num_rows() {
            self.pending = Some(batch.slice(n, batch.num_rows() - n));
        }
        self.sent += n;
        Some(batch.slice(0, n))
    }

    /// The client's error for a failure of the stream.
    pub fn error(&self, e: &datafusion::error::DataFusionError) -> UserError {
        if UserError::is_missing_file(e) {
            if let Some(u) = self.older.file_gone() {
                return u;
            }
        }
        let u = UserError::from_datafusion(e);
        if !self.redact
            || matches!(
                u.code,
                SqlState::QueryCanceled | SqlState::OutOfMemory | SqlState::TooManyConnections
            )
        {
            return u;
        }
        let id = crate::error::error_id();
        tracing::warn!(error_id = %id, "error under a row filter, withheld from the client: {}", u.message);
        UserError::new(
            u.code,
            format!("the query failed while evaluating rows of a table under a row filter; the details are withheld because they could show filtered rows (error id {id})"),
        )
    }
}

/// What a pump ended with.
pub enum Pumped {
    Done,
    /// The row limit was reached; the portal can be resumed.
    Suspended,
}
