//! mimecast-collector: collects email-security events from Mimecast and writes JSON lines.
//!
//! Data flows one way, and the modules follow it:
//!
//! ```text
//! cli ─► config ─► daemon (scheduler: one task per tenant x stream)
//!                     │
//!                     ▼
//!              streams::driver ◄── streams::{window, batch_files, token_files, snapshot}
//!                     │                (sources: hooks only, typed cursors;
//!                     │                 threat_details completes a page's threats)
//!                     ├─► api (auth, limiter, retry, envelope, rest) ─► Mimecast
//!                     ├─► normalize ─► event ─► render (native, ocsf, ecs)
//!                     └─► sink::writer ─► sink (stdout, file, syslog) ─► state (checkpoint commit)
//! ```
//!
//! - [`catalog`]: the streams, and which API version, endpoint, permission and product each
//!   needs; the regions' hosts. A leaf: `config`, `api`'s callers and `normalize` name streams
//!   and regions through it.
//! - [`config`]: the TOML file and environment overrides, validated into typed settings.
//! - [`daemon`]: the scheduler: a task per tenant x stream, reloads, shutdown, systemd notify.
//! - [`streams`]: the one poll loop ([`streams::driver`]) and the sources it runs, one per kind
//!   of endpoint; dedup ([`streams::emit`]); the probes `check` runs.
//! - [`api`]: everything about talking to Mimecast: signing (1.0) and tokens (2.0),
//!   envelopes and the undocumented REST shapes (`api::rest`), typed errors, rate limiting and
//!   retries.
//! - [`normalize`]: Mimecast records to events (pure functions); [`event`]: the typed event;
//!   [`render`]: the event as one line in the sink's format (native, OCSF 1.8, ECS 9).
//! - [`sink`]: stdout and the exactly-once file, and the writer thread that commits.
//! - [`state`]: SQLite checkpoints (delta commits), dedup ids, the file's offset, quarantine.
//! - [`metrics`]: Prometheus text and `/healthz`; [`logging`]: the log format; [`cli`]: the
//!   command line (`cli::permissions` prints what to grant, from the catalog).
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
pub mod render;
pub mod sink;
pub mod state;
pub mod streams;
