//! Generates a TPC-H data mesh for demos, tests and benchmarks.
//!
//! [`generate`] writes the eight TPC-H tables twice: once into three domains, each with its own
//! table format, and once as plain Parquet (the *baseline*) that an in-process DataFusion can
//! read directly to check and time the mesh against.
//!
//! ```text
//! <dir>/
//!   .complete                              marker: generator version, scale factor, row counts
//!   conf/domains/{sales,supply,geo}.toml   domain files (absolute paths)
//!   data/sales/{orders,lineitem,customer}/ Delta tables
//!   data/supply/catalog.db                 Iceberg SQL catalog (sqlite), namespace `supply`
//!   data/supply/warehouse/supply/{part,partsupp,supplier}/   Iceberg tables
//!   data/geo/region/part-0.parquet         plain Parquet
//!   data/geo/nation/n_regionkey=<k>/part-0.parquet   Hive-partitioned Parquet
//!   baseline/<table>/part-<n>.parquet      plain Parquet copies of all eight tables
//! ```
//!
//! Each table is generated once: a blocking thread turns `tpchgen` rows into batches and writes
//! the baseline, and hands the same batches over a small bounded channel to the format writer.
//! Memory therefore stays around one file's worth of row groups per table regardless of scale.

mod conf;
mod copies;
mod delta;
mod error;
mod iceberg_out;
mod parquet_out;
mod tpch;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use datafusion::arrow::record_batch::RecordBatch;
use futures::future::try_join_all;
use tokio::sync::mpsc;

pub use conf::{domain_of, partition_column, DomainDef, TableFormat, DOMAINS, ROLES_TOML};
pub use copies::generate_copy;
pub use delta::COMMENT_KEY;
pub use error::DemoError;
pub use iceberg_out::{open_catalog, CATALOG_NAME, NAMESPACE};
pub use parquet_out::{PAGE_ROWS, ROWS_PER_FILE, ROW_GROUP_ROWS};
pub use tpch::{
    tpch_batches, tpch_batches_part, ColumnDef, ColumnType, TpchBatches, TpchTable, BATCH_ROWS,
    DECIMAL_PRECISION, DECIMAL_SCALE,
};

use error::IoContext;
use iceberg_out::SharedCatalog;

/// Bumped whenever the generated files change, so that an existing mesh made by an older
/// generator is rebuilt instead of reused.
const GENERATOR_VERSION: u32 = 2;

const MARKER: &str = ".complete";
const LOCK: &str = ".lock";

/// Batches in flight between a table's generator thread and its format writer.
const CHANNEL_BATCHES: usize = 4;

/// What to generate and where.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Root directory of the mesh; created if missing.
    pub dir: PathBuf,
    /// TPC-H scale factor (1.0 ≈ 1 GB of raw data; 0.01 and 0.1 are handy for tests).
    pub scale_factor: f64,
}

/// Where [`generate`] put everything. All paths are absolute.
#[derive(Debug, Clone)]
pub struct DemoLayout {
    /// The (canonicalised) `DemoOptions::dir`.
    pub root: PathBuf,
    /// `<root>/data`: one sub-directory per domain.
    pub data_dir: PathBuf,
    /// `<root>/conf`: the configuration directory to start the server with.
    pub conf_dir: PathBuf,
    /// `<root>/conf/domains`: one `<domain>.toml` per domain.
    pub domains_dir: PathBuf,
    /// `<root>/baseline`: `<table>/part-<n>.parquet` for every table.
    pub baseline_dir: PathBuf,
    /// The sqlite file holding the Iceberg SQL catalog.
    pub catalog_db: PathBuf,
    /// The catalog URI as written to `supply.toml`.
    pub catalog_uri: String,
    /// The Iceberg warehouse location as written to `supply.toml`.
    pub warehouse: String,
    pub scale_factor: f64,
    /// Rows per table, identical in the mesh and in the baseline.
    pub row_counts: BTreeMap<TpchTable, u64>,
    /// False when an existing complete mesh was reused.
    pub generated: bool,
}

