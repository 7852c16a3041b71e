//! The peer set of a group: its tiers (primary, backup), each peer's run-time state, and
//! the diff that swaps in the peers of a re-resolved `server NAME resolve` line while
//! peers whose address stays keep their state (failures, health, connections, weights).
//!
//! The set lives behind the group's one mutex. Every change bumps `epoch`, so a request
//! that started on an older set re-reads which peers it has tried (by id, not index).

use super::{balance, Algo, PeerConf};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub(crate) struct PeerState {
    /// Stable for the peer's life in this group: picks and probes find it by id.
    pub(crate) id: u64,
    /// The `resolve` line the peer came from (its index among the group's resolve lines);
    /// `None` for peers fixed at load.
    pub(crate) from: Option<usize>,
    pub(crate) current_weight: i64,
    pub(crate) effective_weight: i64,
    pub(crate) fails: u32,
    pub(crate) accessed: Option<Instant>,
    pub(crate) checked: Instant,
    pub(crate) conns: u32,
    /// Marked down at run time (`openclaw.upstream.set_peer_down`).
    pub(crate) down: bool,
    /// Peak-EWMA of response time in microseconds, and when it was last updated.
    pub(crate) ewma: f64,
    pub(crate) ewma_at: Instant,
    /// Out of rotation by active health checks, and the current run of probe results.
    pub(crate) unhealthy: bool,
    pub(crate) probe_fails: u32,
    pub(crate) probe_passes: u32,
}

impl PeerState {
    fn new(id: u64, from: Option<usize>, weight: u32, now: Instant) -> PeerState {
        PeerState {
            id,
            from,
            current_weight: 0,
            effective_weight: weight as i64,
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
        }
    }

    /// Out of rotation because of recent failures.
    pub(crate) fn failed(&self, p: &PeerConf, now: Instant) -> bool {
        p.max_fails > 0
            && self.fails >= p.max_fails
            && now.duration_since(self.checked) <= p.fail_timeout
    }

    pub(crate) fn available(&self, p: &PeerConf, now: Instant) -> bool {
        let busy = p.max_conns > 0 && self.conns >= p.max_conns;
        !(p.down || self.down || self.unhealthy || busy || self.failed(p, now))
    }

    /// Peak EWMA: a slower sample is taken at once, faster ones decay in (10 s window).
    pub(crate) fn observe(&mut self, rtt: Duration, now: Instant) {
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

/// The configuration side of one tier, rebuilt whenever its peers change.
#[derive(Debug)]
pub(crate) struct Tier {
    pub(crate) peers: Vec<PeerConf>,
    pub(crate) total_weight: u32,
    /// Consistent-hash points: (hash, index of the server string's first peer).
    pub(crate) points: Vec<(u32, usize)>,
    /// Cumulative weights for `random`.
    pub(crate) ranges: Vec<u32>,
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

/// Tiers and their state, kept index for index (`state[t][i]` belongs to
/// `tiers[t].peers[i]`).
#[derive(Debug)]
pub(crate) struct PeerSet {
    pub(crate) algo: Algo,
    pub(crate) tiers: Vec<Tier>,
    pub(crate) state: Vec<Vec<PeerState>>,
    /// Bumped by every change of the peers.
    pub(crate) epoch: u64,
    next_id: u64,
}

impl PeerSet {
    /// Tier 0 holds `primary`; a backup tier exists when `backup` is non-empty or
    /// `backup_tier` asks for one (backup `resolve` lines that have no address yet).
    pub(crate) fn new(
        algo: Algo,
        primary: Vec<PeerConf>,
        backup: Vec<PeerConf>,
        backup_tier: bool,
    ) -> PeerSet {
        let mut set = PeerSet {
            algo,
            tiers: vec![],
            state: vec![],
            epoch: 0,
            next_id: 1,
        };
        let now = Instant::now();
        let with_backup = backup_tier || !backup.is_empty();
        for peers in [primary, backup].into_iter().take(1 + with_backup as usize) {
            let state = peers
                .iter()
                .map(|p| set.fresh(None, p.weight, now))
                .collect();
            set.tiers.push(Tier::new(peers, algo));
            set.state.push(state);
        }
        set
    }

    fn fresh(&mut self, from: Option<usize>, weight: u32, now: Instant) -> PeerState {
        let id = self.next_id;
        self.next_id += 1;
        PeerState::new(id, from, weight, now)
    }

    /// One peer and no usable backup: nginx never marks it failed and never retries it.
    pub(crate) fn single(&self) -> bool {
        self.tiers[0].peers.len() == 1 && self.tiers.get(1).is_none_or(|t| t.peers.is_empty())
    }

    /// How many peers one request may try (nginx's `u->peer.tries`).
    pub(crate) fn count(&self) -> usize {
        self.tiers.iter().map(|t| t.peers.len()).sum()
    }

    /// Where the peer with `id` is now; `hint` is where it was when picked.
    pub(crate) fn find(&self, tier: usize, hint: usize, id: u64) -> Option<(usize, usize)> {
        let st = self.state.get(tier)?;
        if st.get(hint).is_some_and(|s| s.id == id) {
            return Some((tier, hint));
        }
        st.iter().position(|s| s.id == id).map(|i| (tier, i))
    }

    /// Makes the peers of resolve line `line` (in tier `tier`) one per address of `addrs`,
    /// each a copy of `template`: a peer whose address stays keeps its place and state,
    /// gone addresses leave, new ones are appended with fresh state (as nginx's zone
    /// module does). Returns whether anything changed.
    pub(crate) fn replace(
        &mut self,
        tier: usize,
        line: usize,
        template: &PeerConf,
        addrs: &[SocketAddr],
    ) -> bool {
        let Some(old_state) = self.state.get_mut(tier) else {
            return false;
        };
        let old_peers = &self.tiers[tier].peers;
        let had: Vec<SocketAddr> = old_peers
            .iter()
            .zip(old_state.iter())
            .filter(|(_, s)| s.from == Some(line))
            .map(|(p, _)| p.addr)
            .collect();
        let mut wanted: Vec<SocketAddr> = vec![];
        for a in addrs {
            if !wanted.contains(a) {
                wanted.push(*a);
            }
        }
        if had.len() == wanted.len() && had.iter().all(|a| wanted.contains(a)) {
            return false;
        }
        let old_state = std::mem::take(old_state);
        let old_peers = std::mem::take(&mut self.tiers[tier].peers);
        let mut peers = Vec::with_capacity(old_peers.len() + wanted.len());
        let mut state = Vec::with_capacity(peers.capacity());
        for (p, s) in old_peers.into_iter().zip(old_state) {
            if s.from != Some(line) || wanted.contains(&p.addr) {
                peers.push(p);
                state.push(s);
            }
        }
        let now = Instant::now();
        for a in wanted.into_iter().filter(|a| !had.contains(a)) {
            peers.push(PeerConf {
                addr: a,
                name: a.to_string(),
                ..template.clone()
            });
            state.push(self.fresh(Some(line), template.weight, now));
        }
        self.tiers[tier] = Tier::new(peers, self.algo);
        self.state[tier] = state;
        self.epoch += 1;
        true
    }
}
