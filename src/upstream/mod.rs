//! Upstream groups and peer selection: nginx's round robin (smooth weighted), `least_conn`,
//! `ip_hash`, `hash KEY [consistent]`, `random [two]` and a peak-EWMA balancer, with
//! passive health (`max_fails`/`fail_timeout`) and backup servers.
//!
//! One [`Upstream`] is shared by every worker of a generation: its peer set sits behind
//! one mutex, held only for the pick or the release (as nginx's `zone` makes it shared).
//! `server NAME resolve` lines change that set at run time (`discovery.rs`): peers come
//! and go between picks, and a pick or release finds its peer by id (`peers.rs`).
//! No hyper, no mlua here: the proxy asks for a peer, reports how it went, and logs what
//! this module tells it to.

mod background;
mod balance;
mod discovery;
mod health;
mod peers;

use peers::PeerSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use background::start;
pub use balance::Selection;
pub use discovery::{Discovery, ResolveServer};
pub use health::HealthCheck;

/// The balancing method of an upstream block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algo {
    RoundRobin,
    LeastConn,
    IpHash,
    Hash,
    ConsistentHash,
    Random,
    RandomTwo,
    RandomTwoLeastConn,
    /// Peak-EWMA latency with power of two choices (beyond nginx).
    Ewma,
}

/// One `server` line as configured (a name may resolve to several peers).
#[derive(Debug, Clone)]
pub struct PeerConf {
    pub addr: SocketAddr,
    /// The server as written (`backend.local:8080`): consistent hashing hashes this.
    pub server: String,
    /// The address as text (`127.0.0.1:8080`): `$upstream_addr`.
    pub name: String,
    pub weight: u32,
    pub max_fails: u32,
    pub fail_timeout: Duration,
    pub max_conns: u32,
    pub down: bool,
}

impl PeerConf {
    /// A peer with nginx's defaults (weight 1, max_fails 1, fail_timeout 10s), as made
    /// for `proxy_pass http://host:port` without an upstream block.
    pub fn plain(addr: SocketAddr, server: &str) -> PeerConf {
        PeerConf {
            addr,
            server: server.to_string(),
            name: addr.to_string(),
            weight: 1,
            max_fails: 1,
            fail_timeout: Duration::from_secs(10),
            max_conns: 0,
            down: false,
        }
    }
}

/// `keepalive N` and its companions: idle connections cached per worker.
#[derive(Debug, Clone, Copy)]
pub struct Keepalive {
    pub max_idle: usize,
    pub timeout: Duration,
    pub requests: u64,
}

/// An upstream group with its shared run-time state.
#[derive(Debug)]
pub struct Upstream {
    pub name: String,
    /// Made by `proxy_pass http://host:port` rather than an `upstream` block.
    pub implicit: bool,
    pub algo: Algo,
    pub keepalive: Option<Keepalive>,
    /// `health_check`: probed by the generation's background thread ([`start`]).
    pub health: Option<HealthCheck>,
    /// Distinguishes pools across upstreams and generations.
    pub id: u64,
    /// `server NAME resolve` lines, re-resolved by the background thread.
    pub(crate) discovery: Option<Discovery>,
    peers: Mutex<PeerSet>,
    /// Copies of the set's `count()` and `single()`, read per request without the lock.
    tries: AtomicUsize,
    single: AtomicBool,
}

/// A picked peer: where it was (tier, index), its id in the group, and its address.
#[derive(Debug, Clone)]
pub struct Picked {
    pub tier: usize,
    pub index: usize,
    /// The peer's id: release finds it by this even after the peer set changed.
    pub id: u64,
    pub addr: SocketAddr,
    pub name: String,
}

impl Picked {
    /// A peer chosen outside the group (`balancer_by_lua*`): no balancer state applies.
    pub fn external(addr: SocketAddr) -> Picked {
        Picked {
            tier: usize::MAX,
            index: 0,
            id: 0,
            addr,
            name: addr.to_string(),
        }
    }
}

