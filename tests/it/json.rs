//! json and jsonb over the extended protocol with binary results, as tokio-postgres reads
//! them: the column types announced, jsonb's binary form (a version byte, then the text),
//! and JSON values bound as parameters.

use serde_json::json;
use tokio_postgres::types::{Json, Type};

use crate::harness::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jsonb_results_decode_in_binary_with_their_type() {
    let s = TestServer::tpch().await;
    let c = s.admin().await;
    let rows = c
        .query(
            r#"SELECT '{"b":1,"a":[1,2]}'::jsonb AS j, '{"a": 1.50}'::json AS t"#,
            &[],
        )
        .await
        .expect("query");
    let row = &rows[0];
    assert_eq!(row.columns()[0].type_(), &Type::JSONB);
    assert_eq!(row.columns()[1].type_(), &Type::JSON);
    let j: serde_json::Value = row.get("j");
    assert_eq!(j, json!({"a": [1, 2], "b": 1}));
    let t: serde_json::Value = row.get("t");
    assert_eq!(t, json!({"a": 1.50}));
    // The operators answer in their own types: -> jsonb, ->> text.
    let rows = c
        .query(
            r#"SELECT j -> 'a' AS a, j ->> 'b' AS b FROM (SELECT '{"a":[1,2],"b":"x"}'::jsonb AS j) s"#,
            &[],
        )
        .await
        .expect("query");
    assert_eq!(rows[0].columns()[0].type_(), &Type::JSONB);
    assert_eq!(rows[0].get::<_, serde_json::Value>("a"), json!([1, 2]));
    assert_eq!(rows[0].get::<_, String>("b"), "x");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_parameters_are_read_as_their_text() {
    let s = TestServer::tpch().await;
    let c = s.admin().await;
    let value = json!({"n": 42, "tags": ["a", "b"]});
    let stmt = c
        .prepare("SELECT $1::jsonb ->> 'n' AS n, jsonb_array_length($1::jsonb -> 'tags') AS k")
        .await
        .expect("prepare");
    assert_eq!(stmt.params(), &[Type::JSONB]);
    let row = c.query_one(&stmt, &[&Json(&value)]).await.expect("query");
    assert_eq!(row.get::<_, String>("n"), "42");
    assert_eq!(row.get::<_, i32>("k"), 2);
    // A json parameter (binary json is the text itself).
    let stmt = c
        .prepare("SELECT json_typeof($1::json -> 'tags') AS t")
        .await
        .expect("prepare");
    assert_eq!(stmt.params(), &[Type::JSON]);
    let row = c.query_one(&stmt, &[&Json(&value)]).await.expect("query");
    assert_eq!(row.get::<_, String>("t"), "array");
}
