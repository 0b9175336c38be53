//! An Iceberg snapshot as the exact list of its data files, for [`LakeTable`].
//!
//! The snapshot's manifests give every live data file with its size, row count and per-column
//! bounds (by field id), read once at open time; DataFusion's Parquet scan then reads the files
//! through the session's object store and footer cache, instead of iceberg-rust's reader
//! planning the manifests again at every scan. Whatever this reading would get wrong is refused
//! here, with the reason, and the caller keeps iceberg-rust's provider.

use std::collections::HashSet;

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::execution::object_store::ObjectStoreUrl;
use futures::{StreamExt, TryStreamExt};
use iceberg::spec::{
    DataContentType, DataFileFormat, Datum, ManifestList, PrimitiveLiteral, PrimitiveType,
    SnapshotRef, Transform,
};
use iceberg::table::Table;
use meshgate_connector_api::{Storage, TableSpec};
use meshgate_lakescan::{ColumnBounds, DataFile, LakeTable};
use object_store::path::Path;

/// Where iceberg-rust's Arrow schema keeps a column's field id.
const FIELD_ID: &str = "PARQUET:field_id";

/// The snapshot's files as a [`LakeTable`] showing `schema` (iceberg-rust's provider's), or why
/// not. A table without a snapshot has no files.
pub(crate) async fn lake_table(
    spec: &TableSpec,
    table: &Table,
    snapshot: Option<&SnapshotRef>,
    storage: &Storage,
    schema: SchemaRef,
) -> Result<LakeTable, String> {
    let metadata = table.metadata();
    if metadata
        .properties()
        .contains_key("schema.name-mapping.default")
    {
        // Files written without field ids, matched to columns by a name mapping.
        return Err("a name mapping".into());
    }
    if let Some(field) = schema
        .fields()
        .iter()
        .find(|f| !meshgate_lakescan::plain_type(f.data_type()))
    {
        return Err(format!(
            "column {} has type {}, which the Parquet scan is not trusted with here",
            field.name(),
            field.data_type()
        ));
    }
    let ids = schema
        .fields()
        .iter()
        .map(|f| {
            f.metadata()
                .get(FIELD_ID)
                .and_then(|id| id.parse::<i32>().ok())
                .ok_or_else(|| format!("column {} has no field id", f.name()))
        })
        .collect::<Result<Vec<i32>, String>>()?;
    same_names(table, &schema, &ids)?;
    let schema = view_types(&schema);

    let Some(snapshot) = snapshot else {
        return LakeTable::try_new(schema, &[], ObjectStoreUrl::local_filesystem(), Vec::new())
            .map_err(|e| e.to_string());
    };
    if snapshot.encryption_key_id().is_some() {
        return Err("encrypted manifests".into());
    }
    let io = table.file_io();
    let listed = io
        .new_input(snapshot.manifest_list())
        .map_err(|e| e.to_string())?
        .read()
        .await
        .map_err(|e| e.to_string())?;
    let list = ManifestList::parse_with_version(&listed, metadata.format_version())
        .map_err(|e| e.to_string())?;
    let manifests: Vec<_> =
        futures::stream::iter(list.consume_entries().into_iter().collect::<Vec<_>>())
            .map(|m| {
                let io = io.clone();
                async move { m.load_manifest(&io).await }
            })
            .buffered(8)
            .try_collect()
            .await
            .map_err(|e| e.to_string())?;

    // Identity partitions are written into the files too; a file imported without its
    // partition column would need the value from the manifest.
    let identity_sources: HashSet<i32> = metadata
        .partition_specs_iter()
        .flat_map(|s| s.fields().iter())
        .filter(|f| f.transform == Transform::Identity)
        .map(|f| f.source_id)
        .collect();

    let roots = roots(spec, storage);
    let mut store: Option<(String, ObjectStoreUrl)> = None;
    let mut files = Vec::new();
    for entry in manifests.iter().flat_map(|m| m.entries().iter()) {
        if !entry.is_alive() {
            continue;
        }
        if entry.content_type() != DataContentType::Data {
            return Err("delete files (position or equality deletes)".into());
        }
        if entry.file_format() != DataFileFormat::Parquet {
            return Err(format!("a {:?} data file", entry.file_format()));
        }
        let file = entry.data_file();
        let (key, path) = object_path(file.file_path())?;
        if !roots
            .iter()
            .any(|(k, p)| *k == key && path.prefix_matches(p))
        {
            // The audit places a file scan's bytes by where its files are: under the domain's
            // root or a table location it knows.
            return Err("data files outside the domain's root and the table's location".into());
        }
        match &store {
            Some((k, _)) if *k != key => return Err("data files in more than one store".into()),
            Some(_) => {}
            None => store = Some((key.clone(), store_url(&key, storage)?)),
        }
        let counted = file.value_counts();
        if !counted.is_empty() && identity_sources.iter().any(|id| !counted.contains_key(id)) {
            return Err("a data file without its identity partition column".into());
        }
        let columns = schema
            .fields()
            .iter()
            .zip(&ids)
            .map(|(field, id)| ColumnBounds {
                min: bound(file.lower_bounds().get(id), field),
                max: bound(file.upper_bounds().get(id), field),
                null_count: file.null_value_counts().get(id).copied(),
            })
            .collect();
        files.push(DataFile {
            path,
            size: file.file_size_in_bytes(),
            rows: Some(file.record_count()),
            partition_values: Vec::new(),
            columns,
        });
    }
    let store = store.map_or_else(ObjectStoreUrl::local_filesystem, |(_, url)| url);
    LakeTable::try_new(schema, &[], store, files).map_err(|e| e.to_string())
}

