//! Bytes scanned per domain, read from the executed physical plan.
//!
//! Nothing is wrapped or inserted into the plan (a wrapper provider or exec node would stand
//! between DataFusion and the scan and block filter and dynamic-filter pushdown). Instead, when a
//! plan starts, its file-scan leaves are found and attributed to a domain; when a statement
//! ends, their `bytes_scanned` metrics are read and the growth since the last reading is counted.
//!
//! ```text
//!  physical plan ─ walk ─► DataSourceExec(FileScanConfig)  formats read through DataFusion's file
//!                          │  store URL + first file path     scans (Delta, Parquet)
//!                          │  ─► longest matching table location / domain root ─► domain
//!                          └► Connector::planned_scan   a format that reads its own files and
//!                             reports no byte metric (Iceberg): the bytes it planned to read,
//!                             estimated off the session's path (an upper bound)
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use futures::future::BoxFuture;
use object_store::path::Path;
use url::Url;

use super::Auditor;
use crate::catalog::Mesh;

/// What the `metric` of each key's plan nodes has grown by since `reported` last saw it (a
/// cursor's scan is settled at every FETCH): the keys that grew, with how much.
fn grown<'a>(
    leaves: impl Iterator<Item = (&'a str, &'a Arc<dyn ExecutionPlan>)>,
    metric: &str,
    reported: &Mutex<BTreeMap<String, u64>>,
) -> Vec<(String, u64)> {
    let mut now: BTreeMap<&str, u64> = BTreeMap::new();
    for (key, plan) in leaves {
        let n: usize = plan
            .metrics()
            .map(|m| {
                m.iter()
                    .filter(|v| v.value().name() == metric)
                    .map(|v| v.value().as_usize())
                    .sum()
            })
            .unwrap_or(0);
        *now.entry(key).or_default() += n as u64;
    }
    let mut reported = reported.lock().expect("scan probe lock is never poisoned");
    let mut out = Vec::new();
    for (key, total) in now {
        let before = reported.entry(key.to_string()).or_default();
        let delta = total.saturating_sub(*before);
        *before = (*before).max(total);
        if delta > 0 {
            out.push((key.to_string(), delta));
        }
    }
    out
}

/// Where bytes go that no domain's storage holds (a table location the mesh does not know).
pub const UNATTRIBUTED: &str = "(unattributed)";

/// How long the background estimate of a planned scan may take before it is given up.
const ESTIMATE_TIMEOUT: Duration = Duration::from_secs(30);

/// A data-product table a statement reads.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TableRead {
    pub product: String,
    pub table: String,
    pub domain: String,
}