impl DemoLayout {
    fn new(root: PathBuf, scale_factor: f64) -> Result<Self, DemoError> {
        let data_dir = root.join("data");
        let conf_dir = root.join("conf");
        let catalog_db = data_dir.join("supply").join("catalog.db");
        let warehouse_dir = data_dir.join("supply").join("warehouse");
        let catalog_uri = format!("sqlite://{}", utf8(&catalog_db)?);
        // Not percent-encoded on purpose: iceberg's local file IO strips `file:/` and uses the
        // rest verbatim.
        let warehouse = format!("file://{}", utf8(&warehouse_dir)?);
        Ok(DemoLayout {
            domains_dir: conf_dir.join("domains"),
            baseline_dir: root.join("baseline"),
            root,
            data_dir,
            conf_dir,
            catalog_db,
            catalog_uri,
            warehouse,
            scale_factor,
            row_counts: BTreeMap::new(),
            generated: false,
        })
    }

    /// `data/<domain>`, the storage root of a domain.
    pub fn domain_dir(&self, domain: &str) -> PathBuf {
        self.data_dir.join(domain)
    }

    /// The domain file of `domain`.
    pub fn domain_file(&self, domain: &str) -> PathBuf {
        self.domains_dir.join(format!("{domain}.toml"))
    }

    /// Directory holding the baseline Parquet files of `table`.
    pub fn baseline_path(&self, table: TpchTable) -> PathBuf {
        self.baseline_dir.join(table.name())
    }

    /// Location of the mesh copy of `table`. For Iceberg tables this is the table directory in
    /// the warehouse; readers should still go through the catalog.
    pub fn table_path(&self, table: TpchTable) -> PathBuf {
        let domain = domain_of(table);
        match domain.format {
            TableFormat::Iceberg => self
                .domain_dir(domain.name)
                .join("warehouse")
                .join(NAMESPACE)
                .join(table.name()),
            TableFormat::Delta | TableFormat::Parquet => {
                self.domain_dir(domain.name).join(table.name())
            }
        }
    }

    fn marker_path(&self) -> PathBuf {
        self.root.join(MARKER)
    }
}

/// Generates the mesh described in the crate docs under `opts.dir`.
///
/// If `opts.dir` already holds a complete mesh made by this generator at the same scale factor,
/// nothing is regenerated (the domain files are rewritten only if they would change). Otherwise
/// `data/` and `baseline/` are wiped and rebuilt, and the `.complete` marker is written last, so
/// an interrupted run is redone next time.
pub async fn generate(opts: &DemoOptions) -> Result<DemoLayout, DemoError> {
    let sf = opts.scale_factor;
    if !(sf.is_finite() && sf > 0.0) {
        return Err(DemoError::InvalidScaleFactor(sf));
    }
    std::fs::create_dir_all(&opts.dir).io("create directory", &opts.dir)?;
    let root = std::fs::canonicalize(&opts.dir).io("resolve", &opts.dir)?;
    let mut layout = DemoLayout::new(root, sf)?;
    // Tests and benchmarks in several processes (or threads) may ask for the same mesh at once;
    // without the lock one would wipe the files another is writing or reading.
    let _lock = lock_root(&layout.root).await?;

    if let Some(row_counts) = read_marker(&layout)? {
        tracing::info!(root = %layout.root.display(), sf, "reusing existing TPC-H mesh");
        layout.row_counts = row_counts;
        write_domain_files(&layout)?;
        return Ok(layout);
    }

    let started = std::time::Instant::now();
    remove_if_exists(&layout.marker_path())?;
    remove_dir_if_exists(&layout.data_dir)?;
    remove_dir_if_exists(&layout.baseline_dir)?;
    for domain in &DOMAINS {
        let dir = layout.domain_dir(domain.name);
        std::fs::create_dir_all(&dir).io("create directory", &dir)?;
    }
    std::fs::create_dir_all(&layout.baseline_dir).io("create directory", &layout.baseline_dir)?;

    let catalog = iceberg_out::prepare_catalog(&layout.catalog_db, &layout.warehouse).await?;
    let counts = try_join_all(
        TpchTable::ALL.map(|table| Box::pin(write_table(&layout, table, catalog.clone()))),
    )
    .await?;
    layout.row_counts = TpchTable::ALL.into_iter().zip(counts).collect();

    write_domain_files(&layout)?;
    write_marker(&layout)?;
    layout.generated = true;
    tracing::info!(
        root = %layout.root.display(),
        sf,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "generated TPC-H mesh"
    );
    Ok(layout)
}

