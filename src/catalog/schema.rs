//! The mesh as DataFusion resolves names in it, for one principal: the database catalog, one
//! schema per data product, and what a table name resolves to.
//!
//! ```text
//!  MeshCatalog ── schema(product) ─► ProductSchema ── table(name) ── may_read? ── no ─► 42501
//!                                                         │ yes
//!                      created view ─► Expander::view (planned for the reader)
//!                      table ─► open (cached) ─► Expander::guard (row filters, masks)
//! ```
//!
//! Planning belongs to the SQL front end, so what a name resolves to beyond an opened table (a
//! created view's query, the policy view over a filtered or masked table) is asked of an
//! [`Expander`], which the front end implements and hands to every catalog it makes.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, MemorySchemaProvider, SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result as DfResult};

use meshgate_connectors::AsOf;

use super::{discovery, history, pg_catalog, Mesh, ProductEntry, TableEntry};
use crate::policy::Access;

/// Plans what a catalog entry resolves to beyond an opened table. Implemented by the SQL front
/// end; the catalog only asks.
#[async_trait]
pub trait Expander: Send + Sync + std::fmt::Debug {
    /// A view created through meshgate, planned for the principal reading it (security
    /// invoker): the tables inside resolve through the reader's own catalog.
    async fn view(
        &self,
        mesh: &Arc<Mesh>,
        access: &Access,
        entry: &TableEntry,
        sql: &str,
    ) -> DfResult<Arc<dyn TableProvider>>;

    /// What the principal reads for a table: the table itself, or a view that applies the
    /// principal's row filters and column masks. Records the statement's access either way.
    /// `version` is the provider's version, when its format has versions: the policy view
    /// reads that one too.
    async fn guard(
        &self,
        mesh: &Arc<Mesh>,
        access: &Access,
        entry: &TableEntry,
        provider: Arc<dyn TableProvider>,
        version: Option<i64>,
    ) -> DfResult<Arc<dyn TableProvider>>;
}

/// A data product as a DataFusion schema, as one principal sees it.
#[derive(Clone)]
pub struct ProductSchema {
    product: Arc<ProductEntry>,
    mesh: Arc<Mesh>,
    access: Access,
    expander: Arc<dyn Expander>,
}

impl std::fmt::Debug for ProductSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProductSchema({})", self.product.name)
    }
}

#[async_trait]
impl SchemaProvider for ProductSchema {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn table_names(&self) -> Vec<String> {
        let p = &self.access.principal;
        self.product
            .tables
            .keys()
            .filter(|t| p.may_read(&self.product.name, t))
            .cloned()
            .collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let (name, version) = meshgate_sqlfront::versions::split(name);
        let Some(entry) = self.product.tables.get(name) else {
            return Ok(None);
        };
        if !self.access.principal.may_read(&self.product.name, name) {
            return Err(crate::policy::denied(&self.product.name, name).into_datafusion());
        }
        // A view's own tables follow the session's pin through the reader's catalog.
        if let (Some(sql), None) = (&entry.view, version) {
            return self
                .expander
                .view(&self.mesh, &self.access, entry, sql)
                .await
                .map(Some);
        }
        let key = format!("{}.{}", self.product.name, name);
        // A table the statement already reads (under another spelling of its name, or inside
        // a view) is read at the same version again, though a newer one may have come since.
        let earlier = self
            .access
            .version_read(&key)
            .and_then(|v| v.parse().ok())
            .map(AsOf::Version);
        let opened = match (version, self.access.as_of(), earlier) {
            (Some(v), _, _) => {
                let at = history::as_of(v).map_err(|e| e.into_datafusion())?;
                entry.open_at(at).await
            }
            (None, Some(ms), _) => entry.open_pinned(ms).await,
            (None, None, Some(at)) => entry.open_at(at).await,
            (None, None, None) => entry.open().await,
        }
        .map_err(|e| e.into_datafusion())?;
        self.access.record_version(key, opened.version.clone());
        // The policy view names the version opened here, so that a statement reads one
        // version of the table however often it names it.
        let version = opened.version.as_deref().and_then(|v| v.parse().ok());
        self.expander
            .guard(&self.mesh, &self.access, entry, opened.provider, version)
            .await
            .map(Some)
    }

    fn table_exist(&self, name: &str) -> bool {
        let (name, _) = meshgate_sqlfront::versions::split(name);
        self.product.tables.contains_key(name)
            && self.access.principal.may_read(&self.product.name, name)
    }
}

/// The database as a DataFusion catalog: the mesh's products plus the system schemas a session
/// registers (pg_catalog, public).
pub struct MeshCatalog {
    mesh: Arc<Mesh>,
    access: Access,
    expander: Arc<dyn Expander>,
    extra: RwLock<BTreeMap<String, Arc<dyn SchemaProvider>>>,
}

impl std::fmt::Debug for MeshCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MeshCatalog({})", self.mesh.database)
    }
}

impl MeshCatalog {
    pub fn mesh(&self) -> &Arc<Mesh> {
        &self.mesh
    }

    pub fn access(&self) -> &Access {
        &self.access
    }

    pub fn new(mesh: Arc<Mesh>, access: Access, expander: Arc<dyn Expander>) -> Self {
        let mut extra: BTreeMap<String, Arc<dyn SchemaProvider>> = BTreeMap::new();
        // PostgreSQL's default search_path ends in `public`; an empty one keeps tools that
        // expect it from failing.
        extra.insert("public".into(), Arc::new(MemorySchemaProvider::new()));
        MeshCatalog {
            mesh,
            access,
            expander,
            extra: RwLock::new(extra),
        }
    }
}

impl CatalogProvider for MeshCatalog {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema_names(&self) -> Vec<String> {
        let p = &self.access.principal;
        let mut names: Vec<String> = self
            .mesh
            .products
            .keys()
            .filter(|n| pg_catalog::may_use_schema(p, &self.mesh, n))
            .cloned()
            .collect();
        names.extend(
            self.extra
                .read()
                .expect("lock is never poisoned: no panics while held")
                .keys()
                .cloned(),
        );
        names.push(discovery::SCHEMA.to_string());
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if let Some(p) = self.mesh.products.get(name) {
            return Some(Arc::new(ProductSchema {
                product: p.clone(),
                mesh: self.mesh.clone(),
                access: self.access.clone(),
                expander: self.expander.clone(),
            }));
        }
        if name == discovery::SCHEMA {
            return Some(Arc::new(discovery::Discovery::new(
                self.mesh.clone(),
                self.access.principal.clone(),
            )));
        }
        self.extra
            .read()
            .expect("lock is never poisoned: no panics while held")
            .get(name)
            .cloned()
    }

    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> DfResult<Option<Arc<dyn SchemaProvider>>> {
        if self.mesh.products.contains_key(name) || name == discovery::SCHEMA {
            return Err(DataFusionError::Plan(format!(
                "schema {name} is a data product and cannot be replaced"
            )));
        }
        Ok(self
            .extra
            .write()
            .expect("lock is never poisoned: no panics while held")
            .insert(name.to_string(), schema))
    }
}
