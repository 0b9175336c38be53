//! pg_catalog and information_schema describe the mesh from its metadata, with the domain
//! files' descriptions, through tokio-postgres and psql.

use std::path::Path;

use crate::harness::{tpch, TestServer, ADMIN};

/// The sales domain file the fixture wrote: the descriptions every catalog must show.
fn sales_domain() -> toml::Value {
    let text = std::fs::read_to_string(tpch().domains_dir.join("sales.toml"))
        .expect("fixture wrote sales.toml");
    toml::from_str(&text).expect("sales.toml is TOML")
}

fn product_description(d: &toml::Value) -> String {
    d["products"][0]["description"]
        .as_str()
        .expect("product description")
        .to_string()
}

fn orders(d: &toml::Value) -> &toml::Value {
    d["products"][0]["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .find(|t| t["name"].as_str() == Some("orders"))
        .expect("orders table")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_tables_describe_the_mesh() {
    let s = TestServer::tpch().await;
    let c = s.admin().await;
    let domain = sales_domain();
    let table_desc = orders(&domain)["description"]
        .as_str()
        .expect("orders description")
        .to_string();
    let price_desc = orders(&domain)["columns"]["o_totalprice"]
        .as_str()
        .expect("o_totalprice description")
        .to_string();

    let names: Vec<String> = c
        .query(
            "SELECT nspname FROM pg_catalog.pg_namespace ORDER BY 1",
            &[],
        )
        .await
        .expect("pg_namespace")
        .iter()
        .map(|r| r.get(0))
        .collect();
    for n in [
        "geo",
        "information_schema",
        "pg_catalog",
        "public",
        "sales",
        "supply",
    ] {
        assert!(names.contains(&n.to_string()), "{n} missing from {names:?}");
    }

    let rows = c
        .query(
            "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'sales' ORDER BY 1",
            &[],
        )
        .await
        .expect("pg_class");
    let rels: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        rels,
        vec![
            ("customer".into(), "r".into()),
            ("lineitem".into(), "r".into()),
            ("orders".into(), "r".into())
        ]
    );

    // Column types and typmods as PostgreSQL encodes them: numeric(15,2) is ((15 << 16) | 2) + 4.
    let rows = c
        .query(
            "SELECT attname, atttypid, atttypmod, format_type(atttypid, atttypmod) FROM pg_attribute \
             WHERE attrelid = 'sales.orders'::regclass AND attnum > 0 ORDER BY attnum",
            &[],
        )
        .await
        .expect("pg_attribute");
    let cols: Vec<(String, i32, i32, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(cols[0], ("o_orderkey".into(), 20, -1, "bigint".into()));
    assert_eq!(
        cols[3],
        ("o_totalprice".into(), 1700, 983_046, "numeric(15,2)".into())
    );
    assert_eq!(cols[4], ("o_orderdate".into(), 1082, -1, "date".into()));

    // Descriptions: pg_description, obj_description and col_description agree with the file.
    let r = c
        .query_one(
            "SELECT obj_description('sales.orders'::regclass, 'pg_class'), obj_description('sales.orders'::regclass), \
             col_description('sales.orders'::regclass, 4), \
             obj_description((SELECT oid FROM pg_namespace WHERE nspname = 'sales'), 'pg_namespace')",
            &[],
        )
        .await
        .expect("description functions");
    assert_eq!(
        r.get::<_, Option<String>>(0).as_deref(),
        Some(table_desc.as_str())
    );
    assert_eq!(
        r.get::<_, Option<String>>(1).as_deref(),
        Some(table_desc.as_str())
    );
    assert_eq!(
        r.get::<_, Option<String>>(2).as_deref(),
        Some(price_desc.as_str())
    );
    assert_eq!(
        r.get::<_, Option<String>>(3),
        Some(product_description(&domain))
    );
    let rows = c
        .query(
            "SELECT d.objsubid, d.description FROM pg_description d JOIN pg_class c ON c.oid = d.objoid \
             WHERE c.relname = 'orders' AND d.classoid = 'pg_class'::regclass ORDER BY 1",
            &[],
        )
        .await
        .expect("pg_description");
    let descs: Vec<(i32, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert!(descs.contains(&(0, table_desc.clone())), "{descs:?}");
    assert!(descs.contains(&(4, price_desc.clone())), "{descs:?}");

    // Session functions answer for this session, not constants.
    let r = c
        .query_one(
            "SELECT current_database(), current_catalog, current_schema(), current_user, \
             has_table_privilege('sales.orders', 'SELECT'), has_table_privilege('sales.orders', 'INSERT'), \
             has_schema_privilege('sales', 'USAGE'), pg_get_userbyid((SELECT relowner FROM pg_class WHERE relname = 'orders'))",
            &[],
        )
        .await
        .expect("session functions");
    assert_eq!(r.get::<_, String>(0), "mesh");
    assert_eq!(r.get::<_, String>(1), "mesh");
    assert_eq!(r.get::<_, String>(2), "public");
    assert_eq!(r.get::<_, String>(3), ADMIN.0);
    assert!(r.get::<_, bool>(4));
    assert!(!r.get::<_, bool>(5));
    assert!(r.get::<_, bool>(6));
    assert_eq!(
        r.get::<_, String>(7),
        domain["products"][0]["owner"].as_str().expect("owner")
    );
    c.batch_execute("SET search_path = sales")
        .await
        .expect("set search_path");
    let r = c
        .query_one("SELECT current_schema(), pg_table_is_visible('orders'::regclass), current_schemas(true)", &[])
        .await
        .expect("search path functions");
    assert_eq!(r.get::<_, String>(0), "sales");
    assert!(r.get::<_, bool>(1));
    assert_eq!(
        r.get::<_, Vec<String>>(2),
        vec!["pg_catalog".to_string(), "sales".to_string()]
    );

    // A name that does not exist is PostgreSQL's 42P01.
    let e = c
        .query("SELECT 'sales.nope'::regclass", &[])
        .await
        .expect_err("unknown relation");
    assert_eq!(crate::harness::code(&e), "42P01");

    // information_schema from the same metadata.
    let r = c
        .query_one(
            "SELECT data_type, numeric_precision, numeric_scale, is_nullable FROM information_schema.columns \
             WHERE table_schema = 'sales' AND table_name = 'orders' AND column_name = 'o_totalprice'",
            &[],
        )
        .await
        .expect("information_schema.columns");
    assert_eq!(r.get::<_, String>(0), "numeric");
    assert_eq!(r.get::<_, Option<i32>>(1), Some(15));
    assert_eq!(r.get::<_, Option<i32>>(2), Some(2));
    assert_eq!(r.get::<_, String>(3), "NO");
    let n: i64 = c
        .query_one("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'sales' AND table_type = 'BASE TABLE'", &[])
        .await
        .expect("information_schema.tables")
        .get(0);
    assert_eq!(n, 3);
}

async fn psql(s: &TestServer, cmd: &str) -> String {
    let out = tokio::process::Command::new("psql")
        .args([
            "-X",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
            &s.addr.port().to_string(),
            "-U",
            ADMIN.0,
            "-d",
            "mesh",
            "-c",
            cmd,
        ])
        .env("PGPASSWORD", ADMIN.1)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .await
        .expect("psql is installed (.ci/run installs postgresql-client)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "psql {cmd}: {stderr}");
    assert!(stderr.is_empty(), "psql {cmd} printed errors: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_backslash_commands_show_descriptions_and_types() {
    let s = TestServer::tpch().await;
    let domain = sales_domain();
    let table_desc = orders(&domain)["description"]
        .as_str()
        .expect("orders description")
        .to_string();
    let price_desc = orders(&domain)["columns"]["o_totalprice"]
        .as_str()
        .expect("o_totalprice description")
        .to_string();

    let out = psql(&s, "\\dn+").await;
    let sales = out
        .lines()
        .find(|l| l.trim_start().starts_with("sales "))
        .unwrap_or_else(|| panic!("no sales schema in {out}"));
    assert!(sales.contains(&product_description(&domain)), "{out}");

    let out = psql(&s, "\\dt+ sales.*").await;
    let line = out
        .lines()
        .find(|l| l.contains("| orders "))
        .unwrap_or_else(|| panic!("no orders in {out}"));
    assert!(
        line.contains("table") && line.contains(&table_desc),
        "{out}"
    );
    assert_eq!(
        out.lines().filter(|l| l.contains("| table |")).count(),
        3,
        "{out}"
    );

    let out = psql(&s, "\\d+ sales.orders").await;
    assert!(out.contains("Table \"sales.orders\""), "{out}");
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("o_totalprice"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.contains("numeric(15,2)") && line.contains(&price_desc),
        "{out}"
    );
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("o_orderdate"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.contains("| date ") && line.contains("not null"),
        "{out}"
    );

    let out = psql(&s, "\\l").await;
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("mesh "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains("UTF8"), "{out}");

    // Functions and types: without a pattern psql lists user-defined ones (a mesh has none).
    let out = psql(&s, "\\df").await;
    assert!(
        out.contains("List of functions") && out.contains("(0 rows)"),
        "{out}"
    );
    let out = psql(&s, "\\df pg_catalog.upper").await;
    // PostgreSQL's three: upper(text), upper(anyrange), upper(anymultirange).
    assert_eq!(
        out.lines()
            .filter(|l| l.contains("| upper ") && l.ends_with("func"))
            .count(),
        3,
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains("| upper | text             | text ")),
        "{out}"
    );
    let out = psql(&s, "\\dT pg_catalog.int4").await;
    assert!(out.contains("integer"), "{out}");
}

fn write_ghost_domain(dir: &Path) {
    std::fs::write(
        dir.join("ghost.toml"),
        format!(
            "name = \"ghost\"\ndescription = \"A domain whose data is not written yet.\"\nowners = [\"ghost@example.com\"]\n\n\
             [storage]\nroot = \"{}\"\n\n\
             [[products]]\nname = \"ghost\"\ndescription = \"Nothing here yet.\"\nowner = \"ghost@example.com\"\n\n\
             [[products.tables]]\nname = \"missing\"\nformat = \"parquet\"\nlocation = \"does-not-exist\"\n\
             description = \"Its files are not there.\"\n",
            dir.join("data").display()
        ),
    )
    .expect("write domain file");
}

/// Listing the catalog never reads a table's storage: a table whose files do not exist is
/// listed, described, and its (unknown) columns are simply absent, without an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_lists_a_table_whose_storage_is_missing() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_ghost_domain(dir.path());
    let s = TestServer::start_with(dir.path(), "").await;
    let c = s.admin().await;
    let r = c
        .query_one(
            "SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'ghost'",
            &[],
        )
        .await
        .expect("pg_class lists the table");
    assert_eq!(r.get::<_, String>(0), "missing");
    assert_eq!(
        r.get::<_, Option<String>>(1).as_deref(),
        Some("Its files are not there.")
    );
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 'ghost.missing'::regclass",
            &[],
        )
        .await
        .expect("pg_attribute answers for a table that cannot be opened")
        .get(0);
    assert_eq!(n, 0);
    let out = psql(&s, "\\dt+ ghost.*").await;
    assert!(
        out.contains("missing") && out.contains("Its files are not there."),
        "{out}"
    );
    // Reading the table itself is what fails.
    assert!(c.query("SELECT * FROM ghost.missing", &[]).await.is_err());
}

/// What pgjdbc's DatabaseMetaData reads besides the catalog tables: the preset settings in
/// pg_settings (max_index_keys before getImportedKeys) and pg_get_function_result (getFunctions).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preset_settings_and_function_results_answer_as_postgres() {
    let s = TestServer::tpch().await;
    let c = s.admin().await;
    let setting = |name: &'static str| {
        let c = &c;
        async move {
            c.query_opt(
                "SELECT setting FROM pg_catalog.pg_settings WHERE name = $1",
                &[&name],
            )
            .await
            .expect("pg_settings")
            .map(|r| r.get::<_, String>(0))
        }
    };
    assert_eq!(setting("max_index_keys").await.as_deref(), Some("32"));
    assert_eq!(
        setting("max_identifier_length").await.as_deref(),
        Some("63")
    );
    assert_eq!(
        setting("standard_conforming_strings").await.as_deref(),
        Some("on")
    );
    // SHOW and pg_settings agree on the settings that are the same for every session.
    let shown = c
        .simple_query("SHOW server_version_num")
        .await
        .expect("SHOW");
    let shown = shown.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
        _ => None,
    });
    assert_eq!(setting("server_version_num").await, shown);

    let rows = c
        .query(
            "SELECT DISTINCT proname, pg_get_function_result(oid) FROM pg_catalog.pg_proc \
             WHERE proname IN ('version', 'generate_series', 'json_each') AND prorettype IN (25, 20, 2249) ORDER BY 1, 2",
            &[],
        )
        .await
        .expect("pg_get_function_result");
    let got: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        got,
        vec![
            ("generate_series".into(), "SETOF bigint".into()),
            ("json_each".into(), "SETOF record".into()),
            ("version".into(), "text".into()),
        ]
    );
    let none: Option<String> = c
        .query_one("SELECT pg_get_function_result(0)", &[])
        .await
        .expect("unknown oid")
        .get(0);
    assert_eq!(none, None);
}

