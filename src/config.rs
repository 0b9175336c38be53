//! Typed configuration: `meshgate.toml` (server, users, where the domain files are) and one file per
//! domain, each owned by its domain team.
//!
//! Layers, lowest first: built-in defaults → the TOML file → `MESHGATE__SECTION__KEY` environment
//! variables (server file only). Every error names the file, the key and what is wrong, because
//! the person reading it is usually a domain team editing their own file.
//!
//! Credentials are never written in these files: a domain names the environment variables that
//! hold them (`access_key_id_env = "SALES_AWS_KEY"`), or leaves them out to use the ambient
//! provider chain.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use meshgate_connector_api::{IcebergCatalog, S3Settings, Secret, StorageKind};

use crate::auth::ScramVerifier;

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

/// `meshgate.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFile {
    #[serde(default)]
    pub server: ServerSettings,
    #[serde(default)]
    pub users: Vec<UserEntry>,
    #[serde(default)]
    pub domains: DomainsSettings,
    #[serde(default)]
    pub limits: LimitsSettings,
    #[serde(default)]
    pub roles: Vec<RoleEntry>,
    #[serde(default)]
    pub auth: AuthSettings,
    #[serde(default)]
    pub audit: AuditSection,
}

/// `[[roles]]`: roles are declared centrally, beside the users; domains grant to them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleEntry {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Roles this role is a member of (it gets their grants, filters and masks too).
    #[serde(default)]
    pub member_of: Vec<String>,
}

/// `[auth]`: ways to log in besides the SCRAM verifiers of `[[users]]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// `[auth.jwt]`: JWT bearer tokens accepted as the password over TLS (see `crate::jwt`).
    pub jwt: Option<crate::jwt::JwtSettings>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address to listen on. Default `127.0.0.1:5433`. Reload: no (restart).
    pub listen: String,
    /// The one database name clients connect to. Default `mesh`.
    pub database: String,
    /// PEM certificate chain for TLS. Unset: TLS is refused (SSLRequest answered 'N').
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Refuse plaintext sessions with 28000. Default false. Needs `tls_cert`/`tls_key`.
    pub require_tls: bool,
    /// `scram-sha-256` (default) or `password`. `password` asks for the cleartext password and is
    /// only used on TLS connections; plaintext connections always use SCRAM.
    pub password_method: String,
    /// Seconds a table's metadata (Delta log, Iceberg snapshot) is reused before it is checked for
    /// a newer version. Default 10; 0 checks at every statement.
    pub metadata_refresh_secs: u64,
    /// Worker threads of the query runtime, kept apart from the network runtime so a heavy query
    /// cannot starve accept and cancel. Default: the number of cores.
    pub exec_threads: Option<usize>,
    /// Upper bound, in milliseconds, for a session's `statement_timeout`; 0 = none. Default 0.
    pub max_statement_timeout_ms: u64,
    /// Rows DataFusion puts in one batch. Default 8192.
    pub batch_size: usize,
    /// Address of the operator port serving `/health` and Prometheus `/metrics` over HTTP.
    /// Unset: no operator port. Reload: no (restart).
    pub admin_listen: Option<String>,
    /// PEM file of the CA certificates client certificates must chain to (mTLS).
    pub tls_client_ca: Option<PathBuf>,
    /// `none` (default: no client certificates asked for), `optional` or `required`. `required`
    /// also refuses plaintext connections.
    pub tls_client_auth: String,
    /// Target size in MiB of the Parquet files written into Delta tables of writable products.
    /// Default 128. Reload: yes (next write).
    pub write_file_mb: u64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: "127.0.0.1:5433".into(),
            database: "mesh".into(),
            tls_cert: None,
            tls_key: None,
            require_tls: false,
            password_method: "scram-sha-256".into(),
            metadata_refresh_secs: 10,
            exec_threads: None,
            max_statement_timeout_ms: 0,
            batch_size: 8192,
            admin_listen: None,
            tls_client_ca: None,
            tls_client_auth: "none".into(),
            write_file_mb: 128,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    pub name: String,
    /// A SCRAM-SHA-256 verifier as printed by `meshgate passwd` (PostgreSQL's `rolpassword` format).
    pub password: String,
    /// Admins see every product and may use admin commands.
    #[serde(default)]
    pub admin: bool,
    /// Sessions this user may hold at once. Unset: only `limits.max_connections` applies.
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// Roles the user holds (declared in `[[roles]]`).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Attributes policies can read as `current_setting('mesh.user.<name>')`.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DomainsSettings {
    /// Directory of domain files (`*.toml`), relative to meshgate.toml. Default `domains`.
    pub dir: PathBuf,
}