/// DataFusion matches file columns to table columns by name, iceberg-rust by field id. They
/// agree when no schema the table ever had gave a field id another name, or a name another id
/// (a rename, or a column dropped and added back), and no column has a default for files
/// written before it was added.
fn same_names(table: &Table, schema: &SchemaRef, ids: &[i32]) -> Result<(), String> {
    let current: Vec<(&str, i32)> = schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .zip(ids.iter().copied())
        .collect();
    for old in table.metadata().schemas_iter() {
        for field in old.as_struct().fields() {
            for (name, id) in &current {
                if (*id == field.id) != (*name == field.name) {
                    return Err(format!(
                        "schema evolution: field {} was named {} (now {})",
                        field.id, field.name, name
                    ));
                }
            }
            if field.initial_default.is_some() {
                return Err(format!("column {} has an initial default", field.name));
            }
        }
    }
    Ok(())
}

/// Where the mesh knows this table's files may be: the domain's root, and the table's own
/// location when it is given by one (a table directory, or a metadata file two levels below it).
fn roots(spec: &TableSpec, storage: &Storage) -> Vec<(String, Path)> {
    let mut out = Vec::new();
    let mut add = |url: &url::Url| {
        let mut path = url.path().to_string();
        if path.ends_with(".json") {
            path = path.rsplitn(3, '/').nth(2).unwrap_or("").to_string();
        }
        if let Ok(p) = Path::from_url_path(&path) {
            out.push((format!("{}://{}", url.scheme(), url.authority()), p));
        }
    };
    add(&storage.root);
    if spec.catalog_table().is_none() {
        add(&spec.location);
    }
    out
}

/// Strings and binaries as Arrow's view types, which DataFusion's Parquet scan decodes into
/// (`schema_force_view_types`, on by default, as for plain Parquet tables and delta-rs): a
/// table declared with the plain types would have every batch copied into them.
fn view_types(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let t = match f.data_type() {
                DataType::Utf8 | DataType::LargeUtf8 => DataType::Utf8View,
                DataType::Binary | DataType::LargeBinary => DataType::BinaryView,
                t => t.clone(),
            };
            f.as_ref().clone().with_data_type(t)
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// `scheme://authority` and the object path of a data file's location.
fn object_path(location: &str) -> Result<(String, Path), String> {
    let url =
        url::Url::parse(location).map_err(|e| format!("data file location {location:?}: {e}"))?;
    let key = format!("{}://{}", url.scheme(), url.authority());
    let path = Path::from_url_path(url.path()).map_err(|e| e.to_string())?;
    Ok((key, path))
}

/// The session reaches a domain's files through the store registered under the domain's URL
/// (local files need none); iceberg-rust may reach others through its own FileIO.
fn store_url(key: &str, storage: &Storage) -> Result<ObjectStoreUrl, String> {
    let domain = storage.store_url();
    let domain = format!("{}://{}", domain.scheme(), domain.authority());
    if !key.starts_with("file://") && key != domain {
        return Err("data files outside the domain's object store".into());
    }
    ObjectStoreUrl::parse(key).map_err(|e| e.to_string())
}

/// A manifest bound as the column's type. Iceberg's bounds hold for every row (truncated upper
/// bounds are rounded up), except that floats' leave NaN out: those are not used.
fn bound(datum: Option<&Datum>, field: &Field) -> Option<ScalarValue> {
    let datum = datum?;
    let v = match (datum.data_type(), datum.literal()) {
        (PrimitiveType::Boolean, PrimitiveLiteral::Boolean(b)) => ScalarValue::Boolean(Some(*b)),
        (PrimitiveType::Int, PrimitiveLiteral::Int(i)) => ScalarValue::Int32(Some(*i)),
        (PrimitiveType::Long, PrimitiveLiteral::Long(i)) => ScalarValue::Int64(Some(*i)),
        (PrimitiveType::Date, PrimitiveLiteral::Int(d)) => ScalarValue::Date32(Some(*d)),
        (PrimitiveType::Timestamp, PrimitiveLiteral::Long(t)) => {
            ScalarValue::TimestampMicrosecond(Some(*t), None)
        }
        (PrimitiveType::Timestamptz, PrimitiveLiteral::Long(t)) => {
            ScalarValue::TimestampMicrosecond(Some(*t), Some("+00:00".into()))
        }
        (PrimitiveType::String, PrimitiveLiteral::String(s)) => ScalarValue::Utf8(Some(s.clone())),
        (PrimitiveType::Binary, PrimitiveLiteral::Binary(b)) => {
            ScalarValue::Binary(Some(b.clone()))
        }
        (PrimitiveType::Decimal { precision, scale }, PrimitiveLiteral::Int128(v)) => {
            ScalarValue::Decimal128(
                Some(*v),
                u8::try_from(*precision).ok()?,
                i8::try_from(*scale).ok()?,
            )
        }
        _ => return None,
    };
    let to = field.data_type();
    // A `timestamptz` bound is UTC, a `timestamp` bound wall-clock: never converted into each other.
    if let (ScalarValue::TimestampMicrosecond(_, tz), DataType::Timestamp(_, want)) = (&v, to) {
        if tz.is_some() != want.is_some() {
            return None;
        }
    }
    if v.data_type() == *to {
        return Some(v);
    }
    v.cast_to(to).ok()
}
