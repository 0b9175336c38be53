//! The same eight tables again, all in one table format: benchmarks compare Delta, Iceberg and
//! Parquet on identical rows.
//!
//! ```text
//! <dir>/copies/<format>/
//!   .complete                    marker: the scale factor and row counts
//!   domains/{sales,supply,geo}.toml
//!   data/<table>/                Delta tables (format delta)
//!   data/catalog.db, data/warehouse/<namespace>/<table>/   Iceberg (format iceberg)
//! ```

use std::path::PathBuf;

use futures::future::try_join_all;

use crate::conf::{self, DomainDef, TableFormat, DOMAINS};
use crate::error::{DemoError, IoContext};
use crate::iceberg_out::{self, NAMESPACE};
use crate::tpch::TpchTable;
use crate::{feed, remove_dir_if_exists, utf8, DemoLayout, Sink};

/// Writes every table of `layout`'s mesh in `format` under `<root>/copies/<format>`, with domain
/// files publishing them as the same three products, and returns the directory of those domain
/// files. A complete copy at the same scale factor is reused. The Parquet copy is the layout's
/// baseline, so `format` is Delta or Iceberg.
pub async fn generate_copy(layout: &DemoLayout, format: TableFormat) -> Result<PathBuf, DemoError> {
    let root = layout.root.join("copies").join(format.as_str());
    let domains = root.join("domains");
    let marker = root.join(crate::MARKER);
    let expected = format!(
        "generator_version = {}\nscale_factor = {:?}\n{:?}\n",
        crate::GENERATOR_VERSION,
        layout.scale_factor,
        layout.row_counts
    );
    if std::fs::read_to_string(&marker).is_ok_and(|m| m == expected) {
        return Ok(domains);
    }
    remove_dir_if_exists(&root)?;
    let data = root.join("data");
    std::fs::create_dir_all(&data).io("create directory", &data)?;
    std::fs::create_dir_all(&domains).io("create directory", &domains)?;
    let catalog_db = data.join("catalog.db");
    let catalog_uri = format!("sqlite://{}", utf8(&catalog_db)?);
    let warehouse = format!("file://{}", utf8(&data.join("warehouse"))?);
    let catalog = iceberg_out::prepare_catalog(&catalog_db, &warehouse).await?;
    let written = try_join_all(TpchTable::ALL.map(|table| {
        let path = match format {
            TableFormat::Iceberg => data.join("warehouse").join(NAMESPACE).join(table.name()),
            _ => data.join(table.name()),
        };
        let catalog = catalog.clone();
        // Boxed, as in `generate`: eight joined futures holding a sink each are too big for a
        // thread's stack in a debug build.
        Box::pin(async move {
            let sink = Sink::create(format, table, &path, catalog).await?;
            let rows = feed(sink, table, layout.scale_factor, None).await?;
            Ok::<_, DemoError>((table, rows))
        })
    }))
    .await?;
    for (table, rows) in written {
        let want = layout.row_counts.get(&table).copied().unwrap_or_default();
        if rows != want {
            return Err(DemoError::RowCountMismatch {
                table: table.name(),
                baseline: want,
                mesh: rows,
            });
        }
    }
    for domain in &DOMAINS {
        let def = DomainDef { format, ..*domain };
        let text = conf::render_domain(&def, utf8(&data)?, &catalog_uri, &warehouse);
        let path = domains.join(format!("{}.toml", domain.name));
        std::fs::write(&path, text).io("write", &path)?;
    }
    std::fs::write(&marker, expected).io("write", &marker)?;
    Ok(domains)
}