/// Takes an exclusive advisory lock on `<root>/.lock`, held until the returned file is dropped.
async fn lock_root(root: &Path) -> Result<std::fs::File, DemoError> {
    let path = root.join(LOCK);
    tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .io("open", &path)?;
        file.lock().io("lock", &path)?;
        Ok(file)
    })
    .await
    .map_err(|source| DemoError::Task {
        what: "locking the mesh directory".into(),
        source,
    })?
}

/// Where one table's batches go besides the baseline.
// One value per table being written, so the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Sink {
    Delta(delta::DeltaSink),
    Iceberg(iceberg_out::IcebergSink),
    Parquet(parquet_out::RollingParquetWriter),
    HiveParquet(parquet_out::HiveParquetWriter),
}

impl Sink {
    async fn open(
        layout: &DemoLayout,
        table: TpchTable,
        catalog: SharedCatalog,
    ) -> Result<Self, DemoError> {
        let path = layout.table_path(table);
        Self::create(domain_of(table).format, table, &path, catalog).await
    }

    /// A new table at `path` (an Iceberg table goes where its catalog's warehouse puts it).
    pub(crate) async fn create(
        format: TableFormat,
        table: TpchTable,
        path: &Path,
        catalog: SharedCatalog,
    ) -> Result<Self, DemoError> {
        Ok(match format {
            TableFormat::Delta => Sink::Delta(delta::DeltaSink::create(table, path).await?),
            TableFormat::Iceberg => {
                Sink::Iceberg(iceberg_out::IcebergSink::create(table, catalog).await?)
            }
            TableFormat::Parquet => match partition_column(table) {
                Some((column, _)) => Sink::HiveParquet(parquet_out::HiveParquetWriter::new(
                    path,
                    table,
                    &table.schema(),
                    column,
                )?),
                None => Sink::Parquet(parquet_out::RollingParquetWriter::new(
                    path,
                    table,
                    table.schema(),
                )?),
            },
        })
    }

    async fn write(&mut self, batch: RecordBatch) -> Result<(), DemoError> {
        match self {
            Sink::Delta(sink) => sink.write(batch).await,
            Sink::Iceberg(sink) => sink.write(batch).await,
            Sink::Parquet(sink) => sink.write(&batch),
            Sink::HiveParquet(sink) => sink.write(&batch),
        }
    }

    /// Completes the table (commits, for the table formats) and returns its row count.
    async fn finish(self) -> Result<u64, DemoError> {
        match self {
            Sink::Delta(sink) => sink.finish().await,
            Sink::Iceberg(sink) => sink.finish().await,
            Sink::Parquet(sink) => sink.finish(),
            Sink::HiveParquet(sink) => sink.finish(),
        }
    }
}

/// Generates `table` once, writing the baseline on a blocking thread and the mesh copy here.
async fn write_table(
    layout: &DemoLayout,
    table: TpchTable,
    catalog: SharedCatalog,
) -> Result<u64, DemoError> {
    let sink = Sink::open(layout, table, catalog).await?;
    // Boxed: eight of these futures are joined, and unboxed their size (a sink each, in a
    // debug build) overflows a test thread's stack.
    let baseline = Some(layout.baseline_path(table));
    Box::pin(feed(sink, table, layout.scale_factor, baseline)).await
}

