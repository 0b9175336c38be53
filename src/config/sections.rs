//! What `meshgate.toml` may say: its sections as serde reads them, with their defaults, and the
//! `[audit]` section's validation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{err, ConfigError, Domain};

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
    #[serde(default)]
    pub replicas: ReplicasSettings,
    #[serde(default)]
    pub peers: Vec<PeerGateway>,
    #[serde(default)]
    pub cluster: ClusterSettings,
    #[serde(default)]
    pub engine: BTreeMap<String, EngineValue>,
}

/// A value in `[engine]`: DataFusion takes each as text.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum EngineValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

/// `[cluster]`: an Apache DataFusion Ballista scheduler that big statements are handed to. The
/// gateway still plans every statement (identity, grants, row filters and masks are ordinary
/// plan nodes by then); the cluster only executes the plan. Without the section every statement
/// runs here.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSettings {
    /// The scheduler's gRPC address, `host:port`.
    pub scheduler: Option<String>,
    /// Which statements go to the cluster when the session has not chosen (`SET
    /// mesh.execution`): none (`off`, the default), those estimated to scan at least
    /// `auto_min_bytes` (`auto`), or every one whose plan the cluster can run (`always`).
    pub mode: ClusterMode,
    /// Bytes a statement's scans must add up to (from the files' sizes, as planned) for `auto`
    /// to send it to the cluster. Default 1 GiB.
    pub auto_min_bytes: u64,
    /// Partitions a statement sent to the cluster is planned with: the tasks of each of its
    /// stages. 0 (the default): the task slots of the executors alive, as the scheduler says
    /// (asked at most every 10 s), so every slot has a task; this gateway's partitions (its
    /// cores) when the scheduler does not say. A reload applies it from the next statement.
    pub partitions: usize,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            scheduler: None,
            mode: ClusterMode::Off,
            auto_min_bytes: 1 << 30,
            partitions: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClusterMode {
    Off,
    Auto,
    Always,
}

/// `[[peers]]`: a gateway of another region. Tables of domains in its jurisdiction are read
/// through it, never from their storage; and when it connects here with its certificate, it
/// speaks for its users (see `crate::peering`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerGateway {
    /// The region it serves: domains whose `jurisdiction` is this are read through it.
    pub region: String,
    /// Its Postgres port, `host:port`.
    pub address: String,
    /// The common name on its certificate: its server certificate must name it (as a DNS
    /// name) when this gateway connects, and its client certificate carries it when it connects
    /// here.
    pub name: String,
    /// PEM CA certificates its server certificate chains to (relative to meshgate.toml).
    pub ca_file: PathBuf,
    /// This gateway's own client certificate and key, presented to it (mutual TLS).
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// Milliseconds to wait for it to accept a connection. Default 5000.
    #[serde(default = "peer_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
}

fn peer_connect_timeout_ms() -> u64 {
    5000
}

