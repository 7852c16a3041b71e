//! Active health checks (`health_check` in an `upstream` block, beyond nginx OSS): one
//! prober thread per generation sends `GET uri` to every peer each `interval`; a peer
//! leaves the rotation after `fails` failed probes in a row and comes back after `passes`
//! good ones. Probes run once per upstream, not per worker, and stop when the generation
//! that owns the group is gone.

use super::Upstream;
use crate::observe::Level;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `health_check [uri=/path] [interval=T] [timeout=T] [fails=N] [passes=N]
/// [match_status=LO-HI] [port=N]`.
#[derive(Debug, Clone)]
pub struct HealthCheck {
    pub uri: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub fails: u32,
    pub passes: u32,
    pub status: (u16, u16),
    pub port: Option<u16>,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            uri: "/".into(),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(1),
            fails: 1,
            passes: 1,
            status: (200, 399),
            port: None,
        }
    }
}

/// Starts probing the groups that have a `health_check` (nothing when none has).
pub fn start(groups: Vec<Arc<Upstream>>) {
    let targets: Vec<(Weak<Upstream>, usize, usize, SocketAddr)> = groups
        .iter()
        .filter(|g| g.health.is_some())
        .flat_map(|g| {
            g.tiers.iter().enumerate().flat_map(move |(t, tier)| {
                tier.peers
                    .iter()
                    .enumerate()
                    .map(move |(i, p)| (Arc::downgrade(g), t, i, p.addr))
            })
        })
        .collect();
    if targets.is_empty() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("openclaw-health".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    crate::observe::log(
                        Level::Alert,
                        &format!("health checks not started: {e}"),
                        None,
                    );
                    return;
                }
            };
            rt.block_on(async move {
                let tasks: Vec<_> = targets
                    .into_iter()
                    .map(|(g, t, i, addr)| tokio::spawn(probe_loop(g, t, i, addr)))
                    .collect();
                for task in tasks {
                    let _ = task.await;
                }
            });
        });
    if let Err(e) = spawned {
        crate::observe::log(
            Level::Alert,
            &format!("health checks not started: {e}"),
            None,
        );
    }
}

async fn probe_loop(group: Weak<Upstream>, tier: usize, index: usize, addr: SocketAddr) {
    loop {
        let Some((hc, name)) = group
            .upgrade()
            .and_then(|g| g.health.clone().map(|h| (h, g.name.clone())))
        else {
            return;
        };
        let target = SocketAddr::new(addr.ip(), hc.port.unwrap_or(addr.port()));
        let result = match tokio::time::timeout(hc.timeout, probe(target, &hc, &name)).await {
            Ok(r) => r,
            Err(_) => Err("timed out".to_string()),
        };
        // The generation may have ended while the probe ran.
        let Some(g) = group.upgrade() else { return };
        if let Some(msg) = g.report_probe(tier, index, &result) {
            crate::observe::log(Level::Warn, &msg, None);
        }
        drop(g);
        tokio::time::sleep(hc.interval).await;
    }
}

/// One probe: the status line of `GET uri` must be within the accepted range.
async fn probe(addr: SocketAddr, hc: &HealthCheck, host: &str) -> Result<(), String> {
    let mut s = tokio::net::TcpStream::connect(addr).await.map_err(|e| {
        format!(
            "connect() failed ({}: {})",
            e.raw_os_error().unwrap_or(0),
            crate::error::strerror(&e)
        )
    })?;
    let req = format!(
        "GET {} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: openclaw-health-check\r\nConnection: close\r\n\r\n",
        hc.uri
    );
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("send() failed ({e})"))?;
    let mut buf = Vec::with_capacity(128);
    let mut chunk = [0u8; 512];
    while !buf.windows(2).any(|w| w == b"\r\n") && buf.len() < 4096 {
        let n = s
            .read(&mut chunk)
            .await
            .map_err(|e| format!("recv() failed ({e})"))?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let line = String::from_utf8_lossy(&buf);
    let status: u16 = line
        .strip_prefix("HTTP/1.")
        .and_then(|r| r.get(2..5))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| "invalid response".to_string())?;
    if (hc.status.0..=hc.status.1).contains(&status) {
        Ok(())
    } else {
        Err(format!("status {status}"))
    }
}
