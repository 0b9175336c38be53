//! The mesh as DataFusion sees it: one catalog (the database), one schema per data product, one
//! table per dataset.
//!
//! ```text
//!   Mesh ── products ─► ProductEntry ── tables ─► TableEntry ── open (cached) ─► Connector
//!    ▲                                                              │
//!    └── MeshCatalog (per session) ── ProductSchema ─ table(name) ───┘
//! ```
//!
//! Building the mesh reads only configuration: a table's metadata is opened the first time a
//! statement names it, then reused for `metadata_refresh_secs` before the format is asked for a
//! newer version (a new Delta commit or Iceberg snapshot shows up without a restart). Loads of one
//! table are single-flight, so a burst of sessions does not re-read one Delta log many times.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::execution::runtime_env::RuntimeEnv;

use meshgate_connectors::{
    Connector, IcebergSource, OpenedTable, PeerSource, Registry, RemoteSource, Storage,
    StorageKind, TableSpec,
};

use crate::config::{Config, ConfigError, TableSection};
use crate::error::UserError;

mod columns;
pub mod discovery;
pub mod functions;
pub mod history;
pub mod info_schema;
pub mod oids;
pub mod parameters;
pub mod pg_catalog;
mod rows;
mod schema;
mod state;
pub mod types;
pub mod workspace;

pub use columns::{pinned_values, scalar_i32, OPEN_CONCURRENCY};
pub use oids::Oids;
pub use schema::{Expander, MeshCatalog, ProductSchema};
pub use state::MeshState;

/// The schema holding a session's temporary tables, as in PostgreSQL.
pub const TEMP_SCHEMA: &str = "pg_temp";

/// How long a catalog query waits for the start-up warm-up (see [`Mesh::warmed`]).
const WARM_WAIT: Duration = Duration::from_secs(10);

/// What the catalog knows about a table without any I/O: the metadata of its last successful
/// open. Kept apart from the open cache, so a catalog query never waits on a table being
/// refreshed and never triggers a refresh itself.
#[derive(Debug)]
pub struct TableMeta {
    pub schema: SchemaRef,
    pub row_count: Option<u64>,
    /// Delta version or Iceberg snapshot id.
    pub version: Option<String>,
    /// Commit or snapshot time, milliseconds since the epoch.
    pub committed_at_ms: Option<i64>,
    pub description: Option<String>,
    pub column_descriptions: BTreeMap<String, String>,
}

pub struct DomainEntry {
    pub name: String,
    pub description: String,
    pub owners: Vec<String>,
    pub storage: Storage,
    /// Where its data must stay (`eu`…), and whether that is elsewhere than this gateway: then
    /// its tables are read through a peer gateway of that region, never from its storage.
    pub jurisdiction: Option<String>,
    pub foreign: bool,
}

pub struct ProductEntry {
    pub name: String,
    pub domain: String,
    pub description: String,
    pub owner: String,
    pub tags: Vec<String>,
    /// Listed in the web catalog only for those who may read it.
    pub hidden: bool,
    pub tables: BTreeMap<String, Arc<TableEntry>>,
    /// Set for writable products: where created tables and views live.
    pub write: Option<workspace::WriteTarget>,
    /// The tables the domain file declares (created relations may not take their names).
    pub declared: std::collections::BTreeSet<String>,
    /// What may leave the domain's jurisdiction; None: no rule.
    pub residency: Option<crate::config::Residency>,
}

