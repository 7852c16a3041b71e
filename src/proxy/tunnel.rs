//! `Upgrade` (WebSocket and others): after a 101 from the upstream, the client and
//! upstream connections are joined byte for byte until either side closes or nothing
//! moves for `proxy_read_timeout`.

use super::h1;
use crate::observe::Level;
use crate::pipeline::RequestCtx;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Starts the tunnel once both sides have switched protocols.
pub fn start(ctx: &mut RequestCtx, upstream: h1::Conn, idle: Duration) {
    let Some(client) = ctx.on_upgrade.take() else {
        ctx.log(
            Level::Error,
            "upstream switched protocols but the client connection cannot be upgraded",
        );
        return;
    };
    let info = ctx.log_context();
    tokio::task::spawn_local(async move {
        let (c, u) = match client.await {
            Ok(c) => (c, upstream),
            Err(_) => return,
        };
        let (mut cr, mut cw) = tokio::io::split(c);
        let (mut ur, mut uw) = tokio::io::split(u);
        let mut down = vec![0u8; 16 * 1024];
        let mut up = vec![0u8; 16 * 1024];
        loop {
            tokio::select! {
                r = cr.read(&mut up) => match r {
                    Ok(n) if n > 0 => {
                        if uw.write_all(&up[..n]).await.is_err() {
                            break;
                        }
                    }
                    _ => break,
                },
                r = ur.read(&mut down) => match r {
                    Ok(n) if n > 0 => {
                        if cw.write_all(&down[..n]).await.is_err() {
                            break;
                        }
                    }
                    _ => break,
                },
                _ = tokio::time::sleep(idle) => {
                    info.log(Level::Error, "upstream timed out (110: Connection timed out) while proxying upgraded connection");
                    break;
                }
            }
        }
        let _ = uw.shutdown().await;
        let _ = cw.shutdown().await;
    });
}
