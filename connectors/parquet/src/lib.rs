//! Plain Parquet directories, optionally hive-partitioned (`…/n_regionkey=3/part-0.parquet`),
//! with each partition column where the domain declares it among the table's columns.
//!
//! The table is a DataFusion `ListingTable`: the file schema is inferred once at open time and
//! the directory is listed again on every scan, so new files show up without a reopen (but a
//! schema change needs one). Scans resolve the domain's object store through the session's
//! runtime, where the server registers it under [`Storage::store_url`].

use std::sync::Arc;

use std::any::Any;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::Session;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use meshgate_connector_api::{
    Connector, ConnectorError, OpenedTable, PartitionColumn, Result, Storage, TableSpec,
};

/// Opens Parquet directories (`format: parquet`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ParquetConnector;

#[async_trait]
impl Connector for ParquetConnector {
    fn format(&self) -> &'static str {
        "parquet"
    }

    async fn open(&self, spec: &TableSpec, storage: &Storage) -> Result<OpenedTable> {
        let name = spec.qualified_name.as_str();
        let partition_cols = spec
            .partition_columns
            .iter()
            .map(|c| {
                let arrow_type = arrow_type(&c.sql_type).ok_or_else(|| ConnectorError::Config {
                    table: name.to_string(),
                    reason: format!(
                        "partition column {:?} has unsupported type {:?}",
                        c.name, c.sql_type
                    ),
                })?;
                Ok((c.name.clone(), arrow_type))
            })
            .collect::<Result<Vec<_>>>()?;

        // Schema inference needs to list and read footers now, before the server's session is
        // involved, so it gets a private context that knows only this domain's store.
        let ctx = SessionContext::new();
        ctx.register_object_store(&storage.store_url(), Arc::clone(&storage.object_store));
        let state = ctx.state();

        let table_url =
            ListingTableUrl::parse(spec.location.as_str()).map_err(|e| ConnectorError::Config {
                table: name.to_string(),
                reason: format!("bad location: {e}"),
            })?;
        let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
            .with_file_extension(".parquet")
            .with_table_partition_cols(partition_cols)
            .with_session_config_options(state.config());
        let file_schema = options
            .infer_schema(&state, &table_url)
            .await
            .map_err(|e| ConnectorError::format(name, e))?;
        if file_schema.fields().is_empty() {
            return Err(ConnectorError::NotFound {
                table: name.to_string(),
                reason: "no non-empty .parquet files under the table location".into(),
            });
        }

        let config = ListingTableConfig::new(table_url)
            .with_listing_options(options)
            .with_schema(file_schema);
        let table = ListingTable::try_new(config).map_err(|e| ConnectorError::format(name, e))?;
        let table: Arc<dyn TableProvider> = Arc::new(table);
        let order = declared_order(&table.schema(), &spec.partition_columns);
        if order.iter().enumerate().all(|(i, j)| i == *j) {
            return Ok(OpenedTable::new(table));
        }
        Ok(OpenedTable::new(Arc::new(Reordered::new(table, order))))
    }
}

/// The table's columns in the order the domain declared: the listing puts partition columns
/// after the files' columns, a declared position puts one back where the data's writer had it.
/// Entry `i` is the listing's index of the table's `i`-th column.
fn declared_order(listed: &SchemaRef, partitions: &[PartitionColumn]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..listed.fields().len()).collect();
    let mut placed: Vec<(usize, usize)> = partitions
        .iter()
        .filter_map(|c| Some((c.position?, listed.index_of(&c.name).ok()?)))
        .collect();
    placed.sort();
    order.retain(|i| !placed.iter().any(|(_, j)| j == i));
    for (position, index) in placed {
        let at = position.saturating_sub(1).min(order.len());
        order.insert(at, index);
    }
    order
}

/// A table whose columns are another's, in another order: scans ask the inner table for the
/// columns they want, mapped to its indices.
#[derive(Debug)]
struct Reordered {
    inner: Arc<dyn TableProvider>,
    schema: SchemaRef,
    to_inner: Vec<usize>,
}

impl Reordered {
    fn new(inner: Arc<dyn TableProvider>, to_inner: Vec<usize>) -> Self {
        let listed = inner.schema();
        let fields: Vec<_> = to_inner.iter().map(|i| listed.field(*i).clone()).collect();
        let schema = Arc::new(Schema::new_with_metadata(fields, listed.metadata().clone()));
        Reordered {
            inner,
            schema,
            to_inner,
        }
    }
}

#[async_trait]
impl TableProvider for Reordered {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let inner: Vec<usize> = match projection {
            Some(p) => p.iter().map(|i| self.to_inner[*i]).collect(),
            None => self.to_inner.clone(),
        };
        self.inner.scan(state, Some(&inner), filters, limit).await
    }

    // Filters name columns, not positions: the inner table decides as it would alone.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }
}

/// Maps the SQL type name of a partition column to the Arrow type its path values are parsed as.
/// Only types whose values read naturally in a directory name are accepted.
fn arrow_type(sql_type: &str) -> Option<DataType> {
    let normalized = sql_type.trim().to_ascii_lowercase();
    // Length and precision arguments (`varchar(20)`) do not change how a path value is read.
    let base = normalized.split('(').next().unwrap_or_default().trim();
    Some(match base {
        "tinyint" | "int1" => DataType::Int8,
        "smallint" | "int2" => DataType::Int16,
        "int" | "integer" | "int4" => DataType::Int32,
        "bigint" | "int8" | "long" => DataType::Int64,
        "real" | "float4" | "float" => DataType::Float32,
        "double" | "double precision" | "float8" => DataType::Float64,
        "boolean" | "bool" => DataType::Boolean,
        "varchar" | "text" | "string" | "char" | "character" | "character varying" => {
            DataType::Utf8
        }
        "date" => DataType::Date32,
        "timestamp" => DataType::Timestamp(TimeUnit::Microsecond, None),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::Field;

    #[test]
    fn maps_sql_type_names() {
        assert_eq!(arrow_type("int"), Some(DataType::Int32));
        assert_eq!(arrow_type(" BIGINT "), Some(DataType::Int64));
        assert_eq!(arrow_type("varchar(25)"), Some(DataType::Utf8));
        assert_eq!(arrow_type("text"), Some(DataType::Utf8));
        assert_eq!(arrow_type("date"), Some(DataType::Date32));
        assert_eq!(arrow_type("geometry"), None);
    }

    #[test]
    fn a_declared_position_puts_the_partition_column_back() {
        let listed: SchemaRef = Arc::new(Schema::new(
            ["n_nationkey", "n_name", "n_comment", "n_regionkey"]
                .map(|n| Field::new(n, DataType::Utf8, true))
                .to_vec(),
        ));
        let mut region = PartitionColumn::new("n_regionkey", "bigint");
        assert_eq!(declared_order(&listed, &[region.clone()]), [0, 1, 2, 3]);
        region.position = Some(3);
        assert_eq!(declared_order(&listed, &[region.clone()]), [0, 1, 3, 2]);
        region.position = Some(1);
        assert_eq!(declared_order(&listed, &[region]), [3, 0, 1, 2]);
    }
}