pub struct TableEntry {
    pub name: String,
    pub product: String,
    pub format: &'static str,
    pub description: String,
    /// Column descriptions from the domain file (they win over the format's own metadata).
    pub columns: BTreeMap<String, String>,
    pub spec: TableSpec,
    /// Set for views created through meshgate: the defining query, planned for the reader.
    pub view: Option<String>,
    /// Set for tables created through meshgate: their directory under the product's write root.
    pub created: Option<String>,
    /// For views, their definition; for tables created by `CREATE TABLE … AS`, the query they
    /// were built from (lineage, read from the catalog without planning anything).
    pub source: Option<workspace::TableSource>,
    storage: Storage,
    connector: Arc<dyn Connector>,
    refresh: Duration,
    cached: tokio::sync::Mutex<Option<(Instant, OpenedTable)>>,
    /// Older versions opened lately (see `history`).
    versions: tokio::sync::Mutex<history::Versions>,
    known: RwLock<Option<Arc<TableMeta>>>,
    /// Set for tables of a domain in another jurisdiction: its region. Their storage is never
    /// opened from here; the peer gateway of that region reads them.
    foreign: Option<String>,
}

impl TableEntry {
    /// The region whose gateway reads this table, when it is not this gateway: that gateway
    /// applies the reader's row filters and masks, and the product's residency rules.
    pub fn read_elsewhere(&self) -> Option<&str> {
        self.foreign.as_deref()
    }

    /// The table's current version, opening or refreshing its metadata when due.
    pub async fn open(&self) -> Result<OpenedTable, UserError> {
        let mut slot = self.cached.lock().await;
        if let Some((at, t)) = slot.as_ref() {
            if at.elapsed() < self.refresh {
                return Ok(t.clone());
            }
        }
        match self.connector.open(&self.spec, &self.storage).await {
            Ok(t) => {
                let meta = TableMeta {
                    schema: t.provider.schema(),
                    row_count: t.row_count,
                    version: t.version.clone(),
                    committed_at_ms: t.committed_at_ms,
                    description: t.description.clone(),
                    column_descriptions: t.column_descriptions.clone(),
                };
                *self
                    .known
                    .write()
                    .expect("lock is never poisoned: no panics while held") = Some(Arc::new(meta));
                *slot = Some((Instant::now(), t.clone()));
                self.remember(&t).await;
                Ok(t)
            }
            Err(e) => Err(self.open_failed(e)),
        }
    }

    /// Forgets the opened version, so the next statement reads the table's newest one (after
    /// meshgate itself wrote to it).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    /// The metadata of the last successful open, however old; never does I/O.
    pub fn known(&self) -> Option<Arc<TableMeta>> {
        self.known
            .read()
            .expect("lock is never poisoned: no panics while held")
            .clone()
    }

    /// The table description: the domain file's, else the format's own.
    pub fn description(&self) -> Option<String> {
        if !self.description.is_empty() {
            return Some(self.description.clone());
        }
        self.known()
            .and_then(|m| m.description.clone())
            .filter(|d| !d.is_empty())
    }

    /// A column's description: the domain file's, else the format's own (known once opened).
    pub fn column_description(&self, column: &str, meta: Option<&TableMeta>) -> Option<String> {
        if let Some(d) = self.columns.get(column).filter(|d| !d.is_empty()) {
            return Some(d.clone());
        }
        meta.and_then(|m| m.column_descriptions.get(column).cloned())
            .filter(|d| !d.is_empty())
    }
}

/// The whole mesh, built from a validated [`Config`]. Immutable; a reload builds a new one.
pub struct Mesh {
    /// The formats its tables are read and written in.
    pub connectors: Arc<Registry>,
    pub database: String,
    pub domains: Vec<Arc<DomainEntry>>,
    pub products: BTreeMap<String, Arc<ProductEntry>>,
    /// Stable object identifiers for pg_catalog.
    pub oids: Oids,
    /// Role names by OID, for pg_get_userbyid: the configured users and the product owners.
    pub roles: BTreeMap<i32, String>,
    /// Grants, row filters and masks of every domain, with the users and roles they name.
    pub policies: Arc<crate::policy::Policies>,
    /// Started once, by the first session: opens every table in the background.
    warm: OnceLock<()>,
    /// Becomes true when that warm-up has tried every table.
    warmed: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for Mesh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Mesh({}, {} products)",
            self.database,
            self.products.len()
        )
    }
}

