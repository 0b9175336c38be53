//! `COPY (query) TO STDOUT` in text, CSV and binary, streamed as CopyData messages.
//!
//! Values are first encoded exactly as a DataRow would carry them (text or binary PostgreSQL
//! encodings), then framed the COPY way: text and CSV escape and join the text forms, binary
//! prefixes each row's fields with their count, which is precisely PostgreSQL's binary tuple.

use bytes::{BufMut, BytesMut};
use datafusion::sql::sqlparser::ast::{CopyLegacyOption, CopyOption, Statement};
use futures::{SinkExt, StreamExt};
use pgwire::api::portal::Format;
use pgwire::messages::copy::{CopyData, CopyDone, CopyOutResponse};
use pgwire::messages::PgWireBackendMessage;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{Failure, SessionLoop};
use crate::error::{sqlstate, UserError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CopyFormat {
    Text {
        delimiter: u8,
        null: String,
    },
    Csv {
        delimiter: u8,
        null: String,
        quote: u8,
        header: bool,
    },
    Binary,
}

impl CopyFormat {
    pub fn from_options(
        options: &[CopyOption],
        legacy: &[CopyLegacyOption],
    ) -> Result<Self, UserError> {
        let mut kind = "text".to_string();
        let mut delimiter = None;
        let mut null = None;
        let mut quote = b'"';
        let mut header = false;
        let bad = |m: String| UserError::new(sqlstate::SYNTAX_ERROR, m);
        let byte = |c: char, what: &str| -> Result<u8, UserError> {
            if c.is_ascii() {
                Ok(c as u8)
            } else {
                Err(bad(format!(
                    "COPY {what} must be a single one-byte character"
                )))
            }
        };
        for o in options {
            match o {
                CopyOption::Format(f) => kind = f.value.to_ascii_lowercase(),
                CopyOption::Delimiter(c) => delimiter = Some(byte(*c, "delimiter")?),
                CopyOption::Null(s) => null = Some(s.clone()),
                CopyOption::Header(h) => header = *h,
                CopyOption::Quote(c) => quote = byte(*c, "quote")?,
                CopyOption::Encoding(e)
                    if e.eq_ignore_ascii_case("utf8") || e.eq_ignore_ascii_case("utf-8") => {}
                other => {
                    return Err(UserError::unsupported(format!(
                        "COPY option {other} is not supported"
                    )))
                }
            }
        }
        for o in legacy {
            match o {
                CopyLegacyOption::Binary => kind = "binary".into(),
                CopyLegacyOption::Csv(_) => kind = "csv".into(),
                CopyLegacyOption::Delimiter(c) => delimiter = Some(byte(*c, "delimiter")?),
                CopyLegacyOption::Null(s) => null = Some(s.clone()),
                other => {
                    return Err(UserError::unsupported(format!(
                        "COPY option {other} is not supported"
                    )))
                }
            }
        }
        match kind.as_str() {
            "text" => Ok(CopyFormat::Text {
                delimiter: delimiter.unwrap_or(b'\t'),
                null: null.unwrap_or_else(|| "\\N".into()),
            }),
            "csv" => Ok(CopyFormat::Csv {
                delimiter: delimiter.unwrap_or(b','),
                null: null.unwrap_or_default(),
                quote,
                header,
            }),
            "binary" => Ok(CopyFormat::Binary),
            other => Err(bad(format!("COPY format \"{other}\" not recognized"))),
        }
    }
}

/// The fields of a DataRow body: (length, bytes) pairs, -1 for NULL.
fn fields_of(data: &[u8]) -> impl Iterator<Item = Option<&[u8]>> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos + 4 > data.len() {
            return None;
        }
        let len = i32::from_be_bytes([data[pos], data[pos + 1], data[pos + 2], data[pos + 3]]);
        pos += 4;
        if len < 0 {
            return Some(None);
        }
        let v = &data[pos..pos + len as usize];
        pos += len as usize;
        Some(Some(v))
    })
}

fn text_line(out: &mut BytesMut, data: &[u8], delimiter: u8, null: &str) {
    for (i, f) in fields_of(data).enumerate() {
        if i > 0 {
            out.put_u8(delimiter);
        }
        match f {
            None => out.put_slice(null.as_bytes()),
            Some(v) => {
                for &b in v {
                    match b {
                        b'\\' => out.put_slice(b"\\\\"),
                        b'\n' => out.put_slice(b"\\n"),
                        b'\r' => out.put_slice(b"\\r"),
                        b'\t' => out.put_slice(b"\\t"),
                        b if b == delimiter => {
                            out.put_u8(b'\\');
                            out.put_u8(b);
                        }
                        b => out.put_u8(b),
                    }
                }
            }
        }
    }
    out.put_u8(b'\n');
}

fn csv_field(out: &mut BytesMut, v: &[u8], delimiter: u8, quote: u8, null: &str) {
    let needs = v.is_empty() && null.is_empty()
        || v == null.as_bytes()
        || v.iter()
            .any(|&b| b == delimiter || b == quote || b == b'\n' || b == b'\r');
    if needs {
        out.put_u8(quote);
        for &b in v {
            if b == quote {
                out.put_u8(quote);
            }
            out.put_u8(b);
        }
        out.put_u8(quote);
    } else {
        out.put_slice(v);
    }
}

