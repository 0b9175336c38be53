//! Generates the mesh at SF 0.01 and checks it against TPC-H facts and against the baseline.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use iceberg::{Catalog, TableIdent};
use iceberg_datafusion::IcebergStaticTableProvider;
use meshgate_demo::{generate, open_catalog, tpch_batches, DemoOptions, TpchTable, COMMENT_KEY};
use url::Url;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const SF: f64 = 0.01;

/// Row counts fixed by the TPC-H specification at SF 0.01; lineitem is random and checked against
/// the generator instead.
const SPEC_ROWS: [(TpchTable, u64); 7] = [
    (TpchTable::Nation, 25),
    (TpchTable::Region, 5),
    (TpchTable::Supplier, 100),
    (TpchTable::Customer, 1_500),
    (TpchTable::Part, 2_000),
    (TpchTable::PartSupp, 8_000),
    (TpchTable::Orders, 15_000),
];

/// What tpchgen 4 (like dbgen) produces for lineitem at SF 0.01.
const LINEITEM_ROWS_SF001: u64 = 60_175;

async fn query(
    ctx: &SessionContext,
    sql: &str,
) -> Result<Vec<RecordBatch>, Box<dyn std::error::Error>> {
    Ok(ctx.sql(sql).await?.collect().await?)
}

async fn count(ctx: &SessionContext, table: &str) -> Result<u64, Box<dyn std::error::Error>> {
    let batches = query(ctx, &format!("SELECT count(*) AS n FROM {table}")).await?;
    let n = batches[0].column(0).as_primitive::<Int64Type>().value(0);
    Ok(u64::try_from(n)?)
}

/// Runs `sql` with `{t}` replaced by each table and requires identical values (the headers
/// differ by the table qualifier and are skipped).
async fn same_result(ctx: &SessionContext, sql: &str, left: &str, right: &str) -> TestResult {
    async fn rows(
        ctx: &SessionContext,
        sql: &str,
    ) -> Result<Vec<String>, Box<dyn std::error::Error>> {
        let text = pretty_format_batches(&query(ctx, sql).await?)?.to_string();
        Ok(text
            .lines()
            .skip(3)
            .filter(|l| l.starts_with('|'))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect())
    }
    let l = rows(ctx, &sql.replace("{t}", left)).await?;
    let r = rows(ctx, &sql.replace("{t}", right)).await?;
    assert!(!l.is_empty(), "no rows for `{sql}`");
    assert_eq!(l, r, "{left} and {right} differ for `{sql}`");
    Ok(())
}

#[test]
fn lineitem_row_count_is_what_tpchgen_produces() {
    let rows: usize = tpch_batches(TpchTable::LineItem, SF)
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(rows as u64, LINEITEM_ROWS_SF001);
}

#[test]
fn batches_have_the_declared_schema_and_size() {
    for table in TpchTable::ALL {
        let batches: Vec<RecordBatch> = tpch_batches(table, SF).collect();
        assert!(!batches.is_empty(), "{table}");
        for (i, batch) in batches.iter().enumerate() {
            assert_eq!(batch.schema(), table.schema(), "{table}");
            if i + 1 < batches.len() {
                assert_eq!(batch.num_rows(), meshgate_demo::BATCH_ROWS, "{table}");
            }
            assert!(
                batch.columns().iter().all(|c| c.null_count() == 0),
                "{table}"
            );
        }
    }
    let schema = TpchTable::LineItem.schema();
    let ty = |name: &str| schema.field_with_name(name).map(|f| f.data_type().clone());
    assert_eq!(ty("l_orderkey").ok(), Some(DataType::Int64));
    assert_eq!(ty("l_linenumber").ok(), Some(DataType::Int32));
    assert_eq!(
        ty("l_extendedprice").ok(),
        Some(DataType::Decimal128(15, 2))
    );
    assert_eq!(ty("l_quantity").ok(), Some(DataType::Decimal128(15, 2)));
    assert_eq!(ty("l_shipdate").ok(), Some(DataType::Date32));
    assert_eq!(ty("l_comment").ok(), Some(DataType::Utf8));
}