/// The tables of the mesh that a logical plan scans, subqueries included. Unqualified names are
/// resolved in the session's current default schema; system schemas and temporary tables are
/// left out (they are not data products).
pub fn tables_read(plan: &LogicalPlan, mesh: &Mesh, default_schema: &str) -> Vec<TableRead> {
    let mut out = Vec::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            if let Some((product, table)) = mesh.scanned(&scan.table_name, default_schema) {
                let t = TableRead {
                    product: product.name.clone(),
                    table: table.to_string(),
                    domain: product.domain.clone(),
                };
                if !out.contains(&t) {
                    out.push(t);
                }
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}

/// `scheme://authority` of a URL: what tells object stores apart (bucket, container, host).
fn store_key(url: &Url) -> String {
    format!("{}://{}", url.scheme(), url.authority())
}

/// The attribution of the mesh sessions use now, built once per mesh (a reload builds a new
/// mesh) rather than for every statement.
#[derive(Default)]
pub struct AttributionCache {
    current: Mutex<Option<(std::sync::Weak<Mesh>, Arc<Attribution>)>>,
}

impl AttributionCache {
    fn get(&self, mesh: &Arc<Mesh>) -> Arc<Attribution> {
        let mut current = self
            .current
            .lock()
            .expect("attribution lock is never poisoned");
        if let Some((m, a)) = current.as_ref() {
            if std::ptr::eq(m.as_ptr(), Arc::as_ptr(mesh)) && m.strong_count() > 0 {
                return a.clone();
            }
        }
        let a = Arc::new(Attribution::new(mesh));
        *current = Some((Arc::downgrade(mesh), a.clone()));
        a
    }
}

/// Table locations and domain roots, longest first, to place a file in a domain.
pub struct Attribution {
    targets: Vec<(String, Path, usize, String)>,
}

impl Attribution {
    fn new(mesh: &Mesh) -> Self {
        let mut targets = Vec::new();
        let mut add = |url: &Url, domain: &str| {
            let mut path = url.path().to_string();
            // An Iceberg table given by its metadata file: the table directory is two levels up.
            if path.ends_with(".json") {
                path = path.rsplitn(3, '/').nth(2).unwrap_or("").to_string();
            }
            if let Ok(p) = Path::from_url_path(&path) {
                let depth = p.parts().count();
                targets.push((store_key(url), p, depth, domain.to_string()));
            }
        };
        for product in mesh.products.values() {
            for t in product.tables.values() {
                // Tables found through a catalog have the domain root as location: covered below.
                if t.spec.catalog_table().is_none() {
                    add(&t.spec.location, &product.domain);
                }
            }
        }
        for d in &mesh.domains {
            add(&d.storage.root, &d.name);
        }
        targets.sort_by_key(|t| std::cmp::Reverse(t.2));
        Attribution { targets }
    }

    fn domain_of(&self, store: &str, path: &Path) -> Option<&str> {
        self.targets
            .iter()
            .find(|(s, prefix, _, _)| s == store && path.prefix_matches(prefix))
            .map(|(_, _, _, d)| d.as_str())
    }

    fn domain_of_url(&self, location: &str) -> Option<&str> {
        let url = Url::parse(location).ok()?;
        let path = Path::from_url_path(url.path()).ok()?;
        self.domain_of(&store_key(&url), &path)
    }
}

/// The domain of the mesh table a catalog names by namespace and name.
fn catalog_table_domain(mesh: &Mesh, namespace: &[String], name: &str) -> Option<String> {
    mesh.products.values().find_map(|p| {
        p.tables.values().find_map(|t| {
            t.spec
                .catalog_table()
                .filter(|(ns, table)| *ns == namespace && *table == name)
                .map(|_| p.domain.clone())
        })
    })
}

struct Leaf {
    plan: Arc<dyn ExecutionPlan>,
    domain: String,
}

/// A scan whose byte figure is still to be estimated (see `Connector::planned_scan`).
pub struct Planned {
    domain: String,
    bytes: BoxFuture<'static, meshgate_connectors::Result<u64>>,
}

/// The scans of one running plan and the bytes already counted from them. Held by the row
/// source that runs the plan and by every statement that reads through it (a cursor's FETCHes,
/// a portal's Executes), each of which settles what was read since the last one.
pub struct ScanProbe {
    auditor: Arc<Auditor>,
    tables: Vec<TableRead>,
    /// Statements the plan runs in operational sources.
    remote: Vec<meshgate_connectors::RemoteStatement>,
    /// The plan nodes that run them, by source: their `bytes_fetched` is what crossed.
    remote_leaves: Vec<(String, Arc<dyn ExecutionPlan>)>,
    files: Vec<Leaf>,
    planned: Mutex<Vec<Planned>>,
    reported: Mutex<BTreeMap<String, u64>>,
    received_reported: Mutex<BTreeMap<String, u64>>,
    /// The plan ran on the cluster: its nodes here never ran, so their metrics stay empty.
    cluster: std::sync::OnceLock<crate::exec::cluster::JobTracker>,
    cluster_settled: std::sync::atomic::AtomicBool,
}

impl ScanProbe {
    /// Finds and attributes the scan leaves of `physical`, planned from `logical`.
    pub fn new(
        auditor: &Arc<Auditor>,
        logical: &LogicalPlan,
        physical: &Arc<dyn ExecutionPlan>,
        mesh: Option<&Arc<Mesh>>,
        default_schema: &str,
    ) -> Arc<Self> {
        let tables = mesh
            .map(|m| tables_read(logical, m, default_schema))
            .unwrap_or_default();
        let mut files = Vec::new();
        let mut planned = Vec::new();
        let mut remote = Vec::new();
        let mut remote_leaves = Vec::new();
        let mut attribution = None;
        let mut stack = vec![physical.clone()];
        while let Some(node) = stack.pop() {
            stack.extend(node.children().into_iter().cloned());
            let Some(mesh) = mesh else { continue };
            if let Some(r) = mesh
                .connectors
                .readers()
                .find_map(|c| c.remote_statement(&node))
            {
                remote_leaves.push((r.source.clone(), node.clone()));
                remote.push(r);
                continue;
            }
            if let Some(r) = crate::exec::remote::RemoteQueryExec::statement_of(&node) {
                remote_leaves.push((r.source.clone(), node.clone()));
                remote.push(r);
                continue;
            }
            if let Some(config) = node
                .as_any()
                .downcast_ref::<DataSourceExec>()
                .and_then(|d| d.data_source().as_any().downcast_ref::<FileScanConfig>())
            {
                // One leaf scans one table: its first file places it.
                let Some(first) = config.file_groups.iter().flat_map(|g| g.iter()).next() else {
                    continue;
                };
                let a = attribution.get_or_insert_with(|| auditor.attribution.get(mesh));
                let store = store_key(config.object_store_url.as_ref());
                let domain = a
                    .domain_of(&store, &first.object_meta.location)
                    .unwrap_or(UNATTRIBUTED)
                    .to_string();
                files.push(Leaf {
                    plan: node.clone(),
                    domain,
                });
            } else if let Some(scan) = mesh
                .connectors
                .readers()
                .find_map(|c| c.planned_scan(&node))
            {
                let a = attribution.get_or_insert_with(|| auditor.attribution.get(mesh));
                let domain = a
                    .domain_of_url(&scan.location)
                    .map(str::to_string)
                    .or_else(|| {
                        let (ns, name) = scan.catalog_table.as_ref()?;
                        catalog_table_domain(mesh, ns, name)
                    })
                    .unwrap_or_else(|| UNATTRIBUTED.to_string());
                planned.push(Planned {
                    domain,
                    bytes: scan.bytes,
                });
            }
        }
        Arc::new(ScanProbe {
            auditor: auditor.clone(),
            tables,
            remote,
            remote_leaves,
            files,
            planned: Mutex::new(planned),
            reported: Mutex::new(BTreeMap::new()),
            received_reported: Mutex::new(BTreeMap::new()),
            cluster: Default::default(),
            cluster_settled: Default::default(),
        })
    }

    pub fn tables(&self) -> &[TableRead] {
        &self.tables
    }

    pub fn remote(&self) -> &[meshgate_connectors::RemoteStatement] {
        &self.remote
    }

    /// The plan is handed to the cluster instead of running here.
    pub fn ran_on_cluster(&self, job: crate::exec::cluster::JobTracker) {
        let _ = self.cluster.set(job);
    }

    pub fn on_cluster(&self) -> bool {
        self.cluster.get().is_some()
    }

    /// The scheduler's id of the plan's job, once it was accepted.
    pub fn cluster_job(&self) -> Option<String> {
        self.cluster.get().and_then(|j| j.id())
    }

    /// The plan's job, when it was handed to the cluster.
    pub fn cluster_tracker(&self) -> Option<crate::exec::cluster::JobTracker> {
        self.cluster.get().cloned()
    }

    /// Adds to `into` (and to the server's metric) the bytes the file scans read since the
    /// last settle. A plan run on the cluster counts the sizes of its files, once.
    pub fn settle(&self, into: &mut BTreeMap<String, u64>) {
        if self.files.is_empty() {
            return;
        }
        if self.on_cluster() {
            if self
                .cluster_settled
                .swap(true, std::sync::atomic::Ordering::SeqCst)
            {
                return;
            }
            for leaf in &self.files {
                let n = crate::exec::cluster::scan_bytes(&leaf.plan).unwrap_or(0);
                if n > 0 {
                    self.auditor.metrics.scanned(&leaf.domain, n);
                    *into.entry(leaf.domain.clone()).or_default() += n;
                }
            }
            return;
        }
        let leaves = self.files.iter().map(|l| (l.domain.as_str(), &l.plan));
        for (domain, delta) in grown(leaves, "bytes_scanned", &self.reported) {
            self.auditor.metrics.scanned(&domain, delta);
            *into.entry(domain).or_default() += delta;
        }
    }

    /// Adds to `into` the bytes of rows received from each remote source (a peer gateway, an
    /// operational database) since the last settle.
    pub fn settle_received(&self, into: &mut BTreeMap<String, u64>) {
        let leaves = self.remote_leaves.iter().map(|(s, p)| (s.as_str(), p));
        for (source, delta) in grown(leaves, "bytes_fetched", &self.received_reported) {
            *into.entry(source).or_default() += delta;
        }
    }

    /// The planned scans not estimated yet; each is handed out once.
    pub fn take_planned(&self) -> Vec<Planned> {
        std::mem::take(
            &mut *self
                .planned
                .lock()
                .expect("scan probe lock is never poisoned"),
        )
    }
}

impl Drop for ScanProbe {
    /// Whatever no statement settled (a cursor closed without FETCH) still reaches the metric.
    fn drop(&mut self) {
        self.settle(&mut BTreeMap::new());
        let left = self.take_planned();
        if !left.is_empty() {
            estimate_in_background(&self.auditor, left, |_, _| {});
        }
    }
}

/// Estimates planned scans on the query runtime, counts them in the metric, then calls `then`
/// with (domain, bytes) for those that could be estimated. The task holds the auditor weakly:
/// it must not be what keeps a stopping server (and the runtime it runs on) alive.
pub fn estimate_in_background(
    auditor: &Arc<Auditor>,
    planned: Vec<Planned>,
    then: impl FnOnce(&Auditor, Vec<(String, u64)>) + Send + 'static,
) {
    let weak = Arc::downgrade(auditor);
    auditor.executor.spawn_background(async move {
        let mut out = Vec::new();
        for p in planned {
            match tokio::time::timeout(ESTIMATE_TIMEOUT, p.bytes).await {
                Ok(Ok(n)) => out.push((p.domain, n)),
                Ok(Err(e)) => tracing::debug!(domain = %p.domain, "scan size not estimated: {e}"),
                Err(_) => tracing::debug!(domain = %p.domain, "scan size not estimated in time"),
            }
        }
        if let Some(auditor) = weak.upgrade() {
            for (domain, n) in &out {
                auditor.metrics.scanned(domain, *n);
            }
            then(&auditor, out);
        }
    });
}