/// Registers each domain's object store (its bucket, with its credentials) with `env`: the
/// server's runtime, and a cluster executor's, which reads the same domains' files.
pub fn register_object_stores(config: &Config, env: &RuntimeEnv) -> Result<(), ConfigError> {
    let mut buckets: HashMap<String, String> = HashMap::new();
    for d in &config.domains {
        let cerr = |message: String| ConfigError {
            file: d.file.clone(),
            key: "storage".into(),
            message,
        };
        let storage = Storage::new(&d.name, d.root.clone(), d.storage_kind.clone())
            .map_err(|e| cerr(e.to_string()))?;
        if !matches!(storage.kind, StorageKind::Local) && !d.foreign {
            // DataFusion's registry keys stores by scheme and bucket: two domains in one bucket
            // must reach it the same way, or one would read with the other's credentials.
            let url = storage.store_url();
            let fingerprint = format!("{:?}", storage.object_store_options());
            if let Some(prev) = buckets.insert(url.to_string(), fingerprint.clone()) {
                if prev != fingerprint {
                    return Err(cerr(format!("bucket {url} is also used by another domain with different settings; give each domain its own bucket")));
                }
            }
            env.register_object_store(&url, storage.object_store.clone());
        }
    }
    Ok(())
}

impl Mesh {
    /// Builds the mesh, with the relations created in writable products (their committed
    /// catalogs, or a transaction's own view of them), and registers each domain's object store
    /// with the shared runtime. Makes no request to storage.
    pub fn build(
        config: &Config,
        env: &RuntimeEnv,
        connectors: &Arc<Registry>,
        created: &HashMap<String, Arc<workspace::Manifest>>,
    ) -> Result<Mesh, ConfigError> {
        let refresh = Duration::from_secs(config.server.metadata_refresh_secs);
        let mut domains = Vec::new();
        let mut products = BTreeMap::new();
        register_object_stores(config, env)?;
        for d in &config.domains {
            let cerr = |key: &str, message: String| ConfigError {
                file: d.file.clone(),
                key: key.into(),
                message,
            };
            let storage = Storage::new(&d.name, d.root.clone(), d.storage_kind.clone())
                .map_err(|e| cerr("storage", e.to_string()))?;
            // Another jurisdiction's tables are read through its region's gateway.
            let peer = if d.foreign {
                Some(peer_source(config, d).map_err(|m| cerr("jurisdiction", m))?)
            } else {
                None
            };
            for p in &d.products {
                let mut tables = BTreeMap::new();
                for (j, t) in p.tables.iter().enumerate() {
                    let key = format!("products.{}.tables[{j}]", p.name);
                    let format = if peer.is_some() {
                        "peer"
                    } else {
                        t.format.as_str()
                    };
                    let connector = connectors.get(format).cloned().ok_or_else(|| {
                        cerr(
                            &format!("{key}.format"),
                            format!("no connector for {format:?}"),
                        )
                    })?;
                    let spec = match &peer {
                        Some(peer) => peer_spec(peer, &p.name, &t.name)
                            .map_err(|e| cerr(&key, e.to_string()))?,
                        None => table_spec(&p.name, t, &storage, d)
                            .map_err(|e| cerr(&key, e.to_string()))?,
                    };
                    tables.insert(
                        t.name.clone(),
                        Arc::new(TableEntry {
                            name: t.name.clone(),
                            product: p.name.clone(),
                            format: connector.format(),
                            description: t.description.clone(),
                            columns: t.columns.clone(),
                            spec,
                            view: None,
                            created: None,
                            source: None,
                            storage: storage.clone(),
                            connector,
                            refresh,
                            cached: tokio::sync::Mutex::new(None),
                            versions: Default::default(),
                            known: RwLock::new(None),
                            foreign: d.foreign.then(|| d.jurisdiction.clone()).flatten(),
                        }),
                    );
                }
                let declared: std::collections::BTreeSet<String> = tables.keys().cloned().collect();
                let write = if p.writable {
                    let rel = p.write_location.clone().unwrap_or_else(|| p.name.clone());
                    let root = storage.resolve(&rel).map_err(|e| {
                        cerr(
                            &format!("products.{}.write_location", p.name),
                            e.to_string(),
                        )
                    })?;
                    Some(workspace::WriteTarget {
                        storage: storage.clone(),
                        root,
                    })
                } else {
                    None
                };
                if let (Some(w), Some(m)) = (&write, created.get(&p.name)) {
                    let written = connectors.written().clone();
                    for (name, t) in &m.tables {
                        let spec = TableSpec {
                            qualified_name: format!("{}.{name}", p.name),
                            location: w.table_url(&t.dir),
                            partition_columns: vec![],
                            iceberg: None,
                            remote: None,
                        };
                        tables.insert(
                            name.clone(),
                            Arc::new(TableEntry {
                                name: name.clone(),
                                product: p.name.clone(),
                                format: written.format(),
                                description: t.description.clone(),
                                columns: t.columns.clone(),
                                spec,
                                view: None,
                                created: Some(t.dir.clone()),
                                source: t.source.clone(),
                                storage: storage.clone(),
                                connector: written.clone(),
                                refresh,
                                cached: tokio::sync::Mutex::new(None),
                                versions: Default::default(),
                                known: RwLock::new(None),
                                foreign: None,
                            }),
                        );
                    }
                    for (name, v) in &m.views {
                        tables.insert(
                            name.clone(),
                            Arc::new(view_entry(&p.name, name, v, w, &storage)),
                        );
                    }
                }
                products.insert(
                    p.name.clone(),
                    Arc::new(ProductEntry {
                        name: p.name.clone(),
                        domain: d.name.clone(),
                        description: p.description.clone(),
                        owner: p.owner.clone(),
                        tags: p.tags.clone(),
                        hidden: p.hidden,
                        tables,
                        write,
                        declared,
                        residency: crate::config::Residency::of(d, &p.name),
                    }),
                );
            }
            domains.push(Arc::new(DomainEntry {
                name: d.name.clone(),
                description: d.description.clone(),
                owners: d.owners.clone(),
                storage,
                jurisdiction: d.jurisdiction.clone(),
                foreign: d.foreign,
            }));
        }
        let oids = Oids::build(&config.server.database, &products);
        let mut roles = BTreeMap::new();
        roles.insert(oids::BOOTSTRAP_ROLE, oids::BOOTSTRAP_ROLE_NAME.to_string());
        for u in config.users.values() {
            roles.insert(oids::role_oid(&u.name), u.name.clone());
        }
        for p in products.values() {
            if !p.owner.is_empty() {
                roles.insert(oids::role_oid(&p.owner), p.owner.clone());
            }
        }
        for r in config.roles.keys() {
            roles.insert(oids::role_oid(r), r.clone());
        }
        let policies = Arc::new(crate::policy::Policies::from_config(config));
        Ok(Mesh {
            connectors: connectors.clone(),
            database: config.server.database.clone(),
            domains,
            products,
            oids,
            roles,
            policies,
            warm: OnceLock::new(),
            warmed: tokio::sync::watch::Sender::new(false),
        })
    }

