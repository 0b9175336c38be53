//! Npgsql and Power BI, replayed: the statements of tests/corpus/npgsql-8.0.sql (the driver's
//! type loading, its GetSchema collections, Power BI's navigator and relationship queries) must
//! not only succeed (corpus.rs) but answer what the driver needs to go on.

use std::collections::HashMap;

use tokio_postgres::SimpleQueryMessage;

use crate::corpus::entries;
use crate::harness::{TestServer, ANALYST};

/// The result sets of one simple-query message, each as rows of text cells.
fn result_sets(msgs: Vec<SimpleQueryMessage>) -> Vec<Vec<Vec<Option<String>>>> {
    let mut sets = vec![];
    let mut cur = vec![];
    for m in msgs {
        match m {
            SimpleQueryMessage::Row(r) => {
                cur.push((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
            }
            SimpleQueryMessage::CommandComplete(_) => sets.push(std::mem::take(&mut cur)),
            _ => {}
        }
    }
    sets
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npgsql_and_power_bi_get_usable_answers() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/npgsql-8.0.sql");
    let corpus = entries(&std::fs::read_to_string(path).expect("corpus file"));
    let s = TestServer::tpch().await;
    let c = s.connect_as(ANALYST.0, ANALYST.1).await.unwrap();
    let mut answers = vec![];
    for sql in &corpus {
        answers.push(result_sets(
            c.simple_query(sql)
                .await
                .unwrap_or_else(|e| panic!("{e:?}\n{sql}")),
        ));
    }

    // The type-loading batch: version, types, composite fields, enum labels.
    let batch = &answers[1];
    assert_eq!(batch.len(), 4, "four result sets in one batch");
    assert!(
        batch[0][0][0]
            .as_deref()
            .unwrap()
            .starts_with("PostgreSQL 16"),
        "{:?}",
        batch[0]
    );
    let types = &batch[1];
    let by_name: HashMap<&str, &Vec<Option<String>>> = types
        .iter()
        .map(|r| (r[2].as_deref().unwrap(), r))
        .collect();
    for (name, oid, typtype) in [
        ("int4", "23", "b"),
        ("int8", "20", "b"),
        ("text", "25", "b"),
        ("numeric", "1700", "b"),
        ("date", "1082", "b"),
        ("timestamptz", "1184", "b"),
        ("bool", "16", "b"),
        ("_int4", "1007", "a"),
        ("_text", "1009", "a"),
    ] {
        let row = by_name
            .get(name)
            .unwrap_or_else(|| panic!("type {name} loaded"));
        assert_eq!(
            (row[0].as_deref(), row[1].as_deref(), row[3].as_deref()),
            (Some("pg_catalog"), Some(oid), Some(typtype)),
            "{name}"
        );
    }
    assert_eq!(
        by_name["_int4"][5].as_deref(),
        Some("23"),
        "an array names its element type"
    );
    // Npgsql resolves an array's element from the types already read: elements come first.
    let position: HashMap<&str, usize> = types
        .iter()
        .enumerate()
        .map(|(i, r)| (r[1].as_deref().unwrap(), i))
        .collect();
    for (i, r) in types
        .iter()
        .enumerate()
        .filter(|(_, r)| r[3].as_deref() == Some("a"))
    {
        let elem = r[5].as_deref().expect("arrays have an element");
        assert!(
            position.get(elem).is_some_and(|p| *p < i),
            "element {elem} of {:?} listed before it",
            r[2]
        );
    }
    let mut oids: Vec<&str> = types.iter().map(|r| r[1].as_deref().unwrap()).collect();
    oids.sort();
    oids.dedup();
    assert_eq!(oids.len(), types.len(), "each type once");
    assert!(
        batch[2].is_empty() && batch[3].is_empty(),
        "no composite types, no enums"
    );

    // GetSchema("Databases") and ("Users").
    assert_eq!(answers[2][0][0][0].as_deref(), Some("mesh"));
    assert!(answers[3][0].iter().any(|r| r[0].as_deref() == Some("bob")));
    // GetSchema("Tables") restricted to sales.
    let mut tables: Vec<&str> = answers[4][0]
        .iter()
        .map(|r| r[2].as_deref().unwrap())
        .collect();
    tables.sort();
    assert_eq!(tables, ["customer", "lineitem", "orders"]);
    // GetSchema("Columns"): udt names and numeric precision.
    let cols: HashMap<&str, &Vec<Option<String>>> = answers[5][0]
        .iter()
        .map(|r| (r[3].as_deref().unwrap(), r))
        .collect();
    assert_eq!(cols["o_totalprice"][7].as_deref(), Some("numeric"));
    assert_eq!(
        (
            cols["o_totalprice"][10].as_deref(),
            cols["o_totalprice"][12].as_deref()
        ),
        (Some("15"), Some("2"))
    );
    assert_eq!(cols["o_orderkey"][7].as_deref(), Some("int8"));
    // Power BI's navigator: every product's tables, in order, as base tables.
    let nav = &answers[6][0];
    assert!(nav.iter().any(|r| r[0].as_deref() == Some("supply")
        && r[1].as_deref() == Some("partsupp")
        && r[2].as_deref() == Some("BASE TABLE")));
    assert!(
        nav.windows(2)
            .all(|w| (w[0][0].clone(), w[0][1].clone()) <= (w[1][0].clone(), w[1][1].clone())),
        "ordered"
    );
    let positions: Vec<i32> = answers[7][0]
        .iter()
        .map(|r| r[1].as_deref().unwrap().parse().unwrap())
        .collect();
    assert_eq!(positions, (1..=positions.len() as i32).collect::<Vec<_>>());
    // Relationship detection: no keys are declared, so nothing (and no error).
    assert!(answers[8][0].is_empty() && answers[9][0].is_empty());
    assert_eq!(answers[10][0].len(), 1000, "the preview reads rows");
}
