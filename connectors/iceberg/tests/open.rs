use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::prelude::SessionContext;
use iceberg::arrow::schema_to_arrow_schema;
use iceberg::spec::{DataFileFormat, NestedField, PrimitiveType, Schema, Type};
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, DefaultLocationGenerator,
};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use iceberg::{Catalog, CatalogBuilder, NamespaceIdent, TableCreation, TableIdent};
use iceberg_catalog_sql::{SqlCatalog, SqlCatalogBuilder};
use iceberg_storage_opendal::OpenDalResolvingStorageFactory;
use meshgate_connector_api::{
    Connector, ConnectorError, IcebergCatalog, IcebergSource, OpenedTable, Storage, StorageKind,
    TableSpec,
};
use meshgate_iceberg::IcebergConnector;
use url::Url;

/// A sqlite-backed SQL catalog with `sales.orders` created in a file warehouse, standing in for
/// whatever external engine writes the table.
struct Lake {
    dir: tempfile::TempDir,
    sqlite_uri: String,
    warehouse: String,
    catalog: SqlCatalog,
    ident: TableIdent,
}

impl Lake {
    async fn new() -> Lake {
        let dir = tempfile::tempdir().unwrap();
        let sqlite_uri = format!(
            "sqlite:{}?mode=rwc",
            dir.path().join("catalog.db").display()
        );
        // The space checks that locations are not handed to iceberg percent-encoded.
        let warehouse = format!("file://{}", dir.path().join("ware house").display());
        let catalog = SqlCatalogBuilder::default()
            .with_storage_factory(Arc::new(OpenDalResolvingStorageFactory::new()))
            .load(
                "lake",
                HashMap::from([
                    ("uri".to_string(), sqlite_uri.clone()),
                    ("warehouse".to_string(), warehouse.clone()),
                    ("sql_bind_style".to_string(), "QMark".to_string()),
                ]),
            )
            .await
            .unwrap();
        let namespace = NamespaceIdent::new("sales".into());
        catalog
            .create_namespace(&namespace, HashMap::new())
            .await
            .unwrap();
        let schema = Schema::builder()
            .with_fields(vec![
                NestedField::required(1, "id", Type::Primitive(PrimitiveType::Long))
                    .with_doc("order id")
                    .into(),
                NestedField::optional(2, "item", Type::Primitive(PrimitiveType::String)).into(),
            ])
            .build()
            .unwrap();
        let creation = TableCreation::builder()
            .name("orders".into())
            .schema(schema)
            .properties([("comment".to_string(), "every order".to_string())])
            .build();
        catalog.create_table(&namespace, creation).await.unwrap();
        Lake {
            dir,
            sqlite_uri,
            warehouse,
            catalog,
            ident: TableIdent::new(namespace, "orders".into()),
        }
    }

    /// Writes one Parquet data file with iceberg-rust's writer and commits it as a new snapshot.
    async fn append(&self, ids: Vec<i64>, items: Vec<Option<&str>>) -> Table {
        let table = self.catalog.load_table(&self.ident).await.unwrap();
        let iceberg_schema = table.metadata().current_schema().clone();
        let arrow_schema = Arc::new(schema_to_arrow_schema(&iceberg_schema).unwrap());
        let batch = RecordBatch::try_new(
            arrow_schema,
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(StringArray::from(items)),
            ],
        )
        .unwrap();

        let rolling = RollingFileWriterBuilder::new_with_default_file_size(
            ParquetWriterBuilder::new(WriterProperties::default(), iceberg_schema),
            table.file_io().clone(),
            DefaultLocationGenerator::new(table.metadata()).unwrap(),
            // Each append needs its own file names: the generator numbers files from zero.
            DefaultFileNameGenerator::new(
                format!("append-{}", table.metadata().snapshots().count()),
                None,
                DataFileFormat::Parquet,
            ),
        );
        let mut writer = DataFileWriterBuilder::new(rolling)
            .build(None)
            .await
            .unwrap();
        writer.write(batch).await.unwrap();
        let files = writer.close().await.unwrap();

        let tx = Transaction::new(&table);
        let tx = tx.fast_append().add_data_files(files).apply(tx).unwrap();
        tx.commit(&self.catalog).await.unwrap()
    }

    fn storage(&self) -> Storage {
        Storage::new(
            "sales",
            Url::from_directory_path(self.dir.path()).unwrap(),
            StorageKind::Local,
        )
        .unwrap()
    }

    fn table_dir(&self) -> Url {
        Url::from_directory_path(self.dir.path().join("ware house/sales/orders")).unwrap()
    }

    fn spec(&self, location: Url, source: IcebergSource) -> TableSpec {
        TableSpec {
            qualified_name: "sales.orders".into(),
            location,
            partition_columns: vec![],
            iceberg: Some(source),
            remote: None,
        }
    }

    fn catalog_source(&self) -> IcebergSource {
        IcebergSource::Catalog {
            catalog: IcebergCatalog::Sql {
                name: "lake".into(),
                uri: self.sqlite_uri.clone(),
                warehouse: self.warehouse.clone(),
            },
            namespace: vec!["sales".into()],
            table: "orders".into(),
        }
    }
}

