//! `run`: the daemon with its signal handlers, and what its outcome means as an exit code.

use super::{signals, EXIT_FAILURE, EXIT_OK};
use crate::config::Config;
use crate::daemon::{self, RunOptions};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Runs the daemon until a stop signal; 0 after a clean stop, 1 if it could not start. With
/// `--once`, 1 as well when a stream's last poll failed, naming each such stream: a drain that
/// stopped short must not look like a drain that completed.
pub async fn run(
    config: Config,
    options: RunOptions,
    config_path: Option<std::path::PathBuf>,
    shard: Option<crate::config::Shard>,
) -> u8 {
    let shutdown = CancellationToken::new();
    let (control_tx, control_rx) = watch::channel(None);
    if let Err(e) = signals::spawn(shutdown.clone(), control_rx, config_path, shard) {
        eprintln!("error: cannot install signal handlers: {e}");
        return EXIT_FAILURE;
    }
    let once = options.once;
    match daemon::run(config, options, shutdown, move |c| {
        let _ = control_tx.send(Some(c));
    })
    .await
    {
        Ok(summary) if once && !summary.failed.is_empty() => {
            for (key, error) in &summary.failed {
                eprintln!("error: {key}: {error}");
            }
            eprintln!(
                "error: {} stream(s) did not complete; `mimecast-collector status` shows them",
                summary.failed.len()
            );
            EXIT_FAILURE
        }
        Ok(_) => EXIT_OK,
        Err(e @ crate::daemon::DaemonError::Stopped(_)) => {
            eprintln!("error: {e}");
            EXIT_FAILURE
        }
        Err(e) => {
            tracing::error!(error = %e, "collector could not start");
            eprintln!("error: {e}");
            EXIT_FAILURE
        }
    }
}
