//! The provider: a fixed list of files, scanned by DataFusion's Parquet scan.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{FieldRef, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::pruning::PrunableStatistics;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{Column, DFSchema, DataFusionError, Statistics};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_optimizer::pruning::PruningPredicate;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::ExecutionPlan;

use crate::{stats, DataFile};

/// One version of a table, as the exact list of its Parquet files.
#[derive(Debug)]
pub struct LakeTable {
    /// The columns as the table shows them (the format library's own provider's schema, so a
    /// fallback and this provider are interchangeable).
    schema: SchemaRef,
    /// The columns read from the files, then the partition columns: the scan's own order.
    scan_schema: SchemaRef,
    file_schema: SchemaRef,
    partition_fields: Vec<FieldRef>,
    /// Entry `i` is the scan's index of the table's `i`-th column.
    to_scan: Vec<usize>,
    store: ObjectStoreUrl,
    files: Vec<DataFile>,
}

impl LakeTable {
    /// `partition_columns` name the columns of `schema` whose values come from the metadata
    /// rather than the files, in the order of each [`DataFile::partition_values`].
    pub fn try_new(
        schema: SchemaRef,
        partition_columns: &[String],
        store: ObjectStoreUrl,
        files: Vec<DataFile>,
    ) -> Result<Self> {
        let partition_fields = partition_columns
            .iter()
            .map(|name| Ok(Arc::new(schema.field_with_name(name)?.clone())))
            .collect::<Result<Vec<FieldRef>>>()?;
        let file_fields: Vec<FieldRef> = schema
            .fields()
            .iter()
            .filter(|f| !partition_columns.contains(f.name()))
            .cloned()
            .collect();
        let file_schema = Arc::new(Schema::new_with_metadata(
            file_fields.clone(),
            schema.metadata().clone(),
        ));
        let scan_schema = Arc::new(Schema::new(
            file_fields
                .iter()
                .chain(partition_fields.iter())
                .cloned()
                .collect::<Vec<_>>(),
        ));
        let to_scan = schema
            .fields()
            .iter()
            .map(|f| scan_schema.index_of(f.name()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        for f in &files {
            if f.partition_values.len() != partition_fields.len()
                || f.columns.len() != file_fields.len()
            {
                return Err(DataFusionError::Internal(format!(
                    "data file {} does not describe the table's columns",
                    f.path
                )));
            }
        }
        Ok(LakeTable {
            schema,
            scan_schema,
            file_schema,
            partition_fields,
            to_scan,
            store,
            files,
        })
    }

    pub fn files(&self) -> &[DataFile] {
        &self.files
    }

    /// The files some row of which may satisfy all of `filters`, by their bounds and partition
    /// values. A filter that cannot be turned into a pruning predicate keeps every file.
    fn candidates(&self, state: &dyn Session, filters: &[Expr]) -> Vec<&DataFile> {
        let all = || self.files.iter().collect();
        if filters.is_empty() || self.files.len() < 2 {
            return all();
        }
        let Ok(df_schema) = DFSchema::try_from(Arc::clone(&self.scan_schema)) else {
            return all();
        };
        let predicates: Vec<_> = filters
            .iter()
            .filter_map(|f| {
                let f = unqualified(f.clone())?;
                state.create_physical_expr(f, &df_schema).ok()
            })
            .collect();
        if predicates.is_empty() {
            return all();
        }
        let stats = PrunableStatistics::new(
            self.files
                .iter()
                .map(|f| f.partitioned().statistics.expect("set by partitioned()"))
                .collect(),
            Arc::clone(&self.scan_schema),
        );
        let mut keep = vec![true; self.files.len()];
        for p in predicates {
            let Ok(pruning) = PruningPredicate::try_new(p, Arc::clone(&self.scan_schema)) else {
                continue;
            };
            if pruning.always_true() {
                continue;
            }
            match pruning.prune(&stats) {
                Ok(mask) => keep.iter_mut().zip(mask).for_each(|(k, m)| *k &= m),
                Err(e) => tracing::debug!("file pruning skipped: {e}"),
            }
        }
        self.files
            .iter()
            .zip(keep)
            .filter_map(|(f, k)| k.then_some(f))
            .collect()
    }
}

/// Filters reach a scan with their columns qualified by the table's name in the query; the
/// pruning schema has no qualifier. Expressions that are not plain column logic are left out.
fn unqualified(e: Expr) -> Option<Expr> {
    e.transform(|e| {
        Ok(match e {
            Expr::Column(c) => Transformed::yes(Expr::Column(Column::new_unqualified(c.name))),
            other => Transformed::no(other),
        })
    })
    .data()
    .ok()
}

/// Files spread over `n` groups by size, largest first into the lightest group, so the scan's
/// partitions do about equal work (DataFusion may still split large files by byte range).
fn grouped(mut files: Vec<&DataFile>, n: usize) -> Vec<FileGroup> {
    let n = n.clamp(1, files.len().max(1));
    files.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.path.cmp(&b.path)));
    let mut groups: Vec<(u64, Vec<_>)> = vec![(0, Vec::new()); n];
    for f in files {
        let lightest = groups
            .iter_mut()
            .min_by_key(|(bytes, _)| *bytes)
            .expect("at least one group");
        lightest.0 += f.size;
        lightest.1.push(f.partitioned());
    }
    groups
        .into_iter()
        .filter(|(_, g)| !g.is_empty())
        .map(|(_, g)| FileGroup::new(g))
        .collect()
}

