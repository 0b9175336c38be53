//! Iceberg output for the `supply` domain, registered in a SQL catalog on sqlite.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use iceberg::arrow::schema_to_arrow_schema;
use iceberg::spec::{DataFile, DataFileFormat, NestedField, PrimitiveType, Schema, Type};
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::writer::base_writer::data_file_writer::{DataFileWriter, DataFileWriterBuilder};
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, DefaultLocationGenerator,
};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use iceberg::{Catalog, CatalogBuilder, NamespaceIdent, TableCreation};
use iceberg_catalog_sql::{SqlBindStyle, SqlCatalog, SqlCatalogBuilder};
use iceberg_storage_opendal::OpenDalStorageFactory;
use tokio::sync::Mutex;

use crate::error::DemoError;
use crate::parquet_out::{writer_properties, ROWS_PER_FILE};
use crate::tpch::{ColumnType, TpchTable, DECIMAL_PRECISION, DECIMAL_SCALE};

/// Name under which the tables are recorded in the catalog database (`iceberg_tables.catalog_name`).
/// It matches the `[catalogs.supply]` key of the domain file, so a reader that uses that key as the
/// catalog name finds the tables.
pub const CATALOG_NAME: &str = "supply";

/// Namespace holding the supply tables.
pub const NAMESPACE: &str = "supply";

/// Table property Iceberg engines (Spark, Trino) read the table description from.
const COMMENT_PROPERTY: &str = "comment";

/// SQLite allows one writer at a time; commits of the three tables go through this lock instead of
/// relying on sqlite's busy timeout.
pub(crate) type SharedCatalog = Arc<Mutex<SqlCatalog>>;

/// Opens (creating if needed) the SQL catalog stored in the sqlite file `db`.
pub async fn open_catalog(db: &Path, warehouse: &str) -> Result<SqlCatalog, DemoError> {
    sqlx::any::install_default_drivers();
    let db = db
        .to_str()
        .ok_or_else(|| DemoError::NonUtf8Path(db.into()))?;
    let catalog = SqlCatalogBuilder::default()
        .with_storage_factory(Arc::new(OpenDalStorageFactory::Fs))
        // `mode=rwc` creates the database file on first use.
        .uri(format!("sqlite://{db}?mode=rwc"))
        .warehouse_location(warehouse)
        // sqlite's native placeholder style.
        .sql_bind_style(SqlBindStyle::QMark)
        .load(CATALOG_NAME, HashMap::new())
        .await?;
    Ok(catalog)
}

/// Opens the catalog and creates the namespace the supply tables live in.
pub(crate) async fn prepare_catalog(
    db: &Path,
    warehouse: &str,
) -> Result<SharedCatalog, DemoError> {
    let catalog = open_catalog(db, warehouse).await?;
    let namespace = NamespaceIdent::new(NAMESPACE.to_string());
    if !catalog.namespace_exists(&namespace).await? {
        catalog.create_namespace(&namespace, HashMap::new()).await?;
    }
    Ok(Arc::new(Mutex::new(catalog)))
}

type Writer =
    DataFileWriter<ParquetWriterBuilder, DefaultLocationGenerator, DefaultFileNameGenerator>;
type WriterBuilder =
    DataFileWriterBuilder<ParquetWriterBuilder, DefaultLocationGenerator, DefaultFileNameGenerator>;

/// Streams one TPC-H table into a new Iceberg table and commits it with one fast append.
pub(crate) struct IcebergSink {
    catalog: SharedCatalog,
    table: Table,
    schema: SchemaRef,
    builder: WriterBuilder,
    writer: Option<Writer>,
    rows_in_file: usize,
    files: Vec<DataFile>,
    rows: u64,
}

impl IcebergSink {
    pub(crate) async fn create(tpch: TpchTable, catalog: SharedCatalog) -> Result<Self, DemoError> {
        let creation = TableCreation::builder()
            .name(tpch.name().to_string())
            .schema(iceberg_schema(tpch)?)
            .properties([(COMMENT_PROPERTY.to_string(), tpch.description().to_string())])
            .build();
        let namespace = NamespaceIdent::new(NAMESPACE.to_string());
        let table = catalog
            .lock()
            .await
            .create_table(&namespace, creation)
            .await?;

        // The Parquet writer stores the arrow schema derived from the Iceberg schema (with field
        // ids); batches are re-labelled with it so both agree.
        let schema = Arc::new(schema_to_arrow_schema(table.metadata().current_schema())?);
        let parquet = ParquetWriterBuilder::new(
            writer_properties(tpch),
            table.metadata().current_schema().clone(),
        );
        // Files are rolled by row count below, the same way the other formats do it, so the
        // size-based rolling of the iceberg writer is effectively switched off.
        let rolling = RollingFileWriterBuilder::new(
            parquet,
            usize::MAX,
            table.file_io().clone(),
            DefaultLocationGenerator::new(table.metadata())?,
            DefaultFileNameGenerator::new("part".to_string(), None, DataFileFormat::Parquet),
        );
        Ok(IcebergSink {
            catalog,
            table,
            schema,
            builder: DataFileWriterBuilder::new(rolling),
            writer: None,
            rows_in_file: 0,
            files: Vec::new(),
            rows: 0,
        })
    }

    pub(crate) async fn write(&mut self, batch: RecordBatch) -> Result<(), DemoError> {
        if self.rows_in_file >= ROWS_PER_FILE {
            self.close_file().await?;
        }
        let writer = match &mut self.writer {
            Some(writer) => writer,
            None => self.writer.insert(self.builder.build(None).await?),
        };
        let rows = batch.num_rows();
        writer
            .write(RecordBatch::try_new(
                self.schema.clone(),
                batch.columns().to_vec(),
            )?)
            .await?;
        self.rows_in_file += rows;
        self.rows += rows as u64;
        Ok(())
    }

    async fn close_file(&mut self) -> Result<(), DemoError> {
        if let Some(mut writer) = self.writer.take() {
            self.files.extend(writer.close().await?);
        }
        self.rows_in_file = 0;
        Ok(())
    }

    /// Closes the last data file and commits all of them as one snapshot.
    pub(crate) async fn finish(mut self) -> Result<u64, DemoError> {
        self.close_file().await?;
        let files = std::mem::take(&mut self.files);
        let catalog = self.catalog.lock().await;
        let tx = Transaction::new(&self.table);
        let tx = tx.fast_append().add_data_files(files).apply(tx)?;
        tx.commit(&*catalog).await?;
        Ok(self.rows)
    }
}

/// The Iceberg schema of a TPC-H table: every column required, ids 1..n in column order, and the
/// column description as the field doc.
pub(crate) fn iceberg_schema(tpch: TpchTable) -> Result<Schema, DemoError> {
    let fields = tpch.columns().iter().zip(1..).map(|(c, id)| {
        let ty = match c.ty {
            ColumnType::Key => PrimitiveType::Long,
            ColumnType::Int => PrimitiveType::Int,
            ColumnType::Decimal => PrimitiveType::Decimal {
                precision: u32::from(DECIMAL_PRECISION),
                scale: DECIMAL_SCALE.unsigned_abs().into(),
            },
            ColumnType::Date => PrimitiveType::Date,
            ColumnType::Text => PrimitiveType::String,
        };
        Arc::new(NestedField::required(id, c.name, Type::Primitive(ty)).with_doc(c.description))
    });
    Ok(Schema::builder().with_fields(fields).build()?)
}
