//! The server's own parameters: what it says it is to every session, in SHOW, ParameterStatus
//! and pg_settings alike.

/// The PostgreSQL version meshgate answers as: clients (SQLAlchemy, pgjdbc) parse it and choose
/// their catalog queries by it.
pub const SERVER_VERSION: &str = "16.6";

/// Read-only settings reported by SHOW (and ParameterStatus at startup), and listed in
/// pg_settings: they are the same for every session.
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