/// The catalog statements of dbt-postgres (its postgres__get_relations and
/// postgres__get_catalog_relations macros), as an analyst over the simple protocol like psycopg2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dbt_postgres_catalog_queries() {
    let s = TestServer::tpch().await;
    let c = s
        .connect_as(crate::harness::ANALYST.0, crate::harness::ANALYST.1)
        .await
        .expect("analyst connects");

    // System catalogs named by regclass keep PostgreSQL's OIDs, so pg_depend rows (classid =
    // pg_rewrite) join as in PostgreSQL.
    let r = c
        .query_one("SELECT 'pg_rewrite'::regclass::int, 'pg_depend'::regclass::int, 'pg_catalog.pg_inherits'::regclass::int", &[])
        .await
        .expect("system relations by regclass");
    assert_eq!(
        (r.get::<_, i32>(0), r.get::<_, i32>(1), r.get::<_, i32>(2)),
        (2618, 2608, 2611)
    );
    // View dependencies: the mesh has no views, so none depend on anything.
    let msgs = c
        .simple_query(
            "select distinct dn.nspname, dc.relname, rn.nspname, rc.relname \
             from pg_class as dc join pg_namespace as dn on dn.oid = dc.relnamespace \
             join pg_depend as dd on dd.refobjid = dc.oid and dd.classid = 'pg_rewrite'::regclass \
               and dd.refclassid = 'pg_class'::regclass and dd.deptype = 'i' \
             join pg_depend as jd on jd.objid = dd.objid and jd.classid = 'pg_rewrite'::regclass \
               and jd.refclassid = 'pg_class'::regclass and jd.refobjid != dd.refobjid \
             join pg_class as rc on rc.oid = jd.refobjid \
             join pg_namespace as rn on rn.oid = rc.relnamespace and rn.nspname != 'information_schema' \
               and rn.nspname not like 'pg\\_%' order by 1, 2, 3, 4",
        )
        .await
        .expect("dbt's view-dependency query");
    assert!(
        !msgs
            .iter()
            .any(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_))),
        "no view dependencies"
    );

    // Another session's temporary schema is never listed, so the filter keeps every schema.
    let r = c
        .query_one("SELECT pg_is_other_temp_schema(oid), pg_is_other_temp_schema(NULL::int) FROM pg_namespace WHERE nspname = 'sales'", &[])
        .await
        .expect("pg_is_other_temp_schema");
    assert_eq!(
        (r.get::<_, Option<bool>>(0), r.get::<_, Option<bool>>(1)),
        (Some(false), None)
    );

    // `dbt docs generate`: tables and columns of a schema with their descriptions and types.
    let domain = sales_domain();
    let rows = c
        .query(
            "select sch.nspname, tbl.relname, case tbl.relkind when 'v' then 'VIEW' else 'BASE TABLE' end, \
             tbl_desc.description, col.attname, col.attnum, pg_catalog.format_type(col.atttypid, col.atttypmod), \
             col_desc.description, pg_get_userbyid(tbl.relowner) \
             from pg_catalog.pg_namespace sch join pg_catalog.pg_class tbl on tbl.relnamespace = sch.oid \
             join pg_catalog.pg_attribute col on col.attrelid = tbl.oid \
             left outer join pg_catalog.pg_description tbl_desc on (tbl_desc.objoid = tbl.oid and tbl_desc.objsubid = 0) \
             left outer join pg_catalog.pg_description col_desc on (col_desc.objoid = tbl.oid and col_desc.objsubid = col.attnum) \
             where ((upper(sch.nspname) = upper('sales') and upper(tbl.relname) = upper('orders'))) \
             and not pg_is_other_temp_schema(sch.oid) and tbl.relpersistence in ('p', 'u') \
             and tbl.relkind in ('r', 'v', 'f', 'p', 'm') and col.attnum > 0 and not col.attisdropped \
             order by sch.nspname, tbl.relname, col.attnum",
            &[],
        )
        .await
        .expect("dbt's catalog query");
    assert_eq!(rows.len(), 9, "orders has 9 columns");
    let table_desc = orders(&domain)["description"]
        .as_str()
        .expect("orders description");
    for r in &rows {
        assert_eq!(
            (
                r.get::<_, String>(0),
                r.get::<_, String>(1),
                r.get::<_, String>(2)
            ),
            ("sales".into(), "orders".into(), "BASE TABLE".into())
        );
        assert_eq!(r.get::<_, Option<String>>(3).as_deref(), Some(table_desc));
        assert_eq!(
            r.get::<_, String>(8),
            domain["products"][0]["owner"].as_str().expect("owner")
        );
    }
    let cols: Vec<(String, i16, String, Option<String>)> = rows
        .iter()
        .map(|r| (r.get(4), r.get(5), r.get(6), r.get(7)))
        .collect();
    let described = |c: &str| orders(&domain)["columns"][c].as_str().map(String::from);
    assert_eq!(
        cols[0],
        (
            "o_orderkey".into(),
            1,
            "bigint".into(),
            described("o_orderkey")
        )
    );
    assert_eq!(
        cols[3],
        (
            "o_totalprice".into(),
            4,
            "numeric(15,2)".into(),
            described("o_totalprice")
        )
    );
    assert_eq!(
        cols[4],
        (
            "o_orderdate".into(),
            5,
            "date".into(),
            described("o_orderdate")
        )
    );
    assert_eq!(cols[8].0, "o_comment");
}

