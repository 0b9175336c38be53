//! Tables that live in an operational database rather than in the lake: where the database is,
//! how to log in, and the error a query gets when it cannot be reached.

use std::fmt;

use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{Expr, Operator, TableProviderFilterPushDown};

use crate::Secret;

/// The SQL of a comparison or boolean connective, spelled alike by every source we send SQL to;
/// None for operators no source is trusted to answer as DataFusion does.
pub fn sql_operator(op: &Operator) -> Option<&'static str> {
    Some(match op {
        Operator::And => "AND",
        Operator::Or => "OR",
        Operator::Eq => "=",
        Operator::NotEq => "<>",
        Operator::Lt => "<",
        Operator::LtEq => "<=",
        Operator::Gt => ">",
        Operator::GtEq => ">=",
        _ => return None,
    })
}

/// The one statement a scan sends: `SELECT <select> FROM <from> [WHERE …] [LIMIT n]`. Every
/// filter must translate: only filters the provider accepted as exact reach its scan, and one
/// left out would silently widen the answer.
pub fn select_statement(
    select: &str,
    from: &str,
    filters: &[Expr],
    translate: impl Fn(&Expr) -> Option<String>,
    limit: Option<usize>,
) -> DfResult<String> {
    let mut sql = format!("SELECT {select} FROM {from}");
    let conditions = filters
        .iter()
        .map(|f| {
            translate(f).ok_or_else(|| {
                DataFusionError::Internal(format!("filter {f} was accepted but cannot be sent"))
            })
        })
        .collect::<DfResult<Vec<_>>>()?;
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    if let Some(n) = limit {
        sql.push_str(&format!(" LIMIT {n}"));
    }
    Ok(sql)
}

/// Which filters a source's table takes: exactly those it can send (all of them reach
/// [`select_statement`]); the others stay in meshgate.
pub fn filters_pushdown(
    filters: &[&Expr],
    translate: impl Fn(&Expr) -> Option<String>,
) -> Vec<TableProviderFilterPushDown> {
    filters
        .iter()
        .map(|f| match translate(f) {
            Some(_) => TableProviderFilterPushDown::Exact,
            None => TableProviderFilterPushDown::Unsupported,
        })
        .collect()
}

/// The columns a scan reads (every one of `width` without a projection) and the select list
/// naming them, `NULL` when only the number of rows is needed.
pub fn scan_columns(
    width: usize,
    projection: Option<&Vec<usize>>,
    select: impl Fn(usize) -> String,
) -> (Vec<usize>, String) {
    let columns: Vec<usize> = match projection {
        Some(p) => p.clone(),
        None => (0..width).collect(),
    };
    let list = if columns.is_empty() {
        "NULL".to_string()
    } else {
        columns
            .iter()
            .map(|i| select(*i))
            .collect::<Vec<_>>()
            .join(", ")
    };
    (columns, list)
}

/// How a connection to a source is protected.
#[derive(Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain TCP, for a source on a trusted network (or a unix socket).
    Disable,
    /// TLS; the server's certificate must chain to one of these (PEM) and name the host.
    VerifyFull { ca_pem: Vec<u8> },
}

impl std::fmt::Debug for TlsMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsMode::Disable => f.write_str("Disable"),
            TlsMode::VerifyFull { ca_pem } => write!(f, "VerifyFull({} bytes of CA)", ca_pem.len()),
        }
    }
}

/// A PostgreSQL table read in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresSource {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    /// From an environment variable or a file named in the domain file, never the file itself.
    pub password: Option<Secret>,
    pub schema: String,
    pub table: String,
    pub tls: TlsMode,
    /// The most connections meshgate holds to this source (shared by its tables that name the
    /// same server, database and user).
    pub max_connections: usize,
}

impl PostgresSource {
    /// The source as messages name it: server and database, no credentials.
    pub fn describe(&self) -> String {
        format!("postgres://{}:{}/{}", self.host, self.port, self.database)
    }
}

/// A MySQL or MariaDB table read in place. MySQL's database is what PostgreSQL calls a schema,
/// so there is no schema of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlSource {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    /// From an environment variable or a file named in the domain file, never the file itself.
    pub password: Option<Secret>,
    pub table: String,
    pub tls: TlsMode,
    pub max_connections: usize,
}

impl MysqlSource {
    /// The source as messages name it: server and database, no credentials.
    pub fn describe(&self) -> String {
        format!("mysql://{}:{}/{}", self.host, self.port, self.database)
    }
}

/// An operational database a table is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteSource {
    Postgres(PostgresSource),
    Sqlite(SqliteSource),
    Mysql(MysqlSource),
    /// A table of a domain in another jurisdiction, read through that region's gateway.
    Peer(PeerSource),
}

/// The gateway of another region, and one of its tables.
#[derive(Clone, PartialEq, Eq)]
pub struct PeerSource {
    pub region: String,
    pub host: String,
    pub port: u16,
    /// The name its certificate carries (checked instead of the host).
    pub server_name: String,
    pub database: String,
    /// PEM: the CA its certificate chains to; this gateway's certificate and key, by which the
    /// peer knows it (mutual TLS, no password).
    pub ca_pem: Vec<u8>,
    pub cert_pem: Vec<u8>,
    pub key_pem: Secret,
    /// The user this gateway logs in as when it reads only metadata (column types).
    pub gateway_user: String,
    /// The table's product and name, the same there as here.
    pub product: String,
    pub table: String,
    pub connect_timeout_ms: u64,
}

impl PeerSource {
    /// The peer as messages name it.
    pub fn describe(&self) -> String {
        format!("peer gateway {} ({}:{})", self.region, self.host, self.port)
    }
}

impl fmt::Debug for PeerSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PeerSource({} {}.{})",
            self.describe(),
            self.product,
            self.table
        )
    }
}

/// Who a running statement is for: set by the session in its DataFusion session config, read
/// by engines that act on the user's behalf elsewhere (a peer gateway plans the statement
/// under this user's grants and policies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnBehalfOf {
    pub user: String,
    /// Roles the login brought (a token's claim); configured roles the peer knows itself.
    pub login_roles: Vec<String>,
}

/// Which side of the conversation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreachable {
    /// No connection could be made (PostgreSQL's 08001).
    Connect,
    /// A connection broke while a query used it (08006).
    Lost,
}

/// A query needed a source that could not be reached. The text names the source by server and
/// database only; it is safe for clients.
#[derive(Debug, Clone)]
pub struct SourceUnavailable {
    pub source: String,
    pub kind: Unreachable,
    pub reason: String,
}

impl fmt::Display for SourceUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Unreachable::Connect => write!(
                f,
                "could not connect to source {}: {}",
                self.source, self.reason
            ),
            Unreachable::Lost => write!(
                f,
                "connection to source {} was lost: {}",
                self.source, self.reason
            ),
        }
    }
}

impl std::error::Error for SourceUnavailable {}

/// An error a remote engine answered a statement with (not a lost connection): its SQLSTATE
/// and message, passed on to the client, which sent the statement's query in the first place.
#[derive(Debug, Clone)]
pub struct RemoteError {
    pub source: String,
    pub code: String,
    pub message: String,
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source, self.message)
    }
}

impl std::error::Error for RemoteError {}

/// A table of an SQLite file read in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteSource {
    pub path: std::path::PathBuf,
    pub table: String,
    pub max_connections: usize,
}

impl SqliteSource {
    /// The source as messages name it: the file's name, not where it is.
    pub fn describe(&self) -> String {
        format!(
            "sqlite file {}",
            self.path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        )
    }
}
