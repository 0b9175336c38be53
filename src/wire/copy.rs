//! `COPY (query) TO STDOUT` in text, CSV and binary: how each row is framed in CopyData.
//!
//! Values are first encoded exactly as a DataRow would carry them (text or binary PostgreSQL
//! encodings), then framed the COPY way: text and CSV escape and join the text forms, binary
//! prefixes each row's fields with their count, which is precisely PostgreSQL's binary tuple.

use bytes::{BufMut, BytesMut};
use pgwire::api::results::FieldInfo;
use pgwire::messages::data::DataRow;

use crate::session::CopyFormat;

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
    // Most values need no escape: copy runs between special bytes whole, not byte by byte.
    out.reserve(data.len() + 8);
    let special = |b: &u8| matches!(*b, b'\\' | b'\n' | b'\r' | b'\t') || *b == delimiter;
    let escaped_delimiter = [b'\\', delimiter];
    for (i, f) in fields_of(data).enumerate() {
        if i > 0 {
            out.put_u8(delimiter);
        }
        let Some(mut v) = f else {
            out.put_slice(null.as_bytes());
            continue;
        };
        while let Some(at) = v.iter().position(special) {
            out.put_slice(&v[..at]);
            out.put_slice(match v[at] {
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                _ => &escaped_delimiter,
            });
            v = &v[at + 1..];
        }
        out.put_slice(v);
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

/// How `COPY … TO STDOUT` frames each row of a format.
pub(super) struct Framing<'a>(&'a CopyFormat);

impl<'a> Framing<'a> {
    pub fn new(format: &'a CopyFormat) -> Self {
        Framing(format)
    }

    /// What comes before the first row: the binary signature, or a CSV header line.
    pub fn header(&self, out: &mut BytesMut, fields: &[FieldInfo]) {
        match self.0 {
            CopyFormat::Binary => {
                out.put_slice(b"PGCOPY\n\xff\r\n\0");
                out.put_i32(0); // flags
                out.put_i32(0); // header extension length
            }
            CopyFormat::Csv {
                header: true,
                delimiter,
                quote,
                null,
            } => {
                let names = fields.iter().map(|f| Some(f.name().as_bytes().to_vec()));
                csv_line(out, names, *delimiter, *quote, null);
            }
            _ => {}
        }
    }

    /// One row, from its DataRow encoding.
    pub fn row(&self, out: &mut BytesMut, row: &DataRow) {
        match self.0 {
            CopyFormat::Binary => {
                out.put_i16(row.field_count);
                out.put_slice(&row.data);
            }
            CopyFormat::Text { delimiter, null } => text_line(out, &row.data, *delimiter, null),
            CopyFormat::Csv {
                delimiter,
                quote,
                null,
                ..
            } => csv_line(
                out,
                fields_of(&row.data).map(|f| f.map(<[u8]>::to_vec)),
                *delimiter,
                *quote,
                null,
            ),
        }
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
