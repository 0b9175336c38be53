//! Typed configuration: `meshgate.toml` (server, users, where the domain files are) and one file per
//! domain, each owned by its domain team. Plain data and its validation only: what the server
//! builds from it at run time (the TLS acceptor, the JWT key set, the mesh) is built elsewhere.
//!
//! ```text
//!  meshgate.toml ─► sections.rs (what the file may say) ─► mod.rs (Config::load: validate)
//!  domains/*.toml ─► domain.rs (one file per domain) ─┘      └─► principals.rs (users, roles)
//! ```
//!
//! Layers, lowest first: built-in defaults → the TOML file → `MESHGATE__SECTION__KEY` environment
//! variables (server file only). Every error names the file, the key and what is wrong, because
//! the person reading it is usually a domain team editing their own file.
//!
//! Credentials are never written in these files: a domain names the environment variables that
//! hold them (`access_key_id_env = "SALES_AWS_KEY"`), or leaves them out to use the ambient
//! provider chain.

mod domain;
mod peering;
mod principals;
mod sections;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use meshgate_connectors::{IcebergCatalog, StorageKind};
use meshgate_protocol::scram::ScramVerifier;

pub use domain::{
    CatalogSection, DomainFile, GrantSection, MaskSection, PartitionColumn, ProductSection,
    ResidencySection, RowFilterSection, StorageSection, TableSection, FORMATS,
};
pub use peering::{Export, Residency};
pub use sections::{
    AuditSection, AuditSettings, AuditSink, AuthSettings, ClusterMode, ClusterSettings,
    DomainsSettings, JwtSettings, LimitsSettings, PeerGateway, PeerReplica, ReplicasSettings,
    RoleEntry, ServerFile, ServerSettings, UserEntry,
};

/// A configuration error: which file, which key, what is wrong.
#[derive(Debug, Clone)]
pub struct ConfigError {
    pub file: PathBuf,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{}: key `{}`: {}",
                self.file.display(),
                self.key,
                self.message
            )
        }
    }
}

impl std::error::Error for ConfigError {}

fn err(file: &Path, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        file: file.to_path_buf(),
        key: key.into(),
        message: message.into(),
    }
}

/// A user after validation.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub verifier: ScramVerifier,
    pub admin: bool,
    pub max_connections: Option<usize>,
    pub roles: Vec<String>,
    pub attributes: BTreeMap<String, String>,
}

/// A declared role after validation.
#[derive(Debug, Clone)]
pub struct Role {
    pub name: String,
    pub description: String,
    pub member_of: Vec<String>,
}

/// The validated mesh description: what the server runs on.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub server: ServerSettings,
    pub limits: LimitsSettings,
    pub users: HashMap<String, User>,
    pub roles: BTreeMap<String, Role>,
    pub domains: Vec<Domain>,
    /// `[auth.jwt]` as written; its key set is read when the server builds its verifier.
    pub jwt: Option<JwtSettings>,
    pub audit: AuditSettings,
    pub replicas: ReplicasSettings,
    /// `[[peers]]`, paths resolved: gateways of other regions.
    pub peers: Vec<PeerGateway>,
    pub cluster: ClusterSettings,
    /// `[engine]`: the operator's DataFusion settings, checked, in the order written.
    pub engine: Vec<(String, String)>,
}

/// A domain after validation, with its storage resolved.
#[derive(Debug, Clone)]
pub struct Domain {
    pub file: PathBuf,
    pub name: String,
    pub description: String,
    pub owners: Vec<String>,
    pub root: url::Url,
    pub storage_kind: StorageKind,
    pub catalogs: BTreeMap<String, IcebergCatalog>,
    pub products: Vec<ProductSection>,
    pub grants: Vec<GrantSection>,
    pub row_filters: Vec<RowFilterSection>,
    pub masks: Vec<MaskSection>,
    /// The connections of tables read from operational databases, by (product, table).
    pub remotes: BTreeMap<(String, String), meshgate_connectors::RemoteSource>,
    /// Where the domain's data must stay; None: no rule.
    pub jurisdiction: Option<String>,
    /// In another jurisdiction than this gateway's region: read through a peer of that region,
    /// its storage never opened and its credentials never read.
    pub foreign: bool,
}

/// The role every user holds; grants to it are grants to everyone who can log in.
pub const PUBLIC: &str = "public";

impl Config {
    /// The directory relative paths in meshgate.toml are read from.
    pub fn base(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// Reads and validates `meshgate.toml` and every domain file it points to.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Self::load_with_env(path, &|k| std::env::var(k).ok())
    }