/// `[limits]`: what one client may take from the others. Every phase of a connection has a
/// bound; every key here is read again on reload unless it says otherwise.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSettings {
    /// Sessions at once, counted from the startup packet (before authentication), like
    /// PostgreSQL's `max_connections`. Over it: FATAL 53300. Default 100.
    pub max_connections: usize,
    /// Of `max_connections`, slots only admins may take (PostgreSQL's
    /// `superuser_reserved_connections`). Default 3.
    pub reserved_admin_connections: usize,
    /// Milliseconds from accept to the end of authentication (TLS, startup packet, SCRAM).
    /// Default 10000.
    pub handshake_timeout_ms: u64,
    /// Milliseconds an idle session (outside a transaction) may wait for its next statement before
    /// it is closed with 57P05; 0 = never. A session may lower or raise it with
    /// `SET idle_session_timeout`. Default 0.
    pub idle_session_timeout_ms: u64,
    /// Milliseconds a session may sit idle inside a transaction block before it is closed with
    /// 25P03; 0 = never. Default 0.
    pub idle_in_transaction_timeout_ms: u64,
    /// Largest Query, Parse, Bind or CopyData message, in bytes. Default 4 MiB.
    pub max_query_message_bytes: usize,
    /// Largest message of any other kind, in bytes. Default 64 KiB.
    pub max_other_message_bytes: usize,
    /// Memory, in MiB, that all running queries together may hold; spillable operators (sorts,
    /// aggregations, joins) write to `spill_dir` past their share. 0 = unbounded. Default 4096.
    /// Reload: no.
    pub memory_pool_mb: usize,
    /// Memory, in MiB, one query may hold; over it the query fails with 53200 (sorts and hash
    /// aggregates spill before that). 0 = the whole pool, else at least 16 (a sort sets
    /// 10 MiB aside to merge its spill files). Default 0: a hash join cannot spill its build side, and a cap below what the largest join needs fails queries that an uncapped pool answers (TPC-H SF1 q18 over the demo mesh needs more than 1 GiB). Reload: no.
    pub query_memory_mb: usize,
    /// Directory for spill files. Default: the system temporary directory. Reload: no.
    pub spill_dir: Option<PathBuf>,
    /// Queries executing at once; later ones wait in a queue. 0 = twice the query threads.
    /// Reload: no.
    pub max_running_queries: usize,
    /// Queries allowed to wait for a running slot; past it a query fails at once with 53300.
    /// Default 64. Reload: no.
    pub max_queued_queries: usize,
    /// CancelRequests accepted per second from one client address (bursts of twice that); the
    /// rest are dropped, as a cancel gets no answer anyway. Default 20.
    pub cancel_requests_per_sec: u32,
    /// Milliseconds running statements get to finish after SIGTERM before they are cancelled.
    /// Default 30000.
    pub drain_timeout_ms: u64,
    /// Failed logins from one address, or for one user, within `failed_login_window_secs` after
    /// which further attempts are refused (28000) before any password exchange. 0 = no limit.
    /// Default 5.
    pub max_failed_logins: u32,
    /// The window, in seconds, failed logins are counted over. Default 60.
    pub failed_login_window_secs: u64,
}

impl Default for LimitsSettings {
    fn default() -> Self {
        LimitsSettings {
            max_connections: 100,
            reserved_admin_connections: 3,
            handshake_timeout_ms: 10_000,
            idle_session_timeout_ms: 0,
            idle_in_transaction_timeout_ms: 0,
            max_query_message_bytes: 4 * 1024 * 1024,
            max_other_message_bytes: 64 * 1024,
            memory_pool_mb: 4096,
            query_memory_mb: 0,
            spill_dir: None,
            max_running_queries: 0,
            max_queued_queries: 64,
            cancel_requests_per_sec: 20,
            drain_timeout_ms: 30_000,
            max_failed_logins: 5,
            failed_login_window_secs: 60,
        }
    }
}

