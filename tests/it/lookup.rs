//! Point lookups by key, the small queries a serving product answers, and the files the demo
//! generator writes for them (one page per column read, no dictionary in front of distinct
//! values): meshgate's answers over every format equal PostgreSQL's on the same rows, and
//! DuckDB reads every writer's files (the baseline Parquet, Delta's and Iceberg's) with the same
//! contents PostgreSQL holds.

use std::path::{Path, PathBuf};

use meshgate_demo::{TableFormat, TpchTable};

use crate::differential::{rows_of, Rows};
use crate::harness::{tpch, tpch_copy, TestServer, ANALYST};
use crate::reference::reference;

/// Domain files that publish the fixture's baseline Parquet copies as the same products.
fn baseline_domains(dir: &Path) -> PathBuf {
    let baseline = &tpch().baseline_dir;
    for domain in &meshgate_demo::DOMAINS {
        let mut text = format!(
            "name = \"{0}\"\n[storage]\nroot = \"{1}\"\n[[products]]\nname = \"{0}\"\n",
            domain.name,
            baseline.display()
        );
        for t in domain.tables {
            text += &format!(
                "[[products.tables]]\nname = \"{0}\"\nformat = \"parquet\"\nlocation = \"{0}\"\n",
                t.name()
            );
        }
        std::fs::write(dir.join(format!("{}.toml", domain.name)), text).expect("domain file");
    }
    dir.to_path_buf()
}

async fn rows(c: &tokio_postgres::Client, sql: &str) -> Rows {
    let msgs = c
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows_of(&msgs).1
}