    /// As [`Config::load`], with the environment given explicitly (tests, and `check`).
    pub fn load_with_env(
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        if !path.exists() {
            return Err(err(path, "", "file not found"));
        }
        let built = config::Config::builder()
            .add_source(config::File::from(path).format(config::FileFormat::Toml))
            .add_source(
                config::Environment::with_prefix("MESHGATE")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true),
            )
            .build()
            .map_err(|e| from_config_error(path, e))?;
        let file: ServerFile = built
            .try_deserialize()
            .map_err(|e| from_config_error(path, e))?;
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();

        let server = file.server;
        if server.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(err(
                path,
                "server.listen",
                format!("{:?} is not an address like 127.0.0.1:5433", server.listen),
            ));
        }
        if !valid_ident(&server.database) {
            return Err(err(
                path,
                "server.database",
                "must be a lowercase identifier",
            ));
        }
        if !["scram-sha-256", "password"].contains(&server.password_method.as_str()) {
            return Err(err(
                path,
                "server.password_method",
                "must be \"scram-sha-256\" or \"password\"",
            ));
        }
        if server.batch_size == 0 {
            return Err(err(path, "server.batch_size", "must be at least 1"));
        }
        if let Some(a) = &server.http_listen {
            if a.parse::<std::net::SocketAddr>().is_err() {
                return Err(err(
                    path,
                    "server.http_listen",
                    format!("{a:?} is not an address like 127.0.0.1:9187"),
                ));
            }
        }
        if let Some(u) = &server.web_url {
            if !(u.starts_with("https://") || u.starts_with("http://")) {
                return Err(err(
                    path,
                    "server.web_url",
                    format!("{u:?} is not an http:// or https:// URL"),
                ));
            }
        }
        if server.web_session_idle_secs == 0 {
            return Err(err(
                path,
                "server.web_session_idle_secs",
                "must be at least 1",
            ));
        }
        let mut limits = file.limits;
        if limits.max_connections == 0 {
            return Err(err(path, "limits.max_connections", "must be at least 1"));
        }
        if limits.reserved_admin_connections >= limits.max_connections {
            return Err(err(
                path,
                "limits.reserved_admin_connections",
                "must be less than limits.max_connections",
            ));
        }
        if limits.handshake_timeout_ms == 0 {
            return Err(err(
                path,
                "limits.handshake_timeout_ms",
                "must be at least 1",
            ));
        }
        if limits.max_query_message_bytes < 1024 || limits.max_other_message_bytes < 1024 {
            return Err(err(
                path,
                "limits.max_query_message_bytes",
                "message limits must be at least 1024 bytes",
            ));
        }
        if limits.query_memory_mb > 0
            && limits.memory_pool_mb > 0
            && limits.query_memory_mb > limits.memory_pool_mb
        {
            return Err(err(
                path,
                "limits.query_memory_mb",
                "must not exceed limits.memory_pool_mb",
            ));
        }
        if limits.query_memory_mb > 0 && limits.query_memory_mb < 16 {
            // A sort sets aside 10 MiB for merging its spill files; less than that cannot sort.
            return Err(err(
                path,
                "limits.query_memory_mb",
                "must be 0 (the pool) or at least 16",
            ));
        }
        if limits.cancel_requests_per_sec == 0 {
            return Err(err(
                path,
                "limits.cancel_requests_per_sec",
                "must be at least 1",
            ));
        }
        if let Some(d) = &mut limits.spill_dir {
            *d = base.join(&*d);
            if !d.is_dir() {
                return Err(err(
                    path,
                    "limits.spill_dir",
                    format!("{} is not a directory", d.display()),
                ));
            }
        }
        let mut server = server;
        for (key, p) in [
            ("server.tls_cert", &mut server.tls_cert),
            ("server.tls_key", &mut server.tls_key),
        ] {
            if let Some(p) = p {
                *p = base.join(&*p);
                if !p.exists() {
                    return Err(err(path, key, format!("{} does not exist", p.display())));
                }
            }
        }
        if server.tls_cert.is_some() != server.tls_key.is_some() {
            return Err(err(
                path,
                "server.tls_key",
                "tls_cert and tls_key go together",
            ));
        }
        if server.require_tls && server.tls_cert.is_none() {
            return Err(err(
                path,
                "server.require_tls",
                "requires tls_cert and tls_key",
            ));
        }
        if let Some(p) = &mut server.tls_client_ca {
            *p = base.join(&*p);
            if !p.exists() {
                return Err(err(
                    path,
                    "server.tls_client_ca",
                    format!("{} does not exist", p.display()),
                ));
            }
        }
        match (
            server.tls_client_auth.as_str(),
            server.tls_client_ca.is_some(),
        ) {
            ("none", false) | ("optional" | "required", true) => {}
            ("none", true) => {
                return Err(err(
                    path,
                    "server.tls_client_auth",
                    "tls_client_ca is set: set tls_client_auth to \"optional\" or \"required\"",
                ))
            }
            ("optional" | "required", false) => {
                return Err(err(
                    path,
                    "server.tls_client_ca",
                    "tls_client_auth needs tls_client_ca",
                ))
            }
            _ => {
                return Err(err(
                    path,
                    "server.tls_client_auth",
                    "must be \"none\", \"optional\" or \"required\"",
                ))
            }
        }
        if server.tls_client_ca.is_some() && server.tls_cert.is_none() {
            return Err(err(
                path,
                "server.tls_client_ca",
                "requires tls_cert and tls_key",
            ));
        }
        if limits.failed_login_window_secs == 0 {
            return Err(err(
                path,
                "limits.failed_login_window_secs",
                "must be at least 1",
            ));
        }
        let jwt = file.auth.jwt.clone();

        let mut users = HashMap::new();
        for (i, u) in file.users.iter().enumerate() {
            let key = format!("users[{i}]");
            if u.name.is_empty() {
                return Err(err(path, format!("{key}.name"), "must not be empty"));
            }
            let verifier = ScramVerifier::parse(&u.password).map_err(|m| {
                err(path, format!("{key}.password"), format!("{m}; store a verifier made by `meshgate passwd`, never a plaintext password"))
            })?;
            if users
                .insert(
                    u.name.clone(),
                    User {
                        name: u.name.clone(),
                        verifier,
                        admin: u.admin,
                        max_connections: u.max_connections,
                        roles: u.roles.clone(),
                        attributes: u.attributes.clone(),
                    },
                )
                .is_some()
            {
                return Err(err(
                    path,
                    format!("{key}.name"),
                    format!("user {:?} is declared twice", u.name),
                ));
            }
        }

        let dir = base.join(&file.domains.dir);
        let mut domain_files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| {
                err(
                    path,
                    "domains.dir",
                    format!("cannot read {}: {e}", dir.display()),
                )
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        domain_files.sort();
        let mut domains = Vec::new();
        let mut product_owner: HashMap<String, PathBuf> = HashMap::new();
        let mut domain_names: HashMap<String, PathBuf> = HashMap::new();
        for f in domain_files {
            let d = domain::load_domain(&f, env, server.region.as_deref())?;
            if let Some(other) = domain_names.insert(d.name.clone(), f.clone()) {
                return Err(err(
                    &f,
                    "name",
                    format!(
                        "domain {:?} is also declared in {}",
                        d.name,
                        other.display()
                    ),
                ));
            }
            for (i, p) in d.products.iter().enumerate() {
                if let Some(other) = product_owner.insert(p.name.clone(), f.clone()) {
                    return Err(err(
                        &f,
                        format!("products[{i}].name"),
                        format!("data product {:?} is already published by {}; product names are unique across the mesh", p.name, other.display()),
                    ));
                }
            }
            domains.push(d);
        }
        let roles = principals::validate_roles(path, &file.roles, &file.users)?;
        for d in &domains {
            principals::validate_principals(d, &users, &roles)?;
        }
        let audit = AuditSettings::validate(file.audit, path, &base, &domains)?;
        let replicas = validate_replicas(file.replicas, path, &base, env)?;
        let peers = peering::validate_peers(file.peers, path, &base, &server, &domains)?;
        let cluster = validate_cluster(file.cluster, path)?;
        let engine = validate_engine(file.engine, path)?;
        // A certificate naming a peer logs in whoever it says: no user may share that name.
        if let Some(p) = peers.iter().find(|p| users.contains_key(&p.name)) {
            return Err(err(
                path,
                "peers.name",
                format!(
                    "{:?} is also a user's name; a peer gateway's certificate name must be no user's",
                    p.name
                ),
            ));
        }
        Ok(Config {
            path: path.to_path_buf(),
            server,
            limits,
            users,
            roles,
            domains,
            jwt,
            audit,
            replicas,
            peers,
            cluster,
            engine,
        })
    }
}