async fn query(opened: OpenedTable, sql: &str) -> String {
    let ctx = SessionContext::new();
    ctx.register_table("orders", opened.provider).unwrap();
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    pretty_format_batches(&batches).unwrap().to_string()
}

const FIRST_SNAPSHOT: &str = "+----+--------+\n\
                              | id | item   |\n\
                              +----+--------+\n\
                              | 1  | apple  |\n\
                              | 2  | banana |\n\
                              +----+--------+";

#[tokio::test]
async fn opens_a_metadata_file_a_directory_and_a_catalog_table() {
    let lake = Lake::new().await;
    let table = lake
        .append(vec![1, 2], vec![Some("apple"), Some("banana")])
        .await;
    let snapshot = table.metadata().current_snapshot().unwrap();
    let connector = IcebergConnector::default();
    let storage = lake.storage();

    let metadata_file = Url::parse(table.metadata_location().unwrap()).unwrap();
    let by_file = connector
        .open(
            &lake.spec(metadata_file, IcebergSource::MetadataFile),
            &storage,
        )
        .await
        .unwrap();
    let by_dir = connector
        .open(
            &lake.spec(lake.table_dir(), IcebergSource::MetadataFile),
            &storage,
        )
        .await
        .unwrap();
    let by_catalog = connector
        .open(
            &lake.spec(lake.table_dir(), lake.catalog_source()),
            &storage,
        )
        .await
        .unwrap();

    for opened in [by_file, by_dir, by_catalog] {
        assert_eq!(opened.version, Some(snapshot.snapshot_id().to_string()));
        assert_eq!(opened.committed_at_ms, Some(snapshot.timestamp_ms()));
        assert_eq!(opened.row_count, Some(2));
        assert_eq!(opened.description.as_deref(), Some("every order"));
        assert_eq!(
            opened.column_descriptions.get("id").map(String::as_str),
            Some("order id")
        );
        assert_eq!(opened.column_descriptions.len(), 1);
        assert_eq!(
            query(opened, "SELECT id, item FROM orders ORDER BY id").await,
            FIRST_SNAPSHOT
        );
    }
}

#[tokio::test]
async fn a_reopened_directory_or_catalog_table_sees_the_next_snapshot() {
    let lake = Lake::new().await;
    lake.append(vec![1, 2], vec![Some("apple"), Some("banana")])
        .await;
    let connector = IcebergConnector::default();
    let storage = lake.storage();
    let dir_spec = lake.spec(lake.table_dir(), IcebergSource::MetadataFile);
    let catalog_spec = lake.spec(lake.table_dir(), lake.catalog_source());

    let before = connector.open(&dir_spec, &storage).await.unwrap();
    connector.open(&catalog_spec, &storage).await.unwrap();
    let table = lake.append(vec![3], vec![None]).await;
    let second = table
        .metadata()
        .current_snapshot()
        .unwrap()
        .snapshot_id()
        .to_string();

    // The provider opened earlier stays on its snapshot.
    assert_eq!(
        query(before, "SELECT id, item FROM orders ORDER BY id").await,
        FIRST_SNAPSHOT
    );

    for spec in [&dir_spec, &catalog_spec] {
        let after = connector.open(spec, &storage).await.unwrap();
        assert_eq!(after.version.as_deref(), Some(second.as_str()));
        assert_eq!(after.row_count, Some(3));
        assert_eq!(
            query(
                after,
                "SELECT id, item FROM orders WHERE id > 1 ORDER BY id"
            )
            .await,
            "+----+--------+\n\
             | id | item   |\n\
             +----+--------+\n\
             | 2  | banana |\n\
             | 3  |        |\n\
             +----+--------+"
        );
    }
}

#[tokio::test]
async fn missing_tables_are_not_found() {
    let lake = Lake::new().await;
    let connector = IcebergConnector::default();
    let storage = lake.storage();
    let missing_dir = Url::from_directory_path(lake.dir.path().join("nowhere")).unwrap();
    let missing_file =
        Url::from_file_path(lake.dir.path().join("nowhere/metadata/v1.metadata.json")).unwrap();
    let missing_in_catalog = IcebergSource::Catalog {
        catalog: match lake.catalog_source() {
            IcebergSource::Catalog { catalog, .. } => catalog,
            IcebergSource::MetadataFile => unreachable!(),
        },
        namespace: vec!["sales".into()],
        table: "returns".into(),
    };

    for spec in [
        lake.spec(missing_dir.clone(), IcebergSource::MetadataFile),
        lake.spec(missing_file, IcebergSource::MetadataFile),
        lake.spec(missing_dir, missing_in_catalog),
    ] {
        let err = connector.open(&spec, &storage).await.unwrap_err();
        assert!(
            matches!(err, ConnectorError::NotFound { .. }),
            "{:?}: {err:?}",
            spec.location
        );
    }
}
