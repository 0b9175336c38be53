//! `[[peers]]` and the residency rules of products: which gateway serves which jurisdiction,
//! and what may leave one.

use std::path::Path;

use super::{err, valid_ident, ConfigError, Domain, DomainFile, PeerGateway, ServerSettings};

/// What leaves a product's jurisdiction for a consumer of another region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Export {
    All,
    /// Only grouped aggregates, each group built from at least this many rows.
    Aggregates {
        min_group_size: u64,
    },
    None,
}

/// A product's residency rules, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Residency {
    pub jurisdiction: String,
    pub export: Export,
    /// `column` (every table of the product) or `table.column`.
    pub never_export: Vec<String>,
}

impl Residency {
    /// The rules of `product` of `domain`: None where nothing is restricted (no jurisdiction,
    /// or no rule and nothing held back).
    pub fn of(domain: &Domain, product: &str) -> Option<Residency> {
        let jurisdiction = domain.jurisdiction.clone()?;
        let p = domain.products.iter().find(|p| p.name == product)?;
        let r = p.residency.as_ref()?;
        let export = match r.export.as_str() {
            "none" => Export::None,
            "aggregates" => Export::Aggregates {
                min_group_size: r.min_group_size.unwrap_or(DEFAULT_MIN_GROUP_SIZE),
            },
            _ => Export::All,
        };
        Some(Residency {
            jurisdiction,
            export,
            never_export: r.never_export.clone(),
        })
    }

    /// Whether `column` of `table` never leaves.
    pub fn holds_back(&self, table: &str, column: &str) -> bool {
        self.never_export.iter().any(|c| match c.split_once('.') {
            Some((t, c)) => t == table && c == column,
            None => c == column,
        })
    }

    /// The rule as messages and the catalog state it: `only aggregates of at least 10 rows`.
    pub fn describe(&self) -> String {
        let mut s = match self.export {
            Export::All => "all rows".to_string(),
            Export::Aggregates { min_group_size } => {
                format!("only aggregates of at least {min_group_size} rows")
            }
            Export::None => "nothing".to_string(),
        };
        if !self.never_export.is_empty() {
            s.push_str(&format!("; never {}", self.never_export.join(", ")));
        }
        s
    }
}

/// A group of fewer rows than this is taken to identify the people in it.
pub const DEFAULT_MIN_GROUP_SIZE: u64 = 10;

pub(super) fn validate_residency(path: &Path, d: &DomainFile) -> Result<(), ConfigError> {
    for (i, p) in d.products.iter().enumerate() {
        let Some(r) = &p.residency else { continue };
        let key = format!("products[{i}].residency");
        if d.jurisdiction.is_none() {
            return Err(err(
                path,
                key,
                "residency rules need the domain's `jurisdiction`",
            ));
        }
        match (r.export.as_str(), r.min_group_size) {
            ("aggregates", Some(0)) => {
                return Err(err(
                    path,
                    format!("{key}.min_group_size"),
                    "must be at least 1",
                ))
            }
            ("aggregates", _) | ("all" | "none", None) => {}
            ("all" | "none", Some(_)) => {
                return Err(err(
                    path,
                    format!("{key}.min_group_size"),
                    "only `export = \"aggregates\"` has a group size",
                ))
            }
            (other, _) => {
                return Err(err(
                    path,
                    format!("{key}.export"),
                    format!("{other:?} is not a rule; use \"all\", \"aggregates\" or \"none\""),
                ))
            }
        }
        for (k, c) in r.never_export.iter().enumerate() {
            let ck = format!("{key}.never_export[{k}]");
            let (table, column) = match c.split_once('.') {
                Some((t, c)) => (Some(t), c),
                None => (None, c.as_str()),
            };
            if !valid_ident(column) || table.is_some_and(|t| !valid_ident(t)) {
                return Err(err(
                    path,
                    ck,
                    format!("{c:?} is not `column` or `table.column` in lowercase identifiers"),
                ));
            }
            if let Some(t) = table {
                if !p.tables.iter().any(|x| x.name == t) {
                    return Err(err(
                        path,
                        ck,
                        format!("product {:?} has no table {t:?}", p.name),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Peers serve other regions than this gateway's, one each, and are reached over mutual TLS:
/// this gateway needs a region, a certificate of its own, and a CA to recognise peers by.
pub(super) fn validate_peers(
    mut peers: Vec<PeerGateway>,
    path: &Path,
    base: &Path,
    server: &ServerSettings,
    domains: &[Domain],
) -> Result<Vec<PeerGateway>, ConfigError> {
    if let Some(r) = &server.region {
        if !valid_ident(r) {
            return Err(err(
                path,
                "server.region",
                format!("{r:?} must be a lowercase identifier"),
            ));
        }
    }
    let mut regions = std::collections::BTreeSet::new();
    for (i, p) in peers.iter_mut().enumerate() {
        let key = format!("peers[{i}]");
        let Some(own) = &server.region else {
            return Err(err(
                path,
                "server.region",
                "a gateway with peers needs its own region",
            ));
        };
        if server.tls_cert.is_none() || server.tls_client_ca.is_none() {
            return Err(err(
                path,
                key,
                "peers connect with client certificates: set server.tls_cert, tls_key, tls_client_ca and tls_client_auth",
            ));
        }
        if !valid_ident(&p.region) || &p.region == own || !regions.insert(p.region.clone()) {
            return Err(err(
                path,
                format!("{key}.region"),
                format!(
                    "{:?} must be a lowercase identifier, not this gateway's region, and name one peer",
                    p.region
                ),
            ));
        }
        if p.address
            .rsplit_once(':')
            .is_none_or(|(h, port)| h.is_empty() || port.parse::<u16>().is_err())
        {
            return Err(err(
                path,
                format!("{key}.address"),
                format!("{:?} is not host:port", p.address),
            ));
        }
        if p.name.trim().is_empty() {
            return Err(err(path, format!("{key}.name"), "must not be empty"));
        }
        for (k, f) in [
            ("ca_file", &mut p.ca_file),
            ("cert_file", &mut p.cert_file),
            ("key_file", &mut p.key_file),
        ] {
            *f = base.join(&*f);
            if !f.exists() {
                return Err(err(
                    path,
                    format!("{key}.{k}"),
                    format!("{} does not exist", f.display()),
                ));
            }
        }
    }
    for d in domains.iter().filter(|d| d.foreign) {
        let j = d.jurisdiction.as_deref().unwrap_or_default();
        if !regions.contains(j) {
            return Err(err(
                &d.file,
                "jurisdiction",
                format!("no [[peers]] entry serves region {j:?}, and this gateway (region {:?}) may not read its storage", server.region.as_deref().unwrap_or_default()),
            ));
        }
    }
    Ok(peers)
}
