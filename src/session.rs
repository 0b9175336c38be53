//! Per-connection state: who is connected, the session settings a client may SET and SHOW, and
//! the DataFusion context its statements plan in.
//!
//! Settings follow PostgreSQL's names and defaults. Only settings that mean something here, or
//! that well-known clients send on connect, are accepted; anything else is PostgreSQL's
//! `unrecognized configuration parameter` (42704). Engine settings (`datafusion.*`) belong to the
//! operator: a client may not change them (42501).

use std::collections::BTreeMap;
use std::time::Duration;

use datafusion::prelude::SessionContext;

use crate::error::{sqlstate, UserError};

/// Settings clients may set, with PostgreSQL's defaults. `None`: accepted, default empty.
const SETTINGS: &[(&str, &str)] = &[
    ("application_name", ""),
    ("client_encoding", "UTF8"),
    ("client_min_messages", "notice"),
    ("datestyle", "ISO, MDY"),
    ("default_transaction_isolation", "read committed"),
    ("default_transaction_read_only", "on"),
    ("extra_float_digits", "1"),
    ("idle_in_transaction_session_timeout", "0"),
    ("idle_session_timeout", "0"),
    ("intervalstyle", "postgres"),
    ("lc_messages", "C"),
    ("lc_monetary", "C"),
    ("lc_numeric", "C"),
    ("lc_time", "C"),
    ("lock_timeout", "0"),
    ("search_path", "\"$user\", public"),
    ("standard_conforming_strings", "on"),
    ("statement_timeout", "0"),
    ("timezone", "UTC"),
    ("transaction_isolation", "read committed"),
    ("transaction_read_only", "on"),
    ("bytea_output", "hex"),
    ("geqo", "on"),
    ("jit", "off"),
    ("join_collapse_limit", "8"),
    ("work_mem", "4MB"),
    ("max_parallel_workers_per_gather", "2"),
    ("row_security", "on"),
    ("synchronous_commit", "on"),
];

/// Read-only settings reported by SHOW (and ParameterStatus at startup), and listed in
/// pg_settings: they are the same for every session.
pub const SERVER_VERSION: &str = "16.6";
pub const READ_ONLY: &[(&str, &str)] = &[
    ("server_version", SERVER_VERSION),
    ("server_version_num", "160006"),
    ("server_encoding", "UTF8"),
    ("integer_datetimes", "on"),
    ("max_identifier_length", "63"),
    // pgjdbc reads it from pg_settings before asking for foreign keys.
    ("max_index_keys", "32"),
    ("block_size", "8192"),
    ("max_connections", "100"),
];

/// Canonical spelling of settings PostgreSQL reports in mixed case.
fn display_name(name: &str) -> &str {
    match name {
        "datestyle" => "DateStyle",
        "timezone" => "TimeZone",
        "intervalstyle" => "IntervalStyle",
        other => other,
    }
}

/// Settings whose change PostgreSQL reports to the client with ParameterStatus.
pub const REPORTED: &[&str] = &[
    "application_name",
    "client_encoding",
    "datestyle",
    "intervalstyle",
    "timezone",
    "standard_conforming_strings",
    "search_path",
];

/// The schema holding the session's temporary tables, as in PostgreSQL.
pub const TEMP_SCHEMA: &str = "pg_temp";

pub struct Session {
    pub user: String,
    pub admin: bool,
    pub database: String,
    pub pid: i32,
    pub ctx: SessionContext,
    /// Who the session acts as (changes with SET ROLE and reloads) and what its current
    /// statement read.
    pub access: crate::policy::Access,
    /// Temporary tables (see `wire::temp`): this session's only, in its memory only.
    pub temp: std::sync::Arc<datafusion::catalog::MemorySchemaProvider>,
    settings: BTreeMap<String, String>,
    /// Upper bound from the server configuration; 0 = none.
    max_statement_timeout: Duration,
    /// Server defaults for the idle timeouts, used until the session sets its own.
    idle_defaults: (Duration, Duration),
    /// How the user proved who they are: "scram-sha-256", "password", "jwt" or "cert".
    pub auth_method: &'static str,
    /// Roles the login brought with it (the JWT roles claim); empty for other methods.
    pub login_roles: Vec<String>,
}