/// DataFusion settings meshgate itself relies on: the SQL dialect and literal typing that give
/// PostgreSQL's answers, the catalog layout clients see, and the session's TimeZone.
const ENGINE_SETTINGS_OWNED: &[&str] = &[
    "datafusion.sql_parser.",
    "datafusion.catalog.",
    "datafusion.execution.time_zone",
];

/// `[engine]` holds `datafusion.*` settings (string, number or boolean values); each must be one
/// DataFusion knows, with a value it accepts, and not one meshgate sets for PostgreSQL's sake.
fn validate_engine(
    settings: BTreeMap<String, sections::EngineValue>,
    path: &Path,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut check = datafusion::config::ConfigOptions::new();
    let mut out = Vec::with_capacity(settings.len());
    for (key, value) in settings {
        let at = format!("engine.{key}");
        let value = match value {
            sections::EngineValue::Text(s) => s,
            sections::EngineValue::Int(i) => i.to_string(),
            sections::EngineValue::Float(f) => f.to_string(),
            sections::EngineValue::Bool(b) => b.to_string(),
        };
        if !key.starts_with("datafusion.") {
            return Err(err(
                path,
                at,
                "engine settings are DataFusion's, named `datafusion.…`",
            ));
        }
        if ENGINE_SETTINGS_OWNED.iter().any(|o| key.starts_with(o)) {
            return Err(err(
                path,
                at,
                "meshgate sets this one itself (PostgreSQL's dialect, catalog and TimeZone)",
            ));
        }
        check
            .set(&key, &value)
            .map_err(|e| err(path, at.clone(), e.strip_backtrace()))?;
        out.push((key, value));
    }
    Ok(out)
}

