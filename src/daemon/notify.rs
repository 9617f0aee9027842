//! The scheduler's heartbeat: keeps `/healthz` fresh and talks to systemd (`Type=notify`):
//! READY=1 once started, STATUS= with a one-line summary, WATCHDOG=1 on every beat so a wedged
//! runtime is restarted by systemd, STOPPING=1 on shutdown. Outside systemd every notification
//! is a no-op (no NOTIFY_SOCKET).

use crate::metrics::Metrics;
use sd_notify::NotifyState;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!(error = %e, "cannot notify systemd");
    }
}

pub fn ready(metrics: &Metrics) {
    metrics.beat();
    send(&[NotifyState::Ready, NotifyState::Status(&metrics.summary())]);
}

pub fn reloading() {
    send(&[NotifyState::Reloading]);
}

pub fn stopping() {
    send(&[
        NotifyState::Stopping,
        NotifyState::Status("stopping: finishing the pages in flight"),
    ]);
}

/// Beats until `stop`: every 5 s, or twice per watchdog period when systemd set a shorter one.
pub async fn heartbeat(metrics: Arc<Metrics>, stop: CancellationToken) {
    let watchdog = sd_notify::watchdog_enabled();
    let period = watchdog
        .map(|w| (w / 2).min(Duration::from_secs(5)))
        .unwrap_or(Duration::from_secs(5))
        .max(Duration::from_millis(100));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        metrics.beat();
        let summary = metrics.summary();
        if watchdog.is_some() {
            send(&[NotifyState::Watchdog, NotifyState::Status(&summary)]);
        } else {
            send(&[NotifyState::Status(&summary)]);
        }
    }
}