    /// The table an OID names, if any.
    pub fn table_by_oid(&self, oid: i32) -> Option<&Arc<TableEntry>> {
        let (product, table) = self.oids.table_name(oid)?;
        self.table(product, table)
    }

    /// Opens, in the background and `concurrency` at a time, every table whose metadata is not
    /// known yet, so that catalog queries (which never read storage for a whole listing) find
    /// column lists for all tables soon after start. Runs once per mesh; failures are logged by
    /// `open` and the table is simply listed without columns until a query opens it.
    pub fn warm_in_background(self: &Arc<Self>, concurrency: usize) {
        if self.warm.set(()).is_err() {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            self.warmed.send_replace(true);
            return;
        };
        let mesh = self.clone();
        handle.spawn(async move {
            use futures::StreamExt;
            let tables: Vec<Arc<TableEntry>> = mesh
                .products
                .values()
                .flat_map(|p| p.tables.values().cloned())
                .filter(|t| t.known().is_none())
                .collect();
            futures::stream::iter(tables)
                .for_each_concurrent(concurrency, |t| async move {
                    let _ = t.open().await;
                })
                .await;
            mesh.warmed.send_replace(true);
            tracing::debug!("table metadata warm-up finished");
        });
    }

    /// Waits until the warm-up has tried every table (at most [`WARM_WAIT`]). Catalog tables
    /// that list every table's columns, row count or freshness call it: a BI tool that syncs
    /// right after start (Metabase, pgcli) must not see a table without columns just because
    /// its metadata was still being read. Waiting joins the warm-up's own opens; it reads
    /// nothing twice. The cap keeps a storage outage from stalling every catalog query: past
    /// it, tables not opened yet are listed without columns, as before.
    pub async fn warmed(&self) {
        if self.warm.get().is_none() {
            return;
        }
        let mut done = self.warmed.subscribe();
        if tokio::time::timeout(WARM_WAIT, done.wait_for(|d| *d))
            .await
            .is_err()
        {
            tracing::warn!(
                "catalog answered before every table's metadata was read (still opening after {}s)",
                WARM_WAIT.as_secs()
            );
        }
    }

