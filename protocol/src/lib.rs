//! The PostgreSQL protocol edge: everything that parses bytes an unauthenticated client sends.
//!
//! ```text
//!  socket ─► startup (untyped first packets: SSLRequest, GSSENCRequest, CancelRequest, StartupMessage)
//!        ─► scram (SCRAM-SHA-256 exchange, verifiers in PostgreSQL's rolpassword format)
//!        ─► codec (typed messages, each checked against its size limit before its body is read)
//! ```
//!
//! A crate of its own so that the fuzz targets build exactly this code, and so that nothing above
//! it can reach a socket's bytes except through these three doors.

pub mod codec;
pub mod scram;
pub mod startup;