impl Session {
    pub fn new(
        user: String,
        admin: bool,
        database: String,
        pid: i32,
        ctx: SessionContext,
        access: crate::policy::Access,
        max_statement_timeout_ms: u64,
    ) -> Self {
        let session = Session {
            user,
            admin,
            database,
            pid,
            ctx,
            access,
            temp: std::sync::Arc::new(datafusion::catalog::MemorySchemaProvider::new()),
            settings: BTreeMap::new(),
            max_statement_timeout: Duration::from_millis(max_statement_timeout_ms),
            idle_defaults: (Duration::ZERO, Duration::ZERO),
            auth_method: "scram-sha-256",
            login_roles: Vec::new(),
        };
        session.attach_temp_schema();
        session
    }

    /// Puts the temporary-table schema into the session's catalog (again after a reload
    /// replaced the catalog: the tables survive it, as they belong to the session).
    pub fn attach_temp_schema(&self) {
        if let Some(catalog) = self.ctx.catalog(&self.database) {
            if let Err(e) = catalog.register_schema(TEMP_SCHEMA, self.temp.clone()) {
                tracing::error!("temporary tables unavailable in this session: {e}");
            }
        }
    }

    /// Drops every temporary table (DISCARD ALL / DISCARD TEMP).
    pub fn drop_temp_tables(&self) {
        use datafusion::catalog::SchemaProvider;
        for t in self.temp.table_names() {
            let _ = self.temp.deregister_table(&t);
        }
    }

    /// Sets the server's defaults for `idle_session_timeout` and
    /// `idle_in_transaction_session_timeout` (milliseconds, 0 = none).
    pub fn set_idle_defaults(&mut self, idle_ms: u64, idle_in_tx_ms: u64) {
        self.idle_defaults = (
            Duration::from_millis(idle_ms),
            Duration::from_millis(idle_in_tx_ms),
        );
    }

    /// How long the session may wait for its next message: outside or inside a transaction
    /// block. `None` = forever.
    pub fn idle_timeout(&self, in_transaction: bool) -> Option<Duration> {
        let (name, default) = if in_transaction {
            ("idle_in_transaction_session_timeout", self.idle_defaults.1)
        } else {
            ("idle_session_timeout", self.idle_defaults.0)
        };
        let d = match self.settings.get(name).and_then(|v| v.parse::<u64>().ok()) {
            Some(ms) => Duration::from_millis(ms),
            None => default,
        };
        (!d.is_zero()).then_some(d)
    }

    /// The mesh this session's database catalog serves.
    pub fn mesh(&self) -> Option<std::sync::Arc<crate::catalog::Mesh>> {
        let catalog = self.ctx.catalog(&self.database)?;
        catalog
            .as_any()
            .downcast_ref::<crate::catalog::MeshCatalog>()
            .map(|c| c.mesh().clone())
    }

    pub fn get(&self, name: &str) -> Option<String> {
        let name = name.to_ascii_lowercase();
        match name.as_str() {
            "session_authorization" | "session_user" => return Some(self.user.clone()),
            "current_user" | "role" => {
                return Some(self.access.principal.current_user().to_string())
            }
            "is_superuser" => {
                return Some(
                    if self.access.principal.admin {
                        "on"
                    } else {
                        "off"
                    }
                    .into(),
                )
            }
            _ => {}
        }
        if let Some(attr) = name.strip_prefix(crate::policy::ATTRIBUTE_PREFIX) {
            return self.access.principal.attributes.get(attr).cloned();
        }
        if let Some(v) = self.settings.get(&name) {
            return Some(v.clone());
        }
        SETTINGS
            .iter()
            .chain(READ_ONLY)
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
    }

    /// All settings as (name, value), for `SHOW ALL`.
    pub fn all(&self) -> Vec<(String, String)> {
        SETTINGS
            .iter()
            .chain(READ_ONLY)
            .map(|(n, _)| (display_name(n).to_string(), self.get(n).unwrap_or_default()))
            .collect()
    }