    /// Opens the given tables whose metadata is not known yet, `concurrency` at a time: a
    /// catalog query that names tables (psql's `\d`, `attrelid = 'x'::regclass`) gets their
    /// columns even before the warm-up reached them. Failures leave the table without columns.
    pub async fn ensure_known(&self, tables: &[Arc<TableEntry>], concurrency: usize) {
        use futures::StreamExt;
        let missing: Vec<&Arc<TableEntry>> =
            tables.iter().filter(|t| t.known().is_none()).collect();
        futures::stream::iter(missing)
            .for_each_concurrent(concurrency, |t| async move {
                let _ = t.open().await;
            })
            .await;
    }

    pub fn table(&self, product: &str, table: &str) -> Option<&Arc<TableEntry>> {
        self.products.get(product)?.tables.get(table)
    }

    /// The product and table (its name without a version) a plan's scan of `name` reads,
    /// unqualified names resolved in `default_schema`; None for system schemas and temporary
    /// tables, which are not data products.
    pub fn scanned<'a>(
        &self,
        name: &'a datafusion::common::TableReference,
        default_schema: &str,
    ) -> Option<(&Arc<ProductEntry>, &'a str)> {
        let table = meshgate_sqlfront::versions::split(name.table()).0;
        if name.catalog().is_some_and(|c| c != self.database) {
            return None;
        }
        let product = self.products.get(name.schema().unwrap_or(default_schema))?;
        product
            .tables
            .contains_key(table)
            .then_some((product, table))
    }

    /// After a reload: tables whose definition did not change keep what the old mesh learned
    /// (the open table and the catalog's metadata), so a reload does not make every table be
    /// read again. A carried-over table is still refreshed after `metadata_refresh_secs`, with
    /// the new storage settings.
    pub fn inherit(&self, old: &Mesh) {
        // Created tables keep their directory when renamed: find them by location.
        let by_location: HashMap<&url::Url, &Arc<TableEntry>> = old
            .products
            .values()
            .flat_map(|p| p.tables.values())
            .filter(|t| t.created.is_some())
            .map(|t| (&t.spec.location, t))
            .collect();
        for (pname, p) in &self.products {
            for (tname, t) in &p.tables {
                let found = match t.created {
                    Some(_) => by_location.get(&t.spec.location).copied(),
                    None => old.products.get(pname).and_then(|op| op.tables.get(tname)),
                };
                let Some(ot) = found else { continue };
                // Debug of the spec covers location, partitions and the Iceberg source.
                let same = t.format == ot.format
                    && t.storage.root == ot.storage.root
                    && (t.created.is_some() || format!("{:?}", t.spec) == format!("{:?}", ot.spec));
                if !same {
                    continue;
                }
                if let Some(meta) = ot.known() {
                    *t.known
                        .write()
                        .expect("lock is never poisoned: no panics while held") = Some(meta);
                }
                // A table being opened right now is simply opened again later.
                if let (Ok(from), Ok(mut to)) = (ot.versions.try_lock(), t.versions.try_lock()) {
                    *to = from.clone();
                }
                if let (Ok(from), Ok(mut to)) = (ot.cached.try_lock(), t.cached.try_lock()) {
                    *to = from.clone();
                }
            }
        }
    }
}

