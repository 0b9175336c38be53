//! The mesh every session plans against now, and what replaces it.
//!
//! ```text
//!  reload (new Config) ─┐
//!  commit (new catalogs of writable products) ─┴─► build a Mesh ─► install ─► generation + 1
//!  session, at its next statement: generation changed? ─► plan against the new mesh
//! ```
//!
//! A statement keeps the `Arc<Mesh>` it started with; nothing is swapped under a running scan.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use datafusion::execution::runtime_env::RuntimeEnv;
use meshgate_connectors::Registry;

use super::workspace::{Manifest, Workspaces};
use super::Mesh;
use crate::config::{Config, ConfigError};

pub struct MeshState {
    /// The runtime every table's object store is registered with.
    env: Arc<RuntimeEnv>,
    connectors: Arc<Registry>,
    /// The configuration and the mesh built from it, swapped together.
    current: RwLock<(Arc<Config>, Arc<Mesh>)>,
    /// Bumped by every installed mesh; sessions compare it to re-attach.
    generation: AtomicU64,
    /// The committed catalogs of writable products (what clients created in them).
    pub workspaces: Workspaces,
}

impl std::fmt::Debug for MeshState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MeshState(generation {})", self.generation())
    }
}

impl MeshState {
    pub fn new(
        config: Config,
        env: Arc<RuntimeEnv>,
        connectors: Registry,
    ) -> Result<MeshState, ConfigError> {
        let connectors = Arc::new(connectors);
        let mesh = Mesh::build(&config, &env, &connectors, &HashMap::new())?;
        Ok(MeshState {
            env,
            connectors,
            current: RwLock::new((Arc::new(config), Arc::new(mesh))),
            generation: AtomicU64::new(0),
            workspaces: Workspaces::default(),
        })
    }

    pub fn config(&self) -> Arc<Config> {
        self.current
            .read()
            .expect("mesh lock is never poisoned")
            .0
            .clone()
    }

    pub fn mesh(&self) -> Arc<Mesh> {
        self.current
            .read()
            .expect("mesh lock is never poisoned")
            .1
            .clone()
    }

    /// Changes whenever another mesh is installed.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// A mesh for `config` with these catalogs of writable products (a transaction's own view
    /// of them), sharing what the running mesh has learned about unchanged tables.
    pub fn build(
        &self,
        config: &Config,
        created: &HashMap<String, Arc<Manifest>>,
    ) -> Result<Arc<Mesh>, ConfigError> {
        let mesh = Mesh::build(config, &self.env, &self.connectors, created)?;
        mesh.inherit(&self.mesh());
        Ok(Arc::new(mesh))
    }

    /// A mesh with this transaction's catalogs over the committed ones.
    pub fn with_changes(
        &self,
        changed: &HashMap<String, Manifest>,
    ) -> Result<Arc<Mesh>, ConfigError> {
        let mut view = self.workspaces.snapshot();
        for (p, m) in changed {
            view.insert(p.clone(), Arc::new(m.clone()));
        }
        self.build(&self.config(), &view)
    }

    /// Makes `mesh`, built from `config`, the one every session's next statement sees.
    pub fn install(&self, config: Arc<Config>, mesh: Arc<Mesh>) {
        *self.current.write().expect("mesh lock is never poisoned") = (config, mesh);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Builds the mesh again from the running configuration and the committed catalogs of
    /// writable products (after a commit).
    pub fn rebuild(&self) -> Result<(), ConfigError> {
        let config = self.config();
        let mesh = self.build(&config, &self.workspaces.snapshot())?;
        self.install(config, mesh);
        Ok(())
    }

    /// Reads the catalogs of writable products not read yet, then serves what they hold. A
    /// product whose catalog cannot be read is logged and served without its created relations
    /// until a commit reads it again.
    pub async fn load_workspaces(&self) {
        let mesh = self.mesh();
        let mut loaded = false;
        for p in mesh.products.values() {
            if let Some(w) = &p.write {
                if !self.workspaces.is_loaded(&p.name) {
                    match self.workspaces.load(&p.name, w).await {
                        Ok(()) => loaded = true,
                        Err(e) => {
                            tracing::error!(product = %p.name, "created relations not loaded: {}", e.message)
                        }
                    }
                }
            }
        }
        if loaded {
            if let Err(e) = self.rebuild() {
                tracing::error!("mesh not rebuilt with created relations: {e}");
            }
        }
    }
}
