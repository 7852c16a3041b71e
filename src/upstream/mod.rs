//! Upstream groups and peer selection: nginx's round robin (smooth weighted), `least_conn`,
//! `ip_hash`, `hash KEY [consistent]`, `random [two]` and a peak-EWMA balancer, with
//! passive health (`max_fails`/`fail_timeout`) and backup servers.
//!
//! One [`Upstream`] is shared by every worker of a generation: its peer state sits behind
//! one mutex, held only for the pick or the release (as nginx's `zone` makes it shared).
//! No hyper, no mlua here: the proxy asks for a peer, reports how it went, and logs what
//! this module tells it to.

mod balance;
mod health;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use balance::Selection;
pub use health::{start as start_health_checks, HealthCheck};

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

#[derive(Debug)]
pub(crate) struct PeerState {
    current_weight: i64,
    effective_weight: i64,
    fails: u32,
    accessed: Option<Instant>,
    checked: Instant,
    conns: u32,
    /// Marked down at run time (`openclaw.upstream.set_peer_down`).
    down: bool,
    /// Peak-EWMA of response time in microseconds, and when it was last updated.
    ewma: f64,
    ewma_at: Instant,
    /// Out of rotation by active health checks, and the current run of probe results.
    unhealthy: bool,
    probe_fails: u32,
    probe_passes: u32,
}

#[derive(Debug)]
pub(crate) struct Tier {
    pub(crate) peers: Vec<PeerConf>,
    pub(crate) total_weight: u32,
    /// Consistent-hash points: (hash, index of the server string's first peer).
    pub(crate) points: Vec<(u32, usize)>,
    /// Cumulative weights for `random`.
    pub(crate) ranges: Vec<u32>,
}

/// An upstream group with its shared run-time state.
#[derive(Debug)]
pub struct Upstream {
    pub name: String,
    /// Made by `proxy_pass http://host:port` rather than an `upstream` block.
    pub implicit: bool,
    pub algo: Algo,
    pub keepalive: Option<Keepalive>,
    /// `health_check`: probed by [`start_health_checks`].
    pub health: Option<HealthCheck>,
    /// Distinguishes pools across upstreams and generations.
    pub id: u64,
    pub(crate) tiers: Vec<Tier>,
    state: Mutex<Vec<Vec<PeerState>>>,
}

/// A picked peer: which tier, which index, and its address.
#[derive(Debug, Clone)]
pub struct Picked {
    pub tier: usize,
    pub index: usize,
    pub addr: SocketAddr,
    pub name: String,
}

