//! SET, SHOW and RESET: the settings a client may change, and what reading them says.
//!
//! Settings follow PostgreSQL's names and defaults. Only settings that mean something here, or
//! that well-known clients send on connect, are accepted; anything else is PostgreSQL's
//! `unrecognized configuration parameter` (42704). Engine settings (`datafusion.*`) belong to the
//! operator: a client may not change them (42501).

use std::collections::BTreeMap;
use std::time::Duration;

use datafusion::prelude::SessionContext;

use crate::error::{SqlState, UserError};
use crate::policy::Principal;

/// Settings clients may set, with PostgreSQL's defaults. `None`: accepted, default empty.
const SETTINGS: &[(&str, &str)] = &[
    ("application_name", ""),
    ("client_encoding", "UTF8"),
    ("client_min_messages", "notice"),
    ("datestyle", "ISO, MDY"),
    ("default_table_access_method", "heap"),
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
    // Every table is read as it was at this instant (empty: as it is now).
    ("mesh.as_of", ""),
    // Where statements run: `local`, on the `[cluster]` (`cluster`), or as the server's
    // `cluster.mode` decides (`auto`).
    ("mesh.execution", "auto"),
];

use crate::catalog::functions::READ_ONLY;

/// Canonical spelling of settings PostgreSQL reports in mixed case.
fn display_name(name: &str) -> &str {
    match name {
        "datestyle" => "DateStyle",
        "timezone" => "TimeZone",
        "intervalstyle" => "IntervalStyle",
        other => other,
    }
}

/// A setting's default, None for a name that is not a setting.
pub fn default_value(name: &str) -> Option<String> {
    let name = name.to_ascii_lowercase();
    SETTINGS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_string())
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

/// A session's settings: what it SET, over PostgreSQL's defaults.
pub struct Settings {
    values: BTreeMap<String, String>,
    /// Upper bound from the server configuration; 0 = none.
    max_statement_timeout: Duration,
    /// Server defaults for the idle timeouts, used until the session sets its own.
    idle_defaults: (Duration, Duration),
    /// Inside a transaction block: what the settings return to when it ends.
    tx: Option<AtEnd>,
}

/// Settings are transactional, as in PostgreSQL: ROLLBACK undoes a SET made in the block, and a
/// SET LOCAL lasts until the block ends either way.
struct AtEnd {
    rollback: BTreeMap<String, String>,
    commit: BTreeMap<String, String>,
}

/// What settings depend on: who the session acts as, and the engine context that `SET TIME
/// ZONE` and `search_path` change.
pub struct Context<'a> {
    /// Read here; written only through [`Context::configure`].
    pub ctx: &'a SessionContext,
    pub snapshot: &'a super::context::Snapshot,
    pub principal: &'a Principal,
    pub database: &'a str,
}

impl Context<'_> {
    /// Writes the engine's settings, and tells the session's kept copy of them it is stale.
    fn configure(&self, f: impl FnOnce(&mut datafusion::config::ConfigOptions)) {
        f(self.ctx.state_ref().write().config_mut().options_mut());
        self.snapshot.changed();
    }
}

impl Settings {
    pub fn new(limits: &crate::config::LimitsSettings, max_statement_timeout_ms: u64) -> Self {
        Settings {
            values: BTreeMap::new(),
            max_statement_timeout: Duration::from_millis(max_statement_timeout_ms),
            idle_defaults: (
                Duration::from_millis(limits.idle_session_timeout_ms),
                Duration::from_millis(limits.idle_in_transaction_timeout_ms),
            ),
            tx: None,
        }
    }

    /// A transaction block began: changes from now on are undone or kept when it ends.
    pub fn begin_transaction(&mut self) {
        self.tx = Some(AtEnd {
            rollback: self.values.clone(),
            commit: self.values.clone(),
        });
    }

