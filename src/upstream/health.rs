//! Active health checks (`health_check` in an `upstream` block, beyond nginx OSS): the
//! generation's background thread sends `GET uri` to every peer each `interval`; a peer
//! leaves the rotation after `fails` failed probes in a row and comes back after `passes`
//! good ones. Probes run once per upstream, not per worker, and stop when the generation
//! that owns the group is gone.

use super::Upstream;
use crate::observe::Level;
use std::net::SocketAddr;
use std::sync::Weak;
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

/// Probes every peer of `group` each `interval` until the generation that owns the group
/// is gone. The targets are read anew each round: peers that DNS added are probed, removed
/// ones are not.
pub(super) async fn watch(group: Weak<Upstream>) {
    loop {
        let Some((hc, name, targets)) = group.upgrade().and_then(|g| {
            let hc = g.health.clone()?;
            Some((hc, g.name.clone(), g.targets()))
        }) else {
            return;
        };
        let mut probes = tokio::task::JoinSet::new();
        for (id, addr) in targets {
            let (hc, name) = (hc.clone(), name.clone());
            probes.spawn(async move {
                let target = SocketAddr::new(addr.ip(), hc.port.unwrap_or(addr.port()));
                let result = tokio::time::timeout(hc.timeout, probe(target, &hc, &name))
                    .await
                    .unwrap_or_else(|_| Err("timed out".to_string()));
                (id, result)
            });
        }
        let mut results = vec![];
        while let Some(r) = probes.join_next().await {
            results.extend(r.ok());
        }
        // The generation may have ended while the probes ran.
        let Some(g) = group.upgrade() else { return };
        for (id, result) in results {
            if let Some(msg) = g.report_probe(id, &result) {
                crate::observe::log(Level::Warn, &msg, None);
            }
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
