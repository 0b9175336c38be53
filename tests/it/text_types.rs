//! Types the engine holds as text (varchar, bpchar, regtype) over the extended protocol with
//! binary results, as tokio-postgres reads them: the type announced, and the value in the
//! type's binary form.

use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::SimpleQueryMessage;

use crate::harness::TestServer;

/// A regtype value in binary: the type's OID.
#[derive(Debug, PartialEq)]
struct RegType(u32);

impl<'a> FromSql<'a> for RegType {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RegType(u32::from_be_bytes(raw.try_into()?)))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::REGTYPE
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn varchar_bpchar_and_regtype_columns_carry_their_types() {
    let s = TestServer::tpch().await;
    let c = s.admin().await;
    let rows = c
        .query(
            "SELECT 'abc'::varchar(2) AS v, CAST(o_orderdate AS varchar) AS d, \
             'abc'::char(5) AS b, pg_typeof(1) AS t \
             FROM sales.orders WHERE o_orderkey = 1",
            &[],
        )
        .await
        .expect("query");
    let row = &rows[0];
    let types: Vec<&Type> = row.columns().iter().map(|c| c.type_()).collect();
    assert_eq!(
        types,
        [
            &Type::VARCHAR,
            &Type::VARCHAR,
            &Type::BPCHAR,
            &Type::REGTYPE
        ]
    );
    assert_eq!(row.get::<_, String>("v"), "ab");
    assert_eq!(row.get::<_, String>("d"), "1996-01-02");
    // bpchar(5) is blank-padded on the wire, in binary as in text.
    assert_eq!(row.get::<_, String>("b"), "abc  ");
    assert_eq!(row.get::<_, RegType>("t"), RegType(23));

    // The type follows the column out of a subquery; a cast to text makes it text.
    let rows = c
        .query(
            "SELECT v, v::text AS t FROM (SELECT 'x'::varchar(3) AS v) s",
            &[],
        )
        .await
        .expect("query");
    assert_eq!(rows[0].columns()[0].type_(), &Type::VARCHAR);
    assert_eq!(rows[0].columns()[1].type_(), &Type::TEXT);

    // In text, regtype is the type's name and bpchar is padded.
    let messages = c
        .simple_query("SELECT pg_typeof(1), 'ab'::char(4)")
        .await
        .expect("simple query");
    let row = messages
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(r),
            _ => None,
        })
        .expect("a row");
    assert_eq!(row.get(0), Some("integer"));
    assert_eq!(row.get(1), Some("ab  "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn date_minus_date_is_integer() {
    let s = TestServer::tpch().await;
    let c = s.admin().await;
    let row = c
        .query_one("SELECT DATE '2024-03-01' - DATE '2024-02-01' AS d", &[])
        .await
        .expect("query");
    assert_eq!(row.columns()[0].type_(), &Type::INT4);
    assert_eq!(row.get::<_, i32>("d"), 29);
}
