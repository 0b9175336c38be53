use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType as ArrowType, Field, Schema};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::SessionContext;
use deltalake::kernel::{DataType, MetadataValue, StructField};
use deltalake::DeltaTable;
use meshgate_connector_api::{Connector, ConnectorError, Storage, StorageKind, TableSpec};
use meshgate_delta::DeltaConnector;
use url::Url;

fn spec(location: Url) -> TableSpec {
    TableSpec {
        qualified_name: "crm.people".into(),
        location,
        partition_columns: vec![],
        iceberg: None,
        remote: None,
    }
}

fn local_storage(dir: &std::path::Path) -> Storage {
    Storage::new(
        "crm",
        Url::from_directory_path(dir).unwrap(),
        StorageKind::Local,
    )
    .unwrap()
}

fn batch(ids: Vec<i64>, names: Vec<Option<&str>>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", ArrowType::Int64, false),
        Field::new("name", ArrowType::Utf8, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(StringArray::from(names)),
        ],
    )
    .unwrap()
}

#[tokio::test]
async fn opens_a_written_table_with_its_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let location = Url::from_directory_path(dir.path().join("people")).unwrap();
    std::fs::create_dir_all(dir.path().join("people")).unwrap();

    let table = DeltaTable::try_from_url(location.clone()).await.unwrap();
    let table = table
        .create()
        .with_columns([
            StructField::new("id", DataType::LONG, false)
                .with_metadata([("comment", MetadataValue::String("person id".into()))]),
            StructField::new("name", DataType::STRING, true),
        ])
        .with_comment("everyone we know")
        .await
        .unwrap();
    let table = table
        .write(vec![batch(vec![1, 2], vec![Some("ada"), Some("bob")])])
        .await
        .unwrap();
    table.write(vec![batch(vec![3], vec![None])]).await.unwrap();

    let opened = DeltaConnector
        .open(&spec(location), &local_storage(dir.path()))
        .await
        .unwrap();
    assert_eq!(opened.version.as_deref(), Some("2"));
    assert!(opened
        .committed_at_ms
        .is_some_and(|t| t > 1_600_000_000_000));
    assert_eq!(opened.row_count, Some(3));
    assert_eq!(opened.description.as_deref(), Some("everyone we know"));
    assert_eq!(
        opened.column_descriptions.get("id").map(String::as_str),
        Some("person id")
    );
    assert_eq!(opened.column_descriptions.len(), 1);

    let ctx = SessionContext::new();
    ctx.register_table("people", opened.provider).unwrap();
    let rows = ctx
        .sql("SELECT id, name FROM people WHERE id >= 2 ORDER BY id")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(
        pretty_format_batches(&rows).unwrap().to_string(),
        "+----+------+\n\
         | id | name |\n\
         +----+------+\n\
         | 2  | bob  |\n\
         | 3  |      |\n\
         +----+------+"
    );
}

#[tokio::test]
async fn a_missing_table_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let storage = local_storage(dir.path());

    let absent = Url::from_directory_path(dir.path().join("absent")).unwrap();
    let err = DeltaConnector
        .open(&spec(absent), &storage)
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::NotFound { .. }), "{err:?}");

    std::fs::create_dir_all(dir.path().join("empty")).unwrap();
    let empty = Url::from_directory_path(dir.path().join("empty")).unwrap();
    let err = DeltaConnector
        .open(&spec(empty), &storage)
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::NotFound { .. }), "{err:?}");
}

/// The scan of a Delta version is DataFusion's own Parquet scan: a plain `DataSourceExec` that
/// DataFusion's standard codec serialises and decodes (what a distributed executor ships), and
/// the decoded plan reads the same rows.
#[tokio::test]
async fn the_scan_is_a_parquet_data_source_that_round_trips_through_datafusions_codec() {
    use datafusion::datasource::physical_plan::FileScanConfig;
    use datafusion::datasource::source::DataSourceExec;
    use datafusion::physical_plan::{collect, displayable};

    let dir = tempfile::tempdir().unwrap();
    let location = Url::from_directory_path(dir.path().join("people")).unwrap();
    std::fs::create_dir_all(dir.path().join("people")).unwrap();
    let table = DeltaTable::try_from_url(location.clone())
        .await
        .unwrap()
        .create()
        .with_columns([
            StructField::new("id", DataType::LONG, false),
            StructField::new("name", DataType::STRING, true),
        ])
        .await
        .unwrap();
    let table = table
        .write(vec![batch(vec![1, 2], vec![Some("ada"), Some("bob")])])
        .await
        .unwrap();
    table
        .write(vec![batch(vec![3, 4], vec![None, Some("dan")])])
        .await
        .unwrap();
    let opened = DeltaConnector
        .open(&spec(location), &local_storage(dir.path()))
        .await
        .unwrap();

    let ctx = SessionContext::new();
    ctx.register_table("people", opened.provider).unwrap();
    let plan = ctx
        .sql("SELECT id, name FROM people WHERE id >= 2")
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    let mut scans = Vec::new();
    let mut stack = vec![plan.clone()];
    while let Some(node) = stack.pop() {
        stack.extend(node.children().into_iter().cloned());
        if let Some(config) = node
            .as_any()
            .downcast_ref::<DataSourceExec>()
            .and_then(|d| d.data_source().as_any().downcast_ref::<FileScanConfig>())
        {
            scans.push(config.file_groups.iter().map(|g| g.len()).sum::<usize>());
        }
    }
    // Both files, and nothing else reads the table.
    assert_eq!(scans, [2], "{}", displayable(plan.as_ref()).indent(true));

    let bytes = datafusion_proto::bytes::physical_plan_to_bytes(plan.clone()).unwrap();
    let decoded =
        datafusion_proto::bytes::physical_plan_from_bytes(&bytes, &ctx.task_ctx()).unwrap();
    assert_eq!(
        displayable(decoded.as_ref()).indent(true).to_string(),
        displayable(plan.as_ref()).indent(true).to_string()
    );
    let rows = collect(decoded, ctx.task_ctx()).await.unwrap();
    let mut lines: Vec<String> = pretty_format_batches(&rows)
        .unwrap()
        .to_string()
        .lines()
        .filter(|l| l.starts_with("| ") && !l.contains("id"))
        .map(str::to_string)
        .collect();
    lines.sort();
    assert_eq!(lines, ["| 2  | bob  |", "| 3  |      |", "| 4  | dan  |"]);
}