#[async_trait]
impl TableProvider for LakeTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let columns: Vec<usize> = match projection {
            Some(p) => p.iter().map(|i| self.to_scan[*i]).collect(),
            None => self.to_scan.clone(),
        };
        let files = self.candidates(state, filters);
        if files.is_empty() {
            let projected = self.scan_schema.project(&columns)?;
            return Ok(Arc::new(EmptyExec::new(Arc::new(projected))));
        }
        let statistics: Statistics = stats::summed(
            &files,
            self.file_schema.fields().len(),
            self.partition_fields.len(),
        );
        let groups = grouped(files, state.config_options().execution.target_partitions);

        let format = ParquetFormat::default().with_options(state.table_options().parquet.clone());
        let source = format.file_source(TableSchema::new(
            Arc::clone(&self.file_schema),
            self.partition_fields.clone(),
        ));
        let config = FileScanConfigBuilder::new(self.store.clone(), source)
            .with_file_groups(groups)
            .with_statistics(statistics)
            .with_projection_indices(Some(columns))?
            .with_limit(limit)
            .build();
        format.create_physical_plan(state, config).await
    }

    /// Every filter is also applied above the scan: bounds only rule files out, and the Parquet
    /// scan uses the pushed predicate for row groups and pages, not as an exact filter.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    fn statistics(&self) -> Option<Statistics> {
        let all: Vec<&DataFile> = self.files.iter().collect();
        let summed = stats::summed(
            &all,
            self.file_schema.fields().len(),
            self.partition_fields.len(),
        );
        let columns = self
            .to_scan
            .iter()
            .map(|i| summed.column_statistics[*i].clone())
            .collect();
        Some(Statistics {
            column_statistics: columns,
            ..summed
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::path::Path;

    fn file(name: &str, size: u64) -> DataFile {
        DataFile {
            path: Path::from(name),
            size,
            rows: None,
            partition_values: Vec::new(),
            columns: Vec::new(),
        }
    }

    #[test]
    fn files_are_spread_over_the_partitions_by_size() {
        let files = [
            file("a", 40),
            file("b", 40),
            file("c", 40),
            file("d", 40),
            file("e", 29),
            file("f", 11),
        ];
        let groups = grouped(files.iter().collect(), 2);
        let bytes: Vec<u64> = groups
            .iter()
            .map(|g| g.iter().map(|f| f.object_meta.size).sum())
            .collect();
        assert_eq!(bytes, [109, 91]);
        let groups = grouped(files.iter().collect(), 3);
        let bytes: Vec<u64> = groups
            .iter()
            .map(|g| g.iter().map(|f| f.object_meta.size).sum())
            .collect();
        assert_eq!(bytes.iter().sum::<u64>(), 200);
        assert_eq!(bytes, [80, 69, 51]);
        // Never more groups than files.
        assert_eq!(grouped(files[..2].iter().collect(), 8).len(), 2);
    }
}
