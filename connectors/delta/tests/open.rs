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
