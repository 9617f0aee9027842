//! mimecast-collector: collects email-security events from Mimecast and writes JSON lines.
//!
//! Data flows one way, and the modules follow it:
//!
//! ```text
//! cli ─► config ─► daemon ─► streams ─► api (auth, limiter, retry, envelope) ─► Mimecast
//!                                 │
//!                                 └─► normalize ─► sink ─► state (checkpoint commit)
//! ```
//!
//! - [`config`]: the TOML file and environment overrides, validated into typed settings.
//! - [`api`]: everything about talking to Mimecast: hosts, signing (1.0) and tokens (2.0),
//!   envelopes, typed errors, rate limiting and retries.
//! - [`streams`]: one module per Mimecast endpoint the collector polls, and the table of what
//!   each needs (API version, endpoint, permission).
//! - [`cli`]: the command line.
//!
//! The Mimecast simulator the tests run against lives in its own crate (`mimecast-sim`), so it
//! can never share code with the client it checks.

pub mod api;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod event;
pub mod logging;
pub mod metrics;
pub mod normalize;
pub mod sink;
pub mod state;
pub mod streams;
