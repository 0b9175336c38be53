//! Domain files: one per domain, owned by its team. What a file may say, and how it becomes a
//! validated [`Domain`](super::Domain).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use meshgate_connectors::{
    IcebergCatalog, MysqlSource, PostgresSource, RemoteSource, S3Settings, Secret, SqliteSource,
    StorageKind, TlsMode,
};

use super::{err, from_config_error, valid_ident, ConfigError, Domain};

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
    /// Where the domain's data must stay (`eu`, `us`…): gateways of other regions read it only
    /// through a peer of this one, and only as its products' `residency` rules allow.
    pub jurisdiction: Option<String>,
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
    /// Default false: the product's metadata is discoverable in the web catalog by every user
    /// (its data still needs a grant). Hidden: only users who may read it see it there.
    #[serde(default)]
    pub hidden: bool,
    #[serde(default)]
    pub tables: Vec<TableSection>,
    /// Default false. A writable product also holds the tables (Delta) and views that clients
    /// create through meshgate, e.g. dbt models; only principals with a `write` grant may.
    #[serde(default)]
    pub writable: bool,
    /// Where created tables, views and their catalog live, relative to `storage.root`.
    /// Default: the product's name. Only for writable products.
    pub write_location: Option<String>,
    /// What may leave the domain's jurisdiction, for consumers of other regions. Unset: all.
    pub residency: Option<ResidencySection>,
}

/// `[products.residency]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ResidencySection {
    /// `all`, `aggregates` (only grouped aggregates, each group built from at least
    /// `min_group_size` rows) or `none`.
    pub export: String,
    /// For `aggregates`: the fewest rows a group that leaves may be built from. Default 10.
    pub min_group_size: Option<u64>,
    /// Columns (`column` in every table of the product, or `table.column`) that never leave,
    /// even aggregated: a statement from another region that reads them in any way is refused.
    #[serde(default)]
    pub never_export: Vec<String>,
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
    /// Where a table of an operational database (`format = "postgres"`) is.
    pub connection: Option<ConnectionSection>,
}

/// `[products.tables.connection]`: where a table of an operational database is. PostgreSQL
/// tables name a server; SQLite tables a file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionSection {
    pub host: Option<String>,
    /// Default: the source's usual port (PostgreSQL 5432, MySQL 3306).
    pub port: Option<u16>,
    pub database: Option<String>,
    pub user: Option<String>,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
    /// File holding the password (relative to the domain file); one trailing newline is not
    /// part of it.
    pub password_file: Option<String>,
    #[serde(default = "public_schema")]
    pub schema: String,
    /// The table's name in the source. Default: the table's `name`.
    pub table: Option<String>,
    /// `verify-full` (TLS, the server's certificate checked against `ca_file` and the host) or
    /// `disable` (plain TCP, for a source on a trusted network). Required for PostgreSQL, so
    /// that a plain connection is always a visible choice.
    pub tls: Option<String>,
    /// With `tls = "verify-full"`: the PEM file of the CA certificates the source's certificate
    /// must chain to, relative to the domain file.
    pub ca_file: Option<String>,
    /// The most connections held to the source. Default 4.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// SQLite: the database file, relative to the domain file.
    pub path: Option<String>,
}

fn public_schema() -> String {
    "public".into()
}

fn default_max_connections() -> usize {
    4
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
    /// Where the column stands among the table's columns (1-based), as the data's writer had
    /// it; after the files' columns when not given.
    #[serde(default)]
    pub position: Option<usize>,
}

pub const FORMATS: [&str; 6] = ["delta", "iceberg", "parquet", "postgres", "mysql", "sqlite"];
/// Formats whose tables live in an operational database, found through a `connection`.
const OPERATIONAL: [&str; 3] = ["postgres", "mysql", "sqlite"];
const PARTITION_TYPES: [&str; 9] = [
    "int", "integer", "bigint", "smallint", "text", "varchar", "string", "date", "boolean",
];