fn csv_line(
    out: &mut BytesMut,
    fields: impl Iterator<Item = Option<Vec<u8>>>,
    delimiter: u8,
    quote: u8,
    null: &str,
) {
    for (i, f) in fields.enumerate() {
        if i > 0 {
            out.put_u8(delimiter);
        }
        match f {
            None => out.put_slice(null.as_bytes()),
            Some(v) => csv_field(out, &v, delimiter, quote, null),
        }
    }
    out.put_u8(b'\n');
}

impl<S> SessionLoop<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    pub(crate) async fn copy_out(
        &mut self,
        stmt: &Statement,
        format: CopyFormat,
    ) -> Result<(), Failure> {
        let plan = self.plan(stmt).await?;
        let binary = format == CopyFormat::Binary;
        let row_format = if binary {
            Format::UnifiedBinary
        } else {
            Format::UnifiedText
        };
        let mut src = self.start(plan, &row_format).await?;
        let columns = src.fields.len();
        let code = i16::from(binary);
        self.conn
            .feed(PgWireBackendMessage::CopyOutResponse(CopyOutResponse::new(
                code as i8,
                columns as i16,
                vec![code; columns],
            )))
            .await?;
        let mut buf = BytesMut::new();
        match &format {
            CopyFormat::Binary => {
                buf.put_slice(b"PGCOPY\n\xff\r\n\0");
                buf.put_i32(0); // flags
                buf.put_i32(0); // header extension length
            }
            CopyFormat::Csv {
                header: true,
                delimiter,
                quote,
                null,
            } => {
                let names = src
                    .fields
                    .iter()
                    .map(|f| Some(f.name().as_bytes().to_vec()));
                csv_line(&mut buf, names, *delimiter, *quote, null);
            }
            _ => {}
        }
        if !buf.is_empty() {
            self.conn
                .feed(PgWireBackendMessage::CopyData(CopyData::new(
                    buf.split().freeze(),
                )))
                .await?;
        }

        let token = self.slot.arm();
        let deadline = self
            .session
            .statement_timeout()
            .map(|d| tokio::time::Instant::now() + d);
        let mut rows = 0usize;
        let result: Result<(), Failure> = async {
            loop {
                let next = tokio::select! {
                    biased;
                    _ = token.cancelled() => return Err(UserError::cancelled().into()),
                    _ = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } =>
                        return Err(UserError::statement_timeout().into()),
                    b = src.stream.next() => b,
                };
                let batch = match next {
                    None => return Ok(()),
                    Some(Err(e)) => return Err(src.error(&e).into()),
                    Some(Ok(b)) => b,
                };
                for row in super::encode::encode_rows(src.fields.clone(), batch) {
                    let row = row.map_err(|e| UserError::internal("copy encoding", &e))?;
                    match &format {
                        CopyFormat::Binary => {
                            buf.put_i16(row.field_count);
                            buf.put_slice(&row.data);
                        }
                        CopyFormat::Text { delimiter, null } => text_line(&mut buf, &row.data, *delimiter, null),
                        CopyFormat::Csv { delimiter, quote, null, .. } => {
                            csv_line(&mut buf, fields_of(&row.data).map(|f| f.map(<[u8]>::to_vec)), *delimiter, *quote, null)
                        }
                    }
                    // One CopyData per row, as PostgreSQL sends them.
                    self.conn.feed(PgWireBackendMessage::CopyData(CopyData::new(buf.split().freeze()))).await?;
                    rows += 1;
                    self.audit_rows(1);
                }
            }
        }
        .await;
        self.slot.end();
        result?;
        if binary {
            buf.put_i16(-1);
            self.conn
                .feed(PgWireBackendMessage::CopyData(CopyData::new(
                    buf.split().freeze(),
                )))
                .await?;
        }
        self.conn
            .feed(PgWireBackendMessage::CopyDone(CopyDone::new()))
            .await?;
        self.complete(&format!("COPY {rows}")).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(fields: &[Option<&str>]) -> Vec<u8> {
        let mut b = Vec::new();
        for f in fields {
            match f {
                None => b.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(s) => {
                    b.extend_from_slice(&(s.len() as i32).to_be_bytes());
                    b.extend_from_slice(s.as_bytes());
                }
            }
        }
        b
    }

    #[test]
    fn text_escapes_like_postgres() {
        let mut out = BytesMut::new();
        text_line(
            &mut out,
            &row(&[Some("a\tb"), None, Some("x\\y\nz")]),
            b'\t',
            "\\N",
        );
        assert_eq!(&out[..], b"a\\tb\t\\N\tx\\\\y\\nz\n");
    }

    #[test]
    fn csv_quotes_when_needed() {
        let mut out = BytesMut::new();
        let r = row(&[
            Some("plain"),
            Some("with,comma"),
            Some("say \"hi\""),
            None,
            Some(""),
        ]);
        csv_line(
            &mut out,
            fields_of(&r).map(|f| f.map(<[u8]>::to_vec)),
            b',',
            b'"',
            "",
        );
        assert_eq!(&out[..], b"plain,\"with,comma\",\"say \"\"hi\"\"\",,\"\"\n");
    }
}
