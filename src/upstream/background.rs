//! The background work of a generation's upstream groups: active health checks
//! (`health.rs`) and re-resolution of `resolve` lines (`discovery.rs`), on one thread
//! with its own current-thread runtime (never per worker). The thread holds the groups
//! weakly and ends within a second of the generation being dropped.

use super::{discovery, health, Upstream};
use crate::observe::Level;
use std::sync::{mpsc, Arc, Weak};
use std::time::Duration;

/// Starts the background thread for `groups` (nothing when none has a `health_check` or
/// a `resolve` line). Returns once every resolve line has had its first answer or
/// failure, or after the longest `resolver_timeout`, so a generation starts with the
/// peers DNS gives (as nginx's workers resolve at start, but without serving 502s
/// meanwhile).
pub fn start(groups: Vec<Arc<Upstream>>) {
    let probed: Vec<Weak<Upstream>> = groups
        .iter()
        .filter(|g| g.health.is_some())
        .map(Arc::downgrade)
        .collect();
    let (lines, wait) = discovery::lines(&groups);
    if probed.is_empty() && lines.is_empty() {
        return;
    }
    let all: Vec<Weak<Upstream>> = groups
        .iter()
        .filter(|g| g.health.is_some() || g.discovery.is_some())
        .map(Arc::downgrade)
        .collect();
    let expected = lines.len();
    let (ready, answered) = mpsc::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("openclaw-upstream".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return not_started(&e),
            };
            rt.block_on(async move {
                let mut tasks = tokio::task::JoinSet::new();
                for g in probed {
                    tasks.spawn(health::watch(g));
                }
                for (g, line) in lines {
                    let ready = ready.clone();
                    tasks.spawn(discovery::watch(g, line, move || {
                        let _ = ready.send(());
                    }));
                }
                drop(ready);
                // Sleeping tasks would hold the thread until their next wake-up.
                while all.iter().any(|g| g.strong_count() > 0) && !tasks.is_empty() {
                    tokio::select! {
                        _ = tasks.join_next() => {}
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            });
        });
    if let Err(e) = spawned {
        return not_started(&e);
    }
    let deadline = std::time::Instant::now() + wait + Duration::from_millis(100);
    for _ in 0..expected {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if answered.recv_timeout(left).is_err() {
            break;
        }
    }
}

fn not_started(e: &std::io::Error) {
    crate::observe::log(
        Level::Alert,
        &format!("upstream health checks and resolving not started: {e}"),
        None,
    );
}
