//! A domain's storage: where its tables live and how to reach them.

use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::ObjectStore;
use url::Url;

use crate::{ConnectorError, Result, Secret};

/// S3 (or S3-compatible) settings. Credentials left unset fall back to the ambient AWS provider
/// chain (environment, profile, instance metadata).
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    pub region: Option<String>,
    /// Custom endpoint for S3-compatible servers (MinIO, moto, Ceph…).
    pub endpoint: Option<String>,
    pub access_key_id: Option<Secret>,
    pub secret_access_key: Option<Secret>,
    pub session_token: Option<Secret>,
    /// Needed for plain-http endpoints; off by default so credentials never travel unencrypted
    /// unless a domain opts in.
    pub allow_http: bool,
    /// Path-style (`endpoint/bucket/key`) is what most S3-compatible servers expect.
    pub path_style: bool,
}

#[derive(Debug, Clone)]
pub enum StorageKind {
    Local,
    S3(S3Settings),
    /// Google Cloud Storage / Azure: object_store configuration keys (`google_service_account`,
    /// `azure_storage_account_name`, …) with their values; secret values are redacted in Debug.
    Gcs(Vec<(String, Secret)>),
    Azure(Vec<(String, Secret)>),
}

/// A domain's storage root and the one object store built for it.
#[derive(Clone)]
pub struct Storage {
    /// Domain name, for messages.
    pub domain: String,
    /// Root URL (`file:///…/`, `s3://bucket/prefix/`); always ends with `/`.
    pub root: Url,
    pub kind: StorageKind,
    /// Built once per domain and shared by every scan of its tables.
    pub object_store: Arc<dyn ObjectStore>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("domain", &self.domain)
            .field("root", &self.root.as_str())
            .field("kind", &self.kind)
            .finish()
    }
}

impl Storage {
    /// Builds the object store for `root`. No request is made here.
    pub fn new(domain: &str, mut root: Url, kind: StorageKind) -> Result<Self> {
        if !root.path().ends_with('/') {
            let p = format!("{}/", root.path());
            root.set_path(&p);
        }
        let cfg = |reason: String| ConnectorError::Config {
            table: format!("domain {domain}"),
            reason,
        };
        let object_store: Arc<dyn ObjectStore> = match &kind {
            StorageKind::Local => Arc::new(LocalFileSystem::new()),
            StorageKind::S3(s3) => {
                let mut b = object_store::aws::AmazonS3Builder::from_env().with_url(root.as_str());
                if let Some(r) = &s3.region {
                    b = b.with_region(r);
                }
                if let Some(e) = &s3.endpoint {
                    b = b.with_endpoint(e);
                }
                if let Some(k) = &s3.access_key_id {
                    b = b.with_access_key_id(k.expose());
                }
                if let Some(k) = &s3.secret_access_key {
                    b = b.with_secret_access_key(k.expose());
                }
                if let Some(k) = &s3.session_token {
                    b = b.with_token(k.expose());
                }
                b = b
                    .with_allow_http(s3.allow_http)
                    .with_virtual_hosted_style_request(!s3.path_style);
                Arc::new(b.build().map_err(|e| cfg(e.to_string()))?)
            }
            StorageKind::Gcs(opts) => {
                let mut b = object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_url(root.as_str());
                for (k, v) in opts {
                    let key = k
                        .parse()
                        .map_err(|e: object_store::Error| cfg(e.to_string()))?;
                    b = b.with_config(key, v.expose());
                }
                Arc::new(b.build().map_err(|e| cfg(e.to_string()))?)
            }
            StorageKind::Azure(opts) => {
                let mut b =
                    object_store::azure::MicrosoftAzureBuilder::from_env().with_url(root.as_str());
                for (k, v) in opts {
                    let key = k
                        .parse()
                        .map_err(|e: object_store::Error| cfg(e.to_string()))?;
                    b = b.with_config(key, v.expose());
                }
                Arc::new(b.build().map_err(|e| cfg(e.to_string()))?)
            }
        };
        Ok(Storage {
            domain: domain.to_string(),
            root,
            kind,
            object_store,
        })
    }

    /// The URL under which DataFusion's object-store registry knows this store (`s3://bucket`).
    pub fn store_url(&self) -> Url {
        let mut u = self.root.clone();
        u.set_path("");
        u.set_query(None);
        u
    }

