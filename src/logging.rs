//! Log output for on-call: plain text without colour when not a terminal, or JSON lines.
//!
//! Level from `--log-level`, else `RUST_LOG`, else `info`. Logs go to stderr so that stdout
//! stays clean for the event stream.

use std::io::IsTerminal;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Checks a `--log-level` value. `EnvFilter` reads a bare word it does not know as a target
/// name (so `--log-level verbose` would silently log nothing of ours at all): every directive
/// must be a level, or `target=level`.
pub fn parse_level(text: &str) -> Result<String, String> {
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    for directive in text.split(',').map(str::trim) {
        let level = directive.rsplit_once('=').map_or(directive, |(_, l)| l);
        if !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "{directive:?} is not a level: use one of {} or target=level",
                LEVELS.join(", ")
            ));
        }
    }
    EnvFilter::try_new(text)
        .map(|_| text.to_string())
        .map_err(|e| e.to_string())
}

pub fn init(format: LogFormat, level: Option<&str>) {
    let filter = match level {
        Some(l) => EnvFilter::try_new(l).unwrap_or_else(|_| EnvFilter::new("info")),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let result = match format {
        // One flat object per line: the span's tenant and stream sit beside the event's own
        // fields, once (an event field of the same name wins), so a log pipeline can filter
        // on `tenant` without digging into `span`/`spans` copies of it.
        LogFormat::Json => tracing_subscriber::registry()
            .with(filter)
            .with(tracing_flat_json::FlatJsonLayer::new(std::io::stderr))
            .try_init()
            .map_err(|e| e.to_string()),
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal())
            .try_init()
            .map_err(|e| e.to_string()),
    };
    // A second init (tests) keeps the first subscriber; that is fine.
    let _ = result;
}