pub(super) fn load_domain(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    region: Option<&str>,
) -> Result<Domain, ConfigError> {
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
    if let Some(j) = &d.jurisdiction {
        if !valid_ident(j) {
            return Err(err(
                path,
                "jurisdiction",
                format!("{j:?} must be a lowercase identifier"),
            ));
        }
    }
    // A domain of another jurisdiction is read through a peer gateway there: this one must not
    // hold its credentials, so none are looked for (and an unset variable is no error).
    let foreign = matches!((region, &d.jurisdiction), (Some(r), Some(j)) if r != j);
    let no_env = |_: &str| None;
    let env: &dyn Fn(&str) -> Option<String> = if foreign { &no_env } else { env };

    let need_env = |key: &str, var: &Option<String>| -> Result<Option<Secret>, ConfigError> {
        match var {
            None => Ok(None),
            Some(_) if foreign => Ok(None),
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

    let mut remotes = BTreeMap::new();
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
                        "{:?} is not a format; use delta, iceberg, parquet, postgres, mysql or sqlite",
                        t.format
                    ),
                ));
            }
            let operational = OPERATIONAL.contains(&t.format.as_str());
            match (&t.connection, operational) {
                (Some(_), true) if foreign => continue,
                (Some(c), true) => {
                    let source = match t.format.as_str() {
                        "sqlite" => RemoteSource::Sqlite(sqlite_source(path, &tk, t, c)?),
                        "mysql" => RemoteSource::Mysql(mysql_source(path, &tk, t, c, env)?),
                        _ => RemoteSource::Postgres(postgres_source(path, &tk, t, c, env)?),
                    };
                    remotes.insert((p.name.clone(), t.name.clone()), source);
                    if t.location.is_some()
                        || t.catalog.is_some()
                        || !t.partition_columns.is_empty()
                    {
                        return Err(err(path, format!("{tk}.connection"), "a table read from a database has a connection, no location, catalog or partition columns"));
                    }
                    continue;
                }
                (None, true) => {
                    return Err(err(
                        path,
                        format!("{tk}.connection"),
                        format!("a {} table needs a connection", t.format),
                    ))
                }
                (Some(_), false) => {
                    return Err(err(
                        path,
                        format!("{tk}.connection"),
                        "only postgres, mysql and sqlite tables have a connection",
                    ))
                }
                (None, false) => {}
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
    super::peering::validate_residency(path, &d)?;

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
        remotes,
        jurisdiction: d.jurisdiction,
        foreign,
    })
}

/// A PostgreSQL table's connection, with its password read from where the file points.
fn postgres_source(
    path: &Path,
    key: &str,
    t: &TableSection,
    c: &ConnectionSection,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<PostgresSource, ConfigError> {
    let key = format!("{key}.connection");
    if c.path.is_some() {
        return Err(err(
            path,
            format!("{key}.path"),
            "a postgres table names a server (host, port, database), not a file",
        ));
    }
    let required = |field: &str, value: &Option<String>| -> Result<String, ConfigError> {
        match value {
            Some(v) if !v.trim().is_empty() => Ok(v.clone()),
            _ => Err(err(path, format!("{key}.{field}"), "is required")),
        }
    };
    let host = required("host", &c.host)?;
    let database = required("database", &c.database)?;
    let user = required("user", &c.user)?;
    let tls_mode = required("tls", &c.tls)?;
    if c.schema.trim().is_empty() {
        return Err(err(path, format!("{key}.schema"), "must not be empty"));
    }
    let tls = tls_mode_of(path, &key, c, &tls_mode)?;
    max_connections(path, &key, c)?;
    let password = password(path, &key, c, env)?;
    Ok(PostgresSource {
        host,
        port: c.port.unwrap_or(5432),
        database,
        user,
        password,
        schema: c.schema.clone(),
        table: c.table.clone().unwrap_or_else(|| t.name.clone()),
        tls,
        max_connections: c.max_connections,
    })
}

/// A connection's `tls`: `verify-full` (with the CA file the source's certificate must chain
/// to) or `disable`.
fn tls_mode_of(
    path: &Path,
    key: &str,
    c: &ConnectionSection,
    tls_mode: &str,
) -> Result<TlsMode, ConfigError> {
    Ok(match tls_mode {
        "disable" => {
            if c.ca_file.is_some() {
                return Err(err(
                    path,
                    format!("{key}.ca_file"),
                    "only tls = \"verify-full\" uses a CA file",
                ));
            }
            TlsMode::Disable
        }
        "verify-full" => {
            let ca = c.ca_file.as_ref().ok_or_else(|| {
                err(
                    path,
                    format!("{key}.ca_file"),
                    "tls = \"verify-full\" needs the CA certificates the source's certificate chains to",
                )
            })?;
            let file = path.parent().unwrap_or(Path::new(".")).join(ca);
            let ca_pem = std::fs::read(&file).map_err(|e| {
                err(
                    path,
                    format!("{key}.ca_file"),
                    format!("cannot read {}: {e}", file.display()),
                )
            })?;
            let certs = rustls_pemfile::certs(&mut &ca_pem[..])
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| err(path, format!("{key}.ca_file"), e.to_string()))?;
            if certs.is_empty() {
                return Err(err(
                    path,
                    format!("{key}.ca_file"),
                    format!("{} holds no PEM certificate", file.display()),
                ));
            }
            TlsMode::VerifyFull { ca_pem }
        }
        "require" | "verify-ca" => {
            return Err(err(
                path,
                format!("{key}.tls"),
                format!(
                "{tls_mode:?} is not supported; use \"verify-full\" (with ca_file) or \"disable\""
            ),
            ))
        }
        other => {
            return Err(err(
                path,
                format!("{key}.tls"),
                format!("{other:?} is not a TLS mode; use \"verify-full\" or \"disable\""),
            ))
        }
    })
}

