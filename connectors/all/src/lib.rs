//! The formats of the mesh, in one [`Registry`]: Delta (delta-rs), Iceberg (iceberg-rust),
//! Parquet directories, PostgreSQL, MySQL/MariaDB and SQLite tables are read; tables created through meshgate are written as Delta. Everything
//! above this crate reaches a format only through the registry.

use std::sync::Arc;

pub use meshgate_connector_api::*;

/// Every format meshgate reads, and the one it writes.
pub fn registry() -> Registry {
    Registry::new(
        vec![
            Arc::new(meshgate_delta::DeltaConnector),
            Arc::new(meshgate_iceberg::IcebergConnector::default()),
            Arc::new(meshgate_parquet::ParquetConnector),
            Arc::new(meshgate_postgres::PostgresConnector::default()),
            Arc::new(meshgate_postgres::PeerConnector::default()),
            Arc::new(meshgate_sqlite::SqliteConnector::default()),
            Arc::new(meshgate_mysql::MysqlConnector::default()),
        ],
        Arc::new(meshgate_delta::DeltaWriter),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_written_format_is_read_too() {
        let r = super::registry();
        assert_eq!(r.written().format(), r.writer().format());
        for f in ["delta", "iceberg", "parquet", "postgres", "mysql", "sqlite"] {
            assert!(r.get(f).is_some(), "{f}");
        }
    }
}
