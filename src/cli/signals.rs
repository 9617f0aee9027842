//! Unix signals for the daemon: SIGTERM/SIGINT stop it gracefully (a second one forces exit),
//! SIGHUP reopens the output file for logrotate and re-reads the configuration (a bad one is
//! refused with a log line; the running configuration stays).

use crate::daemon::Control;
use futures_util::StreamExt;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_tokio::Signals;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Listens until the process ends. `control` arrives once the daemon has started.
pub fn spawn(
    shutdown: CancellationToken,
    mut control: watch::Receiver<Option<Control>>,
    config_path: Option<std::path::PathBuf>,
    shard: Option<crate::config::Shard>,
) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    tokio::spawn(async move {
        while let Some(signal) = signals.next().await {
            match signal {
                SIGHUP => {
                    let current = control.borrow_and_update().clone();
                    match current {
                        Some(c) => {
                            c.reopen_sink().await;
                            if let Some(path) = &config_path {
                                let env = super::process_env();
                                match crate::config::load(path, &env) {
                                    // `--shard` holds for the new file too.
                                    Ok(config) => c.reload(super::apply_shard(config, shard)).await,
                                    Err(e) => {
                                        tracing::error!(error = %e, "new configuration refused; the running one stays")
                                    }
                                }
                            }
                        }
                        None => {
                            tracing::info!("SIGHUP before start-up finished; nothing to reopen")
                        }
                    }
                }
                _ if shutdown.is_cancelled() => {
                    tracing::warn!(
                        "second stop signal: exiting now without waiting for pages in flight"
                    );
                    std::process::exit(1);
                }
                _ => {
                    tracing::info!(
                        signal = if signal == SIGTERM {
                            "SIGTERM"
                        } else {
                            "SIGINT"
                        },
                        "stop requested"
                    );
                    shutdown.cancel();
                }
            }
        }
    });
    Ok(())
}