/// A created view as a catalog entry: its columns are known from its stored schema, so listings
/// never plan it; reading it plans its query for the reader (see `ProductSchema::table`).
fn view_entry(
    product: &str,
    name: &str,
    v: &workspace::CreatedView,
    w: &workspace::WriteTarget,
    storage: &Storage,
) -> TableEntry {
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    let fields: Vec<Field> = v
        .schema
        .iter()
        .map(|c| {
            Field::new(
                &c.name,
                c.data_type.parse::<DataType>().unwrap_or(DataType::Utf8),
                true,
            )
        })
        .collect();
    let meta = TableMeta {
        schema: Arc::new(Schema::new(fields)),
        row_count: None,
        version: None,
        committed_at_ms: None,
        description: None,
        column_descriptions: BTreeMap::new(),
    };
    TableEntry {
        name: name.to_string(),
        product: product.to_string(),
        format: "view",
        description: v.description.clone(),
        columns: v.columns.clone(),
        spec: TableSpec {
            qualified_name: format!("{product}.{name}"),
            location: w.root.clone(),
            partition_columns: vec![],
            iceberg: None,
            remote: None,
        },
        view: Some(v.sql.clone()),
        created: None,
        source: Some(workspace::TableSource {
            sql: v.sql.clone(),
            reads: v.depends_on.clone(),
        }),
        storage: storage.clone(),
        connector: Arc::new(ViewConnector),
        refresh: Duration::MAX,
        cached: tokio::sync::Mutex::new(None),
        versions: Default::default(),
        known: RwLock::new(Some(Arc::new(meta))),
        foreign: None,
    }
}

/// Views have no storage of their own: they are planned, never opened.
#[derive(Debug)]
struct ViewConnector;

#[async_trait]
impl Connector for ViewConnector {
    fn format(&self) -> &'static str {
        "view"
    }

    async fn open(
        &self,
        spec: &TableSpec,
        _storage: &Storage,
    ) -> meshgate_connectors::Result<OpenedTable> {
        Err(meshgate_connectors::ConnectorError::Config {
            table: spec.qualified_name.clone(),
            reason: "a view is planned, not opened".into(),
        })
    }
}

/// Why a table's declaration does not say where the table is.
#[derive(Debug, thiserror::Error)]
enum SpecError {
    #[error("{0}")]
    Location(String),
    #[error("unknown catalog {0:?}")]
    UnknownCatalog(String),
    #[error("no location")]
    NoLocation,
}

/// The link to the gateway serving `d`'s jurisdiction, its certificates read from their files.
fn peer_source(config: &Config, d: &crate::config::Domain) -> Result<PeerSource, String> {
    let region = d.jurisdiction.clone().unwrap_or_default();
    let p = config
        .peers
        .iter()
        .find(|p| p.region == region)
        .ok_or_else(|| format!("no [[peers]] entry serves region {region:?}"))?;
    let read = |f: &std::path::Path| {
        std::fs::read(f).map_err(|e| format!("cannot read {}: {e}", f.display()))
    };
    let (host, port) = p
        .address
        .rsplit_once(':')
        .and_then(|(h, port)| Some((h.to_string(), port.parse().ok()?)))
        .ok_or_else(|| format!("peer address {:?} is not host:port", p.address))?;
    Ok(PeerSource {
        region,
        host,
        port,
        server_name: p.name.clone(),
        database: config.server.database.clone(),
        ca_pem: read(&p.ca_file)?,
        cert_pem: read(&p.cert_file)?,
        key_pem: meshgate_connectors::Secret::new(
            String::from_utf8(read(&p.key_file)?).map_err(|_| "the key file is not PEM text")?,
        ),
        gateway_user: own_certificate_name(&p.cert_file)?,
        product: String::new(),
        table: String::new(),
        connect_timeout_ms: p.connect_timeout_ms,
    })
}