/// What a request reports when it is done with a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Upstream {
    /// Builds a group; `backup` may be empty. Peers need at least one, unless
    /// [`Upstream::with_discovery`] adds resolve lines.
    pub fn new(
        name: &str,
        implicit: bool,
        algo: Algo,
        primary: Vec<PeerConf>,
        backup: Vec<PeerConf>,
        keepalive: Option<Keepalive>,
    ) -> Upstream {
        let set = PeerSet::new(algo, primary, backup, false);
        Upstream {
            name: name.to_string(),
            implicit,
            algo,
            keepalive,
            health: None,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            discovery: None,
            tries: AtomicUsize::new(set.count()),
            single: AtomicBool::new(set.single()),
            peers: Mutex::new(set),
        }
    }

    /// Adds active health checks (before the group is shared).
    pub fn with_health(mut self, hc: Option<HealthCheck>) -> Upstream {
        self.health = hc;
        self
    }

    /// Adds `server NAME resolve` lines (before the group is shared): they have no peers
    /// until the background thread resolves them.
    pub fn with_discovery(mut self, discovery: Option<Discovery>) -> Upstream {
        if let Some(d) = &discovery {
            let set = self.peers.get_mut().unwrap_or_else(|e| e.into_inner());
            if d.servers.iter().any(|s| s.backup) && set.tiers.len() == 1 {
                let primary = std::mem::take(&mut set.tiers[0].peers);
                *set = PeerSet::new(self.algo, primary, vec![], true);
            }
        }
        self.discovery = discovery;
        self
    }

    /// Records one probe of the peer with `id`; returns the warning to log when the peer
    /// changes between healthy and unhealthy.
    pub fn report_probe(&self, id: u64, result: &Result<(), String>) -> Option<String> {
        let hc = self.health.as_ref()?;
        let mut set = self.lock();
        let (t, i) = (0..set.tiers.len()).find_map(|t| set.find(t, 0, id))?;
        let name = set.tiers[t].peers[i].name.clone();
        let s = &mut set.state[t][i];
        match result {
            Ok(()) => {
                s.probe_fails = 0;
                s.probe_passes += 1;
                if s.unhealthy && s.probe_passes >= hc.passes {
                    s.unhealthy = false;
                    s.fails = 0;
                    return Some(format!(
                        "upstream \"{}\": peer {name} is healthy again after {} passed health check(s) of \"{}\"",
                        self.name, s.probe_passes, hc.uri
                    ));
                }
            }
            Err(why) => {
                s.probe_passes = 0;
                s.probe_fails += 1;
                if !s.unhealthy && s.probe_fails >= hc.fails {
                    s.unhealthy = true;
                    return Some(format!(
                        "upstream \"{}\": peer {name} is unhealthy after {} failed health check(s) of \"{}\": {why}",
                        self.name, s.probe_fails, hc.uri
                    ));
                }
            }
        }
        None
    }

    /// Every peer's id and address now (what the health checker probes).
    pub(crate) fn targets(&self) -> Vec<(u64, SocketAddr)> {
        let set = self.lock();
        set.tiers
            .iter()
            .zip(&set.state)
            .flat_map(|(t, st)| t.peers.iter().zip(st).map(|(p, s)| (s.id, p.addr)))
            .collect()
    }

    /// Replaces the peers of resolve line `line` with one per address (the line's port
    /// and parameters); peers whose address stays keep their state. Returns whether
    /// the peer set changed.
    pub(crate) fn set_resolved(&self, line: usize, addrs: &[SocketAddr]) -> bool {
        let Some(server) = self.discovery.as_ref().and_then(|d| d.servers.get(line)) else {
            return false;
        };
        let mut set = self.lock();
        let tier = if server.backup { 1 } else { 0 };
        if !set.replace(tier, line, &server.template, addrs) {
            return false;
        }
        self.tries.store(set.count(), Ordering::Relaxed);
        self.single.store(set.single(), Ordering::Relaxed);
        true
    }

    /// How many peers one request may try (nginx's `u->peer.tries`).
    pub fn tries(&self) -> usize {
        self.tries.load(Ordering::Relaxed)
    }

    /// One peer and no backup: nginx never marks it failed and never retries it.
    pub fn single(&self) -> bool {
        self.single.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, PeerSet> {
        // A poisoned lock only means a panic elsewhere; the counters are still usable.
        self.peers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Picks the next peer for `sel`, or `None` when no peer is available ("no live
    /// upstreams"). The peer's connection count goes up until [`Upstream::release`].
    pub fn pick(&self, sel: &mut Selection) -> Option<Picked> {
        let mut set = self.lock();
        let now = Instant::now();
        balance::pick(&mut set, sel, now)
    }

    /// Reports how a try went. Returns a warning to log when the peer just crossed
    /// `max_fails` ("upstream server temporarily disabled"). A peer that DNS removed
    /// meanwhile has nothing left to update.
    pub fn release(&self, p: &Picked, outcome: Outcome, elapsed: Option<Duration>) -> bool {
        let mut set = self.lock();
        let Some((t, i)) = set.find(p.tier, p.index, p.id) else {
            return false;
        };
        let single = set.single();
        let now = Instant::now();
        let conf = &set.tiers[t].peers[i];
        let (weight, max_fails) = (conf.weight, conf.max_fails);
        let s = &mut set.state[t][i];
        s.conns = s.conns.saturating_sub(1);
        if let Some(e) = elapsed {
            s.observe(e, now);
        }
        if single {
            return false;
        }
        match outcome {
            Outcome::Failed => {
                s.fails += 1;
                s.accessed = Some(now);
                s.checked = now;
                let mut warn = false;
                if let Some(step) = weight.checked_div(max_fails) {
                    s.effective_weight -= step as i64;
                    warn = s.fails >= max_fails;
                }
                if s.effective_weight < 0 {
                    s.effective_weight = 0;
                }
                warn
            }
            Outcome::Ok => {
                if s.accessed.is_some_and(|a| a < s.checked) {
                    s.fails = 0;
                }
                false
            }
        }
    }

    /// Every peer with its live state, for `openclaw.upstream.peers`.
    pub fn peers(&self) -> Vec<PeerInfo> {
        let set = self.lock();
        let now = Instant::now();
        let mut out = vec![];
        for (t, tier) in set.tiers.iter().enumerate() {
            for (p, s) in tier.peers.iter().zip(&set.state[t]) {
                out.push(PeerInfo {
                    name: p.name.clone(),
                    server: p.server.clone(),
                    weight: p.weight,
                    backup: t > 0,
                    down: p.down || s.down,
                    fails: s.fails,
                    conns: s.conns,
                    max_fails: p.max_fails,
                    fail_timeout: p.fail_timeout,
                    unavailable: s.failed(p, now),
                    healthy: !s.unhealthy,
                });
            }
        }
        out
    }

    /// Marks a peer (by `$upstream_addr` text) down or up at run time. False when no peer
    /// has that address.
    pub fn set_peer_down(&self, name: &str, down: bool) -> bool {
        let mut set = self.lock();
        let set = &mut *set;
        let mut found = false;
        for (tier, st) in set.tiers.iter().zip(set.state.iter_mut()) {
            for (p, s) in tier.peers.iter().zip(st.iter_mut()) {
                if p.name == name || p.server == name {
                    s.down = down;
                    if !down {
                        s.fails = 0;
                    }
                    found = true;
                }
            }
        }
        found
    }
}

/// A snapshot of one peer.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    pub name: String,
    pub server: String,
    pub weight: u32,
    pub backup: bool,
    pub down: bool,
    pub fails: u32,
    pub conns: u32,
    pub max_fails: u32,
    pub fail_timeout: Duration,
    /// Out of rotation now because of `max_fails`.
    pub unavailable: bool,
    /// Not taken out by active health checks.
    pub healthy: bool,
}

#[cfg(test)]
mod tests;