/// Keys at the edges of the pages the generator writes (4,096 rows each) and past the ends,
/// taken from PostgreSQL so that none is made up.
async fn keys(pg: &tokio_postgres::Client, table: &str, key: &str) -> Vec<String> {
    let mut keys = Vec::new();
    for offset in [0, 4095, 4096, 8191, 8192, 14_999] {
        let sql = format!("SELECT {key} FROM {table} ORDER BY {key} OFFSET {offset} LIMIT 1");
        if let Some(row) = rows(pg, &sql).await.into_iter().next() {
            keys.push(row[0].clone().expect("a key is never NULL"));
        }
    }
    let edges = rows(
        pg,
        &format!("SELECT min({key}) - 1, max({key}) + 1 FROM {table}"),
    )
    .await;
    keys.extend(edges[0].iter().map(|k| k.clone().expect("non-empty table")));
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn point_lookups_equal_postgres_over_every_format() {
    let pg = reference().connect().await;
    let lookups = [
        ("sales.customer", "c_custkey", "c_custkey"),
        ("sales.orders", "o_orderkey", "o_orderkey"),
        ("sales.lineitem", "l_orderkey", "l_orderkey, l_linenumber"),
        ("supply.part", "p_partkey", "p_partkey"),
        ("supply.partsupp", "ps_partkey", "ps_partkey, ps_suppkey"),
    ];
    let mut statements = Vec::new();
    for (table, key, order) in lookups {
        for k in keys(&pg, table, key).await {
            statements.push(format!(
                "SELECT * FROM {table} WHERE {key} = {k} ORDER BY {order}"
            ));
        }
    }
    let parquet = tempfile::tempdir().expect("tempdir");
    let meshes = [
        ("mixed mesh", tpch().domains_dir.clone()),
        ("Parquet", baseline_domains(parquet.path())),
        ("Delta", tpch_copy(TableFormat::Delta)),
        ("Iceberg", tpch_copy(TableFormat::Iceberg)),
    ];
    let mut found = 0;
    for (name, domains) in meshes {
        let server = TestServer::start_with(&domains, "").await;
        let gate = server.admin().await;
        for sql in &statements {
            let want = rows(&pg, sql).await;
            let got = rows(&gate, sql).await;
            assert_eq!(got, want, "{name}: {sql}");
            found += want.len();
        }
    }
    assert!(
        found > statements.len(),
        "most lookups find rows ({found} rows for {} lookups × 4 meshes)",
        statements.len()
    );
}

/// The interpreter with the `duckdb` package (bench/requirements.txt); `DUCKDB_PYTHON`
/// overrides /opt/meshgate-bench/bin/python.
fn duckdb_python() -> String {
    let python = std::env::var("DUCKDB_PYTHON")
        .unwrap_or_else(|_| "/opt/meshgate-bench/bin/python".to_string());
    assert!(
        Path::new(&python).exists(),
        "{python} missing: python3 -m venv /opt/meshgate-bench && \
         /opt/meshgate-bench/bin/pip install -r bench/requirements.txt (.ci/run does)"
    );
    python
}

/// Runs each query in DuckDB; one text value per query.
fn duckdb(queries: &[String]) -> Vec<String> {
    const SCRIPT: &str = "import duckdb, json, sys\n\
        c = duckdb.connect()\n\
        print(json.dumps([str(c.execute(q).fetchall()[0][0]) for q in json.load(sys.stdin)]))";
    let mut child = std::process::Command::new(duckdb_python())
        .args(["-c", SCRIPT])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python runs");
    serde_json::to_writer(child.stdin.take().expect("stdin"), queries).expect("send queries");
    let out = child.wait_with_output().expect("python ends");
    assert!(
        out.status.success(),
        "duckdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON list")
}

/// One digest of a table's whole contents, in a dialect DuckDB and PostgreSQL share: every row
/// as text, in key order.
fn digest(table: TpchTable, from: &str) -> String {
    let columns: Vec<&str> = table.columns().iter().map(|c| c.name).collect();
    let row = columns
        .iter()
        .map(|c| format!("CAST({c} AS VARCHAR)"))
        .collect::<Vec<_>>()
        .join(", ");
    let order = match table {
        TpchTable::LineItem => "l_orderkey, l_linenumber",
        TpchTable::PartSupp => "ps_partkey, ps_suppkey",
        _ => columns[0],
    };
    format!(
        "SELECT CAST(count(*) AS VARCHAR) || ' ' || md5(string_agg(concat_ws('|', {row}), ';' ORDER BY {order})) FROM {from}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_files_read_by_duckdb_as_postgres_holds_them() {
    let fx = tpch();
    let copies = [
        tpch_copy(TableFormat::Delta),
        tpch_copy(TableFormat::Iceberg),
    ];
    let pg = reference().connect().await;
    let mut want = Vec::new();
    let mut queries = Vec::new();
    let mut named = Vec::new();
    for domain in &meshgate_demo::DOMAINS {
        for table in domain.tables {
            let t = table.name();
            let pg_digest = digest(*table, &format!("{}.{t}", domain.name));
            let expected = rows(&pg, &pg_digest).await[0][0].clone().expect("digest");
            // The baseline, and each table's Delta and Iceberg copies (their data files only:
            // each copy is one commit, so every file there is live).
            let mut globs = vec![fx.baseline_dir.join(t).join("*.parquet")];
            for domains in &copies {
                let data = domains.parent().expect("copy root").join("data");
                globs.push(data.join(t).join("*.parquet"));
                globs.push(data.join("warehouse/supply").join(t).join("data/*.parquet"));
            }
            for glob in globs {
                let dir = glob.parent().expect("a directory");
                if !dir.is_dir() {
                    continue;
                }
                queries.push(digest(
                    *table,
                    &format!("read_parquet('{}')", glob.display()),
                ));
                named.push(glob.display().to_string());
                want.push(expected.clone());
            }
        }
    }
    // 8 tables: the baseline, and one copy in Delta and one in Iceberg.
    assert_eq!(queries.len(), 24, "files of every writer: {named:?}");
    let got = duckdb(&queries);
    for ((file, got), want) in named.iter().zip(&got).zip(&want) {
        assert_eq!(got, want, "DuckDB over {file} vs PostgreSQL");
    }
}

/// Tables created through meshgate (Delta) are written for lookups too: pages of at most 4,096
/// rows with a page index, no dictionary past 64 KiB; lookups on one equal PostgreSQL's, and
/// DuckDB reads its files as PostgreSQL holds the rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_meshgate_writes_are_laid_out_for_lookups() {
    use datafusion::parquet::file::metadata::{PageIndexPolicy, ParquetMetaDataReader};

    let (dir, root) = crate::writes::writable_mesh_with("");
    let s = crate::writes::start(dir.path()).await;
    let bob = s.connect_as(ANALYST.0, ANALYST.1).await.expect("connect");
    bob.batch_execute("CREATE TABLE analytics.lines AS SELECT * FROM sales.lineitem")
        .await
        .expect("create table");
    let pg = reference().connect().await;

    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("table directory") {
            let p = e.expect("entry").path();
            if p.is_dir() && !p.ends_with("_delta_log") {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                files.push(p);
            }
        }
    }
    assert!(!files.is_empty(), "no data files under {}", root.display());
    let mut pages = 0;
    for file in &files {
        let meta = ParquetMetaDataReader::new()
            .with_page_index_policy(PageIndexPolicy::Required)
            .parse_and_finish(&std::fs::File::open(file).expect("open"))
            .expect("footer and page index");
        let offsets = meta.offset_index().expect("offset index");
        for (g, group) in meta.row_groups().iter().enumerate() {
            for (c, chunk) in group.columns().iter().enumerate() {
                let locations = offsets[g][c].page_locations();
                for (i, page) in locations.iter().enumerate() {
                    let end = locations
                        .get(i + 1)
                        .map_or(group.num_rows(), |p| p.first_row_index);
                    assert!(end - page.first_row_index <= 4096, "{}", file.display());
                    pages += 1;
                }
                if let Some(dict) = chunk.dictionary_page_offset() {
                    let bytes = chunk.data_page_offset() - dict;
                    assert!(
                        bytes <= 80 * 1024,
                        "{}: a dictionary of {bytes} bytes",
                        chunk.column_descr().name()
                    );
                }
            }
        }
    }
    // 60,175 rows: more than one page per column.
    assert!(pages > 16 * files.len(), "{pages} pages");

    for k in keys(&pg, "sales.lineitem", "l_orderkey").await {
        let want = rows(
            &pg,
            &format!("SELECT * FROM sales.lineitem WHERE l_orderkey = {k} ORDER BY l_linenumber"),
        )
        .await;
        let got = rows(
            &bob,
            &format!("SELECT * FROM analytics.lines WHERE l_orderkey = {k} ORDER BY l_linenumber"),
        )
        .await;
        assert_eq!(got, want, "l_orderkey = {k}");
    }

    let want = rows(&pg, &digest(TpchTable::LineItem, "sales.lineitem")).await[0][0]
        .clone()
        .expect("digest");
    let glob = files[0]
        .parent()
        .expect("table directory")
        .join("*.parquet");
    let got = duckdb(&[digest(
        TpchTable::LineItem,
        &format!("read_parquet('{}')", glob.display()),
    )]);
    assert_eq!(got, [want], "DuckDB over the files meshgate wrote");
}