#[test]
fn generate_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let opts = DemoOptions {
        dir: "unused".into(),
        scale_factor: SF,
    };
    assert_send(&generate(&opts));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sf001_mesh_matches_tpch_and_baseline() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let opts = DemoOptions {
        dir: tmp.path().join("mesh"),
        scale_factor: SF,
    };
    // Two concurrent callers: the directory lock makes one generate and the other reuse.
    let (first, second) = tokio::join!(generate(&opts), generate(&opts));
    let (first, second) = (first?, second?);
    assert!(
        first.generated != second.generated,
        "exactly one caller generates"
    );
    assert_eq!(first.row_counts, second.row_counts);
    let layout = first;

    // --- baseline: plain DataFusion over Parquet ---
    let ctx = SessionContext::new();
    for table in TpchTable::ALL {
        let dir = layout.baseline_path(table);
        assert!(dir.join("part-0.parquet").is_file(), "{}", dir.display());
        let path = dir.to_str().ok_or("non-utf8 temp dir")?;
        ctx.register_parquet(table.name(), path, ParquetReadOptions::default())
            .await?;
    }
    for (table, expected) in SPEC_ROWS {
        assert_eq!(count(&ctx, table.name()).await?, expected, "{table}");
        assert_eq!(layout.row_counts[&table], expected, "{table}");
    }
    assert_eq!(count(&ctx, "lineitem").await?, LINEITEM_ROWS_SF001);
    assert_eq!(layout.row_counts[&TpchTable::LineItem], LINEITEM_ROWS_SF001);

    // Spot checks that the data is TPC-H and not merely the right shape.
    let batches = query(
        &ctx,
        "SELECT count(*) FROM nation JOIN region ON n_regionkey = r_regionkey \
         WHERE r_name = 'EUROPE'",
    )
    .await?;
    assert_eq!(batches[0].column(0).as_primitive::<Int64Type>().value(0), 5);
    let batches = query(
        &ctx,
        "SELECT count(*) FROM lineitem JOIN orders ON l_orderkey = o_orderkey \
         WHERE l_shipdate <= o_orderdate OR l_quantity < 1 OR l_quantity > 50 \
            OR l_discount > 0.10 OR l_tax > 0.08",
    )
    .await?;
    assert_eq!(batches[0].column(0).as_primitive::<Int64Type>().value(0), 0);

    // --- Delta (sales) ---
    for table in [TpchTable::Orders, TpchTable::LineItem, TpchTable::Customer] {
        let url = Url::from_directory_path(layout.table_path(table)).map_err(|()| "bad path")?;
        let delta = deltalake::open_table(url).await?;
        let snapshot = delta.snapshot()?;
        assert_eq!(
            snapshot.metadata().description(),
            Some(table.description()),
            "{table}"
        );
        let schema = snapshot.schema();
        let first = &table.columns()[0];
        let field = schema.field(first.name).ok_or("first column missing")?;
        let comment = field
            .metadata()
            .get(COMMENT_KEY)
            .ok_or("no column comment")?;
        assert!(
            format!("{comment:?}").contains(first.description),
            "{comment:?}"
        );

        delta.update_datafusion_session(&ctx.state())?;
        ctx.register_table(format!("delta_{table}"), delta.table_provider().await?)?;
        assert_eq!(
            count(&ctx, &format!("delta_{table}")).await?,
            layout.row_counts[&table]
        );
    }
    same_result(
        &ctx,
        "SELECT count(*), sum(l_orderkey), sum(l_linenumber), sum(l_quantity), \
         sum(l_extendedprice), sum(l_discount), sum(l_tax), min(l_shipdate), max(l_receiptdate), \
         count(DISTINCT l_comment), max(l_shipmode) FROM {t}",
        "lineitem",
        "delta_lineitem",
    )
    .await?;
    same_result(
        &ctx,
        "SELECT o_orderstatus, count(*), sum(o_totalprice), min(o_orderdate) FROM {t} \
         GROUP BY o_orderstatus ORDER BY 1",
        "orders",
        "delta_orders",
    )
    .await?;

    // --- Iceberg (supply), through the SQL catalog ---
    let catalog = open_catalog(&layout.catalog_db, &layout.warehouse).await?;
    for table in [TpchTable::Part, TpchTable::PartSupp, TpchTable::Supplier] {
        let ident = TableIdent::from_strs(["supply", table.name()])?;
        let iceberg_table = catalog.load_table(&ident).await?;
        let metadata = iceberg_table.metadata();
        assert_eq!(
            metadata.properties().get("comment").map(String::as_str),
            Some(table.description())
        );
        let first = &table.columns()[0];
        let field = metadata
            .current_schema()
            .field_by_name(first.name)
            .ok_or("no field")?;
        assert_eq!(field.doc.as_deref(), Some(first.description));
        assert!(field.required);

        let provider = IcebergStaticTableProvider::try_new_from_table(iceberg_table).await?;
        ctx.register_table(format!("iceberg_{table}"), Arc::new(provider))?;
        assert_eq!(
            count(&ctx, &format!("iceberg_{table}")).await?,
            layout.row_counts[&table]
        );
    }
    same_result(
        &ctx,
        "SELECT count(*), sum(p_partkey), sum(p_size), sum(p_retailprice), \
         count(DISTINCT p_brand), min(p_name), max(p_container) FROM {t}",
        "part",
        "iceberg_part",
    )
    .await?;
    same_result(
        &ctx,
        "SELECT sum(ps_availqty), sum(ps_supplycost), sum(ps_partkey * ps_suppkey) FROM {t}",
        "partsupp",
        "iceberg_partsupp",
    )
    .await?;

    // --- Parquet (geo) ---
    let geo = layout.domain_dir("geo");
    assert!(geo.join("region/part-0.parquet").is_file());
    for k in 0..5 {
        assert!(geo
            .join(format!("nation/n_regionkey={k}/part-0.parquet"))
            .is_file());
    }
    let nation = geo.join("nation");
    ctx.register_parquet(
        "geo_nation",
        nation.to_str().ok_or("non-utf8 temp dir")?,
        ParquetReadOptions::default()
            .table_partition_cols(vec![("n_regionkey".to_string(), DataType::Int64)]),
    )
    .await?;
    same_result(
        &ctx,
        "SELECT count(*), sum(n_nationkey), sum(n_regionkey), sum(n_nationkey * n_regionkey), min(n_name) FROM {t}",
        "nation",
        "geo_nation",
    )
    .await?;

    // --- domain files ---
    for domain in ["sales", "supply", "geo"] {
        let text = std::fs::read_to_string(layout.domain_file(domain))?;
        let root = layout.domain_dir(domain);
        assert!(
            text.starts_with(&format!("name = \"{domain}\"\n")),
            "{text}"
        );
        assert!(
            text.contains(&format!("root = \"{}\"", root.display())),
            "{text}"
        );
    }
    let supply = std::fs::read_to_string(layout.domain_file("supply"))?;
    assert!(
        supply.contains("[catalogs.supply]\ntype = \"sql\"\n"),
        "{supply}"
    );
    assert!(supply.contains(&format!(
        "uri = \"sqlite://{}\"",
        layout.catalog_db.display()
    )));
    assert!(supply.contains("catalog = \"supply\"\nnamespace = \"supply\"\ntable = \"partsupp\""));
    let geo_conf = std::fs::read_to_string(layout.domain_file("geo"))?;
    assert!(geo_conf.contains(
        "partition_columns = [{ name = \"n_regionkey\", type = \"bigint\", position = 3 }]"
    ));

    // --- reuse: a second run with the same options is a no-op ---
    let started = std::time::Instant::now();
    let again = generate(&opts).await?;
    assert!(!again.generated);
    assert_eq!(again.row_counts, layout.row_counts);
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    Ok(())
}

