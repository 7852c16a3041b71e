//! Service discovery: `server NAME[:PORT] resolve` in an `upstream` block (nginx 1.27.3's
//! zone module). Each such line is watched by one task on the generation's background
//! thread: it resolves NAME through the group's `resolver`, makes every address a peer
//! with the line's parameters, and asks again when the answer's TTL (or `valid=`) is up.
//!
//! Failures follow nginx: "no such name" (`3: Host not found`) empties the line and asks
//! again after `valid` (10 s without it, nginx's negative caching); any other failure
//! (timeout, server failure) keeps the last addresses and asks again after
//! `resolver_timeout` (at least a second). Both are logged at `error`.

use super::{PeerConf, Upstream};
use crate::observe::Level;
use crate::resolver::Resolver;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// One `server NAME[:PORT] resolve` line.
#[derive(Debug, Clone)]
pub struct ResolveServer {
    /// The name to resolve.
    pub host: String,
    pub port: u16,
    pub backup: bool,
    /// The line's parameters (weight, max_fails, ...); `server` is the line as written.
    /// Each resolved address becomes a copy with its own `addr` and `name`.
    pub template: PeerConf,
}

/// A group's resolve lines and the resolver they use (the upstream's or http's).
#[derive(Debug)]
pub struct Discovery {
    pub resolver: Arc<Resolver>,
    pub servers: Vec<ResolveServer>,
}

/// nginx's wait before asking again after "no such name" when `valid` is not set.
const NEGATIVE_TTL: Duration = Duration::from_secs(10);

/// Resolves line `line` of `group` until the group is gone. `first` is called once, after
/// the first answer (or failure), so the start can wait for it.
pub(super) async fn watch(group: Weak<Upstream>, line: usize, first: impl FnOnce()) {
    let mut first = Some(first);
    loop {
        let Some((resolver, server)) = group.upgrade().and_then(|g| {
            let d = g.discovery.as_ref()?;
            Some((d.resolver.clone(), d.servers.get(line)?.clone()))
        }) else {
            return;
        };
        let result = resolver.lookup(&server.host).await;
        let Some(g) = group.upgrade() else { return };
        let wait = match result {
            Ok((ips, life)) => {
                let addrs: Vec<SocketAddr> = ips
                    .into_iter()
                    .map(|ip| SocketAddr::new(ip, server.port))
                    .collect();
                g.set_resolved(line, &addrs);
                life
            }
            Err(e) => {
                crate::observe::log(Level::Error, &e.message(&server.host), None);
                if e.code == 3 {
                    g.set_resolved(line, &[]);
                    resolver.valid.unwrap_or(NEGATIVE_TTL)
                } else {
                    resolver.timeout
                }
            }
        };
        drop(g);
        if let Some(f) = first.take() {
            f();
        }
        tokio::time::sleep(wait.max(Duration::from_secs(1))).await;
    }
}

/// Every (group, line) to watch among `groups`, and the longest resolver timeout (what the
/// start waits for the first answers at most).
pub(super) fn lines(groups: &[Arc<Upstream>]) -> (Vec<(Weak<Upstream>, usize)>, Duration) {
    let mut out = vec![];
    let mut longest = Duration::ZERO;
    for g in groups {
        if let Some(d) = &g.discovery {
            longest = longest.max(d.resolver.timeout);
            out.extend((0..d.servers.len()).map(|i| (Arc::downgrade(g), i)));
        }
    }
    (out, longest)
}