/// `[audit]` as written: one event per statement (see `crate::audit`). Re-read on reload.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSection {
    /// `none` (default), `stdout` or `file`.
    pub sink: String,
    /// The file `sink = "file"` appends to, relative to meshgate.toml.
    pub path: Option<PathBuf>,
    /// Replace literals in statement texts by `'?'` / `$?`. Default true.
    pub redact_literals: bool,
    /// Events waiting for the writer; when full, new events are dropped and counted. Default 10000.
    pub queue_events: usize,
    /// Domain name → file receiving the events of statements that read that domain's products.
    pub domains: BTreeMap<String, PathBuf>,
}

impl Default for AuditSection {
    fn default() -> Self {
        AuditSection {
            sink: "none".into(),
            path: None,
            redact_literals: true,
            queue_events: 10_000,
            domains: BTreeMap::new(),
        }
    }
}

/// Where the whole stream of audit events goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditSink {
    None,
    Stdout,
    File(PathBuf),
}

/// `[audit]` after validation: paths absolute, domains known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSettings {
    pub sink: AuditSink,
    pub redact_literals: bool,
    pub queue_events: usize,
    pub domains: BTreeMap<String, PathBuf>,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            sink: AuditSink::None,
            redact_literals: true,
            queue_events: 10_000,
            domains: BTreeMap::new(),
        }
    }
}

impl AuditSettings {
    /// Whether any event is written anywhere.
    pub fn enabled(&self) -> bool {
        self.sink != AuditSink::None || !self.domains.is_empty()
    }

    fn validate(
        a: AuditSection,
        path: &Path,
        base: &Path,
        domains: &[Domain],
    ) -> Result<Self, ConfigError> {
        // An audit file in a missing directory would only fail at the first statement, in a log
        // line; say it when the configuration is read instead.
        let file = |key: String, p: &Path| -> Result<PathBuf, ConfigError> {
            let p = base.join(p);
            match p.parent() {
                Some(dir) if dir.as_os_str().is_empty() || dir.is_dir() => Ok(p),
                _ => Err(err(
                    path,
                    key,
                    format!("the directory of {} does not exist", p.display()),
                )),
            }
        };
        let sink = match (a.sink.as_str(), &a.path) {
            ("none", _) => AuditSink::None,
            ("stdout", _) => AuditSink::Stdout,
            ("file", Some(p)) => AuditSink::File(file("audit.path".into(), p)?),
            ("file", None) => return Err(err(path, "audit.path", "sink = \"file\" needs a path")),
            (other, _) => {
                return Err(err(
                    path,
                    "audit.sink",
                    format!("{other:?} is not a sink; use \"none\", \"stdout\" or \"file\""),
                ))
            }
        };
        if a.queue_events == 0 {
            return Err(err(path, "audit.queue_events", "must be at least 1"));
        }
        let mut routed = BTreeMap::new();
        for (name, p) in &a.domains {
            let key = format!("audit.domains.{name}");
            if !domains.iter().any(|d| &d.name == name) {
                return Err(err(path, key, format!("no domain is named {name:?}")));
            }
            routed.insert(name.clone(), file(key, p)?);
        }
        Ok(AuditSettings {
            sink,
            redact_literals: a.redact_literals,
            queue_events: a.queue_events,
            domains: routed,
        })
    }
}

impl Default for DomainsSettings {
    fn default() -> Self {
        DomainsSettings {
            dir: PathBuf::from("domains"),
        }
    }
}

/// One domain file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainFile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub owners: Vec<String>,
    pub storage: StorageSection,
    #[serde(default)]
    pub catalogs: BTreeMap<String, CatalogSection>,
    #[serde(default)]
    pub products: Vec<ProductSection>,
    #[serde(default)]
    pub grants: Vec<GrantSection>,
    #[serde(default)]
    pub row_filters: Vec<RowFilterSection>,
    #[serde(default)]
    pub masks: Vec<MaskSection>,
}