    /// The block ended: back to the values it started with (ROLLBACK), or to those its session
    /// SETs left (COMMIT; SET LOCAL values go either way). Returns the changes to report.
    pub fn end_transaction(&mut self, commit: bool, cx: &Context) -> Vec<(String, String)> {
        let Some(at_end) = self.tx.take() else {
            return Vec::new();
        };
        let target = if commit {
            at_end.commit
        } else {
            at_end.rollback
        };
        let names: std::collections::BTreeSet<String> =
            self.values.keys().chain(target.keys()).cloned().collect();
        let mut reports = Vec::new();
        for name in names {
            if self.values.get(&name) == target.get(&name) {
                continue;
            }
            // Values that were accepted once are accepted again.
            let report = match target.get(&name) {
                Some(v) => self.set(&name, v, cx),
                None => self.reset(&name, cx),
            };
            reports.extend(report.ok().flatten());
        }
        reports
    }

    /// `SET LOCAL`: in force until the transaction block ends.
    pub fn set_local(
        &mut self,
        name: &str,
        value: &str,
        cx: &Context,
    ) -> Result<Option<(String, String)>, UserError> {
        let at_commit = self.tx.as_ref().map(|t| t.commit.clone());
        let report = self.set(name, value, cx)?;
        if let (Some(t), Some(c)) = (self.tx.as_mut(), at_commit) {
            t.commit = c;
        }
        Ok(report)
    }

    /// How long the session may wait for its next message: outside or inside a transaction
    /// block. `None` = forever.
    pub fn idle_timeout(&self, in_transaction: bool) -> Option<Duration> {
        let (name, default) = if in_transaction {
            ("idle_in_transaction_session_timeout", self.idle_defaults.1)
        } else {
            ("idle_session_timeout", self.idle_defaults.0)
        };
        let d = match self.values.get(name).and_then(|v| v.parse::<u64>().ok()) {
            Some(ms) => Duration::from_millis(ms),
            None => default,
        };
        (!d.is_zero()).then_some(d)
    }

    /// Every value the session has set (a kept plan is used only while they stay the same).
    pub fn values(&self) -> &BTreeMap<String, String> {
        &self.values
    }

    pub fn get(&self, name: &str, who: &Principal) -> Option<String> {
        let name = name.to_ascii_lowercase();
        match name.as_str() {
            "session_authorization" | "session_user" => return Some(who.user.clone()),
            "current_user" | "role" => return Some(who.current_user().to_string()),
            "is_superuser" => return Some(if who.admin { "on" } else { "off" }.into()),
            _ => {}
        }
        if let Some(attr) = name.strip_prefix(crate::policy::ATTRIBUTE_PREFIX) {
            return who.attributes.get(attr).cloned();
        }
        if let Some(v) = self.values.get(&name) {
            return Some(v.clone());
        }
        SETTINGS
            .iter()
            .chain(READ_ONLY)
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
    }

    /// All settings as (name, value), for `SHOW ALL`.
    pub fn all(&self, who: &Principal) -> Vec<(String, String)> {
        SETTINGS
            .iter()
            .chain(READ_ONLY)
            .map(|(n, _)| {
                (
                    display_name(n).to_string(),
                    self.get(n, who).unwrap_or_default(),
                )
            })
            .collect()
    }