    /// Applies `SET name = value`. Returns the (display name, value) to report to the client when
    /// PostgreSQL would send a ParameterStatus for it.
    pub fn set(&mut self, name: &str, value: &str) -> Result<Option<(String, String)>, UserError> {
        let name = name.to_ascii_lowercase();
        let name = match name.as_str() {
            "time zone" | "time_zone" => "timezone".to_string(),
            "names" => "client_encoding".to_string(),
            _ => name,
        };
        if name.starts_with("datafusion.") {
            return Err(UserError::new(
                sqlstate::INSUFFICIENT_PRIVILEGE,
                format!("permission denied to set parameter \"{name}\": engine settings are fixed by the server configuration"),
            ));
        }
        if name.starts_with(crate::policy::ATTRIBUTE_PREFIX) {
            // Policies read these: a session must not be able to choose its own.
            return Err(UserError::new(
                sqlstate::INSUFFICIENT_PRIVILEGE,
                format!("permission denied to set parameter \"{name}\": user attributes come from the server configuration"),
            ));
        }
        if READ_ONLY.iter().any(|(n, _)| *n == name)
            || ["is_superuser", "session_authorization"].contains(&name.as_str())
        {
            return Err(UserError::new(
                sqlstate::CANT_CHANGE_RUNTIME_PARAM,
                format!("parameter \"{name}\" cannot be changed"),
            ));
        }
        if !SETTINGS.iter().any(|(n, _)| *n == name) {
            return Err(UserError::new(
                sqlstate::UNDEFINED_PARAMETER,
                format!("unrecognized configuration parameter \"{name}\""),
            ));
        }
        let value = match name.as_str() {
            "client_encoding" => {
                // asyncpg sends `'utf-8'`, quotes included, in its startup packet.
                let v = value
                    .trim()
                    .trim_matches('\'')
                    .to_ascii_uppercase()
                    .replace('-', "");
                if v != "UTF8" && v != "UNICODE" {
                    return Err(UserError::new(
                        sqlstate::FEATURE_NOT_SUPPORTED,
                        format!("client encoding \"{value}\" is not supported; meshgate speaks UTF8 only"),
                    ));
                }
                "UTF8".to_string()
            }
            "statement_timeout"
            | "idle_session_timeout"
            | "idle_in_transaction_session_timeout" => {
                let d = parse_duration_ms(value).ok_or_else(|| {
                    UserError::new(
                        sqlstate::INVALID_PARAMETER_VALUE,
                        format!("invalid value for parameter \"{name}\": \"{value}\""),
                    )
                })?;
                d.as_millis().to_string()
            }
            "extra_float_digits" => {
                let n: i32 = value.trim().parse().map_err(|_| {
                    UserError::new(
                        sqlstate::INVALID_PARAMETER_VALUE,
                        format!("invalid value for parameter \"extra_float_digits\": \"{value}\""),
                    )
                })?;
                if !(-15..=3).contains(&n) {
                    return Err(UserError::new(
                        sqlstate::INVALID_PARAMETER_VALUE,
                        format!("{n} is outside the valid range for parameter \"extra_float_digits\" (-15 .. 3)"),
                    ));
                }
                n.to_string()
            }
            "timezone" => {
                let tz = value.trim();
                let normalized = if tz.eq_ignore_ascii_case("utc")
                    || tz.eq_ignore_ascii_case("gmt")
                    || tz.eq_ignore_ascii_case("z")
                {
                    "UTC".to_string()
                } else {
                    tz.to_string()
                };
                // DataFusion validates offsets and IANA names when it evaluates; check here so a
                // bad zone fails at SET, as in PostgreSQL.
                if normalized.parse::<chrono_tz_like::Offset>().is_err()
                    && !chrono_tz_like::looks_like_iana(&normalized)
                {
                    return Err(UserError::new(
                        sqlstate::INVALID_PARAMETER_VALUE,
                        format!("invalid value for parameter \"TimeZone\": \"{value}\""),
                    ));
                }
                self.ctx
                    .state_ref()
                    .write()
                    .config_mut()
                    .options_mut()
                    .execution
                    .time_zone = Some(normalized.clone());
                normalized
            }
            "search_path" => {
                self.apply_search_path(value)?;
                value.to_string()
            }
            _ => value.to_string(),
        };
        let report = REPORTED
            .contains(&name.as_str())
            .then(|| (display_name(&name).to_string(), value.clone()));
        self.settings.insert(name, value);
        Ok(report)
    }

