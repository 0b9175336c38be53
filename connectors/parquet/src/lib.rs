//! Plain Parquet directories, optionally hive-partitioned (`…/n_regionkey=3/part-0.parquet`).
//!
//! The table is a DataFusion `ListingTable`: the file schema is inferred once at open time and
//! the directory is listed again on every scan, so new files show up without a reopen (but a
//! schema change needs one). Scans resolve the domain's object store through the session's
//! runtime, where the server registers it under [`Storage::store_url`].

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::SessionContext;
use meshgate_connector_api::{Connector, ConnectorError, OpenedTable, Result, Storage, TableSpec};

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
            .map(|(column, sql_type)| {
                let arrow_type = arrow_type(sql_type).ok_or_else(|| ConnectorError::Config {
                    table: name.to_string(),
                    reason: format!(
                        "partition column {column:?} has unsupported type {sql_type:?}"
                    ),
                })?;
                Ok((column.clone(), arrow_type))
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
        Ok(OpenedTable::new(Arc::new(table)))
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

    #[test]
    fn maps_sql_type_names() {
        assert_eq!(arrow_type("int"), Some(DataType::Int32));
        assert_eq!(arrow_type(" BIGINT "), Some(DataType::Int64));
        assert_eq!(arrow_type("varchar(25)"), Some(DataType::Utf8));
        assert_eq!(arrow_type("text"), Some(DataType::Utf8));
        assert_eq!(arrow_type("date"), Some(DataType::Date32));
        assert_eq!(arrow_type("geometry"), None);
    }
}