/// `[[grants]]` in a domain file: read access to one of the domain's products, or to one table
/// of it, for users and roles (`public` = everyone who can log in).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantSection {
    pub product: String,
    /// One table of the product; unset = every table of it.
    pub table: Option<String>,
    pub to: Vec<String>,
    /// `read` (default) or `write`. A write grant is for a whole writable product: its holders
    /// may create, replace, rename and drop tables and views in it (dbt `run`), and read it.
    #[serde(default = "read_privilege")]
    pub privilege: String,
}

fn read_privilege() -> String {
    "read".into()
}

/// `[[row_filters]]`: the rows of a table that the named users and roles may see.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowFilterSection {
    /// Named in audit events and `mesh.my_grants`.
    pub name: String,
    pub product: String,
    pub table: String,
    pub to: Vec<String>,
    /// An SQL predicate over the table's columns; may use subqueries over other products and
    /// `current_setting('mesh.user.<attribute>')`.
    pub filter: String,
}

/// `[[masks]]`: what the named users and roles see instead of a column's value.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskSection {
    pub name: String,
    pub product: String,
    pub table: String,
    pub column: String,
    pub to: Vec<String>,
    /// An SQL expression over the table's columns; its value is cast to the column's type.
    pub mask: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSection {
    /// A local path (relative to the domain file) or `s3://`, `gs://`, `az://` URL.
    pub root: String,
    pub region: Option<String>,
    pub endpoint: Option<String>,
    #[serde(default)]
    pub allow_http: bool,
    /// Path-style addressing; default true when `endpoint` is set (S3-compatible servers), else false.
    pub path_style: Option<bool>,
    pub access_key_id_env: Option<String>,
    pub secret_access_key_env: Option<String>,
    pub session_token_env: Option<String>,
    /// For gs:// and az://: object_store option name → environment variable holding its value.
    #[serde(default)]
    pub options_env: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogSection {
    #[serde(rename = "type")]
    pub kind: String,
    pub uri: String,
    pub warehouse: Option<String>,
    /// REST catalogs: environment variable holding a bearer token.
    pub token_env: Option<String>,
    /// REST catalogs: the URL prefix (`/v1/<prefix>/namespaces…`), for servers whose config
    /// endpoint does not return one.
    pub prefix: Option<String>,
    /// SQL catalogs: the `catalog_name` the writer used in the catalog tables (pyiceberg and
    /// Spark write their own catalog's name there). Default: this catalog's key.
    pub catalog_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductSection {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub tables: Vec<TableSection>,
    /// Default false. A writable product also holds the tables (Delta) and views that clients
    /// create through meshgate, e.g. dbt models; only principals with a `write` grant may.
    #[serde(default)]
    pub writable: bool,
    /// Where created tables, views and their catalog live, relative to `storage.root`.
    /// Default: the product's name. Only for writable products.
    pub write_location: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSection {
    pub name: String,
    pub format: String,
    /// Relative to the storage root, or an absolute URL/path. Iceberg: a table directory or a
    /// metadata.json file; omitted when `catalog` is used.
    pub location: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    /// Iceberg catalog name (a key of this file's `[catalogs]`).
    pub catalog: Option<String>,
    /// Iceberg namespace, dot-separated. Default: the product name.
    pub namespace: Option<String>,
    /// Iceberg table name in the catalog. Default: `name`.
    pub table: Option<String>,
    #[serde(default)]
    pub partition_columns: Vec<PartitionColumn>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
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
    /// JWT verification, when `[auth.jwt]` is configured; its key set is read at load.
    pub jwt: Option<std::sync::Arc<crate::jwt::JwtVerifier>>,
    pub audit: AuditSettings,
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
}

pub const FORMATS: [&str; 3] = ["delta", "iceberg", "parquet"];
const PARTITION_TYPES: [&str; 9] = [
    "int", "integer", "bigint", "smallint", "text", "varchar", "string", "date", "boolean",
];

impl Config {
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
        if let Some(a) = &server.admin_listen {
            if a.parse::<std::net::SocketAddr>().is_err() {
                return Err(err(
                    path,
                    "server.admin_listen",
                    format!("{a:?} is not an address like 127.0.0.1:9187"),
                ));
            }
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
        if let Err(e) = crate::server::tls_acceptor(&server) {
            let key = if e.contains("client CA") {
                "server.tls_client_ca"
            } else {
                "server.tls_cert"
            };
            return Err(err(path, key, e));
        }
        if limits.max_failed_logins > 0 && limits.failed_login_window_secs == 0 {
            return Err(err(
                path,
                "limits.failed_login_window_secs",
                "must be at least 1",
            ));
        }
        let jwt = match &file.auth.jwt {
            Some(j) => Some(std::sync::Arc::new(
                crate::jwt::JwtVerifier::load(j, &base).map_err(|(key, m)| err(path, key, m))?,
            )),
            None => None,
        };

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
            let d = load_domain(&f, env)?;
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
        let roles = validate_roles(path, &file.roles, &file.users)?;
        for d in &domains {
            validate_principals(d, &users, &roles)?;
        }
        let audit = AuditSettings::validate(file.audit, path, &base, &domains)?;
        Ok(Config {
            path: path.to_path_buf(),
            server,
            limits,
            users,
            roles,
            domains,
            jwt,
            audit,
        })
    }
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

fn load_domain(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Domain, ConfigError> {
    let built = config::Config::builder()
        .add_source(config::File::from(path).format(config::FileFormat::Toml))
        .build()
        .map_err(|e| from_config_error(path, e))?;
    let d: DomainFile = built
        .try_deserialize()
        .map_err(|e| from_config_error(path, e))?;
    if !valid_ident(&d.name) {
        return Err(err(
            path,
            "name",
            format!("{:?} must be a lowercase identifier", d.name),
        ));
    }
    let base = path.parent().unwrap_or(Path::new("."));

    let need_env = |key: &str, var: &Option<String>| -> Result<Option<Secret>, ConfigError> {
        match var {
            None => Ok(None),
            Some(v) => env(v).map(|s| Some(Secret::new(s))).ok_or_else(|| {
                err(
                    path,
                    key,
                    format!("names environment variable {v}, which is not set"),
                )
            }),
        }
    };
    let s = &d.storage;
    let root_text = s.root.trim();
    let (root, kind) = if let Some(scheme_end) = root_text.find("://") {
        let url =
            url::Url::parse(root_text).map_err(|e| err(path, "storage.root", e.to_string()))?;
        let kind = match &root_text[..scheme_end] {
            "s3" | "s3a" => StorageKind::S3(S3Settings {
                region: s.region.clone(),
                endpoint: s.endpoint.clone(),
                access_key_id: need_env("storage.access_key_id_env", &s.access_key_id_env)?,
                secret_access_key: need_env(
                    "storage.secret_access_key_env",
                    &s.secret_access_key_env,
                )?,
                session_token: need_env("storage.session_token_env", &s.session_token_env)?,
                allow_http: s.allow_http,
                path_style: s.path_style.unwrap_or(s.endpoint.is_some()),
            }),
            "gs" | "az" | "abfs" | "abfss" => {
                let mut opts = Vec::new();
                for (k, v) in &s.options_env {
                    let secret = need_env(&format!("storage.options_env.{k}"), &Some(v.clone()))?
                        .expect("Some in, Some out");
                    opts.push((k.clone(), secret));
                }
                if root_text.starts_with("gs") {
                    StorageKind::Gcs(opts)
                } else {
                    StorageKind::Azure(opts)
                }
            }
            "file" => StorageKind::Local,
            other => {
                return Err(err(
                    path,
                    "storage.root",
                    format!(
                        "unsupported scheme {other:?}; use a local path, s3://, gs:// or az://"
                    ),
                ))
            }
        };
        if url.host_str().is_none_or(str::is_empty) && !matches!(kind, StorageKind::Local) {
            return Err(err(path, "storage.root", "names no bucket"));
        }
        (url, kind)
    } else {
        let p = base.join(root_text);
        let p = std::path::absolute(&p).map_err(|e| err(path, "storage.root", e.to_string()))?;
        let url = url::Url::from_directory_path(&p).map_err(|_| {
            err(
                path,
                "storage.root",
                format!("{} is not a usable path", p.display()),
            )
        })?;
        (url, StorageKind::Local)
    };
    if s.access_key_id_env.is_some() != s.secret_access_key_env.is_some() {
        return Err(err(
            path,
            "storage.secret_access_key_env",
            "access_key_id_env and secret_access_key_env go together",
        ));
    }

    let mut catalogs = BTreeMap::new();
    for (name, c) in &d.catalogs {
        let key = format!("catalogs.{name}");
        let cat = match c.kind.as_str() {
            "sql" => IcebergCatalog::Sql {
                name: c.catalog_name.clone().unwrap_or_else(|| name.clone()),
                uri: resolve_sqlite_uri(&c.uri, base),
                warehouse: c.warehouse.clone().ok_or_else(|| {
                    err(
                        path,
                        format!("{key}.warehouse"),
                        "a sql catalog needs a warehouse location",
                    )
                })?,
            },
            "rest" => IcebergCatalog::Rest {
                name: name.clone(),
                uri: c.uri.clone(),
                warehouse: c.warehouse.clone(),
                prefix: c.prefix.clone(),
                token: need_env(&format!("{key}.token_env"), &c.token_env)?,
            },
            other => {
                return Err(err(
                    path,
                    format!("{key}.type"),
                    format!("{other:?} is not a catalog type; use \"sql\" or \"rest\""),
                ))
            }
        };
        catalogs.insert(name.clone(), cat);
    }

    for (i, p) in d.products.iter().enumerate() {
        let pk = format!("products[{i}]");
        if !valid_ident(&p.name) {
            return Err(err(
                path,
                format!("{pk}.name"),
                format!("{:?} must be a lowercase identifier", p.name),
            ));
        }
        if ["pg_catalog", "information_schema", "mesh", "public"].contains(&p.name.as_str()) {
            return Err(err(
                path,
                format!("{pk}.name"),
                format!("{:?} is reserved", p.name),
            ));
        }
        if p.write_location.is_some() && !p.writable {
            return Err(err(
                path,
                format!("{pk}.write_location"),
                "only writable products have a write location; set `writable = true`",
            ));
        }
        if let Some(w) = &p.write_location {
            if w.contains("://") || w.starts_with('/') || w.split('/').any(|s| s == "..") {
                return Err(err(
                    path,
                    format!("{pk}.write_location"),
                    "must be a path relative to storage.root, inside it",
                ));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (j, t) in p.tables.iter().enumerate() {
            let tk = format!("{pk}.tables[{j}]");
            if !valid_ident(&t.name) {
                return Err(err(
                    path,
                    format!("{tk}.name"),
                    format!("{:?} must be a lowercase identifier", t.name),
                ));
            }
            if !seen.insert(t.name.clone()) {
                return Err(err(
                    path,
                    format!("{tk}.name"),
                    format!("table {:?} appears twice in product {:?}", t.name, p.name),
                ));
            }
            if !FORMATS.contains(&t.format.as_str()) {
                return Err(err(
                    path,
                    format!("{tk}.format"),
                    format!(
                        "{:?} is not a format; use delta, iceberg or parquet",
                        t.format
                    ),
                ));
            }
            match (t.format.as_str(), &t.location, &t.catalog) {
                ("iceberg", None, None) => {
                    return Err(err(path, format!("{tk}.location"), "an iceberg table needs a location (table directory or metadata.json) or a catalog"))
                }
                ("iceberg", Some(_), Some(_)) => {
                    return Err(err(path, format!("{tk}.catalog"), "give either location or catalog, not both"))
                }
                ("iceberg", None, Some(c)) if !catalogs.contains_key(c) => {
                    return Err(err(path, format!("{tk}.catalog"), format!("no catalog {c:?} in this file's [catalogs]")))
                }
                (f, None, _) if f != "iceberg" => return Err(err(path, format!("{tk}.location"), "is required")),
                (f, _, Some(_)) if f != "iceberg" => {
                    return Err(err(path, format!("{tk}.catalog"), "only iceberg tables load through a catalog"))
                }
                _ => {}
            }
            if !t.partition_columns.is_empty() && t.format != "parquet" {
                return Err(err(path, format!("{tk}.partition_columns"), "only parquet tables declare partition columns; delta and iceberg carry their own"));
            }
            for (k, c) in t.partition_columns.iter().enumerate() {
                if !PARTITION_TYPES.contains(&c.data_type.to_ascii_lowercase().as_str()) {
                    return Err(err(
                        path,
                        format!("{tk}.partition_columns[{k}].type"),
                        format!(
                            "{:?} is not supported; use one of {}",
                            c.data_type,
                            PARTITION_TYPES.join(", ")
                        ),
                    ));
                }
            }
        }
    }

    validate_policies(path, &d)?;

    Ok(Domain {
        file: path.to_path_buf(),
        name: d.name,
        description: d.description,
        owners: d.owners,
        root,
        storage_kind: kind,
        catalogs,
        products: d.products,
        grants: d.grants,
        row_filters: d.row_filters,
        masks: d.masks,
    })
}

/// A domain's policies may only cover its own products and tables, and their SQL must parse.
/// (Whether an expression fits the table's columns is known only once the table is opened: a
/// policy that fails to plan then denies the read.)
fn validate_policies(path: &Path, d: &DomainFile) -> Result<(), ConfigError> {
    let product = |key: &str, name: &str| -> Result<&ProductSection, ConfigError> {
        d.products.iter().find(|p| p.name == name).ok_or_else(|| {
            err(path, key, format!("{name:?} is not a product of this domain; a domain sets policies on its own products only"))
        })
    };
    let table = |key: &str, p: &ProductSection, name: &str| -> Result<(), ConfigError> {
        if p.tables.iter().any(|t| t.name == name) {
            Ok(())
        } else {
            Err(err(
                path,
                key,
                format!("product {:?} has no table {name:?}", p.name),
            ))
        }
    };
    let parses = |key: &str, sql: &str| -> Result<(), ConfigError> {
        use datafusion::sql::sqlparser::{dialect::PostgreSqlDialect, parser::Parser};
        let mut parser = Parser::new(&PostgreSqlDialect {})
            .try_with_sql(sql)
            .map_err(|e| err(path, key, e.to_string()))?;
        parser
            .parse_expr()
            .map_err(|e| err(path, key, e.to_string()))?;
        match parser.peek_token().token {
            datafusion::sql::sqlparser::tokenizer::Token::EOF => Ok(()),
            t => Err(err(
                path,
                key,
                format!("unexpected {t} after the expression"),
            )),
        }
    };
    let not_empty = |key: &str, to: &[String]| -> Result<(), ConfigError> {
        if to.is_empty() {
            Err(err(path, key, "names nobody; list users or roles"))
        } else {
            Ok(())
        }
    };
    for (i, g) in d.grants.iter().enumerate() {
        let key = format!("grants[{i}]");
        let p = product(&format!("{key}.product"), &g.product)?;
        if let Some(t) = &g.table {
            table(&format!("{key}.table"), p, t)?;
        }
        not_empty(&format!("{key}.to"), &g.to)?;
        match g.privilege.as_str() {
            "read" => {}
            "write" if g.table.is_some() => {
                return Err(err(
                    path,
                    format!("{key}.table"),
                    "a write grant covers a whole product; leave out `table`",
                ))
            }
            "write" if !p.writable => {
                return Err(err(
                    path,
                    format!("{key}.privilege"),
                    format!(
                        "product {:?} is not writable; set `writable = true` on it first",
                        p.name
                    ),
                ))
            }
            "write" => {}
            other => {
                return Err(err(
                    path,
                    format!("{key}.privilege"),
                    format!("{other:?} is not a privilege; use \"read\" or \"write\""),
                ))
            }
        }
    }
    let mut names = std::collections::HashSet::new();
    for (i, f) in d.row_filters.iter().enumerate() {
        let key = format!("row_filters[{i}]");
        if !names.insert(f.name.clone()) {
            return Err(err(
                path,
                format!("{key}.name"),
                format!("policy name {:?} is used twice in this domain", f.name),
            ));
        }
        let p = product(&format!("{key}.product"), &f.product)?;
        table(&format!("{key}.table"), p, &f.table)?;
        not_empty(&format!("{key}.to"), &f.to)?;
        parses(&format!("{key}.filter"), &f.filter)?;
    }
    for (i, m) in d.masks.iter().enumerate() {
        let key = format!("masks[{i}]");
        if !names.insert(m.name.clone()) {
            return Err(err(
                path,
                format!("{key}.name"),
                format!("policy name {:?} is used twice in this domain", m.name),
            ));
        }
        let p = product(&format!("{key}.product"), &m.product)?;
        table(&format!("{key}.table"), p, &m.table)?;
        not_empty(&format!("{key}.to"), &m.to)?;
        parses(&format!("{key}.mask"), &m.mask)?;
    }
    Ok(())
}

/// Roles are declared once, centrally; a role and a user may not share a name (both are
/// PostgreSQL roles to clients), and every role named must exist.
fn validate_roles(
    path: &Path,
    roles: &[RoleEntry],
    users: &[UserEntry],
) -> Result<BTreeMap<String, Role>, ConfigError> {
    let mut out = BTreeMap::new();
    for (i, r) in roles.iter().enumerate() {
        let key = format!("roles[{i}].name");
        if !valid_ident(&r.name) {
            return Err(err(
                path,
                key,
                format!("{:?} must be a lowercase identifier", r.name),
            ));
        }
        if r.name == crate::policy::PUBLIC {
            return Err(err(
                path,
                key,
                "\"public\" is the built-in role of every user; it cannot be declared",
            ));
        }
        if users.iter().any(|u| u.name == r.name) {
            return Err(err(path, key, format!("{:?} is also a user name", r.name)));
        }
        let role = Role {
            name: r.name.clone(),
            description: r.description.clone(),
            member_of: r.member_of.clone(),
        };
        if out.insert(r.name.clone(), role).is_some() {
            return Err(err(
                path,
                key,
                format!("role {:?} is declared twice", r.name),
            ));
        }
    }
    for (i, r) in roles.iter().enumerate() {
        for parent in &r.member_of {
            if !out.contains_key(parent) {
                return Err(err(
                    path,
                    format!("roles[{i}].member_of"),
                    format!("no role {parent:?} is declared"),
                ));
            }
        }
    }
    for (i, u) in users.iter().enumerate() {
        for r in &u.roles {
            if !out.contains_key(r) {
                return Err(err(
                    path,
                    format!("users[{i}].roles"),
                    format!("no role {r:?} is declared"),
                ));
            }
        }
    }
    Ok(out)
}

/// Grants, filters and masks name declared users and roles only: a typo must not silently
/// grant nothing (or worse, leave a filter unapplied).
fn validate_principals(
    d: &Domain,
    users: &HashMap<String, User>,
    roles: &BTreeMap<String, Role>,
) -> Result<(), ConfigError> {
    let known =
        |n: &String| n == crate::policy::PUBLIC || users.contains_key(n) || roles.contains_key(n);
    let lists = d
        .grants
        .iter()
        .enumerate()
        .map(|(i, g)| (format!("grants[{i}].to"), &g.to))
        .chain(
            d.row_filters
                .iter()
                .enumerate()
                .map(|(i, f)| (format!("row_filters[{i}].to"), &f.to)),
        )
        .chain(
            d.masks
                .iter()
                .enumerate()
                .map(|(i, m)| (format!("masks[{i}].to"), &m.to)),
        );
    for (key, to) in lists {
        if let Some(n) = to.iter().find(|n| !known(n)) {
            return Err(err(
                &d.file,
                key,
                format!("{n:?} is neither a user nor a declared role"),
            ));
        }
    }
    Ok(())
}

/// `sqlite://relative.db` is relative to the domain file, like every other path in it.
fn resolve_sqlite_uri(uri: &str, base: &Path) -> String {
    match uri.strip_prefix("sqlite://") {
        Some(rest) if !rest.starts_with('/') && !rest.starts_with(':') => {
            format!("sqlite://{}", base.join(rest).display())
        }
        _ => uri.to_string(),
    }
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
        crate::auth::ScramVerifier::generate("pw", 4096).to_string()
    }

    fn base(dir: &Path) -> PathBuf {
        write(
            dir,
            "meshgate.toml",
            &format!("[[users]]\nname = \"a\"\npassword = \"{}\"\n", verifier()),
        )
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
