use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Int32Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::prelude::SessionContext;
use meshgate_connector_api::{Connector, ConnectorError, Storage, StorageKind, TableSpec};
use meshgate_parquet::ParquetConnector;
use url::Url;

/// Writes `nation` as two hive partitions, the way an external job would lay them out.
fn write_nation(root: &Path) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("n_nationkey", DataType::Int32, false),
        Field::new("n_name", DataType::Utf8, false),
    ]));
    for (region, keys, names) in [
        (1, vec![1, 2], vec!["ARGENTINA", "BRAZIL"]),
        (3, vec![6, 7], vec!["FRANCE", "GERMANY"]),
    ] {
        let dir = root.join("nation").join(format!("n_regionkey={region}"));
        std::fs::create_dir_all(&dir).unwrap();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int32Array::from(keys)),
                Arc::new(StringArray::from(names)),
            ],
        )
        .unwrap();
        let file = std::fs::File::create(dir.join("part-0.parquet")).unwrap();
        let mut writer = ArrowWriter::try_new(file, schema.clone(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
    }
}

fn setup() -> (tempfile::TempDir, Storage, TableSpec) {
    let dir = tempfile::tempdir().unwrap();
    write_nation(dir.path());
    let storage = Storage::new(
        "geo",
        Url::from_directory_path(dir.path()).unwrap(),
        StorageKind::Local,
    )
    .unwrap();
    let spec = TableSpec {
        qualified_name: "geo.nation".into(),
        location: storage.resolve("nation").unwrap(),
        partition_columns: vec![meshgate_connector_api::PartitionColumn::new(
            "n_regionkey",
            "int",
        )],
        iceberg: None,
        remote: None,
    };
    (dir, storage, spec)
}

/// A session like the server's: the domain store is registered in its runtime.
fn session(storage: &Storage) -> SessionContext {
    let ctx = SessionContext::new();
    ctx.register_object_store(&storage.store_url(), storage.object_store.clone());
    ctx
}

async fn run(ctx: &SessionContext, sql: &str) -> String {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    pretty_format_batches(&batches).unwrap().to_string()
}

#[tokio::test]
async fn reads_partitioned_directory() {
    let (_dir, storage, spec) = setup();
    let opened = ParquetConnector.open(&spec, &storage).await.unwrap();
    assert_eq!(
        (opened.version, opened.row_count, opened.description),
        (None, None, None)
    );

    let ctx = session(&storage);
    ctx.register_table("nation", opened.provider).unwrap();
    assert_eq!(
        run(
            &ctx,
            "SELECT n_nationkey, n_name, n_regionkey FROM nation ORDER BY n_nationkey"
        )
        .await,
        "+-------------+-----------+-------------+\n\
         | n_nationkey | n_name    | n_regionkey |\n\
         +-------------+-----------+-------------+\n\
         | 1           | ARGENTINA | 1           |\n\
         | 2           | BRAZIL    | 1           |\n\
         | 6           | FRANCE    | 3           |\n\
         | 7           | GERMANY   | 3           |\n\
         +-------------+-----------+-------------+"
    );
    assert_eq!(
        run(
            &ctx,
            "SELECT n_name FROM nation WHERE n_regionkey = 3 AND n_nationkey > 6"
        )
        .await,
        "+---------+\n\
         | n_name  |\n\
         +---------+\n\
         | GERMANY |\n\
         +---------+"
    );
}

#[tokio::test]
async fn filters_and_projection_reach_the_parquet_scan() {
    let (_dir, storage, spec) = setup();
    let opened = ParquetConnector.open(&spec, &storage).await.unwrap();
    let ctx = session(&storage);
    ctx.register_table("nation", opened.provider).unwrap();

    let plan = run(
        &ctx,
        "EXPLAIN SELECT n_name FROM nation WHERE n_regionkey = 3 AND n_nationkey > 6",
    )
    .await;
    let scan = plan
        .lines()
        .find(|l| l.contains("DataSourceExec"))
        .unwrap_or_else(|| panic!("{plan}"));
    assert!(scan.contains("predicate=n_nationkey@0 > 6"), "{scan}");
    // Partition pruning: only the region-3 file is listed for the scan.
    assert!(
        scan.contains("n_regionkey=3") && !scan.contains("n_regionkey=1"),
        "{scan}"
    );
    // Only the columns the query needs are read; the partition column comes from the path.
    assert!(scan.contains("projection=[n_nationkey, n_name],"), "{scan}");
}

#[tokio::test]
async fn a_directory_without_parquet_files_is_not_found() {
    let (dir, storage, mut spec) = setup();
    std::fs::create_dir_all(dir.path().join("empty")).unwrap();
    spec.location = storage.resolve("empty").unwrap();
    let err = ParquetConnector.open(&spec, &storage).await.unwrap_err();
    assert!(matches!(err, ConnectorError::NotFound { .. }), "{err:?}");
}
