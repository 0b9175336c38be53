//! All 22 TPC-H queries through meshgate (Delta, Iceberg and hive-partitioned Parquet domains)
//! compared with the same queries run by DataFusion in-process on plain Parquet copies of the
//! same data. Rows are compared as PostgreSQL text, order-insensitively.

use std::sync::Arc;

use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, MemorySchemaProvider};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use pgwire::api::portal::Format;
use tokio_postgres::SimpleQueryMessage;

use crate::harness::{tpch, TestServer};

/// (product, table) for every TPC-H table, as the demo generator lays them out.
fn tables() -> impl Iterator<Item = (&'static str, &'static str)> {
    meshgate_demo::DOMAINS
        .iter()
        .flat_map(|d| d.tables.iter().map(move |t| (d.name, t.name())))
}

pub async fn baseline_context(baseline: &std::path::Path) -> SessionContext {
    let ctx = SessionContext::new_with_config(meshgate::exec::session_config("mesh", 8192));
    let catalog = Arc::new(MemoryCatalogProvider::new());
    for schema in ["sales", "supply", "geo", "public"] {
        catalog
            .register_schema(schema, Arc::new(MemorySchemaProvider::new()))
            .unwrap();
    }
    ctx.register_catalog("mesh", catalog);
    for (schema, table) in tables() {
        let dir = baseline.join(table);
        ctx.register_parquet(
            format!("{schema}.{table}"),
            dir.to_str().unwrap(),
            ParquetReadOptions::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("baseline {table}: {e}"));
    }
    ctx
}

/// Rows as PostgreSQL text, through the same encoder the server uses for the wire.
async fn local_rows(ctx: &SessionContext, sql: &str) -> Vec<Vec<Option<String>>> {
    let df = ctx
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("baseline plan: {e}\n{sql}"));
    let schema = df.schema().as_arrow().clone();
    let batches = df
        .collect()
        .await
        .unwrap_or_else(|e| panic!("baseline run: {e}\n{sql}"));
    let fields = Arc::new(
        arrow_pg::datatypes::arrow_schema_to_pg_fields(&schema, &Format::UnifiedText, None)
            .unwrap(),
    );
    let mut out = Vec::new();
    for b in batches {
        for row in arrow_pg::datatypes::encode_recordbatch(fields.clone(), b) {
            let row = row.unwrap();
            let data = &row.data[..];
            let mut pos = 0;
            let mut vals = Vec::new();
            while pos < data.len() {
                let len = i32::from_be_bytes(data[pos..pos + 4].try_into().unwrap());
                pos += 4;
                if len < 0 {
                    vals.push(None);
                } else {
                    vals.push(Some(
                        String::from_utf8(data[pos..pos + len as usize].to_vec()).unwrap(),
                    ));
                    pos += len as usize;
                }
            }
            out.push(vals);
        }
    }
    out
}

fn server_rows(msgs: &[SimpleQueryMessage]) -> Vec<Vec<Option<String>>> {
    msgs.iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect()
}

pub fn query_text(n: usize) -> String {
    let path = format!("{}/tests/tpch/queries/q{n}.sql", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_22_tpch_queries_match_in_process_datafusion() {
    let fx = tpch();
    let s = TestServer::tpch().await;
    let c = s.admin().await;
    // The same queries with unqualified names, found through the search path.
    let unqualified = s.admin().await;
    unqualified
        .batch_execute("SET search_path = sales, supply, geo")
        .await
        .expect("search_path");
    let ctx = baseline_context(&fx.baseline_dir).await;
    let mut non_empty = 0;
    for n in 1..=22 {
        let sql = query_text(n);
        let mut want = local_rows(&ctx, &sql).await;
        let msgs = c
            .simple_query(&sql)
            .await
            .unwrap_or_else(|e| panic!("q{n} through meshgate: {e:?}"));
        let mut got = server_rows(&msgs);
        assert_eq!(got.len(), want.len(), "q{n}: row count");
        got.sort();
        want.sort();
        assert_eq!(got, want, "q{n}: rows differ");
        let bare = sql
            .replace("sales.", "")
            .replace("supply.", "")
            .replace("geo.", "");
        assert_ne!(bare, sql, "q{n} names its tables with their products");
        let msgs = unqualified
            .simple_query(&bare)
            .await
            .unwrap_or_else(|e| panic!("q{n} with unqualified names: {e:?}"));
        let mut got = server_rows(&msgs);
        got.sort();
        assert_eq!(got, want, "q{n}: rows differ with unqualified names");
        if !got.is_empty() {
            non_empty += 1;
        }
    }
    // At SF 0.01 a few queries legitimately return nothing; most must return rows, or the
    // comparison proves little.
    assert!(
        non_empty >= 18,
        "only {non_empty} of 22 queries returned rows"
    );
}