/// Generates `table` into `sink` (and into a baseline Parquet copy when given one), checking
/// both got every row; returns the row count.
pub(crate) async fn feed(
    mut sink: Sink,
    table: TpchTable,
    sf: f64,
    baseline_dir: Option<PathBuf>,
) -> Result<u64, DemoError> {
    let (tx, mut rx) = mpsc::channel::<RecordBatch>(CHANNEL_BATCHES);
    let producer = tokio::task::spawn_blocking(move || -> Result<u64, DemoError> {
        let mut baseline = match &baseline_dir {
            Some(dir) => Some(parquet_out::RollingParquetWriter::new(
                dir,
                table,
                table.schema(),
            )?),
            None => None,
        };
        let mut rows = 0u64;
        for batch in tpch_batches(table, sf) {
            rows += batch.num_rows() as u64;
            if let Some(b) = baseline.as_mut() {
                b.write(&batch)?;
            }
            if tx.blocking_send(batch).is_err() {
                // The sink failed and dropped the receiver; its error is the one reported.
                break;
            }
        }
        match baseline {
            Some(b) => b.finish(),
            None => Ok(rows),
        }
    });

    let mut sink_result = Ok(());
    while let Some(batch) = rx.recv().await {
        if let Err(e) = sink.write(batch).await {
            sink_result = Err(e);
            break;
        }
    }
    drop(rx);
    let baseline_rows = producer.await.map_err(|source| DemoError::Task {
        what: format!("generating {table}"),
        source,
    })?;
    sink_result?;
    // Commit only once the generator finished cleanly: a channel closed by a failed generator
    // must not be mistaken for the end of the table.
    let baseline_rows = baseline_rows?;
    let mesh_rows = sink.finish().await?;
    if mesh_rows != baseline_rows {
        return Err(DemoError::RowCountMismatch {
            table: table.name(),
            baseline: baseline_rows,
            mesh: mesh_rows,
        });
    }
    tracing::debug!(table = table.name(), rows = mesh_rows, "table written");
    Ok(mesh_rows)
}

fn write_domain_files(layout: &DemoLayout) -> Result<(), DemoError> {
    std::fs::create_dir_all(&layout.domains_dir).io("create directory", &layout.domains_dir)?;
    for domain in &DOMAINS {
        let root = layout.domain_dir(domain.name);
        let text =
            conf::render_domain(domain, utf8(&root)?, &layout.catalog_uri, &layout.warehouse);
        conf::write_if_changed(&layout.domain_file(domain.name), &text)?;
    }
    Ok(())
}

/// The marker's fixed part; a mesh is reused only if it matches exactly. The root is included
/// because the Iceberg metadata and the domain files hold absolute paths.
fn marker_header(layout: &DemoLayout) -> Result<String, DemoError> {
    Ok(format!(
        "generator_version = {GENERATOR_VERSION}\nscale_factor = {:?}\nroot = {}\n",
        layout.scale_factor,
        conf::quote(utf8(&layout.root)?),
    ))
}

fn write_marker(layout: &DemoLayout) -> Result<(), DemoError> {
    let mut text = marker_header(layout)?;
    for (table, rows) in &layout.row_counts {
        text.push_str(&format!("rows.{table} = {rows}\n"));
    }
    let path = layout.marker_path();
    std::fs::write(&path, text).io("write", &path)
}

/// Row counts from a marker matching this layout, or `None` if the mesh must be (re)generated.
fn read_marker(layout: &DemoLayout) -> Result<Option<BTreeMap<TpchTable, u64>>, DemoError> {
    let path = layout.marker_path();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).io("read", &path),
    };
    let Some(rest) = text.strip_prefix(&marker_header(layout)?) else {
        return Ok(None);
    };
    let mut counts = BTreeMap::new();
    for line in rest.lines() {
        let parsed = line
            .strip_prefix("rows.")
            .and_then(|l| l.split_once(" = "))
            .and_then(|(name, rows)| Some((TpchTable::from_name(name)?, rows.parse().ok()?)));
        match parsed {
            Some((table, rows)) => counts.insert(table, rows),
            None => return Ok(None),
        };
    }
    // A marker missing tables (hand-edited, or from a partial write) does not vouch for the data.
    Ok((counts.len() == TpchTable::ALL.len()).then_some(counts))
}

fn remove_if_exists(path: &Path) -> Result<(), DemoError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).io("remove", path),
        _ => Ok(()),
    }
}

fn remove_dir_if_exists(path: &Path) -> Result<(), DemoError> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).io("remove", path),
        _ => Ok(()),
    }
}

fn utf8(path: &Path) -> Result<&str, DemoError> {
    path.to_str()
        .ok_or_else(|| DemoError::NonUtf8Path(path.to_path_buf()))
}
