//! DBeaver, Metabase's sync and Tableau, replayed: the statements of tests/corpus/dbeaver-24.2.3.sql,
//! metabase-sync.sql and tableau-postgres-odbc.sql must not only succeed (corpus.rs) but answer
//! what each tool reads from them: the mesh's schemas and tables, one table's columns and types.

use std::collections::HashMap;

use tokio_postgres::SimpleQueryMessage;

use crate::corpus::entries;
use crate::harness::{TestServer, ANALYST};

/// One result set: its column names and its rows as text cells.
struct Answer {
    columns: Vec<String>,
    rows: Vec<Vec<Option<String>>>,
}

impl Answer {
    fn col(&self, name: &str) -> usize {
        self.columns
            .iter()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("column {name} in {:?}", self.columns))
    }

    /// The column `name` of every row.
    fn values(&self, name: &str) -> Vec<Option<&str>> {
        let i = self.col(name);
        self.rows.iter().map(|r| r[i].as_deref()).collect()
    }
}

/// Runs a corpus file on one session; for each entry, its result sets in order.
async fn replay(file: &str) -> Vec<Vec<Answer>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(file);
    let corpus = entries(&std::fs::read_to_string(path).expect("corpus file"));
    let s = TestServer::tpch().await;
    let c = s.connect_as(ANALYST.0, ANALYST.1).await.unwrap();
    let mut out = vec![];
    for sql in &corpus {
        let msgs = c
            .simple_query(sql)
            .await
            .unwrap_or_else(|e| panic!("{e:?}\n{sql}"));
        let mut sets = vec![];
        let mut cur = Answer {
            columns: vec![],
            rows: vec![],
        };
        for m in msgs {
            match m {
                SimpleQueryMessage::RowDescription(cols) => {
                    cur.columns = cols.iter().map(|c| c.name().to_string()).collect()
                }
                SimpleQueryMessage::Row(r) => cur
                    .rows
                    .push((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect()),
                SimpleQueryMessage::CommandComplete(_) => sets.push(std::mem::replace(
                    &mut cur,
                    Answer {
                        columns: vec![],
                        rows: vec![],
                    },
                )),
                _ => {}
            }
        }
        out.push(sets);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dbeaver_sees_schemas_tables_and_typed_columns() {
    let a = replay("dbeaver-24.2.3.sql").await;

    // `db.oid,db.*`: the oid twice, both named oid, as PostgreSQL names them.
    let dbs = &a[0][0];
    assert_eq!(&dbs.columns[..2], ["oid", "oid"]);
    assert_eq!(dbs.values("datname"), [Some("mesh")]);
    assert_eq!(dbs.rows[0][0], dbs.rows[0][1]);

    // Data types, read once at connect.
    let types = &a[5][0];
    assert_eq!(&types.columns[..2], ["oid", "oid"]);
    let typ: HashMap<&str, &str> = types
        .values("typname")
        .into_iter()
        .zip(types.rows.iter().map(|r| r[0].as_deref().unwrap()))
        .map(|(n, o)| (n.unwrap(), o))
        .collect();
    for (name, oid) in [
        ("int4", "23"),
        ("int8", "20"),
        ("text", "25"),
        ("numeric", "1700"),
        ("date", "1082"),
    ] {
        assert_eq!(typ.get(name), Some(&oid), "type {name}");
    }

    // Schemas: the mesh's products, with their oids.
    let schemas = &a[7][0];
    assert_eq!(&schemas.columns[..2], ["oid", "oid"]);
    let names = schemas.values("nspname");
    for s in ["geo", "sales", "pg_catalog"] {
        assert!(names.contains(&Some(s)), "schema {s} in {names:?}");
    }
    let sales_oid = schemas.rows[names.iter().position(|n| *n == Some("sales")).unwrap()][0]
        .clone()
        .unwrap();
    assert_eq!(sales_oid, "1699207272", "the oid the corpus names sales by");

    // Tables of sales, with their comments.
    let tables = &a[11][0];
    assert_eq!(&tables.columns[..2], ["oid", "oid"]);
    let mut rel: Vec<_> = tables.values("relname").into_iter().flatten().collect();
    rel.sort();
    assert_eq!(rel, ["customer", "lineitem", "orders"]);
    assert!(tables.values("relkind").iter().all(|k| *k == Some("r")));
    let orders = tables
        .rows
        .iter()
        .find(|r| r[tables.col("relname")].as_deref() == Some("orders"))
        .unwrap();
    assert_eq!(orders[0].as_deref(), Some("1776090434"));
    assert_eq!(
        orders[tables.col("description")].as_deref(),
        Some("One row per customer order.")
    );

    // Columns of the whole schema and of sales.orders, with their types, in order.
    assert_eq!(
        a[13][0].rows.len(),
        8 + 9 + 16,
        "customer, orders, lineitem"
    );
    let cols = &a[14][0];
    let attnames: Vec<_> = cols.values("attname").into_iter().flatten().collect();
    assert_eq!(
        attnames,
        [
            "o_orderkey",
            "o_custkey",
            "o_orderstatus",
            "o_totalprice",
            "o_orderdate",
            "o_orderpriority",
            "o_clerk",
            "o_shippriority",
            "o_comment"
        ]
    );
    let attnum: Vec<_> = cols.values("attnum").into_iter().flatten().collect();
    assert_eq!(attnum, ["1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    let types: Vec<_> = cols.values("atttypid").into_iter().flatten().collect();
    assert_eq!(
        types,
        ["20", "20", "25", "1700", "1082", "25", "25", "23", "25"]
    );
    assert!(cols.values("relname").iter().all(|r| *r == Some("orders")));

    // No constraints, indexes or parents: empty answers, not errors.
    assert!(a[16][0].rows.is_empty() && a[17][0].rows.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metabase_syncs_tables_fields_and_privileges() {
    let a = replay("metabase-sync.sql").await;
    assert!(a[0][0].rows[0][0].is_some(), "a time zone");
    let schemas = a[1][0].values("table_schem");
    for s in ["geo", "sales"] {
        assert!(schemas.contains(&Some(s)), "{s} in {schemas:?}");
    }

    // Table privileges: SELECT on every table it syncs, nothing written.
    let privs = &a[2][0];
    let orders = privs
        .rows
        .iter()
        .find(|r| {
            r[privs.col("schema")].as_deref() == Some("sales")
                && r[privs.col("table")].as_deref() == Some("orders")
        })
        .expect("sales.orders has privileges");
    assert_eq!(orders[privs.col("select")].as_deref(), Some("t"));
    assert_eq!(orders[privs.col("insert")].as_deref(), Some("f"));

    // describe-database: the tables of the synced schemas, with pg_stat_user_tables' estimate.
    let tables = &a[3][0];
    let listed: Vec<(&str, &str, &str)> = tables
        .rows
        .iter()
        .map(|r| {
            (
                r[tables.col("schema")].as_deref().unwrap(),
                r[tables.col("name")].as_deref().unwrap(),
                r[tables.col("type")].as_deref().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("geo", "nation", "TABLE"),
            ("geo", "region", "TABLE"),
            ("sales", "customer", "TABLE"),
            ("sales", "lineitem", "TABLE"),
            ("sales", "orders", "TABLE"),
        ]
    );
    assert_eq!(
        tables.rows[4][tables.col("estimated_row_count")].as_deref(),
        Some("15000")
    );
    assert_eq!(
        tables.rows[4][tables.col("description")].as_deref(),
        Some("One row per customer order.")
    );

    // describe-fields of sales.orders: names, database types, positions, comments.
    let fields = &a[5][0];
    let got: Vec<(&str, &str, &str)> = fields
        .rows
        .iter()
        .map(|r| {
            (
                r[fields.col("name")].as_deref().unwrap(),
                r[fields.col("database-type")].as_deref().unwrap(),
                r[fields.col("database-position")].as_deref().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("o_orderkey", "int8", "0"),
            ("o_custkey", "int8", "1"),
            ("o_orderstatus", "text", "2"),
            ("o_totalprice", "numeric", "3"),
            ("o_orderdate", "date", "4"),
            ("o_orderpriority", "text", "5"),
            ("o_clerk", "text", "6"),
            ("o_shippriority", "int4", "7"),
            ("o_comment", "text", "8"),
        ]
    );
    assert!(fields.values("pk?").iter().all(|p| *p == Some("f")));
    assert_eq!(
        fields.rows[3][fields.col("field-comment")].as_deref(),
        Some("Total price in USD, including tax and discount.")
    );

    // describe-fks, for the schemas and for one table: no keys are declared.
    assert!(a[6][0].rows.is_empty() && a[7][0].rows.is_empty());
    assert_eq!(a[7][0].columns[0], "fk-table-schema");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tableau_lists_the_mesh_tables_and_their_columns() {
    let a = replay("tableau-postgres-odbc.sql").await;
    // Session setup: three statements, the last one answers the isolation level.
    assert_eq!(a[0].len(), 3);
    assert_eq!(a[0][2].rows[0][0].as_deref(), Some("read committed"));
    assert!(a[1][0].rows.is_empty(), "no large-object type");
    assert_eq!(a[2][0].rows[0][0].as_deref(), Some("63"));

    // The table list, fetched through a cursor: BEGIN, DECLARE, FETCH.
    assert_eq!(a[4].len(), 3);
    let list = &a[4][2];
    let tables: Vec<(&str, &str, &str)> = list
        .rows
        .iter()
        .map(|r| {
            (
                r[0].as_deref().unwrap(),
                r[1].as_deref().unwrap(),
                r[2].as_deref().unwrap(),
            )
        })
        .collect();
    for t in [
        ("nation", "geo", "r"),
        ("region", "geo", "r"),
        ("customer", "sales", "r"),
        ("lineitem", "sales", "r"),
        ("orders", "sales", "r"),
    ] {
        assert!(tables.contains(&t), "{t:?} in {tables:?}");
    }
    assert!(
        tables
            .windows(2)
            .all(|w| (w[0].1, w[0].0) <= (w[1].1, w[1].0)),
        "ordered by schema, table"
    );

    // SQLColumns for sales.orders: names and type names in order.
    let cols = &a[6][0];
    let got: Vec<(&str, &str)> = cols
        .rows
        .iter()
        .map(|r| (r[2].as_deref().unwrap(), r[4].as_deref().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            ("o_orderkey", "int8"),
            ("o_custkey", "int8"),
            ("o_orderstatus", "text"),
            ("o_totalprice", "numeric"),
            ("o_orderdate", "date"),
            ("o_orderpriority", "text"),
            ("o_clerk", "text"),
            ("o_shippriority", "int4"),
            ("o_comment", "text"),
        ]
    );

    // SQLPrimaryKeys (`i.indisprimary = 't'`): none declared.
    assert!(a[7][0].rows.is_empty());
    assert_eq!(a[7][0].columns[0], "attname");

    // WHERE FALSE metadata: no rows; then the first aggregate: one row per order status.
    assert!(a[8][2].rows.is_empty());
    let mut statuses: Vec<_> = a[10][2]
        .values("o_orderstatus")
        .into_iter()
        .flatten()
        .collect();
    statuses.sort();
    assert_eq!(statuses, ["F", "O", "P"]);
    assert_eq!(a[10][2].columns[1], "sum:o_totalprice:ok");
}