    /// Options in object_store's key spelling (`aws_access_key_id`, …), as delta-rs takes them.
    /// Values are secrets: hand them straight to the library, never to a log.
    pub fn object_store_options(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        match &self.kind {
            StorageKind::Local => {}
            StorageKind::S3(s3) => {
                let mut put = |k: &str, v: Option<&str>| {
                    if let Some(v) = v {
                        out.push((k.to_string(), v.to_string()));
                    }
                };
                put("aws_region", s3.region.as_deref());
                put("aws_endpoint", s3.endpoint.as_deref());
                put(
                    "aws_access_key_id",
                    s3.access_key_id.as_ref().map(Secret::expose),
                );
                put(
                    "aws_secret_access_key",
                    s3.secret_access_key.as_ref().map(Secret::expose),
                );
                put(
                    "aws_session_token",
                    s3.session_token.as_ref().map(Secret::expose),
                );
                out.push(("aws_allow_http".into(), s3.allow_http.to_string()));
                out.push((
                    "aws_virtual_hosted_style_request".into(),
                    (!s3.path_style).to_string(),
                ));
            }
            StorageKind::Gcs(opts) | StorageKind::Azure(opts) => {
                out.extend(
                    opts.iter()
                        .map(|(k, v)| (k.clone(), v.expose().to_string())),
                );
            }
        }
        out
    }

    /// Properties in iceberg's FileIO spelling (`s3.endpoint`, …).
    pub fn iceberg_properties(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let StorageKind::S3(s3) = &self.kind {
            let mut put = |k: &str, v: Option<&str>| {
                if let Some(v) = v {
                    out.push((k.to_string(), v.to_string()));
                }
            };
            put("s3.region", s3.region.as_deref());
            put("s3.endpoint", s3.endpoint.as_deref());
            put(
                "s3.access-key-id",
                s3.access_key_id.as_ref().map(Secret::expose),
            );
            put(
                "s3.secret-access-key",
                s3.secret_access_key.as_ref().map(Secret::expose),
            );
            put(
                "s3.session-token",
                s3.session_token.as_ref().map(Secret::expose),
            );
            out.push(("s3.path-style-access".into(), s3.path_style.to_string()));
        }
        out
    }

    /// Resolves a table location relative to the domain root; absolute URLs and absolute local
    /// paths are taken as they are.
    pub fn resolve(&self, location: &str) -> Result<Url> {
        let bad = |e: String| ConnectorError::Config {
            table: format!("domain {}", self.domain),
            reason: format!("bad location {location:?}: {e}"),
        };
        let mut url = if location.contains("://") {
            Url::parse(location).map_err(|e| bad(e.to_string()))?
        } else if location.starts_with('/') {
            Url::from_directory_path(location).map_err(|_| bad("not an absolute path".into()))?
        } else {
            self.root.join(location).map_err(|e| bad(e.to_string()))?
        };
        // Table locations are directories, except an Iceberg metadata file.
        if !url.path().ends_with('/') && !url.path().ends_with(".json") {
            let p = format!("{}/", url.path());
            url.set_path(&p);
        }
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_relative_and_absolute_locations() {
        let s = Storage::new(
            "sales",
            Url::parse("file:///data/sales").unwrap(),
            StorageKind::Local,
        )
        .unwrap();
        assert_eq!(s.root.as_str(), "file:///data/sales/");
        assert_eq!(
            s.resolve("orders").unwrap().as_str(),
            "file:///data/sales/orders/"
        );
        assert_eq!(s.resolve("/x/y").unwrap().as_str(), "file:///x/y/");
        assert_eq!(
            s.resolve("s3://b/t/metadata/v1.metadata.json")
                .unwrap()
                .as_str(),
            "s3://b/t/metadata/v1.metadata.json"
        );
    }

    #[test]
    fn debug_never_shows_credentials() {
        let kind = StorageKind::S3(S3Settings {
            access_key_id: Some(Secret::new("AKIAEXAMPLE")),
            secret_access_key: Some(Secret::new("topsecret")),
            endpoint: Some("http://127.0.0.1:1".into()),
            allow_http: true,
            path_style: true,
            ..Default::default()
        });
        let s = Storage::new("sales", Url::parse("s3://bucket/p").unwrap(), kind).unwrap();
        let text = format!("{s:?}");
        assert!(
            !text.contains("AKIAEXAMPLE") && !text.contains("topsecret"),
            "{text}"
        );
        assert_eq!(s.store_url().as_str(), "s3://bucket");
    }
}