    pub fn reset(&mut self, name: &str) -> Result<Option<(String, String)>, UserError> {
        let name = name.to_ascii_lowercase();
        let default = SETTINGS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
            .ok_or_else(|| {
                UserError::new(
                    sqlstate::UNDEFINED_PARAMETER,
                    format!("unrecognized configuration parameter \"{name}\""),
                )
            })?;
        let report = self.set(&name, &default)?;
        self.settings.remove(&name);
        Ok(report)
    }

    pub fn reset_all(&mut self) -> Vec<(String, String)> {
        let names: Vec<String> = self.settings.keys().cloned().collect();
        names
            .iter()
            .filter_map(|n| self.reset(n).ok().flatten())
            .collect()
    }

    /// DataFusion resolves unqualified names in one default schema: the first schema of the path
    /// that exists (PostgreSQL would try each in turn; see README).
    fn apply_search_path(&mut self, value: &str) -> Result<(), UserError> {
        let catalog = self.ctx.catalog(&self.database);
        let names: Vec<String> = value
            .split(',')
            .map(|s| s.trim().trim_matches('"').to_string())
            .filter(|s| !s.is_empty())
            .collect();
        let schema = names
            .into_iter()
            .map(|n| if n == "$user" { self.user.clone() } else { n })
            .find(|n| n != "pg_catalog" && catalog.as_ref().is_some_and(|c| c.schema(n).is_some()))
            .unwrap_or_else(|| "public".to_string());
        self.ctx
            .state_ref()
            .write()
            .config_mut()
            .options_mut()
            .catalog
            .default_schema = schema;
        Ok(())
    }

    /// The statement timeout in force: the session's, capped by the server's maximum.
    pub fn statement_timeout(&self) -> Option<Duration> {
        let ms: u64 = self
            .get("statement_timeout")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mine = (ms > 0).then(|| Duration::from_millis(ms));
        let max = (!self.max_statement_timeout.is_zero()).then_some(self.max_statement_timeout);
        match (mine, max) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// PostgreSQL's duration syntax for timeouts: a bare number is milliseconds; units ms, s, min, h, d.
pub fn parse_duration_ms(v: &str) -> Option<Duration> {
    let v = v.trim().trim_matches('\'').trim();
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: f64 = num.parse().ok()?;
    if n < 0.0 {
        return None;
    }
    let ms = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "ms" => n,
        "s" => n * 1000.0,
        "min" => n * 60_000.0,
        "h" => n * 3_600_000.0,
        "d" => n * 86_400_000.0,
        _ => return None,
    };
    Some(Duration::from_millis(ms as u64))
}

/// Just enough time-zone checking for SET TIME ZONE without pulling in a tz database.
mod chrono_tz_like {
    pub struct Offset;

    impl std::str::FromStr for Offset {
        type Err = ();
        /// `+05:30`, `-08`, `UTC`.
        fn from_str(s: &str) -> Result<Self, ()> {
            if s == "UTC" {
                return Ok(Offset);
            }
            let rest = s
                .strip_prefix('+')
                .or_else(|| s.strip_prefix('-'))
                .ok_or(())?;
            let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
            let h: u32 = h.parse().map_err(|_| ())?;
            let m: u32 = m.parse().map_err(|_| ())?;
            if h <= 14 && m < 60 {
                Ok(Offset)
            } else {
                Err(())
            }
        }
    }

    /// `Area/City` names; DataFusion's own tz support checks the name when it is used.
    pub fn looks_like_iana(s: &str) -> bool {
        s.contains('/')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_postgres() {
        assert_eq!(parse_duration_ms("5000"), Some(Duration::from_millis(5000)));
        assert_eq!(parse_duration_ms("'2s'"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration_ms("1min"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration_ms("soon"), None);
    }
}