/// The password a connection names: from an environment variable or a file (relative to the
/// domain file, one trailing newline dropped), never the domain file itself.
fn password(
    path: &Path,
    key: &str,
    c: &ConnectionSection,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Secret>, ConfigError> {
    Ok(match (&c.password_env, &c.password_file) {
        (Some(_), Some(_)) => {
            return Err(err(
                path,
                format!("{key}.password_file"),
                "give either password_env or password_file, not both",
            ))
        }
        (Some(var), None) => Some(Secret::new(env(var).ok_or_else(|| {
            err(
                path,
                format!("{key}.password_env"),
                format!("names environment variable {var}, which is not set"),
            )
        })?)),
        (None, Some(file)) => {
            let base = path.parent().unwrap_or(Path::new("."));
            let file = base.join(file);
            // The error names the file, never what it holds.
            let text = std::fs::read_to_string(&file).map_err(|e| {
                err(
                    path,
                    format!("{key}.password_file"),
                    format!("cannot read {}: {e}", file.display()),
                )
            })?;
            let text = text.strip_suffix('\n').unwrap_or(&text);
            let text = text.strip_suffix('\r').unwrap_or(text);
            Some(Secret::new(text))
        }
        (None, None) => None,
    })
}

/// A MySQL/MariaDB table's connection: like PostgreSQL's, with MySQL's port and no schema (a
/// MySQL database is a schema).
fn mysql_source(
    path: &Path,
    key: &str,
    t: &TableSection,
    c: &ConnectionSection,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<MysqlSource, ConfigError> {
    let key = format!("{key}.connection");
    if c.path.is_some() {
        return Err(err(
            path,
            format!("{key}.path"),
            "a mysql table names a server (host, port, database), not a file",
        ));
    }
    if c.schema != public_schema() {
        return Err(err(
            path,
            format!("{key}.schema"),
            "a mysql table has no schema: its database is the schema",
        ));
    }
    let required = |field: &str, value: &Option<String>| -> Result<String, ConfigError> {
        match value {
            Some(v) if !v.trim().is_empty() => Ok(v.clone()),
            _ => Err(err(path, format!("{key}.{field}"), "is required")),
        }
    };
    let host = required("host", &c.host)?;
    let database = required("database", &c.database)?;
    let user = required("user", &c.user)?;
    let tls = tls_mode_of(path, &key, c, &required("tls", &c.tls)?)?;
    max_connections(path, &key, c)?;
    Ok(MysqlSource {
        host,
        port: c.port.unwrap_or(3306),
        database,
        user,
        password: password(path, &key, c, env)?,
        table: c.table.clone().unwrap_or_else(|| t.name.clone()),
        tls,
        max_connections: c.max_connections,
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

/// `sqlite://relative.db` is relative to the domain file, like every other path in it.
fn resolve_sqlite_uri(uri: &str, base: &Path) -> String {
    match uri.strip_prefix("sqlite://") {
        Some(rest) if !rest.starts_with('/') && !rest.starts_with(':') => {
            format!("sqlite://{}", base.join(rest).display())
        }
        _ => uri.to_string(),
    }
}

fn max_connections(path: &Path, key: &str, c: &ConnectionSection) -> Result<(), ConfigError> {
    if c.max_connections == 0 || c.max_connections > 64 {
        return Err(err(
            path,
            format!("{key}.max_connections"),
            "must be between 1 and 64",
        ));
    }
    Ok(())
}

/// A SQLite table's file: it must exist when the configuration is checked (it is opened read
/// only, never created).
fn sqlite_source(
    path: &Path,
    key: &str,
    t: &TableSection,
    c: &ConnectionSection,
) -> Result<SqliteSource, ConfigError> {
    let key = format!("{key}.connection");
    let server_keys = [
        ("host", c.host.is_some()),
        ("database", c.database.is_some()),
        ("user", c.user.is_some()),
        ("password_env", c.password_env.is_some()),
        ("password_file", c.password_file.is_some()),
        ("tls", c.tls.is_some()),
        ("ca_file", c.ca_file.is_some()),
    ];
    if let Some((k, _)) = server_keys.iter().find(|(_, set)| *set) {
        return Err(err(
            path,
            format!("{key}.{k}"),
            "a sqlite table names a file (`path`), not a server",
        ));
    }
    max_connections(path, &key, c)?;
    let file = c
        .path
        .as_ref()
        .filter(|p| !p.trim().is_empty())
        .ok_or_else(|| err(path, format!("{key}.path"), "is required"))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let file = std::path::absolute(base.join(file))
        .map_err(|e| err(path, format!("{key}.path"), e.to_string()))?;
    if !file.is_file() {
        return Err(err(
            path,
            format!("{key}.path"),
            format!("{} is not a file", file.display()),
        ));
    }
    Ok(SqliteSource {
        path: file,
        table: c.table.clone().unwrap_or_else(|| t.name.clone()),
        max_connections: c.max_connections,
    })
}