/// A cluster that may be used needs a scheduler to reach.
fn validate_cluster(c: ClusterSettings, path: &Path) -> Result<ClusterSettings, ConfigError> {
    if let Some(a) = &c.scheduler {
        if a.rsplit_once(':')
            .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
        {
            return Err(err(
                path,
                "cluster.scheduler",
                format!("{a:?} is not host:port"),
            ));
        }
    } else if c.mode != ClusterMode::Off {
        return Err(err(
            path,
            "cluster.scheduler",
            "a cluster mode other than \"off\" needs the scheduler's host:port",
        ));
    }
    Ok(c)
}

/// Replica numbers fit the top byte of a positive process id, and name one replica each.
fn validate_replicas(
    mut r: ReplicasSettings,
    path: &Path,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ReplicasSettings, ConfigError> {
    if r.id > 127 {
        return Err(err(
            path,
            "replicas.id",
            "must be 1 to 127 (0: no replicas)",
        ));
    }
    if r.id == 0 && !r.peers.is_empty() {
        return Err(err(
            path,
            "replicas.peers",
            "a server with peers needs its own replicas.id",
        ));
    }
    let mut seen = std::collections::BTreeSet::from([r.id]);
    for p in &r.peers {
        if p.id == 0 || p.id > 127 || !seen.insert(p.id) {
            return Err(err(
                path,
                "replicas.peers",
                format!("peer id {} must be 1 to 127 and differ from this replica's and every other peer's", p.id),
            ));
        }
        if p.address
            .rsplit_once(':')
            .is_none_or(|(_, port)| port.parse::<u16>().is_err())
        {
            return Err(err(
                path,
                "replicas.peers",
                format!("{:?} is not an address like 10.0.0.2:5433", p.address),
            ));
        }
    }
    let secret = match (&r.secret_file, &r.secret_env) {
        (Some(_), Some(_)) => {
            return Err(err(
                path,
                "replicas.secret_file",
                "set secret_file or secret_env, not both",
            ))
        }
        (Some(f), None) => Some(
            std::fs::read_to_string(base.join(f))
                .map_err(|e| err(path, "replicas.secret_file", format!("cannot be read: {e}")))?,
        ),
        (None, Some(v)) => Some(env(v).ok_or_else(|| {
            err(
                path,
                "replicas.secret_env",
                format!("names environment variable {v}, which is not set"),
            )
        })?),
        (None, None) => None,
    };
    if let Some(s) = secret {
        let s = s.trim();
        if s.chars().count() < 32 {
            return Err(err(
                path,
                if r.secret_file.is_some() {
                    "replicas.secret_file"
                } else {
                    "replicas.secret_env"
                },
                "the replicas' shared secret must be at least 32 characters",
            ));
        }
        r.secret = Some(meshgate_connectors::Secret::new(s));
    }
    Ok(r)
}

fn from_config_error(path: &Path, e: config::ConfigError) -> ConfigError {
    // The config crate's messages already name the key ("… for key `server.listen` …").
    let text = e.to_string();
    let key = text
        .split("for key `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap_or("")
        .to_string();
    let text = match text.find(" in ") {
        Some(i) if text[i..].contains(&*path.to_string_lossy()) => text[..i].to_string(),
        _ => text,
    };
    ConfigError {
        file: path.to_path_buf(),
        key,
        message: text,
    }
}

/// Lowercase SQL identifiers only, so names never need quoting in any client.
pub fn valid_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    fn verifier() -> String {
        ScramVerifier::generate("pw", 4096).to_string()
    }

    fn base(dir: &Path) -> PathBuf {
        write(
            dir,
            "meshgate.toml",
            &format!("[[users]]\nname = \"a\"\npassword = \"{}\"\n", verifier()),
        )
    }

    #[test]
    fn operational_connections_are_validated_without_showing_passwords() {
        let d = tempfile::tempdir().unwrap();
        let p = base(d.path());
        write(d.path(), "domains/plant.db", "");
        write(d.path(), "domains/pw", "hunter2-file\n");
        let domain = |format: &str, connection: &str| {
            format!(
                "name = \"ops\"\n[storage]\nroot = \"data\"\n[[products]]\nname = \"ops\"\n\
                 [[products.tables]]\nname = \"t\"\nformat = \"{format}\"\n\
                 [products.tables.connection]\n{connection}\n"
            )
        };
        let pg = "host = \"db\"\ndatabase = \"billing\"\nuser = \"reader\"\ntls = \"disable\"";
        let env = |k: &str| (k == "PW").then(|| "hunter2-env".to_string());
        for (format, connection, key) in [
            (
                "postgres",
                "host = \"db\"\ndatabase = \"b\"\nuser = \"r\"",
                "tls",
            ),
            (
                "postgres",
                &format!("{pg}\npassword_env = \"NOT_SET\""),
                "password_env",
            ),
            (
                "postgres",
                &format!("{pg}\npassword_env = \"PW\"\npassword_file = \"pw\""),
                "password_file",
            ),
            ("postgres", &pg.replace("disable", "require"), "tls"),
            ("postgres", &format!("{pg}\npath = \"plant.db\""), "path"),
            (
                "postgres",
                &format!("{pg}\nmax_connections = 0"),
                "max_connections",
            ),
            ("sqlite", "path = \"missing.db\"", "path"),
            ("sqlite", "path = \"plant.db\"\nhost = \"db\"", "host"),
            ("mysql", &format!("{pg}\nschema = \"billing\""), "schema"),
            ("mysql", &pg.replace("disable", "verify-full"), "ca_file"),
            ("mysql", &pg.replace("disable", "require"), "tls"),
            (
                "mysql",
                &format!("{pg}\npassword_env = \"NOT_SET\""),
                "password_env",
            ),
            (
                "mysql",
                "host = \"db\"\nuser = \"r\"\ntls = \"disable\"",
                "database",
            ),
        ] {
            write(d.path(), "domains/ops.toml", &domain(format, connection));
            let e = Config::load_with_env(&p, &env).unwrap_err();
            assert_eq!(
                e.key,
                format!("products[0].tables[0].connection.{key}"),
                "{connection}: {e}"
            );
            assert!(!e.to_string().contains("hunter2"), "{e}");
        }
        write(
            d.path(),
            "domains/ops.toml",
            &format!(
                "{}[[products.tables]]\nname = \"u\"\nformat = \"postgres\"\nlocation = \"x\"\n",
                domain("sqlite", "path = \"plant.db\"")
            ),
        );
        let e = Config::load_with_env(&p, &env).unwrap_err();
        assert_eq!(e.key, "products[0].tables[1].connection", "{e}");

        for (connection, password) in [
            (format!("{pg}\npassword_env = \"PW\""), "hunter2-env"),
            (format!("{pg}\npassword_file = \"pw\""), "hunter2-file"),
        ] {
            write(
                d.path(),
                "domains/ops.toml",
                &domain("postgres", &connection),
            );
            let c = Config::load_with_env(&p, &env).expect("valid connection");
            let remote = &c.domains[0].remotes[&("ops".to_string(), "t".to_string())];
            let meshgate_connectors::RemoteSource::Postgres(s) = remote else {
                panic!("{remote:?}")
            };
            assert_eq!(s.password.as_ref().map(|p| p.expose()), Some(password));
            assert_eq!(
                (s.schema.as_str(), s.table.as_str(), s.port),
                ("public", "t", 5432)
            );
            assert!(!format!("{c:?}").contains("hunter2"));
        }

        write(
            d.path(),
            "domains/ops.toml",
            &domain(
                "mysql",
                &format!("{pg}\npassword_file = \"pw\"\ntable = \"Plant_T\""),
            ),
        );
        let c = Config::load_with_env(&p, &env).expect("valid mysql connection");
        let remote = &c.domains[0].remotes[&("ops".to_string(), "t".to_string())];
        let meshgate_connectors::RemoteSource::Mysql(s) = remote else {
            panic!("{remote:?}")
        };
        assert_eq!(
            s.password.as_ref().map(|p| p.expose()),
            Some("hunter2-file")
        );
        assert_eq!((s.table.as_str(), s.port), ("Plant_T", 3306));
        assert_eq!(s.describe(), "mysql://db:3306/billing");
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn product_clash_names_both_files() {
        let d = tempfile::tempdir().unwrap();
        let p = base(d.path());
        let dom = |n: &str| {
            format!("name = \"{n}\"\n[storage]\nroot = \"data\"\n[[products]]\nname = \"shared\"\n")
        };
        write(d.path(), "domains/a.toml", &dom("a"));
        write(d.path(), "domains/b.toml", &dom("b"));
        let e = Config::load_with_env(&p, &|_| None).unwrap_err();
        assert!(e.file.ends_with("domains/b.toml"), "{e}");
        assert_eq!(e.key, "products[0].name");
        assert!(e.message.contains("a.toml"), "{e}");
    }

    #[test]
    fn unknown_key_and_bad_type_are_named() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "meshgate.toml",
            "[server]\nlisten = \"127.0.0.1:1\"\nlsten = 3\n",
        );
        std::fs::create_dir_all(d.path().join("domains")).unwrap();
        let e = Config::load_with_env(&p, &|_| None).unwrap_err();
        assert!(e.to_string().contains("lsten"), "{e}");

        let p = write(
            d.path(),
            "meshgate.toml",
            "[server]\nrequire_tls = \"maybe\"\n",
        );
        let e = Config::load_with_env(&p, &|_| None).unwrap_err();
        assert_eq!(e.key, "server.require_tls", "{e}");
    }

    #[test]
    fn cluster_section_is_checked() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("domains")).unwrap();
        for (text, key) in [
            ("[cluster]\nmode = \"auto\"\n", "cluster.scheduler"),
            ("[cluster]\nscheduler = \"nohost\"\n", "cluster.scheduler"),
            (
                "[cluster]\nscheduler = \"h:1\"\nmode = \"sometimes\"\n",
                "cluster.mode",
            ),
        ] {
            let p = write(d.path(), "meshgate.toml", text);
            let e = Config::load_with_env(&p, &|_| None).unwrap_err();
            assert!(e.key == key || e.to_string().contains(key), "{text}: {e}");
        }
        let p = write(d.path(), "meshgate.toml", "");
        let c = Config::load_with_env(&p, &|_| None).expect("no cluster");
        assert_eq!(c.cluster.mode, ClusterMode::Off);
        let p = write(
            d.path(),
            "meshgate.toml",
            "[cluster]\nscheduler = \"10.0.0.9:50050\"\nmode = \"auto\"\nauto_min_bytes = 1000\npartitions = 24\n",
        );
        let c = Config::load_with_env(&p, &|_| None).expect("valid cluster");
        assert_eq!(
            (
                c.cluster.scheduler.as_deref(),
                c.cluster.mode,
                c.cluster.auto_min_bytes,
                c.cluster.partitions
            ),
            (Some("10.0.0.9:50050"), ClusterMode::Auto, 1000, 24)
        );
    }

    #[test]
    fn engine_settings_are_checked() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("domains")).unwrap();
        for (text, says) in [
            (
                "[engine]\n\"datafusion.optimizer.no_such\" = 1\n",
                "no_such",
            ),
            (
                "[engine]\n\"datafusion.execution.batch_size\" = \"many\"\n",
                "batch_size",
            ),
            ("[engine]\n\"ballista.job.name\" = \"x\"\n", "datafusion."),
            (
                "[engine]\n\"datafusion.sql_parser.dialect\" = \"generic\"\n",
                "meshgate sets this one itself",
            ),
            (
                "[engine]\n\"datafusion.execution.time_zone\" = \"+01:00\"\n",
                "meshgate sets this one itself",
            ),
        ] {
            let p = write(d.path(), "meshgate.toml", text);
            let e = Config::load_with_env(&p, &|_| None).unwrap_err();
            assert!(
                e.key.starts_with("engine.") && e.to_string().contains(says),
                "{text}: {e}"
            );
        }
        let p = write(
            d.path(),
            "meshgate.toml",
            "[engine]\n\"datafusion.optimizer.hash_join_single_partition_threshold\" = 0\n\"datafusion.execution.parquet.pushdown_filters\" = true\n",
        );
        let c = Config::load_with_env(&p, &|_| None).expect("valid engine settings");
        assert_eq!(
            c.engine,
            [
                (
                    "datafusion.execution.parquet.pushdown_filters".to_string(),
                    "true".to_string()
                ),
                (
                    "datafusion.optimizer.hash_join_single_partition_threshold".to_string(),
                    "0".to_string()
                ),
            ]
        );
    }

    #[test]
    fn replica_numbers_are_checked() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("domains")).unwrap();
        for (text, key) in [
            ("[replicas]\nid = 200\n", "replicas.id"),
            (
                "[replicas]\n[[replicas.peers]]\nid = 2\naddress = \"h:1\"\n",
                "replicas.peers",
            ),
            (
                "[replicas]\nid = 1\n[[replicas.peers]]\nid = 1\naddress = \"h:1\"\n",
                "replicas.peers",
            ),
            (
                "[replicas]\nid = 1\n[[replicas.peers]]\nid = 2\naddress = \"h\"\n",
                "replicas.peers",
            ),
        ] {
            let p = write(d.path(), "meshgate.toml", text);
            let e = Config::load_with_env(&p, &|_| None).unwrap_err();
            assert_eq!(e.key, key, "{text}: {e}");
        }
        let p = write(
            d.path(),
            "meshgate.toml",
            "[replicas]\nid = 1\n[[replicas.peers]]\nid = 2\naddress = \"10.0.0.2:5433\"\n",
        );
        let c = Config::load_with_env(&p, &|_| None).expect("valid replicas");
        assert_eq!((c.replicas.id, c.replicas.peers.len()), (1, 1));
        assert!(c.replicas.secret.is_none());
    }

    #[test]
    fn the_replicas_secret_comes_from_a_file_or_the_environment_and_is_never_shown() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("domains")).unwrap();
        let long = "k".repeat(40);
        write(d.path(), "short.secret", "too short\n");
        write(d.path(), "good.secret", &format!("{long}\n"));
        let env = |k: &str| (k == "REPLICA_SECRET").then(|| long.clone());
        for (text, key) in [
            ("secret_file = \"short.secret\"", "replicas.secret_file"),
            ("secret_file = \"missing.secret\"", "replicas.secret_file"),
            ("secret_env = \"UNSET_VARIABLE\"", "replicas.secret_env"),
            (
                "secret_file = \"good.secret\"\nsecret_env = \"REPLICA_SECRET\"",
                "replicas.secret_file",
            ),
        ] {
            let p = write(
                d.path(),
                "meshgate.toml",
                &format!("[replicas]\nid = 1\n{text}\n"),
            );
            let e = Config::load_with_env(&p, &env).unwrap_err();
            assert_eq!(e.key, key, "{text}: {e}");
            assert!(!e.to_string().contains(&long), "{e}");
        }
        for text in [
            "secret_file = \"good.secret\"",
            "secret_env = \"REPLICA_SECRET\"",
        ] {
            let p = write(
                d.path(),
                "meshgate.toml",
                &format!("[replicas]\nid = 1\n{text}\n"),
            );
            let c = Config::load_with_env(&p, &env).expect(text);
            let secret = c.replicas.secret.as_ref().expect(text);
            assert_eq!(secret.expose(), long, "trimmed of the file's newline");
            assert!(
                !format!("{:?}", c.replicas).contains(&long),
                "Debug hides it"
            );
        }
    }

    #[test]
    fn plaintext_password_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "meshgate.toml",
            "[[users]]\nname = \"a\"\npassword = \"secret\"\n",
        );
        std::fs::create_dir_all(d.path().join("domains")).unwrap();
        let e = Config::load_with_env(&p, &|_| None).unwrap_err();
        assert_eq!(e.key, "users[0].password");
        assert!(
            !e.to_string().contains("secret\""),
            "the error must not echo the value: {e}"
        );
    }

    #[test]
    fn missing_credential_variable_is_named() {
        let d = tempfile::tempdir().unwrap();
        let p = base(d.path());
        write(
            d.path(),
            "domains/s.toml",
            "name = \"s\"\n[storage]\nroot = \"s3://bucket/x\"\naccess_key_id_env = \"NO_SUCH_KEY\"\nsecret_access_key_env = \"NO_SUCH_SECRET\"\n",
        );
        let e = Config::load_with_env(&p, &|_| None).unwrap_err();
        assert_eq!(e.key, "storage.access_key_id_env");
        assert!(e.message.contains("NO_SUCH_KEY"));
        let ok = Config::load_with_env(&p, &|k| Some(format!("v-{k}"))).unwrap();
        match &ok.domains[0].storage_kind {
            StorageKind::S3(s) => {
                assert_eq!(s.access_key_id.as_ref().unwrap().expose(), "v-NO_SUCH_KEY")
            }
            other => panic!("{other:?}"),
        }
    }

    /// A gateway in region `us` with an `eu` peer, over one domain of jurisdiction `eu`.
    fn regional(d: &Path, region: &str, domain: &str) -> PathBuf {
        for f in ["ca.pem", "gw.pem", "gw.key"] {
            write(d, f, "not read until the server starts");
        }
        write(d, "domains/s.toml", domain);
        write(
            d,
            "meshgate.toml",
            &format!(
                "[server]\nregion = \"{region}\"\ntls_cert = \"gw.pem\"\ntls_key = \"gw.key\"\n\
                 tls_client_ca = \"ca.pem\"\ntls_client_auth = \"optional\"\n\
                 [[peers]]\nregion = \"{peer}\"\naddress = \"127.0.0.1:5434\"\nname = \"gateway-{peer}\"\n\
                 ca_file = \"ca.pem\"\ncert_file = \"gw.pem\"\nkey_file = \"gw.key\"\n",
                peer = if region == "us" { "eu" } else { "us" }
            ),
        )
    }

    const EU_DOMAIN: &str = "name = \"s\"\njurisdiction = \"eu\"\n[storage]\nroot = \"s3://eu-bucket/x\"\n\
        access_key_id_env = \"EU_KEY\"\nsecret_access_key_env = \"EU_SECRET\"\n\
        [[products]]\nname = \"p\"\n[[products.tables]]\nname = \"t\"\nformat = \"delta\"\nlocation = \"t\"\n";

    #[test]
    fn another_jurisdiction_s_credentials_are_never_read() {
        let d = tempfile::tempdir().unwrap();
        let p = regional(d.path(), "us", EU_DOMAIN);
        let asked = std::sync::Mutex::new(Vec::new());
        let c = Config::load_with_env(&p, &|k| {
            asked.lock().unwrap().push(k.to_string());
            Some("secret".into())
        })
        .unwrap();
        assert!(
            asked.lock().unwrap().is_empty(),
            "{:?}",
            asked.lock().unwrap()
        );
        assert!(c.domains[0].foreign);
        match &c.domains[0].storage_kind {
            StorageKind::S3(s) => {
                assert!(s.access_key_id.is_none() && s.secret_access_key.is_none())
            }
            other => panic!("{other:?}"),
        }
        // The eu gateway reads them, and must have them.
        let p = regional(d.path(), "eu", EU_DOMAIN);
        let e = Config::load_with_env(&p, &|_| None).unwrap_err();
        assert_eq!(e.key, "storage.access_key_id_env");
        assert!(
            !Config::load_with_env(&p, &|_| Some("k".into()))
                .unwrap()
                .domains[0]
                .foreign
        );
    }

    #[test]
    fn residency_rules_and_peers_are_checked() {
        let d = tempfile::tempdir().unwrap();
        let with = |rules: &str| format!("{EU_DOMAIN}[products.residency]\n{rules}\n");
        let env = |_: &str| Some("k".to_string());
        let p = regional(
            d.path(),
            "eu",
            &with("export = \"aggregates\"\nnever_export = [\"t.c\", \"d\"]"),
        );
        let c = Config::load_with_env(&p, &env).unwrap();
        let r = Residency::of(&c.domains[0], "p").unwrap();
        assert_eq!(r.export, Export::Aggregates { min_group_size: 10 });
        assert!(r.holds_back("t", "c") && r.holds_back("u", "d") && !r.holds_back("u", "c"));
        for (rules, key, text) in [
            (
                "export = \"some\"",
                "products[0].residency.export",
                "is not a rule",
            ),
            (
                "export = \"all\"\nmin_group_size = 5",
                "products[0].residency.min_group_size",
                "only",
            ),
            (
                "export = \"aggregates\"\nmin_group_size = 0",
                "products[0].residency.min_group_size",
                "at least 1",
            ),
            (
                "export = \"none\"\nnever_export = [\"x.c\"]",
                "products[0].residency.never_export[0]",
                "no table \"x\"",
            ),
            (
                "export = \"none\"\nnever_export = [\"C-1\"]",
                "products[0].residency.never_export[0]",
                "lowercase",
            ),
        ] {
            let p = regional(d.path(), "eu", &with(rules));
            let e = Config::load_with_env(&p, &env).unwrap_err();
            assert_eq!(e.key, key, "{rules}");
            assert!(e.message.contains(text), "{rules}: {}", e.message);
        }
        // Rules need a jurisdiction.
        let p = regional(
            d.path(),
            "eu",
            &with("export = \"none\"").replace("jurisdiction = \"eu\"\n", ""),
        );
        assert_eq!(
            Config::load_with_env(&p, &env).unwrap_err().key,
            "products[0].residency"
        );
        // A peer's certificate name is no user's.
        let p = regional(d.path(), "eu", &with("export = \"none\""));
        let text = std::fs::read_to_string(&p)
            .unwrap()
            .replace("name = \"gateway-us\"", "name = \"a\"");
        std::fs::write(
            &p,
            format!(
                "{text}\n[[users]]\nname = \"a\"\npassword = \"{}\"\n",
                verifier()
            ),
        )
        .unwrap();
        let e = Config::load_with_env(&p, &env).unwrap_err();
        assert_eq!(e.key, "peers.name", "{}", e.message);
        // A foreign domain needs a peer of its region.
        let p = regional(d.path(), "us", &EU_DOMAIN.replace("\"eu\"", "\"apac\""));
        let e = Config::load_with_env(&p, &env).unwrap_err();
        assert_eq!(e.key, "jurisdiction");
        assert!(
            e.message
                .contains("no [[peers]] entry serves region \"apac\""),
            "{}",
            e.message
        );
    }

    #[test]
    fn iceberg_table_needs_a_source() {
        let d = tempfile::tempdir().unwrap();
        let p = base(d.path());
        write(
            d.path(),
            "domains/s.toml",
            "name = \"s\"\n[storage]\nroot = \"data\"\n[[products]]\nname = \"p\"\n[[products.tables]]\nname = \"t\"\nformat = \"iceberg\"\ncatalog = \"nope\"\n",
        );
        let e = Config::load_with_env(&p, &|_| None).unwrap_err();
        assert_eq!(e.key, "products[0].tables[0].catalog", "{e}");
    }
}