/// Result columns are named as PostgreSQL names them, and `::regtype` / `::regrole` print
/// names in results while comparing as OIDs in predicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn result_names_and_reg_casts_read_as_in_postgres() {
    let s = TestServer::tpch().await;
    let c = s.admin().await;
    let st = c
        .prepare("SELECT 1, count(*), upper('a'), '1'::int, o_orderkey::text, CASE WHEN true THEN 1 END FROM sales.orders GROUP BY o_orderkey LIMIT 1")
        .await
        .unwrap();
    let names: Vec<&str> = st.columns().iter().map(|c| c.name()).collect();
    assert_eq!(
        names,
        ["?column?", "count", "upper", "int4", "o_orderkey", "case"]
    );
    let row = c
        .query_one("SELECT 23::regtype, 'int8'::regtype, 10::regrole, (SELECT count(*) FROM pg_type WHERE oid = 'int4'::regtype)", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "integer");
    assert_eq!(row.get::<_, String>(1), "bigint");
    assert_eq!(row.get::<_, String>(2), "meshgate");
    assert_eq!(row.get::<_, i64>(3), 1);
    let types: Vec<String> = c
        .query("SELECT atttypid::regtype FROM pg_attribute WHERE attrelid = 'sales.orders'::regclass AND attnum IN (1, 4) ORDER BY attnum", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(types, ["bigint", "numeric"]);
    // ::regnamespace prints names too; in predicates it stays an OID.
    let row = c
        .query_one(
            "SELECT relnamespace::regnamespace, 11::regnamespace FROM pg_class \
             WHERE relnamespace = 'sales'::regnamespace AND relname = 'orders'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "sales");
    assert_eq!(row.get::<_, String>(1), "pg_catalog");
}