    /// Applies `SET name = value`. Returns the (display name, value) to report to the client when
    /// PostgreSQL would send a ParameterStatus for it.
    pub fn set(
        &mut self,
        name: &str,
        value: &str,
        cx: &Context,
    ) -> Result<Option<(String, String)>, UserError> {
        let name = name.to_ascii_lowercase();
        let name = match name.as_str() {
            "time zone" | "time_zone" => "timezone".to_string(),
            "names" => "client_encoding".to_string(),
            _ => name,
        };
        if name.starts_with("datafusion.") {
            return Err(UserError::new(
                SqlState::InsufficientPrivilege,
                format!("permission denied to set parameter \"{name}\": engine settings are fixed by the server configuration"),
            ));
        }
        if name.starts_with(crate::policy::ATTRIBUTE_PREFIX) {
            // Policies read these: a session must not be able to choose its own.
            return Err(UserError::new(
                SqlState::InsufficientPrivilege,
                format!("permission denied to set parameter \"{name}\": user attributes come from the server configuration"),
            ));
        }
        if READ_ONLY.iter().any(|(n, _)| *n == name)
            || ["is_superuser", "session_authorization"].contains(&name.as_str())
        {
            return Err(UserError::new(
                SqlState::CantChangeRuntimeParam,
                format!("parameter \"{name}\" cannot be changed"),
            ));
        }
        if !SETTINGS.iter().any(|(n, _)| *n == name) {
            return Err(UserError::new(
                SqlState::UndefinedObject,
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
                        SqlState::FeatureNotSupported,
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
                        SqlState::InvalidParameterValue,
                        format!("invalid value for parameter \"{name}\": \"{value}\""),
                    )
                })?;
                d.as_millis().to_string()
            }
            "extra_float_digits" => {
                let n: i32 = value.trim().parse().map_err(|_| {
                    UserError::new(
                        SqlState::InvalidParameterValue,
                        format!("invalid value for parameter \"extra_float_digits\": \"{value}\""),
                    )
                })?;
                if !(-15..=3).contains(&n) {
                    return Err(UserError::new(
                        SqlState::InvalidParameterValue,
                        format!("{n} is outside the valid range for parameter \"extra_float_digits\" (-15 .. 3)"),
                    ));
                }
                n.to_string()
            }
            "timezone" => {
                let (shown, engine) = zone::parse(value.trim()).ok_or_else(|| {
                    UserError::new(
                        SqlState::InvalidParameterValue,
                        format!("invalid value for parameter \"TimeZone\": \"{value}\""),
                    )
                })?;
                cx.configure(|o| o.execution.time_zone = Some(engine));
                shown
            }
            "search_path" => {
                apply_search_path(value, cx);
                value.to_string()
            }
            "mesh.as_of" => {
                let value = value.trim();
                if !value.is_empty() {
                    crate::catalog::history::instant(value)?;
                }
                value.to_string()
            }
            "mesh.execution" => {
                let v = value.trim().to_ascii_lowercase();
                if !["local", "cluster", "auto"].contains(&v.as_str()) {
                    return Err(UserError::new(
                        SqlState::InvalidParameterValue,
                        format!("invalid value for parameter \"mesh.execution\": \"{value}\" (local, cluster or auto)"),
                    ));
                }
                v
            }
            _ => value.to_string(),
        };
        let report = REPORTED
            .contains(&name.as_str())
            .then(|| (display_name(&name).to_string(), value.clone()));
        if let Some(t) = self.tx.as_mut() {
            t.commit.insert(name.clone(), value.clone());
        }
        self.values.insert(name, value);
        Ok(report)
    }

    pub fn reset(
        &mut self,
        name: &str,
        cx: &Context,
    ) -> Result<Option<(String, String)>, UserError> {
        let name = name.to_ascii_lowercase();
        let default = SETTINGS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
            .ok_or_else(|| {
                UserError::new(
                    SqlState::UndefinedObject,
                    format!("unrecognized configuration parameter \"{name}\""),
                )
            })?;
        let report = self.set(&name, &default, cx)?;
        self.values.remove(&name);
        if let Some(t) = self.tx.as_mut() {
            t.commit.remove(&name);
        }
        Ok(report)
    }

    pub fn reset_all(&mut self, cx: &Context) -> Vec<(String, String)> {
        let names: Vec<String> = self.values.keys().cloned().collect();
        names
            .iter()
            .filter_map(|n| self.reset(n, cx).ok().flatten())
            .collect()
    }

    /// Where the session asked its statements to run (`mesh.execution`).
    pub fn execution(&self) -> crate::exec::cluster::Placement {
        use crate::exec::cluster::Placement;
        match self.values.get("mesh.execution").map(String::as_str) {
            Some("local") => Placement::Local,
            Some("cluster") => Placement::Cluster,
            _ => Placement::Auto,
        }
    }

    /// The statement timeout in force: the session's, capped by the server's maximum.
    pub fn statement_timeout(&self) -> Option<Duration> {
        let ms: u64 = self
            .values
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

/// DataFusion resolves unqualified names in one default schema: the first schema of the path
/// that exists (the front end qualifies names found in later ones, see `sql::names`).
fn apply_search_path(value: &str, cx: &Context) {
    let catalog = cx.ctx.catalog(cx.database);
    let schema = crate::sql::names::search_path(value, &cx.principal.user)
        .into_iter()
        .find(|n| n != "pg_catalog" && catalog.as_ref().is_some_and(|c| c.schema(n).is_some()))
        .unwrap_or_else(|| "public".to_string());
    cx.configure(|o| o.catalog.default_schema = schema);
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
/// PostgreSQL's TimeZone values, turned into the zone DataFusion reads: an IANA name or an
/// offset east of UTC (`+02:00`).
mod zone {
    /// (what SHOW says, the engine's zone) for a TimeZone value, as PostgreSQL reads it:
    /// - `UTC`, `Z`: UTC;
    /// - a number (`-5`, `5.5`): hours east of UTC, shown as PostgreSQL shows it (`<-05>+05`);
    /// - a zone name of the tz database, in any case, shown as the database spells it
    ///   (`europe/berlin` is `Europe/Berlin`; `CET`, `EST5EDT`);
    /// - a POSIX zone without daylight rules (`+02:00`, `UTC+2`, `GMT-02:00`, `<+02>-02`): an
    ///   abbreviation and then hours **west** of UTC, so `+02:00` is two hours behind UTC.
    ///   pgjdbc sends a JVM's `GMT+02:00` as `GMT-02:00` for that reason.
    pub fn parse(value: &str) -> Option<(String, String)> {
        if value.eq_ignore_ascii_case("utc") || value.eq_ignore_ascii_case("z") {
            return Some(("UTC".into(), "UTC".into()));
        }
        if let Some(seconds) = hours(value) {
            let iso = offset_text(seconds);
            let posix = offset_text(-seconds);
            return Some((format!("<{iso}>{posix}"), iso));
        }
        if let Some(name) = meshgate_functions::zone_name(value) {
            return Some((name.to_string(), name.to_string()));
        }
        let west = meshgate_functions::posix_offset_west(value)?;
        Some((value.to_string(), offset_text(-west)))
    }

    /// A plain number of hours (`-5`, `+5.5`) as seconds east of UTC.
    fn hours(s: &str) -> Option<i32> {
        let digits = s.trim_start_matches(['+', '-']);
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return None;
        }
        let h: f64 = s.parse().ok()?;
        (h.abs() <= 15.0 + 59.0 / 60.0).then(|| (h * 3600.0).round() as i32)
    }

    /// `+05:30`, `-02`: an offset as PostgreSQL and DataFusion write it.
    fn offset_text(seconds: i32) -> String {
        let sign = if seconds < 0 { '-' } else { '+' };
        let s = seconds.abs();
        let mut t = format!("{sign}{:02}", s / 3600);
        if s % 3600 != 0 {
            t.push_str(&format!(":{:02}", s % 3600 / 60));
            if s % 60 != 0 {
                t.push_str(&format!(":{:02}", s % 60));
            }
        }
        t
    }

    #[cfg(test)]
    mod tests {
        use super::parse;

        #[test]
        fn time_zones_read_as_postgresql_reads_them() {
            let p = parse;
            let pair = |a: &str, b: &str| Some((a.to_string(), b.to_string()));
            assert_eq!(p("utc"), pair("UTC", "UTC"));
            assert_eq!(p("2"), pair("<+02>-02", "+02"));
            assert_eq!(p("-5"), pair("<-05>+05", "-05"));
            assert_eq!(p("5.5"), pair("<+05:30>-05:30", "+05:30"));
            assert_eq!(p("europe/berlin"), pair("Europe/Berlin", "Europe/Berlin"));
            assert_eq!(p("gmt"), pair("GMT", "GMT"));
            assert_eq!(p("EST5EDT"), pair("EST5EDT", "EST5EDT"));
            assert_eq!(p("+02:00"), pair("+02:00", "-02"));
            assert_eq!(p("GMT-02:00"), pair("GMT-02:00", "+02"));
            assert_eq!(p("UTC+2"), pair("UTC+2", "-02"));
            assert_eq!(p("<+02>-02"), pair("<+02>-02", "+02"));
            assert_eq!(p("<-05>+05"), pair("<-05>+05", "-05"));
            for bad in [
                "Mars/Olympus",
                "+25",
                "GMT+2EDT",
                "XX+1",
                "",
                "+02:00:00:00",
            ] {
                assert_eq!(p(bad), None, "{bad}");
            }
        }
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