/// `[replicas]`: this server is one of several over the same configuration and storage, behind
/// a load balancer. A CancelRequest may reach any of them: the process id handed to a client
/// names the replica that runs its session, and the others forward the request there.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplicasSettings {
    /// This replica's number, 1 to 127 (the top byte of its process ids); 0 (default) when the
    /// server runs alone. Reload: no (restart).
    pub id: u8,
    /// `[[replicas.peers]]`: every other replica, by number and address (its Postgres port).
    pub peers: Vec<PeerReplica>,
    /// A file (relative to meshgate.toml) or an environment variable holding a secret every
    /// replica shares, at least 32 characters: `pg_cancel_backend`/`pg_terminate_backend` of a
    /// session on another replica travel to it signed with this secret. Unset: those calls fail
    /// with 55000 (CancelRequests are still forwarded; they carry their own key).
    pub secret_file: Option<PathBuf>,
    pub secret_env: Option<String>,
    /// The secret itself, read from one of the two above when the file is loaded.
    #[serde(skip)]
    pub secret: Option<meshgate_connectors::Secret>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerReplica {
    pub id: u8,
    pub address: String,
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
    /// `[auth.jwt]`: JWT bearer tokens accepted as the password over TLS (see `crate::auth::jwt`).
    pub jwt: Option<JwtSettings>,
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
    /// Address of the server's HTTP port: the operator endpoints `/health` and Prometheus
    /// `/metrics`, and the web catalog (`crate::web`); HTTPS with `tls_cert` when set. Unset: no
    /// HTTP port. `admin_listen` is its former name. Reload: no (restart).
    #[serde(alias = "admin_listen")]
    pub http_listen: Option<String>,
    /// The web catalog's URL as users reach it (`https://catalog.example.com`), for links: a
    /// 42501 for a table then names the page where access to its product can be requested.
    /// Unset: no links.
    pub web_url: Option<String>,
    /// Seconds a web catalog sign-in lasts without being used. Default 3600.
    pub web_session_idle_secs: u64,
    /// `statement_timeout` of the web catalog's previews and history queries, in
    /// milliseconds (capped by `max_statement_timeout_ms` like any session's). Default 30000.
    pub web_statement_timeout_ms: u64,
    /// PEM file of the CA certificates client certificates must chain to (mTLS).
    pub tls_client_ca: Option<PathBuf>,
    /// `none` (default: no client certificates asked for), `optional` or `required`. `required`
    /// also refuses plaintext connections.
    pub tls_client_auth: String,
    /// Target size in MiB of the Parquet files written into Delta tables of writable products.
    /// Default 128. Reload: yes (next write).
    pub write_file_mb: u64,
    /// The jurisdiction this gateway serves (`eu`, `us`…). Domains whose `jurisdiction` differs
    /// are read through the `[[peers]]` of their region, and this gateway never opens their
    /// storage. Unset: every domain is local. Reload: no (restart).
    pub region: Option<String>,
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
            http_listen: None,
            web_url: None,
            web_session_idle_secs: 3600,
            web_statement_timeout_ms: 30_000,
            tls_client_ca: None,
            tls_client_auth: "none".into(),
            write_file_mb: 128,
            region: None,
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
    /// aggregations) write to `spill_dir` past their share. 0 = unbounded. Default: three
    /// quarters of the memory this process may use (the cgroup limit, else the machine's),
    /// 4096 where neither can be read. Reload: no.
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
    /// Failed logins of one user, from any address, within `failed_login_window_secs` after
    /// which that user is refused (28000) before any password exchange. 0 (the default) = no
    /// ceiling: an opt-in, since anyone who can reach the port can then lock a user out.
    pub max_failed_logins: u32,
    /// The window, in seconds, failed logins are remembered over. Default 60.
    pub failed_login_window_secs: u64,
    /// Milliseconds the next attempt of an (address, user) pair waits after its first failure;
    /// doubled per further failure in the window. Default 250.
    pub failed_login_delay_ms: u64,
    /// The most that wait grows to (at most half of `handshake_timeout_ms`). Default 4000.
    pub failed_login_max_delay_ms: u64,
    /// Connections from one client address (IPv6: one /64) that may be between accept and
    /// the end of authentication at once; more are closed at once. 0 = no bound. Default 32.
    pub max_handshakes_per_address: usize,
    /// The same, over all addresses. Default 512.
    pub max_handshakes: usize,
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
            memory_pool_mb: default_memory_pool_mb(),
            query_memory_mb: 0,
            spill_dir: None,
            max_running_queries: 0,
            max_queued_queries: 64,
            cancel_requests_per_sec: 20,
            drain_timeout_ms: 30_000,
            max_failed_logins: 0,
            failed_login_window_secs: 60,
            failed_login_delay_ms: 250,
            failed_login_max_delay_ms: 4000,
            max_handshakes_per_address: 32,
            max_handshakes: 512,
        }
    }
}

/// The default memory pool: three quarters of what this process may use. A hash join cannot
/// spill its build side, so a pool far below the machine refuses queries (53200) while memory
/// sits idle; the quarter left is for everything the pool does not count (Parquet and Arrow
/// buffers in flight, metadata caches, sessions).
fn default_memory_pool_mb() -> usize {
    const FALLBACK_MB: usize = 4096;
    let machine = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| {
        let kb = t.lines().find_map(|l| l.strip_prefix("MemTotal:"))?;
        let kb: u64 = kb.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kb * 1024)
    });
    // cgroup v2, then v1; "max" or an absurd v1 value means no limit.
    let cgroup = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .find_map(|p| std::fs::read_to_string(p).ok()?.trim().parse::<u64>().ok())
    .filter(|&b| b < (1 << 60));
    let bytes = match (machine, cgroup) {
        (Some(m), Some(c)) => m.min(c),
        (m, c) => match m.or(c) {
            Some(b) => b,
            None => return FALLBACK_MB,
        },
    };
    ((bytes / 4 * 3) >> 20).max(256) as usize
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

    pub(super) fn validate(
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

/// `[auth.jwt]` in meshgate.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSettings {
    /// JWK set file, relative to meshgate.toml.
    pub jwks_file: Option<PathBuf>,
    /// JWK set URL (https, or http on a loopback address), fetched at start and on reload.
    pub jwks_url: Option<String>,
    /// Required: the `iss` every token must carry.
    pub issuer: Option<String>,
    /// Required: a value the token's `aud` (a string or an array) must contain.
    pub audience: Option<String>,
    /// Claim naming the user; must equal the startup packet's user. Default `sub`.
    #[serde(default = "default_user_claim")]
    pub user_claim: String,
    /// Claim listing the login roles (array of strings, or one space-separated string). Default
    /// `roles`; a token without it has no roles.
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    /// Seconds of clock skew tolerated on `exp` and `nbf`. Default 30.
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
}

fn default_user_claim() -> String {
    "sub".into()
}
fn default_roles_claim() -> String {
    "roles".into()
}
fn default_leeway() -> u64 {
    30
}