impl Picked {
    /// A peer chosen outside the group (`balancer_by_lua*`): no balancer state applies.
    pub fn external(addr: SocketAddr) -> Picked {
        Picked {
            tier: usize::MAX,
            index: 0,
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
    /// Builds a group; `backup` may be empty. Peers need at least one.
    pub fn new(
        name: &str,
        implicit: bool,
        algo: Algo,
        primary: Vec<PeerConf>,
        backup: Vec<PeerConf>,
        keepalive: Option<Keepalive>,
    ) -> Upstream {
        let mut tiers = vec![Tier::new(primary, algo)];
        if !backup.is_empty() {
            tiers.push(Tier::new(backup, algo));
        }
        let now = Instant::now();
        let state = tiers
            .iter()
            .map(|t| {
                t.peers
                    .iter()
                    .map(|p| PeerState {
                        current_weight: 0,
                        effective_weight: p.weight as i64,
                        fails: 0,
                        accessed: None,
                        checked: now,
                        conns: 0,
                        down: false,
                        ewma: 0.0,
                        ewma_at: now,
                        unhealthy: false,
                        probe_fails: 0,
                        probe_passes: 0,
                    })
                    .collect()
            })
            .collect();
        Upstream {
            name: name.to_string(),
            implicit,
            algo,
            keepalive,
            health: None,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            tiers,
            state: Mutex::new(state),
        }
    }

    /// Adds active health checks (before the group is shared).
    pub fn with_health(mut self, hc: Option<HealthCheck>) -> Upstream {
        self.health = hc;
        self
    }

    /// Records one probe of a peer; returns the warning to log when the peer changes
    /// between healthy and unhealthy.
    pub fn report_probe(
        &self,
        tier: usize,
        index: usize,
        result: &Result<(), String>,
    ) -> Option<String> {
        let hc = self.health.as_ref()?;
        let mut st = self.lock();
        let s = st.get_mut(tier)?.get_mut(index)?;
        let name = &self.tiers[tier].peers[index].name;
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

    /// How many peers one request may try (nginx's `u->peer.tries`).
    pub fn tries(&self) -> usize {
        self.tiers.iter().map(|t| t.peers.len()).sum()
    }

    /// One peer and no backup: nginx never marks it failed and never retries it.
    pub fn single(&self) -> bool {
        self.tiers.len() == 1 && self.tiers[0].peers.len() == 1
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Vec<PeerState>>> {
        // A poisoned lock only means a panic elsewhere; the counters are still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Picks the next peer for `sel`, or `None` when no peer is available ("no live
    /// upstreams"). The peer's connection count goes up until [`Upstream::release`].
    pub fn pick(&self, sel: &mut Selection) -> Option<Picked> {
        let mut st = self.lock();
        let now = Instant::now();
        balance::pick(self, &mut st, sel, now)
    }

    /// Reports how a try went. Returns a warning to log when the peer just crossed
    /// `max_fails` ("upstream server temporarily disabled").
    pub fn release(&self, p: &Picked, outcome: Outcome, elapsed: Option<Duration>) -> bool {
        if p.tier >= self.tiers.len() {
            return false;
        }
        let mut st = self.lock();
        let now = Instant::now();
        let conf = &self.tiers[p.tier].peers[p.index];
        let s = &mut st[p.tier][p.index];
        s.conns = s.conns.saturating_sub(1);
        if let Some(e) = elapsed {
            s.observe(e, now);
        }
        if self.single() {
            return false;
        }
        match outcome {
            Outcome::Failed => {
                s.fails += 1;
                s.accessed = Some(now);
                s.checked = now;
                let mut warn = false;
                if let Some(step) = conf.weight.checked_div(conf.max_fails) {
                    s.effective_weight -= step as i64;
                    warn = s.fails >= conf.max_fails;
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
        let st = self.lock();
        let now = Instant::now();
        let mut out = vec![];
        for (t, tier) in self.tiers.iter().enumerate() {
            for (i, p) in tier.peers.iter().enumerate() {
                let s = &st[t][i];
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
        let mut st = self.lock();
        let mut found = false;
        for (t, tier) in self.tiers.iter().enumerate() {
            for (i, p) in tier.peers.iter().enumerate() {
                if p.name == name || p.server == name {
                    st[t][i].down = down;
                    if !down {
                        st[t][i].fails = 0;
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

impl PeerState {
    /// Out of rotation because of recent failures.
    fn failed(&self, p: &PeerConf, now: Instant) -> bool {
        p.max_fails > 0
            && self.fails >= p.max_fails
            && now.duration_since(self.checked) <= p.fail_timeout
    }

    fn available(&self, p: &PeerConf, now: Instant) -> bool {
        let busy = p.max_conns > 0 && self.conns >= p.max_conns;
        !(p.down || self.down || self.unhealthy || busy || self.failed(p, now))
    }

    /// Peak EWMA: a slower sample is taken at once, faster ones decay in (10 s window).
    fn observe(&mut self, rtt: Duration, now: Instant) {
        let sample = rtt.as_micros() as f64;
        if sample > self.ewma {
            self.ewma = sample;
        } else {
            let dt = now.duration_since(self.ewma_at).as_secs_f64();
            let w = (-dt / 10.0).exp();
            self.ewma = self.ewma * w + sample * (1.0 - w);
        }
        self.ewma_at = now;
    }
}

impl Tier {
    fn new(peers: Vec<PeerConf>, algo: Algo) -> Tier {
        let total_weight = peers.iter().map(|p| p.weight).sum();
        let points = if algo == Algo::ConsistentHash {
            balance::chash_points(&peers)
        } else {
            vec![]
        };
        let mut acc = 0;
        let ranges = peers
            .iter()
            .map(|p| {
                acc += p.weight;
                acc
            })
            .collect();
        Tier {
            peers,
            total_weight,
            points,
            ranges,
        }
    }
}

#[cfg(test)]
mod tests;
