//! The one integration-test binary (one link on a 2-core machine): meshgate in-process on an
//! ephemeral port, driven over TCP by real clients.

mod audit;
mod bi_catalogs;
mod catalog;
mod cli;
mod clients;
mod corpus;
mod dbt;
mod dbt_build;
mod differential;
mod harness;
mod iceberg_rest;
mod identity;
mod json;
mod lake_scan;
mod last_words;
mod lifecycle;
mod malformed;
mod npgsql;
mod numeric_scale;
mod policy;
mod protocol;
mod psql;
mod psql_completion;
mod python_writers;
mod reference;
mod s3;
mod session_statements;
mod text_types;
mod throttle;
mod time_travel;
mod tls;
mod tpch;
mod writes;