/// The common name on this gateway's certificate: what the peer knows it by.
fn own_certificate_name(cert: &std::path::Path) -> Result<String, String> {
    let pem = std::fs::read(cert).map_err(|e| format!("cannot read {}: {e}", cert.display()))?;
    let der = rustls_pemfile::certs(&mut &pem[..])
        .next()
        .ok_or_else(|| format!("{} holds no certificate", cert.display()))?
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    crate::auth::cert::subject_common_name(&der).map_err(|e| format!("{}: {e}", cert.display()))
}

fn peer_spec(peer: &PeerSource, product: &str, table: &str) -> Result<TableSpec, SpecError> {
    let location = url::Url::parse(&format!("peer://{}/{product}.{table}", peer.region))
        .map_err(|e| SpecError::Location(e.to_string()))?;
    Ok(TableSpec {
        qualified_name: format!("{product}.{table}"),
        location,
        partition_columns: vec![],
        iceberg: None,
        remote: Some(RemoteSource::Peer(PeerSource {
            product: product.to_string(),
            table: table.to_string(),
            ..peer.clone()
        })),
    })
}

fn table_spec(
    product: &str,
    t: &TableSection,
    storage: &Storage,
    d: &crate::config::Domain,
) -> Result<TableSpec, SpecError> {
    let qualified_name = format!("{product}.{}", t.name);
    if let Some(remote) = d.remotes.get(&(product.to_string(), t.name.clone())) {
        // What the catalog shows as the table's location: never a user or password.
        let location = match remote {
            RemoteSource::Postgres(s) => format!(
                "postgres://{}:{}/{}/{}.{}",
                s.host, s.port, s.database, s.schema, s.table
            ),
            RemoteSource::Sqlite(s) => format!("sqlite://{}", s.path.display()),
            RemoteSource::Mysql(s) => {
                format!("mysql://{}:{}/{}/{}", s.host, s.port, s.database, s.table)
            }
            RemoteSource::Peer(s) => format!("peer://{}/{}.{}", s.region, s.product, s.table),
        };
        let location =
            url::Url::parse(&location).map_err(|e| SpecError::Location(e.to_string()))?;
        return Ok(TableSpec {
            qualified_name,
            location,
            partition_columns: vec![],
            iceberg: None,
            remote: Some(remote.clone()),
        });
    }
    let (location, iceberg) = match (&t.location, &t.catalog) {
        (Some(loc), _) => {
            let url = storage
                .resolve(loc)
                .map_err(|e| SpecError::Location(e.to_string()))?;
            (url, None)
        }
        (None, Some(cat)) => {
            let catalog = d
                .catalogs
                .get(cat)
                .cloned()
                .ok_or_else(|| SpecError::UnknownCatalog(cat.clone()))?;
            let namespace = t
                .namespace
                .clone()
                .unwrap_or_else(|| product.to_string())
                .split('.')
                .map(str::to_string)
                .collect();
            let table = t.table.clone().unwrap_or_else(|| t.name.clone());
            (
                storage.root.clone(),
                Some(IcebergSource::Catalog {
                    catalog,
                    namespace,
                    table,
                }),
            )
        }
        (None, None) => return Err(SpecError::NoLocation),
    };
    Ok(TableSpec {
        qualified_name,
        location,
        partition_columns: t
            .partition_columns
            .iter()
            .map(|c| meshgate_connectors::PartitionColumn {
                name: c.name.clone(),
                sql_type: c.data_type.clone(),
                position: c.position,
            })
            .collect(),
        iceberg,
        remote: None,
    })
}