#[test]
fn chunks_concatenate_to_the_whole_table() {
    use meshgate_demo::tpch_batches_part;
    for table in [TpchTable::Nation, TpchTable::Orders, TpchTable::PartSupp] {
        let whole: Vec<RecordBatch> = tpch_batches(table, SF).collect();
        let chunks: Vec<RecordBatch> = (1..=3)
            .flat_map(|part| tpch_batches_part(table, SF, part, 3))
            .collect();
        let whole = datafusion::arrow::compute::concat_batches(&table.schema(), &whole);
        let chunks = datafusion::arrow::compute::concat_batches(&table.schema(), &chunks);
        assert_eq!(whole.ok(), chunks.ok(), "{table}");
    }
}

/// Every Parquet file under `dir`, at any depth.
fn parquet_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            parquet_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "parquet") {
            out.push(path);
        }
    }
    Ok(())
}

/// The files of all three writers (the baseline, Delta's and Iceberg's) are laid out for point
/// lookups: pages of at most PAGE_ROWS rows with a page index, and no dictionary page in front
/// of the columns whose values are nearly all distinct.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_laid_out_for_lookups() -> TestResult {
    use datafusion::parquet::file::metadata::{PageIndexPolicy, ParquetMetaDataReader};

    let tmp = tempfile::tempdir()?;
    let layout = generate(&DemoOptions {
        dir: tmp.path().join("mesh"),
        scale_factor: SF,
    })
    .await?;
    let mut files = Vec::new();
    parquet_files(&layout.root, &mut files)?;
    let column = |name: &str| {
        TpchTable::ALL
            .iter()
            .flat_map(|t| t.columns())
            .find(|c| c.name == name)
            .copied()
    };
    let (mut plain, mut dictionary, mut pages) = (0, 0, 0);
    let mut writers = std::collections::BTreeSet::new();
    for file in &files {
        let text = file.to_string_lossy();
        writers.insert(if text.contains("/baseline/") {
            "baseline"
        } else if text.contains("/warehouse/") {
            "iceberg"
        } else {
            "delta or hive parquet"
        });
        let meta = ParquetMetaDataReader::new()
            .with_page_index_policy(PageIndexPolicy::Required)
            .parse_and_finish(&std::fs::File::open(file)?)?;
        let offsets = meta.offset_index().ok_or("no offset index")?;
        for (g, group) in meta.row_groups().iter().enumerate() {
            for (c, chunk) in group.columns().iter().enumerate() {
                let name = chunk.column_descr().name();
                let def = column(name).ok_or_else(|| format!("{name} is no TPC-H column"))?;
                if def.mostly_distinct {
                    assert_eq!(
                        chunk.dictionary_page_offset(),
                        None,
                        "{name} in {text} has a dictionary"
                    );
                    plain += 1;
                } else if chunk.dictionary_page_offset().is_some() {
                    dictionary += 1;
                }
                let locations = offsets[g][c].page_locations();
                for (i, page) in locations.iter().enumerate() {
                    let end = locations
                        .get(i + 1)
                        .map_or(group.num_rows(), |p| p.first_row_index);
                    let rows = end - page.first_row_index;
                    assert!(
                        rows as usize <= meshgate_demo::PAGE_ROWS,
                        "{name} in {text}: a page of {rows} rows"
                    );
                    pages += 1;
                }
            }
        }
    }
    assert_eq!(
        writers.len(),
        3,
        "files of every writer were checked: {writers:?}"
    );
    assert!(
        plain > 0 && dictionary > 0,
        "both kinds of column were seen"
    );
    // lineitem alone (60,175 rows) needs more than one page per column at PAGE_ROWS.
    assert!(
        pages > files.len() * 8,
        "{pages} pages in {} files",
        files.len()
    );
    Ok(())
}
